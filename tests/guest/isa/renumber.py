#!/usr/bin/env python3
"""Renumbers the cases of ISA test files in place: the first argument of
every TEST_*( macro call becomes 1, 2, 3, ... in file order, so a case can
be inserted anywhere with any number and this script fixes the sequence.
Usage: tests/guest/isa/renumber.py tests/guest/isa/rv64i.S [...]"""
import re
import sys

CASE = re.compile(r"(^\s*TEST_[A-Z0-9_]+\()\s*(?:\d+|@)\s*,", re.M)

for path in sys.argv[1:]:
    with open(path) as f:
        text = f.read()
    count = 0

    def number(match):
        global count
        count += 1
        return f"{match.group(1)}{count},"

    text = CASE.sub(number, text)
    if count > 255:
        sys.exit(f"{path}: {count} cases; the exit status allows 255")
    with open(path, "w") as f:
        f.write(text)
    print(f"{path}: {count} cases")
