//! `process.terminal` with `--console-socket` (runc's protocol: the runtime connects to
//! the unix socket and sends the pty master as one SCM_RIGHTS fd). The runner receives
//! the master, starts the container, and reads the checker's TAP through it; the
//! checker verifies from inside that its stdio is that terminal, that /dev/console is
//! it, and that `consoleSize` was applied.

use super::bundle::Bundle;
use super::flows::{self, check_state, WAIT};
use super::{Ctx, Test};
use serde_json::json;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

/// Accepts one connection on `listener` (within `timeout`) and receives one fd.
fn recv_fd(listener: &UnixListener, timeout: Duration) -> Result<OwnedFd, String> {
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if start.elapsed() > timeout {
                    return Err("the runtime never connected to the console socket".into());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    };
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let mut data = [0u8; 512];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // Room for a few fds, so that extra ones are seen (and closed) rather than truncated.
    let mut control = [0u64; 16];
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg points at live buffers of the sizes given.
    let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(format!("recvmsg: {}", std::io::Error::last_os_error()));
    }
    let mut fds: Vec<OwnedFd> = Vec::new();
    // SAFETY: iterating the control messages recvmsg filled in, within msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let len = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let p = libc::CMSG_DATA(c).cast::<libc::c_int>();
                for i in 0..len / std::mem::size_of::<libc::c_int>() {
                    fds.push(OwnedFd::from_raw_fd(p.add(i).read_unaligned()));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    if fds.len() != 1 {
        return Err(format!(
            "console socket: got {} fds, want exactly one (the pty master)",
            fds.len()
        ));
    }
    Ok(fds.remove(0))
}

/// Reads the master until the slave side is closed by everyone (EIO) or `timeout`.
fn read_master(master: &OwnedFd, timeout: Duration) -> String {
    let start = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < timeout {
        let mut p = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, 50) };
        if r <= 0 {
            continue;
        }
        // SAFETY: reading into a live buffer of its length.
        let n = unsafe { libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn terminal_run(ctx: &mut Ctx, b: &mut Bundle) -> Result<(), String> {
    b.config["process"]["terminal"] = json!(true);
    b.config["process"]["consoleSize"] = json!({"height": 37, "width": 113});
    b.write(&ctx.host)?;
    let sock = b.dir.join("console.sock");
    let listener = UnixListener::bind(&sock).map_err(|e| format!("{}: {e}", sock.display()))?;
    let sock_s = sock.to_string_lossy().into_owned();
    let o = ctx
        .rt
        .create_with(&b.id, &b.dir, &["--console-socket", &sock_s]);
    if !o.success() {
        let err = std::fs::read_to_string(b.dir.join("stderr")).unwrap_or_default();
        return Err(format!("create failed ({})\n{}", o.describe(), err.trim()));
    }
    check_state(&ctx.rt.state(&b.id)?, b, "created")?;
    let master = recv_fd(&listener, Duration::from_secs(5))?;
    is_pty_master(&master)?;
    flows::start(ctx, b)?;
    let out = read_master(&master, WAIT);
    ctx.rt.wait_status(&b.id, "stopped", WAIT)?;
    let verdict = flows::check_tap(ctx, b, &out);
    flows::delete(ctx, b)?;
    verdict
}

/// The received fd must be a pty master (TIOCGPTN answers only on masters).
fn is_pty_master(fd: &OwnedFd) -> Result<(), String> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGPTN, &mut n) } != 0 {
        return Err(format!(
            "the fd from the console socket is not a pty master: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// The terminal tests.
pub fn tests() -> Vec<Test> {
    vec![Test::new("terminal-console-socket", |ctx| {
        let mut b = ctx.bundle("terminal")?;
        terminal_run(ctx, &mut b)
    })]
}
