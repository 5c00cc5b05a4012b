//! The identity of a case's person (docs/SDK.md, docs/PROTOCOL.md §19): sealed here for
//! the case's coordinators and referent only, and opened by them.

use super::device::{crypto, uuid_v4};
use super::{decode, Client, ClientError, Device, Result};
use crate::crypto::{Envelope, EpochKey, MessageHeader, RosterError};
use crate::protocol::v1::case_identity::{
    identity_scope, IdentityReaders, IdentityRecord, IdentityStatus, SealIdentity, SealedIdentity,
};
use crate::protocol::v1::cases::{CaseView, UpdateCase};
use crate::protocol::v1::channels::ChannelDetail;
use crate::protocol::v1::routes;

impl Client {
    /// Seals `record` for the case's readers as the server lists them, after checking that
    /// each is a member of the case and each of their devices verifies under the identity
    /// key pinned for them: a device the server adds on its own gets nothing, and the
    /// sealing fails rather than leave a reader out. Each reader must also be, by the
    /// case's verified membership log, a member and a coordinator or the signed referent:
    /// a server that lists anyone else is refused ([`ClientError::Tampered`] with
    /// [`RosterError::NotReader`]) and nothing is sealed. A case without a log gets one
    /// from a coordinator's client first; anyone else gets
    /// [`ClientError::MembershipLogMissing`] (§22.4). The request is returned unsent.
    pub async fn seal_case_identity(
        &mut self,
        device: &Device,
        case_id: &str,
        record: &IdentityRecord,
    ) -> Result<SealIdentity> {
        // Never for readers no verified log vouches for (docs/PROTOCOL.md §22.4): on a case
        // without one, a coordinator's client starts it first, anyone else is refused.
        self.require_membership_log(device, case_id).await?;
        let readers: IdentityReaders = self.call(routes::CASE_IDENTITY_READERS, [case_id]).await?;
        let detail: ChannelDetail = self.call(routes::CHANNEL, [case_id]).await?;
        let (allowed, members) = self
            .verified_membership(case_id)
            .await?
            .map(|log| (log.identity_readers(), log.members))
            .ok_or_else(|| ClientError::MembershipLogMissing(case_id.to_owned()))?;
        let mut certificates = Vec::new();
        for reader in &readers.readers {
            if !allowed.contains(reader.user_id.as_str())
                || !members.contains(reader.user_id.as_str())
            {
                return Err(ClientError::Tampered(RosterError::NotReader(
                    reader.user_id.to_string(),
                )));
            }
            if !detail.members.iter().any(|m| m.user_id == reader.user_id) {
                return Err(ClientError::Protocol(format!(
                    "{} is listed as a reader but is not a member of the case",
                    reader.user_id
                )));
            }
            let live = self.fetch_user_devices(&reader.user_id).await?;
            for device_id in &reader.devices {
                let certificate =
                    live.iter()
                        .find(|c| &c.device_id == device_id)
                        .ok_or_else(|| {
                            ClientError::Crypto(format!(
                                "device {device_id} of {} does not verify",
                                reader.user_id
                            ))
                        })?;
                certificates.push(certificate.clone());
            }
        }
        let scope = identity_scope(case_id);
        let version = readers.next_version;
        let key = EpochKey::generate().map_err(crypto)?;
        let header = MessageHeader {
            channel_id: scope.clone(),
            epoch: version,
            sender_device: device.device_id.clone(),
            client_msg_id: uuid_v4()?,
            // A case identity is a record of its own, outside the channel's messages.
            order: None,
        };
        let content = record.to_content().map_err(crypto)?;
        let envelope = Envelope::seal(header, &content, &key, &device.keys).map_err(crypto)?;
        // To each device's current verified prekey, as epoch keys (§7.3, §23): the
        // certificate's key only for a device that never published one. A prekey that
        // does not verify, or older than one seen, stops the sealing (nobody is silently
        // left out, nor wrapped for under a key that may have been stolen since).
        let keys = certificates
            .iter()
            .map(|certificate| {
                if self.stale_prekeys.contains(&certificate.device_id) {
                    return Err(ClientError::Crypto(format!(
                        "the prekey served for device {} is older than one seen",
                        certificate.device_id
                    )));
                }
                key.wrap_for(
                    &scope,
                    version,
                    &device.device_id,
                    &device.keys,
                    certificate,
                    self.prekeys.get(&certificate.device_id),
                )
                .map_err(crypto)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SealIdentity {
            version,
            envelope,
            keys,
        })
    }

    /// Names `user_id` the case's referent with the signed record that says so (a
    /// `role_changed` record, role `referent`, extending the case's membership log, which
    /// is started first if the case has none): clients then take the referent from the
    /// log, not from the server. Also signs the current referent of a case whose log does
    /// not name them yet. The caller must coordinate the case by the log.
    pub async fn set_case_referent(
        &mut self,
        device: &Device,
        case_id: &str,
        user_id: &str,
    ) -> Result<CaseView> {
        let record = self
            .next_record(device, case_id, |body| crate::crypto::RecordBody {
                kind: "role_changed".into(),
                role: crate::crypto::LOG_REFERENT.into(),
                subjects: vec![user_id.to_owned()],
                ..body
            })
            .await?;
        self.call_with(
            routes::CASE_UPDATE,
            [case_id],
            &UpdateCase {
                referent_user_id: Some(user_id.into()),
                record: Some(record),
                ..UpdateCase::default()
            },
        )
        .await
    }

    /// Records (or replaces) the identity of a case's person, readable by its coordinators
    /// and referent only. Also how a reader re-seals it after a referent change.
    pub async fn set_case_identity(
        &mut self,
        device: &Device,
        case_id: &str,
        record: &IdentityRecord,
    ) -> Result<IdentityStatus> {
        let request = self.seal_case_identity(device, case_id, record).await?;
        decode(
            self.endpoint(routes::CASE_IDENTITY_SEAL, [case_id])
                .json(&request)
                .send()
                .await?,
        )
        .await
    }

    /// Opens the identity of a case's person (the server logs it): the record must be
    /// sealed for this case and this device, by a device that verifies under its
    /// sealer's pinned identity key.
    pub async fn open_case_identity(
        &mut self,
        device: &Device,
        case_id: &str,
    ) -> Result<IdentityRecord> {
        let sealed: SealedIdentity = decode(
            self.endpoint(routes::CASE_IDENTITY, [case_id])
                .query(&[("device_id", &device.device_id)])
                .send()
                .await?,
        )
        .await?;
        let scope = identity_scope(case_id);
        let envelope = &sealed.envelope;
        let wrap = &sealed.key;
        if envelope.channel_id != scope
            || wrap.channel_id != scope
            || wrap.recipient_device != device.device_id
            || wrap.epoch != envelope.epoch
            || wrap.sender_device != envelope.sender_device
        {
            return Err(ClientError::Crypto(
                "the identity served is not this case's, for this device".into(),
            ));
        }
        self.fetch_user_devices(&sealed.sealed_by).await?;
        let sender = self
            .devices
            .get(&envelope.sender_device)
            .filter(|c| c.user_id == sealed.sealed_by)
            .map(|c| c.keys.signing.clone())
            .ok_or_else(|| {
                ClientError::Crypto("the identity was sealed by an unknown device".into())
            })?;
        let key = device.unwrap(wrap, &sender).map_err(crypto)?;
        let content = envelope.open(&key, &sender).map_err(crypto)?;
        IdentityRecord::from_content(&content).map_err(crypto)
    }
}
