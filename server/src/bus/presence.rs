//! Who is connected across the cluster, for the per-account connection limit: each open
//! WebSocket holds a lease in Redis (a sorted set per account, scored by the lease's
//! expiry), renewed by its node while it lives and removed when it closes. A node that
//! dies stops renewing, and its leases expire: they never count for ever.
//!
//! Redis unreachable: the limit falls back to this node's own count (logged), so that an
//! outage never locks everyone out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;

/// How long a lease lives without renewal.
const LEASE_MS: i64 = 90_000;
/// How often a node renews its leases.
const RENEW_EVERY: Duration = Duration::from_secs(30);
/// How long Redis may take to answer an admission before the local count decides.
const ADMIT_TIMEOUT: Duration = Duration::from_secs(2);

/// Drops expired leases, then adds this one if the account holds fewer than the limit.
const ADMIT: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
";

/// The leases of this node's connections: (account key, member) → nothing; renewed
/// together.
type Leases = Arc<Mutex<HashMap<String, String>>>;

/// The cluster-wide count of each account's connections.
pub(crate) struct Presence {
    connection: MultiplexedConnection,
    prefix: String,
    origin: String,
    next: std::sync::atomic::AtomicU64,
    leases: Leases,
    script: redis::Script,
}

/// A connection's place in the count; gives it back when dropped.
pub struct Lease {
    release: Option<(MultiplexedConnection, String, String, Leases)>,
}

impl Lease {
    /// A lease counted on this node only (single node, or Redis unreachable).
    pub fn local() -> Lease {
        Lease { release: None }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some((mut connection, key, member, leases)) = self.release.take() else {
            return;
        };
        leases
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&member);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let removed: Result<i64, _> = redis::cmd("ZREM")
                    .arg(&key)
                    .arg(&member)
                    .query_async(&mut connection)
                    .await;
                if removed.is_err() {
                    tracing::debug!("could not remove a connection lease; it will expire");
                }
            });
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Presence {
    /// Starts the renewal of this node's leases.
    pub(crate) fn start(
        connection: MultiplexedConnection,
        prefix: &str,
        origin: &str,
    ) -> Arc<Presence> {
        let presence = Arc::new(Presence {
            connection,
            prefix: format!("{prefix}conns:"),
            origin: origin.to_owned(),
            next: std::sync::atomic::AtomicU64::new(0),
            leases: Arc::default(),
            script: redis::Script::new(ADMIT),
        });
        tokio::spawn(renew(Arc::downgrade(&presence)));
        presence
    }

    /// Admits a new connection of `user_id` if the account holds fewer than `limit`
    /// across the cluster (`local` on this node, when Redis cannot say).
    pub(crate) async fn admit(&self, user_id: &str, local: usize, limit: usize) -> Option<Lease> {
        let key = format!("{}{user_id}", self.prefix);
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let member = format!("{}:{n}", self.origin);
        let now = now_ms();
        let mut connection = self.connection.clone();
        let mut invocation = self.script.key(&key);
        invocation
            .arg(now)
            .arg(limit)
            .arg(now + LEASE_MS)
            .arg(&member)
            .arg(LEASE_MS);
        let answer = tokio::time::timeout(
            ADMIT_TIMEOUT,
            invocation.invoke_async::<i64>(&mut connection),
        )
        .await;
        match answer {
            Ok(Ok(1)) => {
                self.leases
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .insert(member.clone(), key.clone());
                Some(Lease {
                    release: Some((connection, key, member, self.leases.clone())),
                })
            }
            Ok(Ok(_)) => None,
            _ => {
                tracing::warn!(
                    "Redis unreachable: the connection limit counts this node's connections only"
                );
                (local < limit).then(Lease::local)
            }
        }
    }
}

/// Renews every lease of this node, until the presence is dropped.
async fn renew(presence: std::sync::Weak<Presence>) {
    let mut ticker = tokio::time::interval(RENEW_EVERY);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let Some(presence) = presence.upgrade() else {
            return;
        };
        let leases: Vec<(String, String)> = presence
            .leases
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .map(|(member, key)| (member.clone(), key.clone()))
            .collect();
        if leases.is_empty() {
            continue;
        }
        let expiry = now_ms() + LEASE_MS;
        let mut pipe = redis::pipe();
        for (member, key) in &leases {
            pipe.cmd("ZADD")
                .arg(key)
                .arg(expiry)
                .arg(member)
                .ignore()
                .cmd("PEXPIRE")
                .arg(key)
                .arg(LEASE_MS)
                .ignore();
        }
        let mut connection = presence.connection.clone();
        if pipe.query_async::<()>(&mut connection).await.is_err() {
            tracing::warn!("could not renew the connection leases in Redis; retrying");
        }
    }
}
