//! Resource usage of a container, as `events` prints it: the JSON shape and field
//! names of runc's `types.Stats` (what containerd's go-runc parses), read from the
//! v1 controller files or their v2 equivalents. Go's `omitempty` is mirrored with
//! `skip_serializing_if` so the output has the same keys as runc's.
//!
//! v1: cpuacct.usage / usage_percpu / usage_all / stat, cpu.stat, cpuset.*,
//! memory.{usage_in_bytes,limit_in_bytes,max_usage_in_bytes,failcnt} and the
//! memsw / kmem / kmem.tcp variants, memory.stat, pids.current / pids.max,
//! blkio.*_recursive, hugetlb.<size>.*.
//! v2: cpu.stat, memory.current / max / peak / events / stat, memory.swap.*,
//! pids.*, io.stat, hugetlb.<size>.{current,max,events}. As runc, v2's swap entry
//! is reported as memory+swap, like v1's memsw.
//!
//! Files that do not exist are left out (zero); files that exist but cannot be
//! read or parsed are errors naming the file.

use super::{Dir, Version};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("stats: reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: super::SysErr,
    },
    #[error("stats: {path}: cannot parse {text:?}")]
    Parse { path: PathBuf, text: String },
}

fn zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub cpu: Cpu,
    pub cpuset: CpuSet,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: BTreeMap<String, Hugetlb>,
    /// Intel RDT is not supported; present (empty) as in runc's output.
    pub intel_rdt: BTreeMap<String, u64>,
    pub network_interfaces: Option<Vec<String>>,
}

#[derive(Debug, Default, Serialize)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

/// Nanoseconds.
#[derive(Debug, Default, Serialize)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    #[serde(skip_serializing_if = "zero")]
    pub periods: u64,
    #[serde(skip_serializing_if = "zero")]
    pub throttled_periods: u64,
    /// Nanoseconds.
    #[serde(skip_serializing_if = "zero")]
    pub throttled_time: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct CpuSet {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    pub cpu_exclusive: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    pub mem_hardwall: u64,
    pub mem_exclusive: u64,
    pub memory_migrate: u64,
    pub memory_spread_page: u64,
    pub memory_spread_slab: u64,
    pub memory_pressure: u64,
    pub sched_load_balance: u64,
    pub sched_relax_domain_level: i64,
}

#[derive(Debug, Default, Serialize)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Memory {
    #[serde(skip_serializing_if = "zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Serialize)]
pub struct Pids {
    #[serde(skip_serializing_if = "zero")]
    pub current: u64,
    /// 0 when unlimited.
    #[serde(skip_serializing_if = "zero")]
    pub limit: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "zero")]
    pub major: u64,
    #[serde(skip_serializing_if = "zero")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "zero")]
    pub value: u64,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Blkio {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioQueueRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_queued_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_merged_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sectors_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Default, Serialize)]
pub struct Hugetlb {
    #[serde(skip_serializing_if = "zero")]
    pub usage: u64,
    pub max: u64,
    pub failcnt: u64,
}

/// A file's text; `None` if it does not exist.
fn read_opt(path: &Path) -> Result<Option<String>, StatsError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StatsError::Read {
            path: path.to_path_buf(),
            source: e.into(),
        }),
    }
}

fn parse_err(path: &Path, text: &str) -> StatsError {
    StatsError::Parse {
        path: path.to_path_buf(),
        text: text.trim().chars().take(80).collect(),
    }
}

/// A file holding one number; "max" is u64::MAX; missing is 0.
fn read_u64(dir: &Path, file: &str) -> Result<u64, StatsError> {
    let path = dir.join(file);
    let Some(text) = read_opt(&path)? else {
        return Ok(0);
    };
    parse_u64(text.trim()).ok_or_else(|| parse_err(&path, &text))
}

fn parse_u64(s: &str) -> Option<u64> {
    if s == "max" {
        return Some(u64::MAX);
    }
    // Some kernels print -1 for "no value" in otherwise unsigned files.
    s.parse::<u64>()
        .ok()
        .or_else(|| s.parse::<i64>().ok().map(|v| v.max(0) as u64))
}

/// `key value` lines (memory.stat, cpu.stat, memory.events, cpuacct.stat).
pub fn parse_flat_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), parse_u64(v.trim())?))
        })
        .collect()
}

fn read_keyed(dir: &Path, file: &str) -> Result<BTreeMap<String, u64>, StatsError> {
    Ok(read_opt(&dir.join(file))?
        .map(|t| parse_flat_keyed(&t))
        .unwrap_or_default())
}

/// A cpu or node list ("0-3,5") as numbers.
pub fn parse_list(s: &str) -> Option<Vec<u16>> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// v1 blkio `*_recursive` lines: `MAJ:MIN Op value` (the `Total` line is left out).
pub fn parse_blkio_v1(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (dev, op, value) = match f.as_slice() {
                [dev, op, value] => (*dev, op.to_string(), *value),
                // blkio.sectors_recursive and the time files have no op.
                [dev, value] if dev.contains(':') => (*dev, String::new(), *value),
                _ => return None,
            };
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op,
                value: value.parse().ok()?,
            })
        })
        .collect()
}

/// v2 io.stat (`MAJ:MIN rbytes=1 wbytes=2 rios=3 wios=4 ...`) as runc reports it:
/// bytes and ios per device with ops Read and Write.
pub fn parse_io_stat(text: &str) -> (Vec<BlkioEntry>, Vec<BlkioEntry>) {
    let (mut bytes, mut ios) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some((major, minor)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "Read"),
                "wbytes" => (&mut bytes, "Write"),
                "rios" => (&mut ios, "Read"),
                "wios" => (&mut ios, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    (bytes, ios)
}

/// Huge page sizes of the host as the cgroup files name them (`2MB`, `1GB`).
fn hugepage_sizes() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let kb: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some(hugepage_name(kb))
        })
        .collect();
    out.sort();
    out
}

/// 2048 kB -> "2MB", 1048576 kB -> "1GB", 64 -> "64KB".
pub fn hugepage_name(kb: u64) -> String {
    if kb >= 1 << 20 && kb.is_multiple_of(1 << 20) {
        format!("{}GB", kb >> 20)
    } else if kb >= 1 << 10 && kb.is_multiple_of(1 << 10) {
        format!("{}MB", kb >> 10)
    } else {
        format!("{kb}KB")
    }
}

/// The resource usage of the cgroup.
pub fn read(version: Version, dirs: &[Dir]) -> Result<Stats, StatsError> {
    match version {
        Version::V1 => read_v1(dirs),
        Version::V2 => read_v2(&dirs[0].path),
    }
}

fn read_v1(dirs: &[Dir]) -> Result<Stats, StatsError> {
    let mut s = Stats::default();
    let dir = |c: &str| dirs.iter().find(|d| d.has(c)).map(|d| d.path.as_path());
    if let Some(d) = dir("cpuacct") {
        let u = &mut s.cpu.usage;
        u.total = read_u64(d, "cpuacct.usage")?;
        if let Some(t) = read_opt(&d.join("cpuacct.usage_percpu"))? {
            u.percpu = t.split_whitespace().filter_map(parse_u64).collect();
        }
        if let Some(t) = read_opt(&d.join("cpuacct.usage_all"))? {
            for line in t.lines().skip(1) {
                let f: Vec<u64> = line.split_whitespace().filter_map(parse_u64).collect();
                if let [_, user, system] = f.as_slice() {
                    u.percpu_user.push(*user);
                    u.percpu_kernel.push(*system);
                }
            }
        }
        // cpuacct.stat counts clock ticks.
        let stat = read_keyed(d, "cpuacct.stat")?;
        // SAFETY: sysconf with a valid name has no side effects.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        u.user = stat.get("user").copied().unwrap_or(0) * (1_000_000_000 / hz);
        u.kernel = stat.get("system").copied().unwrap_or(0) * (1_000_000_000 / hz);
    }
    if let Some(d) = dir("cpu") {
        let stat = read_keyed(d, "cpu.stat")?;
        let t = &mut s.cpu.throttling;
        t.periods = stat.get("nr_periods").copied().unwrap_or(0);
        t.throttled_periods = stat.get("nr_throttled").copied().unwrap_or(0);
        t.throttled_time = stat.get("throttled_time").copied().unwrap_or(0);
    }
    if let Some(d) = dir("cpuset") {
        let c = &mut s.cpuset;
        for (file, list) in [("cpuset.cpus", &mut c.cpus), ("cpuset.mems", &mut c.mems)] {
            let path = d.join(file);
            if let Some(t) = read_opt(&path)? {
                *list = parse_list(&t).ok_or_else(|| parse_err(&path, &t))?;
            }
        }
        c.cpu_exclusive = read_u64(d, "cpuset.cpu_exclusive")?;
        c.mem_hardwall = read_u64(d, "cpuset.mem_hardwall")?;
        c.mem_exclusive = read_u64(d, "cpuset.mem_exclusive")?;
        c.memory_migrate = read_u64(d, "cpuset.memory_migrate")?;
        c.memory_spread_page = read_u64(d, "cpuset.memory_spread_page")?;
        c.memory_spread_slab = read_u64(d, "cpuset.memory_spread_slab")?;
        c.memory_pressure = read_u64(d, "cpuset.memory_pressure")?;
        c.sched_load_balance = read_u64(d, "cpuset.sched_load_balance")?;
        let path = d.join("cpuset.sched_relax_domain_level");
        if let Some(t) = read_opt(&path)? {
            c.sched_relax_domain_level = t.trim().parse().map_err(|_| parse_err(&path, &t))?;
        }
    }
    if let Some(d) = dir("memory") {
        let m = &mut s.memory;
        let entry = |prefix: &str| -> Result<MemoryEntry, StatsError> {
            Ok(MemoryEntry {
                limit: read_u64(d, &format!("{prefix}limit_in_bytes"))?,
                usage: read_u64(d, &format!("{prefix}usage_in_bytes"))?,
                max: read_u64(d, &format!("{prefix}max_usage_in_bytes"))?,
                failcnt: read_u64(d, &format!("{prefix}failcnt"))?,
            })
        };
        m.usage = entry("memory.")?;
        m.swap = entry("memory.memsw.")?;
        m.kernel = entry("memory.kmem.")?;
        m.kernel_tcp = entry("memory.kmem.tcp.")?;
        m.raw = read_keyed(d, "memory.stat")?;
        m.cache = m.raw.get("cache").copied().unwrap_or(0);
    }
    if let Some(d) = dir("pids") {
        s.pids = read_pids(d)?;
    }
    if let Some(d) = dir("blkio") {
        read_blkio_v1(d, &mut s.blkio)?;
    }
    if let Some(d) = dir("hugetlb") {
        for size in hugepage_sizes() {
            let f = |what: &str| format!("hugetlb.{size}.{what}");
            let h = Hugetlb {
                usage: read_u64(d, &f("usage_in_bytes"))?,
                max: read_u64(d, &f("max_usage_in_bytes"))?,
                failcnt: read_u64(d, &f("failcnt"))?,
            };
            s.hugetlb.insert(size, h);
        }
    }
    Ok(s)
}

fn read_pids(d: &Path) -> Result<Pids, StatsError> {
    let limit = read_u64(d, "pids.max")?;
    Ok(Pids {
        current: read_u64(d, "pids.current")?,
        limit: if limit == u64::MAX { 0 } else { limit },
    })
}

/// The CFQ files where they exist, else BFQ's, else the throttle policy's.
fn read_blkio_v1(d: &Path, b: &mut Blkio) -> Result<(), StatsError> {
    let file = |name: &str| -> Result<Vec<BlkioEntry>, StatsError> {
        Ok(read_opt(&d.join(name))?
            .map(|t| parse_blkio_v1(&t))
            .unwrap_or_default())
    };
    if d.join("blkio.io_service_bytes_recursive").exists() {
        b.io_service_bytes_recursive = file("blkio.io_service_bytes_recursive")?;
        b.io_serviced_recursive = file("blkio.io_serviced_recursive")?;
        b.io_queued_recursive = file("blkio.io_queued_recursive")?;
        b.io_service_time_recursive = file("blkio.io_service_time_recursive")?;
        b.io_wait_time_recursive = file("blkio.io_wait_time_recursive")?;
        b.io_merged_recursive = file("blkio.io_merged_recursive")?;
        b.io_time_recursive = file("blkio.time_recursive")?;
        b.sectors_recursive = file("blkio.sectors_recursive")?;
    } else if d.join("blkio.bfq.io_service_bytes_recursive").exists() {
        b.io_service_bytes_recursive = file("blkio.bfq.io_service_bytes_recursive")?;
        b.io_serviced_recursive = file("blkio.bfq.io_serviced_recursive")?;
    } else {
        b.io_service_bytes_recursive = file("blkio.throttle.io_service_bytes_recursive")?;
        b.io_serviced_recursive = file("blkio.throttle.io_serviced_recursive")?;
    }
    Ok(())
}

fn read_v2(d: &Path) -> Result<Stats, StatsError> {
    let mut s = Stats::default();
    let cpu = read_keyed(d, "cpu.stat")?;
    let get = |m: &BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    s.cpu.usage.total = get(&cpu, "usage_usec") * 1000;
    s.cpu.usage.user = get(&cpu, "user_usec") * 1000;
    s.cpu.usage.kernel = get(&cpu, "system_usec") * 1000;
    s.cpu.throttling.periods = get(&cpu, "nr_periods");
    s.cpu.throttling.throttled_periods = get(&cpu, "nr_throttled");
    s.cpu.throttling.throttled_time = get(&cpu, "throttled_usec") * 1000;

    let path = d.join("cpuset.cpus.effective");
    if let Some(t) = read_opt(&path)? {
        s.cpuset.cpus = parse_list(&t).ok_or_else(|| parse_err(&path, &t))?;
    }
    let path = d.join("cpuset.mems.effective");
    if let Some(t) = read_opt(&path)? {
        s.cpuset.mems = parse_list(&t).ok_or_else(|| parse_err(&path, &t))?;
    }

    let m = &mut s.memory;
    m.raw = read_keyed(d, "memory.stat")?;
    m.cache = get(&m.raw, "file");
    let events = read_keyed(d, "memory.events")?;
    m.usage = MemoryEntry {
        limit: read_u64(d, "memory.max")?,
        usage: read_u64(d, "memory.current")?,
        max: read_u64(d, "memory.peak")?,
        failcnt: get(&events, "max"),
    };
    let swap_events = read_keyed(d, "memory.swap.events")?;
    let mut swap = MemoryEntry {
        limit: read_u64(d, "memory.swap.max")?,
        usage: read_u64(d, "memory.swap.current")?,
        max: read_u64(d, "memory.swap.peak")?,
        failcnt: get(&swap_events, "max"),
    };
    // Reported as memory+swap, the v1 meaning.
    swap.usage = swap.usage.saturating_add(m.usage.usage);
    if swap.limit != u64::MAX {
        swap.limit = swap.limit.saturating_add(m.usage.limit);
    }
    m.swap = swap;

    s.pids = read_pids(d)?;
    if let Some(t) = read_opt(&d.join("io.stat"))? {
        let (bytes, ios) = parse_io_stat(&t);
        s.blkio.io_service_bytes_recursive = bytes;
        s.blkio.io_serviced_recursive = ios;
    }
    for size in hugepage_sizes() {
        let f = |what: &str| format!("hugetlb.{size}.{what}");
        if !d.join(f("current")).exists() {
            continue;
        }
        let ev = read_keyed(d, &f("events"))?;
        let h = Hugetlb {
            usage: read_u64(d, &f("current"))?,
            max: read_u64(d, &f("max"))?,
            failcnt: get(&ev, "max"),
        };
        s.hugetlb.insert(size, h);
    }
    Ok(s)
}

/// How many processes the OOM killer has killed in the cgroup: v1
/// memory.oom_control `oom_kill`, v2 memory.events `oom_kill`. None without a
/// memory controller (or on kernels without the counter).
pub fn oom_kills(version: Version, dirs: &[Dir]) -> Option<u64> {
    let (dir, file) = match version {
        Version::V1 => (dirs.iter().find(|d| d.has("memory"))?, "memory.oom_control"),
        Version::V2 => (dirs.first()?, "memory.events"),
    };
    let text = std::fs::read_to_string(dir.path.join(file)).ok()?;
    parse_flat_keyed(&text).get("oom_kill").copied()
}

#[cfg(test)]
#[path = "stats_tests.rs"]
mod tests;
