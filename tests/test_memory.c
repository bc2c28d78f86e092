/* test_memory.c - the analyses that stream a data set keep their memory bounded: top-k
   (lecture section 2a), Network Dissection (2b) and the robustness curve (section 5) must
   need no more memory for 50,000 images than for 5,000. The declarations promise it ("memory
   does not grow with the number of images"), and a student runs them on far more images
   than a test can: a buffer that grows with the data set would only show there, as a crash.

   Each analysis runs on the first 5,000 images of one set of 50,000 built-in concept images
   (a view, cnnvis_dataset_slice: the same images) and on all of them, with a small net so that
   50,000 images take a second. Two measures, each within 10% at 50,000 of that at 5,000:
     - the library's heap: CNNVIS_MALLOC/CNNVIS_FREE are replaced by a counting allocator, and
       the peak of live bytes during the call, less those live before it, is what the call
       itself allocated at its worst (the result included). Exact, and the same under any
       sanitizer, so this is the part that always runs;
     - the resident memory (Linux, no ASan or TSan, which move memory about): each run in a
       forked child, so that both sizes start from the same heap, with the data set, the net
       and one batch already resident; VmHWM after the run less VmRSS before it is what the
       run added, including memory that does not pass through CNNVIS_MALLOC (libc's own, such
       as qsort's buffer). The child's whole peak RSS less the data set is printed too, as
       tests/bench.c section 5(d) does with the big net (it takes minutes; this, seconds).
   Network Dissection allocates its per-unit buffers at their full size (CNNVIS_DISSECT_CAP)
   whatever the data set's size, for this: sized by the data, they grew with it (bounded by
   the cap, but not flat), which this test caught.
   The results are checked for sense as well (k hits per unit, every unit dissected, the
   accuracy in [0, 1] and no higher at eps 8/255 than on the clean images), and the heap must be
   back where it was once each result is freed. */
#if defined(__linux__)
#define _GNU_SOURCE /* sched_setaffinity; with it POSIX.1-2008's fork, pipe, waitpid */
#else
#define _POSIX_C_SOURCE 200809L /* fork, pipe, waitpid under -std=c99 */
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "minitest.h"

#if defined(__unix__) || defined(__APPLE__)
#include <errno.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include "procmem.h"
#define MEM_POSIX 1
#endif
#if defined(__linux__)
#include <sched.h>
#endif

/* Sanitizers put redzones and shadow memory around every block: RSS then measures them. */
#if defined(MINITEST_ASAN) || defined(MINITEST_TSAN) || defined(MINITEST_MSAN)
#define MEM_SANITIZED 1
#endif

/* --- The counting allocator ----------------------------------------------------------------
   Each block carries its size in a 16-byte header in front of it, so that what the library
   gets keeps malloc's alignment (the net aligns its arena to 64 bytes itself). The mutex is
   for the pool's worker threads, which allocate too (dissection's histograms) when
   CNNVIS_THREADS gives the net more than the one thread it asks for. */

typedef union count_header {
    size_t size;
    long double align_long_double;
    void *align_pointer;
    char bytes[16];
} count_header;

static pthread_mutex_t count_mutex = PTHREAD_MUTEX_INITIALIZER;
static size_t count_live; /* bytes the library holds now */
static size_t count_peak; /* the most it held since the last count_reset_peak */

static void *count_malloc(size_t size)
{
    count_header *h;
    if (size > (size_t)-1 - sizeof *h) return NULL;
    h = (count_header *)malloc(sizeof *h + size);
    if (!h) return NULL;
    h->size = size;
    pthread_mutex_lock(&count_mutex);
    count_live += size;
    if (count_live > count_peak) count_peak = count_live;
    pthread_mutex_unlock(&count_mutex);
    return h + 1;
}

static void count_free(void *p)
{
    count_header *h;
    if (!p) return;
    h = (count_header *)p - 1;
    pthread_mutex_lock(&count_mutex);
    count_live -= h->size;
    pthread_mutex_unlock(&count_mutex);
    free(h);
}

/* Start a new peak at the bytes live now; returns them. */
static size_t count_reset_peak(void)
{
    size_t live;
    pthread_mutex_lock(&count_mutex);
    count_peak = live = count_live;
    pthread_mutex_unlock(&count_mutex);
    return live;
}

static void count_read(size_t *live, size_t *peak)
{
    pthread_mutex_lock(&count_mutex);
    *live = count_live, *peak = count_peak;
    pthread_mutex_unlock(&count_mutex);
}

#define CNNVIS_MALLOC(sz) count_malloc(sz)
#define CNNVIS_FREE(p) count_free(p)
#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"

/* --- Resident memory (Linux) ----------------------------------------------------------------- */

/* Run on one CPU from now on. Linux keeps a process's count of resident pages in parts, one
   per CPU (per thread before Linux 6.2), and adds a part to the total only every few dozen
   pages, so VmRSS and VmHWM are off by up to that much for each CPU the process ran on: on
   a busy machine the same curve measured 808 KiB at 5,000 images and 936 KiB at 50,000.
   On one CPU the same page faults leave the same error, and runs that allocate the same
   measure the same. */
static void pin_to_one_cpu(void)
{
#if defined(__linux__)
    cpu_set_t allowed, one;
    int cpu;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
    for (cpu = 0; cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &allowed); cpu++) continue;
    if (cpu == CPU_SETSIZE) return;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    (void)sched_setaffinity(0, sizeof one, &one);
#endif
}

/* Why RSS is not measured in this build, or NULL if it is. */
static const char *rss_unavailable(void)
{
#if defined(MEM_SANITIZED)
    return "built with a sanitizer (ASan/TSan): its shadow memory and redzones are in the RSS";
#elif !defined(MEM_POSIX) || !defined(__linux__)
    return "not Linux: needs /proc/self/status and /proc/self/clear_refs";
#else
    static int checked, ok;
    if (!checked) checked = 1, ok = procmem_status_kib("VmRSS") > 0 && procmem_reset_peak(64);
    return ok ? NULL : "/proc/self/status or /proc/self/clear_refs is not usable (Linux < 4.0, or no /proc)";
#endif
}

/* --- The images and the net ------------------------------------------------------------------ */

enum { SMALL = 5000, BIG = 50000, SIZE = 16 };

static cnnvis_dataset images; /* BIG concept images, SIZE x SIZE, seed 1 */

/* Two stride-2 convolutions and a classifier on 3x16x16, about 13,000 multiply-adds an
   image, so that 50,000 images take a fraction of a second; two conv layers to dissect.
   Untrained: the question is memory, not accuracy (ten epochs on 2,000 images leave so small
   a net at 12% on these shapes anyway). One thread: this small a net runs fastest on one,
   the figures do not depend on how threads interleave, and a net made in a forked child
   has its pool (fork copies no threads). */
static void describe(cnnvis_net_desc *d)
{
    cnnvis_net_desc_init(d, 3, SIZE, SIZE);
    cnnvis_net_desc_conv(d, "conv1", 4, 3, 2, 1, 1);
    cnnvis_net_desc_relu(d, "relu1");
    cnnvis_net_desc_conv(d, "conv2", 8, 3, 2, 1, 1);
    cnnvis_net_desc_relu(d, "relu2");
    cnnvis_net_desc_fc(d, "fc3", CNNVIS_CONCEPT_CLASSES);
    d->max_batch = 64, d->n_threads = 1, d->seed = 1;
}

/* The images, once for all the tests. */
static int setup(void)
{
    static int done, ok;
    cnnvis_concepts_desc cd;
    double start = cnnvis__now();
    if (done) return ok;
    done = 1;
    memset(&cd, 0, sizeof cd);
    cd.n = BIG, cd.size = SIZE, cd.seed = 1;
    ok = cnnvis_concepts_generate(&images, &cd) == CNNVIS_OK;
    if (!ok) printf("  setup: %s\n", cnnvis_last_error());
    else printf("  %d concept images %dx%d: %.2f s to generate, %.1f MiB\n", BIG, SIZE, SIZE, cnnvis__now() - start,
                (double)BIG * 6 * SIZE * SIZE / (1024.0 * 1024.0));
    return ok;
}

/* --- One measured run ---------------------------------------------------------------------- */

typedef enum analysis { TOPK, DISSECT, CURVE } analysis;
static const char *const analysis_names[] = {"top-k conv2", "dissect conv1+2", "curve FGSM"};

#define N_EPS 3
static const float curve_eps[N_EPS] = {0.0f, 2.0f / 255.0f, 8.0f / 255.0f};

typedef struct mem_report {
    int ok;
    char error[704]; /* room for cnnvis_last_error()'s message */
    double seconds;
    size_t heap_peak;     /* bytes: the library's peak during the call less what was live before */
    long long heap_left;  /* bytes: live after the result is freed less before (0: nothing kept) */
    int rss;              /* 1: the fields below were measured */
    double rss_before;    /* KiB: VmRSS just before the call (images, net, one batch) */
    double rss_growth;    /* KiB: VmHWM after the call - rss_before */
    double rss_peak;      /* KiB: the child's peak RSS over its whole life */
    /* what came out, for the sanity checks */
    int units, k, short_units, bad_hits;    /* top-k (expect_units[0]: the layer's) */
    int dis_units[2], expect_units[2], bad_iou; /* dissection */
    float accuracy[N_EPS], confidence[N_EPS];   /* curve */
} mem_report;

/* Run one analysis on ds, recording what it returned into rep; frees the result. */
static cnnvis_result run_analysis(analysis a, cnnvis_net *net, const cnnvis_dataset *ds, mem_report *rep)
{
    cnnvis_result r;
    int u, l, c;
    if (a == TOPK) {
        cnnvis_topk t;
        cnnvis_topk_desc td;
        memset(&td, 0, sizeof td);
        td.k = 9;
        r = cnnvis_topk_compute(&t, net, "conv2", ds, &td);
        if (r != CNNVIS_OK) return r;
        rep->units = t.n_units, rep->k = t.k, rep->expect_units[0] = net->layers[t.layer].out_c;
        for (u = 0; u < t.n_units; u++) {
            rep->short_units += t.count[u] != t.k;
            for (c = 0; c < t.count[u]; c++) {
                int32_t image = t.hits[(size_t)u * t.k + c].image;
                rep->bad_hits += image < 0 || image >= ds->n;
            }
        }
        cnnvis_topk_free(&t);
    } else if (a == DISSECT) {
        static const char *const layers[2] = {"conv1", "conv2"};
        cnnvis_dissection dis[2];
        r = cnnvis_dissect(dis, net, layers, 2, ds, NULL);
        if (r != CNNVIS_OK) return r;
        for (l = 0; l < 2; l++) {
            rep->dis_units[l] = dis[l].n_units;
            rep->expect_units[l] = net->layers[cnnvis_net_find(net, layers[l])].out_c;
            for (u = 0; u < dis[l].n_units; u++)
                for (c = 0; c < dis[l].n_concepts; c++) {
                    float iou = dis[l].iou[(size_t)u * dis[l].n_concepts + c];
                    rep->bad_iou += !(iou >= 0 && iou <= 1);
                }
            cnnvis_dissection_free(&dis[l]);
        }
    } else {
        cnnvis_attack_desc ad;
        memset(&ad, 0, sizeof ad);
        ad.method = CNNVIS_ATTACK_FGSM;
        r = cnnvis_robustness_curve(rep->accuracy, rep->confidence, net, ds, 0, &ad, curve_eps, N_EPS, 0);
    }
    return r;
}

/* Read a byte of every page of p. A forked child shares the images with its parent; Linux
   counts the pages the parent wrote as the child's from the start, but were one left for
   the child's first read to map, the run would be charged for it. */
static volatile unsigned page_sink;
static void touch_pages(const void *p, size_t bytes)
{
    const unsigned char *c = (const unsigned char *)p;
    size_t at;
    for (at = 0; at < bytes; at += 1024) page_sink += c[at];
}

/* Make the net, run one batch through it, then measure one call of the analysis on the
   first n images. */
static void measure_here(analysis a, int n, int rss, mem_report *rep)
{
    cnnvis_net_desc d;
    cnnvis_net *net = NULL;
    cnnvis_dataset ds;
    cnnvis_tensor x;
    cnnvis_result r;
    size_t before, live, peak, plane = (size_t)images.h * images.w;
    double hwm_before = 0, start;
    memset(rep, 0, sizeof *rep);
    describe(&d);
    r = cnnvis_net_create(&net, &d);
    if (r == CNNVIS_OK) r = cnnvis_dataset_slice(&ds, &images, 0, n);
    if (r == CNNVIS_OK) { /* pages the net touches first are not the analysis's */
        x = net->input;
        x.n = net->desc.max_batch;
        r = cnnvis__dataset_batch(&ds, 0, x.n, net, &x, NULL);
        if (r == CNNVIS_OK) r = cnnvis_net_forward(net, &x);
    }
    if (r != CNNVIS_OK) {
        snprintf(rep->error, sizeof rep->error, "setting up: %s", cnnvis_last_error());
        cnnvis_net_free(net);
        return;
    }
    if (rss) {
        /* all the images resident before the run, so that what it adds is its own */
        touch_pages(images.px, (size_t)images.n * images.c * plane);
        touch_pages(images.concepts, (size_t)images.n * images.n_categories * plane);
        touch_pages(images.labels, sizeof(int32_t) * (size_t)images.n);
        hwm_before = procmem_status_kib("VmHWM");
        rep->rss_before = procmem_status_kib("VmRSS");
        rep->rss = procmem_reset_peak(64) && rep->rss_before > 0;
    }
    before = count_reset_peak();
    start = cnnvis__now();
    r = run_analysis(a, net, &ds, rep);
    rep->seconds = cnnvis__now() - start;
    count_read(&live, &peak);
    rep->heap_peak = peak - before;
    rep->heap_left = (long long)live - (long long)before;
    if (rep->rss) {
        double hwm = procmem_status_kib("VmHWM");
        rep->rss_growth = hwm - rep->rss_before;
        rep->rss_peak = hwm > hwm_before ? hwm : hwm_before;
    }
    rep->ok = r == CNNVIS_OK;
    if (!rep->ok) snprintf(rep->error, sizeof rep->error, "%s", cnnvis_last_error());
    cnnvis_net_free(net);
}

#ifdef MEM_POSIX
/* measure_here in a forked child: each size starts from this process's heap as it is now. */
static void measure_in_child(analysis a, int n, mem_report *rep)
{
    int fds[2], status = 0;
    pid_t child;
    memset(rep, 0, sizeof *rep);
    fflush(stdout); /* or the child would print it again */
    pin_to_one_cpu(); /* before the fork: the child's page counts start on its CPU */
    if (pipe(fds) != 0) {
        snprintf(rep->error, sizeof rep->error, "pipe: %s", strerror(errno));
        return;
    }
    child = fork();
    if (child < 0) {
        snprintf(rep->error, sizeof rep->error, "fork: %s", strerror(errno));
        close(fds[0]), close(fds[1]);
        return;
    }
    if (child == 0) {
        close(fds[0]);
        measure_here(a, n, 1, rep);
        _exit(procmem_write_all(fds[1], rep, sizeof *rep) ? 0 : 1);
    }
    close(fds[1]);
    if (!procmem_read_all(fds[0], rep, sizeof *rep)) {
        memset(rep, 0, sizeof *rep);
        snprintf(rep->error, sizeof rep->error, "the measuring process died");
    }
    close(fds[0]);
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) continue;
}
#endif

static void measure(analysis a, int n, mem_report *rep)
{
#ifdef MEM_POSIX
    if (!rss_unavailable()) {
        measure_in_child(a, n, rep);
        return;
    }
#endif
    measure_here(a, n, 0, rep);
}

/* --- The tests ------------------------------------------------------------------------------ */

static double kib(size_t bytes) { return (double)bytes / 1024.0; }

static const int sizes[2] = {SMALL, BIG};

/* Both sizes of analysis a, measured once (test_rss reads the same runs). */
static const mem_report *results(analysis a)
{
    static mem_report rep[3][2];
    static int done[3];
    if (!done[a]) {
        done[a] = 1;
        measure(a, SMALL, &rep[a][0]);
        measure(a, BIG, &rep[a][1]);
    }
    return rep[a];
}

/* The heap of both sizes: one line of figures, and the 10% check. 0 if a run failed. */
static int check_heap(analysis a, const mem_report *rep)
{
    const char *name = analysis_names[a];
    int s;
    for (s = 0; s < 2; s++) {
        CHECK(rep[s].ok, "%s on %d images: %s", name, sizes[s], rep[s].error);
        if (!rep[s].ok) return 0;
        CHECK(rep[s].heap_peak > 0, "%s on %d images: the counting allocator saw no allocation", name, sizes[s]);
        CHECK(rep[s].heap_left == 0, "%s on %d images: %lld bytes still allocated after the result was freed", name,
              sizes[s], rep[s].heap_left);
    }
    printf("  %-16s heap peak  %6d: %8.1f KiB  %6d: %8.1f KiB  ratio %.3f  (%.2f s, %.2f s)\n", name, SMALL,
           kib(rep[0].heap_peak), BIG, kib(rep[1].heap_peak), (double)rep[1].heap_peak / (double)rep[0].heap_peak,
           rep[0].seconds, rep[1].seconds);
    CHECK((double)rep[1].heap_peak <= 1.10 * (double)rep[0].heap_peak, "%s: heap peak %zu bytes at %d images, %zu at %d",
          name, rep[1].heap_peak, BIG, rep[0].heap_peak, SMALL);
    return 1;
}

static void test_topk(void)
{
    const mem_report *rep;
    int s;
    REQUIRE(setup(), "setup");
    rep = results(TOPK);
    if (!check_heap(TOPK, rep)) return;
    for (s = 0; s < 2; s++) {
        CHECK(rep[s].units == rep[s].expect_units[0] && rep[s].units > 0 && rep[s].k == 9,
              "top-k: %d units (the layer has %d), k %d", rep[s].units, rep[s].expect_units[0], rep[s].k);
        CHECK(rep[s].short_units == 0, "top-k: %d units have fewer than k hits", rep[s].short_units);
        CHECK(rep[s].bad_hits == 0, "top-k: %d hits name no image of the data set", rep[s].bad_hits);
    }
}

static void test_dissect(void)
{
    const mem_report *rep;
    int s, l;
    REQUIRE(setup(), "setup");
    rep = results(DISSECT);
    if (!check_heap(DISSECT, rep)) return;
    for (s = 0; s < 2; s++) {
        for (l = 0; l < 2; l++)
            CHECK(rep[s].dis_units[l] == rep[s].expect_units[l] && rep[s].dis_units[l] > 0,
                  "dissection: layer %d has %d units, the net %d", l, rep[s].dis_units[l], rep[s].expect_units[l]);
        CHECK(rep[s].bad_iou == 0, "dissection: %d IoUs outside [0, 1]", rep[s].bad_iou);
    }
}

/* FGSM lowers the accuracy even of an untrained net: it climbs the loss of each image's true
   class, which moves the net's argmax away from it. */
static void test_curve(void)
{
    const mem_report *rep;
    int s, k;
    REQUIRE(setup(), "setup");
    rep = results(CURVE);
    if (!check_heap(CURVE, rep)) return;
    for (s = 0; s < 2; s++) {
        for (k = 0; k < N_EPS; k++)
            CHECK(rep[s].accuracy[k] >= 0 && rep[s].accuracy[k] <= 1 && rep[s].confidence[k] >= 0 && rep[s].confidence[k] <= 1,
                  "curve: eps %g: accuracy %g, confidence %g", curve_eps[k], rep[s].accuracy[k], rep[s].confidence[k]);
        CHECK(rep[s].accuracy[0] >= rep[s].accuracy[N_EPS - 1], "curve: accuracy %g clean, %g at eps 8/255",
              rep[s].accuracy[0], rep[s].accuracy[N_EPS - 1]);
    }
    printf("  accuracy at eps 0, 2/255, 8/255 on %d images: %.3f %.3f %.3f\n", BIG, rep[1].accuracy[0], rep[1].accuracy[1],
           rep[1].accuracy[2]);
}

/* The resident memory of the same runs, both sizes: the peak less the images, and what
   each run added, within 10%. */
static void test_rss(void)
{
    const char *why = rss_unavailable();
    double images_kib = (double)BIG * 6 * SIZE * SIZE / 1024.0;
    int a;
    if (why) SKIP("%s", why);
    REQUIRE(setup(), "setup");
    for (a = TOPK; a <= CURVE; a++) {
        const mem_report *rep = results((analysis)a);
        const char *name = analysis_names[a];
        double ratio;
        if (!rep[0].ok || !rep[1].ok) continue; /* reported by its own test */
        CHECK(rep[0].rss && rep[1].rss, "%s: VmHWM could not be reset in the child", name);
        if (!rep[0].rss || !rep[1].rss) continue;
        ratio = rep[0].rss_growth > 0 ? rep[1].rss_growth / rep[0].rss_growth : rep[1].rss_growth > 0 ? HUGE_VAL : 1;
        printf("  %-16s RSS growth %6d: %8.1f KiB  %6d: %8.1f KiB  ratio %.3f;  peak RSS - images %.1f and %.1f MiB\n",
               name, SMALL, rep[0].rss_growth, BIG, rep[1].rss_growth, ratio, (rep[0].rss_peak - images_kib) / 1024.0,
               (rep[1].rss_peak - images_kib) / 1024.0);
        /* the acceptance's measure: the whole peak beyond the images, within 10% */
        CHECK(rep[1].rss_peak - images_kib <= 1.10 * (rep[0].rss_peak - images_kib),
              "%s: peak RSS less the images %.1f KiB at %d images, %.1f at %d", name, rep[1].rss_peak - images_kib, BIG,
              rep[0].rss_peak - images_kib, SMALL);
        /* the stricter one, what the run itself added; 16 pages of slack, as the kernel
           counts resident pages in batches */
        CHECK(rep[1].rss_growth <= 1.10 * rep[0].rss_growth + 64, "%s: RSS growth %.1f KiB at %d images, %.1f at %d", name,
              rep[1].rss_growth, BIG, rep[0].rss_growth, SMALL);
    }
}

int main(void)
{
    int failed;
    RUN(test_topk);
    RUN(test_dissect);
    RUN(test_curve);
    RUN(test_rss);
    failed = SUMMARY();
    cnnvis_dataset_free(&images);
    return failed;
}
