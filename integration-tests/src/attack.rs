//! Helpers of the attack tests (tests/cve.rs): a disposable copy of the runtime binary, and
//! what a test checks (and cleans) on the host after an attack.

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::Runtime;

/// A copy of the runtime under test in a directory of its own, used as the runtime: an attack
/// on "the host's runtime binary" that works damages only the copy, which [`RuntimeCopy::intact`]
/// compares with the original.
pub struct RuntimeCopy {
    pub rt: Runtime,
    original: PathBuf,
    _dir: TempDir,
}

impl RuntimeCopy {
    pub fn new(rt: &Runtime) -> RuntimeCopy {
        let dir = tempfile::Builder::new()
            .prefix("cella-test-bin-")
            .tempdir()
            .unwrap();
        // The same file name, so Runtime::is_cella still recognises it.
        let copy = dir.path().join(rt.bin().file_name().unwrap());
        fs::copy(rt.bin(), &copy).unwrap();
        RuntimeCopy {
            rt: Runtime::with_bin(copy),
            original: rt.bin().to_path_buf(),
            _dir: dir,
        }
    }

    /// Whether the copy is still the original. A damaged copy is then put back, so that the
    /// cleanup (which runs the copy) works.
    pub fn intact(&self) -> bool {
        let intact = fs::read(self.rt.bin()).unwrap() == fs::read(&self.original).unwrap();
        if !intact {
            let restored = self.rt.bin().with_extension("restored");
            fs::copy(&self.original, &restored).unwrap();
            fs::rename(&restored, self.rt.bin()).unwrap();
        }
        intact
    }
}

/// Mount points (from /proc/self/mountinfo) at `dir` or below it.
pub fn host_mounts_at_or_under(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| *p == dir || p.starts_with(&format!("{dir}/")))
        .map(str::to_string)
        .collect()
}

/// Lazily unmounts everything at or under a host path when dropped: a test whose attack
/// worked must not leave its mounts behind.
pub struct UnmountAll(pub PathBuf);

impl Drop for UnmountAll {
    fn drop(&mut self) {
        for _ in 0..100 {
            let mut points = host_mounts_at_or_under(&self.0);
            if points.is_empty() {
                return;
            }
            points.sort_by_key(|p| std::cmp::Reverse(p.len()));
            for p in points {
                let _ = nix::mount::umount2(p.as_str(), nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
}

/// Names and contents of the files directly in `dir`, to compare before and after an attack.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let data = fs::read(e.path()).unwrap_or_default();
            (name, data)
        })
        .collect();
    entries.sort();
    entries
}
