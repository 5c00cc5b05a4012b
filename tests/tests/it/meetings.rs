//! Meetings of the cellule de veille (issue 21, item 2): a coordinator schedules a meeting
//! of a working group with an agenda of situations, records who attended, a decision per
//! situation with a sealed note and the next review (which becomes the case's), the sealed
//! minutes, and closes it; the group reads it; the annual report counts it.

use passerelle_server::clock::Clock;
use passerelle_shared::client::Decision;
use passerelle_shared::crypto::MessageContent;
use passerelle_shared::protocol::v1::cases::{CaseView, CreateCase, Programme};
use passerelle_shared::protocol::v1::channels::{Channel, LegalRegime};
use passerelle_shared::protocol::v1::meetings::{Meeting, MeetingDecision, MeetingStatus};
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

use crate::support::{admin_client, audit_actions, audit_events, count_rows, working_group, Party};

const DAY_MS: i64 = 86_400_000;
const NOTE: &str = "Scolarité reprise, la famille accepte l'accompagnement";
const MINUTES: &str = "Cellule de veille du mardi : deux situations examinées";

/// A cellule de veille: a coordinator, a professional of the CCAS and an external
/// participant (an association) in a working group, and two cases of the group followed
/// by the coordinator and the professional.
struct Scene {
    server: TestServer,
    coordinator: Party,
    professional: Party,
    external: Party,
    group: Channel,
    cases: [String; 2],
}

async fn scene() -> Scene {
    scene_on(TestServer::spawn().await.unwrap()).await
}

async fn scene_on(server: TestServer) -> Scene {
    let mut coordinator = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let professional = Party::new(&server, "agent.ccas", Role::Member, "CCAS").await;
    let external = Party::new(&server, "asso", Role::External, "Association").await;
    let group = working_group(&mut coordinator, &[&professional, &external]).await;
    let first = open_case(&coordinator, &group, &professional).await;
    let second = open_case(&coordinator, &group, &professional).await;
    Scene {
        server,
        coordinator,
        professional,
        external,
        group,
        cases: [first, second],
    }
}

/// A case of `group` followed by the coordinator and `member`; its id.
async fn open_case(coordinator: &Party, group: &Channel, member: &Party) -> String {
    let case: CaseView = coordinator
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
    case.channel.id.to_string()
}

fn now(server: &TestServer) -> i64 {
    server.clock.now_ms()
}

async fn next_review(party: &Party, case_id: &str) -> Option<i64> {
    let case: CaseView = party
        .client
        .get(&format!("/cases/{case_id}"))
        .await
        .unwrap();
    case.next_review_at
}

/// Sends `body` to `path` as `party` and returns the status and the error code; every
/// refusal must be a French sentence.
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
            !message.is_empty() && !message.contains('_'),
            "a French sentence for {code}: {message}"
        );
    }
    (status, code)
}

/// Every stored text of the meetings, to check that nothing is in clear.
async fn stored_texts(server: &TestServer) -> String {
    let db = &server.state.db;
    let backend = db.get_database_backend();
    let mut all = String::new();
    for sql in [
        "SELECT note AS t FROM meeting_items WHERE note IS NOT NULL",
        "SELECT minutes AS t FROM meetings WHERE minutes IS NOT NULL",
    ] {
        for row in db
            .query_all(Statement::from_string(backend, sql.to_owned()))
            .await
            .unwrap()
        {
            all.push_str(&row.try_get::<String>("", "t").unwrap());
        }
    }
    all
}

async fn denials(server: &TestServer, action: &str) -> u64 {
    let filter = passerelle_server::audit::EventFilter {
        action: Some(action.to_owned()),
        outcome: Some(passerelle_server::audit::Outcome::Denied),
        ..Default::default()
    };
    server.state.audit.count(&filter).await.unwrap()
}

fn year_of(ms: i64) -> i32 {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .unwrap()
        .year()
}

async fn annual(party: &Party, year: i32) -> Value {
    party
        .client
        .get(&format!("/reports/annual?year={year}"))
        .await
        .unwrap()
}

/// Schedules, decides both situations and closes a meeting of the scene's group.
async fn hold_meeting(scene: &mut Scene, at: i64, cases: &[&str]) -> Meeting {
    let meeting = scene
        .coordinator
        .client
        .schedule_meeting(&scene.group.id, at, cases)
        .await
        .unwrap();
    for case_id in cases {
        scene
            .coordinator
            .client
            .decide_situation(
                &mut scene.coordinator.device,
                &meeting,
                Decision {
                    case_id,
                    decision: MeetingDecision::Postpone,
                    note: None,
                    next_review_at: None,
                },
            )
            .await
            .unwrap();
    }
    scene
        .coordinator
        .client
        .close_meeting(&meeting.id)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_coordinator_runs_a_cellule_de_veille_and_the_group_reads_its_decisions_and_minutes() {
    let mut scene = scene().await;
    let [first, second] = scene.cases.clone();
    let server = &scene.server;
    let at = now(server) + 3_600_000;
    let meeting = scene
        .coordinator
        .client
        .schedule_meeting(&scene.group.id, at, &[&first, &second])
        .await
        .unwrap();
    assert_eq!(meeting.status, MeetingStatus::Scheduled);
    assert_eq!(meeting.group_name, scene.group.name);
    assert_eq!(
        meeting
            .agenda
            .iter()
            .map(|i| i.case_id.as_str())
            .collect::<Vec<_>>(),
        [first.as_str(), second.as_str()]
    );
    assert!(meeting
        .agenda
        .iter()
        .all(|i| i.reference.split('-').count() == 4));

    // The group's members see it, the external participant too.
    for party in [&scene.professional, &scene.external] {
        let listed = party.client.meetings().await.unwrap();
        assert_eq!(
            listed.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            [meeting.id.as_str()]
        );
    }

    // Attendance, a decision with a note and a review in a month, a decision without.
    let meeting = scene
        .coordinator
        .client
        .record_attendance(
            &meeting.id,
            &[&scene.coordinator.user.id, &scene.professional.user.id],
        )
        .await
        .unwrap();
    assert_eq!(meeting.attendees.len(), 2);
    let review = now(server) + 30 * DAY_MS;
    let before = next_review(&scene.professional, &second).await;
    let meeting = scene
        .coordinator
        .client
        .decide_situation(
            &mut scene.coordinator.device,
            &meeting,
            Decision {
                case_id: &first,
                decision: MeetingDecision::MaintainFollowUp,
                note: Some(&MessageContent::text(NOTE)),
                next_review_at: Some(review),
            },
        )
        .await
        .unwrap();
    let meeting = scene
        .professional
        .client
        .decide_situation(
            &mut scene.professional.device,
            &meeting,
            Decision {
                case_id: &second,
                decision: MeetingDecision::RequestAssessment,
                note: None,
                next_review_at: None,
            },
        )
        .await
        .unwrap();
    // The decision is the case's review (C11): its next review is the date decided.
    assert_eq!(next_review(&scene.professional, &first).await, Some(review));
    assert!(next_review(&scene.professional, &second).await >= before);
    let meeting = scene
        .coordinator
        .client
        .write_minutes(
            &mut scene.coordinator.device,
            &meeting,
            &MessageContent::text(MINUTES),
        )
        .await
        .unwrap();
    let held = scene
        .coordinator
        .client
        .close_meeting(&meeting.id)
        .await
        .unwrap();
    assert_eq!(held.status, MeetingStatus::Held);
    assert!(held.held_at.is_some());
    assert_eq!(
        held.agenda.iter().map(|i| i.decision).collect::<Vec<_>>(),
        [
            Some(MeetingDecision::MaintainFollowUp),
            Some(MeetingDecision::RequestAssessment)
        ]
    );

    // Every member of the group opens the note and the minutes (the printable version is
    // drawn from this); the server stored neither in clear.
    for party in [&mut scene.professional, &mut scene.external] {
        let read = party.client.meeting(&meeting.id).await.unwrap();
        let opened = party
            .client
            .open_meeting(&party.device, &read)
            .await
            .unwrap();
        assert_eq!(opened.notes[&first].text, NOTE);
        assert!(!opened.notes.contains_key(&second));
        assert_eq!(
            opened.minutes.as_ref().map(|m| m.text.as_str()),
            Some(MINUTES)
        );
    }
    let stored = stored_texts(server).await;
    assert!(!stored.is_empty());
    assert!(!stored.contains("Scolarité") && !stored.contains("Cellule de veille"));

    // The access log has each step, the decisions on their cases.
    let group_actions = audit_actions(server, Some(&scene.group.id)).await;
    for action in [
        "meeting_scheduled",
        "meeting_attendance_recorded",
        "meeting_minutes_written",
        "meeting_held",
    ] {
        assert!(
            group_actions.contains(&(action.into(), "success".into())),
            "{action} in {group_actions:?}"
        );
    }
    let decided = audit_events(server, &first, "meeting_decision_recorded").await;
    assert_eq!(decided.len(), 1);
    let details: Value = serde_json::from_str(&decided[0].details).unwrap();
    assert_eq!(details["decision"], "maintain_follow_up");
    assert_eq!(details["meeting"], meeting.id.as_str());
    assert_eq!(details["next_review_at"], review);
}

#[tokio::test]
async fn who_may_schedule_record_and_read_a_meeting() {
    let mut scene = scene().await;
    let [first, _] = scene.cases.clone();
    let server = &scene.server;
    let at = now(server) + DAY_MS;
    // An external participant attends and reads, but schedules and records nothing.
    let (status, _) = call(
        &scene.external,
        Method::POST,
        "/meetings",
        Some(json!({ "group_id": scene.group.id, "scheduled_at": at, "agenda": [first] })),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The professional of the group schedules with a case of the group they follow.
    let meeting = scene
        .professional
        .client
        .schedule_meeting(&scene.group.id, at, &[&first])
        .await
        .unwrap();
    for (path, body) in [
        ("attendance", json!({ "attendees": [] })),
        (
            "decisions",
            json!({ "case_id": first, "decision": "postpone" }),
        ),
        ("close", json!({})),
    ] {
        let (status, _) = call(
            &scene.external,
            Method::POST,
            &format!("/meetings/{}/{path}", meeting.id),
            Some(body),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    let read: Meeting = scene.external.client.meeting(&meeting.id).await.unwrap();
    assert_eq!(read.agenda.len(), 1);
    assert!(denials(server, "meeting_attendance").await >= 1);

    // Someone outside the group: the meeting does not exist for them, nor the group.
    let outsider = Party::new(server, "agent.pjj", Role::Member, "PJJ").await;
    let (status, _) = call(
        &outsider,
        Method::GET,
        &format!("/meetings/{}", meeting.id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(outsider.client.meetings().await.unwrap().is_empty());
    let (status, code) = call(
        &outsider,
        Method::POST,
        "/meetings",
        Some(json!({ "group_id": scene.group.id, "scheduled_at": at + DAY_MS, "agenda": [first] })),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_group")
    );
    // The admin and the auditor have no part in meetings.
    let admin = admin_client(server, "admin").await;
    let response = admin
        .request(Method::GET, "/meetings")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(denials(server, "meeting_list").await >= 1);
    assert!(denials(server, "meeting_read").await >= 1);

    // A professional cannot put on the agenda a case they do not follow, nor a case of
    // another group; a coordinator brings their own cases.
    let other_member = Party::new(server, "agent.ccas2", Role::Member, "CCAS").await;
    scene
        .coordinator
        .client
        .post_empty(
            &format!("/channels/{}/members", scene.group.id),
            &json!({ "user_id": other_member.user.id }),
        )
        .await
        .unwrap();
    other_member.accept_rules(&scene.group.id).await;
    let (status, code) = call(
        &other_member,
        Method::POST,
        "/meetings",
        Some(json!({ "group_id": scene.group.id, "scheduled_at": at + 2 * DAY_MS, "agenda": [first] })),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "meeting_unknown_case")
    );
    let other_group = working_group(&mut scene.coordinator, &[&scene.professional]).await;
    let elsewhere = open_case(&scene.coordinator, &other_group, &scene.professional).await;
    let (status, code) = call(
        &scene.professional,
        Method::POST,
        "/meetings",
        Some(json!({ "group_id": scene.group.id, "scheduled_at": at + 3 * DAY_MS, "agenda": [elsewhere] })),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "meeting_unknown_case")
    );
    scene
        .coordinator
        .client
        .schedule_meeting(&scene.group.id, at + 3 * DAY_MS, &[&elsewhere])
        .await
        .unwrap();
}

#[tokio::test]
async fn bad_and_replayed_input_is_refused_in_french_and_changes_nothing() {
    let mut scene = scene().await;
    let [first, second] = scene.cases.clone();
    let server = &scene.server;
    let at = now(server) + DAY_MS;
    let schedule = |agenda: Value, at: i64| json!({ "group_id": scene.group.id, "scheduled_at": at, "agenda": agenda });
    // Unknown case, an empty agenda, a date in two years: nothing is written.
    for (body, expected) in [
        (
            schedule(json!([first, "inconnu"]), at),
            "meeting_unknown_case",
        ),
        (
            schedule(json!([scene.group.id]), at),
            "meeting_unknown_case",
        ),
        (schedule(json!([]), at), "invalid_agenda"),
        (schedule(json!([first, first]), at), "invalid_agenda"),
        (
            schedule(json!([first]), at + 730 * DAY_MS),
            "invalid_meeting_date",
        ),
    ] {
        let (status, code) = call(&scene.coordinator, Method::POST, "/meetings", Some(body)).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, expected)
        );
    }
    assert_eq!(
        count_rows(server, "meetings", "group_id", &scene.group.id).await,
        0
    );
    assert!(denials(server, "meeting_schedule").await >= 5);

    let meeting = scene
        .coordinator
        .client
        .schedule_meeting(&scene.group.id, at, &[&first, &second])
        .await
        .unwrap();
    // The same meeting sent twice.
    let (status, code) = call(
        &scene.coordinator,
        Method::POST,
        "/meetings",
        Some(schedule(json!([first, second]), at)),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "meeting_exists")
    );
    assert_eq!(
        count_rows(server, "meetings", "group_id", &scene.group.id).await,
        1
    );

    let decisions = format!("/meetings/{}/decisions", meeting.id);
    let review_before = next_review(&scene.coordinator, &first).await;
    // A decision outside the closed list.
    let (status, _) = call(
        &scene.coordinator,
        Method::POST,
        &decisions,
        Some(json!({ "case_id": first, "decision": "placement" })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A note over the limit.
    let long = "é".repeat(3_000);
    let oversize = scene
        .coordinator
        .client
        .seal(
            &mut scene.coordinator.device,
            &scene.group.id,
            &MessageContent::text(&long),
        )
        .await
        .unwrap();
    let (status, code) = call(
        &scene.coordinator,
        Method::POST,
        &decisions,
        Some(json!({ "case_id": first, "decision": "postpone", "note": oversize })),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "meeting_note_too_long")
    );
    // A case not on the agenda, a review beyond the period or in the past, a note sealed
    // for another channel.
    let sealed_elsewhere = scene
        .coordinator
        .client
        .seal(
            &mut scene.coordinator.device,
            &first,
            &MessageContent::text(NOTE),
        )
        .await
        .unwrap();
    for (body, expected) in [
        (
            json!({ "case_id": scene.group.id, "decision": "postpone" }),
            "meeting_case_not_on_agenda",
        ),
        (
            json!({ "case_id": first, "decision": "postpone", "next_review_at": now(server) + 3 * 366 * DAY_MS }),
            "invalid_next_review",
        ),
        (
            json!({ "case_id": first, "decision": "postpone", "next_review_at": now(server) - DAY_MS }),
            "invalid_next_review",
        ),
        (
            json!({ "case_id": first, "decision": "postpone", "note": sealed_elsewhere }),
            "invalid_meeting_envelope",
        ),
    ] {
        let (status, code) = call(&scene.coordinator, Method::POST, &decisions, Some(body)).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, expected)
        );
    }
    // An attendee who is not a member of the group.
    let outsider = Party::new(server, "agent.pjj", Role::Member, "PJJ").await;
    let (status, code) = call(
        &scene.coordinator,
        Method::POST,
        &format!("/meetings/{}/attendance", meeting.id),
        Some(json!({ "attendees": [outsider.user.id] })),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "meeting_invalid_attendee")
    );
    // Closing before every situation has its decision.
    let (status, code) = call(
        &scene.coordinator,
        Method::POST,
        &format!("/meetings/{}/close", meeting.id),
        None,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "meeting_undecided")
    );
    // Nothing was written: no decision, no attendance, the case's review untouched.
    let unchanged = scene.coordinator.client.meeting(&meeting.id).await.unwrap();
    assert!(unchanged
        .agenda
        .iter()
        .all(|i| i.decision.is_none() && i.note.is_none()));
    assert!(unchanged.attendees.is_empty());
    assert_eq!(unchanged.status, MeetingStatus::Scheduled);
    assert_eq!(next_review(&scene.coordinator, &first).await, review_before);
    assert!(denials(server, "meeting_decide").await >= 5);

    // A note replayed: refused, the first one stays.
    let note = scene
        .coordinator
        .client
        .seal(
            &mut scene.coordinator.device,
            &scene.group.id,
            &MessageContent::text(NOTE),
        )
        .await
        .unwrap();
    let body = json!({ "case_id": first, "decision": "maintain_follow_up", "note": note });
    let (status, _) = call(
        &scene.coordinator,
        Method::POST,
        &decisions,
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, code) = call(
        &scene.coordinator,
        Method::POST,
        &decisions,
        Some(json!({ "case_id": second, "decision": "postpone", "note": note })),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "meeting_envelope_replayed")
    );
    let after = scene.coordinator.client.meeting(&meeting.id).await.unwrap();
    assert_eq!(after.agenda[1].decision, None);

    // Closed: every late edit and a second closing are answered 409, nothing changes.
    let (status, _) = call(
        &scene.coordinator,
        Method::POST,
        &decisions,
        Some(json!({ "case_id": second, "decision": "postpone" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let held = scene
        .coordinator
        .client
        .close_meeting(&meeting.id)
        .await
        .unwrap();
    let minutes = scene
        .coordinator
        .client
        .seal(
            &mut scene.coordinator.device,
            &scene.group.id,
            &MessageContent::text(MINUTES),
        )
        .await
        .unwrap();
    for (path, body) in [
        (
            "decisions",
            Some(json!({ "case_id": first, "decision": "close_situation" })),
        ),
        (
            "attendance",
            Some(json!({ "attendees": [scene.coordinator.user.id] })),
        ),
        ("minutes", Some(json!({ "minutes": minutes }))),
        ("close", None),
    ] {
        let (status, code) = call(
            &scene.coordinator,
            Method::POST,
            &format!("/meetings/{}/{path}", meeting.id),
            body,
        )
        .await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::CONFLICT, "meeting_held"),
            "{path}"
        );
    }
    assert_eq!(
        scene.coordinator.client.meeting(&meeting.id).await.unwrap(),
        held
    );
    assert!(denials(server, "meeting_close").await >= 2);
}

#[tokio::test]
async fn the_annual_report_counts_meetings_held_situations_and_decisions_and_freezes_them() {
    let server = crate::support::long_sessions_server(|_| {}).await;
    let mut scene = scene_on(server).await;
    let [first, second] = scene.cases.clone();
    let year = year_of(now(&scene.server));
    // A meeting scheduled but not held counts nothing.
    scene
        .coordinator
        .client
        .schedule_meeting(&scene.group.id, now(&scene.server) + DAY_MS, &[&first])
        .await
        .unwrap();
    let meeting = scene
        .coordinator
        .client
        .schedule_meeting(
            &scene.group.id,
            now(&scene.server) + 3_600_000,
            &[&first, &second],
        )
        .await
        .unwrap();
    for (case_id, decision) in [
        (&first, MeetingDecision::ReferElsewhere),
        (&second, MeetingDecision::CloseSituation),
    ] {
        scene
            .coordinator
            .client
            .decide_situation(
                &mut scene.coordinator.device,
                &meeting,
                Decision {
                    case_id,
                    decision,
                    note: None,
                    next_review_at: None,
                },
            )
            .await
            .unwrap();
    }
    // A decision changed before the meeting is held counts once, as its last value.
    scene
        .coordinator
        .client
        .decide_situation(
            &mut scene.coordinator.device,
            &meeting,
            Decision {
                case_id: &second,
                decision: MeetingDecision::MaintainFollowUp,
                note: None,
                next_review_at: None,
            },
        )
        .await
        .unwrap();
    scene
        .coordinator
        .client
        .close_meeting(&meeting.id)
        .await
        .unwrap();

    let report = annual(&scene.coordinator, year).await;
    let counts = &report["meetings"];
    assert_eq!(counts["held"], 1);
    assert_eq!(counts["situations_reviewed"], 2);
    assert_eq!(counts["by_decision"]["refer_elsewhere"], 1);
    assert_eq!(counts["by_decision"]["maintain_follow_up"], 1);
    assert_eq!(counts["by_decision"]["close_situation"], 0);
    assert_eq!(counts["by_decision"]["postpone"], 0);
    let text = report.to_string();
    for secret in [first.as_str(), second.as_str(), scene.group.id.as_str()] {
        assert!(!text.contains(secret), "the report names {secret}");
    }
    let csv = scene
        .coordinator
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
    assert!(csv.contains("reunions_tenues,1\n"), "{csv}");
    assert!(csv.contains("situations_examinees,2\n"), "{csv}");
    assert!(csv.contains("decisions_refer_elsewhere,1\n"), "{csv}");

    // The year closes; a meeting of the next year leaves its report as it was.
    passerelle_server::app::retention::run_once(&scene.server.state)
        .await
        .unwrap();
    let new_year = time::Date::from_calendar_date(year + 1, time::Month::January, 1)
        .unwrap()
        .midnight()
        .assume_utc()
        .unix_timestamp()
        * 1000;
    scene
        .server
        .clock
        .advance_ms(new_year - now(&scene.server) + 3_600_000);
    let closed = annual(&scene.coordinator, year).await;
    assert_eq!(closed["meetings"]["held"], 1);
    let group = scene.group.clone();
    let fresh = open_case(&scene.coordinator, &group, &scene.professional).await;
    let at = now(&scene.server) + 3_600_000;
    hold_meeting(&mut scene, at, &[&fresh]).await;
    assert_eq!(annual(&scene.coordinator, year).await, closed);
    let next = annual(&scene.coordinator, year + 1).await;
    assert_eq!(next["meetings"]["held"], 1);
    assert_eq!(next["meetings"]["by_decision"]["postpone"], 1);
}

#[tokio::test]
async fn the_demo_seeds_a_week_of_the_clspd_once() {
    let server = TestServer::spawn().await.unwrap();
    passerelle_server::cli::demo::seed(&server.state)
        .await
        .unwrap();
    // A demo restarted on the same data directory seeds nothing more.
    for _ in 0..2 {
        passerelle_server::cli::demo::seed_sample_week(&server.state)
            .await
            .unwrap();
    }
    assert_eq!(
        count_rows(&server, "field_reports", "status", "new").await,
        1
    );
    assert_eq!(
        count_rows(&server, "referrals", "reason", "schooling").await,
        1
    );
    assert_eq!(
        count_rows(&server, "referrals", "reason", "housing").await,
        1
    );
    assert_eq!(
        count_rows(&server, "meetings", "status", "scheduled").await,
        1
    );
    let db = &server.state.db;
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM meeting_items WHERE decision IS NULL".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.try_get::<i64>("", "n").unwrap(),
        2,
        "two situations to review"
    );
    // Each protected regime has its group (C5), once, with only the members it admits.
    for (regime, members) in [("shared_secret_social", 3), ("child_protection", 2)] {
        assert_eq!(count_rows(&server, "channels", "regime", regime).await, 1);
        let row = db
            .query_one(Statement::from_string(
                db.get_database_backend(),
                format!(
                    "SELECT COUNT(*) AS n FROM channel_members m JOIN channels c \
                     ON c.id = m.channel_id WHERE c.regime = '{regime}'"
                ),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<i64>("", "n").unwrap(), members, "{regime}");
    }
}

/// Before the meeting, the organiser changes its agenda (adds a situation, reorders,
/// removes one not decided yet) and may cancel it; a decided situation stays on the
/// agenda, a meeting with decisions is held rather than cancelled, a held one changes no
/// more; a member who does not organise may do neither; every refusal is logged and
/// changes nothing.
#[tokio::test]
async fn the_agenda_changes_until_the_meeting_and_a_meeting_with_nothing_decided_can_be_cancelled()
{
    let mut scene = scene().await;
    let [first, second] = scene.cases.clone();
    let third = open_case(&scene.coordinator, &scene.group, &scene.professional).await;
    let at = now(&scene.server) + 86_400_000;
    let meeting = scene
        .coordinator
        .client
        .schedule_meeting(&scene.group.id, at, &[&first])
        .await
        .unwrap();
    let agenda = |m: &Meeting| {
        m.agenda
            .iter()
            .map(|i| i.case_id.clone())
            .collect::<Vec<_>>()
    };

    // Added and reordered.
    let changed = scene
        .coordinator
        .client
        .change_agenda(&meeting.id, &[&third, &first, &second])
        .await
        .unwrap();
    assert_eq!(
        agenda(&changed),
        [third.clone(), first.clone(), second.clone()]
    );

    // The first situation is decided: it stays; the others may go.
    scene
        .coordinator
        .client
        .decide_situation(
            &mut scene.coordinator.device,
            &changed,
            Decision {
                case_id: &first,
                decision: MeetingDecision::Postpone,
                note: None,
                next_review_at: None,
            },
        )
        .await
        .unwrap();
    let path = format!("/meetings/{}/agenda", meeting.id);
    let refused = [
        (
            json!({"agenda": [third]}),
            StatusCode::CONFLICT,
            "meeting_item_decided",
        ),
        (
            json!({"agenda": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_agenda",
        ),
        (
            json!({"agenda": [first, first]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_agenda",
        ),
        (
            json!({"agenda": [first, "inconnu"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "meeting_unknown_case",
        ),
        (
            json!({"agenda": [first], "extra": 1}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ];
    for (body, status, code) in refused {
        let got = call(&scene.coordinator, Method::POST, &path, Some(body.clone())).await;
        assert_eq!(got, (status, code.to_owned()), "{body}");
    }
    // A member who does not organise (the external partner) may not change it.
    assert_eq!(
        call(
            &scene.external,
            Method::POST,
            &path,
            Some(json!({"agenda": [first]}))
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let kept = scene.coordinator.client.meeting(&meeting.id).await.unwrap();
    assert_eq!(
        agenda(&kept),
        [third.clone(), first.clone(), second.clone()]
    );
    assert!(denials(&scene.server, "meeting_agenda").await >= 5);

    let removed = scene
        .coordinator
        .client
        .change_agenda(&meeting.id, &[&first])
        .await
        .unwrap();
    assert_eq!(agenda(&removed), vec![first.clone()]);
    assert!(audit_actions(&scene.server, Some(&scene.group.id))
        .await
        .iter()
        .any(|(action, _)| action == "meeting_agenda_changed"));

    // Decisions recorded: it is held, not cancelled.
    let cancel = format!("/meetings/{}/cancel", meeting.id);
    assert_eq!(
        call(&scene.coordinator, Method::POST, &cancel, None).await,
        (StatusCode::CONFLICT, "meeting_has_decisions".to_owned())
    );

    // Another meeting, nothing decided: cancelled, it is gone with its agenda.
    let other = scene
        .coordinator
        .client
        .schedule_meeting(&scene.group.id, at + 86_400_000, &[&second])
        .await
        .unwrap();
    assert_eq!(
        call(
            &scene.external,
            Method::POST,
            &format!("/meetings/{}/cancel", other.id),
            None
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    scene
        .coordinator
        .client
        .cancel_meeting(&other.id)
        .await
        .unwrap();
    assert_eq!(
        count_rows(&scene.server, "meetings", "id", &other.id).await,
        0
    );
    assert_eq!(
        count_rows(&scene.server, "meeting_items", "meeting_id", &other.id).await,
        0
    );
    assert!(audit_actions(&scene.server, Some(&scene.group.id))
        .await
        .iter()
        .any(|(action, _)| action == "meeting_cancelled"));
    // Cancelling it again: it no longer exists.
    assert_eq!(
        call(
            &scene.coordinator,
            Method::POST,
            &format!("/meetings/{}/cancel", other.id),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );

    // Held: neither its agenda nor its existence change any more.
    scene
        .coordinator
        .client
        .close_meeting(&meeting.id)
        .await
        .unwrap();
    assert_eq!(
        call(
            &scene.coordinator,
            Method::POST,
            &path,
            Some(json!({"agenda": [first, second]}))
        )
        .await,
        (StatusCode::CONFLICT, "meeting_held".to_owned())
    );
    assert_eq!(
        call(&scene.coordinator, Method::POST, &cancel, None).await,
        (StatusCode::CONFLICT, "meeting_held".to_owned())
    );
}
