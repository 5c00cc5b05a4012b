//! `offline_notices`: per account, what the offline-notice job decides on — the opt-out,
//! when a connection was last seen open (on any node), when the last notice was sent.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "offline_notices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    pub opted_out: bool,
    pub last_online_at: Option<i64>,
    pub notified_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
