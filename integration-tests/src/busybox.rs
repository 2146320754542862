//! A minimal busybox rootfs for test bundles.
//!
//! TODO(lead): switch to rootfs_tools::busybox_rootfs once it lands in this branch.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

const BUSYBOX: &str = "/bin/busybox";

/// The applets of the host's static busybox, checked once: the file must be a real ELF binary
/// (another test suite once overwrote it through a hard link).
fn applets() -> &'static [String] {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    APPLETS.get_or_init(|| {
        let mut magic = [0u8; 4];
        fs::File::open(BUSYBOX)
            .and_then(|mut f| f.read_exact(&mut magic))
            .unwrap_or_else(|e| panic!("{BUSYBOX}: {e} (apt-get install busybox-static)"));
        assert_eq!(
            &magic, b"\x7fELF",
            "{BUSYBOX} is not an ELF binary: reinstall busybox-static"
        );
        let out = Command::new(BUSYBOX)
            .arg("--list")
            .output()
            .expect("busybox --list");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter(|a| !a.is_empty() && *a != "busybox")
            .map(str::to_string)
            .collect()
    })
}

/// Fills `dir` with bin/busybox (a copy, never a hard link: containers may write to it), one
/// symlink per applet, /etc/passwd and /etc/group (root, user 1000, nobody 65534) and the
/// empty mount points proc sys dev tmp.
pub(crate) fn busybox_rootfs(dir: &Path) -> std::io::Result<()> {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin)?;
    fs::copy(BUSYBOX, bin.join("busybox"))?;
    fs::set_permissions(bin.join("busybox"), fs::Permissions::from_mode(0o755))?;
    for applet in applets() {
        symlink("busybox", bin.join(applet))?;
    }
    for d in ["proc", "sys", "dev", "etc", "root"] {
        fs::create_dir_all(dir.join(d))?;
    }
    fs::create_dir_all(dir.join("tmp"))?;
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n\
         user:x:1000:1000:user:/tmp:/bin/sh\n\
         nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )?;
    fs::write(
        dir.join("etc/group"),
        "root:x:0:\ntty:x:5:\nuser:x:1000:\nnogroup:x:65534:\n",
    )?;
    Ok(())
}
