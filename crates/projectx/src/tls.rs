//! rustls with the `ring` provider, installed explicitly.
//!
//! reqwest is built with `rustls-no-provider`, so exactly one crypto stack (ring, which jsonwebtoken also uses) is
//! in the tree and no OpenSSL or aws-lc is compiled. rustls then needs a process-wide default provider before the
//! first TLS client is built; this installs it once.

/// Installs rustls' `ring` crypto provider as the process default. Idempotent: later calls, or a provider that
/// another part of the program installed first, are fine.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means a provider is already installed, which is all we need.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
