//! `process.user` and `linux.uidMappings`/`gidMappings`: writing the id maps of a
//! new user namespace (from the parent), and switching the init's groups, gid,
//! uid and umask (in the child).

use oci_spec::runtime::LinuxIdMapping;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("linux.{field}: mapping {index} has size 0")]
    EmptyMapping { field: &'static str, index: usize },
    #[error("linux.{field}: writing /proc/{pid}/{file}: {source}")]
    WriteMap {
        field: &'static str,
        pid: i32,
        file: &'static str,
        source: std::io::Error,
    },
    #[error("process.user.additionalGids: setgroups: {0}")]
    SetGroups(nix::Error),
    #[error("process.user.gid: setresgid {gid}: {source}")]
    SetGid { gid: u32, source: nix::Error },
    #[error("process.user.uid: setresuid {uid}: {source}")]
    SetUid { uid: u32, source: nix::Error },
}

/// The text of a uid_map/gid_map file.
pub fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Check the mappings before anything is created.
pub fn validate_maps(field: &'static str, maps: &[LinuxIdMapping]) -> Result<(), UserError> {
    for (index, m) in maps.iter().enumerate() {
        if m.size() == 0 {
            return Err(UserError::EmptyMapping { field, index });
        }
    }
    Ok(())
}

fn write_proc(
    pid: i32,
    file: &'static str,
    field: &'static str,
    text: &str,
) -> Result<(), UserError> {
    std::fs::write(Path::new("/proc").join(pid.to_string()).join(file), text).map_err(|source| {
        UserError::WriteMap {
            field,
            pid,
            file,
            source,
        }
    })
}

/// Write the uid and gid maps of process `pid`, which has just created a user namespace.
pub fn write_maps(
    pid: i32,
    uid_maps: &[LinuxIdMapping],
    gid_maps: &[LinuxIdMapping],
) -> Result<(), UserError> {
    if !uid_maps.is_empty() {
        write_proc(pid, "uid_map", "uidMappings", &map_text(uid_maps))?;
    }
    if !gid_maps.is_empty() {
        write_proc(pid, "gid_map", "gidMappings", &map_text(gid_maps))?;
    }
    Ok(())
}

/// Whether setgroups(2) is allowed in this process's user namespace.
pub fn can_setgroups() -> bool {
    std::fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() != "deny")
        .unwrap_or(true)
}

/// Become uid/gid 0 in a freshly entered user namespace.
pub fn become_root() -> Result<(), UserError> {
    set_ids(0, 0)
}

/// The gids to pass to setgroups: each once, in their first order (runc and
/// youki dedupe; the kernel keeps duplicates).
pub fn distinct_groups(additional: &[u32]) -> Vec<libc::gid_t> {
    let mut out: Vec<libc::gid_t> = Vec::with_capacity(additional.len());
    for g in additional {
        if !out.contains(g) {
            out.push(*g);
        }
    }
    out
}

/// setgroups(additional gids, each once) when allowed.
pub fn set_groups(additional: &[u32]) -> Result<(), UserError> {
    if !can_setgroups() {
        return Ok(());
    }
    let groups = distinct_groups(additional);
    // SAFETY: groups points at groups.len() valid gid_t values.
    let rc = unsafe { libc::setgroups(groups.len(), groups.as_ptr()) };
    if rc != 0 {
        return Err(UserError::SetGroups(nix::Error::last()));
    }
    Ok(())
}

/// setresgid then setresuid (raw syscalls: they apply to this single thread).
pub fn set_ids(uid: u32, gid: u32) -> Result<(), UserError> {
    // SAFETY: plain syscall with integer arguments.
    if unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) } != 0 {
        return Err(UserError::SetGid {
            gid,
            source: nix::Error::last(),
        });
    }
    // SAFETY: plain syscall with integer arguments.
    if unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) } != 0 {
        return Err(UserError::SetUid {
            uid,
            source: nix::Error::last(),
        });
    }
    Ok(())
}

/// Set the umask (`process.user.umask`, default 0022 as runc).
pub fn set_umask(umask: Option<u32>) {
    // SAFETY: umask cannot fail.
    unsafe {
        libc::umask(umask.unwrap_or(0o022) as libc::mode_t);
    }
}

/// The home directory of `uid` from the container's /etc/passwd, if any.
pub fn home_of(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[5].to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_groups_are_passed_once() {
        assert_eq!(distinct_groups(&[120, 130, 150, 150, 120]), [120, 130, 150]);
        assert!(distinct_groups(&[]).is_empty());
    }

    #[test]
    fn map_text_is_one_line_per_mapping() {
        let maps: Vec<LinuxIdMapping> = serde_json::from_value(serde_json::json!([
            {"containerID": 0, "hostID": 1000, "size": 1},
            {"containerID": 1, "hostID": 100000, "size": 65536}
        ]))
        .unwrap();
        assert_eq!(map_text(&maps), "0 1000 1\n1 100000 65536\n");
    }

    #[test]
    fn zero_size_mapping_is_rejected() {
        let maps: Vec<LinuxIdMapping> =
            serde_json::from_value(serde_json::json!([{"containerID": 0, "hostID": 0, "size": 0}]))
                .unwrap();
        assert_eq!(
            validate_maps("uidMappings", &maps).unwrap_err().to_string(),
            "linux.uidMappings: mapping 0 has size 0"
        );
    }
}
