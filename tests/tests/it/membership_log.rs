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
        user_id: user_id.to_owned(),
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
    assert_eq!(denials, 4, "each refusal is in the access log");
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
