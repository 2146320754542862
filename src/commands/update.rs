//! `update`: resources from `--resources FILE|-` or from runc's individual flags.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::{anyhow, bail};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use super::units::{parse_int, parse_uint, ram_in_bytes};
use crate::cli::UpdateArgs;
use crate::container::{self, Container};

/// Where resctrl (Intel RDT) would be mounted.
const RESCTRL_INFO: &str = "/sys/fs/resctrl/info";

pub fn update(root: &Path, a: &UpdateArgs) -> anyhow::Result<()> {
    let mut c = Container::load(root, &a.id)?;
    let req = match &a.resources {
        Some(path) => read_resources(path)?,
        None => from_flags(a)?,
    };
    if let Some(m) = req.memory() {
        if m.kernel().is_some_and(|k| k != 0) || m.kernel_tcp().is_some_and(|k| k != 0) {
            log::warn!("Kernel memory settings are ignored and will be removed");
        }
    }
    check_rdt(a, Path::new(RESCTRL_INFO))?;
    let plan = container::update::update(&mut c, &req)?;
    for field in plan
        .ignored
        .iter()
        .filter(|f| !f.starts_with("memory.kernel"))
    {
        log::warn!("update ignores linux.resources {field}, as runc does");
    }
    Ok(())
}

/// `--resources -` reads standard input.
fn read_resources(path: &Path) -> anyhow::Result<LinuxResources> {
    let mut text = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_end(&mut text)
            .map_err(|e| anyhow!("read resources from standard input: {e}"))?;
    } else {
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut text))
            .map_err(|e| anyhow!("open {}: {e}", path.display()))?;
    }
    parse_resources(&text).map_err(|e| anyhow!("parse resources from {}: {e}", path.display()))
}

fn parse_resources(text: &[u8]) -> Result<LinuxResources, serde_json::Error> {
    serde_json::from_slice(text)
}

type CpuU64 = for<'a> fn(&'a mut LinuxCpu, Option<u64>) -> &'a mut LinuxCpu;
type CpuI64 = for<'a> fn(&'a mut LinuxCpu, Option<i64>) -> &'a mut LinuxCpu;
type MemI64 = for<'a> fn(&'a mut LinuxMemory, Option<i64>) -> &'a mut LinuxMemory;

/// The flags as runc reads them, in runc's order (so the first bad value reported is the
/// same); absent flags stay zero, which `update` treats as "unchanged".
fn from_flags(a: &UpdateArgs) -> anyhow::Result<LinuxResources> {
    let invalid = |flag: &str, e: String| anyhow!("invalid value for {flag}: {e}");
    let mut cpu = LinuxCpu::default();
    cpu.set_cpus(a.cpuset_cpus.clone());
    cpu.set_mems(a.cpuset_mems.clone());
    for (flag, value, set) in [
        ("cpu-period", &a.cpu_period, LinuxCpu::set_period as CpuU64),
        (
            "cpu-rt-period",
            &a.cpu_rt_period,
            LinuxCpu::set_realtime_period,
        ),
        ("cpu-share", &a.cpu_share, LinuxCpu::set_shares),
    ] {
        if let Some(v) = value {
            set(&mut cpu, Some(parse_uint(v).map_err(|e| invalid(flag, e))?));
        }
    }
    for (flag, value, set) in [
        ("cpu-quota", &a.cpu_quota, LinuxCpu::set_quota as CpuI64),
        (
            "cpu-rt-runtime",
            &a.cpu_rt_runtime,
            LinuxCpu::set_realtime_runtime,
        ),
    ] {
        if let Some(v) = value {
            set(&mut cpu, Some(parse_int(v).map_err(|e| invalid(flag, e))?));
        }
    }
    let mut memory = LinuxMemory::default();
    #[allow(deprecated)]
    let memory_flags = [
        ("memory", &a.memory, LinuxMemory::set_limit as MemI64),
        ("memory-swap", &a.memory_swap, LinuxMemory::set_swap),
        ("kernel-memory", &a.kernel_memory, LinuxMemory::set_kernel),
        (
            "kernel-memory-tcp",
            &a.kernel_memory_tcp,
            LinuxMemory::set_kernel_tcp,
        ),
        (
            "memory-reservation",
            &a.memory_reservation,
            LinuxMemory::set_reservation,
        ),
    ];
    for (flag, value, set) in memory_flags {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            let bytes = if v == "-1" {
                -1
            } else {
                ram_in_bytes(v).map_err(|e| invalid(flag, e))?
            };
            set(&mut memory, Some(bytes));
        }
    }
    let mut res = LinuxResources::default();
    res.set_cpu(Some(cpu));
    res.set_memory(Some(memory));
    if let Some(w) = a.blkio_weight {
        let mut b = LinuxBlockIo::default();
        b.set_weight(Some(w));
        res.set_block_io(Some(b));
    }
    if let Some(limit) = a.pids_limit {
        let mut p = LinuxPids::default();
        p.set_limit(limit);
        res.set_pids(Some(p));
    }
    Ok(res)
}

/// cella does not manage resctrl groups: the RDT flags fail, with runc's words when the host
/// has no RDT at all.
fn check_rdt(a: &UpdateArgs, resctrl_info: &Path) -> anyhow::Result<()> {
    let l3 = a.l3_cache_schema.as_deref().is_some_and(|s| !s.is_empty());
    let mb = a.mem_bw_schema.as_deref().is_some_and(|s| !s.is_empty());
    if l3 && !resctrl_info.join("L3").is_dir() {
        bail!("Intel RDT/CAT: l3 cache schema is not enabled");
    }
    if mb && !resctrl_info.join("MB").is_dir() {
        bail!("Intel RDT/MBA: memory bandwidth schema is not enabled");
    }
    if l3 || mb {
        bail!(
            "Intel RDT: cella does not manage resctrl groups (--l3-cache-schema, --mem-bw-schema)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn args(flags: &[&str]) -> UpdateArgs {
        let mut argv = vec!["cella", "update"];
        argv.extend_from_slice(flags);
        argv.push("c1");
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Update(a) => *a,
            other => panic!("parsed as {other:?}"),
        }
    }

    fn json(r: &LinuxResources) -> serde_json::Value {
        serde_json::to_value(r).unwrap()
    }

    #[test]
    fn flags_become_resources() {
        let a = args(&[
            "--memory",
            "100M",
            "--memory-swap",
            "-1",
            "--memory-reservation",
            "1g",
            "--cpu-quota",
            "-1",
            "--cpu-period",
            "50000",
            "--cpu-share",
            "512",
            "--cpu-rt-period",
            "1000",
            "--cpu-rt-runtime",
            "500",
            "--cpuset-cpus",
            "0-1",
            "--cpuset-mems",
            "0",
            "--pids-limit",
            "20",
            "--blkio-weight",
            "300",
        ]);
        let r = from_flags(&a).unwrap();
        assert_eq!(
            json(&r),
            serde_json::json!({
                "memory": {"limit": 104857600, "swap": -1, "reservation": 1073741824},
                "cpu": {"shares": 512, "quota": -1, "period": 50000, "realtimeRuntime": 500,
                        "realtimePeriod": 1000, "cpus": "0-1", "mems": "0"},
                "blockIO": {"weight": 300},
                "pids": {"limit": 20}
            })
        );
    }

    #[test]
    fn no_flags_change_nothing() {
        let r = from_flags(&args(&[])).unwrap();
        assert_eq!(json(&r), serde_json::json!({"memory": {}, "cpu": {}}));
    }

    #[test]
    fn bad_values_are_reported_in_runcs_words() {
        let err = |flags: &[&str]| from_flags(&args(flags)).unwrap_err().to_string();
        assert_eq!(
            err(&["--memory", "abc"]),
            "invalid value for memory: invalid size: 'abc'"
        );
        assert_eq!(
            err(&["--memory", "-5"]),
            "invalid value for memory: invalid size: '-5'"
        );
        assert_eq!(
            err(&["--cpu-quota", "abc"]),
            "invalid value for cpu-quota: strconv.ParseInt: parsing \"abc\": invalid syntax"
        );
        assert_eq!(
            err(&["--cpu-period", "-1"]),
            "invalid value for cpu-period: strconv.ParseUint: parsing \"-1\": invalid syntax"
        );
        // runc checks cpu flags before memory flags.
        assert!(err(&["--memory", "x", "--cpu-share", "y"]).contains("cpu-share"));
    }

    #[test]
    fn kernel_memory_flags_are_accepted_but_hidden() {
        let r = from_flags(&args(&["--kernel-memory", "10M"])).unwrap();
        #[allow(deprecated)]
        let kernel = r.memory().as_ref().unwrap().kernel();
        assert_eq!(kernel, Some(10 << 20));
        use clap::CommandFactory;
        let mut cmd = Cli::command();
        let help = cmd
            .find_subcommand_mut("update")
            .unwrap()
            .render_help()
            .to_string();
        assert!(!help.contains("kernel-memory"), "{help}");
        assert!(help.contains("--memory-swap") && help.contains("--l3-cache-schema"));
    }

    #[test]
    fn resources_json_is_linux_resources() {
        let r =
            parse_resources(br#"{"memory": {"limit": 1048576}, "pids": {"limit": 5}}"#).unwrap();
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(1048576));
        let err = parse_resources(br#"{"memory": {"limit": "x"}}"#).unwrap_err();
        assert!(err.to_string().starts_with("invalid type"), "{err}");
        assert!(parse_resources(b"garbage").is_err());
    }

    #[test]
    fn rdt_flags_fail() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(check_rdt(&args(&[]), tmp.path()).is_ok());
        let err = check_rdt(&args(&["--l3-cache-schema", "L3:0=f"]), tmp.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Intel RDT/CAT: l3 cache schema is not enabled"
        );
        let err = check_rdt(&args(&["--mem-bw-schema", "MB:0=70"]), tmp.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Intel RDT/MBA: memory bandwidth schema is not enabled"
        );
        std::fs::create_dir(tmp.path().join("MB")).unwrap();
        let err = check_rdt(&args(&["--mem-bw-schema", "MB:0=70"]), tmp.path()).unwrap_err();
        assert!(err.to_string().contains("does not manage resctrl"), "{err}");
    }
}
