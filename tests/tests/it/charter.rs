//! The charter gate (CHARTER.md C2), legal regimes (C5), external participants (C6) and
//! the absence of any route that forwards, exports or searches content (C4, C10).

use std::collections::BTreeMap;

use passerelle_shared::protocol::v1::channels::{
    AddMember, Channel, ChannelKind, CreateChannel, DirectoryEntry, LegalRegime,
};
use passerelle_shared::protocol::v1::charter::{
    Accept, CharterStatus, CharterVersion, PublishText, RulesStatus,
};
use passerelle_shared::protocol::v1::error::ErrorBody;
use passerelle_shared::protocol::v1::ws::{ClientFrame, ServerFrame};
use passerelle_shared::protocol::v1::{Attributes, InstitutionKind, Role};
use passerelle_tests::TestServer;
use reqwest::{Method, StatusCode};

use crate::support::{
    admin_client, audit_actions, ensure_charter, working_group, working_group_without_rules, Party,
};

/// Sends a request and returns its status and error code (empty on success).
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

/// Every REST route that reads or writes a channel's content answers `403 code`.
async fn assert_rest_closed(party: &Party, channel_id: &str, attachment_id: &str, code: &str) {
    let client = &party.client;
    let device = &party.device.device_id;
    let requests = [
        client.request(Method::GET, &format!("/channels/{channel_id}")),
        client.request(Method::GET, &format!("/channels/{channel_id}/messages")),
        client.request(
            Method::GET,
            &format!("/channels/{channel_id}/keys?device_id={device}"),
        ),
        client.request(Method::GET, &format!("/channels/{channel_id}/epoch")),
        client
            .request(Method::POST, &format!("/channels/{channel_id}/epochs"))
            .json(&serde_json::json!({ "epoch": 2, "keys": [] })),
        client
            .request(Method::POST, &format!("/channels/{channel_id}/attachments"))
            .header("content-type", "application/octet-stream")
            .body(vec![1u8, 2, 3]),
        client.request(Method::GET, &format!("/attachments/{attachment_id}")),
    ];
    for request in requests {
        let described = format!("{request:?}");
        assert_eq!(
            status_and_code(request).await,
            (StatusCode::FORBIDDEN, code.to_owned()),
            "{described}"
        );
    }
}

/// Every WebSocket frame that reads or writes the channel gets an `error` with `code`.
async fn assert_ws_closed(party: &mut Party, channel_id: &str, code: &str) {
    let envelope = party.forged_envelope(channel_id);
    let send = ClientFrame::Send {
        channel_id: channel_id.into(),
        envelope,
    };
    assert_eq!(party.error_for(&send).await, code, "send");
    let mut cursors = BTreeMap::new();
    cursors.insert(channel_id.into(), 0);
    assert_eq!(
        party.error_for(&ClientFrame::Sync { cursors }).await,
        code,
        "sync"
    );
    let read = ClientFrame::Read {
        channel_id: channel_id.into(),
        seq: 1,
    };
    assert_eq!(party.error_for(&read).await, code, "read");
    let typing = ClientFrame::Typing {
        channel_id: channel_id.into(),
    };
    assert_eq!(party.error_for(&typing).await, code, "typing");
}

#[tokio::test]
async fn without_a_published_charter_every_channel_stays_closed_until_the_admin_publishes_one() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::bare(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut member = Party::bare(&server, "membre", Role::Member, "CCAS").await;
    let channel = working_group_without_rules(&mut coord, &[&member]).await;

    let status: CharterStatus = member.client.get("/charter").await.unwrap();
    assert_eq!(status.current, None);
    let (status, code) = status_and_code(
        member
            .client
            .request(Method::GET, &format!("/channels/{}/messages", channel.id)),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "charter_not_published")
    );
    let envelope = member.forged_envelope(&channel.id);
    let code = member
        .error_for(&ClientFrame::Send {
            channel_id: channel.id.clone(),
            envelope,
        })
        .await;
    assert_eq!(code, "charter_not_published");
    let err = member
        .client
        .post_empty("/charter/accept", &Accept { version: 1 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("no_charter"));

    let admin = admin_client(&server, "admin").await;
    let published: CharterVersion = admin
        .post(
            "/admin/charters",
            &PublishText {
                text: "# Charte\n\nConfidentialité des échanges.".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(published.version, 1);
    let (_, code) = status_and_code(
        member
            .client
            .request(Method::GET, &format!("/channels/{}/messages", channel.id)),
    )
    .await;
    assert_eq!(code, "charter_not_accepted", "published, not yet accepted");
}

#[tokio::test]
async fn the_gate_closes_rest_and_websocket_until_the_charter_then_the_rules_are_accepted() {
    let server = TestServer::spawn().await.unwrap();
    ensure_charter(&server).await;
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut member = Party::bare(&server, "membre", Role::Member, "CCAS").await;
    let channel = working_group_without_rules(&mut coord, &[&member]).await;
    coord
        .publish_rules(&channel.id, "# Règlement\n\nRègles.")
        .await;
    coord.accept_rules(&channel.id).await;
    let attachment = coord
        .client
        .upload_attachment(&channel.id, "note.pdf", "application/pdf", b"contenu")
        .await
        .unwrap();
    let id = coord.send_text(&channel.id, "avant acceptation").await;
    coord.ack(&id).await;

    // The charter is not accepted: everything is closed, and nothing is delivered live.
    assert_rest_closed(&member, &channel.id, &attachment.id, "charter_not_accepted").await;
    assert_ws_closed(&mut member, &channel.id, "charter_not_accepted").await;
    assert!(!member.received_a_message_before_pong().await);

    // The charter accepted, the group's rules are still missing.
    member.accept_charter().await;
    let status: CharterStatus = member.client.get("/charter").await.unwrap();
    assert_eq!(status.accepted_version, Some(1));
    assert!(status.accepted_at.is_some());
    assert_eq!(status.pending_rules.len(), 1);
    assert_eq!(status.pending_rules[0].channel_id, channel.id);
    assert_rest_closed(&member, &channel.id, &attachment.id, "rules_not_accepted").await;
    assert_ws_closed(&mut member, &channel.id, "rules_not_accepted").await;
    let id = coord.send_text(&channel.id, "toujours fermé").await;
    coord.ack(&id).await;
    assert!(!member.received_a_message_before_pong().await);

    // Both accepted: REST and WebSocket open, live delivery resumes.
    member.accept_rules(&channel.id).await;
    let rules: RulesStatus = member
        .client
        .get(&format!("/channels/{}/rules", channel.id))
        .await
        .unwrap();
    assert_eq!(rules.accepted_version, Some(1));
    let page: passerelle_shared::protocol::v1::channels::HistoryPage = member
        .client
        .get(&format!("/channels/{}/messages", channel.id))
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 2);
    let bytes = member
        .client
        .download_attachment(&attachment)
        .await
        .unwrap();
    assert_eq!(bytes.as_slice(), b"contenu");
    let id = member.send_text(&channel.id, "merci").await;
    assert_eq!(member.ack(&id).await, 3);
    let (_, text) = coord.receive().await;
    assert_eq!(text, "merci");
    let id = coord.send_text(&channel.id, "en direct").await;
    coord.ack(&id).await;
    let message = member
        .frame(|f| match f {
            ServerFrame::Message(m) if m.seq == 4 => Some(m.clone()),
            _ => None,
        })
        .await;
    let content = member.client.open(&member.device, &message).await.unwrap();
    assert_eq!(content.text, "en direct");

    let actions = audit_actions(&server, None).await;
    for expected in [
        ("charter_accepted", "success"),
        ("rules_published", "success"),
        ("rules_accepted", "success"),
        ("history_read", "denied"),
        ("message_send", "denied"),
        ("attachment_download", "denied"),
    ] {
        assert!(
            actions.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} missing"
        );
    }
}

#[tokio::test]
async fn a_new_version_of_the_charter_or_of_the_rules_closes_the_channels_again() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut member = Party::new(&server, "membre", Role::Member, "CCAS").await;
    let channel = working_group(&mut coord, &[&member]).await;
    let id = coord.send_text(&channel.id, "version 1").await;
    coord.ack(&id).await;
    member.receive().await;

    let admin = admin_client(&server, "admin").await;
    let v2: CharterVersion = admin
        .post(
            "/admin/charters",
            &PublishText {
                text: "# Charte, version 2".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    let required = member
        .frame(|f| match f {
            ServerFrame::CharterRequired { version } => Some(*version),
            _ => None,
        })
        .await;
    assert_eq!(required, 2);
    let (_, code) = status_and_code(
        member
            .client
            .request(Method::GET, &format!("/channels/{}/messages", channel.id)),
    )
    .await;
    assert_eq!(code, "charter_not_accepted");
    // The coordinator is blocked too until they accept.
    let envelope = coord.forged_envelope(&channel.id);
    let code = coord
        .error_for(&ClientFrame::Send {
            channel_id: channel.id.clone(),
            envelope,
        })
        .await;
    assert_eq!(code, "charter_not_accepted");
    coord.accept_charter().await;
    let id = coord.send_text(&channel.id, "version 2").await;
    coord.ack(&id).await;
    assert!(
        !member.received_a_message_before_pong().await,
        "no live delivery before acceptance"
    );
    let err = member
        .client
        .post_empty("/charter/accept", &Accept { version: 1 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("version_outdated"));
    member.accept_charter().await;
    let reopened = member
        .frame(|f| match f {
            ServerFrame::Channel(c) => Some(c.id.clone()),
            _ => None,
        })
        .await;
    assert_eq!(reopened, channel.id);
    member.conn.sync().await.unwrap();
    let (message, text) = member.receive().await;
    assert_eq!((message.seq, text.as_str()), (2, "version 2"));

    // New rules: the same again, for the group only.
    coord.publish_rules(&channel.id, "# Règlement v2").await;
    let required = member
        .frame(|f| match f {
            ServerFrame::RulesRequired {
                channel_id,
                version,
            } => Some((channel_id.clone(), *version)),
            _ => None,
        })
        .await;
    assert_eq!(required, (channel.id.clone(), 2));
    let (_, code) = status_and_code(
        member
            .client
            .request(Method::GET, &format!("/channels/{}", channel.id)),
    )
    .await;
    assert_eq!(code, "rules_not_accepted");
    member.accept_rules(&channel.id).await;
    let detail: passerelle_shared::protocol::v1::channels::ChannelDetail = member
        .client
        .get(&format!("/channels/{}", channel.id))
        .await
        .unwrap();
    assert_eq!(detail.members.len(), 2);
    let accepted: Vec<_> = audit_actions(&server, None)
        .await
        .into_iter()
        .filter(|(a, _)| a == "charter_accepted")
        .collect();
    assert_eq!(accepted.len(), 4, "two users, two versions each");
}

#[tokio::test]
async fn only_the_admin_publishes_the_charter_and_only_a_coordinator_of_the_group_its_rules() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let member = Party::new(&server, "membre", Role::Member, "CCAS").await;
    let other_coord = Party::new(&server, "coord2", Role::Coordinator, "PJJ").await;
    let channel = working_group_without_rules(&mut coord, &[&member]).await;
    for (party, login) in [(&member, "membre"), (&coord, "coord")] {
        let (status, _) = status_and_code(
            party
                .client
                .request(Method::POST, "/admin/charters")
                .json(&PublishText { text: "x".into() }),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{login}");
    }
    let auditor = server
        .create_user("dpo", Role::Auditor, "Mairie")
        .await
        .unwrap();
    let auditor = server.client(&auditor).await.unwrap();
    let (status, _) = status_and_code(
        auditor
            .request(Method::POST, "/admin/charters")
            .json(&PublishText { text: "x".into() }),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let admin = admin_client(&server, "admin").await;
    let (status, code) = status_and_code(
        admin
            .request(Method::POST, "/admin/charters")
            .json(&PublishText { text: "   ".into() }),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_text")
    );

    let rules_path = format!("/channels/{}/rules", channel.id);
    let body = PublishText {
        text: "# Règlement".into(),
    };
    let (status, _) =
        status_and_code(member.client.request(Method::POST, &rules_path).json(&body)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a member");
    let (status, _) = status_and_code(
        other_coord
            .client
            .request(Method::POST, &rules_path)
            .json(&body),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a coordinator of another group"
    );
    assert_eq!(coord.publish_rules(&channel.id, "# Règlement").await, 1);
    let actions = audit_actions(&server, None).await;
    assert!(actions.contains(&("charter_publish".into(), "denied".into())));
    assert!(actions.contains(&("rules_publish".into(), "denied".into())));
}

#[tokio::test]
async fn additions_check_the_legal_regime_and_the_institution_of_the_person() {
    let server = TestServer::spawn().await.unwrap();
    let secrecy = Attributes {
        bound_by_professional_secrecy: true,
        social_action_professional: false,
    };
    let social = Attributes {
        bound_by_professional_secrecy: true,
        social_action_professional: true,
    };
    let coord = Party::with_attributes(
        &server,
        "coord",
        Role::Coordinator,
        "Conseil départemental",
        social,
    )
    .await;
    let teacher = Party::new(&server, "prof", Role::Member, "Éducation nationale").await;
    let nurse = Party::with_attributes(
        &server,
        "infirmiere",
        Role::Member,
        "Éducation nationale",
        secrecy,
    )
    .await;
    let worker = Party::with_attributes(
        &server,
        "assistante",
        Role::Member,
        "Conseil départemental",
        social,
    )
    .await;
    server
        .institution_of_kind("Police", InstitutionKind::PoliceNationale)
        .await
        .unwrap();
    let police = Party::new(&server, "police", Role::Member, "Police").await;
    let create = |regime: LegalRegime, members: Vec<String>| CreateChannel {
        kind: ChannelKind::WorkingGroup,
        name: "Protection de l'enfance".into(),
        regime,
        institutions: vec![teacher.user.institution_id.clone().into()],
        members: members.into_iter().map(Into::into).collect(),
    };

    // At creation: the teacher is not bound by professional secrecy.
    let err = coord
        .client
        .post::<_, Channel>(
            "/channels",
            &create(LegalRegime::ChildProtection, vec![teacher.user.id.clone()]),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("regime_not_met"));
    // The refusal names whom it is about, so that the form shows it beside that person.
    let refusal = coord
        .client
        .request(reqwest::Method::POST, "/channels")
        .json(&create(
            LegalRegime::ChildProtection,
            vec![nurse.user.id.clone(), teacher.user.id.clone()],
        ))
        .send()
        .await
        .unwrap()
        .json::<passerelle_shared::protocol::v1::error::ErrorBody>()
        .await
        .unwrap()
        .error;
    assert_eq!(refusal.code, "regime_not_met");
    assert_eq!(refusal.about.as_deref(), Some(teacher.user.id.as_str()));
    let child: Channel = coord
        .client
        .post(
            "/channels",
            &create(LegalRegime::ChildProtection, vec![nurse.user.id.clone()]),
        )
        .await
        .unwrap();
    let social_channel: Channel = coord
        .client
        .post(
            "/channels",
            &create(LegalRegime::SharedSecretSocial, vec![]),
        )
        .await
        .unwrap();
    // A coordinator adds members once the group's rules are published and accepted.
    for channel in [&child, &social_channel] {
        coord.publish_rules(&channel.id, "# Règlement").await;
        coord.accept_rules(&channel.id).await;
    }

    let add = |channel: &Channel, who: &Party| {
        coord
            .client
            .request(Method::POST, &format!("/channels/{}/members", channel.id))
            .json(&AddMember {
                record: None,
                user_id: who.user.id.clone().into(),
            })
    };
    let cases = [
        (&child, &teacher, "regime_not_met"),
        (&child, &police, "institution_not_allowed"),
        (&social_channel, &nurse, "regime_not_met"),
    ];
    for (channel, who, expected) in cases {
        let (status, code) = status_and_code(add(channel, who)).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, expected),
            "{}",
            who.user.login
        );
    }
    let (status, _) = status_and_code(add(&child, &worker)).await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "a social worker of an allowed institution"
    );
    let (status, code) = status_and_code(add(&child, &worker)).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "already_member")
    );
    let denials: Vec<_> = audit_actions(&server, Some(&child.id))
        .await
        .into_iter()
        .filter(|(a, o)| a == "member_add" && o == "denied")
        .collect();
    assert_eq!(denials.len(), 2);

    // An attribute withdrawn later takes that member out of the channel at once (an
    // exclusion, CHARTER.md C3: the channel rotates without their devices).
    nurse.accept_rules(&child.id).await;
    let history = format!("/channels/{}/messages", child.id);
    let (status, _) = status_and_code(nurse.client.request(Method::GET, &history)).await;
    assert_eq!(status, StatusCode::OK);
    let admin = admin_client(&server, "admin").await;
    admin
        .request(Method::PATCH, &format!("/admin/users/{}", nurse.user.id))
        .json(&serde_json::json!({ "attributes": { "bound_by_professional_secrecy": false } }))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let (status, code) = status_and_code(nurse.client.request(Method::GET, &history)).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let left = audit_actions(&server, Some(&nurse.user.id)).await;
    assert!(left
        .iter()
        .any(|(action, _)| action == "admin_user_updated"));
}

/// CHARTER.md C5: the type of an institution bounds the attributes of its people, so no
/// tick box makes a police officer a social-action professional, and no change of type
/// silently contradicts the attributes already given.
#[tokio::test]
async fn an_attribute_the_institution_type_does_not_admit_is_refused_and_logged() {
    let server = TestServer::spawn().await.unwrap();
    let admin = admin_client(&server, "admin").await;
    let police = server
        .institution_of_kind("Commissariat", InstitutionKind::PoliceNationale)
        .await
        .unwrap();
    let ccas = server
        .institution_of_kind("CCAS", InstitutionKind::Ccas)
        .await
        .unwrap();
    let account = |login: &str, institution: &str, attributes: serde_json::Value| {
        serde_json::json!({
            "login": login, "display_name": "Agent", "institution_id": institution,
            "role": "member", "attributes": attributes,
        })
    };

    // At creation: refused with the rule, nothing created.
    for (attributes, expected) in [
        (
            serde_json::json!({ "social_action_professional": true }),
            "social_action_not_allowed",
        ),
        (
            serde_json::json!({ "bound_by_professional_secrecy": true }),
            "secrecy_not_allowed",
        ),
    ] {
        let (status, code) =
            status_and_code(admin.request(Method::POST, "/admin/users").json(&account(
                "agent.police",
                &police,
                attributes,
            )))
            .await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, expected)
        );
    }
    let accounts: Vec<serde_json::Value> = admin.get("/admin/users").await.unwrap();
    assert!(accounts.iter().all(|a| a["login"] != "agent.police"));

    // Later, by an update: refused, the account keeps its attributes.
    let officer: serde_json::Value = admin
        .post(
            "/admin/users",
            &account("agent.police", &police, serde_json::json!({})),
        )
        .await
        .unwrap();
    let officer_id = officer["account"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, code) = status_and_code(
        admin
            .request(Method::PATCH, &format!("/admin/users/{officer_id}"))
            .json(&serde_json::json!({ "attributes": { "social_action_professional": true } })),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "social_action_not_allowed"
        )
    );
    let accounts: Vec<serde_json::Value> = admin.get("/admin/users").await.unwrap();
    let stored = accounts
        .iter()
        .find(|a| a["id"] == officer_id.as_str())
        .cloned()
        .unwrap_or_default();
    assert_eq!(stored["attributes"]["social_action_professional"], false);

    // A social worker of the CCAS is admitted; the CCAS cannot then be retyped as police.
    let worker: serde_json::Value = admin
        .post(
            "/admin/users",
            &account(
                "assistante",
                &ccas,
                serde_json::json!({ "social_action_professional": true }),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        worker["account"]["attributes"]["social_action_professional"],
        true
    );
    let (status, code) = status_and_code(
        admin
            .request(Method::PATCH, &format!("/admin/institutions/{ccas}"))
            .json(&serde_json::json!({ "kind": "police_municipale" })),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "kind_contradicts_members")
    );
    let institutions: Vec<serde_json::Value> = admin.get("/admin/institutions").await.unwrap();
    let kind_of = |id: &str| {
        institutions
            .iter()
            .find(|i| i["id"] == id)
            .map(|i| i["kind"].clone())
            .unwrap_or_default()
    };
    assert_eq!(kind_of(&ccas), "ccas");
    assert_eq!(kind_of(&police), "police_nationale");

    // A type outside the closed list, or none at all, is refused.
    for body in [
        serde_json::json!({ "name": "Gendarmerie", "kind": "gendarmerie" }),
        serde_json::json!({ "name": "Gendarmerie" }),
    ] {
        let (status, _) = status_and_code(
            admin
                .request(Method::POST, "/admin/institutions")
                .json(&body),
        )
        .await;
        assert!(status.is_client_error(), "{body}");
    }

    let denied: Vec<String> = audit_actions(&server, None)
        .await
        .into_iter()
        .filter(|(_, outcome)| outcome == "denied")
        .map(|(action, _)| action)
        .collect();
    for action in [
        "admin_user_create",
        "admin_user_update",
        "admin_institution_update",
    ] {
        assert!(denied.iter().any(|a| a == action), "{action} denial logged");
    }
}

#[tokio::test]
async fn external_participants_cannot_create_invite_or_browse_the_directory() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let member = Party::new(&server, "membre", Role::Member, "CCAS").await;
    let mut external = Party::new(&server, "mediateur", Role::External, "Association").await;
    let channel = working_group(&mut coord, &[&member, &external]).await;
    crate::support::start_log(&mut coord, &channel.id).await;

    let client = &external.client;
    let refused = [
        client
            .request(Method::POST, "/channels")
            .json(&CreateChannel {
                kind: ChannelKind::WorkingGroup,
                name: "Groupe".into(),
                regime: LegalRegime::ClspdConfidential,
                institutions: vec![],
                members: vec![],
            }),
        client
            .request(Method::POST, "/channels")
            .json(&CreateChannel {
                kind: ChannelKind::Direct,
                name: String::new(),
                regime: LegalRegime::ClspdConfidential,
                institutions: vec![],
                members: vec![member.user.id.clone().into()],
            }),
        client
            .request(Method::POST, "/cases")
            .json(&serde_json::json!({
                "programme": "public_tranquillity",
                "reporting_institution": member.user.institution_id,
                "regime": "clspd_confidential",
            })),
        client
            .request(Method::POST, "/practice-sessions")
            .json(&serde_json::json!({
                "name": "", "starts_at": 0, "ends_at": i64::MAX,
            })),
        client
            .request(Method::POST, &format!("/channels/{}/members", channel.id))
            .json(&AddMember {
                record: None,
                user_id: coord.user.id.clone().into(),
            }),
        client.request(Method::GET, "/directory"),
    ];
    for request in refused {
        let described = format!("{request:?}");
        let (status, _) = status_and_code(request).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{described}");
    }
    // Nor can they look up someone they share no channel with.
    let stranger = server
        .create_user("inconnu", Role::Member, "PJJ")
        .await
        .unwrap();
    let (status, _) =
        status_and_code(client.request(Method::GET, &format!("/keys/users/{}", stranger.id))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // What they were added to, they read and write.
    let id = external.send_text(&channel.id, "bonjour").await;
    external.ack(&id).await;
    let directory: Vec<DirectoryEntry> = member.client.get("/directory").await.unwrap();
    assert!(directory.iter().any(|e| e.user_id == external.user.id));
    assert!(directory
        .iter()
        .all(|e| e.role != Role::Admin && e.role != Role::Auditor));
    let actions = audit_actions(&server, None).await;
    for action in [
        "channel_create",
        "case_create",
        "practice_session_create",
        "member_add",
        "directory_read",
    ] {
        assert!(
            actions.contains(&(action.into(), "denied".into())),
            "{action} denial missing"
        );
    }
}

#[tokio::test]
async fn no_route_forwards_exports_or_searches_channel_content() {
    let server = TestServer::spawn().await.unwrap();
    let openapi: serde_json::Value = server
        .http()
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths: Vec<String> = openapi["paths"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert!(paths.iter().any(|p| p == "/api/v1/cases"));
    for path in &paths {
        for word in ["forward", "search", "copy", "share", "transfer", "link"] {
            // Linking a new device to one's own account (PROTOCOL.md §5.5.1) moves public
            // keys of the key directory, never channel content.
            if word == "link" && path.starts_with("/api/v1/keys/link-requests") {
                continue;
            }
            assert!(
                !path.contains(word),
                "{path} looks like a way out (C4, C10)"
            );
        }
        // The only exports: the access log (auditors, metadata only) and the anonymous
        // annual report (C14).
        if path.contains("export") || path.contains("csv") {
            assert_eq!(path, "/api/v1/audit/export");
        }
    }
    // No listing of cases to search through (C10): members see their own channels only.
    assert!(openapi["paths"]["/api/v1/cases"]["get"].is_null());
    let user = server
        .create_user("coord", Role::Coordinator, "Mairie")
        .await
        .unwrap();
    let client = server.client(&user).await.unwrap();
    let (status, _) = status_and_code(client.request(Method::GET, "/cases")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}
