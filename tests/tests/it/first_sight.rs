//! First sight (issue 17, docs/PROTOCOL.md §22.4, §22.6): a client that holds no verified
//! membership log for a channel wraps no epoch key there and sends nothing there, whatever
//! the server lists. A malicious server (the proxy of `tampering`) that hides a channel's
//! log, or lists a ghost in a channel that has none, gets nothing: the SDK answers
//! [`ClientError::MembershipLogMissing`] (its message in French) and publishes nothing. A
//! coordinator's client starts the log first and never notices; a coordinator's agent
//! starts the logs of its channels as soon as it syncs, not only when it sends.

use std::sync::Arc;

use passerelle_shared::client::store::MemoryStore;
use passerelle_shared::client::ClientError;
use passerelle_shared::crypto::MessageContent;
use passerelle_shared::protocol::v1::case_identity::IdentityRecord;
use passerelle_shared::protocol::v1::cases::{CaseView, CreateCase, Programme};
use passerelle_shared::protocol::v1::channels::{Channel, ChannelKind, CreateChannel, LegalRegime};
use passerelle_shared::protocol::v1::charter::{PublishText, RulesVersion};
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;

use crate::sdk::login;
use crate::support::{count_rows, ensure_charter, start_log, working_group, Party};
use crate::tampering::{through, Proxy, Tamper};

/// Karim coordinates a group with Jean; Mallory, enrolled, is no member. The group was
/// made through the REST API alone: it has no log yet, as a channel the server made.
async fn cast(server: &TestServer) -> (Party, Party, Party, Channel) {
    let mut karim = Party::new(server, "karim", Role::Coordinator, "Mairie").await;
    let jean = Party::new(server, "jean", Role::Member, "CCAS").await;
    let mallory = Party::new(server, "mallory", Role::Member, "CCAS").await;
    let channel = working_group(&mut karim, &[&jean]).await;
    (karim, jean, mallory, channel)
}

/// The malicious server: Mallory in the channel's member list and among the devices a new
/// key must reach, every epoch answer asking for a new key, and (`hide_log`) the channel's
/// log served empty, as for a channel that has none.
fn ghost_in(channel: &Channel, mallory: &Party, hide_log: bool) -> Tamper {
    let detail_path = format!("/api/v1/channels/{}", channel.id);
    let epoch_path = format!("/api/v1/channels/{}/epoch", channel.id);
    let log_path = format!("/api/v1/channels/{}/membership-log", channel.id);
    let user = mallory.user.id.clone();
    let device = mallory.device.device_id.clone();
    Arc::new(move |method, path, mut value| {
        if path == detail_path {
            let mut ghost = value["members"][0].clone();
            ghost["user_id"] = user.clone().into();
            ghost["role"] = "member".into();
            value["members"].as_array_mut().unwrap().push(ghost);
        } else if path == epoch_path {
            value["rotation_required"] = true.into();
            value["devices"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({ "user_id": user, "device_id": device }));
        } else if path == log_path && method == axum::http::Method::GET && hide_log {
            value["records"] = serde_json::json!([]);
        }
        value
    })
}

fn assert_log_missing(result: Result<impl std::fmt::Debug, ClientError>, channel: &Channel) {
    match result {
        Err(err @ ClientError::MembershipLogMissing(_)) => {
            assert!(
                matches!(&err, ClientError::MembershipLogMissing(id) if *id == channel.id),
                "{err:?}"
            );
            assert!(
                err.to_string().starts_with(
                    "Ce canal attend qu’un coordinateur signe la liste de ses membres : \
                     vous pourrez écrire dès qu’il l’aura ouvert."
                ),
                "the person is told in French: {err}"
            );
        }
        other => panic!("expected the missing log refused, got {other:?}"),
    }
}

#[tokio::test]
async fn a_member_wraps_and_sends_nothing_in_a_channel_no_log_vouches_for() {
    let server = TestServer::spawn().await.unwrap();
    let (mut karim, mut jean, mallory, group) = cast(&server).await;
    let epochs = format!("/api/v1/channels/{}/epochs", group.id);
    let log = format!("/api/v1/channels/{}/membership-log", group.id);

    // A ghost in a channel without a log: the member's client neither wraps nor sends.
    let proxy = Proxy::spawn(&server, ghost_in(&group, &mallory, false)).await;
    let mut client = through(&proxy, &jean);
    assert_log_missing(
        client.ensure_epoch(&mut jean.device, &group.id).await,
        &group,
    );
    assert_log_missing(
        client
            .seal(
                &mut jean.device,
                &group.id,
                &MessageContent::text("Point famille M."),
            )
            .await,
        &group,
    );
    assert!(proxy.writes_to(&epochs).is_empty(), "no key was published");
    assert!(proxy.writes_to(&log).is_empty(), "a member starts no log");
    drop(proxy);
    assert_eq!(
        count_rows(&server, "epoch_keys", "channel_id", &group.id).await,
        0
    );

    // The honest server, without a log: the same refusal, nothing stored.
    assert_log_missing(
        jean.client.ensure_epoch(&mut jean.device, &group.id).await,
        &group,
    );
    assert_eq!(
        count_rows(&server, "membership_log", "channel_id", &group.id).await,
        0
    );

    // The coordinator never notices: his client signs the genesis, then the key.
    karim.send_text(&group.id, "Bonjour à tous").await;
    let started = karim
        .client
        .verified_membership(&group.id)
        .await
        .unwrap()
        .expect("the coordinator's client started the log");
    assert_eq!(started.seq, 1);
    assert!(started.is_member(&jean.user.id));
    // From then on, the member writes.
    let sent = jean.send_text(&group.id, "Bien reçu").await;
    jean.ack(&sent).await;

    // The ghost, listed again now that a log vouches for the members: refused by name.
    let proxy = Proxy::spawn(&server, ghost_in(&group, &mallory, false)).await;
    let mut client = through(&proxy, &jean);
    assert!(matches!(
        client.ensure_epoch(&mut jean.device, &group.id).await,
        Err(ClientError::Tampered(_))
    ));
    assert!(proxy.writes_to(&epochs).is_empty(), "no key was published");
}

#[tokio::test]
async fn a_log_the_server_hides_is_not_taken_for_a_channel_without_one() {
    let server = TestServer::spawn().await.unwrap();
    let (mut karim, mut jean, mallory, group) = cast(&server).await;
    karim
        .client
        .start_membership_log(&karim.device, &group.id)
        .await
        .unwrap();
    let epochs = format!("/api/v1/channels/{}/epochs", group.id);
    let log = format!("/api/v1/channels/{}/membership-log", group.id);

    // Jean's device never saw the log (first sight); the server hides it and lists Mallory.
    let proxy = Proxy::spawn(&server, ghost_in(&group, &mallory, true)).await;
    let mut client = through(&proxy, &jean);
    assert_log_missing(
        client.ensure_epoch(&mut jean.device, &group.id).await,
        &group,
    );
    assert_log_missing(
        client
            .seal(
                &mut jean.device,
                &group.id,
                &MessageContent::text("Point famille M."),
            )
            .await,
        &group,
    );
    assert!(proxy.writes_to(&epochs).is_empty(), "no key was published");
    assert!(proxy.writes_to(&log).is_empty(), "a member starts no log");

    // The coordinator on a fresh device, shown the same: the genesis it signs is refused
    // by the real server (the log exists), and it wraps nothing either.
    let mut client = through(&proxy, &karim);
    assert_log_missing(
        client.ensure_epoch(&mut karim.device, &group.id).await,
        &group,
    );
    assert!(proxy.writes_to(&epochs).is_empty(), "no key was published");
    assert_eq!(
        count_rows(&server, "membership_log", "channel_id", &group.id).await,
        1,
        "the real log is unchanged"
    );
    drop(proxy);

    // Through the honest server the member verifies the log and writes.
    let sent = jean.send_text(&group.id, "Bien reçu").await;
    jean.ack(&sent).await;
}

#[tokio::test]
async fn a_coordinators_agent_starts_the_logs_of_its_channels_when_it_syncs() {
    let server = TestServer::spawn().await.unwrap();
    ensure_charter(&server).await;
    let nadia = server
        .create_user("nadia", Role::Coordinator, "Mairie")
        .await
        .unwrap();
    let jean = server
        .create_user("jean", Role::Member, "CCAS")
        .await
        .unwrap();
    let mut coordinator = login(&server, &nadia, Box::new(MemoryStore::default())).await;
    let mut member = login(&server, &jean, Box::new(MemoryStore::default())).await;
    // A group made through the REST API alone, as the server makes some: no log yet.
    let group: Channel = coordinator
        .client()
        .post(
            "/channels",
            &CreateChannel {
                kind: ChannelKind::WorkingGroup,
                name: "Veille".into(),
                regime: LegalRegime::ClspdConfidential,
                institutions: vec![jean.institution_id.as_str().into()],
                members: vec![jean.id.as_str().into()],
            },
        )
        .await
        .unwrap();
    let _: RulesVersion = coordinator
        .client()
        .post(
            &format!("/channels/{}/rules", group.id),
            &PublishText {
                text: "# Règlement\n\nRègles du groupe.".into(),
            },
        )
        .await
        .unwrap();
    coordinator.accept_rules(&group.id).await.unwrap();
    member.accept_rules(&group.id).await.unwrap();

    // The member's agent syncs and starts nothing; it may not write there yet.
    member.sync().await.unwrap();
    assert_eq!(
        count_rows(&server, "membership_log", "channel_id", &group.id).await,
        0
    );
    assert_log_missing(member.send_text(&group.id, "Bonjour").await, &group);
    assert_eq!(
        count_rows(&server, "epoch_keys", "channel_id", &group.id).await,
        0
    );

    // The coordinator's agent only syncs, and sends nothing: the log is started.
    coordinator.sync().await.unwrap();
    assert_eq!(
        count_rows(&server, "membership_log", "channel_id", &group.id).await,
        1
    );
    // The member now writes, for the members the log vouches for.
    member.send_text(&group.id, "Bonjour").await.unwrap();
}

/// A case's identity (§19) is sealed for the readers the case's verified log names only:
/// a coordinator's device that never saw the log, shown none by the server, seals nothing
/// (its genesis is refused by the real server, whose log exists) and the person's name
/// goes to nobody the server picked.
#[tokio::test]
async fn a_case_identity_is_sealed_for_nobody_while_no_verified_log_vouches_for_its_readers() {
    let server = TestServer::spawn().await.unwrap();
    let (mut karim, jean, mallory, group) = cast(&server).await;
    start_log(&mut karim, &group.id).await;
    let case: CaseView = karim
        .client
        .post(
            "/cases",
            &CreateCase {
                programme: Programme::PublicTranquillity,
                reporting_institution: jean.user.institution_id.clone().into(),
                regime: LegalRegime::ClspdConfidential,
                group_id: Some(group.id.clone()),
                institutions: vec![jean.user.institution_id.clone().into()],
                members: vec![jean.user.id.clone().into()],
                referent_user_id: None,
                destroy_limit: None,
                scheme: None,
            },
        )
        .await
        .unwrap();
    start_log(&mut karim, &case.channel.id).await;
    let record = IdentityRecord {
        name: "Personne Témoin".into(),
        birth_month: None,
    };

    let proxy = Proxy::spawn(&server, ghost_in(&case.channel, &mallory, true)).await;
    let mut client = through(&proxy, &karim);
    assert_log_missing(
        client
            .seal_case_identity(&karim.device, &case.channel.id, &record)
            .await,
        &case.channel,
    );
    assert_eq!(
        count_rows(&server, "membership_log", "channel_id", &case.channel.id).await,
        1,
        "the real log is unchanged"
    );
    drop(proxy);

    // Through the honest server, its own client seals it for the log's readers.
    let sealed = karim
        .client
        .seal_case_identity(&karim.device, &case.channel.id, &record)
        .await
        .unwrap();
    assert!(sealed
        .keys
        .iter()
        .all(|key| key.recipient_device != mallory.device.device_id));
}
