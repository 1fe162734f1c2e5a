//! The use cases: every rule of the chat, one file per resource. Each use case checks who
//! may do it, does its work in one transaction (on the writer thread when it writes),
//! records typed events in that transaction, and returns domain values. The HTTP handlers,
//! the lean stream path, the command line and the demo seed all come through here; nothing
//! here knows HTTP.

pub mod access;
pub mod attachments;
pub mod cluster;
pub mod members;
pub mod messages;
pub mod pins;
pub mod presence;
pub mod reactions;
pub mod reads;
pub mod rooms;
pub mod search;
pub mod sessions;
pub mod streams;
pub mod users;
pub mod views;

pub use crate::domain::Actor;

use std::sync::Arc;
use std::time::Duration;

use crate::auth::budget::ActionBudget;
use crate::auth::cache::AuthCache;
use crate::auth::limits::Limits;
use crate::auth::password::Verifier;
use crate::auth::proxies::TrustedProxies;
use crate::auth::shared::SharedLimits;
use crate::broker::tail::Tail;
use crate::broker::{Event, Hub, Notice, Outbox, Presence, StreamLimits};
use crate::config::Settings;
use crate::domain::views::Member;
use crate::domain::{PassingEvent, RoomEvent};
use crate::error::{ApiError, ApiResult};
use crate::store::models::NewEvent;
use crate::store::{events, Backend, Db, DbConn};
use crate::uploads::ImageBudget;

/// What the use cases work with: the settings, the database, the hub that fans events out,
/// the rate limits and the signed-in cache.
#[derive(Clone)]
pub struct Chat {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub hub: Arc<Hub>,
    pub limits: Arc<Limits>,
    /// The per-user budget of changes other than messages and typing.
    pub actions: Arc<ActionBudget>,
    /// The per-user budget of searches.
    pub searches: Arc<ActionBudget>,
    /// Who is signed in, remembered for a while without asking the database.
    pub auth_cache: Arc<AuthCache>,
    /// The memory that image work may use at once.
    pub images: Arc<ImageBudget>,
    /// Checks login passwords, a bounded number at a time, off the database's connections.
    pub verifier: Arc<Verifier>,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// On PostgreSQL, what brings the other nodes' events in order (see `broker::tail`);
    /// none on SQLite, which serves one node.
    pub tail: Option<Arc<Tail>>,
    /// This process among the nodes sharing the database, for the notices it sends.
    pub node: u64,
    /// Limits shared with the other nodes through Redis, when configured.
    pub shared: Option<Arc<SharedLimits>>,
    /// The event-log read that fills a stream's gaps, shared by every stream.
    pub stream_catch_up: crate::broker::CatchUp,
}

impl Chat {
    pub fn new(settings: Arc<Settings>, db: Db) -> Self {
        let hub = Hub::with_presence(
            settings.channel_capacity,
            StreamLimits::of(&settings),
            Presence::new(settings.presence_grace()),
        );
        let tail = (db.backend() == Backend::Postgres).then(|| Tail::new(hub.clone(), db.clone()));
        Self {
            limits: Arc::new(Limits::new(
                settings.rate_limit_per_minute,
                settings.typing_per_minute,
                settings.login_attempts_per_minute,
                settings.login_attempts_per_address_per_minute,
            )),
            actions: Arc::new(ActionBudget::new(settings.actions_per_minute)),
            searches: Arc::new(ActionBudget::new(settings.search_per_minute)),
            hub,
            tail,
            node: rand::random(),
            shared: settings.redis_url.as_deref().and_then(|url| {
                SharedLimits::new(
                    url,
                    &settings.redis_key_prefix,
                    settings.rate_limit_per_minute,
                    settings.login_attempts_per_minute,
                    settings.login_attempts_per_address_per_minute,
                )
                .map_err(|error| tracing::warn!(%error, "redis_url is not usable; limits stay local"))
                .ok()
                .map(Arc::new)
            }),
            images: Arc::new(ImageBudget::new(settings.image_memory_mib)),
            verifier: Arc::new(Verifier::per_core()),
            trusted_proxies: settings.trusted_proxy_list(),
            auth_cache: Arc::new(AuthCache::new(Duration::from_secs(settings.auth_cache_seconds))),
            stream_catch_up: streams::catch_up(db.clone()),
            settings,
            db,
        }
    }

    /// Runs `f` on a pooled connection, off the reactor: for reads.
    pub async fn read<T, F>(&self, f: F) -> ApiResult<T>
    where
        F: FnOnce(&mut DbConn) -> ApiResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.db.run(f).await
    }

    /// Runs `f` in one transaction on the writer thread, then publishes the events it
    /// recorded, in commit order.
    pub async fn commit<T, F>(&self, f: F) -> ApiResult<T>
    where
        F: FnOnce(&mut Tx<'_>) -> ApiResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.commit_then(f, |_| {}).await
    }

    /// Like `commit`; `after_commit` runs on the writer thread once the transaction has
    /// committed, whether or not the caller is still waiting (a client may hang up).
    pub async fn commit_then<T, F, A>(&self, f: F, after_commit: A) -> ApiResult<T>
    where
        F: FnOnce(&mut Tx<'_>) -> ApiResult<T> + Send + 'static,
        A: FnOnce(&mut T) + Send + 'static,
        T: Send + 'static,
    {
        let (hub, tail, node) = (self.hub.clone(), self.tail.clone(), self.node);
        let presence = self.hub.presence.clone();
        let (value, _) = self
            .db
            .write(
                move |conn| {
                    let mut tx = Tx { conn, outbox: Outbox::default(), presence, node };
                    let value = f(&mut tx)?;
                    Ok::<_, ApiError>((value, tx.outbox))
                },
                move |(value, outbox): &mut (T, Outbox)| {
                    after_commit(value);
                    match &tail {
                        Some(tail) => tail.committed(outbox.take()),
                        None => hub.publish(outbox.take()),
                    }
                },
            )
            .await?;
        Ok(value)
    }

    /// Fills in which of these members are online.
    pub fn with_presence(&self, mut members: Vec<Member>) -> Vec<Member> {
        for member in &mut members {
            member.online = self.hub.presence.is_online(member.user_id.get());
        }
        members
    }

    pub fn member_with_presence(&self, mut member: Member) -> Member {
        member.online = self.hub.presence.is_online(member.user_id.get());
        member
    }

    /// Sends an event that is never stored to the room's open streams, on every node.
    pub fn pass_on(&self, event: PassingEvent) {
        let PassingEvent::Typing(data) = &event;
        let (room_id, kind) = (event.room_id().get(), event.kind().as_str());
        self.hub.publish_ephemeral(Event::ephemeral(room_id, kind, data));
        if self.tail.is_some() {
            if let Ok(data) = serde_json::to_value(data) {
                self.tell_all_nodes(cluster::NodeNotice::Passing { room_id, kind: kind.to_owned(), data });
            }
        }
    }
}

/// One write transaction: its connection, and what to publish once it has committed.
/// Derefs to the connection, so store functions take it as they are.
pub struct Tx<'a> {
    conn: &'a mut DbConn,
    outbox: Outbox,
    presence: Arc<Presence>,
    /// The node committing (see `cluster`).
    node: u64,
}

impl Tx<'_> {
    /// Appends the event to the log; it is published after commit. Returns its id.
    pub fn record(&mut self, mut event: RoomEvent) -> ApiResult<i64> {
        if let RoomEvent::MemberJoined(c) | RoomEvent::MemberUpdated(c) | RoomEvent::MemberLeft(c) = &mut event {
            c.member.online = self.presence.is_online(c.member.user_id.get());
        }
        let payload = event.payload().map_err(ApiError::internal)?;
        let room_id = event.room_id();
        let new = NewEvent {
            room_id,
            kind: event.kind(),
            payload: &payload,
            target_user_id: event.addressee(),
            message_id: event.message_id(),
        };
        let id = events::insert(self.conn, &new)?;
        self.outbox.push(Notice::Event(Arc::new(Event::stored(id, room_id.get(), event.kind().as_str(), &payload))));
        Ok(id)
    }

    /// Tells the hub something about one user's open streams, after commit.
    pub fn notify(&mut self, notice: Notice) {
        self.outbox.push(notice);
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = DbConn;

    fn deref(&self) -> &DbConn {
        self.conn
    }
}

impl std::ops::DerefMut for Tx<'_> {
    fn deref_mut(&mut self) -> &mut DbConn {
        self.conn
    }
}
