//! Field reports of the mediators (`field_reports`).

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder,
};

use super::entities::field_report;

/// Stores a new report. A replayed envelope (same device and message id) violates the
/// unique index and stores nothing.
pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    model: field_report::Model,
) -> Result<(), DbErr> {
    field_report::ActiveModel::from(model).insert(db).await?;
    Ok(())
}

/// One report.
pub(crate) async fn find(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<field_report::Model>, DbErr> {
    field_report::Entity::find_by_id(id.to_owned())
        .one(db)
        .await
}

/// Whether a report was already filed with this envelope.
pub(crate) async fn envelope_used(
    db: &impl ConnectionTrait,
    device_id: &str,
    client_msg_id: &str,
) -> Result<bool, DbErr> {
    Ok(field_report::Entity::find()
        .filter(field_report::Column::DescriptionDevice.eq(device_id))
        .filter(field_report::Column::DescriptionMsgId.eq(client_msg_id))
        .one(db)
        .await?
        .is_some())
}

/// The reports filed by `author_id` or addressed to one of `group_ids`, newest first.
pub(crate) async fn visible(
    db: &impl ConnectionTrait,
    author_id: &str,
    group_ids: &[String],
) -> Result<Vec<field_report::Model>, DbErr> {
    let mut condition = Condition::any().add(field_report::Column::AuthorId.eq(author_id));
    for chunk in group_ids.chunks(super::LOOKUP_CHUNK) {
        condition = condition.add(field_report::Column::GroupId.is_in(chunk.iter().cloned()));
    }
    field_report::Entity::find()
        .filter(condition)
        .order_by_desc(field_report::Column::FiledAt)
        .order_by_desc(field_report::Column::Id)
        .all(db)
        .await
}

/// Takes a report in charge, only if it is still `new`: returns whether this call did
/// (two members clicking at once: one wins, the other is told).
pub(crate) async fn take_in_charge(
    db: &impl ConnectionTrait,
    id: &str,
    by: &str,
    at: i64,
) -> Result<bool, DbErr> {
    let result = field_report::Entity::update_many()
        .col_expr(field_report::Column::Status, Expr::value("in_progress"))
        .col_expr(field_report::Column::HandledBy, Expr::value(by))
        .col_expr(field_report::Column::HandledAt, Expr::value(at))
        .filter(field_report::Column::Id.eq(id))
        .filter(field_report::Column::Status.eq("new"))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Records the sealed answer and closes a report, only if it is `in_progress`.
pub(crate) async fn answer(
    db: &impl ConnectionTrait,
    id: &str,
    answer: &str,
    epoch: i64,
    by: &str,
    at: i64,
) -> Result<bool, DbErr> {
    let result = field_report::Entity::update_many()
        .col_expr(field_report::Column::Status, Expr::value("done"))
        .col_expr(field_report::Column::Answer, Expr::value(answer))
        .col_expr(field_report::Column::AnswerEpoch, Expr::value(epoch))
        .col_expr(field_report::Column::AnsweredBy, Expr::value(by))
        .col_expr(field_report::Column::AnsweredAt, Expr::value(at))
        .filter(field_report::Column::Id.eq(id))
        .filter(field_report::Column::Status.eq("in_progress"))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
