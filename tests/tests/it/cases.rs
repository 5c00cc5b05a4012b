//! Cases (CHARTER.md C7, C8, C13), their lifecycle (C11) and practice-analysis sessions
//! (C9).

use std::collections::BTreeMap;

use passerelle_server::clock::Clock;
use passerelle_shared::protocol::v1::cases::{
    ArchiveAccess, ArchiveCase, CaseView, CreateCase, CreatePracticeSession, FollowUpStatus,
    InformationMethod, InformationRecord, InformedParty, LocalScheme, NotInformedReason,
    NoticeTemplate, OpenArchived, PracticeSession, Programme, UpdateCase,
};
use passerelle_shared::protocol::v1::channels::{
    Channel, ChannelKind, CreateChannel, HistoryPage, LegalRegime,
};
use passerelle_shared::protocol::v1::charter::RulesStatus;
use passerelle_shared::protocol::v1::error::ErrorBody;
use passerelle_shared::protocol::v1::ws::{ClientFrame, ServerFrame};
use passerelle_shared::protocol::v1::{InstitutionKind, Role};
use passerelle_tests::TestServer;
use reqwest::{Method, StatusCode};

use crate::support::{audit_actions, audit_events, long_sessions_server, working_group, Party};

const DAY_MS: i64 = 24 * 3_600_000;

async fn status_and_code(request: reqwest::RequestBuilder) -> (StatusCode, String) {
    let response = request.send().await.unwrap();
    let status = response.status();
    if status.is_success() {
        return (status, String::new());
    }
    let code = response
        .json::<ErrorBody>()
        .await
        .map(|body| body.error.code)
        .unwrap_or_default();
    (status, code)
}

fn case_request(group: &Channel, members: &[&Party]) -> CreateCase {
    CreateCase {
        programme: Programme::YouthExposedToDelinquency,
        reporting_institution: members[0].user.institution_id.clone().into(),
        regime: LegalRegime::ClspdConfidential,
        group_id: Some(group.id.clone()),
        institutions: members
            .iter()
            .map(|m| m.user.institution_id.as_str().into())
            .collect(),
        members: members.iter().map(|m| m.user.id.as_str().into()).collect(),
        referent_user_id: Some(members[0].user.id.clone().into()),
        // The youth programme requires the 25th birthday (C11): far enough away that
        // the three years after the end of the follow-up come first.
        destroy_limit: Some(in_twenty_years()),
        scheme: None,
    }
}

fn in_twenty_years() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or_default() + 20 * 365 * DAY_MS
}

fn is_case_reference(name: &str) -> bool {
    let groups: Vec<&str> = name.split('-').collect();
    groups.len() == 4
        && groups[0] == "DOS"
        && groups[1..].iter().all(|g| {
            g.len() == 4
                && g.chars()
                    .all(|c| "ABCDEFGHJKLMNPQRSTUVWXYZ23456789".contains(c))
        })
}

#[tokio::test]
async fn a_coordinator_opens_a_case_under_a_random_reference_with_closed_lists_only() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let member = Party::new(&server, "educ", Role::Member, "PJJ").await;
    let group = working_group(&mut coord, &[&member]).await;

    let case: CaseView = coord
        .client
        .post("/cases", &case_request(&group, &[&member]))
        .await
        .unwrap();
    assert!(
        is_case_reference(&case.channel.name),
        "{}",
        case.channel.name
    );
    assert_eq!(case.channel.kind, ChannelKind::Case);
    assert_eq!(case.channel.group_id.as_deref(), Some(group.id.as_str()));
    assert_eq!(case.programme, Programme::YouthExposedToDelinquency);
    assert_eq!(case.follow_up_status, FollowUpStatus::Reported);
    assert_eq!(case.information, None);
    let other: CaseView = coord
        .client
        .post("/cases", &case_request(&group, &[&member]))
        .await
        .unwrap();
    assert_ne!(other.channel.name, case.channel.name);

    // The group's rules apply: accepted once, they open the case too.
    let rules: RulesStatus = member
        .client
        .get(&format!("/channels/{}/rules", case.channel.id))
        .await
        .unwrap();
    assert_eq!(rules.owner_channel_id.as_deref(), Some(group.id.as_str()));
    assert_eq!(rules.accepted_version, Some(1));
    let seen: CaseView = member
        .client
        .get(&format!("/cases/{}", case.channel.id))
        .await
        .unwrap();
    assert_eq!(seen.channel.name, case.channel.name);
    let (status, code) = status_and_code(
        coord
            .client
            .request(
                Method::POST,
                &format!("/channels/{}/rules", case.channel.id),
            )
            .json(&serde_json::json!({ "text": "# Autres règles" })),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "rules_inherited")
    );

    // Closed lists, no field for a name, coordinators only, a real institution.
    let mut body = serde_json::to_value(case_request(&group, &[&member])).unwrap();
    body["programme"] = "délinquance".into();
    let (status, _) =
        status_and_code(coord.client.request(Method::POST, "/cases").json(&body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut body = serde_json::to_value(case_request(&group, &[&member])).unwrap();
    body["person_name"] = "Jean Dupont".into();
    let (status, _) =
        status_and_code(coord.client.request(Method::POST, "/cases").json(&body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut request = case_request(&group, &[&member]);
    request.reporting_institution = "inconnue".into();
    let (status, code) =
        status_and_code(coord.client.request(Method::POST, "/cases").json(&request)).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_institution")
    );
    let (status, _) = status_and_code(
        member
            .client
            .request(Method::POST, "/cases")
            .json(&case_request(&group, &[&member])),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "members do not open cases");
    let (status, code) = status_and_code(coord.client.request(Method::POST, "/channels").json(
        &CreateChannel {
            kind: ChannelKind::Case,
            name: "Jean Dupont".into(),
            regime: LegalRegime::ClspdConfidential,
            institutions: vec![],
            members: vec![],
        },
    ))
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "use_dedicated_endpoint")
    );
    // The follow-up status moves along its closed list.
    let updated: CaseView = coord
        .client
        .request(Method::PATCH, &format!("/cases/{}", case.channel.id))
        .json(&UpdateCase {
            follow_up_status: Some(FollowUpStatus::Support),
            ..UpdateCase::default()
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(updated.follow_up_status, FollowUpStatus::Support);
    let opened = audit_events(&server, &case.channel.id, "case_opened").await;
    assert_eq!(opened.len(), 1);
    assert!(opened[0].details.contains("youth_exposed_to_delinquency"));
}

#[tokio::test]
async fn how_and_when_the_person_was_informed_or_why_not_is_recorded() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let member = Party::new(&server, "assistante", Role::Member, "CCAS").await;
    let outsider = Party::new(&server, "autre", Role::Member, "CCAS").await;
    let group = working_group(&mut coord, &[&member]).await;
    let case: CaseView = coord
        .client
        .post("/cases", &case_request(&group, &[&member]))
        .await
        .unwrap();
    let path = format!("/cases/{}/information", case.channel.id);
    let now = server.clock.now_ms();
    let put = |record: &InformationRecord| member.client.request(Method::PUT, &path).json(record);

    let informed = InformationRecord::Informed {
        informed_at: now - DAY_MS,
        method: InformationMethod::Letter,
        informed: InformedParty::Guardians,
        informed_by: member.user.id.clone().into(),
    };
    let view: CaseView = put(&informed).send().await.unwrap().json().await.unwrap();
    assert_eq!(view.information, Some(informed));
    assert_eq!(
        view.information_recorded_by,
        Some(member.user.id.clone().into())
    );

    let future = InformationRecord::Informed {
        informed_at: now + DAY_MS,
        method: InformationMethod::Phone,
        informed: InformedParty::Person,
        informed_by: member.user.id.clone().into(),
    };
    let (status, code) = status_and_code(put(&future)).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_dates")
    );
    let in_clear = InformationRecord::NotInformed {
        reason: NotInformedReason::ChildInterest,
        note: "x".repeat(20),
        sealed_note: None,
        decided_by: coord.user.id.clone().into(),
    };
    let (status, code) = status_and_code(put(&in_clear)).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "note_must_be_sealed")
    );
    let by_outsider = InformationRecord::NotInformed {
        reason: NotInformedReason::ChildInterest,
        note: String::new(),
        sealed_note: None,
        decided_by: outsider.user.id.clone().into(),
    };
    let (status, code) = status_and_code(put(&by_outsider)).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_member")
    );
    // Each refusal is in the access log, with its reason and without the note.
    let refused: Vec<String> = audit_events(&server, &case.channel.id, "case_information_record")
        .await
        .into_iter()
        .filter(|event| event.outcome == "denied")
        .map(|event| event.details)
        .collect();
    for reason in ["invalid_dates", "note_must_be_sealed", "unknown_member"] {
        assert!(
            refused.iter().any(|details| details.contains(reason)),
            "{reason} not logged: {refused:?}"
        );
    }
    assert!(refused.iter().all(|details| !details.contains("xxxx")));

    let not_informed = InformationRecord::NotInformed {
        reason: NotInformedReason::ChildInterest,
        note: String::new(),
        sealed_note: None,
        decided_by: coord.user.id.clone().into(),
    };
    let view: CaseView = put(&not_informed)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view.information, Some(not_informed));
    let recorded = audit_events(&server, &case.channel.id, "case_information_recorded").await;
    assert_eq!(recorded.len(), 2);
    assert!(
        !recorded[1].details.contains("audience"),
        "the note stays out of the access log"
    );
    let (status, _) = status_and_code(
        outsider
            .client
            .request(Method::GET, &format!("/cases/{}", case.channel.id)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "non-members learn nothing");
}

#[tokio::test]
async fn notice_templates_are_offered_in_french() {
    let server = TestServer::spawn().await.unwrap();
    let member = Party::new(&server, "assistante", Role::Member, "CCAS").await;
    let templates: Vec<NoticeTemplate> =
        member.client.get("/cases/notice-templates").await.unwrap();
    assert!(templates.len() >= 3);
    assert!(templates
        .iter()
        .any(|t| t.audience == InformedParty::Guardians));
    for template in &templates {
        assert!(template.text.contains("[commune]"), "{}", template.id);
        assert!(template.text.contains("CLSPD"), "{}", template.id);
    }
    assert!(templates[0].text.contains("CNIL"));
}

#[tokio::test]
async fn an_archived_case_is_read_only_and_read_only_with_a_written_reason_that_is_logged() {
    let server = long_sessions_server(|_| {}).await;
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut member = Party::new(&server, "educ", Role::Member, "PJJ").await;
    let group = working_group(&mut coord, &[&member]).await;
    let case: CaseView = coord
        .client
        .post("/cases", &case_request(&group, &[&member]))
        .await
        .unwrap();
    let case_id = case.channel.id.clone();
    let id = coord.send_text(&case_id, "point de situation").await;
    coord.ack(&id).await;
    member.receive().await;

    let now = server.clock.now_ms();
    let archive = ArchiveCase {
        end_date: now - DAY_MS,
        destroy_by: Some(now + 365 * DAY_MS),
    };
    let path = format!("/channels/{case_id}/archive");
    let (status, _) =
        status_and_code(member.client.request(Method::POST, &path).json(&archive)).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the coordinator ends the follow-up"
    );
    let archived: CaseView = coord.client.post(&path, &archive).await.unwrap();
    assert_eq!(archived.channel.status, "archived");
    assert_eq!(archived.channel.ended_at, Some(now - DAY_MS));
    assert_eq!(archived.channel.destroy_by, Some(now + 365 * DAY_MS));
    let (status, code) =
        status_and_code(coord.client.request(Method::POST, &path).json(&archive)).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "already_archived")
    );

    // Read-only, and closed to reading without a reason, over REST and WebSocket.
    let history = format!("/channels/{case_id}/messages");
    for route in [history.clone(), format!("/cases/{case_id}")] {
        let (status, code) = status_and_code(member.client.request(Method::GET, &route)).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "archive_reason_required"),
            "{route}"
        );
    }
    let envelope = coord.forged_envelope(&case_id);
    let code = coord
        .error_for(&ClientFrame::Send {
            channel_id: case_id.clone(),
            envelope,
        })
        .await;
    assert_eq!(code, "channel_closed");
    let mut cursors = BTreeMap::new();
    cursors.insert(case_id.clone(), 0);
    let code = member
        .error_for(&ClientFrame::Sync {
            cursors: cursors.clone(),
        })
        .await;
    assert_eq!(code, "archive_reason_required");

    // A reason that says nothing is refused; a written reason opens it for a while.
    let open = format!("/channels/{case_id}/open-archived");
    for reason in ["", "pour voir"] {
        let (status, code) = status_and_code(member.client.request(Method::POST, &open).json(
            &OpenArchived {
                reason: reason.into(),
            },
        ))
        .await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_reason")
        );
    }
    let reason = "Réquisition judiciaire reçue le 3 mars, à transmettre à la coordination";
    let access: ArchiveAccess = member
        .client
        .post(
            &open,
            &OpenArchived {
                reason: reason.into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(access.expires_at, server.clock.now_ms() + 60 * 60_000);
    let page: HistoryPage = member.client.get(&history).await.unwrap();
    assert_eq!(page.messages.len(), 1);
    member
        .conn
        .send(&ClientFrame::Sync { cursors })
        .await
        .unwrap();
    let message = member
        .frame(|f| match f {
            ServerFrame::Message(m) => Some(m.clone()),
            ServerFrame::Error { code, .. } => panic!("{code}"),
            _ => None,
        })
        .await;
    assert_eq!(message.seq, 1);
    let opened = audit_events(&server, &case_id, "archive_opened").await;
    assert_eq!(opened.len(), 1);
    assert!(opened[0].details.contains("Réquisition judiciaire"));
    assert_eq!(opened[0].user_id.as_deref(), Some(member.user.id.as_str()));

    // The access ends; the archive closes again.
    server.clock.advance_ms(61 * 60_000);
    let (status, code) = status_and_code(member.client.request(Method::GET, &history)).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "archive_reason_required")
    );
}

#[tokio::test]
async fn destroy_by_is_the_earlier_of_three_years_after_the_end_and_the_coordinators_limit() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let member = Party::new(&server, "educ", Role::Member, "PJJ").await;
    let group = working_group(&mut coord, &[&member]).await;
    let now = server.clock.now_ms();
    let end = now - 10 * DAY_MS;

    let plain: CaseView = coord
        .client
        .post("/cases", &case_request(&group, &[&member]))
        .await
        .unwrap();
    let archived: CaseView = coord
        .client
        .post(
            &format!("/channels/{}/archive", plain.channel.id),
            &ArchiveCase {
                end_date: end,
                destroy_by: None,
            },
        )
        .await
        .unwrap();
    let end_date =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(end) * 1_000_000).unwrap();
    let three_years = end_date
        .replace_year(end_date.year() + 3)
        .unwrap_or_else(|_| {
            end_date
                .replace_day(28)
                .unwrap()
                .replace_year(end_date.year() + 3)
                .unwrap()
        });
    assert_eq!(
        archived.channel.destroy_by,
        Some(i64::try_from(three_years.unix_timestamp_nanos() / 1_000_000).unwrap())
    );

    // A limit set at the opening (the 25th birthday of a young person) comes first.
    let mut request = case_request(&group, &[&member]);
    request.destroy_limit = Some(now + 400 * DAY_MS);
    let young: CaseView = coord.client.post("/cases", &request).await.unwrap();
    assert_eq!(young.channel.destroy_by, Some(now + 400 * DAY_MS));
    let (status, code) = status_and_code(
        coord
            .client
            .request(Method::PATCH, &format!("/cases/{}", young.channel.id))
            .json(&UpdateCase {
                destroy_limit: Some(now + 500 * DAY_MS),
                ..UpdateCase::default()
            }),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit_can_only_move_earlier"
        )
    );
    let archived: CaseView = coord
        .client
        .post(
            &format!("/channels/{}/archive", young.channel.id),
            &ArchiveCase {
                end_date: end,
                destroy_by: Some(now + 800 * DAY_MS),
            },
        )
        .await
        .unwrap();
    assert_eq!(archived.channel.destroy_by, Some(now + 400 * DAY_MS));
    let (status, code) = status_and_code(
        coord
            .client
            .request(Method::POST, &format!("/channels/{}/archive", group.id))
            .json(&ArchiveCase {
                end_date: end,
                destroy_by: None,
            }),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "not_a_case")
    );
}

#[tokio::test]
async fn a_practice_session_is_read_only_after_its_end_and_never_linked_to_a_case() {
    let server = long_sessions_server(|_| {}).await;
    let mut coord = Party::new(&server, "animatrice", Role::Coordinator, "Mairie").await;
    let mut a = Party::new(&server, "educ", Role::Member, "PJJ").await;
    let mut b = Party::new(&server, "assistante", Role::Member, "CCAS").await;
    let group = working_group(&mut coord, &[&a, &b]).await;
    let case: CaseView = coord
        .client
        .post("/cases", &case_request(&group, &[&a]))
        .await
        .unwrap();
    let now = server.clock.now_ms();
    let request = |group_id: &str, starts_at: i64, ends_at: i64| CreatePracticeSession {
        name: String::new(),
        starts_at,
        ends_at,
        group_id: Some(group_id.into()),
        institutions: vec![
            a.user.institution_id.clone().into(),
            b.user.institution_id.clone().into(),
        ],
        members: vec![a.user.id.clone().into(), b.user.id.clone().into()],
    };
    let (status, code) = status_and_code(
        coord
            .client
            .request(Method::POST, "/practice-sessions")
            .json(&request(&case.channel.id, now, now + 7_200_000)),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_group"),
        "a session is never linked to a case"
    );
    let (status, code) = status_and_code(
        coord
            .client
            .request(Method::POST, "/practice-sessions")
            .json(&request(&group.id, now, now - 1)),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_dates")
    );
    let (status, _) = status_and_code(
        a.client
            .request(Method::POST, "/practice-sessions")
            .json(&request(&group.id, now, now + 7_200_000)),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a facilitator is a coordinator"
    );

    let session: PracticeSession = coord
        .client
        .post(
            "/practice-sessions",
            &request(&group.id, now, now + 7_200_000),
        )
        .await
        .unwrap();
    let id = session.channel.id.clone();
    crate::support::start_log(&mut coord, &id).await;
    assert_eq!(session.facilitator, coord.user.id);
    assert_eq!(session.channel.kind, ChannelKind::PracticeSession);
    assert_eq!(session.channel.ends_at, Some(now + 7_200_000));
    assert_eq!(
        session.channel.destroy_by,
        Some(now + 7_200_000 + 7 * DAY_MS)
    );
    assert!(session.rule.contains("sans jamais nommer"));

    let sent = a
        .send_text(&id, "Comment réagir face à un refus de rendez-vous ?")
        .await;
    a.ack(&sent).await;
    let (_, text) = b.receive().await;
    assert!(text.starts_with("Comment réagir"));

    server.clock.advance_ms(7_200_000);
    let envelope = b.forged_envelope(&id);
    let code = b
        .error_for(&ClientFrame::Send {
            channel_id: id.clone(),
            envelope,
        })
        .await;
    assert_eq!(code, "session_ended");
    let (status, code) = status_and_code(
        b.client
            .request(Method::POST, &format!("/channels/{id}/attachments"))
            .header("content-type", "application/octet-stream")
            .body(vec![1u8; 16]),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "session_ended")
    );
    let page: HistoryPage = b
        .client
        .get(&format!("/channels/{id}/messages"))
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 1, "still readable after the end");
    let seen: PracticeSession = b
        .client
        .get(&format!("/practice-sessions/{id}"))
        .await
        .unwrap();
    assert_eq!(seen.channel.id, id);
}

/// CHARTER.md C11: a youth-programme case cannot be opened without the person's 25th
/// birthday as its destruction limit, and no limit lies further than that.
#[tokio::test]
async fn a_youth_case_needs_the_25th_birthday_as_its_limit() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let member = Party::new(&server, "educ", Role::Member, "PJJ").await;
    let group = working_group(&mut coord, &[&member]).await;
    let now = server.clock.now_ms();
    let mut request = case_request(&group, &[&member]);
    for (limit, expected) in [
        (None, "destroy_limit_required"),
        (Some(now + 26 * 366 * DAY_MS), "invalid_dates"),
    ] {
        request.destroy_limit = limit;
        let (status, code) =
            status_and_code(coord.client.request(Method::POST, "/cases").json(&request)).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, expected)
        );
    }
    let channels: Vec<Channel> = coord.client.get("/channels").await.unwrap();
    assert!(
        channels.iter().all(|c| c.kind != ChannelKind::Case),
        "nothing was opened"
    );
    let denied = audit_actions(&server, None).await;
    assert!(denied.contains(&("case_create".into(), "denied".into())));
}

/// CHARTER.md C11: every active case has a next review; one not reviewed in time is
/// proposed for closing, and archived if still not reviewed after the delay.
#[tokio::test]
async fn a_case_not_reviewed_in_time_is_proposed_for_closing_then_archived() {
    let server = long_sessions_server(|config| {
        config.retention.case_review_months = 6;
        config.retention.overdue_case_archive_days = 30;
    })
    .await;
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let member = Party::new(&server, "educ", Role::Member, "PJJ").await;
    let group = working_group(&mut coord, &[&member]).await;
    let mut request = case_request(&group, &[&member]);
    request.programme = Programme::PublicTranquillity;
    request.destroy_limit = None;
    let opened: CaseView = coord.client.post("/cases", &request).await.unwrap();
    let case_path = format!("/cases/{}", opened.channel.id);
    let first_review = opened.next_review_at.unwrap_or_default();
    assert!(first_review >= server.clock.now_ms() + 180 * DAY_MS);
    assert_eq!(opened.closing_proposed_at, None);
    let pass = || passerelle_server::app::retention::run_once(&server.state);

    // Six months and a day later, nobody has looked at it: proposed for closing.
    server
        .clock
        .advance_ms(first_review - server.clock.now_ms() + DAY_MS);
    let report = pass().await.unwrap();
    assert_eq!(
        (report.cases_proposed_for_closing, report.cases_archived),
        (1, 0)
    );
    let case: CaseView = coord.client.get(&case_path).await.unwrap();
    assert!(case.closing_proposed_at.is_some());
    assert!(audit_actions(&server, Some(&opened.channel.id))
        .await
        .contains(&("case_closing_proposed".into(), "success".into())));

    // The coordinator reviews it: nothing changes but the dates.
    let reviewed: CaseView = coord
        .client
        .request(Method::PATCH, &case_path)
        .json(&UpdateCase {
            reviewed: true,
            ..UpdateCase::default()
        })
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reviewed.closing_proposed_at, None);
    let next = reviewed.next_review_at.unwrap_or_default();
    assert!(next > server.clock.now_ms() + 180 * DAY_MS);
    assert_eq!(pass().await.unwrap().cases_proposed_for_closing, 0);

    // Not reviewed again: proposed, then archived once the delay has run out.
    server
        .clock
        .advance_ms(next - server.clock.now_ms() + DAY_MS);
    assert_eq!(pass().await.unwrap().cases_proposed_for_closing, 1);
    server.clock.advance_ms(29 * DAY_MS);
    assert_eq!(pass().await.unwrap().cases_archived, 0);
    server.clock.advance_ms(2 * DAY_MS);
    assert_eq!(pass().await.unwrap().cases_archived, 1);
    let (status, code) = status_and_code(coord.client.request(Method::GET, &case_path)).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "archive_reason_required"),
        "the case is archived"
    );
    assert!(audit_actions(&server, Some(&opened.channel.id))
        .await
        .contains(&("case_archived".into(), "success".into())));
}

fn today_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or_default() / DAY_MS * DAY_MS
}

#[tokio::test]
async fn acte_and_chantier_cases_carry_their_scheme_and_the_annual_report_counts_them() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let member = Party::new(&server, "educ", Role::Member, "PJJ").await;
    let group = working_group(&mut coord, &[&member]).await;
    let college = server
        .institution_of_kind("Collège Jean Moulin", InstitutionKind::EducationNationale)
        .await
        .unwrap();
    let host = server.institution("Association Le Relais").await.unwrap();
    let today = today_ms();
    let acte = LocalScheme::Acte {
        school_institution: college.clone().into(),
        excluded_from: today,
        excluded_until: today + 3 * DAY_MS,
        host_institution: host.clone().into(),
    };

    // The school refers an excluded pupil: the case carries the scheme, for its members.
    let case: CaseView = coord
        .client
        .post(
            "/cases",
            &CreateCase {
                scheme: Some(acte.clone()),
                ..case_request(&group, &[&member])
            },
        )
        .await
        .unwrap();
    assert_eq!(case.scheme.as_ref(), Some(&acte));
    let seen: CaseView = member
        .client
        .get(&format!("/cases/{}", case.channel.id))
        .await
        .unwrap();
    assert_eq!(seen.scheme, Some(acte.clone()));
    let chantier = LocalScheme::ChantierEducatif {
        starts_on: today,
        ends_on: today + 40 * DAY_MS,
    };
    let case: CaseView = coord
        .client
        .post(
            "/cases",
            &CreateCase {
                scheme: Some(chantier.clone()),
                ..case_request(&group, &[&member])
            },
        )
        .await
        .unwrap();
    assert_eq!(case.scheme, Some(chantier));

    // A scheme that does not fit is refused with its reason, logged, and opens nothing.
    let channels_before = coord
        .client
        .get::<Vec<Channel>>("/channels")
        .await
        .unwrap()
        .len();
    let refused = [
        (
            CreateCase {
                programme: Programme::PublicTranquillity,
                destroy_limit: None,
                scheme: Some(acte.clone()),
                ..case_request(&group, &[&member])
            },
            "scheme_needs_youth_programme",
        ),
        (
            CreateCase {
                scheme: Some(LocalScheme::Acte {
                    school_institution: host.clone().into(),
                    excluded_from: today,
                    excluded_until: today + DAY_MS,
                    host_institution: college.clone().into(),
                }),
                ..case_request(&group, &[&member])
            },
            "acte_school_required",
        ),
        (
            CreateCase {
                scheme: Some(LocalScheme::Acte {
                    school_institution: college.clone().into(),
                    excluded_from: today,
                    excluded_until: today + DAY_MS,
                    host_institution: college.clone().into(),
                }),
                ..case_request(&group, &[&member])
            },
            "acte_host_required",
        ),
        (
            CreateCase {
                scheme: Some(LocalScheme::Acte {
                    school_institution: college.clone().into(),
                    excluded_from: today,
                    excluded_until: today + 20 * DAY_MS,
                    host_institution: host.clone().into(),
                }),
                ..case_request(&group, &[&member])
            },
            "invalid_scheme_dates",
        ),
        (
            CreateCase {
                scheme: Some(LocalScheme::ChantierEducatif {
                    starts_on: today,
                    ends_on: today - DAY_MS,
                }),
                ..case_request(&group, &[&member])
            },
            "invalid_scheme_dates",
        ),
    ];
    for (request, expected) in &refused {
        let (status, code) =
            status_and_code(coord.client.request(Method::POST, "/cases").json(request)).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, *expected)
        );
    }
    let mut body = serde_json::to_value(case_request(&group, &[&member])).unwrap();
    body["scheme"] = serde_json::json!({ "kind": "internat", "starts_on": today });
    let (status, _) =
        status_and_code(coord.client.request(Method::POST, "/cases").json(&body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let channels_after = coord
        .client
        .get::<Vec<Channel>>("/channels")
        .await
        .unwrap()
        .len();
    assert_eq!(channels_after, channels_before);
    let denials = audit_actions(&server, None)
        .await
        .into_iter()
        .filter(|(action, outcome)| action == "case_create" && outcome == "denied")
        .count();
    assert!(denials >= refused.len(), "{denials} denials logged");

    // The plenary's report counts each scheme once, and only what was opened.
    let year = time::OffsetDateTime::now_utc().year();
    let report: serde_json::Value = coord
        .client
        .get(&format!("/reports/annual?year={year}"))
        .await
        .unwrap();
    assert_eq!(report["schemes"]["acte_cases_opened"], 1);
    assert_eq!(report["schemes"]["chantier_cases_opened"], 1);
    assert_eq!(report["cases_opened"], 2);
}

/// A working group's name is stored in clear (an institutional name, docs/PROTOCOL.md
/// §24): one that names a person, gives a phone number, an e-mail address or a birth date
/// is refused with what was found, the refusal is logged (without the text), and nothing
/// is stored (CHARTER.md C7–C9). A practice session's title and a case's note are sealed
/// by the client: sent in clear, they are refused whatever they say, logged without the
/// text, and nothing is stored.
#[tokio::test]
async fn a_title_or_a_note_that_identifies_a_person_is_refused_and_logged() {
    let server = long_sessions_server(|_| {}).await;
    let mut coord = Party::new(&server, "animatrice", Role::Coordinator, "Mairie").await;
    let member = Party::new(&server, "educ", Role::Member, "PJJ").await;
    let group = working_group(&mut coord, &[&member]).await;
    let now = server.clock.now_ms();
    let session = |name: &str| CreatePracticeSession {
        name: name.into(),
        starts_at: now,
        ends_at: now + 7_200_000,
        group_id: Some(group.id.clone()),
        institutions: vec![member.user.institution_id.clone().into()],
        members: vec![member.user.id.clone().into()],
    };
    for named in [
        "Analyse : le cas de Kevin MARTIN, 06 12 34 56 78",
        "Analyse de pratiques : le refus d'aide",
    ] {
        let (status, code) = status_and_code(
            coord
                .client
                .request(Method::POST, "/practice-sessions")
                .json(&session(named)),
        )
        .await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "title_must_be_sealed"),
            "{named}"
        );
    }
    let denied = audit_actions(&server, None).await;
    assert!(
        denied.contains(&("channel_create".to_owned(), "denied".to_owned())),
        "{denied:?}"
    );
    let listed: Vec<Channel> = coord.client.get("/channels").await.unwrap();
    assert!(listed
        .iter()
        .all(|channel| !channel.name.contains("MARTIN") && !channel.name.contains("refus")));

    for title in [
        "La petite Léa, de l'école du centre",
        "Écrire à l.petit@mairie.fr",
    ] {
        let group_request = CreateChannel {
            kind: ChannelKind::WorkingGroup,
            name: title.into(),
            regime: LegalRegime::ClspdConfidential,
            institutions: vec![member.user.institution_id.clone().into()],
            members: vec![member.user.id.clone().into()],
        };
        let response = coord
            .client
            .request(Method::POST, "/channels")
            .json(&group_request)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{title}"
        );
        let refusal = response.json::<ErrorBody>().await.unwrap().error;
        assert_eq!(refusal.code, "personal_data", "{title}");
        assert!(
            refusal.message.starts_with("Ce texte semble contenir"),
            "{}",
            refusal.message
        );
    }
    let plain: PracticeSession = coord
        .client
        .post("/practice-sessions", &session(""))
        .await
        .unwrap();
    assert!(
        plain.channel.name.starts_with("SEA-"),
        "{}",
        plain.channel.name
    );

    let case: CaseView = coord
        .client
        .post("/cases", &case_request(&group, &[&member]))
        .await
        .unwrap();
    let path = format!("/cases/{}/information", case.channel.id);
    let note = |note: &str, sealed_note| InformationRecord::NotInformed {
        reason: NotInformedReason::ChildInterest,
        note: note.into(),
        sealed_note,
        decided_by: coord.user.id.clone().into(),
    };
    let (status, code) = status_and_code(
        coord
            .client
            .request(Method::PUT, &path)
            .json(&note("Mme Durand sera informée après l'audience", None)),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "note_must_be_sealed")
    );
    let unchanged: CaseView = coord
        .client
        .get(&format!("/cases/{}", case.channel.id))
        .await
        .unwrap();
    assert_eq!(unchanged.information, None, "nothing recorded");
    assert!(
        audit_events(&server, &case.channel.id, "case_information_record")
            .await
            .iter()
            .any(|event| event.outcome == "denied"
                && event.details.contains("note_must_be_sealed")
                && !event.details.contains("Durand"))
    );
    let sealed = coord
        .client
        .seal_case_note(
            &mut coord.device,
            &case.channel.id,
            "Information reportée après l'audience",
        )
        .await
        .unwrap();
    let view: CaseView = coord
        .client
        .request(Method::PUT, &path)
        .json(&note("", Some(Box::new(sealed))))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(view.information.is_some());
}
