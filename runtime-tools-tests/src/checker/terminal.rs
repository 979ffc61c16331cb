//! `process.terminal`: stdio is a terminal, /dev/console is that same terminal, and
//! `process.consoleSize` is its window size (config.md, config-linux.md "/dev/console").

use crate::tap::Tap;
use serde_json::Value;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

/// Checks the terminal the process was given, when `process.terminal` is true.
pub fn check(cfg: &Value, tap: &mut Tap) {
    let p = &cfg["process"];
    if p["terminal"] != true {
        return;
    }
    for fd in 0..3 {
        // SAFETY: isatty only inspects the descriptor.
        let tty = unsafe { libc::isatty(fd) } == 1;
        tap.check(
            tty,
            format!("terminal: fd {fd} is a tty"),
            "isatty is false",
        );
    }
    // SAFETY: fstat of fd 0 into a zeroed stat buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let own = (unsafe { libc::fstat(0, &mut st) } == 0).then_some(st.st_rdev);
    match std::fs::metadata("/dev/console") {
        Ok(m) => tap.check(
            m.file_type().is_char_device() && Some(m.rdev()) == own,
            "terminal: /dev/console is the process's terminal",
            format_args!("/dev/console rdev {:#x}, stdin rdev {own:x?}", m.rdev()),
        ),
        Err(e) => tap.fail("terminal: /dev/console is the process's terminal", e),
    }
    if let Some(size) = p["consoleSize"].as_object() {
        let want = (
            size.get("height").and_then(Value::as_u64).unwrap_or(0),
            size.get("width").and_then(Value::as_u64).unwrap_or(0),
        );
        // SAFETY: winsize is plain data; TIOCGWINSZ fills it.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        let got = (unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } == 0)
            .then_some((u64::from(ws.ws_row), u64::from(ws.ws_col)));
        tap.eq("terminal: consoleSize (rows, cols)", got, Some(want));
    }
}
