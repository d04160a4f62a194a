//! Prometheus metrics at `/metrics`: the process-wide recorder and the exposition, with the
//! outbox depth read at scrape time.

use std::sync::{Arc, OnceLock};

use medibook_core::agenda_cache::AgendaCache;
use medibook_core::contention::SlotContention;
use medibook_core::outbox::OutboxRepository;
use medibook_core::shared_agendas::SharedAgendas;
use medibook_web::shell::metrics::{MetricsEndpoint, MetricsExport};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::settings::Settings;

/// Hold requests for a taken slot answered from a database operation another request made.
pub const REFUSED_FROM_MEMORY: &str = "medibook_holds_refused_from_memory_total";

/// Slot listings answered from the agenda cache, without a database round trip.
pub const LISTINGS_FROM_MEMORY: &str = "medibook_listings_from_memory_total";
/// Slot listings answered from the agendas instances share in Redis.
pub const LISTINGS_FROM_SHARED_CACHE: &str = "medibook_listings_from_shared_cache_total";
/// Slot listings that found no shared agenda, read the database and stored what they read.
pub const LISTINGS_MISSING_SHARED_CACHE: &str = "medibook_listings_missing_shared_cache_total";

/// Request-latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The process-wide Prometheus recorder, installed on first use (the `metrics` facade has one
/// global recorder); `None` if another recorder was installed first.
fn prometheus() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(medibook_web::shell::metrics::REQUEST_DURATION.to_owned()),
                    &LATENCY_BUCKETS,
                )
                .map(PrometheusBuilder::build_recorder);
            let recorder = match recorder {
                Ok(recorder) => recorder,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics are off: invalid histogram buckets");
                    return None;
                }
            };
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics are off: a recorder is already installed");
                    None
                }
            }
        })
        .clone()
}

/// `/metrics` when a token is configured.
pub(super) fn metrics_endpoint(
    settings: &Settings,
    outbox: Arc<dyn OutboxRepository>,
    contention: Arc<SlotContention>,
    agendas: Option<Arc<AgendaCache>>,
    shared_agendas: Option<Arc<SharedAgendas>>,
) -> Option<MetricsEndpoint> {
    let token = settings.metrics_token.clone().filter(|t| !t.is_empty())?;
    let handle = prometheus()?;
    Some(MetricsEndpoint {
        token,
        export: Arc::new(PrometheusExport {
            handle,
            outbox,
            contention,
            agendas,
            shared_agendas,
        }),
    })
}

/// The Prometheus exposition, with the outbox depth read at scrape time (one query), and the
/// counts of hold requests refused and slot listings answered from memory.
struct PrometheusExport {
    handle: PrometheusHandle,
    outbox: Arc<dyn OutboxRepository>,
    contention: Arc<SlotContention>,
    agendas: Option<Arc<AgendaCache>>,
    shared_agendas: Option<Arc<SharedAgendas>>,
}

#[async_trait::async_trait]
impl MetricsExport for PrometheusExport {
    async fn render(&self) -> String {
        match self.outbox.summary().await {
            Ok(summary) => {
                let pending = u32::try_from(summary.pending).unwrap_or(u32::MAX);
                metrics::gauge!("medibook_outbox_pending").set(f64::from(pending));
            }
            Err(e) => tracing::warn!(error = %e, "cannot count pending outbox messages"),
        }
        metrics::counter!(REFUSED_FROM_MEMORY).absolute(self.contention.refused_from_memory());
        if let Some(agendas) = &self.agendas {
            metrics::counter!(LISTINGS_FROM_MEMORY).absolute(agendas.hits());
        }
        if let Some(shared) = &self.shared_agendas {
            metrics::counter!(LISTINGS_FROM_SHARED_CACHE).absolute(shared.hits());
            metrics::counter!(LISTINGS_MISSING_SHARED_CACHE).absolute(shared.misses());
        }
        self.handle.render()
    }
}
