//! CORS: the bucket's rules, preflights answered before authentication, and the
//! `Access-Control-*` headers of actual responses (errors included).

use crate::common;

use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use common::*;

const PAGE: &str = "http://page.test:8080";

fn rule(origins: &[&str], methods: &[&str], headers: &[&str], expose: &[&str], max_age: Option<i32>) -> CorsRule {
    let mut b = CorsRule::builder().set_max_age_seconds(max_age);
    for o in origins {
        b = b.allowed_origins(*o);
    }
    for m in methods {
        b = b.allowed_methods(*m);
    }
    for h in headers {
        b = b.allowed_headers(*h);
    }
    for h in expose {
        b = b.expose_headers(*h);
    }
    b.build().expect("CORS rule")
}

async fn set_rules(c: &aws_sdk_s3::Client, bucket: &str, rules: Vec<CorsRule>) {
    c.put_bucket_cors()
        .bucket(bucket)
        .cors_configuration(
            CorsConfiguration::builder()
                .set_cors_rules(Some(rules))
                .build()
                .expect("CORS configuration"),
        )
        .send()
        .await
        .expect("put bucket cors");
}

/// The rules the browser tests use: the page may PUT, POST and GET with any header and
/// read the ETag; any origin may GET.
async fn page_rules(c: &aws_sdk_s3::Client, bucket: &str) {
    set_rules(
        c,
        bucket,
        vec![
            rule(
                &[PAGE],
                &["PUT", "POST", "GET"],
                &["*"],
                &["ETag", "x-amz-request-id"],
                Some(3000),
            ),
            rule(&["*"], &["GET", "HEAD"], &[], &[], None),
        ],
    )
    .await;
}

async fn preflight(srv: &Server, path: &str, origin: Option<&str>, method: &str, headers: Option<&str>) -> RawResponse {
    let mut h = vec![("access-control-request-method", method)];
    if let Some(o) = origin {
        h.push(("origin", o));
    }
    if let Some(x) = headers {
        h.push(("access-control-request-headers", x));
    }
    srv.unsigned("OPTIONS", path, &h, b"").await
}

#[tokio::test]
async fn cors_rules_are_stored_read_back_and_deleted() {
    let mut srv = Server::start();
    let c = srv.client();
    create_bucket(&c, "rules").await;
    page_rules(&c, "rules").await;

    srv.restart();
    let c = srv.client();
    let got = c.get_bucket_cors().bucket("rules").send().await.unwrap();
    let rules = got.cors_rules();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].allowed_origins(), [PAGE]);
    assert_eq!(rules[0].allowed_methods(), ["PUT", "POST", "GET"]);
    assert_eq!(rules[0].allowed_headers(), ["*"]);
    assert_eq!(rules[0].expose_headers(), ["ETag", "x-amz-request-id"]);
    assert_eq!(rules[0].max_age_seconds(), Some(3000));
    assert_eq!(rules[1].allowed_origins(), ["*"]);
    assert!(rules[1].allowed_headers().is_empty());
    assert_eq!(rules[1].max_age_seconds(), None);

    c.delete_bucket_cors().bucket("rules").send().await.unwrap();
    assert_code(
        c.get_bucket_cors().bucket("rules").send().await,
        "NoSuchCORSConfiguration",
    );
    let r = preflight(&srv, "/rules/k", Some(PAGE), "GET", None).await;
    assert_eq!(r.status, 403, "{}", r.text());

    // A bucket created again under the same name starts without the old rules.
    page_rules(&c, "rules").await;
    c.delete_bucket().bucket("rules").send().await.unwrap();
    create_bucket(&c, "rules").await;
    assert_code(
        c.get_bucket_cors().bucket("rules").send().await,
        "NoSuchCORSConfiguration",
    );
    assert_code(c.get_bucket_cors().bucket("nope").send().await, "NoSuchBucket");
}

#[tokio::test]
async fn rules_that_s3_refuses_are_refused_with_its_codes() {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, "bad").await;
    let put = |rules: Vec<CorsRule>| {
        c.put_bucket_cors()
            .bucket("bad")
            .cors_configuration(
                CorsConfiguration::builder()
                    .set_cors_rules(Some(rules))
                    .build()
                    .unwrap(),
            )
            .send()
    };
    assert_code(
        put(vec![rule(&["*"], &["PATCH"], &[], &[], None)]).await,
        "InvalidRequest",
    );
    assert_code(
        put(vec![rule(&["http://*.*.test"], &["GET"], &[], &[], None)]).await,
        "InvalidRequest",
    );
    assert_code(
        put(vec![rule(&["*"], &["GET"], &["x-*-*"], &[], None)]).await,
        "InvalidRequest",
    );
    assert_code(
        put(vec![rule(&["*"], &["GET"], &[], &["*"], None)]).await,
        "InvalidRequest",
    );
    assert_code(put(vec![]).await, "MalformedXML");

    let not_xml = srv
        .signed("PUT", "/bad?cors", &[], b"<CORSConfiguration><CORSRule>")
        .await;
    assert_eq!(not_xml.status, 400, "{}", not_xml.text());
    assert_eq!(not_xml.error_code().as_deref(), Some("MalformedXML"));
    let no_origin = b"<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>";
    let r = srv.signed("PUT", "/bad?cors", &[], no_origin).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("MalformedXML"));

    // Nothing was stored by the refused requests.
    assert_code(
        c.get_bucket_cors().bucket("bad").send().await,
        "NoSuchCORSConfiguration",
    );
}

#[tokio::test]
async fn only_the_owner_sets_and_reads_a_buckets_rules() {
    let srv = Server::with_second_user("");
    let c = srv.client();
    create_bucket(&c, "mine").await;
    let other = srv.client_as(USER2_ACCESS_KEY, USER2_SECRET_KEY);
    assert_code(
        other
            .put_bucket_cors()
            .bucket("mine")
            .cors_configuration(
                CorsConfiguration::builder()
                    .cors_rules(rule(&["*"], &["GET"], &[], &[], None))
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
        "AccessDenied",
    );
    page_rules(&c, "mine").await;
    assert_code(other.get_bucket_cors().bucket("mine").send().await, "AccessDenied");
    assert_code(other.delete_bucket_cors().bucket("mine").send().await, "AccessDenied");
}

#[tokio::test]
async fn preflights_are_answered_from_the_buckets_rules_without_credentials() {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, "pre").await;

    let r = preflight(&srv, "/pre/k", Some(PAGE), "PUT", None).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("AccessForbidden"));
    assert!(xml_tag(&r.text(), "Message").unwrap().starts_with("CORSResponse: "));

    page_rules(&c, "pre").await;
    let r = preflight(
        &srv,
        "/pre/dir/k.bin",
        Some(PAGE),
        "PUT",
        Some("content-type,x-amz-meta-who"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some(PAGE));
    assert_eq!(r.header("access-control-allow-methods"), Some("PUT, POST, GET"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("content-type, x-amz-meta-who")
    );
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("ETag, x-amz-request-id")
    );
    assert_eq!(r.header("access-control-max-age"), Some("3000"));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert!(r.header("vary").unwrap().contains("Origin"));
    assert!(r.header("x-amz-request-id").is_some());

    // A bucket-level preflight (the POST of a form upload) too.
    let r = preflight(&srv, "/pre", Some(PAGE), "POST", None).await;
    assert_eq!(r.status, 200, "{}", r.text());

    // The second rule lets any origin GET, answered with `*` and without credentials.
    let r = preflight(&srv, "/pre/k", Some("https://elsewhere.test"), "GET", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-credentials"), None);

    // No rule lets another origin PUT, nor any origin DELETE, nor the second rule's
    // origins send a header.
    for (origin, method, headers) in [
        ("https://elsewhere.test", "PUT", None),
        (PAGE, "DELETE", None),
        ("https://elsewhere.test", "GET", Some("x-amz-date")),
    ] {
        let r = preflight(&srv, "/pre/k", Some(origin), method, headers).await;
        assert_eq!(r.status, 403, "{origin} {method}: {}", r.text());
        assert_eq!(r.error_code().as_deref(), Some("AccessForbidden"));
        assert_eq!(r.header("access-control-allow-origin"), None);
    }

    // A preflight without an origin or a method is a bad request.
    let r = preflight(&srv, "/pre/k", None, "PUT", None).await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = srv.unsigned("OPTIONS", "/pre/k", &[("origin", PAGE)], b"").await;
    assert_eq!(r.status, 400, "{}", r.text());

    // A bucket that does not exist has no rules.
    let r = preflight(&srv, "/absent/k", Some(PAGE), "GET", None).await;
    assert_eq!(r.status, 403, "{}", r.text());
}

#[tokio::test]
async fn actual_responses_carry_the_cors_headers_errors_included() {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, "act").await;
    page_rules(&c, "act").await;
    let etag = put(&c, "act", "k", b"hello").await;

    let r = srv.signed("GET", "/act/k", &[("origin", PAGE)], b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some(PAGE));
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("ETag, x-amz-request-id")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert!(r.header("vary").unwrap().contains("Origin"));
    assert_eq!(r.header("etag"), Some(etag.as_str()));

    let r = srv.signed("PUT", "/act/k2", &[("origin", PAGE)], b"data").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some(PAGE));

    // Errors carry them too, so that the page can read why.
    let r = srv.signed("GET", "/act/missing", &[("origin", PAGE)], b"").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("access-control-allow-origin"), Some(PAGE));
    let r = srv.unsigned("GET", "/act/k", &[("origin", PAGE)], b"").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("access-control-allow-origin"), Some(PAGE));

    // Any origin may GET (second rule), but not PUT; and no Origin, no CORS headers.
    let r = srv.signed("GET", "/act/k", &[("origin", "https://x.test")], b"").await;
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let r = srv
        .signed("PUT", "/act/k3", &[("origin", "https://x.test")], b"x")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
    let r = srv.signed("GET", "/act/k", &[], b"").await;
    assert_eq!(r.header("access-control-allow-origin"), None);
    assert_eq!(r.header("vary"), None);
}
