//! One WebSocket connection: frames are parsed once here, at the edge, into the
//! `shared` enums; everything after works on types.
//!
//! A writer task drains the connection's bounded queue into the socket; this task reads
//! frames, with a rate limit, an idle timeout and a cap on malformed frames. Nothing a
//! client sends can panic the loop: every refusal is an `error` frame (or a close with a
//! reason) and is recorded in the access log.
//!
//! Every frame that reads or writes a channel (`send`, `sync`, `read`, `typing`) goes
//! through the charter gate first (CHARTER.md C2, C9, C11), like the REST routes; the
//! connection receives live frames only of the channels the gate lets it read. A `send`
//! to a channel the hub already delivers to the user is gated by the writer instead, at
//! commit, once per batch (see [`crate::messages`]): the gate's seven queries per message
//! here were the bottleneck of every message (docs/BENCH.md).
//!
//! The writer task feeds every frame already queued before one flush, so that a burst
//! costs one socket write.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use passerelle_shared::crypto::DeviceSigningPublicKey;
use passerelle_shared::ids::ChannelId;
use passerelle_shared::protocol::v1::channels::Cursors;
use passerelle_shared::protocol::v1::ws::{ClientFrame, ServerFrame};
use serde_json::json;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::{timeout, Instant};

use crate::app::channels::{frame_text, required_devices, stored_messages};
use crate::auth::CurrentUser;
use crate::bus::hub::{CloseReason, ConnId, ProtocolClose};
use crate::bus::{AccessReason, BusEvent, Frame};
use crate::db;
use crate::gate::{self, Verdict};
use crate::messages::SendOutcome;
use crate::policy::{Access, Lifecycle, Refusal};
use crate::state::AppState;

/// Frames over the rate limit within [`FLOOD_WINDOW`] before the connection is closed.
const MAX_OVER_LIMIT: u32 = 200;
/// The window over which frames beyond the rate limit are counted.
const FLOOD_WINDOW: Duration = Duration::from_secs(10);
/// Malformed frames tolerated before the connection is closed.
const MAX_MALFORMED: u32 = 20;
/// Sends of one connection waiting for their commit at once.
const MAX_SENDS_IN_FLIGHT: usize = 256;
/// Frames written to the socket before a flush at most: a long queue is written in
/// bursts of this many, so that a ping or a close request is never far behind.
const MAX_FRAMES_PER_FLUSH: usize = 256;
/// Messages per page when catching up.
const SYNC_PAGE: u64 = 500;
/// Channel ids kept in the one event that records a frame's many refusals.
const SAMPLE_IDS: usize = 16;

/// A token bucket in real time: `rate` frames per second on average, twice as many in a
/// burst (`ws_frames_per_second`).
struct RateLimit {
    tokens: f64,
    rate: f64,
    last: Instant,
}

impl RateLimit {
    fn new(per_second: u32) -> RateLimit {
        let rate = f64::from(per_second);
        RateLimit {
            tokens: 2.0 * rate,
            rate,
            last: Instant::now(),
        }
    }

    fn allow(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate)
            .min(2.0 * self.rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What the reader decided.
enum Next {
    Continue,
    Close(ProtocolClose),
}

/// The channels this connection starts receiving: those the gate lets the user read.
async fn readable_channels(
    state: &AppState,
    user: &CurrentUser,
) -> Result<Vec<String>, sea_orm::DbErr> {
    let mut open = Vec::new();
    for membership in db::members::of_user(&state.db, &user.user_id).await? {
        if let Verdict::Open =
            gate::for_member(state, user, &membership.channel_id, Access::Read).await
        {
            open.push(membership.channel_id);
        }
    }
    Ok(open)
}

/// The connection's context.
struct Connection {
    state: AppState,
    user: CurrentUser,
    device_id: String,
    signing_key: DeviceSigningPublicKey,
    out: mpsc::Sender<Frame>,
    /// This connection in the hub.
    connection: ConnId,
    sends: Arc<Semaphore>,
    malformed: u32,
    /// Whether the client sent anything but pings since the last session check: a
    /// connection kept open by its pings alone does not keep its session alive.
    active: bool,
}

/// Why a connection may no longer be served, if it may not: its session ended or
/// expired, its account was disabled or its device revoked. `active`: the client used the
/// session since the last check (it is then marked as used).
async fn lost_access(
    state: &AppState,
    session_id: &str,
    device_id: &str,
    active: bool,
) -> Option<AccessReason> {
    let now = state.now_ms();
    // The database is down: the access feed's follower decides (it closes every
    // connection if this lasts).
    let session = db::sessions::find(&state.db, session_id).await.ok()?;
    let Some(session) = session.filter(|s| s.revoked_at.is_none()) else {
        return Some(AccessReason::SessionRevoked);
    };
    let idle_ms = i64::from(state.config.session_idle_minutes) * 60_000;
    let last_use = if active { now } else { session.last_seen_at };
    if session.expires_at <= now || last_use + idle_ms <= now {
        return Some(AccessReason::SessionExpired);
    }
    if let Ok(Some(account)) = db::accounts::find_user(&state.db, &session.user_id).await {
        if account.disabled {
            return Some(AccessReason::AccountDisabled);
        }
    }
    if let Ok(Some(device)) = db::keys::find_device(&state.db, device_id).await {
        if device.revoked_at.is_some() {
            return Some(AccessReason::DeviceRevoked);
        }
    }
    if active && now - session.last_seen_at > 60_000 {
        let _ = db::sessions::touch(&state.db, &session.id, now).await;
    }
    None
}

/// Runs one connection until it closes.
pub async fn run(
    state: AppState,
    user: CurrentUser,
    device_id: String,
    signing_key: DeviceSigningPublicKey,
    socket: WebSocket,
    // The connection's place in the per-account limit, given back when it ends.
    _lease: crate::bus::Lease,
) {
    let mut registration = state.hub.register(
        &user.user_id,
        &device_id,
        &user.session_id,
        state.config.ws_queue_frames,
    );
    // Boxed, like `handle_text` below: the database futures are large, and inlined they
    // would make every idle connection's task as large as the largest of them.
    match Box::pin(readable_channels(&state, &user)).await {
        Ok(channels) => state.hub.activate(registration.id, channels),
        Err(err) => {
            tracing::error!(error = %err, "cannot load memberships for a connection");
            return;
        }
    }
    // An exclusion that committed between the upgrade's checks and the registration
    // above was applied to a hub that did not know this connection yet: the database
    // tells, and every later one reaches the registered connection.
    if let Some(reason) = Box::pin(lost_access(&state, &user.session_id, &device_id, false)).await {
        state
            .hub
            .close(registration.id, CloseReason::Excluded(reason));
    }
    // Taken once, here: a fresh registration always has its queue.
    let Some(mut queue) = registration.queue.take() else {
        return;
    };
    state.metrics.ws_connections.inc();
    let (mut sink, mut stream) = socket.split();
    let mut close = registration.close.clone();
    // The timings are settings (`ws_*_ms`, docs/OPERATIONS.md), so that tests show in
    // milliseconds what takes minutes with the defaults. The session check catches what
    // no event announces: a session that expires, idle or absolute (exclusions close
    // connections at once, through the hub).
    let ping_every = Duration::from_millis(state.config.ws_ping_interval_ms);
    let idle_timeout = Duration::from_millis(state.config.ws_idle_timeout_ms);
    let session_check_every = Duration::from_millis(state.config.ws_session_check_ms);
    let writer = tokio::spawn(async move {
        let mut ping = tokio::time::interval(ping_every);
        ping.tick().await;
        let mut hub_gone = false;
        loop {
            tokio::select! {
                biased;
                changed = close.changed(), if !hub_gone => {
                    // Once the hub has forgotten the connection (the session is ending),
                    // only the queue is left to drain: polling `changed` again would
                    // resolve at once, forever.
                    let Ok(()) = changed else {
                        hub_gone = true;
                        continue;
                    };
                    let reason = *close.borrow();
                    let Some((code, text)) = reason.close_frame() else {
                        continue;
                    };
                    // The connection's own close comes after what it queued before (its
                    // last error frame); any other close comes at once: after an
                    // exclusion, nothing queued may reach the client.
                    if let CloseReason::Protocol(_) = reason {
                        while let Ok(frame) = queue.try_recv() {
                            if sink.feed(Message::Text(frame)).await.is_err() {
                                return;
                            }
                        }
                    }
                    let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(text) }))).await;
                    return;
                }
                frame = queue.recv() => {
                    let Some(frame) = frame else { return };
                    // Feed every frame already queued, then flush once: one write for a
                    // burst (a fan-out queues many at once) instead of one per frame.
                    let mut next = Some(frame);
                    let mut fed = 0;
                    while let Some(frame) = next.take() {
                        if sink.feed(Message::Text(frame)).await.is_err() {
                            return;
                        }
                        fed += 1;
                        if fed < MAX_FRAMES_PER_FLUSH {
                            next = queue.try_recv().ok();
                        }
                    }
                    if sink.flush().await.is_err() {
                        return;
                    }
                }
                _ = ping.tick() => {
                    if sink.send(Message::Ping(Default::default())).await.is_err() {
                        return;
                    }
                }
            }
        }
    });

    let mut connection = Connection {
        out: registration.sender.clone(),
        state: state.clone(),
        user,
        device_id,
        signing_key,
        connection: registration.id,
        sends: Arc::new(Semaphore::new(MAX_SENDS_IN_FLIGHT)),
        malformed: 0,
        active: false,
    };
    let mut session_check =
        tokio::time::interval_at(Instant::now() + session_check_every, session_check_every);
    let mut rate = RateLimit::new(state.config.ws_frames_per_second);
    let mut over_limit: u32 = 0;
    let mut over_limit_since = Instant::now();
    let mut writer = writer;
    let mut writer_done = false;
    loop {
        let incoming = tokio::select! {
            _ = &mut writer => {
                writer_done = true;
                break;
            }
            _ = session_check.tick() => {
                if let Some(reason) = Box::pin(connection.lost_access()).await {
                    state.hub.close(registration.id, CloseReason::Excluded(reason));
                }
                continue;
            }
            incoming = timeout(idle_timeout, stream.next()) => incoming,
        };
        let message = match incoming {
            Err(_) => {
                connection.close(ProtocolClose::IdleTimeout);
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(err))) => {
                // A frame the WebSocket layer refused: answered, recorded and closed with
                // the code RFC 6455 gives it; anything else is a broken connection.
                if let Some(why) = read_refusal(&err) {
                    Box::pin(connection.refuse_and_close(why)).await;
                }
                break;
            }
            Ok(Some(Ok(message))) => message,
        };
        let next = match message {
            Message::Text(text) => {
                if rate.allow() {
                    // Boxed: allocated while a frame is handled, not for the whole
                    // life of an idle connection (memory per connection).
                    Box::pin(connection.handle_text(&text)).await
                } else {
                    // Answered and logged once per burst, not once per frame: a flood must
                    // not turn into a flood of the access log. A flood that goes on is cut.
                    if over_limit_since.elapsed() > FLOOD_WINDOW {
                        over_limit = 0;
                        over_limit_since = Instant::now();
                    }
                    over_limit += 1;
                    if over_limit == 1 {
                        Box::pin(connection.refuse(
                            None,
                            "rate_limited",
                            "Trop de messages en peu de temps ; ralentissez.",
                        ))
                        .await
                    } else if over_limit >= MAX_OVER_LIMIT {
                        Next::Close(ProtocolClose::RateLimited)
                    } else {
                        Next::Continue
                    }
                }
            }
            Message::Binary(_) => {
                connection.malformed += 1;
                Box::pin(connection.refuse(
                    None,
                    "binary_not_supported",
                    "Format de trame non pris en charge.",
                ))
                .await;
                if connection.malformed >= MAX_MALFORMED {
                    Next::Close(ProtocolClose::TooManyMalformed)
                } else {
                    Next::Continue
                }
            }
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => Next::Continue,
        };
        if let Next::Close(why) = next {
            connection.close(why);
            break;
        }
    }
    drop(connection);
    drop(registration);
    if !writer_done {
        let _ = writer.await;
    }
    state.metrics.ws_connections.dec();
}

/// The refusal a read error stands for, if it is the client's doing.
fn read_refusal(err: &axum::Error) -> Option<ProtocolClose> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        match current.downcast_ref::<tungstenite::Error>() {
            Some(tungstenite::Error::Capacity(_)) => return Some(ProtocolClose::FrameTooLarge),
            Some(tungstenite::Error::Utf8(_)) => return Some(ProtocolClose::InvalidUtf8),
            Some(_) => return None,
            None => source = current.source(),
        }
    }
    None
}

impl Connection {
    /// Answers an `error` frame for a frame the WebSocket layer refused, records the
    /// refusal and closes the connection with the matching code.
    async fn refuse_and_close(&mut self, why: ProtocolClose) {
        let (code, message) = match why {
            ProtocolClose::FrameTooLarge => (
                "frame_too_large",
                "Trame trop volumineuse : la connexion est fermée.",
            ),
            _ => (
                "invalid_utf8",
                "Trame illisible (texte non UTF-8) : la connexion est fermée.",
            ),
        };
        self.refuse(None, code, message).await;
        self.close(why);
    }

    /// [`lost_access`] for this connection; an active session is marked as used, as a
    /// REST request would.
    async fn lost_access(&mut self) -> Option<AccessReason> {
        let active = std::mem::take(&mut self.active);
        lost_access(&self.state, &self.user.session_id, &self.device_id, active).await
    }

    async fn push(&self, frame: &ServerFrame) {
        match frame_text(frame) {
            Ok(text) => {
                let _ = self.out.send(text).await;
            }
            Err(err) => tracing::error!(error = %err, "cannot serialise a frame"),
        }
    }

    /// Ends the connection once the frames queued before are written.
    fn close(&self, why: ProtocolClose) {
        self.state
            .hub
            .close(self.connection, CloseReason::Protocol(why));
    }

    /// Answers an error frame and records the refusal.
    async fn refuse(
        &mut self,
        reference: Option<String>,
        code: &'static str,
        message: &str,
    ) -> Next {
        self.state
            .record_denial(
                self.user.actor(),
                "ws_frame",
                reference.clone(),
                json!({ "reason": code }),
            )
            .await;
        self.push(&ServerFrame::Error {
            reference,
            code: code.into(),
            message: message.into(),
        })
        .await;
        Next::Continue
    }

    /// Answers an error frame for a channel refusal and records it as a denial of the
    /// frame.
    async fn refuse_with(&mut self, reference: Option<String>, refusal: Refusal) -> Next {
        self.refuse(reference, refusal.code(), refusal.message())
            .await
    }

    /// Answers an error frame for a charter refusal and records it as a denial of
    /// `action` on the channel.
    async fn refuse_gate(
        &mut self,
        reference: Option<String>,
        channel_id: &str,
        action: &'static str,
        refusal: Refusal,
    ) -> Next {
        self.state
            .record_denial(
                self.user.actor(),
                action,
                Some(channel_id.to_owned()),
                json!({ "reason": refusal.code(), "via": "ws" }),
            )
            .await;
        self.push(&ServerFrame::Error {
            reference,
            code: refusal.code().into(),
            message: refusal.message().into(),
        })
        .await;
        Next::Continue
    }

    async fn handle_text(&mut self, text: &str) -> Next {
        let frame = match serde_json::from_str::<ClientFrame>(text) {
            Ok(frame) => frame,
            Err(_) => {
                self.malformed += 1;
                self.refuse(None, "malformed_frame", "Trame illisible.")
                    .await;
                if self.malformed >= MAX_MALFORMED {
                    return Next::Close(ProtocolClose::TooManyMalformed);
                }
                return Next::Continue;
            }
        };
        self.active |= !matches!(frame, ClientFrame::Ping);
        match frame {
            ClientFrame::Send {
                channel_id,
                envelope,
            } => {
                let reference = Some(envelope.client_msg_id.clone());
                if envelope.channel_id != channel_id || envelope.sender_device != self.device_id {
                    return self
                        .refuse(
                            reference,
                            "invalid_envelope",
                            "L'enveloppe ne correspond pas au canal ou à cet appareil.",
                        )
                        .await;
                }
                if envelope.verify_signature(&self.signing_key).is_err() {
                    return self
                        .refuse(
                            reference,
                            "bad_signature",
                            "La signature du message n'est pas valide.",
                        )
                        .await;
                }
                // The hub delivers a channel to a user only after the gate let them read
                // it, and stops as soon as that may change (removal, a new charter or rules
                // version, destruction); the writer decides the gate for writing again at
                // commit, on rows read in its transaction, one query per fact per batch
                // (`messages::writable`). So a subscribed sender skips the gate's seven
                // queries here. Without a subscription the gate answers here, as before;
                // a non-member goes on to the writer, which refuses and records it.
                if !self.state.hub.receives(&self.user.user_id, &channel_id) {
                    match gate::for_member(&self.state, &self.user, &channel_id, Access::Write)
                        .await
                    {
                        Verdict::Open | Verdict::NotMember => {}
                        Verdict::Gone => {
                            return self.refuse_with(reference, Refusal::NotMember).await
                        }
                        Verdict::Refused(code) => {
                            return self
                                .refuse_gate(reference, &channel_id, "message_send", code)
                                .await
                        }
                        Verdict::Unavailable => return self.unavailable(reference).await,
                    }
                }
                let Ok(permit) = self.sends.clone().acquire_owned().await else {
                    return Next::Continue;
                };
                let state = self.state.clone();
                let user = self.user.clone();
                let out = self.out.clone();
                let client_msg_id = envelope.client_msg_id.clone();
                // The writer answers on its own task: an acknowledgement is pushed at
                // once; a refusal, which may record a denial, gets a task of its own.
                let answer = Box::new(move |outcome: SendOutcome| {
                    if let SendOutcome::Committed { seq, ts } = outcome {
                        let ack = frame_text(&ServerFrame::Ack {
                            client_msg_id,
                            channel_id,
                            seq,
                            ts,
                        });
                        if let Ok(ack) = ack {
                            push_or_wait(out, ack, permit);
                        }
                        return;
                    }
                    tokio::spawn(async move {
                        let _permit = permit;
                        let frame =
                            send_answer(&state, &user, &channel_id, &client_msg_id, outcome).await;
                        if let Ok(text) = frame_text(&frame) {
                            let _ = out.send(text).await;
                        }
                    });
                });
                let sender_user = self.user.user_id.clone();
                self.state
                    .messages
                    .submit(sender_user, envelope, answer)
                    .await;
                Next::Continue
            }
            ClientFrame::Sync { cursors } => self.sync(cursors).await,
            ClientFrame::Read { channel_id, seq } => {
                let seq_db = i64::try_from(seq).unwrap_or(i64::MAX);
                match gate::for_member(&self.state, &self.user, &channel_id, Access::Read).await {
                    Verdict::Open => {}
                    Verdict::NotMember | Verdict::Gone => {
                        return self
                            .refuse_with(Some(channel_id.into_string()), Refusal::NotMember)
                            .await
                    }
                    Verdict::Refused(code) => {
                        let reference = Some(channel_id.clone());
                        return self
                            .refuse_gate(reference.map(Into::into), &channel_id, "receipt", code)
                            .await;
                    }
                    Verdict::Unavailable => {
                        return self.unavailable(Some(channel_id.into_string())).await
                    }
                }
                match db::members::set_read(&self.state.db, &channel_id, &self.user.user_id, seq_db)
                    .await
                {
                    Ok(true) => {
                        if let Ok(frame) = frame_text(&ServerFrame::Receipt {
                            channel_id: channel_id.clone(),
                            user_id: self.user.user_id.clone().into(),
                            seq,
                        }) {
                            self.state.bus.publish(BusEvent::Channel {
                                channel_id: channel_id.into_string(),
                                frame,
                            });
                        }
                        Next::Continue
                    }
                    Ok(false) => Next::Continue,
                    Err(_) => self.unavailable(Some(channel_id.into_string())).await,
                }
            }
            ClientFrame::Typing { channel_id } => {
                match gate::for_member(&self.state, &self.user, &channel_id, Access::Write).await {
                    Verdict::Open => {}
                    Verdict::NotMember | Verdict::Gone => {
                        return self
                            .refuse_with(Some(channel_id.into_string()), Refusal::NotMember)
                            .await;
                    }
                    Verdict::Refused(code) => {
                        let reference = Some(channel_id.clone());
                        return self
                            .refuse_gate(reference.map(Into::into), &channel_id, "typing", code)
                            .await;
                    }
                    Verdict::Unavailable => {
                        return self.unavailable(Some(channel_id.into_string())).await
                    }
                }
                if let Ok(frame) = frame_text(&ServerFrame::Typing {
                    channel_id: channel_id.clone(),
                    user_id: self.user.user_id.clone().into(),
                }) {
                    self.state.bus.publish(BusEvent::Channel {
                        channel_id: channel_id.into_string(),
                        frame,
                    });
                }
                Next::Continue
            }
            ClientFrame::Ping => {
                self.push(&ServerFrame::Pong).await;
                Next::Continue
            }
        }
    }

    async fn unavailable(&mut self, reference: Option<String>) -> Next {
        self.push(&ServerFrame::Error {
            reference,
            code: "unavailable".into(),
            message: "Service momentanément indisponible ; réessayez.".into(),
        })
        .await;
        Next::Continue
    }

    /// Sends everything after the cursors, page by page, then `synced`. Channels left
    /// out of the cursors start from where the user joined. A channel the charter gate
    /// closes gets an `error` frame with the refusal's code instead (an archive the client
    /// did not ask for is skipped quietly: archives are closed by default); a destroyed
    /// channel in the cursors gets `channel_destroyed`.
    async fn sync(&mut self, cursors: Cursors) -> Next {
        let memberships = match db::members::of_user(&self.state.db, &self.user.user_id).await {
            Ok(rows) => rows,
            Err(_) => return self.unavailable(None).await,
        };
        let member_of: BTreeMap<String, i64> = memberships
            .into_iter()
            .map(|m| (m.channel_id, m.joined_seq))
            .collect();
        // One frame may name thousands of channels: each refused one is answered, and the
        // refusals are recorded as one event with their count (and the first few ids), so
        // that a frame writes a bounded number of access-log events.
        let mut refused: Vec<&ChannelId> = Vec::new();
        for channel_id in cursors
            .keys()
            .filter(|c| !member_of.contains_key(c.as_str()))
        {
            let gone = match db::channels::find(&self.state.db, channel_id).await {
                Ok(found) => found.is_some_and(|c| Lifecycle::parse(&c.status) == Lifecycle::Gone),
                Err(_) => return self.unavailable(Some(channel_id.to_string())).await,
            };
            if gone {
                self.push(&ServerFrame::ChannelDestroyed {
                    channel_id: channel_id.clone(),
                })
                .await;
                continue;
            }
            refused.push(channel_id);
            self.push(&ServerFrame::Error {
                reference: Some(channel_id.to_string()),
                code: Refusal::NotMember.code().into(),
                message: Refusal::NotMember.message().into(),
            })
            .await;
        }
        match refused.as_slice() {
            [] => {}
            [one] => {
                self.state
                    .record_denial(
                        self.user.actor(),
                        "ws_frame",
                        Some((*one).to_string()),
                        json!({ "reason": Refusal::NotMember.code() }),
                    )
                    .await;
            }
            many => {
                let sample: Vec<&ChannelId> = many.iter().copied().take(SAMPLE_IDS).collect();
                self.state
                    .record_denial(
                        self.user.actor(),
                        "ws_frame",
                        None,
                        json!({
                            "reason": Refusal::NotMember.code(),
                            "count": many.len(),
                            "channels": sample,
                            "frame": "sync",
                        }),
                    )
                    .await;
            }
        }
        let mut reached = Cursors::new();
        for (channel_id, joined_seq) in member_of {
            match gate::for_member(&self.state, &self.user, &channel_id, Access::Read).await {
                Verdict::Open => {}
                Verdict::NotMember | Verdict::Gone => continue,
                Verdict::Refused(Refusal::ArchiveReasonRequired)
                    if !cursors.contains_key(channel_id.as_str()) =>
                {
                    continue
                }
                Verdict::Refused(code) => {
                    let reference = Some(channel_id.clone());
                    self.refuse_gate(reference, &channel_id, "history_read", code)
                        .await;
                    continue;
                }
                Verdict::Unavailable => return self.unavailable(Some(channel_id)).await,
            }
            let cursor = cursors.get(channel_id.as_str()).copied().unwrap_or(0);
            let mut after = i64::try_from(cursor).unwrap_or(i64::MAX).max(joined_seq);
            let first = after;
            loop {
                let rows = match db::messages::after(&self.state.db, &channel_id, after, SYNC_PAGE)
                    .await
                {
                    Ok(rows) => rows,
                    Err(_) => return self.unavailable(Some(channel_id)).await,
                };
                let full = rows.len() as u64 == SYNC_PAGE;
                let Ok(messages) = stored_messages(rows) else {
                    return self.unavailable(Some(channel_id)).await;
                };
                for message in messages {
                    after = i64::try_from(message.seq).unwrap_or(after);
                    self.push(&ServerFrame::Message(message)).await;
                }
                if !full {
                    break;
                }
            }
            if after > first {
                let details = json!({ "from_seq": first + 1, "to_seq": after, "via": "sync" });
                if let Err(err) = self
                    .state
                    .record(
                        self.user.actor(),
                        "history_read",
                        Some(channel_id.clone()),
                        crate::audit::Outcome::Success,
                        details,
                    )
                    .await
                {
                    tracing::error!(error = %err, "cannot record a sync in the access log");
                    return self.unavailable(Some(channel_id)).await;
                }
            }
            reached.insert(channel_id.into(), u64::try_from(after).unwrap_or_default());
        }
        self.push(&ServerFrame::Synced { cursors: reached }).await;
        Next::Continue
    }
}

/// Pushes an acknowledgement into the connection's queue, or, when the queue is full,
/// waits for room on a task of its own, holding the send's place (`permit`) until then.
fn push_or_wait(out: mpsc::Sender<Frame>, frame: Frame, permit: OwnedSemaphorePermit) {
    match out.try_send(frame) {
        Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
        Err(mpsc::error::TrySendError::Full(frame)) => {
            tokio::spawn(async move {
                let _permit = permit;
                let _ = out.send(frame).await;
            });
        }
    }
}

/// The frame that answers a send (an acknowledgement is built by the writer's answer).
async fn send_answer(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    client_msg_id: &str,
    outcome: SendOutcome,
) -> ServerFrame {
    let reference = Some(client_msg_id.to_owned());
    let error = |code: &str, message: &str| ServerFrame::Error {
        reference: reference.clone(),
        code: code.into(),
        message: message.into(),
    };
    match outcome {
        SendOutcome::Committed { seq, ts } => ServerFrame::Ack {
            client_msg_id: client_msg_id.to_owned(),
            channel_id: channel_id.into(),
            seq,
            ts,
        },
        SendOutcome::EpochRequired { current } => match required_devices(state, channel_id).await {
            Ok(devices) => ServerFrame::EpochRequired {
                reference: reference.clone(),
                channel_id: channel_id.into(),
                epoch: current + 1,
                devices,
            },
            Err(_) => error(
                "unavailable",
                "Service momentanément indisponible ; réessayez.",
            ),
        },
        SendOutcome::NotMember => {
            state
                .record_denial(
                    user.actor(),
                    "message_send",
                    Some(channel_id.to_owned()),
                    json!({ "reason": "not_member" }),
                )
                .await;
            error(Refusal::NotMember.code(), Refusal::NotMember.message())
        }
        SendOutcome::DeviceRevoked => {
            state
                .record_denial(
                    user.actor(),
                    "message_send",
                    Some(channel_id.to_owned()),
                    json!({ "reason": "device_revoked" }),
                )
                .await;
            error("device_revoked", "Cet appareil a été révoqué.")
        }
        SendOutcome::Blocked(refusal) => {
            state
                .record_denial(
                    user.actor(),
                    "message_send",
                    Some(channel_id.to_owned()),
                    json!({ "reason": refusal.code(), "via": "ws" }),
                )
                .await;
            error(refusal.code(), refusal.message())
        }
        SendOutcome::Unavailable => error(
            "unavailable",
            "Service momentanément indisponible ; réessayez.",
        ),
    }
}
