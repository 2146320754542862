//! The same image unpacked by cella-rootfs and by umoci (Debian's `umoci` package) gives the
//! same tree: path, type, mode, owner, size, link count and link target. Needs root and umoci;
//! skipped (with SKIP printed) otherwise.

mod common;

use std::path::Path;
use std::process::Command;

use common::{bundle_ok, is_root, snapshot, tempdir, Compress, Image, Layer};
use serde_json::json;

fn has_umoci() -> bool {
    let found = Command::new("umoci").arg("--version").output().is_ok();
    if !found {
        eprintln!("SKIP: umoci not installed (apt-get install -y umoci)");
    }
    found
}

/// Like the multi-layer image of image_unpack.rs, with gzip and plain layers only (umoci 0.4.7
/// has no zstd).
fn image() -> Image {
    let mut base = Layer::new();
    base.dir("./", 0o755, (0, 0))
        .dir("etc/", 0o755, (0, 0))
        .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n", 0o644, (0, 0))
        .dir("bin/", 0o755, (0, 0))
        .file("bin/tool", b"#!/bin/sh\necho tool\n", 0o4755, (0, 0))
        .hardlink("bin/tool-link", "bin/tool")
        .symlink("bin/abs-link", "/bin/tool")
        .symlink("bin/rel-link", "../etc/passwd")
        .symlink("bin/dangling", "/nowhere")
        .dir("var/", 0o755, (0, 0))
        .dir("var/lib/", 0o750, (10, 20))
        .file("var/lib/owned", b"owned", 0o640, (1000, 1001))
        .file("var/lib/sgid", b"sgid", 0o2711, (1000, 1001))
        .dir("data/", 0o755, (0, 0))
        .file("data/gone", b"whited out later", 0o644, (0, 0))
        .dir("data/dir-gone/", 0o755, (0, 0))
        .file("data/dir-gone/inner", b"inner", 0o644, (0, 0))
        .file("data/kept", b"kept", 0o600, (0, 0))
        .dir("opq/", 0o711, (0, 0))
        .file("opq/old", b"old", 0o644, (0, 0))
        .dir("opq/old-dir/", 0o755, (0, 0))
        .file("opq/old-dir/f", b"f", 0o644, (0, 0))
        .dir("dev/", 0o755, (0, 0))
        .device("dev/null", 1, 3, 0o666)
        .device("dev/zero", 1, 5, 0o640)
        .dir("run/", 0o755, (0, 0))
        .fifo("run/fifo", 0o620, (0, 5))
        .dir("tmp/", 0o1777, (0, 0));
    let mut second = Layer::new();
    second
        .file("opq/.wh..wh..opq", b"", 0o644, (0, 0))
        .file("opq/new", b"new", 0o644, (0, 0))
        .file("data/.wh.gone", b"", 0o644, (0, 0))
        .file("data/.wh.dir-gone", b"", 0o644, (0, 0))
        .file("data/kept", b"kept, changed", 0o644, (1000, 1001))
        .hardlink("data/link-to-lower", "bin/tool")
        .dir("implicit/parent/", 0o700, (3, 3))
        .file("implicit/parent/f", b"deep", 0o600, (4, 4));
    let mut third = Layer::new();
    third
        .dir("data/", 0o775, (0, 0))
        .file("data/l3", &vec![b'z'; 100_000], 0o644, (0, 0));
    Image::new(json!({"Cmd": ["/bin/tool"]}))
        .layer(base.finish(), Compress::Gzip)
        .layer(second.finish(), Compress::None)
        .layer(third.finish(), Compress::Gzip)
}

#[test]
fn same_tree_as_umoci() {
    if !is_root("same_tree_as_umoci") || !has_umoci() {
        return;
    }
    let tmp = tempdir();
    let layout = tmp.path().join("layout");
    image().write_oci(&layout, &["latest"]);
    let ours = tmp.path().join("ours");
    let _stderr = bundle_ok(layout.to_str().unwrap(), ours.to_str().unwrap());
    let theirs = tmp.path().join("umoci");
    let status = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:latest", layout.display()))
        .arg(&theirs)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "umoci: {}",
        String::from_utf8_lossy(&status.stderr)
    );

    let ours = snapshot(&ours.join("rootfs"));
    let theirs = snapshot(&theirs.join("rootfs"));
    let paths = |tree: &std::collections::BTreeMap<std::path::PathBuf, common::Node>| {
        tree.keys().cloned().collect::<Vec<_>>()
    };
    assert_eq!(ours.len(), 28, "{ours:?}");
    assert_eq!(paths(&ours), paths(&theirs));
    for (path, node) in &ours {
        assert_eq!(
            Some(node),
            theirs.get(path),
            "{}",
            Path::new("/").join(path).display()
        );
    }
}
