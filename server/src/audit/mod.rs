//! The tamper-evident access log (CHARTER.md C12, docs/ARCHITECTURE.md, docs/AUDIT.md).
//!
//! Every part of the server records through [`AuditLog::record`] (usually via
//! `AppState::record`). The log is an append-only chain of events in a database of its
//! own: each event carries `SHA-256(previous hash ‖ canonical encoding)` (see [`chain`] for
//! the exact bytes), the server signs checkpoints of the chain's head with its own ECDSA
//! P-256 key (see [`signing`]), and retention purges leave a signed anchor from which the
//! rest still verifies. [`AuditLog::verify`] and `passerelle audit verify` find any edit,
//! deletion, insertion or reordering and say where.
//!
//! ```no_run
//! # async fn example(dir: &std::path::Path) -> anyhow::Result<()> {
//! use passerelle_server::audit::{Actor, AuditLog, AuditOptions, Event, Outcome};
//! let log = AuditLog::open(AuditOptions::for_data_dir(dir)).await?;
//! let seq = log
//!     .record(Event {
//!         actor: Actor { login: Some("c.martin".into()), ..Actor::default() },
//!         action: "login",
//!         target: None,
//!         outcome: Outcome::Failure,
//!         details: serde_json::json!({ "reason": "bad_password" }),
//!     })
//!     .await?;
//! assert!(log.verify().await?.intact);
//! # let _ = seq; Ok(()) }
//! ```

mod aggregate;
pub mod chain;
pub mod merkle;
pub mod note;
mod query;
pub mod signing;
mod store;
pub mod tree;
mod verify;
pub mod witness;
mod writer;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use futures_util::Stream;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::{mpsc, oneshot, Notify, RwLock};

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::metrics::Metrics;

pub use aggregate::{
    INDIVIDUAL as REFUSALS_RECORDED_PER_MINUTE, MAX_GROUPS as MAX_REFUSAL_GROUPS,
    PATHS_PER_GROUP as REFUSAL_PATHS_PER_GROUP,
};
pub use query::{
    format_time, Anchor, Checkpoint, EventFilter, EventPage, ExportFormat, StoredEvent, CSV_HEADER,
    MAX_PAGE,
};
pub use signing::TrustedKeys;
pub use store::POSTGRES_SCHEMA;
pub use tree::{ConsistencyProof, Incident, InclusionProof, TreeHead, TreeReport, Witness};
pub use verify::{checkpoint_signature_is_valid, BreakKind, ChainBreak, VerifyReport};

use note::{NoteSigner, NoteVerifier};

use signing::Signer;
use writer::{Command, Head, Writer};

/// Who did something. Built by the transport layer from the request (see `auth::CurrentUser`).
#[derive(Clone, Debug, Default)]
pub struct Actor {
    /// The account's id, when known (absent for an unknown login).
    pub user_id: Option<String>,
    /// The login that was used (a professional's login, never a case person's name).
    pub login: Option<String>,
    /// The account's institution id.
    pub institution_id: Option<String>,
    /// Id of the session (never the token).
    pub session_id: Option<String>,
    /// Client address.
    pub ip: Option<IpAddr>,
}

/// How the recorded action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Allowed and done.
    Success,
    /// Attempted and failed (wrong password, …).
    Failure,
    /// Refused by policy.
    Denied,
}

impl Outcome {
    /// The stored (and hashed) name: `success`, `failure` or `denied`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

impl FromStr for Outcome {
    type Err = AuditError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "success" => Ok(Outcome::Success),
            "failure" => Ok(Outcome::Failure),
            "denied" => Ok(Outcome::Denied),
            _ => Err(AuditError::InvalidFilter("outcome")),
        }
    }
}

/// One event to append.
#[derive(Clone, Debug)]
pub struct Event {
    /// Who.
    pub actor: Actor,
    /// What, as a stable snake_case name (`login`, `session_revoked`, `admin_user_created`, …).
    pub action: &'static str,
    /// On what: a channel id, a case reference, an account id, an institution id. Never a name.
    pub target: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Extra facts (reason codes, counts); never a secret, never message content.
    pub details: serde_json::Value,
}

/// What can go wrong with the access log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The audit database failed.
    #[error("audit database: {0}")]
    Database(#[from] DbErr),
    /// A batch of events could not be committed; every caller of the batch gets this.
    #[error("could not append to the access log: {0}")]
    Write(#[source] Arc<AuditError>),
    /// The writer task is gone (the runtime is shutting down).
    #[error("the access log writer has stopped")]
    WriterStopped,
    /// The signing key could not sign.
    #[error("could not sign an access log checkpoint")]
    Signing,
    /// A stored value the chain depends on is malformed (only tampering produces one).
    #[error("the access log is malformed: {0}")]
    Malformed(String),
    /// The event to anchor a purge on is missing.
    #[error("nothing to purge")]
    NothingToPurge,
    /// The log is not intact: purging now would destroy the evidence, so it is refused.
    #[error("the access log is not intact ({0}); the purge is refused")]
    Tampered(ChainBreak),
    /// A filter value is malformed; names the field.
    #[error("invalid filter: {0}")]
    InvalidFilter(&'static str),
}

/// How to open the access log.
#[derive(Clone)]
pub struct AuditOptions {
    /// The audit database: `sqlite://…` (its own file) or `postgres://…` (the tables go in
    /// the [`POSTGRES_SCHEMA`] schema, created if needed).
    pub database_url: String,
    /// The PKCS#8 ECDSA P-256 signing key, generated (mode 0600) if absent.
    pub signing_key_path: PathBuf,
    /// A file of retired public keys (base64url, one a line) still trusted for the
    /// signatures they made before a key rotation; absent means none.
    pub retired_keys_path: Option<PathBuf>,
    /// Sign a checkpoint every this many events (default 1000)…
    pub checkpoint_every: u64,
    /// …or this often when there are new events (default 300 s).
    pub checkpoint_interval: Duration,
    /// Months events are kept: 6 to 36 (default 12).
    pub retention_months: u32,
    /// The time, injectable for tests.
    pub clock: Arc<dyn Clock>,
    /// Run the background duties: time-based checkpoints and the daily retention purge.
    /// Off for one-shot commands (`audit verify`) and for tests that drive [`AuditLog::tick`].
    pub background: bool,
    /// The Ed25519 key that signs the Merkle checkpoints; `None` (not configured) refuses
    /// to open the log.
    pub log_key_path: Option<PathBuf>,
    /// Generate the log key if it is absent (demonstration and tests only).
    pub create_log_key: bool,
    /// The log's origin (its name in checkpoints and the log key's name).
    pub origin: String,
    /// Witnesses that cosign the checkpoints.
    pub witnesses: Vec<Witness>,
    /// Cosignatures `audit verify` requires on the log's head.
    pub min_cosignatures: usize,
    /// Before signing anything, compare the log with what the witnesses cosigned and
    /// refuse to open on a mismatch (unless acknowledged). Off for `audit verify`, which
    /// reports instead.
    pub check_witnesses: bool,
    /// The operator's acknowledgement of an incident the witnesses revealed.
    pub acknowledge_incident: Option<String>,
    /// Where the counting of anonymous refusals is exposed (the server's metrics).
    pub metrics: Arc<Metrics>,
}

impl fmt::Debug for AuditOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a PostgreSQL password: never print it.
        f.debug_struct("AuditOptions")
            .field("signing_key_path", &self.signing_key_path)
            .field("retired_keys_path", &self.retired_keys_path)
            .field("checkpoint_every", &self.checkpoint_every)
            .field("checkpoint_interval", &self.checkpoint_interval)
            .field("retention_months", &self.retention_months)
            .field("background", &self.background)
            .field("log_key_path", &self.log_key_path)
            .field("origin", &self.origin)
            .field("witnesses", &self.witnesses)
            .field("min_cosignatures", &self.min_cosignatures)
            .finish_non_exhaustive()
    }
}

impl AuditOptions {
    /// The defaults for a database and a key file.
    pub fn new(
        database_url: impl Into<String>,
        signing_key_path: impl Into<PathBuf>,
    ) -> AuditOptions {
        AuditOptions {
            database_url: database_url.into(),
            signing_key_path: signing_key_path.into(),
            retired_keys_path: None,
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(300),
            retention_months: 12,
            clock: Arc::new(SystemClock),
            background: true,
            log_key_path: None,
            create_log_key: false,
            origin: "passerelle.invalid/audit".to_owned(),
            witnesses: Vec::new(),
            min_cosignatures: 0,
            check_witnesses: true,
            acknowledge_incident: None,
            metrics: Arc::new(Metrics::new()),
        }
    }

    /// Everything in `dir`, the log key generated there too: for tests and examples only
    /// (a real server keeps its log key out of the data directory, see docs/AUDIT.md).
    pub fn for_data_dir(dir: &Path) -> AuditOptions {
        let key = dir.join("audit-signing.p8");
        let mut options = AuditOptions::new(crate::db::sqlite_url(&dir.join("audit.sqlite")), &key);
        options.retired_keys_path = Some(retired_keys_path(&key));
        options.log_key_path = Some(dir.join("audit-log.key"));
        options.create_log_key = true;
        options
    }

    /// The options of a server configuration, on the given clock.
    pub fn from_config(config: &Config, clock: Arc<dyn Clock>) -> AuditOptions {
        let database_url = match (&config.audit.database_url, &config.database_url) {
            (Some(url), _) => url.clone(),
            // On PostgreSQL the log shares the server but has its own schema.
            (None, Some(main)) if !main.starts_with("sqlite:") => main.clone(),
            (None, _) => crate::db::sqlite_url(&config.data_dir.join("audit.sqlite")),
        };
        let key = config
            .audit
            .signing_key_file
            .clone()
            .unwrap_or_else(|| config.data_dir.join("audit-signing.p8"));
        let witnesses: Vec<Witness> = config
            .audit
            .witnesses
            .iter()
            .filter_map(|w| {
                // Config::validate refused invalid keys already.
                NoteVerifier::parse(&w.key).ok().map(|verifier| Witness {
                    url: w.url.clone(),
                    verifier,
                })
            })
            .collect();
        let (log_key_path, create_log_key) = match &config.audit.log_key_file {
            Some(path) => (Some(path.clone()), config.audit.generate_log_key),
            // The server's own unit tests build configurations without one.
            #[cfg(test)]
            None => (Some(config.data_dir.join("audit-log.key")), true),
            #[cfg(not(test))]
            None => (None, false),
        };
        AuditOptions {
            database_url,
            retired_keys_path: Some(retired_keys_path(&key)),
            signing_key_path: key,
            checkpoint_every: config.audit.checkpoint_every,
            checkpoint_interval: Duration::from_secs(config.audit.checkpoint_interval_secs),
            retention_months: config.audit.retention_months,
            clock,
            background: true,
            log_key_path,
            create_log_key,
            origin: config
                .audit
                .origin
                .clone()
                .unwrap_or_else(|| default_origin(config)),
            min_cosignatures: config.audit.min_cosignatures.unwrap_or(witnesses.len()),
            witnesses,
            check_witnesses: true,
            acknowledge_incident: config.audit.acknowledge_incident.clone(),
            metrics: Arc::new(Metrics::new()),
        }
    }

    /// Refuses values outside the charter's bounds.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(6..=36).contains(&self.retention_months) {
            bail!("the access log's retention must be between 6 and 36 months");
        }
        if self.checkpoint_every == 0 || self.checkpoint_interval.is_zero() {
            bail!("access log checkpoints must be taken at a positive interval");
        }
        Ok(())
    }
}

impl From<&Config> for AuditOptions {
    fn from(config: &Config) -> Self {
        AuditOptions::from_config(config, Arc::new(SystemClock))
    }
}

/// The public origin's host and port followed by `/audit`.
fn default_origin(config: &Config) -> String {
    let origin = config.origin();
    let host = origin
        .split_once("://")
        .map_or(origin.as_str(), |(_, rest)| rest);
    format!("{}/audit", host.trim_end_matches('/'))
}

/// `<key file without extension>.retired`: where retired public keys are listed.
pub fn retired_keys_path(signing_key_path: &Path) -> PathBuf {
    signing_key_path.with_extension("retired")
}

/// What a retention purge did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurgeReport {
    /// Events removed.
    pub purged: u64,
    /// Events recorded before this time (unix ms) were due for removal.
    pub cutoff_ms: i64,
    /// The signed anchor the chain now starts from, if anything was removed.
    pub anchor: Option<Anchor>,
}

/// What every handle shares; the writer task holds it too, but not the command sender,
/// so the task ends when the last [`AuditLog`] is dropped.
pub(crate) struct Shared {
    pub(crate) db: DatabaseConnection,
    pub(crate) signer: Signer,
    pub(crate) trusted: TrustedKeys,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) checkpoint_every: u64,
    pub(crate) checkpoint_interval_ms: i64,
    pub(crate) retention_months: u32,
    /// Verification reads (shared) and retention purges (exclusive) must not overlap:
    /// a purge in the middle of a walk would look like a deletion.
    pub(crate) maintenance: RwLock<()>,
    /// Signs the Merkle checkpoints.
    pub(crate) log_signer: NoteSigner,
    /// The same key under the key transparency log's origin (PROTOCOL.md §25): its
    /// checkpoints carry another origin line, so neither log's head passes for the other's.
    pub(crate) key_log_signer: NoteSigner,
    /// The log's origin.
    pub(crate) origin: String,
    /// Witnesses to submit checkpoints to.
    pub(crate) witnesses: Vec<Witness>,
    /// Cosignatures required on the head by `audit verify`.
    pub(crate) min_cosignatures: usize,
    /// Wakes the task that submits new checkpoints to the witnesses.
    pub(crate) cosign_wakeup: Notify,
    /// Serialises submissions, so that two never race on one witness.
    pub(crate) cosigning: tokio::sync::Mutex<()>,
    /// Anonymous refusals, counted per minute beyond the first few.
    pub(crate) refusals: aggregate::Aggregator,
}

/// The access log service: cheap to clone, every clone appends to the same chain.
#[derive(Clone)]
pub struct AuditLog {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Command>,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("key_id", &self.shared.signer.key_id())
            .finish_non_exhaustive()
    }
}

/// The key transparency log's origin: the access log's with `/keys` in place of a final
/// `/audit` (`clspd.example.fr/keys`), or after it.
fn key_log_origin(origin: &str) -> String {
    match origin.strip_suffix("/audit") {
        Some(host) => format!("{host}/keys"),
        None => format!("{origin}/keys"),
    }
}

/// Queue length of the writer: callers wait (backpressure) rather than pile up memory.
const QUEUE: usize = 4096;

impl AuditLog {
    /// Opens the log: connects, runs the audit migrations, loads (or creates) the signing
    /// key, resumes the chain from its last event and starts the writer (and, if asked,
    /// the background duties). Must be called inside a tokio runtime.
    pub async fn open(options: AuditOptions) -> anyhow::Result<AuditLog> {
        options.validate()?;
        let signer = Signer::load_or_create(&options.signing_key_path)?;
        let mut trusted = TrustedKeys::new([signer.public_key().to_vec()]);
        if let Some(path) = &options.retired_keys_path {
            if path.exists() {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                for key in TrustedKeys::parse_lines(&text)
                    .with_context(|| format!("invalid retired key in {}", path.display()))?
                {
                    trusted.insert(key);
                }
            }
        }
        let Some(log_key_path) = &options.log_key_path else {
            bail!(
                "audit.log_key_file is not set: the access log's checkpoint key must be configured, \
                 and kept outside the data directory (see docs/AUDIT.md, \"Where the keys live\")"
            );
        };
        if !log_key_path.exists() && !options.create_log_key {
            bail!(
                "the access log's checkpoint key {} does not exist. Restore it from where it is \
                 kept (it is deliberately not in backups of the data directory); a new key would \
                 start a history no witness can link to the old one (docs/AUDIT.md)",
                log_key_path.display()
            );
        }
        let log_signer = NoteSigner::load(
            log_key_path,
            &options.origin,
            note::TYPE_ED25519,
            options.create_log_key,
        )?;
        let key_log_signer = NoteSigner::load(
            log_key_path,
            &key_log_origin(&options.origin),
            note::TYPE_ED25519,
            false,
        )?;
        let db = store::connect_and_migrate(&options.database_url).await?;
        if options.check_witnesses {
            check_before_signing(&db, &options, &log_signer.verifier()).await?;
        }
        let shared = Arc::new(Shared {
            db,
            signer,
            trusted,
            clock: options.clock.clone(),
            checkpoint_every: options.checkpoint_every,
            checkpoint_interval_ms: i64::try_from(options.checkpoint_interval.as_millis())
                .unwrap_or(i64::MAX),
            retention_months: options.retention_months,
            maintenance: RwLock::new(()),
            log_signer,
            key_log_signer,
            origin: options.origin.clone(),
            witnesses: options.witnesses.clone(),
            min_cosignatures: options.min_cosignatures,
            cosign_wakeup: Notify::new(),
            cosigning: tokio::sync::Mutex::new(()),
            refusals: aggregate::Aggregator::new(options.metrics.clone()),
        });
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = Writer::load(shared.clone(), rx).await?;
        tokio::spawn(writer.run());
        let log = AuditLog { shared, tx };
        if options.check_witnesses {
            // Events a crash left unsigned are signed now, before any new one: under one
            // checkpoint, events then never span more than the checkpoint interval, which
            // `audit verify` checks.
            log.checkpoint(true).await?;
        }
        if let Some(reason) = &options.acknowledge_incident {
            // Recorded whether or not there was an incident this time: the operator's
            // statement is part of the history either way.
            log.record(Event {
                actor: Actor {
                    login: Some("server-operator".into()),
                    ..Actor::default()
                },
                action: "audit_incident_acknowledged",
                target: None,
                outcome: Outcome::Success,
                details: serde_json::json!({ "reason": reason }),
            })
            .await?;
        }
        if options.background {
            tokio::spawn(background(
                log.tx.downgrade(),
                log.shared.clone(),
                options.checkpoint_interval,
            ));
            if !log.shared.witnesses.is_empty() {
                tokio::spawn(cosigner(log.tx.downgrade(), log.shared.clone()));
            }
        }
        Ok(log)
    }

    /// Submits the latest checkpoint to every witness that has not cosigned it yet and
    /// stores their cosignatures. Answers the errors (one per witness that failed);
    /// witnesses that failed are retried at the next checkpoint.
    pub async fn cosign_now(&self) -> Vec<tree::SubmitError> {
        let _one_at_a_time = self.shared.cosigning.lock().await;
        let client = tree::http_client();
        let mut errors = Vec::new();
        for witness in &self.shared.witnesses {
            if let Err(err) = tree::submit(
                &self.shared.db,
                &client,
                witness,
                self.shared.clock.now_ms(),
            )
            .await
            {
                tracing::error!(error = %err, "a witness did not cosign the access log's checkpoint");
                errors.push(err);
            }
        }
        errors
    }

    /// The latest signed checkpoint with its stored cosignatures.
    pub async fn latest_head(&self) -> Result<Option<TreeHead>, AuditError> {
        tree::latest_head(&self.shared.db).await
    }

    /// The inclusion proof of event `seq` in the tree of `size` events.
    pub async fn inclusion_proof(
        &self,
        seq: u64,
        size: u64,
    ) -> Result<Option<InclusionProof>, AuditError> {
        tree::inclusion(&self.shared.db, seq, size).await
    }

    /// The consistency proof between two tree sizes.
    pub async fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Option<ConsistencyProof>, AuditError> {
        tree::consistency(&self.shared.db, old_size, new_size).await
    }

    /// The verifier key of the log's checkpoints (C2SP vkey).
    pub fn log_verifier_key(&self) -> String {
        self.shared.log_signer.verifier().to_string()
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.shared.origin
    }

    /// The key transparency log's origin (PROTOCOL.md §25).
    pub fn key_log_origin(&self) -> &str {
        self.shared.key_log_signer.name()
    }

    /// The verifier key of the key transparency log's checkpoints.
    pub fn key_log_verifier_key(&self) -> String {
        self.shared.key_log_signer.verifier().to_string()
    }

    /// The signed note of a key transparency log checkpoint `body`.
    pub fn sign_key_log(&self, body: &str) -> String {
        format!("{body}\n{}", self.shared.key_log_signer.sign(body))
    }

    /// Verification as `passerelle audit verify` does it on a log at rest: every event
    /// must be under a signed (and cosigned) checkpoint, and the log must agree with
    /// every checkpoint the witnesses hold and with `external` ones (an exported head).
    pub async fn verify_strict(
        &self,
        external: Vec<(String, String)>,
    ) -> Result<VerifyReport, AuditError> {
        let _guard = self.shared.maintenance.read().await;
        let head = self.head().await?;
        let mut report =
            verify::verify_chain(&self.shared.db, &self.shared.trusted, Some(head)).await?;
        report.public_key = self.public_key();
        report.key_id = self.key_id().to_owned();
        self.verify_tree(&mut report, external, true).await?;
        Ok(report)
    }

    async fn verify_tree(
        &self,
        report: &mut VerifyReport,
        mut external: Vec<(String, String)>,
        strict: bool,
    ) -> Result<(), AuditError> {
        if report.first_break.is_some() {
            return Ok(());
        }
        let client = tree::http_client();
        for witness in &self.shared.witnesses {
            match tree::witness_checkpoints(&client, witness, &self.shared.origin).await {
                Ok(notes) => external.extend(
                    notes
                        .into_iter()
                        .map(|n| (format!("witness {}", witness.verifier.name()), n)),
                ),
                Err(err) => report.tree.warnings.push(format!(
                    "witness {} unreachable ({err}): its record was not compared",
                    witness.verifier.name()
                )),
            }
        }
        let log_keys = [self.shared.log_signer.verifier()];
        let spec = tree::TreeCheck {
            origin: &self.shared.origin,
            log_keys: &log_keys,
            witnesses: &self.shared.witnesses,
            min_cosignatures: self.shared.min_cosignatures,
            checkpoint_every: self.shared.checkpoint_every,
            checkpoint_interval_ms: self.shared.checkpoint_interval_ms,
            external,
            strict,
        };
        let first = report
            .first_seq
            .unwrap_or_else(|| report.anchor.as_ref().map_or(1, |a| a.seq + 1));
        let last = report
            .last_seq
            .unwrap_or_else(|| report.anchor.as_ref().map_or(0, |a| a.seq));
        let problem = tree::check(&self.shared.db, &spec, first, last, &mut report.tree).await?;
        if let Some(problem) = problem {
            report.intact = false;
            report.first_break = Some(problem);
        }
        Ok(())
    }

    /// Appends an event once it is durable and returns its sequence number. Appends are
    /// serialised by a single writer, so concurrent callers still build one chain.
    pub async fn record(&self, event: Event) -> Result<u64, AuditError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Record { event, reply }).await?;
        answer.await.map_err(|_| AuditError::WriterStopped)?
    }

    /// Records a refusal that a client without an account can provoke at will: the first
    /// few of a minute (per source, action, reason and path) as events of their own, the
    /// others counted and written as one event with a count when the minute is over
    /// (docs/AUDIT.md, "Bounded logging"). Answers the sequence number when recorded now.
    pub async fn record_refusal(&self, event: Event) -> Result<Option<u64>, AuditError> {
        match self
            .shared
            .refusals
            .admit(event, self.shared.clock.now_ms())
        {
            aggregate::Decision::Record(event) => self.record(event).await.map(Some),
            aggregate::Decision::Counted => Ok(None),
        }
    }

    /// Writes the counts of refusals whose minute is over, or all of them (`all`). A count
    /// that cannot be written is kept for the next time: none is lost.
    pub async fn write_refusal_counts(&self, all: bool) -> Result<(), AuditError> {
        let summaries = self.shared.refusals.take(self.shared.clock.now_ms(), all);
        let mut failure = None;
        for summary in summaries {
            if failure.is_some() {
                self.shared.refusals.put_back(summary);
                continue;
            }
            match self.record(summary.event()).await {
                Ok(_) => self.shared.refusals.written(&summary),
                Err(err) => {
                    self.shared.refusals.put_back(summary);
                    failure = Some(err);
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// Refusals counted and not yet written.
    pub fn pending_refusals(&self) -> u64 {
        self.shared.refusals.pending()
    }

    async fn send(&self, command: Command) -> Result<(), AuditError> {
        self.tx
            .send(command)
            .await
            .map_err(|_| AuditError::WriterStopped)
    }

    async fn head(&self) -> Result<Head, AuditError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Head { reply }).await?;
        answer.await.map_err(|_| AuditError::WriterStopped)
    }

    /// Verifies the chain from the anchor (or genesis) to its end, every checkpoint and
    /// anchor signature against the trusted keys, and that the last event this process
    /// saw is still there, unchanged.
    pub async fn verify(&self) -> Result<VerifyReport, AuditError> {
        self.verify_with_keys(&self.shared.trusted).await
    }

    /// Like [`AuditLog::verify`], trusting only `keys` (e.g. the key an auditor was given).
    pub async fn verify_with_keys(&self, keys: &TrustedKeys) -> Result<VerifyReport, AuditError> {
        let _guard = self.shared.maintenance.read().await;
        self.verify_locked(keys).await
    }

    async fn verify_locked(&self, keys: &TrustedKeys) -> Result<VerifyReport, AuditError> {
        let head = self.head().await?;
        let mut report = verify::verify_chain(&self.shared.db, keys, Some(head)).await?;
        report.public_key = self.public_key();
        report.key_id = self.key_id().to_owned();
        self.verify_tree(&mut report, Vec::new(), false).await?;
        Ok(report)
    }

    /// The public key auditors check signatures with: uncompressed SEC1, base64url.
    pub fn public_key(&self) -> String {
        signing::encode_public_key(self.shared.signer.public_key())
    }

    /// The current key's id (first 8 bytes of the SHA-256 of the public key, in hex).
    pub fn key_id(&self) -> &str {
        self.shared.signer.key_id()
    }

    /// The keys verification trusts: the current one and the retired ones.
    pub fn trusted_keys(&self) -> &TrustedKeys {
        &self.shared.trusted
    }

    /// The retention period in months.
    pub fn retention_months(&self) -> u32 {
        self.shared.retention_months
    }

    /// Signs a checkpoint of the head now if there are events since the last one, and
    /// has the witnesses cosign it before answering (their failures are logged).
    pub async fn checkpoint_now(&self) -> Result<Option<Checkpoint>, AuditError> {
        // Counted refusals are part of what the checkpoint covers (at shutdown, too).
        self.write_refusal_counts(true).await?;
        let checkpoint = self.checkpoint(true).await?;
        self.cosign_now().await;
        Ok(checkpoint)
    }

    /// The time-based duty: signs a checkpoint if the interval has passed (by the
    /// injected clock) and there are new events. The background task calls it; tests call
    /// it after moving their clock.
    pub async fn tick(&self) -> Result<Option<Checkpoint>, AuditError> {
        self.checkpoint(false).await
    }

    async fn checkpoint(&self, force: bool) -> Result<Option<Checkpoint>, AuditError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Checkpoint { force, reply }).await?;
        answer.await.map_err(|_| AuditError::WriterStopped)?
    }

    /// Removes the events recorded before `now_ms` minus the retention period. First the
    /// whole log is verified (a purge must never launder tampering: it is refused with
    /// [`AuditError::Tampered`]), then a signed anchor for the last removed event is stored
    /// in the same transaction as the removal, and the purge is itself recorded.
    pub async fn purge_expired(&self, now_ms: i64) -> Result<PurgeReport, AuditError> {
        let cutoff_ms = months_before(now_ms, self.shared.retention_months);
        let _guard = self.shared.maintenance.write().await;
        let db = &self.shared.db;
        let head = self.head().await?;
        let start = store::latest_anchor(db)
            .await?
            .map_or(0, |a| store::from_db(a.seq));
        // Times never decrease along the chain, so the expired events are a prefix.
        let up_to = match store::first_seq_at_or_after(db, cutoff_ms).await? {
            Some(first_kept) => store::from_db(first_kept).saturating_sub(1),
            None => head.seq,
        };
        let nothing = PurgeReport {
            purged: 0,
            cutoff_ms,
            anchor: None,
        };
        if up_to <= start {
            return Ok(nothing);
        }
        let report = self.verify_locked(&self.shared.trusted).await?;
        if let Some(problem) = report.first_break {
            tracing::error!(problem = %problem, "the access log is not intact: retention purge refused");
            return Err(AuditError::Tampered(problem));
        }
        let (reply, answer) = oneshot::channel();
        self.send(Command::Purge {
            up_to_seq: up_to,
            cutoff_ms,
            reply,
        })
        .await?;
        let anchor = match answer.await.map_err(|_| AuditError::WriterStopped)? {
            Ok(anchor) => anchor,
            // Another node purged the same events first.
            Err(AuditError::NothingToPurge) => return Ok(nothing),
            Err(err) => return Err(err),
        };
        tracing::info!(up_to_seq = up_to, "access log retention purge done");
        Ok(PurgeReport {
            purged: up_to - start,
            cutoff_ms,
            anchor: Some(anchor),
        })
    }

    /// One page of the events matching `filter` after `after_seq` (0 for the start),
    /// at most `limit` (capped at [`MAX_PAGE`]), in sequence order.
    pub async fn query(
        &self,
        filter: &EventFilter,
        after_seq: u64,
        limit: u64,
    ) -> Result<EventPage, AuditError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let rows = store::filtered_page(&self.shared.db, filter, after_seq, limit).await?;
        let full = u64::try_from(rows.len()).unwrap_or(u64::MAX) == limit;
        let events: Vec<StoredEvent> = rows.into_iter().map(StoredEvent::from).collect();
        let next_after_seq = if full {
            events.last().map(|e| e.seq)
        } else {
            None
        };
        Ok(EventPage {
            events,
            next_after_seq,
        })
    }

    /// One page of the events matching `filter` before `before_seq` (from the newest
    /// when `None`), at most `limit` (capped at [`MAX_PAGE`]), newest first; the page's
    /// `next_after_seq` is then the `before_seq` of the next (older) page.
    pub async fn query_newest(
        &self,
        filter: &EventFilter,
        before_seq: Option<u64>,
        limit: u64,
    ) -> Result<EventPage, AuditError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let rows = store::filtered_page_desc(&self.shared.db, filter, before_seq, limit).await?;
        let full = u64::try_from(rows.len()).unwrap_or(u64::MAX) == limit;
        let events: Vec<StoredEvent> = rows.into_iter().map(StoredEvent::from).collect();
        let next_after_seq = if full {
            events.last().map(|e| e.seq)
        } else {
            None
        };
        Ok(EventPage {
            events,
            next_after_seq,
        })
    }

    /// Events matching `filter` per UTC day: the latest `max_days` days that have any,
    /// oldest first, as (`YYYY-MM-DD`, count).
    pub async fn daily_counts(
        &self,
        filter: &EventFilter,
        max_days: u64,
    ) -> Result<Vec<(String, u64)>, AuditError> {
        let days = store::daily_counts(&self.shared.db, filter, max_days).await?;
        Ok(days
            .into_iter()
            .map(|(day, count)| {
                let date = query::format_time(day * store::DAY_MS);
                (
                    date.get(..10).unwrap_or_default().to_owned(),
                    u64::try_from(count).unwrap_or_default(),
                )
            })
            .collect())
    }

    /// How many events match `filter`.
    pub async fn count(&self, filter: &EventFilter) -> Result<u64, AuditError> {
        Ok(store::count(&self.shared.db, filter).await?)
    }

    /// The events matching `filter` as a stream of CSV or JSON chunks, read one page at a
    /// time so that memory stays flat for any range.
    pub fn export(
        &self,
        filter: EventFilter,
        format: ExportFormat,
    ) -> impl Stream<Item = Result<Vec<u8>, AuditError>> + Send + 'static {
        query::export_stream(self.shared.db.clone(), filter, format)
    }

    /// Checkpoints after `after_seq`, in order, at most `limit` (capped at [`MAX_PAGE`]).
    pub async fn checkpoints(
        &self,
        after_seq: u64,
        limit: u64,
    ) -> Result<Vec<Checkpoint>, AuditError> {
        let rows = store::checkpoints_after(
            &self.shared.db,
            store::to_db(after_seq),
            limit.clamp(1, MAX_PAGE),
        )
        .await?;
        Ok(rows.into_iter().map(Checkpoint::from).collect())
    }

    /// The anchor the chain starts from, if the log was ever purged.
    pub async fn anchor(&self) -> Result<Option<Anchor>, AuditError> {
        Ok(store::latest_anchor(&self.shared.db)
            .await?
            .map(Anchor::from))
    }
}

/// Background duties, holding only a weak sender so that they stop with the log: a
/// checkpoint when the interval has passed, and the retention purge once a day.
async fn background(tx: mpsc::WeakSender<Command>, shared: Arc<Shared>, interval: Duration) {
    // Check a few times per interval so that a checkpoint is never much later than due,
    // and often enough that a minute's refusal counts are written soon after it ends.
    let period = (interval / 4).clamp(Duration::from_secs(1), Duration::from_secs(15));
    let purge_every = Duration::from_secs(24 * 3600);
    let mut last_purge: Option<tokio::time::Instant> = None;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(tx) = tx.upgrade() else { return };
        let log = AuditLog {
            shared: shared.clone(),
            tx,
        };
        if let Err(err) = log.write_refusal_counts(false).await {
            tracing::error!(error = %err, "could not write the counts of refusals to the access log");
        }
        if let Err(err) = log.tick().await {
            tracing::error!(error = %err, "could not sign an access log checkpoint");
        }
        if last_purge.is_none_or(|at| at.elapsed() >= purge_every) {
            last_purge = Some(tokio::time::Instant::now());
            let now = log.shared.clock.now_ms();
            match log.purge_expired(now).await {
                Ok(report) if report.purged > 0 => {
                    tracing::info!(
                        purged = report.purged,
                        "access log events past retention removed"
                    );
                }
                Ok(_) => {}
                Err(err) => tracing::error!(error = %err, "access log retention purge failed"),
            }
        }
    }
}

/// Submits each new checkpoint to the witnesses, woken by the writer (and once a minute,
/// to retry witnesses that were unreachable). Holds only a weak sender, like
/// [`background`].
async fn cosigner(tx: mpsc::WeakSender<Command>, shared: Arc<Shared>) {
    loop {
        let _ =
            tokio::time::timeout(Duration::from_secs(60), shared.cosign_wakeup.notified()).await;
        let Some(tx) = tx.upgrade() else { return };
        let log = AuditLog {
            shared: shared.clone(),
            tx,
        };
        log.cosign_now().await;
    }
}

/// What the server checks before it signs anything (docs/AUDIT.md, "Start-up check"):
/// that the log is consistent with what its witnesses cosigned, and that every event since
/// the retention anchor hashes, links and is the Merkle leaf at its place. On a mismatch it refuses to open, unless the
/// operator acknowledged the incident (recorded once the log is open).
async fn check_before_signing(
    db: &DatabaseConnection,
    options: &AuditOptions,
    log_key: &NoteVerifier,
) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    if !options.witnesses.is_empty() {
        match tree::check_against_witnesses(db, &options.origin, log_key, &options.witnesses).await
        {
            Ok((incidents, warnings)) => {
                for warning in &warnings {
                    tracing::warn!(warning = %warning, "could not compare the access log with a witness");
                }
                for incident in &incidents {
                    tracing::error!(
                        witness = %incident.witness,
                        witness_size = incident.witness_size,
                        log_size = incident.log_size,
                        detail = %incident.detail,
                        "the access log is not consistent with what a witness cosigned"
                    );
                    problems.push(format!("witness {}: {}", incident.witness, incident.detail));
                }
            }
            // Only tampering produces a malformed log: an incident like the others.
            Err(AuditError::Malformed(detail)) => problems.push(detail),
            Err(other) => return Err(other.into()),
        }
    }
    // Every event, not only those after the last cosigned head: the witnesses vouch for the
    // Merkle leaves, and an event edited under its intact leaf is found only by hashing it
    // again. One pass over the log (seconds for millions of events) before anything is signed.
    if let Some(problem) = verify::check_tail(db, 0).await? {
        tracing::error!(
            seq = problem.seq,
            kind = problem.kind.as_str(),
            detail = %problem.detail,
            "the access log's events do not verify"
        );
        problems.push(format!(
            "{} at seq {}: {}",
            problem.kind.as_str(),
            problem.seq,
            problem.detail
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    if options.acknowledge_incident.is_some() {
        tracing::error!("incident acknowledged by the operator: serving anyway, the acknowledgement is recorded in the log");
        return Ok(());
    }
    bail!(
        "the access log is not consistent with what its witnesses cosigned or its key signed — it was \
         tampered with or restored from an old copy:\n  {}\nRefusing to sign anything over it. Run `passerelle audit verify` \
         to locate the damage, tell the DPO, and follow docs/OPERATIONS.md (\"Access log incident\"). \
         To serve anyway, set audit.acknowledge_incident to a written reason (it is recorded in the log).",
        problems.join("\n  ")
    )
}

/// `now_ms` moved back by `months` calendar months (the day clamped to the month's end).
pub fn months_before(now_ms: i64, months: u32) -> i64 {
    let Ok(now) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
    else {
        return now_ms;
    };
    let total =
        i64::from(now.year()) * 12 + i64::from(u8::from(now.month())) - 1 - i64::from(months);
    let year = total.div_euclid(12);
    let month = total.rem_euclid(12) + 1;
    let (Ok(year), Ok(month)) = (i32::try_from(year), u8::try_from(month)) else {
        return now_ms;
    };
    let Ok(month) = time::Month::try_from(month) else {
        return now_ms;
    };
    let day = now.day().min(month.length(year));
    match time::Date::from_calendar_date(year, month, day) {
        Ok(date) => {
            let then = now.replace_date(date);
            i64::try_from(then.unix_timestamp_nanos() / 1_000_000).unwrap_or(now_ms)
        }
        Err(_) => now_ms,
    }
}

/// Opens the access log of a server configuration (called by `AppState::build`).
/// The counts of refusals are exposed through `metrics`.
pub async fn open_for(
    config: &Config,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
) -> anyhow::Result<AuditLog> {
    let mut options = AuditOptions::from_config(config, clock);
    options.metrics = metrics;
    AuditLog::open(options).await
}

/// `passerelle audit verify`: verifies the log, prints a report for people, and returns
/// whether it is intact (the caller exits non-zero otherwise). Never creates a signing
/// key: a missing key is an error, not a fresh start.
pub async fn verify_command(
    options: impl Into<AuditOptions>,
    against: Option<&Path>,
) -> anyhow::Result<bool> {
    let mut options = options.into();
    options.background = false;
    options.check_witnesses = false;
    options.acknowledge_incident = None;
    let mut external = Vec::new();
    if let Some(path) = against {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        external.push((format!("the exported head {}", path.display()), text));
    }
    if !options.signing_key_path.exists() {
        bail!(
            "the access log signing key {} does not exist",
            options.signing_key_path.display()
        );
    }
    let log = AuditLog::open(options).await?;
    let report = log
        .verify_strict(external)
        .await
        .context("could not read the access log")?;
    print!("{report}");
    if let Some(problem) = &report.first_break {
        eprintln!("first broken sequence number: {}", problem.seq);
    }
    Ok(report.intact)
}

/// `passerelle audit head`: the latest signed checkpoint with its cosignatures, as text.
pub async fn head_command(options: impl Into<AuditOptions>) -> anyhow::Result<String> {
    let mut options = options.into();
    options.background = false;
    options.check_witnesses = false;
    options.acknowledge_incident = None;
    let log = AuditLog::open(options).await?;
    match log.latest_head().await? {
        Some(head) => Ok(head.note),
        None => bail!("the access log has no signed checkpoint yet"),
    }
}
