//! `floor`: what one delivery costs in the kernel alone, with no server around it.
//!
//! N loopback connections. One thread writes a frame to each in turn, `rate` rounds a
//! second, with nothing but the system call; another thread reads them all (tokio, as the
//! fan-out subscribers do). The writer thread's CPU time per write is the floor under any
//! server's CPU per delivery on this machine: on loopback the sender's system call also
//! runs the receiving side's TCP input and wakes the reader.

use std::io::{IoSlice, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tokio::io::AsyncReadExt;

use crate::procfs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Syscall {
    /// `write(2)` of the frame alone (a body delimited by the connection's end)
    Write,
    /// `writev(2)` of the chunk-size line, the frame and CRLF (HTTP/1.1 chunked)
    Writev,
    /// `sendmsg(2)` of the same three pieces
    Sendmsg,
}

#[derive(Debug, clap::Args)]
pub struct FloorArgs {
    /// Connections written to (both ends are in this process: at most half the open-file
    /// limit); by default 10,000, or as many as the limit allows when that is fewer
    #[arg(short = 'n', long)]
    connections: Option<usize>,
    /// Rounds per second (a round writes one frame to every connection)
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Seconds of writing
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Bytes per frame (a `new_message` event is about 300)
    #[arg(long, default_value_t = 300)]
    frame_bytes: usize,
    #[arg(long, value_enum, default_value = "write")]
    syscall: Syscall,
}

#[derive(Debug, Serialize)]
struct FloorReport {
    tool: &'static str,
    syscall: Syscall,
    connections: usize,
    rate: f64,
    frame_bytes: usize,
    writes: u64,
    bytes_read: u64,
    writer_cpu_seconds: f64,
    cpu_us_per_write: f64,
}

/// Open files the process needs besides the two ends of each connection.
const SPARE_FILES: u64 = 32;

/// The default connection count: 10,000, or as many as `limit` open files allow.
fn default_connections(limit: u64) -> usize {
    usize::try_from(limit.saturating_sub(SPARE_FILES) / 2).unwrap_or(usize::MAX).min(10_000)
}

pub fn run(args: &FloorArgs) -> Result<()> {
    let limit = procfs::raise_open_file_limit()?;
    let connections = args.connections.unwrap_or_else(|| default_connections(limit));
    if connections == 0 || args.rate <= 0.0 || args.duration <= 0.0 || args.frame_bytes < 8 {
        bail!("connections, rate, duration and frame bytes must be positive (frame at least 8 bytes)");
    }
    let needed = (connections as u64).saturating_mul(2).saturating_add(SPARE_FILES);
    if needed > limit {
        bail!("{connections} connections need {needed} open files; the limit is {limit}");
    }
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a loopback listener")?;
    let address = listener.local_addr()?;
    let mut writers = Vec::with_capacity(connections);
    let mut readers = Vec::with_capacity(connections);
    for _ in 0..connections {
        let reader = TcpStream::connect(address).context("connecting")?;
        let (writer, _) = listener.accept().context("accepting")?;
        writer.set_nodelay(true)?;
        reader.set_nonblocking(true)?;
        writers.push(writer);
        readers.push(reader);
    }

    let read = Arc::new(AtomicU64::new(0));
    let counter = read.clone();
    let reading = std::thread::spawn(move || -> Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async move {
            let mut tasks = Vec::with_capacity(readers.len());
            for reader in readers {
                let mut stream = tokio::net::TcpStream::from_std(reader)?;
                let counter = counter.clone();
                tasks.push(tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        counter.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }));
            }
            for task in tasks {
                let _ = task.await;
            }
            Ok(())
        })
    });

    let mut frame = String::from("id: 1234567\nevent: new_message\ndata: {\"content\":\"");
    while frame.len() + 4 < args.frame_bytes {
        frame.push('x');
    }
    frame.push_str("\"}\n\n");
    let size_line = format!("{:x}\r\n", frame.len());
    let rounds = (args.rate * args.duration).ceil() as u64;
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let start = Instant::now();
    let cpu_before = thread_cpu_seconds();
    let mut writes = 0u64;
    for round in 0..rounds {
        for writer in writers.iter_mut() {
            write_frame(writer, args.syscall, size_line.as_bytes(), frame.as_bytes())?;
            writes += 1;
        }
        let due = start + interval.mul_f64((round + 1) as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let writer_cpu_seconds = thread_cpu_seconds() - cpu_before;
    drop(writers);
    reading.join().map_err(|_| anyhow::anyhow!("the reader thread panicked"))??;

    let report = FloorReport {
        tool: "causerie-bench floor",
        syscall: args.syscall,
        connections,
        rate: args.rate,
        frame_bytes: frame.len(),
        writes,
        bytes_read: read.load(Ordering::Relaxed),
        writer_cpu_seconds,
        cpu_us_per_write: writer_cpu_seconds * 1e6 / writes.max(1) as f64,
    };
    println!("syscall                    {:?}", report.syscall);
    println!("connections / rounds       {} / {rounds} at {} per second", report.connections, report.rate);
    println!("writes / bytes read        {} / {}", report.writes, report.bytes_read);
    println!("writer CPU per write       {:.2} µs ({:.2} s)", report.cpu_us_per_write, report.writer_cpu_seconds);
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// Writes the whole frame, blocking while the socket buffer is full.
fn write_frame(writer: &mut TcpStream, syscall: Syscall, size_line: &[u8], frame: &[u8]) -> Result<()> {
    let pieces: [&[u8]; 3] = [size_line, frame, b"\r\n"];
    let total = match syscall {
        Syscall::Write => frame.len(),
        Syscall::Writev | Syscall::Sendmsg => pieces.iter().map(|p| p.len()).sum(),
    };
    let written = match syscall {
        Syscall::Write => writer.write(frame)?,
        Syscall::Writev => writer.write_vectored(&pieces.map(IoSlice::new))?,
        Syscall::Sendmsg => {
            let mut slices = pieces.map(IoSlice::new);
            // SAFETY: the message header points at `slices`, which outlives the call; IoSlice
            // has the layout of iovec.
            let sent = unsafe {
                let mut message: libc::msghdr = std::mem::zeroed();
                message.msg_iov = slices.as_mut_ptr().cast();
                message.msg_iovlen = slices.len() as _;
                libc::sendmsg(writer.as_raw_fd(), &message, libc::MSG_NOSIGNAL)
            };
            if sent < 0 {
                return Err(std::io::Error::last_os_error().into());
            }
            sent as usize
        }
    };
    if written != total {
        // A full socket buffer: the reader fell behind; the floor is not measured then.
        bail!("short write ({written} of {total} bytes): the reader fell behind; lower --rate or -n");
    }
    Ok(())
}

/// CPU seconds (user + system) of the calling thread.
fn thread_cpu_seconds() -> f64 {
    // SAFETY: clock_gettime writes into the zeroed struct we own.
    let time = unsafe {
        let mut time: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time);
        time
    };
    time.tv_sec as f64 + time.tv_nsec as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_connection_count_fits_the_open_file_limit() {
        assert_eq!(default_connections(1_048_576), 10_000);
        assert_eq!(default_connections(20_000), 9_984);
        assert_eq!(default_connections(20_032), 10_000);
        assert_eq!(default_connections(10), 0, "too few files leaves no connection, which run refuses");
    }
}
