//! Identification against hostile or broken servers: garbage, absurd frame lengths, silence,
//! and truncated answers give a clear result within the budget, never a panic or a hang.

use portwatch_scan::identify::{self, Budget};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

/// A server that answers every connection's first read with `reply` (then keeps it open).
fn server(reply: Vec<u8>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut conn in l.incoming().flatten() {
            let reply = reply.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                if conn.read(&mut buf).unwrap_or(0) > 0 && !reply.is_empty() {
                    let _ = conn.write_all(&reply);
                }
                std::thread::sleep(Duration::from_secs(3));
            });
        }
    });
    addr
}

fn budget() -> Budget {
    Budget::for_rtt(Some(Duration::from_micros(50)), Duration::from_secs(10))
}

async fn smb_details(reply: Vec<u8>) -> (serde_json::Map<String, serde_json::Value>, Duration) {
    let addr = server(reply);
    let started = Instant::now();
    let id = identify::smb_direct(addr, budget()).await;
    (id.details, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frame_is_a_malformed_response() {
    let mut frame = vec![0, 0, 0, 40];
    frame.extend_from_slice(&[0xfe, b'S', b'M', b'B']);
    frame.extend_from_slice(&[0x41; 36]);
    let (details, took) = smb_details(frame).await;
    let err = details["smb"]["error"].as_str().unwrap();
    assert!(err.starts_with("malformed response"), "{err}");
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_frame_length_is_refused_without_reading_it() {
    let (details, took) = smb_details(vec![0, 0xff, 0xff, 0xff, 1, 2, 3]).await;
    let err = details["smb"]["error"].as_str().unwrap();
    assert!(err.contains("larger than"), "{err}");
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_server_costs_only_the_budget() {
    let (details, took) = smb_details(Vec::new()).await;
    assert!(details.is_empty(), "{details:?}");
    assert!(took < budget().connect + budget().exchange * 2, "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_answer_is_not_a_panic() {
    // A frame header promising 100 bytes, then only 10 and a closed connection.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut conn in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(&[0, 0, 0, 100, 0xfe, b'S', b'M', b'B', 0, 0]);
        }
    });
    let id = identify::smb_direct(addr, budget()).await;
    let err = id.details["smb"]["error"].as_str().unwrap();
    assert!(err.contains("truncated frame"), "{err}");
}

#[test]
fn udp_answers_that_do_not_parse_are_reported() {
    for port in [53u16, 123, 137, 161, 1900, 5353, 11211] {
        for bytes in [&b""[..], b"\x00", &[0xffu8; 3][..], &[0u8; 600][..]] {
            let id = identify::udp(port, bytes);
            if let Some(err) = id.details.get("error") {
                assert!(
                    err.as_str().unwrap().starts_with("malformed response"),
                    "{port}: {err}"
                );
            }
        }
    }
}
