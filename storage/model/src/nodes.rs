//! The storage nodes that joined the cluster at run time, kept in the metadata so that
//! every gateway over one metadata store learns of a node that registered with any of
//! them, without a restart or a config change.
//!
//! A node registers, and renews its lease, through a gateway (`fastgate storage
//! --join`); the gateways read this table and add the nodes they do not know yet to
//! their groups, in the order the nodes first registered, so that every gateway gives a
//! node the same place in its group. The nodes listed in the `[cluster]` config come
//! first and are not kept here.

use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ids::now_ms;
use crate::keys;
use crate::records::{decode, encode};
use crate::store::Store;

/// A node that registered, and when its lease runs out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub group: String,
    pub url: String,
    /// The order of first registration, among every registered node.
    pub seq: u64,
    pub registered_ms: i64,
    /// Until when the node counts as present without renewing.
    pub lease_until_ms: i64,
}

impl Store {
    /// Registers node `url` in `group`, or renews its lease, for `lease` from now.
    pub async fn renew_node(self: &Arc<Self>, group: &str, url: &str, lease: Duration) -> Result<NodeRecord> {
        let (group, url) = (group.to_owned(), url.to_owned());
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        self.commit_with(Vec::new(), move |tx, _| {
            let key = keys::node(&group, &url);
            let now = now_ms();
            let rec = match tx.get(&key)? {
                Some(v) => NodeRecord {
                    lease_until_ms: now.saturating_add(lease_ms),
                    ..decode(&key, &v)?
                },
                None => {
                    // Few nodes: the next sequence number is one past the highest.
                    let mut seq = 0;
                    for k in tx.keys_with_prefix(&[keys::NODE])? {
                        if let Some(v) = tx.get(&k)? {
                            let other: NodeRecord = decode(&k, &v)?;
                            seq = seq.max(other.seq + 1);
                        }
                    }
                    NodeRecord {
                        group: group.clone(),
                        url: url.clone(),
                        seq,
                        registered_ms: now,
                        lease_until_ms: now.saturating_add(lease_ms),
                    }
                }
            };
            tx.put(&key, &encode(&rec))?;
            Ok(rec)
        })
        .await
    }

    /// Every registered node, in the order they first registered.
    pub async fn registered_nodes(self: &Arc<Self>) -> Result<Vec<NodeRecord>> {
        self.off_worker(|s| {
            let start = [keys::NODE];
            let end = [keys::NODE + 1];
            let mut out: Vec<NodeRecord> = Vec::new();
            for kv in s.meta.range(Bound::Included(&start), Bound::Excluded(&end)) {
                let (k, v) = kv?;
                out.push(decode(&k, &v)?);
            }
            out.sort_by_key(|n| n.seq);
            Ok(out)
        })
        .await
    }

    /// Forgets a registered node (one taken out of service); `false` when it was not
    /// registered. A node that registers again later comes back last.
    pub async fn forget_node(self: &Arc<Self>, group: &str, url: &str) -> Result<bool> {
        let key = keys::node(group, url);
        self.commit_with(Vec::new(), move |tx, _| {
            let known = tx.get(&key)?.is_some();
            tx.delete(&key)?;
            Ok(known)
        })
        .await
    }
}
