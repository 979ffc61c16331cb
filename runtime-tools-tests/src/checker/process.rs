//! Process attributes: cwd, args, env, user (uid, gid, additionalGids, umask), rlimits,
//! noNewPrivileges and oomScoreAdj.

use crate::procfs;
use crate::tap::Tap;
use serde_json::Value;
use std::collections::BTreeSet;

/// `RLIMIT_*` names of getrlimit(2), indexed by resource number.
pub const RLIMITS: [&str; 16] = [
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_DATA",
    "RLIMIT_STACK",
    "RLIMIT_CORE",
    "RLIMIT_RSS",
    "RLIMIT_NPROC",
    "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",
    "RLIMIT_AS",
    "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
];

/// Checks the `process` object except capabilities.
pub fn check(cfg: &Value, tap: &mut Tap) {
    let p = &cfg["process"];
    if let Some(cwd) = p["cwd"].as_str() {
        let got = std::env::current_dir().map(|d| d.to_string_lossy().into_owned());
        tap.check(
            got.as_deref().ok() == Some(cwd),
            format!("cwd {cwd}"),
            format_args!("{got:?}"),
        );
    }
    let want: Vec<&str> = super::strings(&p["args"]);
    if !want.is_empty() {
        let got: Vec<String> = std::env::args().collect();
        tap.eq("args", got.iter().map(String::as_str).collect(), want);
    }
    check_env(p, tap);
    let status = procfs::status("self").unwrap_or_default();
    check_user(&p["user"], &status, tap);
    check_rlimits(p, tap);
    let nnp = p["noNewPrivileges"].as_bool().unwrap_or(false);
    tap.eq(
        format!("noNewPrivileges {nnp}"),
        status.get("NoNewPrivs").map(String::as_str),
        Some(if nnp { "1" } else { "0" }),
    );
    if let Some(adj) = p["oomScoreAdj"].as_i64() {
        let got = std::fs::read_to_string("/proc/self/oom_score_adj")
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok());
        tap.eq(format!("oomScoreAdj {adj}"), got, Some(adj));
    }
}

fn check_env(p: &Value, tap: &mut Tap) {
    let env = super::strings(&p["env"]);
    let missing: Vec<&str> = env
        .iter()
        .filter(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            std::env::var_os(k).as_deref() != Some(std::ffi::OsStr::new(v))
        })
        .copied()
        .collect();
    tap.check(
        missing.is_empty(),
        format!("env: {} configured variables set", env.len()),
        format_args!("missing or different: {missing:?}"),
    );
}

fn ids(status: &std::collections::BTreeMap<String, String>, key: &str) -> Vec<u64> {
    status
        .get(key)
        .map(|v| {
            v.split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn check_user(u: &Value, status: &std::collections::BTreeMap<String, String>, tap: &mut Tap) {
    let uid = u["uid"].as_u64().unwrap_or(0);
    let gid = u["gid"].as_u64().unwrap_or(0);
    tap.eq(
        format!("uid {uid} (real, effective, saved, fs)"),
        ids(status, "Uid"),
        vec![uid; 4],
    );
    tap.eq(
        format!("gid {gid} (real, effective, saved, fs)"),
        ids(status, "Gid"),
        vec![gid; 4],
    );
    let want: BTreeSet<u64> = u["additionalGids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .collect();
    let got: BTreeSet<u64> = ids(status, "Groups").into_iter().collect();
    let extra: Vec<&u64> = got.difference(&want).filter(|g| **g != gid).collect();
    tap.check(
        want.is_subset(&got) && extra.is_empty(),
        format!("additionalGids {want:?}"),
        format_args!("groups {got:?}"),
    );
    if let Some(umask) = u["umask"].as_u64() {
        let got = status
            .get("Umask")
            .and_then(|v| u64::from_str_radix(v, 8).ok());
        tap.eq(format!("umask {umask:o}"), got, Some(umask));
    }
}

fn check_rlimits(p: &Value, tap: &mut Tap) {
    for r in p["rlimits"].as_array().into_iter().flatten() {
        let ty = r["type"].as_str().unwrap_or("");
        let name = format!("rlimit {ty}");
        let Some(res) = RLIMITS.iter().position(|n| *n == ty) else {
            tap.fail(name, "unknown resource");
            continue;
        };
        let mut got = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: prlimit on ourselves with a null new limit only reads into `got`.
        let rc = unsafe { libc::prlimit(0, res as _, std::ptr::null(), &mut got) };
        if rc != 0 {
            tap.fail(name, std::io::Error::last_os_error());
            continue;
        }
        let want = (
            r["soft"].as_u64().unwrap_or(0),
            r["hard"].as_u64().unwrap_or(0),
        );
        tap.eq(name, (got.rlim_cur, got.rlim_max), want);
    }
}
