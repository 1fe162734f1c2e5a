//! `fanout`: N subscribers over R rooms, M messages at a target rate, and what came back.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use clap::Args;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crate::procfs::{raise_open_file_limit, self_cpu_seconds, total_cpu_seconds, total_rss_kib};
use crate::progress::Progress;
use crate::publisher::{self, LaneOutcome, Schedule};
use crate::report::{per, Client, Deliveries, Report, Server};
use crate::stats::{Histogram, Slots, Summary};
use crate::subscriber::{self, Outcome, Shared, Subscription};
use crate::target::{publishing_node, subscriber_node, Plan, TargetArgs, TargetKind};

/// File descriptors kept free for everything but the subscribers.
const SPARE_FDS: u64 = 64;

#[derive(Debug, Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// SSE subscribers to open (spread round-robin over the rooms)
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub subscribers: usize,
    /// Rooms (channels)
    #[arg(short = 'r', long, default_value_t = 1)]
    pub rooms: usize,
    /// Messages per second, over all rooms
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Seconds of publishing (messages = rate × duration, unless --messages is given)
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Messages to publish (overrides --duration)
    #[arg(short = 'm', long)]
    pub messages: Option<usize>,
    /// Publishing connections (at most one per room); each room is published on by one of
    /// them, a request at a time, so its messages commit in order
    #[arg(long, default_value_t = 16)]
    pub publishers: usize,
    /// Subscriber connections being opened at once
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// Seconds to wait for one subscriber's response head
    #[arg(long, default_value_t = 30.0)]
    pub connect_timeout: f64,
    /// Seconds to let the server settle before each memory reading
    #[arg(long, default_value_t = 1.0)]
    pub settle: f64,
    /// Seconds to wait after the last publish for deliveries still in flight
    #[arg(long, default_value_t = 10.0)]
    pub drain_timeout: f64,
    /// Seconds before a publish request counts as failed
    #[arg(long, default_value_t = 10.0)]
    pub request_timeout: f64,
    /// Name of the system measured, for the report (default: causerie, or generic)
    #[arg(long)]
    pub name: Option<String>,
    /// Scenario label, for the report
    #[arg(long, default_value = "")]
    pub label: String,
    /// Also append the JSON line to this file
    #[arg(long)]
    pub json_out: Option<std::path::PathBuf>,
}

impl FanoutArgs {
    fn message_count(&self) -> usize {
        self.messages.unwrap_or((self.rate * self.duration).round() as usize)
    }

    fn validate(&self) -> Result<()> {
        ensure!(self.subscribers >= 1 && self.rooms >= 1, "--subscribers and --rooms must be at least 1");
        ensure!(self.rate > 0.0 && self.rate.is_finite(), "--rate must be positive");
        ensure!(self.message_count() >= 1, "nothing to publish: raise --duration or --messages");
        ensure!(
            self.publishers >= 1 && self.connect_concurrency >= 1,
            "--publishers and --connect-concurrency must be at least 1"
        );
        Ok(())
    }
}

/// CPU seconds of the server and of this process at one instant.
#[derive(Clone, Copy)]
struct CpuMark {
    server: f64,
    client: f64,
    at: Instant,
}

impl CpuMark {
    fn now(pids: &[u32]) -> Result<Self> {
        Ok(Self { server: total_cpu_seconds(pids)?, client: self_cpu_seconds(), at: Instant::now() })
    }
}

/// What the connect and publish phases measured besides deliveries: server memory, CPU
/// marks around each phase, the time to connect, the deliveries expected.
struct Marks {
    pids: Vec<u32>,
    connect_seconds: f64,
    expected: u64,
    rss_before: u64,
    rss_connected: u64,
    connect: (CpuMark, CpuMark),
    publish: (CpuMark, CpuMark),
}

pub async fn run(args: &FanoutArgs) -> Result<Report> {
    args.validate()?;
    let open_files = raise_open_file_limit()?;
    ensure!(
        args.subscribers as u64 + SPARE_FDS <= open_files,
        "{} subscribers need more open files than the limit ({open_files})",
        args.subscribers
    );
    let plan = Arc::new(Plan::prepare(&args.target, args.rooms).await?);
    let pids = plan.server_pids.clone();
    let settle = Duration::from_secs_f64(args.settle);
    tokio::time::sleep(settle).await;
    let rss_before = total_rss_kib(&pids)?;

    let shared = Arc::new(Shared {
        rooms: args.rooms,
        slots: Slots::new(args.message_count()),
        latency: Histogram::default(),
        latency_cross: Histogram::default(),
        received: AtomicU64::new(0),
        attempts_done: AtomicU64::new(0),
        connected: (0..args.rooms).map(|_| AtomicU64::new(0)).collect(),
    });
    let connect_start = CpuMark::now(&pids)?;
    let progress = Progress::start(shared.clone(), args.subscribers);
    let (stop, subscribers) = spawn_subscribers(args, &plan, &shared);
    let connect_seconds = wait_connected(args, &shared).await;
    let connect_end = CpuMark::now(&pids)?;
    tokio::time::sleep(settle).await;
    let rss_connected = total_rss_kib(&pids)?;

    let publish_start = CpuMark::now(&pids)?;
    let (lanes, publish_ms) = publish(args, &plan, &shared).await;
    let expected = shared.expected_deliveries();
    drain(&shared, expected, Duration::from_secs_f64(args.drain_timeout)).await;
    let publish_end = CpuMark::now(&pids)?;
    if let Some(progress) = progress {
        progress.finish();
    }

    let _ = stop.send(true);
    let mut outcomes = Vec::with_capacity(subscribers.len());
    for task in subscribers {
        outcomes.push(task.await?);
    }
    drop(plan); // stops a spawned server
    let marks = Marks {
        pids,
        connect_seconds,
        expected,
        rss_before,
        rss_connected,
        connect: (connect_start, connect_end),
        publish: (publish_start, publish_end),
    };
    Ok(build_report(args, &shared, &lanes, publish_ms, &outcomes, &marks))
}

fn build_report(
    args: &FanoutArgs,
    shared: &Shared,
    lanes: &[LaneOutcome],
    publish_ms: Summary,
    outcomes: &[Outcome],
    marks: &Marks,
) -> Report {
    let lane_outcomes = || lanes.iter();
    Report {
        tool: "causerie-bench fanout",
        name: args.name.clone().unwrap_or_else(|| default_name(args.target.target).into()),
        label: args.label.clone(),
        subscribers: args.subscribers,
        rooms: args.rooms,
        rate: args.rate,
        messages_planned: shared.slots.len(),
        messages_published: lane_outcomes().map(|l| l.published).sum(),
        publish_failures: lane_outcomes().map(|l| l.failed + l.abandoned).sum(),
        publish_errors: lane_outcomes().flat_map(|l| l.errors.iter().cloned()).take(5).collect(),
        publish_rate_achieved: achieved_rate(shared),
        publish_behind_max_ms: lane_outcomes().map(|l| l.behind_max_us).max().unwrap_or(0) as f64 / 1000.0,
        publish_ms,
        connected: outcomes.iter().filter(|o| o.connected).count(),
        connect_seconds: marks.connect_seconds,
        subscriber_errors: outcomes.iter().filter_map(|o| o.error.clone()).take(5).collect(),
        streams_ended_early: outcomes.iter().filter(|o| o.ended_early).count(),
        deliveries: Deliveries::count(marks.expected, &published_per_room(shared), outcomes),
        deliveries_per_second: deliveries_per_second(shared),
        latency_ms: shared.latency.summary(),
        latency_ms_cross_node: (shared.latency_cross.summary().count > 0).then(|| shared.latency_cross.summary()),
        fanout_ms: fanout_completion(shared).summary(),
        fanout_incomplete: incomplete_messages(shared),
        server: server_figures(shared, marks),
        client: client_figures(shared, marks),
    }
}

fn server_figures(shared: &Shared, marks: &Marks) -> Server {
    let connected: u64 = shared.connected.iter().map(|c| c.load(Relaxed)).sum();
    let received = shared.received.load(Relaxed);
    let (connect_start, connect_end) = marks.connect;
    let (publish_start, publish_end) = marks.publish;
    let connect_cpu = cpu_delta(connect_start.server, connect_end.server);
    let publish_cpu = cpu_delta(publish_start.server, publish_end.server);
    let publish_seconds = publish_end.at.duration_since(publish_start.at).as_secs_f64();
    Server {
        pids: marks.pids.clone(),
        rss_kib_before: marks.rss_before,
        rss_kib_connected: marks.rss_connected,
        kib_per_connection: per(marks.rss_connected.saturating_sub(marks.rss_before) as f64, connected),
        cpu_seconds_connect: connect_cpu,
        cpu_us_per_connection: per(connect_cpu * 1e6, connected),
        cpu_seconds_publish: publish_cpu,
        cpu_us_per_delivery: per(publish_cpu * 1e6, received),
        cpu_percent_publish: if publish_seconds > 0.0 { 100.0 * publish_cpu / publish_seconds } else { 0.0 },
    }
}

fn client_figures(shared: &Shared, marks: &Marks) -> Client {
    let publish_cpu = cpu_delta(marks.publish.0.client, marks.publish.1.client);
    Client {
        cpu_seconds_connect: cpu_delta(marks.connect.0.client, marks.connect.1.client),
        cpu_seconds_publish: publish_cpu,
        cpu_us_per_delivery: per(publish_cpu * 1e6, shared.received.load(Relaxed)),
    }
}

fn default_name(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::Causerie => "causerie",
        TargetKind::Generic => "generic",
    }
}

fn spawn_subscribers(
    args: &FanoutArgs,
    plan: &Plan,
    shared: &Arc<Shared>,
) -> (watch::Sender<bool>, Vec<JoinHandle<Outcome>>) {
    let (stop, stop_rx) = watch::channel(false);
    let gate = Arc::new(Semaphore::new(args.connect_concurrency));
    let requests: Vec<Vec<Arc<Vec<u8>>>> =
        plan.subscribe.iter().map(|node| node.iter().cloned().map(Arc::new).collect()).collect();
    let tasks = (0..args.subscribers)
        .map(|i| {
            let room = i % args.rooms;
            let node = subscriber_node(i, args.rooms, plan.sub_addrs.len());
            let publishing = publishing_node(room, args.publishers.min(args.rooms), plan.pub_addrs.len());
            let sub = Subscription {
                room,
                addr: plan.sub_addrs[node].clone(),
                cross_node: plan.sub_addrs[node].addr != plan.pub_addrs[publishing].addr,
                request: requests[node][room].clone(),
                connect_timeout: Duration::from_secs_f64(args.connect_timeout),
            };
            tokio::spawn(subscriber::run(sub, shared.clone(), gate.clone(), stop_rx.clone()))
        })
        .collect();
    (stop, tasks)
}

/// Waits until every subscriber connected or gave up; returns the seconds it took.
async fn wait_connected(args: &FanoutArgs, shared: &Shared) -> f64 {
    let started = Instant::now();
    let waves = args.subscribers.div_ceil(args.connect_concurrency) as f64;
    let deadline = started + Duration::from_secs_f64(args.connect_timeout * waves.max(1.0) + 5.0);
    while shared.attempts_done.load(Relaxed) < args.subscribers as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed().as_secs_f64()
}

/// Runs the publishing lanes to the end; returns their outcomes and the request latencies.
async fn publish(args: &FanoutArgs, plan: &Arc<Plan>, shared: &Arc<Shared>) -> (Vec<LaneOutcome>, Summary) {
    let publish_ms = Arc::new(Histogram::default());
    let lanes = args.publishers.min(args.rooms);
    let start = Instant::now() + Duration::from_millis(10);
    let planned = Duration::from_secs_f64(args.message_count() as f64 / args.rate);
    let timeout = Duration::from_secs_f64(args.request_timeout);
    let schedule =
        Arc::new(Schedule { start, rate: args.rate, lanes, timeout, give_up_at: start + planned * 2 + timeout * 3 });
    let tasks: Vec<_> = (0..lanes)
        .map(|lane| {
            tokio::spawn(publisher::run_lane(lane, schedule.clone(), plan.clone(), shared.clone(), publish_ms.clone()))
        })
        .collect();
    let mut outcomes = Vec::with_capacity(lanes);
    for task in tasks {
        outcomes.push(task.await.unwrap_or_else(|error| LaneOutcome {
            errors: vec![format!("publishing task failed: {error}")],
            ..LaneOutcome::default()
        }));
    }
    (outcomes, publish_ms.summary())
}

async fn drain(shared: &Shared, expected: u64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while shared.received.load(Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Messages per second actually sent: the publishers fall behind when requests are slow.
fn achieved_rate(shared: &Shared) -> f64 {
    let sent: Vec<u64> = shared.slots.sent_us.iter().map(|t| t.load(Relaxed)).filter(|t| *t > 0).collect();
    let (first, last) = (sent.iter().min().copied().unwrap_or(0), sent.iter().max().copied().unwrap_or(0));
    if last > first {
        (sent.len() - 1) as f64 / ((last - first) as f64 / 1e6)
    } else {
        0.0
    }
}

/// Deliveries over the span from the first send to the last delivery.
fn deliveries_per_second(shared: &Shared) -> f64 {
    let slots = &shared.slots;
    let first_sent = slots.sent_us.iter().map(|t| t.load(Relaxed)).filter(|t| *t > 0).min().unwrap_or(0);
    let last = slots.last_delivery_us.iter().map(|t| t.load(Relaxed)).max().unwrap_or(0);
    let span = last.saturating_sub(first_sent) as f64 / 1e6;
    if span > 0.0 {
        shared.received.load(Relaxed) as f64 / span
    } else {
        0.0
    }
}

/// For each message that reached every subscriber of its room: send to last delivery.
fn fanout_completion(shared: &Shared) -> Histogram {
    let histogram = Histogram::default();
    for seq in complete_messages(shared) {
        let slots = &shared.slots;
        histogram.record(slots.last_delivery_us[seq].load(Relaxed).saturating_sub(slots.sent_us[seq].load(Relaxed)));
    }
    histogram
}

fn complete_messages(shared: &Shared) -> impl Iterator<Item = usize> + '_ {
    (0..shared.slots.len()).filter(move |seq| {
        let want = shared.connected[seq % shared.rooms].load(Relaxed);
        shared.slots.published[*seq].load(Relaxed)
            && want > 0
            && u64::from(shared.slots.deliveries[*seq].load(Relaxed)) >= want
    })
}

fn incomplete_messages(shared: &Shared) -> usize {
    let published = (0..shared.slots.len()).filter(|seq| shared.slots.published[*seq].load(Relaxed)).count();
    published - complete_messages(shared).count()
}

fn cpu_delta(from: f64, to: f64) -> f64 {
    (to - from).max(0.0)
}

fn published_per_room(shared: &Shared) -> Vec<u64> {
    let mut counts = vec![0; shared.rooms];
    for seq in (0..shared.slots.len()).filter(|seq| shared.slots.published[*seq].load(Relaxed)) {
        counts[seq % shared.rooms] += 1;
    }
    counts
}
