//! Generator of the test vectors in `shared/vectors/`.
//!
//! Every input is fixed (private keys are SHA-256 of a readable label), so every output
//! is reproducible except ECDSA signatures, which ring randomises: the files record one
//! signature each, and implementations check that the signed bytes are equal and that
//! the recorded signature verifies. The per-module tests read the files back.
//!
//! Regenerate (only when the protocol changes) with
//! `PASSERELLE_WRITE_VECTORS=$PWD/shared/vectors cargo test -p passerelle-shared
//! the_stored_vectors_are_what_the_generator_produces`.

use serde_json::{json, Value};

use super::attachment::{encrypt_with, AttachmentKey, CHUNK_LEN};
use super::backup::{BackupContents, KeyBackup, RecoveryCode, Shredded};
use super::content::{AttachmentRef, MessageContent, MessageRef};
use super::device::DeviceCertificateRequest;
use super::encoding::{label, to_base64url, CanonicalBytes};
use super::envelope::{message_key, Envelope, MessageHeader, MessageOrder};
use super::epoch::{EpochKey, WrapHeader};
use super::fingerprint::{DeviceLinkCode, Fingerprint};
use super::keys::{DeviceKeys, EphemeralKeyPair, IdentityKeyPair, SecretScalar};
use super::order::{check_order, Arrival, OrderAnomaly, OrderMark};
use super::padding::pad;
use super::prekey::{AgreementKeyPair, SignedPrekey};
use super::primitives::{sha256, NONCE_LEN, TAG_LEN};
use super::test_support::to_hex;

const USER_ALICE: &str = "7d1c3b52-2f0e-4a8e-9d55-3c1f0b6a9e21";
const DEVICE_ALICE_LAPTOP: &str = "0b9f6e4c-8a51-4f7d-b2c3-5e6a7d8c9f10";
const USER_BOB: &str = "c4e8a1f2-6b3d-4c59-8e7a-1d2f3a4b5c6d";
const DEVICE_BOB_PHONE: &str = "e2d4c6b8-a0f1-4e3d-9c5b-7a8f6e4d2c1b";
const CHANNEL: &str = "3f6b9c2e-1d4a-4e8b-a7c5-9b0d2e4f6a81";

/// A fixed 32-byte value: SHA-256 of a label.
fn fixed(name: &str) -> [u8; 32] {
    sha256(format!("passerelle test vector: {name}").as_bytes())
}

fn fixed_nonce(name: &str) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&fixed(name)[..NONCE_LEN]);
    nonce
}

fn identity(name: &str) -> IdentityKeyPair {
    IdentityKeyPair::from_private_bytes(&fixed(name)).unwrap()
}

fn device(name: &str) -> DeviceKeys {
    DeviceKeys::from_private_bytes(
        &fixed(&format!("{name} signing")),
        &fixed(&format!("{name} agreement")),
    )
    .unwrap()
}

fn write(name: &str, value: &Value) {
    let dir = std::env::var("PASSERELLE_WRITE_VECTORS")
        .expect("set PASSERELLE_WRITE_VECTORS to the output directory");
    let text = serde_json::to_string_pretty(value).unwrap() + "\n";
    std::fs::write(format!("{dir}/{name}.json"), text).unwrap();
}

fn encoding() -> Value {
    let canonical = |label: &str, fields: &[&[u8]]| {
        let mut builder = CanonicalBytes::new(label);
        for field in fields {
            builder = builder.field(field);
        }
        json!({
            "label": label,
            "fields_hex": fields.iter().map(|f| to_hex(f)).collect::<Vec<_>>(),
            "expected_hex": to_hex(&builder.finish()),
        })
    };
    let point = device("encoding").public_keys().signing.as_bytes().to_vec();
    let mut off_curve = point.clone();
    off_curve[64] ^= 1;
    let mut compressed = vec![0x02 | (point[64] & 1)];
    compressed.extend_from_slice(&point[1..33]);
    let mut wrong_prefix = point.clone();
    wrong_prefix[0] = 0x05;
    let invalid = |bytes: &[u8], why: &str| json!({ "bytes_hex": to_hex(bytes), "why": why });
    json!({
        "description": "Canonical byte strings (PROTOCOL.md §3.4), base64url without padding (§3.1) and public key validation (§3.2).",
        "canonical_bytes": [
            canonical("passerelle/v1/example", &[]),
            canonical("passerelle/v1/example", &[b"alice", b"", &[0x00, 0xff], &258u64.to_be_bytes()]),
            canonical("passerelle/v1/example", &["Élise".as_bytes()]),
        ],
        "base64url": {
            "valid": [
                { "bytes_hex": "", "text": "" },
                { "bytes_hex": "66", "text": "Zg" },
                { "bytes_hex": "666f", "text": "Zm8" },
                { "bytes_hex": "666f6f", "text": "Zm9v" },
                { "bytes_hex": "fbff", "text": "-_8" },
            ],
            "invalid": [
                { "text": "Zg==", "why": "padding" },
                { "text": "Zh", "why": "non-zero unused trailing bits" },
                { "text": "+/8", "why": "standard (not url-safe) alphabet" },
                { "text": "Z", "why": "impossible length" },
                { "text": "Zm9v ", "why": "whitespace" },
            ],
        },
        "public_keys": {
            "valid": [ { "bytes_hex": to_hex(&point), "base64url": to_base64url(&point) } ],
            "invalid": [
                invalid(&off_curve, "not on the curve"),
                invalid(&compressed, "compressed encoding"),
                invalid(&wrong_prefix, "unknown prefix byte"),
                invalid(&[0u8; 65], "all zero"),
                invalid(&point[..64], "64 bytes"),
            ],
        },
    })
}

fn device_certificate() -> Value {
    let alice = identity("alice identity");
    let laptop = device("alice laptop");
    let request =
        DeviceCertificateRequest::new(USER_ALICE, DEVICE_ALICE_LAPTOP, alice.public_key(), &laptop)
            .unwrap();
    let certificate = alice.certify(&request).unwrap();
    certificate.verify(alice.public_key()).unwrap();

    let mut moved = certificate.clone();
    moved.device_id = DEVICE_BOB_PHONE.into();
    let mut self_signed_only = certificate.clone();
    self_signed_only.identity_signature = certificate.self_signature.clone();
    let mut swapped_key = certificate.clone();
    swapped_key.keys.agreement = device("rogue").public_keys().agreement.clone();
    let bob = identity("bob identity");
    let mut other_identity = certificate.clone();
    other_identity.identity_signature = bob
        .sign(&certificate.signed_bytes(alice.public_key()))
        .unwrap();

    json!({
        "description": "Device certificate (PROTOCOL.md §5). ECDSA is randomised: check that signed_bytes are equal and that the recorded signatures verify.",
        "identity_private_key_hex": to_hex(&fixed("alice identity")),
        "identity_public_key": alice.public_key(),
        "device_signing_private_key_hex": to_hex(&fixed("alice laptop signing")),
        "device_agreement_private_key_hex": to_hex(&fixed("alice laptop agreement")),
        "user_id": USER_ALICE,
        "device_id": DEVICE_ALICE_LAPTOP,
        "signed_bytes_hex": to_hex(&certificate.signed_bytes(alice.public_key())),
        "request": request,
        "certificate": certificate,
        "invalid": [
            { "why": "device_id changed", "certificate": moved },
            { "why": "identity signature replaced by the self-signature", "certificate": self_signed_only },
            { "why": "agreement key replaced", "certificate": swapped_key },
            { "why": "identity signature made by another identity key", "certificate": other_identity },
        ],
    })
}

fn fingerprint() -> Value {
    let case = |identity: &IdentityKeyPair, user_id: &str| {
        let fingerprint = Fingerprint::new(identity.public_key(), user_id);
        let seed = CanonicalBytes::new(label::FINGERPRINT)
            .field(identity.public_key().as_bytes())
            .field(user_id.as_bytes())
            .finish();
        json!({
            "identity_public_key": identity.public_key(),
            "user_id": user_id,
            "seed_hex": to_hex(&seed),
            "digits": fingerprint.digits(),
            "display": fingerprint.to_string(),
            "qr_payload": fingerprint.qr_payload(),
        })
    };
    let alice = identity("alice identity");
    let bob = identity("bob identity");
    let request = DeviceCertificateRequest::new(
        USER_ALICE,
        DEVICE_ALICE_LAPTOP,
        alice.public_key(),
        &device("alice laptop"),
    )
    .unwrap();
    let code = DeviceLinkCode::new(&request, alice.public_key());
    let link_input = CanonicalBytes::new(label::DEVICE_LINK)
        .field(&request.signed_bytes(alice.public_key()))
        .finish();
    json!({
        "description": "Fingerprints (PROTOCOL.md §6.1) and device link codes (§6.2).",
        "iterations": super::FINGERPRINT_ITERATIONS,
        "fingerprints": [case(&alice, USER_ALICE), case(&bob, USER_BOB)],
        "link_code": {
            "identity_public_key": alice.public_key(),
            "request": request,
            "input_hex": to_hex(&link_input),
            "digest_hex": to_hex(&sha256(&link_input)),
            "digits": code.digits(),
            "display": code.to_string(),
            "qr_payload": code.qr_payload(),
        },
    })
}

fn epoch_wrap() -> Value {
    let sender = device("alice laptop");
    let recipient = device("bob phone");
    let epoch_key = EpochKey::from_bytes(&fixed("epoch key 7"));
    let ephemeral =
        EphemeralKeyPair::from_secret(SecretScalar::from_bytes(&fixed("ephemeral key")).unwrap())
            .unwrap();
    let nonce = fixed_nonce("wrap nonce");
    let header = WrapHeader {
        channel_id: CHANNEL,
        epoch: 7,
        sender_device: DEVICE_ALICE_LAPTOP,
        recipient_device: DEVICE_BOB_PHONE,
    };
    let wrapped = epoch_key
        .wrap_with(
            &header,
            &sender,
            &recipient.public_keys().agreement,
            &ephemeral,
            &nonce,
        )
        .unwrap();
    let commitment = epoch_key.commitment(CHANNEL, 7);
    let ad = header.additional_data(&commitment);
    let shared = ephemeral.agree(&recipient.public_keys().agreement).unwrap();
    let mut salt = ephemeral.public.as_bytes().to_vec();
    salt.extend_from_slice(recipient.public_keys().agreement.as_bytes());
    let wrap_key = super::primitives::hkdf_sha256(&salt, &shared[..], &ad).unwrap();
    let commitment_input = CanonicalBytes::new(label::EPOCH_KEY_COMMITMENT)
        .field(CHANNEL.as_bytes())
        .u64_field(7)
        .field(&fixed("epoch key 7"))
        .finish();
    json!({
        "description": "Epoch key wrap (PROTOCOL.md §7.3). ECDSA is randomised: check that signed_bytes are equal and that the recorded signature verifies.",
        "channel_id": CHANNEL,
        "epoch": 7,
        "sender_device": DEVICE_ALICE_LAPTOP,
        "recipient_device": DEVICE_BOB_PHONE,
        "epoch_key_hex": to_hex(&fixed("epoch key 7")),
        "sender_signing_private_key_hex": to_hex(&fixed("alice laptop signing")),
        "sender_agreement_private_key_hex": to_hex(&fixed("alice laptop agreement")),
        "sender_public_keys": sender.public_keys(),
        "recipient_signing_private_key_hex": to_hex(&fixed("bob phone signing")),
        "recipient_agreement_private_key_hex": to_hex(&fixed("bob phone agreement")),
        "recipient_public_keys": recipient.public_keys(),
        "ephemeral_private_key_hex": to_hex(&fixed("ephemeral key")),
        "ephemeral_public_key": ephemeral.public,
        "nonce_hex": to_hex(&nonce),
        "commitment_input_hex": to_hex(&commitment_input),
        "commitment_hex": to_hex(commitment.as_bytes()),
        "additional_data_hex": to_hex(&ad),
        "shared_secret_hex": to_hex(&shared[..]),
        "hkdf_salt_hex": to_hex(&salt),
        "wrap_key_hex": to_hex(&wrap_key[..]),
        "signed_bytes_hex": to_hex(&wrapped.signed_bytes()),
        "wrapped": wrapped,
    })
}

fn message_envelope() -> Value {
    let sender = device("alice laptop");
    let epoch_key = EpochKey::from_bytes(&fixed("epoch key 7"));
    let nonce = fixed_nonce("message nonce");
    let content = MessageContent {
        text: "Point de situation : la famille a été reçue mardi. Prochaine réunion jeudi 14 h."
            .into(),
        reply_to: Some(MessageRef {
            sender_device: DEVICE_BOB_PHONE.into(),
            client_msg_id: "5a1e7c3d-9b2f-4d6e-8a0c-1f3e5d7b9a2c".into(),
        }),
        attachments: vec![AttachmentRef {
            id: "9c8b7a6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d".into(),
            key: AttachmentKey::from_bytes(&fixed("attachment key")),
            sha256: fixed("attachment blob hash stand-in"),
            size: 5,
            name: "compte-rendu.txt".into(),
            mime: "text/plain".into(),
        }],
        membership_head: None,
        key_log_head: None,
    };
    let json_bytes = content.to_json().unwrap();
    let padded = pad(&json_bytes).unwrap();
    let header = MessageHeader {
        channel_id: CHANNEL.into(),
        epoch: 7,
        sender_device: DEVICE_ALICE_LAPTOP.into(),
        client_msg_id: "d7e6f5a4-b3c2-4d1e-9f0a-8b7c6d5e4f3a".into(),
        order: None,
    };
    let envelope = Envelope::seal_with(header, &padded, &epoch_key, &sender, &nonce).unwrap();
    let ad = envelope.additional_data();
    let content_value: Value = serde_json::from_slice(&json_bytes).unwrap();
    json!({
        "description": "Message envelope (PROTOCOL.md §8). ECDSA is randomised: check that signed_bytes are equal and that the recorded signature verifies.",
        "epoch_key_hex": to_hex(&fixed("epoch key 7")),
        "sender_signing_private_key_hex": to_hex(&fixed("alice laptop signing")),
        "sender_agreement_private_key_hex": to_hex(&fixed("alice laptop agreement")),
        "sender_signing_public_key": sender.public_keys().signing,
        "content": content_value,
        "content_json": String::from_utf8(json_bytes.to_vec()).unwrap(),
        "content_json_hex": to_hex(&json_bytes),
        "padded_plaintext_hex": to_hex(&padded),
        "additional_data_hex": to_hex(&ad),
        "message_key_hex": to_hex(&message_key(&epoch_key, &ad).unwrap()[..]),
        "nonce_hex": to_hex(&nonce),
        "signed_bytes_hex": to_hex(&envelope.signed_bytes()),
        "envelope": envelope,
    })
}

fn padding() -> Value {
    let sizes: Vec<Value> = [
        0usize, 1, 252, 253, 508, 509, 1020, 1021, 32_764, 32_765, 65_532, 65_533,
    ]
    .iter()
    .map(|n| json!({ "content_len": n, "padded_len": super::padded_len(*n) }))
    .collect();
    let exact = |content: &[u8]| json!({ "content_hex": to_hex(content), "padded_hex": to_hex(&pad(content).unwrap()) });
    let mut wrong_bucket = pad(b"hello").unwrap().to_vec();
    wrong_bucket.resize(512, 0);
    let mut non_zero = pad(b"hello").unwrap().to_vec();
    non_zero[255] = 1;
    let mut too_long_prefix = pad(b"hello").unwrap().to_vec();
    too_long_prefix[..4].copy_from_slice(&253u32.to_be_bytes());
    let mut short = pad(b"hello").unwrap().to_vec();
    short.truncate(255);
    let malformed = |bytes: &[u8], why: &str| json!({ "padded_hex": to_hex(bytes), "why": why });
    json!({
        "description": "Plaintext padding (PROTOCOL.md §8.3). padded_len null means too long.",
        "sizes": sizes,
        "exact": [exact(b""), exact(b"hello"), exact(&[0xab; 253])],
        "malformed": [
            malformed(&wrong_bucket, "512 bytes for 5 bytes of content"),
            malformed(&non_zero, "non-zero padding byte"),
            malformed(&too_long_prefix, "length 253 needs the 512-byte bucket"),
            malformed(&short, "255 bytes is not a bucket"),
            malformed(&[0, 0, 0], "shorter than the length prefix"),
        ],
    })
}

fn attachment() -> Value {
    let key = AttachmentKey::from_bytes(&fixed("attachment key"));
    let base_nonce = fixed_nonce("attachment base nonce");
    let pattern = |len: usize| -> Vec<u8> { (0..len).map(|i| (i % 251) as u8).collect() };
    let cases: Vec<Value> = [0usize, 5, CHUNK_LEN, CHUNK_LEN + 100]
        .iter()
        .map(|len| {
            let encrypted = encrypt_with(&key, &base_nonce, &pattern(*len)).unwrap();
            let count = len.div_ceil(CHUNK_LEN).max(1);
            let mut offset = 1 + NONCE_LEN;
            let chunks: Vec<Value> = (0..count)
                .map(|i| {
                    let plain = (len - i * CHUNK_LEN).min(CHUNK_LEN);
                    let end = offset + plain + TAG_LEN;
                    let last = i + 1 == count;
                    let mut nonce = base_nonce;
                    for (b, m) in nonce[4..].iter_mut().zip((i as u64).to_be_bytes()) {
                        *b ^= m;
                    }
                    let ad = CanonicalBytes::new(label::ATTACHMENT_CHUNK)
                        .u64_field(i as u64)
                        .field(&[u8::from(last)])
                        .finish();
                    let value = json!({
                        "index": i,
                        "final": last,
                        "nonce_hex": to_hex(&nonce),
                        "additional_data_hex": to_hex(&ad),
                        "ciphertext_len": plain + TAG_LEN,
                        "tag_hex": to_hex(&encrypted.blob[end - TAG_LEN..end]),
                    });
                    offset = end;
                    value
                })
                .collect();
            let mut case = json!({
                "plaintext_len": len,
                "blob_len": encrypted.blob.len(),
                "blob_sha256_hex": to_hex(&encrypted.sha256),
                "chunks": chunks,
            });
            if encrypted.blob.len() < 200 {
                case["blob_hex"] = to_hex(&encrypted.blob).into();
            }
            case
        })
        .collect();
    json!({
        "description": "Attachment encryption (PROTOCOL.md §9). Plaintext byte i is i mod 251.",
        "key_hex": to_hex(&fixed("attachment key")),
        "base_nonce_hex": to_hex(&base_nonce),
        "cases": cases,
    })
}

fn key_backup() -> Value {
    let mut code_bytes = [0u8; 16];
    code_bytes.copy_from_slice(&fixed("recovery code")[..16]);
    let display = {
        // Build the code through the public parser from its bytes' display form.
        let code = RecoveryCode::parse(&encode_code(&code_bytes)).unwrap();
        code.to_display_string().to_string()
    };
    let code = RecoveryCode::parse(&display).unwrap();
    let key = code.backup_key(USER_ALICE);
    let alice = identity("alice identity");
    let mut contents = BackupContents::new(identity("alice identity"));
    contents.insert_epoch_key(CHANNEL, 6, EpochKey::from_bytes(&fixed("epoch key 6")));
    contents.insert_epoch_key(CHANNEL, 7, EpochKey::from_bytes(&fixed("epoch key 7")));
    // Tombstones (§10.6): a destroyed channel, and the purged epochs below 6 of CHANNEL.
    contents.shred(OTHER_CHANNEL, Shredded::Channel);
    contents.shred(CHANNEL, Shredded::Below(6));
    let json_bytes = contents.to_json().unwrap();
    let nonce = fixed_nonce("backup nonce");
    let backup = KeyBackup::seal_json(&json_bytes, &key, USER_ALICE, 3, &nonce).unwrap();
    let salt = CanonicalBytes::new(label::KEY_BACKUP_KEY)
        .field(USER_ALICE.as_bytes())
        .finish();
    let lower = display.to_lowercase().replace('-', " ");
    let confusable = display.replace('0', "O").replace('1', "l");
    // A backup written by a client that did not filter: keys its own tombstones cover.
    // Opening it must drop them.
    let mut unfiltered: Value = serde_json::from_slice(&json_bytes).unwrap();
    let keys = unfiltered["epoch_keys"].as_array_mut().unwrap();
    keys.push(
        json!({ "channel_id": CHANNEL, "epoch": 5, "key": to_base64url(&fixed("epoch key 5")) }),
    );
    keys.push(json!({ "channel_id": OTHER_CHANNEL, "epoch": 1, "key": to_base64url(&fixed("destroyed epoch key")) }));
    let unfiltered_json = serde_json::to_vec(&unfiltered).unwrap();
    let unfiltered_backup =
        KeyBackup::seal_json(&unfiltered_json, &key, USER_ALICE, 4, &nonce).unwrap();
    let mut legacy_bytes = [0u8; 15];
    legacy_bytes.copy_from_slice(&fixed("legacy recovery code")[..15]);
    let legacy = RecoveryCode::parse(&encode_code(&legacy_bytes)).unwrap();
    let legacy_display = legacy.to_display_string().to_string();
    json!({
        "description": "Recovery code and key backup with tombstones (PROTOCOL.md §10).",
        "recovery_code": display,
        "recovery_code_bytes_hex": to_hex(&code_bytes),
        "user_id": USER_ALICE,
        "kdf_salt_hex": to_hex(&salt),
        "kdf_iterations": super::BACKUP_KDF_ITERATIONS,
        "backup_key_hex": to_hex(&key.to_bytes()[..]),
        "identity_private_key_hex": to_hex(&fixed("alice identity")),
        "identity_public_key": alice.public_key(),
        "plaintext_json": String::from_utf8(json_bytes.to_vec()).unwrap(),
        "plaintext_json_hex": to_hex(&json_bytes),
        "nonce_hex": to_hex(&nonce),
        "additional_data_hex": to_hex(&backup.additional_data()),
        "backup": backup,
        "unfiltered_backup": unfiltered_backup,
        "unfiltered_kept_epoch_keys": [[CHANNEL, 6], [CHANNEL, 7]],
        "legacy": {
            "recovery_code": legacy_display,
            "recovery_code_bytes_hex": to_hex(&legacy_bytes),
            "kdf_iterations": super::LEGACY_BACKUP_KDF_ITERATIONS,
            "backup_key_hex": to_hex(&legacy.backup_key(USER_ALICE).to_bytes()[..]),
        },
        "recovery_code_inputs": [
            { "input": display, "bytes_hex": to_hex(&code_bytes) },
            { "input": lower, "bytes_hex": to_hex(&code_bytes) },
            { "input": confusable, "bytes_hex": to_hex(&code_bytes) },
            { "input": display.replace('-', ""), "bytes_hex": to_hex(&code_bytes) },
            { "input": legacy_display, "bytes_hex": to_hex(&legacy_bytes) },
            { "input": &display[..display.len() - 1], "bytes_hex": null },
            { "input": format!("{display}0"), "bytes_hex": null },
            { "input": "ABCD-EFGH-JKMN-PQRS-TVWX-YZU0", "bytes_hex": null },
        ],
    })
}

/// A paged backup (PROTOCOL.md §10.8): one page of two keys and the head naming it.
fn key_backup_pages() -> Value {
    let key = super::BackupKey::from_bytes(&fixed("paged backup key"));
    let mut keys = std::collections::BTreeMap::new();
    keys.insert(
        (CHANNEL.to_owned(), 6),
        EpochKey::from_bytes(&fixed("epoch key 6")),
    );
    keys.insert(
        (CHANNEL.to_owned(), 7),
        EpochKey::from_bytes(&fixed("epoch key 7")),
    );
    let page_json = super::backup_pages::page_to_json(&keys).unwrap();
    let mut page_id = [0u8; super::PAGE_ID_LEN];
    page_id.copy_from_slice(&fixed("page id")[..super::PAGE_ID_LEN]);
    let page_nonce = fixed_nonce("page nonce");
    let page = super::KeyBackupPage::seal_json(&page_json, &key, USER_ALICE, &page_id, &page_nonce)
        .unwrap();
    let reference = super::PageRef {
        id: page_id,
        hash: page.hash(),
    };
    let mut contents = BackupContents::new(identity("alice identity"));
    contents.shred(OTHER_CHANNEL, Shredded::Channel);
    let head_json = contents.to_head_json().unwrap();
    let head_nonce = fixed_nonce("head nonce");
    let head = super::KeyBackupHead::seal_json(
        &head_json,
        vec![reference],
        &key,
        USER_ALICE,
        4,
        &head_nonce,
    )
    .unwrap();
    json!({
        "description": "A paged key backup: one page and its head (PROTOCOL.md §10.8).",
        "user_id": USER_ALICE,
        "backup_key_hex": to_hex(&key.to_bytes()[..]),
        "page_id_hex": to_hex(&page_id),
        "page_plaintext_json": String::from_utf8(page_json.to_vec()).unwrap(),
        "page_plaintext_json_hex": to_hex(&page_json),
        "page_nonce_hex": to_hex(&page_nonce),
        "page_additional_data_hex": to_hex(&super::KeyBackupPage::additional_data(USER_ALICE, &page_id)),
        "page": page,
        "page_hash": page.hash().to_string(),
        "head_plaintext_json": String::from_utf8(head_json.to_vec()).unwrap(),
        "head_plaintext_json_hex": to_hex(&head_json),
        "head_nonce_hex": to_hex(&head_nonce),
        "head_additional_data_hex": to_hex(&head.additional_data()),
        "head": head,
        "identity_private_key_hex": to_hex(&fixed("alice identity")),
    })
}

const USER_MALLORY: &str = "a5b6c7d8-e9f0-4a1b-8c2d-3e4f5a6b7c8d";
const DEVICE_MALLORY: &str = "f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b";
const DEVICE_BOB_TABLET: &str = "b0b7ab1e-7ab1-4e7a-9b1e-7ab1e7ab1e70";
const DEVICE_ALICE_ROGUE: &str = "a11ce0de-0000-4bad-8bad-0000000a11ce";
const DEVICE_GHOST: &str = "9405700d-9405-4700-8d94-05700d940570";
const OTHER_CHANNEL: &str = "0c4a1d2e-5f6b-4c7d-8e9f-a0b1c2d3e4f5";

/// What a client must refuse although every signature is valid: a device, wrap or
/// message from outside the members, or made for another channel (PROTOCOL.md §12.1).
fn rejections() -> Value {
    let alice = identity("alice identity");
    let bob = identity("bob identity");
    let mallory = identity("mallory identity");
    let certificate =
        |identity: &IdentityKeyPair, user: &str, device_id: &str, keys: &DeviceKeys| {
            let request =
                DeviceCertificateRequest::new(user, device_id, identity.public_key(), keys)
                    .unwrap();
            identity.certify(&request).unwrap()
        };
    let alice_laptop = device("alice laptop");
    let bob_phone = device("bob phone");
    let mallory_phone = device("mallory phone");
    let alice_laptop_cert = certificate(&alice, USER_ALICE, DEVICE_ALICE_LAPTOP, &alice_laptop);
    let bob_phone_cert = certificate(&bob, USER_BOB, DEVICE_BOB_PHONE, &bob_phone);
    let bob_tablet_cert = certificate(&bob, USER_BOB, DEVICE_BOB_TABLET, &device("bob tablet"));
    let mallory_cert = certificate(&mallory, USER_MALLORY, DEVICE_MALLORY, &mallory_phone);
    // Claims to be Alice's, certified by Mallory's identity: it does not verify.
    let rogue_cert = certificate(&mallory, USER_ALICE, DEVICE_ALICE_ROGUE, &device("rogue"));

    let epoch_key = EpochKey::from_bytes(&fixed("epoch key 7"));
    let wrap = |key: &EpochKey, channel: &str, sender_id: &str, sender: &DeviceKeys| {
        let ephemeral = EphemeralKeyPair::from_secret(
            SecretScalar::from_bytes(&fixed("ephemeral key")).unwrap(),
        )
        .unwrap();
        key.wrap_with(
            &WrapHeader {
                channel_id: channel,
                epoch: 7,
                sender_device: sender_id,
                recipient_device: DEVICE_BOB_PHONE,
            },
            sender,
            &bob_phone.public_keys().agreement,
            &ephemeral,
            &fixed_nonce("wrap nonce"),
        )
        .unwrap()
    };
    let from_alice = wrap(&epoch_key, CHANNEL, DEVICE_ALICE_LAPTOP, &alice_laptop);
    let for_other_channel = wrap(
        &epoch_key,
        OTHER_CHANNEL,
        DEVICE_ALICE_LAPTOP,
        &alice_laptop,
    );
    let mut epoch_changed = from_alice.clone();
    epoch_changed.epoch = 8;
    let mallory_key = EpochKey::from_bytes(&fixed("mallory epoch key"));
    let from_mallory = wrap(&mallory_key, CHANNEL, DEVICE_MALLORY, &mallory_phone);

    let envelope = |channel: &str, sender_id: &str, sender: &DeviceKeys, key: &EpochKey| {
        let header = MessageHeader {
            channel_id: channel.into(),
            epoch: 7,
            sender_device: sender_id.into(),
            client_msg_id: "5b7e1c2a-3d4f-4a6b-8c9d-0e1f2a3b4c5d".into(),
            order: None,
        };
        let padded = pad(&MessageContent::text("Réunion jeudi.").to_json().unwrap()).unwrap();
        Envelope::seal_with(header, &padded, key, sender, &fixed_nonce("message nonce")).unwrap()
    };
    let sealed = envelope(CHANNEL, DEVICE_ALICE_LAPTOP, &alice_laptop, &epoch_key);
    let sealed_other = envelope(
        OTHER_CHANNEL,
        DEVICE_ALICE_LAPTOP,
        &alice_laptop,
        &epoch_key,
    );
    let mut sealed_epoch_changed = sealed.clone();
    sealed_epoch_changed.epoch = 6;
    let sealed_mallory = envelope(CHANNEL, DEVICE_MALLORY, &mallory_phone, &mallory_key);

    let target = |user: &str, device: &str| json!({ "user_id": user, "device_id": device });
    let members_devices = vec![
        target(USER_ALICE, DEVICE_ALICE_LAPTOP),
        target(USER_BOB, DEVICE_BOB_PHONE),
        target(USER_BOB, DEVICE_BOB_TABLET),
        target(USER_ALICE, DEVICE_ALICE_ROGUE),
    ];
    let with = |extra: Value| {
        let mut list = members_devices.clone();
        list.push(extra);
        list
    };
    json!({
        "description": "What a client refuses although every signature is valid (PROTOCOL.md §12.1). Build a roster of `members` with `devices` (each admitted when its owner is a member and its certificate verifies under `identities[owner]`), then: plan each `epoch_plans` entry; for each `wraps` entry check the roster (sender, channel, recipient) and then unwrap with Bob's phone; for each `envelopes` entry check the roster (given the sender device's certificate from `devices` when it verifies under `identities[sender]`, and `newest_epoch`, the newest epoch key held) and then open with `epoch_key_hex`. `refused` is the expected code: `not_member`, `unknown_device`, `wrong_channel` from the roster, `rejected` from the cryptography (signature, decryption, commitment); `null` means accepted.",
        "channel_id": CHANNEL,
        "members": [USER_ALICE, USER_BOB],
        "identities": {
            USER_ALICE: alice.public_key(),
            USER_BOB: bob.public_key(),
            USER_MALLORY: mallory.public_key(),
        },
        "devices": [
            { "owner": USER_ALICE, "certificate": alice_laptop_cert, "revoked": false },
            { "owner": USER_BOB, "certificate": bob_phone_cert, "revoked": false },
            { "owner": USER_BOB, "certificate": bob_tablet_cert, "revoked": true },
            { "owner": USER_ALICE, "certificate": rogue_cert, "revoked": false },
            { "owner": USER_MALLORY, "certificate": mallory_cert, "revoked": false },
        ],
        "recipient": {
            "device_id": DEVICE_BOB_PHONE,
            "signing_private_key_hex": to_hex(&fixed("bob phone signing")),
            "agreement_private_key_hex": to_hex(&fixed("bob phone agreement")),
            "public_keys": bob_phone.public_keys(),
        },
        "epoch_key_hex": to_hex(&fixed("epoch key 7")),
        "epoch_plans": [
            {
                "why": "the members' devices: wrap the live verified ones, withhold the revoked one and the one whose certificate does not verify",
                "requested": members_devices,
                "refused": null,
                "wrap": [DEVICE_ALICE_LAPTOP, DEVICE_BOB_PHONE],
                "withheld": [
                    { "device_id": DEVICE_BOB_TABLET, "reason": "revoked_device" },
                    { "device_id": DEVICE_ALICE_ROGUE, "reason": "unverified_device" },
                ],
            },
            { "why": "a device of a non-member (a ghost)", "requested": with(target(USER_MALLORY, DEVICE_MALLORY)), "refused": "not_member" },
            { "why": "a device no member has, listed for a member", "requested": with(target(USER_BOB, DEVICE_GHOST)), "refused": "unknown_device" },
            { "why": "a member's device listed for another member", "requested": with(target(USER_ALICE, DEVICE_BOB_PHONE)), "refused": "unknown_device" },
        ],
        "wraps": [
            { "why": "from a member, for this channel", "delivered_in": CHANNEL, "wrapped": from_alice, "refused": null },
            { "why": "delivered in another channel", "delivered_in": OTHER_CHANNEL, "wrapped": from_alice, "refused": "wrong_channel" },
            { "why": "made for another channel", "delivered_in": CHANNEL, "wrapped": for_other_channel, "refused": "wrong_channel" },
            { "why": "its epoch changed", "delivered_in": CHANNEL, "wrapped": epoch_changed, "refused": "rejected" },
            { "why": "from a non-member, validly signed", "delivered_in": CHANNEL, "wrapped": from_mallory, "refused": "not_member" },
        ],
        "envelopes": [
            { "why": "from a member, for this channel", "delivered_in": CHANNEL, "sender": USER_ALICE, "newest_epoch": 7, "envelope": sealed, "refused": null, "text": "Réunion jeudi." },
            { "why": "delivered in another channel", "delivered_in": OTHER_CHANNEL, "sender": USER_ALICE, "newest_epoch": 7, "envelope": sealed, "refused": "wrong_channel" },
            { "why": "made for another channel", "delivered_in": CHANNEL, "sender": USER_ALICE, "newest_epoch": 7, "envelope": sealed_other, "refused": "wrong_channel" },
            { "why": "its epoch changed", "delivered_in": CHANNEL, "sender": USER_ALICE, "newest_epoch": 7, "envelope": sealed_epoch_changed, "refused": "rejected" },
            { "why": "presented as another member's", "delivered_in": CHANNEL, "sender": USER_BOB, "newest_epoch": 7, "envelope": sealed, "refused": "unknown_device" },
            { "why": "from a non-member, in the newest epoch", "delivered_in": CHANNEL, "sender": USER_MALLORY, "newest_epoch": 7, "envelope": sealed_mallory, "refused": "not_member" },
        ],
    })
}

/// The sender's clock in the order vectors (ms): 2025-12-06T05:46:40Z.
const ORDER_T: u64 = 1_765_000_000_000;

/// Version-2 envelopes (PROTOCOL.md §8.7) and the order checks on runs of them (§8.8).
fn message_order() -> Value {
    let alice = device("alice laptop");
    let bob = device("bob phone");
    let epoch_key = EpochKey::from_bytes(&fixed("epoch key 7"));
    let seal =
        |sender_id: &str, keys: &DeviceKeys, id: &str, order: Option<MessageOrder>, text: &str| {
            let header = MessageHeader {
                channel_id: CHANNEL.into(),
                epoch: 7,
                sender_device: sender_id.into(),
                client_msg_id: id.into(),
                order,
            };
            let padded = pad(&MessageContent::text(text).to_json().unwrap()).unwrap();
            let nonce = fixed_nonce(&format!("order nonce {id}"));
            Envelope::seal_with(header, &padded, &epoch_key, keys, &nonce).unwrap()
        };
    // Alice's laptop: counters 1 to 4, chained; another envelope at counter 2; a
    // version-1 envelope. Bob's phone: its first.
    let mut chain: Vec<(&str, Envelope)> = Vec::new();
    let mut prev = [0u8; 32];
    for counter in 1..=4u64 {
        let order = MessageOrder {
            counter,
            prev,
            sent_at: ORDER_T + counter * 1000,
        };
        let id = format!("a1000000-0000-4000-8000-00000000000{counter}");
        let envelope = seal(
            DEVICE_ALICE_LAPTOP,
            &alice,
            &id,
            Some(order),
            &format!("Message {counter}"),
        );
        prev = envelope.order_hash();
        chain.push((["a1", "a2", "a3", "a4"][counter as usize - 1], envelope));
    }
    let a2_other = seal(
        DEVICE_ALICE_LAPTOP,
        &alice,
        "a1000000-0000-4000-8000-0000000000f2",
        Some(MessageOrder {
            counter: 2,
            prev: chain[0].1.order_hash(),
            sent_at: ORDER_T + 2000,
        }),
        "Un autre message 2",
    );
    chain.push(("a2_other", a2_other));
    let v1 = seal(
        DEVICE_ALICE_LAPTOP,
        &alice,
        "a1000000-0000-4000-8000-0000000000a0",
        None,
        "Version 1",
    );
    chain.push(("a_v1", v1));
    let b1 = seal(
        DEVICE_BOB_PHONE,
        &bob,
        "b1000000-0000-4000-8000-000000000001",
        Some(MessageOrder {
            counter: 1,
            prev: [0; 32],
            sent_at: ORDER_T + 1500,
        }),
        "Bonjour",
    );
    chain.push(("b1", b1));
    let by_name = |name: &str| chain.iter().find(|(n, _)| *n == name).unwrap().1.clone();

    let first = by_name("a1");
    let v2_vector = json!({
        "epoch_key_hex": to_hex(&fixed("epoch key 7")),
        "sender_signing_private_key_hex": to_hex(&fixed("alice laptop signing")),
        "sender_signing_public_key": alice.public_keys().signing,
        "content_json_hex": to_hex(&MessageContent::text("Message 1").to_json().unwrap()),
        "nonce_hex": to_hex(&fixed_nonce("order nonce a1000000-0000-4000-8000-000000000001")),
        "additional_data_hex": to_hex(&first.additional_data()),
        "message_key_hex": to_hex(&message_key(&epoch_key, &first.additional_data()).unwrap()[..]),
        "signed_bytes_hex": to_hex(&first.signed_bytes()),
        "order_hash_hex": to_hex(&first.order_hash()),
        "envelope": first,
    });

    let mark = |name: &str, counter: u64, seq: u64| json!({ "counter": counter, "hash": to_base64url(&by_name(name).order_hash()), "seq": seq });
    let missing_mark = |name: &str, counter: u64, seq: u64, missing: &[u64]| {
        let mut m = mark(name, counter, seq);
        if !missing.is_empty() {
            m["missing"] = json!(missing);
        }
        m
    };
    // (why, marks of alice's laptop, run as (seq, envelope name, ts offset), reaches_end, follows_marks)
    type Case<'a> = (&'a str, Option<Value>, Vec<(u64, &'a str, u64)>, bool, bool);
    let skew = 10 * 60 * 1000;
    let cases: Vec<Case> = vec![
        (
            "every sender in order",
            None,
            vec![(1, "a1", 0), (2, "b1", 0), (3, "a2", 0), (4, "a3", 0)],
            true,
            false,
        ),
        (
            "a message missing between two",
            None,
            vec![(1, "a1", 0), (2, "a3", 0)],
            true,
            false,
        ),
        (
            "an old envelope served again",
            None,
            vec![(1, "a1", 0), (2, "a2", 0), (3, "a1", 0)],
            true,
            false,
        ),
        (
            "another envelope with a counter already seen",
            None,
            vec![(1, "a1", 0), (2, "a2", 0), (3, "a2_other", 0)],
            true,
            false,
        ),
        (
            "the next counter names another previous envelope",
            None,
            vec![(1, "a1", 0), (2, "a2_other", 0), (3, "a3", 0)],
            true,
            false,
        ),
        (
            "a message served after a later one",
            None,
            vec![(1, "a1", 0), (2, "a3", 0), (3, "a2", 0)],
            true,
            false,
        ),
        (
            "a version-1 envelope after version 2",
            None,
            vec![(1, "a1", 0), (2, "a_v1", 0)],
            true,
            false,
        ),
        (
            "a version-1 envelope before version 2 is history",
            None,
            vec![(1, "a_v1", 0), (2, "a1", 0)],
            true,
            false,
        ),
        (
            "the newest message dropped after a reload",
            Some(mark("a3", 3, 3)),
            vec![(1, "a1", 0), (2, "a2", 0)],
            true,
            false,
        ),
        (
            "history rolled back below the page after a reload",
            Some(mark("a4", 4, 10)),
            vec![(1, "a1", 0), (2, "a2", 0)],
            true,
            false,
        ),
        (
            "an old envelope served again after a reload",
            Some(mark("a2", 2, 2)),
            vec![(5, "a1", 0)],
            true,
            false,
        ),
        (
            "another envelope in the place of the one seen before a reload",
            Some(mark("a2", 2, 2)),
            vec![(1, "a1", 0), (2, "a2_other", 0)],
            true,
            false,
        ),
        (
            "a page after an old mark proves nothing about the messages in between",
            Some(mark("a1", 1, 1)),
            vec![(7, "a3", 0)],
            true,
            false,
        ),
        (
            "a reader of every message sees the gap after its mark",
            Some(mark("a1", 1, 1)),
            vec![(2, "a3", 0)],
            false,
            true,
        ),
        (
            "a reader of every message: the next one follows",
            Some(mark("a1", 1, 1)),
            vec![(2, "a2", 0)],
            false,
            true,
        ),
        (
            "a reader of every message: one found missing, served later, is out of order",
            Some(missing_mark("a3", 3, 2, &[2])),
            vec![(3, "a2", 0)],
            false,
            true,
        ),
        (
            "a reader of every message: one never missing, served again, is a replay",
            Some(missing_mark("a3", 3, 2, &[])),
            vec![(3, "a2", 0)],
            false,
            true,
        ),
        (
            "a sender clock far from the server's date",
            None,
            vec![(1, "a1", skew)],
            true,
            false,
        ),
    ];
    let cases: Vec<Value> = cases
        .into_iter()
        .map(|(why, alice_mark, run, reaches_end, follows_marks)| {
            let mut marks = std::collections::BTreeMap::new();
            if let Some(m) = &alice_mark {
                let m: OrderMark = serde_json::from_value(m.clone()).unwrap();
                marks.insert(DEVICE_ALICE_LAPTOP.to_owned(), m);
            }
            let arrivals: Vec<Arrival> = run
                .iter()
                .map(|(seq, name, offset)| {
                    let envelope = by_name(name);
                    let ts = envelope.order.map_or(ORDER_T, |o| o.sent_at) + offset;
                    Arrival::of(&envelope, *seq, ts)
                })
                .collect();
            let report = check_order(&marks, &arrivals, reaches_end, follows_marks);
            let notices: Vec<Value> = report
                .notices
                .iter()
                .map(|n| {
                    let mut v = json!({ "seq": n.seq, "sender_device": n.sender_device, "code": n.anomaly.code() });
                    match n.anomaly {
                        OrderAnomaly::Missing { count } => v["count"] = count.into(),
                        OrderAnomaly::ClockSkew { sent_at } => v["sent_at"] = sent_at.into(),
                        _ => {}
                    }
                    v
                })
                .collect();
            json!({
                "why": why,
                "marks": alice_mark.map_or(json!({}), |m| json!({ DEVICE_ALICE_LAPTOP: m })),
                "run": arrivals.iter().zip(&run).map(|(a, (_, name, _))| json!({ "seq": a.seq, "ts": a.ts, "envelope": name })).collect::<Vec<_>>(),
                "reaches_end": reaches_end,
                "follows_marks": follows_marks,
                "notices": notices,
                "marks_after": report.marks,
            })
        })
        .collect();
    json!({
        "description": "Version-2 envelopes (PROTOCOL.md §8.7) and the order a receiver checks (§8.8). `envelopes` are real, signed by the devices of device_certificate.json; each case gives the marks kept before, a run in the server's order (an envelope by name, the server's seq and ts), and the notices and marks that MUST result.",
        "clock_tolerance_ms": super::order::CLOCK_TOLERANCE_MS,
        "envelope_v2": v2_vector,
        "senders": {
            DEVICE_ALICE_LAPTOP: alice.public_keys().signing,
            DEVICE_BOB_PHONE: bob.public_keys().signing,
        },
        "envelopes": chain.iter().map(|(name, e)| (name.to_string(), json!({ "envelope": e, "order_hash": to_base64url(&e.order_hash()) }))).collect::<serde_json::Map<String, Value>>(),
        "cases": cases,
    })
}

/// Base32 (Crockford) of the code bytes, zero-padded to whole characters, independent
/// of RecoveryCode's own encoder so the vector cross-checks it.
fn encode_code(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut bits = String::new();
    for byte in bytes {
        bits.push_str(&format!("{byte:08b}"));
    }
    while !bits.len().is_multiple_of(5) {
        bits.push('0');
    }
    bits.as_bytes()
        .chunks(5)
        .map(|chunk| {
            let value = u8::from_str_radix(std::str::from_utf8(chunk).unwrap(), 2).unwrap();
            char::from(ALPHABET[value as usize])
        })
        .collect()
}

/// Signed prekeys (PROTOCOL.md §23) and an epoch key wrapped to one.
fn signed_prekey() -> Value {
    let alice = identity("alice identity");
    let laptop = device("alice laptop");
    let request =
        DeviceCertificateRequest::new(USER_ALICE, DEVICE_ALICE_LAPTOP, alice.public_key(), &laptop)
            .unwrap();
    let certificate = alice.certify(&request).unwrap();
    let agreement = AgreementKeyPair::from_private_bytes(&fixed("alice laptop prekey 2")).unwrap();
    let created_at = 1_780_000_000_000u64;
    let prekey = SignedPrekey::new(
        USER_ALICE,
        DEVICE_ALICE_LAPTOP,
        2,
        created_at,
        &agreement,
        &laptop,
    )
    .unwrap();
    prekey.verify(&certificate).unwrap();

    // Bob's phone wraps epoch 8 to the laptop's prekey.
    let sender = device("bob phone");
    let epoch_key = EpochKey::from_bytes(&fixed("epoch key 8"));
    let ephemeral = EphemeralKeyPair::from_secret(
        SecretScalar::from_bytes(&fixed("prekey ephemeral")).unwrap(),
    )
    .unwrap();
    let header = WrapHeader {
        channel_id: CHANNEL,
        epoch: 8,
        sender_device: DEVICE_BOB_PHONE,
        recipient_device: DEVICE_ALICE_LAPTOP,
    };
    let wrapped = epoch_key
        .wrap_with(
            &header,
            &sender,
            &prekey.agreement,
            &ephemeral,
            &fixed_nonce("prekey wrap nonce"),
        )
        .unwrap();
    assert!(wrapped.decrypt(&laptop).is_err());

    let mut older = prekey.clone();
    older.serial = 1;
    let mut moved = prekey.clone();
    moved.device_id = DEVICE_BOB_PHONE.into();
    let mut swapped = prekey.clone();
    swapped.agreement = device("rogue").public_keys().agreement.clone();
    let mut by_identity = prekey.clone();
    by_identity.signature = alice.sign(&prekey.signed_bytes()).unwrap();
    let mut unsigned = prekey.clone();
    unsigned.signature = crate::crypto::Signature::from_bytes([0; 64]);

    json!({
        "description": "Signed prekeys (PROTOCOL.md §23): a device's rotating agreement key, signed by its device signing key, and an epoch key wrapped to it (§7.3 with the prekey as A_R). ECDSA is randomised: check that signed_bytes are equal and that the recorded signature verifies under the certificate's signing key; every `invalid` prekey MUST be refused.",
        "certificate": certificate,
        "prekey_private_key_hex": to_hex(&fixed("alice laptop prekey 2")),
        "prekey": prekey,
        "signed_bytes_hex": to_hex(&prekey.signed_bytes()),
        "wrap": {
            "epoch_key_hex": to_hex(&fixed("epoch key 8")),
            "sender_public_keys": sender.public_keys(),
            "wrapped": wrapped,
            "opens_with_certificate_key": false,
        },
        "invalid": [
            { "why": "serial changed (an older prekey presented as this one)", "prekey": older },
            { "why": "device_id changed", "prekey": moved },
            { "why": "agreement key swapped", "prekey": swapped },
            { "why": "signed by the identity key, not the device key", "prekey": by_identity },
            { "why": "unsigned", "prekey": unsigned },
        ],
    })
}

/// The key transparency log (§25): seven entries (Alice's first identity and laptop, Bob's
/// identity and phone, the laptop revoked, Alice's new identity and tablet), their bytes
/// and leaves, the root of every prefix, every inclusion and consistency proof, a signed
/// checkpoint, and proofs and checkpoints that MUST be refused.
fn key_log() -> Value {
    use super::keylog::{Checkpoint, KeyLogEntry, KeyLogKind, LoggedDevice};
    use super::merkle;
    use base64::Engine;
    use ring::signature::{Ed25519KeyPair, KeyPair};
    let b64 = base64::engine::general_purpose::STANDARD;
    let alice = identity("alice identity");
    let alice_new = identity("alice new identity");
    let bob = identity("bob identity");
    let laptop = device("alice laptop");
    let tablet = device("alice tablet");
    let phone = device("bob phone");
    const DEVICE_ALICE_TABLET: &str = "5a7c9e1b-3d5f-4a2c-8e6b-0d1f2a3b4c5d";
    let entry =
        |kind, user: &str, identity: &IdentityKeyPair, device: Option<(&str, &DeviceKeys)>| {
            KeyLogEntry {
                kind,
                user_id: user.to_owned(),
                identity_key: identity.public_key().clone(),
                device: device.map(|(id, keys)| LoggedDevice {
                    device_id: id.to_owned(),
                    keys: keys.public_keys().clone(),
                }),
            }
        };
    let entries = [
        entry(KeyLogKind::Identity, USER_ALICE, &alice, None),
        entry(
            KeyLogKind::DeviceAdded,
            USER_ALICE,
            &alice,
            Some((DEVICE_ALICE_LAPTOP, &laptop)),
        ),
        entry(KeyLogKind::Identity, USER_BOB, &bob, None),
        entry(
            KeyLogKind::DeviceAdded,
            USER_BOB,
            &bob,
            Some((DEVICE_BOB_PHONE, &phone)),
        ),
        entry(
            KeyLogKind::DeviceRevoked,
            USER_ALICE,
            &alice,
            Some((DEVICE_ALICE_LAPTOP, &laptop)),
        ),
        entry(KeyLogKind::Identity, USER_ALICE, &alice_new, None),
        entry(
            KeyLogKind::DeviceAdded,
            USER_ALICE,
            &alice_new,
            Some((DEVICE_ALICE_TABLET, &tablet)),
        ),
    ];
    let leaves: Vec<merkle::Hash> = entries.iter().map(KeyLogEntry::leaf_hash).collect();
    let hexes = |proof: &[merkle::Hash]| proof.iter().map(|h| to_hex(h)).collect::<Vec<_>>();
    let n = leaves.len();
    let mut inclusion = Vec::new();
    let mut consistency = Vec::new();
    for size in 1..=n {
        for index in 0..size {
            let proof = merkle::inclusion_proof(index, &leaves[..size]).unwrap();
            inclusion.push(json!({ "index": index, "size": size, "proof_hex": hexes(&proof) }));
        }
        for from in 1..=size {
            let proof = merkle::consistency_proof(from, &leaves[..size]).unwrap();
            consistency.push(json!({ "from": from, "to": size, "proof_hex": hexes(&proof) }));
        }
    }
    let roots: Vec<String> = (0..=n)
        .map(|size| to_hex(&merkle::root(&leaves[..size])))
        .collect();

    // The checkpoint, signed as a C2SP note with an Ed25519 key (deterministic).
    let origin = "passerelle.example/keys";
    let key = Ed25519KeyPair::from_seed_unchecked(&fixed("key log")).unwrap();
    let public = key.public_key().as_ref().to_vec();
    let mut hash_input = format!("{origin}\n").into_bytes();
    hash_input.push(0x01);
    hash_input.extend_from_slice(&public);
    let key_hash = sha256(&hash_input)[..4].to_vec();
    let mut typed = vec![0x01];
    typed.extend_from_slice(&public);
    let verifier = format!("{origin}+{}+{}", to_hex(&key_hash), b64.encode(&typed));
    let sign = |body: &str| {
        let mut bytes = key_hash.clone();
        bytes.extend_from_slice(key.sign(body.as_bytes()).as_ref());
        format!("{body}\n\u{2014} {origin} {}\n", b64.encode(bytes))
    };
    let body = Checkpoint {
        origin: origin.into(),
        size: n as u64,
        root: merkle::root(&leaves),
    }
    .to_text();
    let note = sign(&body);
    // A log key whose base64 holds a '+', the separator of verifier keys: parsers must
    // split the verifier key twice only.
    let plus = (0..)
        .map(|i| {
            let key = Ed25519KeyPair::from_seed_unchecked(&fixed(&format!("key log {i}"))).unwrap();
            let public = key.public_key().as_ref().to_vec();
            let mut hash_input = format!("{origin}\n").into_bytes();
            hash_input.push(0x01);
            hash_input.extend_from_slice(&public);
            let key_hash = sha256(&hash_input)[..4].to_vec();
            let mut typed = vec![0x01];
            typed.extend_from_slice(&public);
            (key, key_hash, b64.encode(&typed))
        })
        .find(|(_, _, typed)| typed.contains('+'))
        .unwrap();
    let plus_note = {
        let mut bytes = plus.1.clone();
        bytes.extend_from_slice(plus.0.sign(body.as_bytes()).as_ref());
        format!("{body}\n\u{2014} {origin} {}\n", b64.encode(bytes))
    };
    let plus_verifier = format!("{origin}+{}+{}", to_hex(&plus.1), plus.2);
    let other_root = Checkpoint {
        origin: origin.into(),
        size: n as u64,
        root: merkle::root(&leaves[..n - 1]),
    }
    .to_text();
    let other_origin = Checkpoint {
        origin: "passerelle.example/audit".into(),
        size: n as u64,
        root: merkle::root(&leaves),
    }
    .to_text();
    let forged_signature = note.replacen(&format!("\n{}\n", n), &format!("\n{}\n", n - 1), 1);

    let bad_hash = |proof: &[merkle::Hash]| {
        let mut proof = hexes(proof);
        proof[0] = to_hex(&sha256(b"not a node"));
        proof
    };
    let proof_3_7 = merkle::inclusion_proof(3, &leaves).unwrap();
    let cons_4_7 = merkle::consistency_proof(4, &leaves).unwrap();
    json!({
        "description": "Key transparency log (PROTOCOL.md §25): entry bytes CB(\"passerelle/v1/key-log-entry\", kind, user_id, identity_key, device_id, signing, agreement), leaves SHA-256(0x00 ‖ bytes), RFC 6962 roots and proofs (hex), a checkpoint signed as a C2SP note",
        "entries": entries.iter().zip(&leaves).map(|(e, leaf)| json!({
            "entry": e,
            "bytes_hex": to_hex(&e.to_bytes()),
            "leaf_hash_hex": to_hex(leaf),
        })).collect::<Vec<_>>(),
        "roots_hex": roots,
        "inclusion": inclusion,
        "consistency": consistency,
        "checkpoint": {
            "verifier_key": verifier,
            "body": body,
            "note": note,
            "size": n,
            "root_hex": to_hex(&merkle::root(&leaves)),
        },
        "checkpoint_key_with_plus": {
            "verifier_key": plus_verifier,
            "note": plus_note,
        },
        "rejected_checkpoints": [
            { "why": "another root, the signature of the real one", "note": format!("{other_root}{}", &note[body.len()..]) },
            { "why": "the size changed after signing", "note": forged_signature },
            { "why": "another log's origin, validly signed by the same key", "note": sign(&other_origin) },
            { "why": "no signature line", "note": format!("{body}\n") },
        ],
        "rejected_inclusion": [
            { "why": "a proof hash changed", "index": 3, "size": n, "proof_hex": bad_hash(&proof_3_7) },
            { "why": "the proof of another index", "index": 2, "size": n, "proof_hex": hexes(&proof_3_7) },
            { "why": "a hash missing", "index": 3, "size": n, "proof_hex": hexes(&proof_3_7[..proof_3_7.len() - 1]) },
            { "why": "an index outside the tree", "index": n, "size": n, "proof_hex": hexes(&proof_3_7) },
        ],
        "rejected_consistency": [
            { "why": "a proof hash changed", "from": 4, "to": n, "proof_hex": bad_hash(&cons_4_7) },
            { "why": "the proof of another size", "from": 3, "to": n, "proof_hex": hexes(&cons_4_7) },
            { "why": "an old root that is not a prefix (a rewritten entry)", "from": 4, "to": n, "proof_hex": hexes(&cons_4_7), "old_root_hex": to_hex(&merkle::root(&leaves[1..5])) },
        ],
    })
}

/// Every vector, by file name.
fn all_vectors() -> Vec<(&'static str, Value)> {
    vec![
        ("encoding", encoding()),
        ("device_certificate", device_certificate()),
        ("fingerprint", fingerprint()),
        ("epoch_wrap", epoch_wrap()),
        ("message_envelope", message_envelope()),
        ("padding", padding()),
        ("attachment", attachment()),
        ("key_backup", key_backup()),
        ("key_backup_pages", key_backup_pages()),
        ("rejections", rejections()),
        ("message_order", message_order()),
        ("membership_log", super::membership_log::tests::vectors()),
        ("signed_prekey", signed_prekey()),
        ("key_log", key_log()),
    ]
}

/// Drops the fields that ring randomises (ECDSA signatures), recursively.
fn without_signatures(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| !key.contains("signature"))
                .map(|(key, value)| (key.clone(), without_signatures(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_signatures).collect()),
        other => other.clone(),
    }
}

/// The stored vectors are what this generator produces, signatures aside; with
/// `PASSERELLE_WRITE_VECTORS` set, the generator rewrites them instead.
#[test]
fn the_stored_vectors_are_what_the_generator_produces() {
    let rewrite = std::env::var("PASSERELLE_WRITE_VECTORS").is_ok();
    for (name, generated) in all_vectors() {
        if rewrite {
            write(name, &generated);
            continue;
        }
        let path = format!("{}/vectors/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let stored: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            without_signatures(&stored),
            without_signatures(&generated),
            "{name}.json is stale"
        );
    }
}

#[test]
fn fixed_inputs_are_valid_scalars() {
    for name in [
        "alice identity",
        "bob identity",
        "alice laptop signing",
        "bob phone agreement",
        "ephemeral key",
        "mallory identity",
        "mallory phone signing",
        "mallory phone agreement",
        "bob tablet signing",
        "bob tablet agreement",
        "rogue signing",
        "rogue agreement",
        "alice laptop prekey 2",
        "prekey ephemeral",
        "alice new identity",
        "alice tablet signing",
        "alice tablet agreement",
    ] {
        assert!(SecretScalar::from_bytes(&fixed(name)).is_ok(), "{name}");
    }
}
