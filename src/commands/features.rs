//! `husk features`: what this husk supports, as the JSON of the runtime spec's
//! features.md (containerd reads it, e.g. for id-mapped mounts).

use crate::commands::CommandError;

/// Every mount option husk understands (flags, propagation, recursive attributes,
/// extensions); anything else in `mounts[].options` is passed as filesystem data.
pub const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "idmap",
    "lazytime",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "notmpcopyup",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "ridmap",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

const SECCOMP_ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];

const SECCOMP_OPERATORS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];

const SECCOMP_ARCHS: &[&str] = &[
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
];

/// The features document.
pub fn features() -> serde_json::Value {
    let caps: Vec<String> = {
        let mut c: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
        c.sort();
        c
    };
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.3.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": false, "rdma": true},
            "seccomp": {
                "enabled": true,
                "actions": SECCOMP_ACTIONS,
                "operators": SECCOMP_OPERATORS,
                "archs": SECCOMP_ARCHS,
                "knownFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
                "supportedFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": true}},
            "netDevices": {"enabled": true},
            "memoryPolicy": {
                "modes": crate::linux::memory_policy::MODES,
                "flags": crate::linux::memory_policy::FLAGS
            }
        },
        "annotations": {
            "org.opencontainers.runtime.husk.version": env!("CARGO_PKG_VERSION")
        }
    })
}

pub fn run() -> Result<i32, CommandError> {
    println!(
        "{}",
        serde_json::to_string_pretty(&features()).expect("features serialize")
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_mount_option_is_understood_not_passed_as_data() {
        for o in MOUNT_OPTIONS {
            if *o == "defaults" {
                continue;
            }
            let parsed = crate::linux::mount_options::parse_options(&[*o]);
            assert_eq!(parsed.data, "", "{o} would reach the filesystem as data");
        }
    }

    #[test]
    fn document_has_the_spec_fields() {
        let f = features();
        assert_eq!(f["ociVersionMax"], "1.3.0");
        assert!(f["linux"]["namespaces"].as_array().unwrap().len() == 8);
        assert_eq!(
            f["linux"]["memoryPolicy"]["modes"]
                .as_array()
                .unwrap()
                .len(),
            7
        );
        assert_eq!(
            f["linux"]["memoryPolicy"]["flags"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        assert_eq!(f["linux"]["netDevices"]["enabled"], true);
        assert!(f["linux"]["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "CAP_SYS_ADMIN"));
    }
}
