//! Annotations and `linux.netDevices` -> [`NetworkPlan`], checked before the clone.
//!
//! | annotation          | value                                   | default        |
//! |---------------------|-----------------------------------------|----------------|
//! | `cella.net.mode`    | `bridge` (anything else but `none` is an error) | off    |
//! | `cella.net.bridge`  | Linux bridge to attach to               | `cella0`       |
//! | `cella.net.subnet`  | the bridge's IPv4 subnet, `A.B.C.D/N`   | `10.77.0.0/16` |
//! | `cella.net.ip`      | static address inside the subnet        | next free      |
//! | `cella.net.ports`   | `HOST:CONTAINER[/tcp\|udp]`, comma-separated | none      |

use std::collections::HashMap;
use std::net::Ipv4Addr;

use oci_spec::runtime::LinuxNetDevice;
use runtime_spec::validate::valid_interface_name;

use super::NetworkError;

pub const MODE: &str = "cella.net.mode";
pub const BRIDGE: &str = "cella.net.bridge";
pub const SUBNET: &str = "cella.net.subnet";
pub const IP: &str = "cella.net.ip";
pub const PORTS: &str = "cella.net.ports";
pub const DEFAULT_BRIDGE: &str = "cella0";
pub const DEFAULT_SUBNET: &str = "10.77.0.0/16";
/// The container side of the veth pair.
pub const CONTAINER_IFNAME: &str = "eth0";

/// An IPv4 subnet with no host bits set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Subnet {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn parse(s: &str) -> Result<Subnet, NetworkError> {
        let bad = |why: &str| NetworkError::Subnet {
            value: s.to_owned(),
            why: why.to_owned(),
        };
        let (addr, prefix) = s.split_once('/').ok_or_else(|| bad("want A.B.C.D/N"))?;
        let network: Ipv4Addr = addr.parse().map_err(|_| bad("not an IPv4 address"))?;
        let prefix: u8 = prefix.parse().map_err(|_| bad("bad prefix length"))?;
        // /31 and /32 leave no room for a gateway and a container.
        if !(1..=30).contains(&prefix) {
            return Err(bad("prefix length must be between 1 and 30"));
        }
        let subnet = Subnet { network, prefix };
        if u32::from(network) & !subnet.mask() != 0 {
            return Err(bad("host bits are set"));
        }
        Ok(subnet)
    }

    fn mask(self) -> u32 {
        u32::MAX << (32 - u32::from(self.prefix))
    }

    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network)
    }

    /// The bridge's address: the subnet's first one.
    pub fn gateway(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    /// Addresses a container may have: after the gateway, before the broadcast address.
    pub fn hosts(self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.network) + 2;
        let broadcast = u32::from(self.network) | !self.mask();
        (first..broadcast).map(Ipv4Addr::from)
    }

    pub fn is_host(self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && ip != self.network && ip != self.gateway() && {
            let broadcast = u32::from(self.network) | !self.mask();
            u32::from(ip) != broadcast
        }
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    /// The IP protocol number (what nft's `meta l4proto` loads).
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        }
    }
}

/// A published port: `host` on the host's addresses goes to `container` in the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Port {
    pub host: u16,
    pub container: u16,
    pub proto: Proto,
}

impl std::fmt::Display for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let proto = match self.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        };
        write!(f, "{}:{}/{proto}", self.host, self.container)
    }
}

pub fn parse_ports(s: &str) -> Result<Vec<Port>, NetworkError> {
    let mut ports: Vec<Port> = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let bad = |why: &str| NetworkError::Port {
            value: item.to_owned(),
            why: why.to_owned(),
        };
        let (pair, proto) = match item.split_once('/') {
            Some((pair, "tcp")) => (pair, Proto::Tcp),
            Some((pair, "udp")) => (pair, Proto::Udp),
            Some(_) => return Err(bad("protocol must be tcp or udp")),
            None => (item, Proto::Tcp),
        };
        let (host, container) = pair
            .split_once(':')
            .ok_or_else(|| bad("want HOSTPORT:CONTAINERPORT[/tcp|udp]"))?;
        let number = |p: &str| p.parse::<u16>().ok().filter(|n| *n > 0);
        let port = Port {
            host: number(host).ok_or_else(|| bad("host port must be 1 to 65535"))?,
            container: number(container).ok_or_else(|| bad("container port must be 1 to 65535"))?,
            proto,
        };
        if ports
            .iter()
            .any(|p| p.host == port.host && p.proto == port.proto)
        {
            return Err(bad("host port is listed twice"));
        }
        ports.push(port);
    }
    Ok(ports)
}

/// What bridge networking gives the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgePlan {
    pub bridge: String,
    pub subnet: Subnet,
    pub ip: Option<Ipv4Addr>,
    pub ports: Vec<Port>,
}

/// A host interface to move into the container's network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDevice {
    pub host_name: String,
    /// Its name in the container (may hold `%d`, which the kernel fills in).
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkPlan {
    pub bridge: Option<BridgePlan>,
    pub devices: Vec<NetDevice>,
}

impl NetworkPlan {
    pub fn is_empty(&self) -> bool {
        self.bridge.is_none() && self.devices.is_empty()
    }
}

/// Plans the container's networking. `new_netns`: the config asks for a new network namespace
/// (no path); bridge networking applies only then.
pub fn plan(
    annotations: Option<&HashMap<String, String>>,
    net_devices: Option<&HashMap<String, LinuxNetDevice>>,
    new_netns: bool,
) -> Result<NetworkPlan, NetworkError> {
    let empty = HashMap::new();
    let ann = annotations.unwrap_or(&empty);
    let get = |k: &str| ann.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let bridge = match get(MODE) {
        None | Some("none") => None,
        Some("bridge") if !new_netns => {
            log::warn!("{MODE}=bridge ignored: the config asks for no new network namespace");
            None
        }
        Some("bridge") => Some(plan_bridge(&get)?),
        Some(other) => return Err(NetworkError::Mode(other.to_owned())),
    };
    let mut devices: Vec<NetDevice> = net_devices
        .into_iter()
        .flatten()
        .map(|(host, d)| NetDevice {
            host_name: host.clone(),
            name: d
                .name()
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| host.clone()),
        })
        .collect();
    devices.sort_by(|a, b| a.host_name.cmp(&b.host_name));
    for d in &devices {
        if !valid_interface_name(&d.host_name) {
            return Err(NetworkError::IfName(d.host_name.clone()));
        }
        if !valid_interface_name(&d.name) {
            return Err(NetworkError::IfName(d.name.clone()));
        }
        if bridge.is_some() && d.name == CONTAINER_IFNAME {
            return Err(NetworkError::DeviceClash(d.host_name.clone()));
        }
    }
    Ok(NetworkPlan { bridge, devices })
}

fn plan_bridge<'a>(get: &impl Fn(&str) -> Option<&'a str>) -> Result<BridgePlan, NetworkError> {
    let bridge = get(BRIDGE).unwrap_or(DEFAULT_BRIDGE).to_owned();
    if !valid_interface_name(&bridge) {
        return Err(NetworkError::IfName(bridge));
    }
    let subnet = Subnet::parse(get(SUBNET).unwrap_or(DEFAULT_SUBNET))?;
    let ip = get(IP)
        .map(|s| {
            let ip: Ipv4Addr = s.parse().map_err(|_| NetworkError::Ip {
                value: s.to_owned(),
                why: "not an IPv4 address".to_owned(),
            })?;
            if !subnet.is_host(ip) {
                return Err(NetworkError::Ip {
                    value: s.to_owned(),
                    why: format!("not a container address of subnet {subnet}"),
                });
            }
            Ok(ip)
        })
        .transpose()?;
    let ports = get(PORTS).map(parse_ports).transpose()?.unwrap_or_default();
    Ok(BridgePlan {
        bridge,
        subnet,
        ip,
        ports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn no_mode_no_network() {
        let p = plan(Some(&ann(&[(IP, "10.77.0.9")])), None, true).unwrap();
        assert!(p.is_empty());
        assert!(plan(None, None, true).unwrap().is_empty());
    }

    #[test]
    fn bridge_defaults() {
        let p = plan(Some(&ann(&[(MODE, "bridge")])), None, true).unwrap();
        let b = p.bridge.unwrap();
        assert_eq!(b.bridge, "cella0");
        assert_eq!(b.subnet.to_string(), "10.77.0.0/16");
        assert_eq!(b.subnet.gateway(), Ipv4Addr::new(10, 77, 0, 1));
        assert_eq!(b.ip, None);
        assert!(b.ports.is_empty());
    }

    #[test]
    fn bridge_needs_a_new_netns() {
        let p = plan(Some(&ann(&[(MODE, "bridge")])), None, false).unwrap();
        assert!(p.bridge.is_none());
    }

    #[test]
    fn everything_set() {
        let a = ann(&[
            (MODE, "bridge"),
            (BRIDGE, "br-test"),
            (SUBNET, "192.168.5.0/24"),
            (IP, "192.168.5.7"),
            (PORTS, "8080:80, 5353:53/udp,2222:22/tcp"),
        ]);
        let b = plan(Some(&a), None, true).unwrap().bridge.unwrap();
        assert_eq!(b.bridge, "br-test");
        assert_eq!(b.ip, Some(Ipv4Addr::new(192, 168, 5, 7)));
        let shown: Vec<String> = b.ports.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["8080:80/tcp", "5353:53/udp", "2222:22/tcp"]);
    }

    #[test]
    fn errors_name_the_value() {
        let err = |pairs: &[(&str, &str)]| {
            let mut a = ann(&[(MODE, "bridge")]);
            a.extend(ann(pairs));
            plan(Some(&a), None, true).unwrap_err().to_string()
        };
        assert!(err(&[(SUBNET, "10.0.0.0")]).contains("\"10.0.0.0\""));
        assert!(err(&[(SUBNET, "10.0.0.1/8")]).contains("host bits"));
        assert!(err(&[(SUBNET, "10.0.0.0/31")]).contains("prefix"));
        assert!(err(&[(SUBNET, "300.0.0.0/8")]).contains("300.0.0.0/8"));
        assert!(err(&[(IP, "10.78.0.2")]).contains("10.78.0.2"));
        assert!(err(&[(IP, "10.77.0.1")]).contains("10.77.0.1"), "gateway");
        assert!(err(&[(IP, "10.77.255.255")]).contains("10.77.255.255"));
        assert!(err(&[(IP, "nope")]).contains("nope"));
        assert!(err(&[(PORTS, "80")]).contains("\"80\""));
        assert!(err(&[(PORTS, "80:0")]).contains("80:0"));
        assert!(err(&[(PORTS, "70000:80")]).contains("70000:80"));
        assert!(err(&[(PORTS, "80:80/sctp")]).contains("80:80/sctp"));
        assert!(err(&[(PORTS, "80:80,80:81")]).contains("twice"));
        assert!(err(&[(BRIDGE, "a-very-long-bridge-name")]).contains("a-very-long"));
        let e = plan(Some(&ann(&[(MODE, "host")])), None, true).unwrap_err();
        assert!(e.to_string().contains("\"host\""), "{e}");
    }

    #[test]
    fn same_port_on_two_protocols_is_fine() {
        let p = parse_ports("53:53/udp,53:53/tcp").unwrap();
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn subnet_hosts() {
        let s = Subnet::parse("10.1.2.0/30").unwrap();
        assert_eq!(s.hosts().collect::<Vec<_>>(), [Ipv4Addr::new(10, 1, 2, 2)]);
        assert!(s.is_host(Ipv4Addr::new(10, 1, 2, 2)));
        assert!(!s.is_host(Ipv4Addr::new(10, 1, 2, 3)));
    }

    #[test]
    fn net_devices_get_their_names() {
        let mut devs = HashMap::new();
        let mut d = LinuxNetDevice::default();
        d.set_name(Some("net%d".into()));
        devs.insert("dummy1".to_owned(), d);
        devs.insert("dummy0".to_owned(), LinuxNetDevice::default());
        let p = plan(None, Some(&devs), true).unwrap();
        assert_eq!(p.devices.len(), 2);
        assert_eq!(p.devices[0].name, "dummy0");
        assert_eq!(p.devices[1].name, "net%d");
        let mut clash = HashMap::new();
        let mut d = LinuxNetDevice::default();
        d.set_name(Some("eth0".into()));
        clash.insert("dummy0".to_owned(), d);
        let a = ann(&[(MODE, "bridge")]);
        assert!(plan(Some(&a), Some(&clash), true).is_err());
    }
}
