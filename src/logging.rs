//! `--log FILE`, `--log-format text|json`, `--debug`: where husk's messages go.
//!
//! Errors always go to stderr as one line (conmon forwards stderr); with `--log`
//! they are also appended to the file, as JSON lines `{"level","msg","time"}` (what
//! containerd reads from log.json) or as runc's (logrus's) text lines
//! `time="…" level=debug msg="…"`. Warnings and `--debug` lines go to the log
//! file, or to stderr in the same format when there is none, as runc's do; each
//! debug line ends with the time since husk started (`+1.234ms`), so the cost of
//! every step shows.

use crate::cli::LogFormat;
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

struct Config {
    file: Option<PathBuf>,
    format: LogFormat,
    debug: bool,
    start: std::time::Instant,
}

static CONFIG: OnceLock<Config> = OnceLock::new();

/// Configure logging once, from the global flags.
pub fn init(file: Option<PathBuf>, format: LogFormat, debug: bool) {
    let _ = CONFIG.set(Config {
        file,
        format,
        debug,
        start: std::time::Instant::now(),
    });
}

fn json_escape(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// One log line in the configured format.
fn line(level: &str, msg: &str, format: LogFormat) -> String {
    let time = crate::rfc3339::now();
    match format {
        LogFormat::Json => format!(
            "{{\"level\":\"{level}\",\"msg\":{},\"time\":\"{time}\"}}\n",
            json_escape(msg)
        ),
        LogFormat::Text => format!("time=\"{time}\" level={level} msg={}\n", json_escape(msg)),
    }
}

fn write(level: &str, msg: &str, to_stderr: bool) {
    let cfg = CONFIG.get();
    if let Some(Config {
        file: Some(path),
        format,
        ..
    }) = cfg
    {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(line(level, msg, *format).as_bytes());
        }
    }
    if to_stderr {
        let _ = writeln!(std::io::stderr(), "husk: {msg}");
    }
}

/// A line for the log: the file if there is one, else stderr, in the log format.
fn to_log(level: &str, msg: &str) {
    let cfg = CONFIG.get();
    match cfg {
        Some(Config { file: Some(_), .. }) => write(level, msg, false),
        _ => {
            let format = cfg.map_or(LogFormat::Text, |c| c.format);
            let _ = std::io::stderr().write_all(line(level, msg, format).as_bytes());
        }
    }
}

/// A line for the log file only (the caller prints to stderr itself).
pub fn to_log_only(level: &str, msg: &str) {
    write(level, msg, false);
}

/// An error: stderr and the log file.
pub fn error(msg: &str) {
    write("error", msg, true);
}

/// A warning: the log file, or stderr when no log file is set.
pub fn warn(msg: &str) {
    to_log("warning", msg);
}

/// Whether `--debug` is on.
pub fn debug_enabled() -> bool {
    CONFIG.get().is_some_and(|c| c.debug)
}

/// A debug message (built only with `--debug`), with the time since start.
pub fn debug(msg: impl FnOnce() -> String) {
    let Some(cfg) = CONFIG.get().filter(|c| c.debug) else {
        return;
    };
    let ms = cfg.start.elapsed().as_secs_f64() * 1000.0;
    to_log("debug", &format!("{} (+{ms:.3}ms)", msg()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_level_msg_time() {
        let l = line("error", "create x: \"bad\"", LogFormat::Json);
        let v: serde_json::Value = serde_json::from_str(l.trim()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "create x: \"bad\"");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
    }
}
