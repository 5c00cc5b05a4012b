//! Referrals of the intervenant social (`referrals`).

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder,
};

use super::entities::referral;

/// Stores a new referral. A replayed client id violates the unique index and stores
/// nothing.
pub(crate) async fn insert(db: &impl ConnectionTrait, model: referral::Model) -> Result<(), DbErr> {
    referral::ActiveModel::from(model).insert(db).await?;
    Ok(())
}

/// One referral.
pub(crate) async fn find(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<referral::Model>, DbErr> {
    referral::Entity::find_by_id(id.to_owned()).one(db).await
}

/// Whether a referral was already opened with this client id.
pub(crate) async fn client_id_used(
    db: &impl ConnectionTrait,
    client_id: &str,
) -> Result<bool, DbErr> {
    Ok(referral::Entity::find()
        .filter(referral::Column::ClientId.eq(client_id))
        .one(db)
        .await?
        .is_some())
}

/// The referrals opened by `referrer_id` or addressed to `institution_id`, or every one
/// (`all`, the coordinator), newest first.
pub(crate) async fn visible(
    db: &impl ConnectionTrait,
    referrer_id: &str,
    institution_id: &str,
    all: bool,
) -> Result<Vec<referral::Model>, DbErr> {
    let mut query = referral::Entity::find();
    if !all {
        query = query.filter(
            Condition::any()
                .add(referral::Column::ReferrerId.eq(referrer_id))
                .add(referral::Column::TargetInstitution.eq(institution_id)),
        );
    }
    query
        .order_by_desc(referral::Column::OpenedAt)
        .order_by_desc(referral::Column::Id)
        .all(db)
        .await
}

/// Moves a referral from `from` to `to` (with the columns of that step), only if it is
/// still `from`: returns whether this call did (two people deciding at once: one wins,
/// the other is told).
pub(crate) async fn advance(
    db: &impl ConnectionTrait,
    id: &str,
    from: &str,
    to: &str,
    columns: Vec<(referral::Column, sea_orm::Value)>,
) -> Result<bool, DbErr> {
    let mut update = referral::Entity::update_many()
        .col_expr(referral::Column::Status, Expr::value(to))
        .filter(referral::Column::Id.eq(id))
        .filter(referral::Column::Status.eq(from));
    for (column, value) in columns {
        update = update.col_expr(column, Expr::value(value));
    }
    Ok(update.exec(db).await?.rows_affected == 1)
}

/// Names the case an acceptance opened.
pub(crate) async fn set_case(
    db: &impl ConnectionTrait,
    id: &str,
    case_id: &str,
) -> Result<(), DbErr> {
    referral::Entity::update_many()
        .col_expr(referral::Column::CaseId, Expr::value(case_id))
        .filter(referral::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes the referrals never accepted (declined, or still waiting) whose last change is
/// older than `cutoff`, and answers how many (CHARTER.md C11). An accepted referral goes
/// with its case (`retention::delete_contents`).
pub(crate) async fn purge_unaccepted(db: &impl ConnectionTrait, cutoff: i64) -> Result<u64, DbErr> {
    Ok(referral::Entity::delete_many()
        .filter(referral::Column::CaseId.is_null())
        .filter(
            Condition::any()
                .add(referral::Column::DecidedAt.lt(cutoff))
                .add(
                    Condition::all()
                        .add(referral::Column::DecidedAt.is_null())
                        .add(referral::Column::OpenedAt.lt(cutoff)),
                ),
        )
        .exec(db)
        .await?
        .rows_affected)
}
