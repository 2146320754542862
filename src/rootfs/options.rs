//! OCI mount options -> mount(2) flags, propagation changes, recursive attributes for
//! mount_setattr(2), idmap requests and filesystem data. Option names follow mount(8) and the
//! runtime spec's table; like runc, any option we do not know is filesystem data.

use nix::mount::MsFlags;

/// `MS_NOSYMFOLLOW` (Linux 5.10), missing from nix's `MsFlags`.
pub const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);

/// One propagation change, applied after the mount exists (the kernel refuses propagation flags
/// combined with anything else in one mount(2) call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PropagationChange {
    pub kind: PropagationKind,
    pub recursive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropagationKind {
    Shared,
    Slave,
    Private,
    Unbindable,
}

impl PropagationChange {
    /// The `MS_*` propagation flag (without `MS_REC`).
    pub fn ms_flag(self) -> MsFlags {
        match self.kind {
            PropagationKind::Shared => MsFlags::MS_SHARED,
            PropagationKind::Slave => MsFlags::MS_SLAVE,
            PropagationKind::Private => MsFlags::MS_PRIVATE,
            PropagationKind::Unbindable => MsFlags::MS_UNBINDABLE,
        }
    }

    /// The flags for a classic `mount(NULL, path, NULL, flags, NULL)` propagation change.
    pub fn mount_flags(self) -> MsFlags {
        if self.recursive {
            self.ms_flag() | MsFlags::MS_REC
        } else {
            self.ms_flag()
        }
    }

    /// Parse `shared`, `rslave`, ... (the names of mount(8) and `rootfsPropagation`).
    pub fn parse(name: &str) -> Option<Self> {
        let (recursive, base) = match name.strip_prefix('r') {
            Some(rest) => (true, rest),
            None => (false, name),
        };
        let kind = match base {
            "shared" => PropagationKind::Shared,
            "slave" => PropagationKind::Slave,
            "private" => PropagationKind::Private,
            "unbindable" => PropagationKind::Unbindable,
            _ => return None,
        };
        Some(Self { kind, recursive })
    }
}

/// Attributes applied with `mount_setattr(AT_RECURSIVE)` to a whole mount tree (`rro`, `rnosuid`,
/// ...). `atime` is one of `MOUNT_ATTR_RELATIME/NOATIME/STRICTATIME`: an enum in the kernel, so
/// the last atime option wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecursiveAttr {
    pub set: u64,
    pub clear: u64,
    pub atime: Option<u64>,
}

impl RecursiveAttr {
    pub fn is_empty(&self) -> bool {
        self.set == 0 && self.clear == 0 && self.atime.is_none()
    }

    /// `(attr_set, attr_clr)` for mount_setattr: an atime change must also clear the whole
    /// `MOUNT_ATTR__ATIME` field.
    pub fn set_clear(&self) -> (u64, u64) {
        match self.atime {
            Some(atime) => (self.set | atime, self.clear | libc::MOUNT_ATTR__ATIME),
            None => (self.set, self.clear),
        }
    }

    fn set_bit(&mut self, bit: u64) {
        self.set |= bit;
        self.clear &= !bit;
    }

    fn clear_bit(&mut self, bit: u64) {
        self.clear |= bit;
        self.set &= !bit;
    }
}

/// Everything one mount's `options` array says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for mount(2), including `MS_BIND`/`MS_REC` for bind/rbind.
    pub flags: MsFlags,
    pub propagation: Vec<PropagationChange>,
    pub recursive: RecursiveAttr,
    /// Unknown options, passed comma-joined as the data argument of mount(2).
    pub data: Vec<String>,
    /// `idmap` (false) or `ridmap` (true); the last one wins.
    pub idmap: Option<bool>,
    /// `tmpcopyup`: copy the directory's old contents into the new tmpfs.
    pub copy_up: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        Self {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            recursive: RecursiveAttr::default(),
            data: Vec::new(),
            idmap: None,
            copy_up: false,
        }
    }
}

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    pub fn data_string(&self) -> String {
        self.data.join(",")
    }
}

enum Effect {
    Set(MsFlags),
    Clear(MsFlags),
    RecSet(u64),
    RecClear(u64),
    RecAtime(u64),
    Propagation(PropagationChange),
    Idmap(bool),
    CopyUp,
}

fn effect(option: &str) -> Option<Effect> {
    use libc::{
        MOUNT_ATTR_NOATIME, MOUNT_ATTR_NODEV, MOUNT_ATTR_NODIRATIME, MOUNT_ATTR_NOEXEC,
        MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOSYMFOLLOW, MOUNT_ATTR_RDONLY, MOUNT_ATTR_RELATIME,
        MOUNT_ATTR_STRICTATIME,
    };
    use Effect::*;
    if let Some(change) = PropagationChange::parse(option) {
        return Some(Propagation(change));
    }
    let e = match option {
        "async" => Clear(MsFlags::MS_SYNCHRONOUS),
        "atime" => Clear(MsFlags::MS_NOATIME),
        "bind" => Set(MsFlags::MS_BIND),
        "defaults" => Set(MsFlags::empty()),
        "dev" => Clear(MsFlags::MS_NODEV),
        "diratime" => Clear(MsFlags::MS_NODIRATIME),
        "dirsync" => Set(MsFlags::MS_DIRSYNC),
        "exec" => Clear(MsFlags::MS_NOEXEC),
        "iversion" => Set(MsFlags::MS_I_VERSION),
        "lazytime" => Set(MsFlags::MS_LAZYTIME),
        "loud" => Clear(MsFlags::MS_SILENT),
        "mand" => Set(MsFlags::MS_MANDLOCK),
        "noatime" => Set(MsFlags::MS_NOATIME),
        "nodev" => Set(MsFlags::MS_NODEV),
        "nodiratime" => Set(MsFlags::MS_NODIRATIME),
        "noexec" => Set(MsFlags::MS_NOEXEC),
        "noiversion" => Clear(MsFlags::MS_I_VERSION),
        "nolazytime" => Clear(MsFlags::MS_LAZYTIME),
        "nomand" => Clear(MsFlags::MS_MANDLOCK),
        "norelatime" => Clear(MsFlags::MS_RELATIME),
        "nostrictatime" => Clear(MsFlags::MS_STRICTATIME),
        "nosuid" => Set(MsFlags::MS_NOSUID),
        "nosymfollow" => Set(MS_NOSYMFOLLOW),
        "rbind" => Set(MsFlags::MS_BIND | MsFlags::MS_REC),
        "relatime" => Set(MsFlags::MS_RELATIME),
        "remount" => Set(MsFlags::MS_REMOUNT),
        "ro" => Set(MsFlags::MS_RDONLY),
        "rw" => Clear(MsFlags::MS_RDONLY),
        "silent" => Set(MsFlags::MS_SILENT),
        "strictatime" => Set(MsFlags::MS_STRICTATIME),
        "suid" => Clear(MsFlags::MS_NOSUID),
        "symfollow" => Clear(MS_NOSYMFOLLOW),
        "sync" => Set(MsFlags::MS_SYNCHRONOUS),
        "rro" => RecSet(MOUNT_ATTR_RDONLY),
        "rrw" => RecClear(MOUNT_ATTR_RDONLY),
        "rnosuid" => RecSet(MOUNT_ATTR_NOSUID),
        "rsuid" => RecClear(MOUNT_ATTR_NOSUID),
        "rnodev" => RecSet(MOUNT_ATTR_NODEV),
        "rdev" => RecClear(MOUNT_ATTR_NODEV),
        "rnoexec" => RecSet(MOUNT_ATTR_NOEXEC),
        "rexec" => RecClear(MOUNT_ATTR_NOEXEC),
        "rnodiratime" => RecSet(MOUNT_ATTR_NODIRATIME),
        "rdiratime" => RecClear(MOUNT_ATTR_NODIRATIME),
        "rnosymfollow" => RecSet(MOUNT_ATTR_NOSYMFOLLOW),
        "rsymfollow" => RecClear(MOUNT_ATTR_NOSYMFOLLOW),
        // atime is a three-valued field: "not noatime" and "not strictatime" mean the kernel
        // default relatime, "not relatime" means strictatime.
        "ratime" | "rrelatime" | "rnostrictatime" => RecAtime(MOUNT_ATTR_RELATIME),
        "rnoatime" => RecAtime(MOUNT_ATTR_NOATIME),
        "rstrictatime" | "rnorelatime" => RecAtime(MOUNT_ATTR_STRICTATIME),
        "idmap" => Idmap(false),
        "ridmap" => Idmap(true),
        "tmpcopyup" => CopyUp,
        _ => return None,
    };
    Some(e)
}

/// Parse a mount's `options`, in order: later options override earlier ones.
pub fn parse_mount_options<S: AsRef<str>>(options: &[S]) -> MountOptions {
    let mut parsed = MountOptions::default();
    for option in options {
        let option = option.as_ref();
        match effect(option) {
            Some(Effect::Set(f)) => parsed.flags |= f,
            Some(Effect::Clear(f)) => parsed.flags &= !f,
            Some(Effect::RecSet(bit)) => parsed.recursive.set_bit(bit),
            Some(Effect::RecClear(bit)) => parsed.recursive.clear_bit(bit),
            Some(Effect::RecAtime(atime)) => parsed.recursive.atime = Some(atime),
            Some(Effect::Propagation(p)) => parsed.propagation.push(p),
            Some(Effect::Idmap(recursive)) => parsed.idmap = Some(recursive),
            Some(Effect::CopyUp) => parsed.copy_up = true,
            None => parsed.data.push(option.to_string()),
        }
    }
    parsed
}

/// The per-mount part of `flags` as a mount_setattr change for a bind mount, with the meaning
/// of `mount(MS_REMOUNT | MS_BIND | flags)`: listed flags on, unlisted ones off, and the atime
/// settings kept unless some atime flag is given. Superblock flags (sync, dirsync, ...) cannot
/// change on a bind mount and are ignored, as the kernel does.
pub fn bind_remount_attr(flags: MsFlags) -> (u64, u64) {
    const PER_MOUNT: [(MsFlags, u64); 5] = [
        (MsFlags::MS_RDONLY, libc::MOUNT_ATTR_RDONLY),
        (MsFlags::MS_NOSUID, libc::MOUNT_ATTR_NOSUID),
        (MsFlags::MS_NODEV, libc::MOUNT_ATTR_NODEV),
        (MsFlags::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
        (MS_NOSYMFOLLOW, libc::MOUNT_ATTR_NOSYMFOLLOW),
    ];
    let (mut set, mut clear) = (0, 0);
    for (flag, attr) in PER_MOUNT {
        if flags.contains(flag) {
            set |= attr;
        } else {
            clear |= attr;
        }
    }
    let atime_flags = MsFlags::MS_NOATIME
        | MsFlags::MS_NODIRATIME
        | MsFlags::MS_RELATIME
        | MsFlags::MS_STRICTATIME;
    if flags.intersects(atime_flags) {
        // Same precedence as the kernel: strictatime beats noatime, relatime is the default.
        let atime = if flags.contains(MsFlags::MS_STRICTATIME) {
            libc::MOUNT_ATTR_STRICTATIME
        } else if flags.contains(MsFlags::MS_NOATIME) {
            libc::MOUNT_ATTR_NOATIME
        } else {
            libc::MOUNT_ATTR_RELATIME
        };
        set |= atime;
        clear |= libc::MOUNT_ATTR__ATIME;
        if flags.contains(MsFlags::MS_NODIRATIME) {
            set |= libc::MOUNT_ATTR_NODIRATIME;
        } else {
            clear |= libc::MOUNT_ATTR_NODIRATIME;
        }
    }
    (set, clear)
}

/// Whether a bind mount needs its flags changed after binding (runc: any flag besides
/// bind/rec/remount).
pub fn bind_needs_remount(flags: MsFlags) -> bool {
    !(flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT)).is_empty()
}

#[cfg(test)]
#[path = "options_tests.rs"]
mod tests;
