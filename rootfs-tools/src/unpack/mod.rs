//! Applies image layers (tar streams) to a rootfs directory, in order, with OCI whiteouts.
//!
//! Every path of a layer is cleaned with chroot semantics ([`path::clean`]) and its parent
//! directory is resolved by pathrs inside the rootfs (`openat2` with `RESOLVE_IN_ROOT`): a
//! symlink from this or an earlier layer that points at `/etc` or `../..` leads to the rootfs's
//! own `etc` or root. The last component is then created or changed through that directory fd
//! without following it ([`fsops`]). Nothing is ever resolved by joining strings onto the
//! rootfs's host path.

mod entries;
mod fsops;
mod meta;
mod path;

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use pathrs::Root;

pub use meta::{xattr_policy, Meta, Time, XattrPolicy};
pub use path::{action, clean, Action, OPAQUE_MARKER, WHITEOUT_PREFIX};

pub(crate) use fsops::io_err as fsops_io_err;
use fsops::{pathrs_errno, Special};

const COPY_BUFFER: usize = 256 << 10;

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("open rootfs {path}")]
    OpenRoot {
        path: PathBuf,
        source: pathrs::error::Error,
    },
    #[error("read layer")]
    Read { source: io::Error },
    #[error("read layer entry {path}")]
    ReadEntry { path: PathBuf, source: io::Error },
    #[error("resolve {path} inside the rootfs")]
    Resolve {
        path: PathBuf,
        source: pathrs::error::Error,
    },
    #[error(
        "create directory {path} inside the rootfs (a symlink on the way may point at a \
         directory that does not exist)"
    )]
    MakeParents {
        path: PathBuf,
        source: pathrs::error::Error,
    },
    #[error("create {path}")]
    Create { path: PathBuf, source: io::Error },
    #[error("write {path}")]
    Write { path: PathBuf, source: io::Error },
    #[error("remove {path}")]
    Remove { path: PathBuf, source: io::Error },
    #[error("hard link {path} to {target}")]
    Link {
        path: PathBuf,
        target: PathBuf,
        source: io::Error,
    },
    #[error("chown {uid}:{gid} {path} (unpacking an image takes root)")]
    Chown {
        path: PathBuf,
        uid: u32,
        gid: u32,
        source: io::Error,
    },
    #[error("chmod {mode:o} {path}")]
    Chmod {
        path: PathBuf,
        mode: u32,
        source: io::Error,
    },
    #[error("set times of {path}")]
    Times { path: PathBuf, source: io::Error },
    #[error(
        "set extended attribute {name} on {path}: the filesystem under the bundle refuses it, \
         and the image needs it (unpack onto ext4, xfs or btrfs)"
    )]
    Xattr {
        path: PathBuf,
        name: String,
        source: io::Error,
    },
    #[error("{path}: unsupported tar entry type {kind}")]
    Unsupported { path: PathBuf, kind: String },
    #[error("{path}: device entry without device numbers")]
    NoDevice { path: PathBuf },
}

/// What unpacking did, for the caller to report.
#[derive(Debug, Default, Clone)]
pub struct UnpackStats {
    pub entries: u64,
    pub file_bytes: u64,
    /// Extended attributes that could not be set but do not change what the image does.
    pub warnings: Vec<String>,
}

/// Applies layers to one rootfs. Create it, call [`Unpacker::apply_layer`] for each layer in
/// order, then [`Unpacker::finish`].
pub struct Unpacker {
    root: Root,
    rootfs: PathBuf,
    /// Paths written by the layer being applied: whiteouts and opaque markers remove only what
    /// the lower layers had.
    layer_paths: HashSet<PathBuf>,
    /// Directory times, set once every layer is in (writing into a directory changes its mtime).
    dir_times: HashMap<PathBuf, Meta>,
    /// The directory fd of the last entry's parent: layers list a directory's entries together,
    /// so most entries reuse it. Dropped whenever anything is removed.
    parent: Option<(PathBuf, Rc<OwnedFd>)>,
    buffer: Vec<u8>,
    stats: UnpackStats,
}

impl Unpacker {
    /// Unpacks into the existing directory `rootfs`.
    pub fn new(rootfs: &Path) -> Result<Unpacker, UnpackError> {
        let root = Root::open(rootfs).map_err(|source| UnpackError::OpenRoot {
            path: rootfs.to_path_buf(),
            source,
        })?;
        Ok(Unpacker {
            root,
            rootfs: rootfs.to_path_buf(),
            layer_paths: HashSet::new(),
            dir_times: HashMap::new(),
            parent: None,
            buffer: vec![0; COPY_BUFFER],
            stats: UnpackStats::default(),
        })
    }

    /// Applies one uncompressed layer tar. Stops at the tar's end marker and returns the reader
    /// so the caller can read (and hash) what follows.
    pub fn apply_layer<R: Read>(&mut self, layer: R) -> Result<R, UnpackError> {
        self.layer_paths.clear();
        let mut archive = tar::Archive::new(layer);
        let entries = archive
            .entries()
            .map_err(|source| UnpackError::Read { source })?;
        for entry in entries {
            let mut entry = entry.map_err(|source| UnpackError::Read { source })?;
            self.apply_entry(&mut entry)?;
            self.stats.entries += 1;
        }
        Ok(archive.into_inner())
    }

    /// Sets the directories' times and returns what was done.
    pub fn finish(self) -> Result<UnpackStats, UnpackError> {
        for (path, meta) in &self.dir_times {
            // None: removed by a later layer.
            let Some(handle) = self.resolve(path, false)? else {
                continue;
            };
            match fsops::set_dir_times(handle.as_fd(), meta) {
                Ok(()) => {}
                // Replaced by a non-directory in a later layer.
                Err(err)
                    if err.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => {}
                Err(err) if err.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {}
                Err(source) => {
                    return Err(UnpackError::Times {
                        path: self.host_path(path),
                        source,
                    })
                }
            }
        }
        Ok(self.stats)
    }

    /// `path` resolved inside the rootfs, the rootfs itself for the empty path; `None` when it
    /// does not exist. `follow`: whether a symlink as last component is followed (inside).
    fn resolve(&self, path: &Path, follow: bool) -> Result<Option<OwnedFd>, UnpackError> {
        if path.as_os_str().is_empty() {
            return self.dup_root().map(Some);
        }
        let resolved = if follow {
            self.root.resolve(path)
        } else {
            self.root.resolve_nofollow(path)
        };
        match resolved {
            Ok(handle) => Ok(Some(handle.into())),
            Err(err) if is_not_found(&err) => Ok(None),
            Err(source) => Err(UnpackError::Resolve {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    fn host_path(&self, path: &Path) -> PathBuf {
        self.rootfs.join(path)
    }

    fn apply_entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let raw_path = entry
            .path()
            .map_err(|source| UnpackError::Read { source })?;
        let path = clean(&raw_path);
        let read_err = |source| UnpackError::ReadEntry {
            path: path.clone(),
            source,
        };
        let kind = entry.header().entry_type();
        if kind == tar::EntryType::XGlobalHeader {
            return Ok(());
        }
        match action(&path) {
            Action::Write => {}
            Action::Ignore => return Ok(()),
            Action::Whiteout { name } => {
                let target = path.with_file_name(name);
                return self.whiteout(&target);
            }
            Action::Opaque => {
                let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
                return self.make_opaque(&dir);
            }
        }
        let pax: Vec<(String, Vec<u8>)> = match entry.pax_extensions().map_err(read_err)? {
            Some(records) => records
                .filter_map(|record| record.ok())
                .filter_map(|r| Some((r.key().ok()?.to_string(), r.value_bytes().to_vec())))
                .collect(),
            None => Vec::new(),
        };
        let mut meta = Meta::from_header(entry.header(), &pax).map_err(read_err)?;
        let warnings = &mut self.stats.warnings;
        meta.xattrs.retain(|(name, _)| {
            let skip = xattr_policy(name) == XattrPolicy::Skip;
            if skip {
                warnings.push(format!(
                    "{}: extended attribute {name} not set: overlayfs would obey it",
                    path.display()
                ));
            }
            !skip
        });

        let Some(name) = path.file_name().map(OsStr::to_os_string) else {
            // The rootfs itself ("./"): only its metadata.
            if kind == tar::EntryType::Directory {
                let root = self.root_fd()?;
                self.dir_meta(&path, root.as_fd(), OsStr::new("."), &meta)?;
            }
            return Ok(());
        };
        let parent_path = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let parent = self.parent_dir(&parent_path)?;
        let dir = parent.as_fd();
        match kind {
            tar::EntryType::Directory => self.directory(&path, dir, &name, &meta)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                self.regular(&path, dir, &name, entry, &meta)?
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name().map_err(read_err)?.unwrap_or_default();
                self.replace(&path, dir, &name, |d| {
                    fsops::symlink(target.as_os_str(), d, &name)
                })?;
                self.special_meta(&path, dir, &name, &meta)?;
            }
            tar::EntryType::Link => {
                let target = clean(&entry.link_name().map_err(read_err)?.unwrap_or_default());
                self.hard_link(&path, dir, &name, &target)?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let special = special(entry.header(), kind)
                    .ok_or_else(|| UnpackError::NoDevice { path: path.clone() })?;
                self.replace(&path, dir, &name, |d| fsops::mknod(d, &name, special))?;
                self.special_meta(&path, dir, &name, &meta)?;
            }
            other => {
                return Err(UnpackError::Unsupported {
                    path: path.clone(),
                    kind: format!("{other:?}"),
                })
            }
        }
        self.layer_paths.insert(path);
        Ok(())
    }

    fn dup_root(&self) -> Result<OwnedFd, UnpackError> {
        self.root
            .as_fd()
            .try_clone_to_owned()
            .map_err(|source| UnpackError::Create {
                path: self.rootfs.clone(),
                source,
            })
    }

    fn root_fd(&self) -> Result<Rc<OwnedFd>, UnpackError> {
        self.dup_root().map(Rc::new)
    }

    /// The directory `parent` (relative to the rootfs), created with missing parents.
    fn parent_dir(&mut self, parent: &Path) -> Result<Rc<OwnedFd>, UnpackError> {
        if let Some((cached, fd)) = &self.parent {
            if cached == parent {
                return Ok(Rc::clone(fd));
            }
        }
        let fd = match self.resolve(parent, true)? {
            Some(fd) => fd,
            None => self
                .root
                .mkdir_all(parent, &std::fs::Permissions::from_mode(0o755))
                .map_err(|source| UnpackError::MakeParents {
                    path: parent.to_path_buf(),
                    source,
                })?
                .into(),
        };
        let fd = Rc::new(fd);
        self.parent = Some((parent.to_path_buf(), Rc::clone(&fd)));
        Ok(fd)
    }
}

fn libc_enoent() -> i32 {
    rustix::io::Errno::NOENT.raw_os_error()
}

/// Whether a pathrs error says the path does not exist.
pub(crate) fn is_not_found(err: &pathrs::error::Error) -> bool {
    pathrs_errno(err) == Some(libc_enoent())
}

fn special(header: &tar::Header, kind: tar::EntryType) -> Option<Special> {
    let numbers = || -> Option<(u32, u32)> {
        Some((header.device_major().ok()??, header.device_minor().ok()??))
    };
    match kind {
        tar::EntryType::Fifo => Some(Special::Fifo),
        tar::EntryType::Char => numbers().map(|(major, minor)| Special::Char { major, minor }),
        tar::EntryType::Block => numbers().map(|(major, minor)| Special::Block { major, minor }),
        _ => None,
    }
}
