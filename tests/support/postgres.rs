//! A fresh Postgres database per test, on 127.0.0.1:5432 or the admin URL
//! in `IMAGEBUMP_TEST_POSTGRES`. Postgres being unreachable fails the test;
//! it never skips it.

use std::future::Future;

use sqlx::{AssertSqlSafe, PgPool};

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The admin URL the test databases are created through.
pub fn admin_url() -> String {
    std::env::var("IMAGEBUMP_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// A fresh database of one test (see [`with_fresh_database`]).
pub struct TestDb {
    /// Connection URL of the database.
    pub url: String,
    /// Its name, as SQL on the admin connection refers to it.
    pub name: String,
    /// A pool on the admin database (not on this one).
    pub admin: PgPool,
}

impl TestDb {
    /// Runs `sql` on the admin connection (e.g. to terminate backends or
    /// forbid connections to this database).
    pub async fn admin(&self, sql: String) {
        sqlx::query(AssertSqlSafe(sql))
            .execute(&self.admin)
            .await
            .unwrap();
    }
}

/// Creates a database with a random name, runs `test` on it in a task of
/// its own and drops the database afterwards (`WITH (FORCE)`), also when the
/// test panics: the panic is then re-raised. Panics, naming the admin URL,
/// when Postgres cannot be reached.
pub async fn with_fresh_database<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let admin_url = admin_url();
    let admin = PgPool::connect(&admin_url).await.unwrap_or_else(|e| {
        panic!(
            "these tests need Postgres at {admin_url} (set IMAGEBUMP_TEST_POSTGRES to another \
             admin URL); connecting failed: {e}"
        )
    });
    let name = format!("imagebump_test_{:016x}", rand::random::<u64>());
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    let db = TestDb {
        url,
        name: name.clone(),
        admin: admin.clone(),
    };
    let outcome = tokio::spawn(test(db)).await;
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .unwrap();
    admin.close().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
