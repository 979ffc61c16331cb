//! `linux.cgroupsPath` in the systemd driver's form, `slice:prefix:name`: the
//! parent slice, the unit name and the cgroup path they give, as runc reads it.
//!
//! - `system.slice:husk:abc` is the scope `husk-abc.scope` in `system.slice`, at
//!   `/system.slice/husk-abc.scope`.
//! - An empty slice is `system.slice` (`user.slice` for a user instance); an empty
//!   path is `system.slice:husk:<id>`.
//! - A name ending in `.slice` asks for a slice unit instead of a scope.
//! - A nested slice lives under each of its prefixes: `a-b-c.slice` is
//!   `/a.slice/a-b.slice/a-b-c.slice`; `-.slice` is the root.

const FIELD: &str = "linux.cgroupsPath";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    #[error("{FIELD}: {path:?}: {reason} (the systemd driver wants \"slice:prefix:name\", e.g. \"system.slice:husk:abc\")")]
    Form { path: String, reason: String },
    #[error("{FIELD}: slice {slice:?}: {reason}")]
    Slice { slice: String, reason: String },
}

/// Where a container's unit goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitPath {
    /// The parent slice (`system.slice`, `kubepods-burstable-podX.slice`).
    pub slice: String,
    /// The unit: `PREFIX-NAME.scope`, or NAME when it is a `.slice`.
    pub unit: String,
    /// The unit's cgroup, from the hierarchy root: `/system.slice/husk-abc.scope`.
    pub cgroup: String,
}

impl UnitPath {
    /// Whether the container's unit is a slice (no process of its own then: the
    /// init is put in it through the cgroup files).
    pub fn is_slice(&self) -> bool {
        self.unit.ends_with(".slice")
    }
}

/// Parse `cgroups_path` (None or empty: `<default slice>:husk:<id>`).
pub fn parse(cgroups_path: Option<&str>, id: &str, user: bool) -> Result<UnitPath, PathError> {
    let default_slice = if user { "user.slice" } else { "system.slice" };
    let text = cgroups_path.filter(|p| !p.is_empty());
    let (slice, prefix, name) = match text {
        None => (
            default_slice.to_string(),
            "husk".to_string(),
            id.to_string(),
        ),
        Some(p) => {
            let parts: Vec<&str> = p.split(':').collect();
            let [slice, prefix, name] = parts[..] else {
                return Err(PathError::Form {
                    path: p.to_string(),
                    reason: format!("{} part(s), not 3", parts.len()),
                });
            };
            if name.is_empty() {
                return Err(PathError::Form {
                    path: p.to_string(),
                    reason: "empty name".into(),
                });
            }
            for (what, part) in [("slice", slice), ("prefix", prefix), ("name", name)] {
                if part.contains('/') {
                    return Err(PathError::Form {
                        path: p.to_string(),
                        reason: format!("the {what} {part:?} contains '/'"),
                    });
                }
            }
            let slice = if slice.is_empty() {
                default_slice
            } else {
                slice
            };
            (slice.to_string(), prefix.to_string(), name.to_string())
        }
    };
    let parent = expand_slice(&slice)?;
    let unit = if name.ends_with(".slice") {
        // Checked like the parent; it must be a child of it.
        let own = expand_slice(&name)?;
        if own
            .rsplit_once('/')
            .map(|(p, _)| p)
            .filter(|p| !p.is_empty())
            .unwrap_or("/")
            != parent
        {
            return Err(PathError::Slice {
                slice: name,
                reason: format!("is not a child of {slice}"),
            });
        }
        name
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    let cgroup = if parent == "/" {
        format!("/{unit}")
    } else {
        format!("{parent}/{unit}")
    };
    Ok(UnitPath {
        slice,
        unit,
        cgroup,
    })
}

/// The cgroup path of a slice: `a-b-c.slice` is `/a.slice/a-b.slice/a-b-c.slice`
/// (systemd's naming: each `-` opens a level), `-.slice` is `/`.
pub fn expand_slice(slice: &str) -> Result<String, PathError> {
    let bad = |reason: &str| PathError::Slice {
        slice: slice.to_string(),
        reason: reason.to_string(),
    };
    let Some(stem) = slice.strip_suffix(".slice") else {
        return Err(bad("must end in .slice"));
    };
    if slice.contains('/') {
        return Err(bad("must not contain '/'"));
    }
    if stem == "-" {
        return Ok("/".into());
    }
    if stem.is_empty() || stem.starts_with('-') || stem.ends_with('-') || stem.contains("--") {
        return Err(bad(
            "a '-' may not start or end the name, nor follow another (systemd slice naming)",
        ));
    }
    let mut out = String::new();
    let mut prefix = String::new();
    for (i, part) in stem.split('-').enumerate() {
        if i > 0 {
            prefix.push('-');
        }
        prefix.push_str(part);
        out.push('/');
        out.push_str(&prefix);
        out.push_str(".slice");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_in_slices() {
        let p = parse(Some("system.slice:husk:abc"), "x", false).unwrap();
        assert_eq!(p.unit, "husk-abc.scope");
        assert_eq!(p.slice, "system.slice");
        assert_eq!(p.cgroup, "/system.slice/husk-abc.scope");
        let p = parse(Some("machine.slice:libpod:0123"), "x", false).unwrap();
        assert_eq!(p.cgroup, "/machine.slice/libpod-0123.scope");
        let p = parse(
            Some("kubepods-burstable-pod12.slice:cri-containerd:c1"),
            "x",
            false,
        )
        .unwrap();
        assert_eq!(
            p.cgroup,
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12.slice/cri-containerd-c1.scope"
        );
    }

    #[test]
    fn defaults() {
        let p = parse(None, "abc", false).unwrap();
        assert_eq!(
            (p.slice.as_str(), p.unit.as_str()),
            ("system.slice", "husk-abc.scope")
        );
        let p = parse(Some(""), "abc", true).unwrap();
        assert_eq!(p.cgroup, "/user.slice/husk-abc.scope");
        let p = parse(Some(":husk:abc"), "x", false).unwrap();
        assert_eq!(p.slice, "system.slice");
        let p = parse(Some("system.slice::abc"), "x", false).unwrap();
        assert_eq!(p.unit, "abc.scope");
        let p = parse(Some("-.slice:husk:abc"), "x", false).unwrap();
        assert_eq!(p.cgroup, "/husk-abc.scope");
    }

    #[test]
    fn slice_units() {
        let p = parse(Some("a.slice::a-b.slice"), "x", false).unwrap();
        assert!(p.is_slice());
        assert_eq!(p.cgroup, "/a.slice/a-b.slice");
        assert!(parse(Some("a.slice::c-d.slice"), "x", false).is_err());
    }

    #[test]
    fn malformed_paths_name_the_field_and_the_form() {
        let e = parse(Some("/sys/fs/cgroup/x"), "x", false)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("linux.cgroupsPath: \"/sys/fs/cgroup/x\": 1 part(s), not 3"),
            "{e}"
        );
        assert!(e.contains("slice:prefix:name"), "{e}");
        assert!(parse(Some("a:b:c:d"), "x", false).is_err());
        assert!(parse(Some("system.slice:husk:"), "x", false).is_err());
        let e = parse(Some("system:husk:x"), "x", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("must end in .slice"), "{e}");
        for bad in ["-a.slice", "a-.slice", "a--b.slice", ".slice"] {
            assert!(expand_slice(bad).is_err(), "{bad}");
        }
        assert_eq!(
            expand_slice("a-b-c.slice").unwrap(),
            "/a.slice/a-b.slice/a-b-c.slice"
        );
        assert_eq!(expand_slice("-.slice").unwrap(), "/");
    }
}
