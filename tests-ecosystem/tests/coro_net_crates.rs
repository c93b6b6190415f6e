//! Unchanged synchronous crates run inside tasks over coro::net streams: httparse, serde_json
//! and rustls. Client and server are tasks of ONE scheduler on one thread, so a call that
//! blocked the thread instead of parking the task would deadlock the test.

// Not on WASI: corio-coro needs stack switching, which wasm32-wasip1 does not have.
// On Windows it builds and passes under wine but .ci/platforms leaves it out: serde_json reads
// the socket byte by byte, one recv op each, ~9 s under wine (coro_net covers the streams).
#![cfg(not(target_os = "wasi"))]

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use corio::aio::op::Timeout;
use corio::coro::net::{TcpListener, TcpStream};
use corio::coro::{Scheduler, io};

fn pause() {
    io::single(Timeout::new(Duration::from_millis(2))).unwrap();
}

#[test]
fn httparse_parses_requests_read_from_a_stream() {
    let scheduler = Scheduler::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = scheduler.spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 7]; // small reads: the parser sees partial requests
        loop {
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0, "eof before a full request");
            buf.extend_from_slice(&chunk[..n]);
            let mut headers = [httparse::EMPTY_HEADER; 8];
            let mut req = httparse::Request::new(&mut headers);
            if let httparse::Status::Complete(len) = req.parse(&buf).unwrap() {
                let host = req.headers.iter().find(|h| h.name == "Host").unwrap();
                let answer = format!(
                    "{} {} {}",
                    req.method.unwrap(),
                    req.path.unwrap(),
                    std::str::from_utf8(host.value).unwrap()
                );
                stream.write_all(answer.as_bytes()).unwrap();
                return len;
            }
        }
    });
    let client = scheduler.spawn(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        for part in ["GET /ind", "ex.html HTTP/1.1\r\nHo", "st: example\r\n", "\r\n"] {
            stream.write_all(part.as_bytes()).unwrap();
            pause();
        }
        stream.shutdown(Shutdown::Write).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    });
    assert_eq!(client.join(), "GET /index.html example");
    assert_eq!(server.join(), "GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n".len());
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Order {
    id: u64,
    items: Vec<String>,
    total: f64,
}

#[test]
fn serde_json_over_a_socket() {
    let scheduler = Scheduler::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = scheduler.spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut order: Order = serde_json::from_reader(&stream).unwrap();
        order.total = order.items.len() as f64 * 1.5;
        serde_json::to_writer(&stream, &order).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
    });
    let client = scheduler.spawn(move || {
        let stream = TcpStream::connect(addr).unwrap();
        let items = (0..2000).map(|i| format!("item number {i}")).collect();
        serde_json::to_writer(&stream, &Order { id: 7, items, total: 0.0 }).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        serde_json::from_reader::<_, Order>(&stream).unwrap()
    });
    let order = client.join();
    server.join();
    assert_eq!((order.id, order.items.len(), order.total), (7, 2000, 3000.0));
    assert_eq!(order.items[1999], "item number 1999");
}

// Not on Windows: rustls is not a dev-dependency there (ring needs a C compiler for the target).
#[test]
#[cfg(not(windows))]
fn rustls_handshake_and_exchange_between_tasks() {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
    use std::sync::Arc;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();

    let scheduler = Scheduler::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = scheduler.spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let conn = rustls::ServerConnection::new(Arc::new(server_config)).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
        tls.write_all(b"pong over tls").unwrap();
        tls.conn.send_close_notify();
        tls.flush().unwrap();
        tls.conn.negotiated_cipher_suite().unwrap().suite()
    });
    let client = scheduler.spawn(move || {
        let tcp = TcpStream::connect(addr).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(client_config), name).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        tls.write_all(b"ping").unwrap();
        let mut answer = String::new();
        tls.read_to_string(&mut answer).unwrap();
        (answer, tls.conn.protocol_version())
    });
    let (answer, version) = client.join();
    let suite = server.join();
    assert_eq!(answer, "pong over tls");
    assert_eq!(version, Some(rustls::ProtocolVersion::TLSv1_3));
    assert!(format!("{suite:?}").starts_with("TLS13_"), "{suite:?}");
}
