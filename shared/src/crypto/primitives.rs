//! Thin wrappers over ring for the primitives every construction uses: randomness,
//! SHA-256, HKDF-SHA-256 with 32-byte output, AES-256-GCM. Keeping every call to ring's
//! AEAD and HKDF here makes the constructions read like PROTOCOL.md.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::hkdf;
use ring::rand::SecureRandom as _;
use zeroize::Zeroizing;

/// Length of an AES-256-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Length of an AES-256-GCM authentication tag.
pub const TAG_LEN: usize = 16;

/// Failure of the underlying cryptographic library: randomness unavailable, or a length
/// limit that the protocol never reaches. Each public error enum turns it into its own
/// `Backend` variant.
#[derive(Debug)]
pub(crate) struct BackendError;

impl From<ring::error::Unspecified> for BackendError {
    fn from(_: ring::error::Unspecified) -> Self {
        BackendError
    }
}

/// An AES-GCM open failed: wrong key, or altered ciphertext, nonce or additional data.
/// The two cannot be told apart, by design.
#[derive(Debug)]
pub(crate) struct OpenFailure;

/// Fills an array with bytes from the operating system's CSPRNG.
pub(crate) fn random_array<const N: usize>() -> Result<[u8; N], BackendError> {
    let mut bytes = [0u8; N];
    ring::rand::SystemRandom::new().fill(&mut bytes)?;
    Ok(bytes)
}

/// SHA-256.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, data).as_ref());
    out
}

/// HKDF-SHA-256 (RFC 5869) producing 32 bytes: WebCrypto `deriveBits({name: "HKDF",
/// hash: "SHA-256", salt, info}, key, 256)`. An empty `salt` equals 32 zero bytes.
pub(crate) fn hkdf_sha256(
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
) -> Result<Zeroizing<[u8; 32]>, BackendError> {
    struct Len32;
    impl hkdf::KeyType for Len32 {
        fn len(&self) -> usize {
            32
        }
    }
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    let info = [info];
    let okm = prk.expand(&info, Len32)?;
    let mut out = Zeroizing::new([0u8; 32]);
    okm.fill(&mut out[..])?;
    Ok(out)
}

fn aes_key(key: &[u8; 32]) -> Result<LessSafeKey, BackendError> {
    Ok(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key)?))
}

/// AES-256-GCM encryption: returns `ciphertext ‖ tag`.
pub(crate) fn aes_gcm_seal(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    ad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, BackendError> {
    let mut buffer = Vec::with_capacity(plaintext.len() + TAG_LEN);
    buffer.extend_from_slice(plaintext);
    aes_key(key)?.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(*nonce),
        Aad::from(ad),
        &mut buffer,
    )?;
    Ok(buffer)
}

/// AES-256-GCM decryption of `ciphertext ‖ tag`. The plaintext is returned in zeroizing
/// memory because every plaintext here is either a key or message content.
pub(crate) fn aes_gcm_open(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    ad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpenFailure> {
    let key = aes_key(key).map_err(|_| OpenFailure)?;
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    let len = key
        .open_in_place(
            Nonce::assume_unique_for_key(*nonce),
            Aad::from(ad),
            &mut buffer[..],
        )
        .map_err(|_| OpenFailure)?
        .len();
    buffer.truncate(len);
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test_support::hex;

    #[test]
    fn hkdf_matches_rfc_5869_test_case_1_truncated_to_32_bytes() {
        let ikm = hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
        let salt = hex("000102030405060708090a0b0c");
        let info = hex("f0f1f2f3f4f5f6f7f8f9");
        let okm = hkdf_sha256(&salt, &ikm, &info).unwrap();
        assert_eq!(
            okm.to_vec(),
            hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf")
        );
    }

    #[test]
    fn an_empty_salt_equals_thirty_two_zero_bytes() {
        assert_eq!(
            *hkdf_sha256(&[], b"ikm", b"info").unwrap(),
            *hkdf_sha256(&[0; 32], b"ikm", b"info").unwrap()
        );
    }

    #[test]
    fn aes_gcm_round_trips_and_rejects_altered_additional_data() {
        let key = [1u8; 32];
        let nonce = [2u8; NONCE_LEN];
        let sealed = aes_gcm_seal(&key, &nonce, b"ad", b"plaintext").unwrap();
        assert_eq!(sealed.len(), 9 + TAG_LEN);
        assert_eq!(
            aes_gcm_open(&key, &nonce, b"ad", &sealed)
                .unwrap()
                .as_slice(),
            b"plaintext"
        );
        assert!(aes_gcm_open(&key, &nonce, b"ae", &sealed).is_err());
    }
}
