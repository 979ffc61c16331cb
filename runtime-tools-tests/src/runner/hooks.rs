//! Hook tests (config.md "POSIX-platform Hooks", runtime.md "Lifecycle" and "State").
//!
//! Every hook is a shell that records, into a host directory, the state JSON it read
//! on stdin, its exact environment and argv (`/proc/self/environ`, `cmdline`, opened by
//! the shell itself), its namespaces, and one line per run. The runner looks at that
//! directory between operations: a hook's record must appear at its lifecycle point,
//! not before, and only once.

use super::bundle::Bundle;
use super::flows::{self, check_state, WAIT};
use super::spec;
use super::{Ctx, Test};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Operations the runner observes hooks after, in lifecycle order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Create,
    Start,
    Exited,
    Delete,
}

/// A hook kind and what config.md / runtime.md require of it.
struct Kind {
    name: &'static str,
    /// The operation during which it runs.
    runs_in: Phase,
    /// Runs in the container's namespaces (else in the runtime's).
    in_container: bool,
    /// Its `path` resolves in the container (else in the runtime namespace).
    path_in_container: bool,
    /// The state's `status` while it runs.
    status: &'static str,
}

const KINDS: [Kind; 6] = [
    Kind {
        name: "prestart",
        runs_in: Phase::Create,
        in_container: false,
        path_in_container: false,
        status: "creating",
    },
    Kind {
        name: "createRuntime",
        runs_in: Phase::Create,
        in_container: false,
        path_in_container: false,
        status: "creating",
    },
    Kind {
        name: "createContainer",
        runs_in: Phase::Create,
        in_container: true,
        path_in_container: false,
        status: "creating",
    },
    Kind {
        name: "startContainer",
        runs_in: Phase::Start,
        in_container: true,
        path_in_container: true,
        status: "created",
    },
    Kind {
        name: "poststart",
        runs_in: Phase::Start,
        in_container: false,
        path_in_container: false,
        status: "running",
    },
    Kind {
        name: "poststop",
        runs_in: Phase::Delete,
        in_container: false,
        path_in_container: false,
        status: "stopped",
    },
];

/// Namespaces a hook records (`/proc/self/ns/*`).
const NS: [&str; 6] = ["mnt", "pid", "net", "ipc", "uts", "cgroup"];

/// Where a container-namespace hook sees the record directory (bind-mounted).
const IN_CONTAINER_DIR: &str = "/rtt-hooks";

/// The container's program: runs until the runner creates /rtt/out/stop.
const WAIT_FOR_STOP: &str = "while [ ! -e /rtt/out/stop ]; do sleep 0.02; done";

/// The host directory hooks write to.
fn record_dir(b: &Bundle) -> PathBuf {
    b.dir.join("hooks")
}

/// A host-only path to the host's /bin/sh: it does not exist in the container, so a
/// hook using it proves its path was resolved in the runtime namespace.
fn host_sh(ctx: &Ctx) -> Result<PathBuf, String> {
    let p = ctx.workdir().join("host-sh");
    if !p.exists() {
        std::os::unix::fs::symlink("/bin/sh", &p).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(p)
}

/// A container-only path to busybox (absent on the host).
const CONTAINER_SH: &str = "/rtt/hook-sh";

/// The recording script for hook `kind` writing into `dir` (as the hook sees it).
fn script(dir: &str, kind: &str) -> String {
    format!(
        "exec 3</proc/self/environ 4</proc/self/cmdline; d={dir}; k={kind}; \
         cat > $d/$k.state; cat <&3 > $d/$k.env; cat <&4 > $d/$k.args; \
         for n in {ns}; do readlink /proc/self/ns/$n; done > $d/$k.ns; \
         echo ran >> $d/$k.runs",
        ns = NS.join(" ")
    )
}

/// The hook entry of `kind` for bundle `b` (path, args, env, timeout).
fn hook_for(ctx: &Ctx, b: &Bundle, k: &Kind) -> Result<Value, String> {
    let (path, argv0, dir) = if k.path_in_container {
        (CONTAINER_SH.to_string(), "sh", IN_CONTAINER_DIR.to_string())
    } else {
        let host = record_dir(b).to_string_lossy().into_owned();
        let sh = host_sh(ctx)?;
        // busybox picks its applet by argv[0]: on a busybox-only host (the cgroup v2
        // VM) argv[0] must stay "sh"; elsewhere a distinct argv[0] proves it is passed.
        let busybox =
            std::fs::canonicalize(&sh).is_ok_and(|p| p.file_name().is_some_and(|n| n == "busybox"));
        (
            sh.to_string_lossy().into_owned(),
            if busybox { "sh" } else { "rtt-hook" },
            host,
        )
    };
    Ok(json!({
        "path": path,
        "args": [argv0, "-c", script(&dir, k.name), format!("{}-arg0", k.name), "two words"],
        "env": [
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            format!("RTT_HOOK={}", k.name),
            format!("RTT_ID={}", b.id),
        ],
        "timeout": 20
    }))
}

/// Gives `b` every recording hook, the record directory (bind-mounted into the
/// container) and the program that waits for /rtt/out/stop.
fn with_all_hooks(ctx: &Ctx, b: &mut Bundle) -> Result<(), String> {
    let dir = record_dir(b);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let busybox = b.rootfs().join("bin/busybox");
    std::fs::hard_link(
        &busybox,
        b.rootfs().join(CONTAINER_SH.trim_start_matches('/')),
    )
    .map_err(|e| format!("{CONTAINER_SH}: {e}"))?;
    let mut hooks = json!({});
    for k in &KINDS {
        hooks[k.name] = json!([hook_for(ctx, b, k)?]);
    }
    b.config["hooks"] = hooks;
    spec::add_mount(
        &mut b.config,
        json!({"destination": IN_CONTAINER_DIR, "type": "bind",
               "source": dir, "options": ["rbind"]}),
    );
    b.args(&["/bin/sh", "-c", WAIT_FOR_STOP]);
    Ok(())
}

fn read(p: &Path) -> Result<String, String> {
    std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))
}

fn ns_of(proc_dir: &str) -> Vec<String> {
    NS.iter()
        .map(|n| {
            std::fs::read_link(format!("{proc_dir}/ns/{n}"))
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_else(|e| format!("{n}: {e}"))
        })
        .collect()
}

fn nul_split(s: &str) -> Vec<String> {
    s.split('\0')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// Whether hook `k` has run, and how often, by its record.
fn runs(b: &Bundle, k: &Kind) -> usize {
    std::fs::read_to_string(record_dir(b).join(format!("{}.runs", k.name)))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

fn observe(b: &Bundle, k: &Kind, after: Phase) -> Result<(), String> {
    let n = runs(b, k);
    let want = usize::from(after >= k.runs_in);
    if n == want {
        return Ok(());
    }
    Err(format!(
        "after {after:?}: the {} hook ran {n} time(s), want {want} (it runs during {:?})",
        k.name, k.runs_in
    ))
}

/// Checks what hook `k` recorded: state on stdin, exact env and args, namespaces.
fn check_record(
    b: &Bundle,
    k: &Kind,
    hook: &Value,
    init_pid: u64,
    init_ns: &[String],
) -> Result<(), String> {
    let dir = record_dir(b);
    let mut problems = Vec::new();
    let text = read(&dir.join(format!("{}.state", k.name)))?;
    let state: Value =
        serde_json::from_str(&text).map_err(|e| format!("state on stdin: {e}: {text:?}"))?;
    // id, bundle, ociVersion, status; a live pid when created or running.
    if let Err(e) = flows::check_state_fields(&state, b, k.status) {
        problems.push(format!("stdin: {e}"));
    }
    // runtime.md: pid is the container process as seen by the host.
    if let Some(p) = state["pid"].as_u64().filter(|_| k.status != "stopped") {
        if p != init_pid {
            problems.push(format!(
                "stdin: pid {p} is not the container process as seen by the host ({init_pid})"
            ));
        }
    }
    let mut env = nul_split(&read(&dir.join(format!("{}.env", k.name)))?);
    let mut want_env: Vec<String> = crate::checker::strings(&hook["env"])
        .into_iter()
        .map(str::to_string)
        .collect();
    env.sort();
    want_env.sort();
    if env != want_env {
        problems.push(format!("environment {env:?}, want exactly {want_env:?}"));
    }
    let args = nul_split(&read(&dir.join(format!("{}.args", k.name)))?);
    let want_args = crate::checker::strings(&hook["args"]);
    if args != want_args {
        problems.push(format!("argv {args:?}, want {want_args:?}"));
    }
    let ns: Vec<String> = read(&dir.join(format!("{}.ns", k.name)))?
        .lines()
        .map(str::to_string)
        .collect();
    let (want_ns, whose) = if k.in_container {
        (init_ns.to_vec(), "the container's")
    } else {
        (ns_of("/proc/self"), "the runtime's")
    };
    if ns != want_ns {
        problems.push(format!("namespaces {ns:?}, want {whose} {want_ns:?}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{} hook: {}", k.name, problems.join("\n")))
    }
}

/// The whole lifecycle with every hook, checking hook `k` after each operation.
fn lifecycle_of(ctx: &mut Ctx, b: &mut Bundle, k: &Kind) -> Result<(), String> {
    with_all_hooks(ctx, b)?;
    let s = flows::create(ctx, b)?;
    let init_pid = s["pid"].as_u64().unwrap_or(0);
    let init_ns = ns_of(&format!("/proc/{init_pid}"));
    observe(b, k, Phase::Create)?;
    flows::start(ctx, b)?;
    observe(b, k, Phase::Start)?;
    std::fs::write(b.out("stop"), "").map_err(|e| e.to_string())?;
    ctx.rt.wait_status(&b.id, "stopped", WAIT)?;
    observe(b, k, Phase::Exited)?;
    flows::delete(ctx, b)?;
    observe(b, k, Phase::Delete)?;
    check_record(b, k, &b.config["hooks"][k.name][0], init_pid, &init_ns)
}

fn t(name: &str, f: impl Fn(&mut Ctx, &mut Bundle) -> Result<(), String> + 'static) -> Test {
    let n = name.to_string();
    Test::new(name, move |ctx| {
        let mut b = ctx.bundle(&n)?;
        f(ctx, &mut b)
    })
}

/// A host shell hook running `cmd`, tagged with the container's `RTT_ID`.
fn sh_hook(ctx: &Ctx, b: &Bundle, cmd: &str) -> Result<Value, String> {
    Ok(json!({
        "path": host_sh(ctx)?,
        "args": ["sh", "-c", cmd],
        "env": [format!("RTT_ID={}", b.id), "PATH=/usr/bin:/bin"]
    }))
}

/// A failing hook of `kind` followed by one that records that it ran: the failure is
/// only a warning, the next hook and the lifecycle continue.
fn failing_then_recording(ctx: &Ctx, b: &mut Bundle, kind: &str) -> Result<PathBuf, String> {
    let dir = record_dir(b);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let second = dir.join("second");
    b.config["hooks"][kind] = json!([
        sh_hook(ctx, b, "echo failing on purpose >&2; exit 3")?,
        sh_hook(ctx, b, &format!("echo ran > {}", second.display()))?,
    ]);
    b.args(&["/bin/sh", "-c", WAIT_FOR_STOP]);
    Ok(second)
}

fn must_exist(p: &Path, what: &str) -> Result<(), String> {
    if p.exists() {
        Ok(())
    } else {
        Err(format!("{what} did not run after the failing one"))
    }
}

/// The hook tests.
pub fn tests() -> Vec<Test> {
    let mut v: Vec<Test> = [
        ("hook-prestart", 0),
        ("hook-create-runtime", 1),
        ("hook-create-container", 2),
        ("hook-start-container", 3),
        ("hook-poststart", 4),
        ("hook-poststop", 5),
    ]
    .into_iter()
    .map(|(name, i)| t(name, move |ctx, b| lifecycle_of(ctx, b, &KINDS[i])))
    .collect();
    v.push(t("hook-create-runtime-fails", |ctx, b| {
        // runtime.md: a failing createRuntime hook MUST generate an error and stop the
        // container; create fails and nothing of the container remains.
        b.config["hooks"]["createRuntime"] = json!([sh_hook(ctx, b, "exit 7")?]);
        flows::expect_create_fails(ctx, b)
    }));
    v.push(t("hook-timeout", |ctx, b| {
        // config.md: `timeout` is the number of seconds before aborting the hook. A
        // hook that runs past it fails create; the hook process itself (tagged with
        // RTT_ID) must be gone too.
        b.config["hooks"]["createRuntime"] = json!([{
            "path": "/bin/sleep",
            "args": ["sleep", "25"],
            "env": [format!("RTT_ID={}", b.id)],
            "timeout": 1
        }]);
        let t0 = Instant::now();
        flows::expect_create_fails(ctx, b)?;
        let took = t0.elapsed();
        if took > Duration::from_secs(10) {
            return Err(format!("create took {took:?} with a 1s hook timeout"));
        }
        Ok(())
    }));
    v.push(t("hook-poststart-fails-warns", |ctx, b| {
        let second = failing_then_recording(ctx, b, "poststart")?;
        flows::create(ctx, b)?;
        flows::start(ctx, b)?;
        must_exist(&second, "the second poststart hook")?;
        let s = ctx.rt.state(&b.id)?;
        check_state(&s, b, "running")?;
        std::fs::write(b.out("stop"), "").map_err(|e| e.to_string())?;
        ctx.rt.wait_status(&b.id, "stopped", WAIT)?;
        flows::delete(ctx, b)
    }));
    v.push(t("hook-poststop-fails-warns", |ctx, b| {
        let second = failing_then_recording(ctx, b, "poststop")?;
        flows::create(ctx, b)?;
        flows::start(ctx, b)?;
        std::fs::write(b.out("stop"), "").map_err(|e| e.to_string())?;
        ctx.rt.wait_status(&b.id, "stopped", WAIT)?;
        flows::delete(ctx, b)?;
        must_exist(&second, "the second poststop hook")
    }));
    v
}
