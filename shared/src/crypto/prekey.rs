//! Signed prekeys: a device's rotating agreement key ([PROTOCOL.md §23]).
//!
//! The agreement key in a device's certificate is fixed for the device's life. To give
//! epoch keys forward secrecy and to heal after a device's keys were copied, each device
//! publishes, on a schedule, a new ECDH P-256 agreement key signed by its **device
//! signing key** (the one its certificate binds), and deletes the old private key once
//! no wrap made to it can still be waiting ([`PREKEY_GRACE_MS`]). Senders wrap new epoch
//! keys to the current signed prekey of each recipient, after checking its signature
//! against the recipient's verified certificate ([`SignedPrekey::verify`]); an
//! unsigned or badly signed one is refused, never silently replaced by the static key.
//!
//! The serial strictly increases per device, so a server can refuse, and a client can
//! notice, an older prekey served again (a replay that would lead senders back to a key
//! that may since have been stolen).
//!
//! [PROTOCOL.md §23]: ../../../docs/PROTOCOL.md#23-rotating-agreement-keys

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::device::DeviceCertificate;
use super::encoding::{self, check_id, label, CanonicalBytes, Version1};
use super::keys::{
    DeviceAgreementPublicKey, DeviceKeys, EphemeralPublicKey, KeyError, SecretScalar, Signature,
    PRIVATE_KEY_LEN,
};
use super::primitives::BackendError;

/// A device publishes a new prekey once its current one is this old (one week).
pub const PREKEY_ROTATION_MS: u64 = 7 * 24 * 60 * 60 * 1000;
/// A replaced prekey's private key is kept this long after its replacement (35 days),
/// then deleted: longer than the server keeps an unfetched wrap
/// (`wrap_retention_days`, 30 by default), so every wrap made to it can still be opened
/// while it may be served, and nothing made to it can be opened after.
pub const PREKEY_GRACE_MS: u64 = 35 * 24 * 60 * 60 * 1000;

/// Why a signed prekey was not created or not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrekeyError {
    /// The user or device id is empty or too long, or the serial is 0 (serial 0 is the
    /// certificate's own agreement key) or above 2^53 − 1.
    #[error("invalid identifier or serial")]
    InvalidField,
    /// The prekey names another user or device than the certificate it is checked
    /// against.
    #[error("the prekey is for another device")]
    WrongDevice,
    /// The signature does not verify under the device's signing key: the prekey was
    /// altered, or was not made by this device.
    #[error("prekey signature does not verify")]
    BadSignature,
    /// The system's random number generator or the cryptographic library failed.
    #[error("cryptographic backend failure")]
    Backend,
}

impl From<BackendError> for PrekeyError {
    fn from(_: BackendError) -> Self {
        PrekeyError::Backend
    }
}

/// A rotating ECDH P-256 agreement key pair of this device. Zeroized on drop; its
/// `Debug` prints the public key only.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct AgreementKeyPair {
    secret: SecretScalar,
    #[zeroize(skip)]
    public: DeviceAgreementPublicKey,
}

impl AgreementKeyPair {
    /// Draws a new agreement key pair.
    pub fn generate() -> Result<Self, KeyError> {
        Self::from_secret(SecretScalar::generate()?)
    }

    /// Imports a private scalar from the device's local storage. The caller keeps
    /// responsibility for zeroizing its own copy.
    pub fn from_private_bytes(private_key: &[u8; PRIVATE_KEY_LEN]) -> Result<Self, KeyError> {
        Self::from_secret(SecretScalar::from_bytes(private_key)?)
    }

    fn from_secret(secret: SecretScalar) -> Result<Self, KeyError> {
        let public = DeviceAgreementPublicKey::from_bytes(&secret.public_point()?)
            .map_err(|_| KeyError::Backend)?;
        Ok(Self { secret, public })
    }

    /// A copy of the private scalar for local storage. Zeroized when dropped.
    pub fn to_private_bytes(&self) -> Zeroizing<[u8; PRIVATE_KEY_LEN]> {
        self.secret.to_bytes()
    }

    /// The public key, as published in a [`SignedPrekey`].
    pub fn public_key(&self) -> &DeviceAgreementPublicKey {
        &self.public
    }

    pub(crate) fn agree(
        &self,
        ephemeral: &EphemeralPublicKey,
    ) -> Result<Zeroizing<[u8; 32]>, BackendError> {
        self.secret.diffie_hellman(ephemeral.as_bytes())
    }
}

impl fmt::Debug for AgreementKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgreementKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// A device's current agreement public key, signed by its device signing key. Public:
/// the server stores the newest per device and serves it with the device list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedPrekey {
    /// Protocol version, always 1.
    pub v: Version1,
    /// The device's user.
    #[serde(with = "encoding::id")]
    pub user_id: String,
    /// The device.
    #[serde(with = "encoding::id")]
    pub device_id: String,
    /// 1 for the device's first prekey, then one more at each rotation.
    #[serde(with = "encoding::safe_int")]
    pub serial: u64,
    /// When the device made it (its clock, unix ms): when the next one is due.
    #[serde(with = "encoding::safe_int")]
    pub created_at: u64,
    /// The agreement public key epoch keys are wrapped to.
    pub agreement: DeviceAgreementPublicKey,
    /// The device signing key's signature over [`SignedPrekey::signed_bytes`].
    pub signature: Signature,
}

impl SignedPrekey {
    /// Signs `agreement` as this device's prekey number `serial`.
    pub fn new(
        user_id: &str,
        device_id: &str,
        serial: u64,
        created_at: u64,
        agreement: &AgreementKeyPair,
        device: &DeviceKeys,
    ) -> Result<Self, PrekeyError> {
        let mut prekey = SignedPrekey {
            v: Version1,
            user_id: user_id.to_owned(),
            device_id: device_id.to_owned(),
            serial,
            created_at,
            agreement: agreement.public_key().clone(),
            signature: Signature::from_bytes([0; 64]),
        };
        prekey.check_fields()?;
        prekey.signature = device.sign(&prekey.signed_bytes())?;
        Ok(prekey)
    }

    fn check_fields(&self) -> Result<(), PrekeyError> {
        check_id(&self.user_id).map_err(|_| PrekeyError::InvalidField)?;
        check_id(&self.device_id).map_err(|_| PrekeyError::InvalidField)?;
        if self.serial == 0
            || self.serial > encoding::MAX_EPOCH
            || self.created_at > encoding::MAX_EPOCH
        {
            return Err(PrekeyError::InvalidField);
        }
        Ok(())
    }

    /// `CB("passerelle/v1/signed-prekey", user_id, device_id, u64be(serial),
    /// u64be(created_at), agreement)`.
    pub fn signed_bytes(&self) -> Vec<u8> {
        CanonicalBytes::new(label::SIGNED_PREKEY)
            .field(self.user_id.as_bytes())
            .field(self.device_id.as_bytes())
            .u64_field(self.serial)
            .u64_field(self.created_at)
            .field(self.agreement.as_bytes())
            .finish()
    }

    /// Checks that the prekey is this device's and signed by its signing key. The
    /// certificate must itself have been verified against its user's identity key; the
    /// server calls this with the registered certificate.
    pub fn verify(&self, certificate: &DeviceCertificate) -> Result<(), PrekeyError> {
        self.check_fields()?;
        if self.user_id != certificate.user_id || self.device_id != certificate.device_id {
            return Err(PrekeyError::WrongDevice);
        }
        certificate
            .keys
            .signing
            .verify(&self.signed_bytes(), &self.signature)
            .map_err(|_| PrekeyError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{DeviceCertificateRequest, EpochKey, IdentityKeyPair};

    fn device(user: &str, id: &str) -> (DeviceKeys, DeviceCertificate) {
        let identity = IdentityKeyPair::generate().unwrap();
        let keys = DeviceKeys::generate().unwrap();
        let request =
            DeviceCertificateRequest::new(user, id, identity.public_key(), &keys).unwrap();
        let certificate = identity.certify(&request).unwrap();
        (keys, certificate)
    }

    #[test]
    fn a_prekey_verifies_against_its_device_and_no_other() {
        let (keys, certificate) = device("user", "laptop");
        let (_, other) = device("user", "phone");
        let agreement = AgreementKeyPair::generate().unwrap();
        let prekey = SignedPrekey::new("user", "laptop", 1, 1_000, &agreement, &keys).unwrap();
        assert_eq!(prekey.verify(&certificate), Ok(()));
        assert_eq!(prekey.verify(&other), Err(PrekeyError::WrongDevice));

        let mut moved = prekey.clone();
        moved.serial = 2;
        assert_eq!(moved.verify(&certificate), Err(PrekeyError::BadSignature));
        let mut swapped = prekey.clone();
        swapped.agreement = AgreementKeyPair::generate().unwrap().public_key().clone();
        assert_eq!(swapped.verify(&certificate), Err(PrekeyError::BadSignature));
        let mut zero = prekey;
        zero.serial = 0;
        assert_eq!(zero.verify(&certificate), Err(PrekeyError::InvalidField));
    }

    #[test]
    fn a_key_wrapped_to_a_prekey_opens_with_that_prekey_only() {
        let (sender, _) = device("alice", "sender");
        let (recipient, certificate) = device("bob", "recipient");
        let agreement = AgreementKeyPair::generate().unwrap();
        let prekey = SignedPrekey::new("bob", "recipient", 1, 5, &agreement, &recipient).unwrap();
        let key = EpochKey::generate().unwrap();
        let wrapped = key
            .wrap_for("channel", 3, "sender", &sender, &certificate, Some(&prekey))
            .unwrap();
        let signing = &sender.public_keys().signing;
        let opened = wrapped.unwrap_with_prekey(&agreement, signing).unwrap();
        assert_eq!(*opened.to_bytes(), *key.to_bytes());
        assert!(wrapped.unwrap_key(&recipient, signing).is_err());

        let mut forged = prekey.clone();
        forged.agreement = AgreementKeyPair::generate().unwrap().public_key().clone();
        assert!(key
            .wrap_for("channel", 3, "sender", &sender, &certificate, Some(&forged))
            .is_err());
    }

    #[test]
    fn the_stored_prekey_vector_verifies_opens_and_refuses_its_forgeries() {
        use crate::crypto::test_support::{hex, scalar_from_hex};
        use crate::crypto::WrappedEpochKey;
        let vector: serde_json::Value =
            serde_json::from_str(include_str!("../../vectors/signed_prekey.json")).unwrap();
        let certificate: DeviceCertificate =
            serde_json::from_value(vector["certificate"].clone()).unwrap();
        let prekey: SignedPrekey = serde_json::from_value(vector["prekey"].clone()).unwrap();
        assert_eq!(prekey.verify(&certificate), Ok(()));
        assert_eq!(
            prekey.signed_bytes(),
            hex(vector["signed_bytes_hex"].as_str().unwrap())
        );
        for case in vector["invalid"].as_array().unwrap() {
            let forged: SignedPrekey = serde_json::from_value(case["prekey"].clone()).unwrap();
            assert!(forged.verify(&certificate).is_err(), "{}", case["why"]);
        }
        let agreement = AgreementKeyPair::from_private_bytes(&scalar_from_hex(
            vector["prekey_private_key_hex"].as_str().unwrap(),
        ))
        .unwrap();
        assert_eq!(agreement.public_key(), &prekey.agreement);
        let wrap = &vector["wrap"];
        let wrapped: WrappedEpochKey = serde_json::from_value(wrap["wrapped"].clone()).unwrap();
        let sender: crate::crypto::DevicePublicKeys =
            serde_json::from_value(wrap["sender_public_keys"].clone()).unwrap();
        let key = wrapped
            .unwrap_with_prekey(&agreement, &sender.signing)
            .unwrap();
        assert_eq!(
            key.to_bytes().to_vec(),
            hex(wrap["epoch_key_hex"].as_str().unwrap())
        );
    }

    #[test]
    fn debug_output_of_an_agreement_key_pair_contains_no_secret_byte() {
        let pair = AgreementKeyPair::from_private_bytes(&[7u8; 32]).unwrap();
        let debug = format!("{pair:?}");
        assert_eq!(
            debug,
            format!(
                "AgreementKeyPair {{ public: DeviceAgreementPublicKey({}), .. }}",
                pair.public_key().to_base64url()
            )
        );
        crate::crypto::test_support::assert_no_secret_in(&debug, &[7u8; 32]);
    }
}
