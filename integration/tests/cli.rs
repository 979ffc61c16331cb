//! runc's command line surface beyond the lifecycle: `--version`, `--help`, the
//! global `--log`/`--log-format`, `--systemd-cgroup`, and the create flags
//! `--preserve-fds`, `--no-pivot`, `--no-new-keyring`.

use husk_integration::{is_husk, require_root, skip, Bundle, Runtime};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Stdio;

#[test]
fn version_prints_the_three_lines_go_runc_parses() {
    let rt = Runtime::from_env();
    let out = rt.cmd(&["--version"]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].contains(" version "), "{out}");
    assert!(lines.iter().any(|l| l.starts_with("commit: ")), "{out}");
    assert!(lines.iter().any(|l| l.starts_with("spec: ")), "{out}");
    if is_husk() {
        assert!(lines[0].starts_with("husk version "), "{out}");
        // The commit is embedded at build time (in a git checkout).
        let commit = lines[1].strip_prefix("commit: ").unwrap_or_default();
        let sha = commit.trim_end_matches("-dirty");
        let checkout = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.git");
        assert!(
            (sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()))
                || (!checkout.exists() && sha == "unknown"),
            "commit line: {out}"
        );
        assert_eq!(lines[2], "spec: 1.3.0", "{out}");
    }
}

/// `--help` in runc's layout (NAME:, USAGE:, COMMANDS:), and a help request for
/// a command that does not exist answered as runc does.
#[test]
fn help_layout_and_unknown_topics_as_runc() {
    let rt = Runtime::from_env();
    let out = rt.cmd(&["--help"]);
    out.assert_ok();
    for section in ["NAME:", "USAGE:", "COMMANDS:", "GLOBAL OPTIONS:"] {
        assert!(out.stdout.contains(section), "{section}: {out}");
    }
    for args in [["foo", "--help"], ["help", "foo"]] {
        let out = rt.cmd(&args);
        assert!(!out.success(), "{out}");
        assert!(
            out.stderr.contains("No help topic for 'foo'"),
            "{args:?}: {out}"
        );
    }
}

#[test]
fn every_command_has_help() {
    let rt = Runtime::from_env();
    for cmd in [
        "create", "start", "state", "kill", "delete", "run", "list", "spec",
    ] {
        let out = rt.cmd(&[cmd, "--help"]);
        out.assert_ok();
        assert!(out.stdout.to_lowercase().contains("usage"), "{cmd}: {out}");
    }
}

#[test]
fn errors_go_to_the_log_file_as_json_lines() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.config_mut()["process"]["rlimits"] =
        serde_json::json!([{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}]);
    b.save();
    let log = b.path().join("log.json");
    let id = rt.new_id("log");
    let out = rt.cmd(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        "--bundle",
        b.path_str(),
        &id,
    ]);
    out.assert_fail();
    let text = std::fs::read_to_string(&log).expect("log file written");
    let last = text.lines().last().expect("a log line");
    let v: serde_json::Value = serde_json::from_str(last).expect("json line");
    assert_eq!(v["level"], "error", "{last}");
    assert!(v["time"].is_string(), "{last}");
    if is_husk() {
        let msg = v["msg"].as_str().unwrap();
        assert!(msg.contains("process.rlimits[0].type"), "{msg}");
        assert!(msg.contains("RLIMIT_FOO"), "{msg}");
        assert!(out.stderr.contains("process.rlimits[0].type"), "{out}");
    }
}

/// `--systemd-cgroup` where systemd is not running (this host; the systemd VM
/// tests the driver itself): a clear error naming the D-Bus socket, and nothing
/// left behind (the leak checks on drop).
#[test]
fn systemd_cgroup_without_systemd_fails_clearly() {
    require_root!();
    if std::fs::read_to_string("/proc/1/comm").is_ok_and(|c| c.trim() == "systemd") {
        skip!("systemd runs here: the systemd tests cover the driver");
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.save();
    let id = rt.new_id("systemd");
    let out = rt.cmd(&["--systemd-cgroup", "create", "--bundle", b.path_str(), &id]);
    out.assert_fail();
    if is_husk() {
        assert!(
            out.stderr.contains("systemd cgroup driver")
                && out.stderr.contains("/run/dbus/system_bus_socket"),
            "{out}"
        );
    }
    rt.state_raw(&id).assert_fail();
}

#[test]
fn preserve_fds_passes_extra_fds_to_the_container() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.sh("cat <&3; ls /proc/self/fd");
    b.save();
    let payload = b.path().join("payload");
    std::fs::write(&payload, "through-fd-3\n").unwrap();
    let file = std::fs::File::open(&payload).unwrap();
    let raw = file.as_raw_fd();
    let id = rt.new_id("preserve");
    let mut cmd = rt.command(&["run", "--preserve-fds", "1", "--bundle", b.path_str(), &id]);
    // SAFETY: dup2 between two valid fds in the child before exec.
    unsafe {
        cmd.pre_exec(move || {
            // dup2(3, 3) would keep close-on-exec: clear it explicitly in that case.
            let rc = if raw == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, 3)
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("through-fd-3"), "{stdout}");
    let fds: Vec<&str> = stdout.lines().skip(1).collect();
    assert!(fds.contains(&"3"), "fd 3 kept: {fds:?}");
    rt.delete_force(&id);
}

#[test]
fn no_pivot_still_gives_the_container_its_root() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.sh("ls / | tr '\\n' ' '; grep -c ' / ' /proc/self/mountinfo");
    b.save();
    let id = rt.new_id("nopivot");
    let out = rt.run_with(&id, &b, &["--no-pivot"]);
    out.assert_ok();
    assert!(out.stdout.contains("bin"), "{out}");
    assert!(
        !out.stdout.contains("boot "),
        "host root not visible: {out}"
    );
}

#[test]
fn no_new_keyring_is_accepted() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.save();
    let id = rt.new_id("keyring");
    rt.run_with(&id, &b, &["--no-new-keyring"]).assert_ok();
}

#[test]
fn command_line_errors_reach_the_log_file_too() {
    if !is_husk() {
        skip!("runc 1.1.5 does not log usage errors to --log");
    }
    let rt = Runtime::from_env();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.json");
    let out = rt.cmd(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "no-such-command",
        "x",
    ]);
    out.assert_fail();
    let text = std::fs::read_to_string(&log).expect("log written");
    let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(v["level"], "error");
    assert!(
        v["msg"].as_str().unwrap().contains("no-such-command"),
        "{text}"
    );
}

#[test]
fn features_prints_the_spec_document() {
    let rt = Runtime::from_env();
    let out = rt.cmd(&["features"]);
    out.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert!(v["ociVersionMin"].is_string(), "{out}");
    assert!(v["hooks"].as_array().unwrap().len() >= 6, "{out}");
    let ns = v["linux"]["namespaces"].as_array().unwrap();
    assert!(ns.iter().any(|n| n == "pid"), "{out}");
    assert!(v["mountOptions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o == "rbind"));
}

/// `--debug` writes logrus-style debug lines: to stderr as `level=debug msg="…"`
/// when there is no `--log`, and into the `--log` file as JSON lines with
/// `--log-format json`, for `run` and for `exec` alike.
#[test]
fn debug_lines_go_to_stderr_or_the_log_file_for_run_and_exec() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["sleep", "60"]);
    b.save();
    let id = rt.new_id("husk-it-debug");
    b.used_by(&id);
    let out = rt.cmd(&["--debug", "run", "-d", "--bundle", b.path_str(), &id]);
    out.assert_ok();
    rt.record_state_pid(&id);
    assert!(
        out.stderr.contains("level=debug msg="),
        "run --debug, no --log: {out}"
    );
    let out = rt.cmd(&["--debug", "exec", &id, "true"]);
    out.assert_ok();
    assert!(
        out.stderr.contains("level=debug msg="),
        "exec --debug, no --log: {out}"
    );
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.json");
    let log_s = log.to_str().unwrap();
    let out = rt.cmd(&[
        "--debug",
        "--log",
        log_s,
        "--log-format",
        "json",
        "exec",
        &id,
        "true",
    ]);
    out.assert_ok();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "debug" && l["msg"].is_string()),
        "exec --debug --log: {text}"
    );
    rt.delete_force(&id).assert_ok();
}
