//! Polling with generous timeouts: tests never assert on time, they wait for an
//! observable condition and fail only if it never comes.

use std::time::{Duration, Instant};

/// Generous default for "this should happen soon" (noisy machines are slow).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Call `cond` until it returns true or `timeout` passes; returns the last result.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    let mut nap = Duration::from_millis(2);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(50));
    }
}

/// Call `f` until it returns `Some`, or `None` after `timeout`.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let mut found = None;
    wait_until(timeout, || {
        found = f();
        found.is_some()
    });
    found
}
