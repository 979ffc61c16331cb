//! The cgroup manager (cgroupfs driver): where a container's cgroup lives, making
//! it, writing `linux.resources` into it, placing the init in it, listing its
//! processes and removing it.
//!
//! The host layout is detected once with statfs on /sys/fs/cgroup: cgroup2 there is
//! the unified (v2) layout; a tmpfs with v1 hierarchies below is v1 or hybrid (a
//! cgroup2 at /sys/fs/cgroup/unified is then joined too, as runc does). `v1` and
//! `v2` translate resources into their files; `devices` holds the device rules.
//!
//! cgroupsPath follows runc's cgroupfs driver: an absolute path is relative to each
//! hierarchy's root; a relative path (and the default, the container id) is
//! relative to the caller's own cgroup on v1, and to its parent on v2.

pub mod blkio;
pub mod devices;
pub mod ebpf;
pub mod freezer;
pub mod misc;
pub mod stats;
pub mod sub;
pub mod systemd;
pub mod v1;
pub mod v2;

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

/// Where every cgroup filesystem of the host is mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error(transparent)]
    V1(#[from] v1::V1Error),
    #[error(transparent)]
    V2(#[from] v2::V2Error),
    #[error(transparent)]
    Freezer(#[from] freezer::FreezerError),
    #[error(transparent)]
    Stats(#[from] stats::StatsError),
    #[error(transparent)]
    Sub(#[from] sub::SubCgroupError),
    #[error(transparent)]
    Systemd(#[from] systemd::SystemdError),
    #[error("linux.cgroupsPath: {what}: {source}")]
    Detect { what: String, source: SysErr },
    #[error("linux.cgroupsPath: {0}")]
    Layout(String),
    #[error("linux.cgroupsPath: {}: container's cgroup unexpectedly frozen (thaw it, or use another cgroup)", .0.display())]
    Frozen(PathBuf),
}

/// An OS error shown as strerror alone ("Invalid argument"), without Rust's
/// "(os error 22)" suffix.
#[derive(Debug)]
pub struct SysErr(pub std::io::Error);

impl std::fmt::Display for SysErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.raw_os_error() {
            Some(n) => f.write_str(nix::errno::Errno::from_raw(n).desc()),
            None => write!(f, "{}", self.0),
        }
    }
}

impl std::error::Error for SysErr {}

impl From<std::io::Error> for SysErr {
    fn from(e: std::io::Error) -> Self {
        SysErr(e)
    }
}

impl SysErr {
    pub fn errno(&self) -> Option<i32> {
        self.0.raw_os_error()
    }
}

/// The host's cgroup layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Version {
    /// v1 hierarchies (maybe with a hybrid cgroup2 beside them).
    V1,
    /// The unified hierarchy alone at /sys/fs/cgroup.
    V2,
}

/// The container's directory in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dir {
    /// Controllers of the hierarchy as /proc/self/cgroup names them (`cpu`,
    /// `cpuacct`, `name=systemd`); empty for cgroup2.
    pub controllers: Vec<String>,
    /// The hierarchy's mount point (`/sys/fs/cgroup/memory`).
    pub root: PathBuf,
    /// The container's cgroup (`/sys/fs/cgroup/memory/<id>`).
    pub path: PathBuf,
    /// Directories husk made for it (the path and missing ancestors), outermost
    /// first; `destroy` removes them innermost first.
    #[serde(default)]
    pub created: Vec<PathBuf>,
}

impl Dir {
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// A container's cgroup: the layout and one directory per hierarchy. Stored in
/// state.json.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    pub version: Version,
    pub dirs: Vec<Dir>,
}

impl Cgroup {
    /// On a pure cgroup v2 host, the container's one directory: the init can be
    /// cloned straight into it (clone3 CLONE_INTO_CGROUP).
    pub fn unified_dir(&self) -> Option<&Path> {
        match (self.version, self.dirs.as_slice()) {
            (Version::V2, [d]) => Some(&d.path),
            _ => None,
        }
    }

    /// Resolve `linux.cgroupsPath` (default: the container id, relative) on this host.
    pub fn new(cgroups_path: Option<&Path>, id: &str) -> Result<Cgroup, CgroupError> {
        let inner = match cgroups_path {
            Some(p) if !p.as_os_str().is_empty() => clean_path(p),
            _ => PathBuf::from(id),
        };
        if inner == Path::new("/") || inner.as_os_str().is_empty() {
            return Err(CgroupError::Layout(format!(
                "{} resolves to the root cgroup",
                cgroups_path.unwrap_or(Path::new("")).display()
            )));
        }
        let proc_cgroup = read("/proc/self/cgroup")?;
        if detect_version()? == Version::V2 {
            let dir = v2::resolve(Path::new(CGROUP_ROOT), &proc_cgroup, &inner)?;
            return Ok(Cgroup {
                version: Version::V2,
                dirs: vec![dir],
            });
        }
        let mountinfo = read("/proc/self/mountinfo")?;
        let dirs = v1::resolve(&mountinfo, &proc_cgroup, &inner);
        if dirs.is_empty() {
            return Err(CgroupError::Layout(format!(
                "no cgroup hierarchy is mounted under {CGROUP_ROOT}"
            )));
        }
        Ok(Cgroup {
            version: Version::V1,
            dirs,
        })
    }

    /// Make the cgroup directories (and, on v2, enable the controllers on the way).
    pub fn create(&mut self) -> Result<(), CgroupError> {
        match self.version {
            Version::V1 => v1::create(&mut self.dirs)?,
            Version::V2 => v2::create(&mut self.dirs[0])?,
        }
        Ok(())
    }

    /// Write `linux.resources`, the device rules included (deny all, the rules,
    /// runc's default devices). Access letters the controller does not know are
    /// dropped with a warning, as runc does.
    pub fn set(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        for w in devices::access_warnings(r.devices().as_deref()) {
            crate::logging::warn(&w);
        }
        match self.version {
            Version::V1 => v1::set(&self.dirs, r)?,
            Version::V2 => v2::set(&self.dirs[0], r, true)?,
        }
        Ok(())
    }

    /// Write changed resources into a live container's cgroup (`update`); the
    /// device rules stay as they are.
    pub fn update(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        match self.version {
            Version::V1 => v1::update(&self.dirs, r)?,
            Version::V2 => v2::set(&self.dirs[0], r, false)?,
        }
        Ok(())
    }

    /// Before the init is placed: refuse a frozen cgroup, where the init would
    /// stop in the middle of its setup (and, on v1, could not be killed until
    /// thawed), as runc does; a cgroup that already has processes is joined, with
    /// runc's warning.
    pub fn check_joinable(&self) -> Result<(), CgroupError> {
        if let Some(path) = freezer::frozen_dir(self.version, &self.dirs) {
            return Err(CgroupError::Frozen(path));
        }
        if let Some((d, n)) = self.dirs.iter().find_map(|d| {
            let n = count_procs(&d.path);
            (n > 0).then_some((d, n))
        }) {
            crate::logging::warn(&format!(
                "linux.cgroupsPath: {}: container's cgroup is not empty: {n} process(es) \
                 found",
                d.path.display()
            ));
        }
        Ok(())
    }

    /// Move `pid` into the cgroup in every hierarchy.
    pub fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        for d in &self.dirs {
            let file = d.path.join("cgroup.procs");
            std::fs::write(&file, pid.to_string()).map_err(|e| match self.version {
                Version::V1 => CgroupError::V1(v1::V1Error::AddPid {
                    pid,
                    path: file.clone(),
                    source: e.into(),
                }),
                Version::V2 => CgroupError::V2(v2::V2Error::AddPid {
                    pid,
                    path: file.clone(),
                    source: e.into(),
                }),
            })?;
        }
        Ok(())
    }

    /// Every process in the cgroup or below it, in any hierarchy.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let mut pids = Vec::new();
        for d in &self.dirs {
            collect_pids(&d.path, &mut pids);
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Freeze every process of the container (returns once all are frozen).
    pub fn freeze(&self) -> Result<(), CgroupError> {
        Ok(freezer::freeze(self.version, &self.dirs)?)
    }

    /// Thaw every process of the container (returns once all are thawed).
    pub fn thaw(&self) -> Result<(), CgroupError> {
        Ok(freezer::thaw(self.version, &self.dirs)?)
    }

    /// The freezer's state (thawed where there is no freezer).
    pub fn freezer_state(&self) -> Result<freezer::FreezerState, CgroupError> {
        Ok(freezer::state(self.version, &self.dirs)?)
    }

    /// Whether the container is paused: its freezer reads frozen (or freezing).
    pub fn frozen(&self) -> bool {
        matches!(
            self.freezer_state(),
            Ok(freezer::FreezerState::Frozen | freezer::FreezerState::Freezing)
        )
    }

    /// Resource usage (runc's `types.Stats`).
    pub fn stats(&self) -> Result<stats::Stats, CgroupError> {
        Ok(stats::read(self.version, &self.dirs)?)
    }

    /// The OOM killer's kill count in the cgroup, if the host reports it.
    pub fn oom_kills(&self) -> Option<u64> {
        stats::oom_kills(self.version, &self.dirs)
    }

    /// v2 `cgroup.kill` (Linux 5.14+): SIGKILL every process of the cgroup and its
    /// descendants at once, frozen or not. Ok(false) where the file does not exist.
    pub fn kill_all(&self) -> Result<bool, CgroupError> {
        if self.version != Version::V2 {
            return Ok(false);
        }
        let file = self.dirs[0].path.join("cgroup.kill");
        if !file.exists() {
            return Ok(false);
        }
        write_file(&file, "1").map_err(|source| v2::V2Error::Write {
            field: "cgroup.kill".into(),
            path: file,
            source,
        })?;
        Ok(true)
    }

    /// Remove the directories husk made (sub-cgroups first), waiting briefly for
    /// dying processes; missing directories are fine.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        let mut first_err = None;
        for d in &self.dirs {
            if let Err(e) = remove_dir(d) {
                first_err.get_or_insert(e);
            }
        }
        match (first_err, self.version) {
            (None, _) => Ok(()),
            (Some((path, source)), Version::V1) => Err(v1::V1Error::Remove { path, source }.into()),
            (Some((path, source)), Version::V2) => Err(v2::V2Error::Remove { path, source }.into()),
        }
    }
}

/// The number of processes directly in the cgroup at `dir` (0 if unreadable).
fn count_procs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|s| s.lines().filter(|l| !l.trim().is_empty()).count())
        .unwrap_or(0)
}

/// The host's layout: cgroup2 at /sys/fs/cgroup is v2, anything else v1/hybrid.
pub fn detect_version() -> Result<Version, CgroupError> {
    let st = nix::sys::statfs::statfs(CGROUP_ROOT).map_err(|e| CgroupError::Detect {
        what: format!("statfs {CGROUP_ROOT}"),
        source: SysErr(e.into()),
    })?;
    Ok(
        if st.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC {
            Version::V2
        } else {
            Version::V1
        },
    )
}

fn read(path: &str) -> Result<String, CgroupError> {
    std::fs::read_to_string(path).map_err(|e| CgroupError::Detect {
        what: format!("reading {path}"),
        source: e.into(),
    })
}

/// runc's CleanPath: resolve `.` and `..` lexically, never above the start; an
/// absolute path stays absolute, a relative one relative.
pub fn clean_path(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    let mut depth = 0;
    for c in p.components() {
        match c {
            Component::RootDir => out.push("/"),
            Component::Normal(n) => {
                out.push(n);
                depth += 1;
            }
            Component::ParentDir if depth > 0 => {
                out.pop();
                depth -= 1;
            }
            _ => {}
        }
    }
    out
}

/// Join a cgroup path (absolute in its hierarchy or relative) below `base`.
pub(crate) fn join_below(base: &Path, p: &Path) -> PathBuf {
    base.join(p.strip_prefix("/").unwrap_or(p))
}

/// The ancestors of `path` up to (not including) `root` that do not exist,
/// outermost first, and `path` itself if missing.
pub(crate) fn missing_dirs(root: &Path, path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut p = path;
    while p != root && p.starts_with(root) && !p.exists() {
        out.push(p.to_path_buf());
        match p.parent() {
            Some(parent) => p = parent,
            None => break,
        }
    }
    out.reverse();
    out
}

/// mkdir each of `dirs` (outermost first); returns those this call made.
pub(crate) fn make_dirs(dirs: &[PathBuf]) -> Result<Vec<PathBuf>, (PathBuf, SysErr)> {
    let mut made = Vec::new();
    for d in dirs {
        match std::fs::create_dir(d) {
            Ok(()) => made.push(d.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                for m in made.iter().rev() {
                    let _ = std::fs::remove_dir(m);
                }
                return Err((d.clone(), e.into()));
            }
        }
    }
    Ok(made)
}

/// Write one cgroup file (no create, no truncate: a single write).
pub(crate) fn write_file(path: &Path, value: &str) -> Result<(), SysErr> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(value.as_bytes())?;
    Ok(())
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) {
    if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            collect_pids(&e.path(), out);
        }
    }
}

/// rmdir `path`, its sub-cgroups first, retrying EBUSY for about a second (the
/// processes of a killed container take a moment to leave).
fn rmdir_tree(path: &Path) -> Result<(), (PathBuf, SysErr)> {
    for e in std::fs::read_dir(path).into_iter().flatten().flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            rmdir_tree(&e.path())?;
        }
    }
    for attempt in 0..100 {
        match std::fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 99 => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err((path.to_path_buf(), e.into())),
        }
    }
    Ok(())
}

fn remove_dir(d: &Dir) -> Result<(), (PathBuf, SysErr)> {
    if !d.created.contains(&d.path) {
        // Not made by husk (an existing cgroup was joined): leave it.
        return Ok(());
    }
    rmdir_tree(&d.path)?;
    for p in d.created.iter().rev().filter(|p| **p != d.path) {
        // An ancestor shared with another container stays until its last user goes.
        if std::fs::remove_dir(p).is_err() {
            break;
        }
    }
    Ok(())
}

/// One line of /proc/self/mountinfo, the fields the cgroup code needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    pub root: PathBuf,
    pub mountpoint: PathBuf,
    pub fstype: String,
    pub super_opts: Vec<String>,
}

/// Parse the cgroup and cgroup2 mounts of a mountinfo table, leaving out those
/// hidden by a later mount on the same point or on one of its parents (e.g. a
/// tmpfs over /sys/fs/cgroup/unified in a private mount namespace).
pub(crate) fn cgroup_mounts(mountinfo: &str) -> Vec<Mount> {
    let points: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4).map(|m| PathBuf::from(unescape(m))))
        .collect();
    mountinfo
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            let fstype = *r.first()?;
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            let mountpoint = PathBuf::from(unescape(l.get(4)?));
            if points[i + 1..].iter().any(|p| mountpoint.starts_with(p)) {
                return None;
            }
            Some(Mount {
                root: PathBuf::from(unescape(l.get(3)?)),
                mountpoint,
                fstype: fstype.to_string(),
                super_opts: r.get(2)?.split(',').map(str::to_string).collect(),
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// /proc/self/cgroup lines: (controllers, path); v2's line has no controllers.
pub(crate) fn own_cgroups(proc_cgroup: &str) -> Vec<(Vec<String>, PathBuf)> {
    proc_cgroup
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let ctrls = parts.next()?;
            let path = parts.next()?;
            let controllers = ctrls
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            Some((controllers, PathBuf::from(path)))
        })
        .collect()
}

#[cfg(test)]
mod resources_tests;
#[cfg(test)]
mod tests;

/// One value to write into a cgroup file, and the spec field it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub field: String,
    /// The controller whose hierarchy (v1) or availability (v2) the file needs.
    pub controller: &'static str,
    pub file: String,
    pub value: String,
    /// File and value used instead when `file` does not exist (blkio.bfq.weight).
    pub fallback: Option<(String, String)>,
    /// Skipped when the file does not exist.
    pub optional: bool,
    /// Skipped with this warning when the file does not exist (a knob the kernel
    /// dropped, e.g. memory.kmem.limit_in_bytes).
    pub warn_missing: Option<String>,
    /// On EINVAL, written again after the others (cpu period before quota).
    pub retry_later: bool,
}

impl Write {
    pub(crate) fn new(
        field: impl Into<String>,
        controller: &'static str,
        file: impl Into<String>,
        value: impl ToString,
    ) -> Write {
        Write {
            field: field.into(),
            controller,
            file: file.into(),
            value: value.to_string(),
            fallback: None,
            optional: false,
            warn_missing: None,
            retry_later: false,
        }
    }
}

/// cgroup v2 has no kernel memory limits: `kernel` and `kernelTCP` are ignored
/// with a warning (runc ignores both there).
pub(crate) fn warn_ignored_kernel_memory_v2(m: &oci_spec::runtime::LinuxMemory) {
    #[allow(deprecated)]
    if m.kernel().is_some() {
        crate::logging::warn(
            "linux.resources.memory.kernel: no cgroup v2 equivalent (kernel memory limits are deprecated); ignored",
        );
    }
    if m.kernel_tcp().is_some() {
        crate::logging::warn("linux.resources.memory.kernelTCP: no cgroup v2 equivalent; ignored");
    }
}

/// `memory.checkBeforeUpdate`: refuse a new limit that is not above the current
/// usage. As runc (fs2 CheckMemoryUsage): only positive limits are checked, the
/// memory+swap value too, `limit <= usage` is refused, and an unreadable usage
/// file is no reason to fail (best effort). runc checks on v2 only; husk also
/// checks on v1, against memory.usage_in_bytes (memory.memsw.usage_in_bytes for
/// memory+swap). Err((field, reason)).
pub(crate) fn check_before_update(
    m: &oci_spec::runtime::LinuxMemory,
    dir: &Path,
    usage_file: &str,
    swap_usage_file: &str,
) -> Result<(), (String, String)> {
    if m.check_before_update() != Some(true) {
        return Ok(());
    }
    let usage = |file: &str| -> Option<u64> {
        std::fs::read_to_string(dir.join(file))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    };
    for (field, value, file) in [
        ("linux.resources.memory.swap", m.swap(), swap_usage_file),
        ("linux.resources.memory.limit", m.limit(), usage_file),
    ] {
        let Some(v) = value.filter(|v| *v > 0) else {
            continue;
        };
        if let Some(u) = usage(file) {
            if v as u64 <= u {
                return Err((
                    "linux.resources.memory.checkBeforeUpdate".into(),
                    format!(
                        "rejecting {field} {v}: not above the current usage {u} ({})",
                        dir.join(file).display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Write `w` into `dir`; returns the error with the path that failed.
pub(crate) fn apply_write(dir: &Path, w: &Write) -> Result<(), (PathBuf, SysErr)> {
    let mut path = dir.join(&w.file);
    let mut value = &w.value;
    if let Some((file, v)) = &w.fallback {
        if !path.exists() && dir.join(file).exists() {
            path = dir.join(file);
            value = v;
        }
    }
    if w.optional && !path.exists() {
        return Ok(());
    }
    if let Some(msg) = &w.warn_missing {
        if !path.exists() {
            crate::logging::warn(msg);
            return Ok(());
        }
    }
    write_file(&path, value).map_err(|e| (path, e))
}
