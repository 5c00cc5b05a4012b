//! Where an [`Agent`](super::Agent) keeps what must survive a restart: the account's
//! credentials, the device's private keys and certificate, the epoch keys it holds and
//! the cursors it has delivered. Without it every run enrolled a new device (and a second
//! run of the same account failed with `identity_in_use`), and followed nothing.
//!
//! The caller chooses the store ([`Store`]); the default, [`EncryptedFileStore`], is one
//! file sealed with AES-256-GCM under a key derived from a passphrase by Argon2id (or
//! from a raw 32-byte key by HKDF), both usually taken from the environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::{ClientError, Result};
use crate::crypto::{DeviceCertificate, IdentityPublicKey};

/// Environment variable holding the store's passphrase.
pub const PASSPHRASE_ENV: &str = "PASSERELLE_SDK_PASSPHRASE";
/// Environment variable holding the store's raw key (32 bytes, base64url without
/// padding), for deployments whose secret manager hands out keys rather than passphrases.
pub const KEY_ENV: &str = "PASSERELLE_SDK_KEY";

/// A string that is wiped from memory when dropped (passwords, TOTP secrets, keys in
/// their stored form).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(text: impl Into<String>) -> SecretString {
        SecretString(text.into())
    }

    /// The secret, to use (never to log).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString(…)")
    }
}

/// The device as stored: its private keys, and the account keys when it holds them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredDevice {
    /// Device id.
    pub device_id: String,
    /// Signing private scalar, base64url.
    pub signing_key: SecretString,
    /// The certificate's agreement private scalar, base64url; gone once the device's
    /// prekeys replaced it and nothing needs it (docs/PROTOCOL.md §23.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement_key: Option<SecretString>,
    /// When the device's first prekey replaced the certificate's agreement key (unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement_replaced_at: Option<u64>,
    /// The device's signed prekeys with their private keys, oldest first; each is
    /// deleted at the end of its grace period (docs/PROTOCOL.md §23).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prekeys: Vec<super::StoredPrekey>,
    /// Its certificate.
    pub certificate: DeviceCertificate,
    /// The identity private key, base64url, when this device holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_key: Option<SecretString>,
    /// The key backup's key, base64url, when this device holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_key: Option<SecretString>,
    /// The key backup's version last written or read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_version: Option<i64>,
}

/// A login session as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredSession {
    /// The bearer token.
    pub token: SecretString,
    /// The account it is for.
    pub me: crate::protocol::v1::auth::Me,
}

/// One epoch key as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredEpochKey {
    /// Channel.
    pub channel_id: String,
    /// Epoch.
    pub epoch: u64,
    /// The key, base64url.
    pub key: SecretString,
}

/// Everything an agent keeps between runs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AgentState {
    /// Format version of this record.
    pub version: u32,
    /// The server's base URL.
    pub base_url: String,
    /// The account's login.
    pub login: String,
    /// Its password: an unattended agent logs in again at every start.
    pub password: SecretString,
    /// Its TOTP secret (base32): kept from the first login, when the server hands it out
    /// once, so that later runs can log in.
    pub totp_secret: SecretString,
    /// The account's id, once known.
    #[serde(default)]
    pub user_id: String,
    /// The open login session (bearer token) and who it is for: a run within the
    /// session's lifetime reuses it instead of logging in, since a TOTP code is accepted
    /// once per 30-second step and a run a few seconds after another could not log in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<StoredSession>,
    /// This device, once enrolled.
    #[serde(default)]
    pub device: Option<StoredDevice>,
    /// The last sequence number handed to the application, per channel.
    #[serde(default)]
    pub cursors: crate::protocol::v1::channels::Cursors,
    /// Epoch keys held.
    #[serde(default)]
    pub epoch_keys: Vec<StoredEpochKey>,
    /// Tombstones of the channels destroyed (`None`) or purged below an epoch, so that
    /// a restart does not forget what must never come back (docs/PROTOCOL.md §10.6).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub shredded: BTreeMap<String, Option<u64>>,
    /// Colleagues' identity keys seen first (trust on first use survives restarts).
    #[serde(default)]
    pub known_identities: BTreeMap<String, IdentityPublicKey>,
    /// Per channel, this device's last sealed, unrefused envelope: the next message
    /// follows it (docs/PROTOCOL.md §8.7).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sent_tips: BTreeMap<String, super::SentTip>,
    /// Per channel and sender device, the highest counter seen: a server that drops or
    /// replays messages is seen across restarts (§8.8).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub order_marks: BTreeMap<String, BTreeMap<String, crate::crypto::OrderMark>>,
    /// The key transparency log's head accepted last: a server that rewrites the log
    /// between runs is caught (§25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_log_head: Option<crate::crypto::KeyLogHead>,
    /// Per channel, the head of the membership log verified last: a log served later
    /// must extend it, after a restart too (docs/PROTOCOL.md §22.6).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub membership_heads: BTreeMap<String, crate::crypto::LogHead>,
    /// Per channel, heads that members' messages named and that no log served here has
    /// shown yet: nothing is encrypted for the channel until one does.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub membership_claims: BTreeMap<String, Vec<crate::crypto::LogHead>>,
    /// What was audited of the key log up to that head (per user summaries and the
    /// tree's right edge): the next check fetches only the entries after it (§25.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_log_audit: Option<crate::crypto::AuditedLog>,
    /// This account's devices certified by this agent (self-monitoring, §25.4).
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub key_log_certified: std::collections::BTreeSet<String>,
    /// Per colleague device, the highest signed prekey serial seen: a server that serves
    /// an older prekey after a restart is refused too (docs/PROTOCOL.md §23.2).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prekey_serials: BTreeMap<String, u64>,
    /// What was seen of each channel's newest epoch, for the rotation bounds this client
    /// enforces itself (docs/PROTOCOL.md §23.4): a restart resets neither count nor age.
    #[serde(default, skip_serializing_if = "super::StoredRotation::is_empty")]
    pub rotation: super::StoredRotation,
}

/// Current format of [`AgentState`].
pub const STATE_VERSION: u32 = 1;

/// A place to keep an agent's state. Implementations must replace the state atomically:
/// a crash during `save` leaves the previous state or the new one, never a mix.
pub trait Store: Send + Sync {
    /// The stored state, or `None` when nothing was stored yet.
    fn load(&self) -> Result<Option<AgentState>>;
    /// Replaces the stored state.
    fn save(&self, state: &AgentState) -> Result<()>;
}

fn store_error(err: impl std::fmt::Display) -> ClientError {
    ClientError::Store(err.to_string())
}

/// A store in memory (tests, or an application that keeps the state itself).
#[derive(Default)]
pub struct MemoryStore(Mutex<Option<Zeroizing<Vec<u8>>>>);

impl Store for MemoryStore {
    fn load(&self) -> Result<Option<AgentState>> {
        let guard = self.0.lock().map_err(|_| store_error("poisoned"))?;
        guard
            .as_ref()
            .map(|bytes| serde_json::from_slice(bytes).map_err(store_error))
            .transpose()
    }

    fn save(&self, state: &AgentState) -> Result<()> {
        let bytes = Zeroizing::new(serde_json::to_vec(state).map_err(store_error)?);
        *self.0.lock().map_err(|_| store_error("poisoned"))? = Some(bytes);
        Ok(())
    }
}

/// What unlocks an [`EncryptedFileStore`].
pub enum StoreKey {
    /// A passphrase, stretched by Argon2id (slow on purpose: the file may be copied).
    Passphrase(SecretString),
    /// 32 random bytes, expanded by HKDF (already strong: no stretching needed).
    Raw(Zeroizing<[u8; 32]>),
}

impl StoreKey {
    /// The key from the environment: [`KEY_ENV`] if set, else [`PASSPHRASE_ENV`].
    pub fn from_env() -> Result<StoreKey> {
        if let Ok(text) = std::env::var(KEY_ENV) {
            let text = Zeroizing::new(text);
            let bytes =
                Zeroizing::new(crate::crypto::from_base64url(text.trim()).map_err(store_error)?);
            let key: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| store_error(format!("{KEY_ENV} must hold 32 bytes")))?;
            return Ok(StoreKey::Raw(Zeroizing::new(key)));
        }
        match std::env::var(PASSPHRASE_ENV) {
            Ok(passphrase) if !passphrase.is_empty() => {
                Ok(StoreKey::Passphrase(SecretString::new(passphrase)))
            }
            _ => Err(store_error(format!(
                "set {PASSPHRASE_ENV} (or {KEY_ENV}) to open the encrypted store"
            ))),
        }
    }
}

/// File layout: magic, salt, nonce, then the AES-256-GCM ciphertext of the JSON state,
/// with the magic as additional data.
const MAGIC: &[u8; 8] = b"PSDKST01";
const SALT_LEN: usize = 16;

/// The default store: one file, sealed; written to a temporary file then renamed, with
/// owner-only permissions.
pub struct EncryptedFileStore {
    path: PathBuf,
    salt: [u8; SALT_LEN],
    key: LessSafeKey,
}

impl EncryptedFileStore {
    /// Opens (or prepares to create) the store at `path`. The key is derived once, here,
    /// with the salt of the existing file or a new one.
    pub fn open(path: impl AsRef<Path>, key: StoreKey) -> Result<EncryptedFileStore> {
        let path = path.as_ref().to_path_buf();
        let salt = match std::fs::read(&path) {
            Ok(bytes) => {
                if bytes.len() < MAGIC.len() + SALT_LEN || &bytes[..MAGIC.len()] != MAGIC {
                    return Err(store_error(format!(
                        "{} is not a Passerelle SDK store",
                        path.display()
                    )));
                }
                let mut salt = [0u8; SALT_LEN];
                salt.copy_from_slice(&bytes[MAGIC.len()..MAGIC.len() + SALT_LEN]);
                salt
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let mut salt = [0u8; SALT_LEN];
                SystemRandom::new()
                    .fill(&mut salt)
                    .map_err(|_| store_error("no randomness"))?;
                salt
            }
            Err(err) => return Err(store_error(format!("{}: {err}", path.display()))),
        };
        let mut derived = Zeroizing::new([0u8; 32]);
        match &key {
            StoreKey::Passphrase(passphrase) => argon2::Argon2::default()
                .hash_password_into(passphrase.expose().as_bytes(), &salt, derived.as_mut())
                .map_err(store_error)?,
            StoreKey::Raw(raw) => {
                let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, &salt).extract(&raw[..]);
                prk.expand(&[b"passerelle/sdk/store"], ring::hkdf::HKDF_SHA256)
                    .and_then(|okm| okm.fill(derived.as_mut()))
                    .map_err(|_| store_error("key derivation"))?;
            }
        }
        let key = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, derived.as_ref()).map_err(|_| store_error("key"))?,
        );
        Ok(EncryptedFileStore { path, salt, key })
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Store for EncryptedFileStore {
    fn load(&self) -> Result<Option<AgentState>> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(store_error(format!("{}: {err}", self.path.display()))),
        };
        let header = MAGIC.len() + SALT_LEN;
        if bytes.len() < header + NONCE_LEN || &bytes[..MAGIC.len()] != MAGIC {
            return Err(store_error("not a Passerelle SDK store"));
        }
        let nonce = Nonce::try_assume_unique_for_key(&bytes[header..header + NONCE_LEN])
            .map_err(|_| store_error("nonce"))?;
        let mut sealed = Zeroizing::new(bytes[header + NONCE_LEN..].to_vec());
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(MAGIC), &mut sealed)
            .map_err(|_| store_error("wrong passphrase or key, or a damaged store"))?;
        serde_json::from_slice(plain).map(Some).map_err(store_error)
    }

    fn save(&self, state: &AgentState) -> Result<()> {
        let mut sealed = Zeroizing::new(serde_json::to_vec(state).map_err(store_error)?);
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| store_error("no randomness"))?;
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(MAGIC),
                &mut *sealed,
            )
            .map_err(|_| store_error("sealing"))?;
        let mut file = Vec::with_capacity(MAGIC.len() + SALT_LEN + NONCE_LEN + sealed.len());
        file.extend_from_slice(MAGIC);
        file.extend_from_slice(&self.salt);
        file.extend_from_slice(&nonce);
        file.extend_from_slice(&sealed);
        let mut temporary = self.path.clone().into_os_string();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        write_private(&temporary, &file)
            .map_err(|err| store_error(format!("{}: {err}", temporary.display())))?;
        std::fs::rename(&temporary, &self.path)
            .map_err(|err| store_error(format!("{}: {err}", self.path.display())))
    }
}

/// Writes a file readable by its owner only, and syncs it before the rename makes it the
/// store.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> AgentState {
        AgentState {
            version: STATE_VERSION,
            base_url: "http://127.0.0.1:1".into(),
            login: "bot".into(),
            password: SecretString::new("mot de passe"),
            totp_secret: SecretString::new("JBSWY3DPEHPK3PXP"),
            cursors: BTreeMap::from([("c".into(), 7)]),
            ..AgentState::default()
        }
    }

    #[test]
    fn a_sealed_file_opens_with_its_passphrase_only() {
        let dir = tempfile_dir();
        let path = dir.join("state.bin");
        let store = EncryptedFileStore::open(
            &path,
            StoreKey::Passphrase(SecretString::new("phrase correcte")),
        )
        .unwrap();
        store.save(&state()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("mot de passe"));

        let again = EncryptedFileStore::open(
            &path,
            StoreKey::Passphrase(SecretString::new("phrase correcte")),
        )
        .unwrap();
        let loaded = again.load().unwrap().unwrap();
        assert_eq!(loaded.password.expose(), "mot de passe");
        assert_eq!(loaded.cursors.get("c"), Some(&7));

        let wrong =
            EncryptedFileStore::open(&path, StoreKey::Passphrase(SecretString::new("autre")))
                .unwrap();
        assert!(matches!(wrong.load(), Err(ClientError::Store(_))));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_raw_key_store_round_trips_and_a_missing_file_is_empty() {
        let dir = tempfile_dir();
        let path = dir.join("state.bin");
        let key = || StoreKey::Raw(Zeroizing::new([7u8; 32]));
        let store = EncryptedFileStore::open(&path, key()).unwrap();
        assert!(store.load().unwrap().is_none());
        store.save(&state()).unwrap();
        let loaded = EncryptedFileStore::open(&path, key())
            .unwrap()
            .load()
            .unwrap()
            .unwrap();
        assert_eq!(loaded.login, "bot");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> PathBuf {
        let mut bytes = [0u8; 8];
        SystemRandom::new().fill(&mut bytes).unwrap();
        let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("passerelle-store-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
