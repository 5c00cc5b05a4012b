//! Institutions and accounts.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};

use super::entities::{institution, user};

/// Every institution, by name.
pub(crate) async fn list_institutions(
    db: &impl ConnectionTrait,
) -> Result<Vec<institution::Model>, DbErr> {
    institution::Entity::find()
        .order_by_asc(institution::Column::Name)
        .all(db)
        .await
}

/// One institution by id.
pub(crate) async fn find_institution(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<institution::Model>, DbErr> {
    institution::Entity::find_by_id(id.to_owned()).one(db).await
}

/// One institution by its exact name.
pub(crate) async fn find_institution_by_name(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<institution::Model>, DbErr> {
    institution::Entity::find()
        .filter(institution::Column::Name.eq(name))
        .one(db)
        .await
}

/// Inserts an institution.
pub(crate) async fn insert_institution(
    db: &impl ConnectionTrait,
    model: institution::Model,
) -> Result<institution::Model, DbErr> {
    institution::ActiveModel {
        id: Set(model.id),
        name: Set(model.name),
        kind: Set(model.kind),
        created_at: Set(model.created_at),
    }
    .insert(db)
    .await
}

/// Sets an institution's type.
pub(crate) async fn set_institution_kind(
    db: &impl ConnectionTrait,
    id: &str,
    kind: &str,
) -> Result<institution::Model, DbErr> {
    institution::ActiveModel {
        id: Set(id.to_owned()),
        kind: Set(kind.to_owned()),
        ..Default::default()
    }
    .update(db)
    .await
}

/// The accounts of one institution.
pub(crate) async fn users_of_institution(
    db: &impl ConnectionTrait,
    institution_id: &str,
) -> Result<Vec<user::Model>, DbErr> {
    user::Entity::find()
        .filter(user::Column::InstitutionId.eq(institution_id))
        .all(db)
        .await
}

/// Every account, by login.
pub(crate) async fn list_users(db: &impl ConnectionTrait) -> Result<Vec<user::Model>, DbErr> {
    user::Entity::find()
        .order_by_asc(user::Column::Login)
        .all(db)
        .await
}

/// One account by id.
pub(crate) async fn find_user(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find_by_id(id.to_owned()).one(db).await
}

/// One account by its normalised login.
pub(crate) async fn find_user_by_login(
    db: &impl ConnectionTrait,
    login: &str,
) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find()
        .filter(user::Column::Login.eq(login))
        .one(db)
        .await
}

/// Inserts an account.
pub(crate) async fn insert_user(
    db: &impl ConnectionTrait,
    model: user::Model,
) -> Result<user::Model, DbErr> {
    user::ActiveModel::from(model).insert(db).await
}

/// Disables or enables an account; returns whether it changed.
pub(crate) async fn set_disabled(
    db: &impl ConnectionTrait,
    id: &str,
    disabled: bool,
) -> Result<bool, DbErr> {
    let result = user::Entity::update_many()
        .col_expr(user::Column::Disabled, Expr::value(disabled))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::Disabled.eq(!disabled))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Saves every field of an account.
pub(crate) async fn update_user(
    db: &impl ConnectionTrait,
    model: user::Model,
) -> Result<user::Model, DbErr> {
    // `from(model)` marks fields unchanged; a full save must write them all.
    user::ActiveModel::from(model).reset_all().update(db).await
}

/// Marks the account as locked since `now_ms`, for the admin's account list (the lock
/// itself, and when it ends, is `login_lockouts`'s, see `crate::auth::lockout`).
pub(crate) async fn mark_locked(
    db: &impl ConnectionTrait,
    user_id: &str,
    now_ms: i64,
) -> Result<(), DbErr> {
    user::Entity::update_many()
        .col_expr(user::Column::LockedAt, Expr::value(now_ms))
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Clears the failure count and the lock mark after a successful login.
pub(crate) async fn reset_login_failures(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<(), DbErr> {
    user::Entity::update_many()
        .col_expr(user::Column::FailedLogins, Expr::value(0))
        .col_expr(user::Column::LockedAt, Expr::value(Option::<i64>::None))
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Accepts a TOTP time step only if it is later than the last one used, atomically, so
/// that a code cannot be used twice even by two concurrent requests.
pub(crate) async fn consume_totp_step(
    db: &impl ConnectionTrait,
    user_id: &str,
    step: i64,
) -> Result<bool, DbErr> {
    let result = user::Entity::update_many()
        .col_expr(user::Column::TotpLastStep, Expr::value(step))
        .filter(user::Column::Id.eq(user_id))
        .filter(
            user::Column::TotpLastStep
                .is_null()
                .or(user::Column::TotpLastStep.lt(step)),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The display names of these accounts, by id: what a view shows beside each person it
/// names. An id with no account is absent.
pub(crate) async fn display_names(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<std::collections::HashMap<String, String>, DbErr> {
    Ok(accounts_many(db, ids)
        .await?
        .into_iter()
        .map(|account| (account.id, account.display_name))
        .collect())
}

/// These accounts (the senders of a batch, whose role and attributes the writer checks
/// against each channel's regime at commit time).
pub(crate) async fn accounts_many(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<Vec<super::entities::user::Model>, DbErr> {
    use super::entities::user;
    let mut found = Vec::new();
    for chunk in ids.chunks(super::LOOKUP_CHUNK) {
        found.extend(
            user::Entity::find()
                .filter(user::Column::Id.is_in(chunk.iter().cloned()))
                .all(db)
                .await?,
        );
    }
    Ok(found)
}
