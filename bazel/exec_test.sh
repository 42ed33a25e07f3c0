#!/bin/sh
# Test wrapper: runs its arguments as a command (a binary plus its flags), so
# a cc_binary can be tested with fixed arguments without compiling it twice.
exec "$@"
