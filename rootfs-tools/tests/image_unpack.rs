//! Bundles from hand-made images: layers, whiteouts, every entry type, OCI layouts (directory
//! and tar) and docker archives, digests, and hostile layers. Run as root (skipped otherwise):
//! `sudo -E cargo test -p rootfs-tools --test image_unpack`.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::{bundle, bundle_ok, is_root, snapshot, tempdir, Compress, Image, Layer};
use serde_json::json;

/// Three layers touching every entry type and both kinds of whiteout.
pub fn multi_layer_image() -> Image {
    let mut base = Layer::new();
    base.dir("etc/", 0o755, (0, 0))
        .file(
            "etc/passwd",
            b"root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/:/bin/sh\n",
            0o644,
            (0, 0),
        )
        .file("etc/group", b"root:x:0:\napp:x:1001:\n", 0o644, (0, 0))
        .dir("bin/", 0o755, (0, 0))
        .file("bin/tool", b"#!/bin/sh\necho tool\n", 0o4755, (0, 0))
        .hardlink("bin/tool-link", "bin/tool")
        .symlink("bin/abs-link", "/bin/tool")
        .symlink("bin/rel-link", "../etc/passwd")
        .dir("var/", 0o755, (0, 0))
        .dir("var/lib/", 0o750, (10, 20))
        .file("var/lib/owned", b"owned", 0o640, (1000, 1001))
        .dir("data/", 0o755, (0, 0))
        .file("data/gone", b"whited out later", 0o644, (0, 0))
        .dir("data/dir-gone/", 0o755, (0, 0))
        .file("data/dir-gone/inner", b"inner", 0o644, (0, 0))
        .file("data/kept", b"kept", 0o600, (0, 0))
        .dir("opq/", 0o711, (0, 0))
        .file("opq/old", b"old", 0o644, (0, 0))
        .dir("opq/old-dir/", 0o755, (0, 0))
        .file("opq/old-dir/f", b"f", 0o644, (0, 0))
        .dir("repl/", 0o755, (0, 0))
        .file("repl/file-to-dir", b"file", 0o644, (0, 0))
        .dir("repl/dir-to-file/", 0o755, (0, 0))
        .file("repl/dir-to-file/f", b"f", 0o644, (0, 0))
        .dir("dev/", 0o755, (0, 0))
        .device("dev/null", 1, 3, 0o666)
        .dir("run/", 0o755, (0, 0))
        .fifo("run/fifo", 0o620, (0, 5))
        .dir("tmp/", 0o1777, (0, 0));
    let mut second = Layer::new();
    // The opaque dir's new entry comes before its marker: it must survive it.
    second
        .file("opq/new", b"new", 0o644, (0, 0))
        .file("opq/.wh..wh..opq", b"", 0o644, (0, 0))
        .file("data/.wh.gone", b"", 0o644, (0, 0))
        .file("data/.wh.dir-gone", b"", 0o644, (0, 0))
        .file("data/.wh.never-existed", b"", 0o644, (0, 0))
        .file("data/kept", b"kept, changed", 0o644, (1000, 1001))
        .dir("repl/file-to-dir/", 0o700, (0, 0))
        .file("repl/file-to-dir/x", b"x", 0o644, (0, 0))
        .file("repl/dir-to-file", b"now a file", 0o644, (0, 0))
        .hardlink("data/link-to-lower", "bin/tool")
        .file("data/l2", b"layer 2", 0o644, (0, 0));
    let mut third = Layer::new();
    third
        .file("data/.wh.l2", b"", 0o644, (0, 0))
        .file("data/l3", b"layer 3", 0o644, (0, 0));
    Image::new(json!({"Cmd": ["/bin/tool"]}))
        .layer(base.finish(), Compress::Gzip)
        .layer(second.finish(), Compress::Zstd)
        .layer(third.finish(), Compress::None)
}

fn check_multi_layer(rootfs: &Path) {
    let meta = |p: &str| fs::symlink_metadata(rootfs.join(p)).unwrap();
    let exists = |p: &str| fs::symlink_metadata(rootfs.join(p)).is_ok();
    let read = |p: &str| fs::read_to_string(rootfs.join(p)).unwrap();

    assert_eq!(meta("bin/tool").mode() & 0o7777, 0o4755);
    assert_eq!(meta("bin/tool").ino(), meta("bin/tool-link").ino());
    assert_eq!(meta("bin/tool").ino(), meta("data/link-to-lower").ino());
    assert_eq!(meta("bin/tool").nlink(), 3);
    assert_eq!(
        fs::read_link(rootfs.join("bin/abs-link")).unwrap(),
        Path::new("/bin/tool")
    );
    assert_eq!(
        fs::read_link(rootfs.join("bin/rel-link")).unwrap(),
        Path::new("../etc/passwd")
    );
    let lib = meta("var/lib");
    assert_eq!((lib.mode() & 0o7777, lib.uid(), lib.gid()), (0o750, 10, 20));
    let owned = meta("var/lib/owned");
    assert_eq!(
        (owned.mode() & 0o7777, owned.uid(), owned.gid()),
        (0o640, 1000, 1001)
    );
    assert_eq!(meta("tmp").mode() & 0o7777, 0o1777);
    assert_eq!(meta("opq").mode() & 0o7777, 0o711);

    // Whiteouts: files and directories of lower layers, one of layer 2 by layer 3.
    assert!(!exists("data/gone"));
    assert!(!exists("data/dir-gone"));
    assert!(!exists("data/l2"));
    assert!(!exists("data/.wh.l2") && !exists("data/.wh.gone"));
    assert_eq!(read("data/l3"), "layer 3");
    let kept = meta("data/kept");
    assert_eq!(read("data/kept"), "kept, changed");
    assert_eq!(
        (kept.mode() & 0o7777, kept.uid(), kept.gid()),
        (0o644, 1000, 1001)
    );
    // Opaque: only this layer's entries.
    let mut opq: Vec<String> = fs::read_dir(rootfs.join("opq"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    opq.sort();
    assert_eq!(opq, ["new"]);
    // Replacements both ways.
    assert!(meta("repl/file-to-dir").is_dir());
    assert_eq!(meta("repl/file-to-dir").mode() & 0o7777, 0o700);
    assert_eq!(read("repl/file-to-dir/x"), "x");
    assert_eq!(read("repl/dir-to-file"), "now a file");

    let null = meta("dev/null");
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &null.file_type()
    ));
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
    assert_eq!(null.mode() & 0o7777, 0o666);
    let fifo = meta("run/fifo");
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&fifo.file_type()));
    assert_eq!((fifo.mode() & 0o7777, fifo.gid()), (0o620, 5));
    assert_eq!(meta("etc/passwd").mtime(), 1_600_000_000);
    assert_eq!(
        meta("var/lib").mtime(),
        1_600_000_000,
        "directory times are set last"
    );
}

#[test]
fn oci_layout_directory_and_tar() {
    if !is_root("oci_layout_directory_and_tar") {
        return;
    }
    let tmp = tempdir();
    let layout = tmp.path().join("layout");
    multi_layer_image().write_oci(&layout, &["v1"]);
    let out = tmp.path().join("bundle");
    let stderr = bundle_ok(&format!("{}:v1", layout.display()), out.to_str().unwrap());
    assert!(stderr.is_empty(), "quiet when not a terminal: {stderr}");
    check_multi_layer(&out.join("rootfs"));
    let config: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["process"]["args"], json!(["/bin/tool"]));
    assert_eq!(config["root"]["path"], json!("rootfs"));
    // cella would accept it.
    let spec = runtime_spec::load_config(&out).unwrap();
    runtime_spec::validate(&spec, &out).unwrap();

    let archive = tmp.path().join("layout.tar");
    common::tar_dir(&layout, &archive);
    let out_tar = tmp.path().join("bundle-from-tar");
    bundle_ok(archive.to_str().unwrap(), out_tar.to_str().unwrap());
    assert_eq!(
        snapshot(&out.join("rootfs")),
        snapshot(&out_tar.join("rootfs"))
    );
}

#[test]
fn docker_archive() {
    if !is_root("docker_archive") {
        return;
    }
    let tmp = tempdir();
    let archive = tmp.path().join("image.tar");
    multi_layer_image().write_docker_archive(&archive, &["example/app:1.0", "example/app:latest"]);
    let out = tmp.path().join("bundle");
    let image = format!("{}:example/app:1.0", archive.display());
    let (ok, stderr) = bundle(&image, out.to_str().unwrap());
    assert!(ok, "{stderr}");
    check_multi_layer(&out.join("rootfs"));

    // The same archive unpacked into a directory (docker save | tar -x).
    let dir = tmp.path().join("image-dir");
    tar::Archive::new(fs::File::open(&archive).unwrap())
        .unpack(&dir)
        .unwrap();
    let out_dir = tmp.path().join("bundle-from-dir");
    bundle_ok(dir.to_str().unwrap(), out_dir.to_str().unwrap());
    assert_eq!(
        snapshot(&out.join("rootfs")),
        snapshot(&out_dir.join("rootfs"))
    );

    let (ok, stderr) = bundle(
        &format!("{}:2.0", archive.display()),
        tmp.path().join("b2").to_str().unwrap(),
    );
    assert!(!ok);
    assert!(stderr.contains("no image tagged \"2.0\""), "{stderr}");
    assert!(!tmp.path().join("b2").exists());
}

#[test]
fn tags_choose_the_image() {
    if !is_root("tags_choose_the_image") {
        return;
    }
    let tmp = tempdir();
    let layout = tmp.path().join("layout");
    let mut layer = Layer::new();
    layer.file("one", b"1", 0o644, (0, 0));
    Image::new(json!({"Cmd": ["one"]}))
        .layer(layer.finish(), Compress::Gzip)
        .write_oci(&layout, &["v1", "v2"]);
    let (ok, stderr) = bundle(
        layout.to_str().unwrap(),
        tmp.path().join("b").to_str().unwrap(),
    );
    assert!(!ok);
    assert!(stderr.contains("none tagged \"latest\""), "{stderr}");
    bundle_ok(
        &format!("{}:v2", layout.display()),
        tmp.path().join("b").to_str().unwrap(),
    );
    assert_eq!(fs::read(tmp.path().join("b/rootfs/one")).unwrap(), b"1");
}

#[test]
fn multi_platform_index() {
    if !is_root("multi_platform_index") {
        return;
    }
    // index.json -> an image index with an arm64 and an amd64 manifest (the one written by
    // write_oci) -> layers.
    let tmp = tempdir();
    let layout = tmp.path().join("layout");
    small_image().write_oci(&layout, &["latest"]);
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut amd64 = index["manifests"][0].clone();
    amd64.as_object_mut().unwrap().remove("annotations");
    amd64["platform"] = json!({"os": "linux", "architecture": "amd64"});
    let mut arm64 = amd64.clone();
    arm64["platform"] = json!({"os": "linux", "architecture": "arm64"});
    arm64["digest"] = json!(format!("sha256:{}", "0".repeat(64)));
    let nested = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [arm64, amd64]
    }))
    .unwrap();
    let digest = common::sha256(&nested);
    fs::write(layout.join(digest.blob_path()), &nested).unwrap();
    let top = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": digest.to_string(),
        "size": nested.len(),
        "annotations": {"org.opencontainers.image.ref.name": "multi"}
    }]});
    fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    let out = tmp.path().join("bundle");
    bundle_ok(
        &format!("{}:multi", layout.display()),
        out.to_str().unwrap(),
    );
    assert_eq!(fs::read(out.join("rootfs/etc/motd")).unwrap(), b"hello");
}

fn small_image() -> Image {
    let mut layer = Layer::new();
    layer
        .dir("etc/", 0o755, (0, 0))
        .file("etc/motd", b"hello", 0o644, (0, 0));
    Image::new(json!({"Cmd": ["/bin/sh"]})).layer(layer.finish(), Compress::Gzip)
}

type Tamper = Box<dyn Fn(&Path, &mut serde_json::Value)>;

/// The blob file a descriptor names.
fn blob_path(dir: &Path, descriptor: &serde_json::Value) -> PathBuf {
    let digest = descriptor["digest"].as_str().unwrap();
    dir.join("blobs/sha256").join(&digest["sha256:".len()..])
}

#[test]
fn digests_and_sizes_are_verified() {
    if !is_root("digests_and_sizes_are_verified") {
        return;
    }
    let tmp = tempdir();
    let cases: Vec<(&str, Tamper, &str)> = vec![
        (
            "blob",
            // Still a valid gzip stream of the same tar, with other bytes than the digest's.
            Box::new(|dir, manifest| {
                let path = blob_path(dir, &manifest["layers"][0]);
                let mut tar = Vec::new();
                let gz = fs::read(&path).unwrap();
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut tar)
                    .unwrap();
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                std::io::Write::write_all(&mut encoder, &tar).unwrap();
                let regz = encoder.finish().unwrap();
                assert_ne!(regz, gz);
                manifest["layers"][0]["size"] = json!(regz.len());
                fs::write(path, regz).unwrap();
            }),
            "has digest sha256:",
        ),
        (
            "config",
            Box::new(|dir, manifest| {
                let path = blob_path(dir, &manifest["config"]);
                let mut config = fs::read(&path).unwrap();
                config[0] = b' ';
                fs::write(path, config).unwrap();
            }),
            "has digest sha256:",
        ),
        (
            "size",
            Box::new(|_, manifest| manifest["layers"][0]["size"] = json!(1)),
            "bytes, its descriptor says 1",
        ),
        (
            "media-type",
            Box::new(|_, manifest| {
                manifest["layers"][0]["mediaType"] =
                    json!("application/vnd.oci.image.layer.v1.tar+zstd");
            }),
            "read layer",
        ),
    ];
    for (name, tamper, expected) in cases {
        let layout = tmp.path().join(name);
        let dir = layout.clone();
        small_image().write_oci_with(&layout, &["latest"], |manifest| tamper(&dir, manifest));
        let out = tmp.path().join(format!("{name}-bundle"));
        let (ok, stderr) = bundle(layout.to_str().unwrap(), out.to_str().unwrap());
        assert!(!ok, "{name}: accepted");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(!out.exists(), "{name}: a failed bundle is removed");
    }

    // The config's diff_id is the digest of another tar.
    let layout = tmp.path().join("diff-id");
    let mut image = small_image();
    image.diff_id_salt = true;
    image.write_oci(&layout, &["latest"]);
    let out = tmp.path().join("diff-id-bundle");
    let (ok, stderr) = bundle(layout.to_str().unwrap(), out.to_str().unwrap());
    assert!(!ok);
    assert!(
        stderr.contains("the config's diff_id is sha256:"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn out_must_be_new_or_empty() {
    if !is_root("out_must_be_new_or_empty") {
        return;
    }
    let tmp = tempdir();
    let layout = tmp.path().join("layout");
    small_image().write_oci(&layout, &["latest"]);
    let out = tmp.path().join("out");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("keep"), b"mine").unwrap();
    let (ok, stderr) = bundle(layout.to_str().unwrap(), out.to_str().unwrap());
    assert!(!ok);
    assert!(stderr.contains("exists and is not empty"), "{stderr}");
    assert_eq!(fs::read(out.join("keep")).unwrap(), b"mine");
    fs::remove_file(out.join("keep")).unwrap();
    bundle_ok(layout.to_str().unwrap(), out.to_str().unwrap());
}

#[test]
fn xattrs_are_set_and_overlay_ones_skipped() {
    if !is_root("xattrs_are_set_and_overlay_ones_skipped") {
        return;
    }
    let tmp = tempdir();
    let layout = tmp.path().join("layout");
    // security.capability v2 for cap_net_raw (bit 13) permitted + effective.
    let cap: &[u8] = &[
        0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let mut layer = Layer::new();
    layer.dir("bin/", 0o755, (0, 0)).file_with_pax(
        "bin/ping",
        b"binary",
        &[
            ("SCHILY.xattr.security.capability", cap),
            ("SCHILY.xattr.user.note", b"hello"),
            ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
        ],
    );
    Image::new(json!({"Cmd": ["/bin/ping"]}))
        .layer(layer.finish(), Compress::Gzip)
        .write_oci(&layout, &["latest"]);
    let out = tmp.path().join("bundle");
    let stderr = bundle_ok(layout.to_str().unwrap(), out.to_str().unwrap());
    assert!(
        stderr.contains("trusted.overlay.opaque not set"),
        "{stderr}"
    );
    let ping = out.join("rootfs/bin/ping");
    let get = |name: &str| {
        let mut buf = vec![0u8; 64];
        let n = rustix::fs::getxattr(&ping, name, &mut buf[..]).unwrap();
        buf.truncate(n);
        buf
    };
    assert_eq!(get("security.capability"), cap);
    assert_eq!(get("user.note"), b"hello");
    assert!(rustix::fs::getxattr(&ping, "trusted.overlay.opaque", &mut [0u8; 8][..]).is_err());
}

#[test]
fn large_layer() {
    if !is_root("large_layer") {
        return;
    }
    let tmp = tempdir();
    let layout = tmp.path().join("layout");
    let mut layer = Layer::new();
    layer.dir("big/", 0o755, (0, 0));
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut noise = |len: usize| -> Vec<u8> {
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                b"abcdefghijklmnop"[(state % 16) as usize]
            })
            .collect()
    };
    let big = noise(24 << 20);
    layer.file("big/one", &big, 0o644, (0, 0));
    for i in 0..2000 {
        layer.file(
            &format!("big/f{i:05}"),
            &noise(2048 + i * 3),
            0o644,
            (i as u64, 0),
        );
    }
    Image::new(json!({"Cmd": ["x"]}))
        .layer(layer.finish(), Compress::Gzip)
        .write_oci(&layout, &["latest"]);
    let out = tmp.path().join("bundle");
    // On a terminal (script(1) supplies one) a progress bar is drawn.
    let command = format!(
        "{} bundle --image {} --out {}",
        env!("CARGO_BIN_EXE_cella-rootfs"),
        layout.display(),
        out.display()
    );
    let Ok(output) = std::process::Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .output()
    else {
        eprintln!("SKIP large_layer: no script(1) to supply a terminal");
        return;
    };
    let terminal = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{terminal}");
    assert!(
        terminal.contains("layer 1/1 ["),
        "no progress bar: {terminal:?}"
    );
    assert_eq!(fs::read(out.join("rootfs/big/one")).unwrap(), big);
    let count = fs::read_dir(out.join("rootfs/big")).unwrap().count();
    assert_eq!(count, 2001);
    let last = fs::metadata(out.join("rootfs/big/f01999")).unwrap();
    assert_eq!((last.len(), last.uid()), (2048 + 1999 * 3, 1999));
}

/// Everything under `dir` except `allowed` (relative names).
fn unexpected_entries(dir: &Path, allowed: &[&str]) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !allowed.iter().any(|a| p.file_name().unwrap() == *a))
        .collect()
}

#[test]
fn hostile_layers_stay_inside_the_rootfs() {
    if !is_root("hostile_layers_stay_inside_the_rootfs") {
        return;
    }
    let tmp = tempdir();
    // A directory outside the bundle that the layers aim at; it has a file the layers try
    // to remove.
    let outside = tempdir();
    let outside_path = outside.path().to_str().unwrap().to_string();
    fs::write(outside.path().join("sentinel"), b"keep").unwrap();
    let inside_target = outside_path.trim_start_matches('/');

    let mut first = Layer::new();
    first
        .file("../escape", b"dotdot", 0o644, (0, 0))
        .file("/abs", b"absolute", 0o644, (0, 0))
        .file("a/../../../escape2", b"dotdot deep", 0o644, (0, 0))
        .symlink("to-outside", &outside_path)
        .symlink("up", "../../../../../../../../..")
        .dir(&format!("{inside_target}/"), 0o755, (0, 0))
        .file(
            &format!("{inside_target}/sentinel"),
            b"inside copy",
            0o644,
            (0, 0),
        )
        .dir("etc/", 0o755, (0, 0))
        .file("etc/hostname", b"inside", 0o644, (0, 0));
    let mut second = Layer::new();
    second
        .file(
            "to-outside/through-link",
            b"via symlink of a lower layer",
            0o644,
            (0, 0),
        )
        .file(
            &format!("up{outside_path}/through-up"),
            b"via ..",
            0o644,
            (0, 0),
        )
        .file("to-outside/.wh.sentinel", b"", 0o644, (0, 0))
        .hardlink("hard", "../../../../etc/hostname")
        .symlink("same-layer", &outside_path)
        .file(
            "same-layer/through-same-layer",
            b"same layer",
            0o644,
            (0, 0),
        )
        .file("../../.wh.etc-not-there", b"", 0o644, (0, 0));
    let layout = tmp.path().join("layout");
    Image::new(json!({"Cmd": ["x"]}))
        .layer(first.finish(), Compress::Gzip)
        .layer(second.finish(), Compress::Gzip)
        .write_oci(&layout, &["latest"]);
    let out = tmp.path().join("bundle");
    bundle_ok(layout.to_str().unwrap(), out.to_str().unwrap());

    // Nothing reached the outside directory, its sentinel is intact, nothing landed next to
    // the bundle.
    assert_eq!(
        unexpected_entries(outside.path(), &["sentinel"]),
        Vec::<PathBuf>::new()
    );
    assert_eq!(fs::read(outside.path().join("sentinel")).unwrap(), b"keep");
    assert_eq!(
        unexpected_entries(tmp.path(), &["layout", "bundle"]),
        Vec::<PathBuf>::new()
    );
    assert_eq!(
        unexpected_entries(&out, &["rootfs", "config.json"]),
        Vec::<PathBuf>::new()
    );
    // Everything landed inside, chroot-style.
    let rootfs = out.join("rootfs");
    let inside = rootfs.join(inside_target);
    assert_eq!(fs::read(rootfs.join("escape")).unwrap(), b"dotdot");
    assert_eq!(fs::read(rootfs.join("escape2")).unwrap(), b"dotdot deep");
    assert_eq!(fs::read(rootfs.join("abs")).unwrap(), b"absolute");
    assert_eq!(
        fs::read(inside.join("through-link")).unwrap(),
        b"via symlink of a lower layer"
    );
    assert_eq!(fs::read(inside.join("through-up")).unwrap(), b"via ..");
    assert_eq!(
        fs::read(inside.join("through-same-layer")).unwrap(),
        b"same layer"
    );
    assert!(
        !inside.join("sentinel").exists(),
        "the whiteout removed the inside copy"
    );
    let hard = fs::metadata(rootfs.join("hard")).unwrap();
    assert_eq!(
        hard.ino(),
        fs::metadata(rootfs.join("etc/hostname")).unwrap().ino()
    );
    assert_ne!(
        hard.ino(),
        fs::metadata("/etc/hostname").map(|m| m.ino()).unwrap_or(0)
    );
}

#[test]
fn dangling_symlink_parents_are_refused() {
    if !is_root("dangling_symlink_parents_are_refused") {
        return;
    }
    let tmp = tempdir();
    let outside = tempdir();
    let mut layer = Layer::new();
    layer
        .symlink("to-outside", outside.path().to_str().unwrap())
        .file("to-outside/file", b"x", 0o644, (0, 0));
    let layout = tmp.path().join("layout");
    Image::new(json!({"Cmd": ["x"]}))
        .layer(layer.finish(), Compress::None)
        .write_oci(&layout, &["latest"]);
    let out = tmp.path().join("bundle");
    let (ok, stderr) = bundle(layout.to_str().unwrap(), out.to_str().unwrap());
    assert!(
        !ok,
        "a file through a symlink to a directory the rootfs lacks"
    );
    assert!(stderr.contains("a symlink on the way"), "{stderr}");
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    assert!(!out.exists());
}

#[test]
fn hard_links_to_missing_targets_fail_clearly() {
    if !is_root("hard_links_to_missing_targets_fail_clearly") {
        return;
    }
    let tmp = tempdir();
    let mut layer = Layer::new();
    layer.hardlink("passwd", "../../../../etc/passwd");
    let layout = tmp.path().join("layout");
    Image::new(json!({"Cmd": ["x"]}))
        .layer(layer.finish(), Compress::None)
        .write_oci(&layout, &["latest"]);
    let out = tmp.path().join("bundle");
    let (ok, stderr) = bundle(layout.to_str().unwrap(), out.to_str().unwrap());
    assert!(!ok);
    assert!(stderr.contains("hard link"), "{stderr}");
    let mode = fs::metadata("/etc/passwd").unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644, "host file untouched");
}
