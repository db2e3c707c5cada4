//! `DATABASE_URL` → where the journal lives: a SQLite file (`sqlite://path`, `sqlite:path` or a plain path) or a
//! PostgreSQL database (`postgres://` or `postgresql://`, as Railway's Postgres plugin sets it; issue 14). Any other
//! URL is a configuration problem, not a relative path to create folders under. Problems never repeat the value:
//! such URLs carry a password.

use std::path::PathBuf;

use secrecy::SecretString;

pub use crate::journal::Database;

const ACCEPTED: &str =
    "use `postgres://user:password@host:port/db`, `sqlite://path`, `sqlite:path` or a plain file path";

/// `DATABASE_URL`'s text → [`Database`]: a Postgres URL (checked to parse, with a host and a database name), or a
/// SQLite file as [`journal_path`] reads it.
pub(super) fn database(text: &str) -> Result<Database, String> {
    match url_scheme(text) {
        Some(scheme) if scheme.eq_ignore_ascii_case("postgres") || scheme.eq_ignore_ascii_case("postgresql") => {
            let parsed = url::Url::parse(text).map_err(|_| {
                format!("the Postgres URL does not parse (the value is not shown: it holds a password); {ACCEPTED}")
            })?;
            if parsed.host_str().is_none_or(str::is_empty) || parsed.path().trim_start_matches('/').is_empty() {
                return Err(format!("the Postgres URL needs a host and a database name; {ACCEPTED}"));
            }
            Ok(Database::Postgres(SecretString::from(text.to_owned())))
        }
        _ => journal_path(text).map(Database::Sqlite),
    }
}

/// `sqlite://path`, `sqlite:path` (scheme in any case) or a plain file path → the journal file. Anything else
/// shaped like a URL (`scheme:` with a scheme of two or more characters; one letter is a Windows drive such as
/// `C:\data`) is refused: the error says why and lists the accepted forms (the caller adds the variable's name).
pub(super) fn journal_path(text: &str) -> Result<PathBuf, String> {
    let Some(scheme) = url_scheme(text) else {
        return Ok(PathBuf::from(text));
    };
    let rest = &text[scheme.len() + 1..];
    if !scheme.eq_ignore_ascii_case("sqlite") {
        // Only the scheme is shown, and only when it is clearly one (`x://`): in `user:password@host` the part before
        // the colon is a user name.
        let what = if rest.starts_with("//") { format!("a `{scheme}://` URL") } else { "a URL".to_owned() };
        return Err(format!("{what} is not supported: pxrelay keeps its journal in PostgreSQL or SQLite; {ACCEPTED}"));
    }
    let path = rest.strip_prefix("//").unwrap_or(rest);
    if path.contains('?') {
        return Err(format!("options after `?` are not supported; {ACCEPTED}"));
    }
    if path.is_empty() || path == ":memory:" {
        return Err(format!("names no file; the journal must be a file so alert ids survive a restart; {ACCEPTED}"));
    }
    Ok(PathBuf::from(path))
}

/// The scheme of a URL-shaped value (RFC 3986: a letter, then letters, digits, `+`, `-` or `.`, then `:`), if it
/// has one longer than a Windows drive letter.
fn url_scheme(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once(':')?;
    let mut chars = scheme.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let valid = starts_with_letter && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (valid && scheme.len() > 1).then_some(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_and_plain_paths_name_the_journal_file() {
        for (text, path) in [
            ("sqlite://./data/x.db", "./data/x.db"),
            ("sqlite:///data/x.db", "/data/x.db"),
            ("sqlite:x.db", "x.db"),
            ("SQLite://x.db", "x.db"),
            ("/data/x.db", "/data/x.db"),
            ("./data/pxrelay.db", "./data/pxrelay.db"),
            ("pxrelay.db", "pxrelay.db"),
            (r"C:\data\x.db", r"C:\data\x.db"),
            ("C:/data/x.db", "C:/data/x.db"),
        ] {
            assert_eq!(journal_path(text), Ok(PathBuf::from(path)), "{text}");
        }
    }

    #[test]
    fn postgres_urls_name_a_postgres_journal_shown_without_user_or_password() {
        for (text, shown) in [
            ("postgres://user:pw-DO-NOT-LEAK@host:5432/db", "postgres://host:5432/db"),
            (
                "postgresql://user:pw-DO-NOT-LEAK@db.internal/railway?sslmode=require",
                "postgres://db.internal:5432/railway",
            ),
        ] {
            let db = database(text).unwrap();
            assert!(matches!(db, Database::Postgres(_)), "{text}");
            assert_eq!(db.describe(), shown);
            assert!(!format!("{db:?}").contains("DO-NOT-LEAK"), "Debug hides the URL");
        }
        for text in ["postgres://user:pw-DO-NOT-LEAK@/db", "postgres://user:pw-DO-NOT-LEAK@host", "postgres://h:x/db"] {
            let problem = database(text).unwrap_err();
            assert!(problem.contains("postgres://user:password@host:port/db"), "{problem}");
            assert!(!problem.contains("DO-NOT-LEAK"), "{problem}");
        }
        assert!(matches!(database("./data/x.db").unwrap(), Database::Sqlite(_)));
    }

    #[test]
    fn other_urls_are_refused_without_showing_the_password() {
        for text in ["mysql://root:pw-DO-NOT-LEAK@db/x", "file:///data/x.db", "user:pw-DO-NOT-LEAK@host/db"] {
            let problem = journal_path(text).unwrap_err();
            assert!(problem.contains("`sqlite://path`, `sqlite:path` or a plain file path"), "{problem}");
            // Neither the password nor the user name (`root`, or `user` before the colon of the last one) is shown.
            let shown = problem.replace("postgres://user:password@host:port/db", "");
            assert!(!shown.contains("DO-NOT-LEAK") && !shown.contains("root") && !shown.contains("user"), "{problem}");
        }
        assert!(journal_path("mysql://u:p@h/db").unwrap_err().contains("a `mysql://` URL is not supported"));
    }

    #[test]
    fn sqlite_urls_without_a_file_or_with_options_are_refused() {
        for text in ["sqlite://", "sqlite:", "sqlite::memory:", "sqlite://x.db?mode=rwc"] {
            let problem = journal_path(text).unwrap_err();
            assert!(problem.contains("`sqlite://path`, `sqlite:path` or a plain file path"), "{text}: {problem}");
        }
    }
}
