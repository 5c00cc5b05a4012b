//! Sealed channel titles (docs/PROTOCOL.md §24, issue 19 item 1): a channel's title is
//! sealed by a member's device under the channel's epoch key; the server keeps the
//! envelope (JSON) and who sealed it, and shows the random reference in `name`. Existing
//! channels keep their clear `name` until a member's client seals it, which replaces the
//! name by a reference. A case's note (`cases.not_informed_note`) holds a sealed envelope
//! (JSON) from now on, in the same column.

use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0024_sealed_titles"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("channels"))
                .add_column(ColumnDef::new(Alias::new("title")).text().null())
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("channels"))
                .add_column(ColumnDef::new(Alias::new("title_by")).text().null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in ["title_by", "title"] {
            m.alter_table(
                Table::alter()
                    .table(Alias::new("channels"))
                    .drop_column(Alias::new(column))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
