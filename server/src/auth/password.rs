//! Passwords: argon2id hashes, computed off the async runtime.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use zeroize::Zeroizing;

/// Shortest password accepted when a user chooses one.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Hashes a password with argon2id (OWASP parameters: 19 MiB, 2 passes).
pub async fn hash(password: Zeroizing<String>) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await?
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| anyhow::anyhow!("argon2 failed: {err}"))
}

/// Checks a password against a stored hash. With `None` (an unknown login) it checks
/// against a fixed dummy hash, so that both cases cost the same time and answer alike.
pub async fn verify(stored: Option<String>, password: Zeroizing<String>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = match stored {
            Some(stored) => stored,
            None => dummy_hash()?.to_owned(),
        };
        let parsed =
            PasswordHash::new(&stored).map_err(|err| anyhow::anyhow!("corrupt hash: {err}"))?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await?
}

fn dummy_hash() -> anyhow::Result<&'static str> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash);
    }
    let hash = hash_blocking("passerelle-dummy-password-for-unknown-logins")?;
    Ok(DUMMY.get_or_init(|| hash))
}

/// A random password to hand over once (account creation, reset): 4 groups of 5
/// characters from an alphabet without look-alikes, about 100 bits.
pub fn generate(
    random: impl FnOnce(&mut [u8]) -> anyhow::Result<()>,
) -> anyhow::Result<Zeroizing<String>> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = Zeroizing::new([0u8; 20]);
    random(bytes.as_mut())?;
    let mut password = Zeroizing::new(String::with_capacity(23));
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 && i % 5 == 0 {
            password.push('-');
        }
        // 256 is not a multiple of the alphabet's size: the bias is under 2 %, which costs
        // a fraction of a bit on a 100-bit password.
        password.push(char::from(ALPHABET[usize::from(*byte) % ALPHABET.len()]));
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hash = hash(Zeroizing::new("correct horse battery".into()))
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify(
            Some(hash.clone()),
            Zeroizing::new("correct horse battery".into())
        )
        .await
        .unwrap());
        assert!(!verify(Some(hash), Zeroizing::new("wrong".into()))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn an_unknown_login_costs_the_same_argon2_work_as_a_real_one() {
        // The dummy hash is made like every stored hash, so verifying against it does the
        // same work (memory, passes, lanes): only the salt and the digest differ.
        let real = hash(Zeroizing::new("un mot de passe".into()))
            .await
            .unwrap();
        let dummy = dummy_hash().unwrap();
        let params = |h: &str| {
            let parsed = PasswordHash::new(h).unwrap();
            (
                parsed.algorithm.to_string(),
                parsed.version,
                parsed.params.to_string(),
            )
        };
        assert_eq!(params(&real), params(dummy));
    }

    #[tokio::test]
    async fn an_unknown_login_never_verifies() {
        let dummy = "passerelle-dummy-password-for-unknown-logins";
        assert!(!verify(None, Zeroizing::new(dummy.into())).await.unwrap());
    }

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let rng = ring::rand::SystemRandom::new();
        let fill = |buf: &mut [u8]| {
            ring::rand::SecureRandom::fill(&rng, buf).map_err(|_| anyhow::anyhow!("rng"))
        };
        let a = generate(fill).unwrap();
        let b = generate(fill).unwrap();
        assert_eq!(a.len(), 23);
        assert_ne!(*a, *b);
    }
}
