//! One iteration of each scenario for one runtime. Every call goes through [`proc`], so wall
//! time is spawn-to-exit as the caller (an engine) sees it, and CPU time is the growth of the
//! bench's `RUSAGE_CHILDREN`: the runtime, its children, and whatever it left for the
//! subreaper bench to reap (a detached container's init included).

use std::cell::Cell;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::unistd::Pid;
use serde_json::json;

use crate::host::Layout;
use crate::metrics::{Metric, Samples};
use crate::proc::{self, adopt, children_cpu, reap_orphans, spawn, wait_all, wait_one, Proc};
use crate::runtimes::Runtime;

/// What every iteration shares: where bundles go, the rootfs, naming, limits.
pub struct Ctx {
    pub work: PathBuf,
    /// One busybox rootfs shared by every container (config.json points at it).
    pub rootfs: PathBuf,
    /// `cella-bench-<pid>`: container ids and cgroup names start with it.
    pub prefix: String,
    pub layout: Layout,
    /// Time limit of one runtime call.
    pub limit: Duration,
    counter: Cell<u64>,
}

/// A bundle with a config.json of its own; the id doubles as the cgroup name.
pub struct Container {
    pub id: String,
    pub dir: PathBuf,
    /// Absolute cgroupsPath, so the cgroup can be found (and read) before delete.
    pub cgroup: String,
}

impl Ctx {
    pub fn new(work: PathBuf, rootfs: PathBuf, layout: Layout, limit: Duration) -> Ctx {
        Ctx {
            work,
            rootfs,
            prefix: format!("cella-bench-{}", std::process::id()),
            layout,
            limit,
            counter: Cell::new(0),
        }
    }

    /// A fresh bundle running `args`, for runtime `rt`.
    pub fn container(&self, rt: &str, args: &[&str]) -> Result<Container, String> {
        let n = self.counter.get();
        self.counter.set(n + 1);
        let id = format!("{}-{rt}-{n}", self.prefix);
        let dir = self.work.join(rt).join("bundles").join(&id);
        fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let cgroup = format!("/{id}");
        let config = config(&self.rootfs, args, &cgroup);
        let path = dir.join("config.json");
        fs::write(&path, serde_json::to_vec_pretty(&config).unwrap())
            .map_err(|e| format!("write {}: {e}", path.display()))?;
        Ok(Container { id, dir, cgroup })
    }
}

/// The tests' runc-like config (containerd's default capabilities, six namespaces, runc's
/// mounts, masked and read-only paths), with ociVersion 1.0.2 because crun 1.8.1 rejects
/// newer ones, the shared rootfs and an absolute cgroupsPath.
pub fn config(rootfs: &Path, args: &[&str], cgroup: &str) -> serde_json::Value {
    let mut c = integration_tests::base_config(args);
    c["ociVersion"] = json!("1.0.2");
    c["root"] = json!({"path": rootfs, "readonly": false});
    c["linux"]["cgroupsPath"] = json!(cgroup);
    c
}

impl Container {
    fn err_file(&self, what: &str) -> PathBuf {
        self.dir.join(format!("{what}.err"))
    }

    fn call(&self, rt: &Runtime, args: &[&str], limit: Duration) -> Result<proc::Exit, String> {
        let mut cmd = rt.cmd(args);
        let p = spawn(&mut cmd, &self.err_file(args[0])).map_err(|e| format!("spawn: {e}"))?;
        wait_one(p, limit)
    }

    pub fn remove_bundle(&self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn kib_to_mib(k: u64) -> f64 {
    k as f64 / 1024.0
}

/// The runtime compared, or the floor: the same namespaces and chroot without any runtime
/// (`unshare --fork --pid --mount --uts --ipc --net --cgroup chroot ROOTFS /bin/true`).
pub enum Subject<'a> {
    Runtime(&'a Runtime),
    Floor,
}

/// Sequential `run` of /bin/true: wall, CPU, peak RSS of the runtime process.
pub fn run_once(ctx: &Ctx, who: &Subject, out: &mut Samples) -> Result<(), String> {
    let name = match who {
        Subject::Runtime(rt) => rt.name,
        Subject::Floor => "floor",
    };
    let c = ctx.container(name, &["/bin/true"])?;
    let mut cmd = match who {
        Subject::Runtime(rt) => {
            let mut r = rt.cmd(["run", "--bundle"]);
            r.arg(&c.dir).arg(&c.id);
            r
        }
        Subject::Floor => {
            let mut u = std::process::Command::new("unshare");
            u.args([
                "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "--cgroup",
            ])
            .arg("chroot")
            .arg(&ctx.rootfs)
            .arg("/bin/true");
            u
        }
    };
    let cpu0 = children_cpu();
    let p = spawn(&mut cmd, &c.err_file("run")).map_err(|e| format!("spawn: {e}"))?;
    let exit = wait_one(p, ctx.limit);
    reap_orphans();
    let cpu = children_cpu() - cpu0;
    c.remove_bundle();
    let exit = exit?;
    out.push(Metric::RunWall, ms(exit.wall));
    out.push(Metric::RunCpu, ms(cpu));
    out.push(Metric::RunRss, kib_to_mib(exit.maxrss_kib));
    Ok(())
}

/// containerd's pattern: `create --pid-file`, `start`, wait for the init (/bin/true) to exit,
/// read the cgroup's peak memory, `delete`. Each call timed on its own, plus the whole.
pub fn csd_once(ctx: &Ctx, rt: &Runtime, out: &mut Samples) -> Result<(), String> {
    let c = ctx.container(rt.name, &["/bin/true"])?;
    let r = csd_steps(ctx, rt, &c, out);
    if r.is_err() {
        force_delete(rt, &c.id);
    }
    c.remove_bundle();
    r
}

fn csd_steps(ctx: &Ctx, rt: &Runtime, c: &Container, out: &mut Samples) -> Result<(), String> {
    let pid_file = c.dir.join("pid");
    let (dir, pf) = (c.dir.to_str().unwrap(), pid_file.to_str().unwrap());
    let cpu0 = children_cpu();
    let t0 = Instant::now();
    let create = c.call(
        rt,
        &["create", "--bundle", dir, "--pid-file", pf, &c.id],
        ctx.limit,
    )?;
    let init = adopt_init(&pid_file)?;
    let start = c.call(rt, &["start", &c.id], ctx.limit)?;
    wait_one(init, ctx.limit).map_err(|e| format!("container init: {e}"))?;
    let peak = read_peak(ctx, &c.cgroup);
    let delete = c.call(rt, &["delete", &c.id], ctx.limit)?;
    let total = t0.elapsed();
    reap_orphans();
    let cpu = children_cpu() - cpu0;
    out.push(Metric::CsdWall, ms(total));
    out.push(Metric::CsdCpu, ms(cpu));
    out.push(Metric::CreateWall, ms(create.wall));
    out.push(Metric::StartWall, ms(start.wall));
    out.push(Metric::DeleteWall, ms(delete.wall));
    out.push(Metric::CreateRss, kib_to_mib(create.maxrss_kib));
    if let Some(p) = peak {
        out.push(Metric::CgroupPeak, p);
    }
    Ok(())
}

/// Tracks the init named by the pid file, which is the bench's child by now (subreaper).
fn adopt_init(pid_file: &Path) -> Result<Proc, String> {
    let text = fs::read_to_string(pid_file)
        .map_err(|e| format!("read pid file {}: {e}", pid_file.display()))?;
    let pid: i32 = text
        .trim()
        .parse()
        .map_err(|_| format!("pid file {} holds {text:?}", pid_file.display()))?;
    adopt(Pid::from_raw(pid), "container init").map_err(|e| format!("pidfd_open({pid}): {e}"))
}

/// The cgroup's peak memory in MiB, None when the runtime made no memory cgroup there.
fn read_peak(ctx: &Ctx, cgroup: &str) -> Option<f64> {
    let text = fs::read_to_string(ctx.layout.memory_peak_file(cgroup)).ok()?;
    let bytes: u64 = text.trim().parse().ok()?;
    Some(bytes as f64 / (1024.0 * 1024.0))
}

/// A running container (busybox `sleep`) that `exec` goes into.
pub struct ExecTarget {
    c: Container,
    init: Proc,
}

/// Creates and starts the container `exec` iterations use.
pub fn exec_setup(ctx: &Ctx, rt: &Runtime) -> Result<ExecTarget, String> {
    let c = ctx.container(rt.name, &["sleep", "1000000"])?;
    let pid_file = c.dir.join("pid");
    let (dir, pf) = (c.dir.to_str().unwrap(), pid_file.to_str().unwrap());
    let started = c
        .call(
            rt,
            &["create", "--bundle", dir, "--pid-file", pf, &c.id],
            ctx.limit,
        )
        .and_then(|_| adopt_init(&pid_file))
        .and_then(|init| {
            c.call(rt, &["start", &c.id], ctx.limit)?;
            Ok(init)
        });
    match started {
        Ok(init) => Ok(ExecTarget { c, init }),
        Err(e) => {
            force_delete(rt, &c.id);
            c.remove_bundle();
            Err(e)
        }
    }
}

/// `exec` of /bin/true into the running container: wall, CPU.
pub fn exec_once(ctx: &Ctx, rt: &Runtime, t: &ExecTarget, out: &mut Samples) -> Result<(), String> {
    let cpu0 = children_cpu();
    let exit = t.c.call(rt, &["exec", &t.c.id, "/bin/true"], ctx.limit);
    reap_orphans();
    let cpu = children_cpu() - cpu0;
    let exit = exit?;
    out.push(Metric::ExecWall, ms(exit.wall));
    out.push(Metric::ExecCpu, ms(cpu));
    Ok(())
}

/// Kills the `exec` container, waits for its init and deletes it.
pub fn exec_teardown(ctx: &Ctx, rt: &Runtime, t: ExecTarget) {
    let _ = t.c.call(rt, &["kill", &t.c.id, "KILL"], ctx.limit);
    // Killed by SIGKILL: wait_one reports that as a failure, which is expected here.
    let _ = wait_one(t.init, ctx.limit);
    let _ = t.c.call(rt, &["delete", &t.c.id], ctx.limit);
    force_delete(rt, &t.c.id);
    t.c.remove_bundle();
}

/// `n` `run`s of /bin/true started at once: total wall and CPU, each divided by `n`.
pub fn concurrent_once(ctx: &Ctx, rt: &Runtime, n: usize, out: &mut Samples) -> Result<(), String> {
    let cs = (0..n)
        .map(|_| ctx.container(rt.name, &["/bin/true"]))
        .collect::<Result<Vec<_>, _>>()?;
    let cpu0 = children_cpu();
    let t0 = Instant::now();
    let mut procs = Vec::with_capacity(n);
    let mut spawn_err = None;
    for c in &cs {
        let dir = c.dir.to_str().unwrap();
        match spawn(
            &mut rt.cmd(["run", "--bundle", dir, &c.id]),
            &c.err_file("run"),
        ) {
            Ok(p) => procs.push(p),
            Err(e) => {
                spawn_err = Some(format!("spawn: {e}"));
                break;
            }
        }
    }
    // One limit for the whole batch: a batch normally takes about a second, and a runtime
    // that loses its container's exit (youki 0.7.0 here) must not stall the bench for long.
    let r = wait_all(procs, ctx.limit);
    let wall = t0.elapsed();
    reap_orphans();
    let cpu = children_cpu() - cpu0;
    for c in &cs {
        if r.is_err() || spawn_err.is_some() {
            force_delete(rt, &c.id);
        }
        c.remove_bundle();
    }
    if let Some(e) = spawn_err {
        return Err(e);
    }
    r?;
    out.push(Metric::ConcWall, ms(wall) / n as f64);
    out.push(Metric::ConcCpu, ms(cpu) / n as f64);
    Ok(())
}

/// Best-effort `delete --force`, for cleanup after a failure.
pub fn force_delete(rt: &Runtime, id: &str) {
    let _ = rt
        .cmd(["delete", "--force", id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    reap_orphans();
}
