//! Shard iterators: opaque, tamper-evident tokens that name a position in a shard.
//!
//! A token is base64url of `version u8 | stream_id u32 | shard_index u32 | seq u64 |
//! issued_millis u64 | stream name`, followed by the first 16 bytes of an HMAC-SHA256
//! of all that under the log's secret. The secret survives restarts, so iterators do
//! too; they expire [`ITERATOR_TTL_MILLIS`] after issue, as in Kinesis.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

/// Iterators are valid for 5 minutes, as in Kinesis.
pub const ITERATOR_TTL_MILLIS: u64 = 5 * 60 * 1000;
const VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 4 + 4 + 8 + 8;
const MAC_LEN: usize = 16;
/// Kinesis iterators are at most 512 characters; so are eddy's.
pub const MAX_ITERATOR_CHARS: usize = 512;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardPosition {
    pub stream_id: u32,
    pub stream_name: String,
    pub shard_index: u32,
    /// The next sequence number to read.
    pub next_seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IteratorError {
    #[error("shard iterator is malformed or was not issued by this server")]
    Invalid,
    #[error("shard iterator expired {expired_ago_millis} ms ago (iterators are valid for 5 minutes); get a new one with GetShardIterator")]
    Expired { expired_ago_millis: u64 },
}

pub fn encode(secret: &[u8; 32], position: &ShardPosition, issued_millis: u64) -> String {
    let mut bytes = Vec::with_capacity(HEADER_LEN + position.stream_name.len() + MAC_LEN);
    bytes.push(VERSION);
    bytes.extend_from_slice(&position.stream_id.to_be_bytes());
    bytes.extend_from_slice(&position.shard_index.to_be_bytes());
    bytes.extend_from_slice(&position.next_seq.to_be_bytes());
    bytes.extend_from_slice(&issued_millis.to_be_bytes());
    bytes.extend_from_slice(position.stream_name.as_bytes());
    let mac = mac_of(secret, &bytes);
    bytes.extend_from_slice(&mac);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn decode(
    secret: &[u8; 32],
    token: &str,
    now_millis: u64,
) -> Result<ShardPosition, IteratorError> {
    if token.len() > MAX_ITERATOR_CHARS {
        return Err(IteratorError::Invalid);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| IteratorError::Invalid)?;
    if bytes.len() < HEADER_LEN + MAC_LEN || bytes[0] != VERSION {
        return Err(IteratorError::Invalid);
    }
    let (body, mac) = bytes.split_at(bytes.len() - MAC_LEN);
    let mut verifier = Hmac::<Sha256>::new_from_slice(secret).expect("hmac takes any key length");
    verifier.update(body);
    verifier
        .verify_truncated_left(mac)
        .map_err(|_| IteratorError::Invalid)?;
    let u32_at = |at: usize| u32::from_be_bytes(body[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| u64::from_be_bytes(body[at..at + 8].try_into().expect("8 bytes"));
    let issued_millis = u64_at(17);
    let expires_millis = issued_millis.saturating_add(ITERATOR_TTL_MILLIS);
    if now_millis > expires_millis {
        return Err(IteratorError::Expired {
            expired_ago_millis: now_millis - expires_millis,
        });
    }
    let stream_name =
        String::from_utf8(body[HEADER_LEN..].to_vec()).map_err(|_| IteratorError::Invalid)?;
    Ok(ShardPosition {
        stream_id: u32_at(1),
        shard_index: u32_at(5),
        next_seq: u64_at(9),
        stream_name,
    })
}

fn mac_of(secret: &[u8; 32], body: &[u8]) -> [u8; MAC_LEN] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac takes any key length");
    mac.update(body);
    let full = mac.finalize().into_bytes();
    full[..MAC_LEN].try_into().expect("sha256 is 32 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position() -> ShardPosition {
        ShardPosition {
            stream_id: 7,
            stream_name: "orders".into(),
            shard_index: 3,
            next_seq: 42,
        }
    }

    #[test]
    fn round_trips_within_its_lifetime() {
        let secret = [9u8; 32];
        let token = encode(&secret, &position(), 1_000);
        assert!(token.len() < MAX_ITERATOR_CHARS);
        assert_eq!(
            decode(&secret, &token, 1_000 + ITERATOR_TTL_MILLIS),
            Ok(position())
        );
    }

    #[test]
    fn expires_after_five_minutes() {
        let secret = [9u8; 32];
        let token = encode(&secret, &position(), 1_000);
        assert_eq!(
            decode(&secret, &token, 1_001 + ITERATOR_TTL_MILLIS),
            Err(IteratorError::Expired {
                expired_ago_millis: 1
            })
        );
    }

    #[test]
    fn rejects_forgeries_and_garbage() {
        let secret = [9u8; 32];
        let token = encode(&secret, &position(), 1_000);
        assert_eq!(
            decode(&[8u8; 32], &token, 1_000),
            Err(IteratorError::Invalid)
        );
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[12] ^= 1; // a different sequence number
        assert_eq!(
            decode(&secret, &URL_SAFE_NO_PAD.encode(&bytes), 1_000),
            Err(IteratorError::Invalid)
        );
        for garbage in ["", "!!!", "AAAA", &"A".repeat(600)] {
            assert_eq!(
                decode(&secret, garbage, 1_000),
                Err(IteratorError::Invalid),
                "{garbage}"
            );
        }
    }
}
