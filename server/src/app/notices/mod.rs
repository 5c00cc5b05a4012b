//! Offline notices: professionals are not in the app all day, so a member who has unread
//! messages and no connection open anywhere for `notices.offline_minutes` gets one e-mail
//! that says only « Vous avez de nouveaux messages sur Passerelle » and the site's
//! address, at most once per `notices.period_minutes` (see [`mailer`] for why it says no
//! more).
//!
//! Each pass:
//!
//! 1. records that this node's connected accounts are online now (each node does it for
//!    its own connections, and at every connection's start and end: the `last_online_at`
//!    of an account is the last time any node saw it connected);
//! 2. for each enabled account with an address and no opt-out, away long enough and not
//!    notified within the period, looks for a message of someone else, unread, stored
//!    since it was last online or notified;
//! 3. **claims** the notice in the database (a compare-and-set on `notified_at`), so that
//!    of the nodes of a cluster running the pass at once exactly one sends it;
//! 4. sends it; a refusal or an unreachable relay gives the claim back, so that a later
//!    pass tries again, and stops the pass when the relay itself is at fault.
//!
//! Every notice sent or failed is in the access log (the account, never the address) and
//! counted in the metrics. The pass runs beside message delivery, never in its way: a
//! slow or refusing relay delays only the next notice. Time comes from the injected clock
//! and tests call [`run_once`] instead of waiting for the job.

pub(crate) mod mailer;
pub mod preferences;

use std::time::Duration;

use serde_json::json;

use crate::audit::{Actor, Outcome};
use crate::db;
use crate::state::AppState;

use mailer::{Mailer, SendFailure};

/// What a pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Accounts notified.
    pub sent: Vec<String>,
    /// Accounts whose notice failed (tried again at a later pass).
    pub failed: Vec<String>,
}

/// The actor the job records its actions as.
fn job_actor() -> Actor {
    Actor {
        login: Some("notices".into()),
        ..Actor::default()
    }
}

/// One pass (nothing when notices are off).
pub async fn run_once(state: &AppState) -> anyhow::Result<PassReport> {
    let notices = &state.config.notices;
    let mut report = PassReport::default();
    if !notices.enabled {
        return Ok(report);
    }
    let now = state.now_ms();
    db::notices::mark_online(&state.db, &state.hub.connected_users(), now).await?;
    let mailer = Mailer::from_config(&state.config)?;
    let away_since = now - i64::from(notices.offline_minutes) * 60_000;
    let period_start = now - i64::from(notices.period_minutes) * 60_000;
    for recipient in db::notices::recipients(&state.db).await? {
        let (last_online, notified) = recipient
            .state
            .as_ref()
            .map_or((None, None), |row| (row.last_online_at, row.notified_at));
        if last_online.is_some_and(|at| at > away_since)
            || notified.is_some_and(|at| at > period_start)
        {
            continue;
        }
        // Only what came after they last looked or were told: the same unread messages
        // never bring a second notice.
        let since = last_online.max(notified).unwrap_or(i64::MIN);
        if !db::notices::has_unread_since(&state.db, &recipient.user_id, since).await? {
            continue;
        }
        if !db::notices::claim(&state.db, &recipient.user_id, notified, now).await? {
            continue; // Another node took it.
        }
        match mailer.send(&recipient.email).await {
            Ok(()) => {
                state.metrics.notices_sent.inc();
                record(state, &recipient.user_id, None).await;
                report.sent.push(recipient.user_id);
            }
            Err(failure) => {
                state.metrics.notices_failed.inc();
                db::notices::release(&state.db, &recipient.user_id, now, notified).await?;
                record(state, &recipient.user_id, Some(&failure)).await;
                report.failed.push(recipient.user_id);
                // The relay, not this address, is at fault: the others wait for the next
                // pass rather than each wait for the same timeout.
                if matches!(failure.kind, "unreachable" | "timeout" | "tls") {
                    break;
                }
            }
        }
    }
    Ok(report)
}

/// Records a notice sent (`failure` absent) or failed. A recording failure is logged:
/// the notice is sent already (or given back), and says nothing anyone could read.
async fn record(state: &AppState, user_id: &str, failure: Option<&SendFailure>) {
    let (action, outcome, details) = match failure {
        None => ("offline_notice_sent", Outcome::Success, json!({})),
        Some(failure) => (
            "offline_notice_failed",
            Outcome::Failure,
            json!({ "reason": failure.kind, "smtp_code": failure.code }),
        ),
    };
    if let Err(err) = state
        .record(
            job_actor(),
            action,
            Some(user_id.to_owned()),
            outcome,
            details,
        )
        .await
    {
        tracing::error!(error = %err, action, "could not record an offline notice in the access log");
    }
}

/// Records that `user_id` had a connection open now (a connection that starts or ends),
/// so that the delay before a notice counts from the moment they left.
pub async fn seen_online(state: &AppState, user_id: &str) {
    if !state.config.notices.enabled {
        return;
    }
    if let Err(err) =
        db::notices::mark_online(&state.db, &[user_id.to_owned()], state.now_ms()).await
    {
        tracing::warn!(error = %err, "could not record a connection for the offline notices");
    }
}

/// Aborts a pass still running when the job stops with the server.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the periodic job when notices are on: a pass every `notices.interval_secs`.
pub fn spawn(state: AppState) -> Option<tokio::task::JoinHandle<()>> {
    if !state.config.notices.enabled {
        return None;
    }
    Some(tokio::spawn(async move {
        let every = Duration::from_secs(state.config.notices.interval_secs.max(1));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let pass_state = state.clone();
            // A pass runs in a task of its own: even a panic ends only that pass.
            let pass = tokio::spawn(async move { run_once(&pass_state).await });
            let _abort = AbortOnDrop(pass.abort_handle());
            match pass.await {
                Ok(Ok(report)) => {
                    if !report.failed.is_empty() {
                        tracing::warn!(
                            sent = report.sent.len(),
                            failed = report.failed.len(),
                            "offline notices could not all be sent; retrying at a later pass"
                        );
                    }
                }
                Ok(Err(err)) => {
                    tracing::error!(error = %format!("{err:#}"), "offline notice pass failed; retrying at the next pass")
                }
                Err(err) => {
                    tracing::error!(error = %err, "offline notice pass panicked; retrying at the next pass")
                }
            }
        }
    }))
}
