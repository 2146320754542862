use super::super::tests::{assert_refused, check};
use super::*;
use serde_json::json;

fn resources(value: serde_json::Value) -> Result<(), ValidationError> {
    check("/linux/resources", value)
}

#[test]
fn id_lists() {
    for ok in ["0", "0-3", "0-3,7", "1, 2", "0-0"] {
        assert!(is_valid_id_list(ok), "{ok}");
    }
    for bad in ["", "a", "3-1", "1,", "-1", "1-", "1--2", "99999999999"] {
        assert!(!is_valid_id_list(bad), "{bad}");
    }
}

#[test]
fn device_rules() {
    resources(json!({"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}]})).unwrap();
    resources(json!({"devices": [{"allow": true, "type": "b", "access": ""}]})).unwrap();
    assert_refused(
        resources(json!({"devices": [{"allow": true, "type": "u"}]})),
        "linux.resources.devices[0].type",
        "a, b or c",
    );
    assert_refused(
        resources(json!({"devices": [{"allow": true, "access": "rwx"}]})),
        "linux.resources.devices[0].access",
        "\"rwx\"",
    );
}

#[test]
fn memory_swap_and_swappiness() {
    resources(json!({"memory": {"limit": 100, "swap": 200, "swappiness": 60}})).unwrap();
    resources(json!({"memory": {"limit": 100, "swap": -1}})).unwrap();
    assert_refused(
        resources(json!({"memory": {"limit": 200, "swap": 100}})),
        "linux.resources.memory.swap",
        "should be >= memory limit",
    );
    assert_refused(
        resources(json!({"memory": {"swappiness": 101}})),
        "linux.resources.memory.swappiness",
        "0-100",
    );
}

#[test]
fn cpu_burst_and_lists() {
    resources(json!({"cpu": {"quota": 100000, "burst": 50000, "period": 100000, "cpus": "0-1", "mems": "0"}})).unwrap();
    resources(json!({"cpu": {"quota": -1, "burst": 50000}})).unwrap();
    assert_refused(
        resources(json!({"cpu": {"quota": 1000, "burst": 5000}})),
        "linux.resources.cpu.burst",
        "larger than quota",
    );
    assert_refused(
        resources(json!({"cpu": {"cpus": "0-"}})),
        "linux.resources.cpu.cpus",
        "not a list",
    );
    assert_refused(
        resources(json!({"cpu": {"mems": "x"}})),
        "linux.resources.cpu.mems",
        "not a list",
    );
}

#[test]
fn hugepage_page_size_format() {
    resources(json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 1}, {"pageSize": "1GB", "limit": 2}, {"pageSize": "64KB", "limit": 2}]})).unwrap();
    for bad in ["64kB", "2M", "02MB", "MB", "2TB"] {
        assert_refused(
            resources(json!({"hugepageLimits": [{"pageSize": bad, "limit": 1}]})),
            "linux.resources.hugepageLimits[0].pageSize",
            "<size><KB|MB|GB>",
        );
    }
}

#[test]
fn schema_bad_hugepage_fixture_is_refused() {
    let text = crate::test_fixtures::config_bad("linux-hugepage");
    let fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
    let result = resources(fixture["linux"]["resources"].clone());
    assert_refused(result, "linux.resources.hugepageLimits[0].pageSize", "64kB");
}

#[test]
fn block_io_weight_device_needs_a_weight() {
    resources(json!({"blockIO": {"weight": 10, "weightDevice": [{"major": 8, "minor": 0, "weight": 500}, {"major": 8, "minor": 16, "leafWeight": 300}]}})).unwrap();
    assert_refused(
        resources(json!({"blockIO": {"weightDevice": [{"major": 8, "minor": 0}]}})),
        "linux.resources.blockIO.weightDevice[0]",
        "weight",
    );
}

#[test]
fn rdma_entries_need_a_limit() {
    resources(json!({"rdma": {"mlx5_1": {"hcaHandles": 3}, "mlx4_0": {"hcaObjects": 1000}}}))
        .unwrap();
    assert_refused(
        resources(json!({"rdma": {"mlx5_1": {}}})),
        "linux.resources.rdma.mlx5_1",
        "hcaHandles",
    );
}

#[test]
fn unified_keys_are_file_names() {
    resources(json!({"unified": {"io.max": "259:0 rbps=2097152", "memory.high": "1G"}})).unwrap();
    assert_refused(
        resources(json!({"unified": {"../memory.max": "1"}})),
        "linux.resources.unified",
        "no slashes",
    );
    assert_refused(
        resources(json!({"unified": {"memory": "1"}})),
        "linux.resources.unified",
        "<controller>.<file>",
    );
}

#[test]
fn intel_rdt_rules() {
    check("/linux/intelRdt", json!({"closID": "guaranteed_group", "l3CacheSchema": "L3:0=7f0", "memBwSchema": "MB:0=20", "schemata": ["L2:0=f"]})).unwrap();
    check("/linux/intelRdt", json!({"closID": "/"})).unwrap();
    assert_refused(
        check("/linux/intelRdt", json!({"closID": ".."})),
        "linux.intelRdt.closID",
        "invalid intelRdt.ClosID",
    );
    assert_refused(
        check("/linux/intelRdt", json!({"closID": "a/b"})),
        "linux.intelRdt.closID",
        "\"a/b\"",
    );
    assert_refused(
        check("/linux/intelRdt", json!({"memBwSchema": "L3:0=20"})),
        "linux.intelRdt.memBwSchema",
        "MB:",
    );
    assert_refused(
        check("/linux/intelRdt", json!({"memBwSchema": "MB:0=20\nMB:1=3"})),
        "linux.intelRdt.memBwSchema",
        "newlines",
    );
    assert_refused(
        check("/linux/intelRdt", json!({"schemata": ["L3:0=f\nMB:0=1"]})),
        "linux.intelRdt.schemata[0]",
        "newlines",
    );
}

#[test]
fn memory_policy_nodes_and_flags() {
    check(
        "/linux/memoryPolicy",
        json!({"mode": "MPOL_INTERLEAVE", "nodes": "2-3", "flags": ["MPOL_F_STATIC_NODES"]}),
    )
    .unwrap();
    check("/linux/memoryPolicy", json!({"mode": "MPOL_DEFAULT"})).unwrap();
    check("/linux/memoryPolicy", json!({"mode": "MPOL_PREFERRED"})).unwrap();
    assert_refused(
        check(
            "/linux/memoryPolicy",
            json!({"mode": "MPOL_LOCAL", "nodes": "0"}),
        ),
        "linux.memoryPolicy.nodes",
        "MPOL_LOCAL takes no nodes",
    );
    assert_refused(
        check("/linux/memoryPolicy", json!({"mode": "MPOL_BIND"})),
        "linux.memoryPolicy.nodes",
        "MPOL_BIND needs at least one node",
    );
    assert_refused(
        check(
            "/linux/memoryPolicy",
            json!({"mode": "MPOL_BIND", "nodes": "1-x"}),
        ),
        "linux.memoryPolicy.nodes",
        "not a list",
    );
    let both = json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]});
    assert_refused(
        check("/linux/memoryPolicy", both),
        "linux.memoryPolicy.flags",
        "together",
    );
}

#[test]
fn seccomp_rules() {
    let ok = json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["getcwd", "chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                     {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                     {"names": ["mount"], "action": "SCMP_ACT_NOTIFY"}],
        "listenerPath": "/run/agent.sock", "listenerMetadata": "x"});
    check("/linux/seccomp", ok).unwrap();
    let f = "linux.seccomp";
    assert_refused(
        check(
            "/linux/seccomp",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}),
        ),
        &format!("{f}.defaultErrnoRet"),
        "SCMP_ACT_ALLOW does not take an errno",
    );
    assert_refused(
        check(
            "/linux/seccomp",
            json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/s"}),
        ),
        &format!("{f}.defaultAction"),
        "default action",
    );
    assert_refused(
        check(
            "/linux/seccomp",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "m"}),
        ),
        &format!("{f}.listenerMetadata"),
        "without listenerPath",
    );
    assert_refused(
        check(
            "/linux/seccomp",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_KILL"}]}),
        ),
        &format!("{f}.syscalls[0].names"),
        "at least one",
    );
    assert_refused(
        check(
            "/linux/seccomp",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]}),
        ),
        &format!("{f}.syscalls[0].errnoRet"),
        "does not take an errno",
    );
    assert_refused(
        check(
            "/linux/seccomp",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_NOTIFY"}]}),
        ),
        &format!("{f}.syscalls[0].action"),
        "listenerPath",
    );
    let bad_arg = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]});
    assert_refused(
        check("/linux/seccomp", bad_arg),
        &format!("{f}.syscalls[0].args[0].index"),
        "0 to 5",
    );
}
