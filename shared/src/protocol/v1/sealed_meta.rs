//! Sealed channel metadata (docs/PROTOCOL.md §24; CHARTER.md C7–C9): what a person types
//! to name or describe a case, a practice session or a conversation, and a case's
//! free-text notes, never reach the server in clear.
//!
//! A **title** is sealed by a member's device as a message [`Envelope`] under the
//! channel's epoch key, with the scope [`title_scope`] as its `channel_id` and the epoch
//! as its `epoch`: the message key is derived from the scope, so a title is never taken
//! for a message of the channel (nor a message for a title). The server keeps only the
//! latest sealing and shows everyone the channel's random reference
//! ([`super::channels::Channel::name`]) instead. A member who joins later reads the title
//! once a member holding both keys re-seals it under the current epoch: the client that
//! opens a new epoch does it right away, and any client that shows a title sealed under
//! an older epoch does it too.
//!
//! A case's **note** (why the person was not informed, CHARTER.md C13) is sealed the same
//! way under [`note_scope`].

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::{Envelope, MessageContent};
use crate::ids::UserId;

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 120;

/// Largest padding bucket of a sealed title or note: their content is short, so a
/// bigger ciphertext is refused (`invalid_sealed_title`, `invalid_sealed_note`).
pub const MAX_SEALED_BUCKET: usize = 2_048;

/// The scope a channel's title is sealed under (the envelope's `channel_id`).
pub fn title_scope(channel_id: &str) -> String {
    format!("title:{channel_id}")
}

/// The scope a case's note is sealed under (the envelope's `channel_id`).
pub fn note_scope(case_id: &str) -> String {
    format!("note:{case_id}")
}

/// Whether a sealed title's or note's ciphertext fits [`MAX_SEALED_BUCKET`].
pub fn small_enough(envelope: &Envelope) -> bool {
    envelope.ciphertext.len() <= MAX_SEALED_BUCKET + 16
}

/// What a title envelope carries, as the `text` of its content: a JSON object, so that
/// a description can join the title later without a new format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TitleRecord {
    /// The title as typed.
    pub title: String,
}

impl TitleRecord {
    /// The message content to seal.
    pub fn to_content(&self) -> MessageContent {
        MessageContent::text(serde_json::to_string(self).unwrap_or_default())
    }

    /// The record from an opened content; `None` if it is not one.
    pub fn from_content(content: &MessageContent) -> Option<TitleRecord> {
        serde_json::from_str(&content.text).ok()
    }
}

/// A channel's sealed title, as its members receive it in [`super::channels::Channel`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SealedTitle {
    /// The title, sealed under [`title_scope`] and one of the channel's epochs.
    #[schema(value_type = Object)]
    pub envelope: Envelope,
    /// Who sealed it (account id): the client checks the envelope's device against
    /// this person's pinned identity.
    pub sealed_by: UserId,
}

/// `PUT /api/v1/channels/{id}/title`: seals (or re-seals, or changes) a channel's title.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SealTitle {
    /// The title, sealed by the caller's device under [`title_scope`] and the channel's
    /// current epoch.
    #[schema(value_type = Object)]
    pub envelope: Envelope,
}

/// `PUT /api/v1/cases/{id}/note`: a case's note sealed again, unchanged, under the
/// channel's current epoch, so that the members who joined since read it (§24).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SealNote {
    /// The note, sealed by the caller's device under [`note_scope`] and the channel's
    /// current epoch.
    #[schema(value_type = Object)]
    pub envelope: Envelope,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_record_round_trips_through_a_content() {
        let record = TitleRecord {
            title: "Suivi collège Nord".into(),
        };
        assert_eq!(
            TitleRecord::from_content(&record.to_content()),
            Some(record)
        );
        assert_eq!(
            TitleRecord::from_content(&MessageContent::text("bonjour")),
            None
        );
    }

    #[test]
    fn scopes_are_never_channel_ids() {
        assert_eq!(title_scope("c"), "title:c");
        assert_eq!(note_scope("c"), "note:c");
    }
}
