//! Who coordinates a channel (CHARTER.md C1).
//!
//! The coordinator role is global; a working group may also name some of its members as
//! its own coordinators ([`crate::app::group_coordinators`]), who then may do, for the
//! group and for the cases and practice sessions that follow it (`group_id`), what a
//! coordinator may. This module gathers the one fact the decision needs (is the person
//! named by the channel's group?) and asks [`policy::coordinates`]; every coordinator's
//! power over a channel goes through [`require`].

use passerelle_shared::protocol::v1::channels::ChannelKind;
use passerelle_shared::protocol::v1::Role;
use serde_json::json;

use crate::auth::CurrentUser;
use crate::db::{self, entities::channel};
use crate::error::{ApiError, Result};
use crate::policy::{self, Capability, Refusal};
use crate::state::AppState;

/// The working group whose coordinators coordinate `channel`: itself, or the group a case
/// or a session follows.
fn group_of(channel: &channel::Model) -> Option<&str> {
    if channel.kind == ChannelKind::WorkingGroup.as_str() {
        Some(&channel.id)
    } else {
        channel.group_id.as_deref()
    }
}

/// Whether the account `user_id` of `role` coordinates `channel`.
pub(crate) async fn coordinates(
    state: &AppState,
    user_id: &str,
    role: Role,
    channel: &channel::Model,
) -> Result<bool> {
    let named = match group_of(channel) {
        Some(group) => db::group_coordinators::is_coordinator(&state.db, group, user_id).await?,
        None => false,
    };
    Ok(policy::coordinates(role, named))
}

/// Lets the caller through if they coordinate `channel`; otherwise records the denial of
/// `action` and answers `403 not_coordinator`.
pub(crate) async fn require(
    state: &AppState,
    user: &CurrentUser,
    channel: &channel::Model,
    action: &'static str,
) -> Result<()> {
    if coordinates(state, &user.user_id, user.role, channel).await? {
        return Ok(());
    }
    state
        .record_denial(
            user.actor(),
            action,
            Some(channel.id.clone()),
            json!({ "reason": Refusal::NotCoordinator.code(), "role": user.role.as_str() }),
        )
        .await;
    Err(ApiError::Blocked(Refusal::NotCoordinator))
}

/// Lets the caller open a case or a practice session that follows `group_id`: the
/// coordinator role opens any; a working group's named coordinator, those of their own
/// group (C1), so that a group coordinated by a partner need not wait for the CLSPD's
/// coordinator. Otherwise records the denial of `action` and answers 403.
pub(crate) async fn require_opening(
    state: &AppState,
    user: &CurrentUser,
    group_id: Option<&str>,
    action: &'static str,
) -> Result<()> {
    let named = match group_id {
        Some(group) if !policy::role_can(user.role, Capability::CreateChannels) => {
            db::group_coordinators::is_coordinator(&state.db, group, &user.user_id).await?
        }
        _ => false,
    };
    if named && policy::coordinates(user.role, true) {
        return Ok(());
    }
    user.require(state, Capability::CreateChannels, action)
        .await
}
