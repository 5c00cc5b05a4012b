//! Prometheus metrics, served at `/metrics` to loopback clients only.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The server's counters. Cloning a metric shares it, so handlers increment the same one.
pub struct Metrics {
    registry: Registry,
    /// HTTP requests answered.
    pub http_requests: Counter,
    /// HTTP requests answered with a 5xx status.
    pub http_errors: Counter,
    /// Successful logins.
    pub logins_succeeded: Counter,
    /// Failed login attempts (password or TOTP).
    pub logins_failed: Counter,
    /// Requests refused by authentication or policy.
    pub denials: Counter,
    /// Open WebSocket connections.
    pub ws_connections: Gauge,
    /// 1 while this node is subscribed to the cluster bus (always 0 on a single node).
    pub bus_connected: Gauge,
    /// Failed attempts to publish on the cluster bus.
    pub bus_publish_errors: Counter,
    /// Events of other nodes applied from the cluster bus.
    pub bus_events_applied: Counter,
    /// Events received on the bus and refused (forged, stale, replayed, malformed).
    pub bus_events_refused: Counter,
    /// Notifications of other nodes this node never received (gaps in their counters).
    pub bus_events_missed: Counter,
    /// Notifications this node could not publish (outbox full, or Redis down too long).
    pub bus_events_unpublished: Counter,
    /// Access changes (exclusions) applied from the database feed, not from the bus.
    pub access_feed_applied: Counter,
    /// Access changes committed but not yet applied by this node.
    pub access_feed_lag: Gauge,
    /// 1 while this node can read the access feed; 0 means it closes connections.
    pub access_feed_ready: Gauge,
    /// Anonymous refusals counted into a per-minute count event instead of an event of
    /// their own (docs/AUDIT.md, "Bounded logging").
    pub audit_refusals_counted: Counter,
    /// Counted refusals whose count event is not written yet (their minute is not over).
    pub audit_refusals_pending: Gauge,
    /// Count events written.
    pub audit_refusal_count_events: Counter,
    /// Refusals whose source was merged with others because too many sources refused at
    /// once (a distributed flood).
    pub audit_refusal_sources_merged: Counter,
    /// Offline notices handed to the SMTP relay.
    pub notices_sent: Counter,
    /// Offline notices the SMTP relay refused or could not be reached for (retried).
    pub notices_failed: Counter,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("passerelle");
        let metrics = Metrics {
            http_requests: Counter::default(),
            http_errors: Counter::default(),
            logins_succeeded: Counter::default(),
            logins_failed: Counter::default(),
            denials: Counter::default(),
            ws_connections: Gauge::default(),
            bus_connected: Gauge::default(),
            bus_publish_errors: Counter::default(),
            bus_events_applied: Counter::default(),
            bus_events_refused: Counter::default(),
            bus_events_missed: Counter::default(),
            bus_events_unpublished: Counter::default(),
            access_feed_applied: Counter::default(),
            access_feed_lag: Gauge::default(),
            access_feed_ready: Gauge::default(),
            audit_refusals_counted: Counter::default(),
            audit_refusals_pending: Gauge::default(),
            audit_refusal_count_events: Counter::default(),
            audit_refusal_sources_merged: Counter::default(),
            notices_sent: Counter::default(),
            notices_failed: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests answered",
            metrics.http_requests.clone(),
        );
        registry.register(
            "http_errors",
            "HTTP requests answered with a 5xx status",
            metrics.http_errors.clone(),
        );
        registry.register(
            "logins_succeeded",
            "Successful logins",
            metrics.logins_succeeded.clone(),
        );
        registry.register(
            "logins_failed",
            "Failed login attempts",
            metrics.logins_failed.clone(),
        );
        registry.register(
            "denials",
            "Requests refused by authentication or policy",
            metrics.denials.clone(),
        );
        registry.register(
            "ws_connections",
            "Open WebSocket connections",
            metrics.ws_connections.clone(),
        );
        registry.register(
            "bus_connected",
            "1 while subscribed to the cluster bus",
            metrics.bus_connected.clone(),
        );
        registry.register(
            "bus_publish_errors",
            "Failed attempts to publish on the cluster bus",
            metrics.bus_publish_errors.clone(),
        );
        registry.register(
            "bus_events_applied",
            "Events of other nodes applied from the cluster bus",
            metrics.bus_events_applied.clone(),
        );
        registry.register(
            "bus_events_refused",
            "Bus events refused (forged, stale, replayed or malformed)",
            metrics.bus_events_refused.clone(),
        );
        registry.register(
            "bus_events_missed",
            "Notifications of other nodes never received",
            metrics.bus_events_missed.clone(),
        );
        registry.register(
            "bus_events_unpublished",
            "Notifications this node could not publish",
            metrics.bus_events_unpublished.clone(),
        );
        registry.register(
            "access_feed_applied",
            "Access changes applied from the database feed rather than the bus",
            metrics.access_feed_applied.clone(),
        );
        registry.register(
            "access_feed_lag",
            "Access changes committed but not yet applied by this node",
            metrics.access_feed_lag.clone(),
        );
        registry.register(
            "access_feed_ready",
            "1 while this node can read the access feed",
            metrics.access_feed_ready.clone(),
        );
        registry.register(
            "audit_refusals_counted",
            "Anonymous refusals counted into a per-minute access-log count event",
            metrics.audit_refusals_counted.clone(),
        );
        registry.register(
            "audit_refusals_pending",
            "Counted refusals whose access-log count event is not written yet",
            metrics.audit_refusals_pending.clone(),
        );
        registry.register(
            "audit_refusal_count_events",
            "Access-log count events written for counted refusals",
            metrics.audit_refusal_count_events.clone(),
        );
        registry.register(
            "audit_refusal_sources_merged",
            "Refusals whose source address was merged with others (too many sources at once)",
            metrics.audit_refusal_sources_merged.clone(),
        );
        registry.register(
            "notices_sent",
            "Offline notices handed to the SMTP relay",
            metrics.notices_sent.clone(),
        );
        registry.register(
            "notices_failed",
            "Offline notices that could not be sent (retried at a later pass)",
            metrics.notices_failed.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
