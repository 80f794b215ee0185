//! Keeps `eddy-bench e2e` (the stream → function benchmark) from rotting: a tiny backlog,
//! a short maximum-load probe and two short latency runs at one rate, each beside the
//! gRPC echo floor, under both durabilities. Timings are printed, never asserted.

use std::process::Command;

fn run_e2e(durability: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_eddy-bench"))
        .args(["--worker-threads", "2", "e2e"])
        .args(["--backlog", "2000", "--drain-batch-size", "500"])
        .args([
            "--load-fractions",
            "0.25",
            "--seconds",
            "0.3",
            "--repeat",
            "2",
        ])
        .args(["--durability", durability])
        .output()
        .expect("run eddy-bench");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}");
    assert!(output.status.success(), "eddy-bench e2e failed");
    stdout
}

#[test]
fn every_phase_runs_under_both_durabilities() {
    for durability in ["buffered", "fsync"] {
        let stdout = run_e2e(durability);
        assert!(stdout.contains("| backlog drain to a no-op native handler (batch 500) | 2000 |"));
        assert!(stdout.contains("idle server with 64 shards × 2 mappings"));
        assert!(stdout.contains("maximum put → handler load"));
        for run in ["run 1", "run 2"] {
            for path in ["| eddy: ", "| floor: "] {
                for from in ["scheduled send", "actual send"] {
                    assert_eq!(
                        stdout
                            .lines()
                            .filter(|line| line.contains(run)
                                && line.contains(path)
                                && line.contains(from))
                            .count(),
                        1,
                        "one row for {run} of {path}, from the {from}"
                    );
                }
            }
        }
        assert_eq!(stdout.matches("median of 2 runs (min–max)").count(), 4);
        assert!(
            stdout.contains("eddy adds"),
            "the eddy / floor summary line"
        );
    }
}
