/* cnnvis.c - the one file that compiles cnnvis.h's implementation (stb's pattern): make
   builds it once, into build/cnnvis.o, and links every example with it. An example also
   builds on its own with the define on the command line:
       cc -O2 -I. -DCNNVIS_IMPLEMENTATION examples/01_filters.c -o 01_filters -lm -lpthread */
#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"
