//! The server's checkpoint signing key (ECDSA P-256 with SHA-256, fixed 64-byte `r‖s`).
//!
//! # Signed messages
//!
//! A checkpoint and a retention anchor both sign
//!
//! ```text
//! domain ‖ u64be(seq) ‖ hash (32 bytes, raw) ‖ i64be(time_ms)
//! ```
//!
//! with `domain` = `passerelle/audit/checkpoint/v1` followed by a zero byte, or
//! `passerelle/audit/anchor/v1` followed by a zero byte. The separate domains keep a
//! checkpoint signature from being replayed as an anchor, which would let someone who
//! deletes the head of the log pass it off as a retention purge.
//!
//! The public key is published as an uncompressed SEC1 point (65 bytes), base64url without
//! padding; its *key id* is the first 8 bytes of its SHA-256, in hexadecimal.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::digest;
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING,
};
use zeroize::Zeroizing;

use super::AuditError;

/// Domain of checkpoint signatures.
pub(crate) const CHECKPOINT_DOMAIN: &[u8] = b"passerelle/audit/checkpoint/v1\0";
/// Domain of retention-anchor signatures.
pub(crate) const ANCHOR_DOMAIN: &[u8] = b"passerelle/audit/anchor/v1\0";

/// The bytes a checkpoint or an anchor signature covers.
pub(crate) fn signed_message(domain: &[u8], seq: u64, hash: &[u8; 32], time_ms: i64) -> Vec<u8> {
    let mut message = Vec::with_capacity(domain.len() + 8 + 32 + 8);
    message.extend_from_slice(domain);
    message.extend_from_slice(&seq.to_be_bytes());
    message.extend_from_slice(hash);
    message.extend_from_slice(&time_ms.to_be_bytes());
    message
}

/// The key id of a public key: hex of the first 8 bytes of its SHA-256.
pub fn key_id(public_key: &[u8]) -> String {
    let digest = digest::digest(&digest::SHA256, public_key);
    super::chain::to_hex(&digest.as_ref()[..8])
}

/// Whether `signature` (base64url) is `public_key`'s signature of `message`.
pub(crate) fn signature_is_valid(public_key: &[u8], message: &[u8], signature: &str) -> bool {
    let Ok(signature) = B64.decode(signature) else {
        return false;
    };
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public_key)
        .verify(message, &signature)
        .is_ok()
}

/// The signing key pair, loaded once at start-up.
///
/// ring keeps the private scalar inside `EcdsaKeyPair` and does not zeroize it; the
/// PKCS#8 bytes it was parsed from are zeroized as soon as parsing is done. The key is kept
/// for the process's life because checkpoints are signed every few minutes. No `Debug`
/// that could print it.
pub(crate) struct Signer {
    key_pair: EcdsaKeyPair,
    public_key: Vec<u8>,
    key_id: String,
    rng: SystemRandom,
}

impl Signer {
    /// Loads the PKCS#8 key at `path`, generating it (mode 0600) if the file is absent.
    pub(crate) fn load_or_create(path: &Path) -> anyhow::Result<Signer> {
        let rng = SystemRandom::new();
        let pkcs8 = if path.exists() {
            check_private(path)?;
            Zeroizing::new(
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
            )
        } else {
            let document = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| anyhow::anyhow!("cannot generate the audit signing key"))?;
            let bytes = Zeroizing::new(document.as_ref().to_vec());
            crate::secrets::write_private_file(path, &bytes)?;
            tracing::info!(path = %path.display(), "generated the access log's signing key");
            bytes
        };
        Signer::from_pkcs8(&pkcs8, &rng)
            .with_context(|| format!("{} is not a PKCS#8 ECDSA P-256 key", path.display()))
    }

    /// Parses a PKCS#8 document. The caller keeps (and zeroizes) the bytes.
    pub(crate) fn from_pkcs8(pkcs8: &[u8], rng: &SystemRandom) -> anyhow::Result<Signer> {
        let key_pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, rng)
            .map_err(|err| anyhow::anyhow!("invalid key: {err}"))?;
        let public_key = key_pair.public_key().as_ref().to_vec();
        Ok(Signer {
            key_id: key_id(&public_key),
            public_key,
            key_pair,
            rng: rng.clone(),
        })
    }

    /// Signs `message`; base64url of the fixed 64-byte signature.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<String, AuditError> {
        let signature = self
            .key_pair
            .sign(&self.rng, message)
            .map_err(|_| AuditError::Signing)?;
        Ok(B64.encode(signature.as_ref()))
    }

    /// The uncompressed SEC1 public key.
    pub(crate) fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// The key id of the public key.
    pub(crate) fn key_id(&self) -> &str {
        &self.key_id
    }
}

/// Refuses a key file that others than its owner can read: the key is what makes a
/// checkpoint worth more than a hash anyone could recompute.
pub(crate) fn check_private(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "{} is readable by others (mode {:o}); run `chmod 600` on it",
                path.display(),
                mode & 0o777
            );
        }
    }
    Ok(())
}

/// The public keys whose signatures verification accepts, by key id: the current key and
/// the retired ones (after a key rotation, see docs/AUDIT.md).
#[derive(Clone, Debug, Default)]
pub struct TrustedKeys {
    keys: BTreeMap<String, Vec<u8>>,
}

impl TrustedKeys {
    /// A set holding the given uncompressed SEC1 public keys.
    pub fn new(keys: impl IntoIterator<Item = Vec<u8>>) -> TrustedKeys {
        TrustedKeys {
            keys: keys.into_iter().map(|key| (key_id(&key), key)).collect(),
        }
    }

    /// Adds a key.
    pub fn insert(&mut self, public_key: Vec<u8>) {
        self.keys.insert(key_id(&public_key), public_key);
    }

    /// The ids of the trusted keys, sorted.
    pub fn ids(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }

    /// The key with this id.
    pub fn get(&self, key_id: &str) -> Option<&[u8]> {
        self.keys.get(key_id).map(Vec::as_slice)
    }

    /// Parses base64url public keys, one a line; blank lines and `#` comments are skipped.
    pub fn parse_lines(text: &str) -> anyhow::Result<Vec<Vec<u8>>> {
        let mut keys = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            keys.push(decode_public_key(line).with_context(|| format!("line {}", number + 1))?);
        }
        Ok(keys)
    }
}

/// Decodes a published public key (base64url, uncompressed SEC1 P-256 point).
pub fn decode_public_key(text: &str) -> anyhow::Result<Vec<u8>> {
    let bytes = B64
        .decode(text.trim())
        .context("a public key must be base64url without padding")?;
    if bytes.len() != 65 || bytes[0] != 4 {
        bail!("a public key must be an uncompressed P-256 point (65 bytes starting with 0x04)");
    }
    Ok(bytes)
}

/// Encodes a public key for publication.
pub fn encode_public_key(public_key: &[u8]) -> String {
    B64.encode(public_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_private_reloads_identically_and_signs_verifiably() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit-signing.p8");
        let first = Signer::load_or_create(&path).unwrap();
        let second = Signer::load_or_create(&path).unwrap();
        assert_eq!(first.public_key(), second.public_key());
        assert_eq!(first.public_key().len(), 65);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let message = signed_message(CHECKPOINT_DOMAIN, 7, &[3u8; 32], 42);
        let signature = first.sign(&message).unwrap();
        assert!(signature_is_valid(
            second.public_key(),
            &message,
            &signature
        ));
        let anchor = signed_message(ANCHOR_DOMAIN, 7, &[3u8; 32], 42);
        assert!(!signature_is_valid(
            second.public_key(),
            &anchor,
            &signature
        ));
    }

    #[test]
    fn a_key_file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit-signing.p8");
        Signer::load_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(Signer::load_or_create(&path).is_err());
        }
    }

    #[test]
    fn published_keys_round_trip_and_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::load_or_create(&dir.path().join("k.p8")).unwrap();
        let text = encode_public_key(signer.public_key());
        assert_eq!(decode_public_key(&text).unwrap(), signer.public_key());
        assert!(decode_public_key("AAAA").is_err());
        let keys = TrustedKeys::parse_lines(&format!("# retired 2026-01\n\n{text}\n")).unwrap();
        assert_eq!(keys.len(), 1);
        let trusted = TrustedKeys::new(keys);
        assert!(trusted.get(signer.key_id()).is_some());
    }
}
