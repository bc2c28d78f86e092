/* expect.h - EXPECT(call, code, word) for the tests of bad input (test_errors.c,
   test_faults.c): the call must return `code` and leave a message containing `word`.
   Include after cnnvis.h and minitest.h. */
#ifndef EXPECT_H
#define EXPECT_H

static int has(const char *haystack, const char *needle) { return strstr(haystack, needle) != NULL; }

#define EXPECT(call, code, word)                                                                   \
    do {                                                                                           \
        cnnvis_result r_;                                                                          \
        cnnvis_clear_error();                                                                      \
        r_ = (call);                                                                               \
        CHECK(r_ == (code), "%s: got %s, expected %s (%s)", #call, cnnvis_result_str(r_), #code,   \
              cnnvis_last_error());                                                                \
        CHECK(has(cnnvis_last_error(), word), "%s: message \"%s\" lacks \"%s\"", #call,           \
              cnnvis_last_error(), word);                                                          \
    } while (0)

#endif
