//! Shared building blocks of the end-to-end tests.
