//! The command line: `serve` (the default), `migrate`, `user …`, `token create`, `uploads gc`,
//! `backup`, `export`, `import`.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::auth::accounts::{self, NewAccount};
use crate::auth::{secret, TOKEN_PREFIX};
use crate::chat::{attachments, users, Chat};
use crate::config::{Overrides, Settings};
use crate::domain::Permission;
use crate::error::ApiError;
use crate::store::tokens;
use crate::transfer;

#[derive(Debug, Parser)]
#[command(name = "causerie", version, about = "Self-hosted team chat")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub global: GlobalArgs,
    /// `causerie` alone serves: it takes what `serve` takes.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// What every command reads: where the data is. Each command's help shows only what applies
/// to it, so the server's own options are `serve`'s.
#[derive(Debug, Args, Default)]
pub struct GlobalArgs {
    /// sqlite://PATH or postgres://… [env: CAUSERIE_DATABASE_URL] [default: sqlite://causerie.db]
    #[arg(long, global = true)]
    pub database: Option<String>,
    /// A TOML file of settings [env: CAUSERIE_CONFIG]
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args, Default, Clone)]
pub struct ServeArgs {
    /// Address to listen on [env: CAUSERIE_BIND] [default: 127.0.0.1:8080]
    #[arg(long)]
    pub bind: Option<String>,
    /// Where attachments are stored [env: CAUSERIE_UPLOADS_DIR] [default: uploads]
    #[arg(long)]
    pub uploads: Option<PathBuf>,
    /// Seed demo users, rooms and messages
    #[arg(long)]
    pub demo: bool,
}

/// What `user grant` and `user revoke` say of the permissions (the README says the same).
const PERMISSIONS_HELP: &str = "Permissions:
  chat.read          see one's rooms and messages, get live updates, find people, browse and join channels
  chat.create        send messages and files, start direct conversations
  chat.update        edit one's own messages
  chat.delete        delete one's own messages, and others' in rooms where one moderates
  chat.manage_rooms  create groups and channels; rename rooms and manage members as a room admin
Administrators (user add --admin) hold them all. A change reaches open sessions within
CAUSERIE_AUTH_CACHE_SECONDS; pages show it when they come back into view.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the chat server (the default)
    Serve(ServeArgs),
    /// Apply pending database migrations and exit
    Migrate,
    /// Manage user accounts
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage stored files
    #[command(subcommand)]
    Uploads(UploadsCommand),
    /// Copy the SQLite database, consistently, while it serves, into a new file
    Backup { path: PathBuf },
    /// Write every table as JSON lines into a new or empty folder
    Export { dir: PathBuf },
    /// Load an export into an empty database (SQLite or PostgreSQL), in one transaction
    Import { dir: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum UploadsCommand {
    /// Remove files of deleted messages, files without rows and stale temporary files
    Gc {
        /// Where attachments are stored [env: CAUSERIE_UPLOADS_DIR] [default: uploads]
        #[arg(long)]
        uploads: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input
    Add {
        name: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        admin: bool,
        /// Comma-separated, e.g. chat.read,chat.create (default: the configured set)
        #[arg(long)]
        permissions: Option<String>,
        /// Read the password from standard input (required)
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Give permissions to a user
    #[command(after_help = PERMISSIONS_HELP)]
    Grant {
        /// The user's username
        name: String,
        /// One or more permission names (listed below), or a comma-separated list
        #[arg(required = true, value_name = "PERMISSION")]
        permissions: Vec<String>,
    },
    /// Take permissions from a user
    #[command(after_help = PERMISSIONS_HELP)]
    Revoke {
        /// The user's username
        name: String,
        /// One or more permission names (listed below), or a comma-separated list
        #[arg(required = true, value_name = "PERMISSION")]
        permissions: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token and print it alone on standard output
    Create { name: String },
}

impl Cli {
    pub fn settings(&self) -> Result<Settings, String> {
        // `causerie --bind …` and `causerie serve --bind …` alike; `uploads gc --uploads …`.
        let serve = match &self.command {
            Some(Command::Serve(args)) => args.clone(),
            Some(Command::Uploads(UploadsCommand::Gc { uploads })) => {
                ServeArgs { uploads: uploads.clone(), ..ServeArgs::default() }
            }
            _ => ServeArgs::default(),
        };
        let overrides = Overrides {
            bind: serve.bind.or_else(|| self.serve.bind.clone()),
            database_url: self.global.database.clone(),
            uploads_dir: serve.uploads.or_else(|| self.serve.uploads.clone()),
            demo: (serve.demo || self.serve.demo).then_some(true),
        };
        // Read here rather than by clap, which refuses an empty variable; empty means none.
        let config = self
            .global
            .config
            .clone()
            .or_else(|| std::env::var_os("CAUSERIE_CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from));
        Settings::load(config, &overrides)
    }
}

fn parse_permission_args(args: &[String]) -> anyhow::Result<Vec<Permission>> {
    let mut list = Vec::new();
    for arg in args {
        list.extend(Permission::parse_list(arg).map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    Ok(list)
}

/// Runs a command other than `serve`, through the same use cases as the API.
pub fn run_admin_command(command: Command, settings: &Settings) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(admin_command(command, settings))
}

async fn admin_command(command: Command, settings: &Settings) -> anyhow::Result<()> {
    // These open the database themselves (backup without migrating it).
    match command {
        Command::Backup { path } => {
            let url = settings.database();
            let bytes = tokio::task::spawn_blocking(move || transfer::backup(&url, &path)).await??;
            eprintln!("backup written ({bytes} bytes)");
            return Ok(());
        }
        Command::Export { dir } => {
            let settings = settings.clone();
            let shown = dir.display().to_string();
            let manifest = tokio::task::spawn_blocking(move || transfer::export(&settings, &dir)).await??;
            let rows: u64 = manifest.tables.iter().map(|t| t.rows).sum();
            eprintln!("exported {} tables, {rows} rows, to {shown}", manifest.tables.len());
            return Ok(());
        }
        Command::Import { dir } => {
            let settings = settings.clone();
            let counts = tokio::task::spawn_blocking(move || transfer::import(&settings, &dir)).await??;
            let shown: Vec<String> = counts.iter().map(|(table, n)| format!("{table} {n}")).collect();
            eprintln!("imported: {}", shown.join(", "));
            return Ok(());
        }
        _ => {}
    }
    let opening = settings.clone();
    let db = tokio::task::spawn_blocking(move || opening.open_database(2)).await??;
    let chat = Chat::new(Arc::new(settings.clone()), db);
    let fail = |e: ApiError| anyhow::anyhow!("{e}");
    match command {
        Command::Serve(_) => anyhow::bail!("serve is not an administration command"),
        Command::Backup { .. } | Command::Export { .. } | Command::Import { .. } => {
            anyhow::bail!("handled before the database is opened")
        }
        Command::Migrate => {
            eprintln!("migrations applied");
        }
        Command::User(UserCommand::Add { name, display_name, admin, permissions, password_stdin: _ }) => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\n', '\r']).to_owned();
            let permissions = match permissions {
                Some(list) => parse_permission_args(&[list])?,
                None => settings.default_permission_list(),
            };
            let account = tokio::task::spawn_blocking(move || {
                NewAccount::parse(&name, &password, display_name.as_deref(), admin, permissions)
            })
            .await?
            .map_err(fail)?;
            let row = chat.commit(move |tx| accounts::create(tx, &account)).await.map_err(fail)?;
            eprintln!("created user {} (id {})", row.username, row.id);
        }
        Command::User(UserCommand::Grant { name, permissions }) => {
            let user = users::by_username(&chat, &name).await.map_err(fail)?;
            let list = parse_permission_args(&permissions)?;
            let shown = list.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ");
            users::grant(&chat, user.id, list).await.map_err(fail)?;
            eprintln!("granted {shown} to {name}");
        }
        Command::User(UserCommand::Revoke { name, permissions }) => {
            let user = users::by_username(&chat, &name).await.map_err(fail)?;
            let list = parse_permission_args(&permissions)?;
            let shown = list.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ");
            users::revoke(&chat, user.id, list).await.map_err(fail)?;
            eprintln!("revoked {shown} from {name}");
        }
        Command::Token(TokenCommand::Create { name }) => {
            let user = users::by_username(&chat, &name).await.map_err(fail)?;
            if user.disabled {
                anyhow::bail!("user {name} is disabled");
            }
            let (token, hash) = secret::generate(TOKEN_PREFIX);
            chat.commit(move |tx| Ok(tokens::create_api_token(tx, user.id, "cli", &hash)?)).await.map_err(fail)?;
            println!("{token}");
        }
        Command::Uploads(UploadsCommand::Gc { .. }) => {
            use crate::uploads::gc;
            let cutoff = gc::cutoff();
            let stored = attachments::stored_files(&chat).await.map_err(fail)?;
            let uploads_dir = settings.uploads_dir.clone();
            let plan = tokio::task::spawn_blocking(move || gc::plan(&uploads_dir, &stored, cutoff)).await??;
            // Read again: a message committed during the walk keeps its files.
            let stored_now = attachments::stored_files(&chat).await.map_err(fail)?;
            let uploads_dir = settings.uploads_dir.clone();
            let report =
                tokio::task::spawn_blocking(move || gc::carry_out(&uploads_dir, plan, &stored_now, cutoff)).await??;
            eprintln!("removed {} files and {} folders", report.files_removed, report.folders_removed);
        }
    }
    Ok(())
}
