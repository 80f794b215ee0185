//! Keeps the storage experiments of `eddy-bench` from rotting: `layout` (one records
//! family against eddy's records families), `family-create` (column families created
//! one at a time against all at open) and `entries` (an entry per record against an entry
//! per shard per batch), each at tiny sizes. Timings are printed, never asserted.

use std::process::Command;

fn run_bench(args: &[&str]) -> String {
    let data_root = tempfile::tempdir().expect("a temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_eddy-bench"))
        .args(args)
        .arg("--data-root")
        .arg(data_root.path())
        .output()
        .expect("run eddy-bench");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}");
    assert!(output.status.success(), "eddy-bench {args:?} failed");
    stdout
}

#[test]
fn layout_runs_both_layouts() {
    let stdout = run_bench(&[
        "layout",
        "--seconds",
        "0.3",
        "--shards",
        "4",
        "--threads",
        "1",
        "--rounds",
        "1",
    ]);
    assert!(stdout.contains("| one `records` family | 1 |"), "{stdout}");
    assert!(stdout.contains("| a family per shard | 1 |"), "{stdout}");
}

#[test]
fn family_create_times_both_ways() {
    let stdout = run_bench(&["family-create", "--count", "8"]);
    assert_eq!(
        stdout.matches("| one by one, families ").count(),
        4,
        "{stdout}"
    );
    assert!(
        stdout.contains("| all at open (one OPTIONS write) | 8 |"),
        "{stdout}"
    );
    assert!(
        stdout.contains("OPTIONS file after 8 families:"),
        "{stdout}"
    );
}

#[test]
fn entries_runs_both_entry_layouts_in_both_sync_modes() {
    let stdout = run_bench(&[
        "entries",
        "--seconds",
        "0.3",
        "--threads",
        "2",
        "--shard-counts",
        "3",
        "--record-size",
        "100",
        "--batch-size",
        "10",
        "--rounds",
        "1",
    ]);
    for row in [
        "| 3 | buffered | one per record | 1 |",
        "| 3 | buffered | one per shard per batch | 1 |",
        "| 3 | fsync per write | one per record | 1 |",
        "| 3 | fsync per write | one per shard per batch | 1 |",
    ] {
        assert!(stdout.contains(row), "{row} missing from {stdout}");
    }
}
