//! A loopback HTTP proxy in front of a [`TestRegistry`](super::TestRegistry),
//! for a registry that is far away or busy: each request is forwarded as
//! it came (method, path, headers with `Host`, body), and its answer
//! leaves `delay` after the request arrived. The proxy counts the requests
//! it forwarded per path, and [`DelayProxy::hold`] keeps the answers to
//! matching requests back until released (the request itself has reached
//! the registry, so a held answer tells what the registry had then).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

struct State {
    upstream: String,
    delay: Duration,
    http: reqwest::Client,
    /// Requests forwarded so far, by path (without the query).
    requests: Mutex<HashMap<String, usize>>,
    /// While set, answers to requests whose path contains the string wait.
    hold: Mutex<Option<String>>,
    released: tokio::sync::Notify,
    /// Requests whose answer is being held now.
    held: Mutex<usize>,
}

/// The proxy; stops when dropped.
pub struct DelayProxy {
    port: u16,
    state: Arc<State>,
    handle: actix_web::dev::ServerHandle,
}

/// Answers to matching requests wait while this lives, or until
/// [`Hold::release`].
pub struct Hold {
    state: Arc<State>,
}

impl Hold {
    /// Lets the held answers (and every later one) go.
    pub fn release(self) {}

    /// How many answers are held back now.
    pub fn held(&self) -> usize {
        *self.state.held.lock().unwrap()
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        *self.state.hold.lock().unwrap() = None;
        self.state.released.notify_waiters();
    }
}

impl DelayProxy {
    /// Proxies to `upstream` (`host:port`) from a free loopback port; every
    /// answer leaves at least `delay` after its request arrived.
    pub async fn start(upstream: &str, delay: Duration) -> DelayProxy {
        let state = Arc::new(State {
            upstream: upstream.to_string(),
            delay,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(64)
                .build()
                .expect("proxy client"),
            requests: Mutex::default(),
            hold: Mutex::default(),
            released: tokio::sync::Notify::new(),
            held: Mutex::new(0),
        });
        let port = super::free_port();
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(64 << 20))
                .default_service(web::to(forward))
        })
        .workers(2)
        .disable_signals()
        .bind(("127.0.0.1", port))
        .expect("bind the proxy")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        let proxy = DelayProxy {
            port,
            state,
            handle,
        };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client
                .get(format!("http://{}/v2/", proxy.host()))
                .send()
                .await
                .is_ok()
            {
                return proxy;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the delaying proxy did not answer");
    }

    /// `127.0.0.1:PORT`: the registry host as clients behind the proxy
    /// name it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Requests forwarded so far whose path contains `needle`.
    pub fn requests(&self, needle: &str) -> usize {
        let requests = self.state.requests.lock().unwrap();
        requests
            .iter()
            .filter(|(path, _)| path.contains(needle))
            .map(|(_, n)| n)
            .sum()
    }

    /// Holds back the answers to requests whose path contains `needle`
    /// until the returned [`Hold`] is released or dropped.
    pub fn hold(&self, needle: &str) -> Hold {
        *self.state.hold.lock().unwrap() = Some(needle.to_string());
        Hold {
            state: self.state.clone(),
        }
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        *self.state.hold.lock().unwrap() = None;
        self.state.released.notify_waiters();
        drop(self.handle.stop(false));
    }
}

async fn forward(request: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let arrived = Instant::now();
    let path = request.uri().path().to_string();
    *state
        .requests
        .lock()
        .unwrap()
        .entry(path.clone())
        .or_default() += 1;
    let target = format!(
        "http://{}{}",
        state.upstream,
        request
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let method =
        reqwest::Method::from_bytes(request.method().as_str().as_bytes()).expect("an HTTP method");
    let mut out = state.http.request(method, &target).body(body.to_vec());
    for (name, value) in request.headers() {
        if !hop_by_hop(name.as_str()) {
            out = out.header(name.as_str(), value.as_bytes());
        }
    }
    let answer = match out.send().await {
        Ok(answer) => answer,
        Err(e) => return HttpResponse::BadGateway().body(format!("upstream: {e}")),
    };
    let status = answer.status().as_u16();
    let headers: Vec<(String, Vec<u8>)> = answer
        .headers()
        .iter()
        .filter(|(name, _)| !hop_by_hop(name.as_str()))
        .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
        .collect();
    let bytes = answer.bytes().await.unwrap_or_default();
    wait_while_held(&state, &path).await;
    if let Some(rest) = state.delay.checked_sub(arrived.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    let mut reply =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("a status code"));
    for (name, value) in headers {
        reply.append_header((name, value));
    }
    reply.body(bytes)
}

async fn wait_while_held(state: &State, path: &str) {
    let holds = |state: &State| {
        state
            .hold
            .lock()
            .unwrap()
            .as_deref()
            .is_some_and(|needle| path.contains(needle))
    };
    if !holds(state) {
        return;
    }
    *state.held.lock().unwrap() += 1;
    loop {
        let released = state.released.notified();
        if !holds(state) {
            break;
        }
        released.await;
    }
    *state.held.lock().unwrap() -= 1;
}

fn hop_by_hop(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "connection" | "keep-alive" | "transfer-encoding" | "content-length" | "upgrade"
    )
}
