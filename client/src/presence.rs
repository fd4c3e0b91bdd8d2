//! [`Presence`]: phoenix.js's `Presence` class for a [`Channel`] that Phoenix.Presence tracks.
//!
//! The view follows `presence_state` and `presence_diff` exactly as phoenix.js 1.8 does
//! (`syncState`, `syncDiff`):
//! - a `presence_state` replaces the view; keys and metas (by `phx_ref`) that vanished are
//!   reported as leaves, new ones as joins;
//! - a `presence_diff` adds its joins (a key's metas not in the join are kept, before the new
//!   ones) and removes its leaves by `phx_ref`; a key with no metas left is gone;
//! - a diff that arrives before the first `presence_state` of the current join (phoenix.js:
//!   the channel's join_ref differs from the one the last state came with) is held and applied
//!   right after that state. So after a rejoin the new state replaces the old view, with leaves
//!   for whoever vanished meanwhile.
//!
//! [`PresenceSync`] is that logic alone, sans-IO; [`Presence`] drives it from a channel's
//! events and hands out one ordered stream of [`PresenceChange`]s (phoenix.js's onJoin, onLeave
//! and onSync callbacks, in the order phoenix.js calls them). Created before `join()` (or any
//! time, since a channel's events queue from its creation), it misses nothing.

use std::collections::BTreeMap;
use std::collections::VecDeque;

use std::sync::{Arc, Mutex};

use phx_protocol::Ref;
use serde_json::{Map, Value};
use tokio::sync::Notify;

use crate::channel::Channel;
use crate::error::EventsError;
use crate::reply::ChannelEvent;

/// The event that carries the whole state.
pub const PRESENCE_STATE: &str = "presence_state";
/// The event that carries a diff.
pub const PRESENCE_DIFF: &str = "presence_diff";

/// One key's presence: `{"metas": [...]}` plus anything else the server's `fetch/2` added.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PresenceEntry {
    /// The metas, each with its `phx_ref`, oldest first.
    pub metas: Vec<Map<String, Value>>,
    /// Fields besides `metas` (from a custom `fetch/2`), as sent.
    pub extra: Map<String, Value>,
}

impl PresenceEntry {
    fn from_value(v: &Value) -> Self {
        let mut extra = v.as_object().cloned().unwrap_or_default();
        let metas = extra
            .remove("metas")
            .and_then(|m| match m {
                Value::Array(a) => Some(a.into_iter().filter_map(|m| match m {
                    Value::Object(o) => Some(o),
                    _ => None,
                })),
                _ => None,
            })
            .map(Iterator::collect)
            .unwrap_or_default();
        PresenceEntry { metas, extra }
    }

    /// The `phx_ref`s of the metas, in order.
    pub fn refs(&self) -> Vec<&str> {
        self.metas.iter().map(meta_ref).collect()
    }

    /// As JSON (`{"metas": [...], …}`), the shape phoenix.js's `list` hands its chooser.
    pub fn to_value(&self) -> Value {
        let mut o = self.extra.clone();
        o.insert(
            "metas".into(),
            Value::Array(self.metas.iter().cloned().map(Value::Object).collect()),
        );
        Value::Object(o)
    }
}

fn meta_ref(m: &Map<String, Value>) -> &str {
    m.get("phx_ref").and_then(Value::as_str).unwrap_or("")
}

/// A change of the view, in phoenix.js's callback order.
#[derive(Clone, Debug, PartialEq)]
pub enum PresenceChange {
    /// `onJoin(key, current, newPres)`: metas joined under `key`; `current` is the entry before
    /// (None when the key is new).
    Join {
        /// The presence key.
        key: String,
        /// The key's entry before the join.
        current: Option<PresenceEntry>,
        /// The joined metas.
        joined: PresenceEntry,
    },
    /// `onLeave(key, current, leftPres)`: metas left `key`; `current` is what remains (no metas:
    /// the key is gone).
    Leave {
        /// The presence key.
        key: String,
        /// The key's entry after the leave.
        current: PresenceEntry,
        /// The metas that left.
        left: PresenceEntry,
    },
    /// `onSync()`: a state or diff has been applied in full; the view is consistent.
    Sync,
}

/// The view and its sync rules, sans-IO: feed it events with the channel's current join_ref.
#[derive(Clone, Debug, Default)]
pub struct PresenceSync {
    state: BTreeMap<String, PresenceEntry>,
    pending: Vec<Value>,
    /// The join_ref the last `presence_state` came with.
    join_ref: Option<String>,
}

impl PresenceSync {
    /// An empty view.
    pub fn new() -> Self {
        Self::default()
    }

    /// The view: key → entry.
    pub fn state(&self) -> &BTreeMap<String, PresenceEntry> {
        &self.state
    }

    /// Diffs held until the state of the current join comes.
    pub fn pending_diffs(&self) -> usize {
        self.pending.len()
    }

    /// phoenix.js `inPendingSyncState`: no state yet, or not for the channel's current join.
    pub fn in_pending_sync_state(&self, channel_join_ref: Option<&str>) -> bool {
        self.join_ref.is_none() || self.join_ref.as_deref() != channel_join_ref
    }

    /// Feeds one channel event; `channel_join_ref` is the channel's join_ref now. Events other
    /// than presence_state/presence_diff change nothing.
    pub fn handle(
        &mut self,
        event: &str,
        payload: &Value,
        channel_join_ref: Option<&str>,
    ) -> Vec<PresenceChange> {
        let mut out = Vec::new();
        match event {
            PRESENCE_STATE => {
                self.join_ref = channel_join_ref.map(str::to_owned);
                self.sync_state(payload, &mut out);
                for diff in std::mem::take(&mut self.pending) {
                    self.sync_diff(&diff, &mut out);
                }
                out.push(PresenceChange::Sync);
            }
            PRESENCE_DIFF => {
                if self.in_pending_sync_state(channel_join_ref) {
                    self.pending.push(payload.clone());
                } else {
                    self.sync_diff(payload, &mut out);
                    out.push(PresenceChange::Sync);
                }
            }
            _ => {}
        }
        out
    }

    /// phoenix.js `Presence.syncState`.
    fn sync_state(&mut self, new_state: &Value, out: &mut Vec<PresenceChange>) {
        let new: BTreeMap<String, PresenceEntry> = new_state
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), PresenceEntry::from_value(v)))
                    .collect()
            })
            .unwrap_or_default();
        let mut joins = BTreeMap::new();
        let mut leaves = BTreeMap::new();
        for (key, presence) in &self.state {
            if !new.contains_key(key) {
                leaves.insert(key.clone(), presence.clone());
            }
        }
        for (key, new_presence) in new {
            match self.state.get(&key) {
                Some(current) => {
                    let new_refs = new_presence.refs();
                    let cur_refs = current.refs();
                    let joined: Vec<_> = new_presence
                        .metas
                        .iter()
                        .filter(|m| !cur_refs.contains(&meta_ref(m)))
                        .cloned()
                        .collect();
                    let left: Vec<_> = current
                        .metas
                        .iter()
                        .filter(|m| !new_refs.contains(&meta_ref(m)))
                        .cloned()
                        .collect();
                    if !joined.is_empty() {
                        joins.insert(
                            key.clone(),
                            PresenceEntry {
                                metas: joined,
                                extra: new_presence.extra.clone(),
                            },
                        );
                    }
                    if !left.is_empty() {
                        leaves.insert(
                            key,
                            PresenceEntry {
                                metas: left,
                                extra: current.extra.clone(),
                            },
                        );
                    }
                }
                None => {
                    joins.insert(key, new_presence);
                }
            }
        }
        self.apply(joins, leaves, out);
    }

    /// phoenix.js `Presence.syncDiff`.
    fn sync_diff(&mut self, diff: &Value, out: &mut Vec<PresenceChange>) {
        let half = |name: &str| -> BTreeMap<String, PresenceEntry> {
            diff.get(name)
                .and_then(Value::as_object)
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), PresenceEntry::from_value(v)))
                        .collect()
                })
                .unwrap_or_default()
        };
        self.apply(half("joins"), half("leaves"), out);
    }

    fn apply(
        &mut self,
        joins: BTreeMap<String, PresenceEntry>,
        leaves: BTreeMap<String, PresenceEntry>,
        out: &mut Vec<PresenceChange>,
    ) {
        for (key, new_presence) in joins {
            let current = self.state.get(&key).cloned();
            let mut merged = new_presence.clone();
            if let Some(cur) = &current {
                let joined_refs = new_presence.refs();
                let kept: Vec<_> = cur
                    .metas
                    .iter()
                    .filter(|m| !joined_refs.contains(&meta_ref(m)))
                    .cloned()
                    .collect();
                merged.metas = kept.into_iter().chain(merged.metas).collect();
            }
            self.state.insert(key.clone(), merged);
            out.push(PresenceChange::Join {
                key,
                current,
                joined: new_presence,
            });
        }
        for (key, left) in leaves {
            let Some(current) = self.state.get_mut(&key) else {
                continue;
            };
            let remove = left.refs();
            current.metas.retain(|m| !remove.contains(&meta_ref(m)));
            let now = current.clone();
            if now.metas.is_empty() {
                self.state.remove(&key);
            }
            out.push(PresenceChange::Leave {
                key,
                current: now,
                left,
            });
        }
    }

    /// phoenix.js `Presence.list(presences, chooser)`: one item per key, in key order.
    pub fn list_by<T>(&self, mut chooser: impl FnMut(&str, &PresenceEntry) -> T) -> Vec<T> {
        self.state.iter().map(|(k, p)| chooser(k, p)).collect()
    }

    /// The view as `{key: {"metas": [...]}}`: the shape of `presence_state`, to compare views.
    pub fn to_value(&self) -> Value {
        Value::Object(
            self.state
                .iter()
                .map(|(k, p)| (k.clone(), p.to_value()))
                .collect(),
        )
    }
}

/// Changes kept for [`Presence::next`] before the oldest are dropped (the view stays exact).
pub const MAX_UNREAD_CHANGES: usize = 65_536;

struct Shared {
    sync: PresenceSync,
    changes: VecDeque<PresenceChange>,
    dropped: u64,
}

/// A channel's presence view, kept in sync from its events.
///
/// A task (spawned by [`Presence::new`], stopped when the `Presence` is dropped) applies each
/// event as it arrives, so that a diff is classified against the channel's join_ref of that
/// moment, as phoenix.js does in its event handler; a diff still queued when the channel rejoins
/// must not count as one of the new join. The changes wait for [`Presence::next`] (at most
/// [`MAX_UNREAD_CHANGES`]; beyond that the oldest go and `next` reports how many).
///
/// ```no_run
/// # async fn demo(socket: phx_client::Socket) -> Result<(), Box<dyn std::error::Error>> {
/// let channel = socket.channel("presence:lobby");
/// let mut presence = phx_client::Presence::new(&channel);
/// channel.join(serde_json::json!({"user_id": "alice"})).await?;
/// while let Ok(change) = presence.next().await {
///     if change == phx_client::PresenceChange::Sync {
///         println!("{:?}", presence.list_by(|key, p| (key.to_owned(), p.metas.len())));
///     }
/// }
/// # Ok(()) }
/// ```
pub struct Presence {
    topic: String,
    shared: Arc<Mutex<Shared>>,
    notify: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why [`Presence::next`] returned no change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PresenceError {
    /// More than [`MAX_UNREAD_CHANGES`] changes were not taken; this many of the oldest were
    /// dropped. The view itself is exact: read it with [`Presence::list`]. Reported once.
    #[error("{0} presence changes were dropped unread; the view is still exact")]
    Lagged(u64),
}

fn feed(shared: &Mutex<Shared>, channel: &Channel, ev: &ChannelEvent) {
    let Some(payload) = ev.payload.as_json() else {
        return;
    };
    let join_ref = match (ev.event.as_str(), &ev.join_ref) {
        // The state is a push of the join it belongs to: its own join_ref says which.
        (PRESENCE_STATE, Ref::Str(s)) => Some(s.clone()),
        _ => channel.join_ref(),
    };
    let mut s = lock(shared);
    let changes = s.sync.handle(&ev.event, payload, join_ref.as_deref());
    for c in changes {
        if s.changes.len() >= MAX_UNREAD_CHANGES {
            s.changes.pop_front();
            s.dropped += 1;
        }
        s.changes.push_back(c);
    }
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

impl Presence {
    /// Follows `channel`'s presence from every event the channel has queued and not yet handed
    /// to another receiver, so creating it before or right after `join()` misses nothing.
    /// Needs a tokio runtime.
    pub fn new(channel: &Channel) -> Self {
        let shared = Arc::new(Mutex::new(Shared {
            sync: PresenceSync::new(),
            changes: VecDeque::new(),
            dropped: 0,
        }));
        let notify = Arc::new(Notify::new());
        let mut events = channel.events();
        let topic = channel.topic().to_owned();
        let (channel, s, n) = (channel.clone(), shared.clone(), notify.clone());
        let task = tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(ev) => {
                        feed(&s, &channel, &ev);
                        n.notify_one();
                    }
                    // Events dropped while nobody listened: the next state repairs the view.
                    Err(EventsError::Lagged(_)) => continue,
                    Err(EventsError::Closed) => return,
                }
            }
        });
        Presence {
            topic,
            shared,
            notify,
            task,
        }
    }

    /// The next change (joins and leaves, each state or diff ending with
    /// [`PresenceChange::Sync`]), in order. Waits while there is none.
    pub async fn next(&mut self) -> Result<PresenceChange, PresenceError> {
        loop {
            let notified = self.notify.notified();
            {
                let mut s = lock(&self.shared);
                if s.dropped > 0 {
                    let n = std::mem::take(&mut s.dropped);
                    return Err(PresenceError::Lagged(n));
                }
                if let Some(c) = s.changes.pop_front() {
                    return Ok(c);
                }
            }
            notified.await;
        }
    }

    /// A change if one is waiting.
    pub fn try_next(&mut self) -> Option<PresenceChange> {
        lock(&self.shared).changes.pop_front()
    }

    /// phoenix.js `presence.list(chooser)`: one item per key, in key order.
    pub fn list_by<T>(&self, chooser: impl FnMut(&str, &PresenceEntry) -> T) -> Vec<T> {
        lock(&self.shared).sync.list_by(chooser)
    }

    /// phoenix.js `presence.list()`: `(key, entry)` per key.
    pub fn list(&self) -> Vec<(String, PresenceEntry)> {
        self.list_by(|k, p| (k.to_owned(), p.clone()))
    }

    /// The view as `{key: {"metas": [...]}}` (the shape of `presence_state`).
    pub fn to_value(&self) -> Value {
        lock(&self.shared).sync.to_value()
    }

    /// Diffs held until the state of the current join comes.
    pub fn pending_diffs(&self) -> usize {
        lock(&self.shared).sync.pending_diffs()
    }
}

#[cfg(test)]
#[path = "presence_tests.rs"]
mod tests;
