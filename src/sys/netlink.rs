//! A netlink socket (rtnetlink or nfnetlink): open, send one buffer, receive one datagram.
//!
//! Messages are built and parsed in `crate::network::netlink`; this file only holds the socket
//! and the one socket option nix has no wrapper for (extended acks, so the kernel's own words
//! reach the user: "Nexthop has invalid gateway" rather than a bare EINVAL).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{
    bind, recv, send, setsockopt, socket, sockopt, AddressFamily, MsgFlags, NetlinkAddr, SockFlag,
    SockProtocol, SockType,
};
use nix::sys::time::TimeVal;

/// NETLINK_EXT_ACK from linux/netlink.h.
const NETLINK_EXT_ACK: libc::c_int = 11;

/// Which netlink family a socket talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// NETLINK_ROUTE: links, addresses, routes.
    Route,
    /// NETLINK_NETFILTER: nf_tables.
    Netfilter,
}

pub struct NetlinkSocket {
    fd: OwnedFd,
}

impl NetlinkSocket {
    /// Opens a socket of `family` in the caller's current network namespace (the namespace is
    /// bound at creation: the socket keeps talking to it after a later setns).
    pub fn open(family: Family) -> Result<NetlinkSocket, Errno> {
        let proto = match family {
            Family::Route => SockProtocol::NetlinkRoute,
            Family::Netfilter => SockProtocol::NetlinkNetFilter,
        };
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            proto,
        )?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
        // A kernel that answers nothing must not hang `create` forever.
        setsockopt(
            &fd,
            sockopt::ReceiveTimeout,
            &TimeVal::from(libc::timeval {
                tv_sec: Duration::from_secs(5).as_secs() as libc::time_t,
                tv_usec: 0,
            }),
        )?;
        let on: libc::c_int = 1;
        // SAFETY: setsockopt reads sizeof(int) bytes from a live local; the fd is ours. An old
        // kernel without extended acks answers ENOPROTOOPT, which is harmless: errors then
        // carry only their errno.
        let _ = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_NETLINK,
                NETLINK_EXT_ACK,
                std::ptr::from_ref(&on).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        Ok(NetlinkSocket { fd })
    }

    pub fn send(&self, buf: &[u8]) -> Result<(), Errno> {
        let n = send(self.fd.as_raw_fd(), buf, MsgFlags::empty())?;
        if n != buf.len() {
            return Err(Errno::EMSGSIZE);
        }
        Ok(())
    }

    /// Receives one datagram (one or more messages) into `buf`; returns its length.
    pub fn recv(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        loop {
            match recv(self.fd.as_raw_fd(), buf, MsgFlags::empty()) {
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return Err(Errno::ETIMEDOUT),
                other => return other,
            }
        }
    }
}

impl AsFd for NetlinkSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
