//! Provisional passwords (CHARTER.md C15): a password an administrator generated (a new
//! account, a reset) is known to two people until its owner replaces it. Until then the
//! account may do nothing but change it.

use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0008_provisional_passwords"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Existing accounts chose their passwords already (or were given them before this
        // rule): false.
        m.alter_table(
            Table::alter()
                .table(Alias::new("users"))
                .add_column(
                    ColumnDef::new(Alias::new("password_change_required"))
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("users"))
                .drop_column(Alias::new("password_change_required"))
                .to_owned(),
        )
        .await
    }
}
