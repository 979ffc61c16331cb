//! Terminals: allocating the container's pty from its own devpts, making it the
//! controlling terminal and stdio, /dev/console, `consoleSize`, and passing the
//! master fd over a unix socket with SCM_RIGHTS (`--console-socket`, or back to a
//! foreground `husk run`).

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("{0}")]
    Other(String),
}

/// Connect to the `--console-socket` unix socket (called in the parent before clone).
pub fn connect_console_socket(_path: &Path) -> Result<OwnedFd, ConsoleError> {
    Err(ConsoleError::Other("console: not implemented".into()))
}

/// In the container init, after the pivot: allocate a pty from /dev/pts/ptmx, apply
/// `process.consoleSize`, setsid + TIOCSCTTY, dup the peer onto 0,1,2, bind it onto
/// /dev/console, chown it to the process user. Returns the master.
pub fn setup_console(
    _size: Option<&oci_spec::runtime::Box>,
    _uid: u32,
    _gid: u32,
) -> Result<OwnedFd, ConsoleError> {
    Err(ConsoleError::Other("console: not implemented".into()))
}

/// Send `fd` over the connected unix socket `sock` with exactly one SCM_RIGHTS
/// message whose payload is `name` (what go-runc and conmon accept).
pub fn send_fd(_sock: BorrowedFd, _fd: BorrowedFd, _name: &str) -> Result<(), ConsoleError> {
    Err(ConsoleError::Other("console: not implemented".into()))
}

/// Receive one fd sent by `send_fd`.
pub fn recv_fd(_sock: BorrowedFd) -> Result<OwnedFd, ConsoleError> {
    Err(ConsoleError::Other("console: not implemented".into()))
}
