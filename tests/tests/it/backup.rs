//! The backup and restore drill (issue 10): messages, keys and the access log survive.

use passerelle_shared::protocol::v1::channels::HistoryPage;
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;

use crate::support::{working_group, Party};

#[tokio::test]
async fn a_restored_backup_serves_every_message_and_its_access_log_verifies() {
    // The drill is SQLite's own: PostgreSQL is saved with pg_dump (docs/OPERATIONS.md).
    let server = TestServer::spawn_on(passerelle_tests::Backend::Sqlite, |_| {})
        .await
        .unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let member = Party::new(&server, "membre", Role::Member, "CCAS").await;
    let channel = working_group(&mut coord, &[&member]).await;
    let mut acked = Vec::new();
    for i in 0..20 {
        let id = coord
            .send_text(&channel.id, &format!("à sauvegarder {i}"))
            .await;
        acked.push(coord.ack(&id).await);
    }
    let file = b"piece jointe chiffree".repeat(100);
    let attachment = member
        .client
        .upload_attachment(&channel.id, "note.txt", "text/plain", &file)
        .await
        .unwrap();

    // Taken while the server runs.
    let backup_dir = tempfile::tempdir().unwrap();
    let dest = backup_dir.path().join("sauvegarde");
    let manifest = passerelle_server::backup::create(&server.state.config, &dest)
        .await
        .unwrap();
    assert!(manifest.databases_included);
    let Party { client, device, .. } = member;
    server.stop().await.unwrap();

    let restored_dir = tempfile::tempdir().unwrap();
    let restored_path = restored_dir.path().join("donnees");
    let config = passerelle_server::config::Config {
        data_dir: restored_path.clone(),
        ..passerelle_server::config::Config::default()
    };
    passerelle_server::backup::restore(&config, &dest).unwrap();
    let restored = TestServer::spawn_with(|c| c.data_dir = restored_path.clone())
        .await
        .unwrap();

    // The same client, its session and keys restored with the server's data.
    let client = passerelle_shared::client::Client::with_token(
        &restored.url(""),
        client_token(&client),
        client.me.clone(),
    );
    let page: HistoryPage = client
        .get(&format!("/channels/{}/messages?limit=500", channel.id))
        .await
        .unwrap();
    assert_eq!(
        page.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        acked
    );
    let bytes = client.download_attachment(&attachment).await.unwrap();
    assert_eq!(bytes.as_slice(), file.as_slice());
    let mut reader = client;
    let last = page.messages.last().unwrap();
    assert_eq!(
        reader.open(&device, last).await.unwrap().text,
        "à sauvegarder 19"
    );
    let report = restored.state.audit.verify().await.unwrap();
    assert!(report.intact, "{report}");
    assert!(report.events_checked > 0);
}

fn client_token(client: &passerelle_shared::client::Client) -> String {
    client.bearer_token().to_owned()
}
