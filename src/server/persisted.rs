//! Persisted operations: which document a request runs when it names one by id or hash instead
//! of (or besides) sending its text.
//!
//! - Automatic persisted queries, Apollo's convention: `extensions.persistedQuery` is
//!   `{"version": 1, "sha256Hash": "<hex>"}`. A hash alone runs the document registered under it
//!   (by any hub process on the database: `store::persisted`), or is answered
//!   `PERSISTED_QUERY_NOT_FOUND`, upon which the client sends the hash with the document; the
//!   document's SHA-256 must then be that hash (`PERSISTED_QUERY_HASH_MISMATCH`), and it is
//!   registered once it has passed the document checks of admission.
//! - A manifest (`limits.persisted_manifest`), loaded at start, in Apollo's
//!   `apollo-persisted-query-manifest` format or Relay's `{"<id>": "<document>"}`: its
//!   operations run by id (`documentId` or `id` beside `query`, or the persisted query's hash)
//!   and by the SHA-256 of their text.
//! - Allow-list mode (`limits.persisted_only`): only the manifest's operations run; any other
//!   document, hash or id is refused with `PERSISTED_QUERY_NOT_ALLOWED`, and nothing is
//!   registered.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::audit::document_hash;

/// Where the document a request runs came from (a label of the operations metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// Sent as text, no persisted query involved.
    Document,
    /// Found by its hash among the automatic persisted queries.
    Persisted,
    /// Sent with its hash, and registered as an automatic persisted query.
    Registered,
    /// An operation of the manifest.
    Manifest,
}

impl Source {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Source::Document => "document",
            Source::Persisted => "persisted",
            Source::Registered => "registered",
            Source::Manifest => "manifest",
        }
    }
}

/// The operations of a persisted-operation manifest, by id and by the SHA-256 of their text.
#[derive(Debug, Default)]
pub(crate) struct Manifest {
    by_id: HashMap<String, Arc<str>>,
    by_hash: HashMap<String, Arc<str>>,
    /// The file it was read from, for messages.
    pub(crate) path: PathBuf,
}

impl Manifest {
    /// Reads and checks a manifest file; an error names the file and the entry.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Manifest> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the persisted-operation manifest {} (limits.persisted_manifest)",
                path.display()
            )
        })?;
        let mut manifest = Self::parse(&text).with_context(|| {
            format!(
                "the persisted-operation manifest {} (limits.persisted_manifest) is not valid",
                path.display()
            )
        })?;
        manifest.path = path.to_owned();
        Ok(manifest)
    }

    /// A manifest from its text: Apollo's format when the document names its `format`, else
    /// Relay's map of ids to documents.
    pub(crate) fn parse(text: &str) -> anyhow::Result<Manifest> {
        let value: Value = serde_json::from_str(text).context("not JSON")?;
        let Value::Object(top) = value else {
            bail!(
                "expected a JSON object: Apollo's {{\"format\": \"apollo-persisted-query-manifest\", \
                 \"version\": 1, \"operations\": [...]}} or Relay's {{\"<id>\": \"<document>\"}}"
            );
        };
        let mut manifest = Manifest::default();
        if let Some(format) = top.get("format") {
            if format.as_str() != Some("apollo-persisted-query-manifest") {
                bail!("format is {format}; only \"apollo-persisted-query-manifest\" is known");
            }
            if top.get("version").and_then(Value::as_i64) != Some(1) {
                bail!("version must be 1 for an apollo-persisted-query-manifest");
            }
            let Some(operations) = top.get("operations").and_then(Value::as_array) else {
                bail!("operations must be a list");
            };
            for (n, operation) in operations.iter().enumerate() {
                let id = operation.get("id").and_then(Value::as_str);
                let entry = match id {
                    Some(id) => format!("operations[{n}] (id {id:?})"),
                    None => format!("operations[{n}]"),
                };
                let Some(id) = id.filter(|id| !id.trim().is_empty()) else {
                    bail!("{entry}: id must be a non-empty string");
                };
                let Some(body) = operation.get("body").and_then(Value::as_str) else {
                    bail!("{entry}: body must be a string holding the operation's document");
                };
                if let Some(kind) = operation.get("type") {
                    let known = ["query", "mutation", "subscription"];
                    if !kind.as_str().is_some_and(|k| known.contains(&k)) {
                        bail!("{entry}: type must be \"query\", \"mutation\" or \"subscription\"");
                    }
                }
                manifest.add(&entry, id, body)?;
            }
        } else {
            for (id, body) in &top {
                let entry = format!("entry {id:?}");
                let Some(body) = body.as_str() else {
                    bail!("{entry}: a Relay manifest maps each id to its document as a string");
                };
                manifest.add(&entry, id, body)?;
            }
        }
        Ok(manifest)
    }

    fn add(&mut self, entry: &str, id: &str, body: &str) -> anyhow::Result<()> {
        if let Err(error) = async_graphql::parser::parse_query(body) {
            bail!("{entry}: the document does not parse: {error}");
        }
        let body: Arc<str> = Arc::from(body);
        if let Some(earlier) = self.by_id.insert(id.to_owned(), body.clone())
            && earlier != body
        {
            bail!("{entry}: the id is listed twice with different documents");
        }
        self.by_hash.insert(document_hash(&body), body);
        Ok(())
    }

    /// The operation a request names by id (or by hash, as Apollo manifests' ids are).
    pub(crate) fn by_id(&self, id: &str) -> Option<&Arc<str>> {
        self.by_id
            .get(id)
            .or_else(|| self.by_hash.get(&id.to_ascii_lowercase()))
    }

    /// Whether a document with this SHA-256 is in the manifest.
    pub(crate) fn has_hash(&self, hash: &str) -> bool {
        self.by_hash.contains_key(hash)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }
}

/// `extensions.persistedQuery` of a request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PersistedQuery {
    /// Lower-case hex SHA-256.
    pub(crate) hash: String,
}

/// Reads `extensions.persistedQuery`, if the request has one; the error is a message for the
/// client.
pub(crate) fn persisted_query(
    extensions: &async_graphql::Request,
) -> Result<Option<PersistedQuery>, String> {
    let Some(value) = extensions.extensions.get("persistedQuery") else {
        return Ok(None);
    };
    let value = value
        .clone()
        .into_json()
        .map_err(|_| "extensions.persistedQuery must be an object".to_owned())?;
    let version = value.get("version").and_then(Value::as_i64);
    if version != Some(1) {
        return Err(
            "extensions.persistedQuery.version must be 1 (the only version of automatic \
             persisted queries)"
                .to_owned(),
        );
    }
    let hash = value
        .get("sha256Hash")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| {
            "extensions.persistedQuery.sha256Hash must be the 64 hexadecimal digits of the \
             document's SHA-256"
                .to_owned()
        })?;
    Ok(Some(PersistedQuery { hash }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_apollo_and_relay_manifests() {
        let body = "query Me { me { role } }";
        let hash = document_hash(body);
        let apollo = format!(
            r#"{{"format":"apollo-persisted-query-manifest","version":1,
                "operations":[{{"id":"{hash}","name":"Me","type":"query","body":"{body}"}}]}}"#
        );
        let manifest = Manifest::parse(&apollo).expect("an Apollo manifest");
        assert_eq!(manifest.by_id(&hash).map(|b| &**b), Some(body));
        assert!(manifest.has_hash(&hash));
        let relay = format!(r#"{{"q1":"{body}"}}"#);
        let manifest = Manifest::parse(&relay).expect("a Relay manifest");
        assert_eq!(manifest.by_id("q1").map(|b| &**b), Some(body));
        assert!(manifest.has_hash(&hash));
        assert_eq!(manifest.len(), 1);
    }

    #[test]
    fn names_the_entry_that_is_wrong() {
        let broken = r#"{"format":"apollo-persisted-query-manifest","version":1,
            "operations":[{"id":"a","body":"{ me { role } }"},{"id":"b","body":"{ me { "}]}"#;
        let error = format!("{:#}", Manifest::parse(broken).expect_err("refused"));
        assert!(error.contains("operations[1] (id \"b\")"), "{error}");
        let relay = r#"{"x": 3}"#;
        let error = format!("{:#}", Manifest::parse(relay).expect_err("refused"));
        assert!(error.contains("entry \"x\""), "{error}");
        let version = r#"{"format":"apollo-persisted-query-manifest","version":2,"operations":[]}"#;
        assert!(Manifest::parse(version).is_err());
    }
}
