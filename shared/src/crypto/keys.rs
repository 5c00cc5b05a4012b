//! Identity and device keys, public key types and signatures ([PROTOCOL.md §4]).
//!
//! A user has one **identity key** (ECDSA P-256) whose only job is to sign that user's
//! device certificates. Each device has a **signing key** (ECDSA P-256: messages, epoch
//! key wraps, its own certificate) and an **agreement key** (ECDH P-256: receives epoch
//! keys).
//!
//! Private keys are raw 32-byte big-endian scalars held in zeroizing boxes. ring signs
//! but cannot import a scalar without its public point nor hold a static ECDH key, so the
//! RustCrypto `p256` crate derives public points, validates received points and performs
//! ECDH; ring does every signature and verification. A ring key pair is rebuilt for each
//! signature and dropped at once, because ring does not zeroize its keys.
//!
//! [PROTOCOL.md §4]: ../../../docs/PROTOCOL.md#4-keys

use std::fmt;

use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use ring::signature::{self as ring_sig, EcdsaKeyPair};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::encoding::{array_from_base64url, to_base64url, ArrayVisitor, DecodeError};
use super::primitives::{random_array, BackendError};

/// Length of an uncompressed SEC1 P-256 point: `0x04 ‖ x ‖ y`.
pub const PUBLIC_KEY_LEN: usize = 65;
/// Length of a P-256 private scalar.
pub const PRIVATE_KEY_LEN: usize = 32;
/// Length of an ECDSA P-256 signature in fixed `r ‖ s` form.
pub const SIGNATURE_LEN: usize = 64;

/// Why a private key could not be created or imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The 32 bytes are not a valid P-256 private scalar (zero, or not below the group
    /// order).
    #[error("invalid P-256 private key")]
    InvalidPrivateKey,
    /// The system's random number generator or the cryptographic library failed.
    #[error("cryptographic backend failure")]
    Backend,
}

impl From<BackendError> for KeyError {
    fn from(_: BackendError) -> Self {
        KeyError::Backend
    }
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature does not verify under the given public key for these exact bytes:
    /// the signed data was altered, the signature was made by another key, or it was made
    /// for another object.
    #[error("signature does not verify")]
    Invalid,
}

/// Checks that bytes are an uncompressed SEC1 point on P-256 (not the identity).
fn validate_point(bytes: &[u8]) -> Result<[u8; PUBLIC_KEY_LEN], DecodeError> {
    let point = <[u8; PUBLIC_KEY_LEN]>::try_from(bytes).map_err(|_| DecodeError::Length {
        expected: PUBLIC_KEY_LEN,
        actual: bytes.len(),
    })?;
    // The compressed form is refused even though p256 would accept it: one encoding per
    // key keeps signed bytes and fingerprints unique.
    if point[0] != 0x04 || p256::PublicKey::from_sec1_bytes(&point).is_err() {
        return Err(DecodeError::InvalidPoint);
    }
    Ok(point)
}

macro_rules! public_key_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Serialised as the base64url (no padding) of its 65-byte uncompressed SEC1
        /// encoding; decoding checks that the point is on P-256.
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name([u8; PUBLIC_KEY_LEN]);

        impl $name {
            /// Decodes and validates an uncompressed SEC1 P-256 point.
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
                validate_point(bytes).map(Self)
            }

            /// Decodes and validates the base64url form.
            pub fn from_base64url(text: &str) -> Result<Self, DecodeError> {
                Self::from_bytes(&array_from_base64url::<PUBLIC_KEY_LEN>(text)?)
            }

            /// The 65-byte uncompressed SEC1 encoding.
            pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
                &self.0
            }

            /// The base64url form, as it travels in JSON.
            pub fn to_base64url(&self) -> String {
                to_base64url(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.to_base64url())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.to_base64url())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let bytes = deserializer.deserialize_str(ArrayVisitor::<PUBLIC_KEY_LEN>)?;
                Self::from_bytes(&bytes).map_err(serde::de::Error::custom)
            }
        }
    };
}

public_key_type!(
    /// A user's identity public key (ECDSA P-256): what colleagues verify through the
    /// fingerprint, and what every device certificate of the user must chain to.
    IdentityPublicKey
);
public_key_type!(
    /// A device's signing public key (ECDSA P-256): verifies its messages, its epoch key
    /// wraps and its certificate's self-signature.
    DeviceSigningPublicKey
);
public_key_type!(
    /// A device's agreement public key (ECDH P-256): epoch keys are wrapped to it.
    DeviceAgreementPublicKey
);
public_key_type!(
    /// The one-time ECDH P-256 public key of an epoch key wrap.
    EphemeralPublicKey
);

/// Verifies an ECDSA P-256 SHA-256 signature in fixed `r ‖ s` form.
fn verify(
    public: &[u8; PUBLIC_KEY_LEN],
    message: &[u8],
    signature: &Signature,
) -> Result<(), SignatureError> {
    ring_sig::UnparsedPublicKey::new(&ring_sig::ECDSA_P256_SHA256_FIXED, public)
        .verify(message, &signature.0)
        .map_err(|_| SignatureError::Invalid)
}

impl IdentityPublicKey {
    /// Verifies a signature made by the identity key over canonical bytes.
    pub(crate) fn verify(
        &self,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        verify(&self.0, message, signature)
    }
}

impl DeviceSigningPublicKey {
    /// Verifies a signature made by the device signing key over canonical bytes.
    pub(crate) fn verify(
        &self,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        verify(&self.0, message, signature)
    }
}

/// An ECDSA P-256 SHA-256 signature in fixed form: 32-byte `r` then 32-byte `s`
/// (WebCrypto's format). Serialised as base64url.
///
/// ECDSA signatures are randomised and malleable (`s` and `n − s` both verify): never
/// use signature bytes as an identifier.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Signature([u8; SIGNATURE_LEN]);

impl Signature {
    /// Wraps 64 bytes `r ‖ s`. Whether they verify is checked only against a key.
    pub fn from_bytes(bytes: [u8; SIGNATURE_LEN]) -> Self {
        Self(bytes)
    }

    /// The 64 bytes `r ‖ s`.
    pub fn as_bytes(&self) -> &[u8; SIGNATURE_LEN] {
        &self.0
    }

    /// The base64url form, as it travels in JSON.
    pub fn to_base64url(&self) -> String {
        to_base64url(&self.0)
    }

    /// Decodes the base64url form.
    pub fn from_base64url(text: &str) -> Result<Self, DecodeError> {
        array_from_base64url(text).map(Self)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_base64url())
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64url())
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_str(ArrayVisitor::<SIGNATURE_LEN>)
            .map(Self)
    }
}

/// A P-256 private scalar, used either for ECDSA or for ECDH depending on the type that
/// owns it. Zeroized on drop; never printed.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct SecretScalar(Box<[u8; PRIVATE_KEY_LEN]>);

impl SecretScalar {
    /// Imports a scalar, refusing zero and values not below the group order.
    pub(crate) fn from_bytes(bytes: &[u8; PRIVATE_KEY_LEN]) -> Result<Self, KeyError> {
        p256::SecretKey::from_slice(bytes).map_err(|_| KeyError::InvalidPrivateKey)?;
        Ok(Self(Box::new(*bytes)))
    }

    /// Draws a scalar uniformly in [1, n − 1] by rejection sampling.
    pub(crate) fn generate() -> Result<Self, KeyError> {
        // A 32-byte string is out of range with probability about 2^-32; eight draws
        // failing in a row means the generator is broken, not unlucky.
        for _ in 0..8 {
            let candidate = Zeroizing::new(random_array::<PRIVATE_KEY_LEN>()?);
            if let Ok(scalar) = Self::from_bytes(&candidate) {
                return Ok(scalar);
            }
        }
        Err(KeyError::Backend)
    }

    /// A copy of the scalar, for storage by the caller.
    pub(crate) fn to_bytes(&self) -> Zeroizing<[u8; PRIVATE_KEY_LEN]> {
        Zeroizing::new(*self.0)
    }

    fn p256_secret(&self) -> Result<p256::SecretKey, BackendError> {
        // The scalar was validated on construction; this cannot fail.
        p256::SecretKey::from_slice(&self.0[..]).map_err(|_| BackendError)
    }

    /// The uncompressed SEC1 public point `d·G`.
    pub(crate) fn public_point(&self) -> Result<[u8; PUBLIC_KEY_LEN], BackendError> {
        let point = self.p256_secret()?.public_key().to_encoded_point(false);
        <[u8; PUBLIC_KEY_LEN]>::try_from(point.as_bytes()).map_err(|_| BackendError)
    }

    /// ECDSA P-256 SHA-256 signature (fixed `r ‖ s`), by ring.
    pub(crate) fn sign(
        &self,
        public: &[u8; PUBLIC_KEY_LEN],
        message: &[u8],
    ) -> Result<Signature, BackendError> {
        let rng = ring::rand::SystemRandom::new();
        let key_pair = EcdsaKeyPair::from_private_key_and_public_key(
            &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            &self.0[..],
            public,
            &rng,
        )
        .map_err(|_| BackendError)?;
        let signature = key_pair.sign(&rng, message)?;
        let bytes =
            <[u8; SIGNATURE_LEN]>::try_from(signature.as_ref()).map_err(|_| BackendError)?;
        Ok(Signature(bytes))
    }

    /// ECDH P-256: the 32-byte x-coordinate of `d·Q`, exactly what WebCrypto's
    /// `deriveBits(…, 256)` returns.
    pub(crate) fn diffie_hellman(
        &self,
        peer: &[u8; PUBLIC_KEY_LEN],
    ) -> Result<Zeroizing<[u8; 32]>, BackendError> {
        // Peer points were validated when decoded; from_sec1_bytes checks again.
        let peer = p256::PublicKey::from_sec1_bytes(peer).map_err(|_| BackendError)?;
        let secret = self.p256_secret()?;
        let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(shared.raw_secret_bytes());
        Ok(out)
    }
}

/// A user's identity key pair. Signs the user's device certificates, nothing else.
///
/// Lives on the user's devices and in the key backup. Zeroized on drop; its `Debug`
/// prints the public key only.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct IdentityKeyPair {
    secret: SecretScalar,
    #[zeroize(skip)]
    public: IdentityPublicKey,
}

impl IdentityKeyPair {
    /// Generates a new identity key pair (enrolment of a user's first device, or an
    /// identity reset).
    pub fn generate() -> Result<Self, KeyError> {
        Self::from_secret(SecretScalar::generate()?)
    }

    /// Imports a private scalar (32 bytes, big-endian), e.g. from the key backup. The
    /// caller keeps responsibility for zeroizing its own copy of `private_key`.
    pub fn from_private_bytes(private_key: &[u8; PRIVATE_KEY_LEN]) -> Result<Self, KeyError> {
        Self::from_secret(SecretScalar::from_bytes(private_key)?)
    }

    fn from_secret(secret: SecretScalar) -> Result<Self, KeyError> {
        let public = IdentityPublicKey(secret.public_point()?);
        Ok(Self { secret, public })
    }

    /// A copy of the private scalar, for the key backup. Zeroized when dropped.
    pub fn to_private_bytes(&self) -> Zeroizing<[u8; PRIVATE_KEY_LEN]> {
        self.secret.to_bytes()
    }

    /// The identity public key.
    pub fn public_key(&self) -> &IdentityPublicKey {
        &self.public
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Result<Signature, BackendError> {
        self.secret.sign(&self.public.0, message)
    }
}

impl fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// The public keys of one device, as registered with the server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicePublicKeys {
    /// Verifies the device's signatures.
    pub signing: DeviceSigningPublicKey,
    /// Receives the device's epoch keys.
    pub agreement: DeviceAgreementPublicKey,
}

/// The private keys of one device: a signing key and an agreement key.
///
/// Generated on the device and never leave it (they are not in the key backup). Zeroized
/// on drop; its `Debug` prints the public keys only. The certificate's agreement private
/// key is deleted once the device's signed prekeys have replaced it
/// ([`DeviceKeys::forget_agreement_key`], docs/PROTOCOL.md §23.3); the public key stays,
/// as the certificate names it.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct DeviceKeys {
    signing: SecretScalar,
    agreement: Option<SecretScalar>,
    #[zeroize(skip)]
    public: DevicePublicKeys,
}

impl DeviceKeys {
    /// Generates the keys of a new device.
    pub fn generate() -> Result<Self, KeyError> {
        Self::from_secrets(SecretScalar::generate()?, SecretScalar::generate()?)
    }

    /// Imports the two private scalars from the device's local storage. The caller keeps
    /// responsibility for zeroizing its own copies.
    pub fn from_private_bytes(
        signing: &[u8; PRIVATE_KEY_LEN],
        agreement: &[u8; PRIVATE_KEY_LEN],
    ) -> Result<Self, KeyError> {
        Self::from_secrets(
            SecretScalar::from_bytes(signing)?,
            SecretScalar::from_bytes(agreement)?,
        )
    }

    fn from_secrets(signing: SecretScalar, agreement: SecretScalar) -> Result<Self, KeyError> {
        let public = DevicePublicKeys {
            signing: DeviceSigningPublicKey(signing.public_point()?),
            agreement: DeviceAgreementPublicKey(agreement.public_point()?),
        };
        Ok(Self {
            signing,
            agreement: Some(agreement),
            public,
        })
    }

    /// Imports a device whose certificate's agreement private key was deleted: the
    /// signing scalar, and the agreement public key its certificate names.
    pub fn from_signing_bytes(
        signing: &[u8; PRIVATE_KEY_LEN],
        agreement: &DeviceAgreementPublicKey,
    ) -> Result<Self, KeyError> {
        let signing = SecretScalar::from_bytes(signing)?;
        let public = DevicePublicKeys {
            signing: DeviceSigningPublicKey(signing.public_point()?),
            agreement: agreement.clone(),
        };
        Ok(Self {
            signing,
            agreement: None,
            public,
        })
    }

    /// Copies of the private scalars `(signing, agreement)` for the device's local
    /// storage, the agreement one while it is held. Zeroized when dropped.
    pub fn to_private_bytes(
        &self,
    ) -> (
        Zeroizing<[u8; PRIVATE_KEY_LEN]>,
        Option<Zeroizing<[u8; PRIVATE_KEY_LEN]>>,
    ) {
        (
            self.signing.to_bytes(),
            self.agreement.as_ref().map(SecretScalar::to_bytes),
        )
    }

    /// Whether the certificate's agreement private key is still held.
    pub fn holds_agreement_key(&self) -> bool {
        self.agreement.is_some()
    }

    /// Deletes the certificate's agreement private key (zeroized): nothing wrapped to it
    /// opens here any more.
    pub fn forget_agreement_key(&mut self) {
        if let Some(mut secret) = self.agreement.take() {
            secret.zeroize();
        }
    }

    /// The device's public keys.
    pub fn public_keys(&self) -> &DevicePublicKeys {
        &self.public
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Result<Signature, BackendError> {
        self.signing.sign(&self.public.signing.0, message)
    }

    pub(crate) fn agree(
        &self,
        ephemeral: &EphemeralPublicKey,
    ) -> Result<Zeroizing<[u8; 32]>, BackendError> {
        self.agreement
            .as_ref()
            .ok_or(BackendError)?
            .diffie_hellman(&ephemeral.0)
    }
}

impl fmt::Debug for DeviceKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceKeys")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// A one-time ECDH key pair for one epoch key wrap.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct EphemeralKeyPair {
    secret: SecretScalar,
    #[zeroize(skip)]
    pub(crate) public: EphemeralPublicKey,
}

impl EphemeralKeyPair {
    pub(crate) fn from_secret(secret: SecretScalar) -> Result<Self, BackendError> {
        let public = EphemeralPublicKey(secret.public_point()?);
        Ok(Self { secret, public })
    }

    pub(crate) fn agree(
        &self,
        recipient: &DeviceAgreementPublicKey,
    ) -> Result<Zeroizing<[u8; 32]>, BackendError> {
        self.secret.diffie_hellman(&recipient.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test_support::hex;

    #[test]
    fn a_signature_verifies_under_its_key_and_no_other() {
        let device = DeviceKeys::generate().unwrap();
        let other = DeviceKeys::generate().unwrap();
        let signature = device.sign(b"message").unwrap();
        assert!(device
            .public_keys()
            .signing
            .verify(b"message", &signature)
            .is_ok());
        assert_eq!(
            other.public_keys().signing.verify(b"message", &signature),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            device.public_keys().signing.verify(b"messagf", &signature),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn private_keys_round_trip_through_their_bytes() {
        let identity = IdentityKeyPair::generate().unwrap();
        let restored = IdentityKeyPair::from_private_bytes(&identity.to_private_bytes()).unwrap();
        assert_eq!(restored.public_key(), identity.public_key());

        let device = DeviceKeys::generate().unwrap();
        let (signing, agreement) = device.to_private_bytes();
        let restored = DeviceKeys::from_private_bytes(&signing, &agreement.unwrap()).unwrap();
        assert_eq!(restored.public_keys(), device.public_keys());

        let mut retired = restored;
        retired.forget_agreement_key();
        assert!(!retired.holds_agreement_key());
        assert!(retired.to_private_bytes().1.is_none());
        let (signing, _) = retired.to_private_bytes();
        let again =
            DeviceKeys::from_signing_bytes(&signing, &device.public_keys().agreement).unwrap();
        assert_eq!(again.public_keys(), device.public_keys());
    }

    #[test]
    fn zero_and_out_of_range_scalars_are_refused() {
        assert_eq!(
            IdentityKeyPair::from_private_bytes(&[0; 32]).unwrap_err(),
            KeyError::InvalidPrivateKey
        );
        assert_eq!(
            IdentityKeyPair::from_private_bytes(&[0xff; 32]).unwrap_err(),
            KeyError::InvalidPrivateKey
        );
    }

    #[test]
    fn ecdh_agrees_on_both_sides() {
        let a = SecretScalar::generate().unwrap();
        let b = SecretScalar::generate().unwrap();
        let ab = a.diffie_hellman(&b.public_point().unwrap()).unwrap();
        let ba = b.diffie_hellman(&a.public_point().unwrap()).unwrap();
        assert_eq!(*ab, *ba);
    }

    #[test]
    fn invalid_points_are_refused_on_decode() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../vectors/encoding.json")).unwrap();
        for case in vectors["public_keys"]["valid"].as_array().unwrap() {
            let bytes = hex(case["bytes_hex"].as_str().unwrap());
            let key = DeviceSigningPublicKey::from_bytes(&bytes).unwrap();
            assert_eq!(key.to_base64url(), case["base64url"].as_str().unwrap());
        }
        for case in vectors["public_keys"]["invalid"].as_array().unwrap() {
            let bytes = hex(case["bytes_hex"].as_str().unwrap());
            assert!(
                DeviceSigningPublicKey::from_bytes(&bytes).is_err(),
                "{}",
                case["why"]
            );
            let json = format!("\"{}\"", to_base64url(&bytes));
            assert!(serde_json::from_str::<IdentityPublicKey>(&json).is_err());
        }
    }

    #[test]
    fn public_keys_serialise_as_base64url_strings() {
        let device = DeviceKeys::generate().unwrap();
        let json = serde_json::to_string(device.public_keys()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            value["signing"].as_str().unwrap(),
            device.public_keys().signing.to_base64url()
        );
        let back: DevicePublicKeys = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, device.public_keys());
    }

    #[test]
    fn debug_output_of_key_pairs_contains_no_secret_byte() {
        let scalar = [7u8; 32];
        let identity = IdentityKeyPair::from_private_bytes(&scalar).unwrap();
        let device = DeviceKeys::from_private_bytes(&scalar, &[9u8; 32]).unwrap();
        let identity_debug = format!("{identity:?}");
        let device_debug = format!("{device:?}");
        assert_eq!(
            identity_debug,
            format!(
                "IdentityKeyPair {{ public: IdentityPublicKey({}), .. }}",
                identity.public_key().to_base64url()
            )
        );
        assert_eq!(
            device_debug,
            format!(
                "DeviceKeys {{ public: DevicePublicKeys {{ signing: DeviceSigningPublicKey({}), \
                 agreement: DeviceAgreementPublicKey({}) }}, .. }}",
                device.public_keys().signing.to_base64url(),
                device.public_keys().agreement.to_base64url()
            )
        );
        for secret in [[7u8; 32], [9u8; 32]] {
            crate::crypto::test_support::assert_no_secret_in(&identity_debug, &secret);
            crate::crypto::test_support::assert_no_secret_in(&device_debug, &secret);
        }
    }
}
