//! What auditors read: filters, pages, checkpoints and the streamed CSV and JSON exports.

use futures_util::Stream;
use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::{json, Value};

use super::store::{self, anchor, checkpoint, event};
use super::{AuditError, Outcome};

/// Largest page an auditor may ask for.
pub const MAX_PAGE: u64 = 1000;
/// Page size of exports and verification: large enough to amortise a query, small enough
/// to keep memory flat however large the range.
pub(crate) const BATCH: u64 = 500;

/// Which events an auditor wants. Every field narrows the selection; `None` means any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// The person who acted: an account id or a login (either matches).
    pub user: Option<String>,
    /// The acting person's institution id.
    pub institution: Option<String>,
    /// The target: a channel id, a case reference, an account or institution id.
    pub target: Option<String>,
    /// The same target under another name, also matched: a case's channel id when the
    /// auditor searched by its reference.
    pub target_alias: Option<String>,
    /// The action name, e.g. `history_read`.
    pub action: Option<String>,
    /// How it ended.
    pub outcome: Option<Outcome>,
    /// From this time included (unix ms).
    pub from_ms: Option<i64>,
    /// Until this time excluded (unix ms).
    pub to_ms: Option<i64>,
}

/// One recorded event, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Position in the chain: dense, from 1.
    pub seq: u64,
    /// When, in unix milliseconds (never decreasing along the chain).
    pub time_ms: i64,
    /// The acting account's id.
    pub user_id: Option<String>,
    /// The login used.
    pub login: Option<String>,
    /// The acting account's institution.
    pub institution_id: Option<String>,
    /// The session's id.
    pub session_id: Option<String>,
    /// The client address, as text.
    pub ip: Option<String>,
    /// The action name.
    pub action: String,
    /// The target id or case reference.
    pub target: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// Canonical JSON text of the details, exactly as hashed.
    pub details: String,
    /// Hash of the previous event, hexadecimal.
    pub prev_hash: String,
    /// This event's chain hash, hexadecimal.
    pub hash: String,
}

impl From<event::Model> for StoredEvent {
    fn from(row: event::Model) -> Self {
        StoredEvent {
            seq: store::from_db(row.seq),
            time_ms: row.time_ms,
            user_id: row.actor_user_id,
            login: row.actor_login,
            institution_id: row.actor_institution_id,
            session_id: row.actor_session_id,
            ip: row.actor_ip,
            action: row.action,
            target: row.target,
            outcome: row.outcome,
            details: row.details,
            prev_hash: row.prev_hash,
            hash: row.hash,
        }
    }
}

impl StoredEvent {
    /// The details as JSON (`null` if the stored text is not JSON, which only a tampered
    /// row could hold).
    pub fn details_json(&self) -> Value {
        serde_json::from_str(&self.details).unwrap_or(Value::Null)
    }

    /// The time as RFC 3339 (UTC, milliseconds).
    pub fn time_rfc3339(&self) -> String {
        format_time(self.time_ms)
    }

    /// The event as the JSON object of exports and the API.
    pub fn to_json(&self) -> Value {
        json!({
            "seq": self.seq,
            "time": self.time_rfc3339(),
            "time_ms": self.time_ms,
            "actor": {
                "user_id": self.user_id,
                "login": self.login,
                "institution_id": self.institution_id,
                "session_id": self.session_id,
                "ip": self.ip,
            },
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
            "details": self.details_json(),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        })
    }
}

/// RFC 3339 in UTC with milliseconds; the raw number if it is out of range.
pub fn format_time(time_ms: i64) -> String {
    let nanos = i128::from(time_ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            let format = time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            );
            t.format(&format).ok()
        })
        .unwrap_or_else(|| time_ms.to_string())
}

/// A page of events and the cursor of the next one.
#[derive(Clone, Debug)]
pub struct EventPage {
    /// The events, in sequence order.
    pub events: Vec<StoredEvent>,
    /// Pass as `after_seq` to get the next page; `None` when this page is the last.
    pub next_after_seq: Option<u64>,
}

/// A signed statement that the chain's event `seq` has hash `hash`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    /// The event's sequence number.
    pub seq: u64,
    /// The event's chain hash, hexadecimal.
    pub hash: String,
    /// When it was signed (unix ms).
    pub time_ms: i64,
    /// Which key signed it (see `signing::key_id`).
    pub key_id: String,
    /// ECDSA P-256 SHA-256 signature, fixed `r‖s`, base64url.
    pub signature: String,
}

impl From<checkpoint::Model> for Checkpoint {
    fn from(row: checkpoint::Model) -> Self {
        Checkpoint {
            seq: store::from_db(row.seq),
            hash: row.hash,
            time_ms: row.time_ms,
            key_id: row.key_id,
            signature: row.signature,
        }
    }
}

/// A signed statement, made by a retention purge, that the chain's last purged event `seq`
/// had hash `hash`: verification starts from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Anchor {
    /// The last purged event's sequence number.
    pub seq: u64,
    /// Its chain hash, hexadecimal.
    pub hash: String,
    /// When the purge ran (unix ms).
    pub time_ms: i64,
    /// Which key signed it.
    pub key_id: String,
    /// ECDSA P-256 SHA-256 signature, fixed `r‖s`, base64url.
    pub signature: String,
}

impl From<anchor::Model> for Anchor {
    fn from(row: anchor::Model) -> Self {
        Anchor {
            seq: store::from_db(row.seq),
            hash: row.hash,
            time_ms: row.time_ms,
            key_id: row.key_id,
            signature: row.signature,
        }
    }
}

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// RFC 4180 CSV with a header line.
    Csv,
    /// One JSON array of event objects.
    Json,
}

/// The CSV columns, in order.
pub const CSV_HEADER: &str = "seq,time,time_ms,actor_user_id,actor_login,actor_institution_id,actor_session_id,actor_ip,action,target,outcome,details,prev_hash,hash\r\n";

/// One CSV cell: quoted when needed, and defused when a spreadsheet would read it as a
/// formula (a login typed by an attacker at the login form ends up here).
fn csv_cell(out: &mut String, value: &str) {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || value.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    for c in value.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

/// One event as a CSV line.
pub(crate) fn csv_line(event: &StoredEvent) -> String {
    let mut line = String::with_capacity(256 + event.details.len());
    let empty = String::new();
    let cells: [&str; 14] = [
        &event.seq.to_string(),
        &event.time_rfc3339(),
        &event.time_ms.to_string(),
        event.user_id.as_ref().unwrap_or(&empty),
        event.login.as_ref().unwrap_or(&empty),
        event.institution_id.as_ref().unwrap_or(&empty),
        event.session_id.as_ref().unwrap_or(&empty),
        event.ip.as_ref().unwrap_or(&empty),
        &event.action,
        event.target.as_ref().unwrap_or(&empty),
        &event.outcome,
        &event.details,
        &event.prev_hash,
        &event.hash,
    ];
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        csv_cell(&mut line, cell);
    }
    line.push_str("\r\n");
    line
}

struct ExportState {
    db: DatabaseConnection,
    filter: EventFilter,
    format: ExportFormat,
    after_seq: u64,
    started: bool,
    wrote_any: bool,
    done: bool,
}

/// The events matching `filter`, as chunks of CSV or JSON, one database page at a time.
pub(crate) fn export_stream(
    db: DatabaseConnection,
    filter: EventFilter,
    format: ExportFormat,
) -> impl Stream<Item = Result<Vec<u8>, AuditError>> + Send + 'static {
    let state = ExportState {
        db,
        filter,
        format,
        after_seq: 0,
        started: false,
        wrote_any: false,
        done: false,
    };
    futures_util::stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        if !state.started {
            state.started = true;
            let header = match state.format {
                ExportFormat::Csv => CSV_HEADER,
                ExportFormat::Json => "[",
            };
            return Some((Ok(header.as_bytes().to_vec()), state));
        }
        let rows =
            match store::filtered_page(&state.db, &state.filter, state.after_seq, BATCH).await {
                Ok(rows) => rows,
                Err(err) => {
                    state.done = true;
                    return Some((Err(AuditError::Database(err)), state));
                }
            };
        let Some(last) = rows.last() else {
            state.done = true;
            return match state.format {
                ExportFormat::Csv => None,
                ExportFormat::Json => {
                    let end = if state.wrote_any { "\n]\n" } else { "]\n" };
                    Some((Ok(end.as_bytes().to_vec()), state))
                }
            };
        };
        state.after_seq = store::from_db(last.seq);
        let mut chunk = String::new();
        for row in rows {
            let event = StoredEvent::from(row);
            match state.format {
                ExportFormat::Csv => chunk.push_str(&csv_line(&event)),
                ExportFormat::Json => {
                    chunk.push_str(if state.wrote_any { ",\n" } else { "\n" });
                    chunk.push_str(&event.to_json().to_string());
                    state.wrote_any = true;
                }
            }
        }
        Some((Ok(chunk.into_bytes()), state))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        let mut out = String::new();
        csv_cell(&mut out, "plain");
        out.push('|');
        csv_cell(&mut out, "a,\"b\"");
        out.push('|');
        csv_cell(&mut out, "=HYPERLINK(\"x\")");
        assert_eq!(out, "plain|\"a,\"\"b\"\"\"|\"'=HYPERLINK(\"\"x\"\")\"");
    }

    #[test]
    fn times_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_time(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
