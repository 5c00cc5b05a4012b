//! The key transparency log as the SDK checks it (docs/PROTOCOL.md §25): the client
//! audits the whole log — it fetches every entry from the size it audited last up to the
//! signed head, recomputes the tree and finds the head's root — so it knows every entry,
//! in order, and keeps a summary per user (kept between runs with the head). Before using
//! a colleague's identity key or device certificate it checks them against that summary;
//! it watches its own account's entries for changes it did not make (self-monitoring);
//! and it compares the heads other clients gossip in their messages with its own (§27).
//! Old identities stay in the log, so a device certified under an identity its owner has
//! since reset still verifies her earlier messages, marked as sent with an old key.

use std::collections::{BTreeSet, HashMap};

use super::{decode, Client, ClientError, Result};
use crate::crypto::{
    check_gossiped_head, decode_proof, encode_hash, AccountChange, AuditedLog, Checkpoint,
    GossipedHead, IdentityPublicKey, KeyLogError, KeyLogHead, KeyLogVerifier, LoggedKeys,
};
use crate::protocol::v1::key_log::{
    KeyLogConsistency, KeyLogEntries, KeyLogHeadBody, KEY_LOG_PAGE_MAX,
};
use crate::protocol::v1::keys::UserKeys;
use crate::protocol::v1::routes;

/// What the client knows of the key log.
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyLogState {
    /// The head accepted last (restored from the agent's store).
    pub(crate) head: Option<KeyLogHead>,
    /// The entries audited under that head, summarised (restored with it).
    pub(crate) audit: AuditedLog,
    /// This account's devices this client certified (its own, a linked one): the
    /// changes of the account it knows of (self-monitoring).
    pub(crate) certified: BTreeSet<String>,
    /// The first disagreement found between this client's head and one another
    /// client gossiped: the server shows different logs to different clients.
    pub(crate) split_view: Option<KeyLogError>,
    /// Heads gossiped by others already shown to be of this client's log (its heads
    /// only ever extend each other, so they stay so): checked once each.
    joined: BTreeSet<(u64, crate::crypto::merkle::Hash)>,
    /// Devices certified by a previous identity of their owner, as the log shows, with
    /// that identity.
    pub(crate) old_key_devices: HashMap<String, IdentityPublicKey>,
}

fn refused(err: KeyLogError) -> ClientError {
    ClientError::KeyLog(err)
}

fn decode_root(text: &str) -> Result<crate::crypto::merkle::Hash> {
    decode_proof(std::slice::from_ref(&text.to_owned()))
        .and_then(|mut r| r.pop())
        .ok_or(ClientError::Store("key log head".into()))
}

impl Client {
    /// The key log's head accepted last, to keep between runs.
    pub fn key_log_head(&self) -> Option<&KeyLogHead> {
        self.key_log.head.as_ref()
    }

    /// Puts back the head an earlier run accepted, so that a server that rewrites the
    /// log between runs is caught. Without the audited entries that go with it
    /// ([`Client::restore_key_log`]), the next check audits the log from its start and
    /// requires the entries up to that head to make its root.
    pub fn restore_key_log_head(&mut self, head: Option<KeyLogHead>) {
        self.key_log.head = head;
    }

    /// What this client audited of the log, to keep between runs with the head.
    pub fn key_log_audit(&self) -> &AuditedLog {
        &self.key_log.audit
    }

    /// The devices of this account this client certified, to keep between runs.
    pub fn key_log_certified(&self) -> &BTreeSet<String> {
        &self.key_log.certified
    }

    /// Puts back what an earlier run audited and certified. An audit that does not end
    /// at the restored head is dropped: the next check audits the log again from its
    /// start.
    pub fn restore_key_log(&mut self, audit: Option<AuditedLog>, certified: BTreeSet<String>) {
        let matches = |audit: &AuditedLog| {
            self.key_log.head.as_ref().is_some_and(|head| {
                head.size == audit.size() && encode_hash(&audit.root()) == head.root
            })
        };
        if let Some(audit) = audit.filter(matches) {
            self.key_log.audit = audit;
        }
        self.key_log.certified.extend(certified);
    }

    /// Remembers a device of this account certified here (self-monitoring).
    pub(crate) fn certified_here(&mut self, device_id: &str) {
        self.key_log.certified.insert(device_id.to_owned());
    }

    /// Whether messages from `device_id` are signed under a previous identity of their
    /// sender (« envoyé avec une ancienne clé »): readable and verified, but the sender
    /// has reset her keys since.
    pub fn sent_with_old_key(&self, device_id: &str) -> bool {
        self.key_log.old_key_devices.contains_key(device_id)
    }

    /// Fetches the log's head and accepts it only if it is signed by the log's key (the
    /// one seen first) and the entries from the size audited last up to it make its
    /// root, going through the head accepted before: then the log extends that head and
    /// this client has seen every entry of it.
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
            Some(head) => Some((head.size, decode_root(&head.root)?)),
            None => None,
        };
        let inconsistent = |old_size| {
            refused(KeyLogError::Inconsistent {
                old_size,
                new_size: checkpoint.size,
            })
        };
        if let Some((size, _)) = old_head {
            if size > checkpoint.size {
                return Err(inconsistent(size));
            }
        }
        // The audit goes on from the accepted head when it ends there, else from scratch.
        let mut audit = match old_head {
            Some((size, root)) if self.key_log.audit.size() == size => {
                if self.key_log.audit.root() != root {
                    return Err(inconsistent(size));
                }
                self.key_log.audit.clone()
            }
            _ => AuditedLog::default(),
        };
        while audit.size() < checkpoint.size {
            let start = audit.size();
            let end = checkpoint.size.min(start + KEY_LOG_PAGE_MAX);
            let page: KeyLogEntries = decode(
                self.endpoint(routes::KEY_LOG_ENTRIES, [])
                    .query(&[("start", start), ("end", end)])
                    .send()
                    .await?,
            )
            .await?;
            if page.entries.is_empty() {
                return Err(refused(KeyLogError::Incomplete(checkpoint.size)));
            }
            for record in page.entries.iter().take_while(|r| r.index < end) {
                audit
                    .push(record.index, record.at, &record.entry)
                    .map_err(refused)?;
                if let Some((size, root)) = old_head {
                    if audit.size() == size && audit.root() != root {
                        return Err(inconsistent(size));
                    }
                }
            }
        }
        if audit.root() != checkpoint.root {
            return Err(match old_head {
                Some((size, _)) => inconsistent(size),
                None => refused(KeyLogError::Incomplete(checkpoint.size)),
            });
        }
        self.key_log.audit = audit;
        self.key_log.head = Some(KeyLogHead {
            verifier: body.verifier_key,
            size: checkpoint.size,
            root: encode_hash(&checkpoint.root),
        });
        Ok(checkpoint)
    }

    /// What the log proves about `user_id`'s keys, under a freshly accepted head.
    pub async fn logged_keys(&mut self, user_id: &str) -> Result<LoggedKeys> {
        self.refresh_key_log().await?;
        Ok(self.key_log.audit.user(user_id))
    }

    /// Checks the keys the server serves for a user against the log: the identity key
    /// must be their last logged one, every device certified by it must be logged, a
    /// device the log shows revoked must be served revoked and no live device of the
    /// log may be left out. A device certified by an earlier logged identity is
    /// remembered as such, for reading the history. Devices certified by no identity the
    /// log knows (registered before the log, under a key replaced since) are left to the
    /// usual checks, which refuse them.
    pub(crate) async fn check_served_keys(&mut self, keys: &UserKeys) -> Result<()> {
        let Some(identity) = &keys.identity_key else {
            return Ok(());
        };
        // Entries below this size were audited before the directory answered.
        let before = self.key_log.audit.size();
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
        let served = |keys: &UserKeys| -> Vec<(String, bool)> {
            keys.devices
                .iter()
                .map(|d| (d.certificate.device_id.clone(), d.revoked_at.is_some()))
                .collect()
        };
        let check = |seen: u64, served: &[(String, bool)]| {
            logged.check_served_devices(seen, served.iter().map(|(id, r)| (id.as_str(), *r)))
        };
        let now = self.key_log.audit.size();
        let first = served(keys);
        if check(now, &first).is_err() {
            // What the log showed before the directory answered must hold; what was
            // appended since, against a directory read after the head.
            check(before, &first).map_err(refused)?;
            let again: UserKeys = self.call(routes::USER_KEYS, [&keys.user_id]).await?;
            check(now, &served(&again)).map_err(refused)?;
        }
        Ok(())
    }

    /// The changes of this account that `device_id` (the device this client runs) did
    /// not make nor approve, as the audited log shows them: a device added by no one
    /// this client knows of, or a new identity key (docs/PROTOCOL.md §25.4). The user
    /// is shown each: « Un appareil que vous ne reconnaissez peut-être pas a été ajouté
    /// à votre compte le … ».
    pub async fn account_changes(&mut self, device_id: &str) -> Result<Vec<AccountChange>> {
        self.refresh_key_log().await?;
        let mut known = self.key_log.certified.clone();
        known.insert(device_id.to_owned());
        Ok(self
            .key_log
            .audit
            .unknown_changes(&self.me.id, device_id, &known))
    }

    /// The head this client accepted, as a message carries it (§27).
    pub(crate) fn gossip_head(&self) -> Option<GossipedHead> {
        let head = self.key_log.head.as_ref()?;
        Some(GossipedHead {
            size: head.size,
            root: decode_root(&head.root).ok()?,
        })
    }

    /// The disagreement found between this client's head and one another client
    /// gossiped, if any: the server shows different logs to different clients.
    pub fn key_log_split_view(&self) -> Option<&KeyLogError> {
        self.key_log.split_view.as_ref()
    }

    /// Checks a head another client accepted (carried by its message, §27) against
    /// this client's: the same size must have the same root; a smaller one must be
    /// extended by this one (consistency proof from the server); a larger one must be
    /// reached by refreshing this client's head. A disagreement is
    /// [`KeyLogError::SplitView`], kept for [`Client::key_log_split_view`]. A failed
    /// connection leaves the check for the next message.
    pub async fn check_gossiped_head(&mut self, theirs: &GossipedHead) -> Result<()> {
        if self.key_log.joined.contains(&(theirs.size, theirs.root)) {
            return Ok(());
        }
        match self.compare_head(theirs).await {
            Ok(()) => {
                self.key_log.joined.insert((theirs.size, theirs.root));
                Ok(())
            }
            Err(ClientError::Transport(_)) => Ok(()),
            // Anything else is the server's failure to show the two heads are one log.
            Err(_) => {
                let split = KeyLogError::SplitView {
                    mine: self.key_log.head.as_ref().map_or(0, |h| h.size),
                    theirs: theirs.size,
                };
                self.key_log.split_view.get_or_insert(split.clone());
                Err(refused(split))
            }
        }
    }

    async fn compare_head(&mut self, theirs: &GossipedHead) -> Result<()> {
        let mine = match &self.key_log.head {
            Some(head) if head.size >= theirs.size => head.clone(),
            _ => {
                self.refresh_key_log().await?;
                self.key_log
                    .head
                    .clone()
                    .ok_or(ClientError::Store("key log head".into()))?
            }
        };
        let root = decode_root(&mine.root)?;
        let proof = if mine.size == theirs.size {
            Vec::new()
        } else {
            let (from, to) = (mine.size.min(theirs.size), mine.size.max(theirs.size));
            let answer: KeyLogConsistency = decode(
                self.endpoint(routes::KEY_LOG_CONSISTENCY, [])
                    .query(&[("from", from), ("to", to)])
                    .send()
                    .await?,
            )
            .await?;
            decode_proof(&answer.proof).ok_or(refused(KeyLogError::SplitView {
                mine: mine.size,
                theirs: theirs.size,
            }))?
        };
        check_gossiped_head((mine.size, &root), theirs, &proof).map_err(refused)
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
