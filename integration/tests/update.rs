//! `update`: new resource limits for a running container, from runc's flags
//! (memory sizes with units, -1 unlimited) or from a `linux.resources` JSON file
//! or stdin, observed in the container's v1 cgroup files. Device rules stay as
//! they were. Bad sizes and stopped containers fail.

use std::io::Write;
use std::process::Stdio;

use husk_integration::{require_root, Bundle, Container, Runtime};
use serde_json::json;

fn v1_host() -> bool {
    std::path::Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists()
}

macro_rules! require_v1 {
    () => {
        require_root!();
        if !v1_host() {
            husk_integration::skip!("these checks read cgroup v1 files");
        }
    };
}

fn read(pid: i32, controller: &str, file: &str) -> String {
    husk_integration::procfs::cgroup_file(pid, controller, file)
}

/// A running `sleep` with memory 64m, cpu shares 512 and pids 20.
fn limited<'a>(rt: &'a Runtime, b: &mut Bundle) -> Container<'a> {
    b.config_mut()["linux"]["resources"]["memory"] = json!({"limit": 64u64 << 20});
    b.config_mut()["linux"]["resources"]["cpu"] = json!({"shares": 512});
    b.config_mut()["linux"]["resources"]["pids"] = json!({"limit": 20});
    b.args(&["sleep", "1000"]);
    let c = rt.container(b);
    c.start_ok();
    c
}

#[test]
fn flags_change_the_cgroup_files() {
    require_v1!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = limited(&rt, &mut b);
    let pid = c.pid();
    let devices_before = read(pid, "devices", "devices.list");
    rt.cmd(&[
        "update",
        "--memory",
        "128m",
        "--memory-swap",
        "256M",
        "--memory-reservation",
        "32m",
        "--cpu-share",
        "256",
        "--cpu-quota",
        "30000",
        "--cpu-period",
        "60000",
        "--cpuset-cpus",
        "0",
        "--pids-limit",
        "50",
        c.id(),
    ])
    .assert_ok();
    assert_eq!(read(pid, "memory", "memory.limit_in_bytes"), "134217728");
    assert_eq!(
        read(pid, "memory", "memory.memsw.limit_in_bytes"),
        "268435456"
    );
    assert_eq!(
        read(pid, "memory", "memory.soft_limit_in_bytes"),
        "33554432"
    );
    assert_eq!(read(pid, "cpu", "cpu.shares"), "256");
    assert_eq!(read(pid, "cpu", "cpu.cfs_quota_us"), "30000");
    assert_eq!(read(pid, "cpu", "cpu.cfs_period_us"), "60000");
    assert_eq!(read(pid, "cpuset", "cpuset.cpus"), "0");
    assert_eq!(read(pid, "pids", "pids.max"), "50");
    assert_eq!(
        read(pid, "devices", "devices.list"),
        devices_before,
        "update changed the device rules"
    );

    // Unlimited again.
    rt.cmd(&[
        "update",
        "--memory-swap",
        "-1",
        "--memory",
        "-1",
        "--pids-limit",
        "-1",
        c.id(),
    ])
    .assert_ok();
    let unlimited: u64 = read(pid, "memory", "memory.limit_in_bytes")
        .parse()
        .unwrap();
    assert!(unlimited > 1 << 60, "memory.limit_in_bytes {unlimited}");
    assert_eq!(read(pid, "pids", "pids.max"), "max");
    assert_eq!(c.status().as_deref(), Some("running"));
}

#[test]
fn resources_from_a_file_and_from_stdin() {
    require_v1!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = limited(&rt, &mut b);
    let pid = c.pid();

    let file = b.path().join("resources.json");
    let r =
        json!({"memory": {"limit": 96u64 << 20}, "cpu": {"shares": 300}, "pids": {"limit": 30}});
    std::fs::write(&file, r.to_string()).unwrap();
    // Flags are ignored when a file is given.
    rt.cmd(&[
        "update",
        "-r",
        file.to_str().unwrap(),
        "--pids-limit",
        "99",
        c.id(),
    ])
    .assert_ok();
    assert_eq!(read(pid, "memory", "memory.limit_in_bytes"), "100663296");
    assert_eq!(read(pid, "cpu", "cpu.shares"), "300");
    assert_eq!(read(pid, "pids", "pids.max"), "30");

    let mut cmd = rt.command(&["update", "--resources", "-", c.id()]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"pids": {"limit": 40}}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(read(pid, "pids", "pids.max"), "40");
    assert_eq!(
        read(pid, "cpu", "cpu.shares"),
        "300",
        "unchanged values stay"
    );
}

#[test]
fn bad_values_and_stopped_containers_fail() {
    require_v1!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = limited(&rt, &mut b);
    let pid = c.pid();
    rt.cmd(&["update", "--memory", "12x", c.id()]).assert_fail();
    assert_eq!(read(pid, "memory", "memory.limit_in_bytes"), "67108864");
    c.kill("KILL").assert_ok();
    assert!(c.wait_status("stopped"));
    rt.cmd(&["update", "--pids-limit", "5", c.id()])
        .assert_fail();
}
