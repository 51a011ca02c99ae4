//! Runs a game's logic: a WebAssembly component built against the `aethex:logic@0.1.0` WIT
//! package (`protocol/wit/logic.wit`), for origin (hooks and RPCs) and relays (rooms).
//!
//! - [`LogicEngine`] compiles and checks a component into a [`Program`]: it must be a
//!   component, built for this WIT version, exporting the `game-logic` world, and its `init`
//!   must answer a valid [`Registration`] within the CPU budget.
//! - [`Pool`] keeps instances of one program for one game and reuses them, so a call costs a
//!   call, not an instantiation. [`Program::instantiate`] makes one instance of its own (a
//!   relay's room).
//! - Every call runs with a fuel budget (CPU), a memory limit and a wall-clock bound. A trap,
//!   exhausted fuel, the memory limit or the time bound answers a [`LogicError`], and the
//!   instance it happened in is thrown away: no other call, and no other game, sees it.
//! - A component may import only `aethex:logic/host` ([`HostApi`], given by the server) and
//!   WASI 0.2, granted nothing: no directory, no address, an empty environment, stdout and
//!   stderr kept only for error messages. Other WASI interfaces are linked as traps; any
//!   other import is refused when the component is loaded.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The WIT the host implements, and the types calls take and answer.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../protocol/wit",
        world: "game-logic",
        imports: { default: async },
        exports: { default: async },
    });
}

pub use bindings::aethex::logic::types::{
    AchievementProgress, Advanced, Caller, Context, Event, Field, Hook, LogLevel, PlayerFields, Profile, ProgressVerdict, Queued, Registration,
    SaveVerdict, SaveWrite, Saved, ScoreSubmit, ScoreVerdict, Scored, Stat, TickOutput, Ticket, TicketVerdict,
};

/// The WIT package version this host speaks. A component built for another is refused.
pub const WIT_VERSION: &str = "0.1.0";
/// The WIT package (without its version).
pub const WIT_PACKAGE: &str = "aethex:logic";

/// What a host function answers: its value, or a reason the component sees as an error.
pub type HostResult<T> = Result<T, String>;
/// A host function's future.
pub type HostFuture<'a, T> = Pin<Box<dyn Future<Output = HostResult<T>> + Send + 'a>>;

/// What the server gives a component (`aethex:logic/host`): one per game (origin) or per room
/// (a relay). The clock and randomness are the host crate's own.
pub trait HostApi: Send + Sync + 'static {
    fn kv_get(&self, key: String) -> HostFuture<'_, Option<Vec<u8>>>;
    fn kv_set(&self, key: String, value: Vec<u8>) -> HostFuture<'_, ()>;
    fn kv_delete(&self, key: String) -> HostFuture<'_, bool>;
    fn kv_compare_and_set(&self, key: String, expected: Option<Vec<u8>>, new: Option<Vec<u8>>) -> HostFuture<'_, bool>;
    fn player_profile(&self, user_id: String) -> HostFuture<'_, Option<Profile>>;
    fn player_stats(&self, user_id: String) -> HostFuture<'_, Vec<Stat>>;
    fn submit_score(&self, board_id: String, user_id: String, score: i64) -> HostFuture<'_, i64>;
    fn unlock_achievement(&self, achievement_id: String, user_id: String) -> HostFuture<'_, bool>;
    fn send_room_message(&self, to: Option<String>, method: String, args_json: String) -> HostResult<()>;
    /// A log line from the component (already cut to [`MAX_LOG_BYTES`]).
    fn log(&self, level: LogLevel, message: &str);
}

/// The longest log line a component may write; longer ones are cut.
pub const MAX_LOG_BYTES: usize = 4096;

/// Bounds on every component.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Fuel (about one unit per WebAssembly instruction) one call may use.
    pub fuel_per_call: u64,
    /// Linear memory one instance may grow to.
    pub memory_bytes: usize,
    /// Wall-clock bound of one call, host calls (storage) included.
    pub call_timeout: Duration,
    /// Instances of one game's program alive at once (calls beyond wait for one).
    pub max_instances: usize,
    /// Idle instances kept for reuse.
    pub idle_instances: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { fuel_per_call: 50_000_000, memory_bytes: 64 << 20, call_timeout: Duration::from_secs(2), max_instances: 32, idle_instances: 8 }
    }
}

/// Why a component was refused or a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LogicError {
    #[error("not a valid component: {0}")]
    Invalid(String),
    #[error("the component is built for {found}; this server runs {WIT_PACKAGE}@{WIT_VERSION}")]
    WrongVersion { found: String },
    #[error("the component imports {0}, which this server does not offer (only {WIT_PACKAGE}/host and WASI)")]
    ForbiddenImport(String),
    #[error("its init answered a bad registration: {0}")]
    BadRegistration(String),
    #[error("{export} used more than its CPU budget ({fuel} fuel) and was stopped")]
    OutOfFuel { export: &'static str, fuel: u64 },
    #[error("{export} tried to grow its memory past the limit of {limit} bytes and was stopped")]
    OutOfMemory { export: &'static str, limit: usize },
    #[error("{export} took longer than {timeout:?} and was stopped")]
    Timeout { export: &'static str, timeout: Duration },
    #[error("{export} trapped: {message}")]
    Trap { export: &'static str, message: String },
    #[error("{0} is not registered by this component")]
    NotRegistered(String),
}

/// Compiles and checks components. One per server: it owns the wasmtime engine.
#[derive(Clone)]
pub struct LogicEngine {
    engine: Engine,
    limits: Limits,
}

impl LogicEngine {
    pub fn new(limits: Limits) -> Result<Self, LogicError> {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        config.consume_fuel(true);
        config.max_wasm_stack(1 << 20);
        let engine = Engine::new(&config).map_err(|e| LogicError::Invalid(format!("engine: {e}")))?;
        Ok(Self { engine, limits })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Compiles `wasm` (off the async threads), checks what it imports and exports, and
    /// runs its `init` once to read its registration.
    pub async fn load(&self, wasm: Vec<u8>) -> Result<Arc<Program>, LogicError> {
        let engine = self.engine.clone();
        let component = tokio::task::spawn_blocking(move || Component::new(&engine, &wasm))
            .await
            .map_err(|e| LogicError::Invalid(format!("compiling stopped: {e}")))?
            .map_err(|e| LogicError::Invalid(format!("{e:#}")))?;
        self.check_names(&component)?;
        let mut linker = Linker::<Guest>::new(&self.engine);
        link(&mut linker).map_err(|e| LogicError::Invalid(format!("linker: {e:#}")))?;
        self.stub_the_rest(&mut linker, &component).map_err(|e| LogicError::Invalid(format!("linker: {e:#}")))?;
        let pre = linker.instantiate_pre(&component).map_err(|e| LogicError::Invalid(format!("{e:#}")))?;
        let pre = bindings::GameLogicPre::new(pre).map_err(|e| LogicError::Invalid(format!("it does not export the game-logic world: {e:#}")))?;
        let mut program = Program { engine: self.engine.clone(), pre, limits: self.limits.clone(), registration: empty_registration() };
        // `init` runs with a host that offers nothing (it registers; it does not work yet).
        let mut slot = program.new_slot(Arc::new(NoHost)).await?;
        let registration = program.run(&mut slot, "init", async |s: &mut Slot| s.logic.aethex_logic_hooks().call_init(&mut s.store).await).await?;
        check_registration(&registration)?;
        program.registration = registration;
        Ok(Arc::new(program))
    }

    /// Links every other WASI interface the component imports (`wasi:http`, ...) as functions
    /// that trap, naming what was called. (One whose types come from an offered interface
    /// cannot be stubbed, and the component is refused with the linker's reason.)
    fn stub_the_rest(&self, linker: &mut Linker<Guest>, component: &Component) -> wasmtime::Result<()> {
        use wasmtime::component::types::ComponentItem;
        for (name, item) in component.component_type().imports(&self.engine) {
            let ComponentItem::ComponentInstance(instance) = item.ty else { continue };
            if !name.starts_with("wasi:") || OFFERED_WASI.contains(&unversioned(name)) {
                continue;
            }
            let mut stub = linker.instance(name)?;
            for (export, item) in instance.exports(&self.engine) {
                match item.ty {
                    ComponentItem::ComponentFunc(_) => {
                        let what = format!("{}#{export}", unversioned(name));
                        stub.func_new(export, move |_, _, _, _| Err(wasmtime::format_err!("{what} is not available to game logic")))?;
                    }
                    ComponentItem::Resource(_) => stub.resource(export, wasmtime::component::ResourceType::host::<()>(), |_, _| Ok(()))?,
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Refuses a component built for another version of our package, or importing an
    /// interface that is neither ours nor WASI's.
    fn check_names(&self, component: &Component) -> Result<(), LogicError> {
        let ty = component.component_type();
        let ours = format!("{WIT_PACKAGE}/");
        let check = |name: &str, import: bool| -> Result<(), LogicError> {
            if let Some(rest) = name.strip_prefix(&ours) {
                let version = rest.split_once('@').map(|(_, v)| v).unwrap_or("(no version)");
                if version != WIT_VERSION {
                    return Err(LogicError::WrongVersion { found: format!("{WIT_PACKAGE}@{version}") });
                }
                if import && !rest.starts_with("host@") && !rest.starts_with("types@") {
                    return Err(LogicError::ForbiddenImport(name.to_string()));
                }
            } else if import && !name.starts_with("wasi:") {
                return Err(LogicError::ForbiddenImport(name.to_string()));
            }
            Ok(())
        };
        for (name, _) in ty.imports(&self.engine) {
            check(name, true)?;
        }
        for (name, _) in ty.exports(&self.engine) {
            check(name, false)?;
        }
        Ok(())
    }
}

fn empty_registration() -> Registration {
    Registration { hooks: Vec::new(), rpcs: Vec::new(), rooms: false }
}

/// Most RPC names a component may register.
pub const MAX_RPCS: usize = 64;

/// Whether `name` is a valid custom RPC name: 1 to 64 of `[a-z0-9_-]`.
pub fn valid_rpc_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn check_registration(r: &Registration) -> Result<(), LogicError> {
    if r.rpcs.len() > MAX_RPCS {
        return Err(LogicError::BadRegistration(format!("{} RPCs; at most {MAX_RPCS}", r.rpcs.len())));
    }
    for (i, name) in r.rpcs.iter().enumerate() {
        if !valid_rpc_name(name) {
            return Err(LogicError::BadRegistration(format!("RPC name {name:?} is not 1 to 64 of a-z, 0-9, _ and -")));
        }
        if r.rpcs[..i].contains(name) {
            return Err(LogicError::BadRegistration(format!("RPC {name:?} is listed twice")));
        }
    }
    Ok(())
}

/// One component, compiled and checked.
pub struct Program {
    engine: Engine,
    pre: bindings::GameLogicPre<Guest>,
    limits: Limits,
    registration: Registration,
}

/// An instance and its store.
pub struct Slot {
    store: Store<Guest>,
    logic: bindings::GameLogic,
}

impl Program {
    /// What the component's `init` answered.
    pub fn registration(&self) -> &Registration {
        &self.registration
    }

    pub fn handles(&self, hook: Hook) -> bool {
        self.registration.hooks.contains(&hook)
    }

    pub fn has_rpc(&self, name: &str) -> bool {
        self.registration.rpcs.iter().any(|n| n == name)
    }

    async fn new_slot(&self, host: Arc<dyn HostApi>) -> Result<Slot, LogicError> {
        let tail = Tail::default();
        let guest = Guest {
            wasi: sandboxed_wasi(&tail),
            tail,
            table: ResourceTable::new(),
            limiter: Limiter { memory_bytes: self.limits.memory_bytes, hit: false },
            host,
        };
        let mut store = Store::new(&self.engine, guest);
        store.limiter(|g| &mut g.limiter);
        store.set_fuel(self.limits.fuel_per_call).map_err(|e| LogicError::Invalid(e.to_string()))?;
        store.fuel_async_yield_interval(Some(200_000)).map_err(|e| LogicError::Invalid(e.to_string()))?;
        let logic = match tokio::time::timeout(self.limits.call_timeout, self.pre.instantiate_async(&mut store)).await {
            Ok(Ok(logic)) => logic,
            Ok(Err(e)) => return Err(classify(&store, "instantiate", &self.limits, e)),
            Err(_) => return Err(LogicError::Timeout { export: "instantiate", timeout: self.limits.call_timeout }),
        };
        Ok(Slot { store, logic })
    }

    /// Runs one export in `slot` with a fresh fuel budget and the time bound. On any error
    /// the slot must be dropped (its instance may be half way through anything).
    async fn run<R>(&self, slot: &mut Slot, export: &'static str, f: impl AsyncFnOnce(&mut Slot) -> wasmtime::Result<R>) -> Result<R, LogicError> {
        slot.store.set_fuel(self.limits.fuel_per_call).map_err(|e| LogicError::Invalid(e.to_string()))?;
        slot.store.data_mut().limiter.hit = false;
        match tokio::time::timeout(self.limits.call_timeout, f(slot)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(classify(&slot.store, export, &self.limits, e)),
            Err(_) => Err(LogicError::Timeout { export, timeout: self.limits.call_timeout }),
        }
    }

    /// One instance of its own, for a relay's room (it keeps the room's state).
    pub async fn instantiate(self: &Arc<Self>, host: Arc<dyn HostApi>) -> Result<RoomInstance, LogicError> {
        let slot = self.new_slot(host).await?;
        Ok(RoomInstance { program: self.clone(), slot: Some(slot) })
    }
}

fn classify(store: &Store<Guest>, export: &'static str, limits: &Limits, e: wasmtime::Error) -> LogicError {
    if store.data().limiter.hit {
        return LogicError::OutOfMemory { export, limit: limits.memory_bytes };
    }
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        if *trap == wasmtime::Trap::OutOfFuel {
            return LogicError::OutOfFuel { export, fuel: limits.fuel_per_call };
        }
    }
    // What trapped (not the wasm backtrace around it), and the component's last words.
    let mut message = match e.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => e.chain().last().map(|c| c.to_string()).unwrap_or_else(|| e.to_string()),
    };
    if let Some(line) = store.data().tail.take_last_line() {
        message = format!("{message} (it wrote: {line})");
    }
    LogicError::Trap { export, message: message.chars().take(1000).collect() }
}

/// A pool of instances of one program, for one game: a call takes an idle instance (or
/// makes one), and puts it back when the call succeeded.
pub struct Pool {
    program: Arc<Program>,
    host: Arc<dyn HostApi>,
    idle: Mutex<Vec<Slot>>,
    permits: tokio::sync::Semaphore,
}

impl Pool {
    pub fn new(program: Arc<Program>, host: Arc<dyn HostApi>) -> Self {
        let permits = tokio::sync::Semaphore::new(program.limits.max_instances.max(1));
        Self { program, host, idle: Mutex::new(Vec::new()), permits }
    }

    pub fn program(&self) -> &Arc<Program> {
        &self.program
    }

    async fn call<R>(&self, export: &'static str, f: impl AsyncFnOnce(&mut Slot) -> wasmtime::Result<R>) -> Result<R, LogicError> {
        let deadline = Instant::now() + self.program.limits.call_timeout;
        let _permit = match tokio::time::timeout_at(deadline.into(), self.permits.acquire()).await {
            Ok(Ok(p)) => p,
            _ => return Err(LogicError::Timeout { export, timeout: self.program.limits.call_timeout }),
        };
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut slot = match idle {
            Some(s) => s,
            None => self.program.new_slot(self.host.clone()).await?,
        };
        let r = self.program.run(&mut slot, export, f).await?;
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.program.limits.idle_instances {
            idle.push(slot);
        }
        Ok(r)
    }

    pub async fn before_save(&self, ctx: &Context, save: &SaveWrite) -> Result<SaveVerdict, LogicError> {
        self.call("before-save", async |s: &mut Slot| s.logic.aethex_logic_hooks().call_before_save(&mut s.store, ctx, save).await).await
    }

    pub async fn before_score(&self, ctx: &Context, score: &ScoreSubmit) -> Result<ScoreVerdict, LogicError> {
        self.call("before-score", async |s: &mut Slot| s.logic.aethex_logic_hooks().call_before_score(&mut s.store, ctx, score).await).await
    }

    pub async fn before_achievement(&self, ctx: &Context, p: &AchievementProgress) -> Result<ProgressVerdict, LogicError> {
        self.call("before-achievement", async |s: &mut Slot| s.logic.aethex_logic_hooks().call_before_achievement(&mut s.store, ctx, p).await).await
    }

    pub async fn before_ticket(&self, ctx: &Context, t: &Ticket) -> Result<TicketVerdict, LogicError> {
        self.call("before-ticket", async |s: &mut Slot| s.logic.aethex_logic_hooks().call_before_ticket(&mut s.store, ctx, t).await).await
    }

    pub async fn after_event(&self, ctx: &Context, e: &Event) -> Result<(), LogicError> {
        self.call("after-event", async |s: &mut Slot| s.logic.aethex_logic_hooks().call_after_event(&mut s.store, ctx, e).await).await
    }

    /// A custom RPC. `Ok(Err(reason))` is the component's own refusal.
    pub async fn rpc(&self, ctx: &Context, name: &str, payload: &str) -> Result<Result<String, String>, LogicError> {
        if !self.program.has_rpc(name) {
            return Err(LogicError::NotRegistered(format!("RPC {name:?}")));
        }
        self.call("rpc", async |s: &mut Slot| s.logic.aethex_logic_rpc().call_call(&mut s.store, ctx, name, payload).await).await
    }
}

/// A room's own instance (relay). After an error it is gone: every later call answers that error.
pub struct RoomInstance {
    program: Arc<Program>,
    slot: Option<Slot>,
}

impl RoomInstance {
    async fn call<R>(&mut self, export: &'static str, f: impl AsyncFnOnce(&mut Slot) -> wasmtime::Result<R>) -> Result<R, LogicError> {
        let Some(slot) = self.slot.as_mut() else {
            return Err(LogicError::Trap { export, message: "the room's instance failed earlier".into() });
        };
        let r = self.program.run(slot, export, f).await;
        if r.is_err() {
            self.slot = None;
        }
        r
    }

    pub async fn open(&mut self, room_id: &str, mode: Option<&str>, properties: &str) -> Result<(), LogicError> {
        self.call("room.open", async |s: &mut Slot| s.logic.aethex_logic_room().call_open(&mut s.store, room_id, mode, properties).await).await
    }

    pub async fn join(&mut self, player_id: &str, player_data: &str) -> Result<Result<(), String>, LogicError> {
        self.call("room.join", async |s: &mut Slot| s.logic.aethex_logic_room().call_join(&mut s.store, player_id, player_data).await).await
    }

    pub async fn leave(&mut self, player_id: &str) -> Result<(), LogicError> {
        self.call("room.leave", async |s: &mut Slot| s.logic.aethex_logic_room().call_leave(&mut s.store, player_id).await).await
    }

    pub async fn tick(&mut self, tick: u64, inputs: &[PlayerFields]) -> Result<TickOutput, LogicError> {
        self.call("room.tick", async |s: &mut Slot| s.logic.aethex_logic_room().call_tick(&mut s.store, tick, inputs).await).await
    }
}

/// A store's data: the sandboxed WASI context, the memory limiter and the server's host.
pub struct Guest {
    wasi: WasiCtx,
    tail: Tail,
    table: ResourceTable,
    limiter: Limiter,
    host: Arc<dyn HostApi>,
}

impl WasiView for Guest {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// No arguments, no environment, no directories, no network (TCP, UDP and name lookups
/// refused, no address allowed); stdin empty; stdout and stderr keep only their last bytes
/// (a panic message, for the error of a trap).
fn sandboxed_wasi(tail: &Tail) -> WasiCtx {
    WasiCtx::builder()
        .stdout(tail.clone())
        .stderr(tail.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .build()
}

/// The last [`TAIL_BYTES`] a component wrote to stdout and stderr. Writing never fails.
#[derive(Clone, Default)]
struct Tail(Arc<Mutex<Vec<u8>>>);

const TAIL_BYTES: usize = 2048;

impl Tail {
    fn push(&self, bytes: &[u8]) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        t.extend_from_slice(&bytes[bytes.len().saturating_sub(TAIL_BYTES)..]);
        if t.len() > TAIL_BYTES {
            let cut = t.len() - TAIL_BYTES;
            t.drain(..cut);
        }
    }

    /// The last line written (a panic prints its message last), then forgets everything.
    fn take_last_line(&self) -> Option<String> {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        let text = String::from_utf8_lossy(&bytes);
        // Rust's panic message is followed by a note on RUST_BACKTRACE: skip it.
        let line = text.lines().rev().find(|l| !l.trim().is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))?;
        Some(line.trim().chars().take(500).collect())
    }
}

impl wasmtime_wasi::cli::IsTerminal for Tail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for Tail {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for Tail {
    fn poll_write(self: Pin<&mut Self>, _: &mut std::task::Context<'_>, buf: &[u8]) -> std::task::Poll<std::io::Result<usize>> {
        self.push(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// The WASI interfaces [`link`] offers (any version of them): WASI 0.2's command world.
const OFFERED_WASI: &[&str] = &[
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/exit",
    "wasi:cli/environment",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:sockets/network",
    "wasi:sockets/instance-network",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
    "wasi:sockets/ip-name-lookup",
];

fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(n, _)| n)
}

/// Links the host and WASI 0.2 with the sandboxed context ([`sandboxed_wasi`]): standard
/// libraries (Rust's, JavaScript's) find the interfaces they import, and every file or
/// network call fails (no directory is opened, no socket is allowed).
fn link(linker: &mut Linker<Guest>) -> wasmtime::Result<()> {
    bindings::GameLogic::add_to_linker::<Guest, wasmtime::component::HasSelf<Guest>>(linker, |g| g)?;
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    Ok(())
}

/// Refuses memory growth past the limit and remembers that it did (so the error says why).
struct Limiter {
    memory_bytes: usize,
    hit: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }

    fn instances(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        16
    }

    fn tables(&self) -> usize {
        64
    }
}

/// A host that offers nothing: every storage, player, score and room call answers an
/// error. A component's `init` runs with it (it registers; it does not work yet).
pub struct NoHost;

const NOT_YET: &str = "this host offers no storage, players, scores or rooms (in init, nothing works yet)";

impl HostApi for NoHost {
    fn kv_get(&self, _: String) -> HostFuture<'_, Option<Vec<u8>>> {
        Box::pin(async { Err(NOT_YET.into()) })
    }
    fn kv_set(&self, _: String, _: Vec<u8>) -> HostFuture<'_, ()> {
        Box::pin(async { Err(NOT_YET.into()) })
    }
    fn kv_delete(&self, _: String) -> HostFuture<'_, bool> {
        Box::pin(async { Err(NOT_YET.into()) })
    }
    fn kv_compare_and_set(&self, _: String, _: Option<Vec<u8>>, _: Option<Vec<u8>>) -> HostFuture<'_, bool> {
        Box::pin(async { Err(NOT_YET.into()) })
    }
    fn player_profile(&self, _: String) -> HostFuture<'_, Option<Profile>> {
        Box::pin(async { Err(NOT_YET.into()) })
    }
    fn player_stats(&self, _: String) -> HostFuture<'_, Vec<Stat>> {
        Box::pin(async { Err(NOT_YET.into()) })
    }
    fn submit_score(&self, _: String, _: String, _: i64) -> HostFuture<'_, i64> {
        Box::pin(async { Err(NOT_YET.into()) })
    }
    fn unlock_achievement(&self, _: String, _: String) -> HostFuture<'_, bool> {
        Box::pin(async { Err(NOT_YET.into()) })
    }
    fn send_room_message(&self, _: Option<String>, _: String, _: String) -> HostResult<()> {
        Err(NOT_YET.into())
    }
    fn log(&self, level: LogLevel, message: &str) {
        log_line(level, "init", message);
    }
}

/// Writes a component's log line through `tracing`, under the `game_logic` target.
pub fn log_line(level: LogLevel, game: &str, message: &str) {
    match level {
        LogLevel::Debug => tracing::debug!(target: "game_logic", game, "{message}"),
        LogLevel::Info => tracing::info!(target: "game_logic", game, "{message}"),
        LogLevel::Warn => tracing::warn!(target: "game_logic", game, "{message}"),
        LogLevel::Error => tracing::error!(target: "game_logic", game, "{message}"),
    }
}

impl bindings::aethex::logic::types::Host for Guest {}

impl bindings::aethex::logic::host::Host for Guest {
    async fn kv_get(&mut self, key: String) -> HostResult<Option<Vec<u8>>> {
        self.host.kv_get(key).await
    }
    async fn kv_set(&mut self, key: String, value: Vec<u8>) -> HostResult<()> {
        self.host.kv_set(key, value).await
    }
    async fn kv_delete(&mut self, key: String) -> HostResult<bool> {
        self.host.kv_delete(key).await
    }
    async fn kv_compare_and_set(&mut self, key: String, expected: Option<Vec<u8>>, new: Option<Vec<u8>>) -> HostResult<bool> {
        self.host.kv_compare_and_set(key, expected, new).await
    }
    async fn player_profile(&mut self, user_id: String) -> HostResult<Option<Profile>> {
        self.host.player_profile(user_id).await
    }
    async fn player_stats(&mut self, user_id: String) -> HostResult<Vec<Stat>> {
        self.host.player_stats(user_id).await
    }
    async fn submit_score(&mut self, board_id: String, user_id: String, score: i64) -> HostResult<i64> {
        self.host.submit_score(board_id, user_id, score).await
    }
    async fn unlock_achievement(&mut self, achievement_id: String, user_id: String) -> HostResult<bool> {
        self.host.unlock_achievement(achievement_id, user_id).await
    }
    async fn send_room_message(&mut self, to: Option<String>, method: String, args_json: String) -> HostResult<()> {
        self.host.send_room_message(to, method, args_json)
    }
    async fn log(&mut self, level: LogLevel, message: String) {
        let mut end = message.len().min(MAX_LOG_BYTES);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        // One line per call: a component cannot forge log lines of its own.
        let line: String = message[..end].chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        self.host.log(level, &line);
    }
    async fn now_ms(&mut self) -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }
    async fn random_u64(&mut self) -> u64 {
        rand::random()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_names_are_short_lowercase_words() {
        for good in ["a", "inventory", "buy-item", "x_1", &"a".repeat(64)] {
            assert!(valid_rpc_name(good), "{good}");
        }
        for bad in ["", "Inventory", "a.b", "a b", "é", &"a".repeat(65), "custom/x"] {
            assert!(!valid_rpc_name(bad), "{bad}");
        }
    }

    #[test]
    fn registrations_with_bad_or_repeated_rpcs_are_refused() {
        let r = |rpcs: Vec<&str>| Registration { hooks: vec![], rpcs: rpcs.into_iter().map(String::from).collect(), rooms: false };
        assert!(check_registration(&r(vec!["a", "b"])).is_ok());
        assert!(matches!(check_registration(&r(vec!["a", "a"])), Err(LogicError::BadRegistration(_))));
        assert!(matches!(check_registration(&r(vec!["A"])), Err(LogicError::BadRegistration(_))));
        let many: Vec<String> = (0..=MAX_RPCS).map(|i| format!("r{i}")).collect();
        let r = Registration { hooks: vec![], rpcs: many, rooms: false };
        assert!(matches!(check_registration(&r), Err(LogicError::BadRegistration(_))));
    }

    #[test]
    fn the_tail_keeps_the_last_line_that_is_not_rusts_backtrace_note() {
        let t = Tail::default();
        t.push(b"thread '<unnamed>' panicked at src/lib.rs:9:5:\nhostile: it traps\n");
        t.push(b"note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n");
        assert_eq!(t.take_last_line().as_deref(), Some("hostile: it traps"));
        assert_eq!(t.take_last_line(), None, "taken once");
        t.push(&vec![b'x'; 10 * TAIL_BYTES]);
        assert_eq!(t.0.lock().unwrap().len(), TAIL_BYTES, "only the last bytes are kept");
    }
}
