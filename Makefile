# Entry points for people and CI. The build itself is CMake; this file only names the steps.
#   make          build everything (build/)
#   make deps     install Debian packages and the pinned Go programs (restic, rest-server, versitygw)
#   make test     deps + build + every test (unit and end-to-end) through CTest
#   make test-unit / make test-e2e   one kind only
#   make asan     AddressSanitizer + UBSan build (build-asan/) and its unit tests
#   make fuzz     the parsers' fuzzer under ASan/UBSan, FUZZ_SECONDS (default 600) in all
#   make install  PREFIX=/usr/local DESTDIR= ROOT=/backups   (stripped; ROOT: the unit's root)
#   make man      the manuals (build/man/), also part of make
#   make deb      the Debian packages restic-backup-server and -client (build/deb/), lintian-checked
#   make format   clang-format over the tree
#   make demo     a whole backup server on loopback, narrated, removed at the end
PREFIX      ?= /usr/local
DESTDIR     ?=
ROOT        ?= /backups
BUILD_DIR   ?= build
ASAN_DIR    ?= build-asan
BUILD_TYPE  ?= RelWithDebInfo
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
DEPS_PREFIX ?= $(HOME)/.cache/restic-backup-toolkit
CTEST_ARGS  ?=
CMAKE_ARGS  ?=
FUZZ_SECONDS ?= 600
FUZZ_TARGET ?= all

# The pinned Go programs come first on PATH for everything make runs.
export DEPS_PREFIX
export PATH := $(DEPS_PREFIX)/bin:$(PATH)

.PHONY: all build configure deps test test-unit test-e2e asan fuzz install man deb format clean demo

all: build

# Ninja when installed (make deps installs it): it starts a target's compiles before the libraries
# it links are done, so both cores stay busy to the end. An existing build directory keeps the
# generator it was configured with.
GENERATOR   ?= $(if $(shell command -v ninja 2>/dev/null),Ninja,Unix Makefiles)

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -G "$(GENERATOR)" -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_ARGS)

configure: $(BUILD_DIR)/CMakeCache.txt

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

deps:
	./scripts/install-deps

test: deps build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) $(CTEST_ARGS)

test-unit: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) -L unit $(CTEST_ARGS)

test-e2e: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) -L e2e $(CTEST_ARGS)

asan:
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DBACKUP_SANITIZE=ON
	cmake --build $(ASAN_DIR) -j $(JOBS) --target unit_tests fuzz_parsers
	ctest --test-dir $(ASAN_DIR) --output-on-failure -j $(JOBS) -L unit $(CTEST_ARGS)

# A finding leaves its input in build-asan/fuzz-crashes/; once fixed, it goes to
# tests/fuzz/seeds/TARGET/ so every later run starts from it.
fuzz:
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DBACKUP_SANITIZE=ON
	cmake --build $(ASAN_DIR) -j $(JOBS) --target fuzz_parsers
	ASAN_OPTIONS=abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1 \
	  $(ASAN_DIR)/tests/fuzz_parsers $(FUZZ_TARGET) --seconds $(FUZZ_SECONDS) \
	  --crashes $(ASAN_DIR)/fuzz-crashes

install: build
	DESTDIR=$(DESTDIR) BACKUP_ROOT=$(ROOT) cmake --install $(BUILD_DIR) --prefix $(PREFIX) --strip

man: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target man

deb: build
	BUILD_DIR=$(BUILD_DIR) ./scripts/build-deb

demo: build
	./scripts/demo

format:
	find lib tools tests bench -name '*.cpp' -o -name '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR)
