//! Lock-out after repeated failures (CHARTER.md C15; docs/OPERATIONS.md, "Lock-out").
//!
//! Every login string — an account's or one that exists nowhere — has one persisted row,
//! keyed by an HMAC of the string under the server's secret: the same failures lock both
//! alike, for the same time, on every node and across restarts, so the answers never tell
//! whether a login exists. After `lockout_threshold` consecutive failures (wrong
//! password, wrong TOTP code, wrong current password on `/me/password`) the login is
//! locked for `lockout_base_secs`; each further lock-out in a row doubles the delay, up
//! to `lockout_max_secs`. A lock-out expires on its own — one that anyone knowing a login
//! could make permanent would be a way to shut colleagues out — and a success, or an
//! admin's unlock, starts afresh. A streak quiet for `lockout_max_secs` starts afresh too.

use serde_json::json;

use crate::audit::{Actor, Outcome};
use crate::db;
use crate::error::Result;
use crate::state::AppState;

/// Shown instead of an unknown login in the access log: the prefix says what it is.
const HASH_PREFIX: &str = "hmac:";

/// The key of a login string: its HMAC under the server's secret, in hex.
pub fn login_key(state: &AppState, login: &str) -> String {
    state.secrets.login_hash(login)
}

/// How a login string that is no account's appears in the access log: its keyed hash
/// (128 bits), never the string, which may be a password typed in the wrong field.
/// Auditors can still see that attempts used the same string.
pub fn logged_login(key: &str) -> String {
    format!("{HASH_PREFIX}{}", key.get(..32).unwrap_or(key))
}

/// When the login's lock-out ends, if it is locked now.
pub async fn locked_until(state: &AppState, key: &str, now_ms: i64) -> Result<Option<i64>> {
    Ok(db::lockouts::find(&state.db, key)
        .await?
        .and_then(|row| row.locked_until)
        .filter(|until| *until > now_ms))
}

/// The length of the `n`-th lock-out in a row (from 0): the base delay doubled each time,
/// capped.
pub fn delay_ms(base_secs: u64, max_secs: u64, n: i64) -> i64 {
    let doublings = u32::try_from(n.clamp(0, 40)).unwrap_or(40);
    let delay = base_secs
        .saturating_mul(1u64 << doublings.min(40))
        .min(max_secs);
    i64::try_from(delay.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// Counts a failure of the login `key` (whoever `actor` is) and, when it reaches the
/// threshold, locks it and records `account_locked` (with `target`, the account's id when
/// there is one).
pub async fn count_failure(
    state: &AppState,
    actor: &Actor,
    key: &str,
    target: Option<&str>,
    now_ms: i64,
) -> Result<()> {
    let config = &state.config;
    let quiet_ms = i64::try_from(config.lockout_max_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let Some(row) =
        db::lockouts::add_failure(&state.db, key, now_ms.saturating_sub(quiet_ms), now_ms).await?
    else {
        return Ok(());
    };
    let threshold = i64::from(config.lockout_threshold);
    if row.failures < threshold {
        return Ok(());
    }
    let delay = delay_ms(
        config.lockout_base_secs,
        config.lockout_max_secs,
        row.lockouts,
    );
    let until = now_ms.saturating_add(delay);
    if db::lockouts::lock(&state.db, key, threshold, until).await? {
        if let Some(user_id) = target {
            // What the admin's account list shows; the lock itself is the row above.
            db::accounts::mark_locked(&state.db, user_id, now_ms).await?;
        }
        state
            .record(
                actor.clone(),
                "account_locked",
                target.map(str::to_owned),
                Outcome::Success,
                json!({
                    "failures": threshold,
                    "until_ms": until,
                    "lockouts_in_a_row": row.lockouts + 1,
                }),
            )
            .await?;
    }
    Ok(())
}

/// Forgets the login's failures and lock-outs (a success, an admin's unlock).
pub async fn clear(state: &AppState, key: &str) -> Result<()> {
    db::lockouts::clear(&state.db, key).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lockout_in_a_row_doubles_up_to_the_cap() {
        assert_eq!(delay_ms(60, 3600, 0), 60_000);
        assert_eq!(delay_ms(60, 3600, 1), 120_000);
        assert_eq!(delay_ms(60, 3600, 5), 1_920_000);
        assert_eq!(delay_ms(60, 3600, 6), 3_600_000);
        assert_eq!(delay_ms(60, 3600, 1_000), 3_600_000);
        assert_eq!(delay_ms(60, 3600, -1), 60_000);
    }

    #[test]
    fn an_unknown_login_is_logged_as_its_hash() {
        let key = "ab".repeat(32);
        let shown = logged_login(&key);
        assert_eq!(shown, format!("hmac:{}", "ab".repeat(16)));
    }
}
