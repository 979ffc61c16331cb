//! `linux.memoryPolicy` (spec 1.3): the container's processes run with the NUMA
//! memory policy of the config, seen from inside in /proc/self/numa_maps (every
//! mapping without a policy of its own shows the process's: `interleave:0`,
//! `bind=static:0`, `local`, ...). Exec'd processes have it too. A policy the
//! kernel refuses fails `create` with an error naming the field and the step, and
//! bad configs fail before anything is made.
//!
//! The machine has one NUMA node (0). runc 1.1.5 does not know the field (skipped).

use husk_integration::env::kernel_version;
use husk_integration::{is_husk, is_runc, procfs, require_root, skip, Bundle, Container, Runtime};
use serde_json::{json, Value};

/// Every line of a numa_maps text shows `want` as its policy: the text right
/// after the address (two words for "weighted interleave:N", "prefer (many):N").
fn assert_every_mapping(numa_maps: &str, want: &str) {
    let lines: Vec<&str> = numa_maps.lines().collect();
    assert!(!lines.is_empty(), "no mappings in:\n{numa_maps}");
    for line in lines {
        let after_addr = line.split_once(' ').map(|(_, r)| r).unwrap_or("");
        assert!(
            after_addr == want || after_addr.starts_with(&format!("{want} ")),
            "every mapping should show {want:?}:\n{numa_maps}"
        );
    }
}

/// Run `cat /proc/self/numa_maps` as the container's process with `policy`.
fn numa_maps_of_init(policy: Value) -> String {
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["cat", "/proc/self/numa_maps"]);
    b.config_mut()["linux"]["memoryPolicy"] = policy;
    rt.run_ok(&b)
}

#[test]
fn the_init_runs_with_the_configured_policy() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no linux.memoryPolicy");
    }
    for (policy, shown) in [
        (
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"}),
            "interleave:0",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}),
            "bind=static:0",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]}),
            "bind=balancing:0",
        ),
        (json!({"mode": "MPOL_PREFERRED", "nodes": "0"}), "prefer:0"),
        (json!({"mode": "MPOL_LOCAL"}), "local"),
        (json!({"mode": "MPOL_DEFAULT"}), "default"),
    ] {
        assert_every_mapping(&numa_maps_of_init(policy), shown);
    }
}

#[test]
fn newer_modes_reach_the_kernel() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no linux.memoryPolicy");
    }
    if kernel_version() < (6, 9) {
        skip!("MPOL_WEIGHTED_INTERLEAVE needs Linux 6.9");
    }
    let text = numa_maps_of_init(json!({"mode": "MPOL_WEIGHTED_INTERLEAVE", "nodes": "0"}));
    assert_every_mapping(&text, "weighted interleave:0");
    let text = numa_maps_of_init(json!({"mode": "MPOL_PREFERRED_MANY", "nodes": "0"}));
    assert_every_mapping(&text, "prefer (many):0");
}

#[test]
fn children_and_exec_processes_share_the_policy() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no linux.memoryPolicy");
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["sleep", "60"]);
    b.config_mut()["linux"]["memoryPolicy"] = json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"});
    let c: Container = rt.container(&b);
    c.start_ok();
    assert!(procfs::wait_cmdline_contains(c.pid(), "sleep"));
    let out = rt.cmd(&["exec", c.id(), "sh", "-c", "cat /proc/self/numa_maps"]);
    out.assert_ok();
    assert_every_mapping(&out.stdout, "interleave:0");
}

#[test]
fn a_policy_the_kernel_refuses_fails_create_naming_the_field() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no linux.memoryPolicy");
    }
    let online = std::fs::read_to_string("/sys/devices/system/node/online").unwrap_or_default();
    if online.trim() != "0" {
        skip!("needs a machine whose only NUMA node is 0");
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.config_mut()["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "1"});
    let id = rt.new_id("mempolicy-einval");
    let out = rt.create(&id, &b);
    out.assert_fail();
    if is_husk() {
        assert!(
            out.stderr.contains(
                "linux.memoryPolicy: set_mempolicy(MPOL_BIND, nodes \"1\"): EINVAL: Invalid argument"
            ),
            "{out}"
        );
        assert!(out.stderr.contains("online nodes: 0"), "{out}");
    }
    rt.state_raw(&id).assert_fail();
}

#[test]
fn bad_policies_fail_create_naming_the_field() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no linux.memoryPolicy");
    }
    for (policy, field) in [
        (json!({"mode": "MPOL_BIND"}), "linux.memoryPolicy.nodes"),
        (
            json!({"mode": "MPOL_LOCAL", "nodes": "0"}),
            "linux.memoryPolicy.nodes",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0-x"}),
            "linux.memoryPolicy.nodes",
        ),
        (
            json!({"mode": "MPOL_SOMETIMES", "nodes": "0"}),
            "linux.memoryPolicy.mode",
        ),
        (
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]}),
            "linux.memoryPolicy.flags",
        ),
    ] {
        let rt = Runtime::from_env();
        let mut b = Bundle::new();
        b.args(&["true"]);
        b.config_mut()["linux"]["memoryPolicy"] = policy;
        let id = rt.new_id("mempolicy-bad");
        let out = rt.create(&id, &b);
        out.assert_fail();
        if is_husk() {
            assert!(out.stderr.contains(field), "{out}");
        }
        rt.state_raw(&id).assert_fail();
    }
}
