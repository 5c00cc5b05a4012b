//! The Rust client SDK (feature `client`): logging in, enrolling devices, the key
//! backup, epochs, and messaging over the WebSocket. The integration tests and the
//! benchmark drive the server through it, as a program would.
//!
//! Secrets stay in the SDK's memory (zeroized on drop); the server receives public keys,
//! signatures and ciphertext only.

mod agent;
mod case_identity;
mod device;
mod field_reports;
mod healing;
mod key_log;
mod link;
mod linking;
mod meetings;
mod membership;
mod order;
mod prekeys;
mod referrals;
pub mod store;
mod titles;
mod ws;

use std::collections::{BTreeMap, HashMap};

use reqwest::{header, Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use agent::{totp_code, Agent, AgentOptions, Event, FirstRun, Login, UnixMillis};
pub use device::{Device, Enrolment};
pub use field_reports::NewFieldReport;
pub use healing::{StoredEpochUse, StoredRotation};
pub use linking::PendingLink;
pub use meetings::{Decision, OpenedMeeting};
pub use order::SentTip;
pub use prekeys::{StoredPrekey, IDENTITY_SEAL_MARGIN_MS};
pub use referrals::NewReferral;
pub use store::Store;
pub use ws::Connection;

use crate::crypto::{DeviceCertificate, EpochKey, IdentityPublicKey, Roster};
use crate::protocol::v1::auth::{
    LoginChallenge, LoginRequest, Me, NextStep, SessionOpened, TotpRequest,
};
use crate::protocol::v1::error::ErrorBody;
use crate::protocol::v1::routes::{self, Route, API_BASE};

/// What can go wrong in the SDK.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered an error.
    #[error("{status}: {code}")]
    Api {
        /// HTTP status.
        status: StatusCode,
        /// The stable error code.
        code: String,
    },
    /// The connection failed.
    #[error("transport: {0}")]
    Transport(String),
    /// A cryptographic check failed (bad signature, unknown device, …).
    #[error("crypto: {0}")]
    Crypto(String),
    /// The server's answer breaks a rule the client checks itself (docs/PROTOCOL.md
    /// §12.1): a device of a non-member or a device no member has offered as a key
    /// recipient, a wrap or a message from outside the members, or one made for another
    /// channel. Nothing was encrypted for, or accepted from, the device concerned.
    #[error("refused: {0}")]
    Tampered(#[from] crate::crypto::RosterError),
    /// The channel's signed membership log does not verify (docs/PROTOCOL.md §22): a
    /// forged, reordered or truncated record. Nothing is encrypted for the channel.
    #[error("membership log refused: {0}")]
    MembershipLog(crate::crypto::LogError),
    /// The channel has no signed membership log verified here, and this account may not
    /// start one (it does not coordinate the channel by its account role, or the channel
    /// is archived): nothing is encrypted for the channel nor sent there until a
    /// coordinator starts its log (docs/PROTOCOL.md §22.4). Without a log the member list
    /// is only the server's word, so the SDK fails closed rather than wrap a key for
    /// whoever the server lists. The message is French: it is meant for the person.
    #[error(
        "Ce canal attend qu’un coordinateur signe la liste de ses membres : vous pourrez écrire dès qu’il l’aura ouvert. (canal {0})"
    )]
    MembershipLogMissing(String),
    /// A colleague's identity key changed since it was first seen.
    #[error("the identity key of {0} changed")]
    IdentityChanged(String),
    /// The key transparency log refuses what the server says (docs/PROTOCOL.md §25): a
    /// head that does not extend the one seen before, or a key served that is not in it.
    #[error("key log: {0}")]
    KeyLog(crate::crypto::KeyLogError),
    /// The server broke the protocol.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The store could not be read or written (or was opened with the wrong key).
    #[error("store: {0}")]
    Store(String),
    /// The server ended this device's access for good (WebSocket close 4003 account
    /// disabled, 4004 session ended, 4005 device revoked): reconnecting would not help.
    #[error("access ended ({code}): {reason}")]
    Ended {
        /// The close code.
        code: u16,
        /// The reason the server gave (`account_disabled`, `session_revoked`, …).
        reason: String,
    },
}

impl ClientError {
    /// The API error code, if this is an API error.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl From<reqwest::Error> for ClientError {
    fn from(err: reqwest::Error) -> Self {
        // reqwest's own message ("error sending request") hides the cause: keep the chain.
        let mut text = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        ClientError::Transport(text)
    }
}

/// `Result` with [`ClientError`].
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// A logged-in account talking to one server.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: zeroize::Zeroizing<String>,
    /// Who is logged in.
    pub me: Me,
    /// Identity keys seen, per user: a change is refused until accepted (trust on first use).
    pub(crate) known_identities: BTreeMap<String, IdentityPublicKey>,
    /// Colleagues whose pinned identity key was verified in person (fingerprints
    /// compared); travels in the key backup.
    pub(crate) verified: std::collections::BTreeSet<String>,
    /// Verified certificates of colleagues' devices, by device id.
    pub(crate) devices: HashMap<String, DeviceCertificate>,
    /// Epoch keys held, by channel and epoch.
    pub(crate) epoch_keys: HashMap<(String, u64), EpochKey>,
    /// Tombstones of the channels destroyed or purged, seen here or in the key backup:
    /// the keys they cover are never taken back (docs/PROTOCOL.md §10.6).
    pub(crate) shredded: BTreeMap<String, crate::crypto::Shredded>,
    /// Per channel, its members and their verified devices as last checked here.
    pub(crate) rosters: HashMap<String, Roster>,
    /// Per channel, its current epoch as the server last gave it with the members.
    pub(crate) channel_epochs: HashMap<String, u64>,
    /// Per channel, this device's last sealed, unrefused envelope (docs/PROTOCOL.md §8.7).
    pub(crate) sent_tips: BTreeMap<String, SentTip>,
    /// Per channel and sender device, the highest counter seen verified (§8.8).
    pub(crate) order_marks: BTreeMap<String, BTreeMap<String, crate::crypto::OrderMark>>,
    /// Colleagues' devices' current signed prekeys as served (checked when wrapping).
    pub(crate) prekeys: HashMap<String, crate::crypto::SignedPrekey>,
    /// The highest prekey serial seen per device: an older one served again is refused.
    pub(crate) prekey_serials: HashMap<String, u64>,
    /// Devices whose served prekey is older than one seen: withheld until it is current.
    pub(crate) stale_prekeys: std::collections::HashSet<String>,
    /// Wraps fetched and opened here, not yet acknowledged to the server.
    pub(crate) unacknowledged: std::collections::BTreeSet<(String, u64)>,
    /// What this client saw of each epoch, for its own rotation bounds (§23.4).
    pub(crate) rotation_watch: healing::RotationWatch,
    /// The key transparency log's head accepted last and what it proved (§25).
    pub(crate) key_log: key_log::KeyLogState,
    /// Per channel, the membership log as verified here and the heads members' messages
    /// named (§22.6): a log served later must contain them.
    pub(crate) membership: membership::HeadWatch,
}

impl Client {
    /// Logs in: password, then the TOTP code `code` computes from the challenge (which
    /// carries the enrolment secret on a first login).
    pub async fn login(
        base: &str,
        login: &str,
        password: &str,
        code: impl FnOnce(&LoginChallenge) -> String,
    ) -> Result<Client> {
        let http = reqwest::Client::new();
        let base = base.trim_end_matches('/').to_owned();
        let response = http
            .request(
                http_method(routes::LOGIN),
                format!("{base}{API_BASE}{}", routes::LOGIN.fill([])),
            )
            .json(&LoginRequest {
                login: login.into(),
                password: password.into(),
            })
            .send()
            .await?;
        let challenge: LoginChallenge = decode(response).await?;
        if challenge.next == NextStep::TotpEnrolment && challenge.enrolment.is_none() {
            return Err(ClientError::Protocol("enrolment without its secret".into()));
        }
        let code = code(&challenge);
        let response = http
            .request(
                http_method(routes::LOGIN_TOTP),
                format!("{base}{API_BASE}{}", routes::LOGIN_TOTP.fill([])),
            )
            .json(&TotpRequest {
                challenge: challenge.challenge,
                code,
                bearer: true,
            })
            .send()
            .await?;
        let opened: SessionOpened = decode(response).await?;
        let token = opened
            .token
            .ok_or_else(|| ClientError::Protocol("no bearer token".into()))?;
        Ok(Client::with_token(&base, token, opened.me))
    }

    /// A client for an already opened bearer session.
    pub fn with_token(base: &str, token: String, me: Me) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            token: zeroize::Zeroizing::new(token),
            me,
            known_identities: BTreeMap::new(),
            verified: std::collections::BTreeSet::new(),
            devices: HashMap::new(),
            epoch_keys: HashMap::new(),
            shredded: BTreeMap::new(),
            rosters: HashMap::new(),
            channel_epochs: HashMap::new(),
            sent_tips: BTreeMap::new(),
            order_marks: BTreeMap::new(),
            prekeys: HashMap::new(),
            prekey_serials: HashMap::new(),
            stale_prekeys: std::collections::HashSet::new(),
            unacknowledged: std::collections::BTreeSet::new(),
            rotation_watch: healing::RotationWatch::default(),
            key_log: key_log::KeyLogState::default(),
            membership: membership::HeadWatch::default(),
        }
    }

    /// Marks a colleague's pinned identity key as verified in person (after comparing
    /// fingerprints); `false` if no key is pinned for them yet.
    pub fn mark_verified(&mut self, user_id: &str) -> bool {
        if !self.known_identities.contains_key(user_id) {
            return false;
        }
        self.verified.insert(user_id.to_owned());
        true
    }

    /// Whether a colleague's pinned identity key is marked verified (here or, through
    /// the key backup, on another device of this account).
    pub fn is_verified(&self, user_id: &str) -> bool {
        self.verified.contains(user_id)
    }

    /// The identity key pinned for a colleague, if any.
    pub fn pinned_identity(&self, user_id: &str) -> Option<&IdentityPublicKey> {
        self.known_identities.get(user_id)
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// The bearer token (to carry a session over to another client instance).
    pub fn bearer_token(&self) -> &str {
        &self.token
    }

    /// Crypto-shredding here: records the tombstone (it travels in the next key backup
    /// and keeps a merge from bringing the keys back) and drops the keys it covers.
    pub fn shred(&mut self, channel_id: &str, what: crate::crypto::Shredded) {
        let widest = match self.shredded.get(channel_id) {
            Some(held) => held.widest(what),
            None => what,
        };
        self.shredded.insert(channel_id.to_owned(), widest);
        self.epoch_keys
            .retain(|(channel, epoch), _| channel != channel_id || !widest.covers(*epoch));
    }

    /// The tombstones held, by channel id.
    pub fn tombstones(&self) -> impl Iterator<Item = (&str, crate::crypto::Shredded)> {
        self.shredded.iter().map(|(c, s)| (c.as_str(), *s))
    }

    /// Whether a tombstone held here covers this channel epoch.
    pub(crate) fn is_shredded(&self, channel_id: &str, epoch: u64) -> bool {
        self.shredded
            .get(channel_id)
            .is_some_and(|what| what.covers(epoch))
    }

    /// Whether this client holds the key of a channel epoch (tests of crypto-shredding).
    pub fn holds_epoch_key(&self, channel_id: &str, epoch: u64) -> bool {
        self.epoch_keys
            .contains_key(&(channel_id.to_owned(), epoch))
    }

    /// A request to one endpoint of the route table ([`routes`]), its path parameters
    /// filled in (each percent-encoded as one segment), with the bearer token. The SDK
    /// builds every request this way.
    pub fn endpoint<const N: usize>(
        &self,
        route: Route<N>,
        values: [&str; N],
    ) -> reqwest::RequestBuilder {
        self.request(http_method(route), &route.fill(values))
    }

    /// Calls an endpoint without a body and decodes its answer.
    pub async fn call<T: DeserializeOwned, const N: usize>(
        &self,
        route: Route<N>,
        values: [&str; N],
    ) -> Result<T> {
        decode(self.endpoint(route, values).send().await?).await
    }

    /// Calls an endpoint with a JSON body and decodes its answer.
    pub async fn call_with<B: Serialize, T: DeserializeOwned, const N: usize>(
        &self,
        route: Route<N>,
        values: [&str; N],
        body: &B,
    ) -> Result<T> {
        decode(self.endpoint(route, values).json(body).send().await?).await
    }

    /// Calls an endpoint with a JSON body, expecting no content.
    pub async fn call_with_no_answer<B: Serialize, const N: usize>(
        &self,
        route: Route<N>,
        values: [&str; N],
        body: &B,
    ) -> Result<()> {
        expect_ok(self.endpoint(route, values).json(body).send().await?).await
    }

    /// A request to [`API_BASE`] + `path` with the bearer token: for a path outside the
    /// route table (tests that probe malformed paths); the SDK uses [`Client::endpoint`].
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{API_BASE}{path}", self.base))
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", self.token.as_str()),
            )
    }

    /// `GET` a path written by hand and decode (see [`Client::request`]).
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        decode(self.request(Method::GET, path).send().await?).await
    }

    /// `POST` a JSON body to a path written by hand and decode the answer.
    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        decode(self.request(Method::POST, path).json(body).send().await?).await
    }

    /// `POST` a JSON body to a path written by hand, expecting no content.
    pub async fn post_empty<B: Serialize>(&self, path: &str, body: &B) -> Result<()> {
        expect_ok(self.request(Method::POST, path).json(body).send().await?).await
    }

    /// Replaces the account's password (`POST /me/password`), e.g. the provisional one an
    /// administrator generated, which the server requires to be replaced first.
    pub async fn change_password(&mut self, current: &str, new: &str) -> Result<()> {
        self.call_with_no_answer(
            routes::PASSWORD_CHANGE,
            [],
            &crate::protocol::v1::auth::ChangePasswordRequest {
                current_password: current.to_owned(),
                new_password: new.to_owned(),
            },
        )
        .await?;
        self.me.password_change_required = false;
        Ok(())
    }
}

/// reqwest's method for a route of the table.
fn http_method<const N: usize>(route: Route<N>) -> Method {
    match route.method {
        routes::Method::Get => Method::GET,
        routes::Method::Post => Method::POST,
        routes::Method::Put => Method::PUT,
        routes::Method::Patch => Method::PATCH,
        routes::Method::Delete => Method::DELETE,
    }
}

/// Decodes a JSON answer or turns the error body into [`ClientError::Api`].
pub async fn decode<T: DeserializeOwned>(response: reqwest::Response) -> Result<T> {
    let status = response.status();
    if status.is_success() {
        return response
            .json()
            .await
            .map_err(|err| ClientError::Protocol(err.to_string()));
    }
    Err(api_error(status, response).await)
}

/// Accepts any success status.
pub async fn expect_ok(response: reqwest::Response) -> Result<()> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    Err(api_error(status, response).await)
}

async fn api_error(status: StatusCode, response: reqwest::Response) -> ClientError {
    let code = response
        .json::<ErrorBody>()
        .await
        .map(|body| body.error.code)
        .unwrap_or_else(|_| status.as_str().to_owned());
    ClientError::Api { status, code }
}
