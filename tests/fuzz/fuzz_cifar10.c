/* fuzz_cifar10.c - libFuzzer harness: a CIFAR-10 binary batch from memory. */
#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    cnnvis_dataset ds;
    if (cnnvis__cifar10_load_memory(&ds, data, size) == CNNVIS_OK) cnnvis_dataset_free(&ds);
    return 0;
}
