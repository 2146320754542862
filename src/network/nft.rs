//! NAT over nf_tables netlink: one table of our own, `ip cella`, made once, and two sets the
//! containers come and go in. Per container nothing but set elements changes, so no rule
//! handle has to be remembered and two runtimes cannot append duplicate rules:
//!
//! ```text
//! table ip cella {
//!   set bridges { type ifname }                                   # one element per bridge
//!   map ports { type inet_proto . inet_service : ipv4_addr . inet_service }   # one per port
//!   chain prerouting  { type nat hook prerouting priority dstnat
//!                       fib daddr type local dnat ip to meta l4proto . th dport map @ports }
//!   chain output      { type nat hook output priority -100;  (the same rule) }
//!   chain postrouting { type nat hook postrouting priority srcnat
//!                       iifname @bridges oifname != @bridges masquerade }
//! }
//! ```
//!
//! Why netlink rather than `nft -f -`: no dependency on the nftables package at run time, no
//! process to spawn on the create path, and the kernel's error comes back as an errno
//! ("port already published" is EEXIST on the map element). Why not the rustables/nftnl
//! crates: they bind libnftnl (a C library) for what is a few fixed messages.

use std::net::Ipv4Addr;

use nix::errno::Errno;

use super::netlink::{Conn, KernelError, Message, NLM_F_CREATE, NLM_F_EXCL};
use super::plan::Port;

pub const TABLE: &str = "cella";
const BRIDGES: &str = "bridges";
const PORTS: &str = "ports";

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFPROTO_IPV4: u8 = 2;
const NLM_F_APPEND: u16 = 0x800;

const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_NEWSET: u16 = 9;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;
const NFT_MSG_GETGEN: u16 = 16;

const NFTA_TABLE_NAME: u16 = 1;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_SET_TABLE: u16 = 1;
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_FLAGS: u16 = 3;
const NFTA_SET_KEY_TYPE: u16 = 4;
const NFTA_SET_KEY_LEN: u16 = 5;
const NFTA_SET_DATA_TYPE: u16 = 6;
const NFTA_SET_DATA_LEN: u16 = 7;
const NFTA_SET_ID: u16 = 10;
const NFTA_SET_USERDATA: u16 = 13;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFT_SET_MAP: u32 = 0x8;

const NF_INET_PRE_ROUTING: u32 = 0;
const NF_INET_LOCAL_OUT: u32 = 3;
const NF_INET_POST_ROUTING: u32 = 4;
const NF_ACCEPT: u32 = 1;

/// Registers: NFT_REG_1 is the first 16-byte register, NFT_REG32_01 its second word.
const NFT_REG_1: u32 = 1;
const NFT_REG32_01: u32 = 9;
const NFT_META_IIFNAME: u32 = 6;
const NFT_META_OIFNAME: u32 = 7;
const NFT_META_L4PROTO: u32 = 16;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
const NFT_CMP_EQ: u32 = 0;
const NFT_LOOKUP_F_INV: u32 = 1;
const NFT_NAT_DNAT: u32 = 1;
const NFT_FIB_RESULT_ADDRTYPE: u32 = 3;
const NFTA_FIB_F_DADDR: u32 = 2;
const RTN_LOCAL: u32 = 2;

/// nft's datatype ids, so that `nft list ruleset` prints our sets in its own words
/// (concatenations are ids shifted by 6 bits each).
const TYPE_IPADDR: u32 = 7;
const TYPE_INET_PROTOCOL: u32 = 12;
const TYPE_INET_SERVICE: u32 = 13;
const TYPE_IFNAME: u32 = 41;

fn msg(kind: u16, flags: u16) -> Message {
    let mut m = Message::new((NFNL_SUBSYS_NFTABLES << 8) | kind, flags);
    m.raw(&[NFPROTO_IPV4, 0, 0, 0]);
    m
}

fn batch_marker(kind: u16) -> Message {
    let mut m = Message::new(kind, 0);
    let res_id = NFNL_SUBSYS_NFTABLES.to_be_bytes();
    m.raw(&[libc::AF_UNSPEC as u8, 0, res_id[0], res_id[1]]);
    m
}

/// One expression of a rule: `name` with the attributes `data` writes.
fn expr(m: &mut Message, name: &str, data: impl FnOnce(&mut Message)) {
    m.nest(NFTA_LIST_ELEM)
        .str(NFTA_EXPR_NAME, name)
        .nest(NFTA_EXPR_DATA);
    data(m);
    m.end().end();
}

fn data_value(m: &mut Message, kind: u16, value: &[u8]) {
    m.nest(kind).attr(NFTA_DATA_VALUE, value).end();
}

fn ifname_key(name: &str) -> [u8; 16] {
    let mut key = [0u8; 16];
    let n = name.len().min(15);
    key[..n].copy_from_slice(&name.as_bytes()[..n]);
    key
}

/// `meta l4proto . th dport`, each part in a 4-byte register word.
fn port_key(port: &Port) -> [u8; 8] {
    let p = port.host.to_be_bytes();
    [port.proto.number(), 0, 0, 0, p[0], p[1], 0, 0]
}

/// `ipv4_addr . inet_service`.
fn port_target(ip: Ipv4Addr, port: &Port) -> [u8; 8] {
    let a = ip.octets();
    let p = port.container.to_be_bytes();
    [a[0], a[1], a[2], a[3], p[0], p[1], 0, 0]
}

/// The table, its sets, chains and rules: made in one batch, so the table exists complete
/// or not at all.
pub fn table_batch() -> Vec<Message> {
    let mut out = vec![batch_marker(NFNL_MSG_BATCH_BEGIN)];
    let mut table = msg(NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL);
    table.str(NFTA_TABLE_NAME, TABLE);
    out.push(table);
    let set = |name: &str, id: u32, key: (u32, u32), data: Option<(u32, u32)>| {
        let mut m = msg(NFT_MSG_NEWSET, NLM_F_CREATE);
        m.str(NFTA_SET_TABLE, TABLE)
            .str(NFTA_SET_NAME, name)
            .be32(NFTA_SET_FLAGS, if data.is_some() { NFT_SET_MAP } else { 0 })
            .be32(NFTA_SET_KEY_TYPE, key.0)
            .be32(NFTA_SET_KEY_LEN, key.1)
            .be32(NFTA_SET_ID, id);
        if let Some((t, len)) = data {
            m.be32(NFTA_SET_DATA_TYPE, t).be32(NFTA_SET_DATA_LEN, len);
        }
        m
    };
    let mut bridges = set(BRIDGES, 1, (TYPE_IFNAME, 16), None);
    // Only for `nft list`: interface names are in host byte order (nft's key-byteorder
    // user data: type 0, length 4, BYTEORDER_HOST_ENDIAN = 1).
    let mut udata = vec![0u8, 4];
    udata.extend_from_slice(&1u32.to_ne_bytes());
    bridges.attr(NFTA_SET_USERDATA, &udata);
    out.push(bridges);
    out.push(set(
        PORTS,
        2,
        ((TYPE_INET_PROTOCOL << 6) | TYPE_INET_SERVICE, 8),
        Some(((TYPE_IPADDR << 6) | TYPE_INET_SERVICE, 8)),
    ));
    for (name, hook, priority) in [
        ("prerouting", NF_INET_PRE_ROUTING, -100i32),
        ("output", NF_INET_LOCAL_OUT, -100),
        ("postrouting", NF_INET_POST_ROUTING, 100),
    ] {
        let mut m = msg(NFT_MSG_NEWCHAIN, NLM_F_CREATE);
        m.str(NFTA_CHAIN_TABLE, TABLE)
            .str(NFTA_CHAIN_NAME, name)
            .nest(NFTA_CHAIN_HOOK)
            .be32(NFTA_HOOK_HOOKNUM, hook)
            .be32(NFTA_HOOK_PRIORITY, priority as u32)
            .end()
            .be32(NFTA_CHAIN_POLICY, NF_ACCEPT)
            .str(NFTA_CHAIN_TYPE, "nat");
        out.push(m);
    }
    out.push(dnat_rule("prerouting"));
    out.push(dnat_rule("output"));
    out.push(masquerade_rule());
    out.push(batch_marker(NFNL_MSG_BATCH_END));
    out
}

fn rule(chain: &str) -> Message {
    let mut m = msg(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
    m.str(NFTA_RULE_TABLE, TABLE)
        .str(NFTA_RULE_CHAIN, chain)
        .nest(NFTA_RULE_EXPRESSIONS);
    m
}

/// `fib daddr type local dnat ip to meta l4proto . th dport map @ports`
fn dnat_rule(chain: &str) -> Message {
    let mut m = rule(chain);
    expr(&mut m, "fib", |m| {
        m.be32(1, NFT_REG_1)
            .be32(2, NFT_FIB_RESULT_ADDRTYPE)
            .be32(3, NFTA_FIB_F_DADDR);
    });
    expr(&mut m, "cmp", |m| {
        m.be32(1, NFT_REG_1).be32(2, NFT_CMP_EQ);
        data_value(m, 3, &RTN_LOCAL.to_ne_bytes());
    });
    expr(&mut m, "meta", |m| {
        m.be32(1, NFT_REG_1).be32(2, NFT_META_L4PROTO);
    });
    expr(&mut m, "payload", |m| {
        m.be32(1, NFT_REG32_01)
            .be32(2, NFT_PAYLOAD_TRANSPORT_HEADER)
            .be32(3, 2)
            .be32(4, 2);
    });
    expr(&mut m, "lookup", |m| {
        m.str(1, PORTS).be32(2, NFT_REG_1).be32(3, NFT_REG_1);
    });
    expr(&mut m, "nat", |m| {
        m.be32(1, NFT_NAT_DNAT)
            .be32(2, u32::from(NFPROTO_IPV4))
            .be32(3, NFT_REG_1)
            .be32(4, NFT_REG_1)
            .be32(5, NFT_REG32_01)
            .be32(6, NFT_REG32_01);
    });
    m.end();
    m
}

/// `iifname @bridges oifname != @bridges masquerade`: what leaves a bridge for elsewhere.
fn masquerade_rule() -> Message {
    let mut m = rule("postrouting");
    expr(&mut m, "meta", |m| {
        m.be32(1, NFT_REG_1).be32(2, NFT_META_IIFNAME);
    });
    expr(&mut m, "lookup", |m| {
        m.str(1, BRIDGES).be32(2, NFT_REG_1);
    });
    expr(&mut m, "meta", |m| {
        m.be32(1, NFT_REG_1).be32(2, NFT_META_OIFNAME);
    });
    expr(&mut m, "lookup", |m| {
        m.str(1, BRIDGES)
            .be32(2, NFT_REG_1)
            .be32(5, NFT_LOOKUP_F_INV);
    });
    expr(&mut m, "masq", |_| {});
    m.end();
    m
}

/// One element message for `set`: key, and data for a map.
fn element(kind: u16, flags: u16, set: &str, key: &[u8], data: Option<&[u8]>) -> Message {
    let mut m = msg(kind, flags);
    m.str(NFTA_SET_ELEM_LIST_TABLE, TABLE)
        .str(NFTA_SET_ELEM_LIST_SET, set)
        .nest(NFTA_SET_ELEM_LIST_ELEMENTS)
        .nest(NFTA_LIST_ELEM);
    data_value(&mut m, NFTA_SET_ELEM_KEY, key);
    if let Some(d) = data {
        data_value(&mut m, NFTA_SET_ELEM_DATA, d);
    }
    m.end().end();
    m
}

fn barrier() -> Message {
    let mut m = Message::new((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN, 0);
    m.raw(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
    m
}

/// Runs one batch of `msgs` (without the begin/end markers).
fn run(conn: &mut Conn, msgs: Vec<Message>) -> Result<(), KernelError> {
    let mut all = Vec::with_capacity(msgs.len() + 2);
    all.push(batch_marker(NFNL_MSG_BATCH_BEGIN));
    all.extend(msgs);
    all.push(batch_marker(NFNL_MSG_BATCH_END));
    conn.batch(&all, &barrier())
}

/// Makes the table unless it exists.
pub fn ensure_table(conn: &mut Conn) -> Result<(), KernelError> {
    match conn.batch(&table_batch(), &barrier()) {
        Err(e) if e.errno == Errno::EEXIST => Ok(()),
        other => other,
    }
}

/// Masquerades what leaves the bridge `name`.
pub fn add_bridge(conn: &mut Conn, name: &str) -> Result<(), KernelError> {
    run(
        conn,
        vec![element(
            NFT_MSG_NEWSETELEM,
            NLM_F_CREATE,
            BRIDGES,
            &ifname_key(name),
            None,
        )],
    )
}

/// Publishes `ports` of the container `ip`, all or none. EEXIST: one is already published.
pub fn add_ports(conn: &mut Conn, ip: Ipv4Addr, ports: &[Port]) -> Result<(), KernelError> {
    let msgs = ports
        .iter()
        .map(|p| {
            element(
                NFT_MSG_NEWSETELEM,
                NLM_F_CREATE | NLM_F_EXCL,
                PORTS,
                &port_key(p),
                Some(&port_target(ip, p)),
            )
        })
        .collect();
    run(conn, msgs)
}

/// Which of `ports` is taken: tries them one by one (only after [`add_ports`] failed).
pub fn taken_port(conn: &mut Conn, ip: Ipv4Addr, ports: &[Port]) -> Option<Port> {
    for p in ports {
        match add_ports(conn, ip, std::slice::from_ref(p)) {
            Ok(()) => {
                let _ = remove_ports(conn, std::slice::from_ref(p));
            }
            Err(e) if e.errno == Errno::EEXIST => return Some(*p),
            Err(_) => {}
        }
    }
    None
}

/// Removes what [`add_ports`] added; missing elements (or table) are fine.
pub fn remove_ports(conn: &mut Conn, ports: &[Port]) -> Result<(), KernelError> {
    for p in ports {
        let m = element(NFT_MSG_DELSETELEM, 0, PORTS, &port_key(p), None);
        match run(conn, vec![m]) {
            Err(e) if e.errno == Errno::ENOENT => {}
            other => other?,
        }
    }
    Ok(())
}

pub fn remove_bridge(conn: &mut Conn, name: &str) -> Result<(), KernelError> {
    let m = element(NFT_MSG_DELSETELEM, 0, BRIDGES, &ifname_key(name), None);
    match run(conn, vec![m]) {
        Err(e) if e.errno == Errno::ENOENT => Ok(()),
        other => other,
    }
}

/// Removes the table with everything in it (when no container uses networking any more).
pub fn delete_table(conn: &mut Conn) -> Result<(), KernelError> {
    let mut m = msg(NFT_MSG_DELTABLE, 0);
    m.str(NFTA_TABLE_NAME, TABLE);
    match run(conn, vec![m]) {
        Err(e) if e.errno == Errno::ENOENT => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::plan::Proto;

    #[test]
    fn port_elements_match_register_layout() {
        let p = Port {
            host: 8080,
            container: 80,
            proto: Proto::Tcp,
        };
        // What `nft --debug=netlink` shows for `tcp . 8080 : 10.1.2.3 . 80`.
        assert_eq!(port_key(&p), [6, 0, 0, 0, 0x1f, 0x90, 0, 0]);
        assert_eq!(
            port_target(Ipv4Addr::new(10, 1, 2, 3), &p),
            [10, 1, 2, 3, 0, 80, 0, 0]
        );
        assert_eq!(&ifname_key("br0")[..4], b"br0\0");
    }

    #[test]
    fn table_batch_is_framed() {
        let b = table_batch();
        assert_eq!(b.len(), 11);
    }
}
