//! Institution types (CHARTER.md C5): an institution's type bounds the attributes its
//! people may hold. Institutions created before types existed become `autre`, which admits
//! no new protected attribute until an admin gives them their type (docs/OPERATIONS.md).

use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0009_institution_kinds"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("institutions"))
                .add_column(
                    ColumnDef::new(Alias::new("kind"))
                        .string()
                        .not_null()
                        .default("autre"),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("institutions"))
                .drop_column(Alias::new("kind"))
                .to_owned(),
        )
        .await
    }
}
