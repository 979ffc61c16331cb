//! Leak checks run when a test's [`Bundle`](crate::Bundle) and
//! [`Runtime`](crate::Runtime) are dropped: after every test no container process,
//! mount, state dir or cgroup may remain. Whatever is found is reported (failing
//! the test unless it is already failing) and then cleaned up, so one leaky test
//! does not poison the next.

use std::path::{Path, PathBuf};

use crate::bundle::MARKER_VAR;
use crate::poll::{wait_until, PATIENCE};
use crate::procfs;

/// What a leak check found.
#[derive(Debug, Default)]
pub struct Leaks {
    /// One line per leaked thing.
    pub items: Vec<String>,
    /// Mounts of the bundle remain even after trying to detach them.
    pub mounts_left: bool,
}

impl Leaks {
    pub fn is_clean(&self) -> bool {
        self.items.is_empty()
    }

    /// Fail the test (panic) if anything leaked, unless the thread is already
    /// panicking, in which case only print (a double panic would abort).
    pub fn report(&self, what: &str) {
        if self.is_clean() {
            return;
        }
        let msg = format!("LEAK after test ({what}):\n  {}", self.items.join("\n  "));
        if std::thread::panicking() {
            eprintln!("{msg}");
        } else {
            panic!("{msg}");
        }
    }
}

/// Processes belonging to the bundle: carrying its marker in their environment
/// (started containers: the env is applied at exec), in a cgroup named after one of
/// `ids` (runc's created init), or with root or cwd inside the bundle directory.
pub fn bundle_processes(bundle: &Path, marker: &str, ids: &[String]) -> Vec<i32> {
    let needle = format!("{MARKER_VAR}={marker}");
    let me = std::process::id() as i32;
    procfs::all_pids()
        .into_iter()
        .filter(|&pid| pid != me && procfs::alive(pid, None))
        .filter(|&pid| {
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let marked = env.split(|&b| b == 0).any(|v| v == needle.as_bytes());
            let inside = |link: &str| {
                std::fs::read_link(format!("/proc/{pid}/{link}"))
                    .map(|p| p.starts_with(bundle))
                    .unwrap_or(false)
            };
            marked || inside("root") || inside("cwd") || in_cgroup_named(pid, ids)
        })
        .collect()
}

/// `/proc/<pid>/cgroup` has a path with a component equal to one of `ids`.
fn in_cgroup_named(pid: i32, ids: &[String]) -> bool {
    if ids.is_empty() {
        return false;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .flat_map(|path| path.split('/'))
        .any(|part| ids.iter().any(|id| id == part))
}

/// Mount points in the test's mount namespace whose line in mountinfo mentions
/// `path`.
pub fn mounts_mentioning(path: &Path) -> Vec<PathBuf> {
    let needle = path.to_string_lossy();
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter(|l| l.contains(needle.as_ref()))
        .filter_map(|l| l.split_whitespace().nth(4).map(PathBuf::from))
        .collect()
}

/// Check (and clean up) what a bundle left behind.
pub fn check_bundle(bundle: &Path, marker: &str, ids: &[String]) -> Leaks {
    let mut leaks = Leaks::default();
    let mut procs = Vec::new();
    // Dying processes take a moment to be reaped: wait generously.
    if !wait_until(PATIENCE, || {
        procs = bundle_processes(bundle, marker, ids);
        procs.is_empty()
    }) {
        for pid in &procs {
            leaks.items.push(format!(
                "process {pid} ({}) of the bundle is still alive",
                comm(*pid)
            ));
            // SAFETY: kill(2) on a pid we identified; no memory is involved.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
    }
    let mounts = mounts_mentioning(bundle);
    if !mounts.is_empty() {
        for m in mounts.iter().rev() {
            leaks.items.push(format!("mount {} is left", m.display()));
            detach(m);
        }
        leaks.mounts_left = !mounts_mentioning(bundle).is_empty();
    }
    leaks
}

/// Check (and clean up) what a runtime's private root and the given container ids
/// left behind; `pids` are container pids seen during the test (with start times).
pub fn check_runtime(root: &Path, ids: &[String], pids: &[(i32, Option<u64>)]) -> Leaks {
    let mut leaks = Leaks::default();
    let alive: Vec<_> = pids.iter().filter(|(p, t)| procfs::alive(*p, *t)).collect();
    if !alive.is_empty()
        && !wait_until(PATIENCE, || {
            !pids.iter().any(|(p, t)| procfs::alive(*p, *t))
        })
    {
        for (pid, start) in pids.iter().filter(|(p, t)| procfs::alive(*p, *t)) {
            leaks.items.push(format!(
                "container process {pid} ({}) is still alive",
                comm(*pid)
            ));
            if procfs::start_time(*pid) == *start {
                // SAFETY: kill(2) on a pid whose start time we checked.
                unsafe { libc::kill(*pid, libc::SIGKILL) };
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten() {
            leaks.items.push(format!(
                "state entry {} is left under --root",
                e.path().display()
            ));
        }
    }
    for id in ids {
        let mut dirs = Vec::new();
        if !wait_until(PATIENCE, || {
            dirs = cgroup_dirs_named(id);
            dirs.is_empty()
        }) {
            for d in dirs {
                leaks.items.push(format!("cgroup {} is left", d.display()));
                let _ = std::fs::remove_dir(&d);
            }
        }
    }
    leaks
}

/// Directories named `name` in the cgroup hierarchies under /sys/fs/cgroup
/// (searched a few levels deep: runc nests them under its parent's cgroup).
pub fn cgroup_dirs_named(name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    walk_dirs(Path::new("/sys/fs/cgroup"), 6, &mut |p: &Path| {
        if p.file_name().is_some_and(|f| f == name) {
            found.push(p.to_path_buf());
        }
    });
    found
}

fn walk_dirs(dir: &Path, depth: usize, f: &mut dyn FnMut(&Path)) {
    if depth == 0 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            let p = e.path();
            f(&p);
            walk_dirs(&p, depth - 1, f);
        }
    }
}

fn detach(mount_point: &Path) {
    if let Ok(c) = std::ffi::CString::new(mount_point.as_os_str().as_encoded_bytes()) {
        // SAFETY: c is a valid NUL-terminated path for the duration of the call.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
        .map(|s| s.replace('\0', " ").trim().to_string())
        .unwrap_or_default()
}
