//! Withheld keys: the devices a sender left out of an epoch, and why (docs/PROTOCOL.md
//! §7.5), so that they can say why a message is unreadable.

use sea_orm_migration::prelude::*;

use crate::columns::{big, fk, id};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0005_withheld_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("withheld_keys"))
                .col(id("channel_id"))
                .col(big("epoch"))
                .col(id("device_id"))
                .col(id("reason"))
                .col(big("created_at"))
                .primary_key(
                    Index::create()
                        .col(Alias::new("channel_id"))
                        .col(Alias::new("epoch"))
                        .col(Alias::new("device_id")),
                )
                .foreign_key(&mut fk("withheld_keys", "channel_id", "channels"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Alias::new("withheld_keys")).to_owned())
            .await
    }
}
