//! The Lambda REST API end to end with real boto3: a server with real Python functions
//! (awslambdaric) and a custom runtime, driven by `lambda_api/boto3_walkthrough.py`, then
//! restarted to check that functions, their Lambda metadata, event invoke configs and
//! mappings persist; the code of rejected and deleted functions leaves no directory.

mod common;

use std::process::Command;

use common::{cli, Server};

fn walkthrough(server: &Server, phase: &str) -> String {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/lambda_api/boto3_walkthrough.py"
    );
    let output = Command::new(common::venv_python())
        .args([script, &server.http_endpoint, phase])
        .output()
        .expect("run the boto3 walkthrough");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "boto3 walkthrough ({phase}) failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.ends_with(&format!("PASS {phase}\n")), "{stdout}");
    stdout
}

#[test]
fn boto3_manages_and_invokes_functions_and_mappings_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let config = dir.path().join("eddy.toml");
    std::fs::write(
        &config,
        format!(
            "lambda_python = {:?}\n",
            common::venv_python().display().to_string()
        ),
    )
    .unwrap();
    let args = [
        "--durability",
        "buffered",
        "--config",
        config.to_str().unwrap(),
    ];
    let server = Server::start_with_args(&data_dir, &args);
    // Through the CLI: an async gRPC client would keep its connection open while this
    // test blocks, and SIGTERM drains open connections.
    cli(
        &server.endpoint,
        &["stream", "create", "orders", "--shards", "2"],
    );
    cli(
        &server.endpoint,
        &["stream", "create", "failures", "--shards", "1"],
    );

    walkthrough(&server, "before-restart");
    let code_dirs = |name: &str| {
        std::fs::read_dir(data_dir.join("function-code").join(name))
            .map(|entries| entries.count())
            .unwrap_or(0)
    };
    // Two revisions of `echo` (the current one and the one before); nothing of the
    // rejected functions nor of the deleted `custom`.
    assert_eq!(code_dirs("echo"), 2);
    for gone in ["custom", "evil", "garbage", "nob", "slow"] {
        assert_eq!(code_dirs(gone), 0, "{gone} left code behind");
    }
    assert!(server.terminate().success());

    let server = Server::start_with_args(&data_dir, &args);
    walkthrough(&server, "after-restart");
}
