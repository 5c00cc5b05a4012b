//! The key transparency log ([PROTOCOL.md §25]): every identity key a user had and every
//! device certified for them, appended to an RFC 6962 Merkle tree whose head the server
//! signs as a C2SP checkpoint. A client keeps the last head it accepted, refuses a head
//! that does not extend it (consistency proof), and uses an identity key or a device
//! certificate only once a proof shows it is in the log (inclusion proof). Since old
//! identities stay in the log, a message signed by a device certified under a previous
//! identity still verifies after an identity reset.
//!
//! [PROTOCOL.md §25]: ../../../docs/PROTOCOL.md

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::digest;
use ring::signature::{UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::device::DeviceCertificate;
use super::encoding::CanonicalBytes;
use super::keys::{DevicePublicKeys, IdentityPublicKey};
use super::merkle::{self, Hash};

/// Label of a log entry's canonical byte string.
pub const KEY_LOG_ENTRY_LABEL: &str = "passerelle/v1/key-log-entry";

/// What an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyLogKind {
    /// A user's identity key, first published or after a reset: the current one is the
    /// user's last `identity` entry.
    Identity,
    /// A device certified by the identity key the entry names.
    DeviceAdded,
    /// That device revoked.
    DeviceRevoked,
}

impl KeyLogKind {
    /// The name in the entry's bytes and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyLogKind::Identity => "identity",
            KeyLogKind::DeviceAdded => "device_added",
            KeyLogKind::DeviceRevoked => "device_revoked",
        }
    }
}

/// A device as the log names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggedDevice {
    /// Its id.
    pub device_id: String,
    /// Its public keys, as in its certificate.
    pub keys: DevicePublicKeys,
}

/// One entry of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyLogEntry {
    /// What it records.
    pub kind: KeyLogKind,
    /// Whose key.
    pub user_id: String,
    /// The identity key (for a device: the one that certified it).
    pub identity_key: IdentityPublicKey,
    /// The device, for `device_added` and `device_revoked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<LoggedDevice>,
}

impl KeyLogEntry {
    /// `CB("passerelle/v1/key-log-entry", kind, user_id, identity_key, device_id,
    /// signing_key, agreement_key)`, the device fields empty for an identity entry.
    pub fn to_bytes(&self) -> Vec<u8> {
        let cb = CanonicalBytes::new(KEY_LOG_ENTRY_LABEL)
            .field(self.kind.as_str().as_bytes())
            .field(self.user_id.as_bytes())
            .field(self.identity_key.as_bytes());
        match &self.device {
            Some(device) => cb
                .field(device.device_id.as_bytes())
                .field(device.keys.signing.as_bytes())
                .field(device.keys.agreement.as_bytes()),
            None => cb.field(b"").field(b"").field(b""),
        }
        .finish()
    }

    /// Its Merkle leaf: `SHA-256(0x00 ‖ bytes)`.
    pub fn leaf_hash(&self) -> Hash {
        merkle::leaf_hash(&self.to_bytes())
    }
}

/// Why a client refuses what the server says about keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyLogError {
    /// The checkpoint is not a signed note of the expected log.
    #[error("the key log's checkpoint is malformed or not signed by the log's key")]
    BadCheckpoint,
    /// The new head does not extend the one seen before.
    #[error("the key log's head of size {new_size} does not extend the one of size {old_size} seen before")]
    Inconsistent {
        /// The size seen before.
        old_size: u64,
        /// The size served now.
        new_size: u64,
    },
    /// An entry's inclusion proof does not lead to the head.
    #[error("entry {0} of the key log is not under the head")]
    NotIncluded(u64),
    /// The identity key served for a user is not their last logged identity.
    #[error("the identity key served for {0} is not the one in the key log")]
    IdentityNotLogged(String),
    /// A device certificate served is not in the log (or under another identity).
    #[error("the device {0} is not in the key log")]
    DeviceNotLogged(String),
    /// The directory serves as live a device whose revocation the log shows.
    #[error("the device {0} is revoked in the key log but served as live")]
    RevocationHidden(String),
    /// The directory leaves out a live device the log shows under the current identity.
    #[error("the device {0} of the key log is hidden by the directory")]
    DeviceHidden(String),
    /// An entry is malformed or out of place (a device kind without a device, an index
    /// out of order).
    #[error("entry {0} of the key log is malformed or out of order")]
    Malformed(u64),
    /// The entries served do not make the tree of the signed head: some are missing,
    /// added or changed.
    #[error("the key log's entries do not make its signed head of size {0}")]
    Incomplete(u64),
    /// Another client accepted a head that this client's does not agree with: the
    /// server shows different logs to different clients.
    #[error("the key log head of size {theirs} seen by another client disagrees with this one's of size {mine}")]
    SplitView {
        /// This client's head size.
        mine: u64,
        /// The other client's.
        theirs: u64,
    },
}

/// The log's verifier key, C2SP form `<name>+<hex key hash>+<base64(0x01 ‖ key)>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyLogVerifier {
    name: String,
    hash: [u8; 4],
    public: Vec<u8>,
}

fn key_hash(name: &str, public: &[u8]) -> [u8; 4] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(name.as_bytes());
    ctx.update(b"\n");
    ctx.update(&[0x01]);
    ctx.update(public);
    let mut out = [0u8; 4];
    out.copy_from_slice(&ctx.finish().as_ref()[..4]);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl KeyLogVerifier {
    /// Parses a verifier key; only Ed25519 note keys (type 0x01).
    pub fn parse(text: &str) -> Result<KeyLogVerifier, KeyLogError> {
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(KeyLogError::BadCheckpoint);
        };
        let key = B64.decode(key).map_err(|_| KeyLogError::BadCheckpoint)?;
        let Some((&0x01, public)) = key.split_first() else {
            return Err(KeyLogError::BadCheckpoint);
        };
        if name.is_empty() || public.len() != 32 || hex(&key_hash(name, public)) != hash {
            return Err(KeyLogError::BadCheckpoint);
        }
        Ok(KeyLogVerifier {
            name: name.to_owned(),
            hash: key_hash(name, public),
            public: public.to_vec(),
        })
    }

    /// The log's origin (the key's name).
    pub fn origin(&self) -> &str {
        &self.name
    }

    /// Checks the signed note `note` (a checkpoint, then a blank line and signature
    /// lines): one line must be this key's signature of the body, and the body's origin
    /// this key's name.
    pub fn open(&self, note: &str) -> Result<Checkpoint, KeyLogError> {
        let split = note.rfind("\n\n").ok_or(KeyLogError::BadCheckpoint)?;
        let body = &note[..=split];
        let signed = note[split + 2..].lines().any(|line| {
            let Some(rest) = line.strip_prefix("\u{2014} ") else {
                return false;
            };
            let Some((name, sig)) = rest.split_once(' ') else {
                return false;
            };
            let Ok(bytes) = B64.decode(sig) else {
                return false;
            };
            name == self.name
                && bytes.len() == 4 + 64
                && bytes[..4] == self.hash
                && UnparsedPublicKey::new(&ED25519, &self.public)
                    .verify(body.as_bytes(), &bytes[4..])
                    .is_ok()
        });
        if !signed {
            return Err(KeyLogError::BadCheckpoint);
        }
        let checkpoint = Checkpoint::parse(body).ok_or(KeyLogError::BadCheckpoint)?;
        if checkpoint.origin != self.name {
            return Err(KeyLogError::BadCheckpoint);
        }
        Ok(checkpoint)
    }
}

/// A checkpoint body: `<origin>\n<size>\n<base64 root>\n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root of the tree of that size.
    pub root: Hash,
}

impl Checkpoint {
    /// The body's text.
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Parses a body (extension lines after the root are ignored).
    pub fn parse(body: &str) -> Option<Checkpoint> {
        let mut lines = body.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty())?;
        let size_text = lines.next()?;
        if size_text.len() > 1 && size_text.starts_with('0') {
            return None;
        }
        let size = size_text.parse::<u64>().ok()?;
        let root: Hash = B64.decode(lines.next()?).ok()?.try_into().ok()?;
        body.ends_with('\n').then(|| Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

/// The head a client accepted last, kept between runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyLogHead {
    /// The log's verifier key (pinned on first use).
    pub verifier: String,
    /// Tree size.
    pub size: u64,
    /// Root, base64.
    pub root: String,
}

/// Decodes base64 hashes as proofs carry them.
pub fn decode_proof(proof: &[String]) -> Option<Vec<Hash>> {
    proof
        .iter()
        .map(|h| B64.decode(h).ok()?.try_into().ok())
        .collect()
}

/// Base64 of a hash, as checkpoints and proofs write it.
pub fn encode_hash(hash: &Hash) -> String {
    B64.encode(hash)
}

/// Accepts `new` if it extends `old` (the head seen before, if any): same size and root,
/// or a larger tree whose consistency `proof` verifies. A smaller tree is refused.
pub fn check_consistency(
    old: Option<(u64, Hash)>,
    new: &Checkpoint,
    proof: &[Hash],
) -> Result<(), KeyLogError> {
    let Some((old_size, old_root)) = old else {
        return Ok(());
    };
    let consistent = if old_size == new.size {
        old_root == new.root
    } else {
        old_size < new.size
            && merkle::verify_consistency(old_size, new.size, &old_root, &new.root, proof)
    };
    if consistent {
        Ok(())
    } else {
        Err(KeyLogError::Inconsistent {
            old_size,
            new_size: new.size,
        })
    }
}

/// An identity key of a user, where the log has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedIdentity {
    /// The key.
    pub key: IdentityPublicKey,
    /// Its entry's index.
    pub index: u64,
    /// When it was appended (unix ms, the server's word; 0 when not known).
    pub at: i64,
}

/// A device of a user, where the log has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedDeviceState {
    /// The identity key that certified it.
    pub identity: IdentityPublicKey,
    /// Its public keys.
    pub keys: DevicePublicKeys,
    /// The index of its `device_added` entry.
    pub index: u64,
    /// When it was added (unix ms, the server's word; 0 when not known).
    pub at: i64,
    /// The index of its `device_revoked` entry, once revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<u64>,
}

/// What the log proves about one user's keys: their identity keys in order (the last is
/// the current one) and their devices, each with the identity that certified it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedKeys {
    identities: Vec<LoggedIdentity>,
    devices: BTreeMap<String, LoggedDeviceState>,
}

/// How a device certificate stands in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedCertificate {
    /// The identity key that certified it (and under which its certificate verifies).
    pub identity: IdentityPublicKey,
    /// Whether that identity is not the user's current one: the device belonged to a
    /// previous identity (« envoyé avec une ancienne clé »).
    pub old_identity: bool,
    /// Whether the log records its revocation.
    pub revoked: bool,
}

impl LoggedKeys {
    /// Checks every entry's inclusion proof against `head` and gathers what they prove
    /// about `user_id` (entries of anyone else are refused). This checks one user's
    /// entries as the server lists them, not that the list is complete: clients audit
    /// the whole log instead ([`AuditedLog`]); kept for programs that check one user.
    pub fn verify(
        user_id: &str,
        head: &Checkpoint,
        entries: &[(u64, KeyLogEntry, Vec<Hash>)],
    ) -> Result<LoggedKeys, KeyLogError> {
        let mut keys = LoggedKeys::default();
        let mut sorted: Vec<&(u64, KeyLogEntry, Vec<Hash>)> = entries.iter().collect();
        sorted.sort_by_key(|(index, _, _)| *index);
        for (index, entry, proof) in sorted {
            if entry.user_id != user_id
                || !merkle::verify_inclusion(
                    *index,
                    head.size,
                    &entry.leaf_hash(),
                    proof,
                    &head.root,
                )
            {
                return Err(KeyLogError::NotIncluded(*index));
            }
            keys.apply(*index, 0, entry)
                .map_err(|_| KeyLogError::NotIncluded(*index))?;
        }
        Ok(keys)
    }

    /// Takes one entry of the user's into account.
    fn apply(&mut self, index: u64, at: i64, entry: &KeyLogEntry) -> Result<(), KeyLogError> {
        match (entry.kind, &entry.device) {
            (KeyLogKind::Identity, None) => self.identities.push(LoggedIdentity {
                key: entry.identity_key.clone(),
                index,
                at,
            }),
            (KeyLogKind::DeviceAdded, Some(device)) => {
                self.devices.insert(
                    device.device_id.clone(),
                    LoggedDeviceState {
                        identity: entry.identity_key.clone(),
                        keys: device.keys.clone(),
                        index,
                        at,
                        revoked: None,
                    },
                );
            }
            (KeyLogKind::DeviceRevoked, Some(device)) => {
                if let Some(found) = self.devices.get_mut(&device.device_id) {
                    found.revoked.get_or_insert(index);
                }
            }
            _ => return Err(KeyLogError::Malformed(index)),
        }
        Ok(())
    }

    /// The user's current identity key, if the log has one.
    pub fn current_identity(&self) -> Option<&IdentityPublicKey> {
        self.identities.last().map(|i| &i.key)
    }

    /// Every identity key the user had, oldest first, with where the log has it.
    pub fn identities(&self) -> &[LoggedIdentity] {
        &self.identities
    }

    /// Every device the log shows for the user, by id.
    pub fn devices(&self) -> &BTreeMap<String, LoggedDeviceState> {
        &self.devices
    }

    /// Refuses an identity key served for `user_id` that is not their last logged one.
    pub fn check_identity(
        &self,
        user_id: &str,
        served: &IdentityPublicKey,
    ) -> Result<(), KeyLogError> {
        if self.current_identity() == Some(served) {
            Ok(())
        } else {
            Err(KeyLogError::IdentityNotLogged(user_id.to_owned()))
        }
    }

    /// Where `certificate` stands: it must be logged with the same keys, under an
    /// identity of the user's that is logged too, and verify under it.
    pub fn certificate(
        &self,
        certificate: &DeviceCertificate,
    ) -> Result<LoggedCertificate, KeyLogError> {
        let refused = || KeyLogError::DeviceNotLogged(certificate.device_id.clone());
        let device = self
            .devices
            .get(&certificate.device_id)
            .ok_or_else(refused)?;
        if device.keys != certificate.keys
            || !self.identities.iter().any(|i| i.key == device.identity)
            || certificate.verify(&device.identity).is_err()
        {
            return Err(refused());
        }
        Ok(LoggedCertificate {
            identity: device.identity.clone(),
            old_identity: self.current_identity() != Some(&device.identity),
            revoked: device.revoked.is_some(),
        })
    }

    /// Checks what the directory serves for the user against what the log showed
    /// before the directory was read (entries below `seen`, the size audited then):
    /// a device the log shows revoked must be served revoked, and every device the log
    /// shows live under the current identity must be served. `served` is each served
    /// device's id with whether the directory marks it revoked.
    pub fn check_served_devices<'a>(
        &self,
        seen: u64,
        served: impl IntoIterator<Item = (&'a str, bool)>,
    ) -> Result<(), KeyLogError> {
        let served: BTreeMap<&str, bool> = served.into_iter().collect();
        for (id, device) in &self.devices {
            let revoked_before = device.revoked.is_some_and(|i| i < seen);
            match served.get(id.as_str()) {
                Some(false) if revoked_before => {
                    return Err(KeyLogError::RevocationHidden(id.clone()))
                }
                None if device.index < seen
                    && device.revoked.is_none()
                    && Some(&device.identity) == self.current_identity() =>
                {
                    return Err(KeyLogError::DeviceHidden(id.clone()))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// A change of one's own account that this client did not make nor approve: a device
/// added, or an identity key published, after the device this client runs was added
/// (docs/PROTOCOL.md §25.4, self-monitoring).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountChange {
    /// The entry's index.
    pub index: u64,
    /// When the server says it was appended (unix ms).
    pub at: i64,
    /// The device added, or `None` for a new identity key.
    pub device_id: Option<String>,
}

/// The whole log as a client audited it: the right edge of its Merkle tree, enough to
/// extend it with the next entries and recompute the root, and what the entries say,
/// per user. A few thousand entries at a CLSPD's scale, so a client keeps all of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditedLog {
    frontier: merkle::Frontier,
    users: BTreeMap<String, LoggedKeys>,
}

impl AuditedLog {
    /// How many entries were audited.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The root of the audited entries' tree.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// Appends the entry of index `index` (which must be the next one).
    pub fn push(&mut self, index: u64, at: i64, entry: &KeyLogEntry) -> Result<(), KeyLogError> {
        if index != self.size() {
            return Err(KeyLogError::Malformed(index));
        }
        self.users
            .entry(entry.user_id.clone())
            .or_default()
            .apply(index, at, entry)?;
        self.frontier.push(entry.leaf_hash());
        Ok(())
    }

    /// What the audited entries say about `user_id` (nothing, if none is theirs).
    pub fn user(&self, user_id: &str) -> LoggedKeys {
        self.users.get(user_id).cloned().unwrap_or_default()
    }

    /// The changes of `user_id`'s account that `device_id` (the device this client
    /// runs) did not make: every identity entry after that device's `device_added`
    /// entry, and every device added after it that is not in `known` (the devices this
    /// client certified or saw certified while linking). Empty while the log does not
    /// show the device: entries before it are the account's history when it joined.
    pub fn unknown_changes(
        &self,
        user_id: &str,
        device_id: &str,
        known: &std::collections::BTreeSet<String>,
    ) -> Vec<AccountChange> {
        let Some(keys) = self.users.get(user_id) else {
            return Vec::new();
        };
        let Some(mine) = keys.devices.get(device_id) else {
            return Vec::new();
        };
        let identities = keys
            .identities
            .iter()
            .filter(|i| i.index > mine.index)
            .map(|i| AccountChange {
                index: i.index,
                at: i.at,
                device_id: None,
            });
        let devices = keys
            .devices
            .iter()
            .filter(|(id, d)| d.index > mine.index && !known.contains(id.as_str()))
            .map(|(id, d)| AccountChange {
                index: d.index,
                at: d.at,
                device_id: Some(id.clone()),
            });
        let mut changes: Vec<AccountChange> = identities.chain(devices).collect();
        changes.sort_by_key(|c| c.index);
        changes
    }
}

/// A head as a message's sealed content carries it (docs/PROTOCOL.md §8.2, §27): the
/// size and root of the key log its sender accepted, so that receivers can tell whether
/// the server shows everyone the same log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Zeroize)]
pub struct GossipedHead {
    /// Tree size.
    pub size: u64,
    /// Root, base64url.
    #[serde(with = "super::encoding::b64_array")]
    pub root: Hash,
}

/// Checks a head another client accepted (`theirs`) against this client's (`mine`):
/// the same size must have the same root, and the smaller tree must be extended by the
/// larger through `proof` (the consistency proof between the two sizes). Otherwise the
/// server shows two different logs.
pub fn check_gossiped_head(
    mine: (u64, &Hash),
    theirs: &GossipedHead,
    proof: &[Hash],
) -> Result<(), KeyLogError> {
    let (size, root) = mine;
    let agree = if theirs.size == size {
        &theirs.root == root
    } else if theirs.size < size {
        merkle::verify_consistency(theirs.size, size, &theirs.root, root, proof)
    } else {
        merkle::verify_consistency(size, theirs.size, root, &theirs.root, proof)
    };
    if agree {
        Ok(())
    } else {
        Err(KeyLogError::SplitView {
            mine: size,
            theirs: theirs.size,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::crypto::test_support::{hex, to_hex};
    use crate::crypto::{DeviceCertificateRequest, DeviceKeys, IdentityKeyPair};

    fn vectors() -> Value {
        serde_json::from_str(include_str!("../../vectors/key_log.json")).unwrap()
    }

    fn hashes(value: &Value) -> Vec<Hash> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|h| hex(h.as_str().unwrap()).try_into().unwrap())
            .collect()
    }

    fn hash(value: &Value) -> Hash {
        hex(value.as_str().unwrap()).try_into().unwrap()
    }

    #[test]
    fn the_vectors_entries_roots_and_proofs_verify() {
        let v = vectors();
        let mut leaves = Vec::new();
        for item in v["entries"].as_array().unwrap() {
            let entry: KeyLogEntry = serde_json::from_value(item["entry"].clone()).unwrap();
            assert_eq!(
                to_hex(&entry.to_bytes()),
                item["bytes_hex"].as_str().unwrap()
            );
            assert_eq!(
                to_hex(&entry.leaf_hash()),
                item["leaf_hash_hex"].as_str().unwrap()
            );
            leaves.push(entry.leaf_hash());
        }
        let roots: Vec<Hash> = hashes(&v["roots_hex"]);
        for (size, root) in roots.iter().enumerate() {
            assert_eq!(&merkle::root(&leaves[..size]), root);
        }
        // The audit of the whole log (§25.4) makes the same roots, also from its stored
        // form; and heads of one log are told from split ones (§27).
        let mut audit = AuditedLog::default();
        assert_eq!(audit.root(), roots[0]);
        for (i, item) in v["entries"].as_array().unwrap().iter().enumerate() {
            let entry: KeyLogEntry = serde_json::from_value(item["entry"].clone()).unwrap();
            audit.push(i as u64, i as i64, &entry).unwrap();
            assert_eq!(audit.root(), roots[i + 1]);
        }
        let stored: AuditedLog =
            serde_json::from_str(&serde_json::to_string(&audit).unwrap()).unwrap();
        assert_eq!(stored, audit);
        for item in v["consistency"].as_array().unwrap() {
            let (from, to) = (item["from"].as_u64().unwrap(), item["to"].as_u64().unwrap());
            let theirs = GossipedHead {
                size: from,
                root: roots[from as usize],
            };
            check_gossiped_head(
                (to, &roots[to as usize]),
                &theirs,
                &hashes(&item["proof_hex"]),
            )
            .unwrap();
        }
        let split = GossipedHead {
            size: 2,
            root: roots[1],
        };
        assert!(check_gossiped_head((2, &roots[2]), &split, &[]).is_err());
        for item in v["inclusion"].as_array().unwrap() {
            let (index, size) = (
                item["index"].as_u64().unwrap(),
                item["size"].as_u64().unwrap(),
            );
            let proof = hashes(&item["proof_hex"]);
            assert!(merkle::verify_inclusion(
                index,
                size,
                &leaves[index as usize],
                &proof,
                &roots[size as usize]
            ));
        }
        for item in v["consistency"].as_array().unwrap() {
            let (from, to) = (item["from"].as_u64().unwrap(), item["to"].as_u64().unwrap());
            let proof = hashes(&item["proof_hex"]);
            let new = Checkpoint {
                origin: "o".into(),
                size: to,
                root: roots[to as usize],
            };
            check_consistency(Some((from, roots[from as usize])), &new, &proof).unwrap();
        }
        let n = leaves.len();
        for item in v["rejected_inclusion"].as_array().unwrap() {
            let index = item["index"].as_u64().unwrap();
            let leaf = leaves.get(index as usize).copied().unwrap_or([0; 32]);
            assert!(
                !merkle::verify_inclusion(
                    index,
                    n as u64,
                    &leaf,
                    &hashes(&item["proof_hex"]),
                    &roots[n]
                ),
                "{}",
                item["why"]
            );
        }
        for item in v["rejected_consistency"].as_array().unwrap() {
            let from = item["from"].as_u64().unwrap();
            let old = item.get("old_root_hex").map_or(roots[from as usize], hash);
            let new = Checkpoint {
                origin: "o".into(),
                size: n as u64,
                root: roots[n],
            };
            assert!(
                check_consistency(Some((from, old)), &new, &hashes(&item["proof_hex"])).is_err(),
                "{}",
                item["why"]
            );
        }
    }

    #[test]
    fn the_vectors_checkpoint_opens_and_the_forged_ones_do_not() {
        let v = vectors();
        let verifier =
            KeyLogVerifier::parse(v["checkpoint"]["verifier_key"].as_str().unwrap()).unwrap();
        let checkpoint = verifier
            .open(v["checkpoint"]["note"].as_str().unwrap())
            .unwrap();
        assert_eq!(checkpoint.size, v["checkpoint"]["size"].as_u64().unwrap());
        assert_eq!(checkpoint.root, hash(&v["checkpoint"]["root_hex"]));
        assert_eq!(
            checkpoint.to_text(),
            v["checkpoint"]["body"].as_str().unwrap()
        );
        let plus = &v["checkpoint_key_with_plus"];
        let other = KeyLogVerifier::parse(plus["verifier_key"].as_str().unwrap()).unwrap();
        assert_eq!(
            other.open(plus["note"].as_str().unwrap()).unwrap(),
            checkpoint
        );
        for item in v["rejected_checkpoints"].as_array().unwrap() {
            assert_eq!(
                verifier.open(item["note"].as_str().unwrap()),
                Err(KeyLogError::BadCheckpoint),
                "{}",
                item["why"]
            );
        }
        // A shrinking or forked head is refused.
        let roots = hashes(&v["roots_hex"]);
        let smaller = Checkpoint {
            origin: "o".into(),
            size: 3,
            root: roots[3],
        };
        assert!(check_consistency(Some((4, roots[4])), &smaller, &[]).is_err());
        let forked = Checkpoint {
            origin: "o".into(),
            size: 4,
            root: roots[3],
        };
        assert!(check_consistency(Some((4, roots[4])), &forked, &[]).is_err());
    }

    /// What a client concludes from a user's entries: the current identity, a device of
    /// the previous identity (old key), a device outside the log, a swapped identity.
    #[test]
    fn logged_keys_tell_old_identities_from_keys_outside_the_log() {
        let old = IdentityKeyPair::generate().unwrap();
        let new = IdentityKeyPair::generate().unwrap();
        let certify = |identity: &IdentityKeyPair, id: &str| {
            let keys = DeviceKeys::generate().unwrap();
            let request =
                DeviceCertificateRequest::new("u-1", id, identity.public_key(), &keys).unwrap();
            identity.certify(&request).unwrap()
        };
        let laptop = certify(&old, "d-1");
        let tablet = certify(&new, "d-2");
        let ghost = certify(&new, "d-3");
        let device = |kind, identity: &IdentityKeyPair, c: &DeviceCertificate| KeyLogEntry {
            kind,
            user_id: "u-1".into(),
            identity_key: identity.public_key().clone(),
            device: Some(LoggedDevice {
                device_id: c.device_id.clone(),
                keys: c.keys.clone(),
            }),
        };
        let identity = |identity: &IdentityKeyPair| KeyLogEntry {
            kind: KeyLogKind::Identity,
            user_id: "u-1".into(),
            identity_key: identity.public_key().clone(),
            device: None,
        };
        let entries = [
            identity(&old),
            device(KeyLogKind::DeviceAdded, &old, &laptop),
            device(KeyLogKind::DeviceRevoked, &old, &laptop),
            identity(&new),
            device(KeyLogKind::DeviceAdded, &new, &tablet),
        ];
        let leaves: Vec<Hash> = entries.iter().map(KeyLogEntry::leaf_hash).collect();
        let head = Checkpoint {
            origin: "o".into(),
            size: leaves.len() as u64,
            root: merkle::root(&leaves),
        };
        let with_proofs: Vec<_> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                (
                    i as u64,
                    e.clone(),
                    merkle::inclusion_proof(i, &leaves).unwrap(),
                )
            })
            .collect();
        let logged = LoggedKeys::verify("u-1", &head, &with_proofs).unwrap();
        // The audit of the whole log says the same, and makes the same root.
        let mut audit = AuditedLog::default();
        for (i, e) in entries.iter().enumerate() {
            audit.push(i as u64, 10 + i as i64, e).unwrap();
        }
        assert_eq!(audit.root(), head.root);
        assert_eq!(
            audit.user("u-1").certificate(&laptop),
            logged.certificate(&laptop)
        );
        assert_eq!(
            audit.push(7, 0, &entries[0]),
            Err(KeyLogError::Malformed(7)),
            "out of order"
        );
        logged.check_identity("u-1", new.public_key()).unwrap();
        assert_eq!(
            logged.check_identity("u-1", old.public_key()),
            Err(KeyLogError::IdentityNotLogged("u-1".into()))
        );
        let status = logged.certificate(&laptop).unwrap();
        assert!(status.old_identity && status.revoked);
        assert_eq!(&status.identity, old.public_key());
        let status = logged.certificate(&tablet).unwrap();
        assert!(!status.old_identity && !status.revoked);
        assert_eq!(
            logged.certificate(&ghost),
            Err(KeyLogError::DeviceNotLogged("d-3".into()))
        );
        // The directory must serve the logged revocation, and every live device of
        // the current identity, as far as the log was audited before it answered.
        let d1 = laptop.device_id.as_str();
        let d2 = tablet.device_id.as_str();
        let all = head.size;
        logged
            .check_served_devices(all, [(d1, true), (d2, false)])
            .unwrap();
        assert_eq!(
            logged.check_served_devices(all, [(d1, false), (d2, false)]),
            Err(KeyLogError::RevocationHidden("d-1".into()))
        );
        assert_eq!(
            logged.check_served_devices(all, [(d1, true)]),
            Err(KeyLogError::DeviceHidden("d-2".into()))
        );
        // Entries appended after the directory answered are not held against it.
        logged.check_served_devices(2, [(d1, false)]).unwrap();
        // Self-monitoring from the laptop: the later identity and the tablet, unknown;
        // from the tablet: nothing; with the tablet certified by the laptop: the identity.
        let none = std::collections::BTreeSet::new();
        let changes = audit.unknown_changes("u-1", "d-1", &none);
        let named: Vec<(u64, Option<&str>)> = changes
            .iter()
            .map(|c| (c.index, c.device_id.as_deref()))
            .collect();
        assert_eq!(named, [(3, None), (4, Some("d-2"))]);
        assert_eq!(changes[1].at, 14);
        assert!(audit.unknown_changes("u-1", "d-2", &none).is_empty());
        let known = std::collections::BTreeSet::from(["d-2".to_owned()]);
        assert_eq!(audit.unknown_changes("u-1", "d-1", &known).len(), 1);
        assert!(audit.unknown_changes("u-1", "d-9", &none).is_empty());
        // Gossiped heads: same size same root, or a consistency proof either way.
        let small = merkle::root(&leaves[..3]);
        let theirs = GossipedHead {
            size: 3,
            root: small,
        };
        let proof = merkle::consistency_proof(3, &leaves).unwrap();
        check_gossiped_head((head.size, &head.root), &theirs, &proof).unwrap();
        let mine_small = GossipedHead {
            size: head.size,
            root: head.root,
        };
        check_gossiped_head((3, &small), &mine_small, &proof).unwrap();
        assert!(check_gossiped_head(
            (3, &small),
            &GossipedHead {
                size: 3,
                root: head.root
            },
            &[]
        )
        .is_err());
        assert!(check_gossiped_head(
            (head.size, &head.root),
            &GossipedHead {
                size: 3,
                root: head.root
            },
            &proof
        )
        .is_err());
        // Someone else's entry, or a proof that does not lead to the head, is refused.
        assert!(LoggedKeys::verify("u-2", &head, &with_proofs).is_err());
        let mut broken = with_proofs.clone();
        broken[1].0 = 2;
        assert_eq!(
            LoggedKeys::verify("u-1", &head, &broken).err(),
            Some(KeyLogError::NotIncluded(2))
        );
    }
}
