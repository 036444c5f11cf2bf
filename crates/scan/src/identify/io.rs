//! Small async exchanges with deadlines: connect, send, read a framed message, read a greeting.

use portwatch_proto::netbios::session;
use socket2::SockRef;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Largest SMB/NetBIOS message accepted from a server.
const MAX_FRAME: usize = 64 * 1024;
/// Largest greeting or probe answer kept.
pub const MAX_GREETING: usize = 8 * 1024;

fn timed_out(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no answer to {what} in time"),
    )
}

/// A connection that is reset (not left in TIME_WAIT) when dropped.
pub struct Conn(pub TcpStream);

impl Drop for Conn {
    fn drop(&mut self) {
        let _ = SockRef::from(&self.0).set_linger(Some(Duration::ZERO));
    }
}

/// Connects within `limit`.
pub async fn connect(addr: SocketAddr, limit: Duration) -> io::Result<Conn> {
    let stream = timeout(limit, TcpStream::connect(addr))
        .await
        .map_err(|_| timed_out("connect"))??;
    let _ = stream.set_nodelay(true);
    Ok(Conn(stream))
}

/// Sends `bytes` and reads one NetBIOS-framed message (SMB over 139 and 445) within `limit`.
/// Returns the whole frame, header included.
pub async fn exchange_frame(conn: &mut Conn, bytes: &[u8], limit: Duration) -> io::Result<Vec<u8>> {
    timeout(limit, async {
        conn.0.write_all(bytes).await?;
        read_frame(&mut conn.0).await
    })
    .await
    .map_err(|_| timed_out("request"))?
}

async fn read_frame(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut frame = vec![0u8; 4];
    stream.read_exact(&mut frame).await?;
    let Some(total) = session::frame_len(&frame) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad frame header",
        ));
    };
    if total > MAX_FRAME + 4 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {total} bytes is larger than {MAX_FRAME}"),
        ));
    }
    frame.resize(total, 0);
    stream.read_exact(&mut frame[4..]).await.map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("truncated frame: the header promised {} bytes", total - 4),
            )
        } else {
            e
        }
    })?;
    Ok(frame)
}

/// Reads what the peer sends: waits up to `first` for the first bytes, then keeps reading
/// while more arrives within a short grace, up to [`MAX_GREETING`] bytes or end of stream.
pub async fn read_greeting(conn: &mut Conn, first: Duration) -> Vec<u8> {
    let mut data = Vec::new();
    let mut chunk = [0u8; 2048];
    let mut wait = first;
    loop {
        match timeout(wait, conn.0.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                data.extend_from_slice(&chunk[..n]);
                if data.len() >= MAX_GREETING {
                    data.truncate(MAX_GREETING);
                    return data;
                }
                wait = Duration::from_millis(30);
            }
            _ => return data,
        }
    }
}

/// Sends `bytes` (ignoring a peer that already closed).
pub async fn send(conn: &mut Conn, bytes: &[u8]) -> bool {
    conn.0.write_all(bytes).await.is_ok()
}
