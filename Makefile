# nn.h - build and test.
#   make test    install missing compilers (apt-get), build the test matrix, run it;
#                prints one "N passed, N failed" line per run and a total at the end.
# Everything built goes to build/.

CC_GCC   ?= gcc
CXX_GXX  ?= g++
CC_CLANG ?= clang

WARNINGS := -Wall -Wextra -Wpedantic -Werror
CFLAGS   ?= -O2
C99      := -std=c99
C11      := -std=c11
CXX11    := -std=c++11 -x c++
LDLIBS   := -lm
SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1

BUILD    := build
JOBS     ?= 2
HEADERS  := nn.h tests/test.h tests/fixture.h

# root needs no sudo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Every suite is built in every configuration of the matrix.
SUITES  := core layers optim serialize
CONFIGS := c99 c11_clang cxx11 static nosimd openmp asan
cmd_c99       = $(CC_GCC) $(C99) $(WARNINGS) $(CFLAGS)
cmd_c11_clang = $(CC_CLANG) $(C11) $(WARNINGS) $(CFLAGS)
cmd_cxx11     = $(CXX_GXX) $(CXX11) $(WARNINGS) $(CFLAGS)
cmd_static    = $(CC_GCC) $(C99) $(WARNINGS) $(CFLAGS) -O3 -DNN_STATIC
cmd_nosimd    = $(CC_GCC) $(C99) $(WARNINGS) $(CFLAGS) -DNN_NO_SIMD
cmd_openmp    = $(CC_GCC) $(C99) $(WARNINGS) $(CFLAGS) -fopenmp
cmd_asan      = $(CC_CLANG) $(C11) $(WARNINGS) $(SANITIZE)

define suite_rule
$(BUILD)/test_$(1)_$(2): tests/test_$(1).c $(HEADERS) | $(BUILD)
	$$(cmd_$(2)) $$< -o $$@ $$(LDLIBS)
endef
$(foreach s,$(SUITES),$(foreach c,$(CONFIGS),$(eval $(call suite_rule,$(s),$(c)))))

SUITE_BINS := $(foreach s,$(SUITES),$(foreach c,$(CONFIGS),$(BUILD)/test_$(s)_$(c)))
# the serializer again through the byte-by-byte path big-endian hosts take,
# and every fuzzer seed and past crash replayed under the sanitizers
$(BUILD)/test_serialize_portable: tests/test_serialize.c $(HEADERS) | $(BUILD)
	$(CC_GCC) $(C99) $(WARNINGS) $(CFLAGS) -DNN_PORTABLE_ENDIAN $< -o $@ $(LDLIBS)
$(BUILD)/test_serialize_portable_asan: tests/test_serialize.c $(HEADERS) | $(BUILD)
	$(CC_CLANG) $(C11) $(WARNINGS) $(SANITIZE) -DNN_PORTABLE_ENDIAN $< -o $@ $(LDLIBS)
$(BUILD)/fuzz_replay: tests/fuzz_load.c nn.h | $(BUILD)
	$(CC_CLANG) $(C11) $(WARNINGS) $(SANITIZE) -DFUZZ_STANDALONE $< -o $@ $(LDLIBS)

TEST_BINS := $(SUITE_BINS) $(BUILD)/test_alloc $(BUILD)/tu_gcc $(BUILD)/tu_gxx \
	$(BUILD)/test_serialize_portable $(BUILD)/test_serialize_portable_asan $(BUILD)/fuzz_replay

.DEFAULT_GOAL := test
.PHONY: test test-run deps-test demo deps-demo bench fuzz fuzz-ci deps-fuzz test-aarch64 deps-aarch64 clean

# ---- demo: Fashion-MNIST -----------------------------------------------------
DEMO_PKGS := gcc libc6-dev dataset-fashion-mnist libstb-dev
DEMO_FLAGS ?= -O2   # add -fopenmp to use every core (bit-identical results)

demo: deps-demo | $(BUILD)
	$(CC_GCC) $(DEMO_FLAGS) examples/fashion_mnist.c -o $(BUILD)/fashion_mnist -lm
	./$(BUILD)/fashion_mnist

# Install only what is missing; refresh the package lists only then.
deps-demo:
	@missing=""; \
	for p in $(DEMO_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi

# ---- bench: nn.h next to OpenBLAS and PyTorch ----------------------------------
bench:
	bash bench/run.sh


test: deps-test
	@$(MAKE) --no-print-directory -j$(JOBS) test-run


# Install only what is missing; refresh the package lists only then (a fresh
# Debian image has none).
deps-test:
	@missing=""; \
	command -v $(CC_GCC) >/dev/null 2>&1 || missing="$$missing gcc"; \
	command -v $(CXX_GXX) >/dev/null 2>&1 || missing="$$missing g++"; \
	command -v $(CC_CLANG) >/dev/null 2>&1 || missing="$$missing clang"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi

$(BUILD):
	@mkdir -p $(BUILD)

$(BUILD)/test_alloc: tests/test_alloc.c $(HEADERS) | $(BUILD)
	$(CC_GCC) $(C99) $(WARNINGS) $(CFLAGS) $< -o $@ $(LDLIBS)

$(BUILD)/tu_gcc: tests/tu_a.c tests/tu_b.c $(HEADERS) | $(BUILD)
	$(CC_GCC) $(C99) $(WARNINGS) $(CFLAGS) tests/tu_a.c tests/tu_b.c -o $@ $(LDLIBS)

$(BUILD)/tu_gxx: tests/tu_a.c tests/tu_b.c $(HEADERS) | $(BUILD)
	$(CXX_GXX) $(CXX11) $(WARNINGS) $(CFLAGS) tests/tu_a.c tests/tu_b.c -o $@ $(LDLIBS)


test-run: $(TEST_BINS)
	@rm -f $(BUILD)/results.txt
	@for s in $(SUITES); do for c in $(CONFIGS); do \
		case $$c in \
		openmp) e="env OMP_NUM_THREADS=2";; \
		asan) e="env ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1";; \
		*) e="";; \
		esac; \
		sh tests/run_one.sh $(BUILD) test_$${s}_$$c $$e ./$(BUILD)/test_$${s}_$$c; \
	done; done
	@sh tests/run_one.sh $(BUILD) test_alloc ./$(BUILD)/test_alloc
	@sh tests/run_one.sh $(BUILD) tu_gcc ./$(BUILD)/tu_gcc
	@sh tests/run_one.sh $(BUILD) tu_gxx ./$(BUILD)/tu_gxx
	@sh tests/run_one.sh $(BUILD) test_serialize_portable ./$(BUILD)/test_serialize_portable
	@sh tests/run_one.sh $(BUILD) test_serialize_portable_asan env ASAN_OPTIONS=detect_leaks=1 ./$(BUILD)/test_serialize_portable_asan
	@sh tests/run_one.sh $(BUILD) fuzz_replay ./$(BUILD)/fuzz_replay $(wildcard tests/corpus/*) $(wildcard tests/fuzz_crashes/*)
	@echo "== total"
	@awk '{ p += $$1; f += $$3 } END { printf "%d passed, %d failed\n", p, f; exit (f > 0) }' $(BUILD)/results.txt

# ---- test-aarch64: the NEON kernels, cross-compiled and run under qemu ----------
ARM_CC   ?= aarch64-linux-gnu-gcc
ARM_PKGS := gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
ARM_SUITES := core layers optim

deps-aarch64:
	@missing=""; \
	for p in $(ARM_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi

test-aarch64: deps-aarch64 | $(BUILD)
	@rm -f $(BUILD)/results.txt
	@for s in $(ARM_SUITES); do \
		$(ARM_CC) $(C99) $(WARNINGS) $(CFLAGS) -static tests/test_$$s.c -o $(BUILD)/test_$${s}_aarch64 $(LDLIBS) || exit 1; \
		sh tests/run_one.sh $(BUILD) test_$${s}_aarch64 qemu-aarch64 ./$(BUILD)/test_$${s}_aarch64; \
	done
	@echo "== total (aarch64, NEON)"
	@awk '{ p += $$1; f += $$3 } END { printf "%d passed, %d failed\n", p, f; exit (f > 0) }' $(BUILD)/results.txt

# ---- fuzz: libFuzzer over every loader ------------------------------------------
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   ?= -g -O1 -fsanitize=fuzzer,address,undefined

# libFuzzer ships in clang's runtime package; its name carries clang's major
# version, read only once clang is surely installed
deps-fuzz: deps-test
	@major=$$($(CC_CLANG) -dumpversion | cut -d. -f1); \
	dpkg -s libclang-rt-$$major-dev >/dev/null 2>&1 || { $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y libclang-rt-$$major-dev; }

$(BUILD)/fuzz_load: tests/fuzz_load.c nn.h | $(BUILD)
	$(CC_CLANG) $(FUZZ_FLAGS) $< -o $@ $(LDLIBS)

# the committed corpus stays small: new inputs go to a scratch copy under build/
fuzz: deps-fuzz
	@$(MAKE) --no-print-directory $(BUILD)/fuzz_load
	rm -rf $(BUILD)/corpus_work && cp -r tests/corpus $(BUILD)/corpus_work && mkdir -p $(BUILD)/fuzz_artifacts
	./$(BUILD)/fuzz_load -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	  -artifact_prefix=$(BUILD)/fuzz_artifacts/ $(BUILD)/corpus_work tests/corpus

fuzz-ci:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=30

clean:
	rm -rf $(BUILD)
