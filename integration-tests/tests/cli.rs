//! The command line itself: spec, features, log format, version.

use std::fs;
use std::time::Duration;

use integration_tests::{setup, Bundle};
use serde_json::Value;

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn spec_writes_a_config_and_refuses_to_overwrite_it() {
    let Some(rt) = setup() else { return };
    let dir = tempfile::Builder::new()
        .prefix("cella-test-spec-")
        .tempdir()
        .unwrap();
    rt.spec(dir.path(), &[]).ok();
    let text = fs::read_to_string(dir.path().join("config.json")).unwrap();
    let c: Value = serde_json::from_str(&text).expect("config.json is JSON");
    assert!(
        c["ociVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.")),
        "{c}"
    );
    assert_eq!(strings(&c["process"]["args"]), ["sh"]);
    assert_eq!(c["process"]["terminal"], true);
    assert_eq!(c["root"]["path"], "rootfs");
    let ns: Vec<&str> = c["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    for want in ["pid", "network", "ipc", "uts", "mount"] {
        assert!(ns.contains(&want), "{want} missing from {ns:?}");
    }
    assert!(c["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["destination"] == "/proc"));

    rt.spec(dir.path(), &[]).failed().says("exists");
    assert_eq!(
        fs::read_to_string(dir.path().join("config.json")).unwrap(),
        text
    );

    let other = tempfile::Builder::new()
        .prefix("cella-test-spec-")
        .tempdir()
        .unwrap();
    rt.spec(dir.path(), &["--bundle", other.path().to_str().unwrap()])
        .ok();
    assert!(
        other.path().join("config.json").is_file(),
        "spec --bundle ignored"
    );
}

#[test]
fn spec_rootless_maps_the_callers_ids_in_a_user_namespace() {
    let Some(rt) = setup() else { return };
    let dir = tempfile::Builder::new()
        .prefix("cella-test-spec-")
        .tempdir()
        .unwrap();
    rt.spec(dir.path(), &["--rootless"]).ok();
    let c: Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join("config.json")).unwrap()).unwrap();
    let ns: Vec<&str> = c["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert!(ns.contains(&"user"), "{ns:?}");
    assert!(
        !ns.contains(&"network"),
        "a rootless container cannot set up a network: {ns:?}"
    );
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    assert_eq!(
        c["linux"]["uidMappings"],
        serde_json::json!([{"containerID": 0, "hostID": uid, "size": 1}])
    );
    assert_eq!(
        c["linux"]["gidMappings"],
        serde_json::json!([{"containerID": 0, "hostID": gid, "size": 1}])
    );
}

#[test]
fn features_prints_what_the_runtime_supports() {
    let Some(rt) = setup() else { return };
    let out = rt.features();
    out.ok();
    let f: Value = serde_json::from_str(&out.stdout).expect("features is JSON");
    assert_eq!(f["ociVersionMin"], "1.0.0");
    let max = f["ociVersionMax"].as_str().expect("ociVersionMax");
    if rt.is_cella() {
        assert_eq!(max, "1.3.0");
    } else {
        assert!(max.starts_with("1."), "{max}");
    }
    let hooks = strings(&f["hooks"]);
    for h in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        assert!(hooks.contains(&h), "{h} missing from {hooks:?}");
    }
    let opts = strings(&f["mountOptions"]);
    for o in [
        "ro", "rbind", "nosuid", "nodev", "noexec", "rprivate", "rslave", "rshared",
    ] {
        assert!(opts.contains(&o), "{o} missing from mountOptions");
    }
    let ns = strings(&f["linux"]["namespaces"]);
    for n in ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"] {
        assert!(ns.contains(&n), "{n} missing from {ns:?}");
    }
    let caps = strings(&f["linux"]["capabilities"]);
    assert!(
        caps.contains(&"CAP_SYS_ADMIN") && caps.contains(&"CAP_KILL"),
        "{caps:?}"
    );
    if rt.is_cella() {
        // runc 1.1.5 lacks time namespaces (RUNC-DIFFERENCES.md).
        assert!(ns.contains(&"time"), "{ns:?}");
    }
}

#[test]
fn log_format_json_prints_errors_as_json() {
    let Some(rt) = setup() else { return };
    let out = rt.run(&["--log-format", "json", "state", "cella-test-nope"]);
    out.failed();
    let line = out
        .stderr
        .lines()
        .find(|l| !l.trim().is_empty())
        .expect("an error line");
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    assert_eq!(v["level"], "error");
    assert!(v["msg"].as_str().unwrap().contains("does not exist"), "{v}");
    assert!(v["time"].is_string(), "{v}");
}

#[test]
fn version_is_printed() {
    let Some(rt) = setup() else { return };
    let out = rt.call_bare(&["--version"]).output();
    out.ok();
    let first = out.stdout.lines().next().unwrap_or_default();
    assert!(
        first
            .split(|c: char| !c.is_ascii_digit() && c != '.')
            .any(|w| w.contains('.')),
        "{first}"
    );
    if rt.is_cella() {
        assert!(first.starts_with("cella"), "{first}");
    }
}

#[test]
fn unknown_subcommand_fails() {
    let Some(rt) = setup() else { return };
    // runc's codes: 3 for an unknown command, 1 for a missing or bad argument.
    assert_eq!(rt.run(&["frobnicate"]).code(), Some(3));
    assert_eq!(rt.run(&["kill"]).code(), Some(1));
    assert_eq!(rt.run(&["delete", "--no-such-flag", "x"]).code(), Some(1));
}

/// The `(level, msg)` of one line of a text log: `time="<RFC 3339>" level=<level>
/// msg="<quoted>"` and maybe more `key=value` fields; panics naming the line otherwise.
#[track_caller]
fn text_log_line(line: &str) -> (String, String) {
    let fail = |why: &str| -> ! { panic!("{why} in text log line: {line:?}") };
    let rest = line
        .strip_prefix("time=\"")
        .unwrap_or_else(|| fail("no time=\" first"));
    let (time, rest) = rest
        .split_once('"')
        .unwrap_or_else(|| fail("unquoted time"));
    if !is_rfc3339(time) {
        fail("time is not RFC 3339");
    }
    let rest = rest
        .strip_prefix(" level=")
        .unwrap_or_else(|| fail("no level= after time"));
    let (level, rest) = rest.split_once(' ').unwrap_or_else(|| fail("no msg"));
    let quoted = rest
        .strip_prefix("msg=\"")
        .unwrap_or_else(|| fail("no msg=\" after level"));
    let mut msg = String::new();
    let mut chars = quoted.chars();
    loop {
        match chars.next() {
            Some('"') => break,
            Some('\\') => msg.push(chars.next().unwrap_or_else(|| fail("dangling escape"))),
            Some(c) => msg.push(c),
            None => fail("unterminated msg"),
        }
    }
    let tail = chars.as_str();
    if !(tail.is_empty() || tail.starts_with(' ')) {
        fail("garbage after msg");
    }
    (level.to_string(), msg)
}

/// `YYYY-MM-DDTHH:MM:SS`, optional fraction, then `Z` or `+hh:mm`/`-hh:mm`.
fn is_rfc3339(t: &str) -> bool {
    let shape = |s: &str, pattern: &str| {
        s.len() == pattern.len()
            && s.chars().zip(pattern.chars()).all(|(c, p)| match p {
                'd' => c.is_ascii_digit(),
                _ => c == p,
            })
    };
    if t.len() < 20 || !shape(&t[..19], "dddd-dd-ddTdd:dd:dd") {
        return false;
    }
    let mut rest = &t[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &frac[digits..];
    }
    rest == "Z" || shape(rest, "+dd:dd") || shape(rest, "-dd:dd")
}

#[test]
fn text_log_lines_have_time_level_and_msg() {
    assert!(is_rfc3339("2026-11-24T20:13:02Z"));
    assert!(is_rfc3339("2026-11-24T20:13:32.811679811Z"));
    assert!(is_rfc3339("2026-11-24T20:13:32+01:00"));
    assert!(!is_rfc3339("2026-11-24 20:13:32Z"));
    assert!(!is_rfc3339("2026-11-24T20:13:32"));
    let (level, msg) = text_log_line(r#"time="2026-11-24T20:13:02Z" level=error msg="a \"b\" c""#);
    assert_eq!((level.as_str(), msg.as_str()), ("error", r#"a "b" c"#));
    let (level, _) =
        text_log_line(r#"time="2026-11-24T20:13:02Z" level=debug msg="x" func="f()" pid=3"#);
    assert_eq!(level, "debug");
}

/// `--log FILE` of a call, parsed as text lines.
fn text_log(path: &std::path::Path) -> Vec<(String, String)> {
    let text = fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("log file {} not written: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(text_log_line)
        .collect()
}

#[test]
fn log_file_in_text_format_explains_the_failure() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["/bin/nope"]);
    let log = b.path().join("log.txt");
    let bundle = b.path().to_str().unwrap();
    let out = rt.run(&[
        "--log",
        log.to_str().unwrap(),
        "create",
        "--bundle",
        bundle,
        b.id(),
    ]);
    out.failed();
    let lines = text_log(&log);
    let last_error = lines
        .iter()
        .rev()
        .find(|(level, _)| level == "error")
        .unwrap_or_else(|| panic!("no level=error line in {lines:?}"));
    assert!(last_error.1.contains("/bin/nope"), "{last_error:?}");
    assert!(
        !lines.iter().any(|(level, _)| level == "debug"),
        "debug lines without --debug: {lines:?}"
    );
    b.assert_no_leftovers();
}

#[test]
fn debug_adds_debug_lines_to_the_log() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["sleep", "100"]);
    let log = b.path().join("log.txt");
    let log = log.to_str().unwrap();
    let bundle = b.path().to_str().unwrap();
    rt.run(&["--log", log, "create", "--bundle", bundle, b.id()])
        .ok();
    rt.run(&["--log", log, "delete", "--force", b.id()]).ok();
    let quiet = text_log(std::path::Path::new(log));
    assert!(
        !quiet.iter().any(|(level, _)| level == "debug"),
        "debug lines without --debug: {quiet:?}"
    );
    fs::remove_file(log).unwrap();

    for args in [
        vec!["create", "--bundle", bundle, b.id()],
        vec!["start", b.id()],
        vec!["delete", "--force", b.id()],
    ] {
        let mut all = vec!["--debug", "--log", log];
        all.extend(args);
        rt.run(&all).ok();
    }
    let lines = text_log(std::path::Path::new(log));
    assert!(
        lines.iter().any(|(level, _)| level == "debug"),
        "no level=debug line with --debug: {lines:?}"
    );
    b.assert_no_leftovers();
}

#[test]
fn systemd_cgroup_fails_clearly_and_leaves_nothing() {
    let Some(rt) = setup() else { return };
    if std::path::Path::new("/run/systemd/system").exists() {
        // With systemd running, runc would create the container: nothing to check here.
        eprintln!("SKIPPED: systemd runs on this host");
        return;
    }
    let mut b = Bundle::new(&rt, &["sleep", "100"]);
    let id = b.id().to_string();
    b.edit(|c| c["linux"]["cgroupsPath"] = format!("system.slice:cella-test:{id}").into());
    let bundle = b.path().to_str().unwrap();
    for sub in ["create", "run"] {
        let out = rt.run(&["--systemd-cgroup", sub, "--bundle", bundle, &id]);
        out.failed().says("systemd");
        b.assert_no_leftovers();
        let list = rt.list(&["-q"]);
        list.ok();
        assert_eq!(list.stdout.trim(), "", "{list:?}");
    }
}

#[test]
fn relative_bundle_and_pid_file_are_taken_from_the_callers_cwd() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["sleep", "100"]);
    let cwd = b.path().parent().unwrap();
    let name = b.path().file_name().unwrap().to_str().unwrap();
    let rel_pid = format!("{name}/rel.pid");
    rt.call(&["create", "--bundle", name, "--pid-file", &rel_pid, b.id()])
        .cwd(cwd)
        .output()
        .ok();
    let state = b.state();
    assert_eq!(state["bundle"], b.path().to_str().unwrap(), "{state}");
    let pid = fs::read_to_string(b.path().join("rel.pid")).expect("pid file in the caller's cwd");
    assert_eq!(pid, b.pid().to_string());
    b.delete_force().ok();
    b.assert_no_leftovers();
}

#[test]
fn relative_bundle_with_dot_dot_is_cleaned_in_the_state() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["sleep", "100"]);
    // From a sibling temp dir, the bundle is ../<name>; that dir is gone before `delete`, so
    // a bundle path that still goes through it would no longer resolve.
    let cwd = tempfile::Builder::new()
        .prefix("cella-test-cwd-")
        .tempdir()
        .unwrap();
    let rel = format!("../{}", b.path().file_name().unwrap().to_str().unwrap());
    rt.call(&["create", "--bundle", &rel, b.id()])
        .cwd(cwd.path())
        .output()
        .ok();
    drop(cwd);
    let state = b.state();
    assert_eq!(state["bundle"], b.path().to_str().unwrap(), "{state}");
    b.delete_force().ok();
    b.assert_no_leftovers();
}

#[test]
fn create_without_bundle_uses_the_cwd() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["/probe.sh"]);
    b.script("/probe.sh", "echo from-the-cwd-bundle");
    let out = rt.call(&["create", b.id()]).cwd(b.path()).output();
    out.ok();
    let state = b.state();
    assert_eq!(state["bundle"], b.path().to_str().unwrap(), "{state}");
    b.start().ok();
    out.wait_stdout("the container's output", Duration::from_secs(10), |o| {
        o.contains("from-the-cwd-bundle")
    });
    b.wait_status("stopped");
    b.delete().ok();
    b.assert_no_leftovers();
}

#[test]
fn the_default_spec_runs_once_the_terminal_is_off() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["true"]);
    fs::remove_file(b.path().join("config.json")).unwrap();
    rt.spec(b.path(), &[]).ok();
    let path = b.path().join("config.json");
    let mut c: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    c["process"]["terminal"] = false.into();
    c["process"]["args"] = serde_json::json!(["echo", "the-default-spec-ran"]);
    b.write_raw_config(&serde_json::to_string_pretty(&c).unwrap());
    let out = b.run();
    out.ok();
    assert_eq!(out.stdout.trim(), "the-default-spec-ran", "{out:?}");
    b.assert_no_leftovers();
}
