//! What config.json may hold: unknown properties are ignored, invalid values refused by name.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use integration_tests::{setup, Bundle};
use serde_json::json;

#[test]
fn unknown_properties_are_ignored_everywhere() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["echo", "ran-despite-unknown-properties"]);
    // config.md "Extensibility": runtimes MUST ignore unknown properties, at any depth.
    b.edit(|c| {
        let x = json!({"cella.test/unknown": [1, {"nested": true}]});
        c["cellaUnknownTop"] = x.clone();
        c["process"]["cellaUnknown"] = x.clone();
        c["process"]["user"]["cellaUnknown"] = "x".into();
        c["process"]["capabilities"]["cellaUnknown"] = json!(["CAP_NOPE"]);
        c["process"]["rlimits"][0]["cellaUnknown"] = 1.into();
        c["root"]["cellaUnknown"] = x.clone();
        c["mounts"][0]["cellaUnknown"] = x.clone();
        c["linux"]["cellaUnknown"] = x.clone();
        c["linux"]["namespaces"][0]["cellaUnknown"] = x.clone();
        c["linux"]["resources"]["cellaUnknown"] = x.clone();
        c["linux"]["resources"]["devices"][0]["cellaUnknown"] = x.clone();
        c["hooks"] = json!({"cellaUnknownHookKind": [{"path": "/bin/false"}]});
        c["annotations"] = json!({"org.example.unknown": "value"});
    });
    let out = b.run();
    out.ok();
    assert_eq!(out.stdout.trim(), "ran-despite-unknown-properties");
    b.assert_no_leftovers();
}

#[test]
fn unknown_namespace_type_is_refused_naming_it() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["true"]);
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.push(json!({"type": "cellabogusns"}));
    });
    b.create().failed().says("cellabogusns");
    b.assert_clean();
}

#[test]
fn duplicate_namespace_type_is_refused() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["true"]);
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.push(json!({"type": "ipc"}));
    });
    // config-linux.md: duplicated namespaces of the same type MUST be an error.
    b.create().failed().says("duplicate").says("ipc");
    b.assert_clean();
}

#[test]
fn hook_with_a_relative_path_is_refused() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["true"]);
    // The relative path exists from the bundle, where runc 1.1.5 runs hooks from.
    let marker = b.path().join("relative-hook-ran");
    let hook = b.path().join("hooks/rel.sh");
    fs::create_dir(b.path().join("hooks")).unwrap();
    fs::write(
        &hook,
        format!("#!/bin/sh\ntouch {}\n", marker.to_str().unwrap()),
    )
    .unwrap();
    fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).unwrap();
    b.edit(|c| c["hooks"] = json!({"prestart": [{"path": "hooks/rel.sh"}]}));
    let out = b.create();
    if rt.is_cella() {
        // config.md: a hook's `path` MUST be absolute.
        out.failed().says("hooks/rel.sh");
        assert!(!marker.exists(), "the relative hook ran");
        b.assert_clean();
    } else {
        // runc 1.1.5 runs it from the bundle (RUNC-DIFFERENCES.md): check the probe only.
        out.ok();
        assert!(marker.exists(), "the relative hook did not run under runc");
    }
}

#[test]
fn oci_version_outside_1_0_to_1_3_is_refused_naming_it() {
    let Some(rt) = setup() else { return };
    for version in ["1.0.0", "1.3.0"] {
        let mut b = Bundle::new(&rt, &["echo", "accepted"]);
        b.edit(|c| c["ociVersion"] = version.into());
        let out = b.run();
        out.ok();
        assert_eq!(out.stdout.trim(), "accepted", "{version}");
        b.assert_no_leftovers();
    }
    for version in ["0.9.0", "1.4.0"] {
        let mut b = Bundle::new(&rt, &["true"]);
        b.edit(|c| c["ociVersion"] = version.into());
        let out = b.create();
        if rt.is_cella() {
            out.failed().says(version);
            b.assert_clean();
        } else {
            // runc 1.1.5 never checks ociVersion (RUNC-DIFFERENCES.md).
            out.ok();
        }
    }
}
