//! Sealed titles and notes (docs/PROTOCOL.md §24; CHARTER.md C7–C9): what a member types
//! to name a case, a practice session or a conversation, and a case's note, reach the
//! server only as envelopes sealed under the channel's epoch keys. The server checks who
//! sealed them and for what, never opens them, and shows the channel's random reference.

use passerelle_shared::crypto::{DeviceSigningPublicKey, Envelope};
use passerelle_shared::protocol::v1::channels::{Channel, ChannelKind};
use passerelle_shared::protocol::v1::sealed_meta::{
    note_scope, small_enough, title_scope, SealTitle, SealedTitle,
};
use passerelle_shared::protocol::v1::ws::ServerFrame;
use serde_json::json;

use crate::audit::Outcome;
use crate::auth::CurrentUser;
use crate::bus::BusEvent;
use crate::db::{self, entities::channel};
use crate::error::{ApiError, Result};
use crate::policy::Access;
use crate::state::AppState;

use super::create::reference;
use super::{channel_of, frame_text, open_channel};

/// The sealed title of a row, if it has one that parses.
pub(super) fn title_of(model: &channel::Model) -> Option<SealedTitle> {
    let envelope = serde_json::from_str(model.title.as_deref()?).ok()?;
    Some(SealedTitle {
        envelope,
        sealed_by: model.title_by.clone()?.into(),
    })
}

/// A case's stored note: the sealed envelope, or a note recorded in clear before notes
/// were sealed (kept until the information is recorded again). Answers `(note,
/// sealed_note)`.
pub(crate) fn note_of(stored: Option<&str>) -> (String, Option<Box<Envelope>>) {
    match stored {
        None => (String::new(), None),
        Some(text) => match serde_json::from_str::<Envelope>(text) {
            Ok(envelope) => (String::new(), Some(Box::new(envelope))),
            Err(_) => (text.to_owned(), None),
        },
    }
}

/// Whether `envelope` was sealed by a live device of `user`, for `scope`, under an epoch
/// the channel has had (`1..=current`), small, with a valid signature.
async fn sealed_by_caller(
    state: &AppState,
    user: &CurrentUser,
    model: &channel::Model,
    envelope: &Envelope,
    scope: &str,
) -> Result<bool> {
    let current = u64::try_from(model.epoch).unwrap_or_default();
    if envelope.channel_id != scope
        || envelope.epoch == 0
        || envelope.epoch > current
        || !small_enough(envelope)
    {
        return Ok(false);
    }
    let key = db::keys::find_device(&state.db, &envelope.sender_device)
        .await?
        .filter(|d| d.user_id == user.user_id && d.revoked_at.is_none())
        .and_then(|d| DeviceSigningPublicKey::from_base64url(&d.signing_key).ok());
    Ok(key.is_some_and(|key| envelope.verify_signature(&key).is_ok()))
}

/// Checks a case's sealed note (`POST /cases/{id}/information`): the caller's error code
/// if it is not one.
pub(crate) async fn check_note(
    state: &AppState,
    user: &CurrentUser,
    model: &channel::Model,
    envelope: &Envelope,
) -> Result<std::result::Result<(), &'static str>> {
    let scope = note_scope(&model.id);
    Ok(
        if sealed_by_caller(state, user, model, envelope, &scope).await? {
            Ok(())
        } else {
            Err("invalid_sealed_note")
        },
    )
}

/// Whether a name is a reference drawn by the server (`DOS-XXXX-XXXX-XXXX`), not a title
/// typed in clear before titles were sealed.
fn is_reference(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() == 18
        && bytes[3] == b'-'
        && bytes[..3].iter().all(u8::is_ascii_uppercase)
        && name[4..]
            .split('-')
            .all(|group| group.len() == 4 && group.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// # Sealing a channel's title
///
/// `PUT /channels/{id}/title`: a member who may write the channel seals its title, or
/// re-seals it under the current epoch so that members who joined since can read it.
/// The envelope must be sealed by a live device of the caller, for the title scope of
/// this channel and its **current** epoch (409 `title_epoch_stale` otherwise, so that an
/// older sealing never replaces a newer one), and must not be the stored one again (409
/// `title_replayed`). A working group keeps its institutional name in clear (422
/// `title_not_sealable`). A channel still named in clear gets a reference instead: its
/// typed name leaves the database (§24, migration of existing channels).
pub async fn seal_title(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    request: SealTitle,
) -> Result<Channel> {
    const ACTION: &str = "channel_title_seal";
    let (model, _) = open_channel(state, user, channel_id, ACTION, Access::Write).await?;
    let refuse = |reason: &'static str, error: ApiError| async move {
        state
            .record_denial(
                user.actor(),
                ACTION,
                Some(channel_id.to_owned()),
                json!({ "reason": reason }),
            )
            .await;
        error
    };
    let kind = ChannelKind::parse(&model.kind);
    if kind == Some(ChannelKind::WorkingGroup) {
        return Err(refuse(
            "title_not_sealable",
            ApiError::Unprocessable("title_not_sealable"),
        )
        .await);
    }
    let envelope = &request.envelope;
    if !sealed_by_caller(state, user, &model, envelope, &title_scope(channel_id)).await? {
        return Err(refuse(
            "invalid_sealed_title",
            ApiError::Unprocessable("invalid_sealed_title"),
        )
        .await);
    }
    if i64::try_from(envelope.epoch).ok() != Some(model.epoch) {
        return Err(refuse("title_epoch_stale", ApiError::Conflict("title_epoch_stale")).await);
    }
    if title_of(&model).is_some_and(|stored| {
        stored.envelope.sender_device == envelope.sender_device
            && stored.envelope.client_msg_id == envelope.client_msg_id
    }) {
        return Err(refuse("title_replayed", ApiError::Conflict("title_replayed")).await);
    }
    let replaced = match kind {
        Some(ChannelKind::Direct) | None => None,
        Some(ChannelKind::Case) if is_reference(&model.name) => None,
        Some(ChannelKind::PracticeSession) if is_reference(&model.name) => None,
        Some(ChannelKind::Case) => Some(reference(state, "DOS")?),
        Some(_) => Some(reference(state, "SEA")?),
    };
    let stored = serde_json::to_string(envelope).map_err(ApiError::internal)?;
    db::channels::set_title(
        &state.db,
        channel_id,
        stored,
        &user.user_id,
        replaced.clone(),
    )
    .await?;
    state
        .record(
            user.actor(),
            "channel_title_sealed",
            Some(channel_id.to_owned()),
            Outcome::Success,
            json!({ "epoch": envelope.epoch, "clear_name_replaced": replaced.is_some() }),
        )
        .await?;
    let model = db::channels::find(&state.db, channel_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let institutions = db::channels::institutions_of(&state.db, channel_id).await?;
    let view = channel_of(&model, institutions)?;
    // To every member, as at the channel's creation: also those the gate does not
    // deliver the channel to yet (rules not accepted), whose list shows it.
    let frame = frame_text(&ServerFrame::Channel(view.clone()))?;
    for member in db::members::of_channel(&state.db, channel_id).await? {
        state.bus.publish(BusEvent::User {
            user_id: member.user_id,
            frame: frame.clone(),
        });
    }
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_told_from_typed_names() {
        assert!(is_reference("DOS-7K3F-AB2C-XY9Z"));
        assert!(is_reference("SEA-7K3F-AB2C-XY9Z"));
        assert!(!is_reference("Analyse de pratiques de mars"));
        assert!(!is_reference("DOS-7K3F"));
        assert!(!is_reference("Dos-7K3F-AB2C-XY9Z"));
    }

    #[test]
    fn a_note_in_clear_from_before_the_sealing_is_still_shown() {
        assert_eq!(note_of(None), (String::new(), None));
        assert_eq!(
            note_of(Some("Attendre l'audience")),
            ("Attendre l'audience".to_owned(), None)
        );
    }
}
