//! `kill`: signals by name with and without the SIG prefix and by number, TERM by
//! default, and `--all` reaching every process of the container. The container's
//! shell traps the signals and writes a file into a bind-mounted host directory.

use std::path::{Path, PathBuf};

use husk_integration::{poll, procfs, require_root, Bundle, Container, Runtime};

/// A container whose init traps `signals`; on each it creates /out/<SIGNAL>.
/// `extra` runs in the background before the loop (e.g. child processes).
fn trapper(b: &mut Bundle, signals: &[&str], extra: &str) -> PathBuf {
    let out = b.host_dir("/out");
    let traps: String = signals
        .iter()
        .map(|s| format!("trap 'touch /out/{s}' {s}; "))
        .collect();
    b.sh(&format!(
        "{traps}{extra} touch /out/ready; while :; do sleep 1 & wait $!; done"
    ));
    out
}

fn wait_file(path: &Path) -> bool {
    poll::wait_until(poll::PATIENCE, || path.exists())
}

fn started<'a>(rt: &'a Runtime, b: &Bundle, out: &Path) -> Container<'a> {
    let c = rt.container(b);
    c.start_ok();
    assert!(
        wait_file(&out.join("ready")),
        "the container never got ready"
    );
    c
}

#[test]
fn signal_by_name_with_and_without_sig_prefix_and_by_number() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let out = trapper(&mut b, &["USR1", "USR2", "HUP"], "");
    let c = started(&rt, &b, &out);

    c.kill("USR1").assert_ok();
    assert!(wait_file(&out.join("USR1")), "kill USR1 was delivered");
    c.kill("SIGUSR2").assert_ok();
    assert!(wait_file(&out.join("USR2")), "kill SIGUSR2 was delivered");
    c.kill(&libc::SIGHUP.to_string()).assert_ok();
    assert!(wait_file(&out.join("HUP")), "kill 1 (HUP) was delivered");
    assert_eq!(c.status().as_deref(), Some("running"));
}

#[test]
fn default_signal_is_term() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let out = trapper(&mut b, &["TERM"], "");
    let c = started(&rt, &b, &out);
    rt.cmd(&["kill", c.id()]).assert_ok();
    assert!(
        wait_file(&out.join("TERM")),
        "kill without a signal sends TERM"
    );
}

#[test]
fn kill_term_stops_a_process_without_handler() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    // Not pid 1 of a pid namespace (which ignores unhandled signals from inside
    // only; from the host the default action applies to a non-init process).
    b.remove_namespace("pid").args(&["sleep", "30"]);
    let c = rt.container(&b);
    c.start_ok();
    assert!(procfs::wait_cmdline_contains(c.pid(), "sleep"));
    c.kill("TERM").assert_ok();
    assert!(c.wait_status("stopped"), "status {:?}", c.status());
}

#[test]
fn kill_all_reaches_every_process() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    // Init traps USR1 and survives; its children have no handler and die.
    let out = trapper(
        &mut b,
        &["USR1"],
        "sleep 1000 & echo $! > /out/child1; sleep 1001 & echo $! > /out/child2;",
    );
    let c = started(&rt, &b, &out);
    let init = c.pid();
    let children: Vec<i32> = host_children(init, &["sleep 1000", "sleep 1001"]);
    assert_eq!(children.len(), 2, "found the two children of {init}");

    let done = rt.cmd(&["kill", "--all", c.id(), "USR1"]);
    done.assert_ok();
    assert!(wait_file(&out.join("USR1")), "init got USR1");
    for pid in children {
        assert!(
            poll::wait_until(poll::PATIENCE, || !procfs::alive(pid, None)),
            "child {pid} was killed by --all"
        );
    }
    assert!(procfs::alive(init, None), "init survives (it traps USR1)");
}

#[test]
fn unknown_signal_is_an_error() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["sleep", "30"]);
    let c = rt.container(&b);
    c.kill("NOTASIGNAL").assert_fail();
    assert_eq!(c.status().as_deref(), Some("created"));
}

/// Host pids of `parent`'s children whose command line is one of `cmds`
/// (polled: the children may not have exec'd yet).
fn host_children(parent: i32, cmds: &[&str]) -> Vec<i32> {
    let mut found = Vec::new();
    poll::wait_until(poll::PATIENCE, || {
        found = procfs::all_pids()
            .into_iter()
            .filter(|&p| {
                procfs::pid_status_field(p, "PPid").as_deref() == Some(&parent.to_string())
            })
            .filter(|&p| {
                let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                cmds.iter().any(|c| cmd.trim() == *c)
            })
            .collect();
        found.len() == cmds.len()
    });
    found
}

/// Signal 0 is the liveness probe (`kill ID 0`, also with `--all`): it succeeds
/// while the container runs, delivers nothing, and fails once it stopped.
#[test]
fn signal_zero_probes_liveness() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["sleep", "60"]);
    let c = rt.container(&b);
    c.start_ok();
    assert!(procfs::wait_cmdline_contains(c.pid(), "sleep"));
    c.kill("0").assert_ok();
    rt.cmd(&["kill", "--all", c.id(), "0"]).assert_ok();
    assert_eq!(c.status().as_deref(), Some("running"));
    c.kill("KILL").assert_ok();
    assert!(c.wait_status("stopped"));
    c.kill("0").assert_fail();
}
