//! Logging: human-readable or JSON lines, to the sink the caller chooses.

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; a second call (tests) leaves the first in place.
/// `colour`: whether the human format may write ANSI colour codes, which only a terminal
/// shows; a file or a log collector would keep them as noise.
pub fn init<W>(format: &str, level: &str, sink: W, colour: bool)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let _ = subscriber(format, level, sink, colour).try_init();
}

/// The subscriber `init` installs, for a caller that installs it otherwise (a test's local one).
pub fn subscriber<W>(format: &str, level: &str, sink: W, colour: bool) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    // A log that cannot be written is dropped. Reporting it would print to stderr, which
    // panics when stderr is the same closed pipe (a log collector that went away): the
    // panicking task could be a request, or the one that shuts the server down on SIGTERM.
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(sink).log_internal_errors(false);
    if format == "json" {
        Box::new(builder.json().flatten_event(true).finish())
    } else {
        Box::new(builder.with_ansi(colour).finish())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A sink that keeps what is written, for reading back.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn logged(format: &str, colour: bool) -> String {
        let sink = Buffer::default();
        tracing::subscriber::with_default(subscriber(format, "info", sink.clone(), colour), || {
            tracing::info!(port = 8080, "listening");
        });
        let bytes = sink.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn the_human_format_is_coloured_only_when_asked() {
        let plain = logged("human", false);
        assert!(plain.contains("listening") && plain.contains("port=8080"), "{plain}");
        assert!(!plain.contains("\x1b["), "{plain:?}");
        let coloured = logged("human", true);
        assert!(coloured.contains("\x1b["), "{coloured:?}");
    }

    #[test]
    fn json_lines_are_never_coloured() {
        let line = logged("json", true);
        assert!(!line.contains("\x1b["), "{line:?}");
        let value: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(value["message"], "listening");
        assert_eq!(value["port"], 8080);
    }
}
