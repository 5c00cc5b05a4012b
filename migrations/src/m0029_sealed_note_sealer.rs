//! Who sealed a case's note again (docs/PROTOCOL.md §24, issue 19 item 2): a member's
//! client re-seals the note under a newer epoch so that members who joined since read it;
//! the re-sealing member's device signs it, so the server keeps who that was
//! (`cases.note_sealed_by`, empty while the note is the one the information's recorder
//! sealed). A field report's sealed place needs no column: its envelope (JSON) is kept in
//! `field_reports.place`, as the case's note is in `cases.not_informed_note`.

use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0029_sealed_note_sealer"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("cases"))
                .add_column(ColumnDef::new(Alias::new("note_sealed_by")).text().null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("cases"))
                .drop_column(Alias::new("note_sealed_by"))
                .to_owned(),
        )
        .await
    }
}
