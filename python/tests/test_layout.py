"""The binding's declarations against client/mqe2e.h, through the C
compiler: structure layouts, error codes, and each bound function's arity
and argument kinds.  A header change that the binding does not follow
fails here instead of corrupting memory at run time."""

from __future__ import annotations

import ctypes
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from mqe2e import ErrorCode, _lib

SRC = Path(__file__).resolve().parents[2]
CC = shlex.split(os.environ.get("CC") or "cc")
HEADER = SRC / "client/mqe2e.h"


@pytest.fixture(scope="module")
def compile_run(tmp_path_factory):
    if shutil.which(CC[0]) is None:
        pytest.skip(f"no C compiler ({CC[0]})")
    tmp = tmp_path_factory.mktemp("layout")

    def run(body: str, *, link: bool = True) -> str:
        src = tmp / "t.c"
        src.write_text("#include <stddef.h>\n#include <stdio.h>\n#include \"mqe2e.h\"\n" + body)
        exe = tmp / "t"
        cmd = [*CC, "-std=c11", "-Wall", "-Werror", f"-I{SRC}/client", f"-I{SRC}/core",
               str(src), "-o", str(exe)]
        if not link:
            cmd[-2:] = ["-c", "-o", str(tmp / "t.o")]
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, f"{' '.join(cmd)}:\n{r.stderr}"
        if not link:
            return ""
        # the compiler's flags may ask for the sanitizers: let them run quietly
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
        env.pop("LD_PRELOAD", None)
        return subprocess.run([str(exe)], capture_output=True, text=True, check=True,
                              env=env).stdout
    return run


@pytest.mark.parametrize("struct,cname", [(_lib.Message, "mqe2e_message"),
                                          (_lib.ErrorInfo, "mqe2e_error")])
def test_struct_layout(compile_run, struct, cname):
    lines = [f'printf("sizeof %zu\\n", sizeof(struct {cname}));']
    for field, _ in struct._fields_:
        lines.append(f'printf("{field} %zu %zu\\n", offsetof(struct {cname}, {field}), '
                     f'sizeof(((struct {cname} *)0)->{field}));')
    out = compile_run("int main(void) {\n" + "\n".join(lines) + "\nreturn 0;\n}\n")
    c = dict((ln.split()[0], tuple(map(int, ln.split()[1:]))) for ln in out.splitlines())
    assert c.pop("sizeof") == (ctypes.sizeof(struct),)
    py = {f: (getattr(struct, f).offset, getattr(struct, f).size) for f, _ in struct._fields_}
    assert py == c


def test_error_codes(compile_run):
    body = "int main(void) {\n" + "".join(
        f'printf("{e.name} %d\\n", (int)MQE2E_{"ERR_" if e.value else ""}{e.name});\n'
        for e in ErrorCode) + 'printf("COUNT %d\\n", MQE2E_ERR__COUNT);\nreturn 0;\n}\n'
    out = dict((a, int(b)) for a, b in (ln.split() for ln in compile_run(body).splitlines()))
    assert out.pop("COUNT") == len(ErrorCode), "the header has error codes the binding lacks"
    assert out == {e.name: e.value for e in ErrorCode}


_C_ARG = {ctypes.c_int: "(int)0", ctypes.c_size_t: "(size_t)0", ctypes.c_void_p: "(void *)0",
          ctypes.c_char_p: "(char *)0", ctypes.POINTER(ctypes.c_void_p): "(void *)0",
          _lib.MESSAGE_CB: "(mqe2e_message_cb)0", _lib.ERROR_CB: "(mqe2e_error_cb)0",
          _lib.STATE_CB: "(mqe2e_state_cb)0"}
_C_RET = {ctypes.c_int: "int", ctypes.c_char_p: "const char *"}


def test_function_declarations(compile_run):
    """Each bound function, called with arguments of the kinds the binding
    passes: -Werror rejects a wrong count or an int where a pointer goes
    (and the reverse), and the result's kind."""
    calls = []
    for i, (fn, (restype, argtypes)) in enumerate(_lib._PROTOTYPES.items()):
        args = ", ".join(_C_ARG[a] for a in argtypes)
        if restype is None:
            calls.append(f"\t{fn}({args});")
        else:
            calls.append(f"\t{{ {_C_RET[restype]} r{i} = {fn}({args}); (void)r{i}; }}")
    compile_run("void f(void);\nvoid f(void)\n{\n" + "\n".join(calls) + "\n}\n", link=False)
