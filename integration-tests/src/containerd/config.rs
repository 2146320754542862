//! The private containerd's config.toml.

use std::path::Path;

/// The busybox image every containerd test runs (default command `sh`).
pub const BUSYBOX_IMAGE: &str = "docker.io/library/cella-test-busybox:1";

/// The CRI sandbox ("pause") image: the same busybox with a long sleep as its command.
pub const PAUSE_IMAGE: &str = "docker.io/library/cella-test-pause:1";

/// The CRI runtime handler that names the runtime under test.
pub const CRI_HANDLER: &str = "cella";

/// Plugins that would look outside the private directory or need what this host lacks. The
/// tasks service needs io.containerd.runtime.v1.linux registered, so that one stays.
const DISABLED: &[&str] = &[
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
];

/// containerd 1.6's config (version 2) that keeps every path it writes under `dir`: root,
/// state, the gRPC/ttrpc/debug sockets, the `opt` plugin's directory and, with `cri`, the CRI
/// plugin's runtime handler [`CRI_HANDLER`] (runc.v2 shim, `BinaryName` = `runtime`, `Root`
/// under `dir`). Without `cri` the CRI plugin is disabled.
pub fn config_toml(dir: &Path, runtime: &Path, cri: bool) -> String {
    let d = dir.display();
    let mut disabled: Vec<&str> = DISABLED.to_vec();
    if !cri {
        disabled.push("io.containerd.grpc.v1.cri");
    }
    let disabled = disabled
        .iter()
        .map(|p| format!("{p:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut toml = format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [{disabled}]

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[debug]
  address = "{d}/debug.sock"
  level = "info"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"#
    );
    if cri {
        let rt = runtime.display();
        toml.push_str(&format!(
            r#"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # root here lacks CAP_SYS_RESOURCE: oom_score_adj cannot go below the daemon's own
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni/bin"
    conf_dir = "{d}/cni/net.d"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    # the runtimes table replaces the default one, whose "runc" entry is the default name
    default_runtime_name = "{CRI_HANDLER}"

  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{CRI_HANDLER}]
    runtime_type = "io.containerd.runc.v2"

  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{CRI_HANDLER}.options]
    BinaryName = "{rt}"
    Root = "{d}/runc"
"#
        ));
    }
    toml
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disabled(toml: &str) -> &str {
        toml.lines()
            .find(|l| l.starts_with("disabled_plugins = "))
            .unwrap()
    }

    #[test]
    fn every_path_containerd_writes_is_under_the_private_dir() {
        let toml = config_toml(Path::new("/p"), Path::new("/bin/rt"), false);
        for key in ["root = ", "state = ", "address = ", "path = "] {
            for line in toml.lines().filter(|l| l.trim_start().starts_with(key)) {
                assert!(line.contains("\"/p/"), "{line}");
            }
        }
        assert!(disabled(&toml).contains("\"io.containerd.grpc.v1.cri\""));
        assert!(!toml.contains("BinaryName"));
    }

    #[test]
    fn cri_config_names_the_runtime_and_restricts_oom_score_adj() {
        let toml = config_toml(Path::new("/p"), Path::new("/bin/rt"), true);
        assert!(!disabled(&toml).contains("cri"), "{toml}");
        assert!(toml.contains("BinaryName = \"/bin/rt\""));
        assert!(toml.contains("Root = \"/p/runc\""));
        assert!(toml.contains("restrict_oom_score_adj = true"));
        assert!(toml.contains(&format!("sandbox_image = \"{PAUSE_IMAGE}\"")));
        assert!(toml.contains(&format!("runtimes.{CRI_HANDLER}.options]")));
    }
}
