//! Coordinators named per working group (CHARTER.md C1): members of the group who may do,
//! for the group and its cases and sessions, what a coordinator may.

use sea_orm_migration::prelude::*;

use crate::columns::{big, fk, id};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0019_group_coordinators"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("group_coordinators"))
                .col(id("group_id"))
                .col(id("user_id"))
                .col(id("named_by"))
                .col(big("named_at"))
                .primary_key(
                    Index::create()
                        .col(Alias::new("group_id"))
                        .col(Alias::new("user_id")),
                )
                .foreign_key(&mut fk("group_coordinators", "group_id", "channels"))
                .foreign_key(&mut fk("group_coordinators", "user_id", "users"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(Alias::new("group_coordinators"))
                .to_owned(),
        )
        .await
    }
}
