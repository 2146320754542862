//! Quick clones of a bundle: a new bundle whose rootfs is an overlay mount (the source's
//! rootfs as the read-only lower layer, an upper and work directory of its own), and the
//! removal of bundles, clone or not, that leaves no mount behind.
//!
//! Clones are mounted in the caller's mount namespace (the host's, for the CLI): containers
//! started later must see them.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::mount::{mount, unmount, MountFlags, UnmountFlags};

use crate::unpack::fsops_io_err as io_err;

pub const MOUNTINFO: &str = "/proc/self/mountinfo";
const UPPER: &str = "upper";
const WORK: &str = "work";
const ROOTFS: &str = "rootfs";

#[derive(Debug, thiserror::Error)]
pub enum CloneError {
    #[error("{path} is not a bundle (no config.json)")]
    NotABundle { path: PathBuf },
    #[error("read {path}")]
    ReadConfig { path: PathBuf, source: io::Error },
    #[error("parse {path}")]
    ParseConfig {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("write {path}")]
    WriteConfig { path: PathBuf, source: io::Error },
    #[error("rootfs {path} of the source bundle")]
    SourceRootfs { path: PathBuf, source: io::Error },
    #[error("{path} has a character overlayfs options cannot carry (',', ':', '\\\\' or newline)")]
    UnsafePath { path: PathBuf },
    #[error("{path} already exists")]
    Exists { path: PathBuf },
    #[error("create {path}")]
    Create { path: PathBuf, source: io::Error },
    #[error("mount overlay on {path} (lower {lower})")]
    Mount {
        path: PathBuf,
        lower: PathBuf,
        source: io::Error,
    },
    #[error("unmount {path} (is a container still running from it?)")]
    Unmount { path: PathBuf, source: io::Error },
    #[error("read {path}")]
    Mountinfo { path: PathBuf, source: io::Error },
    #[error("{path} still has mounts inside: {}", list(.mounts))]
    MountsInside { path: PathBuf, mounts: Vec<PathBuf> },
    #[error(
        "{path} is the lower layer of the overlay mounted on {mount}: remove that clone first"
    )]
    InUse { path: PathBuf, mount: PathBuf },
    #[error("remove {path}")]
    Remove { path: PathBuf, source: io::Error },
}

fn list(paths: &[PathBuf]) -> String {
    let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    paths.join(", ")
}

/// One line of /proc/self/mountinfo, the parts used here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub mount_point: PathBuf,
    pub fs_type: String,
    pub super_options: String,
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses mountinfo text; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let mount_point = before.split(' ').nth(4)?;
            let mut after = after.split(' ');
            let fs_type = after.next()?;
            let _source = after.next()?;
            let super_options = after.next().unwrap_or("");
            Some(Mount {
                mount_point: PathBuf::from(unescape(mount_point)),
                fs_type: fs_type.to_string(),
                super_options: unescape(super_options),
            })
        })
        .collect()
}

/// The lower directories of an overlay mount, from its super options.
pub fn overlay_lowers(mount: &Mount) -> Vec<PathBuf> {
    if mount.fs_type != "overlay" {
        return Vec::new();
    }
    mount
        .super_options
        .split(',')
        .filter_map(|option| option.strip_prefix("lowerdir="))
        .flat_map(|dirs| dirs.split(':'))
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .collect()
}

fn read_mounts(mountinfo: &Path) -> Result<Vec<Mount>, CloneError> {
    let text = fs::read_to_string(mountinfo).map_err(|source| CloneError::Mountinfo {
        path: mountinfo.to_path_buf(),
        source,
    })?;
    Ok(parse_mountinfo(&text))
}

fn canonical(path: &Path) -> Result<PathBuf, CloneError> {
    fs::canonicalize(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => CloneError::NotABundle {
            path: path.to_path_buf(),
        },
        _ => CloneError::Create {
            path: path.to_path_buf(),
            source,
        },
    })
}

fn check_overlay_path(path: &Path) -> Result<(), CloneError> {
    let text = path.to_string_lossy();
    if text.contains([',', ':', '\\', '\n']) || text != path.to_str().unwrap_or("") {
        return Err(CloneError::UnsafePath {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Reads a bundle's config.json as JSON (kept whole: fields this crate does not know survive).
fn read_config(bundle: &Path) -> Result<serde_json::Value, CloneError> {
    let path = bundle.join(runtime_spec::CONFIG_FILE);
    let text = fs::read(&path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => CloneError::NotABundle {
            path: bundle.to_path_buf(),
        },
        _ => CloneError::ReadConfig {
            path: path.clone(),
            source,
        },
    })?;
    serde_json::from_slice(&text).map_err(|source| CloneError::ParseConfig { path, source })
}

/// Makes `dst` a clone of the bundle `src`: `dst/rootfs` is an overlay of `src`'s rootfs (the
/// `root.path` of its config) with `dst/upper` and `dst/work`, and `dst/config.json` is `src`'s
/// with `root.path` set to `rootfs`. `dst` must not exist; on failure nothing is left.
pub fn clone_bundle(src: &Path, dst: &Path) -> Result<(), CloneError> {
    let src = canonical(src)?;
    let mut config = read_config(&src)?;
    let root_path = config
        .pointer("/root/path")
        .and_then(|p| p.as_str())
        .unwrap_or(ROOTFS)
        .to_string();
    let lower =
        fs::canonicalize(src.join(&root_path)).map_err(|source| CloneError::SourceRootfs {
            path: src.join(&root_path),
            source,
        })?;
    let lower_meta = fs::metadata(&lower).map_err(|source| CloneError::SourceRootfs {
        path: lower.clone(),
        source,
    })?;
    check_overlay_path(&lower)?;

    match fs::create_dir(dst) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
            return Err(CloneError::Exists {
                path: dst.to_path_buf(),
            })
        }
        Err(source) => {
            return Err(CloneError::Create {
                path: dst.to_path_buf(),
                source,
            })
        }
    }
    let result = mount_clone(dst, &lower, &lower_meta, &mut config);
    if result.is_err() {
        let _ = unmount(dst.join(ROOTFS), UnmountFlags::NOFOLLOW);
        let _ = fs::remove_dir_all(dst);
    }
    result
}

fn mount_clone(
    dst: &Path,
    lower: &Path,
    lower_meta: &fs::Metadata,
    config: &mut serde_json::Value,
) -> Result<(), CloneError> {
    let dst = canonical(dst)?;
    check_overlay_path(&dst)?;
    let create = |path: PathBuf| {
        fs::create_dir(&path)
            .map(|()| path.clone())
            .map_err(|source| CloneError::Create { path, source })
    };
    let upper = create(dst.join(UPPER))?;
    let work = create(dst.join(WORK))?;
    let rootfs = create(dst.join(ROOTFS))?;
    // The merged root takes the upper directory's owner and mode: make them the lower's.
    let set_err = |source| CloneError::Create {
        path: upper.clone(),
        source,
    };
    std::os::unix::fs::chown(&upper, Some(lower_meta.uid()), Some(lower_meta.gid()))
        .map_err(set_err)?;
    fs::set_permissions(
        &upper,
        fs::Permissions::from_mode(lower_meta.mode() & 0o7777),
    )
    .map_err(set_err)?;

    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    let options = std::ffi::CString::new(options).expect("paths were checked for NUL");
    mount(
        "overlay",
        &rootfs,
        "overlay",
        MountFlags::empty(),
        options.as_c_str(),
    )
    .map_err(|errno| CloneError::Mount {
        path: rootfs.clone(),
        lower: lower.to_path_buf(),
        source: io_err(errno),
    })?;

    config["root"]["path"] = serde_json::Value::from(ROOTFS);
    let path = dst.join(runtime_spec::CONFIG_FILE);
    let text = serde_json::to_string_pretty(config).expect("JSON values serialize");
    fs::write(&path, text).map_err(|source| CloneError::WriteConfig { path, source })
}

/// Removes the bundle `dir`: unmounts its rootfs if it is a clone, then deletes the directory.
/// Refuses a directory without config.json, a bundle whose rootfs is the lower layer of a
/// mounted clone, and a bundle with other mounts inside (deleting would reach into them).
pub fn remove_bundle(dir: &Path) -> Result<(), CloneError> {
    remove_bundle_with(dir, Path::new(MOUNTINFO))
}

pub(crate) fn remove_bundle_with(dir: &Path, mountinfo: &Path) -> Result<(), CloneError> {
    let dir = canonical(dir)?;
    if !dir.join(runtime_spec::CONFIG_FILE).is_file() {
        return Err(CloneError::NotABundle { path: dir });
    }
    let rootfs = dir.join(ROOTFS);
    let mounts = read_mounts(mountinfo)?;
    for mount in &mounts {
        if overlay_lowers(mount)
            .iter()
            .any(|lower| lower.starts_with(&dir))
        {
            return Err(CloneError::InUse {
                path: dir,
                mount: mount.mount_point.clone(),
            });
        }
    }
    // Mounts may be stacked on the rootfs: unmount until none is left.
    let stacked = mounts.iter().filter(|m| m.mount_point == rootfs).count();
    for _ in 0..stacked {
        unmount(&rootfs, UnmountFlags::NOFOLLOW).map_err(|errno| CloneError::Unmount {
            path: rootfs.clone(),
            source: io_err(errno),
        })?;
    }
    let inside: Vec<PathBuf> = read_mounts(mountinfo)?
        .into_iter()
        .map(|m| m.mount_point)
        .filter(|m| m.starts_with(&dir))
        .collect();
    if !inside.is_empty() {
        return Err(CloneError::MountsInside {
            path: dir,
            mounts: inside,
        });
    }
    fs::remove_dir_all(&dir).map_err(|source| CloneError::Remove { path: dir, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
90 27 0:50 / /tmp/b\\040dir/rootfs rw,relatime - overlay overlay rw,lowerdir=/tmp/base/rootfs,upperdir=/tmp/b\\040dir/upper,workdir=/tmp/b\\040dir/work
91 27 0:51 / /tmp/multi rw shared:4 - overlay overlay rw,lowerdir=/l1:/l2,upperdir=/u,workdir=/w
garbage line
";

    #[test]
    fn mountinfo_lines_and_overlay_lowers() {
        let mounts = parse_mountinfo(SAMPLE);
        assert_eq!(mounts.len(), 4);
        assert_eq!(mounts[2].mount_point, Path::new("/tmp/b dir/rootfs"));
        assert_eq!(mounts[2].fs_type, "overlay");
        assert_eq!(
            overlay_lowers(&mounts[2]),
            [PathBuf::from("/tmp/base/rootfs")]
        );
        assert_eq!(
            overlay_lowers(&mounts[3]),
            [PathBuf::from("/l1"), PathBuf::from("/l2")]
        );
        assert!(overlay_lowers(&mounts[1]).is_empty());
    }

    #[test]
    fn paths_overlay_options_cannot_carry() {
        assert!(check_overlay_path(Path::new("/tmp/a b")).is_ok());
        for bad in ["/tmp/a,b", "/tmp/a:b", "/tmp/a\\b"] {
            assert!(check_overlay_path(Path::new(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn remove_refuses_non_bundles_and_lowers_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let mountinfo = dir.path().join("mountinfo");
        let bundle = dir.path().join("base");
        fs::create_dir_all(bundle.join("rootfs/etc")).unwrap();
        let err = remove_bundle_with(&bundle, &mountinfo).unwrap_err();
        assert!(matches!(err, CloneError::NotABundle { .. }), "{err}");

        fs::write(bundle.join("config.json"), "{}").unwrap();
        let bundle = fs::canonicalize(&bundle).unwrap();
        fs::write(
            &mountinfo,
            format!(
                "90 27 0:50 / /x rw - overlay overlay rw,lowerdir={}/rootfs,upperdir=/u,workdir=/w\n",
                bundle.display()
            ),
        )
        .unwrap();
        let err = remove_bundle_with(&bundle, &mountinfo).unwrap_err();
        assert!(matches!(err, CloneError::InUse { .. }), "{err}");
        assert!(bundle.join("rootfs/etc").is_dir());

        fs::write(
            &mountinfo,
            format!(
                "90 27 0:50 / {}/rootfs/proc rw - proc proc rw\n",
                bundle.display()
            ),
        )
        .unwrap();
        let err = remove_bundle_with(&bundle, &mountinfo).unwrap_err();
        assert!(matches!(err, CloneError::MountsInside { .. }), "{err}");

        fs::write(&mountinfo, SAMPLE).unwrap();
        remove_bundle_with(&bundle, &mountinfo).unwrap();
        assert!(!bundle.exists());
    }
}
