//! The TCP connections the gRPC server answers on, written so that answers leave in as few system calls
//! as HTTP/2 allows.
//!
//! HTTP/2 (the `h2` crate under tonic) copies a DATA frame into its 16 KiB write buffer when the frame is
//! small; a larger one waits beside the buffer, and both are written out (then flushed) before anything
//! else is encoded. The bound is 256 bytes on a transport that says it writes vectors (as tokio's
//! `TcpStream` does), 1,024 bytes on one that does not. A `Score` answer with three reasons is a few
//! hundred bytes: above the first bound, every answer cost its own write and its own TCP segment, which on
//! a saturated core cost more than the scoring itself; below the second, answers ready at the same time
//! leave together.
//!
//! [`CoalescingStream`] declines vectored writes, so answers of up to 1 KiB are coalesced, and combines
//! what is written to it until the next flush (or [`FLUSH_AT`] bytes), so the buffer and a large frame
//! still leave in one write, as a vectored write sent them before. Under TLS, h2 sees the TLS stream,
//! which writes vectors, so the 256-byte bound stays; the TLS records are combined the same way.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// Bytes held back at most: a write that finds this many waiting first sends them.
pub const FLUSH_AT: usize = 64 * 1024;

/// A TCP connection that declines vectored writes and combines writes until a flush (see the module's
/// documentation).
#[derive(Debug)]
pub struct CoalescingStream {
    stream: TcpStream,
    /// Bytes accepted and not yet sent, from `sent` on.
    pending: Vec<u8>,
    sent: usize,
}

impl CoalescingStream {
    /// Wraps an accepted connection.
    pub fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            pending: Vec::new(),
            sent: 0,
        }
    }

    /// Sends every pending byte.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let written = ready!(Pin::new(&mut self.stream).poll_write(cx, &self.pending[self.sent..]))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += written;
        }
        self.pending.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for CoalescingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for CoalescingStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.pending.len() >= FLUSH_AT {
            ready!(self.poll_send(cx))?;
        }
        self.pending.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.pending.len() >= FLUSH_AT {
            ready!(self.poll_send(cx))?;
        }
        let mut accepted = 0;
        for buf in bufs {
            self.pending.extend_from_slice(buf);
            accepted += buf.len();
        }
        Poll::Ready(Ok(accepted))
    }

    fn is_write_vectored(&self) -> bool {
        false
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_send(cx))?;
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_send(cx))?;
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl Connected for CoalescingStream {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn writes_leave_at_a_flush_in_order_and_at_most_flush_at_bytes_wait() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let client = tokio::spawn(async move {
            let mut stream = TcpStream::connect(address).await.expect("connect");
            stream.write_all(b"ping").await.expect("write");
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await.expect("read");
            answer
        });
        let (accepted, peer) = listener.accept().await.expect("accept");
        assert!(accepted.is_write_vectored(), "tokio's TcpStream writes vectors");
        let mut stream = CoalescingStream::new(accepted);
        assert!(!stream.is_write_vectored());
        assert_eq!(stream.connect_info().remote_addr(), Some(peer));
        let mut asked = [0; 4];
        stream.read_exact(&mut asked).await.expect("read");
        assert_eq!(&asked, b"ping");

        stream.write_all(b"po").await.expect("write");
        let parts = [io::IoSlice::new(b"n"), io::IoSlice::new(b"g")];
        assert_eq!(stream.write_vectored(&parts).await.expect("write"), 2);
        assert_eq!(stream.pending, b"pong", "held back until a flush");
        stream.flush().await.expect("flush");
        assert!(stream.pending.is_empty());
        let large: Vec<u8> = (0..3 * FLUSH_AT).map(|i| (i % 251) as u8).collect();
        for chunk in large.chunks(1000) {
            stream.write_all(chunk).await.expect("write");
            assert!(stream.pending.len() < FLUSH_AT + 1000);
        }
        stream.shutdown().await.expect("shutdown sends what is pending");
        let mut expected = b"pong".to_vec();
        expected.extend_from_slice(&large);
        assert_eq!(client.await.expect("client"), expected);
    }
}
