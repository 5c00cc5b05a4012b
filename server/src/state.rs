//! The application state shared by every handler.

use std::sync::Arc;

use anyhow::Context;
use sea_orm::DatabaseConnection;
use serde_json::Value;

use crate::audit::{Actor, AuditLog, Event, Outcome};
use crate::bus::hub::Hub;
use crate::bus::Bus;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::ApiError;
use crate::feed::Follower;
use crate::messages::Writer;
use crate::metrics::Metrics;
use crate::secrets::ServerSecrets;
use crate::throttle::Throttle;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The configuration in force.
    pub config: Arc<Config>,
    /// The main database.
    pub db: DatabaseConnection,
    /// The access log.
    pub audit: Arc<AuditLog>,
    /// Keys derived from the server's secret.
    pub secrets: Arc<ServerSecrets>,
    /// Failed-login counters.
    pub throttle: Arc<Throttle>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// This node's WebSocket connections.
    pub hub: Arc<Hub>,
    /// Fan-out to every node's hub.
    pub bus: Arc<dyn Bus>,
    /// The group-committing message writer.
    pub messages: Writer,
    /// This node's reader of the access feed (exclusions, CHARTER.md C3).
    pub access: Arc<Follower>,
}

impl AppState {
    /// Opens the databases (running migrations), the keys and the access log.
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
        let db = crate::db::connect_and_migrate(&config.database_url()).await?;
        // The keys registered before the key transparency log, logged once (§25).
        crate::db::key_log::backfill(&db, clock.now_ms()).await?;
        let secrets = ServerSecrets::load_or_create(&config.secret_key_path())?;
        let metrics = Arc::new(Metrics::new());
        let audit = crate::audit::open_for(&config, clock.clone(), metrics.clone()).await?;
        let hub = Hub::new();
        // In-process, or Redis pub/sub between the nodes of a cluster (`redis_url`).
        let bus = crate::bus::start(&config, hub.clone(), metrics.clone()).await?;
        let messages = Writer::start(db.clone(), bus.clone(), clock.clone());
        let access = Follower::start(db.clone(), hub.clone(), metrics.clone()).await?;
        Ok(AppState {
            throttle: Arc::new(Throttle::for_config(&config)?),
            config: Arc::new(config),
            db,
            audit: Arc::new(audit),
            secrets: Arc::new(secrets),
            metrics,
            clock,
            hub,
            bus,
            messages,
            access,
        })
    }

    /// Now, from the injected clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Records an event; a failure to record fails the request, because an action the
    /// access log cannot show must not happen (CHARTER.md C12).
    pub async fn record(
        &self,
        actor: Actor,
        action: &'static str,
        target: Option<String>,
        outcome: Outcome,
        details: Value,
    ) -> Result<(), ApiError> {
        self.audit
            .record(Event {
                actor,
                action,
                target,
                outcome,
                details,
            })
            .await
            .map(|_| ())
            .map_err(ApiError::internal)
    }

    /// Records a refused request. The refusal stands whether or not it could be recorded;
    /// a recording failure is logged for the operator. A refusal of a client without an
    /// account (`actor.user_id` absent), which anyone can provoke at will, may be counted
    /// into a per-minute count event rather than be an event of its own
    /// (`AuditLog::record_refusal`): never dropped, but bounded.
    pub async fn record_denial(
        &self,
        actor: Actor,
        action: &'static str,
        target: Option<String>,
        details: Value,
    ) {
        self.metrics.denials.inc();
        let event = Event {
            actor,
            action,
            target,
            outcome: Outcome::Denied,
            details,
        };
        let recorded = if event.actor.user_id.is_none() {
            self.audit.record_refusal(event).await.map(|_| ())
        } else {
            self.audit.record(event).await.map(|_| ())
        };
        if let Err(err) = recorded {
            tracing::error!(error = %err, action, "could not record a denial in the access log");
        }
    }
}
