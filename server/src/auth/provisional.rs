//! Provisional passwords (CHARTER.md C15): a password an administrator generated (a new
//! account, a reset) is known to two people. Until its owner replaces it, the session it
//! opened may only say who it is, change the password, or log out: every other request
//! (and the WebSocket) is refused and the refusal logged.

use axum::http::Method;
use passerelle_shared::protocol::v1::routes;
use serde_json::json;

use super::CurrentUser;
use crate::error::ApiError;
use crate::state::AppState;

/// What a session with a provisional password may still do.
fn allowed(method: &Method, path: &str) -> bool {
    let Some(path) = path.strip_prefix(routes::API_BASE) else {
        return false;
    };
    [routes::ME, routes::PASSWORD_CHANGE, routes::LOGOUT]
        .iter()
        .any(|route| route.method.as_str() == method.as_str() && route.path == path)
}

/// Lets the request through, or refuses it while the password is provisional.
pub(crate) async fn check(
    state: &AppState,
    user: CurrentUser,
    method: &Method,
    path: &str,
) -> Result<CurrentUser, ApiError> {
    if !user.password_change_required || allowed(method, path) {
        return Ok(user);
    }
    refuse(state, &user, path).await;
    Err(ApiError::PasswordChangeRequired)
}

/// Logs the refusal of `what` (a path, or `ws` for the WebSocket).
pub async fn refuse(state: &AppState, user: &CurrentUser, what: &str) {
    state
        .record_denial(
            user.actor(),
            "password_change_required",
            None,
            json!({ "path": what }),
        )
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_password_change_me_and_logout_pass() {
        assert!(allowed(&Method::POST, "/api/v1/me/password"));
        assert!(allowed(&Method::GET, "/api/v1/me"));
        assert!(allowed(&Method::POST, "/api/v1/auth/logout"));
        assert!(!allowed(&Method::GET, "/api/v1/channels"));
        assert!(!allowed(&Method::POST, "/api/v1/me"));
        assert!(!allowed(&Method::GET, "/api/v1/me/password/../../channels"));
    }
}
