//! The HTTP server: `/healthz` for now (webhooks arrive in part 3).

pub mod hooks;

use actix_web::{App, HttpResponse, HttpServer, web};

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// Binds `listen` and returns the running server (await it to serve).
pub fn start(listen: &str) -> anyhow::Result<actix_web::dev::Server> {
    let server = HttpServer::new(|| App::new().route("/healthz", web::get().to(healthz)))
        .workers(1)
        .disable_signals()
        .bind(listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?
        .run();
    Ok(server)
}
