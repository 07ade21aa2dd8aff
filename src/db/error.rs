//! Database errors classified where they arise, by the code the database
//! itself reports: out of space (507 to the client), text it cannot hold (the
//! request's fault, 400), or anything else that failed (503).

use sea_orm::{DbErr, RuntimeErr};

use crate::error::{Error, chain};

/// SQLite's primary result code for "database or disk is full".
const SQLITE_FULL: i64 = 13;

impl From<DbErr> for Error {
    fn from(e: DbErr) -> Self {
        let code = sqlstate(&e);
        let detail = chain(&e);
        match code.as_deref() {
            // PostgreSQL stores no NUL character (22021) nor what its
            // encoding cannot hold (22P05): the request's text, not an outage.
            Some("22021" | "22P05") => Error::IllegalArgument(format!(
                "the request carries text the database cannot hold, such as a NUL character ({detail})"
            )),
            // PostgreSQL's disk_full.
            Some("53100") => Error::DatabaseFull(detail),
            Some(code) if is_sqlite(&e) && sqlite_primary(code) == Some(SQLITE_FULL) => {
                Error::DatabaseFull(detail)
            }
            _ => Error::DatabaseUnavailable(detail),
        }
    }
}

/// The code of a database error, when the driver reported one: a SQLSTATE
/// for PostgreSQL, an (extended) result code for SQLite.
fn sqlstate(e: &DbErr) -> Option<String> {
    let (DbErr::Conn(rt) | DbErr::Exec(rt) | DbErr::Query(rt)) = e else {
        return None;
    };
    match rt {
        RuntimeErr::SqlxError(sqlx) => sqlx
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned()),
        _ => None,
    }
}

fn is_sqlite(e: &DbErr) -> bool {
    let (DbErr::Conn(rt) | DbErr::Exec(rt) | DbErr::Query(rt)) = e else {
        return false;
    };
    matches!(rt, RuntimeErr::SqlxError(sqlx)
        if sqlx.as_database_error().is_some_and(|d| d.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>().is_some()))
}

/// An extended SQLite result code's primary code (its low byte).
fn sqlite_primary(code: &str) -> Option<i64> {
    code.parse::<i64>().ok().map(|c| c & 0xff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_codes_have_their_primary() {
        assert_eq!(sqlite_primary("13"), Some(SQLITE_FULL));
        assert_eq!(sqlite_primary("778"), Some(10)); // SQLITE_IOERR_WRITE
        assert_eq!(sqlite_primary("23505"), Some(23505 & 0xff));
    }

    #[test]
    fn outages_are_unavailable() {
        let e = Error::from(DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout));
        assert!(matches!(e, Error::DatabaseUnavailable(_)), "{e:?}");
        // Words are not a code: only the database's own code says "full".
        let e = Error::from(DbErr::Custom("database or disk is full".into()));
        assert!(matches!(e, Error::DatabaseUnavailable(_)), "{e:?}");
    }
}
