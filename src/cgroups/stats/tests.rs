use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::v1::{parse_blkio, V1Dirs};
use super::v2::parse_io_stat;
use super::*;
use crate::cgroups::testutil::{put, FakeHost};

fn dir(root: &Path, name: &str) -> PathBuf {
    let d = root.join(name);
    fs::create_dir_all(&d).unwrap();
    d
}

/// Files as this (v1) build machine's kernel shows them for a small container.
fn v1_files(root: &Path) -> V1Dirs {
    let cpu = dir(root, "cpu");
    put(
        &cpu,
        "cpu.stat",
        "nr_periods 12\nnr_throttled 3\nthrottled_time 4500\nnr_bursts 0\nburst_time 0\n",
    );
    let cpuacct = dir(root, "cpuacct");
    put(&cpuacct, "cpuacct.usage", "746362953\n");
    put(&cpuacct, "cpuacct.usage_percpu", "299794313 446568640 \n");
    put(
        &cpuacct,
        "cpuacct.usage_all",
        "cpu user system\n0 96000000 144000000\n1 112000000 295987357\n",
    );
    put(&cpuacct, "cpuacct.stat", "user 23\nsystem 50\n");
    let cpuset = dir(root, "cpuset");
    put(&cpuset, "cpuset.cpus", "0-1\n");
    put(&cpuset, "cpuset.mems", "0\n");
    put(&cpuset, "cpuset.sched_load_balance", "1\n");
    put(&cpuset, "cpuset.sched_relax_domain_level", "-1\n");
    let memory = dir(root, "memory");
    put(
        &memory,
        "memory.stat",
        "cache 4096\nrss 159744\nhierarchical_memory_limit 1073741824\ntotal_cache 4096\n",
    );
    for (prefix, usage, max, limit) in [
        ("memory", 638976, 2908160, 1073741824u64),
        ("memory.memsw", 638976, 2908160, 2147483648),
        ("memory.kmem", 413696, 765952, 9223372036854771712),
        ("memory.kmem.tcp", 0, 0, 9223372036854771712),
    ] {
        put(
            &memory,
            &format!("{prefix}.usage_in_bytes"),
            &format!("{usage}\n"),
        );
        put(
            &memory,
            &format!("{prefix}.max_usage_in_bytes"),
            &format!("{max}\n"),
        );
        put(
            &memory,
            &format!("{prefix}.limit_in_bytes"),
            &format!("{limit}\n"),
        );
        put(&memory, &format!("{prefix}.failcnt"), "0\n");
    }
    let pids = dir(root, "pids");
    put(&pids, "pids.current", "3\n");
    put(&pids, "pids.max", "max\n");
    let blkio = dir(root, "blkio");
    put(&blkio, "blkio.bfq.io_serviced_recursive", "");
    put(&blkio, "blkio.throttle.io_serviced_recursive", "");
    put(&blkio, "blkio.throttle.io_serviced", "");
    let hugetlb = dir(root, "hugetlb");
    put(&hugetlb, "hugetlb.2MB.usage_in_bytes", "2097152\n");
    put(&hugetlb, "hugetlb.2MB.max_usage_in_bytes", "4194304\n");
    put(&hugetlb, "hugetlb.2MB.failcnt", "1\n");
    put(&hugetlb, "hugetlb.2MB.rsvd.usage_in_bytes", "0\n");
    V1Dirs {
        cpu: Some(cpu),
        cpuacct: Some(cpuacct),
        cpuset: Some(cpuset),
        memory: Some(memory),
        pids: Some(pids),
        blkio: Some(blkio),
        hugetlb: Some(hugetlb),
    }
}

#[test]
fn v1_stats_have_runcs_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let s = v1::stats(&v1_files(tmp.path())).unwrap();
    let doc: Value = serde_json::to_value(&s).unwrap();
    assert_eq!(
        doc["cpu"],
        json!({
            "usage": {
                "total": 746362953u64,
                "percpu": [299794313u64, 446568640u64],
                "percpu_kernel": [144000000u64, 295987357u64],
                "percpu_user": [96000000u64, 112000000u64],
                "kernel": 500000000u64,
                "user": 230000000u64
            },
            "throttling": {"periods": 12, "throttledPeriods": 3, "throttledTime": 4500}
        })
    );
    assert_eq!(
        doc["cpuset"],
        json!({"cpus": [0, 1], "cpu_exclusive": 0, "mems": [0], "mem_hardwall": 0,
               "mem_exclusive": 0, "memory_migrate": 0, "memory_spread_page": 0,
               "memory_spread_slab": 0, "memory_pressure": 0, "sched_load_balance": 1,
               "sched_relax_domain_level": -1})
    );
    let m = &doc["memory"];
    assert_eq!(m["cache"], 4096);
    assert_eq!(
        m["usage"],
        json!({"limit": 1073741824u64, "usage": 638976, "max": 2908160, "failcnt": 0})
    );
    assert_eq!(m["swap"]["limit"], 2147483648u64);
    assert_eq!(m["kernel"]["usage"], 413696);
    // Zero usage and max are left out, limit and failcnt never.
    assert_eq!(
        m["kernelTCP"],
        json!({"limit": 9223372036854771712u64, "failcnt": 0})
    );
    assert_eq!(m["raw"]["hierarchical_memory_limit"], 1073741824u64);
    assert_eq!(doc["pids"], json!({"current": 3}));
    assert_eq!(doc["blkio"], json!({}));
    assert_eq!(
        doc["hugetlb"],
        json!({"2MB": {"usage": 2097152, "max": 4194304, "failcnt": 1}})
    );
    assert_eq!(doc["intel_rdt"], json!({}));
    assert_eq!(doc["network_interfaces"], Value::Null);
    // Field order as runc prints it.
    let text = serde_json::to_string(&s).unwrap();
    let order = [
        "\"cpu\"",
        "\"cpuset\"",
        "\"memory\"",
        "\"pids\"",
        "\"blkio\"",
        "\"hugetlb\"",
        "\"intel_rdt\"",
        "\"network_interfaces\"",
    ];
    let positions: Vec<usize> = order.iter().map(|k| text.find(k).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
}

#[test]
fn v1_optional_files_and_hierarchies_may_be_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut dirs = v1_files(tmp.path());
    let memory = dirs.memory.clone().unwrap();
    for prefix in ["memory.memsw", "memory.kmem", "memory.kmem.tcp"] {
        for f in [
            "usage_in_bytes",
            "max_usage_in_bytes",
            "limit_in_bytes",
            "failcnt",
        ] {
            fs::remove_file(memory.join(format!("{prefix}.{f}"))).unwrap();
        }
    }
    fs::remove_file(dirs.cpuacct.as_ref().unwrap().join("cpuacct.usage_all")).unwrap();
    dirs.pids = None;
    dirs.hugetlb = None;
    let s = v1::stats(&dirs).unwrap();
    assert_eq!(s.memory.swap, MemoryEntry::default());
    assert_eq!(s.memory.usage.usage, 638976);
    assert!(s.cpu.usage.percpu_user.is_empty());
    assert_eq!(s.cpu.usage.percpu.len(), 2);
    assert_eq!(s.pids, Pids::default());
    assert!(s.hugetlb.is_empty());

    // No memory.stat: no memory accounting at all.
    fs::remove_file(memory.join("memory.stat")).unwrap();
    assert_eq!(v1::stats(&dirs).unwrap().memory, Memory::default());
}

#[test]
fn v1_required_file_missing_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = v1_files(tmp.path());
    fs::remove_file(dirs.memory.as_ref().unwrap().join("memory.failcnt")).unwrap();
    let err = v1::stats(&dirs).unwrap_err().to_string();
    assert!(err.contains("memory.failcnt"), "{err}");
    put(dirs.memory.as_ref().unwrap(), "memory.failcnt", "lots\n");
    let err = v1::stats(&dirs).unwrap_err().to_string();
    assert!(
        err.contains("memory.failcnt") && err.contains("lots"),
        "{err}"
    );
}

#[test]
fn blkio_lines_parse_like_runc() {
    let p = Path::new("blkio.io_service_bytes_recursive");
    let text = "8:0 Read 1282048\n8:0 Write 2195456\n8:16 Total 3477504\nTotal 3477504\n";
    let e = parse_blkio(p, text).unwrap();
    assert_eq!(e.len(), 3);
    assert_eq!(
        e[0],
        BlkioEntry {
            major: 8,
            minor: 0,
            op: "Read".into(),
            value: 1282048
        }
    );
    assert_eq!((e[2].minor, e[2].op.as_str()), (16, "Total"));
    let sectors = parse_blkio(p, "8:0 6792\n").unwrap();
    assert_eq!(sectors[0].op, "");
    assert_eq!(sectors[0].value, 6792);
    assert!(parse_blkio(p, "8:0\n").is_err());
    assert!(parse_blkio(p, "a:0 Read 1\n").is_err());
    // The document leaves zero fields out.
    let zero = BlkioEntry {
        major: 0,
        minor: 0,
        op: String::new(),
        value: 0,
    };
    assert_eq!(serde_json::to_string(&zero).unwrap(), "{}");
}

#[test]
fn blkio_takes_the_first_group_with_data() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dir(tmp.path(), "blkio");
    // BFQ files exist but are empty (no I/O through BFQ); throttling saw I/O.
    put(&d, "blkio.bfq.io_serviced_recursive", "");
    put(&d, "blkio.bfq.io_service_bytes_recursive", "");
    put(
        &d,
        "blkio.throttle.io_serviced_recursive",
        "254:0 Read 10\n254:0 Write 2\nTotal 12\n",
    );
    put(
        &d,
        "blkio.throttle.io_service_bytes_recursive",
        "254:0 Read 40960\n254:0 Write 8192\nTotal 49152\n",
    );
    put(&d, "blkio.throttle.io_serviced", "254:0 Read 999\n");
    let dirs = V1Dirs {
        blkio: Some(d),
        ..V1Dirs::default()
    };
    let s = v1::stats(&dirs).unwrap();
    let doc = serde_json::to_value(&s.blkio).unwrap();
    assert_eq!(
        doc,
        json!({
            "ioServiceBytesRecursive": [
                {"major": 254, "op": "Read", "value": 40960},
                {"major": 254, "op": "Write", "value": 8192}
            ],
            "ioServicedRecursive": [
                {"major": 254, "op": "Read", "value": 10},
                {"major": 254, "op": "Write", "value": 2}
            ]
        })
    );
}

fn v2_files(d: &Path) {
    put(
        d,
        "cpu.stat",
        "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\n\
         throttled_usec 20\nnr_bursts 0\nburst_usec 0\n",
    );
    put(
        d,
        "memory.stat",
        "anon 700000\nfile 8192\nkernel 1000\nshmem 0\npgfault 10\n",
    );
    put(d, "memory.current", "1048576\n");
    put(d, "memory.max", "20971520\n");
    put(d, "memory.swap.current", "4096\n");
    put(d, "memory.swap.max", "max\n");
    put(d, "pids.current", "2\n");
    put(d, "pids.max", "100\n");
    put(
        d,
        "io.stat",
        "254:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
    );
    put(d, "hugetlb.1GB.current", "0\n");
    put(d, "hugetlb.1GB.events", "max 2\n");
    put(d, "hugetlb.1GB.rsvd.current", "0\n");
}

#[test]
fn v2_stats_map_onto_runcs_v1_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    v2_files(d);
    let s = v2::stats(d).unwrap();
    let doc: Value = serde_json::to_value(&s).unwrap();
    assert_eq!(
        doc["cpu"],
        json!({
            "usage": {"total": 1500000, "kernel": 500000, "user": 1000000},
            "throttling": {"periods": 4, "throttledPeriods": 1, "throttledTime": 20000}
        })
    );
    assert_eq!(doc["memory"]["cache"], 8192);
    assert_eq!(
        doc["memory"]["usage"],
        json!({"limit": 20971520, "usage": 1048576, "failcnt": 0})
    );
    // memory+swap, unlimited stays u64::MAX.
    assert_eq!(
        doc["memory"]["swap"],
        json!({"limit": u64::MAX, "usage": 1052672, "failcnt": 0})
    );
    assert_eq!(doc["memory"]["raw"]["anon"], 700000);
    assert_eq!(doc["pids"], json!({"current": 2, "limit": 100}));
    assert_eq!(
        doc["blkio"],
        json!({
            "ioServiceBytesRecursive": [
                {"major": 254, "op": "Read", "value": 4096},
                {"major": 254, "op": "Write"}
            ],
            "ioServicedRecursive": [
                {"major": 254, "op": "Read", "value": 1},
                {"major": 254, "op": "Write"}
            ]
        })
    );
    assert_eq!(doc["hugetlb"], json!({"1GB": {"failcnt": 2}}));

    // A swap limit is reported as memory+swap; memory.max "max" as u64::MAX.
    put(d, "memory.swap.max", "1048576\n");
    assert_eq!(v2::stats(d).unwrap().memory.swap.limit, 22020096);
    put(d, "memory.max", "max\n");
    put(d, "memory.peak", "3000000\n");
    let s = v2::stats(d).unwrap();
    assert_eq!(s.memory.usage.limit, u64::MAX);
    assert_eq!(s.memory.usage.max, 3000000);
}

#[test]
fn v2_without_controllers_counts_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    put(d, "cgroup.procs", "10\n11\n");
    let sub = dir(d, "sub");
    put(&sub, "cgroup.procs", "12\n");
    let s = v2::stats(d).unwrap();
    assert_eq!(s.pids.current, 3);
    assert_eq!(s.memory, Memory::default());
    assert_eq!(s.cpu, Cpu::default());
}

#[test]
fn io_stat_rejects_garbage() {
    let p = Path::new("io.stat");
    assert!(parse_io_stat(p, "8-0 rbytes=1\n").is_err());
    assert!(parse_io_stat(p, "8:0 rbytes=x\n").is_err());
    let b = parse_io_stat(p, "8:0 dbytes=5 unknown\n").unwrap();
    assert_eq!(b, Blkio::default());
}

#[test]
fn cpu_lists_expand() {
    let p = Path::new("cpuset.cpus");
    assert_eq!(
        parse_list(p, "0-3,8,10-11\n").unwrap(),
        [0, 1, 2, 3, 8, 10, 11]
    );
    assert_eq!(parse_list(p, "").unwrap(), Vec::<u16>::new());
    assert!(parse_list(p, "3-1").is_err());
    assert!(parse_list(p, "a").is_err());
}

#[test]
fn values_read_like_runc() {
    assert_eq!(parse_value("max"), Some(u64::MAX));
    assert_eq!(parse_value("-1"), Some(0));
    assert_eq!(parse_value(" 42\n"), Some(42));
    assert_eq!(parse_value("x"), None);
    let p = Path::new("memory.stat");
    assert!(parse_keyed(p, "cache 1 2\n").is_err());
    assert!(parse_keyed(p, "cache\n").is_err());
}

#[test]
fn events_serialise_like_runc() {
    let s = Stats::default();
    let stats = Event {
        kind: "stats",
        id: "c1",
        data: Some(&s),
    };
    let text = serde_json::to_string(&stats).unwrap();
    assert!(
        text.starts_with(r#"{"type":"stats","id":"c1","data":{"cpu":{"usage":{"kernel":0,"user":0},"throttling":{}},"#),
        "{text}"
    );
    let oom = Event {
        kind: "oom",
        id: "c1",
        data: None,
    };
    assert_eq!(
        serde_json::to_string(&oom).unwrap(),
        r#"{"type":"oom","id":"c1"}"#
    );
}

#[test]
fn manager_reads_the_hierarchies_it_is_in() {
    let host = FakeHost::hybrid();
    let mut m = host.manager(Some("/ctr"), "c");
    m.create().unwrap();
    put(&m.controller_dir("pids").unwrap(), "pids.current", "5\n");
    put(&m.controller_dir("pids").unwrap(), "pids.max", "9\n");
    // The fake host has no controller files except those: cpuacct.usage is required.
    let err = m.stats().unwrap_err().to_string();
    assert!(err.contains("cpuacct.usage"), "{err}");
    let acct = m.controller_dir("cpuacct").unwrap();
    put(&acct, "cpuacct.usage", "7\n");
    put(&acct, "cpuacct.usage_percpu", "3 4\n");
    put(&acct, "cpuacct.stat", "user 0\nsystem 0\n");
    let s = m.stats().unwrap();
    assert_eq!(
        s.pids,
        Pids {
            current: 5,
            limit: 9
        }
    );
    assert_eq!(s.cpu.usage.total, 7);

    let v2host = FakeHost::unified("0::/\n");
    let mut m = v2host.manager(Some("/ctr"), "c");
    m.create().unwrap();
    v2_files(&m.controller_dir("").unwrap());
    assert_eq!(m.stats().unwrap().pids.current, 2);
}
