#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

//! The `passerelle` binary as an operator runs it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads the demo banner up to the end of the credentials table.
fn read_banner(child: &mut Child) -> (String, Vec<Vec<String>>) {
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    // Keeps reading to the end, so the server never writes into a closed pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            let _ = sender.send(line);
        }
    });
    let mut lines = receiver.into_iter().map(Ok::<String, std::io::Error>);
    let mut url = String::new();
    let mut rows = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("Passerelle (démonstration) : ") {
            url = rest.trim().to_owned();
        } else if line.starts_with("Identifiant") {
            continue;
        } else if !url.is_empty() && line.trim().is_empty() && !rows.is_empty() {
            break;
        } else if !url.is_empty() && !line.trim().is_empty() {
            rows.push(line.split_whitespace().map(str::to_owned).collect());
        }
    }
    (url, rows)
}

#[tokio::test]
async fn the_demo_starts_answers_healthz_and_its_printed_credentials_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("demo"))
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (url, rows) = read_banner(&mut child);
    let _running = Running(child);
    // The relying party of passkeys is a name, never an address: the demo prints the
    // loopback listener as localhost.
    assert!(url.starts_with("http://localhost:"), "{url}");
    let logins: Vec<&str> = rows.iter().map(|row| row[0].as_str()).collect();
    for role in ["coordinator", "member", "admin", "auditor", "external"] {
        assert!(
            rows.iter().any(|row| row[1] == role),
            "no demo account for {role}"
        );
    }
    assert!(logins.contains(&"coordinatrice"));

    let http = reqwest::Client::new();
    let health = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");

    let admin = rows.iter().find(|row| row[0] == "admin").unwrap();
    let challenge: serde_json::Value = http
        .post(format!("{url}/api/v1/auth/login"))
        .json(&serde_json::json!({ "login": "admin", "password": admin[2] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        challenge["next"], "totp",
        "demo accounts come with TOTP enrolled"
    );
}

fn passerelle(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(args)
        .env("PASSERELLE_DATA_DIR", dir)
        .env("PASSERELLE_TLS", "false")
        .env(
            "PASSERELLE_AUDIT__LOG_KEY_FILE",
            dir.join("keys").join("audit-log.key"),
        )
        .env("PASSERELLE_AUDIT__GENERATE_LOG_KEY", "true")
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn the_admin_commands_create_reset_lock_and_list_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let out = passerelle(dir.path(), &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = passerelle(
        dir.path(),
        &[
            "admin",
            "create-institution",
            "Police municipale",
            "--kind",
            "police_municipale",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = passerelle(
        dir.path(),
        &[
            "admin",
            "create-user",
            "--login",
            "agent.pm",
            "--name",
            "Agent PM",
            "--institution",
            "Police municipale",
            "--role",
            "member",
            "--secrecy",
        ],
    );
    // A municipal police officer cannot be declared bound by child-protection secrecy:
    // the operator reads why, with the law it would break.
    assert!(!out.status.success());
    let refusal = String::from_utf8_lossy(&out.stderr);
    assert!(
        refusal.contains("CASF L226-2-2") && refusal.contains("secrecy_not_allowed"),
        "{refusal}"
    );
    let out = passerelle(
        dir.path(),
        &[
            "admin",
            "create-user",
            "--login",
            "agent.pm",
            "--name",
            "Agent PM",
            "--institution",
            "Police municipale",
            "--role",
            "member",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("One-time password"));
    for args in [
        &["admin", "disable", "agent.pm"][..],
        &["admin", "enable", "agent.pm"],
        &["admin", "unlock", "agent.pm"],
        &["admin", "reset-mfa", "agent.pm"],
        &["admin", "reset-password", "agent.pm"],
        &["admin", "set-role", "agent.pm", "coordinator"],
    ] {
        let out = passerelle(dir.path(), args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = passerelle(dir.path(), &["admin", "list"]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("Police municipale")
            && listing.contains("agent.pm")
            && listing.contains("coordinator"),
        "{listing}"
    );
    let out = passerelle(dir.path(), &["admin", "set-role", "agent.pm", "superuser"]);
    assert!(!out.status.success());
    let out = passerelle(
        dir.path(),
        &[
            "admin",
            "create-user",
            "--login",
            "x.y",
            "--name",
            "X",
            "--institution",
            "Nowhere",
            "--role",
            "member",
        ],
    );
    assert!(!out.status.success());
}

fn passerelle_in(
    dir: &std::path::Path,
    data: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(args)
        .env("PASSERELLE_DATA_DIR", data)
        .env("PASSERELLE_TLS", "false")
        // The checkpoint key lives apart from the data directory, and backups leave it out.
        .env(
            "PASSERELLE_AUDIT__LOG_KEY_FILE",
            dir.join("keys").join("audit-log.key"),
        )
        .env("PASSERELLE_AUDIT__GENERATE_LOG_KEY", "true")
        .current_dir(dir)
        .output()
        .unwrap()
}

#[tokio::test]
async fn backup_restore_and_audit_verify_work_from_the_command_line_and_tampering_fails_verify() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ok = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    ok(passerelle_in(
        dir.path(),
        &data,
        &["admin", "create-institution", "CCAS", "--kind", "ccas"],
    ));
    ok(passerelle_in(
        dir.path(),
        &data,
        &[
            "admin",
            "create-user",
            "--login",
            "agent",
            "--name",
            "Agent",
            "--institution",
            "CCAS",
            "--role",
            "member",
        ],
    ));
    ok(passerelle_in(dir.path(), &data, &["backup", "sauvegarde"]));
    let restored = dir.path().join("restored");
    ok(passerelle_in(
        dir.path(),
        &restored,
        &["restore", "sauvegarde"],
    ));
    let listing = ok(passerelle_in(dir.path(), &restored, &["admin", "list"]));
    assert!(listing.contains("agent"), "{listing}");
    let verified = ok(passerelle_in(dir.path(), &restored, &["audit", "verify"]));
    assert!(!verified.is_empty());
    // A restore never overwrites a data directory that holds databases.
    assert!(
        !passerelle_in(dir.path(), &restored, &["restore", "sauvegarde"])
            .status
            .success()
    );

    // An edited event makes `audit verify` fail with the position.
    use sea_orm::ConnectionTrait;
    let url = format!(
        "sqlite://{}?mode=rw",
        restored.join("audit.sqlite").display()
    );
    let db = sea_orm::Database::connect(&url).await.unwrap();
    db.execute_unprepared("UPDATE audit_events SET action = 'login' WHERE seq = 2")
        .await
        .unwrap();
    db.close().await.unwrap();
    let out = passerelle_in(dir.path(), &restored, &["audit", "verify"]);
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains('2'), "{text}");
}
