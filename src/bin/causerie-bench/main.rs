//! causerie-bench: an SSE fan-out load generator for causerie and for any server reachable
//! through URL templates (nchan), and a summary of several runs.
//!
//! ```text
//! causerie-bench fanout --spawn target/release/causerie -n 10000 -r 100 --rate 200
//! causerie-bench fanout --target generic --sub-url 'http://127.0.0.1:8081/sub/{room}' \
//!     --pub-url 'http://127.0.0.1:8081/pub/{room}' --server-pid 1234 -n 1000
//! causerie-bench fanout --url http://127.0.0.1:8081 --token … --server-pid 11 --server-pid 12 \
//!     --sub-base http://127.0.0.1:8081 --sub-base http://127.0.0.1:8082 \
//!     --pub-base http://127.0.0.1:8081 --pub-base http://127.0.0.1:8082 -n 2000 -r 10
//! causerie-bench report results.jsonl
//! causerie-bench floor --rate 10 --syscall writev
//! causerie-bench search --postgres postgres://postgres@127.0.0.1:5432/test
//! ```
//!
//! Only loopback addresses are accepted; every loop is bounded in count and time.

mod fanout;
mod floor;
mod http;
mod procfs;
mod progress;
mod publisher;
mod report;
mod search;
mod server;
mod sse;
mod stats;
mod subscriber;
mod target;

use std::io::Write;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "causerie-bench", about = "SSE fan-out load generator (causerie, nchan, …)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Open N subscribers over R rooms, publish M messages at a rate, report what arrived
    Fanout(Box<fanout::FanoutArgs>),
    /// Medians per scenario and ratios to a baseline, from JSON lines of `fanout`
    Report(report::ReportArgs),
    /// The kernel's cost of one delivery: bare writes to N loopback connections
    Floor(floor::FloorArgs),
    /// Search latency over a large history (SQLite, PostgreSQL), and what the index costs a send
    Search(search::SearchArgs),
}

fn main() {
    if let Err(error) = run(Cli::parse()) {
        eprintln!("causerie-bench: {error:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Fanout(args) => {
            // Two workers: the machine this was written for has two cores, shared with the server.
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            let report = runtime.block_on(fanout::run(&args))?;
            report.print_table();
            let line = report.json_line()?;
            println!("{line}");
            if let Some(path) = &args.json_out {
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening {}", path.display()))?;
                writeln!(file, "{line}")?;
            }
            Ok(())
        }
        Command::Report(args) => report::summarize(&args),
        Command::Floor(args) => floor::run(&args),
        Command::Search(args) => search::run_all(&args),
    }
}
