//! A fresh causerie server for one run: a temp SQLite database, a bench user and token made
//! with the CLI, a free loopback port. Stopped (SIGTERM, then SIGKILL) and cleaned up on drop.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::http::{Client, Url};

pub const BENCH_USER: &str = "bench";
const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct SpawnedServer {
    child: Child,
    dir: PathBuf,
    pub url: Url,
    pub token: String,
}

impl SpawnedServer {
    /// Provisions the database with the CLI, then starts `serve` and waits for `/readyz`.
    pub async fn start(binary: &Path, extra_env: &[(String, String)]) -> Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("causerie-bench-{}-{}", std::process::id(), crate::stats::wall_micros()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let port = free_port()?;
        let env = server_env(&dir, port, extra_env);
        let password = format!("bench-{}", crate::stats::wall_micros());
        cli(binary, &env, &["user", "add", BENCH_USER, "--admin", "--password-stdin"], Some(&password))?;
        let token = cli(binary, &env, &["token", "create", BENCH_USER], None)?.trim().to_owned();
        ensure!(!token.is_empty(), "`causerie token create` printed no token");
        let log = std::fs::File::create(dir.join("server.log"))?;
        let child = Command::new(binary)
            .arg("serve")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let url = Url::parse(&format!("http://127.0.0.1:{port}/"))?;
        let mut server = Self { child, dir, url, token };
        server.wait_ready().await?;
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let started = Instant::now();
        let mut client = Client::new(&self.url, Duration::from_secs(2));
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the server exited with {status} before it was ready; log:\n{}", self.log_tail());
            }
            if matches!(client.request("GET", "/readyz", &[], b"").await, Ok(r) if r.status == 200) {
                return Ok(());
            }
            ensure!(
                started.elapsed() < READY_TIMEOUT,
                "the server was not ready within {READY_TIMEOUT:?}; log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM, a few seconds' grace, then SIGKILL.
    fn stop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: signalling our own child process.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn server_env(dir: &Path, port: u16, extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("CAUSERIE_BIND", format!("127.0.0.1:{port}")),
        ("CAUSERIE_DATABASE_URL", format!("sqlite://{}", dir.join("causerie.db").display())),
        ("CAUSERIE_UPLOADS_DIR", dir.join("uploads").display().to_string()),
        ("CAUSERIE_RATE_LIMIT_PER_MINUTE", "0".into()),
        ("CAUSERIE_LOG_LEVEL", "warn".into()),
        ("CAUSERIE_ADMIN_PASSWORD", format!("admin-{}", crate::stats::wall_micros())),
        ("CAUSERIE_SHUTDOWN_TIMEOUT_SECONDS", "1".into()),
        // Every subscriber is the one bench user.
        ("CAUSERIE_STREAMS_PER_USER", "1000000".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (key, value) in extra {
        env.retain(|(k, _)| k != key);
        env.push((key.clone(), value.clone()));
    }
    env
}

/// Runs a causerie CLI command; returns its standard output.
fn cli(binary: &Path, env: &[(String, String)], args: &[&str], stdin: Option<&str>) -> Result<String> {
    let mut child = Command::new(binary)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {} {}", binary.display(), args.join(" ")))?;
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(stdin.unwrap_or_default().as_bytes())?;
    }
    let output = child.wait_with_output()?;
    ensure!(
        output.status.success(),
        "`causerie {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}
