//! Keeps `eddy-bench compare` from rotting: every workload (W1–W6) and every system and
//! ceiling, a fraction of a second each. Timings are printed, never asserted. The peers are installed by
//! `scripts/setup-peers.sh` (run by `make test`); a missing peer fails this test, as the
//! bench reports it instead of skipping it.

use std::process::Command;

#[test]
fn every_workload_runs_on_every_system() {
    let output = Command::new(env!("CARGO_BIN_EXE_eddy-bench"))
        .args(["--worker-threads", "2", "compare"])
        .args([
            "--workloads",
            "w1,w2,w3,w4,w5,w6",
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
        .args(["--load-fractions", "0.5", "--fan-outs", "1,2"])
        .args([
            "--backlog-records",
            "2000",
            "--kinesalite-backlog-records",
            "500",
        ])
        .output()
        .expect("run eddy-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}");
    assert!(output.status.success(), "eddy-bench compare failed");
    assert!(!stdout.contains("is missing"), "a peer is not installed");
    assert!(!stdout.contains("| failed"), "a system failed a run");
    // W1 + W2 (2 batch sizes × 2 record sizes) + W3 (2 shard counts) + W4 (1 load) + W5
    // + W6 (2 fan-outs).
    assert_eq!(stdout.matches("\n### ").count(), 1 + 4 + 2 + 1 + 1 + 2);
    let put_tables = 7;
    let delivery_tables = 4;
    for (system, tables) in [
        ("eddy gRPC (buffered)", put_tables),
        ("eddy gRPC (fsync)", put_tables),
        ("eddy Kinesis API (buffered)", put_tables),
        ("kinesalite", put_tables),
        (
            "ceiling: gRPC echo (eddy's Records service, answers at once)",
            put_tables,
        ),
        ("Redis Streams (everysec)", put_tables + delivery_tables),
        ("Redis Streams (always)", put_tables + delivery_tables),
        ("NATS JetStream", put_tables + delivery_tables),
        (
            "eddy in-process, native handler (buffered)",
            delivery_tables,
        ),
        ("eddy in-process, native handler (fsync)", delivery_tables),
        (
            "kinesalite, Lambda-style polling every 200 ms",
            delivery_tables,
        ),
        // Lambda's default 1 s polling is a W4 (latency) figure only.
        ("kinesalite, Lambda-style polling every 1000 ms", 1),
        // So is the floor under eddy's put → function path.
        (
            "floor: eddy's producer, in-process gRPC echo calling the consumer on receipt",
            1,
        ),
    ] {
        assert_eq!(
            stdout.matches(&format!("| {system} |")).count(),
            tables,
            "{system} lacks a row in some table"
        );
    }
    // eddy gRPC rows carry their ratio to the transport ceiling in W1–W3.
    assert_eq!(stdout.matches("of gRPC echo |").count(), 2 * put_tables);
    // 100 records of 70000 B are over 5 MiB: the batch is cut to 74, and says so.
    assert!(
        stdout.contains("batch 74 (asked 100; cut to fit 5 MiB"),
        "no cut batch"
    );
}
