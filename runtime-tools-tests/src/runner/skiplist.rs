//! Per-runtime skip lists: `skip-<runtime basename>.txt`, lines `test-name<TAB>reason`.
//!
//! A listed test still runs; it is reported as skipped with its reason, and flagged when
//! it passes so the entry can be removed.

use std::collections::BTreeMap;
use std::path::Path;

/// Test name -> reason.
pub type SkipList = BTreeMap<String, String>;

/// Reads a skip list; a missing file is an empty list.
pub fn load(path: &Path) -> Result<SkipList, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SkipList::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses skip-list text; `#` starts a comment line.
pub fn parse(text: &str) -> Result<SkipList, String> {
    let mut out = SkipList::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('\t') {
            Some((name, reason)) if !reason.trim().is_empty() => {
                out.insert(name.trim().to_string(), reason.trim().to_string());
            }
            _ => return Err(format!("line {}: want 'test-name<TAB>reason'", n + 1)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_and_rejects_missing_reason() {
        let s = parse("# c\na\twhy not\n\n").unwrap();
        assert_eq!(s["a"], "why not");
        assert!(parse("a\n").is_err());
    }
}
