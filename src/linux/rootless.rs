//! Whether husk runs rootless, as runc decides it: an unprivileged caller
//! (euid != 0), or "root" in a user namespace someone else made whose map is not
//! the full range (how rootless podman calls its runtime). Rootless husk keeps
//! its state under `$XDG_RUNTIME_DIR/husk`, runs without a cgroup of its own when
//! it cannot make one and none is needed, and binds device nodes instead of
//! mknod-ing them.

use std::sync::OnceLock;

/// The uid_map of the initial user namespace.
const FULL_MAP: &str = "0 0 4294967295";

/// husk runs in a user namespace other than the initial one.
pub fn in_user_namespace() -> bool {
    static IN: OnceLock<bool> = OnceLock::new();
    *IN.get_or_init(|| {
        std::fs::read_to_string("/proc/self/uid_map")
            .map(|m| !is_full_map(&m))
            .unwrap_or(false)
    })
}

/// A uid_map text that maps every id onto itself (the initial namespace).
pub fn is_full_map(text: &str) -> bool {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines.len() == 1 && lines[0].split_whitespace().collect::<Vec<_>>().join(" ") == FULL_MAP
}

/// The caller is not root of the initial user namespace.
pub fn is_rootless() -> bool {
    // SAFETY: geteuid has no preconditions.
    let unprivileged = unsafe { libc::geteuid() } != 0;
    unprivileged || in_user_namespace()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_partial_maps() {
        assert!(is_full_map("         0          0 4294967295\n"));
        assert!(!is_full_map("0 1000 1\n"));
        assert!(!is_full_map("0 1000 1\n1 100000 65536\n"));
    }
}
