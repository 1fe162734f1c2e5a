//! Logging: human-readable or JSON lines, to the sink the caller chooses.

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; a second call (tests) leaves the first in place.
pub fn init<W>(format: &str, level: &str, sink: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    // A log that cannot be written is dropped. Reporting it would print to stderr, which
    // panics when stderr is the same closed pipe (a log collector that went away): the
    // panicking task could be a request, or the one that shuts the server down on SIGTERM.
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(sink).log_internal_errors(false);
    let _ = if format == "json" { builder.json().flatten_event(true).try_init() } else { builder.try_init() };
}
