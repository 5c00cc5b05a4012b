//! Practice-analysis sessions (*analyse de pratiques*, CHARTER.md C9): a facilitator,
//! participants from several institutions, a start and an end; writable only between
//! the two, readable afterwards, destroyed a few days after the end, never linked to a
//! case (their optional group must be a working group).

use passerelle_shared::protocol::v1::cases::{CreatePracticeSession, PracticeSession};
use passerelle_shared::protocol::v1::channels::{ChannelKind, LegalRegime};

use crate::app::channels::{channel_of, create_decided, open_channel, NewChannel};
use crate::app::coordinators;
use crate::auth::CurrentUser;
use crate::db;
use crate::error::{ApiError, Result};
use crate::policy::Access;
use crate::state::AppState;

/// Longest session.
const MAX_DURATION_MS: i64 = 7 * 24 * 3_600_000;

/// The rule shown to participants (the web client also warns before a likely name, birth
/// date, phone number or address is sent).
pub fn rule(days_kept: u32) -> String {
    format!(
        "Séance d'analyse de pratiques : les situations sont évoquées sans jamais nommer \
         personne. N'écrivez ni nom, ni prénom, ni date de naissance, ni adresse, ni numéro \
         de téléphone, ni aucun détail qui permettrait de reconnaître une personne. La séance \
         passe en lecture seule à son terme et elle est détruite {days_kept} jours plus tard."
    )
}

/// Opens a session (coordinators): the facilitator is its creator.
pub async fn create(
    state: &AppState,
    user: &CurrentUser,
    request: CreatePracticeSession,
) -> Result<PracticeSession> {
    coordinators::require_opening(
        state,
        user,
        request.group_id.as_deref(),
        "practice_session_create",
    )
    .await?;
    let now = state.now_ms();
    if request.ends_at <= request.starts_at
        || request.ends_at <= now
        || request.ends_at - request.starts_at > MAX_DURATION_MS
    {
        return Err(ApiError::Unprocessable("invalid_dates"));
    }
    let days = state.config.retention.practice_session_days;
    let spec = NewChannel {
        kind: ChannelKind::PracticeSession,
        name: request.name,
        regime: LegalRegime::ClspdConfidential,
        institutions: request.institutions.into_iter().map(Into::into).collect(),
        members: request.members.into_iter().map(Into::into).collect(),
        group_id: request.group_id.map(Into::into),
        starts_at: Some(request.starts_at),
        ends_at: Some(request.ends_at),
        destroy_by: Some(request.ends_at + i64::from(days) * 24 * 3_600_000),
    };
    let channel = create_decided(state, user, spec, None).await?;
    Ok(PracticeSession {
        channel,
        facilitator: user.user_id.clone().into(),
        rule: rule(days),
    })
}

/// A session, for its participants.
pub async fn get(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
) -> Result<PracticeSession> {
    let (model, _) = open_channel(
        state,
        user,
        channel_id,
        "practice_session_read",
        Access::Read,
    )
    .await?;
    if model.kind != ChannelKind::PracticeSession.as_str() {
        return Err(ApiError::NotFound);
    }
    let institutions = db::channels::institutions_of(&state.db, channel_id).await?;
    Ok(PracticeSession {
        facilitator: model.created_by.clone().into(),
        channel: channel_of(&model, institutions)?,
        rule: rule(state.config.retention.practice_session_days),
    })
}
