//! Field reports of the mediators (docs/SDK.md, docs/PROTOCOL.md §16): filing one with its
//! description sealed for the addressed group, listing, taking in charge and answering,
//! and opening the sealed description and answer.

use super::{Client, Device, Result};
use crate::crypto::MessageContent;
use crate::protocol::v1::channels::StoredMessage;
use crate::protocol::v1::field_reports::{
    FieldReport, FieldReportCategory, FieldReportStatus, FileFieldReport, UpdateFieldReport,
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
    /// (creating one if needed) and sends it with the place, category and date.
    pub async fn file_field_report(
        &mut self,
        device: &mut Device,
        report: NewFieldReport<'_>,
    ) -> Result<FieldReport> {
        let description = self
            .seal(device, report.group_id, report.description)
            .await?;
        self.call_with(
            routes::FIELD_REPORT_FILE,
            [],
            &FileFieldReport {
                group_id: report.group_id.to_owned(),
                category: report.category,
                place: report.place.to_owned(),
                observed_at: report.observed_at,
                description,
            },
        )
        .await
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
            sender: sender.to_owned(),
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
