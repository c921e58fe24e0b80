//! The handshake succeeds only against the node whose key the client pinned.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use nightjar_crypto::identity::Identity;
use nightjar_wire::{NodeKey, Request, Response, ResponseBody};

/// A minimal server: answers every request with an `Info` whose `node_key`
/// is the key the peer proved with a client certificate, or zeros if none.
async fn serve(endpoint: quinn::Endpoint) {
    while let Some(incoming) = endpoint.accept().await {
        let Ok(conn) = incoming.await else { continue };
        tokio::spawn(async move {
            let peer = NodeKey::new(
                nightjar_transport::peer_node_key(&conn).map_or([0; 32], |k| k.to_bytes()),
            );
            while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                let req = nightjar_transport::read_request(&mut recv).await.unwrap();
                assert_eq!(req, Ok(Request::Info));
                let resp = Response {
                    node_time_ms: 1,
                    body: ResponseBody::Info {
                        software_version: "test".into(),
                        protocol_version: 1,
                        node_key: peer,
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
    tokio::spawn(serve(server));
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
        matches!(resp.body, ResponseBody::Info { node_key, .. } if node_key == NodeKey::new([0; 32])),
        "a client presents no key"
    );
    assert_eq!(
        conn.handshake_data()
            .and_then(|h| h.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
            .and_then(|h| h.protocol),
        Some(nightjar_wire::ALPN.to_vec())
    );
}

#[tokio::test]
async fn a_node_connecting_as_a_node_proves_its_key() {
    let node = Identity::generate().unwrap();
    let peer = Identity::generate().unwrap();
    let server =
        nightjar_transport::server_endpoint(&node, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(serve(server));
    let client = nightjar_transport::client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
    let conn = nightjar_transport::connect_with(&client, addr, &node.public_key(), Some(&peer))
        .await
        .unwrap();
    let resp = nightjar_transport::request(&conn, &Request::Info, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(
        matches!(resp.body, ResponseBody::Info { node_key, .. } if node_key == NodeKey::new(peer.public_key().to_bytes()))
    );
}
