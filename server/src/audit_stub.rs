//! TEMPORARY in-memory stand-in while the real access log is written.
use std::net::IpAddr;

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

use std::sync::Arc;

/// Stand-in.
pub struct AuditLog {
    /// Recorded events.
    pub events: std::sync::Mutex<Vec<(u64, String, Option<String>, Outcome, serde_json::Value)>>,
}

impl AuditLog {
    /// Records.
    pub async fn record(&self, event: Event) -> Result<u64, std::io::Error> {
        let mut events = self
            .events
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?;
        let seq = events.len() as u64 + 1;
        events.push((
            seq,
            event.action.to_owned(),
            event.target,
            event.outcome,
            event.details,
        ));
        Ok(seq)
    }
}

/// Opens.
pub async fn open_for(
    _config: &crate::config::Config,
    _clock: Arc<dyn crate::clock::Clock>,
) -> anyhow::Result<AuditLog> {
    Ok(AuditLog {
        events: std::sync::Mutex::new(Vec::new()),
    })
}

/// Verifies.
pub async fn verify_command(_config: &crate::config::Config) -> anyhow::Result<bool> {
    Ok(true)
}
