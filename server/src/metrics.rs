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
