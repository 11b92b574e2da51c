//! Channels: queues from Elixir to Python, bounded in bytes.
//!
//! Messages are kept in the external term format (or as raw bytes in a bytes
//! channel), so `max_size` counts real bytes and any interpreter can read them. A
//! send never blocks: past `max_size` it answers `:busy`. Python waits for a message
//! with its frame parked (GIL released, nested work served, the call's cancellation
//! ending the wait); a closed channel delivers what is queued, then reports closed.
//! The channel closes when its owner process dies or `close/1` is called.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use pyo3::exceptions::{PyTimeoutError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCFunction, PyDict, PyTuple};
use pyo3::IntoPyObjectExt;
use rustler::{Env, LocalPid, Monitor, Resource};

use crate::bridge::View;
use crate::worker::{Received, Worker};

pub struct Channel {
    pub id: u64,
    tx: Mutex<Option<flume::Sender<Vec<u8>>>>,
    rx: flume::Receiver<Vec<u8>>,
    bytes: AtomicUsize,
    /// Messages ever sent (and closes): a waiting frame spins on it.
    sends: AtomicU64,
    /// Bytes of queued messages allowed; 0 means unbounded.
    pub max_size: usize,
    pub bytes_mode: bool,
    pub owner: LocalPid,
    /// Live `ChannelRef` resources: the channel closes when the last one goes.
    handles: AtomicUsize,
}

/// The resource behind `%Py.Channel{}`. There may be several for one channel: a
/// Python `erlang.Channel` returned to Elixir gets one of its own.
pub struct ChannelRef(pub Arc<Channel>);

impl ChannelRef {
    pub fn new(channel: Arc<Channel>) -> ChannelRef {
        channel.handles.fetch_add(1, Ordering::AcqRel);
        ChannelRef(channel)
    }
}

#[rustler::resource_impl]
impl Resource for ChannelRef {
    fn down<'a>(&'a self, _env: Env<'a>, _pid: LocalPid, _monitor: Monitor) {
        self.0.close();
    }

    fn destructor(self, _env: Env<'_>) {
        // Nobody can send any more: what is queued can still be read.
        if self.0.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.close();
        }
    }
}

pub enum Sent {
    Ok,
    Busy,
    Closed,
}

fn registry() -> &'static DashMap<u64, Arc<Channel>> {
    static CHANNELS: OnceLock<DashMap<u64, Arc<Channel>>> = OnceLock::new();
    CHANNELS.get_or_init(DashMap::new)
}

impl Channel {
    pub fn open(max_size: usize, bytes_mode: bool, owner: LocalPid) -> Arc<Channel> {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        let (tx, rx) = flume::unbounded();
        let channel = Arc::new(Channel {
            id: NEXT.fetch_add(1, Ordering::Relaxed) as u64,
            tx: Mutex::new(Some(tx)),
            rx,
            bytes: AtomicUsize::new(0),
            sends: AtomicU64::new(0),
            max_size,
            bytes_mode,
            owner,
            handles: AtomicUsize::new(0),
        });
        registry().insert(channel.id, channel.clone());
        channel
    }

    pub fn find(id: u64) -> Option<Arc<Channel>> {
        registry().get(&id).map(|entry| entry.clone())
    }

    /// Queues `message` unless that would take the queued bytes past `max_size`.
    pub fn send(&self, message: Vec<u8>) -> Sent {
        let tx = self.tx.lock().unwrap_or_else(|poison| poison.into_inner());
        let Some(tx) = tx.as_ref() else {
            return Sent::Closed;
        };
        let size = message.len();
        let reserved = self
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                let fits = self.max_size == 0 || queued + size <= self.max_size;
                fits.then_some(queued + size)
            });
        if reserved.is_err() {
            return Sent::Busy;
        }
        match tx.send(message) {
            Ok(()) => {
                self.sends.fetch_add(1, Ordering::Release);
                Sent::Ok
            }
            Err(_) => Sent::Closed,
        }
    }

    pub fn close(&self) {
        self.tx
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .take();
        self.sends.fetch_add(1, Ordering::Release);
        if self.rx.is_empty() {
            registry().remove(&self.id);
        }
    }

    pub fn is_closed(&self) -> bool {
        self.tx
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .is_none()
    }

    pub fn queued(&self) -> (usize, usize) {
        (self.rx.len(), self.bytes.load(Ordering::Acquire))
    }

    fn taken(&self, message: &[u8]) {
        self.bytes.fetch_sub(message.len(), Ordering::AcqRel);
    }

    /// Drained and closed: nothing more will ever come.
    fn finished(&self) {
        registry().remove(&self.id);
    }
}

/// What Python gets for a message.
fn to_python<'py>(py: Python<'py>, channel: &Channel, message: &[u8]) -> PyResult<Py<PyAny>> {
    if channel.bytes_mode {
        return Ok(PyBytes::new(py, message).into_any().unbind());
    }
    Ok(View::current(py)?.decode_etf(py, message)?.unbind())
}

fn closed(py: Python<'_>) -> PyErr {
    match py
        .import("erlang")
        .and_then(|erlang| erlang.getattr("ChannelClosed"))
    {
        Ok(class) => match class.call0() {
            Ok(error) => PyErr::from_value(error),
            Err(err) => err,
        },
        Err(err) => err,
    }
}

fn channel_arg(args: &Bound<'_, PyTuple>) -> PyResult<Option<Arc<Channel>>> {
    let id: u64 = args
        .get_item(0)?
        .extract()
        .map_err(|_| PyTypeError::new_err("expected a channel id"))?;
    Ok(Channel::find(id))
}

/// `_chan_receive(id, timeout)`: the next message; raises `ChannelClosed` once the
/// channel is closed and drained, `TimeoutError` after `timeout` seconds.
fn receive(args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
    let py = args.py();
    let Some(channel) = channel_arg(args)? else {
        return Err(closed(py));
    };
    let timeout: Option<f64> = args.get_item(1)?.extract()?;
    let deadline =
        timeout.map(|seconds| Instant::now() + Duration::from_secs_f64(seconds.max(0.0)));
    let received = match Worker::current()
        .and_then(|worker| worker.wait_parked(py, &channel.rx, &channel.sends, deadline))
    {
        Some(received) => received?,
        // A thread that runs no request: a plain wait, detached.
        None => py.detach(|| match deadline {
            Some(deadline) => match channel.rx.recv_deadline(deadline) {
                Ok(message) => Received::Message(message),
                Err(flume::RecvTimeoutError::Timeout) => Received::TimedOut,
                Err(flume::RecvTimeoutError::Disconnected) => Received::Closed,
            },
            None => match channel.rx.recv() {
                Ok(message) => Received::Message(message),
                Err(_) => Received::Closed,
            },
        }),
    };
    match received {
        Received::Message(message) => {
            channel.taken(&message);
            to_python(py, &channel, &message)
        }
        Received::Closed => {
            channel.finished();
            Err(closed(py))
        }
        Received::TimedOut => Err(PyTimeoutError::new_err("no message on the channel in time")),
    }
}

/// `_chan_try_receive(id)`: the next message, or `None` when none is queued.
fn try_receive(args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
    let py = args.py();
    let Some(channel) = channel_arg(args)? else {
        return Err(closed(py));
    };
    match channel.rx.try_recv() {
        Ok(message) => {
            channel.taken(&message);
            to_python(py, &channel, &message)
        }
        Err(flume::TryRecvError::Empty) => Ok(py.None()),
        Err(flume::TryRecvError::Disconnected) => {
            channel.finished();
            Err(closed(py))
        }
    }
}

/// `_chan_closed(id)`: closed and drained.
fn is_finished(args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
    let finished = match channel_arg(args)? {
        Some(channel) => channel.is_closed() && channel.rx.is_empty(),
        None => true,
    };
    finished.into_py_any(args.py())
}

pub fn install(py: Python<'_>, namespace: &Bound<'_, PyDict>) -> PyResult<()> {
    type Body = fn(&Bound<'_, PyTuple>) -> PyResult<Py<PyAny>>;
    let functions: [(&'static std::ffi::CStr, &str, Body); 3] = [
        (c"_chan_receive", "_chan_receive", receive),
        (c"_chan_try_receive", "_chan_try_receive", try_receive),
        (c"_chan_closed", "_chan_closed", is_finished),
    ];
    for (name, attribute, body) in functions {
        let function = PyCFunction::new_closure(
            py,
            Some(name),
            None,
            move |args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>| body(args),
        )?;
        namespace.set_item(attribute, function)?;
    }
    Ok(())
}

/// The Python side: `erlang.Channel`, `erlang.ByteChannel`, `erlang.ChannelClosed`,
/// and the `erlang.channel` module (`from erlang.channel import Channel, reply`).
pub const SOURCE: &std::ffi::CStr = c"
class ChannelClosed(Exception):
    '''The channel is closed and every message in it has been read.'''

class Channel:
    '''A channel from Elixir (Py.Channel), passed to Python as an argument. Iterate
    it (sync or async) until it closes, or receive one message at a time.'''
    __slots__ = ('_id',)

    def __init__(self, id):
        self._id = id

    def receive(self, timeout=None):
        '''The next message; ChannelClosed once closed and drained, TimeoutError after
        `timeout` seconds. Waits with the GIL released.'''
        return _chan_receive(self._id, timeout)

    def try_receive(self):
        '''The next message, or None when none is queued.'''
        return _chan_try_receive(self._id)

    def _is_closed(self):
        return _chan_closed(self._id)

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return _chan_receive(self._id, None)
        except ChannelClosed:
            raise StopIteration from None

    async def async_receive(self, timeout=None):
        '''Like receive(), without blocking the event loop.'''
        import asyncio
        return await asyncio.get_running_loop().run_in_executor(
            None, _chan_receive, self._id, timeout)

    def __aiter__(self):
        return self

    async def __anext__(self):
        try:
            return await self.async_receive()
        except ChannelClosed:
            raise StopAsyncIteration from None

    def __repr__(self):
        return '<erlang.Channel %d>' % self._id

class ByteChannel(Channel):
    '''A bytes channel (Py.Channel.new(mode: :bytes)), read like a binary file.'''
    __slots__ = ('_buffer', '_eof')

    def __init__(self, id):
        super().__init__(id)
        self._buffer = bytearray()
        self._eof = False

    def _fill(self):
        if self._eof:
            return False
        try:
            self._buffer += _chan_receive(self._id, None)
            return True
        except ChannelClosed:
            self._eof = True
            return False

    def read(self, size=-1):
        '''Up to `size` bytes (all until close when negative); b'' at the end.'''
        if size is None or size < 0:
            while self._fill():
                pass
            size = len(self._buffer)
        while len(self._buffer) < size and self._fill():
            pass
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def readline(self):
        '''The next line, with its newline; b'' at the end.'''
        while b'\\n' not in self._buffer and self._fill():
            pass
        end = self._buffer.find(b'\\n')
        end = len(self._buffer) if end < 0 else end + 1
        data = bytes(self._buffer[:end])
        del self._buffer[:end]
        return data

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

def _channel(id, bytes_mode):
    return ByteChannel(id) if bytes_mode else Channel(id)

def _make_channel_module():
    import sys, types
    module = types.ModuleType('erlang.channel', 'Channels from Elixir.')
    def reply(pid, term):
        '''Sends `term` to `pid` (erlang.send) and returns True.'''
        send(pid, term)
        return True
    module.Channel = Channel
    module.ByteChannel = ByteChannel
    module.ChannelClosed = ChannelClosed
    module.reply = reply
    sys.modules['erlang.channel'] = module
    return module

channel = _make_channel_module()
";
