//! The handshake succeeds only against the node whose key the client pinned.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use nightjar_crypto::identity::Identity;
use nightjar_wire::{Request, Response, ResponseBody};

/// A minimal server: answers every request with an `Info` carrying its key.
async fn serve(endpoint: quinn::Endpoint, key: [u8; 32]) {
    while let Some(incoming) = endpoint.accept().await {
        let Ok(conn) = incoming.await else { continue };
        tokio::spawn(async move {
            while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                let req = nightjar_transport::read_request(&mut recv).await.unwrap();
                assert_eq!(req, Ok(Request::Info));
                let resp = Response {
                    node_time_ms: 1,
                    body: ResponseBody::Info {
                        software_version: "test".into(),
                        protocol_version: 1,
                        node_key: key,
                    },
                };
                nightjar_transport::write_response(&mut send, &resp)
                    .await
                    .unwrap();
            }
        });
    }
}

#[tokio::test]
async fn handshake_succeeds_only_with_the_pinned_node_key() {
    let node = Identity::generate().unwrap();
    let impostor = Identity::generate().unwrap();
    let server =
        nightjar_transport::server_endpoint(&node, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(serve(server, node.public_key().to_bytes()));
    let client = nightjar_transport::client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();

    let wrong = nightjar_transport::connect(&client, addr, &impostor.public_key()).await;
    assert!(
        wrong.is_err(),
        "a client pinning another key must not connect"
    );

    let conn = nightjar_transport::connect(&client, addr, &node.public_key())
        .await
        .unwrap();
    let resp = nightjar_transport::request(&conn, &Request::Info, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(
        matches!(resp.body, ResponseBody::Info { node_key, .. } if node_key == node.public_key().to_bytes())
    );
    assert_eq!(
        conn.handshake_data()
            .and_then(|h| h.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
            .and_then(|h| h.protocol),
        Some(nightjar_wire::ALPN.to_vec())
    );
}
