//! Storage nodes that join a cluster at run time (`fastgate storage --join`).
//!
//! A node started with `--join` and `--group` registers with a gateway, and renews its
//! lease every third of [`LEASE`], with a call signed with the cluster secret (the same
//! HMAC the gateways sign their calls to nodes with, see [`crate::auth`]). The gateway
//! that takes the call records the node in the metadata, which every gateway over the
//! same metadata reads, and adds it to its group: it starts `recovering`, repair gives it
//! what its group holds, then it serves reads like the others. Nothing is rebalanced: the
//! node takes its share of new chunks, as a node listed in the config does.

use std::time::Duration;

use http::{Method, StatusCode};

use crate::client::NodeClient;
use crate::error::ClusterError;

/// How long a registration holds without renewal.
pub const LEASE: Duration = Duration::from_secs(30);
/// Where a gateway takes registrations.
pub const PATH: &str = "/_fastgate/cluster/nodes";

/// The query of a registration: the node's group and the URL gateways reach it at.
pub fn query(group: &str, url: &str) -> String {
    format!("group={}&url={}", urlencoding::encode(group), urlencoding::encode(url))
}

/// The group and URL of a registration's query, decoded; `None` when either is missing.
pub fn parse_query(query: &str) -> Option<(String, String)> {
    let (mut group, mut url) = (None, None);
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=')?;
        let v = urlencoding::decode(v).ok()?.into_owned();
        match k {
            "group" => group = Some(v),
            "url" => url = Some(v),
            _ => return None,
        }
    }
    Some((group?, url?))
}

/// Checks the URL a node announces: `http://HOST:PORT`, nothing after.
pub fn check_url(url: &str) -> Result<(), String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    let path_ok = matches!(uri.path(), "" | "/") && uri.query().is_none();
    if uri.scheme_str() != Some("http") || uri.authority().and_then(|a| a.port_u16()).is_none() || !path_ok {
        return Err(format!("{url}: a node's URL is http://HOST:PORT"));
    }
    Ok(())
}

/// Registers `advertise` in `group` with the first of `gateways` that takes it, then
/// renews the lease every third of it, for as long as the node runs. A gateway that
/// refuses (a wrong secret, an unknown group) is logged and the next one tried.
pub async fn keep_joined(gateways: Vec<String>, group: String, advertise: String, secret: String) {
    let clients: Vec<NodeClient> = gateways
        .iter()
        .map(|g| NodeClient::new(g, &secret, Duration::from_secs(5)))
        .collect();
    let q = query(&group, &advertise);
    let mut joined = false;
    loop {
        let mut renewed = false;
        for c in &clients {
            match register(c, &q).await {
                Ok(()) => {
                    if !joined {
                        tracing::info!(gateway = c.url(), group, url = advertise, "joined the cluster");
                    }
                    joined = true;
                    renewed = true;
                    break;
                }
                Err(e) => tracing::warn!(gateway = c.url(), error = %e, "registration refused or failed"),
            }
        }
        let wait = if renewed { LEASE / 3 } else { Duration::from_secs(2) };
        tokio::time::sleep(wait).await;
    }
}

async fn register(c: &NodeClient, query: &str) -> Result<(), ClusterError> {
    let (status, body) = c.call_text(Method::POST, PATH, query).await?;
    if status == StatusCode::OK {
        Ok(())
    } else {
        Err(ClusterError::Status {
            node: c.url().to_owned(),
            status,
            body: String::from_utf8_lossy(&body).trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_query_round_trips_and_urls_are_checked() {
        let q = query("g 1", "http://10.0.0.5:9100");
        assert_eq!(parse_query(&q), Some(("g 1".into(), "http://10.0.0.5:9100".into())));
        assert_eq!(parse_query("group=g1"), None);
        assert_eq!(parse_query("group=g1&url=x&more=1"), None);
        assert!(check_url("http://10.0.0.5:9100").is_ok());
        assert!(check_url("http://node-b:9100/").is_ok());
        for bad in [
            "https://n:9100",
            "http://n",
            "http://n:9100/v1",
            "n:9100",
            "http://n:9100?x=1",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
