# nn.h - build and test.
#   make test        install missing compilers (apt-get), build the test matrix, run it.
#                    Prints one line per test binary ("N passed, N failed" and its run time)
#                    and, as the very last line, the total "N passed, N failed"; the exit
#                    status is non-zero on any failure. The log of a binary that failed,
#                    crashed or printed no summary line is printed in full; every log stays
#                    in build/<binary>.log.
#   make test V=1    (or VERBOSE=1) also print each compile command and every log in full,
#                    TEST_NOTE lines included.
#   make build/test_core_asan && build/test_core_asan gemm
#                    build one binary and run the tests whose name contains "gemm".
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
HEADERS  := nn.h tests/test.h tests/fixture.h tests/check.h tests/onnx_cases.h

# V=1 or VERBOSE=1: show the commands and every log
V ?= $(VERBOSE)
Q := $(if $(filter 1,$(V)),,@)

# root needs no sudo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# ---- the test matrix -------------------------------------------------------------
# Adding a suite tests/test_NAME.c is adding NAME to SUITES: it is then built and run in
# every configuration of CONFIGS, or in those of configs_NAME if that is set. SUITES is
# also the build order: serialize first, its runs are the longest.
SUITES  := serialize core layers optim special misuse data fit image threads diag conv cnn quant onnx
CONFIGS := c99 c11_clang cxx11 static nosimd openmp asan
configs_serialize := $(CONFIGS) portable portable_asan
# caller mistakes under the sanitizers, with asserts and without (one translation unit:
# in the other configurations it would cost a whole compile of nn.h each)
configs_misuse    := asan asan_ndebug
# the data suite also without stdio: the memory-only API must stand alone
configs_data      := $(CONFIGS) nostdio
# int8 and ONNX take caller data and files: their refusals under the sanitizers in a
# release build too (asserts off)
configs_quant     := $(CONFIGS) asan_ndebug
configs_onnx      := $(CONFIGS) asan_ndebug
# the thread pool's lock-free hand-off under ThreadSanitizer too
configs_threads   := $(CONFIGS) tsan

# A configuration is a command that compiles and links; lang_X is what only compiling needs.
cmd_c99       = $(CC_GCC) $(C99) $(WARNINGS) $(CFLAGS)
cmd_c11_clang = $(CC_CLANG) $(C11) $(WARNINGS) $(CFLAGS)
cmd_cxx11     = $(CXX_GXX) -std=c++11 $(WARNINGS) $(CFLAGS)
lang_cxx11    = -x c++
# (static also leaves out the AVX-512 kernels: the AVX2 GEMM path stays tested on AVX-512 CPUs)
cmd_static    = $(CC_GCC) $(C99) $(WARNINGS) $(CFLAGS) -O3 -DNN_STATIC -DNN_NO_AVX512
cmd_nosimd    = $(CC_GCC) $(C99) $(WARNINGS) $(CFLAGS) -DNN_NO_SIMD
cmd_openmp    = $(CC_GCC) $(C99) $(WARNINGS) $(CFLAGS) -fopenmp
cmd_nostdio   = $(CC_GCC) $(C99) $(WARNINGS) $(CFLAGS) -DNN_NO_STDIO
cmd_asan      = $(CC_CLANG) $(C11) $(WARNINGS) $(SANITIZE)
cmd_tsan      = $(CC_CLANG) $(C11) $(WARNINGS) -fsanitize=thread -fno-omit-frame-pointer -g -O1
# the checks on a caller's mistakes must hold in release builds too
cmd_asan_ndebug   = $(cmd_asan) -DNDEBUG
# the serializer through the byte-by-byte path big-endian hosts take
cmd_portable      = $(cmd_c99) -DNN_PORTABLE_ENDIAN
cmd_portable_asan = $(cmd_asan) -DNN_PORTABLE_ENDIAN
# the environment a configuration's binaries run in
env_openmp        = OMP_NUM_THREADS=2
env_asan          = ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1
env_asan_ndebug   = $(env_asan)
env_portable_asan = $(env_asan)
# without address randomisation: some kernels map memory where TSan cannot shadow it
env_tsan          = TSAN_OPTIONS=halt_on_error=1 setarch $(shell uname -m) -R

# The header's implementation is compiled once per configuration, from tests/nn_impl.c
# into build/nn_impl_CONFIG.o; a suite is compiled with -DNN_TEST_LINKED (declarations
# only) and linked against it. These compile suite and implementation as one translation
# unit instead:
#   static     NN_STATIC makes every function of nn.h static to its translation unit
#   serialize  its allocator hooks (NN_MALLOC/NN_REALLOC, recording the largest request in
#              a static counter the tests read) must be the implementation's, and it calls
#              the private nn__host_le()
#   misuse     defines NN_ASSERT (a counter the tests read) before the implementation
WHOLE_CONFIGS := static
WHOLE_SUITES  := serialize misuse image
# extra flags of one suite in one configuration: the serializer's tests that run a
# compiler or Python (C export, the PyTorch converter) need one configuration only
flags_serialize_c99 := -DNN_TEST_EXTERNAL
flags_cnn_c99       := -DNN_TEST_EXTERNAL
# int8 accuracy on Fashion-MNIST (the data set and stb's inflate): one configuration
flags_quant_c99     := -DNN_TEST_FASHION

suite_configs = $(if $(configs_$(1)),$(configs_$(1)),$(CONFIGS))
whole = $(filter $(1),$(WHOLE_SUITES))$(filter $(2),$(WHOLE_CONFIGS))

# $(1) suite, $(2) configuration
define whole_rule
$(BUILD)/test_$(1)_$(2): tests/test_$(1).c $(HEADERS) | $(BUILD)
	$(Q)$$(cmd_$(2)) $$(lang_$(2)) $$(flags_$(1)_$(2)) $$< -o $$@ $$(LDLIBS)
endef
define linked_rule
$(BUILD)/test_$(1)_$(2).o: tests/test_$(1).c $(HEADERS) | $(BUILD)
	$(Q)$$(cmd_$(2)) $$(lang_$(2)) $$(flags_$(1)_$(2)) -DNN_TEST_LINKED -c $$< -o $$@
$(BUILD)/test_$(1)_$(2): $(BUILD)/test_$(1)_$(2).o $(BUILD)/nn_impl_$(2).o
	$(Q)$$(cmd_$(2)) $$^ -o $$@ $$(LDLIBS)
endef
$(foreach s,$(SUITES),$(foreach c,$(call suite_configs,$(s)),\
	$(eval $(call $(if $(call whole,$(s),$(c)),whole_rule,linked_rule),$(s),$(c)))))

define impl_rule
$(BUILD)/nn_impl_$(1).o: tests/nn_impl.c nn.h | $(BUILD)
	$(Q)$$(cmd_$(1)) $$(lang_$(1)) -c $$< -o $$@
endef
$(foreach c,$(filter-out $(WHOLE_CONFIGS),$(sort $(foreach s,$(SUITES),$(call suite_configs,$(s))))),\
	$(eval $(call impl_rule,$(c))))

# Beside the suites: the allocator hooks, two translation units (C and C++), and every
# fuzzer seed and past crash replayed under the sanitizers.
$(BUILD)/test_alloc: tests/test_alloc.c $(HEADERS) | $(BUILD)
	$(Q)$(CC_GCC) $(C99) $(WARNINGS) $(CFLAGS) $< -o $@ $(LDLIBS)
$(BUILD)/tu_gcc: tests/tu_a.c tests/tu_b.c $(HEADERS) | $(BUILD)
	$(Q)$(CC_GCC) $(C99) $(WARNINGS) $(CFLAGS) tests/tu_a.c tests/tu_b.c -o $@ $(LDLIBS)
$(BUILD)/tu_gxx: tests/tu_a.c tests/tu_b.c $(HEADERS) | $(BUILD)
	$(Q)$(CXX_GXX) $(CXX11) $(WARNINGS) $(CFLAGS) tests/tu_a.c tests/tu_b.c -o $@ $(LDLIBS)
$(BUILD)/fuzz_replay.o: tests/fuzz_load.c tests/fuzz_replay.h nn.h | $(BUILD)
	$(Q)$(cmd_asan) -DFUZZ_STANDALONE -DNN_TEST_LINKED -c $< -o $@
$(BUILD)/fuzz_replay: $(BUILD)/fuzz_replay.o $(BUILD)/nn_impl_asan.o
	$(Q)$(cmd_asan) $^ -o $@ $(LDLIBS)
# the data and fit suites under valgrind too: ASan does not see reads of
# uninitialised heap memory (fresh pages are zero, so such a bug can pass)
$(BUILD)/test_%_valgrind: $(BUILD)/test_%_c99
	$(Q)cp $< $@
# the picture helper for the examples (examples/nn_plot.h, stb_image_write + stb_easy_font)
$(BUILD)/test_plot: tests/test_plot.c examples/nn_plot.h tests/test.h | $(BUILD)
	$(Q)$(CC_GCC) $(C99) $(WARNINGS) $(CFLAGS) $< -o $@ $(LDLIBS)
$(BUILD)/test_plot_asan: tests/test_plot.c examples/nn_plot.h tests/test.h | $(BUILD)
	$(Q)$(cmd_asan) $< -o $@ $(LDLIBS)
# the image loader compiles stb and nn.h's implementation in its own file
$(BUILD)/fuzz_image_replay: tests/fuzz_image.c tests/fuzz_replay.h nn.h | $(BUILD)
	$(Q)$(cmd_asan) -DFUZZ_STANDALONE $< -o $@ $(LDLIBS)
# the package: make install, pkg-config and CMake consumers (tests/consumer)
$(BUILD)/install_check: tests/install_check.sh tests/checks.sh tests/consumer/main.c tests/consumer/CMakeLists.txt \
		CMakeLists.txt $(wildcard pkg/*) nn.h | $(BUILD)
	$(Q)cp $< $@ && chmod +x $@
# the inference-only build of two exported models (tests/embedded)
$(BUILD)/embedded_check: tests/embedded_check.sh tests/checks.sh $(wildcard tests/embedded/*) nn.h | $(BUILD)
	$(Q)cp $< $@ && chmod +x $@
# data-parallel training over MPI (examples/mpi_train.c, Open MPI): P ranks against one process
$(BUILD)/mpi_check: tests/mpi_check.sh tests/checks.sh examples/mpi_train.c tests/weights_diff.c nn.h | $(BUILD)
	$(Q)cp $< $@ && chmod +x $@
# every example compiles warning-free; those that need no download run
$(BUILD)/examples_check: tests/examples_check.sh tests/checks.sh $(HEADERS) $(wildcard examples/*.c) examples/nn_plot.h \
		examples/game_policy.h | $(BUILD)
	$(Q)cp $< $@ && chmod +x $@
$(BUILD)/fuzz_onnx_replay.o: tests/fuzz_onnx.c tests/fuzz_replay.h nn.h | $(BUILD)
	$(Q)$(cmd_asan) -DFUZZ_STANDALONE -DNN_TEST_LINKED -c $< -o $@
$(BUILD)/fuzz_onnx_replay: $(BUILD)/fuzz_onnx_replay.o $(BUILD)/nn_impl_asan.o
	$(Q)$(cmd_asan) $^ -o $@ $(LDLIBS)
$(BUILD)/fuzz_csv_replay.o: tests/fuzz_csv.c tests/fuzz_replay.h nn.h | $(BUILD)
	$(Q)$(cmd_asan) -DFUZZ_STANDALONE -DNN_TEST_LINKED -c $< -o $@
$(BUILD)/fuzz_csv_replay: $(BUILD)/fuzz_csv_replay.o $(BUILD)/nn_impl_asan.o
	$(Q)$(cmd_asan) $^ -o $@ $(LDLIBS)

# Running binary NAME (tests/run_one.sh, in a directory of its own under build/run/)
# writes build/NAME.log and build/NAME.result (its "N passed, N failed") and prints one line.
# $(1) binary, $(2) environment, $(3) arguments
define run_rule
$(BUILD)/$(1).result: $(BUILD)/$(1) FORCE
	@VERBOSE=$(V) sh tests/run_one.sh $(BUILD) $(1) env $(2) $(CURDIR)/$(BUILD)/$(1) $(3)
endef
$(foreach s,$(SUITES),$(foreach c,$(call suite_configs,$(s)),\
	$(eval $(call run_rule,test_$(s)_$(c),$$(env_$(c))))))
$(eval $(call run_rule,test_alloc))
$(eval $(call run_rule,tu_gcc))
$(eval $(call run_rule,tu_gxx))
$(eval $(call run_rule,fuzz_replay,,$(wildcard tests/corpus/*) $(wildcard tests/fuzz_crashes/*)))
$(eval $(call run_rule,fuzz_csv_replay,,$(wildcard tests/corpus_csv/*)))
$(eval $(call run_rule,fuzz_onnx_replay,,$(wildcard tests/corpus_onnx/*)))
$(eval $(call run_rule,fuzz_image_replay,,$(wildcard tests/corpus_image/*)))
$(eval $(call run_rule,test_plot))
$(eval $(call run_rule,test_data_valgrind,valgrind -q --error-exitcode=3))
$(eval $(call run_rule,test_fit_valgrind,valgrind -q --error-exitcode=3))
$(eval $(call run_rule,test_plot_asan))
$(eval $(call run_rule,examples_check,,$(CC_GCC)))
$(eval $(call run_rule,install_check))
$(eval $(call run_rule,embedded_check,,$(CC_GCC)))
$(eval $(call run_rule,mpi_check))

suite_bins = $(foreach c,$(call suite_configs,$(1)),$(BUILD)/test_$(1)_$(c))
OTHER_BINS := $(BUILD)/test_alloc $(BUILD)/tu_gcc $(BUILD)/tu_gxx $(BUILD)/fuzz_replay $(BUILD)/fuzz_csv_replay $(BUILD)/fuzz_onnx_replay $(BUILD)/fuzz_image_replay $(BUILD)/test_plot $(BUILD)/test_plot_asan $(BUILD)/test_data_valgrind $(BUILD)/test_fit_valgrind $(BUILD)/examples_check $(BUILD)/install_check $(BUILD)/embedded_check $(BUILD)/mpi_check
RESULTS    := $(foreach s,$(SUITES),$(addsuffix .result,$(call suite_bins,$(s)))) $(OTHER_BINS:=.result)
# make starts jobs in the order of test-run's prerequisites, and a run only once it comes
# to it: a suite's binaries, then its runs, so that runs go while the next suites compile
TEST_RUN_ORDER := $(foreach s,$(SUITES),$(call suite_bins,$(s)) $(addsuffix .result,$(call suite_bins,$(s)))) \
	$(OTHER_BINS) $(OTHER_BINS:=.result)

# The total of the .result files $(1), after the names of those that failed; exit status
# 1 on a failure.
total = awk '{ p += $$1; f += $$3 } $$3 > 0 { n = FILENAME; sub(/.*\//, "", n); sub(/\.result$$/, "", n); bad = bad " " n } \
	END { if (bad != "") print "failed:" bad; printf "%d passed, %d failed\n", p, f; exit (f > 0) }' $(1)

.DEFAULT_GOAL := test
.PHONY: FORCE install uninstall test test-run deps-test demo deps-demo bench fuzz fuzz-ci deps-fuzz test-aarch64 deps-aarch64 test-windows deps-windows clean
FORCE:

# ---- demo: Fashion-MNIST -----------------------------------------------------
DEMO_PKGS := gcc libc6-dev dataset-fashion-mnist libstb-dev
DEMO_FLAGS ?= -O2   # the demo runs on a 2-thread pool (bit-identical to 1 thread)

demo: deps-demo | $(BUILD)
	$(CC_GCC) $(DEMO_FLAGS) examples/fashion_mnist.c -o $(BUILD)/fashion_mnist -lm
	$(CC_GCC) $(DEMO_FLAGS) examples/classify_image.c -o $(BUILD)/classify_image -lm
	./$(BUILD)/fashion_mnist
	@echo "== the saved model, reloaded from its file alone, on the sample PNGs"
	./$(BUILD)/classify_image $(BUILD)/fashion_mnist.nnw examples/images/*.png

# Install only what is missing; refresh the package lists only then.
deps-demo:
	@missing=""; \
	for p in $(DEMO_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi

# ---- install: the header, a pkg-config file and a CMake package --------------------
#   make install [PREFIX=/usr/local] [DESTDIR=]   (and make uninstall, the same variables)
# PREFIX/include/nn.h, PREFIX/share/pkgconfig/nn.pc, PREFIX/share/cmake/nn/: pkg-config
# --cflags --libs nn, or find_package(nn) and the target nn::nn. The files come from
# pkg/, filled in with the version nn.h declares; nn.h itself is copied as it is.
PREFIX  ?= /usr/local
DESTDIR ?=
NN_VERSION := $(shell sed -n 's/^\#define NN_VERSION_STRING "\([0-9.]*\)".*/\1/p' nn.h)
pkg_subst = sed -e 's|@NN_PREFIX@|$(PREFIX)|g' -e 's|@NN_VERSION@|$(NN_VERSION)|g' \
	-e 's|@NN_VERSION_MAJOR@|$(word 1,$(subst ., ,$(NN_VERSION)))|g' \
	-e 's|@NN_VERSION_MINOR@|$(word 2,$(subst ., ,$(NN_VERSION)))|g'
install:
	@[ -n "$(NN_VERSION)" ] || { echo "install: no NN_VERSION_STRING in nn.h" >&2; exit 1; }
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/share/pkgconfig $(DESTDIR)$(PREFIX)/share/cmake/nn
	install -m 644 nn.h $(DESTDIR)$(PREFIX)/include/nn.h
	$(pkg_subst) pkg/nn.pc.in > $(DESTDIR)$(PREFIX)/share/pkgconfig/nn.pc
	install -m 644 pkg/nnConfig.cmake $(DESTDIR)$(PREFIX)/share/cmake/nn/nnConfig.cmake
	$(pkg_subst) pkg/nnConfigVersion.cmake.in > $(DESTDIR)$(PREFIX)/share/cmake/nn/nnConfigVersion.cmake

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/nn.h $(DESTDIR)$(PREFIX)/share/pkgconfig/nn.pc \
	  $(DESTDIR)$(PREFIX)/share/cmake/nn/nnConfig.cmake $(DESTDIR)$(PREFIX)/share/cmake/nn/nnConfigVersion.cmake
	-rmdir $(DESTDIR)$(PREFIX)/share/cmake/nn 2>/dev/null

# ---- bench: nn.h next to OpenBLAS and PyTorch ----------------------------------
bench:
	bash bench/run.sh

# ---- test ------------------------------------------------------------------------
# --output-sync keeps each job's output (a failed run's log) in one piece
test: deps-test
	@$(MAKE) --no-print-directory --output-sync=target -j$(JOBS) test-run

test-run: $(TEST_RUN_ORDER)
	@$(call total,$(RESULTS))

# Install only what is missing; refresh the package lists only then (a fresh
# Debian image has none).
deps-test:
	@missing=""; \
	command -v $(CC_GCC) >/dev/null 2>&1 || missing="$$missing gcc"; \
	command -v $(CXX_GXX) >/dev/null 2>&1 || missing="$$missing g++"; \
	command -v $(CC_CLANG) >/dev/null 2>&1 || missing="$$missing clang"; \
	dpkg -s libstb-dev >/dev/null 2>&1 || missing="$$missing libstb-dev"; \
	dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || missing="$$missing dataset-fashion-mnist"; \
	command -v valgrind >/dev/null 2>&1 || missing="$$missing valgrind"; \
	command -v cmake >/dev/null 2>&1 || missing="$$missing cmake"; \
	command -v pkg-config >/dev/null 2>&1 || missing="$$missing pkgconf"; \
	dpkg -s libopenmpi-dev >/dev/null 2>&1 || missing="$$missing libopenmpi-dev"; \
	command -v mpirun >/dev/null 2>&1 || missing="$$missing openmpi-bin"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi

$(BUILD):
	@mkdir -p $(BUILD)

# ---- test-aarch64: the NEON kernels, cross-compiled and run under qemu ----------
ARM_CC   ?= aarch64-linux-gnu-gcc
ARM_PKGS := gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
ARM_SUITES := core layers optim special data fit threads diag conv cnn quant onnx

deps-aarch64:
	@missing=""; \
	for p in $(ARM_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi

test-aarch64: deps-aarch64 | $(BUILD)
	@for s in $(ARM_SUITES); do \
		$(if $(Q),,set -x;) $(ARM_CC) $(C99) $(WARNINGS) $(CFLAGS) -static tests/test_$$s.c -o $(BUILD)/test_$${s}_aarch64 $(LDLIBS) || exit 1; \
		VERBOSE=$(V) sh tests/run_one.sh $(BUILD) test_$${s}_aarch64 qemu-aarch64 $(CURDIR)/$(BUILD)/test_$${s}_aarch64; \
	done
	@echo "== total (aarch64, NEON)"
	@$(call total,$(ARM_SUITES:%=$(BUILD)/test_%_aarch64.result))

# ---- test-windows: every suite cross-compiled with mingw-w64, run under wine ---------
# The implementation in its own object, as a Windows program would keep it (on
# Windows it includes <windows.h>, whose IN and OUT macros some suites use as
# names); the suites that must share its translation unit are compiled with it.
# The C++ build of the implementation is compiled too (not run).
WIN_CC     ?= x86_64-w64-mingw32-gcc
WIN_CXX    ?= x86_64-w64-mingw32-g++
WIN_PKGS   := gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 wine wine64 libstb-dev # stb: the image suite
WIN_SUITES := $(SUITES)
# the thread suite again on the pool's Interlocked atomics (what MSVC builds use)
WIN_RUNS   := $(WIN_SUITES) threads_winatomics
WIN_BUILD  := $(BUILD)/windows
# wine keeps its own state beside the binaries, quiet
WIN_ENV    := WINEPREFIX=$(CURDIR)/$(WIN_BUILD)/wineprefix WINEDEBUG=-all WINEDLLOVERRIDES=mscoree,mshtml=

deps-windows:
	@missing=""; \
	for p in $(WIN_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi

test-windows: deps-windows | $(BUILD)
	@mkdir -p $(WIN_BUILD)/inc && ln -sfn /usr/include/stb $(WIN_BUILD)/inc/stb
	$(Q)$(WIN_CC) $(C99) $(WARNINGS) $(CFLAGS) -c tests/nn_impl.c -o $(WIN_BUILD)/nn_impl.o
	$(Q)$(WIN_CXX) -std=c++11 $(WARNINGS) $(CFLAGS) -x c++ -c tests/nn_impl.c -o $(WIN_BUILD)/nn_impl_cxx.o
	@for s in $(WIN_SUITES); do \
		case " $(WHOLE_SUITES) " in \
		*" $$s "*) $(if $(Q),,set -x;) $(WIN_CC) $(C99) $(WARNINGS) $(CFLAGS) -I$(WIN_BUILD)/inc tests/test_$$s.c \
			-o $(WIN_BUILD)/test_$${s}_windows.exe $(LDLIBS) || exit 1 ;; \
		*) $(if $(Q),,set -x;) $(WIN_CC) $(C99) $(WARNINGS) $(CFLAGS) -DNN_TEST_LINKED -c tests/test_$$s.c \
			-o $(WIN_BUILD)/test_$$s.o && \
		   $(WIN_CC) $(WIN_BUILD)/test_$$s.o $(WIN_BUILD)/nn_impl.o -o $(WIN_BUILD)/test_$${s}_windows.exe $(LDLIBS) || exit 1 ;; \
		esac; \
	done
	$(Q)$(WIN_CC) $(C99) $(WARNINGS) $(CFLAGS) -DNN__WIN_ATOMICS -c tests/nn_impl.c -o $(WIN_BUILD)/nn_impl_winatomics.o
	$(Q)$(WIN_CC) $(WIN_BUILD)/test_threads.o $(WIN_BUILD)/nn_impl_winatomics.o \
		-o $(WIN_BUILD)/test_threads_winatomics_windows.exe $(LDLIBS)
	@# one wineserver for all the runs: a run that starts while the last one's server
	@# shuts down can fail before it prints anything
	@env $(WIN_ENV) wineboot -i >/dev/null 2>&1; env $(WIN_ENV) wineserver -p 60 >/dev/null 2>&1; \
	for s in $(WIN_RUNS); do \
		VERBOSE=$(V) sh tests/run_one.sh $(WIN_BUILD) test_$${s}_windows env $(WIN_ENV) wine \
			$(CURDIR)/$(WIN_BUILD)/test_$${s}_windows.exe; \
	done; \
	env $(WIN_ENV) wineserver -k >/dev/null 2>&1 || true
	@echo "== total (Windows: mingw-w64, wine)"
	@$(call total,$(WIN_RUNS:%=$(WIN_BUILD)/test_%_windows.result))

# ---- fuzz: libFuzzer over every loader ------------------------------------------
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   ?= -g -O1 -fsanitize=fuzzer,address,undefined
# undefined behaviour is a finding in nn.h's own loaders; the image target stays
# recoverable because Debian's stb_image 2.27 shifts a zero by 32 on some JPEG
# scans (its issue 1293; no memory error, and nothing to screen without decoding)
FUZZ_STRICT  := -fno-sanitize-recover=undefined

# libFuzzer ships in clang's runtime package; its name carries clang's major
# version, read only once clang is surely installed
deps-fuzz: deps-test
	@major=$$($(CC_CLANG) -dumpversion | cut -d. -f1); \
	dpkg -s libclang-rt-$$major-dev >/dev/null 2>&1 || { $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y libclang-rt-$$major-dev; }

$(BUILD)/fuzz_load: tests/fuzz_load.c nn.h | $(BUILD)
	$(CC_CLANG) $(FUZZ_FLAGS) $(FUZZ_STRICT) $< -o $@ $(LDLIBS)
$(BUILD)/fuzz_csv: tests/fuzz_csv.c nn.h | $(BUILD)
	$(CC_CLANG) $(FUZZ_FLAGS) $(FUZZ_STRICT) $< -o $@ $(LDLIBS)
$(BUILD)/fuzz_image: tests/fuzz_image.c nn.h | $(BUILD)
	$(CC_CLANG) $(FUZZ_FLAGS) $< -o $@ $(LDLIBS)
$(BUILD)/fuzz_onnx: tests/fuzz_onnx.c nn.h | $(BUILD)
	$(CC_CLANG) $(FUZZ_FLAGS) $(FUZZ_STRICT) $< -o $@ $(LDLIBS)

# the committed corpus stays small: new inputs go to a scratch copy under build/
# FUZZ_SECONDS is split: two fifths to the model loaders, a fifth each to the CSV
# reader, the image decoder and the ONNX reader
fuzz: deps-fuzz
	@$(MAKE) --no-print-directory $(BUILD)/fuzz_load $(BUILD)/fuzz_csv $(BUILD)/fuzz_image $(BUILD)/fuzz_onnx
	rm -rf $(BUILD)/corpus_work && cp -r tests/corpus $(BUILD)/corpus_work && mkdir -p $(BUILD)/fuzz_artifacts
	./$(BUILD)/fuzz_load -max_total_time=$$(( $(FUZZ_SECONDS) * 2 / 5 )) -print_final_stats=1 \
	  -artifact_prefix=$(BUILD)/fuzz_artifacts/ $(BUILD)/corpus_work tests/corpus
	rm -rf $(BUILD)/corpus_csv_work && cp -r tests/corpus_csv $(BUILD)/corpus_csv_work
	./$(BUILD)/fuzz_csv -max_total_time=$$(( $(FUZZ_SECONDS) / 5 )) -print_final_stats=1 \
	  -artifact_prefix=$(BUILD)/fuzz_artifacts/ $(BUILD)/corpus_csv_work tests/corpus_csv
	rm -rf $(BUILD)/corpus_image_work && cp -r tests/corpus_image $(BUILD)/corpus_image_work
	./$(BUILD)/fuzz_image -max_total_time=$$(( $(FUZZ_SECONDS) / 5 )) -max_len=4096 -print_final_stats=1 \
	  -artifact_prefix=$(BUILD)/fuzz_artifacts/ $(BUILD)/corpus_image_work tests/corpus_image
	rm -rf $(BUILD)/corpus_onnx_work && cp -r tests/corpus_onnx $(BUILD)/corpus_onnx_work
	./$(BUILD)/fuzz_onnx -max_total_time=$$(( $(FUZZ_SECONDS) / 5 )) -print_final_stats=1 \
	  -artifact_prefix=$(BUILD)/fuzz_artifacts/ $(BUILD)/corpus_onnx_work tests/corpus_onnx

fuzz-ci:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=75

clean:
	rm -rf $(BUILD)
