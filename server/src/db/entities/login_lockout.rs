//! `login_lockouts`: failed attempts and lock-outs per login, keyed by an HMAC of the
//! login (see `crate::auth::lockout`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_lockouts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub login_key: String,
    pub failures: i64,
    pub lockouts: i64,
    pub locked_until: Option<i64>,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
