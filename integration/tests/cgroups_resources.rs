//! The rest of config-linux.md "Control groups", on both layouts (v1/hybrid and
//! pure v2): device rules tried from inside (allowed and denied devices opened),
//! blockIO weight and throttles, cpu burst and idle, memory kernelTCP / kernel /
//! useHierarchy, hugepageLimits, rdma, unified, network, the same through
//! `update -r FILE`, the checkBeforeUpdate refusal, and the errors for values a
//! host lacks the controller, file or device for, while unset ones stay silent.
//! Values are read back from the host through /proc/<pid>/cgroup (`cgroupfs`).
//!
//! Where a layout has no equivalent, its documented behaviour is checked instead:
//! on v2 kernelTCP, kernel and leafWeight are ignored with a warning and network is
//! an error naming the field (net_cls / net_prio do not exist there); on v1
//! unified is an error.
//!
//! runc 1.1.5 knows no cpu burst, no v1 cpu.idle, no checkBeforeUpdate, ignores
//! kernelTCP, writes no hugetlb rsvd limit and takes no throttles in `update -r`;
//! on v2 it ignores network, drops device weights without BFQ and its device
//! program lets a partly denied request through: those checks print a skip line
//! there.

use std::collections::BTreeMap;
use std::path::PathBuf;

use husk_integration::cgroupfs::{
    self, by_layout, controller_available, new_cgroup_has, pick, v1_only, v2_only, Cgroup, Layout,
};
use husk_integration::exec::Output;
use husk_integration::{is_husk, is_runc, require_root, skip, Bundle, Container, Runtime};
use serde_json::{json, Value};

/// A major number no driver registers (char and block majors have 12 bits; the
/// dynamic ranges end at 511): opening such a node fails with ENXIO once the
/// device cgroup let it through.
const NO_DRIVER: u32 = 4000;

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

/// `create` with `resources` fails; husk names `field` and, if given, `what`
/// (the controller or file). Returns the output for more checks.
fn create_fails(resources: Value, field: &str, what: Option<&str>) -> Output {
    // The bundle outlives the runtime, whose drop deletes a container that was
    // created after all, before the bundle's leak check.
    let mut b = Bundle::new();
    let rt = Runtime::from_env();
    b.config_mut()["linux"]["resources"] = resources;
    b.args(&["true"]);
    let id = rt.new_id("husk-it");
    let out = rt.create(&id, &b);
    out.assert_fail();
    if is_husk() {
        assert!(out.stderr.contains(field), "{field}: {}", out.stderr);
        if let Some(w) = what {
            assert!(out.stderr.contains(w), "{w}: {}", out.stderr);
        }
    }
    out
}

/// `update -r` with `resources` written to a file in the bundle.
fn update_from_file(rt: &Runtime, b: &Bundle, c: &Container, resources: &Value) -> Output {
    let file = b.path().join("resources.json");
    std::fs::write(&file, resources.to_string()).unwrap();
    rt.cmd(&["update", "-r", file.to_str().unwrap(), c.id()])
}

/// Add `cap` to the bounding, effective and permitted sets of `process`.
fn add_capability(b: &mut Bundle, cap: &str) {
    for set in ["bounding", "effective", "permitted"] {
        b.config_mut()["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(json!(cap));
    }
}

/// What opening a device gives: the error text busybox prints, or this.
const OPENED: &str = "opened";
const EPERM: &str = "Operation not permitted";
const ENXIO: &str = "No such device or address";

/// Run a container with the device `rules` (CAP_MKNOD added) that makes the
/// character devices `nodes` (name, major, minor) in its /dev and opens them as
/// `opens` says (name and shell redirection: `<` read, `>` write, `<>` both).
/// Returns "name redirection" -> [`OPENED`] or the error text of each open.
fn open_devices(
    rules: Value,
    nodes: &[(&str, u32, u32)],
    opens: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    add_capability(&mut b, "CAP_MKNOD");
    b.config_mut()["linux"]["resources"]["devices"] = rules;
    let mut script = String::new();
    for (name, major, minor) in nodes {
        script += &format!("mknod /dev/t-{name} c {major} {minor} || echo mknod-failed; ");
    }
    for (name, redirect) in opens {
        script += &format!(
            "if err=$( (: {redirect} /dev/t-{name}) 2>&1 ); then echo '{name} {redirect}: {OPENED}'; \
             else echo \"{name} {redirect}: $err\"; fi; "
        );
    }
    b.sh(&script);
    let out = rt.run_bundle(&b);
    assert!(
        !out.stdout.contains("mknod-failed"),
        "mknod refused:\n{out}"
    );
    let outcomes: BTreeMap<String, String> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(open, outcome)| (open.to_string(), outcome.to_string()))
        .collect();
    assert_eq!(outcomes.len(), opens.len(), "{out}");
    outcomes
}

/// Each expected (name, redirection, outcome) is in `got` (the outcome as a
/// part of the error text).
fn assert_outcomes(got: &BTreeMap<String, String>, want: &[(&str, &str, &str)]) {
    for (name, redirect, outcome) in want {
        let key = format!("{name} {redirect}");
        let text = got.get(&key).map(String::as_str).unwrap_or("(not tried)");
        assert!(
            text.contains(outcome),
            "{key}: {text}, want {outcome}\n{got:?}"
        );
    }
}

/// The device cgroup decides, tried from inside: v1 writes the rules to
/// devices.deny/devices.allow, v2 compiles them into an eBPF program; the same
/// test runs on both. The nodes are made with mknod (runtimes allow mknod of every
/// device, `c *:* m` and `b *:* m`, after the user's rules; CAP_MKNOD is added) on
/// the container's /dev tmpfs, which is not `nodev`. Opening a device no rule
/// allows fails with EPERM. The device allowed by an explicit rule gets past the
/// cgroup; its major has no driver, so its open fails with ENXIO, from the driver
/// lookup that only runs after the cgroup's check. /dev/kmsg, allowed for
/// writing by an explicit rule, opens write-only (that needs no capability);
/// /dev/null, a default rule, opens too.
#[test]
fn devices_outside_the_rules_cannot_be_opened() {
    require_root!();
    let devkmsg = std::fs::read_to_string("/proc/sys/kernel/printk_devkmsg").unwrap_or_default();
    let got = open_devices(
        json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": NO_DRIVER, "minor": 1, "access": "rw"},
            {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"},
        ]),
        &[
            ("null", 1, 3),
            ("kmsg", 1, 11),
            ("allowed", NO_DRIVER, 1),
            ("denied", NO_DRIVER, 2),
        ],
        &[
            ("null", ">"),
            ("kmsg", ">"),
            ("allowed", ">"),
            ("denied", ">"),
        ],
    );
    assert_outcomes(
        &got,
        &[
            ("null", ">", OPENED),
            ("allowed", ">", ENXIO),
            ("denied", ">", EPERM),
        ],
    );
    if devkmsg.trim() == "off" {
        eprintln!("skip (part): printk_devkmsg is off, /dev/kmsg opens for nobody");
    } else {
        assert_outcomes(&got, &[("kmsg", ">", OPENED)]);
    }
}

/// A node listed in `linux.devices` is created, not allowed by itself: with a
/// deny-all rule and /dev/kmsg (c 1:11) in `linux.devices`, neither the init nor
/// an exec'd process may write it (runc: EPERM), on v1 and with the v2 program.
/// The node itself is there.
#[test]
fn a_node_in_linux_devices_is_created_but_not_allowed_by_itself() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let out = b.host_dir("/out");
    b.config_mut()["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}]);
    b.config_mut()["linux"]["devices"] =
        json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]);
    let probe = "if err=$( (: > /dev/kmsg) 2>&1 ); then echo opened; else echo \"$err\"; fi";
    b.sh(&format!(
        "ls -l /dev/kmsg > /out/node; {probe} > /out/init; touch /out/ready; sleep 60"
    ));
    let c = rt.container(&b);
    c.start_ok();
    assert!(husk_integration::poll::wait_until(
        husk_integration::poll::PATIENCE,
        || out.join("ready").exists()
    ));
    let node = std::fs::read_to_string(out.join("node")).unwrap();
    assert!(node.starts_with('c') && node.contains("1,  11"), "{node}");
    let init = std::fs::read_to_string(out.join("init")).unwrap();
    assert!(init.contains(EPERM), "init wrote /dev/kmsg: {init}");
    let exec = rt.cmd(&["exec", c.id(), "sh", "-c", probe]);
    exec.assert_ok();
    assert!(exec.stdout.contains(EPERM), "exec wrote /dev/kmsg: {exec}");
}

/// An access letter other than r, w and m is ignored, as runc ignores it: `rwa`
/// allows reading and writing (not mknod); the create does not fail.
#[test]
fn unknown_access_letters_are_ignored() {
    require_root!();
    let got = open_devices(
        json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": NO_DRIVER, "minor": 1, "access": "rwa"},
        ]),
        &[("rwa", NO_DRIVER, 1), ("other", NO_DRIVER, 2)],
        &[("rwa", "<>"), ("other", "<")],
    );
    assert_outcomes(&got, &[("rwa", "<>", ENXIO), ("other", "<", EPERM)]);
}

/// The rules apply in order with the v1 device controller's meaning, which the
/// v2 program must have too: on a deny-all default an allow rule adds an
/// exception (merged into one for the same devices), a deny rule takes access
/// away from the exception for exactly the same devices only, so a wildcard deny
/// keeps an earlier specific allow; a request passes if one exception grants all
/// of its access.
#[test]
fn device_rules_apply_in_order_as_on_cgroup_v1() {
    require_root!();
    let (ro, partly, kept) = (NO_DRIVER, NO_DRIVER + 1, NO_DRIVER + 2);
    let got = open_devices(
        json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": ro, "minor": 1, "access": "r"},
            {"allow": true, "type": "c", "major": partly, "access": "rw"},
            {"allow": false, "type": "c", "major": partly, "access": "w"},
            {"allow": true, "type": "c", "major": kept, "minor": 7, "access": "rw"},
            {"allow": false, "type": "c", "major": kept, "access": "rw"},
        ]),
        &[
            ("ro", ro, 1),
            ("partly", partly, 1),
            ("kept", kept, 7),
            ("other", kept, 8),
        ],
        &[
            ("ro", "<"),
            ("ro", ">"),
            ("ro", "<>"),
            ("partly", "<"),
            ("partly", ">"),
            ("kept", "<>"),
            ("other", "<"),
        ],
    );
    assert_outcomes(
        &got,
        &[
            ("ro", "<", ENXIO),
            ("ro", ">", EPERM),
            ("ro", "<>", EPERM),
            ("partly", "<", ENXIO),
            ("partly", ">", EPERM),
            ("kept", "<>", ENXIO),
            ("other", "<", EPERM),
        ],
    );
}

/// After `allow a` (everything allowed, privileged style) deny rules are the
/// exceptions, and a request is refused if any of its access is denied (v1
/// blocks a partial match): read-write of a device denied for writing fails.
#[test]
fn device_deny_rules_on_an_allow_all_default_block_any_denied_access() {
    require_root!();
    let got = open_devices(
        json!([
            {"allow": true, "access": "rwm"},
            {"allow": false, "type": "c", "major": NO_DRIVER, "minor": 1, "access": "w"},
        ]),
        &[("nowrite", NO_DRIVER, 1), ("free", NO_DRIVER, 2)],
        &[
            ("nowrite", "<"),
            ("nowrite", ">"),
            ("nowrite", "<>"),
            ("free", "<>"),
        ],
    );
    assert_outcomes(
        &got,
        &[
            ("nowrite", "<", ENXIO),
            ("nowrite", ">", EPERM),
            ("free", "<>", ENXIO),
        ],
    );
    if is_runc() && cgroupfs::is_v2() {
        skip!("runc 1.1.5's v2 device program lets a read-write open through a deny of writing (v1 blocks it)");
    }
    assert_outcomes(&got, &[("nowrite", "<>", EPERM)]);
}

/// v1 cannot take part of a wider exception away (devices.deny of c 4:5 leaves
/// an allowed c 4:* as it is, silently): runtimes refuse such a rule on both
/// layouts (runc: "cannot punch hole in existing wildcard rule") rather than
/// enforce it on one layout only.
#[test]
fn a_deny_rule_inside_an_allowed_wildcard_is_refused() {
    require_root!();
    create_fails(
        json!({"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": NO_DRIVER, "access": "rw"},
            {"allow": false, "type": "c", "major": NO_DRIVER, "minor": 5, "access": "w"},
        ]}),
        "linux.resources.devices[2]",
        Some(&format!("c {NO_DRIVER}:*")),
    );
}

#[test]
fn blkio_weight() {
    require_root!();
    let bfq = pick(("blkio", "blkio.bfq.weight"), "io.bfq.weight");
    let plain = pick(("blkio", "blkio.weight"), "io.weight");
    if !new_cgroup_has(bfq) && !new_cgroup_has(plain) {
        skip!(
            "a new cgroup has neither {} nor {}",
            bfq.file(),
            plain.file()
        );
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = created(&rt, &mut b, json!({"blockIO": {"weight": 500}}));
    let cg = Cgroup::of(c.pid());
    // BFQ takes the weight as is; v2 io.weight is runc's conversion of it,
    // 1 + (500 - 10) * 9999 / 990 = 4950. The v2 files have a `default` line.
    let (knob, want) = if cg.has(bfq) {
        (bfq, by_layout("500", "default 500"))
    } else {
        (plain, by_layout("500", "default 4950"))
    };
    assert_eq!(cg.read(knob), want, "{}", knob.file());
}

#[test]
fn blkio_throttles_on_the_root_disk() {
    require_root!();
    let Some((ma, mi)) = root_disk() else {
        skip!("/ is not on a block device");
    };
    let read_bps = pick(("blkio", "blkio.throttle.read_bps_device"), "io.max");
    if !new_cgroup_has(read_bps) {
        skip!("no block throttling on this host");
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
    let cg = Cgroup::of(c.pid());
    match cgroupfs::layout() {
        Layout::V1 => {
            for (file, want) in [
                ("read_bps_device", 1048576),
                ("write_bps_device", 2097152),
                ("read_iops_device", 300),
                ("write_iops_device", 200),
            ] {
                let name = format!("blkio.throttle.{file}");
                let knob = v1_only("blkio", &name);
                assert_eq!(cg.read(knob), format!("{ma}:{mi} {want}"), "{file}");
            }
        }
        Layout::V2 => assert_eq!(
            cg.read(v2_only("io.max")),
            format!("{ma}:{mi} rbps=1048576 wbps=2097152 riops=300 wiops=200")
        ),
    }
}

#[test]
fn a_throttle_on_a_device_that_does_not_exist_is_an_error_naming_the_field() {
    require_root!();
    let file = pick(("blkio", "blkio.throttle.read_bps_device"), "io.max");
    if !new_cgroup_has(file) {
        skip!("no block throttling on this host");
    }
    let dev = json!([{"major": NO_DRIVER, "minor": 0, "rate": 1048576}]);
    create_fails(
        json!({"blockIO": {"throttleReadBpsDevice": dev}}),
        "linux.resources.blockIO.throttleReadBpsDevice[0]",
        Some(file.file()),
    );
}

#[test]
fn memory_kernel_tcp_kernel_and_use_hierarchy() {
    require_root!();
    let tcp = v1_only("memory", "memory.kmem.tcp.limit_in_bytes");
    if !cgroupfs::is_v2() && !new_cgroup_has(tcp) {
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
    let cg = Cgroup::of(c.pid());
    if cgroupfs::is_v2() {
        // No v2 equivalent (v2 is always hierarchical): ignored, with a warning
        // for the two limits.
        if is_husk() {
            let warnings = c.stderr();
            for field in [
                "linux.resources.memory.kernelTCP",
                "linux.resources.memory.kernel:",
            ] {
                assert!(warnings.contains(field), "{field}: {warnings}");
            }
        }
        assert_eq!(cg.read(v2_only("memory.max")), "max");
        return;
    }
    assert_eq!(cg.read(v1_only("memory", "memory.use_hierarchy")), "1");
    if is_runc() {
        skip!("runc 1.1.5 ignores kernelTCP (memory.kmem.tcp.limit_in_bytes stays unlimited)");
    }
    assert_eq!(cg.read(tcp), "8388608");
}

#[test]
fn cpu_burst_and_idle() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no cpu burst and does not write cpu.idle on cgroup v1");
    }
    let burst = pick(("cpu", "cpu.cfs_burst_us"), "cpu.max.burst");
    let idle = pick(("cpu", "cpu.idle"), "cpu.idle");
    if !new_cgroup_has(burst) || !new_cgroup_has(idle) {
        skip!("no {} / cpu.idle on this host", burst.file());
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
    let cg = Cgroup::of(c.pid());
    assert_eq!(cg.cpu_max(), "50000 100000");
    assert_eq!(cg.read(burst), "20000");
    assert_eq!(cg.read(idle), "1");
}

#[test]
fn hugepage_limits() {
    require_root!();
    if !std::path::Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists() {
        skip!("no 2MB huge pages on this host");
    }
    let resources = json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]});
    if !controller_available("hugetlb") {
        // This hybrid host: hugetlb is only in the cgroup2 hierarchy.
        create_fails(
            resources,
            "linux.resources.hugepageLimits[0]",
            Some("hugetlb"),
        );
        return;
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = created(&rt, &mut b, resources);
    let cg = Cgroup::of(c.pid());
    let max = pick(("hugetlb", "hugetlb.2MB.limit_in_bytes"), "hugetlb.2MB.max");
    assert_eq!(cg.read(max), "4194304");
    let rsvd = pick(
        ("hugetlb", "hugetlb.2MB.rsvd.limit_in_bytes"),
        "hugetlb.2MB.rsvd.max",
    );
    if !cg.has(rsvd) {
        skip!("no {} on this kernel", rsvd.file());
    }
    if is_runc() {
        skip!("runc 1.1.5 does not write the hugetlb rsvd limit");
    }
    assert_eq!(cg.read(rsvd), "4194304");
}

#[test]
fn update_from_a_file_takes_the_new_resources() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = created(&rt, &mut b, json!({"memory": {"limit": 64u64 << 20}}));
    c.start_ok();
    let cg = Cgroup::of(c.pid());
    let disk = root_disk();
    let tcp = v1_only("memory", "memory.kmem.tcp.limit_in_bytes");
    let with_tcp = !cgroupfs::is_v2() && cg.has(tcp);
    let mut r = json!({"memory": {"limit": 96u64 << 20}});
    let husk_only = !is_runc();
    if husk_only {
        if with_tcp {
            r["memory"]["kernelTCP"] = json!(4194304);
        }
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
    update_from_file(&rt, &b, &c, &r).assert_ok();
    let limit = pick(("memory", "memory.limit_in_bytes"), "memory.max");
    assert_eq!(cg.read(limit), "100663296");
    if !husk_only {
        return;
    }
    if with_tcp {
        assert_eq!(cg.read(tcp), "4194304");
    }
    assert_eq!(
        cg.read(pick(("cpu", "cpu.cfs_burst_us"), "cpu.max.burst")),
        "10000"
    );
    assert_eq!(cg.cpu_max(), "40000 100000");
    if let Some((ma, mi)) = disk {
        let throttle = pick(("blkio", "blkio.throttle.read_bps_device"), "io.max");
        let want = by_layout(
            format!("{ma}:{mi} 4096"),
            format!("{ma}:{mi} rbps=4096 wbps=max riops=max wiops=max"),
        );
        assert_eq!(cg.read(throttle), want);
    }
}

#[test]
fn check_before_update_refuses_a_limit_below_usage() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no checkBeforeUpdate (and runc checks on cgroup v2 only)");
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = created(&rt, &mut b, json!({"memory": {"limit": 64u64 << 20}}));
    c.start_ok();
    let cg = Cgroup::of(c.pid());
    let usage = pick(("memory", "memory.usage_in_bytes"), "memory.current");
    let limit = pick(("memory", "memory.limit_in_bytes"), "memory.max");
    let used: u64 = cg.read(usage).parse().unwrap();
    if used < 8192 {
        skip!("{} is only {used}", usage.file());
    }
    let below = json!({"memory": {"limit": 4096, "checkBeforeUpdate": true}});
    let out = update_from_file(&rt, &b, &c, &below);
    out.assert_fail();
    assert!(
        out.stderr
            .contains("linux.resources.memory.checkBeforeUpdate")
            && out.stderr.contains(usage.file()),
        "{}",
        out.stderr
    );
    assert_eq!(cg.read(limit), "67108864");
    let above = json!({"memory": {"limit": 96u64 << 20, "checkBeforeUpdate": true}});
    update_from_file(&rt, &b, &c, &above).assert_ok();
    assert_eq!(cg.read(limit), "100663296");
}

/// net_cls / net_prio where the host mounts them; elsewhere (not mounted here,
/// and never on v2, which has neither) a value is an error naming the field.
#[test]
fn network_where_mounted_else_an_error_naming_the_field() {
    require_root!();
    if is_runc() && cgroupfs::is_v2() {
        skip!("runc 1.1.5 ignores linux.resources.network on cgroup v2 (no error)");
    }
    if controller_available("net_cls") {
        let rt = Runtime::from_env();
        let mut b = Bundle::new();
        let c = created(&rt, &mut b, json!({"network": {"classID": 1048577}}));
        let classid = v1_only("net_cls", "net_cls.classid");
        assert_eq!(Cgroup::of(c.pid()).read(classid), "1048577");
    } else {
        create_fails(
            json!({"network": {"classID": 1048577}}),
            "linux.resources.network.classID",
            Some("net_cls"),
        );
    }
    if !controller_available("net_prio") {
        create_fails(
            json!({"network": {"priorities": [{"name": "lo", "priority": 5}]}}),
            "linux.resources.network.priorities",
            Some("net_prio"),
        );
    }
}

/// rdma.max takes limits for RDMA devices the kernel knows; without the rdma
/// controller, or for a device that does not exist (ENODEV), a value is an error
/// naming the field.
#[test]
fn rdma_limits_for_a_missing_device_or_controller_fail_naming_the_field() {
    require_root!();
    let device = "husk_it_no_hca";
    let resources = json!({"rdma": {device: {"hcaHandles": 3}}});
    let field = format!(r#"linux.resources.rdma["{device}"]"#);
    if !controller_available("rdma") {
        create_fails(resources, &field, Some("rdma"));
        return;
    }
    let out = create_fails(resources, &field, Some("rdma.max"));
    if is_husk() {
        assert!(out.stderr.contains("No such device"), "{}", out.stderr);
    }
}

/// unified: on v2 each key is a file of the container's cgroup, written last
/// (over the value of a spec field) and read back; a key that is no file is an
/// error naming the field. On v1 any unified value is an error, as in runc.
#[test]
fn unified_files_on_v2_and_an_error_on_v1() {
    require_root!();
    if !cgroupfs::is_v2() {
        let out = create_fails(
            json!({"unified": {"pids.max": "10"}}),
            "linux.resources.unified",
            None,
        );
        // runc's words, for tools that match them.
        assert!(
            out.stderr.contains("invalid configuration"),
            "{}",
            out.stderr
        );
        return;
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = created(
        &rt,
        &mut b,
        json!({"pids": {"limit": 10}, "unified": {"pids.max": "42", "memory.high": "67108864"}}),
    );
    let cg = Cgroup::of(c.pid());
    assert_eq!(cg.read(v2_only("pids.max")), "42");
    assert_eq!(cg.read(v2_only("memory.high")), "67108864");
    create_fails(
        json!({"unified": {"husk.no_such_file": "1"}}),
        r#"linux.resources.unified["husk.no_such_file"]"#,
        None,
    );
}

/// A device weight for a device that does not exist: the kernel refuses it
/// (ENODEV), as v1 does without a weight_device file.
#[test]
fn a_device_weight_for_a_device_that_does_not_exist_is_an_error_naming_the_field() {
    require_root!();
    if is_runc() && cgroupfs::is_v2() {
        skip!("runc 1.1.5 drops per-device weights on cgroup v2 without BFQ (no error)");
    }
    let out = create_fails(
        json!({"blockIO": {"weightDevice": [{"major": NO_DRIVER, "minor": 0, "weight": 500}]}}),
        "linux.resources.blockIO.weightDevice[0].weight",
        None,
    );
    if is_husk() {
        let files = by_layout(
            &["blkio.weight_device", "blkio.bfq.weight_device"],
            &["io.weight", "io.bfq.weight"],
        );
        assert!(
            files.iter().any(|f| out.stderr.contains(f)),
            "{files:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn missing_controllers_and_files_fail_only_when_set() {
    require_root!();
    // leafWeight: v1 needs blkio.leaf_weight (gone with CFQ); v2 has no
    // equivalent and ignores it with a warning.
    let leaf = json!({"blockIO": {"leafWeight": 300}});
    match cgroupfs::layout() {
        Layout::V1 if !new_cgroup_has(v1_only("blkio", "blkio.leaf_weight")) => {
            create_fails(
                leaf,
                "linux.resources.blockIO.leafWeight",
                Some("blkio.leaf_weight"),
            );
        }
        Layout::V1 => {}
        Layout::V2 => {
            let rt = Runtime::from_env();
            let mut b = Bundle::new();
            let c = created(&rt, &mut b, leaf);
            if is_husk() {
                let warnings = c.stderr();
                assert!(
                    warnings.contains("linux.resources.blockIO.leafWeight"),
                    "{warnings}"
                );
            }
        }
    }
    // Nothing set: silent.
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = created(
        &rt,
        &mut b,
        json!({"network": {}, "rdma": {}, "unified": {}, "blockIO": {"weightDevice": []}}),
    );
    c.start_ok();
    if is_husk() {
        let stderr = c.stderr();
        assert!(!stderr.contains("linux.resources"), "{stderr}");
    }
}
