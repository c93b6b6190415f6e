//! Two tasks talk over TCP on one scheduler: the server sends three messages and receives the
//! client's reply in one batch, the client reads until it has seen them all. The port of
//! zig-aio's `coro` example.
//!
//! Run with `cargo run --example coro`.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use corio::aio::net_types::{self, Domain, Protocol, Type};
use corio::aio::op::{self, OpExt};
use corio::coro::{RunMode, Scheduler, io as cio, sync::ResetEvent};

fn new_socket() -> io::Result<net_types::Socket> {
    cio::single(op::Socket::new(Domain::IPV4, Type::STREAM).protocol(Protocol::TCP))
}

fn server(startup: Rc<ResetEvent>) -> io::Result<()> {
    let socket = new_socket()?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&SocketAddr::from(([0, 0, 0, 0], 1327)).into())?;
    socket.listen(128)?;

    startup.set();

    let (client, _) = cio::single(op::Accept::new(&socket))?;

    let mut buf = [0u8; 1024];
    let (_, _, _, len) = cio::multi((
        op::Send::new(&client, b"hey ").soft(),
        op::Send::new(&client, b"I'm doing multiple IO ops at once ").soft(),
        op::Send::new(&client, b"how cool is that?").soft(),
        op::Recv::new(&client, &mut buf),
    ))?;
    println!("got reply from client: {}", String::from_utf8_lossy(&buf[..len]));

    // `Close` takes ownership of the socket, so it cannot share a batch with a send that
    // borrows it: send first, then close both.
    cio::single(op::Send::new(&client, b"ok bye"))?;
    cio::multi((op::Close::new(client).soft(), op::Close::new(socket)))?;
    Ok(())
}

fn client(startup: Rc<ResetEvent>) -> io::Result<()> {
    let socket = new_socket()?;

    startup.wait()?;

    cio::single(op::Connect::new(&socket, SocketAddr::from(([127, 0, 0, 1], 1327))))?;

    loop {
        let mut buf = [0u8; 1024];
        let len = cio::single(op::Recv::new(&socket, &mut buf))?;
        let text = String::from_utf8_lossy(&buf[..len]);
        println!("got reply from server: {text}");
        if text.contains("how cool is that?") {
            break;
        }
    }

    cio::single(op::Send::new(&socket, b"dude, I don't care"))?;

    let mut buf = [0u8; 1024];
    let len = cio::single(op::Recv::new(&socket, &mut buf))?;
    println!("got final words from server: {}", String::from_utf8_lossy(&buf[..len]));
    Ok(())
}

fn main() -> io::Result<()> {
    let scheduler = Scheduler::new()?;
    let startup = Rc::new(ResetEvent::new());
    let client = scheduler.spawn({
        let startup = startup.clone();
        move || client(startup)
    });
    let server = scheduler.spawn(move || server(startup));
    scheduler.run(RunMode::Wait)?;
    client.join()?;
    server.join()?;
    Ok(())
}
