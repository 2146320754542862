//! Putting a plan into the container's network namespace ([`attach`]) and taking it back
//! ([`release`]).
//!
//! Order in `attach`, and why:
//! 1. under the lease lock: reclaim leases of containers that no longer exist, pick the
//!    address, write the lease (before anything exists in the kernel, so that a runtime killed
//!    from here on leaves a record `delete` or the next reclaim follows), make the bridge and
//!    the nftables table on a bridge's first use, publish the ports;
//! 2. without the lock (concurrent creates go on in parallel): move `linux.netDevices` in
//!    (before the veth, so the namespace holds only `lo` and a `%d` name is easy to find),
//!    create the veth pair with its peer made inside the container's namespace, then address
//!    and route it from a netlink socket opened in that namespace.

use std::collections::HashSet;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::sched::{setns, CloneFlags};
use nix::unistd::Pid;

use super::addr::{self, Address};
use super::lease::{self, Lease, Leases};
use super::link;
use super::netlink::Conn;
use super::nft;
use super::plan::{BridgePlan, NetDevice, NetworkPlan, CONTAINER_IFNAME};
use super::{nl, NetworkError};
use crate::sys::netlink::Family;

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// The host side of the container's veth: unique per state root and id, at most 15 bytes.
pub fn veth_name(root: &Path, id: &str) -> String {
    // FNV-1a: stable across runs and versions (unlike std's hasher).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in root
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .chain(b"\0")
        .chain(id.as_bytes())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("vc{:012x}", h >> 16)
}

/// The runtime's own network namespace: an rtnetlink socket, and an nfnetlink one opened
/// only when nftables must change (most creates do not touch it).
struct Host {
    route: Conn,
    nft: Option<Conn>,
}

impl Host {
    fn open() -> Result<Host, NetworkError> {
        Ok(Host {
            route: Conn::open(Family::Route).map_err(NetworkError::Socket)?,
            nft: None,
        })
    }

    fn nft(&mut self) -> Result<&mut Conn, NetworkError> {
        if self.nft.is_none() {
            self.nft = Some(Conn::open(Family::Netfilter).map_err(NetworkError::Socket)?);
        }
        Ok(self.nft.as_mut().expect("just opened"))
    }
}

/// A netlink socket bound to the network namespace `ns` (the socket keeps it after we go back).
fn conn_in(ns: BorrowedFd<'_>) -> Result<Conn, NetworkError> {
    let own_path = Path::new("/proc/thread-self/ns/net");
    let own = File::open(own_path).map_err(|source| NetworkError::OpenNetns {
        path: own_path.to_owned(),
        source,
    })?;
    setns(ns, CloneFlags::CLONE_NEWNET).map_err(NetworkError::Setns)?;
    let conn = Conn::open(Family::Route).map_err(NetworkError::Socket);
    // Going back cannot fail for a namespace we were in a moment ago; if it did, carrying on
    // would make the rest of the runtime work in the container's namespace.
    setns(own.as_fd(), CloneFlags::CLONE_NEWNET).expect("return to the runtime's netns");
    conn
}

/// Configures the network namespace of the container process `pid` as `plan` says. On error
/// everything made so far is undone.
pub fn attach(root: &Path, id: &str, plan: &NetworkPlan, pid: Pid) -> Result<(), NetworkError> {
    if plan.is_empty() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let result = attach_inner(root, id, plan, pid);
    if result.is_err() {
        if let Err(e) = release(root, id) {
            log::warn!("undoing the network of {id}: {e}");
        }
    }
    log::debug!("network of {id} attached in {:?}", started.elapsed());
    result
}

fn attach_inner(root: &Path, id: &str, plan: &NetworkPlan, pid: Pid) -> Result<(), NetworkError> {
    let ns_path = format!("/proc/{pid}/ns/net");
    let ns = File::open(&ns_path).map_err(|source| NetworkError::OpenNetns {
        path: ns_path.into(),
        source,
    })?;
    let mut host = Host::open()?;
    let lease = plan
        .bridge
        .as_ref()
        .map(|b| lease_and_bridge(root, id, b, &mut host))
        .transpose()?;
    let mut inside = conn_in(ns.as_fd())?;
    let host = &mut host.route;
    move_devices(host, &mut inside, ns.as_fd(), &plan.devices)?;
    if let (Some(lease), Some(b)) = (lease, &plan.bridge) {
        let master = link::index(host, &b.bridge)
            .map_err(nl(|| format!("find bridge {}", b.bridge)))?
            .ok_or_else(|| NetworkError::NoDevice(b.bridge.clone()))?;
        let mut made = link::create_veth(host, &lease.veth, master, CONTAINER_IFNAME, ns.as_fd());
        if made
            .as_ref()
            .is_err_and(|e| e.errno == nix::errno::Errno::EEXIST)
        {
            // A leftover of an earlier container of this id whose namespace was pinned.
            log::info!("removing leftover veth {}", lease.veth);
            link::delete(host, &lease.veth).map_err(nl(|| format!("delete {}", lease.veth)))?;
            made = link::create_veth(host, &lease.veth, master, CONTAINER_IFNAME, ns.as_fd());
        }
        made.map_err(nl(|| {
            format!("create veth pair {}/{CONTAINER_IFNAME}", lease.veth)
        }))?;
        configure_inside(&mut inside, &lease)?;
    }
    Ok(())
}

/// Step 1 of the module comment, under the lease lock.
fn lease_and_bridge(
    root: &Path,
    id: &str,
    b: &BridgePlan,
    host: &mut Host,
) -> Result<Lease, NetworkError> {
    let leases = Leases::lock(root)?;
    let mut live = Vec::new();
    for l in leases.all()? {
        if lease::container_exists(root, &l.id) {
            live.push(l);
        } else {
            log::info!("reclaiming address {} of vanished container {}", l.ip, l.id);
            undo(host, &leases, &l);
        }
    }
    let same_bridge: Vec<&Lease> = live.iter().filter(|l| l.bridge == b.bridge).collect();
    if let Some(other) = same_bridge.iter().find(|l| l.subnet != b.subnet) {
        return Err(NetworkError::SubnetMismatch {
            bridge: b.bridge.clone(),
            used: other.subnet,
            want: b.subnet,
        });
    }
    let used: HashSet<_> = same_bridge.iter().map(|l| l.ip).collect();
    let ip = lease::pick(b.subnet, &used, b.ip)?;
    // Ports are checked against our own leases first: that names the conflict without asking
    // the kernel, and keeps us from ever removing another container's map element.
    for p in &b.ports {
        if live
            .iter()
            .flat_map(|l| &l.ports)
            .any(|q| q.host == p.host && q.proto == p.proto)
        {
            return Err(NetworkError::PortTaken(*p));
        }
    }
    let mut lease = Lease {
        id: id.to_owned(),
        bridge: b.bridge.clone(),
        subnet: b.subnet,
        ip,
        veth: veth_name(root, id),
        ports: b.ports.clone(),
    };
    leases.take(&lease)?;
    if live.is_empty() {
        nft::ensure_table(host.nft()?)
            .map_err(nl(|| format!("create nftables table {}", nft::TABLE)))?;
    }
    if same_bridge.is_empty() {
        first_use(host, b)?;
    }
    if !lease.ports.is_empty() {
        if let Err(e) = nft::add_ports(host.nft()?, ip, &lease.ports) {
            // Not ours to remove on cleanup: published by someone outside this state root.
            let taken = nft::taken_port(host.nft()?, ip, &lease.ports);
            lease.ports.clear();
            leases.update(&lease)?;
            return Err(match taken {
                Some(p) => NetworkError::PortTaken(p),
                None => nl(|| "publish ports".to_owned())(e),
            });
        }
    }
    Ok(lease)
}

/// The bridge's first container: make it (or adopt one that exists), give it the gateway
/// address, let the host forward, masquerade what leaves it.
fn first_use(hosts: &mut Host, b: &BridgePlan) -> Result<(), NetworkError> {
    let host = &mut hosts.route;
    let index = match link::index(host, &b.bridge).map_err(nl(|| format!("find {}", b.bridge)))? {
        Some(i) => {
            let kind = link::kind(host, &b.bridge).map_err(nl(|| format!("query {}", b.bridge)))?;
            if kind.as_deref() != Some("bridge") {
                return Err(NetworkError::NotBridge {
                    bridge: b.bridge.clone(),
                });
            }
            link::set_up(host, i).map_err(nl(|| format!("set {} up", b.bridge)))?;
            i
        }
        None => {
            link::create_bridge(host, &b.bridge)
                .map_err(nl(|| format!("create bridge {}", b.bridge)))?;
            link::index(host, &b.bridge)
                .map_err(nl(|| format!("find {}", b.bridge)))?
                .ok_or_else(|| NetworkError::NoDevice(b.bridge.clone()))?
        }
    };
    let gw = Address::ipv4(b.subnet.gateway(), b.subnet.prefix);
    addr::add(host, index, &gw).map_err(nl(|| {
        format!(
            "add {}/{} to {}",
            b.subnet.gateway(),
            b.subnet.prefix,
            b.bridge
        )
    }))?;
    enable_forwarding()?;
    nft::add_bridge(hosts.nft()?, &b.bridge)
        .map_err(nl(|| format!("masquerade traffic from {}", b.bridge)))
}

/// IPv4 forwarding in the runtime's own network namespace, where the bridge lives.
fn enable_forwarding() -> Result<(), NetworkError> {
    match std::fs::read(IP_FORWARD) {
        Ok(v) if v.starts_with(b"1") => Ok(()),
        _ => std::fs::write(IP_FORWARD, b"1").map_err(NetworkError::Forwarding),
    }
}

/// Inside the container: `lo` and `eth0` up, the address, the default route via the bridge.
fn configure_inside(inside: &mut Conn, lease: &Lease) -> Result<(), NetworkError> {
    link::set_up(inside, link::LOOPBACK_INDEX).map_err(nl(|| "set lo up".to_owned()))?;
    let eth0 = link::index(inside, CONTAINER_IFNAME)
        .map_err(nl(|| format!("find {CONTAINER_IFNAME}")))?
        .ok_or_else(|| NetworkError::NoDevice(CONTAINER_IFNAME.to_owned()))?;
    link::set_up(inside, eth0).map_err(nl(|| format!("set {CONTAINER_IFNAME} up")))?;
    addr::add(inside, eth0, &Address::ipv4(lease.ip, lease.subnet.prefix)).map_err(nl(|| {
        format!(
            "add {}/{} to {CONTAINER_IFNAME}",
            lease.ip, lease.subnet.prefix
        )
    }))?;
    addr::add_default_route(inside, lease.subnet.gateway(), eth0).map_err(nl(|| {
        format!("add default route via {}", lease.subnet.gateway())
    }))
}

/// linux.netDevices: each device moves in under its new name, keeps its permanent global
/// addresses (the move drops them) and is set up, as the runtime-spec asks.
fn move_devices(
    host: &mut Conn,
    inside: &mut Conn,
    ns: BorrowedFd<'_>,
    devices: &[NetDevice],
) -> Result<(), NetworkError> {
    for d in devices {
        let index = link::index(host, &d.host_name)
            .map_err(nl(|| format!("find network device {}", d.host_name)))?
            .ok_or_else(|| NetworkError::NoDevice(d.host_name.clone()))?;
        let addresses = addr::permanent_global(host, index)
            .map_err(nl(|| format!("list addresses of {}", d.host_name)))?;
        let before = link_names(inside)?;
        // The kernel moves the device under its host name, then renames it: a taken name
        // would fail only after the move. A "%d" template gets a free name from the kernel.
        if !d.name.contains("%d") && before.iter().any(|(n, _)| *n == d.name) {
            return Err(NetworkError::NameTaken {
                host: d.host_name.clone(),
                name: d.name.clone(),
            });
        }
        link::move_to_netns(host, index, ns, &d.name).map_err(nl(|| {
            format!("move {} into the container as {}", d.host_name, d.name)
        }))?;
        let after = link_names(inside)?;
        let (name, index) = after
            .into_iter()
            .find(|(n, _)| !before.iter().any(|(b, _)| b == n))
            .ok_or_else(|| NetworkError::NoDevice(d.name.clone()))?;
        for a in &addresses {
            addr::add(inside, index, a).map_err(nl(|| format!("restore an address of {name}")))?;
        }
        link::set_up(inside, index).map_err(nl(|| format!("set {name} up")))?;
        log::debug!("moved {} into the container as {name}", d.host_name);
    }
    Ok(())
}

fn link_names(conn: &mut Conn) -> Result<Vec<(String, u32)>, NetworkError> {
    link::all(conn).map_err(nl(|| "list interfaces".to_owned()))
}

/// Undoes one lease and forgets it: its published ports, the lease file.
///
/// The veth is not deleted here: the container process is dead (or killed just before), so
/// its network namespace is being freed, and the kernel destroys the pair with it, off our
/// path. Deleting it ourselves costs 3 to 30 ms here (unregistering a device waits for RCU
/// grace periods, and competes for the rtnl lock with the namespace's own teardown), which
/// would be most of what networking adds to `run`. When something else pins the namespace
/// (a bind mount made by a hook), the veth outlives the container; `attach` removes such a
/// leftover of the same name when it needs the name again.
fn undo(host: &mut Host, leases: &Leases, l: &Lease) {
    if !l.ports.is_empty() {
        let removed = host
            .nft()
            .and_then(|c| nft::remove_ports(c, &l.ports).map_err(nl(|| "unpublish".into())));
        if let Err(e) = removed {
            log::warn!("unpublish ports of {}: {e}", l.id);
        }
    }
    if let Err(e) = leases.release(l) {
        log::warn!("{e}");
    }
}

/// Takes back what [`attach`] gave the container `id`: ports and lease (the veth goes with
/// the namespace, see [`undo`]); and, when it was the last one, the bridge's masquerade
/// element and the nftables table. A container without networking costs one `stat`.
pub fn release(root: &Path, id: &str) -> Result<(), NetworkError> {
    if !root.join(lease::DIR).is_dir() {
        return Ok(());
    }
    let leases = Leases::lock(root)?;
    let all = leases.all()?;
    let (mine, rest): (Vec<Lease>, Vec<Lease>) = all.into_iter().partition(|l| l.id == id);
    if mine.is_empty() {
        return Ok(());
    }
    let mut host = Host::open()?;
    for l in &mine {
        undo(&mut host, &leases, l);
    }
    for l in &mine {
        if !rest.iter().any(|r| r.bridge == l.bridge) {
            nft::remove_bridge(host.nft()?, &l.bridge)
                .map_err(nl(|| format!("stop masquerading {}", l.bridge)))?;
        }
    }
    if rest.is_empty() {
        nft::delete_table(host.nft()?)
            .map_err(nl(|| format!("delete nftables table {}", nft::TABLE)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_names_fit_and_differ() {
        let a = veth_name(Path::new("/run/cella"), "web");
        let b = veth_name(Path::new("/run/cella"), "web2");
        let c = veth_name(Path::new("/tmp/other"), "web");
        assert!(a.len() <= 15 && a.starts_with("vc"), "{a}");
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, veth_name(Path::new("/run/cella"), "web"));
    }
}
