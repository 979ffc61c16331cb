//! `husk delete ID`: release a stopped container's resources. A container that
//! is not stopped is an error (runtime.md) unless `--force`, which kills it first.

use crate::cli::DeleteArgs;
use crate::commands::{kill, CommandError, Context};
use crate::state::{ContainerDir, State, StateError, Status};
use std::path::Path;

pub fn run(ctx: &Context, args: &DeleteArgs) -> Result<i32, CommandError> {
    let dir = match ctx.store.open(&args.id) {
        Ok(d) => d,
        Err(StateError::NotFound(_)) if args.force => {
            // An aborted create may leave a directory without state.json.
            crate::state::validate_id(&args.id)?;
            let _ = std::fs::remove_dir_all(ctx.store.root().join(&args.id));
            return Ok(0);
        }
        Err(e) => return Err(e.into()),
    };
    let state = dir.load()?;
    match dir.status(&state) {
        Status::Stopped => {}
        _ if args.force => kill::kill_and_wait(&state),
        status => {
            return Err(CommandError::msg(format!(
                "cannot delete container that is not stopped (status: {status}); use --force"
            )))
        }
    }
    remove(dir, &state, None)?;
    Ok(0)
}

/// Remove a stopped container: kill what is left in its cgroup (processes of a
/// container without a pid namespace outlive its init), remove the cgroup, then
/// the state dir, then run the poststop hooks in `hook_dir` (None: the caller's
/// directory). If the cgroup cannot be removed the state stays, so `delete` can
/// be retried.
pub fn remove(
    dir: ContainerDir,
    state: &State,
    hook_dir: Option<&Path>,
) -> Result<(), CommandError> {
    if let Some(cg) = &state.cgroup {
        kill::signal_all(state, libc::SIGKILL);
        if let Some(unit) = &state.systemd {
            // systemd removes the cgroups it made; husk's own (v1) go next.
            crate::cgroups::systemd::stop(unit)?;
        }
        cg.destroy()?;
    }
    dir.remove()?;
    let hooks = crate::hooks::stored(crate::hooks::Kind::Poststop, &state.hooks);
    if !hooks.is_empty() {
        let json = crate::commands::start::state_json(state, "stopped");
        crate::hooks::run_warn(
            crate::hooks::Kind::Poststop,
            &hooks,
            &json,
            hook_dir,
            &format!("delete {}", state.id),
        );
    }
    Ok(())
}
