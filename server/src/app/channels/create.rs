//! Creating a channel of any kind with its first members (CHARTER.md C1, C5, C6), and a
//! case's record in the same transaction.

use std::collections::BTreeSet;

use passerelle_shared::protocol::v1::channels::{Channel, ChannelKind, CreateChannel, LegalRegime};
use passerelle_shared::protocol::v1::ws::ServerFrame;
use serde_json::json;

use crate::app::reports;
use crate::audit::Outcome;
use crate::auth::CurrentUser;
use crate::bus::BusEvent;
use crate::db::membership_events::NewEvent;
use crate::db::{self, entities::case_file, entities::channel, entities::channel_member};
use crate::error::{ApiError, Result};
use crate::gate::{self};
use crate::policy::Capability;
use crate::state::AppState;

use super::{channel_of, frame_text, join_refusal};

/// A random reference: readable, unguessable (60 bits), never a name (CHARTER.md C7):
/// `DOS-…` for a case, `SEA-…` for a practice session (whose title is sealed, §24).
pub(super) fn reference(state: &AppState, prefix: &str) -> Result<String> {
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
    Ok(format!("{prefix}-{}", groups.join("-")))
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
        institutions: request.institutions.into_iter().map(Into::into).collect(),
        members: request.members.into_iter().map(Into::into).collect(),
        group_id: None,
        starts_at: None,
        ends_at: None,
        destroy_by: None,
    };
    let capability = if spec.kind == ChannelKind::Direct {
        Capability::BrowseDirectory
    } else {
        Capability::CreateChannels
    };
    user.require(state, capability, "channel_create").await?;
    create_decided(state, user, spec, None).await
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
    let member = db::members::find(&state.db, group_id, &user.user_id)
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
/// transaction, once its creation by `user` was decided: by their role (`POST /channels`,
/// a case or a session opened by a coordinator), by their being named a coordinator of the group a case or a session
/// follows (`coordinators::require_opening`), or by the referral workflow (`policy::referral_allows`), where a
/// professional of the target institution accepting a referral opens its case. Every
/// person is still checked against the regime and the allow-list.
pub(crate) async fn create_decided(
    state: &AppState,
    user: &CurrentUser,
    request: NewChannel,
    case: Option<case_file::Model>,
) -> Result<Channel> {
    let direct = request.kind == ChannelKind::Direct;
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
            return Err(ApiError::About(
                Box::new(ApiError::Unprocessable(reason)),
                person.id.clone(),
            ));
        }
    }
    let name = match request.kind {
        ChannelKind::Case => reference(state, "DOS")?,
        ChannelKind::Direct => String::new(),
        // A session's title is sealed by the client after creation (§24): a title in
        // clear is refused, and the session is shown by its reference.
        ChannelKind::PracticeSession => {
            if !request.name.trim().is_empty() {
                state
                    .record_denial(
                        user.actor(),
                        "channel_create",
                        None,
                        json!({ "reason": "title_must_be_sealed" }),
                    )
                    .await;
                return Err(ApiError::Unprocessable("title_must_be_sealed"));
            }
            reference(state, "SEA")?
        }
        _ => {
            let name = request.name.trim().chars().take(120).collect::<String>();
            if name.is_empty() {
                return Err(ApiError::Unprocessable("invalid_name"));
            }
            // A working group's name is an institutional name, kept in clear for the
            // admin and the annual report: it must not name anyone (C7–C9, §24).
            let found = passerelle_shared::privacy::identifying_data(&name);
            if !found.is_empty() {
                let kinds: Vec<&str> = found.iter().map(|kind| kind.as_str()).collect();
                state
                    .record_denial(
                        user.actor(),
                        "channel_create",
                        None,
                        json!({ "reason": "personal_data", "found": kinds }),
                    )
                    .await;
                return Err(ApiError::PersonalData(found));
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
        title: None,
        title_by: None,
    };
    let txn = db::begin_write(&state.db).await?;
    let channel = db::channels::insert(&txn, model, &institutions).await?;
    if let Some(mut case) = case {
        case.channel_id = channel.id.clone();
        db::cases::insert_case(&txn, case).await?;
    }
    for person in std::iter::once(&creator).chain(&candidates) {
        db::members::insert(
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
        // The creator's own row says who created the channel; the others', who added them.
        let change = if person.id == creator.id {
            "created"
        } else {
            "added"
        };
        db::membership_events::append(
            &txn,
            NewEvent {
                channel_id: &channel.id,
                change,
                member_id: &person.id,
                actor_id: Some(&user.user_id),
                reason: None,
                role: None,
                device_id: None,
            },
            now,
        )
        .await?;
    }
    txn.commit().await?;
    if let Some(event) = reports::Counted::channel_created(&channel.kind) {
        reports::count(state, event).await?;
    }
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
