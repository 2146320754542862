//! A typed SOCK_SEQPACKET channel: one serde message per packet.

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Largest message: an error text with a path or two.
const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("socketpair: {0}")]
    Pair(Errno),
    #[error("send to the {peer}: {source}")]
    Send { peer: &'static str, source: Errno },
    #[error("receive from the {peer}: {source}")]
    Recv { peer: &'static str, source: Errno },
    #[error("malformed message from the {peer}: {source}")]
    Decode {
        peer: &'static str,
        source: serde_json::Error,
    },
}

pub struct Channel {
    fd: OwnedFd,
    peer: &'static str,
}

/// Makes the (parent end, child end) pair, both close-on-exec.
pub fn pair() -> Result<(Channel, Channel), ChannelError> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(ChannelError::Pair)?;
    Ok((
        Channel {
            fd: a,
            peer: "container process",
        },
        Channel {
            fd: b,
            peer: "runtime",
        },
    ))
}

impl Channel {
    pub fn send<T: Serialize>(&self, msg: &T) -> Result<(), ChannelError> {
        let data = serde_json::to_vec(msg).expect("protocol messages always serialise");
        loop {
            match send(self.fd_raw(), &data, MsgFlags::MSG_NOSIGNAL) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(source) => {
                    return Err(ChannelError::Send {
                        peer: self.peer,
                        source,
                    })
                }
            }
        }
    }

    /// Sends `msg` with `fds` attached (SCM_RIGHTS); the receiver gets its own copies.
    pub fn send_with_fds<T: Serialize>(
        &self,
        msg: &T,
        fds: &[std::os::fd::RawFd],
    ) -> Result<(), ChannelError> {
        use nix::sys::socket::{sendmsg, ControlMessage};
        let data = serde_json::to_vec(msg).expect("protocol messages always serialise");
        let iov = [std::io::IoSlice::new(&data)];
        let cmsg = [ControlMessage::ScmRights(fds)];
        sendmsg::<()>(self.fd_raw(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None)
            .map(drop)
            .map_err(|source| ChannelError::Send {
                peer: self.peer,
                source,
            })
    }

    /// Receives a message sent with [`Channel::send_with_fds`], and the fds it carried.
    pub fn recv_with_fds<T: DeserializeOwned>(
        &self,
    ) -> Result<Option<(T, Vec<OwnedFd>)>, ChannelError> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned};
        let mut buf = vec![0u8; MAX_MESSAGE];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 64]);
        let (n, fds) = loop {
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let msg = match recvmsg::<()>(
                self.fd_raw(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(msg) => msg,
                Err(e) if retry(e) => continue,
                Err(source) => {
                    return Err(ChannelError::Recv {
                        peer: self.peer,
                        source,
                    })
                }
            };
            let mut fds = Vec::new();
            for c in msg.cmsgs().map_err(|source| ChannelError::Recv {
                peer: self.peer,
                source,
            })? {
                if let ControlMessageOwned::ScmRights(raw) = c {
                    // The kernel installed these fds for us just now: they are ours.
                    fds.extend(raw.into_iter().map(crate::sys::fd::owned));
                }
            }
            break (msg.bytes, fds);
        };
        if n == 0 {
            return Ok(None);
        }
        serde_json::from_slice(&buf[..n])
            .map(|m| Some((m, fds)))
            .map_err(|source| ChannelError::Decode {
                peer: self.peer,
                source,
            })
    }

    /// The next message, or None when the peer has closed its end.
    pub fn recv<T: DeserializeOwned>(&self) -> Result<Option<T>, ChannelError> {
        let mut buf = vec![0u8; MAX_MESSAGE];
        let n = loop {
            match recv(self.fd_raw(), &mut buf, MsgFlags::empty()) {
                Ok(n) => break n,
                Err(e) if retry(e) => continue,
                Err(source) => {
                    return Err(ChannelError::Recv {
                        peer: self.peer,
                        source,
                    })
                }
            }
        };
        if n == 0 {
            return Ok(None);
        }
        serde_json::from_slice(&buf[..n])
            .map(Some)
            .map_err(|source| ChannelError::Decode {
                peer: self.peer,
                source,
            })
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd_raw()
    }

    fn fd_raw(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.fd.as_fd().as_raw_fd()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SendFdError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("sendmsg: {0}")]
    Send(Errno),
}

/// Connects to the AF_UNIX socket at `path` and sends `fd` in one SCM_RIGHTS message with
/// `payload` (console sockets, pidfd sockets).
pub fn send_fd_to(
    path: &std::path::Path,
    fd: std::os::fd::BorrowedFd<'_>,
    payload: &str,
) -> Result<(), SendFdError> {
    use nix::sys::socket::{sendmsg, ControlMessage};
    use std::os::fd::AsRawFd;
    let sock = std::os::unix::net::UnixStream::connect(path).map_err(SendFdError::Connect)?;
    let fds = [fd.as_raw_fd()];
    let iov = [std::io::IoSlice::new(payload.as_bytes())];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map(drop)
    .map_err(SendFdError::Send)
}

/// Whether a failed receive is to be tried again. ECONNRESET: the peer closed its end while
/// messages of ours were still unread there (a child that fails before reading what the
/// runtime sent ahead). The kernel reports that before the messages the peer sent before
/// closing, and only once: the next receive returns them, then end of file.
fn retry(e: Errno) -> bool {
    matches!(e, Errno::EINTR | Errno::ECONNRESET)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::protocol::{FromChild, ToChild};

    #[test]
    fn messages_cross_and_eof_is_none() {
        let (parent, child) = pair().unwrap();
        child.send(&FromChild::InitPid(7)).unwrap();
        parent.send(&ToChild::Continue).unwrap();
        assert_eq!(
            parent.recv::<FromChild>().unwrap(),
            Some(FromChild::InitPid(7))
        );
        assert_eq!(child.recv::<ToChild>().unwrap(), Some(ToChild::Continue));
        drop(child);
        assert_eq!(parent.recv::<FromChild>().unwrap(), None);
    }

    #[test]
    fn a_peer_closing_with_unread_messages_still_delivers_its_last_words() {
        for with_fds in [false, true] {
            let (parent, child) = pair().unwrap();
            // Sent ahead, never read: the child fails first.
            parent.send(&ToChild::Continue).unwrap();
            parent.send(&ToChild::HooksDone).unwrap();
            child.send(&FromChild::InitPid(9)).unwrap();
            drop(child);
            let got = if with_fds {
                parent.recv_with_fds::<FromChild>().unwrap().map(|(m, _)| m)
            } else {
                parent.recv::<FromChild>().unwrap()
            };
            assert_eq!(got, Some(FromChild::InitPid(9)));
            assert_eq!(parent.recv::<FromChild>().unwrap(), None);
        }
    }
}
