//! Whether a directory's file system takes direct I/O (`O_DIRECT`) writes, so that
//! RocksDB's flushes and compactions can write their files past the page cache.
//!
//! Why eddy wants it: a flush writes every record a second time (the WAL was the first),
//! and through the page cache that costs a copy into the cache, then the kernel's
//! writeback. On the machine eddy is measured on (a virtio disk, ext4), `dd` of 2 GiB
//! wrote 1.1–1.5 GB/s with `oflag=direct` against 0.42–0.70 GB/s through the page cache
//! (`conv=fdatasync`), and during W3 with 64 shards, buffered, the machine spent up to
//! 42 % of its time in the kernel (`vmstat`). With direct I/O, W2 (8 producers, 1 KiB × 500, buffered)
//! took 506k and 523k records/s against 400k and 489k without, alternating runs
//! (`eddy-bench compare --workloads w2 --batch-sizes 500 --record-sizes 1024 --only "eddy
//! grpc" --seconds 2 --rounds 3`); in the full comparison, where the runs share rounds with
//! Redis, NATS and kinesalite, the same figure came out 0.98× the build before, 64 KiB
//! records 1.40–1.87× and W3 1.02–1.11× (with the larger memtable budget of the same
//! build; `benches/report/REPORT.md`).
//!
//! On a file system that does not take `O_DIRECT`, RocksDB's writes of flushed files would
//! fail, so eddy asks first, with a one-block write, and falls back to buffered I/O.

use std::path::Path;

/// The probe's file, in the store's directory; removed after the probe.
const PROBE_FILE: &str = "DIRECT_IO_PROBE";
/// One block, aligned as `O_DIRECT` requires of the buffer, the offset and the length.
const BLOCK: usize = 4096;

/// `Ok` when a block written to a new file in `dir` with `O_DIRECT` went through; the
/// reason otherwise. Creates `dir` if it is missing.
pub fn supported(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir)
        .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    let path = dir.join(PROBE_FILE);
    let result = write_one_block(&path);
    let _ = std::fs::remove_file(&path);
    result
}

#[cfg(target_os = "linux")]
fn write_one_block(path: &Path) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .map_err(|err| format!("open with O_DIRECT: {err}"))?;
    let buffer = vec![0u8; 2 * BLOCK];
    let start = buffer.as_ptr().align_offset(BLOCK);
    file.write_all(&buffer[start..start + BLOCK])
        .map_err(|err| format!("write with O_DIRECT: {err}"))
}

#[cfg(not(target_os = "linux"))]
fn write_one_block(_path: &Path) -> Result<(), String> {
    Err("eddy uses direct I/O on Linux only".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dir_that_cannot_exist_is_a_reason_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"").unwrap();
        let reason = supported(&file.join("store")).unwrap_err();
        assert!(reason.contains("cannot create"), "{reason}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_probe_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        // Whatever the answer on this file system, the probe file is gone.
        let _ = supported(dir.path());
        assert!(!dir.path().join(PROBE_FILE).exists());
    }
}
