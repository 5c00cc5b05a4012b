//! The auditor API (CHARTER.md C12, docs/ARCHITECTURE.md): filter, page through, export and verify
//! the access log, and fetch the key its checkpoints are signed with.
//!
//! Only the auditor role may call it — the admin included is refused, and the refusal is
//! recorded. Every call is itself recorded, *before* any data is sent, so that no reading
//! of the log can happen without leaving a trace in it.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use passerelle_shared::protocol::v1::routes;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

use passerelle_shared::protocol::v1::audit::{
    AuditActorDto, AuditDailyCounts, AuditDay, AuditEventDto, AuditEventPage, ChainBreakDto,
    CheckpointList, ConsistencyProofDto, HeadDto, InclusionProofDto, PublicKeyDto, SignedPointDto,
    VerifyResult,
};

use crate::audit::{
    self, Anchor, Checkpoint, EventFilter, ExportFormat, Outcome, StoredEvent, VerifyReport,
};
use crate::auth::CurrentUser;
use crate::db;
use crate::error::{ApiError, Result};
use crate::http::routing::Endpoints;
use crate::policy::Capability;
use crate::state::AppState;

/// The routes of this resource, relative to `/api/v1`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .endpoint(routes::AUDIT_EVENTS, list_events)
        .endpoint(routes::AUDIT_DAILY, daily_counts)
        .endpoint(routes::AUDIT_EXPORT, export)
        .endpoint(routes::AUDIT_VERIFY, verify)
        .endpoint(routes::AUDIT_PUBLIC_KEY, public_key)
        .endpoint(routes::AUDIT_CHECKPOINTS, checkpoints)
        .endpoint(routes::AUDIT_HEAD, head)
        .endpoint(routes::AUDIT_INCLUSION_PROOF, inclusion_proof)
        .endpoint(routes::AUDIT_CONSISTENCY_PROOF, consistency_proof)
}

/// Default page size of `GET /audit/events`.
const DEFAULT_LIMIT: u64 = 100;

/// Query parameters of the auditor API. Every one is optional; empty values count as
/// absent (HTML forms send them).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditParams {
    /// The acting person: account id or login.
    user: Option<String>,
    /// The acting person's institution: its id or its name.
    institution: Option<String>,
    /// Channel id, case reference (which also finds its channel's events), account or
    /// institution id.
    target: Option<String>,
    /// Action name, e.g. `history_read`.
    action: Option<String>,
    /// `success`, `failure` or `denied`.
    outcome: Option<String>,
    /// From (included): RFC 3339, a date `YYYY-MM-DD` (its midnight UTC) or unix ms.
    from: Option<String>,
    /// To (excluded): RFC 3339, a date `YYYY-MM-DD` (that whole day included) or unix ms.
    to: Option<String>,
    /// Keyset cursor: the `next_after_seq` of the previous page.
    after_seq: Option<String>,
    /// `desc` for the newest first (then `before_seq` pages back); `asc` by default.
    order: Option<String>,
    /// With `order=desc`: the `next_before_seq` of the previous page.
    before_seq: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    limit: Option<String>,
    /// Export format: `csv` or `json` (default `json`).
    format: Option<String>,
}

impl From<StoredEvent> for AuditEventDto {
    fn from(event: StoredEvent) -> Self {
        AuditEventDto {
            time: event.time_rfc3339(),
            details: event.details_json(),
            seq: event.seq,
            time_ms: event.time_ms,
            actor: AuditActorDto {
                user_id: event.user_id.map(Into::into),
                login: event.login,
                institution_id: event.institution_id.map(Into::into),
                session_id: event.session_id,
                ip: event.ip,
            },
            action: event.action,
            target: event.target,
            outcome: event.outcome,
            prev_hash: event.prev_hash,
            hash: event.hash,
        }
    }
}

/// The most days [`daily_counts`] answers with.
const MAX_DAYS: u64 = 366;

impl From<Checkpoint> for SignedPointDto {
    fn from(cp: Checkpoint) -> Self {
        SignedPointDto {
            time: audit::format_time(cp.time_ms),
            seq: cp.seq,
            hash: cp.hash,
            time_ms: cp.time_ms,
            key_id: cp.key_id,
            signature: cp.signature,
        }
    }
}

impl From<Anchor> for SignedPointDto {
    fn from(anchor: Anchor) -> Self {
        SignedPointDto {
            time: audit::format_time(anchor.time_ms),
            seq: anchor.seq,
            hash: anchor.hash,
            time_ms: anchor.time_ms,
            key_id: anchor.key_id,
            signature: anchor.signature,
        }
    }
}

impl From<VerifyReport> for VerifyResult {
    fn from(report: VerifyReport) -> Self {
        VerifyResult {
            intact: report.intact,
            events_checked: report.events_checked,
            checkpoints_checked: report.checkpoints_checked,
            first_seq: report.first_seq,
            last_seq: report.last_seq,
            anchor: report.anchor.map(SignedPointDto::from),
            last_checkpoint: report.last_checkpoint.map(SignedPointDto::from),
            public_key: report.public_key,
            key_id: report.key_id,
            first_break: report.first_break.map(|broken| ChainBreakDto {
                seq: broken.seq,
                kind: broken.kind.as_str().to_owned(),
                detail: broken.detail,
            }),
        }
    }
}

/// Allows auditors only; anyone else is refused and the refusal recorded under `action`.
async fn require_auditor(state: &AppState, user: &CurrentUser, action: &'static str) -> Result<()> {
    user.require(state, Capability::ReadAuditLog, action).await
}

/// Parses the parameters; a malformed request is recorded as a failed `action` (the
/// auditor's attempt is part of the log too) and answered 400.
async fn params(
    state: &AppState,
    user: &CurrentUser,
    uri: &Uri,
    action: &'static str,
) -> Result<AuditParams> {
    let parsed = axum::extract::Query::<AuditParams>::try_from_uri(uri)
        .map(|query| query.0)
        .map_err(|_| ApiError::BadRequest("paramètres de requête".into()));
    if let Err(err) = &parsed {
        state
            .record(
                user.actor(),
                action,
                None,
                Outcome::Failure,
                json!({ "reason": err.code() }),
            )
            .await?;
    }
    parsed
}

/// Turns a parse result into the request's value, recording a refusal as above.
async fn checked<T>(
    state: &AppState,
    user: &CurrentUser,
    action: &'static str,
    value: std::result::Result<T, ApiError>,
) -> Result<T> {
    if let Err(err) = &value {
        state
            .record(
                user.actor(),
                action,
                None,
                Outcome::Failure,
                json!({ "reason": err.code() }),
            )
            .await?;
    }
    value
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// A time bound: unix ms, RFC 3339, or a date (`YYYY-MM-DD`, midnight UTC; for an upper
/// bound the next midnight, so that the day named is included).
fn parse_time(text: &str, upper: bool) -> Option<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    if let Ok(t) = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
    {
        return i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok();
    }
    let date = time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    let date = if upper { date.next_day()? } else { date };
    Some(date.midnight().assume_utc().unix_timestamp() * 1000)
}

fn filter_of(params: &AuditParams) -> std::result::Result<EventFilter, ApiError> {
    let bad = |field: &str| ApiError::BadRequest(format!("paramètre « {field} »"));
    let text = |value: &Option<String>, field: &str| match non_empty(value) {
        // Ids, logins and action names are short; anything longer cannot match.
        Some(v) if v.len() > 256 => Err(bad(field)),
        other => Ok(other.map(str::to_owned)),
    };
    Ok(EventFilter {
        user: text(&params.user, "user")?,
        institution: text(&params.institution, "institution")?,
        target: text(&params.target, "target")?,
        target_alias: None,
        action: text(&params.action, "action")?,
        outcome: non_empty(&params.outcome)
            .map(|v| v.parse::<Outcome>().map_err(|_| bad("outcome")))
            .transpose()?,
        from_ms: non_empty(&params.from)
            .map(|v| parse_time(v, false).ok_or_else(|| bad("from")))
            .transpose()?,
        to_ms: non_empty(&params.to)
            .map(|v| parse_time(v, true).ok_or_else(|| bad("to")))
            .transpose()?,
    })
}

/// Where a page starts: newest first from `before_seq` (or the newest), or in sequence
/// order after `after_seq`.
enum Cursor {
    After(u64),
    Before(Option<u64>),
}

fn order_of(params: &AuditParams, after: u64) -> std::result::Result<Cursor, ApiError> {
    let before = non_empty(&params.before_seq)
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| ApiError::BadRequest("paramètre « before_seq »".into()))
        })
        .transpose()?;
    match non_empty(&params.order) {
        None | Some("asc") if before.is_none() => Ok(Cursor::After(after)),
        Some("desc") if after == 0 => Ok(Cursor::Before(before)),
        _ => Err(ApiError::BadRequest(
            "paramètres « order » (asc ou desc), « after_seq » et « before_seq »".into(),
        )),
    }
}

fn cursor_of(params: &AuditParams) -> std::result::Result<(u64, u64), ApiError> {
    let after = non_empty(&params.after_seq)
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| ApiError::BadRequest("paramètre « after_seq »".into()))
        })
        .transpose()?
        .unwrap_or(0);
    let limit = non_empty(&params.limit)
        .map(|v| {
            v.parse::<u64>()
                .ok()
                .filter(|n| (1..=audit::MAX_PAGE).contains(n))
                .ok_or_else(|| ApiError::BadRequest("paramètre « limit » (1 à 1000)".into()))
        })
        .transpose()?
        .unwrap_or(DEFAULT_LIMIT);
    Ok((after, limit))
}

/// The filter in the log's own terms: an institution given by its name becomes its id,
/// and a case reference also matches the events of its channel (which name its id).
async fn resolved(state: &AppState, mut filter: EventFilter) -> Result<EventFilter> {
    if let Some(institution) = &filter.institution {
        if db::accounts::find_institution(&state.db, institution)
            .await?
            .is_none()
        {
            if let Some(named) =
                db::accounts::find_institution_by_name(&state.db, institution).await?
            {
                filter.institution = Some(named.id);
            }
        }
    }
    if let Some(target) = &filter.target {
        if let Some(case) = db::channels::find_case_by_reference(&state.db, target).await? {
            filter.target_alias = Some(case.id);
        }
    }
    Ok(filter)
}

/// What the ids of these events stand for: account, institution and channel names.
async fn names_of(state: &AppState, events: &[StoredEvent]) -> Result<BTreeMap<String, String>> {
    let mut ids: Vec<String> = events
        .iter()
        .flat_map(|e| {
            [
                e.user_id.clone(),
                e.institution_id.clone(),
                e.target.clone(),
            ]
        })
        .flatten()
        .collect();
    ids.sort();
    ids.dedup();
    let mut names = BTreeMap::new();
    if ids.is_empty() {
        return Ok(names);
    }
    for institution in db::accounts::list_institutions(&state.db).await? {
        if ids.binary_search(&institution.id).is_ok() {
            names.insert(institution.id, institution.name);
        }
    }
    for account in db::accounts::accounts_many(&state.db, &ids).await? {
        names.insert(account.id, account.display_name);
    }
    for channel in db::channels::find_many(&state.db, &ids).await? {
        let name = if channel.kind == "direct" {
            "Conversation directe".to_owned()
        } else {
            channel.name
        };
        names.insert(channel.id, name);
    }
    Ok(names)
}

/// What the auditor asked for, as recorded in the access log.
fn filter_details(filter: &EventFilter) -> Value {
    json!({
        "user": filter.user,
        "institution": filter.institution,
        "target": filter.target,
        "target_alias": filter.target_alias,
        "action": filter.action,
        "outcome": filter.outcome.map(Outcome::as_str),
        "from_ms": filter.from_ms,
        "to_ms": filter.to_ms,
    })
}

/// # `GET /api/v1/audit/events`
///
/// Events matching the filters, in sequence order, one page at a time (keyset cursor
/// `after_seq`). Recorded as `audit_query`.
#[utoipa::path(get, path = routes::AUDIT_EVENTS.documented(), params(AuditParams),
    responses((status = 200, body = AuditEventPage), (status = 400), (status = 401), (status = 403)))]
pub(crate) async fn list_events(
    State(state): State<AppState>,
    user: CurrentUser,
    uri: Uri,
) -> Result<Json<AuditEventPage>> {
    const ACTION: &str = "audit_query";
    require_auditor(&state, &user, ACTION).await?;
    let params = params(&state, &user, &uri, ACTION).await?;
    let filter = checked(&state, &user, ACTION, filter_of(&params)).await?;
    let filter = resolved(&state, filter).await?;
    let (after_seq, limit) = checked(&state, &user, ACTION, cursor_of(&params)).await?;
    let cursor = checked(&state, &user, ACTION, order_of(&params, after_seq)).await?;
    let mut details = filter_details(&filter);
    match cursor {
        Cursor::After(after) => details["after_seq"] = json!(after),
        Cursor::Before(before) => {
            details["order"] = json!("desc");
            details["before_seq"] = json!(before);
        }
    }
    details["limit"] = json!(limit);
    state
        .record(user.actor(), ACTION, None, Outcome::Success, details)
        .await?;
    let page = match cursor {
        Cursor::After(after) => state.audit.query(&filter, after, limit).await,
        Cursor::Before(before) => state.audit.query_newest(&filter, before, limit).await,
    }
    .map_err(ApiError::internal)?;
    let total = state
        .audit
        .count(&filter)
        .await
        .map_err(ApiError::internal)?;
    let names = names_of(&state, &page.events).await?;
    let (next_after_seq, next_before_seq) = match cursor {
        Cursor::After(_) => (page.next_after_seq, None),
        Cursor::Before(_) => (None, page.next_after_seq),
    };
    Ok(Json(AuditEventPage {
        events: page.events.into_iter().map(AuditEventDto::from).collect(),
        next_after_seq,
        next_before_seq,
        total,
        names,
    }))
}

/// # `GET /api/v1/audit/daily`
///
/// How many events match the filters on each UTC day, counted by the database (the
/// chart of the auditor's console). Recorded as `audit_query`, like a search.
#[utoipa::path(get, path = routes::AUDIT_DAILY.documented(), params(AuditParams),
    responses((status = 200, body = AuditDailyCounts), (status = 400), (status = 401), (status = 403)))]
pub(crate) async fn daily_counts(
    State(state): State<AppState>,
    user: CurrentUser,
    uri: Uri,
) -> Result<Json<AuditDailyCounts>> {
    const ACTION: &str = "audit_query";
    require_auditor(&state, &user, ACTION).await?;
    let params = params(&state, &user, &uri, ACTION).await?;
    let filter = checked(&state, &user, ACTION, filter_of(&params)).await?;
    let filter = resolved(&state, filter).await?;
    let mut details = filter_details(&filter);
    details["per_day"] = json!(true);
    state
        .record(user.actor(), ACTION, None, Outcome::Success, details)
        .await?;
    let days = state
        .audit
        .daily_counts(&filter, MAX_DAYS)
        .await
        .map_err(ApiError::internal)?
        .into_iter()
        .map(|(day, count)| AuditDay { day, count })
        .collect();
    Ok(Json(AuditDailyCounts { days }))
}

/// # `GET /api/v1/audit/export`
///
/// Every event matching the filters, streamed as CSV (`format=csv`) or as a JSON array
/// (`format=json`, the default), read from the database one page at a time. Recorded as
/// `audit_export`. In CSV, a cell that a spreadsheet would run as a formula is prefixed
/// with `'`.
#[utoipa::path(get, path = routes::AUDIT_EXPORT.documented(), params(AuditParams),
    responses((status = 200, description = "CSV or JSON attachment"), (status = 400), (status = 401), (status = 403)))]
pub(crate) async fn export(
    State(state): State<AppState>,
    user: CurrentUser,
    uri: Uri,
) -> Result<Response> {
    const ACTION: &str = "audit_export";
    require_auditor(&state, &user, ACTION).await?;
    let params = params(&state, &user, &uri, ACTION).await?;
    let filter = checked(&state, &user, ACTION, filter_of(&params)).await?;
    let filter = resolved(&state, filter).await?;
    let format = match non_empty(&params.format) {
        None | Some("json") => Ok(ExportFormat::Json),
        Some("csv") => Ok(ExportFormat::Csv),
        Some(_) => Err(ApiError::BadRequest(
            "paramètre « format » (csv ou json)".into(),
        )),
    };
    let format = checked(&state, &user, ACTION, format).await?;
    let (content_type, extension) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormat::Json => ("application/json", "json"),
    };
    let mut details = filter_details(&filter);
    details["format"] = json!(extension);
    state
        .record(user.actor(), ACTION, None, Outcome::Success, details)
        .await?;

    let stamp = audit::format_time(state.now_ms()).replace([':', '.'], "-");
    let disposition = format!("attachment; filename=\"passerelle-audit-{stamp}.{extension}\"");
    let body = Body::from_stream(state.audit.export(filter, format));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// # `GET /api/v1/audit/verify`
///
/// Recomputes the whole chain and checks every signature; says where the log first
/// breaks, if it does. Recorded as `audit_verify`, with the verdict.
#[utoipa::path(get, path = routes::AUDIT_VERIFY.documented(),
    responses((status = 200, body = VerifyResult), (status = 401), (status = 403)))]
pub(crate) async fn verify(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<VerifyResult>> {
    const ACTION: &str = "audit_verify";
    require_auditor(&state, &user, ACTION).await?;
    // The head is signed and submitted to the witnesses first, so that what is verified
    // is also what they now hold.
    state
        .audit
        .checkpoint_now()
        .await
        .map_err(ApiError::internal)?;
    let report = state.audit.verify().await.map_err(ApiError::internal)?;
    if let Some(broken) = &report.first_break {
        tracing::error!(problem = %broken, "the access log failed verification");
    }
    let details = json!({
        "intact": report.intact,
        "first_broken_seq": report.first_break.as_ref().map(|b| b.seq),
        "kind": report.first_break.as_ref().map(|b| b.kind.as_str()),
    });
    state
        .record(user.actor(), ACTION, None, Outcome::Success, details)
        .await?;
    Ok(Json(report.into()))
}

/// # `GET /api/v1/audit/public-key`
///
/// The key checkpoints and anchors are signed with, for auditors to pin and compare
/// with the one they received out of band. Recorded as `audit_public_key_read`.
#[utoipa::path(get, path = routes::AUDIT_PUBLIC_KEY.documented(),
    responses((status = 200, body = PublicKeyDto), (status = 401), (status = 403)))]
pub(crate) async fn public_key(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<PublicKeyDto>> {
    const ACTION: &str = "audit_public_key_read";
    require_auditor(&state, &user, ACTION).await?;
    state
        .record(user.actor(), ACTION, None, Outcome::Success, json!({}))
        .await?;
    Ok(Json(PublicKeyDto {
        algorithm: "ECDSA_P256_SHA256_FIXED".to_owned(),
        public_key: state.audit.public_key(),
        key_id: state.audit.key_id().to_owned(),
        trusted_key_ids: state.audit.trusted_keys().ids(),
    }))
}

/// # `GET /api/v1/audit/checkpoints`
///
/// The signed checkpoints after `after_seq` (page of `limit`), and the retention anchor.
/// Recorded as `audit_checkpoints_read`.
#[utoipa::path(get, path = routes::AUDIT_CHECKPOINTS.documented(), params(AuditParams),
    responses((status = 200, body = CheckpointList), (status = 400), (status = 401), (status = 403)))]
pub(crate) async fn checkpoints(
    State(state): State<AppState>,
    user: CurrentUser,
    uri: Uri,
) -> Result<Json<CheckpointList>> {
    const ACTION: &str = "audit_checkpoints_read";
    require_auditor(&state, &user, ACTION).await?;
    let params = params(&state, &user, &uri, ACTION).await?;
    let (after_seq, limit) = checked(&state, &user, ACTION, cursor_of(&params)).await?;
    state
        .record(
            user.actor(),
            ACTION,
            None,
            Outcome::Success,
            json!({ "after_seq": after_seq, "limit": limit }),
        )
        .await?;
    let list = state
        .audit
        .checkpoints(after_seq, limit)
        .await
        .map_err(ApiError::internal)?;
    let full = u64::try_from(list.len()).unwrap_or(u64::MAX) == limit;
    let next_after_seq = if full {
        list.last().map(|cp| cp.seq)
    } else {
        None
    };
    let anchor = state.audit.anchor().await.map_err(ApiError::internal)?;
    Ok(Json(CheckpointList {
        checkpoints: list.into_iter().map(SignedPointDto::from).collect(),
        next_after_seq,
        anchor: anchor.map(SignedPointDto::from),
    }))
}

/// Query of the proof routes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ProofParams {
    /// Inclusion: the event.
    seq: Option<u64>,
    /// Inclusion: the tree size (a checkpoint's); default the latest checkpoint's.
    size: Option<u64>,
    /// Consistency: the earlier size.
    old: Option<u64>,
    /// Consistency: the later size; default the latest checkpoint's.
    new: Option<u64>,
}

async fn proof_params(state: &AppState, user: &CurrentUser, uri: &Uri) -> Result<ProofParams> {
    let parsed = axum::extract::Query::<ProofParams>::try_from_uri(uri)
        .map(|query| query.0)
        .map_err(|_| ApiError::BadRequest("paramètres de requête".into()));
    checked(state, user, PROOF_ACTION, parsed).await
}

const PROOF_ACTION: &str = "audit_proof_read";

async fn latest_size(state: &AppState) -> Result<u64> {
    Ok(state
        .audit
        .latest_head()
        .await
        .map_err(ApiError::internal)?
        .map_or(0, |head| head.size))
}

/// # `GET /api/v1/audit/head`
///
/// The latest signed checkpoint and its cosignatures. Recorded as `audit_head_read`.
#[utoipa::path(get, path = routes::AUDIT_HEAD.documented(),
    responses((status = 200, body = HeadDto), (status = 401), (status = 403)))]
pub(crate) async fn head(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<HeadDto>> {
    const ACTION: &str = "audit_head_read";
    require_auditor(&state, &user, ACTION).await?;
    state
        .record(user.actor(), ACTION, None, Outcome::Success, json!({}))
        .await?;
    let head = state
        .audit
        .latest_head()
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(HeadDto {
        origin: state.audit.origin().to_owned(),
        log_key: state.audit.log_verifier_key(),
        size: head.as_ref().map(|h| h.size),
        time: head.as_ref().map(|h| audit::format_time(h.time_ms)),
        witnesses: head
            .as_ref()
            .map(|h| h.witnesses.clone())
            .unwrap_or_default(),
        note: head.map(|h| h.note),
    }))
}

/// # `GET /api/v1/audit/proofs/inclusion`
///
/// Proves that event `seq` is in the tree of `size` events (default: the latest
/// checkpoint's size). Recorded as `audit_proof_read`.
#[utoipa::path(get, path = routes::AUDIT_INCLUSION_PROOF.documented(), params(ProofParams),
    responses((status = 200, body = InclusionProofDto), (status = 400), (status = 401), (status = 403)))]
pub(crate) async fn inclusion_proof(
    State(state): State<AppState>,
    user: CurrentUser,
    uri: Uri,
) -> Result<Json<InclusionProofDto>> {
    require_auditor(&state, &user, PROOF_ACTION).await?;
    let params = proof_params(&state, &user, &uri).await?;
    let size = match params.size {
        Some(size) => size,
        None => latest_size(&state).await?,
    };
    let seq = checked(
        &state,
        &user,
        PROOF_ACTION,
        params
            .seq
            .ok_or_else(|| ApiError::BadRequest("paramètre « seq »".into())),
    )
    .await?;
    let proof = state
        .audit
        .inclusion_proof(seq, size)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::BadRequest("« seq » ou « size » hors de l'arbre".into()));
    let proof = checked(&state, &user, PROOF_ACTION, proof).await?;
    state
        .record(
            user.actor(),
            PROOF_ACTION,
            None,
            Outcome::Success,
            json!({ "kind": "inclusion", "seq": seq, "size": size }),
        )
        .await?;
    Ok(Json(InclusionProofDto {
        seq: proof.seq,
        size: proof.size,
        chain_hash: proof.chain_hash,
        root: proof.root,
        proof: proof.proof,
    }))
}

/// # `GET /api/v1/audit/proofs/consistency`
///
/// Proves that the tree of `new` events (default: the latest checkpoint's) extends the
/// tree of `old` events. Recorded as `audit_proof_read`.
#[utoipa::path(get, path = routes::AUDIT_CONSISTENCY_PROOF.documented(), params(ProofParams),
    responses((status = 200, body = ConsistencyProofDto), (status = 400), (status = 401), (status = 403)))]
pub(crate) async fn consistency_proof(
    State(state): State<AppState>,
    user: CurrentUser,
    uri: Uri,
) -> Result<Json<ConsistencyProofDto>> {
    require_auditor(&state, &user, PROOF_ACTION).await?;
    let params = proof_params(&state, &user, &uri).await?;
    let new = match params.new {
        Some(size) => size,
        None => latest_size(&state).await?,
    };
    let old = checked(
        &state,
        &user,
        PROOF_ACTION,
        params
            .old
            .ok_or_else(|| ApiError::BadRequest("paramètre « old »".into())),
    )
    .await?;
    let proof = state
        .audit
        .consistency_proof(old, new)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::BadRequest("« old » ou « new » hors de l'arbre".into()));
    let proof = checked(&state, &user, PROOF_ACTION, proof).await?;
    state
        .record(
            user.actor(),
            PROOF_ACTION,
            None,
            Outcome::Success,
            json!({ "kind": "consistency", "old": old, "new": new }),
        )
        .await?;
    Ok(Json(ConsistencyProofDto {
        old_size: proof.old_size,
        new_size: proof.new_size,
        old_root: proof.old_root,
        new_root: proof.new_root,
        proof: proof.proof,
    }))
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;
    use axum::http::{Request, StatusCode};
    use passerelle_shared::protocol::v1::admin::CreateAccount;
    use passerelle_shared::protocol::v1::{Attributes, Role};
    use tower::ServiceExt;

    use super::*;
    use crate::audit::Actor;
    use crate::auth::session;
    use crate::clock::ManualClock;
    use crate::config::Config;
    use crate::db::entities::session as session_entity;

    struct TestApp {
        _dir: tempfile::TempDir,
        state: AppState,
        router: Router,
        clock: std::sync::Arc<ManualClock>,
    }

    async fn app() -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: dir.path().to_owned(),
            tls: false,
            ..Config::default()
        };
        // These sessions are opened directly, without a key; the policy that requires one
        // for auditors is tested with the WebAuthn suite (tests/tests/it/webauthn.rs).
        config.webauthn.required_roles.clear();
        let clock = ManualClock::starting_now();
        let state = AppState::build(config, clock.clone()).await.unwrap();
        let router = Router::new()
            .nest("/api/v1", router())
            .with_state(state.clone());
        TestApp {
            _dir: dir,
            state,
            router,
            clock,
        }
    }

    impl TestApp {
        /// An account of `role` with an open session; returns (user id, bearer token).
        async fn account(&self, login: &str, role: Role) -> (String, String) {
            let institution = crate::app::accounts::create_institution(
                &self.state,
                Actor::default(),
                &format!("Institution {login}"),
                passerelle_shared::protocol::v1::InstitutionKind::Collectivite,
            )
            .await
            .unwrap();
            let (account, _password) = crate::app::accounts::create_account(
                &self.state,
                Actor::default(),
                CreateAccount {
                    login: login.into(),
                    display_name: "Test".into(),
                    institution_id: institution.id,
                    role,
                    attributes: Attributes::default(),
                },
            )
            .await
            .unwrap();
            let (token, token_hash) =
                session::new_token(|buf| self.state.secrets.random(buf)).unwrap();
            let now = self.state.now_ms();
            crate::db::sessions::insert(
                &self.state.db,
                session_entity::Model {
                    id: uuid::Uuid::new_v4().to_string(),
                    user_id: account.id.to_string(),
                    token_hash,
                    kind: "sdk".into(),
                    created_at: now,
                    last_seen_at: now,
                    expires_at: now + 3_600_000,
                    ip: None,
                    user_agent: None,
                    revoked_at: None,
                    device_id: None,
                },
            )
            .await
            .unwrap();
            (account.id.to_string(), token.to_string())
        }

        async fn get(&self, uri: &str, token: &str) -> (StatusCode, Option<String>, Vec<u8>) {
            let response = self
                .router
                .clone()
                .oneshot(
                    Request::get(uri)
                        .header(header::AUTHORIZATION, format!("Bearer {token}"))
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            let status = response.status();
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap().to_owned());
            let body = to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap()
                .to_vec();
            (status, content_type, body)
        }

        async fn events_of(&self, user_id: &str, action: &str) -> Vec<StoredEvent> {
            let filter = EventFilter {
                user: Some(user_id.into()),
                action: Some(action.into()),
                ..EventFilter::default()
            };
            self.state
                .audit
                .query(&filter, 0, 1000)
                .await
                .unwrap()
                .events
        }
    }

    #[tokio::test]
    async fn the_admin_is_refused_every_audit_route_and_each_refusal_is_recorded() {
        let app = app().await;
        let (admin, token) = app.account("admin.test", Role::Admin).await;
        let (member, member_token) = app.account("member.test", Role::Member).await;
        for (uri, action) in [
            ("/api/v1/audit/events", "audit_query"),
            ("/api/v1/audit/export?format=csv", "audit_export"),
            ("/api/v1/audit/verify", "audit_verify"),
            ("/api/v1/audit/public-key", "audit_public_key_read"),
            ("/api/v1/audit/checkpoints", "audit_checkpoints_read"),
        ] {
            let (status, _, body) = app.get(uri, &token).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
            let body: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["error"]["code"], "forbidden");
            let recorded = app.events_of(&admin, action).await;
            assert_eq!(recorded.len(), 1, "{action}");
            assert_eq!(recorded[0].outcome, "denied");
            assert_eq!(recorded[0].details_json()["role"], "admin");

            let (status, _, _) = app.get(uri, &member_token).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
            assert_eq!(app.events_of(&member, action).await[0].outcome, "denied");
        }
    }

    #[tokio::test]
    async fn without_a_session_the_audit_api_answers_401() {
        let app = app().await;
        let (status, _, _) = app.get("/api/v1/audit/events", "not-a-token").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn an_auditor_filters_pages_and_each_query_is_recorded() {
        let app = app().await;
        let (auditor, token) = app.account("dpo.test", Role::Auditor).await;
        app.account("m1.test", Role::Member).await;
        app.account("m2.test", Role::Member).await;
        let (status, _, body) = app
            .get(
                "/api/v1/audit/events?action=admin_user_created&limit=2",
                &token,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let page: Value = serde_json::from_slice(&body).unwrap();
        let events = page["events"].as_array().unwrap();
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e["action"] == "admin_user_created"));
        assert_eq!(page["total"], 3);
        let next = page["next_after_seq"].as_u64().unwrap();
        let (_, _, body) = app
            .get(
                &format!("/api/v1/audit/events?action=admin_user_created&limit=2&after_seq={next}"),
                &token,
            )
            .await;
        let page: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(page["events"].as_array().unwrap().len(), 1);
        assert!(page["next_after_seq"].is_null());

        let recorded = app.events_of(&auditor, "audit_query").await;
        assert_eq!(recorded.len(), 2);
        assert_eq!(recorded[0].outcome, "success");
        assert_eq!(recorded[0].details_json()["action"], "admin_user_created");
        assert_eq!(recorded[1].details_json()["after_seq"], next);
    }

    #[tokio::test]
    async fn an_auditor_reads_the_events_per_day_counted_over_the_whole_log() {
        let app = app().await;
        app.account("m0.test", Role::Member).await;
        app.account("m1.test", Role::Member).await;
        let first_day = audit::format_time(app.state.now_ms())[..10].to_owned();
        app.clock.advance_ms(2 * 86_400_000);
        let (auditor, token) = app.account("dpo.test", Role::Auditor).await;
        app.account("m2.test", Role::Member).await;
        let third_day = audit::format_time(app.state.now_ms())[..10].to_owned();

        let (status, _, body) = app
            .get("/api/v1/audit/daily?action=admin_user_created", &token)
            .await;
        assert_eq!(status, StatusCode::OK);
        let counts: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            counts["days"],
            json!([{ "day": first_day, "count": 2 }, { "day": third_day, "count": 2 }])
        );
        let (_, _, body) = app
            .get(
                &format!("/api/v1/audit/daily?action=admin_user_created&from={third_day}"),
                &token,
            )
            .await;
        let counts: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(counts["days"], json!([{ "day": third_day, "count": 2 }]));

        let recorded = app.events_of(&auditor, "audit_query").await;
        assert_eq!(recorded.len(), 2, "each reading is in the log");
        assert_eq!(recorded[0].details_json()["per_day"], true);
        let (status, _, _) = app.get("/api/v1/audit/daily?from=hier", &token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (_, member_token) = app.account("m4.test", Role::Member).await;
        let (status, _, _) = app.get("/api/v1/audit/daily", &member_token).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn malformed_parameters_are_refused_and_recorded_as_failures() {
        let app = app().await;
        let (auditor, token) = app.account("dpo.test", Role::Auditor).await;
        for uri in [
            "/api/v1/audit/events?outcome=maybe",
            "/api/v1/audit/events?from=yesterday",
            "/api/v1/audit/events?limit=5000",
            "/api/v1/audit/events?after_seq=-1",
        ] {
            let (status, _, _) = app.get(uri, &token).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        }
        let (status, _, _) = app.get("/api/v1/audit/export?format=xml", &token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let failures = app.events_of(&auditor, "audit_query").await;
        assert_eq!(failures.len(), 4);
        assert!(failures.iter().all(|e| e.outcome == "failure"));
        assert_eq!(
            app.events_of(&auditor, "audit_export").await[0].outcome,
            "failure"
        );
    }

    #[tokio::test]
    async fn an_auditor_exports_csv_and_json_and_the_export_is_recorded() {
        let app = app().await;
        let (auditor, token) = app.account("dpo.test", Role::Auditor).await;
        let (member, _) = app.account("m1.test", Role::Member).await;
        let (status, content_type, body) = app
            .get(
                "/api/v1/audit/export?format=json&action=admin_user_created&to=2999-12-31",
                &token,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type.as_deref(), Some("application/json"));
        let events: Value = serde_json::from_slice(&body).unwrap();
        let targets: Vec<&str> = events
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["target"].as_str().unwrap())
            .collect();
        assert_eq!(targets, vec![auditor.as_str(), member.as_str()]);

        let (status, content_type, body) = app
            .get(
                &format!("/api/v1/audit/export?format=csv&target={member}"),
                &token,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type.as_deref(), Some("text/csv; charset=utf-8"));
        let csv = String::from_utf8(body).unwrap();
        assert!(csv.starts_with(audit::CSV_HEADER));
        assert_eq!(csv.lines().count(), 2, "{csv}");
        assert!(csv.contains("admin_user_created"));

        let recorded = app.events_of(&auditor, "audit_export").await;
        assert_eq!(recorded.len(), 2);
        assert_eq!(recorded[1].details_json()["format"], "csv");
        assert_eq!(recorded[1].details_json()["target"], member.as_str());
    }

    #[tokio::test]
    async fn an_auditor_verifies_the_log_and_reads_the_signing_key_and_checkpoints() {
        let app = app().await;
        let (auditor, token) = app.account("dpo.test", Role::Auditor).await;
        app.state.audit.checkpoint_now().await.unwrap();

        let (status, _, body) = app.get("/api/v1/audit/verify", &token).await;
        assert_eq!(status, StatusCode::OK);
        let report: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(report["intact"], true, "{report}");
        assert!(report["first_break"].is_null());
        assert_eq!(app.events_of(&auditor, "audit_verify").await.len(), 1);

        let (_, _, body) = app.get("/api/v1/audit/public-key", &token).await;
        let key: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(key["public_key"], app.state.audit.public_key());
        let published =
            audit::signing::decode_public_key(key["public_key"].as_str().unwrap()).unwrap();

        let (_, _, body) = app.get("/api/v1/audit/checkpoints", &token).await;
        let list: Value = serde_json::from_slice(&body).unwrap();
        let cp = &list["checkpoints"][0];
        let checkpoint = Checkpoint {
            seq: cp["seq"].as_u64().unwrap(),
            hash: cp["hash"].as_str().unwrap().into(),
            time_ms: cp["time_ms"].as_i64().unwrap(),
            key_id: cp["key_id"].as_str().unwrap().into(),
            signature: cp["signature"].as_str().unwrap().into(),
        };
        assert!(audit::checkpoint_signature_is_valid(
            &published,
            &checkpoint
        ));
        assert_eq!(
            app.events_of(&auditor, "audit_checkpoints_read")
                .await
                .len(),
            1
        );
    }
}
