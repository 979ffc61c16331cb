//! The container lifecycle of runtime.md: create -> created, start -> running,
//! the process ends -> stopped, delete -> gone; and the fields of `state`.

use husk_integration::{procfs, require_root, Bundle, Runtime};
use serde_json::json;

#[test]
fn create_start_kill_delete() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["sleep", "30"]);
    let pid_file = b.path().join("init.pid");
    let c = rt.container_with(&b, &["--pid-file", pid_file.to_str().unwrap()]);

    let state = c.state();
    assert_eq!(state["status"], "created", "{state}");
    let pid = c.pid();
    assert!(pid > 0, "created container has a pid: {state}");
    assert!(
        procfs::alive(pid, None),
        "init {pid} is alive while created"
    );
    let written = std::fs::read_to_string(&pid_file).expect("--pid-file was written");
    assert_eq!(written.trim(), pid.to_string(), "pid file equals state pid");

    c.start_ok();
    assert!(
        c.wait_status("running"),
        "status after start: {:?}",
        c.status()
    );
    assert_eq!(c.pid(), pid, "the pid does not change on start");

    c.kill("KILL").assert_ok();
    assert!(
        c.wait_status("stopped"),
        "status after kill: {:?}",
        c.status()
    );

    c.delete().assert_ok();
    rt.state_raw(c.id()).assert_fail();
}

#[test]
fn process_exit_makes_container_stopped() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["true"]);
    let c = rt.container(&b);
    c.start_ok();
    assert!(c.wait_status("stopped"), "status: {:?}", c.status());
    c.delete().assert_ok();
    rt.state_raw(c.id()).assert_fail();
}

#[test]
fn state_has_the_spec_fields() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["sleep", "30"]);
    let c = rt.container(&b);
    let state = c.state();
    assert!(state["ociVersion"].is_string(), "ociVersion: {state}");
    assert_eq!(state["id"], c.id(), "{state}");
    assert!(state["pid"].as_i64().unwrap_or(0) > 0, "pid: {state}");
    assert_eq!(state["status"], "created", "{state}");
    assert_eq!(
        state["bundle"],
        b.path_str(),
        "bundle is the absolute path: {state}"
    );
    assert_eq!(
        state["rootfs"].as_str().map(std::path::Path::new),
        Some(b.rootfs().as_path()),
        "rootfs: {state}"
    );
    let created = state["created"].as_str().expect("created is a string");
    assert!(
        created.len() >= 20 && created.as_bytes()[4] == b'-' && created.contains('T'),
        "created is an RFC 3339 timestamp: {created}"
    );
    assert!(state["owner"].is_string(), "owner: {state}");
}

#[test]
fn state_shows_annotations() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["sleep", "30"]);
    b.config_mut()["annotations"] = json!({ "org.husk.test": "hello", "com.example/x": "1" });
    let c = rt.container(&b);
    let state = c.state();
    assert_eq!(state["annotations"]["org.husk.test"], "hello", "{state}");
    assert_eq!(state["annotations"]["com.example/x"], "1", "{state}");
}

#[test]
fn running_state_pid_is_the_container_process() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["sleep", "30"]);
    let c = rt.container(&b);
    c.start_ok();
    assert!(c.wait_status("running"));
    let pid = c.pid();
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(
        procfs::wait_cmdline_contains(pid, "sleep"),
        "state pid {pid} runs the user process, cmdline {cmdline:?}"
    );
}
