//! `hooks`: the six hook kinds of config.md (prestart, createRuntime,
//! createContainer, startContainer, poststart, poststop). Each hook is run with
//! its `args` and exactly its `env`, the container's state JSON on stdin, and is
//! killed after `timeout` seconds.
//!
//! Where each kind runs: prestart and createRuntime in the parent (`spawn`) once
//! the init has mounted everything; createContainer in the init before the pivot;
//! startContainer in the init after `start`, right before execve; poststart in
//! `start`/`run`; poststop in `delete`.
//!
//! Their working directory is runc's (hooks with relative paths depend on it):
//! the bundle for prestart, createRuntime, poststart and a foreground `run`'s
//! poststop; the rootfs for createContainer; `process.cwd` for startContainer;
//! the caller's for the poststop of `delete`.

use oci_spec::runtime::{Hook, Hooks, Spec};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("hooks.{kind}[{index}] {path}: path must be absolute")]
    Relative {
        kind: &'static str,
        index: usize,
        path: String,
    },
    #[error("hooks.{kind}[{index}] {path}: {step}: {source}")]
    Spawn {
        kind: &'static str,
        index: usize,
        path: String,
        step: &'static str,
        source: std::io::Error,
    },
    #[error("hooks.{kind}[{index}] {path}: error running hook: {outcome}{stderr}")]
    Failed {
        kind: &'static str,
        index: usize,
        path: String,
        outcome: String,
        stderr: String,
    },
}

/// A hook kind: its JSON name and its hooks in a spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }

    /// The hooks of this kind in `spec` (empty when none).
    pub fn of(self, spec: &Spec) -> Vec<Hook> {
        let Some(h): Option<&Hooks> = spec.hooks().as_ref() else {
            return Vec::new();
        };
        #[allow(deprecated)]
        let list = match self {
            Kind::Prestart => h.prestart(),
            Kind::CreateRuntime => h.create_runtime(),
            Kind::CreateContainer => h.create_container(),
            Kind::StartContainer => h.start_container(),
            Kind::Poststart => h.poststart(),
            Kind::Poststop => h.poststop(),
        };
        list.clone().unwrap_or_default()
    }
}

/// The hooks of `kind` in a stored `Hooks` (state.json keeps poststart/poststop).
pub fn stored(kind: Kind, hooks: &Option<Hooks>) -> Vec<Hook> {
    let Some(h) = hooks else { return Vec::new() };
    let list = match kind {
        Kind::Poststart => h.poststart(),
        Kind::Poststop => h.poststop(),
        _ => &None,
    };
    list.clone().unwrap_or_default()
}

/// Whether the spec has any hook that runs during `create`.
pub fn any_at_create(spec: &Spec) -> bool {
    [
        Kind::Prestart,
        Kind::CreateRuntime,
        Kind::CreateContainer,
        Kind::StartContainer,
    ]
    .iter()
    .any(|k| !k.of(spec).is_empty())
}

/// Check every hook path before anything is created.
pub fn validate(spec: &Spec) -> Result<(), HookError> {
    for kind in [
        Kind::Prestart,
        Kind::CreateRuntime,
        Kind::CreateContainer,
        Kind::StartContainer,
        Kind::Poststart,
        Kind::Poststop,
    ] {
        for (index, h) in kind.of(spec).iter().enumerate() {
            if !h.path().is_absolute() {
                return Err(HookError::Relative {
                    kind: kind.name(),
                    index,
                    path: h.path().display().to_string(),
                });
            }
        }
    }
    Ok(())
}

/// The state JSON a hook reads on stdin (runtime.md "State").
pub fn state_json(
    oci_version: &str,
    id: &str,
    status: &str,
    pid: i32,
    bundle: &Path,
    annotations: Option<&std::collections::HashMap<String, String>>,
) -> String {
    let mut v = serde_json::json!({
        "ociVersion": oci_version,
        "id": id,
        "status": status,
        "bundle": bundle,
    });
    if pid > 0 {
        v["pid"] = pid.into();
    }
    if let Some(a) = annotations.filter(|a| !a.is_empty()) {
        v["annotations"] = serde_json::to_value(a).expect("annotations serialize");
    }
    v.to_string()
}

/// Run every hook of `kind` in order in `cwd` (None: this process's); the first
/// failure is the error.
pub fn run(kind: Kind, hooks: &[Hook], state: &str, cwd: Option<&Path>) -> Result<(), HookError> {
    for (index, h) in hooks.iter().enumerate() {
        run_one(kind.name(), index, h, state, cwd)?;
    }
    Ok(())
}

/// Run every hook of `kind`, logging failures as warnings (poststart, poststop).
pub fn run_warn(kind: Kind, hooks: &[Hook], state: &str, cwd: Option<&Path>, context: &str) {
    for (index, h) in hooks.iter().enumerate() {
        if let Err(e) = run_one(kind.name(), index, h, state, cwd) {
            crate::logging::warn(&format!("{context}: {e}"));
        }
    }
}

fn run_one(
    kind: &'static str,
    index: usize,
    h: &Hook,
    state: &str,
    cwd: Option<&Path>,
) -> Result<(), HookError> {
    let path = h.path().display().to_string();
    let spawn_err = |step: &'static str| {
        let path = path.clone();
        move |source| HookError::Spawn {
            kind,
            index,
            path,
            step,
            source,
        }
    };
    let mut cmd = Command::new(h.path());
    if let Some(args) = h.args().as_ref().filter(|a| !a.is_empty()) {
        cmd.arg0(&args[0]).args(&args[1..]);
    }
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    cmd.env_clear();
    for kv in h.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(spawn_err("exec"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine: ignore EPIPE.
        let _ = stdin.write_all(state.as_bytes());
    }
    let deadline = h
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let status = loop {
        if let Some(s) = child.try_wait().map_err(spawn_err("wait"))? {
            break Some(s);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    let outcome = match status {
        Some(s) if s.success() => return Ok(()),
        Some(s) => describe_exit(s),
        None => format!("timeout after {}s", h.timeout().unwrap_or(0)),
    };
    let stderr = stderr.trim();
    Err(HookError::Failed {
        kind,
        index,
        path,
        outcome,
        stderr: if stderr.is_empty() {
            String::new()
        } else {
            format!(": {stderr}")
        },
    })
}

/// How a hook ended, in runc's (Go's) words: `exit status 3`, `signal: killed`,
/// `signal: bad system call` (seccomp).
fn describe_exit(s: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = s.code() {
        return format!("exit status {code}");
    }
    let Some(sig) = s.signal() else {
        return s.to_string();
    };
    // SAFETY: strsignal returns a pointer to a static (or thread-local) string.
    let text = unsafe { std::ffi::CStr::from_ptr(libc::strsignal(sig)) }.to_string_lossy();
    let mut name = text.into_owned();
    if let Some(first) = name.get_mut(0..1) {
        first.make_ascii_lowercase();
    }
    let core = if s.core_dumped() {
        " (core dumped)"
    } else {
        ""
    };
    format!("signal: {name}{core}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(v: serde_json::Value) -> Hook {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn hook_gets_state_on_stdin_and_exactly_its_env() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let h = hook(serde_json::json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat > {0}; env >> {0}", out.display())],
            "env": ["ONLY=1"]
        }));
        run(Kind::Poststart, &[h], "{\"id\":\"x\"}", None).unwrap();
        let text = std::fs::read_to_string(out).unwrap();
        assert!(text.starts_with("{\"id\":\"x\"}"), "{text}");
        assert!(text.contains("ONLY=1"), "{text}");
        assert!(!text.contains("HOME="), "{text}");
    }

    #[test]
    fn failure_and_timeout_name_the_hook() {
        let fail = hook(
            serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "echo boom >&2; exit 3"]}),
        );
        let e = run(Kind::CreateRuntime, &[fail], "{}", None)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "hooks.createRuntime[0] /bin/sh: error running hook: exit status 3: boom"
            ),
            "{e}"
        );
        let slow =
            hook(serde_json::json!({"path": "/bin/sleep", "args": ["sleep", "10"], "timeout": 1}));
        let e = run(Kind::Prestart, &[slow], "{}", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("error running hook: timeout after 1s"), "{e}");
        let killed =
            hook(serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "kill -9 $$"]}));
        let e = run(Kind::Prestart, &[killed], "{}", None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "hooks.prestart[0] /bin/sh: error running hook: signal: killed"
        );
    }

    #[test]
    fn relative_path_is_rejected() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.3.0",
            "hooks": {"poststop": [{"path": "bin/x"}]}
        }))
        .unwrap();
        assert_eq!(
            validate(&spec).unwrap_err().to_string(),
            "hooks.poststop[0] bin/x: path must be absolute"
        );
    }
}
