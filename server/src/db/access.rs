//! The access feed (`access_changes`): exclusions and closed gates, in commit order.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};

use super::entities::access_change;

/// Makes the feed's ids increase in commit order for the rest of the transaction, so that
/// a node that has read up to id N never misses a row below N committed later.
/// PostgreSQL allocates ids at insert time, not at commit: the table lock serialises the
/// (rare) transactions that write the feed. SQLite has one writer at a time already.
pub(crate) async fn lock_for_append(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute(Statement::from_string(
            DbBackend::Postgres,
            "LOCK TABLE access_changes IN EXCLUSIVE MODE",
        ))
        .await?;
    }
    Ok(())
}

/// Appends a change; returns its id. Call [`lock_for_append`] first in the transaction.
pub(crate) async fn append(
    db: &impl ConnectionTrait,
    scope: &str,
    reason: &str,
    user_id: &str,
    target: Option<String>,
    now_ms: i64,
) -> Result<i64, DbErr> {
    let model = access_change::ActiveModel {
        scope: Set(scope.to_owned()),
        reason: Set(reason.to_owned()),
        user_id: Set(user_id.to_owned()),
        target: Set(target),
        created_at: Set(now_ms),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(model.id)
}

/// The changes after `position`, oldest first.
pub(crate) async fn after(
    db: &impl ConnectionTrait,
    position: i64,
    limit: u64,
) -> Result<Vec<access_change::Model>, DbErr> {
    access_change::Entity::find()
        .filter(access_change::Column::Id.gt(position))
        .order_by_asc(access_change::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// The id of the last change, 0 for an empty feed.
pub(crate) async fn last_id(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    Ok(access_change::Entity::find()
        .order_by_desc(access_change::Column::Id)
        .one(db)
        .await?
        .map_or(0, |row| row.id))
}

/// Forgets changes older than `before_ms`: a node that was down that long starts from
/// the feed's end, with no connection to cut.
pub(crate) async fn delete_before(db: &impl ConnectionTrait, before_ms: i64) -> Result<u64, DbErr> {
    let result = access_change::Entity::delete_many()
        .filter(access_change::Column::CreatedAt.lt(before_ms))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
