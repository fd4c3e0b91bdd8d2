//! Presence (Phoenix.Presence): who is on a topic, with what metas, kept in step across the
//! cluster.
//!
//! A channel calls [`Presence::track`] (usually from an after-join `handle_info`) and keeps the
//! [`Tracked`] it gets. [`Tracked::update`] changes the meta (a new `phx_ref`, with
//! `phx_ref_prev` = the old one); [`Tracked::untrack`] or dropping the channel removes it. Every
//! change is broadcast on the topic as `presence_diff` (`{"joins": …, "leaves": …}`, a fastlane
//! broadcast); [`Presence::list`] is the `presence_state` payload.
//!
//! Ordering, as in every Phoenix 1.7.14 recording: a change made in a callback takes effect and
//! is broadcast after that callback's pushes and reply are queued (the Tracker's diffs are
//! asynchronous), and a channel that goes away (phx_leave, socket close, TCP drop, crash) leaves
//! after its `phx_close`/`phx_error` and after it stopped receiving the topic, so the leaver
//! never sees its own leave.
//!
//! - `state`: the sans-IO view ([`state::PresenceState`]): entries per topic, the diffs of
//!   each operation.
//! - `diff`: the `presence_diff` payload.
//! - `phx_ref`: Phoenix.Tracker's refs.
//! - `cluster`: sharing presences with the other nodes over the pub/sub backplane (see
//!   `CLUSTER.md`, "Presence").

pub mod cluster;
pub mod diff;
pub mod phx_ref;
pub mod state;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use phx_protocol::Broadcast;
use serde_json::Value;

pub use diff::{Diff, Meta};
use state::{Entry, Owner, PresenceState};

use crate::channel::ChannelContext;
use crate::pubsub::PubSub;

/// The event of every presence diff.
pub const PRESENCE_DIFF: &str = "presence_diff";
/// The event the guides push with [`Presence::list`] after a join.
pub const PRESENCE_STATE: &str = "presence_state";

/// One node's presences and its view of the others'. Cheap to clone; every endpoint has one
/// ([`crate::Endpoint::presence`]).
#[derive(Clone)]
pub struct Presence {
    inner: Arc<Inner>,
}

struct Inner {
    /// This node's key: its name plus an incarnation, so a restarted node is a new node.
    node: String,
    node_hash: u16,
    pubsub: PubSub,
    state: Mutex<PresenceState>,
    next_owner: AtomicU64,
    cluster: OnceLock<cluster::Link>,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence")
            .field("node", &self.inner.node)
            .finish()
    }
}

impl Presence {
    /// The presence of the node that owns `pubsub`. On a cluster, call
    /// [`Presence::start_cluster`] inside the runtime to share it.
    pub fn new(pubsub: PubSub) -> Self {
        let name = pubsub.node().name.clone();
        let incarnation = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ pubsub.node().instance.rotate_left(32);
        let node = format!("{name}#{incarnation:x}");
        Presence {
            inner: Arc::new(Inner {
                node_hash: phx_ref::node_hash(&node),
                node,
                pubsub,
                state: Mutex::new(PresenceState::default()),
                next_owner: AtomicU64::new(1),
                cluster: OnceLock::new(),
            }),
        }
    }

    /// This node's key in presence messages.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    fn state(&self) -> MutexGuard<'_, PresenceState> {
        // A panic while holding the lock leaves the state as it was before the operation.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `Presence.track(socket, key, meta)`: tracks this channel under `key` on its topic. The
    /// join (with a fresh `phx_ref`) happens once the callback has returned; keep the
    /// [`Tracked`] in the channel: dropping it (or the channel) is the leave.
    #[must_use = "dropping the Tracked untracks the presence"]
    pub fn track(&self, ctx: &mut ChannelContext<'_>, key: &str, meta: Meta) -> Tracked {
        let tracked = Tracked {
            presence: self.clone(),
            topic: ctx.topic().to_owned(),
            key: key.to_owned(),
            owner: Owner {
                node: self.inner.node.clone(),
                id: self.inner.next_owner.fetch_add(1, Ordering::Relaxed),
            },
            gone: Arc::new(AtomicBool::new(false)),
        };
        let (p, topic, key, owner, gone) = (
            self.clone(),
            tracked.topic.clone(),
            tracked.key.clone(),
            tracked.owner.clone(),
            tracked.gone.clone(),
        );
        ctx.defer(move || p.join_now(&topic, owner, &key, meta, &gone));
        tracked
    }

    /// `Presence.list(topic)`: the `presence_state` payload, `{key: {"metas": [...]}}`.
    pub fn list(&self, topic: &str) -> Value {
        self.state().list(topic)
    }

    /// Presences (metas) on `topic`, on every node this node knows of.
    pub fn count(&self, topic: &str) -> usize {
        self.state().count(topic)
    }

    fn fresh_ref(&self) -> String {
        phx_ref::random_ref(self.inner.node_hash)
    }

    fn join_now(&self, topic: &str, owner: Owner, key: &str, mut meta: Meta, gone: &AtomicBool) {
        let mut state = self.state();
        if gone.load(Ordering::Acquire) {
            return;
        }
        meta.insert("phx_ref".into(), Value::String(self.fresh_ref()));
        let entry = Entry {
            owner,
            key: key.to_owned(),
            meta,
        };
        let diff = state.join(topic, entry.clone());
        self.changed(topic, &diff);
        if let Some(link) = self.inner.cluster.get() {
            link.publish_join(topic, &entry);
        }
    }

    fn update_now(&self, topic: &str, owner: &Owner, key: &str, f: impl FnOnce(&mut Meta)) {
        let mut state = self.state();
        let Some(old) = state.meta(topic, owner, key) else {
            return;
        };
        let prev = old.get("phx_ref").cloned().unwrap_or(Value::Null);
        let mut meta = old.clone();
        meta.remove("phx_ref");
        meta.remove("phx_ref_prev");
        f(&mut meta);
        meta.insert("phx_ref".into(), Value::String(self.fresh_ref()));
        meta.insert("phx_ref_prev".into(), prev);
        let diff = state.update(topic, owner, key, meta.clone());
        self.changed(topic, &diff);
        if let Some(link) = self.inner.cluster.get() {
            link.publish_update(topic, owner, key, &meta);
        }
    }

    fn leave_now(&self, topic: &str, owner: &Owner, key: &str) {
        let mut state = self.state();
        let diff = state.leave(topic, owner, key);
        if diff.is_empty() {
            return;
        }
        self.changed(topic, &diff);
        if let Some(link) = self.inner.cluster.get() {
            link.publish_leave(topic, owner, key);
        }
    }

    /// Broadcasts a diff to this node's subscribers of `topic`. Called with the state locked,
    /// so that diffs leave in the order the state changed.
    fn changed(&self, topic: &str, diff: &Diff) {
        if diff.is_empty() {
            return;
        }
        self.inner
            .pubsub
            .local()
            .deliver(&Broadcast::new(topic, PRESENCE_DIFF, diff.to_payload()));
    }
}

/// A presence this channel tracks (Phoenix: the channel pid's entry in the Tracker). Dropping
/// it untracks the presence, so a channel that goes away for any reason leaves.
pub struct Tracked {
    presence: Presence,
    topic: String,
    key: String,
    owner: Owner,
    /// Set once untracked: a join still deferred must not happen.
    gone: Arc<AtomicBool>,
}

impl std::fmt::Debug for Tracked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracked")
            .field("topic", &self.topic)
            .field("key", &self.key)
            .finish()
    }
}

impl Tracked {
    /// The presence key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The current meta (with `phx_ref`), once the join has happened.
    pub fn meta(&self) -> Option<Meta> {
        self.presence
            .state()
            .meta(&self.topic, &self.owner, &self.key)
            .cloned()
    }

    /// `Presence.update(socket, key, fun)`: `f` gets the meta without `phx_ref`/`phx_ref_prev`
    /// and changes it; once the callback has returned the meta gets a new `phx_ref`, the old one
    /// as `phx_ref_prev`, and the diff leaves the old meta and joins the new. Nothing happens
    /// if the presence has gone (Phoenix: `{:error, :nopresence}`).
    pub fn update(&self, ctx: &mut ChannelContext<'_>, f: impl FnOnce(&mut Meta) + Send + 'static) {
        let (p, topic, owner, key) = (
            self.presence.clone(),
            self.topic.clone(),
            self.owner.clone(),
            self.key.clone(),
        );
        ctx.defer(move || p.update_now(&topic, &owner, &key, f));
    }

    /// `Presence.untrack(socket, key)`: leaves once the callback has returned.
    pub fn untrack(self, ctx: &mut ChannelContext<'_>) {
        // Marked gone first, so the drop at the end of this function does not leave before the
        // callback's frames.
        self.gone.store(true, Ordering::Release);
        let (p, topic, owner, key) = (
            self.presence.clone(),
            self.topic.clone(),
            self.owner.clone(),
            self.key.clone(),
        );
        ctx.defer(move || p.leave_now(&topic, &owner, &key));
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if !self.gone.swap(true, Ordering::AcqRel) {
            self.presence.leave_now(&self.topic, &self.owner, &self.key);
        }
    }
}
