//! What a location lookup costs with registrations shared in Redis (`[state]`), each way:
//! served from the router's cache (no other router changed the AOR since it was read),
//! read from Redis (after a change notice dropped the copy), and a REGISTER's write
//! (read, compare-and-set, notice), against the in-memory table. Starts its own
//! `redis-server` on a free loopback port.
//!
//! ```sh
//! cargo bench -p sipwasm --bench shared_location
//! ```

use sipwasm_routing::registrar::{Binding, Location};
use std::hint::black_box;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROUNDS: u32 = 5_000;
const PASSES: usize = 5;

fn binding(n: u32) -> Binding {
    Binding {
        contact: "sip:alice@192.0.2.7:5060".to_string(),
        expires_at: 4_000_000_000,
        q: 1000,
        call_id: format!("c{n}"),
        cseq: n,
        received: None,
        path: Vec::new(),
        socket: None,
        flow: None,
        instance: None,
        reg_id: None,
        user_agent: Some("PJSUA v2.15".into()),
        owner: None,
    }
}

/// Median nanoseconds per call of `f` over [`PASSES`] passes of [`ROUNDS`] calls.
fn time(mut f: impl FnMut(u32)) -> u128 {
    let mut passes: Vec<u128> = (0..PASSES)
        .map(|_| {
            let start = Instant::now();
            for i in 0..ROUNDS {
                f(i);
            }
            start.elapsed().as_nanos() / u128::from(ROUNDS)
        })
        .collect();
    passes.sort_unstable();
    passes[PASSES / 2]
}

fn main() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _redis = Redis(
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/ensure-tools installs it)"),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let url = format!("redis://127.0.0.1:{port}/0");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let state = sipwasm::state::RedisState::start(
        &url,
        "bench:",
        Duration::from_secs(1),
        None,
        rt.handle(),
    )
    .unwrap();
    let store = state.location("t");
    if let Err(e) = store.load("location", "nobody") {
        panic!("Redis at {url}: {e}");
    }
    let shared = Location::shared(store);
    let invalidator = shared.invalidator().unwrap();
    state.watch("t", invalidator.clone());
    // the change notices subscribed: cached copies are served
    std::thread::sleep(Duration::from_millis(500));
    let memory = Location::default();
    for l in [&memory, &shared] {
        l.insert("location", "alice@sipwasm.local", binding(0))
            .unwrap();
    }
    let lookup = |l: &Location| {
        let b = l.bindings("location", "alice@sipwasm.local", 1_000_000_000);
        assert_eq!(b.len(), 1);
        black_box(b);
    };
    let in_memory = time(|_| lookup(&memory));
    let cached = time(|_| lookup(&shared));
    let from_redis = time(|_| {
        invalidator.invalidate(Some(("location", "alice@sipwasm.local")));
        lookup(&shared);
    });
    let write_memory = time(|i| {
        memory
            .insert("location", "bob@sipwasm.local", binding(i))
            .unwrap()
    });
    let write_redis = time(|i| {
        shared
            .insert("location", "bob@sipwasm.local", binding(i))
            .unwrap()
    });
    println!(
        "location lookup, one AOR with one binding (median ns per call, {PASSES} passes of {ROUNDS}):"
    );
    println!("  in memory (backend = \"memory\")          {in_memory:>9} ns");
    println!(
        "  Redis backend, served from the cache      {cached:>9} ns  ({:.2}x memory)",
        cached as f64 / in_memory as f64
    );
    println!(
        "  Redis backend, read from Redis            {from_redis:>9} ns  ({:.1}x cached)",
        from_redis as f64 / cached as f64
    );
    println!("REGISTER write of one binding:");
    println!("  in memory                                 {write_memory:>9} ns");
    println!(
        "  Redis (read, compare-and-set, notice)     {write_redis:>9} ns  ({:.1}x memory)",
        write_redis as f64 / write_memory as f64
    );
    drop(rt);
}

/// The bench's own redis-server, stopped however the bench ends.
struct Redis(std::process::Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
