//! `husk delete ID`: release a stopped container's resources. A container that
//! is not stopped is an error (runtime.md) unless `--force`, which kills it first.

use crate::cli::DeleteArgs;
use crate::commands::{kill, CommandError, Context};
use crate::state::{StateError, Status};

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
    dir.remove()?;
    Ok(0)
}
