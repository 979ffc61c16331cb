//! Namespaces: new ones differ from the runtime's, joined ones equal the path's,
//! unlisted ones are inherited; user namespace id maps match the config.

use crate::hostinfo::HostInfo;
use crate::procfs::{ns_inode, NAMESPACES};
use crate::tap::Tap;
use serde_json::Value;

/// Checks `linux.namespaces`, `linux.uidMappings` and `linux.gidMappings`.
pub fn check(cfg: &Value, host: &HostInfo, tap: &mut Tap) {
    let listed = cfg["linux"]["namespaces"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (ctype, file) in NAMESPACES {
        let name = format!("namespace {ctype}");
        let own = match ns_inode(format!("/proc/self/ns/{file}")) {
            Ok(i) => i,
            Err(e) => {
                tap.skip(&name, format_args!("/proc/self/ns/{file}: {e}"));
                continue;
            }
        };
        let entry = listed.iter().find(|n| n["type"] == ctype);
        let path = entry
            .and_then(|e| e["path"].as_str())
            .filter(|p| !p.is_empty());
        match (entry, path) {
            (Some(_), Some(p)) => match host.joined_ns.get(ctype) {
                Some(want) => tap.check(
                    own == *want,
                    format!("{name} joined from {p}"),
                    format_args!("inode {own}, path's namespace is {want}"),
                ),
                None => tap.skip(&name, "runner did not record the joined inode"),
            },
            (Some(_), None) => match host.host_ns.get(file) {
                Some(h) => tap.check(
                    own != *h,
                    format!("{name} is new"),
                    format_args!("inode {own} is the runtime's"),
                ),
                None => tap.skip(&name, "runtime's inode unknown"),
            },
            (None, _) => match host.host_ns.get(file) {
                Some(h) => tap.check(
                    own == *h,
                    format!("{name} is inherited"),
                    format_args!("inode {own}, runtime's {h}"),
                ),
                None => tap.skip(&name, "runtime's inode unknown"),
            },
        }
        if ctype == "pid" && entry.is_some() && path.is_none() {
            tap.eq("pid namespace: process is pid 1", std::process::id(), 1);
        }
    }
    let user_new = listed
        .iter()
        .any(|n| n["type"] == "user" && n["path"].as_str().unwrap_or("").is_empty());
    if user_new {
        for (key, file) in [("uidMappings", "uid_map"), ("gidMappings", "gid_map")] {
            check_map(&cfg["linux"][key], file, tap);
        }
    }
}

fn check_map(want: &Value, file: &str, tap: &mut Tap) {
    let name = format!("user namespace {file}");
    let Some(want) = want.as_array() else {
        return;
    };
    let mut want: Vec<[u64; 3]> = want
        .iter()
        .map(|m| {
            [
                m["containerID"].as_u64().unwrap_or(0),
                m["hostID"].as_u64().unwrap_or(0),
                m["size"].as_u64().unwrap_or(0),
            ]
        })
        .collect();
    let text = match std::fs::read_to_string(format!("/proc/self/{file}")) {
        Ok(t) => t,
        Err(e) => return tap.fail(name, e),
    };
    let mut got: Vec<[u64; 3]> = text
        .lines()
        .filter_map(|l| {
            let v: Vec<u64> = l
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            (v.len() == 3).then(|| [v[0], v[1], v[2]])
        })
        .collect();
    want.sort();
    got.sort();
    tap.eq(name, got, want);
}
