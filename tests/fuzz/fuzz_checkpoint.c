/* fuzz_checkpoint.c - libFuzzer harness: a checkpoint from memory; a net that loads must run
   forward on a zero image. The CRC check is the first thing a fuzzer meets, so inputs whose
   CRC is wrong are also tried with a fixed CRC: the parser must hold without it. */
#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"
#include <stdlib.h>

static void try_load(const unsigned char *data, size_t size)
{
    cnnvis_net *net = NULL;
    cnnvis_net_desc rt;
    memset(&rt, 0, sizeof rt);
    rt.max_batch = 1, rt.n_threads = 1;
    if (cnnvis__net_load_memory(&net, data, size, &rt) != CNNVIS_OK) return;
    if ((size_t)net->desc.in_c * net->desc.in_h * net->desc.in_w <= ((size_t)1 << 20)) {
        cnnvis_tensor x = net->input;
        x.n = 1;
        memset(x.data, 0, sizeof(float) * cnnvis_tensor_count(&x));
        (void)cnnvis_net_forward(net, &x);
    }
    cnnvis_net_free(net);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    unsigned char *copy;
    uint32_t crc;
    try_load(data, size);
    if (size < 8 || size > ((size_t)1 << 24) || !(copy = (unsigned char *)malloc(size))) return 0;
    memcpy(copy, data, size);
    crc = cnnvis__crc32(0, copy, size - 4);
    copy[size - 4] = (unsigned char)crc, copy[size - 3] = (unsigned char)(crc >> 8);
    copy[size - 2] = (unsigned char)(crc >> 16), copy[size - 1] = (unsigned char)(crc >> 24);
    try_load(copy, size);
    free(copy);
    return 0;
}
