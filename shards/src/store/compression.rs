//! Whether records families compress the SST files they flush and compact.

use rocksdb::DBCompressionType;
use serde::{Deserialize, Serialize};

/// How the SST files of records are compressed; the WAL never is. A server setting
/// (`records_compression` in `eddy.toml`), applied at open to every records family: files
/// written before keep their compression and stay readable either way.
///
/// `none` is the default because compression costs the one flush thread CPU whether or not
/// it saves anything, and producers often send data that does not compress (already
/// compressed, encrypted or binary). In `eddy-bench compare`'s W2 (1 KiB random records,
/// batches of 500, 2 invocations) LZ4 cut eddy's throughput to 0.74× and 0.83× buffered
/// and 0.92× and 0.89× under fsync: RocksDB tried every block and kept none. `lz4` pays
/// where records compress, such as JSON: the files shrink severalfold, and with them the
/// disk writes of flushes and compactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RecordsCompression {
    /// Records are stored as they were put.
    #[default]
    None,
    /// LZ4 per block; a block that shrinks by less than 1/8 is stored as is.
    Lz4,
}

impl RecordsCompression {
    pub(super) fn rocksdb_type(self) -> DBCompressionType {
        match self {
            RecordsCompression::None => DBCompressionType::None,
            RecordsCompression::Lz4 => DBCompressionType::Lz4,
        }
    }
}
