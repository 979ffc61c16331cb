//! Building blocks the tests share: run the checker through the whole lifecycle,
//! expect `create` to fail cleanly, validate `state` output, assert nothing is left.

use super::bundle::Bundle;
use super::leaks;
use super::Ctx;
use crate::tap;
use serde_json::Value;
use std::time::Duration;

/// How long a container may take to reach a status.
pub const WAIT: Duration = Duration::from_secs(10);

/// Checks the fields runtime.md requires of `state` output, and that a created or
/// running container's pid is alive now.
pub fn check_state(s: &Value, b: &Bundle, status: &str) -> Result<(), String> {
    check_state_with(s, b, status, true)
}

/// `check_state` for a state recorded earlier (a hook's stdin): the pid need not
/// be alive any more when it is checked.
pub fn check_state_fields(s: &Value, b: &Bundle, status: &str) -> Result<(), String> {
    check_state_with(s, b, status, false)
}

fn check_state_with(s: &Value, b: &Bundle, status: &str, alive: bool) -> Result<(), String> {
    let mut problems = Vec::new();
    if s["ociVersion"].as_str().is_none_or(str::is_empty) {
        problems.push("ociVersion missing".to_string());
    }
    if s["id"] != b.id.as_str() {
        problems.push(format!("id {} is not {}", s["id"], b.id));
    }
    if s["status"] != status {
        problems.push(format!("status {} is not {status}", s["status"]));
    }
    if status == "created" || status == "running" {
        match s["pid"].as_u64() {
            Some(p)
                if p > 0 && (!alive || std::path::Path::new(&format!("/proc/{p}")).exists()) => {}
            _ => problems.push(format!("pid {} is not a live process", s["pid"])),
        }
    }
    let bundle = b.dir.canonicalize().unwrap_or(b.dir.clone());
    if s["bundle"].as_str().map(std::path::Path::new) != Some(bundle.as_path()) {
        problems.push(format!(
            "bundle {} is not {}",
            s["bundle"],
            bundle.display()
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("state: {}\n{s}", problems.join("; ")))
    }
}

/// Writes the bundle and runs `create`; checks the `created` state.
pub fn create(ctx: &mut Ctx, b: &Bundle) -> Result<Value, String> {
    b.write(&ctx.host)?;
    let o = ctx.rt.create(&b.id, &b.dir);
    if !o.success() {
        let err = std::fs::read_to_string(b.dir.join("stderr")).unwrap_or_default();
        return Err(format!("create failed ({})\n{}", o.describe(), err.trim()));
    }
    let s = ctx.rt.state(&b.id)?;
    check_state(&s, b, "created")?;
    Ok(s)
}

/// `start ID`, which must succeed.
pub fn start(ctx: &Ctx, b: &Bundle) -> Result<(), String> {
    let o = ctx.rt.cmd(&["start", &b.id]);
    if o.success() {
        Ok(())
    } else {
        Err(format!("start failed: {}", o.describe()))
    }
}

/// `delete ID`, which must succeed, and leave no trace.
pub fn delete(ctx: &Ctx, b: &Bundle) -> Result<(), String> {
    let o = ctx.rt.cmd(&["delete", &b.id]);
    if !o.success() {
        return Err(format!("delete failed: {}", o.describe()));
    }
    assert_gone(ctx, b)
}

/// No state, not listed, nothing left on the host.
pub fn assert_gone(ctx: &Ctx, b: &Bundle) -> Result<(), String> {
    let mut problems = Vec::new();
    if ctx.rt.state(&b.id).is_ok() {
        problems.push(format!("state {} still succeeds", b.id));
    }
    match ctx.rt.list_ids() {
        Ok(ids) if ids.contains(&b.id) => problems.push(format!("list still shows {}", b.id)),
        Ok(_) => {}
        Err(e) => problems.push(e),
    }
    // Processes may take a moment to be reaped after a kill.
    let mut found = leaks::find(&b.dir, &b.id);
    for _ in 0..50 {
        if found.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        found = leaks::find(&b.dir, &b.id);
    }
    problems.extend(found.iter().map(|l| l.to_string()));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// create, start, wait for `stopped`, read the checker's TAP, delete, check for leaks.
pub fn run_checker(ctx: &mut Ctx, b: &Bundle) -> Result<(), String> {
    create(ctx, b)?;
    start(ctx, b)?;
    ctx.rt.wait_status(&b.id, "stopped", WAIT)?;
    let verdict = check_tap(ctx, b, &b.stdout());
    delete(ctx, b)?;
    verdict
}

/// Judges the checker's TAP output `out` (its stdout, or what a terminal showed).
pub fn check_tap(ctx: &Ctx, b: &Bundle, out: &str) -> Result<(), String> {
    let report = tap::parse(out);
    if ctx.verbose {
        for l in out.lines() {
            println!("#   | {l}");
        }
    }
    if report.all_ok() {
        return Ok(());
    }
    let mut msg = Vec::new();
    for l in report.lines.iter().filter(|l| !l.ok) {
        msg.push(format!("not ok - {}", l.name));
        msg.extend(l.diag.iter().map(|d| format!("  {d}")));
    }
    if report.plan != Some(report.lines.len()) {
        let err = std::fs::read_to_string(b.dir.join("stderr")).unwrap_or_default();
        msg.push(format!(
            "checker did not finish ({} lines, plan {:?}); stderr: {}",
            report.lines.len(),
            report.plan,
            err.trim()
        ));
    }
    Err(msg.join("\n"))
}

/// Writes the bundle; `create` must fail with a non-zero exit and leave nothing behind.
pub fn expect_create_fails(ctx: &mut Ctx, b: &Bundle) -> Result<(), String> {
    b.write(&ctx.host)?;
    expect_create_fails_as_is(ctx, b)
}

/// Like [`expect_create_fails`] for a bundle the test has already written (or broken).
pub fn expect_create_fails_as_is(ctx: &mut Ctx, b: &Bundle) -> Result<(), String> {
    let o = ctx.rt.create(&b.id, &b.dir);
    if o.success() {
        return Err("create succeeded".into());
    }
    if o.timed_out {
        return Err("create timed out".into());
    }
    assert_gone(ctx, b)
}
