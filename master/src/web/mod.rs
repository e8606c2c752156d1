//! The master's HTTPS status page (`[web]`, `docs/master.md` "Status page"): the farm for a
//! wall screen and for the lab's users and staff, live by Server-Sent Events, with Kerberos
//! login (HTTP Negotiate) and the admin's buttons.
//!
//! # Layout
//!
//! [`tls`] (rustls from the PEM files), [`spnego`] (login), [`session`] (the signed cookie),
//! [`csrf`] (every POST), [`headers`] (CSP, HSTS… on every answer), [`view`] (what each
//! viewer may see: the one filter), [`pages`] (server-rendered HTML and the static script),
//! [`sse`] (`GET /events`), [`admin`] (drain, resume, release, clear queue: the command-mode
//! admin function, audited the same), [`receipts`] (a user's receipts and their download).
//!
//! # Bounds
//!
//! Unauthenticated peers can open connections and send requests, so everything they can
//! make the master hold is bounded: [`MAX_WEB_CONNECTIONS`] TLS connections, each with a
//! TLS handshake deadline, a header read deadline (HTTP/1.1), HTTP/2 keep-alive pings that
//! close dead peers, at most [`MAX_HEADER_BYTES`] of headers and [`MAX_STREAMS_PER_CONNECTION`]
//! streams; request bodies of at most [`MAX_BODY_BYTES`]; [`sse::MAX_SUBSCRIBERS`] event
//! streams; [`spnego::MAX_LOGINS_IN_FLIGHT`] logins at once with tokens of at most
//! [`spnego::MAX_NEGOTIATE_B64_LEN`].

pub mod admin;
pub mod csrf;
pub mod headers;
pub mod pages;
pub mod receipts;
pub mod session;
pub mod spnego;
pub mod sse;
pub mod tls;
pub mod view;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::routing::{get, post};
use axum::Router;
use burnstand_wire::gss::Cred;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::config::web::WebSettings;
use crate::server::Shared;
use session::Session;
use view::Viewer;

/// TLS connections at once. Each costs a task, TLS state (about 40 KiB with buffers) and the
/// HTTP state: at most some 100 MiB in all, with room for the bench's 200 SSE subscribers
/// and a lab's browsers.
pub const MAX_WEB_CONNECTIONS: usize = 1024;
/// Largest header block of one request (HTTP/1.1 read buffer, HTTP/2 header list): room for
/// a Negotiate token of [`spnego::MAX_NEGOTIATE_B64_LEN`] and the usual headers.
pub const MAX_HEADER_BYTES: usize = 96 * 1024;
/// Largest request body: the admin's forms are a few dozen bytes.
pub const MAX_BODY_BYTES: usize = 4 * 1024;
/// Concurrent HTTP/2 streams per connection. A browser needs a handful (the page, its
/// script, its event stream, the plots); a tool may multiplex event streams on one
/// connection, which [`sse::MAX_SUBSCRIBERS`] bounds over all connections anyway. Each open
/// stream costs HTTP/2 state of a few KiB.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 256;
/// Time a new connection gets for its TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time an HTTP/1.1 request gets to send its headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2: a ping after this much silence; no answer within the same time closes it.
pub const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// The statistics plots are drawn again at most this often (each draw reads the ledger's
/// last days and renders three SVGs; a wall of browsers must not make the master redraw).
pub const PLOT_CACHE_FOR: Duration = Duration::from_secs(60);
/// At shutdown, how long open connections get to finish their answers.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// The connection id of a request (also in the connection's tracing span and the audit).
#[derive(Debug, Clone, Copy)]
pub struct ConnId(pub u64);

/// What every request handler shares.
pub(crate) struct Web {
    pub shared: Arc<Shared>,
    pub settings: WebSettings,
    pub keys: session::Keys,
    /// Accepts Negotiate tokens as `settings.service_principal`.
    pub acceptor: Cred,
    /// Event stream slots ([`sse::MAX_SUBSCRIBERS`]).
    pub subscribers: Arc<Semaphore>,
    /// Login slots ([`spnego::MAX_LOGINS_IN_FLIGHT`]).
    pub logins: Arc<Semaphore>,
    /// Cancelled at shutdown: event streams end, connections close.
    pub shutdown: CancellationToken,
    /// The last plots drawn, and when ([`PLOT_CACHE_FOR`]).
    plots: tokio::sync::Mutex<Option<(std::time::Instant, Arc<crate::statistics::Plots>)>>,
}

impl Web {
    /// The status page's state; fails if the HTTP principal's key is not in the keytab or no
    /// random key can be drawn.
    pub(crate) fn new(
        shared: Arc<Shared>,
        settings: WebSettings,
        shutdown: CancellationToken,
    ) -> crate::Result<Web> {
        let acceptor = burnstand_wire::gss::http_acceptor_credentials(&settings.service_principal)?;
        let keys = session::Keys::random().map_err(crate::Error::ConfigInvalid)?;
        Ok(Web {
            shared,
            settings,
            keys,
            acceptor,
            subscribers: Arc::new(Semaphore::new(sse::MAX_SUBSCRIBERS)),
            logins: Arc::new(Semaphore::new(spnego::MAX_LOGINS_IN_FLIGHT)),
            shutdown,
            plots: tokio::sync::Mutex::new(None),
        })
    }

    /// The statistics plots, drawn at most every [`PLOT_CACHE_FOR`]; `None` if drawing failed.
    pub(crate) async fn plots(&self) -> Option<Arc<crate::statistics::Plots>> {
        // One drawer at a time: the others wait for its result instead of drawing too.
        let mut cached = self.plots.lock().await;
        if let Some((at, plots)) = cached.as_ref() {
            if at.elapsed() < PLOT_CACHE_FOR {
                return Some(Arc::clone(plots));
            }
        }
        let (ledger, config) = (
            Arc::clone(&self.shared.ledger),
            Arc::clone(&self.shared.config),
        );
        let drawn = tokio::task::spawn_blocking(move || {
            crate::statistics::plots(&*ledger, &config, std::time::SystemTime::now())
        })
        .await;
        match drawn {
            Ok(Ok(plots)) => {
                let plots = Arc::new(plots);
                *cached = Some((std::time::Instant::now(), Arc::clone(&plots)));
                Some(plots)
            }
            Ok(Err(e)) => {
                warn!(error = %e, "cannot draw the statistics plots");
                None
            }
            Err(_) => None,
        }
    }

    /// The request's valid session cookie, if any.
    pub(crate) fn session(&self, headers: &axum::http::HeaderMap) -> Option<Session> {
        session::cookie_value(headers).and_then(|v| self.keys.open(v, session::unix_now()))
    }

    /// Who a request with `session` is; `None`: nobody may look (no login, no public wall).
    pub(crate) fn viewer(&self, session: Option<&Session>) -> Option<Viewer> {
        match session {
            Some(s) if s.admin => Some(Viewer::Admin(s.user.clone())),
            Some(s) => Some(Viewer::User(s.user.clone())),
            None if self.settings.public_wall => Some(Viewer::Wall),
            None => None,
        }
    }
}

/// The routes (see the module docs of each handler).
pub(crate) fn router(web: Arc<Web>) -> Router {
    Router::new()
        .route("/", get(pages::index))
        .route("/login", get(spnego::login))
        .route("/logout", post(admin::logout))
        .route("/api/view", get(pages::view_json))
        .route("/events", get(sse::events))
        .route("/app.js", get(pages::app_js))
        .route("/style.css", get(pages::style_css))
        .route("/plots/{file}", get(pages::plot))
        .route("/receipts", get(receipts::list))
        .route("/receipts/{file}", get(receipts::download))
        .route("/admin", post(admin::action))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(headers::add))
        .with_state(web)
}

/// The router for one connection: each request learns the peer and the connection id.
#[derive(Clone)]
struct PeerService {
    router: Router,
    peer: SocketAddr,
    conn: u64,
}

impl hyper::service::Service<Request<Incoming>> for PeerService {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = axum::routing::future::RouteFuture<Infallible>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(ConnectInfo(self.peer));
        request.extensions_mut().insert(ConnId(self.conn));
        let mut router = self.router.clone();
        tower_service::Service::call(&mut router, request)
    }
}

/// Serves the status page on `listener` with `tls` until `web.shutdown` is cancelled, then
/// gives open connections [`SHUTDOWN_GRACE`] and closes the rest.
pub(crate) async fn serve(listener: TcpListener, tls: Arc<rustls::ServerConfig>, web: Arc<Web>) {
    let acceptor = TlsAcceptor::from(tls);
    let router = router(Arc::clone(&web));
    let slots = Arc::new(Semaphore::new(MAX_WEB_CONNECTIONS));
    let shutdown = web.shutdown.clone();
    let mut tasks = JoinSet::new();
    // Web connection ids start far above the command-mode ones, so audit records of both
    // never share a `conn`.
    let mut next_conn: u64 = 1 << 48;
    info!(address = ?listener.local_addr().ok(), "status page serving");
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors and the like: pause instead of spinning.
                    warn!(error = %e, "status page: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        while tasks.try_join_next().is_some() {}
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            warn!(%peer, "status page: connection budget exhausted, closing the connection");
            continue;
        };
        let conn = next_conn;
        next_conn += 1;
        let span = info_span!("web", conn, %peer);
        let service = PeerService {
            router: router.clone(),
            peer,
            conn,
        };
        let (acceptor, shutdown) = (acceptor.clone(), shutdown.clone());
        tasks.spawn(
            async move {
                connection(tcp, acceptor, service, shutdown).await;
                drop(slot);
            }
            .instrument(span),
        );
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(1), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    info!("status page stopped");
}

/// One TLS connection: the handshake, then HTTP/2 or HTTP/1.1 until it ends or shutdown.
async fn connection(
    tcp: tokio::net::TcpStream,
    acceptor: TlsAcceptor,
    service: PeerService,
    shutdown: CancellationToken,
) {
    let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            debug!(error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            debug!("TLS handshake timed out");
            return;
        }
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
        .keep_alive_interval(KEEP_ALIVE)
        .keep_alive_timeout(KEEP_ALIVE);
    let served = builder.serve_connection(TokioIo::new(tls), service);
    tokio::pin!(served);
    tokio::select! {
        result = served.as_mut() => {
            if let Err(e) = result {
                debug!(error = %e, "connection ended with an error");
            }
        }
        () = shutdown.cancelled() => {
            served.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, served).await;
        }
    }
}
