//! A loopback proxy in front of a real registry: requests are forwarded
//! to it and its answers passed back, as the test's handler decides. Registries' own rate-limit headers (`ratelimit-*`, as Docker Hub
//! sends them) and 429s are played this way on top of real answers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use super::fake_http::{FakeServer, Reply, Request};

pub struct RegistryProxy {
    server: FakeServer,
}

impl RegistryProxy {
    /// A proxy of `upstream` (`host:port`). `handle` answers each request;
    /// the function it is given forwards the request and returns the
    /// registry's answer, which `handle` may change (or not ask for).
    pub fn start(
        upstream: String,
        handle: impl Fn(&Request, &dyn Fn() -> Reply) -> Reply + Send + Sync + 'static,
    ) -> RegistryProxy {
        let server =
            FakeServer::start(move |request| handle(request, &|| forward(&upstream, request)));
        RegistryProxy { server }
    }

    /// `127.0.0.1:PORT`, the host images are named with.
    pub fn host(&self) -> String {
        self.server.host()
    }

    /// Every request the proxy received, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.server.requests()
    }
}

/// Sends `request` to `upstream` over a fresh connection and reads the
/// whole answer (`Content-Length` or chunked).
fn forward(upstream: &str, request: &Request) -> Reply {
    let mut stream = TcpStream::connect(upstream).expect("connect to the registry");
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {upstream}\r\nConnection: close\r\n",
        request.method, request.target
    );
    for name in ["accept", "authorization"] {
        if let Some(value) = request.header(name) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .expect("write to the registry");
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).expect("status line");
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let mut reply = Reply::new(status);
    let mut length = None;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header line");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "content-length" => length = value.parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => {}
            _ => reply = reply.header(&name, value),
        }
    }
    let mut body = Vec::new();
    if request.method == "HEAD" {
        // No body, whatever Content-Length says.
    } else if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).expect("chunk size");
            let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).expect("chunk");
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        reader.read_exact(&mut body).expect("body");
    } else {
        reader.read_to_end(&mut body).expect("body");
    }
    reply.body(String::from_utf8(body).expect("a UTF-8 answer"))
}
