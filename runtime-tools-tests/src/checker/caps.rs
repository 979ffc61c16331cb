//! Capabilities: the five sets of `process.capabilities` as the kernel reports them
//! after `execve` of this checker.
//!
//! The runtime sets the configured sets before `execve`; the kernel then transforms
//! them (capabilities(7)): for uid 0, permitted becomes bounding | inheritable and
//! effective follows it; for other uids only ambient survives; no_new_privs caps any
//! gain at the pre-exec permitted set. The checker applies that transformation to the
//! configured sets (limited to what the runtime's bounding set can grant) and compares.

use crate::caps::{mask, names};
use crate::hostinfo::HostInfo;
use crate::procfs;
use crate::tap::Tap;
use serde_json::Value;

/// Checks `process.capabilities`.
pub fn check(cfg: &Value, host: &HostInfo, tap: &mut Tap) {
    let c = &cfg["process"]["capabilities"];
    let last_cap: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    let known = if last_cap >= 63 {
        u64::MAX
    } else {
        (1u64 << (last_cap + 1)) - 1
    };
    let grantable = known & host.cap_bounding;
    let set = |k: &str| mask(super::strings(&c[k])) & grantable;
    // `effective` does not survive execve: uid 0 gets permitted, others ambient.
    let (bnd, inh, prm) = (set("bounding"), set("inheritable"), set("permitted"));
    let amb = set("ambient") & prm & inh;
    let uid = cfg["process"]["user"]["uid"].as_u64().unwrap_or(0);
    let nnp = cfg["process"]["noNewPrivileges"].as_bool().unwrap_or(false);
    let mut p = if uid == 0 { bnd | inh } else { 0 };
    if nnp && p & !prm != 0 {
        p &= prm;
    }
    p |= amb;
    let e = if uid == 0 { p } else { amb };
    let status = procfs::status("self").unwrap_or_default();
    for (key, want) in [
        ("CapBnd", bnd),
        ("CapPrm", p),
        ("CapEff", e),
        ("CapInh", inh),
        ("CapAmb", amb),
    ] {
        let got = status.get(key).and_then(|v| procfs::hex_mask(v));
        let name = format!("capabilities {key} {:?}", names(want));
        match got {
            Some(g) => tap.check(
                g == want,
                name,
                format_args!(
                    "missing {:?}; extra {:?}",
                    names(want & !g),
                    names(g & !want)
                ),
            ),
            None => tap.skip(name, format_args!("no {key} in /proc/self/status")),
        }
    }
}
