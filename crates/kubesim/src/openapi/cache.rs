//! Published OpenAPI documents, built once per distinct set of served types and
//! shared by every cluster serving that set (100 clusters with only built-in kinds
//! hold one copy).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, OnceLock};

use bytes::Bytes;
use parking_lot::Mutex;

use crate::registry::Registry;

/// How many distinct type sets to keep documents for.
const MAX_ENTRIES: usize = 64;

/// The documents of one set of served types, serialized.
pub struct Published {
    registry: Arc<Registry>,
    v3: HashMap<String, (String, Bytes)>,
    root: Bytes,
    v2: OnceLock<(Bytes, Bytes)>,
}

static CACHE: LazyLock<Mutex<HashMap<u64, Arc<Published>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The documents for `registry`, from the cache when another cluster already built them.
pub fn published(registry: &Arc<Registry>) -> Arc<Published> {
    if let Some(p) = CACHE.lock().get(&registry.fingerprint) {
        return p.clone();
    }
    let documents = super::v3_documents(registry);
    let root = Bytes::from(super::v3_root_from(&documents).to_string());
    let v3 = documents
        .into_iter()
        .map(|(key, doc)| {
            let hash = super::document_hash(&doc);
            (key, (hash, Bytes::from(doc.to_string())))
        })
        .collect();
    let published = Arc::new(Published {
        registry: registry.clone(),
        v3,
        root,
        v2: OnceLock::new(),
    });
    let mut cache = CACHE.lock();
    if cache.len() >= MAX_ENTRIES {
        cache.clear();
    }
    cache
        .entry(registry.fingerprint)
        .or_insert(published)
        .clone()
}

impl Published {
    /// The `/openapi/v3` root.
    pub fn root(&self) -> Bytes {
        self.root.clone()
    }

    /// One group-version's document and its hash.
    pub fn group_version(&self, key: &str) -> Option<(&str, Bytes)> {
        self.v3.get(key).map(|(h, b)| (h.as_str(), b.clone()))
    }

    /// `/openapi/v2` as JSON.
    pub fn v2_json(&self) -> Bytes {
        self.v2().0.clone()
    }

    /// `/openapi/v2` as gnostic protobuf.
    pub fn v2_protobuf(&self) -> Bytes {
        self.v2().1.clone()
    }

    fn v2(&self) -> &(Bytes, Bytes) {
        self.v2.get_or_init(|| {
            let doc = super::v2_json(&self.registry);
            let proto = super::v2_protobuf(&doc);
            (Bytes::from(doc.to_string()), Bytes::from(proto))
        })
    }
}
