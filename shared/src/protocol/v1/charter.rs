//! The information-sharing charter and the working groups' internal rules (CHARTER.md
//! C2, docs/ARCHITECTURE.md).
//!
//! The admin publishes charter versions; each working group's coordinator publishes the
//! group's internal rules (règlement intérieur). Until a user has accepted the current
//! version of both, the server refuses to let them read or write the group's channels,
//! with the codes `charter_not_accepted` / `rules_not_accepted` (or
//! `charter_not_published` / `rules_not_published` while there is no version yet).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::{ChannelId, UserId};

/// Largest charter or rules text, in bytes of Markdown.
pub const MAX_TEXT_BYTES: usize = 100 * 1024;

/// `POST /api/v1/admin/charters`, `POST /api/v1/channels/{id}/rules`: a new version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublishText {
    /// The text, in French, as Markdown (at most [`MAX_TEXT_BYTES`]).
    pub text: String,
}

/// `POST /api/v1/charter/accept`, `POST /api/v1/channels/{id}/rules/accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Accept {
    /// The version read and accepted: it must be the current one.
    pub version: u64,
}

/// One version of the charter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CharterVersion {
    /// 1, 2, 3, …
    pub version: u64,
    /// Markdown, in French.
    pub text: String,
    /// Published at (unix ms).
    pub published_at: i64,
}

/// Internal rules that still need the caller's acceptance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PendingRules {
    /// The working group (or the channel) whose rules they are.
    pub channel_id: ChannelId,
    /// The version to accept; absent while its coordinator has published none.
    pub version: Option<u64>,
}

/// `GET /api/v1/charter`: the current charter and where the caller stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CharterStatus {
    /// The version in force; absent until the admin publishes one (confidential channels
    /// stay closed until then).
    pub current: Option<CharterVersion>,
    /// The latest version the caller accepted.
    pub accepted_version: Option<u64>,
    /// When they accepted it (unix ms).
    pub accepted_at: Option<i64>,
    /// The caller's channels whose internal rules they must still accept.
    pub pending_rules: Vec<PendingRules>,
}

/// One version of a working group's internal rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RulesVersion {
    /// The working group (or the channel) the rules belong to.
    pub channel_id: ChannelId,
    /// 1, 2, 3, …
    pub version: u64,
    /// Markdown, in French.
    pub text: String,
    /// Published by (account id of the coordinator).
    pub published_by: UserId,
    /// Published at (unix ms).
    pub published_at: i64,
}

/// `GET /api/v1/channels/{id}/rules`: the rules in force for a channel and where the
/// caller stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RulesStatus {
    /// The channel asked about.
    pub channel_id: ChannelId,
    /// Whether internal rules apply (not for direct conversations).
    pub required: bool,
    /// The channel whose rules apply: itself, or the working group of a case or session.
    pub owner_channel_id: Option<ChannelId>,
    /// The version in force; absent until the coordinator publishes one.
    pub current: Option<RulesVersion>,
    /// The latest version the caller accepted.
    pub accepted_version: Option<u64>,
    /// When they accepted it (unix ms).
    pub accepted_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_charter_status_round_trips() {
        let status = CharterStatus {
            current: Some(CharterVersion {
                version: 2,
                text: "# Charte".into(),
                published_at: 10,
            }),
            accepted_version: Some(1),
            accepted_at: Some(5),
            pending_rules: vec![PendingRules {
                channel_id: "g".into(),
                version: None,
            }],
        };
        let json = serde_json::to_string(&status).unwrap_or_default();
        assert_eq!(
            serde_json::from_str::<CharterStatus>(&json).ok(),
            Some(status)
        );
    }
}
