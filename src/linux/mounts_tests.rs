//! Unit tests for the pure parts of `mounts`: option parsing, mountinfo and
//! /proc/self/cgroup parsing. No root needed.

use super::*;

fn flags(opts: &[&str]) -> MsFlags {
    parse_options(opts).flags
}

#[test]
fn parse_options_default_runc_mounts() {
    let o = parse_options(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
    assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
    assert_eq!(o.data, "mode=755,size=65536k");
    assert!(o.propagation.is_empty());

    let o = parse_options(&[
        "nosuid",
        "noexec",
        "newinstance",
        "ptmxmode=0666",
        "mode=0620",
        "gid=5",
    ]);
    assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC);
    assert_eq!(o.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");

    let o = parse_options(&["nosuid", "noexec", "nodev", "relatime", "ro"]);
    assert_eq!(
        o.flags,
        MsFlags::MS_NOSUID
            | MsFlags::MS_NOEXEC
            | MsFlags::MS_NODEV
            | MsFlags::MS_RELATIME
            | MsFlags::MS_RDONLY
    );
    assert_eq!(o.data, "");
}

#[test]
fn parse_options_later_option_wins() {
    assert_eq!(flags(&["ro", "rw"]), MsFlags::empty());
    assert_eq!(flags(&["rw", "ro"]), MsFlags::MS_RDONLY);
    assert_eq!(flags(&["nosuid", "suid"]), MsFlags::empty());
    assert_eq!(flags(&["nodev", "dev", "noexec", "exec"]), MsFlags::empty());
    assert_eq!(flags(&["noatime", "atime"]), MsFlags::empty());
    assert_eq!(flags(&["nodiratime", "diratime"]), MsFlags::empty());
    assert_eq!(flags(&["relatime", "norelatime"]), MsFlags::empty());
    assert_eq!(flags(&["strictatime", "nostrictatime"]), MsFlags::empty());
    assert_eq!(flags(&["sync", "async"]), MsFlags::empty());
    assert_eq!(flags(&["mand", "nomand"]), MsFlags::empty());
    assert_eq!(flags(&["nosymfollow", "symfollow"]), MsFlags::empty());
    assert_eq!(flags(&["lazytime", "nolazytime"]), MsFlags::empty());
}

#[test]
fn parse_options_every_flag() {
    let all = [
        ("ro", MsFlags::MS_RDONLY),
        ("nosuid", MsFlags::MS_NOSUID),
        ("nodev", MsFlags::MS_NODEV),
        ("noexec", MsFlags::MS_NOEXEC),
        ("sync", MsFlags::MS_SYNCHRONOUS),
        ("dirsync", MsFlags::MS_DIRSYNC),
        ("remount", MsFlags::MS_REMOUNT),
        ("mand", MsFlags::MS_MANDLOCK),
        ("noatime", MsFlags::MS_NOATIME),
        ("nodiratime", MsFlags::MS_NODIRATIME),
        ("relatime", MsFlags::MS_RELATIME),
        ("strictatime", MsFlags::MS_STRICTATIME),
        ("nosymfollow", MsFlags::from_bits_retain(256)),
        ("lazytime", MsFlags::MS_LAZYTIME),
        ("bind", MsFlags::MS_BIND),
        ("rbind", MsFlags::MS_BIND | MsFlags::MS_REC),
        ("defaults", MsFlags::empty()),
    ];
    for (opt, want) in all {
        assert_eq!(flags(&[opt]), want, "{opt}");
        assert_eq!(parse_options(&[opt]).data, "", "{opt}");
    }
}

#[test]
fn parse_options_recursive_attributes() {
    use crate::linux::mount_options::{attr, RecAttr};
    let rec = |opts: &[&str]| parse_options(opts).rec_attr;
    let o = parse_options(&[
        "rbind",
        "rro",
        "rnosuid",
        "rnodev",
        "rnoexec",
        "rnosymfollow",
    ]);
    assert_eq!(
        o.flags,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        "no mount(2) flags"
    );
    assert_eq!(o.data, "", "not filesystem data");
    let set = attr::RDONLY | attr::NOSUID | attr::NODEV | attr::NOEXEC | attr::NOSYMFOLLOW;
    assert_eq!(o.rec_attr, RecAttr { set, clr: 0 });
    // A later clearing option wins, and the other way round.
    assert_eq!(
        rec(&["rro", "rrw"]),
        RecAttr {
            set: 0,
            clr: attr::RDONLY
        }
    );
    assert_eq!(
        rec(&["rdev", "rnodev"]),
        RecAttr {
            set: attr::NODEV,
            clr: 0
        }
    );
    assert_eq!(rec(&["rnodiratime", "rdiratime"]).clr, attr::NODIRATIME);
    // Atime is one field: cleared as a whole, one value set, the last one wins.
    let atime = |v| RecAttr {
        set: v,
        clr: attr::ATIME_MASK,
    };
    assert_eq!(rec(&["rnoatime"]), atime(attr::NOATIME));
    assert_eq!(rec(&["rnoatime", "rstrictatime"]), atime(attr::STRICTATIME));
    for o in ["rrelatime", "ratime", "rnorelatime", "rnostrictatime"] {
        assert_eq!(rec(&["rstrictatime", o]), atime(attr::RELATIME), "{o}");
    }
    assert!(
        rec(&["ro", "nosuid"]).is_empty(),
        "plain flags are not recursive"
    );
}

#[test]
fn parse_options_idmap() {
    assert_eq!(parse_options(&["bind"]).idmap, None);
    assert_eq!(parse_options(&["bind", "idmap"]).idmap, Some(false));
    assert_eq!(parse_options(&["rbind", "ridmap"]).idmap, Some(true));
    assert_eq!(parse_options(&["ridmap"]).data, "");
}

#[test]
fn parse_options_propagation_kept_in_order() {
    let o = parse_options(&["rbind", "rslave", "ro", "private", "unbindable"]);
    assert_eq!(
        o.flags,
        MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY
    );
    assert_eq!(
        o.propagation,
        vec![
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            MsFlags::MS_PRIVATE,
            MsFlags::MS_UNBINDABLE
        ]
    );
    for (opt, want) in [
        ("shared", MsFlags::MS_SHARED),
        ("rshared", MsFlags::MS_SHARED | MsFlags::MS_REC),
        ("slave", MsFlags::MS_SLAVE),
        ("rprivate", MsFlags::MS_PRIVATE | MsFlags::MS_REC),
        ("runbindable", MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
    ] {
        assert_eq!(parse_options(&[opt]).propagation, vec![want]);
        assert_eq!(propagation_flags(opt), Some(want));
    }
    assert_eq!(propagation_flags("bogus"), None);
}

#[test]
fn parse_options_unknown_is_data_and_empty_skipped() {
    let o = parse_options(&["", "size=1m", "uid=1000", "ro", "x-foo"]);
    assert_eq!(o.flags, MsFlags::MS_RDONLY);
    assert_eq!(o.data, "size=1m,uid=1000,x-foo");
    let none: [&str; 0] = [];
    assert_eq!(parse_options(&none), MountOptions::default());
}

#[test]
fn relative_and_components_clamp_dotdot() {
    assert_eq!(relative(Path::new("/")), PathBuf::from("."));
    assert_eq!(relative(Path::new("/a/b/")), PathBuf::from("a/b"));
    assert_eq!(relative(Path::new("/../../etc")), PathBuf::from("etc"));
    assert_eq!(relative(Path::new("a/./b/../c")), PathBuf::from("a/c"));
    assert!(is_dev(Path::new("/dev")));
    assert!(is_dev(Path::new("/dev/")));
    assert!(!is_dev(Path::new("/dev/pts")));
}

const MOUNTINFO: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:25 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:26 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
33 30 0:28 /sub /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
34 30 0:29 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
35 30 0:30 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
36 22 0:31 / /mnt/with\\040space rw master:4 shared:7 - tmpfs none rw
";

#[test]
fn mountinfo_parses_fields_and_escapes() {
    let m = parse_mountinfo(MOUNTINFO);
    assert_eq!(m.len(), 8);
    assert_eq!(m[0].mountpoint, PathBuf::from("/"));
    assert_eq!(m[0].optional, vec!["shared:1".to_string()]);
    assert_eq!(m[0].fstype, "ext4");
    assert_eq!(m[2].super_options, vec!["rw", "cpu"]);
    assert_eq!(m[4].root, PathBuf::from("/sub"));
    assert_eq!(m[7].mountpoint, PathBuf::from("/mnt/with space"));
    assert_eq!(m[7].optional, vec!["master:4", "shared:7"]);
}

#[test]
fn hierarchies_match_controllers_and_mount_root() {
    let cg = "5:name=systemd:/a\n4:memory:/sub/x/y\n2:cpu,cpuacct:/a/b\n0::/u\n";
    let h = hierarchies_from(cg, &parse_mountinfo(MOUNTINFO));
    let dirs: Vec<_> = h
        .iter()
        .map(|h| (h.controllers.as_str(), h.own_dir.clone()))
        .collect();
    assert_eq!(
        dirs,
        vec![
            ("name=systemd", PathBuf::from("/sys/fs/cgroup/systemd/a")),
            ("memory", PathBuf::from("/sys/fs/cgroup/memory/x/y")),
            (
                "cpu,cpuacct",
                PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/a/b")
            ),
            ("", PathBuf::from("/sys/fs/cgroup/unified/u")),
        ]
    );
}

#[test]
fn error_messages_name_field_step_and_errno() {
    let e = sys_err("mounts[3] /data", "bind source /nope")(Errno::ENOENT);
    assert_eq!(
        e.to_string(),
        "mounts[3] /data: bind source /nope: No such file or directory"
    );
    assert_eq!(e.errno(), Some(Errno::ENOENT));
}

/// The openat2 fallback resolves like RESOLVE_IN_ROOT: symlinks (absolute and
/// relative) and `..` stay inside the root, loops fail with ELOOP.
#[test]
fn walk_in_root_stays_inside() {
    use std::os::unix::fs::{symlink, MetadataExt};
    let dir = tempfile::tempdir().unwrap();
    let root_path = dir.path().join("root");
    std::fs::create_dir_all(root_path.join("etc/sub")).unwrap();
    std::fs::write(root_path.join("etc/passwd"), "inside").unwrap();
    std::fs::write(dir.path().join("outside"), "outside").unwrap();
    symlink("/etc", root_path.join("abs")).unwrap();
    symlink("../../../../etc", root_path.join("etc/sub/up")).unwrap();
    symlink("../outside", root_path.join("rel-out")).unwrap();
    symlink("loop", root_path.join("loop")).unwrap();
    symlink("passwd", root_path.join("etc/link-to-file")).unwrap();
    let root = Root::open(&root_path).unwrap();
    let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
    let walked = |p: &str, f: OFlag| {
        walk_in_root(
            root.fd(),
            Path::new(p),
            f | OFlag::O_PATH | OFlag::O_CLOEXEC,
        )
        .map(|fd| nix::sys::stat::fstat(fd.as_raw_fd()).unwrap().st_ino)
    };
    let etc = ino(&root_path.join("etc"));
    let passwd = ino(&root_path.join("etc/passwd"));
    assert_eq!(walked("abs", OFlag::O_DIRECTORY), Ok(etc));
    assert_eq!(walked("/abs/passwd", OFlag::empty()), Ok(passwd));
    assert_eq!(walked("etc/sub/up/passwd", OFlag::empty()), Ok(passwd));
    assert_eq!(
        walked("../../etc/../etc/passwd", OFlag::empty()),
        Ok(passwd)
    );
    assert_eq!(walked("etc/link-to-file", OFlag::empty()), Ok(passwd));
    assert_eq!(walked("", OFlag::O_DIRECTORY), Ok(ino(&root_path)));
    // ../outside is clamped to <root>/outside, which does not exist.
    assert_eq!(walked("rel-out", OFlag::empty()), Err(Errno::ENOENT));
    assert_eq!(walked("loop", OFlag::empty()), Err(Errno::ELOOP));
    assert_eq!(walked("etc/passwd/x", OFlag::empty()), Err(Errno::ENOTDIR));
    assert_eq!(
        walked("etc/passwd", OFlag::O_DIRECTORY),
        Err(Errno::ENOTDIR)
    );
    // The same answers as openat2 where the kernel has it.
    for p in ["abs", "etc/sub/up", "../../etc"] {
        let f = OFlag::O_PATH | OFlag::O_CLOEXEC;
        let a = openat2_in_root(root.fd(), Path::new(p), f).unwrap();
        let a = nix::sys::stat::fstat(a.as_raw_fd()).unwrap().st_ino;
        assert_eq!(walked(p, OFlag::empty()), Ok(a), "{p}");
    }
}

#[test]
fn tmpfs_without_mode_takes_the_covered_directorys_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let covered = dir.path().join("d");
    std::fs::create_dir(&covered).unwrap();
    std::fs::set_permissions(&covered, std::fs::Permissions::from_mode(0o1750)).unwrap();
    let fd = std::fs::File::open(&covered).unwrap();
    assert_eq!(tmpfs_data("", fd.as_fd()).unwrap(), "mode=1750");
    assert_eq!(
        tmpfs_data("size=1m", fd.as_fd()).unwrap(),
        "size=1m,mode=1750"
    );
    assert_eq!(
        tmpfs_data("mode=700,size=1m", fd.as_fd()).unwrap(),
        "mode=700,size=1m"
    );
}
