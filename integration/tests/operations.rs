//! The operations of runtime.md and their error cases: unknown ids, duplicate and
//! malformed ids, operations in the wrong state, and flag placement on the command
//! line (runc accepts flags before and after the container id).

use husk_integration::{is_runc, procfs, require_root, Bundle, Runtime};

fn sleeper() -> Bundle {
    let mut b = Bundle::new();
    b.args(&["sleep", "30"]);
    b
}

#[test]
fn operations_on_an_unknown_id_fail() {
    require_root!();
    let rt = Runtime::from_env();
    let id = rt.new_id("missing");
    rt.state_raw(&id).assert_fail();
    rt.start(&id).assert_fail();
    rt.kill(&id, "KILL").assert_fail();
    rt.delete(&id).assert_fail();
}

#[test]
fn duplicate_id_fails_and_keeps_the_first() {
    require_root!();
    let rt = Runtime::from_env();
    let b1 = sleeper();
    let b2 = sleeper();
    let c = rt.container(&b1);
    let pid = c.pid();
    rt.create(c.id(), &b2).assert_fail();
    let state = c.state();
    assert_eq!(state["status"], "created", "{state}");
    assert_eq!(state["pid"], pid, "{state}");
    assert_eq!(state["bundle"], b1.path_str(), "{state}");
    assert!(procfs::alive(pid, None));
    c.start_ok();
    assert!(c.wait_status("running"));
}

#[test]
fn ids_with_path_characters_are_rejected() {
    require_root!();
    let rt = Runtime::from_env();
    let b = sleeper();
    for bad in ["../x", "a/b", "/abs", "..", "."] {
        rt.track(bad);
        let out = rt.create(bad, &b);
        out.assert_fail();
        rt.state_raw(bad).assert_fail();
    }
    let escaped = rt.root().parent().unwrap().join("x");
    assert!(
        !escaped.exists(),
        "create ../x must not write outside --root"
    );
    let listed = rt.list(&["-q"]);
    listed.assert_ok();
    assert_eq!(listed.out(), "", "no container was created");
}

#[test]
fn start_twice_fails() {
    require_root!();
    let rt = Runtime::from_env();
    let b = sleeper();
    let c = rt.container(&b);
    c.start_ok();
    assert!(c.wait_status("running"));
    c.start().assert_fail();
    assert_eq!(c.status().as_deref(), Some("running"));
}

#[test]
fn start_of_a_stopped_container_fails() {
    require_root!();
    let rt = Runtime::from_env();
    let b = sleeper();
    let c = rt.container(&b);
    c.kill("KILL").assert_ok();
    assert!(c.wait_status("stopped"), "status: {:?}", c.status());
    c.start().assert_fail();
}

#[test]
fn delete_of_a_running_container_without_force_fails() {
    require_root!();
    let rt = Runtime::from_env();
    let b = sleeper();
    let c = rt.container(&b);
    c.start_ok();
    assert!(c.wait_status("running"));
    let pid = c.pid();
    c.delete().assert_fail();
    assert_eq!(c.status().as_deref(), Some("running"));
    assert!(
        procfs::alive(pid, None),
        "the process survives a refused delete"
    );
}

#[test]
fn delete_of_a_created_container_without_force_fails() {
    require_root!();
    if is_runc() {
        husk_integration::skip!(
            "runc 1.1.5 deletes a created container without --force (kills it); \
             runtime.md says deleting a container that is not stopped MUST error"
        );
    }
    let rt = Runtime::from_env();
    let b = sleeper();
    let c = rt.container(&b);
    c.delete().assert_fail();
    assert_eq!(c.status().as_deref(), Some("created"));
}

#[test]
fn delete_force_removes_running_and_created_containers() {
    require_root!();
    let rt = Runtime::from_env();
    let b = sleeper();
    let running = rt.container(&b);
    running.start_ok();
    assert!(running.wait_status("running"));
    let created = rt.container(&b);
    let pids = [running.pid(), created.pid()];
    running.delete_force().assert_ok();
    created.delete_force().assert_ok();
    rt.state_raw(running.id()).assert_fail();
    rt.state_raw(created.id()).assert_fail();
    for pid in pids {
        assert!(
            husk_integration::poll::wait_until(husk_integration::poll::PATIENCE, || {
                !procfs::alive(pid, None)
            }),
            "process {pid} is gone after delete --force"
        );
    }
}

#[test]
fn kill_of_a_stopped_container_fails() {
    require_root!();
    let rt = Runtime::from_env();
    let b = sleeper();
    let c = rt.container(&b);
    c.start_ok();
    c.kill("KILL").assert_ok();
    assert!(c.wait_status("stopped"));
    c.kill("TERM").assert_fail();
    c.delete().assert_ok();
}

#[test]
fn flags_after_the_id_are_accepted() {
    require_root!();
    let rt = Runtime::from_env();
    let b = sleeper();
    b.save();
    let id = rt.new_id("flags-after");
    rt.cmd(&["create", &id, "--bundle", b.path_str()])
        .assert_ok();
    let c = rt.guard(&id);
    assert_eq!(c.state()["bundle"], b.path_str());
    rt.cmd(&["kill", &id, "KILL"]).assert_ok();
    assert!(c.wait_status("stopped"));
    rt.cmd(&["delete", &id]).assert_ok();
}

#[test]
fn flags_before_the_id_are_accepted() {
    require_root!();
    let rt = Runtime::from_env();
    let b = sleeper();
    b.save();
    let id = rt.new_id("flags-before");
    rt.cmd(&["create", "--bundle", b.path_str(), &id])
        .assert_ok();
    let c = rt.guard(&id);
    assert_eq!(c.state()["status"], "created");
    rt.cmd(&["delete", "--force", &id]).assert_ok();
    rt.state_raw(&id).assert_fail();
}

#[test]
fn global_root_flag_after_the_subcommand_is_accepted() {
    require_root!();
    let rt = Runtime::from_env();
    let b = sleeper();
    let c = rt.container(&b);
    // runc's global flags may also stand after the subcommand (urfave/cli).
    let out = exec_raw(
        &rt,
        &["state", "--root", rt.root().to_str().unwrap(), c.id()],
    );
    if is_runc() && !out.success() {
        husk_integration::skip!("runc 1.1.5 only takes global flags before the command");
    }
    out.assert_ok();
}

fn exec_raw(rt: &Runtime, args: &[&str]) -> husk_integration::Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(rt.bin());
    cmd.args(args);
    husk_integration::exec::run(
        cmd,
        &dir.path().join("o"),
        &dir.path().join("e"),
        husk_integration::exec::default_timeout(),
    )
}
