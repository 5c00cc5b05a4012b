//! The person's identity on a case (CHARTER.md C7, issue 19 item 2): sealed by the client
//! for the case's coordinators and referent only; the other members and outsiders are
//! refused and logged; every opening is logged; a new referent reads it only once it is
//! sealed again, and the former one loses it at once; the name never reaches the database.

use passerelle_shared::protocol::v1::case_identity::{IdentityRecord, IdentityStatus};
use passerelle_shared::protocol::v1::cases::{CaseView, CreateCase, Programme, UpdateCase};
use passerelle_shared::protocol::v1::channels::{Channel, LegalRegime};
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::{Backend, TestServer};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::Value;

use crate::support::{audit_events, count_rows, working_group, Party};

const NAME: &str = "Kevin DURAND";
const BIRTH_MONTH: &str = "2011-04";

struct Scene {
    server: TestServer,
    coordinator: Party,
    referent: Party,
    member: Party,
    other: Party,
    outsider: Party,
    case: CaseView,
}

/// A coordinator's case in a working group, with a referent (PJJ), a plain member (CCAS)
/// and another member (Éducation nationale); an outsider of the group (Police) is in no
/// case.
async fn scene() -> Scene {
    let server = TestServer::spawn().await.unwrap();
    let mut coordinator = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let referent = Party::new(&server, "educ.pjj", Role::Member, "PJJ").await;
    let member = Party::new(&server, "agent.ccas", Role::Member, "CCAS").await;
    let other = Party::new(&server, "cpe", Role::Member, "Collège Jean Moulin").await;
    let outsider = Party::new(&server, "police", Role::Member, "Police municipale").await;
    let group = working_group(&mut coordinator, &[&referent, &member, &other, &outsider]).await;
    let case = open_case(&coordinator, &group, &[&referent, &member, &other]).await;
    Scene {
        server,
        coordinator,
        referent,
        member,
        other,
        outsider,
        case,
    }
}

async fn open_case(coordinator: &Party, group: &Channel, members: &[&Party]) -> CaseView {
    coordinator
        .client
        .post(
            "/cases",
            &CreateCase {
                programme: Programme::PublicTranquillity,
                reporting_institution: members[0].user.institution_id.clone().into(),
                regime: LegalRegime::ClspdConfidential,
                group_id: Some(group.id.clone()),
                institutions: members
                    .iter()
                    .map(|m| m.user.institution_id.as_str().into())
                    .collect(),
                members: members.iter().map(|m| m.user.id.as_str().into()).collect(),
                referent_user_id: Some(members[0].user.id.clone().into()),
                destroy_limit: None,
                scheme: None,
            },
        )
        .await
        .unwrap()
}

/// The coordinator names the referent chosen at the case's opening (the server's word)
/// with the signed record that clients take the identity's readers from (docs/PROTOCOL.md
/// §22.3): without it the sealing client refuses the referent as a reader.
async fn sign_referent(coordinator: &mut Party, case_id: &str, referent: &Party) {
    coordinator
        .client
        .set_case_referent(&coordinator.device, case_id, &referent.user.id)
        .await
        .unwrap();
}

fn record() -> IdentityRecord {
    IdentityRecord {
        name: NAME.into(),
        birth_month: Some(BIRTH_MONTH.into()),
    }
}

/// Sends `body` to `path` as `party`: the status and the error code, whose message must
/// be a French sentence.
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

fn identity_path(case: &CaseView, party: &Party) -> String {
    format!(
        "/cases/{}/identity?device_id={}",
        case.channel.id, party.device.device_id
    )
}

async fn denials(server: &TestServer, case: &CaseView, action: &str) -> Vec<String> {
    audit_events(server, &case.channel.id, action)
        .await
        .into_iter()
        .filter(|e| e.outcome == "denied")
        .map(|e| e.user_id.unwrap_or_default())
        .collect()
}

/// Whether `needle` is anywhere in the server's databases: every byte of the SQLite files
/// (main database, access log, their journals), or every text column of PostgreSQL.
async fn stored_anywhere(server: &TestServer, needle: &str) -> bool {
    if server.backend() == Backend::Postgres {
        let db = &server.state.db;
        let columns = db
            .query_all(Statement::from_string(
                db.get_database_backend(),
                "SELECT table_name, column_name FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND data_type IN ('text', 'character varying')",
            ))
            .await
            .unwrap();
        for column in columns {
            let table: String = column.try_get("", "table_name").unwrap();
            let name: String = column.try_get("", "column_name").unwrap();
            let found = db
                .query_one(Statement::from_string(
                    db.get_database_backend(),
                    format!(
                        "SELECT COUNT(*) AS n FROM \"{table}\" WHERE \"{name}\" LIKE '%{needle}%'"
                    ),
                ))
                .await
                .unwrap()
                .unwrap()
                .try_get::<i64>("", "n")
                .unwrap();
            if found > 0 {
                return true;
            }
        }
        return false;
    }
    let mut found = false;
    for entry in std::fs::read_dir(server.data_dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            found |= bytes
                .windows(needle.len())
                .any(|window| window == needle.as_bytes());
        }
    }
    found
}

#[tokio::test]
async fn only_the_coordinator_and_the_referent_open_the_identity_and_each_opening_is_logged() {
    let Scene {
        server,
        mut coordinator,
        mut referent,
        member,
        outsider,
        case,
        ..
    } = scene().await;
    let case_id = case.channel.id.clone();
    sign_referent(&mut coordinator, &case_id, &referent).await;
    assert_eq!(case.identity, None);

    let status: IdentityStatus = coordinator
        .client
        .set_case_identity(&coordinator.device, &case_id, &record())
        .await
        .unwrap();
    assert_eq!((status.version, status.up_to_date), (1, true));

    // The coordinator and the referent read it, each opening in the access log.
    let read = referent
        .client
        .open_case_identity(&referent.device, &case_id)
        .await
        .unwrap();
    assert_eq!(read, record());
    let read = coordinator
        .client
        .open_case_identity(&coordinator.device, &case_id)
        .await
        .unwrap();
    assert_eq!(read.name, NAME);
    let openers: Vec<String> = audit_events(&server, &case_id, "case_identity_opened")
        .await
        .into_iter()
        .filter_map(|e| e.user_id)
        .collect();
    assert_eq!(
        openers,
        [referent.user.id.clone(), coordinator.user.id.clone()]
    );

    // A plain member of the case sees that it is recorded, never what, and is refused.
    let seen: CaseView = member
        .client
        .get(&format!("/cases/{case_id}"))
        .await
        .unwrap();
    assert_eq!(seen.identity.map(|i| i.version), Some(1));
    assert_eq!(
        call(&member, Method::GET, &identity_path(&case, &member), None).await,
        (StatusCode::FORBIDDEN, "identity_restricted".into())
    );
    assert_eq!(
        call(
            &member,
            Method::GET,
            &format!("/cases/{case_id}/identity/readers"),
            None
        )
        .await,
        (StatusCode::FORBIDDEN, "identity_restricted".into())
    );
    // Nor may they replace it, even with a well-formed request.
    let sealed = coordinator
        .client
        .seal_case_identity(&coordinator.device, &case_id, &record())
        .await
        .unwrap();
    assert_eq!(
        call(
            &member,
            Method::PUT,
            &format!("/cases/{case_id}/identity"),
            Some(serde_json::to_value(&sealed).unwrap())
        )
        .await,
        (StatusCode::FORBIDDEN, "identity_restricted".into())
    );
    // Someone outside the case is told it does not exist, as for the rest of the case.
    assert_eq!(
        call(
            &outsider,
            Method::GET,
            &identity_path(&case, &outsider),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let refused = denials(&server, &case, "case_identity_open").await;
    assert!(refused.contains(&member.user.id) && refused.contains(&outsider.user.id));
    assert!(denials(&server, &case, "case_identity_seal")
        .await
        .contains(&member.user.id));
    assert_eq!(
        audit_events(&server, &case_id, "case_identity_opened")
            .await
            .len(),
        2,
        "a refusal opens nothing"
    );

    // The server holds ciphertext and wrapped keys: no name, no birth month. (The scan
    // does read the data: an institution's name is there in clear.)
    assert!(stored_anywhere(&server, "Collège Jean Moulin").await);
    assert!(!stored_anywhere(&server, NAME).await);
    assert!(!stored_anywhere(&server, BIRTH_MONTH).await);
    assert!(!stored_anywhere(&server, "DURAND").await);
}

#[tokio::test]
async fn a_new_referent_reads_the_identity_once_sealed_again_and_the_former_one_loses_it_at_once() {
    let Scene {
        server,
        mut coordinator,
        mut referent,
        mut other,
        case,
        ..
    } = scene().await;
    let case_id = case.channel.id.clone();
    sign_referent(&mut coordinator, &case_id, &referent).await;
    coordinator
        .client
        .set_case_identity(&coordinator.device, &case_id, &record())
        .await
        .unwrap();
    referent
        .client
        .open_case_identity(&referent.device, &case_id)
        .await
        .unwrap();
    assert!(count_rows(&server, "case_identity_keys", "user_id", &referent.user.id).await > 0);
    // Not the referent yet: refused.
    assert_eq!(
        call(&other, Method::GET, &identity_path(&case, &other), None).await,
        (StatusCode::FORBIDDEN, "identity_restricted".into())
    );

    // The coordinator names another referent: the former one's keys go at once.
    let updated: CaseView = coordinator
        .client
        .set_case_referent(&coordinator.device, &case_id, &other.user.id)
        .await
        .unwrap();
    assert_eq!(
        count_rows(&server, "case_identity_keys", "user_id", &referent.user.id).await,
        0
    );
    assert_eq!(updated.identity.map(|i| i.up_to_date), Some(false));
    assert_eq!(
        call(
            &referent,
            Method::GET,
            &identity_path(&case, &referent),
            None
        )
        .await,
        (StatusCode::FORBIDDEN, "identity_restricted".into())
    );
    // The new referent has no key until a reader seals it again.
    assert_eq!(
        call(&other, Method::GET, &identity_path(&case, &other), None).await,
        (StatusCode::CONFLICT, "identity_key_pending".into())
    );

    // The coordinator's client re-encrypts under a new key for the new readers.
    let known = coordinator
        .client
        .open_case_identity(&coordinator.device, &case_id)
        .await
        .unwrap();
    let status = coordinator
        .client
        .set_case_identity(&coordinator.device, &case_id, &known)
        .await
        .unwrap();
    assert_eq!((status.version, status.up_to_date), (2, true));
    let read = other
        .client
        .open_case_identity(&other.device, &case_id)
        .await
        .unwrap();
    assert_eq!(read, record());
    assert_eq!(
        call(
            &referent,
            Method::GET,
            &identity_path(&case, &referent),
            None
        )
        .await,
        (StatusCode::FORBIDDEN, "identity_restricted".into())
    );
    assert_eq!(
        count_rows(&server, "case_identity_keys", "user_id", &referent.user.id).await,
        0
    );
}

#[tokio::test]
async fn a_replayed_or_misaddressed_identity_is_refused_and_changes_nothing() {
    let Scene {
        server,
        mut coordinator,
        referent,
        member,
        case,
        ..
    } = scene().await;
    let case_id = case.channel.id.clone();
    sign_referent(&mut coordinator, &case_id, &referent).await;
    let path = format!("/cases/{case_id}/identity");
    let sealed = coordinator
        .client
        .seal_case_identity(&coordinator.device, &case_id, &record())
        .await
        .unwrap();
    let body = serde_json::to_value(&sealed).unwrap();

    // Left out a reader's device: refused.
    let mut short = body.clone();
    short["keys"].as_array_mut().unwrap().pop();
    assert_eq!(
        call(&coordinator, Method::PUT, &path, Some(short)).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_identity_keys".into()
        )
    );
    // A key for someone who is not a reader (the plain member's device): refused.
    let mut foreign = body.clone();
    foreign["keys"][0]["recipient_device"] = member.device.device_id.clone().into();
    assert_eq!(
        call(&coordinator, Method::PUT, &path, Some(foreign)).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_identity_keys".into()
        )
    );
    // Sealed for another case: refused.
    let mut elsewhere = body.clone();
    elsewhere["envelope"]["channel_id"] = "identity:another-case".into();
    assert_eq!(
        call(&coordinator, Method::PUT, &path, Some(elsewhere)).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_identity_envelope".into()
        )
    );
    assert_eq!(
        count_rows(&server, "case_identities", "channel_id", &case_id).await,
        0
    );

    // Stored once; the same request again is a replay.
    assert_eq!(
        call(&coordinator, Method::PUT, &path, Some(body.clone()))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        call(&coordinator, Method::PUT, &path, Some(body)).await,
        (StatusCode::CONFLICT, "identity_version_conflict".into())
    );
    let refused = denials(&server, &case, "case_identity_seal").await;
    assert_eq!(refused.len(), 4, "every refusal is logged");
}

/// Issue 19 item 2: on a case with a signed membership log, the sealing client takes the
/// readers from the verified log — its coordinators and the referent a coordinator named
/// by a signed record — and refuses a server that lists anyone else, sealing nothing.
/// Changing the referent on such a case needs that record: without it, or with one that
/// says something else, the change is refused, logged, and nothing is stored.
#[tokio::test]
async fn the_readers_come_from_the_signed_log_and_a_server_listing_an_extra_reader_is_refused() {
    use crate::tampering::{through, Proxy, Tamper};
    use passerelle_shared::client::ClientError;
    use passerelle_shared::crypto::{RecordBody, RosterError, LOG_REFERENT};
    use std::sync::Arc;

    let Scene {
        server,
        mut coordinator,
        mut referent,
        member,
        other,
        case,
        ..
    } = scene().await;
    let case_id = case.channel.id.clone();
    // The coordinator signs the current referent into the case's log (starting it).
    let signed = coordinator
        .client
        .set_case_referent(&coordinator.device, &case_id, &referent.user.id)
        .await
        .unwrap();
    assert_eq!(
        signed.referent_user_id.as_deref(),
        Some(referent.user.id.as_str())
    );
    let log = coordinator
        .client
        .verified_membership(&case_id)
        .await
        .unwrap()
        .expect("the case has a log now");
    assert_eq!(log.referent.as_deref(), Some(referent.user.id.as_str()));
    assert_eq!(log.identity_readers().into_iter().collect::<Vec<_>>(), {
        let mut readers = vec![coordinator.user.id.clone(), referent.user.id.clone()];
        readers.sort();
        readers
    });

    // An honest server: the identity is sealed for the coordinator and the referent.
    coordinator
        .client
        .set_case_identity(&coordinator.device, &case_id, &record())
        .await
        .unwrap();
    let read = referent
        .client
        .open_case_identity(&referent.device, &case_id)
        .await
        .unwrap();
    assert_eq!(read.name, NAME);

    // A malicious server lists a plain member as a reader, with her device: refused,
    // nothing sent.
    let extra = member.user.id.clone();
    let extra_device = member.device.device_id.clone();
    let readers_path = format!("/api/v1/cases/{case_id}/identity/readers");
    let tamper: Tamper = Arc::new(move |method, path, mut answer| {
        if method == reqwest::Method::GET && path == readers_path {
            if let Some(list) = answer["readers"].as_array_mut() {
                list.push(serde_json::json!({
                    "user_id": extra,
                    "display_name": "Agent CCAS",
                    "duty": "coordinator",
                    "devices": [extra_device],
                }));
            }
        }
        answer
    });
    let proxy = Proxy::spawn(&server, tamper).await;
    let mut fooled = through(&proxy, &coordinator);
    match fooled
        .set_case_identity(&coordinator.device, &case_id, &record())
        .await
    {
        Err(ClientError::Tampered(RosterError::NotReader(user_id))) => {
            assert_eq!(user_id, member.user.id)
        }
        other => panic!("expected a refused reader, got {other:?}"),
    }
    assert_eq!(
        proxy.writes_to(&format!("/api/v1/cases/{case_id}/identity")),
        Vec::<(String, String)>::new(),
        "nothing was sealed"
    );
    assert_eq!(
        count_rows(&server, "case_identity_keys", "user_id", &member.user.id).await,
        0
    );

    // Changing the referent without the signed record: refused, logged, unchanged.
    let path = format!("/cases/{case_id}");
    let change = |record: Option<passerelle_shared::crypto::MembershipRecord>| {
        serde_json::to_value(UpdateCase {
            referent_user_id: Some(other.user.id.clone().into()),
            record,
            ..UpdateCase::default()
        })
        .unwrap()
    };
    assert_eq!(
        call(&coordinator, Method::PATCH, &path, Some(change(None))).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "membership_record_required".into()
        )
    );
    // A record naming someone else than the new referent.
    let current: CaseView = coordinator.client.get(&path).await.unwrap();
    let state = coordinator
        .client
        .verified_membership(&case_id)
        .await
        .unwrap()
        .unwrap();
    let wrong = RecordBody {
        kind: "role_changed".into(),
        role: LOG_REFERENT.into(),
        subjects: vec![member.user.id.clone()],
        ..state.next_body(
            current.channel.epoch,
            &coordinator.user.id,
            &coordinator.device.device_id,
            1,
        )
    }
    .sign(coordinator.device.keys())
    .unwrap();
    assert_eq!(
        call(
            &coordinator,
            Method::PATCH,
            &path,
            Some(change(Some(wrong)))
        )
        .await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_membership_record".into()
        )
    );
    let unchanged: CaseView = coordinator.client.get(&path).await.unwrap();
    assert_eq!(
        unchanged.referent_user_id.as_deref(),
        Some(referent.user.id.as_str())
    );
    assert_eq!(
        denials(&server, &case, "case_update").await,
        [coordinator.user.id.clone(), coordinator.user.id.clone()]
    );

    // Named with its record, the new referent is a reader by the log, and the identity,
    // sealed again, reaches her; the former referent is no longer one.
    coordinator
        .client
        .set_case_referent(&coordinator.device, &case_id, &other.user.id)
        .await
        .unwrap();
    coordinator
        .client
        .set_case_identity(&coordinator.device, &case_id, &record())
        .await
        .unwrap();
    let mut other = other;
    assert_eq!(
        other
            .client
            .open_case_identity(&other.device, &case_id)
            .await
            .unwrap()
            .name,
        NAME
    );
    assert_eq!(
        call(
            &referent,
            Method::GET,
            &identity_path(&case, &referent),
            None
        )
        .await,
        (StatusCode::FORBIDDEN, "identity_restricted".into())
    );
}

/// docs/PROTOCOL.md §23.3: the certificate's agreement key is retired. A record sealed
/// before the referent's first prekey (to the certificate's key, as an older release did)
/// keeps that key alive past its grace period; once the record is sealed again — to the
/// referent's current prekey — and the grace period is over, the device deletes the
/// certificate's private key and the replaced prekeys, and still opens the identity, old
/// epochs and new messages.
#[tokio::test]
async fn the_certificates_agreement_key_is_deleted_once_no_identity_or_epoch_wrap_needs_it() {
    use passerelle_server::clock::Clock as _;
    use passerelle_shared::client::Device;
    use passerelle_shared::crypto::PREKEY_GRACE_MS;
    const DAY: u64 = 24 * 60 * 60 * 1000;
    let server = crate::support::long_sessions_server(|_| {}).await;
    let now = |server: &TestServer| u64::try_from(server.clock.now_ms()).unwrap();
    let mut coordinator = Party::new(&server, "coord.fs", Role::Coordinator, "Mairie").await;
    let mut referent = Party::new(&server, "educ.fs", Role::Member, "PJJ").await;
    let group = working_group(&mut coordinator, &[&referent]).await;
    let case = open_case(&coordinator, &group, &[&referent]).await;
    let case_id = case.channel.id.clone();
    sign_referent(&mut coordinator, &case_id, &referent).await;
    coordinator
        .client
        .rotate_prekey_if_due(&mut coordinator.device, now(&server))
        .await
        .unwrap();

    // Version 1, sealed before the referent has a prekey: to her certificate's key.
    coordinator
        .client
        .set_case_identity(&coordinator.device, &case_id, &record())
        .await
        .unwrap();
    let id = coordinator.send_text(&case_id, "Avant la rotation.").await;
    coordinator.ack(&id).await;
    assert_eq!(referent.receive().await.1, "Avant la rotation.");
    // The coordinator's client started the case's log before sending (§22.4); it names the
    // referent there by a signed record, as the case's record panel does (§19).
    coordinator
        .client
        .set_case_referent(&coordinator.device, &case_id, &referent.user.id)
        .await
        .unwrap();

    // Two days later she publishes her first prekey; the grace period passes.
    server.clock.advance_ms(i64::try_from(2 * DAY).unwrap());
    assert!(referent
        .client
        .rotate_prekey_if_due(&mut referent.device, now(&server))
        .await
        .unwrap());
    server
        .clock
        .advance_ms(i64::try_from(PREKEY_GRACE_MS + DAY).unwrap());
    referent
        .client
        .rotate_prekey_if_due(&mut referent.device, now(&server))
        .await
        .unwrap();
    // Version 1 still needs the certificate's key: it stays, and the record opens.
    assert!(referent.device.holds_certificate_agreement_key());
    assert_eq!(
        referent
            .client
            .open_case_identity(&referent.device, &case_id)
            .await
            .unwrap(),
        record()
    );

    // Two days later the coordinator seals it again: to her current prekey (serial 2).
    server.clock.advance_ms(i64::try_from(2 * DAY).unwrap());
    coordinator
        .client
        .set_case_identity(&coordinator.device, &case_id, &record())
        .await
        .unwrap();
    let sealed: passerelle_shared::protocol::v1::case_identity::SealedIdentity = referent
        .client
        .get(&format!(
            "/cases/{case_id}/identity?device_id={}",
            referent.device.device_id
        ))
        .await
        .unwrap();
    let current = referent.device.current_prekey().unwrap().clone();
    assert_eq!(current.serial, 2);
    let coordinator_signing = coordinator.device.certificate.keys.signing.clone();
    assert!(
        sealed
            .key
            .unwrap_key(referent.device.keys(), &coordinator_signing)
            .is_err(),
        "the new version must not be wrapped to the certificate's key"
    );

    // After the grace period of prekey 1, nothing needs the certificate's key nor prekey 1.
    server
        .clock
        .advance_ms(i64::try_from(PREKEY_GRACE_MS + DAY).unwrap());
    referent
        .client
        .rotate_prekey_if_due(&mut referent.device, now(&server))
        .await
        .unwrap();
    assert!(!referent.device.holds_certificate_agreement_key());
    let stored = referent.device.export();
    assert!(stored.agreement_key.is_none());
    let serials: Vec<u64> = stored.prekeys.iter().map(|p| p.record.serial).collect();
    assert!(!serials.contains(&1), "prekey 1 was kept: {serials:?}");
    assert!(
        serials.contains(&2),
        "prekey 2 is still needed: {serials:?}"
    );
    // The stored device without it opens again, and reads everything.
    referent.device = Device::import(&stored).unwrap();
    assert!(!referent.device.holds_certificate_agreement_key());
    assert_eq!(
        referent
            .client
            .open_case_identity(&referent.device, &case_id)
            .await
            .unwrap(),
        record()
    );
    let id = coordinator.send_text(&case_id, "Après la rotation.").await;
    coordinator.ack(&id).await;
    assert_eq!(referent.receive().await.1, "Après la rotation.");
    let history: passerelle_shared::protocol::v1::channels::HistoryPage = referent
        .client
        .get(&format!("/channels/{case_id}/messages"))
        .await
        .unwrap();
    let mut texts = Vec::new();
    for message in &history.messages {
        texts.push(
            referent
                .client
                .open(&referent.device, message)
                .await
                .unwrap()
                .text
                .clone(),
        );
    }
    assert!(
        texts.contains(&"Avant la rotation.".to_owned()),
        "{texts:?}"
    );
    assert!(
        texts.contains(&"Après la rotation.".to_owned()),
        "{texts:?}"
    );
}
