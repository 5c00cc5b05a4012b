//! Many people doing the same thing at the same moment: a training session where a whole
//! team enrols its first devices together must not answer any of them with an internal
//! error. On SQLite, a transaction that read before its first write failed at once with
//! « database is locked » when another one committed in between (issue 22's benchmark).

use futures_util::future::join_all;
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;

use crate::support::ensure_charter;

/// People who log in and then enrol at once.
const TEAM: usize = 12;

#[tokio::test]
async fn accounts_enrol_their_first_devices_all_at_once() {
    let server = TestServer::spawn().await.unwrap();
    ensure_charter(&server).await;
    let institution = server.institution("Mairie").await.unwrap();
    let mut clients = Vec::new();
    for i in 0..TEAM {
        let user = server
            .create_user(&format!("stagiaire{i:02}"), Role::Member, &institution)
            .await
            .unwrap();
        clients.push(server.client(&user).await.unwrap());
    }
    let enrolments = join_all(
        clients
            .iter_mut()
            .map(|client| client.enrol_first_device("Poste de la formation")),
    )
    .await;
    let failures: Vec<String> = enrolments
        .iter()
        .filter_map(|outcome| outcome.as_ref().err().map(|err| err.to_string()))
        .collect();
    assert!(failures.is_empty(), "enrolments refused: {failures:?}");
    let devices =
        crate::support::count_rows(&server, "devices", "name", "Poste de la formation").await;
    assert_eq!(devices, TEAM as i64, "every enrolment stored its device");
}
