//! The access feed, read on every node (CHARTER.md C3): the exclusions committed by any
//! node (`crate::app::exclusion`) are rows of `access_changes`, in commit order; each node
//! reads the rows after its position and applies them to its hub, once each, whether the
//! bus brought them first or not. A node that cannot read the feed closes its connections
//! rather than serve them blind, and says it is not ready.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;

use crate::bus::hub::{CloseReason, Hub};
use crate::bus::{AccessChange, AccessReason, AccessScope};
use crate::db;
use crate::metrics::Metrics;

/// A feed row as the hub applies it. A row this version cannot read (a newer scope or
/// reason, during a rolling upgrade) fails closed: every connection of the account is
/// closed, and the client logs in again.
fn change_of(row: db::entities::access_change::Model) -> AccessChange {
    let scope = match (row.scope.as_str(), row.target) {
        ("session", Some(id)) => Some(AccessScope::Session(id)),
        ("device", Some(id)) => Some(AccessScope::Device(id)),
        ("channel", Some(id)) => Some(AccessScope::Channel(id)),
        ("account", _) => Some(AccessScope::Account),
        _ => None,
    };
    match (scope, AccessReason::parse(&row.reason)) {
        (Some(scope), Some(reason)) => AccessChange {
            id: row.id,
            user_id: row.user_id,
            scope,
            reason,
        },
        _ => {
            tracing::warn!(
                id = row.id,
                "unreadable access change: closing the account's connections"
            );
            AccessChange {
                id: row.id,
                user_id: row.user_id,
                scope: AccessScope::Account,
                reason: AccessReason::SessionRevoked,
            }
        }
    }
}

/// How often each node reads the access feed when the bus is quiet.
const FEED_POLL: Duration = Duration::from_millis(500);
/// Rows read per query.
const FEED_PAGE: u64 = 1000;
/// How long the feed may be unreadable before the node stops serving its connections.
const FEED_GRACE: Duration = Duration::from_secs(10);
/// How long a feed row is kept (a node down longer starts from the feed's end).
pub const FEED_RETENTION_MS: i64 = 24 * 3_600_000;

/// Reads the access feed on this node and applies what the bus did not bring.
pub struct Follower {
    ready: AtomicBool,
}

impl Follower {
    /// Starts following the feed from its current end (connections opened from now on
    /// read the database as it is). Fails if the feed cannot be read at start-up.
    pub async fn start(
        db: DatabaseConnection,
        hub: Arc<Hub>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Arc<Follower>> {
        hub.advance_access(db::access::last_id(&db).await?);
        let follower = Arc::new(Follower {
            ready: AtomicBool::new(true),
        });
        metrics.access_feed_ready.set(1);
        tokio::spawn(follow(Arc::downgrade(&follower), db, hub, metrics));
        Ok(follower)
    }

    /// Whether this node can currently read the feed, and so may serve connections.
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

async fn follow(
    follower: std::sync::Weak<Follower>,
    db: DatabaseConnection,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
) {
    let mut failing_since: Option<tokio::time::Instant> = None;
    let mut ticker = tokio::time::interval(FEED_POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(follower) = follower.upgrade() else {
            return;
        };
        match read_feed(&db, &hub, &metrics).await {
            Ok(()) => {
                failing_since = None;
                if !follower.ready.swap(true, Ordering::Relaxed) {
                    tracing::info!("the access feed is readable again; serving connections");
                }
                metrics.access_feed_ready.set(1);
            }
            Err(err) => {
                let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() >= FEED_GRACE {
                    if follower.ready.swap(false, Ordering::Relaxed) {
                        tracing::error!(
                            error = %err,
                            "cannot read the access feed: closing this node's connections \
                             until it can (exclusions could not be applied)"
                        );
                    }
                    metrics.access_feed_ready.set(0);
                    hub.close_all(CloseReason::Unverifiable);
                } else {
                    tracing::warn!(error = %err, "cannot read the access feed; retrying");
                }
            }
        }
    }
}

/// Applies every feed row after this node's position.
async fn read_feed(db: &DatabaseConnection, hub: &Hub, metrics: &Metrics) -> anyhow::Result<()> {
    loop {
        let position = hub.access_position();
        let rows = db::access::after(db, position, FEED_PAGE).await?;
        let Some(last) = rows.last().map(|row| row.id) else {
            metrics.access_feed_lag.set(0);
            return Ok(());
        };
        metrics.access_feed_lag.set(last - position);
        let full = rows.len() as u64 == FEED_PAGE;
        for row in rows {
            if hub.apply_access(&change_of(row)) {
                metrics.access_feed_applied.inc();
            }
        }
        hub.advance_access(last);
        if !full {
            metrics.access_feed_lag.set(0);
            return Ok(());
        }
    }
}
