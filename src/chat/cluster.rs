//! Several nodes on one PostgreSQL database: the notices that are never stored (typing,
//! revocations) and how a node acts on those sent by the others.
//!
//! Stored events reach the other nodes through the log itself (`broker::tail`). What is not
//! stored rides the second channel as small JSON, tagged with the sending node so that it
//! does not act twice on its own: [`Chat::tell_all_nodes`] for what may be lost (typing), and
//! [`ring`] inside a database call for revocations, which PostgreSQL then delivers with the
//! change itself (at commit). On SQLite there is one node and nothing is sent.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Chat, Tx};
use crate::broker::{Event, Notice};
use crate::domain::{EventKind, UserId};
use crate::error::{ApiError, ApiResult};
use crate::store::events::{self, NOTICES_CHANNEL};
use crate::store::DbConn;

/// What one node tells the others. A new kind of notice (presence, say) is a new variant
/// here and an arm in [`Chat::on_node_notice`]; a room event that is never stored needs
/// neither: it rides `Passing`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum NodeNotice {
    /// An event that is never stored (`PassingEvent`: typing), for the room's open streams.
    Passing { room_id: i64, kind: String, data: serde_json::Value },
    /// The user's streams end, all but those opened with `keep`; their sign-ins are looked
    /// up again (account disabled, password changed, right to read taken away).
    StreamsEnd { user_id: i64, keep: Option<u64> },
    /// The streams opened with one credential end; the user's sign-ins are looked up again
    /// (a logout, a revoked token).
    CredentialEnds { user_id: i64, credential: u64 },
    /// Users who came online on the sending node (or still are: its periodic reminder),
    /// or went offline there.
    Presence { online: bool, users: Vec<i64> },
    /// The account changed (permissions, name): its sign-ins are looked up again, and its
    /// open streams hear `me_updated` with `me` (the `User` of `GET /me`) when it is given.
    AccountChanged {
        user_id: i64,
        #[serde(default)]
        me: Option<serde_json::Value>,
    },
}

/// A notice with the node that sent it.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    node: u64,
    #[serde(flatten)]
    notice: NodeNotice,
}

impl NodeNotice {
    /// The hub's notice that matches, for the notices that end streams.
    pub fn from_hub(notice: &Notice) -> Option<Self> {
        match *notice {
            Notice::StreamsEnd { user_id, keep } => Some(Self::StreamsEnd { user_id, keep }),
            Notice::CredentialEnds { user_id, credential } => Some(Self::CredentialEnds { user_id, credential }),
            _ => None,
        }
    }
}

fn envelope(node: u64, notice: NodeNotice) -> ApiResult<String> {
    serde_json::to_string(&Envelope { node, notice }).map_err(ApiError::internal)
}

/// Rings the other nodes from inside a database call: delivered when its transaction
/// commits (at once outside one). Nothing on SQLite.
pub fn ring(conn: &mut DbConn, node: u64, notice: NodeNotice) -> ApiResult<()> {
    if matches!(conn, DbConn::Pg(_)) {
        events::ring(conn, NOTICES_CHANNEL, &envelope(node, notice)?)?;
    }
    Ok(())
}

impl Chat {
    /// Sends a notice that may be lost to every other node (typing; presence later), best
    /// effort and without waiting; this node acts on it itself, before calling this.
    pub fn tell_all_nodes(&self, notice: NodeNotice) {
        let Some(tail) = self.tail.clone() else { return };
        let Ok(payload) = envelope(self.node, notice) else { return };
        tokio::spawn(async move { tail.send(&payload).await });
    }

    /// Acts on a notice another node sent (the JSON of the notices channel).
    pub fn on_node_notice(&self, payload: &str) {
        let envelope: Envelope = match serde_json::from_str(payload) {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::warn!(%error, "an unreadable notice on the cluster bus was ignored");
                return;
            }
        };
        if envelope.node == self.node {
            return;
        }
        let node = envelope.node;
        match envelope.notice {
            NodeNotice::Passing { room_id, kind, data } => {
                // Only kinds that are never stored: a stored one comes through the log.
                match EventKind::parse(&kind) {
                    Ok(kind) if !kind.is_stored() && kind != EventKind::Reset => {
                        self.hub.publish_ephemeral(Event::ephemeral(room_id, kind.as_str(), &data));
                    }
                    _ => tracing::warn!(kind, "a notice of an unknown kind on the cluster bus was ignored"),
                }
            }
            NodeNotice::StreamsEnd { user_id, keep } => {
                self.auth_cache.forget_user(UserId(user_id));
                self.hub.publish(vec![Notice::StreamsEnd { user_id, keep }]);
            }
            NodeNotice::CredentialEnds { user_id, credential } => {
                self.auth_cache.forget_user(UserId(user_id));
                self.hub.publish(vec![Notice::CredentialEnds { user_id, credential }]);
            }
            NodeNotice::Presence { online, users } => {
                for user_id in users {
                    self.hub.presence.remote(node, user_id, online);
                }
            }
            NodeNotice::AccountChanged { user_id, me } => {
                self.auth_cache.forget_user(UserId(user_id));
                if let Some(me) = me {
                    let event = Event::ephemeral(0, EventKind::MeUpdated.as_str(), &me);
                    self.hub.publish(vec![Notice::ToUser { user_id, event }]);
                }
            }
        }
    }
}

/// The cluster bus as `/readyz` shows it: `single_node` (SQLite), `listening`, or
/// `reconnecting` (events still arrive through the safety poll; notices wait).
pub fn bus_state(chat: &Chat) -> &'static str {
    match &chat.tail {
        None => "single_node",
        Some(tail) if tail.listening() => "listening",
        Some(_) => "reconnecting",
    }
}

/// Redis as `/readyz` shows it, when one is configured.
pub async fn redis_state(chat: &Chat) -> Option<&'static str> {
    let shared = chat.shared.as_ref()?;
    Some(if shared.answers().await { "ok" } else { "unreachable: local limits" })
}

/// The limits shared through Redis when it answers, this node's own otherwise.
impl Chat {
    /// Counts a message (or an attempt to send files) against the sender's limit.
    pub async fn message_allowed(&self, user_id: UserId) -> ApiResult<()> {
        if let Some(answer) = match &self.shared {
            Some(shared) => shared.message(user_id).await,
            None => None,
        } {
            return answer;
        }
        self.limits.message(user_id)
    }

    /// Refuses a login while its address (or its address and username) is locked out.
    pub async fn login_allowed(&self, client: IpAddr, username: Option<&str>) -> ApiResult<()> {
        if let Some(answer) = match &self.shared {
            Some(shared) => shared.login_allowed(client, username).await,
            None => None,
        } {
            return answer;
        }
        match username {
            Some(name) => self.limits.login_allowed(client, name),
            None => self.limits.address_allowed(client),
        }
    }

    /// Counts a failed login.
    pub async fn login_failed(&self, client: IpAddr, username: Option<&str>) {
        if let Some(shared) = &self.shared {
            if shared.login_failed(client, username).await {
                return;
            }
        }
        match username {
            Some(name) => self.limits.login_failed(client, name),
            None => self.limits.login_failed_from(client),
        }
    }
}

impl Tx<'_> {
    /// Like `notify`, and the other nodes act on it too (at commit): for the notices that
    /// end streams.
    pub fn notify_everywhere(&mut self, notice: Notice) -> ApiResult<()> {
        if let Some(remote) = NodeNotice::from_hub(&notice) {
            ring(self.conn, self.node, remote)?;
        }
        self.notify(notice);
        Ok(())
    }

    /// Tells the other nodes, at commit.
    pub fn tell_other_nodes(&mut self, notice: NodeNotice) -> ApiResult<()> {
        ring(self.conn, self.node, notice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_travel_as_small_tagged_json() {
        let notice = NodeNotice::CredentialEnds { user_id: 3, credential: u64::MAX };
        let text = envelope(7, notice.clone()).unwrap();
        assert_eq!(text, format!(r#"{{"node":7,"notice":"credential_ends","user_id":3,"credential":{}}}"#, u64::MAX));
        let back: Envelope = serde_json::from_str(&text).unwrap();
        assert_eq!((back.node, back.notice), (7, notice));
    }
}
