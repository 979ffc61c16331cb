//! Unit tests of the resource translations added for config-linux.md "Control
//! groups" beyond the basics: kernel/kernelTCP/useHierarchy/checkBeforeUpdate,
//! cpu burst/idle, blockIO per-device weights and throttles, hugetlb rsvd,
//! network, rdma and unified (v1 file + value, v2 file + value), some against a
//! fake cgroup directory in a tempdir.

use super::*;
use oci_spec::runtime::LinuxResources;

fn resources(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

/// (field, file, value) of the writes of `controller`.
fn of<'a>(ws: &'a [Write], controller: &str) -> Vec<(&'a str, &'a str, &'a str)> {
    ws.iter()
        .filter(|w| w.controller == controller)
        .map(|w| (w.field.as_str(), w.file.as_str(), w.value.as_str()))
        .collect()
}

fn v1(json: &str) -> Vec<Write> {
    v1::writes(&resources(json), v1::Order::default()).unwrap()
}

fn v2(json: &str) -> Vec<Write> {
    v2::writes(&resources(json)).unwrap()
}

#[test]
fn memory_kernel_tcp_and_use_hierarchy_v1() {
    let ws = v1(r#"{"memory": {"kernel": 4096, "kernelTCP": 1048576, "useHierarchy": true}}"#);
    assert_eq!(
        of(&ws, "memory"),
        [
            (
                "linux.resources.memory.kernel",
                "memory.kmem.limit_in_bytes",
                "4096"
            ),
            (
                "linux.resources.memory.kernelTCP",
                "memory.kmem.tcp.limit_in_bytes",
                "1048576"
            ),
            (
                "linux.resources.memory.useHierarchy",
                "memory.use_hierarchy",
                "1"
            ),
        ]
    );
    // kernel is skipped with a warning where the kernel dropped the file.
    let mem: Vec<_> = ws.iter().filter(|w| w.controller == "memory").collect();
    assert!(mem[0].warn_missing.is_some() && mem[1].warn_missing.is_none());
    let ws = v1(r#"{"memory": {"useHierarchy": false}}"#);
    assert_eq!(of(&ws, "memory")[0].2, "0");
}

#[test]
fn memory_kernel_tcp_and_use_hierarchy_ignored_on_v2() {
    let ws = v2(r#"{"memory": {"kernel": 4096, "kernelTCP": 1048576, "useHierarchy": false}}"#);
    assert!(ws.is_empty(), "{ws:?}");
}

#[test]
fn warn_missing_skips_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Write::new("f", "memory", "memory.kmem.limit_in_bytes", 1);
    assert!(apply_write(dir.path(), &w).is_err());
    w.warn_missing = Some("ignored".into());
    apply_write(dir.path(), &w).unwrap();
    std::fs::write(dir.path().join("memory.kmem.limit_in_bytes"), "").unwrap();
    apply_write(dir.path(), &w).unwrap();
    let got = std::fs::read_to_string(dir.path().join("memory.kmem.limit_in_bytes")).unwrap();
    assert_eq!(got, "1");
}

#[test]
fn cpu_burst_before_quota_and_retried_v1_v2() {
    let json = r#"{"cpu": {"quota": 20000, "period": 100000, "burst": 10000, "idle": 1}}"#;
    let ws = v1(json);
    let cpu = of(&ws, "cpu");
    assert_eq!(
        cpu.iter().map(|c| (c.1, c.2)).collect::<Vec<_>>(),
        [
            ("cpu.cfs_period_us", "100000"),
            ("cpu.cfs_burst_us", "10000"),
            ("cpu.cfs_quota_us", "20000"),
            ("cpu.idle", "1"),
        ]
    );
    let burst = ws.iter().find(|w| w.file == "cpu.cfs_burst_us").unwrap();
    assert!(burst.retry_later);
    let idle = ws.iter().find(|w| w.file == "cpu.idle").unwrap();
    assert!(!idle.optional, "idle=1 without the file is an error");
    let ws = v2(json);
    assert_eq!(
        of(&ws, "cpu"),
        [
            ("linux.resources.cpu.burst", "cpu.max.burst", "10000"),
            ("linux.resources.cpu.quota", "cpu.max", "20000 100000"),
            ("linux.resources.cpu.idle", "cpu.idle", "1"),
        ]
    );
    assert!(ws[0].retry_later);
    // Without a quota there is nothing to retry after.
    assert!(!v2(r#"{"cpu": {"burst": 5}}"#)[0].retry_later);
    // idle=0 is the default: skipped where the v1 file is missing.
    let ws = v1(r#"{"cpu": {"idle": 0}}"#);
    assert!(ws.iter().find(|w| w.file == "cpu.idle").unwrap().optional);
}

const BLKIO: &str = r#"{"blockIO": {
    "weight": 500, "leafWeight": 300,
    "weightDevice": [{"major": 8, "minor": 0, "weight": 600, "leafWeight": 200},
                     {"major": 8, "minor": 16, "weight": 10}],
    "throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 1048576}],
    "throttleWriteBpsDevice": [{"major": 254, "minor": 0, "rate": 2097152}],
    "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 100},
                               {"major": 254, "minor": 0, "rate": 0}],
    "throttleWriteIOPSDevice": [{"major": 254, "minor": 0, "rate": 50}]
}}"#;

#[test]
fn blkio_v1_files_and_values() {
    let ws = v1(BLKIO);
    let f = "linux.resources.blockIO";
    assert_eq!(
        of(&ws, "blkio"),
        [
            (&*format!("{f}.weight"), "blkio.weight", "500"),
            (&*format!("{f}.leafWeight"), "blkio.leaf_weight", "300"),
            (
                &*format!("{f}.weightDevice[0].weight"),
                "blkio.weight_device",
                "8:0 600"
            ),
            (
                &*format!("{f}.weightDevice[0].leafWeight"),
                "blkio.leaf_weight_device",
                "8:0 200"
            ),
            (
                &*format!("{f}.weightDevice[1].weight"),
                "blkio.weight_device",
                "8:16 10"
            ),
            (
                &*format!("{f}.throttleReadBpsDevice[0]"),
                "blkio.throttle.read_bps_device",
                "254:0 1048576"
            ),
            (
                &*format!("{f}.throttleWriteBpsDevice[0]"),
                "blkio.throttle.write_bps_device",
                "254:0 2097152"
            ),
            (
                &*format!("{f}.throttleReadIOPSDevice[0]"),
                "blkio.throttle.read_iops_device",
                "8:0 100"
            ),
            // A rate of 0 removes the rule on v1.
            (
                &*format!("{f}.throttleReadIOPSDevice[1]"),
                "blkio.throttle.read_iops_device",
                "254:0 0"
            ),
            (
                &*format!("{f}.throttleWriteIOPSDevice[0]"),
                "blkio.throttle.write_iops_device",
                "254:0 50"
            ),
        ]
    );
    let wd = ws.iter().find(|w| w.file == "blkio.weight_device").unwrap();
    assert_eq!(
        wd.fallback,
        Some(("blkio.bfq.weight_device".into(), "8:0 600".into()))
    );
}

#[test]
fn blkio_v2_files_and_values() {
    let ws = v2(BLKIO);
    let f = "linux.resources.blockIO";
    assert_eq!(
        of(&ws, "io"),
        [
            (&*format!("{f}.weight"), "io.bfq.weight", "500"),
            (
                &*format!("{f}.weightDevice[0].weight"),
                "io.bfq.weight",
                "8:0 600"
            ),
            (
                &*format!("{f}.weightDevice[1].weight"),
                "io.bfq.weight",
                "8:16 10"
            ),
            (
                &*format!("{f}.throttleReadIOPSDevice[0]"),
                "io.max",
                "8:0 riops=100"
            ),
            (
                &*format!(
                    "{f}.throttleReadBpsDevice[0], throttleWriteBpsDevice[0], throttleWriteIOPSDevice[0]"
                ),
                "io.max",
                "254:0 rbps=1048576 wbps=2097152 wiops=50"
            ),
        ]
    );
    // Without BFQ: io.weight with runc's [10, 1000] -> [1, 10000] conversion.
    let fb: Vec<_> = ws.iter().map(|w| w.fallback.clone()).collect();
    assert_eq!(fb[0], Some(("io.weight".into(), "4950".into())));
    assert_eq!(fb[1], Some(("io.weight".into(), "8:0 5960".into())));
    assert_eq!(fb[2], Some(("io.weight".into(), "8:16 1".into())));
}

#[test]
fn hugetlb_rsvd_is_optional() {
    let json = r#"{"hugepageLimits": [{"pageSize": "1GB", "limit": -1}]}"#;
    let ws = v1(json);
    let h: Vec<_> = ws.iter().filter(|w| w.controller == "hugetlb").collect();
    assert_eq!(h[1].file, "hugetlb.1GB.rsvd.limit_in_bytes");
    assert!(!h[0].optional && h[1].optional);
    let ws = v2(json);
    assert_eq!(
        of(&ws, "hugetlb"),
        [
            (
                "linux.resources.hugepageLimits[0]",
                "hugetlb.1GB.max",
                "max"
            ),
            (
                "linux.resources.hugepageLimits[0]",
                "hugetlb.1GB.rsvd.max",
                "max"
            ),
        ]
    );
    assert!(ws[1].optional);
}

#[test]
fn network_v1_files_and_v2_error() {
    let json = r#"{"network": {"classID": 1048577,
        "priorities": [{"name": "eth0", "priority": 500}, {"name": "lo", "priority": 7}]}}"#;
    let ws = v1(json);
    assert_eq!(
        of(&ws, "net_cls"),
        [(
            "linux.resources.network.classID",
            "net_cls.classid",
            "1048577"
        )]
    );
    assert_eq!(
        of(&ws, "net_prio"),
        [
            (
                "linux.resources.network.priorities[0]",
                "net_prio.ifpriomap",
                "eth0 500"
            ),
            (
                "linux.resources.network.priorities[1]",
                "net_prio.ifpriomap",
                "lo 7"
            ),
        ]
    );
    let e = v2::writes(&resources(json)).unwrap_err().to_string();
    assert!(e.starts_with("linux.resources.network.classID: "), "{e}");
    let e = v2::writes(&resources(
        r#"{"network": {"priorities": [{"name": "lo", "priority": 1}]}}"#,
    ))
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("linux.resources.network.priorities: "), "{e}");
    // Nothing set: silent on both.
    assert!(v2(r#"{"network": {"priorities": []}}"#).is_empty());
    assert!(of(&v1(r#"{"network": {}}"#), "net_cls").is_empty());
}

#[test]
fn network_without_the_controller_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let dirs = [Dir {
        controllers: vec!["memory".into()],
        root: dir.path().into(),
        path: dir.path().into(),
        created: vec![],
    }];
    let r = resources(r#"{"network": {"classID": 1}}"#);
    let e = v1::update(&dirs, &r).unwrap_err().to_string();
    assert_eq!(
        e,
        "linux.resources.network.classID: no net_cls cgroup hierarchy is mounted on this host"
    );
}

#[test]
fn rdma_lines_v1_v2() {
    let json = r#"{"rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000},
                            "mlx4_0": {"hcaObjects": 1000}, "rxe3": {"hcaHandles": 2}}}"#;
    for ws in [v1(json), v2(json)] {
        assert_eq!(
            of(&ws, "rdma"),
            [
                (
                    r#"linux.resources.rdma["mlx4_0"]"#,
                    "rdma.max",
                    "mlx4_0 hca_object=1000"
                ),
                (
                    r#"linux.resources.rdma["mlx5_1"]"#,
                    "rdma.max",
                    "mlx5_1 hca_handle=3 hca_object=10000"
                ),
                (
                    r#"linux.resources.rdma["rxe3"]"#,
                    "rdma.max",
                    "rxe3 hca_handle=2"
                ),
            ]
        );
    }
    let e = v2::writes(&resources(r#"{"rdma": {"mlx5_1": {}}}"#))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with(r#"linux.resources.rdma["mlx5_1"]: "#), "{e}");
}

#[test]
fn unified_on_v1_is_an_error() {
    let r = resources(r#"{"unified": {"memory.high": "1000000"}}"#);
    let e = v1::writes(&r, v1::Order::default())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("linux.resources.unified: "), "{e}");
    // An empty map is nothing set.
    v1::writes(&resources(r#"{"unified": {}}"#), v1::Order::default()).unwrap();
}

/// A fake v2 cgroup: cgroup.controllers and empty files named `files`.
fn fake_v2(controllers: &str, files: &[&str]) -> (tempfile::TempDir, Dir) {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("cgroup.controllers"), controllers).unwrap();
    for f in files {
        std::fs::write(t.path().join(f), "").unwrap();
    }
    let d = Dir {
        controllers: vec![],
        root: t.path().into(),
        path: t.path().into(),
        created: vec![],
    };
    (t, d)
}

fn read(d: &Dir, f: &str) -> String {
    std::fs::read_to_string(d.path.join(f)).unwrap()
}

#[test]
fn unified_v2_writes_existing_files_and_validates_keys() {
    let (_t, d) = fake_v2("cpu memory", &["memory.high", "cpu.weight.nice"]);
    let r = resources(r#"{"unified": {"memory.high": "1000000", "cpu.weight.nice": "5"}}"#);
    v2::set(&d, &r, false).unwrap();
    assert_eq!(read(&d, "memory.high"), "1000000");
    assert_eq!(read(&d, "cpu.weight.nice"), "5");
    for (key, want) in [
        ("../memory.high", "no '/' or '..'"),
        ("a/b", "no '/' or '..'"),
        ("..", "no '/' or '..'"),
        ("memory.nope", "no such cgroup file"),
        ("io.max", "the io controller is not available"),
    ] {
        let r = resources(&format!(r#"{{"unified": {{"{key}": "1"}}}}"#));
        let e = v2::set(&d, &r, false).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("linux.resources.unified[{key:?}]: ")) && e.contains(want),
            "{key}: {e}"
        );
    }
}

#[test]
fn v2_set_writes_io_max_and_bfq_fallback() {
    let (_t, d) = fake_v2("io", &["io.max", "io.weight"]);
    let r = resources(
        r#"{"blockIO": {"weightDevice": [{"major": 254, "minor": 0, "weight": 1000}],
            "throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 4096}]}}"#,
    );
    v2::set(&d, &r, false).unwrap();
    assert_eq!(read(&d, "io.weight"), "254:0 10000");
    assert_eq!(read(&d, "io.max"), "254:0 rbps=4096");
}

#[test]
fn check_before_update_refuses_a_limit_not_above_usage() {
    let (_t, d) = fake_v2("memory", &["memory.max", "memory.swap.max"]);
    std::fs::write(d.path.join("memory.current"), "5000\n").unwrap();
    let r = resources(r#"{"memory": {"limit": 5000, "checkBeforeUpdate": true}}"#);
    let e = v2::set(&d, &r, false).unwrap_err().to_string();
    assert!(
        e.starts_with("linux.resources.memory.checkBeforeUpdate: ")
            && e.contains("memory.current")
            && e.contains("5000"),
        "{e}"
    );
    assert_eq!(read(&d, "memory.max"), "", "nothing written");
    // Above the usage, or without the flag: written.
    let r = resources(r#"{"memory": {"limit": 5001, "checkBeforeUpdate": true}}"#);
    v2::set(&d, &r, false).unwrap();
    assert_eq!(read(&d, "memory.max"), "5001");
    v2::set(&d, &resources(r#"{"memory": {"limit": 100}}"#), false).unwrap();
    // v1: memory.usage_in_bytes, memory+swap against memory.memsw.usage_in_bytes.
    let t = tempfile::tempdir().unwrap();
    for (f, v) in [
        ("memory.usage_in_bytes", "4000"),
        ("memory.memsw.usage_in_bytes", "9000"),
        ("memory.limit_in_bytes", ""),
        ("memory.memsw.limit_in_bytes", ""),
    ] {
        std::fs::write(t.path().join(f), v).unwrap();
    }
    let dirs = [Dir {
        controllers: vec!["memory".into()],
        root: t.path().into(),
        path: t.path().into(),
        created: vec![],
    }];
    let r = resources(r#"{"memory": {"limit": 6000, "swap": 8000, "checkBeforeUpdate": true}}"#);
    let e = v1::update(&dirs, &r).unwrap_err().to_string();
    assert!(
        e.contains("linux.resources.memory.swap 8000") && e.contains("memsw.usage_in_bytes"),
        "{e}"
    );
    let r = resources(r#"{"memory": {"limit": 4000, "checkBeforeUpdate": true}}"#);
    assert!(v1::update(&dirs, &r).is_err());
    let r = resources(r#"{"memory": {"limit": 6000, "swap": 10000, "checkBeforeUpdate": true}}"#);
    v1::update(&dirs, &r).unwrap();
    // An unreadable usage is no reason to refuse.
    std::fs::remove_file(t.path().join("memory.usage_in_bytes")).unwrap();
    let r = resources(r#"{"memory": {"limit": 10, "checkBeforeUpdate": true}}"#);
    v1::update(&dirs, &r).unwrap();
}
