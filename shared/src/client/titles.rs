//! Sealed titles and notes (docs/SDK.md, docs/PROTOCOL.md §24): the title of a case, a
//! practice session or a conversation, and a case's note, sealed here under the channel's
//! epoch key and opened by its members; the server keeps ciphertext and a reference.

use super::device::{crypto, uuid_v4};
use super::{Client, ClientError, Device, Result};
use crate::crypto::{Envelope, MessageContent, MessageHeader};
use crate::protocol::v1::cases::CaseView;
use crate::protocol::v1::channels::Channel;
use crate::protocol::v1::routes;
use crate::protocol::v1::sealed_meta::{note_scope, title_scope, SealNote, SealTitle, TitleRecord};

impl Client {
    /// Seals `scope`'s `content` under the channel's current epoch (created if due): a
    /// version-1 envelope, outside the channel's message order.
    async fn seal_meta(
        &mut self,
        device: &mut Device,
        channel_id: &str,
        scope: String,
        content: &MessageContent,
    ) -> Result<Envelope> {
        let epoch = self.ensure_epoch(device, channel_id).await?;
        let header = MessageHeader {
            channel_id: scope,
            epoch,
            sender_device: device.device_id.clone(),
            client_msg_id: uuid_v4()?,
            order: None,
        };
        let key = self.epoch_key(device, channel_id, epoch).await?;
        Envelope::seal(header, content, key, &device.keys).map_err(crypto)
    }

    /// Opens `envelope` sealed under `scope` by `sealed_by`, with the channel's key of the
    /// envelope's epoch: the device must verify under the sealer's pinned identity.
    async fn open_meta(
        &mut self,
        device: &Device,
        channel_id: &str,
        scope: &str,
        envelope: &Envelope,
        sealed_by: &str,
    ) -> Result<MessageContent> {
        if envelope.channel_id != scope {
            return Err(ClientError::Crypto(
                "the sealed text served is not this channel's".into(),
            ));
        }
        self.fetch_user_devices(sealed_by).await?;
        let sender = self
            .devices
            .get(&envelope.sender_device)
            .filter(|c| c.user_id == sealed_by)
            .map(|c| c.keys.signing.clone())
            .ok_or_else(|| ClientError::Crypto("sealed by an unknown device".into()))?;
        let key = self.epoch_key(device, channel_id, envelope.epoch).await?;
        envelope.open(key, &sender).map_err(crypto)
    }

    /// Seals (or re-seals) a channel's title for its members and stores it: the server
    /// keeps the envelope and shows the channel's reference.
    pub async fn set_channel_title(
        &mut self,
        device: &mut Device,
        channel_id: &str,
        title: &str,
    ) -> Result<Channel> {
        let record = TitleRecord {
            title: title.to_owned(),
        };
        let envelope = self
            .seal_meta(
                device,
                channel_id,
                title_scope(channel_id),
                &record.to_content(),
            )
            .await?;
        self.call_with(
            routes::CHANNEL_TITLE_SEAL,
            [channel_id],
            &SealTitle { envelope },
        )
        .await
    }

    /// The title of a channel as its members typed it, if it has a sealed one.
    pub async fn open_channel_title(
        &mut self,
        device: &Device,
        channel: &Channel,
    ) -> Result<Option<String>> {
        let Some(sealed) = &channel.title else {
            return Ok(None);
        };
        let content = self
            .open_meta(
                device,
                &channel.id,
                &title_scope(&channel.id),
                &sealed.envelope,
                &sealed.sealed_by,
            )
            .await?;
        TitleRecord::from_content(&content)
            .map(|record| Some(record.title))
            .ok_or_else(|| ClientError::Crypto("the sealed title is malformed".into()))
    }

    /// Seals a case's note (why the person was not informed) for its members, to send as
    /// `InformationRecord::NotInformed::sealed_note`.
    pub async fn seal_case_note(
        &mut self,
        device: &mut Device,
        case_id: &str,
        note: &str,
    ) -> Result<Envelope> {
        self.seal_meta(
            device,
            case_id,
            note_scope(case_id),
            &MessageContent::text(note),
        )
        .await
    }

    /// Seals a case's note again, unchanged, under the channel's current epoch (created if
    /// due), so that the members who joined since read it (§24): opened here with the key
    /// of the epoch it was sealed under, checked against its sealer
    /// ([`CaseView::note_sealer`]), then sealed and stored. Answers the case as the
    /// server now shows it; `None` when the note is already under the current epoch (or
    /// the case has no sealed note).
    pub async fn reseal_case_note(
        &mut self,
        device: &mut Device,
        case_id: &str,
    ) -> Result<Option<CaseView>> {
        let view: CaseView = self.call(routes::CASE, [case_id]).await?;
        let (Some(envelope), Some(sealer)) = (view.sealed_note(), view.note_sealer()) else {
            return Ok(None);
        };
        let note = self
            .open_case_note(device, case_id, envelope, sealer)
            .await?;
        let epoch = self.ensure_epoch(device, case_id).await?;
        if envelope.epoch >= epoch {
            return Ok(None);
        }
        let envelope = self.seal_case_note(device, case_id, &note).await?;
        self.call_with(routes::CASE_NOTE_RESEAL, [case_id], &SealNote { envelope })
            .await
            .map(Some)
    }

    /// Opens a case's sealed note, sealed by `recorded_by` (the case's
    /// [`CaseView::note_sealer`]).
    pub async fn open_case_note(
        &mut self,
        device: &Device,
        case_id: &str,
        envelope: &Envelope,
        recorded_by: &str,
    ) -> Result<String> {
        self.open_meta(device, case_id, &note_scope(case_id), envelope, recorded_by)
            .await
            .map(|content| content.text.clone())
    }
}
