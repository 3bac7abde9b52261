//! What the server tests share.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Starts `mmtree serve DB` on a free loopback port (with `extra` arguments) and returns the
/// process and the port it printed.
pub fn start_server<S: AsRef<OsStr>>(db: &Path, extra: &[S]) -> (Child, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mmtree"))
        .arg("serve")
        .arg(db)
        .args(["--bind", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    (child, port)
}
