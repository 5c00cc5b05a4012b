//! The witnessed Merkle access log (issue 16): each tampering an operator holding the
//! database (and the server's keys) could try is found by `audit verify`, with its
//! position, against a log whose checkpoints an independent witness cosigned.

use std::path::PathBuf;
use std::sync::Arc;

use passerelle_server::audit::merkle::{self, Hash};
use passerelle_server::audit::note::{CheckpointBody, Note, NoteSigner, TYPE_ED25519};
use passerelle_server::audit::witness::{self, WitnessState};
use passerelle_server::audit::{
    chain, verify_command, Actor, AuditLog, AuditOptions, BreakKind, ChainBreak, Event, Outcome,
};
use passerelle_server::clock::SystemClock;
use passerelle_server::config::WitnessConfig;
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::{Backend, TestServer};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::json;

const ORIGIN: &str = "clspd.test/audit";
/// A checkpoint every 10 events, so that the log holds several cosigned heads.
const EVERY: u64 = 10;

/// A witness on an ephemeral port.
struct RunningWitness {
    url: String,
    key: String,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl RunningWitness {
    fn start(log_key: &str) -> RunningWitness {
        let dir = tempfile::tempdir().unwrap();
        let state =
            WitnessState::open(dir.path(), "temoin.prefecture.test", &[log_key.into()]).unwrap();
        let key = state.verifier_key();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(witness::serve(listener, Arc::new(state), async move {
            let _ = stop.await;
        }));
        RunningWitness {
            url,
            key,
            _dir: dir,
            shutdown: Some(shutdown),
        }
    }

    fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// A server whose access log a witness cosigns, with `n` events of two people
/// recorded and a final checkpoint cosigned (the log at rest).
struct Witnessed {
    server: TestServer,
    witness: RunningWitness,
    log_key_path: PathBuf,
    _keys: tempfile::TempDir,
}

async fn witnessed(n: u64) -> Witnessed {
    let keys = tempfile::tempdir().unwrap();
    let log_key_path = keys.path().join("audit-log.key");
    let signer = NoteSigner::load(&log_key_path, ORIGIN, TYPE_ED25519, true).unwrap();
    let witness = RunningWitness::start(&signer.verifier().to_string());
    let (url, key, path) = (
        witness.url.clone(),
        witness.key.clone(),
        log_key_path.clone(),
    );
    // SQLite by default, PostgreSQL with PASSERELLE_TEST_BACKEND=postgres: the same
    // tamperings, found the same way, on both.
    let server = TestServer::spawn_on(Backend::from_env().unwrap(), move |config| {
        config.audit.log_key_file = Some(path);
        config.audit.generate_log_key = false;
        config.audit.origin = Some(ORIGIN.into());
        config.audit.checkpoint_every = EVERY;
        config.audit.witnesses = vec![WitnessConfig { url, key }];
    })
    .await
    .unwrap();
    for i in 0..n {
        let login = if i % 3 == 1 { "c.martin" } else { "a.durand" };
        let seq = server
            .state
            .audit
            .record(Event {
                actor: Actor {
                    login: Some(login.into()),
                    ..Actor::default()
                },
                action: "history_read",
                target: Some(format!("case-{i}")),
                outcome: Outcome::Success,
                details: json!({ "i": i }),
            })
            .await
            .unwrap();
        if seq % EVERY == 0 {
            // The checkpoint signed with this event, cosigned before going on: the
            // witness's record then holds every head, as it would over time.
            assert!(server.state.audit.cosign_now().await.is_empty());
        }
    }
    server.state.audit.checkpoint_now().await.unwrap();
    let head = server.state.audit.latest_head().await.unwrap().unwrap();
    assert!(!head.witnesses.is_empty(), "the witness cosigned the head");
    Witnessed {
        server,
        witness,
        log_key_path,
        _keys: keys,
    }
}

impl Witnessed {
    fn options(&self) -> AuditOptions {
        let mut options =
            AuditOptions::from_config(&self.server.state.config, Arc::new(SystemClock));
        options.background = false;
        options.check_witnesses = false;
        options
    }

    /// A connection to the audit database, as an intruder would open it.
    async fn raw(&self) -> DatabaseConnection {
        if let Some(pg) = &self.server.pg {
            let mut options = sea_orm::ConnectOptions::new(pg.url.clone());
            options.set_schema_search_path(passerelle_server::audit::POSTGRES_SCHEMA);
            return Database::connect(options).await.unwrap();
        }
        Database::connect(passerelle_server::db::sqlite_url(
            &self.server.data_dir.path().join("audit.sqlite"),
        ))
        .await
        .unwrap()
    }

    /// `audit verify` on the log at rest: the first break (asserting it is not intact)
    /// and that the command's verdict (its exit code) is a failure too.
    async fn first_break(&self, against: Option<&std::path::Path>) -> ChainBreak {
        assert!(
            !verify_command(self.options(), against).await.unwrap(),
            "audit verify answered intact"
        );
        let log = AuditLog::open(self.options()).await.unwrap();
        let mut external = Vec::new();
        if let Some(path) = against {
            external.push(("head".to_owned(), std::fs::read_to_string(path).unwrap()));
        }
        let report = log.verify_strict(external).await.unwrap();
        assert!(!report.intact, "{report}");
        report.first_break.unwrap()
    }

    /// The server, started on the log as it is now, refuses to sign over it: answers
    /// its message, which names the incident and how to acknowledge it.
    async fn refused_at_start_up(&self) -> String {
        let mut options = self.options();
        options.check_witnesses = true;
        let refused = AuditLog::open(options)
            .await
            .expect_err("the server started on a tampered log");
        let message = format!("{refused:#}");
        assert!(message.contains("acknowledge_incident"), "{message}");
        message
    }

    async fn tree_size(&self) -> u64 {
        self.server
            .state
            .audit
            .latest_head()
            .await
            .unwrap()
            .unwrap()
            .size
    }
}

async fn exec(db: &DatabaseConnection, sql: &str) {
    db.execute_unprepared(sql).await.unwrap();
}

/// Recomputes every event's `prev_hash` and `hash` in seq order and rewrites the Merkle
/// leaves to match: what someone who read docs/AUDIT.md would do after editing rows.
async fn rehash_everything(db: &DatabaseConnection) {
    let rows = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT seq, time_ms, actor_user_id, actor_login, actor_institution_id, actor_session_id, \
             actor_ip, action, target, outcome, details FROM audit_events ORDER BY seq",
        ))
        .await
        .unwrap();
    let mut prev = chain::GENESIS_HASH;
    exec(db, "DELETE FROM audit_leaves").await;
    for row in rows {
        let seq: i64 = row.try_get("", "seq").unwrap();
        let s = |c: &str| row.try_get::<Option<String>>("", c).unwrap();
        let (user, login, inst, sess, ip, target) = (
            s("actor_user_id"),
            s("actor_login"),
            s("actor_institution_id"),
            s("actor_session_id"),
            s("actor_ip"),
            s("target"),
        );
        let action: String = row.try_get("", "action").unwrap();
        let outcome: String = row.try_get("", "outcome").unwrap();
        let details: String = row.try_get("", "details").unwrap();
        let hash = chain::event_hash(
            &prev,
            seq as u64,
            &chain::Fields {
                time_ms: row.try_get("", "time_ms").unwrap(),
                user_id: user.as_deref(),
                login: login.as_deref(),
                institution_id: inst.as_deref(),
                session_id: sess.as_deref(),
                ip: ip.as_deref(),
                action: &action,
                target: target.as_deref(),
                outcome: &outcome,
                details: &details,
            },
        );
        let (p, h) = (chain::to_hex(&prev), chain::to_hex(&hash));
        exec(
            db,
            &format!("UPDATE audit_events SET prev_hash = '{p}', hash = '{h}' WHERE seq = {seq}"),
        )
        .await;
        exec(
            db,
            &format!("INSERT INTO audit_leaves (seq, hash) VALUES ({seq}, '{h}')"),
        )
        .await;
        prev = hash;
    }
}

async fn forget_checkpoints(db: &DatabaseConnection) {
    exec(
        db,
        "DELETE FROM audit_checkpoints; DELETE FROM audit_tree_heads; DELETE FROM audit_cosignatures",
    )
    .await;
}

#[tokio::test]
async fn audit_a_witnessed_log_at_rest_verifies_and_its_proofs_check_out() {
    let w = witnessed(35).await;
    assert!(verify_command(w.options(), None).await.unwrap());
    let log = AuditLog::open(w.options()).await.unwrap();
    let report = log.verify_strict(Vec::new()).await.unwrap();
    assert!(report.intact, "{report}");
    assert_eq!(report.tree.cosigned_size, Some(w.tree_size().await));
    assert!(report.tree.tree_heads_checked >= 4, "{report}");

    // An auditor reads the head and proofs; each proof recomputes the cosigned root.
    let auditor = w
        .server
        .create_user("dpo", Role::Auditor, "CNIL")
        .await
        .unwrap();
    let client = w.server.client(&auditor).await.unwrap();
    let head: serde_json::Value = client.get("/audit/head").await.unwrap();
    let note = head["note"].as_str().unwrap();
    assert!(note.contains("\u{2014} temoin.prefecture.test "), "{note}");
    let body = CheckpointBody::parse(&Note::parse(note).unwrap().body).unwrap();
    let size = body.size;
    let proof: serde_json::Value = client
        .get(&format!("/audit/proofs/inclusion?seq=3&size={size}"))
        .await
        .unwrap();
    let path: Vec<Hash> = proof["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| passerelle_server::audit::note::decode_hash(h.as_str().unwrap()).unwrap())
        .collect();
    let leaf =
        merkle::leaf_hash(&chain::parse_hash(proof["chain_hash"].as_str().unwrap()).unwrap());
    assert!(merkle::verify_inclusion(2, size, &leaf, &path, &body.root));
    let consistency: serde_json::Value = client
        .get(&format!("/audit/proofs/consistency?old={EVERY}&new={size}"))
        .await
        .unwrap();
    let path: Vec<Hash> = consistency["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| passerelle_server::audit::note::decode_hash(h.as_str().unwrap()).unwrap())
        .collect();
    let old_root =
        passerelle_server::audit::note::decode_hash(consistency["old_root"].as_str().unwrap())
            .unwrap();
    assert!(merkle::verify_consistency(
        EVERY, size, &old_root, &body.root, &path
    ));

    // Anyone else is refused, and the refusal is in the log.
    let admin = w
        .server
        .create_user("admin", Role::Admin, "Mairie")
        .await
        .unwrap();
    let admin_client = w.server.client(&admin).await.unwrap();
    assert!(admin_client
        .get::<serde_json::Value>("/audit/proofs/inclusion?seq=1")
        .await
        .is_err());
    let actions = crate::support::audit_actions(&w.server, None).await;
    assert!(actions.contains(&("audit_proof_read".into(), "denied".into())));
    assert!(actions.contains(&("audit_proof_read".into(), "success".into())));
    assert!(actions.contains(&("audit_head_read".into(), "success".into())));
}

#[tokio::test]
async fn audit_detects_deleting_every_checkpoint_then_rewriting_and_rehashing() {
    let w = witnessed(35).await;
    let db = w.raw().await;
    forget_checkpoints(&db).await;
    exec(
        &db,
        "UPDATE audit_events SET details = '{\"i\":999}' WHERE seq = 15",
    )
    .await;
    rehash_everything(&db).await;
    let broken = w.first_break(None).await;
    assert_eq!(broken.kind, BreakKind::Rewritten, "{broken}");
    // The last cosigned head before the rewrite is at 10: the damage is in 11..=20.
    assert_eq!(broken.seq, 11, "{broken}");
    assert!(broken.detail.contains("20"), "{broken}");
    let refused = w.refused_at_start_up().await;
    assert!(refused.contains("rewritten"), "{refused}");
}

#[tokio::test]
async fn audit_detects_removing_every_event_of_one_person_renumbered_and_rehashed() {
    let w = witnessed(48).await;
    let db = w.raw().await;
    forget_checkpoints(&db).await;
    let first_removed: i64 = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            "SELECT MIN(seq) AS s FROM audit_events WHERE actor_login = 'c.martin'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "s")
        .unwrap();
    exec(
        &db,
        "DELETE FROM audit_events WHERE actor_login = 'c.martin'",
    )
    .await;
    // Renumber densely (two steps, so that no seq collides on the way).
    exec(&db, "UPDATE audit_events SET seq = seq + 1000000").await;
    exec(
        &db,
        "UPDATE audit_events SET seq = (SELECT COUNT(*) FROM audit_events e2 WHERE e2.seq <= audit_events.seq)",
    )
    .await;
    rehash_everything(&db).await;
    let broken = w.first_break(None).await;
    assert_eq!(broken.kind, BreakKind::Rewritten, "{broken}");
    let first_removed = first_removed as u64;
    assert!(
        broken.seq <= first_removed && broken.seq + EVERY > first_removed,
        "{broken} (first removed: {first_removed})"
    );
    w.refused_at_start_up().await;
}

#[tokio::test]
async fn audit_detects_truncating_the_tail() {
    for cut in [1u64, 5, 17] {
        let w = witnessed(40).await;
        let size = w.tree_size().await;
        let keep = size - cut;
        let db = w.raw().await;
        for table in ["audit_events", "audit_leaves", "audit_checkpoints"] {
            exec(&db, &format!("DELETE FROM {table} WHERE seq > {keep}")).await;
        }
        exec(
            &db,
            &format!("DELETE FROM audit_tree_heads WHERE size > {keep}"),
        )
        .await;
        exec(
            &db,
            &format!("DELETE FROM audit_cosignatures WHERE size > {keep}"),
        )
        .await;
        let broken = w.first_break(None).await;
        assert_eq!(broken.kind, BreakKind::Deleted, "cut {cut}: {broken}");
        assert_eq!(broken.seq, keep + 1, "cut {cut}: {broken}");
        let refused = w.refused_at_start_up().await;
        assert!(
            refused.contains("events were deleted"),
            "cut {cut}: {refused}"
        );
    }
}

/// Events recorded after the last cosigned head (a server that crashed before its next
/// checkpoint): the server checks them against their Merkle leaves before it signs.
#[tokio::test]
async fn audit_the_server_checks_the_events_after_the_last_cosigned_head_at_start_up() {
    for tampering in ["edited", "rehashed", "truncated", "appended"] {
        let w = witnessed(20).await;
        for i in 0..3 {
            w.server
                .state
                .audit
                .record(Event {
                    actor: Actor::default(),
                    action: "history_read",
                    target: Some(format!("tail-{i}")),
                    outcome: Outcome::Success,
                    details: json!({}),
                })
                .await
                .unwrap();
        }
        let db = w.raw().await;
        let (kind, seq) = match tampering {
            "edited" => {
                exec(
                    &db,
                    "UPDATE audit_events SET target = 'autre' WHERE seq = 22",
                )
                .await;
                ("edited", 22)
            }
            "rehashed" => {
                // Changed and rehashed, but its Merkle leaf (kept by the server) differs.
                exec(
                    &db,
                    "UPDATE audit_events SET target = 'autre' WHERE seq = 22",
                )
                .await;
                let kept: Vec<String> = db
                    .query_all(Statement::from_string(
                        db.get_database_backend(),
                        "SELECT hash FROM audit_leaves ORDER BY seq",
                    ))
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|row| row.try_get("", "hash").unwrap())
                    .collect();
                rehash_everything(&db).await;
                for (i, hash) in kept.iter().enumerate() {
                    exec(
                        &db,
                        &format!(
                            "UPDATE audit_leaves SET hash = '{hash}' WHERE seq = {}",
                            i + 1
                        ),
                    )
                    .await;
                }
                ("rewritten", 22)
            }
            "truncated" => {
                exec(&db, "DELETE FROM audit_events WHERE seq > 21").await;
                ("deleted", 22)
            }
            _ => {
                exec(&db, "DELETE FROM audit_leaves WHERE seq = 23").await;
                ("inserted", 23)
            }
        };
        let refused = w.refused_at_start_up().await;
        assert!(
            refused.contains(&format!("{kind} at seq {seq}")),
            "{tampering}: {refused}"
        );
    }
}

#[tokio::test]
async fn audit_detects_a_forged_event_appended_even_under_a_checkpoint_signed_with_the_server_key()
{
    let w = witnessed(30).await;
    let size = w.tree_size().await;
    let db = w.raw().await;
    let last: String = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT hash FROM audit_events WHERE seq = {size}"),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "hash")
        .unwrap();
    let forged_seq = size + 1;
    exec(
        &db,
        &format!(
            "INSERT INTO audit_events (seq, time_ms, actor_login, action, outcome, details, prev_hash, hash) \
             VALUES ({forged_seq}, 9999999999999, 'c.martin', 'login', 'success', '{{}}', '{last}', '{last}')"
        ),
    )
    .await;
    rehash_everything(&db).await;
    let broken = w.first_break(None).await;
    assert_eq!(broken.kind, BreakKind::Uncovered, "{broken}");
    assert_eq!(broken.seq, forged_seq, "{broken}");

    // With the server's own key (stolen), the forger signs a checkpoint over it: without
    // the witness's cosignature it vouches for nothing.
    let signer = NoteSigner::load(&w.log_key_path, ORIGIN, TYPE_ED25519, false).unwrap();
    let leaves = leaf_hashes(&db).await;
    let body = CheckpointBody {
        origin: ORIGIN.into(),
        size: forged_seq,
        root: merkle::root(&leaves),
    }
    .to_text();
    let note = format!("{body}\n{}", signer.sign(&body));
    exec(
        &db,
        &format!(
            "INSERT INTO audit_tree_heads (size, root, time_ms, note) VALUES ({forged_seq}, '{}', 0, '{}')",
            chain::to_hex(&merkle::root(&leaves)),
            note.replace('\'', "''")
        ),
    )
    .await;
    let broken = w.first_break(None).await;
    assert_eq!(broken.kind, BreakKind::Uncovered, "{broken}");
    assert_eq!(broken.seq, forged_seq, "{broken}");
}

async fn leaf_hashes(db: &DatabaseConnection) -> Vec<Hash> {
    db.query_all(Statement::from_string(
        db.get_database_backend(),
        "SELECT hash FROM audit_leaves ORDER BY seq",
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|row| {
        let hash: String = row.try_get("", "hash").unwrap();
        merkle::leaf_hash(&chain::parse_hash(&hash).unwrap())
    })
    .collect()
}

#[tokio::test]
async fn audit_detects_checkpoints_resigned_with_the_server_key() {
    let w = witnessed(35).await;
    let db = w.raw().await;
    exec(&db, "DELETE FROM audit_checkpoints").await;
    exec(
        &db,
        "UPDATE audit_events SET target = 'case-autre' WHERE seq = 15",
    )
    .await;
    rehash_everything(&db).await;
    // Every checkpoint re-signed over the forged tree with the server's (stolen) key,
    // the witness's cosignatures kept beside them.
    let signer = NoteSigner::load(&w.log_key_path, ORIGIN, TYPE_ED25519, false).unwrap();
    let leaves = leaf_hashes(&db).await;
    let sizes: Vec<i64> = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT size FROM audit_tree_heads",
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.try_get("", "size").unwrap())
        .collect();
    for size in sizes {
        let root = merkle::root(&leaves[..size as usize]);
        let body = CheckpointBody {
            origin: ORIGIN.into(),
            size: size as u64,
            root,
        }
        .to_text();
        let note = format!("{body}\n{}", signer.sign(&body));
        exec(
            &db,
            &format!(
                "UPDATE audit_tree_heads SET root = '{}', note = '{}' WHERE size = {size}",
                chain::to_hex(&root),
                note.replace('\'', "''")
            ),
        )
        .await;
    }
    let broken = w.first_break(None).await;
    assert!(
        matches!(broken.kind, BreakKind::BadSignature | BreakKind::Rewritten),
        "{broken}"
    );
    assert!((11..=20).contains(&broken.seq), "{broken}");
    // The server will not sign over it either: the witness's record contradicts it.
    w.refused_at_start_up().await;
}

#[tokio::test]
async fn audit_verify_against_an_exported_head_works_offline() {
    let mut w = witnessed(35).await;
    let head = w.server.state.audit.latest_head().await.unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("head.txt");
    std::fs::write(&path, &head.note).unwrap();
    // The DPO is offline: the witness cannot be asked.
    w.witness.stop();
    let mut unreachable = w.options();
    unreachable.witnesses[0].url = "http://127.0.0.1:9".into();
    assert!(verify_command(unreachable.clone(), Some(&path))
        .await
        .unwrap());

    let db = w.raw().await;
    forget_checkpoints(&db).await;
    exec(
        &db,
        "UPDATE audit_events SET details = '{\"i\":-1}' WHERE seq = 33",
    )
    .await;
    rehash_everything(&db).await;
    assert!(!verify_command(unreachable.clone(), Some(&path))
        .await
        .unwrap());
    let log = AuditLog::open(unreachable).await.unwrap();
    let report = log
        .verify_strict(vec![("head.txt".into(), head.note.clone())])
        .await
        .unwrap();
    let broken = report.first_break.unwrap();
    assert_eq!(broken.kind, BreakKind::Rewritten, "{broken}");
    assert_eq!(broken.seq, 1, "nothing else was cosigned at hand: {broken}");
    assert!(broken.detail.contains(&head.size.to_string()), "{broken}");
}

#[tokio::test]
async fn audit_the_server_refuses_a_log_its_witness_contradicts_unless_acknowledged() {
    let w = witnessed(30).await;
    let db = w.raw().await;
    for table in ["audit_events", "audit_leaves", "audit_checkpoints"] {
        exec(&db, &format!("DELETE FROM {table} WHERE seq > 25")).await;
    }
    exec(&db, "DELETE FROM audit_tree_heads WHERE size > 25").await;
    let mut options = w.options();
    options.check_witnesses = true;
    let refused = AuditLog::open(options.clone()).await.unwrap_err();
    let message = format!("{refused:#}");
    assert!(
        message.contains("not consistent with what its witnesses cosigned"),
        "{message}"
    );
    assert!(message.contains("acknowledge_incident"), "{message}");

    options.acknowledge_incident = Some("restauration d'une copie, incident n° 2026-04".into());
    let log = AuditLog::open(options).await.unwrap();
    let page = log
        .query(
            &passerelle_server::audit::EventFilter {
                action: Some("audit_incident_acknowledged".into()),
                ..Default::default()
            },
            0,
            10,
        )
        .await
        .unwrap();
    assert_eq!(page.events.len(), 1);
    assert!(page.events[0].details.contains("incident"));
}

#[tokio::test]
async fn audit_a_witness_refuses_an_inconsistent_checkpoint() {
    let keys = tempfile::tempdir().unwrap();
    let signer = NoteSigner::load(&keys.path().join("k"), ORIGIN, TYPE_ED25519, true).unwrap();
    let mut witness = RunningWitness::start(&signer.verifier().to_string());
    let http = reqwest::Client::new();
    let leaves: Vec<Hash> = (0..8u8).map(|i| merkle::leaf_hash(&[i])).collect();
    let note = |size: usize, tree: &[Hash]| {
        let body = CheckpointBody {
            origin: ORIGIN.into(),
            size: size as u64,
            root: merkle::root(&tree[..size]),
        }
        .to_text();
        format!("{body}\n{}", signer.sign(&body))
    };
    let submit = |old: usize, tree: Vec<Hash>, size: usize| {
        let http = http.clone();
        let url = format!("{}/add-checkpoint", witness.url);
        let proof = merkle::consistency_proof(old, &tree[..size]).unwrap();
        let mut body = format!("old {old}\n");
        for hash in proof {
            body.push_str(&passerelle_server::audit::note::encode_hash(&hash));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&note(size, &tree));
        async move {
            let response = http.post(url).body(body).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, line) = submit(0, leaves.clone(), 4).await;
    assert_eq!(status, 200, "{line}");
    assert!(line.starts_with("\u{2014} temoin.prefecture.test "));
    // A history where leaf 2 was rewritten: the proof from 4 cannot hold.
    let mut forged = leaves.clone();
    forged[2] = merkle::leaf_hash(b"forged");
    let (status, _) = submit(4, forged, 6).await;
    assert_eq!(status, 422);
    // A stale `old` is answered with the witness's size.
    let (status, size) = submit(2, leaves.clone(), 6).await;
    assert_eq!((status, size.trim()), (409, "4"));
    // The genuine extension is cosigned.
    let (status, _) = submit(4, leaves.clone(), 6).await;
    assert_eq!(status, 200);
    // A checkpoint signed by another key is refused.
    let other = NoteSigner::load(&keys.path().join("other"), ORIGIN, TYPE_ED25519, true).unwrap();
    let body = CheckpointBody {
        origin: ORIGIN.into(),
        size: 8,
        root: merkle::root(&leaves),
    }
    .to_text();
    let forged_note = format!("old 6\n\n{body}\n{}", other.sign(&body));
    let response = http
        .post(format!("{}/add-checkpoint", witness.url))
        .body(forged_note)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    // Its record lists what it cosigned, in order.
    let list: serde_json::Value = http
        .get(format!("{}/checkpoints", witness.url))
        .query(&[("origin", ORIGIN)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["checkpoints"].as_array().unwrap().len(), 2);
    witness.stop();
}

#[tokio::test]
async fn audit_backups_leave_the_checkpoint_key_out() {
    let w = witnessed(3).await;
    let backup = tempfile::tempdir().unwrap();
    let dest = backup.path().join("sauvegarde");
    let manifest = passerelle_server::backup::create(&w.server.state.config, &dest)
        .await
        .unwrap();
    let key = std::fs::read(&w.log_key_path).unwrap();
    for file in &manifest.files {
        assert_ne!(std::fs::read(dest.join(file)).unwrap(), key, "{file}");
    }
    assert!(!w.log_key_path.starts_with(w.server.data_dir.path()));
}

/// The other tamperings of the probe that issue 16 reported, each on a fresh witnessed
/// log of 35 events (cosigned heads at 10, 20, 30 and 35): each is found by `audit verify`
/// with its kind and position; one that touches events is also refused by the server at
/// start-up (it hashes every event again before it signs). A tampering of the stored heads
/// or cosignatures alone leaves the events intact: verify names it, the server starts
/// (the witnesses keep their own record, which the server compares the log with).
/// docs/AUDIT.md « What each tampering looks like » lists them all, with their tests.
#[tokio::test]
async fn audit_every_tampering_of_the_probe_is_found_with_its_position() {
    type Case = (&'static str, &'static [&'static str], BreakKind, u64, bool);
    let cases: [Case; 11] = [
        (
            "one event's details edited",
            &["UPDATE audit_events SET details = '{\"i\":999}' WHERE seq = 15"],
            BreakKind::Edited,
            15,
            true,
        ),
        (
            "an event's time moved",
            &["UPDATE audit_events SET time_ms = time_ms - 86400000 WHERE seq = 15"],
            BreakKind::Edited,
            15,
            true,
        ),
        (
            "someone else named as the actor",
            &["UPDATE audit_events SET actor_login = 'x.autre' WHERE seq = 15"],
            BreakKind::Edited,
            15,
            true,
        ),
        (
            "a success turned into a refusal",
            &["UPDATE audit_events SET outcome = 'denied' WHERE seq = 15"],
            BreakKind::Edited,
            15,
            true,
        ),
        (
            "one event deleted in the middle",
            &["DELETE FROM audit_events WHERE seq = 15"],
            BreakKind::Deleted,
            15,
            true,
        ),
        (
            "the first event deleted",
            &["DELETE FROM audit_events WHERE seq = 1"],
            BreakKind::Deleted,
            1,
            true,
        ),
        (
            "two events swapped",
            &[
                "UPDATE audit_events SET seq = 1000 WHERE seq = 14",
                "UPDATE audit_events SET seq = 14 WHERE seq = 15",
                "UPDATE audit_events SET seq = 15 WHERE seq = 1000",
            ],
            BreakKind::Reordered,
            14,
            true,
        ),
        (
            "an event's Merkle leaf deleted",
            &["DELETE FROM audit_leaves WHERE seq = 15"],
            BreakKind::Deleted,
            15,
            true,
        ),
        (
            "a stored head's note edited (another size)",
            &["UPDATE audit_tree_heads SET note = REPLACE(note, '\n20\n', '\n19\n') WHERE size = 20"],
            BreakKind::BadSignature,
            19,
            false,
        ),
        (
            "a witness's stored cosignature replaced",
            &["UPDATE audit_cosignatures SET line = '\u{2014} temoin.prefecture.test AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' WHERE size = 35"],
            BreakKind::BadSignature,
            35,
            false,
        ),
        (
            "the last heads deleted (rolled back to 20)",
            &[
                "DELETE FROM audit_tree_heads WHERE size > 20",
                "DELETE FROM audit_cosignatures WHERE size > 20",
                "DELETE FROM audit_checkpoints WHERE seq > 20",
            ],
            BreakKind::Deleted,
            30,
            false,
        ),
    ];
    for (name, statements, kind, seq, refused) in cases {
        let w = witnessed(35).await;
        let db = w.raw().await;
        for sql in statements {
            exec(&db, sql).await;
        }
        let broken = w.first_break(None).await;
        assert_eq!((broken.kind, broken.seq), (kind, seq), "{name}: {broken}");
        if refused {
            // The start-up check names the position (a swap reads as an edit there).
            let message = w.refused_at_start_up().await;
            assert!(
                message.contains(&format!(" at seq {seq}:")),
                "{name}: {message}"
            );
        } else {
            let mut options = w.options();
            options.check_witnesses = true;
            assert!(
                AuditLog::open(options).await.is_ok(),
                "{name}: the events are intact"
            );
        }
    }

    // The copies of the cosignatures in the log are a convenience: deleted, nothing is
    // lost, since verify asks the witness for its own.
    let w = witnessed(35).await;
    exec(&w.raw().await, "DELETE FROM audit_cosignatures").await;
    assert!(verify_command(w.options(), None).await.unwrap());
}
