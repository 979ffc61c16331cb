//! `hooks`: every kind runs at its point of the lifecycle with the state JSON on
//! stdin; a failing or timed-out create-time hook fails `create` and leaves
//! nothing behind; poststart/poststop failures are only warnings.

use husk_integration::{is_husk, is_runc, require_root, skip, Bundle, Runtime};
use serde_json::{json, Value};

/// A hook that appends `<kind> <state json>` to `log` (a host path).
fn logging_hook(kind: &str, log: &str) -> Value {
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("read -r s; echo \"{kind} $s\" >> {log}")]
    })
}

fn entries(log: &std::path::Path) -> Vec<(String, Value)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let (k, j) = l.split_once(' ').unwrap();
            (k.to_string(), serde_json::from_str(j).unwrap())
        })
        .collect()
}

#[test]
fn every_hook_kind_runs_in_order_with_the_state_on_stdin() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 runs poststart hooks during create, not after start (fixed in runc 1.2)");
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let shared = b.host_dir("/shared");
    let log = shared.join("log");
    let log_s = log.to_str().unwrap();
    b.args(&["sleep", "30"]);
    b.config_mut()["hooks"] = json!({
        "prestart": [logging_hook("prestart", log_s)],
        "createRuntime": [logging_hook("createRuntime", log_s)],
        "createContainer": [logging_hook("createContainer", log_s)],
        // Resolved and run in the container: its /bin/sh, its /shared.
        "startContainer": [logging_hook("startContainer", "/shared/log")],
        "poststart": [logging_hook("poststart", log_s)],
        "poststop": [logging_hook("poststop", log_s)]
    });
    let c = rt.container(&b);
    let kinds = |l: &[(String, Value)]| l.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(
        kinds(&entries(&log)),
        ["prestart", "createRuntime", "createContainer"],
        "after create"
    );
    c.start_ok();
    assert!(husk_integration::poll::wait_until(
        std::time::Duration::from_secs(20),
        || entries(&log).len() >= 5
    ));
    rt.kill(c.id(), "KILL").assert_ok();
    assert!(rt.wait_status(c.id(), "stopped"));
    rt.delete(c.id()).assert_ok();
    let all = entries(&log);
    assert_eq!(
        kinds(&all),
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ]
    );
    for (kind, state) in &all {
        assert_eq!(state["id"], c.id(), "{kind}: {state}");
        assert_eq!(state["bundle"], b.path_str(), "{kind}: {state}");
    }
    if is_husk() {
        let status: Vec<&str> = all
            .iter()
            .map(|(_, s)| s["status"].as_str().unwrap())
            .collect();
        assert_eq!(
            status,
            ["creating", "creating", "creating", "created", "running", "stopped"]
        );
        assert!(all[0].1["pid"].as_i64().unwrap() > 0);
    }
}

#[test]
fn failing_create_runtime_hook_fails_create_and_leaves_nothing() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.config_mut()["hooks"] = json!({
        "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 7"]}]
    });
    let id = rt.new_id("hookfail");
    let out = rt.create(&id, &b);
    out.assert_fail();
    // runc's words, and the status.
    assert!(
        out.stderr.contains("error running hook") && out.stderr.contains("exit status 7"),
        "{out}"
    );
    assert!(out.stderr.contains("nope"), "{out}");
    if is_husk() {
        assert!(out.stderr.contains("hooks.createRuntime[0]"), "{out}");
    }
    rt.state_raw(&id).assert_fail();
}

#[test]
fn hook_timeout_fails_create() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.config_mut()["hooks"] = json!({
        "prestart": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]
    });
    let id = rt.new_id("hooktimeout");
    let out = rt.create(&id, &b);
    out.assert_fail();
    if is_husk() {
        assert!(
            out.stderr.contains("error running hook: timeout after 1s"),
            "{out}"
        );
    }
    rt.state_raw(&id).assert_fail();
}

#[test]
fn failing_poststart_hook_is_only_a_warning() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 runs poststart hooks during create and fails it (fixed in runc 1.2)");
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["sleep", "30"]);
    b.config_mut()["hooks"] = json!({
        "poststart": [{"path": "/bin/false"}]
    });
    let c = rt.container(&b);
    rt.start(c.id()).assert_ok();
    assert_eq!(rt.status(c.id()).as_deref(), Some("running"));
}

#[test]
fn hooks_get_exactly_their_env() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let shared = b.host_dir("/shared");
    let out_file = shared.join("env");
    b.args(&["true"]);
    b.config_mut()["hooks"] = json!({
        "createRuntime": [{
            "path": "/usr/bin/env",
            "args": ["sh", "-c", format!("env > {}", out_file.display())],
            "env": ["ONLY=1", "PATH=/usr/bin:/bin"]
        }]
    });
    b.config_mut()["hooks"]["createRuntime"][0]["path"] = json!("/bin/sh");
    let c = rt.container(&b);
    let env = std::fs::read_to_string(&out_file).unwrap();
    assert!(env.contains("ONLY=1"), "{env}");
    assert!(!env.contains("HOME="), "{env}");
    drop(c);
}

/// A hook that writes its working directory to `file`.
fn pwd_hook(file: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", format!("pwd > {file}")]})
}

/// Every hook kind runs in runc's working directory (hooks with relative paths
/// such as `./lib/...` depend on it): the bundle for prestart, createRuntime and
/// poststart, the rootfs for createContainer, `process.cwd` for
/// startContainer, the caller's directory for the poststop of `delete`, and the
/// bundle for the poststop of a foreground `run`.
#[test]
fn hooks_run_in_runcs_working_directories() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let out = b.host_dir("/out");
    let o = |kind: &str| out.join(kind).to_str().unwrap().to_string();
    b.args(&["sleep", "30"]).cwd("/tmp");
    b.config_mut()["hooks"] = json!({
        "prestart": [pwd_hook(&o("prestart"))],
        "createRuntime": [pwd_hook(&o("createRuntime"))],
        "createContainer": [pwd_hook(&o("createContainer"))],
        "startContainer": [pwd_hook("/out/startContainer")],
        "poststart": [pwd_hook(&o("poststart"))],
        "poststop": [pwd_hook(&o("poststop"))]
    });
    let c = rt.container(&b);
    c.start_ok();
    assert!(husk_integration::poll::wait_until(
        husk_integration::poll::PATIENCE,
        || out.join("poststart").exists() && out.join("startContainer").exists()
    ));
    c.kill("KILL").assert_ok();
    assert!(c.wait_status("stopped"));
    c.delete().assert_ok();
    let read = |kind: &str| {
        std::fs::read_to_string(out.join(kind))
            .unwrap_or_else(|e| panic!("{kind}: {e}"))
            .trim()
            .to_string()
    };
    let bundle = b.path_str().to_string();
    let caller = std::env::current_dir().unwrap();
    assert_eq!(read("prestart"), bundle);
    assert_eq!(read("createRuntime"), bundle);
    assert_eq!(read("createContainer"), b.rootfs().to_str().unwrap());
    assert_eq!(read("startContainer"), "/tmp");
    assert_eq!(read("poststart"), bundle);
    assert_eq!(
        read("poststop"),
        caller.to_str().unwrap(),
        "delete's poststop"
    );

    std::fs::remove_file(out.join("poststop")).unwrap();
    b.args(&["true"]);
    rt.run_bundle(&b).assert_ok();
    assert_eq!(read("poststop"), bundle, "a foreground run's poststop");
}

/// A startContainer hook runs under the container's seccomp profile: one killed
/// by it fails the start with runc's words and the signal ("error running hook",
/// "signal: bad system call").
#[test]
fn start_container_hook_killed_by_seccomp_names_the_signal() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.config_mut()["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}]
    });
    b.config_mut()["hooks"] = json!({
        "startContainer": [{"path": "/bin/mkdir", "args": ["mkdir", "/tmp/hook-dir"]}]
    });
    let out = rt.run_bundle(&b);
    out.assert_fail();
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains("error running hook") && text.contains("signal: bad system call"),
        "{out}"
    );
    if is_husk() {
        assert!(text.contains("hooks.startContainer[0]"), "{out}");
    }
}
