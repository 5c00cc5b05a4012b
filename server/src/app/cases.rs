//! Cases and their lifecycle (CHARTER.md C7, C8, C11, C13): opened by a coordinator under
//! a random case reference, described by closed lists only, with the record of how the
//! person was informed; archived when the follow-up ends, readable then only with a
//! written reason, destroyed at `destroy_by` by [`crate::app::retention`].
//!
//! There is no listing of cases and no search across them (CHARTER.md C10): a member
//! finds a case among their own channels, by its reference.

use passerelle_shared::protocol::v1::cases::{
    ArchiveAccess, ArchiveCase, CaseView, CreateCase, FollowUpStatus, InformationMethod,
    InformationRecord, InformedParty, LocalScheme, NotInformedReason, NoticeTemplate, Programme,
    UpdateCase, MAX_ACTE_DAYS, MAX_CHANTIER_DAYS, MAX_REASON_CHARS, MIN_REASON_CHARS,
};
use passerelle_shared::protocol::v1::channels::ChannelKind;
use passerelle_shared::protocol::v1::roles::InstitutionKind;
use passerelle_shared::protocol::v1::sealed_meta::SealNote;
use passerelle_shared::protocol::v1::ws::ServerFrame;
use serde_json::json;

use crate::app::channels::{
    channel_of, check_log_record, check_note, create_decided, frame_text, log_refused,
    member_channel, note_of, open_channel, LogChange, NewChannel,
};
use crate::app::reports::{self, Counted};
use crate::app::{case_identity, coordinators};
use crate::audit::{Actor, Outcome};
use crate::auth::CurrentUser;
use crate::bus::BusEvent;
use crate::clock::{months_after, years_after};
use crate::db::{self, entities::case_file, entities::channel};
use crate::error::{ApiError, Result};
use crate::gate;
use crate::policy::{self, Access};
use crate::state::AppState;

/// Years a case is kept at most after the end of its follow-up (CHARTER.md C11).
pub const YEARS_KEPT_AFTER_END: i32 = 3;

/// The furthest a destruction limit may be set: a 25th birthday is never further away.
const MAX_YEARS_TO_LIMIT: i32 = 25;

/// When a case reviewed at `now` must be reviewed again.
fn next_review(state: &AppState, now: i64) -> i64 {
    let months = i32::try_from(state.config.retention.case_review_months).unwrap_or(6);
    months_after(now, months)
}

/// The latest next review a case reviewed at `now` may be given (a meeting may decide an
/// earlier one, never a later one: C11's period is a maximum).
pub(crate) fn review_due_after(state: &AppState, now: i64) -> i64 {
    next_review(state, now)
}

fn bad(code: &'static str) -> ApiError {
    ApiError::Unprocessable(code)
}

/// Logs the refusal of a record of how the person was informed (the note stays out of the
/// log: it is case data) and answers it.
async fn refuse_information(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    code: &'static str,
) -> ApiError {
    state
        .record_denial(
            user.actor(),
            "case_information_record",
            Some(channel_id.to_owned()),
            json!({ "reason": code }),
        )
        .await;
    bad(code)
}

/// Opens a case. The person's identity is not asked for here: if recorded at all, it is
/// sealed apart for the coordinators and the referent ([`case_identity`]).
pub async fn create(state: &AppState, user: &CurrentUser, request: CreateCase) -> Result<CaseView> {
    coordinators::require_opening(state, user, request.group_id.as_deref(), "case_create").await?;
    let now = state.now_ms();
    if let Err(code) = check_new_case(state, &request, &user.user_id, now).await? {
        state
            .record_denial(user.actor(), "case_create", None, json!({ "reason": code }))
            .await;
        return Err(bad(code));
    }
    let scheme = SchemeColumns::of(request.scheme.as_ref());
    let record = case_file::Model {
        channel_id: String::new(),
        programme: request.programme.as_str().to_owned(),
        reporting_institution: request.reporting_institution.to_string(),
        follow_up_status: FollowUpStatus::Reported.as_str().to_owned(),
        referent_user_id: request.referent_user_id.clone().map(Into::into),
        destroy_limit: request.destroy_limit,
        info_outcome: None,
        info_at: None,
        info_method: None,
        info_party: None,
        info_by: None,
        not_informed_reason: None,
        not_informed_note: None,
        note_sealed_by: None,
        info_recorded_by: None,
        info_recorded_at: None,
        created_at: now,
        updated_at: now,
        next_review_at: Some(next_review(state, now)),
        closing_proposed_at: None,
        scheme: scheme.scheme,
        scheme_school: scheme.school,
        scheme_host: scheme.host,
        scheme_from: scheme.from,
        scheme_until: scheme.until,
    };
    let spec = NewChannel {
        kind: ChannelKind::Case,
        name: String::new(),
        regime: request.regime,
        institutions: request.institutions.into_iter().map(Into::into).collect(),
        members: request.members.into_iter().map(Into::into).collect(),
        group_id: request.group_id.map(Into::into),
        starts_at: None,
        ends_at: None,
        destroy_by: request.destroy_limit,
    };
    let channel = create_decided(state, user, spec, Some(record)).await?;
    state
        .record(
            user.actor(),
            "case_opened",
            Some(channel.id.to_string()),
            Outcome::Success,
            json!({
                "reference": channel.name,
                "programme": request.programme.as_str(),
                "reporting_institution": request.reporting_institution,
                "scheme": request.scheme.as_ref().map(LocalScheme::as_str),
            }),
        )
        .await?;
    if let Some(scheme) = &request.scheme {
        reports::count(state, Counted::scheme_case_opened(scheme)).await?;
    }
    view(state, &channel.id, Some(user)).await
}

/// Why a new case cannot be opened as asked, as an error code, or `Ok(())`: the reporting
/// institution exists, the youth programme has its destruction limit (the person's 25th
/// birthday, C11, computed by the client from the birth month, which never reaches the
/// server), the dates hold, the referent is a member, and a local scheme fits.
async fn check_new_case(
    state: &AppState,
    request: &CreateCase,
    creator: &str,
    now: i64,
) -> Result<std::result::Result<(), &'static str>> {
    if db::accounts::find_institution(&state.db, &request.reporting_institution)
        .await?
        .is_none()
    {
        return Ok(Err("unknown_institution"));
    }
    if request.programme == Programme::YouthExposedToDelinquency && request.destroy_limit.is_none()
    {
        return Ok(Err("destroy_limit_required"));
    }
    if request
        .destroy_limit
        .is_some_and(|limit| limit <= now || limit > years_after(now, MAX_YEARS_TO_LIMIT))
    {
        return Ok(Err("invalid_dates"));
    }
    if let Some(referent) = &request.referent_user_id {
        if referent != creator && !request.members.contains(referent) {
            return Ok(Err("invalid_referent"));
        }
    }
    match &request.scheme {
        None => Ok(Ok(())),
        Some(scheme) => check_scheme(state, request.programme, scheme).await,
    }
}

/// A local scheme belongs to the youth programme, its period is short and ordered, and
/// ACTE names a school of the Éducation nationale and another institution as host.
pub(crate) async fn check_scheme(
    state: &AppState,
    programme: Programme,
    scheme: &LocalScheme,
) -> Result<std::result::Result<(), &'static str>> {
    const DAY_MS: i64 = 24 * 3_600_000;
    if programme != Programme::YouthExposedToDelinquency {
        return Ok(Err("scheme_needs_youth_programme"));
    }
    let (from, until, max_days) = match scheme {
        LocalScheme::Acte {
            excluded_from,
            excluded_until,
            ..
        } => (*excluded_from, *excluded_until, MAX_ACTE_DAYS),
        LocalScheme::ChantierEducatif { starts_on, ends_on } => {
            (*starts_on, *ends_on, MAX_CHANTIER_DAYS)
        }
    };
    if from <= 0 || until < from || until - from > (max_days - 1) * DAY_MS {
        return Ok(Err("invalid_scheme_dates"));
    }
    if let LocalScheme::Acte {
        school_institution,
        host_institution,
        ..
    } = scheme
    {
        let school = db::accounts::find_institution(&state.db, school_institution).await?;
        if school.is_none_or(|school| school.kind != InstitutionKind::EducationNationale.as_str()) {
            return Ok(Err("acte_school_required"));
        }
        if host_institution == school_institution
            || db::accounts::find_institution(&state.db, host_institution)
                .await?
                .is_none()
        {
            return Ok(Err("acte_host_required"));
        }
    }
    Ok(Ok(()))
}

/// A local scheme as the `cases` table stores it.
#[derive(Default)]
pub(crate) struct SchemeColumns {
    pub(crate) scheme: Option<String>,
    pub(crate) school: Option<String>,
    pub(crate) host: Option<String>,
    pub(crate) from: Option<i64>,
    pub(crate) until: Option<i64>,
}

impl SchemeColumns {
    pub(crate) fn of(scheme: Option<&LocalScheme>) -> SchemeColumns {
        match scheme {
            None => SchemeColumns::default(),
            Some(LocalScheme::Acte {
                school_institution,
                excluded_from,
                excluded_until,
                host_institution,
            }) => SchemeColumns {
                scheme: Some("acte".to_owned()),
                school: Some(school_institution.to_string()),
                host: Some(host_institution.to_string()),
                from: Some(*excluded_from),
                until: Some(*excluded_until),
            },
            Some(LocalScheme::ChantierEducatif { starts_on, ends_on }) => SchemeColumns {
                scheme: Some("chantier_educatif".to_owned()),
                from: Some(*starts_on),
                until: Some(*ends_on),
                ..SchemeColumns::default()
            },
        }
    }

    /// The scheme back from a stored row; `Err` if the row is malformed.
    fn scheme_of(record: &case_file::Model) -> std::result::Result<Option<LocalScheme>, ()> {
        let dates = || record.scheme_from.zip(record.scheme_until).ok_or(());
        match record.scheme.as_deref() {
            None => Ok(None),
            Some("acte") => {
                let (from, until) = dates()?;
                Ok(Some(LocalScheme::Acte {
                    school_institution: record.scheme_school.clone().ok_or(())?.into(),
                    excluded_from: from,
                    excluded_until: until,
                    host_institution: record.scheme_host.clone().ok_or(())?.into(),
                }))
            }
            Some("chantier_educatif") => {
                let (from, until) = dates()?;
                Ok(Some(LocalScheme::ChantierEducatif {
                    starts_on: from,
                    ends_on: until,
                }))
            }
            Some(_) => Err(()),
        }
    }
}

/// The view of a case from its rows, with what `caller` (if a person asks) may do in it.
async fn view(
    state: &AppState,
    channel_id: &str,
    caller: Option<&CurrentUser>,
) -> Result<CaseView> {
    let (Some(model), Some(record)) = (
        db::channels::find(&state.db, channel_id).await?,
        db::cases::find_case(&state.db, channel_id).await?,
    ) else {
        return Err(ApiError::NotFound);
    };
    let institutions = db::channels::institutions_of(&state.db, channel_id).await?;
    let malformed = || ApiError::internal(anyhow::anyhow!("case {channel_id} is malformed"));
    let information = match record.info_outcome.as_deref() {
        Some("informed") => Some(InformationRecord::Informed {
            informed_at: record.info_at.ok_or_else(malformed)?,
            method: record
                .info_method
                .as_deref()
                .and_then(InformationMethod::parse)
                .ok_or_else(malformed)?,
            informed: record
                .info_party
                .as_deref()
                .and_then(InformedParty::parse)
                .ok_or_else(malformed)?,
            informed_by: record.info_by.clone().ok_or_else(malformed)?.into(),
        }),
        Some("not_informed") => Some(InformationRecord::NotInformed {
            reason: record
                .not_informed_reason
                .as_deref()
                .and_then(NotInformedReason::parse)
                .ok_or_else(malformed)?,
            note: note_of(record.not_informed_note.as_deref()).0,
            sealed_note: note_of(record.not_informed_note.as_deref()).1,
            decided_by: record.info_by.clone().ok_or_else(malformed)?.into(),
        }),
        _ => None,
    };
    let scheme = SchemeColumns::scheme_of(&record).map_err(|()| malformed())?;
    let identity = case_identity::status(state, &model, &record).await?;
    let (caller_coordinates, caller_reads_identity) = match caller {
        Some(user) => {
            case_identity::duties(state, &model, &record, &user.user_id, user.role).await?
        }
        None => (false, false),
    };
    Ok(CaseView {
        channel: channel_of(&model, institutions)?,
        programme: Programme::parse(&record.programme).ok_or_else(malformed)?,
        reporting_institution: record.reporting_institution.into(),
        follow_up_status: FollowUpStatus::parse(&record.follow_up_status).ok_or_else(malformed)?,
        referent_user_id: record.referent_user_id.map(Into::into),
        destroy_limit: record.destroy_limit,
        information,
        information_recorded_by: record.info_recorded_by.map(Into::into),
        note_sealed_by: record.note_sealed_by.map(Into::into),
        information_recorded_at: record.info_recorded_at,
        next_review_at: record.next_review_at,
        closing_proposed_at: record.closing_proposed_at,
        scheme,
        identity,
        caller_coordinates,
        caller_reads_identity,
    })
}

/// Loads a case the caller may `access`, or refuses.
async fn open_case(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    action: &'static str,
    access: Access,
) -> Result<(channel::Model, case_file::Model)> {
    let (model, _) = open_channel(state, user, channel_id, action, access).await?;
    let record = db::cases::find_case(&state.db, channel_id)
        .await?
        .ok_or(ApiError::Unprocessable("not_a_case"))?;
    Ok((model, record))
}

/// A case's record, for its members (an archived case with a written reason only).
pub async fn get(state: &AppState, user: &CurrentUser, channel_id: &str) -> Result<CaseView> {
    open_case(state, user, channel_id, "case_read", Access::Read).await?;
    state
        .record(
            user.actor(),
            "case_read",
            Some(channel_id.to_owned()),
            Outcome::Success,
            json!({}),
        )
        .await?;
    view(state, channel_id, Some(user)).await
}

async fn is_member(state: &AppState, channel_id: &str, user_id: &str) -> Result<bool> {
    Ok(db::members::find(&state.db, channel_id, user_id)
        .await?
        .is_some())
}

/// Changes the follow-up status, the referent or the destruction limit (the coordinator
/// or the referent).
pub async fn update(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    request: UpdateCase,
) -> Result<CaseView> {
    let (model, mut record) =
        open_case(state, user, channel_id, "case_update", Access::Write).await?;
    let is_referent = record.referent_user_id.as_deref() == Some(user.user_id.as_str());
    if !is_referent {
        coordinators::require(state, user, &model, "case_update").await?;
    }
    let now = state.now_ms();
    let mut changed = Vec::new();
    if let Some(status) = request.follow_up_status {
        record.follow_up_status = status.as_str().to_owned();
        changed.push("follow_up_status");
    }
    let mut referent_changed = false;
    let referent_named = request.referent_user_id.clone();
    if let Some(referent) = request.referent_user_id {
        if !is_member(state, channel_id, &referent).await? {
            return Err(bad("invalid_referent"));
        }
        referent_changed = record.referent_user_id.as_deref() != Some(referent.as_str());
        record.referent_user_id = Some(referent.to_string());
        changed.push("referent");
    }
    let mut destroy_by = model.destroy_by;
    if let Some(limit) = request.destroy_limit {
        if limit <= now {
            return Err(bad("invalid_dates"));
        }
        if record.destroy_limit.is_some_and(|current| limit > current) {
            return Err(bad("limit_can_only_move_earlier"));
        }
        record.destroy_limit = Some(limit);
        destroy_by = Some(destroy_by.map_or(limit, |d| d.min(limit)));
        changed.push("destroy_limit");
    }
    if request.reviewed {
        changed.push("reviewed");
    }
    // Any update is a review (C11): the case is no longer proposed for closing.
    record.next_review_at = Some(next_review(state, now));
    record.closing_proposed_at = None;
    record.updated_at = now;
    let txn = db::begin_write(&state.db).await?;
    // Once the case has a signed membership log, the referent is named by a record a
    // coordinator signs, so that clients learn who reads the identity from the log rather
    // than from the server (PROTOCOL.md §19, §22.1).
    let logged = match (&request.record, referent_named.as_deref()) {
        (Some(signed), Some(referent)) => Some(
            check_log_record(
                &txn,
                user,
                &model,
                signed,
                LogChange::Referent(referent),
                now,
            )
            .await,
        ),
        (Some(_), None) => Some(Err(bad("invalid_membership_record"))),
        (None, Some(_))
            if referent_changed && db::membership_log::exists(&txn, channel_id).await? =>
        {
            Some(Err(bad("membership_record_required")))
        }
        _ => None,
    };
    if let Some(Err(error)) = logged {
        drop(txn);
        log_refused(state, user, channel_id, "case_update", &error).await;
        return Err(error);
    }
    let log_seq = logged.and_then(|r| r.ok());
    db::cases::update_case(&txn, record.clone()).await?;
    txn.commit().await?;
    if referent_changed {
        // The former referent loses the identity's key now (C7); a reader seals it again
        // for the new one.
        case_identity::drop_former_readers(state, &model, &record).await?;
    }
    if destroy_by != model.destroy_by {
        db::cases::set_destroy_by(&state.db, channel_id, destroy_by).await?;
    }
    state
        .record(
            user.actor(),
            "case_updated",
            Some(channel_id.to_owned()),
            Outcome::Success,
            json!({ "changed": changed, "follow_up_status": record.follow_up_status, "destroy_by": destroy_by, "log_seq": log_seq }),
        )
        .await?;
    view(state, channel_id, Some(user)).await
}

/// Records how, when and by whom the person was informed, or why they were not
/// (CHARTER.md C13). Any member of the case may record it; the person named as having
/// informed or decided must be a member too.
pub async fn record_information(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    record_in: InformationRecord,
) -> Result<CaseView> {
    let (model, mut record) = open_case(
        state,
        user,
        channel_id,
        "case_information_record",
        Access::Write,
    )
    .await?;
    let now = state.now_ms();
    record.info_at = None;
    record.info_method = None;
    record.info_party = None;
    record.not_informed_reason = None;
    record.not_informed_note = None;
    record.note_sealed_by = None;
    let details = match &record_in {
        InformationRecord::Informed {
            informed_at,
            method,
            informed,
            informed_by,
        } => {
            if *informed_at > now {
                return Err(refuse_information(state, user, channel_id, "invalid_dates").await);
            }
            if !is_member(state, channel_id, informed_by).await? {
                return Err(refuse_information(state, user, channel_id, "unknown_member").await);
            }
            record.info_outcome = Some("informed".into());
            record.info_at = Some(*informed_at);
            record.info_method = Some(method.as_str().into());
            record.info_party = Some(informed.as_str().into());
            record.info_by = Some(informed_by.to_string());
            json!({ "outcome": "informed", "method": method.as_str(), "informed": informed.as_str() })
        }
        InformationRecord::NotInformed {
            reason,
            note,
            sealed_note,
            decided_by,
        } => {
            // The note is sealed by the client (docs/PROTOCOL.md §24): a note in clear
            // is refused, and the server checks the sealing without opening it.
            if !note.trim().is_empty() {
                return Err(
                    refuse_information(state, user, channel_id, "note_must_be_sealed").await,
                );
            }
            let sealed = match sealed_note {
                Some(envelope) => {
                    if let Err(reason) = check_note(state, user, &model, envelope).await? {
                        return Err(refuse_information(state, user, channel_id, reason).await);
                    }
                    Some(serde_json::to_string(envelope).map_err(ApiError::internal)?)
                }
                None => None,
            };
            if !is_member(state, channel_id, decided_by).await? {
                return Err(refuse_information(state, user, channel_id, "unknown_member").await);
            }
            record.info_outcome = Some("not_informed".into());
            record.not_informed_reason = Some(reason.as_str().into());
            record.not_informed_note = sealed;
            record.info_by = Some(decided_by.to_string());
            // The note itself stays out of the access log: it is case data.
            json!({ "outcome": "not_informed", "reason": reason.as_str() })
        }
    };
    record.info_recorded_by = Some(user.user_id.clone());
    record.info_recorded_at = Some(now);
    record.updated_at = now;
    db::cases::update_case(&state.db, record).await?;
    state
        .record(
            user.actor(),
            "case_information_recorded",
            Some(channel_id.to_owned()),
            Outcome::Success,
            details,
        )
        .await?;
    view(state, channel_id, Some(user)).await
}

/// # Sealing a case's note again
///
/// `PUT /cases/{id}/note`: a member whom the gate lets write the case seals its note,
/// unchanged, under the case's **current** epoch, so that the members who joined since
/// (who hold no key of older epochs, §7.5) read it too (docs/PROTOCOL.md §24). The case
/// must have a sealed note (422 `note_not_sealed`); the envelope must be the caller's,
/// for this case's note scope (422 `invalid_sealed_note`), under the current epoch and a
/// newer one than the stored sealing (409 `note_epoch_stale`: a replay, a concurrent
/// re-sealing, or an older epoch never replaces a newer sealing). Every refusal is logged
/// and changes nothing; the re-sealer becomes the note's sealer (`note_sealed_by`).
pub async fn reseal_note(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    request: SealNote,
) -> Result<CaseView> {
    const ACTION: &str = "case_note_reseal";
    let (model, mut record) = open_case(state, user, channel_id, ACTION, Access::Write).await?;
    let refuse = |reason: &'static str, error: ApiError| async move {
        state
            .record_denial(
                user.actor(),
                ACTION,
                Some(channel_id.to_owned()),
                json!({ "reason": reason }),
            )
            .await;
        error
    };
    let Some(stored) = note_of(record.not_informed_note.as_deref()).1 else {
        return Err(refuse("note_not_sealed", bad("note_not_sealed")).await);
    };
    let envelope = &request.envelope;
    if let Err(reason) = check_note(state, user, &model, envelope).await? {
        return Err(refuse(reason, bad(reason)).await);
    }
    if i64::try_from(envelope.epoch).ok() != Some(model.epoch) || envelope.epoch <= stored.epoch {
        return Err(refuse("note_epoch_stale", ApiError::Conflict("note_epoch_stale")).await);
    }
    record.not_informed_note = Some(serde_json::to_string(envelope).map_err(ApiError::internal)?);
    record.note_sealed_by = Some(user.user_id.clone());
    db::cases::update_case(&state.db, record).await?;
    state
        .record(
            user.actor(),
            "case_note_resealed",
            Some(channel_id.to_owned()),
            Outcome::Success,
            json!({ "epoch": envelope.epoch }),
        )
        .await?;
    view(state, channel_id, Some(user)).await
}

/// Ends the follow-up (coordinators who are members): the case becomes read-only,
/// readable with a written reason, and is destroyed at the earlier of three years after
/// `end_date`, the limit given now and the limit set before.
pub async fn archive(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    request: ArchiveCase,
) -> Result<CaseView> {
    let (model, _) = member_channel(state, user, channel_id, "case_archive").await?;
    coordinators::require(state, user, &model, "case_archive").await?;
    let Some(record) = db::cases::find_case(&state.db, channel_id).await? else {
        return Err(bad("not_a_case"));
    };
    if model.status != "active" {
        return Err(ApiError::Conflict("already_archived"));
    }
    if request.end_date > state.now_ms() {
        return Err(bad("invalid_dates"));
    }
    close(state, user.actor(), channel_id, &record, request, false).await
}

/// Archives an active case: read-only, destroyed at the earliest of three years after
/// the end of the follow-up and the limits given; counted in the annual report, logged,
/// and announced to its members.
async fn close(
    state: &AppState,
    actor: Actor,
    channel_id: &str,
    record: &case_file::Model,
    request: ArchiveCase,
    automatic: bool,
) -> Result<CaseView> {
    let destroy_by = [
        Some(years_after(request.end_date, YEARS_KEPT_AFTER_END)),
        request.destroy_by,
        record.destroy_limit,
    ]
    .into_iter()
    .flatten()
    .min()
    .unwrap_or_else(|| state.now_ms());
    if !db::cases::archive(&state.db, channel_id, request.end_date, destroy_by).await? {
        return Err(ApiError::Conflict("already_archived"));
    }
    reports::count(state, reports::Counted::CaseClosed).await?;
    state
        .record(
            actor,
            "case_archived",
            Some(channel_id.to_owned()),
            Outcome::Success,
            json!({ "end_date": request.end_date, "destroy_by": destroy_by, "automatic": automatic }),
        )
        .await?;
    let case = view(state, channel_id, None).await?;
    state.bus.publish(BusEvent::Channel {
        channel_id: channel_id.to_owned(),
        frame: frame_text(&ServerFrame::Channel(case.channel.clone()))?,
    });
    Ok(case)
}

/// What one pass of [`review_overdue`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReviewPass {
    /// Cases newly proposed for closing.
    pub proposed: u64,
    /// Overdue cases archived.
    pub archived: u64,
}

/// The review timer of CHARTER.md C11, run by every retention pass: an active case whose
/// review is overdue is proposed for closing to its members (the coordinator sees it on
/// the case); still not reviewed `overdue_case_archive_days` later, it is archived, and
/// then destroyed like any archive. Nothing lives for ever.
pub(crate) async fn review_overdue(state: &AppState, actor: &Actor) -> Result<ReviewPass> {
    let now = state.now_ms();
    let delay_ms = i64::from(state.config.retention.overdue_case_archive_days) * 86_400_000;
    let mut pass = ReviewPass::default();
    for mut record in db::cases::active_due_for_review(&state.db, now).await? {
        let channel_id = record.channel_id.clone();
        match (record.next_review_at, record.closing_proposed_at) {
            // Opened before reviews existed: its first review is due a period from now.
            (None, _) => {
                record.next_review_at = Some(next_review(state, now));
                db::cases::update_case(&state.db, record).await?;
            }
            (Some(_), None) => {
                record.closing_proposed_at = Some(now);
                db::cases::update_case(&state.db, record).await?;
                state
                    .record(
                        actor.clone(),
                        "case_closing_proposed",
                        Some(channel_id.clone()),
                        Outcome::Success,
                        json!({ "archive_after_days": state.config.retention.overdue_case_archive_days }),
                    )
                    .await?;
                let case = view(state, &channel_id, None).await?;
                state.bus.publish(BusEvent::Channel {
                    channel_id,
                    frame: frame_text(&ServerFrame::Channel(case.channel))?,
                });
                pass.proposed += 1;
            }
            (Some(_), Some(proposed)) if now - proposed >= delay_ms => {
                let request = ArchiveCase {
                    end_date: now,
                    destroy_by: None,
                };
                close(state, actor.clone(), &channel_id, &record, request, true).await?;
                pass.archived += 1;
            }
            (Some(_), Some(_)) => {}
        }
    }
    Ok(pass)
}

/// Opens an archived case to the caller for a while, on a written reason that goes into
/// the access log (CHARTER.md C11).
pub async fn open_archived(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    reason: &str,
) -> Result<ArchiveAccess> {
    let (model, _) = member_channel(state, user, channel_id, "archive_open").await?;
    if model.status != "archived" {
        return Err(bad("not_archived"));
    }
    let reason = reason.trim();
    let length = reason.chars().count();
    if !(MIN_REASON_CHARS..=MAX_REASON_CHARS).contains(&length) {
        state
            .record_denial(
                user.actor(),
                "archive_open",
                Some(channel_id.to_owned()),
                json!({ "reason": "invalid_reason" }),
            )
            .await;
        return Err(bad("invalid_reason"));
    }
    // The charter and the rules still apply to an archive.
    let now = state.now_ms();
    let mut facts = gate::facts(&state.db, &gate::viewer(user), &model, now).await?;
    facts.archive_access = true;
    if let Err(refusal) = policy::channel_access(&facts, Access::Read, now) {
        state
            .record_denial(
                user.actor(),
                "archive_open",
                Some(channel_id.to_owned()),
                json!({ "reason": refusal.code() }),
            )
            .await;
        return Err(ApiError::Blocked(refusal));
    }
    let minutes = i64::from(state.config.retention.archive_access_minutes);
    let expires_at = now + minutes * 60_000;
    state
        .record(
            user.actor(),
            "archive_opened",
            Some(channel_id.to_owned()),
            Outcome::Success,
            json!({ "reason": reason, "expires_at": expires_at }),
        )
        .await?;
    db::cases::grant_archive_access(
        &state.db,
        db::entities::archive_access::Model {
            channel_id: channel_id.to_owned(),
            user_id: user.user_id.clone(),
            granted_at: now,
            expires_at,
        },
    )
    .await?;
    Ok(ArchiveAccess {
        channel_id: channel_id.into(),
        expires_at,
    })
}

/// The notice templates offered to inform the person (CHARTER.md C13).
pub fn notice_templates() -> Vec<NoticeTemplate> {
    const COMMON_RIGHTS: &str = "\
Vous pouvez demander à accéder aux informations qui vous concernent, à les faire rectifier, \
en demander la limitation ou vous opposer à leur traitement en écrivant à \
[coordonnées de la coordination du CLSPD] ou au délégué à la protection des données de la \
commune ([coordonnées du DPO]). Vous pouvez aussi adresser une réclamation à la Commission \
nationale de l'informatique et des libertés (CNIL, www.cnil.fr).";
    vec![
        NoticeTemplate {
            id: "information-personne".into(),
            title: "Information de la personne concernée".into(),
            audience: InformedParty::Person,
            text: format!(
                "# Information sur l'échange d'informations vous concernant\n\n\
                 Madame, Monsieur,\n\n\
                 Votre situation est suivie par le groupe de travail « [nom du groupe] » du \
                 conseil local de sécurité et de prévention de la délinquance (CLSPD) de \
                 [commune], sous la référence [référence du dossier].\n\n\
                 Dans ce cadre (article L. 132-5 du code de la sécurité intérieure), les \
                 professionnels du groupe ([institutions représentées]) échangent les seules \
                 informations nécessaires pour coordonner l'aide qui peut vous être apportée. \
                 Ces informations sont confidentielles : elles ne peuvent être communiquées à \
                 personne d'autre.\n\n\
                 Elles sont conservées pendant la durée du suivi, puis au plus trois ans \
                 après sa fin, avant d'être détruites.\n\n\
                 {COMMON_RIGHTS}\n\n\
                 Fait à [commune], le [date].\n\n\
                 [Nom, fonction et institution du professionnel]\n"
            ),
        },
        NoticeTemplate {
            id: "information-representants-legaux".into(),
            title: "Information des représentants légaux d'un mineur".into(),
            audience: InformedParty::Guardians,
            text: format!(
                "# Information sur l'échange d'informations concernant votre enfant\n\n\
                 Madame, Monsieur,\n\n\
                 La situation de votre enfant est suivie par le groupe de travail « [nom du \
                 groupe] » du conseil local de sécurité et de prévention de la délinquance \
                 (CLSPD) de [commune], sous la référence [référence du dossier].\n\n\
                 Dans ce cadre (article L. 132-5 du code de la sécurité intérieure), les \
                 professionnels du groupe ([institutions représentées]) échangent les seules \
                 informations nécessaires pour coordonner l'accompagnement de votre enfant. \
                 Ces informations sont confidentielles : elles ne peuvent être communiquées à \
                 personne d'autre.\n\n\
                 Elles sont conservées pendant la durée du suivi, puis au plus trois ans \
                 après sa fin et jamais au-delà des 25 ans de votre enfant, avant d'être \
                 détruites.\n\n\
                 {COMMON_RIGHTS}\n\n\
                 Fait à [commune], le [date].\n\n\
                 [Nom, fonction et institution du professionnel]\n"
            ),
        },
        NoticeTemplate {
            id: "information-mineur".into(),
            title: "Information adaptée à un mineur (entretien)".into(),
            audience: InformedParty::Person,
            text: "\
# Ce que nous faisons pour t'aider\n\n\
Plusieurs professionnels de [commune] ([institutions représentées]) se réunissent pour \
t'aider au mieux. Pour cela, ils partagent entre eux quelques informations sur ta \
situation, seulement ce qui est utile pour t'aider.\n\n\
Ces informations sont secrètes : ces professionnels n'ont pas le droit de les donner à \
quelqu'un d'autre. Elles sont effacées au plus tard trois ans après la fin de \
l'accompagnement, et avant tes 25 ans.\n\n\
Tu peux demander à voir ce qui est dit sur toi, ou demander de corriger une erreur, avec \
l'aide de tes parents ou de [nom du professionnel référent], en écrivant à [coordonnées \
de la coordination du CLSPD].\n"
                .into(),
        },
    ]
}
