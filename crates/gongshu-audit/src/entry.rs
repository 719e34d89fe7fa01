//! One audit entry: who did what to which object, under which grant, with what outcome,
//! when, from where — and no raw personal data: people are user ids, addresses are keyed
//! pseudonyms.

use serde::{Deserialize, Serialize};

/// The fields are declared in code-point order and hold only strings, integers and nulls,
/// so serde_json writes them as RFC 8785 canonical JSON: sorted keys, no whitespace,
/// minimal escapes. The bytes hashed are the bytes stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// What was done, as `area.verb`: `data.download`, `dataset.approve`, `auth.login` …
    pub action: String,
    /// The user id, none for an anonymous visitor.
    pub actor: Option<i64>,
    /// A keyed pseudonym of the client's address (the same address gives the same
    /// pseudonym; the address cannot be read back without the key).
    pub client: Option<String>,
    /// The catalog entry the object belongs to, so that its provider can ask who used it.
    pub dataset: Option<i64>,
    /// The grant the access was made under.
    pub grant: Option<i64>,
    /// What it was done to, as `kind:id`: `resource:3f2a…`, `dataset:12`, `user:7`.
    pub object: String,
    /// The organisation the actor acted for.
    pub org: Option<i64>,
    /// `ok`, `denied` (refused by a rule) or `failed` (an error).
    pub outcome: String,
    /// The request id (`x-request-id`), to find the request in the service logs.
    pub request: Option<String>,
    /// The role the actor acted in.
    pub role: Option<String>,
    /// The HTTP status answered.
    pub status: Option<u16>,
    /// UTC, RFC 3339 with milliseconds.
    pub time: String,
}

impl Entry {
    /// The canonical bytes: what is stored and hashed.
    pub fn canonical(&self) -> String {
        // A struct of strings and integers always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }
}
