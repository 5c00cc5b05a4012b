//! WebAuthn credentials and the challenges of ceremonies in progress.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder,
};

use super::entities::{webauthn_challenge as challenge, webauthn_credential as credential};

/// Stores a new credential.
pub(crate) async fn insert_credential(
    db: &impl ConnectionTrait,
    model: credential::Model,
) -> Result<credential::Model, DbErr> {
    credential::ActiveModel::from(model).insert(db).await
}

/// An account's credentials, oldest first.
pub(crate) async fn credentials_of(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Vec<credential::Model>, DbErr> {
    credential::Entity::find()
        .filter(credential::Column::UserId.eq(user_id))
        .order_by_asc(credential::Column::CreatedAt)
        .order_by_asc(credential::Column::Id)
        .all(db)
        .await
}

/// How many credentials an account has.
pub(crate) async fn count_of(db: &impl ConnectionTrait, user_id: &str) -> Result<u64, DbErr> {
    credential::Entity::find()
        .filter(credential::Column::UserId.eq(user_id))
        .count(db)
        .await
}

/// The credential with this id, whoever owns it.
pub(crate) async fn find_credential(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<credential::Model>, DbErr> {
    credential::Entity::find_by_id(id.to_owned()).one(db).await
}

/// Records a successful use: the updated credential (its counter) and when. Only moves
/// forward from the counter the caller verified against, so two racing uses of one
/// credential cannot both record.
pub(crate) async fn record_use(
    db: &impl ConnectionTrait,
    id: &str,
    previous_counter: i64,
    passkey: String,
    counter: i64,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let result = credential::Entity::update_many()
        .col_expr(credential::Column::Passkey, Expr::value(passkey))
        .col_expr(credential::Column::Counter, Expr::value(counter))
        .col_expr(credential::Column::LastUsedAt, Expr::value(now_ms))
        .filter(credential::Column::Id.eq(id))
        .filter(credential::Column::Counter.eq(previous_counter))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Renames one of an account's credentials; whether it was theirs.
pub(crate) async fn rename(
    db: &impl ConnectionTrait,
    user_id: &str,
    id: &str,
    name: &str,
) -> Result<bool, DbErr> {
    let result = credential::Entity::update_many()
        .col_expr(credential::Column::Name, Expr::value(name))
        .filter(credential::Column::Id.eq(id))
        .filter(credential::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Removes one of an account's credentials; whether it was theirs.
pub(crate) async fn remove(
    db: &impl ConnectionTrait,
    user_id: &str,
    id: &str,
) -> Result<bool, DbErr> {
    let result = credential::Entity::delete_many()
        .filter(credential::Column::Id.eq(id))
        .filter(credential::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Removes every credential of an account (the admin's MFA reset); how many.
pub(crate) async fn remove_all(db: &impl ConnectionTrait, user_id: &str) -> Result<u64, DbErr> {
    let result = credential::Entity::delete_many()
        .filter(credential::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Stores the state of a ceremony just begun, sweeping the expired ones first so that
/// ceremonies begun and never finished do not pile up.
pub(crate) async fn insert_challenge(
    db: &impl ConnectionTrait,
    model: challenge::Model,
    now_ms: i64,
) -> Result<(), DbErr> {
    challenge::Entity::delete_many()
        .filter(challenge::Column::ExpiresAt.lte(now_ms))
        .exec(db)
        .await?;
    challenge::ActiveModel::from(model).insert(db).await?;
    Ok(())
}

/// Takes a ceremony's state out of the table: the one caller whose delete removed the
/// row gets it, so a challenge serves once even when two nodes race for it. Expired
/// challenges are swept on the way.
pub(crate) async fn take_challenge(
    db: &impl ConnectionTrait,
    id: &str,
    now_ms: i64,
) -> Result<Option<challenge::Model>, DbErr> {
    challenge::Entity::delete_many()
        .filter(challenge::Column::ExpiresAt.lte(now_ms))
        .exec(db)
        .await?;
    let Some(found) = challenge::Entity::find_by_id(id.to_owned()).one(db).await? else {
        return Ok(None);
    };
    let deleted = challenge::Entity::delete_many()
        .filter(challenge::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok((deleted.rows_affected == 1).then_some(found))
}
