//! Watch: newline-delimited JSON events over a chunked response.
//!
//! The start point follows the API server's rules: no resourceVersion (or "0")
//! sends the current state as ADDED events first; a resourceVersion sends only
//! later changes, or 410 Expired when it was compacted. `sendInitialEvents`
//! ends the initial state with a BOOKMARK annotated `k8s.io/initial-events-end`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::request::{Query, Representation, representation};
use super::respond;
use crate::cluster::{Cluster, WatchItem, as_version, watch_item};
use crate::error::{ApiError, ApiResult, Cause};
use crate::filter::Filter;
use crate::resources::{ResourceType, StorageKey};
use crate::store::Event;

/// How often a watch that allows bookmarks gets one.
pub(crate) const BOOKMARK_INTERVAL: Duration = Duration::from_secs(5);

/// A chunk of events gathered from those already waiting stops growing past this size.
const MAX_BATCH_BYTES: usize = 64 * 1024;

/// The watch timeout when the client sets none (the real server picks 30–60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// Start a watch and answer with its event stream.
pub(crate) fn serve(
    cluster: Arc<Cluster>,
    rt: Arc<ResourceType>,
    namespace: Option<String>,
    filter: Filter,
    query: &Query,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let as_table = representation(headers)? == Representation::Table;
    let send_initial = match query.get("sendInitialEvents") {
        None | Some("") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid value for sendInitialEvents: {other:?}"
            )));
        }
    };
    let bookmarks = query.flag("allowWatchBookmarks");
    if send_initial.is_some() {
        let mut causes = Vec::new();
        if query.get("resourceVersionMatch") != Some("NotOlderThan") {
            causes.push(Cause::forbidden(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        if !bookmarks {
            causes.push(Cause::forbidden(
                "allowWatchBookmarks",
                "sendInitialEvents requires setting allowWatchBookmarks to true",
            ));
        }
        if !causes.is_empty() {
            return Err(ApiError::invalid("meta.k8s.io", "ListOptions", "", causes));
        }
    }
    let rv = query.get("resourceVersion").unwrap_or("");
    let since = match (rv, send_initial) {
        (_, Some(true)) | ("" | "0", _) => None,
        (n, _) => Some(
            n.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {n:?}")))?,
        ),
    };
    let timeout = query
        .number("timeoutSeconds")?
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let (initial, start_revision, rx) =
        match cluster.watch(&rt, namespace.as_deref(), since, &filter) {
            Ok(started) => started,
            // Like the apiserver's watch cache: once the request is valid, a resourceVersion that
            // is too old fails as an ERROR event in a 200 stream, not as an HTTP error.
            Err(e) if e.code == 410 => {
                let mut line = serde_json::to_vec(&json!({"type": "ERROR", "object": e.status()}))
                    .unwrap_or_default();
                line.push(b'\n');
                return Ok(
                    (StatusCode::OK, [("content-type", "application/json")], line).into_response(),
                );
            }
            Err(e) => return Err(e),
        };
    let (tx, body_rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(256);
    let watch = Watch {
        cluster,
        rt,
        namespace,
        filter,
        as_table,
        first_table: true,
        scratch: Vec::new(),
    };
    tokio::spawn(watch.run(
        tx,
        initial,
        start_revision,
        rx,
        send_initial == Some(true),
        bookmarks,
        timeout,
    ));
    let body = Body::from_stream(ReceiverStream::new(body_rx));
    Ok((
        StatusCode::OK,
        [
            ("content-type", "application/json"),
            ("transfer-encoding", "chunked"),
        ],
        body,
    )
        .into_response())
}

struct Watch {
    cluster: Arc<Cluster>,
    rt: Arc<ResourceType>,
    namespace: Option<String>,
    filter: Filter,
    as_table: bool,
    first_table: bool,
    /// Where a chunk is written before it is copied out at its size: grown once and kept,
    /// instead of a vector grown by doubling for each chunk and freed after its write
    /// (those reallocations, each on fresh pages, were 7% of kubesim's CPU in a fleet
    /// cold start).
    scratch: Vec<u8>,
}

type Sink = mpsc::Sender<Result<Bytes, std::io::Error>>;

impl Watch {
    #[allow(clippy::too_many_arguments)]
    async fn run(
        mut self,
        tx: Sink,
        initial: Vec<WatchItem>,
        start_revision: u64,
        mut rx: broadcast::Receiver<Arc<crate::store::Event>>,
        end_initial_with_bookmark: bool,
        bookmarks: bool,
        timeout: Duration,
    ) {
        let resource = self.rt.storage_key();
        let mut last = start_revision;
        // The initial state goes out in chunks of many events too.
        let mut batch = Vec::new();
        for item in &initial {
            self.encode_value(&mut batch, item.kind, &item.object);
            if batch.len() >= MAX_BATCH_BYTES
                && tx
                    .send(Ok(Bytes::from(std::mem::take(&mut batch))))
                    .await
                    .is_err()
            {
                return;
            }
        }
        if !batch.is_empty() && tx.send(Ok(Bytes::from(batch))).await.is_err() {
            return;
        }
        if end_initial_with_bookmark && !self.bookmark(&tx, start_revision, true).await {
            return;
        }
        let mut dropped = self.cluster.watch_epoch();
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(BOOKMARK_INTERVAL);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                _ = dropped.changed() => return,
                _ = ticker.tick(), if bookmarks => {
                    if !self.bookmark(&tx, last, false).await {
                        return;
                    }
                }
                event = rx.recv() => {
                    let (batch, ends) = self.gather(event, &mut rx, &mut last, &resource);
                    let unsent = !batch.is_empty() && tx.send(Ok(batch)).await.is_err();
                    if unsent || ends {
                        return;
                    }
                }
            }
        }
    }

    /// The lines of `first` and of the events already waiting behind it, up to
    /// [`MAX_BATCH_BYTES`]: one chunk for a burst of changes (the same lines, fewer
    /// writes and TLS records). `true` when the watch ends after them: the fan-out closed,
    /// or the watcher fell behind it — then, like the apiserver's cacher, an ERROR with
    /// 410 ends the chunk so the client relists.
    fn gather(
        &mut self,
        first: Result<Arc<Event>, RecvError>,
        rx: &mut broadcast::Receiver<Arc<Event>>,
        last: &mut u64,
        resource: &StorageKey,
    ) -> (Bytes, bool) {
        let mut batch = std::mem::take(&mut self.scratch);
        batch.clear();
        let ends = self.gather_into(&mut batch, first, rx, last, resource);
        let chunk = Bytes::copy_from_slice(&batch);
        self.scratch = batch;
        (chunk, ends)
    }

    fn gather_into(
        &mut self,
        batch: &mut Vec<u8>,
        first: Result<Arc<Event>, RecvError>,
        rx: &mut broadcast::Receiver<Arc<Event>>,
        last: &mut u64,
        resource: &StorageKey,
    ) -> bool {
        let mut next = Some(first);
        while let Some(event) = next.take() {
            match event {
                Ok(e) if e.revision <= *last => {}
                Ok(e) => {
                    *last = e.revision;
                    if let Some(item) =
                        watch_item(&e, resource, self.namespace.as_deref(), &self.filter)
                    {
                        if self.sends_as_stored() {
                            encode_event(batch, item.kind, e.encoded_object());
                        } else {
                            self.encode(batch, item.kind, &item.object);
                        }
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    let status = ApiError::expired(format!(
                        "too old resource version: {last} ({})",
                        self.cluster.revision()
                    ))
                    .status();
                    encode_raw(batch, "ERROR", status);
                    return true;
                }
                Err(RecvError::Closed) => return true,
            }
            if batch.len() < MAX_BATCH_BYTES {
                next = match rx.try_recv() {
                    Ok(e) => Some(Ok(e)),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
                    Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
                };
            }
        }
        false
    }

    /// Whether objects go out exactly as stored (no other version, no Table).
    fn sends_as_stored(&self) -> bool {
        !self.as_table && self.rt.version == self.rt.storage_version
    }

    /// Appends the event line of `object`, as stored when the watch takes it so.
    fn encode_value(&mut self, out: &mut Vec<u8>, kind: &str, object: &Value) {
        if self.sends_as_stored() {
            let encoded = serde_json::to_vec(object).unwrap_or_default();
            encode_event(out, kind, &encoded);
        } else {
            self.encode(out, kind, object);
        }
    }

    /// Appends the event line of `object` in the watch's version or as a Table.
    fn encode(&mut self, out: &mut Vec<u8>, kind: &str, object: &Value) {
        let obj = as_version(object, &self.rt);
        let body = if self.as_table {
            let mut t = respond::table_of(
                &self.rt,
                &[&obj],
                json!({"resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!(""))}),
            );
            // Like the server, only the first Table of a watch carries column definitions.
            if !self.first_table {
                t["columnDefinitions"] = Value::Null;
            }
            self.first_table = false;
            t
        } else {
            obj
        };
        encode_raw(out, kind, body);
    }

    async fn bookmark(&mut self, tx: &Sink, revision: u64, initial_end: bool) -> bool {
        let mut meta = json!({"resourceVersion": revision.to_string(), "creationTimestamp": null});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj =
            json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": meta});
        self.send_raw(tx, "BOOKMARK", obj).await
    }

    async fn send_raw(&self, tx: &Sink, kind: &str, object: Value) -> bool {
        let mut line = Vec::new();
        encode_raw(&mut line, kind, object);
        tx.send(Ok(Bytes::from(line))).await.is_ok()
    }
}

/// Appends one event line whose object is already encoded as JSON.
fn encode_event(out: &mut Vec<u8>, kind: &str, object: &[u8]) {
    out.reserve(object.len() + kind.len() + 24);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(object);
    out.extend_from_slice(b"}\n");
}

/// Appends one event line.
fn encode_raw(out: &mut Vec<u8>, kind: &str, object: Value) {
    if serde_json::to_writer(&mut *out, &json!({"type": kind, "object": object})).is_ok() {
        out.push(b'\n');
    }
}
