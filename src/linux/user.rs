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
    #[error("linux.{field}: {helper} {pid}: {reason} (an unprivileged caller may map only its own id directly; other ids need ranges in {subfile} for this user, and the setuid {helper} from the uidmap package)")]
    Helper {
        field: &'static str,
        helper: &'static str,
        pid: i32,
        reason: String,
        subfile: &'static str,
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

/// Whether the caller may write `maps` itself: it has CAP_SETUID/SETGID over its
/// user namespace (root there), or the maps are its own id alone (what an
/// unprivileged process may map).
fn may_write_directly(maps: &[LinuxIdMapping], own_id: u32) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    root || matches!(maps, [m] if m.size() == 1 && m.host_id() == own_id)
}

/// Write the uid and gid maps of process `pid`, which has just created a user
/// namespace. Root writes them; an unprivileged caller writes a map of its own id
/// alone (denying setgroups first, as the kernel requires for gid_map) and hands
/// any other map to the setuid newuidmap/newgidmap (ranges from /etc/subuid and
/// /etc/subgid), as runc does.
pub fn write_maps(
    pid: i32,
    uid_maps: &[LinuxIdMapping],
    gid_maps: &[LinuxIdMapping],
) -> Result<(), UserError> {
    // SAFETY: geteuid/getegid have no preconditions.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if !uid_maps.is_empty() {
        if may_write_directly(uid_maps, euid) {
            write_proc(pid, "uid_map", "uidMappings", &map_text(uid_maps))?;
        } else {
            run_helper("newuidmap", pid, uid_maps, "uidMappings", "/etc/subuid")?;
        }
    }
    if !gid_maps.is_empty() {
        if may_write_directly(gid_maps, egid) {
            // SAFETY: geteuid has no preconditions.
            if unsafe { libc::geteuid() } != 0 {
                write_proc(pid, "setgroups", "gidMappings", "deny")?;
            }
            write_proc(pid, "gid_map", "gidMappings", &map_text(gid_maps))?;
        } else {
            run_helper("newgidmap", pid, gid_maps, "gidMappings", "/etc/subgid")?;
        }
    }
    Ok(())
}

/// `newuidmap PID ID HOSTID SIZE...` (or newgidmap).
fn run_helper(
    helper: &'static str,
    pid: i32,
    maps: &[LinuxIdMapping],
    field: &'static str,
    subfile: &'static str,
) -> Result<(), UserError> {
    let err = |reason: String| UserError::Helper {
        field,
        helper,
        pid,
        reason,
        subfile,
    };
    let mut cmd = std::process::Command::new(helper);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.arg(m.container_id().to_string())
            .arg(m.host_id().to_string())
            .arg(m.size().to_string());
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| err(format!("cannot run it: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr);
    Err(err(format!("{}: {}", out.status, text.trim())))
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
