#!/usr/bin/env bash
# Build target/native/libdbtoken_jni.so: the JNI shim with libdbtoken.a linked in (its
# dbtoken_* symbols hidden), so the JVM loads one self-contained library.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
java_home=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}
mkdir -p "$here/target/native"
cc -std=c11 -Wall -Wextra -Werror -pedantic -O2 -fPIC -shared \
  -I"$java_home/include" -I"$java_home/include/linux" -I"$root/include" \
  -o "$here/target/native/libdbtoken_jni.so" "$here/src/main/c/dbtoken_jni.c" \
  "$root/target/release/libdbtoken.a" -Wl,--exclude-libs,ALL -Wl,-z,defs \
  -lpthread -ldl -lm -lrt -lutil -lgcc_s -lc
echo "built $here/target/native/libdbtoken_jni.so"
