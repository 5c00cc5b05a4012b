//! A device of the SDK: enrolment, recovery, the key backup, epochs, sealing and opening.

use reqwest::{header, StatusCode};

use super::{decode, expect_ok, Client, ClientError, Result};
use crate::crypto::{
    AttachmentRef, BackupContents, BackupError, BackupPages, DeviceCertificate,
    DeviceCertificateRequest, DeviceKeys, Envelope, EpochKey, IdentityKeyPair, IdentityPublicKey,
    KeyBackup, KeyBackupHead, MessageContent, MessageHeader, RecoveryCode, Roster, RosterError,
    Shredded, StoredBackup, WrapError,
};
use crate::protocol::v1::channels::{
    ChannelDetail, DestroyedChannels, DestroyedQuery, DeviceKeysPage, EpochState, PublishEpoch,
    StoredMessage, WithheldKey, MAX_DESTROYED_QUERY,
};
use crate::protocol::v1::keys::{
    KeyBackupBody, KeyBackupHeadWritten, KeyBackupPageBody, KeysReset, PutKeyBackupHead,
    PutKeyBackupPage, RegisterDevice, ResetKeys, UserKeys,
};
use crate::protocol::v1::routes;

pub(crate) fn crypto(err: impl std::fmt::Display) -> ClientError {
    ClientError::Crypto(err.to_string())
}

/// This device: its keys and certificate, and the identity and backup keys when it holds
/// them (a device enrolled or restored with the recovery code does; a device linked from
/// another device does not, docs/PROTOCOL.md §5.5).
pub struct Device {
    /// The device id (a random UUID chosen here, signed into the certificate).
    pub device_id: String,
    pub(crate) keys: DeviceKeys,
    /// Its certificate.
    pub certificate: DeviceCertificate,
    pub(crate) account: Option<AccountKeys>,
    /// Its signed prekeys (docs/PROTOCOL.md §23).
    pub(crate) agreement: super::prekeys::AgreementKeys,
}

/// What only a device that knows the recovery code holds.
pub(crate) struct AccountKeys {
    pub(crate) identity: IdentityKeyPair,
    backup_version: Option<i64>,
    backup_key: crate::crypto::BackupKey,
    /// The backup's pages as last read or written here, so that a write fetches only
    /// the pages another device changed (docs/PROTOCOL.md §10.8). In memory only: the
    /// first write after a restart fetches every page once.
    backup_pages: BackupPages,
}

/// The stored key backup, opened and checked.
struct OpenedBackup {
    /// The server's version of it (its ETag).
    version: i64,
    /// The head's contents, or the whole blob's for a backup of the first format (its
    /// epoch keys then are in here, not in `pages`).
    contents: BackupContents,
    /// The pages, every one checked against the hash its head names.
    pages: BackupPages,
}

/// The result of enrolling the first device: show the recovery code once.
pub struct Enrolment {
    /// The device.
    pub device: Device,
    /// The recovery code, to write down; the SDK does not keep it.
    pub recovery_code: RecoveryCode,
}

impl Client {
    /// Enrols this account's first device: creates the identity key, certifies the
    /// device and seals the first key backup, and has the server store the three in one
    /// request (docs/PROTOCOL.md §5.5), so that a failure leaves no identity without its
    /// device and backup. Refused (`identity_exists`) if the account already has an
    /// identity: restore with the recovery code instead.
    pub async fn enrol_first_device(&mut self, name: &str) -> Result<Enrolment> {
        self.new_keys(name, true).await
    }

    /// New keys for an account whose recovery code is lost and whose devices are all
    /// revoked (docs/PROTOCOL.md §5.6): a new identity, a first device and a first key
    /// backup under a new recovery code, stored by the server in one step. The history
    /// sealed under the old keys stays unreadable; colleagues' clients see the identity
    /// change.
    pub async fn reset_keys(&mut self, name: &str) -> Result<Enrolment> {
        self.new_keys(name, false).await
    }

    /// A new identity, its first device and first backup, sent in one request: a first
    /// enrolment (`enrol`) or a reset.
    async fn new_keys(&mut self, name: &str, enrol: bool) -> Result<Enrolment> {
        let identity = IdentityKeyPair::generate().map_err(crypto)?;
        let recovery_code = RecoveryCode::generate().map_err(crypto)?;
        let backup_key = recovery_code.backup_key(&self.me.id);
        let device_id = uuid_v4()?;
        let keys = DeviceKeys::generate().map_err(crypto)?;
        let request =
            DeviceCertificateRequest::new(&self.me.id, &device_id, identity.public_key(), &keys)
                .map_err(crypto)?;
        let certificate = identity.certify(&request).map_err(crypto)?;
        // Its own entry in the key log is then no surprise to self-monitoring (§25.4).
        self.certified_here(&device_id);
        let contents = BackupContents::new(
            IdentityKeyPair::from_private_bytes(&identity.to_private_bytes()).map_err(crypto)?,
        );
        let backup = KeyBackup::seal(&contents, &backup_key, &self.me.id, 1).map_err(crypto)?;
        let reset: KeysReset = decode(
            self.endpoint(routes::KEYS_RESET, [])
                .json(&ResetKeys {
                    identity_key: identity.public_key().clone(),
                    certificate: certificate.clone(),
                    name: name.into(),
                    backup,
                    enrol,
                })
                .send()
                .await?,
        )
        .await?;
        // Nothing of an old identity is of use any more.
        self.epoch_keys.clear();
        self.known_identities
            .insert(self.me.id.to_string(), identity.public_key().clone());
        self.devices.insert(device_id.clone(), certificate.clone());
        Ok(Enrolment {
            device: Device {
                device_id,
                keys,
                certificate,
                account: Some(AccountKeys {
                    identity,
                    backup_version: Some(reset.backup_version),
                    backup_key,
                    backup_pages: BackupPages::new(),
                }),
                agreement: Default::default(),
            },
            recovery_code,
        })
    }

    /// Admits a new device with the recovery code: opens the key backup, takes the
    /// identity key and the past epoch keys from it, and registers the device.
    pub async fn restore_with_recovery_code(&mut self, code: &str, name: &str) -> Result<Device> {
        let code = RecoveryCode::parse(code).map_err(crypto)?;
        let backup_key = code.backup_key(&self.me.id);
        let opened = self
            .open_stored_backup(&backup_key, None, BackupPages::new())
            .await?
            .ok_or(ClientError::Api {
                status: StatusCode::NOT_FOUND,
                code: "not_found".into(),
            })?;
        let contents = opened.contents;
        // Trust travels: the colleagues pinned and verified on the account's other devices.
        for (user, key, verified) in contents.identities() {
            if user == self.me.id {
                continue;
            }
            let pinned = self
                .known_identities
                .entry(user.to_owned())
                .or_insert_with(|| key.clone());
            if verified && pinned == key {
                self.verified.insert(user.to_owned());
            }
        }
        for (channel, what) in contents.tombstones() {
            self.shred(channel, what);
        }
        for (channel, epoch, key) in contents.epoch_keys().chain(opened.pages.epoch_keys()) {
            if self.is_shredded(channel, epoch) {
                continue;
            }
            self.epoch_keys.insert(
                (channel.to_owned(), epoch),
                EpochKey::from_bytes(&key.to_bytes()),
            );
        }
        let identity = IdentityKeyPair::from_private_bytes(&contents.identity().to_private_bytes())
            .map_err(crypto)?;
        let mut device = self.register_device(identity, backup_key, name).await?;
        if let Some(account) = device.account.as_mut() {
            account.backup_version = Some(opened.version);
            account.backup_pages = opened.pages;
        }
        Ok(device)
    }

    async fn register_device(
        &mut self,
        identity: IdentityKeyPair,
        backup_key: crate::crypto::BackupKey,
        name: &str,
    ) -> Result<Device> {
        let device_id = uuid_v4()?;
        let keys = DeviceKeys::generate().map_err(crypto)?;
        let request =
            DeviceCertificateRequest::new(&self.me.id, &device_id, identity.public_key(), &keys)
                .map_err(crypto)?;
        let certificate = identity.certify(&request).map_err(crypto)?;
        // Its own entry in the key log is then no surprise to self-monitoring (§25.4).
        self.certified_here(&device_id);
        expect_ok(
            self.endpoint(routes::DEVICE_REGISTER, [])
                .json(&RegisterDevice {
                    certificate: certificate.clone(),
                    name: name.into(),
                })
                .send()
                .await?,
        )
        .await?;
        self.known_identities
            .insert(self.me.id.to_string(), identity.public_key().clone());
        self.devices.insert(device_id.clone(), certificate.clone());
        Ok(Device {
            device_id,
            keys,
            certificate,
            account: Some(AccountKeys {
                identity,
                backup_version: None,
                backup_key,
                backup_pages: BackupPages::new(),
            }),
            agreement: Default::default(),
        })
    }

    /// Writes the key backup (identity and every epoch key held), with the version check.
    /// A linked device holds neither the identity nor the backup key: it writes nothing.
    pub async fn write_backup(&mut self, device: &mut Device) -> Result<()> {
        let Some(account) = device.account.as_mut() else {
            return Ok(());
        };
        // What the account's other devices wrote since is merged, not overwritten: their
        // epoch keys, and the colleagues they pinned or verified (docs/PROTOCOL.md §10.5).
        // Only the pages whose hash changed since this device last saw them are fetched.
        let cache = std::mem::take(&mut account.backup_pages);
        let opened = match account.backup_version {
            Some(seen) => {
                self.open_stored_backup(&account.backup_key, Some(seen), cache)
                    .await?
            }
            None => None,
        };
        let (current, mut pages) = match opened {
            Some(opened) => {
                account.backup_version = Some(opened.version);
                (Some(opened.contents), opened.pages)
            }
            None => (None, BackupPages::new()),
        };
        let identity = IdentityKeyPair::from_private_bytes(&account.identity.to_private_bytes())
            .map_err(crypto)?;
        let mut contents = BackupContents::new(identity);
        // Tombstones first, from both sides: a key one of them covers goes into neither
        // the new revision nor this client (docs/PROTOCOL.md §10.6).
        if let Some(current) = &current {
            for (channel, what) in current.tombstones() {
                self.shred(channel, what);
            }
        }
        // And the channels destroyed while this client was away, as the server lists them.
        let mut held: std::collections::BTreeSet<String> =
            self.epoch_keys.keys().map(|(c, _)| c.clone()).collect();
        if let Some(current) = &current {
            held.extend(current.epoch_keys().map(|(c, _, _)| c.to_owned()));
        }
        held.extend(pages.epoch_keys().map(|(c, _, _)| c.to_owned()));
        let held: Vec<String> = held
            .into_iter()
            .filter(|c| self.shredded.get(c) != Some(&Shredded::Channel))
            .collect();
        for chunk in held.chunks(MAX_DESTROYED_QUERY) {
            let answer: DestroyedChannels = self
                .call_with(
                    routes::CHANNELS_DESTROYED,
                    [],
                    &DestroyedQuery {
                        channel_ids: chunk.iter().map(Into::into).collect(),
                    },
                )
                .await?;
            for channel in answer.destroyed {
                self.shred(&channel, Shredded::Channel);
            }
        }
        for (channel, what) in self.tombstones() {
            contents.shred(channel, what);
        }
        if let Some(current) = &current {
            for (user, key, verified) in current.identities() {
                let known = self.known_identities.get(user);
                if known.is_none_or(|k| k == key) {
                    let verified = verified || (known.is_some() && self.verified.contains(user));
                    contents.insert_identity(user, key.clone(), verified);
                }
            }
        }
        for (user, key) in &self.known_identities {
            if *user == self.me.id {
                continue;
            }
            let backed_up = contents
                .identities()
                .any(|(u, k, v)| u == user && k == key && v);
            contents.insert_identity(user, key.clone(), backed_up || self.verified.contains(user));
        }
        // The epoch keys go into pages (§10.8): the keys of a backup of the first format
        // (converted by this write) and this device's own; the tombstones drop what they
        // cover, pages left empty go, pages mostly shredded are merged.
        let legacy = current
            .iter()
            .flat_map(|c| c.epoch_keys())
            .collect::<Vec<_>>();
        pages.update(
            &contents,
            legacy.into_iter().chain(
                self.epoch_keys
                    .iter()
                    .map(|((channel, epoch), key)| (channel.as_str(), *epoch, key)),
            ),
        );
        for page in pages
            .seal_changed(&account.backup_key, &self.me.id)
            .map_err(crypto)?
        {
            let hash = page.hash().to_string();
            expect_ok(
                self.endpoint(routes::KEY_BACKUP_PAGE_PUT, [hash.as_str()])
                    .json(&PutKeyBackupPage { page })
                    .send()
                    .await?,
            )
            .await?;
        }
        let references = pages
            .references()
            .ok_or_else(|| ClientError::Protocol("a backup page was left unsealed".into()))?;
        // Kept whether the head swap below succeeds or not: after a 412 the next read
        // finds the unchanged pages here and fetches only those another device rewrote.
        account.backup_pages = pages;
        let revision = u64::try_from(account.backup_version.unwrap_or(0) + 1).unwrap_or(1);
        let head = KeyBackupHead::seal(
            &contents,
            references,
            &account.backup_key,
            &self.me.id,
            revision,
        )
        .map_err(crypto)?;
        let mut request = self
            .endpoint(routes::KEY_BACKUP_HEAD_PUT, [])
            .json(&PutKeyBackupHead { head });
        request = match account.backup_version {
            Some(version) => request.header(header::IF_MATCH, format!("\"{version}\"")),
            None => request.header(header::IF_NONE_MATCH, "*"),
        };
        let written: KeyBackupHeadWritten = decode(request.send().await?).await?;
        account.backup_version = Some(written.version);
        Ok(())
    }

    /// Reads the stored key backup and opens it: a blob of the first format as it is, a
    /// paged backup's head and then each page it names, taken from `cache` when its hash
    /// is unchanged, fetched otherwise and checked against that hash (docs/PROTOCOL.md
    /// §10.8). A page the server no longer serves, or serves altered or older, fails
    /// the whole read ([`BackupError::PageMissing`], [`BackupError::PageAltered`]):
    /// nothing is silently missing. `None` when the account has no backup.
    async fn open_stored_backup(
        &self,
        key: &crate::crypto::BackupKey,
        seen_version: Option<i64>,
        mut cache: BackupPages,
    ) -> Result<Option<OpenedBackup>> {
        let response = self.endpoint(routes::KEY_BACKUP, []).send().await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body: KeyBackupBody = decode(response).await?;
        let stored: StoredBackup =
            serde_json::from_value(body.data).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let (contents, pages) = match stored {
            StoredBackup::Single(sealed) => {
                if sealed.user_id != self.me.id {
                    return Err(ClientError::Protocol("a key backup of another user".into()));
                }
                (sealed.open(key).map_err(crypto)?, BackupPages::new())
            }
            StoredBackup::Head(head) => {
                if head.user_id != self.me.id {
                    return Err(ClientError::Protocol("a key backup of another user".into()));
                }
                // The server cannot roll the backup back to a head without recent keys.
                if seen_version.is_some_and(|seen| (head.revision as i64) < seen) {
                    return Err(crypto(BackupError::RolledBack));
                }
                let contents = head.open(key).map_err(crypto)?;
                let mut pages = BackupPages::new();
                for reference in &head.pages {
                    let keys = match cache.take(&reference.hash) {
                        Some(keys) => keys,
                        None => {
                            let hash = reference.hash.to_string();
                            let response = self
                                .endpoint(routes::KEY_BACKUP_PAGE, [hash.as_str()])
                                .send()
                                .await?;
                            if response.status() == StatusCode::NOT_FOUND {
                                return Err(crypto(BackupError::PageMissing));
                            }
                            let body: KeyBackupPageBody = decode(response).await?;
                            body.page
                                .open(key, &self.me.id, reference)
                                .map_err(crypto)?
                        }
                    };
                    pages.push_opened(*reference, keys);
                }
                (contents, pages)
            }
        };
        Ok(Some(OpenedBackup {
            version: body.version,
            contents,
            pages,
        }))
    }

    /// Accepts the identity key the server now serves for a colleague whose identity
    /// changed (a reset after a lost recovery code, docs/PROTOCOL.md §5.6), after the
    /// user was told: it replaces the pinned key and drops the verified mark, which only
    /// a new comparison in person restores.
    pub async fn accept_identity_change(&mut self, user_id: &str) -> Result<()> {
        let keys: UserKeys = self.call(routes::USER_KEYS, [user_id]).await?;
        // Only a key the transparency log shows is accepted (§25).
        self.check_served_keys(&keys).await?;
        let Some(identity) = keys.identity_key else {
            return Ok(());
        };
        self.known_identities.insert(user_id.to_owned(), identity);
        self.verified.remove(user_id);
        self.rosters.clear();
        Ok(())
    }

    /// Fetches and verifies a colleague's devices (trust on first use of their identity).
    pub async fn fetch_user_devices(&mut self, user_id: &str) -> Result<Vec<DeviceCertificate>> {
        let Some((identity, devices)) = self.user_keys(user_id).await? else {
            return Ok(Vec::new());
        };
        let mut live = Vec::new();
        for (certificate, revoked) in devices {
            // A device of a previous identity (logged, §25): its history stays readable.
            let (identity, old) = self.certifying_identity(&certificate.device_id, &identity);
            if certificate.user_id != user_id || certificate.verify(&identity).is_err() {
                continue;
            }
            let revoked = revoked || old;
            self.devices
                .insert(certificate.device_id.clone(), certificate.clone());
            if !revoked {
                live.push(certificate);
            }
        }
        Ok(live)
    }

    /// A user's identity key as pinned here (the served one on first use) and the
    /// devices the server lists for them, with their revoked flag, unverified.
    /// [`ClientError::IdentityChanged`] when the server serves another identity key.
    pub(crate) async fn user_keys(
        &mut self,
        user_id: &str,
    ) -> Result<Option<(IdentityPublicKey, Vec<(DeviceCertificate, bool)>)>> {
        let keys: UserKeys = self.call(routes::USER_KEYS, [user_id]).await?;
        // Before any pin: the keys served must be the ones the transparency log shows.
        self.check_served_keys(&keys).await?;
        let Some(identity) = keys.identity_key else {
            return Ok(None);
        };
        match self.known_identities.get(user_id) {
            Some(known) if known != &identity => {
                return Err(ClientError::IdentityChanged(user_id.into()))
            }
            Some(_) => {}
            None => {
                self.known_identities
                    .insert(user_id.into(), identity.clone());
            }
        }
        for device in &keys.devices {
            self.note_prekey(&device.certificate.device_id, device.prekey.clone());
        }
        let devices = keys
            .devices
            .into_iter()
            .map(|d| (d.certificate, d.revoked_at.is_some()))
            .collect();
        Ok(Some((identity, devices)))
    }

    /// Checks a channel's members and their devices afresh (docs/PROTOCOL.md §12.1):
    /// the members are the channel's member list, cut down to the members its verified
    /// membership log names when it has one (§22); each member's devices are admitted
    /// when their certificate verifies under the identity key pinned for that member.
    /// Nobody outside the member list is looked up, let alone pinned.
    pub async fn refresh_roster(&mut self, channel_id: &str) -> Result<&Roster> {
        let mut detail: ChannelDetail = self.call(routes::CHANNEL, [channel_id]).await?;
        // Once the channel has a signed log (§22), a member is someone it names: the
        // server's list cannot add anyone.
        if let Some(log) = self.verified_membership(channel_id).await? {
            detail.members.retain(|m| log.is_member(&m.user_id));
        }
        let mut roster = Roster::new(
            channel_id,
            detail.members.iter().map(|m| m.user_id.to_string()),
        );
        for member in &detail.members {
            let (identity, devices) = match self.user_keys(&member.user_id).await {
                Ok(Some(found)) => found,
                Ok(None) => continue,
                // Checked against the key seen first: they all fail, and are withheld
                // until the change is accepted.
                Err(ClientError::IdentityChanged(_)) => {
                    let keys: UserKeys = self.call(routes::USER_KEYS, [&member.user_id]).await?;
                    let Some(pinned) = self.known_identities.get(member.user_id.as_str()).cloned()
                    else {
                        continue;
                    };
                    let devices = keys
                        .devices
                        .into_iter()
                        .map(|d| (d.certificate, d.revoked_at.is_some()))
                        .collect();
                    (pinned, devices)
                }
                Err(err) => return Err(err),
            };
            for (certificate, revoked) in devices {
                // Certified by a previous identity the log shows: admitted for reading
                // the history it signed, never wrapped for (§25).
                let (identity, old) = self.certifying_identity(&certificate.device_id, &identity);
                if roster
                    .admit(&member.user_id, &identity, &certificate, revoked || old)
                    .is_ok()
                {
                    self.devices
                        .insert(certificate.device_id.clone(), certificate);
                }
            }
        }
        // A member gone from the list checked before: this client rotates before it
        // sends again (§23.4).
        if let Some(before) = self.rosters.get(channel_id) {
            if before.members().any(|m| !roster.is_member(m)) {
                self.rotation_watch.removal(channel_id);
            }
        }
        self.rosters.insert(channel_id.to_owned(), roster);
        self.channel_epochs
            .insert(channel_id.to_owned(), detail.channel.epoch);
        self.rosters
            .get(channel_id)
            .ok_or_else(|| ClientError::Protocol("roster".into()))
    }

    /// The roster checked last for a channel, or a fresh one.
    async fn roster(&mut self, channel_id: &str) -> Result<&Roster> {
        if !self.rosters.contains_key(channel_id) {
            self.refresh_roster(channel_id).await?;
        }
        self.rosters
            .get(channel_id)
            .ok_or_else(|| ClientError::Protocol("roster".into()))
    }

    /// Learns the members of a channel and their verified devices.
    pub async fn refresh_channel_devices(&mut self, channel_id: &str) -> Result<()> {
        self.refresh_roster(channel_id).await.map(|_| ())
    }

    /// Makes sure the channel has a usable epoch key: creates and publishes a new epoch
    /// when the server requires one, or adopts the winner's key after a race. Returns
    /// the epoch to send with.
    pub async fn ensure_epoch(&mut self, device: &mut Device, channel_id: &str) -> Result<u64> {
        for _ in 0..3 {
            let state: EpochState = self.call(routes::CHANNEL_EPOCH, [channel_id]).await?;
            // The server's word, and this client's own bounds (§23.4).
            if !state.rotation_required
                && !self.requires_rotation(channel_id, state.epoch, now_ms())
                && self
                    .epoch_key(device, channel_id, state.epoch)
                    .await
                    .is_ok()
            {
                return Ok(state.epoch);
            }
            match self.publish_epoch(device, channel_id, &state).await {
                Ok(epoch) => return Ok(epoch),
                Err(err)
                    if err.code() == Some("epoch_conflict")
                        || err.code() == Some("invalid_epoch_keys") =>
                {
                    continue
                }
                Err(err) => return Err(err),
            }
        }
        Err(ClientError::Protocol("could not agree on an epoch".into()))
    }

    /// Creates epoch `state.epoch + 1` and wraps its key for exactly `state.devices`.
    pub async fn publish_epoch(
        &mut self,
        device: &mut Device,
        channel_id: &str,
        state: &EpochState,
    ) -> Result<u64> {
        let epoch = state.epoch + 1;
        // No key for anyone in a channel whose members no verified log vouches for: a
        // coordinator's client starts the log first, anyone else refuses (§22.4).
        self.require_membership_log(device, channel_id).await?;
        // A removal the server made by itself requires this rotation: a coordinator signs
        // it into the log first (§22.3). Best effort: the roster below reads the log anyway
        // and refuses one that does not verify.
        if let Err(err) = self.ratify_server_removals(device, channel_id).await {
            if matches!(err, ClientError::MembershipLog(_)) {
                return Err(err);
            }
        }
        let key = EpochKey::generate().map_err(crypto)?;
        // Only the verified devices of the members this client sees get the key,
        // whatever the server lists (docs/PROTOCOL.md §12.1).
        let plan = self.refresh_roster(channel_id).await?.plan_epoch(
            state
                .devices
                .iter()
                .map(|d| (d.user_id.as_str(), d.device_id.as_str())),
        )?;
        // The roster read the log again: a log withdrawn since is refused there
        // (`log_rolled_back`), so a head is still kept; checked rather than assumed.
        if self.membership_head(channel_id).is_none() {
            return Err(ClientError::MembershipLogMissing(channel_id.to_owned()));
        }
        let mut wraps = Vec::new();
        let mut withheld = plan.withheld;
        for certificate in &plan.wrap {
            // To the device's current signed prekey (§23); a prekey that does not
            // verify, or older than one seen, withholds the device rather than fall
            // back to a key that may have been stolen since.
            let wrapped = if self.stale_prekeys.contains(&certificate.device_id) {
                Err(WrapError::BadPrekey)
            } else {
                key.wrap_for(
                    channel_id,
                    epoch,
                    &device.device_id,
                    &device.keys,
                    certificate,
                    self.prekeys.get(&certificate.device_id),
                )
            };
            match wrapped {
                Ok(wrapped) => wraps.push(wrapped),
                Err(WrapError::BadPrekey) if certificate.device_id != device.device_id => {
                    withheld.push((
                        certificate.device_id.clone(),
                        crate::crypto::WithheldReason::UnverifiedDevice,
                    ));
                }
                Err(err) => return Err(crypto(err)),
            }
        }
        let withheld = withheld
            .into_iter()
            .map(|(device_id, reason)| WithheldKey {
                device_id: device_id.into(),
                reason,
            })
            .collect();
        self.call_with_no_answer(
            routes::CHANNEL_EPOCH_PUBLISH,
            [channel_id],
            &PublishEpoch {
                epoch,
                keys: wraps,
                withheld,
            },
        )
        .await?;
        self.epoch_keys.insert((channel_id.to_owned(), epoch), key);
        self.rotation_watch.opened(channel_id, epoch, now_ms());
        self.write_backup(device).await?;
        Ok(epoch)
    }

    /// The key of an epoch: held already, or fetched from the server and unwrapped.
    pub async fn epoch_key(
        &mut self,
        device: &Device,
        channel_id: &str,
        epoch: u64,
    ) -> Result<&EpochKey> {
        let slot = (channel_id.to_owned(), epoch);
        if !self.epoch_keys.contains_key(&slot) {
            let page: DeviceKeysPage = decode(
                self.endpoint(routes::CHANNEL_DEVICE_KEYS, [channel_id])
                    .query(&[("device_id", &device.device_id)])
                    .send()
                    .await?,
            )
            .await?;
            if let Some(withheld) = page.withheld.iter().find(|w| w.epoch == epoch) {
                return Err(ClientError::Crypto(format!(
                    "the key of epoch {epoch} was withheld from this device: {:?}",
                    withheld.reason
                )));
            }
            let mut refused = None;
            for wrapped in page.keys {
                if self
                    .epoch_keys
                    .contains_key(&(channel_id.to_owned(), wrapped.epoch))
                {
                    continue;
                }
                // Only from a verified device of a member, for this channel and device;
                // a sender not yet known is looked up once with the members.
                let mut sender = self
                    .roster(channel_id)
                    .await?
                    .wrap_sender(channel_id, &device.device_id, &wrapped)
                    .cloned();
                if matches!(
                    sender,
                    Err(RosterError::UnknownDevice(_) | RosterError::NotMember { .. })
                ) {
                    sender = self
                        .refresh_roster(channel_id)
                        .await?
                        .wrap_sender(channel_id, &device.device_id, &wrapped)
                        .cloned();
                }
                // A wrap its owner's old device made before her identity reset (§25).
                if let (Err(RosterError::UnknownDevice(_)), Some(old)) =
                    (&sender, self.old_key_wrap_sender(channel_id, &wrapped))
                {
                    sender = Ok(old);
                }
                let sender = match sender {
                    Ok(sender) => sender,
                    Err(err) => {
                        if wrapped.epoch == epoch {
                            refused = Some(err);
                        }
                        continue;
                    }
                };
                let key = device.unwrap(&wrapped, &sender).map_err(crypto)?;
                self.epoch_keys
                    .insert((channel_id.to_owned(), wrapped.epoch), key);
                self.unacknowledged
                    .insert((channel_id.to_owned(), wrapped.epoch));
            }
            if let (Some(err), false) = (refused, self.epoch_keys.contains_key(&slot)) {
                return Err(ClientError::Tampered(err));
            }
        }
        self.epoch_keys
            .get(&slot)
            .ok_or_else(|| ClientError::Crypto(format!("no key for epoch {epoch} of {channel_id}")))
    }

    /// Seals a message for the channel's current epoch (creating one if needed).
    pub async fn seal(
        &mut self,
        device: &mut Device,
        channel_id: &str,
        content: &MessageContent,
    ) -> Result<Envelope> {
        let epoch = self.ensure_epoch(device, channel_id).await?;
        self.seal_for_epoch(device, channel_id, epoch, content)
            .await
    }

    /// Seals a message for a given epoch whose key is held.
    pub async fn seal_for_epoch(
        &mut self,
        device: &Device,
        channel_id: &str,
        epoch: u64,
        content: &MessageContent,
    ) -> Result<Envelope> {
        let client_msg_id = uuid_v4()?;
        self.seal_with_id(device, channel_id, epoch, content, &client_msg_id)
            .await
    }

    /// Seals a message under a chosen `client_msg_id`: a message re-sealed for a new
    /// epoch keeps its id, so that the server stores it once whichever copy arrives.
    pub async fn seal_with_id(
        &mut self,
        device: &Device,
        channel_id: &str,
        epoch: u64,
        content: &MessageContent,
        client_msg_id: &str,
    ) -> Result<Envelope> {
        // Nothing is sent in a channel whose members no verified log vouches for
        // (§22.4): the epoch key may have been wrapped for whoever the server listed.
        self.require_membership_log(device, channel_id).await?;
        let header = MessageHeader {
            channel_id: channel_id.to_owned(),
            epoch,
            sender_device: device.device_id.clone(),
            client_msg_id: client_msg_id.to_owned(),
            order: Some(self.next_order(channel_id, client_msg_id, now_ms())),
        };
        // The sender's accepted key log head travels under its signature (§27).
        let gossiped;
        let content = match (&content.key_log_head, self.gossip_head()) {
            (None, Some(head)) => {
                gossiped = content.with_key_log_head(head);
                &gossiped
            }
            _ => content,
        };
        // The membership head verified here goes with the message, so that members
        // shown another log see it (§22.6).
        let head = self.membership_head(channel_id);
        let json = content
            .to_json_with_head(head.as_ref().or(content.membership_head.as_ref()))
            .map_err(crypto)?;
        let key = self.epoch_key(device, channel_id, epoch).await?;
        let envelope = Envelope::seal_json(header, &json, key, &device.keys).map_err(crypto)?;
        self.sealed(&envelope);
        self.rotation_watch.message(channel_id, epoch, now_ms());
        Ok(envelope)
    }

    /// Verifies and decrypts a stored message: it must name the channel it was delivered
    /// in and come from a verified device of a member (or, under an epoch that ended, of
    /// a former member), docs/PROTOCOL.md §8.6 and §12.1.
    pub async fn open(
        &mut self,
        device: &Device,
        message: &StoredMessage,
    ) -> Result<MessageContent> {
        let envelope = &message.envelope;
        let channel_id = message.channel_id.as_str();
        if envelope.channel_id != channel_id {
            return Err(ClientError::Tampered(RosterError::WrongChannel {
                delivered: channel_id.to_owned(),
                named: envelope.channel_id.clone(),
            }));
        }
        // The key first: fetching it brings every key this device may hold for the
        // channel, so that "the newest epoch" below is not one of an old page.
        // (A missing key is reported below, after the sender is checked.)
        let _ = self.epoch_key(device, channel_id, envelope.epoch).await;
        let mut sender = self.envelope_sender(message).await?;
        if matches!(
            sender,
            Err(RosterError::UnknownDevice(_) | RosterError::NotMember { .. })
        ) {
            self.refresh_roster(channel_id).await?;
            if !self.devices.contains_key(&envelope.sender_device) {
                match self.fetch_user_devices(&message.sender).await {
                    Ok(_) | Err(ClientError::IdentityChanged(_)) => {}
                    Err(err) => return Err(err),
                }
            }
            sender = self.envelope_sender(message).await?;
        }
        let sender = sender?;
        let key = self.epoch_key(device, channel_id, envelope.epoch).await?;
        let content = envelope.open(key, &sender).map_err(crypto)?;
        self.rotation_watch
            .message(channel_id, envelope.epoch, now_ms());
        // The sender's key log head against this client's (§27): a disagreement is
        // kept for `key_log_split_view` and the agent's event; the message itself is
        // authentic and stays readable.
        if let Some(head) = &content.key_log_head {
            let _ = self.check_gossiped_head(head).await;
        }
        // The sender's membership head, under the sender's signature (§22.6).
        if let Some(head) = content.membership_head {
            self.note_membership_head(channel_id, head).await;
        }
        Ok(content)
    }

    /// The signing key the roster allows for a message's sender, or why not.
    async fn envelope_sender(
        &mut self,
        message: &StoredMessage,
    ) -> Result<std::result::Result<crate::crypto::DeviceSigningPublicKey, RosterError>> {
        let newest = self
            .epoch_keys
            .keys()
            .filter(|(c, _)| *c == message.channel_id)
            .map(|(_, e)| *e)
            .chain(
                self.channel_epochs
                    .get(message.channel_id.as_str())
                    .copied(),
            )
            .max();
        let certificate = self.devices.get(&message.envelope.sender_device).cloned();
        let roster = self.roster(&message.channel_id).await?;
        Ok(roster.envelope_sender(
            &message.channel_id,
            &message.sender,
            &message.envelope,
            certificate.as_ref(),
            newest,
        ))
    }

    /// Encrypts and uploads an attachment; returns the reference to put in a message.
    pub async fn upload_attachment(
        &self,
        channel_id: &str,
        name: &str,
        mime: &str,
        bytes: &[u8],
    ) -> Result<AttachmentRef> {
        let (key, encrypted) = crate::crypto::encrypt_attachment(bytes).map_err(crypto)?;
        let response = self
            .endpoint(routes::ATTACHMENT_UPLOAD, [channel_id])
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(encrypted.blob.clone())
            .send()
            .await?;
        let uploaded: crate::protocol::v1::channels::AttachmentUploaded = decode(response).await?;
        Ok(AttachmentRef {
            id: uploaded.id,
            key,
            sha256: encrypted.sha256,
            size: encrypted.size,
            name: name.into(),
            mime: mime.into(),
        })
    }

    /// Downloads and decrypts an attachment.
    pub async fn download_attachment(
        &self,
        attachment: &AttachmentRef,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        let response = self
            .endpoint(routes::ATTACHMENT, [&attachment.id])
            .send()
            .await?;
        if response.status() != StatusCode::OK {
            return Err(super::api_error(response.status(), response).await);
        }
        let blob = response.bytes().await?;
        attachment.decrypt(&blob).map_err(crypto)
    }
}

impl Device {
    /// The device's keys (for tests that forge envelopes on purpose).
    pub fn keys(&self) -> &DeviceKeys {
        &self.keys
    }
}

/// A random UUID (v4) from ring's generator.
pub(crate) fn uuid_v4() -> Result<String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| ClientError::Crypto("no randomness".into()))?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

impl Device {
    /// The device as the store keeps it: its private keys included, so the caller
    /// guards the result as it guards the store.
    pub fn export(&self) -> super::store::StoredDevice {
        use super::store::SecretString;
        use crate::crypto::to_base64url;
        let (signing, agreement) = self.keys.to_private_bytes();
        let account = self.account.as_ref();
        super::store::StoredDevice {
            device_id: self.device_id.clone(),
            signing_key: SecretString::new(to_base64url(signing.as_ref())),
            agreement_key: agreement.map(|a| SecretString::new(to_base64url(a.as_ref()))),
            agreement_replaced_at: self.agreement.certificate_replaced_at,
            prekeys: self.agreement.export(),
            certificate: self.certificate.clone(),
            identity_key: account
                .map(|a| SecretString::new(to_base64url(a.identity.to_private_bytes().as_ref()))),
            backup_key: account
                .map(|a| SecretString::new(to_base64url(a.backup_key.to_bytes().as_ref()))),
            backup_version: account.and_then(|a| a.backup_version),
        }
    }

    /// The device back from the store; its keys must match its certificate.
    pub fn import(stored: &super::store::StoredDevice) -> Result<Device> {
        let signing = secret_array(&stored.signing_key)?;
        let keys = match &stored.agreement_key {
            Some(agreement) => DeviceKeys::from_private_bytes(&signing, &*secret_array(agreement)?),
            // Deleted once nothing needed it (docs/PROTOCOL.md §23.3).
            None => DeviceKeys::from_signing_bytes(&signing, &stored.certificate.keys.agreement),
        }
        .map_err(crypto)?;
        if keys.public_keys() != &stored.certificate.keys {
            return Err(ClientError::Store(
                "the stored device keys do not match its certificate".into(),
            ));
        }
        let account = match (&stored.identity_key, &stored.backup_key) {
            (Some(identity), Some(backup)) => Some(AccountKeys {
                identity: IdentityKeyPair::from_private_bytes(&*secret_array(identity)?)
                    .map_err(crypto)?,
                backup_version: stored.backup_version,
                backup_key: crate::crypto::BackupKey::from_bytes(&*secret_array(backup)?),
                backup_pages: BackupPages::new(),
            }),
            _ => None,
        };
        Ok(Device {
            device_id: stored.device_id.clone(),
            keys,
            certificate: stored.certificate.clone(),
            account,
            agreement: super::prekeys::AgreementKeys::import(
                &stored.prekeys,
                stored.agreement_replaced_at,
            )?,
        })
    }

    /// Whether this device holds the identity key (enrolled or restored, not linked).
    pub fn holds_identity(&self) -> bool {
        self.account.is_some()
    }
}

fn secret_array<const N: usize>(
    text: &super::store::SecretString,
) -> Result<zeroize::Zeroizing<[u8; N]>> {
    let bytes = zeroize::Zeroizing::new(
        crate::crypto::from_base64url(text.expose())
            .map_err(|e| ClientError::Store(e.to_string()))?,
    );
    let mut out = zeroize::Zeroizing::new([0u8; N]);
    if bytes.len() != N {
        return Err(ClientError::Store(
            "a stored key has the wrong length".into(),
        ));
    }
    out.copy_from_slice(&bytes);
    Ok(out)
}

/// This machine's clock, in ms since the Unix epoch (a sender's `sent_at`, §8.7).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}
