//! Facts about the host that the checker cannot see from inside the container.
//!
//! The runner records them before `create` and writes them next to the config in the
//! rootfs (`/rtt/host.json`); the checker compares the container against them.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Host-side facts for one test.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostInfo {
    /// Inode of each of the runtime's namespaces, by `/proc/<pid>/ns` file name.
    pub host_ns: BTreeMap<String, u64>,
    /// Inode of each namespace the config joins by `path`, by config type.
    pub joined_ns: BTreeMap<String, u64>,
    /// `(st_dev, st_ino)` of each bind mount's source, by destination.
    pub bind_sources: BTreeMap<String, (u64, u64)>,
    /// The runtime's capability bounding set.
    pub cap_bounding: u64,
    /// The runtime's seccomp mode (`Seccomp:` in /proc/self/status).
    pub seccomp_mode: String,
    /// Whether AppArmor is enabled on the host.
    pub apparmor: bool,
    /// Whether SELinux is enabled on the host.
    pub selinux: bool,
}

fn u64_map(v: &Value) -> BTreeMap<String, u64> {
    v.as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

impl HostInfo {
    /// Serialises to JSON.
    pub fn to_json(&self) -> Value {
        let binds: Map<String, Value> = self
            .bind_sources
            .iter()
            .map(|(k, (d, i))| (k.clone(), json!([d, i])))
            .collect();
        json!({
            "hostNamespaces": self.host_ns,
            "joinedNamespaces": self.joined_ns,
            "bindSources": binds,
            "capBounding": self.cap_bounding,
            "seccompMode": self.seccomp_mode,
            "apparmor": self.apparmor,
            "selinux": self.selinux,
        })
    }

    /// Reads back what [`HostInfo::to_json`] wrote; missing fields take defaults.
    pub fn from_json(v: &Value) -> Self {
        let bind_sources = v["bindSources"]
            .as_object()
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), (v[0].as_u64()?, v[1].as_u64()?))))
                    .collect()
            })
            .unwrap_or_default();
        HostInfo {
            host_ns: u64_map(&v["hostNamespaces"]),
            joined_ns: u64_map(&v["joinedNamespaces"]),
            bind_sources,
            cap_bounding: v["capBounding"].as_u64().unwrap_or(u64::MAX),
            seccomp_mode: v["seccompMode"].as_str().unwrap_or("0").to_string(),
            apparmor: v["apparmor"].as_bool().unwrap_or(false),
            selinux: v["selinux"].as_bool().unwrap_or(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut h = HostInfo {
            cap_bounding: 0x20,
            seccomp_mode: "0".into(),
            ..Default::default()
        };
        h.host_ns.insert("net".into(), 4026531840);
        h.bind_sources.insert("/mnt".into(), (1, 2));
        assert_eq!(HostInfo::from_json(&h.to_json()), h);
    }
}
