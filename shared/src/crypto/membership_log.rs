//! The signed membership log of a channel ([PROTOCOL.md §22](../../../docs/PROTOCOL.md)).
//!
//! Without it the member list is the server's word, and a malicious server could add a
//! reader to a channel by listing one more member. Here every membership change is a
//! [`MembershipRecord`] signed by the device of the person who made it, hash-chained to
//! the previous record and bound to the channel and its epoch. A client checks the whole
//! chain from its first record ([`verify_log`]), under device certificates it verified
//! itself, and derives the member set from it ([`MembershipState`]); it wraps epoch keys
//! only for members of that set. The server runs the same checks before storing a
//! record, and refuses one that does not extend the chain.
//!
//! Who may do what, as the log sees it: the first record (`genesis`) lists the members
//! and, among them, the coordinators, and is signed by one of those members; a
//! coordinator adds (making the newcomer a coordinator or not), removes and changes
//! roles; a member leaves by a record of their own. On a case, a coordinator also names
//! the referent (`role_changed` with role `referent`, one subject): the signed log, not
//! the server, then says who may read the person's identity (§19).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::encoding::{self, b64_array, check_epoch, check_id, label, CanonicalBytes, Version1};
use super::keys::{DeviceKeys, DeviceSigningPublicKey, Signature};
use super::primitives::sha256;

/// Longest list of subjects (or coordinators) one record names.
pub const MAX_LOG_SUBJECTS: usize = 1000;

/// The kinds of record, by their stable names.
pub const LOG_KINDS: [&str; 5] = ["genesis", "added", "removed", "left", "role_changed"];

/// Removal reasons a signed record may carry (a closed list: never the coordinator's
/// free-text motif, CHARTER.md C3): `coordinator`, a coordinator's own removal;
/// [`LOG_SERVER_REMOVAL`], a coordinator ratifying a removal the server made by itself.
pub const LOG_REMOVAL_REASONS: [&str; 2] = ["coordinator", LOG_SERVER_REMOVAL];

/// The reason of a `removed` record by which a coordinator ratifies a removal the server
/// made by itself (a regime lost, §15.2): the server holds no device key, so it cannot
/// sign one, and without it the log would keep naming someone who is no longer a member.
pub const LOG_SERVER_REMOVAL: &str = "server";

/// Roles a record may give.
pub const LOG_ROLES: [&str; 2] = ["coordinator", "member"];

/// The role a `role_changed` record gives to name a case's referent (one subject, who
/// replaces the previous referent; an addition never carries it).
pub const LOG_REFERENT: &str = "referent";

/// The hash of a record, which the next record names as `prev`.
pub type RecordHash = [u8; 32];

/// One signed membership change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipRecord {
    /// Always 1.
    pub v: Version1,
    /// The channel.
    #[serde(with = "encoding::id")]
    pub channel_id: String,
    /// Position in the channel's log: 1 for the genesis, then one more each record.
    #[serde(with = "encoding::safe_int")]
    pub seq: u64,
    /// The hash of the previous record (32 zero bytes for the genesis).
    #[serde(with = "b64_array")]
    pub prev: RecordHash,
    /// The channel's current epoch when the change was made (the change ends it).
    #[serde(with = "encoding::safe_int")]
    pub epoch: u64,
    /// Who made the change.
    #[serde(with = "encoding::id")]
    pub actor: String,
    /// The device that signed it, certified by the actor's identity.
    #[serde(with = "encoding::id")]
    pub actor_device: String,
    /// One of [`LOG_KINDS`].
    pub kind: String,
    /// The members concerned (the whole member set for the genesis).
    pub subjects: Vec<String>,
    /// For the genesis: the members who coordinate the channel. Empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coordinators: Vec<String>,
    /// For a removal: one of [`LOG_REMOVAL_REASONS`]. Empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// For an addition (optional) and a role change: one of [`LOG_ROLES`]; a role change
    /// may also be [`LOG_REFERENT`].
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub role: String,
    /// When, in Unix milliseconds, by the actor's clock.
    #[serde(with = "encoding::safe_int")]
    pub at: u64,
    /// The actor device's signature over [`MembershipRecord::signed_bytes`].
    pub signature: Signature,
}

/// What a record says, before it is signed.
#[derive(Debug, Clone, Default)]
pub struct RecordBody {
    /// The channel.
    pub channel_id: String,
    /// Its position.
    pub seq: u64,
    /// The previous record's hash.
    pub prev: RecordHash,
    /// The channel's current epoch.
    pub epoch: u64,
    /// Who makes the change.
    pub actor: String,
    /// The signing device.
    pub actor_device: String,
    /// The kind.
    pub kind: String,
    /// The members concerned.
    pub subjects: Vec<String>,
    /// The genesis's coordinators.
    pub coordinators: Vec<String>,
    /// A removal's reason.
    pub reason: String,
    /// The role given.
    pub role: String,
    /// When.
    pub at: u64,
}

/// Why a record or a log is refused. [`LogError::code`] is the stable code of the vectors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The record is malformed: an unknown kind, reason or role, a bad identifier, a
    /// field its kind does not allow, or a subject listed twice.
    #[error("malformed membership record: {0}")]
    Malformed(&'static str),
    /// The record does not extend the chain: wrong channel, position or previous hash.
    #[error("the membership record does not extend the log")]
    BrokenChain,
    /// The signature does not verify, or the device is not a verified device of the actor.
    #[error("the membership record's signature does not verify")]
    BadSignature,
    /// The actor may not make this change (not a coordinator, not a member, or a
    /// departure signed by someone else).
    #[error("the actor may not make this membership change")]
    NotAllowed,
    /// The change contradicts the member set (adding a member, removing a non-member).
    #[error("the membership record contradicts the member set")]
    Inconsistent,
    /// Signing failed in the cryptographic backend.
    #[error("signing failed")]
    Backend,
    /// The log served ends before the head this client verified earlier, or is gone
    /// altogether: the server rolled it back or hides its newest records (§22.6).
    #[error("the membership log served ends before the head verified earlier")]
    RolledBack,
    /// The log served ends before a head a member's message named: the server hides
    /// records from this client that it showed to that member.
    #[error("the membership log served ends before a head a member has seen")]
    Hidden,
    /// The log served has another record where a head seen before (here or by a member)
    /// stood: the server shows different branches to different members.
    #[error("the membership log served is another branch than one seen before")]
    Forked,
}

impl LogError {
    /// The stable code of this refusal.
    pub fn code(&self) -> &'static str {
        match self {
            LogError::Malformed(_) => "malformed",
            LogError::BrokenChain => "broken_chain",
            LogError::BadSignature => "bad_signature",
            LogError::NotAllowed => "not_coordinator",
            LogError::Inconsistent => "inconsistent",
            LogError::Backend => "backend",
            LogError::RolledBack => "log_rolled_back",
            LogError::Hidden => "log_hidden",
            LogError::Forked => "log_forked",
        }
    }
}

/// Encodes a list of identifiers as one field: each one length-prefixed, so that the
/// field (itself length-prefixed) has one reading only.
fn id_list(ids: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for id in ids {
        let len = u32::try_from(id.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(id.as_bytes());
    }
    out
}

impl RecordBody {
    /// The canonical bytes that are signed and hashed:
    /// `CB("passerelle/v1/membership", channel_id, u64be(seq), prev, u64be(epoch), actor,
    /// actor_device, kind, list(subjects), list(coordinators), reason, role, u64be(at))`.
    pub fn signed_bytes(&self) -> Vec<u8> {
        CanonicalBytes::new(label::MEMBERSHIP)
            .field(self.channel_id.as_bytes())
            .u64_field(self.seq)
            .field(&self.prev)
            .u64_field(self.epoch)
            .field(self.actor.as_bytes())
            .field(self.actor_device.as_bytes())
            .field(self.kind.as_bytes())
            .field(&id_list(&self.subjects))
            .field(&id_list(&self.coordinators))
            .field(self.reason.as_bytes())
            .field(self.role.as_bytes())
            .u64_field(self.at)
            .finish()
    }

    /// Checks the shape of the record (independent of the log it goes in).
    pub fn check_shape(&self) -> Result<(), LogError> {
        for id in [&self.channel_id, &self.actor, &self.actor_device] {
            check_id(id).map_err(|_| LogError::Malformed("identifier"))?;
        }
        for value in [self.seq, self.epoch, self.at] {
            check_epoch(value).map_err(|_| LogError::Malformed("integer"))?;
        }
        if self.seq == 0 {
            return Err(LogError::Malformed("seq"));
        }
        if !LOG_KINDS.contains(&self.kind.as_str()) {
            return Err(LogError::Malformed("kind"));
        }
        for list in [&self.subjects, &self.coordinators] {
            if list.len() > MAX_LOG_SUBJECTS {
                return Err(LogError::Malformed("too many subjects"));
            }
            let mut seen = BTreeSet::new();
            for id in list {
                check_id(id).map_err(|_| LogError::Malformed("identifier"))?;
                if !seen.insert(id) {
                    return Err(LogError::Malformed("subject listed twice"));
                }
            }
        }
        if self.subjects.is_empty() {
            return Err(LogError::Malformed("no subject"));
        }
        let genesis = self.kind == "genesis";
        if !genesis && !self.coordinators.is_empty() {
            return Err(LogError::Malformed("coordinators outside the genesis"));
        }
        if genesis != (self.seq == 1) {
            return Err(LogError::Malformed("genesis position"));
        }
        let reason_ok = if self.kind == "removed" {
            LOG_REMOVAL_REASONS.contains(&self.reason.as_str())
        } else {
            self.reason.is_empty()
        };
        if !reason_ok {
            return Err(LogError::Malformed("reason"));
        }
        let role_ok = match self.kind.as_str() {
            "role_changed" if self.role == LOG_REFERENT => self.subjects.len() == 1,
            "role_changed" => LOG_ROLES.contains(&self.role.as_str()),
            "added" => self.role.is_empty() || LOG_ROLES.contains(&self.role.as_str()),
            _ => self.role.is_empty(),
        };
        if !role_ok {
            return Err(LogError::Malformed("role"));
        }
        if self.kind == "left" && self.subjects != [self.actor.clone()] {
            return Err(LogError::NotAllowed);
        }
        Ok(())
    }

    /// Signs the record with the actor's device.
    pub fn sign(self, device: &DeviceKeys) -> Result<MembershipRecord, LogError> {
        self.check_shape()?;
        let signature = device
            .sign(&self.signed_bytes())
            .map_err(|_| LogError::Backend)?;
        Ok(MembershipRecord {
            v: Version1,
            channel_id: self.channel_id,
            seq: self.seq,
            prev: self.prev,
            epoch: self.epoch,
            actor: self.actor,
            actor_device: self.actor_device,
            kind: self.kind,
            subjects: self.subjects,
            coordinators: self.coordinators,
            reason: self.reason,
            role: self.role,
            at: self.at,
            signature,
        })
    }
}

impl MembershipRecord {
    /// What the record says, without its signature.
    pub fn body(&self) -> RecordBody {
        RecordBody {
            channel_id: self.channel_id.clone(),
            seq: self.seq,
            prev: self.prev,
            epoch: self.epoch,
            actor: self.actor.clone(),
            actor_device: self.actor_device.clone(),
            kind: self.kind.clone(),
            subjects: self.subjects.clone(),
            coordinators: self.coordinators.clone(),
            reason: self.reason.clone(),
            role: self.role.clone(),
            at: self.at,
        }
    }

    /// The bytes the actor signed.
    pub fn signed_bytes(&self) -> Vec<u8> {
        self.body().signed_bytes()
    }

    /// The record's hash, `SHA-256(signed bytes)`: the signature is left out, since
    /// ECDSA signatures are malleable and must not identify anything (§3.3).
    pub fn hash(&self) -> RecordHash {
        sha256(&self.signed_bytes())
    }

    /// Checks the signature under the actor device's signing key (which the caller
    /// found certified by the actor's identity).
    pub fn verify_signature(&self, signing: &DeviceSigningPublicKey) -> Result<(), LogError> {
        signing
            .verify(&self.signed_bytes(), &self.signature)
            .map_err(|_| LogError::BadSignature)
    }
}

/// The member set and coordinators a verified log leads to, and where it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipState {
    /// The channel.
    pub channel_id: String,
    /// The last record's position (0 before the genesis).
    pub seq: u64,
    /// The last record's hash (zeros before the genesis).
    pub head: RecordHash,
    /// The members.
    pub members: BTreeSet<String>,
    /// The coordinators, all members.
    pub coordinators: BTreeSet<String>,
    /// The case's referent named by the last `role_changed` / `referent` record, while
    /// still a member.
    pub referent: Option<String>,
    /// The last record's epoch: a later record may not name an earlier one.
    pub epoch: u64,
}

impl MembershipState {
    /// The state of a channel whose log is empty.
    pub fn empty(channel_id: &str) -> MembershipState {
        MembershipState {
            channel_id: channel_id.to_owned(),
            seq: 0,
            head: [0; 32],
            members: BTreeSet::new(),
            coordinators: BTreeSet::new(),
            referent: None,
            epoch: 0,
        }
    }

    /// Whether `user_id` is a member by the log.
    pub fn is_member(&self, user_id: &str) -> bool {
        self.members.contains(user_id)
    }

    /// Who may read a case's identity by the log (§19): its coordinators and its signed
    /// referent.
    pub fn identity_readers(&self) -> BTreeSet<String> {
        let mut readers = self.coordinators.clone();
        readers.extend(self.referent.iter().cloned());
        readers
    }

    /// Checks that `record` extends this log and is allowed, without its signature
    /// (the caller checks it), and applies it.
    pub fn apply_unsigned(&mut self, record: &MembershipRecord) -> Result<(), LogError> {
        let body = record.body();
        body.check_shape()?;
        if record.channel_id != self.channel_id
            || record.seq != self.seq + 1
            || record.prev != self.head
            || record.epoch < self.epoch
        {
            return Err(LogError::BrokenChain);
        }
        let mut members = self.members.clone();
        let mut coordinators = self.coordinators.clone();
        let mut referent = self.referent.clone();
        let subjects = record.subjects.iter().cloned();
        match record.kind.as_str() {
            "genesis" => {
                members = subjects.collect();
                coordinators = record.coordinators.iter().cloned().collect();
                if !coordinators.is_subset(&members) {
                    return Err(LogError::Inconsistent);
                }
                // The signer vouches for the set it is part of.
                if !members.contains(&record.actor) {
                    return Err(LogError::NotAllowed);
                }
            }
            kind => {
                let coordinator = self.coordinators.contains(&record.actor);
                let member = self.members.contains(&record.actor);
                let allowed = match kind {
                    "left" => member,
                    _ => coordinator,
                };
                if !allowed {
                    return Err(LogError::NotAllowed);
                }
                for subject in subjects {
                    let present = members.contains(&subject);
                    match kind {
                        "added" if !present => {
                            members.insert(subject.clone());
                            if record.role == "coordinator" {
                                coordinators.insert(subject);
                            }
                        }
                        "removed" | "left" if present => {
                            members.remove(&subject);
                            coordinators.remove(&subject);
                            if referent.as_ref() == Some(&subject) {
                                referent = None;
                            }
                        }
                        "role_changed" if present && record.role == LOG_REFERENT => {
                            referent = Some(subject);
                        }
                        "role_changed" if present => {
                            if record.role == "coordinator" {
                                coordinators.insert(subject);
                            } else {
                                coordinators.remove(&subject);
                            }
                        }
                        _ => return Err(LogError::Inconsistent),
                    }
                }
            }
        }
        self.members = members;
        self.coordinators = coordinators;
        self.referent = referent;
        self.seq = record.seq;
        self.head = record.hash();
        self.epoch = record.epoch;
        Ok(())
    }

    /// Checks `record` (chain, permission, and its signature under `signing`, the key of
    /// the actor's device) and applies it.
    pub fn apply(
        &mut self,
        record: &MembershipRecord,
        signing: &DeviceSigningPublicKey,
    ) -> Result<(), LogError> {
        let mut next = self.clone();
        next.apply_unsigned(record)?;
        record.verify_signature(signing)?;
        *self = next;
        Ok(())
    }

    /// The body of the next record: this log's channel, position and head filled in.
    pub fn next_body(&self, epoch: u64, actor: &str, actor_device: &str, at: u64) -> RecordBody {
        RecordBody {
            channel_id: self.channel_id.clone(),
            seq: self.seq + 1,
            prev: self.head,
            epoch,
            actor: actor.to_owned(),
            actor_device: actor_device.to_owned(),
            at,
            ..RecordBody::default()
        }
    }
}

/// Where a verified log ends: its last record's position and hash. A client remembers it
/// per channel, and a sender puts it in each message's content (`membership_head`,
/// §8.2), so that a log served later, here or to another member, must extend it (§22.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogHead {
    /// The last record's position (at least 1: an empty log has no head).
    #[serde(with = "encoding::safe_int")]
    pub seq: u64,
    /// The last record's hash.
    #[serde(with = "b64_array")]
    pub hash: RecordHash,
}

impl MembershipState {
    /// Where this log ends, `None` while it is empty.
    pub fn log_head(&self) -> Option<LogHead> {
        (self.seq > 0).then_some(LogHead {
            seq: self.seq,
            hash: self.head,
        })
    }
}

/// Checks that `records` (a log already verified, in order) contains `seen`: the record
/// at `seen.seq` has `seen.hash`. A log that ends before it is refused with `short` (the
/// caller says whose head it was: [`LogError::RolledBack`] for this client's own,
/// [`LogError::Hidden`] for a member's); another record there is [`LogError::Forked`].
pub fn check_contains(
    records: &[MembershipRecord],
    seen: &LogHead,
    short: LogError,
) -> Result<(), LogError> {
    let index = usize::try_from(seen.seq.saturating_sub(1)).unwrap_or(usize::MAX);
    match records.get(index) {
        _ if seen.seq == 0 => Ok(()),
        None => Err(short),
        Some(record) if record.seq == seen.seq && record.hash() == seen.hash => Ok(()),
        Some(_) => Err(LogError::Forked),
    }
}

/// Verifies a whole log from its genesis and derives its state. `signing_key(user,
/// device)` returns the signing key of `device` if the client verified its certificate
/// under the identity it holds for `user` (and `None` otherwise, which refuses the record:
/// `bad_signature`). A revoked device's older records stay valid: it was the actor's
/// device when it signed.
pub fn verify_log<'a>(
    channel_id: &str,
    records: impl IntoIterator<Item = &'a MembershipRecord>,
    mut signing_key: impl FnMut(&str, &str) -> Option<DeviceSigningPublicKey>,
) -> Result<MembershipState, LogError> {
    let mut state = MembershipState::empty(channel_id);
    for record in records {
        let key = signing_key(&record.actor, &record.actor_device).ok_or(LogError::BadSignature)?;
        state.apply(record, &key)?;
    }
    Ok(state)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use serde_json::{json, Value};

    use super::*;
    use crate::crypto::test_support::to_hex;
    use crate::crypto::{DeviceCertificate, DeviceCertificateRequest, IdentityKeyPair};

    const CHANNEL: &str = "3f6b9c2e-1d4a-4e8b-a7c5-9b0d2e4f6a81";
    const KARIM: &str = "a1b2c3d4-0000-4000-8000-00000000000a";
    const SOPHIE: &str = "a1b2c3d4-0000-4000-8000-00000000000b";
    const JEAN: &str = "a1b2c3d4-0000-4000-8000-00000000000c";
    const GHOST: &str = "a1b2c3d4-0000-4000-8000-00000000000d";
    const KARIM_LAPTOP: &str = "d1d1d1d1-0000-4000-8000-00000000000a";
    const SOPHIE_PHONE: &str = "d1d1d1d1-0000-4000-8000-00000000000b";
    const JEAN_PHONE: &str = "d1d1d1d1-0000-4000-8000-00000000000c";

    fn fixed(name: &str) -> [u8; 32] {
        sha256(format!("passerelle test vector: {name}").as_bytes())
    }

    struct Person {
        user: &'static str,
        device_id: &'static str,
        device: DeviceKeys,
        certificate: DeviceCertificate,
        identity: IdentityKeyPair,
    }

    fn person(name: &str, user: &'static str, device_id: &'static str) -> Person {
        let identity =
            IdentityKeyPair::from_private_bytes(&fixed(&format!("{name} identity"))).unwrap();
        let device = DeviceKeys::from_private_bytes(
            &fixed(&format!("{name} device signing")),
            &fixed(&format!("{name} device agreement")),
        )
        .unwrap();
        let request =
            DeviceCertificateRequest::new(user, device_id, identity.public_key(), &device).unwrap();
        let certificate = identity.certify(&request).unwrap();
        Person {
            user,
            device_id,
            device,
            certificate,
            identity,
        }
    }

    fn people() -> (Person, Person, Person) {
        (
            person("karim", KARIM, KARIM_LAPTOP),
            person("sophie", SOPHIE, SOPHIE_PHONE),
            person("jean", JEAN, JEAN_PHONE),
        )
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    /// The honest chain: Karim creates the channel with Jean, adds Sophie, removes Jean.
    fn valid_chain(karim: &Person) -> Vec<MembershipRecord> {
        let mut state = MembershipState::empty(CHANNEL);
        let mut records = Vec::new();
        let bodies = [
            RecordBody {
                kind: "genesis".into(),
                subjects: ids(&[KARIM, JEAN]),
                coordinators: ids(&[KARIM]),
                ..state.next_body(1, KARIM, KARIM_LAPTOP, 1_765_100_000_000)
            },
            RecordBody {
                kind: "added".into(),
                subjects: ids(&[SOPHIE]),
                ..RecordBody::default()
            },
            RecordBody {
                kind: "removed".into(),
                subjects: ids(&[JEAN]),
                reason: "coordinator".into(),
                ..RecordBody::default()
            },
        ];
        for (i, body) in bodies.into_iter().enumerate() {
            let base = state.next_body(
                1 + i as u64,
                KARIM,
                KARIM_LAPTOP,
                1_765_100_000_000 + 60_000 * i as u64,
            );
            let record = RecordBody {
                kind: body.kind,
                subjects: body.subjects,
                coordinators: body.coordinators,
                reason: body.reason,
                ..base
            }
            .sign(&karim.device)
            .unwrap();
            state
                .apply(&record, &karim.certificate.keys.signing)
                .unwrap();
            records.push(record);
        }
        records
    }

    /// The vectors of `shared/vectors/membership_log.json`.
    pub(crate) fn vectors() -> Value {
        let (karim, sophie, jean) = people();
        let chain = valid_chain(&karim);
        let state = verify_log(CHANNEL, &chain, |_, _| {
            Some(karim.certificate.keys.signing.clone())
        })
        .unwrap();

        // A record with its subject swapped after signing (a ghost reader instead of
        // Sophie): the signature fails.
        let mut forged = chain[1].clone();
        forged.subjects = ids(&[GHOST]);
        forged.kind = "added".into();
        let mut bad_signature = chain.clone();
        bad_signature[1] = forged;
        bad_signature.truncate(2);

        // The second record dropped: the third's prev no longer matches.
        let broken = vec![chain[0].clone(), chain[2].clone()];

        // Jean (a member, not a coordinator) adds Sophie with his own valid signature.
        let by_jean = RecordBody {
            kind: "added".into(),
            subjects: ids(&[SOPHIE]),
            ..{
                let mut s = MembershipState::empty(CHANNEL);
                s.apply(&chain[0], &karim.certificate.keys.signing).unwrap();
                s.next_body(1, JEAN, JEAN_PHONE, 1_765_100_060_000)
            }
        }
        .sign(&jean.device)
        .unwrap();
        let non_coordinator = vec![chain[0].clone(), by_jean];

        // Sophie leaves by her own record after the valid chain.
        let left = RecordBody {
            kind: "left".into(),
            subjects: ids(&[SOPHIE]),
            ..state.next_body(3, SOPHIE, SOPHIE_PHONE, 1_765_100_180_000)
        }
        .sign(&sophie.device)
        .unwrap();
        let mut with_departure = chain.clone();
        with_departure.push(left);

        // Karim names Sophie the case's referent; then Sophie leaves, and with her the
        // referent goes.
        let name_referent = |state: &MembershipState, subject: &str| RecordBody {
            kind: "role_changed".into(),
            role: LOG_REFERENT.into(),
            subjects: ids(&[subject]),
            ..state.next_body(3, KARIM, KARIM_LAPTOP, 1_765_100_240_000)
        };
        let referent = name_referent(&state, SOPHIE).sign(&karim.device).unwrap();
        let mut with_referent = chain.clone();
        with_referent.push(referent.clone());
        let mut named = state.clone();
        named
            .apply(&referent, &karim.certificate.keys.signing)
            .unwrap();
        let referent_left = RecordBody {
            kind: "left".into(),
            subjects: ids(&[SOPHIE]),
            ..named.next_body(3, SOPHIE, SOPHIE_PHONE, 1_765_100_300_000)
        }
        .sign(&sophie.device)
        .unwrap();
        let mut referent_gone = with_referent.clone();
        referent_gone.push(referent_left);
        // Jean, removed, named referent: not a member.
        let mut referent_outsider = chain.clone();
        referent_outsider.push(name_referent(&state, JEAN).sign(&karim.device).unwrap());
        // Sophie, a member who does not coordinate, names herself.
        let mut referent_by_member = chain.clone();
        referent_by_member.push(
            RecordBody {
                actor: SOPHIE.into(),
                actor_device: SOPHIE_PHONE.into(),
                ..name_referent(&state, SOPHIE)
            }
            .sign(&sophie.device)
            .unwrap(),
        );
        // Two referents in one record: signed, but malformed.
        let two = RecordBody {
            subjects: ids(&[KARIM, SOPHIE]),
            ..name_referent(&state, SOPHIE)
        };
        let two_signature = karim.device.sign(&two.signed_bytes()).unwrap();
        let mut two_referents = chain.clone();
        let mut two_record = referent.clone();
        two_record.subjects = two.subjects.clone();
        two_record.signature = two_signature;
        two_referents.push(two_record);

        // Karim ratifies the server's own removal of Sophie (reason `server`, §22.3).
        let mut ratified = chain.clone();
        ratified.push(
            RecordBody {
                kind: "removed".into(),
                subjects: ids(&[SOPHIE]),
                reason: LOG_SERVER_REMOVAL.into(),
                ..state.next_body(3, KARIM, KARIM_LAPTOP, 1_765_100_360_000)
            }
            .sign(&karim.device)
            .unwrap(),
        );

        // The head rules (§26): a log served later must contain every head seen before.
        let head_of = |records: &[MembershipRecord]| {
            verify_log(CHANNEL, records, |user, _| {
                [&karim, &sophie, &jean]
                    .into_iter()
                    .find(|p| p.user == user)
                    .map(|p| p.certificate.keys.signing.clone())
            })
            .unwrap()
            .log_head()
            .unwrap()
        };
        let mut after_genesis = MembershipState::empty(CHANNEL);
        after_genesis
            .apply(&chain[0], &karim.certificate.keys.signing)
            .unwrap();
        // Another branch: Karim shown a log where a ghost was added second.
        let fork = vec![
            chain[0].clone(),
            RecordBody {
                kind: "added".into(),
                subjects: ids(&[GHOST]),
                ..after_genesis.next_body(1, KARIM, KARIM_LAPTOP, 1_765_100_060_000)
            }
            .sign(&karim.device)
            .unwrap(),
        ];
        let heads = json!([
            {"why": "the whole log contains a head kept at its second record",
             "records": chain, "head": head_of(&chain[..2]), "short": "log_rolled_back",
             "refused": null},
            {"why": "a log shorter than the head kept here (rolled back)",
             "records": chain[..2], "head": head_of(&chain), "short": "log_rolled_back",
             "refused": "log_rolled_back"},
            {"why": "no log at all where one was kept",
             "records": [], "head": head_of(&chain), "short": "log_rolled_back",
             "refused": "log_rolled_back"},
            {"why": "another record at the kept head's place (a fork)",
             "records": fork, "head": head_of(&chain[..2]), "short": "log_rolled_back",
             "refused": "log_forked"},
            {"why": "a head a member's message named, beyond the log served (hidden)",
             "records": chain, "head": head_of(&with_departure), "short": "log_hidden",
             "refused": "log_hidden"},
            {"why": "a head a member's message named, another record there (a fork)",
             "records": fork, "head": head_of(&chain[..2]), "short": "log_hidden",
             "refused": "log_forked"},
        ]);

        let people: Value = [&karim, &sophie, &jean]
            .iter()
            .map(|p| {
                json!({
                    "user_id": p.user,
                    "device_id": p.device_id,
                    "identity": p.identity.public_key(),
                    "certificate": p.certificate,
                })
            })
            .collect();
        json!({
            "channel_id": CHANNEL,
            "label": label::MEMBERSHIP,
            "people": people,
            "genesis": {
                "record": chain[0],
                "signed_bytes_hex": to_hex(&chain[0].signed_bytes()),
                "hash_hex": to_hex(&chain[0].hash()),
            },
            "logs": [
                {"why": "creation with Jean, Sophie added, Jean removed: valid",
                 "records": chain, "members": [KARIM, SOPHIE], "coordinators": [KARIM],
                 "referent": null, "head_hex": to_hex(&state.head)},
                {"why": "then Sophie leaves by her own record: valid",
                 "records": with_departure, "members": [KARIM], "coordinators": [KARIM],
                 "referent": null},
                {"why": "then Karim names Sophie the case's referent: valid",
                 "records": with_referent, "members": [KARIM, SOPHIE], "coordinators": [KARIM],
                 "referent": SOPHIE},
                {"why": "then the referent leaves: no referent any more",
                 "records": referent_gone, "members": [KARIM], "coordinators": [KARIM],
                 "referent": null},
                {"why": "then Karim signs the server's own removal of Sophie: valid",
                 "records": ratified, "members": [KARIM], "coordinators": [KARIM],
                 "referent": null},
                {"why": "a removed member named referent",
                 "records": referent_outsider, "refused": "inconsistent", "at": 3},
                {"why": "a member who does not coordinate names herself referent",
                 "records": referent_by_member, "refused": "not_coordinator", "at": 3},
                {"why": "two referents in one record",
                 "records": two_referents, "refused": "malformed", "at": 3},
                {"why": "the addition's subject replaced after signing",
                 "records": bad_signature, "refused": "bad_signature", "at": 1},
                {"why": "the addition dropped: the removal no longer extends the chain",
                 "records": broken, "refused": "broken_chain", "at": 1},
                {"why": "a member who is not a coordinator adds someone",
                 "records": non_coordinator, "refused": "not_coordinator", "at": 1},
            ],
            "heads": heads,
        })
    }

    fn run(v: &Value, log: &Value) -> Result<MembershipState, (usize, &'static str)> {
        let certificates: BTreeMap<(String, String), DeviceCertificate> = v["people"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let identity = serde_json::from_value(p["identity"].clone()).unwrap();
                let certificate: DeviceCertificate =
                    serde_json::from_value(p["certificate"].clone()).unwrap();
                certificate.verify(&identity).unwrap();
                (
                    (certificate.user_id.clone(), certificate.device_id.clone()),
                    certificate,
                )
            })
            .collect();
        let records: Vec<MembershipRecord> =
            serde_json::from_value(log["records"].clone()).unwrap();
        let mut state = MembershipState::empty(v["channel_id"].as_str().unwrap());
        for (i, record) in records.iter().enumerate() {
            let key = certificates
                .get(&(record.actor.clone(), record.actor_device.clone()))
                .map(|c| c.keys.signing.clone())
                .ok_or((i, "bad_signature"))?;
            state.apply(record, &key).map_err(|e| (i, e.code()))?;
        }
        Ok(state)
    }

    #[test]
    fn the_membership_log_vectors_pass() {
        let path = format!("{}/vectors/membership_log.json", env!("CARGO_MANIFEST_DIR"));
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let genesis: MembershipRecord =
            serde_json::from_value(v["genesis"]["record"].clone()).unwrap();
        assert_eq!(
            to_hex(&genesis.signed_bytes()),
            v["genesis"]["signed_bytes_hex"]
        );
        assert_eq!(to_hex(&genesis.hash()), v["genesis"]["hash_hex"]);
        for log in v["logs"].as_array().unwrap() {
            match (run(&v, log), log["refused"].as_str()) {
                (Ok(state), None) => {
                    let members: Vec<&str> = state.members.iter().map(String::as_str).collect();
                    let mut want: Vec<&str> = log["members"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|m| m.as_str().unwrap())
                        .collect();
                    want.sort();
                    assert_eq!(members, want, "{}", log["why"]);
                    let coordinators: Vec<&str> =
                        state.coordinators.iter().map(String::as_str).collect();
                    assert_eq!(json!(coordinators), log["coordinators"], "{}", log["why"]);
                    assert_eq!(json!(state.referent), log["referent"], "{}", log["why"]);
                }
                (Err((at, code)), Some(want)) => {
                    assert_eq!(code, want, "{}", log["why"]);
                    assert_eq!(at as u64, log["at"].as_u64().unwrap(), "{}", log["why"]);
                }
                (got, want) => panic!("{}: expected {want:?}, got {got:?}", log["why"]),
            }
        }
    }

    #[test]
    fn the_head_vectors_pass() {
        let path = format!("{}/vectors/membership_log.json", env!("CARGO_MANIFEST_DIR"));
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let cases = v["heads"].as_array().unwrap();
        assert!(cases.len() >= 5);
        for case in cases {
            // The log served verifies on its own: only the head refuses it.
            run(&v, case).unwrap_or_else(|e| panic!("{}: {e:?}", case["why"]));
            let records: Vec<MembershipRecord> =
                serde_json::from_value(case["records"].clone()).unwrap();
            let head: LogHead = serde_json::from_value(case["head"].clone()).unwrap();
            let short = match case["short"].as_str().unwrap() {
                "log_rolled_back" => LogError::RolledBack,
                "log_hidden" => LogError::Hidden,
                other => panic!("short {other}"),
            };
            let got = check_contains(&records, &head, short).err();
            assert_eq!(
                got.map(|e| e.code()),
                case["refused"].as_str(),
                "{}",
                case["why"]
            );
        }
    }

    #[test]
    fn a_log_served_later_must_contain_every_head_seen() {
        let (karim, _, _) = people();
        let chain = valid_chain(&karim);
        let signing = |_: &str, _: &str| Some(karim.certificate.keys.signing.clone());
        let whole = verify_log(CHANNEL, &chain, signing).unwrap();
        let head = whole.log_head().unwrap();
        assert_eq!((head.seq, head.hash), (3, whole.head));
        assert_eq!(MembershipState::empty(CHANNEL).log_head(), None);
        // The whole log, and a longer one, contain it; so does the log for an older head.
        assert_eq!(check_contains(&chain, &head, LogError::RolledBack), Ok(()));
        let first = verify_log(CHANNEL, &chain[..1], signing).unwrap();
        let older = first.log_head().unwrap();
        assert_eq!(check_contains(&chain, &older, LogError::Hidden), Ok(()));
        // A prefix does not: refused with the caller's code; nor does no log at all.
        for short in [LogError::RolledBack, LogError::Hidden] {
            assert_eq!(
                check_contains(&chain[..2], &head, short.clone()),
                Err(short.clone())
            );
            assert_eq!(check_contains(&[], &head, short.clone()), Err(short));
        }
        // Another branch at the head's place is a fork.
        let other = RecordBody {
            kind: "added".into(),
            subjects: ids(&[GHOST]),
            ..first.next_body(1, KARIM, KARIM_LAPTOP, 1_765_100_000_000)
        }
        .sign(&karim.device)
        .unwrap();
        let fork = [chain[0].clone(), other];
        verify_log(CHANNEL, &fork, signing).unwrap();
        assert_eq!(
            check_contains(&fork, &head, LogError::RolledBack),
            Err(LogError::RolledBack),
            "shorter than the head: it cannot show the fork"
        );
        let second = verify_log(CHANNEL, &chain[..2], signing).unwrap();
        let at_two = second.log_head().unwrap();
        assert_eq!(
            check_contains(&fork, &at_two, LogError::RolledBack),
            Err(LogError::Forked)
        );
        for (error, code) in [
            (LogError::RolledBack, "log_rolled_back"),
            (LogError::Hidden, "log_hidden"),
            (LogError::Forked, "log_forked"),
        ] {
            assert_eq!(error.code(), code);
        }
    }

    #[test]
    fn a_record_round_trips_and_rejects_unknown_fields() {
        let (karim, _, _) = people();
        let chain = valid_chain(&karim);
        let text = serde_json::to_string(&chain[2]).unwrap();
        let back: MembershipRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back, chain[2]);
        let mut value: Value = serde_json::from_str(&text).unwrap();
        value["extra"] = json!(1);
        assert!(serde_json::from_value::<MembershipRecord>(value).is_err());
    }

    #[test]
    fn a_removal_of_a_non_member_and_a_second_genesis_are_refused() {
        let (karim, _, _) = people();
        let chain = valid_chain(&karim);
        let mut state = verify_log(CHANNEL, &chain, |_, _| {
            Some(karim.certificate.keys.signing.clone())
        })
        .unwrap();
        let again = RecordBody {
            kind: "removed".into(),
            subjects: ids(&[JEAN]),
            reason: "coordinator".into(),
            ..state.next_body(3, KARIM, KARIM_LAPTOP, 1)
        }
        .sign(&karim.device)
        .unwrap();
        assert_eq!(
            state.apply(&again, &karim.certificate.keys.signing),
            Err(LogError::Inconsistent)
        );
        let genesis = RecordBody {
            kind: "genesis".into(),
            subjects: ids(&[KARIM]),
            ..state.next_body(3, KARIM, KARIM_LAPTOP, 1)
        };
        assert_eq!(
            genesis.sign(&karim.device).err(),
            Some(LogError::Malformed("genesis position"))
        );
        // A free-text motif never enters a record.
        let motif = RecordBody {
            kind: "removed".into(),
            subjects: ids(&[SOPHIE]),
            reason: "comportement".into(),
            ..state.next_body(3, KARIM, KARIM_LAPTOP, 1)
        };
        assert_eq!(
            motif.sign(&karim.device).err(),
            Some(LogError::Malformed("reason"))
        );
    }
}
