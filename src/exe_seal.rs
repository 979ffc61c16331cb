//! CVE-2019-5736: make sure the binary behind /proc/self/exe of every process husk
//! forks into a container cannot be written through, before anything is forked.
//!
//! husk forks the container init straight from the CLI process, so init (and anything
//! a container runs through `#!/proc/self/exe`) shares the CLI's `/proc/self/exe`. Only
//! `execve` can change that link, so [`ensure_sealed`] makes the CLI itself run from a
//! safe file, at most once per invocation:
//!
//! 1. If `/proc/self/exe` is already safe — a memfd carrying `F_SEAL_SEAL`,
//!    `F_SEAL_SHRINK`, `F_SEAL_GROW` and `F_SEAL_WRITE`, or a file on a read-only mount
//!    (`fstatfs` reports `ST_RDONLY`; this includes the overlay built below) — return at
//!    the cost of one `open`, one `fcntl` and one `fstatfs`. The file itself is always
//!    re-checked; the environment marker is used only to detect a re-exec loop.
//! 2. Otherwise, as root with the mount API, build a detached, lower-only (hence
//!    read-only) overlay whose top layer is the binary's directory and whose bottom
//!    layer is an empty detached tmpfs (`fsopen`/`fsconfig`/`fsmount`; the mounts are
//!    never attached to any tree), open the binary in it `O_PATH`, and re-exec the CLI
//!    from that fd with `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`. No copy of the
//!    binary is made on this path.
//! 3. If that is not possible (rootless, no overlayfs, no mount API, binary deleted),
//!    copy the binary into a memfd, seal it and re-exec from the memfd.
//!
//! Must be called before any thread is started: it may call `execveat` and it edits the
//! environment.

use std::ffi::{CString, OsStr};
use std::fmt;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;

/// Set in the environment of the re-executed CLI, to the process name (comm) before the
/// re-exec. It never decides whether the binary is safe; it only turns "still unsafe
/// after our own re-exec" into an error instead of an exec loop, and restores the name
/// (an fd exec names the process after the fd on older kernels and "memfd:husk" for a
/// memfd). Removed from the environment on entry.
pub const REEXEC_MARKER: &str = "_HUSK_EXE_SEALED";

/// The seals a memfd must carry to count as safe.
const REQUIRED_SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

// From <linux/mount.h>; the libc crate does not carry these.
const FSOPEN_CLOEXEC: libc::c_uint = 0x1;
const FSMOUNT_CLOEXEC: libc::c_uint = 0x1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;
const MOUNT_ATTR_NOEXEC: libc::c_uint = 0x8;

/// One failed system call: the step it belonged to and its errno.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    pub step: String,
    pub errno: Errno,
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.step, self.errno.desc())
    }
}

fn step(step: impl Into<String>, errno: Errno) -> StepError {
    StepError {
        step: step.into(),
        errno,
    }
}

fn last(what: impl Into<String>) -> StepError {
    step(what, Errno::last())
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// A single step failed (checking /proc/self/exe, or the only method allowed).
    #[error("exe seal: {0}")]
    Step(StepError),
    /// The overlay seal failed, then the memfd fallback failed too.
    #[error("exe seal: {memfd} (after overlay seal failed: {overlay})")]
    Fallback {
        overlay: StepError,
        memfd: StepError,
    },
    /// We re-executed ourselves from a sealed handle and /proc/self/exe is still unsafe.
    #[error(
        "exe seal: /proc/self/exe is still not sealed after re-exec ({REEXEC_MARKER} is set); refusing to loop"
    )]
    StillUnsealed,
}

impl From<StepError> for SealError {
    fn from(e: StepError) -> Self {
        SealError::Step(e)
    }
}

/// What protects the file behind /proc/self/exe, as found by [`exe_safety`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExeSafety {
    /// A memfd with SEAL|SHRINK|GROW|WRITE seals.
    SealedMemfd,
    /// A file on a read-only mount (includes husk's lower-only overlay).
    ReadOnlyMount,
    /// Writable through some path: must be sealed before forking a container.
    Unsealed,
}

/// Which sealed handle [`ensure_sealed_with`] may build. `Auto` is what
/// [`ensure_sealed`] uses; the others exist for tests and benchmarks.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Overlay if possible, else memfd.
    Auto,
    /// Overlay only; fail if it cannot be built.
    Overlay,
    /// Memfd only.
    Memfd,
}

/// Called first thing by `main` for `create`, `run` and `exec`. Returns Ok(()) when
/// /proc/self/exe is already safe; otherwise builds a sealed copy and re-execs the
/// CLI from it once (does not return on success).
pub fn ensure_sealed() -> Result<(), SealError> {
    ensure_sealed_with(Method::Auto)
}

/// [`ensure_sealed`] with a chosen sealing method (for tests and benchmarks).
#[doc(hidden)]
pub fn ensure_sealed_with(method: Method) -> Result<(), SealError> {
    let marker = std::env::var_os(REEXEC_MARKER);
    let reexeced = marker.is_some();
    if let Some(name) = marker {
        set_comm(name.as_bytes());
        // Single-threaded here (documented precondition), so editing the environment is
        // sound. Removing it keeps it away from hooks and from a nested husk.
        std::env::remove_var(REEXEC_MARKER);
    }
    let exe = open_self_exe()?;
    if classify(&exe.fd)? != ExeSafety::Unsealed {
        return Ok(());
    }
    if reexeced {
        return Err(SealError::StillUnsealed);
    }
    match method {
        Method::Overlay => Err(overlay_then_exec(&exe).into()),
        Method::Memfd => Err(memfd_then_exec(&exe).into()),
        Method::Auto => {
            let overlay = overlay_then_exec(&exe);
            let memfd = memfd_then_exec(&exe);
            Err(SealError::Fallback { overlay, memfd })
        }
    }
}

/// Reports what protects the file behind /proc/self/exe right now.
pub fn exe_safety() -> Result<ExeSafety, SealError> {
    let exe = open_self_exe()?;
    Ok(classify(&exe.fd)?)
}

/// An fd on the running binary; `readable` is false when only O_PATH was possible
/// (an execute-only binary run by a user who cannot read it).
struct SelfExe {
    fd: OwnedFd,
    readable: bool,
}

fn open_self_exe() -> Result<SelfExe, StepError> {
    let path = c"/proc/self/exe";
    // SAFETY: `path` is a valid NUL-terminated string; open has no other preconditions.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd >= 0 {
        // SAFETY: `fd` was just returned by open and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        return Ok(SelfExe { fd, readable: true });
    }
    let err = Errno::last();
    if err != Errno::EACCES {
        return Err(step("open /proc/self/exe", err));
    }
    // SAFETY: as above.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(last("open /proc/self/exe"));
    }
    // SAFETY: `fd` was just returned by open and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok(SelfExe {
        fd,
        readable: false,
    })
}

fn classify(fd: &OwnedFd) -> Result<ExeSafety, StepError> {
    // SAFETY: F_GET_SEALS takes no argument and only reads the fd's inode state. On an
    // O_PATH fd or a file without sealing support it fails (EBADF / EINVAL).
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    if seals >= 0 && seals & REQUIRED_SEALS == REQUIRED_SEALS {
        return Ok(ExeSafety::SealedMemfd);
    }
    // SAFETY: an all-zero statfs64 is a valid value of this plain C struct.
    let mut st: libc::statfs64 = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable statfs64 for the kernel to fill in (the libc
    // crate exposes f_flags only on the 64-bit variant).
    if unsafe { libc::fstatfs64(fd.as_raw_fd(), &mut st) } < 0 {
        return Err(last("fstatfs /proc/self/exe"));
    }
    if st.f_flags as libc::c_ulong & libc::ST_RDONLY != 0 {
        return Ok(ExeSafety::ReadOnlyMount);
    }
    Ok(ExeSafety::Unsealed)
}

fn own(fd: libc::c_long, what: &str) -> Result<OwnedFd, StepError> {
    if fd < 0 {
        return Err(last(what));
    }
    // SAFETY: `fd` is a new descriptor just returned by the kernel to this caller only.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn fsopen(fstype: &std::ffi::CStr) -> Result<OwnedFd, StepError> {
    // SAFETY: fsopen(const char *fsname, unsigned flags); `fstype` is NUL-terminated.
    let fd = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) };
    own(fd, &format!("fsopen {}", fstype.to_string_lossy()))
}

fn fsconfig_string(fs: &OwnedFd, key: &std::ffi::CStr, value: &[u8]) -> Result<(), Errno> {
    let value = CString::new(value).map_err(|_| Errno::EINVAL)?;
    // SAFETY: fsconfig(fd, FSCONFIG_SET_STRING, key, value, 0) with two NUL-terminated
    // strings that outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

fn fsconfig_create(fs: &OwnedFd) -> Result<(), Errno> {
    // SAFETY: FSCONFIG_CMD_CREATE takes no key or value (both NULL, aux 0).
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Names a failed fsconfig step, with the filesystem's own message when it left one in
/// the context's log (e.g. `overlayfs: failed to resolve ...`).
fn fs_step(fs: &OwnedFd, what: &str, errno: Errno) -> StepError {
    let mut buf = [0u8; 256];
    // SAFETY: reads at most buf.len() bytes into `buf` from a valid fs context fd.
    let n = unsafe { libc::read(fs.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n > 2 {
        let msg = String::from_utf8_lossy(&buf[2..n as usize])
            .trim()
            .to_string();
        return step(format!("{what} ({msg})"), errno);
    }
    step(what, errno)
}

fn fsmount(fs: &OwnedFd, attrs: libc::c_uint, what: &str) -> Result<OwnedFd, StepError> {
    // SAFETY: fsmount(fs_fd, flags, attr_flags) only takes integers.
    let fd = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) };
    own(fd, what)
}

/// Escapes a path for overlayfs' `lowerdir=` list (`:` separates layers; `\` escapes).
fn escape_layer(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len() + 8);
    for &b in path {
        if matches!(b, b'\\' | b':' | b',') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

fn fstat(fd: &OwnedFd, what: &str) -> Result<libc::stat, StepError> {
    // SAFETY: an all-zero stat is a valid value of this plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable stat for the kernel to fill in.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } < 0 {
        return Err(last(what));
    }
    Ok(st)
}

/// Builds the detached lower-only overlay and returns an O_PATH fd on the binary in it.
fn overlay_handle(exe: &SelfExe) -> Result<OwnedFd, StepError> {
    let target = std::fs::read_link("/proc/self/exe")
        .map_err(|e| step("readlink /proc/self/exe", io_errno(&e)))?;
    let bytes = target.as_os_str().as_bytes();
    if !bytes.starts_with(b"/") || bytes.ends_with(b" (deleted)") {
        return Err(step(
            format!("overlay seal: binary path {}", target.display()),
            Errno::ENOENT,
        ));
    }
    let (dir, base) = match (target.parent(), target.file_name()) {
        (Some(d), Some(b)) => (d.as_os_str().as_bytes(), b),
        _ => return Err(step("overlay seal: binary path", Errno::EINVAL)),
    };

    let ovl = fsopen(c"overlay")?;
    // The empty bottom layer: a tiny detached tmpfs, reached through its mount fd.
    let tmpfs = fsopen(c"tmpfs")?;
    fsconfig_string(&tmpfs, c"size", b"4k")
        .map_err(|e| fs_step(&tmpfs, "fsconfig tmpfs size", e))?;
    fsconfig_create(&tmpfs).map_err(|e| fs_step(&tmpfs, "fsconfig tmpfs create", e))?;
    let empty = fsmount(
        &tmpfs,
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
        "fsmount tmpfs",
    )?;
    let empty_path = format!("/proc/self/fd/{}", empty.as_raw_fd());

    // Two lower layers and no upper layer: overlayfs makes the superblock read-only.
    let mut lower = escape_layer(dir);
    lower.push(b':');
    lower.extend_from_slice(empty_path.as_bytes());
    fsconfig_string(&ovl, c"lowerdir", &lower)
        .map_err(|e| fs_step(&ovl, "fsconfig overlay lowerdir", e))?;
    // xino=off keeps the real inode number (checked below) instead of composing one
    // from the layer index. Best effort: older kernels lack the option.
    let xino_off = match fsconfig_string(&ovl, c"xino", b"off") {
        Ok(()) => true,
        Err(e) => {
            // Drain the message this left in the log so a later failure reports its own.
            let _ = fs_step(&ovl, "", e);
            false
        }
    };
    fsconfig_create(&ovl).map_err(|e| fs_step(&ovl, "fsconfig overlay create", e))?;
    let mnt = fsmount(
        &ovl,
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID,
        "fsmount overlay",
    )?;
    let base = CString::new(base.as_bytes()).map_err(|_| step("overlay seal", Errno::EINVAL))?;
    // SAFETY: openat on a valid dirfd with a NUL-terminated relative name.
    let fd = unsafe {
        libc::openat(
            mnt.as_raw_fd(),
            base.as_ptr(),
            libc::O_PATH | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        )
    };
    let file = own(fd as libc::c_long, "open binary in overlay")?;

    // The path may have been replaced since we started (package upgrade): only exec
    // the overlay view if it is the very file we are running.
    let want = fstat(&exe.fd, "fstat /proc/self/exe")?;
    let got = fstat(&file, "fstat binary in overlay")?;
    if (got.st_mode & libc::S_IFMT) != libc::S_IFREG
        || (xino_off && got.st_ino != want.st_ino)
        || got.st_size != want.st_size
        || got.st_mtime != want.st_mtime
        || got.st_mtime_nsec != want.st_mtime_nsec
        || got.st_ctime != want.st_ctime
        || got.st_ctime_nsec != want.st_ctime_nsec
    {
        return Err(step(
            format!(
                "overlay seal: {} is not the running binary",
                target.display()
            ),
            Errno::ESTALE,
        ));
    }
    Ok(file)
}

/// Copies the running binary into a sealed memfd.
fn memfd_handle(exe: &SelfExe) -> Result<OwnedFd, StepError> {
    if !exe.readable {
        return Err(step("memfd seal: read /proc/self/exe", Errno::EACCES));
    }
    let name = c"husk";
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: memfd_create(const char *name, unsigned flags) with a NUL-terminated name.
    let mut fd = unsafe { libc::memfd_create(name.as_ptr(), base | libc::MFD_EXEC) };
    if fd < 0 && Errno::last() == Errno::EINVAL {
        // Kernels before 6.3 do not know MFD_EXEC; memfds are executable there.
        // SAFETY: as above.
        fd = unsafe { libc::memfd_create(name.as_ptr(), base) };
    }
    let memfd = own(fd as libc::c_long, "memfd_create")?;

    let size = fstat(&exe.fd, "fstat /proc/self/exe")?.st_size;
    let mut off: libc::off_t = 0;
    while off < size {
        let want = (size - off) as usize;
        // SAFETY: sendfile between two valid fds; `off` is a valid in/out offset, so the
        // source file position is left alone.
        let n = unsafe { libc::sendfile(memfd.as_raw_fd(), exe.fd.as_raw_fd(), &mut off, want) };
        if n < 0 {
            if Errno::last() == Errno::EINTR {
                continue;
            }
            return Err(last("memfd seal: sendfile"));
        }
        if n == 0 {
            return Err(step("memfd seal: sendfile: binary shrank", Errno::EIO));
        }
    }

    // SAFETY: fchmod on a valid fd.
    if unsafe { libc::fchmod(memfd.as_raw_fd(), 0o511) } < 0 {
        return Err(last("memfd seal: fchmod"));
    }
    // Freeze the exec bits too where the kernel supports it (6.3+); best effort, and it
    // must come before F_SEAL_SEAL.
    // SAFETY: F_ADD_SEALS with an int argument on a valid fd.
    let _ = unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, libc::F_SEAL_EXEC) };
    // SAFETY: as above.
    if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, REQUIRED_SEALS) } < 0 {
        return Err(last("memfd seal: add seals"));
    }
    Ok(memfd)
}

/// The current process name (comm), without its NUL; `b"husk"` if it cannot be read.
fn get_comm() -> Vec<u8> {
    let mut buf = [0u8; 17];
    // SAFETY: PR_GET_NAME writes at most 16 bytes (NUL included) into `buf`.
    if unsafe { libc::prctl(libc::PR_GET_NAME, buf.as_mut_ptr()) } < 0 {
        return b"husk".to_vec();
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(16);
    buf[..len].to_vec()
}

/// Best-effort PR_SET_NAME (the kernel truncates to 15 bytes).
fn set_comm(name: &[u8]) {
    let name: Vec<u8> = name
        .iter()
        .copied()
        .take(15)
        .take_while(|&b| b != 0)
        .collect();
    if name.is_empty() {
        return;
    }
    let Ok(name) = CString::new(name) else { return };
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
}

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

fn cstring(s: &OsStr) -> Result<CString, StepError> {
    CString::new(s.as_bytes()).map_err(|_| step("re-exec: NUL in argument", Errno::EINVAL))
}

/// Re-executes the CLI from `fd` with the same argv and environment plus the marker.
/// Only returns on failure.
fn reexec(fd: &OwnedFd) -> StepError {
    let argv: Result<Vec<CString>, _> = std::env::args_os().map(|a| cstring(&a)).collect();
    let argv = match argv {
        Ok(a) => a,
        Err(e) => return e,
    };
    let mut envp = Vec::new();
    for (k, v) in std::env::vars_os() {
        if k == REEXEC_MARKER {
            continue;
        }
        let mut kv = std::os::unix::ffi::OsStringExt::into_vec(k);
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        match CString::new(kv) {
            Ok(c) => envp.push(c),
            Err(_) => return step("re-exec: NUL in environment", Errno::EINVAL),
        }
    }
    let mut marker = format!("{REEXEC_MARKER}=").into_bytes();
    marker.extend_from_slice(&get_comm());
    envp.push(CString::new(marker).expect("comm has no NUL"));

    // The C prototype says `char *const argv[]`; execveat does not write through them.
    let mut argv_p: Vec<*mut libc::c_char> = argv.iter().map(|a| a.as_ptr().cast_mut()).collect();
    argv_p.push(std::ptr::null_mut());
    let mut envp_p: Vec<*mut libc::c_char> = envp.iter().map(|e| e.as_ptr().cast_mut()).collect();
    envp_p.push(std::ptr::null_mut());
    // SAFETY: both arrays are NULL-terminated and point at CStrings alive for the call;
    // the empty path with AT_EMPTY_PATH execs the file `fd` refers to. The fd is
    // close-on-exec, which is fine for an ELF binary (only scripts need it open).
    unsafe {
        libc::execveat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv_p.as_ptr(),
            envp_p.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    last("execveat sealed binary")
}

fn overlay_then_exec(exe: &SelfExe) -> StepError {
    match overlay_handle(exe) {
        Ok(fd) => reexec(&fd),
        Err(e) => e,
    }
}

fn memfd_then_exec(exe: &SelfExe) -> StepError {
    match memfd_handle(exe) {
        Ok(fd) => reexec(&fd),
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_paths_are_escaped() {
        assert_eq!(escape_layer(b"/usr/bin"), b"/usr/bin".to_vec());
        assert_eq!(escape_layer(b"/a:b,c\\d"), b"/a\\:b\\,c\\\\d".to_vec());
    }

    #[test]
    fn messages_name_the_step() {
        let e = SealError::Step(step("fsopen overlay", Errno::EPERM));
        assert_eq!(
            e.to_string(),
            "exe seal: fsopen overlay: Operation not permitted"
        );
        let e = SealError::Fallback {
            overlay: step("fsopen overlay", Errno::EPERM),
            memfd: step("memfd_create", Errno::EMFILE),
        };
        assert_eq!(
            e.to_string(),
            "exe seal: memfd_create: Too many open files (after overlay seal failed: fsopen overlay: Operation not permitted)"
        );
    }

    #[test]
    fn cargo_test_binary_is_classified() {
        // The test binary lives in target/, normally on a writable mount.
        let s = exe_safety().expect("classify");
        assert!(matches!(s, ExeSafety::Unsealed | ExeSafety::ReadOnlyMount));
    }
}
