//! Blocking std clients for checking the example HTTP server: the example's self-test
//! (`examples/http_server.rs`) and the bad-client suite (`tests/http_bad_clients.rs`) include
//! this file.

// Each includer uses a different subset.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use corio::aio::net_types::{Domain, Socket, Type};

/// Sends `request`, reads until the peer closes or `timeout` passes; returns what came back.
pub fn exchange(addr: SocketAddr, request: &[u8], timeout: Duration) -> io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(timeout))?;
    s.write_all(request)?;
    read_until_closed(&mut s)
}

/// Reads until the peer closes, resets, or the read timeout passes; returns what came back.
pub fn read_until_closed(s: &mut TcpStream) -> io::Result<String> {
    let mut answer = Vec::new();
    match s.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        Err(e) => return Err(e),
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// Reads one response with a Content-Length from a keep-alive connection.
pub fn read_response(s: &mut TcpStream) -> io::Result<String> {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        got.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&got).into_owned();
    let len: usize =
        head.lines().find_map(|l| l.strip_prefix("Content-Length: ")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    Ok(head + &String::from_utf8_lossy(&body))
}

/// Sends `request` a byte every `every` on a new connection, stopping when the server
/// answers or closes; returns how many bytes went out and what came back.
pub fn trickle(addr: SocketAddr, request: &[u8], every: Duration) -> io::Result<(usize, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut answer = Vec::new();
    let mut sent = 0;
    for &b in request {
        if s.write_all(&[b]).is_err() {
            break;
        }
        sent += 1;
        std::thread::sleep(every);
        match s.read_to_end(&mut answer) {
            Ok(_) => break, // closed by the server
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
    }
    Ok((sent, String::from_utf8_lossy(&answer).into_owned()))
}

/// Pipelines requests on a new connection and never reads the answers, until writing fails
/// (the server closed the connection: its error is returned) or `patience` has passed (an
/// error). The client's receive buffer is small, so the answers back up after a few
/// kilobytes.
pub fn pipeline_without_reading(addr: SocketAddr, patience: Duration) -> io::Result<io::Error> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_recv_buffer_size(4096)?;
    socket.connect(&addr.into())?;
    let mut s = TcpStream::from(socket);
    s.set_write_timeout(Some(Duration::from_millis(100)))?;
    let requests = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1000);
    let start = Instant::now();
    loop {
        match s.write(&requests) {
            Ok(_) => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) => return Ok(e),
        }
        if start.elapsed() > patience {
            return Err(io::Error::other(format!("the server still holds the connection after {patience:?}")));
        }
    }
}
