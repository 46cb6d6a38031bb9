#!/usr/bin/env python3
"""numeric-options-test.py SRCDIR — every numeric option of every tool is tried as bad input.

For each manual page, the options whose argument is a number (N, SECONDS, MS, MIB, GIB, PORT,
PID) are collected; each must be tried by the tool's tests in a loop over 'abc', '-1' and
values past its range ('for v in abc -1 MAX+1; do ... --option "$v" ... done').  The check
is then run once more with one tried option taken out of the tests' text, and must fail
there (a test that cannot fail is no test)."""
import os
import re
import sys

ROOT = sys.argv[1]
PAGES = {
    'ppn-ledger.1': ['libppn-ledger/tests/tool-test.sh'],
    'ppn-pair.1': ['tests/pair/ppn-pair-test.sh', 'tests/pair/ppn-pair-sync-test.sh'],
    'ppn-vm.1': ['tests/vmm-guest/ppn-vm-test.sh'],
    'ppn-vm-agent.8': ['libppn-fleet/tests/controller-attack-test.sh'],
    'ppn-vm-controller.8': ['libppn-fleet/tests/controller-attack-test.sh'],
    'ppn-wg.8': ['tools/ppn-wg/ppn-wg-test.sh'],
}
NUMERIC = {'N', 'SECONDS', 'MS', 'MIB', 'GIB', 'PORT', 'PID'}


def numeric_options(page):
    text = open(os.path.join(ROOT, 'doc', 'man', page)).read().replace('\\-', '-')
    return sorted({m.group(1) for m in re.finditer(r'^\.BI "?(--[a-z-]+)"? "? ?([A-Z_:]+)', text, re.M)
                   if m.group(2) in NUMERIC})


def tried(body):
    """Options used with the loop variable inside 'for X in abc ...; do ... done'."""
    seen = set()
    for m in re.finditer(r'for (\w+) in abc[^\n]*(.*?)\bdone\b', body, re.S):
        var = m.group(1)
        seen.update(re.findall(r'(--[a-z-]+)[ =]"?\$\{?' + var + r'\b', m.group(0)))
        # 'for opt in --a --b; do for v in abc ...; do ... $opt "$v"' names them through $opt
        outer = body.rfind('for ', 0, m.start())
        o = re.match(r'for (\w+) in ((?:--[a-z-]+ ?)+); do', body[outer:])
        if o and re.search(r'\$' + o.group(1) + r'\b[^\n]*\$' + var, m.group(0)):
            seen.update(o.group(2).split())
    return seen


def check(texts):
    missing = []
    for page, tests in PAGES.items():
        opts = numeric_options(page)
        done = set().union(*(tried(texts[t]) for t in tests))
        missing += ['%s %s (tests: %s)' % (page, o, ', '.join(tests)) for o in opts if o not in done]
    return missing


texts = {t: open(os.path.join(ROOT, t)).read() for ts in PAGES.values() for t in ts}
missing = check(texts)
for m in missing:
    print('not tried with abc, -1 and past its maximum:', m)
total = sum(len(numeric_options(p)) for p in PAGES)
# the check itself must be able to fail: drop the tests' mention of one tried option
t = 'tests/pair/ppn-pair-test.sh'
broken = dict(texts)
broken[t] = texts[t].replace('--peer-port', '--peer-poort')
if not check(broken):
    print('FAIL: the check found nothing with --peer-port taken out of', t)
    sys.exit(1)
print('%d numeric options in %d pages, %d not tried' % (total, len(PAGES), len(missing)))
sys.exit(1 if missing else 0)
