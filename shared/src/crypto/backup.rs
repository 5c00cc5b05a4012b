//! The key backup and its recovery code ([PROTOCOL.md §10]).
//!
//! At enrolment the user is shown a [`RecoveryCode`] once: 26 characters of Crockford's
//! base32 (128 random bits) in groups of four. From it and the user id, PBKDF2 derives
//! the [`BackupKey`]; the [`KeyBackup`] the server stores is the AES-256-GCM encryption
//! of the identity private key and the user's epoch keys ([`BackupContents`]). A new
//! device that is given the code restores the identity key (so it can admit itself and
//! later devices) and the history; the server, which holds only the encrypted backup,
//! can do neither. Codes of the first format (24 characters, 120 bits) still open the
//! backups they made.
//!
//! The backup also carries tombstones of the channels destroyed or purged
//! ([`BackupContents::shred`]): a key a tombstone covers is never taken back in, so that
//! merging an older copy cannot undo crypto-shredding.
//!
//! [PROTOCOL.md §10]: ../../../docs/PROTOCOL.md#10-key-backup-and-recovery-code

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU32;

use serde::{Deserialize, Deserializer, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::encoding::{
    self, b64_array, b64_vec, check_epoch, check_id, label, ArrayVisitor, CanonicalBytes,
    SecretBase64, Version1,
};
use super::epoch::{EpochKey, EPOCH_KEY_LEN};
use super::keys::{IdentityKeyPair, IdentityPublicKey, KeyError, PRIVATE_KEY_LEN};
use super::primitives::{aes_gcm_open, aes_gcm_seal, random_array, BackendError, NONCE_LEN};

/// Characters in a recovery code (without separators).
pub const RECOVERY_CODE_LEN: usize = 26;
/// Characters in a recovery code of the first format, still accepted.
pub const LEGACY_RECOVERY_CODE_LEN: usize = 24;
/// Random bytes behind a recovery code: 128 bits (26 characters × 5 bits, the last two
/// bits zero), ANSSI's minimum for a symmetric secret.
const RECOVERY_CODE_BYTES: usize = 16;
/// Bytes behind a code of the first format: 24 characters × 5 bits = 120 bits.
const LEGACY_RECOVERY_CODE_BYTES: usize = 15;
/// Crockford's base32 alphabet: digits and capitals without I, L, O, U.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// PBKDF2-HMAC-SHA-256 iterations for a 26-character code: OWASP's current figure for
/// PBKDF2-HMAC-SHA-256. The code's 128 random bits alone already meet ANSSI's minimum;
/// the work factor only slows a search further.
pub const BACKUP_KDF_ITERATIONS: u32 = 600_000;
/// Iterations for a code of the first format (24 characters): what its backups were
/// sealed with, so they keep opening.
pub const LEGACY_BACKUP_KDF_ITERATIONS: u32 = 100_000;

/// Why typed text is not a recovery code. Never includes the text itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecoveryCodeError {
    /// After removing spaces and hyphens, the code has neither 26 characters nor the
    /// first format's 24.
    #[error("a recovery code has {RECOVERY_CODE_LEN} characters, got {actual}")]
    WrongLength {
        /// The number of characters received.
        actual: usize,
    },
    /// A character outside the alphabet (position counted without separators, from 0).
    #[error("invalid character at position {position}")]
    InvalidCharacter {
        /// Where the character is, ignoring separators.
        position: usize,
    },
}

/// Why a key backup could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The user id is empty or too long, the revision above 2^53 − 1, or an epoch key
    /// entry has an invalid channel id or epoch.
    #[error("invalid user id, revision or epoch key entry")]
    InvalidInput,
    /// Decryption failed: wrong recovery code, or the backup was altered, or it belongs
    /// to another user or revision than it claims.
    #[error("key backup does not decrypt")]
    Decrypt,
    /// The decrypted backup is not valid backup JSON.
    #[error("malformed key backup content")]
    Malformed,
    /// The identity private key in the backup is invalid or does not match the identity
    /// public key stored next to it.
    #[error("invalid identity key in key backup")]
    InvalidIdentityKey,
    /// The system's random number generator or an internal library call failed.
    #[error("cryptographic backend failure")]
    Backend,
    /// A page the backup's head names is not served ([PROTOCOL.md §10.8]): the server
    /// dropped it. The message is French: a program shows it to its user as is.
    #[error("La sauvegarde de clés est incomplète : le serveur ne fournit plus une de ses pages. Rien n'a été restauré ; prévenez l'administrateur.")]
    PageMissing,
    /// A page served is not the one the head names (its SHA-256 differs): the server
    /// swapped it or served an older version of it ([PROTOCOL.md §10.8]).
    #[error("La sauvegarde de clés a été altérée : une de ses pages n'est pas celle qui a été enregistrée. Rien n'a été restauré ; prévenez l'administrateur.")]
    PageAltered,
    /// The head served is older than one this device has already seen: the server
    /// rolled the backup back ([PROTOCOL.md §10.4]).
    #[error("La sauvegarde de clés servie est plus ancienne qu'une version déjà vue : elle est refusée ; prévenez l'administrateur.")]
    RolledBack,
}

impl From<BackendError> for BackupError {
    fn from(_: BackendError) -> Self {
        BackupError::Backend
    }
}

/// A recovery code: 128 random bits shown to the user once, as
/// `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XX` (or 120 bits in six groups of four, for a code of
/// the first format). Zeroized on drop; its `Debug` prints nothing of it.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct RecoveryCode(Box<[u8]>);

impl RecoveryCode {
    /// Draws a new recovery code (128 bits).
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes: [u8; RECOVERY_CODE_BYTES] = random_array()?;
        let code = Self(Box::new(bytes));
        bytes.zeroize();
        Ok(code)
    }

    /// Parses what the user typed: case-insensitive, spaces and hyphens ignored, and the
    /// look-alikes `O` → `0`, `I` and `L` → `1` accepted. 26 characters give the 16
    /// bytes of a code (the two bits left over are ignored); 24 give the 15 bytes of a
    /// code of the first format.
    pub fn parse(text: &str) -> Result<Self, RecoveryCodeError> {
        let mut values = Zeroizing::new(Vec::with_capacity(RECOVERY_CODE_LEN));
        for (position, c) in text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .enumerate()
        {
            let c = match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                other => other,
            };
            let value = ALPHABET
                .iter()
                .position(|a| char::from(*a) == c)
                .ok_or(RecoveryCodeError::InvalidCharacter { position })?;
            values.push(value as u8);
        }
        let length = match values.len() {
            RECOVERY_CODE_LEN => RECOVERY_CODE_BYTES,
            LEGACY_RECOVERY_CODE_LEN => LEGACY_RECOVERY_CODE_BYTES,
            actual => return Err(RecoveryCodeError::WrongLength { actual }),
        };
        // Five-bit values, most significant bit first; bits past the last byte are
        // padding.
        let mut bytes = Zeroizing::new(vec![0u8; length]);
        let mut accumulator = 0u32;
        let mut bits = 0;
        let mut out = 0;
        for value in values.iter() {
            accumulator = (accumulator << 5) | u32::from(*value);
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                if let Some(byte) = bytes.get_mut(out) {
                    *byte = (accumulator >> bits) as u8;
                }
                out += 1;
            }
        }
        accumulator.zeroize();
        Ok(Self(bytes.as_slice().into()))
    }

    /// The code as shown to the user: groups of four characters joined by hyphens.
    pub fn to_display_string(&self) -> Zeroizing<String> {
        let characters = if self.0.len() == LEGACY_RECOVERY_CODE_BYTES {
            LEGACY_RECOVERY_CODE_LEN
        } else {
            RECOVERY_CODE_LEN
        };
        let mut text = Zeroizing::new(String::with_capacity(characters + characters / 4));
        let mut accumulator = 0u32;
        let mut bits = 0;
        let mut written = 0;
        let mut push = |index: u32, text: &mut String| {
            if written > 0 && written % 4 == 0 {
                text.push('-');
            }
            text.push(char::from(ALPHABET[(index & 0x1f) as usize]));
            written += 1;
        };
        for byte in self.0.iter() {
            accumulator = (accumulator << 8) | u32::from(*byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                push(accumulator >> bits, &mut text);
            }
            accumulator &= (1 << bits) - 1;
        }
        if bits > 0 {
            // The last bits, padded with zeros to a full character.
            push(accumulator << (5 - bits), &mut text);
        }
        accumulator.zeroize();
        text
    }

    /// The PBKDF2 iterations for this code's format.
    pub fn kdf_iterations(&self) -> u32 {
        if self.0.len() == LEGACY_RECOVERY_CODE_BYTES {
            LEGACY_BACKUP_KDF_ITERATIONS
        } else {
            BACKUP_KDF_ITERATIONS
        }
    }

    /// Derives the backup key of `user_id` ([PROTOCOL.md §10.2]):
    /// PBKDF2-HMAC-SHA-256 of the code bytes, salted with the canonical bytes of the
    /// user id, [`RecoveryCode::kdf_iterations`] iterations, 32 bytes. Slow on purpose.
    pub fn backup_key(&self, user_id: &str) -> BackupKey {
        let salt = CanonicalBytes::new(label::KEY_BACKUP_KEY)
            .field(user_id.as_bytes())
            .finish();
        let mut key = Box::new([0u8; 32]);
        let iterations = NonZeroU32::new(self.kdf_iterations()).unwrap_or(NonZeroU32::MIN);
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            &salt,
            &self.0[..],
            &mut key[..],
        );
        BackupKey(key)
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(..)")
    }
}

/// The key that encrypts a user's key backup, derived from the recovery code. Devices
/// that know it keep the backup up to date. Zeroized on drop; never printed.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct BackupKey(Box<[u8; 32]>);

impl BackupKey {
    /// Imports a key from the device's local storage. The caller keeps responsibility
    /// for zeroizing its own copy.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(Box::new(*bytes))
    }

    /// A copy of the key for local storage. Zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(*self.0)
    }

    /// The key itself, for sealing and opening the pages and head of a paged backup.
    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackupKey(..)")
    }
}

/// What a key backup holds: the identity key pair, the user's epoch keys by
/// `(channel id, epoch)`, and the colleagues' identity keys as pinned, with their
/// « vérifié » marks, so that trust travels to a restored device, and the tombstones of
/// the channels destroyed or purged, so that no merge brings their keys back. Every key
/// in it is zeroized on drop.
pub struct BackupContents {
    identity: IdentityKeyPair,
    epoch_keys: BTreeMap<(String, u64), EpochKey>,
    identities: BTreeMap<String, (IdentityPublicKey, bool)>,
    shredded: BTreeMap<String, Shredded>,
    /// Whether the parsed plaintext listed epoch keys: a paged backup's head must not.
    head_has_keys: bool,
}

/// The JSON entries of epoch keys (a backup's or a page's), checked on the way out.
pub(crate) fn epoch_keys_out(
    keys: &BTreeMap<(String, u64), EpochKey>,
) -> Result<Vec<EpochKeyOut<'_>>, BackupError> {
    keys.iter()
        .map(|((channel_id, epoch), key)| {
            check_id(channel_id).map_err(|_| BackupError::InvalidInput)?;
            check_epoch(*epoch).map_err(|_| BackupError::InvalidInput)?;
            Ok(EpochKeyOut {
                channel_id,
                epoch: *epoch,
                key: SecretBase64(key.expose()),
            })
        })
        .collect()
}

/// What a tombstone covers: every epoch of a destroyed channel, or the epochs below one
/// of a channel whose old history was purged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shredded {
    /// The channel was destroyed: none of its keys may be kept.
    Channel,
    /// The history before this epoch was purged: the keys of earlier epochs go.
    Below(u64),
}

impl Shredded {
    /// Whether this tombstone covers `epoch`.
    pub fn covers(self, epoch: u64) -> bool {
        match self {
            Shredded::Channel => true,
            Shredded::Below(below) => epoch < below,
        }
    }

    /// The tombstone covering both: a destruction covers any purge.
    pub fn widest(self, other: Shredded) -> Shredded {
        match (self, other) {
            (Shredded::Below(a), Shredded::Below(b)) => Shredded::Below(a.max(b)),
            _ => Shredded::Channel,
        }
    }
}

impl BackupContents {
    /// A backup holding only the identity key.
    pub fn new(identity: IdentityKeyPair) -> Self {
        Self {
            identity,
            epoch_keys: BTreeMap::new(),
            identities: BTreeMap::new(),
            shredded: BTreeMap::new(),
            head_has_keys: false,
        }
    }

    /// Whether the opened plaintext listed epoch keys (a head must list none).
    pub(crate) fn listed_keys(&self) -> bool {
        self.head_has_keys
    }

    /// Records a colleague's identity key as pinned, and whether it was verified in
    /// person ([PROTOCOL.md §10.3]).
    pub fn insert_identity(&mut self, user_id: &str, key: IdentityPublicKey, verified: bool) {
        self.identities.insert(user_id.to_owned(), (key, verified));
    }

    /// The colleagues' pinned identity keys and their verified marks, by user id.
    pub fn identities(&self) -> impl Iterator<Item = (&str, &IdentityPublicKey, bool)> {
        self.identities
            .iter()
            .map(|(user, (key, verified))| (user.as_str(), key, *verified))
    }

    /// The identity key pair.
    pub fn identity(&self) -> &IdentityKeyPair {
        &self.identity
    }

    /// Adds (or replaces) the key of one channel epoch, unless a tombstone covers it:
    /// a shredded key never comes back, whichever copy it is merged from.
    pub fn insert_epoch_key(&mut self, channel_id: &str, epoch: u64, key: EpochKey) {
        if !self.is_shredded(channel_id, epoch) {
            self.epoch_keys.insert((channel_id.to_owned(), epoch), key);
        }
    }

    /// Whether a tombstone covers this channel epoch.
    pub fn is_shredded(&self, channel_id: &str, epoch: u64) -> bool {
        self.shredded
            .get(channel_id)
            .is_some_and(|shredded| shredded.covers(epoch))
    }

    /// The key of one channel epoch, if backed up.
    pub fn epoch_key(&self, channel_id: &str, epoch: u64) -> Option<&EpochKey> {
        self.epoch_keys.get(&(channel_id.to_owned(), epoch))
    }

    /// Every backed-up epoch key, ordered by channel id then epoch.
    pub fn epoch_keys(&self) -> impl Iterator<Item = (&str, u64, &EpochKey)> {
        self.epoch_keys
            .iter()
            .map(|((channel, epoch), key)| (channel.as_str(), *epoch, key))
    }

    /// Records a tombstone and drops the keys it covers (crypto-shredding once a
    /// channel is destroyed or its old history purged, [PROTOCOL.md §10.6]). Tombstones
    /// only widen: merging an older one changes nothing.
    pub fn shred(&mut self, channel_id: &str, what: Shredded) {
        let widest = match self.shredded.get(channel_id) {
            Some(held) => held.widest(what),
            None => what,
        };
        self.shredded.insert(channel_id.to_owned(), widest);
        self.epoch_keys
            .retain(|(channel, epoch), _| channel != channel_id || !widest.covers(*epoch));
    }

    /// The tombstones, by channel id.
    pub fn tombstones(&self) -> impl Iterator<Item = (&str, Shredded)> {
        self.shredded
            .iter()
            .map(|(channel, shredded)| (channel.as_str(), *shredded))
    }

    /// The plaintext JSON, in zeroizing memory ([PROTOCOL.md §10.3]).
    pub(crate) fn to_json(&self) -> Result<Zeroizing<Vec<u8>>, BackupError> {
        self.to_json_with(true)
    }

    /// The plaintext of a paged backup's head ([PROTOCOL.md §10.8]): everything but the
    /// epoch keys, which live in the pages (`epoch_keys` is written empty).
    pub(crate) fn to_head_json(&self) -> Result<Zeroizing<Vec<u8>>, BackupError> {
        self.to_json_with(false)
    }

    fn to_json_with(&self, with_keys: bool) -> Result<Zeroizing<Vec<u8>>, BackupError> {
        let private_key = self.identity.to_private_bytes();
        let epoch_keys = if with_keys {
            epoch_keys_out(&self.epoch_keys)?
        } else {
            Vec::new()
        };
        let identities = self
            .identities
            .iter()
            .map(|(user_id, (identity_key, verified))| {
                check_id(user_id).map_err(|_| BackupError::InvalidInput)?;
                Ok(IdentityOut {
                    user_id,
                    identity_key,
                    verified: *verified,
                })
            })
            .collect::<Result<Vec<_>, BackupError>>()?;
        let shredded = self
            .shredded
            .iter()
            .map(|(channel_id, shredded)| {
                check_id(channel_id).map_err(|_| BackupError::InvalidInput)?;
                let below_epoch = match shredded {
                    Shredded::Channel => None,
                    Shredded::Below(epoch) => {
                        check_epoch(*epoch).map_err(|_| BackupError::InvalidInput)?;
                        Some(*epoch)
                    }
                };
                Ok(TombstoneOut {
                    channel_id,
                    below_epoch,
                })
            })
            .collect::<Result<Vec<_>, BackupError>>()?;
        let out = ContentsOut {
            v: Version1,
            identity_private_key: SecretBase64(&private_key[..]),
            identity_public_key: self.identity.public_key(),
            epoch_keys,
            identities,
            shredded,
        };
        let mut json = Zeroizing::new(Vec::with_capacity(256 + 128 * self.epoch_keys.len()));
        serde_json::to_writer(&mut *json, &out).map_err(|_| BackupError::Backend)?;
        Ok(json)
    }

    pub(crate) fn from_json(json: &[u8]) -> Result<Self, BackupError> {
        let parsed: ContentsIn =
            serde_json::from_slice(json).map_err(|_| BackupError::Malformed)?;
        let identity = IdentityKeyPair::from_private_bytes(&parsed.identity_private_key.0)
            .map_err(|_| BackupError::InvalidIdentityKey)?;
        if identity.public_key() != &parsed.identity_public_key {
            return Err(BackupError::InvalidIdentityKey);
        }
        let mut contents = Self::new(identity);
        contents.head_has_keys = !parsed.epoch_keys.is_empty();
        for entry in parsed.identities {
            contents.insert_identity(&entry.user_id, entry.identity_key, entry.verified);
        }
        // Tombstones first, so that the keys they cover are not taken in.
        for entry in parsed.shredded {
            if let Some(epoch) = entry.below_epoch {
                check_epoch(epoch).map_err(|_| BackupError::Malformed)?;
            }
            let what = entry.below_epoch.map_or(Shredded::Channel, Shredded::Below);
            contents.shred(&entry.channel_id, what);
        }
        for entry in parsed.epoch_keys {
            contents.insert_epoch_key(
                &entry.channel_id,
                entry.epoch,
                EpochKey::from_bytes(&entry.key.0),
            );
        }
        Ok(contents)
    }
}

impl fmt::Debug for BackupContents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupContents")
            .field("identity", &self.identity)
            .field("epoch_keys", &self.epoch_keys.len())
            .field("shredded", &self.shredded.len())
            .finish()
    }
}

#[derive(Serialize)]
struct ContentsOut<'a> {
    v: Version1,
    identity_private_key: SecretBase64<'a>,
    identity_public_key: &'a IdentityPublicKey,
    epoch_keys: Vec<EpochKeyOut<'a>>,
    /// Absent when empty: a backup without colleagues is what version 1 always wrote.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    identities: Vec<IdentityOut<'a>>,
    /// Absent when empty, like `identities`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    shredded: Vec<TombstoneOut<'a>>,
}

#[derive(Serialize)]
struct TombstoneOut<'a> {
    channel_id: &'a str,
    /// Absent for a destroyed channel: every epoch is covered.
    #[serde(skip_serializing_if = "Option::is_none")]
    below_epoch: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TombstoneIn {
    #[serde(with = "encoding::id")]
    channel_id: String,
    /// Checked as a safe integer in [`BackupContents::from_json`].
    #[serde(default)]
    below_epoch: Option<u64>,
}

#[derive(Serialize)]
struct IdentityOut<'a> {
    user_id: &'a str,
    identity_key: &'a IdentityPublicKey,
    verified: bool,
}

#[derive(Deserialize)]
struct IdentityIn {
    #[serde(with = "encoding::id")]
    user_id: String,
    identity_key: IdentityPublicKey,
    verified: bool,
}

#[derive(Serialize)]
pub(crate) struct EpochKeyOut<'a> {
    channel_id: &'a str,
    epoch: u64,
    key: SecretBase64<'a>,
}

/// Unknown fields are ignored so that later versions can add some.
#[derive(Deserialize)]
struct ContentsIn {
    #[allow(dead_code)] // checked by its type
    v: Version1,
    identity_private_key: SecretArray<PRIVATE_KEY_LEN>,
    identity_public_key: IdentityPublicKey,
    epoch_keys: Vec<EpochKeyIn>,
    #[serde(default)]
    identities: Vec<IdentityIn>,
    #[serde(default)]
    shredded: Vec<TombstoneIn>,
}

#[derive(Deserialize)]
pub(crate) struct EpochKeyIn {
    #[serde(with = "encoding::id")]
    pub(crate) channel_id: String,
    #[serde(with = "encoding::safe_int")]
    pub(crate) epoch: u64,
    pub(crate) key: SecretArray<EPOCH_KEY_LEN>,
}

/// A secret decoded from base64url, zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct SecretArray<const N: usize>(pub(crate) [u8; N]);

impl<'de, const N: usize> Deserialize<'de> for SecretArray<N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut bytes = deserializer.deserialize_str(ArrayVisitor::<N>)?;
        let secret = SecretArray(bytes);
        bytes.zeroize();
        Ok(secret)
    }
}

/// A user's encrypted key backup, as the server stores it. Public: it is ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyBackup {
    /// Protocol version, always 1.
    pub v: Version1,
    /// The user whose keys these are.
    #[serde(with = "encoding::id")]
    pub user_id: String,
    /// Increases with every upload; a client refuses a backup older than one it has
    /// seen, so the server cannot roll back to a backup without the latest keys.
    #[serde(with = "encoding::safe_int")]
    pub revision: u64,
    /// The AES-GCM nonce.
    #[serde(with = "b64_array")]
    pub nonce: [u8; NONCE_LEN],
    /// The encrypted JSON followed by the GCM tag.
    #[serde(with = "b64_vec")]
    pub ciphertext: Vec<u8>,
}

impl KeyBackup {
    /// Encrypts the backup contents for `user_id` under the backup key.
    pub fn seal(
        contents: &BackupContents,
        key: &BackupKey,
        user_id: &str,
        revision: u64,
    ) -> Result<Self, BackupError> {
        Self::seal_json(
            &contents.to_json()?,
            key,
            user_id,
            revision,
            &random_array()?,
        )
    }

    /// The deterministic core of [`KeyBackup::seal`], taking the plaintext JSON and the
    /// nonce, so that test vectors are byte-exact.
    pub(crate) fn seal_json(
        json: &[u8],
        key: &BackupKey,
        user_id: &str,
        revision: u64,
        nonce: &[u8; NONCE_LEN],
    ) -> Result<Self, BackupError> {
        check_id(user_id).map_err(|_| BackupError::InvalidInput)?;
        check_epoch(revision).map_err(|_| BackupError::InvalidInput)?;
        let mut backup = Self {
            v: Version1,
            user_id: user_id.to_owned(),
            revision,
            nonce: *nonce,
            ciphertext: Vec::new(),
        };
        backup.ciphertext = aes_gcm_seal(&key.0, nonce, &backup.additional_data(), json)?;
        Ok(backup)
    }

    /// The AEAD additional data: the user id and the revision.
    pub fn additional_data(&self) -> Vec<u8> {
        CanonicalBytes::new(label::KEY_BACKUP)
            .field(self.user_id.as_bytes())
            .u64_field(self.revision)
            .finish()
    }

    /// Decrypts the backup. The caller checks that `user_id` is its own and that
    /// `revision` is not older than the last one it saw.
    pub fn open(&self, key: &BackupKey) -> Result<BackupContents, BackupError> {
        let json = aes_gcm_open(
            &key.0,
            &self.nonce,
            &self.additional_data(),
            &self.ciphertext,
        )
        .map_err(|_| BackupError::Decrypt)?;
        BackupContents::from_json(&json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test_support::{hex, scalar_from_hex};
    use serde_json::Value;

    fn contents() -> BackupContents {
        let mut contents = BackupContents::new(IdentityKeyPair::generate().unwrap());
        contents.insert_epoch_key("channel-a", 1, EpochKey::from_bytes(&[1; 32]));
        contents.insert_epoch_key("channel-a", 2, EpochKey::from_bytes(&[2; 32]));
        contents.insert_epoch_key("channel-b", 1, EpochKey::from_bytes(&[3; 32]));
        contents
    }

    #[test]
    fn the_key_backup_vector_is_reproduced() {
        let v: Value = serde_json::from_str(include_str!("../../vectors/key_backup.json")).unwrap();
        let code = RecoveryCode::parse(v["recovery_code"].as_str().unwrap()).unwrap();
        assert_eq!(
            code.0.to_vec(),
            hex(v["recovery_code_bytes_hex"].as_str().unwrap())
        );
        assert_eq!(
            code.to_display_string().as_str(),
            v["recovery_code"].as_str().unwrap()
        );
        let user_id = v["user_id"].as_str().unwrap();
        let salt = CanonicalBytes::new(label::KEY_BACKUP_KEY)
            .field(user_id.as_bytes())
            .finish();
        assert_eq!(salt, hex(v["kdf_salt_hex"].as_str().unwrap()));
        let key = code.backup_key(user_id);
        assert_eq!(key.0.to_vec(), hex(v["backup_key_hex"].as_str().unwrap()));

        let expected: KeyBackup = serde_json::from_value(v["backup"].clone()).unwrap();
        assert_eq!(
            expected.additional_data(),
            hex(v["additional_data_hex"].as_str().unwrap())
        );
        let json = hex(v["plaintext_json_hex"].as_str().unwrap());
        let nonce: [u8; NONCE_LEN] = hex(v["nonce_hex"].as_str().unwrap()).try_into().unwrap();
        let ours = KeyBackup::seal_json(&json, &key, user_id, expected.revision, &nonce).unwrap();
        assert_eq!(ours, expected);

        let contents = expected.open(&key).unwrap();
        assert_eq!(contents.to_json().unwrap().as_slice(), json.as_slice());
        let identity = scalar_from_hex(v["identity_private_key_hex"].as_str().unwrap());
        assert_eq!(*contents.identity().to_private_bytes(), identity);

        // Keys the backup's own tombstones cover are dropped on opening.
        let unfiltered: KeyBackup = serde_json::from_value(v["unfiltered_backup"].clone()).unwrap();
        let kept: Vec<(String, u64)> = unfiltered
            .open(&key)
            .unwrap()
            .epoch_keys()
            .map(|(c, e, _)| (c.to_owned(), e))
            .collect();
        let expected_kept: Vec<(String, u64)> =
            serde_json::from_value(v["unfiltered_kept_epoch_keys"].clone()).unwrap();
        assert_eq!(kept, expected_kept);

        let legacy = &v["legacy"];
        let code = RecoveryCode::parse(legacy["recovery_code"].as_str().unwrap()).unwrap();
        assert_eq!(
            code.0.to_vec(),
            hex(legacy["recovery_code_bytes_hex"].as_str().unwrap())
        );
        assert_eq!(
            code.backup_key(user_id).0.to_vec(),
            hex(legacy["backup_key_hex"].as_str().unwrap())
        );

        for case in v["recovery_code_inputs"].as_array().unwrap() {
            let parsed = RecoveryCode::parse(case["input"].as_str().unwrap());
            match case["bytes_hex"].as_str() {
                Some(bytes) => assert_eq!(parsed.unwrap().0.to_vec(), hex(bytes)),
                None => assert!(parsed.is_err(), "{}", case["input"]),
            }
        }
    }

    #[test]
    fn a_backup_opens_with_the_recovery_code() {
        let code = RecoveryCode::generate().unwrap();
        let original = contents();
        let backup = KeyBackup::seal(&original, &code.backup_key("user-1"), "user-1", 4).unwrap();
        // A new device: the user types the code.
        let typed = RecoveryCode::parse(&code.to_display_string().to_lowercase()).unwrap();
        let restored = backup.open(&typed.backup_key("user-1")).unwrap();
        assert_eq!(
            restored.identity().public_key(),
            original.identity().public_key()
        );
        let keys: Vec<(String, u64, [u8; 32])> = restored
            .epoch_keys()
            .map(|(channel, epoch, key)| (channel.to_owned(), epoch, *key.to_bytes()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("channel-a".to_owned(), 1, [1; 32]),
                ("channel-a".to_owned(), 2, [2; 32]),
                ("channel-b".to_owned(), 1, [3; 32]),
            ]
        );
    }

    #[test]
    fn the_wrong_recovery_code_is_rejected() {
        let backup = KeyBackup::seal(
            &contents(),
            &RecoveryCode::generate().unwrap().backup_key("u"),
            "u",
            1,
        )
        .unwrap();
        let wrong = RecoveryCode::generate().unwrap();
        assert_eq!(
            backup.open(&wrong.backup_key("u")).unwrap_err(),
            BackupError::Decrypt
        );
    }

    #[test]
    fn a_backup_presented_as_another_users_or_revision_is_rejected() {
        let key = BackupKey::from_bytes(&[7; 32]);
        let backup = KeyBackup::seal(&contents(), &key, "user-1", 5).unwrap();
        let mut other_user = backup.clone();
        other_user.user_id = "user-2".into();
        assert_eq!(other_user.open(&key).unwrap_err(), BackupError::Decrypt);
        let mut rolled_back = backup.clone();
        rolled_back.revision = 4;
        assert_eq!(rolled_back.open(&key).unwrap_err(), BackupError::Decrypt);
    }

    #[test]
    fn a_flipped_backup_bit_is_rejected() {
        let key = BackupKey::from_bytes(&[7; 32]);
        let backup = KeyBackup::seal(&contents(), &key, "user-1", 5).unwrap();
        for byte in [0, backup.ciphertext.len() / 2, backup.ciphertext.len() - 1] {
            let mut bad = backup.clone();
            bad.ciphertext[byte] ^= 0x80;
            assert_eq!(bad.open(&key).unwrap_err(), BackupError::Decrypt);
        }
        let mut bad = backup.clone();
        bad.nonce[0] ^= 1;
        assert_eq!(bad.open(&key).unwrap_err(), BackupError::Decrypt);
    }

    #[test]
    fn a_backup_whose_identity_keys_disagree_is_rejected() {
        let key = BackupKey::from_bytes(&[7; 32]);
        let other = IdentityKeyPair::generate().unwrap();
        let json = format!(
            r#"{{"v":1,"identity_private_key":"{}","identity_public_key":"{}","epoch_keys":[]}}"#,
            crate::crypto::to_base64url(&[5; 32]),
            other.public_key().to_base64url()
        );
        let backup = KeyBackup::seal_json(json.as_bytes(), &key, "u", 1, &[0; 12]).unwrap();
        assert_eq!(
            backup.open(&key).unwrap_err(),
            BackupError::InvalidIdentityKey
        );
    }

    #[test]
    fn a_destroyed_channel_s_keys_are_dropped_and_never_taken_back() {
        let mut contents = contents();
        contents.shred("channel-a", Shredded::Channel);
        assert_eq!(contents.epoch_keys().count(), 1);
        assert!(contents.epoch_key("channel-a", 1).is_none());
        assert!(contents.epoch_key("channel-b", 1).is_some());
        // A merge from an older copy that still holds the key changes nothing.
        contents.insert_epoch_key("channel-a", 2, EpochKey::from_bytes(&[2; 32]));
        assert!(contents.epoch_key("channel-a", 2).is_none());
        // Nor does a narrower tombstone merged later.
        contents.shred("channel-a", Shredded::Below(1));
        contents.insert_epoch_key("channel-a", 9, EpochKey::from_bytes(&[9; 32]));
        assert!(contents.epoch_key("channel-a", 9).is_none());
    }

    #[test]
    fn a_purge_drops_the_keys_below_its_epoch_only_and_tombstones_travel() {
        let key = BackupKey::from_bytes(&[7; 32]);
        let mut contents = contents();
        contents.shred("channel-a", Shredded::Below(2));
        contents.shred("channel-a", Shredded::Below(1));
        contents.shred("channel-c", Shredded::Channel);
        assert!(contents.epoch_key("channel-a", 1).is_none());
        assert!(contents.epoch_key("channel-a", 2).is_some());
        let opened = KeyBackup::seal(&contents, &key, "u", 2)
            .unwrap()
            .open(&key)
            .unwrap();
        let tombstones: Vec<(String, Shredded)> = opened
            .tombstones()
            .map(|(c, s)| (c.to_owned(), s))
            .collect();
        assert_eq!(
            tombstones,
            vec![
                ("channel-a".to_owned(), Shredded::Below(2)),
                ("channel-c".to_owned(), Shredded::Channel),
            ]
        );
        assert!(opened.is_shredded("channel-a", 1));
        assert!(!opened.is_shredded("channel-a", 2));
    }

    #[test]
    fn a_backup_whose_tombstone_still_lists_a_covered_key_drops_that_key() {
        let identity = IdentityKeyPair::generate().unwrap();
        let private = identity.to_private_bytes();
        let json = format!(
            r#"{{"v":1,"identity_private_key":"{}","identity_public_key":"{}","epoch_keys":[{{"channel_id":"gone","epoch":1,"key":"{}"}}],"shredded":[{{"channel_id":"gone"}}]}}"#,
            crate::crypto::to_base64url(&private[..]),
            identity.public_key().to_base64url(),
            crate::crypto::to_base64url(&[1; 32]),
        );
        let contents = BackupContents::from_json(json.as_bytes()).unwrap();
        assert_eq!(contents.epoch_keys().count(), 0);
    }

    #[test]
    fn recovery_codes_carry_128_bits_in_26_characters() {
        let code = RecoveryCode::generate().unwrap();
        assert_eq!(code.0.len(), 16);
        let text = code.to_display_string();
        assert_eq!(text.replace('-', "").len(), RECOVERY_CODE_LEN);
        let groups: Vec<&str> = text.split('-').collect();
        assert_eq!(groups.len(), 7);
        assert!(groups[..6].iter().all(|g| g.len() == 4));
        let again = RecoveryCode::parse(&text).unwrap();
        assert_eq!(again.0, code.0);
        assert_eq!(again.kdf_iterations(), BACKUP_KDF_ITERATIONS);
    }

    #[test]
    fn a_code_of_the_first_format_still_parses_with_its_own_iterations() {
        let legacy = RecoveryCode::parse("8973-5T7M-V0GZ-1A8C-99VK-HF96").unwrap();
        assert_eq!(legacy.0.len(), 15);
        assert_eq!(legacy.kdf_iterations(), LEGACY_BACKUP_KDF_ITERATIONS);
        assert_eq!(
            legacy.to_display_string().as_str(),
            "8973-5T7M-V0GZ-1A8C-99VK-HF96"
        );
        assert_eq!(
            RecoveryCode::parse("8973-5T7M-V0GZ-1A8C-99VK-HF96-0").unwrap_err(),
            RecoveryCodeError::WrongLength { actual: 25 }
        );
    }

    #[test]
    fn malformed_recovery_codes_are_rejected_without_echoing_them() {
        assert_eq!(
            RecoveryCode::parse("ABCD").unwrap_err(),
            RecoveryCodeError::WrongLength { actual: 4 }
        );
        let error = RecoveryCode::parse("ABCD-EFGH-JKMN-PQRS-TVWX-YZU0").unwrap_err();
        assert_eq!(error, RecoveryCodeError::InvalidCharacter { position: 22 });
        assert!(!error.to_string().contains("ABCD"));
    }

    #[test]
    fn the_debug_output_of_backup_secrets_shows_no_byte() {
        let code = RecoveryCode::parse("0000-0000-0000-0000-0000-0001").unwrap();
        assert_eq!(format!("{code:?}"), "RecoveryCode(..)");
        assert_eq!(
            format!("{:?}", BackupKey::from_bytes(&[4; 32])),
            "BackupKey(..)"
        );
        let identity = IdentityKeyPair::from_private_bytes(&[6; 32]).unwrap();
        let public = identity.public_key().to_base64url();
        let mut contents = BackupContents::new(identity);
        contents.insert_epoch_key("c", 1, EpochKey::from_bytes(&[8; 32]));
        let debug = format!("{contents:?}");
        assert_eq!(
            debug,
            format!("BackupContents {{ identity: IdentityKeyPair {{ public: IdentityPublicKey({public}), .. }}, epoch_keys: 1, shredded: 0 }}")
        );
        crate::crypto::test_support::assert_no_secret_in(&debug, &[6; 32]);
        crate::crypto::test_support::assert_no_secret_in(&debug, &[8; 32]);
    }
}

#[cfg(test)]
mod identity_tests {
    use super::*;

    #[test]
    fn pinned_identities_and_marks_travel_in_the_backup_and_an_empty_list_is_not_written() {
        let key = BackupKey::from_bytes(&[7; 32]);
        let mut contents = BackupContents::new(IdentityKeyPair::generate().unwrap());
        let bare = String::from_utf8(contents.to_json().unwrap().to_vec()).unwrap();
        assert!(!bare.contains("identities"), "{bare}");
        let sophie = IdentityKeyPair::generate().unwrap();
        let jean = IdentityKeyPair::generate().unwrap();
        contents.insert_identity("sophie", sophie.public_key().clone(), true);
        contents.insert_identity("jean", jean.public_key().clone(), false);
        let sealed = KeyBackup::seal(&contents, &key, "karim", 2).unwrap();
        let opened = sealed.open(&key).unwrap();
        let identities: Vec<(String, IdentityPublicKey, bool)> = opened
            .identities()
            .map(|(u, k, v)| (u.to_owned(), k.clone(), v))
            .collect();
        assert_eq!(
            identities,
            vec![
                ("jean".to_owned(), jean.public_key().clone(), false),
                ("sophie".to_owned(), sophie.public_key().clone(), true),
            ]
        );
    }

    #[test]
    fn a_malformed_identity_entry_is_refused() {
        let identity = IdentityKeyPair::generate().unwrap();
        let private = identity.to_private_bytes();
        let json = format!(
            r#"{{"v":1,"identity_private_key":"{}","identity_public_key":"{}","epoch_keys":[],"identities":[{{"user_id":"sophie","identity_key":"AAAA","verified":true}}]}}"#,
            super::super::encoding::to_base64url(&private[..]),
            super::super::encoding::to_base64url(identity.public_key().as_bytes()),
        );
        assert!(BackupContents::from_json(json.as_bytes()).is_err());
    }
}
