//! Live progress on stderr while a run lasts (subscribers connected, messages published,
//! deliveries per second, deliveries missing so far), only when stderr is a terminal: a run
//! whose output goes to a file or a pipe prints nothing extra.

use std::io::IsTerminal;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinHandle;

use crate::subscriber::Shared;

const TICK: Duration = Duration::from_millis(250);

pub struct Progress {
    bar: ProgressBar,
    task: JoinHandle<()>,
}

impl Progress {
    /// Starts showing progress when stderr is a terminal; `None` otherwise.
    pub fn start(shared: Arc<Shared>, subscribers: usize) -> Option<Self> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}") {
            bar.set_style(style);
        }
        let shown = bar.clone();
        let task = tokio::spawn(async move {
            let mut last = (Instant::now(), shared.received.load(Relaxed));
            let mut ticks = tokio::time::interval(TICK);
            loop {
                ticks.tick().await;
                let received = shared.received.load(Relaxed);
                let now = Instant::now();
                let elapsed = now.duration_since(last.0).as_secs_f64();
                let rate = if elapsed > 0.0 { received.saturating_sub(last.1) as f64 / elapsed } else { 0.0 };
                last = (now, received);
                shown.set_message(line(&shared, subscribers, received, rate));
                shown.tick();
            }
        });
        Some(Self { bar, task })
    }

    /// Stops and clears the line, before the report is printed.
    pub fn finish(self) {
        self.task.abort();
        self.bar.finish_and_clear();
    }
}

fn line(shared: &Shared, subscribers: usize, received: u64, rate: f64) -> String {
    let connected: u64 = shared.connected.iter().map(|c| c.load(Relaxed)).sum();
    let published = shared.slots.published.iter().filter(|p| p.load(Relaxed)).count();
    let missing = shared.expected_deliveries().saturating_sub(received);
    format!(
        "subscribers {connected}/{subscribers} connected · published {published}/{} · {rate:.0} deliveries/s · \
         missing so far {missing}",
        shared.slots.len()
    )
}
