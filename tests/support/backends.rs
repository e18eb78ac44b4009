//! One behaviour, both stores: a [`Store`] on SQLite (in a temp dir, whose
//! parent directory the store creates) or on a fresh Postgres database
//! ([`super::postgres::with_fresh_database`]), and a connection of its own
//! to look into it. `both!(name)` runs `async fn name(db: Backend)` as
//! `name::sqlite` and `name::postgres`.

use std::future::Future;

use imagebump::store::Store;
use sqlx::{AssertSqlSafe, PgPool, SqlitePool};

/// A store under test and the URL it was opened with.
pub struct Backend {
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl Backend {
    /// The store at `url` (a database the test made and owns, e.g. one a
    /// service under test wrote to), opened afresh.
    pub async fn open(url: &str) -> Backend {
        let store = Store::open(url)
            .await
            .unwrap_or_else(|e| panic!("opening the store: {e:#}"));
        Backend {
            store,
            url: url.to_owned(),
            _dir: None,
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }

    /// Runs `sql` (several statements allowed) on a connection of its own.
    pub async fn raw(&self, sql: &str) {
        let sql = AssertSqlSafe(sql.to_owned());
        if self.is_postgres() {
            let pool = PgPool::connect(&self.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&pool).await.unwrap();
            pool.close().await;
        } else {
            let pool = SqlitePool::connect(&self.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }

    /// The rows of a `SELECT`, on a connection of its own.
    pub async fn rows<T>(&self, sql: &str) -> Vec<T>
    where
        T: Send
            + Unpin
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>,
    {
        let sql = AssertSqlSafe(sql.to_owned());
        if self.is_postgres() {
            let pool = PgPool::connect(&self.url).await.unwrap();
            let rows = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows
        } else {
            let pool = SqlitePool::connect(&self.url).await.unwrap();
            let rows = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows
        }
    }

    /// Rows in `table`.
    pub async fn count(&self, table: &str) -> i64 {
        let rows: Vec<(i64,)> = self.rows(&format!("SELECT COUNT(*) FROM {table}")).await;
        rows[0].0
    }
}

pub async fn run_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Backend) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    // A missing parent directory is created too.
    let url = format!("sqlite://{}/data/imagebump.db", dir.path().display());
    let store = Store::open(&url).await.unwrap();
    test(Backend {
        store,
        url,
        _dir: Some(dir),
    })
    .await;
}

pub async fn run_postgres<F, Fut>(test: F)
where
    F: FnOnce(Backend) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    super::postgres::with_fresh_database(|db| async move {
        let store = Store::open(&db.url)
            .await
            .unwrap_or_else(|e| panic!("opening {}: {e:#}", db.url));
        test(Backend {
            store,
            url: db.url,
            _dir: None,
        })
        .await
    })
    .await
}

/// `both!(name)`: `name::sqlite` and `name::postgres`, each running
/// `async fn name(db: Backend)` on its backend.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                $crate::support::backends::run_sqlite(super::$name).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                $crate::support::backends::run_postgres(super::$name).await
            }
        }
    };
}
