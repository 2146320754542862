//! Overlay clones: five clones of one bundle mounted at once, each sees only its own writes,
//! the base stays as it was, and `remove` leaves no mount. Needs root (skipped otherwise).

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{bundle_ok, is_root, mounts_under, run, snapshot, tempdir, Compress, Image, Layer};
use serde_json::json;

/// Removes what a failed test left mounted under `dir`, so the tempdir can go.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        for mount in mounts_under(&self.0).iter().rev() {
            let _ = rustix::mount::unmount(mount, rustix::mount::UnmountFlags::DETACH);
        }
    }
}

fn base_bundle(dir: &Path) -> PathBuf {
    let mut layer = Layer::new();
    layer
        .dir("etc/", 0o755, (0, 0))
        .file("etc/shared", b"from the image", 0o644, (0, 0))
        .file("etc/to-delete", b"x", 0o644, (0, 0));
    let layout = dir.join("layout");
    Image::new(json!({"Cmd": ["/bin/sh"]}))
        .layer(layer.finish(), Compress::Gzip)
        .write_oci(&layout, &["latest"]);
    let base = dir.join("base");
    bundle_ok(layout.to_str().unwrap(), base.to_str().unwrap());
    base
}

#[test]
fn five_clones_see_only_their_own_writes() {
    if !is_root("five_clones_see_only_their_own_writes") {
        return;
    }
    let tmp = tempdir();
    let dir = fs::canonicalize(tmp.path()).unwrap();
    let _cleanup = Unmount(dir.clone());
    let base = base_bundle(&dir);
    let before = snapshot(&base.join("rootfs"));

    let clones: Vec<PathBuf> = (0..5).map(|i| dir.join(format!("clone-{i}"))).collect();
    for clone in &clones {
        let (ok, stderr) = run(&["clone", base.to_str().unwrap(), clone.to_str().unwrap()]);
        assert!(ok, "{stderr}");
    }
    assert_eq!(mounts_under(&dir).len(), 5);
    for (i, clone) in clones.iter().enumerate() {
        let rootfs = clone.join("rootfs");
        assert_eq!(
            fs::read(rootfs.join("etc/shared")).unwrap(),
            b"from the image"
        );
        fs::write(rootfs.join(format!("etc/own-{i}")), format!("clone {i}")).unwrap();
        fs::write(rootfs.join("etc/shared"), format!("changed by {i}")).unwrap();
        fs::remove_file(rootfs.join("etc/to-delete")).unwrap();
        let config: serde_json::Value =
            serde_json::from_slice(&fs::read(clone.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["root"]["path"], json!("rootfs"));
        assert_eq!(config["process"]["args"], json!(["/bin/sh"]));
    }
    for (i, clone) in clones.iter().enumerate() {
        let etc = clone.join("rootfs/etc");
        let mut names: Vec<String> = fs::read_dir(&etc)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [format!("own-{i}"), "shared".to_string()]);
        assert_eq!(
            fs::read_to_string(etc.join("shared")).unwrap(),
            format!("changed by {i}")
        );
    }
    assert_eq!(
        snapshot(&base.join("rootfs")),
        before,
        "the base is untouched"
    );
    assert_eq!(
        fs::read(base.join("rootfs/etc/shared")).unwrap(),
        b"from the image"
    );

    // The base cannot go while clones use it.
    let (ok, stderr) = run(&["remove", base.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        stderr.contains("is the lower layer of the overlay"),
        "{stderr}"
    );

    for clone in &clones {
        let (ok, stderr) = run(&["remove", clone.to_str().unwrap()]);
        assert!(ok, "{stderr}");
        assert!(!clone.exists());
    }
    assert_eq!(mounts_under(&dir), Vec::<PathBuf>::new());
    let (ok, stderr) = run(&["remove", base.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(!base.exists());
    assert_eq!(mounts_under(&dir), Vec::<PathBuf>::new());
}

#[test]
fn clone_refusals() {
    if !is_root("clone_refusals") {
        return;
    }
    let tmp = tempdir();
    let dir = fs::canonicalize(tmp.path()).unwrap();
    let _cleanup = Unmount(dir.clone());
    let base = base_bundle(&dir);

    let existing = dir.join("existing");
    fs::create_dir(&existing).unwrap();
    let (ok, stderr) = run(&["clone", base.to_str().unwrap(), existing.to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("already exists"), "{stderr}");

    let (ok, stderr) = run(&[
        "clone",
        dir.join("layout").to_str().unwrap(),
        dir.join("c").to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(stderr.contains("not a bundle"), "{stderr}");
    assert!(!dir.join("c").exists());

    let (ok, stderr) = run(&["remove", existing.to_str().unwrap()]);
    assert!(!ok, "a directory without config.json is not removed");
    assert!(stderr.contains("not a bundle"), "{stderr}");
    assert!(existing.exists());

    // A clone of a clone stacks a second overlay; removing the outer one first works.
    let first = dir.join("first");
    let second = dir.join("second");
    assert!(run(&["clone", base.to_str().unwrap(), first.to_str().unwrap()]).0);
    fs::write(first.join("rootfs/etc/first"), b"1").unwrap();
    let (ok, stderr) = run(&["clone", first.to_str().unwrap(), second.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert_eq!(fs::read(second.join("rootfs/etc/first")).unwrap(), b"1");
    assert!(
        !run(&["remove", first.to_str().unwrap()]).0,
        "first is second's lower"
    );
    assert!(run(&["remove", second.to_str().unwrap()]).0);
    assert!(run(&["remove", first.to_str().unwrap()]).0);
    assert_eq!(mounts_under(&dir), Vec::<PathBuf>::new());
}
