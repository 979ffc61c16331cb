//! A long-running runtime command (`events`) whose stdout lines are collected by
//! a thread while the test goes on; killed on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::{poll, Runtime};

/// An `events` process whose stdout lines are collected by a thread.
pub struct Stream {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Stream {
    /// Spawn `<runtime> --root <root> <args...>` with stdout collected.
    pub fn start(rt: &Runtime, args: &[&str]) -> Stream {
        let mut cmd = rt.command(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = cmd.spawn().expect("spawning events");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Stream { child, lines }
    }

    /// Every line so far, parsed.
    pub fn events(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// How many events of `type` `kind` arrived so far.
    pub fn count(&self, kind: &str) -> usize {
        self.events().iter().filter(|e| e["type"] == kind).count()
    }

    /// Whether the process exits (within the harness's patience).
    pub fn exits(&mut self) -> bool {
        poll::wait_until(poll::PATIENCE, || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        })
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
