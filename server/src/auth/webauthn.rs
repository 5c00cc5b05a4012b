//! Passkeys and security keys (WebAuthn, CHARTER.md C15): registration, the second step
//! after the password, passwordless sign-in, and the policy per role.
//!
//! A WebAuthn answer is bound to the site's origin by the browser, so a phishing page
//! that relays a password and a TOTP code in real time gets nothing it can use here.
//! The roles of `webauthn.required_roles` (admin and auditor by default) must use one:
//! once such an account has a key, a TOTP code alone no longer signs in; until it has
//! one, its sessions can only register one (the first login after creation or after the
//! admin's MFA reset). Everyone else is offered keys.
//!
//! The state of each ceremony is kept in the database (`webauthn_challenges`), not in a
//! node's memory: a ceremony begun on one node finishes on any other, once, before it
//! expires. Verification is `webauthn-rs`; the signature counter is also checked against
//! the stored one at finish time, so a replayed or cloned answer is refused even if two
//! ceremonies overlap.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use passerelle_shared::protocol::v1::auth::SessionOpened;
use passerelle_shared::protocol::v1::webauthn::{
    FinishRegistrationRequest, PasswordlessLoginRequest, RegisterKeyRequest, SecurityKey,
    WebauthnCeremony, WebauthnLoginRequest,
};
use passerelle_shared::protocol::v1::Role;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use webauthn_rs::prelude::{
    AuthenticationResult, Credential, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid,
    WebauthnError,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};
use zeroize::Zeroizing;

use super::{login, ClientInfo, CurrentUser};
use crate::audit::{Actor, Outcome};
use crate::config::Config;
use crate::db::entities::webauthn_credential as credential;
use crate::db::{self, entities::user, entities::webauthn_challenge as challenge};
use crate::error::{ApiError, Result, WebauthnRefusal};
use crate::state::AppState;

/// At most this many keys per account: enough for a spare in a drawer and a few
/// devices, and a bound on what one account can store.
const MAX_KEYS: u64 = 20;
/// Names of keys: 1 to this many characters.
const MAX_NAME_CHARS: usize = 100;

const PURPOSE_REGISTER: &str = "register";
const PURPOSE_LOGIN: &str = "login";
const PURPOSE_PASSWORDLESS: &str = "passwordless";

/// What a registration ceremony remembers between its two requests.
#[derive(serde::Serialize, serde::Deserialize)]
struct Registration {
    state: PasskeyRegistration,
    name: String,
    passwordless: bool,
}

/// The site's relying party, from the configuration (cheap: no keys, no I/O).
fn relying_party(config: &Config) -> Result<Webauthn> {
    let unavailable = || ApiError::Webauthn(WebauthnRefusal::Unavailable);
    let rp_id = config.webauthn_rp_id().ok_or_else(unavailable)?;
    let origins: Vec<Url> = config
        .webauthn_origins()
        .iter()
        .filter_map(|origin| Url::parse(origin).ok())
        .collect();
    let (first, others) = origins.split_first().ok_or_else(unavailable)?;
    let mut builder = WebauthnBuilder::new(&rp_id, first)
        .map_err(|_| unavailable())?
        .rp_name("Passerelle")
        .timeout(std::time::Duration::from_secs(u64::from(
            config.webauthn.challenge_ttl_secs,
        )));
    for origin in others {
        builder = builder.append_allowed_origin(origin);
    }
    builder.build().map_err(|_| unavailable())
}

/// Whether the configuration requires a key for `role`.
pub fn required_for(config: &Config, role: Role) -> bool {
    config
        .webauthn
        .required_roles
        .iter()
        .any(|name| Role::parse(name) == Some(role))
}

/// Whether an account must register a key before anything else: its role requires one
/// and it has none.
pub async fn must_register(state: &AppState, user_id: &str, role: Role) -> Result<bool> {
    if !required_for(&state.config, role) {
        return Ok(false);
    }
    Ok(db::webauthn::count_of(&state.db, user_id).await? == 0)
}

/// Whether an account has a key: then the password step asks for it.
pub async fn has_keys(state: &AppState, user_id: &str) -> Result<bool> {
    Ok(db::webauthn::count_of(&state.db, user_id).await? > 0)
}

/// The opaque user handle given to authenticators: derived from the account id, so that
/// it reveals nothing and needs no column.
fn user_handle(user_id: &str) -> Uuid {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("passerelle-webauthn-user|{user_id}").as_bytes(),
    );
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    Uuid::from_bytes(bytes)
}

fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(ApiError::internal)
}

fn from_json<T: DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(ApiError::internal)
}

/// Stores a ceremony's state and answers the options for the browser.
async fn store_ceremony(
    state: &AppState,
    user_id: Option<&str>,
    purpose: &str,
    ceremony_state: String,
    options: serde_json::Value,
) -> Result<WebauthnCeremony> {
    let now = state.now_ms();
    let expires_at = now + i64::from(state.config.webauthn.challenge_ttl_secs) * 1000;
    let id = Uuid::new_v4().to_string();
    db::webauthn::insert_challenge(
        &state.db,
        challenge::Model {
            id: id.clone(),
            user_id: user_id.map(str::to_owned),
            purpose: purpose.to_owned(),
            state: ceremony_state,
            expires_at,
        },
        now,
    )
    .await?;
    Ok(WebauthnCeremony {
        ceremony_id: id,
        options,
        expires_at,
    })
}

/// Takes a ceremony of `purpose` for `user_id` (None: passwordless), or records the
/// denial of `action` and refuses as expired. A ceremony id is used up even when it
/// belongs to someone else: it was guessed or stolen, and must not serve again.
async fn take_ceremony(
    state: &AppState,
    actor: &Actor,
    action: &'static str,
    id: &str,
    purpose: &str,
    user_id: Option<&str>,
) -> Result<String> {
    let now = state.now_ms();
    let found = if id.len() <= 64 {
        db::webauthn::take_challenge(&state.db, id, now).await?
    } else {
        None
    };
    match found {
        Some(row) if row.purpose == purpose && row.user_id.as_deref() == user_id => Ok(row.state),
        found => {
            let reason = if found.is_some() {
                "ceremony_mismatch"
            } else {
                "ceremony_expired"
            };
            state
                .record_denial(actor.clone(), action, None, json!({ "reason": reason }))
                .await;
            Err(ApiError::Webauthn(WebauthnRefusal::Expired))
        }
    }
}

/// What a verification error means to the person, and the reason the access log keeps.
fn classify(err: &WebauthnError) -> (WebauthnRefusal, String) {
    let refusal = match err {
        WebauthnError::InvalidRPOrigin | WebauthnError::InvalidRPIDHash => {
            WebauthnRefusal::WrongOrigin
        }
        _ => WebauthnRefusal::Failed,
    };
    (refusal, format!("{err:?}").chars().take(80).collect())
}

fn parse_credential<T: DeserializeOwned>(value: serde_json::Value) -> Option<T> {
    serde_json::from_value(value).ok()
}

/// The AAGUID (authenticator model) and attestation format an attestation object
/// declares: bytes 37..53 of its authenticator data.
fn attestation_facts(attestation_object: &[u8]) -> (Uuid, String) {
    use serde_cbor_2::Value;
    let mut aaguid = Uuid::nil();
    let mut format = String::from("unknown");
    if let Ok(Value::Map(map)) = serde_cbor_2::from_slice::<Value>(attestation_object) {
        for (key, value) in map {
            match (key, value) {
                (Value::Text(key), Value::Text(fmt)) if key == "fmt" => {
                    format = fmt.chars().take(32).collect();
                }
                (Value::Text(key), Value::Bytes(auth_data)) if key == "authData" => {
                    if let Some(bytes) = auth_data.get(37..53) {
                        if let Ok(found) = Uuid::from_slice(bytes) {
                            aaguid = found;
                        }
                    }
                }
                _ => {}
            }
        }
    }
    (aaguid, format)
}

fn view(row: &credential::Model) -> SecurityKey {
    SecurityKey {
        id: row.id.clone(),
        name: row.name.clone(),
        passwordless: row.discoverable,
        aaguid: row.aaguid.clone(),
        created_at: row.created_at,
        last_used_at: row.last_used_at,
    }
}

fn valid_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::Unprocessable("invalid_key_name"));
    }
    Ok(name.to_owned())
}

/// `POST /api/v1/me/security-keys/register`: the options for `navigator.credentials.create()`.
pub async fn begin_registration(
    state: &AppState,
    user: &CurrentUser,
    request: RegisterKeyRequest,
) -> Result<WebauthnCeremony> {
    let name = match valid_name(&request.name) {
        Ok(name) => name,
        Err(err) => {
            state
                .record_denial(
                    user.actor(),
                    "webauthn_register",
                    None,
                    json!({ "reason": "invalid_name" }),
                )
                .await;
            return Err(err);
        }
    };
    let webauthn = relying_party(&state.config)?;
    let existing = db::webauthn::credentials_of(&state.db, &user.user_id).await?;
    if existing.len() as u64 >= MAX_KEYS {
        state
            .record_denial(
                user.actor(),
                "webauthn_register",
                None,
                json!({ "reason": "too_many_keys" }),
            )
            .await;
        return Err(ApiError::Unprocessable("too_many_keys"));
    }
    let exclude = existing
        .iter()
        .filter_map(|row| from_json::<Passkey>(&row.passkey).ok())
        .map(|passkey| passkey.cred_id().clone())
        .collect::<Vec<_>>();
    let (mut options, registration) = webauthn
        .start_passkey_registration(
            user_handle(&user.user_id),
            &user.login,
            &user.display_name,
            Some(exclude),
        )
        .map_err(ApiError::internal)?;
    if request.passwordless {
        // A passkey that signs in alone must live on the authenticator (discoverable).
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(webauthn_rs_proto::ResidentKeyRequirement::Required);
            selection.require_resident_key = true;
        }
    }
    let remembered = to_json(&Registration {
        state: registration,
        name,
        passwordless: request.passwordless,
    })?;
    let options = serde_json::to_value(&options).map_err(ApiError::internal)?;
    store_ceremony(
        state,
        Some(&user.user_id),
        PURPOSE_REGISTER,
        remembered,
        options,
    )
    .await
}

/// `POST /api/v1/me/security-keys/register/finish`: verifies the new credential and
/// stores it with its attestation.
pub async fn finish_registration(
    state: &AppState,
    user: &CurrentUser,
    request: FinishRegistrationRequest,
) -> Result<SecurityKey> {
    const ACTION: &str = "webauthn_register";
    let actor = user.actor();
    let Some(answer) = parse_credential::<RegisterPublicKeyCredential>(request.credential) else {
        state
            .record_denial(
                actor,
                ACTION,
                None,
                json!({ "reason": "malformed_credential" }),
            )
            .await;
        return Err(ApiError::BadRequest("credential".into()));
    };
    let remembered = take_ceremony(
        state,
        &actor,
        ACTION,
        &request.ceremony_id,
        PURPOSE_REGISTER,
        Some(&user.user_id),
    )
    .await?;
    let registration: Registration = from_json(&remembered)?;
    let webauthn = relying_party(&state.config)?;
    let passkey = match webauthn.finish_passkey_registration(&answer, &registration.state) {
        Ok(passkey) => passkey,
        Err(err) => {
            let (refusal, reason) = classify(&err);
            state
                .record(
                    actor,
                    "webauthn_registration_failed",
                    Some(user.user_id.clone()),
                    Outcome::Failure,
                    json!({ "reason": reason }),
                )
                .await?;
            return Err(ApiError::Webauthn(refusal));
        }
    };
    let (aaguid, format) = attestation_facts(&answer.response.attestation_object);
    let allowed = &state.config.webauthn.admin_aaguids;
    if user.role == Role::Admin
        && !allowed.is_empty()
        && !allowed
            .iter()
            .any(|model| Uuid::parse_str(model).ok() == Some(aaguid))
    {
        state
            .record_denial(
                actor,
                ACTION,
                None,
                json!({ "reason": "model_not_allowed", "aaguid": aaguid.to_string() }),
            )
            .await;
        return Err(ApiError::Webauthn(WebauthnRefusal::ModelNotAllowed));
    }
    let raw_id: &[u8] = passkey.cred_id().as_ref();
    let id = B64.encode(raw_id);
    if db::webauthn::find_credential(&state.db, &id)
        .await?
        .is_some()
    {
        state
            .record_denial(
                actor,
                ACTION,
                None,
                json!({ "reason": "already_registered" }),
            )
            .await;
        return Err(ApiError::Webauthn(WebauthnRefusal::AlreadyRegistered));
    }
    let counter = i64::from(Credential::from(passkey.clone()).counter);
    let now = state.now_ms();
    let row = db::webauthn::insert_credential(
        &state.db,
        credential::Model {
            id: id.clone(),
            user_id: user.user_id.clone(),
            name: registration.name,
            passkey: to_json(&passkey)?,
            discoverable: registration.passwordless,
            aaguid: aaguid.to_string(),
            attestation_format: format.clone(),
            attestation: B64.encode(&answer.response.attestation_object),
            counter,
            created_at: now,
            last_used_at: None,
        },
    )
    .await?;
    state
        .record(
            actor,
            "webauthn_registered",
            Some(user.user_id.clone()),
            Outcome::Success,
            json!({
                "credential": id,
                "aaguid": aaguid.to_string(),
                "format": format,
                "passwordless": row.discoverable,
            }),
        )
        .await?;
    Ok(view(&row))
}

/// The ceremony of the second step, for the password step of an account that has keys.
pub(super) async fn begin_login(state: &AppState, user: &user::Model) -> Result<WebauthnCeremony> {
    let webauthn = relying_party(&state.config)?;
    let passkeys = db::webauthn::credentials_of(&state.db, &user.id)
        .await?
        .iter()
        .map(|row| from_json::<Passkey>(&row.passkey))
        .collect::<Result<Vec<_>>>()?;
    let (options, authentication) = webauthn
        .start_passkey_authentication(&passkeys)
        .map_err(ApiError::internal)?;
    let options = serde_json::to_value(&options).map_err(ApiError::internal)?;
    store_ceremony(
        state,
        Some(&user.id),
        PURPOSE_LOGIN,
        to_json(&authentication)?,
        options,
    )
    .await
}

/// `POST /api/v1/auth/webauthn`: the second step with a key; opens a session.
pub async fn finish_login(
    state: &AppState,
    client: &ClientInfo,
    request: WebauthnLoginRequest,
) -> Result<(SessionOpened, Zeroizing<String>)> {
    const ACTION: &str = "login_webauthn";
    let now = state.now_ms();
    let user = login::second_step_user(state, client, &request.challenge, ACTION, now).await?;
    let actor = login::actor_for(client, &user.login, Some(&user));
    let remembered = take_ceremony(
        state,
        &actor,
        ACTION,
        &request.ceremony_id,
        PURPOSE_LOGIN,
        Some(&user.id),
    )
    .await?;
    let authentication: PasskeyAuthentication = from_json(&remembered)?;
    let Some(answer) = parse_credential::<PublicKeyCredential>(request.credential) else {
        state
            .record_denial(
                actor,
                ACTION,
                None,
                json!({ "reason": "malformed_credential" }),
            )
            .await;
        return Err(ApiError::BadRequest("credential".into()));
    };
    let row = own_credential(state, client, &user, &answer).await?;
    let webauthn = relying_party(&state.config)?;
    let verified = webauthn.finish_passkey_authentication(&answer, &authentication);
    let used = record_verification(state, client, &user, &row, verified).await?;
    login::open_session(state, client, user, request.bearer, "webauthn", Some(used)).await
}

/// `POST /api/v1/auth/passwordless`: the options for `navigator.credentials.get()`
/// without a login, for passkeys kept on the authenticator.
pub async fn begin_passwordless(state: &AppState, client: &ClientInfo) -> Result<WebauthnCeremony> {
    if state.throttle.ip_blocked(client.ip, state.now_ms()) {
        state
            .record_denial(
                client.anonymous_actor(),
                "login_passwordless",
                None,
                json!({ "reason": "ip_throttled" }),
            )
            .await;
        return Err(ApiError::TooManyAttempts);
    }
    let webauthn = relying_party(&state.config)?;
    let (mut options, authentication) = webauthn
        .start_discoverable_authentication()
        .map_err(ApiError::internal)?;
    // The sign-in page asks on a button press, not in the login field's autofill.
    options.mediation = None;
    let options = serde_json::to_value(&options).map_err(ApiError::internal)?;
    store_ceremony(
        state,
        None,
        PURPOSE_PASSWORDLESS,
        to_json(&authentication)?,
        options,
    )
    .await
}

/// `POST /api/v1/auth/passwordless/finish`: finds the account by its passkey, verifies
/// the answer and opens a session.
pub async fn finish_passwordless(
    state: &AppState,
    client: &ClientInfo,
    request: PasswordlessLoginRequest,
) -> Result<(SessionOpened, Zeroizing<String>)> {
    const ACTION: &str = "login_passwordless";
    let anonymous = client.anonymous_actor();
    if state.throttle.ip_blocked(client.ip, state.now_ms()) {
        state
            .record_denial(anonymous, ACTION, None, json!({ "reason": "ip_throttled" }))
            .await;
        return Err(ApiError::TooManyAttempts);
    }
    let remembered = take_ceremony(
        state,
        &anonymous,
        ACTION,
        &request.ceremony_id,
        PURPOSE_PASSWORDLESS,
        None,
    )
    .await?;
    let authentication: DiscoverableAuthentication = from_json(&remembered)?;
    let Some(answer) = parse_credential::<PublicKeyCredential>(request.credential) else {
        state
            .record_denial(
                anonymous,
                ACTION,
                None,
                json!({ "reason": "malformed_credential" }),
            )
            .await;
        return Err(ApiError::BadRequest("credential".into()));
    };
    let webauthn = relying_party(&state.config)?;
    let handle = webauthn
        .identify_discoverable_authentication(&answer)
        .ok()
        .map(|(handle, _)| handle);
    let id = B64.encode(answer.get_credential_id());
    let row = match db::webauthn::find_credential(&state.db, &id).await? {
        Some(row) if row.discoverable && Some(user_handle(&row.user_id)) == handle => row,
        _ => {
            state.metrics.logins_failed.inc();
            state.throttle.record_failure(client.ip, "", state.now_ms());
            state
                .record(
                    anonymous,
                    "webauthn_failed",
                    None,
                    Outcome::Failure,
                    json!({ "reason": "unknown_credential", "passwordless": true }),
                )
                .await?;
            return Err(ApiError::Webauthn(WebauthnRefusal::UnknownCredential));
        }
    };
    let Some(user) = db::accounts::find_user(&state.db, &row.user_id).await? else {
        return Err(ApiError::Webauthn(WebauthnRefusal::UnknownCredential));
    };
    login::refuse_locked_or_disabled(state, client, &user, ACTION).await?;
    let passkey: Passkey = from_json(&row.passkey)?;
    let credential = Credential::from(passkey);
    let verified =
        webauthn.finish_discoverable_authentication_v2(&answer, authentication, &credential);
    let used = record_verification(state, client, &user, &row, verified).await?;
    login::open_session(
        state,
        client,
        user,
        request.bearer,
        "passwordless",
        Some(used),
    )
    .await
}

/// The stored credential an answer names, if it is one of `user`'s; otherwise the
/// failure is counted (lock-out, throttle) and logged.
async fn own_credential(
    state: &AppState,
    client: &ClientInfo,
    user: &user::Model,
    answer: &PublicKeyCredential,
) -> Result<credential::Model> {
    let id = B64.encode(answer.get_credential_id());
    match db::webauthn::find_credential(&state.db, &id).await? {
        Some(row) if row.user_id == user.id => Ok(row),
        other => {
            let reason = if other.is_some() {
                "another_accounts_credential"
            } else {
                "unknown_credential"
            };
            login::fail_attempt(state, client, &user.login, Some(user), reason).await?;
            record_failure(state, client, user, None, reason).await?;
            Err(ApiError::Webauthn(WebauthnRefusal::UnknownCredential))
        }
    }
}

async fn record_failure(
    state: &AppState,
    client: &ClientInfo,
    user: &user::Model,
    credential_id: Option<&str>,
    reason: &str,
) -> Result<()> {
    state
        .record(
            login::actor_for(client, &user.login, Some(user)),
            "webauthn_failed",
            credential_id.map(str::to_owned),
            Outcome::Failure,
            json!({ "reason": reason }),
        )
        .await
}

/// After the verifier's answer: refuses (counting the failure) or records the use,
/// moving the stored counter forward only from the value read now, so that an answer
/// whose counter does not exceed it (replayed, or from a clone) is refused. Returns the
/// credential id.
async fn record_verification(
    state: &AppState,
    client: &ClientInfo,
    user: &user::Model,
    row: &credential::Model,
    verified: std::result::Result<AuthenticationResult, WebauthnError>,
) -> Result<String> {
    let result = match verified {
        Ok(result) => result,
        Err(err) => {
            let (refusal, reason) = classify(&err);
            login::fail_attempt(state, client, &user.login, Some(user), "bad_webauthn").await?;
            record_failure(state, client, user, Some(&row.id), &reason).await?;
            return Err(ApiError::Webauthn(refusal));
        }
    };
    let counter = i64::from(result.counter());
    if (counter > 0 || row.counter > 0) && counter <= row.counter {
        login::fail_attempt(state, client, &user.login, Some(user), "bad_webauthn").await?;
        record_failure(state, client, user, Some(&row.id), "counter_not_increased").await?;
        return Err(ApiError::Webauthn(WebauthnRefusal::Failed));
    }
    let mut passkey: Passkey = from_json(&row.passkey)?;
    passkey.update_credential(&result);
    let recorded = db::webauthn::record_use(
        &state.db,
        &row.id,
        row.counter,
        to_json(&passkey)?,
        counter.max(row.counter),
        state.now_ms(),
    )
    .await?;
    if !recorded {
        login::fail_attempt(state, client, &user.login, Some(user), "bad_webauthn").await?;
        record_failure(state, client, user, Some(&row.id), "concurrent_use").await?;
        return Err(ApiError::Webauthn(WebauthnRefusal::Failed));
    }
    state
        .record(
            login::actor_for(client, &user.login, Some(user)),
            "webauthn_used",
            Some(row.id.clone()),
            Outcome::Success,
            json!({ "counter": counter }),
        )
        .await?;
    Ok(row.id.clone())
}

/// `GET /api/v1/me/security-keys`.
pub async fn list(state: &AppState, user: &CurrentUser) -> Result<Vec<SecurityKey>> {
    Ok(db::webauthn::credentials_of(&state.db, &user.user_id)
        .await?
        .iter()
        .map(view)
        .collect())
}

/// `PATCH /api/v1/me/security-keys/{id}`.
pub async fn rename(state: &AppState, user: &CurrentUser, id: &str, name: &str) -> Result<()> {
    let name = valid_name(name)?;
    if !db::webauthn::rename(&state.db, &user.user_id, id, &name).await? {
        state
            .record_denial(
                user.actor(),
                "webauthn_rename",
                Some(id.chars().take(200).collect()),
                json!({ "reason": "not_own_key" }),
            )
            .await;
        return Err(ApiError::NotFound);
    }
    state
        .record(
            user.actor(),
            "webauthn_renamed",
            Some(id.to_owned()),
            Outcome::Success,
            json!({}),
        )
        .await
}

/// `DELETE /api/v1/me/security-keys/{id}`. The last key of an account whose role requires
/// one stays: losing every key is the admin's MFA reset, which also ends every session.
pub async fn remove(state: &AppState, user: &CurrentUser, id: &str) -> Result<()> {
    let target: String = id.chars().take(200).collect();
    let keys = db::webauthn::credentials_of(&state.db, &user.user_id).await?;
    if !keys.iter().any(|row| row.id == id) {
        state
            .record_denial(
                user.actor(),
                "webauthn_remove",
                Some(target),
                json!({ "reason": "not_own_key" }),
            )
            .await;
        return Err(ApiError::NotFound);
    }
    if keys.len() == 1 && required_for(&state.config, user.role) {
        state
            .record_denial(
                user.actor(),
                "webauthn_remove",
                Some(target),
                json!({ "reason": "last_required_key" }),
            )
            .await;
        return Err(ApiError::Webauthn(WebauthnRefusal::LastRequired));
    }
    if !db::webauthn::remove(&state.db, &user.user_id, id).await? {
        return Err(ApiError::NotFound);
    }
    state
        .record(
            user.actor(),
            "webauthn_removed",
            Some(target),
            Outcome::Success,
            json!({ "by": "owner" }),
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_handles_are_stable_and_distinct() {
        assert_eq!(user_handle("a"), user_handle("a"));
        assert_ne!(user_handle("a"), user_handle("b"));
    }

    #[test]
    fn key_names_are_bounded_and_printable() {
        assert_eq!(
            valid_name("  Clé bleue ").ok().as_deref(),
            Some("Clé bleue")
        );
        assert!(valid_name("").is_err());
        assert!(valid_name("a\u{7}b").is_err());
        assert!(valid_name(&"x".repeat(101)).is_err());
    }

    #[test]
    fn a_garbled_attestation_declares_no_model() {
        let (aaguid, format) = attestation_facts(b"not cbor");
        assert!(aaguid.is_nil());
        assert_eq!(format, "unknown");
    }
}
