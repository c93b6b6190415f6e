//! Unchanged async crates on corio streams and timers: a tokio-util `Framed` line protocol,
//! `futures::select!` of a read and a corio `Sleep`, a future woken from another OS thread.

#![cfg(not(target_os = "wasi"))]

use std::time::Duration;

use corio::coro::future::{block_on, sleep};
use corio::coro::net::{TcpListener, TcpStream};
use corio::coro::{RunMode, Scheduler};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use futures::{FutureExt, SinkExt, StreamExt};
use tokio_util::codec::{Framed, LinesCodec};

#[test]
fn a_framed_line_protocol_between_tasks() {
    let scheduler = Scheduler::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = scheduler.spawn(move || {
        let mut lines = Framed::new(listener.accept().unwrap().0, LinesCodec::new());
        block_on(async move {
            while let Some(line) = lines.next().await {
                let line = line.unwrap();
                lines.send(line.to_uppercase()).await.unwrap();
            }
        })
        .unwrap()
    });
    let client = scheduler.spawn(move || {
        let mut lines = Framed::new(TcpStream::connect(addr).unwrap(), LinesCodec::new());
        block_on(async move {
            let mut answers = Vec::new();
            for word in ["alpha", "beta", "gamma"] {
                lines.send(word).await.unwrap();
                answers.push(lines.next().await.unwrap().unwrap());
            }
            answers
        })
        .unwrap()
    });
    scheduler.run(RunMode::Wait).unwrap();
    server.join();
    assert_eq!(client.join(), ["ALPHA", "BETA", "GAMMA"]);
}

#[test]
fn select_of_a_read_and_a_corio_sleep() {
    let scheduler = Scheduler::new().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        std::io::Write::write_all(&mut conn, b"later").unwrap();
    });
    let task = scheduler.spawn(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        block_on(async move {
            let mut outcomes = Vec::new();
            let mut buf = [0u8; 16];
            // The sleep wins the first round; the read (dropped mid-op) keeps nothing of
            // the caller's, and the second round's read gets the bytes.
            for wait in [Duration::from_millis(5), Duration::from_secs(30)] {
                futures::select! {
                    n = stream.read(&mut buf).fuse() => outcomes.push(format!("read {}", String::from_utf8_lossy(&buf[..n.unwrap()]))),
                    () = sleep(wait).fuse() => outcomes.push("slept".to_string()),
                }
            }
            stream.close().await.unwrap();
            outcomes
        })
        .unwrap()
    });
    scheduler.run(RunMode::Wait).unwrap();
    peer.join().unwrap();
    assert_eq!(task.join(), ["slept", "read later"]);
}

#[test]
fn a_oneshot_sent_from_another_thread() {
    let scheduler = Scheduler::new().unwrap();
    let (tx, rx) = futures::channel::oneshot::channel::<u32>();
    let task = scheduler.spawn(move || block_on(rx).unwrap().unwrap());
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        tx.send(42).unwrap();
    });
    scheduler.run(RunMode::Wait).unwrap();
    sender.join().unwrap();
    assert_eq!(task.join(), 42);
}
