//! `husk start`.
