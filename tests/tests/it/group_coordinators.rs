//! Coordinators named per working group (CHARTER.md C1, issue 19 item 7): an admin or a
//! coordinator of the group names some of its members; they may then do, for the group,
//! its cases and its sessions, what a coordinator may — open them, and read a case's
//! identity (C7).
//! The global coordinator role keeps working; everyone else is refused and logged.

use passerelle_server::clock::Clock;
use passerelle_shared::protocol::v1::case_identity::IdentityRecord;
use passerelle_shared::protocol::v1::cases::{CaseView, CreateCase, Programme};
use passerelle_shared::protocol::v1::channels::{GroupCoordinators, LegalRegime};
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{admin_client, audit_events, start_log, working_group, Party};

async fn call(party: &Party, method: Method, path: &str, body: Value) -> (StatusCode, String) {
    let response = party
        .client
        .request(method, path)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.ends_with('.') && !message.contains('_'),
            "{message}"
        );
    }
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test]
async fn a_group_names_its_coordinators_who_then_coordinate_its_cases() {
    let server = TestServer::spawn().await.unwrap();
    let mut coordinator = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut anna = Party::new(&server, "anna", Role::Member, "CCAS").await;
    let mut bob = Party::new(&server, "bob", Role::Member, "PJJ").await;
    let external = Party::new(&server, "asso", Role::External, "Association Trait d'union").await;
    let outsider = Party::new(&server, "dan", Role::Member, "CCAS").await;
    let group = working_group(&mut coordinator, &[&anna, &bob, &external]).await;
    let case: CaseView = coordinator
        .client
        .post(
            "/cases",
            &CreateCase {
                programme: Programme::PublicTranquillity,
                reporting_institution: bob.user.institution_id.clone().into(),
                regime: LegalRegime::ClspdConfidential,
                group_id: Some(group.id.clone()),
                institutions: vec![
                    bob.user.institution_id.clone().into(),
                    anna.user.institution_id.clone().into(),
                ],
                members: vec![bob.user.id.clone().into(), anna.user.id.clone().into()],
                referent_user_id: Some(bob.user.id.clone().into()),
                destroy_limit: None,
                scheme: None,
            },
        )
        .await
        .unwrap();
    let case_path = format!("/cases/{}", case.channel.id);
    let coordinators_path = format!("/channels/{}/coordinators", group.id);

    // A plain member coordinates nothing: not the case, not the group's list.
    let before: CaseView = anna.client.get(&case_path).await.unwrap();
    assert!(!before.caller_coordinates && !before.caller_reads_identity);
    assert_eq!(
        call(
            &anna,
            Method::PATCH,
            &case_path,
            json!({ "follow_up_status": "assessment" })
        )
        .await,
        (StatusCode::FORBIDDEN, "not_coordinator".into())
    );
    assert_eq!(
        call(
            &anna,
            Method::PUT,
            &coordinators_path,
            json!({ "user_ids": [anna.user.id] })
        )
        .await,
        (StatusCode::FORBIDDEN, "not_coordinator".into())
    );

    // Only members who may coordinate are named: not an external participant, not an
    // outsider of the group.
    for refused in [&external.user.id, &outsider.user.id] {
        assert_eq!(
            call(
                &coordinator,
                Method::PUT,
                &coordinators_path,
                json!({ "user_ids": [refused] })
            )
            .await,
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_coordinator".into()
            )
        );
    }

    // The coordinator names Anna; the members see who coordinates, only she may change it.
    let named: GroupCoordinators = anna.client.get(&coordinators_path).await.unwrap();
    assert!(named.coordinators.is_empty());
    let (status, _) = call(
        &coordinator,
        Method::PUT,
        &coordinators_path,
        json!({ "user_ids": [anna.user.id] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let seen: GroupCoordinators = bob.client.get(&coordinators_path).await.unwrap();
    assert_eq!(
        seen.coordinators
            .iter()
            .map(|c| c.user_id.as_str())
            .collect::<Vec<_>>(),
        [anna.user.id.as_str()]
    );
    assert!(!seen.can_edit);
    let own: GroupCoordinators = anna.client.get(&coordinators_path).await.unwrap();
    assert!(own.can_edit);

    // Anna now does for the group's case what a coordinator may, and reads its identity.
    let view: CaseView = anna.client.get(&case_path).await.unwrap();
    assert!(view.caller_coordinates && view.caller_reads_identity);
    assert_eq!(
        call(
            &anna,
            Method::PATCH,
            &case_path,
            json!({ "follow_up_status": "assessment" })
        )
        .await
        .0,
        StatusCode::OK
    );
    let record = IdentityRecord {
        name: "Nina PETIT".into(),
        birth_month: None,
    };
    // The case's log, started by its coordinator's client as it lists its channels, names
    // Anna among its coordinators (the group names her); she signs the referent chosen at
    // the opening, whom the sealing client takes from the log only (PROTOCOL.md §19).
    start_log(&mut coordinator, &case.channel.id).await;
    anna.client
        .set_case_referent(&anna.device, &case.channel.id, &bob.user.id)
        .await
        .unwrap();
    anna.client
        .set_case_identity(&anna.device, &case.channel.id, &record)
        .await
        .unwrap();
    let read = bob
        .client
        .open_case_identity(&bob.device, &case.channel.id)
        .await
        .unwrap();
    assert_eq!(read, record);
    // And publishes the group's rules.
    anna.publish_rules(&group.id, "# Règlement\n\nVersion 2.")
        .await;

    // She opens cases and practice sessions in her group, not elsewhere; Bob, not named,
    // opens none, and each refusal is logged.
    let new_case = |group_id: &str| {
        json!({
            "programme": "public_tranquillity",
            "reporting_institution": bob.user.institution_id,
            "regime": "clspd_confidential",
            "group_id": group_id,
            "institutions": [bob.user.institution_id, anna.user.institution_id],
            "members": [bob.user.id],
            "referent_user_id": bob.user.id,
        })
    };
    let (status, _) = call(&anna, Method::POST, "/cases", new_case(&group.id)).await;
    assert_eq!(status, StatusCode::CREATED);
    let now = server.clock.now_ms();
    let session = json!({
        "name": "",
        "starts_at": now,
        "ends_at": now + 7_200_000,
        "group_id": group.id,
        "institutions": [bob.user.institution_id],
        "members": [bob.user.id],
    });
    let (status, _) = call(&anna, Method::POST, "/practice-sessions", session).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = call(&bob, Method::POST, "/cases", new_case(&group.id)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let other_group = working_group(&mut coordinator, &[&anna, &bob]).await;
    let (status, _) = call(&anna, Method::POST, "/cases", new_case(&other_group.id)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "named in one group only");
    let denied = crate::support::audit_actions(&server, None).await;
    assert!(
        denied
            .iter()
            .filter(|(action, outcome)| action == "case_create" && outcome == "denied")
            .count()
            >= 2,
        "{denied:?}"
    );

    // The admin names coordinators too.
    let admin = admin_client(&server, "admin").await;
    let by_admin: GroupCoordinators = admin
        .request(Method::PUT, &coordinators_path)
        .json(&json!({ "user_ids": [anna.user.id, bob.user.id] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_admin.coordinators.len(), 2);

    // Leaving the group ends the duty.
    let (status, _) = call(
        &anna,
        Method::POST,
        &format!("/channels/{}/leave", group.id),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let after: GroupCoordinators = bob.client.get(&coordinators_path).await.unwrap();
    assert_eq!(
        after
            .coordinators
            .iter()
            .map(|c| c.user_id.as_str())
            .collect::<Vec<_>>(),
        [bob.user.id.as_str()]
    );

    // Every refusal is in the access log; every naming too.
    let refusals: Vec<String> = audit_events(&server, &group.id, "group_coordinators_set")
        .await
        .into_iter()
        .filter(|e| e.outcome == "denied")
        .filter_map(|e| e.user_id)
        .collect();
    assert!(refusals.contains(&anna.user.id) && refusals.contains(&coordinator.user.id));
    assert_eq!(
        audit_events(&server, &group.id, "group_coordinators_named")
            .await
            .len(),
        2
    );
    assert!(audit_events(&server, &case.channel.id, "case_update")
        .await
        .iter()
        .any(|e| e.outcome == "denied" && e.user_id.as_deref() == Some(anna.user.id.as_str())));
}
