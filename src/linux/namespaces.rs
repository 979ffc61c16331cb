//! `linux.namespaces`: which namespaces to create and which to join by path, the
//! clone/unshare flags they map to, and joining (setns) in the right order.

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("linux.namespaces[{index}]: duplicate namespace type {typ}")]
    Duplicate { index: usize, typ: &'static str },
    #[error("linux.namespaces[{index}] ({typ}): open {path}: {source}")]
    Open {
        index: usize,
        typ: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("linux.namespaces[{index}] ({typ}): setns {path}: {source}")]
    Setns {
        index: usize,
        typ: &'static str,
        path: PathBuf,
        source: nix::Error,
    },
    #[error("linux.namespaces: unshare {what}: {source}")]
    Unshare { what: String, source: nix::Error },
}

/// The spec's name of a namespace type, as used in messages and in /proc/PID/ns.
pub fn type_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

/// The file name under /proc/PID/ns/ of a namespace type.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Network => "net",
        other => type_name(other),
    }
}

/// The CLONE_NEW* flag of a namespace type.
pub fn clone_flag(t: LinuxNamespaceType) -> libc::c_int {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

/// The namespaces of a container: those to create and those to join.
#[derive(Debug, Default, Clone)]
pub struct NamespacePlan {
    /// Namespace types created fresh (no `path`).
    pub create: Vec<LinuxNamespaceType>,
    /// (index in linux.namespaces, type, path) of the namespaces joined by path.
    pub join: Vec<(usize, LinuxNamespaceType, PathBuf)>,
}

impl NamespacePlan {
    /// Build the plan from `linux.namespaces`, rejecting duplicate types.
    pub fn from_spec(namespaces: &[LinuxNamespace]) -> Result<Self, NamespaceError> {
        let mut plan = NamespacePlan::default();
        let mut seen = Vec::new();
        for (index, ns) in namespaces.iter().enumerate() {
            let typ = ns.typ();
            if seen.contains(&typ) {
                return Err(NamespaceError::Duplicate {
                    index,
                    typ: type_name(typ),
                });
            }
            seen.push(typ);
            match ns.path() {
                Some(p) if !p.as_os_str().is_empty() => plan.join.push((index, typ, p.clone())),
                _ => plan.create.push(typ),
            }
        }
        Ok(plan)
    }

    /// Whether the container has a namespace of type `t` of its own (created or joined).
    pub fn has(&self, t: LinuxNamespaceType) -> bool {
        self.creates(t) || self.joins(t)
    }

    /// Whether a namespace of type `t` is created fresh.
    pub fn creates(&self, t: LinuxNamespaceType) -> bool {
        self.create.contains(&t)
    }

    /// Whether a namespace of type `t` is joined by path.
    pub fn joins(&self, t: LinuxNamespaceType) -> bool {
        self.join.iter().any(|(_, typ, _)| *typ == t)
    }
}

/// An opened namespace file, ready for setns.
pub struct OpenNamespace {
    pub index: usize,
    pub typ: LinuxNamespaceType,
    pub path: PathBuf,
    pub fd: OwnedFd,
}

/// Open every namespace path up front: after a mount or user switch they may be gone.
pub fn open_all(
    join: &[(usize, LinuxNamespaceType, PathBuf)],
) -> Result<Vec<OpenNamespace>, NamespaceError> {
    join.iter()
        .map(|(index, typ, path)| {
            let file = std::fs::File::open(path).map_err(|source| NamespaceError::Open {
                index: *index,
                typ: type_name(*typ),
                path: path.clone(),
                source,
            })?;
            Ok(OpenNamespace {
                index: *index,
                typ: *typ,
                path: path.clone(),
                fd: file.into(),
            })
        })
        .collect()
}

/// setns into one opened namespace.
pub fn join(ns: &OpenNamespace) -> Result<(), NamespaceError> {
    // SAFETY: setns on a valid, owned namespace fd; no memory is shared.
    let rc = unsafe { libc::setns(ns.fd.as_raw_fd(), clone_flag(ns.typ)) };
    if rc == 0 {
        Ok(())
    } else {
        Err(NamespaceError::Setns {
            index: ns.index,
            typ: type_name(ns.typ),
            path: ns.path.clone(),
            source: nix::Error::last(),
        })
    }
}

/// unshare(flags), retrying EINVAL a few times (kernels before 4.3 return it when
/// another process reads /proc/PID/status concurrently).
pub fn unshare(flags: libc::c_int, what: &str) -> Result<(), NamespaceError> {
    let mut tries = 0;
    loop {
        // SAFETY: unshare only changes this process's namespace membership.
        if unsafe { libc::unshare(flags) } == 0 {
            return Ok(());
        }
        let err = nix::Error::last();
        tries += 1;
        if err != nix::Error::EINVAL || tries > 5 {
            return Err(NamespaceError::Unshare {
                what: what.to_string(),
                source: err,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxNamespaceBuilder;

    fn ns(t: LinuxNamespaceType, path: Option<&str>) -> LinuxNamespace {
        let mut b = LinuxNamespaceBuilder::default().typ(t);
        if let Some(p) = path {
            b = b.path(p);
        }
        b.build().unwrap()
    }

    #[test]
    fn plan_splits_create_and_join() {
        let plan = NamespacePlan::from_spec(&[
            ns(LinuxNamespaceType::Pid, None),
            ns(LinuxNamespaceType::Network, Some("/proc/1/ns/net")),
        ])
        .unwrap();
        assert!(plan.creates(LinuxNamespaceType::Pid));
        assert!(plan.joins(LinuxNamespaceType::Network));
        assert!(!plan.has(LinuxNamespaceType::User));
    }

    #[test]
    fn duplicate_type_is_an_error_naming_the_index() {
        let err = NamespacePlan::from_spec(&[
            ns(LinuxNamespaceType::Pid, None),
            ns(LinuxNamespaceType::Pid, None),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "linux.namespaces[1]: duplicate namespace type pid"
        );
    }
}
