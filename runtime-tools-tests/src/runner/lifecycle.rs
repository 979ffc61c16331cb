//! Lifecycle tests (runtime.md "Lifecycle", "Operations", "State"): the status after
//! each step, the MUST-error cases of start, kill and delete, the pid file, signals,
//! and runc command-line behaviour clients rely on (`run` exit status, `kill` forms).

use super::bundle::Bundle;
use super::flows::{self, check_state, WAIT};
use super::spec;
use super::{Ctx, Test};
use serde_json::json;
use std::time::{Duration, Instant};

fn sleeper(b: &mut Bundle) {
    b.args(&["/bin/sleep", "60"]);
}

/// A shell that records the signals it handles in /rtt/out/signals.
fn trapper(b: &mut Bundle) {
    b.args(&[
        "/bin/sh",
        "-c",
        "trap 'echo TERM >> /rtt/out/signals; exit 0' TERM; \
         trap 'echo USR1 >> /rtt/out/signals' USR1; \
         touch /rtt/out/ready; while :; do sleep 0.05; done",
    ]);
}

fn wait_file(path: &std::path::Path, contains: &str) -> Result<(), String> {
    let start = Instant::now();
    while start.elapsed() < WAIT {
        if std::fs::read_to_string(path).is_ok_and(|s| s.contains(contains)) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(format!("{} never contained {contains:?}", path.display()))
}

fn must_fail(ctx: &Ctx, args: &[&str]) -> Result<(), String> {
    let o = ctx.rt.cmd(args);
    if o.success() {
        Err(format!("`{}` succeeded; it MUST fail", args.join(" ")))
    } else {
        Ok(())
    }
}

fn same_pid(ctx: &Ctx, b: &Bundle, status: &str, pid: &serde_json::Value) -> Result<(), String> {
    let s = ctx.rt.state(&b.id)?;
    check_state(&s, b, status)?;
    if status != "stopped" && s["pid"] != *pid {
        return Err(format!("pid changed from {pid} to {}", s["pid"]));
    }
    Ok(())
}

fn running(ctx: &mut Ctx, b: &Bundle) -> Result<serde_json::Value, String> {
    let s = flows::create(ctx, b)?;
    flows::start(ctx, b)?;
    same_pid(ctx, b, "running", &s["pid"])?;
    Ok(s)
}

fn stopped(ctx: &mut Ctx, b: &mut Bundle) -> Result<(), String> {
    b.args(&["/bin/true"]);
    flows::create(ctx, b)?;
    flows::start(ctx, b)?;
    let s = ctx.rt.wait_status(&b.id, "stopped", WAIT)?;
    check_state(&s, b, "stopped")
}

fn t(name: &str, f: impl Fn(&mut Ctx, &mut Bundle) -> Result<(), String> + 'static) -> Test {
    let n = name.to_string();
    Test::new(name, move |ctx| {
        let mut b = ctx.bundle(&n)?;
        f(ctx, &mut b)
    })
}

/// The lifecycle tests.
pub fn tests() -> Vec<Test> {
    vec![
        t("lifecycle-state-created", |ctx, b| {
            sleeper(b);
            b.config["annotations"] = json!({"org.rtt.key": "value"});
            let s = flows::create(ctx, b)?;
            if s["annotations"] != b.config["annotations"] {
                return Err(format!(
                    "annotations {} are not the config's",
                    s["annotations"]
                ));
            }
            Ok(())
        }),
        t("lifecycle-create-does-not-run-program", |ctx, b| {
            b.args(&["/bin/touch", "/rtt/out/ran"]);
            flows::create(ctx, b)?;
            std::thread::sleep(Duration::from_millis(100));
            if b.out("ran").exists() {
                return Err("the program ran before start".into());
            }
            flows::start(ctx, b)?;
            wait_file(&b.out("ran"), "")?;
            ctx.rt.wait_status(&b.id, "stopped", WAIT)?;
            flows::delete(ctx, b)
        }),
        t("lifecycle-state-running", |ctx, b| {
            sleeper(b);
            running(ctx, b).map(|_| ())
        }),
        t("lifecycle-state-stopped-and-delete", |ctx, b| {
            stopped(ctx, b)?;
            flows::delete(ctx, b)
        }),
        t("lifecycle-pid-file", |ctx, b| {
            sleeper(b);
            let s = flows::create(ctx, b)?;
            let file =
                std::fs::read_to_string(b.dir.join("pid")).map_err(|e| format!("pid file: {e}"))?;
            if file.trim().parse::<u64>().ok() != s["pid"].as_u64() {
                return Err(format!("pid file says {file:?}, state says {}", s["pid"]));
            }
            Ok(())
        }),
        t("lifecycle-create-duplicate-id-fails", |ctx, b| {
            sleeper(b);
            let s = flows::create(ctx, b)?;
            let mut other = ctx.bundle("duplicate")?;
            other.id = b.id.clone();
            sleeper(&mut other);
            other.write(&ctx.host)?;
            if ctx.rt.create(&other.id, &other.dir).success() {
                return Err("second create with the same id succeeded".into());
            }
            same_pid(ctx, b, "created", &s["pid"])
        }),
        t("lifecycle-start-running-fails", |ctx, b| {
            sleeper(b);
            let s = running(ctx, b)?;
            must_fail(ctx, &["start", &b.id])?;
            same_pid(ctx, b, "running", &s["pid"])
        }),
        t("lifecycle-start-stopped-fails", |ctx, b| {
            stopped(ctx, b)?;
            must_fail(ctx, &["start", &b.id])?;
            same_pid(ctx, b, "stopped", &json!(null))
        }),
        t("lifecycle-unknown-id-fails", |ctx, b| {
            let id = format!("{}-never-created", b.id);
            for op in [
                &["state", &id][..],
                &["start", &id],
                &["kill", &id, "KILL"],
                &["delete", &id],
            ] {
                must_fail(ctx, op)?;
            }
            Ok(())
        }),
        t("lifecycle-kill-created", |ctx, b| {
            sleeper(b);
            flows::create(ctx, b)?;
            let o = ctx.rt.cmd(&["kill", &b.id, "KILL"]);
            if !o.success() {
                return Err(format!(
                    "kill of a created container failed: {}",
                    o.describe()
                ));
            }
            ctx.rt.wait_status(&b.id, "stopped", WAIT)?;
            flows::delete(ctx, b)
        }),
        t("lifecycle-kill-stopped-fails", |ctx, b| {
            stopped(ctx, b)?;
            must_fail(ctx, &["kill", &b.id, "KILL"])?;
            same_pid(ctx, b, "stopped", &json!(null))?;
            flows::delete(ctx, b)
        }),
        t("lifecycle-delete-created-fails", |ctx, b| {
            sleeper(b);
            let s = flows::create(ctx, b)?;
            must_fail(ctx, &["delete", &b.id])?;
            same_pid(ctx, b, "created", &s["pid"])
        }),
        t("lifecycle-delete-running-fails", |ctx, b| {
            sleeper(b);
            let s = running(ctx, b)?;
            must_fail(ctx, &["delete", &b.id])?;
            same_pid(ctx, b, "running", &s["pid"])
        }),
        t("lifecycle-delete-force-running", |ctx, b| {
            sleeper(b);
            running(ctx, b)?;
            let o = ctx.rt.cmd(&["delete", "--force", &b.id]);
            if !o.success() {
                return Err(format!("delete --force failed: {}", o.describe()));
            }
            flows::assert_gone(ctx, b)
        }),
        t("lifecycle-delete-force-created", |ctx, b| {
            sleeper(b);
            flows::create(ctx, b)?;
            let o = ctx.rt.cmd(&["delete", "--force", &b.id]);
            if !o.success() {
                return Err(format!("delete --force failed: {}", o.describe()));
            }
            flows::assert_gone(ctx, b)
        }),
        t("lifecycle-list", |ctx, b| {
            sleeper(b);
            flows::create(ctx, b)?;
            let ids = ctx.rt.list_ids()?;
            if !ids.contains(&b.id) {
                return Err(format!("list shows {ids:?}, not {}", b.id));
            }
            Ok(())
        }),
        t("kill-signal-term-handled", |ctx, b| {
            trapper(b);
            running(ctx, b)?;
            wait_file(&b.out("ready"), "")?;
            let o = ctx.rt.cmd(&["kill", &b.id, "TERM"]);
            if !o.success() {
                return Err(format!("kill TERM failed: {}", o.describe()));
            }
            wait_file(&b.out("signals"), "TERM")?;
            ctx.rt.wait_status(&b.id, "stopped", WAIT)?;
            flows::delete(ctx, b)
        }),
        t("kill-signal-forms", |ctx, b| {
            trapper(b);
            running(ctx, b)?;
            wait_file(&b.out("ready"), "")?;
            let o = ctx.rt.cmd(&["kill", &b.id, "SIGUSR1"]);
            if !o.success() {
                return Err(format!("kill SIGUSR1 failed: {}", o.describe()));
            }
            wait_file(&b.out("signals"), "USR1")?;
            if ctx.rt.status(&b.id)? != "running" {
                return Err("container stopped after a handled SIGUSR1".into());
            }
            let o = ctx.rt.cmd(&["kill", &b.id, "9"]);
            if !o.success() {
                return Err(format!("kill 9 failed: {}", o.describe()));
            }
            ctx.rt.wait_status(&b.id, "stopped", WAIT)?;
            flows::delete(ctx, b)
        }),
        t("cli-kill-default-sigterm", |ctx, b| {
            trapper(b);
            running(ctx, b)?;
            wait_file(&b.out("ready"), "")?;
            let o = ctx.rt.cmd(&["kill", &b.id]);
            if !o.success() {
                return Err(format!("kill without a signal failed: {}", o.describe()));
            }
            wait_file(&b.out("signals"), "TERM")?;
            ctx.rt.wait_status(&b.id, "stopped", WAIT)?;
            flows::delete(ctx, b)
        }),
        t("cli-run-exit-status", |ctx, b| {
            b.args(&["/bin/sh", "-c", "exit 42"]);
            run_foreground(ctx, b, 42)
        }),
        t("cli-run-exit-signal", |ctx, b| {
            // Outside a pid namespace, so the shell is not a pid 1 immune to SIGKILL.
            spec::drop_namespace(&mut b.config, "pid");
            b.args(&["/bin/sh", "-c", "kill -KILL $$"]);
            run_foreground(ctx, b, 128 + 9)
        }),
    ]
}

/// `run --bundle B ID` in the foreground: exit code `want`, container deleted.
fn run_foreground(ctx: &mut Ctx, b: &Bundle, want: i32) -> Result<(), String> {
    b.write(&ctx.host)?;
    let bundle = b.dir.to_string_lossy().into_owned();
    let o = ctx.rt.cmd_to(
        &["run", "--bundle", &bundle, &b.id],
        &b.dir.join("stdout"),
        &b.dir.join("stderr"),
    );
    if o.code != Some(want) {
        return Err(format!("run: {}, want exit {want}", o.describe()));
    }
    flows::assert_gone(ctx, b)
}
