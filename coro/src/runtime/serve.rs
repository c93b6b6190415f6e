//! [`Runtime::serve`]: a TCP server over every runtime thread, each with its own
//! `SO_REUSEPORT` listener, its accepting tasks and a task per connection.

use std::cell::Cell;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use corio_aio::is_canceled;
use corio_aio::op::Timeout;

use super::{Runtime, worker};
use crate::net::{TcpListener, TcpStream};

/// Tasks accepting on each thread's listener: one, taking connections from
/// [`TcpListener::incoming`](crate::net::TcpListener::incoming), whose multishot accept queues
/// every connection that arrives while the task is busy, so one wake-up takes a whole burst.
/// (With an `accept` op per connection one task took one connection per scheduler pass, and
/// eight were needed: measured with `wrk -c1000` against a fresh `http_server` on the posix
/// backend, p99 220–500 ms with one acceptor, 21–52 ms with eight.)
pub const ACCEPTORS: usize = 1;

/// How long an accepting task pauses after a failed accept. Out of descriptors (`EMFILE`,
/// `ENFILE`) or memory, every accept fails at once while connections wait in the backlog:
/// without a pause the acceptors spin (measured in `http_server` at a 256-descriptor limit
/// with 400 clients: 475,767 log lines in 10 s at 27 % CPU).
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

impl Runtime {
    /// Serves TCP connections on `addr` with `handler`, which runs in a task of its own per
    /// connection; returns the bound address (useful with port 0). Each thread gets its own
    /// listener bound with
    /// [`TcpListener::bind_reuseport`](crate::net::TcpListener::bind_reuseport) (the kernel
    /// spreads connections among them) and [`ACCEPTORS`] accepting tasks. Every thread
    /// accepts when this returns. Shutdown stops the accepting tasks first, closing the
    /// listeners; the connections' tasks get the grace period.
    ///
    /// Failed accepts (out of descriptors, say) are logged once per burst and retried every
    /// 100 ms.
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// use corio_coro::runtime::Runtime;
    /// use std::io::{Read, Write};
    ///
    /// let runtime = Runtime::builder().threads(2).build()?;
    /// let addr = runtime.serve("127.0.0.1:0", |mut stream| {
    ///     let _ = stream.write_all(b"hello\n");
    /// })?;
    /// let mut reply = String::new();
    /// std::net::TcpStream::connect(addr)?.read_to_string(&mut reply)?;
    /// assert_eq!(reply, "hello\n");
    /// # }
    /// # std::io::Result::Ok(())
    /// ```
    pub fn serve<A, H>(&self, addr: A, handler: H) -> io::Result<SocketAddr>
    where
        A: ToSocketAddrs,
        H: Fn(TcpStream) + Send + Sync + 'static,
    {
        let handler = Arc::new(handler);
        self.serve_with(addr, move || {
            let handler = handler.clone();
            move |stream| handler(stream)
        })
    }

    /// Like [`serve`](Runtime::serve), with a handler made on each thread by `make` (called
    /// once per thread, in a task there): the handler may hold the thread's own state (an
    /// `Rc`, a cache) and `make` may spawn the thread's helper tasks (register long-running
    /// ones with [`stop_on_shutdown`](super::stop_on_shutdown)).
    pub fn serve_with<A, M, H>(&self, addr: A, make: M) -> io::Result<SocketAddr>
    where
        A: ToSocketAddrs,
        M: Fn() -> H + Send + Sync + 'static,
        H: Fn(TcpStream) + 'static,
    {
        let first = TcpListener::bind_reuseport(addr)?;
        let addr = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..self.threads() {
            listeners.push(TcpListener::bind_reuseport(addr)?);
        }
        let make = Arc::new(make);
        let mut started = Vec::with_capacity(listeners.len());
        for (index, listener) in listeners.into_iter().enumerate() {
            let make = make.clone();
            started.push(self.handle().try_spawn_on(index, move || start_accepting(listener, &*make))?);
        }
        for thread in started {
            thread.join()?;
        }
        Ok(addr)
    }
}

/// On a runtime thread: makes the thread's handler and starts its accepting tasks.
fn start_accepting<H: Fn(TcpStream) + 'static>(listener: TcpListener, make: &dyn Fn() -> H) {
    let handler = Rc::new(make());
    let listener = Rc::new(listener);
    let failing = Rc::new(Cell::new(false));
    for _ in 0..ACCEPTORS {
        let (listener, handler, failing) = (listener.clone(), handler.clone(), failing.clone());
        let options = crate::SpawnOptions::new().name("corio-serve-accept");
        let task = crate::spawn_with(options, move || accept_loop(&listener, &handler, &failing));
        if let Err(task) = super::stop_on_shutdown(task) {
            task.detach();
        }
    }
    debug_assert!(worker::context().is_some(), "accepting tasks run on a runtime thread");
}

/// Accepts until canceled (through the listener's multishot `incoming`), serving each
/// connection in a task of its own. `failing` is set by
/// the first failed accept of a burst and cleared by the next success, so a burst is logged
/// once.
fn accept_loop<H: Fn(TcpStream) + 'static>(listener: &TcpListener, handler: &Rc<H>, failing: &Cell<bool>) {
    let mut incoming = listener.incoming();
    loop {
        match incoming.next().expect("incoming never ends") {
            Ok(stream) => {
                if failing.replace(false) {
                    log::warn!("corio serve: accepting again");
                }
                let handler = handler.clone();
                crate::spawn(move || handler(stream)).detach();
            }
            Err(e) if is_canceled(&e) => return,
            Err(e) => {
                if !failing.replace(true) {
                    log::warn!("corio serve: accept: {e}; retrying every {ACCEPT_PAUSE:?}");
                }
                // A pause that fails (canceled) ends the loop, which would spin otherwise.
                if crate::io::single(Timeout::new(ACCEPT_PAUSE)).is_err() {
                    return;
                }
            }
        }
    }
}
