//! Loading a bundle: read `config.json` (errors name the JSON path of the bad
//! field), resolve `root.path`, and validate the config against itself before
//! anything is created.

use crate::linux::namespaces::{NamespaceError, NamespacePlan};
use crate::linux::{cpu_affinity, memory_policy, net_devices, rlimits, sysctl, user};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("bundle {dir}: {source}")]
    Dir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("config.json: cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config.json: {0}")]
    Parse(String),
    #[error("{field}: {msg}")]
    Invalid { field: String, msg: String },
    #[error("root.path: {path}: {source}")]
    Rootfs {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    #[error(transparent)]
    Rlimit(#[from] rlimits::RlimitError),
    #[error(transparent)]
    Sysctl(#[from] sysctl::SysctlError),
    #[error(transparent)]
    User(#[from] user::UserError),
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error(transparent)]
    CpuAffinity(#[from] cpu_affinity::AffinityError),
    #[error(transparent)]
    MemoryPolicy(#[from] memory_policy::MemoryPolicyError),
    #[error(transparent)]
    NetDevices(#[from] net_devices::NetDevicesError),
}

fn invalid(field: &str, msg: impl Into<String>) -> BundleError {
    BundleError::Invalid {
        field: field.to_string(),
        msg: msg.into(),
    }
}

/// A loaded, validated bundle.
#[derive(Debug)]
pub struct Bundle {
    /// Absolute path of the bundle directory.
    pub dir: PathBuf,
    /// Absolute, canonical path of the root filesystem.
    pub rootfs: PathBuf,
    pub spec: Spec,
    pub namespaces: NamespacePlan,
    /// `linux.seccomp`, compiled before the clone; the init only installs it.
    pub seccomp: Option<crate::seccomp::Program>,
    /// `linux.memoryPolicy`, checked; the init and exec'd processes set it.
    pub memory_policy: Option<memory_policy::Policy>,
}

/// Parse config.json text; a bad field is reported by its JSON path, e.g.
/// `process.rlimits[2].type: unknown variant "RLIMIT_FOO"`.
pub fn parse(text: &str) -> Result<Spec, BundleError> {
    parse_noting_unknown(text).map(|(spec, _)| spec)
}

/// `parse`, and the JSON paths of the properties husk does not know: ignored as
/// the spec requires, but named (a misspelled `throttleReadIopsDevice` must not
/// vanish silently).
pub fn parse_noting_unknown(text: &str) -> Result<(Spec, Vec<String>), BundleError> {
    let mut unknown = Vec::new();
    let mut note = |path: serde_ignored::Path| unknown.push(json_path(&path.to_string()));
    let parsed = deserialize(serde_ignored::Deserializer::new(
        &mut serde_json::Deserializer::from_str(text),
        &mut note,
    ));
    match parsed {
        Ok(spec) => Ok((spec, unknown)),
        Err(e) => retry_parse(text, e).map(|spec| (spec, unknown)),
    }
}

/// serde_ignored's path (`linux.?.mounts.3.x`: `?` for an Option) as the
/// spec's JSON path (`linux.mounts[3].x`).
fn json_path(ignored: &str) -> String {
    let mut out = String::new();
    for seg in ignored.split('.').filter(|s| *s != "?") {
        if seg.parse::<usize>().is_ok() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// The second chance of a failed first parse (`parse_again`) or its error.
fn retry_parse(text: &str, first: (String, String)) -> Result<Spec, BundleError> {
    match first {
        (path, _) if path.starts_with("process.execCPUAffinity.") => parse_again(text),
        (path, msg) if path == "process" && msg.starts_with("missing field `user`") => {
            parse_again(text)
        }
        other => Err(parse_error(other)),
    }
}

/// oci-spec refuses an empty `process.execCPUAffinity` list, which the spec
/// allows, and a `process` without `user`, which runc takes as uid 0, gid 0:
/// parse once more without the empty lists and with that user.
fn parse_again(text: &str) -> Result<Spec, BundleError> {
    let mut value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| BundleError::Parse(e.to_string()))?;
    if let Some(process) = value.get_mut("process") {
        cpu_affinity::drop_empty_lists(process);
        if let Some(obj) = process.as_object_mut() {
            obj.entry("user")
                .or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
        }
    }
    deserialize(value).map_err(parse_error)
}

/// Deserialize a Spec, keeping the JSON path of a failure: (path, error).
fn deserialize<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Spec, (String, String)> {
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        (path, e.into_inner().to_string())
    })
}

fn parse_error((path, inner): (String, String)) -> BundleError {
    if path == "." || path.is_empty() {
        BundleError::Parse(inner)
    } else {
        BundleError::Parse(format!("{path}: {inner}"))
    }
}

/// Load the bundle in `dir` (relative to the current directory); properties
/// husk does not know are named in warnings.
pub fn load(dir: &Path) -> Result<Bundle, BundleError> {
    load_with(dir, true)
}

/// `load` without the warnings (an `exec` reading the config `create` warned of).
pub fn load_quiet(dir: &Path) -> Result<Bundle, BundleError> {
    load_with(dir, false)
}

fn load_with(dir: &Path, warn_unknown: bool) -> Result<Bundle, BundleError> {
    let dir = std::path::absolute(dir).map_err(|source| BundleError::Dir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let config = dir.join("config.json");
    let text = std::fs::read_to_string(&config).map_err(|source| BundleError::Read {
        path: config.clone(),
        source,
    })?;
    let (spec, unknown) = parse_noting_unknown(&text)?;
    for path in unknown.into_iter().filter(|_| warn_unknown) {
        crate::logging::warn(&format!(
            "config.json: unknown property {path} ignored (misspelled, or newer than husk?)"
        ));
    }
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| invalid("root", "missing"))?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        dir.join(root.path())
    };
    let rootfs = rootfs
        .canonicalize()
        .map_err(|source| BundleError::Rootfs {
            path: rootfs.clone(),
            source,
        })?;
    if !rootfs.is_dir() {
        return Err(invalid(
            "root.path",
            format!("{} is not a directory", rootfs.display()),
        ));
    }
    let namespaces = validate(&spec)?;
    let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Some(crate::seccomp::compile(s)?),
        None => None,
    };
    let memory_policy = spec
        .linux()
        .as_ref()
        .and_then(|l| l.memory_policy().as_ref())
        .map(memory_policy::validate)
        .transpose()?;
    Ok(Bundle {
        dir,
        rootfs,
        spec,
        namespaces,
        seccomp,
        memory_policy,
    })
}

/// Everything that can be checked without touching the system.
pub fn validate(spec: &Spec) -> Result<NamespacePlan, BundleError> {
    crate::hooks::validate(spec)?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("process", "missing (required by create)"))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(invalid("process.args", "must name the program to run"));
    }
    if !process.cwd().is_absolute() {
        return Err(invalid(
            "process.cwd",
            format!("must be an absolute path, got {:?}", process.cwd()),
        ));
    }
    if let Some(r) = process.rlimits() {
        rlimits::validate(r)?;
    }
    // Only exec'd processes use it, but a bad list is an error in the config.
    cpu_affinity::plan(process.exec_cpu_affinity().as_ref())?;
    let linux = spec.linux().as_ref();
    let plan = NamespacePlan::from_spec(
        linux
            .and_then(|l| l.namespaces().as_deref())
            .unwrap_or_default(),
    )?;
    if plan.creates(LinuxNamespaceType::User) {
        let uids = linux
            .and_then(|l| l.uid_mappings().as_deref())
            .unwrap_or_default();
        let gids = linux
            .and_then(|l| l.gid_mappings().as_deref())
            .unwrap_or_default();
        if uids.is_empty() || gids.is_empty() {
            return Err(invalid(
                "linux.uidMappings",
                "a new user namespace needs uidMappings and gidMappings",
            ));
        }
        user::validate_maps("uidMappings", uids)?;
        user::validate_maps("gidMappings", gids)?;
    } else if linux.is_some_and(|l| {
        l.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || l.gid_mappings().as_ref().is_some_and(|m| !m.is_empty())
    }) && !plan.joins(LinuxNamespaceType::User)
    {
        return Err(invalid(
            "linux.uidMappings",
            "mappings are set but linux.namespaces has no user namespace",
        ));
    }
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !plan.has(LinuxNamespaceType::Uts)
    {
        return Err(invalid(
            "hostname",
            "needs a uts namespace of the container's own",
        ));
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty())
        && !plan.has(LinuxNamespaceType::Uts)
    {
        return Err(invalid(
            "domainname",
            "needs a uts namespace of the container's own",
        ));
    }
    if let Some(s) = linux.and_then(|l| l.sysctl().as_ref()) {
        sysctl::validate(
            s,
            plan.has(LinuxNamespaceType::Network),
            plan.has(LinuxNamespaceType::Ipc),
            plan.has(LinuxNamespaceType::Uts),
        )?;
    }
    if let Some(d) = linux.and_then(|l| l.net_devices().as_ref()) {
        net_devices::validate(d, plan.has(LinuxNamespaceType::Network))?;
    }
    if let Some(p) = linux.and_then(|l| l.memory_policy().as_ref()) {
        memory_policy::validate(p)?;
    }
    if let Some(offsets) = linux.and_then(|l| l.time_offsets().as_ref()) {
        if !offsets.is_empty() && !plan.creates(LinuxNamespaceType::Time) {
            return Err(invalid(
                "linux.timeOffsets",
                "needs a new time namespace in linux.namespaces",
            ));
        }
        for clock in offsets.keys() {
            if clock != "monotonic" && clock != "boottime" {
                return Err(invalid(
                    &format!("linux.timeOffsets.{clock}"),
                    "unknown clock (monotonic or boottime)",
                ));
            }
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.3.0",
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "root": {"path": "rootfs"},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
        })
    }

    fn check(v: serde_json::Value) -> Result<NamespacePlan, BundleError> {
        validate(&parse(&v.to_string())?)
    }

    #[test]
    fn unknown_rlimit_names_the_field() {
        let mut v = base();
        v["process"]["rlimits"] = serde_json::json!([
            {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1},
            {"type": "RLIMIT_FOO", "soft": 1, "hard": 1}
        ]);
        let e = check(v).unwrap_err().to_string();
        assert!(
            e.starts_with("config.json: process.rlimits[1].type: unknown variant"),
            "{e}"
        );
        assert!(e.contains("RLIMIT_FOO"), "{e}");
    }

    #[test]
    fn unknown_namespace_names_the_field() {
        let mut v = base();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}, {"type": "bogus"}]);
        let e = check(v).unwrap_err().to_string();
        assert!(e.contains("linux.namespaces[1].type"), "{e}");
    }

    #[test]
    fn relative_cwd_is_rejected() {
        let mut v = base();
        v["process"]["cwd"] = "tmp".into();
        let e = check(v).unwrap_err().to_string();
        assert!(
            e.starts_with("process.cwd: must be an absolute path"),
            "{e}"
        );
    }

    #[test]
    fn userns_without_mappings_is_rejected() {
        let mut v = base();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "user"}]);
        assert!(check(v)
            .unwrap_err()
            .to_string()
            .starts_with("linux.uidMappings"));
    }

    #[test]
    fn hostname_needs_uts() {
        let mut v = base();
        v["hostname"] = "x".into();
        assert!(check(v).unwrap_err().to_string().starts_with("hostname:"));
    }

    #[test]
    fn exec_cpu_affinity_lists_are_checked() {
        let mut v = base();
        v["process"]["execCPUAffinity"] = serde_json::json!({"initial": "0", "final": "2-1"});
        let e = check(v).unwrap_err().to_string();
        assert!(e.starts_with("process.execCPUAffinity.final: range"), "{e}");
        let mut v = base();
        v["process"]["execCPUAffinity"] = serde_json::json!({"initial": "0-x"});
        let e = check(v).unwrap_err().to_string();
        assert!(
            e.starts_with("config.json: process.execCPUAffinity.initial: "),
            "{e}"
        );
    }

    #[test]
    fn empty_exec_cpu_affinity_lists_mean_unset() {
        let mut v = base();
        v["process"]["execCPUAffinity"] = serde_json::json!({"initial": "", "final": "0"});
        let spec = parse(&v.to_string()).unwrap();
        let a = spec.process().as_ref().unwrap().exec_cpu_affinity().clone();
        assert_eq!(a.as_ref().unwrap().initial(), &None);
        assert!(check(v).is_ok());
    }

    #[test]
    fn memory_policy_is_checked() {
        let mut v = base();
        v["linux"]["memoryPolicy"] = serde_json::json!({"mode": "MPOL_BIND"});
        let e = check(v).unwrap_err().to_string();
        assert_eq!(
            e,
            "linux.memoryPolicy.nodes: MPOL_BIND needs at least one node"
        );
        let mut v = base();
        v["linux"]["memoryPolicy"] = serde_json::json!({"mode": "MPOL_FOO"});
        let e = check(v).unwrap_err().to_string();
        assert!(
            e.starts_with("config.json: linux.memoryPolicy.mode: unknown variant"),
            "{e}"
        );
    }

    #[test]
    fn net_devices_need_a_network_namespace() {
        let mut v = base();
        v["linux"]["netDevices"] = serde_json::json!({"hv0": {"name": "eth1"}});
        let e = check(v.clone()).unwrap_err().to_string();
        assert!(
            e.starts_with("linux.netDevices: needs a network namespace"),
            "{e}"
        );
        v["linux"]["namespaces"] = serde_json::json!([{"type": "network"}]);
        assert!(check(v).is_ok());
    }

    #[test]
    fn a_process_without_user_runs_as_root() {
        let mut v = base();
        v["process"].as_object_mut().unwrap().remove("user");
        let spec = parse(&v.to_string()).unwrap();
        let user = spec.process().as_ref().unwrap().user().clone();
        assert_eq!((user.uid(), user.gid()), (0, 0));
    }

    #[test]
    fn unknown_properties_are_named() {
        let mut v = base();
        v["linux"]["resources"] = serde_json::json!({
            "blockIO": {"throttleReadIopsDevice": [], "weight": 10}
        });
        v["process"]["bogusField"] = 1.into();
        let (_, unknown) = parse_noting_unknown(&v.to_string()).unwrap();
        assert_eq!(
            unknown,
            [
                "linux.resources.blockIO.throttleReadIopsDevice",
                "process.bogusField"
            ]
        );
        assert_eq!(json_path("mounts.?.3.?.bogus"), "mounts[3].bogus");
        let (_, none) = parse_noting_unknown(&base().to_string()).unwrap();
        assert!(none.is_empty(), "{none:?}");
    }

    #[test]
    fn invalid_json_is_reported() {
        assert!(parse("{")
            .unwrap_err()
            .to_string()
            .starts_with("config.json:"));
    }
}
