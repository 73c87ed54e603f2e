//! ListObjectsV2, ListObjects (v1) and ListObjectVersions.

use crate::common;

use std::collections::BTreeSet;

use aws_sdk_s3::types::EncodingType;
use common::*;
use futures::StreamExt as _;

const B: &str = "listing";

/// 250 keys in a small tree:
/// `docs/NNN.txt` (80), `logs/a/N` and `logs/b/N` (30 each), `photos/2024/img-NNN.jpg`
/// (100), `top-N` (10).
fn tree() -> Vec<String> {
    let mut keys = Vec::new();
    keys.extend((0..80).map(|i| format!("docs/{i:03}.txt")));
    keys.extend((0..30).map(|i| format!("logs/a/{i}")));
    keys.extend((0..30).map(|i| format!("logs/b/{i}")));
    keys.extend((0..100).map(|i| format!("photos/2024/img-{i:03}.jpg")));
    keys.extend((0..10).map(|i| format!("top-{i}")));
    keys
}

async fn put_all(c: &aws_sdk_s3::Client, keys: &[String]) {
    futures::stream::iter(keys.iter().cloned())
        .map(|k| {
            let c = c.clone();
            async move {
                put(&c, B, &k, k.as_bytes()).await;
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
}

async fn setup_tree() -> (Server, aws_sdk_s3::Client, Vec<String>) {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, B).await;
    let keys = tree();
    put_all(&c, &keys).await;
    let mut sorted = keys;
    sorted.sort();
    (srv, c, sorted)
}

/// Every page of a V2 listing: (keys, common prefixes, number of pages).
async fn list_v2_all(
    c: &aws_sdk_s3::Client,
    prefix: Option<&str>,
    delimiter: Option<&str>,
    max_keys: i32,
    start_after: Option<&str>,
) -> (Vec<String>, Vec<String>, usize) {
    let mut keys = Vec::new();
    let mut prefixes = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let out = c
            .list_objects_v2()
            .bucket(B)
            .set_prefix(prefix.map(str::to_owned))
            .set_delimiter(delimiter.map(str::to_owned))
            .max_keys(max_keys)
            .set_start_after(start_after.map(str::to_owned))
            .set_continuation_token(token.clone())
            .send()
            .await
            .expect("list_objects_v2");
        pages += 1;
        assert!(pages < 1000, "listing does not end");
        let n = out.contents().len() + out.common_prefixes().len();
        assert!(
            n <= usize::try_from(max_keys).unwrap(),
            "page of {n} > max-keys {max_keys}"
        );
        assert_eq!(out.key_count(), Some(i32::try_from(n).unwrap()), "KeyCount");
        assert_eq!(out.max_keys(), Some(max_keys));
        assert_eq!(out.continuation_token(), token.as_deref());
        keys.extend(out.contents().iter().map(|o| o.key().unwrap().to_owned()));
        prefixes.extend(out.common_prefixes().iter().map(|p| p.prefix().unwrap().to_owned()));
        if out.is_truncated() == Some(true) {
            assert_eq!(n, usize::try_from(max_keys).unwrap(), "a truncated page is full");
            token = Some(
                out.next_continuation_token()
                    .expect("truncated page has a continuation token")
                    .to_owned(),
            );
        } else {
            assert!(out.next_continuation_token().is_none());
            break;
        }
    }
    (keys, prefixes, pages)
}

#[tokio::test]
async fn v2_pagination_prefix_delimiter_start_after() {
    let (_srv, c, all) = setup_tree().await;

    // Everything, 7 at a time.
    let (keys, prefixes, pages) = list_v2_all(&c, None, None, 7, None).await;
    assert_eq!(keys, all);
    assert!(prefixes.is_empty());
    assert_eq!(pages, 250usize.div_ceil(7));

    // Default max-keys: one page.
    let out = c.list_objects_v2().bucket(B).send().await.unwrap();
    assert_eq!(out.contents().len(), 250);
    assert_eq!(out.is_truncated(), Some(false));
    let first = &out.contents()[0];
    assert_eq!(first.size(), Some(i64::try_from(all[0].len()).unwrap()));
    assert_eq!(
        first.e_tag(),
        Some(format!("\"{}\"", md5_hex(all[0].as_bytes())).as_str())
    );
    assert!(first.last_modified().is_some());

    // A prefix.
    let (keys, _, _) = list_v2_all(&c, Some("photos/"), None, 33, None).await;
    let want: Vec<String> = all.iter().filter(|k| k.starts_with("photos/")).cloned().collect();
    assert_eq!(keys.len(), 100);
    assert_eq!(keys, want);

    // A delimiter at the root: three folders and ten top-level keys, paginated by 2
    // (common prefixes count toward max-keys).
    let (keys, prefixes, _) = list_v2_all(&c, None, Some("/"), 2, None).await;
    assert_eq!(prefixes, ["docs/", "logs/", "photos/"]);
    let want: Vec<String> = (0..10).map(|i| format!("top-{i}")).collect();
    assert_eq!(keys, want);
    let (keys, prefixes, _) = list_v2_all(&c, None, Some("/"), 1000, None).await;
    assert_eq!(prefixes, ["docs/", "logs/", "photos/"]);
    assert_eq!(keys.len(), 10);

    // Prefix and delimiter.
    let (keys, prefixes, _) = list_v2_all(&c, Some("logs/"), Some("/"), 1, None).await;
    assert_eq!(prefixes, ["logs/a/", "logs/b/"]);
    assert!(keys.is_empty());
    let (keys, prefixes, _) = list_v2_all(&c, Some("logs/a/"), Some("/"), 1000, None).await;
    assert!(prefixes.is_empty());
    assert_eq!(keys.len(), 30);
    let (keys, prefixes, _) = list_v2_all(&c, Some("pho"), Some("/"), 1000, None).await;
    assert_eq!(prefixes, ["photos/"]);
    assert!(keys.is_empty());

    // A prefix that matches nothing.
    let (keys, prefixes, pages) = list_v2_all(&c, Some("zzz"), Some("/"), 10, None).await;
    assert!(keys.is_empty() && prefixes.is_empty());
    assert_eq!(pages, 1);

    // start-after.
    let (keys, _, _) = list_v2_all(&c, None, None, 40, Some("photos/2024/img-049.jpg")).await;
    let want: Vec<String> = all
        .iter()
        .filter(|k| k.as_str() > "photos/2024/img-049.jpg")
        .cloned()
        .collect();
    assert_eq!(keys.len(), 60);
    assert_eq!(keys, want);
    // start-after a key that does not exist.
    let (keys, _, _) = list_v2_all(&c, Some("docs/"), None, 1000, Some("docs/078~")).await;
    assert_eq!(keys, ["docs/079.txt"]);

    // max-keys 0.
    let out = c.list_objects_v2().bucket(B).max_keys(0).send().await.unwrap();
    assert!(out.contents().is_empty());
}

#[tokio::test]
async fn v2_encoding_type_url() {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, B).await;
    let keys = [
        "plain",
        "with space",
        "dir one/file two.txt",
        "ünïcödé/日本語.txt",
        "emoji 🎉",
        "sym&bols+=%?",
    ];
    for k in keys {
        put(&c, B, k, b"x").await;
    }
    let out = c
        .list_objects_v2()
        .bucket(B)
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    assert_eq!(out.encoding_type(), Some(&EncodingType::Url));
    let mut decoded = Vec::new();
    for o in out.contents() {
        let k = o.key().unwrap();
        assert!(
            k.is_ascii() && !k.contains(' '),
            "encoding-type=url leaves {k:?} unencoded"
        );
        decoded.push(
            percent_encoding::percent_decode_str(&k.replace('+', " "))
                .decode_utf8()
                .unwrap()
                .into_owned(),
        );
    }
    let want: BTreeSet<&str> = keys.iter().copied().collect();
    let got: BTreeSet<&str> = decoded.iter().map(String::as_str).collect();
    assert_eq!(got, want);

    // Delimiter and common prefixes are encoded as well.
    let out = c
        .list_objects_v2()
        .bucket(B)
        .delimiter("/")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    let prefixes: BTreeSet<String> = out
        .common_prefixes()
        .iter()
        .map(|p| {
            let p = p.prefix().unwrap();
            assert!(p.is_ascii() && !p.contains(' '), "{p:?}");
            percent_encoding::percent_decode_str(&p.replace('+', " "))
                .decode_utf8()
                .unwrap()
                .into_owned()
        })
        .collect();
    let want: BTreeSet<String> = ["dir one/", "ünïcödé/"].iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(prefixes, want);

    // Without encoding-type the keys come back verbatim.
    let out = c.list_objects_v2().bucket(B).send().await.unwrap();
    let got: BTreeSet<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(got, want_set(&keys));
}

fn want_set<'a>(keys: &[&'a str]) -> BTreeSet<&'a str> {
    keys.iter().copied().collect()
}

#[tokio::test]
async fn v2_empty_delimiter_is_no_delimiter() {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, B).await;
    let keys = ["a/1", "a/2", "b/1", "c"];
    for k in keys {
        put(&c, B, k, b"x").await;
    }
    let r = srv
        .signed("GET", &format!("/{B}?list-type=2&delimiter="), &[], b"")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let xml = r.text();
    assert!(!xml.contains("<CommonPrefixes>"), "{xml}");
    for k in keys {
        assert!(xml.contains(&format!("<Key>{k}</Key>")), "{k} missing: {xml}");
    }

    let out = c.list_objects_v2().bucket(B).delimiter("").send().await.unwrap();
    assert!(out.common_prefixes().is_empty(), "{out:?}");
    assert_eq!(out.contents().len(), 4);
}

#[tokio::test]
async fn v1_marker_pagination() {
    let (_srv, c, all) = setup_tree().await;
    let mut keys: Vec<String> = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let out = c
            .list_objects()
            .bucket(B)
            .max_keys(45)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("list_objects");
        pages += 1;
        assert!(pages < 100);
        assert!(out.contents().len() <= 45);
        assert_eq!(out.marker().unwrap_or(""), marker.as_deref().unwrap_or(""));
        keys.extend(out.contents().iter().map(|o| o.key().unwrap().to_owned()));
        if out.is_truncated() == Some(true) {
            // Without a delimiter NextMarker is optional: the last key is the marker.
            marker = Some(
                out.next_marker()
                    .map(str::to_owned)
                    .unwrap_or_else(|| keys.last().unwrap().clone()),
            );
        } else {
            break;
        }
    }
    assert_eq!(keys, all);
    assert_eq!(pages, 250usize.div_ceil(45));

    // With a delimiter, NextMarker is given and may be a common prefix.
    let mut prefixes = Vec::new();
    let mut keys = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = c
            .list_objects()
            .bucket(B)
            .delimiter("/")
            .max_keys(2)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("list_objects");
        keys.extend(out.contents().iter().map(|o| o.key().unwrap().to_owned()));
        prefixes.extend(out.common_prefixes().iter().map(|p| p.prefix().unwrap().to_owned()));
        if out.is_truncated() == Some(true) {
            marker = Some(out.next_marker().expect("NextMarker with a delimiter").to_owned());
        } else {
            break;
        }
    }
    assert_eq!(prefixes, ["docs/", "logs/", "photos/"]);
    assert_eq!(keys.len(), 10);

    // A marker in the middle, with a prefix.
    let out = c
        .list_objects()
        .bucket(B)
        .prefix("docs/")
        .marker("docs/077.txt")
        .send()
        .await
        .unwrap();
    let got: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(got, ["docs/078.txt", "docs/079.txt"]);
}

#[tokio::test]
async fn list_object_versions_shows_null() {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, B).await;
    for k in ["v/1", "v/2", "w"] {
        put(&c, B, k, k.as_bytes()).await;
    }
    let out = c.list_object_versions().bucket(B).send().await.expect("versions");
    let versions = out.versions();
    let keys: Vec<&str> = versions.iter().filter_map(|v| v.key()).collect();
    assert_eq!(keys, ["v/1", "v/2", "w"]);
    for v in versions {
        assert_eq!(v.version_id(), Some("null"), "{v:?}");
        assert_eq!(v.is_latest(), Some(true), "{v:?}");
        assert_eq!(
            v.e_tag(),
            Some(format!("\"{}\"", md5_hex(v.key().unwrap().as_bytes())).as_str())
        );
    }
    assert!(out.delete_markers().is_empty());

    let out = c.list_object_versions().bucket(B).prefix("v/").send().await.unwrap();
    assert_eq!(out.versions().len(), 2);

    // Asking for version "null" explicitly works as well.
    let got = c
        .get_object()
        .bucket(B)
        .key("w")
        .version_id("null")
        .send()
        .await
        .expect("get null version");
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"w");
}
