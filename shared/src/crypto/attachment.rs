//! Attachment encryption ([PROTOCOL.md §9]).
//!
//! Each file gets its own random 32-byte key. The encrypted blob is
//!
//! ```text
//! blob    = 0x01 ‖ base_nonce (12 bytes) ‖ chunk_0 ‖ … ‖ chunk_{n−1}
//! chunk_i = AES-256-GCM(key, nonce_i, ad_i, plaintext[i·64 KiB .. (i+1)·64 KiB])
//! nonce_i = base_nonce with its last 8 bytes XOR u64be(i)
//! ad_i    = canonical("passerelle/v1/attachment-chunk", u64be(i), [final ? 1 : 0])
//! ```
//!
//! The final-chunk flag stops truncation at a chunk boundary, the index in nonce and AD
//! stops reordering, and the message carries the SHA-256 of the whole blob, so the blob
//! is checked before any byte is decrypted. Chunking lets a client stream large files.
//!
//! [PROTOCOL.md §9]: ../../../docs/PROTOCOL.md#9-attachments

use std::fmt;

use subtle::ConstantTimeEq as _;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::content::AttachmentRef;
use super::encoding::{label, CanonicalBytes};
use super::keys::KeyError;
use super::primitives::{
    aes_gcm_open, aes_gcm_seal, random_array, sha256, BackendError, NONCE_LEN, TAG_LEN,
};

/// Length of an attachment key.
pub const ATTACHMENT_KEY_LEN: usize = 32;
/// Plaintext bytes per chunk (64 KiB); the last chunk may be shorter.
pub const CHUNK_LEN: usize = 64 * 1024;
/// The blob format version, its first byte.
const BLOB_VERSION: u8 = 1;
/// Version byte and base nonce.
const HEADER_LEN: usize = 1 + NONCE_LEN;

/// An attachment's own key. Zeroized on drop; its `Debug` prints nothing of the key.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct AttachmentKey(Box<[u8; ATTACHMENT_KEY_LEN]>);

impl AttachmentKey {
    /// Draws a new random key.
    pub fn generate() -> Result<Self, KeyError> {
        Ok(Self(Box::new(random_array()?)))
    }

    /// Imports a key. The caller keeps responsibility for zeroizing its own copy.
    pub fn from_bytes(bytes: &[u8; ATTACHMENT_KEY_LEN]) -> Self {
        Self(Box::new(*bytes))
    }

    /// A copy of the key. Zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; ATTACHMENT_KEY_LEN]> {
        Zeroizing::new(*self.0)
    }

    pub(crate) fn expose(&self) -> &[u8; ATTACHMENT_KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for AttachmentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AttachmentKey(..)")
    }
}

/// An encrypted attachment, ready to upload. Public: the blob is ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedAttachment {
    /// The blob to upload.
    pub blob: Vec<u8>,
    /// SHA-256 of `blob`, to put in the message's [`AttachmentRef`].
    pub sha256: [u8; 32],
    /// Plaintext size in bytes, to put in the message's [`AttachmentRef`].
    pub size: u64,
}

/// Why an attachment could not be encrypted or decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttachmentError {
    /// The blob's SHA-256 differs from the one in the message: the server or the network
    /// altered, truncated or replaced it.
    #[error("attachment hash does not match")]
    Integrity,
    /// The blob is not in the version-1 format: unknown version byte, too short, a chunk
    /// shorter than a tag, or an empty final chunk after a full one.
    #[error("malformed attachment blob")]
    Malformed,
    /// A chunk does not decrypt under the key: wrong key, or chunks altered, reordered
    /// or cut.
    #[error("attachment chunk does not decrypt")]
    Decrypt,
    /// The decrypted file's size differs from the size the message declared.
    #[error("attachment size does not match the message")]
    SizeMismatch,
    /// The system's random number generator or the cryptographic library failed.
    #[error("cryptographic backend failure")]
    Backend,
}

impl From<BackendError> for AttachmentError {
    fn from(_: BackendError) -> Self {
        AttachmentError::Backend
    }
}

fn chunk_nonce(base: &[u8; NONCE_LEN], index: u64) -> [u8; NONCE_LEN] {
    let mut nonce = *base;
    for (byte, mask) in nonce[NONCE_LEN - 8..].iter_mut().zip(index.to_be_bytes()) {
        *byte ^= mask;
    }
    nonce
}

fn chunk_ad(index: u64, last: bool) -> Vec<u8> {
    CanonicalBytes::new(label::ATTACHMENT_CHUNK)
        .u64_field(index)
        .field(&[u8::from(last)])
        .finish()
}

/// Encrypts a file under a new random key and nonce.
pub fn encrypt_attachment(
    plaintext: &[u8],
) -> Result<(AttachmentKey, EncryptedAttachment), AttachmentError> {
    let key = AttachmentKey::generate().map_err(|_| AttachmentError::Backend)?;
    let encrypted = encrypt_with(&key, &random_array()?, plaintext)?;
    Ok((key, encrypted))
}

/// The deterministic core of [`encrypt_attachment`], with the base nonce as a
/// parameter so that test vectors are byte-exact.
pub(crate) fn encrypt_with(
    key: &AttachmentKey,
    base_nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
) -> Result<EncryptedAttachment, AttachmentError> {
    let chunk_count = plaintext.len().div_ceil(CHUNK_LEN).max(1);
    let mut blob = Vec::with_capacity(HEADER_LEN + plaintext.len() + chunk_count * TAG_LEN);
    blob.push(BLOB_VERSION);
    blob.extend_from_slice(base_nonce);
    // An empty file is one empty final chunk; `chunks` would yield none.
    let chunks: Vec<&[u8]> = if plaintext.is_empty() {
        vec![&[]]
    } else {
        plaintext.chunks(CHUNK_LEN).collect()
    };
    for (index, chunk) in (0u64..).zip(&chunks) {
        let last = index + 1 == chunk_count as u64;
        let sealed = aes_gcm_seal(
            key.expose(),
            &chunk_nonce(base_nonce, index),
            &chunk_ad(index, last),
            chunk,
        )?;
        blob.extend_from_slice(&sealed);
    }
    Ok(EncryptedAttachment {
        sha256: sha256(&blob),
        size: plaintext.len() as u64,
        blob,
    })
}

/// Checks a blob against its expected SHA-256, then decrypts it.
pub fn decrypt_attachment(
    key: &AttachmentKey,
    expected_sha256: &[u8; 32],
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, AttachmentError> {
    if !bool::from(sha256(blob).ct_eq(expected_sha256)) {
        return Err(AttachmentError::Integrity);
    }
    decrypt_chunks(key, blob)
}

/// Decryption without the hash check; tests use it to show that chunks are bound on
/// their own.
fn decrypt_chunks(key: &AttachmentKey, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, AttachmentError> {
    let (version, rest) = blob.split_first().ok_or(AttachmentError::Malformed)?;
    let (base_nonce, body) = rest
        .split_first_chunk::<NONCE_LEN>()
        .ok_or(AttachmentError::Malformed)?;
    if *version != BLOB_VERSION || body.is_empty() {
        return Err(AttachmentError::Malformed);
    }
    let chunks: Vec<&[u8]> = body.chunks(CHUNK_LEN + TAG_LEN).collect();
    let mut plaintext = Zeroizing::new(Vec::with_capacity(body.len()));
    for (index, chunk) in (0u64..).zip(&chunks) {
        let last = index + 1 == chunks.len() as u64;
        // A chunk shorter than a tag cannot be real, and the only empty chunk allowed is
        // the single chunk of an empty file: one blob per file.
        if chunk.len() < TAG_LEN || (last && chunk.len() == TAG_LEN && index > 0) {
            return Err(AttachmentError::Malformed);
        }
        let opened = aes_gcm_open(
            key.expose(),
            &chunk_nonce(base_nonce, index),
            &chunk_ad(index, last),
            chunk,
        )
        .map_err(|_| AttachmentError::Decrypt)?;
        plaintext.extend_from_slice(&opened);
    }
    Ok(plaintext)
}

impl AttachmentRef {
    /// Checks and decrypts the blob this reference describes, including its size.
    pub fn decrypt(&self, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, AttachmentError> {
        let plaintext = decrypt_attachment(&self.key, &self.sha256, blob)?;
        if plaintext.len() as u64 != self.size {
            return Err(AttachmentError::SizeMismatch);
        }
        Ok(plaintext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test_support::{hex, scalar_from_hex};
    use serde_json::Value;

    /// The plaintext generator the vectors use: byte i is i mod 251.
    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn the_attachment_vectors_are_reproduced() {
        let v: Value = serde_json::from_str(include_str!("../../vectors/attachment.json")).unwrap();
        let key = AttachmentKey::from_bytes(&scalar_from_hex(v["key_hex"].as_str().unwrap()));
        let base: [u8; NONCE_LEN] = hex(v["base_nonce_hex"].as_str().unwrap())
            .try_into()
            .unwrap();
        for case in v["cases"].as_array().unwrap() {
            let plaintext = pattern(case["plaintext_len"].as_u64().unwrap() as usize);
            let encrypted = encrypt_with(&key, &base, &plaintext).unwrap();
            assert_eq!(
                encrypted.blob.len() as u64,
                case["blob_len"].as_u64().unwrap()
            );
            assert_eq!(
                encrypted.sha256.to_vec(),
                hex(case["blob_sha256_hex"].as_str().unwrap())
            );
            if let Some(blob) = case["blob_hex"].as_str() {
                assert_eq!(encrypted.blob, hex(blob));
            }
            for chunk in case["chunks"].as_array().unwrap() {
                let index = chunk["index"].as_u64().unwrap();
                let last = chunk["final"].as_bool().unwrap();
                assert_eq!(
                    chunk_nonce(&base, index).to_vec(),
                    hex(chunk["nonce_hex"].as_str().unwrap())
                );
                assert_eq!(
                    chunk_ad(index, last),
                    hex(chunk["additional_data_hex"].as_str().unwrap())
                );
                let end = HEADER_LEN
                    + (index as usize) * (CHUNK_LEN + TAG_LEN)
                    + chunk["ciphertext_len"].as_u64().unwrap() as usize;
                assert_eq!(
                    encrypted.blob[end - TAG_LEN..end].to_vec(),
                    hex(chunk["tag_hex"].as_str().unwrap())
                );
            }
            let decrypted = decrypt_attachment(&key, &encrypted.sha256, &encrypted.blob).unwrap();
            assert_eq!(decrypted.as_slice(), plaintext.as_slice());
        }
    }

    #[test]
    fn attachments_round_trip_at_chunk_boundaries() {
        for len in [0, 1, CHUNK_LEN - 1, CHUNK_LEN, CHUNK_LEN + 1, 3 * CHUNK_LEN] {
            let plaintext = pattern(len);
            let (key, encrypted) = encrypt_attachment(&plaintext).unwrap();
            assert_eq!(encrypted.size, len as u64);
            let decrypted = decrypt_attachment(&key, &encrypted.sha256, &encrypted.blob).unwrap();
            assert_eq!(decrypted.as_slice(), plaintext.as_slice(), "{len}");
        }
    }

    #[test]
    fn a_flipped_blob_bit_fails_the_hash_and_the_chunk_tag() {
        let (key, encrypted) = encrypt_attachment(&pattern(CHUNK_LEN + 10)).unwrap();
        for position in [
            1,
            HEADER_LEN,
            HEADER_LEN + CHUNK_LEN + 3,
            encrypted.blob.len() - 1,
        ] {
            let mut blob = encrypted.blob.clone();
            blob[position] ^= 0x01;
            assert_eq!(
                decrypt_attachment(&key, &encrypted.sha256, &blob).unwrap_err(),
                AttachmentError::Integrity
            );
            assert_eq!(
                decrypt_chunks(&key, &blob).unwrap_err(),
                AttachmentError::Decrypt
            );
        }
    }

    #[test]
    fn a_blob_truncated_at_a_chunk_boundary_is_rejected() {
        let (key, encrypted) = encrypt_attachment(&pattern(2 * CHUNK_LEN + 10)).unwrap();
        let truncated = &encrypted.blob[..HEADER_LEN + 2 * (CHUNK_LEN + TAG_LEN)];
        // The last remaining chunk was not sealed as final.
        assert_eq!(
            decrypt_chunks(&key, truncated).unwrap_err(),
            AttachmentError::Decrypt
        );
    }

    #[test]
    fn swapped_chunks_are_rejected() {
        let (key, encrypted) = encrypt_attachment(&pattern(3 * CHUNK_LEN)).unwrap();
        let size = CHUNK_LEN + TAG_LEN;
        let mut blob = encrypted.blob.clone();
        let (first, second) = (HEADER_LEN, HEADER_LEN + size);
        let copy = blob[first..first + size].to_vec();
        blob.copy_within(second..second + size, first);
        blob[second..second + size].copy_from_slice(&copy);
        assert_eq!(
            decrypt_chunks(&key, &blob).unwrap_err(),
            AttachmentError::Decrypt
        );
    }

    #[test]
    fn the_wrong_key_is_rejected() {
        let (_, encrypted) = encrypt_attachment(b"rapport").unwrap();
        let other = AttachmentKey::generate().unwrap();
        assert_eq!(
            decrypt_attachment(&other, &encrypted.sha256, &encrypted.blob).unwrap_err(),
            AttachmentError::Decrypt
        );
    }

    #[test]
    fn malformed_blobs_are_rejected() {
        let key = AttachmentKey::generate().unwrap();
        for blob in [
            vec![],
            vec![1; HEADER_LEN],
            vec![2; HEADER_LEN + TAG_LEN],
            vec![1; HEADER_LEN + 5],
        ] {
            assert_eq!(
                decrypt_chunks(&key, &blob).unwrap_err(),
                AttachmentError::Malformed
            );
        }
    }

    #[test]
    fn a_reference_with_the_wrong_size_is_rejected() {
        let (key, encrypted) = encrypt_attachment(b"rapport").unwrap();
        let reference = AttachmentRef {
            id: "a".into(),
            key,
            sha256: encrypted.sha256,
            size: 8,
            name: "r.txt".into(),
            mime: "text/plain".into(),
        };
        assert_eq!(
            reference.decrypt(&encrypted.blob).unwrap_err(),
            AttachmentError::SizeMismatch
        );
    }

    #[test]
    fn the_debug_output_of_an_attachment_key_shows_no_byte() {
        let debug = format!("{:?}", AttachmentKey::from_bytes(&[0x33; 32]));
        assert_eq!(debug, "AttachmentKey(..)");
    }
}
