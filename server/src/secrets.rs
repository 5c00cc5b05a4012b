//! The server's own secret: 32 random bytes in a file of the data directory (mode 0600),
//! from which two keys are derived with HKDF-SHA-256:
//!
//! - the key that authenticates login challenges (HMAC-SHA-256), so that the TOTP step
//!   needs no server-side state between the two login requests;
//! - the key that encrypts TOTP secrets at rest (AES-256-GCM, bound to the account id),
//!   so that a copy of the database alone does not yield anyone's second factor;
//! - the key that hashes login strings (HMAC-SHA-256) where they must be counted or
//!   logged without being kept: an unknown login may be a mistyped password.
//!
//! Every node of a cluster must share the file.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, NONCE_LEN};
use ring::hkdf;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// Keys derived from the server's secret. Holds no `Debug` to print.
pub struct ServerSecrets {
    challenge_key: hmac::Key,
    login_key: hmac::Key,
    at_rest_key: LessSafeKey,
    rng: SystemRandom,
}

/// Why a sealed value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Not base64url, or too short.
    #[error("malformed sealed value")]
    Malformed,
    /// Wrong key, wrong account or tampered with.
    #[error("sealed value does not authenticate")]
    Forged,
}

impl ServerSecrets {
    /// Loads the secret from `path`, creating it (mode 0600) on first start.
    pub fn load_or_create(path: &Path) -> anyhow::Result<ServerSecrets> {
        let secret = if path.exists() {
            let bytes = Zeroizing::new(
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
            );
            if bytes.len() != 32 {
                bail!("{} must hold exactly 32 bytes", path.display());
            }
            let mut secret = Zeroizing::new([0u8; 32]);
            secret.copy_from_slice(&bytes);
            secret
        } else {
            let mut secret = Zeroizing::new([0u8; 32]);
            SystemRandom::new()
                .fill(secret.as_mut())
                .map_err(|_| anyhow::anyhow!("no system randomness"))?;
            write_private_file(path, secret.as_ref())?;
            secret
        };
        ServerSecrets::from_secret(&secret)
    }

    /// Derives the keys from the 32-byte secret.
    pub fn from_secret(secret: &[u8; 32]) -> anyhow::Result<ServerSecrets> {
        let prk =
            hkdf::Salt::new(hkdf::HKDF_SHA256, b"passerelle/v1/server-secret").extract(secret);
        let mut challenge = Zeroizing::new([0u8; 32]);
        let mut at_rest = Zeroizing::new([0u8; 32]);
        let mut login = Zeroizing::new([0u8; 32]);
        expand(&prk, b"login-challenge", challenge.as_mut())?;
        expand(&prk, b"login-hash", login.as_mut())?;
        expand(&prk, b"totp-at-rest", at_rest.as_mut())?;
        let at_rest_key = UnboundKey::new(&aead::AES_256_GCM, at_rest.as_ref())
            .map_err(|_| anyhow::anyhow!("bad at-rest key"))?;
        Ok(ServerSecrets {
            challenge_key: hmac::Key::new(hmac::HMAC_SHA256, challenge.as_ref()),
            login_key: hmac::Key::new(hmac::HMAC_SHA256, login.as_ref()),
            at_rest_key: LessSafeKey::new(at_rest_key),
            rng: SystemRandom::new(),
        })
    }

    /// Fills a buffer with system randomness.
    pub fn random(&self, buf: &mut [u8]) -> anyhow::Result<()> {
        self.rng
            .fill(buf)
            .map_err(|_| anyhow::anyhow!("no system randomness"))
    }

    /// Encrypts `plaintext` for storage, bound to `context` (an account id): a value
    /// copied to another account's row does not open.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> anyhow::Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random(&mut nonce)?;
        let mut buffer = plaintext.to_vec();
        self.at_rest_key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buffer,
            )
            .map_err(|_| anyhow::anyhow!("sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buffer);
        Ok(B64.encode(out))
    }

    /// Decrypts a value made by [`ServerSecrets::seal`]. The caller owns the returned secret.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        let bytes = B64.decode(sealed).map_err(|_| OpenError::Malformed)?;
        if bytes.len() < NONCE_LEN + aead::AES_256_GCM.tag_len() {
            return Err(OpenError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError::Malformed)?;
        let mut buffer = Zeroizing::new(ciphertext.to_vec());
        let plaintext = self
            .at_rest_key
            .open_in_place(nonce, Aad::from(context.as_bytes()), buffer.as_mut_slice())
            .map_err(|_| OpenError::Forged)?;
        Ok(Zeroizing::new(plaintext.to_vec()))
    }

    /// The keyed hash of a login string, in hex: the same for the same string on every
    /// node (they share the secret), and useless to whoever lacks the secret.
    pub fn login_hash(&self, login: &str) -> String {
        hmac::sign(&self.login_key, login.as_bytes())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Authenticates `payload` for a round trip through a client: `payload.tag`.
    pub fn sign_token(&self, payload: &str) -> String {
        let tag = hmac::sign(&self.challenge_key, payload.as_bytes());
        format!("{payload}.{}", B64.encode(tag.as_ref()))
    }

    /// Returns the payload of a value made by [`ServerSecrets::sign_token`], checking its
    /// tag in constant time.
    pub fn verify_token<'a>(&self, token: &'a str) -> Option<&'a str> {
        let (payload, tag) = token.rsplit_once('.')?;
        let tag = B64.decode(tag).ok()?;
        hmac::verify(&self.challenge_key, payload.as_bytes(), &tag).ok()?;
        Some(payload)
    }
}

fn expand(prk: &hkdf::Prk, info: &[u8], out: &mut [u8]) -> anyhow::Result<()> {
    let info = [info];
    prk.expand(&info, hkdf::HKDF_SHA256)
        .and_then(|okm| okm.fill(out))
        .map_err(|_| anyhow::anyhow!("key derivation failed"))
}

/// Writes a new file readable by its owner only; refuses to overwrite one.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> ServerSecrets {
        ServerSecrets::from_secret(&[7u8; 32]).unwrap()
    }

    #[test]
    fn a_sealed_value_opens_only_for_its_account() {
        let secrets = secrets();
        let sealed = secrets.seal("user-a", b"JBSWY3DPEHPK3PXP").unwrap();
        assert_eq!(
            secrets.open("user-a", &sealed).unwrap().as_slice(),
            b"JBSWY3DPEHPK3PXP"
        );
        assert!(matches!(
            secrets.open("user-b", &sealed),
            Err(OpenError::Forged)
        ));
        assert!(matches!(
            secrets.open("user-a", "@@"),
            Err(OpenError::Malformed)
        ));
    }

    #[test]
    fn a_signed_token_with_a_changed_payload_is_refused() {
        let secrets = secrets();
        let token = secrets.sign_token("user-a|123");
        assert_eq!(secrets.verify_token(&token), Some("user-a|123"));
        let forged = token.replacen("user-a", "user-b", 1);
        assert_eq!(secrets.verify_token(&forged), None);
        let other = ServerSecrets::from_secret(&[8u8; 32]).unwrap();
        assert_eq!(other.verify_token(&token), None);
    }

    #[test]
    fn the_secret_file_is_created_private_and_reloaded_identically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.key");
        let first = ServerSecrets::load_or_create(&path).unwrap();
        let token = first.sign_token("x");
        let second = ServerSecrets::load_or_create(&path).unwrap();
        assert_eq!(second.verify_token(&token), Some("x"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
