//! `linux.sysctl`: validated against the container's namespaces before anything is
//! created, written through the container's /proc/sys after the pivot.

use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum SysctlError {
    #[error("linux.sysctl.{key}: needs a network namespace of the container's own")]
    NeedsNetNs { key: String },
    #[error("linux.sysctl.{key}: needs an ipc namespace of the container's own")]
    NeedsIpcNs { key: String },
    #[error("linux.sysctl.{key}: needs a uts namespace of the container's own")]
    NeedsUtsNs { key: String },
    #[error("linux.sysctl.{key}: not namespaced; refusing to change the host's value")]
    NotNamespaced { key: String },
    #[error("linux.sysctl.{key}: writing {path}: {source}")]
    Write {
        key: String,
        path: String,
        source: std::io::Error,
    },
}

/// Which namespace a sysctl belongs to, as runc classifies them.
#[derive(Debug, PartialEq, Eq)]
enum Owner {
    Net,
    Ipc,
    Uts,
}

fn owner(key: &str) -> Option<Owner> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if key.starts_with("net.") {
        Some(Owner::Net)
    } else if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        Some(Owner::Ipc)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some(Owner::Uts)
    } else {
        None
    }
}

/// Refuse sysctls that would change the host: each must belong to a namespace the
/// container has of its own.
pub fn validate(
    sysctl: &HashMap<String, String>,
    net: bool,
    ipc: bool,
    uts: bool,
) -> Result<(), SysctlError> {
    for key in sysctl.keys() {
        let key = key.clone();
        match owner(&key) {
            Some(Owner::Net) if !net => return Err(SysctlError::NeedsNetNs { key }),
            Some(Owner::Ipc) if !ipc => return Err(SysctlError::NeedsIpcNs { key }),
            Some(Owner::Uts) if !uts => return Err(SysctlError::NeedsUtsNs { key }),
            None => return Err(SysctlError::NotNamespaced { key }),
            _ => {}
        }
    }
    Ok(())
}

/// The /proc/sys path of a key: dots become slashes.
pub fn path_of(key: &str) -> String {
    format!("/proc/sys/{}", key.replace('.', "/"))
}

/// Write every sysctl (in sorted order, so errors are reproducible).
pub fn apply(sysctl: &HashMap<String, String>) -> Result<(), SysctlError> {
    let mut keys: Vec<&String> = sysctl.keys().collect();
    keys.sort();
    for key in keys {
        let path = path_of(key);
        std::fs::write(&path, &sysctl[key]).map_err(|source| SysctlError::Write {
            key: key.clone(),
            path,
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_sysctl_needs_netns() {
        let s = HashMap::from([("net.ipv4.ip_forward".to_string(), "1".to_string())]);
        assert!(validate(&s, true, false, false).is_ok());
        assert_eq!(
            validate(&s, false, true, true).unwrap_err().to_string(),
            "linux.sysctl.net.ipv4.ip_forward: needs a network namespace of the container's own"
        );
    }

    #[test]
    fn host_wide_sysctl_is_refused() {
        let s = HashMap::from([("vm.swappiness".to_string(), "1".to_string())]);
        assert!(validate(&s, true, true, true).is_err());
    }

    #[test]
    fn path_replaces_dots() {
        assert_eq!(
            path_of("net.ipv4.ip_forward"),
            "/proc/sys/net/ipv4/ip_forward"
        );
    }
}
