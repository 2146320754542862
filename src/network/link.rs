//! Network interfaces over rtnetlink: bridges, veth pairs, moving a device between network
//! namespaces, up/down, delete.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

use super::netlink::{attrs, Conn, KernelError, Message, NLM_F_CREATE, NLM_F_EXCL};

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFF_UP: u32 = 1;
pub const LOOPBACK_INDEX: u32 = 1;

/// struct ifinfomsg: family, type, index, flags, change.
fn ifinfomsg(index: u32, up: bool) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    if up {
        b[8..12].copy_from_slice(&IFF_UP.to_ne_bytes());
        b[12..16].copy_from_slice(&IFF_UP.to_ne_bytes());
    }
    b
}

/// The index of the interface `name`, None when there is none.
pub fn index(conn: &mut Conn, name: &str) -> Result<Option<u32>, KernelError> {
    let mut m = Message::new(RTM_GETLINK, 0);
    m.raw(&ifinfomsg(0, false)).str(IFLA_IFNAME, name);
    match conn.get(&m) {
        Ok(reply) => Ok(reply
            .get(4..8)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_ne_bytes)),
        Err(e) if e.errno == Errno::ENODEV => Ok(None),
        Err(e) => Err(e),
    }
}

/// The kind of the interface (`IFLA_INFO_KIND`: "bridge", "veth"...), if it has one.
pub fn kind(conn: &mut Conn, name: &str) -> Result<Option<String>, KernelError> {
    let mut m = Message::new(RTM_GETLINK, 0);
    m.raw(&ifinfomsg(0, false)).str(IFLA_IFNAME, name);
    let reply = conn.get(&m)?;
    let info = attrs(reply.get(16..).unwrap_or_default())
        .find(|(k, _)| *k == IFLA_LINKINFO)
        .and_then(|(_, v)| attrs(v).find(|(k, _)| *k == IFLA_INFO_KIND))
        .map(|(_, v)| String::from_utf8_lossy(v).trim_end_matches('\0').to_owned());
    Ok(info)
}

/// Creates the bridge `name`, up.
pub fn create_bridge(conn: &mut Conn, name: &str) -> Result<(), KernelError> {
    let mut m = Message::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    m.raw(&ifinfomsg(0, true))
        .str(IFLA_IFNAME, name)
        .nest(IFLA_LINKINFO)
        .str(IFLA_INFO_KIND, "bridge")
        .end();
    conn.request(&m)
}

/// Creates a veth pair in one request: `host` here, attached to the bridge `master` and up,
/// and `peer` made directly in the network namespace `peer_ns` (so its name cannot clash with
/// one of ours). The peer is set up later, from inside: asking for it here fails with
/// ENOTCONN (a veth opens only once its pair is linked).
pub fn create_veth(
    conn: &mut Conn,
    host: &str,
    master: u32,
    peer: &str,
    peer_ns: BorrowedFd<'_>,
) -> Result<(), KernelError> {
    let ns_fd = u32::try_from(peer_ns.as_raw_fd()).map_err(|_| Errno::EBADF)?;
    let mut m = Message::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    m.raw(&ifinfomsg(0, true))
        .str(IFLA_IFNAME, host)
        .u32(IFLA_MASTER, master)
        .nest(IFLA_LINKINFO)
        .str(IFLA_INFO_KIND, "veth")
        .nest(IFLA_INFO_DATA)
        .nest(VETH_INFO_PEER)
        .raw(&ifinfomsg(0, false))
        .str(IFLA_IFNAME, peer)
        .u32(IFLA_NET_NS_FD, ns_fd)
        .end()
        .end()
        .end();
    conn.request(&m)
}

pub fn set_up(conn: &mut Conn, index: u32) -> Result<(), KernelError> {
    let mut m = Message::new(RTM_NEWLINK, 0);
    m.raw(&ifinfomsg(index, true));
    conn.request(&m)
}

/// Moves the interface `index` into the network namespace `ns`, named `name` there (a `%d`
/// in it is filled in by the kernel). The kernel refuses a name already taken there.
pub fn move_to_netns(
    conn: &mut Conn,
    index: u32,
    ns: BorrowedFd<'_>,
    name: &str,
) -> Result<(), KernelError> {
    let ns_fd = u32::try_from(ns.as_raw_fd()).map_err(|_| Errno::EBADF)?;
    let mut m = Message::new(RTM_NEWLINK, 0);
    m.raw(&ifinfomsg(index, false))
        .u32(IFLA_NET_NS_FD, ns_fd)
        .str(IFLA_IFNAME, name);
    conn.request(&m)
}

/// Deletes the interface `name` (for a veth, both ends). Returns false when there was none.
pub fn delete(conn: &mut Conn, name: &str) -> Result<bool, KernelError> {
    let mut m = Message::new(RTM_DELLINK, 0);
    m.raw(&ifinfomsg(0, false)).str(IFLA_IFNAME, name);
    match conn.request(&m) {
        Ok(()) => Ok(true),
        Err(e) if e.errno == Errno::ENODEV => Ok(false),
        Err(e) => Err(e),
    }
}

/// Every interface of the namespace: name and index.
pub fn all(conn: &mut Conn) -> Result<Vec<(String, u32)>, KernelError> {
    let mut m = Message::new(RTM_GETLINK, 0);
    m.raw(&ifinfomsg(0, false));
    let links = conn.dump(&m)?;
    Ok(links
        .iter()
        .filter_map(|l| {
            let index = u32::from_ne_bytes(l.get(4..8)?.try_into().ok()?);
            attrs(l.get(16..).unwrap_or_default())
                .find(|(k, _)| *k == IFLA_IFNAME)
                .map(|(_, v)| {
                    let name = String::from_utf8_lossy(v).trim_end_matches('\0').to_owned();
                    (name, index)
                })
        })
        .collect())
}
