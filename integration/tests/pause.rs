//! `pause` / `resume`: every process of the container stops in place and goes on
//! again; the status is `paused` in `state` and `list` meanwhile; the freezer has
//! completed when `pause` returns (v1: freezer.state reads FROZEN; v2:
//! cgroup.freeze is 1 and cgroup.events says `frozen 1`). A paused container can
//! be killed (SIGKILL to a frozen v1 cgroup only lands once it is thawed) and
//! force-deleted. Pausing what is not running, resuming what is not paused and
//! exec in a paused container fail.

use std::time::Duration;

use husk_integration::cgroupfs::{self, by_layout, v1_only, v2_only, Cgroup, Layout};
use husk_integration::{is_husk, poll, require_root, Bundle, Container, Runtime};

/// A container printing a growing counter (`tick`) every 50ms, started.
fn ticking<'a>(rt: &'a Runtime, b: &mut Bundle) -> Container<'a> {
    b.sh("while :; do echo tick; sleep 0.05; done");
    let c = rt.container(b);
    c.start_ok();
    assert!(c.wait_stdout_contains("tick"), "the container never ticked");
    c
}

fn ticks(c: &Container) -> usize {
    c.stdout().matches("tick").count()
}

/// What the container's freezer says, `None` on a v1 host without a freezer
/// hierarchy: v1 freezer.state (THAWED, FREEZING, FROZEN); v2 the wanted state
/// (cgroup.freeze) and the reached one (the `frozen` line of cgroup.events).
fn freezer_state(pid: i32) -> Option<String> {
    let cg = Cgroup::of(pid);
    match cgroupfs::layout() {
        Layout::V1 if !cgroupfs::controller_available("freezer") => None,
        Layout::V1 => Some(cg.read(v1_only("freezer", "freezer.state"))),
        Layout::V2 => {
            let wanted = cg.read(v2_only("cgroup.freeze"));
            let events = cg.read(v2_only("cgroup.events"));
            let reached = events
                .lines()
                .find_map(|l| l.strip_prefix("frozen "))
                .unwrap_or("(no frozen line)");
            Some(format!("cgroup.freeze {wanted}, frozen {reached}"))
        }
    }
}

fn list_status(rt: &Runtime, id: &str) -> (String, String) {
    let json = rt.cmd(&["list", "--format", "json"]);
    json.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("list prints JSON");
    let status = v
        .as_array()
        .and_then(|a| a.iter().find(|c| c["id"] == id))
        .and_then(|c| c["status"].as_str())
        .unwrap_or_default()
        .to_string();
    let table = rt.cmd(&["list"]);
    table.assert_ok();
    let row = table
        .stdout
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_default()
        .to_string();
    (status, row)
}

#[test]
fn pause_stops_every_process_and_resume_lets_them_go_on() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = ticking(&rt, &mut b);
    let pid = c.pid();

    rt.cmd(&["pause", c.id()]).assert_ok();
    if let Some(state) = freezer_state(pid) {
        assert_eq!(
            state,
            by_layout("FROZEN", "cgroup.freeze 1, frozen 1"),
            "pause returned before the freeze completed"
        );
    }
    assert_eq!(c.status().as_deref(), Some("paused"));
    assert_eq!(c.state()["pid"], pid, "a paused container keeps its pid");
    let (json_status, row) = list_status(&rt, c.id());
    assert_eq!(json_status, "paused");
    assert!(row.contains(" paused "), "list table row: {row:?}");

    let out = rt.cmd(&["exec", c.id(), "true"]);
    out.assert_fail();
    assert!(
        out.stderr.contains("paused"),
        "exec in a paused container: {out}"
    );

    let frozen_at = ticks(&c);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(ticks(&c), frozen_at, "the container ran while paused");

    rt.cmd(&["resume", c.id()]).assert_ok();
    if let Some(state) = freezer_state(pid) {
        assert_eq!(state, by_layout("THAWED", "cgroup.freeze 0, frozen 0"));
    }
    assert_eq!(c.status().as_deref(), Some("running"));
    assert!(
        poll::wait_until(poll::PATIENCE, || ticks(&c) > frozen_at + 2),
        "the container did not go on after resume"
    );
}

#[test]
fn pause_of_a_stopped_container_and_resume_of_a_running_one_fail() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = ticking(&rt, &mut b);

    let out = rt.cmd(&["resume", c.id()]);
    out.assert_fail();
    assert!(out.stderr.contains("container not paused"), "{out}");
    assert_eq!(c.status().as_deref(), Some("running"));

    rt.cmd(&["pause", c.id()]).assert_ok();
    let out = rt.cmd(&["pause", c.id()]);
    out.assert_fail();
    assert!(out.stderr.contains("container not running"), "{out}");
    if is_husk() {
        assert!(out.stderr.contains(&format!("pause {}", c.id())), "{out}");
    }
    rt.cmd(&["resume", c.id()]).assert_ok();

    c.kill("KILL").assert_ok();
    assert!(c.wait_status("stopped"));
    let out = rt.cmd(&["pause", c.id()]);
    out.assert_fail();
    assert!(out.stderr.contains("container not running"), "{out}");
    let out = rt.cmd(&["resume", c.id()]);
    out.assert_fail();
    assert!(out.stderr.contains("container not paused"), "{out}");
}

#[test]
fn kill_of_a_paused_container() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = ticking(&rt, &mut b);
    rt.cmd(&["pause", c.id()]).assert_ok();
    c.kill("KILL").assert_ok();
    assert!(
        c.wait_status("stopped"),
        "SIGKILL did not stop a paused container: {:?}",
        c.status()
    );
    c.delete().assert_ok();
}

#[test]
fn kill_all_of_a_paused_container_without_pid_namespace() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.remove_namespace("pid");
    // Children that outlive a killed init unless the whole cgroup is killed.
    b.sh("sleep 1000 & sleep 1000 & while :; do echo tick; sleep 0.05; done");
    let c = rt.container(&b);
    c.start_ok();
    assert!(c.wait_stdout_contains("tick"));
    rt.cmd(&["pause", c.id()]).assert_ok();
    rt.cmd(&["kill", "--all", c.id(), "KILL"]).assert_ok();
    assert!(c.wait_status("stopped"), "{:?}", c.status());
    let gone = poll::wait_until(poll::PATIENCE, || {
        husk_integration::leak::bundle_processes(b.path(), b.marker(), &[]).is_empty()
    });
    assert!(
        gone,
        "processes of the paused container survived kill --all"
    );
    c.delete().assert_ok();
}

#[test]
fn delete_force_of_a_paused_container() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = ticking(&rt, &mut b);
    rt.cmd(&["pause", c.id()]).assert_ok();
    c.delete_force().assert_ok();
    assert!(rt.try_state(c.id()).is_err(), "state after delete --force");
}

#[test]
fn a_created_container_can_be_paused_but_not_started_while_paused() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["true"]);
    let c = rt.container(&b);
    rt.cmd(&["pause", c.id()]).assert_ok();
    assert_eq!(c.status().as_deref(), Some("paused"));
    c.start().assert_fail();
    rt.cmd(&["resume", c.id()]).assert_ok();
    assert_eq!(c.status().as_deref(), Some("created"));
}
