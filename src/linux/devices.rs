//! Device nodes in the container's /dev: the default devices (null, zero, full,
//! random, urandom, tty), `linux.devices`, and the /dev symlinks (fd, stdin, stdout,
//! stderr, ptmx, core). Everything is created through the rootfs fd (`mounts::Root`),
//! so no symlink in the rootfs can redirect it to the host.

use crate::linux::mounts::{fd_path, sys_err, Leaf, MountError, Root};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{fchmodat, fstatat, mknodat, FchmodatFlags, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use oci_spec::runtime::{LinuxDeviceType, Mount, Spec};
use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// One device node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The spec field it came from (`linux.devices[2] /dev/fuse`, `default device /dev/null`).
    pub field: String,
    pub path: PathBuf,
    pub kind: LinuxDeviceType,
    pub major: i64,
    pub minor: i64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Listed in `linux.devices`: a different file at its path is an error. A default
    /// device replaces whatever the image had there.
    pub configured: bool,
}

/// The devices every container gets: (name, major, minor).
const DEFAULTS: [(&str, i64, i64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// The /dev symlinks: (name, target). `core` only where /proc/kcore exists.
const SYMLINKS: [(&str, &str); 4] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// Whether `/dev` comes from the host (a bind mount), in which case husk leaves it alone.
pub fn dev_is_bound(mounts: &[Mount]) -> bool {
    mounts.iter().any(|m| {
        let bind_type = m.typ().as_deref() == Some("bind");
        let bind_opt = m
            .options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind");
        crate::linux::mounts::is_dev(m.destination()) && (bind_type || bind_opt)
    })
}

/// `linux.devices` followed by the defaults that it does not override (by path).
/// Pure; no syscalls.
pub fn device_list(spec: &Spec) -> Vec<Device> {
    let configured = spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default();
    let mut out: Vec<Device> = configured
        .iter()
        .enumerate()
        .map(|(i, d)| Device {
            field: format!("linux.devices[{i}] {}", d.path().display()),
            path: d.path().clone(),
            kind: d.typ(),
            major: d.major(),
            minor: d.minor(),
            mode: d.file_mode().unwrap_or(0o666),
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
            configured: true,
        })
        .collect();
    for (name, major, minor) in DEFAULTS {
        let path = Path::new("/dev").join(name);
        if out.iter().any(|d| same_path(&d.path, &path)) {
            continue;
        }
        out.push(Device {
            field: format!("default device {}", path.display()),
            path,
            kind: LinuxDeviceType::C,
            major,
            minor,
            mode: 0o666,
            configured: false,
            uid: 0,
            gid: 0,
        });
    }
    out
}

fn same_path(a: &Path, b: &Path) -> bool {
    a.components().eq(b.components())
}

/// Creates every device and the /dev symlinks, unless /dev is bound from the host.
pub fn setup_dev(spec: &Spec, root: &Root, in_user_ns: bool) -> Result<(), MountError> {
    if dev_is_bound(spec.mounts().as_deref().unwrap_or(&[])) {
        return Ok(());
    }
    for dev in device_list(spec) {
        create_device(root, &dev, in_user_ns)?;
    }
    create_symlinks(root)
}

/// Splits a device path into its parent directory (created) and file name.
fn parent_and_name<'a>(root: &Root, dev: &'a Device) -> Result<(OwnedFd, &'a OsStr), MountError> {
    let name = dev.path.file_name().ok_or_else(|| MountError::Invalid {
        field: dev.field.clone(),
        reason: "device path has no file name".into(),
    })?;
    let parent = dev.path.parent().unwrap_or(Path::new("/"));
    let dir = root
        .create(parent, Leaf::Dir)
        .map_err(sys_err(&dev.field, format!("create {}", parent.display())))?;
    Ok((dir, name))
}

fn create_device(root: &Root, dev: &Device, in_user_ns: bool) -> Result<(), MountError> {
    let kind = match dev.kind {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(MountError::Invalid {
                field: dev.field.clone(),
                reason: "type \"a\" is only valid in device cgroup rules".into(),
            })
        }
    };
    let (dir, name) = parent_and_name(root, dev)?;
    if in_user_ns {
        return bind_host_node(dir.as_fd(), name, dev);
    }
    mknod_or_match(dir.as_fd(), name, kind, dev)?;
    set_owner_and_mode(dir.as_fd(), name, kind, dev)
}

/// mknod; an entry already at the path is kept only if it is the same device
/// (config-linux.md: a file that does not match the requested device is an error).
fn mknod_or_match(
    dir: BorrowedFd,
    name: &OsStr,
    kind: SFlag,
    dev: &Device,
) -> Result<(), MountError> {
    let rdev = nix::sys::stat::makedev(dev.major as u64, dev.minor as u64);
    let perm = Mode::from_bits_truncate(dev.mode & 0o7777);
    match mknodat(Some(dir.as_raw_fd()), name, kind, perm, rdev) {
        Err(Errno::EEXIST) => {
            let st = fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW)
                .map_err(sys_err(&dev.field, "stat existing file"))?;
            let same_kind = st.st_mode & libc::S_IFMT == kind.bits();
            if same_kind && (kind == SFlag::S_IFIFO || st.st_rdev == rdev) {
                Ok(())
            } else if !dev.configured {
                unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir)
                    .and_then(|()| mknodat(Some(dir.as_raw_fd()), name, kind, perm, rdev))
                    .map_err(sys_err(&dev.field, "replace existing file"))
            } else {
                Err(MountError::Invalid {
                    field: dev.field.clone(),
                    reason: "a file that is not the requested device already exists at this path"
                        .into(),
                })
            }
        }
        other => other.map_err(sys_err(&dev.field, "mknod")),
    }
}

/// chown + chmod (mknod's mode went through the umask), after checking that the entry
/// is still the node just made, so neither call can follow a symlink.
fn set_owner_and_mode(
    dir: BorrowedFd,
    name: &OsStr,
    kind: SFlag,
    dev: &Device,
) -> Result<(), MountError> {
    let st = fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .map_err(sys_err(&dev.field, "stat new node"))?;
    if st.st_mode & libc::S_IFMT != kind.bits() {
        return Err(sys_err(&dev.field, "node replaced while creating it")(
            Errno::EEXIST,
        ));
    }
    let (uid, gid) = (Uid::from_raw(dev.uid), Gid::from_raw(dev.gid));
    fchownat(
        Some(dir.as_raw_fd()),
        name,
        Some(uid),
        Some(gid),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(sys_err(&dev.field, "chown"))?;
    let perm = Mode::from_bits_truncate(dev.mode & 0o7777);
    fchmodat(
        Some(dir.as_raw_fd()),
        name,
        perm,
        FchmodatFlags::FollowSymlink,
    )
    .map_err(sys_err(&dev.field, "chmod"))
}

/// In a user namespace mknod is refused: bind the host's node onto an empty file.
fn bind_host_node(dir: BorrowedFd, name: &OsStr, dev: &Device) -> Result<(), MountError> {
    let flags =
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
    let create = || nix::fcntl::openat(Some(dir.as_raw_fd()), name, flags, Mode::empty());
    let fd = match create() {
        Err(Errno::EEXIST) => {
            unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir)
                .map_err(sys_err(&dev.field, "remove existing entry"))?;
            create()
        }
        other => other,
    }
    .map_err(sys_err(&dev.field, "create bind target"))?;
    // SAFETY: openat returned a fresh fd; wrapping it closes it on drop.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
    let target = nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys_err(&dev.field, "open bind target"))?;
    // SAFETY: openat returned a fresh fd that nothing else owns.
    let target = unsafe { OwnedFd::from_raw_fd(target) };
    let step = format!("bind host {}", dev.path.display());
    mount(
        Some(&dev.path),
        &fd_path(&target),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(sys_err(&dev.field, step))
}

/// /dev/fd, stdin, stdout, stderr, ptmx -> pts/ptmx, and core -> /proc/kcore.
fn create_symlinks(root: &Root) -> Result<(), MountError> {
    let field = "/dev";
    let dev = root
        .create(Path::new("/dev"), Leaf::Dir)
        .map_err(sys_err(field, "open /dev"))?;
    let dirfd = Some(dev.as_raw_fd());
    let mut links: Vec<(&str, &str)> = SYMLINKS.to_vec();
    if Path::new("/proc/kcore").exists() {
        links.push(("core", "/proc/kcore"));
    }
    for (name, target) in links {
        match symlinkat(target, dirfd, name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(sys_err(field, format!("symlink /dev/{name}"))(e)),
        }
    }
    match unlinkat(dirfd, "ptmx", UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(sys_err(field, "remove /dev/ptmx")(e)),
    }
    symlinkat("pts/ptmx", dirfd, "ptmx").map_err(sys_err(field, "symlink /dev/ptmx"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxBuilder, LinuxDeviceBuilder, SpecBuilder};

    #[test]
    fn device_list_defaults_and_overrides() {
        let dev = LinuxDeviceBuilder::default()
            .path("/dev/null")
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(3)
            .file_mode(0o600u32)
            .uid(5u32)
            .build()
            .unwrap();
        let fuse = LinuxDeviceBuilder::default()
            .path("/dev/fuse")
            .typ(LinuxDeviceType::C)
            .major(10)
            .minor(229)
            .build()
            .unwrap();
        let linux = LinuxBuilder::default()
            .devices(vec![dev, fuse])
            .build()
            .unwrap();
        let spec = SpecBuilder::default().linux(linux).build().unwrap();
        let list = device_list(&spec);
        let nulls: Vec<_> = list
            .iter()
            .filter(|d| d.path == Path::new("/dev/null"))
            .collect();
        assert_eq!(nulls.len(), 1);
        assert_eq!((nulls[0].mode, nulls[0].uid), (0o600, 5));
        assert_eq!(nulls[0].field, "linux.devices[0] /dev/null");
        assert_eq!(list.len(), 7);
        let tty = list
            .iter()
            .find(|d| d.path == Path::new("/dev/tty"))
            .unwrap();
        assert_eq!((tty.major, tty.minor, tty.mode), (5, 0, 0o666));
        assert_eq!(tty.field, "default device /dev/tty");
    }
}
