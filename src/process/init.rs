//! The container's init, from the clone to execve: namespaces (join, user,
//! unshare, second fork), root filesystem, sysctl, terminal, hostname, then the
//! process attributes (cwd, env, scheduler, ioPriority, memoryPolicy, groups,
//! uid/gid, capabilities, no_new_privs, umask), then the wait on the exec FIFO and
//! the exec.
//!
//! Every failure is sent to the parent as one `Message::Error` naming the spec
//! field and the step; the parent prints it and cleans up.

use crate::bundle::Bundle;
use crate::hooks::{self, Kind};
use crate::linux::namespaces::{self, OpenNamespace};
use crate::linux::rootfs::{self, RootfsOptions};
use crate::linux::{console, memory_policy, net_devices, personality, scheduler, sysctl, user};
use crate::process::attributes::{self, ConsoleTarget};
use crate::process::channel::{Channel, Message};
use crate::process::spawn::ClonePlan;
use oci_spec::runtime::LinuxNamespaceType;
use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What the parent hands to the child across the clone.
pub struct InitArgs<'a> {
    pub bundle: &'a Bundle,
    pub channel: Channel,
    pub plan: ClonePlan,
    pub joined: Vec<OpenNamespace>,
    pub exec_fifo: Option<RawFd>,
    pub console_socket: Option<RawFd>,
    pub console_back: bool,
    pub no_pivot: bool,
    pub preserve_fds: u32,
    /// Bind mount trees made by the parent, by mount index (user namespace).
    pub detached: Vec<(usize, std::os::fd::OwnedFd)>,
}

/// Run the init in the cloned child. Never returns.
pub fn run(args: InitArgs) -> ! {
    let err = match setup(&args) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = args.channel.send(&Message::Error(err));
    // SAFETY: leave the child without running the parent's atexit handlers.
    unsafe { libc::_exit(1) }
}

pub(crate) fn os_err(field: &str, step: &str, e: impl std::fmt::Display) -> String {
    format!("{field}: {step}: {e}")
}

/// Wait for the parent's `Go`; EOF means the parent died.
pub(crate) fn wait_go(ch: &Channel) -> Result<(), String> {
    match ch.recv() {
        Ok(Some(Message::Go)) => Ok(()),
        Ok(Some(m)) => Err(format!("init: unexpected message {m:?}")),
        // SAFETY: the parent is gone; nothing to report to.
        Ok(None) => unsafe { libc::_exit(1) },
        Err(e) => Err(e.to_string()),
    }
}

fn setup(a: &InitArgs) -> Result<std::convert::Infallible, String> {
    let spec = &a.bundle.spec;
    let process = spec.process().as_ref().expect("validated");
    let ns = &a.bundle.namespaces;
    reset_signal_dispositions();
    close_inherited_fds(a);
    wait_go(&a.channel)?;

    if a.plan.clone_flags & libc::CLONE_NEWUSER != 0 {
        user::become_root().map_err(|e| e.to_string())?;
    }
    join_namespaces(&a.joined)?;
    if a.plan.delayed_userns {
        namespaces::unshare(libc::CLONE_NEWUSER, "user").map_err(|e| e.to_string())?;
        a.channel
            .send(&Message::MapsPlease)
            .map_err(|e| e.to_string())?;
        wait_go(&a.channel)?;
        user::become_root().map_err(|e| e.to_string())?;
        if a.plan.unshare_after_userns != 0 {
            namespaces::unshare(a.plan.unshare_after_userns, "namespaces after user")
                .map_err(|e| e.to_string())?;
        }
    } else if a.plan.unshare_after_userns != 0 {
        // A user namespace joined by path: the new namespaces belong to it.
        namespaces::unshare(a.plan.unshare_after_userns, "namespaces in the joined user")
            .map_err(|e| e.to_string())?;
    }
    if a.plan.must_fork {
        second_fork(a)?;
    }
    if !net_devices::of(spec).is_empty() {
        // Every namespace is in place: the parent moves the devices in now.
        a.channel
            .send(&Message::NetDevices)
            .map_err(|e| e.to_string())?;
        wait_go(&a.channel)?;
    }
    // SAFETY: prctl with integer arguments. The id maps are written by now.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };

    // The container's own user namespace, or husk's (rootless podman): either
    // way mknod, sysfs without a netns and mqueue need their fallbacks.
    let in_user_ns =
        ns.has(LinuxNamespaceType::User) || crate::linux::rootless::in_user_namespace();
    if ns.creates(LinuxNamespaceType::Cgroup) {
        namespaces::unshare(libc::CLONE_NEWCGROUP, "cgroup").map_err(|e| e.to_string())?;
    }
    if ns.creates(LinuxNamespaceType::Mount) {
        namespaces::unshare(libc::CLONE_NEWNS, "mount").map_err(|e| e.to_string())?;
    }
    let ropts = RootfsOptions {
        in_user_ns,
        new_net_ns: ns.has(LinuxNamespaceType::Network),
        cgroup_ns: ns.has(LinuxNamespaceType::Cgroup),
        no_pivot: a.no_pivot,
    };
    // Relative mount sources are relative to the bundle.
    let _ = nix::unistd::chdir(a.bundle.dir.as_path());
    if ns.has(LinuxNamespaceType::Mount) {
        rootfs::prepare(spec, &a.bundle.rootfs, &ropts, &a.detached).map_err(|e| e.to_string())?;
    }
    let hook_state = if hooks::any_at_create(spec) {
        Some(create_hooks(a)?)
    } else {
        None
    };
    if ns.has(LinuxNamespaceType::Mount) {
        rootfs::enter(&a.bundle.rootfs, &ropts).map_err(|e| e.to_string())?;
    } else {
        chroot_only(&a.bundle.rootfs)?;
    }
    if let Some(s) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
        sysctl::apply(s).map_err(|e| e.to_string())?;
    }
    if ns.has(LinuxNamespaceType::Mount) {
        if process.terminal().unwrap_or(false) {
            // Before a read-only /dev (or rootfs) could refuse to create it.
            console::prepare_dev_console().map_err(|e| e.to_string())?;
        }
        rootfs::finish(spec, &ropts).map_err(|e| e.to_string())?;
    }

    if process.terminal().unwrap_or(false) {
        // SAFETY: the console socket fd was inherited from the parent and is open.
        let socket = a
            .console_socket
            .map(|fd| unsafe { BorrowedFd::borrow_raw(fd) });
        attributes::setup_terminal(
            process,
            process.user().uid(),
            ConsoleTarget {
                socket,
                back: a.console_back.then_some(&a.channel),
                dev_console: true,
            },
        )?;
        if let Some(fd) = a.console_socket {
            // SAFETY: closing the inherited socket; nothing else uses it.
            unsafe { libc::close(fd) };
        }
    }
    if let Some(h) = spec.hostname().as_ref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).map_err(|e| os_err("hostname", "sethostname", e))?;
    }
    if let Some(d) = spec.domainname().as_ref().filter(|d| !d.is_empty()) {
        set_domainname(d)?;
    }

    let program = attributes::resolve(process)?;
    if let Some(s) = process.scheduler() {
        scheduler::apply_scheduler(s).map_err(|e| e.to_string())?;
    }
    if let Some(p) = process.io_priority() {
        scheduler::apply_io_priority(p).map_err(|e| e.to_string())?;
    }
    if let Some(p) = &a.bundle.memory_policy {
        memory_policy::apply(p).map_err(|e| e.to_string())?;
    }
    let seccomp = a.bundle.seccomp.as_ref();
    let no_new_privs = attributes::switch_privileges(process, &program, seccomp)?;
    if let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) {
        personality::apply(p).map_err(|e| e.to_string())?;
    }
    mark_cloexec(3 + a.preserve_fds as RawFd);

    a.channel.send(&Message::Ready).map_err(|e| e.to_string())?;
    // SAFETY: closing our own end of the sync channel; the parent sees EOF.
    unsafe { libc::close(a.channel.raw_fd()) };
    if let Some(fifo) = a.exec_fifo {
        wait_exec_fifo(fifo);
    }
    if no_new_privs {
        // As close to execve as possible; the sync channel is gone, so report on stderr.
        if let Err(e) = attributes::install_seccomp(seccomp) {
            fatal("seccomp", e);
        }
    }
    if let Some(state) = &hook_state {
        let state = with_status(state, "created");
        let start = Kind::StartContainer.of(spec);
        // In process.cwd, where the init is now.
        if let Err(e) = hooks::run(Kind::StartContainer, &start, &state, None) {
            fatal("startContainer hook", e);
        }
    }
    let args = process.args().as_ref().expect("validated");
    exec(&program.exe, args, &program.env)
}

/// Ask the parent to run the prestart and createRuntime hooks (all mounts are
/// made, the pivot has not happened), then run the createContainer hooks here, in
/// the container's namespaces. Returns the state JSON for startContainer.
fn create_hooks(a: &InitArgs) -> Result<String, String> {
    a.channel
        .send(&Message::Mounted)
        .map_err(|e| e.to_string())?;
    let state = match a.channel.recv().map_err(|e| e.to_string())? {
        Some(Message::State(s)) => s,
        Some(m) => return Err(format!("init: unexpected message {m:?}")),
        // SAFETY: the parent is gone (a hook failed and it killed us, or it died).
        None => unsafe { libc::_exit(1) },
    };
    let spec = &a.bundle.spec;
    hooks::run(
        Kind::CreateContainer,
        &Kind::CreateContainer.of(spec),
        &state,
        Some(a.bundle.rootfs.as_path()),
    )
    .map_err(|e| e.to_string())?;
    Ok(state)
}

/// The state JSON with another `status`.
fn with_status(state: &str, status: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(state) {
        Ok(mut v) => {
            v["status"] = status.into();
            v.to_string()
        }
        Err(_) => state.to_string(),
    }
}

/// Join every namespace given by path: first those that don't need the user
/// namespace (errors tolerated), then the user namespace, then the rest (errors fatal).
pub(crate) fn join_namespaces(joined: &[OpenNamespace]) -> Result<(), String> {
    let mut pending = Vec::new();
    for ns in joined.iter().filter(|n| n.typ != LinuxNamespaceType::User) {
        if namespaces::join(ns).is_err() {
            pending.push(ns);
        }
    }
    for ns in joined.iter().filter(|n| n.typ == LinuxNamespaceType::User) {
        namespaces::join(ns).map_err(|e| e.to_string())?;
        user::become_root().map_err(|e| e.to_string())?;
    }
    for ns in pending {
        namespaces::join(ns).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Enter a new pid or time namespace (or a joined one): they apply only to
/// children, so fork; the intermediate reports the new pid and exits.
fn second_fork(a: &InitArgs) -> Result<(), String> {
    if a.plan.unshare_before_fork != 0 {
        namespaces::unshare(a.plan.unshare_before_fork, "pid/time").map_err(|e| e.to_string())?;
    }
    if a.plan.unshare_before_fork & libc::CLONE_NEWTIME != 0 {
        write_time_offsets(a)?;
    }
    // SAFETY: single-threaded process; the child continues with a copy of memory.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(os_err(
            "linux.namespaces",
            "fork into pid/time namespace",
            nix::Error::last(),
        )),
        0 => Ok(()),
        child => {
            let _ = a.channel.send(&Message::Pid(child));
            // SAFETY: the intermediate process ends here.
            unsafe { libc::_exit(0) }
        }
    }
}

fn write_time_offsets(a: &InitArgs) -> Result<(), String> {
    let offsets = a
        .bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref());
    let Some(offsets) = offsets else {
        return Ok(());
    };
    let mut text = String::new();
    for (clock, off) in offsets {
        text.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    std::fs::write("/proc/self/timens_offsets", text)
        .map_err(|e| os_err("linux.timeOffsets", "writing /proc/self/timens_offsets", e))
}

/// Without a mount namespace there is nothing to pivot: chroot into the rootfs.
fn chroot_only(rootfs: &Path) -> Result<(), String> {
    nix::unistd::chroot(rootfs).map_err(|e| os_err("root.path", "chroot", e))?;
    nix::unistd::chdir("/").map_err(|e| os_err("root.path", "chdir /", e))
}

fn set_domainname(d: &str) -> Result<(), String> {
    // SAFETY: the pointer and length describe the bytes of `d`.
    let rc = unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) };
    if rc != 0 {
        return Err(os_err("domainname", "setdomainname", nix::Error::last()));
    }
    Ok(())
}

/// Close every fd of the parent's that the init does not need (the state-dir lock
/// above all: an inherited flock would outlive `create`). Kept: stdio, the
/// `--preserve-fds` range, the sync channel, the exec FIFO, the console socket and
/// the namespace fds to join.
fn close_inherited_fds(a: &InitArgs) {
    let mut keep: Vec<RawFd> = vec![a.channel.raw_fd()];
    keep.extend(a.exec_fifo);
    keep.extend(a.console_socket);
    keep.extend(a.joined.iter().map(|n| n.fd.as_raw_fd()));
    keep.extend(a.detached.iter().map(|(_, fd)| fd.as_raw_fd()));
    close_fds_except(3 + a.preserve_fds as RawFd, &keep);
}

/// Close every fd >= `first` that is not in `keep`.
pub(crate) fn close_fds_except(first: RawFd, keep: &[RawFd]) {
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= first && !keep.contains(fd))
        .collect();
    for fd in fds {
        // SAFETY: closing an fd inherited from the parent that nothing here uses
        // (the read_dir fd itself is already closed and just fails with EBADF).
        unsafe { libc::close(fd) };
    }
}

/// Mark every fd >= `from` close-on-exec (`--preserve-fds` keeps 3..3+N).
pub(crate) fn mark_cloexec(from: RawFd) {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            from as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return;
    }
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= from)
        .collect();
    for fd in fds {
        // SAFETY: setting FD_CLOEXEC on an fd number; invalid ones just fail.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

/// Block until `start` writes a byte into the exec FIFO. A writer that closes
/// without writing is not a start: the init exits. The fd is close-on-exec.
fn wait_exec_fifo(fd: RawFd) {
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, -1) };
        if rc < 0 {
            if nix::Error::last() == nix::Error::EINTR {
                continue;
            }
            fatal("exec fifo: poll", nix::Error::last());
        }
        let mut b = [0u8; 1];
        // SAFETY: reading one byte into a valid buffer.
        let n = unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) };
        match n {
            1 => break,
            0 => fatal("exec fifo", "closed without a start"),
            _ if nix::Error::last() == nix::Error::EAGAIN
                || nix::Error::last() == nix::Error::EINTR => {}
            _ => fatal("exec fifo: read", nix::Error::last()),
        }
    }
    // The read end stays open (close-on-exec) until execve: `start` waits for it to
    // close, so it returns only once the user process runs (or init died).
}

/// After the sync channel is gone: report on the container's stderr and exit 255.
fn fatal(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("husk: init: {what}: {e}");
    // SAFETY: ending the init process.
    unsafe { libc::_exit(255) }
}

fn cstring(s: &str, what: &str) -> CString {
    CString::new(s).unwrap_or_else(|_| fatal(what, "contains a NUL byte"))
}

pub(crate) fn exec(exe: &Path, args: &[String], env: &[String]) -> ! {
    let path = CString::new(exe.as_os_str().as_bytes())
        .unwrap_or_else(|_| fatal("process.args[0]", "contains a NUL byte"));
    let argv: Vec<CString> = args.iter().map(|a| cstring(a, "process.args")).collect();
    let envp: Vec<CString> = env.iter().map(|e| cstring(e, "process.env")).collect();
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    envp_p.push(std::ptr::null());
    unblock_signals();
    // SAFETY: path, argv and envp are NUL-terminated arrays of valid C strings
    // that outlive the call.
    unsafe { libc::execve(path.as_ptr(), argv_p.as_ptr(), envp_p.as_ptr()) };
    fatal(&format!("exec {}", exe.display()), nix::Error::last())
}

/// Rust ignores SIGPIPE, and an ignored disposition survives execve: set every
/// signal back to its default.
pub(crate) fn reset_signal_dispositions() {
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: SIG_DFL is always a valid disposition.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}

fn unblock_signals() {
    // SAFETY: an empty, initialised signal set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}
