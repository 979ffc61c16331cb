//! Starting a new process inside a running container (`husk exec`): join the
//! init's namespaces, take `process.execCPUAffinity.initial`, fork into its pid
//! namespace, join its cgroup, take `execCPUAffinity.final`, apply the process
//! attributes (terminal, cwd, env, the container's memoryPolicy, user,
//! capabilities, no_new_privs, umask) and execve.
//!
//! The parent side mirrors `spawn`: clone, rlimits and oomScoreAdj on the child,
//! `Go`, then `Pid` (after the fork into the pid namespace), `CgroupPlease` (the
//! parent adds the pid to the cgroup and answers `Go`), optional `Console`,
//! `Ready` | `Error`.

use crate::linux::cpu_affinity::{self, ExecAffinity};
use crate::linux::memory_policy;
use crate::linux::namespaces::{self, OpenNamespace};

use crate::process::attributes::{self, ConsoleTarget};
use crate::process::channel::{self, Channel, Message};
use crate::process::init;
use crate::process::spawn::{self, DriveError, SpawnError, Spawned};
use oci_spec::runtime::{LinuxNamespaceType, Process};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;

/// What `husk exec` hands to the new process.
pub struct ExecOptions<'a> {
    /// Host pid of the container's init: its namespaces are joined.
    pub init_pid: i32,
    pub process: &'a Process,
    pub console_socket: Option<&'a OwnedFd>,
    /// Bring the pty master back over the sync channel (foreground exec with a tty).
    pub console_back: bool,
    pub preserve_fds: u32,
    /// The container's cgroup: the new process joins it before it runs.
    pub cgroup: Option<&'a crate::cgroups::Cgroup>,
    /// The container's `linux.seccomp`, which applies to exec'd processes too.
    pub seccomp: Option<&'a crate::seccomp::Program>,
    /// `process.execCPUAffinity`, checked.
    pub affinity: ExecAffinity,
    /// The container's `linux.memoryPolicy`, which holds for exec'd processes too.
    pub memory_policy: Option<&'a memory_policy::Policy>,
}

/// Namespace types in the order they are considered; user is joined in the middle
/// by `init::join_namespaces`.
const TYPES: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Mount,
];

/// Open every namespace of `pid` that differs from ours.
fn open_namespaces(pid: i32) -> Result<Vec<OpenNamespace>, SpawnError> {
    let mut out = Vec::new();
    for (index, typ) in TYPES.iter().enumerate() {
        let name = namespaces::proc_name(*typ);
        let theirs = format!("/proc/{pid}/ns/{name}");
        let ours = format!("/proc/self/ns/{name}");
        let (Ok(t), Ok(o)) = (std::fs::metadata(&theirs), std::fs::metadata(&ours)) else {
            continue;
        };
        if t.ino() == o.ino() && t.dev() == o.dev() {
            continue;
        }
        let file = std::fs::File::open(&theirs).map_err(|source| {
            SpawnError::Namespace(namespaces::NamespaceError::Open {
                index,
                typ: namespaces::type_name(*typ),
                path: theirs.clone().into(),
                source,
            })
        })?;
        out.push(OpenNamespace {
            index,
            typ: *typ,
            path: theirs.into(),
            fd: file.into(),
        });
    }
    Ok(out)
}

/// Start `opts.process` in the container of `opts.init_pid`; returns its host pid.
pub fn spawn(opts: &ExecOptions) -> Result<Spawned, SpawnError> {
    let nss = open_namespaces(opts.init_pid)?;
    let must_fork = nss
        .iter()
        .any(|n| matches!(n.typ, LinuxNamespaceType::Pid | LinuxNamespaceType::Time));
    let (parent, child) = channel::pair()?;
    spawn::block_all_signals();
    let pid = spawn::raw_clone(0).map_err(SpawnError::Clone)?;
    if pid == 0 {
        drop(parent);
        child_main(&child, &nss, opts, must_fork);
    }
    drop(child);
    drop(nss);
    crate::logging::debug(|| {
        format!(
            "exec: cloned pid {pid} to join the namespaces of init {}{}",
            opts.init_pid,
            if must_fork {
                " (forks into its pid namespace)"
            } else {
                ""
            }
        )
    });
    match drive(pid, &parent, opts, must_fork) {
        Ok(s) => Ok(s),
        Err((e, pids)) => {
            for p in pids {
                spawn::kill_and_reap(p);
            }
            Err(e)
        }
    }
}

fn drive(
    child: i32,
    ch: &Channel,
    opts: &ExecOptions,
    must_fork: bool,
) -> Result<Spawned, DriveError> {
    let fail = |e: SpawnError, pids: &[i32]| (e, pids.to_vec());
    spawn::apply_process_limits(child, opts.process).map_err(|e| fail(e, &[child]))?;
    ch.send(&Message::Go)
        .map_err(|e| fail(e.into(), &[child]))?;
    spawn::await_ready(ch, child, must_fork, |msg, pid| match (msg, opts.cgroup) {
        (Message::CgroupPlease, Some(cg)) => {
            cg.add_pid(pid).map_err(|e| fail(e.into(), &[pid, child]))?;
            crate::logging::debug(|| format!("exec: pid {pid} placed in the container's cgroup"));
            ch.send(&Message::Go)
                .map_err(|e| fail(e.into(), &[pid, child]))?;
            Ok(true)
        }
        _ => Ok(false),
    })
}

fn child_main(ch: &Channel, nss: &[OpenNamespace], opts: &ExecOptions, must_fork: bool) -> ! {
    let err = match setup(ch, nss, opts, must_fork) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = ch.send(&Message::Error(err));
    // SAFETY: leave the child without running the parent's atexit handlers.
    unsafe { libc::_exit(1) }
}

fn setup(
    ch: &Channel,
    nss: &[OpenNamespace],
    opts: &ExecOptions,
    must_fork: bool,
) -> Result<std::convert::Infallible, String> {
    let process = opts.process;
    init::reset_signal_dispositions();
    let mut keep: Vec<RawFd> = vec![ch.raw_fd()];
    keep.extend(opts.console_socket.map(|f| f.as_raw_fd()));
    keep.extend(nss.iter().map(|n| n.fd.as_raw_fd()));
    init::close_fds_except(3 + opts.preserve_fds as RawFd, &keep);
    init::wait_go(ch)?;
    // Non-dumpable before joining the container's pid namespace, so no container
    // process can ptrace it or open its /proc files while it still holds host fds
    // (CVE-2016-9962); inherited by the fork into the pid namespace.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    enter_container(ch, nss, opts, must_fork)?;
    if process.terminal().unwrap_or(false) {
        attributes::setup_terminal(
            process,
            process.user().uid(),
            ConsoleTarget {
                socket: opts.console_socket.map(|f| f.as_fd()),
                back: opts.console_back.then_some(ch),
                dev_console: false,
            },
        )?;
    }
    let program = attributes::resolve(process)?;
    if let Some(p) = opts.memory_policy {
        memory_policy::apply(p).map_err(|e| e.to_string())?;
    }
    let nnp = attributes::switch_privileges(process, &program, opts.seccomp)?;
    init::mark_cloexec(3 + opts.preserve_fds as RawFd);
    if nnp {
        attributes::install_seccomp(opts.seccomp)?;
    }
    ch.send(&Message::Ready).map_err(|e| e.to_string())?;
    let args = process.args().as_ref().expect("checked by resolve");
    // The sync channel is close-on-exec: the parent sees EOF once execve succeeds.
    init::exec(&program.exe, args, &program.env)
}

/// Join the container: its namespaces, `execCPUAffinity.initial`, the fork into
/// its pid namespace, its cgroup (placed by the parent), `execCPUAffinity.final`.
fn enter_container(
    ch: &Channel,
    nss: &[OpenNamespace],
    opts: &ExecOptions,
    must_fork: bool,
) -> Result<(), String> {
    init::join_namespaces(nss)?;
    cpu_affinity::apply(opts.affinity.initial.as_ref()).map_err(|e| e.to_string())?;
    if must_fork {
        fork_into_pid_namespace(ch, opts.cgroup.is_some())?;
    } else if opts.cgroup.is_some() {
        ch.send(&Message::CgroupPlease).map_err(|e| e.to_string())?;
    }
    if opts.cgroup.is_some() {
        init::wait_go(ch)?;
    }
    cpu_affinity::apply(opts.affinity.last.as_ref()).map_err(|e| e.to_string())
}

/// Fork; the intermediate reports the new pid (and asks for the cgroup on the
/// new process's behalf, so the parent knows the pid first) and exits.
fn fork_into_pid_namespace(ch: &Channel, ask_cgroup: bool) -> Result<(), String> {
    // SAFETY: single-threaded process; the child continues with a copy of memory.
    match unsafe { libc::fork() } {
        -1 => Err(init::os_err(
            "exec",
            "fork into the pid namespace",
            nix::Error::last(),
        )),
        0 => Ok(()),
        grandchild => {
            let _ = ch.send(&Message::Pid(grandchild));
            if ask_cgroup {
                let _ = ch.send(&Message::CgroupPlease);
            }
            // SAFETY: the intermediate process ends here.
            unsafe { libc::_exit(0) }
        }
    }
}
