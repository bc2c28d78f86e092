/* fuzz_image.c - libFuzzer harness: PPM/PGM (binary and ascii) and PNG from memory, then the
   image written back as PNM and PNG (a decoded image must be a valid one). */
#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    cnnvis_image im;
    unsigned char *out = NULL;
    size_t out_size = 0;
    if (cnnvis__image_read_memory(&im, data, size) != CNNVIS_OK) return 0;
    if (cnnvis__pnm_encode(&im, 0, 255, &out, &out_size) == CNNVIS_OK) cnnvis__free(out);
    if (cnnvis__png_encode(&im, &out, &out_size) == CNNVIS_OK) cnnvis__free(out);
    cnnvis_image_free(&im);
    return 0;
}
