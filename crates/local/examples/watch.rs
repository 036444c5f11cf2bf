//! Prints listeners as they open and close, one line each, until killed. Used to measure the
//! watcher's cost: `cargo run --release -p portwatch-local --example watch`, then read the
//! process's CPU time from `/proc/PID/stat` after a while.

use portwatch_local::watch::{Event, Watcher};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut watcher = Watcher::new()?;
    eprintln!("watching {} listeners", watcher.current().len());
    loop {
        let (sign, l) = match watcher.next().await? {
            Event::Opened(l) => ('+', l),
            Event::Closed(l) => ('-', l),
        };
        println!("{sign} {} {}:{} {:?}", l.proto, l.addr, l.port, l.process);
    }
}
