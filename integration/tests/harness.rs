//! Tests of the test harness itself: the fixture, the default spec, timeouts and
//! that the leak checks can actually see a container.

use std::time::Duration;

use husk_integration::{exec, leak, procfs, require_root, rootfs, spec, Bundle, Runtime};

#[test]
fn rootfs_fixture_has_busybox_applets_and_users() {
    let b = Bundle::new();
    let root = b.rootfs();
    assert!(root.join("bin/busybox").is_file());
    assert_eq!(
        std::fs::read_link(root.join("bin/sh")).unwrap(),
        std::path::Path::new("busybox")
    );
    for dir in ["proc", "sys", "dev", "tmp", "etc", "root"] {
        assert!(root.join(dir).is_dir(), "{dir} exists");
    }
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(passwd.starts_with("root:x:0:0:root:/root:/bin/sh\n"));
    assert!(passwd.contains("nobody:x:65534:"));
    assert!(root.join("etc/group").is_file());
    assert!(rootfs::template().join("bin/busybox").is_file());
}

#[test]
fn default_spec_matches_runc_spec() {
    let runc = std::path::Path::new("/usr/sbin/runc");
    if !runc.exists() {
        husk_integration::skip!("runc is not installed");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(runc)
        .arg("spec")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut theirs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    theirs["process"]["terminal"] = false.into();
    assert_eq!(spec::default_config(), theirs);
}

#[test]
fn commands_are_killed_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new("sleep");
    cmd.arg("60");
    let out = exec::run(
        cmd,
        &dir.path().join("o"),
        &dir.path().join("e"),
        Duration::from_millis(200),
    );
    assert!(out.timed_out, "{out}");
    assert!(!out.success());
}

#[test]
fn leak_check_sees_a_live_container() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["sleep", "30"]);
    let id = rt.new_id("leak");
    rt.create(&id, &b).assert_ok();
    let pid = rt.state(&id)["pid"].as_i64().unwrap() as i32;
    let ids = [id.clone()];
    let procs = leak::bundle_processes(b.path(), b.marker(), &ids);
    let seen_created = !husk_integration::is_runc() || procs.contains(&pid);
    rt.start(&id).assert_ok();
    let seen = husk_integration::poll::wait_until(husk_integration::poll::PATIENCE, || {
        leak::bundle_processes(b.path(), b.marker(), &[]).contains(&pid)
    });
    if husk_integration::is_runc() {
        assert!(
            !leak::cgroup_dirs_named(&id).is_empty(),
            "runc names its cgroups after the id"
        );
    }
    rt.delete_force(&id).assert_ok();
    assert!(
        seen_created,
        "runc's created init {pid} is found by cgroup: {procs:?}"
    );
    assert!(seen, "the env marker finds the started init {pid}");
    assert!(husk_integration::poll::wait_until(
        husk_integration::poll::PATIENCE,
        || !procfs::alive(pid, None)
    ));
}
