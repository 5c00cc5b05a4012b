//! TLS (CHARTER.md C16): a handshake against the generated certificate succeeds; TLS 1.1
//! and non-AEAD suites are refused.

use std::sync::Arc;

use passerelle_tests::TestServer;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn tls_server() -> TestServer {
    TestServer::spawn_with(|config| config.tls = true)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_client_trusting_the_generated_certificate_completes_a_handshake() {
    let server = tls_server().await;
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(server.data_dir.path().join("tls/cert.pem")).unwrap();
    for cert in rustls_pemfile_certs(&pem) {
        roots.add(cert).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    tls.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response
        .to_ascii_lowercase()
        .contains("strict-transport-security"));
}

fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    let text = std::str::from_utf8(pem).unwrap();
    let body: String = text
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    vec![rustls::pki_types::CertificateDer::from(der)]
}

/// A ClientHello offering `version` and `suites` only, with the P-256 group.
fn client_hello(version: [u8; 2], suites: &[[u8; 2]]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&version);
    body.extend_from_slice(&[7u8; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&u16::try_from(suites.len() * 2).unwrap().to_be_bytes());
    for suite in suites {
        body.extend_from_slice(suite);
    }
    body.extend_from_slice(&[1, 0]); // compression: null
    let extensions: Vec<u8> = [
        &[0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x17][..], // supported_groups: secp256r1
        &[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00][..],             // ec_point_formats: uncompressed
        &[0x00, 0x0d, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03][..], // signature_algorithms: ecdsa_secp256r1_sha256
    ]
    .concat();
    body.extend_from_slice(&u16::try_from(extensions.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&extensions);
    let mut handshake = vec![1u8];
    handshake.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&u16::try_from(handshake.len()).unwrap().to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

/// Sends a ClientHello and returns the type of the first record the server answers.
async fn first_record_type(server: &TestServer, hello: &[u8]) -> Option<u8> {
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(hello).await.unwrap();
    let mut header = [0u8; 5];
    match tcp.read_exact(&mut header).await {
        Ok(_) => Some(header[0]),
        Err(_) => None,
    }
}

const ALERT: u8 = 0x15;
const HANDSHAKE: u8 = 0x16;

#[tokio::test]
async fn a_tls_1_1_client_is_refused() {
    let server = tls_server().await;
    // ECDHE-ECDSA-AES128-SHA, a suite TLS 1.1 clients offer.
    let answer = first_record_type(&server, &client_hello([0x03, 0x02], &[[0xc0, 0x09]])).await;
    assert!(
        matches!(answer, Some(ALERT) | None),
        "TLS 1.1 got a {answer:?} record"
    );
}

#[tokio::test]
async fn a_tls_1_2_client_offering_only_cbc_suites_is_refused_and_gcm_is_accepted() {
    let server = tls_server().await;
    let cbc = [[0xc0, 0x23], [0xc0, 0x09], [0xc0, 0x13], [0x00, 0x2f]];
    let answer = first_record_type(&server, &client_hello([0x03, 0x03], &cbc)).await;
    assert!(
        matches!(answer, Some(ALERT) | None),
        "CBC-only got a {answer:?} record"
    );
    // The same hello with ECDHE-ECDSA-AES128-GCM-SHA256 gets a ServerHello.
    let answer = first_record_type(&server, &client_hello([0x03, 0x03], &[[0xc0, 0x2b]])).await;
    assert_eq!(answer, Some(HANDSHAKE));
}

/// Runs `openssl s_client` against the server; returns whether the handshake completed.
fn openssl_handshake(server: &TestServer, args: &[&str]) -> bool {
    let output = std::process::Command::new("openssl")
        .arg("s_client")
        .arg("-connect")
        .arg(server.addr.to_string())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl must be installed for the TLS suite");
    let text = String::from_utf8_lossy(&output.stdout);
    // A completed handshake prints the negotiated cipher; a refused one prints "(NONE)".
    text.contains("Cipher is ") && !text.contains("Cipher is (NONE)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_openssl_client_is_refused_tls_1_0_1_1_and_non_aead_suites() {
    let server = tls_server().await;
    let check = |args: &'static [&'static str]| {
        tokio::task::block_in_place(|| openssl_handshake(&server, args))
    };
    // SECLEVEL=0 lets the client offer what it would otherwise refuse itself, so that
    // the refusal comes from the server.
    assert!(
        !check(&["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"]),
        "TLS 1.0 accepted"
    );
    assert!(
        !check(&["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]),
        "TLS 1.1 accepted"
    );
    assert!(
        !check(&[
            "-tls1_2",
            "-cipher",
            "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:@SECLEVEL=0"
        ]),
        "CBC accepted"
    );
    assert!(
        !check(&["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"]),
        "ChaCha20 accepted (not on ANSSI's list here)"
    );
    assert!(
        check(&["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"]),
        "TLS 1.2 AES-GCM refused"
    );
    assert!(check(&["-tls1_3"]), "TLS 1.3 refused");
    assert!(
        !check(&["-tls1_3", "-groups", "X25519"]),
        "a curve outside P-256/P-384 accepted"
    );
}
