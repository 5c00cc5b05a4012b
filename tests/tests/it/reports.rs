//! The annual report (CHARTER.md C14): anonymous counts, for coordinators and admins.

use passerelle_shared::protocol::v1::channels::RemoveMember;
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;
use reqwest::Method;

use crate::support::{audit_actions, working_group, Party};

fn this_year(server: &TestServer) -> i32 {
    use passerelle_server::clock::Clock;
    let now = time::OffsetDateTime::from_unix_timestamp(server.clock.now_ms() / 1000).unwrap();
    now.year()
}

#[tokio::test]
async fn the_annual_report_counts_groups_members_and_exclusions_without_names() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let a = Party::new(&server, "agent.a", Role::Member, "CCAS").await;
    let b = Party::new(&server, "agent.b", Role::Member, "PJJ").await;
    let channel = working_group(&mut coord, &[&a, &b]).await;
    coord
        .client
        .request(
            Method::DELETE,
            &format!("/channels/{}/members/{}", channel.id, b.user.id),
        )
        .json(&RemoveMember {
            reason: "Départ du service".into(),
        })
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();

    let year = this_year(&server);
    let report: serde_json::Value = coord
        .client
        .get(&format!("/reports/annual?year={year}"))
        .await
        .unwrap();
    assert_eq!(report["working_groups"], 1);
    assert_eq!(report["working_groups_created"], 1);
    assert_eq!(report["exclusions"], 1);
    assert_eq!(report["members_by_institution"]["Mairie"], 1);
    assert_eq!(report["members_by_institution"]["CCAS"], 1);
    assert!(
        report["members_by_institution"].get("PJJ").is_none(),
        "the excluded member is no longer counted"
    );
    let text = report.to_string();
    for secret in [
        "Groupe jeunesse",
        "agent.a",
        "Départ du service",
        channel.id.as_str(),
    ] {
        assert!(!text.contains(secret), "the report names {secret}");
    }

    let csv = coord
        .client
        .request(
            Method::GET,
            &format!("/reports/annual?year={year}&format=csv"),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("indicateur,valeur\n"));
    assert!(csv.contains("exclusions,1\n"));

    let refused = a
        .client
        .get::<serde_json::Value>(&format!("/reports/annual?year={year}"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("forbidden"));
    let actions = audit_actions(&server, None).await;
    assert!(actions.contains(&("annual_report_read".into(), "success".into())));
    assert!(actions.contains(&("annual_report_read".into(), "denied".into())));
}
