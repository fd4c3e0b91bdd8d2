//! A channel's event queue and its receivers ([`Events`]).
//!
//! One queue per channel, created with the [`crate::Channel`] handle, so events that arrive
//! between `join()` returning and the first `events()` call wait for it instead of being lost.
//! - Every [`Events`] sees every event from where it starts (filters skip, they do not lose).
//!   A new `Events` starts at the oldest event some receiver has not taken yet, or that arrived
//!   while the channel had no receiver.
//! - An event is freed once every receiver has taken it. The queue grows on demand (nothing is
//!   pre-allocated) up to `event_capacity`; at that point the connection stops reading the
//!   socket until a receiver catches up, so TCP pushes back on the server and nothing is
//!   dropped for lag.
//! - A channel with no receiver at all keeps at most `event_capacity` events for the next one;
//!   beyond that the oldest unheard events are dropped and the next `Events` reports how many
//!   with [`EventsError::Lagged`] first. Nobody is listening, so stalling the whole socket (and
//!   every other channel on it) for them would be worse.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::error::EventsError;
use crate::reply::ChannelEvent;

/// The queue shared by a channel's handle, its receivers and the connection task.
pub(crate) struct EventQueue {
    state: Mutex<State>,
    /// Wakes receivers waiting for an event (or for the close).
    readable: Notify,
    /// Wakes the connection task waiting for room.
    writable: Notify,
}

struct State {
    events: VecDeque<ChannelEvent>,
    /// Sequence number of `events[0]`.
    head: u64,
    /// Each live receiver's next sequence number (None: a freed slot).
    cursors: Vec<Option<u64>>,
    receivers: usize,
    /// Receivers parked in `recv` (so a push only notifies when someone waits).
    waiting: usize,
    capacity: usize,
    /// Unheard events dropped while there was no receiver, reported to the next one.
    dropped: u64,
    /// Every `Channel` handle is gone.
    closed: bool,
}

impl State {
    fn min_cursor(&self) -> Option<u64> {
        self.cursors.iter().flatten().copied().min()
    }

    /// Frees the events every receiver has taken.
    fn trim(&mut self) {
        if let Some(min) = self.min_cursor() {
            while self.head < min && self.events.pop_front().is_some() {
                self.head += 1;
            }
        }
    }
}

impl EventQueue {
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(EventQueue {
            state: Mutex::new(State {
                events: VecDeque::new(),
                head: 0,
                cursors: Vec::new(),
                receivers: 0,
                waiting: 0,
                capacity: capacity.max(1),
                dropped: 0,
                closed: false,
            }),
            readable: Notify::new(),
            writable: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves the queue consistent (every mutation is one
        // step), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an event without waking anyone; call [`EventQueue::wake`] after a batch, so a
    /// burst costs one wake-up of a parked receiver instead of one per event. True when the
    /// queue is now full and the caller must stop reading until [`EventQueue::writable`].
    pub(crate) fn push(&self, event: ChannelEvent) -> bool {
        let mut s = self.lock();
        s.events.push_back(event);
        if s.receivers == 0 && s.events.len() > s.capacity {
            s.events.pop_front();
            s.head += 1;
            s.dropped += 1;
        }
        s.receivers > 0 && s.events.len() >= s.capacity
    }

    /// Wakes the receivers parked in `recv`, if any.
    pub(crate) fn wake(&self) {
        if self.lock().waiting > 0 {
            self.readable.notify_waiters();
        }
    }

    /// Resolves once the queue has room again (or has no receiver left to wait for).
    pub(crate) async fn writable(&self) {
        loop {
            let notified = self.writable.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let s = self.lock();
                if s.receivers == 0 || s.events.len() < s.capacity {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Marks every `Channel` handle gone: receivers end after the events already queued.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.readable.notify_waiters();
    }

    fn subscribe(self: &Arc<Self>) -> usize {
        let mut s = self.lock();
        let start = s.head;
        s.receivers += 1;
        let slot = match s.cursors.iter().position(Option::is_none) {
            Some(i) => {
                s.cursors[i] = Some(start);
                i
            }
            None => {
                s.cursors.push(Some(start));
                s.cursors.len() - 1
            }
        };
        slot
    }

    fn unsubscribe(&self, slot: usize) {
        let mut s = self.lock();
        if let Some(c) = s.cursors.get_mut(slot) {
            *c = None;
        }
        s.receivers = s.receivers.saturating_sub(1);
        s.trim();
        drop(s);
        self.writable.notify_one();
    }

    /// Takes the next event for the receiver in `slot`, if one is queued.
    fn take(&self, slot: usize, lagged: &mut bool) -> Option<Result<ChannelEvent, EventsError>> {
        let mut s = self.lock();
        if !*lagged {
            *lagged = true;
            if s.dropped > 0 {
                let n = std::mem::take(&mut s.dropped);
                return Some(Err(EventsError::Lagged(n)));
            }
        }
        let cursor = s.cursors.get(slot).copied().flatten()?;
        let index = usize::try_from(cursor.checked_sub(s.head)?).ok()?;
        if index >= s.events.len() {
            return s.closed.then_some(Err(EventsError::Closed));
        }
        let was_full = s.events.len() >= s.capacity;
        let event = if s.receivers == 1 && index == 0 {
            // The only receiver takes the oldest event: move it out instead of cloning.
            let event = s.events.pop_front()?;
            s.head += 1;
            if let Some(c) = s.cursors.get_mut(slot) {
                *c = Some(cursor + 1);
            }
            event
        } else {
            let event = s.events.get(index)?.clone();
            if let Some(c) = s.cursors.get_mut(slot) {
                *c = Some(cursor + 1);
            }
            s.trim();
            event
        };
        let has_room = s.events.len() < s.capacity;
        drop(s);
        if was_full && has_room {
            self.writable.notify_one();
        }
        Some(Ok(event))
    }
}

/// A stream of channel events, optionally filtered by name. Nothing is dropped for lag: a
/// receiver that falls `event_capacity` events behind makes the socket stop reading until it
/// catches up (see the [module docs](self)).
pub struct Events {
    queue: Arc<EventQueue>,
    slot: usize,
    name: Option<String>,
    /// The drop count of unheard events has been checked (it is reported once, first).
    lagged: bool,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        self.queue.unsubscribe(self.slot);
    }
}

impl Events {
    pub(crate) fn new(queue: &Arc<EventQueue>, name: Option<String>) -> Self {
        let slot = queue.subscribe();
        Events {
            queue: queue.clone(),
            slot,
            name,
            lagged: false,
        }
    }

    fn matches(&self, ev: &ChannelEvent) -> bool {
        self.name.as_ref().is_none_or(|n| *n == ev.event)
    }

    /// The next event. A left channel produces nothing until it is joined again;
    /// `Err(Closed)` comes once every handle of the channel is dropped and the queue is drained.
    pub async fn recv(&mut self) -> Result<ChannelEvent, EventsError> {
        // Fast path: an event is waiting (the common case under load), no waiter registered.
        if let Some(item) = self.try_recv() {
            return item;
        }
        let queue = self.queue.clone();
        loop {
            let notified = queue.readable.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.try_recv() {
                Some(item) => return item,
                None => {
                    queue.lock().waiting += 1;
                    // Re-check after registering as a waiter: a push in between saw waiting==0.
                    let item = self.try_recv();
                    if item.is_none() {
                        notified.await;
                    }
                    let mut s = queue.lock();
                    s.waiting = s.waiting.saturating_sub(1);
                    drop(s);
                    if let Some(item) = item {
                        return item;
                    }
                }
            }
        }
    }

    /// As a `futures` stream; it ends when the channel's handles are all gone.
    pub fn into_stream(
        self,
    ) -> impl futures_util::Stream<Item = Result<ChannelEvent, EventsError>> + Send {
        futures_util::stream::unfold(self, |mut events| async move {
            match events.recv().await {
                Err(EventsError::Closed) => None,
                item => Some((item, events)),
            }
        })
    }

    /// The next event if one is already waiting.
    pub fn try_recv(&mut self) -> Option<Result<ChannelEvent, EventsError>> {
        loop {
            match self.queue.take(self.slot, &mut self.lagged)? {
                Ok(ev) if !self.matches(&ev) => continue,
                item => return Some(item),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phx_protocol::{Payload, Ref};

    #[tokio::test]
    async fn a_parked_receiver_is_woken_by_the_batch_wake() {
        let q = EventQueue::new(8);
        let mut rx = Events::new(&q, None);
        let waiter = tokio::spawn(async move { rx.recv().await.map(|e| e.event) });
        // Let the receiver park, then push a batch and wake once.
        while q.lock().waiting == 0 {
            tokio::task::yield_now().await;
        }
        q.push(ev(1));
        q.push(ev(2));
        q.wake();
        assert_eq!(waiter.await.unwrap(), Ok("odd".to_owned()));
    }

    fn ev(n: u64) -> ChannelEvent {
        ChannelEvent {
            topic: "t".into(),
            event: if n % 2 == 0 { "even" } else { "odd" }.into(),
            payload: Payload::Json(serde_json::json!(n)),
            join_ref: Ref::Null,
        }
    }

    fn n(item: Option<Result<ChannelEvent, EventsError>>) -> u64 {
        item.unwrap()
            .unwrap()
            .payload
            .as_json()
            .unwrap()
            .as_u64()
            .unwrap()
    }

    #[test]
    fn events_before_the_first_receiver_wait_for_it() {
        let q = EventQueue::new(8);
        for i in 0..3 {
            assert!(!q.push(ev(i)));
        }
        q.wake();
        let mut rx = Events::new(&q, None);
        assert_eq!(
            [n(rx.try_recv()), n(rx.try_recv()), n(rx.try_recv())],
            [0, 1, 2]
        );
        assert!(rx.try_recv().is_none());
    }

    #[test]
    fn a_full_queue_asks_for_backpressure_and_drops_nothing() {
        let q = EventQueue::new(4);
        let mut rx = Events::new(&q, None);
        let full: Vec<bool> = (0..6).map(|i| q.push(ev(i))).collect();
        assert_eq!(full, [false, false, false, true, true, true]);
        let got: Vec<u64> = (0..6).map(|_| n(rx.try_recv())).collect();
        assert_eq!(got, [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn two_receivers_each_see_every_event_and_filters_skip() {
        let q = EventQueue::new(16);
        let mut all = Events::new(&q, None);
        let mut odd = Events::new(&q, Some("odd".into()));
        for i in 0..5 {
            q.push(ev(i));
        }
        assert_eq!([n(odd.try_recv()), n(odd.try_recv())], [1, 3]);
        assert!(odd.try_recv().is_none());
        let got: Vec<u64> = (0..5).map(|_| n(all.try_recv())).collect();
        assert_eq!(got, [0, 1, 2, 3, 4]);
        assert_eq!(q.lock().events.len(), 0, "taken by both, so freed");
    }

    #[test]
    fn unheard_overflow_is_reported_as_lagged() {
        let q = EventQueue::new(2);
        for i in 0..5 {
            assert!(!q.push(ev(i)), "no receiver: never backpressure");
        }
        let mut rx = Events::new(&q, None);
        assert_eq!(rx.try_recv(), Some(Err(EventsError::Lagged(3))));
        assert_eq!([n(rx.try_recv()), n(rx.try_recv())], [3, 4]);
    }

    #[test]
    fn closed_comes_after_the_queued_events() {
        let q = EventQueue::new(4);
        let mut rx = Events::new(&q, None);
        q.push(ev(0));
        q.close();
        assert_eq!(n(rx.try_recv()), 0);
        assert_eq!(rx.try_recv(), Some(Err(EventsError::Closed)));
    }
}
