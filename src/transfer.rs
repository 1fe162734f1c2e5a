//! Backing up and moving a database: `causerie backup`, `export` and `import`.
//!
//! An export is a folder: `manifest.json` (format, version, each table's file, columns and
//! row count, the id sequences and the newest event id) and one `TABLE.jsonl` per table, one
//! JSON object a line. The manifest is written last, so a folder without one is an export
//! that did not finish. Import checks the whole export before it touches the database, then
//! inserts everything in one transaction into an empty database, and makes ids and the event
//! counter continue after the imported ones.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::store::dump::{self, TABLES};
use crate::store::{now_micros, Backend, DatabaseUrl};

pub const MANIFEST: &str = "manifest.json";
const FORMAT: &str = "causerie-export";
const VERSION: u32 = 1;
/// A line longer than this is refused: no stored row comes near it.
const MAX_LINE: usize = 64 * 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    /// The causerie version that wrote it.
    pub causerie: String,
    /// `sqlite` or `postgres`.
    pub source: String,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    pub tables: Vec<TableEntry>,
    /// The last id each table's id sequence handed out.
    #[serde(default)]
    pub sequences: BTreeMap<String, i64>,
    /// The newest event id: streams may resume from it, and new events come after it.
    pub last_event_id: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TableEntry {
    pub name: String,
    pub file: String,
    pub rows: u64,
    pub columns: Vec<String>,
}

fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// `causerie backup PATH`: a consistent copy of the SQLite database, while it serves, into a
/// new file. Returns the copy's size in bytes.
pub fn backup(url: &DatabaseUrl, dest: &Path) -> anyhow::Result<u64> {
    if url.backend == Backend::Postgres {
        bail!(
            "backup copies a SQLite database; this one is PostgreSQL: use pg_dump \
             (e.g. `pg_dump --format=custom --file=causerie.pgdump DBNAME`), \
             or `causerie export DIR` for a copy that either backend can import"
        );
    }
    let source = Path::new(&url.target);
    if !source.is_file() {
        bail!("there is no SQLite database at {}", source.display());
    }
    if dest.symlink_metadata().is_ok() {
        bail!("{} already exists: backup never overwrites a file; choose a new path", dest.display());
    }
    let name = dest.file_name().with_context(|| format!("{} is not a file path", dest.display()))?;
    let partial = dest.with_file_name(format!(".{}.partial-{}", name.to_string_lossy(), std::process::id()));
    let _ = std::fs::remove_file(&partial);
    let copied = dump::sqlite_copy(&url.target, &partial).and_then(|()| dump::sqlite_check(&partial));
    if let Err(error) = copied {
        let _ = std::fs::remove_file(&partial);
        return Err(error);
    }
    // A hard link never replaces a file that appeared meanwhile.
    let linked = std::fs::hard_link(&partial, dest);
    let _ = std::fs::remove_file(&partial);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("{} already exists: backup never overwrites a file; choose a new path", dest.display())
        }
        Err(e) => return Err(e).with_context(|| format!("writing {}", dest.display())),
    }
    Ok(std::fs::metadata(dest)?.len())
}

/// Creates `dir` (or takes it when empty), readable by its owner only: it holds password
/// and token hashes. True when it was created.
fn prepare_export_dir(dir: &Path) -> anyhow::Result<bool> {
    let created = match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!("{} is not empty: export writes into a new or empty folder", dir.display());
            }
            false
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            true
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", dir.display()))?;
    }
    Ok(created)
}

fn create_private(path: &Path) -> anyhow::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).with_context(|| format!("creating {}", path.display()))
}

/// `causerie export DIR`: every table from one snapshot of the database. An export that
/// fails removes what it wrote.
pub fn export(settings: &Settings, dir: &Path) -> anyhow::Result<Manifest> {
    let created = prepare_export_dir(dir)?;
    let written = write_export(settings, dir);
    if written.is_err() {
        for table in TABLES {
            let _ = std::fs::remove_file(dir.join(format!("{table}.jsonl")));
        }
        let _ = std::fs::remove_file(dir.join(format!(".{MANIFEST}.partial")));
        if created {
            let _ = std::fs::remove_dir(dir);
        }
    }
    written
}

fn write_export(settings: &Settings, dir: &Path) -> anyhow::Result<Manifest> {
    let db = settings.open_database(1)?;
    let mut conn = db.get()?;
    let backend = db.backend();
    let mut manifest = dump::snapshot(&mut conn, |conn| {
        let mut tables = Vec::new();
        for table in TABLES {
            let columns = dump::columns(conn, table).with_context(|| format!("reading the columns of {table}"))?;
            if columns.is_empty() {
                bail!("the database has no table {table}");
            }
            let file = format!("{table}.jsonl");
            let path = dir.join(&file);
            let handle = create_private(&path)?;
            let mut out = BufWriter::new(handle);
            let rows = dump::each_row(conn, table, &columns, |line| -> anyhow::Result<()> {
                out.write_all(line.as_bytes())?;
                out.write_all(b"\n")?;
                Ok(())
            })
            .with_context(|| format!("reading {table}"))?;
            let handle = out.into_inner().map_err(|e| e.into_error()).with_context(|| format!("writing {file}"))?;
            handle.sync_all().with_context(|| format!("writing {file}"))?;
            tables.push(TableEntry {
                name: (*table).to_owned(),
                file,
                rows,
                columns: columns.into_iter().map(|c| c.name).collect(),
            });
        }
        Ok(Manifest {
            format: FORMAT.into(),
            version: VERSION,
            causerie: env!("CARGO_PKG_VERSION").into(),
            source: backend_name(backend).into(),
            created_at: now_micros(),
            tables,
            sequences: dump::sequences(conn).context("reading the id sequences")?,
            last_event_id: dump::last_event_id(conn).context("reading the event log's bounds")?,
        })
    })?;
    manifest.created_at = now_micros();
    let text = serde_json::to_string_pretty(&manifest)?;
    let partial = dir.join(format!(".{MANIFEST}.partial"));
    let mut handle = create_private(&partial)?;
    handle.write_all(text.as_bytes())?;
    handle.write_all(b"\n")?;
    handle.sync_all()?;
    std::fs::rename(&partial, dir.join(MANIFEST)).context("writing the manifest")?;
    if let Ok(folder) = File::open(dir) {
        let _ = folder.sync_all();
    }
    Ok(manifest)
}

/// Reads and checks `DIR/manifest.json`.
pub fn read_manifest(dir: &Path) -> anyhow::Result<Manifest> {
    let path = dir.join(MANIFEST);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{} has no {MANIFEST}: not a finished export of `causerie export` (the manifest is written last)",
            dir.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let manifest: Manifest =
        serde_json::from_str(&text).with_context(|| format!("{} is not a causerie export manifest", path.display()))?;
    if manifest.format != FORMAT {
        bail!("{}: format {:?}, expected {FORMAT:?}", path.display(), manifest.format);
    }
    if manifest.version != VERSION {
        bail!(
            "{}: export format version {} (this causerie reads version {VERSION}); use the causerie that made it",
            path.display(),
            manifest.version
        );
    }
    let mut seen = HashSet::new();
    for table in &manifest.tables {
        if !TABLES.contains(&table.name.as_str()) {
            bail!("{}: unknown table {:?} (this causerie knows {})", path.display(), table.name, TABLES.join(", "));
        }
        if !seen.insert(table.name.as_str()) {
            bail!("{}: table {} is listed twice", path.display(), table.name);
        }
        if table.file != format!("{}.jsonl", table.name) {
            bail!("{}: table {} must be in {}.jsonl, not {:?}", path.display(), table.name, table.name, table.file);
        }
        let mut columns = HashSet::new();
        for column in &table.columns {
            if column.is_empty() || !columns.insert(column.as_str()) {
                bail!("{}: table {} has an empty or repeated column {:?}", path.display(), table.name, column);
            }
        }
    }
    Ok(manifest)
}

/// Reads `table`'s file line by line, checking each: a JSON object of the manifest's
/// columns holding plain values. Calls `each` with every line; returns the count.
fn read_rows(dir: &Path, table: &TableEntry, mut each: impl FnMut(&str) -> anyhow::Result<()>) -> anyhow::Result<u64> {
    let path = dir.join(&table.file);
    let file = File::open(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut reader = BufReader::new(file);
    let columns: HashSet<&str> = table.columns.iter().map(String::as_str).collect();
    let mut line = String::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_line(&mut line)
            .with_context(|| format!("{}: line {} is not UTF-8 text", table.file, number + 1))?;
        if read == 0 {
            break;
        }
        number += 1;
        if line.len() > MAX_LINE {
            bail!("{}: line {number} is longer than {MAX_LINE} bytes", table.file);
        }
        let text = line.trim_end_matches(['\n', '\r']);
        let value: serde_json::Value =
            serde_json::from_str(text).with_context(|| format!("{}: line {number} is not valid JSON", table.file))?;
        let serde_json::Value::Object(object) = &value else {
            bail!("{}: line {number} is not a JSON object", table.file);
        };
        for (key, value) in object {
            if !columns.contains(key.as_str()) {
                bail!("{}: line {number} has a column {key:?} the manifest does not list", table.file);
            }
            if value.is_array() || value.is_object() {
                bail!("{}: line {number}: column {key} holds a list or an object", table.file);
            }
        }
        each(text)?;
    }
    if number != table.rows {
        bail!("{}: {number} rows, the manifest says {}", table.file, table.rows);
    }
    Ok(number)
}

/// `causerie import DIR`: the export into this (empty) database, in one transaction.
/// Returns the rows inserted per table.
pub fn import(settings: &Settings, dir: &Path) -> anyhow::Result<Vec<(String, u64)>> {
    let manifest = read_manifest(dir)?;
    // The whole export is read once before the database is opened: a damaged one leaves
    // no trace, not even an empty database file.
    for table in &manifest.tables {
        read_rows(dir, table, |_| Ok(()))?;
    }
    let db = settings.open_database(1)?;
    let mut conn = db.get()?;
    dump::all_or_nothing(&mut conn, |conn| {
        for table in TABLES {
            if dump::has_rows(conn, table).with_context(|| format!("reading {table}"))? {
                bail!(
                    "the database is not empty (table {table} has rows): import only into a new database; \
                     nothing was changed"
                );
            }
        }
        let mut counts = Vec::new();
        for name in TABLES {
            let Some(table) = manifest.tables.iter().find(|t| t.name == *name) else { continue };
            let present: HashSet<String> = dump::columns(conn, name)
                .with_context(|| format!("reading the columns of {name}"))?
                .into_iter()
                .map(|c| c.name)
                .collect();
            if let Some(missing) = table.columns.iter().find(|c| !present.contains(*c)) {
                bail!("{}: column {missing:?} does not exist in this database's {name}", table.file);
            }
            dump::clear(conn, name).with_context(|| format!("clearing {name}"))?;
            let mut batch = String::from("[");
            let mut in_batch = 0usize;
            let mut inserted = 0u64;
            let flush = |conn: &mut crate::store::DbConn, batch: &mut String, in_batch: &mut usize| {
                if *in_batch == 0 {
                    return anyhow::Ok(0u64);
                }
                batch.push(']');
                let n = dump::insert_rows(conn, name, &table.columns, batch)
                    .with_context(|| format!("inserting into {name}"))?;
                batch.clear();
                batch.push('[');
                *in_batch = 0;
                Ok(n as u64)
            };
            read_rows(dir, table, |line| {
                if in_batch > 0 {
                    batch.push(',');
                }
                batch.push_str(line);
                in_batch += 1;
                if in_batch >= dump::BATCH || batch.len() > 4 * 1024 * 1024 {
                    inserted += flush(conn, &mut batch, &mut in_batch)?;
                }
                Ok(())
            })?;
            inserted += flush(conn, &mut batch, &mut in_batch)?;
            if inserted != table.rows {
                bail!("{}: {inserted} rows stored, the manifest says {}", table.file, table.rows);
            }
            counts.push((name.to_string(), inserted));
        }
        // Last: PostgreSQL's sequences do not roll back with the transaction.
        dump::continue_events(conn, manifest.last_event_id).context("continuing the event ids")?;
        for name in TABLES {
            dump::continue_sequence(conn, name, manifest.sequences.get(*name).copied().unwrap_or(0))
                .with_context(|| format!("continuing the ids of {name}"))?;
        }
        Ok(counts)
    })
}
