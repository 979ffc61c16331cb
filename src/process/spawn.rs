//! The parent's side of creating a container: choose the clone flags, clone the
//! init straight from this process (no re-exec), apply rlimits, oomScoreAdj and
//! the id maps while the child waits, reap an intermediate process, and collect
//! the init's result over the sync channel.
//!
//! The child's side is `process::init`; the message order is:
//! parent `Go` -> [intermediate `Pid`] -> init [`Console`+fd] -> `Ready` | `Error`.

use crate::bundle::Bundle;
use crate::cgroups::{Cgroup, CgroupError};
use crate::hooks::{self, Kind};
use crate::linux::namespaces::{self, NamespaceError, OpenNamespace};
use crate::linux::net_devices::{self, NetDevicesError};
use crate::linux::{rlimits, user};
use crate::process::channel::{self, ChannelError, Message};
use crate::process::init::{self, InitArgs};
use oci_spec::runtime::LinuxNamespaceType;
use std::os::fd::{AsRawFd, OwnedFd};

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    #[error(transparent)]
    Rlimit(#[from] rlimits::RlimitError),
    #[error(transparent)]
    User(#[from] user::UserError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    #[error(transparent)]
    Mount(#[from] crate::linux::mounts::MountError),
    #[error(transparent)]
    NetDevices(#[from] NetDevicesError),
    #[error("clone: {0}")]
    Clone(nix::Error),
    #[error("process.oomScoreAdj: writing /proc/{pid}/oom_score_adj: {source}")]
    OomScoreAdj { pid: i32, source: std::io::Error },
    /// An error reported by the container's init before exec.
    #[error("{0}")]
    Init(String),
    #[error("container init died before it was ready: {0}")]
    InitDied(String),
}

/// What the caller hands to the new container.
pub struct SpawnOptions<'a> {
    pub bundle: &'a Bundle,
    /// Read end of the exec FIFO (create); None for run, where init execs at once.
    pub exec_fifo: Option<&'a OwnedFd>,
    /// A connected `--console-socket`.
    pub console_socket: Option<&'a OwnedFd>,
    /// Bring the pty master back over the sync channel (foreground run).
    pub console_back: bool,
    pub no_pivot: bool,
    pub preserve_fds: u32,
    /// The container's cgroup, already made: resources are written and the child
    /// placed in it before it is released.
    pub cgroup: Option<&'a Cgroup>,
    /// The systemd driver instead: its unit is started with the child's pid (and
    /// the resources written) before the child is released.
    pub systemd: Option<&'a crate::cgroups::systemd::Placement>,
    /// The container id, for the hooks' state.
    pub id: &'a str,
}

/// The container's init, ready (waiting on the FIFO, or exec'ing).
pub struct Spawned {
    pub pid: i32,
    pub console_master: Option<OwnedFd>,
    /// `linux.netDevices` moved in: `restore` them if the create fails after all;
    /// drop once the container is saved (it holds the network namespace).
    pub net_devices: Option<net_devices::Mover>,
}

/// How the namespaces map onto clone flags and forks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClonePlan {
    /// CLONE_NEW* flags for the first clone.
    pub clone_flags: libc::c_int,
    /// Namespaces the child unshares before its second fork (pid, time).
    pub unshare_before_fork: libc::c_int,
    /// A second fork is needed: pid or time namespace membership changes after clone.
    pub must_fork: bool,
    /// Create the user namespace only after joining the namespaces given by path
    /// (they may be owned by the host's user namespace): the child unshares
    /// CLONE_NEWUSER, asks for its maps, then unshares `unshare_after_userns`.
    pub delayed_userns: bool,
    /// Namespaces created once the user namespace is there: after the delayed
    /// one is made, or after a user namespace given by path is joined (so they
    /// belong to it, and e.g. /proc can be mounted for a new pid namespace).
    pub unshare_after_userns: libc::c_int,
}

/// Choose the clone flags. mount, cgroup and time namespaces are never created by
/// the clone: mount and cgroup are unshared by init later, time needs its offsets
/// written before any process enters it. Joining a pid or time namespace, or
/// creating a time namespace, needs a second fork; then a new pid namespace is
/// created by that unshare too, so the fork returns a pid in our namespace.
pub fn plan(ns: &namespaces::NamespacePlan) -> ClonePlan {
    let delayed_userns = ns.creates(LinuxNamespaceType::User) && !ns.join.is_empty();
    // Everything new is created inside a user namespace joined by path, not by
    // the clone (which runs in the host's).
    let after_userns = delayed_userns || ns.joins(LinuxNamespaceType::User);
    let must_fork = ns.joins(LinuxNamespaceType::Pid)
        || ns.joins(LinuxNamespaceType::Time)
        || ns.creates(LinuxNamespaceType::Time)
        || (after_userns && ns.creates(LinuxNamespaceType::Pid));
    let mut clone_flags = 0;
    let mut unshare_before_fork = 0;
    let mut unshare_after_userns = 0;
    for t in &ns.create {
        let flag = namespaces::clone_flag(*t);
        match t {
            LinuxNamespaceType::Mount | LinuxNamespaceType::Cgroup => {}
            LinuxNamespaceType::Time => unshare_before_fork |= flag,
            LinuxNamespaceType::Pid if must_fork => unshare_before_fork |= flag,
            LinuxNamespaceType::User if delayed_userns => {}
            _ if after_userns => unshare_after_userns |= flag,
            _ => clone_flags |= flag,
        }
    }
    ClonePlan {
        clone_flags,
        unshare_before_fork,
        must_fork,
        delayed_userns,
        unshare_after_userns,
    }
}

/// clone3's argument block (CLONE_ARGS_SIZE_VER2: up to `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Clone the init; on a pure cgroup v2 host straight into its cgroup with clone3
/// (so it never runs outside it). Any clone3 failure (old kernel, seccomp of an
/// outer container, EBUSY) falls back to clone + a write to cgroup.procs.
/// Returns the pid and whether it is already in the cgroup.
fn clone_into(flags: libc::c_int, cgroup: Option<&Cgroup>) -> Result<(i32, bool), SpawnError> {
    if let Some(dir) = cgroup.and_then(Cgroup::unified_dir) {
        if let Ok(fd) = std::fs::File::open(dir) {
            let args = CloneArgs {
                flags: flags as u64 | CLONE_INTO_CGROUP,
                exit_signal: libc::SIGCHLD as u64,
                cgroup: fd.as_raw_fd() as u64,
                ..CloneArgs::default()
            };
            // SAFETY: clone3 without CLONE_VM and without a stack behaves like fork;
            // `args` is a valid, correctly sized clone_args. Single-threaded here.
            let pid = unsafe {
                libc::syscall(
                    libc::SYS_clone3,
                    &args as *const CloneArgs,
                    std::mem::size_of::<CloneArgs>(),
                )
            };
            if pid >= 0 {
                return Ok((pid as i32, true));
            }
        }
    }
    raw_clone(flags)
        .map(|pid| (pid, false))
        .map_err(SpawnError::Clone)
}

/// fork-like clone: the child continues on a copy of this stack (SIGCHLD on exit).
pub(crate) fn raw_clone(flags: libc::c_int) -> Result<i32, nix::Error> {
    // SAFETY: clone without CLONE_VM and without a new stack behaves like fork: the
    // child gets a private copy of the address space. husk is single-threaded here.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid < 0 {
        Err(nix::Error::last())
    } else {
        Ok(pid as i32)
    }
}

/// Block every signal before the clone: the child resets dispositions and
/// unblocks right before execve; a foreground `run` reads them from a signalfd.
/// They stay blocked in the parent.
pub fn block_all_signals() {
    // SAFETY: a fully initialised signal set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Kill and reap a half-made container process.
pub(crate) fn kill_and_reap(pid: i32) {
    // SAFETY: signalling and reaping our own child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    reap(pid);
}

pub(crate) fn reap(pid: i32) -> Option<i32> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if r == pid {
            return Some(status);
        }
        if r < 0 && nix::Error::last() == nix::Error::EINTR {
            continue;
        }
        return None;
    }
}

pub(crate) fn describe_status(status: Option<i32>) -> String {
    match status {
        Some(s) if libc::WIFEXITED(s) => format!("exited with status {}", libc::WEXITSTATUS(s)),
        Some(s) if libc::WIFSIGNALED(s) => format!("killed by signal {}", libc::WTERMSIG(s)),
        _ => "vanished".to_string(),
    }
}

/// Create the container's init and run it up to the point of exec.
pub fn spawn(opts: &SpawnOptions) -> Result<Spawned, SpawnError> {
    let clone_plan = plan(&opts.bundle.namespaces);
    let joined: Vec<OpenNamespace> = namespaces::open_all(&opts.bundle.namespaces.join)?;
    // Inside its own user namespace the init cannot id-map host filesystems, nor
    // reach sources only the host's root can: the parent opens the bind trees
    // now and the init attaches them.
    let detached = if opts.bundle.namespaces.has(LinuxNamespaceType::User) {
        crate::linux::mounts::prepare_detached(&opts.bundle.spec, &opts.bundle.dir)?
    } else {
        Vec::new()
    };
    let mut mover = net_devices::Mover::prepare(&opts.bundle.spec)?;
    let (parent, child) = channel::pair()?;
    block_all_signals();
    let (pid, in_cgroup) = clone_into(clone_plan.clone_flags, opts.cgroup)?;
    if pid == 0 {
        drop(parent);
        init::run(InitArgs {
            bundle: opts.bundle,
            channel: child,
            plan: clone_plan,
            joined,
            exec_fifo: opts.exec_fifo.map(|f| f.as_raw_fd()),
            console_socket: opts.console_socket.map(|f| f.as_raw_fd()),
            console_back: opts.console_back,
            no_pivot: opts.no_pivot,
            preserve_fds: opts.preserve_fds,
            detached,
        });
    }
    drop(child);
    drop(joined);
    crate::logging::debug(|| {
        format!(
            "create {}: init cloned, pid {pid} (clone flags {:#x}{}{})",
            opts.id,
            clone_plan.clone_flags,
            if in_cgroup {
                ", clone3 into its cgroup"
            } else {
                ""
            },
            if clone_plan.must_fork {
                ", forks again into pid/time namespaces"
            } else {
                ""
            }
        )
    });
    match drive(pid, &parent, opts, clone_plan, in_cgroup, mover.as_mut()) {
        Ok(mut s) => {
            s.net_devices = mover;
            Ok(s)
        }
        Err((e, pids)) => {
            if let Some(m) = mover.as_mut() {
                m.restore();
            }
            for p in pids {
                kill_and_reap(p);
            }
            Err(e)
        }
    }
}

pub(crate) type DriveError = (SpawnError, Vec<i32>);

/// The parent's side of the sync protocol after `Go`, for a container's init and
/// an exec'd process alike: follow a second fork (`Pid`), take the pty master
/// (`Console`), end at `Ready`, `Error` or EOF (the child died: reap and say how).
/// Any other message goes to `other` with the current pid; it returns false for
/// one it does not expect. Errors carry the pids to kill.
pub(crate) fn await_ready(
    ch: &channel::Channel,
    child: i32,
    must_fork: bool,
    mut other: impl FnMut(&Message, i32) -> Result<bool, DriveError>,
) -> Result<Spawned, DriveError> {
    let mut pid = child;
    let mut console_master = None;
    loop {
        let received = ch
            .recv_with_fd()
            .map_err(|e| (e.into(), vec![pid, child]))?;
        match received {
            Some((Message::Pid(p), _)) if must_fork && pid == child => {
                reap(child);
                pid = p;
            }
            Some((Message::Console, fd)) => console_master = fd,
            Some((Message::Ready, _)) => {
                return Ok(Spawned {
                    pid,
                    console_master,
                    net_devices: None,
                })
            }
            Some((Message::Error(text), _)) => {
                return Err((SpawnError::Init(text), vec![pid, child]))
            }
            Some((msg, _)) => {
                if !other(&msg, pid)? {
                    return Err((
                        SpawnError::Init(format!("unexpected message from init: {msg:?}")),
                        vec![pid, child],
                    ));
                }
            }
            None => {
                let status = reap(pid);
                if pid != child {
                    reap(child);
                }
                return Err((SpawnError::InitDied(describe_status(status)), vec![]));
            }
        }
    }
}

/// `process.rlimits` and `process.oomScoreAdj` on the (still waiting) child, from
/// the host's user namespace.
pub(crate) fn apply_process_limits(
    child: i32,
    process: &oci_spec::runtime::Process,
) -> Result<(), SpawnError> {
    if let Some(r) = process.rlimits() {
        rlimits::apply(child, r)?;
    }
    if let Some(adj) = process.oom_score_adj() {
        std::fs::write(format!("/proc/{child}/oom_score_adj"), adj.to_string())
            .map_err(|source| SpawnError::OomScoreAdj { pid: child, source })?;
    }
    Ok(())
}

/// `linux.uidMappings`/`gidMappings` for a child that created its user namespace.
fn write_id_maps(child: i32, spec: &oci_spec::runtime::Spec) -> Result<(), SpawnError> {
    let linux = spec.linux().as_ref().expect("validated");
    Ok(user::write_maps(
        child,
        linux.uid_mappings().as_deref().unwrap_or_default(),
        linux.gid_mappings().as_deref().unwrap_or_default(),
    )?)
}

/// Everything the parent does while the child sets up; on error returns the pids
/// that must be killed.
fn drive(
    child: i32,
    ch: &channel::Channel,
    opts: &SpawnOptions,
    clone_plan: ClonePlan,
    in_cgroup: bool,
    mut mover: Option<&mut net_devices::Mover>,
) -> Result<Spawned, DriveError> {
    let spec = &opts.bundle.spec;
    let fail = |e: SpawnError, pids: &[i32]| (e, pids.to_vec());
    let process = spec.process().as_ref().expect("validated");
    apply_process_limits(child, process).map_err(|e| fail(e, &[child]))?;
    if let Some(sd) = opts.systemd {
        // After the clone: the D-Bus connection starts threads.
        sd.place(child).map_err(|e| fail(e.into(), &[child]))?;
        crate::logging::debug(|| {
            format!(
                "create {}: init in systemd unit {}",
                opts.id,
                sd.unit().name
            )
        });
    } else if let Some(cg) = opts.cgroup {
        // The child waits for Go, so it never runs outside its limits; a second
        // fork's grandchild inherits the cgroup.
        let linux = spec.linux().as_ref();
        let resources = linux
            .and_then(|l| l.resources().clone())
            .unwrap_or_default();
        cg.set(&resources)
            .and_then(|()| if in_cgroup { Ok(()) } else { cg.add_pid(child) })
            .map_err(|e| fail(e.into(), &[child]))?;
        crate::logging::debug(|| {
            format!("create {}: resources written, init in its cgroup", opts.id)
        });
    }
    if clone_plan.clone_flags & libc::CLONE_NEWUSER != 0 {
        write_id_maps(child, spec).map_err(|e| fail(e, &[child]))?;
        crate::logging::debug(|| format!("create {}: uid_map and gid_map written", opts.id));
    }
    ch.send(&Message::Go)
        .map_err(|e| fail(e.into(), &[child]))?;

    await_ready(ch, child, clone_plan.must_fork, |msg, init_pid| match msg {
        Message::MapsPlease if clone_plan.delayed_userns => {
            write_id_maps(child, spec).map_err(|e| fail(e, &[child]))?;
            crate::logging::debug(|| {
                format!(
                    "create {}: user namespace made after the joins: maps written",
                    opts.id
                )
            });
            ch.send(&Message::Go)
                .map_err(|e| fail(e.into(), &[child]))?;
            Ok(true)
        }
        Message::NetDevices => {
            let Some(m) = mover.as_deref_mut() else {
                return Ok(false);
            };
            m.move_in(init_pid)
                .map_err(|e| fail(e.into(), &[init_pid, child]))?;
            crate::logging::debug(|| format!("create {}: linux.netDevices moved in", opts.id));
            ch.send(&Message::Go)
                .map_err(|e| fail(e.into(), &[init_pid, child]))?;
            Ok(true)
        }
        Message::Mounted => {
            crate::logging::debug(|| {
                format!(
                    "create {}: init {init_pid} mounted the rootfs; prestart and createRuntime \
                     hooks",
                    opts.id
                )
            });
            let state = hooks::state_json(
                spec.version(),
                opts.id,
                "creating",
                init_pid,
                &opts.bundle.dir,
                spec.annotations().as_ref(),
            );
            let bundle = Some(opts.bundle.dir.as_path());
            hooks::run(Kind::Prestart, &Kind::Prestart.of(spec), &state, bundle)
                .and_then(|()| {
                    let hooks = Kind::CreateRuntime.of(spec);
                    hooks::run(Kind::CreateRuntime, &hooks, &state, bundle)
                })
                .map_err(|e| fail(SpawnError::Hook(e), &[init_pid, child]))?;
            ch.send(&Message::State(state))
                .map_err(|e| fail(e.into(), &[init_pid, child]))?;
            Ok(true)
        }
        _ => Ok(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::namespaces::NamespacePlan;

    fn ns_plan(create: &[LinuxNamespaceType], join: &[LinuxNamespaceType]) -> NamespacePlan {
        NamespacePlan {
            create: create.to_vec(),
            join: join
                .iter()
                .enumerate()
                .map(|(i, t)| (i, *t, "/proc/1/ns/x".into()))
                .collect(),
        }
    }

    #[test]
    fn clone_args_has_the_kernels_ver2_size() {
        assert_eq!(std::mem::size_of::<CloneArgs>(), 88);
    }

    #[test]
    fn default_namespaces_clone_all_but_mount() {
        use LinuxNamespaceType::*;
        let p = plan(&ns_plan(&[Pid, Network, Ipc, Uts, Mount], &[]));
        assert_eq!(
            p.clone_flags,
            libc::CLONE_NEWPID | libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS
        );
        assert!(!p.must_fork);
    }

    #[test]
    fn joined_pid_namespace_forks() {
        use LinuxNamespaceType::*;
        let p = plan(&ns_plan(&[Mount], &[Pid]));
        assert!(p.must_fork);
        assert_eq!(p.clone_flags, 0);
    }

    #[test]
    fn new_userns_with_joined_netns_is_delayed() {
        use LinuxNamespaceType::*;
        let p = plan(&ns_plan(&[User, Pid, Ipc, Mount], &[Network]));
        assert!(p.delayed_userns && p.must_fork);
        assert_eq!(p.clone_flags, 0);
        assert_eq!(p.unshare_after_userns, libc::CLONE_NEWIPC);
        assert_eq!(p.unshare_before_fork, libc::CLONE_NEWPID);
    }

    #[test]
    fn namespaces_are_created_inside_a_joined_user_namespace() {
        use LinuxNamespaceType::*;
        let p = plan(&ns_plan(&[Pid, Ipc, Uts, Network, Mount], &[User]));
        assert!(!p.delayed_userns);
        assert!(p.must_fork, "a new pid namespace needs the fork");
        assert_eq!(p.clone_flags, 0);
        assert_eq!(p.unshare_before_fork, libc::CLONE_NEWPID);
        assert_eq!(
            p.unshare_after_userns,
            libc::CLONE_NEWIPC | libc::CLONE_NEWUTS | libc::CLONE_NEWNET
        );
    }

    #[test]
    fn new_time_namespace_moves_pid_into_the_unshare() {
        use LinuxNamespaceType::*;
        let p = plan(&ns_plan(&[Pid, Time, User], &[]));
        assert!(p.must_fork);
        assert_eq!(p.clone_flags, libc::CLONE_NEWUSER);
        assert_eq!(
            p.unshare_before_fork,
            libc::CLONE_NEWPID | libc::CLONE_NEWTIME
        );
    }
}
