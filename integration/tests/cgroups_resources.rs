//! The rest of config-linux.md "Control groups" on this host's v1 hierarchies:
//! blockIO throttles on the root filesystem's disk, cpu burst and idle, memory
//! kernelTCP / kernel / useHierarchy, the same through `update -r FILE`, the
//! checkBeforeUpdate refusal, and the errors for values a host lacks the
//! controller or file for (network, rdma, leafWeight, weightDevice, unified on
//! v1) while unset ones stay silent. Values are read back from the host through
//! /proc/<pid>/cgroup.
//!
//! runc 1.1.5 knows no cpu burst, no v1 cpu.idle, no checkBeforeUpdate, ignores
//! kernelTCP and takes no throttles in `update -r`: those checks print a skip
//! line there.

use std::path::{Path, PathBuf};

use husk_integration::{is_husk, is_runc, require_root, skip, Bundle, Container, Runtime};
use serde_json::{json, Value};

fn v1_host() -> bool {
    Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists()
}

macro_rules! require_v1 {
    () => {
        require_root!();
        if !v1_host() {
            skip!("these checks read cgroup v1 files (v2 is unit-tested in husk)");
        }
    };
}

fn read(pid: i32, controller: &str, file: &str) -> String {
    husk_integration::procfs::cgroup_file(pid, controller, file)
}

/// Whether the root hierarchy of `controller` has `file`.
fn host_has(controller: &str, file: &str) -> bool {
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(file)
        .exists()
}

/// major:minor of the disk holding / (a partition's parent disk: block throttling
/// applies to whole disks), from /proc/self/mountinfo and /sys/dev/block.
fn root_disk() -> Option<(u32, u32)> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let dev = mi
        .lines()
        .rev()
        .find(|l| l.split(' ').nth(4) == Some("/"))?
        .split(' ')
        .nth(2)?
        .to_string();
    let sys = PathBuf::from(format!("/sys/dev/block/{dev}"));
    let dev = if sys.join("partition").exists() {
        std::fs::read_to_string(sys.join("../dev")).ok()?
    } else if sys.exists() {
        dev
    } else {
        return None; // not a block device (overlay, tmpfs, ...)
    };
    let (ma, mi) = dev.trim().split_once(':')?;
    Some((ma.parse().ok()?, mi.parse().ok()?))
}

/// A created (not started) `sleep` container with `resources`.
fn created<'a>(rt: &'a Runtime, b: &mut Bundle, resources: Value) -> Container<'a> {
    b.config_mut()["linux"]["resources"] = resources;
    b.args(&["sleep", "1000"]);
    rt.container(b)
}

/// `create` with `resources` fails; husk names `field` and, if given, `file`.
fn create_fails(resources: Value, field: &str, file: Option<&str>) {
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.config_mut()["linux"]["resources"] = resources;
    b.args(&["true"]);
    let id = rt.new_id("husk-it");
    let out = rt.create(&id, &b);
    out.assert_fail();
    if is_husk() {
        assert!(out.stderr.contains(field), "{field}: {}", out.stderr);
        if let Some(f) = file {
            assert!(out.stderr.contains(f), "{f}: {}", out.stderr);
        }
    }
}

#[test]
fn blkio_throttles_on_the_root_disk() {
    require_v1!();
    let Some((ma, mi)) = root_disk() else {
        skip!("/ is not on a block device");
    };
    if !host_has("blkio", "blkio.throttle.read_bps_device") {
        skip!("no blkio throttling on this host");
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let dev = |rate: u64| json!([{"major": ma, "minor": mi, "rate": rate}]);
    let c = created(
        &rt,
        &mut b,
        json!({"blockIO": {
            "throttleReadBpsDevice": dev(1048576),
            "throttleWriteBpsDevice": dev(2097152),
            "throttleReadIOPSDevice": dev(300),
            "throttleWriteIOPSDevice": dev(200),
        }}),
    );
    let pid = c.pid();
    for (file, want) in [
        ("read_bps_device", 1048576),
        ("write_bps_device", 2097152),
        ("read_iops_device", 300),
        ("write_iops_device", 200),
    ] {
        assert_eq!(
            read(pid, "blkio", &format!("blkio.throttle.{file}")),
            format!("{ma}:{mi} {want}"),
            "{file}"
        );
    }
}

#[test]
fn memory_kernel_tcp_kernel_and_use_hierarchy() {
    require_v1!();
    if !host_has("memory", "memory.kmem.tcp.limit_in_bytes") {
        skip!("no memory.kmem.tcp.limit_in_bytes on this host");
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    // `kernel` is written where the file exists (recent kernels ignore the
    // value) and skipped with a warning where it does not: never an error.
    let c = created(
        &rt,
        &mut b,
        json!({"memory": {"kernelTCP": 8388608, "kernel": 67108864, "useHierarchy": true}}),
    );
    let pid = c.pid();
    assert_eq!(read(pid, "memory", "memory.use_hierarchy"), "1");
    if is_runc() {
        skip!("runc 1.1.5 ignores kernelTCP (memory.kmem.tcp.limit_in_bytes stays unlimited)");
    }
    assert_eq!(
        read(pid, "memory", "memory.kmem.tcp.limit_in_bytes"),
        "8388608"
    );
}

#[test]
fn cpu_burst_and_idle() {
    require_v1!();
    if is_runc() {
        skip!("runc 1.1.5 has no cpu burst and does not write cpu.idle on cgroup v1");
    }
    if !host_has("cpu", "cpu.cfs_burst_us") || !host_has("cpu", "cpu.idle") {
        skip!("no cpu.cfs_burst_us / cpu.idle on this host");
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    // The burst is above the default quota (none) and below the new one: it is
    // written before the quota and retried after it.
    let c = created(
        &rt,
        &mut b,
        json!({"cpu": {"quota": 50000, "period": 100000, "burst": 20000, "idle": 1}}),
    );
    let pid = c.pid();
    assert_eq!(read(pid, "cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(read(pid, "cpu", "cpu.cfs_burst_us"), "20000");
    assert_eq!(read(pid, "cpu", "cpu.idle"), "1");
}

#[test]
fn update_from_a_file_takes_the_new_resources() {
    require_v1!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = created(&rt, &mut b, json!({"memory": {"limit": 64u64 << 20}}));
    c.start_ok();
    let pid = c.pid();
    let disk = root_disk();
    let mut r = json!({"memory": {"limit": 96u64 << 20}});
    let husk_only = !is_runc();
    if husk_only {
        r["memory"]["kernelTCP"] = json!(4194304);
        r["cpu"] = json!({"quota": 40000, "period": 100000, "burst": 10000});
        if let Some((ma, mi)) = disk {
            r["blockIO"] =
                json!({"throttleReadBpsDevice": [{"major": ma, "minor": mi, "rate": 4096}]});
        }
    } else {
        eprintln!(
            "skip (part): runc 1.1.5 ignores kernelTCP and its update takes no cpu burst nor blkio throttles"
        );
    }
    let file = b.path().join("resources.json");
    std::fs::write(&file, r.to_string()).unwrap();
    rt.cmd(&["update", "-r", file.to_str().unwrap(), c.id()])
        .assert_ok();
    assert_eq!(read(pid, "memory", "memory.limit_in_bytes"), "100663296");
    if husk_only {
        assert_eq!(
            read(pid, "memory", "memory.kmem.tcp.limit_in_bytes"),
            "4194304"
        );
        assert_eq!(read(pid, "cpu", "cpu.cfs_burst_us"), "10000");
        assert_eq!(read(pid, "cpu", "cpu.cfs_quota_us"), "40000");
        if let Some((ma, mi)) = disk {
            assert_eq!(
                read(pid, "blkio", "blkio.throttle.read_bps_device"),
                format!("{ma}:{mi} 4096")
            );
        }
    }
}

#[test]
fn check_before_update_refuses_a_limit_below_usage() {
    require_v1!();
    if is_runc() {
        skip!("runc 1.1.5 has no checkBeforeUpdate (and runc checks on cgroup v2 only)");
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = created(&rt, &mut b, json!({"memory": {"limit": 64u64 << 20}}));
    c.start_ok();
    let pid = c.pid();
    let usage: u64 = read(pid, "memory", "memory.usage_in_bytes")
        .parse()
        .unwrap();
    if usage < 8192 {
        skip!("memory.usage_in_bytes is only {usage}");
    }
    let file = b.path().join("resources.json");
    let below = json!({"memory": {"limit": 4096, "checkBeforeUpdate": true}});
    std::fs::write(&file, below.to_string()).unwrap();
    let out = rt.cmd(&["update", "-r", file.to_str().unwrap(), c.id()]);
    out.assert_fail();
    assert!(
        out.stderr
            .contains("linux.resources.memory.checkBeforeUpdate")
            && out.stderr.contains("memory.usage_in_bytes"),
        "{}",
        out.stderr
    );
    assert_eq!(read(pid, "memory", "memory.limit_in_bytes"), "67108864");
    let above = json!({"memory": {"limit": 96u64 << 20, "checkBeforeUpdate": true}});
    std::fs::write(&file, above.to_string()).unwrap();
    rt.cmd(&["update", "-r", file.to_str().unwrap(), c.id()])
        .assert_ok();
    assert_eq!(read(pid, "memory", "memory.limit_in_bytes"), "100663296");
}

#[test]
fn network_where_mounted_else_an_error_naming_the_field() {
    require_v1!();
    if host_has("net_cls", "net_cls.classid") {
        let rt = Runtime::from_env();
        let mut b = Bundle::new();
        let c = created(&rt, &mut b, json!({"network": {"classID": 1048577}}));
        assert_eq!(read(c.pid(), "net_cls", "net_cls.classid"), "1048577");
    } else {
        create_fails(
            json!({"network": {"classID": 1048577}}),
            "linux.resources.network.classID",
            Some("net_cls"),
        );
    }
    if !host_has("net_prio", "net_prio.ifpriomap") {
        create_fails(
            json!({"network": {"priorities": [{"name": "lo", "priority": 5}]}}),
            "linux.resources.network.priorities[0]",
            Some("net_prio"),
        );
    }
}

#[test]
fn missing_controllers_and_files_fail_only_when_set() {
    require_v1!();
    if !host_has("rdma", "rdma.max") {
        create_fails(
            json!({"rdma": {"mlx5_1": {"hcaHandles": 3}}}),
            r#"linux.resources.rdma["mlx5_1"]"#,
            Some("rdma"),
        );
    }
    if !host_has("blkio", "blkio.leaf_weight") {
        create_fails(
            json!({"blockIO": {"leafWeight": 300}}),
            "linux.resources.blockIO.leafWeight",
            Some("blkio.leaf_weight"),
        );
    }
    if !host_has("blkio", "blkio.weight_device") && !host_has("blkio", "blkio.bfq.weight_device") {
        create_fails(
            json!({"blockIO": {"weightDevice": [{"major": 254, "minor": 0, "weight": 500}]}}),
            "linux.resources.blockIO.weightDevice[0].weight",
            Some("weight_device"),
        );
    }
    // unified is cgroup v2 only: an error on a v1 host, as in runc.
    create_fails(
        json!({"unified": {"pids.max": "10"}}),
        "linux.resources.unified",
        None,
    );
    // Nothing set: silent.
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = created(
        &rt,
        &mut b,
        json!({"network": {}, "rdma": {}, "unified": {}, "blockIO": {"weightDevice": []}}),
    );
    c.start_ok();
}
