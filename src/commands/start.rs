//! `husk start ID`: run the user process of a `created` container by writing one
//! byte into its exec FIFO.

use crate::cli::IdArg;
use crate::commands::{CommandError, Context};
use crate::state::Status;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

pub fn run(ctx: &Context, args: &IdArg) -> Result<i32, CommandError> {
    let dir = ctx.store.open(&args.id)?;
    let state = dir.load()?;
    let status = dir.status(&state);
    if status != Status::Created {
        return Err(CommandError::msg(format!(
            "cannot start a container that is not created (status: {status})"
        )));
    }
    let path = dir.fifo_path();
    let c = CString::new(path.as_os_str().as_bytes()).expect("state path has no NUL");
    // SAFETY: open with a valid path; O_NONBLOCK makes a missing reader ENXIO
    // instead of blocking forever.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return Err(CommandError::msg(format!(
            "exec fifo: open: {e} (the container init is not waiting; did it die?)"
        )));
    }
    let _ = std::fs::remove_file(&path);
    // SAFETY: writing one byte from a valid buffer to the fd we opened.
    let n = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) };
    let err = std::io::Error::last_os_error();
    if n == 1 {
        wait_reader_gone(fd);
    }
    // SAFETY: closing the fd we opened.
    unsafe { libc::close(fd) };
    if n != 1 {
        return Err(CommandError::msg(format!("exec fifo: write: {err}")));
    }
    run_poststart(&state);
    Ok(0)
}

/// The init keeps the FIFO open until its execve (close-on-exec): wait for the
/// write end to report POLLERR (no reader left), so `start` returns once the user
/// process runs (or init died), after the startContainer hooks.
fn wait_reader_gone(fd: libc::c_int) {
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: 0,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, -1) };
        if rc < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        return;
    }
}

/// The poststart hooks, in the runtime namespace; a failure is only a warning.
pub fn run_poststart(state: &crate::state::State) {
    let hooks = crate::hooks::stored(crate::hooks::Kind::Poststart, &state.hooks);
    if hooks.is_empty() {
        return;
    }
    let json = state_json(state, "running");
    crate::hooks::run_warn(
        crate::hooks::Kind::Poststart,
        &hooks,
        &json,
        Some(&state.bundle),
        &format!("start {}", state.id),
    );
}

/// The runtime.md state of `state` with `status`, for hooks.
pub fn state_json(state: &crate::state::State, status: &str) -> String {
    let pid = if status == "stopped" { 0 } else { state.pid };
    crate::hooks::state_json(
        &state.oci_version,
        &state.id,
        status,
        pid,
        &state.bundle,
        Some(&state.annotations),
    )
}
