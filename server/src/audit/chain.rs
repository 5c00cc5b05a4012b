//! The canonical encoding of an event and the hash chain built on it.
//!
//! # Canonical encoding, version 1
//!
//! The hash of the event at sequence number `seq` is
//!
//! ```text
//! hash = SHA-256( prev_hash            32 bytes: the previous event's hash, raw
//!                                      (32 zero bytes before the first event, or the
//!                                      anchor's hash after a retention purge)
//!               ‖ 0x01                 encoding version
//!               ‖ u64be(seq)
//!               ‖ i64be(time_ms)       unix milliseconds, UTC
//!               ‖ opt(actor_user_id)
//!               ‖ opt(actor_login)
//!               ‖ opt(actor_institution_id)
//!               ‖ opt(actor_session_id)
//!               ‖ opt(actor_ip)        the address as text, e.g. `192.0.2.7`, `2001:db8::1`
//!               ‖ str(action)
//!               ‖ opt(target)
//!               ‖ str(outcome)         `success`, `failure` or `denied`
//!               ‖ str(details) )       canonical JSON, see below
//!
//! str(s)       = u32be(byte length of s) ‖ UTF-8 bytes of s
//! opt(None)    = 0x00
//! opt(Some(s)) = 0x01 ‖ str(s)
//! ```
//!
//! Every field is length-prefixed, so no two different events share an encoding (moving
//! bytes from one field to the next changes a prefix). The stored columns are exactly the
//! hashed strings, and hashes are stored as 64 lowercase hexadecimal digits, so anyone can
//! recompute the chain from a copy of the table.
//!
//! **Canonical JSON** (`details`): no whitespace; object keys sorted by their UTF-8 bytes;
//! strings and numbers written as `serde_json` writes them. It is computed once, when the
//! event is recorded, and stored as text; verification hashes the stored text as it is.

use ring::digest;
use serde_json::Value;

/// Version byte of the canonical encoding; bumped if the encoding ever changes.
pub const ENCODING_VERSION: u8 = 1;

/// The `prev_hash` of the first event of a log that was never purged.
pub const GENESIS_HASH: [u8; 32] = [0u8; 32];

/// The hashed fields of one event, as stored.
#[derive(Clone, Copy, Debug)]
pub struct Fields<'a> {
    /// Unix milliseconds.
    pub time_ms: i64,
    /// The acting account.
    pub user_id: Option<&'a str>,
    /// Its login.
    pub login: Option<&'a str>,
    /// Its institution.
    pub institution_id: Option<&'a str>,
    /// The session's id (never its token).
    pub session_id: Option<&'a str>,
    /// The client address.
    pub ip: Option<&'a str>,
    /// The stable action name.
    pub action: &'a str,
    /// What was acted on.
    pub target: Option<&'a str>,
    /// `success`, `failure` or `denied`.
    pub outcome: &'a str,
    /// Reason codes and counts, as JSON.
    pub details: &'a str,
}

/// `SHA-256(prev ‖ canonical encoding of the event at seq)`.
pub fn event_hash(prev: &[u8; 32], seq: u64, fields: &Fields<'_>) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(prev);
    ctx.update(&[ENCODING_VERSION]);
    ctx.update(&seq.to_be_bytes());
    ctx.update(&fields.time_ms.to_be_bytes());
    for value in [
        fields.user_id,
        fields.login,
        fields.institution_id,
        fields.session_id,
        fields.ip,
    ] {
        put_opt(&mut ctx, value);
    }
    put_str(&mut ctx, fields.action);
    put_opt(&mut ctx, fields.target);
    put_str(&mut ctx, fields.outcome);
    put_str(&mut ctx, fields.details);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

fn put_str(ctx: &mut digest::Context, value: &str) {
    // Stored strings are bounded far below 4 GiB (see `mod.rs`); saturating keeps this
    // total anyway, and a saturated prefix could only make a hash differ, never collide
    // silently with a shorter field of the same bytes.
    let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
    ctx.update(&len.to_be_bytes());
    ctx.update(value.as_bytes());
}

fn put_opt(ctx: &mut digest::Context, value: Option<&str>) {
    match value {
        None => ctx.update(&[0]),
        Some(value) => {
            ctx.update(&[1]);
            put_str(ctx, value);
        }
    }
}

/// The canonical JSON text of `value`: compact, object keys sorted by their bytes.
///
/// Written by hand rather than relying on `serde_json::Map` ordering, which depends on
/// whether some crate in the build enables serde_json's `preserve_order` feature.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        // Scalars: serde_json's own rendering, which is deterministic.
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Lowercase hexadecimal.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// Parses 64 lowercase hexadecimal digits; anything else (as a tampered row may hold) is
/// `None`.
pub fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(details: &str) -> Fields<'_> {
        Fields {
            time_ms: 1_700_000_000_000,
            user_id: Some("u-1"),
            login: Some("c.martin"),
            institution_id: Some("i-police"),
            session_id: None,
            ip: Some("192.0.2.7"),
            action: "history_read",
            target: Some("case-7KQ2"),
            outcome: "success",
            details,
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth_and_has_no_whitespace() {
        let value = json!({ "b": 1, "a": { "z": [true, null], "y": "é\"" } });
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"y":"é\"","z":[true,null]},"b":1}"#
        );
    }

    #[test]
    fn moving_bytes_between_fields_changes_the_hash() {
        let a = fields("{}");
        let b = Fields {
            login: Some("c.marti"),
            institution_id: Some("ni-police"),
            ..a
        };
        assert_ne!(
            event_hash(&GENESIS_HASH, 1, &a),
            event_hash(&GENESIS_HASH, 1, &b)
        );
        let absent = Fields { target: None, ..a };
        let empty = Fields {
            target: Some(""),
            ..a
        };
        assert_ne!(
            event_hash(&GENESIS_HASH, 1, &absent),
            event_hash(&GENESIS_HASH, 1, &empty)
        );
    }

    #[test]
    fn the_hash_binds_the_sequence_number_and_the_previous_hash() {
        let a = fields("{}");
        let h1 = event_hash(&GENESIS_HASH, 1, &a);
        assert_ne!(h1, event_hash(&GENESIS_HASH, 2, &a));
        assert_ne!(h1, event_hash(&[1u8; 32], 1, &a));
    }

    #[test]
    fn the_encoding_is_pinned_by_a_test_vector() {
        // Recomputed by hand from the documented layout; a change here breaks every
        // existing log, so it must come with a new ENCODING_VERSION.
        let mut input = Vec::new();
        input.extend_from_slice(&GENESIS_HASH);
        input.push(1);
        input.extend_from_slice(&1u64.to_be_bytes());
        input.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
        for value in [
            Some("u-1"),
            Some("c.martin"),
            Some("i-police"),
            None,
            Some("192.0.2.7"),
        ] {
            match value {
                None => input.push(0),
                Some(s) => {
                    input.push(1);
                    input.extend_from_slice(&u32::try_from(s.len()).unwrap().to_be_bytes());
                    input.extend_from_slice(s.as_bytes());
                }
            }
        }
        for (optional, s) in [
            (false, "history_read"),
            (true, "case-7KQ2"),
            (false, "success"),
            (false, "{}"),
        ] {
            if optional {
                input.push(1);
            }
            input.extend_from_slice(&u32::try_from(s.len()).unwrap().to_be_bytes());
            input.extend_from_slice(s.as_bytes());
        }
        let expected = digest::digest(&digest::SHA256, &input);
        assert_eq!(
            event_hash(&GENESIS_HASH, 1, &fields("{}")).as_slice(),
            expected.as_ref()
        );
    }

    #[test]
    fn hex_round_trips_and_rejects_uppercase_or_short_input() {
        let bytes = [0xabu8; 32];
        let text = to_hex(&bytes);
        assert_eq!(parse_hash(&text), Some(bytes));
        assert_eq!(parse_hash(&text.to_uppercase()), None);
        assert_eq!(parse_hash("abcd"), None);
    }
}
