//! A connection's outbound queue, bounded in bytes, and the progress clock of its socket.
//!
//! Frames are counted at their payload length plus [`FRAME_OVERHEAD`] from the moment they are
//! queued until the writer has handed them to tungstenite (whose own buffer holds at most one
//! write buffer and one frame more). Three limits apply (see [`crate::Config`]):
//!
//! - over `outbound_pause_bytes`, the reader stops reading the connection's input until the
//!   writer drains below it: a client pipelining requests feels TCP backpressure;
//! - over `outbound_max_bytes`, the connection is dropped as a slow consumer;
//! - over `outbound_total_bytes` summed over every connection ([`Totals`], kept in 64 KiB
//!   steps), the endpoint drops the connections that drained least until the sum is back under
//!   90 % of the cap.
//!
//! "Slow" is a socket that takes no bytes: [`Metered`] stamps the progress clock on every write
//! the kernel accepts, and the writer drops a connection whose pending write made no progress for
//! `slow_consumer_timeout`. A client that keeps reading, however slowly, is never cut.
//!
//! The queue itself is a `VecDeque` under a mutex that the writer swaps with its own batch: it
//! allocates nothing until the first frame (an idle connection holds two empty deques, not a
//! channel's 1.8 KiB first block), and the writer takes a whole batch per lock.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Bytes charged per queued frame on top of its payload (the message and channel slot).
pub(crate) const FRAME_OVERHEAD: usize = 64;

/// The endpoint-wide total moves in steps of this many bytes: a connection adds one step when
/// its own count crosses a multiple of it, and takes it back when it falls below. Small frames
/// on the fan-out path then touch only their connection's counter, not one shared by every
/// core; the total is exact to within a step per connection.
const TOTAL_STEP: usize = 64 * 1024;

/// How many steps the total moves when a connection's count goes from `before` to `after`.
fn steps(before: usize, after: usize) -> isize {
    (after / TOTAL_STEP) as isize - (before / TOTAL_STEP) as isize
}

/// What one queued frame costs.
pub(crate) fn cost(msg: &WsMessage) -> usize {
    msg.len() + FRAME_OVERHEAD
}

/// Milliseconds since the first call in this process (a coarse monotonic clock).
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(Instant::now().saturating_duration_since(start).as_millis()).unwrap_or(u64::MAX)
}

/// The endpoint-wide sum of outbound queues, and the slow-consumer drop count.
#[derive(Debug)]
pub(crate) struct Totals {
    /// Signed: steps are applied by each thread after its own update of a connection's
    /// count, so the sum may dip below zero for an instant.
    queued: AtomicIsize,
    cap: usize,
    drops: AtomicU64,
    over: Notify,
}

impl Totals {
    pub(crate) fn new(cap: usize) -> Self {
        Totals {
            queued: AtomicIsize::new(0),
            cap,
            drops: AtomicU64::new(0),
            over: Notify::new(),
        }
    }

    /// Bytes queued over all connections (to within 64 KiB per connection).
    pub(crate) fn queued(&self) -> usize {
        usize::try_from(self.queued.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// Moves the total by `n` steps.
    fn step(&self, n: isize) -> isize {
        let delta = n * TOTAL_STEP as isize;
        self.queued.fetch_add(delta, Ordering::Relaxed) + delta
    }

    /// The cap on [`Totals::queued`].
    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    /// Connections dropped as slow consumers so far.
    pub(crate) fn drops(&self) -> u64 {
        self.drops.load(Ordering::Relaxed)
    }

    pub(crate) fn count_drop(&self) {
        self.drops.fetch_add(1, Ordering::Relaxed);
    }

    /// Resolves when a push took the sum over the cap.
    pub(crate) async fn over_cap(&self) {
        self.over.notified().await;
    }
}

/// Per-connection limits, from the config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Reading pauses above this many queued bytes.
    pub pause: usize,
    /// Dropped above this many.
    pub max: usize,
}

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The connection's queue would exceed `outbound_max_bytes`.
    Full {
        /// Bytes queued before this frame.
        queued: usize,
    },
    /// The writer is gone.
    Closed,
}

/// The frames not yet taken by the writer; `closed` once the writer is gone.
#[derive(Debug, Default)]
struct Frames {
    queue: VecDeque<WsMessage>,
    closed: bool,
}

/// The sending side and the shared counters of one connection's queue.
#[derive(Debug)]
pub(crate) struct Outbound {
    frames: Mutex<Frames>,
    /// A frame arrived in an empty queue (a stored permit if the writer is not waiting yet).
    ready: Notify,
    queued: AtomicUsize,
    progress_ms: AtomicU64,
    paused: AtomicBool,
    drained: Notify,
    limits: Limits,
    totals: Arc<Totals>,
}

impl Outbound {
    /// A queue and its receiving end (for the writer, wrapped in [`Receiver`]).
    pub(crate) fn new(limits: Limits, totals: Arc<Totals>) -> (Arc<Outbound>, Receiver) {
        let out = Arc::new(Outbound {
            frames: Mutex::new(Frames::default()),
            ready: Notify::new(),
            queued: AtomicUsize::new(0),
            progress_ms: AtomicU64::new(now_ms()),
            paused: AtomicBool::new(false),
            drained: Notify::new(),
            limits,
            totals,
        });
        (
            out.clone(),
            Receiver {
                batch: VecDeque::new(),
                out,
            },
        )
    }

    /// The queue; a writer that panicked while holding it poisons nothing worth keeping.
    fn frames(&self) -> MutexGuard<'_, Frames> {
        self.frames.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The endpoint-wide totals this queue counts into.
    pub(crate) fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Bytes queued and not yet handed to tungstenite.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Milliseconds (on this module's clock) since the socket last took bytes, or the writer
    /// last started on an empty queue.
    pub(crate) fn last_progress_ms(&self) -> u64 {
        self.progress_ms.load(Ordering::Relaxed)
    }

    /// How long since the last progress.
    pub(crate) fn since_progress(&self) -> Duration {
        Duration::from_millis(now_ms().saturating_sub(self.last_progress_ms()))
    }

    fn progressed(&self) {
        self.progress_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Queues `msg` within the per-connection maximum.
    pub(crate) fn push(&self, msg: WsMessage) -> Result<(), PushError> {
        let c = cost(&msg);
        let before = self.queued.fetch_add(c, Ordering::Relaxed);
        if before + c > self.limits.max {
            // Every change of the count moves the total by its steps, this one included.
            self.totals.step(steps(before, before + c));
            self.uncount(c);
            return Err(PushError::Full { queued: before });
        }
        self.enqueue(msg, c, before)
    }

    /// Queues `msg` whatever the limits (a close frame the connection must still send).
    pub(crate) fn force(&self, msg: WsMessage) -> Result<(), PushError> {
        let c = cost(&msg);
        let before = self.queued.fetch_add(c, Ordering::Relaxed);
        self.enqueue(msg, c, before)
    }

    /// Sends a frame whose `c` bytes were already added to `queued`, which then read `before`.
    fn enqueue(&self, msg: WsMessage, c: usize, before: usize) -> Result<(), PushError> {
        let up = steps(before, before + c);
        if up > 0 && self.totals.step(up) > self.totals.cap as isize {
            self.totals.over.notify_one();
        }
        let mut frames = self.frames();
        if frames.closed {
            drop(frames);
            self.uncount(c);
            return Err(PushError::Closed);
        }
        frames.queue.push_back(msg);
        let first = frames.queue.len() == 1;
        drop(frames);
        if first {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Takes `c` bytes off this connection's count and the total; returns what is left.
    fn uncount(&self, c: usize) -> usize {
        let before = self.queued.fetch_sub(c, Ordering::Relaxed);
        let after = before.saturating_sub(c);
        let down = steps(after, before);
        if down > 0 {
            self.totals.step(-down);
        }
        after
    }

    /// The writer handed `c` bytes to tungstenite (or dropped them): uncount them, and wake a
    /// reader paused on this queue once it is back under the pause mark.
    fn taken(&self, c: usize) {
        let left = self.uncount(c);
        if left <= self.limits.pause && self.paused.swap(false, Ordering::AcqRel) {
            self.drained.notify_one();
        }
    }

    /// True while the reader should not read more input.
    pub(crate) fn over_pause(&self) -> bool {
        self.queued() > self.limits.pause
    }

    /// Waits until the queue is at or under the pause mark (returns at once if it is).
    pub(crate) async fn wait_under_pause(&self) {
        while self.over_pause() {
            let notified = self.drained.notified();
            self.paused.store(true, Ordering::Release);
            // Re-check after announcing the pause: the writer may have drained in between.
            if !self.over_pause() {
                self.paused.store(false, Ordering::Release);
                return;
            }
            notified.await;
        }
    }
}

/// The writer's end of the queue. Dropping it (the writer ended or was aborted) closes the queue
/// and uncounts and frees whatever was still in it.
pub(crate) struct Receiver {
    /// Frames taken from the shared queue in one swap, not yet handed on.
    batch: VecDeque<WsMessage>,
    out: Arc<Outbound>,
}

impl Receiver {
    /// The next frame; None once the queue is closed (it is closed only by dropping this).
    pub(crate) async fn recv(&mut self) -> Option<WsMessage> {
        loop {
            if let Some(msg) = self.try_recv() {
                return Some(msg);
            }
            if self.out.frames().closed {
                return None;
            }
            // A frame pushed after the check above leaves a permit: this returns at once.
            self.out.ready.notified().await;
            // The writer starts working now: the stall clock starts here, not at the last
            // write before an idle spell.
            self.out.progressed();
        }
    }

    /// A frame already queued, if any.
    pub(crate) fn try_recv(&mut self) -> Option<WsMessage> {
        if self.batch.is_empty() {
            std::mem::swap(&mut self.batch, &mut self.out.frames().queue);
        }
        self.batch.pop_front()
    }

    /// Marks a received frame's bytes as handed on.
    pub(crate) fn done(&self, c: usize) {
        self.out.taken(c);
    }

    /// The shared queue state.
    pub(crate) fn outbound(&self) -> &Arc<Outbound> {
        &self.out
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let rest = {
            let mut frames = self.out.frames();
            frames.closed = true;
            std::mem::take(&mut frames.queue)
        };
        let freed: usize = self.batch.iter().chain(rest.iter()).map(cost).sum();
        self.out.taken(freed);
    }
}

/// An IO stream that stamps the queue's progress clock whenever a write moves bytes.
pub(crate) struct Metered<S> {
    inner: S,
    out: Arc<Outbound>,
}

impl<S> Metered<S> {
    pub(crate) fn new(inner: S, out: Arc<Outbound>) -> Self {
        Metered { inner, out }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.out.progressed();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.out.progressed();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(pause: usize, max: usize, cap: usize) -> (Arc<Outbound>, Receiver, Arc<Totals>) {
        let totals = Arc::new(Totals::new(cap));
        let (out, rx) = Outbound::new(Limits { pause, max }, totals.clone());
        (out, rx, totals)
    }

    fn frame(n: usize) -> WsMessage {
        WsMessage::Binary(vec![0u8; n].into())
    }

    #[test]
    fn bytes_are_counted_per_connection_and_in_total_steps_until_taken() {
        let (out, mut rx, totals) = queue(1 << 20, 1 << 24, 1 << 30);
        out.push(frame(100)).unwrap();
        out.push(frame(200)).unwrap();
        assert_eq!(out.queued(), 300 + 2 * FRAME_OVERHEAD);
        assert_eq!(totals.queued(), 0, "under one step");
        out.push(frame(TOTAL_STEP)).unwrap();
        assert_eq!(totals.queued(), TOTAL_STEP);
        out.push(frame(2 * TOTAL_STEP)).unwrap();
        assert_eq!(totals.queued(), 3 * TOTAL_STEP);
        while let Some(m) = rx.try_recv() {
            rx.done(cost(&m));
        }
        assert_eq!(out.queued(), 0);
        assert_eq!(totals.queued(), 0);
    }

    #[test]
    fn over_the_maximum_a_frame_is_refused_and_not_counted() {
        let (out, _rx, totals) = queue(100, 1000, 1 << 30);
        out.push(frame(800)).unwrap();
        assert_eq!(
            out.push(frame(800)),
            Err(PushError::Full {
                queued: 800 + FRAME_OVERHEAD
            })
        );
        assert_eq!(out.queued(), 800 + FRAME_OVERHEAD);
        assert_eq!(totals.queued(), 0);
        // A close frame still goes in.
        out.force(WsMessage::Close(None)).unwrap();
    }

    #[test]
    fn dropping_the_receiver_frees_and_uncounts_everything() {
        let (out, rx, totals) = queue(100, 1 << 24, 1 << 30);
        for _ in 0..10 {
            out.push(frame(100_000)).unwrap();
        }
        assert!(totals.queued() > 0);
        drop(rx);
        assert_eq!(out.queued(), 0);
        assert_eq!(totals.queued(), 0);
        assert_eq!(out.push(frame(1)), Err(PushError::Closed));
        assert_eq!(totals.queued(), 0);
    }

    #[tokio::test]
    async fn a_paused_reader_wakes_when_the_writer_drains_under_the_mark() {
        let (out, mut rx, _totals) = queue(500, 1 << 20, 1 << 30);
        out.push(frame(1000)).unwrap();
        assert!(out.over_pause());
        let waiter = {
            let out = out.clone();
            tokio::spawn(async move { out.wait_under_pause().await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        let m = rx.try_recv().unwrap();
        rx.done(cost(&m));
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
    }

    #[tokio::test]
    async fn going_over_the_total_cap_signals_the_endpoint() {
        let (out, _rx, totals) = queue(100, 1 << 20, 1000);
        out.push(frame(TOTAL_STEP)).unwrap();
        tokio::time::timeout(Duration::from_secs(5), totals.over_cap())
            .await
            .expect("signalled");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_pushers_reach_a_waiting_writer_in_order_and_nothing_is_lost() {
        let (out, mut rx, totals) = queue(1 << 30, 1 << 30, 1 << 40);
        const PER: u32 = 20_000;
        let pushers: Vec<_> = (0..4u8)
            .map(|p| {
                let out = out.clone();
                tokio::spawn(async move {
                    for i in 0..PER {
                        let mut bytes = vec![p];
                        bytes.extend_from_slice(&i.to_be_bytes());
                        out.push(WsMessage::Binary(bytes.into())).unwrap();
                        if i % 1000 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        let mut next = [0u32; 4];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while next.iter().sum::<u32>() < 4 * PER {
            let m = tokio::time::timeout_at(deadline, rx.recv())
                .await
                .expect("every frame arrives")
                .expect("open");
            rx.done(cost(&m));
            let b = m.into_data();
            let (p, i) = (b[0] as usize, u32::from_be_bytes([b[1], b[2], b[3], b[4]]));
            assert_eq!(i, next[p], "pusher {p} out of order");
            next[p] += 1;
        }
        for p in pushers {
            p.await.unwrap();
        }
        assert_eq!((out.queued(), totals.queued()), (0, 0));
        assert!(rx.try_recv().is_none());
    }
}
