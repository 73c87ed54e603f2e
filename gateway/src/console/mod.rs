//! The web console: a page for people, on a listener of its own (`console_listen`,
//! default `127.0.0.1:9001`; HTTPS when the server has a certificate, as the S3 port).
//!
//! The console is static files (`gateway/console/`, embedded in the binary: no build
//! step) plus one forwarding rule: `/s3/<path>` is handed, prefix stripped and `Host`
//! kept, to the very S3 service of the S3 port, in process. The page's S3 requests are
//! therefore same-origin (no CORS needed) and go through every check an S3 client's do.
//!
//! **Authentication.** The page signs every S3 request itself with SigV4 (WebCrypto's
//! HMAC-SHA256, available on loopback and HTTPS origins), exactly as an SDK would; the
//! secret never leaves the browser and is kept in `sessionStorage` only (gone when the
//! tab closes). The server issues no session and sets no cookie: a request carries its
//! own proof, so another site cannot make the browser send an authenticated request
//! (there is no ambient credential to ride on, hence no CSRF surface).
//!
//! **Headers.** Every page response forbids framing (`frame-ancestors 'none'`,
//! `X-Frame-Options: DENY`: no clickjacking), scripts other than the console's own
//! files (`default-src 'self'`, no inline script), MIME sniffing and referrers.
//! Forwarded S3 responses get a sandboxing policy instead: an object is user content,
//! and an HTML object opened from the console's origin would otherwise run its scripts
//! there, next to the signed-in page's `sessionStorage`.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName};
use http::{HeaderValue, Method, StatusCode};
use hyper::body::Incoming;

/// Where the page sends its S3 requests: `/s3/BUCKET/KEY` reaches the S3 service as
/// `/BUCKET/KEY`.
pub const S3_PREFIX: &str = "/s3/";

/// The policy of the console's own files: nothing but them runs, nothing frames them.
const PAGE_CSP: &str = "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/// The policy of forwarded S3 answers (objects are user content): no script, no
/// subresource, an opaque origin, no framing.
const S3_CSP: &str = "default-src 'none'; sandbox; frame-ancestors 'none'";

/// One embedded file: its path under the console's root, its type, its bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: concat!("/", $path),
            content_type: $type,
            bytes: include_bytes!(concat!("../../console/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("s3.js", JS),
    asset!("sigv4.js", JS),
    asset!("upload.js", JS),
    asset!("hash-worker.js", JS),
    asset!("dedup.js", JS),
    asset!("favicon.svg", "image/svg+xml"),
];

/// Where a console request goes.
pub enum Route {
    /// Answered by the console itself (a file, or an error).
    Page(http::Response<s3s::Body>),
    /// An S3 request, its path rewritten, for the S3 service.
    S3(http::Request<Incoming>),
}

/// The console's files and settings.
pub struct Console {
    /// What the page needs to know before it signs anything.
    config: Bytes,
}

impl Console {
    pub fn new(region: &str) -> Self {
        let config = serde_json::json!({ "region": region, "s3_prefix": S3_PREFIX.trim_end_matches('/') });
        Self {
            config: Bytes::from(config.to_string()),
        }
    }

    /// Sends `/s3/...` to the S3 service and answers everything else from the files.
    pub fn route(&self, req: http::Request<Incoming>) -> Route {
        if let Some(rest) = req.uri().path().strip_prefix(S3_PREFIX) {
            let rewritten = match req.uri().query() {
                Some(q) => format!("/{rest}?{q}"),
                None => format!("/{rest}"),
            };
            let (mut parts, body) = req.into_parts();
            let mut uri = parts.uri.into_parts();
            uri.path_and_query = match rewritten.parse() {
                Ok(pq) => Some(pq),
                Err(_) => return Route::Page(page_error(StatusCode::BAD_REQUEST)),
            };
            parts.uri = match http::Uri::from_parts(uri) {
                Ok(u) => u,
                Err(_) => return Route::Page(page_error(StatusCode::BAD_REQUEST)),
            };
            return Route::S3(http::Request::from_parts(parts, body));
        }
        Route::Page(self.page(req.method(), req.uri().path()))
    }

    /// A file of the console (or `config.json`), for GET and HEAD.
    fn page(&self, method: &Method, path: &str) -> http::Response<s3s::Body> {
        if method != Method::GET && method != Method::HEAD {
            let mut resp = page_error(StatusCode::METHOD_NOT_ALLOWED);
            resp.headers_mut()
                .insert(http::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return resp;
        }
        let (content_type, bytes) = if path == "/config.json" {
            ("application/json", self.config.clone())
        } else {
            let path = if path == "/" { "/index.html" } else { path };
            match ASSETS.iter().find(|a| a.path == path) {
                Some(a) => (a.content_type, Bytes::from_static(a.bytes)),
                None => return page_error(StatusCode::NOT_FOUND),
            }
        };
        let len = bytes.len();
        let body = if method == Method::HEAD {
            s3s::Body::empty()
        } else {
            s3s::Body::from(bytes)
        };
        let mut resp = http::Response::new(body);
        let h = resp.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        h.insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
        // The files change with the binary: revalidate rather than keep a stale page.
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        page_headers(h, PAGE_CSP);
        resp
    }

    /// Adds the console's protections to a forwarded S3 answer.
    pub fn secure(&self, mut resp: http::Response<s3s::Body>) -> http::Response<s3s::Body> {
        page_headers(resp.headers_mut(), S3_CSP);
        resp
    }
}

/// The headers of every console response.
fn page_headers(h: &mut http::HeaderMap, csp: &'static str) {
    h.insert(http::header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    h.insert(http::header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(http::header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
}

fn page_error(status: StatusCode) -> http::Response<s3s::Body> {
    let text = format!("{status}\n");
    let mut resp = http::Response::new(s3s::Body::from(text));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    page_headers(h, PAGE_CSP);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_file_has_a_type_and_the_page_loads_only_embedded_files() {
        let index = ASSETS.iter().find(|a| a.path == "/index.html").expect("index");
        let html = std::str::from_utf8(index.bytes).expect("utf-8");
        for a in ASSETS {
            assert!(!a.content_type.is_empty() && !a.bytes.is_empty(), "{}", a.path);
        }
        // Every src/href of the page names an embedded file: a typo is caught here,
        // not by a user's blank page.
        for attr in ["src=\"", "href=\""] {
            for part in html.split(attr).skip(1) {
                let target = part.split('"').next().unwrap_or_default();
                if target.starts_with('#') {
                    continue;
                }
                let path = format!("/{}", target.trim_start_matches("./").trim_start_matches('/'));
                assert!(ASSETS.iter().any(|a| a.path == path), "{target} is not embedded");
            }
        }
    }
}
