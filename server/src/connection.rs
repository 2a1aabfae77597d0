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
//!
//! h2 flushes each time its connection task runs out of work, and under load that is after every
//! answer: each call's task wakes the connection task as it finishes, and tokio runs a task woken that
//! way next, before the other calls waiting to run. So a flush that finds bytes waiting is put off once:
//! the stream wakes its task and answers `Pending`, which sends the task to the back of the run queue,
//! and the flush happens when the task runs again, after the calls that were ready have added their
//! answers. An idle server runs the task again at once; a busy one writes the answers of every call it
//! ran in between in one system call (what Netty's `FlushConsolidationHandler` does for the same reason).
//! A flush is put off once per batch of bytes: one that then finds the socket full waits for it, not for
//! the run queue again. Whoever flushes must poll again after `Pending`, as the futures contract says; TLS
//! handshakes do so from tokio-rustls 0.26.3 on, which the workspace requires.

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
    /// Whether a flush of the bytes pending was put off once already (see the module's documentation);
    /// cleared when they are sent.
    flush_deferred: bool,
}

impl CoalescingStream {
    /// Wraps an accepted connection.
    pub fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            pending: Vec::new(),
            sent: 0,
            flush_deferred: false,
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
        self.flush_deferred = false;
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
        if self.sent < self.pending.len() && !self.flush_deferred {
            self.flush_deferred = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
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

    /// Counts the times it is woken.
    struct Wakes(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Wakes {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn a_flush_with_bytes_waiting_is_put_off_once_and_wakes_its_task() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let client = tokio::spawn(async move {
            let mut stream = TcpStream::connect(address).await.expect("connect");
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await.expect("read");
            answer
        });
        let mut stream = CoalescingStream::new(listener.accept().await.expect("accept").0);
        let wakes = std::sync::Arc::new(Wakes(0.into()));
        let waker = std::task::Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let woken = || wakes.0.load(std::sync::atomic::Ordering::SeqCst);

        assert!(
            Pin::new(&mut stream).poll_flush(&mut cx).is_ready(),
            "nothing waiting"
        );
        assert_eq!(woken(), 0);
        assert!(Pin::new(&mut stream).poll_write(&mut cx, b"one").is_ready());
        assert!(Pin::new(&mut stream).poll_flush(&mut cx).is_pending(), "put off");
        assert_eq!(woken(), 1, "the task is woken to flush later");
        assert!(Pin::new(&mut stream).poll_write(&mut cx, b" two").is_ready());
        assert!(matches!(
            Pin::new(&mut stream).poll_flush(&mut cx),
            Poll::Ready(Ok(()))
        ));
        assert!(stream.pending.is_empty(), "the second flush sends both writes");
        assert!(Pin::new(&mut stream).poll_write(&mut cx, b" three").is_ready());
        assert!(
            Pin::new(&mut stream).poll_flush(&mut cx).is_pending(),
            "each flush is put off once"
        );
        assert_eq!(woken(), 2);
        stream
            .shutdown()
            .await
            .expect("shutdown sends what is pending at once");
        assert_eq!(client.await.expect("client"), b"one two three");
    }
}
