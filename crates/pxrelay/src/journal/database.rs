//! Where the journal lives ([`Database`], read from `DATABASE_URL` by `crate::config`), and how it is shown to a
//! person without its password.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

/// Where the journal lives.
#[derive(Clone, Debug)]
pub enum Database {
    /// A SQLite file (one process at a time: an exclusive lock file keeps a second one out).
    Sqlite(PathBuf),
    /// A PostgreSQL database URL (secret: it carries the password). Many processes share it; one leads (issue 14).
    Postgres(SecretString),
}

impl Database {
    /// The SQLite file, if the journal is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Self::Sqlite(path) => Some(path),
            Self::Postgres(_) => None,
        }
    }

    /// What to show a person: the file, or `postgres://host:port/db` without the user, password and options.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(path) => path.display().to_string(),
            Self::Postgres(url) => describe_postgres(url.expose_secret()),
        }
    }
}

/// `postgres://host:port/db` from a Postgres URL: never the user, the password or the options.
pub(crate) fn describe_postgres(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!("postgres://{}:{}{}", u.host_str().unwrap_or("?"), u.port().unwrap_or(5432), u.path()),
        Err(_) => "postgres://(unreadable URL)".to_owned(),
    }
}
