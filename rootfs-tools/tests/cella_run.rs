//! A bundle made from an image runs under cella: the image's entrypoint, environment, working
//! directory and user reach the container process. Needs root, busybox-static and a built cella
//! (`$CELLA`, or `cella` next to this test's target directory); skipped with SKIP otherwise.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use common::{bundle_ok, is_root, tempdir, Compress, Image, Layer};
use rootfs_tools::{BUSYBOX, ETC_GROUP, ETC_PASSWD, USER_ID};
use serde_json::json;

fn cella() -> Option<PathBuf> {
    let path = match std::env::var_os("CELLA") {
        Some(path) => PathBuf::from(path),
        // target/debug/deps/<test> -> target/debug/cella
        None => std::env::current_exe()
            .ok()?
            .parent()?
            .parent()?
            .join("cella"),
    };
    path.is_file().then_some(path)
}

/// A layer with a static busybox and the few applets the test runs (hard links, as in
/// `cella-rootfs busybox`).
fn busybox_layer() -> Option<Vec<u8>> {
    let busybox = fs::read(BUSYBOX).ok()?;
    let mut layer = Layer::new();
    let user = (u64::from(USER_ID), u64::from(USER_ID));
    layer
        .dir("bin/", 0o755, (0, 0))
        .file("bin/busybox", &busybox, 0o755, (0, 0));
    for applet in ["sh", "echo", "id", "pwd", "cat"] {
        layer.hardlink(&format!("bin/{applet}"), "bin/busybox");
    }
    layer
        .dir("etc/", 0o755, (0, 0))
        .file("etc/passwd", ETC_PASSWD.as_bytes(), 0o644, (0, 0))
        .file("etc/group", ETC_GROUP.as_bytes(), 0o644, (0, 0))
        .dir("proc/", 0o555, (0, 0))
        .dir("sys/", 0o555, (0, 0))
        .dir("dev/", 0o755, (0, 0))
        .dir("tmp/", 0o1777, (0, 0))
        .dir("srv/", 0o755, (0, 0))
        .dir("srv/app/", 0o750, user)
        .file("srv/app/message", b"read from the workdir", 0o640, user);
    Some(layer.finish())
}

#[test]
fn bundle_from_image_runs_under_cella() {
    if !is_root("bundle_from_image_runs_under_cella") {
        return;
    }
    let Some(cella) = cella() else {
        eprintln!("SKIP bundle_from_image_runs_under_cella: cella is not built");
        return;
    };
    let Some(layer) = busybox_layer() else {
        eprintln!("SKIP bundle_from_image_runs_under_cella: no {BUSYBOX} (busybox-static)");
        return;
    };
    let tmp = tempdir();
    let layout = tmp.path().join("layout");
    Image::new(json!({
        "Entrypoint": ["/bin/sh", "-c"],
        "Cmd": ["echo \"$GREETING\"; id -u; id -g; id -G; pwd; cat message"],
        "Env": ["GREETING=hello from the image"],
        "WorkingDir": "/srv/app",
        "User": "user"
    }))
    .layer(layer, Compress::Gzip)
    .write_oci(&layout, &["latest"]);
    let out = tmp.path().join("bundle");
    let _stderr = bundle_ok(layout.to_str().unwrap(), out.to_str().unwrap());

    let state = tmp.path().join("state");
    let id = format!("cella-test-images-{}", std::process::id());
    let output = Command::new(&cella)
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle"])
        .arg(&out)
        .arg(&id)
        .output()
        .unwrap();
    // Whatever happened, no container is left behind.
    let _ = Command::new(&cella)
        .arg("--root")
        .arg(&state)
        .args(["delete", "--force", &id])
        .output();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "cella run: {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // user is in audio (29), video (44) and users (100) in ETC_GROUP.
    let expected = format!(
        "hello from the image\n{USER_ID}\n{USER_ID}\n{USER_ID} 29 44 100\n/srv/app\nread from the workdir"
    );
    assert_eq!(stdout.trim_end(), expected);
}
