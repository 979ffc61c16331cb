//! The new mount API where mount(2) has no equivalent: mount_setattr(2) for the
//! recursive `r*` options (`rro`, `rnosuid`, ...) and for id-mapped mounts, which
//! are detached trees (open_tree(2) `OPEN_TREE_CLONE`) given a user namespace that
//! carries the mapping and then attached with move_mount(2).
//!
//! Such a user namespace is made by a short-lived helper process that unshares
//! `CLONE_NEWUSER` and waits while its uid_map/gid_map are written from here.

use crate::linux::mount_options::{attr, RecAttr};
use crate::linux::user;
use nix::errno::Errno;
use nix::sys::wait::waitpid;
use nix::unistd::{fork, pipe2, ForkResult};
use oci_spec::runtime::LinuxIdMapping;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

/// mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE]) on the mount `fd` is at.
fn setattr(
    fd: BorrowedFd,
    recursive: bool,
    set: u64,
    clr: u64,
    userns: Option<BorrowedFd>,
) -> Result<(), Errno> {
    let a = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: userns.map_or(0, |u| u.as_raw_fd() as u64),
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: the path is a NUL-terminated string, `a` outlives the call and its
    // size is passed; the fds are open.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &a as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// Applies recursive attributes to the mount `target` is at and every mount below.
pub fn apply_recursive(target: BorrowedFd, a: RecAttr) -> Result<(), Errno> {
    if a.is_empty() {
        return Ok(());
    }
    setattr(target, true, a.set, a.clr, None)
}

/// A detached copy of the mount at `source` (with its submounts if `recursive`).
pub fn clone_tree(source: &Path, recursive: bool) -> Result<OwnedFd, Errno> {
    let path = CString::new(source.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: the path is a NUL-terminated string that outlives the call.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    let fd = Errno::result(ret)?;
    // SAFETY: open_tree returned a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Id-maps the detached tree `tree` (every mount in it if `recursive`) through the
/// mappings of the user namespace `userns`.
pub fn idmap_tree(tree: BorrowedFd, recursive: bool, userns: BorrowedFd) -> Result<(), Errno> {
    setattr(tree, recursive, attr::IDMAP, 0, Some(userns))
}

/// Attaches the detached tree `tree` on the file or directory `target` is opened at.
pub fn move_onto(tree: BorrowedFd, target: BorrowedFd) -> Result<(), Errno> {
    // SAFETY: both paths are NUL-terminated strings; the fds are open.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    Errno::result(ret).map(drop)
}

/// A user namespace whose uid_map/gid_map are `uids`/`gids`, as an fd of its
/// /proc/<pid>/ns/user. Needs CAP_SETUID/CAP_SETGID over the mapped ids.
pub fn userns_fd(uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<OwnedFd, Errno> {
    let (ready_r, ready_w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let (hold_r, hold_w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // SAFETY: the child only makes async-signal-safe calls (close, unshare, write,
    // read, _exit) before it exits.
    match unsafe { fork() }? {
        ForkResult::Child => {
            // SAFETY: raw fds this child owns; async-signal-safe calls only.
            unsafe {
                libc::close(hold_w.as_raw_fd());
                // 0, or the errno of unshare (all errnos fit in a byte).
                let err = if libc::unshare(libc::CLONE_NEWUSER) == 0 {
                    0
                } else {
                    *libc::__errno_location()
                };
                let b = [err as u8];
                libc::write(ready_w.as_raw_fd(), b.as_ptr().cast(), 1);
                let mut buf = [0u8; 1];
                libc::read(hold_r.as_raw_fd(), buf.as_mut_ptr().cast(), 1);
                libc::_exit(0)
            }
        }
        ForkResult::Parent { child } => {
            drop((ready_w, hold_r));
            let res = map_helper(child.as_raw(), ready_r.as_fd(), uids, gids);
            // Closing the pipe lets the helper exit; the namespace lives on in the fd.
            drop(hold_w);
            let _ = waitpid(child, None);
            res
        }
    }
}

/// Waits for the helper `pid` to unshare, writes its maps and opens its namespace.
fn map_helper(
    pid: i32,
    ready: BorrowedFd,
    uids: &[LinuxIdMapping],
    gids: &[LinuxIdMapping],
) -> Result<OwnedFd, Errno> {
    let mut err = [0u8; 1];
    match nix::unistd::read(ready.as_raw_fd(), &mut err)? {
        1 if err[0] == 0 => {}
        1 => return Err(Errno::from_raw(err[0].into())),
        _ => return Err(Errno::ECHILD),
    }
    let pid = proc_pid(pid)?;
    for (file, maps) in [("uid_map", uids), ("gid_map", gids)] {
        std::fs::write(format!("/proc/{pid}/{file}"), user::map_text(maps))
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    }
    let ns = format!("/proc/{pid}/ns/user");
    let flags = nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC;
    let fd = nix::fcntl::open(ns.as_str(), flags, nix::sys::stat::Mode::empty())?;
    // SAFETY: open returned a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The pid, as the mounted /proc numbers it, of our child `pid`: they differ when
/// we are in a new pid namespace but /proc is still the host's (the container init
/// before the pivot). Read from the `Pid:` line of a pidfd's fdinfo, which /proc
/// gives in its own pid namespace.
fn proc_pid(pid: i32) -> Result<i32, Errno> {
    // SAFETY: pidfd_open with integer arguments.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = match Errno::result(ret) {
        // Before Linux 5.3: assume /proc matches our pid namespace.
        Err(Errno::ENOSYS) => return Ok(pid),
        other => other?,
    };
    // SAFETY: pidfd_open returned a fresh fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|n| n.trim().parse().ok())
        .filter(|n: &i32| *n > 0)
        .ok_or(Errno::ESRCH)
}
