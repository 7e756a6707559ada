#!/bin/sh
# install_check.sh: nn.h as a package. `make install` into a temporary prefix
# (and through DESTDIR), then a tiny consumer (tests/consumer) built and run
# each way a user gets the header: pkg-config, CMake's find_package, CMake's
# add_subdirectory, and an install made by `cmake --install`. Prints one line
# per check, then "N passed, N failed". Run from the repository root.
make=${MAKE:-make}
. tests/checks.sh
root=$(pwd)
version=$(sed -n 's/^#define NN_VERSION_STRING "\([0-9.]*\)".*/\1/p' nn.h)
major=${version%%.*}; rest=${version#*.}; minor=${rest%%.*}
pfx=$out/prefix
mk() { env -u MAKEFLAGS -u MFLAGS $make --no-print-directory "$@"; }

check "version read from nn.h ($version)" test -n "$version"
check "make install PREFIX" mk install PREFIX="$pfx"
check "installed nn.h is the repository's, byte for byte" cmp nn.h "$pfx/include/nn.h"
check "nn.pc names the prefix and the version" \
    sh -c "grep -qx 'prefix=$pfx' '$pfx/share/pkgconfig/nn.pc' && grep -qx 'Version: $version' '$pfx/share/pkgconfig/nn.pc'"

# pkg-config: the flags it gives build the consumer, warning-free
pc() { PKG_CONFIG_PATH="$pfx/share/pkgconfig" pkg-config "$@"; }
check "pkg-config --modversion nn = $version" sh -c "[ \"\$(PKG_CONFIG_PATH='$pfx/share/pkgconfig' pkg-config --modversion nn)\" = '$version' ]"
check "pkg-config --atleast-version $major.$minor nn" pc --atleast-version "$major.$minor" nn
check "pkg-config consumer builds (C99, -Werror)" sh -c "cc -std=c99 -O1 -Wall -Wextra -Wpedantic -Werror \
    -DNN_EXPECT_VERSION='\"$version\"' \$(PKG_CONFIG_PATH='$pfx/share/pkgconfig' pkg-config --cflags nn) \
    tests/consumer/main.c -o '$out/pc_consumer' \$(PKG_CONFIG_PATH='$pfx/share/pkgconfig' pkg-config --libs nn)"
check "pkg-config consumer runs" "$out/pc_consumer"

# CMake: configure, build, run; $1 build directory, the rest -D options
cm() {
    b=$1; shift
    cmake -S tests/consumer -B "$b" -DNN_EXPECT_VERSION="$version" "$@" >"$b.log" 2>&1 &&
        cmake --build "$b" >>"$b.log" 2>&1 && "$b/consumer" || { cat "$b.log"; return 1; }
}
check "find_package(nn $major.$minor) consumer builds and runs" cm "$out/find" -DCMAKE_PREFIX_PATH="$pfx" \
    -DNN_FIND_VERSION="$major.$minor"
check "find_package(nn $((major + 1)).0) is refused" sh -c "! cmake -S tests/consumer -B '$out/find_newer' \
    -DCMAKE_PREFIX_PATH='$pfx' -DNN_FIND_VERSION=$((major + 1)).0"
check "add_subdirectory consumer builds and runs" cm "$out/subdir" -DNN_SOURCE_DIR="$root"
# an installed tree may move: nnConfig.cmake finds the header relative to itself
check "a moved install still works" sh -c "mv '$pfx' '$out/moved'"
check "find_package from the moved prefix" cm "$out/find_moved" -DCMAKE_PREFIX_PATH="$out/moved"

# DESTDIR: staged under it, pointing at PREFIX
check "make install DESTDIR PREFIX=/usr/local" mk install DESTDIR="$out/stage" PREFIX=/usr/local
check "staged files under DESTDIR, nn.pc says /usr/local" sh -c "cmp nn.h '$out/stage/usr/local/include/nn.h' && \
    grep -qx 'prefix=/usr/local' '$out/stage/usr/local/share/pkgconfig/nn.pc' && \
    [ -f '$out/stage/usr/local/share/cmake/nn/nnConfigVersion.cmake' ]"
check "make uninstall removes them all" sh -c "env -u MAKEFLAGS -u MFLAGS $make --no-print-directory uninstall \
    DESTDIR='$out/stage' PREFIX=/usr/local && [ -z \"\$(find '$out/stage' -type f)\" ]"

# cmake --install from this repository's CMakeLists.txt: the same files
check "cmake --install PREFIX" sh -c "cmake -S . -B '$out/self' -DCMAKE_INSTALL_PREFIX='$out/cmpfx' && \
    cmake --install '$out/self'"
check "cmake --install put the same files" sh -c "cmp nn.h '$out/cmpfx/include/nn.h' && \
    grep -qx 'Version: $version' '$out/cmpfx/share/pkgconfig/nn.pc' && \
    cmp pkg/nnConfig.cmake '$out/cmpfx/share/cmake/nn/nnConfig.cmake'"
check "find_package from the cmake --install prefix" cm "$out/find_cm" -DCMAKE_PREFIX_PATH="$out/cmpfx"

checks_end
