//! Field reports of the public-tranquillity mediators (issue 21, item 3; docs/PROTOCOL.md
//! §16).
//!
//! A mediator (an account of an institution of kind `mediation`) files a **non-nominative**
//! report to one of their working groups: a place, a category from a closed list, the date
//! of the observation, and a description that the server never reads. The description is
//! a message [`Envelope`] sealed for the group's channel, exactly as a message of that
//! channel would be: its content (text and an optional photo, uploaded as an attachment of
//! the group) is readable by the group's members only. The answer that closes the report is
//! sealed the same way.
//!
//! **Minimisation (CHARTER.md C8).** The place is short ([`MAX_PLACE_CHARS`]) and must name
//! a location, never a person. It is sealed like the description (issue 19 item 3,
//! [`place_scope`]): the server keeps ciphertext only. Reports filed before keep their
//! clear `place` until they age out.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::Envelope;
use crate::ids::{ChannelId, UserId};

/// Longest place, in characters.
pub const MAX_PLACE_CHARS: usize = 120;

/// The scope a report's place is sealed under: bound to its description's
/// `client_msg_id`, so that a place served with another report does not open. Sealed under
/// the group's key of the description's epoch, by the same device.
pub fn place_scope(description_msg_id: &str) -> String {
    format!("place:{description_msg_id}")
}

/// The place, trimmed, if it is acceptable: 1 to [`MAX_PLACE_CHARS`] characters, no
/// control character. Checked by the sealing client (the server cannot read it).
pub fn clean_place(place: &str) -> Option<String> {
    let place = place.trim();
    let length = place.chars().count();
    ((1..=MAX_PLACE_CHARS).contains(&length) && !place.chars().any(char::is_control))
        .then(|| place.to_owned())
}

/// What a mediator observed, from a closed list, so that the annual report can count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldReportCategory {
    /// An incivility (noise, insults, nuisance in a common space).
    Incivility,
    /// A conflict between residents or users of a place.
    Conflict,
    /// A technical fault or damage: a broken street light, a damaged entrance door.
    TechnicalFault,
    /// Waste or bulky items dumped in a public space.
    IllegalDumping,
    /// Anything else worth the group's attention.
    Other,
}

impl FieldReportCategory {
    /// Every category, in the order the form shows them.
    pub const ALL: [FieldReportCategory; 5] = [
        FieldReportCategory::Incivility,
        FieldReportCategory::Conflict,
        FieldReportCategory::TechnicalFault,
        FieldReportCategory::IllegalDumping,
        FieldReportCategory::Other,
    ];

    /// The stable name, stored and sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldReportCategory::Incivility => "incivility",
            FieldReportCategory::Conflict => "conflict",
            FieldReportCategory::TechnicalFault => "technical_fault",
            FieldReportCategory::IllegalDumping => "illegal_dumping",
            FieldReportCategory::Other => "other",
        }
    }

    /// The French label shown in forms.
    pub fn label(self) -> &'static str {
        match self {
            FieldReportCategory::Incivility => "Incivilité",
            FieldReportCategory::Conflict => "Conflit",
            FieldReportCategory::TechnicalFault => "Panne technique ou dégradation",
            FieldReportCategory::IllegalDumping => "Dépôt sauvage",
            FieldReportCategory::Other => "Autre",
        }
    }

    /// Parses the stable name.
    pub fn parse(name: &str) -> Option<FieldReportCategory> {
        FieldReportCategory::ALL
            .into_iter()
            .find(|category| category.as_str() == name)
    }
}

/// Where a report stands: `new` → `in_progress` → `done`, one step at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldReportStatus {
    /// Filed, nobody has taken it in charge yet.
    New,
    /// A member of the group took it in charge.
    InProgress,
    /// Dealt with; the answer says how.
    Done,
}

impl FieldReportStatus {
    /// Every status, in order.
    pub const ALL: [FieldReportStatus; 3] = [
        FieldReportStatus::New,
        FieldReportStatus::InProgress,
        FieldReportStatus::Done,
    ];

    /// The stable name, stored and sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldReportStatus::New => "new",
            FieldReportStatus::InProgress => "in_progress",
            FieldReportStatus::Done => "done",
        }
    }

    /// The French label shown in lists.
    pub fn label(self) -> &'static str {
        match self {
            FieldReportStatus::New => "Nouveau",
            FieldReportStatus::InProgress => "Pris en charge",
            FieldReportStatus::Done => "Traité",
        }
    }

    /// Parses the stable name.
    pub fn parse(name: &str) -> Option<FieldReportStatus> {
        FieldReportStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == name)
    }

    /// The status that may follow this one, if any: a report moves forward one step at a
    /// time, so that "taken in charge" is always recorded before "done".
    pub fn next(self) -> Option<FieldReportStatus> {
        match self {
            FieldReportStatus::New => Some(FieldReportStatus::InProgress),
            FieldReportStatus::InProgress => Some(FieldReportStatus::Done),
            FieldReportStatus::Done => None,
        }
    }
}

/// `POST /api/v1/field-reports`: a mediator files a report to one of their working groups.
/// There is no field for a person: the description, sealed for the group, says what was
/// seen.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileFieldReport {
    /// The working group the report is addressed to (a channel the mediator belongs to).
    pub group_id: ChannelId,
    /// What was observed.
    pub category: FieldReportCategory,
    /// Left empty: a place in clear is refused (`place_must_be_sealed`); it goes in
    /// `sealed_place`.
    #[serde(default)]
    pub place: String,
    /// Where (at most [`MAX_PLACE_CHARS`] characters: a street, a building, never a name),
    /// sealed by the filing device under [`place_scope`] of the description, with the
    /// group's key of the description's epoch.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub sealed_place: Option<Envelope>,
    /// When it was observed (unix ms), not in the future.
    pub observed_at: i64,
    /// The description (and optional photo), sealed for the group's channel by the
    /// filing device; its `client_msg_id` makes a replayed filing detectable.
    #[schema(value_type = Object)]
    pub description: Envelope,
}

/// `POST /api/v1/field-reports/{id}/status`: a member of the addressed group moves the
/// report one step forward; `done` requires the answer, sealed for the group.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateFieldReport {
    /// The new status: the one after the current.
    pub status: FieldReportStatus,
    /// The answer (required for `done`, refused otherwise), sealed for the group's channel.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub answer: Option<Envelope>,
}

/// A field report as its author and the addressed group's members see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldReport {
    /// Id.
    pub id: String,
    /// The addressed working group (channel id).
    pub group_id: ChannelId,
    /// The group's name.
    pub group_name: String,
    /// The mediator who filed it (account id).
    pub author: UserId,
    /// Their name, as colleagues see it.
    pub author_name: String,
    /// Category.
    pub category: FieldReportCategory,
    /// The place in clear, for reports filed before places were sealed; empty otherwise.
    pub place: String,
    /// The sealed place: open it with the group's key of its epoch, sealed by `author`
    /// under [`place_scope`] of the description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub sealed_place: Option<Envelope>,
    /// When it was observed (unix ms).
    pub observed_at: i64,
    /// When it was filed (unix ms).
    pub filed_at: i64,
    /// Status.
    pub status: FieldReportStatus,
    /// The sealed description: open it as a message of `group_id` sent by `author`. Absent
    /// only from the demonstration's sample report, which no device sealed.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub description: Option<Envelope>,
    /// Who took it in charge (account id).
    #[serde(default)]
    pub handled_by: Option<UserId>,
    /// Their name.
    #[serde(default)]
    pub handled_by_name: Option<String>,
    /// When it was taken in charge (unix ms).
    #[serde(default)]
    pub handled_at: Option<i64>,
    /// The sealed answer, once done: open it as a message of `group_id` sent by
    /// `answered_by`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub answer: Option<Envelope>,
    /// Who answered (account id).
    #[serde(default)]
    pub answered_by: Option<UserId>,
    /// When (unix ms).
    #[serde(default)]
    pub answered_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_is_short_plain_text() {
        assert_eq!(
            clean_place("  Entrée du 12, rue des Lilas "),
            Some("Entrée du 12, rue des Lilas".into())
        );
        assert_eq!(clean_place("   "), None);
        assert_eq!(clean_place("rue\u{0}cachée"), None);
        assert_eq!(
            clean_place(&"é".repeat(MAX_PLACE_CHARS)).map(|p| p.len()),
            Some(240)
        );
        assert_eq!(clean_place(&"é".repeat(MAX_PLACE_CHARS + 1)), None);
    }

    #[test]
    fn closed_lists_round_trip_through_their_names() {
        for category in FieldReportCategory::ALL {
            assert_eq!(
                FieldReportCategory::parse(category.as_str()),
                Some(category)
            );
            let json = serde_json::to_string(&category).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", category.as_str()));
        }
        for status in FieldReportStatus::ALL {
            assert_eq!(FieldReportStatus::parse(status.as_str()), Some(status));
            let json = serde_json::to_string(&status).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        assert_eq!(FieldReportCategory::parse("burglary"), None);
    }

    #[test]
    fn a_report_moves_forward_one_step_at_a_time() {
        assert_eq!(
            FieldReportStatus::New.next(),
            Some(FieldReportStatus::InProgress)
        );
        assert_eq!(
            FieldReportStatus::InProgress.next(),
            Some(FieldReportStatus::Done)
        );
        assert_eq!(FieldReportStatus::Done.next(), None);
    }
}
