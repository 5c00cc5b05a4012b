//! A channel's membership history (docs/PROTOCOL.md §21): reading it, and telling the
//! channel of each change as it is stored. The rows are written by the paths that change
//! membership, in their own transaction (`db::membership_events::append`): creation and
//! additions here, removals and departures in [`crate::app::exclusion`], coordinators
//! named in [`crate::app::group_coordinators`], new devices in [`crate::app::keys`].
//!
//! These events are the server's word: nothing signs them yet. The signed, hash-chained
//! membership log (issue #17) will extend the same rows.

use passerelle_shared::protocol::v1::channels::{
    ChannelRole, MembershipChange, MembershipEvent, MembershipPage, PersonRef, RemovalReason,
};
use passerelle_shared::protocol::v1::ws::ServerFrame;
use serde_json::json;

use crate::audit::Outcome;
use crate::auth::CurrentUser;
use crate::bus::BusEvent;
use crate::db::membership_events::NewEvent;
use crate::db::{self, entities::channel, entities::membership_event};
use crate::error::{ApiError, Result};
use crate::gate;
use crate::policy::Access;
use crate::state::AppState;

use super::{channel_of, frame_text, open_channel, MAX_PAGE};

/// A page of a channel's membership events after event `after`, for a member (the same
/// gate as the history), from the first they may read ([`first_readable`]). Names are
/// those of people who are or were members of the channel, which the reader was shown as
/// such. Recorded in the access log per range.
pub async fn membership_events(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    after: u64,
    limit: u64,
) -> Result<MembershipPage> {
    const ACTION: &str = "membership_read";
    open_channel(state, user, channel_id, ACTION, Access::Read).await?;
    let limit = limit.clamp(1, MAX_PAGE);
    let after = i64::try_from(after)
        .unwrap_or(i64::MAX)
        .max(first_readable(state, channel_id, &user.user_id).await? - 1);
    let mut rows = db::membership_events::after(&state.db, channel_id, after, limit + 1).await?;
    let has_more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let events = views(state, rows).await?;
    state
        .record(
            user.actor(),
            ACTION,
            Some(channel_id.to_owned()),
            Outcome::Success,
            json!({
                "after": after,
                "from": events.first().map(|e| e.seq),
                "to": events.last().map(|e| e.seq),
                "count": events.len()
            }),
        )
        .await?;
    Ok(MembershipPage { events, has_more })
}

/// The first event `user_id` may read: the one that let them in (need-to-know, as for
/// messages), or the channel's creation for the members it was created with (written in
/// the same transaction, so at the same time). 1 (everything kept) when that event aged out.
async fn first_readable(state: &AppState, channel_id: &str, user_id: &str) -> Result<i64> {
    let Some(joined) = db::membership_events::joined_by(&state.db, channel_id, user_id).await?
    else {
        return Ok(1);
    };
    let creation = db::membership_events::creation(&state.db, channel_id).await?;
    Ok(match creation {
        Some(created) if created.at == joined.at && joined.after_seq == 0 => created.seq,
        _ => joined.seq,
    })
}

/// Stored rows as wire events, with the names of the people they name.
pub(crate) async fn views(
    state: &AppState,
    rows: Vec<membership_event::Model>,
) -> Result<Vec<MembershipEvent>> {
    let mut ids: Vec<String> = rows
        .iter()
        .flat_map(|row| std::iter::once(row.member_id.clone()).chain(row.actor_id.clone()))
        .collect();
    ids.sort();
    ids.dedup();
    let names = db::accounts::display_names(&state.db, &ids).await?;
    let person = |id: &str| PersonRef {
        user_id: id.into(),
        display_name: names.get(id).cloned(),
    };
    rows.into_iter()
        .map(|row| {
            Ok(MembershipEvent {
                change: MembershipChange::parse(&row.change)
                    .ok_or_else(|| ApiError::internal(anyhow::anyhow!("bad membership change")))?,
                member: person(&row.member_id),
                actor: row.actor_id.as_deref().map(person),
                reason: row.reason.as_deref().and_then(RemovalReason::parse),
                role: row.role.as_deref().and_then(ChannelRole::parse),
                device_id: row.device_id.map(Into::into),
                seq: u64::try_from(row.seq).unwrap_or_default(),
                after_seq: u64::try_from(row.after_seq).unwrap_or_default(),
                at: row.at,
                channel_id: row.channel_id.into(),
            })
        })
        .collect()
}

/// Records, inside the transaction that registers it, that `user_id` certified a new
/// device: one `device_added` event in each of their channels.
pub(crate) async fn record_new_device(
    db: &impl sea_orm::ConnectionTrait,
    user_id: &str,
    device_id: &str,
    now_ms: i64,
) -> Result<Vec<membership_event::Model>> {
    let mut events = Vec::new();
    for membership in db::members::of_user(db, user_id).await? {
        let event = NewEvent {
            channel_id: &membership.channel_id,
            change: "device_added",
            member_id: user_id,
            actor_id: Some(user_id),
            reason: None,
            role: None,
            device_id: Some(device_id),
        };
        events.push(db::membership_events::append(db, event, now_ms).await?);
    }
    Ok(events)
}

/// Announces stored events, each to its channel.
pub(crate) async fn announce_all(
    state: &AppState,
    events: Vec<membership_event::Model>,
) -> Result<()> {
    for event in events {
        if let Some(channel) = db::channels::find(&state.db, &event.channel_id).await? {
            announce_membership(state, &channel, event).await?;
        }
    }
    Ok(())
}

/// Tells the channel's members (and the member concerned) of a stored change: a `member`
/// frame carrying the event. The member added also gets the channel itself and is
/// subscribed to it.
pub(crate) async fn announce_membership(
    state: &AppState,
    channel: &channel::Model,
    event: membership_event::Model,
) -> Result<()> {
    let Some(event) = views(state, vec![event]).await?.pop() else {
        return Ok(());
    };
    let member = event.member.user_id.clone();
    // `change` as clients before `event` knew it.
    let change = match event.change {
        MembershipChange::Created | MembershipChange::Added => "added",
        MembershipChange::Removed | MembershipChange::Left => "removed",
        MembershipChange::RoleChanged => "role_changed",
        MembershipChange::DeviceAdded => "device_added",
    };
    let added = change == "added";
    let frame = frame_text(&ServerFrame::Member {
        channel_id: channel.id.clone().into(),
        user_id: member.clone(),
        change: change.to_owned(),
        event: Some(event),
    })?;
    if added {
        if let Some(account) = db::accounts::find_user(&state.db, &member).await? {
            gate::subscribe_if_open(state, &account, channel).await?;
        }
        let institutions = db::channels::institutions_of(&state.db, &channel.id).await?;
        let current = db::channels::find(&state.db, &channel.id)
            .await?
            .unwrap_or_else(|| channel.clone());
        state.bus.publish(BusEvent::User {
            user_id: member.to_string(),
            frame: frame_text(&ServerFrame::Channel(channel_of(&current, institutions)?))?,
        });
    } else if change == "removed" {
        state.bus.publish(BusEvent::User {
            user_id: member.to_string(),
            frame: frame.clone(),
        });
    }
    state.bus.publish(BusEvent::Channel {
        channel_id: channel.id.clone(),
        frame,
    });
    Ok(())
}
