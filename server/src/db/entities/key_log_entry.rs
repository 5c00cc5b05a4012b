//! `key_log`: the key transparency log's entries (docs/PROTOCOL.md §25).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "key_log")]
pub struct Model {
    /// Leaf index, from 0.
    #[sea_orm(primary_key, auto_increment = false)]
    pub idx: i64,
    pub user_id: String,
    pub kind: String,
    /// The `KeyLogEntry` as JSON.
    pub entry: String,
    pub at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
