//! Message search: one table of cases, run on SQLite and (when CAUSERIE_TEST_POSTGRES_URL
//! is set) on PostgreSQL, which must give the same answers, highlights included.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, assert_retry_after, expect_status, int, spawn_app, spawn_app_with, TestApp, TestUser,
};

/// What a case expects: the labels of the messages found, newest first, and `has_more`;
/// or a 400 / 404.
enum Expect {
    Found(&'static [&'static str], bool),
    Refused(StatusCode),
}
use Expect::*;

/// `(case, query parameters with `{name}` standing for an id of the setup, expectation)`.
type Case = (&'static str, &'static [(&'static str, &'static str)], Expect);

const LONG_LEAD: &str = "filler ";
const CASES: &[Case] = &[
    ("prefix", &[("q", "deplo")], Found(&["deploy"], false)),
    ("case-insensitive", &[("q", "DEPLOYMENT")], Found(&["deploy"], false)),
    ("words in any case and accent", &[("q", "cafe")], Found(&["cafe-upper", "cafe-accent"], false)),
    ("accent in the query", &[("q", "Café")], Found(&["cafe-upper", "cafe-accent"], false)),
    ("several words, any order", &[("q", "two words")], Found(&["reversed", "phrase"], false)),
    ("a phrase", &[("q", "\"two words\"")], Found(&["phrase"], false)),
    ("a phrase is exact", &[("q", "\"two word\"")], Found(&[], false)),
    ("a chunk with punctuation is a phrase", &[("q", "a-b")], Found(&["operators"], false)),
    ("punctuation only", &[("q", "!!! ... () \" * ^ : -")], Found(&[], false)),
    ("operators are words", &[("q", "AND OR NOT")], Found(&["operators"], false)),
    ("NEAR and a parenthesis", &[("q", "NEAR(")], Found(&["operators"], false)),
    ("a column filter is text", &[("q", "col:val")], Found(&["operators"], false)),
    ("a caret and a star", &[("q", "^x*")], Found(&["script", "operators"], false)),
    ("a lone minus and a word", &[("q", "- noon")], Found(&["deploy"], false)),
    ("an unclosed quote", &[("q", "\"finished at")], Found(&["deploy"], false)),
    ("an edit is found by its new text", &[("q", "mango")], Found(&["edited"], false)),
    ("and no longer by its old text", &[("q", "banana")], Found(&[], false)),
    ("deleted messages are not found", &[("q", "kiwi")], Found(&[], false)),
    ("system messages are not found", &[("q", "added")], Found(&[], false)),
    ("rooms I left or never joined", &[("q", "pineapple")], Found(&[], false)),
    ("from one sender", &[("q", "cafe"), ("from", "{bob}")], Found(&["cafe-accent"], false)),
    ("in one room", &[("q", "cafe"), ("room_id", "{general}")], Found(&["cafe-upper", "cafe-accent"], false)),
    ("in another room of mine", &[("q", "cafe"), ("room_id", "{quiet}")], Found(&[], false)),
    ("a room I left", &[("q", "pineapple"), ("room_id", "{left}")], Refused(StatusCode::NOT_FOUND)),
    ("a room I never joined", &[("q", "pineapple"), ("room_id", "{secret}")], Refused(StatusCode::NOT_FOUND)),
    ("no such room", &[("q", "pineapple"), ("room_id", "999999")], Refused(StatusCode::NOT_FOUND)),
    ("first page", &[("q", "page"), ("limit", "2")], Found(&["page5", "page4"], true)),
    ("next page", &[("q", "page"), ("limit", "2"), ("before", "{page4}")], Found(&["page3", "page2"], true)),
    ("last page", &[("q", "page"), ("limit", "2"), ("before", "{page2}")], Found(&["page1"], false)),
    ("escaped text", &[("q", "script")], Found(&["script"], false)),
    ("a long message", &[("q", "needle")], Found(&["long"], false)),
    ("default limit", &[("q", "many")], Found(&MANY_FIRST_PAGE, true)),
    ("largest limit", &[("q", "many"), ("limit", "50")], Found(&MANY, false)),
    ("missing q", &[], Refused(StatusCode::BAD_REQUEST)),
    ("empty q", &[("q", "")], Refused(StatusCode::BAD_REQUEST)),
    ("blank q", &[("q", "   ")], Refused(StatusCode::BAD_REQUEST)),
    ("limit 0", &[("q", "cafe"), ("limit", "0")], Refused(StatusCode::BAD_REQUEST)),
    ("limit 51", &[("q", "cafe"), ("limit", "51")], Refused(StatusCode::BAD_REQUEST)),
    ("limit abc", &[("q", "cafe"), ("limit", "abc")], Refused(StatusCode::BAD_REQUEST)),
    ("before abc", &[("q", "cafe"), ("before", "abc")], Refused(StatusCode::BAD_REQUEST)),
    ("room_id abc", &[("q", "cafe"), ("room_id", "abc")], Refused(StatusCode::BAD_REQUEST)),
    ("from abc", &[("q", "cafe"), ("from", "1.5")], Refused(StatusCode::BAD_REQUEST)),
];

/// 30 messages "many N", newest first.
const MANY: [&str; 30] = [
    "many29", "many28", "many27", "many26", "many25", "many24", "many23", "many22", "many21", "many20", "many19",
    "many18", "many17", "many16", "many15", "many14", "many13", "many12", "many11", "many10", "many9", "many8",
    "many7", "many6", "many5", "many4", "many3", "many2", "many1", "many0",
];

const MANY_FIRST_PAGE: [&str; 20] = [
    "many29", "many28", "many27", "many26", "many25", "many24", "many23", "many22", "many21", "many20", "many19",
    "many18", "many17", "many16", "many15", "many14", "many13", "many12", "many11", "many10",
];

/// The setup every backend gets, and the names its ids go by.
struct World {
    alice: TestUser,
    names: HashMap<String, String>,
    labels: HashMap<i64, String>,
}

async fn send(user: &TestUser, world: &mut HashMap<i64, String>, room: i64, label: &str, content: &str) -> i64 {
    let id = int(&user.send(room, content).await, "id");
    world.insert(id, label.to_owned());
    id
}

async fn setup(app: &TestApp) -> World {
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let general = app.admin.create_room("group", "General", &[&alice, &bob]).await;
    let quiet = app.admin.create_room("group", "Quiet", &[&alice]).await;
    let left = app.admin.create_room("group", "Left", &[&alice, &bob]).await;
    let secret = app.admin.create_room("group", "Secret", &[&bob, &carol]).await;
    let mut labels = HashMap::new();
    let l = &mut labels;
    send(&bob, l, general, "deploy", "Deployment finished at noon").await;
    send(&bob, l, general, "cafe-accent", "café au lait").await;
    send(&alice, l, general, "cafe-upper", "The CAFE is open").await;
    send(&bob, l, general, "phrase", "two words together").await;
    send(&bob, l, general, "reversed", "words come before two").await;
    send(&bob, l, general, "operators", "C++ AND (NOT) OR NEAR* x^2: a-b col:val").await;
    send(&bob, l, general, "script", "<script>alert('x')</script> & \"quotes\"").await;
    let long = format!("{}the needle <b>is</b> here {}", LONG_LEAD.repeat(60), "and so on ".repeat(60));
    send(&bob, l, general, "long", &long).await;
    let edited = send(&alice, l, general, "edited", "original text banana").await;
    let r = alice.patch(&format!("/messages/{edited}"), &json!({"content": "edited text mango"})).await;
    expect_status(r, StatusCode::OK).await;
    let deleted = send(&alice, l, general, "deleted", "deleted kiwi").await;
    let r = alice.delete(&format!("/messages/{deleted}")).await;
    expect_status(r, StatusCode::NO_CONTENT).await;
    let r = app.admin.post(&format!("/rooms/{general}/members"), &json!({"user_id": carol.id})).await;
    expect_status(r, StatusCode::CREATED).await;
    send(&bob, l, left, "left", "left room pineapple").await;
    let r = alice.delete(&format!("/rooms/{left}/members/{}", alice.id)).await;
    expect_status(r, StatusCode::NO_CONTENT).await;
    send(&bob, l, secret, "secret", "secret pineapple").await;
    let mut names: HashMap<String, String> =
        [("general", general), ("quiet", quiet), ("left", left), ("secret", secret), ("bob", bob.id)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_string()))
            .collect();
    for n in 1..=5 {
        let id = send(&bob, l, general, &format!("page{n}"), &format!("page number {n}")).await;
        names.insert(format!("page{n}"), id.to_string());
    }
    for n in 0..30 {
        send(&bob, l, general, &format!("many{n}"), &format!("many of them, {n}")).await;
    }
    World { alice, names, labels }
}

/// What one case gave: the labels and highlights found and `has_more`, or the error.
async fn run(world: &World, params: &[(&str, &str)]) -> Value {
    let params: Vec<(&str, String)> = params
        .iter()
        .map(|(k, v)| {
            let v = match v.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
                Some(name) => world.names[name].clone(),
                None => (*v).to_owned(),
            };
            (*k, v)
        })
        .collect();
    let response = world.alice.client.get(world.alice.url("/search")).query(&params).send().await.unwrap();
    let status = response.status();
    if status != StatusCode::OK {
        let body =
            assert_error(response, status, if status == StatusCode::NOT_FOUND { "not_found" } else { "invalid_input" })
                .await;
        return json!({"status": status.as_u16(), "code": body["error"]["code"]});
    }
    let body: Value = response.json().await.unwrap();
    let found: Vec<Value> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!([world.labels[&int(&r["message"], "id")], r["highlight"]]))
        .collect();
    json!({"found": found, "has_more": body["has_more"]})
}

async fn outcomes(app: &TestApp) -> Vec<Value> {
    let world = setup(app).await;
    let mut all = Vec::new();
    for (name, params, expect) in CASES {
        let got = run(&world, params).await;
        match expect {
            Found(labels, has_more) => {
                let found: Vec<&str> = got["found"]
                    .as_array()
                    .map(|f| f.iter().filter_map(|r| r[0].as_str()).collect())
                    .unwrap_or_default();
                assert_eq!((&found[..], got["has_more"].as_bool()), (*labels, Some(*has_more)), "{name}: {got}");
            }
            Refused(status) => assert_eq!(got["status"], status.as_u16(), "{name}: {got}"),
        }
        all.push(json!([name, got]));
    }
    // Highlights: escaped text, marks around the matches and nothing else, 300 at most.
    let highlight = |case: &str| {
        all.iter().find(|c| c[0] == case).map(|c| c[1]["found"][0][1].as_str().unwrap_or_default().to_owned()).unwrap()
    };
    assert_eq!(
        highlight("escaped text"),
        "&lt;<mark>script</mark>&gt;alert(&#39;x&#39;)&lt;/<mark>script</mark>&gt; &amp; &quot;quotes&quot;"
    );
    assert_eq!(highlight("accent in the query"), "The <mark>CAFE</mark> is open");
    assert_eq!(highlight("a phrase"), "<mark>two words</mark> together");
    assert_eq!(
        highlight("a chunk with punctuation is a phrase"),
        "C++ AND (NOT) OR NEAR* x^2: <mark>a-b</mark> col:val"
    );
    let long = highlight("a long message");
    assert!(long.encode_utf16().count() <= 300, "{} characters: {long}", long.chars().count());
    assert!(long.starts_with('…') && long.ends_with('…'), "{long}");
    assert!(long.contains("the <mark>needle</mark> &lt;b&gt;is&lt;/b&gt; here"), "{long}");
    let unmarked = long.replace("<mark>", "").replace("</mark>", "");
    assert!(!unmarked.contains('<') && !unmarked.contains('>'), "{long}");
    all
}

#[tokio::test]
async fn the_same_search_cases_give_the_same_results_on_both_backends() {
    let sqlite_dir = tempfile::tempdir().unwrap();
    let sqlite_url = format!("sqlite://{}", sqlite_dir.path().join("search.db").display());
    let sqlite = spawn_app_with(|s| s.database_url = sqlite_url).await;
    let on_sqlite = outcomes(&sqlite).await;
    if std::env::var("CAUSERIE_TEST_POSTGRES_URL").is_ok_and(|u| !u.is_empty()) {
        let postgres = spawn_app().await;
        assert!(postgres.database_url.starts_with("postgres"));
        let on_postgres = outcomes(&postgres).await;
        for (s, p) in on_sqlite.iter().zip(&on_postgres) {
            assert_eq!(s, p, "SQLite and PostgreSQL differ");
        }
    } else {
        eprintln!("search on PostgreSQL skipped: CAUSERIE_TEST_POSTGRES_URL is not set");
    }
}

#[tokio::test]
async fn search_needs_a_session_chat_read_and_stays_within_its_rate() {
    let app = spawn_app_with(|s| s.search_per_minute = 3).await;
    let r = crate::helpers::client().get(app.admin.url("/search?q=x")).send().await.unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let reader = app.user_with("noread", Some(&["chat.create"])).await;
    assert_error(reader.get("/search?q=x").await, StatusCode::FORBIDDEN, "forbidden").await;
    let alice = app.user("alice").await;
    for _ in 0..3 {
        expect_status(alice.get("/search?q=x").await, StatusCode::OK).await;
    }
    let r = alice.get("/search?q=x").await;
    assert_retry_after(&r, 1..=60);
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Over-long queries, by characters or by words.
    let admin = &app.admin;
    let long = "a".repeat(201);
    assert_error(admin.get(&format!("/search?q={long}")).await, StatusCode::BAD_REQUEST, "invalid_input").await;
    let wordy = "a+".repeat(21);
    assert_error(admin.get(&format!("/search?q={wordy}")).await, StatusCode::BAD_REQUEST, "invalid_input").await;
    let r = admin.get(&format!("/search?q={}", "a".repeat(200))).await;
    expect_status(r, StatusCode::OK).await;
}

/// Messages sent at once mostly commit together (the writer commits what queued as one
/// transaction, each message in a savepoint of its own): each is found as soon as it is
/// answered, and so is each edit, by its new text only.
#[tokio::test]
async fn messages_sent_and_edited_at_once_are_found_at_once() {
    let app = spawn_app().await;
    let admin = &app.admin;
    let room = admin.create_room("group", "Burst", &[]).await;
    let found = |q: &'static str| async move {
        let body: Value = admin.get(&format!("/search?q={q}&limit=50")).await.json().await.unwrap();
        let mut ids: Vec<i64> = body["results"].as_array().unwrap().iter().map(|r| int(&r["message"], "id")).collect();
        ids.sort_unstable();
        ids
    };
    let sends = (0..30).map(|i| async move { int(&admin.send(room, &format!("burst {i}")).await, "id") });
    let mut ids = futures_util::future::join_all(sends).await;
    ids.sort_unstable();
    assert_eq!(found("burst").await, ids);
    let edits = ids.iter().map(|id| async move {
        let r = admin.patch(&format!("/messages/{id}"), &json!({"content": format!("after {id}")})).await;
        expect_status(r, StatusCode::OK).await;
    });
    futures_util::future::join_all(edits).await;
    assert_eq!(found("after").await, ids);
    assert_eq!(found("burst").await, Vec::<i64>::new());
}
