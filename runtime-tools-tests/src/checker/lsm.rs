//! Security labels: `process.apparmorProfile` and `process.selinuxLabel`, checked only
//! when the host has the LSM enabled (skipped otherwise).

use crate::hostinfo::HostInfo;
use crate::tap::Tap;
use serde_json::Value;

fn read_attr(paths: &[&str]) -> Option<String> {
    paths.iter().find_map(|p| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim_end_matches(['\0', '\n']).to_string())
    })
}

/// Checks the AppArmor profile and the SELinux label of the process.
pub fn check(cfg: &Value, host: &HostInfo, tap: &mut Tap) {
    if let Some(profile) = cfg["process"]["apparmorProfile"].as_str() {
        let name = format!("apparmorProfile {profile}");
        if !host.apparmor {
            tap.skip(name, "AppArmor is not enabled on the host");
        } else {
            let got = read_attr(&[
                "/proc/self/attr/apparmor/current",
                "/proc/self/attr/current",
            ]);
            let ok = got
                .as_deref()
                .is_some_and(|g| g == profile || g.starts_with(&format!("{profile} (")));
            tap.check(ok, name, format_args!("{got:?}"));
        }
    }
    if let Some(label) = cfg["process"]["selinuxLabel"].as_str() {
        let name = format!("selinuxLabel {label}");
        if !host.selinux {
            tap.skip(name, "SELinux is not enabled on the host");
        } else {
            let got = read_attr(&["/proc/self/attr/current"]);
            tap.eq(name, got.as_deref(), Some(label));
        }
    }
}
