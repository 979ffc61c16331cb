//! `run` = create + start + wait: the exit status is relayed (128+N when the
//! process is killed by signal N), stdio is the container's, the container is
//! deleted afterwards unless `--keep`, and `--detach` returns while it runs.

use husk_integration::{poll, procfs, require_root, Bundle, Runtime};

#[test]
fn exit_status_is_relayed() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.sh("exit 7");
    let out = rt.run_bundle(&b);
    assert_eq!(out.code(), Some(7), "{out}");
}

#[test]
fn zero_exit_is_success() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["true"]);
    rt.run_bundle(&b).assert_ok();
}

#[test]
fn killed_by_signal_is_128_plus_n() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    // Without a pid namespace the shell is not a namespace init and can kill itself
    // (an init ignores signals from inside its namespace).
    b.remove_namespace("pid").sh("kill -9 $$");
    let out = rt.run_bundle(&b);
    assert_eq!(out.code(), Some(137), "{out}");
}

#[test]
fn killed_from_the_host_is_128_plus_n() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["sleep", "30"]);
    let id = rt.new_id("run-killed");
    let out = std::thread::scope(|s| {
        let runner = s.spawn(|| rt.run(&id, &b));
        let running = rt.wait_status(&id, "running");
        if let Ok(state) = rt.try_state(&id) {
            let pid = state["pid"].as_i64().unwrap_or(0) as i32;
            rt.record_pid(pid);
            procfs::wait_cmdline_contains(pid, "sleep");
        }
        rt.kill(&id, "KILL");
        let out = runner.join().unwrap();
        assert!(running, "container never reached running:\n{out}");
        out
    });
    assert_eq!(out.code(), Some(128 + 9), "{out}");
}

#[test]
fn stdout_and_stderr_are_relayed() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.sh("echo to-stdout; echo to-stderr >&2");
    let out = rt.run_bundle(&b);
    out.assert_ok();
    assert_eq!(out.out(), "to-stdout", "{out}");
    assert!(out.stderr.contains("to-stderr"), "{out}");
}

#[test]
fn container_is_deleted_after_run() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["true"]);
    let id = rt.new_id("run-deleted");
    rt.run(&id, &b).assert_ok();
    rt.state_raw(&id).assert_fail();
    assert_eq!(rt.list(&["-q"]).out(), "");
}

#[test]
fn keep_leaves_a_stopped_container() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.sh("exit 3");
    let id = rt.new_id("run-keep");
    let out = rt.run_with(&id, &b, &["--keep"]);
    assert_eq!(out.code(), Some(3), "{out}");
    let c = rt.guard(&id);
    assert_eq!(c.status().as_deref(), Some("stopped"));
    c.delete().assert_ok();
    rt.state_raw(&id).assert_fail();
}

#[test]
fn detach_returns_while_the_container_runs() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["sleep", "30"]);
    let id = rt.new_id("run-detach");
    rt.run_with(&id, &b, &["--detach"]).assert_ok();
    let c = rt.guard(&id);
    assert_eq!(c.status().as_deref(), Some("running"));
    let pid = c.pid();
    assert!(procfs::wait_cmdline_contains(pid, "sleep"));
    c.kill("KILL").assert_ok();
    assert!(c.wait_status("stopped"));
    c.delete().assert_ok();
    assert!(poll::wait_until(poll::PATIENCE, || !procfs::alive(
        pid, None
    )));
}

#[test]
fn detached_container_writes_to_the_inherited_stdout() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.sh("echo detached-hello; exec sleep 30");
    let c = rt.run_detached(&b);
    assert!(
        c.wait_stdout_contains("detached-hello"),
        "stdout: {:?}",
        c.stdout()
    );
    assert_eq!(c.status().as_deref(), Some("running"));
}
