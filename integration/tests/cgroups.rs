//! `linux.resources` and `linux.cgroupsPath` with the cgroupfs driver: limits are
//! observed in the container's cgroup from the host (found through
//! /proc/<pid>/cgroup) and from inside through the default cgroup mount; the
//! cgroup directories go away after delete and after a failed create; `kill --all`
//! reaches every process of a container without a pid namespace.
//!
//! Every test runs on both layouts (v1/hybrid and pure v2) and reads the file of
//! each: `cgroupfs::pick(("memory", "memory.limit_in_bytes"), "memory.max")`.

use std::path::PathBuf;

use husk_integration::cgroupfs::{self, by_layout, hierarchy_root, pick, Cgroup};
use husk_integration::leak::{bundle_processes, cgroup_dirs_named};
use husk_integration::{
    is_husk, is_runc, poll, procfs, require_root, skip, Bundle, Container, Runtime,
};
use serde_json::json;

/// Create (not start) a container from `b` with a fresh id chosen here.
fn created<'a>(rt: &'a Runtime, b: &Bundle, id: &str) -> Container<'a> {
    rt.create(id, b).assert_ok();
    rt.guard(id)
}

#[test]
fn memory_limit_visible_from_host_and_inside() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    // v1: memory+swap; v2: swap alone, memory.swap.max = swap - limit.
    let swap = pick(("memory", "memory.memsw.limit_in_bytes"), "memory.swap.max");
    let with_swap = cgroupfs::new_cgroup_has(swap);
    let mut memory = json!({"limit": 67108864, "reservation": 16777216});
    if with_swap {
        memory["swap"] = json!(100663296);
    }
    b.config_mut()["linux"]["resources"] = json!({ "memory": memory });
    let inside = by_layout(
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "/sys/fs/cgroup/memory.max",
    );
    b.sh(&format!("cat {inside}; exec sleep 30"));
    let c = rt.container(&b);
    let cg = Cgroup::of(c.pid());
    let dir = cg.dir("memory");
    assert_eq!(dir.file_name().unwrap(), c.id(), "{}", dir.display());
    let limit = pick(("memory", "memory.limit_in_bytes"), "memory.max");
    assert_eq!(cg.read(limit), "67108864");
    let reservation = pick(("memory", "memory.soft_limit_in_bytes"), "memory.low");
    assert_eq!(cg.read(reservation), "16777216");
    if with_swap {
        assert_eq!(cg.read(swap), by_layout("100663296", "33554432"));
    }
    c.start_ok();
    if is_runc() && cgroupfs::is_v2() {
        skip!("runc 1.1.5 mounts the host's whole cgroup2 hierarchy at /sys/fs/cgroup without a cgroup namespace");
    }
    assert!(
        c.wait_stdout_contains("67108864"),
        "inside: {:?}",
        c.stdout()
    );
}

#[test]
fn cpu_quota_period_shares() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.config_mut()["linux"]["resources"] =
        json!({"cpu": {"shares": 512, "quota": 20000, "period": 50000}});
    b.args(&["sleep", "30"]);
    let id = rt.new_id("husk-it");
    let c = created(&rt, &b, &id);
    let cg = Cgroup::of(c.pid());
    // runc's shares -> weight: 1 + (512 - 2) * 9999 / 262142 = 20.
    let weight = pick(("cpu", "cpu.shares"), "cpu.weight");
    assert_eq!(cg.read(weight), by_layout("512", "20"));
    assert_eq!(cg.cpu_max(), "20000 50000");
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.config_mut()["linux"]["resources"] = json!({"pids": {"limit": 10}});
    // The inner shell dies when a fork fails; the outer one reads pids.current
    // with a builtin (no fork left) and reports. With a cgroup namespace the
    // container's cgroup is the root of its cgroup mount with any runtime:
    // /sys/fs/cgroup/pids (v1) or /sys/fs/cgroup (v2).
    b.add_namespace("cgroup");
    let pids = by_layout("/sys/fs/cgroup/pids", "/sys/fs/cgroup");
    b.sh(&format!(
        "sh -c 'i=0; while [ $i -lt 20 ]; do sleep 100 & i=$((i+1)); done; echo all-started'; \
         read n < {pids}/pids.current; echo current=$n; \
         read m < {pids}/pids.max; echo max=$m"
    ));
    let out = rt.run_bundle(&b);
    assert!(
        out.stdout.contains("max=10"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(
        !out.stdout.contains("all-started"),
        "20 background processes started under pids.max 10:\n{}",
        out.stdout
    );
    let current: u32 = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("current="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!((1..=10).contains(&current), "{}", out.stdout);
}

#[test]
fn absolute_cgroups_path_and_removal_after_delete() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let id = rt.new_id("husk-it");
    let parent = format!("husk-it-parent-{}-{id}", std::process::id());
    b.config_mut()["linux"]["cgroupsPath"] = json!(format!("/{parent}/{id}"));
    b.args(&["sleep", "30"]);
    let c = created(&rt, &b, &id);
    let cg = Cgroup::of(c.pid());
    // On v2 one directory holds them all.
    for controller in ["memory", "cpu", "pids", "devices"] {
        let dir = cg.dir(controller);
        let want = hierarchy_root(controller).join(&parent).join(&id);
        assert_eq!(dir, want, "{controller}");
        assert!(dir.is_dir());
    }
    c.start_ok();
    c.kill("KILL").assert_ok();
    assert!(c.wait_status("stopped"));
    c.delete().assert_ok();
    assert_eq!(cgroup_dirs_named(&id), Vec::<PathBuf>::new());
    let parents = cgroup_dirs_named(&parent);
    // runc leaves the parent it made; husk removes what it made.
    for p in &parents {
        let _ = std::fs::remove_dir(p);
    }
    if is_husk() {
        assert_eq!(
            parents,
            Vec::<PathBuf>::new(),
            "husk removes the parent it made"
        );
    }
}

#[test]
fn failed_create_leaves_no_cgroup() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.config_mut()["linux"]["resources"] = json!({"cpu": {"cpus": "999"}});
    b.args(&["true"]);
    let id = rt.new_id("husk-it");
    let out = rt.create(&id, &b);
    out.assert_fail();
    if is_husk() {
        assert!(
            out.stderr.contains("linux.resources.cpu.cpus") && out.stderr.contains("cpuset.cpus"),
            "{}",
            out.stderr
        );
    }
    assert_eq!(cgroup_dirs_named(&id), Vec::<PathBuf>::new());
}

#[test]
fn kill_all_without_pid_namespace_reaches_every_process() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.remove_namespace("pid");
    let out = b.host_dir("/out");
    // An orphan (re-parented away from the container's init) and a child.
    b.sh("(sleep 1002 &); sleep 1001 & touch /out/ready; exec sleep 1000");
    let id = rt.new_id("husk-it");
    let c = created(&rt, &b, &id);
    c.start_ok();
    let ids = [id.clone()];
    let mut pids = Vec::new();
    assert!(
        poll::wait_until(poll::PATIENCE, || {
            pids = bundle_processes(b.path(), b.marker(), &ids);
            out.join("ready").exists() && pids.len() >= 3
        }),
        "three container processes: {pids:?}"
    );
    rt.cmd(&["kill", "--all", &id, "KILL"]).assert_ok();
    for pid in &pids {
        assert!(
            poll::wait_until(poll::PATIENCE, || !procfs::alive(*pid, None)),
            "process {pid} survived kill --all"
        );
    }
    assert!(c.wait_status("stopped"));
    c.delete().assert_ok();
    assert_eq!(cgroup_dirs_named(&id), Vec::<PathBuf>::new());
}

#[test]
fn delete_kills_leftovers_of_a_container_without_pid_namespace() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.remove_namespace("pid");
    b.sh("sleep 1003 & exit 0");
    let id = rt.new_id("husk-it");
    let c = created(&rt, &b, &id);
    c.start_ok();
    assert!(c.wait_status("stopped"));
    let ids = [id.clone()];
    let left = bundle_processes(b.path(), b.marker(), &ids);
    assert!(!left.is_empty(), "the background sleep outlives init");
    c.delete().assert_ok();
    for pid in &left {
        assert!(
            poll::wait_until(poll::PATIENCE, || !procfs::alive(*pid, None)),
            "process {pid} survived delete"
        );
    }
    assert_eq!(cgroup_dirs_named(&id), Vec::<PathBuf>::new());
}

#[test]
fn cgroup_namespace_sees_its_cgroup_as_root() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.add_namespace("cgroup");
    b.sh("cat /proc/self/cgroup");
    let out = rt.run_ok(&b);
    let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    assert!(!lines.is_empty());
    for l in lines {
        assert!(l.ends_with(":/"), "{l} (all of it: {out})");
    }
}

/// runc's cgroupfs driver places a relative cgroupsPath (the id by default) below
/// the caller's own cgroup on v1, below its parent on v2 (the caller's cgroup
/// holds processes: no controller could be enabled below it).
#[test]
fn default_placement_is_below_own_cgroup_named_after_the_id() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["sleep", "30"]);
    let id = rt.new_id("husk-it");
    let c = created(&rt, &b, &id);
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let theirs = std::fs::read_to_string(format!("/proc/{}/cgroup", c.pid())).unwrap();
    for (mine, their) in own.lines().zip(theirs.lines()) {
        let (m, t) = (
            mine.rsplit_once(':').unwrap(),
            their.rsplit_once(':').unwrap(),
        );
        assert_eq!(m.0, t.0);
        let base = by_layout(m.1, m.1.rsplit_once('/').map_or("", |(parent, _)| parent));
        let want = format!("{}/{id}", base.trim_end_matches('/'));

        assert_eq!(t.1, want, "{their}");
    }
}

/// A cgroup made (and frozen) by the test, removed on drop after its processes
/// are gone; the directory of the freezer (v1) or the one directory (v2).
struct ForeignCgroup {
    dir: PathBuf,
}

impl ForeignCgroup {
    fn new(controller: &str, name: &str) -> ForeignCgroup {
        let dir = hierarchy_root(controller).join(name);
        std::fs::create_dir(&dir).unwrap();
        ForeignCgroup { dir }
    }

    fn freeze(&self) {
        let (file, value) = by_layout(("freezer.state", "FROZEN"), ("cgroup.freeze", "1"));
        std::fs::write(self.dir.join(file), value).unwrap();
    }

    fn thaw(&self) {
        let (file, value) = by_layout(("freezer.state", "THAWED"), ("cgroup.freeze", "0"));
        let _ = std::fs::write(self.dir.join(file), value);
    }
}

impl Drop for ForeignCgroup {
    fn drop(&mut self) {
        self.thaw();
        poll::wait_until(poll::PATIENCE, || {
            std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists()
        });
    }
}

/// Creating a container in a frozen cgroup would stop its init halfway through
/// (on v1 beyond even SIGKILL): it is refused before the init is placed, with
/// runc's words, and nothing is left; the frozen cgroup stays as it was.
#[test]
fn create_in_a_frozen_cgroup_is_refused() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let id = rt.new_id("husk-it-frozen");
    let frozen = ForeignCgroup::new(by_layout("freezer", ""), &id);
    frozen.freeze();
    b.config_mut()["linux"]["cgroupsPath"] = json!(format!("/{id}"));
    b.args(&["true"]);
    let out = rt.create(&id, &b);
    out.assert_fail();
    assert!(
        out.stderr
            .contains("container's cgroup unexpectedly frozen"),
        "{}",
        out.stderr
    );
    assert!(frozen.dir.is_dir(), "the frozen cgroup was removed");
    let procs = std::fs::read_to_string(frozen.dir.join("cgroup.procs")).unwrap();
    assert_eq!(procs.trim(), "", "a process was left in the frozen cgroup");
    let state = rt.state_raw(&id);
    assert!(!state.success(), "state of the failed create: {state}");
}

/// A cgroup that already holds a process is joined (runc allows it) with a
/// warning that says so.
#[test]
fn create_in_a_cgroup_with_processes_warns() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let id = rt.new_id("husk-it-shared");
    let shared = ForeignCgroup::new(by_layout("pids", ""), &id);
    let mut sleeper = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    std::fs::write(shared.dir.join("cgroup.procs"), sleeper.id().to_string()).unwrap();
    b.config_mut()["linux"]["cgroupsPath"] = json!(format!("/{id}"));
    b.args(&["true"]);
    let out = rt.run(&id, &b);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    out.assert_ok();
    if is_runc() {
        skip!("runc 1.1.5 joins a cgroup that has processes without a warning");
    }
    assert!(
        out.stderr.contains("container's cgroup is not empty"),
        "{}",
        out.stderr
    );
}
