//! Epoch keys and their wraps for each recipient device ([PROTOCOL.md §7]).
//!
//! Each channel epoch has one random 32-byte [`EpochKey`]. The device that opens the
//! epoch wraps it for every current member device: a fresh ephemeral ECDH P-256 key
//! with the recipient's agreement key, HKDF-SHA-256 bound to channel, epoch, both device
//! ids and the key's commitment, then AES-256-GCM; the whole wrap is signed by the
//! sender device. Every wrap of an epoch carries the same public [`KeyCommitment`], so
//! the server can check that all recipients got the same key and each recipient checks
//! the key it unwrapped against it.
//!
//! [PROTOCOL.md §7]: ../../../docs/PROTOCOL.md#7-epoch-keys

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq as _;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::device::DeviceCertificate;
use super::encoding::{
    self, b64_array, check_epoch, check_id, label, to_base64url, ArrayVisitor, CanonicalBytes,
    Version1,
};
use super::keys::{
    DeviceAgreementPublicKey, DeviceKeys, DeviceSigningPublicKey, EphemeralKeyPair,
    EphemeralPublicKey, KeyError, SecretScalar, Signature, SignatureError,
};
use super::prekey::{AgreementKeyPair, SignedPrekey};
use super::primitives::{
    aes_gcm_open, aes_gcm_seal, hkdf_sha256, random_array, sha256, BackendError, NONCE_LEN, TAG_LEN,
};

/// Length of an epoch key.
pub const EPOCH_KEY_LEN: usize = 32;
/// Length of a wrapped epoch key's ciphertext: the key and the GCM tag.
pub const WRAPPED_KEY_LEN: usize = EPOCH_KEY_LEN + TAG_LEN;
/// A channel needs a new epoch once this many messages were sent in the current one.
pub const MAX_MESSAGES_PER_EPOCH: u64 = 100;
/// A channel needs a new epoch once the current one is this old (one week).
pub const MAX_EPOCH_AGE_SECONDS: u64 = 7 * 24 * 60 * 60;

/// A channel's key for one epoch. Message keys are derived from it.
///
/// Zeroized on drop; its `Debug` prints nothing of the key.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct EpochKey(Box<[u8; EPOCH_KEY_LEN]>);

impl EpochKey {
    /// Draws a new random epoch key.
    pub fn generate() -> Result<Self, KeyError> {
        Ok(Self(Box::new(random_array()?)))
    }

    /// Imports a key from the device's local storage or the key backup. The caller keeps
    /// responsibility for zeroizing its own copy.
    pub fn from_bytes(bytes: &[u8; EPOCH_KEY_LEN]) -> Self {
        Self(Box::new(*bytes))
    }

    /// A copy of the key for local storage. Zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; EPOCH_KEY_LEN]> {
        Zeroizing::new(*self.0)
    }

    pub(crate) fn expose(&self) -> &[u8; EPOCH_KEY_LEN] {
        &self.0
    }

    /// The public commitment to this key for `(channel_id, epoch)` ([PROTOCOL.md §7.2]).
    pub fn commitment(&self, channel_id: &str, epoch: u64) -> KeyCommitment {
        let input = Zeroizing::new(
            CanonicalBytes::new(label::EPOCH_KEY_COMMITMENT)
                .field(channel_id.as_bytes())
                .u64_field(epoch)
                .field(&self.0[..])
                .finish(),
        );
        KeyCommitment(sha256(&input))
    }

    /// Wraps this key for one recipient device, signed by the sending device.
    ///
    /// `recipient` must be a certificate the caller has verified against its user's
    /// identity key ([`DeviceCertificate::verify`]); devices that fail are reported as
    /// [`WithheldReason::UnverifiedDevice`] instead of being wrapped for.
    pub fn wrap(
        &self,
        channel_id: &str,
        epoch: u64,
        sender_device_id: &str,
        sender: &DeviceKeys,
        recipient: &DeviceCertificate,
    ) -> Result<WrappedEpochKey, WrapError> {
        let header = WrapHeader {
            channel_id,
            epoch,
            sender_device: sender_device_id,
            recipient_device: &recipient.device_id,
        };
        let ephemeral = EphemeralKeyPair::from_secret(
            SecretScalar::generate().map_err(|_| WrapError::Backend)?,
        )?;
        self.wrap_with(
            &header,
            sender,
            &recipient.keys.agreement,
            &ephemeral,
            &random_array()?,
        )
    }

    /// Wraps this key for one recipient device at its current agreement key: its signed
    /// prekey when it published one ([PROTOCOL.md §23]), else its certificate's key.
    ///
    /// `recipient` must be a verified certificate (as for [`EpochKey::wrap`]). A prekey
    /// that does not verify against it is refused ([`WrapError::BadPrekey`]): wrapping to
    /// the certificate's key instead would hand the key to whoever stole that older key.
    pub fn wrap_for(
        &self,
        channel_id: &str,
        epoch: u64,
        sender_device_id: &str,
        sender: &DeviceKeys,
        recipient: &DeviceCertificate,
        prekey: Option<&SignedPrekey>,
    ) -> Result<WrappedEpochKey, WrapError> {
        let Some(prekey) = prekey else {
            return self.wrap(channel_id, epoch, sender_device_id, sender, recipient);
        };
        prekey.verify(recipient).map_err(|_| WrapError::BadPrekey)?;
        let header = WrapHeader {
            channel_id,
            epoch,
            sender_device: sender_device_id,
            recipient_device: &recipient.device_id,
        };
        let ephemeral = EphemeralKeyPair::from_secret(
            SecretScalar::generate().map_err(|_| WrapError::Backend)?,
        )?;
        self.wrap_with(
            &header,
            sender,
            &prekey.agreement,
            &ephemeral,
            &random_array()?,
        )
    }

    /// The deterministic core of [`EpochKey::wrap`], with the ephemeral key and nonce as
    /// parameters so that test vectors are byte-exact.
    pub(crate) fn wrap_with(
        &self,
        header: &WrapHeader<'_>,
        sender: &DeviceKeys,
        recipient_agreement: &DeviceAgreementPublicKey,
        ephemeral: &EphemeralKeyPair,
        nonce: &[u8; NONCE_LEN],
    ) -> Result<WrappedEpochKey, WrapError> {
        header.check().map_err(|_| WrapError::InvalidInput)?;
        let commitment = self.commitment(header.channel_id, header.epoch);
        let ad = header.additional_data(&commitment);
        let shared = ephemeral.agree(recipient_agreement)?;
        let key = wrap_key(&shared, &ephemeral.public, recipient_agreement, &ad)?;
        let sealed = aes_gcm_seal(&key, nonce, &ad, &self.0[..])?;
        let ciphertext =
            <[u8; WRAPPED_KEY_LEN]>::try_from(sealed.as_slice()).map_err(|_| WrapError::Backend)?;
        let mut wrapped = WrappedEpochKey {
            v: Version1,
            channel_id: header.channel_id.to_owned(),
            epoch: header.epoch,
            sender_device: header.sender_device.to_owned(),
            recipient_device: header.recipient_device.to_owned(),
            commitment,
            ephemeral_key: ephemeral.public.clone(),
            nonce: *nonce,
            ciphertext,
            signature: Signature::from_bytes([0; 64]),
        };
        wrapped.signature = sender.sign(&wrapped.signed_bytes())?;
        Ok(wrapped)
    }
}

impl fmt::Debug for EpochKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EpochKey(..)")
    }
}

/// What a wrap binds: the channel, the epoch and both devices.
pub(crate) struct WrapHeader<'a> {
    pub(crate) channel_id: &'a str,
    pub(crate) epoch: u64,
    pub(crate) sender_device: &'a str,
    pub(crate) recipient_device: &'a str,
}

impl WrapHeader<'_> {
    fn check(&self) -> Result<(), encoding::DecodeError> {
        check_id(self.channel_id)?;
        check_id(self.sender_device)?;
        check_id(self.recipient_device)?;
        check_epoch(self.epoch)
    }

    /// The wrap's AEAD additional data, also its HKDF info ([PROTOCOL.md §7.3]).
    pub(crate) fn additional_data(&self, commitment: &KeyCommitment) -> Vec<u8> {
        CanonicalBytes::new(label::EPOCH_WRAP)
            .field(self.channel_id.as_bytes())
            .u64_field(self.epoch)
            .field(self.sender_device.as_bytes())
            .field(self.recipient_device.as_bytes())
            .field(&commitment.0)
            .finish()
    }
}

/// HKDF-SHA-256 from the ECDH secret: salt = ephemeral public key ‖ recipient agreement
/// public key (so the key depends on both points), info = the additional data.
fn wrap_key(
    shared: &[u8; 32],
    ephemeral: &EphemeralPublicKey,
    recipient: &DeviceAgreementPublicKey,
    ad: &[u8],
) -> Result<Zeroizing<[u8; 32]>, BackendError> {
    let mut salt = Vec::with_capacity(130);
    salt.extend_from_slice(ephemeral.as_bytes());
    salt.extend_from_slice(recipient.as_bytes());
    hkdf_sha256(&salt, shared, ad)
}

/// SHA-256 commitment to an epoch key, public: every wrap of one epoch carries the same
/// value. Serialised as base64url.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyCommitment([u8; 32]);

impl KeyCommitment {
    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for KeyCommitment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyCommitment({})", to_base64url(&self.0))
    }
}

impl Serialize for KeyCommitment {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&to_base64url(&self.0))
    }
}

impl<'de> Deserialize<'de> for KeyCommitment {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ArrayVisitor::<32>).map(Self)
    }
}

/// Why an epoch key could not be wrapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WrapError {
    /// An identifier is empty or longer than [`MAX_ID_LEN`](super::MAX_ID_LEN) bytes, or
    /// the epoch is above [`MAX_EPOCH`](super::MAX_EPOCH).
    #[error("invalid channel, device identifier or epoch")]
    InvalidInput,
    /// The recipient's signed prekey does not verify against its certificate: refused
    /// rather than replaced by the certificate's older key.
    #[error("the recipient's signed prekey does not verify")]
    BadPrekey,
    /// The system's random number generator or the cryptographic library failed.
    #[error("cryptographic backend failure")]
    Backend,
}

impl From<BackendError> for WrapError {
    fn from(_: BackendError) -> Self {
        WrapError::Backend
    }
}

/// Why a wrapped epoch key could not be unwrapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnwrapError {
    /// The sender device's signature does not verify: the wrap was altered, or was not
    /// made by the device it names.
    #[error("wrap signature does not verify")]
    BadSignature,
    /// Decryption failed: the wrap is for another device (wrong agreement key), or its
    /// channel, epoch, device ids, ephemeral key or ciphertext were altered.
    #[error("wrapped key does not decrypt")]
    Decrypt,
    /// The unwrapped key does not match the wrap's commitment: the sender gave this
    /// device a different key from the one it committed to.
    #[error("unwrapped key does not match its commitment")]
    CommitmentMismatch,
    /// The system's random number generator or the cryptographic library failed.
    #[error("cryptographic backend failure")]
    Backend,
}

impl From<BackendError> for UnwrapError {
    fn from(_: BackendError) -> Self {
        UnwrapError::Backend
    }
}

/// An epoch key wrapped for one recipient device and signed by the sender device.
/// Public: the server stores it, checks its signature and relays it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrappedEpochKey {
    /// Protocol version, always 1.
    pub v: Version1,
    /// The channel the key belongs to.
    #[serde(with = "encoding::id")]
    pub channel_id: String,
    /// The epoch the key belongs to.
    #[serde(with = "encoding::safe_int")]
    pub epoch: u64,
    /// The device that created and signed the wrap.
    #[serde(with = "encoding::id")]
    pub sender_device: String,
    /// The device the key is wrapped for.
    #[serde(with = "encoding::id")]
    pub recipient_device: String,
    /// Commitment to the epoch key; identical in every wrap of the epoch.
    pub commitment: KeyCommitment,
    /// The one-time ECDH public key.
    pub ephemeral_key: EphemeralPublicKey,
    /// The AES-GCM nonce.
    #[serde(with = "b64_array")]
    pub nonce: [u8; NONCE_LEN],
    /// The encrypted epoch key followed by the GCM tag.
    #[serde(with = "b64_array")]
    pub ciphertext: [u8; WRAPPED_KEY_LEN],
    /// The sender device's signature over [`WrappedEpochKey::signed_bytes`].
    pub signature: Signature,
}

impl WrappedEpochKey {
    fn header(&self) -> WrapHeader<'_> {
        WrapHeader {
            channel_id: &self.channel_id,
            epoch: self.epoch,
            sender_device: &self.sender_device,
            recipient_device: &self.recipient_device,
        }
    }

    /// The AEAD additional data (also the HKDF info).
    pub fn additional_data(&self) -> Vec<u8> {
        self.header().additional_data(&self.commitment)
    }

    /// The bytes the sender signs: `additional data ‖ ephemeral key ‖ nonce ‖ ciphertext`.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut bytes = self.additional_data();
        bytes.extend_from_slice(self.ephemeral_key.as_bytes());
        bytes.extend_from_slice(&self.nonce);
        bytes.extend_from_slice(&self.ciphertext);
        bytes
    }

    /// Checks the sender device's signature. Needs no secret: the server calls it with
    /// the signing key of the registered device named by `sender_device`.
    pub fn verify_signature(&self, sender: &DeviceSigningPublicKey) -> Result<(), SignatureError> {
        sender.verify(&self.signed_bytes(), &self.signature)
    }

    /// Verifies the signature with the sender device's signing key (from its verified
    /// certificate), then decrypts with this device's agreement key and checks the key
    /// against its commitment.
    pub fn unwrap_key(
        &self,
        recipient: &DeviceKeys,
        sender: &DeviceSigningPublicKey,
    ) -> Result<EpochKey, UnwrapError> {
        self.verify_signature(sender)
            .map_err(|_| UnwrapError::BadSignature)?;
        self.decrypt(recipient)
    }

    /// Like [`WrappedEpochKey::unwrap_key`], with one of this device's rotating
    /// agreement keys (its signed prekeys, [PROTOCOL.md §23]) instead of the
    /// certificate's.
    pub fn unwrap_with_prekey(
        &self,
        agreement: &AgreementKeyPair,
        sender: &DeviceSigningPublicKey,
    ) -> Result<EpochKey, UnwrapError> {
        self.verify_signature(sender)
            .map_err(|_| UnwrapError::BadSignature)?;
        let shared = agreement.agree(&self.ephemeral_key)?;
        self.open_with(&shared, agreement.public_key())
    }

    /// Decryption alone, without the signature check; tests use it to show that the AEAD
    /// binds every field on its own.
    pub(crate) fn decrypt(&self, recipient: &DeviceKeys) -> Result<EpochKey, UnwrapError> {
        let shared = recipient.agree(&self.ephemeral_key)?;
        self.open_with(&shared, &recipient.public_keys().agreement)
    }

    fn open_with(
        &self,
        shared: &[u8; 32],
        recipient: &DeviceAgreementPublicKey,
    ) -> Result<EpochKey, UnwrapError> {
        let ad = self.additional_data();
        let key = wrap_key(shared, &self.ephemeral_key, recipient, &ad)?;
        let plaintext = aes_gcm_open(&key, &self.nonce, &ad, &self.ciphertext)
            .map_err(|_| UnwrapError::Decrypt)?;
        let bytes = Zeroizing::new(
            <[u8; EPOCH_KEY_LEN]>::try_from(plaintext.as_slice())
                .map_err(|_| UnwrapError::Decrypt)?,
        );
        let epoch_key = EpochKey::from_bytes(&bytes);
        let expected = epoch_key.commitment(&self.channel_id, self.epoch);
        if !bool::from(expected.0.ct_eq(&self.commitment.0)) {
            return Err(UnwrapError::CommitmentMismatch);
        }
        Ok(epoch_key)
    }
}

/// Why a device received no wrapped key for an epoch ([PROTOCOL.md §7.5]). Shown to the
/// user instead of an unexplained "unable to decrypt".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WithheldReason {
    /// The device's certificate is not signed by its user's identity key (or the
    /// sender could not verify it), so the sender did not wrap for it.
    UnverifiedDevice,
    /// The device was revoked (lost or stolen, revoked by an administrator).
    RevokedDevice,
    /// The user was not a member of the channel at that epoch (need-to-know: history
    /// before joining is not shared).
    NotMemberAtEpoch,
    /// The account is suspended or locked by an administrator.
    Blocked,
    /// A reason code this version does not know; show a generic explanation.
    #[serde(other)]
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test_support::{device_from_hex, hex, scalar_from_hex};
    use crate::crypto::{DeviceCertificateRequest, IdentityKeyPair};
    use serde_json::Value;

    struct Party {
        keys: DeviceKeys,
        certificate: DeviceCertificate,
    }

    fn party(device_id: &str) -> Party {
        let identity = IdentityKeyPair::generate().unwrap();
        let keys = DeviceKeys::generate().unwrap();
        let request =
            DeviceCertificateRequest::new("user", device_id, identity.public_key(), &keys).unwrap();
        let certificate = identity.certify(&request).unwrap();
        Party { keys, certificate }
    }

    fn wrapped() -> (EpochKey, Party, Party, WrappedEpochKey) {
        let sender = party("sender");
        let recipient = party("recipient");
        let key = EpochKey::generate().unwrap();
        let wrapped = key
            .wrap("channel", 7, "sender", &sender.keys, &recipient.certificate)
            .unwrap();
        (key, sender, recipient, wrapped)
    }

    fn signing(party: &Party) -> &DeviceSigningPublicKey {
        &party.keys.public_keys().signing
    }

    #[test]
    fn the_epoch_wrap_vector_is_reproduced() {
        let v: Value = serde_json::from_str(include_str!("../../vectors/epoch_wrap.json")).unwrap();
        let sender = device_from_hex(
            v["sender_signing_private_key_hex"].as_str().unwrap(),
            v["sender_agreement_private_key_hex"].as_str().unwrap(),
        );
        let recipient = device_from_hex(
            v["recipient_signing_private_key_hex"].as_str().unwrap(),
            v["recipient_agreement_private_key_hex"].as_str().unwrap(),
        );
        let ephemeral = EphemeralKeyPair::from_secret(
            SecretScalar::from_bytes(&scalar_from_hex(
                v["ephemeral_private_key_hex"].as_str().unwrap(),
            ))
            .unwrap(),
        )
        .unwrap();
        let epoch_key =
            EpochKey::from_bytes(&scalar_from_hex(v["epoch_key_hex"].as_str().unwrap()));
        let nonce: [u8; NONCE_LEN] = hex(v["nonce_hex"].as_str().unwrap()).try_into().unwrap();
        let header = WrapHeader {
            channel_id: v["channel_id"].as_str().unwrap(),
            epoch: v["epoch"].as_u64().unwrap(),
            sender_device: v["sender_device"].as_str().unwrap(),
            recipient_device: v["recipient_device"].as_str().unwrap(),
        };
        let expected: WrappedEpochKey = serde_json::from_value(v["wrapped"].clone()).unwrap();

        // Every intermediate value, then the output byte for byte (but the signature,
        // which ECDSA randomises).
        let commitment = epoch_key.commitment(header.channel_id, header.epoch);
        assert_eq!(
            commitment.0.to_vec(),
            hex(v["commitment_hex"].as_str().unwrap())
        );
        let ad = header.additional_data(&commitment);
        assert_eq!(ad, hex(v["additional_data_hex"].as_str().unwrap()));
        let shared = ephemeral.agree(&recipient.public_keys().agreement).unwrap();
        assert_eq!(
            shared.to_vec(),
            hex(v["shared_secret_hex"].as_str().unwrap())
        );
        let key = wrap_key(
            &shared,
            &ephemeral.public,
            &recipient.public_keys().agreement,
            &ad,
        )
        .unwrap();
        assert_eq!(key.to_vec(), hex(v["wrap_key_hex"].as_str().unwrap()));
        let ours = epoch_key
            .wrap_with(
                &header,
                &sender,
                &recipient.public_keys().agreement,
                &ephemeral,
                &nonce,
            )
            .unwrap();
        assert_eq!(ours.ciphertext, expected.ciphertext);
        assert_eq!(ours.ephemeral_key, expected.ephemeral_key);
        assert_eq!(ours.signed_bytes(), expected.signed_bytes());
        assert_eq!(
            expected.signed_bytes(),
            hex(v["signed_bytes_hex"].as_str().unwrap())
        );

        // The fixed signature verifies, and the recipient recovers the key.
        expected
            .verify_signature(&sender.public_keys().signing)
            .unwrap();
        let unwrapped = expected
            .unwrap_key(&recipient, &sender.public_keys().signing)
            .unwrap();
        assert_eq!(*unwrapped.to_bytes(), *epoch_key.to_bytes());
        assert_eq!(serde_json::to_value(&expected).unwrap(), v["wrapped"]);
    }

    #[test]
    fn the_recipient_recovers_the_epoch_key() {
        let (key, sender, recipient, wrapped) = wrapped();
        let unwrapped = wrapped
            .unwrap_key(&recipient.keys, signing(&sender))
            .unwrap();
        assert_eq!(*unwrapped.to_bytes(), *key.to_bytes());
        assert_eq!(wrapped.commitment, key.commitment("channel", 7));
    }

    #[test]
    fn a_wrap_for_another_device_does_not_decrypt() {
        let (_, sender, _, wrapped) = wrapped();
        let eavesdropper = party("recipient");
        assert_eq!(
            wrapped
                .unwrap_key(&eavesdropper.keys, signing(&sender))
                .unwrap_err(),
            UnwrapError::Decrypt
        );
    }

    #[test]
    fn a_wrap_checked_against_another_sender_is_rejected() {
        let (_, _, recipient, wrapped) = wrapped();
        let other = party("sender");
        assert_eq!(
            wrapped
                .unwrap_key(&recipient.keys, signing(&other))
                .unwrap_err(),
            UnwrapError::BadSignature
        );
    }

    #[test]
    fn a_wrap_moved_to_another_channel_epoch_or_device_is_rejected() {
        let (_, sender, recipient, wrapped) = wrapped();
        let alterations: Vec<fn(&mut WrappedEpochKey)> = vec![
            |w| w.channel_id = "other-channel".into(),
            |w| w.epoch += 1,
            |w| w.sender_device = "someone-else".into(),
            |w| w.recipient_device = "someone-else".into(),
        ];
        for alter in alterations {
            let mut bad = wrapped.clone();
            alter(&mut bad);
            // Rejected by the signature, and by the AEAD even without it.
            assert_eq!(
                bad.verify_signature(signing(&sender)),
                Err(SignatureError::Invalid)
            );
            assert!(bad.decrypt(&recipient.keys).is_err());
        }
    }

    #[test]
    fn a_flipped_bit_anywhere_in_a_wrap_is_rejected() {
        let (_, sender, recipient, wrapped) = wrapped();
        for bit in 0..(WRAPPED_KEY_LEN * 8) {
            let mut bad = wrapped.clone();
            bad.ciphertext[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(
                bad.verify_signature(signing(&sender)),
                Err(SignatureError::Invalid)
            );
            assert_eq!(
                bad.decrypt(&recipient.keys).unwrap_err(),
                UnwrapError::Decrypt
            );
        }
        for bit in 0..(NONCE_LEN * 8) {
            let mut bad = wrapped.clone();
            bad.nonce[bit / 8] ^= 1 << (bit % 8);
            assert!(bad.unwrap_key(&recipient.keys, signing(&sender)).is_err());
            assert!(bad.decrypt(&recipient.keys).is_err());
        }
        let mut bad = wrapped.clone();
        let mut signature = *bad.signature.as_bytes();
        signature[10] ^= 0x20;
        bad.signature = Signature::from_bytes(signature);
        assert_eq!(
            bad.unwrap_key(&recipient.keys, signing(&sender))
                .unwrap_err(),
            UnwrapError::BadSignature
        );
    }

    #[test]
    fn a_replaced_ephemeral_key_is_rejected() {
        let (_, sender, recipient, mut wrapped) = wrapped();
        wrapped.ephemeral_key = wrapped_ephemeral();
        assert!(wrapped.verify_signature(signing(&sender)).is_err());
        assert_eq!(
            wrapped.decrypt(&recipient.keys).unwrap_err(),
            UnwrapError::Decrypt
        );
    }

    fn wrapped_ephemeral() -> EphemeralPublicKey {
        EphemeralKeyPair::from_secret(SecretScalar::generate().unwrap())
            .unwrap()
            .public
            .clone()
    }

    #[test]
    fn a_key_that_does_not_match_its_commitment_is_rejected() {
        // A dishonest sender wraps one key but commits to another, hoping to give members
        // different keys: the recipient notices.
        let sender = party("sender");
        let recipient = party("recipient");
        let real = EpochKey::generate().unwrap();
        let mut wrapped = real
            .wrap("channel", 1, "sender", &sender.keys, &recipient.certificate)
            .unwrap();
        let other = EpochKey::generate().unwrap();
        wrapped.commitment = other.commitment("channel", 1);
        // Re-encrypt under the AD that names the false commitment, and re-sign.
        let ephemeral = EphemeralKeyPair::from_secret(SecretScalar::generate().unwrap()).unwrap();
        let ad = wrapped.additional_data();
        let shared = ephemeral
            .agree(&recipient.keys.public_keys().agreement)
            .unwrap();
        let key = wrap_key(
            &shared,
            &ephemeral.public,
            &recipient.keys.public_keys().agreement,
            &ad,
        )
        .unwrap();
        wrapped.ciphertext = aes_gcm_seal(&key, &wrapped.nonce, &ad, real.expose())
            .unwrap()
            .try_into()
            .unwrap();
        wrapped.ephemeral_key = ephemeral.public.clone();
        wrapped.signature = sender.keys.sign(&wrapped.signed_bytes()).unwrap();
        assert_eq!(
            wrapped
                .unwrap_key(&recipient.keys, signing(&sender))
                .unwrap_err(),
            UnwrapError::CommitmentMismatch
        );
    }

    #[test]
    fn wraps_round_trip_through_json() {
        let (_, sender, recipient, wrapped) = wrapped();
        let json = serde_json::to_string(&wrapped).unwrap();
        let back: WrappedEpochKey = serde_json::from_str(&json).unwrap();
        assert_eq!(back, wrapped);
        back.unwrap_key(&recipient.keys, signing(&sender)).unwrap();
    }

    #[test]
    fn a_wrap_with_an_epoch_beyond_javascript_integers_does_not_parse() {
        let (_, _, _, wrapped) = wrapped();
        let mut json = serde_json::to_value(&wrapped).unwrap();
        json["epoch"] = (crate::crypto::MAX_EPOCH + 1).into();
        assert!(serde_json::from_value::<WrappedEpochKey>(json).is_err());
    }

    #[test]
    fn withheld_reasons_use_stable_snake_case_codes() {
        assert_eq!(
            serde_json::to_string(&WithheldReason::NotMemberAtEpoch).unwrap(),
            "\"not_member_at_epoch\""
        );
        assert_eq!(
            serde_json::from_str::<WithheldReason>("\"unverified_device\"").unwrap(),
            WithheldReason::UnverifiedDevice
        );
        assert_eq!(
            serde_json::from_str::<WithheldReason>("\"a_future_reason\"").unwrap(),
            WithheldReason::Other
        );
    }

    #[test]
    fn the_debug_output_of_an_epoch_key_shows_no_byte() {
        let key = EpochKey::from_bytes(&[0x5a; 32]);
        let debug = format!("{key:?}");
        assert_eq!(debug, "EpochKey(..)");
        crate::crypto::test_support::assert_no_secret_in(&debug, &[0x5a; 32]);
    }
}
