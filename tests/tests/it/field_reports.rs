//! Field reports of the public-tranquillity mediators (issue 21, item 3): a mediator files
//! a non-nominative report to one of their working groups, whose members take it in
//! charge and answer it; the description, the photo and the answer stay end-to-end
//! encrypted; the annual report counts the reports.

use passerelle_shared::client::NewFieldReport;
use passerelle_shared::crypto::MessageContent;
use passerelle_shared::protocol::v1::channels::Channel;
use passerelle_shared::protocol::v1::field_reports::{
    FieldReport, FieldReportCategory, FieldReportStatus,
};
use passerelle_shared::protocol::v1::{InstitutionKind, Role};
use passerelle_tests::TestServer;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

use crate::support::{
    audit_actions, audit_events, count_rows, long_sessions_server, working_group, Party,
};

const MEDIATION: &str = "Médiation";
const DESCRIPTION: &str = "Lampadaire arraché devant l'entrée B, câbles à nu";
const ANSWER: &str = "Services techniques prévenus, intervention jeudi matin";

/// A mediator (external account of the Médiation institution) in a working group with a
/// coordinator and a professional of the CCAS.
struct Scene {
    server: TestServer,
    coordinator: Party,
    professional: Party,
    mediator: Party,
    group: Channel,
}

async fn scene() -> Scene {
    scene_on(TestServer::spawn().await.unwrap()).await
}

async fn scene_on(server: TestServer) -> Scene {
    server
        .institution_of_kind(MEDIATION, InstitutionKind::Mediation)
        .await
        .unwrap();
    let mut coordinator = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let professional = Party::new(&server, "agent.ccas", Role::Member, "CCAS").await;
    let mediator = Party::new(&server, "mediateur", Role::External, MEDIATION).await;
    let group = working_group(&mut coordinator, &[&professional, &mediator]).await;
    crate::support::start_log(&mut coordinator, &group.id).await;
    Scene {
        server,
        coordinator,
        professional,
        mediator,
        group,
    }
}

fn now(server: &TestServer) -> i64 {
    use passerelle_server::clock::Clock;
    server.clock.now_ms()
}

async fn file(server: &TestServer, mediator: &mut Party, group: &str, text: &str) -> FieldReport {
    mediator
        .client
        .file_field_report(
            &mut mediator.device,
            NewFieldReport {
                group_id: group,
                category: FieldReportCategory::TechnicalFault,
                place: "Résidence des Tilleuls, entrée B",
                observed_at: now(server) - 3_600_000,
                description: &MessageContent::text(text),
            },
        )
        .await
        .unwrap()
}

/// Sends `body` to `path` as `party` and returns the status and the error code.
async fn call(
    party: &Party,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, String) {
    let mut request = party.client.request(method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.ends_with('.') && !message.contains('_'),
            "a French sentence for {code}: {message}"
        );
    }
    (status, code)
}

/// Every stored text of the field reports, to check that nothing is in clear.
async fn stored_texts(server: &TestServer) -> String {
    let db = &server.state.db;
    db.query_all(Statement::from_string(
        db.get_database_backend(),
        "SELECT description, answer, place FROM field_reports",
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|row| {
        let description: String = row.try_get("", "description").unwrap();
        let answer: Option<String> = row.try_get("", "answer").unwrap();
        let place: String = row.try_get("", "place").unwrap();
        format!("{description}{}{place}", answer.unwrap_or_default())
    })
    .collect()
}

async fn denials(server: &TestServer, action: &str) -> usize {
    let filter = passerelle_server::audit::EventFilter {
        action: Some(action.to_owned()),
        outcome: Some(passerelle_server::audit::Outcome::Denied),
        ..Default::default()
    };
    server
        .state
        .audit
        .count(&filter)
        .await
        .unwrap()
        .try_into()
        .unwrap()
}

#[tokio::test]
async fn a_mediator_files_a_report_with_a_photo_and_the_group_takes_it_in_charge_and_answers() {
    let Scene {
        server,
        coordinator: _coordinator,
        mut professional,
        mut mediator,
        group,
    } = scene().await;
    let photo = b"\x89PNG photo du lampadaire".to_vec();
    let attachment = mediator
        .client
        .upload_attachment(&group.id, "lampadaire.png", "image/png", &photo)
        .await
        .unwrap();
    let mut description = MessageContent::text(DESCRIPTION);
    description.attachments.push(attachment);
    let filed = mediator
        .client
        .file_field_report(
            &mut mediator.device,
            NewFieldReport {
                group_id: &group.id,
                category: FieldReportCategory::TechnicalFault,
                place: "Résidence des Tilleuls, entrée B",
                observed_at: now(&server) - 3_600_000,
                description: &description,
            },
        )
        .await
        .unwrap();
    assert_eq!(filed.status, FieldReportStatus::New);
    assert_eq!(filed.group_id, group.id);
    assert_eq!(filed.author, mediator.user.id);

    // The group's professional sees it, reads the description and the photo.
    let listed = professional.client.field_reports().await.unwrap();
    assert_eq!(
        listed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [filed.id.as_str()]
    );
    // The place is sealed (issue 19 item 3): the group's members open it.
    assert_eq!(listed[0].place, "");
    assert!(listed[0].sealed_place.is_some());
    assert_eq!(
        professional
            .client
            .open_field_report_place(&professional.device, &listed[0])
            .await
            .unwrap(),
        "Résidence des Tilleuls, entrée B"
    );
    assert_eq!(listed[0].group_name, group.name);
    let (opened, answer) = professional
        .client
        .open_field_report(&professional.device, &listed[0])
        .await
        .unwrap();
    let opened = opened.expect("a filed report has its description");
    assert_eq!(opened.text, DESCRIPTION);
    assert!(answer.is_none());
    let downloaded = professional
        .client
        .download_attachment(&opened.attachments[0])
        .await
        .unwrap();
    assert_eq!(downloaded.as_slice(), photo.as_slice());

    // Taken in charge, then answered.
    let taken = professional
        .client
        .take_field_report_in_charge(&filed.id)
        .await
        .unwrap();
    assert_eq!(taken.status, FieldReportStatus::InProgress);
    assert_eq!(
        taken.handled_by.as_deref(),
        Some(professional.user.id.as_str())
    );
    let done = professional
        .client
        .answer_field_report(
            &mut professional.device,
            &taken,
            &MessageContent::text(ANSWER),
        )
        .await
        .unwrap();
    assert_eq!(done.status, FieldReportStatus::Done);

    // The mediator sees the status and reads the answer.
    let mine = mediator.client.field_reports().await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].status, FieldReportStatus::Done);
    let (_, answer) = mediator
        .client
        .open_field_report(&mediator.device, &mine[0])
        .await
        .unwrap();
    assert_eq!(answer.map(|a| a.text.clone()).as_deref(), Some(ANSWER));

    // The server holds neither the place, the description nor the answer in clear.
    let stored = stored_texts(&server).await;
    assert!(!stored.is_empty());
    for secret in [DESCRIPTION, ANSWER, "lampadaire.png", "Tilleuls"] {
        assert!(!stored.contains(secret), "stored in clear: {secret}");
    }

    // Each step is in the access log, on the group.
    let actions = audit_actions(&server, Some(&group.id)).await;
    for action in [
        "field_report_filed",
        "field_report_taken_in_charge",
        "field_report_answered",
    ] {
        assert!(
            actions.contains(&(action.to_owned(), "success".to_owned())),
            "{action} in {actions:?}"
        );
    }
}

#[tokio::test]
async fn only_the_author_and_the_addressed_group_see_a_report_and_only_the_group_changes_it() {
    let Scene {
        server,
        mut coordinator,
        professional,
        mut mediator,
        group,
    } = scene().await;
    let other_mediator = Party::new(&server, "mediatrice.bis", Role::External, MEDIATION).await;
    let outsider = Party::new(&server, "agent.hors.groupe", Role::Member, "CCAS").await;
    let auditor = Party::new(&server, "dpo", Role::Auditor, "Mairie").await;
    // The other mediator shares the group, yet sees only their own reports.
    coordinator
        .client
        .add_member(
            &coordinator.device,
            &group.id,
            &other_mediator.user.id,
            false,
        )
        .await
        .unwrap();
    other_mediator.accept_rules(&group.id).await;
    let report = file(&server, &mut mediator, &group.id, DESCRIPTION).await;
    let one = format!("/field-reports/{}", report.id);
    let status = format!("/field-reports/{}/status", report.id);
    let take = json!({ "status": "in_progress" });

    for (who, party) in [
        ("another mediator", &other_mediator),
        ("a member outside the group", &outsider),
    ] {
        assert!(
            party.client.field_reports().await.unwrap().is_empty(),
            "{who} lists nothing"
        );
        assert_eq!(
            call(party, Method::GET, &one, None).await.0,
            StatusCode::NOT_FOUND,
            "{who}"
        );
        assert_eq!(
            call(party, Method::POST, &status, Some(take.clone()))
                .await
                .0,
            StatusCode::NOT_FOUND,
            "{who}"
        );
    }
    // The auditor reads the access log, not the reports.
    assert_eq!(
        call(&auditor, Method::GET, "/field-reports", None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&auditor, Method::GET, &one, None).await.0,
        StatusCode::FORBIDDEN
    );
    // The mediator follows their report but does not handle it; a professional does not
    // file reports.
    assert_eq!(
        call(&mediator, Method::POST, &status, Some(take.clone())).await,
        (StatusCode::FORBIDDEN, "forbidden".to_owned())
    );
    let mut professional = professional;
    let refused = professional
        .client
        .file_field_report(
            &mut professional.device,
            NewFieldReport {
                group_id: &group.id,
                category: FieldReportCategory::Conflict,
                place: "Square Victor-Hugo",
                observed_at: now(&server),
                description: &MessageContent::text("Dispute"),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("forbidden"));

    // Nothing changed, and every refusal is in the access log.
    assert_eq!(
        count_rows(&server, "field_reports", "status", "new").await,
        1
    );
    assert!(denials(&server, "field_report_read").await >= 3);
    assert!(denials(&server, "field_report_update").await >= 3);
    assert!(denials(&server, "field_report_list").await >= 1);
    assert!(denials(&server, "field_report_file").await >= 1);
    // The group's members still handle it.
    coordinator
        .client
        .take_field_report_in_charge(&report.id)
        .await
        .unwrap();
}

#[tokio::test]
async fn bad_or_replayed_input_is_refused_in_french_and_stores_nothing() {
    let Scene {
        server,
        mut coordinator,
        mut professional,
        mut mediator,
        group,
    } = scene().await;
    // A valid filing, to replay and to break one field at a time.
    let envelope = mediator
        .client
        .seal(
            &mut mediator.device,
            &group.id,
            &MessageContent::text(DESCRIPTION),
        )
        .await
        .unwrap();
    let place = mediator
        .client
        .seal_field_report_place(
            &mediator.device,
            &group.id,
            &envelope,
            "Parvis de la médiathèque",
        )
        .await
        .unwrap();
    // Sealed for another description: it does not go with this one.
    let other_description = mediator
        .client
        .seal(&mut mediator.device, &group.id, &MessageContent::text("x"))
        .await
        .unwrap();
    let misplaced = mediator
        .client
        .seal_field_report_place(
            &mediator.device,
            &group.id,
            &other_description,
            "Parvis de la médiathèque",
        )
        .await
        .unwrap();
    let valid = json!({
        "group_id": group.id,
        "category": "incivility",
        "sealed_place": place,
        "observed_at": now(&server) - 60_000,
        "description": envelope,
    });
    let without_place = {
        let mut body = valid.clone();
        body.as_object_mut().unwrap().remove("sealed_place");
        body
    };
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    // A group the mediator is not in.
    let elsewhere = working_group(&mut coordinator, &[&professional]).await;
    let foreign_envelope = professional
        .client
        .seal(
            &mut professional.device,
            &group.id,
            &MessageContent::text("x"),
        )
        .await
        .unwrap();
    let cases = [
        (
            with("category", json!("cambriolage")),
            StatusCode::BAD_REQUEST,
            "",
        ),
        // A place in clear, next to the sealed one or instead of it.
        (
            with("place", json!("Parvis de la médiathèque")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "place_must_be_sealed",
        ),
        (
            {
                let mut body = without_place.clone();
                body["place"] = json!("Parvis de la médiathèque");
                body
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "place_must_be_sealed",
        ),
        (
            without_place.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_place",
        ),
        (
            with("sealed_place", serde_json::to_value(&misplaced).unwrap()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_sealed_place",
        ),
        (
            with("sealed_place", serde_json::to_value(&envelope).unwrap()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_sealed_place",
        ),
        (
            with("observed_at", json!(now(&server) + 86_400_000)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_observed_at",
        ),
        (
            with("group_id", json!("groupe-inconnu")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_group",
        ),
        (
            with("group_id", json!(elsewhere.id)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_group",
        ),
        // Sealed by another person's device.
        (
            with(
                "description",
                serde_json::to_value(&foreign_envelope).unwrap(),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_report_envelope",
        ),
        // The description in clear is not a field of the request.
        (
            with("text", json!(DESCRIPTION)),
            StatusCode::BAD_REQUEST,
            "",
        ),
    ];
    for (body, expected, code) in cases {
        let (status, got) = call(
            &mediator,
            Method::POST,
            "/field-reports",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, expected, "{body}");
        if !code.is_empty() {
            assert_eq!(got, code, "{body}");
        }
    }
    assert_eq!(
        count_rows(&server, "field_reports", "group_id", &group.id).await,
        0
    );

    // Filed once; the same envelope again is a replay.
    assert_eq!(
        call(
            &mediator,
            Method::POST,
            "/field-reports",
            Some(valid.clone())
        )
        .await
        .0,
        StatusCode::CREATED
    );
    assert_eq!(
        call(&mediator, Method::POST, "/field-reports", Some(valid)).await,
        (StatusCode::CONFLICT, "field_report_replayed".to_owned())
    );
    assert_eq!(
        count_rows(&server, "field_reports", "group_id", &group.id).await,
        1
    );
    assert!(denials(&server, "field_report_file").await >= 7);

    // One step at a time, the answer with the last one only, and never twice.
    let id = mediator.client.field_reports().await.unwrap()[0].id.clone();
    let status = format!("/field-reports/{id}/status");
    let answer = professional
        .client
        .seal(
            &mut professional.device,
            &group.id,
            &MessageContent::text(ANSWER),
        )
        .await
        .unwrap();
    assert_eq!(
        call(
            &professional,
            Method::POST,
            &status,
            Some(json!({ "status": "done", "answer": answer }))
        )
        .await,
        (
            StatusCode::CONFLICT,
            "field_report_status_conflict".to_owned()
        )
    );
    assert_eq!(
        call(
            &professional,
            Method::POST,
            &status,
            Some(json!({ "status": "in_progress", "answer": answer }))
        )
        .await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "field_report_answer_not_expected".to_owned()
        )
    );
    assert_eq!(
        call(
            &professional,
            Method::POST,
            &status,
            Some(json!({ "status": "in_progress" }))
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        call(
            &coordinator,
            Method::POST,
            &status,
            Some(json!({ "status": "in_progress" }))
        )
        .await,
        (
            StatusCode::CONFLICT,
            "field_report_status_conflict".to_owned()
        )
    );
    assert_eq!(
        call(
            &professional,
            Method::POST,
            &status,
            Some(json!({ "status": "done" }))
        )
        .await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "field_report_answer_required".to_owned()
        )
    );
    let report: FieldReport = mediator
        .client
        .get(&format!("/field-reports/{id}"))
        .await
        .unwrap();
    assert_eq!(report.status, FieldReportStatus::InProgress);
    assert_eq!(
        report.handled_by.as_deref(),
        Some(professional.user.id.as_str())
    );
    assert!(report.answer.is_none());
    assert_eq!(
        call(
            &professional,
            Method::POST,
            &status,
            Some(json!({ "status": "done", "answer": answer }))
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        call(
            &professional,
            Method::POST,
            &status,
            Some(json!({ "status": "done", "answer": answer }))
        )
        .await,
        (
            StatusCode::CONFLICT,
            "field_report_status_conflict".to_owned()
        )
    );
}

#[tokio::test]
async fn the_annual_report_counts_field_reports_by_category_and_status() {
    let Scene {
        server,
        coordinator,
        mut professional,
        mut mediator,
        group,
    } = scene().await;
    let first = file(&server, &mut mediator, &group.id, "Lampadaire éteint").await;
    file(&server, &mut mediator, &group.id, "Porte du hall forcée").await;
    mediator
        .client
        .file_field_report(
            &mut mediator.device,
            NewFieldReport {
                group_id: &group.id,
                category: FieldReportCategory::Conflict,
                place: "Square Victor-Hugo",
                observed_at: now(&server) - 600_000,
                description: &MessageContent::text("Altercation entre voisins"),
            },
        )
        .await
        .unwrap();
    let taken = professional
        .client
        .take_field_report_in_charge(&first.id)
        .await
        .unwrap();
    professional
        .client
        .answer_field_report(
            &mut professional.device,
            &taken,
            &MessageContent::text(ANSWER),
        )
        .await
        .unwrap();

    use passerelle_server::clock::Clock;
    let year = time::OffsetDateTime::from_unix_timestamp(server.clock.now_ms() / 1000)
        .unwrap()
        .year();
    let report: Value = coordinator
        .client
        .get(&format!("/reports/annual?year={year}"))
        .await
        .unwrap();
    let counts = &report["field_reports"];
    assert_eq!(counts["by_category"]["technical_fault"], 2);
    assert_eq!(counts["by_category"]["conflict"], 1);
    assert_eq!(counts["by_category"]["incivility"], 0);
    assert_eq!(counts["by_status"]["new"], 3);
    assert_eq!(counts["by_status"]["in_progress"], 1);
    assert_eq!(counts["by_status"]["done"], 1);
    let text = report.to_string();
    for secret in ["Square Victor-Hugo", "Tilleuls", mediator.user.id.as_str()] {
        assert!(!text.contains(secret), "the report names {secret}");
    }
    let csv = coordinator
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
    assert!(csv.contains("signalements_technical_fault,2\n"), "{csv}");
    assert!(csv.contains("signalements_statut_done,1\n"), "{csv}");
}

#[tokio::test]
async fn a_report_ages_out_with_its_groups_history_and_a_recent_one_stays_readable() {
    const DAY_MS: i64 = 24 * 3_600_000;
    let Scene {
        server,
        coordinator: _coordinator,
        mut professional,
        mut mediator,
        group,
    } = scene_on(long_sessions_server(|_| {}).await).await;
    file(&server, &mut mediator, &group.id, "Signalement ancien").await;
    // Thirteen months later (the groups' history is kept twelve by default), a new report,
    // sealed under a new epoch.
    server.clock.advance_ms(395 * DAY_MS);
    let recent = file(&server, &mut mediator, &group.id, DESCRIPTION).await;

    passerelle_server::app::retention::run_once(&server.state)
        .await
        .unwrap();
    let listed = professional.client.field_reports().await.unwrap();
    assert_eq!(
        listed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [recent.id.as_str()]
    );
    // The recent report's epoch key was kept: it still opens.
    let (opened, _) = professional
        .client
        .open_field_report(&professional.device, &listed[0])
        .await
        .unwrap();
    let opened = opened.expect("a filed report has its description");
    assert_eq!(opened.text, DESCRIPTION);
    let purged = audit_events(&server, &group.id, "history_purged").await;
    assert_eq!(purged.len(), 1);
    let details: Value = serde_json::from_str(&purged[0].details).unwrap();
    assert_eq!(details["field_reports"], 1);
    // Only the recent report's row remains.
    assert_eq!(
        count_rows(&server, "field_reports", "group_id", &group.id).await,
        1
    );
}
