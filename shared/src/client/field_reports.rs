//! Field reports of the mediators (docs/SDK.md, docs/PROTOCOL.md §16): filing one with its
//! description sealed for the addressed group, listing, taking in charge and answering,
//! and opening the sealed description and answer.

use super::device::{crypto, uuid_v4};
use super::{Client, ClientError, Device, Result};
use crate::crypto::{Envelope, MessageContent, MessageHeader};
use crate::protocol::v1::channels::StoredMessage;
use crate::protocol::v1::field_reports::{
    clean_place, place_scope, FieldReport, FieldReportCategory, FieldReportStatus, FileFieldReport,
    UpdateFieldReport,
};
use crate::protocol::v1::routes;

/// What a mediator observed, before it is sealed and filed.
#[derive(Debug)]
pub struct NewFieldReport<'a> {
    /// The working group it is addressed to (one of the mediator's channels).
    pub group_id: &'a str,
    /// Category, from the closed list.
    pub category: FieldReportCategory,
    /// Where: a street, a building, never a name (120 characters at most).
    pub place: &'a str,
    /// When it was observed (unix ms).
    pub observed_at: i64,
    /// The description, and optionally a photo uploaded with
    /// [`Client::upload_attachment`] to the same group: sealed before it leaves.
    pub description: &'a MessageContent,
}

impl Client {
    /// Files a field report: seals the description for the group's current epoch
    /// (creating one if needed), and the place with it ([`Client::seal_field_report_place`]),
    /// and sends them with the category and date. A place that is empty, too long or holds
    /// a control character is refused here (`ClientError::Protocol`): the server cannot
    /// read it to check.
    pub async fn file_field_report(
        &mut self,
        device: &mut Device,
        report: NewFieldReport<'_>,
    ) -> Result<FieldReport> {
        let place = clean_place(report.place).ok_or_else(|| {
            ClientError::Protocol("the place must be 1 to 120 characters of plain text".into())
        })?;
        let description = self
            .seal(device, report.group_id, report.description)
            .await?;
        let sealed_place = self
            .seal_field_report_place(device, report.group_id, &description, &place)
            .await?;
        self.call_with(
            routes::FIELD_REPORT_FILE,
            [],
            &FileFieldReport {
                group_id: report.group_id.into(),
                category: report.category,
                place: String::new(),
                sealed_place: Some(sealed_place),
                observed_at: report.observed_at,
                description,
            },
        )
        .await
    }

    /// Seals a report's place with its description's epoch key of the group, under the
    /// place scope of that description (PROTOCOL.md §16), by the same device.
    pub async fn seal_field_report_place(
        &mut self,
        device: &Device,
        group_id: &str,
        description: &Envelope,
        place: &str,
    ) -> Result<Envelope> {
        let header = MessageHeader {
            channel_id: place_scope(&description.client_msg_id),
            epoch: description.epoch,
            sender_device: device.device_id.clone(),
            client_msg_id: uuid_v4()?,
            order: None,
        };
        let key = self.epoch_key(device, group_id, description.epoch).await?;
        Envelope::seal(header, &MessageContent::text(place), key, &device.keys).map_err(crypto)
    }

    /// A report's place: opened when sealed (by its author's verified device, with the
    /// group's key of its epoch, under the place scope of its description), or the clear
    /// place of a report filed before places were sealed.
    pub async fn open_field_report_place(
        &mut self,
        device: &Device,
        report: &FieldReport,
    ) -> Result<String> {
        let (Some(sealed), Some(description)) = (&report.sealed_place, &report.description) else {
            return Ok(report.place.clone());
        };
        if sealed.channel_id != place_scope(&description.client_msg_id)
            || sealed.sender_device != description.sender_device
        {
            return Err(ClientError::Crypto(
                "the sealed place served is not this report's".into(),
            ));
        }
        self.fetch_user_devices(&report.author).await?;
        let sender = self
            .devices
            .get(&sealed.sender_device)
            .filter(|c| c.user_id == report.author)
            .map(|c| c.keys.signing.clone())
            .ok_or_else(|| {
                ClientError::Crypto("the place was sealed by an unknown device".into())
            })?;
        let key = self
            .epoch_key(device, &report.group_id, sealed.epoch)
            .await?;
        let content = sealed.open(key, &sender).map_err(crypto)?;
        Ok(content.text.clone())
    }

    /// The reports this account may see: a mediator's own, or those addressed to the
    /// groups of a member, newest first.
    pub async fn field_reports(&self) -> Result<Vec<FieldReport>> {
        self.call(routes::FIELD_REPORTS, []).await
    }

    /// Takes a report addressed to one of this member's groups in charge.
    pub async fn take_field_report_in_charge(&self, report_id: &str) -> Result<FieldReport> {
        self.call_with(
            routes::FIELD_REPORT_STATUS,
            [report_id],
            &UpdateFieldReport {
                status: FieldReportStatus::InProgress,
                answer: None,
            },
        )
        .await
    }

    /// Closes a report taken in charge, with an answer sealed for its group.
    pub async fn answer_field_report(
        &mut self,
        device: &mut Device,
        report: &FieldReport,
        answer: &MessageContent,
    ) -> Result<FieldReport> {
        let sealed = self.seal(device, &report.group_id, answer).await?;
        self.call_with(
            routes::FIELD_REPORT_STATUS,
            [&report.id],
            &UpdateFieldReport {
                status: FieldReportStatus::Done,
                answer: Some(sealed),
            },
        )
        .await
    }

    /// Opens a report's description (none for the demonstration's sample report) and, once
    /// answered, its answer: each is checked and decrypted as a message of the group sent
    /// by its author (docs/PROTOCOL.md §8.6).
    pub async fn open_field_report(
        &mut self,
        device: &Device,
        report: &FieldReport,
    ) -> Result<(Option<MessageContent>, Option<MessageContent>)> {
        let as_message = |sender: &str, envelope: &crate::crypto::Envelope| StoredMessage {
            channel_id: report.group_id.clone(),
            seq: 0,
            sender: sender.into(),
            envelope: envelope.clone(),
            ts: report.filed_at,
        };
        let description = match &report.description {
            Some(envelope) => Some(
                self.open(device, &as_message(&report.author, envelope))
                    .await?,
            ),
            None => None,
        };
        let answer = match (&report.answer, &report.answered_by) {
            (Some(envelope), Some(by)) => Some(self.open(device, &as_message(by, envelope)).await?),
            _ => None,
        };
        Ok((description, answer))
    }
}
