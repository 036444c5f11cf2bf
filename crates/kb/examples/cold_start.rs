//! Measures what the first lookups cost a freshly started process (`cargo run --release
//! --example cold_start`): the embedded registry, pages and top-ports table are parsed lazily.

use std::time::Instant;

use portwatch_kb::{Transport, pages, registry, top_ports};

fn main() {
    let start = Instant::now();
    let name = registry::lookup(445, Transport::Tcp).map(|e| e.name);
    let registry_time = start.elapsed();

    let start = Instant::now();
    let page_count = pages::all().len();
    let pages_time = start.elapsed();

    let start = Instant::now();
    let top = top_ports(Transport::Tcp, 100).map(|ports| ports.len());
    let top_time = start.elapsed();

    let start = Instant::now();
    for port in 1..=u16::MAX {
        let _ = portwatch_kb::service_name(port, Transport::Tcp);
    }
    let all_names_time = start.elapsed();

    println!("registry: {registry_time:?} (445/tcp = {name:?})");
    println!("pages:    {pages_time:?} ({page_count} pages)");
    println!("top:      {top_time:?} ({top:?})");
    println!("service_name for all 65535 tcp ports (warm): {all_names_time:?}");
}
