//! Channels and membership (docs/ARCHITECTURE.md§6, CHARTER.md C1–C3, C5, C6): who may create
//! what, who may join, immediate removal, epochs and history.
//!
//! A refusal to someone who is not a member answers "not found", so that channel ids
//! reveal nothing, and is recorded in the access log. A member reads or writes only
//! through the charter gate (`open_channel`, see [`crate::app::charter`]).

use std::collections::{BTreeSet, HashSet};

use passerelle_shared::crypto::{WithheldReason, WrappedEpochKey};
use passerelle_shared::protocol::v1::auth::InstitutionRef;
use passerelle_shared::protocol::v1::channels::{
    Channel, ChannelDetail, ChannelKind, CreateChannel, DeviceKeysPage, DeviceRef, DirectoryEntry,
    EpochState, HistoryPage, LegalRegime, Member, PublishEpoch, StoredMessage, WithheldEpoch,
};
use passerelle_shared::protocol::v1::ws::ServerFrame;
use passerelle_shared::protocol::v1::Role;
use sea_orm::TransactionTrait;
use serde_json::json;

use crate::app::exclusion::{self, Exclusion};
use crate::audit::Outcome;
use crate::auth::CurrentUser;
use crate::bus::{AccessReason, BusEvent, Frame};
use crate::db::{
    self, entities::case_file, entities::channel, entities::channel_member, entities::user,
};
use crate::error::{ApiError, Result};
use crate::gate::{self, candidate_of};
use crate::policy::{self, Access, Capability, Lifecycle};
use crate::state::AppState;

/// Largest history page.
pub const MAX_PAGE: u64 = 500;

/// The channel view of a row.
pub(crate) fn channel_of(model: &channel::Model, institutions: Vec<String>) -> Result<Channel> {
    Ok(Channel {
        id: model.id.clone(),
        kind: ChannelKind::parse(&model.kind)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("bad kind")))?,
        name: model.name.clone(),
        regime: LegalRegime::parse(&model.regime)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("bad regime")))?,
        status: model.status.clone(),
        institutions,
        epoch: u64::try_from(model.epoch).unwrap_or_default(),
        last_seq: u64::try_from(model.last_seq).unwrap_or_default(),
        created_at: model.created_at,
        group_id: model.group_id.clone(),
        starts_at: model.starts_at,
        ends_at: model.ends_at,
        ended_at: model.ended_at,
        destroy_by: model.destroy_by,
    })
}

/// Serialises a frame once, for the bus.
pub(crate) fn frame_text(frame: &ServerFrame) -> Result<Frame> {
    serde_json::to_string(frame)
        .map(Frame::from)
        .map_err(ApiError::internal)
}

/// A random case reference: readable, unguessable (60 bits), never a name (CHARTER.md C7).
fn case_reference(state: &AppState) -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 12];
    state
        .secrets
        .random(&mut bytes)
        .map_err(ApiError::internal)?;
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    let groups: Vec<String> = chars.chunks(4).map(|c| c.iter().collect()).collect();
    Ok(format!("DOS-{}", groups.join("-")))
}

/// Why a person cannot join a channel, if they cannot (CHARTER.md C5).
fn join_refusal(
    candidate: &user::Model,
    regime: LegalRegime,
    institutions: &[String],
) -> Option<&'static str> {
    policy::join_refusal(&candidate_of(candidate), regime, institutions).map(policy::Refusal::code)
}

/// Loads a channel the caller belongs to, or records the denial and answers not found.
pub(crate) async fn member_channel(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    action: &'static str,
) -> Result<(channel::Model, channel_member::Model)> {
    let channel = db::channels::find(&state.db, channel_id).await?;
    let membership = db::channels::membership(&state.db, channel_id, &user.user_id).await?;
    match (channel, membership) {
        (Some(channel), Some(membership))
            if Lifecycle::parse(&channel.status) != Lifecycle::Gone =>
        {
            Ok((channel, membership))
        }
        _ => {
            state
                .record_denial(
                    user.actor(),
                    action,
                    Some(channel_id.to_owned()),
                    json!({ "reason": "not_member" }),
                )
                .await;
            Err(ApiError::NotFound)
        }
    }
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

/// Creates a working group (coordinators) or a direct conversation (any professional
/// who may browse the directory, so not external participants: CHARTER.md C6). Cases and
/// practice sessions have their own endpoints, which ask for what they need.
pub async fn create(
    state: &AppState,
    user: &CurrentUser,
    request: CreateChannel,
) -> Result<Channel> {
    if matches!(
        request.kind,
        ChannelKind::Case | ChannelKind::PracticeSession
    ) {
        user.require(state, Capability::CreateChannels, "channel_create")
            .await?;
        return Err(ApiError::Unprocessable("use_dedicated_endpoint"));
    }
    let spec = NewChannel {
        kind: request.kind,
        name: request.name,
        regime: request.regime,
        institutions: request.institutions,
        members: request.members,
        group_id: None,
        starts_at: None,
        ends_at: None,
        destroy_by: None,
    };
    create_with(state, user, spec, None).await
}

/// A channel to create, whatever its kind.
pub(crate) struct NewChannel {
    pub(crate) kind: ChannelKind,
    pub(crate) name: String,
    pub(crate) regime: LegalRegime,
    pub(crate) institutions: Vec<String>,
    pub(crate) members: Vec<String>,
    pub(crate) group_id: Option<String>,
    pub(crate) starts_at: Option<i64>,
    pub(crate) ends_at: Option<i64>,
    pub(crate) destroy_by: Option<i64>,
}

/// Checks that `group_id` is a live working group the caller belongs to: the group whose
/// internal rules a case or a session follows (never a case: CHARTER.md C9).
async fn check_group(state: &AppState, user: &CurrentUser, group_id: &str) -> Result<()> {
    let group = db::channels::find(&state.db, group_id).await?;
    let member = db::channels::membership(&state.db, group_id, &user.user_id)
        .await?
        .is_some();
    match group {
        Some(group)
            if member
                && group.kind == ChannelKind::WorkingGroup.as_str()
                && group.status == "active" =>
        {
            Ok(())
        }
        _ => {
            state
                .record_denial(
                    user.actor(),
                    "channel_create",
                    Some(group_id.to_owned()),
                    json!({ "reason": "invalid_group" }),
                )
                .await;
            Err(ApiError::Unprocessable("invalid_group"))
        }
    }
}

/// Creates a channel of any kind with its members, and a case's record in the same
/// transaction. Every person is checked against the regime and the allow-list.
pub(crate) async fn create_with(
    state: &AppState,
    user: &CurrentUser,
    request: NewChannel,
    case: Option<case_file::Model>,
) -> Result<Channel> {
    let direct = request.kind == ChannelKind::Direct;
    let capability = if direct {
        Capability::BrowseDirectory
    } else {
        Capability::CreateChannels
    };
    user.require(state, capability, "channel_create").await?;
    if let Some(group_id) = &request.group_id {
        check_group(state, user, group_id).await?;
    }
    let mut institutions: BTreeSet<String> = request.institutions.iter().cloned().collect();
    institutions.insert(user.institution_id.clone());
    let mut candidates = Vec::new();
    for id in request
        .members
        .iter()
        .filter(|id| **id != user.user_id)
        .collect::<BTreeSet<_>>()
    {
        let candidate = db::accounts::find_user(&state.db, id)
            .await?
            .ok_or(ApiError::Unprocessable("role_cannot_join"))?;
        if direct {
            institutions.insert(candidate.institution_id.clone());
        }
        candidates.push(candidate);
    }
    if direct && (candidates.len() != 1 || request.regime != LegalRegime::ClspdConfidential) {
        return Err(ApiError::Unprocessable("invalid_channel"));
    }
    for institution in &institutions {
        if db::accounts::find_institution(&state.db, institution)
            .await?
            .is_none()
        {
            return Err(ApiError::Unprocessable("unknown_institution"));
        }
    }
    let institutions: Vec<String> = institutions.into_iter().collect();
    let creator = db::accounts::find_user(&state.db, &user.user_id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    for person in std::iter::once(&creator).chain(&candidates) {
        if let Some(reason) = join_refusal(person, request.regime, &institutions) {
            state
                .record_denial(
                    user.actor(),
                    "channel_create",
                    None,
                    json!({ "reason": reason, "candidate": person.id }),
                )
                .await;
            return Err(ApiError::Unprocessable(reason));
        }
    }
    let name = match request.kind {
        ChannelKind::Case => case_reference(state)?,
        ChannelKind::Direct => String::new(),
        _ => {
            let name = request.name.trim().chars().take(120).collect::<String>();
            if name.is_empty() {
                return Err(ApiError::Unprocessable("invalid_name"));
            }
            name
        }
    };
    let now = state.now_ms();
    let model = channel::Model {
        id: uuid::Uuid::new_v4().to_string(),
        kind: request.kind.as_str().to_owned(),
        name,
        regime: request.regime.as_str().to_owned(),
        status: "active".into(),
        created_by: user.user_id.clone(),
        created_at: now,
        last_seq: 0,
        epoch: 0,
        epoch_started_at: now,
        epoch_messages: 0,
        rotation_required: true,
        group_id: request.group_id,
        starts_at: request.starts_at,
        ends_at: request.ends_at,
        ended_at: None,
        destroy_by: request.destroy_by,
        destroyed_at: None,
    };
    let txn = state.db.begin().await?;
    let channel = db::channels::insert(&txn, model, &institutions).await?;
    if let Some(mut case) = case {
        case.channel_id = channel.id.clone();
        db::cases::insert_case(&txn, case).await?;
    }
    for person in std::iter::once(&creator).chain(&candidates) {
        db::channels::add_member(
            &txn,
            channel_member::Model {
                channel_id: channel.id.clone(),
                user_id: person.id.clone(),
                added_by: user.user_id.clone(),
                added_at: now,
                joined_seq: 0,
                joined_epoch: 1,
                read_seq: 0,
            },
        )
        .await?;
    }
    txn.commit().await?;
    state
        .record(
            user.actor(),
            "channel_created",
            Some(channel.id.clone()),
            Outcome::Success,
            json!({ "kind": channel.kind, "regime": channel.regime, "members": candidates.len() + 1, "institutions": institutions }),
        )
        .await?;
    let view = channel_of(&channel, institutions)?;
    let frame = frame_text(&ServerFrame::Channel(view.clone()))?;
    for person in std::iter::once(&creator).chain(&candidates) {
        gate::subscribe_if_open(state, person, &channel).await?;
        state.bus.publish(BusEvent::User {
            user_id: person.id.clone(),
            frame: frame.clone(),
        });
    }
    Ok(view)
}

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
                id: account.institution_id,
            },
            role: Role::parse(&account.role).unwrap_or(Role::Member),
            user_id: account.id,
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

/// The caller's channels.
pub async fn list(state: &AppState, user: &CurrentUser) -> Result<Vec<Channel>> {
    let mut channels = Vec::new();
    for model in db::channels::of_user(&state.db, &user.user_id).await? {
        if Lifecycle::parse(&model.status) == Lifecycle::Gone {
            continue;
        }
        let institutions = db::channels::institutions_of(&state.db, &model.id).await?;
        channels.push(channel_of(&model, institutions)?);
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
    for row in db::channels::members(&state.db, channel_id).await? {
        let Some(account) = db::accounts::find_user(&state.db, &row.user_id).await? else {
            continue;
        };
        let institution = db::accounts::find_institution(&state.db, &account.institution_id)
            .await?
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("account without institution")))?;
        members.push(Member {
            user_id: account.id,
            display_name: account.display_name,
            institution: InstitutionRef {
                id: institution.id,
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

/// Adds a member (coordinators who belong to the channel). They receive keys from the
/// next epoch on, not the history before (need-to-know).
pub async fn add_member(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    new_member: &str,
) -> Result<()> {
    user.require(state, Capability::ManageMembers, "member_add")
        .await?;
    let (channel, _) = open_channel(state, user, channel_id, "member_add", Access::Write).await?;
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
    if db::channels::membership(&state.db, channel_id, &candidate.id)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict("already_member"));
    }
    let txn = state.db.begin().await?;
    let channel = db::channels::find(&txn, channel_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    db::channels::add_member(
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
    txn.commit().await?;
    state
        .record(
            user.actor(),
            "member_added",
            Some(channel_id.to_owned()),
            Outcome::Success,
            json!({ "member": candidate.id }),
        )
        .await?;
    announce_membership(state, &channel, &candidate.id, "added").await
}

/// Removes a member, effective at once (CHARTER.md C3): their connections stop receiving
/// the channel, their sends are refused, and the next message needs a new epoch.
pub async fn remove_member(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    member: &str,
    reason: &str,
) -> Result<()> {
    let leaving = member == user.user_id;
    if !leaving {
        user.require(state, Capability::ManageMembers, "member_remove")
            .await?;
    }
    let (channel, _) = member_channel(state, user, channel_id, "member_remove").await?;
    let reason = reason.trim().chars().take(500).collect::<String>();
    if !leaving && reason.is_empty() {
        return Err(ApiError::Unprocessable("reason_required"));
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
        },
    )
    .await?
    .changed;
    if !removed {
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
    let action = if leaving {
        "member_left"
    } else {
        "member_removed"
    };
    state
        .record(
            user.actor(),
            action,
            Some(channel_id.to_owned()),
            Outcome::Success,
            json!({ "member": member, "reason": reason }),
        )
        .await?;
    announce_membership(state, &channel, member, "removed").await
}

/// Tells the channel's members (and the member concerned) who joined or left.
pub(crate) async fn announce_membership(
    state: &AppState,
    channel: &channel::Model,
    member: &str,
    change: &str,
) -> Result<()> {
    let frame = frame_text(&ServerFrame::Member {
        channel_id: channel.id.clone(),
        user_id: member.to_owned(),
        change: change.to_owned(),
    })?;
    if change == "added" {
        if let Some(account) = db::accounts::find_user(&state.db, member).await? {
            gate::subscribe_if_open(state, &account, channel).await?;
        }
        let institutions = db::channels::institutions_of(&state.db, &channel.id).await?;
        let current = db::channels::find(&state.db, &channel.id)
            .await?
            .unwrap_or_else(|| channel.clone());
        state.bus.publish(BusEvent::User {
            user_id: member.to_owned(),
            frame: frame_text(&ServerFrame::Channel(channel_of(&current, institutions)?))?,
        });
    } else {
        state.bus.publish(BusEvent::User {
            user_id: member.to_owned(),
            frame: frame.clone(),
        });
    }
    state.bus.publish(BusEvent::Channel {
        channel_id: channel.id.clone(),
        frame,
    });
    Ok(())
}

/// The devices that must receive a channel's next epoch key: every live device of
/// every current member.
pub(crate) async fn required_devices(state: &AppState, channel_id: &str) -> Result<Vec<DeviceRef>> {
    let members: Vec<String> = db::channels::members(&state.db, channel_id)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    let mut devices: Vec<DeviceRef> = db::keys::key_recipients(&state.db, members)
        .await?
        .into_iter()
        .map(|d| DeviceRef {
            user_id: d.user_id,
            device_id: d.id,
        })
        .collect();
    devices.sort();
    Ok(devices)
}

/// The epoch in force and the devices a new one must cover.
pub async fn epoch_state(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
) -> Result<EpochState> {
    let (channel, _) = open_channel(state, user, channel_id, "epoch_read", Access::Read).await?;
    Ok(EpochState {
        channel_id: channel.id.clone(),
        epoch: u64::try_from(channel.epoch).unwrap_or_default(),
        rotation_required: needs_rotation(&channel, state.now_ms()),
        devices: required_devices(state, channel_id).await?,
    })
}

/// Whether the next message needs a new epoch (membership or devices changed, 100
/// messages, or a week).
pub(crate) fn needs_rotation(channel: &channel::Model, now_ms: i64) -> bool {
    let week_ms =
        i64::try_from(passerelle_shared::crypto::MAX_EPOCH_AGE_SECONDS).unwrap_or(i64::MAX) * 1000;
    channel.rotation_required
        || channel.epoch == 0
        || u64::try_from(channel.epoch_messages).unwrap_or(u64::MAX)
            >= passerelle_shared::crypto::MAX_MESSAGES_PER_EPOCH
        || now_ms - channel.epoch_started_at >= week_ms
}

/// Publishes a new epoch's key, wrapped for exactly the current member devices and
/// signed by one of the caller's devices. The first complete set wins; a racing
/// publisher gets `epoch_conflict` and uses the winner's key.
pub async fn publish_epoch(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    request: PublishEpoch,
) -> Result<()> {
    let (channel, _) =
        open_channel(state, user, channel_id, "epoch_publish", Access::Write).await?;
    let deny = |reason: &'static str| async move {
        state
            .record_denial(
                user.actor(),
                "epoch_publish",
                Some(channel_id.to_owned()),
                json!({ "reason": reason }),
            )
            .await;
    };
    let expected_epoch = u64::try_from(channel.epoch).unwrap_or_default() + 1;
    if request.epoch != expected_epoch {
        deny("wrong_epoch").await;
        return Err(ApiError::Conflict("epoch_conflict"));
    }
    let required: HashSet<String> = required_devices(state, channel_id)
        .await?
        .into_iter()
        .map(|d| d.device_id)
        .collect();
    let covered: HashSet<String> = request
        .keys
        .iter()
        .map(|k| k.recipient_device.clone())
        .collect();
    let senders: HashSet<&str> = request
        .keys
        .iter()
        .map(|k| k.sender_device.as_str())
        .collect();
    let commitments: HashSet<[u8; 32]> = request
        .keys
        .iter()
        .map(|k| *k.commitment.as_bytes())
        .collect();
    // Devices the sender could not verify are listed, not skipped (§7.5): wraps and
    // withheld entries together cover the required devices exactly, each once.
    let withheld: HashSet<String> = request
        .withheld
        .iter()
        .map(|w| w.device_id.clone())
        .collect();
    let sender_reasons = request.withheld.iter().all(|w| {
        matches!(
            w.reason,
            WithheldReason::UnverifiedDevice | WithheldReason::RevokedDevice
        )
    });
    let well_formed = covered.is_disjoint(&withheld)
        && covered.union(&withheld).cloned().collect::<HashSet<_>>() == required
        && covered.len() == request.keys.len()
        && withheld.len() == request.withheld.len()
        && sender_reasons
        && senders.len() == 1
        && commitments.len() == 1
        && request
            .keys
            .iter()
            .all(|k| k.channel_id == channel_id && k.epoch == request.epoch);
    if !well_formed {
        deny("devices_or_fields_mismatch").await;
        return Err(ApiError::Unprocessable("invalid_epoch_keys"));
    }
    let sender_id = senders.into_iter().next().unwrap_or_default().to_owned();
    let sender = db::keys::find_device(&state.db, &sender_id)
        .await?
        .filter(|d| d.user_id == user.user_id && d.revoked_at.is_none());
    let Some(sender) = sender else {
        deny("sender_device_not_callers").await;
        return Err(ApiError::Unprocessable("invalid_epoch_keys"));
    };
    if !covered.contains(&sender_id) {
        deny("sender_device_not_covered").await;
        return Err(ApiError::Unprocessable("invalid_epoch_keys"));
    }
    let signing_key =
        passerelle_shared::crypto::DeviceSigningPublicKey::from_base64url(&sender.signing_key)
            .map_err(ApiError::internal)?;
    if request
        .keys
        .iter()
        .any(|k| k.verify_signature(&signing_key).is_err())
    {
        deny("bad_signature").await;
        return Err(ApiError::Unprocessable("invalid_epoch_keys"));
    }
    let now = state.now_ms();
    let epoch =
        i64::try_from(request.epoch).map_err(|_| ApiError::Unprocessable("invalid_epoch_keys"))?;
    let rows = request
        .keys
        .iter()
        .map(|k| {
            Ok(db::entities::epoch_key::Model {
                channel_id: channel_id.to_owned(),
                epoch,
                recipient_device: k.recipient_device.clone(),
                sender_device: k.sender_device.clone(),
                wrapped: serde_json::to_string(k).map_err(ApiError::internal)?,
                created_at: now,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let withheld_rows = request
        .withheld
        .iter()
        .map(|w| {
            Ok(db::entities::withheld_key::Model {
                channel_id: channel_id.to_owned(),
                epoch,
                device_id: w.device_id.clone(),
                reason: serde_json::to_value(w.reason)
                    .map_err(ApiError::internal)?
                    .as_str()
                    .unwrap_or("other")
                    .to_owned(),
                created_at: now,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // Takes turns with the message writer for SQLite's write lock (see `write_turn`).
    let turn = state.messages.write_turn().await;
    let txn = state.db.begin().await?;
    if !db::channels::advance_epoch(&txn, channel_id, epoch, now).await? {
        txn.rollback().await?;
        deny("lost_race").await;
        return Err(ApiError::Conflict("epoch_conflict"));
    }
    // The device set may have changed between the check above and this transaction.
    let still_required: HashSet<String> = {
        let members: Vec<String> = db::channels::members(&txn, channel_id)
            .await?
            .into_iter()
            .map(|m| m.user_id)
            .collect();
        db::keys::key_recipients(&txn, members)
            .await?
            .into_iter()
            .map(|d| d.id)
            .collect()
    };
    if still_required != covered.union(&withheld).cloned().collect() {
        txn.rollback().await?;
        deny("devices_changed").await;
        return Err(ApiError::Unprocessable("invalid_epoch_keys"));
    }
    db::channels::insert_epoch_keys(&txn, rows).await?;
    db::channels::insert_withheld(&txn, withheld_rows).await?;
    txn.commit().await?;
    drop(turn);
    state
        .record(
            user.actor(),
            "epoch_keys_distributed",
            Some(channel_id.to_owned()),
            Outcome::Success,
            json!({
                "epoch": request.epoch,
                "devices": request.keys.len(),
                "withheld": request.withheld.iter().map(|w| json!({ "device": w.device_id, "reason": w.reason })).collect::<Vec<_>>(),
                "sender_device": sender_id
            }),
        )
        .await?;
    for entry in &request.withheld {
        let frame = frame_text(&ServerFrame::KeyWithheld {
            channel_id: channel_id.to_owned(),
            epoch: request.epoch,
            reason: entry.reason,
        })?;
        state.bus.publish(BusEvent::Device {
            device_id: entry.device_id.clone(),
            frame,
        });
    }
    for key in request.keys {
        let frame = frame_text(&ServerFrame::Keys {
            channel_id: channel_id.to_owned(),
            epoch: request.epoch,
            keys: vec![key.clone()],
        })?;
        state.bus.publish(BusEvent::Device {
            device_id: key.recipient_device,
            frame,
        });
    }
    Ok(())
}

/// A device's wrapped keys of a channel, from the epoch its user joined at, and the
/// epochs whose key was withheld from it.
pub async fn device_keys(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    device_id: &str,
) -> Result<DeviceKeysPage> {
    let (_, membership) = open_channel(state, user, channel_id, "keys_read", Access::Read).await?;
    let device = db::keys::find_device(&state.db, device_id)
        .await?
        .filter(|d| d.user_id == user.user_id);
    let Some(device) = device else {
        state
            .record_denial(
                user.actor(),
                "keys_read",
                Some(channel_id.to_owned()),
                json!({ "reason": "not_own_device" }),
            )
            .await;
        return Err(ApiError::NotFound);
    };
    // A revoked device gets nothing more, not even the keys it was once given (C3).
    if device.revoked_at.is_some() {
        state
            .record_denial(
                user.actor(),
                "keys_read",
                Some(channel_id.to_owned()),
                json!({ "reason": "device_revoked", "device": device.id }),
            )
            .await;
        return Err(ApiError::Blocked(policy::Refusal::DeviceRevoked));
    }
    let keys =
        db::channels::epoch_keys_for(&state.db, channel_id, device_id, membership.joined_epoch)
            .await?
            .iter()
            .map(|row| serde_json::from_str(&row.wrapped).map_err(ApiError::internal))
            .collect::<Result<Vec<WrappedEpochKey>>>()?;
    let withheld =
        db::channels::withheld_for(&state.db, channel_id, device_id, membership.joined_epoch)
            .await?
            .into_iter()
            .map(|row| WithheldEpoch {
                epoch: u64::try_from(row.epoch).unwrap_or_default(),
                reason: serde_json::from_value(serde_json::Value::String(row.reason))
                    .unwrap_or(WithheldReason::Other),
            })
            .collect();
    Ok(DeviceKeysPage { keys, withheld })
}

/// Converts stored rows to wire messages.
pub(crate) fn stored_messages(
    rows: Vec<db::entities::message::Model>,
) -> Result<Vec<StoredMessage>> {
    rows.into_iter()
        .map(|row| {
            Ok(StoredMessage {
                channel_id: row.channel_id,
                seq: u64::try_from(row.seq).unwrap_or_default(),
                sender: row.sender_user,
                envelope: serde_json::from_str(&row.envelope).map_err(ApiError::internal)?,
                ts: row.created_at,
            })
        })
        .collect()
}

/// A page of history after `after_seq` (never before the caller joined). Recorded in
/// the access log per channel and range, not per message.
pub async fn history(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    after_seq: u64,
    limit: u64,
) -> Result<HistoryPage> {
    let (_, membership) =
        open_channel(state, user, channel_id, "history_read", Access::Read).await?;
    let limit = limit.clamp(1, MAX_PAGE);
    let after = i64::try_from(after_seq)
        .unwrap_or(i64::MAX)
        .max(membership.joined_seq);
    let mut rows = db::channels::messages_after(&state.db, channel_id, after, limit + 1).await?;
    let has_more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let messages = stored_messages(rows)?;
    state
        .record(
            user.actor(),
            "history_read",
            Some(channel_id.to_owned()),
            Outcome::Success,
            json!({
                "after_seq": after,
                "from_seq": messages.first().map(|m| m.seq),
                "to_seq": messages.last().map(|m| m.seq),
                "count": messages.len()
            }),
        )
        .await?;
    Ok(HistoryPage { messages, has_more })
}
