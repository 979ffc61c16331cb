//! `linux.namespaces`: each type listed is a new namespace (its /proc/PID/ns inode
//! differs from the host's), each type left out is shared with the host, user
//! namespaces get the configured id maps, time namespaces the configured offsets,
//! and a `path` joins an existing namespace.

use husk_integration::procfs::{host_ns_inode, ns_inode, proc_ns_name};
use husk_integration::{env, is_runc, procfs, require_root, skip, Bundle, Container, Runtime};
use serde_json::json;

/// A started `sleep 30` container from `b`.
fn sleeping<'a>(rt: &'a Runtime, b: &mut Bundle) -> Container<'a> {
    b.args(&["sleep", "30"]);
    let c = rt.container(b);
    c.start_ok();
    assert!(procfs::wait_cmdline_contains(c.pid(), "sleep"));
    c
}

fn check_new(kind: &str) {
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.add_namespace(kind);
    let c = sleeping(&rt, &mut b);
    let name = proc_ns_name(kind);
    let inside = ns_inode(c.pid(), name).expect("container ns readable");
    assert_ne!(inside, host_ns_inode(name), "{kind}: container has its own");
}

fn check_shared(kind: &str) {
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.remove_namespace(kind);
    let c = sleeping(&rt, &mut b);
    let name = proc_ns_name(kind);
    let inside = ns_inode(c.pid(), name).expect("container ns readable");
    assert_eq!(inside, host_ns_inode(name), "{kind}: shared with the host");
}

#[test]
fn pid_namespace_is_created() {
    require_root!();
    check_new("pid");
}

#[test]
fn network_namespace_is_created() {
    require_root!();
    check_new("network");
}

#[test]
fn ipc_namespace_is_created() {
    require_root!();
    check_new("ipc");
}

#[test]
fn uts_namespace_is_created() {
    require_root!();
    check_new("uts");
}

#[test]
fn mount_namespace_is_created() {
    require_root!();
    check_new("mount");
}

#[test]
fn cgroup_namespace_is_created() {
    require_root!();
    check_new("cgroup");
}

#[test]
fn absent_namespaces_are_shared_with_the_host() {
    require_root!();
    for kind in ["pid", "network", "ipc", "cgroup"] {
        check_shared(kind);
    }
}

#[test]
fn absent_uts_namespace_is_shared() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    // A hostname needs a UTS namespace of its own (config.md).
    b.remove_namespace("uts");
    b.config_mut().as_object_mut().unwrap().remove("hostname");
    let c = sleeping(&rt, &mut b);
    assert_eq!(ns_inode(c.pid(), "uts"), Some(host_ns_inode("uts")));
}

#[test]
fn pid_namespace_makes_the_process_pid_1() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.sh("echo $$");
    assert_eq!(rt.run_ok(&b), "1");
}

fn userns_bundle() -> Bundle {
    let mut b = Bundle::new();
    b.add_namespace("user");
    let cfg = b.config_mut();
    cfg["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    cfg["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": 200000, "size": 65536 }]);
    b
}

#[test]
fn user_namespace_has_the_configured_maps() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = userns_bundle();
    b.sh("cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo --; id -u");
    let out = rt.run_ok(&b);
    let parts: Vec<Vec<String>> = out
        .split("--")
        .map(|p| p.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    assert_eq!(parts[0], ["0", "100000", "65536"], "uid_map: {out}");
    assert_eq!(parts[1], ["0", "200000", "65536"], "gid_map: {out}");
    assert_eq!(parts[2], ["0"], "root inside: {out}");
}

#[test]
fn user_namespace_is_created_and_maps_to_host_ids() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = userns_bundle();
    let c = sleeping(&rt, &mut b);
    let pid = c.pid();
    assert_ne!(ns_inode(pid, "user"), Some(host_ns_inode("user")));
    let uid = procfs::pid_status_field(pid, "Uid").unwrap();
    let gid = procfs::pid_status_field(pid, "Gid").unwrap();
    assert_eq!(
        uid.split_whitespace().next(),
        Some("100000"),
        "host uid {uid}"
    );
    assert_eq!(
        gid.split_whitespace().next(),
        Some("200000"),
        "host gid {gid}"
    );
}

#[test]
fn time_namespace_has_the_configured_offsets() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 does not support time namespaces (added in runc 1.2)");
    }
    if env::kernel_version() < (5, 6) {
        skip!("time namespaces need Linux 5.6");
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.add_namespace("time");
    b.config_mut()["linux"]["timeOffsets"] = json!({
        "monotonic": { "secs": 3600, "nanosecs": 42 },
        "boottime": { "secs": -7, "nanosecs": 0 }
    });
    b.args(&["cat", "/proc/self/timens_offsets"]);
    let out = rt.run_ok(&b);
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(lines.contains(&vec!["monotonic", "3600", "42"]), "{out}");
    assert!(lines.contains(&vec!["boottime", "-7", "0"]), "{out}");
}

#[test]
fn joining_network_and_pid_namespaces_by_path() {
    require_root!();
    let rt = Runtime::from_env();
    let mut first = Bundle::new();
    let c1 = sleeping(&rt, &mut first);
    let pid1 = c1.pid();

    let mut second = Bundle::new();
    second
        .namespace_path("network", &format!("/proc/{pid1}/ns/net"))
        .namespace_path("pid", &format!("/proc/{pid1}/ns/pid"))
        .sh("cat /proc/1/cmdline; echo; readlink /proc/self/ns/net; readlink /proc/self/ns/pid");
    let out = rt.run_ok(&second);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].replace('\0', " ").trim(),
        "sleep 30",
        "pid 1 seen from the joined pid ns is the first container's: {out}"
    );
    let net = ns_inode(pid1, "net").unwrap();
    let pid_ns = ns_inode(pid1, "pid").unwrap();
    assert_eq!(lines[1], format!("net:[{net}]"), "{out}");
    assert_eq!(lines[2], format!("pid:[{pid_ns}]"), "{out}");
}

#[test]
fn joining_ipc_and_uts_namespaces_by_path() {
    require_root!();
    let rt = Runtime::from_env();
    let mut first = Bundle::new();
    first.config_mut()["hostname"] = json!("first-host");
    let c1 = sleeping(&rt, &mut first);
    let pid1 = c1.pid();

    let mut second = Bundle::new();
    second
        .namespace_path("ipc", &format!("/proc/{pid1}/ns/ipc"))
        .namespace_path("uts", &format!("/proc/{pid1}/ns/uts"));
    // Setting a hostname in a joined UTS namespace would change the first's.
    second
        .config_mut()
        .as_object_mut()
        .unwrap()
        .remove("hostname");
    second.sh("hostname; readlink /proc/self/ns/ipc");
    let out = rt.run_ok(&second);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "first-host", "{out}");
    let ipc = ns_inode(pid1, "ipc").unwrap();
    assert_eq!(lines[1], format!("ipc:[{ipc}]"), "{out}");
}

/// Joining another container's user namespace by path: the new pid and mount
/// namespaces (and the others) are created inside it, so the container's own
/// /proc can be mounted and the process is pid 1 there. (runc 1.1.5 wants the
/// mappings in the config even when joining, so they are given.)
#[test]
fn joined_user_namespace_owns_the_new_namespaces() {
    require_root!();
    let rt = Runtime::from_env();
    let mut a = userns_bundle();
    let first = sleeping(&rt, &mut a);
    let mut b = userns_bundle();
    b.namespace_path("user", &format!("/proc/{}/ns/user", first.pid()));
    b.sh("echo $$; readlink /proc/self/ns/user; test -d /proc/1 && echo proc");
    let out = rt.run_ok(&b);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1", "pid 1 of a new pid namespace: {out}");
    let want = format!("user:[{}]", ns_inode(first.pid(), "user").unwrap());
    assert_eq!(lines[1], want, "the joined user namespace: {out}");
    assert_eq!(lines[2], "proc", "{out}");
}
