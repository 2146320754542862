//! Address leases: one file per address in use, under the state root, changed only while
//! holding one flock, so concurrent `create`s never hand out one address twice, and a lease
//! whose container no longer exists (a runtime killed mid-create, a state dir removed by hand)
//! is found and taken back.
//!
//! Layout: `<root>/@network/lock` (the lock), `<root>/@network/<bridge>/<ip>` (a [`Lease`] as
//! JSON). `@` cannot start a container id, so `list` and ids never meet these files.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::plan::{Port, Subnet};
use super::NetworkError;

pub const DIR: &str = "@network";

/// One address in use, with what `delete` must undo for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub id: String,
    pub bridge: String,
    pub subnet: Subnet,
    pub ip: Ipv4Addr,
    /// The host side of the container's veth pair.
    pub veth: String,
    /// Published ports, as added to nftables.
    pub ports: Vec<Port>,
}

/// The lease directory, locked for as long as this lives.
pub struct Leases {
    dir: PathBuf,
    _lock: File,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> NetworkError + '_ {
    move |source| NetworkError::Lease {
        path: path.to_owned(),
        source,
    }
}

impl Leases {
    /// Locks the leases of the state root `root` (blocks while another runtime holds them).
    pub fn lock(root: &Path) -> Result<Leases, NetworkError> {
        let dir = root.join(DIR);
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        loop {
            match lock.lock() {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err(&path)(e)),
            }
        }
        Ok(Leases { dir, _lock: lock })
    }

    fn path(&self, bridge: &str, ip: Ipv4Addr) -> PathBuf {
        self.dir.join(bridge).join(ip.to_string())
    }

    /// Every lease of every bridge; unreadable files are skipped with a warning.
    pub fn all(&self) -> Result<Vec<Lease>, NetworkError> {
        let mut out = Vec::new();
        let bridges = fs::read_dir(&self.dir).map_err(io_err(&self.dir))?;
        for bridge in bridges.flatten().filter(|e| e.path().is_dir()) {
            let Ok(files) = fs::read_dir(bridge.path()) else {
                continue;
            };
            for file in files.flatten() {
                let path = file.path();
                match fs::read(&path).map(|b| serde_json::from_slice::<Lease>(&b)) {
                    Ok(Ok(lease)) => out.push(lease),
                    Ok(Err(e)) => log::warn!("ignoring lease {}: {e}", path.display()),
                    Err(e) => log::warn!("ignoring lease {}: {e}", path.display()),
                }
            }
        }
        Ok(out)
    }

    /// Records `lease`; the address must be free (the file must not exist).
    pub fn take(&self, lease: &Lease) -> Result<(), NetworkError> {
        let dir = self.dir.join(&lease.bridge);
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let path = self.path(&lease.bridge, lease.ip);
        let mut f = match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(NetworkError::IpTaken(lease.ip))
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        let data = serde_json::to_vec(lease).expect("a lease always serialises");
        f.write_all(&data).map_err(io_err(&path))
    }

    /// Rewrites an existing lease (its ports changed).
    pub fn update(&self, lease: &Lease) -> Result<(), NetworkError> {
        let path = self.path(&lease.bridge, lease.ip);
        let data = serde_json::to_vec(lease).expect("a lease always serialises");
        fs::write(&path, data).map_err(io_err(&path))
    }

    pub fn release(&self, lease: &Lease) -> Result<(), NetworkError> {
        let path = self.path(&lease.bridge, lease.ip);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(&path)(e)),
            _ => {
                // An empty bridge directory goes too; a racing `take` recreates it.
                let _ = fs::remove_dir(self.dir.join(&lease.bridge));
                Ok(())
            }
        }
    }
}

/// Whether the container `id` of the state root `root` still exists.
pub fn container_exists(root: &Path, id: &str) -> bool {
    root.join(id).is_dir()
}

/// The address for a new container: `want` if it is free, else the lowest free one.
pub fn pick(
    subnet: Subnet,
    used: &HashSet<Ipv4Addr>,
    want: Option<Ipv4Addr>,
) -> Result<Ipv4Addr, NetworkError> {
    match want {
        Some(ip) if used.contains(&ip) => Err(NetworkError::IpTaken(ip)),
        Some(ip) => Ok(ip),
        None => subnet
            .hosts()
            .find(|ip| !used.contains(ip))
            .ok_or(NetworkError::Exhausted(subnet)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::plan::Proto;

    fn lease(id: &str, ip: [u8; 4]) -> Lease {
        Lease {
            id: id.into(),
            bridge: "br0".into(),
            subnet: Subnet::parse("10.9.0.0/24").unwrap(),
            ip: Ipv4Addr::from(ip),
            veth: "vc0".into(),
            ports: vec![Port {
                host: 80,
                container: 8080,
                proto: Proto::Tcp,
            }],
        }
    }

    #[test]
    fn take_list_release() {
        let root = tempfile::tempdir().unwrap();
        let leases = Leases::lock(root.path()).unwrap();
        let a = lease("a", [10, 9, 0, 2]);
        leases.take(&a).unwrap();
        assert!(matches!(
            leases.take(&lease("b", [10, 9, 0, 2])),
            Err(NetworkError::IpTaken(_))
        ));
        leases.take(&lease("b", [10, 9, 0, 3])).unwrap();
        let mut all = leases.all().unwrap();
        all.sort_by_key(|l| l.ip);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], a);
        leases.release(&a).unwrap();
        leases.release(&a).unwrap();
        assert_eq!(leases.all().unwrap().len(), 1);
    }

    #[test]
    fn pick_lowest_free_or_the_wanted_one() {
        let s = Subnet::parse("10.9.0.0/29").unwrap();
        let mut used = HashSet::new();
        assert_eq!(pick(s, &used, None).unwrap(), Ipv4Addr::new(10, 9, 0, 2));
        used.insert(Ipv4Addr::new(10, 9, 0, 2));
        assert_eq!(pick(s, &used, None).unwrap(), Ipv4Addr::new(10, 9, 0, 3));
        let want = Some(Ipv4Addr::new(10, 9, 0, 2));
        assert!(pick(s, &used, want)
            .unwrap_err()
            .to_string()
            .contains("10.9.0.2"));
        for last in 3..7 {
            used.insert(Ipv4Addr::new(10, 9, 0, last));
        }
        assert!(matches!(
            pick(s, &used, None),
            Err(NetworkError::Exhausted(_))
        ));
    }

    #[test]
    fn lock_is_exclusive_across_handles() {
        let root = tempfile::tempdir().unwrap();
        let held = Leases::lock(root.path()).unwrap();
        let path = root.path().join(DIR).join("lock");
        let other = File::open(&path).unwrap();
        assert!(other.try_lock().is_err());
        drop(held);
        assert!(other.try_lock().is_ok());
    }
}
