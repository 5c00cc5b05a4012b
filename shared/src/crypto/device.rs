//! Device certificates ([PROTOCOL.md §5]).
//!
//! A device is trusted when its certificate carries two signatures over the same
//! canonical body (user id, device id, identity public key, device public keys):
//!
//! - the **self-signature** by the device's own signing key proves that whoever
//!   registers the keys holds the signing key and commits to the identity it joins;
//! - the **identity signature** by the user's identity key admits the device. Only a
//!   holder of the identity private key (an existing device, or a device that restored
//!   the key backup with the recovery code) can make it, so the server cannot add a
//!   device to anyone's account.
//!
//! The flow: the new device builds a [`DeviceCertificateRequest`]; a device holding the
//! identity key checks it (and the link code the user compares, §6.2) and calls
//! [`IdentityKeyPair::certify`]; everyone, the server included, checks the result with
//! [`DeviceCertificate::verify`].
//!
//! [PROTOCOL.md §5]: ../../../docs/PROTOCOL.md#5-device-certificates

use serde::{Deserialize, Serialize};

use super::encoding::{self, check_id, label, CanonicalBytes, Version1};
use super::keys::{DeviceKeys, DevicePublicKeys, IdentityKeyPair, IdentityPublicKey, Signature};
use super::primitives::BackendError;

/// Why a device certificate (or request) was not created or not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// The user id or device id is empty or longer than
    /// [`MAX_ID_LEN`](super::MAX_ID_LEN) bytes.
    #[error("invalid user or device identifier")]
    InvalidId,
    /// The device's signing key is the identity key itself; a device key must be its own.
    #[error("the device signing key is the identity key")]
    IdentityKeyReused,
    /// The device's self-signature does not verify: the keys or ids were altered, or the
    /// certificate names another identity key than the one it is checked against.
    #[error("device self-signature does not verify")]
    BadSelfSignature,
    /// The identity signature does not verify under the user's identity key: the device
    /// was not admitted by this user.
    #[error("identity signature does not verify")]
    BadIdentitySignature,
    /// The system's random number generator or the cryptographic library failed.
    #[error("cryptographic backend failure")]
    Backend,
}

impl From<BackendError> for CertificateError {
    fn from(_: BackendError) -> Self {
        CertificateError::Backend
    }
}

/// The canonical bytes both signatures cover ([PROTOCOL.md §5.1]).
fn certificate_body(
    user_id: &str,
    device_id: &str,
    identity: &IdentityPublicKey,
    keys: &DevicePublicKeys,
) -> Vec<u8> {
    CanonicalBytes::new(label::DEVICE_CERT)
        .field(user_id.as_bytes())
        .field(device_id.as_bytes())
        .field(identity.as_bytes())
        .field(keys.signing.as_bytes())
        .field(keys.agreement.as_bytes())
        .finish()
}

fn check_shape(
    user_id: &str,
    device_id: &str,
    identity: &IdentityPublicKey,
    keys: &DevicePublicKeys,
) -> Result<(), CertificateError> {
    check_id(user_id).map_err(|_| CertificateError::InvalidId)?;
    check_id(device_id).map_err(|_| CertificateError::InvalidId)?;
    if keys.signing.as_bytes() == identity.as_bytes() {
        return Err(CertificateError::IdentityKeyReused);
    }
    Ok(())
}

/// A new device's public keys with its self-signature, waiting for a device that holds
/// the identity key to admit it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceCertificateRequest {
    /// Protocol version, always 1.
    pub v: Version1,
    /// The user the device belongs to.
    #[serde(with = "encoding::id")]
    pub user_id: String,
    /// The device's id, chosen by the device before it signs.
    #[serde(with = "encoding::id")]
    pub device_id: String,
    /// The device's public keys.
    pub keys: DevicePublicKeys,
    /// The device signing key's signature over the certificate body.
    pub self_signature: Signature,
}

impl DeviceCertificateRequest {
    /// Builds and self-signs the request of a new device. `identity` is the identity
    /// public key of the user the device joins.
    pub fn new(
        user_id: &str,
        device_id: &str,
        identity: &IdentityPublicKey,
        device: &DeviceKeys,
    ) -> Result<Self, CertificateError> {
        let keys = device.public_keys().clone();
        check_shape(user_id, device_id, identity, &keys)?;
        let self_signature = device.sign(&certificate_body(user_id, device_id, identity, &keys))?;
        Ok(Self {
            v: Version1,
            user_id: user_id.to_owned(),
            device_id: device_id.to_owned(),
            keys,
            self_signature,
        })
    }

    /// The exact bytes the self-signature (and later the identity signature) cover.
    pub fn signed_bytes(&self, identity: &IdentityPublicKey) -> Vec<u8> {
        certificate_body(&self.user_id, &self.device_id, identity, &self.keys)
    }

    /// Checks the self-signature against the keys in the request and the given identity.
    pub fn verify_self_signature(
        &self,
        identity: &IdentityPublicKey,
    ) -> Result<(), CertificateError> {
        check_shape(&self.user_id, &self.device_id, identity, &self.keys)?;
        self.keys
            .signing
            .verify(&self.signed_bytes(identity), &self.self_signature)
            .map_err(|_| CertificateError::BadSelfSignature)
    }
}

/// A device certificate: the device's keys, its self-signature and its user's identity
/// signature. What the server stores per device and serves to every client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceCertificate {
    /// Protocol version, always 1.
    pub v: Version1,
    /// The user the device belongs to.
    #[serde(with = "encoding::id")]
    pub user_id: String,
    /// The device's id.
    #[serde(with = "encoding::id")]
    pub device_id: String,
    /// The device's public keys.
    pub keys: DevicePublicKeys,
    /// The device signing key's signature over the certificate body.
    pub self_signature: Signature,
    /// The identity key's signature over the same body.
    pub identity_signature: Signature,
}

impl DeviceCertificate {
    /// The exact bytes both signatures cover.
    pub fn signed_bytes(&self, identity: &IdentityPublicKey) -> Vec<u8> {
        certificate_body(&self.user_id, &self.device_id, identity, &self.keys)
    }

    /// Checks both signatures against the user's identity public key: the
    /// self-signature with the certificate's own signing key, then the identity
    /// signature. Needs no secret; the server calls it before registering a device.
    pub fn verify(&self, identity: &IdentityPublicKey) -> Result<(), CertificateError> {
        check_shape(&self.user_id, &self.device_id, identity, &self.keys)?;
        let body = self.signed_bytes(identity);
        self.keys
            .signing
            .verify(&body, &self.self_signature)
            .map_err(|_| CertificateError::BadSelfSignature)?;
        identity
            .verify(&body, &self.identity_signature)
            .map_err(|_| CertificateError::BadIdentitySignature)
    }
}

impl IdentityKeyPair {
    /// Admits a device: checks the request's self-signature, then signs its body with
    /// the identity key.
    ///
    /// Call it only after the user has confirmed that the request's link code
    /// ([`DeviceLinkCode`](super::DeviceLinkCode)) matches the one the new device shows:
    /// the request reached this device through the server, which could have replaced it.
    pub fn certify(
        &self,
        request: &DeviceCertificateRequest,
    ) -> Result<DeviceCertificate, CertificateError> {
        request.verify_self_signature(self.public_key())?;
        let identity_signature = self.sign(&request.signed_bytes(self.public_key()))?;
        Ok(DeviceCertificate {
            v: Version1,
            user_id: request.user_id.clone(),
            device_id: request.device_id.clone(),
            keys: request.keys.clone(),
            self_signature: request.self_signature.clone(),
            identity_signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test_support::{device_from_hex, hex, identity_from_hex};
    use serde_json::Value;

    fn vector() -> Value {
        serde_json::from_str(include_str!("../../vectors/device_certificate.json")).unwrap()
    }

    fn admitted() -> (IdentityKeyPair, DeviceCertificate) {
        let identity = IdentityKeyPair::generate().unwrap();
        let device = DeviceKeys::generate().unwrap();
        let request =
            DeviceCertificateRequest::new("user-1", "device-1", identity.public_key(), &device)
                .unwrap();
        let certificate = identity.certify(&request).unwrap();
        (identity, certificate)
    }

    #[test]
    fn the_device_certificate_vector_verifies() {
        let vector = vector();
        let identity = identity_from_hex(vector["identity_private_key_hex"].as_str().unwrap());
        let device = device_from_hex(
            vector["device_signing_private_key_hex"].as_str().unwrap(),
            vector["device_agreement_private_key_hex"].as_str().unwrap(),
        );
        let identity_public: IdentityPublicKey =
            serde_json::from_value(vector["identity_public_key"].clone()).unwrap();
        assert_eq!(identity.public_key(), &identity_public);

        let certificate: DeviceCertificate =
            serde_json::from_value(vector["certificate"].clone()).unwrap();
        assert_eq!(&certificate.keys, device.public_keys());
        assert_eq!(
            certificate.signed_bytes(&identity_public),
            hex(vector["signed_bytes_hex"].as_str().unwrap())
        );
        certificate.verify(&identity_public).unwrap();
        assert_eq!(
            serde_json::to_value(&certificate).unwrap(),
            vector["certificate"]
        );

        for case in vector["invalid"].as_array().unwrap() {
            let certificate: DeviceCertificate =
                serde_json::from_value(case["certificate"].clone()).unwrap();
            assert!(
                certificate.verify(&identity_public).is_err(),
                "{}",
                case["why"]
            );
        }
    }

    #[test]
    fn an_admitted_device_verifies() {
        let (identity, certificate) = admitted();
        certificate.verify(identity.public_key()).unwrap();
    }

    #[test]
    fn a_certificate_checked_against_another_identity_is_rejected() {
        let (_, certificate) = admitted();
        let other = IdentityKeyPair::generate().unwrap();
        // The body names the identity key, so even the self-signature fails.
        assert_eq!(
            certificate.verify(other.public_key()),
            Err(CertificateError::BadSelfSignature)
        );
    }

    #[test]
    fn a_certificate_moved_to_another_device_id_is_rejected() {
        let (identity, mut certificate) = admitted();
        certificate.device_id = "device-2".into();
        assert_eq!(
            certificate.verify(identity.public_key()),
            Err(CertificateError::BadSelfSignature)
        );
    }

    #[test]
    fn a_certificate_moved_to_another_user_is_rejected() {
        let (identity, mut certificate) = admitted();
        certificate.user_id = "user-2".into();
        assert!(certificate.verify(identity.public_key()).is_err());
    }

    #[test]
    fn a_swapped_agreement_key_is_rejected() {
        let (identity, mut certificate) = admitted();
        certificate.keys.agreement = DeviceKeys::generate()
            .unwrap()
            .public_keys()
            .agreement
            .clone();
        assert_eq!(
            certificate.verify(identity.public_key()),
            Err(CertificateError::BadSelfSignature)
        );
    }

    #[test]
    fn a_device_the_server_signed_itself_is_rejected() {
        // The server can make a valid self-signature for keys it generated, but not the
        // identity signature: it puts its own signature in that slot.
        let identity = IdentityKeyPair::generate().unwrap();
        let rogue = DeviceKeys::generate().unwrap();
        let request =
            DeviceCertificateRequest::new("user-1", "rogue", identity.public_key(), &rogue)
                .unwrap();
        let certificate = DeviceCertificate {
            v: Version1,
            user_id: request.user_id.clone(),
            device_id: request.device_id.clone(),
            keys: request.keys.clone(),
            self_signature: request.self_signature.clone(),
            identity_signature: request.self_signature.clone(),
        };
        assert_eq!(
            certificate.verify(identity.public_key()),
            Err(CertificateError::BadIdentitySignature)
        );
    }

    #[test]
    fn a_flipped_signature_bit_is_rejected() {
        let (identity, certificate) = admitted();
        for field in 0..2 {
            for bit in [0usize, 255, 511] {
                let mut bad = certificate.clone();
                let target = if field == 0 {
                    &mut bad.self_signature
                } else {
                    &mut bad.identity_signature
                };
                let mut bytes = *target.as_bytes();
                bytes[bit / 8] ^= 1 << (bit % 8);
                *target = Signature::from_bytes(bytes);
                assert!(bad.verify(identity.public_key()).is_err());
            }
        }
    }

    #[test]
    fn a_request_with_a_forged_self_signature_is_not_certified() {
        let identity = IdentityKeyPair::generate().unwrap();
        let device = DeviceKeys::generate().unwrap();
        let mut request =
            DeviceCertificateRequest::new("user-1", "device-1", identity.public_key(), &device)
                .unwrap();
        request.keys.signing = DeviceKeys::generate()
            .unwrap()
            .public_keys()
            .signing
            .clone();
        assert_eq!(
            identity.certify(&request).unwrap_err(),
            CertificateError::BadSelfSignature
        );
    }

    #[test]
    fn a_certificate_round_trips_through_json() {
        let (identity, certificate) = admitted();
        let json = serde_json::to_string(&certificate).unwrap();
        let back: DeviceCertificate = serde_json::from_str(&json).unwrap();
        assert_eq!(back, certificate);
        back.verify(identity.public_key()).unwrap();
    }

    #[test]
    fn a_certificate_with_an_unknown_version_does_not_parse() {
        let (_, certificate) = admitted();
        let mut json = serde_json::to_value(&certificate).unwrap();
        json["v"] = 2.into();
        assert!(serde_json::from_value::<DeviceCertificate>(json).is_err());
    }
}
