//! Unit tests of the cgroup manager: path resolution, mountinfo parsing and the
//! v1 / v2 file translations (no root, no cgroup filesystem needed).

use super::*;
use oci_spec::runtime::LinuxResources;

fn resources(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 /outer /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 23 0:40 / /mnt/my\\040cg rw - cgroup cgroup rw,memory
";

const PROC_CGROUP: &str = "\
9:name=systemd:/user
8:pids:/outer/p
7:net_cls:/
4:memory:/process_api/abc
3:cpuset:/
1:cpu,cpuacct:/a/b
0::/u
";

fn dir_of<'a>(dirs: &'a [Dir], controller: &str) -> &'a Dir {
    dirs.iter()
        .find(|d| d.has(controller) || (controller.is_empty() && d.controllers.is_empty()))
        .unwrap()
}

#[test]
fn clean_path_as_runc() {
    assert_eq!(clean_path(Path::new("/a/../b/./c")), Path::new("/b/c"));
    assert_eq!(clean_path(Path::new("/../..")), Path::new("/"));
    assert_eq!(clean_path(Path::new("../x/y")), Path::new("x/y"));
    assert_eq!(clean_path(Path::new("a/../../b")), Path::new("b"));
}

#[test]
fn mountinfo_cgroup_mounts() {
    let m = cgroup_mounts(MOUNTINFO);
    assert_eq!(m.len(), 7);
    assert_eq!(m[0].mountpoint, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
    assert!(m[4].super_opts.contains(&"name=systemd".to_string()));
    assert_eq!(m[5].fstype, "cgroup2");
    assert_eq!(m[6].mountpoint, Path::new("/mnt/my cg"));
    assert_eq!(m[3].root, Path::new("/outer"));
}

#[test]
fn v1_relative_path_is_below_own_cgroup() {
    let dirs = v1::resolve(MOUNTINFO, PROC_CGROUP, Path::new("ctr"));
    // net_cls is not mounted: skipped.
    assert_eq!(dirs.len(), 6);
    assert_eq!(
        dir_of(&dirs, "memory").path,
        Path::new("/sys/fs/cgroup/memory/process_api/abc/ctr")
    );
    assert_eq!(
        dir_of(&dirs, "memory").root,
        Path::new("/sys/fs/cgroup/memory")
    );
    assert_eq!(
        dir_of(&dirs, "cpuacct").path,
        Path::new("/sys/fs/cgroup/cpu,cpuacct/a/b/ctr")
    );
    // The mount's root is stripped from the own path.
    assert_eq!(
        dir_of(&dirs, "pids").path,
        Path::new("/sys/fs/cgroup/pids/p/ctr")
    );
    assert_eq!(
        dir_of(&dirs, "name=systemd").path,
        Path::new("/sys/fs/cgroup/systemd/user/ctr")
    );
    assert_eq!(
        dir_of(&dirs, "").path,
        Path::new("/sys/fs/cgroup/unified/u/ctr")
    );
}

#[test]
fn v1_absolute_path_is_below_each_root() {
    let dirs = v1::resolve(MOUNTINFO, PROC_CGROUP, Path::new("/x/y"));
    for d in &dirs {
        assert_eq!(d.path, d.root.join("x/y"), "{d:?}");
        assert!(d.root.starts_with(CGROUP_ROOT));
    }
}

#[test]
fn v2_paths_as_runc() {
    let root = Path::new("/sys/fs/cgroup");
    let pc = "0::/user.slice/session-1.scope\n";
    let rel = v2::resolve(root, pc, Path::new("ctr")).unwrap();
    assert_eq!(rel.path, Path::new("/sys/fs/cgroup/user.slice/ctr"));
    let abs = v2::resolve(root, pc, Path::new("/machine/ctr")).unwrap();
    assert_eq!(abs.path, Path::new("/sys/fs/cgroup/machine/ctr"));
    let top = v2::resolve(root, "0::/\n", Path::new("ctr")).unwrap();
    assert_eq!(top.path, Path::new("/sys/fs/cgroup/ctr"));
    assert!(v2::resolve(root, "1:cpu:/\n", Path::new("ctr")).is_err());
}

fn files(ws: &[Write]) -> Vec<(&str, &str, &str)> {
    ws.iter()
        .map(|w| (w.controller, w.file.as_str(), w.value.as_str()))
        .collect()
}

const ALL: &str = r#"{
    "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728,
               "swappiness": 10, "disableOOMKiller": true, "kernel": 1000},
    "cpu": {"shares": 512, "quota": 50000, "period": 100000,
            "realtimeRuntime": 950, "realtimePeriod": 1000, "cpus": "0-1", "mems": "0"},
    "pids": {"limit": 10},
    "blockIO": {"weight": 500},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}]
}"#;

#[test]
fn v1_files_and_values() {
    let r = resources(ALL);
    let ws = v1::writes(&r, v1::Order::default()).unwrap();
    let got = files(&ws);
    let want = [
        ("cpuset", "cpuset.cpus", "0-1"),
        ("cpuset", "cpuset.mems", "0"),
        ("devices", "devices.deny", "a"),
    ];
    assert_eq!(&got[..3], &want);
    let rest: Vec<_> = got
        .iter()
        .filter(|(c, _, _)| *c != "devices" && *c != "cpuset")
        .copied()
        .collect();
    assert_eq!(
        rest,
        [
            ("memory", "memory.limit_in_bytes", "67108864"),
            ("memory", "memory.memsw.limit_in_bytes", "134217728"),
            ("memory", "memory.kmem.limit_in_bytes", "1000"),
            ("memory", "memory.soft_limit_in_bytes", "33554432"),
            ("memory", "memory.swappiness", "10"),
            ("memory", "memory.oom_control", "1"),
            ("cpu", "cpu.shares", "512"),
            ("cpu", "cpu.cfs_period_us", "100000"),
            ("cpu", "cpu.cfs_quota_us", "50000"),
            ("cpu", "cpu.rt_period_us", "1000"),
            ("cpu", "cpu.rt_runtime_us", "950"),
            ("pids", "pids.max", "10"),
            ("blkio", "blkio.weight", "500"),
            ("hugetlb", "hugetlb.2MB.limit_in_bytes", "2097152"),
            ("hugetlb", "hugetlb.2MB.rsvd.limit_in_bytes", "2097152"),
        ]
    );
    let period = ws.iter().find(|w| w.file == "cpu.cfs_period_us").unwrap();
    assert!(period.retry_later);
    assert_eq!(period.field, "linux.resources.cpu.period");
    let blkio = ws.iter().find(|w| w.controller == "blkio").unwrap();
    assert_eq!(blkio.fallback.as_ref().unwrap().0, "blkio.bfq.weight");
    // Raising the limit: memory+swap first.
    let ws = v1::writes(
        &r,
        v1::Order {
            swap_first: true,
            ..Default::default()
        },
    )
    .unwrap();
    let mem: Vec<_> = ws.iter().filter(|w| w.controller == "memory").collect();
    assert_eq!(mem[0].file, "memory.memsw.limit_in_bytes");
    assert_eq!(mem[1].file, "memory.limit_in_bytes");
}

#[test]
fn v1_unset_values_write_nothing_but_devices() {
    let ws = v1::writes(&LinuxResources::default(), v1::Order::default()).unwrap();
    assert!(ws.iter().all(|w| w.controller == "devices"));
    let r = resources(r#"{"pids": {"limit": 0}, "memory": {}, "cpu": {}}"#);
    let ws = v1::writes(&r, v1::Order::default()).unwrap();
    assert!(ws.iter().all(|w| w.controller == "devices"));
    let r = resources(r#"{"pids": {"limit": -1}}"#);
    let ws = v1::writes(&r, v1::Order::default()).unwrap();
    assert_eq!(ws.last().unwrap().value, "max");
}

#[test]
fn v1_unlimited_memory_unlimits_swap_if_accounted() {
    let r = resources(r#"{"memory": {"limit": -1}}"#);
    let ws = v1::writes(&r, v1::Order::default()).unwrap();
    let mem: Vec<_> = ws.iter().filter(|w| w.controller == "memory").collect();
    assert_eq!(mem.len(), 2);
    assert_eq!(
        (mem[0].file.as_str(), mem[0].value.as_str()),
        ("memory.limit_in_bytes", "-1")
    );
    assert_eq!(mem[1].value, "-1");
    assert!(mem[1].optional);
}

#[test]
fn v1_swappiness_out_of_range() {
    let r = resources(r#"{"memory": {"swappiness": 101}}"#);
    let e = v1::writes(&r, v1::Order::default())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("linux.resources.memory.swappiness: "), "{e}");
}

#[test]
fn v1_device_rules_in_runc_order() {
    let r = resources(
        r#"{"devices": [{"allow": false, "access": "rwm"},
                        {"allow": true, "type": "c", "major": 4, "access": "rw"},
                        {"allow": false, "type": "b", "major": 8, "minor": 0}]}"#,
    );
    let ws = v1::writes(&r, v1::Order::default()).unwrap();
    let got: Vec<(&str, &str)> = ws
        .iter()
        .filter(|w| w.controller == "devices")
        .map(|w| (w.file.as_str(), w.value.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("devices.deny", "a"),
            ("devices.deny", "a"),
            ("devices.allow", "c 4:* rw"),
            ("devices.deny", "b 8:0 rwm"),
            ("devices.allow", "c *:* m"),
            ("devices.allow", "b *:* m"),
            ("devices.allow", "c 1:3 rwm"),
            ("devices.allow", "c 1:8 rwm"),
            ("devices.allow", "c 1:7 rwm"),
            ("devices.allow", "c 5:0 rwm"),
            ("devices.allow", "c 1:5 rwm"),
            ("devices.allow", "c 1:9 rwm"),
            ("devices.allow", "c 136:* rwm"),
            ("devices.allow", "c 5:2 rwm"),
            ("devices.allow", "c 10:200 rwm"),
        ]
    );
}

#[test]
fn v2_conversions_as_runc() {
    assert_eq!(v2::cpu_weight(0), 0);
    assert_eq!(v2::cpu_weight(2), 1);
    assert_eq!(v2::cpu_weight(1024), 39);
    assert_eq!(v2::cpu_weight(512), 20);
    assert_eq!(v2::cpu_weight(262144), 10000);
    assert_eq!(v2::cpu_weight(1), 1);
    assert_eq!(v2::io_weight(10), 1);
    assert_eq!(v2::io_weight(1000), 10000);
    assert_eq!(v2::io_weight(500), 4950);
    assert_eq!(v2::cpu_max(50000, 100000), "50000 100000");
    assert_eq!(v2::cpu_max(-1, 100000), "max 100000");
    assert_eq!(v2::cpu_max(0, 100000), "max 100000");
    assert_eq!(v2::cpu_max(20000, 0), "20000");
    assert_eq!(v2::swap_max(100, 300).unwrap().as_deref(), Some("200"));
    assert_eq!(v2::swap_max(100, 100).unwrap().as_deref(), Some("0"));
    assert_eq!(v2::swap_max(100, -1).unwrap().as_deref(), Some("max"));
    assert_eq!(v2::swap_max(-1, 0).unwrap().as_deref(), Some("max"));
    assert_eq!(v2::swap_max(100, 0).unwrap(), None);
    assert!(v2::swap_max(0, 300).is_err());
    assert!(v2::swap_max(300, 100).is_err());
}

#[test]
fn v2_files_and_values() {
    let mut r = resources(ALL);
    r.cpu_mut().as_mut().unwrap().set_realtime_runtime(None);
    r.cpu_mut().as_mut().unwrap().set_realtime_period(None);
    let ws = v2::writes(&r).unwrap();
    assert_eq!(
        files(&ws),
        [
            ("cpuset", "cpuset.cpus", "0-1"),
            ("cpuset", "cpuset.mems", "0"),
            ("memory", "memory.swap.max", "67108864"),
            ("memory", "memory.max", "67108864"),
            ("memory", "memory.low", "33554432"),
            ("cpu", "cpu.weight", "20"),
            ("cpu", "cpu.max", "50000 100000"),
            ("pids", "pids.max", "10"),
            ("io", "io.bfq.weight", "500"),
            ("hugetlb", "hugetlb.2MB.max", "2097152"),
            ("hugetlb", "hugetlb.2MB.rsvd.max", "2097152"),
        ]
    );
    let io = ws.iter().find(|w| w.controller == "io").unwrap();
    assert_eq!(
        io.fallback.as_ref().unwrap(),
        &("io.weight".to_string(), "4950".to_string())
    );
    let unlimited = resources(r#"{"memory": {"limit": -1}, "pids": {"limit": -1}}"#);
    assert_eq!(
        files(&v2::writes(&unlimited).unwrap()),
        [
            ("memory", "memory.swap.max", "max"),
            ("memory", "memory.max", "max"),
            ("pids", "pids.max", "max"),
        ]
    );
}

#[test]
fn v2_realtime_is_an_error_naming_the_field() {
    let r = resources(r#"{"cpu": {"realtimeRuntime": 950}}"#);
    let e = v2::writes(&r).unwrap_err().to_string();
    assert!(
        e.starts_with("linux.resources.cpu.realtimeRuntime: "),
        "{e}"
    );
    let r = resources(r#"{"memory": {"limit": 100, "swap": 50}}"#);
    let e = v2::writes(&r).unwrap_err().to_string();
    assert!(e.starts_with("linux.resources.memory.swap: "), "{e}");
}

#[test]
fn v2_unset_writes_nothing() {
    assert!(v2::writes(&LinuxResources::default()).unwrap().is_empty());
    let r = resources(r#"{"devices": [{"allow": false, "access": "rwm"}], "cpu": {"shares": 0}}"#);
    assert!(v2::writes(&r).unwrap().is_empty());
}

#[test]
fn errors_name_field_and_file() {
    let e = v1::V1Error::Write {
        field: "linux.resources.memory.limit".into(),
        path: "/sys/fs/cgroup/memory/x/memory.limit_in_bytes".into(),
        source: SysErr(std::io::Error::from_raw_os_error(libc::EINVAL)),
    };
    assert_eq!(
        e.to_string(),
        "linux.resources.memory.limit: writing /sys/fs/cgroup/memory/x/memory.limit_in_bytes: Invalid argument"
    );
}

#[test]
fn state_roundtrip() {
    let cg = Cgroup {
        version: Version::V1,
        dirs: v1::resolve(MOUNTINFO, PROC_CGROUP, Path::new("ctr")),
    };
    let text = serde_json::to_string(&cg).unwrap();
    assert!(text.contains("\"version\":\"v1\""), "{text}");
    assert_eq!(serde_json::from_str::<Cgroup>(&text).unwrap(), cg);
}

#[test]
fn missing_dirs_stop_at_the_root() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    std::fs::create_dir(root.join("a")).unwrap();
    let m = missing_dirs(root, &root.join("a/b/c"));
    assert_eq!(m, [root.join("a/b"), root.join("a/b/c")]);
    let made = make_dirs(&m).unwrap();
    assert_eq!(made, m);
    assert!(missing_dirs(root, &root.join("a/b/c")).is_empty());
}

#[test]
fn v1_update_leaves_device_rules_alone() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("memory.limit_in_bytes"), "").unwrap();
    let dirs = vec![Dir {
        controllers: vec!["memory".into(), "devices".into()],
        root: tmp.path().to_path_buf(),
        path: tmp.path().to_path_buf(),
        created: Vec::new(),
    }];
    let r = resources(r#"{"memory": {"limit": 1048576}}"#);
    // No devices.allow/deny files here: writing them would fail.
    v1::update(&dirs, &r).unwrap();
    let v = std::fs::read_to_string(tmp.path().join("memory.limit_in_bytes")).unwrap();
    assert_eq!(v, "1048576");
    assert!(v1::set(&dirs, &r).is_err(), "set writes the device rules");
}

#[test]
fn v2_kill_all_writes_cgroup_kill_where_it_exists() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = Dir {
        controllers: Vec::new(),
        root: tmp.path().to_path_buf(),
        path: tmp.path().to_path_buf(),
        created: Vec::new(),
    };
    let mut cg = Cgroup {
        version: Version::V2,
        dirs: vec![dir],
    };
    assert!(!cg.kill_all().unwrap(), "no cgroup.kill (kernel < 5.14)");
    std::fs::write(tmp.path().join("cgroup.kill"), "").unwrap();
    assert!(cg.kill_all().unwrap());
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("cgroup.kill")).unwrap(),
        "1"
    );
    cg.version = Version::V1;
    assert!(!cg.kill_all().unwrap(), "v1 has no cgroup.kill");
}

#[test]
fn v2_frozen_follows_cgroup_freeze() {
    let tmp = tempfile::tempdir().unwrap();
    let cg = Cgroup {
        version: Version::V2,
        dirs: vec![Dir {
            controllers: Vec::new(),
            root: tmp.path().to_path_buf(),
            path: tmp.path().to_path_buf(),
            created: Vec::new(),
        }],
    };
    assert!(!cg.frozen());
    std::fs::write(tmp.path().join("cgroup.freeze"), "1\n").unwrap();
    std::fs::write(tmp.path().join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
    assert!(cg.frozen());
    std::fs::write(tmp.path().join("cgroup.freeze"), "0\n").unwrap();
    assert!(!cg.frozen());
}

#[test]
fn a_cgroup_mount_hidden_by_a_later_mount_is_left_out() {
    let mi = "\
30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw
31 30 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
32 30 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
40 32 0:50 / /sys/fs/cgroup/unified rw - tmpfs none rw
";
    let m = super::cgroup_mounts(mi);
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0].fstype, "cgroup");
}

#[test]
fn v1_refuses_device_rules_it_would_ignore_before_writing() {
    let r = resources(
        r#"{"devices": [{"allow": false, "access": "rwm"},
                        {"allow": true, "type": "c", "major": 4, "access": "rw"},
                        {"allow": false, "type": "c", "major": 4, "minor": 5}]}"#,
    );
    // No directories: the refusal comes before any write.
    let e = v1::set(&[], &r).unwrap_err().to_string();
    assert!(
        e.starts_with("linux.resources.devices[2]: rule `c 4:5 rwm` cannot change a part"),
        "{e}"
    );
}

#[test]
fn v1_realtime_runtime_goes_first_when_the_period_drops_below_it() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("cpu.rt_runtime_us"), "100000").unwrap();
    std::fs::write(tmp.path().join("cpu.rt_period_us"), "1000000").unwrap();
    let dirs = vec![Dir {
        controllers: vec!["cpu".into()],
        root: tmp.path().to_path_buf(),
        path: tmp.path().to_path_buf(),
        created: Vec::new(),
    }];
    let files = |order| {
        let r = resources(r#"{"cpu": {"realtimePeriod": 50000, "realtimeRuntime": 40000}}"#);
        v1::writes(&r, order)
            .unwrap()
            .into_iter()
            .filter(|w| w.file.starts_with("cpu.rt"))
            .map(|w| w.file)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        files(v1::Order::default()),
        ["cpu.rt_period_us", "cpu.rt_runtime_us"]
    );
    let first = v1::Order {
        rt_runtime_first: true,
        ..Default::default()
    };
    assert_eq!(files(first), ["cpu.rt_runtime_us", "cpu.rt_period_us"]);
    let alone = resources(r#"{"cpu": {"realtimePeriod": 50000}}"#);
    let e = v1::update(&dirs, &alone).unwrap_err().to_string();
    assert!(
        e.starts_with("linux.resources.cpu.realtimePeriod: 50000 is below the current"),
        "{e}"
    );
    let both = resources(r#"{"cpu": {"realtimePeriod": 50000, "realtimeRuntime": 40000}}"#);
    v1::update(&dirs, &both).unwrap();
}
