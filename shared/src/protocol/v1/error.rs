//! The error body every endpoint answers with: `{"error": {"code", "message"}}`.
//!
//! `code` is stable snake_case for programs; `message` is French, for people; `about`, when
//! present, names the account a refusal is about.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The JSON body of every error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error itself.
    pub error: ErrorDetail,
}

/// A stable code and a French message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code, e.g. `invalid_credentials`.
    pub code: String,
    /// Human-readable French message.
    pub message: String,
    /// The account the refusal is about, when a request names several people and one of
    /// them cannot be accepted (a member who may not join the channel): a form shows the
    /// error beside that person, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
}
