//! The request handling shared by the `tokio_http` and `may_http` binaries (the `http`
//! workload's peers): the same parser (httparse), the same answer and the same keep-alive rules
//! as corio's `examples/support/http.rs` for `/`. Included by each binary with `#[path]`.

/// The body served at `/`.
pub const ROOT_BODY: &[u8] = b"Hello, World!";

fn respond(out: &mut Vec<u8>, status: u16, reason: &str, body: &[u8], keep_alive: bool) {
    use std::io::Write;
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let _ = write!(
        out,
        "HTTP/1.1 {status} {reason}\r\nServer: corio\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
        body.len()
    );
    out.extend_from_slice(body);
}

/// Answers every complete request at the start of `buf` into `out` and removes them from
/// `buf`; returns false when the connection must be closed after sending `out`.
pub fn handle(buf: &mut Vec<u8>, out: &mut Vec<u8>) -> bool {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        let len = match req.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if buf.len() < 8192 => return true,
            _ => {
                respond(out, 400, "Bad Request", b"Bad Request", false);
                return false;
            }
        };
        let keep_alive = req.version == Some(1)
            && !req
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case("connection") && h.value.eq_ignore_ascii_case(b"close"));
        if req.method == Some("GET") && req.path == Some("/") {
            respond(out, 200, "OK", ROOT_BODY, keep_alive);
        } else {
            respond(out, 404, "Not Found", b"not found", keep_alive);
        }
        buf.drain(..len);
        if !keep_alive {
            return false;
        }
    }
}

/// The address from the first argument (default 127.0.0.1:8080; port 0 picks a free one) and
/// the worker count from the second (default: the number of cores).
pub fn args() -> (std::net::SocketAddr, usize) {
    let mut a = std::env::args().skip(1);
    let addr = a.next().unwrap_or_else(|| "127.0.0.1:8080".into()).parse().expect("address");
    let threads = a
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    (addr, threads)
}
