//! Referrals of the intervenant social au commissariat (issue 21, item 1): the intervenant
//! social refers a person to the social services, a social worker accepts, which opens a
//! case with her as referent; the referral is followed, then closed; the annual report
//! counts referrals by reason and outcome; the note stays end-to-end encrypted.

use passerelle_shared::client::NewReferral;
use passerelle_shared::crypto::MessageContent;
use passerelle_shared::protocol::v1::cases::{
    CaseView, InformationMethod, InformationRecord, Programme,
};
use passerelle_shared::protocol::v1::channels::{Channel, ChannelKind, CreateChannel, LegalRegime};
use passerelle_shared::protocol::v1::referrals::{
    AcceptReferral, DeclineReason, Referral, ReferralConsent, ReferralReason, ReferralStatus,
    WithoutConsentReason,
};
use passerelle_shared::protocol::v1::{Attributes, InstitutionKind, Role};
use passerelle_tests::TestServer;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

use crate::support::{audit_actions, count_rows, long_sessions_server, working_group, Party};

const ISC: &str = "Intervenant social au commissariat";
const SOCIAL_SERVICES: &str = "Conseil départemental (action sociale)";
const POLICE: &str = "Police nationale";
const NOTE: &str = "Expulsion locative annoncée, rendez-vous souhaité avant la fin du mois";

const SOCIAL: Attributes = Attributes {
    bound_by_professional_secrecy: true,
    social_action_professional: true,
};

/// The intervenant social, two social workers of the département, a police officer and
/// the CLSPD's coordinator.
struct Scene {
    server: TestServer,
    coordinator: Party,
    referrer: Party,
    social_worker: Party,
    colleague: Party,
    police: Party,
    social_services: String,
}

async fn scene() -> Scene {
    scene_on(TestServer::spawn().await.unwrap()).await
}

async fn scene_on(server: TestServer) -> Scene {
    server
        .institution_of_kind(ISC, InstitutionKind::InterventionSocialeCommissariat)
        .await
        .unwrap();
    let social_services = server
        .institution_of_kind(SOCIAL_SERVICES, InstitutionKind::ActionSocialeDepartement)
        .await
        .unwrap();
    server
        .institution_of_kind(POLICE, InstitutionKind::PoliceNationale)
        .await
        .unwrap();
    let coordinator =
        Party::with_attributes(&server, "coord", Role::Coordinator, "Mairie", SOCIAL).await;
    let referrer = Party::with_attributes(&server, "isc", Role::Member, ISC, SOCIAL).await;
    let social_worker =
        Party::with_attributes(&server, "as.leroy", Role::Member, SOCIAL_SERVICES, SOCIAL).await;
    let colleague =
        Party::with_attributes(&server, "as.duval", Role::Member, SOCIAL_SERVICES, SOCIAL).await;
    let police = Party::new(&server, "policier", Role::Member, POLICE).await;
    Scene {
        server,
        coordinator,
        referrer,
        social_worker,
        colleague,
        police,
        social_services,
    }
}

/// The direct conversation of `from` with `to`, in which a note for `to` is sealed. Its
/// creator's client starts its signed membership log, as the browser does right after it
/// creates a conversation (docs/PROTOCOL.md §22.4): nothing is sealed there before.
async fn direct(from: &mut Party, to: &Party) -> Channel {
    let channel: Channel = from
        .client
        .post(
            "/channels",
            &CreateChannel {
                kind: ChannelKind::Direct,
                name: String::new(),
                regime: LegalRegime::ClspdConfidential,
                institutions: Vec::new(),
                members: vec![to.user.id.clone().into()],
            },
        )
        .await
        .unwrap();
    from.client
        .start_membership_log(&from.device, &channel.id)
        .await
        .unwrap();
    channel
}

/// A referral of `referrer` to the social services, proposing `referent`, with a note
/// sealed for `note_channel` if given.
async fn refer(
    referrer: &mut Party,
    client_id: &str,
    reason: ReferralReason,
    social_services: &str,
    referent: Option<&str>,
    note_channel: Option<&str>,
) -> Referral {
    let note = MessageContent::text(NOTE);
    referrer
        .client
        .open_referral(
            &mut referrer.device,
            NewReferral {
                client_id,
                reason,
                consent: ReferralConsent::Consented {
                    method: InformationMethod::InPerson,
                },
                programme: Programme::ViolenceAgainstWomenAndDomesticViolence,
                destroy_limit: None,
                scheme: None,
                target_institution: social_services,
                proposed_referent: referent,
                note: note_channel.map(|channel| (channel, &note)),
            },
        )
        .await
        .unwrap()
}

/// Sends `body` to `path` as `party` and returns the status and the error code, checking
/// that a refusal reads as a French sentence.
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

/// Whether `channel_id` is among the channels of `party`.
async fn member_of(party: &Party, channel_id: &str) -> bool {
    party
        .client
        .get::<Vec<Channel>>("/channels")
        .await
        .unwrap()
        .iter()
        .any(|c| c.id == channel_id)
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

/// Every stored row of `referrals`, as one text, to check what is (not) in clear.
async fn stored_referrals(server: &TestServer) -> String {
    let db = &server.state.db;
    db.query_all(Statement::from_string(
        db.get_database_backend(),
        "SELECT client_id, status, note, decline_note FROM referrals",
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|row| {
        let client_id: String = row.try_get("", "client_id").unwrap();
        let status: String = row.try_get("", "status").unwrap();
        let note: Option<String> = row.try_get("", "note").unwrap();
        let decline: Option<String> = row.try_get("", "decline_note").unwrap();
        format!(
            "{client_id}:{status}:{}{}\n",
            note.unwrap_or_default(),
            decline.unwrap_or_default()
        )
    })
    .collect()
}

#[tokio::test]
async fn the_intervenant_social_refers_and_the_social_worker_accepts_which_opens_a_case() {
    let Scene {
        server,
        mut coordinator,
        mut referrer,
        mut social_worker,
        colleague: _colleague,
        police: _police,
        social_services,
    } = scene().await;
    // The social worker's group, whose rules the case will follow.
    let group = working_group(&mut coordinator, &[&social_worker]).await;
    social_worker.accept_rules(&group.id).await;
    let conversation = direct(&mut referrer, &social_worker).await;
    let sent = refer(
        &mut referrer,
        "orientation-1",
        ReferralReason::Housing,
        &social_services,
        Some(&social_worker.user.id),
        Some(&conversation.id),
    )
    .await;
    assert_eq!(sent.status, ReferralStatus::Proposed);
    assert_eq!(sent.target_institution_name, SOCIAL_SERVICES);
    assert_eq!(
        sent.proposed_referent.as_deref(),
        Some(social_worker.user.id.as_str())
    );
    assert!(
        !stored_referrals(&server).await.contains("Expulsion"),
        "the note is stored sealed"
    );

    // The social worker sees it and reads the note.
    let received = social_worker.client.referrals().await.unwrap();
    assert_eq!(
        received.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [sent.id.as_str()]
    );
    let (note, declined) = social_worker
        .client
        .open_referral_notes(&social_worker.device, &received[0])
        .await
        .unwrap();
    assert_eq!(note.as_ref().map(|n| n.text.as_str()), Some(NOTE));
    assert!(declined.is_none());

    // Accepting opens a case with her as referent, the referrer and the coordinator.
    let accepted = social_worker
        .client
        .accept_referral(
            &sent.id,
            &AcceptReferral {
                referent_user_id: None,
                group_id: Some(group.id.to_string()),
            },
        )
        .await
        .unwrap();
    assert_eq!(accepted.status, ReferralStatus::Accepted);
    assert_eq!(
        accepted.referent.as_deref(),
        Some(social_worker.user.id.as_str())
    );
    let case_id = accepted.case_id.clone().unwrap();
    let case: CaseView = social_worker
        .client
        .get(&format!("/cases/{case_id}"))
        .await
        .unwrap();
    assert_eq!(
        accepted.case_reference.as_deref(),
        Some(case.channel.name.as_str())
    );
    assert!(case.channel.name.starts_with("DOS-"));
    assert_eq!(case.channel.regime, LegalRegime::SharedSecretSocial);
    assert_eq!(
        case.referent_user_id.as_deref(),
        Some(social_worker.user.id.as_str())
    );
    assert_eq!(
        case.programme,
        Programme::ViolenceAgainstWomenAndDomesticViolence
    );
    match case.information {
        Some(InformationRecord::Informed {
            method,
            informed_by,
            ..
        }) => {
            assert_eq!(method, InformationMethod::InPerson);
            assert_eq!(informed_by, referrer.user.id);
        }
        other => panic!("the person's information is recorded from the referral: {other:?}"),
    }
    assert!(
        member_of(&referrer, &case_id).await,
        "the referrer is a member of the case"
    );
    assert!(
        member_of(&coordinator, &case_id).await,
        "the coordinator is a member of the case"
    );

    // The referent follows, then closes; the same step twice is a conflict.
    let followed = social_worker
        .client
        .advance_referral(&sent.id, ReferralStatus::Followed)
        .await
        .unwrap();
    assert_eq!(followed.status, ReferralStatus::Followed);
    let again = format!("/referrals/{}/status", sent.id);
    assert_eq!(
        call(
            &social_worker,
            Method::POST,
            &again,
            Some(json!({"status": "followed"}))
        )
        .await,
        (StatusCode::CONFLICT, "referral_status_conflict".into())
    );
    let closed = social_worker
        .client
        .advance_referral(&sent.id, ReferralStatus::Closed)
        .await
        .unwrap();
    assert_eq!(closed.status, ReferralStatus::Closed);
    assert!(closed.closed_at.is_some());

    // The referrer follows it from her side.
    let seen: Referral = referrer.client.referral(&sent.id).await.unwrap();
    assert_eq!(seen.status, ReferralStatus::Closed);

    let actions = audit_actions(&server, None).await;
    for action in [
        "referral_opened",
        "referral_accepted",
        "case_opened",
        "referral_followed",
        "referral_closed",
    ] {
        assert!(
            actions
                .iter()
                .any(|(a, outcome)| a == action && outcome == "success"),
            "{action} is in the access log"
        );
    }
    assert_eq!(denials(&server, "referral_advance").await, 1);
}

#[tokio::test]
async fn only_the_referrer_the_target_and_the_coordinator_see_a_referral_and_only_the_target_decides(
) {
    let Scene {
        server,
        coordinator,
        mut referrer,
        social_worker,
        colleague,
        police,
        social_services,
    } = scene().await;
    let sent = refer(
        &mut referrer,
        "orientation-2",
        ReferralReason::Family,
        &social_services,
        None,
        None,
    )
    .await;
    let one = format!("/referrals/{}", sent.id);
    let accept = format!("/referrals/{}/accept", sent.id);
    let decline = format!("/referrals/{}/decline", sent.id);
    let status = format!("/referrals/{}/status", sent.id);

    // Only the intervenant social refers.
    let body = json!({
        "client_id": "orientation-police",
        "reason": "social",
        "consent": {"outcome": "consented", "method": "phone"},
        "programme": "public_tranquillity",
        "target_institution": social_services,
    });
    assert_eq!(
        call(&police, Method::POST, "/referrals", Some(body.clone())).await,
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
    assert_eq!(
        call(&social_worker, Method::POST, "/referrals", Some(body)).await,
        (StatusCode::FORBIDDEN, "forbidden".into())
    );

    // A stranger to the referral neither sees nor decides it.
    assert!(police.client.referrals().await.unwrap().is_empty());
    assert_eq!(
        call(&police, Method::GET, &one, None).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    assert_eq!(
        call(&police, Method::POST, &accept, Some(json!({}))).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    // The referrer does not decide her own referral.
    assert_eq!(
        call(&referrer, Method::POST, &accept, Some(json!({}))).await,
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
    // Everyone of the target institution and the coordinator see it.
    for party in [&social_worker, &colleague, &coordinator] {
        let listed = party.client.referrals().await.unwrap();
        assert_eq!(listed.len(), 1, "{}", party.user.login);
    }

    // The colleague accepts and becomes the referent; the other social worker may not
    // follow it (only the referent or the coordinator), nor decline it any more.
    let accepted = colleague
        .client
        .accept_referral(&sent.id, &AcceptReferral::default())
        .await
        .unwrap();
    assert_eq!(
        accepted.referent.as_deref(),
        Some(colleague.user.id.as_str())
    );
    assert_eq!(
        call(
            &social_worker,
            Method::POST,
            &status,
            Some(json!({"status": "followed"}))
        )
        .await,
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
    assert_eq!(
        call(
            &social_worker,
            Method::POST,
            &decline,
            Some(json!({"reason": "no_capacity"}))
        )
        .await,
        (StatusCode::CONFLICT, "referral_status_conflict".into())
    );
    // The coordinator may follow it.
    let followed = coordinator
        .client
        .advance_referral(&sent.id, ReferralStatus::Followed)
        .await
        .unwrap();
    assert_eq!(followed.status, ReferralStatus::Followed);

    assert!(denials(&server, "referral_open").await >= 2);
    assert!(denials(&server, "referral_read").await >= 1);
    assert!(denials(&server, "referral_accept").await >= 2);
    assert!(denials(&server, "referral_advance").await >= 1);
    assert!(denials(&server, "referral_decline").await >= 1);
}

#[tokio::test]
async fn a_declined_referral_carries_its_reason_and_a_sealed_note_for_the_referrer() {
    let Scene {
        server: _server,
        coordinator: _coordinator,
        mut referrer,
        mut social_worker,
        colleague: _colleague,
        police: _police,
        social_services,
    } = scene().await;
    let conversation = direct(&mut referrer, &social_worker).await;
    let sent = referrer
        .client
        .open_referral(
            &mut referrer.device,
            NewReferral {
                client_id: "orientation-3",
                reason: ReferralReason::Economic,
                consent: ReferralConsent::InformedWithoutConsent {
                    method: InformationMethod::Phone,
                    reason: WithoutConsentReason::DangerToPerson,
                },
                programme: Programme::PublicTranquillity,
                destroy_limit: None,
                scheme: None,
                target_institution: &social_services,
                proposed_referent: Some(&social_worker.user.id),
                note: None,
            },
        )
        .await
        .unwrap();
    let refusal = MessageContent::text("Déjà suivie par le CCAS, voir avec eux");
    let declined = social_worker
        .client
        .decline_referral(
            &mut social_worker.device,
            &sent.id,
            DeclineReason::AlreadyFollowed,
            Some((&conversation.id, &refusal)),
        )
        .await
        .unwrap();
    assert_eq!(declined.status, ReferralStatus::Declined);
    assert_eq!(
        declined.decline_reason,
        Some(DeclineReason::AlreadyFollowed)
    );
    assert!(declined.case_id.is_none());
    let seen = referrer.client.referral(&sent.id).await.unwrap();
    assert_eq!(
        seen.consent,
        ReferralConsent::InformedWithoutConsent {
            method: InformationMethod::Phone,
            reason: WithoutConsentReason::DangerToPerson,
        }
    );
    let (_, note) = referrer
        .client
        .open_referral_notes(&referrer.device, &seen)
        .await
        .unwrap();
    assert_eq!(
        note.as_ref().map(|n| n.text.as_str()),
        Some("Déjà suivie par le CCAS, voir avec eux")
    );
    // A declined referral is not accepted afterwards.
    assert_eq!(
        call(
            &social_worker,
            Method::POST,
            &format!("/referrals/{}/accept", sent.id),
            Some(json!({}))
        )
        .await,
        (StatusCode::CONFLICT, "referral_status_conflict".into())
    );
}

#[tokio::test]
async fn bad_or_replayed_input_is_refused_in_french_and_stores_nothing() {
    let Scene {
        server,
        coordinator: _coordinator,
        mut referrer,
        social_worker,
        colleague,
        police,
        social_services,
    } = scene().await;
    let conversation = direct(&mut referrer, &social_worker).await;
    let note = referrer
        .client
        .seal(
            &mut referrer.device,
            &conversation.id,
            &MessageContent::text(NOTE),
        )
        .await
        .unwrap();
    let oversize = referrer
        .client
        .seal(
            &mut referrer.device,
            &conversation.id,
            &MessageContent::text("é".repeat(3000)),
        )
        .await
        .unwrap();
    let valid = json!({
        "client_id": "orientation-4",
        "reason": "health",
        "consent": {"outcome": "consented", "method": "letter"},
        "programme": "public_tranquillity",
        "target_institution": social_services,
        "proposed_referent": social_worker.user.id,
        "note": note,
    });
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = valid.clone();
        if let Some(object) = body.as_object_mut() {
            object.remove(field);
        }
        body
    };
    let cases = [
        (
            with("reason", json!("delinquency")),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            with(
                "consent",
                json!({"outcome": "informed_without_consent", "method": "letter", "reason": "convenience"}),
            ),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            with("person_name", json!("Jean Dupont")),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            with("target_institution", json!("institution-inconnue")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_institution",
        ),
        (
            with("target_institution", json!(referrer.user.institution_id)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "referral_to_own_institution",
        ),
        (
            with("proposed_referent", json!(police.user.id)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "referral_invalid_referent",
        ),
        (
            with("note", json!(oversize)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "referral_note_too_long",
        ),
        (
            without("proposed_referent"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "referral_note_needs_referent",
        ),
        (
            // The note is sealed for a conversation the colleague is not in.
            with("proposed_referent", json!(colleague.user.id)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_referral_note",
        ),
        (
            with("programme", json!("youth_exposed_to_delinquency")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "destroy_limit_required",
        ),
        (
            with("client_id", json!("un identifiant avec des espaces")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_client_id",
        ),
    ];
    for (body, status, code) in cases {
        let (got_status, got_code) =
            call(&referrer, Method::POST, "/referrals", Some(body.clone())).await;
        assert_eq!((got_status, got_code.as_str()), (status, code), "{body}");
    }
    assert_eq!(
        count_rows(&server, "referrals", "referrer_id", &referrer.user.id).await,
        0
    );

    // The valid one goes through once; its replay is a conflict and stores nothing more.
    let (status, _) = call(&referrer, Method::POST, "/referrals", Some(valid.clone())).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        call(&referrer, Method::POST, "/referrals", Some(valid)).await,
        (StatusCode::CONFLICT, "referral_replayed".into())
    );
    assert_eq!(
        count_rows(&server, "referrals", "referrer_id", &referrer.user.id).await,
        1
    );
    assert!(denials(&server, "referral_open").await >= 9);

    // A decision with a value out of the closed list changes nothing.
    let id = referrer.client.referrals().await.unwrap()[0].id.clone();
    assert_eq!(
        call(
            &social_worker,
            Method::POST,
            &format!("/referrals/{id}/decline"),
            Some(json!({"reason": "too_busy"}))
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        call(
            &social_worker,
            Method::POST,
            &format!("/referrals/{id}/status"),
            Some(json!({"status": "accepted"}))
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let still = referrer.client.referral(&id).await.unwrap();
    assert_eq!(still.status, ReferralStatus::Proposed);
}

#[tokio::test]
async fn the_annual_report_counts_referrals_by_reason_and_outcome_and_names_nobody() {
    let Scene {
        server,
        coordinator,
        mut referrer,
        social_worker,
        colleague: _colleague,
        police: _police,
        social_services,
    } = scene().await;
    let first = refer(
        &mut referrer,
        "o-1",
        ReferralReason::Housing,
        &social_services,
        None,
        None,
    )
    .await;
    refer(
        &mut referrer,
        "o-2",
        ReferralReason::Housing,
        &social_services,
        None,
        None,
    )
    .await;
    let third = refer(
        &mut referrer,
        "o-3",
        ReferralReason::Health,
        &social_services,
        None,
        None,
    )
    .await;
    social_worker
        .client
        .accept_referral(&first.id, &AcceptReferral::default())
        .await
        .unwrap();
    social_worker
        .client
        .advance_referral(&first.id, ReferralStatus::Followed)
        .await
        .unwrap();
    call(
        &social_worker,
        Method::POST,
        &format!("/referrals/{}/decline", third.id),
        Some(json!({"reason": "outside_remit"})),
    )
    .await;

    use passerelle_server::clock::Clock;
    let year = time::OffsetDateTime::from_unix_timestamp(server.clock.now_ms() / 1000)
        .unwrap()
        .year();
    let report: Value = coordinator
        .client
        .get(&format!("/reports/annual?year={year}"))
        .await
        .unwrap();
    let counts = &report["referrals"];
    assert_eq!(counts["by_reason"]["housing"], 2);
    assert_eq!(counts["by_reason"]["health"], 1);
    assert_eq!(counts["by_reason"]["social"], 0);
    assert_eq!(counts["by_outcome"]["accepted"], 1);
    assert_eq!(counts["by_outcome"]["declined"], 1);
    assert_eq!(counts["by_outcome"]["followed"], 1);
    assert_eq!(counts["by_outcome"]["closed"], 0);
    let text = report.to_string();
    for secret in [
        referrer.user.id.as_str(),
        social_worker.user.id.as_str(),
        "o-1",
    ] {
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
    assert!(csv.contains("orientations_housing,2\n"), "{csv}");
    assert!(csv.contains("orientations_issue_declined,1\n"), "{csv}");
}

#[tokio::test]
async fn a_closed_years_referral_counts_stay_frozen_whatever_happens_afterwards() {
    use passerelle_server::clock::Clock;
    let Scene {
        server,
        coordinator,
        mut referrer,
        social_worker,
        colleague: _colleague,
        police: _police,
        social_services,
    } = scene_on(long_sessions_server(|_| {}).await).await;
    let first = refer(
        &mut referrer,
        "annee-1",
        ReferralReason::Social,
        &social_services,
        None,
        None,
    )
    .await;
    social_worker
        .client
        .accept_referral(&first.id, &AcceptReferral::default())
        .await
        .unwrap();
    let year = time::OffsetDateTime::from_unix_timestamp(server.clock.now_ms() / 1000)
        .unwrap()
        .year();
    // The retention job's last pass of the year takes the snapshot.
    passerelle_server::app::retention::run_once(&server.state)
        .await
        .unwrap();
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
        let client = &coordinator.client;
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
    let report: Value = serde_json::from_str(&closed).unwrap();
    assert_eq!(report["referrals"]["by_reason"]["social"], 1);
    assert_eq!(report["referrals"]["by_outcome"]["accepted"], 1);

    // The next year: the referral is followed, another is opened and declined.
    social_worker
        .client
        .advance_referral(&first.id, ReferralStatus::Followed)
        .await
        .unwrap();
    let second = refer(
        &mut referrer,
        "annee-2",
        ReferralReason::Social,
        &social_services,
        None,
        None,
    )
    .await;
    call(
        &social_worker,
        Method::POST,
        &format!("/referrals/{}/decline", second.id),
        Some(json!({"reason": "no_capacity"})),
    )
    .await;
    passerelle_server::app::retention::run_once(&server.state)
        .await
        .unwrap();
    assert_eq!(read(year).await, closed, "the closed year reads the same");
    let current: Value = serde_json::from_str(&read(year + 1).await).unwrap();
    assert_eq!(current["referrals"]["by_reason"]["social"], 1);
    assert_eq!(current["referrals"]["by_outcome"]["followed"], 1);
    assert_eq!(current["referrals"]["by_outcome"]["declined"], 1);
    assert_eq!(current["referrals"]["by_outcome"]["accepted"], 0);
}

/// An ACTE referral: the school that excluded a pupil refers them to the host structure
/// for the days of the exclusion; the host accepts, which opens a case under the ACTE
/// scheme; the annual report counts the referral's reason and the ACTE case. A school
/// may refer only its own pupils, to the host it names, and nothing but ACTE.
#[tokio::test]
async fn a_school_refers_an_excluded_pupil_to_the_host_structure_under_acte() {
    let Scene {
        server,
        coordinator,
        referrer,
        social_worker,
        colleague: _colleague,
        police: _police,
        social_services,
    } = scene().await;
    let school = server
        .institution_of_kind("Collège Jean Moulin", InstitutionKind::EducationNationale)
        .await
        .unwrap();
    let other_school = server
        .institution_of_kind("Collège Pasteur", InstitutionKind::EducationNationale)
        .await
        .unwrap();
    let cpe = Party::new(&server, "cpe", Role::Member, "Collège Jean Moulin").await;

    use passerelle_server::clock::Clock;
    const DAY: i64 = 24 * 3_600_000;
    let today = server.clock.now_ms() / DAY * DAY;
    let acte = |school: &str, host: &str| {
        json!({"kind": "acte", "school_institution": school, "excluded_from": today + DAY,
               "excluded_until": today + 3 * DAY, "host_institution": host})
    };
    let valid = json!({
        "client_id": "acte-1",
        "reason": "schooling",
        "consent": {"outcome": "consented", "method": "in_person"},
        "programme": "youth_exposed_to_delinquency",
        "destroy_limit": today + 3_000 * DAY,
        "scheme": acte(&school, &social_services),
        "target_institution": social_services,
        "proposed_referent": social_worker.user.id,
    });
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    let refused = [
        // The pupil goes to the host structure the scheme names.
        (
            with("scheme", acte(&school, &coordinator.user.institution_id)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "acte_host_is_target",
        ),
        // A school refers its own pupils.
        (
            with("scheme", acte(&other_school, &social_services)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "acte_school_is_referrer",
        ),
        (
            with("programme", json!("public_tranquillity")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "scheme_needs_youth_programme",
        ),
        (
            with("scheme", {
                let mut scheme = acte(&school, &social_services);
                scheme["excluded_until"] = json!(today + 30 * DAY);
                scheme
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_scheme_dates",
        ),
        // Without the ACTE scheme, a school has no referring capability.
        (
            {
                let mut body = valid.clone();
                if let Some(object) = body.as_object_mut() {
                    object.remove("scheme");
                }
                body
            },
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
    ];
    for (body, status, code) in refused {
        let (got_status, got_code) =
            call(&cpe, Method::POST, "/referrals", Some(body.clone())).await;
        assert_eq!((got_status, got_code.as_str()), (status, code), "{body}");
    }
    assert_eq!(
        count_rows(&server, "referrals", "referrer_id", &cpe.user.id).await,
        0
    );
    assert!(denials(&server, "referral_open").await >= 5);

    // The intervenant social may open an ACTE referral too, for a school of the CLSPD.
    let (status, _) = call(
        &referrer,
        Method::POST,
        "/referrals",
        Some(with("client_id", json!("acte-isc"))),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, _) = call(&cpe, Method::POST, "/referrals", Some(valid)).await;
    assert_eq!(status, StatusCode::CREATED);
    let sent = cpe.client.referrals().await.unwrap();
    assert_eq!(sent.len(), 1, "the school sees its own referral only");
    let referral = &sent[0];
    assert_eq!(referral.reason, ReferralReason::Schooling);
    assert!(matches!(
        &referral.scheme,
        Some(passerelle_shared::protocol::v1::cases::LocalScheme::Acte { host_institution, .. })
            if *host_institution == social_services
    ));

    let accepted = social_worker
        .client
        .accept_referral(&referral.id, &AcceptReferral::default())
        .await
        .unwrap();
    let case_id = accepted.case_id.expect("the acceptance opens a case");
    // The case follows the ACTE scheme (read from the database: the case's own rules are
    // published by the coordinator before anyone reads it).
    assert_eq!(
        count_rows(&server, "cases", "channel_id", &case_id).await,
        1
    );
    assert_eq!(count_rows(&server, "cases", "scheme", "acte").await, 1);

    let year = time::OffsetDateTime::from_unix_timestamp(server.clock.now_ms() / 1000)
        .unwrap()
        .year();
    let report: Value = coordinator
        .client
        .get(&format!("/reports/annual?year={year}"))
        .await
        .unwrap();
    assert_eq!(report["referrals"]["by_reason"]["schooling"], 2);
    assert_eq!(report["schemes"]["acte_cases_opened"], 1);
}

/// Nothing lives for ever (CHARTER.md C11): a referral never accepted — declined, or left
/// waiting — is deleted by the retention job once the conversation its note was sealed
/// for has aged out (`retention.direct_months`, 12 by default, after its last change);
/// an accepted one stays as long as its case.
#[tokio::test]
async fn referrals_never_accepted_are_deleted_once_their_time_is_over() {
    let Scene {
        server,
        coordinator: _coordinator,
        mut referrer,
        social_worker,
        colleague: _colleague,
        police: _police,
        social_services,
    } = scene().await;
    let waiting = refer(
        &mut referrer,
        "p-1",
        ReferralReason::Housing,
        &social_services,
        None,
        None,
    )
    .await;
    let declined = refer(
        &mut referrer,
        "p-2",
        ReferralReason::Family,
        &social_services,
        None,
        None,
    )
    .await;
    let accepted = refer(
        &mut referrer,
        "p-3",
        ReferralReason::Social,
        &social_services,
        None,
        None,
    )
    .await;
    call(
        &social_worker,
        Method::POST,
        &format!("/referrals/{}/decline", declined.id),
        Some(json!({"reason": "no_capacity"})),
    )
    .await;
    social_worker
        .client
        .accept_referral(&accepted.id, &AcceptReferral::default())
        .await
        .unwrap();

    // Eleven months on, everything is still there.
    const MONTH: i64 = 31 * 24 * 3_600_000;
    server.clock.advance_ms(11 * MONTH);
    let pass = passerelle_server::app::retention::run_once(&server.state)
        .await
        .unwrap();
    assert_eq!(pass.purged_referrals, 0);
    assert_eq!(
        count_rows(&server, "referrals", "referrer_id", &referrer.user.id).await,
        3
    );

    // A year and a month on, only the accepted one is left, and the purge is logged.
    server.clock.advance_ms(2 * MONTH);
    let pass = passerelle_server::app::retention::run_once(&server.state)
        .await
        .unwrap();
    assert_eq!(pass.purged_referrals, 2);
    for (id, kept) in [
        (&waiting.id, false),
        (&declined.id, false),
        (&accepted.id, true),
    ] {
        assert_eq!(
            count_rows(&server, "referrals", "id", id).await,
            i64::from(kept),
            "{id}"
        );
    }
    assert!(audit_actions(&server, None)
        .await
        .iter()
        .any(|(action, _)| action == "referrals_purged"));
}
