//! The auditor's console in words (issue 20): the newest events first, the ids of a page
//! resolved to names by the server, an institution filter by name, a case found by its
//! reference; and the list of institutions every account may read.

use passerelle_shared::protocol::v1::audit::AuditEventPage;
use passerelle_shared::protocol::v1::auth::InstitutionRef;
use passerelle_shared::protocol::v1::cases::{CaseView, CreateCase, Programme};
use passerelle_shared::protocol::v1::channels::LegalRegime;
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;
use serde_json::Value;

use crate::support::{working_group, Party};

fn seqs(page: &Value) -> Vec<u64> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_auditor_reads_the_newest_first_with_names_and_finds_a_case_by_reference() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let member = Party::new(&server, "educ", Role::Member, "PJJ").await;
    let group = working_group(&mut coord, &[&member]).await;
    let case: CaseView = coord
        .client
        .post(
            "/cases",
            &CreateCase {
                programme: Programme::PublicTranquillity,
                reporting_institution: member.user.institution_id.clone().into(),
                regime: LegalRegime::ClspdConfidential,
                group_id: Some(group.id.clone()),
                institutions: vec![member.user.institution_id.clone().into()],
                members: vec![member.user.id.clone().into()],
                referent_user_id: Some(member.user.id.clone().into()),
                destroy_limit: None,
                scheme: None,
            },
        )
        .await
        .unwrap();
    let reference = case.channel.name.clone();
    let auditor = server
        .create_user("dpo", Role::Auditor, "Mairie")
        .await
        .unwrap();
    let dpo = server.client(&auditor).await.unwrap();

    // Newest first, paged backwards without gap nor overlap.
    let first: Value = dpo.get("/audit/events?order=desc&limit=3").await.unwrap();
    let first_seqs = seqs(&first);
    assert_eq!(first_seqs.len(), 3);
    assert!(first_seqs.windows(2).all(|w| w[0] > w[1]), "{first_seqs:?}");
    let before = first["next_before_seq"].as_u64().unwrap();
    assert_eq!(before, first_seqs[2]);
    let second: Value = dpo
        .get(&format!(
            "/audit/events?order=desc&limit=3&before_seq={before}"
        ))
        .await
        .unwrap();
    assert_eq!(seqs(&second)[0], before - 1);
    // Mixing the two directions is a clear 400.
    let mixed = dpo
        .request(reqwest::Method::GET, "/audit/events?order=desc&after_seq=2")
        .send()
        .await
        .unwrap();
    assert_eq!(mixed.status(), reqwest::StatusCode::BAD_REQUEST);

    // By the case's reference: the events of its channel, which name its id, and the
    // names of who and what.
    let page: Value = dpo
        .get(&format!("/audit/events?order=desc&target={reference}"))
        .await
        .unwrap();
    let events = page["events"].as_array().unwrap();
    assert!(
        !events.is_empty(),
        "the case's events are found by its reference"
    );
    assert!(events
        .iter()
        .all(|e| e["target"] == case.channel.id.as_str() || e["target"] == reference.as_str()));
    let names = &page["names"];
    assert_eq!(names[case.channel.id.as_str()], reference.as_str());
    assert_eq!(names[&coord.user.id], "Test coord");
    assert_eq!(names[&coord.user.institution_id], "Mairie");

    // By institution name: only that institution's people. The page reads into the
    // shared types programs use.
    let page: AuditEventPage = dpo
        .get("/audit/events?order=desc&institution=PJJ")
        .await
        .unwrap();
    assert!(!page.events.is_empty());
    assert!(page
        .events
        .iter()
        .all(|e| e.actor.institution_id.as_deref() == Some(member.user.institution_id.as_str())));
    // The export follows the same filter.
    let export: Value = dpo
        .get("/audit/export?format=json&institution=PJJ")
        .await
        .unwrap();
    assert_eq!(export.as_array().unwrap().len() as u64, page.total);
}

#[tokio::test]
async fn every_account_lists_the_institutions_even_those_without_accounts() {
    let server = TestServer::spawn().await.unwrap();
    let coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    server.institution("Bailleur social").await.unwrap();
    let institutions: Vec<InstitutionRef> =
        coord.client.get("/directory/institutions").await.unwrap();
    let names: Vec<&str> = institutions.iter().map(|i| i.name.as_str()).collect();
    assert!(names.contains(&"Bailleur social"), "{names:?}");
    assert!(names.contains(&"Mairie"), "{names:?}");
    let unauthenticated = server
        .http()
        .get(server.url("/api/v1/directory/institutions"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), reqwest::StatusCode::UNAUTHORIZED);
}
