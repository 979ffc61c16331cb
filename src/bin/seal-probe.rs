//! Test and benchmark helper for `husk::exe_seal` (used by tests/exe_seal.rs; not part
//! of the runtime).
//!
//! ```text
//! seal-probe <none|auto|overlay|memfd> <exit|info|hold|attack-child|shebang SCRIPT>
//! seal-probe inner|inner-hold SCRIPT      (what `#!/proc/self/exe inner` runs)
//! ```
//!
//! The method picks how (or whether) the probe seals itself first, like `husk create`
//! does; the action then plays a piece of the CVE-2019-5736 attack and prints one line
//! per attempt: `attempt LABEL: blocked at STEP: ERRNO` or `attempt LABEL: WRITTEN`.
//! The exit status is 0 when every attempt was blocked, 1 when one wrote, 2 on error.

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use husk::exe_seal::{self, ExeSafety, Method};
use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};

fn main() {
    let marker_at_start = std::env::var_os(exe_seal::REEXEC_MARKER).is_some();
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");

    // Run as the interpreter of a `#!/proc/self/exe` script: never seal here, like the
    // husk binary when a container makes it run with a non-sealing subcommand.
    if arg(1) == "inner" || arg(1) == "inner-hold" {
        std::process::exit(inner(arg(1) == "inner-hold"));
    }

    let method = match arg(1) {
        "none" => None,
        "auto" => Some(Method::Auto),
        "overlay" => Some(Method::Overlay),
        "memfd" => Some(Method::Memfd),
        other => fail(&format!("unknown method {other:?}")),
    };
    if let Some(m) = method {
        if let Err(e) = exe_seal::ensure_sealed_with(m) {
            fail(&e.to_string());
        }
    }
    let code = match arg(2) {
        "exit" => 0,
        "info" => {
            println!("{} reexec={}", describe(), u8::from(marker_at_start));
            0
        }
        "hold" => {
            println!("ready pid={} {}", std::process::id(), describe());
            std::io::stdout().flush().ok();
            wait_stdin_eof();
            0
        }
        "attack-child" => attack_child(),
        "shebang" => shebang(arg(3)),
        other => fail(&format!("unknown action {other:?}")),
    };
    std::process::exit(code);
}

fn fail(msg: &str) -> ! {
    eprintln!("seal-probe: {msg}");
    std::process::exit(2);
}

fn describe() -> String {
    let kind = match exe_seal::exe_safety() {
        Ok(ExeSafety::SealedMemfd) => "memfd",
        Ok(ExeSafety::ReadOnlyMount) => "ro",
        Ok(ExeSafety::Unsealed) => "unsealed",
        Err(e) => fail(&e.to_string()),
    };
    let exe = std::fs::read_link("/proc/self/exe")
        .map(|p| p.display().to_string())
        .unwrap_or_else(|e| format!("?{e}"));
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap_or_default();
    format!("kind={kind} comm={} exe={exe}", comm.trim_end())
}

fn wait_stdin_eof() {
    let mut buf = [0u8; 64];
    let mut stdin = std::io::stdin();
    while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
}

fn open(path: &str, flags: libc::c_int) -> Result<OwnedFd, Errno> {
    let c = CString::new(path).map_err(|_| Errno::EINVAL)?;
    // SAFETY: NUL-terminated path; open has no other preconditions.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: `fd` was just returned by open and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Tries to open `path` for writing and, if that works, to overwrite and truncate the
/// file. Prints the outcome; returns true when the file was written.
fn try_write(label: &str, path: &str, flags: libc::c_int) -> bool {
    let fd = match open(path, flags) {
        Ok(fd) => fd,
        Err(e) => {
            println!("attempt {label}: blocked at open: {e}");
            return false;
        }
    };
    let payload = b"PWNED";
    // SAFETY: writes from a valid buffer of the given length to a valid fd.
    let n = unsafe { libc::pwrite(fd.as_raw_fd(), payload.as_ptr().cast(), payload.len(), 0) };
    if n < 0 {
        let e = Errno::last();
        // SAFETY: ftruncate on a valid fd.
        let t = unsafe { libc::ftruncate(fd.as_raw_fd(), 1) };
        if t == 0 {
            println!("attempt {label}: WRITTEN (ftruncate succeeded after write: {e})");
            return true;
        }
        println!("attempt {label}: blocked at write: {e}");
        return false;
    }
    println!("attempt {label}: WRITTEN");
    true
}

/// The attempts a container process can make on the exe of `pid` ("self" or a pid).
fn attempts(who: &str) -> i32 {
    let mut written = false;
    let exe = format!("/proc/{who}/exe");
    written |= try_write(&format!("open {exe} O_WRONLY"), &exe, libc::O_WRONLY);
    written |= try_write(&format!("open {exe} O_RDWR"), &exe, libc::O_RDWR);
    match open(&exe, libc::O_PATH) {
        Ok(p) => {
            let via = format!("/proc/self/fd/{}", p.as_raw_fd());
            written |= try_write(
                &format!("reopen O_PATH {exe} O_WRONLY"),
                &via,
                libc::O_WRONLY,
            );
            written |= try_write(&format!("reopen O_PATH {exe} O_RDWR"), &via, libc::O_RDWR);
        }
        Err(e) => println!("attempt O_PATH {exe}: open failed: {e}"),
    }
    i32::from(written)
}

fn wait_child(pid: nix::unistd::Pid) -> i32 {
    match waitpid(pid, None) {
        Ok(WaitStatus::Exited(_, c)) => c,
        Ok(other) => fail(&format!("child: {other:?}")),
        Err(e) => fail(&format!("waitpid: {e}")),
    }
}

/// A forked child (as a container init would be) attacks its parent's and its own exe.
fn attack_child() -> i32 {
    println!("{}", describe());
    std::io::stdout().flush().ok();
    // SAFETY: the probe is single-threaded; the child only makes syscalls and exits.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let ppid = nix::unistd::getppid().to_string();
            let code = attempts(&ppid) | attempts("self");
            std::io::stdout().flush().ok();
            // SAFETY: _exit ends the child without running the parent's atexit handlers.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => wait_child(child),
        Err(e) => fail(&format!("fork: {e}")),
    }
}

/// A forked child execs a `#!/proc/self/exe` script, as a container entrypoint would.
fn shebang(script: &str) -> i32 {
    let script = CString::new(script).unwrap_or_else(|_| fail("bad script path"));
    // SAFETY: the probe is single-threaded; the child only calls execv or _exit.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let _ = nix::unistd::execv(&script, std::slice::from_ref(&script));
            eprintln!("seal-probe: execv script: {}", Errno::last());
            // SAFETY: _exit ends the child without running the parent's atexit handlers.
            unsafe { libc::_exit(2) }
        }
        Ok(ForkResult::Parent { child }) => wait_child(child),
        Err(e) => fail(&format!("fork: {e}")),
    }
}

/// Runs as the interpreter of the script: reports what /proc/self/exe is and tries to
/// write it; with `hold`, then waits for stdin EOF so a test can attack it from outside.
fn inner(hold: bool) -> i32 {
    println!("inner pid={} {}", std::process::id(), describe());
    let code = attempts("self");
    std::io::stdout().flush().ok();
    if hold {
        wait_stdin_eof();
    }
    code
}
