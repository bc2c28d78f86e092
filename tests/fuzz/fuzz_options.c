/* fuzz_options.c - libFuzzer harness: the examples' command-line parser (examples/common.h)
   on an argv cut from the input at its newlines, against a table with every kind of option. */
#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"
#include "../../examples/common.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    int k = 0, steps = 10, flag = 0, argc = 1;
    float eps = 0.1f;
    uint64_t seed = 1;
    const char *out = "out";
    ex_option opts[] = {
        {"steps", EX_INT, &steps, 1, 1000000, ""},      {"epsilon", EX_FLOAT, &eps, 0, 1, ""},
        {"seed", EX_U64, &seed, 0, 18446744073709551615.0, ""}, {"out", EX_STRING, &out, 0, 0, ""},
        {"k", EX_INT, &k, -5, 5, ""},                   {"train", EX_FLAG, &flag, 0, 0, ""},
    };
    char *text = (char *)malloc(size + 1), *argv[64], err[512];
    size_t i;
    if (!text) return 0;
    memcpy(text, data, size), text[size] = 0;
    argv[0] = (char *)"fuzz";
    argv[argc++] = text;
    for (i = 0; i < size && argc < 63; i++)
        if (text[i] == '\n') text[i] = 0, argv[argc++] = text + i + 1;
    argv[argc] = NULL;
    (void)ex_parse_args(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), err, sizeof err);
    free(text);
    return 0;
}
