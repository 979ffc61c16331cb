//! `process.execCPUAffinity` (spec 1.3): a process started by `exec` runs on the
//! `final` CPUs (or keeps `initial` when there is no `final`); the container's
//! init is not affected; the container's cpuset narrows the list; an impossible
//! or malformed list is an error naming the field. Observed through
//! `Cpus_allowed_list` in the exec'd process's own /proc/self/status.
//!
//! The machine has CPUs 0-1. runc 1.1.5 does not know the field (skipped).

use husk_integration::env::kernel_version;
use husk_integration::{is_husk, is_runc, procfs, require_root, skip, Bundle, Container, Runtime};
use serde_json::json;

fn two_cpus() -> bool {
    std::fs::read_to_string("/sys/devices/system/cpu/online").is_ok_and(|s| s.trim() == "0-1")
}

/// A running `sleep` container whose config has `execCPUAffinity`.
fn running<'a>(rt: &'a Runtime, b: &mut Bundle, affinity: serde_json::Value) -> Container<'a> {
    b.args(&["sleep", "60"]);
    b.config_mut()["process"]["execCPUAffinity"] = affinity;
    let c = rt.container(b);
    c.start_ok();
    assert!(procfs::wait_cmdline_contains(c.pid(), "sleep"));
    c
}

/// `Cpus_allowed_list` of a process exec'd into `c`, as it reads it itself.
fn exec_cpus(c: &Container) -> String {
    let out = c
        .runtime()
        .cmd(&["exec", c.id(), "cat", "/proc/self/status"]);
    out.assert_ok();
    procfs::status_field(&out.stdout, "Cpus_allowed_list")
        .unwrap_or_else(|| panic!("no Cpus_allowed_list in:\n{out}"))
        .to_string()
}

#[test]
fn exec_runs_on_the_final_cpus_and_the_init_is_untouched() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no process.execCPUAffinity");
    }
    if !two_cpus() {
        skip!("needs CPUs 0-1 online");
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = running(&rt, &mut b, json!({"initial": "0", "final": "1"}));
    assert_eq!(exec_cpus(&c), "1");
    let mine = procfs::pid_status_field(std::process::id() as i32, "Cpus_allowed_list");
    assert_eq!(
        procfs::pid_status_field(c.pid(), "Cpus_allowed_list"),
        mine,
        "the init must keep the runtime's affinity"
    );
}

#[test]
fn without_final_the_exec_keeps_the_initial_cpus() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no process.execCPUAffinity");
    }
    if !two_cpus() {
        skip!("needs CPUs 0-1 online");
    }
    if kernel_version() < (6, 2) {
        skip!("before Linux 6.2 a cgroup move may reset a process's affinity");
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = running(&rt, &mut b, json!({"initial": "1"}));
    assert_eq!(exec_cpus(&c), "1");
}

#[test]
fn exec_process_file_brings_its_own_affinity() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no process.execCPUAffinity");
    }
    if !two_cpus() {
        skip!("needs CPUs 0-1 online");
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = running(&rt, &mut b, json!({"final": "1"}));
    let mut process = b.config()["process"].clone();
    process["args"] = json!(["cat", "/proc/self/status"]);
    process["execCPUAffinity"] = json!({"initial": "", "final": "0"});
    let file = b.path().join("process.json");
    std::fs::write(&file, process.to_string()).unwrap();
    let out = rt.cmd(&["exec", "--process", file.to_str().unwrap(), c.id()]);
    out.assert_ok();
    assert_eq!(
        procfs::status_field(&out.stdout, "Cpus_allowed_list"),
        Some("0"),
        "{out}"
    );
}

#[test]
fn the_containers_cpuset_narrows_the_final_list() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no process.execCPUAffinity");
    }
    if !two_cpus() {
        skip!("needs CPUs 0-1 online");
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.config_mut()["linux"]["resources"]["cpu"] = json!({"cpus": "0", "mems": "0"});
    let c = running(&rt, &mut b, json!({"final": "0-1"}));
    assert_eq!(exec_cpus(&c), "0");
}

#[test]
fn a_final_list_outside_the_cpuset_fails_the_exec() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no process.execCPUAffinity");
    }
    if !two_cpus() {
        skip!("needs CPUs 0-1 online");
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.config_mut()["linux"]["resources"]["cpu"] = json!({"cpus": "0", "mems": "0"});
    let c = running(&rt, &mut b, json!({"final": "1"}));
    let out = rt.cmd(&["exec", c.id(), "true"]);
    out.assert_fail();
    if is_husk() {
        assert!(
            out.stderr
                .contains("process.execCPUAffinity.final: sched_setaffinity \"1\""),
            "{out}"
        );
    }
    assert_eq!(c.status().as_deref(), Some("running"));
}

#[test]
fn an_impossible_initial_list_fails_the_exec_even_with_a_final_one() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no process.execCPUAffinity");
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = running(&rt, &mut b, json!({"initial": "1000", "final": "0"}));
    let out = rt.cmd(&["exec", c.id(), "true"]);
    out.assert_fail();
    if is_husk() {
        assert!(
            out.stderr.contains("process.execCPUAffinity.initial:"),
            "{out}"
        );
    }
}

#[test]
fn a_malformed_list_fails_create_naming_the_field() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no process.execCPUAffinity");
    }
    for (list, field) in [
        (json!({"final": "1-0"}), "process.execCPUAffinity.final"),
        (
            json!({"initial": "0,,1"}),
            "process.execCPUAffinity.initial",
        ),
    ] {
        let rt = Runtime::from_env();
        let mut b = Bundle::new();
        b.args(&["true"]);
        b.config_mut()["process"]["execCPUAffinity"] = list;
        let id = rt.new_id("affinity-bad");
        let out = rt.create(&id, &b);
        out.assert_fail();
        if is_husk() {
            assert!(out.stderr.contains(field), "{out}");
        }
        rt.state_raw(&id).assert_fail();
    }
}
