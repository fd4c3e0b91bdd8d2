//! A tokio `TcpStream` shared by erl_dist's sender and receiver halves.
//!
//! erl_dist wants a `futures::io` stream that is `Clone`. tokio's readiness API works on
//! `&TcpStream`, so an `Arc` is enough; reads and writes use separate readiness.

use futures_io::{AsyncRead, AsyncWrite};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::net::TcpStream;

/// A cloneable handle on one TCP stream.
#[derive(Clone, Debug)]
pub struct SharedTcp(Arc<TcpStream>);

impl SharedTcp {
    /// Wraps a connected stream (set TCP_NODELAY before: erl_dist writes in small pieces).
    pub fn new(stream: TcpStream) -> Self {
        SharedTcp(Arc::new(stream))
    }
}

impl AsyncRead for SharedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            match self.0.try_read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return Poll::Ready(other),
            }
        }
    }
}

impl AsyncWrite for SharedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return Poll::Ready(other),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
