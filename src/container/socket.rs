//! The start socket at any depth of `--root`.
//!
//! An AF_UNIX path holds at most 107 bytes (`sun_path` is 108 with its NUL), and engines nest
//! state deep: Docker's shim passes `--root /var/run/docker/runtime-runc/moby` and a 64-digit
//! id, which puts `<root>/<id>/start.sock` at exactly 108 bytes. Longer paths are reached
//! through the state directory's descriptor instead: `/proc/self/fd/N/start.sock` names the same
//! file and always fits. (runc meets no limit here: its `exec.fifo` is a FIFO, not a socket.)

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// The longest path `bind`/`connect` take: `sun_path` minus its terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

/// Binds a listening socket named `name` in directory `dir`.
pub fn bind_in(dir: &Path, name: &str) -> io::Result<UnixListener> {
    with_short_path(dir, name, |p| UnixListener::bind(p))
}

/// Connects to the socket named `name` in directory `dir`.
pub fn connect_in(dir: &Path, name: &str) -> io::Result<UnixStream> {
    with_short_path(dir, name, |p| UnixStream::connect(p))
}

/// Calls `f` with `dir/name` when it fits in `sun_path`, else with a path through an `O_PATH`
/// descriptor of `dir` that stays open until `f` returns.
fn with_short_path<T>(
    dir: &Path,
    name: &str,
    f: impl FnOnce(&Path) -> io::Result<T>,
) -> io::Result<T> {
    let full = dir.join(name);
    if full.as_os_str().len() <= MAX_SOCKET_PATH {
        return f(&full);
    }
    let dir_fd = open_path(dir)?;
    f(&proc_fd_path(&dir_fd, name))
}

fn open_path(dir: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)
}

fn proc_fd_path(dir_fd: &File, name: &str) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}/{name}", dir_fd.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A directory whose `start.sock` path is longer than `sun_path`, as under Docker's exec-root.
    fn deep_dir(base: &Path) -> PathBuf {
        let dir = base.join("runtime-runc/moby").join("d".repeat(64));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(dir.join("start.sock").as_os_str().len() > MAX_SOCKET_PATH);
        dir
    }

    #[test]
    fn a_socket_deeper_than_sun_path_binds_and_connects() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = deep_dir(tmp.path());
        let listener = bind_in(&dir, "start.sock").unwrap();
        assert!(
            dir.join("start.sock").exists(),
            "the socket lives in the directory itself"
        );
        let mut client = connect_in(&dir, "start.sock").unwrap();
        client.write_all(b"x").unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1];
        server.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"x");
    }

    #[test]
    fn a_missing_deep_socket_is_enoent_as_a_short_one() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = deep_dir(tmp.path());
        let err = connect_in(&dir, "start.sock").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
        let err = connect_in(tmp.path(), "start.sock").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    }

    #[test]
    fn short_paths_are_used_as_they_are() {
        let p = with_short_path(Path::new("/run/cella/c1"), "start.sock", |p| {
            Ok(p.to_path_buf())
        })
        .unwrap();
        assert_eq!(p, Path::new("/run/cella/c1/start.sock"));
    }
}
