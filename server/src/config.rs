//! Configuration: `passerelle.toml`, then `PASSERELLE_*` environment variables on top
//! (nested keys with `__`, e.g. `PASSERELLE_AUDIT__RETENTION_MONTHS=24`).
//!
//! Defaults are the safe choice; [`Config::validate`] refuses the unsafe ones, such as
//! plain HTTP on a public address.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

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
    /// The file holding the server's 32-byte secret (shared by every node of a cluster).
    /// Default: `<data_dir>/server.key`, created on first start.
    pub secret_key_file: Option<PathBuf>,
    /// `text` or `json` logs.
    pub log_format: LogFormat,
    /// A session ends after this many minutes without a request.
    pub session_idle_minutes: u32,
    /// A session ends this many hours after login, used or not.
    pub session_absolute_hours: u32,
    /// Consecutive failed logins that lock an account until an admin unlocks it.
    pub lockout_threshold: u32,
    /// Failed attempts allowed per client address per quarter of an hour.
    pub ip_attempts_per_window: u32,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
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
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            interval_secs: 3600,
            working_group_months: 12,
            direct_months: 12,
            practice_session_days: 7,
            archive_access_minutes: 60,
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
            secret_key_file: None,
            log_format: LogFormat::Text,
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            lockout_threshold: 5,
            ip_attempts_per_window: 30,
            max_body_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            ws_queue_frames: 1024,
            ws_frames_per_second: 200,
            ws_idle_timeout_ms: 75_000,
            ws_ping_interval_ms: 30_000,
            ws_session_check_ms: 60_000,
            audit: AuditConfig::default(),
            retention: RetentionConfig::default(),
        }
    }
}

impl Config {
    /// Reads `path` (if it exists) and the `PASSERELLE_*` environment over the defaults.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(path))
            .merge(
                Env::prefixed("PASSERELLE_")
                    // Variables of the command line, the logs and the test suites, not settings.
                    .filter(|key| {
                        let key = key.as_str().to_ascii_lowercase();
                        !(key == "config" || key == "log" || key.starts_with("test_"))
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
        if !(1..=3600).contains(&self.bus_replay_window_secs) {
            bail!("bus_replay_window_secs must be between 1 and 3600");
        }
        let retention = &self.retention;
        if retention.interval_secs == 0
            || !(1..=120).contains(&retention.working_group_months)
            || !(1..=120).contains(&retention.direct_months)
            || !(1..=90).contains(&retention.practice_session_days)
            || !(1..=480).contains(&retention.archive_access_minutes)
        {
            bail!(
                "retention: interval_secs must be positive, working_group_months and \
                 direct_months 1 to 120, practice_session_days 1 to 90, \
                 archive_access_minutes 1 to 480"
            );
        }
        if let Some(origin) = &self.public_origin {
            if !(origin.starts_with("https://") || origin.starts_with("http://")) {
                bail!(
                    "public_origin must be an http(s) origin such as https://passerelle.example.fr"
                );
            }
        }
        Ok(())
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
    fn the_defaults_are_valid_and_use_tls() {
        let config = Config::default();
        assert!(config.validate().is_ok());
        assert!(config.tls);
        assert_eq!(config.origin(), "https://127.0.0.1:8443");
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
