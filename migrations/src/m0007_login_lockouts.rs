//! Lock-outs after repeated failed logins, persisted, for known accounts and unknown
//! logins alike (issue 16): keyed by an HMAC of the login under the server's secret, so
//! that the table reveals neither which logins exist nor what strings were typed (a
//! mistyped password in the login field, say).

use sea_orm_migration::prelude::*;

use crate::columns::{big, big_null};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0007_login_lockouts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("login_lockouts"))
                .col(
                    ColumnDef::new(Alias::new("login_key"))
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(big("failures"))
                .col(big("lockouts"))
                .col(big_null("locked_until"))
                .col(big("updated_at"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Alias::new("login_lockouts")).to_owned())
            .await
    }
}
