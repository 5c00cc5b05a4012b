//! Field reports of the public-tranquillity mediators (issue 21, item 3; docs/PROTOCOL.md
//! §16): a mediator files a non-nominative report to one of their working groups, whose
//! members take it in charge and answer it.
//!
//! The server stores the category and the dates; the place, the description and the
//! answer are envelopes sealed for the group's channel, which it checks (they name the
//! group, or the place's scope, and a live device of the caller, and their signature
//! verifies) but cannot read. Reports filed before places were sealed keep their clear
//! place (PROTOCOL.md §16). Who may do what is [`policy::field_report_duty`], and the group's charter gate
//! applies as to a message: a mediator who has not accepted the group's rules cannot file.

use std::collections::{BTreeSet, HashMap};

use passerelle_shared::crypto::{DeviceSigningPublicKey, Envelope};
use passerelle_shared::protocol::v1::channels::ChannelKind;
use passerelle_shared::protocol::v1::field_reports::{
    place_scope, FieldReport, FieldReportCategory, FieldReportStatus, FileFieldReport,
    UpdateFieldReport,
};
use passerelle_shared::protocol::v1::sealed_meta::small_enough;
use passerelle_shared::protocol::v1::InstitutionKind;
use serde_json::json;

use crate::app::reports::{self, Counted};
use crate::app::sealed;
use crate::audit::Outcome;
use crate::auth::CurrentUser;
use crate::db::{self, entities::channel, entities::field_report};
use crate::error::{ApiError, Result};
use crate::gate;
use crate::policy::{self, Access, FieldReportDuty, Lifecycle};
use crate::state::AppState;

/// How far in the future an observation date may be, for a device's clock running fast.
const CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// How old an observation may be when filed: a report is about the field today, not an
/// archive.
const MAX_AGE_MS: i64 = 366 * 24 * 3_600_000;

/// What the caller does with field reports, or the denial of `action` recorded and a 403.
async fn duty(
    state: &AppState,
    user: &CurrentUser,
    action: &'static str,
) -> Result<FieldReportDuty> {
    let kind = db::accounts::find_institution(&state.db, &user.institution_id)
        .await?
        .and_then(|institution| InstitutionKind::parse(&institution.kind))
        .unwrap_or_default();
    if let Some(duty) = policy::field_report_duty(user.role, kind) {
        return Ok(duty);
    }
    state
        .record_denial(
            user.actor(),
            action,
            None,
            json!({ "reason": "role", "role": user.role.as_str(), "institution_kind": kind.as_str() }),
        )
        .await;
    Err(ApiError::Forbidden)
}

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

/// The working group `group_id` if the caller is a member of it (anything else, a case or
/// a group they are not in, is an unknown group: its existence is not confirmed), after
/// the charter gate let them `access` it.
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

/// Checks that a sealed envelope is the caller's, for `group`: it names the group and a
/// live device of the caller, under an epoch the group has, and its signature verifies.
/// The content stays unread.
async fn check_envelope(
    state: &AppState,
    user: &CurrentUser,
    group: &channel::Model,
    envelope: &Envelope,
    action: &'static str,
) -> Result<()> {
    if sealed::sealed_by(&state.db, &user.user_id, group, envelope).await? {
        return Ok(());
    }
    Err(refuse(
        state,
        user,
        action,
        Some(&group.id),
        "invalid_envelope",
        ApiError::Unprocessable("invalid_report_envelope"),
    )
    .await)
}

/// Whether `place` is the sealed place of `description`: its scope, epoch and device,
/// small, signed by that device (which [`check_envelope`] found the caller's).
async fn place_sealed_with(
    state: &AppState,
    description: &Envelope,
    place: &Envelope,
) -> Result<bool> {
    if place.channel_id != place_scope(&description.client_msg_id)
        || place.epoch != description.epoch
        || place.sender_device != description.sender_device
        || !small_enough(place)
    {
        return Ok(false);
    }
    let key = db::keys::find_device(&state.db, &place.sender_device)
        .await?
        .and_then(|d| DeviceSigningPublicKey::from_base64url(&d.signing_key).ok());
    Ok(key.is_some_and(|key| place.verify_signature(&key).is_ok()))
}

/// A stored place: the sealed envelope, or a place filed in clear before places were
/// sealed. Answers `(place, sealed_place)`.
fn place_of(stored: &str) -> (String, Option<Envelope>) {
    match serde_json::from_str::<Envelope>(stored) {
        Ok(envelope) => (String::new(), Some(envelope)),
        Err(_) => (stored.to_owned(), None),
    }
}

/// # Filing
///
/// A mediator files a report to one of their working groups. The report, its count in the
/// annual report and nothing else are written together; a replayed envelope is refused.
pub async fn file(
    state: &AppState,
    user: &CurrentUser,
    request: FileFieldReport,
) -> Result<FieldReport> {
    const ACTION: &str = "field_report_file";
    if duty(state, user, ACTION).await? != FieldReportDuty::Reporter {
        return Err(refuse(
            state,
            user,
            ACTION,
            None,
            "not_a_mediator",
            ApiError::Forbidden,
        )
        .await);
    }
    // The place is sealed by the client (PROTOCOL.md §16): in clear it is refused.
    let refused_place = match (request.place.is_empty(), &request.sealed_place) {
        (false, _) => Some("place_must_be_sealed"),
        (true, None) => Some("invalid_place"),
        (true, Some(_)) => None,
    };
    if let Some(code) = refused_place {
        return Err(refuse(
            state,
            user,
            ACTION,
            None,
            code,
            ApiError::Unprocessable(code),
        )
        .await);
    }
    let now = state.now_ms();
    if request.observed_at > now + CLOCK_SKEW_MS || request.observed_at < now - MAX_AGE_MS {
        return Err(refuse(
            state,
            user,
            ACTION,
            None,
            "invalid_observed_at",
            ApiError::Unprocessable("invalid_observed_at"),
        )
        .await);
    }
    let group = member_group(state, user, &request.group_id, ACTION, Access::Write).await?;
    let envelope = &request.description;
    check_envelope(state, user, &group, envelope, ACTION).await?;
    let place = match &request.sealed_place {
        Some(sealed) if place_sealed_with(state, envelope, sealed).await? => {
            serde_json::to_string(sealed).map_err(ApiError::internal)?
        }
        _ => {
            return Err(refuse(
                state,
                user,
                ACTION,
                Some(&group.id),
                "invalid_sealed_place",
                ApiError::Unprocessable("invalid_sealed_place"),
            )
            .await)
        }
    };
    let replayed = || async {
        refuse(
            state,
            user,
            ACTION,
            Some(&group.id),
            "replayed",
            ApiError::Conflict("field_report_replayed"),
        )
        .await
    };
    if db::field_reports::envelope_used(&state.db, &envelope.sender_device, &envelope.client_msg_id)
        .await?
    {
        return Err(replayed().await);
    }
    let model = field_report::Model {
        id: uuid::Uuid::new_v4().to_string(),
        group_id: group.id.clone(),
        author_id: user.user_id.clone(),
        category: request.category.as_str().to_owned(),
        place,
        observed_at: request.observed_at,
        filed_at: now,
        status: FieldReportStatus::New.as_str().to_owned(),
        description: serde_json::to_string(envelope).map_err(ApiError::internal)?,
        description_device: envelope.sender_device.clone(),
        description_msg_id: envelope.client_msg_id.clone(),
        epoch: i64::try_from(envelope.epoch).map_err(ApiError::internal)?,
        answer_epoch: None,
        handled_by: None,
        handled_at: None,
        answer: None,
        answered_by: None,
        answered_at: None,
    };
    let txn = db::begin_write(&state.db).await?;
    if let Err(err) = db::field_reports::insert(&txn, model.clone()).await {
        drop(txn);
        // The same envelope filed twice at once: the unique index let one through.
        if db::field_reports::envelope_used(
            &state.db,
            &envelope.sender_device,
            &envelope.client_msg_id,
        )
        .await?
        {
            return Err(replayed().await);
        }
        return Err(err.into());
    }
    reports::count_in(&txn, now, Counted::FieldReportFiled(request.category)).await?;
    reports::count_in(
        &txn,
        now,
        Counted::FieldReportReached(FieldReportStatus::New),
    )
    .await?;
    txn.commit().await?;
    state
        .record(
            user.actor(),
            "field_report_filed",
            Some(group.id.clone()),
            Outcome::Success,
            json!({ "report": model.id, "category": model.category }),
        )
        .await?;
    let mut views = views(state, vec![model]).await?;
    views
        .pop()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("report vanished")))
}

/// # Listing
///
/// The reports the caller may see, newest first: a mediator their own; a member of a group
/// those addressed to the groups the gate lets them read now.
pub async fn list(state: &AppState, user: &CurrentUser) -> Result<Vec<FieldReport>> {
    let groups = match duty(state, user, "field_report_list").await? {
        FieldReportDuty::Reporter => Vec::new(),
        FieldReportDuty::Handler => readable_groups(state, user).await?,
    };
    let rows = db::field_reports::visible(&state.db, &user.user_id, &groups).await?;
    views(state, rows).await
}

/// The caller's working groups that the charter gate lets them read now.
async fn readable_groups(state: &AppState, user: &CurrentUser) -> Result<Vec<String>> {
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
    Ok(readable)
}

/// The report `id` if the caller may see it: its author, or a member of its group whom
/// the gate lets read (for `access`). Anyone else is told it does not exist.
async fn visible_report(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
    action: &'static str,
    access: Access,
) -> Result<(FieldReportDuty, field_report::Model)> {
    let duty = duty(state, user, action).await?;
    let report = db::field_reports::find(&state.db, id).await?;
    match (duty, report) {
        (FieldReportDuty::Reporter, Some(report)) if report.author_id == user.user_id => {
            Ok((duty, report))
        }
        (FieldReportDuty::Handler, Some(report))
            if db::members::find(&state.db, &report.group_id, &user.user_id)
                .await?
                .is_some() =>
        {
            member_group(state, user, &report.group_id, action, access).await?;
            Ok((duty, report))
        }
        _ => Err(refuse(
            state,
            user,
            action,
            Some(id),
            "not_visible",
            ApiError::NotFound,
        )
        .await),
    }
}

/// # Reading one
///
/// One report, for its author or a member of its group.
pub async fn get(state: &AppState, user: &CurrentUser, id: &str) -> Result<FieldReport> {
    let (_, report) = visible_report(state, user, id, "field_report_read", Access::Read).await?;
    let mut views = views(state, vec![report]).await?;
    views.pop().ok_or(ApiError::NotFound)
}

/// # Taking in charge, answering
///
/// A member of the addressed group moves the report one step forward: `in_progress`
/// (taking it in charge), then `done` with the sealed answer. A step already taken (a
/// replay, or a colleague faster) is refused and changes nothing.
pub async fn update(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
    request: UpdateFieldReport,
) -> Result<FieldReport> {
    const ACTION: &str = "field_report_update";
    let (duty, report) = visible_report(state, user, id, ACTION, Access::Write).await?;
    if duty != FieldReportDuty::Handler {
        return Err(refuse(
            state,
            user,
            ACTION,
            Some(id),
            "not_a_handler",
            ApiError::Forbidden,
        )
        .await);
    }
    let current = FieldReportStatus::parse(&report.status)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("report {id} has a bad status")))?;
    if current.next() != Some(request.status) {
        return Err(refuse(
            state,
            user,
            ACTION,
            Some(id),
            "status_conflict",
            ApiError::Conflict("field_report_status_conflict"),
        )
        .await);
    }
    let sealed_answer = match (request.status, &request.answer) {
        (FieldReportStatus::InProgress, None) => None,
        (FieldReportStatus::Done, Some(answer)) => {
            let group = db::channels::find(&state.db, &report.group_id)
                .await?
                .ok_or(ApiError::NotFound)?;
            check_envelope(state, user, &group, answer, ACTION).await?;
            let epoch = i64::try_from(answer.epoch).map_err(ApiError::internal)?;
            Some((
                serde_json::to_string(answer).map_err(ApiError::internal)?,
                epoch,
            ))
        }
        (FieldReportStatus::Done, None) => {
            return Err(refuse(
                state,
                user,
                ACTION,
                Some(id),
                "answer_required",
                ApiError::Unprocessable("field_report_answer_required"),
            )
            .await);
        }
        _ => {
            return Err(refuse(
                state,
                user,
                ACTION,
                Some(id),
                "answer_not_expected",
                ApiError::Unprocessable("field_report_answer_not_expected"),
            )
            .await);
        }
    };
    let now = state.now_ms();
    let txn = db::begin_write(&state.db).await?;
    let (changed, action) = match &sealed_answer {
        None => (
            db::field_reports::take_in_charge(&txn, id, &user.user_id, now).await?,
            "field_report_taken_in_charge",
        ),
        Some((sealed, epoch)) => (
            db::field_reports::answer(&txn, id, sealed, *epoch, &user.user_id, now).await?,
            "field_report_answered",
        ),
    };
    if !changed {
        drop(txn);
        return Err(refuse(
            state,
            user,
            ACTION,
            Some(id),
            "status_conflict",
            ApiError::Conflict("field_report_status_conflict"),
        )
        .await);
    }
    reports::count_in(&txn, now, Counted::FieldReportReached(request.status)).await?;
    txn.commit().await?;
    state
        .record(
            user.actor(),
            action,
            Some(report.group_id.clone()),
            Outcome::Success,
            json!({ "report": id, "status": request.status.as_str() }),
        )
        .await?;
    let updated = db::field_reports::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut views = views(state, vec![updated]).await?;
    views.pop().ok_or(ApiError::NotFound)
}

/// The reports as clients see them, with the names of their groups and people.
async fn views(state: &AppState, rows: Vec<field_report::Model>) -> Result<Vec<FieldReport>> {
    let group_ids: Vec<String> = rows
        .iter()
        .map(|r| r.group_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let people: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            [
                Some(&r.author_id),
                r.handled_by.as_ref(),
                r.answered_by.as_ref(),
            ]
            .into_iter()
            .flatten()
            .cloned()
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let groups: HashMap<String, String> = db::channels::find_many(&state.db, &group_ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let names = db::accounts::display_names(&state.db, &people).await?;
    let name_of = |id: &str| names.get(id).cloned().unwrap_or_default();
    rows.into_iter()
        .map(|row| {
            let malformed =
                || ApiError::internal(anyhow::anyhow!("field report {} is malformed", row.id));
            let answer = match &row.answer {
                Some(text) => Some(serde_json::from_str(text).map_err(|_| malformed())?),
                None => None,
            };
            Ok(FieldReport {
                group_name: groups.get(&row.group_id).cloned().unwrap_or_default(),
                author_name: name_of(&row.author_id),
                category: FieldReportCategory::parse(&row.category).ok_or_else(malformed)?,
                status: FieldReportStatus::parse(&row.status).ok_or_else(malformed)?,
                description: match row.description.as_str() {
                    "" => None,
                    sealed => Some(serde_json::from_str(sealed).map_err(|_| malformed())?),
                },
                handled_by_name: row.handled_by.as_deref().map(name_of),
                answer,
                id: row.id,
                group_id: row.group_id.into(),
                author: row.author_id.into(),
                place: place_of(&row.place).0,
                sealed_place: place_of(&row.place).1,
                observed_at: row.observed_at,
                filed_at: row.filed_at,
                handled_by: row.handled_by.map(Into::into),
                handled_at: row.handled_at,
                answered_by: row.answered_by.map(Into::into),
                answered_at: row.answered_at,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_filed_in_clear_before_the_sealing_is_still_shown() {
        assert_eq!(
            place_of("Entrée du 12, rue des Lilas"),
            ("Entrée du 12, rue des Lilas".to_owned(), None)
        );
    }
}
