//! Configuration: `passerelle.toml`, then `PASSERELLE_*` environment variables on top
//! (nested keys with `__`, e.g. `PASSERELLE_AUDIT__RETENTION_MONTHS=24`).
//!
//! Defaults are the safe choice; [`Config::validate`] refuses the unsafe ones, such as
//! plain HTTP on a public address.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Largest encrypted key backup accepted, in bytes of JSON, and the default and highest
/// value of the `max_backup_bytes` setting: 16 MiB holds about 110,000 epoch keys (about
/// 150 bytes each once encrypted and encoded) while keeping one request bounded.
/// Destroyed channels and purged histories leave only a tombstone of a few dozen bytes
/// (docs/PROTOCOL.md §10.6), so a backup holds about one retention period of keys, far
/// below the cap (the numbers are in §12.2).
pub const MAX_BACKUP_BYTES: usize = 16 * 1024 * 1024;

/// Largest page of a paged key backup, in bytes of JSON, and the default and highest
/// value of `max_backup_page_bytes`: a page holds at most 2,000 epoch keys, about 300 KB
/// encoded (600 KB with identifiers of the longest length), docs/PROTOCOL.md §10.8.
pub const MAX_BACKUP_PAGE_BYTES: usize = 1024 * 1024;

/// Lowest value of `max_backup_page_bytes`: writers cut pages by count (2,000 keys), and
/// such a page with identifiers of the longest length is about 600 KB, so a lower limit
/// would refuse pages a client cannot make smaller.
pub const MIN_BACKUP_PAGE_BYTES: usize = 768 * 1024;

/// Default of `max_backup_total_bytes`, the most all of an account's backup pages may
/// take together: 1 GiB, about 7 million epoch keys, some 450 years of a heavy user
/// (15,000 keys a year, docs/PROTOCOL.md §12.2); a bound on what one account may store,
/// not one a user reaches.
pub const DEFAULT_BACKUP_TOTAL_BYTES: u64 = 1024 * 1024 * 1024;

/// The whole configuration of a node.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// The origin browsers use (e.g. `https://passerelle.ville.fr`); the WebSocket and
    /// cookie-authenticated requests must come from it. Derived from `listen` if absent.
    pub public_origin: Option<String>,
    /// Where the SQLite files, keys and attachments live.
    pub data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL; absent for the embedded SQLite file.
    pub database_url: Option<String>,
    /// `redis://…` (or `rediss://…` for TLS) for cluster fan-out and shared login
    /// throttling; absent for a single node.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and pub/sub channel this cluster uses, so that several
    /// deployments (or test runs) can share one Redis.
    pub redis_prefix: String,
    /// Bus events older than this are not applied (they may be replays); clients have
    /// repaired messages from their cursors long before, and access changes come from the
    /// database's feed whatever the bus did.
    pub bus_replay_window_secs: u32,
    /// Serve HTTPS (with `tls_cert`/`tls_key`, or a generated self-signed certificate).
    pub tls: bool,
    /// PEM certificate chain.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    pub tls_key: Option<PathBuf>,
    /// A reverse proxy terminates TLS and sets `X-Forwarded-For`.
    pub behind_proxy: bool,
    /// The addresses (or CIDR ranges, `10.0.0.0/8`) of the reverse proxies whose
    /// `X-Forwarded-For` is believed, with `behind_proxy`; from any other peer the header
    /// is ignored (anyone can send it). Default: loopback, a proxy on the same machine.
    pub trusted_proxies: Vec<String>,
    /// The file holding the server's 32-byte secret (shared by every node of a cluster).
    /// Default: `<data_dir>/server.key`, created on first start.
    pub secret_key_file: Option<PathBuf>,
    /// `text` or `json` logs.
    pub log_format: LogFormat,
    /// A session ends after this many minutes without a request.
    pub session_idle_minutes: u32,
    /// A session ends this many hours after login, used or not.
    pub session_absolute_hours: u32,
    /// Consecutive failed logins (or wrong current passwords) that lock a login — an
    /// account or an unknown login alike — for `lockout_base_secs`; each further lock-out
    /// in a row doubles the delay, up to `lockout_max_secs`. An admin can unlock earlier.
    pub lockout_threshold: u32,
    /// The first lock-out's length, in seconds.
    pub lockout_base_secs: u64,
    /// The longest lock-out, in seconds.
    pub lockout_max_secs: u64,
    /// Failed attempts allowed per client address per quarter of an hour.
    pub ip_attempts_per_window: u32,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest encrypted key backup accepted, in bytes of JSON: 65,536 to 16 MiB, 16 MiB
    /// (about 110,000 epoch keys) by default (docs/PROTOCOL.md §10.5). Lowering it only
    /// brings the day a user's backup is full nearer; tests lower it to reach that day.
    pub max_backup_bytes: usize,
    /// Largest page of a paged key backup accepted, in bytes of JSON: 768 KiB to 1 MiB,
    /// 1 MiB by default (docs/PROTOCOL.md §10.8). A larger page is refused with
    /// `backup_page_too_large`.
    pub max_backup_page_bytes: usize,
    /// Most bytes all of one account's backup pages may take together: 65,536 at least,
    /// 1 GiB by default (docs/PROTOCOL.md §10.8, §12.2); tests lower it to reach it.
    pub max_backup_total_bytes: u64,
    /// Longest time a request may take, in seconds.
    pub request_timeout_secs: u64,
    /// Longest time a client may take to send a request's headers, in seconds: a slow
    /// client (slowloris) is disconnected instead of holding a connection open.
    pub header_read_timeout_secs: u64,
    /// Frames queued for a WebSocket client before it counts as not reading and is
    /// disconnected (it then re-syncs from its cursors).
    pub ws_queue_frames: usize,
    /// Frames per second a WebSocket client may send on average (twice as many in a
    /// burst); beyond, frames are refused, then the connection is closed (a flood).
    pub ws_frames_per_second: u32,
    /// A WebSocket silent this long (no frame, not even a pong) is closed, in
    /// milliseconds. Clients ping every 25 s; tests shorten it to show that an idle SDK
    /// connection stays up without waiting minutes.
    pub ws_idle_timeout_ms: u64,
    /// How often the server pings each WebSocket (so that proxies keep it open), in
    /// milliseconds; below `ws_idle_timeout_ms`, since a client's pong counts as traffic.
    pub ws_ping_interval_ms: u64,
    /// How often a WebSocket re-checks its session, account and device, in milliseconds:
    /// this catches what no event announces, a session that expires.
    pub ws_session_check_ms: u64,
    /// The access log.
    pub audit: AuditConfig,
    /// Retention of channels and the purge job (CHARTER.md C11).
    pub retention: RetentionConfig,
    /// Passkeys and security keys (CHARTER.md C15).
    pub webauthn: WebauthnConfig,
    /// E-mails to members who are away while messages wait for them.
    pub notices: NoticesConfig,
}

/// `[notices]`: offline notices. A member with unread messages and no connection open for
/// `offline_minutes` gets one e-mail that says only that there are new messages (no
/// content, sender or channel: an e-mail leaves the encrypted perimeter), at most once
/// per `period_minutes`. Off by default: it needs an SMTP relay.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoticesConfig {
    /// Send offline notices.
    pub enabled: bool,
    /// The SMTP relay's host name.
    pub smtp_host: String,
    /// Its port; default 587 with `starttls`, 465 with `tls`, 25 with `none`.
    pub smtp_port: Option<u16>,
    /// How the connection to the relay is protected.
    pub smtp_tls: SmtpTls,
    /// The login on the relay, if it asks for one; the password comes from
    /// `smtp_password_file` or the environment variable `PASSERELLE_SMTP_PASSWORD`, never
    /// from this file.
    pub smtp_username: Option<String>,
    /// A file holding the relay's password (a trailing newline is ignored).
    pub smtp_password_file: Option<PathBuf>,
    /// The sender, e.g. `Passerelle <ne-pas-repondre@ville.example.fr>`.
    pub from: String,
    /// Minutes without any open connection, with something unread, before a notice.
    pub offline_minutes: u32,
    /// Minimum minutes between two notices to one person.
    pub period_minutes: u32,
    /// Seconds between two passes of the notice job.
    pub interval_secs: u64,
    /// Longest time one exchange with the relay may take, in seconds.
    pub smtp_timeout_secs: u64,
}

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain SMTP upgraded with STARTTLS, which is required (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only towards a relay on this machine (loopback).
    None,
}

impl Default for NoticesConfig {
    fn default() -> Self {
        NoticesConfig {
            enabled: false,
            smtp_host: "localhost".to_owned(),
            smtp_port: None,
            smtp_tls: SmtpTls::Starttls,
            smtp_username: None,
            smtp_password_file: None,
            from: String::new(),
            offline_minutes: 30,
            period_minutes: 240,
            interval_secs: 60,
            smtp_timeout_secs: 15,
        }
    }
}

impl NoticesConfig {
    /// The relay's port, explicit or the usual one of the TLS mode.
    pub fn port(&self) -> u16 {
        self.smtp_port.unwrap_or(match self.smtp_tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        })
    }

    fn validate(&self) -> anyhow::Result<()> {
        if !self.enabled {
            return Ok(());
        }
        if self.from.parse::<lettre::message::Mailbox>().is_err() {
            bail!(
                "notices.from must be a sender address, e.g. \
                 \"Passerelle <ne-pas-repondre@ville.example.fr>\""
            );
        }
        if self.smtp_host.trim().is_empty() {
            bail!("notices.smtp_host must name the SMTP relay");
        }
        let loopback = self.smtp_host == "localhost"
            || self
                .smtp_host
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if self.smtp_tls == SmtpTls::None && !loopback {
            bail!(
                "notices.smtp_tls = \"none\" is only allowed towards a relay on this machine \
                 (localhost): use \"starttls\" or \"tls\""
            );
        }
        if self.smtp_password_file.is_some() && self.smtp_username.is_none() {
            bail!("notices.smtp_password_file needs notices.smtp_username");
        }
        if !(1..=1440).contains(&self.offline_minutes) {
            bail!("notices.offline_minutes must be between 1 and 1440");
        }
        if !(1..=10_080).contains(&self.period_minutes) {
            bail!("notices.period_minutes must be between 1 and 10080 (a week)");
        }
        if !(1..=3600).contains(&self.interval_secs) {
            bail!("notices.interval_secs must be between 1 and 3600");
        }
        // Every node refreshes its connected members once per pass: a member is only
        // "away" once several passes have not seen them.
        if u64::from(self.offline_minutes) * 60 < 2 * self.interval_secs {
            bail!("notices.offline_minutes must be at least two notices.interval_secs");
        }
        if !(1..=300).contains(&self.smtp_timeout_secs) {
            bail!("notices.smtp_timeout_secs must be between 1 and 300");
        }
        Ok(())
    }
}

/// `[webauthn]`: the relying party browsers bind credentials to, and who must use one.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebauthnConfig {
    /// The relying-party id, a domain name (never an address): credentials are bound to it
    /// and work on it and its sub-domains only. Default: the host of `public_origin`
    /// (`localhost` when the server listens on a loopback address).
    pub rp_id: Option<String>,
    /// Origins accepted besides the public origin (e.g. a second host name in front of
    /// the same nodes); each must be the rp id or one of its sub-domains.
    pub extra_origins: Vec<String>,
    /// The roles that must sign in with a passkey or security key: for them a TOTP code
    /// alone no longer opens a session.
    pub required_roles: Vec<String>,
    /// Authenticator models (AAGUIDs) an admin may register; empty allows any. The model
    /// is what the authenticator declares: attestation is stored, not required.
    pub admin_aaguids: Vec<String>,
    /// How long a ceremony (registration or sign-in) may take, in seconds.
    pub challenge_ttl_secs: u32,
}

impl Default for WebauthnConfig {
    fn default() -> Self {
        WebauthnConfig {
            rp_id: None,
            extra_origins: Vec::new(),
            required_roles: vec!["admin".to_owned(), "auditor".to_owned()],
            admin_aaguids: Vec::new(),
            challenge_ttl_secs: 300,
        }
    }
}

/// An address or a CIDR range of `trusted_proxies`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// `192.0.2.7`, `10.0.0.0/8`, `2001:db8::/32`; `None` if malformed.
    pub fn parse(text: &str) -> Option<IpRange> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix.parse::<u8>().ok()?)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address.parse().ok()?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(bits);
        (prefix <= bits).then_some(IpRange { network, prefix })
    }

    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let (a, b, bits) = match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                (u128::from(u32::from(n)), u128::from(u32::from(i)), 32u32)
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128u32),
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        shift >= 128 || (a >> shift) == (b >> shift)
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Settings of the access log (CHARTER.md C12).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Months events are kept: 6 to 36.
    pub retention_months: u32,
    /// Sign a checkpoint every this many events…
    pub checkpoint_every: u64,
    /// …or this many seconds, whichever comes first.
    pub checkpoint_interval_secs: u64,
    /// A separate database for the log; default: `<data_dir>/audit.sqlite`, or the
    /// `audit` schema of `database_url` on PostgreSQL.
    pub database_url: Option<String>,
    /// The server's checkpoint signing key (PKCS#8); default `<data_dir>/audit-signing.p8`.
    pub signing_key_file: Option<PathBuf>,
    /// The Ed25519 key (PKCS#8) that signs the Merkle log's checkpoints. Deliberately
    /// without a default inside the data directory: whoever copies the database (a backup,
    /// a stolen disk) must not get the key that vouches for it. Required by `serve`.
    pub log_key_file: Option<PathBuf>,
    /// Generate `log_key_file` if it is absent (the demonstration and tests only: a
    /// production server refuses to start without its key rather than start a new history).
    pub generate_log_key: bool,
    /// The log's name in its checkpoints (C2SP origin), e.g. `clspd.example.fr/audit`;
    /// default: the public origin's host followed by `/audit`.
    pub origin: Option<String>,
    /// Witnesses that cosign every checkpoint (docs/AUDIT.md).
    pub witnesses: Vec<WitnessConfig>,
    /// Cosignatures a checkpoint needs for `audit verify` to accept it as the log's head;
    /// default: every configured witness.
    pub min_cosignatures: Option<usize>,
    /// Serve although the log is not consistent with what the witnesses cosigned: the
    /// operator's written acknowledgement of the incident, recorded in the log itself.
    pub acknowledge_incident: Option<String>,
}

/// A witness of the access log.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// Its base URL, e.g. `https://temoin.prefecture.example.fr`.
    pub url: String,
    /// Its C2SP verifier key (`<name>+<key hash>+<key>`), obtained from its operator.
    pub key: String,
}

/// Retention of channels and the purge job (CHARTER.md C11). Cases are destroyed at their
/// `destroy_by` (at most three years after the end of the follow-up: a charter rule, not a
/// setting).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Seconds between two passes of the purge job (it also runs at start-up).
    pub interval_secs: u64,
    /// Months a working group's messages and attachments are kept: 1 to 120.
    pub working_group_months: u32,
    /// Months a direct conversation's messages and attachments are kept: 1 to 120.
    pub direct_months: u32,
    /// Days a practice session is kept after its end: 1 to 90.
    pub practice_session_days: u32,
    /// Minutes an archived case stays readable after a written reason: 1 to 480.
    pub archive_access_minutes: u32,
    /// Months after which an active case must be reviewed again (CHARTER.md C11): 1 to 24.
    pub case_review_months: u32,
    /// Days an overdue case stays proposed for closing before it is archived: 7 to 180.
    pub overdue_case_archive_days: u32,
    /// Days a wrapped epoch key its device never acknowledged is kept: 1 to 30
    /// (docs/PROTOCOL.md §23.3). A device offline longer gets those keys from the key
    /// backup or its user's other devices. Must stay below the clients' prekey grace
    /// period (35 days), so a wrap is never kept longer than the key that opens it.
    pub wrap_retention_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            interval_secs: 3600,
            working_group_months: 12,
            direct_months: 12,
            practice_session_days: 7,
            archive_access_minutes: 60,
            case_review_months: 6,
            overdue_case_archive_days: 30,
            wrap_retention_days: 30,
        }
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            retention_months: 12,
            checkpoint_every: 1000,
            checkpoint_interval_secs: 300,
            database_url: None,
            signing_key_file: None,
            log_key_file: None,
            generate_log_key: false,
            origin: None,
            witnesses: Vec::new(),
            min_cosignatures: None,
            acknowledge_incident: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            public_origin: None,
            data_dir: PathBuf::from("passerelle-data"),
            database_url: None,
            redis_url: None,
            redis_prefix: "passerelle:".to_owned(),
            bus_replay_window_secs: 60,
            tls: true,
            tls_cert: None,
            tls_key: None,
            behind_proxy: false,
            trusted_proxies: vec!["127.0.0.1".into(), "::1".into()],
            secret_key_file: None,
            log_format: LogFormat::Text,
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            lockout_threshold: 5,
            lockout_base_secs: 60,
            lockout_max_secs: 24 * 3600,
            ip_attempts_per_window: 30,
            max_body_bytes: 1024 * 1024,
            max_backup_bytes: MAX_BACKUP_BYTES,
            max_backup_page_bytes: MAX_BACKUP_PAGE_BYTES,
            max_backup_total_bytes: DEFAULT_BACKUP_TOTAL_BYTES,
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            ws_queue_frames: 1024,
            ws_frames_per_second: 200,
            ws_idle_timeout_ms: 75_000,
            ws_ping_interval_ms: 30_000,
            ws_session_check_ms: 60_000,
            audit: AuditConfig::default(),
            retention: RetentionConfig::default(),
            webauthn: WebauthnConfig::default(),
            notices: NoticesConfig::default(),
        }
    }
}

impl Config {
    /// Whether `peer` is one of the `trusted_proxies` (and `behind_proxy` is set): only
    /// then is its `X-Forwarded-For` believed.
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        self.behind_proxy
            && self
                .trusted_proxies
                .iter()
                .filter_map(|p| IpRange::parse(p))
                .any(|range| range.contains(peer))
    }

    /// Reads `path` (if it exists) and the `PASSERELLE_*` environment over the defaults.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(path))
            .merge(
                Env::prefixed("PASSERELLE_")
                    // Variables of the command line, the logs and the test suites, not settings.
                    .filter(|key| {
                        let key = key.as_str().to_ascii_lowercase();
                        // The SMTP password is read where it is used, never kept in the
                        // configuration (which is printed when debugging).
                        !(key == "config"
                            || key == "log"
                            || key == "smtp_password"
                            || key.starts_with("test_"))
                    })
                    .split("__"),
            )
            .extract()
            .context("invalid configuration")?;
        config.validate()?;
        Ok(config)
    }

    /// Refuses unsafe or incoherent settings, with a message that says what to change.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !self.tls && !self.listen.ip().is_loopback() && !self.behind_proxy {
            bail!(
                "plain HTTP is only allowed on a loopback address or with behind_proxy = true \
                 (listen = {})",
                self.listen
            );
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            bail!("tls_cert and tls_key go together");
        }
        if !(6..=36).contains(&self.audit.retention_months) {
            bail!("audit.retention_months must be between 6 and 36");
        }
        if self.session_idle_minutes == 0 || self.session_absolute_hours == 0 {
            bail!("session durations must be positive");
        }
        if u64::from(self.session_idle_minutes) > u64::from(self.session_absolute_hours) * 60 {
            bail!("session_idle_minutes cannot exceed session_absolute_hours");
        }
        if self.ws_queue_frames < 8 {
            bail!("ws_queue_frames must be at least 8");
        }
        if self.ws_frames_per_second == 0 {
            bail!("ws_frames_per_second must be positive");
        }
        if self.ws_idle_timeout_ms == 0 || self.ws_session_check_ms == 0 {
            bail!("ws_idle_timeout_ms and ws_session_check_ms must be positive");
        }
        if self.ws_ping_interval_ms == 0 || self.ws_ping_interval_ms >= self.ws_idle_timeout_ms {
            bail!(
                "ws_ping_interval_ms must be positive and below ws_idle_timeout_ms \
                 (a client's pong is what keeps an idle connection open)"
            );
        }
        if self.lockout_threshold == 0 || self.ip_attempts_per_window == 0 {
            bail!("lockout_threshold and ip_attempts_per_window must be positive");
        }
        if self.lockout_base_secs == 0 || self.lockout_max_secs < self.lockout_base_secs {
            bail!("lockout_base_secs must be positive and at most lockout_max_secs");
        }
        for proxy in &self.trusted_proxies {
            if IpRange::parse(proxy).is_none() {
                bail!("trusted_proxies: {proxy:?} is not an IP address or a CIDR range");
            }
        }
        if self.audit.checkpoint_every == 0 || self.audit.checkpoint_interval_secs == 0 {
            bail!("audit checkpoints must be taken at a positive interval");
        }
        for witness in &self.audit.witnesses {
            crate::audit::note::NoteVerifier::parse(&witness.key)
                .with_context(|| format!("audit.witnesses: invalid key for {}", witness.url))?;
        }
        if self
            .audit
            .min_cosignatures
            .is_some_and(|n| n > self.audit.witnesses.len())
        {
            bail!("audit.min_cosignatures cannot exceed the number of audit.witnesses");
        }
        if let Some(url) = &self.redis_url {
            if !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("redis+unix://")
                || url.starts_with("unix://"))
            {
                bail!("redis_url must be a redis://, rediss:// or unix:// URL");
            }
            if self.database_url.is_none() {
                bail!(
                    "redis_url means cluster mode, whose nodes share one PostgreSQL database: \
                     set database_url too"
                );
            }
        }
        if self.redis_prefix.is_empty() || self.redis_prefix.len() > 64 {
            bail!("redis_prefix must be 1 to 64 characters long");
        }
        if !(64 * 1024..=MAX_BACKUP_BYTES).contains(&self.max_backup_bytes) {
            bail!("max_backup_bytes must be between 65536 and 16777216");
        }
        if !(MIN_BACKUP_PAGE_BYTES..=MAX_BACKUP_PAGE_BYTES).contains(&self.max_backup_page_bytes) {
            bail!("max_backup_page_bytes must be between 786432 and 1048576");
        }
        if self.max_backup_total_bytes < 64 * 1024 {
            bail!("max_backup_total_bytes must be at least 65536");
        }
        if !(1..=3600).contains(&self.bus_replay_window_secs) {
            bail!("bus_replay_window_secs must be between 1 and 3600");
        }
        let retention = &self.retention;
        if retention.interval_secs == 0
            || !(1..=120).contains(&retention.working_group_months)
            || !(1..=120).contains(&retention.direct_months)
            || !(1..=90).contains(&retention.practice_session_days)
            || !(1..=480).contains(&retention.archive_access_minutes)
            || !(1..=24).contains(&retention.case_review_months)
            || !(7..=180).contains(&retention.overdue_case_archive_days)
            || !(1..=30).contains(&retention.wrap_retention_days)
        {
            bail!(
                "retention: interval_secs must be positive, working_group_months and \
                 direct_months 1 to 120, practice_session_days 1 to 90, \
                 archive_access_minutes 1 to 480, case_review_months 1 to 24, \
                 overdue_case_archive_days 7 to 180, wrap_retention_days 1 to 30"
            );
        }
        if let Some(origin) = &self.public_origin {
            if !(origin.starts_with("https://") || origin.starts_with("http://")) {
                bail!(
                    "public_origin must be an http(s) origin such as https://passerelle.example.fr"
                );
            }
        }
        self.notices.validate()?;
        self.validate_webauthn()
    }

    fn validate_webauthn(&self) -> anyhow::Result<()> {
        let webauthn = &self.webauthn;
        for role in &webauthn.required_roles {
            if passerelle_shared::protocol::v1::Role::parse(role).is_none() {
                bail!("webauthn.required_roles: unknown role {role:?}");
            }
        }
        for aaguid in &webauthn.admin_aaguids {
            if uuid::Uuid::parse_str(aaguid).is_err() {
                bail!("webauthn.admin_aaguids: {aaguid:?} is not an AAGUID (a UUID)");
            }
        }
        if !(30..=3600).contains(&webauthn.challenge_ttl_secs) {
            bail!("webauthn.challenge_ttl_secs must be between 30 and 3600");
        }
        for origin in &webauthn.extra_origins {
            if url::Url::parse(origin).is_err() {
                bail!("webauthn.extra_origins: {origin:?} is not an origin");
            }
        }
        if webauthn.required_roles.is_empty() {
            return Ok(());
        }
        let Some(rp_id) = self.webauthn_rp_id() else {
            bail!(
                "webauthn: the relying-party id must be a domain name, and the public origin is \
                 an address; set public_origin (or webauthn.rp_id) to the site's host name, or \
                 webauthn.required_roles = [] to run without passkeys"
            );
        };
        let origins = self.webauthn_origins();
        if origins.is_empty() {
            bail!("webauthn: no origin with a host name; set public_origin to the site's URL");
        }
        for origin in &origins {
            let host = url::Url::parse(origin)
                .ok()
                .and_then(|url| url.host_str().map(str::to_ascii_lowercase))
                .unwrap_or_default();
            if host != rp_id && !host.ends_with(&format!(".{rp_id}")) {
                bail!(
                    "webauthn: the origin {origin} is not on the relying party {rp_id} (nor one \
                     of its sub-domains): keys registered there would not work"
                );
            }
        }
        Ok(())
    }

    /// The origins browsers may send requests from: the public origin and, for a server on
    /// a loopback address, the same port named `localhost` (the name WebAuthn needs, since
    /// a relying party cannot be an address).
    pub fn browser_origins(&self) -> Vec<String> {
        let origin = self.origin();
        let mut origins = vec![origin.clone()];
        if self.public_origin.is_none() && self.listen.ip().is_loopback() {
            let scheme = if self.tls { "https" } else { "http" };
            origins.push(format!("{scheme}://localhost:{}", self.listen.port()));
        }
        origins
    }

    /// The WebAuthn relying-party id, if the site has a name: `webauthn.rp_id`, or the
    /// public origin's host, `localhost` for a loopback address. `None` for an address.
    pub fn webauthn_rp_id(&self) -> Option<String> {
        if let Some(rp_id) = &self.webauthn.rp_id {
            return Some(rp_id.trim().to_ascii_lowercase());
        }
        let url = url::Url::parse(&self.origin()).ok()?;
        match url.host()? {
            url::Host::Domain(domain) => Some(domain.to_ascii_lowercase()),
            url::Host::Ipv4(ip) if ip.is_loopback() => Some("localhost".to_owned()),
            url::Host::Ipv6(ip) if ip.is_loopback() => Some("localhost".to_owned()),
            _ => None,
        }
    }

    /// The origins WebAuthn accepts: those of [`Config::browser_origins`] whose host is a
    /// name, then `webauthn.extra_origins`.
    pub fn webauthn_origins(&self) -> Vec<String> {
        let mut origins: Vec<String> = self
            .browser_origins()
            .into_iter()
            .filter(|origin| {
                url::Url::parse(origin)
                    .ok()
                    .is_some_and(|url| matches!(url.host(), Some(url::Host::Domain(_))))
            })
            .collect();
        origins.extend(
            self.webauthn
                .extra_origins
                .iter()
                .map(|origin| origin.trim_end_matches('/').to_owned()),
        );
        origins
    }

    /// The origin browsers are expected to use.
    pub fn origin(&self) -> String {
        match &self.public_origin {
            Some(origin) => origin.trim_end_matches('/').to_owned(),
            None => {
                let scheme = if self.tls { "https" } else { "http" };
                let host = if self.listen.ip().is_unspecified() {
                    "localhost".to_owned()
                } else {
                    self.listen.ip().to_string()
                };
                format!("{scheme}://{host}:{}", self.listen.port())
            }
        }
    }

    /// The main database's URL.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => crate::db::sqlite_url(&self.data_dir.join("passerelle.sqlite")),
        }
    }

    /// The file of the server's secret.
    pub fn secret_key_path(&self) -> PathBuf {
        self.secret_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("server.key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_configured_proxies_are_trusted() {
        let config = Config {
            behind_proxy: true,
            trusted_proxies: vec!["10.0.0.0/8".into(), "2001:db8::1".into()],
            ..Config::default()
        };
        assert!(config.validate().is_ok());
        assert!(config.is_trusted_proxy("10.1.2.3".parse().unwrap()));
        assert!(config.is_trusted_proxy("::ffff:10.1.2.3".parse().unwrap()));
        assert!(config.is_trusted_proxy("2001:db8::1".parse().unwrap()));
        assert!(!config.is_trusted_proxy("2001:db8::2".parse().unwrap()));
        assert!(!config.is_trusted_proxy("192.0.2.1".parse().unwrap()));
        assert!(!Config::default().is_trusted_proxy("127.0.0.1".parse().unwrap()));
        assert!(IpRange::parse("::/0")
            .unwrap()
            .contains("2001:db8::9".parse().unwrap()));
        for bad in ["10.0.0.0/33", "proxy", "10.0.0.1/x"] {
            let config = Config {
                trusted_proxies: vec![bad.into()],
                ..Config::default()
            };
            assert!(config.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_defaults_are_valid_and_use_tls() {
        let config = Config::default();
        assert!(config.validate().is_ok());
        assert!(config.tls);
        assert_eq!(config.origin(), "https://127.0.0.1:8443");
    }

    #[test]
    fn a_loopback_server_is_its_own_relying_party_named_localhost() {
        let config = Config {
            tls: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            ..Config::default()
        };
        assert_eq!(config.webauthn_rp_id().as_deref(), Some("localhost"));
        assert_eq!(config.webauthn_origins(), vec!["http://localhost:8080"]);
        assert_eq!(
            config.browser_origins(),
            vec!["http://127.0.0.1:8080", "http://localhost:8080"]
        );
    }

    #[test]
    fn webauthn_required_on_an_address_is_refused() {
        let config = Config {
            public_origin: Some("https://192.0.2.10".into()),
            ..Config::default()
        };
        assert!(config.validate().is_err());
        let mut without = config.clone();
        without.webauthn.required_roles.clear();
        assert!(without.validate().is_ok());
        let mut named = config;
        named.public_origin = Some("https://passerelle.example.fr".into());
        assert_eq!(
            named.webauthn_rp_id().as_deref(),
            Some("passerelle.example.fr")
        );
        assert!(named.validate().is_ok());
        named.webauthn.required_roles = vec!["chief".into()];
        assert!(named.validate().is_err());
        named.webauthn.required_roles = vec!["admin".into()];
        named.webauthn.rp_id = Some("autre.example.fr".into());
        assert!(
            named.validate().is_err(),
            "an origin outside the rp id is refused"
        );
        named.webauthn.rp_id = Some("example.fr".into());
        assert!(
            named.validate().is_ok(),
            "a sub-domain of the rp id is fine"
        );
    }

    #[test]
    fn plain_http_on_a_public_address_is_refused() {
        let config = Config {
            tls: false,
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            ..Config::default()
        };
        assert!(config.validate().is_err());
        let behind_proxy = Config {
            behind_proxy: true,
            ..config
        };
        assert!(behind_proxy.validate().is_ok());
    }

    #[test]
    fn audit_retention_outside_6_to_36_months_is_refused() {
        for months in [5, 37] {
            let mut config = Config::default();
            config.audit.retention_months = months;
            assert!(config.validate().is_err());
        }
    }

    #[test]
    fn notices_are_off_by_default_and_plain_smtp_only_goes_to_this_machine() {
        assert!(!Config::default().notices.enabled);
        let mut config = Config::default();
        config.notices.enabled = true;
        assert!(config.validate().is_err(), "a sender is required");
        config.notices.from = "Passerelle <ne-pas-repondre@ville.example.fr>".into();
        assert!(config.validate().is_ok());
        assert_eq!(config.notices.port(), 587);
        config.notices.smtp_tls = SmtpTls::None;
        assert!(config.validate().is_ok(), "localhost may be plain");
        config.notices.smtp_host = "smtp.example.fr".into();
        assert!(
            config.validate().is_err(),
            "a remote relay may not be plain"
        );
        config.notices.smtp_tls = SmtpTls::Tls;
        assert!(config.validate().is_ok());
        assert_eq!(config.notices.port(), 465);
        config.notices.period_minutes = 0;
        assert!(config.validate().is_err());
    }

    #[test]
    fn cluster_mode_needs_postgresql_and_a_redis_url() {
        let on_sqlite = Config {
            redis_url: Some("redis://127.0.0.1:6379".into()),
            ..Config::default()
        };
        assert!(on_sqlite.validate().is_err());
        let cluster = Config {
            database_url: Some("postgres://passerelle@db/passerelle".into()),
            ..on_sqlite
        };
        assert!(cluster.validate().is_ok());
        let not_redis = Config {
            redis_url: Some("http://127.0.0.1:6379".into()),
            ..cluster
        };
        assert!(not_redis.validate().is_err());
    }
}
