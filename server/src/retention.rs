//! Background purges that run without anyone remembering them (CHARTER.md C11).
//!
//! Each pass is idempotent and a failing pass is logged and retried at the next tick:
//! a purge that fails must never stop the service.

use std::time::Duration;

use crate::db;
use crate::state::AppState;

/// How often the purge runs.
const EVERY: Duration = Duration::from_secs(3600);
/// Ended sessions are kept this long for the users' "my sessions" view, then deleted.
const ENDED_SESSIONS_KEPT_MS: i64 = 7 * 24 * 3_600_000;

/// One pass: deletes what has expired. Returns how many rows went.
pub async fn run_once(state: &AppState) -> anyhow::Result<u64> {
    let now = state.now_ms();
    let sessions = db::sessions::delete_ended(&state.db, now - ENDED_SESSIONS_KEPT_MS).await?;
    Ok(sessions)
}

/// Starts the periodic purge.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            match run_once(&state).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "retention purge"),
                Err(err) => {
                    tracing::error!(error = %format!("{err:#}"), "retention purge failed; retrying at the next pass")
                }
            }
        }
    })
}
