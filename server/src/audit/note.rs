//! C2SP signed notes, `tlog-checkpoint` bodies and `cosignature/v1` witness cosignatures.
//!
//! A checkpoint is the text
//!
//! ```text
//! <origin>\n<tree size>\n<base64 root hash>\n
//! ```
//!
//! signed as a note: the text, a blank line, then one line per signature,
//! `— <key name> <base64(4-byte key hash ‖ signature)>`. The log signs with Ed25519
//! (signature type 0x01, key hash = first 4 bytes of `SHA-256(name ‖ "\n" ‖ 0x01 ‖ key)`),
//! its key name being the origin. A witness cosigns with `cosignature/v1` (type 0x04): it
//! signs `"cosignature/v1\ntime <unix seconds>\n" ‖ checkpoint`, and its line carries
//! `key hash ‖ u64be(time) ‖ signature`. Keys are exchanged as C2SP verifier keys,
//! `<name>+<hex key hash>+<base64(type ‖ public key)>`.
//!
//! These are the formats the transparency-log ecosystem uses, so that a third party can
//! check a Passerelle head with its own tools rather than trusting ours.

use std::path::Path;

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::digest;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use zeroize::Zeroizing;

use super::merkle::Hash;

/// Signature type of an Ed25519 note signature.
pub const TYPE_ED25519: u8 = 0x01;
/// Signature type of a timestamped Ed25519 witness cosignature (`cosignature/v1`).
pub const TYPE_COSIGNATURE: u8 = 0x04;
/// The em dash that starts a signature line.
const DASH: &str = "\u{2014} ";

fn key_hash(name: &str, kind: u8, public: &[u8]) -> [u8; 4] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(name.as_bytes());
    ctx.update(b"\n");
    ctx.update(&[kind]);
    ctx.update(public);
    let mut out = [0u8; 4];
    out.copy_from_slice(&ctx.finish().as_ref()[..4]);
    out
}

/// Whether `name` can name a key: no spaces, no `+`, printable, not empty.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '+')
}

/// The message a `cosignature/v1` signs.
fn cosigned_message(body: &str, time: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {time}\n{body}").into_bytes()
}

/// A private Ed25519 key that signs notes: the log's (type 0x01) or a witness's (0x04).
///
/// No `Debug`, so that it cannot be printed; the PKCS#8 bytes are zeroized once parsed.
pub struct NoteSigner {
    name: String,
    kind: u8,
    key_pair: Ed25519KeyPair,
}

impl NoteSigner {
    /// Loads the PKCS#8 key at `path`; if absent and `create` is set, generates it (mode
    /// 0600). A missing key is an error otherwise: a fresh key would silently start a
    /// history nobody can link to the old one.
    pub fn load(path: &Path, name: &str, kind: u8, create: bool) -> anyhow::Result<NoteSigner> {
        if !valid_name(name) {
            bail!("invalid key name {name:?}: no spaces and no '+'");
        }
        let rng = SystemRandom::new();
        let pkcs8 = if path.exists() {
            super::signing::check_private(path)?;
            Zeroizing::new(
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
            )
        } else if create {
            let document = Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| anyhow::anyhow!("cannot generate an Ed25519 key"))?;
            let bytes = Zeroizing::new(document.as_ref().to_vec());
            crate::secrets::write_private_file(path, &bytes)?;
            tracing::info!(path = %path.display(), "generated a note signing key");
            bytes
        } else {
            bail!("the key file {} does not exist", path.display());
        };
        let key_pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8)
            .map_err(|_| anyhow::anyhow!("{} is not a PKCS#8 Ed25519 key", path.display()))?;
        Ok(NoteSigner {
            name: name.to_owned(),
            kind,
            key_pair,
        })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> &[u8] {
        self.key_pair.public_key().as_ref()
    }

    /// The verifier key to publish.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier::new(&self.name, self.kind, self.public_key())
    }

    /// The signature line of `body` (a note signature, type 0x01).
    pub fn sign(&self, body: &str) -> String {
        let signature = self.key_pair.sign(body.as_bytes());
        let mut bytes = key_hash(&self.name, self.kind, self.public_key()).to_vec();
        bytes.extend_from_slice(signature.as_ref());
        format!("{DASH}{} {}\n", self.name, B64.encode(bytes))
    }

    /// The `cosignature/v1` line of the checkpoint `body` at `time` (unix seconds).
    pub fn cosign(&self, body: &str, time: u64) -> String {
        let signature = self.key_pair.sign(&cosigned_message(body, time));
        let mut bytes = key_hash(&self.name, self.kind, self.public_key()).to_vec();
        bytes.extend_from_slice(&time.to_be_bytes());
        bytes.extend_from_slice(signature.as_ref());
        format!("{DASH}{} {}\n", self.name, B64.encode(bytes))
    }
}

/// A public note key: `<name>+<hex key hash>+<base64(type ‖ key)>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    kind: u8,
    hash: [u8; 4],
    public: Vec<u8>,
}

impl NoteVerifier {
    fn new(name: &str, kind: u8, public: &[u8]) -> NoteVerifier {
        NoteVerifier {
            name: name.to_owned(),
            kind,
            hash: key_hash(name, kind, public),
            public: public.to_vec(),
        }
    }

    /// Parses a verifier key; refuses unknown types and a key hash that does not match.
    pub fn parse(text: &str) -> anyhow::Result<NoteVerifier> {
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            bail!("a verifier key is <name>+<key hash>+<key>");
        };
        if !valid_name(name) {
            bail!("invalid key name in verifier key");
        }
        let key = B64
            .decode(key)
            .context("the key of a verifier key is base64")?;
        let Some((&kind, public)) = key.split_first() else {
            bail!("empty verifier key");
        };
        if !(kind == TYPE_ED25519 || kind == TYPE_COSIGNATURE) || public.len() != 32 {
            bail!("only Ed25519 verifier keys (types 0x01 and 0x04) are supported");
        }
        let verifier = NoteVerifier::new(name, kind, public);
        if super::chain::to_hex(&verifier.hash) != hash {
            bail!("the key hash of verifier key {name} does not match its key");
        }
        Ok(verifier)
    }

    /// The key's name (the log's origin, or the witness's name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signature type (0x01 note signature, 0x04 cosignature).
    pub fn kind(&self) -> u8 {
        self.kind
    }

    /// Whether `line` (a signature line) is this key's valid signature of `body`.
    /// For a cosignature, answers its time (unix seconds).
    pub fn check(&self, body: &str, line: &SignatureLine) -> Option<u64> {
        if line.name != self.name || line.bytes.len() < 4 || line.bytes[..4] != self.hash {
            return None;
        }
        let rest = &line.bytes[4..];
        let key = UnparsedPublicKey::new(&ED25519, &self.public);
        match self.kind {
            TYPE_COSIGNATURE => {
                if rest.len() != 8 + 64 {
                    return None;
                }
                let mut time = [0u8; 8];
                time.copy_from_slice(&rest[..8]);
                let time = u64::from_be_bytes(time);
                key.verify(&cosigned_message(body, time), &rest[8..])
                    .ok()
                    .map(|()| time)
            }
            _ => key.verify(body.as_bytes(), rest).ok().map(|()| 0),
        }
    }

    /// Whether this key made one of the note's signatures (its time for a cosignature).
    pub fn check_note(&self, note: &Note) -> Option<u64> {
        note.signatures
            .iter()
            .find_map(|line| self.check(&note.body, line))
    }
}

impl std::fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut key = vec![self.kind];
        key.extend_from_slice(&self.public);
        write!(
            f,
            "{}+{}+{}",
            self.name,
            super::chain::to_hex(&self.hash),
            B64.encode(key)
        )
    }
}

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureLine {
    /// The key name.
    pub name: String,
    /// Key hash and signature (and, for a cosignature, its time).
    pub bytes: Vec<u8>,
    /// The line as written, with its newline.
    pub text: String,
}

/// A signed note: its text and its signature lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The signed text, ending with a newline.
    pub body: String,
    /// The signatures, in order.
    pub signatures: Vec<SignatureLine>,
}

impl Note {
    /// Parses a signed note; `None` if it is not one (no blank line before signatures,
    /// malformed signature line).
    pub fn parse(text: &str) -> Option<Note> {
        let split = text.rfind("\n\n")?;
        let body = &text[..=split];
        let mut signatures = Vec::new();
        for line in text[split + 2..].split_inclusive('\n') {
            signatures.push(parse_signature_line(line)?);
        }
        if signatures.is_empty() {
            return None;
        }
        Some(Note {
            body: body.to_owned(),
            signatures,
        })
    }

    /// The note as text.
    pub fn to_text(&self) -> String {
        let mut out = self.body.clone();
        out.push('\n');
        for line in &self.signatures {
            out.push_str(&line.text);
        }
        out
    }
}

/// Parses one `— <name> <base64>` line (with or without its newline).
pub fn parse_signature_line(line: &str) -> Option<SignatureLine> {
    let content = line.strip_suffix('\n').unwrap_or(line);
    let rest = content.strip_prefix(DASH)?;
    let (name, sig) = rest.split_once(' ')?;
    if !valid_name(name) {
        return None;
    }
    let bytes = B64.decode(sig).ok()?;
    Some(SignatureLine {
        name: name.to_owned(),
        bytes,
        text: format!("{content}\n"),
    })
}

/// A parsed checkpoint body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointBody {
    /// The log's origin.
    pub origin: String,
    /// Tree size: the events 1 to `size`.
    pub size: u64,
    /// The tree's root.
    pub root: Hash,
}

impl CheckpointBody {
    /// `<origin>\n<size>\n<base64 root>\n`.
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Parses a checkpoint body (extension lines after the root are allowed and ignored).
    pub fn parse(body: &str) -> Option<CheckpointBody> {
        let mut lines = body.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty())?;
        let size_text = lines.next()?;
        if size_text.len() > 1 && size_text.starts_with('0') {
            return None;
        }
        let size = size_text.parse::<u64>().ok()?;
        let root = B64.decode(lines.next()?).ok()?;
        let root: Hash = root.try_into().ok()?;
        if !body.ends_with('\n') {
            return None;
        }
        Some(CheckpointBody {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

/// Base64 of a hash, as proofs are written on the wire.
pub fn encode_hash(hash: &Hash) -> String {
    B64.encode(hash)
}

/// Parses a base64 hash.
pub fn decode_hash(text: &str) -> Option<Hash> {
    B64.decode(text.trim()).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_checkpoint_round_trips_and_only_verifies_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let signer = NoteSigner::load(
            &dir.path().join("log.key"),
            "example.org/audit",
            TYPE_ED25519,
            true,
        )
        .unwrap();
        let body = CheckpointBody {
            origin: "example.org/audit".into(),
            size: 42,
            root: [7u8; 32],
        }
        .to_text();
        let text = format!("{body}\n{}", signer.sign(&body));
        let note = Note::parse(&text).unwrap();
        assert_eq!(note.to_text(), text);
        let verifier = NoteVerifier::parse(&signer.verifier().to_string()).unwrap();
        assert!(verifier.check_note(&note).is_some());
        assert_eq!(CheckpointBody::parse(&note.body).unwrap().size, 42);
        let forged = Note {
            body: body.replace("42", "41"),
            ..note
        };
        assert!(verifier.check_note(&forged).is_none());
        // The key reloads; without `create`, a missing key is an error.
        let again = NoteSigner::load(
            &dir.path().join("log.key"),
            "example.org/audit",
            TYPE_ED25519,
            false,
        )
        .unwrap();
        assert_eq!(again.public_key(), signer.public_key());
        assert!(
            NoteSigner::load(&dir.path().join("absent.key"), "x", TYPE_ED25519, false).is_err()
        );
    }

    #[test]
    fn a_cosignature_carries_its_time_and_is_bound_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let witness = NoteSigner::load(
            &dir.path().join("w.key"),
            "prefecture",
            TYPE_COSIGNATURE,
            true,
        )
        .unwrap();
        let body = "example.org/audit\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let line = parse_signature_line(&witness.cosign(body, 1_700_000_000)).unwrap();
        let verifier = witness.verifier();
        assert_eq!(verifier.check(body, &line), Some(1_700_000_000));
        let mut moved = line.clone();
        moved.bytes[4 + 7] ^= 1;
        assert_eq!(verifier.check(body, &moved), None);
        assert!(NoteVerifier::parse("prefecture+00000000+AAAA").is_err());
    }

    #[test]
    fn malformed_checkpoints_and_notes_are_refused() {
        assert!(CheckpointBody::parse("o\n01\nAAAA\n").is_none());
        assert!(CheckpointBody::parse("o\n1\nnot base64\n").is_none());
        assert!(Note::parse("no signature\n").is_none());
        assert!(Note::parse("body\n\nnot a signature line\n").is_none());
    }
}
