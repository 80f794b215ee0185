//! The `eddy` command line against a real server.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use base64::Engine;
use common::Server;

fn eddy(server: &Server, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(args)
        .env("EDDY_ENDPOINT", &server.endpoint)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn tour_of_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), "fsync");

    let created = ok(eddy(
        &server,
        &["stream", "create", "clicks", "--shards", "2"],
        None,
    ));
    assert!(
        created.contains("created stream clicks with 2 shard(s)"),
        "{created}"
    );
    let listed = ok(eddy(&server, &["stream", "list"], None));
    assert!(listed.starts_with("NAME"), "{listed}");
    assert!(
        listed.lines().nth(1).unwrap().starts_with("clicks"),
        "{listed}"
    );
    let described = json_lines(&ok(eddy(
        &server,
        &["--json", "stream", "describe", "clicks"],
        None,
    )));
    assert_eq!(described[0]["shards"].as_array().unwrap().len(), 2);
    assert_eq!(
        described[0]["shards"][1]["ending_hash_key"],
        u128::MAX.to_string()
    );

    // One record from the command line, then many from stdin.
    let single = json_lines(&ok(eddy(
        &server,
        &["--json", "put", "clicks", "--partition-key", "k", "hello"],
        None,
    )));
    assert_eq!(single.len(), 1);
    assert!(single[0]["shard_id"]
        .as_str()
        .unwrap()
        .starts_with("shardId-"));
    let lines: String = (0..1234).map(|i| format!("line {i}\n")).collect();
    let output = eddy(&server, &["--json", "put", "clicks"], Some(&lines));
    assert!(String::from_utf8_lossy(&output.stderr).contains("put 1234 records"));
    let acks = json_lines(&ok(output));
    assert_eq!(acks.len(), 1234);

    // Read everything back as JSON: every line, base64 data, all fields present.
    let read = json_lines(&ok(eddy(&server, &["--json", "read", "clicks"], None)));
    assert_eq!(read.len(), 1235);
    let mut payloads: Vec<String> = read
        .iter()
        .map(|r| {
            assert!(r["approximate_arrival_timestamp"]
                .as_str()
                .unwrap()
                .ends_with('Z'));
            assert!(r["partition_key"].is_string());
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(r["data"].as_str().unwrap())
                    .unwrap(),
            )
            .unwrap()
        })
        .collect();
    payloads.sort();
    let mut expected: Vec<String> = (0..1234).map(|i| format!("line {i}")).collect();
    expected.push("hello".into());
    expected.sort();
    assert_eq!(payloads, expected);

    // One shard, from a position, with a limit.
    let shard = single[0]["shard_id"].as_str().unwrap();
    let seq = single[0]["sequence_number"].as_str().unwrap();
    let from = format!("at-seq:{seq}");
    let one = json_lines(&ok(eddy(
        &server,
        &[
            "--json", "read", "clicks", "--shard", shard, "--from", &from, "--limit", "1",
        ],
        None,
    )));
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["data"], "aGVsbG8=");
    let table = ok(eddy(
        &server,
        &[
            "read", "clicks", "--shard", shard, "--from", &from, "--limit", "1",
        ],
        None,
    ));
    assert!(table.contains("hello") && table.contains(shard), "{table}");
    let none = ok(eddy(
        &server,
        &["--json", "read", "clicks", "--from", "latest"],
        None,
    ));
    assert!(none.is_empty());

    // Errors: one line, non-zero exit.
    for (args, fragment) in [
        (
            vec!["stream", "describe", "nope"],
            "stream `nope` not found",
        ),
        (vec!["stream", "create", "clicks"], "already exists"),
        (
            vec!["read", "clicks", "--from", "yesterday"],
            "`--from` must be",
        ),
        (
            vec!["put", "clicks", "--partition-key", "", "x"],
            "`partition_key`",
        ),
    ] {
        let output = eddy(&server, &args, None);
        assert!(!output.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            stderr.starts_with("error: ") && stderr.contains(fragment),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }

    ok(eddy(&server, &["stream", "delete", "clicks"], None));
    let listed = ok(eddy(&server, &["--json", "stream", "list"], None));
    assert!(listed.is_empty());
}

#[test]
fn follow_prints_records_as_they_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), "buffered");
    ok(eddy(
        &server,
        &["stream", "create", "tail", "--shards", "3"],
        None,
    ));
    let follower = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["--json", "read", "tail", "--follow", "--limit", "30"])
        .env("EDDY_ENDPOINT", &server.endpoint)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: String = (0..30).map(|i| format!("event {i}\n")).collect();
    ok(eddy(&server, &["put", "tail"], Some(&lines)));
    let output = follower.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        json_lines(&String::from_utf8(output.stdout).unwrap()).len(),
        30
    );
}

#[test]
fn serve_reads_a_config_file_and_env() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("eddy.toml");
    std::fs::write(
        &config,
        "durability = \"buffered\"\ngrpc_addr = \"127.0.0.1:1\"\n",
    )
    .unwrap();
    // Flags beat the file's grpc_addr; the file's durability applies.
    let server = Server::start_with_args(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    assert!(
        server.banner.contains("durability=buffered"),
        "{}",
        server.banner
    );
    assert!(!server.banner.contains("127.0.0.1:1 "), "{}", server.banner);
    ok(eddy(&server, &["stream", "create", "cfg"], None));
    // EDDY_* variables are read too, and flags beat them.
    let from_env = Server::start_with_env(
        &dir.path().join("env-data"),
        &[],
        &[("EDDY_DURABILITY", "buffered")],
    );
    assert!(
        from_env.banner.contains("durability=buffered"),
        "{}",
        from_env.banner
    );
    let flag_wins = Server::start_with_env(
        &dir.path().join("flag-data"),
        &["--durability", "fsync"],
        &[("EDDY_DURABILITY", "buffered")],
    );
    assert!(
        flag_wins.banner.contains("durability=fsync"),
        "{}",
        flag_wins.banner
    );
    let output = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["serve", "--grpc-addr", "127.0.0.1:0"])
        .env("EDDY_DATA_DIR", dir.path().join("from-env"))
        .env("EDDY_DURABILITY", "sideways")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("must be `fsync` or `buffered`"));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "colour = 1\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args([
            "serve",
            "--config",
            bad.to_str().unwrap(),
            "--data-dir",
            dir.path().join("d2").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("colour"));
}
