//! Length-hiding padding of message plaintexts ([PROTOCOL.md §8.3]).
//!
//! ```text
//! padded = u32be(n) ‖ content (n bytes) ‖ zero bytes up to B
//! B      = max(256, the smallest power of two ≥ 4 + n),   B ≤ 65 536
//! ```
//!
//! The server (and anyone watching) learns only the bucket: a one-word reply and a
//! two-hundred-byte message look the same, and above that the size is known to within a
//! factor of two. Unpadding is strict (exact bucket size, zero padding) so that every
//! plaintext has exactly one padded form.
//!
//! [PROTOCOL.md §8.3]: ../../../docs/PROTOCOL.md#83-padding

use zeroize::Zeroizing;

/// The smallest padded size.
pub const MIN_PADDED_LEN: usize = 256;
/// The largest padded size; a message whose content needs more is refused.
pub const MAX_PADDED_LEN: usize = 65_536;
/// The longest content that fits: the largest bucket minus the length prefix.
pub const MAX_CONTENT_LEN: usize = MAX_PADDED_LEN - 4;

/// Why content could not be padded or a padded plaintext is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PaddingError {
    /// The content is longer than [`MAX_CONTENT_LEN`] bytes.
    #[error("content longer than {MAX_CONTENT_LEN} bytes")]
    TooLong,
    /// The padded plaintext is not exactly one bucket long, its length prefix points
    /// past its end, or its padding bytes are not all zero.
    #[error("malformed padding")]
    Malformed,
}

/// The bucket size for content of `content_len` bytes, if it fits.
pub fn padded_len(content_len: usize) -> Option<usize> {
    let needed = content_len.checked_add(4)?;
    let bucket = needed.checked_next_power_of_two()?.max(MIN_PADDED_LEN);
    (bucket <= MAX_PADDED_LEN).then_some(bucket)
}

/// Pads content into its bucket. The result is zeroized when dropped.
pub fn pad(content: &[u8]) -> Result<Zeroizing<Vec<u8>>, PaddingError> {
    let bucket = padded_len(content.len()).ok_or(PaddingError::TooLong)?;
    let len = u32::try_from(content.len()).map_err(|_| PaddingError::TooLong)?;
    let mut padded = Zeroizing::new(Vec::with_capacity(bucket));
    padded.extend_from_slice(&len.to_be_bytes());
    padded.extend_from_slice(content);
    padded.resize(bucket, 0);
    Ok(padded)
}

/// Returns the content of a padded plaintext, checking that the padding is canonical.
pub fn unpad(padded: &[u8]) -> Result<&[u8], PaddingError> {
    let (prefix, rest) = padded
        .split_first_chunk::<4>()
        .ok_or(PaddingError::Malformed)?;
    let len = usize::try_from(u32::from_be_bytes(*prefix)).map_err(|_| PaddingError::Malformed)?;
    if padded_len(len) != Some(padded.len()) {
        return Err(PaddingError::Malformed);
    }
    let (content, padding) = rest.split_at_checked(len).ok_or(PaddingError::Malformed)?;
    if padding.iter().any(|byte| *byte != 0) {
        return Err(PaddingError::Malformed);
    }
    Ok(content)
}

/// Whether `len` is a size a padded plaintext can have.
pub(crate) fn is_bucket(len: usize) -> bool {
    (MIN_PADDED_LEN..=MAX_PADDED_LEN).contains(&len) && len.is_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test_support::hex;
    use serde_json::Value;

    #[test]
    fn the_padding_vectors_are_reproduced() {
        let v: Value = serde_json::from_str(include_str!("../../vectors/padding.json")).unwrap();
        for case in v["sizes"].as_array().unwrap() {
            let content_len = case["content_len"].as_u64().unwrap() as usize;
            let expected = case["padded_len"].as_u64().map(|n| n as usize);
            assert_eq!(padded_len(content_len), expected, "{content_len}");
        }
        for case in v["exact"].as_array().unwrap() {
            let content = hex(case["content_hex"].as_str().unwrap());
            let padded = hex(case["padded_hex"].as_str().unwrap());
            assert_eq!(pad(&content).unwrap().as_slice(), padded.as_slice());
            assert_eq!(unpad(&padded).unwrap(), content.as_slice());
        }
        for case in v["malformed"].as_array().unwrap() {
            let padded = hex(case["padded_hex"].as_str().unwrap());
            assert_eq!(
                unpad(&padded),
                Err(PaddingError::Malformed),
                "{}",
                case["why"]
            );
        }
    }

    #[test]
    fn padding_round_trips_at_every_bucket_boundary() {
        for len in [
            0,
            1,
            252,
            253,
            508,
            509,
            1020,
            1021,
            32_764,
            32_765,
            MAX_CONTENT_LEN,
        ] {
            let content = vec![0xab; len];
            let padded = pad(&content).unwrap();
            assert!(is_bucket(padded.len()), "{len}");
            assert_eq!(unpad(&padded).unwrap(), content.as_slice());
        }
    }

    #[test]
    fn content_beyond_the_largest_bucket_is_refused() {
        assert_eq!(
            pad(&vec![0; MAX_CONTENT_LEN + 1]).unwrap_err(),
            PaddingError::TooLong
        );
    }

    #[test]
    fn a_non_zero_padding_byte_is_rejected() {
        let mut padded = pad(b"hello").unwrap();
        padded[200] = 1;
        assert_eq!(unpad(&padded), Err(PaddingError::Malformed));
    }

    #[test]
    fn a_padded_plaintext_in_the_wrong_bucket_is_rejected() {
        let mut padded = pad(b"hello").unwrap().to_vec();
        padded.resize(512, 0);
        assert_eq!(unpad(&padded), Err(PaddingError::Malformed));
    }
}
