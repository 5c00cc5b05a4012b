//! TOTP (RFC 6238): 6 digits, 30-second steps, SHA-1 as every authenticator app expects,
//! one step of clock drift either way. A code is accepted once: the caller records the
//! step it matched and refuses any step not later than the last one.

use qrcode::render::svg;
use qrcode::QrCode;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};
use zeroize::Zeroizing;

use passerelle_shared::protocol::v1::auth::TotpEnrolment;

const DIGITS: usize = 6;
const STEP_SECONDS: u64 = 30;
const ISSUER: &str = "Passerelle";

fn totp(secret: &[u8], login: &str) -> anyhow::Result<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECONDS,
        secret.to_vec(),
        Some(ISSUER.to_owned()),
        login.to_owned(),
    )
    .map_err(|err| anyhow::anyhow!("invalid TOTP parameters: {err}"))
}

/// What the user scans: the `otpauth://` URI, its base32 secret and a QR code in SVG.
pub fn enrolment(secret: &[u8], login: &str) -> anyhow::Result<TotpEnrolment> {
    let totp = totp(secret, login)?;
    let otpauth_uri = totp.get_url();
    let qr = QrCode::new(otpauth_uri.as_bytes())?;
    let qr_svg = qr
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok(TotpEnrolment {
        otpauth_uri,
        secret_base32: Secret::Raw(secret.to_vec()).to_encoded().to_string(),
        qr_svg,
    })
}

/// The time step `code` matches at `now_ms` (previous, current or next), if any. The
/// comparison is constant-time.
pub fn matching_step(secret: &[u8], login: &str, code: &str, now_ms: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret, login).ok()?;
    let now_secs = u64::try_from(now_ms / 1000).ok()?;
    let current = now_secs / STEP_SECONDS;
    let mut found = None;
    for step in [current.saturating_sub(1), current, current + 1] {
        let expected = Zeroizing::new(totp.generate(step * STEP_SECONDS));
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            found = i64::try_from(step).ok();
        }
    }
    found
}

/// The code an authenticator shows at `now_ms` (demo printing and tests).
pub fn code_at(secret: &[u8], login: &str, now_ms: i64) -> anyhow::Result<String> {
    let secs = u64::try_from(now_ms / 1000)?;
    Ok(totp(secret, login)?.generate(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn the_rfc_6238_sha1_vector_matches() {
        // RFC 6238 appendix B: T = 59 s gives 94287082 with 8 digits; the last 6 are ours.
        let code = code_at(SECRET, "a", 59_000).unwrap();
        assert_eq!(code, "287082");
        assert_eq!(matching_step(SECRET, "a", "287082", 59_000), Some(1));
    }

    #[test]
    fn a_code_from_one_step_away_is_accepted_but_not_two() {
        let now = 1_700_000_000_000;
        let previous = code_at(SECRET, "a", now - 30_000).unwrap();
        assert!(matching_step(SECRET, "a", &previous, now).is_some());
        let old = code_at(SECRET, "a", now - 90_000).unwrap();
        assert!(matching_step(SECRET, "a", &old, now).is_none());
    }

    #[test]
    fn malformed_codes_match_nothing() {
        for code in ["", "12345", "1234567", "abcdef", "12 456"] {
            assert_eq!(matching_step(SECRET, "a", code, 59_000), None);
        }
    }

    #[test]
    fn the_enrolment_carries_uri_secret_and_qr_code() {
        let enrolment = enrolment(SECRET, "marie.dupont").unwrap();
        assert!(enrolment
            .otpauth_uri
            .starts_with("otpauth://totp/Passerelle:marie.dupont?"));
        assert!(enrolment.qr_svg.contains("<svg"));
        assert_eq!(enrolment.secret_base32, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }
}
