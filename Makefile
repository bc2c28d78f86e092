# cnnvis.h - build, test, demo.  `make` builds everything; `make test` runs the tests;
# `make bench` measures the kernels (a few minutes). Builds run in parallel, one job a CPU
# (make -j1 for one at a time; `make clean all` runs one at a time, so that clean finishes first).
NPROC   := $(shell getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
ifeq ($(filter clean,$(MAKECMDGOALS)),)
MAKEFLAGS += -j$(NPROC)
endif
CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -std=c99 -Wall -Wextra -Wpedantic -Wshadow
LDLIBS   = -lm -lpthread
BUILD   ?= build

EXAMPLE_SRC = $(sort $(filter-out examples/cnnvis.c,$(wildcard examples/*.c)))
TEST_SRC    = $(wildcard tests/test_*.c)
EXAMPLES    = $(patsubst examples/%.c,$(BUILD)/%,$(EXAMPLE_SRC))
TESTS       = $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
# The cnnvis side of tests/torch.sh (not a test_*.c: it needs files PyTorch makes).
TORCH_CHECK = $(BUILD)/tests/torch_check

.PHONY: all test bench debug demo data cifar10 clean test-arm64 test-nehalem test-tsan test-O0 test-O0-gcc \
        test-O0-clang test-asan test-valgrind \
        fuzz fuzz-build fuzz-replay
all: $(EXAMPLES) $(TESTS) $(TORCH_CHECK) $(BUILD)/bench

# The implementation is compiled once, into cnnvis.o (examples/cnnvis.c), and every example
# links it. The tests include it themselves: they reach its private functions.
$(BUILD)/cnnvis.o: examples/cnnvis.c cnnvis.h
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) -I. -c $< -o $@

$(BUILD)/%: examples/%.c $(BUILD)/cnnvis.o examples/common.h
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) -I. $< $(BUILD)/cnnvis.o -o $@ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c cnnvis.h tests/minitest.h tests/expect.h tests/procmem.h
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) -I. -Itests $< -o $@ $(LDLIBS)
$(BUILD)/tests/test_activations_cap: tests/test_activations.c
$(BUILD)/tests/test_gallery: $(BUILD)/99_gallery

# Every numbered example in order: 00_train trains alexnet_mini on the built-in concept
# images, the others draw the lecture's pictures from it with defaults sized for CI
# (README.md gives the flags of the full-size runs). out/index.html is written first and
# again after each example, so it can be opened at once and fills in; each example's
# wall-clock seconds are printed after it.
GALLERY = $(BUILD)/99_gallery
demo: $(EXAMPLES)
	@mkdir -p out && ./$(GALLERY) --running "starting" >/dev/null && echo "open out/index.html: it fills in as the examples finish"
	@for e in $(filter-out $(GALLERY),$(sort $(EXAMPLES))); do echo "== $$e"; s=$$(date +%s); ./$$e || exit 1; \
	    echo "== $$e: $$(( $$(date +%s) - s )) s"; ./$(GALLERY) --running "$$(basename $$e) done" >/dev/null || exit 1; done
	@./$(GALLERY)
	@echo "pictures in out/"

# Runs every test program and script and adds up their "N passed, N failed, N skipped" lines.
# tests/doc_check.sh: every public function has a comment; tests/torch.sh: agreement with
# PyTorch through tools/torch2cnnvis.py (skipped without python3 and PyTorch).
test: $(TESTS) $(TORCH_CHECK)
	@CC="$(CC)" CXX="$(CXX)" BUILD="$(BUILD)" sh tests/run.sh tests/compile.sh $(TESTS) tests/doc_check.sh tests/torch.sh

# The NEON kernels: the tests cross-compiled for arm64 and run under qemu-aarch64
# (Debian: gcc-aarch64-linux-gnu, qemu-user). test_train is left out: too slow emulated.
# MINITEST_EMULATED (tests/minitest.h) gives the heaviest checks smaller nets under qemu.
ARM_CC    ?= aarch64-linux-gnu-gcc
ARM_TESTS  = test_kernels test_layers test_grad test_concepts test_tensor test_checkpoint \
             test_idx test_errors test_images test_filters test_saliency test_adversarial
ARM_BINS   = $(addprefix build-arm64/tests/,$(ARM_TESTS))
build-arm64/tests/%: tests/%.c cnnvis.h tests/minitest.h tests/expect.h
	@mkdir -p $(@D)
	$(ARM_CC) $(WARN) -O2 -static -I. -Itests $< -o $@ $(LDLIBS)
test-arm64: $(ARM_BINS)
	@MINITEST_EMULATED=1 RUNNER=qemu-aarch64 sh tests/run.sh $(ARM_BINS)

# The scalar fallback on an x86-64 CPU without AVX2 (qemu-user emulating a Nehalem).
NEHALEM_TESTS = test_kernels test_grad test_layers test_tensor test_saliency test_adversarial
test-nehalem: $(addprefix $(BUILD)/tests/,$(NEHALEM_TESTS))
	@MINITEST_EMULATED=1 RUNNER="qemu-x86_64 -cpu Nehalem" sh tests/run.sh $(addprefix $(BUILD)/tests/,$(NEHALEM_TESTS))

# ThreadSanitizer on the tests whose work the thread pool splits: the kernels, dissection
# and top-k over data sets, saliency, attacks and robustness curves, and test_layers'
# comparison of 1, 2 and 3 threads (only that one of its tests: the others are single-pixel
# probes, minutes under TSan and nothing to do with threads).
TSAN_TESTS = test_kernels test_activations test_saliency test_adversarial
test-tsan:
	@$(MAKE) --no-print-directory BUILD=build-tsan CFLAGS="-O1 -g -fsanitize=thread" \
	    $(addprefix build-tsan/tests/,$(TSAN_TESTS) test_layers)
	@MINITEST_ONLY=test_threads sh tests/run.sh build-tsan/tests/test_layers
	@sh tests/run.sh $(addprefix build-tsan/tests/,$(TSAN_TESTS))

# The suite under AddressSanitizer + UndefinedBehaviorSanitizer, built by clang at -O2 (clang's
# -O2 in the compiler matrix; -O1 is the usual advice, but -O2 runs the float loops several
# times faster and still reports every error with its line: -gline-tables-only keeps the
# lines and builds faster than -g). Any error stops the program.
ASAN_CFLAGS = -O2 -gline-tables-only -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
test-asan:
	@$(MAKE) --no-print-directory CC=clang CXX=clang++ BUILD=build-asan CFLAGS="$(ASAN_CFLAGS)" test

# -O0, as a student steps through it, by both compilers: gcc with the SIMD kernels (their
# intrinsics unoptimised), clang with them compiled out (CNNVIS_NO_SIMD: the scalar path,
# read by the other compiler). test_train is left out (its real-data training takes
# minutes at -O0); test_kernels has nothing to compare without SIMD and skips there.
O0_TESTS  = test_grad test_layers test_kernels test_tensor test_errors test_checkpoint test_images test_idx \
            test_concepts test_filters test_activations test_saliency test_adversarial test_memory
test-O0: test-O0-gcc test-O0-clang
test-O0-gcc:
	@$(MAKE) --no-print-directory CC=gcc BUILD=build-O0-gcc CFLAGS="-O0 -g" $(addprefix build-O0-gcc/tests/,$(O0_TESTS))
	@sh tests/run.sh $(addprefix build-O0-gcc/tests/,$(O0_TESTS))
test-O0-clang:
	@$(MAKE) --no-print-directory CC=clang BUILD=build-O0 CFLAGS="-O0 -g -DCNNVIS_NO_SIMD" \
	    $(addprefix build-O0/tests/,$(O0_TESTS))
	@sh tests/run.sh $(addprefix build-O0/tests/,$(O0_TESTS))

# valgrind memcheck of one small example run: zero errors and zero leaks of any kind.
# 01_filters on the net `make demo` (00_train) trained, without the per-epoch replay:
# memcheck slows the nets' float loops several hundredfold, so the run must be short. It
# still loads a checkpoint, computes the filter statistics and writes PNG and PPM files.
VALGRIND = valgrind --error-exitcode=1 --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all
test-valgrind: $(BUILD)/01_filters
	@if [ ! -f out/00_train/alexnet_mini.cnnvis ]; then \
	    echo "test-valgrind: out/00_train/alexnet_mini.cnnvis not found: run make demo (or build/00_train) first"; exit 1; fi
	@mkdir -p build-valgrind/no-epochs
	$(VALGRIND) ./$(BUILD)/01_filters --threads 2 --epochs-dir build-valgrind/no-epochs --out build-valgrind/01_filters

# The benchmark is always built at -O2 (whatever CFLAGS says): its figures are those of the
# build users get. `make bench BENCH_ARGS=--quick` for a short smoke run.
BENCH_CFLAGS ?= -O2 -g
BENCH_ARGS   ?=
$(BUILD)/bench: tests/bench.c cnnvis.h tests/procmem.h
	@mkdir -p $(@D)
	$(CC) $(WARN) $(BENCH_CFLAGS) -I. $< -o $@ $(LDLIBS)

bench: $(BUILD)/bench
	./$(BUILD)/bench --csv $(BUILD)/bench.csv $(BENCH_ARGS)

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
	rm -rf build build-debug build-asan build-tsan build-O0 build-O0-gcc build-valgrind build-arm64 build-fuzz build-ci out

# libFuzzer harnesses for every parser (clang: -fsanitize=fuzzer,address,undefined).
# `make fuzz` runs each for FUZZ_SECONDS (60), FUZZ_JOBS (1) at a time; `make fuzz-replay` only replays the
# committed corpora in tests/fuzz/corpus, which hold every input that once crashed; `make fuzz-build`
# only builds the harnesses.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= 1
FUZZERS = $(patsubst tests/fuzz/%.c,build-fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
build-fuzz/%: tests/fuzz/%.c cnnvis.h examples/common.h
	@mkdir -p $(@D)
	$(FUZZ_CC) -gline-tables-only -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I. $< -o $@ $(LDLIBS)
fuzz-build: $(FUZZERS)
fuzz: $(FUZZERS)
	@FUZZ_JOBS=$(FUZZ_JOBS) sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZERS)
fuzz-replay: $(FUZZERS)
	@sh tests/fuzz/run.sh 0 $(FUZZERS)
