//! The charter (CHARTER.md C2): the charter and the working groups' internal rules, their
//! versions and acceptances. The check every read or write of a channel goes through is
//! [`crate::gate`], which decides with [`policy::channel_access`] on these facts among
//! others. Every channel is confidential (each states a legal regime), so:
//!
//! - while the admin has published **no charter**, no channel can be read or written
//!   (`charter_not_published`): the safe default; `passerelle demo` publishes one;
//! - working groups, cases and practice sessions also need the **internal rules** of
//!   their working group (a case or session linked to a group follows the group's rules;
//!   one without a group has its own); direct conversations need the charter only;
//! - a new version of either closes the channels again until accepted: the server stops
//!   delivering their live frames to the connections of those who have not accepted
//!   (the hub unsubscribes them) and tells them with `charter_required` /
//!   `rules_required` frames; accepting resubscribes them.
//!
//! Actions that reduce exposure are never blocked by the gate: leaving a channel,
//! excluding a member, archiving a case.

use std::collections::{BTreeMap, BTreeSet};

use passerelle_shared::protocol::v1::channels::ChannelKind;
use passerelle_shared::protocol::v1::charter::{
    CharterStatus, CharterVersion, PendingRules, RulesStatus, RulesVersion, MAX_TEXT_BYTES,
};
use passerelle_shared::protocol::v1::ws::ServerFrame;
use sea_orm::{DbErr, SqlErr};
use serde_json::json;

use crate::app::channels::{channel_of, frame_text, member_channel};
use crate::app::coordinators;
use crate::app::exclusion;
use crate::app::reports;
use crate::audit::{Actor, Outcome};
use crate::auth::CurrentUser;
use crate::bus::{AccessReason, BusEvent};
use crate::db::{self, entities::channel};
use crate::error::{ApiError, Result};
use crate::gate::{rules_owner, subscribe_if_open};
use crate::policy::{self, Capability, Lifecycle, Refusal};
use crate::state::AppState;

fn valid_text(text: &str) -> Result<String> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_TEXT_BYTES {
        return Err(ApiError::Unprocessable("invalid_text"));
    }
    Ok(text.to_owned())
}

fn version_of(version: i64) -> u64 {
    u64::try_from(version).unwrap_or_default()
}

fn is_duplicate(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Publishes a new charter version and closes every channel to everyone until they
/// accept it. Callable by the admin API (after its role check), the demo and tests.
pub async fn publish_charter(
    state: &AppState,
    actor: Actor,
    published_by: &str,
    text: &str,
) -> Result<CharterVersion> {
    let text = valid_text(text)?;
    let version = db::charter::current_charter_version(&state.db)
        .await?
        .unwrap_or(0)
        + 1;
    let model = db::entities::charter::Model {
        version,
        text,
        published_by: published_by.to_owned(),
        published_at: state.now_ms(),
    };
    let model = match db::charter::insert_charter(&state.db, model).await {
        Ok(model) => model,
        Err(err) if is_duplicate(&err) => return Err(ApiError::Conflict("version_exists")),
        Err(err) => return Err(err.into()),
    };
    state
        .record(
            actor,
            "charter_published",
            None,
            Outcome::Success,
            json!({ "version": version, "bytes": model.text.len() }),
        )
        .await?;
    // Nobody has accepted the new version yet: no live frame reaches anyone until they
    // do, on any node (the closures go through the access feed).
    let memberships = db::members::all(&state.db).await?;
    let users: BTreeSet<String> = memberships.iter().map(|m| m.user_id.clone()).collect();
    exclusion::close_channels(
        state,
        memberships
            .into_iter()
            .map(|m| (m.user_id, m.channel_id))
            .collect(),
        AccessReason::GateClosed,
    )
    .await?;
    let frame = frame_text(&ServerFrame::CharterRequired {
        version: version_of(version),
    })?;
    for user_id in users {
        state.bus.publish(BusEvent::User {
            user_id,
            frame: frame.clone(),
        });
    }
    Ok(CharterVersion {
        version: version_of(model.version),
        text: model.text,
        published_at: model.published_at,
    })
}

/// The number of the charter version in force, if any.
pub async fn current_charter_version(state: &AppState) -> Result<Option<u64>> {
    Ok(db::charter::current_charter_version(&state.db)
        .await?
        .map(version_of))
}

/// `POST /api/v1/admin/charters`: the admin publishes a new version.
pub async fn publish_charter_as(
    state: &AppState,
    user: &CurrentUser,
    text: &str,
) -> Result<CharterVersion> {
    user.require(state, Capability::PublishCharter, "charter_publish")
        .await?;
    publish_charter(state, user.actor(), &user.user_id, text).await
}

/// The current charter and where the caller stands, with the rules they must still accept.
pub async fn charter_status(state: &AppState, user: &CurrentUser) -> Result<CharterStatus> {
    let current = db::charter::current_charter(&state.db).await?;
    let accepted = db::charter::latest_charter_acceptance(&state.db, &user.user_id).await?;
    let mut pending: BTreeMap<String, Option<u64>> = BTreeMap::new();
    for model in db::channels::of_user(&state.db, &user.user_id).await? {
        let kind = ChannelKind::parse(&model.kind);
        if Lifecycle::parse(&model.status) == Lifecycle::Gone
            || !kind.is_some_and(policy::rules_apply)
        {
            continue;
        }
        let owner = rules_owner(&model).to_owned();
        if pending.contains_key(&owner) {
            continue;
        }
        match db::charter::current_rules_version(&state.db, &owner).await? {
            None => {
                pending.insert(owner, None);
            }
            Some(version) => {
                if !db::charter::rules_accepted(&state.db, &owner, &user.user_id, version).await? {
                    pending.insert(owner, Some(version_of(version)));
                }
            }
        }
    }
    Ok(CharterStatus {
        current: current.map(|c| CharterVersion {
            version: version_of(c.version),
            text: c.text,
            published_at: c.published_at,
        }),
        accepted_version: accepted.as_ref().map(|a| version_of(a.version)),
        accepted_at: accepted.map(|a| a.accepted_at),
        pending_rules: pending
            .into_iter()
            .map(|(channel_id, version)| PendingRules {
                channel_id: channel_id.into(),
                version,
            })
            .collect(),
    })
}

/// Reopens the channels of `user_id` that the gate now lets them read: their connections
/// receive them again, with a `channel` frame so that they catch up with `sync`.
async fn reopen(state: &AppState, user_id: &str, channels: Vec<channel::Model>) -> Result<()> {
    let Some(account) = db::accounts::find_user(&state.db, user_id).await? else {
        return Ok(());
    };
    for model in channels {
        if Lifecycle::parse(&model.status) == Lifecycle::Gone {
            continue;
        }
        if subscribe_if_open(state, &account, &model).await? {
            let institutions = db::channels::institutions_of(&state.db, &model.id).await?;
            state.bus.publish(BusEvent::User {
                user_id: user_id.to_owned(),
                frame: frame_text(&ServerFrame::Channel(channel_of(&model, institutions)?))?,
            });
        }
    }
    Ok(())
}

/// Records that the caller accepted charter `version`, which must be the current one.
pub async fn accept_charter(state: &AppState, user: &CurrentUser, version: u64) -> Result<()> {
    let Some(current) = db::charter::current_charter_version(&state.db).await? else {
        return Err(ApiError::Unprocessable("no_charter"));
    };
    if i64::try_from(version).ok() != Some(current) {
        state
            .record_denial(
                user.actor(),
                "charter_accept",
                None,
                json!({ "reason": "version_outdated", "version": version, "current": current }),
            )
            .await;
        return Err(ApiError::Conflict("version_outdated"));
    }
    let now = state.now_ms();
    let recorded = db::charter::insert_charter_acceptance(
        &state.db,
        db::entities::charter_acceptance::Model {
            user_id: user.user_id.clone(),
            version: current,
            accepted_at: now,
        },
    )
    .await?;
    if recorded {
        reports::count(state, reports::Counted::Acceptance).await?;
        state
            .record(
                user.actor(),
                "charter_accepted",
                None,
                Outcome::Success,
                json!({ "version": current }),
            )
            .await?;
    }
    let channels = db::channels::of_user(&state.db, &user.user_id).await?;
    reopen(state, &user.user_id, channels).await
}

/// The channel the rules of `channel_id` belong to, for a member; direct conversations
/// have none.
async fn owner_for_member(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    action: &'static str,
) -> Result<(channel::Model, Option<String>)> {
    let (channel, _) = member_channel(state, user, channel_id, action).await?;
    let applies = ChannelKind::parse(&channel.kind).is_some_and(policy::rules_apply);
    let owner = applies.then(|| rules_owner(&channel).to_owned());
    Ok((channel, owner))
}

fn rules_view(model: db::entities::channel_rules::Model) -> RulesVersion {
    RulesVersion {
        channel_id: model.channel_id.into(),
        version: version_of(model.version),
        text: model.text,
        published_by: model.published_by.into(),
        published_at: model.published_at,
    }
}

/// Publishes a new version of a working group's internal rules (its coordinators) and
/// closes the group, and the cases and sessions that follow its rules, to every member
/// until they accept it.
pub async fn publish_rules(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    text: &str,
) -> Result<RulesVersion> {
    let (channel, owner) = owner_for_member(state, user, channel_id, "rules_publish").await?;
    coordinators::require(state, user, &channel, "rules_publish").await?;
    let Some(owner) = owner else {
        return Err(ApiError::Unprocessable("invalid_channel"));
    };
    if owner != channel.id {
        return Err(ApiError::Unprocessable("rules_inherited"));
    }
    if Lifecycle::parse(&channel.status) != Lifecycle::Active {
        return Err(ApiError::Blocked(Refusal::ChannelClosed));
    }
    let text = valid_text(text)?;
    let version = db::charter::current_rules_version(&state.db, &owner)
        .await?
        .unwrap_or(0)
        + 1;
    let model = db::entities::channel_rules::Model {
        channel_id: owner.clone(),
        version,
        text,
        published_by: user.user_id.clone(),
        published_at: state.now_ms(),
    };
    let model = match db::charter::insert_rules(&state.db, model).await {
        Ok(model) => model,
        Err(err) if is_duplicate(&err) => return Err(ApiError::Conflict("version_exists")),
        Err(err) => return Err(err.into()),
    };
    state
        .record(
            user.actor(),
            "rules_published",
            Some(owner.clone()),
            Outcome::Success,
            json!({ "version": version, "bytes": model.text.len() }),
        )
        .await?;
    let mut affected = vec![channel];
    affected.extend(db::channels::following_rules_of(&state.db, &owner).await?);
    let mut closures = Vec::new();
    let mut notices = Vec::new();
    for model in &affected {
        let frame = frame_text(&ServerFrame::RulesRequired {
            channel_id: model.id.clone().into(),
            version: version_of(version),
        })?;
        for member in db::members::of_channel(&state.db, &model.id).await? {
            closures.push((member.user_id.clone(), model.id.clone()));
            notices.push((member.user_id, frame.clone()));
        }
    }
    exclusion::close_channels(state, closures, AccessReason::GateClosed).await?;
    for (user_id, frame) in notices {
        state.bus.publish(BusEvent::User { user_id, frame });
    }
    Ok(rules_view(model))
}

/// The rules in force for a channel and where the caller stands (members; readable
/// before acceptance, obviously).
pub async fn rules_status(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
) -> Result<RulesStatus> {
    let (_, owner) = owner_for_member(state, user, channel_id, "rules_read").await?;
    let Some(owner) = owner else {
        return Ok(RulesStatus {
            channel_id: channel_id.into(),
            required: false,
            owner_channel_id: None,
            current: None,
            accepted_version: None,
            accepted_at: None,
        });
    };
    let current = db::charter::current_rules(&state.db, &owner).await?;
    let accepted = db::charter::latest_rules_acceptance(&state.db, &owner, &user.user_id).await?;
    Ok(RulesStatus {
        channel_id: channel_id.into(),
        required: true,
        owner_channel_id: Some(owner.into()),
        current: current.map(rules_view),
        accepted_version: accepted.as_ref().map(|a| version_of(a.version)),
        accepted_at: accepted.map(|a| a.accepted_at),
    })
}

/// Records that the caller accepted `version` of the rules that apply to `channel_id`
/// (it must be the current one) and reopens the channels that follow them.
pub async fn accept_rules(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    version: u64,
) -> Result<()> {
    let (_, owner) = owner_for_member(state, user, channel_id, "rules_accept").await?;
    let Some(owner) = owner else {
        return Err(ApiError::Unprocessable("invalid_channel"));
    };
    let Some(current) = db::charter::current_rules_version(&state.db, &owner).await? else {
        return Err(ApiError::Unprocessable("no_rules"));
    };
    if i64::try_from(version).ok() != Some(current) {
        state
            .record_denial(
                user.actor(),
                "rules_accept",
                Some(owner.clone()),
                json!({ "reason": "version_outdated", "version": version, "current": current }),
            )
            .await;
        return Err(ApiError::Conflict("version_outdated"));
    }
    let recorded = db::charter::insert_rules_acceptance(
        &state.db,
        db::entities::rules_acceptance::Model {
            channel_id: owner.clone(),
            user_id: user.user_id.clone(),
            version: current,
            accepted_at: state.now_ms(),
        },
    )
    .await?;
    if recorded {
        reports::count(state, reports::Counted::Acceptance).await?;
        state
            .record(
                user.actor(),
                "rules_accepted",
                Some(owner.clone()),
                Outcome::Success,
                json!({ "version": current, "via": channel_id }),
            )
            .await?;
    }
    let mine: BTreeSet<String> = db::members::of_user(&state.db, &user.user_id)
        .await?
        .into_iter()
        .map(|m| m.channel_id)
        .collect();
    let mut channels = Vec::new();
    if let Some(group) = db::channels::find(&state.db, &owner).await? {
        channels.push(group);
    }
    channels.extend(db::channels::following_rules_of(&state.db, &owner).await?);
    channels.retain(|c| mine.contains(&c.id));
    reopen(state, &user.user_id, channels).await
}
