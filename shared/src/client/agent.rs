//! [`Agent`]: a device that carries a long run on its own (docs/SDK.md). It keeps its
//! device and cursors in a [`Store`], reconnects with backoff, catches up from its
//! cursors after every reconnection, keeps the connection alive between commands, re-seals
//! a message the server refuses for a new epoch, and hands out decrypted events in order.
//!
//! The lower layers ([`Client`], [`Connection`](super::Connection)) stay available for programs that manage
//! all of this themselves (the integration tests do).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use reqwest::StatusCode;
use tokio::time::Instant;

use super::device::uuid_v4;
use super::link::{Incoming, Link};
use super::store::{AgentState, SecretString, Store, StoredEpochKey, StoredSession, STATE_VERSION};
use super::ws::{accept_in, synced_in, Pending};
use super::{Client, ClientError, Device, Result};
use crate::crypto::{to_base64url, EpochKey, MessageContent, OrderNotice, Shredded};
use crate::protocol::v1::channels::{
    Cursors, EpochState, MembershipChange, MembershipEvent, StoredMessage,
};
use crate::protocol::v1::charter::{Accept, CharterStatus, RulesStatus};
use crate::protocol::v1::routes;
use crate::protocol::v1::ws::{ClientFrame, ServerFrame};

/// Unix time in milliseconds, as the agent reads it (for TOTP codes).
pub type UnixMillis = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Timings of an agent. The defaults suit a real server; tests shorten them instead of
/// waiting.
#[derive(Clone)]
pub struct AgentOptions {
    /// How often the connection task pings when nothing was sent (the server closes a
    /// connection silent for 75 s; its own pings, answered by the task, also count).
    pub ping_every: Duration,
    /// How long a `send` waits for its answer before it treats the connection as lost.
    pub answer_within: Duration,
    /// First wait before reconnecting; doubled after each failure.
    pub backoff_min: Duration,
    /// Longest wait between reconnection attempts.
    pub backoff_max: Duration,
    /// Reconnection attempts before giving up; `None`: never give up.
    pub max_reconnect_attempts: Option<u32>,
    /// The clock TOTP codes are computed from.
    pub now_ms: UnixMillis,
    /// The device's name, shown to the user and the administrators.
    pub device_name: String,
}

impl Default for AgentOptions {
    fn default() -> AgentOptions {
        AgentOptions {
            ping_every: Duration::from_secs(25),
            answer_within: Duration::from_secs(30),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            max_reconnect_attempts: None,
            now_ms: Arc::new(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                    .unwrap_or_default()
            }),
            device_name: "passerelle-sdk".into(),
        }
    }
}

/// What an agent hands out.
#[derive(Debug)]
pub enum Event {
    /// A message, decrypted and verified, in order within its channel.
    Message {
        /// The stored message (sender, seq, time, envelope).
        message: StoredMessage,
        /// Its content.
        content: MessageContent,
        /// Sent by this account (from this device or another).
        from_me: bool,
        /// What is wrong with its sender's order before or at this message (a message
        /// missing, a replay, a reordering, a downgrade to version 1, a far clock;
        /// docs/PROTOCOL.md §8.8): empty when all is well.
        order: Vec<OrderNotice>,
        /// Signed by a device of a previous identity of its sender, which the key
        /// transparency log shows (« envoyé avec une ancienne clé », docs/PROTOCOL.md §25):
        /// verified, but the sender has reset her keys since.
        old_key: bool,
    },
    /// A message this device cannot read (key withheld, unknown sender, bad signature):
    /// delivered in its place so that the order stays visible.
    Unreadable {
        /// The stored message.
        message: StoredMessage,
        /// Why.
        reason: String,
    },
    /// Someone joined or left a channel.
    Member {
        /// Channel.
        channel_id: String,
        /// Who.
        user_id: String,
        /// `added` or `removed` (or `role_changed`).
        change: String,
        /// The stored event (who made the change, after which message), from servers
        /// that send it (docs/PROTOCOL.md §21).
        event: Option<MembershipEvent>,
    },
    /// Someone read a channel up to `seq`.
    Receipt {
        /// Channel.
        channel_id: String,
        /// Reader.
        user_id: String,
        /// Last read seq.
        seq: u64,
    },
    /// A new charter or new rules must be accepted before the channel is delivered again.
    AcceptanceRequired {
        /// The channel, for rules; `None` for the charter.
        channel_id: Option<String>,
        /// The version to accept.
        version: u64,
    },
    /// The connection was re-established (after a drop); a catch-up follows.
    Reconnected,
    /// The catch-up after a (re)connection is complete.
    Synced,
    /// A member's message named a head of the channel's signed membership log that the
    /// log the server serves here does not contain (docs/PROTOCOL.md §22.6): the server
    /// hides records from this device (`LogError::Hidden`) or shows members different
    /// branches (`LogError::Forked`). Until a log containing it is served, nothing is
    /// encrypted for the channel (its sends fail with `ClientError::MembershipLog`).
    MembershipLogRefused {
        /// The channel.
        channel_id: String,
        /// What is wrong.
        refusal: crate::crypto::LogError,
    },
    /// After a catch-up, the server's history of a channel ends before messages this
    /// device saw there (kept in its order marks): the server rolled the channel back or
    /// withholds its newest messages (« message manquant », docs/PROTOCOL.md §8.8).
    TailMissing {
        /// The channel.
        channel_id: String,
        /// One notice per sender device whose newest seen message is gone.
        notices: Vec<OrderNotice>,
    },
    /// A message carried its sender's key log head, and the server could not show it is
    /// the same log as this device's (« Le serveur ne montre pas le même journal des clés
    /// à tous », docs/PROTOCOL.md §27): sent once, the first time.
    KeyLogSplitView {
        /// The disagreement ([`crate::crypto::KeyLogError::SplitView`]).
        error: crate::crypto::KeyLogError,
        /// The message that carried the other head.
        message: StoredMessage,
    },
}

/// What the first login leaves to show the user once.
pub struct FirstRun {
    /// The TOTP secret (base32) the server handed out at this account's first login, to
    /// add to an authenticator app: it is stored too, but the person needs it to log in
    /// elsewhere.
    pub totp_secret: Option<SecretString>,
    /// The recovery code of a newly enrolled identity: shown once, never stored.
    pub recovery_code: Option<SecretString>,
}

/// How to log in for the first time with a store.
pub struct Login<'a> {
    /// The server's base URL.
    pub base_url: &'a str,
    /// Login.
    pub login: &'a str,
    /// Password.
    pub password: &'a str,
    /// The TOTP secret (base32) of an account already enrolled in an authenticator;
    /// `None` for an account whose first login this is.
    pub totp_secret: Option<&'a str>,
    /// The recovery code, to admit this device to an account that already has one.
    pub recovery_code: Option<&'a str>,
    /// The password this program sets when the account's is provisional (generated by an
    /// administrator, known to two people): the server refuses everything else until it
    /// is replaced. Stored in place of `password` once changed.
    pub new_password: Option<&'a str>,
}

/// A device that runs on its own: see the module documentation.
pub struct Agent {
    client: Client,
    device: Device,
    /// The running connection task, if connected.
    conn: Option<Link>,
    /// The last seq received in order on this connection, per channel (ahead of what was
    /// handed out: the queue sits between), and the messages held back behind a gap.
    received: Cursors,
    pending: Pending,
    /// The login session expired: log in again (with the stored credentials) before the
    /// next connection or request.
    must_log_in: bool,
    store: Box<dyn Store>,
    state: AgentState,
    options: AgentOptions,
    events: VecDeque<Event>,
    /// The cursor the last handed-out message moved, and its value before: it is stored
    /// once the application asks for the next event (it has handled this one by then).
    uncommitted: Option<(crate::ids::ChannelId, u64)>,
    /// Set once the server ended access for good.
    ended: Option<(u16, String)>,
    /// Whether a connection was open before (the next one is a reconnection).
    connected_before: bool,
    /// Missing tails already reported in this run: (channel, sender device, seq seen).
    tails_reported: std::collections::BTreeSet<(String, String, u64)>,
    /// Channels whose membership log this run brought up to date (started when this
    /// account coordinates a channel without one, §22.4): once per channel and run.
    logs_checked: std::collections::BTreeSet<String>,
}

/// Close codes after which reconnecting is pointless: access ended (account disabled,
/// session ended, device revoked).
fn is_final(code: u16) -> bool {
    matches!(code, 4003..=4005)
}

impl Agent {
    /// Logs in for the first time with this store: keeps the TOTP secret handed out at a
    /// first login, enrols the identity and this device (or restores them with the
    /// recovery code), and stores it all. A store that already holds a device of this
    /// account keeps it.
    pub async fn login(
        store: Box<dyn Store>,
        login: Login<'_>,
        options: AgentOptions,
    ) -> Result<(Agent, FirstRun)> {
        let mut state = store.load()?.unwrap_or_default();
        let same_account = state.login == login.login && state.base_url == login.base_url;
        if !same_account {
            state = AgentState::default();
        }
        state.version = STATE_VERSION;
        state.base_url = login.base_url.to_owned();
        state.login = login.login.to_owned();
        state.password = SecretString::new(login.password);
        if let Some(secret) = login.totp_secret {
            state.totp_secret = SecretString::new(secret);
        }
        let mut handed_out = None;
        let mut client = log_in(&state, &options, &mut handed_out).await?;
        let mut first = FirstRun {
            totp_secret: None,
            recovery_code: None,
        };
        if let Some(secret) = handed_out {
            state.totp_secret = secret.clone();
            first.totp_secret = Some(secret);
            // Stored before anything else can fail: this secret is shown only once.
            store.save(&state)?;
        }
        if client.me.password_change_required {
            let Some(new_password) = login.new_password else {
                return Err(ClientError::Protocol(
                    "le mot de passe de ce compte est provisoire : indiquez-en un nouveau \
                     (Login::new_password, ou PASSERELLE_SDK_NEW_PASSWORD pour la ligne de commande)"
                        .into(),
                ));
            };
            client
                .change_password(state.password.expose(), new_password)
                .await?;
            state.password = SecretString::new(new_password);
            store.save(&state)?;
        }
        state.user_id = client.me.id.to_string();
        let device = match &state.device {
            Some(stored) if stored.certificate.user_id == client.me.id => {
                restore_state(&mut client, &state)?;
                Device::import(stored)?
            }
            _ => {
                let device = match login.recovery_code {
                    Some(code) => {
                        client
                            .restore_with_recovery_code(code, &options.device_name)
                            .await?
                    }
                    None => {
                        let enrolment = client.enrol_first_device(&options.device_name).await?;
                        first.recovery_code = Some(SecretString::new(
                            enrolment.recovery_code.to_display_string().as_str(),
                        ));
                        enrolment.device
                    }
                };
                state.device = Some(device.export());
                device
            }
        };
        let mut agent = Agent::assemble(client, device, store, state, options);
        agent.persist()?;
        Ok((agent, first))
    }

    /// Opens the agent a previous [`Agent::login`] stored: logs in with the stored
    /// credentials and reuses the stored device.
    pub async fn open(store: Box<dyn Store>, options: AgentOptions) -> Result<Agent> {
        let state = store
            .load()?
            .ok_or_else(|| ClientError::Store("the store is empty: log in first".into()))?;
        let stored = state
            .device
            .clone()
            .ok_or_else(|| ClientError::Store("no device in the store: log in first".into()))?;
        let mut handed_out = None;
        let mut client = match resume(&state).await? {
            Some(client) => client,
            None => log_in(&state, &options, &mut handed_out).await?,
        };
        if handed_out.is_some() || stored.certificate.user_id != client.me.id {
            return Err(ClientError::Store(
                "the stored device does not belong to this account any more".into(),
            ));
        }
        restore_state(&mut client, &state)?;
        let device = Device::import(&stored)?;
        Ok(Agent::assemble(client, device, store, state, options))
    }

    fn assemble(
        client: Client,
        device: Device,
        store: Box<dyn Store>,
        state: AgentState,
        options: AgentOptions,
    ) -> Agent {
        Agent {
            client,
            device,
            conn: None,
            received: Cursors::new(),
            pending: Pending::new(),
            must_log_in: false,
            store,
            state,
            options,
            events: VecDeque::new(),
            tails_reported: std::collections::BTreeSet::new(),
            logs_checked: std::collections::BTreeSet::new(),
            uncommitted: None,
            ended: None,
            connected_before: false,
        }
    }

    /// The REST client (for calls the agent does not wrap).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// This device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The last sequence number handed out, per channel.
    pub fn cursors(&self) -> &Cursors {
        &self.state.cursors
    }

    /// Accepts the charter in force (an explicit act of the account's holder).
    pub async fn accept_charter(&self) -> Result<u64> {
        let status: CharterStatus = self.client.call(routes::CHARTER, []).await?;
        let version = status
            .current
            .ok_or_else(|| ClientError::Protocol("no charter is published".into()))?
            .version;
        self.client
            .call_with_no_answer(routes::CHARTER_ACCEPT, [], &Accept { version })
            .await?;
        Ok(version)
    }

    /// Accepts the internal rules of a channel, when it has some to accept.
    pub async fn accept_rules(&self, channel_id: &str) -> Result<Option<u64>> {
        let rules: RulesStatus = self
            .client
            .call(routes::CHANNEL_RULES, [channel_id])
            .await?;
        if !rules.required {
            return Ok(None);
        }
        let version = rules
            .current
            .ok_or_else(|| ClientError::Protocol("the channel's rules are not published".into()))?
            .version;
        self.client
            .call_with_no_answer(
                routes::CHANNEL_RULES_ACCEPT,
                [channel_id],
                &Accept { version },
            )
            .await?;
        Ok(Some(version))
    }

    /// Starts the channel's signed membership log now when this account coordinates it
    /// and it has none (docs/PROTOCOL.md §22.4), rather than at the next catch-up or
    /// send: members cannot write in a channel until a coordinator's client has. Call it
    /// once the rules are accepted (the gate refuses the genesis before). A member's
    /// agent starts nothing.
    pub async fn start_log(&mut self, channel_id: &str) -> Result<()> {
        self.check_log(channel_id).await
    }

    /// Sends a text; returns its sequence number once the server acknowledged it.
    pub async fn send_text(&mut self, channel_id: &str, text: &str) -> Result<u64> {
        self.send(channel_id, &MessageContent::text(text)).await
    }

    /// Sends a message and waits for its acknowledgement, through epoch rotations (the
    /// message is re-sealed for the new epoch under the same id) and reconnections (the
    /// same envelope is sent again; the server stores it once).
    pub async fn send(&mut self, channel_id: &str, content: &MessageContent) -> Result<u64> {
        let client_msg_id = uuid_v4()?;
        let mut envelope = None;
        let mut rounds = 0u32;
        let mut failures = 0u32;
        loop {
            self.check_ended()?;
            rounds += 1;
            if rounds > 50 {
                return Err(ClientError::Protocol(format!(
                    "no acknowledgement for {client_msg_id} after {} attempts",
                    rounds - 1
                )));
            }
            if self.must_log_in {
                self.log_in_again().await?;
            }
            let sealed = match envelope.take() {
                Some(sealed) => sealed,
                None => match self.seal(channel_id, content, &client_msg_id).await {
                    Ok(sealed) => sealed,
                    Err(err) if is_transient(&err) => {
                        self.backoff(&mut failures).await?;
                        continue;
                    }
                    Err(err) if is_expired(&err) && !self.must_log_in => {
                        self.must_log_in = true;
                        continue;
                    }
                    Err(err) => return Err(err),
                },
            };
            self.persist()?;
            self.connected().await?;
            let frame = ClientFrame::Send {
                channel_id: channel_id.into(),
                envelope: sealed.clone(),
            };
            match self.send_frame(frame).await {
                Err(err @ ClientError::Ended { .. }) => return Err(err),
                Err(_) => {
                    envelope = Some(sealed);
                    continue;
                }
                Ok(()) => {}
            }
            match self.answer(channel_id, &client_msg_id).await? {
                Answer::Ack(seq) => {
                    self.persist()?;
                    return Ok(seq);
                }
                Answer::EpochRequired { epoch, devices } => {
                    match self.rotate(channel_id, epoch, devices).await {
                        Err(err) if is_expired(&err) && !self.must_log_in => {
                            self.must_log_in = true;
                        }
                        other => other?,
                    }
                }
                Answer::Retry => {
                    envelope = Some(sealed);
                    self.backoff(&mut failures).await?;
                }
                Answer::Lost => envelope = Some(sealed),
            }
        }
    }

    async fn seal(
        &mut self,
        channel_id: &str,
        content: &MessageContent,
        client_msg_id: &str,
    ) -> Result<crate::crypto::Envelope> {
        self.check_log(channel_id).await?;
        let epoch = self
            .client
            .ensure_epoch(&mut self.device, channel_id)
            .await?;
        self.client
            .seal_with_id(&self.device, channel_id, epoch, content, client_msg_id)
            .await
    }

    /// The first time this run works with a channel, starts its signed membership log if
    /// it has none and this account coordinates it, as a coordinator's browser does when
    /// it opens one (docs/PROTOCOL.md §22.4), and signs the server's own removals (§22.3).
    /// A refused log is the caller's error (nothing is sealed for that channel); another
    /// failure is tried again next time.
    async fn check_log(&mut self, channel_id: &str) -> Result<()> {
        if self.logs_checked.contains(channel_id) {
            return Ok(());
        }
        match self
            .client
            .ensure_membership_log(&self.device, channel_id)
            .await
        {
            Ok(_) => {
                self.logs_checked.insert(channel_id.to_owned());
                Ok(())
            }
            Err(err @ ClientError::MembershipLog(_)) => Err(err),
            Err(err) if is_transient(&err) || is_expired(&err) => Err(err),
            Err(_) => Ok(()),
        }
    }

    /// Creates the epoch the server asked for; losing the race to another sender is
    /// fine (the next seal adopts the winner's key).
    async fn rotate(
        &mut self,
        channel_id: &str,
        epoch: u64,
        devices: Vec<crate::protocol::v1::channels::DeviceRef>,
    ) -> Result<()> {
        let state = EpochState {
            channel_id: channel_id.into(),
            epoch: epoch.saturating_sub(1),
            rotation_required: true,
            devices,
        };
        match self
            .client
            .publish_epoch(&mut self.device, channel_id, &state)
            .await
        {
            Ok(_) => Ok(()),
            Err(err)
                if err.code() == Some("epoch_conflict")
                    || err.code() == Some("invalid_epoch_keys")
                    || is_transient(&err) =>
            {
                Ok(())
            }
            Err(err) => Err(err),
        }
    }

    /// Reads frames until the one that answers `client_msg_id`, queueing the others.
    async fn answer(&mut self, channel_id: &str, client_msg_id: &str) -> Result<Answer> {
        let deadline = Instant::now() + self.options.answer_within;
        loop {
            let Some(frame) = self.next_frame(Some(deadline)).await? else {
                if Instant::now() >= deadline {
                    // No answer in time: the connection is presumed dead.
                    self.drop_connection();
                }
                return Ok(Answer::Lost);
            };
            match frame {
                ServerFrame::Ack {
                    client_msg_id: id,
                    seq,
                    ..
                } if id == client_msg_id => return Ok(Answer::Ack(seq)),
                ServerFrame::EpochRequired {
                    reference,
                    channel_id: channel,
                    epoch,
                    devices,
                } if reference
                    .as_deref()
                    .map_or(channel == channel_id, |r| r == client_msg_id) =>
                {
                    return Ok(Answer::EpochRequired { epoch, devices })
                }
                ServerFrame::Error {
                    reference, code, ..
                } if reference.as_deref() == Some(client_msg_id) => {
                    if code == "unavailable" {
                        return Ok(Answer::Retry);
                    }
                    // Refused for good: its place in this device's order goes to the
                    // next message (docs/PROTOCOL.md §8.7).
                    self.client.refused(channel_id, client_msg_id);
                    return Err(ClientError::Api {
                        status: StatusCode::UNPROCESSABLE_ENTITY,
                        code,
                    });
                }
                other => self.handle(other).await?,
            }
        }
    }

    /// The next event, in order: waits for one, answering pings, reconnecting and
    /// catching up as needed. The event handed out before is taken as handled: its
    /// cursor is stored now, so that after a crash at most that one is delivered again.
    pub async fn next_event(&mut self) -> Result<Event> {
        self.commit()?;
        loop {
            if let Some(mut event) = self.events.pop_front() {
                // The order is checked as messages are handed out, once each, in order:
                // a message queued and dropped at a reconnection is checked when it
                // comes again.
                if let Event::Message { message, order, .. } = &mut event {
                    *order = self.client.check_arrival(message);
                }
                if let Event::Message { message, .. } | Event::Unreadable { message, .. } = &event {
                    let before = self
                        .state
                        .cursors
                        .insert(message.channel_id.clone(), message.seq);
                    self.uncommitted = Some((message.channel_id.clone(), before.unwrap_or(0)));
                }
                return Ok(event);
            }
            self.check_ended()?;
            self.connected().await?;
            if let Some(frame) = self.next_frame(None).await? {
                self.handle(frame).await?;
            }
        }
    }

    /// The next event within `wait`, or `None`.
    pub async fn next_event_within(&mut self, wait: Duration) -> Result<Option<Event>> {
        match tokio::time::timeout(wait, self.next_event()).await {
            Ok(event) => event.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// The events as a stream (borrowing the agent: drop it to send, then ask again).
    /// It ends after an error that ends access for good.
    pub fn events(&mut self) -> impl Stream<Item = Result<Event>> + Send + '_ {
        futures_util::stream::unfold(Some(self), |agent| async move {
            let agent = agent?;
            let event = agent.next_event().await;
            let goes_on = !matches!(event, Err(ClientError::Ended { .. }));
            Some((event, goes_on.then_some(agent)))
        })
    }

    /// The events as a stream that owns the agent, for a task that only reads (a
    /// second agent, or the lower layer, sends). It ends after an error that ends access
    /// for good; the cursor of the last event is stored when the next is asked for.
    pub fn into_events(self) -> impl Stream<Item = Result<Event>> + Send + 'static {
        futures_util::stream::unfold(Some(self), |agent| async move {
            let mut agent = agent?;
            let event = agent.next_event().await;
            let goes_on = !matches!(event, Err(ClientError::Ended { .. }));
            Some((event, goes_on.then_some(agent)))
        })
    }

    /// Stores the cursor of the last handed-out event.
    pub fn commit(&mut self) -> Result<()> {
        if self.uncommitted.take().is_some() {
            self.persist()?;
        }
        Ok(())
    }

    /// Catches up now (a sync from the cursors) and waits until it is complete, queueing
    /// what it brings.
    pub async fn sync(&mut self) -> Result<()> {
        self.check_ended()?;
        let fresh = self.conn.is_none();
        self.connected().await?;
        if !fresh {
            let cursors = self.delivered_cursors();
            if self
                .send_frame(ClientFrame::Sync { cursors })
                .await
                .is_err()
            {
                self.check_ended()?;
                // Dropped: the reconnection sends its own catch-up.
                self.connected().await?;
            }
        }
        loop {
            match self.next_frame(None).await? {
                Some(ServerFrame::Synced { cursors }) => {
                    self.synced(cursors).await?;
                    // The keys fetched during the catch-up are stored: the server may
                    // delete their wraps (docs/PROTOCOL.md §23.3).
                    self.persist()?;
                    return self.acknowledge_keys().await;
                }
                Some(frame) => self.handle(frame).await?,
                // Dropped: reconnecting starts a new catch-up, whose `synced` ends this.
                None => {
                    self.check_ended()?;
                    self.connected().await?;
                }
            }
        }
    }

    /// Commits and closes the connection.
    pub async fn close(mut self) -> Result<()> {
        self.commit()?;
        self.persist()?;
        // Dropping the link makes its task close the WebSocket.
        self.conn = None;
        Ok(())
    }

    /// The cursors the connection starts from: those handed out, and those of messages
    /// already queued for the application.
    fn delivered_cursors(&self) -> Cursors {
        let mut cursors = self.state.cursors.clone();
        for event in &self.events {
            if let Event::Message { message, .. } | Event::Unreadable { message, .. } = event {
                cursors.insert(message.channel_id.clone(), message.seq);
            }
        }
        cursors
    }

    fn check_ended(&self) -> Result<()> {
        match &self.ended {
            Some((code, reason)) => Err(ClientError::Ended {
                code: *code,
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    fn drop_connection(&mut self) {
        self.conn = None;
    }

    /// Hands a frame to the connection task; an error when the connection is gone (it
    /// is then forgotten, to be re-established; a final close is that error).
    async fn send_frame(&mut self, frame: ClientFrame) -> Result<()> {
        let sent = self.conn.as_ref().is_some_and(|link| link.send(frame));
        if sent {
            return Ok(());
        }
        self.lost_link().await?;
        Err(ClientError::Transport("not connected".into()))
    }

    /// Logs in again with the stored credentials, after the login session expired, and
    /// carries on with the same device, keys and cursors.
    async fn log_in_again(&mut self) -> Result<()> {
        // The connection belongs to the old session: whatever it still holds is taken in
        // now (a final close there ends the agent), so that its close is not read later
        // as the new session's.
        self.lost_link().await?;
        let mut handed_out = None;
        let fresh = match log_in(&self.state, &self.options, &mut handed_out).await {
            Ok(fresh) => fresh,
            Err(ClientError::Api { status, code }) if status.is_client_error() => {
                // The password was changed, the account locked or disabled: only a person
                // can help now.
                self.ended = Some((status.as_u16(), code.clone()));
                return Err(ClientError::Api { status, code });
            }
            Err(err) => return Err(err),
        };
        if handed_out.is_some() || fresh.me.id != self.client.me.id {
            let reason = "the account's second factor was reset".to_owned();
            self.ended = Some((StatusCode::UNAUTHORIZED.as_u16(), reason.clone()));
            return Err(ClientError::Ended {
                code: StatusCode::UNAUTHORIZED.as_u16(),
                reason,
            });
        }
        self.client.token = fresh.token.clone();
        self.client.me = fresh.me.clone();
        self.must_log_in = false;
        self.persist()
    }

    /// Connects (with backoff) if not connected, then starts a catch-up from the cursors.
    async fn connected(&mut self) -> Result<()> {
        if self.conn.is_some() {
            return Ok(());
        }
        self.check_ended()?;
        let mut failures = 0u32;
        let mut logged_in_again = false;
        loop {
            if self.must_log_in {
                match self.log_in_again().await {
                    Ok(()) => logged_in_again = true,
                    Err(err) if is_transient(&err) => {
                        self.backoff(&mut failures).await?;
                        continue;
                    }
                    Err(err) => return Err(err),
                }
            }
            match self.client.connect(&self.device.device_id).await {
                Ok(conn) => {
                    self.keep_agreement_keys_fresh().await?;
                    // Messages queued but not handed out come again with the catch-up.
                    self.events
                        .retain(|e| !matches!(e, Event::Message { .. } | Event::Unreadable { .. }));
                    self.received = self.state.cursors.clone();
                    self.pending.clear();
                    let cursors = self.received.clone();
                    self.conn = Some(Link::start(conn, self.options.ping_every));
                    self.send_frame(ClientFrame::Sync { cursors }).await?;
                    if self.connected_before {
                        self.events.push_back(Event::Reconnected);
                    }
                    self.connected_before = true;
                    return Ok(());
                }
                // The session expired between two connections: once, log in again.
                Err(ClientError::Api { status, .. })
                    if status == StatusCode::UNAUTHORIZED && !logged_in_again =>
                {
                    self.must_log_in = true;
                }
                Err(ClientError::Api { status, code })
                    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN =>
                {
                    self.ended = Some((status.as_u16(), code.clone()));
                    return Err(ClientError::Api { status, code });
                }
                Err(_) => self.backoff(&mut failures).await?,
            }
        }
    }

    /// At each connection: publishes a new signed prekey when the current one is due
    /// (docs/PROTOCOL.md §23), deletes those past their grace period, stores the device,
    /// then acknowledges the wraps already stored. A network failure is left to the next
    /// connection.
    async fn keep_agreement_keys_fresh(&mut self) -> Result<()> {
        let now = u64::try_from((self.options.now_ms)()).unwrap_or_default();
        match self
            .client
            .rotate_prekey_if_due(&mut self.device, now)
            .await
        {
            Ok(_) => {}
            Err(err) if is_transient(&err) => return Ok(()),
            Err(err) => return Err(err),
        }
        self.persist()?;
        self.acknowledge_keys().await
    }

    /// Acknowledges the wraps opened and stored. A failure does not stop the agent: a
    /// network failure keeps them for the next time, and the server deletes unfetched
    /// wraps after its own bound anyway.
    async fn acknowledge_keys(&mut self) -> Result<()> {
        let _ = self.client.acknowledge_keys(&self.device).await;
        Ok(())
    }

    async fn backoff(&self, failures: &mut u32) -> Result<()> {
        *failures += 1;
        if let Some(max) = self.options.max_reconnect_attempts {
            if *failures > max {
                return Err(ClientError::Transport(format!(
                    "the server is unreachable after {max} attempts"
                )));
            }
        }
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
        let wait = self
            .options
            .backoff_min
            .saturating_mul(factor)
            .min(self.options.backoff_max);
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// The next frame the connection task received; `None` when the deadline passed or
    /// the connection dropped (then it is forgotten, to be re-established; a final close
    /// is an error, an expired session is opened again before reconnecting).
    async fn next_frame(&mut self, deadline: Option<Instant>) -> Result<Option<ServerFrame>> {
        let Some(link) = self.conn.as_mut() else {
            return Ok(None);
        };
        let next = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, link.next()).await {
                Ok(next) => next,
                Err(_) => return Ok(None),
            },
            None => link.next().await,
        };
        let closed = match next {
            Some(Incoming::Frame(frame)) => return Ok(Some(*frame)),
            Some(Incoming::Closed(closed)) => closed,
            None => None,
        };
        self.drop_connection();
        self.closed(closed)?;
        Ok(None)
    }

    /// What the server's close means: an expired session is opened again before the
    /// next connection; a final close ends the agent.
    fn closed(&mut self, closed: Option<(u16, String)>) -> Result<()> {
        match closed {
            Some((4004, reason)) if reason == "session_expired" => {
                self.must_log_in = true;
                Ok(())
            }
            Some((code, reason)) if is_final(code) => {
                self.ended = Some((code, reason.clone()));
                Err(ClientError::Ended { code, reason })
            }
            _ => Ok(()),
        }
    }

    /// The connection is gone (a frame could not be handed to its task): what the task
    /// received before is taken in, and the close it saw decides what happens next, so
    /// that a revoked session is never mistaken for an expired one.
    async fn lost_link(&mut self) -> Result<()> {
        let Some(mut link) = self.conn.take() else {
            return Ok(());
        };
        while let Some(incoming) = link.try_next() {
            match incoming {
                Incoming::Frame(frame) => self.handle(*frame).await?,
                Incoming::Closed(closed) => self.closed(closed)?,
            }
        }
        Ok(())
    }

    /// Turns a frame into events (decrypting messages in order).
    async fn handle(&mut self, frame: ServerFrame) -> Result<()> {
        match frame {
            ServerFrame::Message(message) => {
                for message in accept_in(&mut self.received, &mut self.pending, message) {
                    self.deliver(message).await;
                }
            }
            ServerFrame::Synced { cursors } => {
                self.synced(cursors).await?;
            }
            ServerFrame::Member {
                channel_id,
                user_id,
                change,
                event,
            } => {
                // The server removed someone by itself (a regime lost): a coordinator's
                // client signs it into the log (docs/PROTOCOL.md §22.3). Best effort: a
                // failure now is retried at the next rotation, which that removal requires.
                let by_server = event
                    .as_ref()
                    .is_some_and(|e| e.change == MembershipChange::Removed && e.actor.is_none());
                if by_server && user_id != self.client.me.id {
                    let _ = self
                        .client
                        .ratify_server_removals(&self.device, &channel_id)
                        .await;
                }
                self.events.push_back(Event::Member {
                    channel_id: channel_id.into_string(),
                    user_id: user_id.into_string(),
                    change,
                    event,
                })
            }
            ServerFrame::Receipt {
                channel_id,
                user_id,
                seq,
            } => self.events.push_back(Event::Receipt {
                channel_id: channel_id.into_string(),
                user_id: user_id.into_string(),
                seq,
            }),
            ServerFrame::CharterRequired { version } => {
                self.events.push_back(Event::AcceptanceRequired {
                    channel_id: None,
                    version,
                })
            }
            ServerFrame::RulesRequired {
                channel_id,
                version,
            } => self.events.push_back(Event::AcceptanceRequired {
                channel_id: Some(channel_id.into_string()),
                version,
            }),
            ServerFrame::ChannelDestroyed { channel_id } => {
                self.client.shred(&channel_id, Shredded::Channel);
                self.state.cursors.remove(&channel_id);
                self.persist()?;
                self.shred_in_backup().await?;
            }
            ServerFrame::HistoryPurged {
                channel_id,
                below_epoch,
                ..
            } => {
                self.client.shred(&channel_id, Shredded::Below(below_epoch));
                self.persist()?;
                self.shred_in_backup().await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The catch-up reached these cursors: channels that start after the messages one
    /// may read (joined later) move their cursors there, releasing what waited behind.
    async fn synced(&mut self, cursors: Cursors) -> Result<()> {
        for message in synced_in(&mut self.received, &mut self.pending, &cursors) {
            self.deliver(message).await;
        }
        for (channel, seq) in cursors {
            // Nothing queued for this channel, yet the catch-up reached further than what
            // was handed out: the stretch is one this account may not read (before it
            // joined). Skip it, so that the next catch-up does not ask for it again.
            let queued = self.events.iter().any(|e| match e {
                Event::Message { message, .. } | Event::Unreadable { message, .. } => {
                    message.channel_id == channel
                }
                _ => false,
            });
            let cursor = self.state.cursors.entry(channel).or_insert(0);
            if !queued && *cursor < seq {
                *cursor = seq;
            }
        }
        self.check_tails().await?;
        self.start_logs().await?;
        self.events.push_back(Event::Synced);
        Ok(())
    }

    /// A coordinator's agent starts, on each catch-up, the signed membership log of every
    /// channel it coordinates that has none (docs/PROTOCOL.md §22.4), rather than on its
    /// first send there only: until then the channel's members are the server's word, and
    /// its members' clients refuse to write there. A member's agent starts none. A
    /// channel whose log this run already checked is not read again; a failure (a log
    /// refused, the server out of reach) leaves the channel for the next catch-up, and
    /// does not stop this one.
    async fn start_logs(&mut self) -> Result<()> {
        if self.client.me.role != crate::protocol::v1::Role::Coordinator {
            return Ok(());
        }
        let channels: Vec<crate::protocol::v1::channels::Channel> =
            self.client.call(routes::CHANNELS, []).await?;
        for channel in channels {
            if channel.status == "archived" || self.logs_checked.contains(channel.id.as_str()) {
                continue;
            }
            match self.check_log(&channel.id).await {
                Err(err) if is_expired(&err) => return Err(err),
                _ => {}
            }
        }
        Ok(())
    }

    /// Compares where the server says each channel ends with the newest message of each
    /// sender seen there: a channel that now ends before it lost its tail (§8.8). The
    /// synced cursors cannot tell, since the server answers from the cursors given.
    async fn check_tails(&mut self) -> Result<()> {
        if self.client.order_marks().is_empty() {
            return Ok(());
        }
        let channels: Vec<crate::protocol::v1::channels::Channel> =
            self.client.call(routes::CHANNELS, []).await?;
        for channel in channels {
            let notices: Vec<OrderNotice> = self
                .client
                .check_tail(&channel.id, channel.last_seq)
                .into_iter()
                .filter(|n| {
                    let seen = self
                        .client
                        .order_marks()
                        .get(channel.id.as_str())
                        .and_then(|m| m.get(&n.sender_device))
                        .map_or(0, |m| m.seq);
                    self.tails_reported.insert((
                        channel.id.to_string(),
                        n.sender_device.clone(),
                        seen,
                    ))
                })
                .collect();
            if !notices.is_empty() {
                self.events.push_back(Event::TailMissing {
                    channel_id: channel.id.into_string(),
                    notices,
                });
            }
        }
        Ok(())
    }

    async fn deliver(&mut self, message: StoredMessage) {
        let from_me = message.sender == self.client.me.id;
        let channel_id = message.channel_id.to_string();
        let split_before = self.client.key_log_split_view().is_some();
        let opened = self.client.open(&self.device, &message).await;
        if let (false, Some(error)) = (split_before, self.client.key_log_split_view()) {
            self.events.push_back(Event::KeyLogSplitView {
                error: error.clone(),
                message: message.clone(),
            });
        }
        match opened {
            Ok(content) => self.events.push_back(Event::Message {
                old_key: self
                    .client
                    .sent_with_old_key(&message.envelope.sender_device),
                message,
                content,
                from_me,
                order: Vec::new(),
            }),
            Err(err) => self.events.push_back(Event::Unreadable {
                message,
                reason: err.to_string(),
            }),
        }
        // A head the message named that the served log does not contain (§22.6).
        if let Some(refusal) = self.client.membership.take_alert(&channel_id) {
            self.events.push_back(Event::MembershipLogRefused {
                channel_id,
                refusal,
            });
        }
    }

    /// Carries the tombstones to the key backup at once, so that no other device's
    /// merge brings the shredded keys back; a failure is retried with the next write.
    async fn shred_in_backup(&mut self) -> Result<()> {
        for _ in 0..3 {
            match self.client.write_backup(&mut self.device).await {
                Ok(()) => return self.persist(),
                // Another device wrote in between: merge its revision and write again.
                Err(ClientError::Api { status, .. })
                    if status == StatusCode::PRECONDITION_FAILED => {}
                Err(ClientError::Transport(_)) => return Ok(()),
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// Writes the state: the device, the epoch keys held, the identities seen and the
    /// cursors handed out (but the last, until the application asks for the next).
    fn persist(&mut self) -> Result<()> {
        let mut state = self.state.clone();
        if let Some((channel, before)) = &self.uncommitted {
            state.cursors.insert(channel.clone(), *before);
        }
        state.device = Some(self.device.export());
        state.epoch_keys = self
            .client
            .epoch_keys
            .iter()
            .map(|((channel_id, epoch), key)| StoredEpochKey {
                channel_id: channel_id.clone(),
                epoch: *epoch,
                key: SecretString::new(to_base64url(key.to_bytes().as_ref())),
            })
            .collect();
        state.shredded = self
            .client
            .tombstones()
            .map(|(channel, what)| {
                let below = match what {
                    Shredded::Channel => None,
                    Shredded::Below(epoch) => Some(epoch),
                };
                (channel.to_owned(), below)
            })
            .collect();
        state.known_identities = self.client.known_identities.clone();
        state.sent_tips = self.client.sent_tips.clone();
        state.order_marks = self.client.order_marks.clone();
        state.key_log_head = self.client.key_log_head().cloned();
        (state.membership_heads, state.membership_claims) = self.client.membership_memory();
        state.key_log_audit = Some(self.client.key_log_audit().clone());
        state.key_log_certified = self.client.key_log_certified().clone();
        state.rotation = self.client.rotation_watch.export();
        state.prekey_serials = self
            .client
            .prekey_serials
            .iter()
            .map(|(device, serial)| (device.clone(), *serial))
            .collect();
        state.session = Some(StoredSession {
            token: SecretString::new(self.client.bearer_token()),
            me: self.client.me.clone(),
        });
        self.store.save(&state)
    }
}

enum Answer {
    Ack(u64),
    EpochRequired {
        epoch: u64,
        devices: Vec<crate::protocol::v1::channels::DeviceRef>,
    },
    /// Refused for now (`unavailable`): send the same envelope again later.
    Retry,
    /// The connection dropped or stayed silent: send the same envelope again.
    Lost,
}

/// The login session is no longer honoured (expired): logging in again may help.
fn is_expired(err: &ClientError) -> bool {
    matches!(err, ClientError::Api { status, .. } if *status == StatusCode::UNAUTHORIZED)
}

/// Errors worth retrying: the network, or the server (5xx) for a moment.
fn is_transient(err: &ClientError) -> bool {
    match err {
        ClientError::Transport(_) => true,
        ClientError::Api { status, .. } => status.is_server_error(),
        _ => false,
    }
}

/// Logs in with the state's credentials. On a first login the server hands out the TOTP
/// secret: it is used for the code and returned in `handed_out`, to be kept.
async fn log_in(
    state: &AgentState,
    options: &AgentOptions,
    handed_out: &mut Option<SecretString>,
) -> Result<Client> {
    let stored = state.totp_secret.clone();
    let now_ms = options.now_ms.clone();
    let mut failure = None;
    let client = Client::login(
        &state.base_url,
        &state.login,
        state.password.expose(),
        |challenge| {
            let secret = match &challenge.enrolment {
                Some(enrolment) => {
                    let secret = SecretString::new(enrolment.secret_base32.clone());
                    *handed_out = Some(secret.clone());
                    secret
                }
                None => stored,
            };
            match totp_code(secret.expose(), now_ms()) {
                Ok(code) => code,
                Err(err) => {
                    failure = Some(err);
                    String::new()
                }
            }
        },
    )
    .await;
    match (client, failure) {
        (Ok(client), _) => Ok(client),
        (Err(_), Some(err)) => Err(err),
        (Err(err), None) => Err(err),
    }
}

/// The stored session, if the server still honours it (`None`: log in again).
async fn resume(state: &AgentState) -> Result<Option<Client>> {
    let Some(session) = &state.session else {
        return Ok(None);
    };
    let mut client = Client::with_token(
        &state.base_url,
        session.token.expose().to_owned(),
        session.me.clone(),
    );
    let me: Result<crate::protocol::v1::auth::Me> = client.call(routes::ME, []).await;
    match me {
        Ok(me) => {
            client.me = me;
            Ok(Some(client))
        }
        Err(ClientError::Api { status, .. }) if status == StatusCode::UNAUTHORIZED => Ok(None),
        Err(err) => Err(err),
    }
}

/// Puts the stored epoch keys and identities back into the client.
fn restore_state(client: &mut Client, state: &AgentState) -> Result<()> {
    for (channel, below) in &state.shredded {
        client.shred(channel, below.map_or(Shredded::Channel, Shredded::Below));
    }
    for stored in &state.epoch_keys {
        let bytes = zeroize::Zeroizing::new(
            crate::crypto::from_base64url(stored.key.expose())
                .map_err(|e| ClientError::Store(e.to_string()))?,
        );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| ClientError::Store("a stored epoch key has the wrong length".into()))?;
        let key = zeroize::Zeroizing::new(key);
        if client.is_shredded(&stored.channel_id, stored.epoch) {
            continue;
        }
        client.epoch_keys.insert(
            (stored.channel_id.clone(), stored.epoch),
            EpochKey::from_bytes(&key),
        );
    }
    client.sent_tips = state.sent_tips.clone();
    client.order_marks = state.order_marks.clone();
    client.restore_key_log_head(state.key_log_head.clone());
    client.restore_membership_memory((
        state.membership_heads.clone(),
        state.membership_claims.clone(),
    ));
    client.restore_key_log(state.key_log_audit.clone(), state.key_log_certified.clone());
    client.rotation_watch = super::healing::RotationWatch::import(&state.rotation);
    for (device, serial) in &state.prekey_serials {
        let seen = client.prekey_serials.entry(device.clone()).or_insert(0);
        *seen = (*seen).max(*serial);
    }
    for (user, identity) in &state.known_identities {
        client
            .known_identities
            .entry(user.clone())
            .or_insert_with(|| identity.clone());
    }
    Ok(())
}

/// The current TOTP code (RFC 6238: SHA-1, 6 digits, 30 s) of a base32 secret.
pub fn totp_code(secret_base32: &str, now_ms: i64) -> Result<String> {
    let secret = zeroize::Zeroizing::new(
        base32_decode(secret_base32)
            .ok_or_else(|| ClientError::Protocol("the TOTP secret is not base32".into()))?,
    );
    let step = u64::try_from(now_ms.max(0) / 1000).unwrap_or_default() / 30;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &secret);
    let tag = ring::hmac::sign(&key, &step.to_be_bytes());
    let digest = tag.as_ref();
    let offset = usize::from(digest.last().copied().unwrap_or_default() & 0x0f);
    let word = digest
        .get(offset..offset + 4)
        .ok_or_else(|| ClientError::Protocol("TOTP".into()))?;
    let value = u32::from_be_bytes([word[0] & 0x7f, word[1], word[2], word[3]]) % 1_000_000;
    Ok(format!("{value:06}"))
}

/// RFC 4648 base32 (upper or lower case, padding and spaces ignored).
fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buffer = 0u32;
    let mut bits = 0u32;
    for c in text.chars().filter(|c| *c != '=' && !c.is_whitespace()) {
        let value = match c.to_ascii_uppercase() {
            c @ 'A'..='Z' => c as u32 - 'A' as u32,
            c @ '2'..='7' => c as u32 - '2' as u32 + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totp_matches_the_rfc_6238_vector() {
        // RFC 6238 appendix B, SHA-1, T = 59 s: 94287082 (8 digits), 287082 in 6.
        let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        assert_eq!(totp_code(secret, 59_000).unwrap(), "287082");
        assert_eq!(
            totp_code("gezd gnbv gy3t qojq gezd gnbv gy3t qojq", 59_000).unwrap(),
            "287082"
        );
        assert!(totp_code("not base32!", 0).is_err());
    }
}
