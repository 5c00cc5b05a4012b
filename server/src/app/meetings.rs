//! Meetings of the cellule de veille and of the programmes' groups (issue 21, item 2;
//! docs/PROTOCOL.md §18): a member of a working group schedules a meeting with an agenda
//! of situations (cases), records who attended, a decision per situation and the minutes,
//! then closes it, after which nothing changes.
//!
//! The notes and the minutes are envelopes sealed for the group's channel, which the
//! server checks (they name the group and a live device of the caller, their signature
//! verifies, a note stays small) but cannot read. A decision is a review of its case
//! (CHARTER.md C11): the case's next review becomes the date decided. Who may do what is
//! [`policy::meeting_duty`] and [`policy::agenda_admits`]; the group's charter gate applies
//! as to a message.

use std::collections::{BTreeSet, HashMap};

use passerelle_shared::crypto::{Envelope, MAX_PADDED_LEN, TAG_LEN};
use passerelle_shared::protocol::v1::channels::ChannelKind;
use passerelle_shared::protocol::v1::meetings::{
    AgendaItem, Attendee, ChangeAgenda, DecideSituation, Meeting, MeetingDecision, MeetingStatus,
    RecordAttendance, ScheduleMeeting, WriteMinutes, MAX_AGENDA_ITEMS, MAX_NOTE_PADDED_BYTES,
};
use serde_json::json;

use crate::app::cases::review_due_after;
use crate::app::reports::{self, Counted};
use crate::app::sealed;
use crate::audit::Outcome;
use crate::auth::CurrentUser;
use crate::db::{
    self, entities::channel, entities::meeting, entities::meeting_envelope, entities::meeting_item,
};
use crate::error::{ApiError, Result};
use crate::gate;
use crate::policy::{self, Access, Lifecycle, MeetingDuty};
use crate::state::AppState;

/// How long after a meeting it may still be scheduled, to record one held without the
/// application (30 days).
const MAX_PAST_MS: i64 = 30 * 86_400_000;

/// How far ahead a meeting may be scheduled (about a year).
const MAX_AHEAD_MS: i64 = 366 * 86_400_000;

/// Records the denial of `action` about `target` and answers `error`.
async fn refuse(
    state: &AppState,
    user: &CurrentUser,
    action: &'static str,
    target: Option<&str>,
    reason: &'static str,
    error: ApiError,
) -> ApiError {
    state
        .record_denial(
            user.actor(),
            action,
            target.map(str::to_owned),
            json!({ "reason": reason }),
        )
        .await;
    error
}

/// What the caller does with meetings, or the denial of `action` recorded and a 403.
async fn duty(state: &AppState, user: &CurrentUser, action: &'static str) -> Result<MeetingDuty> {
    match policy::meeting_duty(user.role) {
        Some(duty) => Ok(duty),
        None => Err(refuse(state, user, action, None, "role", ApiError::Forbidden).await),
    }
}

/// The caller may organise meetings, or the denial of `action` is recorded and a 403.
async fn require_organiser(
    state: &AppState,
    user: &CurrentUser,
    action: &'static str,
    target: Option<&str>,
) -> Result<()> {
    if duty(state, user, action).await? == MeetingDuty::Organiser {
        return Ok(());
    }
    Err(refuse(
        state,
        user,
        action,
        target,
        "not_an_organiser",
        ApiError::Forbidden,
    )
    .await)
}

/// The working group `group_id` if the caller is a member of it (anything else is an
/// unknown group: its existence is not confirmed), after the charter gate let them
/// `access` it.
async fn member_group(
    state: &AppState,
    user: &CurrentUser,
    group_id: &str,
    action: &'static str,
    access: Access,
) -> Result<channel::Model> {
    let channel = db::channels::find(&state.db, group_id).await?;
    let membership = db::members::find(&state.db, group_id, &user.user_id).await?;
    let group = match (channel, membership) {
        (Some(channel), Some(_))
            if channel.kind == ChannelKind::WorkingGroup.as_str()
                && Lifecycle::parse(&channel.status) != Lifecycle::Gone =>
        {
            channel
        }
        _ => {
            return Err(refuse(
                state,
                user,
                action,
                Some(group_id),
                "unknown_group",
                ApiError::Unprocessable("invalid_group"),
            )
            .await)
        }
    };
    gate::require(state, user, &group, access, action).await?;
    Ok(group)
}

/// Whether the caller may put the case `case_id` on an agenda of `group_id`, or discuss it
/// there: an active case they are a member of, open to them through the gate, attached to
/// the group or (for a coordinator) one of their own. A case they may not see is answered
/// as unknown.
async fn case_admitted(
    state: &AppState,
    user: &CurrentUser,
    case_id: &str,
    group_id: &str,
) -> Result<bool> {
    let Some(case) = db::channels::find(&state.db, case_id).await? else {
        return Ok(false);
    };
    if case.kind != ChannelKind::Case.as_str()
        || Lifecycle::parse(&case.status) != Lifecycle::Active
        || !policy::agenda_admits(user.role, case.group_id.as_deref(), group_id)
        || db::members::find(&state.db, case_id, &user.user_id)
            .await?
            .is_none()
    {
        return Ok(false);
    }
    Ok(gate::check(state, &gate::viewer(user), &case, Access::Read)
        .await?
        .is_ok())
}

/// The meeting `id` and its group, if the caller is a member of the group whom the gate
/// lets `access` it. Anyone else is told it does not exist.
async fn visible_meeting(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
    action: &'static str,
    access: Access,
) -> Result<(MeetingDuty, meeting::Model, channel::Model)> {
    let duty = duty(state, user, action).await?;
    let found = db::meetings::find(&state.db, id).await?;
    let Some(meeting) = found else {
        return Err(refuse(
            state,
            user,
            action,
            Some(id),
            "not_visible",
            ApiError::NotFound,
        )
        .await);
    };
    if db::members::find(&state.db, &meeting.group_id, &user.user_id)
        .await?
        .is_none()
    {
        return Err(refuse(
            state,
            user,
            action,
            Some(id),
            "not_visible",
            ApiError::NotFound,
        )
        .await);
    }
    let group = member_group(state, user, &meeting.group_id, action, access).await?;
    Ok((duty, meeting, group))
}

/// A meeting the caller organises a change of: visible, they are an organiser, and it is
/// not held yet (a late edit is answered 409).
async fn open_for_change(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
    action: &'static str,
) -> Result<(meeting::Model, channel::Model)> {
    let (duty, meeting, group) = visible_meeting(state, user, id, action, Access::Write).await?;
    if duty != MeetingDuty::Organiser {
        return Err(refuse(
            state,
            user,
            action,
            Some(id),
            "not_an_organiser",
            ApiError::Forbidden,
        )
        .await);
    }
    if meeting.status != MeetingStatus::Scheduled.as_str() {
        return Err(held(state, user, action, id).await);
    }
    Ok((meeting, group))
}

/// The refusal of a change to a meeting already held.
async fn held(state: &AppState, user: &CurrentUser, action: &'static str, id: &str) -> ApiError {
    refuse(
        state,
        user,
        action,
        Some(id),
        "meeting_held",
        ApiError::Conflict("meeting_held"),
    )
    .await
}

/// Checks that a sealed envelope is the caller's, for `group`, and at most `max_padded`
/// bytes of padded content: it names the group and a live device of the caller, under an
/// epoch the group has, and its signature verifies. The content stays unread.
async fn check_envelope(
    state: &AppState,
    user: &CurrentUser,
    group: &channel::Model,
    envelope: &Envelope,
    max_padded: usize,
    action: &'static str,
) -> Result<()> {
    if envelope.ciphertext.len().saturating_sub(TAG_LEN) > max_padded {
        return Err(refuse(
            state,
            user,
            action,
            Some(&group.id),
            "note_too_long",
            ApiError::Unprocessable("meeting_note_too_long"),
        )
        .await);
    }
    let verified = sealed::sealed_by(&state.db, &user.user_id, group, envelope).await?;
    if !verified {
        return Err(refuse(
            state,
            user,
            action,
            Some(&group.id),
            "invalid_envelope",
            ApiError::Unprocessable("invalid_meeting_envelope"),
        )
        .await);
    }
    if db::meetings::envelope_used(&state.db, &envelope.sender_device, &envelope.client_msg_id)
        .await?
    {
        return Err(replayed(state, user, action, &group.id).await);
    }
    Ok(())
}

/// The refusal of an envelope already given to a meeting.
async fn replayed(
    state: &AppState,
    user: &CurrentUser,
    action: &'static str,
    target: &str,
) -> ApiError {
    refuse(
        state,
        user,
        action,
        Some(target),
        "replayed",
        ApiError::Conflict("meeting_envelope_replayed"),
    )
    .await
}

/// After a failed insertion of `envelope`: the same envelope sent twice at once (the
/// primary key let one through) is a replay; anything else is the database's error.
async fn replay_or(
    state: &AppState,
    user: &CurrentUser,
    action: &'static str,
    target: &str,
    envelope: &Envelope,
    err: sea_orm::DbErr,
) -> ApiError {
    match db::meetings::envelope_used(&state.db, &envelope.sender_device, &envelope.client_msg_id)
        .await
    {
        Ok(true) => replayed(state, user, action, target).await,
        Ok(false) => err.into(),
        Err(other) => other.into(),
    }
}

/// The row that records an envelope given to `meeting_id`.
fn envelope_row(meeting_id: &str, envelope: &Envelope) -> Result<meeting_envelope::Model> {
    Ok(meeting_envelope::Model {
        sender_device: envelope.sender_device.clone(),
        client_msg_id: envelope.client_msg_id.clone(),
        meeting_id: meeting_id.to_owned(),
        epoch: i64::try_from(envelope.epoch).map_err(ApiError::internal)?,
    })
}

/// # Scheduling
///
/// An organiser who is a member of the group schedules a meeting with its agenda. Each
/// situation must be a case they may see, attached to the group or (for a coordinator)
/// one of their own; anything else is refused as unknown, and nothing is written.
pub async fn schedule(
    state: &AppState,
    user: &CurrentUser,
    request: ScheduleMeeting,
) -> Result<Meeting> {
    const ACTION: &str = "meeting_schedule";
    require_organiser(state, user, ACTION, Some(&request.group_id)).await?;
    let now = state.now_ms();
    if request.scheduled_at < now - MAX_PAST_MS || request.scheduled_at > now + MAX_AHEAD_MS {
        return Err(refuse(
            state,
            user,
            ACTION,
            Some(&request.group_id),
            "invalid_date",
            ApiError::Unprocessable("invalid_meeting_date"),
        )
        .await);
    }
    let agenda: Vec<String> = request.agenda.iter().map(ToString::to_string).collect();
    check_agenda_shape(state, user, ACTION, &request.group_id, &agenda).await?;
    let group = member_group(state, user, &request.group_id, ACTION, Access::Write).await?;
    for case_id in &agenda {
        if !case_admitted(state, user, case_id, &group.id).await? {
            return Err(refuse(
                state,
                user,
                ACTION,
                Some(&group.id),
                "unknown_case",
                ApiError::Unprocessable("meeting_unknown_case"),
            )
            .await);
        }
    }
    let taken = || async {
        refuse(
            state,
            user,
            ACTION,
            Some(&group.id),
            "replayed",
            ApiError::Conflict("meeting_exists"),
        )
        .await
    };
    if db::meetings::slot_taken(&state.db, &group.id, request.scheduled_at).await? {
        return Err(taken().await);
    }
    let model = meeting::Model {
        id: uuid::Uuid::new_v4().to_string(),
        group_id: group.id.clone(),
        organiser_id: user.user_id.clone(),
        scheduled_at: request.scheduled_at,
        status: MeetingStatus::Scheduled.as_str().to_owned(),
        created_at: now,
        updated_at: now,
        attendees: "[]".to_owned(),
        minutes: None,
        minutes_by: None,
        held_at: None,
        held_by: None,
    };
    let items = agenda
        .iter()
        .zip(0_i64..)
        .map(|(case_id, position)| meeting_item::Model {
            meeting_id: model.id.clone(),
            case_id: case_id.clone(),
            position,
            decision: None,
            note: None,
            next_review_at: None,
            decided_by: None,
            decided_at: None,
        })
        .collect();
    let txn = db::begin_write(&state.db).await?;
    if let Err(err) = db::meetings::insert(&txn, model.clone(), items).await {
        drop(txn);
        // The same meeting scheduled twice at once: the unique index let one through.
        if db::meetings::slot_taken(&state.db, &group.id, request.scheduled_at).await? {
            return Err(taken().await);
        }
        return Err(err.into());
    }
    txn.commit().await?;
    state
        .record(
            user.actor(),
            "meeting_scheduled",
            Some(group.id.clone()),
            Outcome::Success,
            json!({
                "meeting": model.id,
                "scheduled_at": model.scheduled_at,
                "situations": agenda.len(),
            }),
        )
        .await?;
    one_view(state, model).await
}

/// Schedules a meeting for the demonstration (`passerelle demo`, its sample week), on
/// behalf of `organiser`, who has accepted nothing yet: the gate that a request would pass
/// is not asked, so this is for seeding only. The agenda's cases must be of the group.
pub(crate) async fn seed_scheduled(
    state: &AppState,
    actor: crate::audit::Actor,
    group_id: &str,
    organiser_id: &str,
    scheduled_at: i64,
    agenda: &[String],
) -> Result<String> {
    let now = state.now_ms();
    let id = uuid::Uuid::new_v4().to_string();
    let model = meeting::Model {
        id: id.clone(),
        group_id: group_id.to_owned(),
        organiser_id: organiser_id.to_owned(),
        scheduled_at,
        status: MeetingStatus::Scheduled.as_str().to_owned(),
        created_at: now,
        updated_at: now,
        attendees: "[]".to_owned(),
        minutes: None,
        minutes_by: None,
        held_at: None,
        held_by: None,
    };
    let items = agenda
        .iter()
        .zip(0_i64..)
        .map(|(case_id, position)| meeting_item::Model {
            meeting_id: id.clone(),
            case_id: case_id.clone(),
            position,
            decision: None,
            note: None,
            next_review_at: None,
            decided_by: None,
            decided_at: None,
        })
        .collect();
    let txn = db::begin_write(&state.db).await?;
    db::meetings::insert(&txn, model, items).await?;
    txn.commit().await?;
    state
        .record(
            actor,
            "meeting_scheduled",
            Some(group_id.to_owned()),
            Outcome::Success,
            json!({ "meeting": id, "scheduled_at": scheduled_at, "situations": agenda.len() }),
        )
        .await?;
    Ok(id)
}

/// # Listing
///
/// The meetings of the caller's working groups that the gate lets them read now, soonest
/// first.
pub async fn list(state: &AppState, user: &CurrentUser) -> Result<Vec<Meeting>> {
    duty(state, user, "meeting_list").await?;
    let viewer = gate::viewer(user);
    let mut readable = Vec::new();
    for group in db::channels::of_user(&state.db, &user.user_id).await? {
        if group.kind == ChannelKind::WorkingGroup.as_str()
            && gate::check(state, &viewer, &group, Access::Read)
                .await?
                .is_ok()
        {
            readable.push(group.id);
        }
    }
    let rows = db::meetings::of_groups(&state.db, &readable).await?;
    views(state, rows).await
}

/// # Reading one
///
/// One meeting with its agenda, attendance, decisions and sealed notes and minutes, for
/// the members of its group (the printable version is drawn from it by the client).
pub async fn get(state: &AppState, user: &CurrentUser, id: &str) -> Result<Meeting> {
    let (_, meeting, _) = visible_meeting(state, user, id, "meeting_read", Access::Read).await?;
    one_view(state, meeting).await
}

/// Refuses an agenda that is empty, too long or names a case twice.
async fn check_agenda_shape(
    state: &AppState,
    user: &CurrentUser,
    action: &'static str,
    target: &str,
    agenda: &[String],
) -> Result<()> {
    let distinct: BTreeSet<&String> = agenda.iter().collect();
    if agenda.is_empty() || agenda.len() > MAX_AGENDA_ITEMS || distinct.len() != agenda.len() {
        return Err(refuse(
            state,
            user,
            action,
            Some(target),
            "invalid_agenda",
            ApiError::Unprocessable("invalid_agenda"),
        )
        .await);
    }
    Ok(())
}

/// # Changing the agenda
///
/// Until the meeting is held, an organiser adds situations (each one a case they may put
/// on the agenda, as when scheduling), reorders them, or removes those not decided yet; a
/// decided situation stays (`meeting_item_decided`). Nothing is written on a refusal.
pub async fn change_agenda(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
    request: ChangeAgenda,
) -> Result<Meeting> {
    const ACTION: &str = "meeting_agenda";
    let (meeting, group) = open_for_change(state, user, id, ACTION).await?;
    let agenda: Vec<String> = request.agenda.iter().map(ToString::to_string).collect();
    check_agenda_shape(state, user, ACTION, id, &agenda).await?;
    let items = db::meetings::items_of(&state.db, std::slice::from_ref(&meeting.id)).await?;
    if items
        .iter()
        .any(|item| item.decision.is_some() && !agenda.contains(&item.case_id))
    {
        return Err(refuse(
            state,
            user,
            ACTION,
            Some(id),
            "item_decided",
            ApiError::Conflict("meeting_item_decided"),
        )
        .await);
    }
    for case_id in &agenda {
        let already = items.iter().any(|item| item.case_id == *case_id);
        if !already && !case_admitted(state, user, case_id, &group.id).await? {
            return Err(refuse(
                state,
                user,
                ACTION,
                Some(id),
                "unknown_case",
                ApiError::Unprocessable("meeting_unknown_case"),
            )
            .await);
        }
    }
    let txn = db::begin_write(&state.db).await?;
    if !db::meetings::touch_scheduled(&txn, id, state.now_ms()).await? {
        drop(txn);
        return Err(held(state, user, ACTION, id).await);
    }
    db::meetings::replace_agenda(&txn, id, &agenda).await?;
    txn.commit().await?;
    state
        .record(
            user.actor(),
            "meeting_agenda_changed",
            Some(group.id.clone()),
            Outcome::Success,
            json!({ "meeting": id, "situations": agenda.len() }),
        )
        .await?;
    reload(state, &meeting.id).await
}

/// # Cancelling
///
/// An organiser cancels a meeting that has not taken place: nothing decided yet (a
/// meeting with decisions is held and closed instead, `meeting_has_decisions`). The
/// meeting, its agenda and what was recorded for it are deleted; the access log keeps who
/// cancelled it.
pub async fn cancel(state: &AppState, user: &CurrentUser, id: &str) -> Result<()> {
    const ACTION: &str = "meeting_cancel";
    let (meeting, group) = open_for_change(state, user, id, ACTION).await?;
    let items = db::meetings::items_of(&state.db, std::slice::from_ref(&meeting.id)).await?;
    if items.iter().any(|item| item.decision.is_some()) {
        return Err(refuse(
            state,
            user,
            ACTION,
            Some(id),
            "has_decisions",
            ApiError::Conflict("meeting_has_decisions"),
        )
        .await);
    }
    let txn = db::begin_write(&state.db).await?;
    if !db::meetings::touch_scheduled(&txn, id, state.now_ms()).await? {
        drop(txn);
        return Err(held(state, user, ACTION, id).await);
    }
    db::meetings::delete(&txn, id).await?;
    txn.commit().await?;
    state
        .record(
            user.actor(),
            "meeting_cancelled",
            Some(group.id.clone()),
            Outcome::Success,
            json!({ "meeting": id, "scheduled_at": meeting.scheduled_at }),
        )
        .await?;
    Ok(())
}

/// # Attendance
///
/// Who attended: members of the group, recorded during or after the meeting; it replaces
/// what was recorded before, until the meeting is held.
pub async fn record_attendance(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
    request: RecordAttendance,
) -> Result<Meeting> {
    const ACTION: &str = "meeting_attendance";
    let (meeting, group) = open_for_change(state, user, id, ACTION).await?;
    let attendees: BTreeSet<String> = request.attendees.iter().map(ToString::to_string).collect();
    let members: BTreeSet<String> = db::members::of_channel(&state.db, &group.id)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    if attendees.len() != request.attendees.len() || !attendees.is_subset(&members) {
        return Err(refuse(
            state,
            user,
            ACTION,
            Some(id),
            "invalid_attendee",
            ApiError::Unprocessable("meeting_invalid_attendee"),
        )
        .await);
    }
    let stored = serde_json::to_string(&attendees).map_err(ApiError::internal)?;
    let now = state.now_ms();
    let txn = db::begin_write(&state.db).await?;
    if !db::meetings::touch_scheduled(&txn, id, now).await? {
        drop(txn);
        return Err(held(state, user, ACTION, id).await);
    }
    db::meetings::set_attendees(&txn, id, &stored).await?;
    txn.commit().await?;
    state
        .record(
            user.actor(),
            "meeting_attendance_recorded",
            Some(group.id.clone()),
            Outcome::Success,
            json!({ "meeting": id, "attendees": attendees.len() }),
        )
        .await?;
    reload(state, &meeting.id).await
}

/// # Deciding
///
/// The decision about one situation of the agenda, its sealed note and the next review:
/// the case's review date becomes that date (a review, C11). It may be changed until the
/// meeting is held; the decider must be able to see the case.
pub async fn decide(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
    request: DecideSituation,
) -> Result<Meeting> {
    const ACTION: &str = "meeting_decide";
    let (meeting, group) = open_for_change(state, user, id, ACTION).await?;
    let items = db::meetings::items_of(&state.db, std::slice::from_ref(&meeting.id)).await?;
    let Some(item) = items.into_iter().find(|i| i.case_id == request.case_id) else {
        return Err(refuse(
            state,
            user,
            ACTION,
            Some(id),
            "not_on_agenda",
            ApiError::Unprocessable("meeting_case_not_on_agenda"),
        )
        .await);
    };
    if !case_admitted(state, user, &request.case_id, &group.id).await? {
        return Err(refuse(
            state,
            user,
            ACTION,
            Some(id),
            "unknown_case",
            ApiError::Unprocessable("meeting_unknown_case"),
        )
        .await);
    }
    let now = state.now_ms();
    let latest = review_due_after(state, now);
    let next_review_at = request.next_review_at.unwrap_or(latest);
    if next_review_at <= now || next_review_at > latest {
        return Err(refuse(
            state,
            user,
            ACTION,
            Some(id),
            "invalid_next_review",
            ApiError::Unprocessable("invalid_next_review"),
        )
        .await);
    }
    if let Some(note) = &request.note {
        check_envelope(state, user, &group, note, MAX_NOTE_PADDED_BYTES, ACTION).await?;
    }
    let Some(mut record) = db::cases::find_case(&state.db, &request.case_id).await? else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "case {} has no record",
            request.case_id
        )));
    };
    let note = match &request.note {
        Some(note) => Some(serde_json::to_string(note).map_err(ApiError::internal)?),
        None => None,
    };
    let decided = meeting_item::Model {
        decision: Some(request.decision.as_str().to_owned()),
        note,
        next_review_at: Some(next_review_at),
        decided_by: Some(user.user_id.clone()),
        decided_at: Some(now),
        ..item
    };
    record.next_review_at = Some(next_review_at);
    record.closing_proposed_at = None;
    record.updated_at = now;
    let txn = db::begin_write(&state.db).await?;
    if !db::meetings::touch_scheduled(&txn, id, now).await? {
        drop(txn);
        return Err(held(state, user, ACTION, id).await);
    }
    if let Some(note) = &request.note {
        if let Err(err) = db::meetings::insert_envelope(&txn, envelope_row(id, note)?).await {
            drop(txn);
            return Err(replay_or(state, user, ACTION, &group.id, note, err).await);
        }
    }
    db::meetings::decide(&txn, decided).await?;
    db::cases::update_case(&txn, record).await?;
    txn.commit().await?;
    state
        .record(
            user.actor(),
            "meeting_decision_recorded",
            Some(request.case_id.to_string()),
            Outcome::Success,
            json!({
                "meeting": id,
                "decision": request.decision.as_str(),
                "next_review_at": next_review_at,
                "note": request.note.is_some(),
            }),
        )
        .await?;
    reload(state, &meeting.id).await
}

/// # Minutes
///
/// The minutes, sealed for the group; they replace earlier ones until the meeting is held.
pub async fn write_minutes(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
    request: WriteMinutes,
) -> Result<Meeting> {
    const ACTION: &str = "meeting_minutes";
    let (meeting, group) = open_for_change(state, user, id, ACTION).await?;
    let envelope = &request.minutes;
    check_envelope(state, user, &group, envelope, MAX_PADDED_LEN, ACTION).await?;
    let sealed = serde_json::to_string(envelope).map_err(ApiError::internal)?;
    let now = state.now_ms();
    let txn = db::begin_write(&state.db).await?;
    if !db::meetings::touch_scheduled(&txn, id, now).await? {
        drop(txn);
        return Err(held(state, user, ACTION, id).await);
    }
    if let Err(err) = db::meetings::insert_envelope(&txn, envelope_row(id, envelope)?).await {
        drop(txn);
        return Err(replay_or(state, user, ACTION, &group.id, envelope, err).await);
    }
    db::meetings::set_minutes(&txn, id, &sealed, &user.user_id).await?;
    txn.commit().await?;
    state
        .record(
            user.actor(),
            "meeting_minutes_written",
            Some(group.id.clone()),
            Outcome::Success,
            json!({ "meeting": id }),
        )
        .await?;
    reload(state, &meeting.id).await
}

/// # Closing
///
/// The meeting is held: every situation has its decision, and from now on nothing changes.
/// The annual report counts the meeting, the situations reviewed and the decisions, in the
/// same transaction.
pub async fn close(state: &AppState, user: &CurrentUser, id: &str) -> Result<Meeting> {
    const ACTION: &str = "meeting_close";
    let (meeting, group) = open_for_change(state, user, id, ACTION).await?;
    let items = db::meetings::items_of(&state.db, std::slice::from_ref(&meeting.id)).await?;
    let decisions: Option<Vec<MeetingDecision>> = items
        .iter()
        .map(|i| i.decision.as_deref().and_then(MeetingDecision::parse))
        .collect();
    let Some(decisions) = decisions else {
        return Err(refuse(
            state,
            user,
            ACTION,
            Some(id),
            "undecided",
            ApiError::Unprocessable("meeting_undecided"),
        )
        .await);
    };
    let now = state.now_ms();
    let txn = db::begin_write(&state.db).await?;
    if !db::meetings::hold(&txn, id, &user.user_id, now).await? {
        drop(txn);
        return Err(held(state, user, ACTION, id).await);
    }
    reports::count_in(&txn, now, Counted::MeetingHeld).await?;
    for decision in &decisions {
        reports::count_in(&txn, now, Counted::SituationReviewed).await?;
        reports::count_in(&txn, now, Counted::MeetingDecision(*decision)).await?;
    }
    txn.commit().await?;
    state
        .record(
            user.actor(),
            "meeting_held",
            Some(group.id.clone()),
            Outcome::Success,
            json!({ "meeting": id, "situations": decisions.len() }),
        )
        .await?;
    reload(state, &meeting.id).await
}

/// The meeting `id` as it now stands.
async fn reload(state: &AppState, id: &str) -> Result<Meeting> {
    let meeting = db::meetings::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    one_view(state, meeting).await
}

/// One meeting as clients see it.
async fn one_view(state: &AppState, meeting: meeting::Model) -> Result<Meeting> {
    views(state, vec![meeting])
        .await?
        .pop()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("meeting vanished")))
}

/// The meetings as clients see them, with their agendas and the names of their groups,
/// cases and people.
async fn views(state: &AppState, rows: Vec<meeting::Model>) -> Result<Vec<Meeting>> {
    let ids: Vec<String> = rows.iter().map(|m| m.id.clone()).collect();
    let items = db::meetings::items_of(&state.db, &ids).await?;
    let mut attendees_of: HashMap<String, Vec<String>> = HashMap::new();
    for row in &rows {
        let list: Vec<String> = serde_json::from_str(&row.attendees)
            .map_err(|_| ApiError::internal(anyhow::anyhow!("meeting {} is malformed", row.id)))?;
        attendees_of.insert(row.id.clone(), list);
    }
    let channel_ids: Vec<String> = rows
        .iter()
        .map(|m| m.group_id.clone())
        .chain(items.iter().map(|i| i.case_id.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let people: Vec<String> = rows
        .iter()
        .map(|m| m.organiser_id.clone())
        .chain(attendees_of.values().flatten().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let channel_names: HashMap<String, String> = db::channels::find_many(&state.db, &channel_ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let names = db::accounts::display_names(&state.db, &people).await?;
    let name_of = |id: &str| names.get(id).cloned().unwrap_or_default();
    let mut agenda_of: HashMap<String, Vec<AgendaItem>> = HashMap::new();
    for item in items {
        let malformed = || {
            ApiError::internal(anyhow::anyhow!(
                "agenda item {}/{} is malformed",
                item.meeting_id,
                item.case_id
            ))
        };
        let decision = match &item.decision {
            Some(name) => Some(MeetingDecision::parse(name).ok_or_else(malformed)?),
            None => None,
        };
        let note: Option<Envelope> = match &item.note {
            Some(text) => Some(serde_json::from_str(text).map_err(|_| malformed())?),
            None => None,
        };
        agenda_of
            .entry(item.meeting_id.clone())
            .or_default()
            .push(AgendaItem {
                reference: channel_names
                    .get(&item.case_id)
                    .cloned()
                    .unwrap_or_default(),
                case_id: item.case_id.into(),
                decision,
                note,
                next_review_at: item.next_review_at,
                decided_by: item.decided_by.map(Into::into),
                decided_at: item.decided_at,
            });
    }
    rows.into_iter()
        .map(|row| {
            let malformed =
                || ApiError::internal(anyhow::anyhow!("meeting {} is malformed", row.id));
            let minutes: Option<Envelope> = match &row.minutes {
                Some(text) => Some(serde_json::from_str(text).map_err(|_| malformed())?),
                None => None,
            };
            let attendees = attendees_of
                .remove(&row.id)
                .unwrap_or_default()
                .into_iter()
                .map(|user_id| Attendee {
                    name: name_of(&user_id),
                    user_id: user_id.into(),
                })
                .collect();
            Ok(Meeting {
                group_name: channel_names
                    .get(&row.group_id)
                    .cloned()
                    .unwrap_or_default(),
                organiser_name: name_of(&row.organiser_id),
                status: MeetingStatus::parse(&row.status).ok_or_else(malformed)?,
                agenda: agenda_of.remove(&row.id).unwrap_or_default(),
                attendees,
                minutes,
                id: row.id,
                group_id: row.group_id.into(),
                organiser: row.organiser_id.into(),
                scheduled_at: row.scheduled_at,
                minutes_by: row.minutes_by.map(Into::into),
                held_at: row.held_at,
            })
        })
        .collect()
}
