//! `users`: accounts. Secrets are stored only as an argon2id hash (password) and
//! AES-GCM ciphertext under the server's at-rest key (TOTP secret).

use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub login: String,
    pub display_name: String,
    pub institution_id: String,
    pub role: String,
    pub bound_by_professional_secrecy: bool,
    pub social_action_professional: bool,
    pub password_hash: String,
    pub totp_secret_enc: Option<String>,
    pub totp_pending_enc: Option<String>,
    pub totp_last_step: Option<i64>,
    pub failed_logins: i32,
    pub locked_at: Option<i64>,
    pub disabled: bool,
    pub created_at: i64,
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
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
