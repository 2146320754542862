//! The `network` scenario (cella only): what built-in bridge networking adds to `run`.
//!
//! The bench first moves itself into a network namespace of its own (never the machine's:
//! the bridge, veths and nftables table it causes live and die there). Then, interleaved,
//! `run` of /bin/true in four shapes, each with a new network namespace:
//! - `none`: no annotation, a namespace with no interface (the baseline);
//! - `bridge`: `cella.net.mode=bridge` while another container holds the bridge (the common
//!   case: bridge, gateway and nftables table exist; veth, address, route, lease per run);
//! - `bridge+port`: the same with one published port (one nftables element added and removed);
//! - `bridge, lone`: the only container on the bridge, so every run also makes and removes the
//!   nftables table (the bridge itself stays, like docker0).

use serde_json::json;

use crate::metrics::quantile;
use crate::proc::{reap_orphans, spawn, wait_one};
use crate::runtimes::Runtime;
use crate::scenarios::Ctx;

const SHAPES: [&str; 4] = ["none", "bridge", "bridge+port", "bridge, lone"];

fn annotations(shape: &str, n: usize) -> serde_json::Value {
    match shape {
        "none" => json!({}),
        "bridge+port" => json!({
            "cella.net.mode": "bridge",
            "cella.net.ports": format!("{}:80", 20000 + n % 10000),
        }),
        _ => json!({"cella.net.mode": "bridge"}),
    }
}

/// One `run` of /bin/true in `shape`: its wall time in ms.
fn run_one(ctx: &Ctx, rt: &Runtime, shape: &str, n: usize) -> Result<f64, String> {
    let c = ctx.container("cella-net", &["/bin/true"])?;
    let path = c.dir.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    config["annotations"] = annotations(shape, n);
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).map_err(|e| e.to_string())?;
    let mut cmd = rt.cmd(["run", "--bundle"]);
    cmd.arg(&c.dir).arg(&c.id);
    let p = spawn(&mut cmd, &c.dir.join("run.err")).map_err(|e| format!("spawn: {e}"))?;
    let exit = wait_one(p, ctx.limit);
    reap_orphans();
    let exit = exit?;
    let err = std::fs::read_to_string(c.dir.join("run.err")).unwrap_or_default();
    c.remove_bundle();
    if exit.code != Some(0) {
        return Err(format!("{shape}: run failed: {err}"));
    }
    Ok(exit.wall.as_secs_f64() * 1e3)
}

/// A detached `sleep` on the bridge, so that it stays up between runs.
fn hold_bridge(ctx: &Ctx, rt: &Runtime) -> Result<String, String> {
    let c = ctx.container("cella-net", &["sleep", "100000"])?;
    let path = c.dir.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    config["annotations"] = json!({"cella.net.mode": "bridge"});
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).map_err(|e| e.to_string())?;
    let mut cmd = rt.cmd(["run", "--detach", "--bundle"]);
    cmd.arg(&c.dir).arg(&c.id);
    let p = spawn(&mut cmd, &c.dir.join("hold.err")).map_err(|e| format!("spawn: {e}"))?;
    let exit = wait_one(p, ctx.limit)?;
    if exit.code != Some(0) {
        return Err("could not start the container holding the bridge".into());
    }
    Ok(c.id)
}

/// Runs the scenario and returns its markdown section.
pub fn bench(ctx: &Ctx, rt: &Runtime, iters: usize, warmup: usize) -> Result<String, String> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("unshare a network namespace for the bench: {e}"))?;
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); SHAPES.len()];
    let holder = hold_bridge(ctx, rt)?;
    let mut result = Ok(());
    // The three shapes that share the bridge with the holder, interleaved.
    'outer: for it in 0..warmup + iters {
        for j in 0..3 {
            let i = (it + j) % 3;
            match run_one(ctx, rt, SHAPES[i], it) {
                Ok(ms) if it >= warmup => samples[i].push(ms),
                Ok(_) => {}
                Err(e) => {
                    result = Err(e);
                    break 'outer;
                }
            }
        }
    }
    crate::scenarios::force_delete(rt, &holder);
    result?;
    // Alone on the bridge, against the baseline again so that noise hits both alike.
    let mut lone_base = Vec::new();
    for it in 0..warmup + iters {
        let lone = run_one(ctx, rt, SHAPES[3], it)?;
        let base = run_one(ctx, rt, SHAPES[0], it)?;
        if it >= warmup {
            samples[3].push(lone);
            lone_base.push(base);
        }
    }
    let med = |v: &[f64]| quantile(v, 0.5).unwrap_or(f64::NAN);
    let base = med(&samples[0]);
    let mut md = format!(
        "\n## Built-in networking: `run` /bin/true with a new network namespace \
         (cella, {iters} runs each, medians)\n\n\
         | shape | wall | added to `none` |\n|---|---|---|\n| none | {base:.2} ms | - |\n"
    );
    for (i, shape) in SHAPES.iter().enumerate().skip(1) {
        let reference = if i == 3 { med(&lone_base) } else { base };
        let v = med(&samples[i]);
        md.push_str(&format!(
            "| {shape} | {v:.2} ms | {:+.2} ms |\n",
            v - reference
        ));
    }
    Ok(md)
}
