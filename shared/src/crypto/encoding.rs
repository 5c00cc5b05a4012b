//! Byte encodings shared by every construction ([PROTOCOL.md §3]).
//!
//! - binary values travel as base64url without padding;
//! - everything that is signed, used as AEAD additional data or as HKDF info is a
//!   *canonical byte string* built by [`CanonicalBytes`]: a length-prefixed label, the
//!   protocol version byte, then length-prefixed fields. Because every part is
//!   length-prefixed and each label fixes its number of fields, two different inputs can
//!   never produce the same bytes, and a signature made for one purpose (label) can never
//!   be accepted for another.
//!
//! [PROTOCOL.md §3]: ../../../docs/PROTOCOL.md#3-encodings

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::{Error as _, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

/// The version of every serialised object's `v` field and of every canonical byte
/// string's version byte, but for the version-2 message envelope
/// ([`ENVELOPE_VERSION_ORDERED`](super::ENVELOPE_VERSION_ORDERED), PROTOCOL.md §8.7), the
/// one object protocol version 2 changed.
pub const PROTOCOL_VERSION: u8 = 1;

/// Longest identifier (user, device, channel, message, attachment id) accepted, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// Largest epoch number: 2^53 − 1, the largest integer a JSON number carries exactly in
/// a browser.
pub const MAX_EPOCH: u64 = (1 << 53) - 1;

/// Domain-separation labels, one per use ([PROTOCOL.md §3.5]).
pub(crate) mod label {
    pub(crate) const DEVICE_CERT: &str = "passerelle/v1/device-cert";
    pub(crate) const DEVICE_LINK: &str = "passerelle/v1/device-link";
    pub(crate) const FINGERPRINT: &str = "passerelle/v1/fingerprint";
    pub(crate) const EPOCH_KEY_COMMITMENT: &str = "passerelle/v1/epoch-key-commitment";
    pub(crate) const EPOCH_WRAP: &str = "passerelle/v1/epoch-wrap";
    pub(crate) const MESSAGE: &str = "passerelle/v1/message";
    pub(crate) const MESSAGE_V2: &str = "passerelle/v2/message";
    pub(crate) const ATTACHMENT_CHUNK: &str = "passerelle/v1/attachment-chunk";
    pub(crate) const KEY_BACKUP_KEY: &str = "passerelle/v1/key-backup-key";
    pub(crate) const KEY_BACKUP: &str = "passerelle/v1/key-backup";
    pub(crate) const KEY_BACKUP_PAGE: &str = "passerelle/v1/key-backup-page";
    pub(crate) const KEY_BACKUP_HEAD: &str = "passerelle/v1/key-backup-head";
    pub(crate) const MEMBERSHIP: &str = "passerelle/v1/membership";
    pub(crate) const SIGNED_PREKEY: &str = "passerelle/v1/signed-prekey";
}

/// Why bytes or a string could not be decoded into a protocol value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The string is not base64url without padding (wrong alphabet, `=` padding, or
    /// non-zero unused trailing bits).
    #[error("not base64url without padding")]
    Base64,
    /// The decoded value does not have the fixed length of its type.
    #[error("expected {expected} bytes, got {actual}")]
    Length {
        /// The length the type requires.
        expected: usize,
        /// The length that was received.
        actual: usize,
    },
    /// The bytes are not an uncompressed SEC1 encoding of a point on P-256.
    #[error("not an uncompressed P-256 point")]
    InvalidPoint,
    /// The `v` field is not a protocol version this library implements.
    #[error("unsupported protocol version")]
    UnsupportedVersion,
    /// An identifier is empty or longer than [`MAX_ID_LEN`] bytes.
    #[error("identifier empty or longer than {MAX_ID_LEN} bytes")]
    InvalidId,
    /// An epoch or revision number is above [`MAX_EPOCH`] (2^53 − 1).
    #[error("integer above 2^53 - 1")]
    IntegerOutOfRange,
}

/// Encodes bytes as base64url without padding.
pub fn to_base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding, rejecting padding and non-canonical trailing bits.
pub fn from_base64url(text: &str) -> Result<Vec<u8>, DecodeError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| DecodeError::Base64)
}

/// Decodes base64url into an array of exactly `N` bytes.
pub(crate) fn array_from_base64url<const N: usize>(text: &str) -> Result<[u8; N], DecodeError> {
    // Decode into zeroizing memory: the same helper decodes secret keys.
    let bytes = Zeroizing::new(from_base64url(text)?);
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| DecodeError::Length {
        expected: N,
        actual: bytes.len(),
    })
}

/// Checks the shape every identifier must have before it enters a canonical byte string.
pub(crate) fn check_id(id: &str) -> Result<(), DecodeError> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(DecodeError::InvalidId);
    }
    Ok(())
}

/// Checks that an epoch (or revision) number survives a trip through a browser's JSON.
pub(crate) fn check_epoch(epoch: u64) -> Result<(), DecodeError> {
    if epoch > MAX_EPOCH {
        return Err(DecodeError::IntegerOutOfRange);
    }
    Ok(())
}

/// Builder of a canonical byte string ([PROTOCOL.md §3.4]):
///
/// ```text
/// u32be(len(label)) ‖ label ‖ version ‖ u32be(len(f1)) ‖ f1 ‖ … ‖ u32be(len(fn)) ‖ fn
/// ```
pub(crate) struct CanonicalBytes(Vec<u8>);

impl CanonicalBytes {
    /// Starts a canonical byte string with its label and the protocol version byte.
    pub(crate) fn new(label: &str) -> Self {
        Self::with_version(label, PROTOCOL_VERSION)
    }

    /// Starts a canonical byte string of a construction introduced by a later protocol
    /// version (the version-2 message, [PROTOCOL.md §8.7]): its own version byte.
    pub(crate) fn with_version(label: &str, version: u8) -> Self {
        let mut bytes = Vec::with_capacity(256);
        push_length_prefixed(&mut bytes, label.as_bytes());
        bytes.push(version);
        Self(bytes)
    }

    /// Appends a length-prefixed field.
    pub(crate) fn field(mut self, value: &[u8]) -> Self {
        push_length_prefixed(&mut self.0, value);
        self
    }

    /// Appends an integer as an 8-byte big-endian field.
    pub(crate) fn u64_field(self, value: u64) -> Self {
        self.field(&value.to_be_bytes())
    }

    /// Returns the finished bytes.
    pub(crate) fn finish(self) -> Vec<u8> {
        self.0
    }
}

fn push_length_prefixed(out: &mut Vec<u8>, value: &[u8]) {
    // Every field is bounded long before 4 GiB: identifiers by MAX_ID_LEN (checked on
    // entry), keys, hashes and integers by their fixed sizes. Saturating instead of
    // failing keeps the builder infallible without a reachable panic.
    let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
}

/// Serde adapter for fixed-size public byte arrays as base64url strings
/// (`#[serde(with = "b64_array")]`).
pub(crate) mod b64_array {
    use super::*;

    pub(crate) fn serialize<S: Serializer, const N: usize>(
        value: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&to_base64url(value))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        deserializer.deserialize_str(ArrayVisitor::<N>)
    }
}

/// Serde adapter for variable-length public bytes as base64url strings.
pub(crate) mod b64_vec {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(value: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&to_base64url(value))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        struct VecVisitor;
        impl Visitor<'_> for VecVisitor {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a base64url string without padding")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Vec<u8>, E> {
                from_base64url(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(VecVisitor)
    }
}

/// Visitor decoding a base64url string straight into a fixed-size array, without an
/// intermediate owned `String` (the same visitor reads secret keys out of JSON).
pub(crate) struct ArrayVisitor<const N: usize>;

impl<const N: usize> Visitor<'_> for ArrayVisitor<N> {
    type Value = [u8; N];

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{N} bytes as base64url without padding")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<[u8; N], E> {
        array_from_base64url(text).map_err(E::custom)
    }
}

/// Serde adapter for identifiers: plain strings, checked with [`check_id`] on the way in.
pub(crate) mod id {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(value: &str, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<String, D::Error> {
        let value = String::deserialize(deserializer)?;
        check_id(&value).map_err(D::Error::custom)?;
        Ok(value)
    }
}

/// Serde adapter for epoch and revision numbers, checked with [`check_epoch`] on the
/// way in.
pub(crate) mod safe_int {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(*value)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        let value = u64::deserialize(deserializer)?;
        check_epoch(value).map_err(D::Error::custom)?;
        Ok(value)
    }
}

/// Serialises secret bytes as a base64url string whose temporary text is zeroized.
///
/// Only for building encrypted plaintexts (message content, key backup); never derive
/// `Serialize` on a secret type.
pub(crate) struct SecretBase64<'a>(pub(crate) &'a [u8]);

impl Serialize for SecretBase64<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(to_base64url(self.0));
        serializer.serialize_str(&text)
    }
}

/// The `v` field of every serialised protocol object: always `1`, and anything else is
/// refused when deserialising, so later code never has to check it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Version1;

impl Serialize for Version1 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(PROTOCOL_VERSION)
    }
}

impl<'de> Deserialize<'de> for Version1 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let version = u64::deserialize(deserializer)?;
        if version != u64::from(PROTOCOL_VERSION) {
            return Err(D::Error::custom(DecodeError::UnsupportedVersion));
        }
        Ok(Version1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn vectors() -> Value {
        serde_json::from_str(include_str!("../../vectors/encoding.json")).unwrap()
    }

    fn hex(text: &str) -> Vec<u8> {
        crate::crypto::test_support::hex(text)
    }

    #[test]
    fn canonical_byte_vectors_are_reproduced() {
        let vectors = vectors();
        for case in vectors["canonical_bytes"].as_array().unwrap() {
            let mut builder = CanonicalBytes::new(case["label"].as_str().unwrap());
            for field in case["fields_hex"].as_array().unwrap() {
                builder = builder.field(&hex(field.as_str().unwrap()));
            }
            assert_eq!(
                builder.finish(),
                hex(case["expected_hex"].as_str().unwrap())
            );
        }
    }

    #[test]
    fn base64url_vectors_are_reproduced() {
        let vectors = vectors();
        for case in vectors["base64url"]["valid"].as_array().unwrap() {
            let bytes = hex(case["bytes_hex"].as_str().unwrap());
            let text = case["text"].as_str().unwrap();
            assert_eq!(to_base64url(&bytes), text);
            assert_eq!(from_base64url(text).unwrap(), bytes);
        }
        for case in vectors["base64url"]["invalid"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            assert_eq!(from_base64url(text), Err(DecodeError::Base64), "{text}");
        }
    }

    #[test]
    fn u64_fields_are_eight_bytes_big_endian() {
        let bytes = CanonicalBytes::new("l").u64_field(258).finish();
        assert_eq!(
            bytes,
            [0, 0, 0, 1, b'l', 1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 1, 2]
        );
    }

    #[test]
    fn moving_a_byte_between_fields_changes_the_encoding() {
        let one = CanonicalBytes::new("l").field(b"ab").field(b"c").finish();
        let two = CanonicalBytes::new("l").field(b"a").field(b"bc").finish();
        assert_ne!(one, two);
    }

    #[test]
    fn version_other_than_one_is_refused() {
        assert!(serde_json::from_str::<Version1>("1").is_ok());
        assert!(serde_json::from_str::<Version1>("2").is_err());
        assert!(serde_json::from_str::<Version1>("0").is_err());
        assert_eq!(serde_json::to_string(&Version1).unwrap(), "1");
    }

    #[test]
    fn empty_and_overlong_identifiers_are_refused() {
        assert_eq!(check_id(""), Err(DecodeError::InvalidId));
        assert_eq!(
            check_id(&"a".repeat(MAX_ID_LEN + 1)),
            Err(DecodeError::InvalidId)
        );
        assert!(check_id(&"a".repeat(MAX_ID_LEN)).is_ok());
    }

    #[test]
    fn epochs_beyond_javascript_integers_are_refused() {
        assert!(check_epoch(MAX_EPOCH).is_ok());
        assert_eq!(
            check_epoch(MAX_EPOCH + 1),
            Err(DecodeError::IntegerOutOfRange)
        );
    }
}
