//! `membership_events`: one row per change of a channel's membership, in the channel's
//! order (see `passerelle_migrations` m0020 and docs/PROTOCOL.md §21).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "membership_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub channel_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub after_seq: i64,
    pub change: String,
    pub member_id: String,
    pub actor_id: Option<String>,
    pub reason: Option<String>,
    pub role: Option<String>,
    pub device_id: Option<String>,
    pub at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
