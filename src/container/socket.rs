//! The start socket's address, whatever the length of the state directory's path.
//!
//! A unix socket path must fit `sun_path` (108 bytes with its NUL). Engines pass long roots and
//! 64-character ids: containerd's CRI gives `<Root>/k8s.io/<64 hex>/`, so a root of more than
//! about 30 characters already overflows. runc waits on a fifo there, which has no such limit;
//! we reach a socket with a long path through an fd of its directory instead,
//! `/proc/self/fd/N/start.sock`, which the kernel resolves like the full path.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The longest path `bind`/`connect` take: `sun_path` less its terminating NUL.
const SUN_PATH_MAX: usize = 107;

/// An address for the socket `name` in `dir`; keep it alive while binding or connecting (it may
/// hold the directory open) and drop it right after, before anything is cloned or executed.
pub struct SocketAddress {
    pub path: PathBuf,
    _dir: Option<File>,
}

pub fn socket_address(dir: &Path, name: &str) -> std::io::Result<SocketAddress> {
    let full = dir.join(name);
    if full.as_os_str().len() <= SUN_PATH_MAX {
        return Ok(SocketAddress {
            path: full,
            _dir: None,
        });
    }
    // std opens with O_CLOEXEC: the fd never reaches a container process.
    let d = File::open(dir)?;
    Ok(SocketAddress {
        path: PathBuf::from(format!("/proc/self/fd/{}/{name}", d.as_raw_fd())),
        _dir: Some(d),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::{UnixListener, UnixStream};

    #[test]
    fn a_short_path_is_used_as_is() {
        let a = socket_address(Path::new("/run/cella/c1"), "start.sock").unwrap();
        assert_eq!(a.path, Path::new("/run/cella/c1/start.sock"));
    }

    #[test]
    fn a_socket_deeper_than_sun_path_binds_and_connects_through_its_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp
            .path()
            .join("k8s.io")
            .join("a".repeat(64))
            .join("b".repeat(40));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(dir.join("start.sock").as_os_str().len() > SUN_PATH_MAX);
        assert!(UnixListener::bind(dir.join("x.sock")).is_err());

        let addr = socket_address(&dir, "start.sock").unwrap();
        assert!(addr.path.starts_with("/proc/self/fd/"), "{:?}", addr.path);
        let listener = UnixListener::bind(&addr.path).unwrap();
        drop(addr);
        assert!(dir.join("start.sock").exists());

        let addr = socket_address(&dir, "start.sock").unwrap();
        let mut client = UnixStream::connect(&addr.path).unwrap();
        drop(addr);
        let (mut server, _) = listener.accept().unwrap();
        client.write_all(b"go").unwrap();
        let mut buf = [0u8; 2];
        server.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"go");
    }
}
