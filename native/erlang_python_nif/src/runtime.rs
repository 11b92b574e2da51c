//! Starting CPython inside the BEAM, once per VM.
//!
//! Initialisation happens on a dedicated thread that keeps the main thread state and
//! then serves as the watchdog (see `watchdog.rs`). A second thread, the janitor,
//! releases main-interpreter objects whose handles the BEAM garbage collected.

use std::ffi::{c_void, CStr, CString};
use std::sync::{Mutex, OnceLock};

use pyo3::ffi;
use pyo3::prelude::*;
use rustler::LocalPid;

use crate::audit;
use crate::convert::ErlangTypes;
use crate::erlang_module;
use crate::object::{Home, Orphan};
use crate::output;
use crate::watchdog;

pub struct Runtime {
    pub info: Info,
    /// Releases objects of the main interpreter.
    pub home: Home,
}

pub struct Info {
    pub version: String,
    pub version_info: (u32, u32, u32),
    pub free_threaded: bool,
    pub gil_enabled: bool,
    pub executable: String,
    pub prefix: String,
    pub base_prefix: String,
}

impl Info {
    pub fn subinterpreters(&self) -> bool {
        (self.version_info.0, self.version_info.1) >= (3, 12)
    }
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static MAIN_TYPES: OnceLock<ErlangTypes> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

pub fn get() -> Option<&'static Runtime> {
    RUNTIME.get()
}

/// The `erlang.Pid`/`erlang.Ref` classes of the main interpreter.
pub fn main_types(py: Python<'_>) -> PyResult<ErlangTypes> {
    let types = MAIN_TYPES
        .get()
        .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("runtime not initialised"))?;
    Ok(ErlangTypes {
        pid: types.pid.clone_ref(py),
        reference: types.reference.clone_ref(py),
        buffer: types.buffer.clone_ref(py),
        callback_error: types.callback_error.clone_ref(py),
        atom: types.atom.clone_ref(py),
    })
}

/// Starts Python for the interpreter at `python` (its path decides `sys.executable`,
/// `sys.prefix` and the venv). Later calls return the running runtime.
pub fn init(python: &str, relay: LocalPid) -> Result<&'static Runtime, String> {
    let _serialised = INIT.lock().unwrap_or_else(|poison| poison.into_inner());
    output::set_relay(relay);
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let program = CString::new(python).map_err(|_| "interpreter path contains a NUL byte")?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("py-runtime".into())
        .spawn(move || {
            // SAFETY: runs once (guarded by INIT), before any other thread uses Python.
            let started = unsafe { start_python(&program) };
            match started {
                Ok(tstate) => {
                    let _ = ready_tx.send(Ok(()));
                    watchdog::serve(tstate);
                }
                Err(why) => {
                    let _ = ready_tx.send(Err(why));
                }
            }
        })
        .map_err(|err| format!("cannot start the runtime thread: {err}"))?;
    ready_rx
        .recv()
        .map_err(|_| "the runtime thread stopped during start-up".to_string())??;

    let (release_tx, release_rx) = flume::unbounded();
    std::thread::Builder::new()
        .name("py-janitor".into())
        .spawn(move || janitor(release_rx))
        .map_err(|err| format!("cannot start the janitor thread: {err}"))?;

    // Errors are turned into text while attached: a Python error holds objects that
    // must not be dropped without an attached thread state.
    let info = Python::attach(|py| {
        crate::convert::compact_int::enable(py);
        read_info(py).map_err(|err| err.to_string())
    });
    // The attach above made a thread state for this (dirty scheduler) thread; it stays
    // registered but detached, and is never used for requests.
    // SAFETY: the main interpreter lives as long as the process.
    let main_interp = unsafe { ffi::PyInterpreterState_GetID(ffi::PyInterpreterState_Main()) };
    let runtime = Runtime {
        info: info?,
        home: Home::janitor(release_tx, main_interp),
    };
    Ok(RUNTIME.get_or_init(|| runtime))
}

/// Initialises CPython and returns the detached main thread state.
///
/// # Safety
/// Must run once per process, on the thread that will keep the main thread state.
unsafe fn start_python(program: &CStr) -> Result<*mut ffi::PyThreadState, String> {
    promote_libpython()?;
    if ffi::Py_IsInitialized() == 0 {
        let mut config = std::mem::MaybeUninit::<ffi::PyConfig>::zeroed();
        ffi::PyConfig_InitPythonConfig(config.as_mut_ptr());
        let config = config.assume_init_mut();
        // No Python signal handlers in the BEAM, and no argv parsing of the VM's argv.
        config.install_signal_handlers = 0;
        config.parse_argv = 0;
        let status =
            ffi::PyConfig_SetBytesString(config, &mut config.program_name, program.as_ptr());
        check(status, config)?;
        let status = ffi::Py_InitializeFromConfig(config);
        check(status, config)?;
        ffi::PyConfig_Clear(config);
    } else {
        ffi::PyGILState_Ensure();
    }
    let types = Python::attach(|py| {
        let prepared = erlang_module::install(py, true).and_then(|types| {
            py.import("sys")?
                .setattr("executable", program.to_string_lossy().as_ref())?;
            Ok(types)
        });
        prepared.map_err(|err| format!("cannot prepare the interpreter: {err}"))
    })?;
    if !audit::install() {
        return Err("cannot install the audit hook".into());
    }
    let _ = MAIN_TYPES.set(types);
    Ok(ffi::PyEval_SaveThread())
}

unsafe fn check(status: ffi::PyStatus, config: &mut ffi::PyConfig) -> Result<(), String> {
    if ffi::PyStatus_Exception(status) == 0 {
        return Ok(());
    }
    let why = if status.err_msg.is_null() {
        "Python initialisation failed".to_string()
    } else {
        CStr::from_ptr(status.err_msg)
            .to_string_lossy()
            .into_owned()
    };
    ffi::PyConfig_Clear(config);
    Err(why)
}

/// The BEAM loads NIFs with local symbol scope, so C extensions (numpy, and the stdlib's
/// own `math` on a `--enable-shared` build) cannot see libpython's symbols. Reopening
/// libpython with RTLD_GLOBAL before the first import fixes that.
unsafe fn promote_libpython() -> Result<(), String> {
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    let symbol = ffi::Py_IsInitialized as *const c_void;
    if libc::dladdr(symbol, info.as_mut_ptr()) == 0 {
        return Err("cannot locate libpython in memory".into());
    }
    let info = info.assume_init();
    let handle = libc::dlopen(
        info.dli_fname,
        libc::RTLD_NOW | libc::RTLD_GLOBAL | libc::RTLD_NOLOAD,
    );
    if handle.is_null() {
        let why = CStr::from_ptr(libc::dlerror())
            .to_string_lossy()
            .into_owned();
        return Err(format!("cannot give libpython global symbol scope: {why}"));
    }
    Ok(())
}

fn read_info(py: Python<'_>) -> PyResult<Info> {
    let sys = py.import("sys")?;
    let version_info = sys.getattr("version_info")?;
    let gil_enabled = match sys.getattr("_is_gil_enabled") {
        Ok(check) => check.call0()?.extract()?,
        Err(_) => true,
    };
    Ok(Info {
        version: sys.getattr("version")?.extract()?,
        version_info: (
            version_info.getattr("major")?.extract()?,
            version_info.getattr("minor")?.extract()?,
            version_info.getattr("micro")?.extract()?,
        ),
        free_threaded: cfg!(Py_GIL_DISABLED),
        gil_enabled,
        executable: sys.getattr("executable")?.extract()?,
        prefix: sys.getattr("prefix")?.extract()?,
        base_prefix: sys.getattr("base_prefix")?.extract()?,
    })
}

/// Releases main-interpreter objects handed over by handle destructors, in batches.
fn janitor(rx: flume::Receiver<Orphan>) {
    // SAFETY: the runtime is initialised; see `attached`.
    let tstate = unsafe {
        ffi::PyGILState_Ensure();
        ffi::PyEval_SaveThread()
    };
    while let Ok(first) = rx.recv() {
        attached(tstate, |py| {
            first.release(py);
            for orphan in rx.try_iter().take(4096) {
                orphan.release(py);
            }
        });
    }
}

/// Runs `f` attached to this thread's own, otherwise detached, Python thread state.
pub fn attached<R>(tstate: *mut ffi::PyThreadState, f: impl FnOnce(Python<'_>) -> R) -> R {
    // SAFETY: `tstate` belongs to the calling thread and is detached between calls.
    unsafe { ffi::PyEval_RestoreThread(tstate) };
    let result = Python::attach(f);
    // SAFETY: re-detaches the state restored above.
    unsafe { ffi::PyEval_SaveThread() };
    result
}
