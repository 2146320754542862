//! MUSTs of the OCI runtime spec (runtime.md, config.md, config-linux.md) that no other file
//! checks; MUST-COVERAGE.md maps every MUST to its test. Each test names the spec line it
//! holds the runtime to.

use std::fs;
use std::path::Path;

use integration_tests::procfs::ns_link;
use integration_tests::{run_script, setup, value, Bundle, HookRecorder};
use serde_json::{json, Value};

/// runtime.md State: the fields and types of schema/state-schema.json, at `status`.
#[track_caller]
fn check_state_schema(st: &Value, b: &Bundle, status: &str) {
    let obj = st.as_object().expect("state is an object");
    for key in ["ociVersion", "id", "status", "bundle"] {
        assert!(obj.get(key).is_some_and(Value::is_string), "{key}: {st}");
    }
    assert_eq!(st["id"], b.id(), "{st}");
    assert_eq!(st["status"], status, "{st}");
    let bundle = st["bundle"].as_str().unwrap();
    assert!(Path::new(bundle).is_absolute(), "bundle {bundle}");
    assert_eq!(
        fs::canonicalize(bundle).unwrap(),
        fs::canonicalize(b.path()).unwrap()
    );
    // pid: REQUIRED while created or running, a positive int when present.
    match status {
        "created" | "running" => assert!(st["pid"].as_i64().unwrap_or(0) > 0, "{st}"),
        _ => assert!(st.get("pid").is_none_or(Value::is_i64), "{st}"),
    }
    if let Some(ann) = obj.get("annotations") {
        let ann = ann.as_object().expect("annotations is a map");
        assert!(ann.values().all(Value::is_string), "{st}");
    }
}

/// runtime.md State: "When serialized in JSON, the format MUST adhere to the JSON Schema
/// schema/state-schema.json", with `pid` REQUIRED while created or running.
#[test]
fn state_follows_the_schema_at_every_status() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["sleep", "100"]);
    b.edit(|c| c["annotations"] = json!({"org.cella.must": "kept", "x": ""}));
    b.create().ok();
    let st = b.state();
    check_state_schema(&st, &b, "created");
    assert_eq!(
        st["annotations"],
        json!({"org.cella.must": "kept", "x": ""})
    );
    b.start().ok();
    check_state_schema(&b.state(), &b, "running");
    b.kill("KILL").ok();
    b.wait_status("stopped");
    check_state_schema(&b.state(), &b, "stopped");
    b.delete().ok();
    b.assert_no_leftovers();
}

/// runtime.md Lifecycle step 2: "Any updates to config.json after this step MUST NOT affect
/// the container."
#[test]
fn config_changes_after_create_do_not_affect_the_container() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    b.edit(|c| {
        c["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push("WHICH=original".into());
    });
    b.script("/probe.sh", "echo args=original env=$WHICH");
    let created = b.create();
    created.ok();
    let marker = b.path().join("late-hook-ran");
    b.edit(|c| {
        c["process"]["args"] = json!(["echo", "args=changed"]);
        c["process"]["env"] = json!(["WHICH=changed"]);
        let hook = json!([{"path": "/bin/sh",
            "args": ["sh", "-c", format!("touch {}", marker.display())]}]);
        c["hooks"] = json!({"poststart": hook, "poststop": hook});
    });
    b.start().ok();
    b.wait_status("stopped");
    assert_eq!(created.stdout_now().trim(), "args=original env=original");
    b.delete().ok();
    assert!(!marker.exists(), "a hook added after create ran");
    b.assert_no_leftovers();
}

/// runtime.md Operations: state, start, kill and delete "MUST generate an error if it is not
/// provided the container ID"; create also without a bundle or an ID.
#[test]
fn operations_without_a_container_id_fail() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["sleep", "100"]);
    let bundle = b.path().to_str().unwrap();
    for args in [
        vec!["state"],
        vec!["start"],
        vec!["kill"],
        vec!["delete"],
        vec!["create", "--bundle", bundle],
    ] {
        let out = rt.run(&args);
        assert!(!out.success(), "{args:?} succeeded:\n{out:?}");
    }
    b.assert_clean();
}

/// runtime.md Start: "This operation MUST generate an error if `process` was not set";
/// config.md: `process` "is REQUIRED when start is called". Refusing at create is fine too.
#[test]
fn start_without_process_fails() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["true"]);
    b.edit(|c| {
        c.as_object_mut().unwrap().remove("process");
    });
    if b.create().success() {
        b.start().failed();
        assert_ne!(b.status(), "running");
        b.delete_force().ok();
    }
    b.assert_clean();
}

/// runtime.md Create: "All of the properties configured in config.json except for process
/// MUST be applied" (at create, before start): mounts, hostname, cgroup, sysctl.
#[test]
fn create_applies_everything_but_the_process() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["sleep", "100"]);
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/cella-must", "type": "tmpfs", "source": "tmpfs",
            "options": ["size=1m"]}));
        c["hostname"] = "must-host".into();
        c["linux"]["sysctl"] = json!({"kernel.shmmax": "123456789"});
    });
    b.create().ok();
    let pid = b.pid();
    let mountinfo = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    assert!(mountinfo.contains(" /cella-must "), "{mountinfo}");
    let in_ns = |ns: &str, cmd: &[&str]| {
        let out = std::process::Command::new("nsenter")
            .args(["-t", &pid.to_string(), ns])
            .args(cmd)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(in_ns("-u", &["hostname"]), "must-host");
    assert_eq!(
        in_ns("-i", &["cat", "/proc/sys/kernel/shmmax"]),
        "123456789"
    );
    let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let own = fs::read_to_string("/proc/self/cgroup").unwrap();
    assert_ne!(cgroups, own, "init is still in the caller's cgroups");
    // The user program has not run.
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).starts_with("sleep"));
    b.delete_force().ok();
    b.assert_no_leftovers();
}

/// runtime.md Delete: "resources associated with the container, but not created by this
/// container, MUST NOT be deleted": a bind-mounted host directory and a joined namespace.
#[test]
fn delete_keeps_what_the_container_did_not_create() {
    let Some(rt) = setup() else { return };
    let holder = integration_tests::Holder::spawn(&["--net", "--ipc"]);
    let host = integration_tests::HostDir::new();
    fs::write(host.path().join("keep"), "mine").unwrap();
    let mut b = Bundle::new(&rt, &["sh", "-c", "echo x > /vol/written"]);
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/vol", "type": "bind", "source": host.path(),
            "options": ["rbind", "rw"]}));
        for ns in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if ns["type"] == "network" {
                ns["path"] = holder.ns_path("net").into();
            }
            if ns["type"] == "ipc" {
                ns["path"] = holder.ns_path("ipc").into();
            }
        }
    });
    let net = holder.ns_link("net");
    b.create().ok();
    b.start().ok();
    b.wait_status("stopped");
    b.delete().ok();
    assert_eq!(
        fs::read_to_string(host.path().join("keep")).unwrap(),
        "mine"
    );
    assert_eq!(
        fs::read_to_string(host.path().join("written")).unwrap(),
        "x\n"
    );
    assert_eq!(holder.ns_link("net"), net, "the joined namespace is gone");
    assert!(Path::new(&format!("/proc/{}", holder.pid())).exists());
    b.assert_no_leftovers();
}

/// config.md Hooks: "Hooks MUST be called in the listed order"; "The prestart hooks MUST be
/// called before the createRuntime hooks"; createContainer after createRuntime.
#[test]
fn hooks_run_in_the_listed_order() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["true"]);
    let rec = HookRecorder::new(&b.path().join("hooks"));
    let mut hooks = json!({});
    let kinds = [
        "prestart",
        "createRuntime",
        "createContainer",
        "poststart",
        "poststop",
    ];
    for kind in kinds {
        // Listed 2, 1, 3: the order of the list, not of the names, must show.
        hooks[kind] = json!(["2", "1", "3"]
            .iter()
            .map(|n| rec.hook(&format!("{kind}-{n}"), ""))
            .collect::<Vec<_>>());
    }
    b.edit(|c| c["hooks"] = hooks);
    b.create().ok();
    b.start().ok();
    b.wait_status("stopped");
    b.delete().ok();
    let want: Vec<String> = kinds
        .iter()
        .flat_map(|k| ["2", "1", "3"].map(|n| format!("{k}-{n}")))
        .collect();
    assert_eq!(rec.order(), want);
    b.assert_no_leftovers();
}

/// runtime.md Lifecycle step 13: "If any poststop hook fails, the runtime MUST log a warning,
/// but the remaining hooks and lifecycle continue as if the hook had succeeded."
#[test]
fn a_failing_poststop_hook_is_a_warning_and_the_next_one_runs() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["true"]);
    let rec = HookRecorder::new(&b.path().join("hooks"));
    let failing = rec.hook("poststop-1", "echo poststop-says-no >&2; exit 3");
    let next = rec.hook("poststop-2", "");
    b.edit(|c| c["hooks"] = json!({"poststop": [failing, next]}));
    b.create().ok();
    b.start().ok();
    b.wait_status("stopped");
    let log = rt.scratch().join("poststop.log");
    let out = rt.run(&["--log", log.to_str().unwrap(), "delete", b.id()]);
    out.ok();
    if !rt.is_cella() {
        // runc 1.1.5 stops at the first failing poststop hook (RUNC-DIFFERENCES.md).
        assert_eq!(rec.order(), ["poststop-1"]);
        return;
    }
    assert_eq!(rec.order(), ["poststop-1", "poststop-2"]);
    let logged = fs::read_to_string(&log).unwrap_or_default();
    assert!(
        format!("{}{logged}", out.stderr).contains("poststop"),
        "no warning about the failed hook:\n{out:?}\nlog: {logged}"
    );
    rt.run(&["state", b.id()]).failed();
    b.assert_no_leftovers();
}

/// runtime.md Lifecycle step 9: "If any poststart hook fails, the runtime MUST generate an
/// error, stop the container, and continue the lifecycle at step 12" (then poststop, 13).
#[test]
fn a_failing_poststart_hook_fails_start_and_stops_the_container() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["sleep", "100"]);
    let rec = HookRecorder::new(&b.path().join("hooks"));
    let failing = rec.hook("poststart", "exit 3");
    let stop = rec.hook("poststop", "");
    b.edit(|c| c["hooks"] = json!({"poststart": [failing], "poststop": [stop]}));
    let created = b.create();
    if !rt.is_cella() {
        // runc 1.1.5 runs poststart during create (RUNC-DIFFERENCES.md) and fails it there.
        created.failed();
        b.assert_clean();
        return;
    }
    created.ok();
    b.start().failed();
    assert!(rec.ran("poststart"));
    // Stopped, and destroyed (step 12) with the poststop hooks run (step 13).
    let state = rt.run(&["state", b.id()]);
    if state.success() {
        b.wait_status("stopped");
        b.delete().ok();
    }
    assert!(rec.ran("poststop"), "{:?}", rec.order());
    b.assert_no_leftovers();
}

/// runtime.md Lifecycle steps 3-5: a failing prestart/createRuntime/createContainer hook
/// "MUST generate an error, stop the container, and continue the lifecycle at step 12":
/// step 13 runs the poststop hooks.
#[test]
fn a_failing_create_hook_still_runs_the_poststop_hooks() {
    let Some(rt) = setup() else { return };
    for failing in ["prestart", "createRuntime", "createContainer"] {
        let mut b = Bundle::new(&rt, &["sleep", "100"]);
        let rec = HookRecorder::new(&b.path().join("hooks"));
        let bad = rec.hook(failing, "exit 3");
        let stop = rec.hook("poststop", "");
        b.edit(|c| c["hooks"] = json!({failing: [bad], "poststop": [stop]}));
        b.create().failed();
        assert!(rec.ran("poststop"), "{failing}: {:?}", rec.order());
        b.assert_clean();
    }
}

/// config.md Process: "Runtimes MUST ignore consoleSize if terminal is false or unset."
#[test]
fn console_size_is_ignored_without_a_terminal() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    b.edit(|c| c["process"]["consoleSize"] = json!({"height": 30, "width": 100}));
    let out = run_script(&b, "[ -t 0 ] || [ -t 1 ] && echo tty=yes || echo tty=no");
    assert_eq!(value(&out, "tty"), "no");
    b.assert_no_leftovers();
}

/// config.md oomScoreAdj: "If oomScoreAdj is not set, the runtime MUST NOT change the value
/// of oom_score_adj": the container keeps the caller's.
#[test]
fn oom_score_adj_is_left_alone_when_unset() {
    let Some(rt) = setup() else { return };
    let own = fs::read_to_string("/proc/self/oom_score_adj").unwrap();
    let b = Bundle::new(&rt, &["/probe.sh"]);
    let out = run_script(&b, "echo oom=$(cat /proc/self/oom_score_adj)");
    assert_eq!(value(&out, "oom"), own.trim());
}

/// config.md capabilities: a value "which cannot be mapped to a relevant kernel interface
/// ... MUST be logged as a warning by the runtime. Runtimes SHOULD NOT fail".
#[test]
fn unknown_capability_is_a_warning_not_an_error() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["echo", "ran"]);
    b.edit(|c| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push("CAP_CELLA_BOGUS".into());
        }
    });
    let out = b.run();
    out.ok();
    assert_eq!(out.stdout.trim(), "ran");
    assert!(
        out.stderr.contains("CAP_CELLA_BOGUS"),
        "no warning:\n{out:?}"
    );
    b.assert_no_leftovers();
}

/// config.md Mounts: "The runtime MUST mount entries in the listed order": a later entry
/// shadows an earlier one at the same place, and a nested one lands in its parent mount.
#[test]
fn mounts_are_made_in_the_listed_order() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    let tmpfs = |dest: &str, size: &str| {
        json!({"destination": dest, "type": "tmpfs", "source": "tmpfs",
               "options": [format!("size={size}")]})
    };
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(tmpfs("/ord-c", "1m"));
        m.push(tmpfs("/ord-a", "2m"));
        m.push(tmpfs("/ord-c/inner", "3m"));
        m.push(tmpfs("/ord-a", "4m"));
    });
    let out = run_script(
        &b,
        "cat /proc/self/mountinfo\n\
         echo inner=$(df -k /ord-c/inner | tail -1 | tr -s ' ' | cut -d' ' -f2)\n\
         echo a=$(df -k /ord-a | tail -1 | tr -s ' ' | cut -d' ' -f2)",
    );
    let order: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.starts_with("/ord-"))
        .collect();
    assert_eq!(
        order,
        ["/ord-c", "/ord-a", "/ord-c/inner", "/ord-a"],
        "{out}"
    );
    assert_eq!(value(&out, "inner"), "3072");
    assert_eq!(value(&out, "a"), "4096");
}

/// config.md Mounts destination: "it MAY be a relative path, in which case it MUST be
/// interpreted as relative to "/"".
#[test]
fn relative_mount_destination_is_relative_to_root() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "rel/dir", "type": "tmpfs", "source": "tmpfs",
            "options": ["size=1m"]}));
    });
    let out = run_script(&b, "echo fs=$(stat -f -c %T /rel/dir)");
    assert_eq!(value(&out, "fs"), "tmpfs");
    assert!(b.rootfs().join("rel/dir").is_dir());
}

/// The per-mount options of the mount at `point` and its super options, from mountinfo.
fn mount_opts<'a>(mountinfo: &'a str, point: &str) -> (Vec<&'a str>, Vec<&'a str>, String) {
    let line = mountinfo
        .lines()
        .rfind(|l| l.split(' ').nth(4) == Some(point))
        .unwrap_or_else(|| panic!("{point} is not mounted:\n{mountinfo}"));
    let f: Vec<&str> = line.split(' ').collect();
    let dash = f.iter().position(|x| *x == "-").unwrap();
    let optional = f[6..dash].join(" ");
    (
        f[5].split(',').collect(),
        f[dash + 3].split(',').collect(),
        optional,
    )
}

/// Options; per-mount flags that must show; that must not; super options that must show.
type OptionCase = (
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);

/// mountinfo shows it, applied (per-mount flags, super-block flags, propagation).
#[test]
fn every_must_mount_option_is_applied() {
    let Some(rt) = setup() else { return };
    // (options, per-mount flags that must show, that must not, super options that must show)
    let cases: &[OptionCase] = &[
        (&["async"], &[], &[], &[]),
        (&["atime", "noatime"], &["noatime"], &[], &[]),
        (&["noatime", "atime"], &["relatime"], &["noatime"], &[]),
        (&["nodev", "dev"], &[], &["nodev"], &[]),
        (&["nodiratime"], &["nodiratime"], &[], &[]),
        (&["nodiratime", "diratime"], &[], &["nodiratime"], &[]),
        (&["dirsync"], &[], &[], &["dirsync"]),
        (&["noexec", "exec"], &[], &["noexec"], &[]),
        (&["iversion"], &[], &[], &[]),
        (&["noiversion"], &[], &[], &[]),
        (&["lazytime"], &[], &[], &["lazytime"]),
        (&["lazytime", "nolazytime"], &[], &[], &[]),
        (&["loud"], &[], &[], &[]),
        (&["silent"], &[], &[], &[]),
        (&["noatime"], &["noatime"], &["relatime"], &[]),
        (&["nodev"], &["nodev"], &[], &[]),
        (&["noexec"], &["noexec"], &[], &[]),
        (&["nosuid"], &["nosuid"], &[], &[]),
        (&["nosuid", "suid"], &[], &["nosuid"], &[]),
        // The kernel defaults to relatime when no atime flag is given, so norelatime alone
        // still shows relatime (as with mount(8)): only accepted.
        (&["norelatime"], &[], &["noatime"], &[]),
        (&["nostrictatime"], &["relatime"], &[], &[]),
        (&["relatime"], &["relatime"], &[], &[]),
        (&["ro"], &["ro"], &["rw"], &[]),
        (&["ro", "rw"], &["rw"], &["ro"], &[]),
        (&["strictatime"], &[], &["relatime", "noatime"], &[]),
        (&["sync"], &[], &[], &["sync"]),
    ];
    let mut b = Bundle::new(&rt, &["cat", "/proc/self/mountinfo"]);
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        for (i, (opts, ..)) in cases.iter().enumerate() {
            let mut o: Vec<String> = opts.iter().map(|s| s.to_string()).collect();
            o.push("size=64k".into());
            m.push(json!({"destination": format!("/opt{i}"), "type": "tmpfs",
                          "source": "tmpfs", "options": o}));
        }
    });
    let out = b.run();
    out.ok();
    let mut failures = Vec::new();
    // runc 1.1.5 passes "defaults" to the file system as data (EINVAL from tmpfs), so it
    // gets a mount of its own (RUNC-DIFFERENCES.md).
    if rt.is_cella() {
        let mut d = Bundle::new(&rt, &["cat", "/proc/self/mountinfo"]);
        d.edit(|c| {
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .push(json!({"destination": "/defaults",
                "type": "tmpfs", "source": "tmpfs", "options": ["defaults", "size=64k"]}));
        });
        let out = d.run();
        out.ok();
        let (flags, _, _) = mount_opts(&out.stdout, "/defaults");
        if !flags.contains(&"rw") || flags.iter().any(|f| f.starts_with("no")) {
            failures.push(format!("[\"defaults\"]: {flags:?}"));
        }
    }
    for (i, (opts, with, without, sb)) in cases.iter().enumerate() {
        let (flags, sbopts, _) = mount_opts(&out.stdout, &format!("/opt{i}"));
        let bad = with.iter().any(|f| !flags.contains(f))
            || without.iter().any(|f| flags.contains(f))
            || sb.iter().any(|f| !sbopts.contains(f));
        if bad {
            failures.push(format!("{opts:?}: {flags:?} {sbopts:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// config.md Linux mount options: the propagation options (MUST) on bind mounts, and
/// `remount` (MUST) changing an earlier mount's flags.
#[test]
fn propagation_and_remount_options_are_applied() {
    let Some(rt) = setup() else { return };
    let host = integration_tests::HostDir::new();
    let bind = |dest: &str, prop: &str| {
        json!({"destination": dest, "type": "bind", "source": host.path(),
               "options": ["rbind", prop]})
    };
    let mut b = Bundle::new(&rt, &["cat", "/proc/self/mountinfo"]);
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        for p in [
            "private",
            "rprivate",
            "shared",
            "rshared",
            "slave",
            "rslave",
            "unbindable",
            "runbindable",
        ] {
            m.push(bind(&format!("/p-{p}"), p));
        }
        m.push(
            json!({"destination": "/re", "type": "tmpfs", "source": "tmpfs",
                      "options": ["size=64k"]}),
        );
        m.push(
            json!({"destination": "/re", "type": "tmpfs", "source": "tmpfs",
                      "options": ["remount", "ro", "size=64k"]}),
        );
    });
    let out = b.run();
    out.ok();
    let info = &out.stdout;
    for p in ["private", "rprivate"] {
        let (_, _, opt) = mount_opts(info, &format!("/p-{p}"));
        assert!(
            !opt.contains("shared:") && !opt.contains("master:"),
            "{p}: {opt}"
        );
    }
    for p in ["shared", "rshared"] {
        let (_, _, opt) = mount_opts(info, &format!("/p-{p}"));
        assert!(opt.contains("shared:"), "{p}: {opt}");
    }
    for p in ["slave", "rslave"] {
        let (_, _, opt) = mount_opts(info, &format!("/p-{p}"));
        assert!(!opt.contains("shared:"), "{p}: {opt}");
    }
    for p in ["unbindable", "runbindable"] {
        let (_, _, opt) = mount_opts(info, &format!("/p-{p}"));
        assert!(opt.contains("unbindable"), "{p}: {opt}");
    }
    let (flags, _, _) = mount_opts(info, "/re");
    assert!(flags.contains(&"ro"), "remount: {flags:?}");
}

/// config-linux.md Namespaces: "If a namespace type is not specified in the namespaces
/// array, the container MUST inherit the runtime namespace of that type."
#[test]
fn omitted_namespaces_are_inherited() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    b.edit(|c| {
        c["linux"]["namespaces"] = json!([{"type": "mount"}]);
        c.as_object_mut().unwrap().remove("hostname");
        // Without a private network namespace sysfs cannot be mounted anew.
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["type"] != "sysfs" && m["type"] != "mqueue");
    });
    let kinds = ["net", "ipc", "uts", "pid", "cgroup", "user"];
    let script: String = kinds
        .iter()
        .map(|k| format!("echo {k}=$(readlink /proc/self/ns/{k})\n"))
        .collect();
    let out = run_script(&b, &script);
    for k in kinds {
        assert_eq!(value(&out, k), ns_link("self", k), "{k}");
    }
    assert_ne!(value(&out, "net"), "");
}

/// config-linux.md Devices `path`: "If a file already exists at path that does not match the
/// requested device, the runtime MUST generate an error." A matching one is fine.
#[test]
fn device_path_taken_by_another_file_is_refused() {
    let Some(rt) = setup() else { return };
    let dev = json!([{"path": "/mydev", "type": "c", "major": 1, "minor": 3,
                      "fileMode": 438}]);
    let mut b = Bundle::new(&rt, &["true"]);
    b.write_file("/mydev", "not a device");
    b.edit(|c| c["linux"]["devices"] = dev.clone());
    let out = b.create();
    if rt.is_cella() {
        out.failed().says("/mydev");
        b.assert_clean();
    } else {
        // runc 1.1.5 keeps the file and goes on (RUNC-DIFFERENCES.md).
        out.ok();
    }
    assert_eq!(
        fs::read_to_string(b.rootfs().join("mydev")).unwrap(),
        "not a device"
    );
}

/// config-linux.md Cgroups Path: an absolute cgroupsPath "MUST take the path to be relative to
/// the cgroups mount point", and the same value MUST attach to the same place.
#[test]
fn absolute_cgroups_path_is_under_the_mount_point_every_time() {
    let Some(rt) = setup() else { return };
    let path = format!("/{}", integration_tests::unique_id());
    let mut places = Vec::new();
    for _ in 0..2 {
        let mut b = Bundle::new(&rt, &["sleep", "100"]);
        b.edit(|c| c["linux"]["cgroupsPath"] = path.clone().into());
        b.create().ok();
        let cgroups = fs::read_to_string(format!("/proc/{}/cgroup", b.pid())).unwrap();
        let mut mine: Vec<String> = cgroups
            .lines()
            .filter_map(|l| l.splitn(3, ':').nth(2))
            .map(str::to_string)
            .collect();
        mine.sort();
        mine.dedup();
        let dirs = integration_tests::procfs::cgroup_dirs(b.pid());
        for (ctrls, dir) in &dirs {
            if ctrls.contains("memory") || ctrls.contains("pids") {
                assert!(dir.ends_with(&path[1..]), "{ctrls}: {}", dir.display());
                let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap();
                assert!(procs.lines().any(|p| p == b.pid().to_string()));
            }
        }
        places.push(mine);
        b.delete_force().ok();
        b.assert_no_leftovers();
    }
    assert_eq!(places[0], places[1]);
}

/// config-linux.md IntelRdt: "If no mounted resctrl pseudo-filesystem is available in the
/// runtime mount namespace, the runtime MUST generate an error."
#[test]
fn intel_rdt_without_resctrl_is_refused() {
    let Some(rt) = setup() else { return };
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
    if mounts
        .lines()
        .any(|l| l.split(' ').nth(2) == Some("resctrl"))
    {
        eprintln!("SKIPPED: resctrl is mounted here");
        return;
    }
    let mut b = Bundle::new(&rt, &["true"]);
    b.edit(|c| c["linux"]["intelRdt"] = json!({"closID": "cella-test-clos"}));
    let out = b.create();
    if rt.is_cella() {
        out.failed().says("resctrl");
        b.assert_clean();
    } else {
        // runc 1.1.5 checks for resctrl only when a schema is given (RUNC-DIFFERENCES.md).
        out.ok();
    }
}

/// config-linux.md Memory policy with runtime.md Create: "If the runtime cannot apply a
/// property as specified in the configuration, it MUST generate an error": memoryPolicy is
/// either in force in the container process or refused.
#[test]
fn memory_policy_applies_or_is_refused() {
    let Some(rt) = setup() else { return };
    if !Path::new("/proc/self/numa_maps").exists() {
        eprintln!("SKIPPED: no NUMA support in this kernel");
        return;
    }
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    b.edit(|c| c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0"}));
    b.script(
        "/probe.sh",
        "echo policy=$(grep -m1 ' stack' /proc/self/numa_maps | cut -d' ' -f2)",
    );
    let out = b.run();
    if !rt.is_cella() {
        // runc 1.1.5 does not know memoryPolicy (runc 1.3 added it) and ignores it.
        out.ok();
        assert_eq!(value(&out.stdout, "policy"), "default");
        return;
    }
    if out.success() {
        assert_eq!(value(&out.stdout, "policy"), "bind:0", "{out:?}");
    } else {
        out.says("memoryPolicy");
    }
    b.assert_no_leftovers();
}

/// One config the spec says a runtime MUST refuse: what to change and a word the error
/// should name (checked for cella only: runc's words differ).
struct Refused {
    what: &'static str,
    edit: fn(&mut Value),
    names: &'static str,
    /// Whether runc 1.1.5 refuses it too (RUNC-DIFFERENCES.md lists the others).
    runc_refuses: bool,
}

fn refusals() -> Vec<Refused> {
    vec![
        Refused {
            what: "config.md cwd: MUST be an absolute path",
            edit: |c| c["process"]["cwd"] = "relative/dir".into(),
            names: "cwd",
            runc_refuses: true,
        },
        Refused {
            what: "config.md args: at least one entry is REQUIRED",
            edit: |c| c["process"]["args"] = json!([]),
            names: "args",
            runc_refuses: true,
        },
        Refused {
            what: "config.md rlimits: MUST generate an error for values that cannot be mapped",
            edit: |c| {
                c["process"]["rlimits"] = json!([{"type": "RLIMIT_CELLA", "soft": 1, "hard": 1}])
            },
            names: "RLIMIT_CELLA",
            runc_refuses: true,
        },
        Refused {
            what: "config.md rlimits: duplicated type MUST generate an error",
            edit: |c| {
                c["process"]["rlimits"] = json!([
                    {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 100},
                    {"type": "RLIMIT_NOFILE", "soft": 200, "hard": 200}])
            },
            names: "RLIMIT_NOFILE",
            runc_refuses: true,
        },
        Refused {
            what: "config.md root: REQUIRED on Linux",
            edit: |c| {
                c.as_object_mut().unwrap().remove("root");
            },
            names: "root",
            runc_refuses: true,
        },
        Refused {
            what: "config.md mounts: destination is REQUIRED",
            edit: |c| {
                c["mounts"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "tmpfs", "source": "tmpfs"}));
            },
            names: "destination",
            runc_refuses: true,
        },
        Refused {
            what: "config.md mounts uidMappings: MUST be specified along with gidMappings",
            edit: |c| {
                c["mounts"].as_array_mut().unwrap().push(json!({
                    "destination": "/idm", "type": "bind", "source": "/tmp",
                    "options": ["rbind"],
                    "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}));
            },
            names: "gidMappings",
            runc_refuses: false,
        },
        Refused {
            what: "config.md hooks timeout: MUST be greater than zero",
            edit: |c| c["hooks"] = json!({"prestart": [{"path": "/bin/true", "timeout": 0}]}),
            names: "timeout",
            runc_refuses: true,
        },
        Refused {
            what: "config.md annotations: keys MUST NOT be an empty string",
            edit: |c| c["annotations"] = json!({"": "empty key"}),
            names: "annotation",
            runc_refuses: false,
        },
        Refused {
            what: "config.md annotations: values MUST be strings",
            edit: |c| c["annotations"] = json!({"k": 5}),
            names: "annotations",
            runc_refuses: true,
        },
        Refused {
            what: "config.md ociVersion: MUST be SemVer",
            edit: |c| c["ociVersion"] = "1.2".into(),
            names: "ociVersion",
            runc_refuses: false,
        },
        Refused {
            what: "config-linux.md namespaces path: MUST be an absolute path",
            edit: |c| c["linux"]["namespaces"][1]["path"] = "proc/1/ns/net".into(),
            names: "proc/1/ns/net",
            runc_refuses: true,
        },
        Refused {
            what: "config-linux.md namespaces: MUST error if path is not a namespace of type",
            edit: |c| c["linux"]["namespaces"][1]["path"] = "/proc/self/ns/uts".into(),
            names: "/proc/self/ns/uts",
            runc_refuses: true,
        },
        Refused {
            what: "config-linux.md namespaces: a path that is no namespace at all",
            edit: |c| c["linux"]["namespaces"][1]["path"] = "/etc/hostname".into(),
            names: "/etc/hostname",
            runc_refuses: true,
        },
        Refused {
            what: "config-linux.md maskedPaths: MUST be absolute paths",
            edit: |c| c["linux"]["maskedPaths"] = json!(["proc/kcore"]),
            names: "proc/kcore",
            runc_refuses: false,
        },
        Refused {
            what: "config-linux.md readonlyPaths: MUST be absolute paths",
            edit: |c| c["linux"]["readonlyPaths"] = json!(["proc/sys"]),
            names: "proc/sys",
            runc_refuses: false,
        },
        Refused {
            what: "config-linux.md seccomp names: MUST contain at least one entry",
            edit: |c| {
                c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]})
            },
            names: "names",
            runc_refuses: false,
        },
        Refused {
            what: "config-linux.md seccomp: an action without errno given errnoRet MUST fail",
            edit: |c| {
                c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_KILL",
                                  "errnoRet": 5}]})
            },
            names: "errnoRet",
            runc_refuses: false,
        },
        Refused {
            what: "config-linux.md seccomp defaultErrnoRet with a default action without errno",
            edit: |c| {
                c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
                    "defaultErrnoRet": 5})
            },
            names: "defaultErrnoRet",
            runc_refuses: false,
        },
        Refused {
            what: "config-linux.md seccomp listenerMetadata: MUST NOT be set without listenerPath",
            edit: |c| {
                c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
                    "listenerMetadata": "meta"})
            },
            names: "listener",
            runc_refuses: false,
        },
    ]
}

/// config.md Valid values: "Runtimes MUST generate an error when invalid or unsupported
/// values are encountered"; runtime.md Create: "a new container MUST NOT be created", and
/// Errors: the environment stays "as if the operation were never attempted".
#[test]
fn invalid_values_are_refused_and_leave_nothing() {
    let Some(rt) = setup() else { return };
    let mut failures = Vec::new();
    for r in refusals() {
        if !rt.is_cella() && !r.runc_refuses {
            continue;
        }
        let marker = Path::new("/tmp").join(integration_tests::unique_id());
        let mut b = Bundle::new(&rt, &["touch", marker.to_str().unwrap()]);
        b.edit(r.edit);
        let out = b.create();
        if out.success() {
            let _ = b.start();
            failures.push(format!("{}: accepted", r.what));
            continue;
        }
        if rt.is_cella() && !format!("{}{}", out.stderr, out.stdout).contains(r.names) {
            failures.push(format!(
                "{}: error does not name {:?}: {}",
                r.what, r.names, out.stderr
            ));
        }
        let list = rt.list(&["-q"]);
        if !list.stdout.trim().is_empty() || !b.leftovers().is_empty() {
            failures.push(format!("{}: left {:?}", r.what, b.leftovers()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// runtime.md Kill: "Attempting to send a signal to a container that is neither created nor
/// running MUST have no effect on the container and MUST generate an error" (after delete:
/// no container at all); a paused one is running, kill reaches it.
#[test]
fn kill_after_the_container_stopped_has_no_effect() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["true"]);
    b.create().ok();
    b.start().ok();
    b.wait_status("stopped");
    let before = b.state();
    b.kill("TERM").failed();
    let after = b.state();
    assert_eq!(before, after);
    b.delete().ok();
    b.kill("TERM").failed();
    b.assert_no_leftovers();
}
