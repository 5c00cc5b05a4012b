//! Link requests: a new device waiting for an existing device of its user to certify it
//! (docs/PROTOCOL.md §5.5.1). They hold public keys only.

use sea_orm_migration::prelude::*;

use crate::columns::{big, fk, id, text};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0004_device_links"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("device_links"))
                .col(id("id").primary_key())
                .col(id("user_id"))
                .col(id("device_id"))
                .col(text("request"))
                .col(id("name"))
                .col(id("status"))
                .col(big("created_at"))
                .col(big("expires_at"))
                .foreign_key(&mut fk("device_links", "user_id", "users"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_device_links_user")
                .table(Alias::new("device_links"))
                .col(Alias::new("user_id"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Alias::new("device_links")).to_owned())
            .await
    }
}
