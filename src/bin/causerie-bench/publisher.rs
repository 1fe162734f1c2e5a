//! Publishing lanes: message `seq` goes to room `seq % rooms` at `start + seq / rate`.
//! Each room belongs to one lane (one keep-alive connection) that waits for each response
//! before the next request, so a room's messages are committed in sequence order and any
//! out-of-order delivery is the server's.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::http::Client;
use crate::stats::{wall_micros, Histogram};
use crate::subscriber::Shared;
use crate::target::Plan;

/// Errors kept for the report, per lane.
const KEPT_ERRORS: usize = 3;

pub struct Schedule {
    pub start: Instant,
    pub rate: f64,
    pub lanes: usize,
    pub timeout: Duration,
    /// Messages still unsent then are given up (a stalled server must not stall the run).
    pub give_up_at: Instant,
}

#[derive(Default)]
pub struct LaneOutcome {
    pub published: u64,
    pub failed: u64,
    /// Not sent: the lane was past `give_up_at`.
    pub abandoned: u64,
    pub errors: Vec<String>,
    /// How far behind its schedule the lane's latest send was, at worst (µs).
    pub behind_max_us: u64,
}

pub async fn run_lane(
    lane: usize,
    schedule: Arc<Schedule>,
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    publish_ms: Arc<Histogram>,
) -> LaneOutcome {
    let mut outcome = LaneOutcome::default();
    let node = crate::target::lane_node(lane, plan.pub_addrs.len());
    let mut client = Client::new(&plan.pub_addrs[node], schedule.timeout);
    let rooms = shared.rooms;
    for seq in (0..shared.slots.len()).filter(|seq| (seq % rooms) % schedule.lanes == lane) {
        let due = schedule.start + Duration::from_secs_f64(seq as f64 / schedule.rate);
        if Instant::now() >= schedule.give_up_at {
            outcome.abandoned += 1;
            continue;
        }
        tokio::time::sleep_until(due.into()).await;
        outcome.behind_max_us = outcome.behind_max_us.max(due.elapsed().as_micros() as u64);
        let room = seq % rooms;
        let sent = wall_micros();
        let body = plan.body(room, &format!("t={sent} seq={seq}"));
        shared.slots.sent_us[seq].store(sent, Relaxed);
        let began = Instant::now();
        let result = client.request("POST", &plan.publish_paths[room], &plan.pub_headers, &body).await;
        publish_ms.record(began.elapsed().as_micros() as u64);
        match result {
            Ok(response) if (200..300).contains(&response.status) => {
                shared.slots.published[seq].store(true, Relaxed);
                outcome.published += 1;
            }
            Ok(response) => outcome.fail(format!("HTTP {}: {}", response.status, response.text().trim())),
            Err(error) => outcome.fail(format!("{error:#}")),
        }
    }
    outcome
}

impl LaneOutcome {
    fn fail(&mut self, error: String) {
        self.failed += 1;
        if self.errors.len() < KEPT_ERRORS {
            self.errors.push(error);
        }
    }
}
