//! The two-step login (CHARTER.md C15): password, then TOTP or a passkey / security key
//! ([`super::webauthn`]).
//!
//! Between the two steps the client holds a challenge authenticated by the server's
//! secret, so no half-open login is stored. Every failure counts towards the login's
//! lock-out ([`lockout`]) and the address's throttle; an unknown login costs the same
//! work (an argon2 verification against a dummy hash, the same lock-out queries), answers
//! the same error and locks the same way as a wrong password, and is logged as its keyed
//! hash.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use passerelle_shared::ids::normalise_login;
use passerelle_shared::protocol::v1::auth::{
    InstitutionRef, LoginChallenge, LoginRequest, Me, NextStep, SessionOpened, TotpRequest,
};
use passerelle_shared::protocol::v1::{Attributes, Role};
use serde_json::json;
use zeroize::Zeroizing;

use super::{lockout, password, session, totp, webauthn, ClientInfo};
use crate::audit::{Actor, Outcome};
use crate::db::{self, entities::user};
use crate::error::{ApiError, Result, WebauthnRefusal};
use crate::state::AppState;

/// How long the TOTP step may follow the password step.
const CHALLENGE_TTL_MS: i64 = 5 * 60 * 1000;
/// TOTP secrets are 160 bits, as RFC 4226 recommends.
const TOTP_SECRET_BYTES: usize = 20;

/// The actor of an account's login step.
pub(super) fn actor_for(client: &ClientInfo, login: &str, user: Option<&user::Model>) -> Actor {
    Actor {
        user_id: user.map(|u| u.id.clone()),
        login: Some(login.to_owned()),
        institution_id: user.map(|u| u.institution_id.clone()),
        session_id: None,
        ip: client.ip,
    }
}

/// The actor of a login attempt: an account's login as it is, any other string as its
/// keyed hash (`key`), never verbatim — it may be a password typed in the wrong field.
fn attempt_actor(client: &ClientInfo, login: &str, key: &str, user: Option<&user::Model>) -> Actor {
    match user {
        Some(_) => actor_for(client, login, user),
        None => actor_for(client, &lockout::logged_login(key), None),
    }
}

/// `POST /api/v1/auth/login`: checks the password and answers a challenge for the TOTP
/// step, with the enrolment QR code when the account has no TOTP yet.
pub async fn password_step(
    state: &AppState,
    client: &ClientInfo,
    request: LoginRequest,
) -> Result<LoginChallenge> {
    let now = state.now_ms();
    let password = Zeroizing::new(request.password);
    // A malformed login is an unknown login: same work, same answer.
    let login = normalise_login(&request.login)
        .unwrap_or_else(|_| request.login.chars().take(64).collect());
    let key = lockout::login_key(state, &login);
    let user = db::accounts::find_user_by_login(&state.db, &login).await?;
    let actor = attempt_actor(client, &login, &key, user.as_ref());
    if state.throttle.ip_blocked(client.ip, now) {
        state
            .record_denial(actor, "login", None, json!({ "reason": "ip_throttled" }))
            .await;
        return Err(ApiError::TooManyAttempts);
    }
    let locked = lockout::locked_until(state, &key, now).await?.is_some();
    let matches = password::verify(user.as_ref().map(|u| u.password_hash.clone()), password)
        .await
        .map_err(ApiError::internal)?;
    if locked {
        state
            .record_denial(actor, "login", None, json!({ "reason": "account_locked" }))
            .await;
        return Err(ApiError::AccountLocked);
    }
    let user = match (user, matches) {
        (Some(user), true) => user,
        (user, _) => {
            fail_attempt(state, client, &login, user.as_ref(), "bad_password").await?;
            return Err(ApiError::InvalidCredentials);
        }
    };
    if user.disabled {
        state
            .record_denial(
                actor,
                "login",
                None,
                json!({ "reason": "account_disabled" }),
            )
            .await;
        return Err(ApiError::AccountDisabled);
    }
    let expires = now + CHALLENGE_TTL_MS;
    // Accounts with a key are asked for it: it is the factor a phishing page cannot relay.
    let ceremony = if webauthn::has_keys(state, &user.id).await? {
        match webauthn::begin_login(state, &user).await {
            Ok(ceremony) => Some(ceremony),
            // Keys stopped working (the site lost its name): the code still serves the
            // roles that do not require a key.
            Err(ApiError::Webauthn(WebauthnRefusal::Unavailable))
                if !webauthn::required_for(&state.config, role_of(&user)?) =>
            {
                None
            }
            Err(err) => return Err(err),
        }
    } else {
        None
    };
    let mut nonce = [0u8; 16];
    state
        .secrets
        .random(&mut nonce)
        .map_err(ApiError::internal)?;
    let challenge =
        state
            .secrets
            .sign_token(&format!("v1|{}|{expires}|{}", user.id, B64.encode(nonce)));
    let (next, enrolment) = if ceremony.is_some() {
        (NextStep::Webauthn, None)
    } else if user.totp_secret_enc.is_some() {
        (NextStep::Totp, None)
    } else {
        let mut secret = Zeroizing::new([0u8; TOTP_SECRET_BYTES]);
        state
            .secrets
            .random(secret.as_mut())
            .map_err(ApiError::internal)?;
        let sealed = state
            .secrets
            .seal(&user.id, secret.as_ref())
            .map_err(ApiError::internal)?;
        let enrolment =
            totp::enrolment(secret.as_ref(), &user.login).map_err(ApiError::internal)?;
        let mut pending = user.clone();
        pending.totp_pending_enc = Some(sealed);
        db::accounts::update_user(&state.db, pending).await?;
        (NextStep::TotpEnrolment, Some(enrolment))
    };
    state
        .record(
            actor,
            "login_password_ok",
            None,
            Outcome::Success,
            json!({ "next": next }),
        )
        .await?;
    Ok(LoginChallenge {
        challenge,
        next,
        enrolment,
        webauthn: ceremony,
    })
}

/// `POST /api/v1/auth/totp`: checks the code against the challenge and opens a session.
/// Returns the session and its token, which the caller hands to the client once.
pub async fn totp_step(
    state: &AppState,
    client: &ClientInfo,
    request: TotpRequest,
) -> Result<(SessionOpened, Zeroizing<String>)> {
    let now = state.now_ms();
    let user = second_step_user(state, client, &request.challenge, "login_totp", now).await?;
    let actor = actor_for(client, &user.login, Some(&user));
    // A role that requires a key: once the account has one, a code alone is refused (a
    // phishing page can relay a code, not a key's answer).
    if webauthn::required_for(&state.config, role_of(&user)?)
        && webauthn::has_keys(state, &user.id).await?
    {
        state
            .record_denial(
                actor,
                "login_totp",
                None,
                json!({ "reason": "webauthn_required" }),
            )
            .await;
        return Err(ApiError::Webauthn(WebauthnRefusal::Required));
    }
    let (sealed, enrolling) = match (&user.totp_secret_enc, &user.totp_pending_enc) {
        (Some(secret), _) => (secret.clone(), false),
        (None, Some(pending)) => (pending.clone(), true),
        (None, None) => return Err(ApiError::InvalidChallenge),
    };
    let secret = state
        .secrets
        .open(&user.id, &sealed)
        .map_err(ApiError::internal)?;
    let Some(step) = totp::matching_step(&secret, &user.login, &request.code, now) else {
        fail_attempt(state, client, &user.login, Some(&user), "bad_totp").await?;
        return Err(ApiError::InvalidTotp);
    };
    if !db::accounts::consume_totp_step(&state.db, &user.id, step).await? {
        fail_attempt(state, client, &user.login, Some(&user), "replayed_totp").await?;
        return Err(ApiError::InvalidTotp);
    }
    let mut user = user;
    if enrolling {
        user = db::accounts::find_user(&state.db, &user.id)
            .await?
            .ok_or(ApiError::InvalidChallenge)?;
        user.totp_secret_enc = Some(sealed);
        user.totp_pending_enc = None;
        user = db::accounts::update_user(&state.db, user).await?;
        state
            .record(
                actor.clone(),
                "totp_enrolled",
                Some(user.id.clone()),
                Outcome::Success,
                json!({}),
            )
            .await?;
    }
    open_session(state, client, user, request.bearer, "totp", None).await
}

/// The account of a valid second-step challenge, if it may still log in; otherwise the
/// denial of `action` is logged and the refusal returned.
pub(super) async fn second_step_user(
    state: &AppState,
    client: &ClientInfo,
    challenge: &str,
    action: &'static str,
    now: i64,
) -> Result<user::Model> {
    let user_id = parse_challenge(state, challenge, now);
    let Some(user_id) = user_id else {
        state
            .record_denial(
                client.anonymous_actor(),
                action,
                None,
                json!({ "reason": "invalid_challenge" }),
            )
            .await;
        return Err(ApiError::InvalidChallenge);
    };
    let Some(user) = db::accounts::find_user(&state.db, &user_id).await? else {
        return Err(ApiError::InvalidChallenge);
    };
    if state.throttle.ip_blocked(client.ip, now) {
        state
            .record_denial(
                actor_for(client, &user.login, Some(&user)),
                action,
                None,
                json!({ "reason": "ip_throttled" }),
            )
            .await;
        return Err(ApiError::TooManyAttempts);
    }
    refuse_locked_or_disabled(state, client, &user, action).await?;
    Ok(user)
}

/// Refuses (and logs) a locked or disabled account.
pub(super) async fn refuse_locked_or_disabled(
    state: &AppState,
    client: &ClientInfo,
    user: &user::Model,
    action: &'static str,
) -> Result<()> {
    let key = lockout::login_key(state, &user.login);
    if user.disabled
        || lockout::locked_until(state, &key, state.now_ms())
            .await?
            .is_some()
    {
        let (reason, error) = if user.disabled {
            ("account_disabled", ApiError::AccountDisabled)
        } else {
            ("account_locked", ApiError::AccountLocked)
        };
        state
            .record_denial(
                actor_for(client, &user.login, Some(user)),
                action,
                None,
                json!({ "reason": reason }),
            )
            .await;
        return Err(error);
    }
    Ok(())
}

fn role_of(user: &user::Model) -> Result<Role> {
    Role::parse(&user.role).ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown role")))
}

/// Opens a session after a successful second step (`method`: `totp`, `webauthn`,
/// `passwordless`, with the key used) and returns it with its token, which the caller
/// hands to the client once.
pub(super) async fn open_session(
    state: &AppState,
    client: &ClientInfo,
    user: user::Model,
    bearer: bool,
    method: &'static str,
    credential: Option<String>,
) -> Result<(SessionOpened, Zeroizing<String>)> {
    let now = state.now_ms();
    let actor = actor_for(client, &user.login, Some(&user));
    db::accounts::reset_login_failures(&state.db, &user.id).await?;
    let key = lockout::login_key(state, &user.login);
    lockout::clear(state, &key).await?;
    state.throttle.clear_login(&key);

    let kind = if bearer { "bearer" } else { "browser" };
    let (token, token_hash) =
        session::new_token(|buf| state.secrets.random(buf)).map_err(ApiError::internal)?;
    let expires_at = now + i64::from(state.config.session_absolute_hours) * 3_600_000;
    let session = db::sessions::insert(
        &state.db,
        db::entities::session::Model {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user.id.clone(),
            token_hash,
            kind: kind.to_owned(),
            created_at: now,
            last_seen_at: now,
            expires_at,
            ip: client.ip.map(|ip| ip.to_string()),
            user_agent: client.user_agent.clone(),
            revoked_at: None,
            device_id: None,
        },
    )
    .await?;
    let actor = Actor {
        session_id: Some(session.id.clone()),
        ..actor
    };
    let mut details = json!({ "session_kind": kind, "method": method });
    if let Some(credential) = credential {
        details["credential"] = json!(credential);
    }
    state
        .record(actor, "login", None, Outcome::Success, details)
        .await?;
    state.metrics.logins_succeeded.inc();
    let me = me_of(state, &user).await?;
    Ok((
        SessionOpened {
            session_id: session.id,
            token: None,
            expires_at,
            me,
        },
        token,
    ))
}

/// Counts a failed attempt everywhere it must count — the address's throttle and the
/// login's lock-out, the same way whether or not the login exists — and records it.
pub(super) async fn fail_attempt(
    state: &AppState,
    client: &ClientInfo,
    login: &str,
    user: Option<&user::Model>,
    reason: &'static str,
) -> Result<()> {
    let now = state.now_ms();
    let key = lockout::login_key(state, login);
    let actor = attempt_actor(client, login, &key, user);
    state.metrics.logins_failed.inc();
    state.throttle.record_failure(client.ip, &key, now);
    state
        .record(
            actor.clone(),
            "login",
            None,
            Outcome::Failure,
            json!({ "reason": reason, "known_login": user.is_some() }),
        )
        .await?;
    lockout::count_failure(state, &actor, &key, user.map(|u| u.id.as_str()), now).await
}

/// The user id of a valid, unexpired challenge.
fn parse_challenge(state: &AppState, challenge: &str, now: i64) -> Option<String> {
    let payload = state.secrets.verify_token(challenge)?;
    let mut parts = payload.split('|');
    let (Some("v1"), Some(user_id), Some(expires), Some(_nonce), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let expires: i64 = expires.parse().ok()?;
    (now < expires).then(|| user_id.to_owned())
}

/// The `Me` view of an account.
pub(crate) async fn me_of(state: &AppState, user: &user::Model) -> Result<Me> {
    let institution = db::accounts::find_institution(&state.db, &user.institution_id)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("account without institution")))?;
    let role = role_of(user)?;
    Ok(Me {
        must_register_security_key: webauthn::must_register(state, &user.id, role).await?,
        id: user.id.clone().into(),
        login: user.login.clone(),
        display_name: user.display_name.clone(),
        institution: InstitutionRef {
            id: institution.id.into(),
            name: institution.name,
        },
        role,
        attributes: Attributes {
            bound_by_professional_secrecy: user.bound_by_professional_secrecy,
            social_action_professional: user.social_action_professional,
        },
        password_change_required: user.password_change_required,
        coordinated_groups: db::group_coordinators::groups_of(&state.db, &user.id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    })
}
