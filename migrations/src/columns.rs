//! Column and key definitions the migrations share. They name columns by string and
//! depend on nothing of today's entities, so old migrations never change meaning.

use sea_orm_migration::prelude::*;

/// A non-null string column (ids, names, codes).
pub(crate) fn id(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .string()
        .not_null()
        .to_owned()
}

/// A non-null 64-bit integer column (times in unix ms, counters, sequence numbers).
pub(crate) fn big(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .big_integer()
        .not_null()
        .to_owned()
}

/// A nullable 64-bit integer column.
pub(crate) fn big_null(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .big_integer()
        .null()
        .to_owned()
}

/// A nullable string column.
pub(crate) fn string_null(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).string().null().to_owned()
}

/// A non-null text column (JSON, certificates, long texts).
pub(crate) fn text(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .text()
        .not_null()
        .to_owned()
}

/// `table.column` references `to.id`, deleted with it; named `fk_<table>_<column>`.
pub(crate) fn fk(table: &str, column: &str, to: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(Alias::new(table), Alias::new(column))
        .to(Alias::new(to), Alias::new("id"))
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}
