//! The cluster bus: Redis pub/sub between the nodes (docs/ARCHITECTURE.md).
//!
//! A node hands each event to its own hub at once, then publishes it on one Redis
//! channel (`<redis_prefix>bus`); every other node's subscriber applies it to its hub.
//! Delivery on this node therefore never depends on Redis, and the events of one node
//! reach the others in the order they were published.
//!
//! Redis is a relay, not an authority. Every event is authenticated with an HMAC-SHA-256
//! key derived from the server secret that all nodes share, and carries its origin (a
//! random id per process), a counter and a timestamp: a forged event is dropped, and so
//! is a replayed or stale one, so that whoever can write to Redis still cannot subscribe
//! a user to a channel or close someone's connections.
//!
//! Pub/sub may miss a notification (a subscriber reconnecting, a full outbox, an outage):
//! the counters make it visible in the metrics. Nothing is lost by it: clients repair
//! messages from their sequence cursors (`sync`), as after any reconnection, and access
//! changes (exclusions) are read by every node from the database's access feed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use futures_util::StreamExt;
use ring::{hkdf, hmac};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};
use zeroize::Zeroizing;

use super::hub::Hub;
use super::presence::{Lease, Presence};
use super::{Bus, BusEvent};
use crate::metrics::Metrics;
use futures_util::future::BoxFuture;

/// Events waiting for the publisher; beyond this, new ones are dropped (and counted).
const OUTBOX: usize = 16_384;
/// Events published in one round trip.
const PUBLISH_BATCH: usize = 256;
/// How often an idle subscription is checked with a `PING`.
const PING_EVERY: Duration = Duration::from_secs(10);
/// How long Redis may take to answer before the connection counts as lost.
const REDIS_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest pause between two reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Origins not heard from for this long are forgotten (nodes restart with a new origin).
const FORGET_ORIGIN_MS: i64 = 10 * 60_000;
/// Length of an HMAC-SHA-256 tag.
const TAG_LEN: usize = 32;

/// The key that authenticates bus events, derived from the server secret shared by
/// every node. Holds no `Debug` to print.
pub struct BusKey(hmac::Key);

impl BusKey {
    /// Derives the key from the node's 32-byte secret file (`secret_key_file`).
    pub fn from_secret_file(path: &Path) -> anyhow::Result<BusKey> {
        let bytes = Zeroizing::new(
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
        );
        if bytes.len() != 32 {
            bail!("{} must hold exactly 32 bytes", path.display());
        }
        BusKey::from_secret(&bytes)
    }

    /// Derives the key from the server secret (HKDF-SHA-256, its own label).
    pub fn from_secret(secret: &[u8]) -> anyhow::Result<BusKey> {
        let prk =
            hkdf::Salt::new(hkdf::HKDF_SHA256, b"passerelle/v1/server-secret").extract(secret);
        let mut key = Zeroizing::new([0u8; 32]);
        prk.expand(&[b"cluster-bus"], hkdf::HKDF_SHA256)
            .and_then(|okm| okm.fill(key.as_mut()))
            .map_err(|_| anyhow::anyhow!("key derivation failed"))?;
        Ok(BusKey(hmac::Key::new(hmac::HMAC_SHA256, key.as_ref())))
    }
}

/// An event as published: who sent it, its place in that node's sequence, and when.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    /// Format version.
    v: u8,
    /// The publishing node (random per process).
    origin: String,
    /// The publisher's counter: 1, 2, 3, … with no gap unless an event was dropped.
    n: u64,
    /// Published at (unix ms, wall clock).
    ts: i64,
    event: BusEvent,
}

/// `tag ‖ json`: the bytes published on Redis.
fn seal(key: &BusKey, envelope: &Envelope) -> Option<Vec<u8>> {
    let json = match serde_json::to_vec(envelope) {
        Ok(json) => json,
        Err(err) => {
            tracing::error!(error = %err, "cannot serialise a bus event");
            return None;
        }
    };
    let tag = hmac::sign(&key.0, &json);
    let mut out = Vec::with_capacity(TAG_LEN + json.len());
    out.extend_from_slice(tag.as_ref());
    out.extend_from_slice(&json);
    Some(out)
}

/// Unix time in ms by the wall clock (nodes keep theirs in sync with NTP).
fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Why a received payload was not applied.
#[derive(Debug, PartialEq, Eq)]
enum Refused {
    /// Too short, or its tag does not authenticate: not from a node of this cluster.
    Forged,
    /// Authenticated but unreadable (a newer format?).
    Malformed,
    /// This node's own event, already applied when it was published.
    Own,
    /// Older than the replay window, or from the future.
    Stale,
    /// Already seen from this origin.
    Replayed,
}

struct Seen {
    last: u64,
    heard_ms: i64,
}

/// The receiving side: checks each payload and keeps each origin's last counter.
struct Inbox {
    key: Arc<BusKey>,
    origin: String,
    seen: HashMap<String, Seen>,
    metrics: Arc<Metrics>,
    /// An event older than this (ms) is not applied: it may be a replay
    /// (`bus_replay_window_secs`).
    freshness_ms: i64,
}

impl Inbox {
    fn receive(&mut self, payload: &[u8], now_ms: i64) -> Result<BusEvent, Refused> {
        if payload.len() <= TAG_LEN {
            return Err(Refused::Forged);
        }
        let (tag, json) = payload.split_at(TAG_LEN);
        hmac::verify(&self.key.0, json, tag).map_err(|_| Refused::Forged)?;
        let envelope: Envelope = serde_json::from_slice(json).map_err(|_| Refused::Malformed)?;
        if envelope.v != 1 {
            return Err(Refused::Malformed);
        }
        if envelope.origin == self.origin {
            return Err(Refused::Own);
        }
        if (now_ms - envelope.ts).abs() > self.freshness_ms {
            return Err(Refused::Stale);
        }
        if self.seen.len() > 1024 {
            self.seen
                .retain(|_, seen| now_ms - seen.heard_ms < FORGET_ORIGIN_MS);
        }
        match self.seen.get_mut(&envelope.origin) {
            Some(seen) if envelope.n <= seen.last => return Err(Refused::Replayed),
            Some(seen) => {
                if envelope.n > seen.last + 1 {
                    let missed = envelope.n - seen.last - 1;
                    self.metrics.bus_events_missed.inc_by(missed);
                    tracing::info!(
                        origin = %envelope.origin,
                        missed,
                        "bus notifications from another node were missed; clients resync \
                         messages from their cursors, access changes come from the database feed"
                    );
                }
                seen.last = envelope.n;
                seen.heard_ms = now_ms;
            }
            None => {
                self.seen.insert(
                    envelope.origin.clone(),
                    Seen {
                        last: envelope.n,
                        heard_ms: now_ms,
                    },
                );
            }
        }
        Ok(envelope.event)
    }
}

/// An event waiting for the publisher task.
struct Outgoing {
    n: u64,
    ts: i64,
    event: BusEvent,
}

/// Numbers events in the order they enter the outbox.
struct Outbox {
    next: u64,
    queue: mpsc::Sender<Outgoing>,
}

/// The Redis pub/sub bus of a cluster node.
pub struct RedisBus {
    hub: Arc<Hub>,
    outbox: Mutex<Outbox>,
    dropped: AtomicU64,
    metrics: Arc<Metrics>,
    presence: Arc<Presence>,
    /// Dropped with the bus: stops the subscriber.
    _stop: watch::Sender<()>,
}

impl RedisBus {
    /// Connects to Redis, subscribes to `<prefix>bus` and starts the publisher. Fails if
    /// Redis cannot be reached now; later outages are survived (with reconnection).
    pub async fn connect(
        url: &str,
        prefix: &str,
        freshness_ms: i64,
        hub: Arc<Hub>,
        key: BusKey,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<RedisBus> {
        let client = client(url)?;
        let connection =
            tokio::time::timeout(REDIS_TIMEOUT, client.get_multiplexed_async_connection())
                .await
                .context("Redis (redis_url) did not answer in time")?
                .context("cannot connect to Redis (redis_url)")?;
        let channel = format!("{prefix}bus");
        let key = Arc::new(key);
        let mut origin = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut origin)
            .map_err(|_| anyhow::anyhow!("no system randomness"))?;
        let origin: String = origin.iter().map(|b| format!("{b:02x}")).collect();

        let presence = Presence::start(connection.clone(), prefix, &origin);
        let (queue, outgoing) = mpsc::channel(OUTBOX);
        tokio::spawn(publisher(
            Publisher {
                client: client.clone(),
                channel: channel.clone(),
                key: key.clone(),
                origin: origin.clone(),
                metrics: metrics.clone(),
                freshness_ms,
            },
            Some(connection),
            outgoing,
        ));
        let (stop, stopped) = watch::channel(());
        let mut inbox = Inbox {
            key,
            origin,
            seen: HashMap::new(),
            metrics: metrics.clone(),
            freshness_ms,
        };
        let subscriber_hub = hub.clone();
        let subscriber_metrics = metrics.clone();
        let ready = spawn_subscriber(
            client,
            channel,
            stopped,
            metrics.bus_connected.clone(),
            move |payload| match inbox.receive(payload, wall_clock_ms()) {
                Ok(event) => {
                    subscriber_metrics.bus_events_applied.inc();
                    subscriber_hub.apply(&event);
                }
                Err(Refused::Own) => {}
                Err(Refused::Forged) => {
                    subscriber_metrics.bus_events_refused.inc();
                    tracing::warn!("refused a bus event that does not authenticate");
                }
                Err(why) => {
                    subscriber_metrics.bus_events_refused.inc();
                    tracing::debug!(?why, "refused a bus event");
                }
            },
        );
        tokio::time::timeout(REDIS_TIMEOUT * 2, ready)
            .await
            .context("cannot subscribe to Redis (redis_url) in time")?
            .context("cannot subscribe to Redis (redis_url)")?;
        tracing::info!(prefix, "cluster bus on Redis pub/sub");
        Ok(RedisBus {
            hub,
            outbox: Mutex::new(Outbox { next: 1, queue }),
            dropped: AtomicU64::new(0),
            metrics,
            presence,
            _stop: stop,
        })
    }

    /// Events this node could not publish since it started (outbox full or closed).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Bus for RedisBus {
    fn publish(&self, event: BusEvent) {
        self.hub.apply(&event);
        let ts = wall_clock_ms();
        let mut outbox = self
            .outbox
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let n = outbox.next;
        // A dropped event still uses its number: the gap tells the other nodes.
        outbox.next += 1;
        if outbox.queue.try_send(Outgoing { n, ts, event }).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            self.metrics.bus_events_unpublished.inc();
            if dropped.is_power_of_two() {
                tracing::warn!(
                    dropped,
                    "the Redis outbox is full: events for other nodes are being dropped"
                );
            }
        }
    }

    fn admit<'a>(
        &'a self,
        user_id: &'a str,
        local: usize,
        limit: usize,
    ) -> BoxFuture<'a, Option<Lease>> {
        Box::pin(self.presence.admit(user_id, local, limit))
    }
}

/// A Redis client for `url`, with an error that does not repeat the URL (it may hold a
/// password).
pub(crate) fn client(url: &str) -> anyhow::Result<redis::Client> {
    redis::Client::open(url).map_err(|_| anyhow::anyhow!("redis_url is not a valid Redis URL"))
}

/// What the publisher task publishes with.
struct Publisher {
    client: redis::Client,
    channel: String,
    key: Arc<BusKey>,
    origin: String,
    metrics: Arc<Metrics>,
    /// Events older than this (ms) are not published any more.
    freshness_ms: i64,
}

/// Publishes the outbox in order, a batch per round trip, reconnecting as needed.
async fn publisher(
    publisher: Publisher,
    mut connection: Option<redis::aio::MultiplexedConnection>,
    mut outgoing: mpsc::Receiver<Outgoing>,
) {
    let Publisher {
        client,
        channel,
        key,
        origin,
        metrics,
        freshness_ms,
    } = publisher;
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    while outgoing.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        let oldest = batch.first().map_or(0, |o: &Outgoing| o.ts);
        let payloads: Vec<Vec<u8>> = batch
            .drain(..)
            .filter_map(|o| {
                seal(
                    &key,
                    &Envelope {
                        v: 1,
                        origin: origin.clone(),
                        n: o.n,
                        ts: o.ts,
                        event: o.event,
                    },
                )
            })
            .collect();
        let mut pipe = redis::pipe();
        for payload in &payloads {
            pipe.cmd("PUBLISH").arg(&channel).arg(payload).ignore();
        }
        let mut backoff = Duration::from_millis(50);
        loop {
            if let Some(conn) = connection.as_mut() {
                match tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async::<()>(conn)).await {
                    Ok(Ok(())) => break,
                    Ok(Err(err)) => tracing::warn!(error = %err, "publishing on Redis failed"),
                    Err(_) => tracing::warn!("publishing on Redis timed out"),
                }
                metrics.bus_publish_errors.inc();
                connection = None;
            }
            if wall_clock_ms() - oldest > freshness_ms {
                metrics
                    .bus_events_unpublished
                    .inc_by(u64::try_from(payloads.len()).unwrap_or(u64::MAX));
                tracing::warn!(
                    events = payloads.len(),
                    "Redis unreachable: notifications for other nodes not published (they \
                     resync messages from cursors and read access changes from the database)"
                );
                break;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            match tokio::time::timeout(REDIS_TIMEOUT, client.get_multiplexed_async_connection())
                .await
            {
                Ok(Ok(conn)) => connection = Some(conn),
                Ok(Err(err)) => tracing::warn!(error = %err, "cannot reconnect to Redis"),
                Err(_) => tracing::warn!("reconnecting to Redis timed out"),
            }
        }
    }
}

/// Subscribes to `channel` and calls `on_message` with each payload, in order, until
/// `stop`'s sender is dropped. Reconnects after any failure (a silent connection is
/// detected by a periodic `PING`). The returned receiver fires once the first
/// subscription is in place.
pub(crate) fn spawn_subscriber(
    client: redis::Client,
    channel: String,
    mut stop: watch::Receiver<()>,
    connected: prometheus_client::metrics::gauge::Gauge,
    mut on_message: impl FnMut(&[u8]) + Send + 'static,
) -> oneshot::Receiver<()> {
    let (ready_tx, ready) = oneshot::channel();
    tokio::spawn(async move {
        let mut ready_tx = Some(ready_tx);
        let mut backoff = Duration::from_millis(50);
        loop {
            let subscribed = tokio::time::timeout(REDIS_TIMEOUT, async {
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(&channel).await?;
                Ok::<_, redis::RedisError>(pubsub)
            })
            .await;
            match subscribed {
                Ok(Ok(pubsub)) => {
                    backoff = Duration::from_millis(50);
                    connected.set(1);
                    match ready_tx.take() {
                        Some(ready) => {
                            let _ = ready.send(());
                        }
                        None => tracing::info!(
                            channel,
                            "resubscribed to Redis: clients resync the messages notified \
                             meanwhile from their cursors; access changes come from the database"
                        ),
                    }
                    let (mut sink, mut stream) = pubsub.split();
                    let mut ping = tokio::time::interval(PING_EVERY);
                    ping.tick().await;
                    loop {
                        tokio::select! {
                            changed = stop.changed() => {
                                if changed.is_err() {
                                    return;
                                }
                            }
                            message = stream.next() => match message {
                                Some(message) => on_message(message.get_payload_bytes()),
                                None => break,
                            },
                            _ = ping.tick() => {
                                let pong = tokio::time::timeout(
                                    REDIS_TIMEOUT,
                                    sink.ping::<redis::Value>(),
                                )
                                .await;
                                if !matches!(pong, Ok(Ok(_))) {
                                    break;
                                }
                            }
                        }
                    }
                    connected.set(0);
                    tracing::warn!(channel, "the Redis subscription ended; reconnecting");
                }
                Ok(Err(err)) => tracing::warn!(error = %err, "cannot subscribe to Redis"),
                Err(_) => tracing::warn!("subscribing to Redis timed out"),
            }
            tokio::select! {
                changed = stop.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    });
    ready
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Arc<BusKey> {
        Arc::new(BusKey::from_secret(&[7u8; 32]).unwrap())
    }

    fn event(n: u64, origin: &str, ts: i64) -> Envelope {
        Envelope {
            v: 1,
            origin: origin.into(),
            n,
            ts,
            event: BusEvent::MemberAdded {
                channel_id: "c".into(),
                user_id: "u".into(),
            },
        }
    }

    fn inbox() -> Inbox {
        Inbox {
            key: key(),
            origin: "me".into(),
            seen: HashMap::new(),
            metrics: Arc::new(Metrics::new()),
            freshness_ms: FRESHNESS_MS,
        }
    }

    const FRESHNESS_MS: i64 = 60_000;

    #[test]
    fn an_event_from_another_node_is_applied_once() {
        let mut inbox = inbox();
        let payload = seal(&key(), &event(1, "other", 1_000)).unwrap();
        assert!(inbox.receive(&payload, 1_000).is_ok());
        assert_eq!(
            inbox.receive(&payload, 1_001).err(),
            Some(Refused::Replayed)
        );
        let next = seal(&key(), &event(3, "other", 1_002)).unwrap();
        assert!(
            inbox.receive(&next, 1_002).is_ok(),
            "a gap is reported, not fatal"
        );
    }

    #[test]
    fn a_forged_or_altered_event_is_refused() {
        let mut inbox = inbox();
        let other_key = BusKey::from_secret(&[8u8; 32]).unwrap();
        let forged = seal(&other_key, &event(1, "other", 1_000)).unwrap();
        assert_eq!(inbox.receive(&forged, 1_000).err(), Some(Refused::Forged));
        let mut altered = seal(&key(), &event(1, "other", 1_000)).unwrap();
        let last = altered.len() - 3;
        altered[last] ^= 1;
        assert_eq!(inbox.receive(&altered, 1_000).err(), Some(Refused::Forged));
        assert_eq!(inbox.receive(b"short", 1_000).err(), Some(Refused::Forged));
    }

    #[test]
    fn a_stale_event_and_this_nodes_own_are_not_applied() {
        let mut inbox = inbox();
        let old = seal(&key(), &event(1, "other", 1_000)).unwrap();
        assert_eq!(
            inbox.receive(&old, 1_000 + FRESHNESS_MS + 1).err(),
            Some(Refused::Stale)
        );
        let own = seal(&key(), &event(1, "me", 1_000)).unwrap();
        assert_eq!(inbox.receive(&own, 1_000).err(), Some(Refused::Own));
    }

    #[test]
    fn the_bus_key_is_not_the_login_challenge_key() {
        // Same secret, different label: a bus tag never authenticates anything else.
        let secret = [9u8; 32];
        let bus = BusKey::from_secret(&secret).unwrap();
        let secrets = crate::secrets::ServerSecrets::from_secret(&secret).unwrap();
        let token = secrets.sign_token("payload");
        let (_, tag) = token.rsplit_once('.').unwrap();
        let bus_tag = hmac::sign(&bus.0, b"payload");
        use base64::Engine;
        let bus_tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bus_tag.as_ref());
        assert_ne!(tag, bus_tag);
    }
}
