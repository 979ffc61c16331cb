//! Running the runtime binary with a timeout and capturing what it printed.
//!
//! stdout and stderr go to files, not pipes: a container started by `create` or
//! `run --detach` inherits them and may hold them open for as long as it lives, so
//! reading a pipe to EOF could hang. The runtime process is killed after the
//! timeout, so no test hangs forever on a stuck command.

use std::fmt;
use std::fs::File;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use std::os::unix::process::ExitStatusExt;

/// Default bound for one runtime command; `HUSK_TEST_TIMEOUT` (seconds) overrides.
pub fn default_timeout() -> Duration {
    std::env::var("HUSK_TEST_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(30))
}

/// What one runtime command did.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, for messages.
    pub cmdline: String,
    /// Exit status (`None` if the command could not be spawned).
    pub status: Option<ExitStatus>,
    /// The command was killed because it outlived its timeout.
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Exit code; `None` when killed by a signal, timed out or never spawned.
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// Exited with code 0.
    pub fn success(&self) -> bool {
        !self.timed_out && self.code() == Some(0)
    }

    /// Exited by itself with a non-zero code (a clean error, not a crash or hang).
    pub fn failed_cleanly(&self) -> bool {
        !self.timed_out && matches!(self.code(), Some(c) if c != 0)
    }

    /// Panic with the whole output unless the command succeeded.
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.success(), "command should succeed:\n{self}");
        self
    }

    /// Panic unless the command exited with a non-zero code and said something on
    /// stderr (an error must be explained).
    #[track_caller]
    pub fn assert_fail(&self) -> &Self {
        assert!(
            self.failed_cleanly(),
            "command should fail with a non-zero exit code:\n{self}"
        );
        assert!(
            !self.stderr.trim().is_empty(),
            "a failing command should explain itself on stderr:\n{self}"
        );
        self
    }

    /// stdout with surrounding whitespace removed.
    pub fn out(&self) -> &str {
        self.stdout.trim()
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match (self.timed_out, self.status) {
            (true, _) => "TIMED OUT (killed)".to_string(),
            (false, None) => "not spawned".to_string(),
            (false, Some(s)) => match (s.code(), s.signal()) {
                (Some(c), _) => format!("exit code {c}"),
                (None, Some(sig)) => format!("killed by signal {sig}"),
                _ => format!("{s}"),
            },
        };
        write!(
            f,
            "$ {}\n=> {how}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmdline, self.stdout, self.stderr
        )
    }
}

/// Run `cmd` with stdin from /dev/null, stdout/stderr into `out_path`/`err_path`,
/// killing it after `timeout`.
pub fn run(mut cmd: Command, out_path: &Path, err_path: &Path, timeout: Duration) -> Output {
    let cmdline = format!("{cmd:?}");
    let mut output = Output {
        cmdline,
        status: None,
        timed_out: false,
        stdout: String::new(),
        stderr: String::new(),
    };
    let files = File::create(out_path).and_then(|o| Ok((o, File::create(err_path)?)));
    let (out_file, err_file) = match files {
        Ok(f) => f,
        Err(e) => {
            output.stderr = format!("cannot create output files: {e}");
            return output;
        }
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out_file))
        .stderr(Stdio::from(err_file));
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            output.stderr = format!("cannot spawn: {e}");
            return output;
        }
    };
    let deadline = Instant::now() + timeout;
    let mut nap = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                output.timed_out = true;
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => {
                std::thread::sleep(nap);
                nap = (nap * 2).min(Duration::from_millis(20));
            }
            Err(_) => break None,
        }
    };
    output.status = status;
    output.stdout = read_lossy(out_path);
    output.stderr = read_lossy(err_path);
    output
}

/// File contents as text, empty if unreadable.
pub fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
