//! Who a client encrypts for and accepts keys and messages from, in one channel
//! ([PROTOCOL.md §12.1](../../../docs/PROTOCOL.md)).
//!
//! The server lists the devices a new epoch key must reach and relays wraps and
//! envelopes; a malicious server could list a device of its own making (a "ghost") and so
//! become a reader. A [`Roster`] holds what the client itself checked: the members it
//! shows (the channel's member list), and for each member the devices whose certificate
//! verifies under the identity key pinned for that member. Only those devices get a wrap,
//! only their wraps are accepted, and only members' messages are read, whatever the
//! server lists. The browser implements the same rules (`web-client/js/crypto/roster.js`)
//! and both pass `shared/vectors/rejections.json`.
//!
//! What this does not give yet: the member list still comes from the server, so a server
//! can add a member, but only one the conversation shows (a signed membership log will
//! close that).

use std::collections::{BTreeMap, BTreeSet};

use super::{
    DeviceCertificate, DeviceSigningPublicKey, Envelope, IdentityPublicKey, WithheldReason,
    WrappedEpochKey,
};

/// Why a roster refuses a device, a wrap or a message. [`RosterError::code`] is the stable
/// code the shared vectors use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RosterError {
    /// The device belongs to someone who is not a member of the channel.
    #[error("device {device_id} belongs to {user_id}, who is not a member of the channel")]
    NotMember {
        /// The owner named by the device's certificate.
        user_id: String,
        /// The device.
        device_id: String,
    },
    /// No member has this device (with a certificate that verifies).
    #[error("device {0} is not a verified device of a member")]
    UnknownDevice(String),
    /// The wrap or envelope names another channel than the one it was delivered in.
    #[error("delivered in channel {delivered}, made for channel {named}")]
    WrongChannel {
        /// The channel it came through.
        delivered: String,
        /// The channel it names.
        named: String,
    },
    /// The wrap is addressed to another device.
    #[error("the wrap is addressed to another device")]
    WrongRecipient,
    /// The certificate does not verify under the identity pinned for its owner.
    #[error("the certificate of device {0} does not verify")]
    Unverified(String),
    /// The server lists, as a reader of a case's identity, someone the case's signed
    /// membership log names neither coordinator nor referent (docs/PROTOCOL.md §19).
    #[error("{0} is listed as a reader of the identity but the signed log names them neither coordinator nor referent")]
    NotReader(String),
}

impl RosterError {
    /// The stable code of this refusal.
    pub fn code(&self) -> &'static str {
        match self {
            RosterError::NotMember { .. } => "not_member",
            RosterError::UnknownDevice(_) => "unknown_device",
            RosterError::WrongChannel { .. } => "wrong_channel",
            RosterError::WrongRecipient => "wrong_recipient",
            RosterError::Unverified(_) => "unverified_device",
            RosterError::NotReader(_) => "not_reader",
        }
    }
}

/// One verified device of a member.
#[derive(Debug, Clone)]
struct RosterDevice {
    certificate: DeviceCertificate,
    revoked: bool,
}

/// The verified devices of a channel's members, as this client established them.
#[derive(Debug, Clone)]
pub struct Roster {
    channel_id: String,
    members: BTreeSet<String>,
    devices: BTreeMap<String, RosterDevice>,
    /// Devices offered for non-members: remembered only to name the refusal.
    outsiders: BTreeMap<String, String>,
    /// Members' devices whose certificate does not verify under the identity pinned for
    /// them (their owner reset their keys, say): withheld, never wrapped for, by owner.
    unverified: BTreeMap<String, String>,
}

/// What to do with each device the server asked a new epoch key for.
#[derive(Debug, Clone, Default)]
pub struct EpochPlan {
    /// Wrap for these (verified, live devices of members).
    pub wrap: Vec<DeviceCertificate>,
    /// Leave these out, with the reason the server relays to them ([PROTOCOL.md §7.5]).
    pub withheld: Vec<(String, WithheldReason)>,
}

impl Roster {
    /// A roster of `members` (the member list the client shows) with no device yet.
    pub fn new(channel_id: &str, members: impl IntoIterator<Item = String>) -> Roster {
        Roster {
            channel_id: channel_id.to_owned(),
            members: members.into_iter().collect(),
            devices: BTreeMap::new(),
            outsiders: BTreeMap::new(),
            unverified: BTreeMap::new(),
        }
    }

    /// The channel.
    pub fn channel_id(&self) -> &str {
        &self.channel_id
    }

    /// The member list this roster was built from.
    pub fn members(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(String::as_str)
    }

    /// Whether `user_id` is in the member list.
    pub fn is_member(&self, user_id: &str) -> bool {
        self.members.contains(user_id)
    }

    /// Admits a device of `owner`, if `owner` is a member and the certificate is theirs
    /// and verifies under `identity`, the key pinned for them.
    pub fn admit(
        &mut self,
        owner: &str,
        identity: &IdentityPublicKey,
        certificate: &DeviceCertificate,
        revoked: bool,
    ) -> Result<(), RosterError> {
        let device_id = certificate.device_id.clone();
        if certificate.user_id != owner {
            return Err(RosterError::Unverified(device_id));
        }
        if !self.is_member(owner) {
            self.outsiders.insert(device_id.clone(), owner.to_owned());
            return Err(RosterError::NotMember {
                user_id: owner.to_owned(),
                device_id,
            });
        }
        if certificate.verify(identity).is_err() {
            self.unverified.insert(device_id.clone(), owner.to_owned());
            return Err(RosterError::Unverified(device_id));
        }
        self.devices.insert(
            device_id,
            RosterDevice {
                certificate: certificate.clone(),
                revoked,
            },
        );
        Ok(())
    }

    fn member_device(&self, device_id: &str) -> Result<&RosterDevice, RosterError> {
        if let Some(device) = self.devices.get(device_id) {
            return Ok(device);
        }
        Err(match self.outsiders.get(device_id) {
            Some(user_id) => RosterError::NotMember {
                user_id: user_id.clone(),
                device_id: device_id.to_owned(),
            },
            None => RosterError::UnknownDevice(device_id.to_owned()),
        })
    }

    /// Decides, for each `(user_id, device_id)` the server asks a new epoch key for, to
    /// wrap or to withhold: a member's live verified device gets a wrap; a revoked one,
    /// or one whose certificate does not verify under its owner's pinned identity, is
    /// withheld with its reason. A device of a non-member, or one that no member has
    /// (a "ghost"), is refused: the whole list is then suspect (an honest server never
    /// lists one).
    pub fn plan_epoch<'a>(
        &self,
        requested: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<EpochPlan, RosterError> {
        let mut plan = EpochPlan::default();
        let mut seen = BTreeSet::new();
        for (user_id, device_id) in requested {
            if !seen.insert((user_id, device_id)) {
                continue;
            }
            if !self.is_member(user_id) {
                return Err(RosterError::NotMember {
                    user_id: user_id.to_owned(),
                    device_id: device_id.to_owned(),
                });
            }
            if self.unverified.get(device_id).map(String::as_str) == Some(user_id) {
                plan.withheld
                    .push((device_id.to_owned(), WithheldReason::UnverifiedDevice));
                continue;
            }
            let device = self
                .devices
                .get(device_id)
                .filter(|d| d.certificate.user_id == user_id)
                .ok_or_else(|| RosterError::UnknownDevice(device_id.to_owned()))?;
            if device.revoked {
                plan.withheld
                    .push((device_id.to_owned(), WithheldReason::RevokedDevice));
            } else {
                plan.wrap.push(device.certificate.clone());
            }
        }
        Ok(plan)
    }

    /// The signing key to check a wrap with, once the wrap is shown to be for this
    /// channel (`delivered_in` and the wrap's own `channel_id`), for `recipient`, and from
    /// a live verified device of a member.
    pub fn wrap_sender(
        &self,
        delivered_in: &str,
        recipient: &str,
        wrapped: &WrappedEpochKey,
    ) -> Result<&DeviceSigningPublicKey, RosterError> {
        self.same_channel(delivered_in, &wrapped.channel_id)?;
        if wrapped.recipient_device != recipient {
            return Err(RosterError::WrongRecipient);
        }
        let device = self.member_device(&wrapped.sender_device)?;
        if device.revoked {
            return Err(RosterError::UnknownDevice(wrapped.sender_device.clone()));
        }
        Ok(&device.certificate.keys.signing)
    }

    /// The signing key to check an envelope with, once it is shown to be for this channel
    /// and from a device of `sender` (the account the server says sent it) who is a
    /// member. A former member's message is read only under an epoch older than
    /// `newest_epoch` (the newest of the keys held for the channel and the current epoch
    /// the server lists): their history stays readable, but nobody outside the members
    /// can write in the epoch in use.
    pub fn envelope_sender(
        &self,
        delivered_in: &str,
        sender: &str,
        envelope: &Envelope,
        sender_certificate: Option<&DeviceCertificate>,
        newest_epoch: Option<u64>,
    ) -> Result<DeviceSigningPublicKey, RosterError> {
        self.same_channel(delivered_in, &envelope.channel_id)?;
        if let Ok(device) = self.member_device(&envelope.sender_device) {
            if device.certificate.user_id != sender {
                return Err(RosterError::UnknownDevice(envelope.sender_device.clone()));
            }
            return Ok(device.certificate.keys.signing.clone());
        }
        // Not a member now: a former member's message, in an epoch that ended.
        let certificate = sender_certificate
            .filter(|c| c.user_id == sender && c.device_id == envelope.sender_device)
            .ok_or_else(|| RosterError::UnknownDevice(envelope.sender_device.clone()))?;
        if self.is_member(sender) || newest_epoch.is_none_or(|newest| envelope.epoch >= newest) {
            return Err(if self.is_member(sender) {
                RosterError::UnknownDevice(envelope.sender_device.clone())
            } else {
                RosterError::NotMember {
                    user_id: sender.to_owned(),
                    device_id: envelope.sender_device.clone(),
                }
            });
        }
        Ok(certificate.keys.signing.clone())
    }

    fn same_channel(&self, delivered_in: &str, named: &str) -> Result<(), RosterError> {
        if delivered_in != named || named != self.channel_id {
            return Err(RosterError::WrongChannel {
                delivered: delivered_in.to_owned(),
                named: named.to_owned(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::crypto::test_support::{device_from_hex, hex};
    use crate::crypto::EpochKey;

    fn vectors() -> Value {
        let path = format!("{}/vectors/rejections.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn roster(v: &Value) -> Roster {
        let members = v["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().to_owned());
        let mut roster = Roster::new(v["channel_id"].as_str().unwrap(), members);
        for device in v["devices"].as_array().unwrap() {
            let owner = device["owner"].as_str().unwrap();
            let identity: IdentityPublicKey =
                serde_json::from_value(v["identities"][owner].clone()).unwrap();
            let certificate: DeviceCertificate =
                serde_json::from_value(device["certificate"].clone()).unwrap();
            // Refusals here (a non-member, a certificate that does not verify) are
            // remembered by the roster; the cases below show their effect.
            let _ = roster.admit(
                owner,
                &identity,
                &certificate,
                device["revoked"].as_bool().unwrap(),
            );
        }
        roster
    }

    fn expected(case: &Value) -> Option<&str> {
        case["refused"].as_str()
    }

    #[test]
    fn the_rejection_vectors_pass() {
        let v = vectors();
        let roster = roster(&v);
        let recipient = device_from_hex(
            v["recipient"]["signing_private_key_hex"].as_str().unwrap(),
            v["recipient"]["agreement_private_key_hex"]
                .as_str()
                .unwrap(),
        );
        let recipient_id = v["recipient"]["device_id"].as_str().unwrap();
        let epoch_key = EpochKey::from_bytes(
            &hex(v["epoch_key_hex"].as_str().unwrap())
                .try_into()
                .unwrap(),
        );

        for case in v["epoch_plans"].as_array().unwrap() {
            let requested: Vec<(String, String)> = case["requested"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    (
                        t["user_id"].as_str().unwrap().to_owned(),
                        t["device_id"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            let plan = roster.plan_epoch(requested.iter().map(|(u, d)| (u.as_str(), d.as_str())));
            match (expected(case), plan) {
                (None, Ok(plan)) => {
                    let wrap: Vec<&str> = plan.wrap.iter().map(|c| c.device_id.as_str()).collect();
                    let want: Vec<&str> = case["wrap"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|d| d.as_str().unwrap())
                        .collect();
                    assert_eq!(wrap, want, "{}", case["why"]);
                    let withheld: Value = plan
                        .withheld
                        .iter()
                        .map(|(d, r)| serde_json::json!({ "device_id": d, "reason": r }))
                        .collect();
                    assert_eq!(withheld, case["withheld"], "{}", case["why"]);
                }
                (Some(code), Err(err)) => assert_eq!(err.code(), code, "{}", case["why"]),
                (want, got) => panic!("{}: expected {want:?}, got {got:?}", case["why"]),
            }
        }

        for case in v["wraps"].as_array().unwrap() {
            let wrapped: WrappedEpochKey = serde_json::from_value(case["wrapped"].clone()).unwrap();
            let delivered = case["delivered_in"].as_str().unwrap();
            let outcome = match roster.wrap_sender(delivered, recipient_id, &wrapped) {
                Err(err) => Err(err.code()),
                Ok(sender) => match wrapped.unwrap_key(&recipient, sender) {
                    Ok(key) => {
                        assert_eq!(key.to_bytes(), epoch_key.to_bytes(), "{}", case["why"]);
                        Ok(())
                    }
                    Err(_) => Err("rejected"),
                },
            };
            assert_eq!(outcome.err(), expected(case), "{}", case["why"]);
        }

        for case in v["envelopes"].as_array().unwrap() {
            let envelope: Envelope = serde_json::from_value(case["envelope"].clone()).unwrap();
            let sender = case["sender"].as_str().unwrap();
            let delivered = case["delivered_in"].as_str().unwrap();
            let certificate = v["devices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    serde_json::from_value::<DeviceCertificate>(d["certificate"].clone()).unwrap()
                })
                .find(|c| {
                    c.device_id == envelope.sender_device
                        && serde_json::from_value::<IdentityPublicKey>(
                            v["identities"][sender].clone(),
                        )
                        .is_ok_and(|identity| c.verify(&identity).is_ok())
                });
            let outcome = match roster.envelope_sender(
                delivered,
                sender,
                &envelope,
                certificate.as_ref(),
                case["newest_epoch"].as_u64(),
            ) {
                Err(err) => Err(err.code()),
                Ok(signing) => match envelope.open(&epoch_key, &signing) {
                    Ok(content) => {
                        assert_eq!(content.text, case["text"].as_str().unwrap());
                        Ok(())
                    }
                    Err(_) => Err("rejected"),
                },
            };
            assert_eq!(outcome.err(), expected(case), "{}", case["why"]);
        }
    }
}
