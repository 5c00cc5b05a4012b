//! The person's identity on a case (CHARTER.md C7): one sealed record per case, its key
//! wrapped for each device of the case's coordinators and referent only. The server keeps
//! ciphertext and wraps; it never reads the name.

use sea_orm_migration::prelude::*;

use crate::columns::{big, fk, id, text};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0018_case_identity"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("case_identities"))
                .col(id("channel_id").primary_key())
                // Grows by one at every re-encryption: a replayed or stale upload is
                // refused instead of rolling the record back.
                .col(big("version"))
                // The sealed envelope (JSON), opaque to the server.
                .col(text("envelope"))
                .col(id("sealed_by"))
                .col(big("sealed_at"))
                .foreign_key(&mut fk("case_identities", "channel_id", "channels"))
                .foreign_key(&mut fk("case_identities", "sealed_by", "users"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("case_identity_keys"))
                .col(id("channel_id"))
                .col(id("device_id"))
                .col(id("user_id"))
                // The record key wrapped for this device (JSON, signed by the sealer).
                .col(text("wrap"))
                .primary_key(
                    Index::create()
                        .col(Alias::new("channel_id"))
                        .col(Alias::new("device_id")),
                )
                .foreign_key(&mut fk("case_identity_keys", "channel_id", "channels"))
                .foreign_key(&mut fk("case_identity_keys", "device_id", "devices"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(Alias::new("case_identity_keys"))
                .to_owned(),
        )
        .await?;
        m.drop_table(
            Table::drop()
                .table(Alias::new("case_identities"))
                .to_owned(),
        )
        .await
    }
}
