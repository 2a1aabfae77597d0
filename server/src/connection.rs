//! The TCP connections the gRPC server answers on, written so that many small answers leave in one
//! system call.
//!
//! HTTP/2 (the `h2` crate under tonic) copies a DATA frame into its 16 KiB write buffer when the frame is
//! small, and sends a larger one separately, after flushing the buffer, with a vectored write. The bound
//! is 256 bytes on a transport that says it writes vectors well (as tokio's `TcpStream` does), 1,024 bytes
//! on one that does not. A `Score` answer with three reasons is a few hundred bytes: above the first bound,
//! every answer costs its own `writev` and its own TCP segment, which on a saturated core cost more than
//! the scoring itself; below the second, answers ready at the same time are sent together.
//! [`CoalescingStream`] is a `TcpStream` that declines vectored writes, so answers of up to 1 KiB are
//! coalesced. Larger ones are sent as before, with the buffer and the frame in separate writes.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// A TCP connection that declines vectored writes (see the module's documentation).
#[derive(Debug)]
pub struct CoalescingStream(pub TcpStream);

impl AsyncRead for CoalescingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for CoalescingStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        false
    }
}

impl Connected for CoalescingStream {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.0.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_coalescing_stream_declines_vectored_writes_and_carries_bytes_both_ways() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let client = tokio::spawn(async move {
            let mut stream = TcpStream::connect(address).await.expect("connect");
            stream.write_all(b"ping").await.expect("write");
            let mut answer = [0; 4];
            stream.read_exact(&mut answer).await.expect("read");
            answer
        });
        let (accepted, peer) = listener.accept().await.expect("accept");
        assert!(accepted.is_write_vectored(), "tokio's TcpStream writes vectors");
        let mut stream = CoalescingStream(accepted);
        assert!(!stream.is_write_vectored());
        assert_eq!(stream.connect_info().remote_addr(), Some(peer));
        let mut asked = [0; 4];
        stream.read_exact(&mut asked).await.expect("read");
        assert_eq!(&asked, b"ping");
        stream.write_all(b"pong").await.expect("write");
        assert_eq!(&client.await.expect("client"), b"pong");
    }
}
