//! Invitations by one-time link: an admin creates the account, then a link; the invited
//! person opens it, chooses their password, and enrols their second factor at the first
//! login. No provisional password is ever handed over.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v1/admin/users/{id}/invitation`: the link, shown once to the admin.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct InvitationLink {
    /// `https://…/invitation#<token>`: the token is in the fragment, which browsers never
    /// send to a server or a proxy's log.
    pub link: String,
    /// Until when it works (unix ms); it works once.
    pub expires_at: i64,
}

/// Hides the link, which opens the account until it is used.
impl std::fmt::Debug for InvitationLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvitationLink")
            .field("link", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// `POST /api/v1/invitations/accept`: the token of the link and the chosen password.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The token, from the link's fragment.
    pub token: String,
    /// The password the person chose (12 characters at least).
    pub new_password: String,
}

/// Prints neither secret.
impl std::fmt::Debug for AcceptInvitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AcceptInvitation { <redacted> }")
    }
}
