//! `linux.resources` as data: [`plan_resources`] turns the spec into an ordered list of control
//! file writes (v1 files on legacy and hybrid hosts, v2 files on unified hosts, as runc), and
//! [`Manager::apply`] performs them. Conversions follow runc where v1 values meet v2 files.

mod devices;
mod v1;
mod v2;

use oci_spec::runtime::LinuxResources;

pub use devices::DeviceRule;

use super::fsutil;
use super::{CgroupError, CgroupVersion, Manager};

/// One write into a control file of the container's cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupWrite {
    /// The v1 controller whose hierarchy holds the file ("memory", "cpu"); "" for cgroup2.
    pub controller: &'static str,
    pub file: String,
    pub value: String,
    /// What to do when the file does not exist.
    pub if_missing: IfMissing,
    /// A file of the same cgroup whose number the value must not be below
    /// (`memory.checkBeforeUpdate`: memory.max not below memory.current).
    pub not_below: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMissing {
    /// An error naming the file: the host cannot apply the value.
    Fail,
    /// Optional or deprecated kernel feature: skipped with a warning.
    Skip,
    /// Write this instead (io.weight when the BFQ scheduler's io.bfq.weight is absent).
    Instead(Box<CgroupWrite>),
}

impl CgroupWrite {
    fn new(controller: &'static str, file: impl Into<String>, value: impl ToString) -> Self {
        CgroupWrite {
            controller,
            file: file.into(),
            value: value.to_string(),
            if_missing: IfMissing::Fail,
            not_below: None,
        }
    }

    fn not_below(mut self, file: &'static str) -> Self {
        self.not_below = Some(file);
        self
    }

    fn or_skip(mut self) -> Self {
        self.if_missing = IfMissing::Skip;
        self
    }

    fn or_instead(mut self, other: CgroupWrite) -> Self {
        self.if_missing = IfMissing::Instead(Box::new(other));
        self
    }
}

/// What [`plan_resources`] produces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourcePlan {
    /// In the order they must be applied.
    pub writes: Vec<CgroupWrite>,
    /// Settings with no file in this cgroup version, skipped as runc skips them (say so in a
    /// warning), e.g. `memory.swappiness` on v2.
    pub ignored: Vec<String>,
    /// The device rules, checked and normalised. On v1 they are already in `writes`
    /// (devices.deny/devices.allow); on v2 the caller turns them into an eBPF program.
    pub devices: Vec<DeviceRule>,
}

/// Plans the writes for `res` on a host whose limits use `version`.
pub fn plan_resources(
    res: &LinuxResources,
    version: CgroupVersion,
) -> Result<ResourcePlan, CgroupError> {
    let mut plan = ResourcePlan::default();
    if let Some(rules) = res.devices() {
        plan.devices = devices::normalise(rules)?;
    }
    match version {
        CgroupVersion::V1 => v1::plan(res, &mut plan)?,
        CgroupVersion::V2 => v2::plan(res, &mut plan)?,
    }
    Ok(plan)
}

fn invalid(field: &str, reason: impl Into<String>) -> CgroupError {
    CgroupError::InvalidResource {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// `hugetlb.<size>.…` names a file: the size must look like the kernel's ("2MB", "1GB").
fn check_page_size(size: &str) -> Result<(), CgroupError> {
    let digits = size.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &size[digits.len()..];
    let ok = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && matches!(unit, "B" | "KB" | "MB" | "GB" | "TB" | "PB");
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "hugepageLimits.pageSize",
            format!("{size:?} is not like 2MB or 1GB"),
        ))
    }
}

/// `rdma.max` lines: one per device, sorted so the plan is stable.
fn rdma_writes(
    res: &LinuxResources,
    controller: &'static str,
) -> Result<Vec<CgroupWrite>, CgroupError> {
    let Some(rdma) = res.rdma() else {
        return Ok(Vec::new());
    };
    let mut devices: Vec<_> = rdma.iter().collect();
    devices.sort_by(|a, b| a.0.cmp(b.0));
    let mut writes = Vec::new();
    for (device, limit) in devices {
        if device.is_empty() || device.chars().any(|c| c.is_whitespace() || c == '\0') {
            return Err(invalid("rdma", format!("device name {device:?}")));
        }
        let mut parts = vec![device.clone()];
        if let Some(h) = limit.hca_handles() {
            parts.push(format!("hca_handle={h}"));
        }
        if let Some(o) = limit.hca_objects() {
            parts.push(format!("hca_object={o}"));
        }
        if parts.len() == 1 {
            return Err(invalid(
                "rdma",
                format!("{device}: neither hcaHandles nor hcaObjects"),
            ));
        }
        writes.push(CgroupWrite::new(controller, "rdma.max", parts.join(" ")));
    }
    Ok(writes)
}

impl Manager {
    /// Performs `writes` in order. Errors name the file, the value and the OS error; a file
    /// that does not exist says which controller is missing.
    pub fn apply(&self, writes: &[CgroupWrite]) -> Result<(), CgroupError> {
        // Consecutive writes to one file (devices.allow rules) share its descriptor.
        let mut open = None;
        for write in writes {
            self.apply_one(write, &mut open)?;
        }
        Ok(())
    }

    fn apply_one(
        &self,
        w: &CgroupWrite,
        open: &mut Option<(std::path::PathBuf, std::fs::File)>,
    ) -> Result<(), CgroupError> {
        if w.file.is_empty() || w.file.contains('/') || w.file == "." || w.file == ".." {
            return Err(invalid(
                "unified",
                format!("{:?} is not a file name", w.file),
            ));
        }
        let dir = self
            .controller_dir(w.controller)
            .ok_or_else(|| CgroupError::NoController {
                controller: w.controller.to_string(),
                file: w.file.clone(),
            })?;
        let path = dir.join(&w.file);
        if let Some(floor_file) = w.not_below {
            check_not_below(&dir.join(floor_file), &path, &w.value)?;
        }
        let written = match open {
            Some((last, file)) if *last == path => fsutil::write_value(file, &w.value),
            _ => std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|mut file| {
                    let written = fsutil::write_value(&mut file, &w.value);
                    *open = Some((path.clone(), file));
                    written
                }),
        };
        match written {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match &w.if_missing {
                IfMissing::Fail => Err(CgroupError::MissingFile {
                    path,
                    value: w.value.clone(),
                    controller: missing_controller(w),
                }),
                IfMissing::Skip => {
                    log::warn!(
                        "{} does not exist, {:?} not applied",
                        path.display(),
                        w.value
                    );
                    Ok(())
                }
                IfMissing::Instead(other) => self.apply_one(other, open),
            },
            Err(source) => Err(CgroupError::Write {
                path,
                value: w.value.clone(),
                source,
            }),
        }
    }
}

/// Refuses `value` for `path` when it is a number below the one in `floor` (`max` never is).
fn check_not_below(
    floor: &std::path::Path,
    path: &std::path::Path,
    value: &str,
) -> Result<(), CgroupError> {
    let Ok(new) = value.trim().parse::<u64>() else {
        return Ok(());
    };
    let current = std::fs::read_to_string(floor).map_err(|source| CgroupError::Read {
        path: floor.to_path_buf(),
        source,
    })?;
    let current: u64 = current.trim().parse().map_err(|_| CgroupError::Parse {
        what: floor.display().to_string(),
        reason: format!("{:?} is not a number", current.trim()),
    })?;
    if new < current {
        return Err(CgroupError::BelowUsage {
            path: path.to_path_buf(),
            value: new,
            usage: current,
        });
    }
    Ok(())
}

/// The controller a missing file belongs to: v1 names it, v2 files start with it.
fn missing_controller(w: &CgroupWrite) -> String {
    if w.controller.is_empty() {
        w.file.split('.').next().unwrap_or_default().to_string()
    } else {
        w.controller.to_string()
    }
}

#[cfg(test)]
mod tests;
