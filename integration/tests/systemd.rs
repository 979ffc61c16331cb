//! The systemd cgroup driver (`--systemd-cgroup`): the container is a transient
//! scope that systemd owns, checked from systemd's side (`systemctl show`), from
//! /proc/PID/cgroup and from the cgroup files, on cgroup v2 and v1. These tests
//! need systemd as PID 1: they run in the systemd VM
//! (`hack/vm/test-in-systemd-vm.sh`, a step of `hack/test.sh`), against husk and
//! against runc; elsewhere they say so and return.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use husk_integration::cgroupfs::{self, by_layout, pick, Cgroup, Knob};
use husk_integration::leak::cgroup_dirs_named;
use husk_integration::{
    is_husk, is_runc, poll, procfs, require_root, skip, Bundle, Container, Runtime,
};
use serde_json::json;

const MEMORY: Knob = pick(("memory", "memory.limit_in_bytes"), "memory.max");
const PIDS: Knob = pick(("pids", "pids.max"), "pids.max");

/// Return from the test unless systemd is PID 1 here.
macro_rules! require_systemd {
    () => {
        require_root!();
        if !std::fs::read_to_string("/proc/1/comm").is_ok_and(|c| c.trim() == "systemd") {
            skip!("needs systemd as PID 1: hack/vm/test-in-systemd-vm.sh runs these tests");
        }
    };
}

/// The runtime under test with `--systemd-cgroup` on every command.
fn runtime() -> Runtime {
    Runtime::from_env().with_global_flags(&["--systemd-cgroup"])
}

/// `systemctl show -p P...` of `unit`, as a map.
fn show(unit: &str, props: &[&str]) -> HashMap<String, String> {
    let mut cmd = Command::new("systemctl");
    cmd.arg("show");
    for p in props {
        cmd.arg("-p").arg(p);
    }
    let out = cmd.arg(unit).output().expect("running systemctl");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn prop(unit: &str, name: &str) -> String {
    show(unit, &[name]).remove(name).unwrap_or_default()
}

/// The cgroup path of `pid` in systemd's own hierarchy (v2: the one; v1:
/// name=systemd).
fn systemd_cgroup_of(pid: i32) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let want = by_layout(Some("name=systemd"), None);
    cgroupfs::cgroup_path(&text, want)
        .unwrap_or_default()
        .to_string()
}

/// A container created with `cgroupsPath`, under a fresh id; the id is in the
/// path where `{id}` stands.
fn create_with_path<'a>(rt: &'a Runtime, b: &mut Bundle, path: &str) -> (String, Container<'a>) {
    let id = rt.new_id("sd");
    b.config_mut()["linux"]["cgroupsPath"] = json!(path.replace("{id}", &id));
    rt.create(&id, b).assert_ok();
    (id.clone(), rt.guard(&id))
}

/// No cgroup directory named `name` in any hierarchy, and the unit not loaded.
fn assert_gone(unit: &str) {
    assert!(
        poll::wait_until(poll::PATIENCE, || prop(unit, "LoadState") == "not-found"),
        "{unit} is still loaded: {:?}",
        show(unit, &["LoadState", "ActiveState"])
    );
    assert_eq!(
        cgroup_dirs_named(unit),
        Vec::<PathBuf>::new(),
        "{unit}'s cgroups"
    );
}

#[test]
fn the_container_is_a_delegated_scope_in_its_slice() {
    require_systemd!();
    let rt = runtime();
    let mut b = Bundle::new();
    b.args(&["sleep", "60"]);
    let (id, c) = create_with_path(&rt, &mut b, "system.slice:huskit:{id}");
    let unit = format!("huskit-{id}.scope");
    assert_eq!(systemd_cgroup_of(c.pid()), format!("/system.slice/{unit}"));
    let p = show(
        &unit,
        &[
            "ActiveState",
            "Delegate",
            "Slice",
            "Description",
            "DefaultDependencies",
        ],
    );
    assert_eq!(p["ActiveState"], "active", "{p:?}");
    assert_eq!(p["Delegate"], "yes", "{p:?}");
    assert_eq!(p["Slice"], "system.slice", "{p:?}");
    assert!(p["Description"].contains(&id), "{p:?}");
    if let Some(d) = p.get("DefaultDependencies") {
        assert_eq!(d, "no", "{p:?}");
    }
    if !cgroupfs::is_v2() {
        // Every v1 hierarchy holds the container at the scope's path.
        let text = std::fs::read_to_string(format!("/proc/{}/cgroup", c.pid())).unwrap();
        for controller in ["memory", "pids", "cpu", "devices", "freezer"] {
            let path = cgroupfs::cgroup_path(&text, Some(controller)).unwrap_or_default();
            assert_eq!(
                path,
                format!("/system.slice/{unit}"),
                "{controller}: {text}"
            );
        }
    }
    c.start_ok();
    c.kill("KILL").assert_ok();
    assert!(c.wait_status("stopped"));
    c.delete().assert_ok();
    assert_gone(&unit);
}

#[test]
fn an_empty_cgroups_path_is_a_scope_in_system_slice() {
    require_systemd!();
    let rt = runtime();
    let mut b = Bundle::new();
    b.args(&["sleep", "60"]);
    b.config_mut()["linux"]
        .as_object_mut()
        .unwrap()
        .remove("cgroupsPath");
    let c = rt.container(&b);
    let path = systemd_cgroup_of(c.pid());
    let unit = path.rsplit('/').next().unwrap_or_default().to_string();
    assert!(
        path.starts_with("/system.slice/") && unit.ends_with(&format!("-{}.scope", c.id())),
        "{path}"
    );
    assert_eq!(prop(&unit, "ActiveState"), "active");
    c.delete_force().assert_ok();
    assert_gone(&unit);
}

#[test]
fn a_nested_slice_is_expanded_and_made() {
    require_systemd!();
    let rt = runtime();
    let mut b = Bundle::new();
    b.args(&["sleep", "60"]);
    let n = std::process::id();
    let slice = format!("huskt-k{n}-p{n}.slice");
    let (id, c) = create_with_path(&rt, &mut b, &format!("{slice}:huskit:{{id}}"));
    let unit = format!("huskit-{id}.scope");
    assert_eq!(
        systemd_cgroup_of(c.pid()),
        format!("/huskt.slice/huskt-k{n}.slice/{slice}/{unit}")
    );
    assert_eq!(prop(&slice, "ActiveState"), "active");
    assert_eq!(prop(&unit, "Slice"), slice);
    c.delete_force().assert_ok();
    assert_gone(&unit);
    let _ = Command::new("systemctl")
        .args(["stop", "huskt.slice"])
        .status();
}

#[test]
fn resources_are_unit_properties_and_cgroup_files() {
    require_systemd!();
    let rt = runtime();
    let mut b = Bundle::new();
    b.args(&["sleep", "60"]);
    b.config_mut()["linux"]["resources"] = json!({
        "memory": {"limit": 64u64 << 20},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"},
        "pids": {"limit": 30}
    });
    // One limit systemd has no property for: written to its file all the same.
    if cgroupfs::is_v2() {
        b.config_mut()["linux"]["resources"]["unified"] = json!({"memory.oom.group": "1"});
    } else {
        b.config_mut()["linux"]["resources"]["memory"]["swappiness"] = json!(20);
    }
    let (id, c) = create_with_path(&rt, &mut b, "system.slice:huskit:{id}");
    let unit = format!("huskit-{id}.scope");
    let p = show(
        &unit,
        &[
            "MemoryMax",
            "MemoryLimit",
            "CPUWeight",
            "CPUShares",
            "CPUQuotaPerSecUSec",
            "TasksMax",
            "AllowedCPUs",
        ],
    );
    if cgroupfs::is_v2() {
        assert_eq!(p["MemoryMax"], "67108864", "{p:?}");
        assert_eq!(p["CPUWeight"], "20", "{p:?}");
        assert_eq!(p["AllowedCPUs"], "0", "{p:?}");
    } else {
        assert_eq!(p["MemoryLimit"], "67108864", "{p:?}");
        assert_eq!(p["CPUShares"], "512", "{p:?}");
    }
    assert_eq!(p["CPUQuotaPerSecUSec"], "500ms", "{p:?}");
    assert_eq!(p["TasksMax"], "30", "{p:?}");
    let cg = Cgroup::of(c.pid());
    assert_eq!(cg.read(MEMORY), "67108864");
    assert_eq!(cg.read(PIDS), "30");
    assert_eq!(cg.cpu_max(), "50000 100000");
    if cgroupfs::is_v2() {
        assert_eq!(cg.read(cgroupfs::v2_only("memory.oom.group")), "1");
    } else {
        assert_eq!(
            cg.read(cgroupfs::v1_only("memory", "memory.swappiness")),
            "20"
        );
    }
    c.delete_force().assert_ok();
    assert_gone(&unit);
}

#[test]
fn annotations_set_unit_properties() {
    require_systemd!();
    let rt = runtime();
    let mut b = Bundle::new();
    b.args(&["sleep", "60"]);
    b.config_mut()["annotations"] = json!({
        "org.systemd.property.TimeoutStopUSec": "uint64 123000000",
        "org.systemd.property.CollectMode": "'inactive-or-failed'"
    });
    let (id, c) = create_with_path(&rt, &mut b, "system.slice:huskit:{id}");
    let unit = format!("huskit-{id}.scope");
    let p = show(&unit, &["TimeoutStopUSec", "CollectMode"]);
    assert_eq!(p["TimeoutStopUSec"], "2min 3s", "{p:?}");
    assert_eq!(p["CollectMode"], "inactive-or-failed", "{p:?}");
    c.delete_force().assert_ok();
    assert_gone(&unit);
}

#[test]
fn update_changes_the_properties_and_the_files() {
    require_systemd!();
    let rt = runtime();
    let mut b = Bundle::new();
    b.args(&["sleep", "60"]);
    b.config_mut()["linux"]["resources"] =
        json!({"memory": {"limit": 64u64 << 20}, "pids": {"limit": 30}});
    let (id, c) = create_with_path(&rt, &mut b, "system.slice:huskit:{id}");
    c.start_ok();
    let unit = format!("huskit-{id}.scope");
    rt.cmd(&["update", "--memory", "128m", "--pids-limit", "40", &id])
        .assert_ok();
    let memory_prop = by_layout("MemoryLimit", "MemoryMax");
    assert_eq!(prop(&unit, memory_prop), "134217728");
    assert_eq!(prop(&unit, "TasksMax"), "40");
    let cg = Cgroup::of(c.pid());
    assert_eq!(cg.read(MEMORY), "134217728");
    assert_eq!(cg.read(PIDS), "40");
    c.delete_force().assert_ok();
    assert_gone(&unit);
}

#[test]
fn pause_exec_and_ps_work_in_the_scope() {
    require_systemd!();
    let rt = runtime();
    let mut b = Bundle::new();
    b.args(&["sleep", "60"]);
    let (id, c) = create_with_path(&rt, &mut b, "system.slice:huskit:{id}");
    c.start_ok();
    assert!(procfs::wait_cmdline_contains(c.pid(), "sleep"));
    let unit = format!("huskit-{id}.scope");
    let exec = rt.cmd(&["exec", &id, "cat", "/proc/self/cgroup"]);
    exec.assert_ok();
    let want = format!("/system.slice/{unit}");
    let line = by_layout("name=systemd:", "0::");
    assert!(
        exec.stdout
            .lines()
            .any(|l| l.contains(line) && l.ends_with(&want)),
        "exec joins the scope's cgroup: {exec}"
    );
    rt.cmd(&["pause", &id]).assert_ok();
    assert_eq!(c.status().as_deref(), Some("paused"));
    rt.cmd(&["resume", &id]).assert_ok();
    assert_eq!(c.status().as_deref(), Some("running"));
    let ps = rt.cmd(&["ps", "--format", "json", &id]);
    ps.assert_ok();
    assert!(ps.stdout.contains(&c.pid().to_string()), "{ps}");
    c.delete_force().assert_ok();
    assert_gone(&unit);
}

#[test]
fn a_failed_create_stops_its_scope() {
    require_systemd!();
    let rt = runtime();
    let mut b = Bundle::new();
    b.args(&["/no-such-program"]);
    let id = rt.new_id("sd");
    b.config_mut()["linux"]["cgroupsPath"] = json!(format!("system.slice:huskit:{id}"));
    rt.create(&id, &b).assert_fail();
    assert_gone(&format!("huskit-{id}.scope"));
    rt.state_raw(&id).assert_fail();
}

#[test]
fn an_existing_unit_is_an_error_and_left_alone() {
    require_systemd!();
    let rt = runtime();
    let id = rt.new_id("sd");
    let unit = format!("huskit-{id}.scope");
    let mut holder = Command::new("systemd-run")
        .args([
            "--scope",
            "--quiet",
            "--unit",
            &unit,
            "--slice",
            "system.slice",
            "sleep",
            "300",
        ])
        .spawn()
        .expect("systemd-run");
    assert!(poll::wait_until(poll::PATIENCE, || prop(
        &unit,
        "ActiveState"
    ) == "active"));
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.config_mut()["linux"]["cgroupsPath"] = json!(format!("system.slice:huskit:{id}"));
    let out = rt.create(&id, &b);
    let still = prop(&unit, "ActiveState");
    let _ = holder.kill();
    let _ = holder.wait();
    let _ = Command::new("systemctl").args(["stop", &unit]).status();
    if is_runc() && out.success() {
        let _ = rt.delete_force(&id);
        skip!("runc 1.1.5 joins an existing unit of the same name");
    }
    out.assert_fail();
    if is_husk() {
        assert!(out.stderr.contains("already exists"), "{out}");
    }
    assert_eq!(still, "active", "the existing unit was touched");
    rt.state_raw(&id).assert_fail();
}

#[test]
fn a_malformed_cgroups_path_names_the_field_and_the_form() {
    require_systemd!();
    let rt = runtime();
    let mut b = Bundle::new();
    b.args(&["true"]);
    let id = rt.new_id("sd");
    b.config_mut()["linux"]["cgroupsPath"] = json!("/not/the/systemd/form");
    let out = rt.create(&id, &b);
    out.assert_fail();
    assert!(out.stderr.contains("slice:prefix:name"), "{out}");
    if is_husk() {
        assert!(out.stderr.contains("linux.cgroupsPath"), "{out}");
    }
    rt.state_raw(&id).assert_fail();
}

#[test]
fn features_report_the_systemd_driver() {
    require_systemd!();
    let out = Runtime::from_env().cmd(&["features"]);
    out.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["linux"]["cgroup"]["systemd"], json!(true), "{out}");
}
