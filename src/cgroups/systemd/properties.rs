//! `linux.resources` as systemd unit properties, as runc maps them (the values
//! are written to the cgroup files too, so a limit systemd has no property for
//! still applies), and `org.systemd.property.NAME` annotations.
//!
//! | resource | cgroup v2 | cgroup v1 |
//! |---|---|---|
//! | memory.limit | MemoryMax | MemoryLimit |
//! | memory.reservation | MemoryLow | — |
//! | memory.swap | MemorySwapMax (swap − limit) | — |
//! | cpu.shares | CPUWeight (converted) | CPUShares |
//! | cpu.quota / period | CPUQuotaPerSecUSec (10 ms steps), CPUQuotaPeriodUSec | same |
//! | cpu.cpus / mems | AllowedCPUs / AllowedMemoryNodes (bitmask) | same |
//! | pids.limit | TasksMax | TasksMax |
//! | blockIO.weight | IOWeight (converted) | BlockIOWeight |
//! | devices | DevicePolicy=strict + DeviceAllow | same |
//! | unified memory.high / memory.low / memory.min / memory.max / memory.swap.max / pids.max / cpu.weight / cpu.max / cpuset.* | MemoryHigh, MemoryLow, MemoryMin, MemoryMax, MemorySwapMax, TasksMax, CPUWeight, CPUQuota…, Allowed… | — |

use crate::cgroups::devices::{self, Rule};
use crate::cgroups::Version;
use oci_spec::runtime::LinuxResources;

/// A unit property value (converted to a D-Bus variant by `bus`).
#[derive(Debug, Clone, PartialEq)]
pub enum PropValue {
    Bool(bool),
    Byte(u8),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(String),
    StrList(Vec<String>),
    U32List(Vec<u32>),
    Bytes(Vec<u8>),
    /// `a(ss)`: DeviceAllow's (device, access) pairs.
    DeviceAllow(Vec<(String, String)>),
}

/// (name, value) of one property.
pub type Property = (String, PropValue);

fn prop(name: &str, v: PropValue) -> Property {
    (name.to_string(), v)
}

/// systemd's "infinity" for the uint64 limits.
const INFINITY: u64 = u64::MAX;

/// A limit where -1 (or any negative) is unlimited.
fn limit(v: i64) -> u64 {
    if v < 0 {
        INFINITY
    } else {
        v as u64
    }
}

/// The properties every container unit gets: accounting on for the controllers
/// systemd manages.
pub fn accounting(version: Version) -> Vec<Property> {
    let io = match version {
        Version::V2 => "IOAccounting",
        Version::V1 => "BlockIOAccounting",
    };
    ["MemoryAccounting", "CPUAccounting", io, "TasksAccounting"]
        .iter()
        .map(|n| prop(n, PropValue::Bool(true)))
        .collect()
}

/// systemd keeps CPU quotas as a percentage: round up to a multiple of 10 ms per
/// second so the cgroup gets at least the quota asked for (runc does the same).
pub fn quota_per_sec(quota: i64, period: u64) -> u64 {
    if quota <= 0 || period == 0 {
        return INFINITY;
    }
    let per_sec = (quota as u64).saturating_mul(1_000_000) / period;
    per_sec.div_ceil(10_000) * 10_000
}

/// A CPU or memory-node list (`0-2,5`) as systemd's bitmask bytes (byte 0 bit 0
/// is id 0), or an error naming `field`.
pub fn bitmask(list: &str, field: &str) -> Result<Vec<u8>, (String, String)> {
    let mask =
        crate::linux::list_format::parse(list).map_err(|e| (field.to_string(), e.to_string()))?;
    let ids = mask.ids();
    let Some(&last) = ids.last() else {
        return Ok(Vec::new());
    };
    let mut bytes = vec![0u8; last / 8 + 1];
    for id in ids {
        bytes[id / 8] |= 1 << (id % 8);
    }
    Ok(bytes)
}

/// The properties for `r` on `version`. Errors are (field, reason).
pub fn resources(r: &LinuxResources, version: Version) -> Result<Vec<Property>, (String, String)> {
    let mut out = Vec::new();
    if let Some(m) = r.memory() {
        let lim = m.limit().filter(|l| *l != 0);
        match version {
            Version::V2 => {
                if let Some(l) = lim {
                    out.push(prop("MemoryMax", PropValue::U64(limit(l))));
                }
                if let Some(res) = m.reservation().filter(|r| *r != 0) {
                    out.push(prop("MemoryLow", PropValue::U64(limit(res))));
                }
                match (m.swap().filter(|s| *s != 0), lim) {
                    (Some(s), _) if s < 0 => {
                        out.push(prop("MemorySwapMax", PropValue::U64(INFINITY)))
                    }
                    (Some(s), Some(l)) if l > 0 => {
                        out.push(prop("MemorySwapMax", PropValue::U64((s - l).max(0) as u64)))
                    }
                    _ => {}
                }
            }
            Version::V1 => {
                if let Some(l) = lim {
                    out.push(prop("MemoryLimit", PropValue::U64(limit(l))));
                }
            }
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares().filter(|s| *s != 0) {
            out.push(match version {
                Version::V2 => prop(
                    "CPUWeight",
                    PropValue::U64(crate::cgroups::v2::cpu_weight(s)),
                ),
                Version::V1 => prop("CPUShares", PropValue::U64(s)),
            });
        }
        let period = c.period().filter(|p| *p != 0);
        if let Some(q) = c.quota().filter(|q| *q != 0) {
            out.push(prop(
                "CPUQuotaPerSecUSec",
                PropValue::U64(quota_per_sec(q, period.unwrap_or(100_000))),
            ));
        }
        if let Some(p) = period {
            out.push(prop("CPUQuotaPeriodUSec", PropValue::U64(p)));
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.trim().is_empty()) {
            let b = bitmask(cpus, "linux.resources.cpu.cpus")?;
            out.push(prop("AllowedCPUs", PropValue::Bytes(b)));
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.trim().is_empty()) {
            let b = bitmask(mems, "linux.resources.cpu.mems")?;
            out.push(prop("AllowedMemoryNodes", PropValue::Bytes(b)));
        }
    }
    if let Some(p) = r.pids() {
        if p.limit() != 0 {
            out.push(prop("TasksMax", PropValue::U64(limit(p.limit()))));
        }
    }
    if let Some(w) = r
        .block_io()
        .as_ref()
        .and_then(|b| b.weight())
        .filter(|w| *w != 0)
    {
        out.push(match version {
            Version::V2 => prop("IOWeight", PropValue::U64(crate::cgroups::v2::io_weight(w))),
            Version::V1 => prop("BlockIOWeight", PropValue::U64(u64::from(w))),
        });
    }
    if version == Version::V2 {
        if let Some(u) = r.unified() {
            out.extend(unified(u)?);
        }
    }
    Ok(out)
}

/// The `unified` keys systemd has a property for (the files are written anyway).
fn unified(
    u: &std::collections::HashMap<String, String>,
) -> Result<Vec<Property>, (String, String)> {
    let mut keys: Vec<&String> = u.keys().collect();
    keys.sort();
    let mut out = Vec::new();
    for k in keys {
        let v = u[k].trim();
        let field = format!("linux.resources.unified[{k:?}]");
        let bad = |why: &str| (field.clone(), format!("{v:?}: {why}"));
        let bytes_or_max = |v: &str| -> Result<u64, (String, String)> {
            if v == "max" {
                Ok(INFINITY)
            } else {
                v.parse().map_err(|_| bad("want a number of bytes or max"))
            }
        };
        let name = match k.as_str() {
            "memory.high" => "MemoryHigh",
            "memory.low" => "MemoryLow",
            "memory.min" => "MemoryMin",
            "memory.max" => "MemoryMax",
            "memory.swap.max" => "MemorySwapMax",
            "pids.max" => "TasksMax",
            "cpu.weight" => {
                let w = v.parse().map_err(|_| bad("want a number"))?;
                out.push(prop("CPUWeight", PropValue::U64(w)));
                continue;
            }
            "cpu.max" => {
                let mut parts = v.split_whitespace();
                let quota = parts.next().unwrap_or("max");
                let period: u64 = match parts.next() {
                    Some(p) => p.parse().map_err(|_| bad("want \"QUOTA [PERIOD]\""))?,
                    None => 100_000,
                };
                let q: i64 = if quota == "max" {
                    -1
                } else {
                    quota.parse().map_err(|_| bad("want \"QUOTA [PERIOD]\""))?
                };
                out.push(prop(
                    "CPUQuotaPerSecUSec",
                    PropValue::U64(quota_per_sec(q, period)),
                ));
                out.push(prop("CPUQuotaPeriodUSec", PropValue::U64(period)));
                continue;
            }
            "cpuset.cpus" => {
                out.push(prop("AllowedCPUs", PropValue::Bytes(bitmask(v, &field)?)));
                continue;
            }
            "cpuset.mems" => {
                out.push(prop(
                    "AllowedMemoryNodes",
                    PropValue::Bytes(bitmask(v, &field)?),
                ));
                continue;
            }
            _ => continue,
        };
        out.push(prop(name, PropValue::U64(bytes_or_max(v)?)));
    }
    Ok(out)
}

/// DevicePolicy and DeviceAllow for the settled device rules: `strict` with one
/// entry per allowed device (`/dev/char/M:N`, `char-NAME` for a whole major as
/// /proc/devices names it, `char-*` for every one), or `auto` with none when
/// everything is allowed. `proc_devices` is /proc/devices' text. Devices the host
/// has no node or name for are left out (the container's own device program,
/// attached too, holds the exact rules).
pub fn device_properties(
    r: &LinuxResources,
    proc_devices: &str,
    dev_exists: impl Fn(&str) -> bool,
) -> Result<Vec<Property>, (String, String)> {
    let state = devices::container_state(r.devices().as_deref())?;
    if state.default_allow {
        return Ok(vec![prop("DevicePolicy", PropValue::Str("auto".into()))]);
    }
    let mut allow = Vec::new();
    for rule in &state.exceptions {
        if let Some(dev) = device_name(rule, proc_devices, &dev_exists) {
            allow.push((dev, rule.access.clone()));
        }
    }
    Ok(vec![
        prop("DevicePolicy", PropValue::Str("strict".into())),
        prop("DeviceAllow", PropValue::DeviceAllow(allow)),
    ])
}

fn device_name(
    rule: &Rule,
    proc_devices: &str,
    dev_exists: &impl Fn(&str) -> bool,
) -> Option<String> {
    let kind = match rule.typ {
        'c' => "char",
        'b' => "block",
        _ => return None,
    };
    let major = rule.major.filter(|m| *m >= 0);
    let minor = rule.minor.filter(|m| *m >= 0);
    match (major, minor) {
        (None, _) => Some(format!("{kind}-*")),
        (Some(maj), Some(min)) => {
            let path = format!("/dev/{kind}/{maj}:{min}");
            dev_exists(&path).then_some(path)
        }
        (Some(maj), None) => driver_name(proc_devices, kind, maj).map(|n| format!("{kind}-{n}")),
    }
}

/// The driver of `major` in /proc/devices' "Character devices:" or "Block
/// devices:" section.
fn driver_name(proc_devices: &str, kind: &str, major: i64) -> Option<String> {
    let header = if kind == "char" {
        "Character devices:"
    } else {
        "Block devices:"
    };
    let mut in_section = false;
    for line in proc_devices.lines() {
        let line = line.trim();
        if line.ends_with(':') {
            in_section = line == header;
            continue;
        }
        if !in_section {
            continue;
        }
        let mut parts = line.split_whitespace();
        if parts.next().and_then(|m| m.parse::<i64>().ok()) == Some(major) {
            return parts.next().map(str::to_string);
        }
    }
    None
}

/// The annotation prefix runc reads unit properties from.
pub const ANNOTATION_PREFIX: &str = "org.systemd.property.";

/// `org.systemd.property.NAME` annotations as properties (values in GVariant
/// text form). Errors name the annotation.
pub fn from_annotations(
    annotations: &std::collections::HashMap<String, String>,
) -> Result<Vec<Property>, (String, String)> {
    let mut keys: Vec<&String> = annotations
        .keys()
        .filter(|k| k.starts_with(ANNOTATION_PREFIX))
        .collect();
    keys.sort();
    let mut out = Vec::new();
    for k in keys {
        let name = &k[ANNOTATION_PREFIX.len()..];
        let field = format!("annotations[{k:?}]");
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err((field, format!("{name:?} is not a unit property name")));
        }
        let value = super::gvariant::parse(&annotations[k])
            .map_err(|e| (field.clone(), format!("{:?}: {e}", annotations[k])))?;
        out.push((name.to_string(), value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    fn get<'a>(p: &'a [Property], name: &str) -> Option<&'a PropValue> {
        p.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    #[test]
    fn v2_resources() {
        let r = res(
            r#"{"memory": {"limit": 67108864, "reservation": 1048576, "swap": 134217728},
                        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1,3"},
                        "pids": {"limit": 20}, "blockIO": {"weight": 500}}"#,
        );
        let p = resources(&r, Version::V2).unwrap();
        assert_eq!(get(&p, "MemoryMax"), Some(&PropValue::U64(67108864)));
        assert_eq!(get(&p, "MemoryLow"), Some(&PropValue::U64(1048576)));
        assert_eq!(get(&p, "MemorySwapMax"), Some(&PropValue::U64(67108864)));
        assert_eq!(get(&p, "CPUWeight"), Some(&PropValue::U64(39)));
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&PropValue::U64(500000)));
        assert_eq!(get(&p, "CPUQuotaPeriodUSec"), Some(&PropValue::U64(100000)));
        assert_eq!(
            get(&p, "AllowedCPUs"),
            Some(&PropValue::Bytes(vec![0b1011]))
        );
        assert_eq!(get(&p, "TasksMax"), Some(&PropValue::U64(20)));
        assert_eq!(get(&p, "IOWeight"), Some(&PropValue::U64(4950)));
        assert_eq!(get(&p, "MemoryLimit"), None);
    }

    #[test]
    fn v1_resources_and_unlimited_values() {
        let r = res(
            r#"{"memory": {"limit": -1}, "cpu": {"shares": 512}, "pids": {"limit": -1},
                        "blockIO": {"weight": 300}}"#,
        );
        let p = resources(&r, Version::V1).unwrap();
        assert_eq!(get(&p, "MemoryLimit"), Some(&PropValue::U64(u64::MAX)));
        assert_eq!(get(&p, "CPUShares"), Some(&PropValue::U64(512)));
        assert_eq!(get(&p, "TasksMax"), Some(&PropValue::U64(u64::MAX)));
        assert_eq!(get(&p, "BlockIOWeight"), Some(&PropValue::U64(300)));
        assert_eq!(get(&p, "MemoryMax"), None);
    }

    #[test]
    fn quota_rounds_up_to_10ms_per_second() {
        assert_eq!(quota_per_sec(25_000, 100_000), 250_000);
        assert_eq!(quota_per_sec(12_345, 100_000), 130_000);
        assert_eq!(quota_per_sec(-1, 100_000), u64::MAX);
    }

    #[test]
    fn unified_keys_with_properties() {
        let r = res(
            r#"{"unified": {"memory.high": "67108864", "cpu.max": "20000 100000",
                                    "pids.max": "max", "io.weight": "50"}}"#,
        );
        let p = resources(&r, Version::V2).unwrap();
        assert_eq!(get(&p, "MemoryHigh"), Some(&PropValue::U64(67108864)));
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&PropValue::U64(200000)));
        assert_eq!(get(&p, "TasksMax"), Some(&PropValue::U64(u64::MAX)));
        let bad = res(r#"{"unified": {"memory.high": "lots"}}"#);
        let (field, _) = resources(&bad, Version::V2).unwrap_err();
        assert_eq!(field, "linux.resources.unified[\"memory.high\"]");
    }

    #[test]
    fn devices_become_device_allow() {
        let devices =
            "Character devices:\n  1 mem\n136 pts\n  5 /dev/tty\nBlock devices:\n  8 sd\n";
        let r = res(r#"{"devices": [{"allow": false, "access": "rwm"},
                                    {"allow": true, "type": "b", "major": 8, "access": "r"}]}"#);
        let p = device_properties(&r, devices, |p| p == "/dev/char/1:3").unwrap();
        assert_eq!(
            get(&p, "DevicePolicy"),
            Some(&PropValue::Str("strict".into()))
        );
        let Some(PropValue::DeviceAllow(allow)) = get(&p, "DeviceAllow") else {
            panic!("{p:?}")
        };
        assert!(
            allow.contains(&("block-sd".into(), "r".into())),
            "{allow:?}"
        );
        assert!(allow.contains(&("char-*".into(), "m".into())), "{allow:?}");
        assert!(
            allow.contains(&("/dev/char/1:3".into(), "rwm".into())),
            "{allow:?}"
        );
        assert!(
            allow.contains(&("char-pts".into(), "rwm".into())),
            "{allow:?}"
        );
        assert!(
            !allow.iter().any(|(d, _)| d == "/dev/char/1:5"),
            "no node on this host"
        );
        let all = res(r#"{"devices": [{"allow": true, "access": "rwm"}]}"#);
        let p = device_properties(&all, devices, |_| true).unwrap();
        assert_eq!(p, vec![prop("DevicePolicy", PropValue::Str("auto".into()))]);
    }

    #[test]
    fn annotations_become_properties() {
        let mut a = std::collections::HashMap::new();
        a.insert(
            "org.systemd.property.TimeoutStopUSec".to_string(),
            "uint64 123".to_string(),
        );
        a.insert(
            "org.systemd.property.CollectMode".to_string(),
            "'inactive-or-failed'".to_string(),
        );
        a.insert("other".to_string(), "x".to_string());
        let p = from_annotations(&a).unwrap();
        assert_eq!(
            p,
            vec![
                prop("CollectMode", PropValue::Str("inactive-or-failed".into())),
                prop("TimeoutStopUSec", PropValue::U64(123)),
            ]
        );
        a.insert(
            "org.systemd.property.Bad".to_string(),
            "uint64 x".to_string(),
        );
        let (field, _) = from_annotations(&a).unwrap_err();
        assert_eq!(field, "annotations[\"org.systemd.property.Bad\"]");
    }
}
