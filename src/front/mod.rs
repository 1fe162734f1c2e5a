//! The listener's front door. Every new connection is looked at before actix-web sees it:
//! a fresh connection whose first request opens the event stream is served by
//! [`stream`], a lean HTTP/1.1 writer that keeps a few hundred bytes per subscriber;
//! everything else, and anything the lean path is unsure of, goes to actix-web untouched.
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

use crate::metrics::Metrics;
use crate::startup::AppState;

/// What the lean stream path needs on every worker.
pub struct Front {
    pub state: actix_web::web::Data<AppState>,
    pub metrics: actix_web::web::Data<Metrics>,
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
    let settings = front.state.settings.clone();
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
async fn connection<S>(io: TcpStream, http: &S, front: &Front)
where
    S: Service<TcpStream, Response = ()>,
{
    // Each phase is boxed and freed when it ends: a task keeps the size of its largest
    // state for its whole life, and an open stream should not carry the futures that
    // authenticated it, nor actix-web's dispatcher.
    if let Some((request, subscriber)) = Box::pin(stream::open(&io, front)).await {
        Box::pin(stream::serve(io, request, subscriber, front)).await;
        return;
    }
    // Errors are the connection's own (a reset, a timeout); actix-web has answered what
    // could be answered.
    let _ = Box::pin(http.call(io)).await;
}
