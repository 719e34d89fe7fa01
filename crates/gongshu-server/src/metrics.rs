//! Prometheus metrics at `/metrics` (requests, latencies, jobs, ingest volumes, alerts,
//! audit entries), and the readiness probe.
//!
//! The recorder is the process's: installed once, shared by every router in it (the
//! tests run several).

use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder on first use; `None` if another recorder was
/// installed first (a host embedding the server), in which case that one is used.
pub(crate) fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                        10.0, 30.0,
                    ],
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    metrics::describe_counter!(
        "gongshu_http_requests_total",
        "HTTP requests answered, by method, route and status class"
    );
    metrics::describe_histogram!(
        "gongshu_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to the response's head, by method and route"
    );
    metrics::describe_counter!(
        "gongshu_audit_entries_total",
        "Entries written to the audit log"
    );
}

/// Counts a request. `route` is the matched route's pattern (never the raw path, whose
/// ids would make a series per object).
pub(crate) fn observe(method: &str, route: &str, status: StatusCode, elapsed: Duration) {
    let class = match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::counter!(
        "gongshu_http_requests_total",
        "method" => method.to_owned(),
        "route" => route.to_owned(),
        "status" => class,
    )
    .increment(1);
    metrics::histogram!(
        "gongshu_http_request_duration_seconds",
        "method" => method.to_owned(),
        "route" => route.to_owned(),
    )
    .record(elapsed.as_secs_f64());
}

/// `GET /metrics`: the Prometheus text format.
pub(crate) async fn render() -> Response {
    match handle() {
        Some(h) => {
            h.run_upkeep();
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                )],
                h.render(),
            )
                .into_response()
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics are recorded by the host process",
        )
            .into_response(),
    }
}

#[derive(serde::Serialize)]
struct Readiness {
    ready: bool,
    store: bool,
    objects: bool,
}

/// `GET /readyz`: whether this node can serve — the store answers and the object store
/// is reachable — so that a load balancer sends it traffic.
pub(crate) async fn ready(State(s): State<AppState>) -> Response {
    let store = s.app.store.health().await.is_ok();
    let probe = object_store::path::Path::from("_readiness_probe");
    let objects =
        match object_store::ObjectStoreExt::head(&s.app.data.versions.store(), &probe).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => true,
            Err(e) => {
                tracing::warn!(error = %e, "object store unreachable");
                false
            }
        };
    let ready = store && objects;
    (
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        axum::Json(Readiness {
            ready,
            store,
            objects,
        }),
    )
        .into_response()
}
