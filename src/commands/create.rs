//! `husk create`.
