//! `users`: accounts. Secrets are stored only as an argon2id hash (password) and
//! AES-GCM ciphertext under the server's at-rest key (TOTP secret).

use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) id: String,
    pub(crate) login: String,
    pub(crate) display_name: String,
    pub(crate) institution_id: String,
    pub(crate) role: String,
    pub(crate) bound_by_professional_secrecy: bool,
    pub(crate) social_action_professional: bool,
    pub(crate) password_hash: String,
    pub(crate) totp_secret_enc: Option<String>,
    pub(crate) totp_pending_enc: Option<String>,
    pub(crate) totp_last_step: Option<i64>,
    pub(crate) failed_logins: i32,
    pub(crate) locked_at: Option<i64>,
    pub(crate) disabled: bool,
    pub(crate) created_at: i64,
}

/// Prints no hash and no secret, so that an account can be logged while debugging.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("login", &self.login)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
