//! Referrals (*orientations*) of the intervenant social au commissariat (issue 21, item 1;
//! docs/PROTOCOL.md §17): opened by a referrer towards another institution of the CLSPD,
//! accepted there (which opens a case with a named referent) or declined with a reason,
//! then followed and closed.
//!
//! The server stores closed-list values, dates and account ids; the notes are message
//! envelopes sealed for a channel the writer shares with the reader, which it checks (the
//! channel, a live device of the caller, the signature) but cannot read. Who may do what
//! is [`policy::referral_allows`]; every refusal is recorded in the access log.

use std::collections::{BTreeSet, HashMap};

use passerelle_shared::crypto::Envelope;
use passerelle_shared::protocol::v1::cases::{FollowUpStatus, LocalScheme, Programme};
use passerelle_shared::protocol::v1::channels::{ChannelKind, LegalRegime};
use passerelle_shared::protocol::v1::referrals::{
    AcceptReferral, AdvanceReferral, DeclineReason, DeclineReferral, OpenReferral, Referral,
    ReferralConsent, ReferralList, ReferralReason, ReferralStatus, WithoutConsentReason,
    MAX_CLIENT_ID_CHARS, MAX_NOTE_CIPHERTEXT,
};
use passerelle_shared::protocol::v1::{InstitutionKind, Role};
use serde_json::json;

use crate::app::cases::{self, SchemeColumns};
use crate::app::channels::{create_decided, NewChannel};
use crate::app::reports::{self, Counted};
use crate::app::sealed;
use crate::audit::Outcome;
use crate::auth::CurrentUser;
use crate::clock::{months_after, years_after};
use crate::db::{self, entities::case_file, entities::referral, entities::user};
use crate::error::{ApiError, Result};
use crate::gate;
use crate::policy::{self, Access, ReferralParty, ReferralStep};
use crate::state::AppState;

/// The furthest a destruction limit may be set: a 25th birthday is never further away.
const MAX_YEARS_TO_LIMIT: i32 = 25;

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

/// The kind of an institution (`autre` if unknown: it grants nothing).
async fn kind_of(state: &AppState, institution_id: &str) -> Result<InstitutionKind> {
    Ok(db::accounts::find_institution(&state.db, institution_id)
        .await?
        .and_then(|institution| InstitutionKind::parse(&institution.kind))
        .unwrap_or_default())
}

/// Where the caller stands with `referral` (or with none, to open one).
async fn party_of(
    state: &AppState,
    user: &CurrentUser,
    referral: Option<&referral::Model>,
) -> Result<ReferralParty> {
    Ok(ReferralParty {
        role: user.role,
        kind: kind_of(state, &user.institution_id).await?,
        is_referrer: referral.is_some_and(|r| r.referrer_id == user.user_id),
        of_target: referral.is_some_and(|r| r.target_institution == user.institution_id),
        is_referent: referral
            .is_some_and(|r| r.referent_id.as_deref() == Some(user.user_id.as_str())),
    })
}

/// A client id is short and plain: letters, digits, `-` and `_`.
fn valid_client_id(id: &str) -> bool {
    (1..=MAX_CLIENT_ID_CHARS).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A professional (member or coordinator, active) of `institution_id`, if `id` is one.
async fn professional_of(
    state: &AppState,
    id: &str,
    institution_id: &str,
) -> Result<Option<user::Model>> {
    Ok(db::accounts::find_user(&state.db, id)
        .await?
        .filter(|account| {
            account.institution_id == institution_id
                && !account.disabled
                && Role::parse(&account.role).is_some_and(policy::may_use_referrals)
        }))
}

/// Checks a sealed note: not longer than a short note once sealed, for a channel the
/// caller and `reader` both belong to and the charter gate lets the caller write, from a
/// live device of the caller, under an epoch the channel has, with a valid signature. The
/// content stays unread.
async fn check_note(
    state: &AppState,
    user: &CurrentUser,
    note: &Envelope,
    reader: &str,
    action: &'static str,
) -> Result<String> {
    if note.ciphertext.len() > MAX_NOTE_CIPHERTEXT {
        return Err(refuse(
            state,
            user,
            action,
            None,
            "note_too_long",
            ApiError::Unprocessable("referral_note_too_long"),
        )
        .await);
    }
    let invalid = || async {
        refuse(
            state,
            user,
            action,
            Some(&note.channel_id),
            "invalid_note",
            ApiError::Unprocessable("invalid_referral_note"),
        )
        .await
    };
    let channel = db::channels::find(&state.db, &note.channel_id).await?;
    let writer_member = db::members::find(&state.db, &note.channel_id, &user.user_id)
        .await?
        .is_some();
    let reader_member = db::members::find(&state.db, &note.channel_id, reader)
        .await?
        .is_some();
    let Some(channel) = channel.filter(|c| {
        writer_member
            && reader_member
            && c.status == "active"
            && (c.kind == ChannelKind::Direct.as_str()
                || c.kind == ChannelKind::WorkingGroup.as_str())
    }) else {
        return Err(invalid().await);
    };
    gate::require(state, user, &channel, Access::Write, action).await?;
    if sealed::sealed_by(&state.db, &user.user_id, &channel, note).await? {
        serde_json::to_string(note).map_err(ApiError::internal)
    } else {
        Err(invalid().await)
    }
}

/// # Opening
///
/// A referrer refers a person to another institution. The referral and its count in the
/// annual report are written together; a replayed client id is refused and writes nothing.
pub async fn open(state: &AppState, user: &CurrentUser, request: OpenReferral) -> Result<Referral> {
    const ACTION: &str = "referral_open";
    let party = party_of(state, user, None).await?;
    let acte = matches!(request.scheme, Some(LocalScheme::Acte { .. }));
    let step = if acte {
        ReferralStep::OpenActe
    } else {
        ReferralStep::Open
    };
    if !policy::referral_allows(&party, step) {
        return Err(refuse(
            state,
            user,
            ACTION,
            None,
            "not_a_referrer",
            ApiError::Forbidden,
        )
        .await);
    }
    let bad = |reason: &'static str| async move {
        refuse(
            state,
            user,
            ACTION,
            None,
            reason,
            ApiError::Unprocessable(reason),
        )
        .await
    };
    if !valid_client_id(&request.client_id) {
        return Err(bad("invalid_client_id").await);
    }
    if db::accounts::find_institution(&state.db, &request.target_institution)
        .await?
        .is_none()
    {
        return Err(bad("unknown_institution").await);
    }
    if request.target_institution == user.institution_id {
        return Err(bad("referral_to_own_institution").await);
    }
    let now = state.now_ms();
    if request.programme == Programme::YouthExposedToDelinquency && request.destroy_limit.is_none()
    {
        return Err(bad("destroy_limit_required").await);
    }
    if request
        .destroy_limit
        .is_some_and(|limit| limit <= now || limit > years_after(now, MAX_YEARS_TO_LIMIT))
    {
        return Err(bad("invalid_dates").await);
    }
    if let Some(scheme) = &request.scheme {
        if let Err(code) = cases::check_scheme(state, request.programme, scheme).await? {
            return Err(bad(code).await);
        }
    }
    if let Some(LocalScheme::Acte {
        school_institution,
        host_institution,
        ..
    }) = &request.scheme
    {
        // The pupil goes to the host structure; a school refers only its own pupils.
        if *host_institution != request.target_institution {
            return Err(bad("acte_host_is_target").await);
        }
        if party.kind == InstitutionKind::EducationNationale
            && *school_institution != user.institution_id
        {
            return Err(bad("acte_school_is_referrer").await);
        }
    }
    if let Some(referent) = &request.proposed_referent {
        if professional_of(state, referent, &request.target_institution)
            .await?
            .is_none()
        {
            return Err(bad("referral_invalid_referent").await);
        }
    }
    let note = match (&request.note, &request.proposed_referent) {
        (None, _) => None,
        (Some(note), Some(referent)) => {
            Some(check_note(state, user, note, referent, ACTION).await?)
        }
        (Some(_), None) => return Err(bad("referral_note_needs_referent").await),
    };
    let replayed = || async {
        refuse(
            state,
            user,
            ACTION,
            None,
            "replayed",
            ApiError::Conflict("referral_replayed"),
        )
        .await
    };
    if db::referrals::client_id_used(&state.db, &request.client_id).await? {
        return Err(replayed().await);
    }
    let (consent_outcome, consent_reason) = match &request.consent {
        ReferralConsent::Consented { .. } => ("consented", None),
        ReferralConsent::InformedWithoutConsent { reason, .. } => {
            ("informed_without_consent", Some(reason.as_str().to_owned()))
        }
    };
    let model = referral::Model {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: request.client_id.clone(),
        referrer_id: user.user_id.clone(),
        target_institution: request.target_institution.to_string(),
        reason: request.reason.as_str().to_owned(),
        consent_outcome: consent_outcome.to_owned(),
        consent_method: request.consent.method().as_str().to_owned(),
        consent_reason,
        programme: request.programme.as_str().to_owned(),
        destroy_limit: request.destroy_limit,
        proposed_referent: request.proposed_referent.clone().map(Into::into),
        note,
        status: ReferralStatus::Proposed.as_str().to_owned(),
        opened_at: now,
        decided_by: None,
        decided_at: None,
        decline_reason: None,
        decline_note: None,
        case_id: None,
        referent_id: None,
        followed_at: None,
        closed_at: None,
        scheme: request
            .scheme
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(ApiError::internal)?,
    };
    let txn = db::begin_write(&state.db).await?;
    if let Err(err) = db::referrals::insert(&txn, model.clone()).await {
        drop(txn);
        // The same client id sent twice at once: the unique index let one through.
        if db::referrals::client_id_used(&state.db, &request.client_id).await? {
            return Err(replayed().await);
        }
        return Err(err.into());
    }
    reports::count_in(&txn, now, Counted::ReferralOpened(request.reason)).await?;
    txn.commit().await?;
    state
        .record(
            user.actor(),
            "referral_opened",
            None,
            Outcome::Success,
            json!({
                "referral": model.id,
                "reason": model.reason,
                "target_institution": model.target_institution,
                "consent": model.consent_outcome,
                "scheme": request.scheme.as_ref().map(LocalScheme::as_str),
            }),
        )
        .await?;
    one_view(state, model).await
}

/// # Listing
///
/// The referrals the caller may see, newest first: those they opened, those addressed to
/// their institution, and for the coordinator every one.
pub async fn list(state: &AppState, user: &CurrentUser) -> Result<ReferralList> {
    if !policy::may_use_referrals(user.role) {
        return Err(refuse(
            state,
            user,
            "referral_list",
            None,
            "role",
            ApiError::Forbidden,
        )
        .await);
    }
    let rows = db::referrals::visible(
        &state.db,
        &user.user_id,
        &user.institution_id,
        user.role == Role::Coordinator,
    )
    .await?;
    let party = party_of(state, user, None).await?;
    let may_refer = policy::referral_allows(&party, ReferralStep::Open);
    Ok(ReferralList {
        only_acte: !may_refer && policy::referral_allows(&party, ReferralStep::OpenActe),
        may_refer: may_refer || policy::referral_allows(&party, ReferralStep::OpenActe),
        referrals: views(state, rows).await?,
    })
}

/// The referral `id` if the caller may take `step` on it. Someone who may not even read it
/// is told it does not exist; a reader who may not take the step is refused.
async fn referral_for(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
    action: &'static str,
    step: ReferralStep,
) -> Result<referral::Model> {
    let found = db::referrals::find(&state.db, id).await?;
    let party = party_of(state, user, found.as_ref()).await?;
    let Some(found) = found.filter(|_| policy::referral_allows(&party, ReferralStep::Read)) else {
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
    if !policy::referral_allows(&party, step) {
        return Err(refuse(
            state,
            user,
            action,
            Some(id),
            "not_allowed",
            ApiError::Forbidden,
        )
        .await);
    }
    Ok(found)
}

/// # Reading one
pub async fn get(state: &AppState, user: &CurrentUser, id: &str) -> Result<Referral> {
    let found = referral_for(state, user, id, "referral_read", ReferralStep::Read).await?;
    one_view(state, found).await
}

/// The refusal of a step the referral's status no longer allows (a replay, or a colleague
/// faster): 409, nothing changed.
async fn status_conflict(
    state: &AppState,
    user: &CurrentUser,
    action: &'static str,
    id: &str,
) -> ApiError {
    refuse(
        state,
        user,
        action,
        Some(id),
        "status_conflict",
        ApiError::Conflict("referral_status_conflict"),
    )
    .await
}

/// The local scheme a referral carries, as stored by [`open`].
fn scheme_of(found: &referral::Model) -> Result<Option<LocalScheme>> {
    found
        .scheme
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|_| ApiError::internal(anyhow::anyhow!("referral {} has a bad scheme", found.id)))
}

fn status_of(found: &referral::Model) -> Result<ReferralStatus> {
    ReferralStatus::parse(&found.status).ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!("referral {} has a bad status", found.id))
    })
}

/// # Accepting
///
/// A professional of the target institution (or the coordinator) accepts: a case opens
/// under a random reference with the referent, the referrer and the CLSPD's coordinators
/// as members, under the shared social secret (CASF L121-6-2) when the target's type and
/// every member allow it, else under the CLSPD's confidentiality (L132-5); how the person
/// was informed (C13) is recorded on the case from the referral.
pub async fn accept(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
    request: AcceptReferral,
) -> Result<Referral> {
    const ACTION: &str = "referral_accept";
    let found = referral_for(state, user, id, ACTION, ReferralStep::Decide).await?;
    if !status_of(&found)?.may_become(ReferralStatus::Accepted) {
        return Err(status_conflict(state, user, ACTION, id).await);
    }
    let referent_id = request
        .referent_user_id
        .clone()
        .or_else(|| found.proposed_referent.clone().map(Into::into))
        .unwrap_or_else(|| user.user_id.clone().into());
    let Some(referent) = professional_of(state, &referent_id, &found.target_institution).await?
    else {
        return Err(refuse(
            state,
            user,
            ACTION,
            Some(id),
            "invalid_referent",
            ApiError::Unprocessable("referral_invalid_referent"),
        )
        .await);
    };
    let referrer = db::accounts::find_user(&state.db, &found.referrer_id)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("referral {id} lost its referrer")))?;
    let coordinators: Vec<user::Model> = db::accounts::list_users(&state.db)
        .await?
        .into_iter()
        .filter(|account| account.role == Role::Coordinator.as_str() && !account.disabled)
        .collect();
    let acceptor = db::accounts::find_user(&state.db, &user.user_id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    let target_kind = kind_of(state, &found.target_institution).await?;
    let mut people: Vec<&user::Model> = vec![&acceptor, &referent, &referrer];
    people.extend(coordinators.iter());
    let regime = if target_kind.admits_social_action()
        && people.iter().all(|p| p.social_action_professional)
    {
        LegalRegime::SharedSecretSocial
    } else {
        LegalRegime::ClspdConfidential
    };
    let now = state.now_ms();
    if !db::referrals::advance(
        &state.db,
        id,
        ReferralStatus::Proposed.as_str(),
        ReferralStatus::Accepted.as_str(),
        vec![
            (referral::Column::DecidedBy, user.user_id.clone().into()),
            (referral::Column::DecidedAt, now.into()),
            (referral::Column::ReferentId, referent.id.clone().into()),
        ],
    )
    .await?
    {
        return Err(status_conflict(state, user, ACTION, id).await);
    }
    let scheme = scheme_of(&found)?;
    let scheme_columns = SchemeColumns::of(scheme.as_ref());
    let months = i32::try_from(state.config.retention.case_review_months).unwrap_or(6);
    let record = case_file::Model {
        channel_id: String::new(),
        programme: found.programme.clone(),
        reporting_institution: referrer.institution_id.clone(),
        follow_up_status: FollowUpStatus::Assessment.as_str().to_owned(),
        referent_user_id: Some(referent.id.clone()),
        destroy_limit: found.destroy_limit,
        info_outcome: Some("informed".to_owned()),
        info_at: Some(found.opened_at),
        info_method: Some(found.consent_method.clone()),
        info_party: Some("person".to_owned()),
        info_by: Some(referrer.id.clone()),
        not_informed_reason: None,
        not_informed_note: None,
        note_sealed_by: None,
        info_recorded_by: Some(referrer.id.clone()),
        info_recorded_at: Some(found.opened_at),
        created_at: now,
        updated_at: now,
        next_review_at: Some(months_after(now, months)),
        closing_proposed_at: None,
        scheme: scheme_columns.scheme,
        scheme_school: scheme_columns.school,
        scheme_host: scheme_columns.host,
        scheme_from: scheme_columns.from,
        scheme_until: scheme_columns.until,
    };
    let institutions: BTreeSet<String> = people.iter().map(|p| p.institution_id.clone()).collect();
    let spec = NewChannel {
        kind: ChannelKind::Case,
        name: String::new(),
        regime,
        institutions: institutions.into_iter().collect(),
        members: people.iter().map(|p| p.id.clone()).collect(),
        group_id: request.group_id,
        starts_at: None,
        ends_at: None,
        destroy_by: found.destroy_limit,
    };
    let channel = match create_decided(state, user, spec, Some(record)).await {
        Ok(channel) => channel,
        Err(err) => {
            // The case could not open: the referral is proposed again, as it was.
            db::referrals::advance(
                &state.db,
                id,
                ReferralStatus::Accepted.as_str(),
                ReferralStatus::Proposed.as_str(),
                vec![
                    (referral::Column::DecidedBy, Option::<String>::None.into()),
                    (referral::Column::DecidedAt, Option::<i64>::None.into()),
                    (referral::Column::ReferentId, Option::<String>::None.into()),
                ],
            )
            .await?;
            return Err(err);
        }
    };
    let txn = db::begin_write(&state.db).await?;
    db::referrals::set_case(&txn, id, &channel.id).await?;
    reports::count_in(
        &txn,
        now,
        Counted::ReferralReached(ReferralStatus::Accepted),
    )
    .await?;
    if let Some(scheme) = &scheme {
        reports::count_in(&txn, now, Counted::scheme_case_opened(scheme)).await?;
    }
    txn.commit().await?;
    state
        .record(
            user.actor(),
            "case_opened",
            Some(channel.id.to_string()),
            Outcome::Success,
            json!({
                "reference": channel.name,
                "programme": found.programme,
                "reporting_institution": referrer.institution_id,
                "referral": id,
                "scheme": scheme.as_ref().map(LocalScheme::as_str),
            }),
        )
        .await?;
    state
        .record(
            user.actor(),
            "referral_accepted",
            Some(channel.id.to_string()),
            Outcome::Success,
            json!({ "referral": id, "regime": regime.as_str() }),
        )
        .await?;
    reread(state, id).await
}

/// # Declining
///
/// A professional of the target institution (or the coordinator) declines, with a reason
/// from the closed list and an optional note sealed for a channel shared with the referrer.
pub async fn decline(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
    request: DeclineReferral,
) -> Result<Referral> {
    const ACTION: &str = "referral_decline";
    let found = referral_for(state, user, id, ACTION, ReferralStep::Decide).await?;
    if !status_of(&found)?.may_become(ReferralStatus::Declined) {
        return Err(status_conflict(state, user, ACTION, id).await);
    }
    let note = match &request.note {
        Some(note) => Some(check_note(state, user, note, &found.referrer_id, ACTION).await?),
        None => None,
    };
    let now = state.now_ms();
    let txn = db::begin_write(&state.db).await?;
    let changed = db::referrals::advance(
        &txn,
        id,
        ReferralStatus::Proposed.as_str(),
        ReferralStatus::Declined.as_str(),
        vec![
            (referral::Column::DecidedBy, user.user_id.clone().into()),
            (referral::Column::DecidedAt, now.into()),
            (
                referral::Column::DeclineReason,
                request.reason.as_str().into(),
            ),
            (referral::Column::DeclineNote, note.into()),
        ],
    )
    .await?;
    if !changed {
        drop(txn);
        return Err(status_conflict(state, user, ACTION, id).await);
    }
    reports::count_in(
        &txn,
        now,
        Counted::ReferralReached(ReferralStatus::Declined),
    )
    .await?;
    txn.commit().await?;
    state
        .record(
            user.actor(),
            "referral_declined",
            None,
            Outcome::Success,
            json!({ "referral": id, "reason": request.reason.as_str() }),
        )
        .await?;
    reread(state, id).await
}

/// # Following, closing
///
/// The referent (or the coordinator) records that the follow-up started, then closes the
/// referral. The case itself is archived by the coordinator, as any case (C11).
pub async fn advance(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
    request: AdvanceReferral,
) -> Result<Referral> {
    const ACTION: &str = "referral_advance";
    let found = referral_for(state, user, id, ACTION, ReferralStep::Advance).await?;
    let current = status_of(&found)?;
    let (column, action) = match request.status {
        ReferralStatus::Followed => (referral::Column::FollowedAt, "referral_followed"),
        ReferralStatus::Closed => (referral::Column::ClosedAt, "referral_closed"),
        _ => {
            return Err(refuse(
                state,
                user,
                ACTION,
                Some(id),
                "invalid_status",
                ApiError::Unprocessable("referral_invalid_status"),
            )
            .await)
        }
    };
    if !current.may_become(request.status) {
        return Err(status_conflict(state, user, ACTION, id).await);
    }
    let now = state.now_ms();
    let txn = db::begin_write(&state.db).await?;
    let changed = db::referrals::advance(
        &txn,
        id,
        current.as_str(),
        request.status.as_str(),
        vec![(column, now.into())],
    )
    .await?;
    if !changed {
        drop(txn);
        return Err(status_conflict(state, user, ACTION, id).await);
    }
    reports::count_in(&txn, now, Counted::ReferralReached(request.status)).await?;
    txn.commit().await?;
    state
        .record(
            user.actor(),
            action,
            found.case_id.clone(),
            Outcome::Success,
            json!({ "referral": id }),
        )
        .await?;
    reread(state, id).await
}

async fn reread(state: &AppState, id: &str) -> Result<Referral> {
    let found = db::referrals::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    one_view(state, found).await
}

async fn one_view(state: &AppState, row: referral::Model) -> Result<Referral> {
    views(state, vec![row])
        .await?
        .pop()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("referral vanished")))
}

/// The referrals as clients see them, with the names of people, institutions and cases.
async fn views(state: &AppState, rows: Vec<referral::Model>) -> Result<Vec<Referral>> {
    let people: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            [
                Some(&r.referrer_id),
                r.proposed_referent.as_ref(),
                r.decided_by.as_ref(),
                r.referent_id.as_ref(),
            ]
            .into_iter()
            .flatten()
            .cloned()
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let names = db::accounts::display_names(&state.db, &people).await?;
    let institutions: HashMap<String, String> = db::accounts::list_institutions(&state.db)
        .await?
        .into_iter()
        .map(|i| (i.id, i.name))
        .collect();
    let case_ids: Vec<String> = rows.iter().filter_map(|r| r.case_id.clone()).collect();
    let references: HashMap<String, String> = db::channels::find_many(&state.db, &case_ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let name_of = |id: &str| names.get(id).cloned().unwrap_or_default();
    rows.into_iter()
        .map(|row| {
            let malformed =
                || ApiError::internal(anyhow::anyhow!("referral {} is malformed", row.id));
            let envelope = |text: &Option<String>| -> Result<Option<Envelope>> {
                match text {
                    Some(text) => serde_json::from_str(text)
                        .map(Some)
                        .map_err(|_| malformed()),
                    None => Ok(None),
                }
            };
            let method = passerelle_shared::protocol::v1::cases::InformationMethod::parse(
                &row.consent_method,
            )
            .ok_or_else(malformed)?;
            let consent = match row.consent_outcome.as_str() {
                "consented" => ReferralConsent::Consented { method },
                "informed_without_consent" => ReferralConsent::InformedWithoutConsent {
                    method,
                    reason: row
                        .consent_reason
                        .as_deref()
                        .and_then(WithoutConsentReason::parse)
                        .ok_or_else(malformed)?,
                },
                _ => return Err(malformed()),
            };
            Ok(Referral {
                referrer_name: name_of(&row.referrer_id),
                target_institution_name: institutions
                    .get(&row.target_institution)
                    .cloned()
                    .unwrap_or_default(),
                reason: ReferralReason::parse(&row.reason).ok_or_else(malformed)?,
                consent,
                programme: Programme::parse(&row.programme).ok_or_else(malformed)?,
                scheme: scheme_of(&row)?,
                proposed_referent_name: row.proposed_referent.as_deref().map(name_of),
                note: envelope(&row.note)?,
                status: ReferralStatus::parse(&row.status).ok_or_else(malformed)?,
                decided_by_name: row.decided_by.as_deref().map(name_of),
                decline_reason: match &row.decline_reason {
                    Some(reason) => Some(DeclineReason::parse(reason).ok_or_else(malformed)?),
                    None => None,
                },
                decline_note: envelope(&row.decline_note)?,
                case_reference: row
                    .case_id
                    .as_ref()
                    .and_then(|id| references.get(id).cloned()),
                referent_name: row.referent_id.as_deref().map(name_of),
                id: row.id,
                referrer: row.referrer_id.into(),
                target_institution: row.target_institution.into(),
                proposed_referent: row.proposed_referent.map(Into::into),
                opened_at: row.opened_at,
                decided_by: row.decided_by.map(Into::into),
                decided_at: row.decided_at,
                case_id: row.case_id.map(Into::into),
                referent: row.referent_id.map(Into::into),
                followed_at: row.followed_at,
                closed_at: row.closed_at,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_id_is_short_and_plain() {
        assert!(valid_client_id("3f2a-9c_01"));
        assert!(!valid_client_id(""));
        assert!(!valid_client_id("avec espace"));
        assert!(!valid_client_id(&"a".repeat(MAX_CLIENT_ID_CHARS + 1)));
    }
}
