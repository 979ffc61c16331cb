//! Device nodes: default devices, `linux.devices`, /dev symlinks.
