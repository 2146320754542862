use serde_json::json;

use super::*;
use crate::cgroups::testutil::{get, put, FakeHost};

fn resources(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).unwrap()
}

fn as_json(r: &LinuxResources) -> serde_json::Value {
    serde_json::to_value(r).unwrap()
}

#[test]
fn zero_values_leave_settings_alone() {
    let current = resources(json!({
        "memory": {"limit": 104857600, "swappiness": 10},
        "cpu": {"shares": 512, "cpus": "0"},
        "pids": {"limit": 50}
    }));
    // runc's update starts from all-zero values: nothing to do.
    let req = resources(json!({
        "memory": {"limit": 0, "reservation": 0, "swap": 0, "kernel": 0, "kernelTCP": 0},
        "cpu": {"shares": 0, "quota": 0, "period": 0, "realtimeRuntime": 0,
                "realtimePeriod": 0, "cpus": "", "mems": ""},
        "blockIO": {"weight": 0},
        "pids": {"limit": 0}
    }));
    let plan = plan_update(&req, &current);
    assert_eq!(as_json(&plan.delta), json!({}));
    assert_eq!(plan.merged, current);
    assert!(plan.ignored.is_empty());
}

#[test]
fn given_values_are_written_and_merged_into_the_record() {
    let current = resources(json!({
        "devices": [{"allow": false, "access": "rwm"}],
        "memory": {"limit": 104857600, "swappiness": 10},
        "cpu": {"shares": 512, "cpus": "0"},
        "pids": {"limit": 50}
    }));
    let req = resources(json!({
        "memory": {"limit": 209715200, "reservation": 1048576},
        "cpu": {"cpus": "0-1"},
        "blockIO": {"weight": 300},
        "pids": {"limit": -1}
    }));
    let plan = plan_update(&req, &current);
    assert_eq!(
        as_json(&plan.delta),
        json!({
            "memory": {"limit": 209715200, "reservation": 1048576},
            "cpu": {"cpus": "0-1"},
            "blockIO": {"weight": 300},
            "pids": {"limit": -1}
        })
    );
    assert_eq!(
        as_json(&plan.merged),
        json!({
            "devices": [{"allow": false, "access": "rwm"}],
            "memory": {"limit": 209715200, "reservation": 1048576, "swappiness": 10},
            "cpu": {"shares": 512, "cpus": "0-1"},
            "blockIO": {"weight": 300},
            "pids": {"limit": -1}
        })
    );
}

#[test]
fn quota_alone_keeps_the_recorded_period() {
    let current = resources(json!({"cpu": {"period": 50000, "quota": 10000}}));
    let plan = plan_update(&resources(json!({"cpu": {"quota": 20000}})), &current);
    assert_eq!(
        as_json(&plan.delta),
        json!({"cpu": {"quota": 20000, "period": 50000}})
    );
    assert_eq!(
        as_json(&plan.merged),
        json!({"cpu": {"quota": 20000, "period": 50000}})
    );
    // Nothing recorded: only the given half.
    let plan = plan_update(
        &resources(json!({"cpu": {"period": 20000}})),
        &LinuxResources::default(),
    );
    assert_eq!(as_json(&plan.delta), json!({"cpu": {"period": 20000}}));
}

#[test]
fn fields_runc_does_not_update_are_named() {
    let req = resources(json!({
        "memory": {"kernel": 1048576, "swappiness": 1},
        "cpu": {"burst": 10},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
        "blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1}]}
    }));
    let plan = plan_update(&req, &LinuxResources::default());
    assert_eq!(as_json(&plan.delta), json!({}));
    assert_eq!(
        plan.ignored,
        [
            "memory.kernel/kernelTCP",
            "memory.swappiness/disableOOMKiller",
            "cpu.burst/idle",
            "blockIO (all but weight)",
            "hugepageLimits"
        ]
    );
}

#[test]
fn unified_keys_are_added_to_the_recorded_ones() {
    let current = resources(json!({"unified": {"memory.high": "100M", "pids.max": "5"}}));
    let req = resources(json!({"unified": {"memory.high": "200M"}}));
    let plan = plan_update(&req, &current);
    assert_eq!(
        as_json(&plan.delta),
        json!({"unified": {"memory.high": "200M"}})
    );
    assert_eq!(
        as_json(&plan.merged),
        json!({"unified": {"memory.high": "200M", "pids.max": "5"}})
    );
}

fn memory_writes(limit: i64, swap: i64) -> Vec<CgroupWrite> {
    let delta = resources(json!({"memory": {"limit": limit, "swap": swap}}));
    plan_resources(&delta, CgroupVersion::V1).unwrap().writes
}

fn files(writes: &[CgroupWrite]) -> Vec<&str> {
    writes.iter().map(|w| w.file.as_str()).collect()
}

#[test]
fn v1_memory_order_follows_the_current_limit() {
    // Growing past the current limit: memory+swap first.
    let mut w = memory_writes(200 << 20, 400 << 20);
    order_v1_memory(&mut w, 100 << 20);
    assert_eq!(files(&w), [MEMSW_LIMIT, MEMORY_LIMIT]);
    // Shrinking below the current memory limit: memory first.
    let mut w = memory_writes(50 << 20, 60 << 20);
    order_v1_memory(&mut w, 100 << 20);
    assert_eq!(files(&w), [MEMORY_LIMIT, MEMSW_LIMIT]);
    // Unlimited swap always first.
    let mut w = memory_writes(50 << 20, -1);
    order_v1_memory(&mut w, 10 << 20);
    assert_eq!(files(&w), [MEMSW_LIMIT, MEMORY_LIMIT]);
    // Only one of them: untouched.
    let delta = resources(json!({"memory": {"limit": 1 << 20}}));
    let mut w = plan_resources(&delta, CgroupVersion::V1).unwrap().writes;
    order_v1_memory(&mut w, 10 << 20);
    assert_eq!(files(&w), [MEMORY_LIMIT]);
}

#[test]
fn apply_update_writes_the_v1_files() {
    let host = FakeHost::hybrid();
    let mut m = host.manager(Some("/ctr"), "c");
    m.create().unwrap();
    let mem = m.controller_dir("memory").unwrap();
    put(&mem, MEMORY_LIMIT, "104857600\n");
    put(&mem, MEMSW_LIMIT, "104857600\n");
    // Empty stand-ins: writes do not truncate, as on cgroupfs.
    let pids = m.controller_dir("pids").unwrap();
    put(&pids, "pids.max", "");
    let cpu = m.controller_dir("cpu").unwrap();
    put(&cpu, "cpu.cfs_quota_us", "");
    put(&cpu, "cpu.cfs_period_us", "");
    let delta = resources(json!({
        "memory": {"limit": 209715200, "swap": 314572800},
        "pids": {"limit": 20},
        "cpu": {"quota": 25000, "period": 100000}
    }));
    apply_update(&m, &delta).unwrap();
    assert_eq!(get(&mem, MEMORY_LIMIT), "209715200\n");
    assert_eq!(get(&mem, MEMSW_LIMIT), "314572800\n");
    assert_eq!(get(&pids, "pids.max"), "20");
    assert_eq!(get(&cpu, "cpu.cfs_quota_us"), "25000");
    assert_eq!(get(&cpu, "cpu.cfs_period_us"), "100000");
}

#[test]
fn apply_update_writes_cpu_max_on_v2() {
    let host = FakeHost::unified("0::/\n");
    let mut m = host.manager(Some("/ctr"), "c");
    m.create().unwrap();
    let dir = m.controller_dir("").unwrap();
    for f in ["cpu.max", "memory.max"] {
        put(&dir, f, "");
    }
    put(&dir, "pids.max", "max\n");
    let plan = plan_update(
        &resources(json!({"cpu": {"quota": 30000}, "memory": {"limit": 20971520}})),
        &resources(json!({"cpu": {"period": 60000}})),
    );
    apply_update(&m, &plan.delta).unwrap();
    assert_eq!(get(&dir, "cpu.max"), "30000 60000");
    assert_eq!(get(&dir, "memory.max"), "20971520");
    assert_eq!(get(&dir, "pids.max"), "max\n", "pids untouched");
}

#[test]
fn missing_control_file_fails_naming_it() {
    let host = FakeHost::hybrid();
    let mut m = host.manager(Some("/ctr"), "c");
    m.create().unwrap();
    let err = apply_update(&m, &resources(json!({"pids": {"limit": 3}}))).unwrap_err();
    assert!(err.to_string().contains("pids.max"), "{err}");
    assert!(!m.controller_dir("pids").unwrap().join("pids.max").exists());
}

#[test]
fn a_failed_write_puts_back_the_ones_before_it() {
    let host = FakeHost::hybrid();
    let mut m = host.manager(Some("/ctr"), "c");
    m.create().unwrap();
    let pids = m.controller_dir("pids").unwrap();
    put(&pids, "pids.max", "max");
    let cpu = m.controller_dir("cpu").unwrap();
    put(&cpu, "cpu.shares", "1024");
    // memory.limit_in_bytes is missing, so the memory write fails; put after cpu.shares, it
    // must leave cpu.shares back at 1024 and pids.max never written.
    let delta = resources(json!({
        "cpu": {"shares": 512},
        "memory": {"limit": 1048576},
        "pids": {"limit": 5}
    }));
    let writes = plan_resources(&delta, CgroupVersion::V1).unwrap().writes;
    assert_eq!(
        files(&writes),
        ["memory.limit_in_bytes", "cpu.shares", "pids.max"]
    );
    let writes = vec![writes[1].clone(), writes[0].clone(), writes[2].clone()];
    let err = apply_writes(&m, &writes).unwrap_err();
    assert!(err.to_string().contains("memory.limit_in_bytes"), "{err}");
    assert_eq!(get(&cpu, "cpu.shares"), "1024");
    assert_eq!(get(&pids, "pids.max"), "max");
}

#[test]
fn check_before_update_comes_from_the_request_else_from_the_container() {
    let current = resources(json!({"memory": {"limit": 104857600, "checkBeforeUpdate": true}}));
    let plan = plan_update(&resources(json!({"memory": {"limit": 65536}})), &current);
    assert_eq!(
        as_json(&plan.delta),
        json!({"memory": {"limit": 65536, "checkBeforeUpdate": true}})
    );
    let req = resources(json!({"memory": {"limit": 65536, "checkBeforeUpdate": false}}));
    let plan = plan_update(&req, &current);
    assert_eq!(
        as_json(&plan.delta),
        json!({"memory": {"limit": 65536, "checkBeforeUpdate": false}})
    );
    assert_eq!(
        as_json(&plan.merged),
        json!({"memory": {"limit": 65536, "checkBeforeUpdate": false}})
    );
    let plain = resources(json!({"memory": {"limit": 104857600}}));
    let plan = plan_update(&resources(json!({"memory": {"limit": 65536}})), &plain);
    assert_eq!(as_json(&plan.delta), json!({"memory": {"limit": 65536}}));
}
