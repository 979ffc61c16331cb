//! `process.terminal`: the pty master handed over `--console-socket` (what
//! containerd and conmon use), a foreground `run` relaying between the caller's
//! terminal and the container's pty, and `run -d` refusing a terminal it could not
//! hand to anyone.

use std::io::{IoSliceMut, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use husk_integration::poll::PATIENCE;
use husk_integration::{is_runc, require_root, skip, Bundle, Runtime};

/// Bound on waiting for the container's output: only to avoid hanging forever.
const OUTPUT_PATIENCE: Duration = Duration::from_secs(60);

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn set_cloexec(fd: RawFd) {
    // SAFETY: fcntl with integer arguments on an fd we own.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
}

fn set_nonblocking(fd: BorrowedFd) {
    // SAFETY: fcntl with integer arguments on a valid fd.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        assert!(flags >= 0, "F_GETFL: errno {}", errno());
        assert_eq!(
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK),
            0,
            "F_SETFL O_NONBLOCK: errno {}",
            errno()
        );
    }
}

/// Wait up to `timeout_ms` for `events` on `fd`; true if something is ready.
fn poll_fd(fd: BorrowedFd, events: libc::c_short, timeout_ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    n > 0
}

/// TIOCGPTN: the pty index, `None` unless `fd` is a pty master.
fn pty_index(fd: BorrowedFd) -> Option<u32> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int into the valid `n`.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGPTN, &mut n) };
    (r == 0).then_some(n)
}

fn winsize(rows: u16, cols: u16) -> libc::winsize {
    libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// How a read loop on a pty master ended.
#[derive(Debug, PartialEq)]
enum Ended {
    /// `want` was seen.
    Found,
    /// EIO/EOF: no slave is open any more.
    Hangup,
    /// `stop` said so (e.g. the runtime process exited).
    Stopped,
    TimedOut,
}

/// Read the (non-blocking) master into `acc` until `want` appears, the slave side
/// is gone, `stop()` returns true, or [`OUTPUT_PATIENCE`] passes.
fn read_master(
    master: BorrowedFd,
    want: &str,
    acc: &mut String,
    mut stop: impl FnMut() -> bool,
) -> Ended {
    let deadline = Instant::now() + OUTPUT_PATIENCE;
    let found = |acc: &str| !want.is_empty() && acc.contains(want);
    let mut buf = [0u8; 4096];
    loop {
        if found(acc) {
            return Ended::Found;
        }
        if Instant::now() >= deadline {
            return Ended::TimedOut;
        }
        let stopping = stop();
        if stopping || poll_fd(master, libc::POLLIN, 100) {
            // Drain what is there (all of it when stopping).
            loop {
                // SAFETY: reads into the valid, exclusive `buf`.
                let n =
                    unsafe { libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                // The last output and the hangup may come in one drain.
                let hangup = if found(acc) {
                    Ended::Found
                } else {
                    Ended::Hangup
                };
                match n {
                    0 => return hangup,
                    n if n > 0 => acc.push_str(&String::from_utf8_lossy(&buf[..n as usize])),
                    _ => match errno() {
                        libc::EINTR => continue,
                        libc::EAGAIN => break,
                        libc::EIO => return hangup,
                        e => panic!("read from the pty master: errno {e}; so far {acc:?}"),
                    },
                }
            }
        }
        if stopping {
            return if found(acc) {
                Ended::Found
            } else {
                Ended::Stopped
            };
        }
    }
}

fn write_all(fd: BorrowedFd, mut data: &[u8]) {
    let deadline = Instant::now() + OUTPUT_PATIENCE;
    while !data.is_empty() {
        // SAFETY: writes from the valid `data`.
        let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
        if n > 0 {
            data = &data[n as usize..];
            continue;
        }
        let e = errno();
        assert!(
            n < 0 && (e == libc::EINTR || e == libc::EAGAIN),
            "write to the pty master: errno {e}"
        );
        assert!(
            Instant::now() < deadline,
            "pty master never became writable"
        );
        poll_fd(fd, libc::POLLOUT, 100);
    }
}

/// The lines of terminal output, without the `\r` of ONLCR.
fn lines(out: &str) -> Vec<&str> {
    out.lines().map(|l| l.trim_end_matches('\r')).collect()
}

/// The line `tty` printed: a terminal path. The spec binds the pty peer onto
/// /dev/console; the process's stdio is the peer itself, which runc names
/// /dev/pts/N (the container's devpts).
fn tty_line(out: &str) -> &str {
    lines(out)
        .into_iter()
        .find(|l| l.starts_with("/dev/"))
        .unwrap_or_else(|| panic!("`tty` printed no /dev path; output: {out:?}"))
}

/// N of `/dev/pts/N`.
fn pts_number(path: &str) -> Option<u32> {
    path.strip_prefix("/dev/pts/")?.parse().ok()
}

/// The line `stty size` printed ("ROWS COLS").
fn size_line(out: &str) -> Option<(u16, u16)> {
    lines(out).into_iter().find_map(|l| {
        let mut it = l.split_whitespace();
        let rows = it.next()?.parse().ok()?;
        let cols = it.next()?.parse().ok()?;
        it.next().is_none().then_some((rows, cols))
    })
}

/// `ls -l` line of a char device: ("major", "minor") from "crw... 136, 0 ...".
fn char_dev_numbers(line: &str) -> Option<(String, String)> {
    if !line.starts_with('c') {
        return None;
    }
    let fields: Vec<&str> = line.split_whitespace().collect();
    let i = fields.iter().position(|f| f.ends_with(','))?;
    Some((
        fields[i].trim_end_matches(',').to_string(),
        fields.get(i + 1)?.to_string(),
    ))
}

// ---------------------------------------------------------------------------
// --console-socket

/// A `--console-socket` listener in a private temp dir.
struct ConsoleSocket {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    listener: UnixListener,
}

/// What arrived on the console socket.
struct Received {
    master: OwnedFd,
    /// The message payload (runc sends a name).
    payload: Vec<u8>,
    /// The connection, to check nothing else follows.
    conn: UnixStream,
}

impl ConsoleSocket {
    fn new() -> ConsoleSocket {
        let dir = tempfile::Builder::new()
            .prefix("husk-it-console-")
            .tempdir()
            .expect("creating the console socket dir");
        let path = dir.path().join("console.sock");
        let listener = UnixListener::bind(&path).expect("binding the console socket");
        listener.set_nonblocking(true).unwrap();
        ConsoleSocket {
            _dir: dir,
            path,
            listener,
        }
    }

    fn path_str(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// Accept one connection (bounded wait) and receive one message with one fd.
    fn receive(&self) -> Result<Received, String> {
        let deadline = Instant::now() + PATIENCE;
        let conn = loop {
            match self.listener.accept() {
                Ok((c, _)) => break c,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Err("nobody connected to the console socket".into());
                    }
                    poll_fd(self.listener.as_fd(), libc::POLLIN, 100);
                }
                Err(e) => return Err(format!("accept: {e}")),
            }
        };
        conn.set_nonblocking(false).unwrap();
        conn.set_read_timeout(Some(PATIENCE)).unwrap();
        let (master, payload) = recv_one_fd(conn.as_fd())?;
        Ok(Received {
            master,
            payload,
            conn,
        })
    }
}

/// One recvmsg with control space for exactly one fd. Fails if the control data
/// was truncated (more than one fd sent), if it is not one SCM_RIGHTS fd, or if
/// the payload is empty.
fn recv_one_fd(sock: BorrowedFd) -> Result<(OwnedFd, Vec<u8>), String> {
    let mut payload = vec![0u8; 4096];
    let fd_size = std::mem::size_of::<libc::c_int>() as u32;
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(fd_size) } as usize;
    // u64 words keep the control buffer aligned for cmsghdr.
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = [IoSliceMut::new(&mut payload)];
    // SAFETY: an all-zero msghdr is valid; the pointers are filled in below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr().cast();
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    let n = loop {
        // SAFETY: msg points at the live iov and control buffers above.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 || errno() != libc::EINTR {
            break n;
        }
    };
    if n < 0 {
        return Err(format!("recvmsg: errno {}", errno()));
    }
    // Collect every fd first so none leaks whatever goes wrong.
    let mut fds = Vec::new();
    let mut bad = Vec::new();
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled in,
    // bounded by msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let hdr = &*c;
            if hdr.cmsg_level == libc::SOL_SOCKET && hdr.cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c) as *const libc::c_int;
                let count = (hdr.cmsg_len as usize - libc::CMSG_LEN(0) as usize) / fd_size as usize;
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i))));
                }
            } else {
                bad.push((hdr.cmsg_level, hdr.cmsg_type));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err("control data truncated: more than one fd was sent".into());
    }
    if !bad.is_empty() {
        return Err(format!(
            "unexpected control messages (level, type): {bad:?}"
        ));
    }
    if fds.len() != 1 {
        return Err(format!(
            "expected exactly one SCM_RIGHTS fd, got {}",
            fds.len()
        ));
    }
    if n == 0 {
        return Err("the message with the fd has an empty payload".into());
    }
    payload.truncate(n as usize);
    Ok((fds.pop().unwrap(), payload))
}

/// A bundle with `terminal: true` and `consoleSize` rows x cols running `script`.
fn terminal_bundle(script: &str, size: Option<(u16, u16)>) -> Bundle {
    let mut b = Bundle::new();
    b.sh(script);
    b.config_mut()["process"]["terminal"] = true.into();
    if let Some((rows, cols)) = size {
        b.config_mut()["process"]["consoleSize"] =
            serde_json::json!({ "height": rows, "width": cols });
    }
    b
}

#[test]
fn console_socket_passes_the_pty_master() {
    require_root!();
    let rt = Runtime::from_env();
    let (rows, cols) = (33u16, 111u16);
    let b = terminal_bundle(
        "tty; stty size; ls -l /dev/console; ls -l $(tty); echo done",
        Some((rows, cols)),
    );
    let sock = ConsoleSocket::new();
    let (c, got) = std::thread::scope(|s| {
        let receiver = s.spawn(|| sock.receive());
        let c = rt.container_with(&b, &["--console-socket", sock.path_str()]);
        (c, receiver.join().unwrap())
    });
    let got = got.unwrap_or_else(|e| panic!("console socket: {e}\ncreate stderr:\n{}", c.stderr()));
    assert!(!got.payload.is_empty());
    // A pty master: TIOCGPTN answers.
    let index = pty_index(got.master.as_fd())
        .unwrap_or_else(|| panic!("TIOCGPTN on the received fd: errno {}", errno()));
    // Nothing else comes on the socket: the runtime closed it after the one message
    // (no second fd, and no copy of the connection left in the container).
    let mut rest = Vec::new();
    let eof = (&got.conn).read_to_end(&mut rest);
    assert!(
        matches!(eof, Ok(0)),
        "console socket after the fd: {eof:?}, {rest:?}"
    );

    set_nonblocking(got.master.as_fd());
    c.start_ok();
    let mut out = String::new();
    let ended = read_master(got.master.as_fd(), "done", &mut out, || false);
    assert_eq!(ended, Ended::Found, "output: {out:?}");

    let tty = tty_line(&out);
    assert!(
        pts_number(tty).is_some() || tty == "/dev/console",
        "`tty` printed {tty:?}; output: {out:?}"
    );
    if let Some(n) = pts_number(tty) {
        assert_eq!(
            n, index,
            "the container's pty is the master's peer: {out:?}"
        );
    }
    assert_eq!(
        size_line(&out),
        Some((rows, cols)),
        "`stty size` vs process.consoleSize; output: {out:?}"
    );
    // /dev/console is the pty peer (bind mount): same char device as `tty`.
    let ls: Vec<&str> = lines(&out)
        .into_iter()
        .filter(|l| l.starts_with('c'))
        .collect();
    let console = ls
        .iter()
        .find(|l| l.ends_with("/dev/console"))
        .unwrap_or_else(|| panic!("no char device line for /dev/console: {out:?}"));
    let peer = ls
        .iter()
        .find(|l| l.ends_with(tty))
        .unwrap_or_else(|| panic!("no char device line for {tty}: {out:?}"));
    assert_eq!(
        char_dev_numbers(console),
        char_dev_numbers(peer),
        "/dev/console should be the pty: {out:?}"
    );
    assert!(c.wait_status("stopped"), "status {:?}", c.status());
    c.delete().assert_ok();
}

#[test]
fn console_socket_master_is_the_containers_input() {
    require_root!();
    let rt = Runtime::from_env();
    let b = terminal_bundle("read x; echo got:$x", None);
    let sock = ConsoleSocket::new();
    let (c, got) = std::thread::scope(|s| {
        let receiver = s.spawn(|| sock.receive());
        let c = rt.container_with(&b, &["--console-socket", sock.path_str()]);
        (c, receiver.join().unwrap())
    });
    let got = got.unwrap_or_else(|e| panic!("console socket: {e}\ncreate stderr:\n{}", c.stderr()));
    drop(got.conn);
    set_nonblocking(got.master.as_fd());
    c.start_ok();
    write_all(got.master.as_fd(), b"hello\n");
    let mut out = String::new();
    let ended = read_master(got.master.as_fd(), "got:hello", &mut out, || false);
    assert_eq!(ended, Ended::Found, "output: {out:?}");
    assert!(c.wait_status("stopped"), "status {:?}", c.status());
    c.delete().assert_ok();
}

// ---------------------------------------------------------------------------
// Foreground `run` with a terminal of its own

/// A pty pair (both close-on-exec in this process).
struct Pty {
    master: OwnedFd,
    slave: OwnedFd,
}

fn openpty(size: libc::winsize) -> Pty {
    let (mut m, mut s): (libc::c_int, libc::c_int) = (-1, -1);
    // SAFETY: openpty writes two fds; name/termios are NULL, size is valid.
    let r = unsafe {
        libc::openpty(
            &mut m,
            &mut s,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(r, 0, "openpty: errno {}", errno());
    set_cloexec(m);
    set_cloexec(s);
    // SAFETY: openpty just returned these fds and nothing else owns them.
    unsafe {
        Pty {
            master: OwnedFd::from_raw_fd(m),
            slave: OwnedFd::from_raw_fd(s),
        }
    }
}

fn tcgetattr(fd: BorrowedFd) -> libc::termios {
    // SAFETY: an all-zero termios is valid and tcgetattr fills it in.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: t is a valid, exclusive termios.
    let r = unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut t) };
    assert_eq!(r, 0, "tcgetattr: errno {}", errno());
    t
}

/// The termios fields a raw-mode switch touches, comparable.
fn termios_key(t: &libc::termios) -> (u32, u32, u32, u32, Vec<u8>) {
    (t.c_iflag, t.c_oflag, t.c_cflag, t.c_lflag, t.c_cc.to_vec())
}

/// Spawn `<runtime> run --bundle <b> <id>` with the slave as stdin/stdout/stderr
/// and controlling terminal (a new session), as from an interactive shell.
fn spawn_run_on_tty(rt: &Runtime, b: &Bundle, id: &str, slave: BorrowedFd) -> Child {
    let stdio = |fd: BorrowedFd| Stdio::from(fd.try_clone_to_owned().expect("dup slave"));
    spawn_run_on_tty_to(rt, b, id, slave, stdio(slave))
}

/// `spawn_run_on_tty` with stdout going to `stdout` (`run | od -c` in a shell).
fn spawn_run_on_tty_to(
    rt: &Runtime,
    b: &Bundle,
    id: &str,
    slave: BorrowedFd,
    stdout: Stdio,
) -> Child {
    b.save();
    b.used_by(id);
    rt.track(id);
    let stdio = |fd: BorrowedFd| Stdio::from(fd.try_clone_to_owned().expect("dup slave"));
    let mut cmd = rt.command(&["run", "--bundle", b.path_str(), id]);
    cmd.stdin(stdio(slave)).stdout(stdout).stderr(stdio(slave));
    // SAFETY: only async-signal-safe calls (setsid, ioctl) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().expect("spawning the runtime")
}

/// Kills the runtime process if the test gives up on it.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Read the master until the runtime process exits (draining what it left);
/// returns its exit code and the output.
fn run_to_exit(child: &mut Reap, master: BorrowedFd, acc: &mut String) -> Option<i32> {
    let mut status = None;
    let ended = read_master(master, "", acc, || {
        status = child.0.try_wait().expect("try_wait");
        status.is_some()
    });
    assert_eq!(
        ended,
        Ended::Stopped,
        "the runtime did not exit; output so far: {acc:?}"
    );
    status.and_then(|s| s.code())
}

#[test]
fn foreground_run_relays_its_own_terminal() {
    require_root!();
    let rt = Runtime::from_env();
    let (rows, cols) = (27u16, 93u16);
    let pty = openpty(winsize(rows, cols));
    set_nonblocking(pty.master.as_fd());
    let before = tcgetattr(pty.slave.as_fd());
    // The runtime copies its terminal's size onto the container's pty once it is
    // relaying, which both runc 1.1.5 and husk do only after the process has been
    // started: a first `stty size` may still see 0x0. Wait (bounded) for the size
    // to arrive; a runtime that never copies it prints the wrong size.
    let script = format!(
        "tty; i=0; while [ \"$(stty size 2>/dev/null)\" != '{rows} {cols}' ] && [ $i -lt 300 ]; \
         do sleep 0.1; i=$((i+1)); done; stty size; echo done; exit 3"
    );
    let b = terminal_bundle(&script, None);
    let id = rt.new_id("term-run");
    let mut child = Reap(spawn_run_on_tty(&rt, &b, &id, pty.slave.as_fd()));
    let mut out = String::new();
    let code = run_to_exit(&mut child, pty.master.as_fd(), &mut out);
    assert_eq!(code, Some(3), "output: {out:?}");
    assert!(lines(&out).contains(&"done"), "output: {out:?}");
    let tty = tty_line(&out);
    assert!(
        pts_number(tty).is_some() || tty == "/dev/console",
        "`tty` printed {tty:?}; output: {out:?}"
    );
    assert_eq!(
        size_line(&out),
        Some((rows, cols)),
        "the window size of the runtime's terminal is copied; output: {out:?}"
    );
    let after = tcgetattr(pty.slave.as_fd());
    assert_eq!(
        termios_key(&before),
        termios_key(&after),
        "the runtime must restore its terminal's settings (raw mode undone)"
    );
    assert!(
        rt.try_state(&id).is_err(),
        "`run` deletes the container when it exits"
    );
}

#[test]
fn foreground_run_relays_input_to_the_container() {
    require_root!();
    let rt = Runtime::from_env();
    let pty = openpty(winsize(24, 80));
    set_nonblocking(pty.master.as_fd());
    let before = tcgetattr(pty.slave.as_fd());
    let b = terminal_bundle("echo ready; read x; echo got:$x; exit 5", None);
    let id = rt.new_id("term-input");
    let mut child = Reap(spawn_run_on_tty(&rt, &b, &id, pty.slave.as_fd()));
    let mut out = String::new();
    // "ready" comes through the relay, so the runtime's terminal is raw by now: a
    // carriage return reaches the container's pty as typed (its ICRNL makes it \n).
    let ended = read_master(pty.master.as_fd(), "ready", &mut out, || {
        matches!(child.0.try_wait(), Ok(Some(_)))
    });
    assert_eq!(ended, Ended::Found, "output: {out:?}");
    write_all(pty.master.as_fd(), b"hi\r");
    let code = run_to_exit(&mut child, pty.master.as_fd(), &mut out);
    assert_eq!(code, Some(5), "output: {out:?}");
    assert!(lines(&out).contains(&"got:hi"), "output: {out:?}");
    let after = tcgetattr(pty.slave.as_fd());
    assert_eq!(termios_key(&before), termios_key(&after));
}

/// The container's pty has `onlcr` cleared by a foreground `run`, as runc does:
/// `echo 444` reaches a caller whose stdout is a pipe as `444\n` (a caller's own
/// terminal adds its `\r` once, on the way to the screen), and `stty` inside
/// shows `-onlcr`.
#[test]
fn foreground_run_output_keeps_plain_newlines() {
    require_root!();
    let rt = Runtime::from_env();
    let pty = openpty(winsize(24, 80));
    let b = terminal_bundle("echo 444; stty -a | grep -o -- '-*onlcr'", None);
    let id = rt.new_id("term-onlcr");
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out");
    let out_file = std::fs::File::create(&out_path).unwrap();
    let mut child = Reap(spawn_run_on_tty_to(
        &rt,
        &b,
        &id,
        pty.slave.as_fd(),
        Stdio::from(out_file),
    ));
    let status = child.0.wait().expect("wait");
    let out = std::fs::read(&out_path).unwrap();
    assert!(
        status.success(),
        "{status:?}: {:?}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(
        String::from_utf8_lossy(&out),
        "444\n-onlcr\n",
        "the bytes the caller's stdout gets"
    );
}

/// Without any terminal on the caller's side (stdin /dev/null, stdout a file)
/// a foreground `run` with `terminal: true` still runs the container and relays
/// its output with plain newlines (runc 1.1.5 fails: it opens /dev/tty).
#[test]
fn foreground_run_with_terminal_and_no_caller_terminal() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 needs a controlling terminal for a foreground run with terminal: true");
    }
    let rt = Runtime::from_env();
    let b = terminal_bundle("echo 444; exit 4", None);
    let id = rt.new_id("term-notty");
    let out = rt.run(&id, &b);
    assert_eq!(out.code(), Some(4), "{out}");
    assert_eq!(out.stdout, "444\n", "{out}");
}

/// A read-only `/dev` mount with a terminal: /dev/console is made (and the pty
/// bound onto it) before /dev becomes read-only; the default nodes and links are
/// there, and /dev stays read-only.
#[test]
fn terminal_with_a_read_only_dev() {
    require_root!();
    let rt = Runtime::from_env();
    let pty = openpty(winsize(24, 80));
    set_nonblocking(pty.master.as_fd());
    let mut b = terminal_bundle(
        "ls -l /dev/console; touch /dev/x || echo ro-dev; \
         ls /dev/null /dev/zero /dev/ptmx /dev/stdout >/dev/null && echo nodes; exit 0",
        None,
    );
    for m in b.config_mut()["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/dev" {
            m["options"].as_array_mut().unwrap().push("ro".into());
        }
    }
    let id = rt.new_id("term-rodev");
    let mut child = Reap(spawn_run_on_tty(&rt, &b, &id, pty.slave.as_fd()));
    let mut out = String::new();
    let code = run_to_exit(&mut child, pty.master.as_fd(), &mut out);
    assert_eq!(code, Some(0), "output: {out:?}");
    let console = lines(&out)
        .into_iter()
        .find(|l| l.ends_with("/dev/console"))
        .unwrap_or_else(|| panic!("no /dev/console line: {out:?}"));
    assert_eq!(
        char_dev_numbers(console).map(|(major, _)| major),
        Some("136".to_string()),
        "/dev/console is the pty: {console:?}"
    );
    assert!(
        lines(&out).contains(&"ro-dev"),
        "/dev was writable: {out:?}"
    );
    assert!(lines(&out).contains(&"nodes"), "default nodes: {out:?}");
}

// ---------------------------------------------------------------------------
// run --detach

#[test]
fn detached_run_with_terminal_needs_a_console_socket() {
    require_root!();
    let rt = Runtime::from_env();
    let b = terminal_bundle("echo should-not-run; sleep 30", None);
    let id = rt.new_id("term-detach");
    let out = rt.run_with(&id, &b, &["--detach"]);
    out.assert_fail();
    assert!(!out.stdout.contains("should-not-run"), "{out}");
    assert!(
        rt.try_state(&id).is_err(),
        "a refused `run -d` leaves no container:\n{out}"
    );
    let left: Vec<_> = std::fs::read_dir(rt.root())
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "state left under --root: {left:?}");
    // Processes, mounts and cgroups: the leak checks of `rt` and `b` on drop.
}
