//! Kernel-facing process attributes: hostname/domainname, sysctl, seccomp mode,
//! personality, time namespace offsets, scheduler and I/O priority.

use crate::hostinfo::HostInfo;
use crate::procfs;
use crate::tap::Tap;
use serde_json::Value;

fn utsname() -> Option<(String, String)> {
    // SAFETY: uname fills the zeroed struct we own; fields are NUL-terminated.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return None;
        }
        let s = |f: &[libc::c_char]| {
            std::ffi::CStr::from_ptr(f.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        Some((s(&u.nodename), s(&u.domainname)))
    }
}

/// Checks `hostname` and `domainname`.
pub fn check_uts(cfg: &Value, tap: &mut Tap) {
    let Some((node, domain)) = utsname() else {
        return tap.fail("uname", std::io::Error::last_os_error());
    };
    if let Some(h) = cfg["hostname"].as_str() {
        tap.eq(format!("hostname {h}"), node.as_str(), h);
    }
    if let Some(d) = cfg["domainname"].as_str() {
        tap.eq(format!("domainname {d}"), domain.as_str(), d);
    }
}

/// Checks sysctl, seccomp, personality, timeOffsets, scheduler and ioPriority.
pub fn check(cfg: &Value, host: &HostInfo, tap: &mut Tap) {
    check_sysctl(cfg, tap);
    check_seccomp(cfg, host, tap);
    check_personality(cfg, tap);
    check_time_offsets(cfg, tap);
    check_scheduler(cfg, tap);
    check_io_priority(cfg, tap);
}

fn check_sysctl(cfg: &Value, tap: &mut Tap) {
    let Some(map) = cfg["linux"]["sysctl"].as_object() else {
        return;
    };
    for (key, want) in map {
        let name = format!("sysctl {key}");
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        match std::fs::read_to_string(&path) {
            Ok(got) => tap.eq(name, got.trim(), want.as_str().unwrap_or("").trim()),
            Err(e) => tap.fail(name, format_args!("{path}: {e}")),
        }
    }
}

fn check_seccomp(cfg: &Value, host: &HostInfo, tap: &mut Tap) {
    let status = procfs::status("self").unwrap_or_default();
    let mode = status.get("Seccomp").map(String::as_str).unwrap_or("?");
    let sc = &cfg["linux"]["seccomp"];
    if sc.is_object() {
        tap.eq("seccomp mode is filter", mode, "2");
        check_seccomp_rules(sc, tap);
    } else {
        tap.eq(
            "seccomp mode is the runtime's",
            mode,
            host.seccomp_mode.as_str(),
        );
    }
}

/// Probes the rules this checker knows how to trigger without side effects:
/// `mkdir`/`mkdirat` with `SCMP_ACT_ERRNO` (no argument filters).
fn check_seccomp_rules(sc: &Value, tap: &mut Tap) {
    let default_errno = sc["defaultErrnoRet"].as_i64().unwrap_or(libc::EPERM as i64);
    for rule in sc["syscalls"].as_array().into_iter().flatten() {
        let names = super::strings(&rule["names"]);
        let probe = names.iter().any(|n| *n == "mkdir" || *n == "mkdirat");
        if !probe || rule["action"] != "SCMP_ACT_ERRNO" || rule["args"].is_array() {
            continue;
        }
        let want = rule["errnoRet"].as_i64().unwrap_or(default_errno);
        let got = std::fs::create_dir("/rtt-seccomp-probe").map_err(|e| e.raw_os_error());
        let _ = std::fs::remove_dir("/rtt-seccomp-probe");
        tap.check(
            got == Err(Some(want as i32)),
            format!("seccomp rule {names:?} -> errno {want}"),
            format_args!("mkdir returned {got:?}"),
        );
    }
}

fn check_personality(cfg: &Value, tap: &mut Tap) {
    let Some(domain) = cfg["linux"]["personality"]["domain"].as_str() else {
        return;
    };
    // SAFETY: 0xffffffff only queries the current persona.
    let cur = unsafe { libc::personality(0xffff_ffff) };
    let want = match domain {
        "LINUX" => 0,
        "LINUX32" => 0x0008,
        other => return tap.fail("personality", format_args!("unknown domain {other}")),
    };
    tap.eq(format!("personality {domain}"), cur & 0xff, want);
}

fn check_time_offsets(cfg: &Value, tap: &mut Tap) {
    let Some(offsets) = cfg["linux"]["timeOffsets"].as_object() else {
        return;
    };
    let text = std::fs::read_to_string("/proc/self/timens_offsets").unwrap_or_default();
    for (clock, v) in offsets {
        let want = (
            v["secs"].as_i64().unwrap_or(0),
            v["nanosecs"].as_i64().unwrap_or(0),
        );
        let got = text.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3 && f[0] == clock).then(|| {
                (
                    f[1].parse::<i64>().unwrap_or(0),
                    f[2].parse::<i64>().unwrap_or(0),
                )
            })
        });
        tap.eq(format!("time offset {clock}"), got, Some(want));
    }
}

fn check_scheduler(cfg: &Value, tap: &mut Tap) {
    let s = &cfg["process"]["scheduler"];
    let Some(policy) = s["policy"].as_str() else {
        return;
    };
    let want = match policy {
        "SCHED_OTHER" => libc::SCHED_OTHER,
        "SCHED_FIFO" => libc::SCHED_FIFO,
        "SCHED_RR" => libc::SCHED_RR,
        "SCHED_BATCH" => libc::SCHED_BATCH,
        "SCHED_IDLE" => libc::SCHED_IDLE,
        "SCHED_DEADLINE" => 6,
        other => return tap.fail("scheduler", format_args!("unknown policy {other}")),
    };
    // SAFETY: plain queries of the calling process's scheduling attributes.
    let got = unsafe { libc::sched_getscheduler(0) } & !0x4000_0000;
    tap.eq(format!("scheduler policy {policy}"), got, want);
    if let Some(nice) = s["nice"].as_i64() {
        // SAFETY: as above.
        let got = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        tap.eq("scheduler nice", got as i64, nice);
    }
    if let Some(prio) = s["priority"].as_i64() {
        let mut p = libc::sched_param { sched_priority: 0 };
        // SAFETY: p is a valid out-parameter.
        unsafe { libc::sched_getparam(0, &mut p) };
        tap.eq("scheduler priority", p.sched_priority as i64, prio);
    }
}

fn check_io_priority(cfg: &Value, tap: &mut Tap) {
    let io = &cfg["process"]["ioPriority"];
    let Some(class) = io["class"].as_str() else {
        return;
    };
    let class_n = match class {
        "IOPRIO_CLASS_RT" => 1,
        "IOPRIO_CLASS_BE" => 2,
        "IOPRIO_CLASS_IDLE" => 3,
        other => return tap.fail("ioPriority", format_args!("unknown class {other}")),
    };
    let want = (class_n << 13) | io["priority"].as_i64().unwrap_or(0);
    // SAFETY: ioprio_get(IOPRIO_WHO_PROCESS, 0) only queries the calling process.
    let got = unsafe { libc::syscall(libc::SYS_ioprio_get, 1, 0) };
    tap.eq(format!("ioPriority {class}"), got, want);
}
