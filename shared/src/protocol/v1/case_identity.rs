//! The identity of a case's person, restricted to the case's coordinators and referent
//! (CHARTER.md C7; docs/PROTOCOL.md §19).
//!
//! The person's name (and, for the youth programme, birth month) is whatever the
//! coordinator types: an [`IdentityRecord`]. The client draws a fresh random record key
//! (an [`crate::crypto::EpochKey`]), seals the record with it as a message
//! [`Envelope`] under the scope [`identity_scope`] and epoch = the record's version, and
//! wraps the key for each live device of the readers with the epoch-key wrap
//! ([`WrappedEpochKey`], same scope and version). Other members of the case get nothing:
//! the server hands a wrap only to its device, and only while its owner is still a reader.
//!
//! The scope names the case, so a record served for another case does not open, and is
//! not a channel id, so a record key is never taken for a channel's epoch key.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::{Envelope, MessageContent, WrappedEpochKey};
use crate::ids::{CaseId, DeviceId, UserId};

/// Longest name, in characters.
pub const MAX_IDENTITY_NAME_CHARS: usize = 200;

/// The scope a case's identity record and its keys are sealed under (the envelope's and
/// the wraps' `channel_id`).
pub fn identity_scope(case_id: &str) -> String {
    format!("identity:{case_id}")
}

/// Why someone reads the identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReaderDuty {
    /// A coordinator of the case (a coordinator member, or a coordinator of its group).
    Coordinator,
    /// The case's referent.
    Referent,
}

/// One person the record must be wrapped for, and their live devices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IdentityReader {
    /// Account id.
    pub user_id: UserId,
    /// Name shown to colleagues.
    pub display_name: String,
    /// Why they read it.
    pub duty: ReaderDuty,
    /// Their live devices: each needs a wrap. The client checks every one against the
    /// person's identity key before wrapping for it.
    pub devices: Vec<DeviceId>,
}

/// `GET /api/v1/cases/{id}/identity/readers`: whom to seal the next version for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IdentityReaders {
    /// The version to seal next (the current one plus one).
    pub next_version: u64,
    /// The coordinators and the referent of the case.
    pub readers: Vec<IdentityReader>,
}

/// `PUT /api/v1/cases/{id}/identity`: a new version of the sealed record.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SealIdentity {
    /// The version, one more than the stored one (1 for the first).
    pub version: u64,
    /// The record, sealed under [`identity_scope`] and epoch = `version` by the caller's
    /// device.
    #[schema(value_type = Object)]
    pub envelope: Envelope,
    /// The record key wrapped for exactly every live device of the readers.
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<WrappedEpochKey>,
}

/// `GET /api/v1/cases/{id}/identity?device_id=`: the sealed record and this device's
/// wrapped key. Every such read is logged (`case_identity_opened`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SealedIdentity {
    /// The case.
    pub case_id: CaseId,
    /// The version.
    pub version: u64,
    /// Who sealed it (account id).
    pub sealed_by: UserId,
    /// When (unix ms).
    pub sealed_at: i64,
    /// The sealed record.
    #[schema(value_type = Object)]
    pub envelope: Envelope,
    /// The record key wrapped for the asking device.
    #[schema(value_type = Object)]
    pub key: WrappedEpochKey,
}

/// What a case's record says of its identity, for every member: whether one is recorded,
/// never what it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IdentityStatus {
    /// The stored version.
    pub version: u64,
    /// Who sealed it (account id).
    pub sealed_by: UserId,
    /// When (unix ms).
    pub sealed_at: i64,
    /// Every live device of the current readers holds the key: `false` after a referent
    /// change or a new device, until a reader seals it again.
    pub up_to_date: bool,
}

/// The record itself, as the client seals it (JSON in the text of a message content).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityRecord {
    /// The person's name as the coordinator typed it.
    pub name: String,
    /// Birth month, `YYYY-MM` (youth programme).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_month: Option<String>,
}

/// Why a sealed identity did not read as a record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityRecordError {
    /// The content is not an identity record.
    #[error("the content is not an identity record")]
    Malformed,
}

impl IdentityRecord {
    /// The message content to seal.
    pub fn to_content(&self) -> Result<MessageContent, IdentityRecordError> {
        serde_json::to_string(self)
            .map(MessageContent::text)
            .map_err(|_| IdentityRecordError::Malformed)
    }

    /// The record from an opened content.
    pub fn from_content(content: &MessageContent) -> Result<IdentityRecord, IdentityRecordError> {
        serde_json::from_str(&content.text).map_err(|_| IdentityRecordError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_through_a_message_content() {
        let record = IdentityRecord {
            name: "Léa Martin".into(),
            birth_month: Some("2012-04".into()),
        };
        let content = record.to_content().expect("serialises");
        assert_eq!(
            IdentityRecord::from_content(&content).expect("parses"),
            record
        );
        assert!(IdentityRecord::from_content(&MessageContent::text("bonjour")).is_err());
    }

    #[test]
    fn the_scope_is_never_a_channel_id() {
        assert_eq!(identity_scope("c-1"), "identity:c-1");
    }
}
