//! Device rules on cgroup v2: there is no devices controller there, so the rules become an
//! eBPF program ([`program`]) that the kernel runs on every device access of the cgroup's
//! processes, attached to the container's cgroup directory ([`attach`]), as runc and crun do.
//! On v1 the same rules are written to devices.allow/devices.deny instead.

mod attach;
mod program;

pub use attach::{attach_device_filter, DeviceFilterError};

#[cfg(test)]
mod privileged_tests;
#[cfg(test)]
mod tests;
