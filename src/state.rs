//! The container state store: `<root>/<id>/` holds `state.json` (written
//! atomically), `exec.fifo` while the container is `created`, and is locked with
//! flock for every operation so concurrent commands never corrupt it. Status is
//! derived from the init process itself, never trusted from the file.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// The state file name inside a container directory.
pub const STATE_FILE: &str = "state.json";
/// The exec FIFO: present from create until start.
pub const EXEC_FIFO: &str = "exec.fifo";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("invalid container id {0:?}: use letters, digits, '_', '+', '-' and '.'")]
    InvalidId(String),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("container with id {0} already exists")]
    Exists(String),
    #[error("state {path}: {step}: {source}{}", hint(source))]
    Io {
        path: PathBuf,
        step: &'static str,
        source: std::io::Error,
    },
    #[error("state {path}: corrupt state.json: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// What to do about a state directory an unprivileged caller may not write.
fn hint(e: &std::io::Error) -> &'static str {
    // SAFETY: geteuid has no preconditions.
    let unprivileged = unsafe { libc::geteuid() } != 0;
    if unprivileged && e.kind() == std::io::ErrorKind::PermissionDenied {
        " (rootless: set XDG_RUNTIME_DIR, the default root is then $XDG_RUNTIME_DIR/husk, or give --root)"
    } else {
        ""
    }
}

fn io<'a>(path: &'a Path, step: &'static str) -> impl FnOnce(std::io::Error) -> StateError + 'a {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        step,
        source,
    }
}

/// A container id as runc accepts it: `^[\w+\-.]+$`, not `.` or `..`.
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidId(id.to_string()))
    }
}

/// The status of a container, as runtime.md names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Stopped,
    Paused,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
            Status::Paused => "paused",
        })
    }
}

/// What husk records about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    /// Start time of the init process (field 22 of /proc/PID/stat), against pid reuse.
    pub init_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// The container has a pid namespace of its own (killing init kills all).
    #[serde(default)]
    pub own_pid_ns: bool,
    /// `hooks` of the config, for poststart (`start`) and poststop (`delete`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// The container's cgroup (none in state files of older husk versions).
    #[serde(default)]
    pub cgroup: Option<crate::cgroups::Cgroup>,
    /// The systemd unit holding that cgroup (the systemd driver).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd: Option<crate::cgroups::systemd::Unit>,
}

/// The runtime.md state of a container, as `husk state` prints it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState<'a> {
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: Status,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: &'a HashMap<String, String>,
}

/// The state store at `--root`.
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: PathBuf) -> Self {
        Store { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Make a new container directory (EEXIST: the id is taken) and lock it.
    pub fn create(&self, id: &str) -> Result<ContainerDir, StateError> {
        validate_id(id)?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(&self.root)
            .map_err(io(&self.root, "mkdir root"))?;
        let path = self.root.join(id);
        match std::fs::DirBuilder::new().mode(0o711).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StateError::Exists(id.to_string()))
            }
            Err(e) => return Err(io(&path, "mkdir")(e)),
        }
        ContainerDir::lock(id, path)
    }

    /// Open and lock an existing container directory.
    pub fn open(&self, id: &str) -> Result<ContainerDir, StateError> {
        validate_id(id)?;
        let path = self.root.join(id);
        let dir = ContainerDir::lock(id, path)?;
        // The directory may have been deleted while we waited for the lock.
        if !dir.path.join(STATE_FILE).exists() {
            return Err(StateError::NotFound(id.to_string()));
        }
        Ok(dir)
    }

    /// The ids of every container, sorted.
    pub fn list(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join(STATE_FILE).exists())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        ids
    }
}

/// A locked container directory. The lock is released on drop.
pub struct ContainerDir {
    pub id: String,
    pub path: PathBuf,
    lock: File,
}

impl ContainerDir {
    fn lock(id: &str, path: PathBuf) -> Result<Self, StateError> {
        let lock = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::NotFound(id.to_string()))
            }
            Err(e) => return Err(io(&path, "open")(e)),
        };
        loop {
            // SAFETY: flock on an fd we own.
            if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } == 0 {
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(io(&path, "flock")(e));
            }
        }
        Ok(ContainerDir {
            id: id.to_string(),
            path,
            lock,
        })
    }

    pub fn fifo_path(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }

    /// Write state.json atomically (temp file + rename).
    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let tmp = self.path.join(".state.json.tmp");
        let text = serde_json::to_vec(state).expect("state serializes");
        let mut f = File::create(&tmp).map_err(io(&tmp, "create"))?;
        f.write_all(&text).map_err(io(&tmp, "write"))?;
        std::fs::rename(&tmp, self.path.join(STATE_FILE)).map_err(io(&self.path, "rename"))
    }

    pub fn load(&self) -> Result<State, StateError> {
        let p = self.path.join(STATE_FILE);
        let text = match std::fs::read(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::NotFound(self.id.clone()))
            }
            Err(e) => return Err(io(&p, "read")(e)),
        };
        serde_json::from_slice(&text).map_err(|source| StateError::Corrupt { path: p, source })
    }

    /// The derived status: stopped unless the init pid is alive with the recorded
    /// start time; paused while its cgroup is frozen; created while the exec FIFO
    /// exists; else running.
    pub fn status(&self, state: &State) -> Status {
        if !init_alive(state.pid, state.init_start_time) {
            return Status::Stopped;
        }
        if state.cgroup.as_ref().is_some_and(|c| c.frozen()) {
            return Status::Paused;
        }
        if self.fifo_path().exists() {
            Status::Created
        } else {
            Status::Running
        }
    }

    /// Remove the directory (and release the lock).
    pub fn remove(self) -> Result<(), StateError> {
        let r = std::fs::remove_dir_all(&self.path);
        drop(self.lock);
        match r {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&self.path, "remove")(e)),
        }
    }
}

/// Field 3 (state) and 22 (start time) of /proc/PID/stat.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// Whether `pid` is a live (not zombie) process started at `start_time`.
pub fn init_alive(pid: i32, start_time: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    match proc_stat(pid) {
        Some((state, start)) => start == start_time && state != 'Z' && state != 'X',
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_as_runc() {
        for ok in ["a", "demo-1", "x_y.z+1", "ABC"] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b", "é"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn own_process_is_alive_and_reuse_is_detected() {
        let me = std::process::id() as i32;
        let (_, start) = proc_stat(me).unwrap();
        assert!(init_alive(me, start));
        assert!(!init_alive(me, start + 1));
        assert!(!init_alive(0, 0));
    }

    #[test]
    fn create_twice_fails_and_state_roundtrips() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("root"));
        let c = store.create("demo").unwrap();
        let st = State {
            oci_version: "1.3.0".into(),
            id: "demo".into(),
            pid: 1,
            init_start_time: 0,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: crate::rfc3339::now(),
            owner: String::new(),
            annotations: HashMap::new(),
            own_pid_ns: true,
            hooks: None,
            cgroup: None,
            systemd: None,
        };
        c.save(&st).unwrap();
        drop(c);
        assert!(matches!(store.create("demo"), Err(StateError::Exists(_))));
        let c = store.open("demo").unwrap();
        assert_eq!(c.load().unwrap().bundle, PathBuf::from("/b"));
        assert_eq!(store.list(), vec!["demo".to_string()]);
        c.remove().unwrap();
        assert!(matches!(store.open("demo"), Err(StateError::NotFound(_))));
    }
}
