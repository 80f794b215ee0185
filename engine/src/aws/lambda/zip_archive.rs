//! A reader of the zip format, as much of it as Lambda function zips use: the central
//! directory, stored (0) and deflated (8) entries, Unix modes and symbolic links. Not
//! supported (refused with a message): ZIP64, encryption, other compression methods,
//! archives spanning disks.
//!
//! Nothing here trusts the archive: every offset and length is bounds-checked against the
//! buffer, sizes declared by entries are not used to allocate, and each entry's CRC-32 is
//! checked once it is read to its end.

use std::io::{self, Read, Write};

use flate2::read::DeflateDecoder;
use flate2::Crc;

const EOCD_SIGNATURE: u32 = 0x0605_4b50;
const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
const LOCAL_SIGNATURE: u32 = 0x0403_4b50;
const EOCD_LEN: usize = 22;
const CENTRAL_LEN: usize = 46;
const LOCAL_LEN: usize = 30;
const MAX_COMMENT_LEN: usize = 0xffff;
const UNIX_HOST: u16 = 3;
const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFDIR: u32 = 0o040_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
}

#[derive(Clone, Debug)]
pub struct ZipEntry {
    /// The name as stored (`/`-separated; unchecked: see the caller's path checks).
    pub name: String,
    pub kind: EntryKind,
    /// The permission bits, when the archive was made on Unix.
    pub unix_mode: Option<u32>,
    method: u16,
    crc32: u32,
    compressed_size: usize,
    local_header_offset: usize,
}

/// Why an archive cannot be read; the message names the entry where there is one.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ZipError(pub String);

fn u16_at(buf: &[u8], at: usize) -> Result<u16, ZipError> {
    buf.get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or_else(|| ZipError("truncated archive".into()))
}

fn u32_at(buf: &[u8], at: usize) -> Result<u32, ZipError> {
    buf.get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| ZipError("truncated archive".into()))
}

/// The entries of the archive in `zip`, in central-directory order.
pub fn entries(zip: &[u8]) -> Result<Vec<ZipEntry>, ZipError> {
    let eocd = find_eocd(zip)?;
    let disk = u16_at(zip, eocd + 4)?;
    let cd_disk = u16_at(zip, eocd + 6)?;
    let count = u16_at(zip, eocd + 10)? as usize;
    let cd_size = u32_at(zip, eocd + 12)?;
    let cd_offset = u32_at(zip, eocd + 16)?;
    if disk != 0 || cd_disk != 0 {
        return Err(ZipError(
            "archives spanning several disks are not supported".into(),
        ));
    }
    if count == 0xffff || cd_size == u32::MAX || cd_offset == u32::MAX {
        return Err(ZipError("ZIP64 archives are not supported".into()));
    }
    let mut at = cd_offset as usize;
    let mut entries = Vec::with_capacity(count.min(zip.len() / CENTRAL_LEN));
    for _ in 0..count {
        if u32_at(zip, at)? != CENTRAL_SIGNATURE {
            return Err(ZipError("corrupt central directory".into()));
        }
        let made_by = u16_at(zip, at + 4)?;
        let flags = u16_at(zip, at + 8)?;
        let method = u16_at(zip, at + 10)?;
        let crc32 = u32_at(zip, at + 16)?;
        let compressed_size = u32_at(zip, at + 20)?;
        let uncompressed_size = u32_at(zip, at + 24)?;
        let name_len = u16_at(zip, at + 28)? as usize;
        let extra_len = u16_at(zip, at + 30)? as usize;
        let comment_len = u16_at(zip, at + 32)? as usize;
        let external = u32_at(zip, at + 38)?;
        let local_header_offset = u32_at(zip, at + 42)?;
        let name_bytes = zip
            .get(at + CENTRAL_LEN..at + CENTRAL_LEN + name_len)
            .ok_or_else(|| ZipError("truncated central directory".into()))?;
        let name = std::str::from_utf8(name_bytes)
            .map_err(|_| ZipError(format!("entry name {name_bytes:?} is not UTF-8")))?
            .replace('\\', "/");
        if compressed_size == u32::MAX
            || uncompressed_size == u32::MAX
            || local_header_offset == u32::MAX
        {
            return Err(ZipError(format!(
                "entry {name:?}: ZIP64 entries are not supported"
            )));
        }
        if flags & 1 != 0 {
            return Err(ZipError(format!("entry {name:?} is encrypted")));
        }
        if method != 0 && method != 8 {
            return Err(ZipError(format!(
                "entry {name:?} uses compression method {method}; only stored and deflate are \
                 supported"
            )));
        }
        let unix_mode = (made_by >> 8 == UNIX_HOST).then_some(external >> 16);
        let kind = match unix_mode.map(|mode| mode & S_IFMT) {
            Some(S_IFLNK) => EntryKind::Symlink,
            Some(S_IFDIR) => EntryKind::Directory,
            _ if name.ends_with('/') => EntryKind::Directory,
            _ => EntryKind::File,
        };
        entries.push(ZipEntry {
            name,
            kind,
            unix_mode: unix_mode.map(|mode| mode & 0o7777),
            method,
            crc32,
            compressed_size: compressed_size as usize,
            local_header_offset: local_header_offset as usize,
        });
        at += CENTRAL_LEN + name_len + extra_len + comment_len;
    }
    Ok(entries)
}

fn find_eocd(zip: &[u8]) -> Result<usize, ZipError> {
    if zip.len() < EOCD_LEN {
        return Err(ZipError("not a zip archive (too short)".into()));
    }
    let lowest = zip.len().saturating_sub(EOCD_LEN + MAX_COMMENT_LEN);
    (lowest..=zip.len() - EOCD_LEN)
        .rev()
        .find(|&at| u32_at(zip, at).is_ok_and(|sig| sig == EOCD_SIGNATURE))
        .ok_or_else(|| ZipError("not a zip archive (no end of central directory)".into()))
}

/// Copies the content of `entry` into `out`, at most `max_bytes` of it. Returns the
/// number of bytes copied, which is `max_bytes + 1` when the entry is larger (the caller
/// refuses it); the CRC-32 is checked when the whole entry was read.
pub fn copy_entry(
    zip: &[u8],
    entry: &ZipEntry,
    out: &mut impl Write,
    max_bytes: u64,
) -> Result<u64, ZipError> {
    let at = entry.local_header_offset;
    if u32_at(zip, at)? != LOCAL_SIGNATURE {
        return Err(ZipError(format!(
            "entry {:?}: corrupt local header",
            entry.name
        )));
    }
    let name_len = u16_at(zip, at + 26)? as usize;
    let extra_len = u16_at(zip, at + 28)? as usize;
    let start = at + LOCAL_LEN + name_len + extra_len;
    let data = start
        .checked_add(entry.compressed_size)
        .and_then(|end| zip.get(start..end))
        .ok_or_else(|| ZipError(format!("entry {:?}: truncated data", entry.name)))?;
    let reader: Box<dyn Read + '_> = match entry.method {
        0 => Box::new(data),
        _ => Box::new(DeflateDecoder::new(data)),
    };
    let mut checked = CrcReader {
        inner: reader.take(max_bytes + 1),
        crc: Crc::new(),
    };
    let copied = io::copy(&mut checked, out)
        .map_err(|err| ZipError(format!("entry {:?}: {err}", entry.name)))?;
    if copied <= max_bytes && checked.crc.sum() != entry.crc32 {
        return Err(ZipError(format!(
            "entry {:?}: CRC-32 mismatch (corrupt data)",
            entry.name
        )));
    }
    Ok(copied)
}

struct CrcReader<R> {
    inner: R,
    crc: Crc,
}

impl<R: Read> Read for CrcReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

/// Builds archives for tests: stored or deflated files, directories and symbolic links,
/// with any names (including hostile ones).
#[cfg(test)]
pub mod testing {
    use flate2::write::DeflateEncoder;
    use flate2::{Compression, Crc};
    use std::io::Write;

    pub struct ZipBuilder {
        out: Vec<u8>,
        central: Vec<u8>,
        count: u16,
    }

    impl Default for ZipBuilder {
        fn default() -> Self {
            Self::new()
        }
    }

    impl ZipBuilder {
        pub fn new() -> Self {
            Self {
                out: Vec::new(),
                central: Vec::new(),
                count: 0,
            }
        }

        pub fn file(self, name: &str, data: &[u8]) -> Self {
            self.entry(name, data, 0o100_644, true)
        }

        pub fn symlink(self, name: &str, target: &str) -> Self {
            self.entry(name, target.as_bytes(), 0o120_777, false)
        }

        pub fn entry(mut self, name: &str, data: &[u8], mode: u32, deflate: bool) -> Self {
            let mut crc = Crc::new();
            crc.update(data);
            let (method, body) = if deflate {
                let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
                encoder.write_all(data).unwrap();
                (8u16, encoder.finish().unwrap())
            } else {
                (0u16, data.to_vec())
            };
            let offset = self.out.len() as u32;
            let mut common = Vec::new();
            common.extend_from_slice(&20u16.to_le_bytes()); // version needed
            common.extend_from_slice(&0u16.to_le_bytes()); // flags
            common.extend_from_slice(&method.to_le_bytes());
            common.extend_from_slice(&[0; 4]); // time, date
            common.extend_from_slice(&crc.sum().to_le_bytes());
            common.extend_from_slice(&(body.len() as u32).to_le_bytes());
            common.extend_from_slice(&(data.len() as u32).to_le_bytes());
            common.extend_from_slice(&(name.len() as u16).to_le_bytes());
            common.extend_from_slice(&0u16.to_le_bytes()); // extra
            self.out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
            self.out.extend_from_slice(&common);
            self.out.extend_from_slice(name.as_bytes());
            self.out.extend_from_slice(&body);
            self.central
                .extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            self.central
                .extend_from_slice(&(0x0300u16 | 20).to_le_bytes()); // made by Unix
            self.central.extend_from_slice(&common);
            self.central.extend_from_slice(&[0; 6]); // comment len, disk, internal attrs
            self.central.extend_from_slice(&(mode << 16).to_le_bytes());
            self.central.extend_from_slice(&offset.to_le_bytes());
            self.central.extend_from_slice(name.as_bytes());
            self.count += 1;
            self
        }

        pub fn finish(mut self) -> Vec<u8> {
            let cd_offset = self.out.len() as u32;
            let cd_size = self.central.len() as u32;
            self.out.extend_from_slice(&self.central);
            self.out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
            self.out.extend_from_slice(&[0; 4]);
            self.out.extend_from_slice(&self.count.to_le_bytes());
            self.out.extend_from_slice(&self.count.to_le_bytes());
            self.out.extend_from_slice(&cd_size.to_le_bytes());
            self.out.extend_from_slice(&cd_offset.to_le_bytes());
            self.out.extend_from_slice(&0u16.to_le_bytes());
            self.out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::ZipBuilder;
    use super::*;

    #[test]
    fn reads_stored_and_deflated_entries() {
        let zip = ZipBuilder::new()
            .file("a.py", b"print('hello')\n")
            .entry("b.txt", b"stored", 0o100_755, false)
            .symlink("c", "a.py")
            .finish();
        let entries = entries(&zip).unwrap();
        let names: Vec<_> = entries.iter().map(|e| (e.name.as_str(), e.kind)).collect();
        assert_eq!(
            names,
            [
                ("a.py", EntryKind::File),
                ("b.txt", EntryKind::File),
                ("c", EntryKind::Symlink)
            ]
        );
        assert_eq!(entries[1].unix_mode, Some(0o755));
        let mut out = Vec::new();
        assert_eq!(copy_entry(&zip, &entries[0], &mut out, 1000).unwrap(), 15);
        assert_eq!(out, b"print('hello')\n");
        let mut out = Vec::new();
        copy_entry(&zip, &entries[2], &mut out, 1000).unwrap();
        assert_eq!(out, b"a.py");
        // Bounded: one byte past the bound, no CRC check.
        let mut out = Vec::new();
        assert_eq!(copy_entry(&zip, &entries[0], &mut out, 4).unwrap(), 5);
    }

    #[test]
    fn garbage_and_corruption_are_errors_not_panics() {
        assert!(entries(b"").is_err());
        assert!(entries(b"PK\x05\x06").is_err());
        assert!(entries(&[0u8; 100]).is_err());
        let zip = ZipBuilder::new().file("a", b"some data here").finish();
        for cut in 0..zip.len() {
            if let Ok(list) = entries(&zip[..cut]) {
                for entry in list {
                    let _ = copy_entry(&zip[..cut], &entry, &mut Vec::new(), 1 << 20);
                }
            }
        }
        let mut flipped = zip.clone();
        flipped[LOCAL_LEN + 1 + 3] ^= 0xff; // inside the deflated data
        let list = entries(&flipped).unwrap();
        assert!(copy_entry(&flipped, &list[0], &mut Vec::new(), 1 << 20).is_err());
    }
}
