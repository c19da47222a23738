# reportd - personalized AI exposure report mailer.
#
#   make            build build/reportd (installs missing Debian packages first)
#   make run        the demo: queue sample signups and deliver them locally
#   make check      every test; ends with one "N passed, N failed" line
#   make fuzz       each libFuzzer target for FUZZ_TIME seconds (default 300)
#   make lint       cppcheck and clang-tidy
#   make bench      the delivery benchmark, one table (~10 min; BENCH_QUICK=1: ~1; not part of check)
#   make crash-test the crash test's long form (5000 signups, 50 SIGKILLs; not part of check)
#   make screenshots  every sample report in Chromium, into build/screenshots/
#   make install    PREFIX=/usr/local DESTDIR= (and the directories below)
#   make deb        the Debian package, into build/deb/, checked with lintian
#
# CC, CPPFLAGS, CFLAGS and LDFLAGS are the builder's (dpkg-buildflags sets
# them in a package build); the project's warnings and includes come first.
# REPORTD_NO_DEPS=1 (implied where DEB_BUILD_ARCH is set, i.e. under
# dpkg-buildpackage) keeps scripts/deps.sh from installing anything.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share/reportd
DOCDIR ?= $(PREFIX)/share/doc/reportd
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
# /etc whatever the prefix: the unit and the binary look for /etc/reportd/reportd.yaml.
SYSCONFDIR ?= /etc
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
DESTDIR ?=

CC ?= cc
CPPFLAGS ?=
CFLAGS ?= -O2 -g
LDFLAGS ?=
PKG_CONFIG ?= pkg-config

BUILD := build
OBJ := $(BUILD)/obj

# Recursively expanded on purpose: pkg-config must run after deps.sh has
# installed the -dev packages, i.e. when a recipe runs, not when make starts.
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags libcurl sqlite3 yaml-0.1 libidn2 libpq)
PKG_LIBS = $(shell $(PKG_CONFIG) --libs libcurl sqlite3 yaml-0.1 libidn2 libpq)
CMOCKA_CFLAGS = $(shell $(PKG_CONFIG) --cflags cmocka)
CMOCKA_LIBS = $(shell $(PKG_CONFIG) --libs cmocka)

WARN := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wvla -Wno-unused-parameter
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -pthread $(WARN) -Idaemon $(PKG_CFLAGS) $(CPPFLAGS) $(CFLAGS)

SRCS := $(wildcard daemon/*.c)
LIB_MODULES := $(filter-out main,$(basename $(notdir $(SRCS))))
LIB_OBJS := $(LIB_MODULES:%=$(OBJ)/%.o)

DEPS_STAMP := $(BUILD)/.deps-build
TEST_DEPS_STAMP := $(BUILD)/.deps-test
# playwright-core, from the lock file, to drive Debian's Chromium (no browser is downloaded).
NPM_STAMP := tests/html/node_modules/.reportd-npm-ci
# better-sqlite3, from the lock file, for the Node producer of the producer tests.
PRODUCERS_NPM_STAMP := tests/producers/node_modules/.reportd-npm-ci

.PHONY: all run check unit spec lint format bench crash-test install uninstall clean fuzz fuzz-build \
	asan screenshots deb
# Keep the test objects: they are intermediate files, but rebuilding them each time is waste.
.SECONDARY:

all: $(BUILD)/reportd

$(DEPS_STAMP): scripts/deps.sh
	@mkdir -p $(BUILD)
	sh scripts/deps.sh build
	@touch $@

$(TEST_DEPS_STAMP): scripts/deps.sh
	@mkdir -p $(BUILD)
	sh scripts/deps.sh test
	@touch $@

$(NPM_STAMP): tests/html/package.json tests/html/package-lock.json $(TEST_DEPS_STAMP)
	cd tests/html && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Built from source against the node headers in /usr/include/node: nothing but the npm
# registry is downloaded.
$(PRODUCERS_NPM_STAMP): tests/producers/package.json tests/producers/package-lock.json \
		$(TEST_DEPS_STAMP)
	cd tests/producers && npm_config_nodedir=/usr npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(OBJ)/%.o: daemon/%.c | $(DEPS_STAMP)
	@mkdir -p $(OBJ)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libreportd.a: $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/reportd: $(OBJ)/main.o $(BUILD)/libreportd.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm -pthread

# Tests -------------------------------------------------------------------

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# build/mustache-spec finds the official spec in $(MUSTACHE_SPEC_DIR) (default
# ../shared/mustache-spec); without it, check says the spec was not run (a
# failure under CI=true).

$(BUILD)/tests/%.o: tests/unit/%.c | $(DEPS_STAMP) $(TEST_DEPS_STAMP)
	@mkdir -p $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) $(CMOCKA_CFLAGS) -MMD -MP -c -o $@ $<

# Each test links the library archive: the linker takes only the modules it uses.
$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(BUILD)/libreportd.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(PKG_LIBS) -lm -pthread

# The queue's tests share one fixture (tests/unit/queue_fixture.c).
QUEUE_TESTS := test_queue test_queue_contract test_retention
$(QUEUE_TESTS:%=$(BUILD)/tests/%): $(BUILD)/tests/queue_fixture.o

$(BUILD)/tests/mustache_spec.o: tests/mustache_spec.c | $(DEPS_STAMP)
	@mkdir -p $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/mustache-spec: $(BUILD)/tests/mustache_spec.o $(BUILD)/libreportd.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm -pthread

$(BUILD)/tests/bench_render.o: tests/bench_render.c | $(DEPS_STAMP)
	@mkdir -p $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/bench-render: $(BUILD)/tests/bench_render.o $(BUILD)/libreportd.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm -pthread

unit: $(UNIT_BINS)
spec: $(BUILD)/mustache-spec

# Sanitizer build: the daemon and the unit tests again, with AddressSanitizer
# and UndefinedBehaviorSanitizer, in a directory of their own.  Any report aborts.
SAN_CC ?= clang
SAN := $(BUILD)/asan
SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
SAN_CFLAGS = -std=c11 -D_GNU_SOURCE -pthread $(WARN) -Idaemon $(PKG_CFLAGS) $(SAN_FLAGS)
SAN_UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(SAN)/tests/%)
FUZZ_DEPS_STAMP := $(BUILD)/.deps-fuzz

$(FUZZ_DEPS_STAMP): scripts/deps.sh
	@mkdir -p $(BUILD)
	sh scripts/deps.sh fuzz
	@touch $@

$(SAN)/obj/%.o: daemon/%.c | $(DEPS_STAMP) $(FUZZ_DEPS_STAMP)
	@mkdir -p $(SAN)/obj
	$(SAN_CC) $(SAN_CFLAGS) -MMD -MP -c -o $@ $<

$(SAN)/libreportd.a: $(LIB_MODULES:%=$(SAN)/obj/%.o)
	rm -f $@
	$(AR) rcs $@ $^

$(SAN)/reportd: $(SAN)/obj/main.o $(SAN)/libreportd.a
	$(SAN_CC) $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm -pthread

$(SAN)/tests/%.o: tests/unit/%.c | $(DEPS_STAMP) $(TEST_DEPS_STAMP) $(FUZZ_DEPS_STAMP)
	@mkdir -p $(SAN)/tests
	$(SAN_CC) $(SAN_CFLAGS) $(CMOCKA_CFLAGS) -MMD -MP -c -o $@ $<

$(SAN)/tests/test_%: $(SAN)/tests/test_%.o $(SAN)/libreportd.a
	$(SAN_CC) $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(PKG_LIBS) -lm -pthread

$(QUEUE_TESTS:%=$(SAN)/tests/%): $(SAN)/tests/queue_fixture.o

asan: $(SAN)/reportd $(SAN_UNIT_BINS)

# Fuzz targets (libFuzzer, with ASan and UBSan): the library once more,
# instrumented for coverage.
FUZZ := $(BUILD)/fuzz
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ)/fuzz_%)
# Seconds each target runs in `make fuzz`; `make check` gives each a few.
FUZZ_TIME ?= 300

$(FUZZ)/obj/%.o: daemon/%.c | $(DEPS_STAMP) $(FUZZ_DEPS_STAMP)
	@mkdir -p $(FUZZ)/obj
	$(SAN_CC) $(SAN_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ)/libreportd.a: $(LIB_MODULES:%=$(FUZZ)/obj/%.o)
	rm -f $@
	$(AR) rcs $@ $^

$(FUZZ)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_file.h $(FUZZ)/libreportd.a | $(FUZZ_DEPS_STAMP)
	$(SAN_CC) $(SAN_CFLAGS) -fsanitize=fuzzer -Itests/fuzz -o $@ $< $(FUZZ)/libreportd.a \
		$(PKG_LIBS) -lm -pthread

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	sh tests/fuzz/run.sh $(FUZZ_TIME) $(FUZZ) $(FUZZ_BINS)

check: $(TEST_DEPS_STAMP) $(NPM_STAMP) $(PRODUCERS_NPM_STAMP) $(BUILD)/reportd $(UNIT_BINS) $(BUILD)/mustache-spec \
		$(SAN)/reportd $(SAN_UNIT_BINS) $(FUZZ_BINS)
	SAN_UNITS="$(SAN_UNIT_BINS)" SAN_REPORTD=$(SAN)/reportd FUZZ_BINS="$(FUZZ_BINS)" \
		sh scripts/check.sh $(UNIT_BINS)

# The short form (300 signups, 10 kills) runs in check, from tests/integration/test_crash.py.
crash-test: $(TEST_DEPS_STAMP) $(BUILD)/reportd
	/usr/bin/python3 tests/crash/crash_test.py --signups 5000 --kills 50 --daemons 1 3 --backend sqlite pg \
		--uncertain resend hold

# The Chromium test of tests/integration/test_rendering.py, saving one PNG per rendering.
screenshots: $(TEST_DEPS_STAMP) $(NPM_STAMP) $(BUILD)/reportd
	rm -rf $(BUILD)/screenshots
	REPORTD_SCREENSHOTS=$(CURDIR)/$(BUILD)/screenshots /usr/bin/python3 -m pytest -q \
		-p no:cacheprovider tests/integration/test_rendering.py -k chromium
	@echo "screenshots: $$(ls $(BUILD)/screenshots | wc -l) in $(BUILD)/screenshots/"

run: $(BUILD)/reportd
	sh scripts/deps.sh run
	sh scripts/demo.sh

bench: $(TEST_DEPS_STAMP) $(BUILD)/reportd
	sh scripts/bench.sh

lint: $(DEPS_STAMP)
	sh scripts/deps.sh lint
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr --suppress=missingIncludeSystem -Idaemon --std=c11 \
		-itests/producers/node_modules -itests/html/node_modules daemon tests
	clang-tidy --quiet $(SRCS) -- -std=c11 -D_GNU_SOURCE -Idaemon $(PKG_CFLAGS)

format:
	clang-format -i daemon/*.c daemon/*.h tests/unit/*.c tests/*.c tests/fuzz/*.c tests/fuzz/*.h

MAN_PAGES := man/reportd.8 man/reportd.yaml.5

# Operator-edited files (config, role data, templates) go to /etc/reportd, as
# postfix keeps its own in /etc/postfix; existing ones are never overwritten.
# Pristine copies stay in $(DATADIR) to compare an edited file with.
install: $(BUILD)/reportd
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/templates/partials \
		$(DESTDIR)$(DATADIR)/roles $(DESTDIR)$(SYSCONFDIR)/reportd/roles \
		$(DESTDIR)$(SYSCONFDIR)/reportd/templates/partials \
		$(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
		$(DESTDIR)$(DOCDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(BASHCOMPDIR)
	install -m 0755 $(BUILD)/reportd $(DESTDIR)$(BINDIR)/reportd
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -m 0644 templates/*.mustache $(DESTDIR)$(DATADIR)/templates/
	install -m 0644 templates/partials/*.mustache $(DESTDIR)$(DATADIR)/templates/partials/
	install -m 0644 config/roles/*.yaml $(DESTDIR)$(DATADIR)/roles/
	sed 's|/etc/reportd/|$(SYSCONFDIR)/reportd/|g' config/reportd.yaml > $(BUILD)/reportd.yaml.example
	install -m 0644 $(BUILD)/reportd.yaml.example $(DESTDIR)$(DATADIR)/reportd.yaml.example
	test -e $(DESTDIR)$(SYSCONFDIR)/reportd/reportd.yaml || \
		install -m 0644 $(BUILD)/reportd.yaml.example $(DESTDIR)$(SYSCONFDIR)/reportd/reportd.yaml
	for f in config/roles/*.yaml templates/*.mustache templates/partials/*.mustache; do \
		case $$f in config/roles/*) t=roles/$${f##*/} ;; *) t=$$f ;; esac; \
		test -e $(DESTDIR)$(SYSCONFDIR)/reportd/$$t || \
		install -m 0644 $$f $(DESTDIR)$(SYSCONFDIR)/reportd/$$t; done
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' \
		-e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' systemd/reportd.service \
		> $(DESTDIR)$(SYSTEMDUNITDIR)/reportd.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/reportd.service
	install -m 0644 systemd/reportd.sysusers $(DESTDIR)$(SYSUSERSDIR)/reportd.conf
	install -m 0644 systemd/reportd.tmpfiles $(DESTDIR)$(TMPFILESDIR)/reportd.conf
	install -m 0644 man/reportd.8 $(DESTDIR)$(MANDIR)/man8/reportd.8
	install -m 0644 man/reportd.yaml.5 $(DESTDIR)$(MANDIR)/man5/reportd.yaml.5
	install -m 0644 completion/reportd.bash $(DESTDIR)$(BASHCOMPDIR)/reportd

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/reportd $(DESTDIR)$(SYSTEMDUNITDIR)/reportd.service \
		$(DESTDIR)$(SYSUSERSDIR)/reportd.conf $(DESTDIR)$(TMPFILESDIR)/reportd.conf \
		$(DESTDIR)$(MANDIR)/man8/reportd.8 $(DESTDIR)$(MANDIR)/man5/reportd.yaml.5 \
		$(DESTDIR)$(BASHCOMPDIR)/reportd
	rm -rf $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR)

# The package is built from a copy of the tree in build/deb/, so that
# dpkg-buildpackage's clean step cannot remove this tree's build/.
deb:
	sh scripts/deb.sh $(BUILD)/deb

clean:
	rm -rf $(BUILD)

-include $(wildcard $(OBJ)/*.d $(BUILD)/tests/*.d $(SAN)/obj/*.d $(SAN)/tests/*.d $(FUZZ)/obj/*.d)
