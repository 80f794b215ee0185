//! Shared by the consumers tests.

use std::path::PathBuf;

/// The Python of the virtualenv that `make test` fills with `awslambdaric`
/// (`$EDDY_VENV`, default `~/.cache/eddy-venv`).
pub fn venv_python() -> PathBuf {
    let venv = std::env::var_os("EDDY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/eddy-venv")
        });
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make test` (scripts/setup-python.sh installs awslambdaric)",
        python.display()
    );
    python
}
