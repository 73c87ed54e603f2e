//! The S3 XML documents the benchmark reads and writes, as serde types for quick-xml.
//!
//! Only the fields the benchmark uses are declared; everything else in a document is skipped.
//! Listing pages are read with the event reader and their keys counted, not kept (see
//! [`parse_list_page`]), so reading a 1000-key page while the server is measured costs little.

use serde::{Deserialize, Serialize};

/// The parts of a ListObjectsV2 page (`ListBucketResult`) the benchmark uses.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ListPage {
    pub keys: u64,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    pub next_token: Option<String>,
}

/// Why a ListObjectsV2 answer could not be read.
#[derive(Debug)]
pub enum ListError {
    Xml(quick_xml::Error),
    Escape(quick_xml::escape::EscapeError),
    /// `<IsTruncated>` that is neither `true` nor `false`.
    NotABool(String),
    /// The document ended inside an element.
    Unclosed,
}

impl std::fmt::Display for ListError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Xml(e) => write!(f, "{e}"),
            Self::Escape(e) => write!(f, "{e}"),
            Self::NotABool(v) => write!(f, "IsTruncated is {v:?}, not a boolean"),
            Self::Unclosed => f.write_str("the document ends inside an element"),
        }
    }
}

impl std::error::Error for ListError {}

impl From<quick_xml::Error> for ListError {
    fn from(e: quick_xml::Error) -> Self {
        Self::Xml(e)
    }
}

impl From<quick_xml::escape::EscapeError> for ListError {
    fn from(e: quick_xml::escape::EscapeError) -> Self {
        Self::Escape(e)
    }
}

/// Reads a ListObjectsV2 result with quick-xml's event reader, skipping each `<Contents>`
/// whole: the client shares the cores with the server under test, and building (or
/// even skipping through serde) the 1,000 entries of a page cost more client CPU than the
/// server spent listing them.
pub fn parse_list_page(xml: &str) -> Result<ListPage, ListError> {
    use quick_xml::escape::unescape;
    use quick_xml::events::Event;

    let mut reader = quick_xml::Reader::from_str(xml);
    let mut page = ListPage::default();
    let mut depth = 0usize;
    loop {
        match reader.read_event()? {
            Event::Start(e) if depth == 1 => {
                let name = e.name();
                match name.as_ref() {
                    b"Contents" => {
                        page.keys += 1;
                        reader.read_to_end(name)?;
                    }
                    b"IsTruncated" => {
                        page.is_truncated = match reader.read_text(name)?.trim() {
                            "true" => true,
                            "false" => false,
                            other => return Err(ListError::NotABool(other.to_owned())),
                        };
                    }
                    b"NextContinuationToken" => {
                        let t = reader.read_text(name)?;
                        page.next_token = Some(unescape(&t)?.into_owned());
                    }
                    b"CommonPrefixes" => loop {
                        match reader.read_event()? {
                            Event::Start(p) if p.name().as_ref() == b"Prefix" => {
                                let t = reader.read_text(p.name())?;
                                page.common_prefixes.push(unescape(&t)?.into_owned());
                            }
                            Event::End(p) if p.name().as_ref() == b"CommonPrefixes" => break,
                            Event::Eof => return Err(ListError::Unclosed),
                            _ => {}
                        }
                    },
                    _ => {
                        reader.read_to_end(name)?;
                    }
                }
            }
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Eof if depth == 0 => return Ok(page),
            Event::Eof => return Err(ListError::Unclosed),
            _ => {}
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InitiateMultipartUploadResult {
    upload_id: String,
}

/// The upload id of a CreateMultipartUpload answer.
pub fn parse_upload_id(xml: &str) -> Result<String, quick_xml::DeError> {
    let r: InitiateMultipartUploadResult = quick_xml::de::from_str(xml)?;
    Ok(r.upload_id)
}

/// A CompleteMultipartUpload request body.
#[derive(Serialize)]
#[serde(rename = "CompleteMultipartUpload")]
pub struct CompleteMultipartUpload {
    #[serde(rename = "Part")]
    pub parts: Vec<CompletedPart>,
}

#[derive(Serialize)]
pub struct CompletedPart {
    #[serde(rename = "PartNumber")]
    pub part_number: u64,
    #[serde(rename = "ETag")]
    pub etag: String,
}

impl CompleteMultipartUpload {
    pub fn to_xml(&self) -> Result<String, quick_xml::SeError> {
        quick_xml::se::to_string(self)
    }
}

/// An S3 `<Error>` document's code.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorDocument {
    code: String,
}

/// The `<Code>` of `xml` when it is an S3 `<Error>` document (S3 may answer
/// CompleteMultipartUpload with 200 and an error in the body), else None.
pub fn error_code(xml: &[u8]) -> Option<String> {
    if root_element(xml)? != "Error" {
        return None;
    }
    let doc: ErrorDocument = quick_xml::de::from_reader(xml).ok()?;
    Some(doc.code)
}

/// The name of the document's root element.
fn root_element(xml: &[u8]) -> Option<String> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).ok()? {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                return Some(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
            }
            quick_xml::events::Event::Eof => return None,
            _ => buf.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_page_gives_its_key_count_prefixes_and_unescaped_token() {
        let xml = r#"<?xml version="1.0"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount>
<IsTruncated>true</IsTruncated><NextContinuationToken>a&amp;b&#43;=</NextContinuationToken>
<Contents><Key>p/x</Key><Size>1</Size></Contents><Contents><Key>p/y</Key></Contents>
<CommonPrefixes><Prefix>p/dir-1/</Prefix></CommonPrefixes><CommonPrefixes><Prefix>p/dir-2/</Prefix></CommonPrefixes>
</ListBucketResult>"#;
        let p = parse_list_page(xml).unwrap();
        assert_eq!(p.keys, 2);
        assert!(p.is_truncated);
        assert_eq!(p.next_token.as_deref(), Some("a&b+="));
        assert_eq!(p.common_prefixes, vec!["p/dir-1/", "p/dir-2/"]);
    }

    #[test]
    fn an_empty_list_page_is_the_default_and_garbage_is_an_error() {
        let empty = parse_list_page("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>");
        assert_eq!(empty.unwrap(), ListPage::default());
        assert!(parse_list_page("<ListBucketResult><IsTruncated>maybe</IsTruncated>").is_err());
    }

    #[test]
    fn the_upload_id_is_read_from_its_own_element() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadIdX>no</UploadIdX><UploadId>u1</UploadId></InitiateMultipartUploadResult>"#;
        assert_eq!(parse_upload_id(xml).unwrap(), "u1");
        assert!(parse_upload_id("<InitiateMultipartUploadResult/>").is_err());
    }

    #[test]
    fn a_complete_request_escapes_quoted_etags() {
        let body = CompleteMultipartUpload {
            parts: vec![
                CompletedPart {
                    part_number: 1,
                    etag: "\"a1\"".into(),
                },
                CompletedPart {
                    part_number: 2,
                    etag: "b<2>".into(),
                },
            ],
        };
        let xml = body.to_xml().unwrap();
        assert!(
            xml.starts_with("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"),
            "{xml}"
        );
        assert!(xml.contains("<ETag>b&lt;2&gt;</ETag>"), "{xml}");
        assert!(
            xml.contains("<ETag>\"a1\"</ETag>") || xml.contains("<ETag>&quot;a1&quot;</ETag>"),
            "{xml}"
        );
    }

    #[test]
    fn only_error_documents_have_an_error_code() {
        let err =
            br#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidPart</Code><Message>m</Message></Error>"#;
        assert_eq!(error_code(err).as_deref(), Some("InvalidPart"));
        let ok = br#"<?xml version="1.0"?><CompleteMultipartUploadResult><ETag>"x-2"</ETag><Code>no</Code></CompleteMultipartUploadResult>"#;
        assert_eq!(error_code(ok), None);
        assert_eq!(error_code(b""), None);
    }
}
