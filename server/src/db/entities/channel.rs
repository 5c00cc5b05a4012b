//! `channels`: channels with their sequence and epoch counters and their lifecycle.
//!
//! `status` is `active`, `archived` (a case whose follow-up ended), `destroying` (the
//! retention job started; nothing can read or write it any more) or `destroyed`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channels")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub kind: String,
    pub name: String,
    pub regime: String,
    pub status: String,
    pub created_by: String,
    pub created_at: i64,
    pub last_seq: i64,
    pub epoch: i64,
    pub epoch_started_at: i64,
    pub epoch_messages: i64,
    pub rotation_required: bool,
    /// The working group whose rules apply (cases and practice sessions).
    pub group_id: Option<String>,
    /// A practice session's start.
    pub starts_at: Option<i64>,
    /// A practice session's end.
    pub ends_at: Option<i64>,
    /// A case's end of follow-up.
    pub ended_at: Option<i64>,
    /// When the whole channel is destroyed.
    pub destroy_by: Option<i64>,
    /// When it was destroyed (the row stays as an empty tombstone for the annual counts).
    pub destroyed_at: Option<i64>,
    /// The sealed title (an envelope's JSON, docs/PROTOCOL.md §24), opaque here.
    pub title: Option<String>,
    /// Who sealed it (account id).
    pub title_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
