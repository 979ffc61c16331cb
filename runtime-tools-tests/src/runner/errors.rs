//! Bad configurations: `create` MUST fail (runtime.md: "If the runtime cannot create
//! the container as specified in config.json, it MUST generate an error and a new
//! container MUST NOT be created") with a non-zero exit, and leave nothing behind: no
//! state, no process, no mount, no cgroup.

use super::bundle::Bundle;
use super::flows;
use super::spec;
use super::{Ctx, Test};
use serde_json::{json, Value};

fn bad(name: &str, f: impl Fn(&mut Value) + 'static) -> Test {
    let n = name.to_string();
    Test::new(name, move |ctx| {
        let mut b = ctx.bundle(&n)?;
        f(&mut b.config);
        flows::expect_create_fails(ctx, &b)
    })
}

fn bad_bundle(
    name: &str,
    f: impl Fn(&mut Ctx, &mut Bundle) -> Result<(), String> + 'static,
) -> Test {
    let n = name.to_string();
    Test::new(name, move |ctx| {
        let mut b = ctx.bundle(&n)?;
        b.write(&ctx.host)?;
        f(ctx, &mut b)?;
        flows::expect_create_fails_as_is(ctx, &b)
    })
}

fn push(v: &mut Value, item: Value) {
    if let Some(a) = v.as_array_mut() {
        a.push(item);
    } else {
        *v = json!([item]);
    }
}

/// The bad-config tests.
pub fn tests() -> Vec<Test> {
    vec![
        bad_bundle("error-no-config-json", |_, b| {
            std::fs::remove_file(b.dir.join("config.json")).map_err(|e| e.to_string())
        }),
        bad_bundle("error-malformed-config-json", |_, b| {
            std::fs::write(b.dir.join("config.json"), "{\"ociVersion\": ")
                .map_err(|e| e.to_string())
        }),
        bad("error-missing-rootfs", |c| {
            c["root"]["path"] = json!("no-such-rootfs")
        }),
        bad("error-empty-args", |c| c["process"]["args"] = json!([])),
        bad("error-duplicate-namespace", |c| {
            push(&mut c["linux"]["namespaces"], json!({"type": "pid"}))
        }),
        bad("error-unknown-namespace-type", |c| {
            push(&mut c["linux"]["namespaces"], json!({"type": "rtt-bogus"}))
        }),
        bad("error-namespace-path-missing", |c| {
            spec::set_namespace(c, "network", Some("/nonexistent/rtt/ns/net"))
        }),
        bad("error-namespace-path-wrong-type", |c| {
            let uts = format!("/proc/{}/ns/uts", std::process::id());
            spec::set_namespace(c, "network", Some(&uts));
        }),
        bad("error-rlimit-invalid-type", |c| {
            push(
                &mut c["process"]["rlimits"],
                json!({"type": "RLIMIT_RTT_BOGUS", "soft": 1, "hard": 1}),
            )
        }),
        bad("error-rlimit-duplicate", |c| {
            push(
                &mut c["process"]["rlimits"],
                json!({"type": "RLIMIT_NOFILE", "soft": 512, "hard": 512}),
            )
        }),
        bad("error-bind-source-missing", |c| {
            spec::add_mount(
                c,
                json!({"destination": "/mnt/bind", "type": "bind",
                "source": "/nonexistent/rtt-bind-source", "options": ["rbind"]}),
            )
        }),
        bad("error-mount-unknown-fstype", |c| {
            spec::add_mount(
                c,
                json!({"destination": "/mnt/bogus", "type": "rttbogusfs", "source": "none"}),
            )
        }),
        bad(
            "error-device-invalid-type",
            |c| {
                c["linux"]["devices"] =
                    json!([{"path": "/dev/rtt-bad", "type": "x", "major": 1, "minor": 3}])
            },
        ),
        bad_bundle("error-device-path-conflict", |ctx, b| {
            std::fs::write(b.rootfs().join("rtt/conflict"), "a regular file")
                .map_err(|e| e.to_string())?;
            b.config["linux"]["devices"] =
                json!([{"path": "/rtt/conflict", "type": "c", "major": 1, "minor": 3}]);
            b.write(&ctx.host)
        }),
        bad("error-sysctl-unknown-key", |c| {
            c["linux"]["sysctl"] = json!({"kernel.rtt_bogus": "1"})
        }),
        bad("error-seccomp-invalid-action", |c| {
            c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_RTT_BOGUS"})
        }),
        bad("error-personality-invalid-domain", |c| {
            c["linux"]["personality"] = json!({"domain": "RTT_BOGUS"})
        }),
    ]
}
