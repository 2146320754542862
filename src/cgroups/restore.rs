//! Undoing writes: `update` applies several control files one by one; when one fails, the ones
//! already written are put back (runc tries the same by re-applying the old configuration),
//! so the cgroup keeps matching the recorded resources.

use super::resources::IfMissing;
use super::{fsutil, CgroupWrite, Manager};

impl Manager {
    /// A write that restores what the file `w` would change holds now, or `None` when that
    /// cannot be done with one write (the file is absent or holds a list, such as device
    /// rules or per-device limits).
    pub fn undo_write(&self, w: &CgroupWrite) -> Option<CgroupWrite> {
        let dir = self.controller_dir(w.controller)?;
        match fsutil::read_optional(&dir.join(&w.file)) {
            Ok(Some(value)) if !value.is_empty() && !value.contains('\n') => Some(CgroupWrite {
                controller: w.controller,
                file: w.file.clone(),
                value,
                if_missing: IfMissing::Skip,
                not_below: None,
            }),
            Ok(None) => match &w.if_missing {
                IfMissing::Instead(other) => self.undo_write(other),
                IfMissing::Fail | IfMissing::Skip => None,
            },
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{get, put, FakeHost};
    use super::*;

    fn write(controller: &'static str, file: &str, value: &str) -> CgroupWrite {
        CgroupWrite {
            controller,
            file: file.into(),
            value: value.into(),
            if_missing: IfMissing::Fail,
            not_below: None,
        }
    }

    #[test]
    fn undo_puts_back_single_values() {
        let host = FakeHost::hybrid();
        let mut m = host.manager(Some("/ctr"), "c");
        m.create().unwrap();
        let pids = m.controller_dir("pids").unwrap();
        put(&pids, "pids.max", "max\n");
        let undo = m.undo_write(&write("pids", "pids.max", "10")).unwrap();
        assert_eq!(
            (undo.file.as_str(), undo.value.as_str()),
            ("pids.max", "max")
        );
        put(&pids, "pids.max", "");
        m.apply(&[undo]).unwrap();
        assert_eq!(get(&pids, "pids.max"), "max");
    }

    #[test]
    fn lists_empty_and_absent_files_are_not_undone() {
        let host = FakeHost::hybrid();
        let mut m = host.manager(Some("/ctr"), "c");
        m.create().unwrap();
        let blkio = m.controller_dir("blkio").unwrap();
        put(
            &blkio,
            "blkio.throttle.read_bps_device",
            "8:0 100\n8:16 200\n",
        );
        put(&m.controller_dir("cpuset").unwrap(), "cpuset.cpus", "\n");
        let w = write("blkio", "blkio.throttle.read_bps_device", "8:0 5");
        assert!(m.undo_write(&w).is_none());
        assert!(m.undo_write(&write("cpuset", "cpuset.cpus", "0")).is_none());
        assert!(m.undo_write(&write("pids", "pids.max", "1")).is_none());
        assert!(m.undo_write(&write("hugetlb", "x", "1")).is_none());
        // The fallback file counts when the first choice does not exist.
        put(&blkio, "blkio.bfq.weight", "100\n");
        let mut weight = write("blkio", "blkio.weight", "300");
        weight.if_missing = IfMissing::Instead(Box::new(write("blkio", "blkio.bfq.weight", "300")));
        let undo = m.undo_write(&weight).unwrap();
        assert_eq!(
            (undo.file.as_str(), undo.value.as_str()),
            ("blkio.bfq.weight", "100")
        );
    }
}
