//! The OOM killer: a process that needs more memory than
//! `linux.resources.memory.limit` is killed (status 137), and `events` reports
//! an `oom` event for the container.

use husk_integration::stream::Stream;
use husk_integration::{poll, require_root, Bundle, Runtime};
use serde_json::json;

const LIMIT: u64 = 32 << 20;

/// 32 MiB of memory (and of memory+swap: no swapping out of the OOM).
fn limited() -> Bundle {
    let mut b = Bundle::new();
    b.config_mut()["linux"]["resources"] = json!({"memory": {"limit": LIMIT, "swap": LIMIT}});
    b
}

/// dd's 64 MiB block buffer is filled from /dev/zero: over the limit.
const HOG: &[&str] = &["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"];

#[test]
fn a_memory_hog_over_the_limit_is_killed() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = limited();
    b.args(HOG);
    let out = rt.run_bundle(&b);
    assert_eq!(out.code(), Some(137), "killed by SIGKILL:\n{out}");
}

#[test]
fn events_reports_the_oom_kill() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = limited();
    let hog = HOG.join(" ");
    b.sh(&format!("{hog}; echo hog-status=$?; exec sleep 1000"));
    let c = rt.container(&b);
    let s = Stream::start(&rt, &["events", "--interval", "1h", c.id()]);
    c.start_ok();
    assert!(
        c.wait_stdout_contains("hog-status="),
        "the hog never finished: {}",
        c.stderr()
    );
    assert!(c.stdout().contains("hog-status=137"), "{}", c.stdout());
    assert!(
        poll::wait_until(poll::PATIENCE, || s.count("oom") >= 1),
        "no oom event: {:?}",
        s.events()
    );
    let oom = s.events().into_iter().find(|e| e["type"] == "oom").unwrap();
    assert_eq!(oom["id"], c.id());
    assert_eq!(
        c.status().as_deref(),
        Some("running"),
        "only the hog was killed"
    );
}
