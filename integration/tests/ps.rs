//! `ps`: the processes of a container as a JSON array of host pids, and as the
//! host's `ps` table (default `-ef`, or the given ps arguments) filtered to them.

use husk_integration::{is_husk, procfs, require_root, Bundle, Container, Runtime};

/// A started container: an init shell with two `sleep` children.
fn three_processes<'a>(rt: &'a Runtime, b: &mut Bundle) -> Container<'a> {
    b.sh("sleep 1000 & sleep 1000 & echo ready; wait");
    let c = rt.container(b);
    c.start_ok();
    assert!(c.wait_stdout_contains("ready"));
    c
}

fn json_pids(rt: &Runtime, id: &str) -> Vec<i32> {
    let out = rt.cmd(&["ps", "--format", "json", id]);
    out.assert_ok();
    serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("ps --format json is not a JSON array of pids ({e}):\n{out}"))
}

/// The PID column of a ps table (header excluded).
fn table_pids(text: &str) -> Vec<i32> {
    let mut lines = text.lines();
    let header = lines.next().expect("a header line");
    let col = header
        .split_whitespace()
        .position(|f| f == "PID")
        .unwrap_or_else(|| panic!("no PID column: {header:?}"));
    let mut pids: Vec<i32> = lines
        .map(|l| l.split_whitespace().nth(col).unwrap().parse().unwrap())
        .collect();
    pids.sort_unstable();
    pids
}

#[test]
fn json_lists_every_process_of_the_container() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = three_processes(&rt, &mut b);
    let init = c.pid();
    let sleeps = husk_integration::poll::wait_for(husk_integration::poll::PATIENCE, || {
        let pids = json_pids(&rt, c.id());
        (pids.len() == 3).then_some(pids)
    })
    .unwrap_or_else(|| panic!("3 pids expected: {:?}", json_pids(&rt, c.id())));
    assert!(sleeps.contains(&init), "{sleeps:?} lacks init {init}");
    for p in sleeps.iter().filter(|p| **p != init) {
        assert!(procfs::wait_cmdline_contains(*p, "sleep"), "pid {p}");
    }
}

#[test]
fn table_is_the_hosts_ps_filtered_to_the_container() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = three_processes(&rt, &mut b);
    let mut want = json_pids(&rt, c.id());
    want.sort_unstable();

    let out = rt.cmd(&["ps", c.id()]);
    out.assert_ok();
    let header = out.stdout.lines().next().unwrap_or_default();
    assert!(
        header.contains("UID") && header.contains("PPID"),
        "-ef by default:\n{out}"
    );
    assert_eq!(table_pids(&out.stdout), want, "{out}");
    assert!(out.stdout.contains("sleep 1000"), "{out}");

    let out = rt.cmd(&["ps", c.id(), "-o", "pid,comm"]);
    out.assert_ok();
    assert_eq!(
        out.stdout
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["PID", "COMMAND"]
    );
    assert_eq!(table_pids(&out.stdout), want, "{out}");
}

#[test]
fn ps_arguments_after_a_double_dash() {
    require_root!();
    if !is_husk() {
        husk_integration::skip!("runc 1.1.5 passes the `--` on to ps, which rejects it");
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let c = three_processes(&rt, &mut b);
    let out = rt.cmd(&["ps", c.id(), "--", "-o", "pid,args"]);
    out.assert_ok();
    assert!(
        out.stdout.starts_with("    PID COMMAND") || out.stdout.contains("PID"),
        "{out}"
    );
    assert_eq!(table_pids(&out.stdout).len(), 3, "{out}");
}

#[test]
fn ps_of_an_unknown_container_fails() {
    require_root!();
    let rt = Runtime::from_env();
    rt.cmd(&["ps", "husk-it-no-such-container"]).assert_fail();
}
