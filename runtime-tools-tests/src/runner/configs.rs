//! Config tests: one container per configuration, run to completion; the checker
//! inside verifies every field of its config (all areas, not only the one the test
//! varies), and the runner adds the host-side view (namespaces joined by path, bind
//! sources).

use super::bundle::Bundle;
use super::flows;
use super::host::NsHolder;
use super::spec;
use super::{Ctx, Test};
use serde_json::{json, Value};

fn cfg_test(name: impl Into<String>, f: impl Fn(&mut Value) + 'static) -> Test {
    let name = name.into();
    Test::new(&name.clone(), move |ctx| {
        let mut b = ctx.bundle(&name)?;
        f(&mut b.config);
        flows::run_checker(ctx, &b)
    })
}

fn ctx_test(
    name: impl Into<String>,
    f: impl Fn(&mut Ctx, &mut Bundle) -> Result<(), String> + 'static,
) -> Test {
    let name = name.into();
    Test::new(&name.clone(), move |ctx| {
        let mut b = ctx.bundle(&name)?;
        f(ctx, &mut b)?;
        flows::run_checker(ctx, &b)
    })
}

fn caps(c: &mut Value, bounding: &[&str], inheritable: &[&str], ambient: &[&str]) {
    c["process"]["capabilities"] = json!({
        "bounding": bounding, "effective": bounding, "permitted": bounding,
        "inheritable": inheritable, "ambient": ambient,
    });
}

/// Keeps only the mount namespace plus `keep`; drops the hostname without uts.
fn only_namespaces(c: &mut Value, keep: &[&str]) {
    c["linux"]["namespaces"] = json!([{"type": "mount"}]);
    for k in keep {
        spec::set_namespace(c, k, None);
    }
    if !keep.contains(&"uts") {
        c.as_object_mut().map(|o| o.remove("hostname"));
    }
}

fn userns(c: &mut Value) {
    spec::set_namespace(c, "user", None);
    c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
}

fn bind_dir(b: &Bundle, name: &str) -> Result<(), String> {
    let d = b.dir.join(name);
    std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
    std::fs::write(d.join("file"), "bind source\n").map_err(|e| e.to_string())
}

/// Areas of config.md / config-linux.md, a few configurations each.
pub fn tests() -> Vec<Test> {
    let mut t = vec![
        cfg_test("config-default", |_| {}),
        cfg_test("config-hostname", |c| {
            c["hostname"] = json!("rtt-custom-host")
        }),
        cfg_test("config-domainname", |c| {
            c["domainname"] = json!("rtt.example")
        }),
        cfg_test("config-user-uid-gid-groups", |c| {
            c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [1001, 1002]})
        }),
        cfg_test("config-user-umask", |c| {
            c["process"]["user"]["umask"] = json!(0o027)
        }),
        cfg_test("config-user-nonroot-ambient-caps", |c| {
            c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
            let set = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
            caps(c, &set, &set, &set);
        }),
        cfg_test("config-cwd", |c| c["process"]["cwd"] = json!("/tmp")),
        cfg_test("config-env", |c| {
            let env = c["process"]["env"].as_array_mut().expect("base env");
            env.push(json!("RTT_EQUALS=a=b=c"));
            env.push(json!("RTT_EMPTY="));
            env.push(json!("RTT_SPACES=with spaces"));
        }),
        cfg_test("config-rlimits", |c| {
            c["process"]["rlimits"] = json!([
                {"type": "RLIMIT_NOFILE", "soft": 256, "hard": 512},
                {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
                {"type": "RLIMIT_MSGQUEUE", "soft": 4096, "hard": 8192},
                {"type": "RLIMIT_CPU", "soft": 100, "hard": 200},
            ])
        }),
        cfg_test("config-caps-reduced", |c| {
            caps(c, &["CAP_CHOWN", "CAP_KILL"], &[], &[])
        }),
        cfg_test("config-caps-none", |c| caps(c, &[], &[], &[])),
        cfg_test("config-caps-docker-default", |c| {
            let set = [
                "CAP_CHOWN",
                "CAP_DAC_OVERRIDE",
                "CAP_FSETID",
                "CAP_FOWNER",
                "CAP_MKNOD",
                "CAP_NET_RAW",
                "CAP_SETGID",
                "CAP_SETUID",
                "CAP_SETFCAP",
                "CAP_SETPCAP",
                "CAP_NET_BIND_SERVICE",
                "CAP_SYS_CHROOT",
                "CAP_KILL",
                "CAP_AUDIT_WRITE",
            ];
            caps(c, &set, &[], &[]);
        }),
        cfg_test("config-caps-inheritable", |c| {
            caps(c, &["CAP_KILL", "CAP_CHOWN"], &["CAP_CHOWN"], &[]);
            c["process"]["noNewPrivileges"] = json!(false);
        }),
        cfg_test("config-nnp-false", |c| {
            c["process"]["noNewPrivileges"] = json!(false)
        }),
        cfg_test("config-oom-score-adj", |c| {
            c["process"]["oomScoreAdj"] = json!(500)
        }),
        cfg_test(
            "config-sysctl",
            |c| {
                c["linux"]["sysctl"] =
                    json!({"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1"})
            },
        ),
        cfg_test("config-mount-tmpfs-options", |c| {
            spec::add_mount(
                c,
                json!({"destination": "/mnt/tmpfs", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "nodev", "noexec", "mode=700", "size=1m"]}),
            )
        }),
        cfg_test("config-mount-tmpfs-ro-noatime", |c| {
            spec::add_mount(
                c,
                json!({"destination": "/mnt/tmpfs", "type": "tmpfs", "source": "tmpfs",
                "options": ["ro", "noatime", "mode=755"]}),
            )
        }),
        cfg_test("config-mount-relative-destination", |c| {
            spec::add_mount(
                c,
                json!({"destination": "mnt/relative", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid"]}),
            )
        }),
        ctx_test("config-mount-bind-ro", |_, b| {
            bind_dir(b, "bindsrc")?;
            spec::add_mount(
                &mut b.config,
                json!({"destination": "/mnt/bind", "type": "bind",
                "source": "bindsrc", "options": ["rbind", "ro", "nosuid", "nodev"]}),
            );
            Ok(())
        }),
        ctx_test("config-mount-bind-recursive-attrs", |_, b| {
            bind_dir(b, "bindsrc")?;
            spec::add_mount(
                &mut b.config,
                json!({"destination": "/mnt/bind", "type": "bind", "source": "bindsrc",
                "options": ["rbind", "rro", "rnosuid", "rnodev", "rnoexec", "rnoatime", "rnosymfollow"]}),
            );
            Ok(())
        }),
        ctx_test("config-mount-bind-file", |_, b| {
            std::fs::write(b.dir.join("bindfile"), "file\n").map_err(|e| e.to_string())?;
            let src = b.dir.join("bindfile");
            spec::add_mount(
                &mut b.config,
                json!({"destination": "/rtt/bound-file", "type": "none",
                "source": src, "options": ["bind", "rw"]}),
            );
            Ok(())
        }),
    ];
    for prop in ["rshared", "rslave", "rprivate", "runbindable"] {
        t.push(ctx_test(
            format!("config-mount-bind-{prop}"),
            move |_, b| {
                bind_dir(b, "bindsrc")?;
                spec::add_mount(
                    &mut b.config,
                    json!({"destination": "/mnt/bind", "type": "bind",
                "source": "bindsrc", "options": ["rbind", prop]}),
                );
                Ok(())
            },
        ));
    }
    for prop in ["shared", "slave", "private", "unbindable"] {
        t.push(cfg_test(
            format!("config-rootfs-propagation-{prop}"),
            move |c| c["linux"]["rootfsPropagation"] = json!(prop),
        ));
    }
    t.extend([
        cfg_test("config-devices", |c| {
            c["linux"]["devices"] = json!([
                {"path": "/dev/rtt-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600, "uid": 1, "gid": 2},
                {"path": "/dev/rtt-loop", "type": "b", "major": 7, "minor": 0, "fileMode": 0o660, "uid": 0, "gid": 6},
                {"path": "/dev/rtt-fifo", "type": "p", "fileMode": 0o644},
            ])
        }),
        cfg_test("config-devices-outside-dev", |c| {
            c["linux"]["devices"] = json!([
                {"path": "/rtt/zero", "type": "c", "major": 1, "minor": 5, "fileMode": 0o666, "uid": 0, "gid": 0},
            ])
        }),
        ctx_test("config-masked-paths", |_, b| {
            let r = b.rootfs();
            std::fs::create_dir_all(r.join("rtt/masked-dir")).map_err(|e| e.to_string())?;
            std::fs::write(r.join("rtt/masked-dir/secret"), "x").map_err(|e| e.to_string())?;
            std::fs::write(r.join("rtt/masked-file"), "secret").map_err(|e| e.to_string())?;
            let m = b.config["linux"]["maskedPaths"].as_array_mut().expect("base masked");
            m.push(json!("/rtt/masked-dir"));
            m.push(json!("/rtt/masked-file"));
            m.push(json!("/rtt/masked-absent"));
            Ok(())
        }),
        ctx_test("config-readonly-paths", |_, b| {
            std::fs::create_dir_all(b.rootfs().join("rtt/ro-dir")).map_err(|e| e.to_string())?;
            std::fs::write(b.rootfs().join("rtt/ro-file"), "x").map_err(|e| e.to_string())?;
            let m = b.config["linux"]["readonlyPaths"].as_array_mut().expect("base ro");
            m.push(json!("/rtt/ro-dir"));
            m.push(json!("/rtt/ro-file"));
            Ok(())
        }),
        cfg_test("config-no-masked-readonly-paths", |c| {
            c["linux"]["maskedPaths"] = json!([]);
            c["linux"]["readonlyPaths"] = json!([]);
        }),
        cfg_test("config-root-readonly", |c| c["root"]["readonly"] = json!(true)),
        cfg_test("config-ns-mount-only", |c| only_namespaces(c, &[])),
    ]);
    for ns in ["pid", "network", "ipc", "uts", "cgroup"] {
        t.push(cfg_test(format!("config-ns-{ns}"), move |c| {
            only_namespaces(c, &[ns])
        }));
    }
    t.extend([
        cfg_test("config-ns-time", |c| spec::set_namespace(c, "time", None)),
        cfg_test("config-userns-root", userns),
        cfg_test("config-userns-nonroot", |c| {
            userns(c);
            c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [5]});
        }),
        ctx_test("config-ns-join-net-ipc-uts", |ctx, b| {
            let h = ctx.hold(NsHolder::spawn(
                &["--net", "--ipc", "--uts"],
                "busybox hostname rtt-joined && exec /bin/sleep 300",
            )?);
            for (ty, file) in [("network", "net"), ("ipc", "ipc"), ("uts", "uts")] {
                spec::set_namespace(&mut b.config, ty, Some(&h.ns_path(file)));
                b.joined.insert(ty.to_string(), h.ns_inode(file));
            }
            b.config.as_object_mut().map(|o| o.remove("hostname"));
            Ok(())
        }),
        ctx_test("config-ns-join-pid", |ctx, b| {
            let h = ctx.hold(NsHolder::spawn(&["--pid"], "exec /bin/sleep 300")?);
            spec::set_namespace(&mut b.config, "pid", Some(&h.ns_path("pid")));
            b.joined.insert("pid".into(), h.ns_inode("pid"));
            Ok(())
        }),
        cfg_test("config-seccomp-errno", |c| {
            c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]})
        }),
        cfg_test("config-seccomp-default-errno", |c| {
            c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]})
        }),
        cfg_test("config-cgroups-limits", |c| {
            c["linux"]["resources"] = json!({
                "memory": {"limit": 67108864},
                "pids": {"limit": 100},
                "cpu": {"shares": 512, "quota": 50000, "period": 100000}
            })
        }),
        cfg_test("config-personality-linux32", |c| {
            c["linux"]["personality"] = json!({"domain": "LINUX32"})
        }),
        cfg_test("config-personality-linux", |c| {
            c["linux"]["personality"] = json!({"domain": "LINUX"})
        }),
        cfg_test("config-time-offsets", |c| {
            spec::set_namespace(c, "time", None);
            c["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 3600, "nanosecs": 0},
                "boottime": {"secs": 7200, "nanosecs": 500}});
        }),
        cfg_test("config-scheduler", |c| {
            c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 5})
        }),
        cfg_test("config-io-priority", |c| {
            c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6})
        }),
    ]);
    let host = super::host::gather();
    if host.apparmor {
        t.push(cfg_test("config-apparmor-profile", |c| {
            c["process"]["apparmorProfile"] = json!("unconfined")
        }));
    }
    if host.selinux {
        t.push(cfg_test("config-selinux-label", |c| {
            c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0")
        }));
    }
    t
}
