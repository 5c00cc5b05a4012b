//! Offline notices: the account's e-mail address and whether the server may tell them by
//! e-mail that new messages wait (never what they say).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /api/v1/me/notices`: what the account page shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NoticeSettings {
    /// The server sends offline notices at all (its administrator turned them on).
    pub available: bool,
    /// The address notices go to, set by an administrator; none: no notice is sent.
    pub email: Option<String>,
    /// The person accepts notices (they may turn them off).
    pub enabled: bool,
}

/// `PUT /api/v1/me/notices`: turn one's own notices on or off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNoticeSettings {
    /// Accept notices.
    pub enabled: bool,
}

/// `PUT /api/v1/admin/users/{id}/email`: set or remove an account's e-mail address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetEmail {
    /// The address; `null` removes it.
    pub email: Option<String>,
}
