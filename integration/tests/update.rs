//! `update`: new resource limits for a running container, from runc's flags
//! (memory sizes with units, -1 unlimited) or from a `linux.resources` JSON file
//! or stdin, observed in the container's cgroup files on either layout (v2: the
//! converted values, e.g. cpu.weight from the shares, memory.swap.max = swap -
//! limit). Device rules stay as they were (v1 devices.list, v2 the attached
//! device program). Bad sizes and stopped containers fail.

use std::io::Write;
use std::process::Stdio;

use husk_integration::cgroupfs::{by_layout, pick, Cgroup, Knob};
use husk_integration::{require_root, Bundle, Container, Runtime};
use serde_json::json;

const MEMORY: Knob = pick(("memory", "memory.limit_in_bytes"), "memory.max");
const PIDS: Knob = pick(("pids", "pids.max"), "pids.max");
/// v1: memory+swap; v2: swap alone (memory.swap.max = swap - limit).
const SWAP: Knob = pick(("memory", "memory.memsw.limit_in_bytes"), "memory.swap.max");
/// cpu.weight is runc's conversion of the shares: 1 + (shares - 2) * 9999 / 262142.
const SHARES: Knob = pick(("cpu", "cpu.shares"), "cpu.weight");

/// A memory limit file's "no limit": v2 `max`, v1 the largest page-aligned number.
fn unlimited(value: &str) -> bool {
    value == "max" || value.parse::<u64>().is_ok_and(|bytes| bytes > 1 << 60)
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
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = limited(&rt, &mut b);
    let cg = Cgroup::of(c.pid());
    let devices_before = cg.device_rules();
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
    assert_eq!(cg.read(MEMORY), "134217728");
    // v1: memory+swap; v2: swap alone, 256M - 128M.
    assert_eq!(cg.read(SWAP), by_layout("268435456", "134217728"));
    let reservation = pick(("memory", "memory.soft_limit_in_bytes"), "memory.low");
    assert_eq!(cg.read(reservation), "33554432");
    assert_eq!(cg.read(SHARES), by_layout("256", "10"));
    assert_eq!(cg.cpu_max(), "30000 60000");
    assert_eq!(cg.read(pick(("cpuset", "cpuset.cpus"), "cpuset.cpus")), "0");
    assert_eq!(cg.read(PIDS), "50");
    assert_eq!(
        cg.device_rules(),
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
    for knob in [MEMORY, SWAP] {
        let value = cg.read(knob);
        assert!(unlimited(&value), "{}: {value}", knob.file());
    }
    assert_eq!(cg.read(PIDS), "max");
    assert_eq!(c.status().as_deref(), Some("running"));
}

#[test]
fn resources_from_a_file_and_from_stdin() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = limited(&rt, &mut b);
    let cg = Cgroup::of(c.pid());

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
    assert_eq!(cg.read(MEMORY), "100663296");
    assert_eq!(cg.read(SHARES), by_layout("300", "12"));
    assert_eq!(cg.read(PIDS), "30");

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
    assert_eq!(cg.read(PIDS), "40");
    assert_eq!(
        cg.read(SHARES),
        by_layout("300", "12"),
        "unchanged values stay"
    );
}

#[test]
fn bad_values_and_stopped_containers_fail() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = limited(&rt, &mut b);
    let cg = Cgroup::of(c.pid());
    rt.cmd(&["update", "--memory", "12x", c.id()]).assert_fail();
    assert_eq!(cg.read(MEMORY), "67108864");

    c.kill("KILL").assert_ok();
    assert!(c.wait_status("stopped"));
    rt.cmd(&["update", "--pids-limit", "5", c.id()])
        .assert_fail();
}

/// `update --memory -1` while a finite memory+swap limit is set: memory+swap is
/// raised first (the kernel refuses a memory limit above it), so it succeeds,
/// as in runc, and both are unlimited afterwards (v2: memory.max).
#[test]
fn memory_unlimited_with_a_finite_swap_limit() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.config_mut()["linux"]["resources"]["memory"] =
        json!({"limit": 64u64 << 20, "swap": 128u64 << 20});
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    c.start_ok();
    let cg = Cgroup::of(c.pid());
    if !cg.has(SWAP) {
        husk_integration::skip!("no swap accounting on this host ({})", SWAP.file());
    }
    rt.cmd(&["update", "--memory", "-1", c.id()]).assert_ok();
    assert!(unlimited(&cg.read(MEMORY)), "{}", cg.read(MEMORY));
    if !husk_integration::cgroupfs::is_v2() {
        assert!(unlimited(&cg.read(SWAP)), "{}", cg.read(SWAP));
    }
}

/// cgroup v1 realtime bandwidth: lowering the period below the current runtime
/// writes the new runtime first (runtime may never exceed the period); lowering
/// the period alone below it is refused with an error naming the field.
#[test]
fn realtime_period_below_the_current_runtime() {
    require_root!();
    use husk_integration::cgroupfs::v1_only;
    const RT_PERIOD: Knob = v1_only("cpu", "cpu.rt_period_us");
    const RT_RUNTIME: Knob = v1_only("cpu", "cpu.rt_runtime_us");
    if husk_integration::cgroupfs::is_v2()
        || !std::path::Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists()
    {
        husk_integration::skip!("no cgroup v1 realtime group scheduling (cpu.rt_runtime_us) here");
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.config_mut()["linux"]["resources"]["cpu"] =
        json!({"realtimePeriod": 1_000_000, "realtimeRuntime": 100_000});
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    c.start_ok();
    let cg = Cgroup::of(c.pid());
    assert_eq!(cg.read(RT_RUNTIME), "100000");
    let alone = rt.cmd(&["update", "--cpu-rt-period", "50000", c.id()]);
    alone.assert_fail();
    if husk_integration::is_husk() {
        assert!(
            alone.stderr.contains("linux.resources.cpu.realtimePeriod")
                && alone.stderr.contains("below the current realtime runtime"),
            "{alone}"
        );
    }
    if husk_integration::is_runc() {
        husk_integration::skip!("runc 1.1.5 writes the period first and fails (EINVAL)");
    }
    rt.cmd(&[
        "update",
        "--cpu-rt-period",
        "50000",
        "--cpu-rt-runtime",
        "40000",
        c.id(),
    ])
    .assert_ok();
    assert_eq!(
        (cg.read(RT_PERIOD), cg.read(RT_RUNTIME)),
        ("50000".to_string(), "40000".to_string())
    );
}
