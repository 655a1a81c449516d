"""C, C++ and CUDA: ``#include "x.h"``, ``#include <x.h>``, ``#import``, ``#include_next``.

Resolution, the first rule that finds a repository file wins (one file per directive, as a
compiler picks one):
1. quoted includes: relative to the including file's directory;
2. relative to the repository's *include dirs*: the root, and every directory named ``include``,
   ``inc`` or ``includes``;
3. by path suffix: any repository file whose path ends with ``/<spec>``; among several, the one
   sharing the most leading directories with the includer (then the shortest, then path order).
   The directories that this rule finds for quoted includes (the file's path minus ``<spec>``)
   are *learned include dirs* (a project's ``-I`` flags), collected over all files first.
Angle-bracket includes use rules 2 and 3 only; a standard C/C++, POSIX or Windows header name
(``<stdio.h>``, ``<vector>``, ``<sys/types.h>``, see ``SYSTEM_HEADERS``) resolves by suffix only
into an include dir (fixed or learned), so it never lands on a stray ``compat/stdio.h``. Code
inside ``#if 0`` is skipped; other conditionals are not evaluated (every branch counts).
"""

from __future__ import annotations

import re
from typing import Any

from ._base import Found, Repo, closest, dirname, found, join, norm, quoted_at

LANGUAGES = frozenset({"c", "cpp", "cuda"})

_INCLUDE = re.compile(r"^[ \t]*#[ \t]*(?:include|import|include_next)[ \t]*([<\"])", re.M)
_IF0 = re.compile(r"^[ \t]*#[ \t]*if[ \t]+0\b.*$", re.M)
_COND = re.compile(r"^[ \t]*#[ \t]*(if|ifdef|ifndef|endif|else|elif)\b", re.M)
_INCLUDE_DIR_NAMES = {"include", "inc", "includes"}
# Headers of the C/C++ standard libraries, POSIX and Windows: an angle-bracket include of one of
# these resolves inside the repository only through an include dir (fixed or learned), never by
# a path-suffix match (a repository's compat/stdio.h is not what <stdio.h> means elsewhere).
SYSTEM_HEADERS = frozenset(
    """assert.h complex.h ctype.h errno.h fenv.h float.h inttypes.h iso646.h limits.h locale.h
    math.h setjmp.h signal.h stdalign.h stdarg.h stdatomic.h stdbool.h stddef.h stdint.h stdio.h
    stdlib.h stdnoreturn.h string.h tgmath.h threads.h time.h uchar.h wchar.h wctype.h
    aio.h arpa/inet.h cpio.h dirent.h dlfcn.h fcntl.h fnmatch.h glob.h grp.h iconv.h langinfo.h
    libgen.h malloc.h monetary.h mqueue.h netdb.h net/if.h netinet/in.h netinet/tcp.h nl_types.h
    poll.h pthread.h pwd.h regex.h sched.h search.h semaphore.h spawn.h strings.h syslog.h
    tar.h termios.h ulimit.h unistd.h utime.h utmpx.h wordexp.h alloca.h endian.h execinfo.h
    getopt.h memory.h ifaddrs.h utmp.h paths.h err.h mntent.h kvm.h libproc.h sys/types.h sys/stat.h sys/time.h sys/socket.h sys/wait.h sys/mman.h
    sys/ioctl.h sys/param.h sys/resource.h sys/select.h sys/uio.h sys/un.h sys/utsname.h
    sys/sysctl.h sys/file.h sys/times.h sys/statvfs.h sys/syscall.h sys/prctl.h sys/epoll.h
    windows.h winsock2.h ws2tcpip.h winbase.h windef.h winnt.h winerror.h io.h direct.h
    process.h conio.h tchar.h intrin.h immintrin.h emmintrin.h xmmintrin.h arm_neon.h
    algorithm any array atomic barrier bit bitset cassert ccomplex cctype cerrno cfenv cfloat
    charconv chrono cinttypes climits clocale cmath codecvt compare complex concepts
    condition_variable coroutine csetjmp csignal cstdarg cstddef cstdint cstdio cstdlib cstring
    ctime cuchar cwchar cwctype deque exception execution expected filesystem format
    forward_list fstream functional future initializer_list iomanip ios iosfwd iostream istream
    iterator latch limits list locale map memory memory_resource mutex new numbers numeric
    optional ostream queue random ranges ratio regex scoped_allocator semaphore set
    shared_mutex source_location span sstream stack stdexcept stop_token streambuf string
    string_view syncstream system_error thread tuple type_traits typeindex typeinfo
    unordered_map unordered_set utility valarray variant vector version""".split()
)
SYSTEM_PREFIXES = ("sys/", "linux/", "asm/", "net/", "netinet/", "arpa/", "mach/", "machine/")


def prepare(repo: Repo) -> dict[str, Any]:
    fixed = [""] + sorted(
        d for d in repo.all_dirs if d and d.rsplit("/", 1)[-1] in _INCLUDE_DIR_NAMES
    )
    ctx: dict[str, Any] = {"fixed": fixed, "learned": set(), "specs": {}}
    # First pass: every directive of every file; quoted includes found by suffix teach the
    # include dirs that angle-bracket includes may then use (independent of file order).
    for path in sorted(repo.paths):
        if repo.languages.get(path) in LANGUAGES:
            specs = _directives(repo, path)
            ctx["specs"][path] = specs
            for spec, quoted in specs:
                if quoted:
                    _resolve(repo, ctx, path, spec, True, learn=True)
    return ctx


def _strip_if0(masked: str) -> str:
    if "#" not in masked or not _IF0.search(masked):
        return masked
    out = list(masked)
    for m in _IF0.finditer(masked):
        depth = 0
        for c in _COND.finditer(masked, m.start()):
            kw = c.group(1)
            if kw.startswith("if"):
                depth += 1
            elif kw == "endif":
                depth -= 1
                if depth == 0:
                    end = c.start()
                    break
            elif depth == 1:  # #else / #elif of the #if 0: code after it is live
                end = c.start()
                break
        else:
            end = len(masked)
        for i in range(m.start(), end):
            if out[i] != "\n":
                out[i] = " "
    return "".join(out)


def _suffix_candidates(repo: Repo, spec: str) -> list[str]:
    base = spec.rsplit("/", 1)[-1]
    return [p for p in repo.by_basename.get(base, []) if p == spec or p.endswith("/" + spec)]


def _resolve(
    repo: Repo, ctx: dict[str, Any], path: str, spec: str, quoted: bool, learn: bool = False
) -> str | None:
    spec = spec.strip()
    if not spec or "\n" in spec:
        return None
    if quoted:
        p = norm(join(dirname(path), spec))
        if p and p in repo.paths:
            return p
    for d in ctx["fixed"]:
        p = norm(join(d, spec))
        if p and p in repo.paths:
            return p
    clean = norm(spec)
    if not clean or spec.startswith(("../", "./")):
        return None
    cands = _suffix_candidates(repo, clean)
    if not cands:
        return None
    if not quoted and (clean in SYSTEM_HEADERS or clean.startswith(SYSTEM_PREFIXES)):
        inc = set(ctx["fixed"]) | ctx["learned"]
        cands = [c for c in cands if c[: len(c) - len(clean)].rstrip("/") in inc]
    best = closest(path, cands)
    if best is not None and learn:
        ctx["learned"].add(best[: len(best) - len(clean)].rstrip("/"))
    return best


def _directives(repo: Repo, path: str) -> list[tuple[str, bool]]:
    text = repo.text(path)
    if "include" not in text and "import" not in text:
        return []
    masked = _strip_if0(repo.masked(path, "c"))
    out: list[tuple[str, bool]] = []
    for m in _INCLUDE.finditer(masked):
        q = m.start(1)
        if m.group(1) == '"':
            spec = quoted_at(text, masked, q)
            quoted = True
        else:
            end = masked.find(">", q + 1)
            nl = masked.find("\n", q + 1)
            if end < 0 or (0 <= nl < end):
                continue
            spec = text[q + 1 : end]
            quoted = False
        if spec is not None:
            out.append((spec, quoted))
    return out


def resolve_file(repo: Repo, ctx: dict[str, Any], path: str) -> list[Found]:
    specs = ctx["specs"].get(path)
    if specs is None:
        specs = _directives(repo, path)
    results: list[Found] = []
    for spec, quoted in specs:
        target = _resolve(repo, ctx, path, spec, quoted)
        results.append(found([target] if target else []))
    return results
