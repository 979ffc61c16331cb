//! `husk ps [-f table|json] ID [PS ARGS...]`: the processes of a container (every
//! pid in its cgroup, host pids). `--format json` prints them as a JSON array
//! (`[1234,1235]`, what containerd's go-runc parses); the table runs the host's
//! `ps` with PS ARGS (default `-ef`) and keeps the header and the lines whose PID
//! column names a process of the container, as runc does.

use crate::cli::{ListFormat, PsArgs};
use crate::commands::{CommandError, Context};
use std::io::Write;

pub fn run(ctx: &Context, args: &PsArgs) -> Result<i32, CommandError> {
    let dir = ctx.store.open(&args.id)?;
    let state = dir.load()?;
    let pids = match &state.cgroup {
        Some(cg) => cg.pids()?,
        // Rootless without a cgroup: the processes of its pid namespace.
        None if state.own_pid_ns => crate::commands::kill::pid_namespace_members(state.pid),
        None => return Err(CommandError::no_cgroup("ps")),
    };
    drop(dir);
    let mut out = std::io::stdout().lock();
    if args.format == ListFormat::Json {
        let text = serde_json::to_string(&pids).expect("serializes");
        writeln!(out, "{text}").map_err(CommandError::io("writing stdout"))?;
        return Ok(0);
    }
    let ps_args: Vec<&str> = if args.ps_args.is_empty() {
        vec!["-ef"]
    } else {
        args.ps_args.iter().map(String::as_str).collect()
    };
    let output = std::process::Command::new("ps")
        .args(&ps_args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(CommandError::io("running ps"))?;
    if !output.status.success() {
        return Err(CommandError::msg(format!(
            "ps {}: {}: {}",
            ps_args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let filtered = filter_table(&text, &pids).map_err(CommandError::msg)?;
    out.write_all(filtered.as_bytes())
        .map_err(CommandError::io("writing stdout"))?;
    Ok(0)
}

/// The header of `ps` output and the lines whose PID column is one of `pids`.
pub fn filter_table(text: &str, pids: &[i32]) -> Result<String, String> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|f| f == "PID")
        .ok_or_else(|| format!("ps output has no PID column (header: {header:?})"))?;
    let mut out = format!("{header}\n");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|f| f.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_header_and_container_pids() {
        let text = "\
UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init
root        4242       1  0 10:01 ?        00:00:00 sleep 10
root        4243    4242  0 10:01 ?        00:00:00 sh -c 4242
";
        let out = filter_table(text, &[4242]).unwrap();
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(out.starts_with("UID"));
        assert!(out.contains("sleep 10"));
        // A pid appearing in another column does not count.
        assert!(!out.contains("sh -c"));
    }

    #[test]
    fn pid_column_anywhere_and_missing() {
        let out = filter_table("COMMAND PID\nsleep 7\nsh 8\n", &[7]).unwrap();
        assert_eq!(out, "COMMAND PID\nsleep 7\n");
        assert!(filter_table("COMMAND\nsleep\n", &[1]).is_err());
    }
}
