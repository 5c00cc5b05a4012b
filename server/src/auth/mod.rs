//! Authentication (CHARTER.md C15): passwords, TOTP, sessions, throttling and the
//! [`CurrentUser`] extractor every protected handler takes.

pub mod login;
pub mod password;
pub mod provisional;
pub mod session;
pub mod totp;

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use passerelle_shared::protocol::v1::{Attributes, Role};
use serde_json::json;

use crate::audit::Actor;
use crate::db;
use crate::error::ApiError;
use crate::policy::{self, Capability};
use crate::state::AppState;

/// Where a request comes from: its address (the proxy's `X-Forwarded-For` when
/// `behind_proxy`) and its user agent.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    /// Client address, when known.
    pub ip: Option<IpAddr>,
    /// `User-Agent`, truncated.
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// Reads the client's address and user agent from a request.
    pub fn from_parts(parts: &Parts, behind_proxy: bool) -> ClientInfo {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let forwarded = behind_proxy.then(|| forwarded_ip(&parts.headers)).flatten();
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
        Ok(ClientInfo::from_parts(parts, state.config.behind_proxy))
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
        let client = ClientInfo::from_parts(parts, state.config.behind_proxy);
        match authenticate(state, &parts.method, &parts.headers, client.clone()).await {
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
    if from_cookie && !is_safe_method(method) && !origin_matches(headers, &state.config.origin()) {
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
        password_change_required: user.password_change_required,
    })
}

fn is_safe_method(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether the request's `Origin` is ours. Browsers send it on every state-changing
/// request; its absence on a cookie-authenticated one is refused too.
pub fn origin_matches(headers: &HeaderMap, origin: &str) -> bool {
    headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_end_matches('/') == origin)
}
