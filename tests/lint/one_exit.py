#!/usr/bin/env python3
"""STYLE.md section 3: one exit per function where it frees anything.

A function that acquires something (an allocation, a file, a mapping, an object from a
graft_*_create or *_open) and frees anything may return early only before its first acquisition
or in the check of that first acquisition itself; after that every path leaves through the one
return at the end (with a cleanup label, or with the work guarded by the error code). This is a
heuristic over the tree's formatting (clang-format: a function's braces sit in column 0); it
checks itself first on two samples, one that breaks the rule and one that keeps it."""
import glob
import os
import re
import sys

FREE = re.compile(r'\b(graft_free|free|fclose|munmap|close|closedir|graft_\w+_(destroy|close|free))\s*\(')
ACQ = re.compile(r'\b(graft_malloc|graft_calloc|graft_realloc|malloc|calloc|realloc|fopen|opendir|'
                 r'open|mmap|graft_\w+_(create|open))\s*\(')
RET = re.compile(r'\breturn\b')
IF = re.compile(r'\s*(if|else if)\b')


def block_end(body, k):
    """The line that closes the block opened at the end of line k (or k + 1 for one statement)."""
    if not body[k].rstrip().endswith('{'):
        return k + 1
    ind = len(body[k]) - len(body[k].lstrip())
    m = k + 1
    while m < len(body) and not (body[m].startswith(' ' * ind + '}') and
                                 len(body[m]) - len(body[m].lstrip()) == ind):
        m += 1
    return m


def violations(text, name):
    lines = text.split('\n')
    out = []
    i = 0
    while i < len(lines):
        if lines[i] != '{':
            i += 1
            continue
        j = i + 1
        while j < len(lines) and lines[j] != '}':
            j += 1
        body = lines[i + 1:j]
        first = next((k for k, l in enumerate(body) if ACQ.search(l)), None)
        if first is not None and any(FREE.search(l) for l in body):
            # The check of the first acquisition: the if on its own line or on the next.
            if IF.match(body[first]):
                skip = block_end(body, first)
            elif first + 1 < len(body) and IF.match(body[first + 1]):
                skip = block_end(body, first + 1)
            else:
                skip = first
            late = [k for k, l in enumerate(body) if RET.search(l) and k > skip]
            if late and late[-1] >= len(body) - 1:
                late = late[:-1]
            for k in late:
                out.append('%s:%d: %s returns before its end after acquiring'
                           % (name, i + 2 + k, lines[i - 1].split('(')[0].strip()))
        i = j + 1
    return out


BAD = '''graft_err
f(void)
{
    char *a = graft_malloc(1);
    if (!a)
        return GRAFT_ERR_NOMEM;
    char *b = graft_malloc(1);
    if (!b) {
        graft_free(a);
        return GRAFT_ERR_NOMEM;
    }
    graft_free(a);
    graft_free(b);
    return GRAFT_OK;
}
'''
GOOD = '''graft_err
f(void)
{
    char *a = graft_malloc(1);
    if (!a)
        return GRAFT_ERR_NOMEM;
    char *b = graft_malloc(1);
    graft_err rc = b ? GRAFT_OK : GRAFT_ERR_NOMEM;
    graft_free(a);
    graft_free(b);
    return rc;
}
'''


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', '..')
    assert len(violations(BAD, 'bad.c')) == 1, 'the check misses a return after an acquisition'
    assert violations(GOOD, 'good.c') == [], 'the check flags a function with one exit'
    found = []
    files = 0
    for d in ('common', 'server', 'worker', 'tools', 'proto', 'launch/tool'):
        for f in sorted(glob.glob(os.path.join(root, d, '*.c'))):
            files += 1
            with open(f) as fh:
                found += violations(fh.read(), os.path.relpath(f, root))
    assert files > 50, 'found only %d C files under %s' % (files, root)
    for v in found:
        print(v)
    print('one_exit: %d files, %d functions with an early return after an acquisition'
          % (files, len(found)))
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())
