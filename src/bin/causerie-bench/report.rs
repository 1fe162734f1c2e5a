//! The run's figures: a human table and one JSON line; and `report`, which reads JSON lines
//! of several runs and prints medians per scenario with ratios against a baseline.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;
use serde_json::Value;

use crate::stats::Summary;
use crate::subscriber::Outcome;

#[derive(Debug, Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub name: String,
    pub label: String,
    pub subscribers: usize,
    pub rooms: usize,
    pub rate: f64,
    pub messages_planned: usize,
    pub messages_published: u64,
    /// Refused or unanswered requests, and messages given up when publishing stalled.
    pub publish_failures: u64,
    pub publish_errors: Vec<String>,
    pub publish_rate_achieved: f64,
    pub publish_behind_max_ms: f64,
    pub publish_ms: Summary,
    pub connected: usize,
    pub connect_seconds: f64,
    pub subscriber_errors: Vec<String>,
    pub streams_ended_early: usize,
    pub deliveries: Deliveries,
    pub deliveries_per_second: f64,
    pub latency_ms: Summary,
    /// Deliveries to subscribers on another server than their room's publisher (several
    /// servers given with --sub-base / --pub-base); `null` when there were none.
    pub latency_ms_cross_node: Option<Summary>,
    pub fanout_ms: Summary,
    pub fanout_incomplete: usize,
    pub server: Server,
    pub client: Client,
}

#[derive(Debug, Default, Serialize)]
pub struct Deliveries {
    pub expected: u64,
    pub received: u64,
    pub missing: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    /// Events that carried no stamp of this run's room (other kinds of events).
    pub other_events: u64,
    pub resets: u64,
    pub id_regressions: u64,
}

impl Deliveries {
    /// `published_per_room[r]`: messages of room `r` the server accepted.
    pub fn count(expected: u64, published_per_room: &[u64], outcomes: &[Outcome]) -> Self {
        let mut d = Self { expected, ..Self::default() };
        for outcome in outcomes.iter().filter(|o| o.connected) {
            let tally = &outcome.tally;
            d.received += tally.unique + tally.duplicated;
            d.missing += published_per_room[outcome.room].saturating_sub(tally.unique);
            d.duplicated += tally.duplicated;
            d.out_of_order += tally.out_of_order;
            d.other_events += tally.foreign;
            d.resets += tally.resets;
            d.id_regressions += tally.id_regressions;
        }
        d
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Server {
    pub pids: Vec<u32>,
    pub rss_kib_before: u64,
    pub rss_kib_connected: u64,
    pub kib_per_connection: f64,
    pub cpu_seconds_connect: f64,
    pub cpu_us_per_connection: f64,
    pub cpu_seconds_publish: f64,
    pub cpu_us_per_delivery: f64,
    pub cpu_percent_publish: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct Client {
    pub cpu_seconds_connect: f64,
    pub cpu_seconds_publish: f64,
    pub cpu_us_per_delivery: f64,
}

pub fn per(total: f64, count: u64) -> f64 {
    if count == 0 {
        0.0
    } else {
        total / count as f64
    }
}

impl Report {
    pub fn json_line(&self) -> Result<String> {
        Ok(serde_json::to_string(self)?)
    }

    pub fn print_table(&self) {
        let d = &self.deliveries;
        let (l, f, p) = (&self.latency_ms, &self.fanout_ms, &self.publish_ms);
        let rows: Vec<(&str, String)> = vec![
            ("system / scenario", format!("{} / {}", self.name, if self.label.is_empty() { "-" } else { &self.label })),
            (
                "subscribers / rooms",
                format!("{} requested, {} connected / {}", self.subscribers, self.connected, self.rooms),
            ),
            ("connect time", format!("{:.2} s", self.connect_seconds)),
            (
                "messages",
                format!(
                    "{} planned at {} msg/s, {} published, {} failed",
                    self.messages_planned, self.rate, self.messages_published, self.publish_failures
                ),
            ),
            (
                "publish rate achieved",
                format!(
                    "{:.1} msg/s (behind schedule at most {:.1} ms)",
                    self.publish_rate_achieved, self.publish_behind_max_ms
                ),
            ),
            ("publish request ms", format!("p50 {:.2}  p99 {:.2}  max {:.2}", p.p50, p.p99, p.max)),
            (
                "deliveries",
                format!(
                    "expected {}  received {}  missing {}  duplicated {}  out of order {}",
                    d.expected, d.received, d.missing, d.duplicated, d.out_of_order
                ),
            ),
            (
                "other events / resets",
                format!("{} / {} (id regressions {})", d.other_events, d.resets, d.id_regressions),
            ),
            ("deliveries per second", format!("{:.0}", self.deliveries_per_second)),
            ("latency ms", format!("p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}", l.p50, l.p90, l.p99, l.max)),
            (
                "  across servers",
                match &self.latency_ms_cross_node {
                    Some(c) => format!(
                        "p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2} ({} deliveries)",
                        c.p50, c.p90, c.p99, c.max, c.count
                    ),
                    None => "-".to_owned(),
                },
            ),
            (
                "fan-out completion ms",
                format!(
                    "p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2} ({} incomplete)",
                    f.p50, f.p90, f.p99, f.max, self.fanout_incomplete
                ),
            ),
            (
                "server CPU per delivery",
                format!(
                    "{:.2} µs ({:.2} s CPU, {:.0} % of a core)",
                    self.server.cpu_us_per_delivery, self.server.cpu_seconds_publish, self.server.cpu_percent_publish
                ),
            ),
            (
                "server memory per conn",
                format!(
                    "{:.2} KiB (RSS {} -> {} KiB)",
                    self.server.kib_per_connection, self.server.rss_kib_before, self.server.rss_kib_connected
                ),
            ),
            (
                "server CPU per connect",
                format!("{:.1} µs ({:.2} s)", self.server.cpu_us_per_connection, self.server.cpu_seconds_connect),
            ),
            (
                "client CPU per delivery",
                format!(
                    "{:.2} µs ({:.2} s; connect {:.2} s)",
                    self.client.cpu_us_per_delivery, self.client.cpu_seconds_publish, self.client.cpu_seconds_connect
                ),
            ),
            ("streams ended early", format!("{}", self.streams_ended_early)),
        ];
        for (name, value) in rows {
            println!("{name:<26} {value}");
        }
        for error in self.subscriber_errors.iter().chain(&self.publish_errors) {
            println!("{:<26} {error}", "error (sample)");
        }
    }
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// JSON lines written by `fanout --json-out`
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The system the others are divided by
    #[arg(long, default_value = "nchan")]
    pub baseline: String,
    /// Runs labelled with this prefix are a rate search: reports the highest passing rate
    #[arg(long, default_value = "rate-search")]
    pub search_label: String,
    /// A rate passes when p99 latency stays under this, nothing is missing and the
    /// publishers kept at least 95 % of the rate
    #[arg(long, default_value_t = 100.0)]
    pub p99_limit_ms: f64,
}

/// Figures compared across systems: (heading, JSON pointer, decimals).
const METRICS: &[(&str, &str, usize)] = &[
    ("server CPU µs/delivery", "/server/cpu_us_per_delivery", 2),
    ("server KiB/connection", "/server/kib_per_connection", 2),
    ("latency p50 ms", "/latency_ms/p50", 2),
    ("latency p99 ms", "/latency_ms/p99", 2),
    ("latency max ms", "/latency_ms/max", 1),
    ("fan-out p99 ms", "/fanout_ms/p99", 2),
    ("deliveries/s", "/deliveries_per_second", 0),
    ("publish rate achieved", "/publish_rate_achieved", 1),
    ("publish p99 ms", "/publish_ms/p99", 1),
    ("connect s", "/connect_seconds", 2),
    ("server CPU µs/connect", "/server/cpu_us_per_connection", 1),
    ("missing", "/deliveries/missing", 0),
    ("duplicated", "/deliveries/duplicated", 0),
    ("out of order", "/deliveries/out_of_order", 0),
    ("connected", "/connected", 0),
];

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) { (values[mid - 1] + values[mid]) / 2.0 } else { values[mid] })
}

fn load(files: &[PathBuf]) -> Result<Vec<Value>> {
    let mut runs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        for line in text.lines().filter(|l| l.trim_start().starts_with('{')) {
            runs.push(serde_json::from_str(line).with_context(|| format!("a JSON line in {}", file.display()))?);
        }
    }
    Ok(runs)
}

fn text(run: &Value, key: &str) -> String {
    run[key].as_str().unwrap_or_default().to_owned()
}

fn number(run: &Value, pointer: &str) -> f64 {
    run.pointer(pointer).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

fn fmt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.decimals$}"))
}

/// Prints, per scenario, the median of each figure per system and the ratio to the baseline.
pub fn summarize(args: &ReportArgs) -> Result<()> {
    let runs = load(&args.files)?;
    let mut scenarios: BTreeMap<String, BTreeMap<String, Vec<&Value>>> = BTreeMap::new();
    for run in runs.iter().filter(|r| !text(r, "label").starts_with(&args.search_label)) {
        scenarios.entry(text(run, "label")).or_default().entry(text(run, "name")).or_default().push(run);
    }
    for (scenario, systems) in &scenarios {
        let others: Vec<&String> = systems.keys().filter(|n| **n != args.baseline).collect();
        let counts: Vec<String> = systems.iter().map(|(n, r)| format!("{n} ×{}", r.len())).collect();
        println!("\n### {scenario} (medians; runs: {})\n", counts.join(", "));
        let mut header = format!("| {:<24} |", "figure");
        for name in others.iter().copied().chain(systems.contains_key(&args.baseline).then_some(&args.baseline)) {
            header.push_str(&format!(" {name:>10} |"));
        }
        for name in &others {
            if systems.contains_key(&args.baseline) {
                header.push_str(&format!(" {name}/{} |", args.baseline));
            }
        }
        println!("{header}");
        println!("|{}", "---|".repeat(header.matches('|').count() - 1));
        for (heading, pointer, decimals) in METRICS {
            let med = |name: &String| {
                median(
                    systems.get(name).map(|r| r.iter().map(|run| number(run, pointer)).collect()).unwrap_or_default(),
                )
            };
            let mut line = format!("| {heading:<24} |");
            for name in others.iter().copied().chain(systems.contains_key(&args.baseline).then_some(&args.baseline)) {
                line.push_str(&format!(" {:>10} |", fmt(med(name), *decimals)));
            }
            if let Some(base) = systems.contains_key(&args.baseline).then(|| med(&args.baseline)).flatten() {
                for name in &others {
                    let ratio = med(name).filter(|_| base != 0.0).map(|v| v / base);
                    line.push_str(&format!(" {:>8} |", fmt(ratio, 2)));
                }
            }
            println!("{line}");
        }
    }
    print_rate_search(&runs, args);
    Ok(())
}

/// One rate tried: (msg/s, p99 ms, passed).
type Attempt = (f64, f64, bool);

/// The highest rate per system at which p99 stayed under the limit with nothing missing,
/// and every rate tried.
fn print_rate_search(runs: &[Value], args: &ReportArgs) {
    let mut tried: BTreeMap<(String, String), Vec<Attempt>> = BTreeMap::new();
    for run in runs.iter().filter(|r| text(r, "label").starts_with(&args.search_label)) {
        let p99 = number(run, "/latency_ms/p99");
        let kept_up = number(run, "/publish_rate_achieved") >= 0.95 * number(run, "/rate");
        let clean = kept_up && number(run, "/deliveries/missing") == 0.0 && number(run, "/publish_failures") == 0.0;
        tried.entry((text(run, "label"), text(run, "name"))).or_default().push((
            number(run, "/rate"),
            p99,
            clean && p99 < args.p99_limit_ms,
        ));
    }
    if tried.is_empty() {
        return;
    }
    println!(
        "\n### Rate search: highest rate kept with p99 < {} ms and nothing missing (✗ = failed)\n",
        args.p99_limit_ms
    );
    for ((label, name), runs) in &tried {
        let best = runs.iter().filter(|r| r.2).max_by(|a, b| a.0.total_cmp(&b.0));
        let trail: Vec<String> =
            runs.iter().map(|(rate, p99, ok)| format!("{rate}→{p99:.0}{}", if *ok { "" } else { "✗" })).collect();
        println!(
            "| {label} | {name:<10} | {:>6} msg/s | p99 {:>7} ms | tried (msg/s→p99 ms): {} |",
            fmt(best.map(|b| b.0), 0),
            fmt(best.map(|b| b.1), 1),
            trail.join(", ")
        );
    }
}
