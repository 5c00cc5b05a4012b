//! Login throttling (CHARTER.md C15): failed attempts counted per client address and per
//! login over a 15-minute window.
//!
//! What blocks a client here is its address (`ip_blocked`). The lock-out of a login —
//! an account's or an unknown one, alike — is persisted in the database by
//! `crate::auth::lockout`; the login side of these counters is given the login's keyed
//! hash, never the login, and no longer decides anything on its own.
//!
//! On one node the counters live in memory. In a cluster (`redis_url`) they are shared:
//! each failure increments a Redis counter (keyed by a hash of the address or login, so
//! Redis holds neither), whose window Redis expires, and the new count is published to
//! every node, which keeps it beside its own. A check is thus a read of memory that the
//! other nodes' failures reach within a Redis round trip — less than the password hash
//! of the attempt takes. If Redis is unreachable, each node goes on counting alone.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::config::Config;

const WINDOW_MS: i64 = 15 * 60 * 1000;
/// Beyond this many tracked keys, expired windows are pruned so memory stays bounded.
const PRUNE_ABOVE: usize = 10_000;
/// Updates waiting for Redis; beyond this they are counted locally only.
const SHARED_QUEUE: usize = 4096;
/// How long Redis may take to answer.
const REDIS_TIMEOUT: Duration = Duration::from_secs(5);

/// Counts a failure in the window (started by the first failure, expired by Redis) and
/// tells every node the new count.
const FAILURE_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if n == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
redis.call('PUBLISH', ARGV[2], 'n ' .. ARGV[3] .. ' ' .. n .. ' ' .. ttl)
return {n, ttl}
";

/// Forgets a login's failures on every node.
const CLEAR_SCRIPT: &str = r"
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[1], 'c ' .. ARGV[2])
return 1
";

#[derive(Clone, Copy, Debug)]
struct Window {
    started_ms: i64,
    failures: u32,
}

/// A count learnt from Redis, valid until its window ends.
#[derive(Clone, Copy, Debug)]
struct SharedCount {
    failures: u32,
    until: Instant,
}

type SharedCounts = Arc<Mutex<HashMap<String, SharedCount>>>;

/// A change to send to Redis.
enum Op {
    Failures(Vec<String>),
    Clear(String),
}

/// The cluster side of the counters.
struct Shared {
    counts: SharedCounts,
    ops: mpsc::Sender<Op>,
    /// Dropped with the throttle: stops the subscriber.
    _stop: watch::Sender<()>,
}

/// Failed-attempt counters.
pub struct Throttle {
    per_ip_limit: u32,
    unknown_login_lockout: u32,
    windows: Mutex<HashMap<String, Window>>,
    shared: Option<Shared>,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("per_ip_limit", &self.per_ip_limit)
            .field("unknown_login_lockout", &self.unknown_login_lockout)
            .field("shared", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The name a counter has in Redis and on the wire: a hash of the address or login.
fn shared_name(key: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, key.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Records a count heard from Redis; the highest one of a window wins.
fn learn(counts: &SharedCounts, name: &str, failures: u32, ttl_ms: u64) {
    let now = Instant::now();
    let mut counts = lock(counts);
    if counts.len() > PRUNE_ABOVE {
        counts.retain(|_, count| count.until > now);
    }
    let until = now + Duration::from_millis(ttl_ms);
    let entry = counts
        .entry(name.to_owned())
        .or_insert(SharedCount { failures: 0, until });
    if entry.until <= now {
        entry.failures = 0;
    }
    entry.failures = entry.failures.max(failures);
    entry.until = until;
}

/// Applies a message of the `<prefix>throttle` channel.
fn on_message(counts: &SharedCounts, payload: &[u8]) {
    let Ok(text) = std::str::from_utf8(payload) else {
        return;
    };
    let mut parts = text.split(' ');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("n"), Some(name), Some(n), Some(ttl)) => {
            if let (Ok(n), Ok(ttl)) = (n.parse::<u32>(), ttl.parse::<u64>()) {
                learn(counts, name, n, ttl.min(WINDOW_MS.unsigned_abs()));
            }
        }
        (Some("c"), Some(name), None, None) => {
            lock(counts).remove(name);
        }
        _ => {}
    }
}

impl Throttle {
    /// `per_ip_limit` failures per window per address; unknown logins "lock" after
    /// `unknown_login_lockout` failures, like real accounts. Counts in memory only.
    pub fn new(per_ip_limit: u32, unknown_login_lockout: u32) -> Throttle {
        Throttle {
            per_ip_limit,
            unknown_login_lockout,
            windows: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// The throttle a node's configuration asks for: shared through Redis in a cluster.
    /// Must be called inside the Tokio runtime (it starts the Redis tasks).
    pub fn for_config(config: &Config) -> anyhow::Result<Throttle> {
        match &config.redis_url {
            Some(url) => Throttle::shared(
                config.ip_attempts_per_window,
                config.lockout_threshold,
                crate::bus::redis::client(url)?,
                &config.redis_prefix,
            ),
            None => Ok(Throttle::new(
                config.ip_attempts_per_window,
                config.lockout_threshold,
            )),
        }
    }

    /// Like [`Throttle::new`], with the counters shared by every node using `client` and
    /// `prefix`.
    pub fn shared(
        per_ip_limit: u32,
        unknown_login_lockout: u32,
        client: redis::Client,
        prefix: &str,
    ) -> anyhow::Result<Throttle> {
        let channel = format!("{prefix}throttle");
        let counts: SharedCounts = Arc::default();
        let (stop, stopped) = watch::channel(());
        let heard = counts.clone();
        // Not awaited: until the subscription is up, counts come from this node's own
        // increments (and the bus, started before, has checked that Redis answers).
        drop(crate::bus::redis::spawn_subscriber(
            client.clone(),
            channel.clone(),
            stopped,
            // The bus's own subscription is the one the metrics report.
            prometheus_client::metrics::gauge::Gauge::default(),
            move |payload| on_message(&heard, payload),
        ));
        let (ops, queue) = mpsc::channel(SHARED_QUEUE);
        tokio::spawn(write_shared(
            client,
            format!("{prefix}throttle:"),
            channel,
            counts.clone(),
            queue,
        ));
        Ok(Throttle {
            per_ip_limit,
            unknown_login_lockout,
            windows: Mutex::new(HashMap::new()),
            shared: Some(Shared {
                counts,
                ops,
                _stop: stop,
            }),
        })
    }

    /// Whether this address has used up its failed attempts.
    pub fn ip_blocked(&self, ip: Option<IpAddr>, now_ms: i64) -> bool {
        let Some(ip) = ip else { return false };
        self.failures(&format!("ip:{ip}"), now_ms) >= self.per_ip_limit
    }

    /// Whether an unknown login should now answer as a locked account would.
    pub fn unknown_login_locked(&self, login: &str, now_ms: i64) -> bool {
        self.failures(&format!("login:{login}"), now_ms) >= self.unknown_login_lockout
    }

    /// Counts one failure for the address and the login.
    pub fn record_failure(&self, ip: Option<IpAddr>, login: &str, now_ms: i64) {
        let mut keys = vec![format!("login:{login}")];
        if let Some(ip) = ip {
            keys.push(format!("ip:{ip}"));
        }
        {
            let mut windows = lock(&self.windows);
            if windows.len() > PRUNE_ABOVE {
                windows.retain(|_, window| now_ms - window.started_ms < WINDOW_MS);
            }
            for key in &keys {
                let window = windows.entry(key.clone()).or_insert(Window {
                    started_ms: now_ms,
                    failures: 0,
                });
                if now_ms - window.started_ms >= WINDOW_MS {
                    *window = Window {
                        started_ms: now_ms,
                        failures: 0,
                    };
                }
                window.failures = window.failures.saturating_add(1);
            }
        }
        if let Some(shared) = &self.shared {
            let names = keys.iter().map(|key| shared_name(key)).collect();
            if shared.ops.try_send(Op::Failures(names)).is_err() {
                tracing::warn!(
                    "login throttle: Redis is behind; this failure counts on this node only"
                );
            }
        }
    }

    /// Forgets a login's failures (an admin unlocked it, or it logged in).
    pub fn clear_login(&self, login: &str) {
        let key = format!("login:{login}");
        lock(&self.windows).remove(&key);
        if let Some(shared) = &self.shared {
            let name = shared_name(&key);
            lock(&shared.counts).remove(&name);
            let _ = shared.ops.try_send(Op::Clear(name));
        }
    }

    fn failures(&self, key: &str, now_ms: i64) -> u32 {
        let local = match lock(&self.windows).get(key) {
            Some(window) if now_ms - window.started_ms < WINDOW_MS => window.failures,
            _ => 0,
        };
        let Some(shared) = &self.shared else {
            return local;
        };
        let name = shared_name(key);
        let counts = lock(&shared.counts);
        match counts.get(&name) {
            Some(count) if count.until > Instant::now() => local.max(count.failures),
            _ => local,
        }
    }
}

/// Sends the throttle's changes to Redis, one at a time, reconnecting as needed. A change
/// Redis cannot take is logged and counted on this node only.
async fn write_shared(
    client: redis::Client,
    key_prefix: String,
    channel: String,
    counts: SharedCounts,
    mut queue: mpsc::Receiver<Op>,
) {
    let failure = redis::Script::new(FAILURE_SCRIPT);
    let clear = redis::Script::new(CLEAR_SCRIPT);
    let mut connection: Option<redis::aio::MultiplexedConnection> = None;
    while let Some(op) = queue.recv().await {
        if connection.is_none() {
            match tokio::time::timeout(REDIS_TIMEOUT, client.get_multiplexed_async_connection())
                .await
            {
                Ok(Ok(conn)) => connection = Some(conn),
                _ => {
                    tracing::warn!("login throttle: Redis unreachable; counting on this node only");
                    continue;
                }
            }
        }
        let Some(conn) = connection.as_mut() else {
            continue;
        };
        let done = match &op {
            Op::Failures(names) => {
                let mut ok = true;
                for name in names {
                    let mut invocation = failure.key(format!("{key_prefix}{name}"));
                    invocation.arg(WINDOW_MS).arg(&channel).arg(name);
                    match tokio::time::timeout(
                        REDIS_TIMEOUT,
                        invocation.invoke_async::<(u32, i64)>(conn),
                    )
                    .await
                    {
                        Ok(Ok((n, ttl))) => {
                            learn(&counts, name, n, u64::try_from(ttl).unwrap_or_default());
                        }
                        _ => {
                            ok = false;
                            break;
                        }
                    }
                }
                ok
            }
            Op::Clear(name) => {
                let mut invocation = clear.key(format!("{key_prefix}{name}"));
                invocation.arg(&channel).arg(name);
                matches!(
                    tokio::time::timeout(REDIS_TIMEOUT, invocation.invoke_async::<i64>(conn)).await,
                    Ok(Ok(_))
                )
            }
        };
        if !done {
            tracing::warn!("login throttle: a Redis update failed; counting on this node only");
            connection = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_its_limit_and_freed_after_the_window() {
        let throttle = Throttle::new(3, 5);
        let ip = Some(IpAddr::from([10, 0, 0, 1]));
        for i in 0..3 {
            assert!(!throttle.ip_blocked(ip, 1000));
            throttle.record_failure(ip, &format!("user{i}"), 1000);
        }
        assert!(throttle.ip_blocked(ip, 1000));
        assert!(!throttle.ip_blocked(Some(IpAddr::from([10, 0, 0, 2])), 1000));
        assert!(!throttle.ip_blocked(ip, 1000 + WINDOW_MS));
    }

    #[test]
    fn an_unknown_login_locks_like_a_real_account() {
        let throttle = Throttle::new(100, 2);
        throttle.record_failure(None, "ghost", 0);
        assert!(!throttle.unknown_login_locked("ghost", 0));
        throttle.record_failure(None, "ghost", 0);
        assert!(throttle.unknown_login_locked("ghost", 0));
        throttle.clear_login("ghost");
        assert!(!throttle.unknown_login_locked("ghost", 0));
    }

    #[test]
    fn a_count_heard_from_another_node_blocks_here_until_its_window_ends() {
        let counts = SharedCounts::default();
        let (ops, _queue) = mpsc::channel(8);
        let (stop, _) = watch::channel(());
        let throttle = Throttle {
            shared: Some(Shared {
                counts: counts.clone(),
                ops,
                _stop: stop,
            }),
            ..Throttle::new(3, 2)
        };
        let name = shared_name("login:ghost");
        on_message(&counts, format!("n {name} 2 60000").as_bytes());
        assert!(throttle.unknown_login_locked("ghost", 0));
        assert!(!throttle.unknown_login_locked("other", 0));
        // A lower count heard late does not undo a higher one.
        on_message(&counts, format!("n {name} 1 60000").as_bytes());
        assert!(throttle.unknown_login_locked("ghost", 0));
        on_message(&counts, format!("c {name}").as_bytes());
        assert!(!throttle.unknown_login_locked("ghost", 0));
        on_message(&counts, format!("n {name} 5 0").as_bytes());
        assert!(!throttle.unknown_login_locked("ghost", 0), "window over");
        on_message(&counts, b"garbage");
    }
}
