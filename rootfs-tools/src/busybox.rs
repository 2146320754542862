//! A minimal root filesystem made of Debian's static busybox.
//!
//! Tests build many of these, so building one is cheap (a copy of one ~2 MiB binary plus a few
//! hundred hard links to it) and building again into the same directory only fixes what differs.
//!
//! Applets are hard links rather than symlinks because on this kind of host (ext4 on a virtio
//! disk) every new inode costs about 0.4 ms while a hard link costs about 20 us: 270 symlinks
//! took 100 ms, the whole tree with hard links takes a few. busybox picks the applet from
//! argv[0], so both work the same inside a container.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::Mutex;

use crate::elf::{self, Linking};

/// Where Debian's `busybox-static` package installs the binary.
pub const BUSYBOX: &str = "/bin/busybox";
/// The Debian package that provides a static [`BUSYBOX`].
pub const BUSYBOX_PACKAGE: &str = "busybox-static";

/// Uid and gid of the unprivileged account `user` in the root filesystem.
pub const USER_ID: u32 = 1000;
/// Uid of `nobody` and gid of `nogroup`.
pub const NOBODY_ID: u32 = 65534;

/// `/etc/passwd` of the root filesystem.
pub const ETC_PASSWD: &str = "\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
";

/// `/etc/group` of the root filesystem: enough named groups for tests of `additionalGids`.
pub const ETC_GROUP: &str = "\
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:root
audio:x:29:user
video:x:44:user
users:x:100:user
user:x:1000:
nogroup:x:65534:
";

/// Directories of the root filesystem and their modes, parents before children.
const DIRS: &[(&str, u32)] = &[
    ("bin", 0o755),
    ("sbin", 0o755),
    ("usr", 0o755),
    ("usr/bin", 0o755),
    ("usr/sbin", 0o755),
    ("etc", 0o755),
    ("proc", 0o555),
    ("sys", 0o555),
    ("dev", 0o755),
    ("tmp", 0o1777),
    ("root", 0o700),
    ("home", 0o755),
    ("home/user", 0o755),
    ("run", 0o755),
    ("var", 0o755),
];

/// Files that are mount targets for runtimes and engines: created empty, never overwritten.
const EMPTY_FILES: &[&str] = &["etc/hosts", "etc/resolv.conf"];

/// Directories `busybox --list-full` may place applets in. Anything else (its `linuxrc`, which
/// only makes sense as an initrd's init) is left out.
const APPLET_DIRS: &[&str] = &["bin", "sbin", "usr/bin", "usr/sbin"];

#[derive(Debug, thiserror::Error)]
pub enum BusyboxError {
    #[error(
        "busybox not found at {path}: install the {BUSYBOX_PACKAGE} package \
         (apt-get install -y {BUSYBOX_PACKAGE})"
    )]
    NotFound { path: PathBuf },
    #[error(
        "busybox at {path} is dynamically linked and cannot run in a root filesystem without \
         libraries: install the {BUSYBOX_PACKAGE} package (apt-get install -y {BUSYBOX_PACKAGE})"
    )]
    NotStatic { path: PathBuf },
    #[error("{path} is not an ELF executable")]
    NotElf { path: PathBuf },
    #[error("read ELF headers of {path}")]
    ReadElf { path: PathBuf, source: io::Error },
    #[error("run {path} --list-full")]
    ListApplets { path: PathBuf, source: io::Error },
    #[error("{path} --list-full failed ({status}): {stderr}")]
    ListAppletsStatus {
        path: PathBuf,
        status: ExitStatus,
        stderr: String,
    },
    #[error("create directory {path}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("chmod {mode:o} {path}")]
    Chmod {
        path: PathBuf,
        mode: u32,
        source: io::Error,
    },
    #[error("chown {uid}:{gid} {path}")]
    Chown {
        path: PathBuf,
        uid: u32,
        gid: u32,
        source: io::Error,
    },
    #[error("stat {path}")]
    Stat { path: PathBuf, source: io::Error },
    #[error("copy {from} to {to}")]
    Copy {
        from: PathBuf,
        to: PathBuf,
        source: io::Error,
    },
    #[error("hard link {path} to {target}")]
    Link {
        path: PathBuf,
        target: PathBuf,
        source: io::Error,
    },
    #[error("{path} is a directory where busybox's applet link belongs")]
    DirInTheWay { path: PathBuf },
    #[error("remove {path}")]
    Remove { path: PathBuf, source: io::Error },
    #[error("write {path}")]
    Write { path: PathBuf, source: io::Error },
}

/// Builds (or brings up to date) a busybox root filesystem in `dir`, creating `dir` if needed.
///
/// The tree holds `/bin/busybox` (a copy of the host's static [`BUSYBOX`]), one hard link to it
/// per applet where busybox says the applet lives (`/bin/sh`, `/usr/bin/id`, ...),
/// [`ETC_PASSWD`], [`ETC_GROUP`], empty `/etc/hosts` and `/etc/resolv.conf`, and the usual
/// top-level directories (`/tmp` sticky and world-writable, `/home/user` owned by [`USER_ID`]
/// when built as root). Files that are not part of the tree are left alone, so callers may add
/// their own before or after.
///
/// A container may have run on the tree and left symlinks where the tree's own entries belong;
/// they are replaced, never followed, so a rebuild cannot write or chmod anything outside `dir`.
/// Only `dir` itself may be a symlink (the caller chose it).
pub fn busybox_rootfs(dir: &Path) -> Result<(), BusyboxError> {
    busybox_rootfs_from(Path::new(BUSYBOX), dir)
}

/// [`busybox_rootfs`] with the busybox binary taken from `busybox`.
pub(crate) fn busybox_rootfs_from(busybox: &Path, dir: &Path) -> Result<(), BusyboxError> {
    check_static(busybox)?;
    let applets = list_applets(busybox)?;

    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|source| BusyboxError::CreateDir {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    make_dir(dir, 0o755)?;
    for (name, mode) in DIRS {
        make_dir(&dir.join(name), *mode)?;
    }
    give_to_user(&dir.join("home/user"))?;

    let copy = dir.join("bin/busybox");
    copy_busybox(busybox, &copy)?;
    let copy_meta = fs::metadata(&copy).map_err(|source| BusyboxError::Stat {
        path: copy.clone(),
        source,
    })?;
    for applet in &applets {
        link_applet(&dir.join(applet), &copy, &copy_meta)?;
    }

    write_if_changed(&dir.join("etc/passwd"), ETC_PASSWD)?;
    write_if_changed(&dir.join("etc/group"), ETC_GROUP)?;
    for name in EMPTY_FILES {
        create_empty(&dir.join(name))?;
    }
    Ok(())
}

fn check_static(busybox: &Path) -> Result<(), BusyboxError> {
    let path = busybox.to_path_buf();
    match elf::linking(busybox) {
        Ok(Linking::Static) => Ok(()),
        Ok(Linking::Dynamic) => Err(BusyboxError::NotStatic { path }),
        Ok(Linking::NotElf) => Err(BusyboxError::NotElf { path }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(BusyboxError::NotFound { path }),
        Err(source) => Err(BusyboxError::ReadElf { path, source }),
    }
}

/// Applet lists by busybox path, so a test process that builds many trees runs busybox once.
static APPLETS: Mutex<Vec<(PathBuf, Vec<String>)>> = Mutex::new(Vec::new());

/// Applet paths relative to the root, such as `bin/sh` and `usr/bin/id`.
fn list_applets(busybox: &Path) -> Result<Vec<String>, BusyboxError> {
    let cached = APPLETS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, applets)) = cached.iter().find(|(path, _)| path == busybox) {
        return Ok(applets.clone());
    }
    drop(cached);
    let applets = run_list_applets(busybox)?;
    let mut cache = APPLETS.lock().unwrap_or_else(|e| e.into_inner());
    cache.push((busybox.to_path_buf(), applets.clone()));
    Ok(applets)
}

fn run_list_applets(busybox: &Path) -> Result<Vec<String>, BusyboxError> {
    let path = busybox.to_path_buf();
    let output = Command::new(busybox)
        .arg("--list-full")
        .output()
        .map_err(|source| BusyboxError::ListApplets {
            path: path.clone(),
            source,
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        return Err(BusyboxError::ListAppletsStatus {
            path,
            status: output.status,
            stderr,
        });
    }
    Ok(parse_applets(&String::from_utf8_lossy(&output.stdout)))
}

/// Keeps the lines of `busybox --list-full` that name a file directly inside an applet dir.
/// The list names `bin/busybox` itself, which must stay the copied binary: a link there would
/// point at the host's busybox once the tree is used outside a container, and writes through it
/// would reach the host.
fn parse_applets(list: &str) -> Vec<String> {
    list.lines()
        .map(str::trim)
        .filter(|line| *line != "bin/busybox")
        .filter(|line| {
            line.rsplit_once('/').is_some_and(|(parent, name)| {
                APPLET_DIRS.contains(&parent) && !name.is_empty() && name != "." && name != ".."
            })
        })
        .map(str::to_string)
        .collect()
}

/// Creates a directory of the tree, replacing a symlink in its place, and sets its mode.
fn make_dir(path: &Path, mode: u32) -> Result<(), BusyboxError> {
    remove_symlink(path)?;
    match fs::create_dir(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => {}
        Err(source) => {
            return Err(BusyboxError::CreateDir {
                path: path.to_path_buf(),
                source,
            })
        }
    }
    // Set explicitly: create_dir is subject to the umask, and a root dir made by tempfile (0700)
    // would lock every non-root container user out of the whole tree.
    fs::set_permissions(path, Permissions::from_mode(mode)).map_err(|source| BusyboxError::Chmod {
        path: path.to_path_buf(),
        mode,
        source,
    })
}

/// Hands a directory we just created to `user`, but only when we created it as root: an
/// unprivileged build (unit tests) cannot chown and gets a tree owned by its builder.
fn give_to_user(path: &Path) -> Result<(), BusyboxError> {
    let meta = fs::symlink_metadata(path).map_err(|source| BusyboxError::Stat {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.uid() != 0 {
        return Ok(());
    }
    std::os::unix::fs::lchown(path, Some(USER_ID), Some(USER_ID)).map_err(|source| {
        BusyboxError::Chown {
            path: path.to_path_buf(),
            uid: USER_ID,
            gid: USER_ID,
            source,
        }
    })
}

/// Copies rather than hard-links: a container that may write its root filesystem must not be
/// able to rewrite the host's busybox. Skips the copy when size and mtime already match, and
/// replaces by rename so a copy that a running container executes is never written to (ETXTBSY).
fn copy_busybox(from: &Path, to: &Path) -> Result<(), BusyboxError> {
    let copy_err = |source| BusyboxError::Copy {
        from: from.into(),
        to: to.into(),
        source,
    };
    let src = fs::metadata(from).map_err(copy_err)?;
    if let Ok(dst) = fs::symlink_metadata(to) {
        let same = dst.is_file()
            && dst.len() == src.len()
            && dst.mtime() == src.mtime()
            && dst.mtime_nsec() == src.mtime_nsec();
        if same {
            return Ok(());
        }
    }
    let tmp = to.with_file_name(".busybox.cella-rootfs.tmp");
    let result = remove_if_exists(&tmp).and_then(|()| {
        let mut reader = File::open(from)?;
        // create_new (O_EXCL) never follows a symlink someone placed at the temporary name.
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(&tmp)?;
        io::copy(&mut reader, &mut file)?;
        file.set_permissions(Permissions::from_mode(src.mode() & 0o7777))?;
        file.set_modified(src.modified()?)?;
        fs::rename(&tmp, to)
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(copy_err)
}

/// Makes `path` a hard link to `busybox` (the tree's own copy, whose metadata is `busybox_meta`),
/// replacing a file or symlink that is something else.
fn link_applet(
    path: &Path,
    busybox: &Path,
    busybox_meta: &fs::Metadata,
) -> Result<(), BusyboxError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.dev() == busybox_meta.dev() && meta.ino() == busybox_meta.ino() => {
            return Ok(());
        }
        Ok(meta) if meta.is_dir() => {
            return Err(BusyboxError::DirInTheWay {
                path: path.to_path_buf(),
            });
        }
        Ok(_) => remove(path)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(BusyboxError::Stat {
                path: path.to_path_buf(),
                source,
            })
        }
    }
    fs::hard_link(busybox, path).map_err(|source| BusyboxError::Link {
        path: path.to_path_buf(),
        target: busybox.to_path_buf(),
        source,
    })
}

fn remove(path: &Path) -> Result<(), BusyboxError> {
    fs::remove_file(path).map_err(|source| BusyboxError::Remove {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a file of the tree unless it already holds `contents`. A symlink or other non-file in
/// its place is removed first, and the new file is created with O_EXCL, so nothing outside the
/// tree is written.
fn write_if_changed(path: &Path, contents: &str) -> Result<(), BusyboxError> {
    let write_err = |source| BusyboxError::Write {
        path: path.to_path_buf(),
        source,
    };
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => {
            if fs::read(path).is_ok_and(|old| old == contents.as_bytes()) {
                return Ok(());
            }
            remove(path)?;
        }
        Ok(meta) if meta.is_dir() => return Err(write_err(io::ErrorKind::IsADirectory.into())),
        Ok(_) => remove(path)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(BusyboxError::Stat {
                path: path.to_path_buf(),
                source,
            })
        }
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .map_err(write_err)?;
    file.write_all(contents.as_bytes()).map_err(write_err)
}

/// Creates an empty file unless a regular file (with whatever content) is already there.
fn create_empty(path: &Path) -> Result<(), BusyboxError> {
    if fs::symlink_metadata(path).is_ok_and(|meta| meta.is_file()) {
        return Ok(());
    }
    write_if_changed(path, "")
}

fn remove_symlink(path: &Path) -> Result<(), BusyboxError> {
    if fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink()) {
        remove(path)?;
    }
    Ok(())
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
#[path = "busybox_tests.rs"]
mod tests;
