//! Keeps the storage experiments of `eddy-bench` from rotting: `layout` (one records
//! family against eddy's records families) and `family-create` (column families created
//! one at a time against all at open), each at tiny sizes. Timings are printed, never
//! asserted.

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
