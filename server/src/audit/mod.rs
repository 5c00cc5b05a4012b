//! The tamper-evident access log (CHARTER.md C12, DESIGN.md §7).
//!
//! Being written: this file fixes the interface the rest of the server records through.

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
