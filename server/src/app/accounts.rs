//! Managing institutions and accounts: the one implementation behind the admin API and
//! `passerelle admin …`. Every change is recorded in the access log with its actor.

use passerelle_shared::ids::normalise_login;
use passerelle_shared::protocol::v1::admin::{Account, CreateAccount, Institution, UpdateAccount};
use passerelle_shared::protocol::v1::auth::InstitutionRef;
use passerelle_shared::protocol::v1::channels::LegalRegime;
use passerelle_shared::protocol::v1::InstitutionKind;
use passerelle_shared::protocol::v1::{Attributes, Role};
use serde_json::json;
use zeroize::Zeroizing;

use crate::app::exclusion::{self, Excluded, Exclusion, Sessions};
use crate::audit::{Actor, Outcome};
use crate::auth::password;
use crate::bus::AccessReason;
use crate::db::{self, entities::institution, entities::user};
use crate::error::{ApiError, Result};
use crate::state::AppState;

/// The admin view of an account row.
pub(crate) fn account_of(user: &user::Model) -> Result<Account> {
    Ok(Account {
        id: user.id.clone().into(),
        login: user.login.clone(),
        display_name: user.display_name.clone(),
        institution_id: user.institution_id.clone().into(),
        role: Role::parse(&user.role)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown role")))?,
        attributes: Attributes {
            bound_by_professional_secrecy: user.bound_by_professional_secrecy,
            social_action_professional: user.social_action_professional,
        },
        disabled: user.disabled,
        locked: user.locked_at.is_some(),
        totp_enrolled: user.totp_secret_enc.is_some(),
        created_at: user.created_at,
    })
}

fn institution_of(model: institution::Model) -> Institution {
    Institution {
        id: model.id.into(),
        name: model.name,
        kind: InstitutionKind::parse(&model.kind).unwrap_or_default(),
        created_at: model.created_at,
    }
}

/// Refuses attributes that the type of `institution_id` does not admit (CHARTER.md C5):
/// the refusal is logged under `action`, with the rule it broke.
async fn check_attributes_fit(
    state: &AppState,
    actor: &Actor,
    action: &'static str,
    target: Option<String>,
    institution_id: &str,
    attributes: Attributes,
) -> Result<()> {
    let institution = db::accounts::find_institution(&state.db, institution_id)
        .await?
        .ok_or(ApiError::Unprocessable("unknown_institution"))?;
    let kind = InstitutionKind::parse(&institution.kind).unwrap_or_default();
    let Some(reason) = kind.contradiction(attributes) else {
        return Ok(());
    };
    state
        .record_denial(
            actor.clone(),
            action,
            target,
            json!({ "reason": reason, "institution_kind": kind.as_str() }),
        )
        .await;
    Err(ApiError::Unprocessable(reason))
}

fn valid_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::Unprocessable("invalid_name"));
    }
    Ok(name.to_owned())
}

/// Every institution.
pub async fn list_institutions(state: &AppState) -> Result<Vec<Institution>> {
    Ok(db::accounts::list_institutions(&state.db)
        .await?
        .into_iter()
        .map(institution_of)
        .collect())
}

/// Every institution's id and name, by name (for every logged-in role).
pub async fn institution_names(state: &AppState) -> Result<Vec<InstitutionRef>> {
    Ok(db::accounts::list_institutions(&state.db)
        .await?
        .into_iter()
        .map(|i| InstitutionRef {
            id: i.id.into(),
            name: i.name,
        })
        .collect())
}

/// Creates an institution with a unique name.
pub async fn create_institution(
    state: &AppState,
    actor: Actor,
    name: &str,
    kind: InstitutionKind,
) -> Result<Institution> {
    let name = valid_name(name)?;
    if db::accounts::find_institution_by_name(&state.db, &name)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict("institution_exists"));
    }
    let model = db::accounts::insert_institution(
        &state.db,
        institution::Model {
            id: uuid::Uuid::new_v4().to_string(),
            name,
            kind: kind.as_str().to_owned(),
            created_at: state.now_ms(),
        },
    )
    .await?;
    state
        .record(
            actor,
            "admin_institution_created",
            Some(model.id.clone()),
            Outcome::Success,
            json!({ "kind": model.kind }),
        )
        .await?;
    Ok(institution_of(model))
}

/// Gives an institution its type, or corrects it. Refused while one of its people holds
/// an attribute the new type does not admit: the admin removes it first, knowingly, since
/// that person then leaves the protected channels (CHARTER.md C5).
pub async fn set_institution_kind(
    state: &AppState,
    actor: Actor,
    id: &str,
    kind: InstitutionKind,
) -> Result<Institution> {
    let institution = db::accounts::find_institution(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let contradicting = db::accounts::users_of_institution(&state.db, id)
        .await?
        .iter()
        .filter(|user| {
            kind.contradiction(Attributes {
                bound_by_professional_secrecy: user.bound_by_professional_secrecy,
                social_action_professional: user.social_action_professional,
            })
            .is_some()
        })
        .count();
    if contradicting > 0 {
        state
            .record_denial(
                actor,
                "admin_institution_update",
                Some(institution.id),
                json!({ "reason": "kind_contradicts_members", "kind": kind.as_str(), "accounts": contradicting }),
            )
            .await;
        return Err(ApiError::Conflict("kind_contradicts_members"));
    }
    let model = db::accounts::set_institution_kind(&state.db, id, kind.as_str()).await?;
    state
        .record(
            actor,
            "admin_institution_updated",
            Some(model.id.clone()),
            Outcome::Success,
            json!({ "kind": model.kind, "previous_kind": institution.kind }),
        )
        .await?;
    Ok(institution_of(model))
}

/// Every account.
pub async fn list_accounts(state: &AppState) -> Result<Vec<Account>> {
    db::accounts::list_users(&state.db)
        .await?
        .iter()
        .map(account_of)
        .collect()
}

/// Creates an account with a generated password, returned once, that its owner must
/// replace at first login (an administrator saw it): the admin console's and the
/// command line's accounts.
pub async fn create_provisional_account(
    state: &AppState,
    actor: Actor,
    request: CreateAccount,
) -> Result<(Account, Zeroizing<String>)> {
    insert_account(state, actor, request, true).await
}

/// Creates an account with a generated password, returned once, usable as it is: the
/// demo's accounts and the test fixtures, whose passwords no third person handles.
pub async fn create_account(
    state: &AppState,
    actor: Actor,
    request: CreateAccount,
) -> Result<(Account, Zeroizing<String>)> {
    insert_account(state, actor, request, false).await
}

/// Creates every account of `requests` with a provisional password, in one transaction:
/// all of them, or none (an import that stops halfway would leave the operator to sort
/// out which lines exist). Each is checked as a single creation is, before any is written.
pub async fn create_provisional_accounts(
    state: &AppState,
    actor: Actor,
    requests: Vec<CreateAccount>,
) -> Result<Vec<(Account, Zeroizing<String>)>> {
    let mut prepared = Vec::with_capacity(requests.len());
    for request in requests {
        prepared.push(prepare_account(state, &actor, request, true).await?);
    }
    let txn = db::begin_write(&state.db).await?;
    let mut inserted = Vec::with_capacity(prepared.len());
    for new in prepared {
        inserted.push((
            db::accounts::insert_user(&txn, new.model).await?,
            new.password,
        ));
    }
    txn.commit().await?;
    let mut created = Vec::with_capacity(inserted.len());
    for (model, password) in inserted {
        record_created(state, actor.clone(), &model).await?;
        created.push((account_of(&model)?, password));
    }
    Ok(created)
}

/// An account checked and ready to be written, with the password generated for it.
struct NewAccount {
    model: user::Model,
    password: Zeroizing<String>,
}

async fn insert_account(
    state: &AppState,
    actor: Actor,
    request: CreateAccount,
    provisional: bool,
) -> Result<(Account, Zeroizing<String>)> {
    let new = prepare_account(state, &actor, request, provisional).await?;
    let model = db::accounts::insert_user(&state.db, new.model).await?;
    record_created(state, actor, &model).await?;
    Ok((account_of(&model)?, new.password))
}

/// Checks a creation request and builds its row, with a generated, hashed password.
async fn prepare_account(
    state: &AppState,
    actor: &Actor,
    request: CreateAccount,
    provisional: bool,
) -> Result<NewAccount> {
    let login =
        normalise_login(&request.login).map_err(|_| ApiError::Unprocessable("invalid_login"))?;
    let display_name = valid_name(&request.display_name)?;
    check_attributes_fit(
        state,
        actor,
        "admin_user_create",
        None,
        &request.institution_id,
        request.attributes,
    )
    .await?;
    if db::accounts::find_user_by_login(&state.db, &login)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict("login_exists"));
    }
    let generated =
        password::generate(|buf| state.secrets.random(buf)).map_err(ApiError::internal)?;
    let password_hash = password::hash(generated.clone())
        .await
        .map_err(ApiError::internal)?;
    Ok(NewAccount {
        model: user::Model {
            id: uuid::Uuid::new_v4().to_string(),
            login,
            display_name,
            institution_id: request.institution_id.to_string(),
            role: request.role.as_str().to_owned(),
            bound_by_professional_secrecy: request.attributes.bound_by_professional_secrecy,
            social_action_professional: request.attributes.social_action_professional,
            password_hash,
            totp_secret_enc: None,
            totp_pending_enc: None,
            totp_last_step: None,
            failed_logins: 0,
            locked_at: None,
            disabled: false,
            created_at: state.now_ms(),
            password_change_required: provisional,
            email: None,
        },
        password: generated,
    })
}

async fn record_created(state: &AppState, actor: Actor, model: &user::Model) -> Result<()> {
    state
        .record(
            actor,
            "admin_user_created",
            Some(model.id.clone()),
            Outcome::Success,
            json!({
                "role": model.role,
                "institution_id": model.institution_id,
                "provisional_password": model.password_change_required,
            }),
        )
        .await?;
    Ok(())
}

async fn load(state: &AppState, id: &str) -> Result<user::Model> {
    db::accounts::find_user(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Finds an account by id or login (for the command line).
pub async fn find_account(state: &AppState, id_or_login: &str) -> Result<Account> {
    let by_login = match normalise_login(id_or_login) {
        Ok(login) => db::accounts::find_user_by_login(&state.db, &login).await?,
        Err(_) => None,
    };
    match by_login {
        Some(user) => account_of(&user),
        None => account_of(&load(state, id_or_login).await?),
    }
}

/// Changes role, attributes or display name.
pub async fn update_account(
    state: &AppState,
    actor: Actor,
    id: &str,
    update: UpdateAccount,
) -> Result<Account> {
    let mut user = load(state, id).await?;
    let mut changed = Vec::new();
    if let Some(role) = update.role {
        if user.role == Role::Admin.as_str() && role != Role::Admin {
            ensure_not_last_admin(state, &user).await?;
        }
        user.role = role.as_str().to_owned();
        changed.push("role");
    }
    if let Some(attributes) = update.attributes {
        check_attributes_fit(
            state,
            &actor,
            "admin_user_update",
            Some(user.id.clone()),
            &user.institution_id,
            attributes,
        )
        .await?;
        user.bound_by_professional_secrecy = attributes.bound_by_professional_secrecy;
        user.social_action_professional = attributes.social_action_professional;
        changed.push("attributes");
    }
    if let Some(name) = update.display_name {
        user.display_name = valid_name(&name)?;
        changed.push("display_name");
    }
    let user = db::accounts::update_user(&state.db, user).await?;
    // A role or an attribute the regime of a channel requires may be gone (C5): the
    // member leaves those channels as if removed, and they rotate (C3).
    let ineligible = if changed.iter().any(|c| *c == "role" || *c == "attributes") {
        ineligible_channels(state, &user).await?
    } else {
        Vec::new()
    };
    let left = if ineligible.is_empty() {
        exclusion::Excluded::default()
    } else {
        exclusion::exclude(
            state,
            Exclusion::LeaveChannels {
                user_id: user.id.clone(),
                channel_ids: ineligible,
                reason: AccessReason::RegimeLost,
                by: None,
            },
        )
        .await?
    };
    for event in left.membership_events {
        if let Some(channel) = db::channels::find(&state.db, &event.channel_id).await? {
            crate::app::channels::announce_membership(state, &channel, event).await?;
        }
    }
    let left = left.channels_left;
    state
        .record(
            actor,
            "admin_user_updated",
            Some(user.id.clone()),
            Outcome::Success,
            json!({ "changed": changed, "role": user.role, "channels_left": left }),
        )
        .await?;
    account_of(&user)
}

/// The channels of `user` whose legal regime or institution allow-list no longer admits
/// them.
async fn ineligible_channels(state: &AppState, user: &user::Model) -> Result<Vec<String>> {
    let candidate = crate::gate::candidate_of(user);
    let mut ineligible = Vec::new();
    for membership in db::members::of_user(&state.db, &user.id).await? {
        let Some(channel) = db::channels::find(&state.db, &membership.channel_id).await? else {
            continue;
        };
        let Some(regime) = LegalRegime::parse(&channel.regime) else {
            continue;
        };
        let institutions = db::channels::institutions_of(&state.db, &channel.id).await?;
        if crate::policy::join_refusal(&candidate, regime, &institutions).is_some() {
            ineligible.push(channel.id);
        }
    }
    Ok(ineligible)
}

/// Replaces the password with a generated one, returned once, and closes every session
/// and its live connections (CHARTER.md C3).
pub async fn reset_password(
    state: &AppState,
    actor: Actor,
    id: &str,
) -> Result<(Account, Zeroizing<String>)> {
    let mut user = load(state, id).await?;
    let generated =
        password::generate(|buf| state.secrets.random(buf)).map_err(ApiError::internal)?;
    user.password_hash = password::hash(generated.clone())
        .await
        .map_err(ApiError::internal)?;
    // The administrator saw it: its owner replaces it at the next login.
    user.password_change_required = true;
    let user = db::accounts::update_user(&state.db, user).await?;
    let excluded = end_every_session(state, &user.id, AccessReason::PasswordReset).await?;
    state
        .record(
            actor,
            "admin_password_reset",
            Some(user.id.clone()),
            Outcome::Success,
            json!({ "sessions_closed": excluded.sessions_closed }),
        )
        .await?;
    Ok((account_of(&user)?, generated))
}

/// Forgets the TOTP secret and removes every passkey and security key (a lost phone, a
/// lost key): the next login enrols again, and an account whose role requires a key
/// registers a new one before anything else. Closes every session and its live
/// connections.
pub async fn reset_mfa(state: &AppState, actor: Actor, id: &str) -> Result<Account> {
    let mut user = load(state, id).await?;
    user.totp_secret_enc = None;
    user.totp_pending_enc = None;
    let user = db::accounts::update_user(&state.db, user).await?;
    let keys_removed = db::webauthn::remove_all(&state.db, &user.id).await?;
    let excluded = end_every_session(state, &user.id, AccessReason::MfaReset).await?;
    state
        .record(
            actor,
            "admin_mfa_reset",
            Some(user.id.clone()),
            Outcome::Success,
            json!({
                "sessions_closed": excluded.sessions_closed,
                "security_keys_removed": keys_removed,
            }),
        )
        .await?;
    account_of(&user)
}

async fn end_every_session(
    state: &AppState,
    user_id: &str,
    reason: AccessReason,
) -> Result<Excluded> {
    exclusion::exclude(
        state,
        Exclusion::EndSessions {
            user_id: user_id.to_owned(),
            sessions: Sessions::All,
            reason,
        },
    )
    .await
}

/// Disables or re-enables logging in. Disabling is an exclusion (CHARTER.md C3): in one
/// transaction every session ends, the account's devices leave key distribution and its
/// channels need a new epoch; then its live connections close on every node.
pub async fn set_disabled(
    state: &AppState,
    actor: Actor,
    id: &str,
    disabled: bool,
) -> Result<Account> {
    let user = load(state, id).await?;
    let (action, details) = if disabled {
        if user.role == Role::Admin.as_str() {
            ensure_not_last_admin(state, &user).await?;
        }
        let excluded = exclusion::exclude(
            state,
            Exclusion::DisableAccount {
                user_id: user.id.clone(),
            },
        )
        .await?;
        (
            "admin_user_disabled",
            json!({
                "sessions_closed": excluded.sessions_closed,
                "channels_rotated": excluded.channels_rotated,
                "already_disabled": !excluded.changed,
            }),
        )
    } else {
        db::accounts::set_disabled(&state.db, &user.id, false).await?;
        ("admin_user_enabled", json!({ "sessions_closed": 0 }))
    };
    state
        .record(
            actor,
            action,
            Some(user.id.clone()),
            Outcome::Success,
            details,
        )
        .await?;
    account_of(&load(state, id).await?)
}

/// Lifts a lock-out.
pub async fn unlock(state: &AppState, actor: Actor, id: &str) -> Result<Account> {
    let mut user = load(state, id).await?;
    user.locked_at = None;
    user.failed_logins = 0;
    let user = db::accounts::update_user(&state.db, user).await?;
    let key = crate::auth::lockout::login_key(state, &user.login);
    crate::auth::lockout::clear(state, &key).await?;
    state.throttle.clear_login(&key);
    state
        .record(
            actor,
            "admin_user_unlocked",
            Some(user.id.clone()),
            Outcome::Success,
            json!({}),
        )
        .await?;
    account_of(&user)
}

/// Refuses to remove the last active admin: nobody could manage accounts any more.
async fn ensure_not_last_admin(state: &AppState, user: &user::Model) -> Result<()> {
    let active_admins = db::accounts::list_users(&state.db)
        .await?
        .into_iter()
        .filter(|u| u.role == Role::Admin.as_str() && !u.disabled && u.id != user.id)
        .count();
    if active_admins == 0 {
        return Err(ApiError::Unprocessable("last_admin"));
    }
    Ok(())
}
