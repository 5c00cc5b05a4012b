//! `passerelle witness`: an independent witness of access logs (docs/AUDIT.md).
//!
//! Run by a party the server's operator does not control (the prefecture, the DPO), it
//! keeps the latest checkpoint it cosigned for each log it knows, cosigns a new one only
//! if a consistency proof shows it extends that one, and records every cosigned
//! checkpoint in an append-only file. Once it has cosigned a head, no rewrite of the
//! history below that head can get its cosignature again, and `audit verify` compares the
//! log with everything it recorded.
//!
//! The protocol is C2SP `tlog-witness`'s `add-checkpoint`:
//!
//! ```text
//! POST /add-checkpoint
//! old <size the witness last cosigned for this log>
//! <consistency proof, one base64 hash a line>
//!
//! <signed checkpoint note>
//! ```
//!
//! answered 200 with the cosignature line, 409 (`text/x.tlog.size`, the witness's size) if
//! `old` is not its size, 422 if the proof does not verify, 403 if the log's signature does
//! not, 404 for an unknown log, 400 for anything malformed. `GET /checkpoints?origin=…`
//! lists the cosigned checkpoints of a log (JSON), `GET /latest?origin=…` the latest one.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::merkle::{self, Hash};
use super::note::{self, CheckpointBody, Note, NoteSigner, NoteVerifier, TYPE_COSIGNATURE};

/// Largest `add-checkpoint` request: a note and a proof of at most 64 hashes.
const MAX_REQUEST: usize = 16 * 1024;

/// One line of the append-only record.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    origin: String,
    size: u64,
    root: String,
    time: u64,
    /// The checkpoint with the log's signature and this witness's cosignature.
    note: String,
}

struct Store {
    /// Latest (size, root) per origin.
    latest: BTreeMap<String, (u64, Hash)>,
    /// Every cosigned note per origin, in order.
    all: BTreeMap<String, Vec<String>>,
    file: std::fs::File,
}

/// A running witness's state.
pub struct WitnessState {
    signer: NoteSigner,
    logs: BTreeMap<String, NoteVerifier>,
    store: tokio::sync::Mutex<Store>,
}

impl WitnessState {
    /// Opens (or creates) the witness's data directory: its key `witness.key` (generated
    /// on first start, mode 0600) and its record `cosignatures.jsonl`. `logs` are the
    /// verifier keys of the logs it accepts; each key's name is the log's origin.
    pub fn open(data_dir: &Path, name: &str, logs: &[String]) -> anyhow::Result<WitnessState> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        let signer = NoteSigner::load(&data_dir.join("witness.key"), name, TYPE_COSIGNATURE, true)?;
        let mut known = BTreeMap::new();
        for key in logs {
            let verifier =
                NoteVerifier::parse(key).with_context(|| format!("invalid log key {key}"))?;
            if verifier.kind() != note::TYPE_ED25519 {
                bail!("the log key {key} is not a note signing key");
            }
            known.insert(verifier.name().to_owned(), verifier);
        }
        if known.is_empty() {
            bail!("a witness needs at least one log key (--log)");
        }
        let path = record_path(data_dir);
        let mut latest = BTreeMap::new();
        let mut all: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if path.exists() {
            let file = std::fs::File::open(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                let record: Record = serde_json::from_str(&line).with_context(|| {
                    format!("{} line {} is damaged", path.display(), number + 1)
                })?;
                let root = note::decode_hash(&record.root).with_context(|| {
                    format!("{} line {} is damaged", path.display(), number + 1)
                })?;
                latest.insert(record.origin.clone(), (record.size, root));
                all.entry(record.origin).or_default().push(record.note);
            }
        }
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(WitnessState {
            signer,
            logs: known,
            store: tokio::sync::Mutex::new(Store { latest, all, file }),
        })
    }

    /// The witness's verifier key, to give to the logs' operators and auditors.
    pub fn verifier_key(&self) -> String {
        self.signer.verifier().to_string()
    }
}

fn record_path(data_dir: &Path) -> PathBuf {
    data_dir.join("cosignatures.jsonl")
}

/// The witness's routes.
pub fn router(state: Arc<WitnessState>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/checkpoints", get(checkpoints))
        .route("/latest", get(latest))
        .layer(DefaultBodyLimit::max(MAX_REQUEST))
        .with_state(state)
}

/// A plain-text answer (the tlog-witness protocol's). A witness keeps no access log of
/// its own: every refusal goes to its operator's log instead, so that a server (or anyone)
/// probing it is seen.
fn text(status: StatusCode, body: impl Into<String>) -> Response {
    let body = body.into();
    if status.is_client_error() || status.is_server_error() {
        tracing::warn!(
            status = status.as_u16(),
            refusal = body.trim(),
            "the witness refused a request"
        );
    }
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn add_checkpoint(State(state): State<Arc<WitnessState>>, body: String) -> Response {
    let Some((head, note_text)) = body.split_once("\n\n") else {
        return text(StatusCode::BAD_REQUEST, "requête mal formée\n");
    };
    let mut lines = head.lines();
    let Some(old) = lines
        .next()
        .and_then(|l| l.strip_prefix("old "))
        .and_then(|n| n.parse::<u64>().ok())
    else {
        return text(StatusCode::BAD_REQUEST, "ligne « old » manquante\n");
    };
    let mut proof = Vec::new();
    for line in lines {
        match note::decode_hash(line) {
            Some(hash) => proof.push(hash),
            None => return text(StatusCode::BAD_REQUEST, "preuve mal formée\n"),
        }
    }
    let Some(checkpoint) = Note::parse(note_text) else {
        return text(StatusCode::BAD_REQUEST, "checkpoint mal formé\n");
    };
    let Some(body) = CheckpointBody::parse(&checkpoint.body) else {
        return text(StatusCode::BAD_REQUEST, "checkpoint mal formé\n");
    };
    let Some(log_key) = state.logs.get(&body.origin) else {
        return text(StatusCode::NOT_FOUND, "journal inconnu\n");
    };
    if log_key.check_note(&checkpoint).is_none() {
        return text(StatusCode::FORBIDDEN, "signature du journal invalide\n");
    }
    let mut store = state.store.lock().await;
    let (size, root) = store
        .latest
        .get(&body.origin)
        .copied()
        .unwrap_or((0, merkle::empty_root()));
    if old != size {
        return (
            StatusCode::CONFLICT,
            [(header::CONTENT_TYPE, "text/x.tlog.size")],
            format!("{size}\n"),
        )
            .into_response();
    }
    if body.size < size {
        return text(
            StatusCode::BAD_REQUEST,
            "taille antérieure au dernier checkpoint\n",
        );
    }
    if !merkle::verify_consistency(size, body.size, &root, &body.root, &proof) {
        tracing::warn!(
            origin = %body.origin,
            old = size,
            new = body.size,
            "refused a checkpoint that is not consistent with the last one cosigned"
        );
        return text(
            StatusCode::UNPROCESSABLE_ENTITY,
            "preuve de cohérence invalide : ce checkpoint ne prolonge pas le dernier cosigné\n",
        );
    }
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let line = state.signer.cosign(&checkpoint.body, time);
    let cosigned = format!("{}{line}", checkpoint.to_text());
    let record = Record {
        origin: body.origin.clone(),
        size: body.size,
        root: note::encode_hash(&body.root),
        time,
        note: cosigned.clone(),
    };
    let written = serde_json::to_string(&record)
        .map_err(std::io::Error::other)
        .and_then(|json| {
            store.file.write_all(format!("{json}\n").as_bytes())?;
            store.file.sync_data()
        });
    if let Err(err) = written {
        tracing::error!(error = %err, "could not record a cosignature");
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "enregistrement impossible\n",
        );
    }
    store
        .latest
        .insert(body.origin.clone(), (body.size, body.root));
    store.all.entry(body.origin).or_default().push(cosigned);
    text(StatusCode::OK, line)
}

#[derive(Deserialize)]
struct OriginQuery {
    origin: String,
}

#[derive(Serialize)]
struct CheckpointList {
    checkpoints: Vec<String>,
}

async fn checkpoints(
    State(state): State<Arc<WitnessState>>,
    Query(query): Query<OriginQuery>,
) -> Response {
    let store = state.store.lock().await;
    match store.all.get(&query.origin) {
        Some(notes) => Json(CheckpointList {
            checkpoints: notes.clone(),
        })
        .into_response(),
        None => text(StatusCode::NOT_FOUND, "journal inconnu\n"),
    }
}

async fn latest(
    State(state): State<Arc<WitnessState>>,
    Query(query): Query<OriginQuery>,
) -> Response {
    let store = state.store.lock().await;
    match store.all.get(&query.origin).and_then(|notes| notes.last()) {
        Some(note) => text(StatusCode::OK, note.clone()),
        None => text(StatusCode::NOT_FOUND, "journal inconnu\n"),
    }
}

/// Serves the witness on `listener` until `shutdown` completes.
pub async fn serve(
    listener: std::net::TcpListener,
    state: Arc<WitnessState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
