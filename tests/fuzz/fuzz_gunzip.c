/* fuzz_gunzip.c - libFuzzer harness: gzip members (RFC 1952 + 1951) with a small output cap. */
#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    unsigned char *out = NULL;
    size_t out_size = 0;
    if (cnnvis__gunzip(&out, &out_size, data, size, (size_t)1 << 22) == CNNVIS_OK) cnnvis__free(out);
    return 0;
}
