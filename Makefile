# loom build. `make` builds build/loom; `make test` runs every test; `make setup` prepares a fresh
# Debian machine; SANITIZE=1 builds everything with AddressSanitizer + UBSan into build-asan/.
CC      ?= gcc
PYTHON  ?= python3
SANITIZE ?= 0

ifeq ($(SANITIZE),1)
BUILD   := build-asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT     := -O1
else
BUILD   := build
SANFLAGS :=
OPT     := -O2
endif

# MPI (src/parallel): with mpicc on the PATH libloom is built against OpenMPI (comm_mpi.c), without it
# the world is one process (comm_single.c). `make MPICC=` builds without MPI.
MPICC   ?= $(shell command -v mpicc 2>/dev/null)
ifneq ($(MPICC),)
MPI_CFLAGS := $(shell $(MPICC) --showme:compile) -DLOOM_HAVE_MPI=1
MPI_LIBS   := $(shell $(MPICC) --showme:link)
COMM_UNUSED := src/parallel/comm_single.c
else
COMM_UNUSED := src/parallel/comm_mpi.c
endif

CFLAGS  := -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra -Wno-unused-parameter -Wshadow \
           -Werror=implicit-function-declaration -fno-strict-aliasing -pthread \
           -Iinclude -Isrc $(MPI_CFLAGS) $(SANFLAGS) $(EXTRA_CFLAGS)
LDLIBS  := -ljansson -lpcre2-8 -lutf8proc -lmicrohttpd -lcurl $(MPI_LIBS) -lpthread -lm
LDFLAGS := $(SANFLAGS) -pthread

LIB_SRCS  := $(filter-out $(COMM_UNUSED),$(sort $(shell find src -name '*.c' -not -path 'src/cli/*')))
CLI_SRCS  := $(sort $(wildcard src/cli/*.c))
TEST_SRCS := $(sort $(wildcard tests/test_*.c))
FUZZ_SRCS := $(sort $(wildcard fuzz/fuzz_*.c))

LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
# The chat page of `loom serve` (GET /), embedded as bytes: src/server/web/index.html -> a generated .c.
WEB_PAGE_C := $(BUILD)/gen/web_page.c
LIB_OBJS  += $(WEB_PAGE_C:%.c=$(BUILD)/obj/%.o)
CLI_OBJS  := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_BINS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
FUZZ_BINS := $(FUZZ_SRCS:fuzz/%.c=build-fuzz/%)

.PHONY: all test setup fuzz clean tests run serve bench-sampler bench-kv bench-tokenizer bench-grammar bench-batch
all: $(BUILD)/loom

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# Kernels: reassociation lets the compiler vectorize reductions (results stay independent of threads).
KERNEL_FLAGS := -O3 -fno-math-errno -fno-trapping-math -fassociative-math -fno-signed-zeros
$(BUILD)/obj/src/kernels/%.o: CFLAGS += $(KERNEL_FLAGS)
# ... except the intrinsic dots: their order of float additions is written out (a token's dot must not
# depend on how many tokens share the call: batch invariance), so the compiler may not reassociate it
$(BUILD)/obj/src/kernels/cpu/dot_x86.o $(BUILD)/obj/src/kernels/cpu/xdot_avx512.o $(BUILD)/obj/src/kernels/cpu/xdot_x16_avx512.o: CFLAGS += -fno-associative-math
$(BUILD)/obj/src/kernels/cpu/xdot_x16_more_avx512.o: CFLAGS += -fno-associative-math
# The sampler's whole-vocabulary loops (argmax, softmax weights) are written to vectorize as they stand
$(BUILD)/obj/src/sample/select.o: CFLAGS += -O3 -fno-trapping-math

$(WEB_PAGE_C): src/server/web/index.html
	@mkdir -p $(dir $@)
	{ echo 'const unsigned char srv_web_index_html[] = {'; xxd -i < $<; echo '};'; \
	  echo "const unsigned int srv_web_index_html_len = $$(wc -c < $<);"; } > $@

$(BUILD)/libloom.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/loom: $(CLI_OBJS) $(BUILD)/libloom.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(BUILD)/libloom.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/check.h $(BUILD)/libloom.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(BUILD)/libloom.a $(LDLIBS)

tests: $(BUILD)/loom $(TEST_BINS)

# Every C test binary and every tests/test_*.py; ends with "N passed, N failed".
test: tests
	$(PYTHON) tests/run_tests.py --build $(BUILD)

# libFuzzer harnesses (clang): build-fuzz/fuzz_NAME; `make fuzz FUZZ_SECONDS=60` runs each.
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -Isrc $(MPI_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined \
               -fno-sanitize-recover=undefined
FUZZ_OBJS := $(LIB_SRCS:%.c=build-fuzz/obj/%.o)

build-fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

build-fuzz/libloom.a: $(FUZZ_OBJS)
	@rm -f $@
	ar rcs $@ $^

build-fuzz/%: fuzz/%.c build-fuzz/libloom.a
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< build-fuzz/libloom.a $(LDLIBS)

fuzz: $(FUZZ_BINS)
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash fuzz/run.sh $(FUZZ_BINS)

# Benchmarks built from bench/NAME.c against libloom; numbers go to bench/RESULTS.md.
#   bench-sampler: the sampler on a 151936-entry vocabulary
#   bench-kv: KV cache waste and paged attention vs naive
#   bench-tokenizer: encode MB/s of 1 MB of text, loom vs HF `tokenizers` alternately
#   bench-grammar: structured-output mask time per token (cold / cached) on the default model's,
#                  Qwen3's and Llama-3's vocabularies
#   bench-batch: the backend ops of a 135M-shaped decode step, 1 sequence vs 64, alternately
$(BUILD)/bench/%: bench/%.c $(BUILD)/libloom.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libloom.a $(LDLIBS)

bench-sampler: $(BUILD)/bench/sampler_bench
	$(BUILD)/bench/sampler_bench

bench-kv: $(BUILD)/bench/kv_bench
	$(BUILD)/bench/kv_bench

bench-grammar: $(BUILD)/bench/grammar_bench
	$(BUILD)/bench/grammar_bench "$$(scripts/fetch-model.sh | tail -1)" ../shared/tokenizers/qwen3/tokenizer.json \
	    ../shared/tokenizers/llama3/tokenizer.json

bench-batch: $(BUILD)/bench/batch_decode_bench
	$(BUILD)/bench/batch_decode_bench

bench-tokenizer: $(BUILD)/bench/tokenizer_bench
	$(PYTHON) bench/tokenizer_speed.py --bench $(BUILD)/bench/tokenizer_bench

setup:
	bash scripts/setup.sh

# The main job: generate with the default model (fetched if missing).
PROMPT ?= The capital of France is
run: $(BUILD)/loom
	$(BUILD)/loom generate -m "$$(scripts/fetch-model.sh | tail -1)" --prompt "$(PROMPT)" -n 64 --temperature 0

# The main command: set up if needed, build, fetch the default model, and serve it (OpenAI API + a
# chat page on http://$(HOST):$(PORT)/).
HOST ?= 127.0.0.1
PORT ?= 8000
serve:
	bash scripts/setup.sh
	$(MAKE) $(BUILD)/loom
	$(BUILD)/loom serve -m "$$(scripts/fetch-model.sh | tail -1)" --served-model-name smollm2 --host $(HOST) --port $(PORT)

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) build-fuzz -name '*.d' 2>/dev/null)
