//! A container guard: holds the id of a created container and runs
//! `delete --force` when dropped, so a failing test leaves nothing running.

use std::path::PathBuf;

use serde_json::Value;

use crate::exec::{read_lossy, Output};
use crate::poll::{wait_until, PATIENCE};
use crate::runtime::Runtime;

/// A container created through a [`Runtime`]; deleted (forcibly) on drop.
pub struct Container<'a> {
    rt: &'a Runtime,
    id: String,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl<'a> Container<'a> {
    pub(crate) fn new(rt: &'a Runtime, id: String, stdout: PathBuf, stderr: PathBuf) -> Self {
        Container {
            rt,
            id,
            stdout,
            stderr,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn runtime(&self) -> &'a Runtime {
        self.rt
    }

    /// `state` parsed; panics if it fails.
    #[track_caller]
    pub fn state(&self) -> Value {
        self.rt.state(&self.id)
    }

    /// `state`'s status, `None` if `state` fails.
    pub fn status(&self) -> Option<String> {
        self.rt.status(&self.id)
    }

    /// The init pid from `state`; panics if `state` fails.
    #[track_caller]
    pub fn pid(&self) -> i32 {
        let pid = self.state()["pid"].as_i64().expect("state has a pid") as i32;
        self.rt.record_pid(pid);
        pid
    }

    pub fn start(&self) -> Output {
        self.rt.start(&self.id)
    }

    /// `start`, panicking if it fails.
    #[track_caller]
    pub fn start_ok(&self) {
        self.start().assert_ok();
    }

    pub fn kill(&self, signal: &str) -> Output {
        self.rt.kill(&self.id, signal)
    }

    pub fn delete(&self) -> Output {
        self.rt.delete(&self.id)
    }

    pub fn delete_force(&self) -> Output {
        self.rt.delete_force(&self.id)
    }

    /// Poll until the status is `want`.
    pub fn wait_status(&self, want: &str) -> bool {
        self.rt.wait_status(&self.id, want)
    }

    /// What the container process wrote to its stdout so far (the stdout of the
    /// `create` command, which the container inherited).
    pub fn stdout(&self) -> String {
        read_lossy(&self.stdout)
    }

    /// What was written to stderr (by `create` and then by the container).
    pub fn stderr(&self) -> String {
        read_lossy(&self.stderr)
    }

    /// Poll until the container's stdout contains `text`.
    pub fn wait_stdout_contains(&self, text: &str) -> bool {
        wait_until(PATIENCE, || self.stdout().contains(text))
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        if let Ok(state) = self.rt.try_state(&self.id) {
            self.rt
                .record_pid(state["pid"].as_i64().unwrap_or(0) as i32);
            let out = self.rt.delete_force(&self.id);
            if !out.success() && !std::thread::panicking() {
                eprintln!("guard: delete --force {} failed:\n{out}", self.id);
            }
        }
    }
}
