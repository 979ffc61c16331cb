//! `husk delete`.
