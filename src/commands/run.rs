//! `husk run`: create + start in one go. In the foreground husk relays signals and
//! the terminal, exits with the container's status (128+N when killed by signal N)
//! and deletes the container afterwards (unless `--keep`); `--detach` returns at once.

use crate::cli::RunArgs;
use crate::commands::create::{self, Mode};
use crate::commands::{delete, kill, start, CommandError, Context};
use crate::process::foreground;

pub fn run(ctx: &Context, args: &RunArgs) -> Result<i32, CommandError> {
    let bundle = create::load_bundle(&args.create)?;
    let terminal = bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    if args.detach && terminal && args.create.console_socket.is_none() {
        return Err(CommandError::msg(
            "process.terminal: cannot allocate a terminal for a detached container without --console-socket",
        ));
    }
    if !args.detach {
        // Orphans of the container (and the grandchild of a second fork) come to us.
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }
    let created = create::create(
        ctx,
        &args.create,
        bundle,
        Mode {
            exec_fifo: false,
            console_back: terminal && !args.detach && args.create.console_socket.is_none(),
        },
    )?;
    let create::Created {
        dir,
        state,
        spawned,
    } = created;
    // Let `state`, `kill` and friends work while we wait.
    drop(dir);
    start::run_poststart(&state);
    if args.detach {
        return Ok(0);
    }
    let result = foreground::wait(
        nix::unistd::Pid::from_raw(spawned.pid),
        spawned.console_master,
    );
    if args.keep {
        return Ok(result?);
    }
    if let Ok(dir) = ctx.store.open(&state.id) {
        match dir.load() {
            Ok(s) => {
                kill::kill_and_wait(&s);
                // runc's poststop of a foreground run runs in the bundle.
                if let Err(e) = delete::remove(dir, &s, Some(&s.bundle)) {
                    crate::logging::warn(&format!("run {}: {e}", s.id));
                }
            }
            Err(_) => {
                let _ = dir.remove();
            }
        }
    }
    Ok(result?)
}
