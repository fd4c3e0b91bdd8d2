//! TLS on the listening port: with a [`TlsAcceptor`] ([`crate::serve_tls`], `serve --tls-cert
//! --tls-key`), every connection is TLS first, then the same HTTP service, so HTTPS (control
//! API, `GET /`) and WSS share the port, as a Phoenix endpoint with `https:` config does.
//!
//! rustls on ring, TLS 1.2 and 1.3, ALPN `http/1.1`. Built without the `tls` feature the type
//! exists but cannot be built ([`TlsSetupError::Unsupported`]).

use std::time::Duration;

/// How long a client may take to finish the TLS handshake before its connection is dropped
/// (a peer that opens TCP and sends nothing must not hold a task forever).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A PEM file cannot be read or parsed; check the path and that it is PEM.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The certificate file holds no certificate.
    #[error("{0} holds no PEM certificate")]
    NoCertificate(String),
    /// The certificate and key do not fit together or are unsupported.
    #[error("the certificate and key cannot be used: {0}")]
    Invalid(String),
    /// This build has no TLS (the `tls` feature is off): rebuild with it.
    #[error("this build of phx-server has no TLS (the `tls` feature is off)")]
    Unsupported,
}

#[cfg(feature = "tls")]
mod imp {
    use std::path::Path;
    use std::sync::Arc;

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncRead, AsyncWrite};

    use super::{TlsSetupError, HANDSHAKE_TIMEOUT};

    /// A server TLS setup (certificate chain and key), cheap to clone.
    #[derive(Clone)]
    pub struct TlsAcceptor {
        inner: tokio_rustls::TlsAcceptor,
    }

    impl std::fmt::Debug for TlsAcceptor {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("TlsAcceptor").finish_non_exhaustive()
        }
    }

    impl TlsAcceptor {
        /// From PEM files: the certificate chain (leaf first) and its private key.
        pub fn from_pem_files(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsSetupError> {
            let read = |p: &Path| {
                std::fs::read(p).map_err(|e| TlsSetupError::Read {
                    path: p.display().to_string(),
                    reason: e.to_string(),
                })
            };
            let (cert_pem, key_pem) = (read(cert)?, read(key)?);
            Self::from_pem_named(
                &cert_pem,
                &key_pem,
                &cert.display().to_string(),
                &key.display().to_string(),
            )
        }

        /// From PEM text: the certificate chain (leaf first) and its private key.
        pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsAcceptor, TlsSetupError> {
            Self::from_pem_named(cert_pem, key_pem, "the certificate", "the key")
        }

        fn from_pem_named(
            cert_pem: &[u8],
            key_pem: &[u8],
            cert_name: &str,
            key_name: &str,
        ) -> Result<TlsAcceptor, TlsSetupError> {
            let chain = CertificateDer::pem_slice_iter(cert_pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| TlsSetupError::Read {
                    path: cert_name.to_owned(),
                    reason: e.to_string(),
                })?;
            if chain.is_empty() {
                return Err(TlsSetupError::NoCertificate(cert_name.to_owned()));
            }
            let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsSetupError::Read {
                path: key_name.to_owned(),
                reason: e.to_string(),
            })?;
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsSetupError::Invalid(e.to_string()))?
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .map_err(|e| TlsSetupError::Invalid(e.to_string()))?;
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(TlsAcceptor {
                inner: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            })
        }

        /// The server handshake over `io`, bounded by [`HANDSHAKE_TIMEOUT`].
        pub async fn handshake<I>(
            &self,
            io: I,
        ) -> std::io::Result<impl AsyncRead + AsyncWrite + Unpin + Send + 'static>
        where
            I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.inner.accept(io)).await {
                Ok(result) => result,
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no TLS handshake within {HANDSHAKE_TIMEOUT:?}"),
                )),
            }
        }
    }
}

#[cfg(not(feature = "tls"))]
mod imp {
    use std::path::Path;

    use tokio::io::{AsyncRead, AsyncWrite};

    use super::TlsSetupError;

    /// A server TLS setup; this build has none (the `tls` feature is off).
    #[derive(Clone, Debug)]
    pub struct TlsAcceptor(());

    impl TlsAcceptor {
        /// Always [`TlsSetupError::Unsupported`].
        pub fn from_pem_files(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsSetupError> {
            let _ = (cert, key);
            Err(TlsSetupError::Unsupported)
        }

        /// Always [`TlsSetupError::Unsupported`].
        pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsAcceptor, TlsSetupError> {
            let _ = (cert_pem, key_pem);
            Err(TlsSetupError::Unsupported)
        }

        /// Unreachable: no value of this type can be built.
        pub async fn handshake<I>(&self, io: I) -> std::io::Result<I>
        where
            I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        {
            Ok(io)
        }
    }
}

pub use imp::TlsAcceptor;
