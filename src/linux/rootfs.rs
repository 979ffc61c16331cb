//! The container's root filesystem: propagation, the rootfs self-bind, the spec's
//! mounts (via `mounts`), /dev (via `devices`), pivot_root or MS_MOVE+chroot, masked
//! and read-only paths, and `root.readonly`.
//!
//! Called from the container init (process/init.rs), in the container's new mount
//! namespace, in this order: `prepare` -> `enter` -> (sysctl) -> `finish`.

use crate::linux::devices;
use crate::linux::mounts::{self, bind_remount, sys_err, MountContext, MountError, Root};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use oci_spec::runtime::Spec;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// What init knows about the container that changes how the rootfs is built.
#[derive(Debug, Clone, Copy, Default)]
pub struct RootfsOptions {
    /// The process is in a user namespace other than the host's (created or joined):
    /// devices are bind-mounted from the host instead of mknod'ed.
    pub in_user_ns: bool,
    /// The container has a network namespace of its own (sysfs may be mounted).
    pub new_net_ns: bool,
    /// The container has a cgroup namespace (cgroup mounts show its own cgroup as root).
    pub cgroup_ns: bool,
    /// `--no-pivot`: MS_MOVE + chroot instead of pivot_root.
    pub no_pivot: bool,
}

/// A failed rootfs step; the message names the spec field, the step and the OS error,
/// e.g. `mounts[3] /data: bind source /nope: No such file or directory`.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// A mount, device or path step (`mounts[i]`, `linux.devices[i]`, masked paths...).
    #[error(transparent)]
    Mount(#[from] MountError),
}

impl RootfsError {
    /// The OS error behind this failure, if any.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            RootfsError::Mount(e) => e.errno(),
        }
    }
}

const ROOT_PATH: &str = "root.path";
const PROPAGATION: &str = "linux.rootfsPropagation";

/// `linux.rootfsPropagation` as flags; `None` when unset.
fn rootfs_propagation(spec: &Spec) -> Result<Option<MsFlags>, RootfsError> {
    let Some(p) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().clone())
    else {
        return Ok(None);
    };
    match mounts::propagation_flags(&p) {
        Some(f) => Ok(Some(f)),
        None => Err(MountError::Invalid {
            field: PROPAGATION.into(),
            reason: format!("unknown propagation {p:?}"),
        }
        .into()),
    }
}

/// Before the pivot: rootfs propagation, bind the rootfs onto itself, every
/// `mounts[]` entry in order, default devices, `linux.devices`, /dev symlinks.
/// `detached` holds the bind trees the parent made (by mount index) for a
/// container with a user namespace (`mounts::prepare_detached`).
pub fn prepare(
    spec: &Spec,
    rootfs: &Path,
    opts: &RootfsOptions,
    detached: &[(usize, OwnedFd)],
) -> Result<(), RootfsError> {
    // An unbindable tree could not be bound onto itself: keep it private until the
    // pivot and make it unbindable in `finish`.
    let prop = match rootfs_propagation(spec)? {
        Some(p) if p.contains(MsFlags::MS_UNBINDABLE) => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        Some(p) => p,
        None => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    };
    mount(None::<&str>, "/", None::<&str>, prop, None::<&str>)
        .map_err(sys_err(PROPAGATION, "set propagation of /"))?;
    make_parent_private(rootfs)?;
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(Some(rootfs), rootfs, None::<&str>, flags, None::<&str>)
        .map_err(sys_err(ROOT_PATH, "bind rootfs onto itself"))?;
    let root = Root::open(rootfs).map_err(sys_err(ROOT_PATH, "open rootfs"))?;
    let ctx = MountContext {
        root: &root,
        in_user_ns: opts.in_user_ns,
        new_net_ns: opts.new_net_ns,
        cgroup_ns: opts.cgroup_ns,
        detached,
    };
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        mounts::mount_entry(i, m, &ctx)?;
    }
    devices::setup_dev(spec, &root, opts.in_user_ns)?;
    Ok(())
}

/// The mount that contains `path`: the entry with the longest mount point that is an
/// ancestor of it (the last one wins when mounts are stacked).
fn containing_mount(path: &Path, table: &[mounts::MountInfo]) -> Option<mounts::MountInfo> {
    table
        .iter()
        .filter(|m| path.starts_with(&m.mountpoint))
        .fold(None::<&mounts::MountInfo>, |best, m| match best {
            Some(b) if b.mountpoint.as_os_str().len() > m.mountpoint.as_os_str().len() => Some(b),
            _ => Some(m),
        })
        .cloned()
}

/// pivot_root and MS_MOVE refuse a rootfs whose parent mount is shared, and the
/// self-bind would propagate out of the container: make that mount private.
fn make_parent_private(rootfs: &Path) -> Result<(), RootfsError> {
    let table = mounts::read_mountinfo().map_err(sys_err(ROOT_PATH, "read mountinfo"))?;
    let Some(parent) = containing_mount(rootfs, &table) else {
        return Ok(());
    };
    if !parent.optional.iter().any(|o| o.starts_with("shared:")) {
        return Ok(());
    }
    let step = format!("make parent mount {} private", parent.mountpoint.display());
    mount(
        None::<&str>,
        &parent.mountpoint,
        None::<&str>,
        MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(sys_err(ROOT_PATH, step))?;
    Ok(())
}

/// Make `rootfs` the process's `/`: pivot_root (old root detached), or with
/// `no_pivot` MS_MOVE + chroot. Leaves the cwd at the new `/`.
pub fn enter(rootfs: &Path, opts: &RootfsOptions) -> Result<(), RootfsError> {
    if opts.no_pivot {
        move_root(rootfs)
    } else {
        pivot(rootfs)
    }
}

fn open_dir(path: &Path) -> Result<OwnedFd, Errno> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let fd: RawFd = nix::fcntl::open(path, flags, Mode::empty())?;
    // SAFETY: open returned a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// pivot_root(".", "."): the old root ends up stacked on the new one, is made a
/// recursive slave (so the unmount does not propagate to the host) and detached.
fn pivot(rootfs: &Path) -> Result<(), RootfsError> {
    let step = |s: &'static str| sys_err(ROOT_PATH, s);
    let old = open_dir(Path::new("/")).map_err(step("open old root"))?;
    let new = open_dir(rootfs).map_err(step("open rootfs"))?;
    nix::unistd::fchdir(new.as_raw_fd()).map_err(step("chdir rootfs"))?;
    nix::unistd::pivot_root(".", ".").map_err(step("pivot_root"))?;
    nix::unistd::fchdir(old.as_raw_fd()).map_err(step("chdir old root"))?;
    let slave = MsFlags::MS_SLAVE | MsFlags::MS_REC;
    mount(None::<&str>, ".", None::<&str>, slave, None::<&str>)
        .map_err(step("make old root rslave"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(step("detach old root"))?;
    nix::unistd::chdir("/").map_err(step("chdir /"))?;
    Ok(())
}

/// `--no-pivot`: hide the host's proc and sysfs mounts outside the rootfs (unmount,
/// or cover with an empty read-only tmpfs), then MS_MOVE the rootfs onto `/` and
/// chroot into it.
fn move_root(rootfs: &Path) -> Result<(), RootfsError> {
    hide_host_proc_sys(rootfs)?;
    let step = |s: &'static str| sys_err(ROOT_PATH, s);
    nix::unistd::chdir(rootfs).map_err(step("chdir rootfs"))?;
    mount(
        Some(rootfs),
        "/",
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .map_err(step("move rootfs to /"))?;
    nix::unistd::chroot(".").map_err(step("chroot"))?;
    nix::unistd::chdir("/").map_err(step("chdir /"))?;
    Ok(())
}

/// The host proc/sysfs mount points outside `rootfs`, deepest first.
fn host_proc_sys(rootfs: &Path, table: &[mounts::MountInfo]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = table
        .iter()
        .filter(|m| m.fstype == "proc" || m.fstype == "sysfs")
        .filter(|m| !m.mountpoint.starts_with(rootfs) && !rootfs.starts_with(&m.mountpoint))
        .map(|m| m.mountpoint.clone())
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out.dedup();
    out
}

fn hide_host_proc_sys(rootfs: &Path) -> Result<(), RootfsError> {
    let table = mounts::read_mountinfo().map_err(sys_err(ROOT_PATH, "read mountinfo"))?;
    for mp in host_proc_sys(rootfs, &table) {
        match umount2(&mp, MntFlags::MNT_DETACH) {
            Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => continue,
            Err(_) => {}
        }
        let flags =
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        let step = format!("cover host {} with tmpfs", mp.display());
        mount(Some("tmpfs"), &mp, Some("tmpfs"), flags, Some("size=0"))
            .map_err(sys_err(ROOT_PATH, step))?;
    }
    Ok(())
}

/// After the pivot (and after sysctls were written): masked paths, read-only
/// paths, `root.readonly`, re-apply a shared or unbindable `rootfsPropagation`.
pub fn finish(spec: &Spec, _opts: &RootfsOptions) -> Result<(), RootfsError> {
    let linux = spec.linux().as_ref();
    let readonly = linux
        .and_then(|l| l.readonly_paths().clone())
        .unwrap_or_default();
    for (i, p) in readonly.iter().enumerate() {
        readonly_path(&format!("linux.readonlyPaths[{i}] {p}"), Path::new(p))?;
    }
    let masked = linux
        .and_then(|l| l.masked_paths().clone())
        .unwrap_or_default();
    for (i, p) in masked.iter().enumerate() {
        mask_path(&format!("linux.maskedPaths[{i}] {p}"), Path::new(p))?;
    }
    remount_dev_readonly(spec)?;
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        bind_remount(Path::new("/"), MsFlags::MS_RDONLY)
            .map_err(sys_err("root.readonly", "remount / read-only"))?;
    }
    if let Some(p) = rootfs_propagation(spec)?
        .filter(|p| p.intersects(MsFlags::MS_SHARED | MsFlags::MS_UNBINDABLE))
    {
        mount(None::<&str>, "/", None::<&str>, p, None::<&str>)
            .map_err(sys_err(PROPAGATION, "set propagation of new /"))?;
    }
    Ok(())
}

/// A `/dev` tmpfs asked to be `ro` was mounted rw to create the devices: remount it.
fn remount_dev_readonly(spec: &Spec) -> Result<(), RootfsError> {
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let opts = mounts::parse_options(m.options().as_deref().unwrap_or(&[]));
        if !mounts::is_dev(m.destination()) || !opts.flags.contains(MsFlags::MS_RDONLY) {
            continue;
        }
        if opts.flags.contains(MsFlags::MS_BIND) {
            continue;
        }
        let flags = opts.flags | MsFlags::MS_REMOUNT;
        let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
        mount(None::<&str>, "/dev", None::<&str>, flags, data)
            .map_err(sys_err(&format!("mounts[{i}] /dev"), "remount read-only"))?;
    }
    Ok(())
}

/// Bind `path` onto itself (recursively) and remount it read-only; absent -> skip.
fn readonly_path(field: &str, path: &Path) -> Result<(), RootfsError> {
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    match mount(Some(path), path, None::<&str>, flags, None::<&str>) {
        Err(Errno::ENOENT) => return Ok(()),
        other => other.map_err(sys_err(field, "bind onto itself"))?,
    }
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_REC;
    bind_remount(path, flags).map_err(sys_err(field, "remount read-only"))?;
    Ok(())
}

/// A directory gets an empty read-only tmpfs, anything else the container's
/// /dev/null — opened without following symlinks, checked to be the 1:3 character
/// device, and bound by fd (CVE-2025-31133). Absent -> skip.
fn mask_path(field: &str, path: &Path) -> Result<(), RootfsError> {
    let st = match nix::sys::stat::stat(path) {
        Err(Errno::ENOENT | Errno::ENOTDIR) => return Ok(()),
        other => other.map_err(sys_err(field, "stat"))?,
    };
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        let flags =
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(Some("tmpfs"), path, Some("tmpfs"), flags, None::<&str>)
            .map_err(sys_err(field, "mount read-only tmpfs"))?;
        return Ok(());
    }
    let null = open_dev_null().map_err(sys_err(field, "open /dev/null"))?;
    bind_fd(&null, path).map_err(sys_err(field, "bind /dev/null"))?;
    Ok(())
}

/// /dev/null opened `O_PATH|O_NOFOLLOW` and verified to be the char device 1:3.
fn open_dev_null() -> Result<OwnedFd, Errno> {
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = nix::fcntl::open("/dev/null", flags, Mode::empty())?;
    // SAFETY: open returned a fresh fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let st = nix::sys::stat::fstat(fd.as_raw_fd())?;
    let rdev = (
        nix::sys::stat::major(st.st_rdev),
        nix::sys::stat::minor(st.st_rdev),
    );
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || rdev != (1, 3) {
        return Err(Errno::ENODEV);
    }
    Ok(fd)
}

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;

/// Bind the file behind `src` onto `target` without naming the source by path:
/// open_tree(OPEN_TREE_CLONE) + move_mount; before Linux 5.2, via /proc/self/fd.
fn bind_fd(src: &OwnedFd, target: &Path) -> Result<(), Errno> {
    let empty = c"";
    // SAFETY: the path is a valid NUL-terminated string; the fd is open.
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            src.as_raw_fd(),
            empty.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | libc::AT_EMPTY_PATH as libc::c_uint,
        )
    };
    if tree < 0 {
        return match Errno::last() {
            Errno::ENOSYS => mount(
                Some(&mounts::fd_path(src)),
                target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            ),
            e => Err(e),
        };
    }
    // SAFETY: open_tree returned a fresh fd that nothing else owns.
    let tree = unsafe { OwnedFd::from_raw_fd(tree as RawFd) };
    let target =
        std::ffi::CString::new(target.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: both strings are valid NUL-terminated strings; the fds are open.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    Errno::result(ret).map(drop)
}

#[cfg(test)]
#[path = "rootfs_tests.rs"]
mod tests;
