//! Where an image's files come from: a directory (OCI image layout or unpacked docker archive)
//! or a tar of one, read in place. A tar is indexed once (headers only, seeking over the data)
//! and each blob is then read straight from its offset in the archive: no copy is made.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use pathrs::flags::OpenFlags;
use pathrs::Root;

/// Small JSON documents (index, manifests, configs) are read whole; anything larger than this
/// is refused rather than read into memory.
pub const MAX_DOCUMENT: u64 = 16 << 20;

/// Links inside an archive are followed at most this many times.
const MAX_LINKS: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("open image directory {path}")]
    OpenDir {
        path: PathBuf,
        source: pathrs::error::Error,
    },
    #[error("open image archive {path}")]
    OpenArchive { path: PathBuf, source: io::Error },
    #[error("read image archive {path}")]
    ReadArchive { path: PathBuf, source: io::Error },
    #[error(
        "{path} is a compressed archive: decompress it first (gunzip/zstd -d), images are read \
         in place from an uncompressed tar"
    )]
    Compressed { path: PathBuf },
    #[error("{name} not found in image {image}")]
    NotFound { image: PathBuf, name: String },
    #[error("open {name} in image {image}")]
    Open {
        image: PathBuf,
        name: String,
        source: io::Error,
    },
    #[error("{name} in image {image} is larger than {MAX_DOCUMENT} bytes")]
    TooLarge { image: PathBuf, name: String },
    #[error("read {name} in image {image}")]
    Read {
        image: PathBuf,
        name: String,
        source: io::Error,
    },
    #[error("{name} in image archive {image} is a link loop or points outside the archive")]
    BadLink { image: PathBuf, name: String },
}

#[derive(Debug, Clone)]
enum Member {
    File {
        offset: u64,
        size: u64,
    },
    /// A symbolic or hard link, its target as a path from the archive's top.
    Link(String),
    Dir,
}

enum Kind {
    Dir(Root),
    Tar(HashMap<String, Member>),
}

/// An opened image directory or archive.
pub struct Source {
    path: PathBuf,
    kind: Kind,
}

/// The path of a member as a key: relative, `/`-separated, no `.` or empty parts; `None` when
/// it climbs out of the top.
pub(crate) fn member_key(path: &Path) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

impl Source {
    pub fn open(path: &Path) -> Result<Source, SourceError> {
        let kind = if path.is_dir() {
            let root = Root::open(path).map_err(|source| SourceError::OpenDir {
                path: path.to_path_buf(),
                source,
            })?;
            Kind::Dir(root)
        } else {
            Kind::Tar(index_tar(path)?)
        };
        Ok(Source {
            path: path.to_path_buf(),
            kind,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn exists(&self, name: &str) -> bool {
        match &self.kind {
            Kind::Dir(root) => root.resolve(name).is_ok(),
            Kind::Tar(members) => self.tar_member(members, name).is_ok(),
        }
    }

    /// Opens a file of the image for streaming, with its size.
    pub fn open_file(&self, name: &str) -> Result<(Box<dyn Read + Send>, u64), SourceError> {
        match &self.kind {
            Kind::Dir(root) => {
                let file = root
                    .open_subpath(name, OpenFlags::O_RDONLY)
                    .map_err(|err| {
                        if crate::unpack::is_not_found(&err) {
                            self.not_found(name)
                        } else {
                            SourceError::Open {
                                image: self.path.clone(),
                                name: name.to_string(),
                                source: io::Error::other(err),
                            }
                        }
                    })?;
                let size = file
                    .metadata()
                    .map_err(|source| self.read_error(name, source))?;
                if !size.is_file() {
                    return Err(self.not_found(name));
                }
                Ok((Box::new(file), size.len()))
            }
            Kind::Tar(members) => {
                let (offset, size) = self.tar_member(members, name)?;
                let mut file = File::open(&self.path).map_err(|source| SourceError::Open {
                    image: self.path.clone(),
                    name: name.to_string(),
                    source,
                })?;
                file.seek(SeekFrom::Start(offset))
                    .map_err(|source| self.read_error(name, source))?;
                Ok((Box::new(file.take(size)), size))
            }
        }
    }

    /// Reads a small file of the image whole.
    pub fn read_document(&self, name: &str) -> Result<Vec<u8>, SourceError> {
        let (reader, size) = self.open_file(name)?;
        if size > MAX_DOCUMENT {
            return Err(SourceError::TooLarge {
                image: self.path.clone(),
                name: name.to_string(),
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        reader
            .take(MAX_DOCUMENT)
            .read_to_end(&mut bytes)
            .map_err(|source| self.read_error(name, source))?;
        Ok(bytes)
    }

    fn tar_member(
        &self,
        members: &HashMap<String, Member>,
        name: &str,
    ) -> Result<(u64, u64), SourceError> {
        let mut key = member_key(Path::new(name)).ok_or_else(|| self.not_found(name))?;
        for _ in 0..MAX_LINKS {
            match members.get(&key) {
                Some(Member::File { offset, size }) => return Ok((*offset, *size)),
                Some(Member::Link(target)) => key = target.clone(),
                Some(Member::Dir) | None => return Err(self.not_found(name)),
            }
        }
        Err(SourceError::BadLink {
            image: self.path.clone(),
            name: name.to_string(),
        })
    }

    fn not_found(&self, name: &str) -> SourceError {
        SourceError::NotFound {
            image: self.path.clone(),
            name: name.to_string(),
        }
    }

    fn read_error(&self, name: &str, source: io::Error) -> SourceError {
        SourceError::Read {
            image: self.path.clone(),
            name: name.to_string(),
            source,
        }
    }
}

fn index_tar(path: &Path) -> Result<HashMap<String, Member>, SourceError> {
    let read_error = |source| SourceError::ReadArchive {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(|source| SourceError::OpenArchive {
        path: path.to_path_buf(),
        source,
    })?;
    let mut magic = [0u8; 4];
    let n = file.read(&mut magic).map_err(read_error)?;
    if n >= 2 && (magic[..2] == [0x1f, 0x8b] || magic[..n] == [0x28, 0xb5, 0x2f, 0xfd][..n]) {
        return Err(SourceError::Compressed {
            path: path.to_path_buf(),
        });
    }
    file.rewind().map_err(read_error)?;

    let mut members = HashMap::new();
    let mut archive = tar::Archive::new(file);
    for entry in archive.entries_with_seek().map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let entry_path = entry.path().map_err(read_error)?.into_owned();
        let Some(key) = member_key(&entry_path) else {
            continue;
        };
        let member = match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => Member::File {
                offset: entry.raw_file_position(),
                size: entry.size(),
            },
            tar::EntryType::Directory => Member::Dir,
            kind @ (tar::EntryType::Symlink | tar::EntryType::Link) => {
                let Some(target) = entry.link_name().map_err(read_error)? else {
                    continue;
                };
                // Symlink targets are relative to the link's directory, hard link targets to
                // the top of the archive.
                let target = if kind == tar::EntryType::Symlink && !target.is_absolute() {
                    entry_path.parent().unwrap_or(Path::new("")).join(target)
                } else {
                    target.into_owned()
                };
                match member_key(&target) {
                    Some(target) => Member::Link(target),
                    None => continue,
                }
            }
            _ => continue,
        };
        members.insert(key, member);
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_keys_are_normalised_and_stay_inside() {
        assert_eq!(member_key(Path::new("./index.json")).unwrap(), "index.json");
        assert_eq!(member_key(Path::new("/a//b/./c")).unwrap(), "a/b/c");
        assert_eq!(member_key(Path::new("a/../b")).unwrap(), "b");
        assert_eq!(member_key(Path::new("../b")), None);
        assert_eq!(member_key(Path::new("a/../../b")), None);
    }

    fn archive(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> tempfile::NamedTempFile {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, kind, data, link) in entries {
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            if let Some(link) = link {
                header.set_link_name(link).unwrap();
            }
            builder.append_data(&mut header, path, *data).unwrap();
        }
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, &builder.into_inner().unwrap()).unwrap();
        file
    }

    #[test]
    fn reads_archive_members_in_place_through_links() {
        let file = archive(&[
            ("./index.json", tar::EntryType::Regular, b"{}", None),
            ("abc/", tar::EntryType::Directory, b"", None),
            (
                "abc/layer.tar",
                tar::EntryType::Regular,
                b"layer bytes",
                None,
            ),
            (
                "def/layer.tar",
                tar::EntryType::Symlink,
                b"",
                Some("../abc/layer.tar"),
            ),
            ("ghi", tar::EntryType::Link, b"", Some("def/layer.tar")),
            ("loop", tar::EntryType::Symlink, b"", Some("loop")),
        ]);
        let source = Source::open(file.path()).unwrap();
        assert_eq!(source.read_document("index.json").unwrap(), b"{}");
        assert_eq!(
            source.read_document("def/layer.tar").unwrap(),
            b"layer bytes"
        );
        assert_eq!(source.read_document("ghi").unwrap(), b"layer bytes");
        assert!(matches!(
            source.read_document("abc"),
            Err(SourceError::NotFound { .. })
        ));
        assert!(matches!(
            source.read_document("nope"),
            Err(SourceError::NotFound { .. })
        ));
        assert!(matches!(
            source.read_document("loop"),
            Err(SourceError::BadLink { .. })
        ));
        assert!(source.exists("abc/layer.tar"));
        assert!(!source.exists("manifest.json"));
    }

    #[test]
    fn refuses_compressed_archives() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, &[0x1f, 0x8b, 8, 0, 0, 0]).unwrap();
        assert!(matches!(
            Source::open(file.path()),
            Err(SourceError::Compressed { .. })
        ));
    }

    #[test]
    fn directory_files_resolve_inside_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.json"), b"{}").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("escape")).unwrap();
        let source = Source::open(dir.path()).unwrap();
        assert_eq!(source.read_document("index.json").unwrap(), b"{}");
        // In-root resolution: /etc/hostname inside the directory, which does not exist.
        assert!(matches!(
            source.read_document("escape"),
            Err(SourceError::NotFound { .. })
        ));
    }
}
