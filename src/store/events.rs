//! The event log (`chat_events`): appended in the transaction of each change, read back
//! to catch up a stream.

use diesel::prelude::*;

use super::models::{EventRow, NewEvent};
use super::schema::{chat_event_counter, chat_events};
use super::{now_micros, DbConn, QueryResult};
use crate::domain::{EventKind, MessageId, RoomId, UserId};

/// Appends an event to the log; returns its id. Ids must commit in id order (a stream that
/// saw 101 must not miss 100): SQLite has one writer at a time, so the table's own
/// `AUTOINCREMENT` rowid is enough; on PostgreSQL, where several instances write at once,
/// the id comes from the one counter row, whose row lock orders them: taken and held to
/// the commit by the same statement that appends the row. On SQLite the id is read after
/// the insert rather than with `RETURNING`: SQLite returns rows through a temporary table,
/// and a statement with `RETURNING` opens a statement savepoint, which makes the search
/// index write out the terms of the message inserted before it at once instead of at
/// commit.
pub fn insert(conn: &mut DbConn, event: &NewEvent<'_>) -> QueryResult<i64> {
    let created_at = now_micros();
    match conn {
        DbConn::Sqlite(c) => {
            diesel::insert_into(chat_events::table)
                .values((
                    chat_events::room_id.eq(event.room_id),
                    chat_events::kind.eq(event.kind),
                    chat_events::payload.eq(event.payload),
                    chat_events::target_user_id.eq(event.target_user_id),
                    chat_events::created_at.eq(created_at),
                    chat_events::message_id.eq(event.message_id),
                ))
                .execute(c)?;
            super::sqlite_inserted_id(c)
        }
        DbConn::Pg(c) => {
            use diesel::sql_types::{BigInt, Nullable, Text};
            #[derive(QueryableByName)]
            struct Appended {
                #[diesel(sql_type = BigInt)]
                id: i64,
            }
            struct Append;
            let appended: Appended = super::prepared::prepared::<Append, _>(
                diesel::sql_query(PG_APPEND)
                    .bind::<BigInt, _>(event.room_id.get())
                    .bind::<Text, _>(event.kind.as_str())
                    .bind::<Text, _>(event.payload)
                    .bind::<Nullable<BigInt>, _>(event.target_user_id.map(|u| u.get()))
                    .bind::<BigInt, _>(created_at)
                    .bind::<Nullable<BigInt>, _>(event.message_id.map(|m| m.get())),
            )
            .get_result(c)?;
            // The other nodes' doorbell, rung at commit (and dropped with a rolled-back
            // savepoint): the id only, never the event. Once for a whole batch of the writer.
            if !BatchRing::note(appended.id) {
                ring(conn, EVENTS_CHANNEL, &appended.id.to_string())?;
            }
            Ok(appended.id)
        }
    }
}

/// The next id from the counter row and the event under it, in one round trip.
const PG_APPEND: &str = "WITH next AS (UPDATE chat_event_counter SET last_id = last_id + 1 RETURNING last_id) \
     INSERT INTO chat_events (id, room_id, kind, payload, target_user_id, created_at, message_id) \
     SELECT last_id, $1, $2, $3, $4, $5, $6 FROM next RETURNING id";

thread_local! {
    /// While the writer thread runs a transaction on PostgreSQL: the last event id its
    /// jobs appended so far (0 for none yet), rung once before it commits.
    static BATCH_RING: std::cell::Cell<Option<i64>> = const { std::cell::Cell::new(None) };
}

/// One ring for the events of a write transaction, rather than one per event: a ring only
/// says "read the log now", and the ids of one transaction commit together. Held by the
/// writer around a transaction; outside one, each event rings on its own.
pub(super) struct BatchRing(());

impl BatchRing {
    pub(super) fn start() -> Self {
        BATCH_RING.with(|r| r.set(Some(0)));
        Self(())
    }

    /// Keeps the id for the transaction's ring; false when no transaction of the writer
    /// is under way (the caller rings itself).
    fn note(id: i64) -> bool {
        BATCH_RING.with(|r| match r.get() {
            Some(last) => {
                r.set(Some(last.max(id)));
                true
            }
            None => false,
        })
    }

    /// The last id appended so far, if any.
    pub(super) fn last() -> Option<i64> {
        BATCH_RING.with(|r| r.get()).filter(|&id| id > 0)
    }

    /// Rings the other nodes once for what the transaction appended, with its last id;
    /// nothing when it appended no event.
    pub(super) fn ring(conn: &mut DbConn) -> QueryResult<()> {
        match Self::last() {
            Some(last) => ring(conn, EVENTS_CHANNEL, &last.to_string()),
            None => Ok(()),
        }
    }

    /// Back to what `last` said before a job whose changes were undone.
    pub(super) fn reset(to: Option<i64>) {
        BATCH_RING.with(|r| r.set(Some(to.unwrap_or(0))));
    }
}

impl Drop for BatchRing {
    fn drop(&mut self) {
        BATCH_RING.with(|r| r.set(None));
    }
}

/// The channel on which PostgreSQL tells every node that events were committed.
pub const EVENTS_CHANNEL: &str = "causerie_events";
/// The channel of notices that are never stored (typing, revocations).
pub const NOTICES_CHANNEL: &str = "causerie_notices";

/// `pg_notify(channel, payload)`: delivered to every listening node when the surrounding
/// transaction commits (at once outside one). Nothing on SQLite, which serves one node.
pub fn ring(conn: &mut DbConn, channel: &str, payload: &str) -> QueryResult<()> {
    use diesel::sql_types::Text;
    if let DbConn::Pg(c) = conn {
        diesel::sql_query("SELECT pg_notify($1, $2)").bind::<Text, _>(channel).bind::<Text, _>(payload).execute(c)?;
    }
    Ok(())
}

/// The log after `after_id`, every room, oldest first: what a node's tail publishes.
pub fn after(conn: &mut DbConn, after_id: i64, limit: i64) -> QueryResult<Vec<EventRow>> {
    chat_events::table
        .filter(chat_events::id.gt(after_id))
        .order(chat_events::id.asc())
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)
}

/// The newest event id handed out (the counter row on PostgreSQL).
pub fn last_id(conn: &mut DbConn) -> QueryResult<i64> {
    Ok(bounds(conn)?.1)
}

/// The stored events that show any of these messages, oldest first: `(id, kind, payload,
/// message)`.
pub fn showing(conn: &mut DbConn, messages: &[MessageId]) -> QueryResult<Vec<(i64, EventKind, String, MessageId)>> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, EventKind, String, Option<MessageId>)> = chat_events::table
        .filter(chat_events::message_id.eq_any(messages))
        .order(chat_events::id.asc())
        .select((chat_events::id, chat_events::kind, chat_events::payload, chat_events::message_id))
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|(id, kind, payload, message)| Some((id, kind, payload, message?))).collect())
}

/// Rewrites a stored event's payload.
pub fn set_payload(conn: &mut DbConn, id: i64, payload: &str) -> QueryResult<usize> {
    diesel::update(chat_events::table.find(id)).set(chat_events::payload.eq(payload)).execute(conn)
}

/// `(pruned_through, last_id)`: a stream may resume from any id in between. On SQLite the
/// newest id is the log's (retention removes only a prefix, and `pruned_through` keeps the
/// newest removed one when it removed them all); on PostgreSQL the counter row's.
pub fn bounds(conn: &mut DbConn) -> QueryResult<(i64, i64)> {
    let (pruned_through, counted): (i64, i64) = chat_event_counter::table
        .select((chat_event_counter::pruned_through, chat_event_counter::last_id))
        .get_result(conn)?;
    match conn {
        DbConn::Sqlite(_) => {
            let newest: Option<i64> = chat_events::table.select(diesel::dsl::max(chat_events::id)).get_result(conn)?;
            Ok((pruned_through, newest.unwrap_or(0).max(pruned_through)))
        }
        DbConn::Pg(_) => Ok((pruned_through, counted)),
    }
}

/// The catch-up read of an all-rooms stream: the log walked in id order from the given id,
/// keeping what the user may see. Through the room and addressee indexes SQLite would gather
/// every later event of the user's rooms and sort them, for each batch, so that replaying a
/// long log took time growing with its square; `NOT INDEXED` keeps it to the rowid range, so
/// each event is read once over a whole replay. PostgreSQL walks its primary key likewise.
/// Binds: the id to read after, the user (twice), the batch size.
const SQLITE_VISIBLE_AFTER: &str = "SELECT id, room_id, kind, payload, target_user_id, created_at, message_id \
     FROM chat_events NOT INDEXED \
     WHERE id > ? AND (room_id IN (SELECT room_id FROM chat_room_members WHERE user_id = ?) \
     OR target_user_id = ?) ORDER BY id LIMIT ?";
const PG_VISIBLE_AFTER: &str = "SELECT id, room_id, kind, payload, target_user_id, created_at, message_id \
     FROM chat_events \
     WHERE id > $1 AND (room_id IN (SELECT room_id FROM chat_room_members WHERE user_id = $2) \
     OR target_user_id = $3) ORDER BY id LIMIT $4";

/// The events after `after_id` that `user_id` may see: those of the rooms they are a
/// member of (or of `room_id` alone), and those addressed to them (their own removal).
/// Each batch is one range scan: of the log's own order, or of the room's events.
pub fn visible_after(
    conn: &mut DbConn,
    user_id: UserId,
    room_id: Option<RoomId>,
    after_id: i64,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    use diesel::sql_types::BigInt;
    if let Some(room_id) = room_id {
        return chat_events::table
            .filter(chat_events::room_id.eq(room_id))
            .filter(chat_events::id.gt(after_id))
            .order(chat_events::id.asc())
            .limit(limit)
            .select(EventRow::as_select())
            .load(conn);
    }
    let sql = match conn {
        DbConn::Sqlite(_) => SQLITE_VISIBLE_AFTER,
        DbConn::Pg(_) => PG_VISIBLE_AFTER,
    };
    diesel::sql_query(sql)
        .bind::<BigInt, _>(after_id)
        .bind::<BigInt, _>(user_id)
        .bind::<BigInt, _>(user_id)
        .bind::<BigInt, _>(limit)
        .load(conn)
}

/// How the database plans an all-rooms catch-up batch (`EXPLAIN`), one line per step: for
/// the test that keeps it a range scan, and for operators who wonder.
pub fn plan_of_visible_after(conn: &mut DbConn, user_id: UserId) -> QueryResult<String> {
    #[derive(QueryableByName)]
    struct SqliteStep {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }
    #[derive(QueryableByName)]
    struct PgStep {
        #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
        line: String,
    }
    let user = user_id.to_string();
    match conn {
        DbConn::Sqlite(c) => {
            let sql = SQLITE_VISIBLE_AFTER.replacen('?', "0", 1).replacen('?', &user, 2).replacen('?', "500", 1);
            let steps: Vec<SqliteStep> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}")).load(c)?;
            Ok(steps.into_iter().map(|s| s.detail).collect::<Vec<_>>().join("\n"))
        }
        DbConn::Pg(c) => {
            let sql =
                PG_VISIBLE_AFTER.replace("$1", "0").replace("$2", &user).replace("$3", &user).replace("$4", "500");
            let steps: Vec<PgStep> = diesel::sql_query(format!("EXPLAIN {sql}")).load(c)?;
            Ok(steps.into_iter().map(|s| s.line).collect::<Vec<_>>().join("\n"))
        }
    }
}

/// Removes events older than `before_micros`; streams resuming from before them get
/// `reset`. Returns how many were removed. Events are appended in id order as they commit,
/// so the old ones are the lowest ids: the log is read from its oldest event up to the
/// first one new enough, rather than every event keeping an index on its time up to date.
pub fn prune(conn: &mut DbConn, before_micros: i64) -> QueryResult<usize> {
    conn.transaction(|conn| {
        let first_kept: Option<i64> = chat_events::table
            .filter(chat_events::created_at.ge(before_micros))
            .order(chat_events::id.asc())
            .select(chat_events::id)
            .first(conn)
            .optional()?;
        let old = chat_events::table.select(diesel::dsl::max(chat_events::id));
        let newest_old: Option<i64> = match first_kept {
            Some(kept) => old.filter(chat_events::id.lt(kept)).get_result(conn)?,
            None => old.get_result(conn)?,
        };
        let Some(through) = newest_old else { return Ok(0) };
        let removed = diesel::delete(chat_events::table.filter(chat_events::id.le(through))).execute(conn)?;
        diesel::update(chat_event_counter::table).set(chat_event_counter::pruned_through.eq(through)).execute(conn)?;
        Ok(removed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DatabaseUrl, Db};

    #[test]
    fn prune_removes_the_events_before_the_first_new_enough_one() {
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::parse(&format!("sqlite://{}", dir.path().join("t.db").display())).unwrap();
        let db = Db::connect(&url, 1).unwrap();
        let mut conn = db.get().unwrap();
        let at = |id: i64, created_at: i64| {
            (
                chat_events::id.eq(id),
                chat_events::room_id.eq(1),
                chat_events::kind.eq("new_message"),
                chat_events::payload.eq("{}"),
                chat_events::created_at.eq(created_at),
            )
        };
        for row in [at(1, 100), at(2, 200), at(3, 300), at(4, 400)] {
            diesel::insert_into(chat_events::table).values(row).execute(&mut *conn).unwrap();
        }
        assert_eq!(prune(&mut conn, 100).unwrap(), 0, "nothing is older than the cutoff");
        assert_eq!(bounds(&mut conn).unwrap().0, 0);
        assert_eq!(prune(&mut conn, 300).unwrap(), 2);
        assert_eq!(bounds(&mut conn).unwrap().0, 2, "pruned through the newest removed event");
        let left: Vec<i64> =
            chat_events::table.select(chat_events::id).order(chat_events::id).load(&mut *conn).unwrap();
        assert_eq!(left, vec![3, 4]);
        assert_eq!(prune(&mut conn, 1_000).unwrap(), 2, "all of them are old");
        assert_eq!(bounds(&mut conn).unwrap(), (4, 4), "the newest id outlives its event");
        // The next event continues the ids, although the log is empty.
        let event = NewEvent {
            room_id: RoomId(1),
            kind: EventKind::NewMessage,
            payload: "{}",
            target_user_id: None,
            message_id: None,
        };
        let id = insert(&mut conn, &event).unwrap();
        assert_eq!(id, 5);
        assert_eq!(bounds(&mut conn).unwrap(), (4, 5));
    }
}
