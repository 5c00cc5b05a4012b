//! Meetings of the cellule de veille and of the groups of the programmes (issue 21, item 2;
//! docs/PROTOCOL.md §18).
//!
//! A meeting belongs to a working group. Its agenda lists situations by case reference;
//! for each one the meeting records a decision from a closed list, an optional note and the
//! date of the next review, which becomes the case's review date (CHARTER.md C11). The
//! note and the minutes are message [`Envelope`]s sealed for the group's channel by the
//! client: the server stores them without reading them (C8). Once held (closed), a meeting
//! no longer changes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::Envelope;
use crate::ids::{CaseId, ChannelId, UserId};

/// Most situations on one agenda: a meeting reviews what it can discuss.
pub const MAX_AGENDA_ITEMS: usize = 30;

/// Largest sealed note, in bytes of padded content: a note is a few paragraphs
/// (about 4,000 characters), not a file.
pub const MAX_NOTE_PADDED_BYTES: usize = 4_096;

/// What the meeting decided about one situation, from a closed list so that the annual
/// report can count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MeetingDecision {
    /// The follow-up goes on as it is.
    MaintainFollowUp,
    /// The person is referred to another scheme or service.
    ReferElsewhere,
    /// The situation no longer needs the CLSPD: its case is to be closed.
    CloseSituation,
    /// Not discussed enough: back on the next meeting's agenda.
    Postpone,
    /// An assessment is asked of a professional before deciding.
    RequestAssessment,
}

impl MeetingDecision {
    /// Every decision, in the order the form shows them.
    pub const ALL: [MeetingDecision; 5] = [
        MeetingDecision::MaintainFollowUp,
        MeetingDecision::ReferElsewhere,
        MeetingDecision::CloseSituation,
        MeetingDecision::Postpone,
        MeetingDecision::RequestAssessment,
    ];

    /// The stable name, stored and sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            MeetingDecision::MaintainFollowUp => "maintain_follow_up",
            MeetingDecision::ReferElsewhere => "refer_elsewhere",
            MeetingDecision::CloseSituation => "close_situation",
            MeetingDecision::Postpone => "postpone",
            MeetingDecision::RequestAssessment => "request_assessment",
        }
    }

    /// The French label shown in forms and in the minutes.
    pub fn label(self) -> &'static str {
        match self {
            MeetingDecision::MaintainFollowUp => "Maintenir le suivi",
            MeetingDecision::ReferElsewhere => "Orienter vers un autre dispositif",
            MeetingDecision::CloseSituation => "Clore la situation",
            MeetingDecision::Postpone => "Reporter à la prochaine réunion",
            MeetingDecision::RequestAssessment => "Demander une évaluation",
        }
    }

    /// Parses the stable name.
    pub fn parse(name: &str) -> Option<MeetingDecision> {
        MeetingDecision::ALL
            .into_iter()
            .find(|decision| decision.as_str() == name)
    }
}

/// Where a meeting stands: `scheduled`, then `held` once closed (decisions frozen).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MeetingStatus {
    /// Scheduled: attendance, decisions and minutes may still be recorded.
    Scheduled,
    /// Held and closed: nothing changes any more.
    Held,
}

impl MeetingStatus {
    /// The stable name, stored and sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            MeetingStatus::Scheduled => "scheduled",
            MeetingStatus::Held => "held",
        }
    }

    /// Parses the stable name.
    pub fn parse(name: &str) -> Option<MeetingStatus> {
        [MeetingStatus::Scheduled, MeetingStatus::Held]
            .into_iter()
            .find(|status| status.as_str() == name)
    }
}

/// `POST /api/v1/meetings/{id}/agenda`: an organiser changes the agenda of a meeting not
/// held yet: situations added, removed (if still undecided) or reordered.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeAgenda {
    /// The situations to review, in order: ids of case channels, as when scheduling.
    pub agenda: Vec<CaseId>,
}

/// `POST /api/v1/meetings`: schedules a meeting of a working group with its agenda.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleMeeting {
    /// The working group that meets (a channel the organiser belongs to).
    pub group_id: ChannelId,
    /// When it takes place (unix ms).
    pub scheduled_at: i64,
    /// The situations to review: ids of case channels attached to the group, or of the
    /// coordinator's own cases; 1 to [`MAX_AGENDA_ITEMS`], each once.
    pub agenda: Vec<CaseId>,
}

/// `POST /api/v1/meetings/{id}/attendance`: who attended (members of the group); replaces
/// what was recorded before.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordAttendance {
    /// Account ids of the members present.
    pub attendees: Vec<UserId>,
}

/// `POST /api/v1/meetings/{id}/decisions`: the decision about one situation of the agenda;
/// replaces an earlier one until the meeting is held.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideSituation {
    /// The situation (case channel id), on the agenda.
    pub case_id: CaseId,
    /// The decision.
    pub decision: MeetingDecision,
    /// A note sealed for the group's channel (at most [`MAX_NOTE_PADDED_BYTES`] of padded
    /// content).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub note: Option<Envelope>,
    /// When to review the situation next (unix ms): in the future and no later than the
    /// review period; by default, a review period from now.
    #[serde(default)]
    pub next_review_at: Option<i64>,
}

/// `POST /api/v1/meetings/{id}/minutes`: the minutes, sealed for the group's channel;
/// replace earlier ones until the meeting is held.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteMinutes {
    /// The sealed minutes.
    #[schema(value_type = Object)]
    pub minutes: Envelope,
}

/// One person present.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Attendee {
    /// Account id.
    pub user_id: UserId,
    /// Name, as colleagues see it.
    pub name: String,
}

/// One situation of the agenda and what was decided about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgendaItem {
    /// The case channel id.
    pub case_id: CaseId,
    /// The case reference (random, never a name).
    pub reference: String,
    /// The decision, once recorded.
    #[serde(default)]
    pub decision: Option<MeetingDecision>,
    /// The sealed note: open it as a message of the group sent by `decided_by`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub note: Option<Envelope>,
    /// The next review decided (unix ms).
    #[serde(default)]
    pub next_review_at: Option<i64>,
    /// Who recorded the decision (account id).
    #[serde(default)]
    pub decided_by: Option<UserId>,
    /// When (unix ms).
    #[serde(default)]
    pub decided_at: Option<i64>,
}

/// A meeting as the group's members see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Meeting {
    /// Id.
    pub id: String,
    /// The working group (channel id).
    pub group_id: ChannelId,
    /// The group's name.
    pub group_name: String,
    /// Who scheduled it (account id).
    pub organiser: UserId,
    /// Their name.
    pub organiser_name: String,
    /// When it takes place (unix ms).
    pub scheduled_at: i64,
    /// Status.
    pub status: MeetingStatus,
    /// The situations reviewed, in agenda order.
    pub agenda: Vec<AgendaItem>,
    /// Who attended, once recorded.
    pub attendees: Vec<Attendee>,
    /// The sealed minutes: open them as a message of the group sent by `minutes_by`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub minutes: Option<Envelope>,
    /// Who wrote the minutes (account id).
    #[serde(default)]
    pub minutes_by: Option<UserId>,
    /// When it was closed (unix ms).
    #[serde(default)]
    pub held_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_lists_round_trip_through_their_names() {
        for decision in MeetingDecision::ALL {
            assert_eq!(MeetingDecision::parse(decision.as_str()), Some(decision));
            let json = serde_json::to_string(&decision).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", decision.as_str()));
        }
        for status in [MeetingStatus::Scheduled, MeetingStatus::Held] {
            assert_eq!(MeetingStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(MeetingDecision::parse("placement"), None);
        assert!(serde_json::from_str::<MeetingDecision>("\"placement\"").is_err());
    }
}
