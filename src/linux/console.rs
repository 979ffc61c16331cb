//! Terminals: allocating the container's pty from its own devpts, making it the
//! controlling terminal and stdio, /dev/console, `consoleSize`, and passing the
//! master fd over a unix socket with SCM_RIGHTS (`--console-socket`, or back to a
//! foreground `husk run`).
//!
//! The pty is allocated inside the container after the pivot (process-model.md §6):
//! `/dev/pts/ptmx` is opened `O_PATH|O_NOFOLLOW`, checked to be a devpts ptmx, and
//! re-opened through procfs; the peer comes from `TIOCGPTPEER`, never from a path
//! (CVE-2025-52565). The console socket message is exactly one `sendmsg` with one
//! `SCM_RIGHTS` fd and the pty name as payload, which is what go-runc and conmon read.

use nix::errno::Errno;
use nix::fcntl::{fcntl, open, openat, FcntlArg, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::socket::{
    connect, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};
use nix::sys::stat::{fstat, Mode, SFlag};
use nix::sys::statfs::{fstatfs, DEVPTS_SUPER_MAGIC, PROC_SUPER_MAGIC};
use nix::unistd::{dup3, fchown, getpid, getsid, setsid, unlink, Uid};
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// Largest payload accepted with a passed fd (go-runc reads at most 4096 bytes).
const MAX_NAME: usize = 4095;
/// Unix socket paths are limited by `sun_path` (108 bytes including the NUL).
const SUN_PATH_MAX: usize = 107;
const PTMX_PATH: &str = "/dev/pts/ptmx";
const CONSOLE_PATH: &str = "/dev/console";

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// A syscall failed; `field` is the spec field (or CLI flag) being applied.
    #[error("{field}: {step}: {}", errno.desc())]
    Sys {
        field: &'static str,
        step: String,
        errno: Errno,
    },
    #[error("process.terminal: {path} is not a devpts ptmx ({why})")]
    NotDevpts { path: String, why: String },
    #[error("process.terminal: /proc/self/fd is not on procfs, cannot re-open the pty safely")]
    NotProcfs,
    #[error("process.terminal: /dev/console is a directory, cannot bind the pty onto it")]
    ConsoleIsDir,
    #[error("console socket: payload name must be 1..={MAX_NAME} bytes, got {0}")]
    BadName(usize),
    #[error("console socket: recvmsg: peer closed the socket without sending an fd")]
    Eof,
    #[error("console socket: recvmsg: expected exactly one SCM_RIGHTS fd, got {0}")]
    FdCount(usize),
    #[error("console socket: recvmsg: control message truncated")]
    Truncated,
}

fn sys(field: &'static str, step: impl Into<String>) -> impl FnOnce(Errno) -> ConsoleError {
    let step = step.into();
    move |errno| ConsoleError::Sys { field, step, errno }
}

/// Retry `f` while it fails with EINTR.
fn retry<T>(mut f: impl FnMut() -> nix::Result<T>) -> nix::Result<T> {
    loop {
        match f() {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: callers pass an fd the kernel has just returned to us and that nothing
    // else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

nix::ioctl_write_ptr_bad!(ioctl_tiocswinsz, libc::TIOCSWINSZ, libc::winsize);
nix::ioctl_read_bad!(ioctl_tiocgwinsz, libc::TIOCGWINSZ, libc::winsize);
nix::ioctl_write_ptr_bad!(ioctl_tiocsptlck, libc::TIOCSPTLCK, libc::c_int);
nix::ioctl_read_bad!(ioctl_tiocgptn, libc::TIOCGPTN, libc::c_uint);
nix::ioctl_write_int_bad!(ioctl_tiocgptpeer, libc::TIOCGPTPEER);
nix::ioctl_write_int_bad!(ioctl_tiocsctty, libc::TIOCSCTTY);

/// Read the window size of the terminal `fd` (TIOCGWINSZ).
pub fn get_winsize(fd: BorrowedFd) -> nix::Result<libc::winsize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the valid, exclusive `ws`.
    unsafe { ioctl_tiocgwinsz(fd.as_raw_fd(), &mut ws) }?;
    Ok(ws)
}

/// Set the window size of the terminal `fd` (TIOCSWINSZ).
pub fn set_winsize(fd: BorrowedFd, ws: &libc::winsize) -> nix::Result<()> {
    // SAFETY: TIOCSWINSZ reads one `winsize` from the valid `ws`.
    unsafe { ioctl_tiocswinsz(fd.as_raw_fd(), ws) }?;
    Ok(())
}

/// Clear `onlcr` in the termios of the pty behind `master` (one termios for the
/// pair), so output keeps plain `\n` line ends.
pub fn clear_onlcr(master: BorrowedFd) -> Result<(), ConsoleError> {
    use nix::sys::termios::{tcgetattr, tcsetattr, OutputFlags, SetArg};
    let mut t = tcgetattr(master).map_err(sys("process.terminal", "tcgetattr on the pty"))?;
    t.output_flags.remove(OutputFlags::ONLCR);
    tcsetattr(master, SetArg::TCSANOW, &t)
        .map_err(sys("process.terminal", "clear onlcr on the pty"))
}

/// The peer's path inside the container's devpts (`/dev/pts/N`), the payload runc
/// sends on the console socket.
pub fn pty_name(master: BorrowedFd) -> Result<String, ConsoleError> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int into the valid, exclusive `n`.
    unsafe { ioctl_tiocgptn(master.as_raw_fd(), &mut n) }
        .map_err(sys("process.terminal", "TIOCGPTN"))?;
    Ok(format!("/dev/pts/{n}"))
}

/// Connect to the `--console-socket` unix socket (called in the parent before clone).
pub fn connect_console_socket(path: &Path) -> Result<OwnedFd, ConsoleError> {
    let shown = path.display().to_string();
    let sock = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(sys("--console-socket", format!("socket for {shown}")))?;
    // Keeps the parent directory open while a long path is reached through it.
    let (_dir, target) = short_socket_path(path)?;
    let addr = UnixAddr::new(&target).map_err(sys("--console-socket", shown.clone()))?;
    match retry(|| connect(sock.as_raw_fd(), &addr)) {
        Ok(()) | Err(Errno::EISCONN) => Ok(sock),
        Err(e) => Err(sys("--console-socket", format!("connect {shown}"))(e)),
    }
}

/// A path that fits `sun_path`: long paths go through an O_PATH fd of the parent
/// directory (`/proc/self/fd/N/name`), as runc does for long socket paths.
fn short_socket_path(path: &Path) -> Result<(Option<OwnedFd>, PathBuf), ConsoleError> {
    if path.as_os_str().len() <= SUN_PATH_MAX {
        return Ok((None, path.to_path_buf()));
    }
    let (parent, name) = match (path.parent(), path.file_name()) {
        (Some(p), Some(n)) => (p, n),
        _ => return Ok((None, path.to_path_buf())),
    };
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let dir = retry(|| open(parent, flags, Mode::empty())).map_err(sys(
        "--console-socket",
        format!("open {}", parent.display()),
    ))?;
    let dir = owned(dir);
    let short = Path::new(&format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
    Ok((Some(dir), short))
}

/// In the container init, after the pivot: allocate a pty from /dev/pts/ptmx, apply
/// `process.consoleSize`, setsid + TIOCSCTTY, dup the peer onto 0,1,2, bind it onto
/// /dev/console, chown it to the process user. Returns the master.
pub fn setup_console(
    size: Option<&oci_spec::runtime::Box>,
    uid: u32,
) -> Result<OwnedFd, ConsoleError> {
    let (master, peer) = allocate_terminal(size, uid)?;
    bind_dev_console(peer.as_fd())?;
    Ok(master)
}

/// For a process exec'd into a running container: the same as `setup_console`
/// without touching the container's /dev/console.
pub fn setup_exec_terminal(
    size: Option<&oci_spec::runtime::Box>,
    uid: u32,
) -> Result<OwnedFd, ConsoleError> {
    Ok(allocate_terminal(size, uid)?.0)
}

/// Allocate the pty and make it the controlling terminal and stdio; returns
/// (master, peer).
fn allocate_terminal(
    size: Option<&oci_spec::runtime::Box>,
    uid: u32,
) -> Result<(OwnedFd, OwnedFd), ConsoleError> {
    let master = open_ptmx()?;
    unlock_pty(master.as_fd())?;
    let peer = open_peer(master.as_fd())?;
    if let Some(size) = size {
        apply_console_size(master.as_fd(), size)?;
    }
    make_controlling_stdio(peer.as_fd())?;
    fchown(peer.as_raw_fd(), Some(Uid::from_raw(uid)), None)
        .map_err(sys("process.user", format!("fchown pty to uid {uid}")))?;
    Ok((master, peer))
}

/// Open the devpts ptmx without following symlinks, check it really is devpts'
/// ptmx, then re-open it read-write through procfs.
fn open_ptmx() -> Result<OwnedFd, ConsoleError> {
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let path_fd = retry(|| open(PTMX_PATH, flags, Mode::empty()))
        .map_err(sys("process.terminal", format!("open {PTMX_PATH}")))?;
    let path_fd = owned(path_fd);
    check_devpts_ptmx(path_fd.as_fd())?;
    let master = reopen_via_proc(path_fd.as_fd())?;
    // Re-check the opened file: it must be the same ptmx we inspected.
    check_devpts_ptmx(master.as_fd())?;
    above_stdio(master)
}

fn check_devpts_ptmx(fd: BorrowedFd) -> Result<(), ConsoleError> {
    let not = |why: String| ConsoleError::NotDevpts {
        path: PTMX_PATH.into(),
        why,
    };
    let fs = fstatfs(fd).map_err(sys("process.terminal", format!("fstatfs {PTMX_PATH}")))?;
    if fs.filesystem_type() != DEVPTS_SUPER_MAGIC {
        return Err(not(format!(
            "filesystem magic {:#x}",
            fs.filesystem_type().0
        )));
    }
    let st =
        fstat(fd.as_raw_fd()).map_err(sys("process.terminal", format!("fstat {PTMX_PATH}")))?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFCHR {
        return Err(not(format!("mode {:#o}", st.st_mode)));
    }
    Ok(())
}

/// Re-open an O_PATH fd with `O_RDWR|O_NOCTTY` through `/proc/self/fd`, after
/// checking that `/proc/self/fd` is really procfs.
fn reopen_via_proc(fd: BorrowedFd) -> Result<OwnedFd, ConsoleError> {
    let dir_flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let dir = retry(|| open("/proc/self/fd", dir_flags, Mode::empty()))
        .map_err(sys("process.terminal", "open /proc/self/fd"))?;
    let dir = owned(dir);
    let fs = fstatfs(dir.as_fd()).map_err(sys("process.terminal", "fstatfs /proc/self/fd"))?;
    if fs.filesystem_type() != PROC_SUPER_MAGIC {
        return Err(ConsoleError::NotProcfs);
    }
    let name = fd.as_raw_fd().to_string();
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let reopened = retry(|| openat(Some(dir.as_raw_fd()), name.as_str(), flags, Mode::empty()))
        .map_err(sys("process.terminal", format!("re-open {PTMX_PATH}")))?;
    Ok(owned(reopened))
}

/// Move `fd` to a number above 2, so dup3 onto stdio never clobbers it.
fn above_stdio(fd: OwnedFd) -> Result<OwnedFd, ConsoleError> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    let moved = fcntl(fd.as_raw_fd(), FcntlArg::F_DUPFD_CLOEXEC(3))
        .map_err(sys("process.terminal", "F_DUPFD_CLOEXEC"))?;
    Ok(owned(moved))
}

fn unlock_pty(master: BorrowedFd) -> Result<(), ConsoleError> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from the valid `unlock`.
    unsafe { ioctl_tiocsptlck(master.as_raw_fd(), &unlock) }
        .map_err(sys("process.terminal", "unlockpt (TIOCSPTLCK)"))?;
    Ok(())
}

/// Open the pty peer from the master itself (TIOCGPTPEER), never by path.
fn open_peer(master: BorrowedFd) -> Result<OwnedFd, ConsoleError> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes the open flags by value and returns a new fd.
    let peer = unsafe { ioctl_tiocgptpeer(master.as_raw_fd(), flags) }
        .map_err(sys("process.terminal", "TIOCGPTPEER"))?;
    above_stdio(owned(peer))
}

fn apply_console_size(
    master: BorrowedFd,
    size: &oci_spec::runtime::Box,
) -> Result<(), ConsoleError> {
    let clamp = |v: u64| u16::try_from(v).unwrap_or(u16::MAX);
    let ws = libc::winsize {
        ws_row: clamp(size.height()),
        ws_col: clamp(size.width()),
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    set_winsize(master, &ws).map_err(sys("process.consoleSize", "TIOCSWINSZ"))
}

/// New session, the peer on fds 0, 1 and 2, and the peer as controlling terminal.
fn make_controlling_stdio(peer: BorrowedFd) -> Result<(), ConsoleError> {
    new_session()?;
    for target in 0..=2 {
        retry(|| dup3(peer.as_raw_fd(), target, OFlag::empty())).map_err(sys(
            "process.terminal",
            format!("dup3 pty onto fd {target}"),
        ))?;
    }
    // SAFETY: TIOCSCTTY takes an int by value (0: do not steal from another session).
    unsafe { ioctl_tiocsctty(0, 0) }.map_err(sys("process.terminal", "TIOCSCTTY"))?;
    Ok(())
}

/// setsid(), accepting a caller that already made this process a session leader
/// (EPERM then only means "already done").
fn new_session() -> Result<(), ConsoleError> {
    match setsid() {
        Ok(_) => Ok(()),
        Err(Errno::EPERM) if getsid(None).ok() == Some(getpid()) => Ok(()),
        Err(e) => Err(sys("process.terminal", "setsid")(e)),
    }
}

/// Bind-mount the peer onto /dev/console, through fd paths on both sides.
fn bind_dev_console(peer: BorrowedFd) -> Result<(), ConsoleError> {
    let target = console_mount_target()?;
    let source = format!("/proc/self/fd/{}", peer.as_raw_fd());
    let dest = format!("/proc/self/fd/{}", target.as_raw_fd());
    mount(
        Some(source.as_str()),
        dest.as_str(),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(sys("process.terminal", "bind-mount pty onto /dev/console"))
}

/// Make the /dev/console mountpoint (an empty file) while /dev and the rootfs
/// are still writable: `rootfs::finish` may make them read-only before the
/// terminal is set up.
pub fn prepare_dev_console() -> Result<(), ConsoleError> {
    console_mount_target().map(drop)
}

/// An fd for the /dev/console mountpoint: the existing non-symlink file, or a fresh
/// empty file (a symlink there is removed first, never followed).
fn console_mount_target() -> Result<OwnedFd, ConsoleError> {
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match retry(|| open(CONSOLE_PATH, flags, Mode::empty())) {
        Ok(fd) => {
            let fd = owned(fd);
            let st = fstat(fd.as_raw_fd())
                .map_err(sys("process.terminal", format!("fstat {CONSOLE_PATH}")))?;
            match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
                SFlag::S_IFLNK => {
                    unlink(CONSOLE_PATH).map_err(sys(
                        "process.terminal",
                        format!("unlink symlink {CONSOLE_PATH}"),
                    ))?;
                    create_console_file()
                }
                SFlag::S_IFDIR => Err(ConsoleError::ConsoleIsDir),
                _ => Ok(fd),
            }
        }
        Err(Errno::ENOENT) => create_console_file(),
        Err(e) => Err(sys("process.terminal", format!("open {CONSOLE_PATH}"))(e)),
    }
}

fn create_console_file() -> Result<OwnedFd, ConsoleError> {
    let flags =
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
    let fd = retry(|| open(CONSOLE_PATH, flags, Mode::from_bits_truncate(0o666)))
        .map_err(sys("process.terminal", format!("create {CONSOLE_PATH}")))?;
    Ok(owned(fd))
}

/// Send `fd` over the connected unix socket `sock` with exactly one SCM_RIGHTS
/// message whose payload is `name` (what go-runc and conmon accept).
pub fn send_fd(sock: BorrowedFd, fd: BorrowedFd, name: &str) -> Result<(), ConsoleError> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_NAME {
        return Err(ConsoleError::BadName(bytes.len()));
    }
    let fds = [fd.as_raw_fd()];
    let cmsgs = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(bytes)];
    let sent =
        retry(|| sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsgs, MsgFlags::MSG_NOSIGNAL, None))
            .map_err(sys("console socket", "sendmsg"))?;
    // A stream socket may take the payload in pieces; the fd went with the first.
    send_rest(sock, &bytes[sent..])
}

fn send_rest(sock: BorrowedFd, mut rest: &[u8]) -> Result<(), ConsoleError> {
    while !rest.is_empty() {
        let n = retry(|| nix::sys::socket::send(sock.as_raw_fd(), rest, MsgFlags::MSG_NOSIGNAL))
            .map_err(sys("console socket", "send"))?;
        rest = &rest[n..];
    }
    Ok(())
}

/// Receive one fd sent by `send_fd`.
pub fn recv_fd(sock: BorrowedFd) -> Result<OwnedFd, ConsoleError> {
    recv_fd_named(sock).map(|(fd, _)| fd)
}

/// Receive one fd sent by `send_fd`, with the payload that came with it (the pty
/// name). The fd is close-on-exec.
pub fn recv_fd_named(sock: BorrowedFd) -> Result<(OwnedFd, String), ConsoleError> {
    let mut payload = [0u8; MAX_NAME + 1];
    // u64 storage keeps the control buffer aligned for cmsghdr; room for 4 fds so a
    // sender passing too many is detected instead of truncated.
    let mut control = [0u64; 8];
    let (bytes, mut fds, truncated) = recvmsg_fds(sock, &mut payload, &mut control)?;
    if truncated {
        return Err(ConsoleError::Truncated);
    }
    if fds.is_empty() {
        return Err(if bytes == 0 {
            ConsoleError::Eof
        } else {
            ConsoleError::FdCount(0)
        });
    }
    if fds.len() != 1 {
        return Err(ConsoleError::FdCount(fds.len()));
    }
    let name = String::from_utf8_lossy(&payload[..bytes]).into_owned();
    Ok((fds.remove(0), name))
}

/// One recvmsg: payload length, every fd received (owned, so extras get closed),
/// and whether the control data was truncated.
fn recvmsg_fds(
    sock: BorrowedFd,
    payload: &mut [u8],
    control: &mut [u64],
) -> Result<(usize, Vec<OwnedFd>, bool), ConsoleError> {
    let mut iov = libc::iovec {
        iov_base: payload.as_mut_ptr().cast(),
        iov_len: payload.len(),
    };
    // SAFETY: msghdr is plain old data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(control) as _;
    let n = retry(|| {
        // SAFETY: `msg` points at `iov`/`payload`/`control`, which outlive the call.
        let r = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        Errno::result(r)
    })
    .map_err(sys("console socket", "recvmsg"))?;
    let fds = collect_rights(&msg);
    Ok((n as usize, fds, msg.msg_flags & libc::MSG_CTRUNC != 0))
}

fn collect_rights(msg: &libc::msghdr) -> Vec<OwnedFd> {
    let mut fds = Vec::new();
    // SAFETY: `msg` was filled by a successful recvmsg; CMSG_* walk only the
    // msg_controllen bytes the kernel reported.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !cmsg.is_null() {
        // SAFETY: `cmsg` is non-null and inside the control buffer (see above).
        let hdr = unsafe { &*cmsg };
        if hdr.cmsg_level == libc::SOL_SOCKET && hdr.cmsg_type == libc::SCM_RIGHTS {
            // SAFETY: CMSG_LEN(0) is a pure size computation.
            let header = unsafe { libc::CMSG_LEN(0) } as usize;
            let count = (hdr.cmsg_len as usize).saturating_sub(header) / size_of::<RawFd>();
            // SAFETY: the data of an SCM_RIGHTS cmsg holds `count` ints; read them
            // unaligned since the data pointer carries no alignment guarantee.
            let data = unsafe { libc::CMSG_DATA(cmsg) }.cast::<RawFd>();
            for i in 0..count {
                // SAFETY: `i < count`, within this cmsg's data (see above).
                let raw = unsafe { data.add(i).read_unaligned() };
                fds.push(owned(raw));
            }
        }
        // SAFETY: `msg` and `cmsg` are valid as above.
        cmsg = unsafe { libc::CMSG_NXTHDR(msg, cmsg) };
    }
    fds
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::socketpair;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, pipe, ForkResult};
    use std::io::{Read, Write};
    use std::os::unix::net::UnixListener;

    fn pair(ty: SockType) -> (OwnedFd, OwnedFd) {
        socketpair(AddressFamily::Unix, ty, None, SockFlag::SOCK_CLOEXEC).unwrap()
    }

    /// Send a pipe's write end through `a`, receive it from `b`, prove it works.
    fn roundtrip(a: &OwnedFd, b: &OwnedFd, name: &str) {
        let (r, w) = pipe().unwrap();
        send_fd(a.as_fd(), w.as_fd(), name).unwrap();
        drop(w);
        let (got, payload) = recv_fd_named(b.as_fd()).unwrap();
        assert_eq!(payload, name);
        let fdflags = fcntl(got.as_raw_fd(), FcntlArg::F_GETFD).unwrap();
        assert_ne!(
            fdflags & libc::FD_CLOEXEC,
            0,
            "received fd must be close-on-exec"
        );
        std::fs::File::from(got).write_all(b"through").unwrap();
        let mut s = String::new();
        std::fs::File::from(r).read_to_string(&mut s).unwrap();
        assert_eq!(s, "through");
    }

    #[test]
    fn send_recv_fd_seqpacket() {
        let (a, b) = pair(SockType::SeqPacket);
        roundtrip(&a, &b, "/dev/pts/3");
    }

    #[test]
    fn send_recv_fd_stream() {
        let (a, b) = pair(SockType::Stream);
        roundtrip(&a, &b, " ");
        roundtrip(&a, &b, &"x".repeat(MAX_NAME));
    }

    #[test]
    fn send_fd_rejects_empty_and_oversized_names() {
        let (a, _b) = pair(SockType::Stream);
        let e = send_fd(a.as_fd(), a.as_fd(), "").unwrap_err();
        assert!(matches!(e, ConsoleError::BadName(0)), "{e}");
        let e = send_fd(a.as_fd(), a.as_fd(), &"x".repeat(MAX_NAME + 1)).unwrap_err();
        assert!(matches!(e, ConsoleError::BadName(_)), "{e}");
    }

    #[test]
    fn recv_fd_reports_eof_and_missing_fd() {
        let (a, b) = pair(SockType::SeqPacket);
        nix::sys::socket::send(a.as_raw_fd(), b"no fd", MsgFlags::empty()).unwrap();
        let e = recv_fd(b.as_fd()).unwrap_err();
        assert!(matches!(e, ConsoleError::FdCount(0)), "{e}");
        drop(a);
        let e = recv_fd(b.as_fd()).unwrap_err();
        assert!(matches!(e, ConsoleError::Eof), "{e}");
    }

    #[test]
    fn connect_console_socket_short_and_long_paths() {
        let dir = tempfile::tempdir().unwrap();
        let long_dir = dir.path().join("d".repeat(100));
        std::fs::create_dir(&long_dir).unwrap();
        // The listener binds the long path through an fd of its directory, too.
        let dir_fd = std::fs::File::open(&long_dir).unwrap();
        let long_bind = format!("/proc/self/fd/{}/console.sock", dir_fd.as_raw_fd());
        let cases = [
            (dir.path().join("c.sock"), dir.path().join("c.sock")),
            (long_dir.join("console.sock"), PathBuf::from(long_bind)),
        ];
        assert!(cases[1].0.as_os_str().len() > SUN_PATH_MAX);
        for (path, bind_path) in cases {
            let listener = UnixListener::bind(&bind_path).unwrap();
            let sock = connect_console_socket(&path).unwrap();
            let (server, _) = listener.accept().unwrap();
            let (r, _w) = pipe().unwrap();
            send_fd(sock.as_fd(), r.as_fd(), "/dev/pts/0").unwrap();
            let (_fd, name) = recv_fd_named(server.as_fd()).unwrap();
            assert_eq!(name, "/dev/pts/0");
        }
        let e = connect_console_socket(&dir.path().join("missing")).unwrap_err();
        assert!(
            e.to_string().starts_with("--console-socket: connect "),
            "{e}"
        );
    }

    /// Run `f` in a forked child; its return value is the exit code. The child
    /// only does raw syscalls (no printing: other test threads may hold locks).
    fn in_child(f: impl FnOnce() -> i32) -> nix::unistd::Pid {
        // SAFETY: the child runs `f` (syscalls and allocation, which glibc makes
        // fork-safe) and leaves with _exit, never returning into the harness.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
                // SAFETY: _exit ends the forked child without running the harness.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => child,
        }
    }

    fn exit_code(pid: nix::unistd::Pid) -> i32 {
        match waitpid(pid, None).unwrap() {
            WaitStatus::Exited(_, c) => c,
            WaitStatus::Signaled(_, s, _) => 128 + s as i32,
            other => panic!("unexpected {other:?}"),
        }
    }

    /// A private mount namespace with a tmpfs /dev and a fresh devpts instance, as
    /// the container's rootfs setup leaves it. Nothing leaks to the host.
    fn private_dev() -> nix::Result<()> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
        let none = None::<&str>;
        mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)?;
        mount(Some("tmpfs"), "/dev", Some("tmpfs"), MsFlags::empty(), none)?;
        nix::unistd::mkdir("/dev/pts", Mode::from_bits_truncate(0o755))?;
        let tty = nix::sys::stat::makedev(5, 0);
        nix::sys::stat::mknod(
            "/dev/tty",
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            tty,
        )?;
        let opts = "newinstance,ptmxmode=0666,mode=0620";
        mount(
            Some("devpts"),
            "/dev/pts",
            Some("devpts"),
            MsFlags::empty(),
            Some(opts),
        )?;
        Ok(())
    }

    const CHECKED_UID: u32 = 1234;

    /// Inside the child after setup_console: stdio is the pty, it is the
    /// controlling terminal, size and owner are right, /dev/console is the pty.
    fn check_console_from_inside() -> Result<(), String> {
        let st0 = fstat(0).map_err(|e| format!("fstat 0: {e}"))?;
        for fd in 1..=2 {
            let st = fstat(fd).map_err(|e| format!("fstat {fd}: {e}"))?;
            if st.st_rdev != st0.st_rdev {
                return Err(format!("fd {fd} is not the pty"));
            }
        }
        if !nix::unistd::isatty(0).unwrap_or(false) {
            return Err("stdin is not a tty".into());
        }
        let pgrp =
            nix::unistd::tcgetpgrp(std::io::stdin()).map_err(|e| format!("tcgetpgrp: {e}"))?;
        if pgrp != nix::unistd::getpgrp() || nix::unistd::getsid(None).ok() != Some(pgrp) {
            return Err(format!("not the controlling tty's session/pgrp: {pgrp}"));
        }
        open("/dev/tty", OFlag::O_RDWR, Mode::empty()).map_err(|e| format!("/dev/tty: {e}"))?;
        let ws = get_winsize(std::io::stdin().as_fd()).map_err(|e| format!("winsize: {e}"))?;
        if (ws.ws_row, ws.ws_col) != (24, 80) {
            return Err(format!("winsize {}x{}", ws.ws_row, ws.ws_col));
        }
        if st0.st_uid != CHECKED_UID {
            return Err(format!("owner {}:{}", st0.st_uid, st0.st_gid));
        }
        let console =
            nix::sys::stat::lstat(CONSOLE_PATH).map_err(|e| format!("lstat console: {e}"))?;
        if console.st_rdev != st0.st_rdev || console.st_mode & libc::S_IFMT != libc::S_IFCHR {
            return Err("/dev/console is not the pty".into());
        }
        Ok(())
    }

    #[test]
    fn setup_console_in_private_devpts() {
        setup_console_case(false);
    }

    #[test]
    fn setup_console_when_already_session_leader() {
        setup_console_case(true);
    }

    fn setup_console_case(setsid_first: bool) {
        let (parent_sock, child_sock) = pair(SockType::SeqPacket);
        let child = in_child(|| {
            if setsid_first && setsid().is_err() {
                return 89;
            }
            if private_dev().is_err() {
                return 90;
            }
            // An attacker-planted symlink must be replaced, not followed.
            if nix::unistd::symlinkat("/etc/hostname", None, CONSOLE_PATH).is_err() {
                return 91;
            }
            let size = oci_spec::runtime::BoxBuilder::default()
                .height(24u64)
                .width(80u64)
                .build()
                .unwrap();
            let master = match setup_console(Some(&size), CHECKED_UID) {
                Ok(m) => m,
                Err(_) => return 92,
            };
            let name = pty_name(master.as_fd()).unwrap();
            if send_fd(child_sock.as_fd(), master.as_fd(), &name).is_err() {
                return 93;
            }
            drop(master);
            let report = match check_console_from_inside() {
                Ok(()) => "ALL-OK\n".to_string(),
                Err(e) => format!("FAIL {e}\n"),
            };
            let _ = nix::unistd::write(std::io::stdout(), report.as_bytes());
            0
        });
        drop(child_sock);
        let (master, name) = recv_fd_named(parent_sock.as_fd()).expect("master from child");
        assert!(name.starts_with("/dev/pts/"), "{name}");
        let mut out = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match nix::unistd::read(master.as_raw_fd(), &mut buf) {
                Ok(0) | Err(Errno::EIO) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(Errno::EINTR) => {}
                Err(e) => panic!("read master: {e}"),
            }
        }
        assert_eq!(exit_code(child), 0);
        let out = String::from_utf8_lossy(&out);
        assert!(out.contains("ALL-OK"), "child reported: {out}");
    }

    #[test]
    fn setup_console_refuses_ptmx_not_on_devpts() {
        let child = in_child(|| {
            if private_dev().is_err() {
                return 90;
            }
            // Hide the devpts instance; plant a symlink to a ptmx elsewhere.
            let none = None::<&str>;
            if mount(
                Some("tmpfs"),
                "/dev/pts",
                Some("tmpfs"),
                MsFlags::empty(),
                none,
            )
            .is_err()
            {
                return 91;
            }
            if nix::unistd::symlinkat("/dev/ptmx", None, PTMX_PATH).is_err() {
                return 92;
            }
            if !matches!(setup_console(None, 0), Err(ConsoleError::NotDevpts { .. })) {
                return 93;
            }
            // A real ptmx device node, but not on devpts (the magic check).
            let ptmx = nix::sys::stat::makedev(5, 2);
            let mode = Mode::from_bits_truncate(0o666);
            if unlink(PTMX_PATH).is_err()
                || nix::sys::stat::mknod(PTMX_PATH, SFlag::S_IFCHR, mode, ptmx).is_err()
            {
                return 94;
            }
            match setup_console(None, 0) {
                Err(ConsoleError::NotDevpts { .. }) => 0,
                _ => 95,
            }
        });
        assert_eq!(exit_code(child), 0);
    }
}
