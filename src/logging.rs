//! `--log FILE`, `--log-format text|json`, `--debug`: where husk's messages go.
//!
//! Errors always go to stderr as one line (conmon forwards stderr); with `--log`
//! they are also appended to the file, as JSON lines `{"level","msg","time"}` (what
//! containerd reads from log.json) or as runc's text lines.

use crate::cli::LogFormat;
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

struct Config {
    file: Option<PathBuf>,
    format: LogFormat,
    debug: bool,
}

static CONFIG: OnceLock<Config> = OnceLock::new();

/// Configure logging once, from the global flags.
pub fn init(file: Option<PathBuf>, format: LogFormat, debug: bool) {
    let _ = CONFIG.set(Config {
        file,
        format,
        debug,
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

/// A line for the log file only (the caller prints to stderr itself).
pub fn to_log_only(level: &str, msg: &str) {
    write(level, msg, false);
}

/// An error: stderr and the log file.
pub fn error(msg: &str) {
    write("error", msg, true);
}

/// A warning: the log file, and stderr when no log file is set.
pub fn warn(msg: &str) {
    let to_stderr = CONFIG.get().is_none_or(|c| c.file.is_none());
    write("warning", msg, to_stderr);
}

/// A debug message: only with `--debug`.
pub fn debug(msg: &str) {
    if CONFIG.get().is_some_and(|c| c.debug) {
        write("debug", msg, CONFIG.get().is_some_and(|c| c.file.is_none()));
    }
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
