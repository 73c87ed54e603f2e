//! CORS: a bucket's rules (Put/Get/DeleteBucketCors), the preflights (`OPTIONS`) answered
//! from them, and the `Access-Control-*` headers of the actual responses.
//!
//! A browser sends a preflight without credentials, so it is answered before s3s
//! authenticates anything, and the headers of an actual response must be on every answer
//! to a request with a matching `Origin`, errors included (a page reads the status and
//! the error document of a refused upload only through them). Both happen in
//! `server.rs`, once per request, through [`Cors`]: no handler deals with CORS.

use std::sync::Arc;

use fastgate_model::Store;
use fastgate_model::records::CorsRule as Rule;
use http::{HeaderMap, HeaderValue, Method};
use s3s::dto::*;
use s3s::host::S3Host as _;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use super::access::{Action, RequestContext, Resource};
use super::error::{ApiError, StorageResultExt as _};

/// The methods a rule may allow, as S3 spells them (case-sensitive).
const METHODS: &[&str] = &["GET", "PUT", "POST", "DELETE", "HEAD"];
/// S3 keeps at most this many rules per bucket.
const MAX_RULES: usize = 100;
/// What a preflight's answer varies on, for caches between the browser and the server.
const VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

fn wildcards(s: &str) -> usize {
    s.matches('*').count()
}

/// A rule as S3 accepts it: origins and methods required, known methods only, at most
/// one `*` in an origin or allowed header, none in an exposed header.
fn to_rule(r: CORSRule) -> S3Result<Rule> {
    if r.allowed_methods.is_empty() || r.allowed_origins.is_empty() {
        return Err(ApiError::MalformedXml.into());
    }
    if let Some(m) = r.allowed_methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
        return Err(ApiError::InvalidCorsRule(format!(
            "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
        ))
        .into());
    }
    if let Some(o) = r.allowed_origins.iter().find(|o| wildcards(o) > 1) {
        return Err(
            ApiError::InvalidCorsRule(format!("AllowedOrigin \"{o}\" can not have more than one wildcard.")).into(),
        );
    }
    let allowed_headers = r.allowed_headers.unwrap_or_default();
    if let Some(h) = allowed_headers.iter().find(|h| wildcards(h) > 1) {
        return Err(
            ApiError::InvalidCorsRule(format!("AllowedHeader \"{h}\" can not have more than one wildcard.")).into(),
        );
    }
    let expose_headers = r.expose_headers.unwrap_or_default();
    if let Some(h) = expose_headers.iter().find(|h| h.contains('*')) {
        return Err(ApiError::InvalidCorsRule(format!(
            "ExposeHeader \"{h}\" contains wildcard. We currently do not support wildcard for ExposeHeader."
        ))
        .into());
    }
    Ok(Rule {
        id: r.id,
        allowed_origins: r.allowed_origins,
        allowed_methods: r.allowed_methods,
        allowed_headers,
        expose_headers,
        max_age_seconds: r.max_age_seconds,
    })
}

fn from_rule(r: Rule) -> CORSRule {
    let some = |v: Vec<String>| (!v.is_empty()).then_some(v);
    CORSRule {
        id: r.id,
        allowed_origins: r.allowed_origins,
        allowed_methods: r.allowed_methods,
        allowed_headers: some(r.allowed_headers),
        expose_headers: some(r.expose_headers),
        max_age_seconds: r.max_age_seconds,
    }
}

pub async fn put(gw: &Gateway, req: S3Request<PutBucketCorsInput>) -> S3Result<S3Response<PutBucketCorsOutput>> {
    let ctx = RequestContext::of(&req)?;
    gw.authorize(&ctx, Action::PutBucketCors, Resource::bucket(&req.input.bucket))
        .await?;
    let rules = req.input.cors_configuration.cors_rules;
    if rules.is_empty() || rules.len() > MAX_RULES {
        return Err(ApiError::MalformedXml.into());
    }
    let rules = rules.into_iter().map(to_rule).collect::<S3Result<Vec<_>>>()?;
    gw.store.set_cors(&req.input.bucket, Some(rules)).await.s3()?;
    Ok(S3Response::new(PutBucketCorsOutput::default()))
}

pub async fn get(gw: &Gateway, req: S3Request<GetBucketCorsInput>) -> S3Result<S3Response<GetBucketCorsOutput>> {
    let ctx = RequestContext::of(&req)?;
    gw.authorize(&ctx, Action::GetBucketCors, Resource::bucket(&req.input.bucket))
        .await?;
    let b = req.input.bucket.clone();
    let rules = gw
        .store
        .point(move |s| s.cors(&b))
        .await
        .s3()?
        .ok_or(ApiError::NoSuchCorsConfiguration)?;
    Ok(S3Response::new(GetBucketCorsOutput {
        cors_rules: Some(rules.into_iter().map(from_rule).collect()),
    }))
}

pub async fn delete(
    gw: &Gateway,
    req: S3Request<DeleteBucketCorsInput>,
) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
    let ctx = RequestContext::of(&req)?;
    // IAM has no s3:DeleteBucketCORS: deleting is putting none.
    gw.authorize(&ctx, Action::PutBucketCors, Resource::bucket(&req.input.bucket))
        .await?;
    gw.store.set_cors(&req.input.bucket, None).await.s3()?;
    Ok(S3Response::new(DeleteBucketCorsOutput::default()))
}

/// Whether `value` matches `pattern`, which holds at most one `*` (any run of characters).
fn matches(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let (p, v) = if ignore_case {
        (pattern.to_ascii_lowercase(), value.to_ascii_lowercase())
    } else {
        (pattern.to_owned(), value.to_owned())
    };
    match p.split_once('*') {
        None => p == v,
        Some((head, tail)) => v.len() >= head.len() + tail.len() && v.starts_with(head) && v.ends_with(tail),
    }
}

/// The first rule that lets `origin` make a `method` request naming `headers` (the
/// preflight's `Access-Control-Request-Headers`; none for an actual request), as S3
/// picks it.
fn find<'r>(rules: &'r [Rule], origin: &str, method: &str, headers: &[&str]) -> Option<(&'r Rule, bool)> {
    rules.iter().find_map(|r| {
        let origin_rule = r.allowed_origins.iter().find(|o| matches(o, origin, false))?;
        let method_ok = r.allowed_methods.iter().any(|m| m == method);
        let headers_ok = headers
            .iter()
            .all(|h| r.allowed_headers.iter().any(|a| matches(a, h, true)));
        (method_ok && headers_ok).then_some((r, origin_rule == "*"))
    })
}

/// The `Access-Control-*` headers of an answer to `origin` under `rule`: the origin
/// itself (with credentials allowed) unless the rule allows any origin, as S3 answers.
fn allow_headers(rule: &Rule, any_origin: bool, origin: &HeaderValue) -> HeaderMap {
    let mut h = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    if any_origin {
        set("access-control-allow-origin", "*".to_owned());
    } else {
        set(
            "access-control-allow-origin",
            origin.to_str().unwrap_or_default().to_owned(),
        );
        set("access-control-allow-credentials", "true".to_owned());
    }
    set("access-control-allow-methods", rule.allowed_methods.join(", "));
    if !rule.expose_headers.is_empty() {
        set("access-control-expose-headers", rule.expose_headers.join(", "));
    }
    if let Some(age) = rule.max_age_seconds {
        set("access-control-max-age", age.to_string());
    }
    set("vary", VARY.to_owned());
    h
}

/// Preflights and actual-response headers, from the rules in the store. Cheap to call on
/// every request: a request without `Origin` costs a header lookup, one with it a point
/// read of the bucket's rules (through `Store::point`: on postgres a wait on the blocking
/// pool, never a blocked async worker).
pub struct Cors {
    store: Arc<Store>,
    host: Option<s3s::host::MultiDomain>,
}

impl Cors {
    /// `domains` are the virtual-host base domains the server was configured with, so
    /// that a bucket named in the `Host` header is found as s3s finds it.
    pub fn new(store: Arc<Store>, domains: &[String]) -> anyhow::Result<Self> {
        let host = if domains.is_empty() {
            None
        } else {
            Some(s3s::host::MultiDomain::new(domains).map_err(|e| anyhow::anyhow!("bad domain: {e}"))?)
        };
        Ok(Self { store, host })
    }

    /// The bucket a request is addressed to (virtual-host or path style), if any.
    fn bucket<B>(&self, req: &http::Request<B>) -> Option<String> {
        let host = req.headers().get(http::header::HOST).and_then(|h| h.to_str().ok());
        if let (Some(parser), Some(host)) = (&self.host, host)
            && let Ok(vh) = parser.parse_host_header(host)
            && let Some(b) = vh.bucket()
        {
            return Some(b.to_owned());
        }
        let path = req.uri().path().trim_start_matches('/');
        let bucket = path.split('/').next().unwrap_or_default();
        (!bucket.is_empty()).then(|| bucket.to_owned())
    }

    /// The answer to a preflight (an `OPTIONS` request to a bucket or an object), or
    /// `None` for any other request. 200 with the matching rule's headers, 400 when the
    /// preflight lacks what it must carry, 403 AccessForbidden when no rule allows it.
    pub async fn preflight<B>(&self, req: &http::Request<B>) -> Option<http::Response<s3s::Body>> {
        if req.method() != Method::OPTIONS {
            return None;
        }
        let bucket = self.bucket(req)?;
        Some(self.answer_preflight(bucket, req.headers()).await.unwrap_or_else(|e| {
            s3s::S3Error::from(e)
                .to_http_response()
                .map_or_else(|_| http::Response::new(s3s::Body::empty()), |r| r.map(s3s::Body::from))
        }))
    }

    /// A bucket's CORS rules, if it has any.
    async fn rules(&self, bucket: String) -> fastgate_model::Result<Option<Vec<Rule>>> {
        self.store.point(move |s| s.cors(&bucket)).await
    }

    async fn answer_preflight(
        &self,
        bucket: String,
        headers: &HeaderMap,
    ) -> Result<http::Response<s3s::Body>, ApiError> {
        let origin = headers.get(http::header::ORIGIN).ok_or_else(|| {
            ApiError::CorsBadRequest("Insufficient information. Origin request header needed.".to_owned())
        })?;
        let method = headers
            .get(http::header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|m| m.to_str().ok())
            .filter(|m| METHODS.contains(m));
        let Some(method) = method else {
            let named = headers.get(http::header::ACCESS_CONTROL_REQUEST_METHOD).map_or_else(
                || "null".to_owned(),
                |m| String::from_utf8_lossy(m.as_bytes()).into_owned(),
            );
            return Err(ApiError::CorsBadRequest(format!(
                "Invalid Access-Control-Request-Method: {named}"
            )));
        };
        let requested: Vec<&str> = headers
            .get_all(http::header::ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect();
        let rules = match self.rules(bucket.clone()).await {
            Ok(Some(rules)) => rules,
            Ok(None) => {
                return Err(ApiError::CorsForbidden(
                    "CORSResponse: CORS is not enabled for this bucket.",
                ));
            }
            Err(e) => {
                tracing::warn!(%bucket, error = %e, "reading the CORS rules");
                return Err(ApiError::Internal(
                    "reading the bucket's CORS configuration failed".to_owned(),
                ));
            }
        };
        let origin_str = origin.to_str().unwrap_or_default();
        let (rule, any_origin) = find(&rules, origin_str, method, &requested).ok_or(ApiError::CorsForbidden(
            "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
        ))?;
        let mut resp = http::Response::new(s3s::Body::empty());
        *resp.headers_mut() = allow_headers(rule, any_origin, origin);
        if !requested.is_empty()
            && let Ok(v) = HeaderValue::from_str(&requested.join(", "))
        {
            resp.headers_mut().insert(http::header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
        Ok(resp)
    }

    /// The `Access-Control-*` headers for the answer to `req`, an actual (not preflight)
    /// request: `None` without an `Origin`, or when no rule of its bucket allows that
    /// origin this method. Decided before the request is handled (the answer no longer
    /// says what was asked), added to whatever the answer is.
    pub async fn actual<B>(&self, req: &http::Request<B>) -> Option<HeaderMap> {
        let origin = req.headers().get(http::header::ORIGIN)?;
        if req.method() == Method::OPTIONS {
            return None;
        }
        let bucket = self.bucket(req)?;
        let rules = self.rules(bucket).await.ok().flatten()?;
        let (rule, any_origin) = find(&rules, origin.to_str().ok()?, req.method().as_str(), &[])?;
        Some(allow_headers(rule, any_origin, origin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> Rule {
        let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        Rule {
            id: None,
            allowed_origins: v(origins),
            allowed_methods: v(methods),
            allowed_headers: v(headers),
            expose_headers: vec!["ETag".to_owned()],
            max_age_seconds: Some(600),
        }
    }

    #[test]
    fn one_wildcard_matches_any_run_of_characters() {
        assert!(matches("https://*.example.com", "https://app.example.com", false));
        assert!(matches("*", "http://127.0.0.1:8080", false));
        assert!(matches("x-amz-*", "X-Amz-Date", true));
        assert!(!matches("https://*.example.com", "https://example.com", false));
        assert!(!matches("http://a.test", "http://A.test", false));
    }

    #[test]
    fn the_first_rule_allowing_origin_method_and_headers_is_the_one_applied() {
        let rules = [
            rule(&["http://a.test"], &["GET"], &[]),
            rule(&["http://a.test"], &["PUT"], &["content-type", "x-amz-*"]),
            rule(&["*"], &["GET"], &[]),
        ];
        let (r, any) = find(&rules, "http://a.test", "PUT", &["Content-Type", "x-amz-meta-a"]).unwrap();
        assert_eq!(r.allowed_methods, ["PUT"]);
        assert!(!any);
        assert!(find(&rules, "http://a.test", "PUT", &["authorization"]).is_none());
        assert!(find(&rules, "http://b.test", "PUT", &[]).is_none());
        let (_, any) = find(&rules, "http://b.test", "GET", &[]).unwrap();
        assert!(any);
    }

    #[test]
    fn rules_s3_refuses_are_refused() {
        let bad = |origins: &[&str], methods: &[&str]| {
            to_rule(CORSRule {
                allowed_origins: origins.iter().map(|x| (*x).to_owned()).collect(),
                allowed_methods: methods.iter().map(|x| (*x).to_owned()).collect(),
                ..Default::default()
            })
            .unwrap_err()
        };
        assert_eq!(bad(&["*"], &["PATCH"]).code().as_str(), "InvalidRequest");
        assert_eq!(bad(&["*"], &["get"]).code().as_str(), "InvalidRequest");
        assert_eq!(bad(&["http://*.*.test"], &["GET"]).code().as_str(), "InvalidRequest");
        assert_eq!(bad(&[], &["GET"]).code().as_str(), "MalformedXML");
        assert_eq!(bad(&["*"], &[]).code().as_str(), "MalformedXML");
    }
}
