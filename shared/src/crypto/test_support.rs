//! Helpers shared by the tests of the crypto modules.

use super::encoding::to_base64url;
use super::keys::{DeviceKeys, IdentityKeyPair};

pub(crate) fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn scalar_from_hex(text: &str) -> [u8; 32] {
    hex(text).try_into().unwrap()
}

pub(crate) fn identity_from_hex(private_key: &str) -> IdentityKeyPair {
    IdentityKeyPair::from_private_bytes(&scalar_from_hex(private_key)).unwrap()
}

pub(crate) fn device_from_hex(signing: &str, agreement: &str) -> DeviceKeys {
    DeviceKeys::from_private_bytes(&scalar_from_hex(signing), &scalar_from_hex(agreement)).unwrap()
}

/// Fails if a secret appears in text as hex, base64url, or Rust's array notation.
pub(crate) fn assert_no_secret_in(text: &str, secret: &[u8]) {
    assert!(!text.contains(&to_hex(secret)), "hex secret in {text}");
    assert!(
        !text.contains(&to_base64url(secret)),
        "base64url secret in {text}"
    );
    assert!(
        !text.contains(&format!("{secret:?}")),
        "array secret in {text}"
    );
    let decimal_prefix = format!("{:?}", &secret[..4]);
    let decimal_prefix = decimal_prefix.trim_end_matches(']');
    assert!(!text.contains(decimal_prefix), "secret bytes in {text}");
}
