//! Process figures: resident memory and CPU time of the server (from `/proc/<pid>`) and of
//! this process (`getrusage`), and the open-file limit.

use anyhow::{anyhow, Context, Result};

/// `VmRSS` of a process, in KiB.
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS in /proc/{pid}/status"))
}

/// User + system CPU seconds of a process (all its threads), from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name is in parentheses and may hold spaces: count fields after it.
    let after_name =
        stat.rsplit_once(')').map(|(_, rest)| rest).ok_or_else(|| anyhow!("malformed /proc/{pid}/stat"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of stat(5); the first after the name is field 3.
    let ticks = |index: usize| -> Result<u64> {
        fields
            .get(index - 3)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow!("no field {index} in /proc/{pid}/stat"))
    };
    Ok((ticks(14)? + ticks(15)?) as f64 / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// User + system CPU seconds of this process.
pub fn self_cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// CPU seconds of a set of processes (the server may be several, e.g. nginx workers).
pub fn total_cpu_seconds(pids: &[u32]) -> Result<f64> {
    pids.iter().map(|pid| cpu_seconds(*pid)).sum()
}

pub fn total_rss_kib(pids: &[u32]) -> Result<u64> {
    pids.iter().map(|pid| rss_kib(*pid)).sum()
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the new soft limit.
pub fn raise_open_file_limit() -> Result<u64> {
    // SAFETY: get/setrlimit read and write the struct we own.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error()).context("getrlimit(RLIMIT_NOFILE)");
        }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error()).context("setrlimit(RLIMIT_NOFILE)");
            }
        }
        Ok(limit.rlim_cur as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let pid = std::process::id();
        assert!(rss_kib(pid).unwrap() > 0);
        assert!(raise_open_file_limit().unwrap() > 0);
    }

    #[test]
    fn cpu_time_grows_with_work_and_both_readings_agree() {
        let pid = std::process::id();
        let (proc_before, self_before) = (cpu_seconds(pid).unwrap(), self_cpu_seconds());
        // Work until both readings have moved past where they started (/proc counts in
        // clock ticks, so a little work may not show).
        let mut x = 0u64;
        let mut rounds = 0;
        while cpu_seconds(pid).unwrap() <= proc_before || self_cpu_seconds() <= self_before {
            for i in 0..1_000_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
            rounds += 1;
            assert!(rounds < 10_000, "CPU time did not grow: {proc_before} s, {self_before} s");
        }
        // The same process measured two ways, one right after the other.
        let (by_proc, by_rusage) = (cpu_seconds(pid).unwrap(), self_cpu_seconds());
        let tick = 1.0 / clock_ticks_per_second();
        assert!((by_proc - by_rusage).abs() <= 0.1 + 2.0 * tick, "/proc says {by_proc} s, getrusage {by_rusage} s");
        assert!(cpu_seconds(u32::MAX).is_err(), "no such process");
    }
}
