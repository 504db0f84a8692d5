#!/bin/sh
# Prints the Go -ldflags the plugin library is built with: stripped, and
# with its relative relocations packed (DT_RELR) where this host's linker
# and C library both have them. Packed, the loaded library is 0.7 MB
# smaller: each of Go's ~30,000 pointers in read-only data otherwise takes
# a 24-byte relocation entry, resident in every process that loads it. A
# library built so needs glibc 2.36 where it is loaded, as this host has:
# the probe links and runs a program with it.
set -u
flags='-s -w'
dir=$(mktemp -d) || { echo "$flags"; exit 0; }
trap 'rm -rf "$dir"' EXIT
printf 'static int x;\nint *p = &x;\nint main(void) { return *p; }\n' >"$dir/probe.c"
if ${CC:-cc} -fPIE -pie -Wl,-z,pack-relative-relocs -Wl,--fatal-warnings \
	-o "$dir/probe" "$dir/probe.c" >/dev/null 2>&1 && "$dir/probe"; then
	flags="$flags -extldflags=-Wl,-z,pack-relative-relocs"
fi
echo "$flags"
