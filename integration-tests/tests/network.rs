//! Built-in networking (cella only): `cella.net.*` annotations and `linux.netDevices`.
//!
//! Nothing here touches the machine's own network namespace. Every test makes two network
//! namespaces of its own: "host", where the runtime runs (through a wrapper that `nsenter`s
//! it there) and where the bridge, veths and nftables table appear; and "outside", a second
//! machine linked to host by a veth, with no route to the containers' subnet (so a reply
//! there only comes back when masquerade works). Drop removes both namespaces, and with them
//! every interface and rule in them, also after a failed assertion.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use integration_tests::{requires, wait_for, Bundle, Req, Runtime};
use serde_json::{json, Value};

/// Two network namespaces and the runtime wrapped to run in the first.
struct Net {
    host: String,
    outside: String,
    /// The link's /24: host is .1, outside is .2.
    link: String,
    rt: Runtime,
    _wrapper: tempfile::TempDir,
}

fn sh(cmd: &str) -> std::process::Output {
    Command::new("sh")
        .args(["-c", cmd])
        .stdin(Stdio::null())
        .output()
        .expect("run sh")
}

#[track_caller]
fn sh_ok(cmd: &str) -> String {
    let out = sh(cmd);
    assert!(
        out.status.success(),
        "{cmd}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Net {
    /// None (test skipped) unless root, `ip`, `nsenter` and `nft` are there and the runtime
    /// under test is cella.
    fn new() -> Option<Net> {
        if !requires(&[
            Req::Root,
            Req::HostTool("ip"),
            Req::HostTool("nsenter"),
            Req::HostTool("nft"),
        ]) {
            return None;
        }
        let plain = Runtime::new();
        if !plain.is_cella() {
            eprintln!("SKIPPED: built-in networking is cella's own");
            return None;
        }
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}-{n}", std::process::id());
        let host = format!("cella-test-h{tag}");
        let outside = format!("cella-test-o{tag}");
        // A /24 per test process and test, inside 10.200.0.0/16.
        let link = format!("10.200.{}", (std::process::id() as u32 * 7 + n) % 250);
        let wrapper = tempfile::Builder::new()
            .prefix("cella-test-wrap-")
            .tempdir()
            .unwrap();
        let bin = wrapper.path().join("cella");
        fs::write(
            &bin,
            format!(
                "#!/bin/sh\nexec nsenter --net=/run/netns/{host} {} \"$@\"\n",
                plain.bin().display()
            ),
        )
        .unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        let net = Net {
            rt: Runtime::with_bin(bin),
            host,
            outside,
            link,
            _wrapper: wrapper,
        };
        // Interface names are at most 15 bytes: ct-<n>h / ct-<n>o.
        let short = format!("ct{}{n}", std::process::id() % 100_000);
        sh_ok(&format!(
            "ip netns add {h} && ip netns add {o} && \
             ip link add {s}h netns {h} type veth peer name {s}o netns {o} && \
             ip -n {h} link set lo up && ip -n {o} link set lo up && \
             ip -n {h} addr add {l}.1/24 dev {s}h && ip -n {h} link set {s}h up && \
             ip -n {o} addr add {l}.2/24 dev {s}o && ip -n {o} link set {s}o up",
            h = net.host,
            o = net.outside,
            s = short,
            l = net.link,
        ));
        Some(net)
    }

    fn host_ip(&self) -> String {
        format!("{}.1", self.link)
    }

    fn outside_ip(&self) -> String {
        format!("{}.2", self.link)
    }

    /// Runs `cmd` in the host namespace.
    fn in_host(&self, cmd: &str) -> std::process::Output {
        sh(&format!("ip netns exec {} sh -c '{cmd}'", self.host))
    }

    /// A bundle whose container runs `script` with the network annotations `ann`.
    fn bundle(&self, script: &str, ann: &[(&str, &str)]) -> Bundle {
        let mut config = integration_tests::base_config(&["sh", "-c", script]);
        let map: serde_json::Map<String, Value> = ann
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        config["annotations"] = Value::Object(map);
        Bundle::with_config(&self.rt, config)
    }

    fn veths(&self) -> Vec<String> {
        let out = self.in_host("ip -o link show");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_owned())
            .filter(|n| n.starts_with("vc"))
            .collect()
    }

    fn leases(&self) -> Vec<PathBuf> {
        let dir = self.rt.root().join("@network");
        let mut out = Vec::new();
        for bridge in fs::read_dir(&dir).into_iter().flatten().flatten() {
            if bridge.path().is_dir() {
                out.extend(
                    fs::read_dir(bridge.path())
                        .unwrap()
                        .flatten()
                        .map(|e| e.path()),
                );
            }
        }
        out
    }

    fn ruleset(&self) -> String {
        String::from_utf8_lossy(&self.in_host("nft list ruleset").stdout).into_owned()
    }

    /// No veth, lease or nftables rule of ours is left in the host namespace.
    #[track_caller]
    fn assert_clean(&self) {
        // Deleting the host side of a veth is synchronous; allow a moment anyway.
        wait_for("veths to go", Duration::from_secs(3), || {
            self.veths().is_empty().then_some(())
        });
        assert_eq!(self.leases(), Vec::<PathBuf>::new(), "leases left");
        let rules = self.ruleset();
        assert!(!rules.contains("cella"), "nftables rules left:\n{rules}");
    }

    /// A server in the outside namespace that answers one connection with `reply`.
    fn outside_server(&self, port: u16, reply: &str) -> Server {
        // nsenter execs (no fork), so killing the child kills the server.
        let mut child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.outside))
            .args(["busybox", "nc", "-l", "-p", &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        std::io::Write::write_all(&mut stdin, format!("{reply}\n").as_bytes()).unwrap();
        drop(stdin);
        let outside = self.outside.clone();
        wait_for("outside server", Duration::from_secs(5), || {
            let out = sh(&format!(
                "ip netns exec {outside} cat /proc/net/tcp /proc/net/tcp6"
            ));
            let hex = format!(":{port:04X} ");
            String::from_utf8_lossy(&out.stdout)
                .contains(&hex)
                .then_some(())
        });
        Server(child)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Containers are gone (their Bundles dropped first); namespaces take the rest.
        for ns in [&self.host, &self.outside] {
            let _ = sh(&format!("ip netns del {ns}"));
        }
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until a TCP socket listens on `port` inside the container of `b`.
fn wait_listening(b: &Bundle, port: u16) {
    let hex = format!(":{port:04X} ");
    wait_for("container server", Duration::from_secs(10), || {
        // busybox nc listens on a dual-stack IPv6 socket.
        let out = b
            .rt()
            .run(&["exec", b.id(), "cat", "/proc/net/tcp", "/proc/net/tcp6"]);
        out.stdout.contains(&hex).then_some(())
    });
}

const SERVE: &str = "while true; do echo hello-from-server | nc -l -p 8000; done";

#[test]
fn two_containers_on_one_bridge_reach_each_other() {
    let Some(net) = Net::new() else { return };
    let server = net.bundle(
        SERVE,
        &[("cella.net.mode", "bridge"), ("cella.net.ip", "10.77.0.10")],
    );
    server.run_with(&["--detach"]).ok();
    wait_listening(&server, 8000);
    let client = net.bundle(
        "nc 10.77.0.10 8000 </dev/null; ip -4 -o addr show eth0",
        &[("cella.net.mode", "bridge")],
    );
    let out = client.run();
    out.ok();
    assert!(out.stdout.contains("hello-from-server"), "{out:?}");
    assert!(out.stdout.contains("inet 10.77.0.2/16"), "{out:?}");
    // `run` deleted the client: its lease is gone, the server's remains; its veth goes with
    // its network namespace, which the kernel frees in the background.
    assert_eq!(net.leases().len(), 1);
    wait_for("the client's veth to go", Duration::from_secs(3), || {
        (net.veths().len() == 1).then_some(())
    });
    server.delete_force().ok();
    net.assert_clean();
}

#[test]
fn outbound_traffic_is_masqueraded() {
    let Some(net) = Net::new() else { return };
    let _srv = net.outside_server(9000, "hello-from-outside");
    let b = net.bundle(
        &format!("nc {} 9000 </dev/null", net.outside_ip()),
        &[("cella.net.mode", "bridge")],
    );
    let out = b.run();
    out.ok();
    // The outside namespace has no route to 10.77.0.0/16: the answer came back only
    // because the connection left with the host's address.
    assert!(out.stdout.contains("hello-from-outside"), "{out:?}");
    net.assert_clean();
}

#[test]
fn published_port_is_reachable_from_outside_on_the_host_address() {
    let Some(net) = Net::new() else { return };
    let b = net.bundle(
        SERVE,
        &[
            ("cella.net.mode", "bridge"),
            ("cella.net.ports", "8080:8000/tcp"),
        ],
    );
    b.run_with(&["--detach"]).ok();
    wait_listening(&b, 8000);
    let out = sh(&format!(
        "ip netns exec {} busybox nc {} 8080 </dev/null",
        net.outside,
        net.host_ip()
    ));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("hello-from-server"),
        "{out:?}"
    );
    assert!(net.ruleset().contains("tcp . 8080 : 10.77.0.2 . 8000"));
    b.delete_force().ok();
    net.assert_clean();
}

#[test]
fn ten_containers_started_at_once_get_ten_addresses() {
    let Some(net) = Net::new() else { return };
    let bundles: Vec<Bundle> = (0..10)
        .map(|_| net.bundle("sleep 1000", &[("cella.net.mode", "bridge")]))
        .collect();
    let running: Vec<_> = bundles
        .iter()
        .map(|b| {
            let bundle = b.path().to_str().unwrap();
            net.rt
                .call(&["run", "--detach", "--bundle", bundle, b.id()])
                .spawn()
        })
        .collect();
    for r in running {
        r.wait(Duration::from_secs(60)).ok();
    }
    let mut ips: Vec<String> = bundles
        .iter()
        .map(|b| {
            let out = net
                .rt
                .run(&["exec", b.id(), "ip", "-4", "-o", "addr", "show", "eth0"]);
            out.ok();
            out.stdout
                .split_whitespace()
                .skip_while(|w| *w != "inet")
                .nth(1)
                .expect("an inet address")
                .to_owned()
        })
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 10, "{ips:?}");
    assert_eq!(net.leases().len(), 10);
    assert_eq!(net.veths().len(), 10);
    for b in &bundles {
        b.delete_force().ok();
    }
    net.assert_clean();
}

#[test]
fn delete_removes_everything_and_the_address_can_be_taken_again() {
    let Some(net) = Net::new() else { return };
    let ann = [
        ("cella.net.mode", "bridge"),
        ("cella.net.ip", "10.77.3.3"),
        ("cella.net.ports", "8081:80,5300:53/udp"),
    ];
    let a = net.bundle("sleep 1000", &ann);
    a.create().ok();
    assert_eq!(net.veths().len(), 1);
    assert_eq!(net.leases().len(), 1);
    let rules = net.ruleset();
    assert!(rules.contains("udp . 5300 : 10.77.3.3 . 53"), "{rules}");
    a.delete_force().ok();
    net.assert_clean();
    // The same id again: the veth name is free (the old pair went with the namespace).
    let b = net.bundle("ip -4 -o addr show eth0", &ann);
    let out = b.run();
    out.ok();
    assert!(out.stdout.contains("10.77.3.3/16"), "{out:?}");
    net.assert_clean();
}

#[test]
fn stale_lease_of_a_vanished_container_is_reclaimed() {
    let Some(net) = Net::new() else { return };
    let ann = [("cella.net.mode", "bridge"), ("cella.net.ip", "10.77.4.4")];
    let a = net.bundle("sleep 1000", &ann);
    a.create().ok();
    // The container's state vanishes behind the runtime's back (as after a crash).
    let pid = a.pid();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    fs::remove_dir_all(net.rt.root().join(a.id())).unwrap();
    a.scrub();
    let b = net.bundle("ip -4 -o addr show eth0", &ann);
    let out = b.run();
    out.ok();
    assert!(out.stdout.contains("10.77.4.4/16"), "{out:?}");
    net.assert_clean();
}

/// A refused create: non-zero exit, one error naming `value`, and nothing left behind.
#[track_caller]
fn refused(net: &Net, ann: &[(&str, &str)], value: &str) {
    let before = (net.veths(), net.leases(), net.ruleset());
    let b = net.bundle("true", ann);
    let out = b.create();
    out.failed();
    assert!(
        out.stderr.contains(value),
        "error does not name {value}: {out:?}"
    );
    assert_eq!(out.stderr.trim().lines().count(), 1, "{out:?}");
    assert!(!net.rt.root().join(b.id()).exists(), "state dir left");
    assert_eq!((net.veths(), net.leases(), net.ruleset()), before);
    b.assert_no_leftovers();
}

#[test]
fn bad_values_are_refused_and_leave_nothing() {
    let Some(net) = Net::new() else { return };
    let bridge = ("cella.net.mode", "bridge");
    refused(&net, &[bridge, ("cella.net.ip", "10.78.0.5")], "10.78.0.5");
    refused(
        &net,
        &[bridge, ("cella.net.subnet", "10.1.0.0/33")],
        "10.1.0.0/33",
    );
    refused(
        &net,
        &[bridge, ("cella.net.subnet", "10.1.0.1/16")],
        "10.1.0.1/16",
    );
    refused(&net, &[bridge, ("cella.net.ports", "80")], r#"\"80\""#);
    refused(&net, &[bridge, ("cella.net.ports", "99999:80")], "99999:80");
    refused(&net, &[("cella.net.mode", "overlay")], "overlay");
    net.assert_clean();
}

#[test]
fn taken_address_and_published_port_are_refused_and_leave_nothing() {
    let Some(net) = Net::new() else { return };
    let first = net.bundle(
        "sleep 1000",
        &[
            ("cella.net.mode", "bridge"),
            ("cella.net.ip", "10.77.5.5"),
            ("cella.net.ports", "8082:80"),
        ],
    );
    first.create().ok();
    let bridge = ("cella.net.mode", "bridge");
    refused(&net, &[bridge, ("cella.net.ip", "10.77.5.5")], "10.77.5.5");
    refused(
        &net,
        &[bridge, ("cella.net.ports", "8083:80,8082:81")],
        "8082:81",
    );
    // A bridge in use keeps its subnet.
    refused(
        &net,
        &[bridge, ("cella.net.subnet", "10.99.0.0/16")],
        "10.99.0.0/16",
    );
    first.delete_force().ok();
    net.assert_clean();
}

#[test]
fn net_devices_move_into_the_container_with_their_addresses() {
    let Some(net) = Net::new() else { return };
    // One end of a veth pair stands for a host device (this kernel has no dummy driver).
    let dev = format!("ctd{}", std::process::id() % 100_000);
    let peer = format!("ctp{}", std::process::id() % 100_000);
    let made = net.in_host(&format!(
        "ip link add {dev} type veth peer name {peer} && ip addr add 10.201.0.5/24 dev {dev}"
    ));
    assert!(made.status.success(), "{made:?}");
    let mut b = net.bundle("ip -o addr show net0; ip -o link show net0", &[]);
    b.edit(|c| c["linux"]["netDevices"] = json!({ &dev: {"name": "net0"} }));
    let out = b.run();
    out.ok();
    assert!(out.stdout.contains("inet 10.201.0.5/24"), "{out:?}");
    assert!(out.stdout.contains(",UP"), "{out:?}");
    // Gone from the host while the container had it; a virtual device dies with the
    // container's namespace, taking its peer along (runtime-spec: the runtime does not move
    // it back).
    assert!(!net.in_host(&format!("ip link show {dev}")).status.success());
    wait_for(
        "the veth to die with the namespace",
        Duration::from_secs(5),
        || {
            (!net
                .in_host(&format!("ip link show {peer}"))
                .status
                .success())
            .then_some(())
        },
    );
    // A device that does not exist: one clear error.
    let mut missing = net.bundle("true", &[]);
    missing.edit(|c| c["linux"]["netDevices"] = json!({"ctnope0": {}}));
    let out = missing.create();
    out.failed().says("ctnope0");
    missing.assert_no_leftovers();
}

/// config-linux.md netDevices: "If a network device with the specified name already exists in
/// the container namespace, the runtime MUST generate an error, unless the user has provided
/// a template by appending %d to the new name. In that case, the runtime MUST allow the move".
#[test]
fn net_device_name_taken_in_the_container_is_refused_unless_a_template() {
    let Some(net) = Net::new() else { return };
    let dev = format!("cte{}", std::process::id() % 100_000);
    let peer = format!("ctf{}", std::process::id() % 100_000);
    let made = net.in_host(&format!("ip link add {dev} type veth peer name {peer}"));
    assert!(made.status.success(), "{made:?}");
    // Every new network namespace has "lo".
    let mut clash = net.bundle("true", &[]);
    clash.edit(|c| c["linux"]["netDevices"] = json!({ &dev: {"name": "lo"} }));
    let out = clash.create();
    out.failed().says("lo");
    clash.assert_no_leftovers();
    assert!(
        net.in_host(&format!("ip link show {dev}")).status.success(),
        "the device did not come back to the host after the refused create"
    );
    let mut template = net.bundle("ip -o link show", &[]);
    template.edit(|c| c["linux"]["netDevices"] = json!({ &dev: {"name": "lo%d"} }));
    let out = template.run();
    out.ok();
    assert!(
        out.stdout.contains(": lo0@") || out.stdout.contains(": lo0:"),
        "{out:?}"
    );
    let _ = net.in_host(&format!("ip link del {dev}"));
}
