//! `husk kill ID [SIGNAL]`: send a signal to the container's init (or, with
//! `--all`, to every process of its cgroup, or of its pid namespace for state
//! written before husk managed cgroups). Signal 0 is the liveness probe: it
//! delivers nothing and succeeds while the container runs.

use crate::cli::KillArgs;
use crate::commands::{CommandError, Context};
use crate::state::{init_alive, State, Status};
use std::os::unix::fs::MetadataExt;
use std::str::FromStr;

pub fn run(ctx: &Context, args: &KillArgs) -> Result<i32, CommandError> {
    let sig = parse_signal(args.signal.as_deref().unwrap_or("SIGTERM"))?;
    let dir = ctx.store.open(&args.id)?;
    let state = dir.load()?;
    let status = dir.status(&state);
    if status == Status::Stopped {
        return Err(CommandError::msg("container not running (status: stopped)"));
    }
    if sig == 0 {
        // kill(2) with signal 0 only checks that the init exists (with --all too:
        // nothing is delivered, so freezing the cgroup to list its pids is moot).
        return signal(state.pid, 0)
            .map(|()| 0)
            .map_err(|e| CommandError::msg(format!("kill {}: {e}", state.pid)));
    }
    if args.all {
        signal_all(&state, sig);
    } else {
        signal(state.pid, sig)
            .map_err(|e| CommandError::msg(format!("kill {}: {e}", state.pid)))?;
        if status == Status::Paused && sig == libc::SIGKILL {
            // A frozen v1 cgroup holds the SIGKILL until it is thawed.
            if let Some(cg) = &state.cgroup {
                cg.thaw()?;
            }
        }
    }
    Ok(0)
}

/// A signal by name (`KILL`, `SIGKILL`, any case) or number (0: no signal, the
/// liveness probe).
pub fn parse_signal(s: &str) -> Result<i32, CommandError> {
    if let Ok(n) = s.parse::<i32>() {
        if (0..=64).contains(&n) {
            return Ok(n);
        }
        return Err(CommandError::msg(format!("invalid signal number {n}")));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    nix::sys::signal::Signal::from_str(&name)
        .map(|sig| sig as i32)
        .map_err(|_| CommandError::msg(format!("unknown signal {s:?}")))
}

fn signal(pid: i32, sig: i32) -> Result<(), nix::Error> {
    // SAFETY: kill(2) with integer arguments.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(nix::Error::last())
    }
}

/// The pid-namespace inode of `pid`.
fn pid_ns_of(pid: i32) -> Option<u64> {
    std::fs::metadata(format!("/proc/{pid}/ns/pid"))
        .ok()
        .map(|m| m.ino())
}

/// Signal every process of the container, init last: those in its cgroup (with or
/// without a pid namespace). SIGKILL on v2 is one write to `cgroup.kill`; else the
/// cgroup is frozen while its pids are listed and signalled (nothing can fork in
/// between), then thawed again — for SIGKILL also when the container was paused,
/// since a frozen v1 task does not die until thawed. Without a freezer the pids
/// are listed and signalled repeatedly for SIGKILL, to catch new forks.
pub fn signal_all(state: &State, sig: i32) {
    if let Some(cg) = &state.cgroup {
        if sig == libc::SIGKILL && cg.kill_all().unwrap_or(false) {
            return;
        }
        let alive = init_alive(state.pid, state.init_start_time);
        let was_frozen = cg.frozen();
        let frozen = was_frozen || cg.freeze().is_ok();
        let rounds = if frozen || sig != libc::SIGKILL {
            1
        } else {
            10
        };
        let mut done = std::collections::HashSet::new();
        for _ in 0..rounds {
            let pids = cg.pids().unwrap_or_default();
            let fresh: Vec<i32> = pids
                .into_iter()
                .filter(|p| *p != state.pid && !done.contains(p))
                .collect();
            if fresh.is_empty() {
                break;
            }
            for p in fresh {
                let _ = signal(p, sig);
                done.insert(p);
            }
        }
        if alive {
            let _ = signal(state.pid, sig);
        }
        if frozen && (!was_frozen || sig == libc::SIGKILL) {
            let _ = cg.thaw();
        }
        return;
    }
    if state.own_pid_ns {
        for p in pid_namespace_members(state.pid) {
            if p != state.pid {
                let _ = signal(p, sig);
            }
        }
    }
    let _ = signal(state.pid, sig);
}

/// Every process in the pid namespace of `pid` (it included), as host pids.
pub fn pid_namespace_members(pid: i32) -> Vec<i32> {
    let Some(ns) = pid_ns_of(pid) else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|p| pid_ns_of(*p) == Some(ns))
        .collect();
    pids.sort_unstable();
    pids
}

/// SIGKILL everything of the container and wait until the init is gone.
pub fn kill_and_wait(state: &State) {
    signal_all(state, libc::SIGKILL);
    for _ in 0..2000 {
        if !init_alive(state.pid, state.init_start_time) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_and_numbers() {
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("term").unwrap(), 15);
        assert_eq!(parse_signal("10").unwrap(), 10);
        assert!(parse_signal("FOO").is_err());
        assert_eq!(parse_signal("0").unwrap(), 0);
        assert!(parse_signal("65").is_err());
        assert!(parse_signal("-1").is_err());
    }
}
