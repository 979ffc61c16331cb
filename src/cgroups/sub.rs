//! `husk exec --cgroup [CONTROLLER[,CONTROLLER]:]PATH`: the sub-cgroup of the
//! container's cgroup an exec'd process joins instead of the container's own.
//!
//! As in runc, PATH is relative to the container's cgroup (a leading `/` too) and
//! must stay inside it after `..` is resolved; the sub-cgroup must exist (husk
//! never makes it). A bare PATH applies to every hierarchy, `CONTROLLER:PATH` to
//! the hierarchies of those controllers (v1; on v2 the one hierarchy, so every
//! argument must name the same PATH). Unlike runc, a path that only a symlink or a
//! `..` lexically inside leads out of the container's cgroup is refused too.

use super::{Cgroup, Dir, Version};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SubCgroupError {
    #[error("--cgroup {arg:?}: {reason}")]
    Invalid { arg: String, reason: String },
    #[error("--cgroup {arg:?}: {path}: {reason}")]
    Path {
        arg: String,
        path: PathBuf,
        reason: String,
    },
}

/// One `--cgroup` argument: the controllers it names (empty: every hierarchy)
/// and the path below the container's cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubCgroup {
    pub arg: String,
    pub controllers: Vec<String>,
    pub path: String,
}

fn invalid(arg: &str, reason: impl Into<String>) -> SubCgroupError {
    SubCgroupError::Invalid {
        arg: arg.to_string(),
        reason: reason.into(),
    }
}

/// Parse `[CONTROLLER[,CONTROLLER]:]PATH`.
pub fn parse(arg: &str) -> Result<SubCgroup, SubCgroupError> {
    let (controllers, path) = match arg.split_once(':') {
        None => (Vec::new(), arg),
        Some((list, path)) => {
            let names: Vec<String> = list.split(',').map(str::to_string).collect();
            if names.iter().any(String::is_empty) {
                return Err(invalid(
                    arg,
                    "empty controller name (want [CONTROLLER[,CONTROLLER]:]PATH)",
                ));
            }
            (names, path)
        }
    };
    if path.is_empty() {
        return Err(invalid(arg, "empty path"));
    }
    if path.contains(':') {
        return Err(invalid(
            arg,
            "more than one ':' (want [CONTROLLER[,CONTROLLER]:]PATH)",
        ));
    }
    Ok(SubCgroup {
        arg: arg.to_string(),
        controllers,
        path: path.to_string(),
    })
}

/// `base` joined with `sub` (taken relative even if absolute), `.` and `..`
/// resolved lexically over the whole path, as runc does; None when the result is
/// not `base` or below it.
fn lexical_below(base: &Path, sub: &str) -> Option<PathBuf> {
    let joined = base.join(sub.trim_start_matches('/'));
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out.starts_with(base).then_some(out)
}

/// The existing directory `sub` names below `dir`, refused if it is not one or
/// leads out of `dir` (by `..` or a symlink).
fn resolve_in(dir: &Dir, sub: &SubCgroup) -> Result<PathBuf, SubCgroupError> {
    let path_err = |path: &Path, reason: String| SubCgroupError::Path {
        arg: sub.arg.clone(),
        path: path.to_path_buf(),
        reason,
    };
    let Some(path) = lexical_below(&dir.path, &sub.path) else {
        return Err(path_err(
            &dir.path,
            "leads out of the container's cgroup (PATH is relative to it)".into(),
        ));
    };
    let real = path.canonicalize().map_err(|e| {
        let reason = if e.kind() == std::io::ErrorKind::NotFound {
            "no such cgroup (a sub-cgroup must exist before exec)".to_string()
        } else {
            super::SysErr(e).to_string()
        };
        path_err(&path, reason)
    })?;
    let base = dir.path.canonicalize().map_err(|e| {
        path_err(
            &dir.path,
            format!("the container's cgroup: {}", super::SysErr(e)),
        )
    })?;
    if !real.starts_with(&base) {
        return Err(path_err(
            &path,
            format!(
                "resolves to {}, outside the container's cgroup",
                real.display()
            ),
        ));
    }
    if !real.is_dir() {
        return Err(path_err(&path, "not a cgroup directory".into()));
    }
    Ok(path)
}

/// The container's cgroup with the hierarchies the `--cgroup` arguments name
/// replaced by their sub-cgroups: what an exec'd process joins. A named
/// controller the container has no hierarchy for is an error, as is one named
/// twice with different paths.
pub fn apply(cgroup: &Cgroup, subs: &[SubCgroup]) -> Result<Cgroup, SubCgroupError> {
    // For each hierarchy: the argument that chose its path (explicit beats bare).
    let mut chosen: Vec<Option<&SubCgroup>> = vec![None; cgroup.dirs.len()];
    let mut default: Option<&SubCgroup> = None;
    for sub in subs {
        if sub.controllers.is_empty() {
            if let Some(prev) = default.filter(|p| p.path != sub.path) {
                return Err(invalid(
                    &sub.arg,
                    format!("a second PATH for every controller (first {:?})", prev.arg),
                ));
            }
            default = Some(sub);
            continue;
        }
        for name in &sub.controllers {
            let index = find_hierarchy(cgroup, name)
                .ok_or_else(|| invalid(&sub.arg, format!("unknown controller {name:?}")))?;
            if let Some(prev) = chosen[index].filter(|p| p.path != sub.path) {
                return Err(invalid(
                    &sub.arg,
                    format!(
                        "controller {name:?} already has path {:?} (from {:?})",
                        prev.path, prev.arg
                    ),
                ));
            }
            chosen[index] = Some(sub);
        }
    }
    let mut out = cgroup.clone();
    for (dir, pick) in out.dirs.iter_mut().zip(chosen) {
        let Some(sub) = pick.or(default) else {
            continue;
        };
        dir.path = resolve_in(dir, sub)?;
        dir.created.clear();
    }
    Ok(out)
}

/// The hierarchy of `name`: on v1 the one whose controllers include it
/// (`name=systemd` too); on v2 the one directory, if the controller is enabled
/// for the container's cgroup.
fn find_hierarchy(cgroup: &Cgroup, name: &str) -> Option<usize> {
    match cgroup.version {
        Version::V1 => cgroup.dirs.iter().position(|d| d.has(name)),
        Version::V2 => {
            let dir = cgroup.dirs.first()?;
            let enabled = std::fs::read_to_string(dir.path.join("cgroup.controllers")).ok()?;
            enabled.split_whitespace().any(|c| c == name).then_some(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(controllers: &[&str], path: &Path) -> Dir {
        Dir {
            controllers: controllers.iter().map(|c| c.to_string()).collect(),
            root: path.parent().unwrap().to_path_buf(),
            path: path.to_path_buf(),
            created: vec![path.to_path_buf()],
        }
    }

    #[test]
    fn parse_forms() {
        assert_eq!(parse("sub").unwrap().controllers, Vec::<String>::new());
        let s = parse("cpu,cpuacct:a/b").unwrap();
        assert_eq!(s.controllers, ["cpu", "cpuacct"]);
        assert_eq!(s.path, "a/b");
        assert!(parse(":sub")
            .unwrap_err()
            .to_string()
            .contains("empty controller"));
        assert!(parse("cpu,:sub").is_err());
        assert!(parse("cpu:")
            .unwrap_err()
            .to_string()
            .contains("empty path"));
        assert!(parse("a:b:c").is_err());
    }

    #[test]
    fn lexical_resolution_stays_below_the_base() {
        let base = Path::new("/sys/fs/cgroup/pids/c1");
        assert_eq!(lexical_below(base, "sub"), Some(base.join("sub")));
        assert_eq!(lexical_below(base, "/sub"), Some(base.join("sub")));
        assert_eq!(lexical_below(base, "a/../sub"), Some(base.join("sub")));
        assert_eq!(lexical_below(base, "/"), Some(base.to_path_buf()));
        assert_eq!(lexical_below(base, ".."), None);
        assert_eq!(lexical_below(base, "../c1-other"), None);
        // Back inside after `..`: accepted, as runc does.
        assert_eq!(lexical_below(base, "../c1/sub"), Some(base.join("sub")));
        assert_eq!(lexical_below(base, "a/../../x"), None);
    }

    #[test]
    fn apply_picks_paths_per_hierarchy() {
        let tmp = tempfile::tempdir().unwrap();
        let mk = |p: &str| {
            let path = tmp.path().join(p);
            std::fs::create_dir_all(&path).unwrap();
            path
        };
        let (cpu, mem) = (mk("cpu/c1"), mk("memory/c1"));
        mk("cpu/c1/sub");
        mk("memory/c1/other");
        let cg = Cgroup {
            version: Version::V1,
            dirs: vec![dir(&["cpu", "cpuacct"], &cpu), dir(&["memory"], &mem)],
        };
        let subs = [parse("memory:other").unwrap()];
        let out = apply(&cg, &subs).unwrap();
        assert_eq!(out.dirs[0].path, cpu);
        assert_eq!(out.dirs[1].path, mem.join("other"));
        assert!(out.dirs[1].created.is_empty(), "never removed by exec");
        // A bare PATH is the default for the hierarchies not named.
        let subs = [parse("memory:other").unwrap(), parse("sub").unwrap()];
        let out = apply(&cg, &subs).unwrap();
        assert_eq!(out.dirs[0].path, cpu.join("sub"));
        assert_eq!(out.dirs[1].path, mem.join("other"));
        let err = apply(&cg, &[parse("sub").unwrap()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("memory/c1/sub: no such cgroup"), "{err}");
        let err = apply(&cg, &[parse("..").unwrap()]).unwrap_err().to_string();
        assert!(err.contains("leads out of the container's cgroup"), "{err}");
        let err = apply(&cg, &[parse("bogus:sub").unwrap()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown controller \"bogus\""), "{err}");
        let subs = [parse("cpu:sub").unwrap(), parse("cpuacct:x").unwrap()];
        assert!(apply(&cg, &subs)
            .unwrap_err()
            .to_string()
            .contains("already has path"));
    }

    #[test]
    fn a_symlink_out_of_the_cgroup_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("pids/c1");
        std::fs::create_dir_all(&base).unwrap();
        std::fs::create_dir_all(tmp.path().join("pids/other")).unwrap();
        std::os::unix::fs::symlink("../other", base.join("link")).unwrap();
        let cg = Cgroup {
            version: Version::V1,
            dirs: vec![dir(&["pids"], &base)],
        };
        let err = apply(&cg, &[parse("link").unwrap()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("outside the container's cgroup"), "{err}");
    }
}
