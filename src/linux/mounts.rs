//! Mounting one `mounts[]` entry: type, options -> flags + data, propagation, recursive attributes.
