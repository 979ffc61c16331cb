//! The freezer: stop every process of a container in place (`pause`) and let them
//! go on (`resume`), and tell whether a container is frozen (its `paused` status).
//!
//! v1: the freezer hierarchy's `freezer.state` takes `FROZEN` / `THAWED` and reads
//! back `THAWED`, `FREEZING` or `FROZEN`; a write starts the transition, reading the
//! file shows where it is. A task that cannot be frozen yet (in the middle of a
//! vfork, say) leaves the cgroup `FREEZING`: the write is repeated until it reads
//! `FROZEN`, and on giving up the cgroup is thawed again.
//!
//! v2: `cgroup.freeze` takes `1` / `0` (the wanted state); `cgroup.events` has the
//! line `frozen 1` once every task is frozen, `frozen 0` once thawed.
//!
//! Both calls return only once the transition is complete.

use super::{write_file, Dir, SysErr, Version};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a freeze or thaw may take before it is called a failure.
const PATIENCE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum FreezerError {
    #[error("freezer: no freezer cgroup hierarchy is mounted on this host")]
    NoFreezer,
    #[error("freezer: writing {path}: {source}")]
    Write { path: PathBuf, source: SysErr },
    #[error("freezer: reading {path}: {source}")]
    Read { path: PathBuf, source: SysErr },
    #[error("freezer: {path} did not become {want} within {secs}s (last read: {last:?})")]
    Timeout {
        path: PathBuf,
        want: &'static str,
        secs: u64,
        last: String,
    },
}

/// The state of a container's freezer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezerState {
    Thawed,
    /// Freezing has started but not every task is frozen yet (v1 `FREEZING`, v2
    /// `cgroup.freeze` 1 with `frozen 0`).
    Freezing,
    Frozen,
}

/// The directory whose freezer files apply: the freezer hierarchy's on v1, the
/// one directory on v2.
fn freezer_dir(version: Version, dirs: &[Dir]) -> Option<&Dir> {
    match version {
        Version::V1 => dirs.iter().find(|d| d.has("freezer")),
        Version::V2 => dirs.first(),
    }
}

fn read(path: &Path) -> Result<String, FreezerError> {
    std::fs::read_to_string(path).map_err(|e| FreezerError::Read {
        path: path.to_path_buf(),
        source: e.into(),
    })
}

fn write(path: &Path, value: &str) -> Result<(), FreezerError> {
    write_file(path, value).map_err(|source| FreezerError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The `frozen` value of a v2 cgroup.events text.
pub fn v2_events_frozen(events: &str) -> Option<bool> {
    events
        .lines()
        .find_map(|l| l.strip_prefix("frozen "))
        .map(|v| v.trim() == "1")
}

/// A v1 freezer.state text as a state.
pub fn v1_parse_state(text: &str) -> FreezerState {
    match text.trim() {
        "FROZEN" => FreezerState::Frozen,
        "FREEZING" => FreezerState::Freezing,
        _ => FreezerState::Thawed,
    }
}

/// The current state; a cgroup without freezer files is thawed.
pub fn state(version: Version, dirs: &[Dir]) -> Result<FreezerState, FreezerError> {
    let Some(d) = freezer_dir(version, dirs) else {
        return Ok(FreezerState::Thawed);
    };
    match version {
        Version::V1 => {
            let p = d.path.join("freezer.state");
            Ok(v1_parse_state(&read(&p)?))
        }
        Version::V2 => {
            let p = d.path.join("cgroup.freeze");
            if !p.exists() {
                return Ok(FreezerState::Thawed);
            }
            if read(&p)?.trim() != "1" {
                return Ok(FreezerState::Thawed);
            }
            let events = read(&d.path.join("cgroup.events"))?;
            Ok(match v2_events_frozen(&events) {
                Some(true) => FreezerState::Frozen,
                _ => FreezerState::Freezing,
            })
        }
    }
}

/// The freezer directory that holds a container joining the cgroup frozen, if
/// any: one frozen or freezing itself, or (v2) frozen through an ancestor
/// (`cgroup.freeze` 0 but `frozen 1` in cgroup.events). A process moved there
/// stops where it is; on v1 it cannot even be killed until thawed.
pub fn frozen_dir(version: Version, dirs: &[Dir]) -> Option<PathBuf> {
    let d = freezer_dir(version, dirs)?;
    let frozen = match version {
        Version::V1 => std::fs::read_to_string(d.path.join("freezer.state"))
            .is_ok_and(|s| v1_parse_state(&s) != FreezerState::Thawed),
        Version::V2 => {
            std::fs::read_to_string(d.path.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1")
                || std::fs::read_to_string(d.path.join("cgroup.events"))
                    .is_ok_and(|s| v2_events_frozen(&s) == Some(true))
        }
    };
    frozen.then(|| d.path.clone())
}

/// Poll `check` with a growing nap until it says done, or PATIENCE passes.
/// `check` returns (done, what was read).
fn poll(mut check: impl FnMut() -> Result<(bool, String), FreezerError>) -> Result<(), String> {
    let deadline = Instant::now() + PATIENCE;
    let mut nap = Duration::from_micros(100);
    loop {
        let (done, last) = check().map_err(|e| e.to_string())?;
        if done {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(last);
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
    }
}

/// Freeze every process of the cgroup; returns once they are all frozen.
pub fn freeze(version: Version, dirs: &[Dir]) -> Result<(), FreezerError> {
    let d = freezer_dir(version, dirs).ok_or(FreezerError::NoFreezer)?;
    match version {
        Version::V1 => {
            let p = d.path.join("freezer.state");
            let res = poll(|| {
                // Writing again retries the tasks that could not be frozen yet.
                write(&p, "FROZEN")?;
                let s = read(&p)?;
                Ok((v1_parse_state(&s) == FreezerState::Frozen, s.trim().into()))
            });
            res.map_err(|last| {
                let _ = write(&p, "THAWED");
                timeout(p.clone(), "FROZEN", last)
            })
        }
        Version::V2 => {
            let p = d.path.join("cgroup.freeze");
            if !p.exists() {
                return Err(FreezerError::NoFreezer);
            }
            write(&p, "1")?;
            let ev = d.path.join("cgroup.events");
            poll(|| {
                let s = read(&ev)?;
                Ok((v2_events_frozen(&s) == Some(true), s))
            })
            .map_err(|last| {
                let _ = write(&p, "0");
                timeout(ev, "frozen 1", last)
            })
        }
    }
}

/// Thaw every process of the cgroup; returns once they run again.
pub fn thaw(version: Version, dirs: &[Dir]) -> Result<(), FreezerError> {
    let d = freezer_dir(version, dirs).ok_or(FreezerError::NoFreezer)?;
    match version {
        Version::V1 => {
            let p = d.path.join("freezer.state");
            write(&p, "THAWED")?;
            poll(|| {
                let s = read(&p)?;
                Ok((v1_parse_state(&s) == FreezerState::Thawed, s.trim().into()))
            })
            .map_err(|last| timeout(p.clone(), "THAWED", last))
        }
        Version::V2 => {
            let p = d.path.join("cgroup.freeze");
            if !p.exists() {
                return Ok(());
            }
            write(&p, "0")?;
            let ev = d.path.join("cgroup.events");
            poll(|| {
                let s = read(&ev)?;
                Ok((v2_events_frozen(&s) != Some(true), s))
            })
            .map_err(|last| timeout(ev, "frozen 0", last))
        }
    }
}

fn timeout(path: PathBuf, want: &'static str, last: String) -> FreezerError {
    FreezerError::Timeout {
        path,
        want,
        secs: PATIENCE.as_secs(),
        last,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2_dir(path: &Path) -> Vec<Dir> {
        vec![Dir {
            controllers: Vec::new(),
            root: path.to_path_buf(),
            path: path.to_path_buf(),
            created: Vec::new(),
        }]
    }

    #[test]
    fn parses_v1_and_v2_files() {
        assert_eq!(v1_parse_state("FROZEN\n"), FreezerState::Frozen);
        assert_eq!(v1_parse_state("FREEZING\n"), FreezerState::Freezing);
        assert_eq!(v1_parse_state("THAWED\n"), FreezerState::Thawed);
        assert_eq!(v2_events_frozen("populated 1\nfrozen 1\n"), Some(true));
        assert_eq!(v2_events_frozen("populated 0\nfrozen 0\n"), Some(false));
        assert_eq!(v2_events_frozen("populated 0\n"), None);
    }

    /// A fake v2 cgroup whose cgroup.events already says what the kernel would.
    #[test]
    fn v2_freeze_and_thaw_write_cgroup_freeze_and_wait_for_events() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = v2_dir(tmp.path());
        std::fs::write(tmp.path().join("cgroup.freeze"), "0\n").unwrap();
        std::fs::write(tmp.path().join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        freeze(Version::V2, &dirs).unwrap();
        let wrote = std::fs::read_to_string(tmp.path().join("cgroup.freeze")).unwrap();
        assert!(wrote.starts_with('1'), "{wrote:?}");
        assert_eq!(state(Version::V2, &dirs).unwrap(), FreezerState::Frozen);
        std::fs::write(tmp.path().join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
        // Wanted frozen, not there yet.
        assert_eq!(state(Version::V2, &dirs).unwrap(), FreezerState::Freezing);
        thaw(Version::V2, &dirs).unwrap();
        let wrote = std::fs::read_to_string(tmp.path().join("cgroup.freeze")).unwrap();
        assert!(wrote.starts_with('0'), "{wrote:?}");
        assert_eq!(state(Version::V2, &dirs).unwrap(), FreezerState::Thawed);
    }

    #[test]
    fn v2_without_cgroup_freeze_is_thawed_and_cannot_freeze() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = v2_dir(tmp.path());
        assert_eq!(state(Version::V2, &dirs).unwrap(), FreezerState::Thawed);
        assert!(matches!(
            freeze(Version::V2, &dirs),
            Err(FreezerError::NoFreezer)
        ));
    }

    #[test]
    fn v1_without_freezer_hierarchy() {
        let dirs = vec![Dir {
            controllers: vec!["memory".into()],
            root: "/x".into(),
            path: "/x/y".into(),
            created: Vec::new(),
        }];
        assert_eq!(state(Version::V1, &dirs).unwrap(), FreezerState::Thawed);
        assert_eq!(
            freeze(Version::V1, &dirs).unwrap_err().to_string(),
            "freezer: no freezer cgroup hierarchy is mounted on this host"
        );
    }
}
