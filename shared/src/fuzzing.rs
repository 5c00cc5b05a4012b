//! Entry points for the fuzzers (`fuzz/`, cargo-fuzz) and for the replay of their corpora
//! in the normal test suite: each takes arbitrary bytes, parses them the way the server
//! does at its edge, and must never panic, whatever the input.
//!
//! Run the fuzzers longer as explained in docs/FUZZING.md.

use crate::crypto::{
    DeviceCertificate, DeviceSigningPublicKey, Envelope, IdentityPublicKey, KeyBackup,
    WrappedEpochKey,
};
use crate::protocol::v1::{admin, auth, channels, keys, ws};

/// A WebSocket text frame from a client, as `ws/session.rs` parses it. A frame that
/// parses must serialise back to a frame that parses to the same value.
pub fn client_frame(data: &[u8]) {
    if let Ok(frame) = serde_json::from_slice::<ws::ClientFrame>(data) {
        let text = serde_json::to_string(&frame).unwrap_or_default();
        let again = serde_json::from_str::<ws::ClientFrame>(&text).ok();
        assert_eq!(
            again.as_ref(),
            Some(&frame),
            "a client frame does not round-trip"
        );
        if let ws::ClientFrame::Send { envelope, .. } = &frame {
            check_envelope(envelope);
        }
    }
}

fn check_envelope(envelope: &Envelope) {
    // The server verifies against the registered device's key: any key will do here.
    if let Ok(key) = DeviceSigningPublicKey::from_base64url(FIXED_POINT) {
        let _ = envelope.verify_signature(&key);
    }
    let _ = envelope.signed_bytes();
    // The order check a receiver runs on it (PROTOCOL.md §8.8).
    let arrival = crate::crypto::Arrival::of(envelope, 1, 0);
    let _ = crate::crypto::check_order(&Default::default(), &[arrival], true, true);
}

/// An uncompressed P-256 point (the generator), valid as any public key.
const FIXED_POINT: &str =
    "BGsX0fLhLEJH-Lzm5WOkQPJ3A32BLeszoPShOUXYmMKWT-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU";

/// An envelope, and its signature check.
pub fn envelope(data: &[u8]) {
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(data) {
        check_envelope(&envelope);
    }
}

/// Key packages: device certificates, wrapped epoch keys, key backups.
pub fn key_package(data: &[u8]) {
    if let Ok(certificate) = serde_json::from_slice::<DeviceCertificate>(data) {
        if let Ok(identity) = IdentityPublicKey::from_base64url(FIXED_POINT) {
            let _ = certificate.verify(&identity);
        }
    }
    if let Ok(wrapped) = serde_json::from_slice::<WrappedEpochKey>(data) {
        if let Ok(key) = DeviceSigningPublicKey::from_base64url(FIXED_POINT) {
            let _ = wrapped.verify_signature(&key);
        }
    }
    let _ = serde_json::from_slice::<KeyBackup>(data);
    let _ = serde_json::from_slice::<keys::RegisterDevice>(data);
    let _ = serde_json::from_slice::<channels::PublishEpoch>(data);
    if let Ok(link) = serde_json::from_slice::<keys::CreateLinkRequest>(data) {
        if let Ok(identity) = IdentityPublicKey::from_base64url(FIXED_POINT) {
            let _ = link.request.verify_self_signature(&identity);
        }
    }
    let _ = serde_json::from_slice::<keys::ApproveLink>(data);
    let _ = serde_json::from_slice::<keys::RewrappedKeys>(data);
}

/// The JSON bodies of the REST API.
pub fn rest_body(data: &[u8]) {
    let _ = serde_json::from_slice::<auth::LoginRequest>(data);
    let _ = serde_json::from_slice::<auth::TotpRequest>(data);
    let _ = serde_json::from_slice::<auth::ChangePasswordRequest>(data);
    let _ = serde_json::from_slice::<admin::CreateAccount>(data);
    let _ = serde_json::from_slice::<admin::UpdateAccount>(data);
    let _ = serde_json::from_slice::<admin::CreateInstitution>(data);
    let _ = serde_json::from_slice::<channels::CreateChannel>(data);
    let _ = serde_json::from_slice::<channels::AddMember>(data);
    let _ = serde_json::from_slice::<channels::RemoveMember>(data);
    let _ = serde_json::from_slice::<keys::PublishIdentity>(data);
    let _ = serde_json::from_slice::<keys::PutKeyBackup>(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::ids::normalise_login(text);
    }
}

/// A fuzz target: bytes in, no panic.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus folder.
pub const TARGETS: [(&str, Target); 4] = [
    ("client_frame", client_frame),
    ("envelope", envelope),
    ("key_package", key_package),
    ("rest_body", rest_body),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays every corpus file of every fuzzer (the seeds and what the fuzzers kept).
    #[test]
    fn the_fuzz_corpora_replay_without_a_panic() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
        let mut replayed = 0;
        for (name, target) in TARGETS {
            let dir = root.join(name);
            let entries = std::fs::read_dir(&dir)
                .unwrap_or_else(|_| panic!("missing corpus {}", dir.display()));
            for entry in entries {
                let data = std::fs::read(entry.unwrap().path()).unwrap();
                target(&data);
                replayed += 1;
            }
        }
        assert!(
            replayed >= TARGETS.len() * 3,
            "only {replayed} corpus files"
        );
    }

    #[test]
    fn the_fixed_point_is_a_valid_public_key() {
        assert!(DeviceSigningPublicKey::from_base64url(FIXED_POINT).is_ok());
    }
}
