//! `husk pause ID`: freeze every process of a running (or created) container; its
//! status is `paused` until `resume`. As runc, pausing anything else fails with
//! "container not running".

use crate::cli::IdArg;
use crate::commands::{CommandError, Context};
use crate::state::Status;

pub fn run(ctx: &Context, args: &IdArg) -> Result<i32, CommandError> {
    let dir = ctx.store.open(&args.id)?;
    let state = dir.load()?;
    match dir.status(&state) {
        Status::Running | Status::Created => {}
        _ => return Err(CommandError::msg("container not running")),
    }
    let cg = state
        .cgroup
        .as_ref()
        .ok_or_else(|| CommandError::no_cgroup("pause"))?;
    cg.freeze()?;
    Ok(0)
}
