//! Creating, replacing and removing entries, and their metadata: the parts of [`Unpacker`]
//! that act on one directory fd and name.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use rustix::fs::FileType;

use super::fsops::{self, pathrs_errno, MetaError};
use super::meta::{xattr_policy, Meta, XattrPolicy};
use super::{libc_enoent, UnpackError, Unpacker};

impl Unpacker {
    /// Runs `create`; when something is in the way, removes it (a whole tree for a directory)
    /// and runs `create` again.
    pub(super) fn replace(
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
    pub(super) fn remove_at(
        &mut self,
        path: &Path,
        dir: BorrowedFd<'_>,
        name: &OsStr,
    ) -> Result<(), UnpackError> {
        let host_path = self.host_path(path);
        let remove_err = |source| UnpackError::Remove {
            path: host_path.clone(),
            source,
        };
        match fsops::file_type_at(dir, name).map_err(remove_err)? {
            None => Ok(()),
            Some(FileType::Directory) => self.remove_tree(path),
            Some(_) => {
                // A symlink on the cached parent's path may be the one going.
                self.parent = None;
                fsops::unlink(dir, name).map_err(remove_err)
            }
        }
    }

    /// Removes `path` and everything under it.
    pub(super) fn remove_tree(&mut self, path: &Path) -> Result<(), UnpackError> {
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

    pub(super) fn directory(
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

    pub(super) fn dir_meta(
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

    pub(super) fn regular<R: Read>(
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

    pub(super) fn hard_link(
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
        let Some(target_dir) = self.resolve(target.parent().unwrap_or(Path::new("")), true)? else {
            let enoent = io::Error::from_raw_os_error(libc_enoent());
            return Err(link_err(self, enoent));
        };
        let result = self.replace(path, dir, name, |d| {
            fsops::hard_link(target_dir.as_fd(), target_name, d, name)
        });
        match result {
            Err(UnpackError::Create { source, .. }) => Err(link_err(self, source)),
            other => other,
        }
    }

    pub(super) fn special_meta(
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
    pub(super) fn apply_meta(
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
    pub(super) fn whiteout(&mut self, target: &Path) -> Result<(), UnpackError> {
        if self.layer_paths.contains(target) {
            return Ok(());
        }
        self.remove_tree(target)
    }

    /// `.wh..wh..opq`: removes every lower-layer entry of `dir`.
    pub(super) fn make_opaque(&mut self, dir: &Path) -> Result<(), UnpackError> {
        let Some(handle) = self.resolve(dir, true)? else {
            return Ok(());
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
