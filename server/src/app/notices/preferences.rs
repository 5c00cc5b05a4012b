//! Who gets offline notices: the address an administrator sets on an account, and the
//! person's own choice to receive them or not.

use passerelle_shared::protocol::v1::notices::NoticeSettings;
use serde_json::json;

use crate::audit::{Actor, Outcome};
use crate::auth::CurrentUser;
use crate::db;
use crate::error::{ApiError, Result};
use crate::state::AppState;

/// Longest address accepted (RFC 5321's limit on a path).
const MAX_EMAIL_CHARS: usize = 254;

/// The caller's notice settings, as their account page shows them.
pub async fn settings_of(state: &AppState, user: &CurrentUser) -> Result<NoticeSettings> {
    let account = db::accounts::find_user(&state.db, &user.user_id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    let opted_out = db::notices::find(&state.db, &user.user_id)
        .await?
        .is_some_and(|row| row.opted_out);
    Ok(NoticeSettings {
        available: state.config.notices.enabled,
        email: account.email,
        enabled: !opted_out,
    })
}

/// Turns the caller's own notices on or off.
pub async fn set_enabled(
    state: &AppState,
    user: &CurrentUser,
    enabled: bool,
) -> Result<NoticeSettings> {
    db::notices::set_opted_out(&state.db, &user.user_id, !enabled).await?;
    state
        .record(
            user.actor(),
            "offline_notices_changed",
            Some(user.user_id.clone()),
            Outcome::Success,
            json!({ "enabled": enabled }),
        )
        .await?;
    settings_of(state, user).await
}

/// Sets (or removes, with `None`) the e-mail address of account `id`. The access log
/// says that it changed, never the address.
pub async fn set_email(
    state: &AppState,
    actor: Actor,
    id: &str,
    email: Option<String>,
) -> Result<()> {
    let email = match email.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => match valid_email(text) {
            Some(address) => Some(address),
            None => {
                state
                    .record_denial(
                        actor,
                        "admin_user_email_change",
                        Some(id.to_owned()),
                        json!({ "reason": "invalid_email" }),
                    )
                    .await;
                return Err(ApiError::Unprocessable("invalid_email"));
            }
        },
    };
    let set = email.is_some();
    if !db::notices::set_email(&state.db, id, email).await? {
        return Err(ApiError::NotFound);
    }
    state
        .record(
            actor,
            "admin_user_email_changed",
            Some(id.to_owned()),
            Outcome::Success,
            json!({ "set": set }),
        )
        .await
}

/// `text` as an address a notice can go to: one mailbox, no display name, no line break.
fn valid_email(text: &str) -> Option<String> {
    if text.chars().count() > MAX_EMAIL_CHARS || text.chars().any(char::is_control) {
        return None;
    }
    text.parse::<lettre::Address>()
        .ok()
        .map(|address| address.to_string())
}

#[cfg(test)]
mod tests {
    use super::valid_email;

    #[test]
    fn only_a_plain_address_is_an_email() {
        assert_eq!(
            valid_email("m.durand@ville.example.fr").as_deref(),
            Some("m.durand@ville.example.fr")
        );
        for bad in [
            "m.durand",
            "Marie <m.durand@ville.example.fr>",
            "m.durand@ville.example.fr\r\nBcc: x@y.fr",
            "a@b@c",
        ] {
            assert_eq!(valid_email(bad), None, "{bad}");
        }
        assert_eq!(valid_email(&format!("{}@x.fr", "a".repeat(260))), None);
    }
}
