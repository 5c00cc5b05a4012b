//! Link requests: a new device waiting for an existing device of its user to certify it
//! (docs/PROTOCOL.md §5.5.1). They hold public keys only.

use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0004_device_links"
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
                .table(Alias::new("device_links"))
                .col(string("id").primary_key())
                .col(string("user_id"))
                .col(string("device_id"))
                .col(ColumnDef::new(Alias::new("request")).text().not_null())
                .col(string("name"))
                .col(string("status"))
                .col(big("created_at"))
                .col(big("expires_at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_device_links_user_id")
                        .from(Alias::new("device_links"), Alias::new("user_id"))
                        .to(Alias::new("users"), Alias::new("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
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
