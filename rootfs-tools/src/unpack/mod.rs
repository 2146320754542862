//! Applies image layers (tar streams) to a rootfs directory, in order, with OCI whiteouts.
//!
//! Every path of a layer is cleaned with chroot semantics ([`path::clean`]) and its parent
//! directory is resolved by pathrs inside the rootfs (`openat2` with `RESOLVE_IN_ROOT`): a
//! symlink from this or an earlier layer that points at `/etc` or `../..` leads to the rootfs's
//! own `etc` or root. The last component is then created or changed through that directory fd
//! without following it ([`fsops`]). Nothing is ever resolved by joining strings onto the
//! rootfs's host path.

mod fsops;
mod meta;
mod path;

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use pathrs::Root;
use rustix::fs::FileType;

pub use meta::{xattr_policy, Meta, Time, XattrPolicy};
pub use path::{action, clean, Action, OPAQUE_MARKER, WHITEOUT_PREFIX};

pub(crate) use fsops::io_err as fsops_io_err;
use fsops::{pathrs_errno, MetaError, Special};

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
            let handle = match self.root.resolve_nofollow(path) {
                Ok(handle) => handle,
                // Removed by a later layer.
                Err(err) if pathrs_errno(&err) == Some(libc_enoent()) => continue,
                Err(source) => {
                    return Err(UnpackError::Resolve {
                        path: path.clone(),
                        source,
                    })
                }
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

    fn root_fd(&self) -> Result<Rc<OwnedFd>, UnpackError> {
        let fd = self
            .root
            .as_fd()
            .try_clone_to_owned()
            .map_err(|source| UnpackError::Create {
                path: self.rootfs.clone(),
                source,
            })?;
        Ok(Rc::new(fd))
    }

    /// The directory `parent` (relative to the rootfs), created with missing parents.
    fn parent_dir(&mut self, parent: &Path) -> Result<Rc<OwnedFd>, UnpackError> {
        if let Some((cached, fd)) = &self.parent {
            if cached == parent {
                return Ok(Rc::clone(fd));
            }
        }
        let fd = if parent.as_os_str().is_empty() {
            self.root_fd()?
        } else {
            let handle = match self.root.resolve(parent) {
                Ok(handle) => handle,
                Err(err) if pathrs_errno(&err) == Some(libc_enoent()) => self
                    .root
                    .mkdir_all(parent, &std::fs::Permissions::from_mode(0o755))
                    .map_err(|source| UnpackError::MakeParents {
                        path: parent.to_path_buf(),
                        source,
                    })?,
                Err(source) => {
                    return Err(UnpackError::Resolve {
                        path: parent.to_path_buf(),
                        source,
                    })
                }
            };
            Rc::new(OwnedFd::from(handle))
        };
        self.parent = Some((parent.to_path_buf(), Rc::clone(&fd)));
        Ok(fd)
    }

    /// Runs `create`; when something is in the way, removes it (a whole tree for a directory)
    /// and runs `create` again.
    fn replace(
        &mut self,
        path: &Path,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        mut create: impl FnMut(BorrowedFd<'_>) -> io::Result<()>,
    ) -> Result<(), UnpackError> {
        match create(dir) {
            Err(err) if err.raw_os_error() == Some(rustix::io::Errno::EXIST.raw_os_error()) => {
                self.remove_at(path, dir, name)?;
                create(dir)
            }
            other => other,
        }
        .map_err(|source| UnpackError::Create {
            path: self.host_path(path),
            source,
        })
    }

    /// Removes whatever is at `dir/name` (`path` in the rootfs), a directory with its contents.
    fn remove_at(
        &mut self,
        path: &Path,
        dir: BorrowedFd<'_>,
        name: &OsStr,
    ) -> Result<(), UnpackError> {
        let remove_err = |source| UnpackError::Remove {
            path: self.host_path(path),
            source,
        };
        match fsops::file_type_at(dir, name).map_err(remove_err)? {
            None => Ok(()),
            Some(FileType::Directory) => self.remove_tree(path),
            Some(_) => fsops::unlink(dir, name).map_err(remove_err),
        }
    }

    /// Removes `path` and everything under it.
    fn remove_tree(&mut self, path: &Path) -> Result<(), UnpackError> {
        // The cached parent may be inside the tree.
        self.parent = None;
        match self.root.remove_all(path) {
            Ok(()) => Ok(()),
            Err(err) if pathrs_errno(&err) == Some(libc_enoent()) => Ok(()),
            Err(err) => Err(UnpackError::Remove {
                path: self.host_path(path),
                source: io::Error::other(err),
            }),
        }
    }

    fn directory(
        &mut self,
        path: &Path,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        meta: &Meta,
    ) -> Result<(), UnpackError> {
        let create_err = |this: &Self, source| UnpackError::Create {
            path: this.host_path(path),
            source,
        };
        match fsops::mkdir(dir, name) {
            Ok(()) => {}
            Err(err) if err.raw_os_error() == Some(rustix::io::Errno::EXIST.raw_os_error()) => {
                // An existing directory is kept with its contents (layers add to directories);
                // anything else gives way.
                let existing = fsops::file_type_at(dir, name).map_err(|e| create_err(self, e))?;
                if existing != Some(FileType::Directory) {
                    self.remove_at(path, dir, name)?;
                    fsops::mkdir(dir, name).map_err(|e| create_err(self, e))?;
                }
            }
            Err(err) => return Err(create_err(self, err)),
        }
        self.dir_meta(path, dir, name, meta)
    }

    fn dir_meta(
        &mut self,
        path: &Path,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        meta: &Meta,
    ) -> Result<(), UnpackError> {
        let fd = fsops::open_dir(dir, name).map_err(|source| UnpackError::Create {
            path: self.host_path(path),
            source,
        })?;
        self.apply_meta(path, meta, |xattr_failed| {
            fsops::set_meta_fd(fd.as_fd(), meta, false, xattr_failed)
        })?;
        self.dir_times.insert(path.to_path_buf(), meta.clone());
        Ok(())
    }

    fn regular<R: Read>(
        &mut self,
        path: &Path,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        entry: &mut tar::Entry<'_, R>,
        meta: &Meta,
    ) -> Result<(), UnpackError> {
        let mut file = match fsops::create_file(dir, name) {
            Err(err) if err.raw_os_error() == Some(rustix::io::Errno::EXIST.raw_os_error()) => {
                self.remove_at(path, dir, name)?;
                fsops::create_file(dir, name)
            }
            other => other,
        }
        .map_err(|source| UnpackError::Create {
            path: self.host_path(path),
            source,
        })?;
        loop {
            let n = match entry.read(&mut self.buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(UnpackError::ReadEntry {
                        path: path.to_path_buf(),
                        source,
                    })
                }
            };
            file.write_all(&self.buffer[..n])
                .map_err(|source| UnpackError::Write {
                    path: self.host_path(path),
                    source,
                })?;
            self.stats.file_bytes += n as u64;
        }
        self.apply_meta(path, meta, |xattr_failed| {
            fsops::set_meta_fd(file.as_fd(), meta, true, xattr_failed)
        })
    }

    fn hard_link(
        &mut self,
        path: &Path,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        target: &Path,
    ) -> Result<(), UnpackError> {
        let link_err = |this: &Self, source| UnpackError::Link {
            path: this.host_path(path),
            target: target.to_path_buf(),
            source,
        };
        if target == path {
            return Ok(());
        }
        let Some(target_name) = target.file_name() else {
            let einval = io::Error::from_raw_os_error(rustix::io::Errno::INVAL.raw_os_error());
            return Err(link_err(self, einval));
        };
        let target_dir = self
            .root
            .resolve(target.parent().unwrap_or(Path::new("")))
            .map_err(|err| link_err(self, io::Error::other(err)))?;
        let target_dir: OwnedFd = target_dir.into();
        let result = self.replace(path, dir, name, |d| {
            fsops::hard_link(target_dir.as_fd(), target_name, d, name)
        });
        match result {
            Err(UnpackError::Create { source, .. }) => Err(link_err(self, source)),
            other => other,
        }
    }

    fn special_meta(
        &mut self,
        path: &Path,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        meta: &Meta,
    ) -> Result<(), UnpackError> {
        self.apply_meta(path, meta, |xattr_failed| {
            fsops::set_meta_at(dir, name, meta, xattr_failed)
        })
    }

    /// Runs a metadata step, deciding per extended attribute what a refusal means.
    fn apply_meta(
        &mut self,
        path: &Path,
        meta: &Meta,
        step: impl FnOnce(
            &mut dyn FnMut(&str, io::Error) -> Result<(), MetaError>,
        ) -> Result<(), MetaError>,
    ) -> Result<(), UnpackError> {
        let mut warnings = Vec::new();
        let host_path = self.host_path(path);
        let mut xattr_failed = |name: &str, source: io::Error| match xattr_policy(name) {
            XattrPolicy::Required => Err(MetaError::Xattr {
                name: name.to_string(),
                source,
            }),
            XattrPolicy::BestEffort | XattrPolicy::Skip => {
                warnings.push(format!(
                    "{}: extended attribute {name} not set: {source}",
                    host_path.display()
                ));
                Ok(())
            }
        };
        let result = step(&mut xattr_failed);
        self.stats.warnings.extend(warnings);
        result.map_err(|err| match err {
            MetaError::Chown(source) => UnpackError::Chown {
                path: host_path.clone(),
                uid: meta.uid,
                gid: meta.gid,
                source,
            },
            MetaError::Chmod(source) => UnpackError::Chmod {
                path: host_path.clone(),
                mode: meta.mode,
                source,
            },
            MetaError::Times(source) => UnpackError::Times {
                path: host_path.clone(),
                source,
            },
            MetaError::Xattr { name, source } => UnpackError::Xattr {
                path: host_path.clone(),
                name,
                source,
            },
        })
    }

    /// `.wh.NAME`: removes NAME as the lower layers left it.
    fn whiteout(&mut self, target: &Path) -> Result<(), UnpackError> {
        if self.layer_paths.contains(target) {
            return Ok(());
        }
        self.remove_tree(target)
    }

    /// `.wh..wh..opq`: removes every lower-layer entry of `dir`.
    fn make_opaque(&mut self, dir: &Path) -> Result<(), UnpackError> {
        let handle = match self.root.resolve(dir) {
            Ok(handle) => handle,
            Err(err) if pathrs_errno(&err) == Some(libc_enoent()) => return Ok(()),
            Err(source) => {
                return Err(UnpackError::Resolve {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        };
        let names: Vec<OsString> =
            fsops::list_dir(handle.as_fd()).map_err(|source| UnpackError::Remove {
                path: self.host_path(dir),
                source,
            })?;
        for name in names {
            let child = dir.join(&name);
            if !self.layer_paths.contains(&child) {
                self.remove_tree(&child)?;
            }
        }
        Ok(())
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
