//! The AWS compatibility suite: real boto3 and the real AWS CLI (installed by
//! `scripts/setup-python.sh`) against a real `eddy serve`, through the Kinesis and Lambda
//! HTTP APIs. The cases live in `engine/tests/aws/` (pytest); this file starts the server
//! and runs them, and checks SigV4 enforcement with a server that has credentials set.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{venv_python, Server};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("engine/ has a parent")
        .to_path_buf()
}

/// Writes a config file that runs `python3.x` functions under the venv's Python (which
/// has awslambdaric), plus `extra` lines.
fn config_file(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("eddy.toml");
    let python = venv_python();
    std::fs::write(
        &path,
        format!("lambda_python = {:?}\n{extra}", python.to_str().unwrap()),
    )
    .unwrap();
    path
}

/// Runs a Python program of the suite with the server's endpoints and the venv's `aws`
/// first on PATH; panics with its output when it fails.
fn run_python(server: &Server, args: &[&str], env: &[(&str, &str)]) {
    let python = venv_python();
    let venv_bin = python.parent().unwrap();
    let path = format!(
        "{}:{}",
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new(&python)
        .args(args)
        .current_dir(repo_root())
        .env("PATH", path)
        .env("EDDY_HTTP_ENDPOINT", &server.http_endpoint)
        .env("EDDY_GRPC_ENDPOINT", &server.endpoint)
        .env("EDDY_BIN", env!("CARGO_BIN_EXE_eddy"))
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .envs(env.iter().copied())
        .output()
        .expect("run the venv's python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}");
    assert!(
        output.status.success(),
        "{args:?} failed ({}):\n{stdout}\n{stderr}\nserver log: {}",
        output.status,
        std::fs::read_to_string(server.data_dir.with_extension("log")).unwrap_or_default()
    );
}

#[test]
fn boto3_and_the_aws_cli_work_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), "");
    let server = Server::start_with_args(
        &dir.path().join("data"),
        &[
            "--durability",
            "buffered",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    run_python(
        &server,
        &[
            "-m",
            "pytest",
            "engine/tests/aws",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
        ],
        &[],
    );
}

#[test]
fn sigv4_is_enforced_when_credentials_are_configured() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        dir.path(),
        "aws_access_key_id = \"AKIDEDDY\"\naws_secret_access_key = \"eddy-secret\"\n",
    );
    let server = Server::start_with_args(
        &dir.path().join("data"),
        &[
            "--durability",
            "buffered",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    run_python(
        &server,
        &["engine/tests/aws_auth/check_sigv4.py"],
        &[("EDDY_KEY_ID", "AKIDEDDY"), ("EDDY_SECRET", "eddy-secret")],
    );
}
