//! Container state store.
