//! The container's filesystem: `root.path` (relative or absolute), `root.readonly`,
//! `linux.maskedPaths`, `linux.readonlyPaths`, the default devices and /dev
//! symlinks of config-linux.md, and a few `mounts`.

use husk_integration::{require_root, Bundle, Runtime};
use serde_json::json;

/// Run `script` and return stdout; the script prints its verdicts.
fn sh(rt: &Runtime, b: &mut Bundle, script: &str) -> String {
    b.sh(script);
    rt.run_ok(b)
}

#[test]
fn readonly_root_refuses_writes() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let out = sh(
        &rt,
        &mut b,
        "touch /newfile 2>/dev/null && echo wrote || echo refused; \
         touch /tmp/newfile 2>/dev/null && echo wrote || echo refused",
    );
    assert_eq!(out, "refused\nrefused");
    assert!(!b.rootfs().join("newfile").exists());
}

#[test]
fn writable_root_writes_reach_the_rootfs() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.writable();
    sh(&rt, &mut b, "echo hi > /tmp/from-container");
    assert_eq!(
        b.read_rootfs_file("/tmp/from-container").as_deref(),
        Some("hi\n")
    );
}

#[test]
fn masked_paths_are_empty() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    // Only the default masked paths this kernel has: files read empty, dirs list empty.
    let candidates = [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
    ];
    let dirs = ["/sys/firmware", "/proc/acpi", "/proc/scsi"];
    let mut script = String::new();
    let mut checked = Vec::new();
    for f in candidates
        .iter()
        .filter(|p| std::path::Path::new(p).exists())
    {
        script.push_str(&format!("echo {f} $(wc -c < {f}); "));
        checked.push(format!("{f} 0"));
    }
    for d in dirs.iter().filter(|p| std::path::Path::new(p).is_dir()) {
        script.push_str(&format!("echo {d} $(ls -A {d} | wc -l); "));
        checked.push(format!("{d} 0"));
    }
    assert!(!checked.is_empty(), "the host has some default masked path");
    let out = sh(&rt, &mut b, &script);
    assert_eq!(out.lines().collect::<Vec<_>>(), checked, "{out}");
}

#[test]
fn masked_path_of_a_custom_file_and_dir() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    std::fs::create_dir_all(b.rootfs().join("secret-dir")).unwrap();
    std::fs::write(b.rootfs().join("secret-dir/data"), "secret").unwrap();
    std::fs::write(b.rootfs().join("etc/secret"), "secret").unwrap();
    b.config_mut()["linux"]["maskedPaths"] = json!(["/secret-dir", "/etc/secret"]);
    let out = sh(
        &rt,
        &mut b,
        "ls -A /secret-dir | wc -l; wc -c < /etc/secret",
    );
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["0", "0"]);
}

#[test]
fn readonly_paths_are_not_writable() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    // kernel.shm_rmid_forced belongs to the container's own IPC namespace, so a
    // failure to make /proc/sys read-only cannot change the host.
    let out = sh(
        &rt,
        &mut b,
        "echo 1 > /proc/sys/kernel/shm_rmid_forced 2>/dev/null && echo wrote || echo refused; \
         grep ' /proc/sys ' /proc/self/mountinfo | grep -c ' ro[, ]'",
    );
    assert_eq!(out, "refused\n1", "write refused and /proc/sys mounted ro");
}

#[test]
fn default_devices_exist() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let out = sh(
        &rt,
        &mut b,
        "for d in null zero full random urandom tty; do \
           stat -c '%n %F %t:%T' /dev/$d; done; \
         echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c",
    );
    let want = [
        "/dev/null character special file 1:3",
        "/dev/zero character special file 1:5",
        "/dev/full character special file 1:7",
        "/dev/random character special file 1:8",
        "/dev/urandom character special file 1:9",
        "/dev/tty character special file 5:0",
        "null-ok",
        "4",
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), want, "{out}");
}

#[test]
fn dev_symlinks_exist() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let out = sh(
        &rt,
        &mut b,
        "for l in fd stdin stdout stderr; do echo \"$l $(readlink /dev/$l)\"; done; \
         if [ -L /dev/ptmx ]; then echo \"ptmx $(readlink /dev/ptmx)\"; \
         elif [ -c /dev/ptmx ]; then echo 'ptmx char'; else echo 'ptmx missing'; fi; \
         [ -d /dev/pts ] && [ -d /dev/shm ] && echo dirs-ok",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..4],
        [
            "fd /proc/self/fd",
            "stdin /proc/self/fd/0",
            "stdout /proc/self/fd/1",
            "stderr /proc/self/fd/2"
        ],
        "{out}"
    );
    assert!(
        lines[4] == "ptmx pts/ptmx" || lines[4] == "ptmx /dev/pts/ptmx" || lines[4] == "ptmx char",
        "{out}"
    );
    assert_eq!(lines[5], "dirs-ok", "{out}");
}

#[test]
fn root_path_relative_to_the_bundle() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let other = b.path().join("another-root");
    std::fs::rename(b.rootfs(), &other).unwrap();
    std::fs::write(other.join("etc/which-root"), "another\n").unwrap();
    b.config_mut()["root"]["path"] = json!("another-root");
    b.args(&["cat", "/etc/which-root"]);
    let out = rt.run_ok(&b);
    std::fs::rename(&other, b.rootfs()).unwrap();
    assert_eq!(out, "another");
}

#[test]
fn root_path_absolute() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    std::fs::write(b.rootfs().join("etc/which-root"), "absolute\n").unwrap();
    let abs = b.rootfs().to_str().unwrap().to_string();
    b.config_mut()["root"]["path"] = json!(abs);
    b.args(&["cat", "/etc/which-root"]);
    assert_eq!(rt.run_ok(&b), "absolute");
}

#[test]
fn bind_mounts_read_write_and_read_only() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let rw = b.host_dir("/rw");
    let ro = b.path().join("ro-src");
    std::fs::create_dir(&ro).unwrap();
    std::fs::write(ro.join("file"), "from-host\n").unwrap();
    b.add_mount(json!({
        "destination": "/ro", "type": "bind",
        "source": ro.to_str().unwrap(), "options": ["rbind", "ro"]
    }));
    let out = sh(
        &rt,
        &mut b,
        "cat /ro/file; echo x > /ro/new 2>/dev/null && echo wrote || echo refused; \
         echo written > /rw/out",
    );
    assert_eq!(out, "from-host\nrefused");
    assert_eq!(
        std::fs::read_to_string(rw.join("out")).unwrap(),
        "written\n"
    );
    assert!(!ro.join("new").exists());
}

#[test]
fn tmpfs_mount_with_options() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.add_mount(json!({
        "destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "mode=1770", "size=1m"]
    }));
    let out = sh(
        &rt,
        &mut b,
        "stat -c '%a' /scratch; echo data > /scratch/f && cat /scratch/f; \
         grep ' /scratch ' /proc/self/mountinfo | grep -c tmpfs",
    );
    assert_eq!(out, "1770\ndata\n1");
}

/// /proc or /sys of the rootfs being a symlink is refused (runc: "must be mounted
/// on ordinary directory") rather than mounted through, wherever it points; the
/// failed create leaves nothing behind.
#[test]
fn proc_or_sys_as_a_symlink_is_refused() {
    require_root!();
    for dir in ["proc", "sys"] {
        let rt = Runtime::from_env();
        let mut b = Bundle::new();
        let path = b.rootfs().join(dir);
        std::fs::remove_dir_all(&path).unwrap();
        std::os::unix::fs::symlink("/tmp", &path).unwrap();
        b.args(&["true"]);
        let id = rt.new_id("husk-it-symlink");
        let out = rt.create(&id, &b);
        out.assert_fail();
        assert!(
            out.stderr.contains("must be mounted on ordinary directory"),
            "/{dir}: {out}"
        );
        rt.state_raw(&id).assert_fail();
    }
}
