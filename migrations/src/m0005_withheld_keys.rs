//! Withheld keys: the devices a sender left out of an epoch, and why (docs/PROTOCOL.md
//! §7.5), so that they can say why a message is unreadable.

use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0005_withheld_keys"
    }
}

fn string(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .string()
        .not_null()
        .to_owned()
}

fn big(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .big_integer()
        .not_null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("withheld_keys"))
                .col(string("channel_id"))
                .col(big("epoch"))
                .col(string("device_id"))
                .col(string("reason"))
                .col(big("created_at"))
                .primary_key(
                    Index::create()
                        .col(Alias::new("channel_id"))
                        .col(Alias::new("epoch"))
                        .col(Alias::new("device_id")),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_withheld_keys_channel_id")
                        .from(Alias::new("withheld_keys"), Alias::new("channel_id"))
                        .to(Alias::new("channels"), Alias::new("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Alias::new("withheld_keys")).to_owned())
            .await
    }
}
