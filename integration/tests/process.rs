//! The `process` object and process-level `linux` fields, observed from inside the
//! container: args (PATH lookup in the container), env, cwd, user (uid, gid,
//! umask, additionalGids), hostname, domainname, rlimits, capabilities,
//! noNewPrivileges, oomScoreAdj and linux.sysctl.

use std::os::unix::fs::PermissionsExt;

use husk_integration::procfs::{cap_mask, caps_to_mask, status_field};
use husk_integration::{is_runc, require_root, skip, Bundle, Runtime};
use serde_json::json;

/// Run `cat /proc/self/status` in the container and return the text.
fn status_inside(rt: &Runtime, b: &mut Bundle) -> String {
    b.args(&["cat", "/proc/self/status"]);
    rt.run_ok(b)
}

#[test]
fn args_are_looked_up_in_the_containers_path() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let dir = b.rootfs().join("opt/tools");
    std::fs::create_dir_all(&dir).unwrap();
    let tool = dir.join("husk-hello");
    std::fs::write(&tool, "#!/bin/sh\necho \"from-opt $1\"\n").unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    b.env(&["PATH=/opt/tools:/bin"])
        .args(&["husk-hello", "arg1"]);
    assert_eq!(rt.run_ok(&b), "from-opt arg1");
}

#[test]
fn args_are_passed_verbatim() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["printf", "%s|", "a b", "", "c'd", "$HOME"]);
    assert_eq!(rt.run_ok(&b), "a b||c'd|$HOME|");
}

#[test]
fn env_is_exactly_the_configured_one() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.env(&["FOO=bar baz", "EMPTY="]).args(&["env"]);
    let out = rt.run_ok(&b);
    let configured: Vec<String> = b.config()["process"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    for var in &configured {
        assert!(out.lines().any(|l| l == var), "{var} missing in:\n{out}");
    }
    for line in out.lines() {
        // HOME is filled in from /etc/passwd when not configured (runc, crun do).
        assert!(
            configured.iter().any(|c| c == line) || line.starts_with("HOME="),
            "unexpected variable {line:?} (host env leaked?)"
        );
    }
}

#[test]
fn cwd_is_set() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.cwd("/etc").args(&["pwd"]);
    assert_eq!(rt.run_ok(&b), "/etc");
}

#[test]
fn user_uid_gid_umask_and_additional_gids() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.user(1000, 1001);
    b.config_mut()["process"]["user"]["umask"] = json!(0o027);
    b.config_mut()["process"]["user"]["additionalGids"] = json!([10, 20]);
    let status = status_inside(&rt, &mut b);
    let ids = |key| {
        status_field(&status, key)
            .unwrap()
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids("Uid"), ["1000"; 4], "{status}");
    assert_eq!(ids("Gid"), ["1001"; 4], "{status}");
    assert_eq!(status_field(&status, "Umask"), Some("0027"), "{status}");
    let mut groups = ids("Groups");
    groups.sort();
    groups.retain(|g| g != "1001");
    assert_eq!(groups, ["10", "20"], "{status}");
}

#[test]
fn hostname() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.config_mut()["hostname"] = json!("husk-host");
    b.sh("hostname; cat /proc/sys/kernel/hostname");
    assert_eq!(rt.run_ok(&b), "husk-host\nhusk-host");
}

#[test]
fn domainname() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 ignores the domainname field (support came in runc 1.2)");
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.config_mut()["domainname"] = json!("example.org");
    b.args(&["cat", "/proc/sys/kernel/domainname"]);
    assert_eq!(rt.run_ok(&b), "example.org");
}

#[test]
fn rlimits_are_applied() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.config_mut()["process"]["rlimits"] = json!([
        { "type": "RLIMIT_NOFILE", "soft": 1000, "hard": 2000 },
        { "type": "RLIMIT_CORE", "soft": 0, "hard": 4096 },
        { "type": "RLIMIT_NPROC", "soft": 300, "hard": 400 }
    ]);
    b.args(&["cat", "/proc/self/limits"]);
    let out = rt.run_ok(&b);
    let limit = |name: &str| -> Vec<String> {
        let line = out
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {out}"));
        line[name.len()..]
            .split_whitespace()
            .take(2)
            .map(str::to_string)
            .collect()
    };
    assert_eq!(limit("Max open files"), ["1000", "2000"], "{out}");
    assert_eq!(limit("Max core file size"), ["0", "4096"], "{out}");
    assert_eq!(limit("Max processes"), ["300", "400"], "{out}");
}

fn set_caps(b: &mut Bundle) {
    b.config_mut()["process"]["capabilities"] = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SYS_CHROOT"],
        "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
        "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
        "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_KILL"]
    });
}

fn caps_of(status: &str, key: &str) -> u64 {
    cap_mask(status_field(status, key).unwrap_or_else(|| panic!("{key} in {status}")))
}

#[test]
fn capabilities_of_a_non_root_process() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    set_caps(&mut b);
    b.user(1000, 1000);
    let status = status_inside(&rt, &mut b);
    // execve by a non-root user without file caps: permitted = effective = ambient.
    let bnd = caps_to_mask(&["CHOWN", "KILL", "NET_BIND_SERVICE", "SETUID", "SYS_CHROOT"]);
    assert_eq!(caps_of(&status, "CapBnd"), bnd, "{status}");
    assert_eq!(
        caps_of(&status, "CapInh"),
        caps_to_mask(&["KILL", "NET_BIND_SERVICE"])
    );
    assert_eq!(
        caps_of(&status, "CapAmb"),
        caps_to_mask(&["KILL"]),
        "{status}"
    );
    assert_eq!(
        caps_of(&status, "CapPrm"),
        caps_to_mask(&["KILL"]),
        "{status}"
    );
    assert_eq!(
        caps_of(&status, "CapEff"),
        caps_to_mask(&["KILL"]),
        "{status}"
    );
}

#[test]
fn capabilities_of_a_root_process_with_no_new_privs() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    set_caps(&mut b);
    let status = status_inside(&rt, &mut b);
    // execve by root gains bounding | inheritable, but no_new_privs limits the
    // permitted set to what the process had before: the configured permitted set.
    let bnd = caps_to_mask(&["CHOWN", "KILL", "NET_BIND_SERVICE", "SETUID", "SYS_CHROOT"]);
    let prm = caps_to_mask(&["KILL", "NET_BIND_SERVICE", "CHOWN"]);
    assert_eq!(caps_of(&status, "CapBnd"), bnd, "{status}");
    assert_eq!(
        caps_of(&status, "CapInh"),
        caps_to_mask(&["KILL", "NET_BIND_SERVICE"])
    );
    assert_eq!(
        caps_of(&status, "CapAmb"),
        caps_to_mask(&["KILL"]),
        "{status}"
    );
    assert_eq!(caps_of(&status, "CapPrm"), prm, "{status}");
    assert_eq!(caps_of(&status, "CapEff"), prm, "{status}");
}

#[test]
fn capabilities_of_a_root_process_without_no_new_privs() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    set_caps(&mut b);
    b.config_mut()["process"]["noNewPrivileges"] = json!(false);
    let status = status_inside(&rt, &mut b);
    // execve by root: permitted = effective = bounding | inheritable.
    let bnd = caps_to_mask(&["CHOWN", "KILL", "NET_BIND_SERVICE", "SETUID", "SYS_CHROOT"]);
    assert_eq!(caps_of(&status, "CapBnd"), bnd, "{status}");
    assert_eq!(
        caps_of(&status, "CapInh"),
        caps_to_mask(&["KILL", "NET_BIND_SERVICE"])
    );
    assert_eq!(
        caps_of(&status, "CapAmb"),
        caps_to_mask(&["KILL"]),
        "{status}"
    );
    assert_eq!(caps_of(&status, "CapPrm"), bnd, "{status}");
    assert_eq!(caps_of(&status, "CapEff"), bnd, "{status}");
}

#[test]
fn default_capabilities_of_runc_spec() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let status = status_inside(&rt, &mut b);
    let default = caps_to_mask(&["AUDIT_WRITE", "KILL", "NET_BIND_SERVICE"]);
    for key in ["CapBnd", "CapPrm", "CapEff"] {
        assert_eq!(caps_of(&status, key), default, "{key}: {status}");
    }
    assert_eq!(caps_of(&status, "CapInh"), 0, "{status}");
    // The default spec lists ambient caps but no inheritable ones; the kernel only
    // raises an ambient cap that is also inheritable, so none are (as with runc).
    assert_eq!(caps_of(&status, "CapAmb"), 0, "{status}");
}

#[test]
fn no_new_privileges() {
    require_root!();
    let rt = Runtime::from_env();
    for (nnp, want) in [(true, "1"), (false, "0")] {
        let mut b = Bundle::new();
        b.config_mut()["process"]["noNewPrivileges"] = json!(nnp);
        let status = status_inside(&rt, &mut b);
        assert_eq!(status_field(&status, "NoNewPrivs"), Some(want), "{status}");
    }
}

#[test]
fn oom_score_adj() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.config_mut()["process"]["oomScoreAdj"] = json!(523);
    b.args(&["cat", "/proc/self/oom_score_adj"]);
    assert_eq!(rt.run_ok(&b), "523");
}

#[test]
fn sysctls_in_the_containers_namespaces() {
    require_root!();
    let rt = Runtime::from_env();
    let host_fwd = read_sysctl("net/ipv4/ip_forward");
    let host_shm = read_sysctl("kernel/shm_rmid_forced");
    let flip = |v: &str| if v == "1" { "0" } else { "1" };
    let mut b = Bundle::new();
    b.config_mut()["linux"]["sysctl"] = json!({
        "net.ipv4.ip_forward": flip(&host_fwd),
        "kernel.shm_rmid_forced": flip(&host_shm)
    });
    b.sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shm_rmid_forced");
    let out = rt.run_ok(&b);
    assert_eq!(out, format!("{}\n{}", flip(&host_fwd), flip(&host_shm)));
    assert_eq!(
        read_sysctl("net/ipv4/ip_forward"),
        host_fwd,
        "host untouched"
    );
    assert_eq!(
        read_sysctl("kernel/shm_rmid_forced"),
        host_shm,
        "host untouched"
    );
}

fn read_sysctl(path: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/{path}"))
        .unwrap()
        .trim()
        .to_string()
}

/// A `process` without `user` runs as uid 0 / gid 0, as runc does (oci-spec
/// alone would refuse it).
#[test]
fn a_process_without_user_runs_as_root() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["id"]);
    b.config_mut()["process"]
        .as_object_mut()
        .unwrap()
        .remove("user");
    assert_eq!(rt.run_ok(&b), "uid=0(root) gid=0(root)");
}

/// Duplicates in `process.user.additionalGids` are passed to setgroups once
/// (runc and youki dedupe): the kernel would keep them.
#[test]
fn duplicate_additional_gids_are_set_once() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.user(1000, 1000);
    b.config_mut()["process"]["user"]["additionalGids"] = json!([120, 130, 150, 150]);
    b.sh("grep '^Groups:' /proc/self/status");
    let out = rt.run_ok(&b);
    let groups: Vec<&str> = out.split_whitespace().skip(1).collect();
    assert_eq!(groups, ["120", "130", "150"], "{out}");
}
