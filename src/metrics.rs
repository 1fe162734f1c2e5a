//! Prometheus metrics: requests by route and status, latency, DB pool, streams and events.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};
use tracing::Instrument;

use crate::broker::tail::Tail;
use crate::broker::Hub;
use crate::store::Db;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    /// Client connections open now, streams included.
    connections: Arc<AtomicI64>,
}

/// One open client connection, counted until it is dropped.
pub struct OpenConnection(Arc<AtomicI64>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("causerie_http_requests_total", "HTTP requests by route, method and status"),
            &["route", "method", "status"],
        )
        .unwrap_or_else(|_| unreachable!("static metric definition"));
        let latency = HistogramVec::new(
            HistogramOpts::new("causerie_http_request_duration_seconds", "Time to the response head, by route")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
            &["route"],
        )
        .unwrap_or_else(|_| unreachable!("static metric definition"));
        let _ = registry.register(Box::new(requests.clone()));
        let _ = registry.register(Box::new(latency.clone()));
        Self { registry, requests, latency, connections: Arc::default() }
    }

    /// Counts a client connection while the returned guard lives.
    pub fn connection_opened(&self) -> OpenConnection {
        self.connections.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self.connections.clone())
    }

    pub fn observe(&self, route: &str, method: &str, status: &str, seconds: f64) {
        self.requests.with_label_values(&[route, method, status]).inc();
        self.latency.with_label_values(&[route]).observe(seconds);
    }

    /// The text exposition: registered metrics plus gauges read now.
    pub fn render(&self, db: &Db, hub: &Hub, tail: Option<&Tail>) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        let mut text = String::from_utf8(out).unwrap_or_default();
        let (connections, idle) = db.pool_state();
        let stats = &hub.stats;
        let gauges: [(&str, &str, &str, u64); 11] = [
            (
                "causerie_http_connections",
                "gauge",
                "Open client connections, event streams included",
                self.connections.load(Ordering::Relaxed).max(0) as u64,
            ),
            ("causerie_db_calls_total", "counter", "Database calls (queries or transactions)", db.calls()),
            ("causerie_db_pool_connections", "gauge", "Open database connections", connections as u64),
            ("causerie_db_pool_idle", "gauge", "Idle database connections", idle as u64),
            (
                "causerie_sse_subscribers",
                "gauge",
                "Open event streams",
                stats.subscribers.load(Ordering::Relaxed).max(0) as u64,
            ),
            ("causerie_sse_room_channels", "gauge", "Room channels with listeners", hub.room_channels() as u64),
            (
                "causerie_events_published_total",
                "counter",
                "Events published to the hub",
                stats.published.load(Ordering::Relaxed),
            ),
            (
                "causerie_events_delivered_total",
                "counter",
                "Events written to streams",
                stats.delivered.load(Ordering::Relaxed),
            ),
            (
                "causerie_sse_lagged_total",
                "counter",
                "Times a stream fell behind its channel",
                stats.lagged.load(Ordering::Relaxed),
            ),
            (
                "causerie_sse_catch_ups_total",
                "counter",
                "Catch-up reads from the event log",
                stats.catch_ups.load(Ordering::Relaxed),
            ),
            (
                "causerie_sse_dropped_slow_total",
                "counter",
                "Streams ended for not keeping up",
                stats.dropped_slow.load(Ordering::Relaxed),
            ),
        ];
        for (name, kind, help, value) in gauges {
            text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"));
        }
        if let Some(tail) = tail {
            let stats = &tail.stats;
            let bus: [(&str, &str, &str, u64); 6] = [
                ("causerie_bus_lag_events", "gauge", "Newest event id seen minus the last published here", stats.lag()),
                (
                    "causerie_bus_notifications_total",
                    "counter",
                    "Event notifications heard from the database",
                    stats.notifications.load(Ordering::Relaxed),
                ),
                (
                    "causerie_bus_polled_events_total",
                    "counter",
                    "Events that only the safety poll found",
                    stats.polled.load(Ordering::Relaxed),
                ),
                (
                    "causerie_bus_reads_total",
                    "counter",
                    "Reads of the event log by this node's tail",
                    stats.reads.load(Ordering::Relaxed),
                ),
                (
                    "causerie_bus_reconnects_total",
                    "counter",
                    "Times the listener connection was made again",
                    stats.reconnects.load(Ordering::Relaxed),
                ),
                (
                    "causerie_bus_listening",
                    "gauge",
                    "1 while the listener connection listens",
                    u64::from(tail.listening()),
                ),
            ];
            for (name, kind, help, value) in bus {
                text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"));
            }
        }
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The `method` label: the standard methods by name, any other as `other`, so that a client
/// cannot add series by inventing methods.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Middleware: puts each request in a span (so that what it logs says which request it was)
/// and counts it by its route pattern (never the raw path, which would make one series per
/// id; a path no route matches is `unmatched`) and its method.
///
/// One middleware for both, and a span with only the fields a log line needs: the route is
/// found once, and nothing is formatted for a span the log level leaves out.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = method_label(req.method());
    let route = req.match_pattern();
    let span = tracing::info_span!(
        "HTTP request",
        http.method = method,
        http.route = route.as_deref().unwrap_or("unmatched"),
        http.target = req.uri().path_and_query().map_or("", |p| p.as_str()),
        request_id = REQUEST_IDS.fetch_add(1, Ordering::Relaxed),
        user_id = tracing::field::Empty,
    );
    let call = span.in_scope(|| next.call(req));
    let response = call.instrument(span).await?;
    if let Some(metrics) = metrics {
        let route = route.as_deref().unwrap_or("unmatched");
        metrics.observe(route, method, response.status().as_str(), started.elapsed().as_secs_f64());
    }
    Ok(response)
}

/// Numbers the requests of this process, for telling apart the log lines of concurrent ones.
static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

#[cfg(test)]
mod tests {
    use actix_web::http::Method;

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(super::method_label(&Method::GET), "GET");
        assert_eq!(super::method_label(&Method::PATCH), "PATCH");
        for invented in ["ZZPROBE1", "get", &"X".repeat(20_000)] {
            let method = Method::from_bytes(invented.as_bytes()).unwrap();
            assert_eq!(super::method_label(&method), "other", "{invented:.20}");
        }
    }
}
