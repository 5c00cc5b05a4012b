//! Authentication (CHARTER.md C15): passwords, TOTP, passkeys and security keys,
//! sessions, throttling and the [`CurrentUser`] extractor every protected handler takes.

pub mod lockout;
pub mod login;
pub mod password;
pub mod provisional;
pub mod session;
pub mod totp;
pub mod webauthn;

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use passerelle_shared::protocol::v1::{Attributes, Role};
use serde_json::json;

use crate::audit::Actor;
use crate::config::Config;
use crate::db;
use crate::error::{ApiError, WebauthnRefusal};
use crate::policy::{self, Capability};
use crate::state::AppState;

/// Where a request comes from: its address (the proxy's `X-Forwarded-For` when the peer
/// is one of the configured `trusted_proxies`) and its user agent.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    /// Client address, when known.
    pub ip: Option<IpAddr>,
    /// `User-Agent`, truncated.
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// Reads the client's address and user agent from a request. `X-Forwarded-For` is
    /// believed only from a trusted proxy: from anyone else it would let a client choose
    /// the address its failures are counted against and the log shows.
    pub fn from_parts(parts: &Parts, config: &Config) -> ClientInfo {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let forwarded = peer
            .filter(|peer| config.is_trusted_proxy(*peer))
            .and_then(|_| forwarded_ip(&parts.headers));
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|ua| ua.chars().take(200).collect());
        ClientInfo {
            ip: forwarded.or(peer),
            user_agent,
        }
    }

    /// An actor known only by its address (before login).
    pub fn anonymous_actor(&self) -> Actor {
        Actor {
            ip: self.ip,
            ..Actor::default()
        }
    }
}

/// The address the trusted proxy appended last to `X-Forwarded-For`.
fn forwarded_ip(headers: &HeaderMap) -> Option<IpAddr> {
    headers
        .get("x-forwarded-for")?
        .to_str()
        .ok()?
        .rsplit(',')
        .next()?
        .trim()
        .parse()
        .ok()
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientInfo::from_parts(parts, &state.config))
    }
}

/// The authenticated account making a request.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    /// Account id.
    pub user_id: String,
    /// Login.
    pub login: String,
    /// Name shown to colleagues.
    pub display_name: String,
    /// Institution id.
    pub institution_id: String,
    /// Role.
    pub role: Role,
    /// Attributes checked by legal regimes.
    pub attributes: Attributes,
    /// The session's id.
    pub session_id: String,
    /// Where the request comes from.
    pub client: ClientInfo,
    /// The role requires a key and the account has none: the session may only register
    /// one (see [`webauthn`]).
    pub must_register_security_key: bool,
    /// The password is provisional: see [`provisional`].
    pub password_change_required: bool,
}

impl CurrentUser {
    /// The access-log actor for this user's requests.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user_id.clone()),
            login: Some(self.login.clone()),
            institution_id: Some(self.institution_id.clone()),
            session_id: Some(self.session_id.clone()),
            ip: self.client.ip,
        }
    }

    /// Allows the request if the role has `capability`; otherwise records the denial
    /// of `action` in the access log and refuses.
    pub async fn require(
        &self,
        state: &AppState,
        capability: Capability,
        action: &'static str,
    ) -> Result<(), ApiError> {
        if policy::role_can(self.role, capability) {
            return Ok(());
        }
        state
            .record_denial(
                self.actor(),
                action,
                None,
                json!({ "reason": "role", "role": self.role.as_str() }),
            )
            .await;
        Err(ApiError::Forbidden)
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let client = ClientInfo::from_parts(parts, &state.config);
        match authenticate(state, &parts.method, &parts.headers, client.clone()).await {
            // A provisional password comes first (its gate below is the stricter one): the
            // key is registered once the password is the owner's own.
            Ok(user)
                if user.must_register_security_key
                    && !user.password_change_required
                    && !registration_path(&full_path(parts)) =>
            {
                let path = full_path(parts);
                state
                    .record_denial(
                        user.actor(),
                        "request_before_key_registration",
                        None,
                        json!({ "reason": "webauthn_registration_required", "path": path }),
                    )
                    .await;
                Err(ApiError::Webauthn(WebauthnRefusal::RegistrationRequired))
            }
            Ok(user) => {
                // Under `nest`, `parts.uri` lost the `/api/v1` prefix; the original has it.
                let path = parts
                    .extensions
                    .get::<OriginalUri>()
                    .map_or_else(|| parts.uri.path().to_owned(), |uri| uri.path().to_owned());
                provisional::check(state, user, &parts.method, &path).await
            }
            Err(denial) => {
                let path = parts.uri.path().to_owned();
                state
                    .record_denial(
                        client.anonymous_actor(),
                        "request_unauthenticated",
                        None,
                        json!({ "reason": denial.code(), "path": path }),
                    )
                    .await;
                Err(denial)
            }
        }
    }
}

/// Finds the session of a request (bearer token or cookie) and its account, and checks
/// that both are still valid. Used by REST extractors and the WebSocket upgrade alike.
pub async fn authenticate(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    client: ClientInfo,
) -> Result<CurrentUser, ApiError> {
    let (token, from_cookie) = match session::bearer_token(headers) {
        Some(token) => (token, false),
        None => (
            session::cookie_token(headers).ok_or(ApiError::Unauthenticated)?,
            true,
        ),
    };
    // A cookie rides along with cross-site requests; SameSite=Strict stops most of them,
    // and this stops the rest: state changes must come from our own origin.
    if from_cookie
        && !is_safe_method(method)
        && !origin_matches(headers, &state.config.browser_origins())
    {
        return Err(ApiError::BadOrigin);
    }
    let now = state.now_ms();
    let session = db::sessions::find_by_token_hash(&state.db, &session::hash_token(&token))
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    let idle_ms = i64::from(state.config.session_idle_minutes) * 60_000;
    if session.revoked_at.is_some()
        || session.expires_at <= now
        || session.last_seen_at + idle_ms <= now
    {
        return Err(ApiError::Unauthenticated);
    }
    let user = db::accounts::find_user(&state.db, &session.user_id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    if user.disabled {
        return Err(ApiError::AccountDisabled);
    }
    let role = Role::parse(&user.role)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown role in database")))?;
    // Writing on every request would make reads cost a write; a minute's precision is
    // plenty for an idle timeout counted in tens of minutes.
    if now - session.last_seen_at > 60_000 {
        db::sessions::touch(&state.db, &session.id, now).await?;
    }
    let must_register_security_key = webauthn::must_register(state, &user.id, role).await?;
    Ok(CurrentUser {
        user_id: user.id,
        login: user.login,
        display_name: user.display_name,
        institution_id: user.institution_id,
        role,
        attributes: Attributes {
            bound_by_professional_secrecy: user.bound_by_professional_secrecy,
            social_action_professional: user.social_action_professional,
        },
        session_id: session.id,
        client,
        must_register_security_key,
        password_change_required: user.password_change_required,
    })
}

/// The request's path as the client sent it (a nested router sees it without its prefix).
fn full_path(parts: &Parts) -> String {
    parts
        .extensions
        .get::<OriginalUri>()
        .map_or_else(|| parts.uri.path(), |OriginalUri(uri)| uri.path())
        .to_owned()
}

/// What a session may reach before its account registers the key its role requires:
/// its own account, registering a key, and leaving.
fn registration_path(path: &str) -> bool {
    path == "/api/v1/me"
        || path == "/api/v1/me/security-keys"
        || path.starts_with("/api/v1/me/security-keys/")
        || path == "/api/v1/auth/logout"
}

fn is_safe_method(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether the request's `Origin` is ours. Browsers send it on every state-changing
/// request; its absence on a cookie-authenticated one is refused too.
pub fn origin_matches(headers: &HeaderMap, origins: &[String]) -> bool {
    headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| origins.iter().any(|o| value.trim_end_matches('/') == o))
}
