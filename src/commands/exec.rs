//! `husk exec ID COMMAND…` (or `--process FILE`): run a new process inside a
//! running container. The process starts from the container's `process` in
//! config.json, changed by the flags, as runc does; `--process` replaces it whole.

use crate::cgroups::sub;
use crate::cli::ExecArgs;
use crate::commands::{create, CommandError, Context};
use crate::linux::{console, cpu_affinity};
use crate::process::exec::{self, ExecOptions};
use crate::process::foreground;
use crate::state::Status;
use oci_spec::runtime::{Capability, Process};
use std::str::FromStr;

pub fn run(ctx: &Context, args: &ExecArgs) -> Result<i32, CommandError> {
    let dir = ctx.store.open(&args.id)?;
    let state = dir.load()?;
    match dir.status(&state) {
        Status::Stopped => return Err(CommandError::msg("cannot exec in a stopped container")),
        Status::Paused if !args.ignore_paused => {
            return Err(CommandError::msg(
                "cannot exec in a paused container (use --ignore-paused)",
            ))
        }
        _ => {}
    }
    // Let other commands work on the container while this process runs.
    drop(dir);
    // The container's config: the base of the process, and its seccomp profile.
    let bundle = crate::bundle::load_quiet(&state.bundle).ok();
    let process = build_process(bundle.as_ref(), args)?;
    let affinity = cpu_affinity::plan(process.exec_cpu_affinity().as_ref())
        .map_err(|e| CommandError::msg(e.to_string()))?;
    let terminal = process.terminal().unwrap_or(false);
    if args.detach && terminal && args.console_socket.is_none() {
        return Err(CommandError::msg(
            "--tty: cannot allocate a terminal for a detached process without --console-socket",
        ));
    }
    let console_socket = match &args.console_socket {
        Some(p) => Some(console::connect_console_socket(p)?),
        None => None,
    };
    if !args.detach {
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }
    let cgroup = match &state.cgroup {
        Some(cg) if !args.cgroup.is_empty() => {
            let subs = args
                .cgroup
                .iter()
                .map(|a| sub::parse(a))
                .collect::<Result<Vec<_>, _>>()
                .map_err(crate::cgroups::CgroupError::from)?;
            Some(sub::apply(cg, &subs).map_err(crate::cgroups::CgroupError::from)?)
        }
        Some(cg) => Some(cg.clone()),
        None if !args.cgroup.is_empty() => {
            return Err(CommandError::msg(
                "--cgroup: the container has no cgroup of its own to choose a sub-cgroup of",
            ))
        }
        None => None,
    };
    crate::logging::debug(|| {
        format!(
            "exec {}: process {:?} (user {}:{}), terminal {terminal}, detach {}",
            args.id,
            process.args().clone().unwrap_or_default(),
            process.user().uid(),
            process.user().gid(),
            args.detach
        )
    });
    let spawned = exec::spawn(&ExecOptions {
        init_pid: state.pid,
        process: &process,
        console_socket: console_socket.as_ref(),
        console_back: terminal && !args.detach && args.console_socket.is_none(),
        preserve_fds: args.preserve_fds,
        seccomp: bundle.as_ref().and_then(|b| b.seccomp.as_ref()),
        cgroup: cgroup.as_ref(),
        affinity,
        memory_policy: bundle.as_ref().and_then(|b| b.memory_policy.as_ref()),
    })?;
    crate::logging::debug(|| format!("exec {}: pid {} is running", args.id, spawned.pid));
    if let Some(p) = &args.pid_file {
        if let Err(e) = create::write_pid_file(p, spawned.pid) {
            // Whoever asked for the pid file cannot manage a process it never
            // learns about: do not leave it behind.
            // SAFETY: kill(2) with integer arguments on the process just started.
            unsafe { libc::kill(spawned.pid, libc::SIGKILL) };
            return Err(e);
        }
    }
    if args.detach {
        return Ok(0);
    }
    Ok(foreground::wait(
        nix::unistd::Pid::from_raw(spawned.pid),
        spawned.console_master,
    )?)
}

/// The process to run: `--process FILE` as given, or the container's process
/// with the command and flags applied.
fn build_process(
    bundle: Option<&crate::bundle::Bundle>,
    args: &ExecArgs,
) -> Result<Process, CommandError> {
    if let Some(file) = &args.process {
        let text = std::fs::read_to_string(file)
            .map_err(CommandError::io(format!("--process {}", file.display())))?;
        let mut value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| CommandError::msg(format!("--process {}: {e}", file.display())))?;
        cpu_affinity::drop_empty_lists(&mut value);
        default_process_fields(&mut value);
        let p: Process = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                "process".to_string()
            } else {
                format!("process.{path}")
            };
            CommandError::msg(format!(
                "--process {}: {field}: {}",
                file.display(),
                e.inner()
            ))
        })?;
        return validate(inherit_from_container(p, bundle));
    }
    if args.command.is_empty() {
        return Err(CommandError::msg(
            "exec: no command given (or use --process)",
        ));
    }
    let mut p = bundle
        .and_then(|b| b.spec.process().clone())
        .unwrap_or_default();
    p.set_args(Some(args.command.clone()));
    p.set_terminal(Some(args.tty));
    p.set_console_size(None);
    if let Some(cwd) = &args.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &args.env {
        let key = kv.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(u) = &args.user {
        let mut user = p.user().clone();
        let (uid, gid) = parse_user(u)?;
        user.set_uid(uid);
        user.set_gid(gid.unwrap_or(0));
        p.set_user(user);
    }
    if !args.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(args.additional_gids.clone()));
        p.set_user(user);
    }
    if args.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !args.cap.is_empty() {
        add_caps(&mut p, &args.cap)?;
    }
    validate(p)
}

/// What runc assumes for fields a `--process` file leaves out: `user` is uid 0,
/// gid 0 (no additional groups); `cwd` must be given (checked by `validate`).
/// Everything else absent stays absent (no capabilities, no rlimits, no
/// terminal), as in runc: the container's `process` is not merged in.
fn default_process_fields(value: &mut serde_json::Value) {
    if let Some(obj) = value.as_object_mut() {
        obj.entry("user")
            .or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
        obj.entry("cwd").or_insert_with(|| "".into());
    }
}

/// runc takes these from the container's `process` when a `--process` file has
/// none: the capabilities and the AppArmor and SELinux labels. (noNewPrivileges
/// and rlimits are not inherited: runc 1.1.5 leaves them off.)
fn inherit_from_container(mut p: Process, bundle: Option<&crate::bundle::Bundle>) -> Process {
    let Some(base) = bundle.and_then(|b| b.spec.process().as_ref()) else {
        return p;
    };
    if p.capabilities().is_none() {
        p.set_capabilities(base.capabilities().clone());
    }
    if p.apparmor_profile().as_deref().unwrap_or("").is_empty() {
        p.set_apparmor_profile(base.apparmor_profile().clone());
    }
    if p.selinux_label().as_deref().unwrap_or("").is_empty() {
        p.set_selinux_label(base.selinux_label().clone());
    }
    p
}

fn validate(p: Process) -> Result<Process, CommandError> {
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(CommandError::msg(
            "process.args: must name the program to run",
        ));
    }
    if p.cwd().as_os_str().is_empty() {
        return Err(CommandError::msg("process.cwd: must not be empty"));
    }
    if !p.cwd().is_absolute() {
        return Err(CommandError::msg(format!(
            "process.cwd: must be an absolute path, got {:?}",
            p.cwd()
        )));
    }
    if let Some(r) = p.rlimits() {
        crate::linux::rlimits::validate(r).map_err(|e| CommandError::msg(e.to_string()))?;
    }
    Ok(p)
}

/// `UID[:GID]`.
fn parse_user(s: &str) -> Result<(u32, Option<u32>), CommandError> {
    let bad = || CommandError::msg(format!("--user {s:?}: expected UID[:GID] (numbers)"));
    let mut parts = s.splitn(2, ':');
    let uid = parts
        .next()
        .unwrap_or_default()
        .parse()
        .map_err(|_| bad())?;
    let gid = match parts.next() {
        Some(g) => Some(g.parse().map_err(|_| bad())?),
        None => None,
    };
    Ok((uid, gid))
}

/// `--cap CAP_X` adds to the bounding, effective and permitted sets (as runc).
fn add_caps(p: &mut Process, caps: &[String]) -> Result<(), CommandError> {
    let mut c = p.capabilities().clone().unwrap_or_default();
    for name in caps {
        let cap = Capability::from_str(name.trim_start_matches("CAP_"))
            .map_err(|_| CommandError::msg(format!("--cap: unknown capability {name:?}")))?;
        let add = |set: &Option<oci_spec::runtime::Capabilities>| {
            let mut s = set.clone().unwrap_or_default();
            s.insert(cap);
            Some(s)
        };
        let (b, e, pe) = (add(c.bounding()), add(c.effective()), add(c.permitted()));
        c.set_bounding(b);
        c.set_effective(e);
        c.set_permitted(pe);
    }
    p.set_capabilities(Some(c));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_forms() {
        assert_eq!(parse_user("1000").unwrap(), (1000, None));
        assert_eq!(parse_user("1000:5").unwrap(), (1000, Some(5)));
        assert!(parse_user("root").is_err());
    }
}
