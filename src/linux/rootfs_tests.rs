//! Root-only tests of `prepare`/`enter`/`finish` on a real busybox rootfs. Each test
//! forks a child that unshares its mount namespace, builds the container filesystem
//! there and checks it from inside; the verdict comes back through a pipe. Nothing
//! is mounted in the test runner's namespace; tempdirs are removed on drop.
//! Skipped (with a message) when not run as root.

use super::*;
use crate::linux::mounts::{parse_mountinfo, MountInfo};
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::{lstat, major, minor, stat};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use oci_spec::runtime::{
    LinuxBuilder, LinuxDeviceBuilder, LinuxDeviceType, MountBuilder, SpecBuilder,
};
use std::io::{Read, Write};
use std::os::unix::fs::symlink;
use std::sync::Mutex;

/// Forks are serialised: the harness runs tests on threads.
static FORK_LOCK: Mutex<()> = Mutex::new(());

fn is_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("skipped: needs root");
    false
}

type Check = Result<(), String>;

/// Runs `f` in a forked child in a new mount namespace; returns its verdict.
fn in_child(f: impl FnOnce() -> Check) -> Check {
    let _guard = FORK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (rd, wr) = nix::unistd::pipe().expect("pipe");
    // SAFETY: the child only runs `f` (this crate's code) and then _exits; glibc's
    // malloc is safe to use after fork.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            drop(rd);
            let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                unshare(CloneFlags::CLONE_NEWNS).map_err(|e| format!("unshare: {e}"))?;
                f()
            }));
            let msg = match res {
                Ok(Ok(())) => String::new(),
                Ok(Err(e)) => e,
                Err(_) => "child panicked".to_string(),
            };
            let mut w = std::fs::File::from(wr);
            let _ = w.write_all(msg.as_bytes());
            // SAFETY: _exit skips the parent's atexit handlers and destructors.
            unsafe { libc::_exit(i32::from(!msg.is_empty())) }
        }
        ForkResult::Parent { child } => {
            drop(wr);
            let mut msg = String::new();
            let _ = std::fs::File::from(rd).read_to_string(&mut msg);
            let status = waitpid(child, None).expect("waitpid");
            match (status, msg.is_empty()) {
                (WaitStatus::Exited(_, 0), true) => Ok(()),
                (_, false) => Err(msg),
                (s, true) => Err(format!("child ended with {s:?}")),
            }
        }
    }
}

/// A bundle dir with a busybox rootfs (`bundle/rootfs`).
struct Bundle {
    dir: tempfile::TempDir,
}

impl Bundle {
    fn new() -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("husk-rootfs-")
            .tempdir()
            .unwrap();
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "proc", "sys", "dev", "etc", "tmp"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy(busybox(), rootfs.join("bin/busybox")).unwrap();
        for applet in ["sh", "ls", "cat", "test", "touch"] {
            symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        std::fs::write(rootfs.join("marker"), "husk").unwrap();
        Bundle { dir }
    }

    fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs").canonicalize().unwrap()
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        assert_no_mounts_under(self.dir.path());
    }
}

fn busybox() -> &'static str {
    ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox missing: apt-get install -y busybox-static")
}

/// The runtime's own mount namespace must not see anything under `path`.
fn assert_no_mounts_under(path: &Path) {
    let path = path.canonicalize().unwrap_or(path.to_path_buf());
    let table = mounts::read_mountinfo().unwrap();
    let leaked: Vec<_> = table
        .iter()
        .filter(|m| m.mountpoint.starts_with(&path))
        .collect();
    assert!(leaked.is_empty(), "mounts leaked to the host: {leaked:?}");
}

/// `runc spec`'s default config (root.readonly true), or oci-spec's default.
fn default_spec() -> Spec {
    let dir = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("runc")
        .arg("spec")
        .current_dir(dir.path())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let mut spec = if ok {
        Spec::load(dir.path().join("config.json")).unwrap()
    } else {
        Spec::default()
    };
    let mut root = spec.root().clone().unwrap_or_default();
    root.set_readonly(Some(true));
    spec.set_root(Some(root));
    spec
}

fn mountinfo() -> Result<Vec<MountInfo>, String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?;
    Ok(parse_mountinfo(&text))
}

/// The top-most mount at `mp`.
fn mount_at(table: &[MountInfo], mp: &str) -> Result<MountInfo, String> {
    table
        .iter()
        .rev()
        .find(|m| m.mountpoint == Path::new(mp))
        .cloned()
        .ok_or_else(|| format!("no mount at {mp}"))
}

fn is_ro(m: &MountInfo) -> bool {
    m.mount_options.iter().any(|o| o == "ro")
}

fn ensure(cond: bool, what: impl FnOnce() -> String) -> Check {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

fn char_dev(path: &str, want: (u64, u64)) -> Check {
    let st = stat(path).map_err(|e| format!("stat {path}: {e}"))?;
    let got = (major(st.st_rdev), minor(st.st_rdev));
    ensure(
        st.st_mode & libc::S_IFMT == libc::S_IFCHR && got == want,
        || {
            format!(
                "{path}: mode {:o} rdev {got:?}, want char {want:?}",
                st.st_mode
            )
        },
    )
}

fn link_is(path: &str, target: &str) -> Check {
    let got = std::fs::read_link(path).map_err(|e| format!("readlink {path}: {e}"))?;
    ensure(got == Path::new(target), || {
        format!("{path} -> {got:?}, want {target}")
    })
}

fn run_all(spec: &Spec, rootfs: &Path, opts: &RootfsOptions) -> Check {
    prepare(spec, rootfs, opts, &[]).map_err(|e| format!("prepare: {e}"))?;
    enter(rootfs, opts).map_err(|e| format!("enter: {e}"))?;
    finish(spec, opts).map_err(|e| format!("finish: {e}"))
}

fn check_devices() -> Check {
    for (name, rdev) in [
        ("null", (1, 3)),
        ("zero", (1, 5)),
        ("full", (1, 7)),
        ("random", (1, 8)),
    ] {
        char_dev(&format!("/dev/{name}"), rdev)?;
    }
    char_dev("/dev/urandom", (1, 9))?;
    char_dev("/dev/tty", (5, 0))?;
    let mode = stat("/dev/null").map_err(|e| e.to_string())?.st_mode & 0o7777;
    ensure(mode == 0o666, || format!("/dev/null mode {mode:o}"))?;
    link_is("/dev/ptmx", "pts/ptmx")?;
    link_is("/dev/fd", "/proc/self/fd")?;
    link_is("/dev/stdin", "/proc/self/fd/0")?;
    link_is("/dev/stdout", "/proc/self/fd/1")?;
    link_is("/dev/stderr", "/proc/self/fd/2")?;
    if Path::new("/proc/kcore").exists() {
        link_is("/dev/core", "/proc/kcore")?;
    } else {
        ensure(lstat("/dev/core").is_err(), || {
            "/dev/core without /proc/kcore".into()
        })?;
    }
    Ok(())
}

fn check_default_mounts(table: &[MountInfo]) -> Check {
    ensure(is_ro(&mount_at(table, "/")?), || "/ is not ro".into())?;
    let err = std::fs::write("/newfile", "x")
        .err()
        .and_then(|e| e.raw_os_error());
    ensure(err == Some(libc::EROFS), || {
        format!("write to / gave {err:?}")
    })?;
    ensure(mount_at(table, "/proc")?.fstype == "proc", || {
        "/proc".into()
    })?;
    ensure(is_ro(&mount_at(table, "/proc/sys")?), || {
        "/proc/sys not ro".into()
    })?;
    ensure(is_ro(&mount_at(table, "/sys")?), || "/sys not ro".into())?;
    ensure(mount_at(table, "/dev/pts")?.fstype == "devpts", || {
        "/dev/pts".into()
    })?;
    ensure(mount_at(table, "/dev/shm")?.fstype == "tmpfs", || {
        "/dev/shm".into()
    })?;
    ensure(mount_at(table, "/dev/mqueue")?.fstype == "mqueue", || {
        "/dev/mqueue".into()
    })?;
    let cg = mount_at(table, "/sys/fs/cgroup")?;
    ensure(is_ro(&cg), || format!("/sys/fs/cgroup not ro: {cg:?}"))?;
    // Masked: files are binds of /dev/null, /proc/acpi (if any) an empty ro tmpfs;
    // /proc/kcore only exists on kernels built with it.
    char_dev("/proc/keys", (1, 3))?;
    char_dev("/proc/timer_list", (1, 3))?;
    if Path::new("/proc/kcore").exists() {
        char_dev("/proc/kcore", (1, 3))?;
    }
    if let Ok(acpi) = mount_at(table, "/proc/acpi") {
        ensure(acpi.fstype == "tmpfs" && is_ro(&acpi), || {
            format!("{acpi:?}")
        })?;
    }
    // Nothing of the old root remains.
    ensure(
        table.iter().all(|m| !m.mountpoint.starts_with("/tmp")),
        || "old root visible".into(),
    )
}

fn check_cgroup_v1() -> Check {
    let Ok(st) = nix::sys::statfs::statfs("/sys/fs/cgroup") else {
        return Err("statfs /sys/fs/cgroup".into());
    };
    if st.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC {
        return ensure(Path::new("/sys/fs/cgroup/cgroup.procs").exists(), || {
            "cgroup2".into()
        });
    }
    for sub in ["memory", "cpu", "pids", "systemd"] {
        let p = Path::new("/sys/fs/cgroup").join(sub);
        let n = std::fs::read_dir(&p).map(|d| d.count()).unwrap_or(0);
        ensure(n > 0, || format!("{} missing or empty", p.display()))?;
    }
    let procs =
        std::fs::read_to_string("/sys/fs/cgroup/memory/cgroup.procs").map_err(|e| e.to_string())?;
    let me = std::process::id().to_string();
    ensure(procs.lines().any(|l| l == me), || {
        "memory cgroup is not the own cgroup".into()
    })
}

fn busybox_works() -> Check {
    let out = std::process::Command::new("/bin/sh")
        .args([
            "-c",
            "cat /marker && ls /dev/pts/ptmx >/dev/null && ! touch /x 2>/dev/null",
        ])
        .output()
        .map_err(|e| format!("exec /bin/sh: {e}"))?;
    ensure(out.status.success() && out.stdout == b"husk", || {
        format!("busybox: {out:?}")
    })
}

#[test]
fn default_runc_spec_builds_a_working_container() {
    if !is_root() {
        return;
    }
    let bundle = Bundle::new();
    let rootfs = bundle.rootfs();
    let spec = default_spec();
    let res = in_child(|| {
        run_all(&spec, &rootfs, &RootfsOptions::default())?;
        let table = mountinfo()?;
        check_default_mounts(&table)?;
        check_devices()?;
        check_cgroup_v1()?;
        busybox_works()
    });
    res.unwrap();
}

#[test]
fn no_pivot_moves_root_and_hides_host_proc() {
    if !is_root() {
        return;
    }
    let bundle = Bundle::new();
    let rootfs = bundle.rootfs();
    let spec = default_spec();
    let opts = RootfsOptions {
        no_pivot: true,
        ..RootfsOptions::default()
    };
    in_child(|| {
        // Opened before: it keeps listing mounts relative to the old root.
        let mut before = std::fs::File::open("/proc/self/mountinfo").map_err(|e| e.to_string())?;
        let host_ids =
            proc_sys_mount_ids(&std::fs::read_to_string("/proc/self/mountinfo").unwrap());
        ensure(!host_ids.is_empty(), || "no host proc/sysfs mounts".into())?;
        run_all(&spec, &rootfs, &opts)?;
        ensure(Path::new("/marker").exists(), || "not in the rootfs".into())?;
        let mut all = String::new();
        before.read_to_string(&mut all).map_err(|e| e.to_string())?;
        let left: Vec<_> = all
            .lines()
            .filter(|l| {
                host_ids
                    .iter()
                    .any(|id| l.split(' ').next() == Some(id.as_str()))
            })
            .collect();
        ensure(left.is_empty(), || {
            format!("host proc/sys still reachable: {left:?}")
        })?;
        check_devices()?;
        busybox_works()
    })
    .unwrap();
}

#[test]
fn userns_mode_binds_host_device_nodes() {
    if !is_root() {
        return;
    }
    let bundle = Bundle::new();
    let rootfs = bundle.rootfs();
    let spec = default_spec();
    let opts = RootfsOptions {
        in_user_ns: true,
        ..RootfsOptions::default()
    };
    in_child(|| {
        run_all(&spec, &rootfs, &opts)?;
        let table = mountinfo()?;
        mount_at(&table, "/dev/null")?;
        mount_at(&table, "/dev/tty")?;
        check_devices()
    })
    .unwrap();
}

/// Identifies a mount across reads (ids alone are reused): id, parent, dev, root, point.
fn mount_key(line: &str) -> String {
    line.split(' ').take(5).collect::<Vec<_>>().join(" ")
}

/// Keys of the proc and sysfs mounts in a mountinfo text.
fn proc_sys_mount_ids(mountinfo: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter(|l| l.contains(" - proc ") || l.contains(" - sysfs "))
        .map(mount_key)
        .collect()
}

fn spec_with(mounts: Vec<oci_spec::runtime::Mount>, linux: oci_spec::runtime::Linux) -> Spec {
    SpecBuilder::default()
        .mounts(mounts)
        .linux(linux)
        .build()
        .unwrap()
}

fn tmpfs_at(dest: &str) -> oci_spec::runtime::Mount {
    MountBuilder::default()
        .destination(dest)
        .typ("tmpfs")
        .source("tmpfs")
        .build()
        .unwrap()
}

#[test]
fn hostile_symlinks_cannot_lead_mounts_out_of_the_rootfs() {
    if !is_root() {
        return;
    }
    let bundle = Bundle::new();
    let rootfs = bundle.rootfs();
    let host = tempfile::Builder::new()
        .prefix("husk-host-")
        .tempdir()
        .unwrap();
    let host_path = host.path().canonicalize().unwrap();
    symlink("/", rootfs.join("evil")).unwrap();
    let escape = format!("../../../../../../..{}", host_path.display());
    symlink(&escape, rootfs.join("a")).unwrap();
    symlink(host_path.join("dangling"), rootfs.join("dangle")).unwrap();
    let mounts = vec![
        tmpfs_at("/evil/hostile"),
        tmpfs_at("/a/sub"),
        tmpfs_at("/dangle/deeper"),
        tmpfs_at("/../../.././../escape"),
    ];
    let spec = spec_with(mounts, LinuxBuilder::default().build().unwrap());
    let (r, h) = (rootfs.clone(), host_path.clone());
    in_child(move || {
        prepare(&spec, &r, &RootfsOptions::default(), &[]).map_err(|e| format!("prepare: {e}"))?;
        let table = mountinfo()?;
        let inside = [
            r.join("hostile"),
            r.join(h.strip_prefix("/").unwrap()).join("sub"),
            r.join(h.strip_prefix("/").unwrap()).join("dangling/deeper"),
            r.join("escape"),
        ];
        for p in inside {
            ensure(table.iter().any(|m| m.mountpoint == p), || {
                format!("no mount at {}", p.display())
            })?;
        }
        let outside = table
            .iter()
            .find(|m| m.mountpoint.starts_with(&h) || m.mountpoint == Path::new("/hostile"));
        ensure(outside.is_none(), || format!("mount escaped: {outside:?}"))
    })
    .unwrap();
    let entries: Vec<_> = std::fs::read_dir(&host_path).unwrap().collect();
    assert!(entries.is_empty(), "host dir touched: {entries:?}");
    assert!(!Path::new("/hostile").exists() && !Path::new("/escape").exists());
}

#[test]
fn bind_mounts_file_dir_readonly_and_missing_source() {
    if !is_root() {
        return;
    }
    let bundle = Bundle::new();
    let rootfs = bundle.rootfs();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("file"), "from-host").unwrap();
    let bind = |s: &Path, d: &str, ro: bool| {
        let mut o = vec!["rbind".to_string()];
        if ro {
            o.push("ro".into());
        }
        MountBuilder::default()
            .destination(d)
            .typ("bind")
            .source(s)
            .options(o)
            .build()
            .unwrap()
    };
    let proc = MountBuilder::default()
        .destination("/proc")
        .typ("proc")
        .source("proc")
        .build()
        .unwrap();
    let mounts = vec![
        proc,
        bind(&src.path().join("file"), "/etc/deep/hostfile", true),
        bind(src.path(), "/data", false),
    ];
    let spec = spec_with(mounts, LinuxBuilder::default().build().unwrap());
    in_child(|| {
        run_all(&spec, &rootfs, &RootfsOptions::default())?;
        let table = mountinfo()?;
        ensure(is_ro(&mount_at(&table, "/etc/deep/hostfile")?), || {
            "file bind not ro".into()
        })?;
        ensure(!is_ro(&mount_at(&table, "/data")?), || "/data is ro".into())?;
        let got = std::fs::read_to_string("/etc/deep/hostfile").map_err(|e| e.to_string())?;
        ensure(got == "from-host", || got.clone())?;
        let err = std::fs::write("/etc/deep/hostfile", "x")
            .err()
            .and_then(|e| e.raw_os_error());
        ensure(err == Some(libc::EROFS), || format!("write gave {err:?}"))?;
        std::fs::write("/data/new", "rw").map_err(|e| format!("write /data/new: {e}"))
    })
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(src.path().join("new")).unwrap(),
        "rw"
    );

    let bad = MountBuilder::default()
        .destination("/data")
        .typ("bind")
        .source("/nope")
        .options(vec!["bind".to_string()])
        .build()
        .unwrap();
    let spec = spec_with(vec![bad], LinuxBuilder::default().build().unwrap());
    let err = in_child(|| {
        prepare(&spec, &rootfs, &RootfsOptions::default(), &[]).map_err(|e| e.to_string())
    });
    assert_eq!(
        err.unwrap_err(),
        "mounts[0] /data: bind source /nope: No such file or directory"
    );
}

#[test]
fn linux_devices_are_created_as_configured() {
    if !is_root() {
        return;
    }
    let bundle = Bundle::new();
    let rootfs = bundle.rootfs();
    let dev = |p: &str, t, maj, min| {
        LinuxDeviceBuilder::default()
            .path(p)
            .typ(t)
            .major(maj)
            .minor(min)
    };
    let devices = vec![
        dev("/dev/null", LinuxDeviceType::C, 1, 3)
            .file_mode(0o600u32)
            .uid(1000u32)
            .gid(1000u32)
            .build()
            .unwrap(),
        dev("/dev/fuse", LinuxDeviceType::C, 10, 229)
            .build()
            .unwrap(),
        dev("/dev/sub/loopx", LinuxDeviceType::B, 7, 200)
            .file_mode(0o640u32)
            .build()
            .unwrap(),
        dev("/dev/fifo", LinuxDeviceType::P, 0, 0).build().unwrap(),
    ];
    let mounts = vec![MountBuilder::default()
        .destination("/dev")
        .typ("tmpfs")
        .source("tmpfs")
        .options(vec!["nosuid".to_string(), "mode=755".to_string()])
        .build()
        .unwrap()];
    let spec = spec_with(
        mounts,
        LinuxBuilder::default().devices(devices).build().unwrap(),
    );
    in_child(|| {
        prepare(&spec, &rootfs, &RootfsOptions::default(), &[]).map_err(|e| e.to_string())?;
        enter(&rootfs, &RootfsOptions::default()).map_err(|e| e.to_string())?;
        let st = lstat("/dev/null").map_err(|e| e.to_string())?;
        ensure(
            st.st_mode & 0o7777 == 0o600 && st.st_uid == 1000 && st.st_gid == 1000,
            || format!("/dev/null {:o} {}:{}", st.st_mode, st.st_uid, st.st_gid),
        )?;
        char_dev("/dev/null", (1, 3))?;
        char_dev("/dev/fuse", (10, 229))?;
        char_dev("/dev/zero", (1, 5))?;
        let st = lstat("/dev/sub/loopx").map_err(|e| e.to_string())?;
        ensure(
            st.st_mode & libc::S_IFMT == libc::S_IFBLK && st.st_mode & 0o7777 == 0o640,
            || format!("loopx {:o}", st.st_mode),
        )?;
        let st = lstat("/dev/fifo").map_err(|e| e.to_string())?;
        ensure(st.st_mode & libc::S_IFMT == libc::S_IFIFO, || {
            format!("fifo {:o}", st.st_mode)
        })
    })
    .unwrap();
}

#[test]
fn cgroup_namespace_mounts_fresh_hierarchies() {
    if !is_root() {
        return;
    }
    let bundle = Bundle::new();
    let rootfs = bundle.rootfs();
    let spec = default_spec();
    let opts = RootfsOptions {
        cgroup_ns: true,
        ..RootfsOptions::default()
    };
    in_child(|| {
        unshare(CloneFlags::CLONE_NEWCGROUP).map_err(|e| format!("unshare cgroup: {e}"))?;
        run_all(&spec, &rootfs, &opts)?;
        let table = mountinfo()?;
        let cgroups: Vec<_> = table
            .iter()
            .filter(|m| m.fstype.starts_with("cgroup"))
            .collect();
        ensure(!cgroups.is_empty(), || "no cgroup mounts".into())?;
        // In its own cgroup namespace the process's cgroup is the hierarchy's root.
        ensure(
            cgroups.iter().all(|m| m.root == Path::new("/") && is_ro(m)),
            || format!("{cgroups:?}"),
        )?;
        check_cgroup_v1()
    })
    .unwrap();
}

#[test]
fn shared_rootfs_propagation_is_reapplied_to_the_new_root() {
    if !is_root() {
        return;
    }
    let bundle = Bundle::new();
    let rootfs = bundle.rootfs();
    let mut spec = default_spec();
    let mut linux = spec.linux().clone().unwrap_or_default();
    linux.set_rootfs_propagation(Some("rshared".into()));
    spec.set_linux(Some(linux));
    in_child(|| {
        run_all(&spec, &rootfs, &RootfsOptions::default())?;
        let root = mount_at(&mountinfo()?, "/")?;
        ensure(
            root.optional.iter().any(|o| o.starts_with("shared:")),
            || format!("{root:?}"),
        )
    })
    .unwrap();
    let mut spec = default_spec();
    let mut linux = spec.linux().clone().unwrap_or_default();
    linux.set_rootfs_propagation(Some("sideways".into()));
    spec.set_linux(Some(linux));
    let err = in_child(|| {
        prepare(&spec, &rootfs, &RootfsOptions::default(), &[]).map_err(|e| e.to_string())
    });
    assert_eq!(
        err.unwrap_err(),
        "linux.rootfsPropagation: unknown propagation \"sideways\""
    );
}
