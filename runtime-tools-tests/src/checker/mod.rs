//! The in-container checker: one module per area of `config.json`.
//!
//! Each module compares configured values with what the kernel reports to this
//! process (proc files, syscalls) and prints one TAP line per property. Checks that
//! depend on host facts use [`HostInfo`] written by the runner.

mod caps;
mod cgroups;
mod devices;
mod kernel;
mod lsm;
mod mounts;
mod namespaces;
mod paths;
mod process;
mod terminal;

use crate::hostinfo::HostInfo;
use crate::tap::Tap;
use serde_json::Value;

/// Runs every check; returns the process exit code (0 when all passed).
pub fn run(config_path: &str, host_path: &str) -> i32 {
    let mut tap = Tap::new();
    let cfg = match read_json(config_path) {
        Ok(v) => v,
        Err(e) => {
            tap.fail("read config", e);
            tap.finish();
            return 1;
        }
    };
    let host = read_json(host_path)
        .map(|v| HostInfo::from_json(&v))
        .unwrap_or_else(|_| HostInfo::from_json(&Value::Null));
    namespaces::check(&cfg, &host, &mut tap);
    kernel::check_uts(&cfg, &mut tap);
    mounts::check(&cfg, &host, &mut tap);
    devices::check(&cfg, &mut tap);
    paths::check(&cfg, &mut tap);
    process::check(&cfg, &mut tap);
    terminal::check(&cfg, &mut tap);
    caps::check(&cfg, &host, &mut tap);
    kernel::check(&cfg, &host, &mut tap);
    cgroups::check(&cfg, &mut tap);
    lsm::check(&cfg, &host, &mut tap);
    if tap.finish() {
        0
    } else {
        1
    }
}

fn read_json(path: &str) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
}

/// The strings of a JSON array (empty when absent).
pub(crate) fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}
