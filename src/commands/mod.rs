//! One file per subcommand. They orchestrate; the work lives in `state`,
//! `bundle`, `process` and `linux`.

pub mod create;
pub mod delete;
pub mod kill;
pub mod list;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
