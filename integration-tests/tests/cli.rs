//! The command line itself: spec, features, log format, version.

use std::fs;

use integration_tests::{requires, Req, Runtime};
use serde_json::Value;

fn setup() -> Option<Runtime> {
    requires(&[Req::Root]).then(Runtime::new)
}

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
    rt.run(&["frobnicate"]).failed();
}
