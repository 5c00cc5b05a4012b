//! TLS with rustls (CHARTER.md C16): TLS 1.2 and 1.3 only, AES-GCM suites only, ECDHE
//! on P-256 and P-384 only. Certificates come from the configuration or, on first start,
//! a self-signed one is generated into the data directory and its fingerprint printed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use rustls::crypto::ring as provider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{CipherSuite, ServerConfig};

use crate::config::Config;
use crate::secrets::write_private_file;

/// A certificate and key in use, with the certificate's SHA-256 fingerprint.
pub struct LoadedCertificate {
    /// Chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// Private key.
    pub key: PrivateKeyDer<'static>,
    /// SHA-256 of the leaf, as colon-separated hex.
    pub fingerprint: String,
    /// Whether it was generated at this start.
    pub generated: bool,
}

/// The cryptographic provider: ring, restricted to what ANSSI's guide accepts.
pub fn crypto_provider() -> rustls::crypto::CryptoProvider {
    let mut provider = provider::default_provider();
    provider.cipher_suites.retain(|suite| {
        matches!(
            suite.suite(),
            CipherSuite::TLS13_AES_256_GCM_SHA384
                | CipherSuite::TLS13_AES_128_GCM_SHA256
                | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
                | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                | CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
                | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        )
    });
    provider.kx_groups = vec![provider::kx_group::SECP256R1, provider::kx_group::SECP384R1];
    provider
}

/// The rustls server configuration for `certificate`.
pub fn server_config(certificate: &LoadedCertificate) -> anyhow::Result<Arc<ServerConfig>> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(crypto_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS versions")?
        .with_no_client_auth()
        .with_single_cert(certificate.chain.clone(), certificate.key.clone_key())
        .context("the TLS certificate and key do not match")?;
    // WebSockets ride HTTP/1.1; offering h2 would gain nothing here.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Loads the configured certificate, or the generated one (creating it on first start).
pub fn load_or_generate(config: &Config) -> anyhow::Result<LoadedCertificate> {
    if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
        return load(cert, key, false);
    }
    let dir = config.data_dir.join("tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert.exists() && key.exists() {
        return load(&cert, &key, false);
    }
    generate(&cert, &key, &hostnames(config))?;
    load(&cert, &key, true)
}

fn hostnames(config: &Config) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if !config.listen.ip().is_unspecified() && !config.listen.ip().is_loopback() {
        names.push(config.listen.ip().to_string());
    }
    if let Some(host) = config
        .public_origin
        .as_deref()
        .and_then(|origin| origin.split("://").nth(1))
        .and_then(|rest| rest.split([':', '/']).next())
    {
        if !names.iter().any(|name| name == host) {
            names.push(host.to_owned());
        }
    }
    names
}

fn generate(cert_path: &Path, key_path: &Path, names: &[String]) -> anyhow::Result<()> {
    let certified =
        rcgen::generate_simple_self_signed(names.to_vec()).context("certificate generation")?;
    write_private_file(key_path, certified.key_pair.serialize_pem().as_bytes())?;
    std::fs::write(cert_path, certified.cert.pem())
        .with_context(|| format!("cannot write {}", cert_path.display()))?;
    Ok(())
}

fn load(
    cert_path: &PathBuf,
    key_path: &PathBuf,
    generated: bool,
) -> anyhow::Result<LoadedCertificate> {
    let cert_pem =
        std::fs::read(cert_path).with_context(|| format!("cannot read {}", cert_path.display()))?;
    let key_pem = zeroize::Zeroizing::new(
        std::fs::read(key_path).with_context(|| format!("cannot read {}", key_path.display()))?,
    );
    let chain = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .context("invalid certificate PEM")?;
    let Some(leaf) = chain.first() else {
        bail!("{} holds no certificate", cert_path.display());
    };
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .context("invalid key PEM")?
        .with_context(|| format!("{} holds no private key", key_path.display()))?;
    let digest = ring::digest::digest(&ring::digest::SHA256, leaf.as_ref());
    let fingerprint = digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    Ok(LoadedCertificate {
        chain,
        key,
        fingerprint,
        generated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_aes_gcm_suites_and_nist_curves_are_offered() {
        let provider = crypto_provider();
        assert!(!provider.cipher_suites.is_empty());
        for suite in &provider.cipher_suites {
            assert!(
                format!("{:?}", suite.suite()).contains("GCM"),
                "{:?}",
                suite.suite()
            );
        }
        let groups: Vec<_> = provider.kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(
            groups,
            vec![rustls::NamedGroup::secp256r1, rustls::NamedGroup::secp384r1]
        );
    }

    #[test]
    fn a_generated_certificate_is_reused_on_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let first = load_or_generate(&config).unwrap();
        assert!(first.generated);
        let second = load_or_generate(&config).unwrap();
        assert!(!second.generated);
        assert_eq!(first.fingerprint, second.fingerprint);
        assert!(server_config(&second).is_ok());
    }
}
