//! `process.execCPUAffinity`: the CPUs of a process started by `exec` (never the
//! container's init). `initial` is set right after the process joined the
//! container's namespaces, before it moves into the container's cgroup; `final`
//! once it is in the cgroup, before execve. Without `final` the process keeps
//! whatever the kernel leaves it after the cgroup move (`initial` where the
//! container's cpuset allows it). The lists are checked at `create` and `exec`.

use crate::linux::list_format::{self, IdMask, ListError};
use oci_spec::runtime::ExecCPUAffinity;

#[derive(Debug, thiserror::Error)]
pub enum AffinityError {
    #[error("process.execCPUAffinity.{which}: {source}")]
    List {
        which: &'static str,
        source: ListError,
    },
    #[error("process.execCPUAffinity.{which}: sched_setaffinity {list:?}: {source}{hint}")]
    Set {
        which: &'static str,
        list: String,
        source: nix::Error,
        hint: &'static str,
    },
}

/// One of the two lists, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList {
    which: &'static str,
    text: String,
    mask: IdMask,
}

/// The affinities an exec'd process takes; an empty list counts as unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecAffinity {
    pub initial: Option<CpuList>,
    pub last: Option<CpuList>,
}

/// Parse and check `process.execCPUAffinity` (no system state is looked at).
pub fn plan(affinity: Option<&ExecCPUAffinity>) -> Result<ExecAffinity, AffinityError> {
    let Some(a) = affinity else {
        return Ok(ExecAffinity::default());
    };
    Ok(ExecAffinity {
        initial: parse_one("initial", a.initial().as_deref())?,
        last: parse_one("final", a.cpu_affinity_final().as_deref())?,
    })
}

fn parse_one(which: &'static str, text: Option<&str>) -> Result<Option<CpuList>, AffinityError> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    let mask = list_format::parse(text).map_err(|source| AffinityError::List { which, source })?;
    Ok(Some(CpuList {
        which,
        text: text.to_string(),
        mask,
    }))
}

/// Pin the calling process to `list` (a no-op for an unset list).
pub fn apply(list: Option<&CpuList>) -> Result<(), AffinityError> {
    let Some(list) = list else {
        return Ok(());
    };
    let words = list.mask.words();
    // SAFETY: the pointer and byte length describe `words`, a bitmask the kernel
    // only reads; pid 0 is the calling thread (the process is single-threaded).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_sched_setaffinity,
            0,
            std::mem::size_of_val(words),
            words.as_ptr(),
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let source = nix::Error::last();
    Err(AffinityError::Set {
        which: list.which,
        list: list.text.clone(),
        source,
        hint: if source == nix::Error::EINVAL {
            " (no CPU of the list is online and allowed to the process here)"
        } else {
            ""
        },
    })
}

/// oci-spec rejects an empty `initial`/`final`, which the spec allows ("if
/// omitted or empty"): remove empty ones from a `process` JSON object so the
/// process parses as if they were omitted.
pub fn drop_empty_lists(process: &mut serde_json::Value) {
    if let Some(a) = process
        .get_mut("execCPUAffinity")
        .and_then(|a| a.as_object_mut())
    {
        a.retain(|_, v| v.as_str().is_none_or(|s| !s.trim().is_empty()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn affinity(v: serde_json::Value) -> ExecCPUAffinity {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn both_lists_are_parsed() {
        let a = plan(Some(&affinity(
            serde_json::json!({"initial": "0", "final": "0-1"}),
        )))
        .unwrap();
        assert_eq!(a.initial.unwrap().mask.ids(), vec![0]);
        assert_eq!(a.last.unwrap().mask.ids(), vec![0, 1]);
    }

    #[test]
    fn unset_is_nothing_to_do() {
        assert_eq!(plan(None).unwrap(), ExecAffinity::default());
        let a = plan(Some(&affinity(serde_json::json!({"initial": "1"})))).unwrap();
        assert!(a.last.is_none());
        assert!(apply(None).is_ok());
    }

    #[test]
    fn a_bad_list_names_the_field() {
        // oci-spec's own check lets a backwards range through.
        let e = plan(Some(&affinity(serde_json::json!({"final": "3-1"}))))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("process.execCPUAffinity.final: range"), "{e}");
        let e = plan(Some(&affinity(serde_json::json!({"initial": "4096"}))))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("process.execCPUAffinity.initial: 4096"),
            "{e}"
        );
    }

    #[test]
    fn empty_lists_are_dropped_before_parsing() {
        let mut p = serde_json::json!({"execCPUAffinity": {"initial": "", "final": "1"}});
        drop_empty_lists(&mut p);
        assert_eq!(p, serde_json::json!({"execCPUAffinity": {"final": "1"}}));
    }

    #[test]
    fn an_impossible_cpu_fails_with_the_field_and_step() {
        // CPU 1023 exists on no test machine: the kernel refuses the empty result.
        let a = plan(Some(&affinity(serde_json::json!({"final": "1023"})))).unwrap();
        let e = apply(a.last.as_ref()).unwrap_err().to_string();
        assert!(
            e.starts_with("process.execCPUAffinity.final: sched_setaffinity \"1023\": "),
            "{e}"
        );
    }
}
