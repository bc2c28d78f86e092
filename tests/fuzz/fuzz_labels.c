/* fuzz_labels.c - libFuzzer harness: a user's image and its label map (PNG, PPM or PGM; the
   first byte says where to cut the input in two) read as a dissection data set from files. */
#define _POSIX_C_SOURCE 200809L /* mkstemp */
#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int write_temp(char *path, const unsigned char *data, size_t size)
{
    int fd = mkstemp(path);
    FILE *f;
    if (fd < 0) return 0;
    f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        return 0;
    }
    if (size) fwrite(data, 1, size, f);
    fclose(f);
    return 1;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static const char *const concepts[] = {"sky", "road", "car"};
    char image[] = "/tmp/fuzz_labels_image_XXXXXX", labels[] = "/tmp/fuzz_labels_map_XXXXXX";
    const char *images[1], *maps[1];
    cnnvis_dataset ds;
    size_t cut;
    if (size < 1) return 0;
    cut = (size_t)data[0] * (size - 1) / 255;
    if (write_temp(image, data + 1, cut) && write_temp(labels, data + 1 + cut, size - 1 - cut)) {
        images[0] = image, maps[0] = labels;
        if (cnnvis_dataset_from_files(&ds, images, maps, 1, 16, 16, "things", concepts, 3) == CNNVIS_OK) cnnvis_dataset_free(&ds);
    }
    remove(image), remove(labels);
    return 0;
}
