use std::fs;

use oci_spec::runtime::LinuxResources;

use super::v2::{blkio_to_io_weight, shares_to_weight, swap_v2};
use super::*;
use crate::cgroups::testutil::{get, put, sleeper, FakeHost, HostCgroup};

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

/// (controller, file, value) triples, alternatives shown as "file|fallback".
fn writes(json: &str, version: CgroupVersion) -> Vec<(String, String, String)> {
    let plan = plan_resources(&res(json), version).unwrap();
    plan.writes
        .iter()
        .map(|w| {
            let file = match &w.if_missing {
                IfMissing::Instead(other) => format!("{}|{}={}", w.file, other.file, other.value),
                IfMissing::Skip => format!("{}?", w.file),
                IfMissing::Fail => w.file.clone(),
            };
            (w.controller.to_string(), file, w.value.clone())
        })
        .collect()
}

fn t(c: &str, f: &str, v: &str) -> (String, String, String) {
    (c.to_string(), f.to_string(), v.to_string())
}

const SAMPLE: &str = r#"{
    "memory": {"limit": 536870912, "reservation": 268435456, "swap": 1073741824,
               "kernel": 1048576, "kernelTCP": 2097152, "swappiness": 10,
               "disableOOMKiller": true},
    "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 10000,
            "realtimeRuntime": 950000, "realtimePeriod": 1000000,
            "cpus": "0-1", "mems": "0", "idle": 0},
    "pids": {"limit": 100},
    "blockIO": {"weight": 500, "leafWeight": 300,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 600, "leafWeight": 200}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 600}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 0}]},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}],
    "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
    "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}, "mlx4_0": {"hcaObjects": 1000}},
    "devices": [{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}]
}"#;

#[test]
fn v1_plan_for_the_sample() {
    assert_eq!(
        writes(SAMPLE, CgroupVersion::V1),
        [
            t("cpuset", "cpuset.cpus", "0-1"),
            t("cpuset", "cpuset.mems", "0"),
            t("devices", "devices.deny", "a"),
            t("devices", "devices.deny", "a"),
            t("devices", "devices.allow", "c 1:3 rw"),
            t("memory", "memory.limit_in_bytes", "536870912"),
            t("memory", "memory.memsw.limit_in_bytes", "1073741824"),
            t("memory", "memory.soft_limit_in_bytes", "268435456"),
            t("memory", "memory.kmem.limit_in_bytes?", "1048576"),
            t("memory", "memory.kmem.tcp.limit_in_bytes?", "2097152"),
            t("memory", "memory.swappiness", "10"),
            t("memory", "memory.oom_control", "1"),
            t("cpu", "cpu.shares", "1024"),
            t("cpu", "cpu.cfs_period_us", "100000"),
            t("cpu", "cpu.cfs_quota_us", "50000"),
            t("cpu", "cpu.cfs_burst_us", "10000"),
            t("cpu", "cpu.idle", "0"),
            t("cpu", "cpu.rt_period_us", "1000000"),
            t("cpu", "cpu.rt_runtime_us", "950000"),
            t("pids", "pids.max", "100"),
            t("blkio", "blkio.weight|blkio.bfq.weight=500", "500"),
            t("blkio", "blkio.leaf_weight", "300"),
            t(
                "blkio",
                "blkio.weight_device|blkio.bfq.weight_device=8:0 600",
                "8:0 600"
            ),
            t("blkio", "blkio.leaf_weight_device", "8:0 200"),
            t("blkio", "blkio.throttle.read_bps_device", "8:0 600"),
            t("blkio", "blkio.throttle.write_iops_device", "8:16 0"),
            t("hugetlb", "hugetlb.2MB.limit_in_bytes", "209715200"),
            t("hugetlb", "hugetlb.2MB.rsvd.limit_in_bytes?", "209715200"),
            t("net_cls", "net_cls.classid", "1048577"),
            t("net_prio", "net_prio.ifpriomap", "eth0 5"),
            t("rdma", "rdma.max", "mlx4_0 hca_object=1000"),
            t("rdma", "rdma.max", "mlx5_1 hca_handle=3 hca_object=10000"),
        ]
    );
}

#[test]
fn v2_plan_for_the_sample() {
    let plan = plan_resources(&res(SAMPLE), CgroupVersion::V2).unwrap();
    assert_eq!(
        writes(SAMPLE, CgroupVersion::V2),
        [
            t("", "pids.max", "100"),
            t("", "memory.swap.max", "536870912"),
            t("", "memory.max", "536870912"),
            t("", "memory.low", "268435456"),
            t("", "io.bfq.weight|io.weight=4950", "500"),
            t("", "io.bfq.weight", "8:0 600"),
            t("", "io.max", "8:0 rbps=600"),
            t("", "io.max", "8:16 wiops=max"),
            t("", "cpu.weight", "39"),
            t("", "cpu.idle", "0"),
            t("", "cpu.max", "50000 100000"),
            t("", "cpu.max.burst", "10000"),
            t("", "cpuset.cpus", "0-1"),
            t("", "cpuset.mems", "0"),
            t("", "hugetlb.2MB.max", "209715200"),
            t("", "hugetlb.2MB.rsvd.max?", "209715200"),
            t("", "rdma.max", "mlx4_0 hca_object=1000"),
            t("", "rdma.max", "mlx5_1 hca_handle=3 hca_object=10000"),
        ]
    );
    assert_eq!(
        plan.ignored,
        [
            "memory.kernel (cgroup v1 only)",
            "memory.kernelTCP (cgroup v1 only)",
            "memory.swappiness (cgroup v1 only)",
            "memory.disableOOMKiller (cgroup v1 only)",
            "blockIO.leafWeight (cgroup v1 only)",
            "blockIO.weightDevice.leafWeight (cgroup v1 only)",
            "cpu.realtimePeriod/realtimeRuntime (cgroup v1 only)",
            "network (net_cls/net_prio are cgroup v1 only)",
        ]
    );
    // v2 device rules are data for the eBPF program, not writes.
    assert_eq!(
        plan.devices,
        [
            DeviceRule {
                allow: false,
                kind: 'a',
                major: None,
                minor: None,
                access: "rwm".into()
            },
            DeviceRule {
                allow: true,
                kind: 'c',
                major: Some(1),
                minor: Some(3),
                access: "rw".into()
            },
        ]
    );
}

#[test]
fn runc_conversions() {
    assert_eq!(shares_to_weight(2), 1);
    assert_eq!(shares_to_weight(1024), 39);
    assert_eq!(shares_to_weight(262_144), 10_000);
    assert_eq!(shares_to_weight(1), 1);
    assert_eq!(shares_to_weight(1 << 20), 10_000);
    assert_eq!(blkio_to_io_weight(10), 1);
    assert_eq!(blkio_to_io_weight(500), 4950);
    assert_eq!(blkio_to_io_weight(1000), 10_000);
    assert_eq!(swap_v2(0, 0).unwrap(), 0);
    assert_eq!(swap_v2(0, -1).unwrap(), -1);
    assert_eq!(swap_v2(-1, 100).unwrap(), -1);
    assert_eq!(swap_v2(300, 100).unwrap(), 200);
    assert_eq!(swap_v2(300, -1).unwrap(), 300);
    assert!(swap_v2(300, 0).is_err());
    assert!(swap_v2(50, 100).is_err());
}

#[test]
fn memory_edge_cases() {
    // Same memory and swap: no swap at all on v2.
    let same = r#"{"memory": {"limit": 1000, "swap": 1000}}"#;
    assert_eq!(
        writes(same, CgroupVersion::V2),
        [t("", "memory.swap.max?", "0"), t("", "memory.max", "1000")]
    );
    // Unlimited memory: swap follows; v1 raises memsw first.
    let unlimited = r#"{"memory": {"limit": -1}}"#;
    assert_eq!(
        writes(unlimited, CgroupVersion::V1),
        [
            t("memory", "memory.memsw.limit_in_bytes", "-1"),
            t("memory", "memory.limit_in_bytes", "-1")
        ]
    );
    assert_eq!(
        writes(unlimited, CgroupVersion::V2),
        [t("", "memory.swap.max?", "max"), t("", "memory.max", "max")]
    );
    for bad in [
        r#"{"memory": {"limit": 10, "swap": 5}}"#,
        r#"{"memory": {"swappiness": 101}}"#,
    ] {
        assert!(
            plan_resources(&res(bad), CgroupVersion::V1).is_err(),
            "{bad}"
        );
    }
    assert!(plan_resources(&res(r#"{"memory": {"swap": 5}}"#), CgroupVersion::V2).is_err());
}

#[test]
fn cpu_max_forms_and_pids() {
    let quota_only = r#"{"cpu": {"quota": 20000}, "pids": {"limit": -1}}"#;
    assert_eq!(
        writes(quota_only, CgroupVersion::V2),
        [t("", "pids.max", "max"), t("", "cpu.max", "20000 100000")]
    );
    let period_only = r#"{"cpu": {"period": 50000}, "pids": {"limit": 0}}"#;
    assert_eq!(
        writes(period_only, CgroupVersion::V2),
        [t("", "pids.max", "max"), t("", "cpu.max", "max 50000")]
    );
    let unlimited = r#"{"cpu": {"quota": -1}}"#;
    assert_eq!(
        writes(unlimited, CgroupVersion::V1),
        [t("cpu", "cpu.cfs_quota_us", "-1")]
    );
}

#[test]
fn device_rules_on_v1() {
    let json = r#"{"devices": [
        {"allow": true, "access": "rwm"},
        {"allow": false, "type": "b", "major": 8, "access": "mw"},
        {"allow": true, "type": "a", "major": -1, "minor": -1, "access": "r"},
        {"allow": true, "type": "c", "major": 136}
    ]}"#;
    assert_eq!(
        writes(json, CgroupVersion::V1),
        [
            t("devices", "devices.deny", "a"),
            t("devices", "devices.allow", "a"),
            t("devices", "devices.deny", "b 8:* wm"),
            t("devices", "devices.allow", "c *:* r"),
            t("devices", "devices.allow", "b *:* r"),
            t("devices", "devices.allow", "c 136:* rwm"),
        ]
    );
    for bad in [
        r#"{"devices": [{"allow": true, "type": "p"}]}"#,
        r#"{"devices": [{"allow": true, "access": "rx"}]}"#,
        r#"{"devices": [{"allow": true, "major": -5}]}"#,
    ] {
        let err = plan_resources(&res(bad), CgroupVersion::V1).unwrap_err();
        assert!(
            matches!(err, CgroupError::InvalidResource { .. }),
            "{bad}: {err}"
        );
    }
    // No devices key: no devices writes at all (not even the deny-all).
    assert!(writes(r#"{"pids": {"limit": 5}}"#, CgroupVersion::V1)
        .iter()
        .all(|w| w.0 != "devices"));
}

#[test]
fn unified_keys() {
    let json = r#"{"unified": {"memory.high": "100000", "io.max": "8:0 rbps=1"}}"#;
    assert_eq!(
        writes(json, CgroupVersion::V2),
        [
            t("", "io.max", "8:0 rbps=1"),
            t("", "memory.high", "100000")
        ]
    );
    let err = plan_resources(&res(json), CgroupVersion::V1).unwrap_err();
    assert!(matches!(err, CgroupError::UnifiedOnV1));
    for key in ["../x", "a/b", "..", ""] {
        let json = format!(r#"{{"unified": {{"{key}": "1"}}}}"#);
        assert!(
            plan_resources(&res(&json), CgroupVersion::V2).is_err(),
            "{key:?}"
        );
    }
}

#[test]
fn invalid_values_are_refused_before_writing() {
    for bad in [
        r#"{"hugepageLimits": [{"pageSize": "../2MB", "limit": 1}]}"#,
        r#"{"hugepageLimits": [{"pageSize": "2XB", "limit": 1}]}"#,
        r#"{"blockIO": {"weight": 5}}"#,
        r#"{"rdma": {"mlx": {}}}"#,
        r#"{"network": {"priorities": [{"name": "a b", "priority": 1}]}}"#,
    ] {
        let err = plan_resources(&res(bad), CgroupVersion::V1).unwrap_err();
        assert!(
            matches!(err, CgroupError::InvalidResource { .. }),
            "{bad}: {err}"
        );
    }
}

#[test]
fn check_before_update_refuses_a_memory_limit_below_the_usage_on_v2() {
    let host = FakeHost::unified("0::/\n");
    let mut m = host.manager(Some("/c"), "c");
    m.create().unwrap();
    let leaf = m.controller_dir("").unwrap();
    put(&leaf, "memory.max", "max");
    put(&leaf, "memory.current", "4096000\n");
    let plan = |limit: i64, check: bool| {
        plan_resources(
            &res(&format!(
                r#"{{"memory": {{"limit": {limit}, "checkBeforeUpdate": {check}}}}}"#
            )),
            CgroupVersion::V2,
        )
        .unwrap()
    };
    let err = m
        .apply(&plan(1048576, true).writes)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "memory limit 1048576 for {} is below the current usage 4096000 \
             (memory.checkBeforeUpdate)",
            leaf.join("memory.max").display()
        )
    );
    assert_eq!(get(&leaf, "memory.max"), "max", "nothing written");
    // Without the flag the kernel is left to it (v2: reclaim, then the OOM killer).
    m.apply(&plan(1048576, false).writes).unwrap();
    assert_eq!(get(&leaf, "memory.max"), "1048576");
    // At or above the usage, and unlimited, pass the check.
    m.apply(&plan(4096000, true).writes).unwrap();
    assert_eq!(get(&leaf, "memory.max"), "4096000");
    put(&leaf, "memory.max", ""); // a plain file keeps old bytes past a shorter write
    m.apply(&plan(-1, true).writes).unwrap();
    assert_eq!(get(&leaf, "memory.max"), "max");
}

#[test]
fn apply_writes_in_order_and_follows_if_missing() {
    let host = FakeHost::unified("0::/\n");
    let mut m = host.manager(Some("/c"), "c");
    m.create().unwrap();
    let leaf = m.controller_dir("").unwrap();
    put(&leaf, "io.weight", "");
    put(&leaf, "pids.max", "");
    put(&leaf, "memory.max", "");
    let plan = plan_resources(
        &res(r#"{"pids": {"limit": 9}, "blockIO": {"weight": 10}, "memory": {"limit": -1}}"#),
        CgroupVersion::V2,
    )
    .unwrap();
    m.apply(&plan.writes).unwrap();
    assert_eq!(get(&leaf, "pids.max"), "9");
    assert_eq!(get(&leaf, "io.weight"), "1");
    assert_eq!(get(&leaf, "memory.max"), "max");
    assert!(!leaf.join("memory.swap.max").exists());

    let err = m
        .apply(&[CgroupWrite::new("", "cpu.max", "1 2")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cpu.max") && err.contains("\"1 2\"") && err.contains("cpu"),
        "{err}"
    );
    let err = m
        .apply(&[CgroupWrite::new("", "../escape", "1")])
        .unwrap_err();
    assert!(matches!(err, CgroupError::InvalidResource { .. }));
}

#[test]
fn apply_on_hybrid_finds_each_controller_and_names_absent_ones() {
    let host = FakeHost::hybrid();
    let mut m = host.manager(None, "ctr");
    m.create().unwrap();
    let mem = m.controller_dir("memory").unwrap();
    put(&mem, "memory.limit_in_bytes", "");
    let plan = plan_resources(&res(r#"{"memory": {"limit": 4096}}"#), m.version()).unwrap();
    m.apply(&plan.writes).unwrap();
    assert_eq!(
        fs::read_to_string(mem.join("memory.limit_in_bytes")).unwrap(),
        "4096"
    );
    // This host has no v1 hugetlb hierarchy.
    let plan = plan_resources(
        &res(r#"{"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}"#),
        m.version(),
    )
    .unwrap();
    let err = m.apply(&plan.writes).unwrap_err();
    assert!(matches!(err, CgroupError::NoController { .. }), "{err}");
}

/// Privileged: the kernel accepts what we plan (values read back), and a value it cannot
/// apply gives an error naming file and value.
#[test]
fn host_smoke_apply() {
    let Some(mut guard) = HostCgroup::create() else {
        return;
    };
    let m = guard.manager.clone();
    let json = r#"{
        "memory": {"limit": 67108864, "swap": 134217728},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 50},
        "devices": [{"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]
    }"#;
    let plan = plan_resources(&res(json), m.version()).unwrap();
    m.apply(&plan.writes).unwrap();
    let child = sleeper();
    let pid = child.id() as i32;
    guard.child = Some(child);
    m.add_process(pid).unwrap();
    match m.version() {
        CgroupVersion::V1 => {
            let mem = m.controller_dir("memory").unwrap();
            assert_eq!(get(&mem, "memory.limit_in_bytes").trim(), "67108864");
            assert_eq!(get(&mem, "memory.memsw.limit_in_bytes").trim(), "134217728");
            let cpu = m.controller_dir("cpu").unwrap();
            assert_eq!(get(&cpu, "cpu.cfs_quota_us").trim(), "50000");
            assert_eq!(
                get(&m.controller_dir("pids").unwrap(), "pids.max").trim(),
                "50"
            );
            let list = get(&m.controller_dir("devices").unwrap(), "devices.list");
            assert_eq!(list.trim(), "c 1:3 rwm");
        }
        CgroupVersion::V2 => {
            let leaf = m.controller_dir("").unwrap();
            assert_eq!(get(&leaf, "memory.max").trim(), "67108864");
            assert_eq!(get(&leaf, "cpu.max").trim(), "50000 100000");
            assert_eq!(get(&leaf, "pids.max").trim(), "50");
        }
    }
    let too_big = CgroupWrite::new("cpuset", "cpuset.cpus", "100000");
    let too_big = match m.version() {
        CgroupVersion::V1 => too_big,
        CgroupVersion::V2 => CgroupWrite {
            controller: "",
            ..too_big
        },
    };
    let err = m.apply(&[too_big]).unwrap_err().to_string();
    assert!(err.contains("cpuset.cpus") && err.contains("100000") && err.contains("os error"));
}
