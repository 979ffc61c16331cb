//! `husk spec`: write a default config.json like runc's.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{0}")]
    Other(String),
}

/// The default configuration `husk spec` writes (`rootless` as `runc spec --rootless`).
pub fn default_spec(_rootless: bool) -> serde_json::Value {
    serde_json::json!({})
}

/// Write `default_spec` to `bundle/config.json`, refusing to overwrite one.
pub fn run(_bundle: &Path, _rootless: bool) -> Result<(), SpecError> {
    Err(SpecError::Other("spec: not implemented".into()))
}
