//! The coordinators a working group names among its members (CHARTER.md C1): listing and
//! naming them. What they may do once named is decided in [`crate::app::coordinators`].

use passerelle_shared::ids::UserId;
use passerelle_shared::protocol::v1::channels::{
    ChannelKind, ChannelRole, GroupCoordinator, GroupCoordinators, SetGroupCoordinators,
    MAX_GROUP_COORDINATORS,
};
use passerelle_shared::protocol::v1::Role;
use serde_json::json;

use crate::app::channels::announce_membership;
use crate::app::channels::membership_log::{self, Expected};
use crate::app::{case_identity, coordinators::coordinates};
use crate::audit::Outcome;
use crate::auth::CurrentUser;
use crate::db::membership_events::NewEvent;
use crate::db::{self, entities::channel, entities::group_coordinator};
use crate::error::{ApiError, Result};
use crate::gate::member_channel;
use crate::policy::{self, Capability, Lifecycle, Refusal};
use crate::state::AppState;

/// The working group `group_id`, for a member of it or an admin; anyone else is told it
/// does not exist.
async fn group_for(
    state: &AppState,
    user: &CurrentUser,
    group_id: &str,
    action: &'static str,
) -> Result<channel::Model> {
    let group = if policy::role_can(user.role, Capability::ManageAccounts) {
        db::channels::find(&state.db, group_id)
            .await?
            .filter(|c| Lifecycle::parse(&c.status) != Lifecycle::Gone)
    } else {
        Some(member_channel(state, user, group_id, action).await?.0)
    };
    match group {
        Some(group) if group.kind == ChannelKind::WorkingGroup.as_str() => Ok(group),
        _ => {
            state
                .record_denial(
                    user.actor(),
                    action,
                    Some(group_id.to_owned()),
                    json!({ "reason": "not_a_working_group" }),
                )
                .await;
            Err(ApiError::NotFound)
        }
    }
}

/// Whether the caller may change a group's coordinators: an admin, or a coordinator of
/// the group (by role or named).
async fn may_edit(state: &AppState, user: &CurrentUser, group: &channel::Model) -> Result<bool> {
    Ok(policy::role_can(user.role, Capability::ManageAccounts)
        || coordinates(state, &user.user_id, user.role, group).await?)
}

/// # Listing
///
/// A group's named coordinators, for its members and the admin.
pub async fn list(
    state: &AppState,
    user: &CurrentUser,
    group_id: &str,
) -> Result<GroupCoordinators> {
    let group = group_for(state, user, group_id, "group_coordinators_read").await?;
    view(state, user, &group).await
}

async fn view(
    state: &AppState,
    user: &CurrentUser,
    group: &channel::Model,
) -> Result<GroupCoordinators> {
    let ids: Vec<String> = db::group_coordinators::of_group(&state.db, &group.id)
        .await?
        .into_iter()
        .map(|c| c.user_id)
        .collect();
    let mut coordinators: Vec<GroupCoordinator> = db::accounts::accounts_many(&state.db, &ids)
        .await?
        .into_iter()
        .map(|u| GroupCoordinator {
            user_id: u.id.into(),
            display_name: u.display_name,
        })
        .collect();
    coordinators.sort_by(|a, b| a.display_name.cmp(&b.display_name));
    Ok(GroupCoordinators {
        group_id: group.id.clone().into(),
        coordinators,
        can_edit: may_edit(state, user, group).await?,
    })
}

/// Checks and appends one `role_changed` record per change, in order (§22); none missing,
/// none more.
async fn signed_changes(
    txn: &impl sea_orm::ConnectionTrait,
    user: &CurrentUser,
    group: &channel::Model,
    changes: &[(&String, ChannelRole)],
    records: &[passerelle_shared::crypto::MembershipRecord],
    now: i64,
) -> Result<()> {
    if records.len() != changes.len() {
        return Err(if records.is_empty() {
            ApiError::Unprocessable("membership_record_required")
        } else {
            ApiError::Unprocessable("invalid_membership_record")
        });
    }
    for ((member, role), record) in changes.iter().zip(records) {
        let expected = Expected::RoleChanged(member.as_str(), role.as_str());
        membership_log::check_and_append(txn, user, group, record, expected, now).await?;
    }
    Ok(())
}

/// # Naming
///
/// An admin or a coordinator of the group replaces the list of its coordinators; each
/// must be a member of the group who may coordinate (not an external participant).
pub async fn set(
    state: &AppState,
    user: &CurrentUser,
    group_id: &str,
    request: SetGroupCoordinators,
) -> Result<GroupCoordinators> {
    const ACTION: &str = "group_coordinators_set";
    let group = group_for(state, user, group_id, ACTION).await?;
    if !may_edit(state, user, &group).await? {
        state
            .record_denial(
                user.actor(),
                ACTION,
                Some(group.id.clone()),
                json!({ "reason": Refusal::NotCoordinator.code() }),
            )
            .await;
        return Err(ApiError::Blocked(Refusal::NotCoordinator));
    }
    let records = request.records;
    let mut ids: Vec<String> = request
        .user_ids
        .into_iter()
        .map(UserId::into_string)
        .collect();
    ids.sort();
    ids.dedup();
    let refuse = |reason: &'static str| async move {
        state
            .record_denial(
                user.actor(),
                ACTION,
                Some(group_id.to_owned()),
                json!({ "reason": reason }),
            )
            .await;
        ApiError::Unprocessable(reason)
    };
    if ids.len() > MAX_GROUP_COORDINATORS {
        return Err(refuse("too_many_coordinators").await);
    }
    let accounts = db::accounts::accounts_many(&state.db, &ids).await?;
    for id in &ids {
        let member = db::members::find(&state.db, &group.id, id).await?.is_some();
        let eligible = accounts.iter().any(|a| {
            &a.id == id
                && !a.disabled
                && Role::parse(&a.role).is_some_and(|role| policy::coordinates(role, true))
        });
        if !member || !eligible {
            return Err(refuse("invalid_coordinator").await);
        }
    }
    let now = state.now_ms();
    let rows = ids
        .iter()
        .map(|id| group_coordinator::Model {
            group_id: group.id.clone(),
            user_id: id.clone(),
            named_by: user.user_id.clone(),
            named_at: now,
        })
        .collect();
    let txn = db::begin_write(&state.db).await?;
    let before: Vec<String> = db::group_coordinators::of_group(&txn, &group.id)
        .await?
        .into_iter()
        .map(|row| row.user_id)
        .collect();
    db::group_coordinators::replace(&txn, &group.id, rows).await?;
    // Each coordinator named or no longer named is a role change in the group's history.
    let mut events = Vec::new();
    let mut unnamed: Vec<&String> = before.iter().filter(|id| !ids.contains(id)).collect();
    unnamed.sort();
    let changes: Vec<(&String, ChannelRole)> = ids
        .iter()
        .filter(|id| !before.contains(id))
        .map(|id| (id, ChannelRole::Coordinator))
        .chain(unnamed.into_iter().map(|id| (id, ChannelRole::Member)))
        .collect();
    // Once the group has a signed log, each change is a `role_changed` record signed by
    // the caller (§22), so that a coordinator named now signs changes clients accept. An
    // admin, who is no member and holds no key of the group, names them on the server's
    // word only (PROTOCOL.md §22.6).
    let member = db::members::find(&txn, &group.id, &user.user_id)
        .await?
        .is_some();
    let logged = db::membership_log::exists(&txn, &group.id).await?;
    let checked = if !records.is_empty() || (logged && member && !changes.is_empty()) {
        signed_changes(&txn, user, &group, &changes, &records, now).await
    } else {
        Ok(())
    };
    if let Err(error) = checked {
        drop(txn);
        membership_log::refused(state, user, &group.id, ACTION, &error).await;
        return Err(error);
    }
    for (member, role) in changes {
        let event = NewEvent {
            channel_id: &group.id,
            change: "role_changed",
            member_id: member,
            actor_id: Some(&user.user_id),
            reason: None,
            role: Some(role.as_str()),
            device_id: None,
        };
        events.push(db::membership_events::append(&txn, event, now).await?);
    }
    txn.commit().await?;
    for event in events {
        announce_membership(state, &group, event).await?;
    }
    // Whoever is no longer named loses, at once, the identities of the group's cases (C7).
    for case in db::channels::following_rules_of(&state.db, &group.id).await? {
        if let Some(record) = db::cases::find_case(&state.db, &case.id).await? {
            case_identity::drop_former_readers(state, &case, &record).await?;
        }
    }
    state
        .record(
            user.actor(),
            "group_coordinators_named",
            Some(group.id.clone()),
            Outcome::Success,
            json!({ "coordinators": ids }),
        )
        .await?;
    view(state, user, &group).await
}
