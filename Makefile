# hypersub — build, test, demo.
#
#   make          build build/hypersub and build/lib/hypersub/core.so
#   make demo     install what is missing, build, run examples/demo.lua
#   make test     install what is missing, build, run every spec
#   make asan     the same specs against an AddressSanitizer + UBSan build
#   make install  PREFIX=/usr/local
#   make bench    install what is missing (NATS, Redis too), build, run the
#                 benchmark suite (BENCH_ARGS=--quick for the short one)
#   make fuzz     install what is missing (clang too), build the libFuzzer
#                 targets, run each for FUZZ_SECONDS (60); fails on a crash

PREFIX   ?= /usr/local
BUILD    ?= build
CC       ?= cc
LUA_INC  ?= /usr/include/lua5.4
LUA_DIR  ?= $(PREFIX)/share/lua/5.4
LIB_DIR  ?= $(PREFIX)/lib/lua/5.4
BIN_DIR  ?= $(PREFIX)/bin

OPT      ?= -O2
SAN      ?=
# Quiet by default: one line per file; `make V=1` shows the commands.
ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @printf '  %-4s %s\n' $(1) $(2)
endif

# CFLAGS and LDFLAGS are the caller's (luarocks passes its own); ours come
# first and theirs last.
HS_CFLAGS = -std=gnu11 $(OPT) -g -Wall -Wextra -Wno-missing-field-initializers \
            -fPIC -fvisibility=hidden $(SAN) -Iinclude -Isrc -I$(LUA_INC) $(CFLAGS)
HS_LDFLAGS = $(SAN) $(LDFLAGS)

# One folder per layer (README "Source layout"); src/lua is the binding.
LAYERS   := core proto cube store disk net client cluster repl node
CORE_SRC := $(foreach l,$(LAYERS),$(wildcard src/$(l)/*.c))
CORE_HDR := $(foreach l,$(LAYERS),$(wildcard src/$(l)/*.h))
BIND_SRC := $(wildcard src/lua/*.c)
CORE_OBJ := $(CORE_SRC:src/%.c=$(BUILD)/obj/%.o)
BIND_OBJ := $(BIND_SRC:src/lua/%.c=$(BUILD)/obj/lua/%.o)
TEST_SRC := $(wildcard spec/unit/c/*.c)
TEST_BIN := $(TEST_SRC:spec/unit/c/%.c=$(BUILD)/test/%)

# Debian's packages this needs; `make deps` installs the missing ones.
DEB_PKGS := lua5.4 liblua5.4-dev libuv1-dev lua-luv lua-luv-dev lua-cjson \
            lua-busted luarocks gcc make libsodium-dev libssl-dev openssl zlib1g-dev libhttp-parser-dev \
            chromium

# Libraries the core links: libuv, libsodium for the handshake's crypto,
# http-parser for the monitoring port.
CORE_LIBS := -luv -lsodium -lssl -lcrypto -lhttp_parser -lz -lm

# Specs run from the source tree: Lua modules from lua/, the core from build/.
SPEC_ENV  = LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;" \
            LUA_CPATH="$(CURDIR)/$(BUILD)/lib/?.so;;" \
            HYPERSUB_BIN="$(CURDIR)/$(BUILD)/hypersub" \
            HYPERSUB_TEST_BIN="$(CURDIR)/$(BUILD)/test"
BUSTED   := lua5.4 /usr/bin/busted

.PHONY: all deps build runtime test demo asan asan-build install clean bench bench-build bench-deps \
        fuzz fuzz-deps fuzz-build fuzz-run

all: build

build: runtime $(TEST_BIN)

# What an installation needs (the rock builds this).
runtime: $(BUILD)/hypersub $(BUILD)/lib/hypersub/core.so

deps:
	@missing=$$(for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(BUILD)/obj/%.o: src/%.c $(CORE_HDR) include/hypersub.h
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(HS_CFLAGS) -c $< -o $@

# The monitoring page is built into the binary (src/node/page.c includes
# page.html as data).
$(BUILD)/obj/node/page.o: src/node/page.html

$(BUILD)/obj/lua/%.o: src/lua/%.c $(wildcard src/lua/*.h) $(CORE_HDR) include/hypersub.h
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(HS_CFLAGS) -c $< -o $@

# Loaded by a stock lua5.4: links luv (to share its loop) but not liblua5.4,
# which the interpreter already holds.
$(BUILD)/lib/hypersub/core.so: $(CORE_OBJ) $(BIND_OBJ)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) -shared $(HS_LDFLAGS) -o $@ $^ -llua5.4-luv $(CORE_LIBS)

# The runtime: Lua, luv and the core linked in; -rdynamic lets C modules it
# loads (cjson) find the Lua API.
$(BUILD)/hypersub: $(BUILD)/obj/main.o $(CORE_OBJ) $(BIND_OBJ)
	$(call say,LD,$@)
	$(Q)$(CC) $(HS_LDFLAGS) -rdynamic -o $@ $^ -llua5.4 -llua5.4-luv $(CORE_LIBS) -ldl

$(BUILD)/obj/main.o: src/main.c $(wildcard src/lua/*.h) include/hypersub.h
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(HS_CFLAGS) -c $< -o $@

# C unit tests of the pure parts; spec/unit/c_spec.lua runs them.
$(BUILD)/test/%: spec/unit/c/%.c $(CORE_OBJ) $(wildcard spec/unit/c/*.h)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(HS_CFLAGS) -Ispec/unit/c -o $@ $< $(CORE_OBJ) $(HS_LDFLAGS) $(CORE_LIBS)

test: deps
	@$(MAKE) --no-print-directory build
	@$(SPEC_ENV) $(BUSTED) $(BUSTED_ARGS)

demo: deps
	@$(MAKE) --no-print-directory build
	@$(SPEC_ENV) $(BUILD)/hypersub examples/demo.lua

# Sanitizer build in build/asan; the stock interpreter gets the ASan runtime
# preloaded so it can load the instrumented core.so.
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
asan-build:
	@$(MAKE) --no-print-directory BUILD=build/asan OPT=-O1 SAN="$(ASAN_FLAGS)" build

asan: deps asan-build
	@$(MAKE) --no-print-directory BUILD=build/asan asan-run

asan-run:
	@$(SPEC_ENV) LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  HYPERSUB_ASAN=1 $(BUSTED) $(BUSTED_ARGS)

install: runtime
	install -d $(DESTDIR)$(BIN_DIR) $(DESTDIR)$(LIB_DIR)/hypersub $(DESTDIR)$(LUA_DIR)/hypersub
	install -m 755 $(BUILD)/hypersub $(DESTDIR)$(BIN_DIR)/hypersub
	install -m 755 $(BUILD)/lib/hypersub/core.so $(DESTDIR)$(LIB_DIR)/hypersub/core.so
	cp -R lua/hypersub/. $(DESTDIR)$(LUA_DIR)/hypersub/

# The benchmark suite (bench/README in README.md's Performance section): the
# load generators in C, the peers it compares against from Debian.
BENCH_PKGS := nats-server redis-server redis-tools
LOADGEN    := $(BUILD)/bench/hs-loadgen $(BUILD)/bench/nats-loadgen $(BUILD)/bench/resp-loadgen \
              $(BUILD)/bench/fsync-probe $(BUILD)/bench/rtt-probe \
              $(BUILD)/bench/hs-cubesim
LOADGEN_COMMON := bench/loadgen/common.c bench/loadgen/common.h

bench-deps:
	@$(MAKE) --no-print-directory deps DEB_PKGS="$(BENCH_PKGS)"

bench-build: build $(LOADGEN)

# Linked against the core's objects: the C client without the Lua layer.
$(BUILD)/bench/hs-loadgen: bench/loadgen/hs.c $(LOADGEN_COMMON) $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(HS_CFLAGS) -o $@ bench/loadgen/hs.c bench/loadgen/common.c $(CORE_OBJ) $(HS_LDFLAGS) $(CORE_LIBS)

# Many members in one process on a virtual clock (src/cluster/simnet.h).
$(BUILD)/bench/hs-cubesim: bench/sim/cubesim.c $(LOADGEN_COMMON) $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(HS_CFLAGS) -o $@ bench/sim/cubesim.c bench/loadgen/common.c $(CORE_OBJ) $(HS_LDFLAGS) $(CORE_LIBS)

# The peers' generators speak their text protocols over plain sockets.
$(BUILD)/bench/%-loadgen: bench/loadgen/%.c $(LOADGEN_COMMON) bench/loadgen/sock.c bench/loadgen/sock.h
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(HS_CFLAGS) -o $@ $< bench/loadgen/common.c bench/loadgen/sock.c $(HS_LDFLAGS)

# What one fdatasync costs on this disk (the floor of a durable ack).
$(BUILD)/bench/fsync-probe: bench/loadgen/fsync.c $(LOADGEN_COMMON)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(HS_CFLAGS) -o $@ $< bench/loadgen/common.c $(HS_LDFLAGS)

# What one loopback round trip costs here (the floor of a sequential request).
$(BUILD)/bench/rtt-probe: bench/loadgen/rtt.c $(LOADGEN_COMMON)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(HS_CFLAGS) -o $@ $< bench/loadgen/common.c $(HS_LDFLAGS)

bench: deps bench-deps
	@$(MAKE) --no-print-directory bench-build
	@$(SPEC_ENV) $(BUILD)/hypersub bench/run.lua $(BENCH_ARGS)

# Fuzzing (README "Testing"): libFuzzer targets that feed byte streams to
# an in-process node, as a client (fuzz_client) and as a peer past the
# handshake (fuzz_peer). The core is built with clang in build/fuzz with
# coverage, ASan and UBSan; the seeds come from the real encoders.
FUZZ_PKGS    := clang libclang-rt-dev
FUZZ_SECONDS ?= 60
FUZZ_SAN     := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
                -fno-sanitize-recover=undefined
FUZZ_DIR     := build/fuzz
FUZZ_HARNESS := spec/fuzz/harness.c spec/fuzz/loopback.c
FUZZ_HDR     := $(wildcard spec/fuzz/*.h)
FUZZ_TARGETS ?= client peer
# -entropic=0: entropic scheduling's per-input feature bookkeeping took
# half of each execution here; the plain schedule runs about twice as many.
FUZZ_FLAGS   := -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
                -entropic=0

fuzz-deps:
	@$(MAKE) --no-print-directory deps DEB_PKGS="$(FUZZ_PKGS)"

fuzz-build: $(BUILD)/fuzz_client $(BUILD)/fuzz_peer $(BUILD)/fuzz_seeds

$(BUILD)/fuzz_%: spec/fuzz/fuzz_%.c $(FUZZ_HARNESS) $(FUZZ_HDR) $(CORE_OBJ)
	$(call say,LD,$@)
	$(Q)$(CC) $(HS_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_HARNESS) $(CORE_OBJ) $(HS_LDFLAGS) $(CORE_LIBS)

$(BUILD)/fuzz_seeds: spec/fuzz/seeds.c $(FUZZ_HDR) $(CORE_OBJ)
	$(call say,LD,$@)
	$(Q)$(CC) $(HS_CFLAGS) -o $@ $< $(CORE_OBJ) $(HS_LDFLAGS) $(CORE_LIBS)

# The targets run side by side (spec/fuzz/run.sh); a crashing input is kept
# as build/fuzz/<target>-crash-* (or -leak-, -timeout-), and make fails.
fuzz-run:
	@$(BUILD)/fuzz_seeds $(BUILD)/corpus
	@sh spec/fuzz/run.sh $(BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS) -- $(FUZZ_FLAGS)

fuzz: deps fuzz-deps
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_DIR) CC=clang OPT=-O1 SAN="$(FUZZ_SAN)" fuzz-build
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_DIR) fuzz-run

clean:
	rm -rf build
