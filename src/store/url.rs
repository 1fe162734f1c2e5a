//! `CAUSERIE_DATABASE_URL`: which backend, and what its driver takes.

use super::Backend;

/// Where the database lives, parsed from `CAUSERIE_DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    pub backend: Backend,
    /// What the backend's driver takes: a libpq URL or an SQLite file path.
    pub target: String,
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self { backend: Backend::Postgres, target: url.to_owned() });
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| format!("expected sqlite://PATH or postgres://…, got {url:?}"))?;
        if path.is_empty() {
            return Err("the SQLite path is empty".into());
        }
        Ok(Self { backend: Backend::Sqlite, target: path.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_select_the_backend() {
        let sqlite = DatabaseUrl::parse("sqlite://causerie.db").unwrap();
        assert_eq!(sqlite.backend, Backend::Sqlite);
        assert_eq!(sqlite.target, "causerie.db");
        let abs = DatabaseUrl::parse("sqlite:///tmp/x.db").unwrap();
        assert_eq!(abs.target, "/tmp/x.db");
        let pg = DatabaseUrl::parse("postgres://u@localhost/db").unwrap();
        assert_eq!(pg.backend, Backend::Postgres);
        assert!(DatabaseUrl::parse("mysql://x").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }
}
