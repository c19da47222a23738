# reportd - personalized AI exposure report mailer.
#
#   make            build build/reportd (installs missing Debian packages first)
#   make run        the demo: queue sample signups and deliver them locally
#   make check      every test; ends with one "N passed, N failed" line
#   make lint       cppcheck and clang-tidy
#   make bench      benchmarks (not part of check)
#   make screenshots  every sample report in Chromium, into build/screenshots/
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share/reportd
DOCDIR ?= $(PREFIX)/share/doc/reportd
SYSCONFDIR ?= /etc
UNITDIR ?= /lib/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
DESTDIR ?=

CC ?= cc
CFLAGS ?= -O2 -g
LDFLAGS ?=
PKG_CONFIG ?= pkg-config

BUILD := build
OBJ := $(BUILD)/obj

# Recursively expanded on purpose: pkg-config must run after deps.sh has
# installed the -dev packages, i.e. when a recipe runs, not when make starts.
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags libcurl sqlite3 yaml-0.1)
PKG_LIBS = $(shell $(PKG_CONFIG) --libs libcurl sqlite3 yaml-0.1)
CMOCKA_CFLAGS = $(shell $(PKG_CONFIG) --cflags cmocka)
CMOCKA_LIBS = $(shell $(PKG_CONFIG) --libs cmocka)

WARN := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wvla -Wno-unused-parameter
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) -Idaemon $(PKG_CFLAGS) $(CFLAGS)

SRCS := $(wildcard daemon/*.c)
LIB_MODULES := $(filter-out main,$(basename $(notdir $(SRCS))))
LIB_OBJS := $(LIB_MODULES:%=$(OBJ)/%.o)

DEPS_STAMP := $(BUILD)/.deps-build
TEST_DEPS_STAMP := $(BUILD)/.deps-test
# playwright-core, from the lock file, to drive Debian's Chromium (no browser is downloaded).
NPM_STAMP := tests/html/node_modules/.reportd-npm-ci

.PHONY: all run check unit spec lint format bench install uninstall clean screenshots
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

$(OBJ)/%.o: daemon/%.c | $(DEPS_STAMP)
	@mkdir -p $(OBJ)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libreportd.a: $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/reportd: $(OBJ)/main.o $(BUILD)/libreportd.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

# Tests -------------------------------------------------------------------

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
SPEC_FILES := $(addprefix ../shared/mustache-spec/,comments.yml delimiters.yml \
	interpolation.yml inverted.yml partials.yml sections.yml)

$(BUILD)/tests/%.o: tests/unit/%.c | $(DEPS_STAMP) $(TEST_DEPS_STAMP)
	@mkdir -p $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) $(CMOCKA_CFLAGS) -MMD -MP -c -o $@ $<

# Each test links the library archive: the linker takes only the modules it uses.
$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(BUILD)/libreportd.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(PKG_LIBS) -lm

$(BUILD)/tests/mustache_spec.o: tests/mustache_spec.c | $(DEPS_STAMP)
	@mkdir -p $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/mustache-spec: $(BUILD)/tests/mustache_spec.o $(BUILD)/libreportd.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(BUILD)/tests/bench_render.o: tests/bench_render.c | $(DEPS_STAMP)
	@mkdir -p $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/bench-render: $(BUILD)/tests/bench_render.o $(BUILD)/libreportd.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

unit: $(UNIT_BINS)
spec: $(BUILD)/mustache-spec

check: $(TEST_DEPS_STAMP) $(NPM_STAMP) $(BUILD)/reportd $(UNIT_BINS) $(BUILD)/mustache-spec
	sh scripts/check.sh $(UNIT_BINS) -- $(SPEC_FILES)

# The Chromium test of tests/integration/test_rendering.py, saving one PNG per rendering.
screenshots: $(TEST_DEPS_STAMP) $(NPM_STAMP) $(BUILD)/reportd
	rm -rf $(BUILD)/screenshots
	REPORTD_SCREENSHOTS=$(CURDIR)/$(BUILD)/screenshots /usr/bin/python3 -m pytest -q \
		-p no:cacheprovider tests/integration/test_rendering.py -k chromium
	@echo "screenshots: $$(ls $(BUILD)/screenshots | wc -l) in $(BUILD)/screenshots/"

run: $(BUILD)/reportd
	sh scripts/deps.sh run
	sh scripts/demo.sh

bench: $(TEST_DEPS_STAMP) $(BUILD)/reportd $(BUILD)/bench-render
	sh scripts/bench.sh

lint: $(DEPS_STAMP)
	sh scripts/deps.sh lint
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr --suppress=missingIncludeSystem -Idaemon --std=c11 daemon tests
	clang-tidy --quiet $(SRCS) -- -std=c11 -D_GNU_SOURCE -Idaemon $(PKG_CFLAGS)

format:
	clang-format -i daemon/*.c daemon/*.h tests/unit/*.c tests/*.c

install: $(BUILD)/reportd
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/templates/partials \
		$(DESTDIR)$(DATADIR)/roles $(DESTDIR)$(SYSCONFDIR)/reportd/roles \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BUILD)/reportd $(DESTDIR)$(BINDIR)/reportd
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -m 0644 templates/*.mustache $(DESTDIR)$(DATADIR)/templates/
	install -m 0644 templates/partials/*.mustache $(DESTDIR)$(DATADIR)/templates/partials/
	install -m 0644 config/roles/*.yaml $(DESTDIR)$(DATADIR)/roles/
	sed 's|/usr/share/reportd|$(DATADIR)|g' config/reportd.yaml > $(BUILD)/reportd.yaml.example
	install -m 0644 $(BUILD)/reportd.yaml.example $(DESTDIR)$(DATADIR)/reportd.yaml.example
	test -e $(DESTDIR)$(SYSCONFDIR)/reportd/reportd.yaml || \
		install -m 0644 $(BUILD)/reportd.yaml.example $(DESTDIR)$(SYSCONFDIR)/reportd/reportd.yaml
	for f in config/roles/*.yaml; do \
		test -e $(DESTDIR)$(SYSCONFDIR)/reportd/roles/$${f##*/} || \
		install -m 0644 $$f $(DESTDIR)$(SYSCONFDIR)/reportd/roles/; done
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' systemd/reportd.service \
		> $(DESTDIR)$(UNITDIR)/reportd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/reportd.service
	install -m 0644 systemd/reportd.sysusers $(DESTDIR)$(SYSUSERSDIR)/reportd.conf

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/reportd $(DESTDIR)$(UNITDIR)/reportd.service \
		$(DESTDIR)$(SYSUSERSDIR)/reportd.conf
	rm -rf $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR)

clean:
	rm -rf $(BUILD)

-include $(wildcard $(OBJ)/*.d $(BUILD)/tests/*.d)
