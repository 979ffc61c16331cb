//! `husk resume ID`: thaw a paused container; it is `running` (or `created`) again.
//! As runc, resuming a container that is not paused fails with
//! "container not paused".

use crate::cli::IdArg;
use crate::commands::{CommandError, Context};
use crate::state::Status;

pub fn run(ctx: &Context, args: &IdArg) -> Result<i32, CommandError> {
    let dir = ctx.store.open(&args.id)?;
    let state = dir.load()?;
    if dir.status(&state) != Status::Paused {
        return Err(CommandError::msg("container not paused"));
    }
    if let Some(cg) = &state.cgroup {
        cg.thaw()?;
    }
    Ok(0)
}
