//! `linux.memoryPolicy`: the container's NUMA memory policy. Checked against the
//! kernel's rules for modes, flags and nodes (set_mempolicy(2), mm/mempolicy.c)
//! when the bundle is loaded; set with set_mempolicy(2) by the container's init and
//! by every exec'd process before their credential switch (a seccomp profile may
//! forbid the syscall afterwards). The policy survives fork and execve, so it holds
//! for every process of the container.

use crate::linux::list_format::{self, IdMask, ListError};
use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType, MemoryPolicyModeType};

#[derive(Debug, thiserror::Error)]
pub enum MemoryPolicyError {
    #[error("linux.memoryPolicy.nodes: {0}")]
    Nodes(ListError),
    #[error("linux.memoryPolicy.nodes: {mode} takes no nodes, got {nodes:?}")]
    NodesForbidden { mode: &'static str, nodes: String },
    #[error("linux.memoryPolicy.nodes: {mode} needs at least one node")]
    NodesRequired { mode: &'static str },
    #[error("linux.memoryPolicy.flags: {0}")]
    Flags(String),
    #[error("linux.memoryPolicy: set_mempolicy({mode}{flags}, nodes {nodes:?}): {source}{hint}")]
    Set {
        mode: &'static str,
        flags: String,
        nodes: String,
        source: nix::Error,
        hint: String,
    },
}

// The kernel's values (include/uapi/linux/mempolicy.h).
const MPOL_DEFAULT: i32 = 0;
const MPOL_PREFERRED: i32 = 1;
const MPOL_BIND: i32 = 2;
const MPOL_INTERLEAVE: i32 = 3;
const MPOL_LOCAL: i32 = 4;
const MPOL_PREFERRED_MANY: i32 = 5;
const MPOL_WEIGHTED_INTERLEAVE: i32 = 6;
const MPOL_F_NUMA_BALANCING: i32 = 1 << 13;
const MPOL_F_RELATIVE_NODES: i32 = 1 << 14;
const MPOL_F_STATIC_NODES: i32 = 1 << 15;

/// Every mode and flag husk knows, by the spec's names (for `husk features`).
pub const MODES: &[&str] = &[
    "MPOL_DEFAULT",
    "MPOL_BIND",
    "MPOL_INTERLEAVE",
    "MPOL_WEIGHTED_INTERLEAVE",
    "MPOL_PREFERRED",
    "MPOL_PREFERRED_MANY",
    "MPOL_LOCAL",
];
pub const FLAGS: &[&str] = &[
    "MPOL_F_NUMA_BALANCING",
    "MPOL_F_RELATIVE_NODES",
    "MPOL_F_STATIC_NODES",
];

/// A checked policy, ready for set_mempolicy(2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    mode: MemoryPolicyModeType,
    flags: Vec<MemoryPolicyFlagType>,
    nodes_text: String,
    nodes: IdMask,
}

fn mode_value(m: MemoryPolicyModeType) -> i32 {
    match m {
        MemoryPolicyModeType::MpolDefault => MPOL_DEFAULT,
        MemoryPolicyModeType::MpolPreferred => MPOL_PREFERRED,
        MemoryPolicyModeType::MpolBind => MPOL_BIND,
        MemoryPolicyModeType::MpolInterleave => MPOL_INTERLEAVE,
        MemoryPolicyModeType::MpolLocal => MPOL_LOCAL,
        MemoryPolicyModeType::MpolPreferredMany => MPOL_PREFERRED_MANY,
        MemoryPolicyModeType::MpolWeightedInterleave => MPOL_WEIGHTED_INTERLEAVE,
    }
}

fn mode_name(m: MemoryPolicyModeType) -> &'static str {
    match m {
        MemoryPolicyModeType::MpolDefault => "MPOL_DEFAULT",
        MemoryPolicyModeType::MpolPreferred => "MPOL_PREFERRED",
        MemoryPolicyModeType::MpolBind => "MPOL_BIND",
        MemoryPolicyModeType::MpolInterleave => "MPOL_INTERLEAVE",
        MemoryPolicyModeType::MpolLocal => "MPOL_LOCAL",
        MemoryPolicyModeType::MpolPreferredMany => "MPOL_PREFERRED_MANY",
        MemoryPolicyModeType::MpolWeightedInterleave => "MPOL_WEIGHTED_INTERLEAVE",
    }
}

fn flag_value(f: MemoryPolicyFlagType) -> i32 {
    match f {
        MemoryPolicyFlagType::MpolFNumaBalancing => MPOL_F_NUMA_BALANCING,
        MemoryPolicyFlagType::MpolFRelativeNodes => MPOL_F_RELATIVE_NODES,
        MemoryPolicyFlagType::MpolFStaticNodes => MPOL_F_STATIC_NODES,
    }
}

/// Check `linux.memoryPolicy` the way the kernel will: the nodes parse, each mode
/// gets the nodes it takes, and the flags fit the mode and each other.
pub fn validate(p: &LinuxMemoryPolicy) -> Result<Policy, MemoryPolicyError> {
    let nodes_text = p.nodes().clone().unwrap_or_default();
    let nodes = list_format::parse(&nodes_text).map_err(MemoryPolicyError::Nodes)?;
    let flags = p.flags().clone().unwrap_or_default();
    let policy = Policy {
        mode: p.mode(),
        flags,
        nodes_text,
        nodes,
    };
    check_flags(&policy)?;
    check_nodes(&policy)?;
    Ok(policy)
}

impl Policy {
    fn flag_bits(&self) -> i32 {
        self.flags.iter().fold(0, |acc, f| acc | flag_value(*f))
    }

    fn has(&self, bit: i32) -> bool {
        self.flag_bits() & bit != 0
    }
}

fn check_flags(p: &Policy) -> Result<(), MemoryPolicyError> {
    if p.has(MPOL_F_STATIC_NODES) && p.has(MPOL_F_RELATIVE_NODES) {
        return Err(MemoryPolicyError::Flags(
            "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other".into(),
        ));
    }
    let balancing_ok = matches!(
        p.mode,
        MemoryPolicyModeType::MpolBind | MemoryPolicyModeType::MpolPreferredMany
    );
    if p.has(MPOL_F_NUMA_BALANCING) && !balancing_ok {
        return Err(MemoryPolicyError::Flags(format!(
            "MPOL_F_NUMA_BALANCING needs mode MPOL_BIND or MPOL_PREFERRED_MANY, not {}",
            mode_name(p.mode)
        )));
    }
    Ok(())
}

fn check_nodes(p: &Policy) -> Result<(), MemoryPolicyError> {
    let mode = mode_name(p.mode);
    let node_flags = p.has(MPOL_F_STATIC_NODES) || p.has(MPOL_F_RELATIVE_NODES);
    match p.mode {
        MemoryPolicyModeType::MpolDefault | MemoryPolicyModeType::MpolLocal
            if !p.nodes.is_empty() =>
        {
            Err(MemoryPolicyError::NodesForbidden {
                mode,
                nodes: p.nodes_text.clone(),
            })
        }
        MemoryPolicyModeType::MpolLocal if node_flags => Err(MemoryPolicyError::Flags(
            "MPOL_LOCAL takes neither MPOL_F_STATIC_NODES nor MPOL_F_RELATIVE_NODES".into(),
        )),
        // An empty MPOL_PREFERRED means "local allocation", but not with a node flag.
        MemoryPolicyModeType::MpolPreferred if p.nodes.is_empty() && node_flags => {
            Err(MemoryPolicyError::NodesRequired { mode })
        }
        MemoryPolicyModeType::MpolBind
        | MemoryPolicyModeType::MpolInterleave
        | MemoryPolicyModeType::MpolWeightedInterleave
        | MemoryPolicyModeType::MpolPreferredMany
            if p.nodes.is_empty() =>
        {
            Err(MemoryPolicyError::NodesRequired { mode })
        }
        _ => Ok(()),
    }
}

/// set_mempolicy(2) for the calling process (and so for what it execs and forks).
pub fn apply(p: &Policy) -> Result<(), MemoryPolicyError> {
    let words = p.nodes.words();
    let (mask, maxnode) = if p.nodes.is_empty() {
        (std::ptr::null(), 0)
    } else {
        // maxnode counts one more than the bits the kernel reads.
        (words.as_ptr(), words.len() * 64 + 1)
    };
    // SAFETY: `mask` is null or points at `words`, which holds maxnode - 1 bits;
    // the kernel only reads it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_set_mempolicy,
            mode_value(p.mode) | p.flag_bits(),
            mask,
            maxnode,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let source = nix::Error::last();
    Err(MemoryPolicyError::Set {
        mode: mode_name(p.mode),
        flags: p.flags.iter().map(|f| format!("|{f}")).collect::<String>(),
        nodes: p.nodes_text.clone(),
        hint: set_hint(source),
        source,
    })
}

/// What an EINVAL from set_mempolicy(2) usually means, with the host's nodes.
fn set_hint(e: nix::Error) -> String {
    if e != nix::Error::EINVAL {
        return String::new();
    }
    let online = std::fs::read_to_string("/sys/devices/system/node/online")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    format!(
        " (the kernel refuses this mode, flags and nodes: a node that is not online \
         or not in the container's cpuset.mems, or a mode or flag this kernel lacks; \
         online nodes: {online})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(v: serde_json::Value) -> LinuxMemoryPolicy {
        serde_json::from_value(v).unwrap()
    }

    fn check(v: serde_json::Value) -> Result<Policy, String> {
        validate(&policy(v)).map_err(|e| e.to_string())
    }

    #[test]
    fn modes_that_take_nodes_need_them() {
        for mode in [
            "MPOL_BIND",
            "MPOL_INTERLEAVE",
            "MPOL_WEIGHTED_INTERLEAVE",
            "MPOL_PREFERRED_MANY",
        ] {
            let e = check(serde_json::json!({ "mode": mode })).unwrap_err();
            assert_eq!(
                e,
                format!("linux.memoryPolicy.nodes: {mode} needs at least one node")
            );
            assert!(check(serde_json::json!({ "mode": mode, "nodes": "0" })).is_ok());
        }
    }

    #[test]
    fn default_and_local_take_no_nodes() {
        for mode in ["MPOL_DEFAULT", "MPOL_LOCAL"] {
            assert!(check(serde_json::json!({ "mode": mode })).is_ok());
            let e = check(serde_json::json!({ "mode": mode, "nodes": "0-1" })).unwrap_err();
            assert!(e.contains("takes no nodes, got \"0-1\""), "{e}");
        }
    }

    #[test]
    fn preferred_without_nodes_is_local_but_not_with_a_node_flag() {
        assert!(check(serde_json::json!({"mode": "MPOL_PREFERRED"})).is_ok());
        let e = check(serde_json::json!({
            "mode": "MPOL_PREFERRED", "flags": ["MPOL_F_STATIC_NODES"]
        }))
        .unwrap_err();
        assert!(e.starts_with("linux.memoryPolicy.nodes:"), "{e}");
    }

    #[test]
    fn flags_follow_the_kernels_rules() {
        let e = check(serde_json::json!({
            "mode": "MPOL_BIND", "nodes": "0",
            "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]
        }))
        .unwrap_err();
        assert!(e.contains("exclude each other"), "{e}");
        let e = check(serde_json::json!({
            "mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]
        }))
        .unwrap_err();
        assert!(
            e.starts_with("linux.memoryPolicy.flags: MPOL_F_NUMA_BALANCING"),
            "{e}"
        );
        assert!(check(serde_json::json!({
            "mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]
        }))
        .is_ok());
        let e = check(serde_json::json!({
            "mode": "MPOL_LOCAL", "flags": ["MPOL_F_RELATIVE_NODES"]
        }))
        .unwrap_err();
        assert!(e.starts_with("linux.memoryPolicy.flags: MPOL_LOCAL"), "{e}");
    }

    #[test]
    fn bad_node_lists_name_the_field() {
        let e = check(serde_json::json!({"mode": "MPOL_BIND", "nodes": "0-"})).unwrap_err();
        assert!(e.starts_with("linux.memoryPolicy.nodes: "), "{e}");
    }

    #[test]
    fn values_match_the_kernel_header() {
        assert_eq!(mode_value(MemoryPolicyModeType::MpolLocal), 4);
        assert_eq!(mode_value(MemoryPolicyModeType::MpolWeightedInterleave), 6);
        assert_eq!(flag_value(MemoryPolicyFlagType::MpolFStaticNodes), 0x8000);
        assert_eq!(MODES.len(), 7);
    }

    #[test]
    fn a_kernel_refusal_names_the_field_and_the_step() {
        // Node 1000 exists nowhere: the kernel answers EINVAL. A failed call leaves
        // the test process's policy unchanged.
        let p = check(serde_json::json!({"mode": "MPOL_BIND", "nodes": "1000"})).unwrap();
        let e = apply(&p).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "linux.memoryPolicy: set_mempolicy(MPOL_BIND, nodes \"1000\"): EINVAL: Invalid argument"
            ),
            "{e}"
        );
        assert!(e.contains("online nodes: "), "{e}");
    }
}
