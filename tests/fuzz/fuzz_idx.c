/* fuzz_idx.c - libFuzzer harness: an IDX image file and an IDX label file from one input
   (the first byte says where to cut it), plain or gzip-compressed. */
#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    cnnvis_dataset ds;
    size_t cut;
    if (size < 1) return 0;
    cut = (size_t)data[0] * (size - 1) / 255;
    if (cnnvis__idx_load_memory(&ds, data + 1, cut, data + 1 + cut, size - 1 - cut) == CNNVIS_OK) cnnvis_dataset_free(&ds);
    return 0;
}
