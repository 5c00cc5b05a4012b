//! The annual report that stays true (CHARTER.md C14): counts taken at the events
//! themselves, in a table the access-log purge and the destruction of cases never touch,
//! and the frozen report of every closed year.

use sea_orm_migration::prelude::*;

use crate::columns::{big, id, text};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0010_report_counts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("report_counters"))
                .col(ColumnDef::new(Alias::new("year")).integer().not_null())
                .col(id("indicator"))
                .col(big("count"))
                .primary_key(
                    Index::create()
                        .col(Alias::new("year"))
                        .col(Alias::new("indicator")),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("annual_reports"))
                .col(
                    ColumnDef::new(Alias::new("year"))
                        .integer()
                        .not_null()
                        .primary_key(),
                )
                .col(text("body"))
                .col(ColumnDef::new(Alias::new("frozen")).boolean().not_null())
                .col(big("updated_at"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Alias::new("annual_reports")).to_owned())
            .await?;
        m.drop_table(
            Table::drop()
                .table(Alias::new("report_counters"))
                .to_owned(),
        )
        .await
    }
}
