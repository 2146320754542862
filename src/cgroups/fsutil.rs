//! Small file helpers with cgroupfs semantics: one `write` per value, never create files
//! (a missing control file means the controller or kernel lacks the feature, and ENOENT naming
//! the file says so), rmdir retried while the kernel still tears the cgroup down.

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::thread;
use std::time::Duration;

use super::CgroupError;

/// Reads a control file, trimmed.
pub fn read(path: &Path) -> Result<String, CgroupError> {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|source| CgroupError::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// Reads a control file, `None` when it does not exist (directory gone or feature absent).
pub fn read_optional(path: &Path) -> Result<Option<String>, CgroupError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes `value` to an existing control file in one `write(2)`: the kernel parses each write
/// as one value, so a split write would be two (wrong) values.
pub fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    write_raw(path, value).map_err(|source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    })
}

/// Like [`write`] but returns the bare `io::Error` so callers can treat ENOENT specially.
pub fn write_raw(path: &Path, value: &str) -> io::Result<()> {
    let mut file = fs::OpenOptions::new().write(true).open(path)?;
    write_value(&mut file, value)
}

/// Writes one value to an open control file in one `write(2)`; the kernel takes every write
/// on its own, so one descriptor can carry several values (a list of device rules).
pub fn write_value(file: &mut fs::File, value: &str) -> io::Result<()> {
    let n = file.write(value.as_bytes())?;
    if n != value.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write: {n} of {} bytes", value.len()),
        ));
    }
    Ok(())
}

/// Removes one cgroup directory. A missing directory is fine (destroy is idempotent). EBUSY is
/// retried for a while: the kernel keeps a cgroup busy shortly after its last task exited.
pub fn rmdir(path: &Path) -> io::Result<()> {
    let mut delay = Duration::from_millis(5);
    let mut attempts = 0;
    loop {
        match fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempts < 8 => {
                attempts += 1;
                thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(200));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Removes a cgroup and every cgroup below it (sub-cgroups the container made), deepest first.
/// Only directories are removed: on cgroupfs the control files go away with their directory.
pub fn remove_tree(path: &Path) -> Result<(), CgroupError> {
    let entries = match fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(CgroupError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    for entry in entries {
        let entry = entry.map_err(|source| CgroupError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let is_dir = entry
            .file_type()
            .map_err(|source| CgroupError::Read {
                path: entry.path(),
                source,
            })?
            .is_dir();
        if is_dir {
            remove_tree(&entry.path())?;
        }
    }
    rmdir(path).map_err(|source| CgroupError::RemoveDir {
        path: path.to_path_buf(),
        source,
    })
}

/// Collects the sub-cgroup directories of `path` (inclusive), parents first.
pub fn cgroup_tree(path: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), CgroupError> {
    let entries = match fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(CgroupError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    out.push(path.to_path_buf());
    for entry in entries {
        let entry = entry.map_err(|source| CgroupError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            cgroup_tree(&entry.path(), out)?;
        }
    }
    Ok(())
}
