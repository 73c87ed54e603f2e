//! Just enough ListObjectsV2 / multipart XML reading for the benchmark.
//!
//! A plain scan instead of a full XML deserializer: the client only needs counts, a continuation token, the
//! common prefixes and an upload id, and a scan keeps it cheap while the server is being measured.

/// The parts of a ListObjectsV2 page the benchmark uses.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ListPage {
    pub keys: u64,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    pub next_token: Option<String>,
}

/// Reads a ListObjectsV2 result.
pub fn parse_list_page(xml: &str) -> ListPage {
    let mut page = ListPage {
        keys: count_tag(xml, "Key") as u64,
        is_truncated: tag_text(xml, "IsTruncated").is_some_and(|v| v.trim() == "true"),
        next_token: tag_text(xml, "NextContinuationToken").map(unescape),
        ..Default::default()
    };
    let mut rest = xml;
    while let Some(i) = rest.find("<CommonPrefixes>") {
        rest = &rest[i + "<CommonPrefixes>".len()..];
        let end = rest.find("</CommonPrefixes>").unwrap_or(rest.len());
        if let Some(p) = tag_text(&rest[..end], "Prefix") {
            page.common_prefixes.push(unescape(p));
        }
        rest = &rest[end..];
    }
    page
}

/// Text of the first `<tag>...</tag>` (also matches `<tag attr="...">`); None if absent.
pub fn tag_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut from = 0;
    while let Some(i) = xml[from..].find(&open) {
        let start = from + i + open.len();
        let after = &xml[start..];
        // Make sure this is `<tag>` or `<tag ...>`, not `<tagSomethingElse>`.
        match after.chars().next() {
            Some('>') | Some(' ') => {
                let gt = after.find('>')?;
                let body = &after[gt + 1..];
                let end = body.find(&close)?;
                return Some(&body[..end]);
            }
            _ => from = start,
        }
    }
    None
}

/// Number of `<tag>` elements.
pub fn count_tag(xml: &str, tag: &str) -> usize {
    let a = xml.matches(&format!("<{tag}>")).count();
    a + xml.matches(&format!("<{tag} ")).count()
}

/// Undoes the five predefined XML entities (enough for tokens and our own keys).
pub fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#43;", "+")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_page() {
        let xml = r#"<?xml version="1.0"?><ListBucketResult><Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount>
<IsTruncated>true</IsTruncated><NextContinuationToken>a&amp;b+=</NextContinuationToken>
<Contents><Key>p/x</Key><Size>1</Size></Contents><Contents><Key>p/y</Key></Contents>
<CommonPrefixes><Prefix>p/dir-1/</Prefix></CommonPrefixes><CommonPrefixes><Prefix>p/dir-2/</Prefix></CommonPrefixes>
</ListBucketResult>"#;
        let p = parse_list_page(xml);
        assert_eq!(p.keys, 2);
        assert!(p.is_truncated);
        assert_eq!(p.next_token.as_deref(), Some("a&b+="));
        assert_eq!(p.common_prefixes, vec!["p/dir-1/", "p/dir-2/"]);
    }

    #[test]
    fn tags() {
        assert_eq!(
            tag_text("<UploadIdX>no</UploadIdX><UploadId>u1</UploadId>", "UploadId"),
            Some("u1")
        );
        assert_eq!(tag_text("<a x=\"1\">v</a>", "a"), Some("v"));
        assert_eq!(tag_text("<a>v", "a"), None);
        let empty = parse_list_page("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>");
        assert_eq!(empty, ListPage::default());
    }
}
