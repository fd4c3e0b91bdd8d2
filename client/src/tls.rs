//! TLS for `wss://`: rustls (on ring) with Mozilla's roots (`webpki-roots`: the same trust on
//! every machine, no system store to depend on) plus extra CA files.
//!
//! A [`TlsConfig`] is built once and shared (an `Arc`), so every reconnect of a socket reuses
//! it, session cache included. The server name sent (SNI) and verified is the URL's host.
//! Handshake failures come back as a typed [`TlsError`]; certificate errors are terminal for a
//! socket (see [`TlsError::is_terminal`] and `SocketBuilder::retry_tls_errors`).
//!
//! Built without the `tls` feature, the types exist but every `wss://` attempt fails with
//! [`TlsError::Unsupported`].

use std::path::PathBuf;

/// How to trust servers: Mozilla's roots, plus these CAs, or nothing at all (`insecure`).
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// PEM files of extra CAs to trust (e.g. a company CA or a test CA: `--cacert`).
    pub ca_files: Vec<PathBuf>,
    /// Extra CAs as PEM text.
    pub ca_pem: Vec<Vec<u8>>,
    /// Accept any certificate for any host (development only; a warning is logged). The
    /// handshake signatures are still checked, so the peer must hold the key of the
    /// certificate it shows.
    pub insecure: bool,
}

/// A TLS setup could not be built from [`TlsOptions`].
#[derive(Debug, Clone, thiserror::Error)]
pub enum TlsConfigError {
    /// A CA file cannot be read or holds no PEM certificate; check the path and format.
    #[error("cannot use CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A PEM certificate is not a usable CA certificate.
    #[error("cannot trust a CA certificate: {0}")]
    BadCa(String),
    /// The build has no TLS (the `tls` feature is off): rebuild with it.
    #[error("this build has no TLS (the `tls` feature is off)")]
    Unsupported,
}

/// A TLS handshake failed. The message says what failed and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// The server's certificate has expired or is not valid yet: the server must renew it (or
    /// the local clock is wrong).
    #[error("the TLS certificate of {host} has expired or is not yet valid{}", detail_suffix(.detail))]
    Expired {
        /// The host dialled.
        host: String,
        /// The validity window, when known.
        detail: String,
    },
    /// The certificate does not name the host dialled: connect with a name it lists.
    #[error("the TLS certificate presented by {host} is not valid for that name{}", detail_suffix(.detail))]
    WrongHost {
        /// The host dialled.
        host: String,
        /// The names the certificate lists, when known.
        detail: String,
    },
    /// The certificate chain does not lead to a trusted CA: trust its CA (`--cacert FILE`).
    #[error(
        "the TLS certificate of {host} is signed by an unknown issuer: pass its CA with --cacert"
    )]
    UnknownIssuer {
        /// The host dialled.
        host: String,
    },
    /// Another certificate problem (revoked, bad signature, unsupported algorithm…).
    #[error("the TLS certificate of {host} is invalid: {reason}")]
    BadCertificate {
        /// The host dialled.
        host: String,
        /// rustls's description.
        reason: String,
    },
    /// The peer did not speak TLS (e.g. a plain `ws://` server reached as `wss://`): use `ws://`.
    #[error("{host} did not answer with TLS ({reason}); is it a plain ws:// server? use ws://")]
    NotTls {
        /// The host dialled.
        host: String,
        /// What came back instead.
        reason: String,
    },
    /// The URL's host cannot be a TLS server name.
    #[error("{host:?} cannot be used as a TLS server name")]
    BadServerName {
        /// The host.
        host: String,
    },
    /// The handshake failed for another reason (an alert from the server, a reset).
    #[error("TLS handshake with {host} failed: {reason}")]
    Handshake {
        /// The host dialled.
        host: String,
        /// What went wrong.
        reason: String,
    },
    /// wss:// needs TLS, which this build does not include (the `tls` feature is off): use ws://.
    #[error("wss:// is not supported by this build (built without the `tls` feature); use ws://")]
    Unsupported,
}

impl TlsError {
    /// True when retrying cannot help without a change on one side (a certificate, the trusted
    /// CAs, the URL): every variant but [`TlsError::Handshake`].
    pub fn is_terminal(&self) -> bool {
        !matches!(self, TlsError::Handshake { .. })
    }
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    }
}

#[cfg(feature = "tls")]
mod imp {
    use std::sync::{Arc, OnceLock};

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{ring, CryptoProvider};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};

    use super::{TlsConfigError, TlsError, TlsOptions};
    use crate::transport::BoxIo;

    /// A client TLS setup, cheap to clone (an `Arc`); see the module docs.
    #[derive(Clone)]
    pub struct TlsConfig {
        config: Arc<ClientConfig>,
        insecure: bool,
    }

    impl std::fmt::Debug for TlsConfig {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("TlsConfig")
                .field("insecure", &self.insecure)
                .finish_non_exhaustive()
        }
    }

    impl Default for TlsConfig {
        /// Mozilla's roots only, built once per process.
        fn default() -> Self {
            static DEFAULT: OnceLock<TlsConfig> = OnceLock::new();
            DEFAULT
                .get_or_init(|| {
                    TlsConfig::new(&TlsOptions::default())
                        .unwrap_or_else(|_| unreachable!("no CA file to read"))
                })
                .clone()
        }
    }

    fn provider() -> Arc<CryptoProvider> {
        static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
        PROVIDER
            .get_or_init(|| Arc::new(ring::default_provider()))
            .clone()
    }

    impl TlsConfig {
        /// Builds the setup: reads the CA files now, so a bad path fails here, not per attempt.
        pub fn new(options: &TlsOptions) -> Result<TlsConfig, TlsConfigError> {
            let mut roots = RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            for path in &options.ca_files {
                let file_error = |reason: String| TlsConfigError::CaFile {
                    path: path.display().to_string(),
                    reason,
                };
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| file_error(e.to_string()))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| file_error(e.to_string()))?;
                if certs.is_empty() {
                    return Err(file_error("no PEM certificate in it".into()));
                }
                add_cas(&mut roots, certs)?;
            }
            for pem in &options.ca_pem {
                let certs = CertificateDer::pem_slice_iter(pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| TlsConfigError::BadCa(e.to_string()))?;
                add_cas(&mut roots, certs)?;
            }
            let builder = ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsConfigError::BadCa(e.to_string()))?;
            let mut config = if options.insecure {
                tracing::warn!(
                    "TLS certificate verification is OFF (--insecure): any server can pose as \
                     the one dialled; use this for development only"
                );
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
                    .with_no_client_auth()
            } else {
                builder.with_root_certificates(roots).with_no_client_auth()
            };
            // The WebSocket upgrade is HTTP/1.1.
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(TlsConfig {
                config: Arc::new(config),
                insecure: options.insecure,
            })
        }

        /// True when certificates are not verified.
        pub fn is_insecure(&self) -> bool {
            self.insecure
        }

        /// Runs the client handshake over `io`, with `host` (the URL's host) as the server name.
        pub async fn connect(&self, host: &str, io: BoxIo) -> Result<BoxIo, TlsError> {
            let host = bare_host(host);
            let name =
                ServerName::try_from(host.to_owned()).map_err(|_| TlsError::BadServerName {
                    host: host.to_owned(),
                })?;
            tokio_rustls::TlsConnector::from(self.config.clone())
                .connect(name, io)
                .await
                .map(|s| Box::new(s) as BoxIo)
                .map_err(|e| classify(host, &e))
        }
    }

    fn add_cas(
        roots: &mut RootCertStore,
        certs: Vec<CertificateDer<'static>>,
    ) -> Result<(), TlsConfigError> {
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| TlsConfigError::BadCa(e.to_string()))?;
        }
        Ok(())
    }

    /// The URL host as a TLS server name: IPv6 literals lose their brackets.
    fn bare_host(host: &str) -> &str {
        host.trim_start_matches('[').trim_end_matches(']')
    }

    /// Names what failed: rustls's error travels inside the `io::Error` tokio-rustls returns.
    fn classify(host: &str, e: &std::io::Error) -> TlsError {
        let host = host.to_owned();
        let Some(tls) = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        else {
            // A close mid-handshake may be a server restarting, so it stays retryable (not
            // `NotTls`); a plain HTTP server answers bytes instead, which rustls names below.
            let reason = match e.kind() {
                std::io::ErrorKind::UnexpectedEof => {
                    "the server closed the connection during the TLS handshake (is it TLS?)".into()
                }
                _ => e.to_string(),
            };
            return TlsError::Handshake { host, reason };
        };
        match tls {
            rustls::Error::InvalidCertificate(cert) => match cert {
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. } => TlsError::Expired {
                    host,
                    detail: cert_detail(cert),
                },
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => TlsError::WrongHost {
                    host,
                    detail: cert_detail(cert),
                },
                CertificateError::UnknownIssuer => TlsError::UnknownIssuer { host },
                // webpki's error inside `Other`; the common cause is `openssl req -x509`, whose
                // self-signed certificate is marked as a CA.
                other if format!("{other:?}").contains("CaUsedAsEndEntity") => {
                    TlsError::BadCertificate {
                        host,
                        reason: "the server presents a CA certificate as its own (a self-signed \
                                 certificate marked CA:TRUE?): serve a leaf certificate issued \
                                 by a CA and pass that CA with --cacert"
                            .into(),
                    }
                }
                other => TlsError::BadCertificate {
                    host,
                    reason: other.to_string(),
                },
            },
            rustls::Error::InvalidMessage(m) => TlsError::NotTls {
                host,
                reason: format!("its reply is not a TLS record: {m:?}"),
            },
            other => TlsError::Handshake {
                host,
                reason: other.to_string(),
            },
        }
    }

    /// rustls's own text for the context variants (validity window, names listed), else empty.
    fn cert_detail(cert: &CertificateError) -> String {
        match cert {
            CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYetContext { .. }
            | CertificateError::NotValidForNameContext { .. } => {
                rustls::Error::InvalidCertificate(cert.clone()).to_string()
            }
            _ => String::new(),
        }
    }

    /// `--insecure`: any chain, any name, any date; the handshake signature is still verified.
    #[derive(Debug)]
    struct AcceptAnyCertificate(Arc<CryptoProvider>);

    impl ServerCertVerifier for AcceptAnyCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}

#[cfg(not(feature = "tls"))]
mod imp {
    use super::{TlsConfigError, TlsError, TlsOptions};
    use crate::transport::BoxIo;

    /// A client TLS setup; this build has none (the `tls` feature is off). Not a unit struct,
    /// so that code written for both builds says `TlsConfig::default()` in each.
    #[derive(Clone, Debug, Default)]
    pub struct TlsConfig {
        _none: (),
    }

    impl TlsConfig {
        /// Always [`TlsConfigError::Unsupported`] unless `options` ask for nothing.
        pub fn new(options: &TlsOptions) -> Result<TlsConfig, TlsConfigError> {
            if options.insecure || !options.ca_files.is_empty() || !options.ca_pem.is_empty() {
                return Err(TlsConfigError::Unsupported);
            }
            Ok(TlsConfig::default())
        }

        /// Never: certificates are not verified because there is no TLS.
        pub fn is_insecure(&self) -> bool {
            false
        }

        /// Always [`TlsError::Unsupported`].
        pub async fn connect(&self, host: &str, io: BoxIo) -> Result<BoxIo, TlsError> {
            let _ = (host, io);
            Err(TlsError::Unsupported)
        }
    }
}

pub use imp::TlsConfig;
