//! Minimal TAP (Test Anything Protocol) writer and reader.
//!
//! The checker writes one line per observed property; the runner reads those lines back
//! to decide whether a test passed and prints its own, top-level TAP stream.

use std::fmt::Display;

/// Writes TAP lines to stdout and counts the results.
#[derive(Debug, Default)]
pub struct Tap {
    count: usize,
    failed: usize,
}

impl Tap {
    /// A writer that has printed nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a passing or failing check; `detail` explains a failure.
    pub fn check(&mut self, ok: bool, name: impl Display, detail: impl Display) {
        self.count += 1;
        if ok {
            println!("ok {} - {}", self.count, name);
        } else {
            self.failed += 1;
            println!("not ok {} - {}", self.count, name);
            for line in detail.to_string().lines() {
                println!("# {line}");
            }
        }
    }

    /// Records a passing check.
    pub fn pass(&mut self, name: impl Display) {
        self.check(true, name, "");
    }

    /// Records a failing check.
    pub fn fail(&mut self, name: impl Display, detail: impl Display) {
        self.check(false, name, detail);
    }

    /// Records a check comparing an observed value with the expected one.
    pub fn eq<T: PartialEq + std::fmt::Debug>(&mut self, name: impl Display, got: T, want: T) {
        let ok = got == want;
        self.check(ok, name, format_args!("got {got:?}, want {want:?}"));
    }

    /// Records a check that could not be made here, with the reason.
    pub fn skip(&mut self, name: impl Display, reason: impl Display) {
        self.count += 1;
        println!("ok {} - {} # SKIP {}", self.count, name, reason);
    }

    /// Prints the plan line; returns whether every check passed.
    pub fn finish(&self) -> bool {
        println!("1..{}", self.count);
        self.failed == 0
    }
}

/// One result line read back from a TAP stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapLine {
    pub ok: bool,
    pub name: String,
    pub skip: Option<String>,
    /// `#` diagnostics that followed the line.
    pub diag: Vec<String>,
}

/// What a TAP stream said: its result lines and its plan, if it printed one.
#[derive(Debug, Default)]
pub struct TapReport {
    pub lines: Vec<TapLine>,
    pub plan: Option<usize>,
}

impl TapReport {
    /// True when the plan was printed, matches the lines, and no line failed.
    pub fn all_ok(&self) -> bool {
        self.plan == Some(self.lines.len()) && self.lines.iter().all(|l| l.ok)
    }
}

/// Parses a TAP stream (as written by [`Tap`]).
pub fn parse(text: &str) -> TapReport {
    let mut report = TapReport::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("1..") {
            report.plan = rest.trim().parse().ok();
        } else if let Some(d) = line.strip_prefix('#') {
            if let Some(last) = report.lines.last_mut() {
                last.diag.push(d.trim().to_string());
            }
        } else if let Some((ok, rest)) = line
            .strip_prefix("ok ")
            .map(|r| (true, r))
            .or_else(|| line.strip_prefix("not ok ").map(|r| (false, r)))
        {
            let rest = rest.split_once(" - ").map(|(_, n)| n).unwrap_or(rest);
            let (name, skip) = match rest.split_once(" # SKIP ") {
                Some((n, why)) => (n.to_string(), Some(why.to_string())),
                None => (rest.to_string(), None),
            };
            report.lines.push(TapLine {
                ok,
                name,
                skip,
                diag: Vec::new(),
            });
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_skips_and_diagnostics() {
        let r = parse("ok 1 - a\nnot ok 2 - b\n# why\nok 3 - c # SKIP no\n1..3\n");
        assert_eq!(r.plan, Some(3));
        assert!(!r.all_ok());
        assert_eq!(r.lines[1].diag, vec!["why"]);
        assert_eq!(r.lines[2].skip.as_deref(), Some("no"));
        assert_eq!(r.lines[0].name, "a");
    }

    #[test]
    fn missing_plan_is_not_ok() {
        assert!(!parse("ok 1 - a\n").all_ok());
    }
}
