//! cgroup v2 (unified): one directory; the controllers are enabled in every
//! ancestor's cgroup.subtree_control; `linux.resources` is converted to the v2
//! files as runc does (cpu.shares -> cpu.weight, quota/period -> cpu.max,
//! swap -> memory.swap.max = swap - limit, ...).
//!
//! Device rules become an eBPF device program attached to the cgroup (`ebpf`):
//! the state the v1 rules settle into (`devices::settle`), so both layouts grant
//! the same access.

use super::{apply_write, devices, ebpf, join_below, make_dirs, missing_dirs, Dir, SysErr, Write};
use oci_spec::runtime::LinuxResources;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum V2Error {
    #[error("linux.cgroupsPath: this process has no cgroup v2 entry in /proc/self/cgroup")]
    NoOwnCgroup,
    #[error("linux.cgroupsPath: mkdir {path}: {source}")]
    Mkdir { path: PathBuf, source: SysErr },
    #[error("{field}: writing {path}: {source}")]
    Write {
        field: String,
        path: PathBuf,
        source: SysErr,
    },
    #[error("{field}: the {controller} controller is not available in {path} (cgroup.controllers: {available:?})")]
    NoController {
        field: String,
        controller: &'static str,
        path: PathBuf,
        available: String,
    },
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("cgroup: adding pid {pid}: writing {path}: {source}")]
    AddPid {
        pid: i32,
        path: PathBuf,
        source: SysErr,
    },
    #[error("cgroup: removing {path}: {source}")]
    Remove { path: PathBuf, source: SysErr },
    #[error(transparent)]
    Devices(#[from] ebpf::EbpfError),
}

/// The container's cgroup below `root`: an absolute `inner` from the root; a
/// relative one from the parent of this process's cgroup (its own cgroup holds
/// processes, so controllers could not be enabled below it), as runc.
pub fn resolve(root: &Path, proc_cgroup: &str, inner: &Path) -> Result<Dir, V2Error> {
    let path = if inner.is_absolute() {
        join_below(root, inner)
    } else {
        let own = super::own_cgroups(proc_cgroup)
            .into_iter()
            .find(|(c, _)| c.is_empty())
            .map(|(_, p)| p)
            .ok_or(V2Error::NoOwnCgroup)?;
        let parent = own.parent().unwrap_or(Path::new("/"));
        join_below(&join_below(root, parent), inner)
    };
    Ok(Dir {
        controllers: Vec::new(),
        root: root.to_path_buf(),
        path,
        created: Vec::new(),
    })
}

/// mkdir -p, then enable every available controller in each ancestor's
/// cgroup.subtree_control (all at once, else one by one ignoring failures: an
/// ancestor with processes of its own cannot delegate domain controllers).
pub fn create(d: &mut Dir) -> Result<(), V2Error> {
    let missing = missing_dirs(&d.root, &d.path);
    d.created = make_dirs(&missing).map_err(|(path, source)| V2Error::Mkdir { path, source })?;
    let rel = d.path.strip_prefix(&d.root).unwrap_or(Path::new(""));
    let mut cur = d.root.clone();
    for c in rel.components() {
        enable_controllers(&cur);
        cur.push(c);
    }
    Ok(())
}

fn enable_controllers(dir: &Path) {
    let Ok(avail) = std::fs::read_to_string(dir.join("cgroup.controllers")) else {
        return;
    };
    let all: Vec<String> = avail.split_whitespace().map(|c| format!("+{c}")).collect();
    if all.is_empty() {
        return;
    }
    let file = dir.join("cgroup.subtree_control");
    if super::write_file(&file, &all.join(" ")).is_err() {
        for c in &all {
            let _ = super::write_file(&file, c);
        }
    }
}

/// runc's cpu.shares -> cpu.weight: [2, 262144] onto [1, 10000]; 0 is unset.
pub fn cpu_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares.max(2) - 2) * 9999) / 262142
}

pub use super::blkio::io_weight;

/// cpu.max from quota and period: "max" without a positive quota.
pub fn cpu_max(quota: i64, period: u64) -> String {
    let mut s = if quota > 0 {
        quota.to_string()
    } else {
        "max".to_string()
    };
    if period != 0 {
        s.push_str(&format!(" {period}"));
    }
    s
}

/// memory.swap.max from the v1-style memory+swap value: `swap - limit`; -1 is
/// "max", 0 is unset (None); unlimited memory with unset swap means unlimited swap.
pub fn swap_max(limit: i64, swap: i64) -> Result<Option<String>, String> {
    if limit == -1 && swap == 0 {
        return Ok(Some("max".into()));
    }
    match swap {
        0 => return Ok(None),
        -1 => return Ok(Some("max".into())),
        _ => {}
    }
    if limit == 0 || limit == -1 {
        return Err("a swap limit needs a memory limit".into());
    }
    if limit < 0 || swap < 0 {
        return Err(format!("invalid memory/swap values {limit}/{swap}"));
    }
    if swap < limit {
        return Err(format!(
            "memory+swap limit {swap} should be >= the memory limit {limit}"
        ));
    }
    Ok(Some((swap - limit).to_string()))
}

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

/// The v2 writes for `r`, in order.
pub fn writes(r: &LinuxResources) -> Result<Vec<Write>, V2Error> {
    let mut out = Vec::new();
    if let Some(cpu) = r.cpu() {
        if let Some(cpus) = cpu.cpus() {
            out.push(Write::new(
                "linux.resources.cpu.cpus",
                "cpuset",
                "cpuset.cpus",
                cpus,
            ));
        }
        if let Some(mems) = cpu.mems() {
            out.push(Write::new(
                "linux.resources.cpu.mems",
                "cpuset",
                "cpuset.mems",
                mems,
            ));
        }
    }
    if let Some(m) = r.memory() {
        let limit = m.limit().unwrap_or(0);
        let swap = swap_max(limit, m.swap().unwrap_or(0)).map_err(|reason| V2Error::Invalid {
            field: "linux.resources.memory.swap".into(),
            reason,
        })?;
        if let Some(s) = swap {
            let mut w = Write::new(
                "linux.resources.memory.swap",
                "memory",
                "memory.swap.max",
                s,
            );
            // Without swap accounting the file is absent; runc skips "max" then.
            w.optional = m.swap().unwrap_or(0) <= 0;
            out.push(w);
        }
        if limit != 0 {
            out.push(Write::new(
                "linux.resources.memory.limit",
                "memory",
                "memory.max",
                max_or(limit),
            ));
        }
        if let Some(res) = m.reservation().filter(|r| *r != 0) {
            out.push(Write::new(
                "linux.resources.memory.reservation",
                "memory",
                "memory.low",
                max_or(res),
            ));
        }
        if m.swappiness().is_some() {
            crate::logging::warn(
                "linux.resources.memory.swappiness: no cgroup v2 equivalent; ignored",
            );
        }
        if m.disable_oom_killer() == Some(true) {
            crate::logging::warn(
                "linux.resources.memory.disableOOMKiller: no cgroup v2 equivalent; ignored",
            );
        }
        if m.use_hierarchy() == Some(false) {
            crate::logging::warn(
                "linux.resources.memory.useHierarchy: cgroup v2 is always hierarchical; ignored",
            );
        }
        super::warn_ignored_kernel_memory_v2(m);
    }
    if let Some(cpu) = r.cpu() {
        let weight = cpu_weight(cpu.shares().unwrap_or(0));
        if weight != 0 {
            out.push(Write::new(
                "linux.resources.cpu.shares",
                "cpu",
                "cpu.weight",
                weight,
            ));
        }
        let (quota, period) = (cpu.quota().unwrap_or(0), cpu.period().unwrap_or(0));
        if let Some(b) = cpu.burst() {
            // burst (µs, as is) goes before cpu.max and is retried after it when
            // the kernel refuses it above the old quota (EINVAL), as runc does.
            let mut w = Write::new("linux.resources.cpu.burst", "cpu", "cpu.max.burst", b);
            w.retry_later = quota != 0;
            out.push(w);
        }
        if quota != 0 || period != 0 {
            out.push(Write::new(
                "linux.resources.cpu.quota",
                "cpu",
                "cpu.max",
                cpu_max(quota, period),
            ));
        }
        if let Some(idle) = cpu.idle() {
            out.push(Write::new(
                "linux.resources.cpu.idle",
                "cpu",
                "cpu.idle",
                idle,
            ));
        }
        for (field, set) in [
            (
                "linux.resources.cpu.realtimeRuntime",
                cpu.realtime_runtime().unwrap_or(0) != 0,
            ),
            (
                "linux.resources.cpu.realtimePeriod",
                cpu.realtime_period().unwrap_or(0) != 0,
            ),
        ] {
            if set {
                return Err(V2Error::Invalid {
                    field: field.into(),
                    reason: "realtime cpu limits are not supported on cgroup v2".into(),
                });
            }
        }
    }
    if let Some(p) = r.pids() {
        if p.limit() != 0 {
            out.push(Write::new(
                "linux.resources.pids.limit",
                "pids",
                "pids.max",
                max_or(p.limit()),
            ));
        }
    }
    if let Some(b) = r.block_io() {
        super::blkio::v2_writes(b, &mut out);
    }
    for (i, h) in r
        .hugepage_limits()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        out.push(Write::new(
            format!("linux.resources.hugepageLimits[{i}]"),
            "hugetlb",
            format!("hugetlb.{}.max", h.page_size()),
            max_or(h.limit()),
        ));
        // The reservation limit too where the kernel has it (5.7+), as runc 1.2.
        let mut rsvd = Write::new(
            format!("linux.resources.hugepageLimits[{i}]"),
            "hugetlb",
            format!("hugetlb.{}.rsvd.max", h.page_size()),
            max_or(h.limit()),
        );
        rsvd.optional = true;
        out.push(rsvd);
    }
    if let Some(field) = r
        .network()
        .as_ref()
        .and_then(super::misc::network_v2_set_field)
    {
        return Err(V2Error::Invalid {
            field: field.into(),
            reason: "net_cls and net_prio do not exist on cgroup v2".into(),
        });
    }
    if let Some(rdma) = r.rdma() {
        super::misc::rdma(rdma, &mut out)
            .map_err(|(field, reason)| V2Error::Invalid { field, reason })?;
    }
    Ok(out)
}

/// The device program for `linux.resources.devices`: the state the v1 rules
/// (deny all, then the rules in order, then the defaults) settle into, so the
/// program grants what a v1 device cgroup would.
pub fn device_program(r: &LinuxResources) -> Result<Vec<ebpf::Insn>, V2Error> {
    let state = devices::container_state(r.devices().as_deref())
        .map_err(|(field, reason)| V2Error::Invalid { field, reason })?;
    Ok(ebpf::program(&state.rules())?)
}

/// Write `r` into the cgroup; a value for a controller the cgroup does not have is
/// an error naming the field. With `with_devices`, the device program is
/// (re)attached too; without, the one attached stays (`update`). `unified` goes
/// last, as in runc.
pub fn set(d: &Dir, r: &LinuxResources, with_devices: bool) -> Result<(), V2Error> {
    let writes = writes(r)?;
    let program = with_devices.then(|| device_program(r)).transpose()?;
    let unified = r.unified().as_ref().filter(|u| !u.is_empty());
    if writes.is_empty() && unified.is_none() && program.is_none() {
        return Ok(());
    }
    if let Some(m) = r.memory() {
        super::check_before_update(m, &d.path, "memory.current", "memory.current")
            .map_err(|(field, reason)| V2Error::Invalid { field, reason })?;
    }
    let available = std::fs::read_to_string(d.path.join("cgroup.controllers")).unwrap_or_default();
    let mut later = Vec::new();
    for w in writes {
        if !available.split_whitespace().any(|c| c == w.controller) {
            return Err(V2Error::NoController {
                field: w.field,
                controller: w.controller,
                path: d.path.clone(),
                available: available.trim().to_string(),
            });
        }
        match apply_write(&d.path, &w) {
            Ok(()) => {}
            Err((_, e)) if w.retry_later && e.errno() == Some(libc::EINVAL) => later.push(w),
            Err((path, source)) => {
                return Err(V2Error::Write {
                    field: w.field,
                    path,
                    source,
                })
            }
        }
    }
    for w in later {
        apply_write(&d.path, &w).map_err(|(path, source)| V2Error::Write {
            field: w.field.clone(),
            path,
            source,
        })?;
    }
    if let Some(p) = program {
        ebpf::apply(&d.path, &p)?;
    }
    if let Some(u) = unified {
        set_unified(d, u, &available)?;
    }
    Ok(())
}

/// `unified`: each key a file of the cgroup (checked by `misc::check_unified_key`),
/// written in key order with the value as is.
fn set_unified(
    d: &Dir,
    u: &std::collections::HashMap<String, String>,
    available: &str,
) -> Result<(), V2Error> {
    let mut keys: Vec<_> = u.keys().collect();
    keys.sort();
    for k in keys {
        let path = super::misc::check_unified_key(&d.path, k, available)
            .map_err(|(field, reason)| V2Error::Invalid { field, reason })?;
        super::write_file(&path, &u[k]).map_err(|source| V2Error::Write {
            field: format!("linux.resources.unified[{k:?}]"),
            path,
            source,
        })?;
    }
    Ok(())
}
