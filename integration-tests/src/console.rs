//! The receiving end of `--console-socket`: what containerd's shim does with a container's pty.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use tempfile::TempDir;

/// A listening unix stream socket in a private temporary directory; the runtime connects to
/// it and sends the pty master.
pub struct ConsoleSocket {
    _dir: TempDir,
    path: PathBuf,
    listener: UnixListener,
}

/// Everything the runtime sent on one connection, up to its end.
#[derive(Debug)]
pub struct ConsoleMessage {
    /// The first descriptor received (the pty master); later ones are closed.
    pub master: OwnedFd,
    /// The bytes that came with the descriptors (runc: the pty's name).
    pub payload: String,
    /// How many descriptors came, over all messages.
    pub fd_count: usize,
    /// How many `recvmsg` calls returned data or descriptors before the end of the stream.
    /// Stream sockets may merge plain bytes, but never across descriptors.
    pub message_count: usize,
}

impl ConsoleMessage {
    /// The number N of the pty whose master came (`tty-index` in /proc/self/fdinfo, which
    /// only pty masters have); `None` when the descriptor is not a pty master.
    pub fn pty_index(&self) -> Option<u32> {
        let info =
            std::fs::read_to_string(format!("/proc/self/fdinfo/{}", self.master.as_raw_fd()))
                .ok()?;
        info.lines()
            .find_map(|l| l.strip_prefix("tty-index:"))
            .and_then(|n| n.trim().parse().ok())
    }
}

impl ConsoleSocket {
    pub fn new() -> ConsoleSocket {
        let dir = tempfile::Builder::new()
            .prefix("cella-test-console-")
            .tempdir()
            .unwrap();
        let path = dir.path().join("console.sock");
        let listener = UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        ConsoleSocket {
            _dir: dir,
            path,
            listener,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path as a string, for `--console-socket`.
    pub fn arg(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    /// Whether someone connected (the connection is then taken and dropped).
    pub fn was_connected(&self) -> bool {
        self.listener.accept().is_ok()
    }

    /// Accepts one connection and reads it until the runtime closes it. Panics when nothing
    /// (or no descriptor) arrives within `timeout`; a connection still open at `timeout` after
    /// a descriptor came is taken as complete.
    #[track_caller]
    pub fn receive(&self, timeout: Duration) -> ConsoleMessage {
        let start = Instant::now();
        let stream: UnixStream = loop {
            match self.listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("accept on {}: {e}", self.path.display()),
            }
            assert!(
                start.elapsed() < timeout,
                "nobody connected to the console socket within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        let mut fds: Vec<OwnedFd> = Vec::new();
        let mut payload = Vec::new();
        let mut messages = 0;
        loop {
            let left = timeout.saturating_sub(start.elapsed());
            if !readable(&stream, left) {
                break;
            }
            let mut buf = [0u8; 4096];
            let mut iov = [IoSliceMut::new(&mut buf)];
            let mut space = nix::cmsg_space!([RawFd; 16]);
            let msg = recvmsg::<()>(
                stream.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            )
            .expect("recvmsg on the console socket");
            let mut got_fds = false;
            for cmsg in msg.cmsgs().expect("control messages") {
                if let ControlMessageOwned::ScmRights(raw) = cmsg {
                    got_fds = got_fds || !raw.is_empty();
                    for fd in raw {
                        // SAFETY: SCM_RIGHTS installed this descriptor in this process just
                        // now; nothing else owns it.
                        fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
                    }
                }
            }
            let n = msg.bytes;
            if n == 0 && !got_fds {
                break;
            }
            messages += 1;
            payload.extend_from_slice(&buf[..n]);
        }
        let fd_count = fds.len();
        let master = fds
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no descriptor came on the console socket ({messages} messages, payload {payload:?})"));
        ConsoleMessage {
            master,
            payload: String::from_utf8_lossy(&payload).into_owned(),
            fd_count,
            message_count: messages,
        }
    }
}

impl Default for ConsoleSocket {
    fn default() -> Self {
        ConsoleSocket::new()
    }
}

/// Whether `fd` has something to read (or its end) within `timeout`.
fn readable(fd: &impl AsFd, timeout: Duration) -> bool {
    let mut pfd = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    match poll(&mut pfd, PollTimeout::from(ms)) {
        Ok(n) => n > 0,
        Err(nix::errno::Errno::EINTR) => true,
        Err(e) => panic!("poll: {e}"),
    }
}

/// Reads a pty master until `pred` holds for what came so far (carriage returns dropped, as
/// the pty turns "\n" into "\r\n"), the slave side is closed by everyone (EIO), or `timeout`
/// passes. Returns the text either way; the caller asserts on it.
pub fn read_pty_until(master: &OwnedFd, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    let mut all = Vec::new();
    let text = |all: &[u8]| String::from_utf8_lossy(all).replace('\r', "");
    while !pred(&text(&all)) {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() || !readable(master, left) {
            break;
        }
        let mut buf = [0u8; 4096];
        match nix::unistd::read(master.as_raw_fd(), &mut buf) {
            Ok(0) | Err(nix::errno::Errno::EIO) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
            Err(e) => panic!("read from the pty master: {e}"),
        }
    }
    text(&all)
}
