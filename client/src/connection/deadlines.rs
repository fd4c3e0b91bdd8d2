//! The connection machine's one deadline queue: every timer is a value keyed by what it is for.
//!
//! The machine sets and cancels timers as data; the driver sleeps until [`Deadlines::next`] and
//! hands the instant back, and the machine pops what is due ([`Deadlines::pop_due`]).

use std::collections::{BTreeSet, HashMap};

use tokio::time::Instant;

use super::command::ChannelId;

/// What a deadline is for. At most one deadline is armed per value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Timer {
    /// Start the next connection attempt (socket waiting to reconnect).
    Reconnect,
    /// Send the next heartbeat, or declare the pending one timed out.
    Heartbeat,
    /// The push in flight with this ref times out.
    Push(u64),
    /// The channel's phase deadline: join timeout, scheduled rejoin, or leave timeout.
    Channel(ChannelId),
    /// The buffered push with this sequence number (of this channel) times out.
    Buffered(ChannelId, u64),
}

/// An ordered set of `(instant, timer)` plus the reverse index to move or cancel a timer.
#[derive(Default)]
pub(crate) struct Deadlines {
    by_time: BTreeSet<(Instant, Timer)>,
    by_timer: HashMap<Timer, Instant>,
}

impl Deadlines {
    /// Arms `timer` at `at`, replacing its earlier deadline if any.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        if let Some(old) = self.by_timer.insert(timer, at) {
            self.by_time.remove(&(old, timer));
        }
        self.by_time.insert((at, timer));
    }

    /// Disarms `timer` (no-op when it is not armed).
    pub(crate) fn cancel(&mut self, timer: Timer) {
        if let Some(old) = self.by_timer.remove(&timer) {
            self.by_time.remove(&(old, timer));
        }
    }

    /// When `timer` fires, if armed.
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.by_timer.get(&timer).copied()
    }

    /// The earliest armed deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Removes and returns one timer due at `now`, earliest first.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let &(at, timer) = self.by_time.first()?;
        if at > now {
            return None;
        }
        self.by_time.remove(&(at, timer));
        self.by_timer.remove(&timer);
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timers_fire_in_order_and_move_when_set_again() {
        let t0 = Instant::now();
        let mut d = Deadlines::default();
        d.set(Timer::Heartbeat, t0 + Duration::from_secs(3));
        d.set(Timer::Push(1), t0 + Duration::from_secs(1));
        d.set(Timer::Channel(7), t0 + Duration::from_secs(2));
        d.set(Timer::Push(1), t0 + Duration::from_secs(5)); // moved, not duplicated
        assert_eq!(d.next(), Some(t0 + Duration::from_secs(2)));
        assert_eq!(d.pop_due(t0 + Duration::from_secs(1)), None);
        let due = t0 + Duration::from_secs(10);
        assert_eq!(d.pop_due(due), Some(Timer::Channel(7)));
        assert_eq!(d.pop_due(due), Some(Timer::Heartbeat));
        d.cancel(Timer::Push(1));
        assert_eq!(d.pop_due(due), None);
        assert_eq!(d.next(), None);
    }
}
