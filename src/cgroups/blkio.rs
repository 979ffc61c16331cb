//! `linux.resources.blockIO` translated into cgroup files, for v1 (the blkio
//! controller) and v2 (the io controller).
//!
//! v1, in runc's order: `weight` -> blkio.weight (blkio.bfq.weight where CFQ is
//! gone and BFQ is the weight provider), `leafWeight` -> blkio.leaf_weight,
//! each `weightDevice` -> blkio.weight_device (or blkio.bfq.weight_device)
//! "major:minor weight" and blkio.leaf_weight_device "major:minor leafWeight",
//! then the throttles -> blkio.throttle.{read,write}_{bps,iops}_device
//! "major:minor rate", one write per device (a rate of 0 removes the rule).
//!
//! v2, runc's conversions: `weight` -> io.bfq.weight as is, else io.weight
//! converted from [10, 1000] onto [1, 10000] (`1 + (w - 10) * 9999 / 990`);
//! `weightDevice[].weight` -> io.bfq.weight "major:minor weight" (runc drops
//! per-device weights without BFQ; husk writes io.weight "major:minor w'" with
//! the same conversion instead); the throttles -> io.max "major:minor rbps=..
//! wbps=.. riops=.. wiops=.." (one line per device here, where runc writes one
//! key per line; the kernel merges both the same way), rates of 0 skipped as
//! runc does. `leafWeight` has no v2 equivalent: ignored with a warning.

use super::Write;
use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};
use std::collections::BTreeMap;

const FIELD: &str = "linux.resources.blockIO";

/// The four throttle lists: spec name, v1 file, v2 io.max key.
fn throttles(
    b: &LinuxBlockIo,
) -> [(
    &'static str,
    &'static str,
    &'static str,
    &[LinuxThrottleDevice],
); 4] {
    [
        (
            "throttleReadBpsDevice",
            "blkio.throttle.read_bps_device",
            "rbps",
            b.throttle_read_bps_device().as_deref().unwrap_or_default(),
        ),
        (
            "throttleWriteBpsDevice",
            "blkio.throttle.write_bps_device",
            "wbps",
            b.throttle_write_bps_device().as_deref().unwrap_or_default(),
        ),
        (
            "throttleReadIOPSDevice",
            "blkio.throttle.read_iops_device",
            "riops",
            b.throttle_read_iops_device().as_deref().unwrap_or_default(),
        ),
        (
            "throttleWriteIOPSDevice",
            "blkio.throttle.write_iops_device",
            "wiops",
            b.throttle_write_iops_device()
                .as_deref()
                .unwrap_or_default(),
        ),
    ]
}

/// The v1 blkio writes for `b`.
pub fn v1_writes(b: &LinuxBlockIo, out: &mut Vec<Write>) {
    if let Some(w) = b.weight() {
        let mut wr = Write::new(format!("{FIELD}.weight"), "blkio", "blkio.weight", w);
        wr.fallback = Some(("blkio.bfq.weight".into(), w.to_string()));
        out.push(wr);
    }
    if let Some(lw) = b.leaf_weight().filter(|w| *w != 0) {
        out.push(Write::new(
            format!("{FIELD}.leafWeight"),
            "blkio",
            "blkio.leaf_weight",
            lw,
        ));
    }
    for (i, wd) in b
        .weight_device()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let dev = format!("{}:{}", wd.major(), wd.minor());
        if let Some(w) = wd.weight().filter(|w| *w != 0) {
            let mut wr = Write::new(
                format!("{FIELD}.weightDevice[{i}].weight"),
                "blkio",
                "blkio.weight_device",
                format!("{dev} {w}"),
            );
            wr.fallback = Some(("blkio.bfq.weight_device".into(), format!("{dev} {w}")));
            out.push(wr);
        }
        if let Some(lw) = wd.leaf_weight().filter(|w| *w != 0) {
            out.push(Write::new(
                format!("{FIELD}.weightDevice[{i}].leafWeight"),
                "blkio",
                "blkio.leaf_weight_device",
                format!("{dev} {lw}"),
            ));
        }
    }
    for (name, file, _, devs) in throttles(b) {
        for (i, t) in devs.iter().enumerate() {
            out.push(Write::new(
                format!("{FIELD}.{name}[{i}]"),
                "blkio",
                file,
                format!("{}:{} {}", t.major(), t.minor(), t.rate()),
            ));
        }
    }
}

/// runc's blkio weight [10, 1000] -> io.weight [1, 10000].
pub fn io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + ((u64::from(weight).max(10) - 10) * 9999) / 990
}

/// The v2 io writes for `b`.
pub fn v2_writes(b: &LinuxBlockIo, out: &mut Vec<Write>) {
    if let Some(w) = b.weight() {
        let mut wr = Write::new(format!("{FIELD}.weight"), "io", "io.bfq.weight", w);
        wr.fallback = Some(("io.weight".into(), io_weight(w).to_string()));
        out.push(wr);
    }
    if b.leaf_weight().is_some() {
        crate::logging::warn(&format!(
            "{FIELD}.leafWeight: no cgroup v2 equivalent; ignored"
        ));
    }
    for (i, wd) in b
        .weight_device()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let dev = format!("{}:{}", wd.major(), wd.minor());
        if let Some(w) = wd.weight().filter(|w| *w != 0) {
            let mut wr = Write::new(
                format!("{FIELD}.weightDevice[{i}].weight"),
                "io",
                "io.bfq.weight",
                format!("{dev} {w}"),
            );
            wr.fallback = Some(("io.weight".into(), format!("{dev} {}", io_weight(w))));
            out.push(wr);
        }
        if wd.leaf_weight().is_some() {
            crate::logging::warn(&format!(
                "{FIELD}.weightDevice[{i}].leafWeight: no cgroup v2 equivalent; ignored"
            ));
        }
    }
    // Per device: the spec fields that contribute and the io.max keys.
    let mut max: BTreeMap<(i64, i64), (Vec<String>, Vec<String>)> = BTreeMap::new();
    for (name, _, key, devs) in throttles(b) {
        for (i, t) in devs.iter().enumerate() {
            if t.rate() == 0 {
                continue;
            }
            let e = max.entry((t.major(), t.minor())).or_default();
            e.0.push(format!("{name}[{i}]"));
            e.1.push(format!("{key}={}", t.rate()));
        }
    }
    for ((major, minor), (fields, keys)) in max {
        out.push(Write::new(
            format!("{FIELD}.{}", fields.join(", ")),
            "io",
            "io.max",
            format!("{major}:{minor} {}", keys.join(" ")),
        ));
    }
}
