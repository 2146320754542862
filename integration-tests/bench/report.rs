//! The markdown report: conditions, versions, one row per metric with medians and ratios
//! against cella.

use std::fmt::Write;

use crate::metrics::{format_value, Metric, Samples};

/// Everything measured by one bench run, for one subject (a runtime, or the floor).
pub struct Subject {
    pub name: String,
    pub version: String,
    pub samples: Samples,
    /// Scenarios that failed for this subject, with the error.
    pub errors: Vec<(String, String)>,
}

/// What the report says about how the numbers were taken.
pub struct Conditions {
    pub date: String,
    pub machine: String,
    pub cgroups: String,
    pub iterations: usize,
    pub warmup: usize,
    pub concurrent: usize,
    pub rounds: usize,
    /// Pause before each sequential container, in ms (0: back to back).
    pub pause_ms: u64,
    /// Whether the no-runtime floor was measured.
    pub floor: bool,
    pub missing: Vec<String>,
}

pub fn markdown(c: &Conditions, subjects: &[Subject], mem_file: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Container start-up: cella side by side with other runtimes\n"
    );
    let _ = writeln!(s, "- date: {}", c.date);
    let _ = writeln!(s, "- machine: {}", c.machine);
    let _ = writeln!(s, "- cgroups: {}", c.cgroups);
    let _ = writeln!(s, "- versions:");
    for sub in subjects {
        let _ = writeln!(s, "  - {}: {}", sub.name, sub.version);
    }
    for m in &c.missing {
        let _ = writeln!(s, "  - not installed: {m}");
    }
    let _ = writeln!(
        s,
        "- method: {} iterations after {} warm-up, interleaved (each iteration runs every \
         runtime once, in an order rotated from one iteration to the next); {} rounds of {} \
         concurrent containers; medians. A busybox rootfs, runc-like config (ociVersion 1.0.2, \
         six namespaces, absolute cgroupsPath), state and bundles on tmpfs. Wall is spawn to \
         exit of the runtime call; CPU is user+sys of the runtime, its children and the \
         container (RUSAGE_CHILDREN of the subreaper bench); peak RSS is ru_maxrss of the \
         runtime process.",
        c.iterations, c.warmup, c.rounds, c.concurrent
    );
    if c.pause_ms > 0 {
        let _ = writeln!(
            s,
            "- pause: {} ms before every container of the sequential scenarios (cold cgroup \
             attach: the RCU grace period of the cgroup v1 migration lock is paid each time)",
            c.pause_ms
        );
    }
    let _ = writeln!(
        s,
        "- ratio: runtime / cella, so above 1 means cella is faster or smaller.{}\n",
        if c.floor {
            " `floor` is the same namespaces and chroot without any runtime: \
             `unshare --fork --pid --mount --uts --ipc --net --cgroup chroot ROOTFS /bin/true`."
        } else {
            ""
        }
    );
    s.push_str(&table(c, subjects, mem_file));
    let errors: Vec<_> = subjects
        .iter()
        .flat_map(|sub| sub.errors.iter().map(move |(sc, e)| (&sub.name, sc, e)))
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(
            s,
            "\nFailures (the runtime ran no more containers in that scenario; its medians \
             there cover the containers before the failure):\n"
        );
        for (name, sc, e) in errors {
            let _ = writeln!(s, "- {name}, {sc}: {}", e.replace('\n', " "));
        }
    }
    s
}

fn table(c: &Conditions, subjects: &[Subject], mem_file: &str) -> String {
    let mut s = String::from("| |");
    for sub in subjects {
        let _ = write!(s, " {} |", sub.name);
    }
    s.push_str("\n|---|");
    for _ in subjects {
        s.push_str("---:|");
    }
    s.push('\n');
    let base = subjects.iter().find(|x| x.name == "cella");
    for &m in Metric::ALL {
        if subjects.iter().all(|x| x.samples.median(m).is_none()) {
            continue;
        }
        let _ = write!(s, "| {} |", m.label(c.concurrent, mem_file));
        let reference = base.and_then(|b| b.samples.median(m));
        for sub in subjects {
            let cell = match sub.samples.median(m) {
                None => "–".to_owned(),
                Some(v) => {
                    let mut cell = format_value(v, m.unit());
                    if let Some(r) = reference.filter(|r| *r > 0.0 && sub.name != "cella") {
                        let _ = write!(cell, " ({:.2}×)", v / r);
                    }
                    cell
                }
            };
            let _ = write!(s, " {cell} |");
        }
        s.push('\n');
    }
    s
}
