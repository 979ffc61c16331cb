//! Which runtime binary is under test, and facts about the test environment.
//!
//! Resolution order for the binary: `RUNTIME` (absolute path), then
//! `$HUSK_TARGET_DIR/debug/husk`, then `<workspace>/target/debug/husk` where the
//! workspace root is `CARGO_MANIFEST_DIR/..`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The runtime binary under test (absolute path). Panics with a clear message when
/// it does not exist.
pub fn runtime_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let path = resolve_binary();
        assert!(
            path.is_absolute(),
            "RUNTIME must be an absolute path, got {}",
            path.display()
        );
        assert!(
            path.is_file(),
            "runtime binary {} does not exist: build husk first (`cargo build`), \
             or set RUNTIME=/usr/sbin/runc (or HUSK_TARGET_DIR)",
            path.display()
        );
        path
    })
}

fn resolve_binary() -> PathBuf {
    if let Some(rt) = std::env::var_os("RUNTIME").filter(|v| !v.is_empty()) {
        return PathBuf::from(rt);
    }
    if let Some(dir) = std::env::var_os("HUSK_TARGET_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir).join("debug/husk");
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("integration crate lives inside the workspace")
        .join("target/debug/husk")
}

/// First line of `<runtime> --version`, lowercased (cached).
fn version_line() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| {
        Command::new(runtime_binary())
            .arg("--version")
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_lowercase()
            })
            .unwrap_or_default()
    })
}

fn binary_named(name: &str) -> bool {
    let file = runtime_binary()
        .file_name()
        .map(|f| f.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    file.contains(name) || version_line().starts_with(name)
}

/// The binary under test is runc (used to document runc deviations as skips).
pub fn is_runc() -> bool {
    binary_named("runc")
}

/// The binary under test is crun.
pub fn is_crun() -> bool {
    binary_named("crun")
}

/// The binary under test is husk (neither runc nor crun): husk-only assertions,
/// such as error messages naming the spec field, apply.
pub fn is_husk() -> bool {
    !is_runc() && !is_crun()
}

/// Tests run as root (effective uid 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Kernel release as (major, minor), e.g. (6, 1).
pub fn kernel_version() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse().ok());
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}
