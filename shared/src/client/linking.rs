//! Admitting a device from an existing device (docs/PROTOCOL.md §5.5.1): the new device
//! asks, both devices show the link code, the existing device certifies and re-wraps the
//! past epoch keys it holds (§7.6).

use super::device::{uuid_v4, Device};
use super::{expect_ok, Client, ClientError, Result};
use crate::crypto::{DeviceCertificateRequest, DeviceKeys, DeviceLinkCode, IdentityPublicKey};
use crate::protocol::v1::keys::{
    ApproveLink, CreateLinkRequest, LinkRequest, LinkRequestList, LinkStatus, RewrappedKeys,
    StoredKeys, UserKeys, MAX_REWRAPPED_KEYS,
};
use crate::protocol::v1::routes;

fn crypto(err: impl std::fmt::Display) -> ClientError {
    ClientError::Crypto(err.to_string())
}

/// A new device waiting for one of its user's devices to certify it.
pub struct PendingLink {
    /// The request as the server stored it (its `id` is polled).
    pub request: LinkRequest,
    keys: DeviceKeys,
    identity: IdentityPublicKey,
}

impl PendingLink {
    /// The code to show, for the user to compare with the existing device's.
    pub fn link_code(&self) -> DeviceLinkCode {
        DeviceLinkCode::new(&self.request.request, &self.identity)
    }
}

impl Client {
    /// On a new device: builds and posts the certificate request, to be relayed to the
    /// user's other devices. Show [`PendingLink::link_code`] until it is linked.
    pub async fn request_link(&mut self, name: &str) -> Result<PendingLink> {
        let mine: UserKeys = self.call(routes::USER_KEYS, [&self.me.id]).await?;
        let identity = mine
            .identity_key
            .ok_or_else(|| ClientError::Protocol("no identity key to link to".into()))?;
        let keys = DeviceKeys::generate().map_err(crypto)?;
        let device_id = uuid_v4()?;
        let request = DeviceCertificateRequest::new(&self.me.id, &device_id, &identity, &keys)
            .map_err(crypto)?;
        let stored: LinkRequest = self
            .call_with(
                routes::LINK_REQUEST_CREATE,
                [],
                &CreateLinkRequest {
                    request,
                    name: name.into(),
                },
            )
            .await?;
        Ok(PendingLink {
            request: stored,
            keys,
            identity,
        })
    }

    /// Where a link request stands.
    pub async fn link_status(&self, id: &str) -> Result<LinkRequest> {
        self.call(routes::LINK_REQUEST, [id]).await
    }

    /// On the new device, once an existing device approved: the device, usable at once.
    /// It holds no identity key, so it cannot admit devices nor write the key backup.
    pub async fn finish_link(&mut self, pending: PendingLink) -> Result<Device> {
        let current = self.link_status(&pending.request.id).await?;
        if current.status != LinkStatus::Linked {
            return Err(ClientError::Protocol(format!(
                "link request not approved: {:?}",
                current.status
            )));
        }
        let certificate = self
            .fetch_user_devices(&self.me.id.clone())
            .await?
            .into_iter()
            .find(|c| {
                c.device_id == pending.request.request.device_id
                    && c.keys == *pending.keys.public_keys()
            })
            .ok_or_else(|| ClientError::Crypto("the linked certificate does not verify".into()))?;
        Ok(Device {
            device_id: certificate.device_id.clone(),
            keys: pending.keys,
            certificate,
            account: None,
            agreement: Default::default(),
        })
    }

    /// On an existing device: the user's pending link requests.
    pub async fn link_requests(&self) -> Result<Vec<LinkRequest>> {
        let list: LinkRequestList = self.call(routes::LINK_REQUESTS, []).await?;
        Ok(list.requests)
    }

    /// The link code of a relayed request, computed with this device's identity key —
    /// what the user compares with the new device's screen. `None` on a device that
    /// does not hold the identity key.
    pub fn link_code_of(&self, device: &Device, request: &LinkRequest) -> Option<DeviceLinkCode> {
        let account = device.account.as_ref()?;
        Some(DeviceLinkCode::new(
            &request.request,
            account.identity.public_key(),
        ))
    }

    /// On an existing device, after the user confirmed that `shown_on_new_device` is
    /// the code the new device displays: certifies the request, then re-wraps every
    /// epoch key held for the user's channels. Returns how many wraps were stored.
    pub async fn approve_link(
        &mut self,
        device: &Device,
        request: &LinkRequest,
        shown_on_new_device: &str,
    ) -> Result<usize> {
        let account = device.account.as_ref().ok_or_else(|| {
            ClientError::Crypto("this device does not hold the identity key".into())
        })?;
        let expected = DeviceLinkCode::new(&request.request, account.identity.public_key());
        let shown: String = shown_on_new_device
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        if shown != expected.digits() {
            return Err(ClientError::Crypto("the link codes differ".into()));
        }
        let certificate = account.identity.certify(&request.request).map_err(crypto)?;
        // Approved here: the new device's log entry is no surprise to self-monitoring.
        self.certified_here(&certificate.device_id);
        expect_ok(
            self.endpoint(routes::LINK_REQUEST_APPROVE, [&request.id])
                .json(&ApproveLink {
                    certificate: certificate.clone(),
                })
                .send()
                .await?,
        )
        .await?;
        self.devices
            .insert(certificate.device_id.clone(), certificate.clone());
        // To its prekey once it published one (§23.2): never to the certificate's key then.
        let me = self.me.id.clone();
        self.fetch_user_devices(&me).await?;
        if self.stale_prekeys.contains(&certificate.device_id) {
            return Err(ClientError::Crypto(format!(
                "the prekey served for device {} is older than one seen",
                certificate.device_id
            )));
        }
        let prekey = self.prekeys.get(&certificate.device_id);
        let mut wraps = Vec::new();
        for ((channel, epoch), key) in &self.epoch_keys {
            wraps.push(
                key.wrap_for(
                    channel,
                    *epoch,
                    &device.device_id,
                    &device.keys,
                    &certificate,
                    prekey,
                )
                .map_err(crypto)?,
            );
        }
        let mut stored = 0;
        for batch in wraps.chunks(MAX_REWRAPPED_KEYS) {
            let answer: StoredKeys = self
                .call_with(
                    routes::DEVICE_EPOCH_KEYS,
                    [&certificate.device_id],
                    &RewrappedKeys {
                        keys: batch.to_vec(),
                    },
                )
                .await?;
            stored += answer.stored;
        }
        Ok(stored)
    }

    /// Refuses (existing device) or cancels (new device) a pending request.
    pub async fn refuse_link(&self, id: &str) -> Result<()> {
        expect_ok(
            self.endpoint(routes::LINK_REQUEST_REFUSE, [id])
                .send()
                .await?,
        )
        .await
    }
}
