//! A channel's membership history (docs/PROTOCOL.md §21): every change stored with its
//! actor and its place among the messages, read back by members only, carried by the live
//! `member` frame, aged out and destroyed with the channel's history.

use passerelle_server::app::retention;
use passerelle_shared::protocol::v1::channels::{
    Channel, ChannelKind, ChannelRole, CreateChannel, LegalRegime, MembershipChange,
    MembershipEvent, MembershipPage, RemovalReason,
};
use passerelle_shared::protocol::v1::ws::ServerFrame;
use passerelle_shared::protocol::v1::{Attributes, Role};
use passerelle_tests::TestServer;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Statement};

use crate::support::{
    admin_client, audit_actions, count_rows, long_sessions_server, working_group, Party,
};

const DAY_MS: i64 = 24 * 3_600_000;

/// Every event of a channel, as `reader` sees them (through the SDK).
async fn events_of(reader: &Party, channel_id: &str) -> Vec<MembershipEvent> {
    let page = reader
        .client
        .membership_events(channel_id, 0, 500)
        .await
        .unwrap();
    assert!(!page.has_more);
    page.events
}

/// (change, member, actor, after_seq) of each event, for comparisons.
fn summary(events: &[MembershipEvent]) -> Vec<(MembershipChange, String, Option<String>, u64)> {
    events
        .iter()
        .map(|e| {
            (
                e.change,
                e.member.user_id.to_string(),
                e.actor.as_ref().map(|a| a.user_id.to_string()),
                e.after_seq,
            )
        })
        .collect()
}

/// Sends a message as `party` and returns its seq.
async fn say(party: &mut Party, channel_id: &str, text: &str) -> u64 {
    let id = party.send_text(channel_id, text).await;
    party.ack(&id).await
}

/// The live `member` frame's event for `member` and `change`.
async fn member_frame(
    party: &mut Party,
    member: &str,
    change: MembershipChange,
) -> MembershipEvent {
    let member = member.to_owned();
    party
        .frame(|f| match f {
            ServerFrame::Member {
                event: Some(event), ..
            } if event.member.user_id == member && event.change == change => Some(event.clone()),
            _ => None,
        })
        .await
}

#[tokio::test]
async fn each_change_is_stored_after_the_message_it_followed_with_who_made_it() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "karim", Role::Coordinator, "Mairie").await;
    let mut jean = Party::new(&server, "jean", Role::Member, "CCAS").await;
    let mut sophie = Party::new(&server, "sophie", Role::Coordinator, "Mairie").await;
    let group = working_group(&mut coord, &[&jean]).await;
    let (k, j, s) = (
        coord.user.id.clone(),
        jean.user.id.clone(),
        sophie.user.id.clone(),
    );

    let first = say(&mut coord, &group.id, "un").await;
    coord
        .client
        .add_member(&coord.device, &group.id, &s, false)
        .await
        .unwrap();
    // The live frame carries the stored event, the old fields kept for older clients.
    let added = member_frame(&mut coord, &s, MembershipChange::Added).await;
    assert_eq!(added.after_seq, first);
    assert_eq!(added.actor.as_ref().unwrap().user_id, k);
    assert_eq!(
        added.member.display_name.as_deref(),
        Some("Test sophie"),
        "names are resolved for the members"
    );
    sophie.accept_rules(&group.id).await;

    let second = say(&mut coord, &group.id, "deux").await;
    jean.receive().await;
    let motif = "Fin de mission au CCAS";
    coord
        .client
        .remove_member(&coord.device, &group.id, &j, motif)
        .await
        .unwrap();
    let removed = member_frame(&mut coord, &j, MembershipChange::Removed).await;
    assert_eq!(removed.reason, Some(RemovalReason::Coordinator));

    // Naming Sophie one of the group's coordinators is a role change.
    coord
        .client
        .set_group_coordinators(&coord.device, &group.id, std::slice::from_ref(&s))
        .await
        .unwrap();
    // Sophie leaves.
    sophie
        .client
        .leave_channel(&sophie.device, &group.id)
        .await
        .unwrap();
    member_frame(&mut coord, &s, MembershipChange::Left).await;

    let events = events_of(&coord, &group.id).await;
    assert_eq!(
        summary(&events),
        vec![
            (MembershipChange::Created, k.clone(), Some(k.clone()), 0),
            (MembershipChange::Added, j.clone(), Some(k.clone()), 0),
            (MembershipChange::Added, s.clone(), Some(k.clone()), first),
            (
                MembershipChange::Removed,
                j.clone(),
                Some(k.clone()),
                second
            ),
            (
                MembershipChange::RoleChanged,
                s.clone(),
                Some(k.clone()),
                second
            ),
            (MembershipChange::Left, s.clone(), Some(s.clone()), second),
        ]
    );
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(events[4].role, Some(ChannelRole::Coordinator));
    assert_eq!(events[3], removed);
    assert!(events.iter().all(
        |e| e.member.display_name.is_some() && e.actor.as_ref().unwrap().display_name.is_some()
    ));
    // The coordinator's free-text motif stays in the access log, never in the history.
    let stored = server
        .state
        .db
        .query_all(Statement::from_string(
            server.state.db.get_database_backend(),
            "SELECT reason FROM membership_events",
        ))
        .await
        .unwrap();
    for row in stored {
        let reason: Option<String> = row.try_get("", "reason").unwrap();
        assert!(
            reason.as_deref().is_none_or(|r| r == "coordinator"),
            "{reason:?}"
        );
    }

    // Pages follow each other by event seq.
    let page: MembershipPage = coord
        .client
        .get(&format!(
            "/channels/{}/membership?after=2&limit=3",
            group.id
        ))
        .await
        .unwrap();
    assert_eq!(
        coord
            .client
            .membership_events(&group.id, 2, 3)
            .await
            .unwrap(),
        page
    );
    assert_eq!(
        page.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    assert!(page.has_more);
}

#[tokio::test]
async fn a_new_member_reads_from_their_addition_and_a_non_member_is_refused_and_logged() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "karim", Role::Coordinator, "Mairie").await;
    let jean = Party::new(&server, "jean", Role::Member, "CCAS").await;
    let late = Party::new(&server, "sophie", Role::Member, "Mairie").await;
    let outsider = Party::new(&server, "curieux", Role::Member, "CCAS").await;
    let group = working_group(&mut coord, &[&jean]).await;
    say(&mut coord, &group.id, "avant l’arrivée").await;
    coord
        .client
        .add_member(&coord.device, &group.id, &late.user.id, false)
        .await
        .unwrap();
    late.accept_rules(&group.id).await;

    // Need-to-know, as for messages: the newcomer's history starts with their addition.
    let seen = events_of(&late, &group.id).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].change, MembershipChange::Added);
    assert_eq!(seen[0].member.user_id, late.user.id);
    assert_eq!(events_of(&jean, &group.id).await.len(), 3);

    // Someone outside the channel is told it does not exist, and the refusal is logged.
    let response = outsider
        .client
        .request(Method::GET, &format!("/channels/{}/membership", group.id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(audit_actions(&server, Some(&group.id))
        .await
        .contains(&("membership_read".into(), "denied".into())));
    // Nonsense paging is a clear refusal, not a crash.
    let response = jean
        .client
        .request(
            Method::GET,
            &format!("/channels/{}/membership?after=-1", group.id),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_member_who_loses_the_regime_is_removed_by_the_server_with_its_category() {
    let server = TestServer::spawn().await.unwrap();
    let social = Attributes {
        bound_by_professional_secrecy: true,
        social_action_professional: true,
    };
    let coord = Party::with_attributes(&server, "coord", Role::Coordinator, "CCAS", social).await;
    let member = Party::with_attributes(&server, "assistante", Role::Member, "CCAS", social).await;
    let channel: Channel = coord
        .client
        .post(
            "/channels",
            &CreateChannel {
                kind: ChannelKind::WorkingGroup,
                name: "Secret partagé".into(),
                regime: LegalRegime::SharedSecretSocial,
                institutions: vec![coord.user.institution_id.clone().into()],
                members: vec![member.user.id.clone().into()],
            },
        )
        .await
        .unwrap();
    coord
        .publish_rules(&channel.id, "# Règlement\n\nConfidentiel.")
        .await;
    coord.accept_rules(&channel.id).await;
    let admin = admin_client(&server, "admin").await;
    admin
        .request(Method::PATCH, &format!("/admin/users/{}", member.user.id))
        .json(&serde_json::json!({ "attributes": {
            "bound_by_professional_secrecy": true,
            "social_action_professional": false
        }}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let events = events_of(&coord, &channel.id).await;
    let last = events.last().unwrap();
    assert_eq!(last.change, MembershipChange::Removed);
    assert_eq!(last.member.user_id, member.user.id);
    assert_eq!(last.actor, None, "the server made the change, not a person");
    assert_eq!(last.reason, Some(RemovalReason::RegimeLost));
}

#[tokio::test]
async fn the_history_ages_out_with_the_messages_and_goes_with_a_destroyed_channel() {
    let server = long_sessions_server(|_| {}).await;
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let member = Party::new(&server, "assistante", Role::Member, "CCAS").await;
    let late = Party::new(&server, "educ", Role::Member, "Mairie").await;
    let group = working_group(&mut coord, &[&member]).await;
    say(&mut coord, &group.id, "ancien").await;
    assert_eq!(
        count_rows(&server, "membership_events", "channel_id", &group.id).await,
        2
    );

    // Thirteen months later (past the default 12) a member is added: only that stays.
    server.clock.advance_ms(395 * DAY_MS);
    coord
        .client
        .add_member(&coord.device, &group.id, &late.user.id, false)
        .await
        .unwrap();
    say(&mut coord, &group.id, "récent").await;
    let report = retention::run_once(&server.state).await.unwrap();
    assert_eq!(report.purged_messages, 1);
    let kept = events_of(&coord, &group.id).await;
    assert_eq!(summary(&kept).len(), 1);
    assert_eq!(kept[0].member.user_id, late.user.id);
    assert_eq!(kept[0].seq, 3, "seq keeps counting after a purge");
}

#[tokio::test]
async fn a_members_new_certified_device_is_noted_in_each_of_their_channels() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "karim", Role::Coordinator, "Mairie").await;
    let mut sophie = Party::new(&server, "sophie", Role::Member, "CCAS").await;
    let group = working_group(&mut coord, &[&sophie]).await;
    let before = say(&mut coord, &group.id, "un").await;
    sophie.receive().await;

    // Sophie restores her keys on a laptop: a new device certified by her identity.
    let mut laptop = server.client(&sophie.user).await.unwrap();
    let device = laptop
        .restore_with_recovery_code(&sophie.recovery_code, "Portable")
        .await
        .unwrap();
    let live = member_frame(&mut coord, &sophie.user.id, MembershipChange::DeviceAdded).await;
    assert_eq!(live.device_id.as_deref(), Some(device.device_id.as_str()));
    assert_eq!(live.after_seq, before);
    let events = events_of(&coord, &group.id).await;
    assert_eq!(events.last(), Some(&live));
    assert_eq!(
        live.actor.as_ref().map(|a| a.user_id.as_str()),
        Some(sophie.user.id.as_str())
    );
}
