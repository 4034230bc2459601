//! A minimal blocking HTTP/1.0 client for talking to a peer on loopback (plain or TLS).
//!
//! One request per connection (`Connection: close`), the response read to EOF. Enough for the
//! few admin calls the harness makes; the code under test uses its own client.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;

/// How long one admin call may take before it fails.
const IO_TIMEOUT: Duration = Duration::from_secs(15);

/// A response: status code and body.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: String,
}

/// Sends one request and reads the whole response.
pub(crate) fn request(
    addr: SocketAddr,
    tls: Option<&Arc<rustls::ClientConfig>>,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> std::io::Result<Response> {
    let body = body.unwrap_or("");
    let mut headers = Vec::new();
    if let Some(token) = token {
        headers.push(("X-Vault-Token", token));
    }
    if !body.is_empty() {
        headers.push(("Content-Type", "application/json"));
    }
    send(addr, tls, method, path, &headers, body.as_bytes())
}

/// Sends one request with `headers` (besides `Host`, `Connection` and `Content-Length`) and
/// reads the whole response.
pub(crate) fn send(
    addr: SocketAddr,
    tls: Option<&Arc<rustls::ClientConfig>>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let tcp = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    tcp.set_read_timeout(Some(IO_TIMEOUT))?;
    tcp.set_write_timeout(Some(IO_TIMEOUT))?;

    let mut head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body);

    let raw = match tls {
        None => exchange(tcp, &request)?,
        Some(config) => {
            let name = ServerName::IpAddress(addr.ip().into());
            let conn = rustls::ClientConnection::new(Arc::clone(config), name)
                .map_err(std::io::Error::other)?;
            exchange(rustls::StreamOwned::new(conn, tcp), &request)?
        }
    };
    parse(&raw)
}

fn exchange(mut stream: impl Read + Write, request: &[u8]) -> std::io::Result<Vec<u8>> {
    stream.write_all(request)?;
    stream.flush()?;
    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw) {
        Ok(_) => Ok(raw),
        // A TLS peer that closes without close_notify: keep what was read.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => Ok(raw),
        Err(e) => Err(e),
    }
}

fn parse(raw: &[u8]) -> std::io::Result<Response> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of HTTP header"))?;
    let head = std::str::from_utf8(raw.get(..split).unwrap_or_default())
        .map_err(|_| bad("HTTP header is not UTF-8"))?;
    let status = head
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| bad("no HTTP status line"))?;
    let body = raw.get(split + 4..).unwrap_or_default();
    Ok(Response {
        status,
        body: String::from_utf8_lossy(body).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_body() {
        let r = parse(b"HTTP/1.1 204 No Content\r\ndate: x\r\n\r\n").unwrap();
        assert_eq!((r.status, r.body.as_str()), (204, ""));
        let r = parse(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "{}"));
        assert!(parse(b"garbage").is_err());
    }
}
