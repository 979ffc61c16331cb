//! CVE-2019-5736: a container must never be able to write the host's runtime
//! binary through /proc/PID/exe.
//!
//! The attack, made deterministic: container A is created (its init is a fork of
//! the runtime, waiting on the exec FIFO); container B joins A's pid namespace
//! with CAP_SYS_PTRACE and opens /proc/1/exe (A's init, i.e. the runtime binary).
//! After A starts (nothing executes the binary any more, so no ETXTBSY), B reopens
//! that fd for writing through /proc/self/fd/3 and appends to it. The host copy
//! of the binary must be unchanged. A control run with sealing disabled (a
//! debug-build switch of husk) proves the attack really works.
//! For `run`, the host holds the `run` process's /proc/PID/exe open and tries the
//! same write after it exits.

use husk_integration::{is_husk, is_runc, poll, require_root, skip, Bundle, Runtime};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// A private copy of the runtime binary on a writable filesystem, and its bytes.
struct BinaryCopy {
    _dir: tempfile::TempDir,
    path: PathBuf,
    original: Vec<u8>,
}

impl BinaryCopy {
    fn new() -> BinaryCopy {
        let rt = Runtime::from_env();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runtime-under-attack");
        std::fs::copy(rt.bin(), &path).unwrap();
        let original = std::fs::read(&path).unwrap();
        BinaryCopy {
            _dir: dir,
            path,
            original,
        }
    }

    fn unchanged(&self) -> bool {
        std::fs::read(&self.path).unwrap() == self.original
    }
}

const ATTACKER: &str = r#"
if ! exec 3</proc/1/exe; then echo OPENFAIL > /shared/result; exit 0; fi
echo ready > /shared/ready
while [ ! -e /shared/go ]; do sleep 0.05; done
if echo pwned >> /proc/self/fd/3 2>/shared/err; then echo WROTE > /shared/result; else echo BLOCKED > /shared/result; fi
"#;

/// Mount the attack against `bin`; returns the attacker's verdict.
fn attack_through_container(bin: &Path, unsealed: bool) -> String {
    let rt = Runtime::with_binary(bin);
    let env: &[(&str, &str)] = if unsealed {
        &[("HUSK_TEST_UNSEALED", "1")]
    } else {
        &[]
    };

    let mut victim = Bundle::new();
    victim.args(&["sleep", "30"]);
    victim.save();
    let a = rt.new_id("cve-victim");
    let out = rt
        .command(&["create", "--bundle", victim.path_str(), &a])
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(out.success(), "create victim");
    let victim_c = rt.guard(&a);
    let a_pid = victim_c.pid();

    let mut attacker = Bundle::new();
    let shared = attacker.host_dir("/shared");
    attacker.sh(ATTACKER);
    attacker.namespace_path("pid", &format!("/proc/{a_pid}/ns/pid"));
    let caps = serde_json::json!(["CAP_SYS_PTRACE", "CAP_KILL", "CAP_DAC_OVERRIDE"]);
    for set in ["bounding", "effective", "permitted"] {
        attacker.config_mut()["process"]["capabilities"][set] = caps.clone();
    }
    let b = rt.run_detached(&attacker);

    assert!(
        poll::wait_until(T, || shared.join("ready").exists()
            || shared.join("result").exists()),
        "attacker never got ready"
    );
    if let Ok(r) = std::fs::read_to_string(shared.join("result")) {
        return r.trim().to_string();
    }
    rt.start(&a).assert_ok();
    assert!(poll::wait_until(T, || std::fs::read_to_string(format!(
        "/proc/{a_pid}/cmdline"
    ))
    .is_ok_and(|c| c.starts_with("sleep"))));
    std::fs::write(shared.join("go"), "").unwrap();
    assert!(
        poll::wait_until(T, || shared.join("result").exists()),
        "no verdict"
    );
    drop(b);
    drop(victim_c);
    std::fs::read_to_string(shared.join("result"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn container_cannot_write_the_runtime_binary_during_create_and_start() {
    require_root!();
    let bin = BinaryCopy::new();
    let verdict = attack_through_container(&bin.path, false);
    assert!(
        bin.unchanged(),
        "the host binary was modified (verdict {verdict})"
    );
    assert_eq!(verdict, "BLOCKED");
}

#[test]
fn control_the_attack_works_on_an_unsealed_binary() {
    require_root!();
    if !is_husk() || !cfg!(debug_assertions) {
        skip!("the unsealed control needs husk's debug-build HUSK_TEST_UNSEALED switch");
    }
    let bin = BinaryCopy::new();
    let verdict = attack_through_container(&bin.path, true);
    assert_eq!(
        verdict, "WROTE",
        "the attack did not work: the test proves nothing"
    );
    assert!(!bin.unchanged());
}

/// Hold /proc/PID/exe of a foreground `run` open; once it exited, try to write.
fn attack_run_process(bin: &Path, unsealed: bool) -> bool {
    let rt = Runtime::with_binary(bin);
    let mut b = Bundle::new();
    b.args(&["sleep", "1"]);
    b.save();
    let id = rt.new_id("cve-run");
    let mut cmd = rt.command(&["run", "--bundle", b.path_str(), &id]);
    if unsealed {
        cmd.env("HUSK_TEST_UNSEALED", "1");
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Wait until the container runs, i.e. run has re-exec'd (sealed) if it does.
    assert!(poll::wait_until(T, || rt
        .try_state(&id)
        .is_ok_and(|s| s["status"] == "running")));
    let held = std::fs::File::open(format!("/proc/{pid}/exe")).unwrap();
    let fd_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&held));
    assert!(child.wait().unwrap().success());
    let wrote = std::fs::OpenOptions::new()
        .append(true)
        .custom_flags(0)
        .open(fd_path)
        .and_then(|mut f| f.write_all(b"pwned"))
        .is_ok();
    rt.delete_force(&id);
    wrote
}

#[test]
fn run_process_binary_cannot_be_written_after_exit() {
    require_root!();
    if is_runc() {
        skip!(
            "runc seals the binary of `runc init` only; its `run` process maps the host \
             binary, which no container process can reach"
        );
    }
    let bin = BinaryCopy::new();
    assert!(!attack_run_process(&bin.path, false), "write went through");
    assert!(bin.unchanged());
}

#[test]
fn control_run_attack_works_on_an_unsealed_binary() {
    require_root!();
    if !is_husk() || !cfg!(debug_assertions) {
        skip!("the unsealed control needs husk's debug-build HUSK_TEST_UNSEALED switch");
    }
    let bin = BinaryCopy::new();
    assert!(
        attack_run_process(&bin.path, true),
        "the attack did not work"
    );
    assert!(!bin.unchanged());
}
