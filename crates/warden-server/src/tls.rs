//! TLS for `warden serve` and the hub (rustls with the ring provider),
//! optionally with client certificates signed by a given CA: required by
//! `warden serve`, optional on the hub (a service account's way in).
//!
//! Each handshake runs on its connection's own task, under the connection
//! caps and `tls_handshake_timeout` (see [`crate::conn`]), so a client that
//! opens a connection and stalls cannot hold up anyone else's accept.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::ServerError;

/// Where the certificate chain, its key and (for client-certificate
/// authentication) the client CA are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// A PEM file holding the server's certificate chain, its own
    /// certificate first.
    pub cert: PathBuf,
    /// A PEM file holding the private key of that certificate.
    pub key: PathBuf,
    /// A PEM file of the CA certificates a client's certificate must chain
    /// to; every client must then present one. `None`: no client
    /// certificate is asked for.
    pub client_ca: Option<PathBuf>,
    /// With `client_ca`: a client may also connect without a certificate
    /// (the hub, where people present tokens and service accounts
    /// certificates); one it presents must still chain to the CA.
    pub client_cert_optional: bool,
}

fn bad(path: &Path, why: impl std::fmt::Display) -> ServerError {
    ServerError::Config(format!("{}: {why}", path.display()))
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ServerError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(path, e))?;
    if certs.is_empty() {
        return Err(bad(path, "no PEM certificate in the file"));
    }
    Ok(certs)
}

/// The rustls server configuration: TLS 1.2 and 1.3, HTTP/1.1.
pub fn server_config(s: &TlsSettings) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certs(&s.cert)?;
    let key = PrivateKeyDer::from_pem_file(&s.key).map_err(|e| bad(&s.key, e))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Config(format!("TLS: {e}")))?;
    let builder = match &s.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certs(ca)? {
                roots.add(c).map_err(|e| bad(ca, e))?;
            }
            let mut verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            if s.client_cert_optional {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier.build().map_err(|e| bad(ca, e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        bad(
            &s.cert,
            format!("certificate and key do not form a usable pair: {e}"),
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
