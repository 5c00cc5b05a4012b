//! End-to-end encryption for Passerelle, on ring. The normative specification, with the
//! exact bytes of every construction and its test vectors, is
//! [`docs/PROTOCOL.md`](../../../docs/PROTOCOL.md); the vectors are the JSON files in
//! `shared/vectors/`, which the browser client passes too.
//!
//! # What it protects against
//!
//! - **A malicious or compromised server** relays and stores only ciphertext. It cannot
//!   read messages, attachments or key backups, forge or alter a message (device
//!   signatures), move a message to another channel, epoch or sender (additional data),
//!   add a device to someone's account (identity signatures), or give members different
//!   keys for one epoch (key commitments). It can still see metadata (who, when, which
//!   channel, padded sizes), withhold, delay or drop messages, and add a member to the
//!   member list it serves: a [`Roster`] makes clients encrypt only for the verified
//!   devices of the members they show, never for a device the server slips in, and
//!   people compare fingerprints to detect substituted identity keys.
//! - **A removed member** keeps what they already decrypted but gets no key for later
//!   epochs, and the server refuses old-epoch messages once the removal commits.
//! - **A stolen laptop** holds its device keys and the epoch keys it received; an
//!   administrator revokes the device, which forces a new epoch without it. If it held
//!   the identity key, the user resets their identity.
//! - **A network attacker** faces TLS, then the same end-to-end layer as the server.
//!
//! # Map
//!
//! | Construction | Types |
//! |---|---|
//! | keys | [`IdentityKeyPair`], [`DeviceKeys`], [`IdentityPublicKey`], [`DevicePublicKeys`], [`Signature`] |
//! | device certificates | [`DeviceCertificateRequest`], [`DeviceCertificate`], [`IdentityKeyPair::certify`] |
//! | fingerprints | [`Fingerprint`], [`DeviceLinkCode`] |
//! | epoch keys | [`EpochKey`], [`WrappedEpochKey`], [`KeyCommitment`], [`WithheldReason`] |
//! | rotating agreement keys | [`SignedPrekey`], [`AgreementKeyPair`] |
//! | messages | [`Envelope`], [`MessageHeader`], [`MessageOrder`], [`MessageContent`], [`pad`]/[`unpad`] |
//! | each sender's order, checked by receivers | [`check_order`], [`OrderMark`], [`OrderAnomaly`] |
//! | attachments | [`encrypt_attachment`], [`decrypt_attachment`], [`AttachmentRef`] |
//! | key backup | [`RecoveryCode`], [`BackupKey`], [`BackupContents`], [`KeyBackup`]; paged: [`KeyBackupHead`], [`KeyBackupPage`], [`BackupPages`] |
//! | key transparency log (§25) | [`KeyLogEntry`], [`KeyLogVerifier`], [`LoggedKeys`], [`check_consistency`], [`merkle`] |
//! | who to encrypt for and accept from | [`Roster`], [`EpochPlan`], [`RosterError`] |
//! | who the members are, signed by who changed them | [`MembershipRecord`], [`verify_log`], [`MembershipState`] |
//!
//! What the server calls needs no secret: [`DeviceCertificate::verify`],
//! [`Envelope::verify_signature`], [`WrappedEpochKey::verify_signature`],
//! [`SignedPrekey::verify`], and the serde
//! forms of the public types, which validate every point on decode.
//!
//! # Secrets
//!
//! Private and symmetric keys live in boxed arrays inside types that derive `Zeroize`
//! and `ZeroizeOnDrop`, have no `Clone`, `Serialize` or derived `Debug`, and print only
//! public parts. Functions that hand out secret bytes return `Zeroizing` values, so the
//! copy is wiped when the caller drops it.
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::panic, clippy::unwrap_used, clippy::expect_used)
)]

mod attachment;
mod backup;
mod backup_pages;
mod content;
mod device;
mod encoding;
mod envelope;
mod epoch;
mod fingerprint;
mod keylog;
mod keys;
mod membership_log;
pub mod merkle;
mod order;
mod padding;
mod prekey;
mod primitives;
mod roster;
#[cfg(test)]
mod sealed_meta_vectors;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod vectors;

pub use attachment::{
    decrypt_attachment, encrypt_attachment, AttachmentError, AttachmentKey, EncryptedAttachment,
    ATTACHMENT_KEY_LEN, CHUNK_LEN,
};
pub use backup::{
    BackupContents, BackupError, BackupKey, KeyBackup, RecoveryCode, RecoveryCodeError, Shredded,
    BACKUP_KDF_ITERATIONS, LEGACY_BACKUP_KDF_ITERATIONS, LEGACY_RECOVERY_CODE_LEN,
    RECOVERY_CODE_LEN,
};
pub use backup_pages::{
    BackupPages, KeyBackupHead, KeyBackupPage, PageHash, PageRef, StoredBackup, PAGE_CAPACITY,
    PAGE_ID_LEN,
};
pub use content::{AttachmentRef, MessageContent, MessageRef};
pub use device::{CertificateError, DeviceCertificate, DeviceCertificateRequest};
pub use encoding::{
    from_base64url, to_base64url, DecodeError, Version1, MAX_EPOCH, MAX_ID_LEN, PROTOCOL_VERSION,
};
pub use envelope::{
    Envelope, MessageHeader, MessageOrder, OpenError, SealError, ENVELOPE_VERSION_ORDERED,
};
pub use epoch::{
    EpochKey, KeyCommitment, UnwrapError, WithheldReason, WrapError, WrappedEpochKey,
    EPOCH_KEY_LEN, MAX_EPOCH_AGE_SECONDS, MAX_MESSAGES_PER_EPOCH, WRAPPED_KEY_LEN,
};
pub use fingerprint::{DeviceLinkCode, Fingerprint, FINGERPRINT_ITERATIONS};
pub use keylog::{
    check_consistency, check_gossiped_head, decode_proof, encode_hash, AccountChange, AuditedLog,
    Checkpoint, GossipedHead, KeyLogEntry, KeyLogError, KeyLogHead, KeyLogKind, KeyLogVerifier,
    LoggedCertificate, LoggedDevice, LoggedDeviceState, LoggedIdentity, LoggedKeys,
    KEY_LOG_ENTRY_LABEL,
};
pub use keys::{
    DeviceAgreementPublicKey, DeviceKeys, DevicePublicKeys, DeviceSigningPublicKey,
    EphemeralPublicKey, IdentityKeyPair, IdentityPublicKey, KeyError, Signature, SignatureError,
    PRIVATE_KEY_LEN, PUBLIC_KEY_LEN, SIGNATURE_LEN,
};
pub use membership_log::{
    check_contains, verify_log, LogError, LogHead, MembershipRecord, MembershipState, RecordBody,
    RecordHash, LOG_KINDS, LOG_REFERENT, LOG_REMOVAL_REASONS, LOG_ROLES, LOG_SERVER_REMOVAL,
    MAX_LOG_SUBJECTS,
};
pub use order::{
    check_order, Arrival, OrderAnomaly, OrderMark, OrderNotice, OrderReport, CLOCK_TOLERANCE_MS,
    MAX_MISSING_KEPT,
};
pub use padding::{
    pad, padded_len, unpad, PaddingError, MAX_CONTENT_LEN, MAX_PADDED_LEN, MIN_PADDED_LEN,
};
pub use prekey::{
    AgreementKeyPair, PrekeyError, SignedPrekey, PREKEY_GRACE_MS, PREKEY_ROTATION_MS,
};
pub use primitives::{NONCE_LEN, TAG_LEN};
pub use roster::{EpochPlan, Roster, RosterError};
