//! Addresses and routes over rtnetlink.

use std::net::Ipv4Addr;

use nix::errno::Errno;

use super::netlink::{attrs, Conn, KernelError, Message, NLM_F_CREATE, NLM_F_EXCL};

const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;
const IFA_F_PERMANENT: u32 = 0x80;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RTN_UNICAST: u8 = 1;

/// An address of an interface, as rtnetlink describes it (any family).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub family: u8,
    pub prefix: u8,
    pub scope: u8,
    /// IFA_LOCAL (IPv4 point-to-point) or IFA_ADDRESS bytes.
    pub local: Option<Vec<u8>>,
    pub address: Option<Vec<u8>>,
    pub broadcast: Option<Vec<u8>>,
}

impl Address {
    pub fn ipv4(ip: Ipv4Addr, prefix: u8) -> Address {
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        let broadcast = Ipv4Addr::from(u32::from(ip) | !mask);
        Address {
            family: libc::AF_INET as u8,
            prefix,
            scope: RT_SCOPE_UNIVERSE,
            local: Some(ip.octets().to_vec()),
            address: Some(ip.octets().to_vec()),
            broadcast: Some(broadcast.octets().to_vec()),
        }
    }
}

/// struct ifaddrmsg: family, prefixlen, flags, scope, index.
fn ifaddrmsg(family: u8, prefix: u8, scope: u8, index: u32) -> [u8; 8] {
    let mut b = [family, prefix, 0, scope, 0, 0, 0, 0];
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b
}

/// Adds `addr` to the interface `index`; an address it already has is fine.
pub fn add(conn: &mut Conn, index: u32, addr: &Address) -> Result<(), KernelError> {
    let mut m = Message::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
    m.raw(&ifaddrmsg(addr.family, addr.prefix, addr.scope, index));
    for (kind, value) in [
        (IFA_LOCAL, &addr.local),
        (IFA_ADDRESS, &addr.address),
        (IFA_BROADCAST, &addr.broadcast),
    ] {
        if let Some(v) = value {
            m.attr(kind, v);
        }
    }
    match conn.request(&m) {
        Err(e) if e.errno == Errno::EEXIST => Ok(()),
        other => other,
    }
}

/// The permanent addresses of global scope of the interface `index`: what the runtime-spec
/// asks to keep when a device moves into the container.
pub fn permanent_global(conn: &mut Conn, index: u32) -> Result<Vec<Address>, KernelError> {
    let mut m = Message::new(RTM_GETADDR, 0);
    m.raw(&ifaddrmsg(libc::AF_UNSPEC as u8, 0, 0, 0));
    let mut out = Vec::new();
    for reply in conn.dump(&m)? {
        let Some(head) = reply.get(..8) else { continue };
        let if_index = u32::from_ne_bytes([head[4], head[5], head[6], head[7]]);
        if if_index != index || head[3] != RT_SCOPE_UNIVERSE {
            continue;
        }
        let mut flags = u32::from(head[2]);
        let mut addr = Address {
            family: head[0],
            prefix: head[1],
            scope: head[3],
            local: None,
            address: None,
            broadcast: None,
        };
        for (kind, value) in attrs(&reply[8..]) {
            match kind {
                IFA_LOCAL => addr.local = Some(value.to_vec()),
                IFA_ADDRESS => addr.address = Some(value.to_vec()),
                IFA_BROADCAST => addr.broadcast = Some(value.to_vec()),
                IFA_FLAGS if value.len() == 4 => {
                    flags = u32::from_ne_bytes([value[0], value[1], value[2], value[3]]);
                }
                _ => {}
            }
        }
        if flags & IFA_F_PERMANENT != 0 {
            out.push(addr);
        }
    }
    Ok(out)
}

/// Adds the default IPv4 route via `gateway` on the interface `index`.
pub fn add_default_route(
    conn: &mut Conn,
    gateway: Ipv4Addr,
    index: u32,
) -> Result<(), KernelError> {
    let mut m = Message::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
    // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
    let mut rtmsg = [0u8; 12];
    rtmsg[0] = libc::AF_INET as u8;
    rtmsg[4] = RT_TABLE_MAIN;
    rtmsg[5] = RTPROT_BOOT;
    rtmsg[6] = RT_SCOPE_UNIVERSE;
    rtmsg[7] = RTN_UNICAST;
    m.raw(&rtmsg)
        .attr(RTA_GATEWAY, &gateway.octets())
        .u32(RTA_OIF, index);
    conn.request(&m)
}
