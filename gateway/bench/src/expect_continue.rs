//! A hand-written HTTP/1.1 PUT with `Expect: 100-continue`, for the `reupload` workload.
//!
//! hyper 1's client never waits for `100 Continue`: it sends the body right away, which defeats instant
//! upload (the point is that the server can answer from the announced SHA-256 *before* the body is sent).
//! So this does the minimal exchange on a fresh TcpStream, the way curl does:
//! 1. send the request head (signed, with `x-amz-content-sha256` and `Expect: 100-continue`);
//! 2. wait up to [`CONTINUE_WAIT`] for a response head;
//!    * `100 Continue` -> send the body, then read the final response;
//!    * a final status (e.g. 200 with `x-fastgate-dedup: hit`) -> the body is never sent;
//!    * nothing (server ignores Expect) -> send the body anyway;
//! 3. read the final response's body by Content-Length (bodies here are small) and close the connection.
//!
//! One connection per request keeps the state machine trivial (a server that answered early may not want
//! the unsent body on a kept-alive connection); on loopback the connect costs tens of microseconds.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::client::S3Client;
use super::payload::Payload;

/// How long to wait for `100 Continue` before sending the body anyway.
pub const CONTINUE_WAIT: Duration = Duration::from_secs(1);
/// Upper bound for the whole final response (large bodies on a slow server).
const FINAL_WAIT: Duration = Duration::from_secs(600);

/// What happened during one exchange.
#[derive(Debug)]
pub struct ExpectOutcome {
    pub status: u16,
    /// Whether the server sent `100 Continue`.
    pub got_continue: bool,
    /// Whether the body went over the wire.
    pub body_sent: bool,
    /// Value of `x-fastgate-dedup`, if any.
    pub dedup: Option<String>,
    /// Final response body (error XML), if any.
    pub body: Vec<u8>,
}

/// A parsed response head.
struct Head {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// PUTs `payload` to `path` (already percent-encoded) with `Expect: 100-continue`.
pub async fn put_expect_continue(client: &S3Client, path: &str, payload: &Payload) -> Result<ExpectOutcome> {
    let len = payload.len.to_string();
    let headers = client.sign_headers(&Method::PUT, path, &[("content-length", len.as_str())], &payload.sha256)?;
    let mut head = format!("PUT {path} HTTP/1.1\r\n");
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    // Left out of the signature on purpose: hop-by-hop-ish, and proxies may drop it.
    head.push_str("expect: 100-continue\r\nconnection: close\r\n\r\n");

    let mut stream = TcpStream::connect(&client.authority)
        .await
        .with_context(|| format!("connect {}", client.authority))?;
    stream.set_nodelay(true).ok();
    stream
        .write_all(head.as_bytes())
        .await
        .context("sending request head")?;

    let mut buf = Vec::with_capacity(1024);
    let mut got_continue = false;
    let mut body_sent = false;
    let first = match timeout(CONTINUE_WAIT, read_head(&mut stream, &mut buf)).await {
        Ok(r) => Some(r?),
        Err(_) => None, // no answer in time: behave like curl and send the body
    };
    let final_head = match first {
        Some(h) if h.status != 100 => h, // early final answer: the body is not sent
        other => {
            got_continue = other.is_some();
            for chunk in &payload.chunks {
                stream.write_all(chunk).await.context("sending body")?;
            }
            body_sent = true;
            let mut h = timeout(FINAL_WAIT, read_head(&mut stream, &mut buf))
                .await
                .context("final response timed out")??;
            // A late `100 Continue` (after our 1 s) may precede the final response.
            while h.status == 100 {
                got_continue = true;
                h = timeout(FINAL_WAIT, read_head(&mut stream, &mut buf))
                    .await
                    .context("final response timed out")??;
            }
            h
        }
    };
    let body_len: usize = final_head
        .header("content-length")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < body_len {
        let n = timeout(FINAL_WAIT, stream.read_buf(&mut buf))
            .await
            .context("response body timed out")??;
        if n == 0 {
            break;
        }
    }
    buf.truncate(body_len);
    Ok(ExpectOutcome {
        status: final_head.status,
        got_continue,
        body_sent,
        dedup: final_head.header("x-fastgate-dedup").map(str::to_string),
        body: buf,
    })
}

/// Reads one response head from `stream`, consuming it from `buf` (bytes after it stay in `buf`).
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Head> {
    loop {
        if let Some(end) = find_head_end(buf) {
            let head = parse_head(&buf[..end])?;
            buf.drain(..end);
            return Ok(head);
        }
        if buf.len() > 64 * 1024 {
            bail!("response head larger than 64KiB");
        }
        let n = stream.read_buf(buf).await.context("reading response")?;
        if n == 0 {
            bail!(
                "connection closed before a complete response head ({} bytes)",
                buf.len()
            );
        }
    }
}

/// Index just past the blank line ending the head, if complete.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn parse_head(raw: &[u8]) -> Result<Head> {
    let text = std::str::from_utf8(raw).context("response head is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Head { status, headers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_parsing() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-Fastgate-Dedup: hit\r\nContent-Length: 0\r\n\r\n";
        let end = find_head_end(raw).unwrap();
        assert_eq!(parse_head(&raw[..end]).unwrap().status, 100);
        let rest = &raw[end..];
        let h = parse_head(&rest[..find_head_end(rest).unwrap()]).unwrap();
        assert_eq!(h.status, 200);
        assert_eq!(h.header("x-fastgate-dedup"), Some("hit"));
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }
}
