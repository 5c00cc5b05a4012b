//! WebAuthn (CHARTER.md C15): the passkeys and security keys of each account, and the
//! challenges of ceremonies in progress.
//!
//! Challenges live in the database rather than in a node's memory so that a ceremony begun
//! on one node of a cluster can finish on any other; each is used once and expires.

use sea_orm_migration::prelude::*;

use crate::columns::{big, big_null, fk, id, string_null, text};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0007_webauthn"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("webauthn_credentials"))
                // The credential id (base64url), unique across accounts.
                .col(id("id").primary_key())
                .col(id("user_id"))
                .col(id("name"))
                // The verified credential (public key, counter, flags) as webauthn-rs keeps it.
                .col(text("passkey"))
                .col(
                    ColumnDef::new(Alias::new("discoverable"))
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .col(id("aaguid"))
                .col(id("attestation_format"))
                .col(text("attestation"))
                .col(big("counter"))
                .col(big("created_at"))
                .col(big_null("last_used_at"))
                .foreign_key(&mut fk("webauthn_credentials", "user_id", "users"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_webauthn_credentials_user")
                .table(Alias::new("webauthn_credentials"))
                .col(Alias::new("user_id"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("webauthn_challenges"))
                .col(id("id").primary_key())
                // Absent for passwordless sign-in, where nobody is known yet.
                .col(string_null("user_id"))
                .col(id("purpose"))
                // The ceremony's server-side state (the challenge and what it allows).
                .col(text("state"))
                .col(big("expires_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_webauthn_challenges_expires")
                .table(Alias::new("webauthn_challenges"))
                .col(Alias::new("expires_at"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(Alias::new("webauthn_challenges"))
                .to_owned(),
        )
        .await?;
        m.drop_table(
            Table::drop()
                .table(Alias::new("webauthn_credentials"))
                .to_owned(),
        )
        .await
    }
}
