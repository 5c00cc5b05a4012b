//! The admin API under `/api/v1/admin`: institutions and accounts.
//!
//! The admin manages who exists; they read no message (end-to-end encryption) and no
//! access log (that is the auditor's duty).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Attributes, InstitutionKind, Role};
use crate::ids::{InstitutionId, UserId};

/// An institution of the CLSPD.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Institution {
    /// Institution id.
    pub id: InstitutionId,
    /// Its name.
    pub name: String,
    /// What it is: bounds the attributes of its people (CHARTER.md C5).
    #[serde(default)]
    pub kind: InstitutionKind,
    /// Created at (unix ms).
    pub created_at: i64,
}

/// `POST /api/v1/admin/institutions`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateInstitution {
    /// Its name, unique.
    pub name: String,
    /// What it is, from the closed list: required, since it decides which legal regimes
    /// its people may join.
    pub kind: InstitutionKind,
}

/// `PATCH /api/v1/admin/institutions/{id}`: gives an institution its type (or corrects
/// it). Refused while one of its people holds an attribute the new type does not admit.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UpdateInstitution {
    /// The new type.
    pub kind: InstitutionKind,
}

/// An account as the admin sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Account {
    /// Account id.
    pub id: UserId,
    /// Login.
    pub login: String,
    /// Name shown to colleagues.
    pub display_name: String,
    /// Institution id.
    pub institution_id: InstitutionId,
    /// Role.
    pub role: Role,
    /// Attributes checked by legal regimes.
    pub attributes: Attributes,
    /// Whether logging in is disabled by an admin.
    pub disabled: bool,
    /// Whether the account is locked after repeated failures.
    pub locked: bool,
    /// Whether TOTP is enrolled.
    pub totp_enrolled: bool,
    /// Created at (unix ms).
    pub created_at: i64,
}

/// `POST /api/v1/admin/users`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateAccount {
    /// Login, normalised to lower case.
    pub login: String,
    /// Name shown to colleagues.
    pub display_name: String,
    /// Institution id.
    pub institution_id: InstitutionId,
    /// Role.
    pub role: Role,
    /// Attributes.
    #[serde(default)]
    pub attributes: Attributes,
}

/// An account was created or its password reset: the one-time password to hand over.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountWithPassword {
    /// The account.
    pub account: Account,
    /// A generated password, shown once; the server keeps only its argon2id hash.
    pub password: String,
}

impl std::fmt::Debug for AccountWithPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountWithPassword")
            .field("account", &self.account)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// `POST /api/v1/admin/users/import`: a list of people as CSV, the columns of
/// `passerelle admin import-users` (`login,name,institution,role,secrecy,social_action`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportAccounts {
    /// The file's text (UTF-8), header line first.
    pub csv: String,
}

/// The accounts an import created, each with its provisional password (shown once).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ImportedAccounts {
    /// In the file's order.
    pub accounts: Vec<AccountWithPassword>,
}

/// `PATCH /api/v1/admin/users/{id}`: change role or attributes.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct UpdateAccount {
    /// New role.
    pub role: Option<Role>,
    /// New attributes.
    pub attributes: Option<Attributes>,
    /// New display name.
    pub display_name: Option<String>,
}
