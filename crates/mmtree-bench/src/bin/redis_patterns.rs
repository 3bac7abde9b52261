//! Two access patterns redis-benchmark cannot drive, against any Redis-protocol server
//! (`mmtree serve` or redis-server), for `scripts/bench-redis-types.sh`:
//!
//! - `--mode pingpong`: BLPOP/LPUSH ping-pong. Each of `--pairs` pairs has two connections, A
//!   and B, and a ball goes back and forth: A pushes to `ping:N` and waits in `BLPOP pong:N`;
//!   B waits in `BLPOP ping:N` and pushes to `pong:N` when woken. Every exchange is one push
//!   that wakes one blocked client. Prints exchanges/s over all pairs.
//! - `--mode capped`: the capped list (`LPUSH k v` then `LTRIM k 0 99`, the recent-items
//!   pattern), `--pairs` connections each sending `--pipeline` LPUSH+LTRIM pairs per round trip
//!   over 100 lists. Prints pairs/s.
//!
//!   redis_patterns --port 6379 --mode pingpong --pairs 1 --seconds 3

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 6379)]
    port: u16,
    /// Independent ping-pong pairs running at once (two connections each).
    #[arg(long, default_value_t = 1)]
    pairs: u32,
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    #[arg(long, value_enum, default_value_t = Mode::Pingpong)]
    mode: Mode,
    /// LPUSH+LTRIM pairs per round trip (capped mode).
    #[arg(long, default_value_t = 1)]
    pipeline: u32,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Mode {
    Pingpong,
    Capped,
}

struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    line: String,
    /// The last bulk string of the last reply (BLPOP's value).
    last_bulk: Vec<u8>,
}

impl Conn {
    fn open(port: u16) -> Result<Conn> {
        let writer = TcpStream::connect(("127.0.0.1", port)).context("connecting")?;
        writer.set_nodelay(true)?;
        let reader = BufReader::new(writer.try_clone()?);
        Ok(Conn {
            reader,
            writer,
            line: String::new(),
            last_bulk: Vec::new(),
        })
    }

    fn send(&mut self, args: &[&str]) -> Result<()> {
        let mut out = format!("*{}\r\n", args.len());
        for a in args {
            out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        self.writer.write_all(out.as_bytes())?;
        Ok(())
    }

    /// Reads one reply and returns its first line; arrays (BLPOP's [key, value]) and bulk
    /// strings are read whole. An error reply is an error.
    fn reply(&mut self) -> Result<String> {
        self.line.clear();
        if self.reader.read_line(&mut self.line)? == 0 {
            bail!("server closed the connection");
        }
        let first = self.line.trim_end().to_string();
        match first.as_bytes().first() {
            Some(b'-') => bail!("server error: {first}"),
            Some(b'*') => {
                let n: i64 = first[1..].parse()?;
                for _ in 0..n.max(0) {
                    self.reply()?;
                }
            }
            Some(b'$') => {
                let n: i64 = first[1..].parse()?;
                if n >= 0 {
                    let mut body = vec![0u8; n as usize + 2];
                    std::io::Read::read_exact(&mut self.reader, &mut body)?;
                    body.truncate(n as usize);
                    self.last_bulk = body;
                }
            }
            _ => {}
        }
        Ok(first)
    }

    fn call(&mut self, args: &[&str]) -> Result<String> {
        self.send(args)?;
        self.reply()
    }
}

type Worker = std::thread::JoinHandle<Result<()>>;

/// Starts the capped-list clients; each adds its finished pairs to `count`.
fn capped(args: &Args, stop: &Arc<AtomicBool>, count: &Arc<AtomicU64>) -> Result<Vec<Worker>> {
    let mut threads = Vec::new();
    for client in 0..args.pairs {
        let mut c = Conn::open(args.port)?;
        let (stop, count, pipeline) = (stop.clone(), count.clone(), args.pipeline);
        threads.push(std::thread::spawn(move || -> Result<()> {
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for i in 0..pipeline as u64 {
                    let key = format!("bench:capped:{}", (client as u64 * 7919 + round + i) % 100);
                    c.send(&["LPUSH", &key, "recent-item-value"])?;
                    c.send(&["LTRIM", &key, "0", "99"])?;
                }
                for _ in 0..pipeline * 2 {
                    c.reply()?;
                }
                round += pipeline as u64;
                count.fetch_add(pipeline as u64, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    Ok(threads)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let stop = Arc::new(AtomicBool::new(false));
    let exchanges = Arc::new(AtomicU64::new(0));
    let mut threads = match args.mode {
        Mode::Capped => capped(&args, &stop, &exchanges)?,
        Mode::Pingpong => Vec::new(),
    };
    let pairs = match args.mode {
        Mode::Capped => 0,
        Mode::Pingpong => args.pairs,
    };
    for pair in 0..pairs {
        // Keys of this process alone: a second client run against the same server (or one
        // left over) must not take this pair's ball.
        let me = std::process::id();
        let ping = format!("bench:ping:{me}:{pair}");
        let pong = format!("bench:pong:{me}:{pair}");
        let mut a = Conn::open(args.port)?;
        let mut b = Conn::open(args.port)?;
        a.call(&["DEL", &ping, &pong])?;
        // B: woken by A's push, answers with its own, until A's last ball says "quit". (B
        // never decides to stop by itself: A may have sent the next ball already.)
        let (ping_b, pong_b) = (ping.clone(), pong.clone());
        threads.push(std::thread::spawn(move || -> Result<()> {
            loop {
                // A timeout instead of 0, so a lost ball is an error instead of a hang.
                if b.call(&["BLPOP", &ping_b, "5"])? == "*-1" {
                    bail!("B: no ball within 5 s");
                }
                if b.last_bulk == b"quit" {
                    return Ok(());
                }
                b.call(&["LPUSH", &pong_b, "ball"])?;
            }
        }));
        // A: serves, then waits for the return; once stopped, sends B the last ball.
        let (stop_a, count) = (stop.clone(), exchanges.clone());
        threads.push(std::thread::spawn(move || -> Result<()> {
            while !stop_a.load(Ordering::Relaxed) {
                a.call(&["LPUSH", &ping, "ball"])?;
                if a.call(&["BLPOP", &pong, "5"])? == "*-1" {
                    bail!("A: no ball back within 5 s");
                }
                count.fetch_add(2, Ordering::Relaxed);
            }
            a.call(&["LPUSH", &ping, "quit"])?;
            Ok(())
        }));
    }
    // Warm up, then count.
    std::thread::sleep(Duration::from_millis(300));
    let start_count = exchanges.load(Ordering::Relaxed);
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(args.seconds));
    let done = exchanges.load(Ordering::Relaxed) - start_count;
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("client thread panicked")?;
    }
    println!("{:.0}", done as f64 / elapsed);
    Ok(())
}
