//! The `cgroup` mount type: cgroup2 on a unified host; on a v1/hybrid host a tmpfs
//! with one subdirectory per hierarchy (bound from the host, or mounted fresh with a
//! cgroup namespace). Also the pure /proc/self/cgroup + mountinfo matcher.

use crate::linux::mount_options::{parse_options, MountOptions};
use crate::linux::mounts::{
    fd_path, mount_bind, mount_fs, parse_mountinfo, read_to_string, relative, sys_err, Entry,
    MountContext, MountError, MountInfo,
};
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use std::ffi::OsStr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// One cgroup hierarchy of the host as this process sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Controllers as in /proc/self/cgroup (`cpu,cpuacct`, `name=systemd`; empty for v2).
    pub controllers: String,
    /// Where the host mounts it (`/sys/fs/cgroup/cpu`).
    pub mountpoint: PathBuf,
    /// This process's cgroup directory on the host (`/sys/fs/cgroup/cpu/a/b`).
    pub own_dir: PathBuf,
}

/// `cgroup` mounts: cgroup2 on a unified host; on a v1/hybrid host a tmpfs with one
/// subdirectory per hierarchy (the own cgroup bound in, or with a cgroup namespace
/// the hierarchy mounted fresh), made read-only afterwards if the mount is `ro`.
pub(crate) fn mount_cgroup(e: &Entry, ctx: &MountContext) -> Result<(), MountError> {
    let st = nix::sys::statfs::statfs(CGROUP_ROOT)
        .map_err(sys_err(&e.field, "statfs /sys/fs/cgroup"))?;
    if st.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC {
        return mount_cgroup2(e, ctx, Path::new(CGROUP_ROOT));
    }
    let hierarchies = host_hierarchies().map_err(sys_err(&e.field, "read host cgroups"))?;
    let tmpfs = Entry {
        index: e.index,
        field: e.field.clone(),
        dest: e.dest,
        typ: "tmpfs",
        source: Some(Path::new("tmpfs")),
        opts: parse_options(&["nosuid", "nodev", "noexec", "mode=755"]),
    };
    mount_fs(&tmpfs, ctx)?;
    for h in &hierarchies {
        mount_hierarchy(e, ctx, h)?;
    }
    if e.opts.flags.contains(MsFlags::MS_RDONLY) {
        let target = ctx
            .root
            .open_path(e.dest, true)
            .map_err(sys_err(&e.field, "reopen destination"))?;
        let flags = tmpfs.opts.flags | MsFlags::MS_RDONLY | MsFlags::MS_REMOUNT;
        mount(
            None::<&str>,
            &fd_path(&target),
            None::<&str>,
            flags,
            None::<&str>,
        )
        .map_err(sys_err(&e.field, "remount cgroup tmpfs read-only"))?;
    }
    Ok(())
}

/// One v1 hierarchy (or the hybrid cgroup2) under the cgroup tmpfs.
fn mount_hierarchy(e: &Entry, ctx: &MountContext, h: &Hierarchy) -> Result<(), MountError> {
    let name = h.mountpoint.file_name().unwrap_or(OsStr::new("unified"));
    let dest = e.dest.join(name);
    let sub = Entry {
        index: e.index,
        field: e.field.clone(),
        dest: &dest,
        typ: "cgroup",
        source: Some(Path::new("cgroup")),
        opts: MountOptions {
            flags: e.opts.flags & !MsFlags::MS_REMOUNT,
            data: h.controllers.clone(),
            ..MountOptions::default()
        },
    };
    if h.controllers.is_empty() {
        return mount_cgroup2(&sub, ctx, &h.own_dir);
    }
    if ctx.cgroup_ns {
        mount_fs(&sub, ctx)?;
    } else {
        let bind = Entry {
            source: Some(&h.own_dir),
            opts: MountOptions {
                flags: sub.opts.flags | MsFlags::MS_BIND | MsFlags::MS_REC,
                ..MountOptions::default()
            },
            ..sub
        };
        mount_bind(&bind, ctx)?;
    }
    comount_symlinks(e, ctx, name)
}

/// `cpu,cpuacct` gets `cpu -> cpu,cpuacct` and `cpuacct -> cpu,cpuacct` links.
fn comount_symlinks(e: &Entry, ctx: &MountContext, name: &OsStr) -> Result<(), MountError> {
    let name_str = name.to_string_lossy();
    if !name_str.contains(',') {
        return Ok(());
    }
    let dir = ctx
        .root
        .open_path(e.dest, true)
        .map_err(sys_err(&e.field, "reopen destination"))?;
    for part in name_str.split(',') {
        match nix::unistd::symlinkat(name, Some(dir.as_raw_fd()), part) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(err) => return Err(sys_err(&e.field, format!("symlink {part}"))(err)),
        }
    }
    Ok(())
}

/// With a cgroup namespace, cgroup2 at the destination (its root is the
/// container's cgroup). Without one, a fresh cgroup2 mount would show the host's
/// whole hierarchy: bind `own_dir`, the process's cgroup, instead (as runc), which is
/// also the fallback when the mount is refused (EPERM/EBUSY in a user namespace).
fn mount_cgroup2(e: &Entry, ctx: &MountContext, own_dir: &Path) -> Result<(), MountError> {
    let v2 = Entry {
        index: e.index,
        field: e.field.clone(),
        dest: e.dest,
        typ: "cgroup2",
        source: Some(Path::new("cgroup2")),
        opts: MountOptions {
            flags: e.opts.flags,
            ..MountOptions::default()
        },
    };
    if ctx.cgroup_ns {
        match mount_fs(&v2, ctx) {
            Err(err) if matches!(err.errno(), Some(Errno::EPERM | Errno::EBUSY)) => {}
            other => return other,
        }
    }
    let own_dir = if own_dir == Path::new(CGROUP_ROOT) {
        own_v2_dir().map_err(sys_err(&e.field, "read /proc/self/cgroup"))?
    } else {
        own_dir.to_path_buf()
    };
    let bind = Entry {
        typ: "bind",
        source: Some(&own_dir),
        opts: MountOptions {
            flags: e.opts.flags | MsFlags::MS_BIND | MsFlags::MS_REC,
            ..MountOptions::default()
        },
        ..v2
    };
    mount_bind(&bind, ctx)
}

/// The process's cgroup directory in a unified (v2) host hierarchy.
fn own_v2_dir() -> Result<PathBuf, Errno> {
    let cgroups = read_to_string("/proc/self/cgroup")?;
    let path = parse_proc_cgroup(&cgroups)
        .into_iter()
        .find(|(ctrl, _)| ctrl.is_empty())
        .map(|(_, p)| p)
        .ok_or(Errno::ENOENT)?;
    Ok(Path::new(CGROUP_ROOT).join(relative(Path::new(&path))))
}

/// Host hierarchies from /proc/self/cgroup matched with /proc/self/mountinfo.
fn host_hierarchies() -> Result<Vec<Hierarchy>, Errno> {
    let cgroups = read_to_string("/proc/self/cgroup")?;
    let mounts = parse_mountinfo(&read_to_string("/proc/self/mountinfo")?);
    Ok(hierarchies_from(&cgroups, &mounts))
}

/// Pure matcher: each `id:controllers:path` line of /proc/self/cgroup is paired with
/// the mount of that hierarchy (preferring one under /sys/fs/cgroup).
pub fn hierarchies_from(proc_cgroup: &str, mounts: &[MountInfo]) -> Vec<Hierarchy> {
    let mut out = Vec::new();
    for (controllers, path) in parse_proc_cgroup(proc_cgroup) {
        let wanted: Vec<&str> = controllers.split(',').filter(|c| !c.is_empty()).collect();
        let is_match = |m: &&MountInfo| {
            if wanted.is_empty() {
                m.fstype == "cgroup2"
            } else {
                m.fstype == "cgroup"
                    && wanted
                        .iter()
                        .all(|w| m.super_options.iter().any(|o| o == w))
            }
        };
        let under_root = |m: &&MountInfo| m.mountpoint.starts_with(CGROUP_ROOT);
        let found = mounts
            .iter()
            .filter(is_match)
            .find(under_root)
            .or_else(|| mounts.iter().find(is_match));
        let Some(m) = found else { continue };
        let rel = Path::new(&path)
            .strip_prefix(&m.root)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        out.push(Hierarchy {
            controllers: controllers.clone(),
            mountpoint: m.mountpoint.clone(),
            own_dir: m.mountpoint.join(relative(&rel)).components().collect(),
        });
    }
    out
}

/// `id:controllers:path` lines -> (controllers, path).
fn parse_proc_cgroup(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, ctrl, path) = (it.next()?, it.next()?, it.next()?);
            Some((ctrl.to_string(), path.to_string()))
        })
        .collect()
}
