//! The async IO traits of [`TcpStream`](crate::net::TcpStream) and (on Unix) `UnixStream`, one cargo feature each:
//! `futures-io` (`futures_io::{AsyncRead, AsyncWrite}`), `tokio`
//! (`tokio::io::{AsyncRead, AsyncWrite}`) and `hyper` (`hyper::rt::{Read, Write}`). Each is a
//! thin adapter over the stream's [`AsyncIo`](super::stream::AsyncIo) (`stream.rs`), written
//! once for both types by `async_traits!`.

#[cfg(any(feature = "futures-io", feature = "tokio", feature = "hyper"))]
use std::{
    io::{self, IoSlice},
    pin::Pin,
    task::{Context, Poll},
};

#[cfg(any(feature = "futures-io", feature = "tokio", feature = "hyper"))]
use crate::net::TcpStream;
#[cfg(all(unix, any(feature = "futures-io", feature = "tokio", feature = "hyper")))]
use crate::net::UnixStream;

/// Implements the enabled traits for `$ty`, whose `async_parts()` gives its std socket and
/// its `AsyncIo`.
#[cfg(any(feature = "futures-io", feature = "tokio", feature = "hyper"))]
macro_rules! async_traits {
    ($ty:ty) => {
        #[cfg(feature = "futures-io")]
        impl futures_io::AsyncRead for $ty {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
                if buf.is_empty() {
                    return Poll::Ready(Ok(0));
                }
                let (socket, io) = self.get_mut().async_parts();
                io.poll_read_with(socket, cx, &mut |data| {
                    let n = data.len().min(buf.len());
                    buf[..n].copy_from_slice(&data[..n]);
                    n
                })
            }
        }

        #[cfg(feature = "futures-io")]
        impl futures_io::AsyncWrite for $ty {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                let (socket, io) = self.get_mut().async_parts();
                io.poll_write_from(socket, cx, &[buf])
            }
            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                let (socket, io) = self.get_mut().async_parts();
                io.poll_write_from(socket, cx, bufs)
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let (socket, io) = self.get_mut().async_parts();
                io.poll_flush(socket, cx)
            }
            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let (socket, io) = self.get_mut().async_parts();
                io.poll_shutdown(socket, cx)
            }
        }

        #[cfg(feature = "tokio")]
        impl tokio::io::AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                if buf.remaining() == 0 {
                    return Poll::Ready(Ok(()));
                }
                let (socket, io) = self.get_mut().async_parts();
                let read = io.poll_read_with(socket, cx, &mut |data| {
                    let n = data.len().min(buf.remaining());
                    buf.put_slice(&data[..n]);
                    n
                });
                read.map_ok(|_| ())
            }
        }

        #[cfg(feature = "tokio")]
        impl tokio::io::AsyncWrite for $ty {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                let (socket, io) = self.get_mut().async_parts();
                io.poll_write_from(socket, cx, &[buf])
            }
            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                let (socket, io) = self.get_mut().async_parts();
                io.poll_write_from(socket, cx, bufs)
            }
            fn is_write_vectored(&self) -> bool {
                true
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let (socket, io) = self.get_mut().async_parts();
                io.poll_flush(socket, cx)
            }
            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let (socket, io) = self.get_mut().async_parts();
                io.poll_shutdown(socket, cx)
            }
        }

        #[cfg(feature = "hyper")]
        impl hyper::rt::Read for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                mut buf: hyper::rt::ReadBufCursor<'_>,
            ) -> Poll<io::Result<()>> {
                if buf.remaining() == 0 {
                    return Poll::Ready(Ok(()));
                }
                let (socket, io) = self.get_mut().async_parts();
                let read = io.poll_read_with(socket, cx, &mut |data| {
                    let n = data.len().min(buf.remaining());
                    buf.put_slice(&data[..n]);
                    n
                });
                read.map_ok(|_| ())
            }
        }

        #[cfg(feature = "hyper")]
        impl hyper::rt::Write for $ty {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                let (socket, io) = self.get_mut().async_parts();
                io.poll_write_from(socket, cx, &[buf])
            }
            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                let (socket, io) = self.get_mut().async_parts();
                io.poll_write_from(socket, cx, bufs)
            }
            fn is_write_vectored(&self) -> bool {
                true
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let (socket, io) = self.get_mut().async_parts();
                io.poll_flush(socket, cx)
            }
            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let (socket, io) = self.get_mut().async_parts();
                io.poll_shutdown(socket, cx)
            }
        }
    };
}

#[cfg(any(feature = "futures-io", feature = "tokio", feature = "hyper"))]
async_traits!(TcpStream);
#[cfg(all(unix, any(feature = "futures-io", feature = "tokio", feature = "hyper")))]
async_traits!(UnixStream);

/// A [`hyper::rt::Executor`] that spawns each future as a task (on the scheduler of the task
/// that calls `execute`), running it with [`block_on`](super::block_on), on a stack of
/// [`Executor::STACK_SIZE`] bytes: poll chains of async code are deep (h2's streams overflow
/// a 64 KiB stack in a debug build).
///
/// hyper calls `execute` from inside the connection's future, so inside a task; outside one
/// there is no scheduler to spawn on and it panics.
#[cfg(feature = "hyper")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Executor;

#[cfg(feature = "hyper")]
impl Executor {
    /// The stack size of the tasks it spawns.
    pub const STACK_SIZE: usize = 256 * 1024;
}

#[cfg(feature = "hyper")]
impl<F> hyper::rt::Executor<F> for Executor
where
    F: std::future::Future + 'static,
{
    fn execute(&self, future: F) {
        // A spawned task runs at once, inside hyper's poll that called `execute`: let it park
        // first (one self-woken poll), so the caller's poll ends before the future starts.
        let mut started = false;
        let mut future = Box::pin(future);
        let deferred = std::future::poll_fn(move |cx| {
            if !started {
                started = true;
                cx.waker().wake_by_ref();
                return std::task::Poll::Pending;
            }
            future.as_mut().poll(cx)
        });
        crate::spawn_with(crate::SpawnOptions::new().stack_size(Self::STACK_SIZE), move || {
            // A canceled task drops the future: its ops are canceled with it.
            let _ = super::block_on(deferred);
        })
        .detach();
    }
}
