//! The OpenAPI description, served at `/chat/api/openapi.json`. Schemas come from the
//! response types themselves (utoipa); the operations from the table below, which follows
//! `configure` route for route; the prose from `openapi.md` beside this file.

use actix_web::HttpResponse;
use serde_json::{json, Map, Value};
use utoipa::OpenApi;

use crate::domain::views::*;
use crate::domain::EventKind;

/// What the operations and schemas cannot say: errors, authentication, the choices made
/// where the contract is silent, streams and attachments (Markdown).
const PROSE: &str = include_str!("openapi.md");

#[derive(OpenApi)]
#[openapi(
    info(title = "causerie"),
    components(schemas(
        User,
        Member,
        Room,
        ReplyTo,
        Attachment,
        Message,
        MessagePage,
        Receipt,
        MessageDeleted,
        ReadMarked,
        MemberChanged,
        Typing,
        CreatedToken,
        TokenInfo,
        SearchResult,
        SearchResults,
        Reaction,
        ReactionChanged,
        PresenceChanged,
        UploadRules
    ))
)]
struct Doc;

/// `(method, path, summary, request body schema (see `request_schemas`), success status, response)`.
const OPERATIONS: &[(&str, &str, &str, &str, u16, &str)] = &[
    ("post", "/chat/api/auth/login", "Log in; sets the session cookie", "LoginRequest", 200, "{user: User}"),
    ("post", "/chat/api/auth/logout", "Log out; the session ends", "", 204, ""),
    ("get", "/chat/api/me", "The caller, with permissions (?optional=true: 204 instead of 401 when nobody is signed in)", "", 200, "User"),
    ("get", "/chat/api/me/tokens", "The caller's API tokens (never their secrets)", "", 200, "[TokenInfo]"),
    ("post", "/chat/api/me/tokens", "Create an API token; the secret is shown once", "TokenRequest", 201, "CreatedToken"),
    ("delete", "/chat/api/me/tokens/{id}", "Revoke an API token", "", 204, ""),
    ("get", "/chat/api/me/mentions", "Messages that mention me or @room in rooms I am in, newest first (?before=, ?limit= 1-100, default 50)", "", 200, "MessagePage"),
    ("get", "/chat/api/users", "Search users by name (?q=, ?limit=)", "", 200, "[User]"),
    ("get", "/chat/api/uploads/rules", "What an upload may be: accepted extensions, the same in words, size limits", "", 200, "UploadRules"),
    ("get", "/chat/api/admin/users", "All users with permissions (admin)", "", 200, "[User]"),
    ("post", "/chat/api/admin/users", "Create a user (admin)", "CreateUserRequest", 201, "User"),
    ("patch", "/chat/api/admin/users/{id}", "Change a user (admin); disabling ends sessions, tokens and streams", "UpdateUserRequest", 200, "User"),
    ("get", "/chat/api/rooms", "My rooms, most recent activity first", "", 200, "[Room]"),
    ("post", "/chat/api/rooms", "Create a room; a direct room is found again (200) for the same pair", "CreateRoomRequest", 201, "Room"),
    ("get", "/chat/api/channels", "Channels I may join", "", 200, "[Room]"),
    ("get", "/chat/api/rooms/{id}", "A room with its members", "", 200, "Room"),
    ("patch", "/chat/api/rooms/{id}", "Rename a group or channel (room admin)", "RenameRoomRequest", 200, "Room"),
    ("post", "/chat/api/rooms/{id}/join", "Join a channel", "", 200, "Room"),
    ("get", "/chat/api/rooms/{id}/members", "Members of a room", "", 200, "[Member]"),
    ("post", "/chat/api/rooms/{id}/members", "Add a member (room admin)", "AddMemberRequest", 201, "Member"),
    ("patch", "/chat/api/rooms/{id}/members/{user_id}", "Change a role (room admin), or my mute or notification level", "UpdateMemberRequest", 200, "Member"),
    ("delete", "/chat/api/rooms/{id}/members/{user_id}", "Remove a member (room admin) or leave", "", 204, ""),
    ("get", "/chat/api/rooms/{id}/messages", "A page of messages (?before=, ?after=, ?limit= 1-100, default 50), ascending", "", 200, "MessagePage"),
    ("post", "/chat/api/rooms/{id}/read", "Mark read up to a message; older marks change nothing", "MarkReadRequest", 204, ""),
    ("post", "/chat/api/rooms/{id}/typing", "Signal typing (not stored, rate-limited)", "", 204, ""),
    ("get", "/chat/api/rooms/{id}/attachments", "Files shared in the room, newest first (?before=)", "", 200, "[Attachment]"),
    ("post", "/chat/api/messages", "Send a message: JSON, or multipart/form-data with room_id, content, reply_to_id and files parts", "SendMessageRequest", 201, "Message"),
    ("patch", "/chat/api/messages/{id}", "Edit my message", "EditMessageRequest", 200, "Message"),
    ("delete", "/chat/api/messages/{id}", "Delete a message (soft)", "", 204, ""),
    ("get", "/chat/api/messages/{id}/reads", "Who has seen a message", "", 200, "[Receipt]"),
    ("get", "/chat/api/search", "Search the messages of my rooms, newest first (?q= required, ?room_id=, ?from=, ?before=, ?limit= 1-50, default 20)", "", 200, "SearchResults"),
    ("put", "/chat/api/messages/{id}/reactions/{emoji}", "React with one emoji (URL-encoded); again changes nothing; at most 20 distinct per message (409)", "", 204, ""),
    ("delete", "/chat/api/messages/{id}/reactions/{emoji}", "Take my reaction back; changes nothing when there is none", "", 204, ""),
    ("put", "/chat/api/messages/{id}/pin", "Pin a message (room admin or moderator; anyone in a direct room)", "", 204, ""),
    ("delete", "/chat/api/messages/{id}/pin", "Unpin a message", "", 204, ""),
    ("get", "/chat/api/rooms/{id}/pins", "The room's pinned messages, most recently pinned first (at most 100)", "", 200, "[Message]"),
    ("get", "/chat/api/attachments/{id}", "Download a file (ranges, ETag)", "", 200, "file"),
    ("get", "/chat/api/attachments/{id}/thumbnail", "An image's thumbnail", "", 200, "image"),
    ("get", "/chat/api/stream", "Server-Sent Events of my rooms (?room_id= for one; resume with Last-Event-ID or ?last_event_id=); the events are listed in the description", "", 200, "text/event-stream"),
    ("get", "/chat/api/openapi.json", "This description", "", 200, "OpenAPI"),
    ("get", "/healthz", "The process is up", "", 200, "{status}"),
    ("get", "/readyz", "The database answers and is migrated (else 503); the body names the database, the cluster bus and Redis", "", 200, "{status}"),
    ("get", "/metrics", "Prometheus metrics: requests and latency by route, open client connections, database pool and calls, open streams, events published and delivered, lag and catch-ups", "", 200, "text/plain"),
];

/// The methods a path answers, for the `Allow` header of a 405: its operations, and HEAD
/// beside GET where the route takes HEAD too (the probes). `pattern` is the route's pattern
/// as actix-web matched it (`/chat/api/rooms/{id}`).
pub fn allowed_methods(pattern: &str) -> Option<String> {
    let mut methods: Vec<String> = OPERATIONS
        .iter()
        .filter(|(_, path, ..)| *path == pattern)
        .map(|(method, ..)| method.to_ascii_uppercase())
        .collect();
    if methods.is_empty() {
        return None;
    }
    if matches!(pattern, "/healthz" | "/readyz" | "/metrics") {
        methods.push("HEAD".to_owned());
    }
    Some(methods.join(", "))
}

fn schema_for(response: &str) -> Value {
    let reference = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    match response {
        "" => Value::Null,
        "file" | "image" | "text/event-stream" | "text/plain" | "OpenAPI" => json!({"type": "string"}),
        r if r.starts_with('[') => json!({"type": "array", "items": reference(r.trim_matches(['[', ']']))}),
        r if r.starts_with('{') => json!({"type": "object", "description": r}),
        r => reference(r),
    }
}

/// The media type of a successful response.
fn media_type(response: &str) -> &'static str {
    match response {
        "text/event-stream" => "text/event-stream",
        "text/plain" => "text/plain",
        // The stored file's own type (`application/octet-stream` when unknown).
        "file" => "*/*",
        "image" => "image/*",
        _ => "application/json",
    }
}

/// Control characters (Unicode `Cc`) but tab, line feed and carriage return.
const CONTROL_BUT_BREAKS: &str = "\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F";
/// Every control character.
const CONTROL: &str = "\\u0000-\\u001F\\u007F-\\u009F";

/// Text the server trims: at least one character that is not white space, and no control
/// characters but line breaks and tabs (`one_line`: none at all).
fn text(max: u32, what: &str, one_line: bool) -> Value {
    let allowed = if one_line { CONTROL } else { CONTROL_BUT_BREAKS };
    let pattern = format!("^[^{allowed}]*[^\\s{CONTROL}][^{allowed}]*$");
    let shape = if one_line { "one line, trimmed" } else { "trimmed" };
    json!({"type": "string", "minLength": 1, "maxLength": max, "pattern": pattern,
           "description": format!("{what}; {shape}, then 1-{max} characters")})
}

/// A body that refuses unknown fields (400), as most do.
fn object(required: &[&str], properties: Value) -> Value {
    let mut schema = lenient(required, properties);
    schema["additionalProperties"] = json!(false);
    schema
}

/// A body that passes over unknown fields: logging in, sending a message, creating a room.
/// A field that may be left out may also be `null`, which means the same.
fn lenient(required: &[&str], mut properties: Value) -> Value {
    if let Some(fields) = properties.as_object_mut() {
        for (_, field) in fields.iter_mut().filter(|(name, _)| !required.contains(&name.as_str())) {
            *field = match field.get("type").and_then(Value::as_str) {
                Some(kind) => {
                    let mut nullable = field.clone();
                    nullable["type"] = json!([kind, "null"]);
                    nullable
                }
                None => json!({"anyOf": [field.clone(), {"type": "null"}]}),
            };
        }
    }
    json!({"type": "object", "required": required, "properties": properties})
}

/// The request bodies, as the handlers read them (`src/api/*.rs`) and the domain checks them
/// (`src/domain/mod.rs`).
fn request_schemas() -> Map<String, Value> {
    let id = json!({"type": "integer", "format": "int64"});
    let username =
        json!({"type": "string", "pattern": "^[a-z0-9._-]{1,32}$", "description": "1-32 of a-z 0-9 . _ -; unique"});
    let password = json!({"type": "string", "minLength": 8, "maxLength": 1024});
    let permissions = json!({"type": "array",
        "items": {"type": "string", "enum": ["chat.read", "chat.create", "chat.update", "chat.delete", "chat.manage_rooms"]},
        "description": "the user's whole set; one named twice is granted once"});
    let role = json!({"type": "string", "enum": ["member", "admin", "moderator"]});
    let name = |what: &str| text(80, what, true);
    let content = |what: &str| text(10_000, what, false);
    [
        ("LoginRequest", lenient(&["username", "password"], json!({"username": {"type": "string"}, "password": {"type": "string"}}))),
        ("TokenRequest", object(&[], json!({"name": name("the token's name, default `api`")}))),
        (
            "CreateUserRequest",
            object(
                &["username", "password"],
                json!({"username": username, "password": password, "display_name": text(64, "default: the username", true),
                       "permissions": permissions, "is_admin": {"type": "boolean"}}),
            ),
        ),
        (
            "UpdateUserRequest",
            object(
                &[],
                json!({"display_name": text(64, "the name others see", true), "password": password,
                       "permissions": permissions, "is_admin": {"type": "boolean"},
                       "disabled": {"type": "boolean", "description": "ends the user's sessions, tokens and streams"}}),
            ),
        ),
        (
            "CreateRoomRequest",
            lenient(
                &["room_type"],
                json!({"room_type": {"type": "string", "enum": ["direct", "group", "channel"]},
                       "name": name("required for a group or channel, refused for a direct room"),
                       "member_ids": {"type": "array", "items": id,
                                      "description": "direct: exactly one other user; group or channel: members besides the creator"}}),
            ),
        ),
        ("RenameRoomRequest", object(&["name"], json!({"name": name("the room's new name")}))),
        ("AddMemberRequest", object(&["user_id"], json!({"user_id": id, "role": role}))),
        ("UpdateMemberRequest", {
            let mut schema = object(
                &[],
                json!({"role": {"allOf": [role], "description": "room admins only"},
                       "is_muted": {"type": "boolean", "description": "members, for themselves only"},
                       "notify": {"type": "string", "enum": ["all", "mentions", "none"],
                                  "description": "members, for themselves only: which new messages they hear of"}}),
            );
            // `{}` changes nothing and is refused.
            schema["minProperties"] = json!(1);
            schema
        }),
        ("MarkReadRequest", object(&["message_id"], json!({"message_id": id}))),
        (
            "SendMessageRequest",
            lenient(
                &["room_id", "content"],
                json!({"room_id": id, "content": content("the message"),
                       "reply_to_id": {"type": "integer", "format": "int64",
                                       "description": "a message in the same room"}}),
            ),
        ),
        ("EditMessageRequest", object(&["content"], json!({"content": content("the new text")}))),
        (
            "SendFilesRequest",
            lenient(
                &["room_id"],
                json!({"room_id": id, "content": {"type": "string", "maxLength": 10_000,
                                                  "description": "the message: trimmed, 1-10000 characters, or empty beside files"},
                       "reply_to_id": {"type": "integer", "format": "int64"},
                       "files": {"type": "array", "minItems": 1,
                                 "items": {"type": "string", "contentMediaType": "application/octet-stream"},
                                 "description": "one part per file, each with its file name"}}),
            ),
        ),
    ]
    .into_iter()
    .map(|(name, schema)| (name.to_owned(), schema))
    .collect()
}

/// Query parameters of the operations that take any.
fn query_parameters(path: &str) -> Vec<Value> {
    let param = |name: &str, schema: Value, description: &str| json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description});
    let id = || json!({"type": "integer", "format": "int64"});
    match path {
        "/chat/api/users" => vec![
            param("q", json!({"type": "string"}), "part of a username or display name"),
            param("limit", id(), "default 50; kept within 1-200"),
        ],
        "/chat/api/rooms/{id}/messages" => vec![
            param("before", id(), "messages with a lower id"),
            param("after", id(), "messages with a higher id"),
            param("limit", json!({"type": "integer", "format": "int64", "minimum": 1}), "default 50; above 100 is 100"),
        ],
        "/chat/api/rooms/{id}/attachments" => vec![param("before", id(), "files with a lower id")],
        "/chat/api/search" => vec![
            param(
                "q",
                json!({"type": "string", "minLength": 1, "maxLength": 200}),
                "required: 1-200 characters, at most 20 words; words match by prefix, \"quoted words\" as a phrase, every other character is text",
            ),
            param("room_id", id(), "only this room (one I am a member of, else 404)"),
            param("from", id(), "only messages sent by this user"),
            param("before", id(), "only messages with a lower id (the next page)"),
            param("limit", json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": 50}), "default 20; outside 1-50 is 400"),
        ],
        "/chat/api/me/mentions" => vec![
            param("before", id(), "messages with a lower id"),
            param("limit", json!({"type": "integer", "format": "int64", "minimum": 1}), "default 50; above 100 is 100"),
        ],
        "/chat/api/me" => vec![param(
            "optional",
            json!({"type": "boolean"}),
            "true: answer 204 with no body, not 401, when nobody is signed in (a page's start-up probe)",
        )],
        "/chat/api/stream" => vec![
            param("room_id", id(), "one room instead of all of mine"),
            param("last_event_id", json!({"type": "string"}), "resume after this event id, as Last-Event-ID does"),
        ],
        _ => Vec::new(),
    }
}

/// What the stream carries, from the one list of event kinds.
fn stream_events() -> String {
    let mut text = String::from(
        "Each event is `event: KIND`, `data: JSON` and, when it is stored, `id: N` (resume after it). Kinds:\n",
    );
    for kind in EventKind::ALL {
        let stored = if kind.is_stored() { "stored, replayed on resume" } else { "not stored, never replayed" };
        text.push_str(&format!("- `{}`: {} ({stored})\n", kind.as_str(), kind.payload_schema()));
    }
    text.push_str(
        "\nKeep-alive: a `: ping` comment once a stream has written nothing for CAUSERIE_SSE_PING_SECONDS \
         (15 s; a shared tick four times per interval, so after 3/4 to 1 interval of silence): an idle stream \
         pings every interval.",
    );
    text
}

pub fn description() -> Value {
    let mut doc = serde_json::to_value(Doc::openapi()).unwrap_or_else(|_| json!({}));
    doc["info"]["description"] = json!(PROSE);
    let mut paths = Map::new();
    for (method, path, summary, request, status, response) in OPERATIONS {
        let mut operation = json!({
            "summary": summary,
            "responses": {
                status.to_string(): {"description": "success"},
                "default": {"description": "an error: {\"error\": {\"code\", \"message\"}}"}
            }
        });
        let schema = schema_for(response);
        if !schema.is_null() {
            operation["responses"][status.to_string()]["content"] = json!({ media_type(response): {"schema": schema} });
        }
        if !request.is_empty() {
            operation["requestBody"] = json!({
                // Only the token's name is optional as a whole.
                "required": *request != "TokenRequest",
                "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{request}")}}}
            });
            if *request == "SendMessageRequest" {
                operation["requestBody"]["content"]["multipart/form-data"] = json!({"schema": {
                    "$ref": "#/components/schemas/SendFilesRequest"
                }});
            }
        }
        let mut parameters: Vec<Value> = path
            .split('/')
            .filter_map(|part| part.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
            .map(|name| match name {
                "emoji" => json!({"name": name, "in": "path", "required": true,
                                  "schema": {"type": "string"}, "description": "one emoji, percent-encoded"}),
                _ => json!({"name": name, "in": "path", "required": true, "schema": {"type": "integer", "format": "int64"}}),
            })
            .collect();
        if *method == "get" {
            parameters.extend(query_parameters(path));
        }
        if !parameters.is_empty() {
            operation["parameters"] = Value::Array(parameters);
        }
        if *path == "/chat/api/stream" {
            operation["description"] = json!(stream_events());
        }
        let item = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        item[*method] = operation;
    }
    doc["paths"] = Value::Object(paths);
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        schemas.extend(request_schemas());
    }
    doc
}

pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(description())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The repository's own account of the API, for readers of the source.
    const API_DOC: &str = include_str!("../../docs/api.md");

    /// Both descriptions of the stream name every kind of event the server sends.
    #[test]
    fn every_event_kind_is_described() {
        let doc = description();
        let stream = doc["paths"]["/chat/api/stream"]["get"]["description"].as_str().unwrap_or_default();
        for kind in EventKind::ALL {
            let name = format!("`{}`", kind.as_str());
            assert!(stream.contains(&name), "the OpenAPI stream description lacks {name}");
            assert!(API_DOC.contains(&name), "docs/api.md lacks {name}");
        }
    }

    /// The text of a `## heading` section, up to the next one, with white space collapsed.
    fn section(markdown: &str, heading: &str) -> String {
        let start = markdown.find(&format!("\n## {heading}\n")).unwrap_or_else(|| panic!("no section {heading}"));
        let body = &markdown[start + 1..];
        let end = body[1..].find("\n## ").map_or(body.len(), |end| end + 1);
        body[..end].split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn docs_api_md_names_every_operation() {
        let path_char = |c: char| c.is_ascii_alphanumeric() || "/{}_.-".contains(c);
        for (method, path, ..) in OPERATIONS {
            let operation = format!("{} {path}", method.to_ascii_uppercase());
            // `GET /chat/api/rooms` is not named by `GET /chat/api/rooms/{id}`.
            let named = API_DOC
                .match_indices(&operation)
                .any(|(at, _)| !API_DOC[at + operation.len()..].starts_with(path_char));
            assert!(named, "docs/api.md does not name `{operation}`");
        }
    }

    #[test]
    fn docs_api_md_makes_the_same_choices_as_the_description() {
        let heading = "Choices where the contract is silent";
        assert_eq!(section(API_DOC, heading), section(PROSE, heading));
    }

    /// The source that registers the routes. Should the route table move to another file,
    /// this path is all that changes.
    const ROUTING: &str = include_str!("routes.rs");

    /// The paths a routing source registers: each `resource("…")` literal (`web::resource`
    /// or a bare `resource`), prefixed by the `scope("…")` literals whose call it is nested
    /// in. Nesting is read from the parentheses, outside comments, strings and characters.
    fn registered_paths(source: &str) -> Vec<String> {
        let bytes = source.as_bytes();
        let mut depth = 0usize;
        // (depth at the call, prefix) of the scopes around the current position.
        let mut scopes: Vec<(usize, String)> = Vec::new();
        // A `scope(` (true) or `resource(` (false) whose literal comes next, and its depth.
        let mut pending: Option<(bool, usize)> = None;
        let mut paths = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let rest = &source[i..];
            let after_identifier = i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
            if rest.starts_with("//") {
                i += rest.find('\n').unwrap_or(rest.len());
                continue;
            }
            if rest.starts_with("/*") {
                i += rest.find("*/").map_or(rest.len(), |end| end + 2);
                continue;
            }
            if !after_identifier {
                let call =
                    [("scope(", true), ("resource(", false)].into_iter().find(|(name, _)| rest.starts_with(name));
                if let Some((name, is_scope)) = call {
                    if rest[name.len()..].trim_start().starts_with('"') {
                        pending = Some((is_scope, depth));
                    }
                    i += name.len() - 1;
                    continue;
                }
            }
            match bytes[i] {
                b'"' => {
                    let mut end = i + 1;
                    while end < bytes.len() && bytes[end] != b'"' {
                        end += if bytes[end] == b'\\' { 2 } else { 1 };
                    }
                    let literal = &source[i + 1..end.min(bytes.len())];
                    if let Some((is_scope, at)) = pending.take() {
                        let prefix: String = scopes.iter().map(|(_, prefix)| prefix.as_str()).collect();
                        if is_scope {
                            scopes.push((at, literal.to_owned()));
                        } else {
                            paths.push(format!("{prefix}{literal}"));
                        }
                    }
                    i = end + 1;
                    continue;
                }
                // A character literal (`'('`, `'\\''`); otherwise a lifetime, read on.
                b'\'' => {
                    if rest[1..].starts_with('\\') {
                        i += rest.get(3..).and_then(|r| r.find('\'')).map_or(rest.len(), |end| end + 4);
                        continue;
                    }
                    let next = rest[1..].chars().next().map_or(0, char::len_utf8);
                    if rest.get(1 + next..).is_some_and(|r| r.starts_with('\'')) {
                        i += 2 + next;
                        continue;
                    }
                }
                b'(' => depth += 1,
                b')' => {
                    depth = depth.saturating_sub(1);
                    scopes.retain(|(at, _)| *at <= depth);
                }
                _ => {}
            }
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
        paths
    }

    #[test]
    fn registered_paths_follow_the_nesting_of_scopes() {
        let source = r#"
            // web::resource("/in-a-comment") (
            cfg.service(
                web::scope("/a")
                    .service(web::resource("/b").route(web::get().to(b)))
                    .service(scope("/c").service(resource("/d/{id}")))
                    .service(web::resource("/e").guard(|c: char| c == '(' || c == '\''))
                    .default_service(web::to(not_found)),
            )
            .service(web::resource("/f"));
            fn resource(name: &str) {}
        "#;
        assert_eq!(registered_paths(source), ["/a/b", "/a/c/d/{id}", "/a/e", "/f"]);
    }

    #[test]
    fn every_registered_route_is_an_operation_and_every_operation_is_routed() {
        let registered = registered_paths(ROUTING);
        for expected in ["/chat/api/messages", "/chat/api/rooms/{id}/members/{user_id}", "/healthz", "/metrics"] {
            assert!(registered.iter().any(|path| path == expected), "{expected} not found in {registered:?}");
        }
        for path in &registered {
            assert!(OPERATIONS.iter().any(|(_, documented, ..)| documented == path), "{path} is not in OPERATIONS");
        }
        for (method, path, ..) in OPERATIONS {
            assert!(registered.iter().any(|routed| routed == path), "{method} {path} is not routed");
        }
    }

    #[test]
    fn the_description_carries_the_prose() {
        let doc = description();
        let prose = doc["info"]["description"].as_str().expect("a description");
        assert_eq!(prose, PROSE);
        for section in ["Errors", "Authentication", "Choices where the contract is silent", "Streams", "Attachments"] {
            assert!(prose.contains(&format!("\n## {section}\n")), "{section}");
        }
    }
}
