//! The queries of the retention job (CHARTER.md C11): which channels expired, the
//! deletion of everything they hold, and the purge of aged history.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::entities::{
    archive_access, attachment, case_file, channel, channel_institution, channel_member,
    channel_rules, epoch_key, field_report, message, rules_acceptance, withheld_key,
};

/// Rows deleted with a channel, for the access log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Deleted {
    pub(crate) messages: u64,
    pub(crate) epoch_keys: u64,
    pub(crate) attachments: u64,
    pub(crate) members: u64,
}

/// Active or archived channels whose `destroy_by` has come.
pub(crate) async fn due(
    db: &impl ConnectionTrait,
    now_ms: i64,
) -> Result<Vec<channel::Model>, DbErr> {
    channel::Entity::find()
        .filter(channel::Column::Status.is_in(["active", "archived"]))
        .filter(channel::Column::DestroyBy.lte(now_ms))
        .order_by_asc(channel::Column::DestroyBy)
        .all(db)
        .await
}

/// Marks a channel `destroying`: from this commit on nothing reads or writes it, and a
/// pass that stops here is resumed by the next one. Returns false if it was not active
/// or archived.
pub(crate) async fn mark_destroying(
    db: &impl ConnectionTrait,
    channel_id: &str,
) -> Result<bool, DbErr> {
    let result = channel::Entity::update_many()
        .col_expr(channel::Column::Status, Expr::value("destroying"))
        .filter(channel::Column::Id.eq(channel_id))
        .filter(channel::Column::Status.is_in(["active", "archived"]))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Channels a pass marked and has not finished destroying.
pub(crate) async fn destroying(db: &impl ConnectionTrait) -> Result<Vec<channel::Model>, DbErr> {
    channel::Entity::find()
        .filter(channel::Column::Status.eq("destroying"))
        .all(db)
        .await
}

/// Deletes every row a channel holds but its own (idempotent): messages, wrapped keys,
/// attachment rows, members and their receipts, the allow-list, the rules and their
/// acceptances, the case record and the person's sealed identity, the archive accesses, the
/// field reports addressed to it, a group's named coordinators, the group's meetings,
/// what meetings recorded about the case, and the membership history.
pub(crate) async fn delete_contents(
    db: &impl ConnectionTrait,
    channel_id: &str,
) -> Result<Deleted, DbErr> {
    let messages = message::Entity::delete_many()
        .filter(message::Column::ChannelId.eq(channel_id))
        .exec(db)
        .await?
        .rows_affected;
    let epoch_keys = epoch_key::Entity::delete_many()
        .filter(epoch_key::Column::ChannelId.eq(channel_id))
        .exec(db)
        .await?
        .rows_affected;
    withheld_key::Entity::delete_many()
        .filter(withheld_key::Column::ChannelId.eq(channel_id))
        .exec(db)
        .await?;
    let attachments = attachment::Entity::delete_many()
        .filter(attachment::Column::ChannelId.eq(channel_id))
        .exec(db)
        .await?
        .rows_affected;
    let members = channel_member::Entity::delete_many()
        .filter(channel_member::Column::ChannelId.eq(channel_id))
        .exec(db)
        .await?
        .rows_affected;
    channel_institution::Entity::delete_many()
        .filter(channel_institution::Column::ChannelId.eq(channel_id))
        .exec(db)
        .await?;
    rules_acceptance::Entity::delete_many()
        .filter(rules_acceptance::Column::ChannelId.eq(channel_id))
        .exec(db)
        .await?;
    channel_rules::Entity::delete_many()
        .filter(channel_rules::Column::ChannelId.eq(channel_id))
        .exec(db)
        .await?;
    archive_access::Entity::delete_many()
        .filter(archive_access::Column::ChannelId.eq(channel_id))
        .exec(db)
        .await?;
    case_file::Entity::delete_many()
        .filter(case_file::Column::ChannelId.eq(channel_id))
        .exec(db)
        .await?;
    field_report::Entity::delete_many()
        .filter(field_report::Column::GroupId.eq(channel_id))
        .exec(db)
        .await?;
    // The referral that opened a case goes with it.
    super::entities::referral::Entity::delete_many()
        .filter(super::entities::referral::Column::CaseId.eq(channel_id))
        .exec(db)
        .await?;
    super::meetings::delete_of_group(db, channel_id, None).await?;
    super::meetings::delete_items_of_case(db, channel_id).await?;
    super::case_identities::delete(db, channel_id).await?;
    super::group_coordinators::delete(db, channel_id).await?;
    super::membership_events::delete_before(db, channel_id, None).await?;
    super::membership_log::delete(db, channel_id).await?;
    Ok(Deleted {
        messages,
        epoch_keys,
        attachments,
        members,
    })
}

/// Turns a `destroying` channel into an empty tombstone (no name; its kind and dates stay
/// for the annual counts). Updating the row first takes its lock, so a message stored
/// concurrently is committed before, and deleted here.
pub(crate) async fn finish(
    db: &impl ConnectionTrait,
    channel_id: &str,
    now_ms: i64,
) -> Result<Deleted, DbErr> {
    channel::Entity::update_many()
        .col_expr(channel::Column::Status, Expr::value("destroyed"))
        .col_expr(channel::Column::Name, Expr::value(""))
        .col_expr(channel::Column::Title, Expr::value(Option::<String>::None))
        .col_expr(
            channel::Column::TitleBy,
            Expr::value(Option::<String>::None),
        )
        .col_expr(channel::Column::DestroyedAt, Expr::value(now_ms))
        .filter(channel::Column::Id.eq(channel_id))
        .exec(db)
        .await?;
    delete_contents(db, channel_id).await
}

/// Active channels of a kind whose history ages out (working groups, direct conversations).
pub(crate) async fn active_of_kind(
    db: &impl ConnectionTrait,
    kind: &str,
) -> Result<Vec<channel::Model>, DbErr> {
    channel::Entity::find()
        .filter(channel::Column::Kind.eq(kind))
        .filter(channel::Column::Status.eq("active"))
        .all(db)
        .await
}

/// A channel's attachments stored before `cutoff_ms`.
pub(crate) async fn attachments_before(
    db: &impl ConnectionTrait,
    channel_id: &str,
    cutoff_ms: i64,
) -> Result<Vec<attachment::Model>, DbErr> {
    attachment::Entity::find()
        .filter(attachment::Column::ChannelId.eq(channel_id))
        .filter(attachment::Column::CreatedAt.lt(cutoff_ms))
        .all(db)
        .await
}

/// What an aged-history purge removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Purged {
    pub(crate) messages: u64,
    pub(crate) up_to_seq: i64,
    pub(crate) epoch_keys: u64,
    pub(crate) below_epoch: i64,
    pub(crate) attachments: u64,
    pub(crate) field_reports: u64,
}

/// Deletes a channel's messages, attachment rows and field reports stored before
/// `cutoff_ms`, then the wrapped keys of the epochs no remaining message or report uses
/// (never the current epoch's).
pub(crate) async fn purge_history(
    db: &impl ConnectionTrait,
    channel: &channel::Model,
    cutoff_ms: i64,
) -> Result<Purged, DbErr> {
    let up_to_seq: Option<i64> = message::Entity::find()
        .select_only()
        .column(message::Column::Seq)
        .filter(message::Column::ChannelId.eq(channel.id.clone()))
        .filter(message::Column::CreatedAt.lt(cutoff_ms))
        .order_by_desc(message::Column::Seq)
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await?;
    let attachments = attachment::Entity::delete_many()
        .filter(attachment::Column::ChannelId.eq(channel.id.clone()))
        .filter(attachment::Column::CreatedAt.lt(cutoff_ms))
        .exec(db)
        .await?
        .rows_affected;
    // A field report ages out with its group's history, from the day it was filed.
    let field_reports = field_report::Entity::delete_many()
        .filter(field_report::Column::GroupId.eq(channel.id.clone()))
        .filter(field_report::Column::FiledAt.lt(cutoff_ms))
        .exec(db)
        .await?
        .rows_affected;
    // A meeting ages out with its group's history, from the day it took place.
    let meetings = super::meetings::delete_of_group(db, &channel.id, Some(cutoff_ms)).await?;
    // Membership notes age out with the messages they sit among.
    super::membership_events::delete_before(db, &channel.id, Some(cutoff_ms)).await?;
    let messages = match up_to_seq {
        Some(up_to_seq) => {
            message::Entity::delete_many()
                .filter(message::Column::ChannelId.eq(channel.id.clone()))
                .filter(message::Column::Seq.lte(up_to_seq))
                .exec(db)
                .await?
                .rows_affected
        }
        None => 0,
    };
    if messages == 0 && field_reports == 0 && meetings == 0 {
        return Ok(Purged {
            attachments,
            ..Purged::default()
        });
    }
    let oldest_message_epoch: Option<i64> = message::Entity::find()
        .select_only()
        .column(message::Column::Epoch)
        .filter(message::Column::ChannelId.eq(channel.id.clone()))
        .order_by_asc(message::Column::Epoch)
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await?;
    let oldest_meeting_epoch = super::meetings::oldest_epoch(db, &channel.id).await?;
    let kept_reports = field_report::Entity::find()
        .filter(field_report::Column::GroupId.eq(channel.id.clone()))
        .all(db)
        .await?;
    let below_epoch = kept_reports
        .iter()
        .flat_map(|r| [Some(r.epoch), r.answer_epoch])
        .flatten()
        .chain(oldest_message_epoch)
        .chain(oldest_meeting_epoch)
        .min()
        .unwrap_or(channel.epoch)
        .min(channel.epoch);
    let epoch_keys = epoch_key::Entity::delete_many()
        .filter(epoch_key::Column::ChannelId.eq(channel.id.clone()))
        .filter(epoch_key::Column::Epoch.lt(below_epoch))
        .exec(db)
        .await?
        .rows_affected;
    withheld_key::Entity::delete_many()
        .filter(withheld_key::Column::ChannelId.eq(channel.id.clone()))
        .filter(withheld_key::Column::Epoch.lt(below_epoch))
        .exec(db)
        .await?;
    Ok(Purged {
        messages,
        up_to_seq: up_to_seq.unwrap_or(0),
        epoch_keys,
        below_epoch,
        attachments,
        field_reports,
    })
}
