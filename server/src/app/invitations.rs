//! Invitations by one-time link: instead of a provisional password handed over in person,
//! the admin gives the person a link that works once, for [`INVITATION_TTL_MS`]. Opening
//! it, they choose their password; at their first login they enrol their second factor
//! (the login's usual enrolment step). The token is 256 random bits, stored only as its
//! SHA-256, found by that hash and checked again in constant time; a used, expired,
//! replaced or unknown link is refused alike, in French, and the refusal is logged. An
//! admin invites anyone; a coordinator, the people of their own working groups (whom
//! they added there), so that a partner joining a group need not wait for the admin.

use passerelle_shared::protocol::v1::invitations::InvitationLink;
use serde_json::json;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::audit::{Actor, Outcome};
use crate::auth::{password, session, ClientInfo, CurrentUser};
use crate::db::{self, entities::invitation};
use crate::error::{ApiError, Result};
use crate::policy::{self, Capability};
use crate::state::AppState;

/// How long a link works: a week, time enough for a busy professional to open it, short
/// enough that a forgotten e-mail does not hold an open door.
pub const INVITATION_TTL_MS: i64 = 7 * 24 * 3_600_000;

/// Longest token accepted (a real one is 43 characters).
const MAX_TOKEN_CHARS: usize = 100;

/// Issues the link of account `user_id`, replacing any unused one. Only for an account
/// whose owner never finished a first login (no second factor yet): a link must not
/// become a way around an active account's password.
pub async fn invite(
    state: &AppState,
    caller: &CurrentUser,
    user_id: &str,
) -> Result<InvitationLink> {
    let actor = caller.actor();
    let shares = !policy::role_can(caller.role, Capability::ManageAccounts)
        && shares_working_group(state, &caller.user_id, user_id).await?;
    if !policy::may_invite(caller.role, shares) {
        state
            .record_denial(
                actor,
                "invitation_create",
                Some(user_id.to_owned()),
                json!({ "reason": "not_their_group", "role": caller.role.as_str() }),
            )
            .await;
        return Err(ApiError::Forbidden);
    }
    let account = db::accounts::find_user(&state.db, user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if account.totp_secret_enc.is_some() || account.disabled {
        state
            .record_denial(
                actor,
                "invitation_create",
                Some(account.id.clone()),
                json!({ "reason": if account.disabled { "disabled" } else { "already_active" } }),
            )
            .await;
        return Err(ApiError::Unprocessable("already_active"));
    }
    let (token, token_hash) =
        session::new_token(|buf| state.secrets.random(buf)).map_err(ApiError::internal)?;
    let now = state.now_ms();
    let expires_at = now + INVITATION_TTL_MS;
    let txn = db::begin_write(&state.db).await?;
    let replaced = db::invitations::delete_unused_of(&txn, &account.id).await?;
    db::invitations::insert(
        &txn,
        invitation::Model {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: account.id.clone(),
            token_hash,
            created_by: actor.user_id.clone().unwrap_or_default(),
            created_at: now,
            expires_at,
            used_at: None,
        },
    )
    .await?;
    txn.commit().await?;
    state
        .record(
            actor,
            "invitation_created",
            Some(account.id.clone()),
            Outcome::Success,
            json!({ "expires_at": expires_at, "replaced": replaced }),
        )
        .await?;
    Ok(InvitationLink {
        link: format!("{}/invitation#{}", state.config.origin(), token.as_str()),
        expires_at,
    })
}

/// Whether `invited` is a member of an active working group `coordinator` is a member of.
async fn shares_working_group(state: &AppState, coordinator: &str, invited: &str) -> Result<bool> {
    let theirs: std::collections::HashSet<String> = db::members::of_user(&state.db, coordinator)
        .await?
        .into_iter()
        .map(|membership| membership.channel_id)
        .collect();
    for membership in db::members::of_user(&state.db, invited).await? {
        if !theirs.contains(&membership.channel_id) {
            continue;
        }
        if let Some(channel) = db::channels::find(&state.db, &membership.channel_id).await? {
            if channel.kind == "working_group" && channel.status == "active" {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Uses the link `token`: sets the password the person chose. The link then works no more.
pub async fn accept(
    state: &AppState,
    client: &ClientInfo,
    token: Zeroizing<String>,
    new_password: Zeroizing<String>,
) -> Result<()> {
    let refuse = |reason: &'static str| async move {
        state
            .record_denial(
                client.anonymous_actor(),
                "invitation_accept",
                None,
                json!({ "reason": reason }),
            )
            .await;
        Err(ApiError::Unprocessable("invitation_invalid"))
    };
    let token = token.trim();
    if token.is_empty() || token.chars().count() > MAX_TOKEN_CHARS {
        return refuse("malformed").await;
    }
    let token_hash = session::hash_token(token);
    let Some(found) = db::invitations::find_by_hash(&state.db, &token_hash).await? else {
        return refuse("unknown").await;
    };
    if !bool::from(found.token_hash.as_bytes().ct_eq(token_hash.as_bytes())) {
        return refuse("unknown").await;
    }
    let now = state.now_ms();
    if found.used_at.is_some() {
        return refuse("used").await;
    }
    if found.expires_at <= now {
        return refuse("expired").await;
    }
    if new_password.chars().count() < password::MIN_PASSWORD_CHARS {
        return Err(ApiError::Unprocessable("weak_password"));
    }
    let password_hash = password::hash(new_password)
        .await
        .map_err(ApiError::internal)?;
    let txn = db::begin_write(&state.db).await?;
    if !db::invitations::mark_used(&txn, &found.id, now).await? {
        drop(txn);
        return refuse("used").await;
    }
    let Some(mut account) = db::accounts::find_user(&txn, &found.user_id).await? else {
        drop(txn);
        return refuse("unknown").await;
    };
    if account.disabled || account.totp_secret_enc.is_some() {
        drop(txn);
        return refuse("already_active").await;
    }
    account.password_hash = password_hash;
    account.password_change_required = false;
    let account = db::accounts::update_user(&txn, account).await?;
    txn.commit().await?;
    state
        .record(
            Actor {
                user_id: Some(account.id.clone()),
                login: Some(account.login.clone()),
                institution_id: Some(account.institution_id.clone()),
                ..client.anonymous_actor()
            },
            "invitation_accepted",
            Some(account.id.clone()),
            Outcome::Success,
            json!({}),
        )
        .await
}
