//! `husk kill`.
