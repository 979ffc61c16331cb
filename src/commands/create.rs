//! `husk create`: build the container up to the point of exec; its init waits on
//! the exec FIFO for `start`. Returns once the container is `created` and the pid
//! file is written. A failure leaves nothing behind.

use crate::bundle::{self, Bundle};
use crate::cgroups::Cgroup;
use crate::cli::CreateArgs;
use crate::commands::{CommandError, Context};
use crate::linux::console;
use crate::process::spawn::{self, SpawnOptions, Spawned};
use crate::state::{ContainerDir, State};
use oci_spec::runtime::LinuxNamespaceType;
use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// How `create` is used: alone (exec FIFO) or by `run` (no FIFO).
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    pub exec_fifo: bool,
    /// Foreground run with a terminal and no console socket: bring the master back.
    pub console_back: bool,
}

/// A container that `create` made: locked state dir, saved state, live init.
pub struct Created {
    pub dir: ContainerDir,
    pub state: State,
    pub spawned: Spawned,
}

pub fn run(ctx: &Context, args: &CreateArgs) -> Result<i32, CommandError> {
    create(
        ctx,
        args,
        load_bundle(args)?,
        Mode {
            exec_fifo: true,
            console_back: false,
        },
    )?;
    Ok(0)
}

/// Load the bundle named by `--bundle` (default: the current directory).
pub fn load_bundle(args: &CreateArgs) -> Result<Bundle, CommandError> {
    let b = bundle::load(args.bundle.as_deref().unwrap_or(Path::new(".")))?;
    crate::logging::debug(|| {
        format!(
            "create {}: config.json parsed and validated: bundle {}, rootfs {}, {} mounts, \
             seccomp {}",
            args.id,
            b.dir.display(),
            b.rootfs.display(),
            b.spec.mounts().as_ref().map_or(0, Vec::len),
            b.seccomp.as_ref().map_or("none".to_string(), |p| format!(
                "{} BPF instructions",
                p.len()
            ))
        )
    });
    Ok(b)
}

/// Create the container; on any error remove everything made so far.
pub fn create(
    ctx: &Context,
    args: &CreateArgs,
    bundle: Bundle,
    mode: Mode,
) -> Result<Created, CommandError> {
    let dir = ctx.store.create(&args.id)?;
    crate::logging::debug(|| format!("create {}: state dir {} made", args.id, dir.path.display()));
    let drivers = Drivers {
        systemd: ctx.global.systemd_cgroup,
        rootless: ctx.rootless(),
    };
    match create_in(&dir, &bundle, args, mode, drivers) {
        Ok((state, spawned)) => Ok(Created {
            dir,
            state,
            spawned,
        }),
        Err(e) => {
            let _ = dir.remove();
            Err(e)
        }
    }
}

fn create_in(
    dir: &ContainerDir,
    bundle: &Bundle,
    args: &CreateArgs,
    mode: Mode,
    drivers: Drivers,
) -> Result<(State, Spawned), CommandError> {
    let Drivers { systemd, rootless } = drivers;
    let fifo = if mode.exec_fifo {
        Some(make_exec_fifo(&dir.fifo_path())?)
    } else {
        None
    };
    let console_socket = match &args.console_socket {
        Some(p) => Some(console::connect_console_socket(p)?),
        None => None,
    };
    if !args.no_new_keyring {
        join_session_keyring(&args.id);
    }
    crate::logging::debug(|| {
        format!(
            "create {}: exec fifo {}, console socket {}, keyring {}; namespaces created \
             {:?}, joined {:?}",
            args.id,
            if fifo.is_some() {
                "made"
            } else {
                "not needed (run)"
            },
            if console_socket.is_some() {
                "connected"
            } else {
                "none"
            },
            if args.no_new_keyring {
                "shared"
            } else {
                "joined"
            },
            bundle.namespaces.create,
            bundle.namespaces.join
        )
    });
    let cgroups_path = bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone());
    if systemd {
        let resources = bundle
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.resources().clone())
            .unwrap_or_default();
        let annotations = bundle.spec.annotations().clone().unwrap_or_default();
        let path = cgroups_path.as_deref().and_then(Path::to_str);
        let placement = crate::cgroups::systemd::Placement::new(
            path,
            &args.id,
            &resources,
            &annotations,
            false,
        )?;
        crate::logging::debug(|| {
            format!(
                "create {}: systemd unit {} planned",
                args.id,
                placement.unit().name
            )
        });
        let made = spawn_and_save(
            dir,
            bundle,
            args,
            mode,
            fifo.as_ref(),
            console_socket.as_ref(),
            Where::Systemd(&placement),
        );
        if made.is_err() {
            placement.abort();
        }
        return made;
    }
    let resources = bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    let cgroup = match make_cgroup(cgroups_path.as_deref(), &args.id) {
        Ok(cg) => Some(cg),
        // As runc: rootless, no limit asked for, no cgroup we may make.
        Err(e) if rootless && !needs_cgroup(&resources) => {
            crate::logging::debug(|| {
                format!(
                    "create {}: rootless, running without a cgroup of its own: {e}",
                    args.id
                )
            });
            None
        }
        Err(e) if rootless => {
            return Err(CommandError::msg(format!(
                "{}: rootless, and no cgroup this user may write for it ({e}): a limit needs \
                 a delegated cgroup v2 subtree (e.g. under a systemd user instance) or root",
                limit_field(&resources)
            )))
        }
        Err(e) => return Err(e),
    };
    let made = spawn_and_save(
        dir,
        bundle,
        args,
        mode,
        fifo.as_ref(),
        console_socket.as_ref(),
        match &cgroup {
            Some(cg) => Where::Cgroupfs(cg),
            None => Where::Nowhere,
        },
    );
    if made.is_err() {
        if let Some(cg) = &cgroup {
            if let Err(e) = cg.destroy() {
                crate::logging::warn(&format!("create {}: {e}", args.id));
            }
        }
    }
    made
}

/// The container's cgroup made and checked (cgroupfs driver); on a failure what
/// was made of it is removed again.
fn make_cgroup(cgroups_path: Option<&Path>, id: &str) -> Result<Cgroup, CommandError> {
    let mut cgroup = Cgroup::new(cgroups_path, id)?;
    let made = cgroup.create().and_then(|()| cgroup.check_joinable());
    if let Err(e) = made {
        let _ = cgroup.destroy();
        return Err(e.into());
    }
    crate::logging::debug(|| {
        let dirs: Vec<String> = cgroup
            .dirs
            .iter()
            .map(|d| d.path.display().to_string())
            .collect();
        format!(
            "create {id}: cgroup {:?} ready: {}",
            cgroup.version,
            dirs.join(" ")
        )
    });
    Ok(cgroup)
}

/// The first field of `r` that asks for a limit (for errors).
fn limit_field(r: &oci_spec::runtime::LinuxResources) -> &'static str {
    if r.memory().is_some() {
        "linux.resources.memory"
    } else if r.cpu().is_some() {
        "linux.resources.cpu"
    } else if r.pids().is_some() {
        "linux.resources.pids"
    } else if r.block_io().is_some() {
        "linux.resources.blockIO"
    } else if r.hugepage_limits().is_some() {
        "linux.resources.hugepageLimits"
    } else if r.unified().is_some() {
        "linux.resources.unified"
    } else {
        "linux.resources"
    }
}

/// Whether `r` asks for a limit (device rules alone do not: without a cgroup a
/// rootless container cannot make device nodes anyway).
fn needs_cgroup(r: &oci_spec::runtime::LinuxResources) -> bool {
    let mut limits = r.clone();
    limits.set_devices(None);
    limits != oci_spec::runtime::LinuxResources::default()
}

/// How the cgroup is made: the systemd driver or cgroupfs; rootless or not.
#[derive(Clone, Copy)]
struct Drivers {
    systemd: bool,
    rootless: bool,
}

/// Where the init's cgroup comes from.
#[derive(Clone, Copy)]
enum Where<'a> {
    /// Made by husk (cgroupfs driver).
    Cgroupfs(&'a Cgroup),
    /// A systemd unit started with the init's pid.
    Systemd(&'a crate::cgroups::systemd::Placement),
    /// No cgroup of its own (rootless, none needed).
    Nowhere,
}

/// Spawn the init in its cgroup and save the state; on error the init is gone.
fn spawn_and_save(
    dir: &ContainerDir,
    bundle: &Bundle,
    args: &CreateArgs,
    mode: Mode,
    fifo: Option<&OwnedFd>,
    console_socket: Option<&OwnedFd>,
    place: Where,
) -> Result<(State, Spawned), CommandError> {
    let (cgroup, systemd) = match place {
        Where::Cgroupfs(cg) => (Some(cg), None),
        Where::Systemd(sd) => (None, Some(sd)),
        Where::Nowhere => (None, None),
    };
    let mut spawned = spawn::spawn(&SpawnOptions {
        bundle,
        exec_fifo: fifo,
        console_socket,
        console_back: mode.console_back,
        no_pivot: args.no_pivot,
        preserve_fds: args.preserve_fds,
        cgroup,
        systemd,
        id: &args.id,
    })?;
    crate::logging::debug(|| format!("create {}: init pid {} is ready", args.id, spawned.pid));
    let start_time = crate::state::proc_stat(spawned.pid)
        .map(|(_, t)| t)
        .unwrap_or(0);
    let state = State {
        oci_version: bundle.spec.version().clone(),
        id: args.id.clone(),
        pid: spawned.pid,
        init_start_time: start_time,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: crate::rfc3339::now(),
        owner: String::new(),
        annotations: bundle.spec.annotations().clone().unwrap_or_default(),
        own_pid_ns: bundle.namespaces.creates(LinuxNamespaceType::Pid),
        hooks: bundle.spec.hooks().clone(),
        cgroup: cgroup.cloned().or_else(|| systemd.and_then(|s| s.cgroup())),
        systemd: systemd.map(|s| s.unit().clone()),
    };
    let saved = dir
        .save(&state)
        .map_err(CommandError::from)
        .and_then(|()| match &args.pid_file {
            Some(p) => write_pid_file(p, spawned.pid),
            None => Ok(()),
        });
    let net_devices = spawned.net_devices.take();
    if let Err(e) = saved {
        if let Some(mut moved) = net_devices {
            moved.restore();
        }
        crate::commands::kill::kill_and_wait(&state);
        return Err(e);
    }
    // Saved: from now on the init alone keeps the network namespace alive.
    drop(net_devices);
    crate::logging::debug(|| format!("create {}: state saved, container created", args.id));
    Ok((state, spawned))
}

/// mkfifo the exec FIFO (0600) and open its read end without blocking; the init
/// inherits it.
fn make_exec_fifo(path: &Path) -> Result<OwnedFd, CommandError> {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).map_err(|e| {
        CommandError::Io {
            what: format!("exec fifo: mkfifo {}", path.display()),
            source: e.into(),
        }
    })?;
    let c = CString::new(path.as_os_str().as_bytes()).expect("state path has no NUL");
    // SAFETY: opening a path we just created; the fd is owned below.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(CommandError::Io {
            what: format!("exec fifo: open {}", path.display()),
            source: std::io::Error::last_os_error(),
        });
    }
    // SAFETY: fd is a fresh, valid descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Give the container a session keyring of its own, named after it. Kernels or
/// sandboxes without keyrings only get a warning.
fn join_session_keyring(id: &str) {
    let name = CString::new(id).expect("ids have no NUL");
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl with a valid NUL-terminated name.
    let rc = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if rc < 0 {
        crate::logging::warn(&format!(
            "create {id}: joining a new session keyring: {} (the container shares the caller's)",
            std::io::Error::last_os_error()
        ));
    }
}

/// Write the pid atomically (temp file + rename in the same directory), as runc.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<(), CommandError> {
    let path = std::path::absolute(path).map_err(CommandError::io("--pid-file"))?;
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    std::fs::write(&tmp, pid.to_string()).map_err(CommandError::io(format!(
        "--pid-file: writing {}",
        tmp.display()
    )))?;
    std::fs::rename(&tmp, &path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CommandError::Io {
            what: format!("--pid-file: rename to {}", path.display()),
            source: e,
        }
    })
}
