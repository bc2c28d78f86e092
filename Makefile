# cnnvis.h - build, test, demo.  `make` builds everything; `make test` runs the tests.
CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -std=c99 -Wall -Wextra -Wpedantic -Wshadow
LDLIBS   = -lm -lpthread
BUILD   ?= build

EXAMPLE_SRC = $(wildcard examples/*.c)
TEST_SRC    = $(wildcard tests/test_*.c)
EXAMPLES    = $(patsubst examples/%.c,$(BUILD)/%,$(EXAMPLE_SRC))
TESTS       = $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))

.PHONY: all test debug data cifar10 clean
all: $(EXAMPLES) $(TESTS)

$(BUILD)/%: examples/%.c cnnvis.h
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) -I. $< -o $@ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c cnnvis.h tests/minitest.h
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) -I. -Itests $< -o $@ $(LDLIBS)

# Runs every test program and adds up their "N passed, N failed, N skipped" lines.
test: $(TESTS)
	@CC="$(CC)" BUILD="$(BUILD)" sh tests/run.sh tests/compile.sh $(TESTS)

# -O0 -g on the scalar reference path: for stepping through in a debugger.
debug:
	$(MAKE) BUILD=build-debug CFLAGS="-O0 -g -DCNNVIS_FORCE_REFERENCE" all

# Fashion-MNIST from Debian's package where apt exists; otherwise where to get it.
data:
	@sh data/get-fashion-mnist.sh

# CIFAR-10 from its authors' page (needs internet), checked by size and SHA-256.
cifar10:
	@sh data/get-cifar10.sh

clean:
	rm -rf build build-debug out
