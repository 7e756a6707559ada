/* nn_impl.c - the implementation of nn.h alone, for `make test`: compiled once per
   configuration of the test matrix (with that configuration's command) into
   build/nn_impl_<config>.o, which the suites compiled with -DNN_TEST_LINKED (declarations
   only) link against, so the header's implementation is compiled once per configuration
   rather than once per suite. */
#define NN_IMPLEMENTATION
#include "../nn.h"
