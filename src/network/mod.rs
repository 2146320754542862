//! Built-in networking for direct users of the runtime (engines bring their own through
//! hooks or a prepared network namespace):
//!
//! - `cella.net.mode=bridge` annotations give a container that asks for a new network
//!   namespace a veth pair to a Linux bridge, an address from the bridge's subnet, a default
//!   route, outbound masquerade and published ports ([`plan`] lists the annotations);
//! - `linux.netDevices` moves host interfaces into the container's network namespace.
//!
//! The plan is made and checked before the clone. After the clone, while the container
//! process still waits for the runtime, [`attach`] configures its network namespace from the
//! outside (`/proc/PID/ns/net`): everything over netlink, no `ip` or `nft` process. `delete`
//! calls [`release`].

mod addr;
mod lease;
mod link;
mod netlink;
mod nft;
mod plan;
mod setup;

use std::net::Ipv4Addr;
use std::path::PathBuf;

pub use netlink::KernelError;
pub use plan::{plan, NetworkPlan};
pub use setup::{attach, release};

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("cella.net.mode: unknown mode {0:?} (want bridge or none)")]
    Mode(String),
    #[error("cella.net.subnet {value:?}: {why}")]
    Subnet { value: String, why: String },
    #[error("cella.net.ip {value:?}: {why}")]
    Ip { value: String, why: String },
    #[error("cella.net.ports {value:?}: {why}")]
    Port { value: String, why: String },
    #[error("invalid interface name {0:?}")]
    IfName(String),
    #[error("linux.netDevices.{0}: eth0 is the container side of the bridge network")]
    DeviceClash(String),
    #[error("address {0} is already taken")]
    IpTaken(Ipv4Addr),
    #[error("no free address left in subnet {0}")]
    Exhausted(plan::Subnet),
    #[error("port {0} is already published")]
    PortTaken(plan::Port),
    #[error("bridge {bridge} is in use with subnet {used}, not {want}")]
    SubnetMismatch {
        bridge: String,
        used: plan::Subnet,
        want: plan::Subnet,
    },
    #[error("{bridge} exists and is not a bridge")]
    NotBridge { bridge: String },
    #[error("linux.netDevices.{host}: the container already has a network device named {name:?}")]
    NameTaken { host: String, name: String },
    #[error("network device {0:?} not found")]
    NoDevice(String),
    #[error("lease {path}: {source}")]
    Lease {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("open network namespace {path}: {source}")]
    OpenNetns {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("setns network namespace: {0}")]
    Setns(nix::errno::Errno),
    #[error("open netlink socket: {0}")]
    Socket(nix::errno::Errno),
    #[error("enable IPv4 forwarding: {0}")]
    Forwarding(std::io::Error),
    #[error("{op}: {source}")]
    Netlink { op: String, source: KernelError },
}

/// Wraps a netlink failure with what we were doing.
fn nl(op: impl FnOnce() -> String) -> impl FnOnce(KernelError) -> NetworkError {
    move |source| NetworkError::Netlink { op: op(), source }
}
