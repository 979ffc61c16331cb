//! `husk events [--stats] [--interval D] ID`: the container's resource usage and
//! OOM notifications as JSON lines, in runc's shape:
//! `{"type":"stats","id":ID,"data":{...}}` and `{"type":"oom","id":ID}`.
//!
//! `--stats` prints one stats event and exits. Otherwise a stats event is printed
//! every interval (a Go duration: `5s`, `500ms`, `1m30s`) and an oom event each
//! time the OOM killer's count in the memory cgroup goes up (polled; v1
//! memory.oom_control, v2 memory.events); the stream ends when the container
//! stops. The container's lock is held only while its state is read.

use crate::cli::EventsArgs;
use crate::commands::{CommandError, Context};
use crate::state::{init_alive, Status};
use serde::Serialize;
use std::io::Write;
use std::time::{Duration, Instant};

/// How often the OOM count and the container's liveness are checked.
const POLL: Duration = Duration::from_millis(100);

#[derive(Serialize)]
struct Event<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<T>,
}

pub fn run(ctx: &Context, args: &EventsArgs) -> Result<i32, CommandError> {
    let interval = parse_go_duration(&args.interval)
        .map_err(|e| CommandError::msg(format!("--interval {:?}: {e}", args.interval)))?;
    if interval.is_zero() {
        return Err(CommandError::msg(
            "--interval: duration interval must be greater than 0",
        ));
    }
    let dir = ctx.store.open(&args.id)?;
    let state = dir.load()?;
    if dir.status(&state) == Status::Stopped {
        return Err(CommandError::msg(format!(
            "container with id {} is not running",
            args.id
        )));
    }
    drop(dir);
    let cg = state
        .cgroup
        .as_ref()
        .ok_or_else(|| CommandError::no_cgroup("events"))?;
    let id = state.id.as_str();
    let mut out = std::io::stdout().lock();
    let mut emit = |kind: &str, data: Option<crate::cgroups::stats::Stats>| {
        let line = serde_json::to_string(&Event { kind, id, data }).expect("serializes");
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(CommandError::io("writing stdout"))
    };
    if args.stats {
        emit("stats", Some(cg.stats()?))?;
        return Ok(0);
    }
    let mut ooms = cg.oom_kills().unwrap_or(0);
    let mut next_stats = Instant::now() + interval;
    loop {
        let now = Instant::now();
        std::thread::sleep(next_stats.saturating_duration_since(now).min(POLL));
        // Liveness first: an OOM kill that ends the container is counted before
        // the init dies, so the count read below still includes it.
        let alive = init_alive(state.pid, state.init_start_time);
        if let Some(n) = cg.oom_kills() {
            for _ in ooms..n {
                emit("oom", None)?;
            }
            ooms = ooms.max(n);
        }
        if !alive {
            return Ok(0);
        }
        if Instant::now() >= next_stats {
            match cg.stats() {
                Ok(s) => emit("stats", Some(s))?,
                // As runc: a failed read is logged and the stream goes on.
                Err(e) => crate::logging::error(&format!("events {id}: {e}")),
            }
            next_stats += interval;
        }
    }
}

/// Go's time.ParseDuration: a sequence of decimal numbers, each with an optional
/// fraction and a unit (ns, us, µs, ms, s, m, h), e.g. `1h30m`, `1.5s`; `0` alone.
/// Negative durations are refused.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if s.starts_with('-') {
        return Err("negative duration".into());
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("missing unit in duration {s:?}")),
            u => return Err(format!("unknown unit {u:?} in duration {s:?}")),
        };
        total += num * nanos;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ms = Duration::from_millis;
        assert_eq!(parse_go_duration("5s").unwrap(), ms(5000));
        assert_eq!(parse_go_duration("500ms").unwrap(), ms(500));
        assert_eq!(parse_go_duration("1m30s").unwrap(), ms(90_000));
        assert_eq!(parse_go_duration("1.5h").unwrap(), ms(5_400_000));
        assert_eq!(
            parse_go_duration("250us").unwrap(),
            Duration::from_micros(250)
        );
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "5", "1x", "-1s", "s", "1..2s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn event_shapes() {
        let oom = Event::<()> {
            kind: "oom",
            id: "c1",
            data: None,
        };
        assert_eq!(
            serde_json::to_string(&oom).unwrap(),
            r#"{"type":"oom","id":"c1"}"#
        );
        let stats = Event {
            kind: "stats",
            id: "c1",
            data: Some(crate::cgroups::stats::Stats::default()),
        };
        let v: serde_json::Value = serde_json::to_value(&stats).unwrap();
        assert_eq!(v["type"], "stats");
        assert!(v["data"]["memory"]["usage"].is_object());
    }
}
