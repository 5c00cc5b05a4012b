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

/// What the log proves about one user's keys: their identity keys in order (the last is
/// the current one) and their devices, each with the identity that certified it.
#[derive(Clone, Debug, Default)]
pub struct LoggedKeys {
    identities: Vec<IdentityPublicKey>,
    devices: BTreeMap<String, (IdentityPublicKey, DevicePublicKeys, bool)>,
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
    /// about `user_id` (entries of anyone else are refused).
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
            match (entry.kind, &entry.device) {
                (KeyLogKind::Identity, _) => keys.identities.push(entry.identity_key.clone()),
                (KeyLogKind::DeviceAdded, Some(device)) => {
                    keys.devices.insert(
                        device.device_id.clone(),
                        (entry.identity_key.clone(), device.keys.clone(), false),
                    );
                }
                (KeyLogKind::DeviceRevoked, Some(device)) => {
                    if let Some(found) = keys.devices.get_mut(&device.device_id) {
                        found.2 = true;
                    }
                }
                (_, None) => return Err(KeyLogError::NotIncluded(*index)),
            }
        }
        Ok(keys)
    }

    /// The user's current identity key, if the log has one.
    pub fn current_identity(&self) -> Option<&IdentityPublicKey> {
        self.identities.last()
    }

    /// Every identity key the user had, oldest first.
    pub fn identities(&self) -> &[IdentityPublicKey] {
        &self.identities
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
        let (identity, keys, revoked) = self
            .devices
            .get(&certificate.device_id)
            .ok_or_else(refused)?;
        if keys != &certificate.keys
            || !self.identities.contains(identity)
            || certificate.verify(identity).is_err()
        {
            return Err(refused());
        }
        Ok(LoggedCertificate {
            identity: identity.clone(),
            old_identity: self.current_identity() != Some(identity),
            revoked: *revoked,
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
