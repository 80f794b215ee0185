//! Keeps `eddy-bench compare` from rotting: every workload and every system, a fraction of
//! a second each. Timings are printed, never asserted. The peers are installed by
//! `scripts/setup-peers.sh` (run by `make test`); a missing peer fails this test, as the
//! bench reports it instead of skipping it.

use std::process::Command;

#[test]
fn every_workload_runs_on_every_system() {
    let output = Command::new(env!("CARGO_BIN_EXE_eddy-bench"))
        .args(["--worker-threads", "2", "compare"])
        .args([
            "--workloads",
            "w1,w2,w3",
            "--rounds",
            "1",
            "--seconds",
            "0.2",
        ])
        .args(["--batch-sizes", "1,100", "--record-sizes", "100,70000"])
        .args(["--producers", "2", "--shards", "2"])
        .args([
            "--shard-counts",
            "1,4",
            "--scaling-producers",
            "4",
            "--scaling-batch",
            "10",
        ])
        .output()
        .expect("run eddy-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}");
    assert!(output.status.success(), "eddy-bench compare failed");
    assert!(!stdout.contains("is missing"), "a peer is not installed");
    assert!(!stdout.contains("| failed"), "a system failed a run");
    // W1 + W2 (2 batch sizes × 2 record sizes) + W3 (2 shard counts).
    assert_eq!(stdout.matches("\n### ").count(), 1 + 4 + 2);
    for system in [
        "eddy gRPC (buffered)",
        "eddy gRPC (fsync)",
        "eddy Kinesis API (buffered)",
        "Redis Streams (everysec)",
        "Redis Streams (always)",
        "NATS JetStream",
        "kinesalite",
    ] {
        assert_eq!(
            stdout.matches(&format!("| {system} |")).count(),
            7,
            "{system} lacks a row in some table"
        );
    }
    // 100 records of 70000 B are over 5 MiB: the batch is cut to 74, and says so.
    assert!(
        stdout.contains("batch 74 (asked 100; cut to fit 5 MiB"),
        "no cut batch"
    );
}
