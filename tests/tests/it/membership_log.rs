//! The signed membership log (docs/PROTOCOL.md §22): each addition and removal carries a
//! record signed by the coordinator's device and chained to the previous one; the server
//! refuses a record that does not extend the chain or does not say the change it comes
//! with, and the SDK derives the members from the verified log, so that a member the
//! server slips in, or a record it forges, gets no key.

use std::sync::Arc;

use passerelle_shared::client::ClientError;
use passerelle_shared::crypto::{LogError, MembershipState, RecordBody, RosterError};
use passerelle_shared::protocol::v1::channels::{AddMember, Channel};
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{audit_actions, count_rows, working_group, Party};
use crate::tampering::{through, Proxy, Tamper};

/// Karim coordinates a group with Jean; Sophie and Mallory could join (same institution).
async fn cast(server: &TestServer) -> (Party, Party, Party, Party, Channel) {
    let mut karim = Party::new(server, "karim", Role::Coordinator, "Mairie").await;
    let jean = Party::new(server, "jean", Role::Member, "CCAS").await;
    let sophie = Party::new(server, "sophie", Role::Member, "CCAS").await;
    let mallory = Party::new(server, "mallory", Role::Member, "CCAS").await;
    let channel = working_group(&mut karim, &[&jean]).await;
    (karim, jean, sophie, mallory, channel)
}

fn members(state: &MembershipState) -> Vec<String> {
    state.members.iter().cloned().collect()
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn additions_and_removals_extend_a_log_every_member_verifies() {
    let server = TestServer::spawn().await.unwrap();
    let (mut karim, mut jean, sophie, _mallory, group) = cast(&server).await;
    let (k, j, s) = (
        karim.user.id.clone(),
        jean.user.id.clone(),
        sophie.user.id.clone(),
    );
    assert!(
        jean.client
            .verified_membership(&group.id)
            .await
            .unwrap()
            .is_none(),
        "a channel starts without a log until a member signs its genesis"
    );

    // The first signed change starts the log with the current members.
    karim
        .client
        .add_member(&karim.device, &group.id, &s, false)
        .await
        .unwrap();
    let log = jean
        .client
        .verified_membership(&group.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(log.seq, 2, "a genesis, then the addition");
    assert_eq!(members(&log), sorted(&[&k, &j, &s]));
    assert!(log.coordinators.contains(&k) && !log.coordinators.contains(&s));

    let motif = "Fin de mission au CCAS";
    karim
        .client
        .remove_member(&karim.device, &group.id, &j, motif)
        .await
        .unwrap();
    let log = karim
        .client
        .verified_membership(&group.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(log.seq, 3);
    assert_eq!(members(&log), sorted(&[&k, &s]));
    assert_eq!(
        count_rows(&server, "membership_log", "channel_id", &group.id).await,
        3
    );
    // The record carries the reason's category; the motif stays in the access log.
    let db = &server.state.db;
    use sea_orm::ConnectionTrait;
    let rows = db
        .query_all(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT record FROM membership_log".to_owned(),
        ))
        .await
        .unwrap();
    for row in rows {
        let record: String = row.try_get("", "record").unwrap();
        assert!(!record.contains(motif));
    }
    let actions = audit_actions(&server, Some(&group.id)).await;
    assert!(actions.contains(&("membership_log_started".into(), "success".into())));
}

#[tokio::test]
async fn a_forged_stale_or_missing_record_is_refused_and_changes_nothing() {
    let server = TestServer::spawn().await.unwrap();
    let (mut karim, jean, sophie, mallory, group) = cast(&server).await;
    let (k, m, s) = (
        karim.user.id.clone(),
        mallory.user.id.clone(),
        sophie.user.id.clone(),
    );
    // A genesis that leaves a member out is refused; so is a second one.
    let genesis = |subjects: Vec<String>| {
        RecordBody {
            kind: "genesis".into(),
            subjects,
            coordinators: vec![k.clone()],
            ..MembershipState::empty(&group.id).next_body(
                group.epoch,
                &k,
                &karim.device.device_id,
                1_765_100_000_000,
            )
        }
        .sign(karim.device.keys())
        .unwrap()
    };
    let log_path = format!("/channels/{}/membership-log", group.id);
    let partial = serde_json::json!({ "record": genesis(vec![k.clone()]) });
    match karim.client.post_empty(&log_path, &partial).await {
        Err(ClientError::Api { code, .. }) => assert_eq!(code, "invalid_membership_record"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let start = karim
        .client
        .start_membership_log(&karim.device, &group.id)
        .await
        .unwrap();
    let again = serde_json::json!({ "record": genesis(vec![k.clone(), jean.user.id.clone()]) });
    match karim.client.post_empty(&log_path, &again).await {
        Err(ClientError::Api { code, .. }) => assert_eq!(code, "membership_log_conflict"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let add = |who: &str| RecordBody {
        kind: "added".into(),
        subjects: vec![who.to_owned()],
        ..start.next_body(group.epoch, &k, &karim.device.device_id, 1_765_100_000_000)
    };
    let post = |user_id: &str, record| AddMember {
        user_id: user_id.into(),
        record,
    };
    let path = format!("/channels/{}/members", group.id);
    let status = |result: Result<(), ClientError>| match result {
        Err(ClientError::Api { status, code }) => (status, code),
        other => panic!("expected a refusal, got {other:?}"),
    };

    // A record of Sophie's addition, presented with Mallory's.
    let for_sophie = add(&s).sign(karim.device.keys()).unwrap();
    let refused = karim
        .client
        .post_empty(&path, &post(&m, Some(for_sophie.clone())))
        .await;
    assert_eq!(
        status(refused),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_membership_record".into()
        )
    );
    // Karim's name and device, Jean's signature.
    let forged = add(&m).sign(jean.device.keys()).unwrap();
    let refused = karim
        .client
        .post_empty(&path, &post(&m, Some(forged)))
        .await;
    assert_eq!(
        status(refused),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_membership_record".into()
        )
    );
    // No record at all, once the channel has a log.
    let refused = karim.client.post_empty(&path, &post(&m, None)).await;
    assert_eq!(
        status(refused),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "membership_record_required".into()
        )
    );
    // Sophie's addition goes through; a record made against the log before it does not.
    karim
        .client
        .post_empty(&path, &post(&s, Some(for_sophie)))
        .await
        .unwrap();
    let stale = add(&m).sign(karim.device.keys()).unwrap();
    let refused = karim.client.post_empty(&path, &post(&m, Some(stale))).await;
    assert_eq!(
        status(refused),
        (StatusCode::CONFLICT, "membership_log_conflict".into())
    );
    // On the current chain, but signed before the epoch Karim has just opened: another
    // change came first (409, the client signs again); an epoch not opened yet is refused.
    let opened = karim
        .client
        .ensure_epoch(&mut karim.device, &group.id)
        .await
        .unwrap();
    assert!(opened > group.epoch);
    let head = karim
        .client
        .verified_membership(&group.id)
        .await
        .unwrap()
        .unwrap();
    let add_at = |epoch: u64| {
        RecordBody {
            kind: "added".into(),
            subjects: vec![m.clone()],
            ..head.next_body(epoch, &k, &karim.device.device_id, 1_765_100_000_000)
        }
        .sign(karim.device.keys())
        .unwrap()
    };
    let refused = karim
        .client
        .post_empty(&path, &post(&m, Some(add_at(group.epoch))))
        .await;
    assert_eq!(
        status(refused),
        (StatusCode::CONFLICT, "membership_log_conflict".into())
    );
    let refused = karim
        .client
        .post_empty(&path, &post(&m, Some(add_at(opened + 1))))
        .await;
    assert_eq!(
        status(refused),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_membership_record".into()
        )
    );

    assert_eq!(
        count_rows(&server, "membership_log", "channel_id", &group.id).await,
        2
    );
    assert_eq!(
        count_rows(&server, "channel_members", "user_id", &m).await,
        0
    );
    let denials = audit_actions(&server, Some(&group.id))
        .await
        .into_iter()
        .filter(|a| *a == ("member_add".to_owned(), "denied".to_owned()))
        .count();
    assert_eq!(denials, 6, "each refusal is in the access log");
}

/// The malicious server: Mallory in the member list of `GET /channels/{id}` and her device
/// among the devices a new epoch key must reach; optionally a forged record appended to
/// the log it serves.
fn slip_in(channel: &Channel, mallory: &Party, forged_record: Option<Value>) -> Tamper {
    let detail_path = format!("/api/v1/channels/{}", channel.id);
    let epoch_path = format!("/api/v1/channels/{}/epoch", channel.id);
    let log_path = format!("/api/v1/channels/{}/membership-log", channel.id);
    let user = mallory.user.id.clone();
    let device = mallory.device.device_id.clone();
    Arc::new(move |_, path, mut value| {
        if path == detail_path {
            let mut ghost = value["members"][0].clone();
            ghost["user_id"] = user.clone().into();
            value["members"].as_array_mut().unwrap().push(ghost);
        } else if path == epoch_path {
            value["rotation_required"] = true.into();
            value["devices"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({ "user_id": user, "device_id": device }));
        } else if path == log_path {
            if let Some(record) = &forged_record {
                value["records"]
                    .as_array_mut()
                    .unwrap()
                    .push(record.clone());
            }
        }
        value
    })
}

#[tokio::test]
async fn a_member_the_server_slips_in_or_a_record_it_forges_gets_no_key_from_the_sdk() {
    let server = TestServer::spawn().await.unwrap();
    let (mut karim, _jean, _sophie, mallory, group) = cast(&server).await;
    let k = karim.user.id.clone();
    let start = karim
        .client
        .start_membership_log(&karim.device, &group.id)
        .await
        .unwrap();
    let epochs = format!("/api/v1/channels/{}/epochs", group.id);

    // Mallory listed as a member and a recipient, with no record of her addition.
    let proxy = Proxy::spawn(&server, slip_in(&group, &mallory, None)).await;
    let mut client = through(&proxy, &karim);
    match client.ensure_epoch(&mut karim.device, &group.id).await {
        Err(ClientError::Tampered(RosterError::NotMember { user_id, .. })) => {
            assert_eq!(user_id, mallory.user.id)
        }
        other => panic!("expected the ghost member refused, got {other:?}"),
    }
    assert!(proxy.writes_to(&epochs).is_empty(), "no key was published");
    drop(proxy);

    // The same, with a record of her addition in Karim's name that Mallory signed.
    let forged = RecordBody {
        kind: "added".into(),
        subjects: vec![mallory.user.id.clone()],
        ..start.next_body(group.epoch, &k, &karim.device.device_id, 1_765_100_000_000)
    }
    .sign(mallory.device.keys())
    .unwrap();
    let forged = serde_json::to_value(&forged).unwrap();
    let proxy = Proxy::spawn(&server, slip_in(&group, &mallory, Some(forged))).await;
    let mut client = through(&proxy, &karim);
    match client.ensure_epoch(&mut karim.device, &group.id).await {
        Err(ClientError::MembershipLog(LogError::BadSignature)) => {}
        other => panic!("expected the forged record refused, got {other:?}"),
    }
    assert!(proxy.writes_to(&epochs).is_empty(), "no key was published");

    // Through the honest server the same device publishes for exactly the members.
    karim
        .client
        .ensure_epoch(&mut karim.device, &group.id)
        .await
        .unwrap();
}

/// What the malicious server does to the log's records before serving them.
type Rewrite = Box<dyn Fn(Vec<Value>) -> Vec<Value> + Send + Sync>;

/// The malicious server of §22.6: the log it serves is rewritten by `rewrite` (the records
/// as the real server has them → those it serves), and every epoch answer asks for a new
/// key, so that the client would wrap one if it accepted the log.
fn rewrite_log(
    channel: &Channel,
    rewrite: impl Fn(Vec<Value>) -> Vec<Value> + Send + Sync + 'static,
) -> Tamper {
    let epoch_path = format!("/api/v1/channels/{}/epoch", channel.id);
    let log_path = format!("/api/v1/channels/{}/membership-log", channel.id);
    Arc::new(move |_, path, mut value| {
        if path == epoch_path {
            value["rotation_required"] = true.into();
        } else if path == log_path {
            let records = value["records"].as_array().cloned().unwrap_or_default();
            value["records"] = Value::Array(rewrite(records));
        }
        value
    })
}

/// Karim's record adding `who`, signed by his device, right after `state`: a valid record
/// of another branch when the real log has another one at that place.
fn branch_record(karim: &Party, state: &MembershipState, epoch: u64, who: &str) -> Value {
    let record = RecordBody {
        kind: "added".into(),
        subjects: vec![who.to_owned()],
        ..state.next_body(
            epoch,
            &karim.user.id,
            &karim.device.device_id,
            1_765_100_000_000,
        )
    }
    .sign(karim.device.keys())
    .unwrap();
    serde_json::to_value(record).unwrap()
}

#[tokio::test]
async fn a_log_served_shorter_forked_or_gone_after_a_longer_one_is_refused_whole() {
    let server = TestServer::spawn().await.unwrap();
    let (mut karim, mut jean, sophie, mallory, group) = cast(&server).await;
    let start = karim
        .client
        .start_membership_log(&karim.device, &group.id)
        .await
        .unwrap();
    karim
        .client
        .add_member(&karim.device, &group.id, &sophie.user.id, false)
        .await
        .unwrap();
    // Jean verifies the log up to the addition: his client remembers where it ends.
    let seen = jean
        .client
        .verified_membership(&group.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.seq, 2);
    let remembered = jean.client.membership_memory();
    assert_eq!(
        jean.client
            .membership_head(&group.id)
            .map(|h| (h.seq, h.hash)),
        Some((2, seen.head))
    );
    let epochs = format!("/api/v1/channels/{}/epochs", group.id);
    let fork = branch_record(&karim, &start, group.epoch, &mallory.user.id);
    let servings: [(&str, Rewrite, LogError); 3] = [
        (
            "the newest record hidden",
            Box::new(|records: Vec<Value>| records[..1].to_vec()),
            LogError::RolledBack,
        ),
        (
            "no log at all",
            Box::new(|_| Vec::new()),
            LogError::RolledBack,
        ),
        (
            "another branch after the genesis",
            Box::new(move |records: Vec<Value>| vec![records[0].clone(), fork.clone()]),
            LogError::Forked,
        ),
    ];
    for (what, serve, expected) in servings {
        let proxy = Proxy::spawn(&server, rewrite_log(&group, serve)).await;
        // Jean's device after a restart: what it remembered, and a server that lies.
        let mut client = through(&proxy, &jean);
        client.restore_membership_memory(remembered.clone());
        match client.verified_membership(&group.id).await {
            Err(ClientError::MembershipLog(err)) => assert_eq!(err, expected, "{what}"),
            other => panic!("{what}: expected the log refused, got {other:?}"),
        }
        match client.ensure_epoch(&mut jean.device, &group.id).await {
            Err(ClientError::MembershipLog(err)) => assert_eq!(err, expected, "{what}"),
            other => panic!("{what}: expected no key, got {other:?}"),
        }
        assert!(
            proxy.writes_to(&epochs).is_empty(),
            "{what}: no key was published"
        );
        // What it remembered is kept: the honest log is still the one it accepts.
        assert_eq!(client.membership_memory(), remembered, "{what}");
    }
    // A client that never saw the log cannot tell a prefix from the whole (§22.6 says so).
    let proxy = Proxy::spawn(&server, rewrite_log(&group, |r| r[..1].to_vec())).await;
    let fresh = through(&proxy, &jean)
        .verified_membership(&group.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fresh.seq, 1);
    drop(proxy);
    // Through the honest server, the log extends what was remembered.
    let log = jean
        .client
        .verified_membership(&group.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(log.seq, 2);
}

#[tokio::test]
async fn a_head_in_a_members_message_that_the_served_log_lacks_stops_every_key() {
    let server = TestServer::spawn().await.unwrap();
    let (mut karim, mut jean, sophie, mallory, group) = cast(&server).await;
    let start = karim
        .client
        .start_membership_log(&karim.device, &group.id)
        .await
        .unwrap();
    karim
        .client
        .add_member(&karim.device, &group.id, &sophie.user.id, false)
        .await
        .unwrap();
    let karims = karim
        .client
        .verified_membership(&group.id)
        .await
        .unwrap()
        .unwrap();
    // Karim's message carries his verified head, under his signature.
    let id = karim.send_text(&group.id, "Point de situation").await;
    karim.ack(&id).await;
    let message = jean.next_message().await;
    let epochs = format!("/api/v1/channels/{}/epochs", group.id);

    // The server shows Jean only the genesis: a prefix he cannot tell from the whole, until
    // Karim's message names a later head.
    let proxy = Proxy::spawn(&server, rewrite_log(&group, |r| r[..1].to_vec())).await;
    let mut client = through(&proxy, &jean);
    assert_eq!(
        client
            .verified_membership(&group.id)
            .await
            .unwrap()
            .unwrap()
            .seq,
        1
    );
    let content = client.open(&jean.device, &message).await.unwrap();
    assert_eq!(content.text, "Point de situation");
    let head = content
        .membership_head
        .expect("the sender's head travels with the message");
    assert_eq!((head.seq, head.hash), (2, karims.head));
    match client.ensure_epoch(&mut jean.device, &group.id).await {
        Err(ClientError::MembershipLog(LogError::Hidden)) => {}
        other => panic!("expected the hidden records refused, got {other:?}"),
    }
    assert!(proxy.writes_to(&epochs).is_empty(), "no key was published");
    // The head is kept between runs: a restart does not forget it.
    let memory = client.membership_memory();
    assert_eq!(memory.1.get(group.id.as_str()).map(Vec::len), Some(1));
    drop(proxy);

    // Another branch at the same place as the head a member saw: a fork.
    let fork = branch_record(&karim, &start, group.epoch, &mallory.user.id);
    let proxy = Proxy::spawn(
        &server,
        rewrite_log(&group, move |r| vec![r[0].clone(), fork.clone()]),
    )
    .await;
    let mut client = through(&proxy, &jean);
    client.restore_membership_memory(memory.clone());
    match client.verified_membership(&group.id).await {
        Err(ClientError::MembershipLog(LogError::Forked)) => {}
        other => panic!("expected the fork refused, got {other:?}"),
    }
    let mut fresh = through(&proxy, &jean);
    fresh.verified_membership(&group.id).await.unwrap();
    fresh.open(&jean.device, &message).await.unwrap();
    match fresh.ensure_epoch(&mut jean.device, &group.id).await {
        Err(ClientError::MembershipLog(LogError::Forked)) => {}
        other => panic!("expected the fork refused, got {other:?}"),
    }
    assert!(proxy.writes_to(&epochs).is_empty(), "no key was published");
    drop(proxy);

    // The honest server shows the head: the claim is met and forgotten.
    jean.client.restore_membership_memory(memory);
    assert_eq!(
        jean.client
            .verified_membership(&group.id)
            .await
            .unwrap()
            .unwrap()
            .seq,
        2
    );
    assert!(jean.client.membership_memory().1.is_empty());
}

#[tokio::test]
async fn a_departure_is_signed_by_the_leaver_once_the_channel_has_a_log() {
    let server = TestServer::spawn().await.unwrap();
    let (mut karim, mut jean, _sophie, _mallory, group) = cast(&server).await;
    karim
        .client
        .start_membership_log(&karim.device, &group.id)
        .await
        .unwrap();
    let j = jean.user.id.clone();
    let leave = format!("/channels/{}/leave", group.id);
    let refusal = |result: Result<(), ClientError>| match result {
        Err(ClientError::Api { status, code }) => (status, code),
        other => panic!("expected a refusal, got {other:?}"),
    };
    // Without a record (no body, or an empty one).
    let answer = jean
        .client
        .request(reqwest::Method::POST, &leave)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], "membership_record_required");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    assert_eq!(
        refusal(jean.client.post_empty(&leave, &serde_json::json!({})).await),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "membership_record_required".into()
        )
    );
    // Jean's departure in his name, signed by Karim's device; then Karim's record for Jean.
    let log = jean
        .client
        .verified_membership(&group.id)
        .await
        .unwrap()
        .unwrap();
    let left = |actor: &str, device: &Party| RecordBody {
        kind: "left".into(),
        subjects: vec![j.clone()],
        ..log.next_body(
            group.epoch,
            actor,
            &device.device.device_id,
            1_765_100_000_000,
        )
    };
    let forged = left(&j, &karim).sign(karim.device.keys()).unwrap();
    assert_eq!(
        refusal(
            jean.client
                .post_empty(&leave, &serde_json::json!({ "record": forged }))
                .await
        ),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_membership_record".into()
        )
    );
    let not_his = left(&karim.user.id, &karim).sign(karim.device.keys());
    assert!(not_his.is_err(), "a departure names its signer only");
    assert_eq!(
        count_rows(&server, "channel_members", "channel_id", &group.id).await,
        2,
        "nothing changed"
    );
    assert_eq!(
        count_rows(&server, "membership_log", "channel_id", &group.id).await,
        1
    );
    let denials = audit_actions(&server, Some(&group.id))
        .await
        .into_iter()
        .filter(|a| *a == ("member_remove".to_owned(), "denied".to_owned()))
        .count();
    assert_eq!(denials, 3, "each refusal is in the access log");

    // The SDK signs it: the log's member set follows.
    jean.client
        .leave_channel(&jean.device, &group.id)
        .await
        .unwrap();
    let log = karim
        .client
        .verified_membership(&group.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(log.seq, 2);
    assert!(!log.is_member(&j));
    assert_eq!(
        count_rows(&server, "channel_members", "channel_id", &group.id).await,
        1
    );
}

#[tokio::test]
async fn a_coordinator_named_after_the_genesis_signs_changes_clients_accept() {
    let server = TestServer::spawn().await.unwrap();
    let (mut karim, mut jean, sophie, _mallory, group) = cast(&server).await;
    let j = jean.user.id.clone();
    karim
        .client
        .start_membership_log(&karim.device, &group.id)
        .await
        .unwrap();
    // Unsigned naming, once the group has a log: refused, logged, nothing changed.
    let path = format!("/channels/{}/coordinators", group.id);
    let answer = karim
        .client
        .request(reqwest::Method::PUT, &path)
        .json(&serde_json::json!({ "user_ids": [j] }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], "membership_record_required");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    assert_eq!(
        count_rows(&server, "group_coordinators", "group_id", &group.id).await,
        0
    );
    assert!(audit_actions(&server, Some(&group.id))
        .await
        .contains(&("group_coordinators_set".into(), "denied".into())));

    // Signed by Karim's device: Jean coordinates, as the log sees it too.
    let named = karim
        .client
        .set_group_coordinators(&karim.device, &group.id, std::slice::from_ref(&j))
        .await
        .unwrap();
    assert_eq!(named.coordinators.len(), 1);
    let log = jean
        .client
        .verified_membership(&group.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(log.seq, 2);
    assert!(log.coordinators.contains(&j));
    // So the addition Jean signs is accepted by the server and by every member's client.
    jean.client
        .add_member(&jean.device, &group.id, &sophie.user.id, false)
        .await
        .unwrap();
    let log = karim
        .client
        .verified_membership(&group.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(log.seq, 3);
    assert!(log.is_member(&sophie.user.id));
    // No longer named: a signed `member` role.
    karim
        .client
        .set_group_coordinators(&karim.device, &group.id, &[])
        .await
        .unwrap();
    let log = karim
        .client
        .verified_membership(&group.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(log.seq, 4);
    assert!(!log.coordinators.contains(&j));
}

/// The server removes a member by itself when they lose what the channel's regime requires
/// (§15.2); it cannot sign that into the log, so the first coordinator whose client sees
/// it signs a `removed` record with reason `server` (§22.3). The server takes such a
/// record only for someone it did remove: one naming a member is refused and logged.
#[tokio::test]
async fn a_removal_by_the_server_is_ratified_by_a_coordinator_and_leaves_the_log() {
    use passerelle_shared::crypto::LOG_SERVER_REMOVAL;
    use passerelle_shared::protocol::v1::channels::{ChannelKind, CreateChannel, LegalRegime};
    use passerelle_shared::protocol::v1::Attributes;

    let server = TestServer::spawn().await.unwrap();
    let social = Attributes {
        bound_by_professional_secrecy: true,
        social_action_professional: true,
    };
    let mut karim =
        Party::with_attributes(&server, "karim", Role::Coordinator, "CCAS", social).await;
    let jean = Party::with_attributes(&server, "jean", Role::Member, "CCAS", social).await;
    let mut sophie = Party::with_attributes(&server, "sophie", Role::Member, "CCAS", social).await;
    let (k, j, s) = (
        karim.user.id.clone(),
        jean.user.id.clone(),
        sophie.user.id.clone(),
    );
    let group: Channel = karim
        .client
        .post(
            "/channels",
            &CreateChannel {
                kind: ChannelKind::WorkingGroup,
                name: "Secret partagé".into(),
                regime: LegalRegime::SharedSecretSocial,
                institutions: vec![karim.user.institution_id.clone().into()],
                members: vec![j.clone().into(), s.clone().into()],
            },
        )
        .await
        .unwrap();
    karim
        .publish_rules(&group.id, "# Règlement\n\nConfidentiel.")
        .await;
    for party in [&karim, &jean, &sophie] {
        party.accept_rules(&group.id).await;
    }
    let start = karim
        .client
        .start_membership_log(&karim.device, &group.id)
        .await
        .unwrap();
    assert_eq!(members(&start), sorted(&[&k, &j, &s]));

    // Jean is no longer a social-action professional: the server removes him.
    let admin = crate::support::admin_client(&server, "admin").await;
    admin
        .request(reqwest::Method::PATCH, &format!("/admin/users/{j}"))
        .json(&serde_json::json!({ "attributes": {
            "bound_by_professional_secrecy": true,
            "social_action_professional": false
        }}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let log = sophie
        .client
        .verified_membership(&group.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        log.is_member(&j),
        "the log still names him: nobody signed it yet"
    );

    // A ratification for Sophie, still a member, is refused, logged, and stores nothing.
    let detail: passerelle_shared::protocol::v1::channels::ChannelDetail = karim
        .client
        .get(&format!("/channels/{}", group.id))
        .await
        .unwrap();
    let for_member = RecordBody {
        kind: "removed".into(),
        subjects: vec![s.clone()],
        reason: LOG_SERVER_REMOVAL.into(),
        ..start.next_body(
            detail.channel.epoch,
            &k,
            &karim.device.device_id,
            1_765_100_000_000,
        )
    }
    .sign(karim.device.keys())
    .unwrap();
    assert!(
        !detail.members.iter().any(|m| m.user_id == j),
        "the server removed him"
    );
    let log_path = format!("/channels/{}/membership-log", group.id);
    match karim
        .client
        .post_empty(&log_path, &serde_json::json!({ "record": for_member }))
        .await
    {
        Err(ClientError::Api { status, code }) => {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(code, "invalid_membership_record");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Nor may a coordinator's removal pass for the server's, or the reverse.
    let as_coordinator = RecordBody {
        kind: "removed".into(),
        subjects: vec![j.clone()],
        reason: "coordinator".into(),
        ..start.next_body(
            detail.channel.epoch,
            &k,
            &karim.device.device_id,
            1_765_100_000_000,
        )
    }
    .sign(karim.device.keys())
    .unwrap();
    match karim
        .client
        .post_empty(&log_path, &serde_json::json!({ "record": as_coordinator }))
        .await
    {
        Err(ClientError::Api { code, .. }) => assert_eq!(code, "invalid_membership_record"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        count_rows(&server, "membership_log", "channel_id", &group.id).await,
        1
    );
    let actions = audit_actions(&server, Some(&group.id)).await;
    assert!(actions.contains(&("membership_log_ratify".into(), "denied".into())));

    // Sophie does not coordinate: her client signs nothing.
    sophie
        .client
        .ratify_server_removals(&sophie.device, &group.id)
        .await
        .unwrap();
    assert_eq!(
        count_rows(&server, "membership_log", "channel_id", &group.id).await,
        1
    );

    // Karim's client ratifies; every member's verified log no longer has Jean.
    let after = karim
        .client
        .ratify_server_removals(&karim.device, &group.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(members(&after), sorted(&[&k, &s]));
    let log = sophie
        .client
        .verified_membership(&group.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(members(&log), sorted(&[&k, &s]));
    assert_eq!(log.seq, 2);
    let actions = audit_actions(&server, Some(&group.id)).await;
    assert!(actions.contains(&("membership_log_ratified".into(), "success".into())));

    // Done once: a second pass signs nothing, and a signed change extends the log.
    karim
        .client
        .ratify_server_removals(&karim.device, &group.id)
        .await
        .unwrap();
    assert_eq!(
        count_rows(&server, "membership_log", "channel_id", &group.id).await,
        2
    );
    karim
        .client
        .remove_member(&karim.device, &group.id, &s, "Fin de mission")
        .await
        .unwrap();
    let log = karim
        .client
        .verified_membership(&group.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(members(&log), sorted(&[&k]));
}

/// A coordinator who signed records resets her keys (lost recovery code): the records her
/// revoked old device signed still verify, for a member who pinned her old identity (once
/// the change is accepted) and for one who meets her after the reset — the key log shows
/// the old device was certified by her earlier identity (§22.2 point 5, §25) — and her new
/// device signs changes that verify.
#[tokio::test]
async fn a_log_stays_verifiable_across_a_coordinators_identity_reset() {
    let server = TestServer::spawn().await.unwrap();
    let (mut karim, mut jean, sophie, mut mallory, group) = cast(&server).await;
    let (k, j, s, m) = (
        karim.user.id.clone(),
        jean.user.id.clone(),
        sophie.user.id.clone(),
        mallory.user.id.clone(),
    );
    karim
        .client
        .add_member(&karim.device, &group.id, &s, false)
        .await
        .unwrap();
    let before = jean
        .client
        .verified_membership(&group.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(members(&before), sorted(&[&k, &j, &s]));

    // Karim lost his computer and his recovery code: old device revoked, new identity.
    karim
        .client
        .request(
            reqwest::Method::DELETE,
            &format!("/keys/devices/{}", karim.device.device_id),
        )
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let mut fresh = server.client(&karim.user).await.unwrap();
    let device = fresh.reset_keys("Nouveau poste").await.unwrap().device;

    // Jean pinned the old identity: warned, he accepts the new one; the records of the
    // revoked old device still verify.
    assert!(matches!(
        jean.client.verified_membership(&group.id).await,
        Err(ClientError::IdentityChanged(_))
    ));
    jean.client.accept_identity_change(&k).await.unwrap();
    let after = jean
        .client
        .verified_membership(&group.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.head, before.head);
    assert_eq!(members(&after), sorted(&[&k, &j, &s]));

    // His new device signs the next change (Mallory added); every member verifies it.
    fresh
        .add_member(&device, &group.id, &m, false)
        .await
        .unwrap();
    mallory.accept_rules(&group.id).await;
    for reader in [&mut jean, &mut mallory] {
        let log = reader
            .client
            .verified_membership(&group.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(log.seq, 3);
        assert_eq!(members(&log), sorted(&[&k, &j, &s, &m]));
    }
    // Mallory met Karim only after the reset: the genesis and the addition his old device
    // signed verify for her too (above); the last record is the new device's.
    let log: passerelle_shared::protocol::v1::channels::MembershipLog = mallory
        .client
        .get(&format!("/channels/{}/membership-log", group.id))
        .await
        .unwrap();
    assert_eq!(log.records[0].actor_device, karim.device.device_id);
    assert_eq!(log.records[2].actor_device, device.device_id);
}
