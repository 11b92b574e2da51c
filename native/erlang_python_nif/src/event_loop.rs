//! The asyncio event loop of an interpreter, as Python source run into the `erlang`
//! module: `Py.EventLoop` submits coroutines to it.
//!
//! The loop runs on a Python thread of its own, one per interpreter (worker contexts
//! share the main interpreter's; each subinterpreter has its own), started on first
//! use. Tasks arrive through the interpreter's inbox (`task.rs`): the loop selects on
//! its eventfd and takes every queued task at once, so submission never waits for the
//! GIL and a burst costs one wake-up. Each task sends its creator
//! `{ref, {:output, text}}` for what it prints (routed by a ContextVar, not by thread)
//! and `{ref, result}` when done; the reply, cancellation and permit bookkeeping live
//! in `task.rs`.

pub const SOURCE: &std::ffi::CStr = c"
import contextvars as _contextvars
import sys as _sys
import threading as _threading
from functools import partial as _partial
from inspect import isawaitable as _isawaitable

_task_output = _contextvars.ContextVar('erlang_task_output', default=None)

def _error_of(error):
    import traceback
    kind = type(error)
    name = kind.__qualname__
    if kind.__module__ != 'builtins':
        name = kind.__module__ + '.' + name
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    return (atom('python'), name, str(error), lines)

_functions = {}
_CancelledError = None

def _target(module, function):
    # Looked up once per name: a task should cost a coroutine, not an import.
    target = _functions.get((module, function))
    if target is None:
        target = _functions[(module, function)] = _resolve(module, function)
    return target

async def _awaiting(awaitable):
    return await awaitable

from types import CoroutineType as _CoroutineType

def _settle(id, task):
    try:
        value = task.result()
    except _CancelledError:
        _task_finish(id, 2, None)
    except BaseException as error:
        _task_finish(id, 1, _error_of(error))
    else:
        _task_finish(id, 0, value)

def _selector():
    import selectors

    class _InboxSelector(selectors.DefaultSelector):
        # Before blocking, asks the inbox: queued tasks make its eventfd ready at
        # once, and while the loop is awake submissions need no wake-up at all.
        inbox = None

        def select(self, timeout=None):
            if self.inbox is not None and _loop_idle(timeout):
                return [(self.get_key(self.inbox), selectors.EVENT_READ)]
            try:
                return super().select(timeout)
            finally:
                _loop_awake()

    return _InboxSelector()

class _EventLoop:
    def __init__(self):
        global _CancelledError
        import asyncio
        _CancelledError = asyncio.CancelledError
        self.selector = _selector()
        self.loop = asyncio.SelectorEventLoop(self.selector)
        self.tasks = {}
        if _sys.version_info >= (3, 12):
            # Eager tasks run their first step at once: a coroutine that finishes
            # without waiting never goes through the loop's queue.
            self.new_task = _partial(asyncio.Task, loop=self.loop, eager_start=True)
        else:
            self.new_task = self.loop.create_task
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
        fd = _loop_attach()
        self.loop.add_reader(fd, self._take)
        self.selector.inbox = fd
        ready.set()
        try:
            self.loop.run_forever()
        finally:
            _loop_detach()

    def _take(self):
        starts, cancels = _loop_take()
        tasks = self.tasks
        for id in cancels:
            task = tasks.get(id)
            if task is not None:
                task.cancel()
        if not starts:
            return
        new_task = self.new_task
        set_output = _task_output.set
        done = self._done
        for id, module, function, args, kwargs in starts:
            try:
                target = _functions.get((module, function)) or _target(module, function)
                result = target(*args, **kwargs) if kwargs else target(*args)
                if type(result) is not _CoroutineType:
                    if not _isawaitable(result):
                        _task_finish(id, 0, result)
                        continue
                    result = _awaiting(result)
                # The task copies the current context: its prints go to its creator.
                set_output(id)
                task = new_task(result)
            except BaseException as error:
                _task_finish(id, 1, _error_of(error))
                continue
            if task.done():
                _settle(id, task)
            else:
                tasks[id] = task
                task.add_done_callback(_partial(done, id))
        set_output(None)

    def _done(self, id, task):
        del self.tasks[id]
        _settle(id, task)

    def shutdown(self):
        def stop():
            for task in list(self.tasks.values()):
                task.cancel()
            self.loop.call_soon(self.loop.stop)
        self.loop.call_soon_threadsafe(stop)
        self.thread.join(5)

_loop = None
_loop_lock = _threading.Lock()

def _loop_start():
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = _EventLoop()

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
