//! The gate: who may read or write a channel now (CHARTER.md C2, C3, C5, C9, C11). The
//! facts — membership, the charter and rules versions and their acceptances, the regime
//! and the institution allow-list against the latest account row, the channel's
//! lifecycle, an archive's reading reason, a practice session's hours — are read once
//! (`crate::facts`), and [`policy::channel_access`] decides on them. REST handlers
//! ([`require`]), the WebSocket connection ([`for_member`]) and the message writer
//! (`facts::BatchGate`, once per batch) all decide this way, so that "who may write in
//! this channel" has one answer.

use sea_orm::DbErr;
use serde_json::json;

use crate::auth::CurrentUser;
use crate::bus::BusEvent;
use crate::db::{self, entities::channel, entities::channel_member, entities::user};
use crate::error::{ApiError, Result};
pub(crate) use crate::facts::{candidate_of, facts, rules_owner, Viewer};
use crate::policy::{self, Access, Candidate, Lifecycle, Refusal};
use crate::state::AppState;

/// The viewer of an authenticated request.
pub(crate) fn viewer(user: &CurrentUser) -> Viewer<'_> {
    Viewer {
        user_id: &user.user_id,
        candidate: Candidate {
            role: Some(user.role),
            disabled: false,
            institution_id: &user.institution_id,
            attributes: user.attributes,
        },
    }
}

/// The gate: may `viewer`, a member, read or write `channel` now? The inner `Err` is
/// the refusal's stable code.
pub(crate) async fn check(
    state: &AppState,
    viewer: &Viewer<'_>,
    channel: &channel::Model,
    access: Access,
) -> Result<Result<(), Refusal>, DbErr> {
    let now = state.now_ms();
    let facts = facts(&state.db, viewer, channel, now).await?;
    Ok(policy::channel_access(&facts, access, now))
}

/// The gate for a REST request by a member: a refusal is recorded as a denial of `action`
/// and answered `403` with its code (or `404` when the channel is gone).
pub(crate) async fn require(
    state: &AppState,
    user: &CurrentUser,
    channel: &channel::Model,
    access: Access,
    action: &'static str,
) -> Result<()> {
    let Err(refusal) = check(state, &viewer(user), channel, access).await? else {
        return Ok(());
    };
    state
        .record_denial(
            user.actor(),
            action,
            Some(channel.id.clone()),
            json!({ "reason": refusal.code() }),
        )
        .await;
    if refusal == Refusal::NotFound {
        return Err(ApiError::NotFound);
    }
    Err(ApiError::Blocked(refusal))
}

/// Starts delivering `channel` to the connections of `account` if the gate lets them read
/// it (used when they join it, and when they accept a charter or rules).
pub(crate) async fn subscribe_if_open(
    state: &AppState,
    account: &user::Model,
    channel: &channel::Model,
) -> Result<bool> {
    let open = check(state, &Viewer::of_account(account), channel, Access::Read)
        .await?
        .is_ok();
    if open {
        state.bus.publish(BusEvent::MemberAdded {
            channel_id: channel.id.clone(),
            user_id: account.id.clone(),
        });
    }
    Ok(open)
}

/// What the gate says about a channel for one member.
pub(crate) enum Verdict {
    /// Readable (or writable) now.
    Open,
    /// Not a member: refused as before any gate, without saying whether it exists.
    NotMember,
    /// Being destroyed or destroyed.
    Gone,
    /// Closed to this member for now, and why.
    Refused(Refusal),
    /// The database failed.
    Unavailable,
}

/// The gate for one member and one channel, reading its facts now.
pub(crate) async fn for_member(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    access: Access,
) -> Verdict {
    let membership = db::members::find(&state.db, channel_id, &user.user_id).await;
    let channel = db::channels::find(&state.db, channel_id).await;
    let (Ok(membership), Ok(channel)) = (membership, channel) else {
        return Verdict::Unavailable;
    };
    let (Some(_), Some(channel)) = (membership, channel) else {
        return Verdict::NotMember;
    };
    match check(state, &viewer(user), &channel, access).await {
        Ok(Ok(())) => Verdict::Open,
        Ok(Err(Refusal::NotFound)) => Verdict::Gone,
        Ok(Err(refusal)) => Verdict::Refused(refusal),
        Err(err) => {
            tracing::error!(error = %err, "the charter gate could not read the database");
            Verdict::Unavailable
        }
    }
}

/// Loads a channel the caller belongs to, or records the denial and answers not found.
pub(crate) async fn member_channel(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    action: &'static str,
) -> Result<(channel::Model, channel_member::Model)> {
    let channel = db::channels::find(&state.db, channel_id).await?;
    let membership = db::members::find(&state.db, channel_id, &user.user_id).await?;
    match (channel, membership) {
        (Some(channel), Some(membership))
            if Lifecycle::parse(&channel.status) != Lifecycle::Gone =>
        {
            Ok((channel, membership))
        }
        _ => {
            state
                .record_denial(
                    user.actor(),
                    action,
                    Some(channel_id.to_owned()),
                    json!({ "reason": "not_member" }),
                )
                .await;
            Err(ApiError::NotFound)
        }
    }
}
