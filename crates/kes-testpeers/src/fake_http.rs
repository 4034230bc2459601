//! A tiny loopback HTTP/1.1 server for the fakes of vendor APIs that cannot run here.
//!
//! One request per connection (`Connection: close`), enough for REST fakes written from a
//! vendor's public API reference. Each backend crate's tests build their fake on [`serve`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A request as the fake server saw it.
#[derive(Debug, Clone)]
pub struct FakeRequest {
    /// The request method, e.g. `POST`.
    pub method: String,
    /// The request target as sent (path and query).
    pub path: String,
    /// Header names lower-cased.
    pub headers: HashMap<String, String>,
    /// The body, read up to `Content-Length`.
    pub body: Vec<u8>,
}

/// An answer of a fake.
#[derive(Debug, Clone)]
pub struct FakeResponse {
    /// The HTTP status code.
    pub status: u16,
    /// Extra response headers (`Content-Length` and `Connection` are always sent).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl FakeResponse {
    /// An answer with `status` and `body`.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        FakeResponse {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Adds a response header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

type Handler = dyn Fn(FakeRequest) -> std::pin::Pin<Box<dyn std::future::Future<Output = FakeResponse> + Send>>
    + Send
    + Sync;

/// Serves `handler` on a free loopback port, one request per connection, until the runtime
/// ends. Returns the address.
///
/// # Panics
/// When no loopback port can be bound (a broken test machine, not a test failure to handle).
#[allow(clippy::expect_used)]
pub async fn serve<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(FakeRequest) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = FakeResponse> + Send + 'static,
{
    let handler: Arc<Handler> = Arc::new(move |r| Box::pin(handler(r)));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port for a fake server");
    let addr = listener
        .local_addr()
        .expect("local address of a bound listener");
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let handler = Arc::clone(&handler);
            tokio::spawn(async move {
                let Some(request) = read_request(&mut conn).await else {
                    return;
                };
                let response = handler(request).await;
                let mut head = format!(
                    "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    response.status,
                    response.body.len()
                );
                for (k, v) in &response.headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(&response.body).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    addr
}

async fn read_request(conn: &mut tokio::net::TcpStream) -> Option<FakeRequest> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let path = first.next()?.to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(FakeRequest {
        method,
        path,
        headers,
        body,
    })
}
