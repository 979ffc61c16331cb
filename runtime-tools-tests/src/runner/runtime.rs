//! The runtime under test, driven through runc's command line with its own `--root`.

use super::exec::{self, Outcome};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Longest a single runtime command may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A runtime binary plus the state root and log directory this suite gives it.
#[derive(Debug)]
pub struct Runtime {
    pub bin: PathBuf,
    pub root: PathBuf,
    logs: PathBuf,
    seq: AtomicUsize,
}

impl Runtime {
    /// A runtime whose state lives under `root`; command output goes to `logs`.
    pub fn new(bin: PathBuf, root: PathBuf, logs: PathBuf) -> Self {
        Runtime {
            bin,
            root,
            logs,
            seq: AtomicUsize::new(0),
        }
    }

    /// The basename of the binary (`runc`, `crun`, `husk`).
    pub fn name(&self) -> String {
        self.bin
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root).args(args);
        c
    }

    /// Runs `RUNTIME --root ROOT args...`, output captured in the log directory.
    pub fn cmd(&self, args: &[&str]) -> Outcome {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let out = self.logs.join(format!("{n}.out"));
        let err = self.logs.join(format!("{n}.err"));
        exec::run(self.command(args), &out, &err, TIMEOUT)
    }

    /// Runs a command whose stdout/stderr the container inherits (`create`, `run`).
    pub fn cmd_to(&self, args: &[&str], out: &Path, err: &Path) -> Outcome {
        exec::run(self.command(args), out, err, TIMEOUT)
    }

    /// `create --bundle B --pid-file B/pid ID`, container stdio into the bundle.
    pub fn create(&self, id: &str, bundle: &Path) -> Outcome {
        self.create_with(id, bundle, &[])
    }

    /// [`Runtime::create`] with `extra` options (such as `--console-socket PATH`).
    pub fn create_with(&self, id: &str, bundle: &Path, extra: &[&str]) -> Outcome {
        let pid_file = bundle.join("pid");
        let (bundle_s, pid_s) = (bundle.to_string_lossy(), pid_file.to_string_lossy());
        let mut args = vec!["create", "--bundle", &bundle_s, "--pid-file", &pid_s];
        args.extend_from_slice(extra);
        args.push(id);
        self.cmd_to(&args, &bundle.join("stdout"), &bundle.join("stderr"))
    }

    /// `state ID` parsed as JSON.
    pub fn state(&self, id: &str) -> Result<Value, String> {
        let o = self.cmd(&["state", id]);
        if !o.success() {
            return Err(format!("state {id}: {}", o.describe()));
        }
        serde_json::from_str(&o.stdout).map_err(|e| format!("state {id}: bad JSON: {e}"))
    }

    /// The `status` of `state ID`.
    pub fn status(&self, id: &str) -> Result<String, String> {
        let s = self.state(id)?;
        s["status"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("state {id}: no status in {s}"))
    }

    /// Polls `state` until the status is `want` or `timeout` passes.
    pub fn wait_status(&self, id: &str, want: &str, timeout: Duration) -> Result<Value, String> {
        let start = Instant::now();
        loop {
            let s = self.state(id)?;
            if s["status"] == want {
                return Ok(s);
            }
            if start.elapsed() > timeout {
                return Err(format!(
                    "{id} still {} after {timeout:?}, want {want}",
                    s["status"]
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Ids listed by `list --format json`.
    pub fn list_ids(&self) -> Result<Vec<String>, String> {
        let o = self.cmd(&["list", "--format", "json"]);
        if !o.success() {
            return Err(format!("list: {}", o.describe()));
        }
        let v: Value = match o.stdout.trim() {
            "" | "null" => Value::Array(vec![]),
            s => serde_json::from_str(s).map_err(|e| format!("list: bad JSON: {e}"))?,
        };
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["id"].as_str().map(str::to_string))
            .collect())
    }

    /// `delete --force ID`, ignoring the result (cleanup).
    pub fn force_delete(&self, id: &str) {
        let _ = self.cmd(&["delete", "--force", id]);
    }
}
