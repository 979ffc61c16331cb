//! `exec`: a new process inside a running container, in all its namespaces,
//! with the flags runc has (`--user`, `--cwd`, `--env`, `--process`, `--detach`,
//! `--pid-file`, `--cap`, `--no-new-privs`), its exit status relayed, and errors
//! for stopped containers and missing programs.

use husk_integration::procfs::ns_inode;
use husk_integration::{cgroupfs, poll, procfs, require_root, Bundle, Container, Runtime};
use std::time::Duration;

fn running<'a>(rt: &'a Runtime, b: &mut Bundle) -> Container<'a> {
    b.args(&["sleep", "60"]);
    let c = rt.container(b);
    c.start_ok();
    assert!(procfs::wait_cmdline_contains(c.pid(), "sleep"));
    c
}

#[test]
fn exec_runs_in_the_containers_namespaces_and_relays_output_and_status() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = running(&rt, &mut b);
    let out = rt.cmd(&["exec", c.id(), "sh", "-c", "echo in-exec; hostname; exit 5"]);
    assert_eq!(out.code(), Some(5), "{out}");
    assert!(out.stdout.contains("in-exec"), "{out}");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let inside = out.stdout.lines().nth(1).unwrap_or_default();
    assert_ne!(inside, host.trim(), "{out}");
    assert_eq!(inside, "runc", "the config's hostname: {out}");
}

#[test]
fn exec_process_joins_every_namespace_of_the_init() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = running(&rt, &mut b);
    let pid_file = b.path().join("exec.pid");
    rt.cmd(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        c.id(),
        "sleep",
        "30",
    ])
    .assert_ok();
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    rt.record_pid(pid);
    assert!(procfs::wait_cmdline_contains(pid, "sleep"));
    for ns in ["pid", "net", "ipc", "uts", "mnt"] {
        assert_eq!(
            ns_inode(pid, ns),
            ns_inode(c.pid(), ns),
            "{ns}: exec'd process shares the init's namespace"
        );
    }
    let cgroups = |p: i32| std::fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap();
    assert_eq!(
        cgroups(pid),
        cgroups(c.pid()),
        "exec'd process is in the container's cgroups"
    );
}

#[test]
fn exec_user_cwd_env_flags() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = running(&rt, &mut b);
    let out = rt.cmd(&[
        "exec",
        "--user",
        "1000:1",
        "--cwd",
        "/tmp",
        "--env",
        "FOO=bar",
        c.id(),
        "sh",
        "-c",
        "echo $(id -u):$(id -g):$(pwd):$FOO",
    ]);
    out.assert_ok();
    assert_eq!(out.out(), "1000:1:/tmp:bar", "{out}");
}

#[test]
fn exec_with_a_process_json() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = running(&rt, &mut b);
    let process = serde_json::json!({
        "terminal": false,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh", "-c", "echo from-json:$X"],
        "env": ["PATH=/bin:/usr/bin", "X=42"],
        "cwd": "/"
    });
    let file = b.path().join("process.json");
    std::fs::write(&file, process.to_string()).unwrap();
    let out = rt.cmd(&["exec", "--process", file.to_str().unwrap(), c.id()]);
    out.assert_ok();
    assert_eq!(out.out(), "from-json:42", "{out}");
}

#[test]
fn exec_no_new_privs_and_cap_flags() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.config_mut()["process"]["noNewPrivileges"] = false.into();
    let c = running(&rt, &mut b);
    let out = rt.cmd(&["exec", c.id(), "grep", "NoNewPrivs", "/proc/self/status"]);
    assert!(out.stdout.contains('0'), "{out}");
    let out = rt.cmd(&[
        "exec",
        "--no-new-privs",
        c.id(),
        "grep",
        "NoNewPrivs",
        "/proc/self/status",
    ]);
    assert!(out.stdout.contains('1'), "{out}");
    let out = rt.cmd(&[
        "exec",
        "--cap",
        "CAP_SYS_ADMIN",
        c.id(),
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    let eff = u64::from_str_radix(out.out().split_whitespace().last().unwrap(), 16).unwrap();
    assert!(eff & (1 << 21) != 0, "CAP_SYS_ADMIN effective: {out}");
}

#[test]
fn exec_passes_stdin() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = running(&rt, &mut b);
    let mut cmd = rt.command(&["exec", c.id(), "cat"]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"data-in\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "data-in");
}

#[test]
fn exec_errors_stopped_container_and_missing_program() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = running(&rt, &mut b);
    rt.cmd(&["exec", c.id(), "no-such-program"]).assert_fail();
    rt.kill(c.id(), "KILL").assert_ok();
    assert!(poll::wait_until(Duration::from_secs(20), || rt
        .status(c.id())
        .as_deref()
        == Some("stopped")));
    rt.cmd(&["exec", c.id(), "true"]).assert_fail();
    rt.cmd(&["exec", "no-such-container", "true"]).assert_fail();
}

#[test]
fn exec_process_gets_the_containers_seccomp_profile() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.config_mut()["linux"]["seccomp"] = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    });
    let c = running(&rt, &mut b);
    let out = rt.cmd(&[
        "exec",
        c.id(),
        "sh",
        "-c",
        "grep Seccomp: /proc/self/status; mkdir /tmp/x && echo made || echo denied",
    ]);
    out.assert_ok();
    assert!(out.stdout.contains("Seccomp:\t2"), "{out}");
    assert!(out.stdout.contains("denied"), "{out}");
}

#[test]
fn exec_joins_a_user_namespace_container_as_its_root() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.add_namespace("user");
    let cfg = b.config_mut();
    cfg["linux"]["uidMappings"] =
        serde_json::json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    cfg["linux"]["gidMappings"] =
        serde_json::json!([{ "containerID": 0, "hostID": 200000, "size": 65536 }]);
    let c = running(&rt, &mut b);
    let out = rt.cmd(&["exec", c.id(), "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    out.assert_ok();
    let words: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(words, ["0", "0", "100000", "65536"], "{out}");
}

/// The cgroup path of `controller` (v2: the `0::` line) in a /proc/PID/cgroup text.
fn cgroup_line_path(text: &str, controller: &str) -> String {
    let wanted = cgroupfs::by_layout(Some(controller), None);
    cgroupfs::cgroup_path(text, wanted)
        .unwrap_or_default()
        .to_string()
}

/// `exec --cgroup [CONTROLLER:]PATH` puts the process into an existing
/// sub-cgroup of the container's cgroup (on v1 only the named controller's
/// hierarchy); a path leading out of the container's cgroup (`..`, `../x`) or a
/// missing sub-cgroup is refused before the process runs.
#[test]
fn exec_cgroup_joins_a_sub_cgroup_and_never_leaves_the_containers() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let out = b.host_dir("/out");
    let c = running(&rt, &mut b);
    let host = cgroupfs::Cgroup::of(c.pid());
    let sub = host.dir("pids").join("sub");
    std::fs::create_dir(&sub).unwrap();
    let own = std::fs::read_to_string(format!("/proc/{}/cgroup", c.pid())).unwrap();
    let arg = cgroupfs::by_layout("pids:sub", "sub");
    let joined = rt.cmd(&["exec", "--cgroup", arg, c.id(), "cat", "/proc/self/cgroup"]);
    joined.assert_ok();
    let pids_path = cgroup_line_path(&joined.stdout, "pids");
    assert_eq!(
        pids_path,
        format!("{}/sub", cgroup_line_path(&own, "pids")),
        "{joined}"
    );
    if !cgroupfs::is_v2() {
        // Only the named hierarchy changes.
        assert_eq!(
            cgroup_line_path(&joined.stdout, "memory"),
            cgroup_line_path(&own, "memory"),
            "{joined}"
        );
    }
    let cg_name = host.dir("pids");
    let sibling = format!("../{}-x", cg_name.file_name().unwrap().to_str().unwrap());
    for bad in ["..", "../..", sibling.as_str(), "nope", "sub/../../x"] {
        let arg = cgroupfs::by_layout(format!("pids:{bad}"), bad.to_string());
        let marker = format!("/out/ran-{}", bad.replace('/', "_"));
        let res = rt.cmd(&["exec", "--cgroup", &arg, c.id(), "touch", &marker]);
        assert!(!res.success(), "--cgroup {arg} was accepted: {res}");
        assert!(
            !out.join(marker.trim_start_matches("/out/")).exists(),
            "--cgroup {arg}: the process ran"
        );
    }
    // The sub-cgroup holds no process any more: remove it before the container's.
    assert!(poll::wait_until(poll::PATIENCE, || std::fs::remove_dir(
        &sub
    )
    .is_ok()
        || !sub.exists()));
}

/// `exec --process FILE` with only `args` and `cwd`: the fields runc defaults
/// are defaulted as runc does — uid 0 / gid 0 with no extra groups (not the
/// container's user), the container's capabilities, no no_new_privs, no rlimits
/// of the container's — and a file without `cwd` is refused.
#[test]
fn exec_process_file_defaults_missing_fields_as_runc() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.user(1000, 1000);
    b.config_mut()["process"]["user"]["additionalGids"] = serde_json::json!([5]);
    b.config_mut()["process"]["noNewPrivileges"] = true.into();
    let c = running(&rt, &mut b);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("process.json");
    std::fs::write(
        &file,
        serde_json::json!({
            "args": ["sh", "-c", "id; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status"],
            "cwd": "/",
            "env": ["PATH=/bin"]
        })
        .to_string(),
    )
    .unwrap();
    let out = rt.cmd(&["exec", "--process", file.to_str().unwrap(), c.id()]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0], "uid=0(root) gid=0(root)",
        "no extra groups: {out}"
    );
    let caps = procfs::status_field(&out.stdout, "CapEff").unwrap_or_default();
    let want = procfs::caps_to_mask(&["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    assert_eq!(
        procfs::cap_mask(caps),
        want,
        "the container's capabilities: {out}"
    );
    assert_eq!(
        procfs::status_field(&out.stdout, "NoNewPrivs"),
        Some("0"),
        "{out}"
    );

    std::fs::write(&file, r#"{"args": ["true"]}"#).unwrap();
    let out = rt.cmd(&["exec", "--process", file.to_str().unwrap(), c.id()]);
    out.assert_fail();
    assert!(out.stderr.to_lowercase().contains("cwd"), "{out}");
}

/// runc's exit status for a failed `exec` is 255 (the process's own status is
/// relayed when it ran): into a paused container, a missing program, a pid
/// file in a missing directory (the process is then not left running), a
/// missing container.
#[test]
fn failed_exec_exits_255() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = running(&rt, &mut b);
    let missing = b.path().join("no/such/dir/pid");
    let out = rt.cmd(&[
        "exec",
        "-d",
        "--pid-file",
        missing.to_str().unwrap(),
        c.id(),
        "sleep",
        "77",
    ]);
    assert_eq!(
        out.code(),
        Some(255),
        "pid file in a missing directory: {out}"
    );
    assert!(
        poll::wait_until(poll::PATIENCE, || !procfs::all_pids()
            .into_iter()
            .any(|p| std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c == "sleep\077\0"))),
        "the exec'd process was left running"
    );
    let out = rt.cmd(&["exec", c.id(), "/no-such-program"]);
    assert_eq!(out.code(), Some(255), "missing program: {out}");
    let out = rt.cmd(&["exec", "no-such-container", "true"]);
    assert_eq!(out.code(), Some(255), "missing container: {out}");
    rt.cmd(&["pause", c.id()]).assert_ok();
    let out = rt.cmd(&["exec", c.id(), "true"]);
    assert_eq!(out.code(), Some(255), "paused container: {out}");
    rt.cmd(&["resume", c.id()]).assert_ok();
    let out = rt.cmd(&["exec", c.id(), "sh", "-c", "exit 3"]);
    assert_eq!(out.code(), Some(3), "the process's own status: {out}");
}
