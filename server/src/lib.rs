//! # passerelle-server
//!
//! The Passerelle server: one process that relays and stores end-to-end encrypted
//! messages for a CLSPD, enforces its information-sharing charter and keeps the
//! tamper-evident access log. See docs/ARCHITECTURE.md for the architecture; [`app`] builds the HTTP
//! application and [`serve`] runs it.

pub mod app;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod bus;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod facts;
pub mod feed;
pub mod gate;
pub mod http;
pub mod messages;
pub mod metrics;
pub mod policy;
pub mod secrets;
pub mod state;
pub mod throttle;
pub mod tls;
pub mod web;
pub mod ws;

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use tower::ServiceBuilder;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use state::AppState;

/// The whole HTTP application: API, health, metrics and the embedded web client, behind
/// body limits, a timeout and the security headers.
pub fn app(state: AppState) -> Router {
    let config = state.config.clone();
    let hsts = config
        .tls
        .then(|| HeaderValue::from_static("max-age=63072000; includeSubDomains"));
    let security_headers = ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(web::CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            move |_: &Response| hsts.clone(),
        ));

    let api = http::api_router()
        .merge(ws::router())
        .fallback(http::edge::unknown_route)
        .method_not_allowed_fallback(http::edge::method_not_allowed)
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));

    Router::new()
        .nest("/api/v1", api)
        .merge(http::health::router())
        .fallback(web::serve)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            http::edge::guard,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(security_headers)
        // Enforced by the body extractors, so that the attachment route can raise it.
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(config.request_timeout_secs),
        ))
        .layer(TraceLayer::new_for_http())
        // Marked sensitive before anything can log them.
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
            header::SET_COOKIE,
        ]))
        .with_state(state)
}

async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    state.metrics.http_requests.inc();
    if response.status().is_server_error() {
        state.metrics.http_errors.inc();
    }
    response
}

/// Serves `state` on an already bound listener until `shutdown` completes: HTTPS when
/// the configuration says so (the certificate loaded or generated), plain HTTP otherwise.
/// Accepted sockets have `TCP_NODELAY`: the WebSocket writer flushes once per burst of
/// frames, and Nagle's algorithm would hold a lone frame until the previous one is acked.
pub async fn serve(
    listener: std::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = state.config.clone();
    // Stops with the server: aborted below, whichever way serving ends.
    let retention = app::retention::spawn(state.clone());
    let notices = app::notices::spawn(state.clone());
    let app = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let on_shutdown = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        on_shutdown.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    listener.set_nonblocking(true)?;
    let served = serve_on(listener, &config, handle, app).await;
    retention.abort();
    if let Some(notices) = notices {
        notices.abort();
    }
    served
}

async fn serve_on(
    listener: std::net::TcpListener,
    config: &config::Config,
    handle: axum_server::Handle,
    app: axum::extract::connect_info::IntoMakeServiceWithConnectInfo<Router, SocketAddr>,
) -> anyhow::Result<()> {
    let header_timeout = Duration::from_secs(config.header_read_timeout_secs.max(1));
    if config.tls {
        let certificate = tls::load_or_generate(config)?;
        if certificate.generated {
            tracing::info!(fingerprint = %certificate.fingerprint, "generated a self-signed TLS certificate");
        }
        let rustls =
            axum_server::tls_rustls::RustlsConfig::from_config(tls::server_config(&certificate)?);
        let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(rustls)
            .acceptor(axum_server::accept::NoDelayAcceptor::new());
        let mut server = axum_server::from_tcp(listener)
            .acceptor(acceptor)
            .handle(handle);
        limit_header_time(server.http_builder(), header_timeout);
        server.serve(app).await?;
    } else {
        let mut server = axum_server::from_tcp(listener)
            .acceptor(axum_server::accept::NoDelayAcceptor::new())
            .handle(handle);
        limit_header_time(server.http_builder(), header_timeout);
        server.serve(app).await?;
    }
    Ok(())
}

/// Disconnects clients that do not finish sending their headers in time (slowloris);
/// hyper enforces it only with a timer. Hyper's own header limits are set above the ones
/// `http::edge` answers (in French, as JSON, and logged), so that requests slightly over
/// those reach it; only far beyond does hyper answer its bare 431 itself.
fn limit_header_time(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    timeout: Duration,
) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(timeout)
        .max_headers(HYPER_MAX_HEADERS)
        .max_buf_size(HYPER_MAX_BUF);
}

/// Header fields hyper parses at most (`http::edge` refuses more than 100).
const HYPER_MAX_HEADERS: usize = 1000;
/// Hyper's read buffer, which bounds a request's head (`http::edge` refuses more than
/// 64 KiB of headers).
const HYPER_MAX_BUF: usize = 1024 * 1024;
