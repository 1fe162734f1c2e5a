//! The listener's front door. Every new connection is looked at before actix-web sees it:
//! a fresh connection whose first request opens the event stream is handed to the stream
//! threads and served by [`stream`], a lean HTTP/1.1 writer that keeps per subscriber only
//! what serving it needs; everything else, and every refusal, goes to actix-web untouched.
//!
//! Streams are most of a chat server's connections and nearly all of its writes. Through
//! actix-web each one keeps an 8 KiB read and an 8 KiB write buffer for its whole life and
//! copies every event into the latter; here an event's shared bytes go straight to
//! `writev(2)`.

mod stream;

use std::net::TcpListener;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_http::HttpService;
use actix_server::Server;
use actix_service::{
    fn_factory, fn_service, map_config, IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt,
};
use actix_web::dev::{AppConfig, ServiceRequest, ServiceResponse};
use actix_web::{App, Error};
use tokio::net::TcpStream;

use crate::chat::Chat;
use crate::metrics::{Metrics, OpenConnection};

/// What the lean stream path needs, on the workers and on the stream threads.
pub struct Front {
    pub chat: actix_web::web::Data<Chat>,
    pub metrics: actix_web::web::Data<Metrics>,
    streams: StreamThreads,
}

impl Front {
    pub fn new(chat: actix_web::web::Data<Chat>, metrics: actix_web::web::Data<Metrics>) -> std::io::Result<Self> {
        let threads = match chat.settings.stream_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get() / 2).max(1),
            n => n,
        };
        Ok(Self { streams: StreamThreads::start(threads)?, chat, metrics })
    }
}

type Job = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Threads that run the lean streams, apart from actix-web's workers. A message's fan-out
/// wakes thousands of stream tasks at once; on the workers, a request that arrived
/// meanwhile (the next message to publish) waited behind all of them. Here the kernel
/// shares the cores between the two kinds of work, publishing keeps its pace, and streams
/// that fall behind find several events ready and write them at once.
///
/// Half as many threads as cores by default (`stream_threads`): a stream's work is nearly
/// all `writev(2)`, and on two cores a second stream thread costs more in waking, stealing
/// and moving tasks between cores than its parallel writes save (see benches/README.md).
///
/// One multi-threaded runtime rather than a single-threaded one per thread: the publisher
/// wakes every subscriber of a room from the writer thread, and a single-threaded runtime
/// signals its thread (a write to its eventfd) for each task woken from outside, where
/// this one signals a parked thread only when none is already awake.
struct StreamThreads {
    runtime: Option<tokio::runtime::Runtime>,
}

impl StreamThreads {
    fn start(threads: usize) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("causerie-streams")
            .enable_all()
            .build()?;
        Ok(Self { runtime: Some(runtime) })
    }

    fn run(&self, job: Job) {
        // `None` only inside `drop`, where nothing can call this.
        if let Some(runtime) = &self.runtime {
            runtime.spawn(job);
        }
    }
}

impl Drop for StreamThreads {
    /// The server stopped: open streams go with the runtime, without waiting for them
    /// (this may run on an async worker, where waiting is not allowed).
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Serves `listener` with the app that `app` builds (once per worker), routing fresh
/// stream connections to the lean path.
pub fn serve<F, T, B>(listener: TcpListener, front: Arc<Front>, app: F) -> std::io::Result<Server>
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: ServiceFactory<ServiceRequest, Config = (), Response = ServiceResponse<B>, Error = Error, InitError = ()>
        + 'static,
    B: actix_web::body::MessageBody + 'static,
{
    let settings = front.chat.settings.clone();
    let addr = listener.local_addr()?;
    let mut builder = Server::build().disable_signals().shutdown_timeout(settings.shutdown_timeout_seconds);
    if settings.workers > 0 {
        builder = builder.workers(settings.workers);
    }
    let shutdown = builder.graceful_shutdown_signal();
    let builder = builder.listen("causerie", listener, move || {
        let shutdown = shutdown.clone();
        // The same HTTP settings actix-web's own server uses.
        let http = HttpService::build()
            .graceful_shutdown_signal(move || {
                let signal = shutdown.clone();
                async move { signal.notified().await }
            })
            .client_request_timeout(Duration::from_secs(5))
            .client_disconnect_timeout(Duration::from_secs(1))
            .local_addr(addr)
            // The app reads the host from the `Host` header; the config's is a fallback only.
            .finish(map_config(app().into_factory().map_err(|err: Error| err.error_response()), |_| {
                AppConfig::default()
            }))
            .tcp();
        let front = front.clone();
        fn_factory(move || {
            let init = http.new_service(());
            let front = front.clone();
            async move {
                let http = Rc::new(init.await?);
                Ok::<_, ()>(fn_service(move |io: TcpStream| {
                    let (http, front) = (http.clone(), front.clone());
                    async move {
                        connection(io, &*http, &front).await;
                        Ok::<_, ()>(())
                    }
                }))
            }
        })
    })?;
    Ok(builder.run())
}

/// One accepted connection, served to its end.
async fn connection<S>(io: TcpStream, http: &S, front: &Arc<Front>)
where
    S: Service<TcpStream, Response = ()>,
{
    let open = front.metrics.connection_opened();
    // Each phase is boxed and freed when it ends: a task keeps the size of its largest
    // state for its whole life.
    match Box::pin(stream::peek_request(&io)).await {
        stream::Peeked::Stream(request) => {
            if let Some(subscriber) = Box::pin(stream::accept(front, &request)).await {
                hand_over(io, open, request.opened(), subscriber, front);
                return;
            }
        }
        stream::Peeked::Other => {}
        // Answered here: actix-web would start the client's time again.
        stream::Peeked::TimedOut => return stream::time_out(io),
        stream::Peeked::Gone => return,
    }
    // Errors are the connection's own (a reset, a timeout); actix-web has answered what
    // could be answered, a refused stream request included.
    let _ = Box::pin(http.call(io)).await;
    drop(open);
}

/// Moves an accepted stream (authenticated and subscribed here, on the worker that peeked
/// at it) to the stream threads, which serve it to its end, counted as open until then.
/// Nothing comes back: the worker is not woken again for this connection.
fn hand_over(
    io: TcpStream,
    open: OpenConnection,
    opened: stream::Opened,
    subscriber: crate::broker::Subscriber,
    front: &Arc<Front>,
) {
    let Ok(std_io) = io.into_std() else { return };
    let job_front = front.clone();
    // What the job captures it keeps room for as long as it runs (only what serving needs of
    // the request comes in): the subscriber comes in boxed, and the box is emptied into the
    // serving state and freed at once.
    let subscriber = Box::new(subscriber);
    let job: Job = Box::pin(async move {
        let Ok(io) = TcpStream::from_std(std_io) else { return };
        let mut serving = stream::Serving { io, request: opened, subscriber: *subscriber };
        stream::serve(&mut serving, &job_front).await;
        drop(serving);
        drop(open);
    });
    front.streams.run(job);
}
