//! Loading config.json from a bundle.
