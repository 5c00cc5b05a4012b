//! Sessions, looked up by the SHA-256 of their token.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

use super::entities::session;

/// Inserts a session.
pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    model: session::Model,
) -> Result<session::Model, DbErr> {
    session::ActiveModel::from(model).insert(db).await
}

/// The session whose token hashes to `token_hash`, revoked or not.
pub(crate) async fn find_by_token_hash(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<session::Model>, DbErr> {
    session::Entity::find()
        .filter(session::Column::TokenHash.eq(token_hash))
        .one(db)
        .await
}

/// Marks a session as used now.
pub(crate) async fn touch(db: &impl ConnectionTrait, id: &str, now_ms: i64) -> Result<(), DbErr> {
    session::Entity::update_many()
        .col_expr(session::Column::LastSeenAt, Expr::value(now_ms))
        .filter(session::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The live sessions of an account, newest first.
pub(crate) async fn list_for_user(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Vec<session::Model>, DbErr> {
    session::Entity::find()
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null())
        .order_by_desc(session::Column::CreatedAt)
        .all(db)
        .await
}

/// Revokes one session of an account; returns whether it existed and was live.
pub(crate) async fn revoke(
    db: &impl ConnectionTrait,
    user_id: &str,
    session_id: &str,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let result = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now_ms))
        .filter(session::Column::Id.eq(session_id))
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The session with this id.
pub(crate) async fn find(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<session::Model>, DbErr> {
    session::Entity::find_by_id(id.to_owned()).one(db).await
}

/// Binds a session to the device it works for, unless it is bound to one already (a
/// session works for one device: revoking the device ends it).
pub(crate) async fn bind_device(
    db: &impl ConnectionTrait,
    session_id: &str,
    device_id: &str,
) -> Result<(), DbErr> {
    session::Entity::update_many()
        .col_expr(session::Column::DeviceId, Expr::value(device_id))
        .filter(session::Column::Id.eq(session_id))
        .filter(session::Column::DeviceId.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Revokes the live sessions bound to a device; returns their ids.
pub(crate) async fn revoke_for_device(
    db: &impl ConnectionTrait,
    device_id: &str,
    now_ms: i64,
) -> Result<Vec<String>, DbErr> {
    let ids: Vec<String> = session::Entity::find()
        .filter(session::Column::DeviceId.eq(device_id))
        .filter(session::Column::RevokedAt.is_null())
        .all(db)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    if !ids.is_empty() {
        session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(now_ms))
            .filter(session::Column::Id.is_in(ids.clone()))
            .exec(db)
            .await?;
    }
    Ok(ids)
}

/// Revokes every session of an account (password reset, disabling); returns how many.
pub(crate) async fn revoke_all(
    db: &impl ConnectionTrait,
    user_id: &str,
    now_ms: i64,
) -> Result<u64, DbErr> {
    let result = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now_ms))
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Deletes sessions that ended before `before_ms` (retention of the session table).
pub(crate) async fn delete_ended(db: &impl ConnectionTrait, before_ms: i64) -> Result<u64, DbErr> {
    let result = session::Entity::delete_many()
        .filter(
            session::Column::ExpiresAt
                .lt(before_ms)
                .or(session::Column::RevokedAt.lt(before_ms)),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
