//! `husk state ID`: print the runtime.md state of a container as JSON.

use crate::cli::IdArg;
use crate::commands::{CommandError, Context};
use crate::state::{OciState, State, Status};

/// The printable state, with the derived status (pid 0 once stopped, as runc).
pub fn oci_state(state: &State, status: Status) -> OciState<'_> {
    OciState {
        oci_version: &state.oci_version,
        id: &state.id,
        pid: if status == Status::Stopped {
            0
        } else {
            state.pid
        },
        status,
        bundle: &state.bundle,
        rootfs: &state.rootfs,
        created: &state.created,
        owner: &state.owner,
        annotations: &state.annotations,
    }
}

pub fn run(ctx: &Context, args: &crate::cli::IdArg) -> Result<i32, CommandError> {
    let _: &IdArg = args;
    let dir = ctx.store.open(&args.id)?;
    let state = dir.load()?;
    let status = dir.status(&state);
    let text = serde_json::to_string_pretty(&oci_state(&state, status)).expect("serializes");
    println!("{text}");
    Ok(0)
}
