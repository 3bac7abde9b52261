//! Lua scripting as Redis 7.0 has it: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT
//! LOAD/EXISTS/FLUSH/KILL, FUNCTION LOAD/LIST/DELETE/FLUSH/KILL/STATS, FCALL and FCALL_RO, on
//! Lua 5.1 (`mlua`, its vendored Lua: no system Lua).
//!
//! Where a script runs: in the group-commit writer, inside the group's write transaction
//! (`store::Tx`), as any write command. Its `redis.call`s are the command table's handlers over
//! that transaction (writes through `write::apply`, reads through the keyspace over
//! `keyspace::Transaction`), so it reads its own writes, its writes are part of one commit, and
//! no other client sees any of them before the commit nor writes in between (the writer runs one
//! command at a time); the event loops go on serving reads from their snapshots meanwhile. The
//! writer's Lua state is its own (`engine`, a thread-local the writer installs).
//!
//! What the event loops do: SCRIPT LOAD (compiled on the loop's own small Lua state to check
//! it), EXISTS and FLUSH, and the FUNCTION subcommands, over the shared `Scripts`: the script
//! cache (SHA1 → body) and the libraries; the writer compiles what it runs from there. SCRIPT
//! KILL and FUNCTION KILL flag the running script (`Running`), which the writer's instruction
//! hook stops; past the time limit (`lua-time-limit`, 5 s) the loops answer every other
//! command with BUSY, as Redis (`busy_error`).
//!
//! Lock order: `cache`, `libraries` and `Running::about` are each taken alone, for a lookup or
//! an insert, never while a script runs.

mod convert;
mod engine;
mod libs;
pub mod msgpack;
mod structlib;

use crate::commands::table::{self, Command};
use crate::resp::Reply;
use crate::store::Tx;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use engine::install;

/// Script flags (a shebang's `flags=`, a function's `flags`).
pub const NO_WRITES: u32 = 1;
pub const ALLOW_OOM: u32 = 1 << 1;
pub const ALLOW_STALE: u32 = 1 << 2;
pub const NO_CLUSTER: u32 = 1 << 3;
pub const ALLOW_CROSS_SLOT: u32 = 1 << 4;
/// An EVAL script without a shebang (Redis' compatibility mode: the command decides).
pub const COMPAT: u32 = 1 << 31;

const FLAG_NAMES: [(u32, &str); 5] = [
    (NO_WRITES, "no-writes"),
    (ALLOW_OOM, "allow-oom"),
    (ALLOW_STALE, "allow-stale"),
    (NO_CLUSTER, "no-cluster"),
    (ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
];

/// How long FUNCTION LOAD may run a library's code (Redis' `LOAD_TIMEOUT_MS`).
pub const LOAD_TIMEOUT_MS: u64 = 500;

pub const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";
const SLOW_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
const SLOW_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// A cached EVAL script.
pub struct Script {
    pub body: Vec<u8>,
    pub flags: u32,
}

#[derive(Default)]
struct Cache {
    scripts: HashMap<String, Arc<Script>>,
    /// Bumped by SCRIPT FLUSH: the writer drops what it compiled.
    generation: u64,
}

pub struct FunctionInfo {
    pub name: String,
    pub description: Option<String>,
    pub flags: u32,
}

pub struct Library {
    pub name: String,
    /// The whole FUNCTION LOAD payload (shebang included), as FUNCTION LIST WITHCODE shows it.
    pub code: Vec<u8>,
    pub functions: Vec<FunctionInfo>,
}

#[derive(Clone, Default)]
struct Libraries {
    libs: BTreeMap<String, Arc<Library>>,
    /// Function name (lower case: FCALL finds a function in any case, as Redis) → its
    /// library's name.
    functions: HashMap<String, String>,
    /// Bumped by every change: the writer loads the libraries again.
    generation: u64,
}

impl Libraries {
    /// Adds a library (replacing one of its name if `replace`): no function name may be
    /// another library's.
    fn add(&mut self, library: Library, replace: bool) -> Result<(), String> {
        let name = library.name.clone();
        if !replace && self.libs.contains_key(&name) {
            // (FUNCTION RESTORE's words: FUNCTION LOAD's quote the name, checked before.)
            return Err(format!("ERR Library {name} already exists"));
        }
        for f in &library.functions {
            if self
                .functions
                .get(&f.name.to_lowercase())
                .is_some_and(|lib| *lib != name)
            {
                return Err(format!("ERR Function {} already exists", f.name));
            }
        }
        if let Some(old) = self.libs.remove(&name) {
            for f in &old.functions {
                self.functions.remove(&f.name.to_lowercase());
            }
        }
        for f in &library.functions {
            self.functions.insert(f.name.to_lowercase(), name.clone());
        }
        self.libs.insert(name, Arc::new(library));
        Ok(())
    }
}

/// The script the writer runs, as the event loops see it.
#[derive(Default)]
pub struct Running {
    /// Its id (0: none).
    current: AtomicU64,
    next: AtomicU64,
    /// The id SCRIPT KILL or FUNCTION KILL asked to stop.
    kill: AtomicU64,
    /// Set once it runs past the time limit: the loops answer BUSY.
    timed_out: AtomicBool,
    /// It ran a write command (then it cannot be killed).
    dirty: AtomicBool,
    /// An EVAL (else an FCALL).
    eval: AtomicBool,
    /// The server is stopping: scripts stop, their writes are not committed.
    abort: AtomicBool,
    /// When it began, in microseconds since `Scripts::epoch`.
    started_us: AtomicU64,
    /// A running function's name and command (FUNCTION STATS); taken alone, briefly.
    about: Mutex<Option<(String, Vec<Vec<u8>>)>>,
}

/// The state scripting shares between the event loops and the writer (`Server::scripts`).
pub struct Scripts {
    cache: Mutex<Cache>,
    libraries: Mutex<Libraries>,
    /// The libraries' generation last committed to `store::FUNCTIONS_TABLE` by the writer.
    saved_generation: AtomicU64,
    run: Running,
    /// `lua-time-limit` (`busy-reply-threshold`), in milliseconds.
    time_limit_ms: AtomicU64,
    epoch: Instant,
    /// Some connection is in MONITOR mode: `redis.call` notes each command in `monitored`,
    /// which the writer feeds to the monitors after the script (`[db lua] …`).
    pub monitoring: AtomicBool,
    pub monitored: Mutex<Vec<(u32, Vec<Vec<u8>>)>>,
    /// Set by `redis.call` of a read-only command (CLIENT TRACKING then tracks the script's
    /// declared keys, as Redis 7.0); the writer clears it before each command.
    pub read_called: AtomicBool,
    /// Each command a script's `redis.call` or `redis.pcall` ran or was refused, by its index
    /// in the command table: the writer adds them to INFO commandstats after the script.
    pub calls: Mutex<Vec<(usize, Call)>>,
    /// The keys a script's commands accessed (database, key, deleted): the writer notes them
    /// in the access times (OBJECT IDLETIME) after the script, as a client's own commands'.
    pub accessed: Mutex<Vec<(u32, Vec<u8>, bool)>>,
}

/// What became of a command a script called (INFO commandstats).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// Ran and answered.
    Ok,
    /// Ran and answered an error (`failed_calls`).
    Failed,
    /// Refused before it ran (`rejected_calls`: arity, not allowed from a script, a write
    /// from a read-only script).
    Rejected,
}

impl Default for Scripts {
    fn default() -> Self {
        Scripts {
            cache: Mutex::default(),
            libraries: Mutex::default(),
            saved_generation: AtomicU64::new(0),
            run: Running::default(),
            time_limit_ms: AtomicU64::new(5000),
            epoch: Instant::now(),
            monitoring: AtomicBool::new(false),
            monitored: Mutex::default(),
            read_called: AtomicBool::new(false),
            calls: Mutex::default(),
            accessed: Mutex::default(),
        }
    }
}

/// A flags word as Redis' names.
fn flag_names(flags: u32) -> Vec<&'static str> {
    FLAG_NAMES
        .iter()
        .filter(|(f, _)| flags & f != 0)
        .map(|&(_, n)| n)
        .collect()
}

fn flag_by_name(name: &str) -> Option<u32> {
    FLAG_NAMES
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(name))
        .map(|&(f, _)| f)
}

/// The SHA1 of `body` in lower-case hex (the script cache's key).
pub fn sha1hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// An EVAL script's shebang (`#!lua flags=no-writes,allow-oom`): its flags and the length of the
/// line (the newline kept, so the script's line numbers stay). Without one: `COMPAT`.
pub fn shebang(body: &[u8]) -> Result<(u32, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((COMPAT, 0));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let Some(words) = split_args(&line).filter(|w| !w.is_empty()) else {
        return Err("ERR Invalid engine in script shebang".into());
    };
    let mut parts = words.iter().map(|w| w.as_str());
    let engine = parts.next().unwrap_or_default();
    if engine != "#!lua" {
        return Err(format!("ERR Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = 0;
    for part in parts {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {part}"));
        };
        for name in list.split(',') {
            if name.is_empty() && list.is_empty() {
                continue;
            }
            match FLAG_NAMES.iter().find(|(_, n)| *n == name) {
                Some(&(f, _)) => flags |= f,
                None => return Err(format!("ERR Unexpected flag in script shebang: {name}")),
            }
        }
    }
    Ok((flags, end))
}

/// A shebang line's words as Redis' `sdssplitargs` splits them: quotes (single or double, anywhere
/// in a word) group, a closing quote must end its word. None: unbalanced quotes.
fn split_args(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(words);
        }
        let mut word = String::new();
        let mut quote = None;
        loop {
            match (quote, chars.next()) {
                (None, None) => break,
                (Some(_), None) => return None,
                (None, Some(c)) if c.is_ascii_whitespace() => break,
                (None, Some(c @ ('"' | '\''))) => quote = Some(c),
                (None, Some(c)) => word.push(c),
                (Some(q), Some(c)) if c == q => {
                    if chars.peek().is_some_and(|c| !c.is_ascii_whitespace()) {
                        return None;
                    }
                    break;
                }
                (Some('"'), Some('\\')) => match chars.next() {
                    Some('n') => word.push('\n'),
                    Some('r') => word.push('\r'),
                    Some('t') => word.push('\t'),
                    Some(c) => word.push(c),
                    None => return None,
                },
                (Some(_), Some(c)) => word.push(c),
            }
        }
        words.push(word);
    }
}

/// Letters, digits and underscores, at least one (library and function names).
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A script's keys and its other arguments.
pub type KeysAndArgs<'a> = (&'a [Vec<u8>], &'a [Vec<u8>]);

/// The keys and the arguments after EVAL's or FCALL's `numkeys`, or the error reply.
pub fn split_keys<'a>(
    numkeys: &[u8],
    rest: &'a [Vec<u8>],
    not_a_number: &str,
) -> Result<KeysAndArgs<'a>, Reply> {
    let n = std::str::from_utf8(numkeys)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| Reply::Error(not_a_number.into()))?;
    if n > rest.len() as i64 {
        return Err(Reply::Error(
            "ERR Number of keys can't be greater than number of args".into(),
        ));
    }
    if n < 0 {
        return Err(Reply::Error("ERR Number of keys can't be negative".into()));
    }
    Ok(rest.split_at(n as usize))
}

impl Scripts {
    /// `lua-time-limit` / `busy-reply-threshold` (CONFIG GET/SET), in milliseconds.
    pub fn time_limit_ms(&self) -> u64 {
        self.time_limit_ms.load(Ordering::Relaxed)
    }

    pub fn set_time_limit_ms(&self, ms: u64) {
        self.time_limit_ms.store(ms, Ordering::Relaxed);
    }

    /// The server is stopping: the running script (and any later one) stops at its next
    /// instruction check, and its writes are not committed.
    pub fn abort(&self) {
        self.run.abort.store(true, Ordering::Relaxed);
    }

    /// True while the libraries changed since the writer last saved them.
    pub fn unsaved(&self) -> bool {
        self.libraries.lock().expect("libraries").generation
            != self.saved_generation.load(Ordering::Acquire)
    }

    /// The writer, in its transaction: if the libraries changed since they were last saved,
    /// replaces `store::FUNCTIONS_TABLE` with them. Returns the generation written, for
    /// `mark_saved` once the commit is made.
    pub fn save_libraries(&self, w: &mut mmtree::WriteTransaction) -> mmtree::Result<Option<u64>> {
        if !self.unsaved() {
            return Ok(None);
        }
        let (libs, generation) = self.libraries();
        // Row by row, not delete_table and a new table: dropping a table is a tree operation,
        // which makes the commit a checkpoint (a durable meta write per FUNCTION LOAD); rows
        // go through the write buffer as any write.
        let mut table = w.table(crate::store::FUNCTIONS_TABLE)?;
        let gone: Vec<Vec<u8>> = table
            .range(..)?
            .map(|item| item.map(|(name, _)| name.to_vec()))
            .filter(|name| {
                name.as_ref().map_or(true, |name| {
                    !libs.iter().any(|l| l.name.as_bytes() == &name[..])
                })
            })
            .collect::<mmtree::Result<_>>()?;
        for name in gone {
            table.remove(&name)?;
        }
        for lib in &libs {
            table.insert(lib.name.as_bytes(), &lib.code)?;
        }
        Ok(Some(generation))
    }

    pub fn mark_saved(&self, generation: u64) {
        // Savers are serialized by the writer role, but their marks may land out of order: a
        // mark never goes back (at worst a later save repeats an up-to-date one).
        self.saved_generation
            .fetch_max(generation, Ordering::AcqRel);
    }

    /// FUNCTION LOAD, DELETE, FLUSH, RESTORE: the change is committed before it is
    /// acknowledged, as every write is (a crash after the reply must not lose the library). The
    /// writer saves changed libraries in its next group commit; this does it now, in a
    /// transaction of its own (it waits for the writer role, as SAVE does), unless the writer
    /// got there first. `durability` is the server's, as for its group commits: with
    /// `Eventual` the save survives a killed process at once and a power cut within a second.
    pub fn save_now(&self, db: &mmtree::Db, durability: mmtree::Durability) -> mmtree::Result<()> {
        if !self.unsaved() {
            return Ok(());
        }
        let mut w = db.begin_write()?;
        w.set_durability(durability);
        match self.save_libraries(&mut w)? {
            Some(generation) => {
                w.commit()?;
                self.mark_saved(generation);
            }
            None => drop(w), // saved meanwhile
        }
        Ok(())
    }

    /// At start: the libraries the last run saved, loaded again (one that fails to load is
    /// named on stderr and left out). Returns how many were loaded.
    pub fn load_saved(&self, db: &mmtree::Db) -> mmtree::Result<usize> {
        let r = db.begin_read()?;
        let Some(table) = r.table(crate::store::FUNCTIONS_TABLE)? else {
            return Ok(0);
        };
        let mut loaded = 0;
        for item in table.range(..)? {
            let (name, code) = item?;
            match self.load_library(code, true, false) {
                Ok(_) => loaded += 1,
                Err(e) => eprintln!(
                    "mmtree serve: function library {} not loaded: {e}",
                    String::from_utf8_lossy(name)
                ),
            }
        }
        let generation = self.libraries.lock().expect("libraries").generation;
        self.mark_saved(generation);
        Ok(loaded)
    }

    /// Scripts in the cache (INFO's `number_of_cached_scripts`).
    pub fn cached(&self) -> usize {
        self.cache.lock().expect("script cache").scripts.len()
    }

    /// BUSY for a command another client sends while a script runs past the time limit (as
    /// Redis: only SCRIPT KILL, FUNCTION KILL/STATS, SHUTDOWN, AUTH, HELLO and QUIT are served).
    pub fn busy_error(&self, cmd: &Command) -> Option<&'static str> {
        if !self.run.timed_out.load(Ordering::Relaxed) {
            return None;
        }
        if cmd.has(table::ALLOW_BUSY) {
            return None;
        }
        Some(if self.run.eval.load(Ordering::Relaxed) {
            SLOW_EVAL
        } else {
            SLOW_FUNCTION
        })
    }

    /// SCRIPT KILL (`eval`) or FUNCTION KILL.
    fn kill(&self, eval: bool) -> Reply {
        let id = self.run.current.load(Ordering::Acquire);
        if id == 0 {
            return Reply::Error("NOTBUSY No scripts in execution right now.".into());
        }
        if self.run.dirty.load(Ordering::Acquire) {
            return Reply::Error("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.".into());
        }
        let running_eval = self.run.eval.load(Ordering::Relaxed);
        if eval && !running_eval {
            return Reply::Error(SLOW_FUNCTION.into());
        }
        if !eval && running_eval {
            return Reply::Error(SLOW_EVAL.into());
        }
        self.run.kill.store(id, Ordering::Release);
        Reply::Ok
    }

    fn script(&self, sha: &str) -> Option<Arc<Script>> {
        self.cache
            .lock()
            .expect("script cache")
            .scripts
            .get(sha)
            .cloned()
    }

    fn add_script(&self, sha: String, script: Arc<Script>) {
        self.cache
            .lock()
            .expect("script cache")
            .scripts
            .insert(sha, script);
    }

    fn cache_generation(&self) -> u64 {
        self.cache.lock().expect("script cache").generation
    }

    /// The library a function belongs to, and the libraries' generation.
    fn function(&self, name: &str) -> (Option<(Arc<Library>, u32)>, u64) {
        let libs = self.libraries.lock().expect("libraries");
        let found = libs.functions.get(&name.to_lowercase()).and_then(|lib| {
            let lib = libs.libs.get(lib)?;
            let flags = lib
                .functions
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(name))?
                .flags;
            Some((lib.clone(), flags))
        });
        (found, libs.generation)
    }

    fn libraries(&self) -> (Vec<Arc<Library>>, u64) {
        let libs = self.libraries.lock().expect("libraries");
        (libs.libs.values().cloned().collect(), libs.generation)
    }

    // SCRIPT's and FUNCTION's subcommands, on an event loop: each is an entry of the command
    // table (`table::SCRIPT_SUBCOMMANDS`, `FUNCTION_SUBCOMMANDS`), which has checked its arity;
    // `a` holds the arguments after the subcommand's name. HELP is the table's (`conn`).

    /// SCRIPT LOAD script: compiles it and caches it under its SHA1.
    pub fn script_load(&self, body: &[u8]) -> Reply {
        let sha = sha1hex(body);
        if self.script(&sha).is_some() {
            return Reply::Bulk(sha.into_bytes());
        }
        let flags = match shebang(body).and_then(|(flags, skip)| {
            engine::check_compiles(&body[skip..])?;
            Ok(flags)
        }) {
            Ok(flags) => flags,
            Err(e) => return Reply::Error(e),
        };
        self.add_script(
            sha.clone(),
            Arc::new(Script {
                body: body.to_vec(),
                flags,
            }),
        );
        Reply::Bulk(sha.into_bytes())
    }

    /// SCRIPT EXISTS sha1 [sha1 …]: 1 or 0 for each.
    pub fn script_exists(&self, shas: &[Vec<u8>]) -> Reply {
        let cache = self.cache.lock().expect("script cache");
        Reply::Array(
            shas.iter()
                .map(|sha| {
                    let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
                    Reply::Int(cache.scripts.contains_key(&sha) as i64)
                })
                .collect(),
        )
    }

    /// SCRIPT FLUSH [ASYNC|SYNC]: empties the script cache.
    pub fn script_flush(&self, a: &[Vec<u8>]) -> Reply {
        let ok = a.is_empty()
            || a.len() == 1
                && (a[0].eq_ignore_ascii_case(b"SYNC") || a[0].eq_ignore_ascii_case(b"ASYNC"));
        if !ok {
            return Reply::Error("ERR SCRIPT FLUSH only support SYNC|ASYNC option".into());
        }
        let mut cache = self.cache.lock().expect("script cache");
        cache.scripts.clear();
        cache.generation += 1;
        Reply::Ok
    }

    /// SCRIPT KILL: stops the running EVAL script, if it has not written.
    pub fn script_kill(&self) -> Reply {
        self.kill(true)
    }

    /// FUNCTION LOAD [REPLACE] code.
    pub fn function_load(&self, a: &[Vec<u8>]) -> Reply {
        let Some((code, options)) = a.split_last() else {
            return Reply::Error(table::wrong_args("FUNCTION|LOAD"));
        };
        let mut replace = false;
        for opt in options {
            if opt.eq_ignore_ascii_case(b"REPLACE") {
                replace = true;
            } else {
                return Reply::Error(format!(
                    "ERR Unknown option given: {}",
                    String::from_utf8_lossy(opt)
                ));
            }
        }
        match self.load_library(code, replace, false) {
            Ok((name, _)) => Reply::Bulk(name.into_bytes()),
            Err(e) => Reply::Error(e),
        }
    }

    /// FUNCTION DELETE library-name.
    pub fn function_delete(&self, name: &[u8]) -> Reply {
        let name = String::from_utf8_lossy(name).into_owned();
        let mut libs = self.libraries.lock().expect("libraries");
        match libs.libs.remove(&name) {
            Some(lib) => {
                for f in &lib.functions {
                    libs.functions.remove(&f.name.to_lowercase());
                }
                libs.generation += 1;
                Reply::Ok
            }
            None => Reply::Error("ERR Library not found".into()),
        }
    }

    /// FUNCTION FLUSH [ASYNC|SYNC]: deletes every library.
    pub fn function_flush(&self, a: &[Vec<u8>]) -> Reply {
        if a.len() > 1 {
            return Reply::Error(
                "ERR unknown subcommand or wrong number of arguments for 'flush'. Try FUNCTION HELP."
                    .into(),
            );
        }
        let ok = a.is_empty()
            || a[0].eq_ignore_ascii_case(b"SYNC")
            || a[0].eq_ignore_ascii_case(b"ASYNC");
        if !ok {
            return Reply::Error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option".into());
        }
        let mut libs = self.libraries.lock().expect("libraries");
        libs.libs.clear();
        libs.functions.clear();
        libs.generation += 1;
        Reply::Ok
    }

    /// FUNCTION KILL: stops the running function, if it has not written.
    pub fn function_kill(&self) -> Reply {
        self.kill(false)
    }

    /// FUNCTION STATS: the running function, and how many libraries and functions there are.
    pub fn function_stats(&self) -> Reply {
        if self.run.current.load(Ordering::Relaxed) != 0 && self.run.eval.load(Ordering::Relaxed) {
            return Reply::Error(SLOW_EVAL.into());
        }
        let about = self.run.about.lock().expect("running script").clone();
        let running = match about {
            Some((name, command)) if self.run.current.load(Ordering::Relaxed) != 0 => {
                let started = self.run.started_us.load(Ordering::Relaxed);
                let now = self.epoch.elapsed().as_micros() as u64;
                Reply::Map(vec![
                    (
                        Reply::Bulk(b"name".to_vec()),
                        Reply::Bulk(name.into_bytes()),
                    ),
                    (
                        Reply::Bulk(b"command".to_vec()),
                        Reply::Array(command.into_iter().map(Reply::Bulk).collect()),
                    ),
                    (
                        Reply::Bulk(b"duration_ms".to_vec()),
                        Reply::Int((now.saturating_sub(started) / 1000) as i64),
                    ),
                ])
            }
            _ => Reply::Null,
        };
        let libs = self.libraries.lock().expect("libraries");
        Reply::Map(vec![
            (Reply::Bulk(b"running_script".to_vec()), running),
            (
                Reply::Bulk(b"engines".to_vec()),
                Reply::Map(vec![(
                    Reply::Bulk(b"LUA".to_vec()),
                    Reply::Map(vec![
                        (
                            Reply::Bulk(b"libraries_count".to_vec()),
                            Reply::Int(libs.libs.len() as i64),
                        ),
                        (
                            Reply::Bulk(b"functions_count".to_vec()),
                            Reply::Int(libs.functions.len() as i64),
                        ),
                    ]),
                )]),
            ),
        ])
    }

    /// FUNCTION LOAD: checks the metadata, runs the library's code on a Lua state of its own
    /// (at most `LOAD_TIMEOUT_MS`) to learn its functions, and adds it (or, `check_only`,
    /// returns it: FUNCTION RESTORE adds them all or none).
    fn load_library(
        &self,
        payload: &[u8],
        replace: bool,
        check_only: bool,
    ) -> Result<(String, Option<Library>), String> {
        if !payload.starts_with(b"#!") {
            return Err("ERR Missing library metadata".into());
        }
        let Some(end) = payload.iter().position(|&b| b == b'\n') else {
            return Err("ERR Invalid library metadata".into());
        };
        let line = String::from_utf8_lossy(&payload[..end]);
        let Some(parts) = split_args(&line).filter(|p| !p.is_empty()) else {
            return Err("ERR Invalid library metadata".into());
        };
        let mut parts = parts.iter().map(|p| p.as_str());
        let engine_part = parts.next().unwrap_or_default();
        let engine_name = engine_part.get(2..).unwrap_or_default();
        let mut name = None;
        for part in parts {
            if part.len() >= 5 && part[..5].eq_ignore_ascii_case("name=") {
                if name.is_some() {
                    return Err(
                        "ERR Invalid metadata value, name argument was given multiple times".into(),
                    );
                }
                name = Some(part[5..].to_string());
                continue;
            }
            return Err(format!("ERR Invalid metadata value given: {part}"));
        }
        let Some(name) = name else {
            return Err("ERR Library name was not given".into());
        };
        if !valid_name(&name) {
            return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
        }
        if !engine_name.eq_ignore_ascii_case("lua") {
            return Err(format!("ERR Engine '{engine_name}' not found"));
        }
        if !replace
            && self
                .libraries
                .lock()
                .expect("libraries")
                .libs
                .contains_key(&name)
        {
            return Err(format!("ERR Library '{name}' already exists"));
        }
        let functions = engine::library_functions(&payload[end..])?;
        if functions.is_empty() {
            return Err("ERR No functions registered".into());
        }
        let library = Library {
            name: name.clone(),
            code: payload.to_vec(),
            functions,
        };
        if !check_only {
            let mut libs = self.libraries.lock().expect("libraries");
            libs.add(library, replace)?;
            libs.generation += 1;
            return Ok((name, None));
        }
        Ok((name, Some(library)))
    }

    /// FUNCTION DUMP: every library's code, in a payload of ours (`MMTF`, a version byte, each
    /// library as a 4-byte length and its code, then 8 bytes of the SHA1 of all that).
    pub fn function_dump(&self) -> Reply {
        let libs = self.libraries.lock().expect("libraries");
        let mut out = b"MMTF\x01".to_vec();
        for lib in libs.libs.values() {
            out.extend_from_slice(&(lib.code.len() as u32).to_be_bytes());
            out.extend_from_slice(&lib.code);
        }
        let sum = sha1_smol::Sha1::from(&out).digest().bytes();
        out.extend_from_slice(&sum[..8]);
        Reply::Bulk(out)
    }

    /// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]: all of the payload's libraries or none.
    pub fn function_restore(&self, a: &[Vec<u8>]) -> Reply {
        if a.len() > 2 {
            return Reply::Error(
                "ERR unknown subcommand or wrong number of arguments for 'restore'. Try FUNCTION HELP."
                    .into(),
            );
        }
        let policy = match a.get(1).map(|p| p.to_ascii_uppercase()) {
            None => b"APPEND".to_vec(),
            Some(p) if [&b"APPEND"[..], b"REPLACE", b"FLUSH"].contains(&p.as_slice()) => p,
            Some(_) => return Reply::Error(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."
                    .into(),
            ),
        };
        let Some(payload) = a.first() else {
            return Reply::Error(table::wrong_args("FUNCTION|RESTORE"));
        };
        let bad = || Reply::Error("ERR DUMP payload version or checksum are wrong".into());
        if payload.len() < 13 || !payload.starts_with(b"MMTF\x01") {
            return bad();
        }
        let (body, sum) = payload.split_at(payload.len() - 8);
        if sha1_smol::Sha1::from(body).digest().bytes()[..8] != *sum {
            return bad();
        }
        let mut codes = Vec::new();
        let mut rest = &body[5..];
        while !rest.is_empty() {
            let Some((len, tail)) = rest.split_first_chunk::<4>() else {
                return bad();
            };
            let len = u32::from_be_bytes(*len) as usize;
            if len > tail.len() {
                return bad();
            }
            codes.push(&tail[..len]);
            rest = &tail[len..];
        }
        let mut loaded = Vec::new();
        for code in codes {
            match self.load_library(code, true, true) {
                Ok((_, Some(library))) => loaded.push(library),
                Ok((_, None)) => {}
                Err(e) => return Reply::Error(e),
            }
        }
        let mut libs = self.libraries.lock().expect("libraries");
        let mut next = if policy == b"FLUSH" {
            Libraries::default()
        } else {
            libs.clone()
        };
        for library in loaded {
            if let Err(e) = next.add(library, policy == b"REPLACE") {
                return Reply::Error(e);
            }
        }
        next.generation = libs.generation + 1;
        *libs = next;
        Reply::Ok
    }

    /// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE].
    pub fn function_list(&self, a: &[Vec<u8>]) -> Reply {
        let (mut with_code, mut pattern) = (false, None);
        let mut i = 0;
        while i < a.len() {
            if !with_code && a[i].eq_ignore_ascii_case(b"WITHCODE") {
                with_code = true;
            } else if pattern.is_none() && a[i].eq_ignore_ascii_case(b"LIBRARYNAME") {
                let Some(p) = a.get(i + 1) else {
                    return Reply::Error("ERR library name argument was not given".into());
                };
                pattern = Some(p.clone());
                i += 1;
            } else {
                return Reply::Error(format!(
                    "ERR Unknown argument {}",
                    String::from_utf8_lossy(&a[i])
                ));
            }
            i += 1;
        }
        let bulk = |s: &str| Reply::Bulk(s.as_bytes().to_vec());
        let libs = self.libraries.lock().expect("libraries");
        Reply::Array(
            libs.libs
                .values()
                .filter(|lib| {
                    pattern
                        .as_ref()
                        .is_none_or(|p| crate::glob::glob(p, lib.name.as_bytes()))
                })
                .map(|lib| {
                    let mut fields = vec![
                        (bulk("library_name"), bulk(&lib.name)),
                        (bulk("engine"), bulk("LUA")),
                        (
                            bulk("functions"),
                            Reply::Array(
                                lib.functions
                                    .iter()
                                    .map(|f| {
                                        Reply::Map(vec![
                                            (bulk("name"), bulk(&f.name)),
                                            (
                                                bulk("description"),
                                                f.description.as_deref().map_or(Reply::Null, bulk),
                                            ),
                                            (
                                                bulk("flags"),
                                                Reply::Set(
                                                    flag_names(f.flags)
                                                        .into_iter()
                                                        .map(|n| Reply::Status(n.into()))
                                                        .collect(),
                                                ),
                                            ),
                                        ])
                                    })
                                    .collect(),
                            ),
                        ),
                    ];
                    if with_code {
                        fields.push((bulk("library_code"), Reply::Bulk(lib.code.clone())));
                    }
                    Reply::Map(fields)
                })
                .collect(),
        )
    }
}

/// How EVAL finds its script and whether it may write.
#[derive(Clone, Copy)]
pub(crate) struct EvalForm {
    by_sha: bool,
    read_only: bool,
}

/// EVAL, EVALSHA, EVAL_RO, EVALSHA_RO: run by the group-commit writer (`Write` handlers of the
/// command table) on its Lua state.
pub fn eval(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let form = EvalForm {
        by_sha: false,
        read_only: false,
    };
    engine::with_engine(|e| e.eval(tx, form, a))
}

pub fn evalsha(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let form = EvalForm {
        by_sha: true,
        read_only: false,
    };
    engine::with_engine(|e| e.eval(tx, form, a))
}

pub fn eval_ro(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let form = EvalForm {
        by_sha: false,
        read_only: true,
    };
    engine::with_engine(|e| e.eval(tx, form, a))
}

pub fn evalsha_ro(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let form = EvalForm {
        by_sha: true,
        read_only: true,
    };
    engine::with_engine(|e| e.eval(tx, form, a))
}

/// FCALL and FCALL_RO: as `eval`.
pub fn fcall(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    engine::with_engine(|e| e.fcall(tx, false, a))
}

pub fn fcall_ro(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    engine::with_engine(|e| e.fcall(tx, true, a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs_give_flags_or_redis_errors() {
        assert_eq!(shebang(b"return 1"), Ok((COMPAT, 0)));
        assert_eq!(shebang(b"#!lua\nreturn 1"), Ok((0, 5)));
        assert_eq!(
            shebang(b"#!lua flags=no-writes,allow-oom\nreturn 1"),
            Ok((NO_WRITES | ALLOW_OOM, 31))
        );
        assert_eq!(shebang(b"#!lua flags=\nreturn 1"), Ok((0, 12)));
        assert_eq!(
            shebang(b"#!lua"),
            Err("ERR Invalid script shebang".to_string())
        );
        assert_eq!(
            shebang(b"#!py\n"),
            Err("ERR Unexpected engine in script shebang: #!py".to_string())
        );
        assert_eq!(
            shebang(b"#!lua flags=bad\n"),
            Err("ERR Unexpected flag in script shebang: bad".to_string())
        );
        assert_eq!(
            shebang(b"#!lua x=1\n"),
            Err("ERR Unknown lua shebang option: x=1".to_string())
        );
        assert_eq!(flag_by_name("NO-WRITES"), Some(NO_WRITES));
    }

    #[test]
    fn shebang_words_split_as_redis_splits_them() {
        let split = |s: &str| split_args(s).map(|w| w.join("|"));
        assert_eq!(split("#!lua name=foo"), Some("#!lua|name=foo".into()));
        assert_eq!(split("#!lua name=\"foo\""), Some("#!lua|name=foo".into()));
        assert_eq!(split("#!lua  name='a b'  "), Some("#!lua|name=a b".into()));
        assert_eq!(split("#!lua name=\"foo"), None);
        assert_eq!(split("#!lua name=\"foo\"x"), None);
    }

    #[test]
    fn sha1_is_redis_sha1hex() {
        assert_eq!(sha1hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            sha1hex(b"Pizza & Mandolino"),
            "74822d82031af7493c20eefa13bd07ec4fada82f"
        );
    }
}
