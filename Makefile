# ztna: NAT traversal and zero-trust access toolkit.
#
#   make            build everything into build/
#   make test       install missing Debian packages, build, run every test
#   make test SAN=1 the same under ASan + UBSan (into build/san/)
#   make fuzz       time-bounded libFuzzer runs (FUZZ_SECONDS=60 per target, FUZZ_JOBS at a time)
#   make bench      benchmarks (see bench/README.md; make bench-quick: < 2 min)
#   make install    programs, man pages, systemd units, example configs and docs into
#                   $(DESTDIR)$(PREFIX) (PREFIX=/usr/local; docs/install.md)
#   make man        the man pages (help2man, from each program's --help) into build/man/
#   V=1             show full command lines

BUILD	?= build
# make test and make fuzz build with one job per CPU.
NPROC	:= $(shell nproc 2>/dev/null || echo 1)
PKGS	:= libngtcp2 libngtcp2_crypto_gnutls gnutls libnl-3.0 libnl-route-3.0 libnftables zlib miniupnpc \
	   libsystemd libnats
CC	?= cc
CFLAGS	?= -O2 -g
CFLAGS	+= -std=gnu17 -Wall -Wextra -Werror -MMD -MP -Isrc -D_GNU_SOURCE
LDLIBS	:= -lm

ifeq ($(SAN),1)
override BUILD := $(BUILD)/san
CFLAGS	+= -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS	+= -fsanitize=address,undefined
endif
# ThreadSanitizer, for the threaded parts (the Intermediate's --workers, docs/workers.md):
# make TSAN=1, then BUILD=build/tsan tests/run.sh workers
ifeq ($(TSAN),1)
override BUILD := $(BUILD)/tsan
CFLAGS	+= -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS	+= -fsanitize=thread
endif

ifneq ($(MAKECMDGOALS),deps)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
endif
CFLAGS	+= $(PKG_CFLAGS)
LDLIBS	+= $(PKG_LIBS)

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-6s %s\n' $(1) $(2)
endif

# Library code: sans-IO core, QUIC/TLS sessions, I/O shell, program plumbing (app).
LIB_SRC	:= $(wildcard src/core/*.c src/quic/*.c src/node/*.c src/io/*.c src/app/*.c)
LIB_OBJ	:= $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB	:= $(BUILD)/libzt.a

# Programs: each folder src/bin/NAME/ builds $(BUILD)/NAME.
BIN_DIRS := $(wildcard src/bin/*)
BINS	:= $(BIN_DIRS:src/bin/%=$(BUILD)/%)
# The lab harness and the simulator.
LAB_SRC	:= $(wildcard netns/*.c)
SIM_SRC	:= $(wildcard sim/*.c)
BENCH_SRC := $(wildcard bench/*.c)
ifneq ($(LAB_SRC),)
BINS	+= $(BUILD)/ztna-lab
endif
ifneq ($(SIM_SRC),)
BINS	+= $(BUILD)/ztna-sim
endif
BINS	+= $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

# Unit tests: tests/unit/test_NAME.c -> $(BUILD)/tests/test_NAME.
TEST_SRC := $(wildcard tests/unit/test_*.c)
TESTS	:= $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# Adversary/fault tests: tests/sec/test_NAME.c -> $(BUILD)/tests/sec/test_NAME (cmocka,
# linked like the unit tests, with their harnesses); tests/sec/*.sh are shell suites.
SEC_SRC	:= $(wildcard tests/sec/test_*.c)
TESTS	+= $(SEC_SRC:tests/sec/%.c=$(BUILD)/tests/sec/%)
# The fuzz targets built with the ordinary compiler and tests/fuzz/replay.c instead of
# libFuzzer: tests/sys/fuzz_seeds.sh feeds each its seeds (make fuzz does the fuzzing).
FUZZ_REPLAYS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz-replay/%,$(wildcard tests/fuzz/fuzz_*.c))
TEST_HELPERS := $(filter-out $(TEST_SRC),$(wildcard tests/unit/*.c))
TEST_HELPER_OBJ := $(TEST_HELPERS:%.c=$(BUILD)/obj/%.o)

# Netns harness objects other than main are linkable into unit tests.
LAB_LIB_OBJ := $(filter-out $(BUILD)/obj/netns/main.o,$(LAB_SRC:%.c=$(BUILD)/obj/%.o))
SIM_LIB_OBJ := $(filter-out $(BUILD)/obj/sim/main.o,$(SIM_SRC:%.c=$(BUILD)/obj/%.o))

.PHONY: all deps test test-unit fuzz fuzz-build bench bench-quick clean man install uninstall
.DEFAULT_GOAL := all
.SECONDARY:

all: $(LIB) $(BINS) $(TESTS) $(FUZZ_REPLAYS)

$(BUILD)/obj/%.o: %.c
	$(call msg,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

define prog_rule
$(BUILD)/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard src/bin/$(1)/*.c)) $(LIB)
	$$(call msg,LD,$$@)
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach p,$(BIN_DIRS:src/bin/%=%),$(eval $(call prog_rule,$(p))))

$(BUILD)/ztna-lab: $(LAB_SRC:%.c=$(BUILD)/obj/%.o) $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The simulator reads the lab's scenario files with the lab's parser.
$(BUILD)/ztna-sim: $(SIM_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/netns/scenario.o $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIB)
	$(call msg,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(TEST_HELPER_OBJ) $(LAB_LIB_OBJ) $(SIM_LIB_OBJ) $(LIB)
	$(call msg,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/obj/tests/sec/%.o: CFLAGS += -Itests/unit
$(BUILD)/tests/sec/%: $(BUILD)/obj/tests/sec/%.o $(TEST_HELPER_OBJ) $(LAB_LIB_OBJ) $(SIM_LIB_OBJ) $(LIB)
	$(call msg,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/fuzz-replay/%: $(BUILD)/obj/tests/fuzz/%.o $(BUILD)/obj/tests/fuzz/replay.o \
		$(LAB_LIB_OBJ) $(SIM_LIB_OBJ) $(LIB)
	$(call msg,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Installing. The programs' man pages come from their --help (help2man), so they say
# what the programs say; systemd units get the installed programs' path.
PREFIX	?= /usr/local
DESTDIR	?=
BINDIR	= $(PREFIX)/bin
MANDIR	= $(PREFIX)/share/man/man1
DOCDIR	= $(PREFIX)/share/doc/ztna
UNITDIR	?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
INSTALL_PROGS := ztna ztna-intermediate ztna-connector ztna-agent
ZTNA_CMDS := pki stun-server discover punch status ping
MANS	:= $(INSTALL_PROGS:%=$(BUILD)/man/%.1) $(ZTNA_CMDS:%=$(BUILD)/man/ztna-%.1)
MAN_NAME_ztna := NAT traversal and zero-trust access: the operator's tool
MAN_NAME_ztna-intermediate := ztna relay, address discovery and signaling server
MAN_NAME_ztna-connector := serve private services to ztna agents
MAN_NAME_ztna-agent := reach services behind ztna connectors
MAN_NAME_ztna-pki := a development CA and certificates for ztna
MAN_NAME_ztna-stun-server := STUN server with NAT behaviour discovery
MAN_NAME_ztna-discover := reflexive address and NAT type
MAN_NAME_ztna-punch := manual UDP hole punch to a peer
MAN_NAME_ztna-status := the sessions of a running ztna agent or connector
MAN_NAME_ztna-ping := round trips to a service through a running ztna agent
ZT_VERSION_STR = $(shell sed -n 's/^#define ZT_VERSION "\(.*\)"/\1/p' src/core/version.h)

man: $(MANS)

$(BUILD)/man/%.1: $(INSTALL_PROGS:%=$(BUILD)/%) tools/mkman.sh
	$(call msg,MAN,$@)
	$(Q)./tools/mkman.sh "$(BUILD)" "$*" "$(MAN_NAME_$*)" "$(ZT_VERSION_STR)" $@

install: all man
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR)/docs
	install -m 0755 $(INSTALL_PROGS:%=$(BUILD)/%) $(DESTDIR)$(BINDIR)/
	install -m 0644 $(MANS) $(DESTDIR)$(MANDIR)/
	for u in packaging/systemd/*.service; do \
		sed 's#@BINDIR@#$(BINDIR)#g' $$u >$(DESTDIR)$(UNITDIR)/$${u##*/} && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$${u##*/} || exit 1; done
	install -m 0644 packaging/examples/*.conf $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 docs/*.md $(DESTDIR)$(DOCDIR)/docs/

uninstall:
	rm -f $(INSTALL_PROGS:%=$(DESTDIR)$(BINDIR)/%) $(MANS:$(BUILD)/man/%=$(DESTDIR)$(MANDIR)/%)
	rm -f $(patsubst packaging/systemd/%,$(DESTDIR)$(UNITDIR)/%,$(wildcard packaging/systemd/*.service))
	rm -rf $(DESTDIR)$(DOCDIR)

deps:
	@./tools/deps.sh lab

# The one test command: packages, build, every test; ends with "N passed, N failed".
test: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all
	@BUILD=$(BUILD) SAN=$(SAN) ./tests/run.sh

# Fuzzing with libFuzzer (clang). Corpora are seeded from tests/fuzz/seeds/.
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZERS	:= $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -std=gnu17 -g -O1 -Isrc -D_GNU_SOURCE -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=all -MMD -MP $(PKG_CFLAGS)
FUZZ_LDFLAGS := -fsanitize=fuzzer,address,undefined
FUZZ_LIB_SRC = $(filter src/core/%,$(LIB_SRC))
# Sources a target needs beyond src/core: FUZZ_EXTRA_<target>.
FUZZ_EXTRA_fuzz_conf := src/app/conf.c
FUZZ_EXTRA_fuzz_parse := src/app/parse.c
FUZZ_EXTRA_fuzz_popmix := sim/popmix.c
FUZZ_EXTRA_fuzz_pcp := src/node/portmap.c src/node/nodelog.c
FUZZ_EXTRA_fuzz_policy := src/node/policy.c src/quic/pki.c
FUZZ_EXTRA_fuzz_relaychan := src/node/relay.c $(filter src/quic/%,$(LIB_SRC))
FUZZ_EXTRA_fuzz_retry := src/quic/retry.c
FUZZ_EXTRA_fuzz_scn := netns/scenario.c
FUZZ_EXTRA_fuzz_simscn := sim/simscn.c sim/theory.c sim/nat.c netns/scenario.c
FUZZ_EXTRA_fuzz_tcplink := src/node/tcplink.c
# Each source is compiled once for all the targets (build/fuzz/obj).
fuzz_obj = $(patsubst %.c,build/fuzz/obj/%.o,$(1))

fuzz-build: $(FUZZERS)

build/fuzz/obj/%.o: %.c
	$(call msg,FUZZCC,$<)
	@mkdir -p $(dir $@)
	$(Q)clang $(FUZZ_CFLAGS) -c -o $@ $<

.SECONDEXPANSION:
build/fuzz/%: build/fuzz/obj/tests/fuzz/%.o $$(call fuzz_obj,$(FUZZ_LIB_SRC) $$(FUZZ_EXTRA_$$*))
	$(call msg,FUZZ,$@)
	@mkdir -p $(dir $@)
	$(Q)clang $(FUZZ_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

fuzz: deps
	@$(MAKE) --no-print-directory -j$(NPROC) fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) ./tests/fuzz/run.sh $(FUZZERS)

# The benchmarks also need iperf3, gnuplot, ngtcp2's examples (tools/deps.sh bench).
bench:
	@./tools/deps.sh bench
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) ./bench/run.sh

bench-quick:
	@./tools/deps.sh bench
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) QUICK=1 ./bench/run.sh

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj build/fuzz/obj -name '*.d' 2>/dev/null)
