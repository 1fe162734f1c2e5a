//! What to subscribe to and publish on, per room: causerie (provisioned through its CLI and
//! API) or any server described by URL templates (nchan).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context, Result};
use clap::{Args, ValueEnum};

use crate::http::{request_bytes, Client, Url};
use crate::server::SpawnedServer;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetKind {
    Causerie,
    Generic,
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// What is measured: causerie's API, or any server through the URL templates below
    #[arg(long, value_enum, default_value = "causerie")]
    pub target: TargetKind,
    /// causerie: start this binary on a free loopback port with a temp SQLite database
    #[arg(long, value_name = "PATH_TO_BINARY")]
    pub spawn: Option<PathBuf>,
    /// causerie: a running server (with --token of a user who may create rooms)
    #[arg(long)]
    pub url: Option<String>,
    /// causerie: bearer token for --url
    #[arg(long, env = "CAUSERIE_BENCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// causerie --spawn: extra server environment, KEY=VALUE (repeatable)
    #[arg(long = "server-env", value_name = "KEY=VALUE")]
    pub server_env: Vec<String>,
    /// generic: subscribe URL, `{room}` is replaced by the room name
    #[arg(long, default_value = "http://127.0.0.1:8081/sub/{room}")]
    pub sub_url: String,
    /// generic: publish URL (POST), `{room}` is replaced by the room name
    #[arg(long, default_value = "http://127.0.0.1:8081/pub/{room}")]
    pub pub_url: String,
    /// generic: header sent with every request, `K: V` (repeatable)
    #[arg(long = "header", value_name = "K: V")]
    pub headers: Vec<String>,
    /// generic: publish body; `{content}` (the stamped text) and `{room}` are replaced
    #[arg(long, default_value = "{content}")]
    pub body_template: String,
    /// generic: room names are this prefix and a number
    #[arg(long, default_value = "bench")]
    pub room_prefix: String,
    /// Server process(es) to read RSS and CPU from (repeatable); found when --spawn is used
    #[arg(long = "server-pid")]
    pub server_pids: Vec<u32>,
    /// Subscribe at these servers (repeatable, e.g. two nodes: `--sub-base http://127.0.0.1:8081
    /// --sub-base http://127.0.0.1:8082`); each room's subscribers are spread over them in turn.
    /// Default: the one server of --url, --spawn or --sub-url
    #[arg(long = "sub-base", value_name = "http://HOST:PORT")]
    pub sub_bases: Vec<String>,
    /// Publish at these servers (repeatable); publishing connection j goes to the (j mod N)-th.
    /// Default: the one server of --url, --spawn or --pub-url
    #[arg(long = "pub-base", value_name = "http://HOST:PORT")]
    pub pub_bases: Vec<String>,
}

/// The servers of `--sub-base` or `--pub-base`, or `default` alone when none is given.
pub fn bases(given: &[String], default: &Url) -> Result<Vec<Url>> {
    if given.is_empty() {
        return Ok(vec![default.with_path("/")]);
    }
    given
        .iter()
        .map(|text| {
            let url = Url::parse(text)?;
            ensure!(url.path == "/", "a base URL is a server without a path, like http://127.0.0.1:8081: {text}");
            Ok(url)
        })
        .collect()
}

/// The server subscriber `i` uses: subscribers go to rooms in turn (`i mod rooms`), and each
/// room's subscribers go to the servers in turn, so that every room is read on every server.
pub fn subscriber_node(i: usize, rooms: usize, nodes: usize) -> usize {
    (i / rooms.max(1)) % nodes.max(1)
}

/// The server publishing connection `lane` uses.
pub fn lane_node(lane: usize, nodes: usize) -> usize {
    lane % nodes.max(1)
}

/// The server `room`'s messages are published on: each room has one publishing connection
/// (`room mod lanes`, so that its messages commit in order).
pub fn publishing_node(room: usize, lanes: usize, nodes: usize) -> usize {
    lane_node(room % lanes.max(1), nodes)
}

enum Body {
    /// `{"room_id":ID,"content":TEXT}`
    CauserieJson(Vec<i64>),
    Template {
        template: String,
        rooms: Vec<String>,
    },
}

/// Everything the run needs to reach the server.
pub struct Plan {
    /// The GET request of each room's stream on each subscribe server (`[server][room]`),
    /// ready to write.
    pub subscribe: Vec<Vec<Vec<u8>>>,
    pub sub_addrs: Vec<Url>,
    /// Path of each room's publish URL (on every publish server).
    pub publish_paths: Vec<String>,
    pub pub_addrs: Vec<Url>,
    pub pub_headers: Vec<(String, String)>,
    body: Body,
    pub server_pids: Vec<u32>,
    /// Kept for the run; stops the server when dropped.
    _server: Option<SpawnedServer>,
}

impl Plan {
    pub fn body(&self, room: usize, content: &str) -> Vec<u8> {
        match &self.body {
            Body::CauserieJson(ids) => {
                serde_json::json!({ "room_id": ids[room], "content": content }).to_string().into_bytes()
            }
            Body::Template { template, rooms } => {
                template.replace("{content}", content).replace("{room}", &rooms[room]).into_bytes()
            }
        }
    }

    pub async fn prepare(args: &TargetArgs, rooms: usize) -> Result<Self> {
        match args.target {
            TargetKind::Causerie => causerie(args, rooms).await,
            TargetKind::Generic => generic(args, rooms),
        }
    }
}

fn parse_headers(list: &[String]) -> Result<Vec<(String, String)>> {
    list.iter()
        .map(|h| {
            let (k, v) = h.split_once(':').ok_or_else(|| anyhow!("header {h:?} is not `K: V`"))?;
            Ok((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

fn parse_env(list: &[String]) -> Result<Vec<(String, String)>> {
    list.iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| anyhow!("{kv:?} is not KEY=VALUE"))
        })
        .collect()
}

fn sse_headers(extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut headers =
        vec![("Accept".to_owned(), "text/event-stream".to_owned()), ("Cache-Control".into(), "no-cache".into())];
    headers.extend(extra.iter().cloned());
    headers
}

fn has_header(headers: &[(String, String)], name: &str) -> bool {
    headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
}

fn generic(args: &TargetArgs, rooms: usize) -> Result<Plan> {
    let headers = parse_headers(&args.headers)?;
    let names: Vec<String> = (0..rooms).map(|i| format!("{}{i}", args.room_prefix)).collect();
    let sub_urls = names.iter().map(|n| Url::parse(&args.sub_url.replace("{room}", n))).collect::<Result<Vec<_>>>()?;
    let pub_urls = names.iter().map(|n| Url::parse(&args.pub_url.replace("{room}", n))).collect::<Result<Vec<_>>>()?;
    let mut pub_headers = headers.clone();
    if !has_header(&pub_headers, "content-type") {
        pub_headers.push(("Content-Type".into(), "text/plain".into()));
    }
    let sub_addrs = bases(&args.sub_bases, &sub_urls[0])?;
    let subscribe = sub_addrs
        .iter()
        .map(|node| {
            sub_urls
                .iter()
                .map(|u| request_bytes("GET", &node.with_path(&u.path), &sse_headers(&headers), b""))
                .collect()
        })
        .collect();
    ensure!(!args.server_pids.is_empty(), "--target generic needs --server-pid to measure the server");
    Ok(Plan {
        subscribe,
        sub_addrs,
        publish_paths: pub_urls.iter().map(|u| u.path.clone()).collect(),
        pub_addrs: bases(&args.pub_bases, &pub_urls[0])?,
        pub_headers,
        body: Body::Template { template: args.body_template.clone(), rooms: names },
        server_pids: args.server_pids.clone(),
        _server: None,
    })
}

async fn causerie(args: &TargetArgs, rooms: usize) -> Result<Plan> {
    let (base, token, server) = match (&args.spawn, &args.url) {
        (Some(binary), _) => {
            let server = SpawnedServer::start(binary, &parse_env(&args.server_env)?).await?;
            (server.url.clone(), server.token.clone(), Some(server))
        }
        (None, Some(url)) => {
            let token = args.token.clone().context("--url needs --token (or CAUSERIE_BENCH_TOKEN)")?;
            (Url::parse(url)?, token, None)
        }
        (None, None) => bail!("--target causerie needs --spawn PATH_TO_BINARY, or --url URL with --token"),
    };
    let mut server_pids = args.server_pids.clone();
    if let Some(server) = &server {
        server_pids.push(server.pid());
    }
    ensure!(!server_pids.is_empty(), "give --server-pid of the server at --url to measure its CPU and memory");
    let auth = vec![("Authorization".to_owned(), format!("Bearer {token}"))];
    let room_ids = create_rooms(&base, &auth, rooms).await?;
    let sub_addrs = bases(&args.sub_bases, &base)?;
    let subscribe = sub_addrs
        .iter()
        .map(|node| {
            room_ids
                .iter()
                .map(|id| {
                    let url = node.with_path(&format!("/chat/api/stream?room_id={id}"));
                    request_bytes("GET", &url, &sse_headers(&auth), b"")
                })
                .collect()
        })
        .collect();
    let mut pub_headers = auth.clone();
    pub_headers.push(("Content-Type".into(), "application/json".into()));
    Ok(Plan {
        subscribe,
        sub_addrs,
        publish_paths: vec!["/chat/api/messages".to_owned(); rooms],
        pub_addrs: bases(&args.pub_bases, &base)?,
        pub_headers,
        body: Body::CauserieJson(room_ids),
        server_pids,
        _server: server,
    })
}

/// Creates the group rooms the run uses (the token's user becomes their admin).
async fn create_rooms(base: &Url, auth: &[(String, String)], count: usize) -> Result<Vec<i64>> {
    let mut client = Client::new(base, Duration::from_secs(30));
    let mut headers = auth.to_vec();
    headers.push(("Content-Type".into(), "application/json".into()));
    let stamp = crate::stats::wall_micros();
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let body = serde_json::json!({ "room_type": "group", "name": format!("bench {stamp} #{i}"), "member_ids": [] });
        let response = client.request("POST", "/chat/api/rooms", &headers, body.to_string().as_bytes()).await?;
        ensure!(response.status == 201, "creating a room: HTTP {}: {}", response.status, response.text());
        let room: serde_json::Value = serde_json::from_slice(&response.body).context("room JSON")?;
        ids.push(room["id"].as_i64().ok_or_else(|| anyhow!("no id in the created room: {}", response.text()))?);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_server_unless_bases_are_given() {
        let default = Url::parse("http://127.0.0.1:8081/sub/x").unwrap();
        let one = bases(&[], &default).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!((one[0].addr, one[0].path.as_str()), (default.addr, "/"));
        let two = bases(&["http://127.0.0.1:9001".into(), "http://127.0.0.1:9002/".into()], &default).unwrap();
        assert_eq!(two.iter().map(|u| u.addr.port()).collect::<Vec<_>>(), [9001, 9002]);
        assert!(bases(&["http://127.0.0.1:9001/chat".into()], &default).is_err());
        assert!(bases(&["https://127.0.0.1:9001".into()], &default).is_err());
    }

    #[test]
    fn every_room_is_read_on_every_server_evenly() {
        for (rooms, nodes, subscribers) in [(1, 2, 10), (2, 2, 8), (3, 2, 12), (100, 3, 600), (4, 1, 9)] {
            // [room][node] -> subscribers
            let mut spread = vec![vec![0usize; nodes]; rooms];
            for i in 0..subscribers {
                let node = subscriber_node(i, rooms, nodes);
                assert!(node < nodes);
                spread[i % rooms][node] += 1;
            }
            for (room, per_node) in spread.iter().enumerate() {
                let (low, high) = (per_node.iter().min().unwrap(), per_node.iter().max().unwrap());
                assert!(high - low <= 1, "rooms {rooms}, nodes {nodes}: room {room} {per_node:?}");
            }
        }
        // One server: today's behaviour.
        assert!((0..50).all(|i| subscriber_node(i, 7, 1) == 0));
    }

    #[test]
    fn publishers_take_the_servers_in_turn() {
        assert_eq!((0..5).map(|lane| lane_node(lane, 2)).collect::<Vec<_>>(), [0, 1, 0, 1, 0]);
        assert_eq!((0..3).map(|lane| lane_node(lane, 1)).collect::<Vec<_>>(), [0, 0, 0]);
        // 4 rooms over 2 connections over 2 servers; 3 rooms over 16 connections (3 used).
        assert_eq!((0..4).map(|room| publishing_node(room, 2, 2)).collect::<Vec<_>>(), [0, 1, 0, 1]);
        assert_eq!((0..3).map(|room| publishing_node(room, 3, 2)).collect::<Vec<_>>(), [0, 1, 0]);
        // With two servers each side, half of every room's subscribers read on the other one.
        let (rooms, nodes) = (3, 2);
        let cross = (0..60)
            .filter(|i| subscriber_node(*i, rooms, nodes) != publishing_node(i % rooms, rooms.min(16), nodes))
            .count();
        assert_eq!(cross, 30);
    }
}
