/* test_activations_cap.c - test_activations.c again, with Network Dissection allowed to
   keep only 4 values a unit in memory. Every unit then takes the slow paths the default
   cap (8192) leaves to huge data sets and heavy ties: its threshold's bin narrowed over
   several streams, and the pixels inside the bin too many to keep, so that the
   intersections are counted in a stream of their own. The results must be the same. */
#define CNNVIS_DISSECT_CAP 4
#include "test_activations.c"
