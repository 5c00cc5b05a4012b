//! Who may be added, adding and removing members (CHARTER.md C3, C5, C6); each change is
//! stored in the channel's membership history and announced ([`super::membership`]).

use passerelle_shared::crypto::MembershipRecord;
use passerelle_shared::protocol::v1::auth::InstitutionRef;
use passerelle_shared::protocol::v1::channels::{ChannelKind, DirectoryEntry, LegalRegime};
use passerelle_shared::protocol::v1::Role;
use serde_json::json;

use crate::app::exclusion::{self, Exclusion};
use crate::app::reports;
use crate::app::{case_identity, coordinators};
use crate::audit::Outcome;
use crate::auth::CurrentUser;
use crate::bus::AccessReason;
use crate::db::{self, entities::channel, entities::channel_member, membership_events::NewEvent};
use crate::error::{ApiError, Result};
use crate::policy::{self, Access, Capability};
use crate::state::AppState;

use super::membership_log::{check_and_append, refused, Expected};
use super::{announce_membership, join_refusal, member_channel, open_channel};

/// The colleagues who can be added to a channel, by institution then name. External
/// participants may not browse it (CHARTER.md C6); each reading is logged.
pub async fn directory(state: &AppState, user: &CurrentUser) -> Result<Vec<DirectoryEntry>> {
    user.require(state, Capability::BrowseDirectory, "directory_read")
        .await?;
    let institutions: std::collections::HashMap<String, String> =
        db::accounts::list_institutions(&state.db)
            .await?
            .into_iter()
            .map(|i| (i.id, i.name))
            .collect();
    let mut entries: Vec<DirectoryEntry> = db::accounts::list_users(&state.db)
        .await?
        .into_iter()
        .filter(|account| {
            !account.disabled
                && Role::parse(&account.role)
                    .is_some_and(|role| policy::role_can(role, Capability::UseChannels))
        })
        .map(|account| DirectoryEntry {
            institution: InstitutionRef {
                name: institutions
                    .get(&account.institution_id)
                    .cloned()
                    .unwrap_or_default(),
                id: account.institution_id.into(),
            },
            role: Role::parse(&account.role).unwrap_or(Role::Member),
            user_id: account.id.into(),
            display_name: account.display_name,
            bound_by_professional_secrecy: account.bound_by_professional_secrecy,
            social_action_professional: account.social_action_professional,
        })
        .collect();
    entries.sort_by(|a, b| {
        (&a.institution.name, &a.display_name).cmp(&(&b.institution.name, &b.display_name))
    });
    state
        .record(
            user.actor(),
            "directory_read",
            None,
            Outcome::Success,
            json!({ "count": entries.len() }),
        )
        .await?;
    Ok(entries)
}

/// Adds a member (coordinators who belong to the channel). They receive keys from the
/// next epoch on, not the history before (need-to-know).
pub async fn add_member(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    new_member: &str,
    record: Option<&MembershipRecord>,
) -> Result<()> {
    let (channel, _) = open_channel(state, user, channel_id, "member_add", Access::Write).await?;
    coordinators::require(state, user, &channel, "member_add").await?;
    if channel.kind == ChannelKind::Direct.as_str() {
        return Err(ApiError::Unprocessable("invalid_channel"));
    }
    let candidate = db::accounts::find_user(&state.db, new_member)
        .await?
        .ok_or(ApiError::Unprocessable("role_cannot_join"))?;
    let institutions = db::channels::institutions_of(&state.db, channel_id).await?;
    let regime = LegalRegime::parse(&channel.regime)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("bad regime")))?;
    if let Some(reason) = join_refusal(&candidate, regime, &institutions) {
        state
            .record_denial(
                user.actor(),
                "member_add",
                Some(channel_id.to_owned()),
                json!({ "reason": reason, "candidate": candidate.id }),
            )
            .await;
        return Err(ApiError::Unprocessable(reason));
    }
    if db::members::find(&state.db, channel_id, &candidate.id)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict("already_member"));
    }
    let txn = db::begin_write(&state.db).await?;
    let channel = db::channels::find(&txn, channel_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    db::members::insert(
        &txn,
        channel_member::Model {
            channel_id: channel_id.to_owned(),
            user_id: candidate.id.clone(),
            added_by: user.user_id.clone(),
            added_at: state.now_ms(),
            joined_seq: channel.last_seq,
            joined_epoch: channel.epoch + 1,
            read_seq: channel.last_seq,
        },
    )
    .await?;
    db::channels::require_rotation(&txn, vec![channel_id.to_owned()]).await?;
    // The signed record of the addition, required once the channel has a log (§22).
    let logged = match record {
        Some(record) => Some(
            check_and_append(
                &txn,
                user,
                &channel,
                record,
                Expected::Added(&candidate.id),
                state.now_ms(),
            )
            .await,
        ),
        None if db::membership_log::exists(&txn, channel_id).await? => {
            Some(Err(ApiError::Unprocessable("membership_record_required")))
        }
        None => None,
    };
    if let Some(Err(error)) = logged {
        drop(txn);
        refused(state, user, channel_id, "member_add", &error).await;
        return Err(error);
    }
    let event = db::membership_events::append(
        &txn,
        NewEvent {
            channel_id,
            change: "added",
            member_id: &candidate.id,
            actor_id: Some(&user.user_id),
            reason: None,
            role: None,
            device_id: None,
        },
        state.now_ms(),
    )
    .await?;
    txn.commit().await?;
    state
        .record(
            user.actor(),
            "member_added",
            Some(channel_id.to_owned()),
            Outcome::Success,
            json!({ "member": candidate.id, "log_seq": logged.and_then(|r| r.ok()) }),
        )
        .await?;
    announce_membership(state, &channel, event).await
}

/// Removes a member, effective at once (CHARTER.md C3): their connections stop receiving
/// the channel, their sends are refused, and the next message needs a new epoch.
pub async fn remove_member(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    member: &str,
    reason: &str,
    record: Option<&MembershipRecord>,
) -> Result<()> {
    let leaving = member == user.user_id;
    let (channel, _) = member_channel(state, user, channel_id, "member_remove").await?;
    if !leaving {
        coordinators::require(state, user, &channel, "member_remove").await?;
    }
    let reason = reason.trim().chars().take(500).collect::<String>();
    if !leaving && reason.is_empty() {
        return Err(ApiError::Unprocessable("reason_required"));
    }
    let expected = || {
        if leaving {
            Expected::Left
        } else {
            Expected::Removed(member)
        }
    };
    if let Some(record) = record {
        // Checked before the removal (and rolled back), appended after it commits.
        let txn = db::begin_write(&state.db).await?;
        let checked =
            check_and_append(&txn, user, &channel, record, expected(), state.now_ms()).await;
        drop(txn);
        if let Err(error) = checked {
            refused(state, user, channel_id, "member_remove", &error).await;
            return Err(error);
        }
    } else if leaving && db::membership_log::exists(&state.db, channel_id).await? {
        // A departure is signed by the leaver once the channel has a log (§22), so that
        // the log's member set follows who left.
        let error = ApiError::Unprocessable("membership_record_required");
        refused(state, user, channel_id, "member_remove", &error).await;
        return Err(error);
    }
    let removed = exclusion::exclude(
        state,
        Exclusion::LeaveChannels {
            user_id: member.to_owned(),
            channel_ids: vec![channel_id.to_owned()],
            reason: if leaving {
                AccessReason::MemberLeft
            } else {
                AccessReason::MemberRemoved
            },
            by: Some(user.user_id.clone()),
        },
    )
    .await?;
    if !removed.changed {
        state
            .record_denial(
                user.actor(),
                "member_remove",
                Some(channel_id.to_owned()),
                json!({ "reason": "not_a_member", "member": member }),
            )
            .await;
        return Err(ApiError::NotFound);
    }
    forget_duties(state, &channel, member).await?;
    let mut log_seq = None;
    if let Some(record) = record {
        let txn = db::begin_write(&state.db).await?;
        log_seq =
            Some(check_and_append(&txn, user, &channel, record, expected(), state.now_ms()).await?);
        txn.commit().await?;
    }
    let action = if leaving {
        "member_left"
    } else {
        reports::count(state, reports::Counted::Exclusion).await?;
        "member_removed"
    };
    state
        .record(
            user.actor(),
            action,
            Some(channel_id.to_owned()),
            Outcome::Success,
            json!({ "member": member, "reason": reason, "log_seq": log_seq }),
        )
        .await?;
    for event in removed.membership_events {
        announce_membership(state, &channel, event).await?;
    }
    Ok(())
}

/// What someone who left a channel no longer holds there: a group's coordinator duty, and
/// a case identity's keys if they are no longer one of its readers (CHARTER.md C1, C7).
async fn forget_duties(state: &AppState, channel: &channel::Model, member: &str) -> Result<()> {
    let mut cases = vec![channel.clone()];
    if channel.kind == ChannelKind::WorkingGroup.as_str() {
        db::group_coordinators::remove(&state.db, &channel.id, member).await?;
        cases.extend(db::channels::following_rules_of(&state.db, &channel.id).await?);
    }
    for case in cases {
        if let Some(record) = db::cases::find_case(&state.db, &case.id).await? {
            case_identity::drop_former_readers(state, &case, &record).await?;
        }
    }
    Ok(())
}
