//! Host programs copied into a test rootfs with the shared libraries they need, as a
//! distribution image would carry them (the busybox rootfs has no dynamic loader).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// The absolute paths of the shared libraries and the dynamic loader `bin` needs, from `ldd`
/// (lines `libc.so.6 => /lib/.../libc.so.6 (0x...)` and `/lib64/ld-linux-x86-64.so.2 (0x...)`).
/// Empty for a static program.
pub fn shared_libraries(bin: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(bin).output().expect("run ldd");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|line| {
            let path = match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// Copies `bin` to `dest` (an absolute path inside `rootfs`, mode 0755) and its shared
/// libraries to their host paths inside `rootfs`. Refuses to go through a symlink inside the
/// rootfs, so a tree a container has already run on cannot send the copies outside it.
pub fn install(rootfs: &Path, bin: &Path, dest: &str) {
    copy_into(rootfs, bin, Path::new(dest));
    fs::set_permissions(
        inside(rootfs, Path::new(dest)),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    install_libraries(rootfs, bin);
}

/// Copies the shared libraries `bin` needs to their host paths inside `rootfs`.
pub fn install_libraries(rootfs: &Path, bin: &Path) {
    for lib in shared_libraries(bin) {
        copy_into(rootfs, &lib, &lib);
    }
}

fn inside(rootfs: &Path, path: &Path) -> PathBuf {
    let mut p = rootfs.to_path_buf();
    for c in path.components() {
        if let Component::Normal(name) = c {
            p.push(name);
        }
    }
    p
}

fn copy_into(rootfs: &Path, from: &Path, to: &Path) {
    let mut dir = rootfs.to_path_buf();
    let parent = to.parent().unwrap_or(Path::new("/"));
    for c in parent.components() {
        let Component::Normal(name) = c else { continue };
        dir.push(name);
        match fs::symlink_metadata(&dir) {
            Ok(m) => assert!(m.is_dir(), "{} is not a directory", dir.display()),
            Err(_) => fs::create_dir(&dir).unwrap(),
        }
    }
    let target = inside(rootfs, to);
    if fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
        panic!("{} is a symlink", target.display());
    }
    fs::copy(from, &target)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), target.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_names_the_loader_and_libc_of_a_dynamic_program() {
        let Ok(me) = std::env::current_exe() else {
            return;
        };
        let libs = shared_libraries(&me);
        assert!(
            libs.iter().any(|l| l.to_string_lossy().contains("libc.so")),
            "{libs:?}"
        );
        assert!(libs.iter().all(|l| l.is_absolute()));
    }
}
