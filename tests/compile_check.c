/* compile_check.c - the header stands alone: included twice for its declarations, once
   with the implementation, under each compile-time option (tests/compile.sh builds this
   file as C99 and as C++11 with each -D set). Running it checks the basics still work. */
#include "cnnvis.h"
#include "cnnvis.h"
#ifdef TEST_CUSTOM_ALLOC
#include <stdlib.h>
static size_t test_allocations;
static void *test_malloc(size_t size) { test_allocations++; return malloc(size); }
#define CNNVIS_MALLOC(sz) test_malloc(sz)
#define CNNVIS_FREE(p) free(p)
#endif
#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"
#include "cnnvis.h"
#include <stdio.h>

int main(void)
{
    cnnvis_net_desc d;
    cnnvis_net *net = NULL;
    cnnvis_tensor x;
    int ok;
    cnnvis_net_desc_preset(&d, "alexnet_mini", 1, 12, 12, 3);
    d.max_batch = 2;
    ok = cnnvis_net_create(&net, &d) == CNNVIS_OK && cnnvis_tensor_create(&x, 2, 1, 12, 12) == CNNVIS_OK &&
         cnnvis_net_forward(net, &x) == CNNVIS_OK;
#ifdef TEST_CUSTOM_ALLOC
    ok = ok && test_allocations > 0;
#endif
    printf("%s kernels, %d threads: %s\n", net ? cnnvis__kernels_name(net->kernels) : "?", net ? net->n_threads : 0,
           ok ? "ok" : cnnvis_last_error());
    cnnvis_tensor_free(&x);
    cnnvis_net_free(net);
    return ok ? 0 : 1;
}
