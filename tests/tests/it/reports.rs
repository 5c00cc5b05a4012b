//! The annual report (CHARTER.md C14): anonymous counts, for coordinators and admins.

use passerelle_shared::protocol::v1::channels::{
    Channel, ChannelKind, CreateChannel, LegalRegime, RemoveMember,
};
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
            record: None,
            reason: "Départ du service".into(),
        })
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    // A direct conversation is outside any group: it counts apart (C1).
    let _direct: Channel = a
        .client
        .post(
            "/channels",
            &CreateChannel {
                kind: ChannelKind::Direct,
                name: String::new(),
                regime: LegalRegime::ClspdConfidential,
                institutions: Vec::new(),
                members: vec![coord.user.id.clone().into()],
            },
        )
        .await
        .unwrap();

    let year = this_year(&server);
    let report: serde_json::Value = coord
        .client
        .get(&format!("/reports/annual?year={year}"))
        .await
        .unwrap();
    assert_eq!(report["working_groups"], 1);
    assert_eq!(report["working_groups_created"], 1);
    assert_eq!(report["direct_conversations"], 1);
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

/// CHARTER.md C14: a closed year's report is frozen from the last snapshot of that year;
/// later memberships, removals and the access-log purge change nothing in it.
#[tokio::test]
async fn a_closed_years_report_stays_byte_identical_whatever_happens_afterwards() {
    use passerelle_server::clock::Clock;
    let server = crate::support::long_sessions_server(|_| {}).await;
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let a = Party::new(&server, "agent.a", Role::Member, "CCAS").await;
    let b = Party::new(&server, "agent.b", Role::Member, "PJJ").await;
    let channel = working_group(&mut coord, &[&a, &b]).await;
    let remove = |who: &Party| {
        coord
            .client
            .request(
                Method::DELETE,
                &format!("/channels/{}/members/{}", channel.id, who.user.id),
            )
            .json(&RemoveMember {
                record: None,
                reason: "Départ du service".into(),
            })
    };
    remove(&b).send().await.unwrap().error_for_status().unwrap();
    let year = this_year(&server);
    // The retention job's last pass of the year takes the snapshot.
    passerelle_server::app::retention::run_once(&server.state)
        .await
        .unwrap();

    // New Year's Day.
    let new_year = time::Date::from_calendar_date(year + 1, time::Month::January, 1)
        .unwrap()
        .midnight()
        .assume_utc()
        .unix_timestamp()
        * 1000;
    server
        .clock
        .advance_ms(new_year - server.clock.now_ms() + 3_600_000);
    let read = |year: i32| {
        let client = &coord.client;
        async move {
            client
                .request(Method::GET, &format!("/reports/annual?year={year}"))
                .send()
                .await
                .unwrap()
                .error_for_status()
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let closed = read(year).await;
    let report: serde_json::Value = serde_json::from_str(&closed).unwrap();
    assert_eq!(report["working_groups"], 1);
    assert_eq!(report["working_groups_created"], 1);
    assert_eq!(report["exclusions"], 1);
    assert_eq!(report["members_by_institution"]["Mairie"], 1);
    assert_eq!(report["members_by_institution"]["CCAS"], 1);
    assert!(report["charter_acceptances"].as_u64().unwrap_or(0) >= 3);

    // The next year: a newcomer joins, the social worker leaves,
    // and the access log is purged.
    let c = Party::new(&server, "agent.c", Role::Member, "PJJ").await;
    coord
        .client
        .request(Method::POST, &format!("/channels/{}/members", channel.id))
        .json(&passerelle_shared::protocol::v1::channels::AddMember {
            record: None,
            user_id: c.user.id.clone().into(),
        })
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    remove(&a).send().await.unwrap().error_for_status().unwrap();
    let purged = server
        .state
        .audit
        .purge_expired(server.clock.now_ms() + 10 * 366 * 86_400_000)
        .await
        .unwrap();
    assert!(purged.purged > 0, "the access log was purged");
    passerelle_server::app::retention::run_once(&server.state)
        .await
        .unwrap();

    assert_eq!(
        read(year).await,
        closed,
        "the closed year's report is frozen"
    );
    let current: serde_json::Value = serde_json::from_str(&read(year + 1).await).unwrap();
    assert_eq!(current["exclusions"], 1, "only this year's removal");
    assert_eq!(current["working_groups_created"], 0);
    assert_eq!(current["members_by_institution"]["PJJ"], 1);
    assert!(current["members_by_institution"].get("CCAS").is_none());
}
