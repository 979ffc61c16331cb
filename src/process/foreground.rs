//! The foreground loop of `husk run` (and later `exec`): forward signals to the
//! container process, relay its terminal, reap children, return its exit status.
//!
//! One thread, one `poll` over a signalfd (every signal is blocked, so none is lost
//! between the clone and this loop: process-model.md §4, pitfall 10), stdin and the
//! pty master. SIGCHLD reaps everything (husk is a subreaper, orphans come to it),
//! SIGWINCH copies the window size, SIGPIPE is husk's own (a closed stdout) and is
//! dropped; every other signal is forwarded to the container's init.

use crate::linux::console::{get_winsize, set_winsize};
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use nix::unistd::{isatty, read, write, Pid};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// After init exited, stop relaying once the master has been quiet this long even
/// if it never reports EIO (a leftover process may still hold the pty open).
const DRAIN_QUIET_MS: u16 = 100;
const BUF_SIZE: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ForegroundError {
    #[error("foreground: {step}: {}", errno.desc())]
    Sys { step: &'static str, errno: Errno },
    #[error("foreground: waitpid: container init (pid {0}) is not a child of husk")]
    InitLost(Pid),
    #[error("process.terminal: {step}: {}", errno.desc())]
    Terminal { step: &'static str, errno: Errno },
}

fn sys(step: &'static str) -> impl FnOnce(Errno) -> ForegroundError {
    move |errno| ForegroundError::Sys { step, errno }
}

fn term(step: &'static str) -> impl FnOnce(Errno) -> ForegroundError {
    move |errno| ForegroundError::Terminal { step, errno }
}

/// Wait for `init` to exit and return its exit code (128+N when killed by signal N).
///
/// Preconditions set by the caller: husk is a child subreaper, and every signal was
/// blocked with sigprocmask before the container was cloned (so none is lost).
/// With `master`, relays the caller's stdin/stdout to the pty (stdin in raw mode if
/// it is a tty, restored on return; SIGWINCH copies the window size).
pub fn wait(init: Pid, master: Option<OwnedFd>) -> Result<i32, ForegroundError> {
    let signals = signal_fd()?;
    let mut reaper = Reaper { init, code: None };
    // Anything that exited before the signalfd existed is collected here.
    reaper.reap()?;
    match master {
        None => wait_only(&signals, &mut reaper),
        Some(master) => Relay::new(master)?.run(&signals, &mut reaper),
    }
    .and_then(|()| reaper.code.ok_or(ForegroundError::InitLost(init)))
}

/// A signalfd for every signal. Blocking them again is a no-op when the caller
/// already did (the precondition) and makes a forgotten block harmless: the reap
/// before the loop catches exits from before this point.
fn signal_fd() -> Result<SignalFd, ForegroundError> {
    let all = SigSet::all();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), None).map_err(sys("sigprocmask"))?;
    SignalFd::with_flags(&all, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(sys("signalfd"))
}

/// Reaps every exited child; remembers init's exit code.
struct Reaper {
    init: Pid,
    code: Option<i32>,
}

impl Reaper {
    fn exited(&self) -> bool {
        self.code.is_some()
    }

    /// `waitpid(-1, WNOHANG)` until nothing is left to collect.
    fn reap(&mut self) -> Result<(), ForegroundError> {
        loop {
            let mut status: libc::c_int = 0;
            // SAFETY: waitpid writes one int into the valid, exclusive `status`.
            let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG | libc::__WALL) };
            match Errno::result(r) {
                Ok(0) => return Ok(()),
                Ok(pid) if pid == self.init.as_raw() => self.code = exit_code(status),
                Ok(_) => {}
                Err(Errno::EINTR) => {}
                Err(Errno::ECHILD) if self.exited() => return Ok(()),
                Err(Errno::ECHILD) => return Err(ForegroundError::InitLost(self.init)),
                Err(e) => return Err(sys("waitpid")(e)),
            }
        }
    }
}

/// WEXITSTATUS, or 128+N when killed by signal N (runc and crun do the same).
fn exit_code(status: libc::c_int) -> Option<i32> {
    if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Some(128 + libc::WTERMSIG(status))
    } else {
        None
    }
}

/// Drain the signalfd: reap on SIGCHLD, resize on SIGWINCH, forward the rest.
fn handle_signals(
    signals: &SignalFd,
    reaper: &mut Reaper,
    master: Option<BorrowedFd>,
) -> Result<(), ForegroundError> {
    loop {
        let info = match signals.read_signal() {
            Ok(Some(info)) => info,
            Ok(None) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(sys("read signalfd")(e)),
        };
        match info.ssi_signo as libc::c_int {
            libc::SIGCHLD => reaper.reap()?,
            libc::SIGWINCH => {
                if let Some(master) = master {
                    copy_winsize(master);
                }
            }
            libc::SIGPIPE => {}
            signo => forward(reaper, signo)?,
        }
    }
}

fn forward(reaper: &Reaper, signo: libc::c_int) -> Result<(), ForegroundError> {
    if reaper.exited() {
        return Ok(());
    }
    // SAFETY: kill has no memory effects; `init` is our unreaped child, so the pid
    // cannot have been reused.
    let r = unsafe { libc::kill(reaper.init.as_raw(), signo) };
    match Errno::result(r) {
        Ok(_) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(sys("forwarding a signal to the container init")(e)),
    }
}

/// Best effort: stdin may not be a terminal.
fn copy_winsize(master: BorrowedFd) {
    if let Ok(ws) = get_winsize(std::io::stdin().as_fd()) {
        let _ = set_winsize(master, &ws);
    }
}

/// Without a terminal: only signals matter.
fn wait_only(signals: &SignalFd, reaper: &mut Reaper) -> Result<(), ForegroundError> {
    while !reaper.exited() {
        let mut fds = [PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(sys("poll")(e)),
        }
        handle_signals(signals, reaper, None)?;
    }
    Ok(())
}

/// Puts stdin in raw mode while alive; restores the saved settings on drop, so
/// every return path (errors included) gives the user their terminal back.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enter() -> Result<Option<RawMode>, ForegroundError> {
        let stdin = std::io::stdin();
        if !isatty(stdin.as_raw_fd()).unwrap_or(false) {
            return Ok(None);
        }
        let saved = tcgetattr(stdin.as_fd()).map_err(term("tcgetattr stdin"))?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).map_err(term("raw mode on stdin"))?;
        Ok(Some(RawMode { saved }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// Copies stdin -> master and master -> stdout around the signal handling.
struct Relay {
    master: OwnedFd,
    /// Still reading stdin (false after EOF or an error on it).
    stdin_open: bool,
    /// Still reading the master (false after EIO/EOF).
    master_open: bool,
    /// Still writing stdout (false after EPIPE: output is then discarded).
    stdout_ok: bool,
    /// Bytes read from stdin the master has not accepted yet.
    pending: Vec<u8>,
    _raw: Option<RawMode>,
}

impl Relay {
    fn new(master: OwnedFd) -> Result<Relay, ForegroundError> {
        // Our own fd: non-blocking, so a container that stops reading its input
        // cannot stall the loop. stdin/stdout are shared with the caller's shell
        // and keep their flags.
        let flags = fcntl(master.as_raw_fd(), FcntlArg::F_GETFL).map_err(term("F_GETFL master"))?;
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        fcntl(master.as_raw_fd(), FcntlArg::F_SETFL(flags)).map_err(term("F_SETFL master"))?;
        let raw = RawMode::enter()?;
        copy_winsize(master.as_fd());
        Ok(Relay {
            master,
            stdin_open: true,
            master_open: true,
            stdout_ok: true,
            pending: Vec::new(),
            _raw: raw,
        })
    }

    fn run(mut self, signals: &SignalFd, reaper: &mut Reaper) -> Result<(), ForegroundError> {
        while !reaper.exited() || self.master_open {
            let ready = self.poll_once(signals, reaper.exited())?;
            if ready == 0 {
                // Only with a timeout, i.e. init is gone and the master went quiet.
                break;
            }
            handle_signals(signals, reaper, Some(self.master.as_fd()))?;
            if !reaper.exited() {
                self.pump_stdin()?;
            }
            self.flush_pending();
            self.pump_master()?;
        }
        Ok(())
    }

    /// Wait until something is readable; returns the number of ready fds.
    fn poll_once(&self, signals: &SignalFd, draining: bool) -> Result<i32, ForegroundError> {
        let stdin = std::io::stdin();
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        if self.master_open {
            let mut ev = PollFlags::POLLIN;
            if !self.pending.is_empty() {
                ev |= PollFlags::POLLOUT;
            }
            fds.push(PollFd::new(self.master.as_fd(), ev));
        }
        if self.stdin_open && self.pending.is_empty() && !draining {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        let timeout = if draining {
            PollTimeout::from(DRAIN_QUIET_MS)
        } else {
            PollTimeout::NONE
        };
        loop {
            match poll(&mut fds, timeout) {
                Ok(n) => return Ok(n),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(sys("poll")(e)),
            }
        }
    }

    /// Read what stdin has (if it is ready), queue it for the master.
    fn pump_stdin(&mut self) -> Result<(), ForegroundError> {
        if !self.stdin_open || !self.pending.is_empty() || !readable(std::io::stdin().as_fd()) {
            return Ok(());
        }
        let mut buf = [0u8; BUF_SIZE];
        match read(libc::STDIN_FILENO, &mut buf) {
            Ok(0) => self.stdin_open = false,
            Ok(n) => self.pending.extend_from_slice(&buf[..n]),
            Err(Errno::EINTR | Errno::EAGAIN) => {}
            // EIO: a background process reading its tty. Either way stop reading;
            // the master stays open so the container sees no EOF it did not ask for.
            Err(_) => self.stdin_open = false,
        }
        Ok(())
    }

    /// Write queued stdin bytes to the master as far as it accepts them.
    fn flush_pending(&mut self) {
        while !self.pending.is_empty() && self.master_open {
            match write(&self.master, &self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return,
                Err(_) => {
                    self.pending.clear();
                    self.stdin_open = false;
                }
            }
        }
    }

    /// Copy everything the master has to stdout, until EAGAIN or EIO/EOF.
    fn pump_master(&mut self) -> Result<(), ForegroundError> {
        let mut buf = [0u8; BUF_SIZE];
        while self.master_open {
            match read(self.master.as_raw_fd(), &mut buf) {
                Ok(0) | Err(Errno::EIO) => self.master_open = false,
                Ok(n) => self.write_stdout(&buf[..n]),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return Ok(()),
                Err(e) => return Err(term("read pty master")(e)),
            }
        }
        Ok(())
    }

    /// Blocking write of all of `data` to stdout; after EPIPE (or any error) the
    /// output is discarded so the container never blocks on a dead reader.
    fn write_stdout(&mut self, mut data: &[u8]) {
        let stdout = std::io::stdout();
        while self.stdout_ok && !data.is_empty() {
            match write(stdout.as_fd(), data) {
                Ok(n) => data = &data[n..],
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => wait_writable(stdout.as_fd()),
                Err(_) => self.stdout_ok = false,
            }
        }
    }
}

/// Whether `fd` has data (or EOF/error) right now, without blocking.
fn readable(fd: BorrowedFd) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}

/// For a stdout someone else made non-blocking: wait instead of spinning.
fn wait_writable(fd: BorrowedFd) {
    let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
    let _ = poll(&mut fds, PollTimeout::NONE);
}

#[cfg(test)]
mod tests {
    //! Every test forks a "husk" process that does what `husk run` does
    //! (subreaper, all signals blocked, fork the container, `wait`) single-threaded,
    //! and reports through its exit code. An alarm is the watchdog: SIGALRM gets
    //! forwarded like any signal, so a hang shows up as 142 instead of blocking.
    use super::*;
    use nix::pty::openpty;
    use nix::sys::signal::{kill, Signal};
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{close, dup2, fork, getpid, pipe, ForkResult};
    use std::time::{Duration, Instant};

    const WATCHDOG_SECS: u32 = 10;

    /// Fork; the child runs `f` and `_exit`s with its result. No printing in the
    /// child: other harness threads may hold stdio locks at fork time.
    fn in_child(f: impl FnOnce() -> i32) -> Pid {
        // SAFETY: the child only makes syscalls and allocates (glibc keeps malloc
        // usable after fork), then leaves with _exit.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
                // SAFETY: ends the forked child without returning into the harness.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => child,
        }
    }

    /// The husk process's exit code; SIGKILLs it (and fails) after a deadline, so
    /// a broken forwarder cannot hang the test run.
    fn exit_code(pid: Pid) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(2 * WATCHDOG_SECS as u64);
        loop {
            match waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)).unwrap() {
                WaitStatus::Exited(_, c) => return c,
                WaitStatus::Signaled(_, s, _) => return 128 + s as i32,
                WaitStatus::StillAlive if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                WaitStatus::StillAlive => {
                    let _ = kill(pid, Signal::SIGKILL);
                    let _ = waitpid(pid, None);
                    panic!("husk process {pid} did not finish in time");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// The container side: default dispositions, nothing blocked (as init does).
    fn container(f: impl FnOnce() -> i32) -> Pid {
        in_child(|| {
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
            // SAFETY: alarm takes a plain integer. Own watchdog: no leftover
            // process even if husk is killed.
            unsafe { libc::alarm(WATCHDOG_SECS + 5) };
            f()
        })
    }

    /// The husk side: subreaper, every signal blocked, then `body`.
    fn husk(body: impl FnOnce() -> i32) -> Pid {
        in_child(|| {
            // SAFETY: prctl/alarm take plain integers.
            if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
                return 120;
            }
            if sigprocmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), None).is_err() {
                return 121;
            }
            // SAFETY: as above.
            unsafe { libc::alarm(WATCHDOG_SECS) };
            body()
        })
    }

    fn code_of(r: Result<i32, ForegroundError>) -> i32 {
        r.unwrap_or(200)
    }

    #[test]
    fn exit_code_is_relayed() {
        let h = husk(|| code_of(wait(container(|| 3), None)));
        assert_eq!(exit_code(h), 3);
    }

    #[test]
    fn killed_init_gives_128_plus_signal() {
        let h = husk(|| {
            let c = container(|| {
                let _ = kill(getpid(), Signal::SIGKILL);
                0
            });
            code_of(wait(c, None))
        });
        assert_eq!(exit_code(h), 137);
    }

    #[test]
    fn signals_are_forwarded_to_init() {
        let h = husk(|| {
            let c = container(|| loop {
                // SAFETY: pause has no arguments; SIGTERM ends the process.
                unsafe { libc::pause() };
            });
            // Arrives at husk (blocked, so it waits in the signalfd), then init.
            let _ = kill(getpid(), Signal::SIGTERM);
            code_of(wait(c, None))
        });
        assert_eq!(exit_code(h), 143);
    }

    #[test]
    fn external_signal_is_forwarded_while_waiting() {
        let h = husk(|| {
            let c = container(|| loop {
                // SAFETY: as above.
                unsafe { libc::pause() };
            });
            // Offset, so husk itself dying of SIGUSR1 cannot pass for success.
            code_of(wait(c, None)) - 100
        });
        std::thread::sleep(Duration::from_millis(100));
        kill(h, Signal::SIGUSR1).unwrap();
        assert_eq!(exit_code(h), 128 + libc::SIGUSR1 - 100);
    }

    #[test]
    fn orphans_are_reaped_too() {
        let h = husk(|| {
            let c = container(|| {
                // A child that exits at once and is never reaped by init: on
                // init's exit it is re-parented to husk (the subreaper).
                let _orphan = in_child(|| 9);
                std::thread::sleep(Duration::from_millis(100));
                5
            });
            let code = code_of(wait(c, None));
            // SAFETY: waitpid with a null status pointer is allowed.
            let left = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
            if left == -1 && Errno::last() == Errno::ECHILD {
                code
            } else {
                50
            }
        });
        assert_eq!(exit_code(h), 5);
    }

    #[test]
    fn not_a_child_is_an_error() {
        let h = husk(|| match wait(Pid::from_raw(1), None) {
            Err(ForegroundError::InitLost(_)) => 0,
            _ => 1,
        });
        assert_eq!(exit_code(h), 0);
    }

    /// Container side of the relay tests: the pty slave becomes its terminal.
    fn attach_tty(slave: &OwnedFd) {
        let _ = nix::unistd::setsid();
        for fd in 0..=2 {
            let _ = dup2(slave.as_raw_fd(), fd);
        }
        // SAFETY: TIOCSCTTY takes an int argument.
        unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) };
    }

    fn say(s: &str) {
        let _ = write(std::io::stdout(), s.as_bytes());
    }

    fn read_line() -> String {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        line.trim_end().to_string()
    }

    fn winsize_text() -> String {
        match get_winsize(std::io::stdin().as_fd()) {
            Ok(ws) => format!("ws={}x{}", ws.ws_row, ws.ws_col),
            Err(e) => format!("ws-error {e}"),
        }
    }

    /// Read `fd` until `want` shows up (or EOF, or the deadline); returns all read.
    fn read_until(fd: BorrowedFd, want: &str, acc: &mut String) {
        let deadline = Instant::now() + Duration::from_secs(WATCHDOG_SECS as u64);
        let mut buf = [0u8; 4096];
        while !acc.contains(want) && Instant::now() < deadline {
            let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
            if poll(&mut fds, PollTimeout::from(100u16)).unwrap_or(0) == 0 {
                continue;
            }
            match read(fd.as_raw_fd(), &mut buf) {
                Ok(0) | Err(Errno::EIO) => break,
                Ok(n) => acc.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(_) => {}
            }
        }
    }

    #[test]
    fn relays_pipes_through_the_pty() {
        let (in_r, in_w) = pipe().unwrap();
        let (out_r, out_w) = pipe().unwrap();
        let h = husk(|| {
            dup2(in_r.as_raw_fd(), 0).unwrap();
            dup2(out_w.as_raw_fd(), 1).unwrap();
            for fd in [&in_r, &in_w, &out_r, &out_w] {
                let _ = close(fd.as_raw_fd());
            }
            let size = libc::winsize {
                ws_row: 30,
                ws_col: 100,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            let pty = openpty(Some(&size), None).unwrap();
            let c = container(|| {
                attach_tty(&pty.slave);
                let _ = close(pty.master.as_raw_fd());
                say(&format!("hello {}\n", winsize_text()));
                let line = read_line();
                say(&format!("got:{line}\n"));
                4
            });
            drop(pty.slave);
            code_of(wait(c, Some(pty.master)))
        });
        drop(in_r);
        drop(out_w);
        write(&in_w, b"ping\n").unwrap();
        drop(in_w); // stdin EOF: husk stops reading it, the container still runs
        let mut out = String::new();
        read_until(out_r.as_fd(), "\u{0}never", &mut out);
        assert_eq!(exit_code(h), 4, "output: {out:?}");
        // A pipe on stdin: the pty keeps its own size (nothing to copy from).
        assert!(out.contains("hello ws=30x100"), "{out:?}");
        assert!(out.contains("got:ping"), "{out:?}");
    }

    #[test]
    fn large_output_right_before_exit_arrives_complete() {
        const LEN: usize = 256 * 1024;
        let (out_r, out_w) = pipe().unwrap();
        let h = husk(|| {
            dup2(out_w.as_raw_fd(), 1).unwrap();
            let _ = close(out_w.as_raw_fd());
            let _ = close(out_r.as_raw_fd());
            let pty = openpty(None, None).unwrap();
            let c = container(|| {
                attach_tty(&pty.slave);
                let _ = close(pty.master.as_raw_fd());
                // Far more than the pty buffers, then exit at once.
                let mut data = vec![b'a'; LEN];
                data.extend_from_slice(b"END");
                let mut rest = &data[..];
                while !rest.is_empty() {
                    match write(std::io::stdout(), rest) {
                        Ok(n) => rest = &rest[n..],
                        Err(_) => return 1,
                    }
                }
                0
            });
            drop(pty.slave);
            code_of(wait(c, Some(pty.master)))
        });
        drop(out_w);
        let mut out = String::new();
        read_until(out_r.as_fd(), "\u{0}never", &mut out);
        assert_eq!(exit_code(h), 0);
        assert_eq!(out.len(), LEN + 3);
        assert!(out.ends_with("aEND"));
    }

    #[test]
    fn tty_stdin_raw_mode_window_size_and_restore() {
        // The user's terminal: husk's stdin is its slave side.
        let outer = openpty(
            Some(&libc::winsize {
                ws_row: 40,
                ws_col: 120,
                ws_xpixel: 0,
                ws_ypixel: 0,
            }),
            None,
        )
        .unwrap();
        let (out_r, out_w) = pipe().unwrap();
        let h = husk(|| {
            dup2(outer.slave.as_raw_fd(), 0).unwrap();
            dup2(out_w.as_raw_fd(), 1).unwrap();
            for fd in [&outer.master, &outer.slave, &out_r, &out_w] {
                let _ = close(fd.as_raw_fd());
            }
            let before = tcgetattr(std::io::stdin()).unwrap();
            let pty = openpty(None, None).unwrap();
            let c = container(|| {
                attach_tty(&pty.slave);
                let _ = close(pty.master.as_raw_fd());
                say(&format!("first {}\n", winsize_text()));
                let _ = read_line();
                say(&format!("second {}\n", winsize_text()));
                let _ = read_line();
                6
            });
            drop(pty.slave);
            let code = code_of(wait(c, Some(pty.master)));
            let after = tcgetattr(std::io::stdin()).unwrap();
            let same = before.local_flags == after.local_flags
                && before.input_flags == after.input_flags
                && before.output_flags == after.output_flags;
            if same {
                code
            } else {
                60
            }
        });
        drop(out_w);
        let mut out = String::new();
        read_until(out_r.as_fd(), "first ws=40x120", &mut out);
        // Raw mode while relaying: no ICANON/ECHO on husk's terminal.
        let raw = tcgetattr(outer.slave.as_fd()).unwrap();
        use nix::sys::termios::LocalFlags;
        assert!(!raw.local_flags.contains(LocalFlags::ICANON), "{out:?}");
        assert!(!raw.local_flags.contains(LocalFlags::ECHO), "{out:?}");
        // Resize the user's terminal, tell husk, then let the container look.
        let bigger = libc::winsize {
            ws_row: 50,
            ws_col: 150,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        set_winsize(outer.master.as_fd(), &bigger).unwrap();
        kill(h, Signal::SIGWINCH).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        write(&outer.master, b"x\r").unwrap();
        read_until(out_r.as_fd(), "second ws=50x150", &mut out);
        write(&outer.master, b"y\r").unwrap();
        read_until(out_r.as_fd(), "\u{0}never", &mut out);
        assert_eq!(exit_code(h), 6, "output: {out:?}");
        assert!(out.contains("first ws=40x120"), "{out:?}");
        assert!(out.contains("second ws=50x150"), "{out:?}");
    }
}
