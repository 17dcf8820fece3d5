//! The rustls crypto provider: ring's, without the ChaCha20-Poly1305 cipher suites.
//!
//! Every TLS 1.3 server must offer TLS_AES_128_GCM_SHA256 (RFC 8446 section 9.1) and TLS 1.2
//! servers offer ECDHE with AES-GCM (RFC 9325 section 4.2), so ChaCha20 was never the only
//! suite a server (Databricks, Entra, an identity provider, a TLS-inspecting proxy) could pick;
//! its assembly cost ~40 KB of the static binary's 2.0 MB budget. TLS 1.2 stays. The rest is
//! `rustls::crypto::ring::default_provider()` spelled out: taking that provider and dropping
//! suites would still link the ChaCha20 code through its suite table.

use std::sync::Arc;

use rustls::SignatureScheme;
use rustls::crypto::ring::{cipher_suite as cs, kx_group};
use rustls::crypto::{
    CryptoProvider, GetRandomFailed, KeyProvider, SecureRandom, WebPkiSupportedAlgorithms,
};
use rustls::pki_types::PrivateKeyDer;
use webpki::ring as alg;

/// The provider for every HTTPS client dbtoken builds.
pub(crate) fn provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: vec![
            cs::TLS13_AES_256_GCM_SHA384,
            cs::TLS13_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ],
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1],
        signature_verification_algorithms: SIGNATURE_ALGORITHMS,
        secure_random: &Ring,
        key_provider: &Ring,
    }
}

/// Certificate and handshake signature algorithms: rustls' ring table (0.23).
static SIGNATURE_ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        alg::ECDSA_P256_SHA256,
        alg::ECDSA_P256_SHA384,
        alg::ECDSA_P384_SHA256,
        alg::ECDSA_P384_SHA384,
        alg::ED25519,
        alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
        alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
        alg::RSA_PKCS1_2048_8192_SHA256,
        alg::RSA_PKCS1_2048_8192_SHA384,
        alg::RSA_PKCS1_2048_8192_SHA512,
        alg::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
        alg::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
        alg::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    ],
    mapping: &[
        (
            SignatureScheme::ECDSA_NISTP384_SHA384,
            &[alg::ECDSA_P384_SHA384, alg::ECDSA_P256_SHA384],
        ),
        (
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &[alg::ECDSA_P256_SHA256, alg::ECDSA_P384_SHA256],
        ),
        (SignatureScheme::ED25519, &[alg::ED25519]),
        (
            SignatureScheme::RSA_PSS_SHA512,
            &[alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA384,
            &[alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA256,
            &[alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA512,
            &[alg::RSA_PKCS1_2048_8192_SHA512],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA384,
            &[alg::RSA_PKCS1_2048_8192_SHA384],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA256,
            &[alg::RSA_PKCS1_2048_8192_SHA256],
        ),
    ],
};

/// Randomness through ring, as rustls' own ring provider does; no key loading (below).
#[derive(Debug)]
struct Ring;

impl SecureRandom for Ring {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        use ring::rand::SecureRandom as _;
        ring::rand::SystemRandom::new()
            .fill(buf)
            .map_err(|_| GetRandomFailed)
    }
}

/// No private keys: dbtoken never presents a TLS client certificate (nothing sets ureq's
/// `client_cert`), so rustls never asks for one. Loading keys as rustls' ring provider does
/// (`sign::any_supported_type`) would link ring's RSA, ECDSA and Ed25519 signing code, ~20 KB
/// of the static binary's budget, for no caller.
impl KeyProvider for Ring {
    fn load_private_key(
        &self,
        _key_der: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn rustls::sign::SigningKey>, rustls::Error> {
        Err(rustls::Error::General(
            "dbtoken does not use TLS client certificates".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_as_ring_default_but_chacha20() {
        let ring = rustls::crypto::ring::default_provider();
        let ours = provider();
        let no_chacha: Vec<_> = ring
            .cipher_suites
            .iter()
            .filter(|s| !format!("{:?}", s.suite()).contains("CHACHA20"))
            .map(|s| s.suite())
            .collect();
        assert_eq!(
            ours.cipher_suites
                .iter()
                .map(|s| s.suite())
                .collect::<Vec<_>>(),
            no_chacha
        );
        assert_eq!(ours.cipher_suites.len(), 6);
        let names = |p: &CryptoProvider| p.kx_groups.iter().map(|g| g.name()).collect::<Vec<_>>();
        assert_eq!(names(&ours), names(&ring));
        assert_eq!(
            format!("{:?}", ours.signature_verification_algorithms),
            format!("{:?}", ring.signature_verification_algorithms)
        );
        let mut buf = [0u8; 32];
        ours.secure_random.fill(&mut buf).unwrap();
        assert_ne!(buf, [0u8; 32]);
    }

    #[test]
    fn refuses_private_keys_with_a_reason() {
        let key = PrivateKeyDer::Pkcs8(vec![0x30, 0x00].into());
        let e = provider().key_provider.load_private_key(key).err().unwrap();
        assert!(e.to_string().contains("client certificates"), "{e}");
    }
}
