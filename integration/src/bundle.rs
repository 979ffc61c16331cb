//! An OCI bundle in a temp dir: a private busybox rootfs and a `config.json` that
//! starts as runc's default spec and is changed in code before the runtime reads it.
//!
//! ```no_run
//! # use husk_integration::Bundle;
//! let mut b = Bundle::new();
//! b.sh("echo hello").env(&["FOO=bar"]);
//! b.config_mut()["process"]["cwd"] = "/tmp".into();
//! ```
//!
//! Every bundle puts a unique marker variable in `process.env`; dropping the bundle
//! checks that no process carrying it (nor any process rooted in the bundle, nor any
//! mount of it) is left, and fails the test otherwise.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::{leak, rootfs, spec};

/// Name of the env variable that marks the processes of a bundle.
pub const MARKER_VAR: &str = "HUSK_TEST_BUNDLE";

/// A bundle directory: `<dir>/rootfs` + `<dir>/config.json`.
pub struct Bundle {
    dir: Option<TempDir>,
    path: PathBuf,
    config: Value,
    marker: String,
    /// config.json was written by hand (raw text or removed): `save` leaves it.
    raw_config: bool,
    host_dirs: usize,
    /// Container ids created from this bundle (for the leak check).
    ids: Mutex<Vec<String>>,
}

impl Default for Bundle {
    fn default() -> Self {
        Self::new()
    }
}

impl Bundle {
    /// A fresh bundle with a copy of the busybox rootfs and runc's default config
    /// (`terminal: false`), not yet written.
    pub fn new() -> Bundle {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let dir = tempfile::Builder::new()
            .prefix("husk-it-bundle-")
            .tempdir()
            .expect("creating the bundle dir");
        let path = dir.path().to_path_buf();
        rootfs::copy_to(&path.join("rootfs")).expect("copying the busybox rootfs");
        let marker = format!(
            "{}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            path.file_name().unwrap().to_string_lossy()
        );
        let mut config = spec::default_config();
        config["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(format!("{MARKER_VAR}={marker}").into());
        Bundle {
            dir: Some(dir),
            path,
            config,
            marker,
            raw_config: false,
            host_dirs: 0,
            ids: Mutex::new(Vec::new()),
        }
    }

    /// The bundle directory (absolute).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bundle directory as a string (for command lines).
    pub fn path_str(&self) -> &str {
        self.path.to_str().expect("temp paths are UTF-8")
    }

    /// `<bundle>/rootfs` on the host.
    pub fn rootfs(&self) -> PathBuf {
        self.path.join("rootfs")
    }

    /// The value of the marker variable in this bundle's `process.env`.
    pub fn marker(&self) -> &str {
        &self.marker
    }

    pub fn config(&self) -> &Value {
        &self.config
    }

    /// The config to edit in place (written by `save`, which the runtime driver
    /// calls before `create`/`run`).
    pub fn config_mut(&mut self) -> &mut Value {
        &mut self.config
    }

    /// Set `process.args`.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.config["process"]["args"] = json!(args);
        self
    }

    /// `process.args = ["sh", "-c", script]`.
    pub fn sh(&mut self, script: &str) -> &mut Self {
        self.args(&["sh", "-c", script])
    }

    /// Add `KEY=VALUE` entries to `process.env`, replacing entries with the same key.
    pub fn env(&mut self, vars: &[&str]) -> &mut Self {
        let env = self.config["process"]["env"]
            .as_array_mut()
            .expect("process.env is an array");
        for var in vars {
            let key = var.split('=').next().unwrap_or(var);
            env.retain(|e| e.as_str().and_then(|s| s.split('=').next()) != Some(key));
            env.push(json!(var));
        }
        self
    }

    /// Set `process.cwd`.
    pub fn cwd(&mut self, cwd: &str) -> &mut Self {
        self.config["process"]["cwd"] = json!(cwd);
        self
    }

    /// Set `process.user.uid` and `.gid`.
    pub fn user(&mut self, uid: u32, gid: u32) -> &mut Self {
        self.config["process"]["user"]["uid"] = json!(uid);
        self.config["process"]["user"]["gid"] = json!(gid);
        self
    }

    /// `root.readonly = false`: the container may write its rootfs (and files it
    /// writes under e.g. /tmp appear in [`Bundle::rootfs`] on the host).
    pub fn writable(&mut self) -> &mut Self {
        self.config["root"]["readonly"] = json!(false);
        self
    }

    fn namespaces(&mut self) -> &mut Vec<Value> {
        if self.config["linux"]["namespaces"].is_null() {
            self.config["linux"]["namespaces"] = json!([]);
        }
        self.config["linux"]["namespaces"]
            .as_array_mut()
            .expect("linux.namespaces is an array")
    }

    /// Add a namespace of OCI `kind` (created new) unless present.
    pub fn add_namespace(&mut self, kind: &str) -> &mut Self {
        let ns = self.namespaces();
        if !ns.iter().any(|n| n["type"] == kind) {
            ns.push(json!({ "type": kind }));
        }
        self
    }

    /// Remove the namespace of OCI `kind` (the container shares the host's).
    pub fn remove_namespace(&mut self, kind: &str) -> &mut Self {
        self.namespaces().retain(|n| n["type"] != kind);
        self
    }

    /// Join an existing namespace: set (or add) `kind` with `path`.
    pub fn namespace_path(&mut self, kind: &str, path: &str) -> &mut Self {
        self.remove_namespace(kind);
        self.namespaces()
            .push(json!({ "type": kind, "path": path }));
        self
    }

    /// Append an entry to `mounts`.
    pub fn add_mount(&mut self, mount: Value) -> &mut Self {
        self.config["mounts"]
            .as_array_mut()
            .expect("mounts is an array")
            .push(mount);
        self
    }

    /// A fresh host directory (inside the bundle dir, outside the rootfs) bind-mounted
    /// read-write at `dest` in the container; returns its host path.
    pub fn host_dir(&mut self, dest: &str) -> PathBuf {
        self.host_dirs += 1;
        let host = self.path.join(format!("host-dir-{}", self.host_dirs));
        std::fs::create_dir(&host).expect("creating a host dir");
        let source = host.to_str().expect("UTF-8 path").to_string();
        self.add_mount(json!({
            "destination": dest,
            "type": "bind",
            "source": source,
            "options": ["rbind", "rw"]
        }));
        host
    }

    /// Write `text` as config.json verbatim (invalid JSON, for instance); `save`
    /// will not overwrite it.
    pub fn write_raw_config(&mut self, text: &str) {
        std::fs::write(self.path.join("config.json"), text).expect("writing config.json");
        self.raw_config = true;
    }

    /// Remove config.json and keep it removed.
    pub fn remove_config(&mut self) {
        let _ = std::fs::remove_file(self.path.join("config.json"));
        self.raw_config = true;
    }

    /// Remember that container `id` is created from this bundle (the runtime
    /// driver does this): the leak check then also looks for its cgroups' processes.
    pub fn used_by(&self, id: &str) {
        let mut ids = self.ids.lock().unwrap();
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_string());
        }
    }

    /// Write the config to `<bundle>/config.json` (unless written by hand).
    pub fn save(&self) {
        if self.raw_config {
            return;
        }
        let text = serde_json::to_string_pretty(&self.config).expect("serializing config");
        std::fs::write(self.path.join("config.json"), text).expect("writing config.json");
    }

    /// Read a file the container wrote into its rootfs (path inside the container).
    pub fn read_rootfs_file(&self, path_in_container: &str) -> Option<String> {
        std::fs::read_to_string(
            self.rootfs()
                .join(path_in_container.trim_start_matches('/')),
        )
        .ok()
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let ids = self.ids.lock().unwrap().clone();
        let leaks = leak::check_bundle(&self.path, &self.marker, &ids);
        if !leaks.is_clean() && leaks.mounts_left {
            // Never remove_dir_all through a mount that might reach host files.
            eprintln!(
                "keeping bundle {} because mounts of it remain",
                self.path.display()
            );
            if let Some(dir) = self.dir.take() {
                let _ = dir.keep();
            }
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
        leaks.report(&format!("bundle {}", self.path.display()));
    }
}
