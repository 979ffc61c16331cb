//! cgroup v1: one directory per mounted hierarchy (hybrid hosts add the cgroup2
//! one, joined without resources), `linux.resources` written file by file in
//! runc's controller order: cpuset, devices, memory, cpu, pids, blkio, hugetlb,
//! net_cls, net_prio, rdma (blockIO in `blkio`, network and rdma in `misc`).
//! `unified` is an error on v1, as in runc.

use super::{apply_write, devices, join_below, make_dirs, missing_dirs, Dir, SysErr, Write};
use oci_spec::runtime::LinuxResources;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum V1Error {
    #[error("linux.cgroupsPath: mkdir {path}: {source}")]
    Mkdir { path: PathBuf, source: SysErr },
    #[error("{field}: writing {path}: {source}")]
    Write {
        field: String,
        path: PathBuf,
        source: SysErr,
    },
    #[error("{field}: no {controller} cgroup hierarchy is mounted on this host")]
    NoController {
        field: String,
        controller: &'static str,
    },
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("linux.resources.cpu: copying cpuset.cpus and cpuset.mems into {path}: {source}")]
    Cpuset { path: PathBuf, source: SysErr },
    #[error("cgroup: adding pid {pid}: writing {path}: {source}")]
    AddPid {
        pid: i32,
        path: PathBuf,
        source: SysErr,
    },
    #[error("cgroup: removing {path}: {source}")]
    Remove { path: PathBuf, source: SysErr },
}

/// The container's directory in every hierarchy of this process.
/// `inner` is the cleaned cgroupsPath: absolute (below each hierarchy's root) or
/// relative (below this process's own cgroup in that hierarchy).
pub fn resolve(mountinfo: &str, proc_cgroup: &str, inner: &Path) -> Vec<Dir> {
    let mounts = super::cgroup_mounts(mountinfo);
    let mut dirs = Vec::new();
    for (controllers, own) in super::own_cgroups(proc_cgroup) {
        let found = mounts
            .iter()
            .filter(|m| {
                if controllers.is_empty() {
                    m.fstype == "cgroup2"
                } else {
                    m.fstype == "cgroup" && controllers.iter().all(|c| m.super_opts.contains(c))
                }
            })
            .min_by_key(|m| !m.mountpoint.starts_with(super::CGROUP_ROOT));
        let Some(m) = found else { continue };
        let base = if inner.is_absolute() {
            m.mountpoint.clone()
        } else {
            join_below(&m.mountpoint, own.strip_prefix(&m.root).unwrap_or(&own))
        };
        dirs.push(Dir {
            controllers,
            root: m.mountpoint.clone(),
            path: join_below(&base, inner),
            created: Vec::new(),
        });
    }
    dirs
}

/// mkdir -p in every hierarchy; a new cpuset cgroup gets its parent's cpus and
/// mems (it starts empty, and a process cannot join an empty cpuset).
pub fn create(dirs: &mut [Dir]) -> Result<(), V1Error> {
    for i in 0..dirs.len() {
        let missing = missing_dirs(&dirs[i].root, &dirs[i].path);
        match make_dirs(&missing) {
            Ok(made) => dirs[i].created = made,
            Err((path, source)) => {
                remove_created(&dirs[..i]);
                return Err(V1Error::Mkdir { path, source });
            }
        }
        if dirs[i].has("cpuset") {
            if let Err(e) = inherit_cpuset(&dirs[i]) {
                remove_created(&dirs[..=i]);
                return Err(e);
            }
        }
    }
    Ok(())
}

fn remove_created(dirs: &[Dir]) {
    for d in dirs {
        for p in d.created.iter().rev() {
            let _ = std::fs::remove_dir(p);
        }
    }
}

/// Copy cpuset.cpus and cpuset.mems down from the hierarchy root into every empty
/// one on the way to the container's cgroup.
fn inherit_cpuset(d: &Dir) -> Result<(), V1Error> {
    let rel = d.path.strip_prefix(&d.root).unwrap_or(Path::new(""));
    let mut parent = d.root.clone();
    for c in rel.components() {
        let dir = parent.join(c);
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let cur = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
            if cur.trim().is_empty() {
                let err = |source| V1Error::Cpuset {
                    path: dir.clone(),
                    source,
                };
                let from = std::fs::read_to_string(parent.join(f)).map_err(|e| err(e.into()))?;
                super::write_file(&dir.join(f), from.trim()).map_err(err)?;
            }
        }
        parent = dir;
    }
    Ok(())
}

/// The order of writes that depend on each other's current values: the kernel
/// refuses a memory limit above memory+swap and a realtime runtime above the
/// period at every step, not only at the end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Order {
    /// memory.memsw.limit_in_bytes before memory.limit_in_bytes.
    pub swap_first: bool,
    /// cpu.rt_runtime_us before cpu.rt_period_us.
    pub rt_runtime_first: bool,
}

/// The writes for `r` (device rules included), in `order`.
pub fn writes(r: &LinuxResources, order: Order) -> Result<Vec<Write>, V1Error> {
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
    out.push(Write::new(
        "linux.resources.devices",
        "devices",
        "devices.deny",
        "a",
    ));
    for (field, rule) in devices::sourced_rules(r.devices().as_deref()) {
        let file = if rule.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        out.push(Write::new(field, "devices", file, rule.v1_line()));
    }
    if let Some(m) = r.memory() {
        memory(m, order.swap_first, &mut out)?;
    }
    if let Some(cpu) = r.cpu() {
        if let Some(s) = cpu.shares() {
            out.push(Write::new(
                "linux.resources.cpu.shares",
                "cpu",
                "cpu.shares",
                s,
            ));
        }
        if let Some(p) = cpu.period().filter(|p| *p != 0) {
            let mut w = Write::new("linux.resources.cpu.period", "cpu", "cpu.cfs_period_us", p);
            w.retry_later = cpu.quota().is_some_and(|q| q != 0);
            out.push(w);
        }
        if let Some(b) = cpu.burst() {
            // Before the quota (a lower quota may be refused above the old
            // burst); a burst above the old quota is refused (EINVAL) until the
            // new quota is in, so it is retried after it, as runc does.
            let mut w = Write::new("linux.resources.cpu.burst", "cpu", "cpu.cfs_burst_us", b);
            w.retry_later = cpu.quota().is_some_and(|q| q != 0);
            out.push(w);
        }
        if let Some(q) = cpu.quota().filter(|q| *q != 0) {
            out.push(Write::new(
                "linux.resources.cpu.quota",
                "cpu",
                "cpu.cfs_quota_us",
                q,
            ));
        }
        let period = cpu.realtime_period().filter(|p| *p != 0).map(|p| {
            Write::new(
                "linux.resources.cpu.realtimePeriod",
                "cpu",
                "cpu.rt_period_us",
                p,
            )
        });
        let runtime = cpu.realtime_runtime().filter(|r| *r != 0).map(|rt| {
            Write::new(
                "linux.resources.cpu.realtimeRuntime",
                "cpu",
                "cpu.rt_runtime_us",
                rt,
            )
        });
        if order.rt_runtime_first {
            out.extend(runtime);
            out.extend(period);
        } else {
            out.extend(period);
            out.extend(runtime);
        }
        if let Some(idle) = cpu.idle() {
            // cpu.idle is in the v1 cpu controller since Linux 5.15 (runc 1.1
            // does not write it on v1). Without the file, 0 (the default) is
            // nothing to do; 1 is an error naming the field.
            let mut w = Write::new("linux.resources.cpu.idle", "cpu", "cpu.idle", idle);
            w.optional = idle == 0;
            out.push(w);
        }
    }
    if let Some(p) = r.pids() {
        if p.limit() != 0 {
            let v = if p.limit() > 0 {
                p.limit().to_string()
            } else {
                "max".to_string()
            };
            out.push(Write::new(
                "linux.resources.pids.limit",
                "pids",
                "pids.max",
                v,
            ));
        }
    }
    if let Some(b) = r.block_io() {
        super::blkio::v1_writes(b, &mut out);
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
            format!("hugetlb.{}.limit_in_bytes", h.page_size()),
            h.limit(),
        ));
        // The reservation limit too where the kernel has it (5.7+), as runc 1.2.
        let mut rsvd = Write::new(
            format!("linux.resources.hugepageLimits[{i}]"),
            "hugetlb",
            format!("hugetlb.{}.rsvd.limit_in_bytes", h.page_size()),
            h.limit(),
        );
        rsvd.optional = true;
        out.push(rsvd);
    }
    if let Some(n) = r.network() {
        super::misc::network_v1(n, &mut out);
    }
    if let Some(rdma) = r.rdma() {
        super::misc::rdma(rdma, &mut out)
            .map_err(|(field, reason)| V1Error::Invalid { field, reason })?;
    }
    if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(V1Error::Invalid {
            field: "linux.resources.unified".into(),
            reason: "invalid configuration: cannot use unified (cgroup v2 files) on a cgroup \
                     v1 host"
                .into(),
        });
    }
    Ok(out)
}

fn memory(
    m: &oci_spec::runtime::LinuxMemory,
    swap_first: bool,
    out: &mut Vec<Write>,
) -> Result<(), V1Error> {
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    let mut swap_optional = false;
    if limit == -1 && swap == 0 {
        // Unlimited memory without a swap value: unlimited swap too (if accounted).
        swap = -1;
        swap_optional = true;
    }
    let mem_w = (limit != 0).then(|| {
        Write::new(
            "linux.resources.memory.limit",
            "memory",
            "memory.limit_in_bytes",
            limit,
        )
    });
    let swap_w = (swap != 0).then(|| {
        let mut w = Write::new(
            "linux.resources.memory.swap",
            "memory",
            "memory.memsw.limit_in_bytes",
            swap,
        );
        w.optional = swap_optional;
        w
    });
    if swap_first {
        out.extend(swap_w);
        out.extend(mem_w);
    } else {
        out.extend(mem_w);
        out.extend(swap_w);
    }
    #[allow(deprecated)]
    if let Some(k) = m.kernel() {
        // Linux 5.16+ ignores this limit and later kernels drop the file.
        let mut w = Write::new(
            "linux.resources.memory.kernel",
            "memory",
            "memory.kmem.limit_in_bytes",
            k,
        );
        w.warn_missing = Some(
            "linux.resources.memory.kernel: this kernel has no kernel memory limit (memory.kmem.limit_in_bytes); ignored"
                .into(),
        );
        out.push(w);
    }
    if let Some(k) = m.kernel_tcp() {
        out.push(Write::new(
            "linux.resources.memory.kernelTCP",
            "memory",
            "memory.kmem.tcp.limit_in_bytes",
            k,
        ));
    }
    if let Some(r) = m.reservation().filter(|r| *r != 0) {
        out.push(Write::new(
            "linux.resources.memory.reservation",
            "memory",
            "memory.soft_limit_in_bytes",
            r,
        ));
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(V1Error::Invalid {
                field: "linux.resources.memory.swappiness".into(),
                reason: format!("{s} is out of range 0-100"),
            });
        }
        out.push(Write::new(
            "linux.resources.memory.swappiness",
            "memory",
            "memory.swappiness",
            s,
        ));
    }
    if m.disable_oom_killer() == Some(true) {
        out.push(Write::new(
            "linux.resources.memory.disableOOMKiller",
            "memory",
            "memory.oom_control",
            1,
        ));
    }
    if let Some(h) = m.use_hierarchy() {
        // Linux 5.10+ is always hierarchical: 1 is accepted, 0 refused (EINVAL).
        out.push(Write::new(
            "linux.resources.memory.useHierarchy",
            "memory",
            "memory.use_hierarchy",
            u8::from(h),
        ));
    }
    Ok(())
}

/// The write order for `r` given the cgroup's current values; an error when no
/// order can work (a realtime period alone below the current runtime).
fn order(dirs: &[Dir], r: &LinuxResources) -> Result<Order, V1Error> {
    Ok(Order {
        swap_first: swap_first(dirs, r),
        rt_runtime_first: rt_runtime_first(dirs, r)?,
    })
}

/// A number from the file `name` of the `controller` hierarchy.
fn current(dirs: &[Dir], controller: &str, name: &str) -> Option<i64> {
    let d = dirs.iter().find(|d| d.has(controller))?;
    std::fs::read_to_string(d.path.join(name))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether the realtime runtime must go first: the new period is below the
/// current runtime (runtime may never exceed the period). With no new runtime
/// that cannot work: an error saying what to give.
fn rt_runtime_first(dirs: &[Dir], r: &LinuxResources) -> Result<bool, V1Error> {
    let Some(cpu) = r.cpu() else { return Ok(false) };
    let Some(period) = cpu.realtime_period().filter(|p| *p != 0) else {
        return Ok(false);
    };
    let Some(cur_runtime) = current(dirs, "cpu", "cpu.rt_runtime_us") else {
        return Ok(false);
    };
    if (period as i64) >= cur_runtime || cur_runtime < 0 {
        return Ok(false);
    }
    match cpu.realtime_runtime().filter(|r| *r != 0) {
        Some(rt) if rt <= period as i64 => Ok(true),
        Some(rt) => Err(V1Error::Invalid {
            field: "linux.resources.cpu.realtimeRuntime".into(),
            reason: format!("{rt} is above realtimePeriod {period}"),
        }),
        None => Err(V1Error::Invalid {
            field: "linux.resources.cpu.realtimePeriod".into(),
            reason: format!(
                "{period} is below the current realtime runtime {cur_runtime}: give a \
                 realtimeRuntime (--cpu-rt-runtime) no larger than the period too"
            ),
        }),
    }
}

/// Whether memory+swap must go first: it is raised, or becomes unlimited (also
/// when the memory limit becomes unlimited, which takes swap with it).
fn swap_first(dirs: &[Dir], r: &LinuxResources) -> bool {
    let Some(m) = r.memory() else { return false };
    let (limit, swap) = (m.limit().unwrap_or(0), m.swap().unwrap_or(0));
    if limit == -1 || swap == -1 {
        return limit != 0 || swap != 0;
    }
    if limit == 0 || swap == 0 {
        return false;
    }
    let cur = dirs
        .iter()
        .find(|d| d.has("memory"))
        .and_then(|d| std::fs::read_to_string(d.path.join("memory.limit_in_bytes")).ok())
        .and_then(|s| s.trim().parse::<u64>().ok());
    cur.is_some_and(|c| c < swap as u64)
}

/// Write `r` into the hierarchies. A value for a controller the host does not
/// mount is an error naming the field.
/// Device rules the controller would ignore in part are refused first
/// (`devices::settle`).
pub fn set(dirs: &[Dir], r: &LinuxResources) -> Result<(), V1Error> {
    devices::container_state(r.devices().as_deref())
        .map_err(|(field, reason)| V1Error::Invalid { field, reason })?;
    apply(dirs, r, writes(r, order(dirs, r)?)?)
}

/// Write changed resources into a live container's hierarchies (`update`): as
/// `set`, but the device rules are left as they are.
pub fn update(dirs: &[Dir], r: &LinuxResources) -> Result<(), V1Error> {
    let ws = writes(r, order(dirs, r)?)?
        .into_iter()
        .filter(|w| w.controller != "devices")
        .collect();
    apply(dirs, r, ws)
}

fn apply(dirs: &[Dir], r: &LinuxResources, writes: Vec<Write>) -> Result<(), V1Error> {
    if let (Some(m), Some(d)) = (r.memory(), dirs.iter().find(|d| d.has("memory"))) {
        super::check_before_update(
            m,
            &d.path,
            "memory.usage_in_bytes",
            "memory.memsw.usage_in_bytes",
        )
        .map_err(|(field, reason)| V1Error::Invalid { field, reason })?;
    }
    let mut later = Vec::new();
    for w in writes {
        let Some(d) = dirs.iter().find(|d| d.has(w.controller)) else {
            if w.controller == "devices" && r.devices().is_none() {
                // Only the defaults: nothing to restrict without a device hierarchy.
                continue;
            }
            return Err(V1Error::NoController {
                field: w.field,
                controller: w.controller,
            });
        };
        match apply_write(&d.path, &w) {
            Ok(()) => {}
            Err((_, e)) if w.retry_later && e.errno() == Some(libc::EINVAL) => later.push((d, w)),
            Err((path, source)) => {
                return Err(V1Error::Write {
                    field: w.field,
                    path,
                    source,
                })
            }
        }
    }
    for (d, w) in later {
        apply_write(&d.path, &w).map_err(|(path, source)| V1Error::Write {
            field: w.field,
            path,
            source,
        })?;
    }
    Ok(())
}
