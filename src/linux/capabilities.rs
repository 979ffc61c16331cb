//! `process.capabilities`: the five capability sets (bounding, effective,
//! permitted, inheritable, ambient), applied in init after the uid/gid switch.

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum CapabilityError {
    #[error("process.capabilities.{set}: unknown capability {name}")]
    Unknown { set: &'static str, name: String },
    #[error("process.capabilities.bounding: drop {cap}: {source}")]
    DropBounding { cap: String, source: nix::Error },
    #[error("process.capabilities: capset (effective, permitted, inheritable): {0}")]
    Capset(nix::Error),
    #[error("process.capabilities: prctl PR_SET_KEEPCAPS: {0}")]
    KeepCaps(nix::Error),
}

/// The capability sets as kernel bitmasks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CapMasks {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

/// The kernel's number of a capability, from its spec name.
pub fn cap_number(cap: &Capability) -> Option<u32> {
    let name = format!("CAP_{cap}");
    caps::Capability::from_str(&name)
        .ok()
        .map(|c| c.index() as u32)
}

fn mask(set: &'static str, caps: &Option<Capabilities>) -> Result<u64, CapabilityError> {
    let mut m = 0u64;
    for cap in caps.iter().flatten() {
        let n = cap_number(cap).ok_or_else(|| CapabilityError::Unknown {
            set,
            name: format!("CAP_{cap}"),
        })?;
        m |= 1u64 << n;
    }
    Ok(m)
}

/// Translate the spec's sets into masks, limited to what this kernel knows
/// (capabilities newer than the kernel are ignored, as runc does).
pub fn masks(spec: &LinuxCapabilities) -> Result<CapMasks, CapabilityError> {
    let known = known_mask();
    Ok(CapMasks {
        bounding: mask("bounding", spec.bounding())? & known,
        effective: mask("effective", spec.effective())? & known,
        permitted: mask("permitted", spec.permitted())? & known,
        inheritable: mask("inheritable", spec.inheritable())? & known,
        ambient: mask("ambient", spec.ambient())? & known,
    })
}

/// Every capability this kernel knows (0..=cap_last_cap).
pub fn known_mask() -> u64 {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(40)
        .min(63);
    if last == 63 {
        u64::MAX
    } else {
        (1u64 << (last + 1)) - 1
    }
}

/// Drop every capability not in `bounding` from the bounding set (needs CAP_SETPCAP).
pub fn drop_bounding(bounding: u64) -> Result<(), CapabilityError> {
    let known = known_mask();
    for n in 0..64u32 {
        if known & (1 << n) == 0 || bounding & (1 << n) != 0 {
            continue;
        }
        // SAFETY: prctl with integer arguments only.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, n as libc::c_ulong, 0, 0, 0) };
        if rc != 0 {
            let err = nix::Error::last();
            if err == nix::Error::EINVAL {
                continue;
            }
            return Err(CapabilityError::DropBounding {
                cap: format!("{n}"),
                source: err,
            });
        }
    }
    Ok(())
}

/// Keep the permitted set across the setuid that follows.
pub fn keep_caps(on: bool) -> Result<(), CapabilityError> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, on as libc::c_ulong, 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(CapabilityError::KeepCaps(nix::Error::last()))
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Set effective, permitted and inheritable in one capset, then the ambient set
/// (raising an ambient capability that is not permitted and inheritable is
/// skipped, as runc does).
pub fn apply_sets(m: &CapMasks) -> Result<(), CapabilityError> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: m.effective as u32,
            permitted: m.permitted as u32,
            inheritable: m.inheritable as u32,
        },
        CapData {
            effective: (m.effective >> 32) as u32,
            permitted: (m.permitted >> 32) as u32,
            inheritable: (m.inheritable >> 32) as u32,
        },
    ];
    // SAFETY: header and data are valid, correctly laid out v3 capset arguments.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    if rc != 0 {
        return Err(CapabilityError::Capset(nix::Error::last()));
    }
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
    }
    for n in 0..64u32 {
        if m.ambient & (1 << n) != 0 {
            // SAFETY: prctl with integer arguments only; failure is tolerated.
            unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE,
                    n as libc::c_ulong,
                    0,
                    0,
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_from_names() {
        let spec: LinuxCapabilities = serde_json::from_value(serde_json::json!({
            "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_KILL"]
        }))
        .unwrap();
        let m = masks(&spec).unwrap();
        assert_eq!(m.bounding, (1 << 5) | (1 << 10));
        assert_eq!(m.effective, 1 << 5);
        assert_eq!(m.permitted, 0);
    }

    #[test]
    fn unknown_name_fails_to_parse() {
        let r: Result<LinuxCapabilities, _> =
            serde_json::from_value(serde_json::json!({"bounding": ["CAP_FOO"]}));
        assert!(r.is_err());
    }
}
