//! The container's cgroup as the host sees it, on either cgroup layout. This module
//! owns layout detection, the parsing of /proc/<pid>/cgroup, the container's cgroup
//! directories and reading their files, so a test states what it expects on both
//! layouts side by side and runs unchanged on each.
//!
//! - [`Layout::V1`]: v1 hierarchies, one per controller, at
//!   `/sys/fs/cgroup/<controller>`; the container's directory for a controller is
//!   `/sys/fs/cgroup/<controller><path>` with the path from the line of
//!   /proc/<pid>/cgroup listing that controller. A hybrid host (v1 hierarchies plus
//!   a cgroup2 at /sys/fs/cgroup/unified) is V1: runtimes put the resources in the
//!   v1 hierarchies there.
//! - [`Layout::V2`]: cgroup2 mounted at /sys/fs/cgroup itself; one directory,
//!   `/sys/fs/cgroup<path>` with the path from the `0::` line.
//!
//! ```no_run
//! # use husk_integration::cgroupfs::{by_layout, pick, Cgroup};
//! # let pid = 1;
//! let cg = Cgroup::of(pid);
//! assert_eq!(cg.read(pick(("memory", "memory.limit_in_bytes"), "memory.max")), "67108864");
//! // cpu.weight is runc's conversion of the shares.
//! assert_eq!(cg.read(pick(("cpu", "cpu.shares"), "cpu.weight")), by_layout("512", "20"));
//! ```

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Where the host mounts its cgroup filesystems.
pub const ROOT: &str = "/sys/fs/cgroup";

/// The host's cgroup layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// v1 hierarchies under /sys/fs/cgroup (hybrid hosts included).
    V1,
    /// The unified hierarchy alone, mounted at /sys/fs/cgroup.
    V2,
}

/// This host's layout (detected once): V2 iff /sys/fs/cgroup is itself cgroup2,
/// i.e. has a `cgroup.controllers` file.
pub fn layout() -> Layout {
    static LAYOUT: OnceLock<Layout> = OnceLock::new();
    *LAYOUT.get_or_init(|| {
        if Path::new(ROOT).join("cgroup.controllers").exists() {
            Layout::V2
        } else {
            Layout::V1
        }
    })
}

/// The host has the unified layout.
pub fn is_v2() -> bool {
    layout() == Layout::V2
}

/// The value for this host's layout: `v1` or `v2`.
pub fn by_layout<T>(v1: T, v2: T) -> T {
    match layout() {
        Layout::V1 => v1,
        Layout::V2 => v2,
    }
}

/// One cgroup file named for both layouts: (controller, file) on v1, the file of
/// the one directory on v2; `None` where the layout has no such file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Knob<'a> {
    pub v1: Option<(&'a str, &'a str)>,
    pub v2: Option<&'a str>,
}

/// The file `v1.1` of the `v1.0` hierarchy on v1, `v2` on v2.
pub const fn pick<'a>(v1: (&'a str, &'a str), v2: &'a str) -> Knob<'a> {
    Knob {
        v1: Some(v1),
        v2: Some(v2),
    }
}

/// A file only v1 has (e.g. memory.kmem.tcp.limit_in_bytes); using it on v2 panics.
pub const fn v1_only<'a>(controller: &'a str, file: &'a str) -> Knob<'a> {
    Knob {
        v1: Some((controller, file)),
        v2: None,
    }
}

/// A file only v2 has (e.g. memory.swap.max); using it on v1 panics.
pub const fn v2_only(file: &str) -> Knob<'_> {
    Knob {
        v1: None,
        v2: Some(file),
    }
}

impl<'a> Knob<'a> {
    /// The file name on this host's layout (what an error message names).
    #[track_caller]
    pub fn file(&self) -> &'a str {
        self.on(layout()).1
    }

    /// (controller, file) on `layout` (no controller on v2).
    #[track_caller]
    fn on(&self, layout: Layout) -> (&'a str, &'a str) {
        match (layout, self.v1, self.v2) {
            (Layout::V1, Some(v1), _) => v1,
            (Layout::V2, _, Some(v2)) => ("", v2),
            _ => panic!("{self:?} has no file on cgroup {layout:?}"),
        }
    }
}

/// The cgroup path in a /proc/<pid>/cgroup text: with a controller, the path on
/// the v1 line listing it (`4:memory:/a/b`, `2:cpu,cpuacct:/a/b`); without, the
/// path on the v2 line (`0::/a/b`).
pub fn cgroup_path<'t>(proc_cgroup: &'t str, controller: Option<&str>) -> Option<&'t str> {
    proc_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = match controller {
            Some(c) => controllers.split(',').any(|listed| listed == c),
            None => controllers.is_empty(),
        };
        matches.then_some(path)
    })
}

/// Where the hierarchy holding `controller` is mounted: `/sys/fs/cgroup/<controller>`
/// on v1, `/sys/fs/cgroup` on v2.
pub fn hierarchy_root(controller: &str) -> PathBuf {
    match layout() {
        Layout::V1 => Path::new(ROOT).join(controller),
        Layout::V2 => PathBuf::from(ROOT),
    }
}

/// The host offers `controller`: on v1 its hierarchy is mounted (has
/// cgroup.procs), on v2 the root's cgroup.controllers lists it.
pub fn controller_available(controller: &str) -> bool {
    match layout() {
        Layout::V1 => hierarchy_root(controller).join("cgroup.procs").exists(),
        Layout::V2 => std::fs::read_to_string(Path::new(ROOT).join("cgroup.controllers"))
            .unwrap_or_default()
            .split_whitespace()
            .any(|c| c == controller),
    }
}

/// Whether a new cgroup gets `knob` on this host (files come with kernel features
/// and, on v2, with the controllers enabled for children; the root cgroup lacks
/// many): a child of the hierarchy's root is made, looked into and removed.
pub fn new_cgroup_has(knob: Knob) -> bool {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let (controller, file) = knob.on(layout());
    let name = format!(
        "husk-it-probe-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let dir = hierarchy_root(controller).join(name);
    if std::fs::create_dir(&dir).is_err() {
        return false;
    }
    let has = dir.join(file).exists();
    let _ = std::fs::remove_dir(&dir);
    has
}

/// A process's cgroup: a directory per controller on v1, the one directory on v2.
#[derive(Debug, Clone)]
pub struct Cgroup {
    layout: Layout,
    proc_cgroup: String,
}

impl Cgroup {
    /// The cgroup of `pid` now (its /proc/<pid>/cgroup); panics if unreadable.
    #[track_caller]
    pub fn of(pid: i32) -> Cgroup {
        let file = format!("/proc/{pid}/cgroup");
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
        Cgroup::from_text(layout(), &text)
    }

    /// The cgroup described by a /proc/<pid>/cgroup `text` on `layout`.
    pub fn from_text(layout: Layout, text: &str) -> Cgroup {
        Cgroup {
            layout,
            proc_cgroup: text.to_string(),
        }
    }

    /// The directory holding `controller`'s files: `/sys/fs/cgroup/<controller><path>`
    /// on v1, `/sys/fs/cgroup<path>` on v2 (whatever the controller).
    #[track_caller]
    pub fn dir(&self, controller: &str) -> PathBuf {
        let (base, wanted) = match self.layout {
            Layout::V1 => (Path::new(ROOT).join(controller), Some(controller)),
            Layout::V2 => (PathBuf::from(ROOT), None),
        };
        let path = cgroup_path(&self.proc_cgroup, wanted).unwrap_or_else(|| {
            panic!(
                "no {} line in /proc/<pid>/cgroup:\n{}",
                wanted.unwrap_or("0::"),
                self.proc_cgroup
            )
        });
        base.join(path.trim_start_matches('/'))
    }

    /// The path of `knob` on this layout.
    #[track_caller]
    pub fn path(&self, knob: Knob) -> PathBuf {
        let (controller, file) = knob.on(self.layout);
        self.dir(controller).join(file)
    }

    /// The file exists (the kernel has the knob).
    pub fn has(&self, knob: Knob) -> bool {
        self.path(knob).exists()
    }

    /// The trimmed content of `knob`, `None` if it cannot be read.
    pub fn try_read(&self, knob: Knob) -> Option<String> {
        std::fs::read_to_string(self.path(knob))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// The trimmed content of `knob`; panics naming the path if unreadable.
    #[track_caller]
    pub fn read(&self, knob: Knob) -> String {
        read_trimmed(&self.path(knob))
    }

    /// The cpu bandwidth as v2's cpu.max writes it, `quota period` (`max` for no
    /// quota): cpu.max on v2, made of cpu.cfs_quota_us (-1: max) and
    /// cpu.cfs_period_us on v1.
    #[track_caller]
    pub fn cpu_max(&self) -> String {
        match self.layout {
            Layout::V1 => {
                let quota = self.read(v1_only("cpu", "cpu.cfs_quota_us"));
                let period = self.read(v1_only("cpu", "cpu.cfs_period_us"));
                let quota = if quota == "-1" { "max".into() } else { quota };
                format!("{quota} {period}")
            }
            Layout::V2 => self.read(v2_only("cpu.max")),
        }
    }

    /// What the device controller enforces, as far as the host can read it: v1
    /// devices.list; v2 the ids of the BPF_CGROUP_DEVICE programs attached to the
    /// directory (a changed program has a new id).
    #[track_caller]
    pub fn device_rules(&self) -> String {
        match self.layout {
            Layout::V1 => read_trimmed(&self.dir("devices").join("devices.list")),
            Layout::V2 => {
                let dir = self.dir("");
                let ids = device_program_ids(&dir)
                    .unwrap_or_else(|e| panic!("BPF_PROG_QUERY on {}: {e}", dir.display()));
                format!("device programs {ids:?}")
            }
        }
    }
}

#[track_caller]
fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

/// The ids of the device programs (BPF_CGROUP_DEVICE) attached to the cgroup
/// directory `dir` itself, with bpf(BPF_PROG_QUERY).
pub fn device_program_ids(dir: &Path) -> std::io::Result<Vec<u32>> {
    const BPF_PROG_QUERY: libc::c_long = 16;
    const BPF_CGROUP_DEVICE: u32 = 6;
    /// The BPF_PROG_QUERY part of `union bpf_attr`.
    #[repr(C)]
    #[derive(Default)]
    struct QueryAttr {
        target_fd: u32,
        attach_type: u32,
        query_flags: u32,
        attach_flags: u32,
        prog_ids: u64,
        prog_cnt: u32,
        _pad: u32,
    }
    let cgroup = std::fs::File::open(dir)?;
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    // SAFETY: attr is a valid, initialised bpf_attr prefix of the size passed;
    // prog_ids points to `ids`, which holds prog_cnt u32s and outlives the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_QUERY,
            &mut attr as *mut QueryAttr,
            std::mem::size_of::<QueryAttr>(),
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    ids.truncate(attr.prog_cnt.min(64) as usize);
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "9:name=systemd:/\n8:pids:/a/c1\n5:devices:/a/c1\n\
                          2:cpu,cpuacct:/a/c1\n4:memory:/b/c1\n0::/\n";
    const UNIFIED: &str = "0::/user.slice/c1\n";

    #[test]
    fn v1_lines_are_found_by_controller_also_when_comounted() {
        assert_eq!(cgroup_path(HYBRID, Some("pids")), Some("/a/c1"));
        assert_eq!(cgroup_path(HYBRID, Some("cpu")), Some("/a/c1"));
        assert_eq!(cgroup_path(HYBRID, Some("cpuacct")), Some("/a/c1"));
        assert_eq!(cgroup_path(HYBRID, Some("memory")), Some("/b/c1"));
        assert_eq!(cgroup_path(HYBRID, Some("systemd")), None);
        assert_eq!(cgroup_path(HYBRID, Some("name=systemd")), Some("/"));
        assert_eq!(cgroup_path(HYBRID, Some("freezer")), None);
    }

    #[test]
    fn the_v2_line_is_the_one_without_controllers() {
        assert_eq!(cgroup_path(UNIFIED, None), Some("/user.slice/c1"));
        assert_eq!(cgroup_path(HYBRID, None), Some("/"));
        assert_eq!(cgroup_path(UNIFIED, Some("memory")), None);
    }

    #[test]
    fn v1_dirs_are_per_controller() {
        let cg = Cgroup::from_text(Layout::V1, HYBRID);
        assert_eq!(cg.dir("memory"), Path::new("/sys/fs/cgroup/memory/b/c1"));
        assert_eq!(cg.dir("cpu"), Path::new("/sys/fs/cgroup/cpu/a/c1"));
        let knob = pick(("pids", "pids.max"), "pids.max");
        assert_eq!(
            cg.path(knob),
            Path::new("/sys/fs/cgroup/pids/a/c1/pids.max")
        );
    }

    #[test]
    fn v2_has_one_dir_for_every_controller() {
        let cg = Cgroup::from_text(Layout::V2, UNIFIED);
        let dir = Path::new("/sys/fs/cgroup/user.slice/c1");
        assert_eq!(cg.dir("memory"), dir);
        assert_eq!(cg.dir("pids"), dir);
        let knob = pick(("memory", "memory.limit_in_bytes"), "memory.max");
        assert_eq!(cg.path(knob), dir.join("memory.max"));
    }

    #[test]
    fn layout_only_files_resolve_on_their_layout() {
        let v2 = Cgroup::from_text(Layout::V2, UNIFIED);
        let swap = v2_only("memory.swap.max");
        assert_eq!(
            v2.path(swap),
            Path::new("/sys/fs/cgroup/user.slice/c1/memory.swap.max")
        );
        let v1 = Cgroup::from_text(Layout::V1, HYBRID);
        let tcp = v1_only("memory", "memory.kmem.tcp.limit_in_bytes");
        assert_eq!(
            v1.path(tcp),
            Path::new("/sys/fs/cgroup/memory/b/c1/memory.kmem.tcp.limit_in_bytes")
        );
    }

    #[test]
    #[should_panic(expected = "has no file on cgroup V2")]
    fn a_v1_only_file_on_v2_is_a_test_bug() {
        let v2 = Cgroup::from_text(Layout::V2, UNIFIED);
        v2.path(v1_only("memory", "memory.kmem.tcp.limit_in_bytes"));
    }

    #[test]
    #[should_panic(expected = "no freezer line")]
    fn a_missing_v1_hierarchy_is_named() {
        Cgroup::from_text(Layout::V1, HYBRID).dir("freezer");
    }
}
