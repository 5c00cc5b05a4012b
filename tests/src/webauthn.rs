//! A software authenticator for the WebAuthn tests: a P-256 key that answers the
//! server's creation and request options as a browser with a security key would, with
//! an origin of the test's choosing (the site's own, or a phishing page's).
//!
//! It builds the `none`-attestation object, the authenticator data and the assertion
//! signature by hand, from the WebAuthn Level 2 byte layouts, so the server's verifier is
//! tested against an independent implementation.

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_cbor_2::Value;
use serde_json::{json, Value as Json};

/// User present.
const FLAG_UP: u8 = 0x01;
/// User verified (PIN or biometrics).
const FLAG_UV: u8 = 0x04;
/// Attested credential data follows.
const FLAG_AT: u8 = 0x40;

/// One credential on a software authenticator.
pub struct SoftKey {
    signing: SigningKey,
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// The signature counter, incremented before each assertion.
    pub counter: u32,
    /// The authenticator model it declares.
    pub aaguid: [u8; 16],
    /// The user handle the server gave at registration (kept, as a passkey does).
    pub user_handle: Option<Vec<u8>>,
}

impl std::fmt::Debug for SoftKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftKey")
            .field("credential_id", &B64.encode(&self.credential_id))
            .field("counter", &self.counter)
            .finish()
    }
}

impl Default for SoftKey {
    fn default() -> Self {
        SoftKey::new([0x5a; 16])
    }
}

fn sha256(data: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

impl SoftKey {
    /// A new key declaring the model `aaguid`.
    pub fn new(aaguid: [u8; 16]) -> SoftKey {
        let random = ring::rand::SystemRandom::new();
        let mut credential_id = vec![0u8; 32];
        ring::rand::SecureRandom::fill(&random, &mut credential_id).unwrap_or_default();
        let signing = loop {
            let mut scalar = [0u8; 32];
            ring::rand::SecureRandom::fill(&random, &mut scalar).unwrap_or_default();
            if let Ok(key) = SigningKey::from_slice(&scalar) {
                break key;
            }
        };
        SoftKey {
            signing,
            credential_id,
            counter: 0,
            aaguid,
            user_handle: None,
        }
    }

    /// The credential id as the server names it (base64url).
    pub fn id(&self) -> String {
        B64.encode(&self.credential_id)
    }

    fn cose_key(&self) -> anyhow::Result<Vec<u8>> {
        let point = self.signing.verifying_key().to_encoded_point(false);
        let x = point.x().context("no x")?.to_vec();
        let y = point.y().context("no y")?.to_vec();
        let map = [
            (Value::Integer(1), Value::Integer(2)),  // kty: EC2
            (Value::Integer(3), Value::Integer(-7)), // alg: ES256
            (Value::Integer(-1), Value::Integer(1)), // crv: P-256
            (Value::Integer(-2), Value::Bytes(x)),
            (Value::Integer(-3), Value::Bytes(y)),
        ]
        .into_iter()
        .collect();
        Ok(serde_cbor_2::to_vec(&Value::Map(map))?)
    }

    fn client_data(kind: &str, options: &Json, origin: &str) -> anyhow::Result<Vec<u8>> {
        let challenge = options["publicKey"]["challenge"]
            .as_str()
            .context("no challenge in the options")?;
        Ok(serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": origin,
            "crossOrigin": false,
        }))?)
    }

    /// Answers creation options (`WebauthnCeremony::options`) as `navigator.credentials.create()`
    /// would on `origin`; the JSON the server expects in `credential`.
    pub fn register(&mut self, options: &Json, origin: &str) -> anyhow::Result<Json> {
        let public_key = &options["publicKey"];
        let rp_id = public_key["rp"]["id"].as_str().context("no rp id")?;
        let user_id = public_key["user"]["id"].as_str().context("no user id")?;
        self.user_handle = Some(B64.decode(user_id)?);
        let client_data = SoftKey::client_data("webauthn.create", options, origin)?;
        let mut auth_data = sha256(rp_id.as_bytes());
        auth_data.push(FLAG_UP | FLAG_UV | FLAG_AT);
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        auth_data.extend_from_slice(&self.aaguid);
        auth_data.extend_from_slice(&u16::try_from(self.credential_id.len())?.to_be_bytes());
        auth_data.extend_from_slice(&self.credential_id);
        auth_data.extend_from_slice(&self.cose_key()?);
        let attestation = Value::Map(
            [
                (text("fmt"), text("none")),
                (text("attStmt"), Value::Map(Default::default())),
                (text("authData"), Value::Bytes(auth_data)),
            ]
            .into_iter()
            .collect(),
        );
        Ok(json!({
            "id": self.id(),
            "rawId": self.id(),
            "type": "public-key",
            "response": {
                "attestationObject": B64.encode(serde_cbor_2::to_vec(&attestation)?),
                "clientDataJSON": B64.encode(client_data),
            },
            "clientExtensionResults": {},
        }))
    }

    /// Answers request options as `navigator.credentials.get()` would on `origin`, after
    /// moving the counter forward.
    pub fn assert(&mut self, options: &Json, origin: &str) -> anyhow::Result<Json> {
        self.counter += 1;
        self.assert_with_counter(options, origin, self.counter)
    }

    /// Answers request options with a chosen counter (a clone of the key, or a replay).
    pub fn assert_with_counter(
        &self,
        options: &Json,
        origin: &str,
        counter: u32,
    ) -> anyhow::Result<Json> {
        let rp_id = options["publicKey"]["rpId"]
            .as_str()
            .context("no rpId in the options")?;
        let client_data = SoftKey::client_data("webauthn.get", options, origin)?;
        let mut auth_data = sha256(rp_id.as_bytes());
        auth_data.push(FLAG_UP | FLAG_UV);
        auth_data.extend_from_slice(&counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&sha256(&client_data));
        let signature: Signature = self.signing.sign(&signed);
        let mut response = json!({
            "authenticatorData": B64.encode(&auth_data),
            "clientDataJSON": B64.encode(&client_data),
            "signature": B64.encode(signature.to_der().as_bytes()),
        });
        if let Some(handle) = &self.user_handle {
            response["userHandle"] = json!(B64.encode(handle));
        }
        Ok(json!({
            "id": self.id(),
            "rawId": self.id(),
            "type": "public-key",
            "response": response,
            "clientExtensionResults": {},
        }))
    }
}
