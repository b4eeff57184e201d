#!/usr/bin/env python3
"""sh_lint.py - the harness rules of tests/lib.sh, checked in the test scripts.

Usage: sh_lint.py FILE...   prints one line per breach (FILE:LINE: ...) and
exits 1 if there is one, 0 if there is none, 2 if it cannot read a file.

The rules (docs/ARCHITECTURE.md, "Build and test"):

 1. Only a program goes into the background with a bare "&": then $! is the
    program's pid, which kill, wait and the clean-up at exit can reach.  A
    shell function, a builtin, a subshell "( ... )", a group "{ ...; }", a
    loop or another compound command, and a list "a && b" run in the
    background as a subshell of the test: $! is that subshell, and killing
    it leaves the program it runs right now going.  Those are started with
    t_bg_func PIDVAR FUNCTION [ARGS] (lib.sh) and stopped with t_kill_tree
    or waited for; a program may also go through t_bg PIDVAR PROGRAM.
 2. No test sets a trap on EXIT (or 0) of its own: lib.sh's t_cleanup is
    the one, and a test's own clean-up is a t_atexit step.  Only lib.sh
    may.

What is read: the shell grammar as far as these rules need it - words with
their quotes, $(...), ${...}, `...` and <(...) (whose insides are not
checked), comments, line continuations, here-documents (whose bodies are
skipped: they are data, or inner scripts that misbehave on purpose),
redirections, pipelines, lists, subshells, groups, if/while/until/for/
select/case, [[ ... ]], (( ... )) and function definitions.  A command
whose name is a variable ("$PROG", "$@") counts as a program: what it
holds is not known here.  Shell functions are the ones any of the FILEs
defines (the test libraries' functions are known to every test).
"""
import os
import re
import sys

META = set(" \t\n;&|()<>")
REDIR = re.compile(r"(\d*)(&>>|&>|>>|>&|>\||<<<|<<-|<<|<&|<>|>|<)")
ASSIGN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=")
FUNCDEF = re.compile(r"^\s*(?:function\s+)?([A-Za-z_][A-Za-z0-9_:.-]*)\s*\(\s*\)", re.M)
OPS = ("&&", "||", ";;&", ";;", ";&", "|&", "&", "|", ";", "(", ")")


class Lexer:
    """Tokens of one script: ('w', text, line), ('op', text, line),
    ('redir', text, line); a newline is ('op', '\\n', line)."""

    def __init__(self, text):
        self.s = text
        self.i = 0
        self.line = 1
        self.heredocs = []      # (delimiter, strip tabs) waiting for the next newline

    def peek(self, k=0):
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def adv(self, n=1):
        for _ in range(n):
            if self.i < len(self.s) and self.s[self.i] == "\n":
                self.line += 1
            self.i += 1

    def skip_single(self):                  # at ' ; past the closing '
        self.adv()
        while self.i < len(self.s) and self.peek() != "'":
            self.adv()
        self.adv()

    def skip_escape_or_expansion(self):
        """At a backslash (a continuation too), a backquote or $( / ${: past
        it and True; anywhere else False, nothing consumed."""
        c = self.peek()
        if c == "\\":
            self.adv(2)
        elif c == "`":
            self.skip_backquote()
        elif c == "$" and self.peek(1) in "({":
            self.adv()
            self.skip_nested()
        else:
            return False
        return True

    def skip_double(self):                  # at " ; past the closing "
        self.adv()
        while self.i < len(self.s):
            if self.peek() == '"':
                self.adv()
                return
            if not self.skip_escape_or_expansion():
                self.adv()

    def skip_backquote(self):
        self.adv()
        while self.i < len(self.s) and self.peek() != "`":
            self.adv(2 if self.peek() == "\\" else 1)
        self.adv()

    def skip_nested(self):                  # at ( or { ; past its match
        close = {"(": ")", "{": "}"}[self.peek()]
        opening = self.peek()
        depth = 0
        while self.i < len(self.s):
            c = self.peek()
            if self.skip_escape_or_expansion():
                continue
            if c == "'" and close == ")":
                self.skip_single()
                continue
            if c == '"':
                self.skip_double()
                continue
            if c == opening:
                depth += 1
            elif c == close:
                depth -= 1
                if depth == 0:
                    self.adv()
                    return
            self.adv()

    def word(self):
        start = self.i
        while self.i < len(self.s):
            c = self.peek()
            if self.skip_escape_or_expansion():
                continue
            if c == "'":
                self.skip_single()
            elif c == '"':
                self.skip_double()
            elif c in "<>" and self.peek(1) == "(":     # process substitution
                self.adv()
                self.skip_nested()
            elif c in META:
                break
            else:
                self.adv()
        return self.s[start:self.i].replace("\\\n", "")

    def unquote(self, w):
        return re.sub(r"[\"'\\]", "", w)

    def skip_heredocs(self):
        for delim, strip in self.heredocs:
            while self.i < len(self.s):
                end = self.s.find("\n", self.i)
                end = len(self.s) if end < 0 else end
                text = self.s[self.i:end]
                self.adv(end - self.i + 1)
                if (text.lstrip("\t") if strip else text) == delim:
                    break
        self.heredocs = []

    def tokens(self):
        cmd_start = True
        while self.i < len(self.s):
            c = self.peek()
            line = self.line
            if c in " \t":
                self.adv()
                continue
            if c == "\\" and self.peek(1) == "\n":
                self.adv(2)
                continue
            if c == "#":
                while self.i < len(self.s) and self.peek() != "\n":
                    self.adv()
                continue
            if c == "\n":
                self.adv()
                yield ("op", "\n", line)
                self.skip_heredocs()
                cmd_start = True
                continue
            m = REDIR.match(self.s, self.i)
            if m and not (c in "<>" and self.peek(1) == "(") and \
                    not (c == "&" and m.group(2)[0] != "&"):
                op = m.group(2)
                self.adv(m.end() - self.i)
                yield ("redir", op, line)
                if op in ("<<", "<<-"):
                    while self.peek() in " \t":
                        self.adv()
                    delim = self.word()
                    self.heredocs.append((self.unquote(delim), op == "<<-"))
                    yield ("w", delim, line)        # the redirection's target
                continue
            if cmd_start and self.s.startswith("((", self.i):   # arithmetic command
                self.skip_nested()
                yield ("w", "((...))", line)
                cmd_start = False
                continue
            op = next((o for o in OPS if self.s.startswith(o, self.i)), None)
            if op:
                self.adv(len(op))
                yield ("op", op, line)
                cmd_start = True
                continue
            w = self.word()
            if w == "[[":                    # a test: its && < ( ) are its own
                while self.i < len(self.s):
                    while self.peek() in " \t\n":
                        self.adv()
                    if self.word() == "]]":
                        break
                    if self.peek() in META - set(" \t\n"):
                        self.adv()
                yield ("w", "[[...]]", line)
                cmd_start = False
                continue
            yield ("w", w, line)
            cmd_start = w in ("then", "do", "else", "elif", "!", "{", "time", "if", "while", "until")


class Frame:
    def __init__(self, end, kind, line):
        self.end = end          # the word or op that closes it
        self.kind = kind        # what it is, for the message
        self.line = line
        self.cmds = []          # the list so far: [(kind, name, line)]
        self.cmd = None         # the command being read, None at a command's start
        self.andor = False
        self.case = None        # in a case: "word", "pattern" or "body"


def check(path, text, functions, builtins):
    problems = []
    toks = list(Lexer(text).tokens())
    stack = [Frame(None, "script", 1)]
    skip_target = False
    funcdef = 0                 # 1: name seen, 2: "name (" seen
    for n, (kind, val, line) in enumerate(toks):
        f = stack[-1]
        if kind == "redir":
            skip_target = True
            continue
        if kind == "w":
            if skip_target:
                skip_target = False
                continue
            if f.case == "word":
                if val == "in":
                    f.case = "pattern"
                continue
            if f.case == "pattern":
                if val == "esac":
                    stack.pop()
                    stack[-1].cmd = ("compound", "case", f.line)
                continue
            if f.cmd is not None:
                if f.cmd[0] == "simple" and f.cmd[1] == "trap":
                    args = f.cmd[3]
                    if not (val == "--" and not args):
                        args.append(val)
                    if len(args) > 1 and Lexer.unquote(None, val) in ("EXIT", "SIGEXIT", "0") and \
                            os.path.basename(path) != "lib.sh":
                        problems.append("%s:%d: a trap on EXIT of the test's own: it replaces lib.sh's "
                                        "clean-up or hands it another exit status (use t_atexit "
                                        "FUNCTION)" % (path, line))
                continue
            if val == f.end:
                stack.pop()
                stack[-1].cmd = ("compound", f.kind, f.line)
                continue
            if val in ("then", "do", "else", "elif", "!", "time"):
                continue
            if val in ("if", "while", "until", "for", "select", "{", "case"):
                end = {"if": "fi", "{": "}", "case": "esac"}.get(val, "done")
                nf = Frame(end, {"{": "a group { ... }"}.get(val, "a " + val + " command"), line)
                stack.append(nf)
                if val in ("for", "select"):
                    nf.cmd = ("header", val, line)
                if val == "case":
                    nf.case = "word"
                continue
            if val == "function":
                f.cmd = ("funcdef", "", line)
                continue
            if ASSIGN.match(val):
                continue
            f.cmd = ("simple", val, line, [])
            if n + 2 < len(toks) and toks[n + 1][1] == "(" and toks[n + 2][1] == ")":
                funcdef = 1
            continue
        # an operator
        if f.case == "pattern":
            if val == ")":
                f.case = "body"
            continue
        if funcdef == 1 and val == "(":
            funcdef = 2
            continue
        if funcdef == 2 and val == ")":
            funcdef = 0
            f.cmd = None            # the body follows: a command of its own
            continue
        if val == "(" and f.cmd is None:
            stack.append(Frame(")", "a subshell ( ... )", line))
            continue
        if val == ")" and f.end == ")":
            stack.pop()
            stack[-1].cmd = ("compound", f.kind, f.line)
            continue
        if val in ("|", "|&", "&&", "||"):
            if f.cmd is not None:
                f.cmds.append(f.cmd)
            f.andor = f.andor or val in ("&&", "||")
            f.cmd = None
            continue
        if val in (";;", ";&", ";;&") and f.case == "body":
            f.case = "pattern"
        if val == "\n" and f.cmd is None and (f.cmds or f.andor):
            continue                # a list goes on after && || | and a newline
        if val == "&":
            cmds = f.cmds + ([f.cmd] if f.cmd else [])
            why = []
            if f.andor:
                why.append("a list (&& or ||)")
            for k, name, *_ in cmds:
                if k == "compound":
                    why.append(name)
                elif k == "simple" and name in functions:
                    why.append("the shell function " + name)
                elif k == "simple" and name in builtins:
                    why.append("the builtin " + name)
            if why:
                first = cmds[0][2] if cmds else line
                at = str(line) if first == line else "%d-%d" % (first, line)
                problems.append("%s:%s: %s in the background with a bare '&': $! is a subshell's pid, "
                                "not a program's (t_bg_func PIDVAR FUNCTION, then t_kill_tree or wait)"
                                % (path, at, ", ".join(why)))
        f.cmds, f.cmd, f.andor = [], None, False
    if len(stack) > 1:
        problems.append("%s:%d: sh_lint.py lost its way: %s from here is not closed (a construct it "
                        "does not read? then teach it)" % (path, stack[-1].line, stack[-1].kind))
    return problems


def main(paths):
    texts = {}
    for p in paths:
        try:
            with open(p, encoding="utf-8") as fh:
                texts[p] = fh.read()
        except OSError as e:
            print("sh_lint.py: %s" % e, file=sys.stderr)
            return 2
    functions = set()
    for t in texts.values():
        functions.update(FUNCDEF.findall(t))
    # the builtins that run other commands in the subshell ("exec PROG &"
    # is the program itself; the others run nothing that outlives them)
    builtins = {"eval", "source", ".", "command", "builtin"}
    problems = []
    for p, t in texts.items():
        problems += check(p, t, functions, builtins)
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
