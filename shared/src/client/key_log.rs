//! The key transparency log as the SDK checks it (docs/PROTOCOL.md §25): before using a
//! colleague's identity key or device certificate, the client fetches the log's signed
//! head, checks that it extends the head it accepted last (kept between runs), and checks
//! that the key is in the log. Old identities stay in the log, so a device certified under
//! an identity its owner has since reset still verifies her earlier messages, which the
//! application can mark as sent with an old key.

use std::collections::HashMap;

use super::{decode, Client, ClientError, Result};
use crate::crypto::{
    check_consistency, decode_proof, encode_hash, Checkpoint, IdentityPublicKey, KeyLogError,
    KeyLogHead, KeyLogVerifier, LoggedKeys,
};
use crate::protocol::v1::key_log::{KeyLogConsistency, KeyLogHeadBody, UserKeyLog};
use crate::protocol::v1::keys::UserKeys;
use crate::protocol::v1::routes;

/// What the client knows of the key log.
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyLogState {
    /// The head accepted last (restored from the agent's store).
    pub(crate) head: Option<KeyLogHead>,
    /// Per user, what the log proved at a head size: reused while the head does not grow.
    users: HashMap<String, (u64, LoggedKeys)>,
    /// Devices certified by a previous identity of their owner, as the log shows, with
    /// that identity.
    pub(crate) old_key_devices: HashMap<String, IdentityPublicKey>,
}

fn refused(err: KeyLogError) -> ClientError {
    ClientError::KeyLog(err)
}

impl Client {
    /// The key log's head accepted last, to keep between runs.
    pub fn key_log_head(&self) -> Option<&KeyLogHead> {
        self.key_log.head.as_ref()
    }

    /// Puts back the head an earlier run accepted, so that a server that rewrites the
    /// log between runs is caught.
    pub fn restore_key_log_head(&mut self, head: Option<KeyLogHead>) {
        self.key_log.head = head;
    }

    /// Whether messages from `device_id` are signed under a previous identity of their
    /// sender (« envoyé avec une ancienne clé »): readable and verified, but the sender
    /// has reset her keys since.
    pub fn sent_with_old_key(&self, device_id: &str) -> bool {
        self.key_log.old_key_devices.contains_key(device_id)
    }

    /// Fetches the log's head and accepts it only if it is signed by the log's key (the
    /// one seen first) and extends the head accepted before.
    pub async fn refresh_key_log(&mut self) -> Result<Checkpoint> {
        let body: KeyLogHeadBody = self.call(routes::KEY_LOG_HEAD, []).await?;
        let old = self.key_log.head.clone();
        if old
            .as_ref()
            .is_some_and(|h| h.verifier != body.verifier_key)
        {
            return Err(refused(KeyLogError::BadCheckpoint));
        }
        let verifier = KeyLogVerifier::parse(&body.verifier_key).map_err(refused)?;
        let checkpoint = verifier.open(&body.checkpoint).map_err(refused)?;
        let old_head = match &old {
            Some(head) => Some((
                head.size,
                decode_proof(std::slice::from_ref(&head.root))
                    .and_then(|mut r| r.pop())
                    .ok_or(ClientError::Store("key log head".into()))?,
            )),
            None => None,
        };
        let proof = match old_head {
            Some((size, _)) if size < checkpoint.size => {
                let query = [("from", size), ("to", checkpoint.size)];
                let answer: KeyLogConsistency = decode(
                    self.endpoint(routes::KEY_LOG_CONSISTENCY, [])
                        .query(&query)
                        .send()
                        .await?,
                )
                .await?;
                decode_proof(&answer.proof).ok_or(refused(KeyLogError::Inconsistent {
                    old_size: size,
                    new_size: checkpoint.size,
                }))?
            }
            _ => Vec::new(),
        };
        check_consistency(old_head, &checkpoint, &proof).map_err(refused)?;
        self.key_log.head = Some(KeyLogHead {
            verifier: body.verifier_key,
            size: checkpoint.size,
            root: encode_hash(&checkpoint.root),
        });
        Ok(checkpoint)
    }

    /// What the log proves about `user_id`'s keys, under a freshly accepted head.
    pub async fn logged_keys(&mut self, user_id: &str) -> Result<LoggedKeys> {
        let head = self.refresh_key_log().await?;
        if let Some((size, keys)) = self.key_log.users.get(user_id) {
            if *size == head.size {
                return Ok(keys.clone());
            }
        }
        let answer: UserKeyLog = decode(
            self.endpoint(routes::KEY_LOG_USER, [user_id])
                .query(&[("size", head.size)])
                .send()
                .await?,
        )
        .await?;
        let mut entries = Vec::new();
        for proof in answer.entries {
            let path =
                decode_proof(&proof.proof).ok_or(refused(KeyLogError::NotIncluded(proof.index)))?;
            entries.push((proof.index, proof.entry, path));
        }
        let keys = LoggedKeys::verify(user_id, &head, &entries).map_err(refused)?;
        self.key_log
            .users
            .insert(user_id.to_owned(), (head.size, keys.clone()));
        Ok(keys)
    }

    /// Checks the keys the server serves for a user against the log: the identity key
    /// must be their last logged one, and every device certified by it must be logged.
    /// A device certified by an earlier logged identity is remembered as such, for
    /// reading the history. Devices certified by no identity the log knows (registered
    /// before the log, under a key replaced since) are left to the usual checks, which
    /// refuse them.
    pub(crate) async fn check_served_keys(&mut self, keys: &UserKeys) -> Result<()> {
        let Some(identity) = &keys.identity_key else {
            return Ok(());
        };
        let logged = self.logged_keys(&keys.user_id).await?;
        logged
            .check_identity(&keys.user_id, identity)
            .map_err(refused)?;
        for device in &keys.devices {
            let certificate = &device.certificate;
            match logged.certificate(certificate) {
                Ok(found) if found.old_identity => {
                    self.key_log
                        .old_key_devices
                        .insert(certificate.device_id.clone(), found.identity);
                }
                Ok(_) => {
                    self.key_log.old_key_devices.remove(&certificate.device_id);
                }
                Err(err) if certificate.verify(identity).is_ok() => return Err(refused(err)),
                Err(_) => {}
            }
        }
        Ok(())
    }

    /// The signing key of a wrap made by a device of a previous identity of a member
    /// (the log shows it, its certificate verified under that identity), for an epoch
    /// older than the channel's current one: the keys of the history she wrote before
    /// her reset. Never for the epoch in use, so nothing is written under such a key.
    pub(crate) fn old_key_wrap_sender(
        &self,
        channel_id: &str,
        wrapped: &crate::crypto::WrappedEpochKey,
    ) -> Option<crate::crypto::DeviceSigningPublicKey> {
        if !self
            .key_log
            .old_key_devices
            .contains_key(&wrapped.sender_device)
            || wrapped.channel_id != channel_id
        {
            return None;
        }
        let current = self.channel_epochs.get(channel_id)?;
        let certificate = self.devices.get(&wrapped.sender_device)?;
        let member = self
            .rosters
            .get(channel_id)
            .is_some_and(|r| r.is_member(&certificate.user_id));
        (member && wrapped.epoch < *current).then(|| certificate.keys.signing.clone())
    }

    /// The identity to check `device_id`'s certificate with: the previous identity the
    /// log shows it was certified by, or `current`.
    pub(crate) fn certifying_identity(
        &self,
        device_id: &str,
        current: &IdentityPublicKey,
    ) -> (IdentityPublicKey, bool) {
        match self.key_log.old_key_devices.get(device_id) {
            Some(old) => (old.clone(), true),
            None => (current.clone(), false),
        }
    }
}
