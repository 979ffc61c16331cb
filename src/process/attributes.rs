//! The user process's attributes, shared by a container's init and by a process
//! `exec`'d into a running container: the terminal, the program (cwd, env, PATH
//! lookup), and the privilege switch (seccomp before it without no_new_privs,
//! groups/gid/uid, capabilities, no_new_privs, umask).

use crate::linux::{capabilities, console, user};
use crate::process::channel::{Channel, Message};
use crate::seccomp::Program;
use oci_spec::runtime::Process;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

/// The PATH used for the lookup of `process.args[0]` when `process.env` has none.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn os_err(field: &str, step: &str, e: impl std::fmt::Display) -> String {
    format!("{field}: {step}: {e}")
}

/// Where the pty master goes: a `--console-socket`, or back over the sync channel
/// to a foreground `run`/`exec`.
pub(crate) struct ConsoleTarget<'a> {
    pub socket: Option<BorrowedFd<'a>>,
    pub back: Option<&'a Channel>,
    /// Bind the pty onto the container's /dev/console (the init; not an exec).
    pub dev_console: bool,
}

/// Allocate the process's terminal and hand the master to `to`. A foreground
/// relay without `consoleSize` gives the pty the caller's size now, so the process
/// never sees 0x0 before the relay copies it, and clears the pty's `onlcr`, as
/// runc does: the caller's own terminal (if any) turns `\n` into `\r\n` once, and
/// output piped to a file keeps the container's bytes (`444\n`, not `444\r\n`).
pub(crate) fn setup_terminal(process: &Process, uid: u32, to: ConsoleTarget) -> Result<(), String> {
    let inherited = match process.console_size() {
        None if to.back.is_some() => caller_window_size(),
        _ => None,
    };
    let size = process.console_size().or(inherited);
    let master = if to.dev_console {
        console::setup_console(size.as_ref(), uid)
    } else {
        console::setup_exec_terminal(size.as_ref(), uid)
    }
    .map_err(|e| e.to_string())?;
    if let Some(sock) = to.socket {
        console::send_fd(sock, master.as_fd(), "/dev/console").map_err(|e| e.to_string())?;
    } else if let Some(ch) = to.back {
        console::clear_onlcr(master.as_fd()).map_err(|e| e.to_string())?;
        ch.send_with_fd(&Message::Console, Some(master.as_raw_fd()))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The program to exec, resolved in the container before the privilege switch.
pub(crate) struct UserProgram {
    pub exe: PathBuf,
    pub env: Vec<String>,
    /// The chdir to `process.cwd` worked as root; otherwise retried after the switch.
    cwd_ok: bool,
}

/// chdir to `process.cwd` (as root), the environment with HOME, and the PATH lookup
/// of `process.args[0]`.
pub(crate) fn resolve(process: &Process) -> Result<UserProgram, String> {
    let uid = process.user().uid();
    let cwd_ok = nix::unistd::chdir(process.cwd().as_path()).is_ok();
    let env = build_env(process, uid);
    let args = process
        .args()
        .as_ref()
        .filter(|a| !a.is_empty())
        .ok_or("process.args: must name the program to run")?;
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let exe = lookup(&args[0], path_var)?;
    Ok(UserProgram { exe, env, cwd_ok })
}

/// The privilege switch: seccomp first when there is no no_new_privs (seccomp(2)
/// then needs CAP_SYS_ADMIN), credentials and capabilities, the cwd retry,
/// no_new_privs, umask. With no_new_privs the caller installs seccomp as late as
/// it can. Returns whether no_new_privs is set.
pub(crate) fn switch_privileges(
    process: &Process,
    program: &UserProgram,
    seccomp: Option<&Program>,
) -> Result<bool, String> {
    let nnp = process.no_new_privileges().unwrap_or(false);
    if !nnp {
        install_seccomp(seccomp)?;
    }
    set_credentials(process, process.user().uid(), process.user().gid())?;
    if !program.cwd_ok {
        let cwd = process.cwd();
        nix::unistd::chdir(cwd.as_path())
            .map_err(|e| os_err("process.cwd", &format!("chdir {}", cwd.display()), e))?;
    }
    if nnp {
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(os_err(
                "process.noNewPrivileges",
                "prctl PR_SET_NO_NEW_PRIVS",
                nix::Error::last(),
            ));
        }
    }
    user::set_umask(process.user().umask());
    Ok(nnp)
}

/// Load the compiled `linux.seccomp` filter, if any. Every syscall after this
/// must be allowed by the profile.
pub(crate) fn install_seccomp(seccomp: Option<&Program>) -> Result<(), String> {
    match seccomp {
        Some(p) => crate::seccomp::install(p).map_err(|e| e.to_string()),
        None => Ok(()),
    }
}

/// `process.env`, plus HOME from the container's /etc/passwd when unset.
fn build_env(process: &Process, uid: u32) -> Vec<String> {
    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!(
            "HOME={}",
            user::home_of(uid).unwrap_or_else(|| "/".into())
        ));
    }
    env
}

/// Resolve `process.args[0]` in the container: a name with '/' as is, else the
/// first executable file of that name on PATH.
pub(crate) fn lookup(name: &str, path_var: &str) -> Result<PathBuf, String> {
    let executable = |p: &Path| {
        p.metadata().is_ok_and(|m| m.is_file())
            && nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok()
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return if executable(&p) {
            Ok(p)
        } else {
            Err(format!(
                "process.args[0]: executable file {name} not found or not executable"
            ))
        };
    }
    path_var
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(name))
        .find(|p| executable(p))
        .ok_or_else(|| format!("process.args[0]: executable file `{name}` not found in $PATH"))
}

/// Groups, gid and uid, keeping the capabilities across the uid switch, then the
/// five capability sets.
fn set_credentials(process: &Process, uid: u32, gid: u32) -> Result<(), String> {
    let masks = match process.capabilities() {
        Some(c) => Some(capabilities::masks(c).map_err(|e| e.to_string())?),
        None => None,
    };
    if let Some(m) = &masks {
        capabilities::drop_bounding(m.bounding).map_err(|e| e.to_string())?;
    }
    capabilities::keep_caps(true).map_err(|e| e.to_string())?;
    let groups = process.user().additional_gids().clone().unwrap_or_default();
    user::set_groups(&groups).map_err(|e| e.to_string())?;
    user::set_ids(uid, gid).map_err(|e| e.to_string())?;
    capabilities::keep_caps(false).map_err(|e| e.to_string())?;
    if let Some(m) = &masks {
        capabilities::apply_sets(m).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The window size of our stdin, when it is a terminal.
fn caller_window_size() -> Option<oci_spec::runtime::Box> {
    let ws = console::get_winsize(std::io::stdin().as_fd()).ok()?;
    oci_spec::runtime::BoxBuilder::default()
        .height(ws.ws_row as u64)
        .width(ws.ws_col as u64)
        .build()
        .ok()
        .filter(|b| b.height() > 0 && b.width() > 0)
}
