//! One typed `Settings`, read from defaults, an optional TOML file, `CAUSERIE_*`
//! environment variables and command-line flags (later ones win), validated at start.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::auth::proxies::TrustedProxies;
use crate::domain::Permission;
use crate::store::{DatabaseUrl, Db};

/// Every setting; the environment variable is `CAUSERIE_` + the upper-case name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Address to listen on.
    pub bind: String,
    /// `sqlite://PATH` (default) or `postgres://…`.
    pub database_url: String,
    /// Where attachments are stored.
    pub uploads_dir: PathBuf,
    /// Serve the web client from this folder instead of the copy built into the binary
    /// (for working on the client).
    pub web_dir: Option<PathBuf>,
    /// The server's public URL (`https://chat.example.com`), used for the CSRF origin check.
    pub public_url: Option<String>,
    /// Mark the session cookie `Secure` (behind HTTPS).
    pub secure_cookies: bool,
    /// Password of the `admin` account created on first start.
    pub admin_password: Option<String>,
    /// Permissions of new users, comma-separated.
    pub default_permissions: String,
    /// Messages per user per minute (0 = off).
    pub rate_limit_per_minute: u32,
    /// Other changes per user per minute: edits, deletes, read marks, joins and leaves,
    /// member and room changes, tokens, accounts (0 = off).
    pub actions_per_minute: u32,
    /// Message searches per user per minute (0 = off).
    pub search_per_minute: u32,
    /// Failed logins per client address and username per minute before 429.
    pub login_attempts_per_minute: u32,
    /// Failed logins per client address per minute, whatever the usernames, before 429.
    pub login_attempts_per_address_per_minute: u32,
    /// Reverse proxies (comma-separated IPs or CIDRs) whose `X-Forwarded-For` names the
    /// client; empty trusts none.
    pub trusted_proxies: String,
    /// Typing notices per user per minute.
    pub typing_per_minute: u32,
    /// `redis://HOST[:PORT][/DB]` (optional): message limits and login lockouts shared by
    /// every node; when Redis does not answer, each node counts on its own.
    pub redis_url: Option<String>,
    /// What the keys of this deployment start with in Redis (several deployments may share
    /// one Redis; the nodes of one deployment must agree).
    pub redis_key_prefix: String,
    pub db_pool_size: u32,
    pub session_days: u32,
    /// How long a session or token is remembered without asking the database (0 = never).
    /// Changes made through the API apply at once; the CLI's within this time.
    pub auth_cache_seconds: u64,
    /// Largest JSON body, in bytes.
    pub max_json_bytes: usize,
    /// Largest attachment, in bytes.
    pub max_file_bytes: u64,
    pub max_files_per_message: usize,
    /// Largest multipart request, in bytes.
    pub max_upload_bytes: u64,
    /// Largest decoded image, in pixels (width x height).
    pub max_image_pixels: u64,
    /// Memory that image decoding and resizing may use at once, all uploads together, in
    /// MiB. Each image reserves what its header says it will need; uploads wait their turn
    /// for a while, then get 503.
    pub image_memory_mib: u64,
    pub sse_ping_seconds: u64,
    pub sse_retry_ms: u64,
    /// How long a user stays online after their last stream closes, in milliseconds, so
    /// that a reconnect does not flap.
    pub presence_grace_ms: u64,
    /// Events buffered per room channel before a slow stream catches up from the database.
    pub channel_capacity: usize,
    /// Event streams one user may have open at once; the next one gets 429.
    pub streams_per_user: usize,
    /// Event streams open at once on the server; the next one gets 503 (0 = derived from
    /// the open-file limit, leaving descriptors for other requests).
    pub max_streams: usize,
    /// How long events are kept for resuming streams.
    pub event_retention_hours: u64,
    /// `human` or `json`.
    pub log_format: String,
    /// A tracing filter, e.g. `info` or `causerie=debug`.
    pub log_level: String,
    /// `/metrics` only from loopback addresses.
    pub metrics_loopback_only: bool,
    /// When set, `/metrics` wants `Authorization: Bearer <token>`.
    pub metrics_token: Option<String>,
    /// Seconds that open requests get to finish on shutdown.
    pub shutdown_timeout_seconds: u64,
    /// HTTP worker threads (0 = one per core).
    pub workers: usize,
    /// Threads that write the event streams (0 = half the cores, at least one).
    pub stream_threads: usize,
    /// Seed demo users, rooms and messages.
    pub demo: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            database_url: "sqlite://causerie.db".into(),
            uploads_dir: "uploads".into(),
            web_dir: None,
            public_url: None,
            secure_cookies: false,
            admin_password: None,
            default_permissions: "chat.read,chat.create,chat.update,chat.delete".into(),
            rate_limit_per_minute: 600,
            actions_per_minute: 600,
            search_per_minute: 120,
            login_attempts_per_minute: 10,
            login_attempts_per_address_per_minute: 30,
            trusted_proxies: String::new(),
            typing_per_minute: 60,
            redis_url: None,
            redis_key_prefix: "causerie".into(),
            db_pool_size: 8,
            session_days: 30,
            auth_cache_seconds: 10,
            max_json_bytes: 256 * 1024,
            max_file_bytes: 25 * 1024 * 1024,
            max_files_per_message: 10,
            max_upload_bytes: 100 * 1024 * 1024,
            max_image_pixels: 50_000_000,
            image_memory_mib: 512,
            sse_ping_seconds: 15,
            sse_retry_ms: 3000,
            presence_grace_ms: 20_000,
            channel_capacity: 1024,
            streams_per_user: 32,
            max_streams: 0,
            event_retention_hours: 24 * 7,
            log_format: "human".into(),
            log_level: "info".into(),
            metrics_loopback_only: true,
            metrics_token: None,
            shutdown_timeout_seconds: 10,
            workers: 0,
            stream_threads: 0,
            demo: false,
        }
    }
}

/// Names of the settings, as they appear in the file and (upper-cased) in the environment:
/// the fields of `Settings`, read from the struct itself so that no list can fall behind it.
/// Serde writes every field, `None` ones as `null`.
fn keys() -> Vec<String> {
    match serde_json::to_value(Settings::default()) {
        Ok(serde_json::Value::Object(fields)) => fields.into_iter().map(|(key, _)| key).collect(),
        // A struct of strings, numbers, paths and flags always serializes as an object.
        _ => Vec::new(),
    }
}

/// What the command line sets; `None` leaves the file and environment in charge.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uploads_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub demo: Option<bool>,
}

impl Settings {
    /// Reads the settings. `config_file` comes from `--config` or `CAUSERIE_CONFIG`.
    pub fn load(config_file: Option<PathBuf>, overrides: &Overrides) -> Result<Self, String> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = &config_file {
            if !path.is_file() {
                return Err(format!("config file {} does not exist ({})", path.display(), where_set("config")));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let keys = keys();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        figment = figment.merge(Env::prefixed("CAUSERIE_").only(&keys)).merge(Serialized::defaults(overrides));
        let settings: Settings = figment.extract().map_err(describe)?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), String> {
        let fail = |key: &str, why: String| Err(format!("invalid setting {key} ({}): {why}", where_set(key)));
        if self.bind.to_socket_addrs().map(|mut a| a.next().is_none()).unwrap_or(true) {
            return fail("bind", format!("expected HOST:PORT, got {:?}", self.bind));
        }
        if let Err(why) = DatabaseUrl::parse(&self.database_url) {
            return fail("database_url", why);
        }
        if let Err(why) = Permission::parse_list(&self.default_permissions) {
            return fail("default_permissions", why.0);
        }
        if let Err(why) = tracing_subscriber::EnvFilter::try_new(&self.log_level) {
            return fail("log_level", format!("{why} in {:?} (e.g. info, or causerie=debug,info)", self.log_level));
        }
        if !matches!(self.log_format.as_str(), "human" | "json") {
            return fail("log_format", format!("expected human or json, got {:?}", self.log_format));
        }
        if let Some(dir) = &self.web_dir {
            if !dir.is_dir() {
                return fail("web_dir", format!("{} is not a folder", dir.display()));
            }
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return fail("public_url", format!("expected http(s)://HOST[:PORT], got {url:?}"));
            }
        }
        if let Some(url) = &self.redis_url {
            if let Err(why) = redis::Client::open(url.as_str()) {
                return fail("redis_url", format!("expected redis://HOST[:PORT][/DB]: {why}"));
            }
        }
        if let Err(why) = TrustedProxies::parse(&self.trusted_proxies) {
            return fail("trusted_proxies", why);
        }
        let positive = [
            ("db_pool_size", self.db_pool_size as u64),
            ("session_days", self.session_days as u64),
            ("max_json_bytes", self.max_json_bytes as u64),
            ("max_file_bytes", self.max_file_bytes),
            ("max_files_per_message", self.max_files_per_message as u64),
            ("max_upload_bytes", self.max_upload_bytes),
            ("max_image_pixels", self.max_image_pixels),
            ("image_memory_mib", self.image_memory_mib),
            ("streams_per_user", self.streams_per_user as u64),
            ("sse_ping_seconds", self.sse_ping_seconds),
            ("presence_grace_ms", self.presence_grace_ms),
            ("channel_capacity", self.channel_capacity as u64),
            ("event_retention_hours", self.event_retention_hours),
            ("typing_per_minute", self.typing_per_minute as u64),
            ("login_attempts_per_minute", self.login_attempts_per_minute as u64),
            ("login_attempts_per_address_per_minute", self.login_attempts_per_address_per_minute as u64),
        ];
        for (key, value) in positive {
            if value == 0 {
                return fail(key, "must be greater than 0".into());
            }
        }
        Ok(())
    }

    pub fn database(&self) -> DatabaseUrl {
        // Validated in `load`; a default keeps hand-built settings (tests) usable.
        DatabaseUrl::parse(&self.database_url)
            .unwrap_or(DatabaseUrl { backend: crate::store::Backend::Sqlite, target: "causerie.db".into() })
    }

    /// Connects the configured database (migrating it); a failure names the setting.
    pub fn open_database(&self, pool_size: u32) -> anyhow::Result<Db> {
        Db::connect(&self.database(), pool_size).map_err(|e| anyhow::anyhow!("{e} ({})", where_set("database_url")))
    }

    /// The proxies whose `X-Forwarded-For` is believed (validated in `load`).
    pub fn trusted_proxy_list(&self) -> TrustedProxies {
        TrustedProxies::parse(&self.trusted_proxies).unwrap_or_default()
    }

    pub fn default_permission_list(&self) -> Vec<Permission> {
        Permission::parse_list(&self.default_permissions).unwrap_or_default()
    }

    pub fn bind_addr(&self) -> Option<SocketAddr> {
        self.bind.to_socket_addrs().ok()?.next()
    }

    pub fn presence_grace(&self) -> Duration {
        Duration::from_millis(self.presence_grace_ms)
    }

    pub fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.sse_ping_seconds)
    }

    /// How many streams may be open at once: `max_streams`, or, when it is 0, the open-file
    /// limit less what other requests, the database and the listener need.
    pub fn stream_limit(&self) -> usize {
        if self.max_streams > 0 {
            return self.max_streams;
        }
        streams_for_open_files(open_file_limit())
    }
}

/// Descriptors kept for everything but streams: API requests, database connections, files
/// being uploaded or served, the listener.
const RESERVED_DESCRIPTORS: u64 = 256;

/// Streams that fit a process allowed `limit` open files: all but the reserve, and never
/// more than half of a small limit.
fn streams_for_open_files(limit: u64) -> usize {
    let streams = limit.saturating_sub(RESERVED_DESCRIPTORS).max(limit / 2).max(1);
    usize::try_from(streams).unwrap_or(usize::MAX)
}

/// The soft `RLIMIT_NOFILE` of this process (1024, the usual default, when it cannot be read).
fn open_file_limit() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the struct we own and reads nothing else.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if read != 0 {
        return 1024;
    }
    // Unlimited reads as the largest value, which `streams_for_open_files` takes as it is.
    limit.rlim_cur
}

/// Where a setting can be given: its variable, and its flag where it has one.
pub fn where_set(key: &str) -> String {
    let flag = match key {
        "bind" => " or --bind",
        "database_url" => " or --database",
        "uploads_dir" => " or --uploads",
        "config" => " or --config",
        _ => "",
    };
    format!("CAUSERIE_{}{flag}", key.to_uppercase())
}

/// One line naming the setting, whatever figment found wrong.
fn describe(error: figment::Error) -> String {
    let key = error.path.join(".");
    let source = match &error.metadata {
        Some(meta) if meta.name.contains("environment") => format!(" (CAUSERIE_{})", key.to_uppercase()),
        Some(meta) => {
            format!(" (from {})", meta.source.as_ref().map(|s| s.to_string()).unwrap_or(meta.name.to_string()))
        }
        None => String::new(),
    };
    let what = one_line(&error.kind.to_string());
    if key.is_empty() {
        format!("invalid settings{source}: {what}")
    } else {
        format!("invalid setting {key}{source}: {what}")
    }
}

/// A parser's report on one line: TOML's spans several, with the offending text drawn
/// under a `|` margin; the lines without one say what and where.
fn one_line(text: &str) -> String {
    let parts: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.contains('|')).collect();
    if parts.is_empty() {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
// `Jail` takes closures that return figment's own error, a large one.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn a_database_that_cannot_be_opened_is_named_with_its_setting() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the database's folder should be.
        let blocker = dir.path().join("not-a-folder");
        std::fs::write(&blocker, b"").unwrap();
        let settings =
            Settings { database_url: format!("sqlite://{}/chat.db", blocker.display()), ..Settings::default() };
        let error = settings.open_database(1).err().expect("no database there").to_string();
        assert!(error.contains("CAUSERIE_DATABASE_URL") && error.contains("not-a-folder"), "{error}");
        assert!(!error.contains('\n'), "{error}");
    }

    // Every test that loads settings runs in a `Jail`: one at a time, so that the variables
    // one of them sets are not read by another.

    #[test]
    fn a_config_file_that_does_not_parse_is_named_on_one_line() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("causerie.toml", "bind = \n")?;
            let path = jail.directory().join("causerie.toml");
            let error = Settings::load(Some(path), &Overrides::default()).unwrap_err();
            assert!(!error.contains('\n'), "{error}");
            // figment shows the path relative to the working folder when it can.
            assert!(error.contains("causerie.toml"), "{error}");
            assert!(error.contains("line 1"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn the_stream_limit_leaves_descriptors_for_other_requests() {
        assert_eq!(streams_for_open_files(1024), 768);
        assert_eq!(streams_for_open_files(65_536), 65_280);
        assert_eq!(streams_for_open_files(128), 64);
        assert_eq!(streams_for_open_files(0), 1);
        let s = Settings { max_streams: 10, ..Settings::default() };
        assert_eq!(s.stream_limit(), 10);
        assert!(Settings::default().stream_limit() >= 1);
    }

    #[test]
    fn defaults_are_valid() {
        let s = Settings::default();
        assert!(s.validate().is_ok());
        assert_eq!(s.default_permission_list().len(), 4);
        // Strangers read no metrics and no proxy is believed unless the operator says so.
        assert!(s.metrics_loopback_only);
        assert_eq!(s.trusted_proxy_list(), TrustedProxies::default());
    }

    #[test]
    fn bad_values_name_the_setting() {
        let s = Settings { log_format: "xml".into(), ..Settings::default() };
        assert!(s.validate().unwrap_err().contains("log_format"));
        let s = Settings { database_url: "mysql://x".into(), ..Settings::default() };
        assert!(s.validate().unwrap_err().contains("CAUSERIE_DATABASE_URL"));
        let s = Settings { default_permissions: "chat.fly".into(), ..Settings::default() };
        assert!(s.validate().unwrap_err().contains("default_permissions"));
        let s = Settings { web_dir: Some("/no/such/folder".into()), ..Settings::default() };
        assert!(s.validate().unwrap_err().contains("CAUSERIE_WEB_DIR"));
        let s = Settings { log_level: "[[[".into(), ..Settings::default() };
        assert!(s.validate().unwrap_err().contains("CAUSERIE_LOG_LEVEL"));
        let s = Settings { trusted_proxies: "10.0.0.0/8, proxy.local".into(), ..Settings::default() };
        assert!(s.validate().unwrap_err().contains("CAUSERIE_TRUSTED_PROXIES"));
        let s = Settings { bind: "nonsense".into(), ..Settings::default() };
        assert!(s.validate().unwrap_err().contains("(CAUSERIE_BIND or --bind)"));
    }

    #[test]
    fn files_and_overrides_layer() {
        figment::Jail::expect_with(|jail| {
            let path = jail.directory().join("c.toml");
            jail.create_file("c.toml", "bind = \"127.0.0.1:9999\"\nrate_limit_per_minute = 5\n")?;
            let overrides = Overrides { bind: Some("127.0.0.1:7777".into()), ..Overrides::default() };
            let s = Settings::load(Some(path.clone()), &overrides)?;
            assert_eq!(s.bind, "127.0.0.1:7777");
            assert_eq!(s.rate_limit_per_minute, 5);
            jail.create_file("c.toml", "rate_limit_per_minute = \"lots\"\n")?;
            let err = Settings::load(Some(path.clone()), &Overrides::default()).unwrap_err();
            assert!(err.contains("rate_limit_per_minute"), "{err}");
            jail.create_file("c.toml", "colour = 1\n")?;
            assert!(Settings::load(Some(path), &Overrides::default()).unwrap_err().contains("colour"));
            Ok(())
        });
    }

    #[test]
    fn the_environment_sets_any_setting_between_the_file_and_the_flags() {
        figment::Jail::expect_with(|jail| {
            let path = jail.directory().join("c.toml");
            jail.create_file("c.toml", "rate_limit_per_minute = 5\nbind = \"127.0.0.1:9999\"\n")?;
            jail.set_env("CAUSERIE_RATE_LIMIT_PER_MINUTE", 42);
            jail.set_env("CAUSERIE_BIND", "127.0.0.1:8888");
            // A setting whose default is `None` is read like any other.
            jail.set_env("CAUSERIE_METRICS_TOKEN", "s3cret");
            // Read by the command line, not a setting: passed over rather than refused as unknown.
            jail.set_env("CAUSERIE_CONFIG", "elsewhere.toml");
            let overrides = Overrides { bind: Some("127.0.0.1:7777".into()), ..Overrides::default() };
            let s = Settings::load(Some(path.clone()), &overrides)?;
            assert_eq!(s.rate_limit_per_minute, 42);
            assert_eq!(s.metrics_token.as_deref(), Some("s3cret"));
            assert_eq!(s.bind, "127.0.0.1:7777");

            jail.set_env("CAUSERIE_RATE_LIMIT_PER_MINUTE", "lots");
            let err = Settings::load(Some(path), &Overrides::default()).unwrap_err();
            assert!(err.contains("CAUSERIE_RATE_LIMIT_PER_MINUTE"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_keys_are_the_fields_of_settings() {
        let source = include_str!("config.rs");
        let start = source.find("pub struct Settings {").expect("struct Settings");
        let body = &source[start..];
        let body = &body[..body.find("\n}").expect("the end of struct Settings")];
        let mut fields: Vec<&str> = body
            .lines()
            .filter_map(|line| line.trim().strip_prefix("pub ")?.split_once(':'))
            .map(|(name, _)| name)
            .collect();
        fields.sort_unstable();
        let mut keys = keys();
        keys.sort_unstable();
        assert_eq!(keys, fields);
        // The trap of deriving them: fields that default to `None` count too.
        for key in ["web_dir", "public_url", "admin_password", "metrics_token"] {
            assert!(keys.iter().any(|k| k == key), "{key}");
        }
    }
}
