//! config.json of a bundle made from an image: Entrypoint + Cmd, Env, WorkingDir, User looked
//! up in the image's own /etc/passwd and /etc/group (reached through a symlink, resolved inside
//! the rootfs), StopSignal, Labels and ExposedPorts. Needs root (skipped otherwise).

mod common;

use std::fs;

use common::{bundle, is_root, tempdir, Compress, Image, Layer};
use serde_json::{json, Value};

fn bundle_config(config: Value) -> Result<Value, String> {
    let tmp = tempdir();
    let mut layer = Layer::new();
    layer
        .dir("etc/", 0o755, (0, 0))
        .dir("shared/", 0o755, (0, 0))
        .file(
            "shared/passwd",
            b"root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
            0o644,
            (0, 0),
        )
        // /etc/passwd is an absolute symlink: it must be read from the rootfs, not the host.
        .symlink("etc/passwd", "/shared/passwd")
        .file(
            "etc/group",
            b"root:x:0:\napp:x:1001:\nwheel:x:10:app\nstaff:x:50:\n",
            0o644,
            (0, 0),
        );
    let layout = tmp.path().join("layout");
    Image::new(config)
        .layer(layer.finish(), Compress::Gzip)
        .write_oci(&layout, &["latest"]);
    let out = tmp.path().join("bundle");
    let (ok, stderr) = bundle(layout.to_str().unwrap(), out.to_str().unwrap());
    if !ok {
        return Err(stderr);
    }
    Ok(serde_json::from_slice(&fs::read(out.join("config.json")).unwrap()).unwrap())
}

#[test]
fn image_config_maps_into_config_json() {
    if !is_root("image_config_maps_into_config_json") {
        return;
    }
    let config = bundle_config(json!({
        "Entrypoint": ["/bin/app", "--serve"],
        "Cmd": ["--port", "80"],
        "Env": ["APP_MODE=test", "PATH=/app/bin:/bin"],
        "WorkingDir": "/srv/app",
        "User": "app",
        "StopSignal": "SIGINT",
        "ExposedPorts": {"80/tcp": {}, "8443/tcp": {}},
        "Labels": {"org.example.role": "web"}
    }))
    .unwrap();
    let process = &config["process"];
    assert_eq!(
        process["args"],
        json!(["/bin/app", "--serve", "--port", "80"])
    );
    assert_eq!(
        process["env"],
        json!(["APP_MODE=test", "PATH=/app/bin:/bin"])
    );
    assert_eq!(process["cwd"], json!("/srv/app"));
    assert_eq!(
        process["user"],
        json!({"uid": 1000, "gid": 1001, "additionalGids": [10]})
    );
    assert_eq!(process["terminal"], json!(false));
    let annotations = &config["annotations"];
    assert_eq!(
        annotations["org.opencontainers.image.stopSignal"],
        json!("SIGINT")
    );
    assert_eq!(
        annotations["org.opencontainers.image.exposedPorts"],
        json!("80/tcp,8443/tcp")
    );
    assert_eq!(annotations["org.example.role"], json!("web"));
    assert_eq!(config["root"], json!({"path": "rootfs", "readonly": true}));
    assert_eq!(config["hostname"], json!("cella"));
}

#[test]
fn users_by_number_and_group_name() {
    if !is_root("users_by_number_and_group_name") {
        return;
    }
    let user = |spec: &str| {
        bundle_config(json!({"Cmd": ["x"], "User": spec})).map(|c| c["process"]["user"].clone())
    };
    assert_eq!(user("4242:77").unwrap(), json!({"uid": 4242, "gid": 77}));
    assert_eq!(
        user("1000").unwrap(),
        json!({"uid": 1000, "gid": 1001, "additionalGids": [10]})
    );
    assert_eq!(user("app:staff").unwrap(), json!({"uid": 1000, "gid": 50}));
    let err = user("nobody").unwrap_err();
    assert!(
        err.contains("user \"nobody\" of the image is not in its /etc/passwd"),
        "{err}"
    );
    let err = user("app:nogroup").unwrap_err();
    assert!(err.contains("group \"nogroup\""), "{err}");
}
