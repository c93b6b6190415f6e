//! Bytes → the example HTTP server's request path: `parse` (with a `Config` picked by the
//! first byte), `route`, `respond`. Nothing may panic, and the results must be consistent:
//! a complete head parses the same alone, a routed file is a relative path of plain
//! segments (never `..`), a response is well-formed HTTP/1.1 with the right length.
//!
//! Input: byte 0 picks the limits (`max_head`, `max_body`), the rest is what a client sent.

#![no_main]

use std::path::Component;

use libfuzzer_sys::fuzz_target;

#[path = "../../examples/support/http.rs"]
mod http;

use http::{Config, Step, Target};

fuzz_target!(|data: &[u8]| {
    let (knobs, bytes) = data.split_first().map_or((0, data), |(k, rest)| (*k, rest));
    let config = Config {
        max_head: [8 * 1024, 16, 64, 512][usize::from(knobs & 3)],
        max_body: [1 << 20, 0, 10, u64::MAX][usize::from((knobs >> 2) & 3)],
        ..Config::default()
    };
    let step = http::parse(bytes, &config);
    match &step {
        Step::Partial => assert!(bytes.len() < config.max_head, "Partial with a full head buffer"),
        Step::Reject(status) => {
            assert!(matches!(status, 400 | 405 | 413 | 431 | 501), "unexpected status {status}");
            answer(*status, b"bad request", false, false);
        }
        Step::Request(req) => {
            assert!(req.head_len <= bytes.len() && req.head_len <= config.max_head, "{req:?}");
            assert!(req.body_len <= config.max_body, "{req:?}");
            // The head alone is the same request: nothing after it was looked at.
            assert_eq!(http::parse(&bytes[..req.head_len], &config), step);
            check_target(&req.target);
            let (status, body): (u16, &[u8]) = match req.target {
                Target::Root => (200, http::ROOT_BODY),
                _ => (404, b"not found"),
            };
            answer(status, body, req.head_only, req.keep_alive);
        }
    }
    // The router alone, on whatever the bytes say as a path.
    if let Ok(path) = std::str::from_utf8(bytes) {
        check_target(&http::route(path));
    }
});

/// A routed file is a non-empty relative path of plain segments, without NUL or backslash.
fn check_target(target: &Target) {
    if let Target::File(path) = target {
        assert!(!path.as_os_str().is_empty(), "an empty file path");
        for component in path.components() {
            let Component::Normal(name) = component else { panic!("{path:?} has a {component:?} component") };
            let name = name.to_str().expect("routed from a str");
            assert!(name != ".." && !name.contains(['\0', '\\', '/']), "{path:?} escapes: {name:?}");
        }
    }
}

/// `respond` writes one well-formed response: status line, `Content-Length` = the body's
/// length, then the body unless `head_only`.
fn answer(status: u16, body: &[u8], head_only: bool, keep_alive: bool) {
    let mut out = b"previous answer".to_vec();
    let before = out.len();
    http::respond(&mut out, status, body, head_only, keep_alive);
    assert_eq!(&out[..before], b"previous answer", "respond appends");
    let out = &out[before..];
    assert!(out.starts_with(format!("HTTP/1.1 {status} ").as_bytes()), "{:?}", String::from_utf8_lossy(out));
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut response = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(head_len)) = response.parse(out) else {
        panic!("not a complete response head: {:?}", String::from_utf8_lossy(out))
    };
    assert_eq!(response.code, Some(status));
    let header = |name: &str| response.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value);
    assert_eq!(header("content-length"), Some(body.len().to_string().as_bytes()));
    let connection: &[u8] = if keep_alive { b"keep-alive" } else { b"close" };
    assert_eq!(header("connection"), Some(connection));
    let expected_body: &[u8] = if head_only { b"" } else { body };
    assert_eq!(&out[head_len..], expected_body);
}
