//! `invitations`: issuing, finding by the token's hash, and using once.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use super::entities::invitation;

/// Stores a new invitation.
pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    model: invitation::Model,
) -> Result<invitation::Model, DbErr> {
    invitation::ActiveModel::from(model).insert(db).await
}

/// Deletes the unused invitations of an account (a new link replaces the previous one).
pub(crate) async fn delete_unused_of(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<u64, DbErr> {
    invitation::Entity::delete_many()
        .filter(invitation::Column::UserId.eq(user_id))
        .filter(invitation::Column::UsedAt.is_null())
        .exec(db)
        .await
        .map(|result| result.rows_affected)
}

/// The invitation whose token hashes to `token_hash`.
pub(crate) async fn find_by_hash(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<invitation::Model>, DbErr> {
    invitation::Entity::find()
        .filter(invitation::Column::TokenHash.eq(token_hash))
        .one(db)
        .await
}

/// Marks an invitation used; false if it was used already (by a concurrent request).
pub(crate) async fn mark_used(
    db: &impl ConnectionTrait,
    id: &str,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let result = invitation::Entity::update_many()
        .col_expr(invitation::Column::UsedAt, Expr::value(now_ms))
        .filter(invitation::Column::Id.eq(id))
        .filter(invitation::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
