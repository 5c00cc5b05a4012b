//! Sealed titles and notes (docs/PROTOCOL.md §24; CHARTER.md C7–C9): what a person types
//! to name a case, a practice session or a conversation, and a case's note, are sealed by
//! the client; the database holds none of it, in any table or file.

use passerelle_server::clock::Clock;
use passerelle_shared::crypto::{Envelope, MessageContent, MessageHeader};
use passerelle_shared::protocol::v1::cases::{
    CaseView, CreateCase, CreatePracticeSession, InformationRecord, NotInformedReason,
    PracticeSession, Programme,
};
use passerelle_shared::protocol::v1::channels::{Channel, ChannelKind, CreateChannel, LegalRegime};
use passerelle_shared::protocol::v1::error::ErrorBody;
use passerelle_shared::protocol::v1::sealed_meta::{
    note_scope, title_scope, SealNote, SealTitle, TitleRecord,
};
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::support::{audit_events, files_holding, working_group, Party};

const CASE_TITLE: &str = "Suivi Tournesol collège Nord";
const SESSION_TITLE: &str = "Séance Capucine sur les refus de soins";
const DIRECT_TITLE: &str = "Échange Mimosa avant la cellule";
const NOTE: &str = "Information Glycine reportée après l'audience";

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

/// Every (table, column) of the server's database holding `needle` in any row, as text.
async fn cells_holding(server: &TestServer, needle: &str) -> Vec<String> {
    let db = &server.state.db;
    let backend = db.get_database_backend();
    let columns_sql = match backend {
        DbBackend::Postgres => {
            "SELECT table_name AS t, column_name AS c FROM information_schema.columns \
             WHERE table_schema = current_schema()"
                .to_owned()
        }
        _ => "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table'"
            .to_owned(),
    };
    let columns = db
        .query_all(Statement::from_string(backend, columns_sql))
        .await
        .unwrap();
    assert!(columns.len() > 100, "every table's columns are listed");
    let placeholder = if backend == DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let mut found = Vec::new();
    for row in columns {
        let table: String = row.try_get("", "t").unwrap();
        let column: String = row.try_get("", "c").unwrap();
        let hit = db
            .query_one(Statement::from_sql_and_values(
                backend,
                format!(
                    "SELECT COUNT(*) AS n FROM \"{table}\" WHERE CAST(\"{column}\" AS TEXT) LIKE {placeholder}"
                ),
                [format!("%{needle}%").into()],
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        if hit > 0 {
            found.push(format!("{table}.{column}"));
        }
    }
    found
}

/// The caller's channel `id`, as listed.
async fn listed(party: &Party, id: &str) -> Channel {
    let channels: Vec<Channel> = party.client.get("/channels").await.unwrap();
    channels.into_iter().find(|c| c.id == id).unwrap()
}

/// The title `party` reads on channel `id`.
async fn title_seen(party: &mut Party, id: &str) -> Option<String> {
    let channel = listed(party, id).await;
    party
        .client
        .open_channel_title(&party.device, &channel)
        .await
        .unwrap()
}

/// A case, a practice session and a direct conversation get titles, the case a note,
/// through the SDK; their members read them, one who joins later too once the title is
/// re-sealed under the new epoch; and no table, column or database file holds any of
/// them.
#[tokio::test]
async fn titles_and_notes_are_sealed_and_no_table_or_file_holds_them() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut member = Party::new(&server, "educ", Role::Member, "PJJ").await;
    let late = Party::new(&server, "ccas", Role::Member, "CCAS").await;
    let group = working_group(&mut coord, &[&member, &late]).await;

    let case: CaseView = coord
        .client
        .post(
            "/cases",
            &CreateCase {
                programme: Programme::PublicTranquillity,
                reporting_institution: member.user.institution_id.clone().into(),
                regime: LegalRegime::ClspdConfidential,
                group_id: Some(group.id.clone()),
                institutions: vec![
                    member.user.institution_id.clone().into(),
                    late.user.institution_id.clone().into(),
                ],
                members: vec![member.user.id.clone().into()],
                referent_user_id: Some(member.user.id.clone().into()),
                destroy_limit: None,
                scheme: None,
            },
        )
        .await
        .unwrap();
    let case_id = case.channel.id.clone();
    let sealed = coord
        .client
        .set_channel_title(&mut coord.device, &case_id, CASE_TITLE)
        .await
        .unwrap();
    assert!(sealed.name.starts_with("DOS-"), "{}", sealed.name);
    assert!(sealed.title.is_some());

    let now = server.clock.now_ms();
    let session: PracticeSession = coord
        .client
        .post(
            "/practice-sessions",
            &CreatePracticeSession {
                name: String::new(),
                starts_at: now,
                ends_at: now + 7_200_000,
                group_id: Some(group.id.clone()),
                institutions: vec![member.user.institution_id.clone().into()],
                members: vec![member.user.id.clone().into()],
            },
        )
        .await
        .unwrap();
    let session_id = session.channel.id.clone();
    assert!(session.channel.name.starts_with("SEA-"));
    coord
        .client
        .set_channel_title(&mut coord.device, &session_id, SESSION_TITLE)
        .await
        .unwrap();

    let direct: Channel = member
        .client
        .post(
            "/channels",
            &CreateChannel {
                kind: ChannelKind::Direct,
                name: String::new(),
                regime: LegalRegime::ClspdConfidential,
                institutions: vec![],
                members: vec![coord.user.id.clone().into()],
            },
        )
        .await
        .unwrap();
    // Its creator's client starts its signed log, as the browser does (§22.4).
    member
        .client
        .start_membership_log(&member.device, &direct.id)
        .await
        .unwrap();
    member
        .client
        .set_channel_title(&mut member.device, &direct.id, DIRECT_TITLE)
        .await
        .unwrap();

    let sealed_note = member
        .client
        .seal_case_note(&mut member.device, &case_id, NOTE)
        .await
        .unwrap();
    let view: CaseView = member
        .client
        .request(Method::PUT, &format!("/cases/{case_id}/information"))
        .json(&InformationRecord::NotInformed {
            reason: NotInformedReason::ChildInterest,
            note: String::new(),
            sealed_note: Some(Box::new(sealed_note)),
            decided_by: coord.user.id.clone().into(),
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // The members read them.
    assert_eq!(
        title_seen(&mut member, &case_id).await.as_deref(),
        Some(CASE_TITLE)
    );
    assert_eq!(
        title_seen(&mut member, &session_id).await.as_deref(),
        Some(SESSION_TITLE)
    );
    assert_eq!(
        title_seen(&mut coord, &direct.id).await.as_deref(),
        Some(DIRECT_TITLE)
    );
    let Some(InformationRecord::NotInformed {
        sealed_note: Some(envelope),
        ..
    }) = &view.information
    else {
        panic!("no sealed note: {:?}", view.information);
    };
    let opened = coord
        .client
        .open_case_note(&coord.device, &case_id, envelope, &member.user.id)
        .await
        .unwrap();
    assert_eq!(opened, NOTE);

    // A member who joins later reads the title once a member re-seals it under the
    // epoch the newcomer holds.
    let mut late = late;
    late.accept_rules(&group.id).await;
    coord
        .client
        .add_member(&coord.device, &case_id, &late.user.id, false)
        .await
        .unwrap();
    let before = listed(&late, &case_id).await;
    assert!(
        late.client
            .open_channel_title(&late.device, &before)
            .await
            .is_err(),
        "sealed under an epoch from before they joined"
    );
    coord
        .client
        .set_channel_title(&mut coord.device, &case_id, CASE_TITLE)
        .await
        .unwrap();
    let after = listed(&late, &case_id).await;
    assert_eq!(
        late.client
            .open_channel_title(&late.device, &after)
            .await
            .unwrap()
            .as_deref(),
        Some(CASE_TITLE)
    );

    // The note too (issue 19 item 2): sealed before they joined, it does not open for
    // them until a member seals it again under the epoch they hold; then it does.
    let case_path = format!("/cases/{case_id}");
    let seen: CaseView = late.client.get(&case_path).await.unwrap();
    let old = seen.sealed_note().expect("a sealed note").clone();
    assert!(
        late.client
            .open_case_note(&late.device, &case_id, &old, seen.note_sealer().unwrap())
            .await
            .is_err(),
        "sealed under an epoch from before they joined"
    );
    let resealed = coord
        .client
        .reseal_case_note(&mut coord.device, &case_id)
        .await
        .unwrap()
        .expect("the note was under an older epoch");
    assert_eq!(
        resealed.note_sealed_by.as_deref(),
        Some(coord.user.id.as_str())
    );
    let seen: CaseView = late.client.get(&case_path).await.unwrap();
    assert_eq!(
        late.client
            .open_case_note(
                &late.device,
                &case_id,
                seen.sealed_note().unwrap(),
                seen.note_sealer().unwrap()
            )
            .await
            .unwrap(),
        NOTE
    );
    // Under the current epoch already: nothing to do, and the same sealing again is
    // refused (409) and changes nothing.
    assert!(coord
        .client
        .reseal_case_note(&mut coord.device, &case_id)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        status_and_code(
            coord
                .client
                .request(Method::PUT, &format!("/cases/{case_id}/note"))
                .json(&SealNote {
                    envelope: seen.sealed_note().unwrap().clone()
                })
        )
        .await,
        (StatusCode::CONFLICT, "note_epoch_stale".into())
    );

    // Nothing typed is stored anywhere, nor answered by the server in clear.
    for typed in [CASE_TITLE, SESSION_TITLE, DIRECT_TITLE, NOTE] {
        let word = typed.split(' ').nth(1).unwrap();
        assert_eq!(
            cells_holding(&server, word).await,
            Vec::<String>::new(),
            "{typed}"
        );
        assert_eq!(
            files_holding(&server, word),
            Vec::<String>::new(),
            "{typed}"
        );
        let answered = coord
            .client
            .request(Method::GET, "/channels")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!answered.contains(word), "{typed}");
    }
    // The scan does find what is stored in clear: a working group's name.
    assert!(!cells_holding(&server, "Groupe jeunesse").await.is_empty());
}

/// A title sealed for another channel or scope, by another's device, under an old epoch,
/// or replayed is refused, logged and changes nothing; a working group keeps its
/// institutional name; someone outside the channel gets 404.
#[tokio::test]
async fn a_title_sealed_wrong_stale_or_replayed_is_refused_and_logged() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut member = Party::new(&server, "educ", Role::Member, "PJJ").await;
    let outsider = Party::new(&server, "autre", Role::Member, "CCAS").await;
    let group = working_group(&mut coord, &[&member]).await;
    let now = server.clock.now_ms();
    let session: PracticeSession = coord
        .client
        .post(
            "/practice-sessions",
            &CreatePracticeSession {
                name: String::new(),
                starts_at: now,
                ends_at: now + 7_200_000,
                group_id: Some(group.id.clone()),
                institutions: vec![member.user.institution_id.clone().into()],
                members: vec![member.user.id.clone().into()],
            },
        )
        .await
        .unwrap();
    let id = session.channel.id.clone();
    let epoch = coord
        .client
        .ensure_epoch(&mut coord.device, &id)
        .await
        .unwrap();
    let seal = |party: &Party, scope: String, epoch: u64| {
        let header = MessageHeader {
            channel_id: scope,
            epoch,
            sender_device: party.device.device_id.clone(),
            client_msg_id: uuid::Uuid::new_v4().to_string(),
            order: None,
        };
        let record = TitleRecord {
            title: "Titre".into(),
        };
        (header, record.to_content())
    };
    let put = |party: &Party, channel_id: &str, envelope: &Envelope| {
        party
            .client
            .request(Method::PUT, &format!("/channels/{channel_id}/title"))
            .json(&SealTitle {
                envelope: envelope.clone(),
            })
    };
    async fn sealed(
        party: &mut Party,
        channel_id: &str,
        header: MessageHeader,
        content: MessageContent,
    ) -> Envelope {
        let key = party
            .client
            .epoch_key(&party.device, channel_id, header.epoch)
            .await
            .unwrap();
        Envelope::seal(header, &content, key, party.device.keys()).unwrap()
    }

    // Another scope (the channel's own messages).
    let (header, content) = seal(&coord, id.to_string(), epoch);
    let wrong_scope = sealed(&mut coord, &id, header, content).await;
    assert_eq!(
        status_and_code(put(&coord, &id, &wrong_scope)).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_sealed_title".into()
        )
    );
    // Sealed by someone else's device.
    let (header, content) = seal(&member, title_scope(&id), epoch);
    let by_member = sealed(&mut member, &id, header, content).await;
    assert_eq!(
        status_and_code(put(&coord, &id, &by_member)).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_sealed_title".into()
        )
    );
    // The right one, then the same again.
    let (header, content) = seal(&coord, title_scope(&id), epoch);
    let good = sealed(&mut coord, &id, header, content).await;
    assert_eq!(
        status_and_code(put(&coord, &id, &good)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        status_and_code(put(&coord, &id, &good)).await,
        (StatusCode::CONFLICT, "title_replayed".into())
    );
    // Under an epoch that is no longer current.
    let (header, content) = seal(&coord, title_scope(&id), epoch);
    let old = sealed(&mut coord, &id, header, content).await;
    // A new participant: the session needs a new epoch.
    let third = Party::new(&server, "educ2", Role::Member, "PJJ").await;
    coord
        .client
        .add_member(&coord.device, &id, &third.user.id, false)
        .await
        .unwrap();
    let newer = coord
        .client
        .ensure_epoch(&mut coord.device, &id)
        .await
        .unwrap();
    assert_eq!(newer, epoch + 1);
    assert_eq!(
        status_and_code(put(&coord, &id, &old)).await,
        (StatusCode::CONFLICT, "title_epoch_stale".into())
    );
    // A working group keeps its name; an outsider is told nothing.
    assert_eq!(
        status_and_code(put(&coord, &group.id, &good)).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "title_not_sealable".into()
        )
    );
    assert_eq!(
        status_and_code(put(&outsider, &id, &good)).await.0,
        StatusCode::NOT_FOUND
    );

    let stored = listed(&coord, &id).await.title.unwrap();
    assert_eq!(stored.envelope, good, "no refusal changed the stored title");
    let denied: Vec<String> = audit_events(&server, &id, "channel_title_seal")
        .await
        .into_iter()
        .filter(|event| event.outcome == "denied")
        .map(|event| event.details)
        .collect();
    for reason in [
        "invalid_sealed_title",
        "title_replayed",
        "title_epoch_stale",
    ] {
        assert!(
            denied.iter().any(|d| d.contains(reason)),
            "{reason}: {denied:?}"
        );
    }
    assert_eq!(
        audit_events(&server, &id, "channel_title_sealed")
            .await
            .len(),
        1
    );
}

/// A practice session named in clear before titles were sealed (m0024) keeps its name
/// until a member seals it as the title: the server then replaces the name by a
/// reference, and the typed name leaves the table.
#[tokio::test]
async fn a_session_named_in_clear_before_gets_a_reference_once_its_name_is_sealed() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let member = Party::new(&server, "educ", Role::Member, "PJJ").await;
    let group = working_group(&mut coord, &[&member]).await;
    let now = server.clock.now_ms();
    let session: PracticeSession = coord
        .client
        .post(
            "/practice-sessions",
            &CreatePracticeSession {
                name: String::new(),
                starts_at: now,
                ends_at: now + 7_200_000,
                group_id: Some(group.id.clone()),
                institutions: vec![member.user.institution_id.clone().into()],
                members: vec![member.user.id.clone().into()],
            },
        )
        .await
        .unwrap();
    let id = session.channel.id.clone();
    // As a session created before m0024 was stored.
    let db = &server.state.db;
    db.execute(Statement::from_string(
        db.get_database_backend(),
        format!("UPDATE channels SET name = 'Analyse Pivoine de mars' WHERE id = '{id}'"),
    ))
    .await
    .unwrap();
    assert_eq!(listed(&coord, &id).await.name, "Analyse Pivoine de mars");

    let sealed = coord
        .client
        .set_channel_title(&mut coord.device, &id, "Analyse Pivoine de mars")
        .await
        .unwrap();
    assert!(sealed.name.starts_with("SEA-"), "{}", sealed.name);
    assert_eq!(
        title_seen(&mut coord, &id).await.as_deref(),
        Some("Analyse Pivoine de mars")
    );
    assert_eq!(
        cells_holding(&server, "Pivoine").await,
        Vec::<String>::new()
    );
    // The replaced name leaves the files at the next retention pass (secure_delete and
    // the pass's checkpoint), not only the table.
    passerelle_server::app::retention::run_once(&server.state)
        .await
        .unwrap();
    if passerelle_server::db::is_sqlite(&server.state.db) {
        assert_eq!(files_holding(&server, "Pivoine"), Vec::<String>::new());
    }
    let logged = audit_events(&server, &id, "channel_title_sealed").await;
    assert!(
        logged[0].details.contains("\"clear_name_replaced\":true"),
        "{logged:?}"
    );
}

/// Sealing a case's note again (issue 19 item 2): a case without a sealed note, a note
/// sealed for another scope or by another's device, the stored epoch again, or an
/// outsider are refused, logged, and change nothing.
#[tokio::test]
async fn a_note_sealed_again_wrong_stale_or_by_an_outsider_is_refused_and_logged() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut member = Party::new(&server, "educ", Role::Member, "PJJ").await;
    let outsider = Party::new(&server, "autre", Role::Member, "CCAS").await;
    let group = working_group(&mut coord, &[&member, &outsider]).await;
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
                referent_user_id: None,
                destroy_limit: None,
                scheme: None,
            },
        )
        .await
        .unwrap();
    let id = case.channel.id.clone();
    let put = |party: &Party, envelope: &Envelope| {
        party
            .client
            .request(Method::PUT, &format!("/cases/{id}/note"))
            .json(&SealNote {
                envelope: envelope.clone(),
            })
    };
    let record = |sealed_note: Option<Envelope>| InformationRecord::NotInformed {
        reason: NotInformedReason::ChildInterest,
        note: String::new(),
        sealed_note: sealed_note.map(Box::new),
        decided_by: member.user.id.clone().into(),
    };
    // No note recorded yet.
    let mine = coord
        .client
        .seal_case_note(&mut coord.device, &id, NOTE)
        .await
        .unwrap();
    coord
        .client
        .request(Method::PUT, &format!("/cases/{id}/information"))
        .json(&record(None))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    assert_eq!(
        status_and_code(put(&coord, &mine)).await,
        (StatusCode::UNPROCESSABLE_ENTITY, "note_not_sealed".into())
    );
    // Now with the note, sealed under the current epoch.
    coord
        .client
        .request(Method::PUT, &format!("/cases/{id}/information"))
        .json(&record(Some(mine.clone())))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    // The same sealing again, or another under the same epoch: nothing newer.
    assert_eq!(
        status_and_code(put(&coord, &mine)).await,
        (StatusCode::CONFLICT, "note_epoch_stale".into())
    );
    // Sealed for another scope, or by someone else's device.
    let wrong_scope = {
        let header = MessageHeader {
            channel_id: title_scope(&id),
            epoch: mine.epoch,
            sender_device: coord.device.device_id.clone(),
            client_msg_id: uuid::Uuid::new_v4().to_string(),
            order: None,
        };
        let key = coord
            .client
            .epoch_key(&coord.device, &id, mine.epoch)
            .await
            .unwrap();
        Envelope::seal(
            header,
            &MessageContent::text(NOTE),
            key,
            coord.device.keys(),
        )
        .unwrap()
    };
    assert_eq!(
        status_and_code(put(&coord, &wrong_scope)).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_sealed_note".into()
        )
    );
    member.accept_rules(&group.id).await;
    let by_member = member
        .client
        .seal_case_note(&mut member.device, &id, NOTE)
        .await
        .unwrap();
    assert_eq!(by_member.channel_id, note_scope(&id));
    assert_eq!(
        status_and_code(put(&coord, &by_member)).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_sealed_note".into()
        )
    );
    // Someone outside the case is told nothing.
    assert_eq!(
        status_and_code(put(&outsider, &mine)).await.0,
        StatusCode::NOT_FOUND
    );

    let view: CaseView = coord.client.get(&format!("/cases/{id}")).await.unwrap();
    assert_eq!(
        view.sealed_note(),
        Some(&mine),
        "no refusal changed the note"
    );
    assert_eq!(view.note_sealed_by, None);
    let denied: Vec<String> = audit_events(&server, &id, "case_note_reseal")
        .await
        .into_iter()
        .filter(|event| event.outcome == "denied")
        .map(|event| event.details)
        .collect();
    for reason in ["note_not_sealed", "note_epoch_stale", "invalid_sealed_note"] {
        assert!(
            denied.iter().any(|d| d.contains(reason)),
            "{reason}: {denied:?}"
        );
    }
    assert!(audit_events(&server, &id, "case_note_resealed")
        .await
        .is_empty());
}
