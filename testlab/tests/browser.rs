//! The browser harness itself, against a real realm: headless chromium with alice's ticket
//! answers a Negotiate challenge with an SPNEGO token (what that token is worth is the master's
//! tests' business), and chromium without a ticket does not answer it. If this fails, no status page test
//! can log in, whatever the page does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use burnstand_testlab::browser::{Browser, Identity, WEB_SERVICE};
use burnstand_testlab::realm_builder;

/// SPNEGO's OID (1.3.6.1.5.5.2) as DER: a browser's Negotiate token names it first.
const SPNEGO_OID_DER: &[u8] = b"\x06\x06\x2b\x06\x01\x05\x05\x02";

/// Answers 401 + `WWW-Authenticate: Negotiate` until a token comes, then says what came: an
/// SPNEGO token (GSS framing 0x60, SPNEGO's OID) or something else.
async fn page(headers: HeaderMap) -> Response {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Negotiate "))
    else {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Negotiate")],
            Html("<p>no ticket</p>"),
        )
            .into_response();
    };
    let token = base64::engine::general_purpose::STANDARD
        .decode(token)
        .unwrap_or_default();
    let spnego = token.first() == Some(&0x60)
        && token
            .windows(SPNEGO_OID_DER.len())
            .take(8)
            .any(|w| w == SPNEGO_OID_DER);
    let body = if spnego { "spnego token" } else { "not spnego" };
    Html(format!("<p>{body}</p>")).into_response()
}

#[test]
fn chromium_logs_in_by_negotiate_with_the_ticket_it_is_given_and_only_then() {
    let realm = realm_builder(burnstand_testlab::REALM, &["alice"])
        .service(WEB_SERVICE)
        .start()
        .expect("realm");
    let dir = tempfile::tempdir().unwrap();
    let alice = dir.path().join("alice.ccache");
    realm.kinit_into("alice", &alice).expect("kinit alice");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, Router::new().route("/", get(page)))
                .await
                .unwrap()
        });
        let url = format!("http://localhost:{}/", addr.port());

        let browser = Browser::start(&realm, Identity::Ticket(&alice)).await;
        // Chromium fails its first Negotiate challenge (see `Browser::warm_up`).
        browser.warm_up(&url).await;
        browser.client.goto(&url).await.unwrap();
        let text = browser.text().await;
        browser.close().await;
        assert_eq!(text.trim(), "spnego token");

        let browser = Browser::start(&realm, Identity::Anonymous).await;
        browser.warm_up(&url).await;
        browser.client.goto(&url).await.unwrap();
        let text = browser.text().await;
        browser.close().await;
        assert_eq!(text.trim(), "no ticket");
    });
}
