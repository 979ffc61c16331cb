//! `husk update ID`: change the resource limits of a running container. The new
//! values come from `--resources FILE` (a `linux.resources` JSON object; `-` reads
//! stdin; other flags are then ignored, as runc) or from runc's flags
//! (`--memory 64m`, `--cpu-quota`, `--pids-limit`, ...). Only the given values are
//! written, through the cgroup manager; device rules are left as they are.

use crate::cli::UpdateArgs;
use crate::commands::{CommandError, Context};
use crate::state::Status;
use oci_spec::runtime::LinuxResources;
use serde_json::{json, Map, Value};
use std::io::Read;

pub fn run(ctx: &Context, args: &UpdateArgs) -> Result<i32, CommandError> {
    let resources = match &args.resources {
        Some(file) => read_resources(file)?,
        None => from_flags(args)?,
    };
    let dir = ctx.store.open(&args.id)?;
    let state = dir.load()?;
    if dir.status(&state) == Status::Stopped {
        return Err(CommandError::msg("cannot update a stopped container"));
    }
    let cg = state
        .cgroup
        .as_ref()
        .ok_or_else(|| CommandError::no_cgroup("update"))?;
    if let Some(unit) = &state.systemd {
        // The unit's properties first (systemd rewrites the files from them), then
        // the files, for what systemd has no property for.
        crate::cgroups::systemd::update(unit, &resources, cg.version)?;
    }
    cg.update(&resources)?;
    Ok(0)
}

/// A LinuxResources JSON object from `file` (`-`: stdin).
fn read_resources(file: &str) -> Result<LinuxResources, CommandError> {
    let mut text = String::new();
    if file == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(CommandError::io("--resources -: reading stdin"))?;
    } else {
        text = std::fs::read_to_string(file)
            .map_err(CommandError::io(format!("--resources {file}: reading")))?;
    }
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de)
        .map_err(|e| CommandError::msg(format!("--resources {file}: {e}")))
}

/// The resources runc's update flags describe; unset flags leave values unset.
fn from_flags(a: &UpdateArgs) -> Result<LinuxResources, CommandError> {
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        return Err(CommandError::msg(
            "--l3-cache-schema / --mem-bw-schema: Intel RDT is not supported by husk",
        ));
    }
    let mut memory = Map::new();
    for (key, flag, value) in [
        ("limit", "--memory", &a.memory),
        ("reservation", "--memory-reservation", &a.memory_reservation),
        ("swap", "--memory-swap", &a.memory_swap),
        ("kernel", "--kernel-memory", &a.kernel_memory),
        ("kernelTCP", "--kernel-memory-tcp", &a.kernel_memory_tcp),
    ] {
        if let Some(v) = value {
            let bytes = ram_in_bytes(v).map_err(|e| CommandError::msg(format!("{flag}: {e}")))?;
            memory.insert(key.into(), json!(bytes));
        }
    }
    let mut cpu = Map::new();
    let mut put = |key: &str, v: Option<Value>| {
        if let Some(v) = v {
            cpu.insert(key.into(), v);
        }
    };
    put("shares", a.cpu_share.map(|v| json!(v)));
    put("quota", a.cpu_quota.map(|v| json!(v)));
    put("period", a.cpu_period.map(|v| json!(v)));
    put("realtimeRuntime", a.cpu_rt_runtime.map(|v| json!(v)));
    put("realtimePeriod", a.cpu_rt_period.map(|v| json!(v)));
    put("cpus", a.cpuset_cpus.as_ref().map(|v| json!(v)));
    put("mems", a.cpuset_mems.as_ref().map(|v| json!(v)));
    let mut r = Map::new();
    if !memory.is_empty() {
        r.insert("memory".into(), Value::Object(memory));
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(w) = a.blkio_weight.filter(|w| *w != 0) {
        r.insert("blockIO".into(), json!({ "weight": w }));
    }
    if let Some(p) = a.pids_limit.filter(|p| *p != 0) {
        r.insert("pids".into(), json!({ "limit": p }));
    }
    serde_json::from_value(Value::Object(r))
        .map_err(|e| CommandError::msg(format!("update flags: {e}")))
}

/// A memory size as runc's flags take it (go-units RAMInBytes): a number with an
/// optional fraction, an optional space and an optional binary unit k/m/g/t/p
/// (any case, optionally followed by `i` and/or `b`): `64m`, `1.5GiB`, `512 kb`.
/// `-1` means unlimited.
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if t == "-1" {
        return Ok(-1);
    }
    let bad = || format!("invalid size {s:?} (examples: 1048576, 64m, 1g, -1)");
    let mut rest = t;
    if let Some(r) = rest.strip_suffix(['b', 'B']) {
        rest = r;
    }
    if let Some(r) = rest.strip_suffix(['i', 'I']) {
        rest = r;
    }
    let mut mult: f64 = 1.0;
    if let Some(c) = rest.chars().last() {
        let shift = match c.to_ascii_lowercase() {
            'k' => Some(10),
            'm' => Some(20),
            'g' => Some(30),
            't' => Some(40),
            'p' => Some(50),
            _ => None,
        };
        if let Some(shift) = shift {
            mult = (1u64 << shift) as f64;
            rest = rest[..rest.len() - 1].trim_end_matches(' ');
        } else if rest.len() != t.len() && !c.is_ascii_digit() {
            return Err(bad());
        }
    }
    if rest.is_empty()
        || !rest.chars().all(|c| c.is_ascii_digit() || c == '.')
        || rest.starts_with('.')
        || rest.ends_with('.')
    {
        return Err(bad());
    }
    let n: f64 = rest.parse().map_err(|_| bad())?;
    let v = n * mult;
    if v > i64::MAX as f64 {
        return Err(format!("size {s:?} is too large"));
    }
    Ok(v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_go_units() {
        assert_eq!(ram_in_bytes("1048576").unwrap(), 1 << 20);
        assert_eq!(ram_in_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(ram_in_bytes("64M").unwrap(), 64 << 20);
        assert_eq!(ram_in_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(ram_in_bytes("1GiB").unwrap(), 1 << 30);
        assert_eq!(ram_in_bytes("512 kb").unwrap(), 512 << 10);
        assert_eq!(ram_in_bytes("1.5k").unwrap(), 1536);
        assert_eq!(ram_in_bytes("10b").unwrap(), 10);
        assert_eq!(ram_in_bytes("-1").unwrap(), -1);
        for bad in ["", "m", "12x", "-2", "1..5m", "1mm", "abc"] {
            assert!(ram_in_bytes(bad).is_err(), "{bad:?}");
        }
    }

    fn args(flags: &[&str]) -> UpdateArgs {
        use clap::Parser;
        let mut argv = vec!["husk", "update"];
        argv.extend_from_slice(flags);
        argv.push("c1");
        match crate::cli::Cli::parse_from(argv).command {
            Some(crate::cli::Command::Update(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_to_resources() {
        let a = args(&[
            "--memory",
            "64m",
            "--memory-swap",
            "-1",
            "--cpu-share",
            "256",
            "--cpu-quota",
            "20000",
            "--cpu-period",
            "100000",
            "--cpuset-cpus",
            "0",
            "--pids-limit",
            "42",
            "--blkio-weight",
            "300",
        ]);
        let r = from_flags(&a).unwrap();
        let m = r.memory().as_ref().unwrap();
        assert_eq!(m.limit(), Some(64 << 20));
        assert_eq!(m.swap(), Some(-1));
        assert_eq!(m.reservation(), None);
        let c = r.cpu().as_ref().unwrap();
        assert_eq!(c.shares(), Some(256));
        assert_eq!(c.quota(), Some(20000));
        assert_eq!(c.period(), Some(100000));
        assert_eq!(c.cpus().as_deref(), Some("0"));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 42);
        assert_eq!(r.block_io().as_ref().unwrap().weight(), Some(300));
        // --cpu-shares is accepted too.
        let r = from_flags(&args(&["--cpu-shares", "2"])).unwrap();
        assert_eq!(r.cpu().as_ref().unwrap().shares(), Some(2));
        assert!(r.memory().is_none() && r.pids().is_none());
    }

    #[test]
    fn bad_size_names_the_flag() {
        let e = from_flags(&args(&["--memory", "12x"])).unwrap_err();
        assert!(e.to_string().starts_with("--memory: invalid size"), "{e}");
    }
}
