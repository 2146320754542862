//! cella-bench: container start-up of cella side by side with runc, crun and youki.
//!
//! Every runtime that is installed runs the same scenarios in one process, interleaved (one
//! container of each runtime per iteration, the order rotated every iteration) so machine
//! noise hits all of them alike, under the same conditions: a private mount namespace where a
//! hybrid host looks like plain cgroup v1 (crun 1.8.1 refuses hybrid hosts), a state root of
//! its own per runtime on tmpfs, one busybox rootfs. It prints a markdown table of medians and
//! ratios against cella, and can write it (`--out`) and an SVG chart of the `run` times
//! (`--svg`). `scripts/bench.sh` builds everything and runs it.

mod chart;
mod host;
mod metrics;
mod network;
mod proc;
mod report;
mod runtimes;
mod scenarios;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::host::Layout;
use crate::metrics::Samples;
use crate::report::{Conditions, Subject};
use crate::runtimes::{install_hint, locate, Runtime, NAMES};
use crate::scenarios::{Ctx, Subject as Who};

#[derive(Parser)]
#[command(
    name = "cella-bench",
    about = "Container start-up: cella vs runc, crun, youki"
)]
struct Args {
    /// Containers per runtime in each sequential scenario (run, create/start/delete, exec)
    #[arg(short, long, default_value_t = 20)]
    n: usize,
    /// Unrecorded iterations before the measured ones (page cache, lazy binding)
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Containers started at once in the throughput scenario
    #[arg(long, default_value_t = 50)]
    concurrent: usize,
    /// Rounds of the throughput scenario per runtime
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Pause before every container of the sequential scenarios, in ms. Back to back, a
    /// cgroup v1 attach often skips the RCU grace period its lock needs (the previous
    /// container's left it fast); a pause of ~100 ms shows the cost a lone start pays
    #[arg(long, default_value_t = 0)]
    pause_ms: u64,
    /// Scenarios to run: run, csd (create/start/delete), exec, concurrent; and `network`
    /// (cella only, not in the default): what built-in bridge networking adds to `run`, in a
    /// network namespace of the bench's own
    #[arg(long, value_delimiter = ',', default_value = "run,csd,exec,concurrent")]
    scenarios: Vec<String>,
    /// Runtimes to compare (default: every one that is installed)
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// cella binary (default: this workspace's release build, else debug, else PATH)
    #[arg(long)]
    cella: Option<PathBuf>,
    /// runc binary (default: PATH)
    #[arg(long)]
    runc: Option<PathBuf>,
    /// crun binary (default: PATH)
    #[arg(long)]
    crun: Option<PathBuf>,
    /// youki binary (default: PATH)
    #[arg(long)]
    youki: Option<PathBuf>,
    /// Leave the hybrid layout's /sys/fs/cgroup/unified mounted (crun 1.8.1 then fails)
    #[arg(long)]
    keep_unified: bool,
    /// Leave out the no-runtime floor (unshare + chroot) of the `run` scenario
    #[arg(long)]
    no_floor: bool,
    /// Time limit of one runtime call, in seconds
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Directory for the tmpfs holding state and bundles (default: a new one under /tmp)
    #[arg(long)]
    work: Option<PathBuf>,
    /// Only write the bench's bundle (busybox rootfs, config.json running /bin/true with
    /// cgroupsPath /cella-bench-profile) to this directory and exit: for profiling a runtime by
    /// hand (see integration-tests/bench/README.md)
    #[arg(long, value_name = "DIR")]
    bundle_only: Option<PathBuf>,
    /// Write the markdown report to this file
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the bar chart of the `run` times to this SVG file
    #[arg(long)]
    svg: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match bench(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cella-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bench(args: &Args) -> Result<(), String> {
    if let Some(dir) = &args.bundle_only {
        return write_bundle(dir);
    }
    if !nix::unistd::geteuid().is_root() {
        return Err("must run as root (containers, cgroups, mount namespaces)".into());
    }
    if let Some(bad) = args
        .scenarios
        .iter()
        .find(|s| !["run", "csd", "exec", "concurrent", "network"].contains(&s.as_str()))
    {
        return Err(format!("unknown scenario {bad:?}"));
    }
    // Before any thread exists: unshare(CLONE_NEWNS) refuses threaded processes.
    let unified_gone = host::private_namespace(args.keep_unified).map_err(|e| e.to_string())?;
    proc::become_subreaper().map_err(|e| format!("PR_SET_CHILD_SUBREAPER: {e}"))?;
    let layout = Layout::detect();

    let work = match &args.work {
        Some(w) => {
            std::fs::create_dir_all(w).map_err(|e| format!("mkdir {}: {e}", w.display()))?;
            w.clone()
        }
        None => tempfile::Builder::new()
            .prefix("cella-bench-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?
            .keep(),
    };
    host::mount_tmpfs(&work).map_err(|e| e.to_string())?;
    let r = bench_in(args, &work, layout, unified_gone);
    host::unmount(&work);
    if args.work.is_none() {
        let _ = std::fs::remove_dir(&work);
    }
    r
}

fn bench_in(
    args: &Args,
    work: &std::path::Path,
    layout: Layout,
    unified_gone: bool,
) -> Result<(), String> {
    let mut rts = Vec::new();
    let mut missing = Vec::new();
    for &name in NAMES {
        if !args.only.is_empty() && !args.only.iter().any(|o| o == name) {
            continue;
        }
        let explicit = match name {
            "cella" => args.cella.as_deref(),
            "runc" => args.runc.as_deref(),
            "crun" => args.crun.as_deref(),
            _ => args.youki.as_deref(),
        };
        match locate(name, explicit) {
            Some(bin) => rts.push(Runtime::new(name, bin, work)),
            None => {
                eprintln!("{name} not found: install it with `{}`", install_hint(name));
                missing.push(format!("{name} (`{}`)", install_hint(name)));
            }
        }
    }
    if rts.is_empty() {
        return Err("no runtime to compare".into());
    }
    for rt in &rts {
        std::fs::create_dir_all(&rt.root)
            .map_err(|e| format!("mkdir {}: {e}", rt.root.display()))?;
        eprintln!("{}: {} ({})", rt.name, rt.version, rt.bin.display());
    }
    let rootfs = work.join("rootfs");
    rootfs_tools::busybox_rootfs(&rootfs).map_err(|e| format!("busybox rootfs: {e}"))?;
    let ctx = Ctx::new(
        work.to_owned(),
        rootfs,
        layout,
        Duration::from_secs(args.timeout),
    );

    let mut subjects: Vec<Subject> = rts
        .iter()
        .map(|rt| Subject {
            name: rt.name.to_owned(),
            version: format!("{} (`{}`)", rt.version, rt.bin.display()),
            samples: Samples::default(),
            errors: Vec::new(),
        })
        .collect();
    let floor = !args.no_floor && args.scenarios.iter().any(|s| s == "run");
    if floor {
        subjects.push(Subject {
            name: "floor".into(),
            version: "no runtime: util-linux unshare + chroot".into(),
            samples: Samples::default(),
            errors: Vec::new(),
        });
    }

    let result = run_scenarios(args, &ctx, &rts, &mut subjects, floor);
    // Last: it moves the bench into a network namespace of its own.
    let network = match rts.iter().find(|r| r.name == "cella") {
        Some(cella) if result.is_ok() && args.scenarios.iter().any(|s| s == "network") => {
            eprintln!("network (cella) x{}", args.n);
            Some(network::bench(&ctx, cella, args.n, args.warmup))
        }
        _ => None,
    };
    cleanup(&ctx, &rts);
    result?;
    let network = network.transpose()?;

    let conditions = Conditions {
        date: date(),
        machine: host::machine(),
        cgroups: match (layout, unified_gone) {
            (Layout::V2, _) => "v2".into(),
            (Layout::V1, true) => {
                "v1: a hybrid host whose cgroup2 mount /sys/fs/cgroup/unified is \
                                   unmounted in the bench's private mount namespace, so every \
                                   runtime sees plain v1"
                    .into()
            }
            (Layout::V1, false) => "v1".into(),
        },
        iterations: args.n,
        warmup: args.warmup,
        concurrent: args.concurrent,
        rounds: args.rounds,
        pause_ms: args.pause_ms,
        floor,
        missing,
    };
    let mut md = report::markdown(&conditions, &subjects, layout.memory_peak_name());
    if let Some(section) = network {
        md.push_str(&section);
    }
    println!("{md}");
    if let Some(out) = &args.out {
        std::fs::write(out, &md).map_err(|e| format!("write {}: {e}", out.display()))?;
    }
    if let Some(svg) = &args.svg {
        let title = format!("run /bin/true, per container ({})", conditions.date);
        chart::write_svg(svg, &subjects, &title)?;
    }
    Ok(())
}

/// Runs the chosen scenarios; a subject that fails a scenario is dropped from the rest of it
/// and the error goes into the report.
fn run_scenarios(
    args: &Args,
    ctx: &Ctx,
    rts: &[Runtime],
    subjects: &mut [Subject],
    floor: bool,
) -> Result<(), String> {
    let k = rts.len();
    let want = |s: &str| args.scenarios.iter().any(|x| x == s);
    let iters = args.warmup + args.n;
    let mut scratch = Samples::default();
    let mut failed = vec![false; subjects.len()];

    // The loop body of every scenario: record (or not, during warm-up) or mark failed.
    let mut record = |subjects: &mut [Subject],
                      failed: &mut [bool],
                      i: usize,
                      it: usize,
                      scenario: &str,
                      f: &mut dyn FnMut(&mut Samples) -> Result<(), String>| {
        if failed[i] {
            return;
        }
        let samples = if it < args.warmup {
            &mut scratch
        } else {
            &mut subjects[i].samples
        };
        if args.pause_ms > 0 && scenario != "concurrent" {
            std::thread::sleep(Duration::from_millis(args.pause_ms));
        }
        if let Err(e) = f(samples) {
            eprintln!("\n{} {scenario}: {e}", subjects[i].name);
            subjects[i].errors.push((scenario.to_owned(), e));
            failed[i] = true;
        }
    };

    if want("run") {
        eprint!("run /bin/true x{}:", args.n);
        let n = subjects.len();
        for it in 0..iters {
            for j in 0..n {
                let i = (it + j) % n;
                let who = if floor && i == k {
                    Who::Floor
                } else {
                    Who::Runtime(&rts[i])
                };
                record(subjects, &mut failed, i, it, "run", &mut |s| {
                    scenarios::run_once(ctx, &who, s)
                });
            }
            eprint!(" {it}");
        }
        eprintln!();
    }
    if want("csd") {
        failed.fill(false);
        eprint!("create/start/delete x{}:", args.n);
        for it in 0..iters {
            for j in 0..k {
                let i = (it + j) % k;
                record(
                    subjects,
                    &mut failed,
                    i,
                    it,
                    "create/start/delete",
                    &mut |s| scenarios::csd_once(ctx, &rts[i], s),
                );
            }
            eprint!(" {it}");
        }
        eprintln!();
    }
    if want("exec") {
        failed.fill(false);
        eprint!("exec /bin/true x{}:", args.n);
        let mut targets = Vec::new();
        for (i, rt) in rts.iter().enumerate() {
            match scenarios::exec_setup(ctx, rt) {
                Ok(t) => targets.push(Some(t)),
                Err(e) => {
                    subjects[i].errors.push(("exec setup".into(), e));
                    failed[i] = true;
                    targets.push(None);
                }
            }
        }
        for it in 0..iters {
            for j in 0..k {
                let i = (it + j) % k;
                let Some(t) = &targets[i] else { continue };
                record(subjects, &mut failed, i, it, "exec", &mut |s| {
                    scenarios::exec_once(ctx, &rts[i], t, s)
                });
            }
            eprint!(" {it}");
        }
        eprintln!();
        for (rt, t) in rts.iter().zip(targets) {
            if let Some(t) = t {
                scenarios::exec_teardown(ctx, rt, t);
            }
        }
    }
    if want("concurrent") {
        failed.fill(false);
        eprint!(
            "{} concurrent run x{} rounds:",
            args.concurrent, args.rounds
        );
        // One unrecorded round too: the first burst pays for cold caches.
        let rounds = args.rounds + args.warmup;
        for it in 0..rounds {
            for j in 0..k {
                let i = (it + j) % k;
                record(subjects, &mut failed, i, it, "concurrent", &mut |s| {
                    scenarios::concurrent_once(ctx, &rts[i], args.concurrent, s)
                });
            }
            eprint!(" {it}");
        }
        eprintln!();
    }
    Ok(())
}

/// Deletes whatever container is left in a runtime's state root, then the bench's cgroups.
fn cleanup(ctx: &Ctx, rts: &[Runtime]) {
    for rt in rts {
        let Ok(rd) = std::fs::read_dir(&rt.root) else {
            continue;
        };
        for e in rd.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if id.starts_with(&ctx.prefix) {
                eprintln!("cleanup: {} delete --force {id}", rt.name);
                scenarios::force_delete(rt, &id);
            }
        }
    }
    for left in host::remove_cgroups(&ctx.prefix) {
        eprintln!("cleanup: cgroup left behind: {left}");
    }
}

fn write_bundle(dir: &std::path::Path) -> Result<(), String> {
    let rootfs = dir.join("rootfs");
    rootfs_tools::busybox_rootfs(&rootfs).map_err(|e| format!("busybox rootfs: {e}"))?;
    let rootfs = rootfs
        .canonicalize()
        .map_err(|e| format!("{}: {e}", rootfs.display()))?;
    let config = scenarios::config(&rootfs, &["/bin/true"], "/cella-bench-profile");
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap())
        .map_err(|e| format!("write {}: {e}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn date() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}
