# SPDX-License-Identifier: Apache-2.0
#
# xwhisk: one non-recursive Makefile. Everything builds into build/.
#   make            build all programs and BPF objects
#   make run        install missing packages, build, start controller + node on :3233
#   make test       install missing packages, build, run every test (unit fuzz bpf netns e2e k8s),
#                   then the sanitizer pass below (TEST_SANITIZE=0 skips it)
#   make test SANITIZE=1   the same tree with ASan and UBSan in build-san/: unit bpf fuzz only
#   make fuzz       libFuzzer targets (tests/fuzz/) in build-fuzz/, FUZZ_SECONDS each
#   make bench      run the benchmarks in scripts/bench/
#   make V=1        show the commands

# SANITIZE=1: everything with AddressSanitizer and UndefinedBehaviorSanitizer, in a build
# directory of its own so that build/ stays as it is.
SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD      ?= build-san
SAN_CFLAGS ?= -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif
BUILD   ?= build
V       ?= 0
Q       := $(if $(filter 1,$(V)),,@)
msg      = $(if $(filter 1,$(V)),,@printf '  %-8s %s\n' $(1) $(2);)

CC      ?= gcc
CLANG   ?= clang
BPFTOOL ?= bpftool
ARCH    := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

PKGS    := jansson libbpf libxdp libcurl sqlite3 libpq libzip libcrypto libseccomp yaml-0.1
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

# Each architectural part's headers sit beside its code.
INC_DIRS := include userspace userspace/lib controller $(wildcard controller/*/) \
	    $(filter-out userspace/lib/ userspace/node/,$(wildcard userspace/*/))
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-format-truncation -Werror -D_GNU_SOURCE \
	   -fno-strict-aliasing -MMD -MP $(addprefix -I,$(INC_DIRS)) -I$(BUILD)/bpf $(PKG_CFLAGS) \
	   $(SAN_CFLAGS)
LDLIBS  := $(PKG_LIBS) -lhttp_parser -lelf -lz -lpthread

.DELETE_ON_ERROR:
.PHONY: all deps run test unit bench clean programs bpf runtimes

PROGRAMS := xwhisk-controller xwhisk-admin xwhisk-node xwhisk-proxy
all: programs bpf runtimes
programs: $(addprefix $(BUILD)/,$(PROGRAMS))

# The runtimes manifest and language loops travel with the programs.
RUNTIME_FILES := $(shell find userspace/runtimes -type f)
runtimes: $(patsubst userspace/runtimes/%,$(BUILD)/runtimes/%,$(RUNTIME_FILES))
$(BUILD)/runtimes/%: userspace/runtimes/%
	$(Q)mkdir -p $(@D) && cp $< $@

# ---- libraries: one archive per architectural part ----
objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIB_SRCS     := $(wildcard userspace/lib/*.c)
CONTROL_SRCS := $(wildcard controller/api/*.c controller/store/*.c controller/auth/*.c \
		 controller/entity/*.c controller/control/*.c controller/cluster/*.c)
SANDBOX_SRCS := $(wildcard userspace/sandbox/*.c)
BPFLOAD_SRCS := $(wildcard userspace/bpfload/*.c)
NODE_SRCS    := $(wildcard userspace/node/*.c userspace/node/*/*.c)
NODE_SRCS    := $(filter-out userspace/node/main.c,$(NODE_SRCS))
PROXY_SRCS   := $(filter-out userspace/proxy/main.c,$(wildcard userspace/proxy/*.c))

$(BUILD)/libxwhisk.a:  $(call objs,$(LIB_SRCS))
$(BUILD)/libcontrol.a: $(call objs,$(CONTROL_SRCS))
$(BUILD)/libsandbox.a: $(call objs,$(SANDBOX_SRCS))
$(BUILD)/libbpfload.a: $(call objs,$(BPFLOAD_SRCS))
$(BUILD)/libnode.a:    $(call objs,$(NODE_SRCS))
$(BUILD)/libproxy.a:   $(call objs,$(PROXY_SRCS))

$(BUILD)/%.a:
	$(call msg,AR,$@)
	$(Q)mkdir -p $(@D) && rm -f $@ && ar rcs $@ $^

$(BUILD)/obj/%.o: %.c
	$(call msg,CC,$<)
	$(Q)mkdir -p $(@D) && $(CC) $(CFLAGS) -c $< -o $@

# ---- programs ----
$(BUILD)/xwhisk-controller: $(BUILD)/obj/controller/main.o $(BUILD)/libcontrol.a $(BUILD)/libxwhisk.a
$(BUILD)/xwhisk-admin: $(BUILD)/obj/controller/admin/main.o $(BUILD)/libcontrol.a $(BUILD)/libxwhisk.a
$(BUILD)/xwhisk-node: $(BUILD)/obj/userspace/node/main.o $(BUILD)/libnode.a $(BUILD)/libsandbox.a \
		      $(BUILD)/libbpfload.a $(BUILD)/libxwhisk.a
$(BUILD)/xwhisk-proxy: $(BUILD)/obj/userspace/proxy/main.o $(BUILD)/libproxy.a $(BUILD)/libxwhisk.a

$(addprefix $(BUILD)/,$(PROGRAMS)):
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# ---- BPF: clang -> bpftool gen object -> bpftool gen skeleton ----
BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.o,$(BPF_SRCS))
BPF_SKELS := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.skel.h,$(BPF_SRCS))
bpf: $(BPF_OBJS) $(BPF_SKELS)
# Keep clang's output beside the linked object (a plain .SECONDARY would also keep make from
# rebuilding a missing object whose source is older than its archive).
.SECONDARY: $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))

$(BUILD)/bpf/vmlinux.h:
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D) && $(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BUILD)/bpf/vmlinux.h
	$(call msg,BPF,$<)
	$(Q)$(CLANG) -g -O2 --target=bpf -Wall -Werror -D__TARGET_ARCH_$(ARCH) \
		-I$(BUILD)/bpf -Iinclude -Ibpf -MMD -MP -c $< -o $@

$(BUILD)/bpf/%.o: $(BUILD)/bpf/%.bpf.o
	$(call msg,GEN-OBJ,$@)
	$(Q)$(BPFTOOL) gen object $@ $<

$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name xwhisk_$(subst -,_,$*) > $@

# Userspace that includes a skeleton waits for it.
$(call objs,$(BPFLOAD_SRCS) $(wildcard tests/bpf/*.c)): $(BPF_SKELS)

# ---- tests ----
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
BPFT_SRCS := $(wildcard tests/bpf/test_*.c)
BPFT_BINS := $(patsubst tests/bpf/%.c,$(BUILD)/tests/%,$(BPFT_SRCS))
TEST_LIBS := $(BUILD)/libcontrol.a $(BUILD)/libnode.a $(BUILD)/libsandbox.a $(BUILD)/libbpfload.a \
	     $(BUILD)/libproxy.a $(BUILD)/libxwhisk.a

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(TEST_LIBS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# Every allocation of ours goes through the test's wrappers, which fail the one it picks.
$(BUILD)/tests/test_lib_http_oom: LDLIBS += -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc

$(BUILD)/tests/test_bpf_%: $(BUILD)/obj/tests/bpf/test_bpf_%.o $(TEST_LIBS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# Helpers of the network-namespace tests (tests/netns/*.c -> build/tests/netns/*).
NETNS_SRCS := $(wildcard tests/netns/*.c)
NETNS_BINS := $(patsubst tests/netns/%.c,$(BUILD)/tests/netns/%,$(NETNS_SRCS))

$(BUILD)/tests/netns/%: $(BUILD)/obj/tests/netns/%.o $(TEST_LIBS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# Benchmark tools (scripts/bench/*.c), built on demand by the bench scripts, and with the
# tests so that none stops compiling unseen. sandbox_bench drives sandboxes with the unit
# tests' harness.
BENCH_BINS := $(patsubst scripts/bench/%.c,$(BUILD)/bench/%,$(wildcard scripts/bench/*.c))

$(BUILD)/obj/scripts/bench/sandbox_bench.o: CFLAGS += -Itests/unit

$(BUILD)/bench/%: $(BUILD)/obj/scripts/bench/%.o $(TEST_LIBS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# Fuzz targets (tests/fuzz/fuzz_*.c). In every build each is also linked with replay.c, a
# plain main() over its corpus: the fuzz suite of tests/run.sh. `make fuzz` builds them
# with libFuzzer into FUZZ_BUILD and runs each for FUZZ_SECONDS (tests/fuzz/run.sh).
FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz_*.c)
REPLAY_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/tests/fuzz/%,$(FUZZ_SRCS))
FUZZ_BINS   := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_BUILD  ?= build-fuzz
FUZZ_SECONDS ?= 60

$(BUILD)/tests/fuzz/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/obj/tests/fuzz/replay.o \
			    $(TEST_LIBS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/fuzz/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(TEST_LIBS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz-bins: $(FUZZ_BINS)

fuzz: deps
	$(Q)$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(CLANG) \
		SAN_CFLAGS='-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
		-fno-omit-frame-pointer -Wno-unknown-warning-option' fuzz-bins
	$(Q)FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ_TARGETS)
.PHONY: fuzz fuzz-bins

test-build: all $(UNIT_BINS) $(BPFT_BINS) $(NETNS_BINS) $(REPLAY_BINS) $(BENCH_BINS)
.PHONY: test-build

deps:
	$(Q)scripts/deps.sh

# make run leaves nothing behind when it stops (XWHISK_EPHEMERAL=0 keeps the sandboxes
# for the next start to adopt, as a DaemonSet node does).
run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)XWHISK_EPHEMERAL=$${XWHISK_EPHEMERAL:-1} scripts/xwhisk-run

# Under SANITIZE=1 only the suites that run our code in-process (LeakSanitizer off: the
# programs do not free everything at exit, and a leak is not what this run looks for).
# A plain `make test` (what CI runs) ends with that pass too, whatever the first found:
# its status is the worse of the two.
TEST_SUITES := $(if $(filter 1,$(SANITIZE)),unit bpf fuzz,)
TEST_SANITIZE ?= 1
SANITIZER_PASS := $(and $(filter-out 1,$(SANITIZE)),$(filter 1,$(TEST_SANITIZE)))
# The builds of `make test` use every CPU: CI runs it as is, without -j.
NPROC ?= $(shell nproc 2>/dev/null || echo 2)

test: deps
	$(Q)$(MAKE) --no-print-directory -j$(NPROC) test-build
	$(Q)status=0; \
	BUILD=$(BUILD) ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=0} tests/run.sh $(TEST_SUITES) || \
		status=$$?; \
	$(if $(SANITIZER_PASS),$(MAKE) --no-print-directory SANITIZE=1 BUILD=build-san test || \
		status=$$?;) \
	exit $$status

unit: test-build
	$(Q)BUILD=$(BUILD) tests/run.sh unit

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/bench/run.sh

clean:
	$(Q)rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
