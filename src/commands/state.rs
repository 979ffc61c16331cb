//! `husk state`.
