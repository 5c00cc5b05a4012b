//! This device's rotating agreement keys (signed prekeys, docs/PROTOCOL.md §23), and the
//! acknowledgement of the wraps it fetched so the server can delete them.
//!
//! A device publishes a new agreement key, signed by its device signing key, when its
//! current one is a week old ([`PREKEY_ROTATION_MS`]); senders wrap new epoch keys to
//! it. A replaced prekey's private key is kept for [`PREKEY_GRACE_MS`], longer than the
//! server keeps an unfetched wrap, and then deleted: a copy of this device's keys taken
//! afterwards opens no epoch wrap made to it, and the server no longer holds them.
//!
//! The certificate's own agreement key is retired the same way: once the device has a
//! prekey, senders wrap to the prekey (epoch keys, §7.3, and a case's identity record,
//! §19), and the certificate's private key is deleted when nothing needs it any more
//! ([`Client::rotate_prekey_if_due`]).
//!
//! **What "nothing needs it" means.** A key of this device (the certificate's or a
//! prekey) was *current* from when it was published to when it was replaced (for the
//! certificate's: from the device's start to its first prekey). Its private key is
//! deleted once (1) it was replaced [`PREKEY_GRACE_MS`] ago — every epoch wrap made to it
//! is then older than the server's wrap retention and deleted — and (2) no case identity
//! record this user reads has its current version sealed while that key was current,
//! within [`IDENTITY_SEAL_MARGIN_MS`]: such a record is wrapped to it and is not
//! re-wrapped by anyone until a reader seals it again. The list of those records' sealing
//! times is asked of the server only when a key is otherwise due for deletion; if it
//! cannot be read, nothing is deleted.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::device::crypto;
use super::store::SecretString;
use super::{Client, ClientError, Device, Result};
use crate::crypto::{
    from_base64url, to_base64url, AgreementKeyPair, DeviceSigningPublicKey, EpochKey, SignedPrekey,
    UnwrapError, WrappedEpochKey, PREKEY_GRACE_MS, PREKEY_ROTATION_MS,
};
use crate::protocol::v1::cases::CaseView;
use crate::protocol::v1::channels::{Channel, ChannelKind, KeysDelivered};
use crate::protocol::v1::keys::PublishPrekey;
use crate::protocol::v1::routes;

/// How far apart, in either direction, a case identity's `sealed_at` (the server's
/// clock) and a key's time as current (this device's clock) may be for the record to be
/// taken as wrapped to that key: a day, for clocks that differ and for a sealer that read
/// the reader's keys a moment before a rotation.
pub const IDENTITY_SEAL_MARGIN_MS: u64 = 24 * 60 * 60 * 1000;

/// Whether a case identity sealed at one of `sealed` may be wrapped to a key that was
/// current from `from` to `until` (unix ms).
fn needed_by_identity(sealed: &[u64], from: u64, until: u64) -> bool {
    sealed.iter().any(|&at| {
        at.saturating_add(IDENTITY_SEAL_MARGIN_MS) >= from
            && at <= until.saturating_add(IDENTITY_SEAL_MARGIN_MS)
    })
}

/// One prekey this device made, with its private key until the grace period ends.
pub(crate) struct HeldPrekey {
    record: SignedPrekey,
    key: AgreementKeyPair,
    /// When a newer prekey replaced it (unix ms).
    retired_at: Option<u64>,
}

/// The device's agreement keys beyond its certificate's.
#[derive(Default)]
pub(crate) struct AgreementKeys {
    /// Oldest first; the last one is current.
    held: Vec<HeldPrekey>,
    /// When the first prekey replaced the certificate's key (unix ms).
    pub(crate) certificate_replaced_at: Option<u64>,
}

/// A prekey as the store keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredPrekey {
    /// The signed public record.
    pub record: SignedPrekey,
    /// The private scalar, base64url.
    pub key: SecretString,
    /// When a newer prekey replaced it (unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<u64>,
}

impl AgreementKeys {
    /// The current signed prekey, if the device published one.
    pub(crate) fn current(&self) -> Option<&SignedPrekey> {
        self.held.last().map(|h| &h.record)
    }

    pub(crate) fn export(&self) -> Vec<StoredPrekey> {
        self.held
            .iter()
            .map(|h| StoredPrekey {
                record: h.record.clone(),
                key: SecretString::new(to_base64url(h.key.to_private_bytes().as_ref())),
                retired_at: h.retired_at,
            })
            .collect()
    }

    /// The stored prekeys, and when the certificate's key was replaced: stores written
    /// before it was recorded take the oldest prekey held (later than the true moment,
    /// so the certificate's key is kept longer, never shorter).
    pub(crate) fn import(stored: &[StoredPrekey], replaced_at: Option<u64>) -> Result<Self> {
        let mut held = Vec::new();
        for prekey in stored {
            let bytes = zeroize::Zeroizing::new(
                from_base64url(prekey.key.expose())
                    .map_err(|e| ClientError::Store(e.to_string()))?,
            );
            let scalar: zeroize::Zeroizing<[u8; 32]> =
                zeroize::Zeroizing::new(bytes.as_slice().try_into().map_err(|_| {
                    ClientError::Store("a stored prekey has the wrong length".into())
                })?);
            let key = AgreementKeyPair::from_private_bytes(&scalar).map_err(crypto)?;
            if key.public_key() != &prekey.record.agreement {
                return Err(ClientError::Store(
                    "a stored prekey does not match its record".into(),
                ));
            }
            held.push(HeldPrekey {
                record: prekey.record.clone(),
                key,
                retired_at: prekey.retired_at,
            });
        }
        let certificate_replaced_at =
            replaced_at.or_else(|| held.first().map(|h| h.record.created_at));
        Ok(Self {
            held,
            certificate_replaced_at,
        })
    }
}

impl Device {
    /// Opens a wrap with whichever agreement key it was made to: the current prekey,
    /// an older one still in its grace period, or the certificate's. The sender's
    /// signing key must come from its verified certificate.
    pub fn unwrap(
        &self,
        wrapped: &WrappedEpochKey,
        sender: &DeviceSigningPublicKey,
    ) -> std::result::Result<EpochKey, UnwrapError> {
        let mut last = UnwrapError::Decrypt;
        for held in self.agreement.held.iter().rev() {
            match wrapped.unwrap_with_prekey(&held.key, sender) {
                Ok(key) => return Ok(key),
                Err(UnwrapError::Decrypt) => {}
                Err(err) => last = err,
            }
        }
        if !self.keys.holds_agreement_key() {
            return Err(last);
        }
        match wrapped.unwrap_key(&self.keys, sender) {
            Err(UnwrapError::Decrypt) => Err(last),
            other => other,
        }
    }

    /// Whether the certificate's agreement private key is still held (it is deleted once
    /// nothing needs it, docs/PROTOCOL.md §23.3).
    pub fn holds_certificate_agreement_key(&self) -> bool {
        self.keys.holds_agreement_key()
    }

    /// The current signed prekey, if any.
    pub fn current_prekey(&self) -> Option<&SignedPrekey> {
        self.agreement.current()
    }

    /// How many prekey private keys this device still holds: the current one, plus
    /// those replaced less than [`PREKEY_GRACE_MS`] ago.
    pub fn prekeys_held(&self) -> usize {
        self.agreement.held.len()
    }

    /// Whether some private key's grace period is over at `now_ms`: the certificate's
    /// (replaced by a prekey) or a replaced prekey's.
    fn keys_past_grace(&self, now_ms: u64) -> bool {
        let over = |at: u64| now_ms.saturating_sub(at) >= PREKEY_GRACE_MS;
        let certificate = self.keys.holds_agreement_key()
            && self.agreement.certificate_replaced_at.is_some_and(over);
        certificate
            || self
                .agreement
                .held
                .iter()
                .any(|h| h.retired_at.is_some_and(over))
    }

    /// Deletes the private keys nothing needs at `now_ms` (see the module
    /// documentation); `sealed` are the sealing times of the case identities this user
    /// reads.
    fn forget_expired_keys(&mut self, now_ms: u64, sealed: &[u64]) {
        let over = |at: u64| now_ms.saturating_sub(at) >= PREKEY_GRACE_MS;
        // Dropping a HeldPrekey zeroizes its private key.
        self.agreement.held.retain(|h| match h.retired_at {
            Some(at) => !over(at) || needed_by_identity(sealed, h.record.created_at, at),
            None => true,
        });
        if let Some(at) = self.agreement.certificate_replaced_at {
            if over(at) && !needed_by_identity(sealed, 0, at) {
                self.keys.forget_agreement_key();
            }
        }
    }
}

impl Client {
    /// Rotates this device's agreement key when due at `now_ms` (none published yet, or
    /// the current one [`PREKEY_ROTATION_MS`] old), and deletes the private keys whose
    /// grace period is over. Returns whether a new prekey was published. The caller
    /// stores the device afterwards ([`Agent`](super::Agent) does at each connection).
    /// `now_ms` is a parameter so that tests can move the clock.
    pub async fn rotate_prekey_if_due(&mut self, device: &mut Device, now_ms: u64) -> Result<bool> {
        if device.keys_past_grace(now_ms) {
            // Unreadable now: nothing is deleted, the next call asks again.
            if let Ok(sealed) = self.identity_seal_times().await {
                device.forget_expired_keys(now_ms, &sealed);
            }
        }
        let due = device
            .agreement
            .current()
            .is_none_or(|p| now_ms.saturating_sub(p.created_at) >= PREKEY_ROTATION_MS);
        if !due {
            return Ok(false);
        }
        self.rotate_prekey(device, now_ms).await?;
        Ok(true)
    }

    /// Publishes a new signed prekey now, whatever the schedule (e.g. after a suspected
    /// compromise), and starts the grace period of the one it replaces.
    pub async fn rotate_prekey(&mut self, device: &mut Device, now_ms: u64) -> Result<()> {
        let serial = device.agreement.current().map_or(1, |p| p.serial + 1);
        let key = AgreementKeyPair::generate().map_err(crypto)?;
        let record = SignedPrekey::new(
            &device.certificate.user_id,
            &device.device_id,
            serial,
            now_ms,
            &key,
            &device.keys,
        )
        .map_err(crypto)?;
        self.call_with_no_answer(
            routes::DEVICE_PREKEY_PUBLISH,
            [&device.device_id],
            &PublishPrekey {
                prekey: record.clone(),
            },
        )
        .await?;
        if let Some(previous) = device.agreement.held.last_mut() {
            previous.retired_at = Some(now_ms);
        }
        device
            .agreement
            .certificate_replaced_at
            .get_or_insert(now_ms);
        device.agreement.held.push(HeldPrekey {
            record: record.clone(),
            key,
            retired_at: None,
        });
        self.prekeys.insert(device.device_id.clone(), record);
        Ok(())
    }

    /// Tells the server which fetched wraps this device has stored, so it deletes them
    /// (docs/PROTOCOL.md §23.3). Call it once the keys are stored durably: an
    /// [`Agent`](super::Agent) does after writing its store.
    pub async fn acknowledge_keys(&mut self, device: &Device) -> Result<()> {
        let pending = std::mem::take(&mut self.unacknowledged);
        let mut by_channel: std::collections::BTreeMap<String, BTreeSet<u64>> =
            std::collections::BTreeMap::new();
        for (channel, epoch) in pending {
            by_channel.entry(channel).or_default().insert(epoch);
        }
        let mut failure = None;
        for (channel, epochs) in by_channel {
            let body = KeysDelivered {
                device_id: device.device_id.as_str().into(),
                epochs: epochs.iter().copied().collect(),
            };
            if let Err(err) = self
                .call_with_no_answer(routes::CHANNEL_KEYS_DELIVERED, [&channel], &body)
                .await
            {
                // A network or server failure keeps them for the next call; a refusal
                // (a channel destroyed since) drops them. The server also deletes
                // unfetched wraps after its bound.
                let retry = match &err {
                    ClientError::Transport(_) => true,
                    ClientError::Api { status, .. } => status.is_server_error(),
                    _ => false,
                };
                if retry {
                    for epoch in epochs {
                        self.unacknowledged.insert((channel.clone(), epoch));
                    }
                }
                failure.get_or_insert(err);
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// When the current version of each case identity this user reads was sealed (the
    /// server's `sealed_at`): those records are wrapped to the key of this device that was
    /// current then, which must stay.
    async fn identity_seal_times(&self) -> Result<Vec<u64>> {
        let channels: Vec<Channel> = self.call(routes::CHANNELS, []).await?;
        let mut sealed = Vec::new();
        for channel in channels.iter().filter(|c| c.kind == ChannelKind::Case) {
            let view: CaseView = self.call(routes::CASE, [&channel.id]).await?;
            if let (true, Some(identity)) = (view.caller_reads_identity, view.identity) {
                sealed.push(u64::try_from(identity.sealed_at).unwrap_or_default());
            }
        }
        Ok(sealed)
    }

    /// Remembers a served prekey after checking it against the device's verified
    /// certificate; refuses an older serial than one seen before (a replayed prekey).
    pub(crate) fn note_prekey(&mut self, device_id: &str, prekey: Option<SignedPrekey>) {
        let seen = self.prekey_serials.get(device_id).copied().unwrap_or(0);
        match prekey {
            Some(prekey) if prekey.serial >= seen => {
                self.prekey_serials
                    .insert(device_id.to_owned(), prekey.serial);
                self.prekeys.insert(device_id.to_owned(), prekey);
            }
            // Older than one seen, or gone after one was seen: never wrap to an older
            // key; the device is withheld until it serves a current one.
            _ if seen > 0 => {
                self.prekeys.remove(device_id);
                self.stale_prekeys.insert(device_id.to_owned());
                return;
            }
            _ => {
                self.prekeys.remove(device_id);
            }
        }
        self.stale_prekeys.remove(device_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_needed_by_an_identity_sealed_while_it_was_current_give_or_take_a_day() {
        let day = IDENTITY_SEAL_MARGIN_MS;
        // Current from day 10 to day 20.
        let (from, until) = (10 * day, 20 * day);
        assert!(!needed_by_identity(&[], from, until));
        assert!(needed_by_identity(&[15 * day], from, until));
        assert!(needed_by_identity(&[9 * day], from, until));
        assert!(needed_by_identity(&[21 * day], from, until));
        assert!(!needed_by_identity(&[9 * day - 1], from, until));
        assert!(!needed_by_identity(&[21 * day + 1], from, until));
        assert!(needed_by_identity(&[0, 30 * day, 12 * day], from, until));
        // The certificate's key: current from the start until the first prekey.
        assert!(needed_by_identity(&[3 * day], 0, 5 * day));
        assert!(!needed_by_identity(&[7 * day], 0, 5 * day));
    }
}
