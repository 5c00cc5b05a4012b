//! `login_lockouts`: failed attempts and lock-outs per login key (see
//! `crate::auth::lockout` for the policy).

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use super::entities::login_lockout;

/// The row of a login key, if it ever failed.
pub(crate) async fn find(
    db: &impl ConnectionTrait,
    login_key: &str,
) -> Result<Option<login_lockout::Model>, DbErr> {
    login_lockout::Entity::find_by_id(login_key.to_owned())
        .one(db)
        .await
}

/// Counts one failure, in one statement per step so that concurrent failures cannot lose
/// a count: the row is created if needed, then incremented. A streak that has been quiet
/// since before `streak_start_ms` starts again from zero lock-outs. Answers the row after.
pub(crate) async fn add_failure(
    db: &impl ConnectionTrait,
    login_key: &str,
    streak_start_ms: i64,
    now_ms: i64,
) -> Result<Option<login_lockout::Model>, DbErr> {
    login_lockout::Entity::insert(login_lockout::ActiveModel {
        login_key: Set(login_key.to_owned()),
        failures: Set(0),
        lockouts: Set(0),
        locked_until: Set(None),
        updated_at: Set(now_ms),
    })
    .on_conflict(
        OnConflict::column(login_lockout::Column::LoginKey)
            .do_nothing()
            .to_owned(),
    )
    .do_nothing()
    .exec(db)
    .await?;
    login_lockout::Entity::update_many()
        .col_expr(login_lockout::Column::Lockouts, Expr::value(0))
        .filter(login_lockout::Column::LoginKey.eq(login_key))
        .filter(login_lockout::Column::UpdatedAt.lt(streak_start_ms))
        .exec(db)
        .await?;
    login_lockout::Entity::update_many()
        .col_expr(
            login_lockout::Column::Failures,
            Expr::col(login_lockout::Column::Failures).add(1),
        )
        .col_expr(login_lockout::Column::UpdatedAt, Expr::value(now_ms))
        .filter(login_lockout::Column::LoginKey.eq(login_key))
        .exec(db)
        .await?;
    find(db, login_key).await
}

/// Locks the key until `until` if it still has at least `threshold` failures (so that of
/// concurrent failures, exactly one locks it); its failures start again from zero and its
/// lock-outs in a row grow by one. Answers whether this call locked it.
pub(crate) async fn lock(
    db: &impl ConnectionTrait,
    login_key: &str,
    threshold: i64,
    until: i64,
) -> Result<bool, DbErr> {
    let result = login_lockout::Entity::update_many()
        .col_expr(login_lockout::Column::Failures, Expr::value(0))
        .col_expr(
            login_lockout::Column::Lockouts,
            Expr::col(login_lockout::Column::Lockouts).add(1),
        )
        .col_expr(login_lockout::Column::LockedUntil, Expr::value(until))
        .filter(login_lockout::Column::LoginKey.eq(login_key))
        .filter(login_lockout::Column::Failures.gte(threshold))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Forgets a key's failures and lock-outs (a successful login, an admin's unlock).
pub(crate) async fn clear(db: &impl ConnectionTrait, login_key: &str) -> Result<(), DbErr> {
    login_lockout::Entity::delete_by_id(login_key.to_owned())
        .exec(db)
        .await?;
    Ok(())
}
