//! Driving the runtime binary under test: every command gets a private `--root`
//! (a temp dir per [`Runtime`]) and a timeout. Ids handed out or used here are
//! remembered; dropping the `Runtime` force-deletes what is left and runs the
//! leak checks (state dirs, cgroups, container processes).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::container::Container;
use crate::exec::{self, Output};
use crate::poll::{wait_until, PATIENCE};
use crate::{env, leak, procfs, Bundle};

/// The runtime under test with a private state root.
pub struct Runtime {
    bin: PathBuf,
    dir: Option<TempDir>,
    root: PathBuf,
    logs: PathBuf,
    ids: Mutex<Vec<String>>,
    pids: Mutex<Vec<(i32, Option<u64>)>>,
    seq: AtomicUsize,
    timeout: Duration,
    /// Global flags given to every command (e.g. `--systemd-cgroup`).
    global: Vec<String>,
    /// Run every command as this unprivileged user (rootless tests).
    user: Option<crate::rootless::User>,
}

impl Runtime {
    /// The binary from `RUNTIME` (see [`env::runtime_binary`]) with a fresh root.
    pub fn from_env() -> Runtime {
        Runtime::with_binary(env::runtime_binary())
    }

    /// A specific binary with a fresh root.
    pub fn with_binary(bin: &Path) -> Runtime {
        let dir = tempfile::Builder::new()
            .prefix("husk-it-rt-")
            .tempdir()
            .expect("creating the runtime temp dir");
        let root = dir.path().join("root");
        let logs = dir.path().join("logs");
        std::fs::create_dir(&root).expect("creating --root");
        std::fs::create_dir(&logs).expect("creating the log dir");
        Runtime {
            bin: bin.to_path_buf(),
            dir: Some(dir),
            root,
            logs,
            ids: Mutex::new(Vec::new()),
            pids: Mutex::new(Vec::new()),
            seq: AtomicUsize::new(0),
            timeout: exec::default_timeout(),
            global: Vec::new(),
            user: None,
        }
    }

    /// Run every command as `user` (the root and log dirs become theirs), with
    /// its XDG_RUNTIME_DIR, HOME and USER, as a login shell would give them.
    pub fn as_user(mut self, user: &crate::rootless::User) -> Runtime {
        for dir in [
            self.dir.as_ref().map(|d| d.path().to_path_buf()),
            Some(self.root.clone()),
            Some(self.logs.clone()),
        ]
        .into_iter()
        .flatten()
        {
            user.chown(&dir);
        }
        self.user = Some(user.clone());
        self
    }

    /// Give every command these global flags too (`--systemd-cgroup`).
    pub fn with_global_flags(mut self, flags: &[&str]) -> Runtime {
        self.global = flags.iter().map(|f| f.to_string()).collect();
        self
    }

    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The private `--root` state directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A unique container id `<prefix>-<pid>-<n>`, remembered for cleanup.
    pub fn new_id(&self, prefix: &str) -> String {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let id = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        self.track(&id);
        id
    }

    /// Remember an id for the cleanup and leak check on drop.
    pub fn track(&self, id: &str) {
        let mut ids = self.ids.lock().unwrap();
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_string());
        }
    }

    /// Remember a container pid: the leak check makes sure it is gone.
    pub fn record_pid(&self, pid: i32) {
        if pid > 0 {
            self.pids
                .lock()
                .unwrap()
                .push((pid, procfs::start_time(pid)));
        }
    }

    /// A `Command` for `<bin> --root <root> <args...>` (not run).
    pub fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--root").arg(&self.root);
        cmd.args(&self.global);
        cmd.args(args);
        if let Some(u) = &self.user {
            u.apply(&mut cmd);
        }
        cmd
    }

    /// Run `<bin> --root <root> <args...>` with the default timeout.
    pub fn cmd<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        self.cmd_timeout(args, self.timeout)
    }

    /// Run `<bin> --root <root> <args...>`, killed after `timeout`.
    pub fn cmd_timeout<S: AsRef<std::ffi::OsStr>>(&self, args: &[S], timeout: Duration) -> Output {
        self.logged(self.command(args), timeout).0
    }

    /// Run a command with stdout/stderr going to fresh log files; returns the
    /// output and the two paths (a container started by the command keeps writing
    /// to them).
    fn logged(&self, cmd: Command, timeout: Duration) -> (Output, PathBuf, PathBuf) {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let out = self.logs.join(format!("{n}.out"));
        let err = self.logs.join(format!("{n}.err"));
        (exec::run(cmd, &out, &err, timeout), out, err)
    }

    /// `create --bundle <b> <id>` (writes the config first); records the pid.
    pub fn create(&self, id: &str, bundle: &Bundle) -> Output {
        self.create_with(id, bundle, &[])
    }

    /// `create --bundle <b> [extra...] <id>`.
    pub fn create_with(&self, id: &str, bundle: &Bundle, extra: &[&str]) -> Output {
        self.create_logged(id, bundle, extra).0
    }

    fn create_logged(
        &self,
        id: &str,
        bundle: &Bundle,
        extra: &[&str],
    ) -> (Output, PathBuf, PathBuf) {
        bundle.save();
        bundle.used_by(id);
        self.track(id);
        let mut args = vec!["create", "--bundle", bundle.path_str()];
        args.extend_from_slice(extra);
        args.push(id);
        let res = self.logged(self.command(&args), self.timeout);
        if res.0.success() {
            self.record_state_pid(id);
        }
        res
    }

    /// Remember the pid `state` reports for `id` (for the leak check).
    pub fn record_state_pid(&self, id: &str) {
        if let Ok(state) = self.try_state(id) {
            self.record_pid(state["pid"].as_i64().unwrap_or(0) as i32);
        }
    }

    /// `create` with a fresh id; panics (with the output) if it fails. The guard
    /// force-deletes the container when dropped.
    pub fn container(&self, bundle: &Bundle) -> Container<'_> {
        self.container_with(bundle, &[])
    }

    /// `create` with a fresh id and extra flags; panics if it fails.
    pub fn container_with(&self, bundle: &Bundle, extra: &[&str]) -> Container<'_> {
        let id = self.new_id("husk-it");
        let (out, stdout, stderr) = self.create_logged(&id, bundle, extra);
        out.assert_ok();
        Container::new(self, id, stdout, stderr)
    }

    /// A guard for a container created by hand (e.g. with [`Runtime::cmd`]).
    pub fn guard(&self, id: &str) -> Container<'_> {
        self.track(id);
        self.record_state_pid(id);
        let none = self.logs.join("none");
        Container::new(self, id.to_string(), none.clone(), none)
    }

    /// `start <id>`.
    pub fn start(&self, id: &str) -> Output {
        self.cmd(&["start", id])
    }

    /// `state <id>` as run.
    pub fn state_raw(&self, id: &str) -> Output {
        self.cmd(&["state", id])
    }

    /// `state <id>` parsed; `Err` with the output if it failed or was not JSON.
    pub fn try_state(&self, id: &str) -> Result<Value, Output> {
        let out = self.state_raw(id);
        if !out.success() {
            return Err(out);
        }
        serde_json::from_str(&out.stdout).map_err(|_| out)
    }

    /// `state <id>` parsed; panics if it fails.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        match self.try_state(id) {
            Ok(v) => v,
            Err(out) => panic!("state should succeed and print JSON:\n{out}"),
        }
    }

    /// The `status` field of `state <id>`, `None` if `state` fails.
    pub fn status(&self, id: &str) -> Option<String> {
        let state = self.try_state(id).ok()?;
        state["status"].as_str().map(str::to_string)
    }

    /// Poll `state` until the status is `want` (generous timeout).
    pub fn wait_status(&self, id: &str, want: &str) -> bool {
        wait_until(PATIENCE, || self.status(id).as_deref() == Some(want))
    }

    /// `kill <id> <signal>`.
    pub fn kill(&self, id: &str, signal: &str) -> Output {
        self.cmd(&["kill", id, signal])
    }

    /// `delete <id>`.
    pub fn delete(&self, id: &str) -> Output {
        self.cmd(&["delete", id])
    }

    /// `delete --force <id>`.
    pub fn delete_force(&self, id: &str) -> Output {
        self.cmd(&["delete", "--force", id])
    }

    /// `run --bundle <b> <id>` in the foreground; stdout/stderr are the
    /// container's (and the runtime's).
    pub fn run(&self, id: &str, bundle: &Bundle) -> Output {
        self.run_with(id, bundle, &[])
    }

    /// `run --bundle <b> [extra...] <id>`.
    pub fn run_with(&self, id: &str, bundle: &Bundle, extra: &[&str]) -> Output {
        bundle.save();
        bundle.used_by(id);
        self.track(id);
        let mut args = vec!["run", "--bundle", bundle.path_str()];
        args.extend_from_slice(extra);
        args.push(id);
        self.cmd(&args)
    }

    /// `run --detach` under a fresh id; panics if it fails. The guard's
    /// `stdout()` is the container's stdout.
    pub fn run_detached(&self, bundle: &Bundle) -> Container<'_> {
        bundle.save();
        let id = self.new_id("husk-it-detach");
        bundle.used_by(&id);
        let args = ["run", "--detach", "--bundle", bundle.path_str(), &id];
        let (out, stdout, stderr) = self.logged(self.command(&args), self.timeout);
        out.assert_ok();
        self.record_state_pid(&id);
        Container::new(self, id, stdout, stderr)
    }

    /// `run` the bundle in the foreground under a fresh id: the usual way to look
    /// at the container from inside (the process prints, the test reads stdout).
    pub fn run_bundle(&self, bundle: &Bundle) -> Output {
        let id = self.new_id("husk-it-run");
        self.run(&id, bundle)
    }

    /// `run_bundle`, panicking unless it exits 0; returns trimmed stdout.
    #[track_caller]
    pub fn run_ok(&self, bundle: &Bundle) -> String {
        let out = self.run_bundle(bundle);
        out.assert_ok();
        out.out().to_string()
    }

    /// `list [args...]`.
    pub fn list(&self, args: &[&str]) -> Output {
        let mut all = vec!["list"];
        all.extend_from_slice(args);
        self.cmd(&all)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let ids = self.ids.lock().unwrap().clone();
        for id in &ids {
            if self.try_state(id).is_ok() {
                self.record_state_pid(id);
                let _ = self.delete_force(id);
            }
        }
        let pids = self.pids.lock().unwrap().clone();
        let leaks = leak::check_runtime(&self.root, &ids, &pids);
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
        leaks.report(&format!("runtime root {}", self.root.display()));
    }
}
