//! Channels and membership (docs/ARCHITECTURE.md§6, CHARTER.md C1–C3, C5, C6), split by
//! verb: [`create`], [`members`], [`membership`] (the membership history), [`epochs`],
//! [`history`], [`destroyed`], [`sealed`] (sealed titles and notes); this module keeps what they all use: loading a channel for
//! a member and reading the caller's channels.
//!
//! A refusal to someone who is not a member answers "not found", so that channel ids
//! reveal nothing, and is recorded in the access log. A member reads or writes only
//! through the charter gate (`open_channel`, see [`crate::app::charter`]).

mod create;
mod destroyed;
mod epochs;
mod history;
mod members;
mod membership;
pub(crate) mod membership_log;
mod sealed;

pub(crate) use crate::gate::member_channel;
pub use create::create;
pub(crate) use create::{create_decided, NewChannel};
pub use destroyed::destroyed_among;
pub(crate) use epochs::required_devices;
pub use epochs::{device_keys, epoch_state, publish_epoch};
pub(crate) use history::stored_messages;
pub use history::{history, MAX_PAGE};
pub use members::{add_member, directory, remove_member};
pub use membership::membership_events;
pub(crate) use membership::{announce_all, announce_membership, record_new_device};
pub(crate) use membership_log::{
    check_and_append as check_log_record, refused as log_refused, Expected as LogChange,
};
pub use membership_log::{membership_log, start_membership_log};
pub use sealed::seal_title;
pub(crate) use sealed::{check_note, note_of};

use passerelle_shared::protocol::v1::auth::InstitutionRef;
use passerelle_shared::protocol::v1::channels::{
    Channel, ChannelDetail, ChannelKind, LegalRegime, Member,
};
use passerelle_shared::protocol::v1::ws::ServerFrame;
use passerelle_shared::protocol::v1::Role;

use crate::auth::CurrentUser;
use crate::bus::Frame;
use crate::db::{self, entities::channel, entities::channel_member, entities::user};
use crate::error::{ApiError, Result};
use crate::gate::{self, candidate_of};
use crate::policy::{self, Access, Lifecycle};
use crate::state::AppState;

/// The channel view of a row.
pub(crate) fn channel_of(model: &channel::Model, institutions: Vec<String>) -> Result<Channel> {
    Ok(Channel {
        id: model.id.clone().into(),
        kind: ChannelKind::parse(&model.kind)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("bad kind")))?,
        name: model.name.clone(),
        regime: LegalRegime::parse(&model.regime)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("bad regime")))?,
        status: model.status.clone(),
        institutions: institutions.into_iter().map(Into::into).collect(),
        epoch: u64::try_from(model.epoch).unwrap_or_default(),
        last_seq: u64::try_from(model.last_seq).unwrap_or_default(),
        created_at: model.created_at,
        group_id: model.group_id.clone().map(Into::into),
        starts_at: model.starts_at,
        ends_at: model.ends_at,
        ended_at: model.ended_at,
        destroy_by: model.destroy_by,
        read_seq: None,
        title: sealed::title_of(model),
    })
}

/// Serialises a frame once, for the bus.
pub(crate) fn frame_text(frame: &ServerFrame) -> Result<Frame> {
    serde_json::to_string(frame)
        .map(Frame::from)
        .map_err(ApiError::internal)
}

/// Why a person cannot join a channel, if they cannot (CHARTER.md C5).
fn join_refusal(
    candidate: &user::Model,
    regime: LegalRegime,
    institutions: &[String],
) -> Option<&'static str> {
    policy::join_refusal(&candidate_of(candidate), regime, institutions).map(policy::Refusal::code)
}

/// Loads a channel the caller belongs to and lets them `access` it only through the
/// charter gate (CHARTER.md C2, C5, C9, C11); every refusal is recorded.
pub(crate) async fn open_channel(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    action: &'static str,
    access: Access,
) -> Result<(channel::Model, channel_member::Model)> {
    let (channel, membership) = member_channel(state, user, channel_id, action).await?;
    gate::require(state, user, &channel, access, action).await?;
    Ok((channel, membership))
}

/// The caller's channels.
pub async fn list(state: &AppState, user: &CurrentUser) -> Result<Vec<Channel>> {
    let read: std::collections::HashMap<String, i64> =
        db::members::of_user(&state.db, &user.user_id)
            .await?
            .into_iter()
            .map(|m| (m.channel_id, m.read_seq))
            .collect();
    let mut channels = Vec::new();
    for model in db::channels::of_user(&state.db, &user.user_id).await? {
        if Lifecycle::parse(&model.status) == Lifecycle::Gone {
            continue;
        }
        let institutions = db::channels::institutions_of(&state.db, &model.id).await?;
        let mut channel = channel_of(&model, institutions)?;
        channel.read_seq = read
            .get(&model.id)
            .map(|seq| u64::try_from(*seq).unwrap_or_default());
        channels.push(channel);
    }
    Ok(channels)
}

/// A channel and its members, grouped by institution (sorted by institution, then name).
pub async fn detail(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
) -> Result<ChannelDetail> {
    let (model, _) = open_channel(state, user, channel_id, "channel_read", Access::Read).await?;
    let institutions = db::channels::institutions_of(&state.db, channel_id).await?;
    let mut members = Vec::new();
    for row in db::members::of_channel(&state.db, channel_id).await? {
        let Some(account) = db::accounts::find_user(&state.db, &row.user_id).await? else {
            continue;
        };
        let institution = db::accounts::find_institution(&state.db, &account.institution_id)
            .await?
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("account without institution")))?;
        members.push(Member {
            user_id: account.id.into(),
            display_name: account.display_name,
            institution: InstitutionRef {
                id: institution.id.into(),
                name: institution.name,
            },
            role: Role::parse(&account.role).unwrap_or(Role::Member),
            added_at: row.added_at,
            read_seq: u64::try_from(row.read_seq).unwrap_or_default(),
        });
    }
    members.sort_by(|a, b| {
        (&a.institution.name, &a.display_name).cmp(&(&b.institution.name, &b.display_name))
    });
    Ok(ChannelDetail {
        channel: channel_of(&model, institutions)?,
        members,
    })
}
