//! The catch-up read: each batch one range scan, whatever the log's length.

use causerie::domain::UserId;
use causerie::error::ApiError;
use causerie::store::events;
use diesel::connection::SimpleConnection;

use crate::helpers::*;

#[tokio::test]
async fn a_catch_up_batch_is_one_range_scan_of_the_log() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    for n in 0..5 {
        app.admin.create_room("group", &format!("Room {n}"), &[&bob]).await;
    }
    let user = UserId(bob.id);
    let postgres = app.state.settings.database_url.starts_with("postgres");
    let plan = app
        .state
        .db
        .run(move |conn| {
            // A log long enough that the planner weighs its choices as it would in use.
            let fill = if postgres {
                "INSERT INTO chat_events (id, room_id, kind, payload, created_at) \
                 SELECT 1000000 + g, 1 + g % 40, 'read', '{}', 0 FROM generate_series(1, 20000) g; \
                 ANALYZE chat_events; ANALYZE chat_room_members;"
            } else {
                "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 20000) \
                 INSERT INTO chat_events (room_id, kind, payload, created_at) \
                 SELECT 1 + n % 40, 'read', '{}', 0 FROM g; ANALYZE;"
            };
            conn.batch_execute(fill)?;
            Ok::<_, ApiError>(events::plan_of_visible_after(conn, user)?)
        })
        .await
        .expect("the plan");
    if postgres {
        assert!(plan.contains("Index Scan using chat_events_pkey"), "{plan}");
        assert!(!plan.contains("Sort"), "{plan}");
    } else {
        assert!(plan.contains("SEARCH chat_events USING INTEGER PRIMARY KEY (rowid>?)"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }
}
