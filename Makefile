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

TEST_BINS := \
	$(BUILD)/test_core_c99 \
	$(BUILD)/test_core_c11_clang \
	$(BUILD)/test_core_cxx11 \
	$(BUILD)/test_core_static \
	$(BUILD)/test_core_nosimd \
	$(BUILD)/test_core_openmp \
	$(BUILD)/test_core_asan \
	$(BUILD)/test_alloc \
	$(BUILD)/tu_gcc \
	$(BUILD)/tu_gxx

.DEFAULT_GOAL := test
.PHONY: test test-run deps-test demo deps-demo bench clean

# ---- demo: Fashion-MNIST -----------------------------------------------------
DEMO_PKGS := gcc libc6-dev dataset-fashion-mnist libstb-dev
DEMO_FLAGS ?= -O2 -fopenmp

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

$(BUILD)/test_core_c99: tests/test_core.c $(HEADERS) | $(BUILD)
	$(CC_GCC) $(C99) $(WARNINGS) $(CFLAGS) $< -o $@ $(LDLIBS)

$(BUILD)/test_core_c11_clang: tests/test_core.c $(HEADERS) | $(BUILD)
	$(CC_CLANG) $(C11) $(WARNINGS) $(CFLAGS) $< -o $@ $(LDLIBS)

$(BUILD)/test_core_cxx11: tests/test_core.c $(HEADERS) | $(BUILD)
	$(CXX_GXX) $(CXX11) $(WARNINGS) $(CFLAGS) $< -o $@ $(LDLIBS)

$(BUILD)/test_core_static: tests/test_core.c $(HEADERS) | $(BUILD)
	$(CC_GCC) $(C99) $(WARNINGS) $(CFLAGS) -DNN_STATIC $< -o $@ $(LDLIBS)

$(BUILD)/test_core_nosimd: tests/test_core.c $(HEADERS) | $(BUILD)
	$(CC_GCC) $(C99) $(WARNINGS) $(CFLAGS) -DNN_NO_SIMD $< -o $@ $(LDLIBS)

$(BUILD)/test_core_openmp: tests/test_core.c $(HEADERS) | $(BUILD)
	$(CC_GCC) $(C99) $(WARNINGS) $(CFLAGS) -fopenmp $< -o $@ $(LDLIBS)

$(BUILD)/test_core_asan: tests/test_core.c $(HEADERS) | $(BUILD)
	$(CC_CLANG) $(C11) $(WARNINGS) $(SANITIZE) $< -o $@ $(LDLIBS)

$(BUILD)/test_alloc: tests/test_alloc.c $(HEADERS) | $(BUILD)
	$(CC_GCC) $(C99) $(WARNINGS) $(CFLAGS) $< -o $@ $(LDLIBS)

$(BUILD)/tu_gcc: tests/tu_a.c tests/tu_b.c $(HEADERS) | $(BUILD)
	$(CC_GCC) $(C99) $(WARNINGS) $(CFLAGS) tests/tu_a.c tests/tu_b.c -o $@ $(LDLIBS)

$(BUILD)/tu_gxx: tests/tu_a.c tests/tu_b.c $(HEADERS) | $(BUILD)
	$(CXX_GXX) $(CXX11) $(WARNINGS) $(CFLAGS) tests/tu_a.c tests/tu_b.c -o $@ $(LDLIBS)

# $(call run_test,name,command): run, show its output, append its summary line to
# $(BUILD)/results.txt. No summary line (a crash) or a non-zero exit with
# "0 failed" (e.g. the leak checker at exit) counts as one more failure.
define run_test
	@echo "== $(1)"
	@$(2) > $(BUILD)/$(1).log 2>&1; rc=$$?; cat $(BUILD)/$(1).log; \
	line=$$(grep -E '^[0-9]+ passed, [0-9]+ failed$$' $(BUILD)/$(1).log | tail -n 1); \
	if [ -z "$$line" ]; then \
		echo "$(1): no summary line (exit status $$rc)"; line="0 passed, 1 failed"; \
	elif [ $$rc -ne 0 ] && [ "$${line##* passed, }" = "0 failed" ]; then \
		echo "$(1): exit status $$rc"; line="$${line%% *} passed, 1 failed"; \
	fi; \
	echo "$$line" >> $(BUILD)/results.txt
endef

test-run: $(TEST_BINS)
	@rm -f $(BUILD)/results.txt
	$(call run_test,test_core_c99,./$(BUILD)/test_core_c99)
	$(call run_test,test_core_c11_clang,./$(BUILD)/test_core_c11_clang)
	$(call run_test,test_core_cxx11,./$(BUILD)/test_core_cxx11)
	$(call run_test,test_core_static,./$(BUILD)/test_core_static)
	$(call run_test,test_core_nosimd,./$(BUILD)/test_core_nosimd)
	$(call run_test,test_core_openmp,env OMP_NUM_THREADS=2 ./$(BUILD)/test_core_openmp)
	$(call run_test,test_core_asan,env ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 ./$(BUILD)/test_core_asan)
	$(call run_test,test_alloc,./$(BUILD)/test_alloc)
	$(call run_test,tu_gcc,./$(BUILD)/tu_gcc)
	$(call run_test,tu_gxx,./$(BUILD)/tu_gxx)
	@echo "== total"
	@awk '{ p += $$1; f += $$3 } END { printf "%d passed, %d failed\n", p, f; exit (f > 0) }' $(BUILD)/results.txt

clean:
	rm -rf $(BUILD)
