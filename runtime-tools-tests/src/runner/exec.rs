//! Running a command with a timeout and its output captured in files.
//!
//! Output goes to files, never pipes: a container started by `create` inherits the
//! runtime's stdout and would hold a pipe open long after the runtime exited.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a command ended.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Exit code, or None when killed by a signal or timed out.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

impl Outcome {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// One-line description for failure messages.
    pub fn describe(&self) -> String {
        let how = if self.timed_out {
            "timed out".to_string()
        } else {
            match self.code {
                Some(c) => format!("exit {c}"),
                None => "killed by a signal".into(),
            }
        };
        let err = self.stderr.trim();
        if err.is_empty() {
            how
        } else {
            format!("{how}: {}", err.lines().last().unwrap_or(err))
        }
    }
}

/// Runs `cmd` with stdin from /dev/null, stdout/stderr into `out`/`err`, killing it
/// after `timeout`.
pub fn run(mut cmd: Command, out: &Path, err: &Path, timeout: Duration) -> Outcome {
    let files = (File::create(out), File::create(err));
    let (Ok(o), Ok(e)) = files else {
        return Outcome {
            stderr: format!("cannot create {}", out.display()),
            ..Default::default()
        };
    };
    cmd.stdin(Stdio::null()).stdout(o).stderr(e);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                stderr: format!("spawn {:?}: {e}", cmd.get_program()),
                ..Default::default()
            }
        }
    };
    let start = Instant::now();
    let mut result = Outcome::default();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                result.code = status.code();
                break;
            }
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                result.timed_out = true;
                break;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(_) => break,
        }
    }
    result.stdout = std::fs::read_to_string(out).unwrap_or_default();
    result.stderr = std::fs::read_to_string(err).unwrap_or_default();
    result
}
