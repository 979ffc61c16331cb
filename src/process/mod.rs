//! Creating the container process: the clone sequence (`spawn`), the parent<->child
//! channel (`channel`), everything init does before execve (`init`) and the
//! foreground wait loop of `run` (`foreground`).

pub mod attributes;
pub mod channel;
pub mod exec;
pub mod foreground;
pub mod init;
pub mod spawn;
