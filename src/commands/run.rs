//! `husk run`.
