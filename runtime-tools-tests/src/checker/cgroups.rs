//! Cgroup limits of `linux.resources` as seen through the cgroup filesystem mounted in
//! the container (v1 per-controller mounts or a v2 mount). Skipped when the config sets
//! no limit or no cgroup filesystem is mounted inside.

use crate::mountinfo;
use crate::tap::Tap;
use serde_json::Value;

/// A limit to read: v1 controller and file, v2 file, expected values (v1, v2).
struct Limit {
    what: String,
    v1: (&'static str, &'static str),
    v2: &'static str,
    want_v1: String,
    want_v2: String,
}

fn limits(r: &Value) -> Vec<Limit> {
    let mut out = Vec::new();
    if let Some(l) = r["memory"]["limit"].as_i64() {
        let v = if l < 0 {
            "max".to_string()
        } else {
            l.to_string()
        };
        out.push(Limit {
            what: format!("memory.limit {l}"),
            v1: ("memory", "memory.limit_in_bytes"),
            v2: "memory.max",
            want_v1: if l < 0 {
                "9223372036854771712".into()
            } else {
                l.to_string()
            },
            want_v2: v,
        });
    }
    if let Some(l) = r["pids"]["limit"].as_i64() {
        let v = if l <= 0 {
            "max".to_string()
        } else {
            l.to_string()
        };
        out.push(Limit {
            what: format!("pids.limit {l}"),
            v1: ("pids", "pids.max"),
            v2: "pids.max",
            want_v1: v.clone(),
            want_v2: v,
        });
    }
    if let Some(s) = r["cpu"]["shares"].as_u64() {
        let weight = if s == 0 {
            0
        } else {
            1 + ((s.max(2) - 2) * 9999) / 262142
        };
        out.push(Limit {
            what: format!("cpu.shares {s}"),
            v1: ("cpu", "cpu.shares"),
            v2: "cpu.weight",
            want_v1: s.to_string(),
            want_v2: weight.to_string(),
        });
    }
    if let (Some(q), Some(p)) = (r["cpu"]["quota"].as_i64(), r["cpu"]["period"].as_u64()) {
        out.push(Limit {
            what: format!("cpu.quota {q}"),
            v1: ("cpu", "cpu.cfs_quota_us"),
            v2: "cpu.max",
            want_v1: q.to_string(),
            want_v2: format!(
                "{} {p}",
                if q < 0 {
                    "max".to_string()
                } else {
                    q.to_string()
                }
            ),
        });
        out.push(Limit {
            what: format!("cpu.period {p}"),
            v1: ("cpu", "cpu.cfs_period_us"),
            v2: "cpu.max",
            want_v1: p.to_string(),
            want_v2: format!(
                "{} {p}",
                if q < 0 {
                    "max".to_string()
                } else {
                    q.to_string()
                }
            ),
        });
    }
    out
}

/// Checks memory, pids and cpu limits of `linux.resources`.
pub fn check(cfg: &Value, tap: &mut Tap) {
    let wanted = limits(&cfg["linux"]["resources"]);
    if wanted.is_empty() {
        return;
    }
    let table = mountinfo::read_self().unwrap_or_default();
    for l in wanted {
        let name = format!("cgroup {}", l.what);
        let v1 = table
            .iter()
            .rev()
            .find(|m| m.fstype == "cgroup" && m.super_opts.iter().any(|o| o == l.v1.0));
        let v2 = table.iter().rev().find(|m| m.fstype == "cgroup2");
        let (path, want) = match (v1, v2) {
            (Some(m), _) => (format!("{}/{}", m.mount_point, l.v1.1), l.want_v1),
            (None, Some(m)) => (format!("{}/{}", m.mount_point, l.v2), l.want_v2),
            (None, None) => {
                tap.skip(name, "no cgroup filesystem mounted in the container");
                continue;
            }
        };
        match std::fs::read_to_string(&path) {
            Ok(got) => tap.check(
                got.trim() == want,
                name,
                format_args!("{path}: {} (want {want})", got.trim()),
            ),
            // A configured limit must be visible: a missing file means the
            // container is not in its own cgroup (or sees the wrong one).
            Err(e) => tap.check(false, name, format_args!("{path}: {e} (want {want})")),
        }
    }
}
