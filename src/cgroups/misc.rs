//! `linux.resources.network`, `rdma` and `unified` translated into cgroup files.
//!
//! - network (v1 only): `classID` -> net_cls.classid (decimal), each of
//!   `priorities` -> net_prio.ifpriomap "ifname priority" (one write each). The
//!   net_cls and net_prio controllers do not exist on v2; a value set there is an
//!   error naming the field (runc ignores network on v2 silently).
//! - rdma (v1 and v2, same file): each device -> rdma.max "device
//!   hca_handle=N hca_object=M" with only the limits given; an entry with neither
//!   is an error (the spec requires at least one).
//! - unified (v2 only): each key is a file of the container's cgroup written
//!   with the value as is. The key must be a plain file name (no '/', not '.'
//!   or '..') and the file must exist; a missing file whose controller prefix is
//!   not in cgroup.controllers says so. On a v1 host unified is an error, as
//!   runc ("cannot use unified on cgroup v1"), hybrid cgroup2 or not.

use super::Write;
use oci_spec::runtime::{LinuxNetwork, LinuxRdma};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The v1 net_cls / net_prio writes for `n`.
pub fn network_v1(n: &LinuxNetwork, out: &mut Vec<Write>) {
    if let Some(id) = n.class_id() {
        out.push(Write::new(
            "linux.resources.network.classID",
            "net_cls",
            "net_cls.classid",
            id,
        ));
    }
    for (i, p) in n
        .priorities()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        out.push(Write::new(
            format!("linux.resources.network.priorities[{i}]"),
            "net_prio",
            "net_prio.ifpriomap",
            format!("{} {}", p.name(), p.priority()),
        ));
    }
}

/// On v2: the first network field that is set (an error there), if any.
pub fn network_v2_set_field(n: &LinuxNetwork) -> Option<&'static str> {
    if n.class_id().is_some() {
        return Some("linux.resources.network.classID");
    }
    if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
        return Some("linux.resources.network.priorities");
    }
    None
}

/// The rdma.max writes, devices in name order. Err((field, reason)).
pub fn rdma(r: &HashMap<String, LinuxRdma>, out: &mut Vec<Write>) -> Result<(), (String, String)> {
    let mut devs: Vec<_> = r.iter().collect();
    devs.sort_by(|a, b| a.0.cmp(b.0));
    for (dev, l) in devs {
        let field = format!("linux.resources.rdma[{dev:?}]");
        if dev.is_empty() || dev.contains(char::is_whitespace) {
            return Err((field, "the device name must be a non-empty word".into()));
        }
        let mut line = dev.clone();
        if let Some(h) = l.hca_handles() {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = l.hca_objects() {
            line.push_str(&format!(" hca_object={o}"));
        }
        if line == *dev {
            return Err((field, "set hcaHandles, hcaObjects or both".into()));
        }
        out.push(Write::new(field, "rdma", "rdma.max", line));
    }
    Ok(())
}

/// Why a unified key cannot be written in `dir`, if it cannot: the error has the
/// field, the reason and the path.
pub fn check_unified_key(
    dir: &Path,
    key: &str,
    controllers: &str,
) -> Result<PathBuf, (String, String)> {
    let field = format!("linux.resources.unified[{key:?}]");
    if key.is_empty() || key.contains('/') || key == "." || key.contains("..") {
        return Err((
            field,
            "the key must be a file name of the cgroup (no '/' or '..')".into(),
        ));
    }
    let path = dir.join(key);
    if !path.is_file() {
        let ctrl = key.split('.').next().unwrap_or_default();
        let reason = if key.contains('.')
            && ctrl != "cgroup"
            && !controllers.split_whitespace().any(|c| c == ctrl)
        {
            format!(
                "{}: the {ctrl} controller is not available (cgroup.controllers: {:?})",
                path.display(),
                controllers.trim()
            )
        } else {
            format!("{}: no such cgroup file", path.display())
        };
        return Err((field, reason));
    }
    Ok(path)
}
