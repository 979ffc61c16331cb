//! Rootless: an ordinary user (made by the harness, with /etc/subuid and
//! /etc/subgid ranges) runs the runtime with `spec --rootless`'s config and no
//! other setup, as with runc: the container's root is the caller, the state lives
//! under $XDG_RUNTIME_DIR, more mappings go through newuidmap/newgidmap, a
//! refused mapping or a limit without a writable cgroup fails clearly, exec with
//! a tty works, and the CVE-2019-5736 seal works unprivileged.

use std::path::Path;
use std::process::{Command, Stdio};

use husk_integration::rootless::{self, User, SUB_SIZE, SUB_START};
use husk_integration::{is_husk, is_runc, procfs, require_root, skip, Bundle, Runtime};
use serde_json::json;

/// The runtime run as the test user (own --root).
fn runtime(user: &User) -> Runtime {
    Runtime::from_env().as_user(user)
}

/// A bundle with the runtime's own `spec --rootless` config (made as the user),
/// the bundle's marker kept, terminal off; the bundle is the user's.
fn rootless_bundle(user: &User) -> Bundle {
    let mut b = Bundle::new();
    let dir = tempfile::tempdir().unwrap();
    user.chown(dir.path());
    let mut cmd = Command::new(husk_integration::runtime_binary());
    cmd.args(["spec", "--rootless", "--bundle"]).arg(dir.path());
    user.apply(&mut cmd);
    let out = cmd.output().expect("spec --rootless");
    assert!(out.status.success(), "spec --rootless: {out:?}");
    let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    let mut spec: serde_json::Value = serde_json::from_str(&text).unwrap();
    spec["process"]["terminal"] = json!(false);
    spec["root"]["path"] = json!("rootfs");
    spec["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push(json!(format!(
            "{}={}",
            husk_integration::bundle::MARKER_VAR,
            b.marker()
        )));
    *b.config_mut() = spec;
    user.chown_tree(b.path());
    b
}

fn setup() -> &'static User {
    rootless::user()
}

/// The uid_map/gid_map lines of a text, whitespace squeezed.
fn map_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn the_containers_root_is_the_caller() {
    require_root!();
    let user = setup();
    let rt = runtime(user);
    let mut b = rootless_bundle(user);
    b.sh("id -u; cat /proc/self/uid_map; cat /proc/self/gid_map");
    let out = rt.run_ok(&b);
    let lines = map_lines(&out);
    assert_eq!(lines[0], "0", "{out}");
    assert_eq!(lines[1], format!("0 {} 1", user.uid), "{out}");
    assert_eq!(lines[2], format!("0 {} 1", user.gid), "{out}");
}

#[test]
fn the_default_state_root_is_under_xdg_runtime_dir() {
    require_root!();
    let user = setup();
    let mut b = rootless_bundle(user);
    b.args(&["sleep", "30"]);
    b.save();
    let id = format!("husk-rl-{}", std::process::id());
    b.used_by(&id);
    let bin = husk_integration::runtime_binary();
    let name = bin.file_name().unwrap().to_string_lossy().to_string();
    // The container inherits stdio: never a pipe we would wait on.
    let run = |args: &[&str]| {
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        user.apply(&mut cmd);
        cmd.status().expect("running the runtime")
    };
    let out = run(&["create", "--bundle", b.path_str(), &id]);
    let state_dir = user.runtime_dir.join(&name).join(&id);
    let exists = state_dir.is_dir();
    let _ = run(&["delete", "--force", &id]);
    assert!(out.success(), "{out:?}");
    assert!(exists, "no state at {}", state_dir.display());
    assert!(!state_dir.exists(), "delete left {}", state_dir.display());
}

#[test]
fn lifecycle_and_exec_as_an_ordinary_user() {
    require_root!();
    let user = setup();
    let rt = runtime(user);
    let mut b = rootless_bundle(user);
    b.args(&["sleep", "60"]);
    let c = rt.container(&b);
    c.start_ok();
    assert!(procfs::wait_cmdline_contains(c.pid(), "sleep"));
    assert_eq!(c.status().as_deref(), Some("running"));
    assert!(rt.list(&["-q"]).stdout.contains(c.id()));
    let exec = rt.cmd(&["exec", c.id(), "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    exec.assert_ok();
    assert_eq!(
        map_lines(&exec.stdout)[1],
        format!("0 {} 1", user.uid),
        "{exec}"
    );
    c.kill("KILL").assert_ok();
    assert!(c.wait_status("stopped"));
    c.delete().assert_ok();
}

#[test]
fn exec_with_a_tty() {
    require_root!();
    let user = setup();
    let rt = runtime(user);
    let mut b = rootless_bundle(user);
    b.args(&["sleep", "60"]);
    let c = rt.container(&b);
    c.start_ok();
    // script(1) gives the runtime a terminal of its own, as an interactive shell.
    let line = format!(
        "{} --root {} exec -t {} tty",
        rt.bin().display(),
        rt.root().display(),
        c.id()
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"]).stdin(Stdio::null());
    user.apply(&mut cmd);
    let out = cmd.output().expect("script");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("/dev/pts/"), "exec -t: {text:?}");
}

#[test]
fn several_mappings_go_through_newuidmap() {
    require_root!();
    if !Path::new("/usr/bin/newuidmap").exists() {
        skip!("newuidmap is missing (package uidmap; .ci/run installs it)");
    }
    let user = setup();
    let rt = runtime(user);
    let mut b = rootless_bundle(user);
    for (key, own) in [("uidMappings", user.uid), ("gidMappings", user.gid)] {
        b.config_mut()["linux"][key] = json!([
            {"containerID": 0, "hostID": own, "size": 1},
            {"containerID": 1, "hostID": SUB_START, "size": SUB_SIZE}
        ]);
    }
    b.user(1000, 1000);
    b.sh("id -u; id -g; cat /proc/self/uid_map");
    let out = rt.run_ok(&b);
    let lines = map_lines(&out);
    assert_eq!(lines[..2], ["1000", "1000"], "{out}");
    assert_eq!(
        lines[2..],
        [
            format!("0 {} 1", user.uid),
            format!("1 {SUB_START} {SUB_SIZE}")
        ],
        "{out}"
    );
}

#[test]
fn a_mapping_outside_the_subuid_ranges_is_refused() {
    require_root!();
    let user = setup();
    let rt = runtime(user);
    let mut b = rootless_bundle(user);
    b.config_mut()["linux"]["uidMappings"] = json!([
        {"containerID": 0, "hostID": user.uid, "size": 1},
        {"containerID": 1, "hostID": SUB_START + SUB_SIZE, "size": 1000}
    ]);
    b.args(&["true"]);
    let id = rt.new_id("husk-rl");
    let out = rt.create(&id, &b);
    out.assert_fail();
    if is_husk() {
        assert!(
            out.stderr.contains("linux.uidMappings") && out.stderr.contains("/etc/subuid"),
            "{out}"
        );
    }
    rt.state_raw(&id).assert_fail();
}

#[test]
fn a_limit_without_a_writable_cgroup_fails_naming_the_field() {
    require_root!();
    let user = setup();
    let rt = runtime(user);
    let mut b = rootless_bundle(user);
    b.config_mut()["linux"]["resources"] = json!({"memory": {"limit": 64u64 << 20}});
    b.args(&["true"]);
    let id = rt.new_id("husk-rl");
    let out = rt.create(&id, &b);
    out.assert_fail();
    if is_husk() {
        assert!(out.stderr.contains("linux.resources.memory"), "{out}");
    }
    rt.state_raw(&id).assert_fail();
}

#[test]
fn the_exe_seal_works_unprivileged() {
    require_root!();
    if is_runc() {
        skip!("the check reads husk's --debug line about its binary");
    }
    let user = setup();
    // A writable, unsealed copy of the binary, as a user installs it in ~/bin.
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("husk");
    std::fs::copy(husk_integration::runtime_binary(), &bin).unwrap();
    user.chown(dir.path());
    user.chown(&bin);
    let rt = Runtime::with_binary(&bin).as_user(user);
    let mut b = rootless_bundle(user);
    b.args(&["true"]);
    b.save();
    let id = rt.new_id("husk-rl");
    b.used_by(&id);
    let out = rt.cmd(&["--debug", "run", "--bundle", b.path_str(), &id]);
    out.assert_ok();
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains(": run ") && l.contains("binary "))
        .unwrap_or_default();
    assert!(
        line.contains("binary SealedMemfd") || line.contains("binary ReadOnlyMount"),
        "the binary was not sealed: {}",
        out.stderr
    );
}
