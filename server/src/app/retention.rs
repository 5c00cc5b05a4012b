//! The retention job (CHARTER.md C11): background purges that run without anyone
//! remembering them.
//!
//! Each pass:
//!
//! 1. deletes ended login sessions and expired archive accesses;
//! 2. **destroys** the channels whose `destroy_by` has come (cases, practice sessions) —
//!    crypto-shredding: ciphertext, wrapped keys, attachments (rows and blobs), members
//!    and their receipts, the allow-list, rules, the case record; the channel row stays
//!    as an empty tombstone (kind and dates, no name) for the annual counts (C14);
//! 3. **purges aged history** of working groups and direct conversations: messages and
//!    attachments older than their configured retention, and the wrapped keys of the
//!    epochs no remaining message uses.
//!
//! A destruction is crash-safe and idempotent: the channel is first marked `destroying`
//! (from then on nothing reads or writes it); connected members are told to drop their
//! keys (`channel_destroyed`) and stop receiving it; its rows go in one transaction, then
//! its blobs; the destruction is recorded in the access log; only then is the channel
//! marked `destroyed`. A pass that stops anywhere is resumed by the next one, which starts
//! with the channels left `destroying`. An aged-history purge deletes the blobs first and
//! the rows after, so that a crash leaves rows to delete again, never an orphaned blob.
//!
//! A failing channel does not stop the others; a failing pass is logged and retried at
//! the next tick; a panicking pass ends only itself: a purge that fails never stops the
//! service. Time comes from the injected clock, so tests move it instead of waiting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex, OnceLock};
use std::time::Duration;

use passerelle_shared::protocol::v1::ws::ServerFrame;
use serde_json::json;

use crate::app::attachments;
use crate::app::channels::frame_text;
use crate::audit::{Actor, Outcome};
use crate::bus::BusEvent;
use crate::clock::months_before;
use crate::db::{self, entities::channel};
use crate::state::AppState;

/// Ended sessions are kept this long for the users' "my sessions" view, then deleted.
const ENDED_SESSIONS_KEPT_MS: i64 = 7 * 24 * 3_600_000;

/// Where a test may make a pass stop as a crash would (see [`run_pass`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailPoint {
    /// Right after a channel is marked `destroying`: nothing else done.
    AfterMarking,
    /// After a channel's rows are deleted, before its blobs are.
    AfterRows,
}

/// What a pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Ended login sessions deleted.
    pub sessions: u64,
    /// Expired archive accesses deleted.
    pub archive_accesses: u64,
    /// Overdue cases newly proposed for closing (C11).
    pub cases_proposed_for_closing: u64,
    /// Overdue cases archived after the delay (C11).
    pub cases_archived: u64,
    /// Channels destroyed by this pass (resumed ones included).
    pub destroyed: Vec<String>,
    /// Messages deleted from channels whose history aged out.
    pub purged_messages: u64,
    /// Attachments deleted from channels whose history aged out.
    pub purged_attachments: u64,
    /// Referrals never accepted, deleted once the conversation their note was sealed for
    /// has aged out (`retention.direct_months` after their last change).
    pub purged_referrals: u64,
    /// Wrapped epoch keys deleted unacknowledged after `retention.wrap_retention_days`
    /// (docs/PROTOCOL.md §23.3).
    pub expired_wraps: u64,
    /// Channels this pass failed on (retried at the next pass).
    pub failed: Vec<String>,
}

/// One pass: destroys and purges what has expired.
pub async fn run_once(state: &AppState) -> anyhow::Result<PassReport> {
    run_pass(state, None).await
}

/// The lock that keeps two passes over one database of this process from interleaving
/// (the periodic job and an operator's or a test's explicit pass); passes of several
/// nodes may still overlap, which only duplicates idempotent work.
fn pass_lock(state: &AppState) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<StdMutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
        OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    locks
        .entry(state.config.database_url())
        .or_default()
        .clone()
}

/// One pass that, with `fail_at`, stops at that point of the first destruction and
/// returns an error, leaving the database and the disk as a crash there would: the next
/// pass must resume cleanly. `None` is the normal pass.
pub async fn run_pass(state: &AppState, fail_at: Option<FailPoint>) -> anyhow::Result<PassReport> {
    let lock = pass_lock(state);
    let _one_at_a_time = lock.lock().await;
    let now = state.now_ms();
    // The annual report's snapshot first: a year that has just ended is frozen with the
    // groups and members it ended with, before this pass destroys anything (C14).
    crate::app::reports::freeze_closed_years(state)
        .await
        .map_err(|err| anyhow::anyhow!("annual report snapshot: {}", err.code()))?;
    // Overdue cases are proposed for closing, then archived (C11), before the
    // destructions below.
    let reviews = crate::app::cases::review_overdue(state, &job_actor())
        .await
        .map_err(|err| anyhow::anyhow!("case reviews: {}", err.code()))?;
    let mut report = PassReport {
        cases_proposed_for_closing: reviews.proposed,
        cases_archived: reviews.archived,
        sessions: db::sessions::delete_ended(&state.db, now - ENDED_SESSIONS_KEPT_MS).await?,
        archive_accesses: db::cases::delete_expired_archive_accesses(&state.db, now).await?,
        ..PassReport::default()
    };
    // Every node has read the access feed long before (or starts from its end).
    db::access::delete_before(&state.db, now - crate::feed::FEED_RETENTION_MS).await?;
    // Destructions a previous pass left half-done come first.
    let mut to_destroy = db::retention::destroying(&state.db).await?;
    for model in db::retention::due(&state.db, now).await? {
        if db::retention::mark_destroying(&state.db, &model.id).await? {
            if fail_at == Some(FailPoint::AfterMarking) {
                anyhow::bail!("injected failure after marking {}", model.id);
            }
            to_destroy.push(model);
        }
    }
    for model in to_destroy {
        match destroy(state, &model, fail_at).await {
            Ok(()) => report.destroyed.push(model.id),
            Err(err) if fail_at.is_some() => return Err(err),
            Err(err) => {
                tracing::error!(channel = %model.id, error = %format!("{err:#}"), "destroying a channel failed; retrying at the next pass");
                report.failed.push(model.id);
            }
        }
    }
    let retention = &state.config.retention;
    report.expired_wraps = db::epoch_keys::expire_undelivered(
        &state.db,
        now - i64::from(retention.wrap_retention_days) * 24 * 3600 * 1000,
        now,
    )
    .await?;
    report.purged_referrals =
        db::referrals::purge_unaccepted(&state.db, months_before(now, retention.direct_months))
            .await?;
    if report.purged_referrals > 0 {
        state
            .record(
                job_actor(),
                "referrals_purged",
                None,
                Outcome::Success,
                json!({ "referrals": report.purged_referrals }),
            )
            .await?;
    }
    for (kind, months) in [
        ("working_group", retention.working_group_months),
        ("direct", retention.direct_months),
    ] {
        let cutoff = months_before(now, months);
        for model in db::retention::active_of_kind(&state.db, kind).await? {
            match purge_aged(state, &model, cutoff).await {
                Ok((messages, attachments)) => {
                    report.purged_messages += messages;
                    report.purged_attachments += attachments;
                }
                Err(err) => {
                    tracing::error!(channel = %model.id, error = %format!("{err:#}"), "purging aged history failed; retrying at the next pass");
                    report.failed.push(model.id);
                }
            }
        }
    }
    // What this pass (and the requests since the last one) deleted or replaced must leave
    // the files too, not only the tables.
    if let Err(err) = db::shred_files(&state.db).await {
        tracing::warn!(error = %format!("{err:#}"), "clearing deleted data from the database files failed; trying again at the next pass");
    }
    Ok(report)
}

/// The actor the job records its actions as.
fn job_actor() -> Actor {
    Actor {
        login: Some("retention".into()),
        ..Actor::default()
    }
}

/// Destroys a channel marked `destroying` (see the module documentation for the order).
async fn destroy(
    state: &AppState,
    model: &channel::Model,
    fail_at: Option<FailPoint>,
) -> anyhow::Result<()> {
    let channel_id = model.id.clone();
    let members = db::members::of_channel(&state.db, &channel_id).await?;
    // Every connection of every member, whether the charter gate lets it receive the
    // channel right now or not, must drop its keys: one frame per member.
    let frame = frame_text(&ServerFrame::ChannelDestroyed {
        channel_id: channel_id.clone().into(),
    })
    .map_err(|err| anyhow::anyhow!("{err}"))?;
    for member in &members {
        state.bus.publish(BusEvent::User {
            user_id: member.user_id.clone(),
            frame: frame.clone(),
        });
    }
    crate::app::exclusion::close_channels(
        state,
        members
            .iter()
            .map(|m| (m.user_id.clone(), channel_id.clone()))
            .collect(),
        crate::bus::AccessReason::ChannelDestroyed,
    )
    .await
    .map_err(|err| anyhow::anyhow!("{err}"))?;
    let txn = db::begin_write(&state.db).await?;
    let deleted = db::retention::delete_contents(&txn, &channel_id).await?;
    txn.commit().await?;
    if fail_at == Some(FailPoint::AfterRows) {
        anyhow::bail!("injected failure after deleting the rows of {channel_id}");
    }
    attachments::remove_channel_dir(state, &channel_id).await?;
    state
        .record(
            job_actor(),
            "channel_destroyed",
            Some(channel_id.clone()),
            Outcome::Success,
            json!({
                "kind": model.kind,
                "reason": "retention",
                "destroy_by": model.destroy_by,
                "messages": deleted.messages,
                "epoch_keys": deleted.epoch_keys,
                "attachments": deleted.attachments,
                "members": deleted.members,
            }),
        )
        .await
        .map_err(|err| anyhow::anyhow!("cannot record the destruction: {err}"))?;
    let txn = db::begin_write(&state.db).await?;
    let leftovers = db::retention::finish(&txn, &channel_id, state.now_ms()).await?;
    txn.commit().await?;
    if leftovers != db::retention::Deleted::default() {
        tracing::warn!(channel = %channel_id, ?leftovers, "rows written during a destruction were deleted");
    }
    tracing::info!(channel = %channel_id, kind = %model.kind, "channel destroyed at the end of its retention");
    Ok(())
}

/// Purges a working group's or direct conversation's history stored before `cutoff_ms`.
/// Returns the messages and attachments deleted.
async fn purge_aged(
    state: &AppState,
    model: &channel::Model,
    cutoff_ms: i64,
) -> anyhow::Result<(u64, u64)> {
    let aged = db::retention::attachments_before(&state.db, &model.id, cutoff_ms).await?;
    let dir = attachments::channel_dir(state, &model.id);
    for attachment in &aged {
        attachments::remove_blob(&dir.join(&attachment.id)).await?;
    }
    let txn = db::begin_write(&state.db).await?;
    let purged = db::retention::purge_history(&txn, model, cutoff_ms).await?;
    txn.commit().await?;
    if purged.messages == 0 && purged.attachments == 0 && purged.field_reports == 0 {
        return Ok((0, 0));
    }
    state
        .record(
            job_actor(),
            "history_purged",
            Some(model.id.clone()),
            Outcome::Success,
            json!({
                "kind": model.kind,
                "cutoff": cutoff_ms,
                "messages": purged.messages,
                "up_to_seq": purged.up_to_seq,
                "epoch_keys": purged.epoch_keys,
                "below_epoch": purged.below_epoch,
                "attachments": purged.attachments,
                "field_reports": purged.field_reports,
            }),
        )
        .await
        .map_err(|err| anyhow::anyhow!("cannot record the purge: {err}"))?;
    if purged.messages > 0 {
        let frame = frame_text(&ServerFrame::HistoryPurged {
            channel_id: model.id.clone().into(),
            up_to_seq: u64::try_from(purged.up_to_seq).unwrap_or_default(),
            below_epoch: u64::try_from(purged.below_epoch).unwrap_or_default(),
        })
        .map_err(|err| anyhow::anyhow!("{err}"))?;
        for member in db::members::of_channel(&state.db, &model.id).await? {
            state.bus.publish(BusEvent::User {
                user_id: member.user_id,
                frame: frame.clone(),
            });
        }
    }
    Ok((purged.messages, purged.attachments))
}

/// Aborts a pass still running when the job stops with the server.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the periodic job: a pass at start-up (which resumes an interrupted destruction)
/// and then every `retention.interval_secs`.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_secs(state.config.retention.interval_secs.max(1));
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
                    if !report.destroyed.is_empty()
                        || report.purged_messages > 0
                        || report.purged_attachments > 0
                    {
                        tracing::info!(
                            destroyed = report.destroyed.len(),
                            messages = report.purged_messages,
                            attachments = report.purged_attachments,
                            "retention pass"
                        );
                    }
                    if !report.failed.is_empty() {
                        tracing::error!(failed = ?report.failed, "retention pass left channels to retry");
                    }
                }
                Ok(Err(err)) => {
                    tracing::error!(error = %format!("{err:#}"), "retention pass failed; retrying at the next pass")
                }
                Err(err) => {
                    tracing::error!(error = %err, "retention pass panicked; retrying at the next pass")
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::years_after;
    use time::OffsetDateTime;

    fn at(text: &str) -> i64 {
        let format = time::format_description::well_known::Rfc3339;
        let parsed = OffsetDateTime::parse(text, &format).unwrap_or_else(|e| panic!("{e}"));
        i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).unwrap_or_default()
    }

    #[test]
    fn three_years_after_a_date_is_the_same_day_three_years_on() {
        assert_eq!(
            years_after(at("2025-03-14T10:00:00Z"), 3),
            at("2028-03-14T10:00:00Z")
        );
        assert_eq!(
            years_after(at("2024-02-29T00:00:00Z"), 3),
            at("2027-02-28T00:00:00Z")
        );
    }

    #[test]
    fn twelve_months_before_is_the_same_day_a_year_earlier() {
        assert_eq!(
            months_before(at("2026-01-31T08:00:00Z"), 12),
            at("2025-01-31T08:00:00Z")
        );
        assert_eq!(
            months_before(at("2026-03-31T08:00:00Z"), 1),
            at("2026-02-28T08:00:00Z")
        );
    }
}
