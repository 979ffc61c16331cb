//! The foreground loop of `husk run` (and later `exec`): forward signals to the
//! container process, relay its terminal, reap children, return its exit status.

use nix::unistd::Pid;
use std::os::fd::OwnedFd;

#[derive(Debug, thiserror::Error)]
pub enum ForegroundError {
    #[error("{0}")]
    Other(String),
}

/// Wait for `init` to exit and return its exit code (128+N when killed by signal N).
///
/// Preconditions set by the caller: husk is a child subreaper, and every signal was
/// blocked with sigprocmask before the container was cloned (so none is lost).
/// With `master`, relays the caller's stdin/stdout to the pty (stdin in raw mode if
/// it is a tty, restored on return; SIGWINCH copies the window size).
pub fn wait(_init: Pid, _master: Option<OwnedFd>) -> Result<i32, ForegroundError> {
    Err(ForegroundError::Other("foreground: not implemented".into()))
}
