//! The web console's listener (issue 18): its page, the protections on every answer,
//! and `/s3/...` forwarded to the same S3 service with the same authentication. The page
//! itself (signing in the browser, cloud-drive uploads, the dedup page) is driven in
//! headless Chromium by `conformance/console.sh`.

use crate::common;

use std::time::SystemTime;

use common::*;

/// A request signed for the console's host as the S3 service will see it (`path`,
/// without the `/s3` prefix) and sent to `/s3{path}` on the console.
async fn via_console(
    srv: &Server,
    user: (&str, &str),
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let console = srv.console_addr();
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    all.push(("host".into(), console.to_string()));
    let signed = sign_headers(
        user.0,
        user.1,
        method,
        &format!("http://{console}{path}"),
        &all,
        &sha256_hex(body),
        SystemTime::now(),
    );
    all.extend(signed);
    raw_request(method, &format!("http://{console}/s3{path}"), &all, body.to_vec()).await
}

const ROOT: (&str, &str) = (ACCESS_KEY, SECRET_KEY);
const USER2: (&str, &str) = (USER2_ACCESS_KEY, USER2_SECRET_KEY);

fn assert_protected(r: &RawResponse, what: &str) {
    let csp = r.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: CSP {csp:?}");
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{what}");
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{what}");
    assert!(r.header("set-cookie").is_none(), "{what}: the console sets no cookie");
}

#[tokio::test]
async fn the_console_serves_its_page_with_protections_on_every_answer() {
    let srv = Server::start();
    let base = format!("http://{}", srv.console_addr());
    let page = raw_request("GET", &format!("{base}/"), &[], Vec::new()).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(page.text().contains("app.js"), "{}", page.text());
    assert_protected(&page, "GET /");
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    for (path, ty) in [
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/hash-worker.js", "text/javascript; charset=utf-8"),
        ("/console.css", "text/css; charset=utf-8"),
    ] {
        let r = raw_request("GET", &format!("{base}{path}"), &[], Vec::new()).await;
        assert_eq!((r.status, r.header("content-type")), (200, Some(ty)), "{path}");
        assert_protected(&r, path);
    }
    let config = raw_request("GET", &format!("{base}/config.json"), &[], Vec::new()).await;
    assert!(config.text().contains("\"region\":\"us-east-1\""), "{}", config.text());

    let missing = raw_request("GET", &format!("{base}/nope.js"), &[], Vec::new()).await;
    assert_eq!(missing.status, 404);
    assert_protected(&missing, "404");
    let post = raw_request("POST", &format!("{base}/"), &[], b"x".to_vec()).await;
    assert_eq!(post.status, 405);
    assert_protected(&post, "405");
    // The S3 port does not serve the console, nor the console the S3 API outside /s3/.
    let s3_port = raw_request("GET", &format!("{}/app.js", srv.endpoint()), &[], Vec::new()).await;
    assert_ne!(s3_port.status, 200);
}

#[tokio::test]
async fn console_requests_reach_the_same_store_signed_for_the_console_host() {
    let srv = Server::start();
    let c = srv.client();
    let made = via_console(&srv, ROOT, "PUT", "/from-console", &[], b"").await;
    assert_eq!(made.status, 200, "{}", made.text());
    assert_protected(&made, "forwarded CreateBucket");
    let body = b"uploaded through the console".to_vec();
    let put = via_console(&srv, ROOT, "PUT", "/from-console/dir/a%20b.txt", &[], &body).await;
    assert_eq!(put.status, 200, "{}", put.text());
    // Seen on the S3 port.
    assert_eq!(get(&c, "from-console", "dir/a b.txt").await, body);

    // Objects are user content: answered under a sandbox, so an HTML object opened from
    // the console's origin cannot script the signed-in page.
    let got = via_console(&srv, ROOT, "GET", "/from-console/dir/a%20b.txt", &[], b"").await;
    assert_eq!(got.body, body);
    let csp = got.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("sandbox") && csp.contains("default-src 'none'"), "{csp}");

    // Same authentication: unsigned is refused, and a wrong secret too.
    let console = srv.console_addr();
    let anon = raw_request("GET", &format!("http://{console}/s3/from-console"), &[], Vec::new()).await;
    assert_eq!(anon.status, 403, "{}", anon.text());
    let forged = via_console(&srv, (ACCESS_KEY, "not-the-secret"), "GET", "/from-console", &[], b"").await;
    assert_eq!(forged.error_code().as_deref(), Some("SignatureDoesNotMatch"));
}

#[tokio::test]
async fn the_dedup_savings_are_the_servers_for_root_and_a_users_own_for_the_others() {
    let srv = Server::with_second_user("");
    let root = srv.client();
    let user2 = srv.client_as(USER2_ACCESS_KEY, USER2_SECRET_KEY);
    create_bucket(&root, "root-b").await;
    create_bucket(&user2, "user2-b").await;
    let content = data(300_000, 7);
    let sha = sha256_hex(&content);
    let len = content.len().to_string();
    // Root stores content and claims it again with the probe: one hit of its own.
    put(&root, "root-b", "one", &content).await;
    let probe_headers = [("x-fastgate-probe", len.as_str())];
    let hit = srv
        .signed_with_hash(ACCESS_KEY, SECRET_KEY, "PUT", "/root-b/two", &probe_headers, &sha, b"")
        .await;
    assert_eq!(hit.header("x-fastgate-dedup"), Some("hit"), "{}", hit.text());
    // User 2 uploads the same bytes in full: dedup at rest, which the server counts.
    put(&user2, "user2-b", "same", &content).await;

    let json = |r: &RawResponse| serde_json::from_slice::<serde_json::Value>(&r.body).expect("json");
    let server = via_console(&srv, ROOT, "GET", "/_fastgate/dedup", &[], b"").await;
    assert_eq!(server.status, 200, "{}", server.text());
    let server = json(&server);
    assert_eq!(server["scope"], "server");
    assert_eq!(server["hits"], 1);
    assert_eq!(server["bytes_not_received"], 300_000);
    assert_eq!(server["bytes_not_stored"], 600_000, "{server}");

    // User 2 sees only their own instant uploads: none, though their full upload was
    // not stored again (that would tell them root holds the same file).
    let mine = via_console(&srv, USER2, "GET", "/_fastgate/dedup", &[], b"").await;
    assert_eq!(mine.status, 200, "{}", mine.text());
    let mine = json(&mine);
    assert_eq!(mine["scope"], "user");
    assert_eq!(
        (mine["hits"].clone(), mine["bytes_not_stored"].clone()),
        (0.into(), 0.into())
    );
    assert!(mine.get("bytes_received").is_none() && mine.get("stored_bytes").is_none());
    // Their own hit shows.
    let sha2 = sha256_hex(&content);
    let again = srv
        .signed_with_hash(
            USER2_ACCESS_KEY,
            USER2_SECRET_KEY,
            "PUT",
            "/user2-b/again",
            &probe_headers,
            &sha2,
            b"",
        )
        .await;
    assert_eq!(again.header("x-fastgate-dedup"), Some("hit"), "{}", again.text());
    let mine = json(
        &srv.signed_as(USER2_ACCESS_KEY, USER2_SECRET_KEY, "GET", "/_fastgate/dedup", &[], b"")
            .await,
    );
    assert_eq!(
        (mine["hits"].clone(), mine["bytes_not_received"].clone()),
        (1.into(), 300_000.into())
    );
    // The rest of the admin surface stays root's.
    let gc = srv
        .signed_as(USER2_ACCESS_KEY, USER2_SECRET_KEY, "POST", "/_fastgate/gc", &[], b"")
        .await;
    assert_eq!(gc.status, 403);
    let anon = srv.unsigned("GET", "/_fastgate/dedup", &[], b"").await;
    assert_eq!(anon.status, 403);
}
