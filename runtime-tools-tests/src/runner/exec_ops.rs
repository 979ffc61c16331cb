//! `exec` (runc's command line; runtime.md leaves running extra processes to the
//! runtime): the new process joins the container (every namespace of the init, its
//! cgroup, its root), `--process FILE` is honoured, and the exit status is relayed.

use super::bundle::Bundle;
use super::flows::{self, WAIT};
use super::{Ctx, Test};
use serde_json::json;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

/// Namespaces compared between the init and the exec'd process.
const NS: [&str; 7] = ["mnt", "pid", "net", "ipc", "uts", "cgroup", "user"];

fn t(name: &str, f: impl Fn(&mut Ctx, &mut Bundle) -> Result<(), String> + 'static) -> Test {
    let n = name.to_string();
    Test::new(name, move |ctx| {
        let mut b = ctx.bundle(&n)?;
        b.args(&["/bin/sleep", "60"]);
        f(ctx, &mut b)
    })
}

/// create + start; returns the init's pid.
fn running(ctx: &mut Ctx, b: &Bundle) -> Result<u64, String> {
    let s = flows::create(ctx, b)?;
    flows::start(ctx, b)?;
    s["pid"]
        .as_u64()
        .ok_or_else(|| format!("state has no pid: {s}"))
}

/// What the host sees of a process: namespace links, cgroup file, root (dev, ino).
type View = (Vec<String>, String, (u64, u64));

fn view(pid: u64) -> Result<View, String> {
    let ns = NS
        .iter()
        .map(|n| {
            std::fs::read_link(format!("/proc/{pid}/ns/{n}"))
                .map(|l| l.to_string_lossy().into_owned())
                .map_err(|e| format!("/proc/{pid}/ns/{n}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map_err(|e| format!("/proc/{pid}/cgroup: {e}"))?;
    let root = std::fs::metadata(format!("/proc/{pid}/root/"))
        .map_err(|e| format!("/proc/{pid}/root: {e}"))?;
    Ok((ns, cg, (root.dev(), root.ino())))
}

fn wait_pid_file(p: &std::path::Path) -> Result<u64, String> {
    let start = Instant::now();
    loop {
        if let Some(pid) = std::fs::read_to_string(p)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return Ok(pid);
        }
        if start.elapsed() > WAIT {
            return Err(format!("{} never held a pid", p.display()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The exec tests.
pub fn tests() -> Vec<Test> {
    vec![
        t("exec-joins-container", |ctx, b| {
            let init = running(ctx, b)?;
            let pid_file = b.dir.join("exec.pid");
            let pf = pid_file.to_string_lossy().into_owned();
            let o = ctx.rt.cmd(&[
                "exec",
                "--detach",
                "--pid-file",
                &pf,
                &b.id,
                "/bin/sleep",
                "60",
            ]);
            if !o.success() {
                return Err(format!("exec --detach failed: {}", o.describe()));
            }
            let pid = wait_pid_file(&pid_file)?;
            let (want, got) = (view(init)?, view(pid)?);
            let mut problems = Vec::new();
            if got.0 != want.0 {
                problems.push(format!(
                    "namespaces {:?} are not the init's {:?}",
                    got.0, want.0
                ));
            }
            if got.1 != want.1 {
                problems.push(format!("cgroup {:?} is not the init's {:?}", got.1, want.1));
            }
            if got.2 != want.2 {
                problems.push(format!("root {:?} is not the init's {:?}", got.2, want.2));
            }
            if !problems.is_empty() {
                return Err(problems.join("\n"));
            }
            if ctx.rt.status(&b.id)? != "running" {
                return Err("the container is not running after exec".into());
            }
            Ok(())
        }),
        t("exec-process-file", |ctx, b| {
            running(ctx, b)?;
            let env = [
                "PATH=/bin".to_string(),
                format!("RTT_ID={}", b.id),
                "RTT_EXEC=exec value".to_string(),
            ];
            let process = json!({
                "terminal": false,
                "user": {"uid": 1000, "gid": 1001, "additionalGids": [1002]},
                "args": ["/bin/sh", "-c",
                         "id -u; id -g; id -G; pwd; env"],
                "env": env,
                "cwd": "/tmp"
            });
            let file = b.dir.join("process.json");
            std::fs::write(&file, process.to_string()).map_err(|e| e.to_string())?;
            let f = file.to_string_lossy().into_owned();
            let o = ctx.rt.cmd(&["exec", "--process", &f, &b.id]);
            if !o.success() {
                return Err(format!("exec --process failed: {}", o.describe()));
            }
            let mut lines = o.stdout.lines();
            let mut next = || lines.next().unwrap_or("").to_string();
            let (uid, gid, groups, cwd) = (next(), next(), next(), next());
            let got: Vec<String> = lines.map(str::to_string).collect();
            let mut problems = Vec::new();
            if uid != "1000" || gid != "1001" {
                problems.push(format!("uid {uid:?} gid {gid:?}, want 1000 1001"));
            }
            if !groups.split_whitespace().any(|g| g == "1002") {
                problems.push(format!("groups {groups:?} lack additionalGids 1002"));
            }
            if cwd != "/tmp" {
                problems.push(format!("cwd {cwd:?}, want /tmp"));
            }
            for kv in &env {
                if !got.contains(kv) {
                    problems.push(format!("environment {got:?} lacks {kv:?}"));
                }
            }
            if problems.is_empty() {
                Ok(())
            } else {
                Err(format!("{}\nstdout: {:?}", problems.join("\n"), o.stdout))
            }
        }),
        t("exec-exit-status", |ctx, b| {
            running(ctx, b)?;
            let o = ctx.rt.cmd(&["exec", &b.id, "/bin/sh", "-c", "exit 7"]);
            if o.code != Some(7) {
                return Err(format!("exec of `exit 7`: {}, want exit 7", o.describe()));
            }
            if ctx.rt.status(&b.id)? != "running" {
                return Err("the container stopped after exec exited".into());
            }
            Ok(())
        }),
    ]
}
