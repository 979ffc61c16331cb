//! `husk list`.
