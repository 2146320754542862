//! Hand-made images for the tests: layers built in memory as tars, written as an OCI image
//! layout (blobs, config, manifest, index.json) or a docker archive, and snapshots of unpacked
//! trees to compare.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use rootfs_tools::image::digest::{Algorithm, Digest};
use serde_json::{json, Value};

/// Root is needed to chown, mknod and mount: tests print SKIP and pass without it.
pub fn is_root(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    eprintln!("SKIP {test}: needs root");
    false
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("cella-test-images-")
        .tempdir()
        .unwrap()
}

pub fn cella_rootfs() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cella-rootfs"))
}

/// Runs cella-rootfs; returns (success, stderr).
pub fn run(args: &[&str]) -> (bool, String) {
    let out = cella_rootfs().args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A layer tar built entry by entry.
pub struct Layer {
    builder: tar::Builder<Vec<u8>>,
}

impl Default for Layer {
    fn default() -> Self {
        Layer::new()
    }
}

impl Layer {
    pub fn new() -> Layer {
        Layer {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    /// Appends an entry, its name written raw into the header (so `..` and absolute names
    /// survive, as a hostile layer would have them).
    pub fn entry(
        &mut self,
        path: &str,
        kind: tar::EntryType,
        mode: u32,
        owner: (u64, u64),
        link: Option<&str>,
        data: &[u8],
    ) -> &mut Layer {
        let mut header = tar::Header::new_gnu();
        assert!(path.len() <= 100, "{path}");
        header.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(owner.0);
        header.set_gid(owner.1);
        header.set_mtime(1_600_000_000);
        header.set_size(data.len() as u64);
        if let Some(link) = link {
            let name = &mut header.as_gnu_mut().unwrap().linkname;
            name[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_cksum();
        self.builder.append(&header, data).unwrap();
        self
    }

    pub fn dir(&mut self, path: &str, mode: u32, owner: (u64, u64)) -> &mut Layer {
        self.entry(path, tar::EntryType::Directory, mode, owner, None, b"")
    }

    pub fn file(&mut self, path: &str, data: &[u8], mode: u32, owner: (u64, u64)) -> &mut Layer {
        self.entry(path, tar::EntryType::Regular, mode, owner, None, data)
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Layer {
        self.entry(
            path,
            tar::EntryType::Symlink,
            0o777,
            (0, 0),
            Some(target),
            b"",
        )
    }

    pub fn hardlink(&mut self, path: &str, target: &str) -> &mut Layer {
        self.entry(path, tar::EntryType::Link, 0o644, (0, 0), Some(target), b"")
    }

    pub fn device(&mut self, path: &str, major: u32, minor: u32, mode: u32) -> &mut Layer {
        let mut header = tar::Header::new_gnu();
        header.set_path(path).unwrap();
        header.set_entry_type(tar::EntryType::Char);
        header.set_mode(mode);
        header.set_mtime(1_600_000_000);
        header.set_device_major(major).unwrap();
        header.set_device_minor(minor).unwrap();
        header.set_size(0);
        header.set_cksum();
        self.builder.append(&header, &b""[..]).unwrap();
        self
    }

    pub fn fifo(&mut self, path: &str, mode: u32, owner: (u64, u64)) -> &mut Layer {
        self.entry(path, tar::EntryType::Fifo, mode, owner, None, b"")
    }

    /// A regular file with PAX records (extended attributes as `SCHILY.xattr.NAME`).
    pub fn file_with_pax(&mut self, path: &str, data: &[u8], pax: &[(&str, &[u8])]) -> &mut Layer {
        self.builder
            .append_pax_extensions(pax.iter().copied())
            .unwrap();
        self.file(path, data, 0o755, (0, 0))
    }

    pub fn finish(&mut self) -> Vec<u8> {
        let builder = std::mem::replace(&mut self.builder, tar::Builder::new(Vec::new()));
        builder.into_inner().unwrap()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compress {
    None,
    Gzip,
    Zstd,
}

impl Compress {
    fn apply(self, tar: &[u8]) -> Vec<u8> {
        match self {
            Compress::None => tar.to_vec(),
            Compress::Gzip => {
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                encoder.write_all(tar).unwrap();
                encoder.finish().unwrap()
            }
            Compress::Zstd => {
                ruzstd::encoding::compress_to_vec(tar, ruzstd::encoding::CompressionLevel::Fastest)
            }
        }
    }

    fn media_type(self) -> &'static str {
        match self {
            Compress::None => "application/vnd.oci.image.layer.v1.tar",
            Compress::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compress::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

pub fn sha256(bytes: &[u8]) -> Digest {
    Digest::of(Algorithm::Sha256, bytes)
}

/// An image: layers (uncompressed tars with the compression to store them with) and the
/// `config` part of the image config.
pub struct Image {
    pub layers: Vec<(Vec<u8>, Compress)>,
    pub config: Value,
    /// The config lists digests of other tars than the layers (to test the diff_id check).
    pub diff_id_salt: bool,
}

impl Image {
    pub fn new(config: Value) -> Image {
        Image {
            layers: Vec::new(),
            config,
            diff_id_salt: false,
        }
    }

    pub fn layer(mut self, tar: Vec<u8>, compress: Compress) -> Image {
        self.layers.push((tar, compress));
        self
    }

    pub fn config_json(&self) -> Vec<u8> {
        let diff_ids: Vec<String> = self
            .layers
            .iter()
            .map(|(tar, _)| {
                let salt: &[u8] = if self.diff_id_salt { b"salt" } else { b"" };
                sha256(&[tar.as_slice(), salt].concat()).to_string()
            })
            .collect();
        serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": self.config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids}
        }))
        .unwrap()
    }

    /// Writes an OCI image layout in `dir` naming the image `tags` (index.json
    /// `org.opencontainers.image.ref.name`). Returns the manifest JSON, for tests that tamper.
    pub fn write_oci(&self, dir: &Path, tags: &[&str]) -> Value {
        self.write_oci_with(dir, tags, |_| {})
    }

    /// [`Image::write_oci`] with a chance to change the manifest before it is stored.
    pub fn write_oci_with(
        &self,
        dir: &Path,
        tags: &[&str],
        edit: impl FnOnce(&mut Value),
    ) -> Value {
        fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        let blob = |bytes: &[u8]| -> Value {
            let digest = sha256(bytes);
            fs::write(dir.join(digest.blob_path()), bytes).unwrap();
            json!({"digest": digest.to_string(), "size": bytes.len()})
        };
        let mut config = blob(&self.config_json());
        config["mediaType"] = json!("application/vnd.oci.image.config.v1+json");
        let layers: Vec<Value> = self
            .layers
            .iter()
            .map(|(tar, compress)| {
                let mut d = blob(&compress.apply(tar));
                d["mediaType"] = json!(compress.media_type());
                d
            })
            .collect();
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config,
            "layers": layers
        });
        edit(&mut manifest);
        let mut manifest_desc = blob(&serde_json::to_vec(&manifest).unwrap());
        manifest_desc["mediaType"] = json!("application/vnd.oci.image.manifest.v1+json");
        let manifests: Vec<Value> = tags
            .iter()
            .map(|tag| {
                let mut d = manifest_desc.clone();
                d["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
                d
            })
            .collect();
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests
        });
        fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
        fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        manifest
    }

    /// Writes a docker archive (`docker save` before docker 25: `<id>/layer.tar`,
    /// `<config digest>.json`, manifest.json) as the tar `path`. Layers are stored as they are
    /// compressed in `self`.
    pub fn write_docker_archive(&self, path: &Path, repo_tags: &[&str]) {
        let mut archive = tar::Builder::new(Vec::new());
        let mut add = |name: &str, bytes: &[u8]| {
            let mut header = tar::Header::new_ustar();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            archive.append_data(&mut header, name, bytes).unwrap();
        };
        let config = self.config_json();
        let config_name = format!("{}.json", sha256(&config).hex());
        add(&config_name, &config);
        let mut layer_names = Vec::new();
        for (i, (tar, compress)) in self.layers.iter().enumerate() {
            let name = format!("{:064x}/layer.tar", i + 1);
            add(&name, &compress.apply(tar));
            layer_names.push(name);
        }
        let manifest =
            json!([{"Config": config_name, "RepoTags": repo_tags, "Layers": layer_names}]);
        add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
        fs::write(path, archive.into_inner().unwrap()).unwrap();
    }
}

/// Packs a directory (an OCI layout) into a tar file.
pub fn tar_dir(dir: &Path, out: &Path) {
    let mut builder = tar::Builder::new(fs::File::create(out).unwrap());
    builder.append_dir_all(".", dir).unwrap();
    builder.finish().unwrap();
}

/// What a test compares of an unpacked path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Size of regular files; 0 for the rest (directory sizes depend on the filesystem).
    pub size: u64,
    pub nlink: u64,
    pub link: Option<PathBuf>,
    pub rdev: u64,
}

/// Every path under `root` (relative, "" for the root itself) with its [`Node`].
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut nodes = BTreeMap::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let path = root.join(&rel);
        let meta = fs::symlink_metadata(&path).unwrap();
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_file() {
            "file"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_char_device() {
            "char"
        } else if ft.is_block_device() {
            "block"
        } else if ft.is_fifo() {
            "fifo"
        } else {
            "other"
        };
        nodes.insert(
            rel.clone(),
            Node {
                kind,
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
                size: if ft.is_file() { meta.len() } else { 0 },
                nlink: if ft.is_dir() { 0 } else { meta.nlink() },
                link: ft.is_symlink().then(|| fs::read_link(&path).unwrap()),
                rdev: meta.rdev(),
            },
        );
        if ft.is_dir() {
            for entry in fs::read_dir(&path).unwrap() {
                pending.push(rel.join(entry.unwrap().file_name()));
            }
        }
    }
    nodes
}

/// Mount points at or under `dir`, from /proc/self/mountinfo.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap();
    rootfs_tools::clone::parse_mountinfo(&text)
        .into_iter()
        .map(|m| m.mount_point)
        .filter(|m| m.starts_with(dir))
        .collect()
}

/// `cella-rootfs bundle --image IMAGE --out OUT`, which must succeed; its stderr (warnings).
#[track_caller]
/// `cella-rootfs bundle --image IMAGE --out OUT`: whether it succeeded, and its stderr.
pub fn bundle(image: &str, out: &str) -> (bool, String) {
    run(&["bundle", "--image", image, "--out", out])
}

pub fn bundle_ok(image: &str, out: &str) -> String {
    let (ok, stderr) = bundle(image, out);
    assert!(ok, "{stderr}");
    stderr
}
