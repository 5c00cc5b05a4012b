//! Meetings of working groups (`meetings`, `meeting_items`, `meeting_envelopes`).

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder,
};

use super::entities::{meeting, meeting_envelope, meeting_item};

/// Stores a new meeting and its agenda.
pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    model: meeting::Model,
    items: Vec<meeting_item::Model>,
) -> Result<(), DbErr> {
    meeting::ActiveModel::from(model).insert(db).await?;
    for item in items {
        meeting_item::ActiveModel::from(item).insert(db).await?;
    }
    Ok(())
}

/// One meeting.
pub(crate) async fn find(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<meeting::Model>, DbErr> {
    meeting::Entity::find_by_id(id.to_owned()).one(db).await
}

/// Whether the group already has a meeting at that time.
pub(crate) async fn slot_taken(
    db: &impl ConnectionTrait,
    group_id: &str,
    scheduled_at: i64,
) -> Result<bool, DbErr> {
    Ok(meeting::Entity::find()
        .filter(meeting::Column::GroupId.eq(group_id))
        .filter(meeting::Column::ScheduledAt.eq(scheduled_at))
        .one(db)
        .await?
        .is_some())
}

/// The meetings of `group_ids`, soonest first.
pub(crate) async fn of_groups(
    db: &impl ConnectionTrait,
    group_ids: &[String],
) -> Result<Vec<meeting::Model>, DbErr> {
    let mut meetings = Vec::new();
    for chunk in group_ids.chunks(super::LOOKUP_CHUNK) {
        meetings.extend(
            meeting::Entity::find()
                .filter(meeting::Column::GroupId.is_in(chunk.iter().cloned()))
                .all(db)
                .await?,
        );
    }
    meetings.sort_by(|a, b| (a.scheduled_at, &a.id).cmp(&(b.scheduled_at, &b.id)));
    Ok(meetings)
}

/// The agenda items of `meeting_ids`, in agenda order.
pub(crate) async fn items_of(
    db: &impl ConnectionTrait,
    meeting_ids: &[String],
) -> Result<Vec<meeting_item::Model>, DbErr> {
    let mut condition = Condition::any();
    for chunk in meeting_ids.chunks(super::LOOKUP_CHUNK) {
        condition = condition.add(meeting_item::Column::MeetingId.is_in(chunk.iter().cloned()));
    }
    if meeting_ids.is_empty() {
        return Ok(Vec::new());
    }
    meeting_item::Entity::find()
        .filter(condition)
        .order_by_asc(meeting_item::Column::Position)
        .all(db)
        .await
}

/// Marks a change of a meeting that is still `scheduled`, taking its row first: returns
/// false (and changes nothing) once it is held, so that a late edit and the closing never
/// interleave.
pub(crate) async fn touch_scheduled(
    db: &impl ConnectionTrait,
    id: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let result = meeting::Entity::update_many()
        .col_expr(meeting::Column::UpdatedAt, Expr::value(now))
        .filter(meeting::Column::Id.eq(id))
        .filter(meeting::Column::Status.eq("scheduled"))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Replaces the attendance (a JSON array of account ids).
pub(crate) async fn set_attendees(
    db: &impl ConnectionTrait,
    id: &str,
    attendees: &str,
) -> Result<(), DbErr> {
    meeting::Entity::update_many()
        .col_expr(meeting::Column::Attendees, Expr::value(attendees))
        .filter(meeting::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Replaces the sealed minutes.
pub(crate) async fn set_minutes(
    db: &impl ConnectionTrait,
    id: &str,
    minutes: &str,
    by: &str,
) -> Result<(), DbErr> {
    meeting::Entity::update_many()
        .col_expr(meeting::Column::Minutes, Expr::value(minutes))
        .col_expr(meeting::Column::MinutesBy, Expr::value(by))
        .filter(meeting::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Records the decision about one situation of the agenda.
pub(crate) async fn decide(
    db: &impl ConnectionTrait,
    item: meeting_item::Model,
) -> Result<(), DbErr> {
    meeting_item::ActiveModel::from(item)
        .reset_all()
        .update(db)
        .await?;
    Ok(())
}

/// Closes a meeting, only if it is still `scheduled`: returns whether this call did.
pub(crate) async fn hold(
    db: &impl ConnectionTrait,
    id: &str,
    by: &str,
    at: i64,
) -> Result<bool, DbErr> {
    let result = meeting::Entity::update_many()
        .col_expr(meeting::Column::Status, Expr::value("held"))
        .col_expr(meeting::Column::HeldBy, Expr::value(by))
        .col_expr(meeting::Column::HeldAt, Expr::value(at))
        .col_expr(meeting::Column::UpdatedAt, Expr::value(at))
        .filter(meeting::Column::Id.eq(id))
        .filter(meeting::Column::Status.eq("scheduled"))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Whether an envelope (device, message id) was already given to a meeting.
pub(crate) async fn envelope_used(
    db: &impl ConnectionTrait,
    device_id: &str,
    client_msg_id: &str,
) -> Result<bool, DbErr> {
    Ok(
        meeting_envelope::Entity::find_by_id((device_id.to_owned(), client_msg_id.to_owned()))
            .one(db)
            .await?
            .is_some(),
    )
}

/// Records an envelope given to a meeting; a replay violates the primary key.
pub(crate) async fn insert_envelope(
    db: &impl ConnectionTrait,
    model: meeting_envelope::Model,
) -> Result<(), DbErr> {
    meeting_envelope::ActiveModel::from(model)
        .insert(db)
        .await?;
    Ok(())
}

/// Deletes the meetings of a group (with their agenda and envelopes), all of them or
/// those that took place before `before` (unix ms): meetings go with their group's
/// history. Returns how many meetings were deleted.
pub(crate) async fn delete_of_group(
    db: &impl ConnectionTrait,
    group_id: &str,
    before: Option<i64>,
) -> Result<u64, DbErr> {
    let mut query = meeting::Entity::find().filter(meeting::Column::GroupId.eq(group_id));
    if let Some(before) = before {
        query = query.filter(meeting::Column::ScheduledAt.lt(before));
    }
    let ids: Vec<String> = query.all(db).await?.into_iter().map(|m| m.id).collect();
    for chunk in ids.chunks(super::LOOKUP_CHUNK) {
        meeting_envelope::Entity::delete_many()
            .filter(meeting_envelope::Column::MeetingId.is_in(chunk.iter().cloned()))
            .exec(db)
            .await?;
        meeting_item::Entity::delete_many()
            .filter(meeting_item::Column::MeetingId.is_in(chunk.iter().cloned()))
            .exec(db)
            .await?;
        meeting::Entity::delete_many()
            .filter(meeting::Column::Id.is_in(chunk.iter().cloned()))
            .exec(db)
            .await?;
    }
    Ok(u64::try_from(ids.len()).unwrap_or(u64::MAX))
}

/// Deletes what meetings recorded about a case (its agenda items, their decisions and
/// notes): the case is being destroyed.
pub(crate) async fn delete_items_of_case(
    db: &impl ConnectionTrait,
    case_id: &str,
) -> Result<(), DbErr> {
    meeting_item::Entity::delete_many()
        .filter(meeting_item::Column::CaseId.eq(case_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The oldest epoch a kept meeting of the group has an envelope under, if any: its key
/// must outlive the purge of the group's history.
pub(crate) async fn oldest_epoch(
    db: &impl ConnectionTrait,
    group_id: &str,
) -> Result<Option<i64>, DbErr> {
    let ids: Vec<String> = meeting::Entity::find()
        .filter(meeting::Column::GroupId.eq(group_id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.id)
        .collect();
    let mut oldest: Option<i64> = None;
    for chunk in ids.chunks(super::LOOKUP_CHUNK) {
        let found = meeting_envelope::Entity::find()
            .filter(meeting_envelope::Column::MeetingId.is_in(chunk.iter().cloned()))
            .order_by_asc(meeting_envelope::Column::Epoch)
            .one(db)
            .await?;
        if let Some(envelope) = found {
            oldest = Some(oldest.map_or(envelope.epoch, |o| o.min(envelope.epoch)));
        }
    }
    Ok(oldest)
}

/// Replaces the agenda of the meeting `id` by `agenda`, in order: the items of cases
/// still on it keep their decision, the others are deleted, new cases are added.
pub(crate) async fn replace_agenda(
    db: &impl ConnectionTrait,
    id: &str,
    agenda: &[String],
) -> Result<(), DbErr> {
    meeting_item::Entity::delete_many()
        .filter(meeting_item::Column::MeetingId.eq(id))
        .filter(meeting_item::Column::CaseId.is_not_in(agenda.iter().cloned()))
        .exec(db)
        .await?;
    let kept: Vec<String> = meeting_item::Entity::find()
        .filter(meeting_item::Column::MeetingId.eq(id))
        .all(db)
        .await?
        .into_iter()
        .map(|item| item.case_id)
        .collect();
    for (case_id, position) in agenda.iter().zip(0_i64..) {
        if kept.contains(case_id) {
            meeting_item::Entity::update_many()
                .col_expr(meeting_item::Column::Position, Expr::value(position))
                .filter(meeting_item::Column::MeetingId.eq(id))
                .filter(meeting_item::Column::CaseId.eq(case_id.as_str()))
                .exec(db)
                .await?;
        } else {
            meeting_item::ActiveModel::from(meeting_item::Model {
                meeting_id: id.to_owned(),
                case_id: case_id.clone(),
                position,
                decision: None,
                note: None,
                next_review_at: None,
                decided_by: None,
                decided_at: None,
            })
            .insert(db)
            .await?;
        }
    }
    Ok(())
}

/// Deletes the meeting `id`, with its agenda and the envelopes given to it: a meeting
/// cancelled before anything was decided leaves nothing behind but its access-log events.
pub(crate) async fn delete(db: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    meeting_envelope::Entity::delete_many()
        .filter(meeting_envelope::Column::MeetingId.eq(id))
        .exec(db)
        .await?;
    meeting_item::Entity::delete_many()
        .filter(meeting_item::Column::MeetingId.eq(id))
        .exec(db)
        .await?;
    meeting::Entity::delete_by_id(id.to_owned())
        .exec(db)
        .await?;
    Ok(())
}
