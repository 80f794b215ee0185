//! The two wire formats of the Kinesis API: `application/x-amz-json-1.1` (blobs as base64
//! strings, timestamps as epoch seconds) and `application/x-amz-cbor-1.1` (blobs as byte
//! strings, timestamps as tag 1 holding integer epoch *milliseconds*, which is what real
//! Kinesis sends and what the AWS Java SDK expects, although CBOR's tag 1 means seconds).
//!
//! [`Blob`] and [`Timestamp`] pick their encoding from `is_human_readable()`: serde_json
//! says yes, ciborium says no. Requests and responses are otherwise plain serde structs.

use axum::http::{header, HeaderMap, HeaderValue};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::{ErrorType, KinesisError};

pub const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";
pub const CBOR_CONTENT_TYPE: &str = "application/x-amz-cbor-1.1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Json,
    Cbor,
}

impl Protocol {
    /// CBOR when the request says so; JSON otherwise (as Kinesis, which also takes plain
    /// `application/json`).
    pub fn of(headers: &HeaderMap) -> Self {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        if content_type.starts_with(CBOR_CONTENT_TYPE) {
            Protocol::Cbor
        } else {
            Protocol::Json
        }
    }

    pub fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Protocol::Json => JSON_CONTENT_TYPE,
            Protocol::Cbor => CBOR_CONTENT_TYPE,
        })
    }

    /// Decodes a request body. An empty body is an empty request, as in Kinesis.
    pub fn decode<T: DeserializeOwned>(self, body: &[u8]) -> Result<T, KinesisError> {
        let body: &[u8] = if body.is_empty() { b"{}" } else { body };
        let result = match self {
            Protocol::Json => serde_json::from_slice(body).map_err(|err| err.to_string()),
            Protocol::Cbor if body == b"{}" => {
                serde_json::from_slice(body).map_err(|err| err.to_string())
            }
            Protocol::Cbor => ciborium::from_reader(body).map_err(|err| err.to_string()),
        };
        result.map_err(|message| {
            KinesisError::new(
                ErrorType::Serialization,
                format!("the request body is not a valid {self:?} request: {message}"),
            )
        })
    }

    pub fn encode<T: Serialize>(self, value: &T) -> Vec<u8> {
        match self {
            Protocol::Json => serde_json::to_vec(value).expect("responses serialise to JSON"),
            Protocol::Cbor => {
                let mut out = Vec::with_capacity(256);
                ciborium::into_writer(value, &mut out).expect("responses serialise to CBOR");
                out
            }
        }
    }
}

/// A blob field: base64 in JSON, a byte string in CBOR.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blob(pub Bytes);

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BlobVisitor;
        impl<'de> Visitor<'de> for BlobVisitor {
            type Value = Blob;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a base64 string or a byte string")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Blob, E> {
                STANDARD
                    .decode(text)
                    .map(|bytes| Blob(Bytes::from(bytes)))
                    .map_err(|err| E::custom(format!("blob is not valid base64: {err}")))
            }
            fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Blob, E> {
                Ok(Blob(Bytes::copy_from_slice(bytes)))
            }
            fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Blob, E> {
                Ok(Blob(Bytes::from(bytes)))
            }
        }
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(BlobVisitor)
        } else {
            deserializer.deserialize_bytes(BlobVisitor)
        }
    }
}

/// Serialises borrowed bytes as a blob.
pub struct BlobRef<'a>(pub &'a [u8]);

impl Serialize for BlobRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&STANDARD.encode(self.0))
        } else {
            serializer.serialize_bytes(self.0)
        }
    }
}

/// A timestamp in epoch milliseconds: epoch seconds (a number) in JSON, tag 1 holding
/// integer epoch milliseconds in CBOR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp(pub u64);

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_f64(self.0 as f64 / 1000.0)
        } else {
            ciborium::tag::Required::<u64, 1>(self.0).serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let millis_of_seconds = |seconds: f64| {
            if (0.0..1.0e13).contains(&seconds) {
                Ok(Timestamp((seconds * 1000.0).round() as u64))
            } else {
                Err(de::Error::custom(format!(
                    "timestamp {seconds} is not a time after 1970"
                )))
            }
        };
        if deserializer.is_human_readable() {
            let seconds = f64::deserialize(deserializer)?;
            return millis_of_seconds(seconds);
        }
        // CBOR: tag 1 with integer milliseconds (the AWS SDKs), or a float of seconds.
        let ciborium::tag::Captured(_, value) =
            ciborium::tag::Captured::<ciborium::Value>::deserialize(deserializer)?;
        match value {
            ciborium::Value::Integer(integer) => u64::try_from(integer)
                .map(Timestamp)
                .map_err(|_| de::Error::custom("timestamp is before 1970")),
            ciborium::Value::Float(seconds) => millis_of_seconds(seconds),
            other => Err(de::Error::custom(format!(
                "timestamp must be a number, got {other:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "PascalCase")]
    struct Sample {
        data: Blob,
        at: Timestamp,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct SampleOut<'a> {
        data: BlobRef<'a>,
        at: Timestamp,
    }

    #[test]
    fn json_uses_base64_and_seconds() {
        let parsed: Sample = Protocol::Json
            .decode(br#"{"Data":"aGk=","At":1700000000.5}"#)
            .unwrap();
        assert_eq!(parsed.data.0.as_ref(), b"hi");
        assert_eq!(parsed.at, Timestamp(1_700_000_000_500));
        let out = Protocol::Json.encode(&SampleOut {
            data: BlobRef(b"hi"),
            at: Timestamp(1_700_000_000_500),
        });
        assert_eq!(out, br#"{"Data":"aGk=","At":1700000000.5}"#);
    }

    #[test]
    fn cbor_uses_byte_strings_and_tagged_milliseconds() {
        let out = Protocol::Cbor.encode(&SampleOut {
            data: BlobRef(b"hi"),
            at: Timestamp(1_700_000_000_500),
        });
        let value: ciborium::Value = ciborium::from_reader(out.as_slice()).unwrap();
        let map = value.as_map().unwrap();
        assert_eq!(map[0].1, ciborium::Value::Bytes(b"hi".to_vec()));
        assert_eq!(
            map[1].1,
            ciborium::Value::Tag(
                1,
                Box::new(ciborium::Value::Integer(1_700_000_000_500u64.into()))
            )
        );
        let parsed: Sample = Protocol::Cbor.decode(&out).unwrap();
        assert_eq!(parsed.data.0.as_ref(), b"hi");
        assert_eq!(parsed.at, Timestamp(1_700_000_000_500));
    }

    #[test]
    fn garbage_is_a_serialization_error() {
        for body in [
            &b"{"[..],
            b"[1,2]",
            b"{\"Data\":\"***\",\"At\":1}",
            b"{\"Data\":\"\",\"At\":-1}",
        ] {
            let err = Protocol::Json.decode::<Sample>(body).unwrap_err();
            assert_eq!(err.error_type, ErrorType::Serialization, "{body:?}");
        }
        let err = Protocol::Cbor.decode::<Sample>(&[0xff, 0x00]).unwrap_err();
        assert_eq!(err.error_type, ErrorType::Serialization);
    }
}
