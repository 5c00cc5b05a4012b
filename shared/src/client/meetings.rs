//! Meetings of working groups (docs/SDK.md, docs/PROTOCOL.md §18): scheduling one with its
//! agenda, recording attendance, a decision per situation with a note sealed for the
//! group, the sealed minutes, closing it, and opening the notes and minutes.

use std::collections::BTreeMap;

use super::{Client, Device, Result};
use crate::crypto::{Envelope, MessageContent};
use crate::protocol::v1::channels::StoredMessage;
use crate::protocol::v1::meetings::{
    ChangeAgenda, DecideSituation, Meeting, MeetingDecision, RecordAttendance, ScheduleMeeting,
    WriteMinutes,
};
use crate::protocol::v1::routes;

/// A decision about one situation, before its note is sealed.
#[derive(Debug)]
pub struct Decision<'a> {
    /// The situation (case channel id) on the agenda.
    pub case_id: &'a str,
    /// The decision, from the closed list.
    pub decision: MeetingDecision,
    /// A note, sealed for the group before it leaves.
    pub note: Option<&'a MessageContent>,
    /// The next review (unix ms); by default the server's review period from now.
    pub next_review_at: Option<i64>,
}

/// What a meeting's sealed texts say once opened.
#[derive(Debug, Default)]
pub struct OpenedMeeting {
    /// The note of each situation that has one, by case id.
    pub notes: BTreeMap<String, MessageContent>,
    /// The minutes, once written.
    pub minutes: Option<MessageContent>,
}

impl Client {
    /// Schedules a meeting of a working group with its agenda (case channel ids).
    pub async fn schedule_meeting(
        &self,
        group_id: &str,
        scheduled_at: i64,
        agenda: &[&str],
    ) -> Result<Meeting> {
        self.call_with(
            routes::MEETING_SCHEDULE,
            [],
            &ScheduleMeeting {
                group_id: group_id.into(),
                scheduled_at,
                agenda: agenda.iter().map(|c| (*c).into()).collect(),
            },
        )
        .await
    }

    /// The meetings of this member's working groups, soonest first.
    pub async fn meetings(&self) -> Result<Vec<Meeting>> {
        self.call(routes::MEETINGS, []).await
    }

    /// One meeting.
    pub async fn meeting(&self, meeting_id: &str) -> Result<Meeting> {
        self.call(routes::MEETING, [meeting_id]).await
    }

    /// Records who attended (account ids of members of the group).
    pub async fn record_attendance(&self, meeting_id: &str, attendees: &[&str]) -> Result<Meeting> {
        self.call_with(
            routes::MEETING_ATTENDANCE,
            [meeting_id],
            &RecordAttendance {
                attendees: attendees.iter().map(|a| (*a).into()).collect(),
            },
        )
        .await
    }

    /// Records the decision about one situation, its note sealed for the group.
    pub async fn decide_situation(
        &mut self,
        device: &mut Device,
        meeting: &Meeting,
        decision: Decision<'_>,
    ) -> Result<Meeting> {
        let note = match decision.note {
            Some(content) => Some(self.seal(device, &meeting.group_id, content).await?),
            None => None,
        };
        self.call_with(
            routes::MEETING_DECISIONS,
            [&meeting.id],
            &DecideSituation {
                case_id: decision.case_id.into(),
                decision: decision.decision,
                note,
                next_review_at: decision.next_review_at,
            },
        )
        .await
    }

    /// Writes the minutes, sealed for the group.
    pub async fn write_minutes(
        &mut self,
        device: &mut Device,
        meeting: &Meeting,
        minutes: &MessageContent,
    ) -> Result<Meeting> {
        let sealed = self.seal(device, &meeting.group_id, minutes).await?;
        self.call_with(
            routes::MEETING_MINUTES,
            [&meeting.id],
            &WriteMinutes { minutes: sealed },
        )
        .await
    }

    /// Changes the agenda of a meeting not held yet (situations in order; decided ones
    /// stay).
    pub async fn change_agenda(&self, meeting_id: &str, agenda: &[&str]) -> Result<Meeting> {
        self.call_with(
            routes::MEETING_AGENDA,
            [meeting_id],
            &ChangeAgenda {
                agenda: agenda.iter().map(|a| (*a).into()).collect(),
            },
        )
        .await
    }

    /// Cancels a meeting nothing was decided in yet: it is deleted.
    pub async fn cancel_meeting(&self, meeting_id: &str) -> Result<()> {
        self.call_with_no_answer(routes::MEETING_CANCEL, [meeting_id], &serde_json::json!({}))
            .await
    }

    /// Closes a meeting: its decisions are frozen.
    pub async fn close_meeting(&self, meeting_id: &str) -> Result<Meeting> {
        self.call_with(routes::MEETING_CLOSE, [meeting_id], &serde_json::json!({}))
            .await
    }

    /// Opens a meeting's notes and minutes: each is checked and decrypted as a message of
    /// the group sent by whoever recorded it (docs/PROTOCOL.md §8.6).
    pub async fn open_meeting(
        &mut self,
        device: &Device,
        meeting: &Meeting,
    ) -> Result<OpenedMeeting> {
        let as_message = |sender: &str, envelope: &Envelope| StoredMessage {
            channel_id: meeting.group_id.clone(),
            seq: 0,
            sender: sender.into(),
            envelope: envelope.clone(),
            ts: meeting.scheduled_at,
        };
        let mut opened = OpenedMeeting::default();
        for item in &meeting.agenda {
            if let (Some(note), Some(by)) = (&item.note, &item.decided_by) {
                let content = self.open(device, &as_message(by, note)).await?;
                opened.notes.insert(item.case_id.to_string(), content);
            }
        }
        if let (Some(minutes), Some(by)) = (&meeting.minutes, &meeting.minutes_by) {
            opened.minutes = Some(self.open(device, &as_message(by, minutes)).await?);
        }
        Ok(opened)
    }
}
