//! Nightjar's transport: QUIC with TLS 1.3 keyed by the node's Ed25519 identity.
//!
//! A node presents a self-signed certificate made from its Ed25519 identity key.
//! Nobody checks it against a certificate authority: a client *pins* the node's
//! key (from the registry or network file) and accepts the handshake only if
//! the TLS 1.3 `CertificateVerify` signature verifies under that pinned key, so
//! only the holder of the node's private key can complete it. Clients connect
//! without a certificate; a node connecting to another node presents its own
//! self-signed certificate, and [`peer_node_key`] tells the accepting node
//! which key the peer proved it holds. The ALPN is `nightjar/1`.
//!
//! On a connection, each request uses its own bidirectional stream: the client
//! writes one request frame and finishes its half; the node answers with one
//! response frame and finishes (see `nightjar-wire` for the frame format).
//!
//! The node's one UDP port also receives circuit *cells*, told apart from
//! QUIC by bit 0x40 of a datagram's first byte (see [`cells`]); so no
//! endpoint made here negotiates `grease_quic_bit`.
//!
//! This crate is **not** the protocol: it does not interpret requests, and it
//! holds no state beyond QUIC's own. Node logic lives in `nightjar-node`, client
//! logic in `nightjar-client`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use nightjar_crypto::identity::{Identity, PublicKey};
use nightjar_wire::{MAX_REQUEST_FRAME, MAX_RESPONSE_FRAME, Request, Response, WireError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{
    CertificateDer, PrivatePkcs8KeyDer, ServerName, SubjectPublicKeyInfoDer, UnixTime,
};
use rustls::{DigitallySignedStruct, SignatureScheme};

pub mod cells;

pub use cells::{CellHandler, CellSocket, is_cell, server_endpoint_with_cells};

/// The server name clients put in the TLS handshake. It carries no meaning:
/// identity comes from the pinned key, not from names.
pub const SERVER_NAME: &str = "nightjar-node";

/// How long an idle connection stays open.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// What went wrong in the transport.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The TLS configuration could not be built (a bug or a bad key).
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The UDP socket could not be bound; pick another address or free the port.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The connection could not be started.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// The peer.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The connection broke, or the peer's key did not match the pinned one.
    #[error("connection failed: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// A stream could not be written.
    #[error("stream write failed: {0}")]
    Write(String),
    /// A stream could not be read, or the peer sent more than the limit.
    #[error("stream read failed: {0}")]
    Read(String),
    /// The peer sent a frame that does not decode.
    #[error("bad frame from peer: {0}")]
    Frame(#[from] WireError),
    /// The peer did not answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The DER header of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE,
/// AlgorithmIdentifier { id-Ed25519 }, BIT STRING of 33 bytes (0 unused bits).
const SPKI_HEADER: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The DER SubjectPublicKeyInfo of an Ed25519 key (RFC 8410): a fixed
/// 12-byte header followed by the 32 key bytes.
fn ed25519_spki(key: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(44);
    out.extend_from_slice(&SPKI_HEADER);
    out.extend_from_slice(key);
    out
}

/// Most bidirectional streams a peer may have open on one connection at
/// once; further streams wait for QUIC flow control (`MAX_STREAMS`).
pub const MAX_CONCURRENT_STREAMS: u32 = 256;

/// Bytes a node accepts on one request stream before the application reads
/// them: a whole request frame and some slack.
pub const SERVER_STREAM_WINDOW: u32 = 2 * MAX_REQUEST_FRAME as u32;

/// Bytes a node accepts on one connection, over all its streams, before the
/// application reads them.
pub const SERVER_CONNECTION_WINDOW: u32 = 8 * 1024 * 1024;

fn transport_config() -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    if let Ok(idle) = quinn::IdleTimeout::try_from(IDLE_TIMEOUT) {
        t.max_idle_timeout(Some(idle));
    }
    t.keep_alive_interval(Some(Duration::from_secs(15)));
    t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(MAX_CONCURRENT_STREAMS));
    t.max_concurrent_uni_streams(quinn::VarInt::from_u32(0));
    t
}

/// A node's transport settings: requests are small, so what a connection can
/// make the node buffer is bounded well below QUIC's defaults (which let one
/// connection queue up to 256 × 1.25 MB unread).
fn server_transport_config() -> quinn::TransportConfig {
    let mut t = transport_config();
    t.stream_receive_window(quinn::VarInt::from_u32(SERVER_STREAM_WINDOW));
    t.receive_window(quinn::VarInt::from_u32(SERVER_CONNECTION_WINDOW));
    t
}

/// A self-signed certificate for `identity`'s Ed25519 key, and the key in PKCS#8.
fn self_signed(
    identity: &Identity,
) -> Result<
    (
        CertificateDer<'static>,
        rustls::pki_types::PrivateKeyDer<'static>,
    ),
    TransportError,
> {
    let pkcs8 = identity.pkcs8_der();
    let key_der = PrivatePkcs8KeyDer::from(pkcs8.as_slice());
    let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&key_der, &rcgen::PKCS_ED25519)
        .map_err(|e| TransportError::Tls(format!("node key: {e}")))?;
    let params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_string()])
        .map_err(|e| TransportError::Tls(format!("certificate params: {e}")))?;
    let cert = params
        .self_signed(&key_pair)
        .map_err(|e| TransportError::Tls(format!("self-signing: {e}")))?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        pkcs8.as_slice().to_vec(),
    ));
    Ok((cert.der().clone(), key))
}

/// The Ed25519 key of a certificate's SubjectPublicKeyInfo, if that is what it holds.
fn cert_ed25519_key(cert: &CertificateDer<'_>) -> Option<[u8; 32]> {
    let (rest, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    if !rest.is_empty() {
        return None;
    }
    let raw = parsed.public_key().raw;
    if raw.len() != 44 {
        return None;
    }
    let (header, key) = raw.split_first_chunk::<12>()?;
    if *header != SPKI_HEADER {
        return None;
    }
    key.try_into().ok()
}

/// Lets clients connect without a certificate, and lets nodes present one.
/// A presented certificate must hold an Ed25519 key, and the handshake
/// signature must verify under that key, so [`peer_node_key`] names a key the
/// peer proved it holds. Whether that key is a registered node is for the
/// node's logic to decide.
#[derive(Debug)]
struct OptionalNodeCert {
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::server::danger::ClientCertVerifier for OptionalNodeCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        if !intermediates.is_empty() || cert_ed25519_key(end_entity).is_none() {
            return Err(rustls::Error::General(
                "peer certificate must be a single self-signed Ed25519 certificate".into(),
            ));
        }
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not accepted".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let key = cert_ed25519_key(cert).ok_or_else(|| {
            rustls::Error::General("peer certificate holds no Ed25519 key".into())
        })?;
        let spki = ed25519_spki(&key);
        rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &SubjectPublicKeyInfoDer::from(spki.as_slice()),
            dss,
            &self.algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// The Ed25519 key the peer of `conn` proved it holds with a client
/// certificate (nodes present one; clients do not).
pub fn peer_node_key(conn: &quinn::Connection) -> Option<PublicKey> {
    let identity = conn.peer_identity()?;
    let certs = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    let key = cert_ed25519_key(certs.first()?)?;
    PublicKey::from_bytes(&key).ok()
}

/// The QUIC server configuration of a node: a self-signed certificate from its
/// identity key, TLS 1.3 only, ALPN `nightjar/1`, optional client
/// certificates (presented by other nodes).
pub fn server_config(identity: &Identity) -> Result<quinn::ServerConfig, TransportError> {
    let (cert, key) = self_signed(identity)?;
    let provider = provider();
    let verifier = OptionalNodeCert {
        algorithms: provider.signature_verification_algorithms,
    };
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TransportError::Tls(e.to_string()))?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(vec![cert], key)
        .map_err(|e| TransportError::Tls(e.to_string()))?;
    tls.alpn_protocols = vec![nightjar_wire::ALPN.to_vec()];
    tls.max_early_data_size = 0;
    let quic = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| TransportError::Tls(e.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    config.transport_config(Arc::new(server_transport_config()));
    Ok(config)
}

/// Accepts exactly one server key: the pinned one.
#[derive(Debug)]
struct PinnedKey {
    spki: Vec<u8>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedKey {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The certificate is only a carrier. Authentication is the
        // CertificateVerify signature, checked below against the pinned key
        // rather than against whatever key the certificate names.
        if !intermediates.is_empty() {
            return Err(rustls::Error::General(
                "node sent a certificate chain; nodes use a single self-signed certificate".into(),
            ));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not accepted".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        _cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if dss.scheme != SignatureScheme::ED25519 {
            return Err(rustls::Error::General(
                "node signed with a scheme other than Ed25519".into(),
            ));
        }
        let spki = SubjectPublicKeyInfoDer::from(self.spki.as_slice());
        rustls::crypto::verify_tls13_signature_with_raw_key(message, &spki, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// The QUIC client configuration for talking to the node whose identity key
/// is `pinned`: the handshake fails unless the node proves it holds that key.
/// A node connecting to another node passes its own identity as `as_node`
/// and presents a certificate for it; clients pass `None`.
pub fn client_config(
    pinned: &PublicKey,
    as_node: Option<&Identity>,
) -> Result<quinn::ClientConfig, TransportError> {
    let provider = provider();
    let verifier = PinnedKey {
        spki: ed25519_spki(pinned.as_bytes()),
        algorithms: provider.signature_verification_algorithms,
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TransportError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut tls = match as_node {
        Some(identity) => {
            let (cert, key) = self_signed(identity)?;
            builder
                .with_client_auth_cert(vec![cert], key)
                .map_err(|e| TransportError::Tls(e.to_string()))?
        }
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![nightjar_wire::ALPN.to_vec()];
    tls.enable_early_data = false;
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| TransportError::Tls(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    config.transport_config(Arc::new(transport_config()));
    Ok(config)
}

/// The endpoint settings of every endpoint made here: QUIC's fixed bit is
/// never greased (neither side advertises `grease_quic_bit`), so every QUIC
/// packet to or from our endpoints has bit 0x40 set and cannot be mistaken
/// for a circuit cell.
fn endpoint_config() -> quinn::EndpointConfig {
    let mut config = quinn::EndpointConfig::default();
    config.grease_quic_bit(false);
    config
}

/// Quinn's Tokio runtime, or an error outside a Tokio runtime (where
/// wrapping a socket would panic).
fn tokio_runtime() -> std::io::Result<Arc<dyn quinn::Runtime>> {
    tokio::runtime::Handle::try_current().map_err(|_| std::io::Error::other("no Tokio runtime"))?;
    Ok(Arc::new(quinn::TokioRuntime))
}

/// A quinn endpoint on a UDP socket bound to `bind`, with [`endpoint_config`].
fn endpoint_on(
    bind: SocketAddr,
    server: Option<quinn::ServerConfig>,
) -> Result<quinn::Endpoint, TransportError> {
    let bind_err = |source| TransportError::Bind { addr: bind, source };
    let runtime = tokio_runtime().map_err(bind_err)?;
    let socket = std::net::UdpSocket::bind(bind).map_err(bind_err)?;
    quinn::Endpoint::new(endpoint_config(), server, socket, runtime).map_err(bind_err)
}

/// A QUIC endpoint that only makes outgoing connections, bound to `bind`
/// (use port 0 for an ephemeral port). Must be called within a Tokio runtime.
pub fn client_endpoint(bind: SocketAddr) -> Result<quinn::Endpoint, TransportError> {
    endpoint_on(bind, None)
}

/// A node's QUIC endpoint, listening on `listen`. Must be called within a
/// Tokio runtime. (A node that also takes circuit cells uses
/// [`server_endpoint_with_cells`].)
pub fn server_endpoint(
    identity: &Identity,
    listen: SocketAddr,
) -> Result<quinn::Endpoint, TransportError> {
    let config = server_config(identity)?;
    endpoint_on(listen, Some(config))
}

/// Connect, as a client, to the node at `addr` whose identity key is `key`.
pub async fn connect(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    key: &PublicKey,
) -> Result<quinn::Connection, TransportError> {
    connect_with(endpoint, addr, key, None).await
}

/// Connect to the node at `addr` whose identity key is `key`, presenting
/// `as_node`'s certificate if given (node-to-node connections).
pub async fn connect_with(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    key: &PublicKey,
    as_node: Option<&Identity>,
) -> Result<quinn::Connection, TransportError> {
    let config = client_config(key, as_node)?;
    let connecting = endpoint
        .connect_with(config, addr, SERVER_NAME)
        .map_err(|e| TransportError::Connect {
            addr,
            reason: e.to_string(),
        })?;
    Ok(connecting.await?)
}

/// Whether the node at `addr` with identity `key` answers `info` on a fresh
/// connection within `timeout` (connection set-up included); the readiness
/// check of tools that start nodes. The connection is closed afterwards.
pub async fn answers_info(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    key: &PublicKey,
    timeout: Duration,
) -> bool {
    let attempt = async {
        let conn = connect(endpoint, addr, key).await?;
        let resp = request(&conn, &Request::Info, timeout).await;
        conn.close(0u32.into(), b"ready");
        resp
    };
    matches!(tokio::time::timeout(timeout, attempt).await, Ok(Ok(_)))
}

/// Send one request on a new stream and read the response, giving up after `timeout`.
pub async fn request(
    conn: &quinn::Connection,
    req: &Request,
    timeout: Duration,
) -> Result<Response, TransportError> {
    let exchange = async {
        let (mut send, mut recv) = conn.open_bi().await?;
        send.write_all(&req.to_frame())
            .await
            .map_err(|e| TransportError::Write(e.to_string()))?;
        send.finish()
            .map_err(|e| TransportError::Write(e.to_string()))?;
        let bytes = recv
            .read_to_end(MAX_RESPONSE_FRAME)
            .await
            .map_err(|e| TransportError::Read(e.to_string()))?;
        Ok::<_, TransportError>(Response::from_frame(&bytes)?)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| TransportError::Timeout(timeout))?
}

/// Read one request frame from a stream a peer opened (at most
/// [`MAX_REQUEST_FRAME`] bytes). The outer error is a transport failure; the
/// inner one a frame that arrived whole but does not decode, which deserves
/// an error response.
pub async fn read_request(
    recv: &mut quinn::RecvStream,
) -> Result<Result<Request, WireError>, TransportError> {
    match recv.read_to_end(MAX_REQUEST_FRAME).await {
        Ok(bytes) => Ok(Request::from_frame(&bytes)),
        Err(quinn::ReadToEndError::TooLong) => Ok(Err(WireError::FrameTooLarge {
            len: MAX_REQUEST_FRAME + 1,
            limit: MAX_REQUEST_FRAME,
        })),
        Err(e) => Err(TransportError::Read(e.to_string())),
    }
}

/// Write one response frame and finish the stream.
pub async fn write_response(
    send: &mut quinn::SendStream,
    response: &Response,
) -> Result<(), TransportError> {
    send.write_all(&response.to_frame())
        .await
        .map_err(|e| TransportError::Write(e.to_string()))?;
    send.finish()
        .map_err(|e| TransportError::Write(e.to_string()))
}
