//! What a container can leave behind on the host (mounts, processes, cgroups), how to
//! find it, and how to remove it so the suite itself leaks nothing.

use crate::mountinfo;
use std::fmt;
use std::path::{Path, PathBuf};

/// Something of a container still present on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leak {
    Mount(String),
    Process(u32),
    Cgroup(PathBuf),
}

impl fmt::Display for Leak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Leak::Mount(m) => write!(f, "mount {m} remains on the host"),
            Leak::Process(p) => write!(f, "process {p} remains"),
            Leak::Cgroup(c) => write!(f, "cgroup {} remains", c.display()),
        }
    }
}

fn process_belongs(pid: u32, bundle: &str, id: &str) -> bool {
    let marker = format!("RTT_ID={id}\0");
    if let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) {
        if env.windows(marker.len()).any(|w| w == marker.as_bytes()) {
            return true;
        }
    }
    if let Ok(cg) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) {
        if cg.lines().any(|l| {
            l.rsplit(':')
                .next()
                .is_some_and(|p| p.split('/').any(|c| c == id))
        }) {
            return true;
        }
    }
    std::fs::read_link(format!("/proc/{pid}/root"))
        .is_ok_and(|r| r.to_string_lossy().starts_with(bundle))
}

/// Cgroup directories a runtime would create for `id`: `<mount>/<id>` and
/// `<mount>/<our cgroup>/<id>` on each cgroup hierarchy.
fn cgroup_candidates(id: &str) -> Vec<PathBuf> {
    let table = mountinfo::read_self().unwrap_or_default();
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut out = Vec::new();
    // Only hierarchies that are not covered by another mount (such as a tmpfs hiding
    // /sys/fs/cgroup/unified for crun).
    let visible = table
        .iter()
        .filter(|m| mountinfo::at(&table, &m.mount_point).is_some_and(|top| top.id == m.id));
    for m in visible.filter(|m| m.fstype.starts_with("cgroup")) {
        let mp = Path::new(&m.mount_point);
        out.push(mp.join(id));
        for line in own.lines() {
            if let Some(p) = line.splitn(3, ':').nth(2) {
                out.push(mp.join(p.trim_start_matches('/')).join(id));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Everything of container `id` (bundle `bundle`) still on the host.
pub fn find(bundle: &Path, id: &str) -> Vec<Leak> {
    let b = bundle.to_string_lossy().to_string();
    let mut out: Vec<Leak> = mountinfo::read_self()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.mount_point.starts_with(&b) || m.root.starts_with(&b))
        .map(|m| Leak::Mount(m.mount_point))
        .collect();
    let me = std::process::id();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if pid != me && process_belongs(pid, &b, id) {
                out.push(Leak::Process(pid));
            }
        }
    }
    out.extend(
        cgroup_candidates(id)
            .into_iter()
            .filter(|p| p.is_dir())
            .map(Leak::Cgroup),
    );
    out
}

/// Removes leaks: kills processes, detaches mounts (deepest first), removes cgroups.
pub fn clean(leaks: &[Leak]) {
    for l in leaks {
        if let Leak::Process(p) = l {
            // SAFETY: plain kill(2) of a pid we identified as the container's.
            unsafe { libc::kill(*p as i32, libc::SIGKILL) };
        }
    }
    let mut mounts: Vec<&String> = leaks
        .iter()
        .filter_map(|l| match l {
            Leak::Mount(m) => Some(m),
            _ => None,
        })
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in mounts {
        if let Ok(c) = std::ffi::CString::new(m.as_str()) {
            // SAFETY: c is a valid NUL-terminated path.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
    for l in leaks {
        if let Leak::Cgroup(c) = l {
            for _ in 0..50 {
                if std::fs::remove_dir(c).is_ok() || !c.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}

/// Removes a directory tree only if nothing is mounted inside it any more.
pub fn remove_tree(dir: &Path) -> Result<(), String> {
    let d = dir.to_string_lossy().to_string();
    let mounted: Vec<String> = mountinfo::read_self()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.mount_point.starts_with(&d))
        .map(|m| m.mount_point)
        .collect();
    if !mounted.is_empty() {
        return Err(format!("not removing {d}: still mounted {mounted:?}"));
    }
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("remove {d}: {e}")),
    }
}
