//! Observing processes from the host through /proc: namespaces, status lines,
//! liveness (with start time, so a reused pid is not mistaken for ours).

use std::os::unix::fs::MetadataExt;

/// Inode of `/proc/<pid>/ns/<kind>` (kind as in /proc: net, pid, ipc, uts, mnt,
/// cgroup, user, time), `None` if unreadable.
pub fn ns_inode(pid: i32, kind: &str) -> Option<u64> {
    std::fs::metadata(format!("/proc/{pid}/ns/{kind}"))
        .ok()
        .map(|m| m.ino())
}

/// Inode of the test process's own namespace of `kind` (the host's, for tests).
pub fn host_ns_inode(kind: &str) -> u64 {
    ns_inode(std::process::id() as i32, kind)
        .unwrap_or_else(|| panic!("cannot read /proc/self/ns/{kind}"))
}

/// /proc directory name of the OCI namespace type (`network` -> `net`, ...).
pub fn proc_ns_name(oci_type: &str) -> &str {
    match oci_type {
        "network" => "net",
        "mount" => "mnt",
        other => other,
    }
}

/// Value of the `Key:` line in a /proc/<pid>/status text (trimmed).
pub fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == key).then(|| v.trim())
    })
}

/// Value of the `Key:` line of the live /proc/<pid>/status.
pub fn pid_status_field(pid: i32, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status_field(&text, key).map(str::to_string)
}

/// Start time (field 22 of /proc/<pid>/stat), `None` if the process is gone.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Process state letter (R, S, Z, ...) from /proc/<pid>/stat.
pub fn state_letter(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// The process exists and is not a zombie; when `start` is given, it must also be
/// the same process (same start time).
pub fn alive(pid: i32, start: Option<u64>) -> bool {
    if pid <= 0 {
        return false;
    }
    match (state_letter(pid), start) {
        (None | Some('Z') | Some('X'), _) => false,
        (Some(_), None) => true,
        (Some(_), Some(t)) => start_time(pid) == Some(t),
    }
}

/// All numeric entries of /proc (pids visible to the test).
pub fn all_pids() -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Capability mask from a status value like `00000000a80425fb`.
pub fn cap_mask(hex: &str) -> u64 {
    u64::from_str_radix(hex.trim(), 16).unwrap_or_else(|_| panic!("bad capability mask {hex:?}"))
}

/// Bit number of a capability name (`CAP_KILL` -> 5), `None` if unknown here.
pub fn cap_bit(name: &str) -> Option<u32> {
    const NAMES: [&str; 41] = [
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    let bare = name.strip_prefix("CAP_").unwrap_or(name);
    NAMES.iter().position(|n| *n == bare).map(|i| i as u32)
}

/// Mask with the bits of the given capability names set.
pub fn caps_to_mask<S: AsRef<str>>(names: &[S]) -> u64 {
    names.iter().fold(0, |m, n| {
        let bit = cap_bit(n.as_ref()).unwrap_or_else(|| panic!("unknown cap {}", n.as_ref()));
        m | (1u64 << bit)
    })
}

/// Poll until `/proc/<pid>/cmdline` contains `text` (the process has exec'd).
pub fn wait_cmdline_contains(pid: i32, text: &str) -> bool {
    crate::poll::wait_until(crate::poll::PATIENCE, || {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains(text))
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_found_by_exact_key() {
        let text = "Name:\tcat\nUmask:\t0022\nCapEff:\t0000000000000421\nCapEffX:\t1\n";
        assert_eq!(status_field(text, "Umask"), Some("0022"));
        assert_eq!(status_field(text, "CapEff"), Some("0000000000000421"));
        assert_eq!(status_field(text, "Missing"), None);
    }

    #[test]
    fn capability_names_map_to_kernel_bits() {
        assert_eq!(cap_bit("CAP_CHOWN"), Some(0));
        assert_eq!(cap_bit("CAP_KILL"), Some(5));
        assert_eq!(cap_bit("NET_BIND_SERVICE"), Some(10));
        assert_eq!(cap_bit("CAP_AUDIT_WRITE"), Some(29));
        assert_eq!(cap_bit("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(cap_bit("CAP_BOGUS"), None);
        assert_eq!(caps_to_mask(&["CHOWN", "KILL", "NET_BIND_SERVICE"]), 0x421);
        assert_eq!(cap_mask("0000000020000420"), 0x2000_0420);
    }

    #[test]
    fn own_process_is_alive_with_its_start_time() {
        let me = std::process::id() as i32;
        let start = start_time(me);
        assert!(start.is_some());
        assert!(alive(me, start));
        assert!(!alive(me, start.map(|t| t + 1)));
        assert_eq!(proc_ns_name("network"), "net");
        assert_eq!(proc_ns_name("mount"), "mnt");
        assert_eq!(proc_ns_name("pid"), "pid");
    }
}
