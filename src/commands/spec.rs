//! `husk spec`: write a default config.json like runc's.
//!
//! The default is `runc spec` (runc 1.1.5) with `ociVersion` "1.3.0" and hostname
//! "husk". `--rootless` applies the same changes as runc's `specconv.ToRootless`: a
//! user namespace mapping the current euid/egid to 0, no network namespace, /sys
//! bind-mounted from the host instead of a new sysfs, no `uid=`/`gid=` mount options
//! and no `linux.resources`.

use serde_json::{json, Value};
use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// The OCI runtime-spec version husk writes into new configurations.
pub const OCI_VERSION: &str = "1.3.0";

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("spec: config.json already exists in {}: remove it first", .0.display())]
    Exists(PathBuf),
    #[error("spec: writing {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The default configuration `husk spec` writes (`rootless` as `runc spec --rootless`).
pub fn default_spec(rootless: bool) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut spec = json!({
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": true,
            "user": { "uid": 0, "gid": 0 },
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
                "ambient": caps
            },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
            "noNewPrivileges": true
        },
        "root": { "path": "rootfs", "readonly": true },
        "hostname": "husk",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            {
                "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]
            },
            {
                "destination": "/dev/pts", "type": "devpts", "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
            },
            {
                "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]
            },
            {
                "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                "options": ["nosuid", "noexec", "nodev"]
            },
            {
                "destination": "/sys", "type": "sysfs", "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"]
            },
            {
                "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]
            }
        ],
        "linux": {
            "resources": { "devices": [{ "allow": false, "access": "rwm" }] },
            "namespaces": [
                { "type": "pid" },
                { "type": "network" },
                { "type": "ipc" },
                { "type": "uts" },
                { "type": "mount" }
            ],
            "maskedPaths": [
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger"
            ]
        }
    });
    if rootless {
        let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
        to_rootless(&mut spec, uid.as_raw(), gid.as_raw());
    }
    spec
}

/// runc's `ToRootless`, applied to the default spec.
fn to_rootless(spec: &mut Value, uid: u32, gid: u32) {
    let linux = &mut spec["linux"];
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network" && n["type"] != "user");
        ns.push(json!({ "type": "user" }));
    }
    if let Some(obj) = linux.as_object_mut() {
        obj.remove("resources");
        obj.insert(
            "uidMappings".into(),
            json!([{ "containerID": 0, "hostID": uid, "size": 1 }]),
        );
        obj.insert(
            "gidMappings".into(),
            json!([{ "containerID": 0, "hostID": gid, "size": 1 }]),
        );
    }
    if let Some(mounts) = spec["mounts"].as_array_mut() {
        for m in mounts.iter_mut() {
            if m["destination"] == "/sys" {
                *m = json!({
                    "destination": "/sys", "type": "none", "source": "/sys",
                    "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]
                });
            } else if let Some(opts) = m.get_mut("options").and_then(Value::as_array_mut) {
                // (`get_mut`, not `m["options"]`: indexing would insert a null.)
                opts.retain(|o| {
                    let o = o.as_str().unwrap_or_default();
                    !o.starts_with("uid=") && !o.starts_with("gid=")
                });
            }
        }
    }
}

/// Write `default_spec` to `bundle/config.json`, refusing to overwrite one.
pub fn run(bundle: &Path, rootless: bool) -> Result<(), SpecError> {
    let path = bundle.join("config.json");
    let mut text = String::new();
    write_pretty(&default_spec(rootless), 0, &mut text);
    text.push('\n');
    let werr = |source| SpecError::Write {
        path: path.clone(),
        source,
    };
    // create_new: the existence check and the creation are one atomic step.
    let mut file = match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            return Err(SpecError::Exists(bundle.to_path_buf()))
        }
        Err(e) => return Err(werr(e)),
    };
    file.write_all(text.as_bytes()).map_err(werr)
}

/// Where a key stands in its object: runc's field order (the order of the Go
/// structs), so `husk spec` output reads like `runc spec` output. Unknown keys
/// come last, alphabetically.
fn key_rank(key: &str) -> usize {
    const ORDER: &[&str] = &[
        "ociVersion",
        "process",
        "terminal",
        "user",
        "uid",
        "gid",
        "args",
        "env",
        "cwd",
        "capabilities",
        "bounding",
        "effective",
        "permitted",
        "ambient",
        "rlimits",
        "noNewPrivileges",
        "root",
        "path",
        "readonly",
        "hostname",
        "mounts",
        "destination",
        "type",
        "source",
        "options",
        "linux",
        "uidMappings",
        "gidMappings",
        "containerID",
        "hostID",
        "size",
        "resources",
        "devices",
        "allow",
        "access",
        "hard",
        "soft",
        "namespaces",
        "maskedPaths",
        "readonlyPaths",
    ];
    ORDER.iter().position(|k| *k == key).unwrap_or(ORDER.len())
}

/// Pretty-print like Go's `json.MarshalIndent(v, "", "\t")`, keys in `key_rank` order.
fn write_pretty(v: &Value, depth: usize, out: &mut String) {
    let indent = |out: &mut String, d: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n('\t', d));
    };
    match v {
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, depth + 1);
                write_pretty(item, depth + 1, out);
            }
            indent(out, depth);
            out.push(']');
        }
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by_key(|k| (key_rank(k), k.as_str()));
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, depth + 1);
                out.push_str(&Value::String(key.clone()).to_string());
                out.push_str(": ");
                write_pretty(&map[key], depth + 1, out);
            }
            indent(out, depth);
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxNamespaceType, Spec};

    fn parse(v: &Value) -> Spec {
        serde_json::from_value(v.clone()).expect("default spec must deserialize with oci-spec")
    }

    fn strs(v: &Value) -> Vec<&str> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect()
    }

    #[test]
    fn default_spec_deserializes() {
        let spec = parse(&default_spec(false));
        assert_eq!(spec.version(), "1.3.0");
        assert_eq!(spec.hostname().as_deref(), Some("husk"));
        assert_eq!(spec.root().as_ref().unwrap().path(), Path::new("rootfs"));
        assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));
        let process = spec.process().as_ref().unwrap();
        assert_eq!(process.terminal(), Some(true));
        assert_eq!(process.args().as_ref().unwrap(), &["sh".to_string()]);
        assert_eq!(process.no_new_privileges(), Some(true));
        let caps = process.capabilities().as_ref().unwrap();
        for set in [
            caps.bounding(),
            caps.effective(),
            caps.permitted(),
            caps.ambient(),
        ] {
            assert_eq!(set.as_ref().unwrap().len(), 3);
        }
        assert!(caps.inheritable().is_none());
        let rl = &process.rlimits().as_ref().unwrap()[0];
        assert_eq!((rl.hard(), rl.soft()), (1024, 1024));
    }

    #[test]
    fn rootless_spec_deserializes() {
        let spec = parse(&default_spec(true));
        let linux = spec.linux().as_ref().unwrap();
        assert!(linux.resources().is_none());
        let uid = &linux.uid_mappings().as_ref().unwrap()[0];
        assert_eq!(uid.container_id(), 0);
        assert_eq!(uid.host_id(), nix::unistd::geteuid().as_raw());
        assert_eq!(uid.size(), 1);
        let gid = &linux.gid_mappings().as_ref().unwrap()[0];
        assert_eq!(gid.host_id(), nix::unistd::getegid().as_raw());
        let types: Vec<_> = linux
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|n| n.typ())
            .collect();
        assert_eq!(
            types,
            [
                LinuxNamespaceType::Pid,
                LinuxNamespaceType::Ipc,
                LinuxNamespaceType::Uts,
                LinuxNamespaceType::Mount,
                LinuxNamespaceType::User
            ]
        );
    }

    #[test]
    fn matches_runc_structure() {
        let v = default_spec(false);
        let dests: Vec<_> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["destination"].as_str().unwrap(),
                    m["type"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            dests,
            [
                ("/proc", "proc"),
                ("/dev", "tmpfs"),
                ("/dev/pts", "devpts"),
                ("/dev/shm", "tmpfs"),
                ("/dev/mqueue", "mqueue"),
                ("/sys", "sysfs"),
                ("/sys/fs/cgroup", "cgroup")
            ]
        );
        assert_eq!(
            strs(&v["mounts"][2]["options"]),
            [
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5"
            ]
        );
        assert_eq!(strs(&v["linux"]["maskedPaths"]).len(), 10);
        assert!(strs(&v["linux"]["maskedPaths"]).contains(&"/sys/firmware"));
        assert_eq!(
            strs(&v["linux"]["readonlyPaths"]),
            [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger"
            ]
        );
        assert_eq!(
            strs(&v["process"]["capabilities"]["bounding"]),
            ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
        );
        assert_eq!(
            v["process"]["rlimits"],
            json!([{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }])
        );
        let ns: Vec<_> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["pid", "network", "ipc", "uts", "mount"]);
        assert_eq!(
            v["linux"]["resources"],
            json!({ "devices": [{ "allow": false, "access": "rwm" }] })
        );
    }

    #[test]
    fn rootless_fixes_up_mounts_like_runc() {
        let v = default_spec(true);
        let sys = &v["mounts"][5];
        assert_eq!(sys["destination"], "/sys");
        assert_eq!(sys["type"], "none");
        assert_eq!(sys["source"], "/sys");
        assert_eq!(
            strs(&sys["options"]),
            ["rbind", "nosuid", "noexec", "nodev", "ro"]
        );
        // No uid=/gid= option survives (devpts loses gid=5).
        for m in v["mounts"].as_array().unwrap() {
            if let Some(opts) = m["options"].as_array() {
                assert!(opts.iter().all(|o| {
                    let o = o.as_str().unwrap();
                    !o.starts_with("gid=") && !o.starts_with("uid=")
                }));
            }
        }
        // runc keeps the (read-only) cgroup mount in the rootless spec too.
        assert_eq!(v["mounts"].as_array().unwrap().len(), 7);
    }

    #[test]
    fn run_writes_tab_indented_json_and_refuses_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        run(dir.path(), false).unwrap();
        let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
        assert!(text.starts_with(
            "{\n\t\"ociVersion\": \"1.3.0\",\n\t\"process\": {\n\t\t\"terminal\": true,"
        ));
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, default_spec(false));

        let err = run(dir.path(), false).unwrap_err();
        assert!(matches!(err, SpecError::Exists(_)));
        let msg = err.to_string();
        assert!(
            msg.starts_with("spec: config.json already exists in "),
            "{msg}"
        );
        // The existing file is untouched.
        let again = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
        assert_eq!(again, text);
    }

    /// Byte-for-byte against the installed runc (skipped without runc), after
    /// replacing the two values husk changes on purpose.
    #[test]
    fn same_text_as_runc_spec() {
        for rootless in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let mut cmd = std::process::Command::new("runc");
            cmd.arg("spec").current_dir(dir.path());
            if rootless {
                cmd.arg("--rootless");
            }
            match cmd.status() {
                Ok(s) if s.success() => {}
                _ => {
                    eprintln!("runc not available: skipping");
                    return;
                }
            }
            let runc = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
            let runc = runc
                .replacen(
                    "\"ociVersion\": \"1.0.2-dev\"",
                    "\"ociVersion\": \"1.3.0\"",
                    1,
                )
                .replacen("\"hostname\": \"runc\"", "\"hostname\": \"husk\"", 1);
            let ours = tempfile::tempdir().unwrap();
            run(ours.path(), rootless).unwrap();
            let ours = std::fs::read_to_string(ours.path().join("config.json")).unwrap();
            assert_eq!(ours.trim_end(), runc.trim_end(), "rootless={rootless}");
        }
    }

    #[test]
    fn run_reports_missing_bundle_dir() {
        let dir = tempfile::tempdir().unwrap();
        let err = run(&dir.path().join("nope"), false).unwrap_err();
        assert!(matches!(err, SpecError::Write { .. }));
        assert!(err.to_string().starts_with("spec: writing "));
    }
}
