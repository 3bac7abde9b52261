//! The Lua states: the writer's (`Engine`: EVAL and FCALL inside the group's transaction), a
//! small one per event loop to check that SCRIPT LOAD's script compiles, and a short-lived one
//! per FUNCTION LOAD to learn a library's functions. Each runs `prelude.lua` first (the `redis`
//! API and the sandbox).

use super::convert::{self, format_g17};
use super::{Call, EvalForm, Scripts, COMPAT, NOSCRIPT, NO_WRITES};
use crate::commands::table::{self, Handler, Session};
use crate::commands::write;
use crate::keyspace;
use crate::resp::Reply;
use crate::store::{Tx, DATABASES};
use mlua::{
    chunk::ChunkMode, Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState,
};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PRELUDE: &str = include_str!("prelude.lua");

/// The most memory one Lua state may use: a script building an endless table fails with an
/// out-of-memory error instead of taking the server's memory. The limit is what the script's own
/// code allocates: it is lifted while Rust code builds values for it (`Unlimited`), as with a
/// limit set mlua makes each value it creates in a protected call of its own (a C closure
/// allocated for each), which cost more than the rest of a small script.
const MEMORY_LIMIT: usize = 1 << 30;

/// The memory limit lifted while it lives (see `MEMORY_LIMIT`): mlua then creates values
/// without a protected call, as allocation cannot fail short of the process' own out-of-memory
/// abort. Restored on drop, unwinding included; a script over the limit then fails at its next
/// allocation.
struct Unlimited<'a>(&'a Lua);

impl<'a> Unlimited<'a> {
    fn new(lua: &'a Lua) -> Unlimited<'a> {
        let _ = lua.set_memory_limit(0);
        Unlimited(lua)
    }
}

impl Drop for Unlimited<'_> {
    fn drop(&mut self) {
        let _ = self.0.set_memory_limit(MEMORY_LIMIT);
    }
}

/// The instruction hook runs every this many Lua instructions (the time limit, SCRIPT KILL).
const HOOK_EVERY: u32 = 10_000;

/// The Redis version scripts see (`redis.REDIS_VERSION`; the server's INFO says the same).
const VERSION: &str = "7.0.0";
const VERSION_NUM: i64 = 0x07_00_00;

/// What the prelude returns: the scripts' globals (read-only) and its runners.
struct Api {
    env: Table,
    run: Function,
    run_function: Function,
    load_library: Function,
}

/// The work of `redis.call` and `redis.pcall` on a state: given the state and the command's
/// arguments, or the error text for arguments that are none or not strings and numbers.
type Command = dyn Fn(&Lua, Result<Vec<Vec<u8>>, &'static str>) -> mlua::Result<(bool, Value)>;

/// `redis.call`'s `n` arguments as the command's (numbers printed as C's `%.17g`, as Redis).
fn command_args(
    n: usize,
    values: impl Iterator<Item = mlua::Result<Value>>,
) -> mlua::Result<Result<Vec<Vec<u8>>, &'static str>> {
    if n == 0 {
        return Ok(Err(
            "ERR Please specify at least one argument for this redis lib call",
        ));
    }
    let mut argv = Vec::with_capacity(n);
    for v in values.take(n) {
        match v? {
            Value::String(s) => argv.push(s.as_bytes().to_vec()),
            Value::Integer(n) => argv.push(format_g17(n as f64).into_bytes()),
            Value::Number(n) => argv.push(format_g17(n).into_bytes()),
            _ => {
                return Ok(Err(
                    "ERR Lua redis lib command arguments must be strings or integers",
                ))
            }
        }
    }
    Ok(Ok(argv))
}

/// A Lua state with the prelude run; `resp3` receives `redis.setresp`; `check` is the
/// instruction hook (every `HOOK_EVERY` instructions, in the main thread and in every
/// coroutine: an error stops the code); `stopped` says the running code was stopped (SCRIPT
/// KILL, the shutdown, FUNCTION LOAD's timeout); `command` does `redis.call`'s work (registered
/// once: the runners hand it to the scripts only while they run).
fn new_state(
    resp3: Rc<Cell<bool>>,
    check: impl Fn() -> mlua::Result<()> + 'static,
    stopped: impl Fn() -> bool + 'static,
    command: Box<Command>,
) -> mlua::Result<(Lua, Api)> {
    let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG;
    // SAFETY: the debug library is loaded only for the prelude's error handler (it needs
    // `debug.getinfo` to name the script's line); the prelude keeps that one function in a local
    // and removes `debug` from the globals before any script or library is compiled, so no user
    // code can reach the debug library (its registry and upvalue access is what is unsafe).
    let lua = unsafe { Lua::unsafe_new_with(libs, LuaOptions::new()) };
    lua.set_memory_limit(MEMORY_LIMIT)?;
    let api = lua.create_table()?;
    api.raw_set(
        "sha1hex",
        lua.create_function(|_, s: mlua::LuaString| Ok(super::sha1hex(&s.as_bytes())))?,
    )?;
    api.raw_set(
        "error_text",
        lua.create_function(|_, s: mlua::LuaString| {
            Ok(convert::error_text(&String::from_utf8_lossy(&s.as_bytes())))
        })?,
    )?;
    // redis.log: warnings go to the server's log (stderr); the other levels are dropped.
    api.raw_set(
        "log",
        lua.create_function(|_, (level, message): (i64, mlua::LuaString)| {
            if level >= 3 {
                eprintln!(
                    "mmtree serve: script: {}",
                    String::from_utf8_lossy(&message.as_bytes())
                );
            }
            Ok(())
        })?,
    )?;
    api.raw_set(
        "setresp",
        lua.create_function(move |_, v: i64| {
            resp3.set(v == 3);
            Ok(())
        })?,
    )?;
    api.raw_set("stopped", lua.create_function(move |_, ()| Ok(stopped()))?)?;
    let check = Rc::new(check);
    let in_coroutines = check.clone();
    api.raw_set("check", lua.create_function(move |_, ()| in_coroutines())?)?;
    api.raw_set("hook_every", HOOK_EVERY)?;
    super::libs::install(&lua, &api)?;
    super::msgpack::install(&lua, &api)?;
    super::structlib::install(&lua, &api)?;
    api.raw_set(
        "error_message",
        lua.create_function(|_, e: Value| {
            Ok(match e {
                Value::Error(e) => lua_error_text(&e),
                _ => "unknown error".into(),
            })
        })?,
    )?;
    api.raw_set("version", VERSION)?;
    api.raw_set("version_num", VERSION_NUM)?;
    let n_key = lua.create_string("n")?;
    let command = Rc::new(command);
    let packed_command = command.clone();
    api.raw_set(
        "command",
        lua.create_function(move |lua, packed: Table| {
            let n: usize = packed.raw_get(&n_key)?;
            let args = command_args(n, (1..=n).map(|i| packed.raw_get::<Value>(i)))?;
            packed_command(lua, args)
        })?,
    )?;
    api.raw_set(
        "command_args",
        lua.create_function(move |lua, values: mlua::MultiValue| {
            let args = command_args(values.len(), values.into_iter().map(Ok))?;
            command(lua, args)
        })?,
    )?;
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(HOOK_EVERY),
        move |_, _| check().map(|()| VmState::Continue),
    )?;
    let t: Table = lua
        .load(PRELUDE)
        .set_name("@redis_api")
        .set_mode(ChunkMode::Text)
        .call(api)?;
    let api = Api {
        env: t.raw_get("env")?,
        run: t.raw_get("run")?,
        run_function: t.raw_get("run_function")?,
        load_library: t.raw_get("load_library")?,
    };
    Ok((lua, api))
}

/// An mlua error as the text Redis would show (the Lua message, without mlua's prefixes).
fn lua_error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) | mlua::Error::MemoryError(m) => m.clone(),
        mlua::Error::CallbackError { cause, .. } => lua_error_text(cause),
        mlua::Error::WithContext { cause, .. } => lua_error_text(cause),
        other => other.to_string(),
    }
}

fn compile(lua: &Lua, env: &Table, code: &[u8], name: &str) -> mlua::Result<Function> {
    lua.load(code)
        .set_name(name)
        .set_mode(ChunkMode::Text)
        .set_environment(env.clone())
        .into_function()
}

/// The text of a Lua error value (an error table's `err`, a string, …).
fn error_value_text(err: &Value) -> String {
    match err {
        Value::Table(t) => match t.raw_get::<Value>("err") {
            Ok(Value::String(s)) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
            _ => "ERR unknown error".into(),
        },
        Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
        Value::Error(e) => lua_error_text(e),
        _ => "execution failure".into(),
    }
}

/// A failed script's reply (`luaCallFunction`): the error table's text, then where it was
/// raised.
fn error_reply(err: &Value, name: &str) -> Reply {
    let text = match err {
        Value::Table(t) => {
            let msg = error_value_text(err);
            let source = t.raw_get::<Value>("source").ok();
            let line = t.raw_get::<Value>("line").ok();
            match (source, line) {
                (Some(Value::String(s)), Some(Value::Integer(l))) => format!(
                    "{msg} script: {name}, on {}:{l}.",
                    String::from_utf8_lossy(&s.as_bytes())
                ),
                (Some(Value::String(s)), Some(Value::Number(l))) => format!(
                    "{msg} script: {name}, on {}:{l}.",
                    String::from_utf8_lossy(&s.as_bytes())
                ),
                _ => msg,
            }
        }
        other => format!(
            "ERR Error running script {name}, {:.100}",
            error_value_text(other)
        ),
    };
    Reply::Error(text.replace(['\r', '\n'], " "))
}

/// A library's functions: runs its code (after the shebang line) on `lua`.
fn run_library(
    lua: &Lua,
    api: &Api,
    code: &[u8],
) -> Result<Vec<(super::FunctionInfo, Function)>, String> {
    let chunk = compile(lua, &api.env, code, "@user_function")
        .map_err(|e| format!("ERR Error compiling function: {}", lua_error_text(&e)))?;
    let (ok, err, registered): (bool, Value, Table) = api
        .load_library
        .call(chunk)
        .map_err(|e| format!("ERR Error registering functions: {}", lua_error_text(&e)))?;
    if !ok {
        return Err(format!(
            "ERR Error registering functions: {}",
            error_value_text(&err)
        ));
    }
    let mut functions = Vec::new();
    for entry in registered.sequence_values::<Table>() {
        let read = || -> mlua::Result<(super::FunctionInfo, Function)> {
            let entry = entry?;
            let flags: Table = entry.raw_get("flags")?;
            let mut bits = 0;
            for name in flags.sequence_values::<String>() {
                bits |= super::flag_by_name(&name?).unwrap_or(0);
            }
            Ok((
                super::FunctionInfo {
                    name: entry.raw_get("name")?,
                    description: entry.raw_get("description")?,
                    flags: bits,
                },
                entry.raw_get("callback")?,
            ))
        };
        functions.push(read().map_err(|e| format!("ERR {}", lua_error_text(&e)))?);
    }
    Ok(functions)
}

/// FUNCTION LOAD (on an event loop): the functions the library registers, run on a Lua state of
/// its own for at most `LOAD_TIMEOUT_MS`. `code` starts at the shebang line's newline.
pub(super) fn library_functions(code: &[u8]) -> Result<Vec<super::FunctionInfo>, String> {
    let deadline = Instant::now() + Duration::from_millis(super::LOAD_TIMEOUT_MS);
    let (lua, api) = new_state(
        Rc::new(Cell::new(false)),
        move || {
            if Instant::now() > deadline {
                Err(stop("FUNCTION LOAD timeout"))
            } else {
                Ok(())
            }
        },
        move || Instant::now() > deadline,
        // (Never called: the prelude's `redis.call` refuses to run outside a script.)
        Box::new(|_, _| {
            Err(mlua::Error::RuntimeError(
                "redis.call/pcall can only be called inside a script invocation".into(),
            ))
        }),
    )
    .map_err(|e| format!("ERR scripting is not available: {e}"))?;
    Ok(run_library(&lua, &api, code)?
        .into_iter()
        .map(|(info, _)| info)
        .collect())
}

thread_local! {
    /// The loop's Lua state that compiles SCRIPT LOAD's scripts (nothing runs on it).
    static CHECKER: Option<Lua> = Lua::new_with(StdLib::NONE, LuaOptions::new()).ok();
    /// The writer's engine (`install`).
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

/// SCRIPT LOAD (on an event loop): the script compiles (`code` is after its shebang line).
pub(super) fn check_compiles(code: &[u8]) -> Result<(), String> {
    CHECKER.with(|lua| {
        let lua = lua
            .as_ref()
            .ok_or_else(|| "ERR scripting is not available".to_string())?;
        let compiled = lua
            .load(code)
            .set_name("@user_script")
            .set_mode(ChunkMode::Text)
            .into_function()
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "ERR Error compiling script (new function): {}",
                    lua_error_text(&e)
                )
            });
        let _ = lua.gc_collect();
        compiled
    })
}

/// Gives the calling thread (the group-commit writer) its Lua engine.
pub fn install(shared: Arc<Scripts>) {
    match Engine::new(shared) {
        Ok(engine) => ENGINE.with(|e| *e.borrow_mut() = Some(engine)),
        Err(e) => eprintln!("mmtree serve: scripting is not available: {e}"),
    }
}

pub(super) fn with_engine(
    f: impl FnOnce(&mut Engine) -> mmtree::Result<Reply>,
) -> mmtree::Result<Reply> {
    ENGINE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut engine) => match engine.as_mut() {
            Some(engine) => f(engine),
            None => Ok(Reply::Error("ERR scripting is not available".into())),
        },
        // A script calling a script: refused before it gets here, but never a panic.
        Err(_) => Ok(Reply::Error(
            "ERR This Redis command is not allowed from script".into(),
        )),
    })
}

/// Why the hook stopped a script: shown as the bare text (an mlua runtime error would read
/// "runtime error: ...").
#[derive(Debug)]
struct Stop(&'static str);

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Stop {}

fn stop(why: &'static str) -> mlua::Error {
    mlua::Error::external(Stop(why))
}

/// The instruction hook of the writer's state: the shutdown, SCRIPT KILL and the time limit.
fn hook(shared: &Scripts) -> mlua::Result<()> {
    let run = &shared.run;
    if run.abort.load(Ordering::Relaxed) {
        return Err(stop("the server is shutting down"));
    }
    let id = run.current.load(Ordering::Relaxed);
    if id == 0 {
        return Ok(());
    }
    if run.kill.load(Ordering::Acquire) == id {
        return Err(stop("Script killed by user with SCRIPT KILL..."));
    }
    let limit = shared.time_limit_ms();
    if limit > 0 && !run.timed_out.load(Ordering::Relaxed) {
        let now = shared.epoch.elapsed().as_micros() as u64;
        let elapsed = now.saturating_sub(run.started_us.load(Ordering::Relaxed)) / 1000;
        if elapsed >= limit {
            run.timed_out.store(true, Ordering::Release);
            eprintln!(
                "mmtree serve: slow script detected: still in execution after {elapsed} milliseconds; other clients get BUSY until it ends (SCRIPT KILL or FUNCTION KILL stop it if it wrote nothing)"
            );
        }
    }
    Ok(())
}

/// The writer's Lua state and what it compiled.
pub(super) struct Engine {
    shared: Arc<Scripts>,
    lua: Lua,
    api: Api,
    resp3: Rc<Cell<bool>>,
    /// The running script's context, which `redis.call` reads.
    slot: Rc<Slot>,
    /// SHA1 → the compiled EVAL script and its flags.
    scripts: HashMap<String, (Function, u32)>,
    cache_generation: u64,
    /// Function name (lower case) → its callback.
    functions: HashMap<String, Function>,
    lib_generation: Option<u64>,
}

/// What `redis.call` needs while a script runs, set by `Engine::run` for the run's duration:
/// the callback is registered once per state (a callback made per run, in an mlua scope, cost
/// more than the rest of a small script).
#[derive(Default)]
struct Slot {
    /// The group's transaction, as a pointer to the `&mut Tx` that `Engine::run` holds (see
    /// `Entered`). None outside a run, and while a `redis.call` uses it.
    tx: Cell<Option<NonNull<Tx<'static>>>>,
    /// The script's selected database (SELECT inside a script does not change the caller's).
    db: Cell<u32>,
    read_only: Cell<bool>,
    /// An engine error: the script stops and the group's commit fails.
    fatal: RefCell<Option<mmtree::Error>>,
}

/// The transaction lent to the slot for one run: it holds the `&mut Tx` borrow for as long as it
/// lives (nothing else can use the transaction meanwhile) and clears the slot on drop (unwinding
/// included), so the pointer never outlives the borrow it came from.
struct Entered<'s, 't>(&'s Slot, std::marker::PhantomData<&'t mut ()>);

impl<'s, 't> Entered<'s, 't> {
    fn new(slot: &'s Slot, tx: &'t mut Tx<'_>, read_only: bool) -> Entered<'s, 't> {
        slot.db.set(tx.db);
        slot.read_only.set(read_only);
        slot.fatal.replace(None);
        slot.tx.set(Some(NonNull::from(tx).cast::<Tx<'static>>()));
        Entered(slot, std::marker::PhantomData)
    }
}

impl Drop for Entered<'_, '_> {
    fn drop(&mut self) {
        self.0.tx.set(None);
    }
}

impl Engine {
    fn new(shared: Arc<Scripts>) -> mlua::Result<Engine> {
        let resp3 = Rc::new(Cell::new(false));
        let slot = Rc::new(Slot::default());
        let (hooked, run) = (shared.clone(), shared.clone());
        let (in_call, call_shared, call_resp3) = (slot.clone(), shared.clone(), resp3.clone());
        let (lua, api) = new_state(
            resp3.clone(),
            move || hook(&hooked),
            move || {
                let id = run.run.current.load(Ordering::Relaxed);
                run.run.abort.load(Ordering::Relaxed)
                    || id != 0 && run.run.kill.load(Ordering::Relaxed) == id
            },
            Box::new(move |lua, args| call(lua, &in_call, &call_shared, &call_resp3, args)),
        )?;
        Ok(Engine {
            shared,
            lua,
            api,
            resp3,
            slot,
            scripts: HashMap::new(),
            cache_generation: 0,
            functions: HashMap::new(),
            lib_generation: None,
        })
    }

    pub(super) fn eval(
        &mut self,
        tx: &mut Tx<'_>,
        form: EvalForm,
        a: &[Vec<u8>],
    ) -> mmtree::Result<Reply> {
        let (by_sha, ro) = (form.by_sha, form.read_only);
        if by_sha && a[0].len() != 40 {
            return Ok(Reply::Error(NOSCRIPT.into()));
        }
        let (keys, argv) = match super::split_keys(
            &a[1],
            &a[2..],
            "ERR value is not an integer or out of range",
        ) {
            Ok(split) => split,
            Err(reply) => return Ok(reply),
        };
        // SCRIPT FLUSH (on a loop) empties what this state compiled too.
        let generation = self.shared.cache_generation();
        if generation != self.cache_generation {
            self.scripts.clear();
            self.cache_generation = generation;
            let _ = self.lua.gc_collect();
        }
        let sha = if by_sha {
            String::from_utf8_lossy(&a[0]).to_ascii_lowercase()
        } else {
            super::sha1hex(&a[0])
        };
        let (f, flags) = match self.scripts.get(&sha) {
            Some(compiled) => compiled.clone(),
            None => {
                let script = if by_sha {
                    match self.shared.script(&sha) {
                        Some(script) => script,
                        None => return Ok(Reply::Error(NOSCRIPT.into())),
                    }
                } else {
                    match super::shebang(&a[0]) {
                        Ok((flags, _)) => Arc::new(super::Script {
                            body: a[0].clone(),
                            flags,
                        }),
                        Err(e) => return Ok(Reply::Error(e)),
                    }
                };
                let skip = match super::shebang(&script.body) {
                    Ok((_, skip)) => skip,
                    Err(e) => return Ok(Reply::Error(e)),
                };
                let f = match compile(
                    &self.lua,
                    &self.api.env,
                    &script.body[skip..],
                    "@user_script",
                ) {
                    Ok(f) => f,
                    Err(e) => {
                        return Ok(Reply::Error(format!(
                            "ERR Error compiling script (new function): {}",
                            lua_error_text(&e)
                        )))
                    }
                };
                let flags = script.flags;
                if !by_sha {
                    self.shared.add_script(sha.clone(), script);
                }
                self.scripts.insert(sha.clone(), (f.clone(), flags));
                (f, flags)
            }
        };
        let declared = flags & COMPAT == 0;
        if declared && flags & NO_WRITES == 0 && ro {
            return Ok(Reply::Error(
                "ERR Can not execute a script with write flag using *_ro command.".into(),
            ));
        }
        let read_only = ro || declared && flags & NO_WRITES != 0;
        self.run(tx, &sha, true, &f, keys, argv, read_only)
    }

    pub(super) fn fcall(
        &mut self,
        tx: &mut Tx<'_>,
        ro: bool,
        a: &[Vec<u8>],
    ) -> mmtree::Result<Reply> {
        let fname = String::from_utf8_lossy(&a[0]).into_owned();
        let (found, generation) = self.shared.function(&fname);
        let Some((_, flags)) = found else {
            return Ok(Reply::Error("ERR Function not found".into()));
        };
        let (keys, argv) =
            match super::split_keys(&a[1], &a[2..], "ERR Bad number of keys provided") {
                Ok(split) => split,
                Err(reply) => return Ok(reply),
            };
        if flags & NO_WRITES == 0 && ro {
            return Ok(Reply::Error(
                "ERR Can not execute a script with write flag using *_ro command.".into(),
            ));
        }
        if self.lib_generation != Some(generation) {
            self.reload_libraries();
        }
        let Some(f) = self.functions.get(&fname.to_lowercase()).cloned() else {
            return Ok(Reply::Error("ERR Function not found".into()));
        };
        // What FUNCTION STATS shows of the running function: its name and the command.
        let mut command = vec![if ro { &b"fcall_ro"[..] } else { b"fcall" }.to_vec()];
        command.extend_from_slice(a);
        *self.shared.run.about.lock().expect("running script") = Some((fname.clone(), command));
        let reply = self.run(
            tx,
            &fname,
            false,
            &f,
            keys,
            argv,
            ro || flags & NO_WRITES != 0,
        );
        *self.shared.run.about.lock().expect("running script") = None;
        reply
    }

    /// Loads every library again on this state (after FUNCTION LOAD, DELETE or FLUSH).
    fn reload_libraries(&mut self) {
        let (libs, generation) = self.shared.libraries();
        self.functions.clear();
        for lib in libs {
            let start = lib
                .code
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(lib.code.len());
            match run_library(&self.lua, &self.api, &lib.code[start..]) {
                Ok(functions) => {
                    for (info, f) in functions {
                        self.functions.insert(info.name.to_lowercase(), f);
                    }
                }
                Err(e) => eprintln!("mmtree serve: library {} failed to load: {e}", lib.name),
            }
        }
        self.lib_generation = Some(generation);
        let _ = self.lua.gc_collect();
    }

    /// Runs a compiled script (`eval`: with KEYS and ARGV as globals) or a function (given
    /// them as arguments) inside the group's transaction.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        tx: &mut Tx<'_>,
        name: &str,
        eval: bool,
        f: &Function,
        keys: &[Vec<u8>],
        argv: &[Vec<u8>],
        read_only: bool,
    ) -> mmtree::Result<Reply> {
        let lua = &self.lua;
        let tables = {
            let _unlimited = Unlimited::new(lua);
            let sequence = |items: &[Vec<u8>]| -> mlua::Result<Table> {
                let t = lua.create_table_with_capacity(items.len(), 0)?;
                for (i, item) in items.iter().enumerate() {
                    t.raw_seti(i + 1, lua.create_string(item)?)?;
                }
                Ok(t)
            };
            sequence(keys).and_then(|k| Ok((k, sequence(argv)?)))
        };
        let (keys, argv) = match tables {
            Ok(tables) => tables,
            Err(e) => return Ok(Reply::Error(format!("ERR {}", lua_error_text(&e)))),
        };
        self.resp3.set(false);
        let shared = &*self.shared;
        let run = &shared.run;
        let id = run.next.fetch_add(1, Ordering::Relaxed) + 1;
        run.dirty.store(false, Ordering::Relaxed);
        run.timed_out.store(false, Ordering::Relaxed);
        run.eval.store(eval, Ordering::Relaxed);
        run.started_us
            .store(shared.epoch.elapsed().as_micros() as u64, Ordering::Relaxed);
        run.current.store(id, Ordering::Release);
        let entered = Entered::new(&self.slot, tx, read_only);
        let runner = if eval {
            &self.api.run
        } else {
            &self.api.run_function
        };
        let result: mlua::Result<(bool, Value)> = runner.call((f, keys, argv));
        drop(entered);
        let killed = run.kill.load(Ordering::Acquire) == id;
        let aborted = run.abort.load(Ordering::Relaxed);
        run.current.store(0, Ordering::Release);
        run.timed_out.store(false, Ordering::Release);
        run.dirty.store(false, Ordering::Relaxed);
        if let Some(e) = self.slot.fatal.take() {
            return Err(e);
        }
        if aborted {
            // Nothing of a script stopped halfway is committed.
            return Err(mmtree::Error::Io {
                operation: "running a script",
                path: None,
                source: std::io::Error::other("the server is shutting down"),
            });
        }
        let resp3 = self.resp3.get();
        Ok(match result {
            _ if killed => Reply::Error(format!(
                "ERR Script killed by user with {} KILL... script: {name}",
                if eval { "SCRIPT" } else { "FUNCTION" }
            )),
            Ok((true, value)) => convert::to_reply(&value, resp3, 0),
            Ok((false, err)) => error_reply(&err, name),
            Err(e) => Reply::Error(
                format!("ERR Error running script {name}, {}", lua_error_text(&e))
                    .replace(['\r', '\n'], " "),
            ),
        })
    }
}

/// `redis.call` and `redis.pcall`'s work: runs one command over the running script's transaction
/// (the slot's); returns (true, reply) or (false, error table). The arguments come read by
/// `command_args` (from the call's values, or from a table when there are many: see the
/// prelude's `command_args`).
fn call(
    lua: &Lua,
    slot: &Slot,
    shared: &Scripts,
    resp3: &Cell<bool>,
    args: Result<Vec<Vec<u8>>, &'static str>,
) -> mlua::Result<(bool, Value)> {
    // Taken out of the slot while in use (a nested call finds it empty) and put back by `Lent`.
    let Some(ptr) = slot.tx.take() else {
        return Err(mlua::Error::RuntimeError(
            "redis.call is not reentrant".into(),
        ));
    };
    struct Lent<'s>(&'s Slot, NonNull<Tx<'static>>);
    impl Drop for Lent<'_> {
        fn drop(&mut self) {
            self.0.tx.set(Some(self.1));
        }
    }
    let _lent = Lent(slot, ptr);
    // SAFETY: `Entered::new` made the pointer from the `&mut Tx` that `Engine::run` holds, and
    // the `Entered` keeps that borrow (nothing else uses the Tx while it lives) and clears the
    // slot on drop, before the borrow ends, so the Tx is alive and otherwise unused. This is the
    // only reference made from the pointer: it left the slot above and returns only when
    // `_lent` drops, after the last use of `tx`. (The `'static` is never relied on: `execute` is
    // generic over the transaction's lifetime.)
    let tx = unsafe { &mut *ptr.as_ptr() };
    if slot.fatal.borrow().is_some() {
        return Err(mlua::Error::RuntimeError(
            "a storage error stopped the script".into(),
        ));
    }
    // Values made here are the server's, not the script's (`MEMORY_LIMIT`).
    let _unlimited = Unlimited::new(lua);
    let fail = |text: &str| Ok((false, convert::error_table(lua, text)?));
    let argv = match args {
        Ok(argv) => argv,
        Err(text) => return fail(text),
    };
    let mut ctx = Ctx {
        tx,
        db: &slot.db,
        read_only: slot.read_only.get(),
        shared,
    };
    match execute(&mut ctx, &argv) {
        Ok(Reply::Error(e)) => fail(&convert::error_text(&e)),
        Ok(reply) => Ok((true, convert::to_lua(lua, &reply, resp3.get())?)),
        Err(e) => {
            *slot.fatal.borrow_mut() = Some(e);
            Err(mlua::Error::RuntimeError(
                "a storage error stopped the script".into(),
            ))
        }
    }
}

/// One `redis.call`'s view of the running script (see `Slot`).
struct Ctx<'a, 'w> {
    tx: &'a mut Tx<'w>,
    db: &'a Cell<u32>,
    read_only: bool,
    shared: &'a Scripts,
}

/// One command of a script, checked as Redis' `scriptCall` checks it; noted for INFO
/// commandstats (`Scripts::calls`) as run, failed or refused.
fn execute(ctx: &mut Ctx<'_, '_>, argv: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let Some(cmd) = table::lookup(&argv[0]) else {
        return Ok(Reply::Error(
            "ERR Unknown Redis command called from script".into(),
        ));
    };
    let mut ran = false;
    let reply = run_checked(ctx, cmd, argv, &mut ran);
    let call = match (&reply, ran) {
        (_, false) => Call::Rejected,
        (Ok(Reply::Error(_)), true) => Call::Failed,
        _ => Call::Ok,
    };
    ctx.shared
        .calls
        .lock()
        .expect("script calls")
        .push((cmd.index(), call));
    reply
}

/// `execute`'s checks and run; `ran` is set once the checks passed.
fn run_checked(
    ctx: &mut Ctx<'_, '_>,
    cmd: &'static table::Command,
    argv: &[Vec<u8>],
    ran: &mut bool,
) -> mmtree::Result<Reply> {
    let err = |text: &str| Ok(Reply::Error(text.into()));
    if !cmd.arity_ok(argv.len()) {
        return err("ERR Wrong number of args calling Redis command from script");
    }
    let not_allowed = "ERR This Redis command is not allowed from script";
    if cmd.has(table::NOSCRIPT) {
        return err(not_allowed);
    }
    // XREAD and XREADGROUP may run in a script, but not with BLOCK (Redis 7.0's check; the
    // other blocking commands are NOSCRIPT).
    if cmd.has(table::STREAMS) && cmd.has(table::BLOCKING) {
        let with_group = cmd.name == "XREADGROUP";
        if let Ok(args) = crate::commands::streams::parse_read(&argv[1..], with_group) {
            if args.block.is_some() {
                return Ok(Reply::Error(format!(
                    "ERR {} command is not allowed with BLOCK option from scripts",
                    cmd.name.to_ascii_lowercase()
                )));
            }
        }
    }
    match cmd.handler {
        Handler::Session(Session::Ping | Session::Echo | Session::Time | Session::Select) => {}
        // The connection's commands, and the containers (CONFIG, CLIENT, …) that dispatch there.
        Handler::Session(_) | Handler::Container => return err(not_allowed),
        // (A blocking command is NOSCRIPT, as in Redis 7.0; were one allowed, `write::apply`
        // would run it without blocking.)
        Handler::Write(_) | Handler::Read(_) | Handler::Block(_) => {}
    }
    if ctx.read_only && cmd.has(table::WRITE) {
        return err("ERR Write commands are not allowed from read-only scripts.");
    }
    let max_key = ctx.tx.max_key;
    if let Some(key) = cmd.key_args(argv).find(|k| k.len() > max_key) {
        return Ok(Reply::Error(format!(
            "ERR key too large ({} bytes; the limit is {max_key})",
            key.len()
        )));
    }
    let a = &argv[1..];
    *ran = true;
    if !cmd.has(table::NO_TOUCH) && cmd.has_keys() {
        let forget = cmd.has(table::FORGETS);
        let mut accessed = ctx.shared.accessed.lock().expect("script keys");
        for key in cmd.key_args(argv) {
            accessed.push((ctx.db.get(), key.clone(), forget));
        }
    }
    if ctx.shared.monitoring.load(Ordering::Relaxed) {
        ctx.shared
            .monitored
            .lock()
            .expect("monitored")
            .push((ctx.db.get(), argv.to_vec()));
    }
    if cmd.has(table::READONLY) {
        ctx.shared.read_called.store(true, Ordering::Relaxed);
    }
    match cmd.handler {
        Handler::Write(_) | Handler::Read(_) | Handler::Block(_) => {
            if cmd.has(table::WRITE) {
                ctx.shared.run.dirty.store(true, Ordering::Release);
            }
            let tx = &mut *ctx.tx;
            let caller_db = tx.db;
            tx.db = ctx.db.get();
            let reply = match cmd.handler {
                Handler::Read(read) => {
                    let now = tx.now;
                    let (reply, expired) = {
                        let mut rows = keyspace::Transaction(tx);
                        let mut ks =
                            keyspace::Keyspace::new(&mut rows as &mut dyn keyspace::Rows, now);
                        let reply = read(&mut ks, a);
                        (reply, std::mem::take(&mut ks.expired))
                    };
                    // Keys the read found expired: removed now while a client tracks (lazy
                    // expiry; see `crate::tracking`).
                    if let Some(watches) = tx.watches.as_deref_mut().filter(|w| w.tracking) {
                        for key in &expired {
                            crate::store::expire_if_due(
                                tx.w,
                                tx.db,
                                key,
                                now,
                                tx.events.as_deref_mut(),
                                watches,
                            )?;
                        }
                    }
                    reply
                }
                _ => write::apply(tx, cmd, argv),
            };
            ctx.tx.db = caller_db;
            reply
        }
        Handler::Session(Session::Ping) => Ok(match a {
            [] => Reply::Status("PONG".into()),
            [m] => Reply::Bulk(m.clone()),
            _ => Reply::Error("ERR wrong number of arguments for 'ping' command".into()),
        }),
        Handler::Session(Session::Echo) => Ok(Reply::Bulk(a[0].clone())),
        Handler::Session(Session::Time) => {
            let since = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            Ok(Reply::Array(vec![
                Reply::Bulk(since.as_secs().to_string().into_bytes()),
                Reply::Bulk(since.subsec_micros().to_string().into_bytes()),
            ]))
        }
        Handler::Session(_) | Handler::Container => {
            match std::str::from_utf8(&a[0])
                .ok()
                .and_then(|d| d.parse::<u32>().ok())
            {
                Some(db) if db < DATABASES => {
                    ctx.db.set(db);
                    Ok(Reply::Ok)
                }
                Some(_) => err("ERR DB index is out of range"),
                None => err("ERR value is not an integer or out of range"),
            }
        }
    }
}
