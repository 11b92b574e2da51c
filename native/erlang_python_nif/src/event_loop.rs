//! The asyncio event loop of an interpreter, as Python source run into the `erlang`
//! module: `Py.EventLoop` submits coroutines to it.
//!
//! The loop runs on a Python thread of its own, one per interpreter (worker contexts
//! share the main interpreter's; each subinterpreter has its own), started on first
//! use. Submissions wake it through asyncio's own self-pipe
//! (`call_soon_threadsafe`): no polling. Each task sends its creator
//! `{ref, {:output, text}}` for what it prints (routed by a ContextVar, not by
//! thread) and `{ref, result}` when done. Cancellation pops the task from a registry
//! under a lock first, so a cancelled task never sends anything afterwards, and
//! cancels it with `task.cancel()` (its `finally` runs). Tasks hold a semaphore permit
//! from submission to completion.

pub const SOURCE: &std::ffi::CStr = c"
import contextvars as _contextvars
import threading as _threading
from inspect import isawaitable as _isawaitable

_task_output = _contextvars.ContextVar('erlang_task_output', default=None)

class _TaskEntry:
    __slots__ = ('pid', 'ref', 'task', 'cancelled')

    def __init__(self, pid, ref):
        self.pid = pid
        self.ref = ref
        self.task = None
        self.cancelled = False

def _error_of(error):
    import traceback
    kind = type(error)
    name = kind.__qualname__
    if kind.__module__ != 'builtins':
        name = kind.__module__ + '.' + name
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    return (atom('python'), name, str(error), lines)

class _EventLoop:
    def __init__(self):
        import asyncio
        self.loop = asyncio.new_event_loop()
        self.tasks = {}
        self.lock = _threading.Lock()
        ready = _threading.Event()
        # Subinterpreters allow no daemon threads; their loop is stopped before the
        # interpreter ends.
        self.thread = _threading.Thread(
            target=self._run, args=(ready,), name='erlang-event-loop',
            daemon=_MAIN_INTERPRETER)
        self.thread.start()
        ready.wait()

    def _run(self, ready):
        import asyncio
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(ready.set)
        self.loop.run_forever()

    def submit(self, ref, pid, module, function, args, kwargs):
        overloaded = _permit_acquire()
        if overloaded is not None:
            return (atom('overloaded'),) + overloaded
        entry = _TaskEntry(pid, ref)
        with self.lock:
            self.tasks[ref] = entry
        self.loop.call_soon_threadsafe(self._start, entry, module, function, args, kwargs)
        return atom('ok')

    def _start(self, entry, module, function, args, kwargs):
        if entry.cancelled:
            _permit_release()
            return
        context = _contextvars.copy_context()
        if entry.pid is not None:
            context.run(_task_output.set, entry)
        task = self.loop.create_task(
            _invoke(module, function, args, kwargs), context=context)
        entry.task = task
        task.add_done_callback(lambda task: self._done(entry, task))

    def _done(self, entry, task):
        _permit_release()
        with self.lock:
            mine = self.tasks.get(entry.ref) is entry
            if mine:
                del self.tasks[entry.ref]
        if not mine or entry.pid is None:
            return
        if task.cancelled():
            outcome = (atom('error'), atom('cancelled'))
        elif task.exception() is not None:
            outcome = (atom('error'), _error_of(task.exception()))
        else:
            outcome = (atom('ok'), task.result())
        try:
            send(entry.pid, (entry.ref, outcome))
        except Exception as error:
            send(entry.pid, (entry.ref, (atom('error'), (atom('invalid'), str(error)))))

    def cancel(self, ref):
        with self.lock:
            entry = self.tasks.pop(ref, None)
            if entry is None:
                return atom('replied')
            entry.cancelled = True
        self.loop.call_soon_threadsafe(self._cancel, entry)
        return atom('cancelled')

    def _cancel(self, entry):
        if entry.task is not None:
            entry.task.cancel()

    def shutdown(self):
        def stop():
            for task in list(self.tasks.values()):
                if task.task is not None:
                    task.task.cancel()
            self.loop.call_soon(self.loop.stop)
        self.loop.call_soon_threadsafe(stop)
        self.thread.join(5)

_functions = {}

async def _invoke(module, function, args, kwargs):
    # Looked up once per name: a task should cost a coroutine, not an import.
    target = _functions.get((module, function))
    if target is None:
        target = _functions[(module, function)] = _resolve(module, function)
    result = target(*args, **kwargs) if kwargs else target(*args)
    if _isawaitable(result):
        result = await result
    return result

_loop = None
_loop_lock = _threading.Lock()

def _event_loop():
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = _EventLoop()
        return _loop

def _task_submit(ref, pid, module, function, args, kwargs):
    return _event_loop().submit(ref, pid, module, function, args, kwargs)

def _task_cancel(ref):
    return atom('replied') if _loop is None else _loop.cancel(ref)

def _loop_shutdown():
    global _loop
    with _loop_lock:
        loop, _loop = _loop, None
    if loop is not None:
        loop.shutdown()

async def async_call(name, *args):
    '''Awaits the Elixir function registered as `name` without blocking the loop.'''
    import asyncio
    return await asyncio.get_running_loop().run_in_executor(None, lambda: call(name, *args))
";
