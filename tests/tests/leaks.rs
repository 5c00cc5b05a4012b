//! Nothing leaks (issue 10): messages, attachments, passwords, tokens, TOTP secrets and
//! the recovery code, sent through the real path, appear in no database file (WAL
//! included), attachment blob or log line of the server.
//!
//! A test binary of its own, because it captures every log line of the process at
//! TRACE level through a global subscriber.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use passerelle_shared::crypto::MessageContent;
use passerelle_shared::protocol::v1::channels::{Channel, ChannelKind, CreateChannel, LegalRegime};
use passerelle_shared::protocol::v1::ws::{ClientFrame, ServerFrame};
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn no_content_password_token_or_secret_reaches_the_database_files_blobs_or_logs() {
    let logs = Captured::default();
    let sink = logs.clone();
    tracing_subscriber::fmt()
        // Everything the server side logs, at the most verbose level. The SDK runs in this
        // process too: the client libraries' own traces (tungstenite prints its handshake
        // request, Authorization included, at TRACE) are not the server's logs.
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "trace,tungstenite::handshake::client=off,reqwest=off,hyper_util::client=off",
        ))
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .init();

    let server = TestServer::spawn().await.unwrap();
    let coord_user = server
        .create_user("coord", Role::Coordinator, "Mairie")
        .await
        .unwrap();
    let member_user = server
        .create_user("membre", Role::Member, "CCAS")
        .await
        .unwrap();
    let (mut coord, mut coord_device, coord_code) = server.enrolled(&coord_user).await.unwrap();
    let (mut member, member_device, member_code) = server.enrolled(&member_user).await.unwrap();
    let admin_user = server
        .create_user("admin", Role::Admin, "Mairie")
        .await
        .unwrap();
    let admin = server.client(&admin_user).await.unwrap();
    let charter: serde_json::Value = admin
        .post(
            "/admin/charters",
            &serde_json::json!({ "text": "# Charte du CLSPD" }),
        )
        .await
        .unwrap();
    for client in [&coord, &member] {
        client
            .post_empty(
                "/charter/accept",
                &serde_json::json!({ "version": charter["version"] }),
            )
            .await
            .unwrap();
    }
    let channel: Channel = coord
        .post(
            "/channels",
            &CreateChannel {
                kind: ChannelKind::Direct,
                name: String::new(),
                regime: LegalRegime::ClspdConfidential,
                institutions: Vec::new(),
                members: vec![member_user.id.clone().into()],
            },
        )
        .await
        .unwrap();

    let markers = [
        "MARQUEUR-SECRET-7f3a9c Jean Dupont né le 12/03/2011",
        "MARQUEUR-ADRESSE-4b2e 14 rue des Lilas",
        "MARQUEUR-TELEPHONE-06 12 34 56 78",
    ];
    let mut conn = coord.connect(&coord_device.device_id).await.unwrap();
    let mut member_conn = member.connect(&member_device.device_id).await.unwrap();
    for marker in markers {
        let envelope = coord
            .seal(
                &mut coord_device,
                &channel.id,
                &MessageContent::text(marker),
            )
            .await
            .unwrap();
        let id = envelope.client_msg_id.clone();
        conn.send(&ClientFrame::Send {
            channel_id: channel.id.clone(),
            envelope,
        })
        .await
        .unwrap();
        loop {
            match conn.next().await.unwrap() {
                ServerFrame::Ack { client_msg_id, .. } if client_msg_id == id => break,
                ServerFrame::Error { code, .. } => panic!("{code}"),
                _ => {}
            }
        }
    }
    let blob_marker = "MARQUEUR-PIECE-JOINTE-91d0 compte rendu éducatif";
    member
        .upload_attachment(
            &channel.id,
            "MARQUEUR-NOM-DE-FICHIER-2c8.pdf",
            "application/pdf",
            blob_marker.repeat(50).as_bytes(),
        )
        .await
        .unwrap();
    // The member reads everything back (decryption happens in the client only).
    let mut seen = 0;
    while seen < markers.len() {
        if let Some(ServerFrame::Message(message)) = member_conn.next().await {
            let text = member
                .open(&member_device, &message)
                .await
                .unwrap()
                .text
                .clone();
            assert!(markers.contains(&text.as_str()));
            seen += 1;
        }
    }
    // A wrong password and a wrong TOTP code go through the logs' paths too.
    server
        .password_step("coord", "MARQUEUR-MAUVAIS-MOT-DE-PASSE")
        .await
        .unwrap();
    server.clock.advance_ms(30_000);
    let totp_base32 = |user: &passerelle_tests::TestUser| {
        let secret = user.totp_secret.lock().unwrap().clone().unwrap();
        totp_rs::Secret::Raw(secret).to_encoded().to_string()
    };

    let mut secrets: Vec<(String, String)> = markers
        .iter()
        .map(|m| ("message".to_owned(), m.to_string()))
        .collect();
    secrets.push(("attachment".into(), blob_marker.into()));
    secrets.push((
        "attachment name".into(),
        "MARQUEUR-NOM-DE-FICHIER-2c8".into(),
    ));
    secrets.push((
        "wrong password".into(),
        "MARQUEUR-MAUVAIS-MOT-DE-PASSE".into(),
    ));
    secrets.push(("password".into(), admin_user.password.clone()));
    secrets.push(("bearer token".into(), admin.bearer_token().to_owned()));
    for (user, code) in [(&coord_user, &coord_code), (&member_user, &member_code)] {
        secrets.push(("password".into(), user.password.clone()));
        secrets.push(("totp secret".into(), totp_base32(user)));
        secrets.push(("recovery code".into(), code.clone()));
        secrets.push(("recovery code (compact)".into(), code.replace('-', "")));
    }
    secrets.push(("bearer token".into(), coord.bearer_token().to_owned()));
    secrets.push(("bearer token".into(), member.bearer_token().to_owned()));

    drop(conn);
    drop(member_conn);
    let data_dir = server.data_dir.path().to_path_buf();
    let mut files = Vec::new();
    files_under(&data_dir, &mut files);
    assert!(
        files.iter().any(|f| f.to_string_lossy().ends_with("-wal")),
        "the WAL files are scanned too"
    );
    let log_bytes = logs.0.lock().unwrap().clone();
    assert!(log_bytes.len() > 1000, "logs were captured");
    let mut leaks = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        for (what, secret) in &secrets {
            if contains(&bytes, secret) {
                leaks.push(format!("{what} in {}", file.display()));
            }
        }
    }
    for (what, secret) in &secrets {
        if contains(&log_bytes, secret) {
            let text = String::from_utf8_lossy(&log_bytes);
            let line = text
                .lines()
                .find(|l| l.contains(secret.as_str()))
                .unwrap_or_default();
            leaks.push(format!(
                "{what} in the logs: {}",
                &line[..line.len().min(300)]
            ));
        }
    }
    assert!(leaks.is_empty(), "leaks: {leaks:#?}");
    println!(
        "{} secrets searched in {} files and {} bytes of logs",
        secrets.len(),
        files.len(),
        log_bytes.len()
    );
}
