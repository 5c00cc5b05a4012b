//! Fingerprints that people compare ([PROTOCOL.md §6]).
//!
//! - [`Fingerprint`]: 60 digits derived from a user's identity public key and user id,
//!   compared in person (or by scanning its QR code) to verify a colleague. A server
//!   that substituted someone's identity key changes their fingerprint.
//! - [`DeviceLinkCode`]: 20 digits derived from a new device's certificate request,
//!   compared between the new device and the device that admits it, so that the server
//!   relaying the request cannot replace its keys.
//!
//! [PROTOCOL.md §6]: ../../../docs/PROTOCOL.md#6-fingerprints-and-link-codes

use std::fmt;

use ring::digest::{digest, Context, SHA256};

use super::device::DeviceCertificateRequest;
use super::encoding::{label, to_base64url, CanonicalBytes};
use super::keys::IdentityPublicKey;

/// How many times the fingerprint hash is iterated (as in Signal's safety numbers): it
/// makes searching for a key whose fingerprint resembles another's expensive.
pub const FINGERPRINT_ITERATIONS: usize = 5200;

/// Prefix of a fingerprint's QR payload.
const FINGERPRINT_QR_PREFIX: &str = "passerelle:fp:v1:";
/// Prefix of a device link code's QR payload.
const LINK_QR_PREFIX: &str = "passerelle:link:v1:";

/// Five digits per five bytes: each 40-bit big-endian chunk modulo 100 000.
fn digits_of(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.chunks_exact(5) {
        let value = chunk
            .iter()
            .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
        out.push_str(&format!("{:05}", value % 100_000));
    }
    out
}

/// Splits a digit string into groups of five, separated by spaces.
fn grouped(digits: &str) -> String {
    let groups: Vec<&str> = digits
        .as_bytes()
        .chunks(5)
        .filter_map(|group| std::str::from_utf8(group).ok())
        .collect();
    groups.join(" ")
}

/// A user's 60-digit fingerprint (12 groups of 5 digits) and its QR payload.
#[derive(Clone, PartialEq, Eq)]
pub struct Fingerprint {
    user_id: String,
    digits: String,
}

impl Fingerprint {
    /// Computes the fingerprint of `user_id` holding `identity` ([PROTOCOL.md §6.1]).
    pub fn new(identity: &IdentityPublicKey, user_id: &str) -> Self {
        let seed = CanonicalBytes::new(label::FINGERPRINT)
            .field(identity.as_bytes())
            .field(user_id.as_bytes())
            .finish();
        let iterate = |previous: &[u8]| {
            let mut context = Context::new(&SHA256);
            context.update(previous);
            context.update(identity.as_bytes());
            context.finish()
        };
        let mut hash = digest(&SHA256, &seed);
        for _ in 0..FINGERPRINT_ITERATIONS {
            hash = iterate(hash.as_ref());
        }
        let next = iterate(hash.as_ref());
        let mut digits = digits_of(hash.as_ref().get(..30).unwrap_or_default());
        digits.push_str(&digits_of(next.as_ref().get(..30).unwrap_or_default()));
        Self {
            user_id: user_id.to_owned(),
            digits,
        }
    }

    /// The 60 digits, without separators.
    pub fn digits(&self) -> &str {
        &self.digits
    }

    /// The text encoded in the fingerprint's QR code:
    /// `passerelle:fp:v1:<base64url(user id)>:<60 digits>`.
    pub fn qr_payload(&self) -> String {
        format!(
            "{FINGERPRINT_QR_PREFIX}{}:{}",
            to_base64url(self.user_id.as_bytes()),
            self.digits
        )
    }

    /// Whether a scanned QR payload is exactly this fingerprint's.
    pub fn matches_qr_payload(&self, scanned: &str) -> bool {
        scanned == self.qr_payload()
    }
}

/// Twelve groups of five digits separated by spaces, as users read them aloud.
impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&grouped(&self.digits))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({:?}: {self})", self.user_id)
    }
}

/// The code a new device and the admitting device both display while linking
/// ([PROTOCOL.md §6.2]): 20 digits (4 groups of 5) and a QR payload carrying the full
/// 32-byte digest.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceLinkCode([u8; 32]);

impl DeviceLinkCode {
    /// Computes the link code of a certificate request for a user whose identity public
    /// key is `identity`. Both devices compute it from what they hold: the new device
    /// from its own request, the admitting device from the request the server relayed
    /// and its own identity key.
    pub fn new(request: &DeviceCertificateRequest, identity: &IdentityPublicKey) -> Self {
        let input = CanonicalBytes::new(label::DEVICE_LINK)
            .field(&request.signed_bytes(identity))
            .finish();
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, &input).as_ref());
        Self(out)
    }

    /// The 20 digits, without separators.
    pub fn digits(&self) -> String {
        digits_of(self.0.get(..20).unwrap_or_default())
    }

    /// The text encoded in the link QR code: `passerelle:link:v1:<base64url(digest)>`.
    pub fn qr_payload(&self) -> String {
        format!("{LINK_QR_PREFIX}{}", to_base64url(&self.0))
    }

    /// Whether a scanned QR payload is exactly this link code's.
    pub fn matches_qr_payload(&self, scanned: &str) -> bool {
        scanned == self.qr_payload()
    }
}

/// Four groups of five digits separated by spaces.
impl fmt::Display for DeviceLinkCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&grouped(&self.digits()))
    }
}

impl fmt::Debug for DeviceLinkCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceLinkCode({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test_support::hex;
    use crate::crypto::{DeviceKeys, IdentityKeyPair};
    use serde_json::Value;

    fn vectors() -> Value {
        serde_json::from_str(include_str!("../../vectors/fingerprint.json")).unwrap()
    }

    #[test]
    fn the_fingerprint_vectors_are_reproduced() {
        for case in vectors()["fingerprints"].as_array().unwrap() {
            let identity: IdentityPublicKey =
                serde_json::from_value(case["identity_public_key"].clone()).unwrap();
            let user_id = case["user_id"].as_str().unwrap();
            let seed = CanonicalBytes::new(label::FINGERPRINT)
                .field(identity.as_bytes())
                .field(user_id.as_bytes())
                .finish();
            assert_eq!(seed, hex(case["seed_hex"].as_str().unwrap()));
            let fingerprint = Fingerprint::new(&identity, user_id);
            assert_eq!(fingerprint.digits(), case["digits"].as_str().unwrap());
            assert_eq!(fingerprint.to_string(), case["display"].as_str().unwrap());
            assert_eq!(
                fingerprint.qr_payload(),
                case["qr_payload"].as_str().unwrap()
            );
        }
    }

    #[test]
    fn the_link_code_vector_is_reproduced() {
        let case = &vectors()["link_code"];
        let identity: IdentityPublicKey =
            serde_json::from_value(case["identity_public_key"].clone()).unwrap();
        let request: DeviceCertificateRequest =
            serde_json::from_value(case["request"].clone()).unwrap();
        let code = DeviceLinkCode::new(&request, &identity);
        assert_eq!(code.0.to_vec(), hex(case["digest_hex"].as_str().unwrap()));
        assert_eq!(code.digits(), case["digits"].as_str().unwrap());
        assert_eq!(code.to_string(), case["display"].as_str().unwrap());
        assert_eq!(code.qr_payload(), case["qr_payload"].as_str().unwrap());
    }

    #[test]
    fn a_fingerprint_has_twelve_groups_of_five_digits() {
        let identity = IdentityKeyPair::generate().unwrap();
        let fingerprint = Fingerprint::new(identity.public_key(), "user-1");
        assert_eq!(fingerprint.digits().len(), 60);
        assert!(fingerprint.digits().bytes().all(|b| b.is_ascii_digit()));
        let display = fingerprint.to_string();
        assert_eq!(display.split(' ').count(), 12);
        assert!(display.split(' ').all(|group| group.len() == 5));
    }

    #[test]
    fn a_substituted_identity_key_changes_the_fingerprint() {
        let real = IdentityKeyPair::generate().unwrap();
        let substitute = IdentityKeyPair::generate().unwrap();
        let expected = Fingerprint::new(real.public_key(), "user-1");
        let shown = Fingerprint::new(substitute.public_key(), "user-1");
        assert_ne!(expected, shown);
        assert!(!expected.matches_qr_payload(&shown.qr_payload()));
        assert!(expected.matches_qr_payload(&expected.qr_payload()));
    }

    #[test]
    fn the_same_key_under_another_user_id_has_another_fingerprint() {
        let identity = IdentityKeyPair::generate().unwrap();
        assert_ne!(
            Fingerprint::new(identity.public_key(), "user-1"),
            Fingerprint::new(identity.public_key(), "user-2")
        );
    }

    #[test]
    fn a_relayed_request_with_replaced_keys_shows_another_link_code() {
        let identity = IdentityKeyPair::generate().unwrap();
        let genuine = DeviceKeys::generate().unwrap();
        let rogue = DeviceKeys::generate().unwrap();
        let shown_on_new_device = DeviceLinkCode::new(
            &DeviceCertificateRequest::new("u", "d", identity.public_key(), &genuine).unwrap(),
            identity.public_key(),
        );
        let computed_by_admitting_device = DeviceLinkCode::new(
            &DeviceCertificateRequest::new("u", "d", identity.public_key(), &rogue).unwrap(),
            identity.public_key(),
        );
        assert_ne!(
            shown_on_new_device.digits(),
            computed_by_admitting_device.digits()
        );
    }
}
