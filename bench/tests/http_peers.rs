//! The `http` workload's peer servers (`tokio_http`, `may_http`, `monoio_http`, `uring_http`,
//! `uring_ms_http`) answer as corio's `examples/http_server.rs` does for what the workload
//! sends and what could go wrong with it: `GET /` with keep-alive, pipelined requests, an unknown path, `Connection: close`
//! and a malformed request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PEERS: [&str; 5] = [
    env!("CARGO_BIN_EXE_tokio_http"),
    env!("CARGO_BIN_EXE_may_http"),
    env!("CARGO_BIN_EXE_monoio_http"),
    env!("CARGO_BIN_EXE_uring_http"),
    env!("CARGO_BIN_EXE_uring_ms_http"),
];
const OK: &str = "HTTP/1.1 200 OK\r\nServer: corio\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\nHello, World!";

/// A peer server on a free port, killed on drop.
struct Peer(Child, SocketAddr);

impl Peer {
    fn start(bin: &str) -> Peer {
        let mut child =
            Command::new(bin).args(["127.0.0.1:0", "2"]).stdout(Stdio::piped()).spawn().expect("the peer starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.split_once("serving on ").and_then(|(_, rest)| rest.split_whitespace().next());
        let addr = addr.and_then(|a| a.parse().ok()).unwrap_or_else(|| panic!("{bin} said {line:?}"));
        Peer(child, addr)
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.1).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads until `want` bytes came or the peer closed; returns them.
fn read_some(s: &mut TcpStream, want: usize) -> String {
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    while got.len() < want {
        match s.read(&mut chunk).unwrap() {
            0 => break,
            n => got.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8(got).unwrap()
}

#[test]
fn every_peer_answers_as_the_corio_server_does() {
    for bin in PEERS {
        let peer = Peer::start(bin);
        // Keep-alive, twice on one connection, then two pipelined in one write.
        let mut s = peer.connect();
        for _ in 0..2 {
            s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
            assert_eq!(read_some(&mut s, OK.len()), OK, "{bin}");
        }
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        assert_eq!(read_some(&mut s, 2 * OK.len()), OK.repeat(2), "{bin}");
        // An unknown path: 404, the connection stays open.
        s.write_all(b"GET /nope HTTP/1.1\r\n\r\n").unwrap();
        let answer = read_some(&mut s, 1);
        assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{bin}: {answer:?}");
        // Connection: close is answered, then the server closes.
        let mut s = peer.connect();
        s.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
        let answer = read_some(&mut s, usize::MAX);
        assert_eq!(answer, OK.replace("keep-alive", "close"), "{bin}");
        // A malformed request: 400, then the server closes.
        let mut s = peer.connect();
        s.write_all(b"NOT HTTP\r\n\r\n").unwrap();
        let answer = read_some(&mut s, usize::MAX);
        assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{bin}: {answer:?}");
        assert!(answer.contains("Connection: close\r\n"), "{bin}: {answer:?}");
    }
}
