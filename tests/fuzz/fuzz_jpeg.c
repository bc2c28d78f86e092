/* fuzz_jpeg.c - libFuzzer harness: the JPEG reader from memory (baseline, progressive,
   restart markers, Exif), then the image written back as PNM (a decoded image must be a
   valid one). Seeds in corpus/jpeg: small files made by cjpeg in several modes. */
#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    cnnvis_image im;
    unsigned char *out = NULL;
    size_t out_size = 0;
    memset(&im, 0, sizeof im);
    if (cnnvis__jpeg_decode(&im, data, size) != CNNVIS_OK) return 0;
    if (cnnvis__pnm_encode(&im, 0, 255, &out, &out_size) == CNNVIS_OK) cnnvis__free(out);
    cnnvis_image_free(&im);
    return 0;
}
