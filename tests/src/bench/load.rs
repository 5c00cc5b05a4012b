//! The generator's WebSocket connections and the timed phases that drive them.
//!
//! A connection ([`Link`]) has a writer task, which sends prepared frames (paced under
//! the server's per-connection rate limit, with a bounded number awaiting their ack),
//! and a reader task, which does as little as possible: it recognises a frame by its
//! first bytes, finds `client_msg_id` by substring and looks the message up by the
//! index that id encodes. Nothing is parsed as JSON in the timed phase, so that the
//! server, not the generator, is what is measured; the envelopes themselves were sealed
//! and signed beforehand ([`super::population`]).
//!
//! A [`Phase`] is one timed run of prepared messages. One driver task per channel
//! sends its messages in cycles: on Passerelle, each cycle first publishes the epoch key
//! (`POST /channels/{id}/epochs`, wrapped for every member device), then sends the
//! epoch's messages and waits until all are acknowledged, since the server refuses a
//! 101st message in an epoch. The bare hub has no epochs: its drivers keep a window of
//! messages in flight per channel instead.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::bare::field;
use super::procs;
use super::stats::Percentiles;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Clients ping this often (the server closes a connection silent for 75 s).
const PING_EVERY: Duration = Duration::from_secs(25);
/// Messages a connection may have sent and not yet seen acknowledged. With the pacing
/// below it keeps every connection inside the server's token bucket (200/s, burst 400)
/// whatever the server's own delays.
const LINK_IN_FLIGHT: usize = 200;
/// How long a driver waits for an epoch's acknowledgements before it gives up.
const CYCLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long deliveries may stall before a phase stops waiting for the missing ones.
const DELIVERY_GRACE: Duration = Duration::from_secs(10);

const PENDING: u8 = 0;
const ACKED: u8 = 1;
const REFUSED: u8 = 2;

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// Nanoseconds since the generator started (never 0: 0 means "not yet").
pub(crate) fn now_ns() -> u64 {
    ns_of(Instant::now())
}

fn ns_of(instant: Instant) -> u64 {
    u64::try_from(instant.saturating_duration_since(origin()).as_nanos()).unwrap_or(u64::MAX) + 1
}

fn micros(nanos: u64) -> u32 {
    u32::try_from(nanos / 1000).unwrap_or(u32::MAX)
}

/// The `client_msg_id` of message `index` of a run: shaped like a UUID, unique per run
/// (`tag`), and telling the reader which message it is without a lookup table.
pub(crate) fn message_id(tag: u32, index: u32) -> String {
    format!("{tag:08x}-0000-4000-8000-{index:012x}")
}

/// The run tag and index a [`message_id`] encodes.
pub(crate) fn parse_message_id(id: &str) -> Option<(u32, u32)> {
    if id.len() != 36 || !id.is_char_boundary(8) || !id.is_char_boundary(24) {
        return None;
    }
    let tag = u32::from_str_radix(&id[..8], 16).ok()?;
    let index = u64::from_str_radix(&id[24..], 16).ok()?;
    Some((tag, u32::try_from(index).ok()?))
}

/// What a received frame is, as far as the generator cares.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Incoming<'a> {
    /// `ack` of this `client_msg_id`.
    Ack(&'a str),
    /// A message (Passerelle's `message`, or the bare hub's echoed `send`).
    Delivery(&'a str),
    /// `error` (about this `client_msg_id`, when it names one) or `epoch_required`.
    Refused {
        /// The `client_msg_id` refused, if the frame says.
        reference: Option<&'a str>,
        /// The stable error code.
        code: &'a str,
    },
    /// Anything else (`keys`, `channel`, `pong`, …).
    Other,
}

/// Recognises a frame by its first bytes (serde writes the `type` tag first).
pub(crate) fn classify(text: &str) -> Incoming<'_> {
    const ID: &str = "\"client_msg_id\":\"";
    if text.starts_with("{\"type\":\"ack\"") {
        return field(text, ID).map_or(Incoming::Other, Incoming::Ack);
    }
    if text.starts_with("{\"type\":\"message\"") || text.starts_with("{\"type\":\"send\"") {
        return field(text, ID).map_or(Incoming::Other, Incoming::Delivery);
    }
    if text.starts_with("{\"type\":\"error\"") {
        return Incoming::Refused {
            reference: field(text, "\"ref\":\""),
            code: field(text, "\"code\":\"").unwrap_or("unknown"),
        };
    }
    if text.starts_with("{\"type\":\"epoch_required\"") {
        return Incoming::Refused {
            reference: None,
            code: "epoch_required",
        };
    }
    Incoming::Other
}

/// A prepared message.
pub(crate) struct Msg {
    /// The connection that sends it (same index on every target).
    pub(crate) link: u32,
    /// Its channel, as numbered in the run's plans.
    pub(crate) channel: u32,
    /// Its epoch cycle, numbered across the run.
    pub(crate) slot: u32,
    /// Connections that should receive it once it is acknowledged.
    pub(crate) recipients: u32,
    /// The `send` frame, serialised.
    pub(crate) frame: Utf8Bytes,
}

/// An epoch key to publish before a cycle's messages.
pub(crate) struct Publish {
    /// `/api/v1/channels/{id}/epochs`.
    pub(crate) path: String,
    /// The publisher's bearer token.
    pub(crate) token: String,
    /// The `PublishEpoch` body, serialised.
    pub(crate) body: String,
}

/// One epoch of a channel: its key, then its messages.
pub(crate) struct Cycle {
    /// The key to publish first (Passerelle only).
    pub(crate) publish: Option<Publish>,
    /// Indexes of its messages.
    pub(crate) messages: Range<u32>,
    /// Its number across the run.
    pub(crate) slot: u32,
}

/// What one driver sends.
pub(crate) struct ChannelPlan {
    /// The channel's number in the run.
    pub(crate) channel: u32,
    /// Its cycles, in order.
    pub(crate) cycles: Vec<Cycle>,
}

/// Everything prepared for a run: the same for Passerelle and for the bare hub.
pub(crate) struct Plan {
    /// The run tag inside every `client_msg_id`.
    pub(crate) tag: u32,
    /// The messages, by index.
    pub(crate) messages: Arc<Vec<Msg>>,
    /// One entry per channel.
    pub(crate) channels: Arc<Vec<ChannelPlan>>,
    /// Number of cycles (slots).
    pub(crate) slots: usize,
    /// Deliveries expected: each message times the connections of its channel.
    pub(crate) expected_deliveries: u64,
}

/// How fast drivers send.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Pace {
    /// As fast as acknowledgements (Passerelle's epochs) or the window allow.
    Max,
    /// A fixed rate per channel, in messages per second.
    PerSecond(f64),
}

/// A token bucket on the client side.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pacing {
    /// Sustained frames per second.
    pub(crate) per_second: f64,
    /// Burst.
    pub(crate) burst: f64,
}

struct Pacer {
    pacing: Pacing,
    tokens: f64,
    last: Instant,
}

impl Pacer {
    fn new(pacing: Pacing) -> Pacer {
        Pacer {
            pacing,
            tokens: pacing.burst,
            last: Instant::now(),
        }
    }

    /// Takes a token; returns how long to wait first when there was none.
    fn delay(&mut self) -> Option<Duration> {
        let now = Instant::now();
        self.tokens = (self.tokens
            + now.duration_since(self.last).as_secs_f64() * self.pacing.per_second)
            .min(self.pacing.burst);
        self.last = now;
        self.tokens -= 1.0;
        (self.tokens < 0.0).then(|| Duration::from_secs_f64(-self.tokens / self.pacing.per_second))
    }
}

/// What one connection's reader measured. Aligned to its own cache lines: two readers
/// on two threads never write the same line.
#[derive(Default)]
#[repr(align(128))]
struct LinkStats {
    /// Deliveries received (read by the phase's progress loop).
    deliveries: AtomicU64,
    samples: Mutex<LinkSamples>,
}

#[derive(Default)]
struct LinkSamples {
    latency: Vec<u32>,
    sched_latency: Vec<u32>,
    ack_latency: Vec<u32>,
    delivered_bytes: u64,
    last_delivery: u64,
}

/// A timed run in progress: what was sent when, what came back.
pub(crate) struct Phase {
    tag: u32,
    messages: Arc<Vec<Msg>>,
    send_ns: Vec<AtomicU64>,
    sched_ns: Vec<AtomicU64>,
    /// 0: waiting, 1: acknowledged, 2: refused.
    state: Vec<AtomicU8>,
    remaining: Vec<AtomicU32>,
    wake: Vec<Notify>,
    in_flight: Vec<Semaphore>,
    window: Vec<Semaphore>,
    acks: AtomicU64,
    refused: AtomicU64,
    first_send: AtomicU64,
    last_ack: AtomicU64,
    /// What each connection's reader measured: written by that reader only, so that
    /// readers on different threads never share a counter (a shared atomic per delivery
    /// made the generator, not the server, the limit of the bare hub).
    links: Vec<LinkStats>,
    publish_latency: Mutex<Vec<u32>>,
    codes: Mutex<BTreeMap<String, u64>>,
    expected_deliveries: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Phase {
    /// A phase of `plan` over `links` connections; `window` messages in flight per
    /// channel when there are no epochs to wait for.
    pub(crate) fn new(plan: &Plan, links: usize, window: Option<usize>) -> Arc<Phase> {
        let count = plan.messages.len();
        let mut per_slot = vec![0u32; plan.slots];
        for message in plan.messages.iter() {
            per_slot[message.slot as usize] += 1;
        }
        let channels = plan.channels.len();
        Arc::new(Phase {
            tag: plan.tag,
            messages: plan.messages.clone(),
            send_ns: (0..count).map(|_| AtomicU64::new(0)).collect(),
            sched_ns: (0..count).map(|_| AtomicU64::new(0)).collect(),
            state: (0..count).map(|_| AtomicU8::new(PENDING)).collect(),
            remaining: per_slot.into_iter().map(AtomicU32::new).collect(),
            wake: (0..plan.slots).map(|_| Notify::new()).collect(),
            in_flight: (0..links).map(|_| Semaphore::new(LINK_IN_FLIGHT)).collect(),
            window: match window {
                Some(window) => (0..channels).map(|_| Semaphore::new(window)).collect(),
                None => Vec::new(),
            },
            acks: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            first_send: AtomicU64::new(u64::MAX),
            last_ack: AtomicU64::new(0),
            links: (0..links).map(|_| LinkStats::default()).collect(),
            publish_latency: Mutex::new(Vec::new()),
            codes: Mutex::new(BTreeMap::new()),
            expected_deliveries: plan.expected_deliveries,
        })
    }

    fn index(&self, id: &str) -> Option<usize> {
        let (tag, index) = parse_message_id(id)?;
        let index = index as usize;
        (tag == self.tag && index < self.messages.len()).then_some(index)
    }

    fn mark_sent(&self, index: usize) -> Utf8Bytes {
        let now = now_ns();
        self.send_ns[index].store(now, Ordering::Release);
        self.first_send.fetch_min(now, Ordering::AcqRel);
        self.messages[index].frame.clone()
    }

    fn finish(&self, index: usize) {
        let message = &self.messages[index];
        self.in_flight[message.link as usize].add_permits(1);
        if let Some(window) = self.window.get(message.channel as usize) {
            window.add_permits(1);
        }
        let slot = message.slot as usize;
        if self.remaining[slot].fetch_sub(1, Ordering::AcqRel) == 1 {
            self.wake[slot].notify_one();
        }
    }

    fn on_frame(&self, link: usize, text: &str) {
        let now = now_ns();
        match classify(text) {
            Incoming::Ack(id) => {
                let Some(index) = self.index(id) else { return };
                if self.state[index].swap(ACKED, Ordering::AcqRel) != PENDING {
                    return;
                }
                self.acks.fetch_add(1, Ordering::Relaxed);
                self.last_ack.fetch_max(now, Ordering::AcqRel);
                let sent = self.send_ns[index].load(Ordering::Acquire);
                if sent > 0 {
                    lock(&self.links[link].samples)
                        .ack_latency
                        .push(micros(now.saturating_sub(sent)));
                }
                self.finish(index);
            }
            Incoming::Delivery(id) => {
                let Some(index) = self.index(id) else { return };
                let stats = &self.links[link];
                stats.deliveries.fetch_add(1, Ordering::Release);
                let sent = self.send_ns[index].load(Ordering::Acquire);
                let scheduled = self.sched_ns[index].load(Ordering::Acquire);
                let mut samples = lock(&stats.samples);
                samples.last_delivery = now;
                samples.delivered_bytes += text.len() as u64;
                if sent > 0 {
                    samples.latency.push(micros(now.saturating_sub(sent)));
                }
                if scheduled > 0 {
                    samples
                        .sched_latency
                        .push(micros(now.saturating_sub(scheduled)));
                }
            }
            Incoming::Refused { reference, code } => {
                *lock(&self.codes).entry(code.to_owned()).or_default() += 1;
                if let Some(index) = reference.and_then(|id| self.index(id)) {
                    if self.state[index]
                        .compare_exchange(PENDING, REFUSED, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        self.refused.fetch_add(1, Ordering::Relaxed);
                        self.finish(index);
                    }
                }
            }
            Incoming::Other => {}
        }
    }

    /// Deliveries received so far, on every connection.
    fn deliveries(&self) -> u64 {
        self.links
            .iter()
            .map(|stats| stats.deliveries.load(Ordering::Acquire))
            .sum()
    }

    /// Messages neither acknowledged nor refused yet.
    fn pending(&self) -> usize {
        self.state
            .iter()
            .filter(|state| state.load(Ordering::Acquire) == PENDING)
            .count()
    }

    /// Deliveries due: each acknowledged message to each of its recipients (a refused
    /// message is delivered to no one).
    fn due_deliveries(&self) -> u64 {
        self.messages
            .iter()
            .zip(&self.state)
            .filter(|(_, state)| state.load(Ordering::Acquire) == ACKED)
            .map(|(message, _)| u64::from(message.recipients))
            .sum()
    }

    async fn wait_cycle(&self, slot: usize) -> Result<()> {
        let deadline = tokio::time::Instant::now() + CYCLE_TIMEOUT;
        while self.remaining[slot].load(Ordering::Acquire) > 0 {
            if tokio::time::timeout_at(deadline, self.wake[slot].notified())
                .await
                .is_err()
            {
                bail!(
                    "{} messages of a cycle still unacknowledged after {CYCLE_TIMEOUT:?}",
                    self.remaining[slot].load(Ordering::Acquire)
                );
            }
        }
        Ok(())
    }
}

/// A prepared message for a connection's writer.
pub(crate) struct Outgoing {
    phase: Arc<Phase>,
    index: u32,
}

/// Which phase the readers of a target report to.
#[derive(Default)]
struct Current {
    generation: AtomicU64,
    phase: RwLock<Option<Arc<Phase>>>,
}

impl Current {
    fn set(&self, phase: Option<Arc<Phase>>) {
        *self.phase.write().unwrap_or_else(|p| p.into_inner()) = phase;
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn get(&self) -> Option<Arc<Phase>> {
        self.phase.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// One WebSocket connection of the generator.
pub(crate) struct Link {
    closed: Arc<Mutex<Option<String>>>,
    writer: JoinHandle<()>,
    reader: JoinHandle<()>,
}

/// Opens a WebSocket with a 4 KiB read buffer (the client side should not be what
/// memory is spent on) and TCP_NODELAY.
pub(crate) async fn connect(url: &str, bearer: Option<&str>) -> Result<Socket> {
    let mut request = url.into_client_request()?;
    if let Some(token) = bearer {
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}"))?,
        );
    }
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(4096);
    match tokio_tungstenite::connect_async_with_config(request, Some(config), true).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                .into_owned();
            bail!("WebSocket refused: {} {body}", response.status())
        }
        Err(err) => Err(err).context("WebSocket connection failed"),
    }
}

const PING: &str = "{\"type\":\"ping\"}";

async fn write_loop(
    mut sink: SplitSink<Socket, Message>,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    link: usize,
    pacing: Option<Pacing>,
) {
    let mut pacer = pacing.map(Pacer::new);
    let mut ping = tokio::time::interval_at(
        tokio::time::Instant::now() + PING_EVERY.mul_f64(((link * 7919) % 1000) as f64 / 1000.0),
        PING_EVERY,
    );
    loop {
        let first = tokio::select! {
            next = queue.recv() => match next {
                Some(first) => first,
                None => return,
            },
            _ = ping.tick() => {
                if let Some(pacer) = pacer.as_mut() {
                    let _ = pacer.delay();
                }
                if sink.send(Message::text(PING)).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let mut next = Some(first);
        let mut unflushed = false;
        while let Some(out) = next.take() {
            let phase = &out.phase;
            if let Some(wait) = pacer.as_mut().and_then(Pacer::delay) {
                if unflushed {
                    if sink.flush().await.is_err() {
                        return;
                    }
                    unflushed = false;
                }
                tokio::time::sleep(wait).await;
            }
            let permits = &phase.in_flight[link];
            match permits.try_acquire() {
                Ok(permit) => permit.forget(),
                Err(_) => {
                    // Whatever is buffered goes out before waiting for acknowledgements.
                    if unflushed && sink.flush().await.is_err() {
                        return;
                    }
                    match permits.acquire().await {
                        Ok(permit) => permit.forget(),
                        Err(_) => return,
                    }
                }
            }
            let frame = phase.mark_sent(out.index as usize);
            if sink.feed(Message::Text(frame)).await.is_err() {
                return;
            }
            unflushed = true;
            next = queue.try_recv().ok();
        }
        if unflushed && sink.flush().await.is_err() {
            return;
        }
    }
}

async fn read_loop(
    mut stream: SplitStream<Socket>,
    link: usize,
    current: Arc<Current>,
    closed: Arc<Mutex<Option<String>>>,
) {
    let mut generation = u64::MAX;
    let mut phase: Option<Arc<Phase>> = None;
    let why = loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => {
                let now = current.generation.load(Ordering::Acquire);
                if now != generation {
                    phase = current.get();
                    generation = now;
                }
                if let Some(phase) = &phase {
                    phase.on_frame(link, text.as_str());
                }
            }
            Some(Ok(Message::Close(frame))) => {
                break match frame {
                    Some(frame) => format!("closed by the server: {} {}", frame.code, frame.reason),
                    None => "closed by the server".to_owned(),
                };
            }
            Some(Ok(_)) => {}
            Some(Err(err)) => break err.to_string(),
            None => break "connection ended".to_owned(),
        }
    };
    *lock(&closed) = Some(why);
}

/// The connections of one server, one per person, in the same order on every target.
pub(crate) struct Target {
    /// "Passerelle" or "bare hub".
    pub(crate) name: &'static str,
    links: Vec<Link>,
    queues: Arc<Vec<mpsc::UnboundedSender<Outgoing>>>,
    current: Arc<Current>,
    /// `http://addr` of Passerelle, whose epochs the drivers publish and wait for;
    /// `None` for the bare hub.
    pub(crate) epochs: Option<String>,
    /// The server process, whose CPU each phase reads.
    pid: u32,
}

/// Where to connect, with which bearer token.
pub(crate) type Endpoint = (String, Option<String>);

impl Target {
    /// Opens one connection per endpoint, `concurrency` handshakes at a time.
    pub(crate) async fn open(
        name: &'static str,
        endpoints: Vec<Endpoint>,
        pacing: Option<Pacing>,
        epochs: Option<String>,
        pid: u32,
    ) -> Result<Target> {
        let current = Arc::new(Current::default());
        let sockets: Vec<Result<Socket>> = futures_util::stream::iter(endpoints)
            .map(|(url, bearer)| async move { connect(&url, bearer.as_deref()).await })
            .buffered(16)
            .collect()
            .await;
        let mut links = Vec::new();
        let mut queues = Vec::new();
        for (index, socket) in sockets.into_iter().enumerate() {
            let (sink, stream) = socket?.split();
            let (queue, outgoing) = mpsc::unbounded_channel();
            let closed = Arc::new(Mutex::new(None));
            links.push(Link {
                closed: closed.clone(),
                writer: tokio::spawn(write_loop(sink, outgoing, index, pacing)),
                reader: tokio::spawn(read_loop(stream, index, current.clone(), closed)),
            });
            queues.push(queue);
        }
        Ok(Target {
            name,
            links,
            queues: Arc::new(queues),
            current,
            epochs,
            pid,
        })
    }

    /// Why connections were closed, for those that were.
    pub(crate) fn closed(&self) -> Vec<String> {
        self.links
            .iter()
            .filter_map(|link| lock(&link.closed).clone())
            .collect()
    }

    /// Closes every connection.
    pub(crate) fn close(self) {
        for link in self.links {
            link.writer.abort();
            link.reader.abort();
        }
    }

    /// Runs a phase of `plan` at `pace` and returns what was measured.
    pub(crate) async fn run(
        &self,
        plan: &Plan,
        pace: Pace,
        http: &reqwest::Client,
    ) -> PhaseOutcome {
        let window = self.epochs.is_none().then_some(100);
        let phase = Phase::new(plan, self.links.len(), window);
        self.current.set(Some(phase.clone()));
        let load1 = procs::load_average();
        let cpu_start = CpuMark::now(self.pid);
        let start = Instant::now();
        let mut drivers = JoinSet::new();
        for which in 0..plan.channels.len() {
            drivers.spawn(drive(
                phase.clone(),
                plan.channels.clone(),
                which,
                self.queues.clone(),
                self.epochs.clone(),
                pace,
                http.clone(),
                start,
            ));
        }
        let mut failures = Vec::new();
        while let Some(done) = drivers.join_next().await {
            match done {
                Ok(Ok(())) => {}
                Ok(Err(err)) => failures.push(format!("{err:#}")),
                Err(err) => failures.push(err.to_string()),
            }
        }
        // Drivers without epochs to wait for are done once everything is queued: wait
        // for the acknowledgements, then for the deliveries of what was acknowledged.
        let progress = |phase: &Phase| {
            phase.acks.load(Ordering::Acquire)
                + phase.refused.load(Ordering::Acquire)
                + phase.deliveries()
        };
        let mut seen = (progress(&phase), Instant::now());
        loop {
            let pending = phase.pending();
            let deliveries = phase.deliveries();
            let due = phase.due_deliveries();
            if pending == 0 && deliveries >= due {
                break;
            }
            let now = progress(&phase);
            if now != seen.0 {
                seen = (now, Instant::now());
            } else if seen.1.elapsed() > DELIVERY_GRACE {
                failures.push(format!(
                    "{pending} messages never answered; {deliveries} of the {due} deliveries of the acknowledged messages arrived"
                ));
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let cpu = CpuMark::now(self.pid).share_since(&cpu_start, load1);
        self.current.set(None);
        let closed = self.closed();
        if !closed.is_empty() {
            failures.push(format!(
                "{} connections closed, e.g. {}",
                closed.len(),
                closed[0]
            ));
        }
        PhaseOutcome::of(&phase, failures, cpu)
    }
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    phase: Arc<Phase>,
    channels: Arc<Vec<ChannelPlan>>,
    which: usize,
    queues: Arc<Vec<mpsc::UnboundedSender<Outgoing>>>,
    epochs: Option<String>,
    pace: Pace,
    http: reqwest::Client,
    start: Instant,
) -> Result<()> {
    let plan = &channels[which];
    let mut sent: u64 = 0;
    for cycle in &plan.cycles {
        if let (Some(base), Some(publish)) = (&epochs, &cycle.publish) {
            let began = Instant::now();
            let response = http
                .post(format!("{base}{}", publish.path))
                .bearer_auth(&publish.token)
                .header("content-type", "application/json")
                .body(publish.body.clone())
                .send()
                .await?;
            lock(&phase.publish_latency).push(micros(
                u64::try_from(began.elapsed().as_nanos()).unwrap_or(u64::MAX),
            ));
            let status = response.status();
            if !status.is_success() {
                let body = response.text().await.unwrap_or_default();
                bail!("publishing an epoch key: {status} {body}");
            }
        }
        for index in cycle.messages.clone() {
            if let Pace::PerSecond(rate) = pace {
                let due = start + Duration::from_secs_f64(sent as f64 / rate);
                sent += 1;
                phase.sched_ns[index as usize].store(ns_of(due), Ordering::Release);
                if due > Instant::now() {
                    tokio::time::sleep_until(due.into()).await;
                }
            }
            if let Some(window) = phase.window.get(plan.channel as usize) {
                window.acquire().await?.forget();
            }
            let link = phase.messages[index as usize].link as usize;
            queues[link]
                .send(Outgoing {
                    phase: phase.clone(),
                    index,
                })
                .ok()
                .context("a connection's writer stopped")?;
        }
        if epochs.is_some() {
            phase.wait_cycle(cycle.slot as usize).await?;
        }
    }
    Ok(())
}

/// CPU used during a phase, in % of one core (the machine has `cores` × 100 %): the
/// generator (this process, every thread) and the server it drives, from their
/// `/proc/<pid>/stat`. If the generator is near what the cores leave it, the figures
/// measure the generator, not the server.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CpuShare {
    /// This process.
    pub(crate) generator: f64,
    /// The server process.
    pub(crate) server: f64,
    /// The 1-minute load average when the phase started.
    pub(crate) load1: f64,
}

/// CPU seconds of the generator and of the server, and when they were read.
struct CpuMark {
    generator: f64,
    server: f64,
    at: Instant,
}

impl CpuMark {
    fn now(server: u32) -> CpuMark {
        CpuMark {
            generator: procs::cpu_seconds(std::process::id()).unwrap_or(f64::NAN),
            server: procs::cpu_seconds(server).unwrap_or(f64::NAN),
            at: Instant::now(),
        }
    }

    fn share_since(&self, start: &CpuMark, load1: f64) -> CpuShare {
        let wall = self.at.duration_since(start.at).as_secs_f64().max(1e-9);
        CpuShare {
            generator: (self.generator - start.generator) / wall * 100.0,
            server: (self.server - start.server) / wall * 100.0,
            load1,
        }
    }
}

/// What a phase measured.
#[derive(Clone, Debug, Default)]
pub(crate) struct PhaseOutcome {
    /// Messages prepared.
    pub(crate) messages: u64,
    /// Acknowledged.
    pub(crate) acked: u64,
    /// Refused by the server (with a reference).
    pub(crate) refused: u64,
    /// Deliveries received.
    pub(crate) deliveries: u64,
    /// Deliveries expected.
    pub(crate) expected_deliveries: u64,
    /// Acknowledged per second, from the first send to the last ack.
    pub(crate) acked_per_s: f64,
    /// Deliveries per second, from the first send to the last delivery.
    pub(crate) deliveries_per_s: f64,
    /// Mean size of the frames sent (the `send` frames), bytes.
    pub(crate) sent_frame_bytes: f64,
    /// Mean size of the frames delivered, bytes.
    pub(crate) delivered_frame_bytes: f64,
    /// Who used the cores during the phase.
    pub(crate) cpu: CpuShare,
    /// Send → arrival at each recipient.
    pub(crate) latency: Percentiles,
    /// Scheduled send time → arrival (fixed-rate phases: includes waiting for epochs).
    pub(crate) sched_latency: Option<Percentiles>,
    /// Send → ack.
    pub(crate) ack_latency: Percentiles,
    /// Epoch key publications (HTTP round trip).
    pub(crate) publish_latency: Option<Percentiles>,
    /// Send → arrival samples, microseconds (for the histogram).
    pub(crate) samples: Vec<u32>,
    /// Error codes received, with counts.
    pub(crate) codes: BTreeMap<String, u64>,
    /// What went wrong, if anything.
    pub(crate) failures: Vec<String>,
}

/// Every connection's samples, merged.
fn drain(links: &[LinkStats]) -> LinkSamples {
    let mut all = LinkSamples::default();
    for stats in links {
        let mut samples = lock(&stats.samples);
        all.latency.append(&mut samples.latency);
        all.sched_latency.append(&mut samples.sched_latency);
        all.ack_latency.append(&mut samples.ack_latency);
        all.delivered_bytes += samples.delivered_bytes;
        all.last_delivery = all.last_delivery.max(samples.last_delivery);
    }
    all
}

impl PhaseOutcome {
    fn of(phase: &Phase, failures: Vec<String>, cpu: CpuShare) -> PhaseOutcome {
        let first = phase.first_send.load(Ordering::Acquire);
        let per_second = |count: u64, last: u64| {
            if count == 0 || last <= first {
                0.0
            } else {
                count as f64 / ((last - first) as f64 / 1e9)
            }
        };
        let acked = phase.acks.load(Ordering::Acquire);
        let deliveries = phase.deliveries();
        let LinkSamples {
            latency: mut samples,
            sched_latency: mut sched,
            ack_latency: mut acks,
            delivered_bytes,
            last_delivery,
        } = drain(&phase.links);
        let latency = Percentiles::of_micros(&mut samples);
        let sent_bytes: usize = phase.messages.iter().map(|m| m.frame.len()).sum();
        let mut publishes = std::mem::take(&mut *lock(&phase.publish_latency));
        PhaseOutcome {
            messages: phase.messages.len() as u64,
            acked,
            refused: phase.refused.load(Ordering::Acquire),
            deliveries,
            expected_deliveries: phase.expected_deliveries,
            acked_per_s: per_second(acked, phase.last_ack.load(Ordering::Acquire)),
            deliveries_per_s: per_second(deliveries, last_delivery),
            sent_frame_bytes: sent_bytes as f64 / phase.messages.len().max(1) as f64,
            delivered_frame_bytes: if deliveries == 0 {
                f64::NAN
            } else {
                delivered_bytes as f64 / deliveries as f64
            },
            cpu,
            latency,
            sched_latency: (!sched.is_empty()).then(|| Percentiles::of_micros(&mut sched)),
            ack_latency: Percentiles::of_micros(&mut acks),
            publish_latency: (!publishes.is_empty())
                .then(|| Percentiles::of_micros(&mut publishes)),
            samples,
            codes: lock(&phase.codes).clone(),
            failures,
        }
    }
}

/// Idle connections: they read (answering the server's pings) and send a `ping` frame
/// every 25 s, as clients do.
pub(crate) struct IdleSet {
    tasks: Vec<JoinHandle<()>>,
    closed: Arc<AtomicU64>,
}

impl IdleSet {
    /// Opens a connection per endpoint, `concurrency` handshakes at a time. Returns the
    /// set and the errors of those that failed.
    pub(crate) async fn open(
        endpoints: Vec<Endpoint>,
        concurrency: usize,
    ) -> (IdleSet, Vec<String>) {
        let closed = Arc::new(AtomicU64::new(0));
        let results: Vec<Result<Socket>> = futures_util::stream::iter(endpoints)
            .map(|(url, bearer)| async move { connect(&url, bearer.as_deref()).await })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let mut tasks = Vec::new();
        let mut errors = Vec::new();
        for (index, result) in results.into_iter().enumerate() {
            match result {
                Ok(socket) => tasks.push(tokio::spawn(idle(socket, index, closed.clone()))),
                Err(err) => errors.push(format!("{err:#}")),
            }
        }
        (IdleSet { tasks, closed }, errors)
    }

    /// Connections open.
    pub(crate) fn open_count(&self) -> usize {
        self.tasks.len() - usize::try_from(self.closed.load(Ordering::Acquire)).unwrap_or(0)
    }

    /// Closes them all.
    pub(crate) fn close(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

async fn idle(mut socket: Socket, index: usize, closed: Arc<AtomicU64>) {
    let offset = PING_EVERY.mul_f64(((index * 7919) % 1000) as f64 / 1000.0);
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + offset, PING_EVERY);
    loop {
        tokio::select! {
            frame = socket.next() => match frame {
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::text(PING)).await.is_err() {
                    break;
                }
            }
        }
    }
    closed.fetch_add(1, Ordering::AcqRel);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_id_round_trips_and_looks_like_a_uuid() {
        let id = message_id(0xdead_beef, 123_456);
        assert_eq!(id.len(), 36);
        assert_eq!(parse_message_id(&id), Some((0xdead_beef, 123_456)));
        assert_eq!(parse_message_id("not-an-id"), None);
    }

    #[test]
    fn frames_are_recognised_by_their_first_bytes() {
        let ack = r#"{"type":"ack","client_msg_id":"m1","channel_id":"c","seq":1,"ts":2}"#;
        assert_eq!(classify(ack), Incoming::Ack("m1"));
        let message = r#"{"type":"message","channel_id":"c","seq":1,"sender":"u","envelope":{"v":1,"client_msg_id":"m2"},"ts":2}"#;
        assert_eq!(classify(message), Incoming::Delivery("m2"));
        let error = r#"{"type":"error","ref":"m3","code":"bad_signature","message":"…"}"#;
        assert_eq!(
            classify(error),
            Incoming::Refused {
                reference: Some("m3"),
                code: "bad_signature"
            }
        );
        assert_eq!(classify(r#"{"type":"pong"}"#), Incoming::Other);
    }
}
