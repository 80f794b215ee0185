//! Function code from `CreateFunction` / `UpdateFunctionCode`: the zip is unpacked into
//! `<code_dir>/<function>/<revision>/`, and the Lambda runtime name becomes the worker
//! command eddy runs there.
//!
//! - `python3.8` … `python3.14`: `<lambda_python> -m awslambdaric <Handler>`.
//! - `provided`, `provided.al2`, `provided.al2023`: the executable `bootstrap` at the
//!   zip's root, as Lambda custom runtimes do.
//!
//! # Invariants
//! - Nothing is written outside the revision directory: entries with absolute paths or
//!   `..` that leave it are rejected, and symbolic links must be relative and free of
//!   `..` (and are made after every file, so no file is written through one).
//! - At most [`MAX_UNPACKED_BYTES`] are written, counted as they are inflated (the sizes a
//!   zip declares are not trusted).
//! - A rejected zip leaves nothing behind: it is unpacked into a hidden partial directory
//!   that is renamed into place only when complete, and removed otherwise.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use base64::Engine;
use sha2::{Digest, Sha256};

use super::error::LambdaError;
use super::zip_archive::{self, EntryKind, ZipError};

/// Lambda's limit on unpacked code (250 MB); what one function's revision costs on disk.
pub const MAX_UNPACKED_BYTES: u64 = 250 * 1024 * 1024;
/// Entries per zip at most: each is a file created on disk.
pub const MAX_ZIP_ENTRIES: usize = 100_000;

/// A function zip unpacked into its revision directory.
#[derive(Debug)]
pub struct UnpackedCode {
    /// The revision directory (absolute): the function's workdir.
    pub dir: PathBuf,
    /// The revision directory's name.
    pub revision: String,
    /// Base64 of the SHA-256 of the zip, as Lambda's `CodeSha256`.
    pub sha256_base64: String,
    pub zip_size_bytes: u64,
}

/// The Lambda runtimes eddy runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeKind {
    Python,
    Provided,
}

pub const SUPPORTED_RUNTIMES: &[&str] = &[
    "python3.8",
    "python3.9",
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
    "python3.14",
    "provided",
    "provided.al2",
    "provided.al2023",
];

pub fn runtime_kind(runtime: &str) -> Result<RuntimeKind, LambdaError> {
    match runtime {
        _ if !SUPPORTED_RUNTIMES.contains(&runtime) => {
            Err(LambdaError::invalid_parameter(format!(
                "`Runtime` {runtime:?} is not supported by eddy; supported: {}",
                SUPPORTED_RUNTIMES.join(", ")
            )))
        }
        _ if runtime.starts_with("python") => Ok(RuntimeKind::Python),
        _ => Ok(RuntimeKind::Provided),
    }
}

/// The worker command of `runtime` with `handler`, for code unpacked in `dir`.
pub fn worker_command(
    runtime: &str,
    handler: &str,
    dir: &Path,
    lambda_python: &Path,
) -> Result<Vec<String>, LambdaError> {
    match runtime_kind(runtime)? {
        RuntimeKind::Python => {
            if handler.is_empty() {
                return Err(LambdaError::invalid_parameter(format!(
                    "`Handler` is required for runtime {runtime} (e.g. `app.handler`)"
                )));
            }
            Ok(vec![
                lambda_python.display().to_string(),
                "-m".into(),
                "awslambdaric".into(),
                handler.to_string(),
            ])
        }
        RuntimeKind::Provided => {
            let bootstrap = dir.join("bootstrap");
            if !bootstrap.is_file() {
                return Err(LambdaError::invalid_parameter(format!(
                    "runtime {runtime} needs an executable `bootstrap` file at the root of \
                     the zip, and there is none"
                )));
            }
            Ok(vec![bootstrap.display().to_string()])
        }
    }
}

/// Decodes `Code.ZipFile` / `ZipFile` (base64 in the JSON body).
pub fn decode_zip(field: &str, base64_zip: &str) -> Result<Vec<u8>, LambdaError> {
    base64::engine::general_purpose::STANDARD
        .decode(base64_zip.trim())
        .map_err(|err| LambdaError::invalid_parameter(format!("`{field}` must be base64: {err}")))
}

/// Unpacks `zip` into a new revision directory under `function_dir`. Blocking file i/o.
pub fn unpack(zip: &[u8], function_dir: &Path) -> Result<UnpackedCode, LambdaError> {
    unpack_bounded(zip, function_dir, MAX_UNPACKED_BYTES)
}

fn unpack_bounded(
    zip: &[u8],
    function_dir: &Path,
    max_unpacked_bytes: u64,
) -> Result<UnpackedCode, LambdaError> {
    let revision = eddy_consumers::ids::new_uuid();
    fs::create_dir_all(function_dir).map_err(|err| io_error(function_dir, err))?;
    let partial = function_dir.join(format!(".partial-{revision}"));
    fs::create_dir(&partial).map_err(|err| io_error(&partial, err))?;
    let result = extract(zip, &partial, max_unpacked_bytes).and_then(|()| {
        let dir = function_dir.join(&revision);
        fs::rename(&partial, &dir).map_err(|err| io_error(&dir, err))?;
        dir.canonicalize().map_err(|err| io_error(&dir, err))
    });
    match result {
        Ok(dir) => Ok(UnpackedCode {
            dir,
            revision,
            sha256_base64: base64::engine::general_purpose::STANDARD.encode(Sha256::digest(zip)),
            zip_size_bytes: zip.len() as u64,
        }),
        Err(err) => {
            let _ = fs::remove_dir_all(&partial);
            remove_if_empty(function_dir);
            Err(err)
        }
    }
}

fn extract(zip: &[u8], dest: &Path, max_unpacked_bytes: u64) -> Result<(), LambdaError> {
    let unzip_error = |err: ZipError| {
        LambdaError::invalid_parameter(format!("`ZipFile`: could not unzip the code: {err}"))
    };
    let entries = zip_archive::entries(zip).map_err(unzip_error)?;
    if entries.len() > MAX_ZIP_ENTRIES {
        return Err(LambdaError::invalid_parameter(format!(
            "`ZipFile` must hold at most {MAX_ZIP_ENTRIES} entries, got {}",
            entries.len()
        )));
    }
    let mut written_bytes: u64 = 0;
    let mut symlinks = Vec::new();
    for entry in &entries {
        let relative = enclosed_path(&entry.name)?;
        let target = dest.join(&relative);
        match entry.kind {
            EntryKind::Directory => {
                fs::create_dir_all(&target).map_err(|err| io_error(&target, err))?;
            }
            EntryKind::Symlink => {
                let mut link = Vec::new();
                zip_archive::copy_entry(zip, entry, &mut link, 4096).map_err(unzip_error)?;
                let link = PathBuf::from(String::from_utf8_lossy(&link).into_owned());
                let stays_inside = link
                    .components()
                    .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
                if !stays_inside || link.as_os_str().is_empty() {
                    return Err(LambdaError::invalid_parameter(format!(
                        "`ZipFile` symbolic link {:?} → {:?} must be relative and must not use \
                         `..`",
                        entry.name,
                        link.display()
                    )));
                }
                symlinks.push((target, link));
            }
            EntryKind::File => {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(|err| io_error(parent, err))?;
                }
                let mut file = fs::File::create(&target).map_err(|err| io_error(&target, err))?;
                let budget = max_unpacked_bytes - written_bytes;
                written_bytes +=
                    zip_archive::copy_entry(zip, entry, &mut file, budget).map_err(unzip_error)?;
                if written_bytes > max_unpacked_bytes {
                    return Err(LambdaError::invalid_parameter(format!(
                        "`ZipFile` unpacks to more than {max_unpacked_bytes} bytes, Lambda's \
                         limit on unzipped code"
                    )));
                }
                let mut mode = entry.unix_mode.unwrap_or(0o644) & 0o777 | 0o600;
                if relative == Path::new("bootstrap") {
                    mode |= 0o755;
                }
                fs::set_permissions(&target, fs::Permissions::from_mode(mode))
                    .map_err(|err| io_error(&target, err))?;
            }
        }
    }
    for (target, link) in symlinks {
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|err| io_error(parent, err))?;
        }
        std::os::unix::fs::symlink(&link, &target).map_err(|err| io_error(&target, err))?;
    }
    Ok(())
}

/// An entry's name as a path inside the code directory: relative, without `..`.
fn enclosed_path(name: &str) -> Result<PathBuf, LambdaError> {
    let path = Path::new(name);
    let inside = !name.contains('\0')
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    let relative: PathBuf = path.components().collect();
    if !inside || relative.as_os_str().is_empty() {
        return Err(LambdaError::invalid_parameter(format!(
            "`ZipFile` entry {name:?} is an absolute path or leaves the code directory"
        )));
    }
    Ok(relative)
}

/// Removes revision directories of a function other than `keep`.
pub fn remove_revisions_except(function_dir: &Path, keep: &[&str]) {
    let Ok(entries) = fs::read_dir(function_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !keep.iter().any(|k| name == **k) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Removes one revision directory, and the function's directory if it is then empty.
pub fn remove_revision(function_dir: &Path, revision: &str) {
    let _ = fs::remove_dir_all(function_dir.join(revision));
    remove_if_empty(function_dir);
}

fn remove_if_empty(dir: &Path) {
    let _ = fs::remove_dir(dir);
}

fn io_error(path: &Path, err: io::Error) -> LambdaError {
    LambdaError::service(format!(
        "cannot write function code at {}: {err}",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::super::zip_archive::testing::ZipBuilder;
    use super::*;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        entries
            .iter()
            .fold(ZipBuilder::new(), |zip, (name, data)| zip.file(name, data))
            .finish()
    }

    fn left_behind(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn unpacks_files_and_makes_bootstrap_executable() {
        let tmp = tempfile::tempdir().unwrap();
        let zip = zip_of(&[
            ("app.py", b"x = 1\n"),
            ("bootstrap", b"#!/bin/sh\n"),
            ("pkg/m.py", b""),
        ]);
        let code = unpack(&zip, &tmp.path().join("f")).unwrap();
        assert_eq!(fs::read(code.dir.join("app.py")).unwrap(), b"x = 1\n");
        assert!(code.dir.join("pkg/m.py").is_file());
        let mode = fs::metadata(code.dir.join("bootstrap"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111);
        assert_eq!(code.zip_size_bytes, zip.len() as u64);
        assert_eq!(
            code.sha256_base64,
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&zip))
        );
        assert_eq!(left_behind(&tmp.path().join("f")), vec![code.revision]);
    }

    #[test]
    fn escaping_entries_are_rejected_and_leave_nothing() {
        for name in [
            "../evil.py",
            "a/../../evil.py",
            "/etc/evil.py",
            "a/../b",
            "..",
            "x\\..\\..\\evil.py",
        ] {
            let tmp = tempfile::tempdir().unwrap();
            let zip = zip_of(&[("ok.py", b""), (name, b"boom")]);
            let err = unpack(&zip, &tmp.path().join("f")).unwrap_err();
            assert_eq!(err.error_type, "InvalidParameterValueException");
            assert!(
                err.message.contains("leaves the code directory"),
                "{}",
                err.message
            );
            assert!(
                !tmp.path().join("f").exists(),
                "{name}: a dir was left behind"
            );
            assert!(!tmp.path().join("evil.py").exists());
        }
    }

    #[test]
    fn symlinks_must_stay_inside() {
        let tmp = tempfile::tempdir().unwrap();
        for target in ["../..", "/etc/passwd", "a/../../b"] {
            let zip = ZipBuilder::new().symlink("up", target).finish();
            let err = unpack(&zip, &tmp.path().join("f")).unwrap_err();
            assert!(err.message.contains("must not use `..`"), "{}", err.message);
            assert!(!tmp.path().join("f").exists());
        }
        let zip = ZipBuilder::new()
            .symlink("alias.py", "lib/real.py")
            .file("lib/real.py", b"x = 1\n")
            .finish();
        let code = unpack(&zip, &tmp.path().join("g")).unwrap();
        assert!(fs::symlink_metadata(code.dir.join("alias.py"))
            .unwrap()
            .is_symlink());
        assert_eq!(fs::read(code.dir.join("alias.py")).unwrap(), b"x = 1\n");
    }

    #[test]
    fn unpacked_size_is_bounded_by_what_is_inflated() {
        let tmp = tempfile::tempdir().unwrap();
        let zip = zip_of(&[("a", &[0u8; 600]), ("b", &[0u8; 600])]);
        let err = unpack_bounded(&zip, &tmp.path().join("f"), 1000).unwrap_err();
        assert!(
            err.message.contains("more than 1000 bytes"),
            "{}",
            err.message
        );
        assert!(!tmp.path().join("f").exists());
        unpack_bounded(&zip, &tmp.path().join("f"), 1200).unwrap();
    }

    #[test]
    fn garbage_is_not_a_zip() {
        let tmp = tempfile::tempdir().unwrap();
        let err = unpack(b"not a zip", &tmp.path().join("f")).unwrap_err();
        assert!(err.message.contains("could not unzip"), "{}", err.message);
        assert!(!tmp.path().join("f").exists());
    }

    #[test]
    fn runtimes_become_commands() {
        let tmp = tempfile::tempdir().unwrap();
        let python = Path::new("/usr/bin/python3");
        assert_eq!(
            worker_command("python3.12", "app.handler", tmp.path(), python).unwrap(),
            vec!["/usr/bin/python3", "-m", "awslambdaric", "app.handler"]
        );
        let err = worker_command("python3.12", "", tmp.path(), python).unwrap_err();
        assert!(err.message.contains("`Handler` is required"));
        let err = worker_command("provided.al2023", "", tmp.path(), python).unwrap_err();
        assert!(err.message.contains("`bootstrap`"));
        fs::write(tmp.path().join("bootstrap"), "").unwrap();
        assert_eq!(
            worker_command("provided", "", tmp.path(), python).unwrap(),
            vec![tmp.path().join("bootstrap").display().to_string()]
        );
        let err = worker_command("nodejs20.x", "h", tmp.path(), python).unwrap_err();
        assert!(err.message.contains("\"nodejs20.x\" is not supported"));
    }
}
