//! `process.rlimits`: applied by the parent on the container's init with prlimit,
//! before the init enters a user namespace (raising a hard limit needs
//! CAP_SYS_RESOURCE in the initial user namespace).

use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

#[derive(Debug, thiserror::Error)]
pub enum RlimitError {
    #[error("process.rlimits[{index}]: soft limit {soft} is above hard limit {hard} for {name}")]
    SoftAboveHard {
        index: usize,
        name: String,
        soft: u64,
        hard: u64,
    },
    #[error("process.rlimits[{index}]: duplicate rlimit {name}")]
    Duplicate { index: usize, name: String },
    #[error("process.rlimits[{index}]: setrlimit {name}: {source}")]
    Set {
        index: usize,
        name: String,
        source: nix::Error,
    },
}

/// The kernel resource number of a spec rlimit type.
pub fn resource(t: PosixRlimitType) -> libc::c_int {
    (match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }) as libc::c_int
}

fn name(t: PosixRlimitType) -> String {
    t.to_string()
}

/// Check the limits before anything is created: soft <= hard, no duplicates.
pub fn validate(rlimits: &[PosixRlimit]) -> Result<(), RlimitError> {
    let mut seen = Vec::new();
    for (index, r) in rlimits.iter().enumerate() {
        if seen.contains(&r.typ()) {
            return Err(RlimitError::Duplicate {
                index,
                name: name(r.typ()),
            });
        }
        seen.push(r.typ());
        if r.soft() > r.hard() {
            return Err(RlimitError::SoftAboveHard {
                index,
                name: name(r.typ()),
                soft: r.soft(),
                hard: r.hard(),
            });
        }
    }
    Ok(())
}

/// Apply every limit to process `pid` with prlimit.
pub fn apply(pid: libc::pid_t, rlimits: &[PosixRlimit]) -> Result<(), RlimitError> {
    for (index, r) in rlimits.iter().enumerate() {
        let new = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: `new` is a valid rlimit; the old-limit pointer is null.
        let rc = unsafe {
            libc::prlimit(
                pid,
                resource(r.typ()) as libc::__rlimit_resource_t,
                &new,
                std::ptr::null_mut(),
            )
        };
        if rc != 0 {
            return Err(RlimitError::Set {
                index,
                name: name(r.typ()),
                source: nix::Error::last(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rl(v: serde_json::Value) -> Vec<PosixRlimit> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn soft_above_hard_is_rejected() {
        let r = rl(serde_json::json!([{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}]));
        let e = validate(&r).unwrap_err().to_string();
        assert!(e.starts_with("process.rlimits[0]: soft limit 10"), "{e}");
    }

    #[test]
    fn names_print_as_in_the_spec() {
        assert_eq!(name(PosixRlimitType::RlimitNofile), "RLIMIT_NOFILE");
        assert_eq!(
            resource(PosixRlimitType::RlimitNofile),
            libc::RLIMIT_NOFILE as i32
        );
    }
}
