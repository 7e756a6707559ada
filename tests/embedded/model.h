/* the embedded model's interface (tests/embedded/model.c) */
#include <stddef.h>
int embedded_init(void);
int embedded_run(int which, const float *x, int rows, float *y);
int embedded_backward_refused(void);
size_t embedded_arena_used(int which);
