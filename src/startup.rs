//! Builds the application from `Settings` on any port; the tests start this very server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, Compress, DefaultHeaders, ErrorHandlers};
use actix_web::{web, App};

use crate::auth::accounts::{self, NewAccount};
use crate::auth::secret;
use crate::chat::Chat;
use crate::config::Settings;
use crate::front::Front;
use crate::metrics::{self, Metrics};
use crate::store::{events, now_micros, users, Db};

pub struct Application {
    port: u16,
    server: Server,
    chat: web::Data<Chat>,
}

impl Application {
    /// Connects the database (migrating it), creates the first admin if there is no
    /// user, seeds demo data when asked, and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let opening = settings.clone();
        let db = tokio::task::spawn_blocking(move || opening.open_database(opening.db_pool_size)).await??;
        let boot = (db.clone(), settings.clone());
        tokio::task::spawn_blocking(move || bootstrap(&boot.0, &boot.1)).await??;
        let chat = Chat::new(Arc::new(settings.clone()), db);
        if settings.demo {
            crate::demo::seed(&chat).await?;
        }
        let listener = listen(&settings.bind).map_err(|e| {
            anyhow::anyhow!("cannot listen on {} ({}): {e}", settings.bind, crate::config::where_set("bind"))
        })?;
        let port = listener.local_addr()?.port();
        let chat = web::Data::new(chat);
        chat.hub.keep_alive(chat.settings.ping_interval());
        crate::chat::presence::spawn_announcer(chat.get_ref().clone());
        join_the_cluster(&chat).await?;
        let server = serve(listener, chat.clone())?;
        spawn_housekeeping(chat.clone());
        Ok(Self { port, server, chat })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What every request reaches: the use cases' context.
    pub fn state(&self) -> web::Data<Chat> {
        self.chat.clone()
    }

    /// Serves until the server stops; SIGTERM or Ctrl-C ends the streams first, so that
    /// clients reconnect elsewhere, then lets open requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let hub = self.chat.hub.clone();
        let grace = Duration::from_secs(self.chat.settings.shutdown_timeout_seconds);
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            hub.shutdown();
            // Streams run on threads of their own, which the server's stop does not wait
            // for: let them write their end first.
            let deadline = tokio::time::Instant::now() + grace;
            while hub.subscriber_count() > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            handle.stop(true).await;
        });
        self.server.await
    }

    /// The server future alone (tests spawn it).
    pub fn into_server(self) -> Server {
        self.server
    }
}

/// Connections that may wait to be accepted. Load tests open thousands of streams at once;
/// std's default (128) makes the kernel drop the rest and the clients retry a second later.
const LISTEN_BACKLOG: u32 = 4096;

fn listen(bind: &str) -> std::io::Result<TcpListener> {
    use std::net::ToSocketAddrs;
    let addr = bind
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address"))?;
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)?.into_std()
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn serve(listener: TcpListener, chat: web::Data<Chat>) -> anyhow::Result<Server> {
    let metrics = web::Data::new(Metrics::new());
    let front = Arc::new(Front::new(chat.clone(), metrics.clone())?);
    let server = crate::front::serve(listener, front, move || {
        let app = App::new()
            .wrap(
                ErrorHandlers::new()
                    .handler(StatusCode::METHOD_NOT_ALLOWED, crate::api::respond::method_not_allowed)
                    .handler(StatusCode::RANGE_NOT_SATISFIABLE, crate::api::respond::range_not_satisfiable),
            )
            .wrap(from_fn(crate::api::respond::plain_when_small))
            .wrap(Compress::default())
            .wrap(from_fn(metrics::track))
            .app_data(chat.clone())
            .app_data(metrics.clone())
            .app_data(web::PayloadConfig::new(chat.settings.max_json_bytes))
            .configure(crate::api::configure);
        match &chat.settings.web_dir {
            Some(dir) => app.service(
                web::scope("")
                    .wrap(
                        DefaultHeaders::new()
                            .add((header::CONTENT_SECURITY_POLICY, crate::api::web_client::CONTENT_SECURITY_POLICY)),
                    )
                    .service(actix_files::Files::new("/", dir).index_file("index.html")),
            ),
            None => app.default_service(web::get().to(crate::api::web_client::asset)),
        }
    })?;
    Ok(server)
}

/// Creates `admin` when the database has no user: with `CAUSERIE_ADMIN_PASSWORD`, or a
/// random password written once to the log.
fn bootstrap(db: &Db, settings: &Settings) -> anyhow::Result<()> {
    let mut conn = db.get()?;
    if users::count(&mut conn)? > 0 {
        return Ok(());
    }
    let (password, generated) = match &settings.admin_password {
        Some(p) => (p.clone(), false),
        None => (secret::password(), true),
    };
    let account =
        NewAccount::parse("admin", &password, Some("Administrator"), true, crate::domain::Permission::ALL.to_vec())
            .map_err(|e| anyhow::anyhow!("invalid setting admin_password (CAUSERIE_ADMIN_PASSWORD): {e}"))?;
    accounts::create(&mut conn, &account).map_err(|e| anyhow::anyhow!("creating the admin account: {e:?}"))?;
    if generated {
        tracing::warn!(username = "admin", password = %password, "created the first account; change its password");
    } else {
        tracing::info!(username = "admin", "created the first account");
    }
    Ok(())
}

/// On PostgreSQL: publishes in id order from the newest event committed so far, then
/// follows the events and notices of the other nodes (`broker::tail`).
async fn join_the_cluster(chat: &web::Data<Chat>) -> anyhow::Result<()> {
    let Some(tail) = chat.tail.clone() else { return Ok(()) };
    tail.anchor().await?;
    let receiver = chat.clone();
    tail.start(chat.settings.database().target, Arc::new(move |notice: &str| receiver.on_node_notice(notice)));
    crate::chat::presence::spawn_cluster_presence(chat.get_ref().clone());
    Ok(())
}

/// Every minute: forget rate-limit keys whose window has passed. Hourly: drop events past
/// retention (streams resuming from before get `reset`).
fn spawn_housekeeping(chat: web::Data<Chat>) {
    let limits = chat.limits.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            limits.forget_stale();
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            chat.actions.forget_idle();
            chat.searches.forget_idle();
            let retention = chat.settings.event_retention_hours as i64 * 3600 * 1_000_000;
            let db = chat.db.clone();
            let result = db
                .run(move |conn| events::prune(conn, now_micros() - retention).map_err(crate::error::ApiError::from))
                .await;
            match result {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "pruned old events"),
                Err(error) => tracing::warn!(?error, "pruning events failed"),
            }
        }
    });
}
