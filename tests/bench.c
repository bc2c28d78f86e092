#define _POSIX_C_SOURCE 200809L /* first line: clock_gettime, fork, getrusage under -std=c99 */
/* bench.c - how fast are cnnvis.h's kernels on this machine, and how far from its peak?

   A benchmark, not a test: it never fails because something is slow. `make bench` builds it
   at -O2 and runs it (about 3 minutes on this project's 2-core machine, 1.5 without section 5);
   `./build/bench --help` lists the options. It prints eight tables and writes the same figures to
   build/bench.csv:

     1. peak   the machine's own peak: independent FMAs on 12 accumulators (AVX2+FMA), 16
               (NEON) or a scalar estimate, on 1 thread and on all threads. Every "% of
               peak" below divides by the peak of as many threads as the figure used. Then
               what one job handed to the thread pool costs, its threads spinning and asleep.
     2. conv   each convolution of the reference network and AlexNet's conv1 and conv2:
               forward, backward-data and backward-weights, batch 1 and 64, 1 thread and all
               threads, in GFLOP/s of the nominal count 2*OC*(IC/G)*K*K*OH*OW*N; the scalar
               reference kernels at batch 1 on 1 thread beside them.
     3. net    the whole reference network: training and inference images/s, the time of a
               saliency map, the training run's peak memory.
     4. presets the same for alexnet_mini, and batch-1 inference of torchvision's AlexNet.
     5. activations  lecture section 2 on alexnet_mini (untrained) over 10,000 built-in concept
               images (1,000 with --quick): (a) the forward passes alone to conv5, (b) Network
               Dissection of all conv layers in one call and (on the first 2,000 images) of each
               on its own, as multiples of (a), (c) top-k of conv5, (d) peak memory of top-k,
               dissection (conv1) and an FGSM robustness curve (the whole net) on 5,000 and 50,000
               images (1,000 and 5,000), each in a forked child.
     6. saliency  lecture section 4 on alexnet_mini, one image: ms per map for gradient, guided
               backpropagation, Grad-CAM, SmoothGrad(50), integrated gradients(64), occlusion
               and a 200-step class model, on 1 and all threads.
     7. adversarial  lecture section 5 on alexnet_mini: one image's FGSM and 20-step PGD on 1
               and all threads; the FGSM robustness curve (8 budgets) over 1,000 concept images
               (200 with --quick) and PGD(20)'s (4 budgets) over 100 (20), on all threads.
     8. png    the PNG writer on 1 thread, in MB of pixels per second, on a
               montage of concept images zoomed 4x, a line plot and noise, paired with the
               stored-block writer it replaced; each file's size as a fraction of its pixels.

   Every figure is the median of several timed runs after one warm-up run (section 5's runs of
   seconds: no warm-up, the median of 3 only if the first took under 2 s); calls shorter
   than 30 ms are repeated inside each timed run. The clock is CLOCK_MONOTONIC. Batch-1
   figures use the same image again and again, so its data are warm in the caches. */
#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"

#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "procmem.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define BENCH_X86 1
#include <immintrin.h>
#elif defined(__aarch64__) && defined(__ARM_NEON)
#define BENCH_NEON 1
#include <arm_neon.h>
#endif

/* ======================================================================================
   Settings, clock, CSV
   ====================================================================================== */

typedef struct bench_config {
    int quick;            /* --quick: fewer and shorter runs, for a smoke test */
    int threads;          /* --threads: the "all threads" count */
    const char *csv_path; /* --csv */
    const char *only;     /* --only: one section, or NULL for all */
    int reps_fast;        /* timed runs of an item whose warm-up took < slow_s */
    int reps_slow;
    double slow_s;
    double min_sample_s;  /* a timed run repeats a short item until it lasts this long */
    double peak_s;        /* duration of one peak measurement */
} bench_config;

static bench_config cfg;
static FILE *csv;
static double peak_1, peak_all; /* GFLOP/s of one thread and of cfg.threads threads */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int want(const char *section) { return !cfg.only || strcmp(cfg.only, section) == 0; }

/* Percent of the peak of `threads` threads, or -1 if there is none. */
static double pct_of_peak(double gflops, int threads)
{
    double peak = threads == 1 ? peak_1 : peak_all;
    return peak > 0 ? 100.0 * gflops / peak : -1;
}

/* One CSV line; batch or threads 0 and pct < 0 are written as empty fields. */
static void csv_row(const char *section, const char *name, const char *pass, int batch, int threads, double value,
                    const char *unit, double pct)
{
    if (!csv) return;
    fprintf(csv, "%s,%s,%s,", section, name, pass);
    if (batch) fprintf(csv, "%d", batch);
    fputc(',', csv);
    if (threads) fprintf(csv, "%d", threads);
    fprintf(csv, ",%.6g,%s,", value, unit);
    if (pct >= 0) fprintf(csv, "%.1f", pct);
    fputc('\n', csv);
    fflush(csv);
}

static void open_csv(void)
{
    const char *slash = strrchr(cfg.csv_path, '/');
    if (slash && slash > cfg.csv_path) { /* make the folder (build/) if it is missing */
        char dir[512];
        size_t len = (size_t)(slash - cfg.csv_path);
        if (len < sizeof dir) {
            memcpy(dir, cfg.csv_path, len);
            dir[len] = 0;
            (void)mkdir(dir, 0777); /* it may exist; fopen below reports a real problem */
        }
    }
    csv = fopen(cfg.csv_path, "w");
    if (!csv) {
        printf("(cannot write %s: %s; no CSV copy)\n", cfg.csv_path, strerror(errno));
        return;
    }
    fprintf(csv, "section,name,pass,batch,threads,value,unit,pct_peak\n");
}

/* Resident memory of this process now, in MiB (Linux /proc), or -1. */
static double current_rss_mib(void)
{
    long pages_total = 0, pages_resident = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = -1;
    fclose(f);
    return pages_resident < 0 ? -1 : (double)pages_resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

/* --- Is anything else running? ---------------------------------------------------------
   Other programs take CPU time from the bench and make every figure low. Linux counts the
   busy time of all CPUs in /proc/stat; minus this process's own CPU time (and its
   children's), what is left during the run was someone else's. */

/* Busy CPU-seconds of the whole machine since boot, or -1 (no /proc/stat). */
static double machine_busy_s(void)
{
    unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal = 0;
    int n;
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle, &iowait, &irq, &softirq, &steal);
    fclose(f);
    if (n < 7) return -1;
    return (double)(user + nice + sys + irq + softirq + steal) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU-seconds used by this process and the children it waited for. */
static double own_cpu_s(void)
{
    struct rusage self, children;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
    return (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + children.ru_utime.tv_sec + children.ru_stime.tv_sec) +
           1e-6 * (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec + children.ru_utime.tv_usec +
                           children.ru_stime.tv_usec);
}

static void print_load_at_start(void)
{
    double load1;
    int running, total;
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return;
    if (fscanf(f, "%lf %*f %*f %d/%d", &load1, &running, &total) == 3)
        printf("load:     %d runnable now besides the bench (1-minute load average %.2f)%s\n", running - 1, load1,
               running > 1 ? "  -- the machine is busy: figures will be low and noisy" : "");
    fclose(f);
}

/* ======================================================================================
   Timing: median of several runs after a warm-up
   ====================================================================================== */

typedef void (*work_fn)(void *ctx);

typedef struct timing {
    double seconds; /* median seconds of one call */
    int runs;       /* timed runs the median is over */
    int calls;      /* calls per timed run */
    int skipped;    /* 1: the warm-up took longer than the limit; seconds is that one run */
} timing;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Run fn once to warm caches and the thread pool, then time cfg.reps_fast runs (or
   reps_slow if the warm-up took slow_s or more) and take the median. An item faster than
   min_sample_s is called several times per timed run, so the clock's resolution and the
   cost of reading it do not matter. limit > 0: if the warm-up alone took longer, stop
   there (timing.skipped). */
static timing measure(work_fn fn, void *ctx, double limit)
{
    double samples[16], warm, start;
    timing t;
    int r, c;
    memset(&t, 0, sizeof t);
    start = now_s();
    fn(ctx);
    warm = now_s() - start;
    if (limit > 0 && warm > limit) {
        t.seconds = warm, t.runs = 1, t.calls = 1, t.skipped = 1;
        return t;
    }
    t.calls = 1;
    if (warm < cfg.min_sample_s) t.calls = (int)CNNVIS__MIN(100000.0, ceil(cfg.min_sample_s / (warm > 1e-7 ? warm : 1e-7)));
    t.runs = warm * t.calls >= cfg.slow_s ? cfg.reps_slow : cfg.reps_fast;
    for (r = 0; r < t.runs; r++) {
        start = now_s();
        for (c = 0; c < t.calls; c++) fn(ctx);
        samples[r] = (now_s() - start) / t.calls;
    }
    t.seconds = median(samples, t.runs);
    return t;
}

/* Random numbers in [-1, 1): uniform rather than normal because the normal generator is
   slow for tens of millions of values, and the values do not change the speed. */
static void fill_random(float *v, size_t n, cnnvis_rng *rng)
{
    size_t i;
    for (i = 0; i < n; i++) v[i] = 2.0f * cnnvis__rng_uniform(rng) - 1.0f;
}

/* Every value of t clamped to [0, 1]: random pixels. */
static void clamp01(cnnvis_tensor *t)
{
    size_t i, n = cnnvis_tensor_count(t);
    for (i = 0; i < n; i++) t->data[i] = t->data[i] < 0.0f ? 0.0f : t->data[i] > 1.0f ? 1.0f : t->data[i];
}

/* ======================================================================================
   1. Peak FMA throughput
   ======================================================================================
   Chains of fused multiply-adds on independent accumulators: each FMA waits only for the
   one before it on the same accumulator, so with more accumulators than (FMA latency x FMA
   units) the units never wait. The AVX2 and scalar loops compute c = c * a + b, which
   converges to b / (1 - a) = 1: no overflow, no denormals. */

#define PEAK_KIND_SCALAR 0
#define PEAK_KIND_AVX2 1
#define PEAK_KIND_NEON 2

static int peak_kind;
static double peak_flops_per_iter;

#ifdef BENCH_X86
#define AVX2_ACC 12
__attribute__((target("avx2,fma"))) static float fma_loop_avx2(long iters)
{
    __m256 acc[AVX2_ACC], a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-6f), sum = _mm256_setzero_ps();
    float lanes[8], total = 0;
    long i;
    int k;
    for (k = 0; k < AVX2_ACC; k++) acc[k] = _mm256_set1_ps(0.01f * (float)k);
    for (i = 0; i < iters; i++) { /* 12 independent chains, written out so they stay in registers */
        acc[0] = _mm256_fmadd_ps(acc[0], a, b), acc[1] = _mm256_fmadd_ps(acc[1], a, b);
        acc[2] = _mm256_fmadd_ps(acc[2], a, b), acc[3] = _mm256_fmadd_ps(acc[3], a, b);
        acc[4] = _mm256_fmadd_ps(acc[4], a, b), acc[5] = _mm256_fmadd_ps(acc[5], a, b);
        acc[6] = _mm256_fmadd_ps(acc[6], a, b), acc[7] = _mm256_fmadd_ps(acc[7], a, b);
        acc[8] = _mm256_fmadd_ps(acc[8], a, b), acc[9] = _mm256_fmadd_ps(acc[9], a, b);
        acc[10] = _mm256_fmadd_ps(acc[10], a, b), acc[11] = _mm256_fmadd_ps(acc[11], a, b);
    }
    for (k = 0; k < AVX2_ACC; k++) sum = _mm256_add_ps(sum, acc[k]);
    _mm256_storeu_ps(lanes, sum);
    for (k = 0; k < 8; k++) total += lanes[k];
    return total; /* used by the caller, so the loop cannot be removed */
}
#endif

#ifdef BENCH_NEON
#define NEON_ACC 16 /* wide cores have 4 FMA pipes of latency 3-4 */
/* Named variables, not an array: gcc keeps an array of vectors in memory here. And
   x += a * b rather than x = x * a + b: NEON's FMA adds into its destination, so the other
   form would cost a register move per FMA. x grows by 1e-6 per step: no overflow. */
#define NEON_FMA4(x, y, z, w) \
    x = vfmaq_f32(x, a, b), y = vfmaq_f32(y, a, b), z = vfmaq_f32(z, a, b), w = vfmaq_f32(w, a, b)
static float fma_loop_neon(long iters)
{
    float32x4_t a = vdupq_n_f32(1e-3f), b = vdupq_n_f32(1e-3f);
    float32x4_t c0 = vdupq_n_f32(0.00f), c1 = vdupq_n_f32(0.01f), c2 = vdupq_n_f32(0.02f), c3 = vdupq_n_f32(0.03f);
    float32x4_t c4 = vdupq_n_f32(0.04f), c5 = vdupq_n_f32(0.05f), c6 = vdupq_n_f32(0.06f), c7 = vdupq_n_f32(0.07f);
    float32x4_t c8 = vdupq_n_f32(0.08f), c9 = vdupq_n_f32(0.09f), c10 = vdupq_n_f32(0.10f), c11 = vdupq_n_f32(0.11f);
    float32x4_t c12 = vdupq_n_f32(0.12f), c13 = vdupq_n_f32(0.13f), c14 = vdupq_n_f32(0.14f), c15 = vdupq_n_f32(0.15f);
    long i;
    for (i = 0; i < iters; i++) {
        NEON_FMA4(c0, c1, c2, c3);
        NEON_FMA4(c4, c5, c6, c7);
        NEON_FMA4(c8, c9, c10, c11);
        NEON_FMA4(c12, c13, c14, c15);
    }
    c0 = vaddq_f32(vaddq_f32(vaddq_f32(c0, c1), vaddq_f32(c2, c3)), vaddq_f32(vaddq_f32(c4, c5), vaddq_f32(c6, c7)));
    c8 = vaddq_f32(vaddq_f32(vaddq_f32(c8, c9), vaddq_f32(c10, c11)), vaddq_f32(vaddq_f32(c12, c13), vaddq_f32(c14, c15)));
    return vaddvq_f32(vaddq_f32(c0, c8));
}
#endif

/* Neither: 8 scalar chains of a multiply and an add. Only an estimate (the compiler may
   vectorise it, or not fuse it). */
static float fma_loop_scalar(long iters)
{
    float acc[8], total = 0;
    long i;
    int k;
    for (k = 0; k < 8; k++) acc[k] = 0.01f * (float)k;
    for (i = 0; i < iters; i++)
        for (k = 0; k < 8; k++) acc[k] = acc[k] * 0.999999f + 1e-6f;
    for (k = 0; k < 8; k++) total += acc[k];
    return total;
}

static float fma_loop(long iters)
{
#ifdef BENCH_X86
    if (peak_kind == PEAK_KIND_AVX2) return fma_loop_avx2(iters);
#endif
#ifdef BENCH_NEON
    if (peak_kind == PEAK_KIND_NEON) return fma_loop_neon(iters);
#endif
    return fma_loop_scalar(iters);
}

static void choose_peak_kind(void)
{
    peak_kind = PEAK_KIND_SCALAR, peak_flops_per_iter = 8 * 2;
#ifdef BENCH_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        peak_kind = PEAK_KIND_AVX2, peak_flops_per_iter = AVX2_ACC * 8 * 2; /* 8 lanes, 2 flops per FMA */
#endif
#ifdef BENCH_NEON
    peak_kind = PEAK_KIND_NEON, peak_flops_per_iter = NEON_ACC * 4 * 2;
#endif
}

typedef struct peak_job {
    long iters;
    int threads;
    volatile float sink; /* the loops' results land here */
} peak_job;

static void *peak_thread(void *p)
{
    peak_job *job = (peak_job *)p;
    job->sink = fma_loop(job->iters);
    return NULL;
}

/* All threads run the same loop at once; GFLOP/s = all their flops / the wall time from
   the first start to the last finish (not the sum of per-thread rates, which would count
   threads that did not overlap). */
static void peak_run(void *p)
{
    peak_job *job = (peak_job *)p;
    pthread_t tid[CNNVIS__MAX_THREADS];
    int t, started = 0;
    for (t = 1; t < job->threads; t++)
        if (pthread_create(&tid[started], NULL, peak_thread, job) == 0) started++;
    peak_thread(job);
    for (t = 0; t < started; t++) pthread_join(tid[t], NULL);
    if (started != job->threads - 1) printf("(peak: only %d of %d threads started)\n", started + 1, job->threads);
}

static double peak_gflops(int threads)
{
    peak_job job;
    timing t;
    double start, s;
    memset(&job, 0, sizeof job);
    job.threads = 1, job.iters = 100000;
    start = now_s(); /* calibrate: iterations for cfg.peak_s on one thread */
    job.sink = fma_loop(job.iters);
    s = now_s() - start;
    job.iters = (long)(job.iters * cfg.peak_s / (s > 1e-6 ? s : 1e-6));
    job.threads = threads;
    t = measure(peak_run, &job, 0);
    return (double)threads * (double)job.iters * peak_flops_per_iter / t.seconds * 1e-9;
}

/* What handing one job to the thread pool costs (cnnvis__parallel_for with trivial items):
   a batch-1 pass hands out dozens of jobs of a few microseconds. With no more threads than
   CPUs the pool's threads spin between jobs; with more, they sleep on a condition variable
   and each job waits for them to wake. */
typedef struct pool_job {
    struct cnnvis_pool *pool;
    int threads;
    volatile int sink;
} pool_job;

static void pool_items(void *p, int begin, int end)
{
    pool_job *j = (pool_job *)p;
    if (begin == 0) j->sink += end; /* only the calling thread's share writes */
}

static void run_pool_jobs(void *ctx)
{
    pool_job *j = (pool_job *)ctx;
    int i;
    for (i = 0; i < 1000; i++) cnnvis__parallel_for(j->pool, j->threads, pool_items, j);
}

static void bench_pool(void)
{
    int counts[2], c;
    counts[0] = cfg.threads, counts[1] = cnnvis__online_cpus() + 1;
    if (cfg.threads < 2) return;
    printf("   thread pool: one job handed to the threads and waited for, us (median)\n");
    for (c = 0; c < 2; c++) {
        pool_job j;
        timing tm;
        int spin;
        memset(&j, 0, sizeof j);
        j.threads = counts[c];
        if (cnnvis__pool_create(&j.pool, j.threads) != CNNVIS_OK) {
            printf("     (%s)\n", cnnvis_last_error());
            return;
        }
        tm = measure(run_pool_jobs, &j, 0);
        spin = j.threads <= cnnvis__online_cpus();
        printf("     %3d threads %8.2f  (%s)\n", j.threads, tm.seconds / 1000 * 1e6,
               spin ? "no more than the CPUs: they spin between jobs" : "more than the CPUs: they sleep");
        csv_row("peak", "pool_job", spin ? "spin" : "sleep", 0, j.threads, tm.seconds / 1000 * 1e6, "us", -1);
        cnnvis__pool_free(j.pool);
    }
}

static void bench_peak(void)
{
    const char *kind = peak_kind == PEAK_KIND_AVX2   ? "fma_avx2"
                       : peak_kind == PEAK_KIND_NEON ? "fma_neon"
                                                     : "scalar_estimate";
    printf("\n1. Peak FMA throughput (this machine's own micro-benchmark)\n");
#ifdef BENCH_X86
    if (peak_kind == PEAK_KIND_AVX2)
        printf("   _mm256_fmadd_ps on %d independent accumulators: 8 lanes x 2 flops per FMA\n", AVX2_ACC);
#endif
#ifdef BENCH_NEON
    if (peak_kind == PEAK_KIND_NEON)
        printf("   vfmaq_f32 on %d independent accumulators: 4 lanes x 2 flops per FMA\n", NEON_ACC);
#endif
    if (peak_kind == PEAK_KIND_SCALAR)
        printf("   NO AVX2+FMA or NEON here: a SCALAR ESTIMATE (8 chains of multiply + add); %% of peak is relative to it\n");
    peak_1 = peak_gflops(1);
    printf("   %3d thread  %8.1f GFLOP/s\n", 1, peak_1);
    csv_row("peak", kind, "fma", 0, 1, peak_1, "GFLOP/s", -1);
    if (cfg.threads > 1) {
        peak_all = peak_gflops(cfg.threads);
        printf("   %3d threads %8.1f GFLOP/s  (%.2fx one thread)\n", cfg.threads, peak_all, peak_all / peak_1);
        csv_row("peak", kind, "fma", 0, cfg.threads, peak_all, "GFLOP/s", -1);
    } else {
        peak_all = peak_1;
    }
    bench_pool();
    fflush(stdout);
}

/* ======================================================================================
   2. One convolution, pass by pass
   ======================================================================================
   A net of one conv layer. One forward pass through the public API sets the batch and the
   input; after that the passes are timed through the internal dispatchers, so that the
   forward figure does not include cnnvis_net_forward's copy of the input. */

typedef struct conv_shape {
    const char *name;
    int ic, ih, iw, oc, k, s, p, groups;
} conv_shape;

static const conv_shape conv_shapes[] = {
    {"ref.conv1", 3, 32, 32, 64, 5, 1, 2, 1},    /* the reference network */
    {"ref.conv2", 64, 16, 16, 192, 5, 1, 2, 1},
    {"ref.conv3", 192, 8, 8, 384, 3, 1, 1, 1},
    {"ref.conv4", 384, 8, 8, 256, 3, 1, 1, 1},
    {"ref.conv5", 256, 8, 8, 256, 3, 1, 1, 1},
    {"alex.conv1", 3, 227, 227, 96, 11, 4, 0, 1}, /* AlexNet (Krizhevsky et al. 2012) */
    {"alex.conv2", 96, 27, 27, 256, 5, 1, 2, 1},
};

enum { PASS_FORWARD, PASS_BACKWARD_DATA, PASS_BACKWARD_WEIGHTS, N_PASSES };
static const char *pass_names[N_PASSES] = {"forward", "bwd-data", "bwd-weights"};
static const char *pass_csv[N_PASSES] = {"forward", "backward_data", "backward_weights"};

typedef struct conv_job {
    cnnvis_net *net;
    cnnvis__conv_args args;
    int pass;
} conv_job;

/* One pass of a conv layer as the net runs it (cnnvis__layer_forward / _backward): the
   reference kernels, or B1's SIMD ones. */
static void conv_run(cnnvis_net *net, cnnvis__conv_args *a, int pass)
{
    int reference = net->kernels == CNNVIS_KERNELS_REFERENCE;
    const cnnvis__conv_geom *g = &a->g;
    if (pass == PASS_FORWARD) {
        if (reference) cnnvis__parallel_for(net->pool, g->n * g->oc, cnnvis__conv2d_forward__reference, a);
        else cnnvis__conv2d_forward_simd(a, net->kernels);
    } else if (pass == PASS_BACKWARD_DATA) {
        if (reference) cnnvis__parallel_for(net->pool, g->n * g->ic, cnnvis__conv2d_backward_data__reference, a);
        else cnnvis__conv2d_backward_data_simd(a, net->kernels);
    } else { /* accumulates into dw: fine for timing */
        if (reference) cnnvis__parallel_for(net->pool, g->oc, cnnvis__conv2d_backward_weights__reference, a);
        else cnnvis__conv2d_backward_weights_simd(a, net->kernels);
    }
}

static void conv_pass(void *p)
{
    conv_job *job = (conv_job *)p;
    conv_run(job->net, &job->args, job->pass);
}

/* A one-layer net for shape s with `threads` threads, random weights, input and dout. */
static cnnvis_net *conv_net(const conv_shape *s, int threads, cnnvis_tensor *x)
{
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_layer *L;
    cnnvis_rng rng;
    cnnvis_net_desc_init(&d, s->ic, s->ih, s->iw);
    cnnvis_net_desc_conv(&d, "conv", s->oc, s->k, s->s, s->p, s->groups);
    d.max_batch = 64, d.n_threads = threads;
    if (cnnvis_net_create(&net, &d) != CNNVIS_OK) {
        printf("   %s: %s\n", s->name, cnnvis_last_error());
        return NULL;
    }
    if (cnnvis_tensor_create(x, 64, s->ic, s->ih, s->iw) != CNNVIS_OK) {
        printf("   %s: %s\n", s->name, cnnvis_last_error());
        cnnvis_net_free(net);
        return NULL;
    }
    L = &net->layers[0];
    cnnvis__rng_seed(&rng, 1);
    fill_random(L->w, L->n_w, &rng);
    fill_random(L->b, L->n_b, &rng);
    fill_random(x->data, cnnvis_tensor_count(x), &rng);
    fill_random(L->dout.data, cnnvis_tensor_count(&L->dout), &rng);
    return net;
}

/* Seconds of one call of each pass at this batch (a view of the first `batch` images). */
static void conv_time_passes(cnnvis_net *net, const cnnvis_tensor *x, int batch, double limit, timing out[N_PASSES])
{
    conv_job job;
    cnnvis_tensor xb = *x;
    int pass;
    xb.n = batch, xb.owner = 0;
    cnnvis_net_forward(net, &xb); /* sets net->batch and copies the input in */
    job.net = net, job.args = cnnvis__conv_args_of(net, 0);
    for (pass = 0; pass < N_PASSES; pass++) {
        job.pass = pass;
        out[pass] = measure(conv_pass, &job, limit);
    }
}

static void print_cell(double gflops, int threads)
{
    printf(" %7.1f %3.0f%% |", gflops, pct_of_peak(gflops, threads));
}

static void bench_conv(void)
{
    const double ref_limit = 10.0; /* seconds: reference runs longer than this are not repeated */
    int n_shapes = (int)(sizeof conv_shapes / sizeof conv_shapes[0]), i, pass, ti, bi;
    int thread_counts[2], n_counts = cfg.threads > 1 ? 2 : 1, batches[2] = {1, 64};
    int ref_skipped = 0;
    const char *kernels = "?";
    thread_counts[0] = 1, thread_counts[1] = cfg.threads;

    printf("\n2. Convolutions, pass by pass: GFLOP/s and %% of the peak of as many threads\n");
    printf("   nominal flops 2*OC*(IC/G)*K*K*OH*OW*N; timed through cnnvis__conv2d_* (no input copy)\n");
    printf("   %-10s %-11s %9s |", "layer", "pass", "MFLOP/img");
    for (bi = 0; bi < 2; bi++)
        for (ti = 0; ti < n_counts; ti++) {
            char label[32];
            snprintf(label, sizeof label, "b%d %d thr", batches[bi], thread_counts[ti]);
            printf(" %-12s |", label); /* as wide as print_cell's " %7.1f %3.0f%% |" */
        }
    if (n_counts > 1) printf(" b64 %d/1 |", cfg.threads);
    printf(" reference b1 1 thr\n");
    fflush(stdout);

    for (i = 0; i < n_shapes; i++) {
        const conv_shape *s = &conv_shapes[i];
        timing t[2][2][N_PASSES], ref[N_PASSES]; /* [batch][threads][pass] */
        double mflop = 0, gf[2][2][N_PASSES];
        int oh = (s->ih + 2 * s->p - s->k) / s->s + 1, ow = (s->iw + 2 * s->p - s->k) / s->s + 1, ok = 1;
        for (ti = 0; ti < n_counts && ok; ti++) {
            cnnvis_tensor x;
            cnnvis_net *net = conv_net(s, thread_counts[ti], &x);
            if (!net) {
                ok = 0;
                break;
            }
            kernels = cnnvis__kernels_name(net->kernels);
            mflop = (double)net->layers[0].flops * 1e-6; /* = 2*OC*(IC/G)*K*K*OH*OW per image */
            for (bi = 0; bi < 2; bi++) conv_time_passes(net, &x, batches[bi], 0, t[bi][ti]);
            if (ti == 0) { /* the scalar reference kernels, batch 1, 1 thread */
                cnnvis_kernels fast = net->kernels;
                cnnvis__net_set_kernels(net, CNNVIS_KERNELS_REFERENCE);
                conv_time_passes(net, &x, 1, ref_limit, ref);
                cnnvis__net_set_kernels(net, fast);
            }
            cnnvis_tensor_free(&x);
            cnnvis_net_free(net);
        }
        if (!ok) continue;
        printf("   %s: %dx%dx%d -> %dx%dx%d, %dx%d stride %d pad %d groups %d  [kernels %s]\n", s->name, s->ic, s->ih, s->iw,
               s->oc, oh, ow, s->k, s->k, s->s, s->p, s->groups, kernels);
        for (pass = 0; pass < N_PASSES; pass++) {
            double ref_gf = mflop * 1e-3 / ref[pass].seconds;
            printf("   %-10s %-11s %9.1f |", s->name, pass_names[pass], mflop);
            for (bi = 0; bi < 2; bi++)
                for (ti = 0; ti < n_counts; ti++) {
                    gf[bi][ti][pass] = mflop * 1e-3 * batches[bi] / t[bi][ti][pass].seconds;
                    print_cell(gf[bi][ti][pass], thread_counts[ti]);
                    csv_row("conv", s->name, pass_csv[pass], batches[bi], thread_counts[ti], gf[bi][ti][pass], "GFLOP/s",
                            pct_of_peak(gf[bi][ti][pass], thread_counts[ti]));
                }
            if (n_counts > 1) {
                double ratio = gf[1][1][pass] / gf[1][0][pass];
                printf("  %5.2fx |", ratio);
                csv_row("conv_scaling", s->name, pass_csv[pass], 64, cfg.threads, ratio, "speedup_vs_1_thread", -1);
            }
            printf(" %6.2f GF/s %5.1fx faster%s\n", ref_gf, gf[0][0][pass] / ref_gf,
                   ref[pass].skipped ? " *" : "");
            csv_row("conv_reference", s->name, pass_csv[pass], 1, 1, ref_gf, "GFLOP/s", pct_of_peak(ref_gf, 1));
            ref_skipped |= ref[pass].skipped;
        }
        fflush(stdout);
    }
    if (ref_skipped)
        printf("   * one reference run took over %.0f s: not repeated, the figure is that single run\n", ref_limit);
    printf("   \"faster\" = fast kernels / reference kernels, both at batch 1 on 1 thread\n");
    fflush(stdout);
}

/* ======================================================================================
   3 and 4. Whole networks
   ====================================================================================== */

/* The reference network: AlexNet's shape scaled to 3x32x32 images and 10 classes. */
static void describe_reference(cnnvis_net_desc *d)
{
    cnnvis_net_desc_init(d, 3, 32, 32);
    cnnvis_net_desc_conv(d, "conv1", 64, 5, 1, 2, 1);
    cnnvis_net_desc_relu(d, "relu1");
    cnnvis_net_desc_maxpool(d, "pool1", 3, 2, 1);
    cnnvis_net_desc_conv(d, "conv2", 192, 5, 1, 2, 1);
    cnnvis_net_desc_relu(d, "relu2");
    cnnvis_net_desc_maxpool(d, "pool2", 3, 2, 1);
    cnnvis_net_desc_conv(d, "conv3", 384, 3, 1, 1, 1);
    cnnvis_net_desc_relu(d, "relu3");
    cnnvis_net_desc_conv(d, "conv4", 256, 3, 1, 1, 1);
    cnnvis_net_desc_relu(d, "relu4");
    cnnvis_net_desc_conv(d, "conv5", 256, 3, 1, 1, 1);
    cnnvis_net_desc_relu(d, "relu5");
    cnnvis_net_desc_maxpool(d, "pool5", 3, 2, 1);
    cnnvis_net_desc_fc(d, "fc6", 256); /* 256x4x4 = 4096 inputs */
    cnnvis_net_desc_relu(d, "relu6");
    cnnvis_net_desc_fc(d, "fc7", 256);
    cnnvis_net_desc_relu(d, "relu7");
    cnnvis_net_desc_fc(d, "fc8", 10);
}

static void describe_mini(cnnvis_net_desc *d) { cnnvis_net_desc_preset(d, "alexnet_mini", 3, 32, 32, 10); }
static void describe_alexnet(cnnvis_net_desc *d) { cnnvis_net_desc_preset(d, "alexnet", 0, 0, 0, 1000); }

typedef struct net_spec {
    const char *name;
    void (*describe)(cnnvis_net_desc *d);
    int max_batch;
    int full; /* 1: training, inference at 1 and 64, saliency; 0: inference at batch 1 only */
} net_spec;

/* What is measured of one net on one thread count; seconds < 0: not measured. */
typedef struct net_figures {
    double train_s, infer64_s, infer1_s, saliency_s; /* median seconds per call */
    double peak_rss_mib, start_rss_mib, arena_mib;
    double gflop_per_image; /* forward: the sum of the layers' flops */
} net_figures;

static cnnvis_net *make_net(const net_spec *spec, int threads)
{
    cnnvis_net_desc d;
    cnnvis_net *net;
    spec->describe(&d);
    d.max_batch = spec->max_batch, d.n_threads = threads;
    if (cnnvis_net_create(&net, &d) != CNNVIS_OK) {
        printf("   %s: %s\n", spec->name, cnnvis_last_error());
        return NULL;
    }
    return net;
}

typedef struct net_job {
    cnnvis_net *net;
    cnnvis_tensor x;       /* max_batch random images */
    cnnvis_tensor one;     /* a view of the first */
    cnnvis_tensor onehot;  /* d(score of class 0)/d(scores) */
    int32_t *labels;
    cnnvis_result status;  /* the first failure, if any */
    char error[640]; /* as long as cnnvis_last_error() can be */
} net_job;

static int net_job_init(net_job *job, const net_spec *spec, int threads)
{
    cnnvis_rng rng;
    int i;
    memset(job, 0, sizeof *job);
    job->net = make_net(spec, threads);
    if (!job->net) return 0;
    cnnvis__rng_seed(&rng, 2);
    cnnvis_tensor_create(&job->x, spec->max_batch, job->net->desc.in_c, job->net->desc.in_h, job->net->desc.in_w);
    cnnvis_tensor_create(&job->onehot, 1, job->net->n_classes, 1, 1);
    job->labels = (int32_t *)malloc(sizeof(int32_t) * (size_t)spec->max_batch);
    if (!job->x.data || !job->onehot.data || !job->labels) {
        printf("   %s: out of memory\n", spec->name);
        return 0;
    }
    fill_random(job->x.data, cnnvis_tensor_count(&job->x), &rng);
    for (i = 0; i < spec->max_batch; i++) job->labels[i] = (int32_t)cnnvis__rng_below(&rng, (uint32_t)job->net->n_classes);
    job->one = cnnvis_tensor_wrap(job->x.data, 1, job->x.c, job->x.h, job->x.w);
    job->onehot.data[0] = 1.0f;
    return 1;
}

static void net_job_free(net_job *job)
{
    cnnvis_tensor_free(&job->x);
    cnnvis_tensor_free(&job->onehot);
    free(job->labels);
    cnnvis_net_free(job->net);
    memset(job, 0, sizeof *job);
}

static void note_failure(net_job *job, cnnvis_result r)
{
    if (r == CNNVIS_OK || job->status != CNNVIS_OK) return;
    job->status = r;
    snprintf(job->error, sizeof job->error, "%s", cnnvis_last_error());
}

/* lr 0.001, momentum 0.9, weight decay 5e-4: the usual AlexNet settings, small enough that
   random labels do not blow the weights up over a few steps. */
static void train_step_work(void *p)
{
    net_job *job = (net_job *)p;
    note_failure(job, cnnvis_net_train_step(job->net, &job->x, job->labels, 0.001f, 0.9f, 5e-4f));
}

static void infer_batch_work(void *p)
{
    net_job *job = (net_job *)p;
    note_failure(job, cnnvis_net_forward(job->net, &job->x));
}

static void infer_one_work(void *p)
{
    net_job *job = (net_job *)p;
    note_failure(job, cnnvis_net_forward(job->net, &job->one));
}

/* A saliency map (lecture section 4): forward one image, then back from the class scores
   with a one-hot gradient; flags 0 = the input gradient only, no weight gradients. */
static void saliency_work(void *p)
{
    net_job *job = (net_job *)p;
    note_failure(job, cnnvis_net_forward(job->net, &job->one));
    note_failure(job, cnnvis_net_backward(job->net, NULL, &job->onehot, CNNVIS_RELU_BACKPROP, 0));
}

/* --- Training in a child process, for its peak memory ----------------------------------
   getrusage(RUSAGE_CHILDREN) gives the largest ru_maxrss of all the children a process has
   waited for, so a second training run would report the larger of the two. Hence two
   levels: a fresh "middle" process forks the worker that trains, waits for it and reads
   RUSAGE_CHILDREN, which then covers that worker alone. Note that a forked child starts
   with its parent's resident pages: the worker reports how many it had at its start. */

typedef struct train_report {
    int ok;
    double seconds;       /* median seconds of one training step */
    double start_rss_mib; /* resident at the worker's start (inherited at fork) */
    double peak_rss_mib;  /* the worker's ru_maxrss */
    char error[640]; /* as long as cnnvis_last_error() can be */
} train_report;

static void train_worker(const net_spec *spec, int threads, train_report *rep)
{
    net_job job;
    timing t;
    rep->start_rss_mib = current_rss_mib();
    if (!net_job_init(&job, spec, threads)) {
        snprintf(rep->error, sizeof rep->error, "%s", cnnvis_last_error());
        net_job_free(&job);
        return;
    }
    t = measure(train_step_work, &job, 0);
    rep->ok = job.status == CNNVIS_OK;
    rep->seconds = t.seconds;
    snprintf(rep->error, sizeof rep->error, "%s", job.error);
    net_job_free(&job);
}

static double ru_maxrss_mib(const struct rusage *ru)
{
#ifdef __APPLE__
    return (double)ru->ru_maxrss / (1024.0 * 1024.0); /* bytes on macOS */
#else
    return (double)ru->ru_maxrss / 1024.0; /* KiB on Linux and the BSDs */
#endif
}

/* The middle process: fork the worker, wait, add its peak memory to its report. */
static void train_middle(const net_spec *spec, int threads, int to_parent)
{
    train_report rep;
    struct rusage ru;
    int fds[2], status = 0;
    pid_t worker;
    memset(&rep, 0, sizeof rep);
    if (pipe(fds) != 0) {
        snprintf(rep.error, sizeof rep.error, "pipe: %s", strerror(errno));
    } else if ((worker = fork()) < 0) {
        snprintf(rep.error, sizeof rep.error, "fork: %s", strerror(errno));
    } else if (worker == 0) {
        close(fds[0]);
        train_worker(spec, threads, &rep);
        procmem_write_all(fds[1], &rep, sizeof rep);
        _exit(0);
    } else {
        close(fds[1]);
        if (!procmem_read_all(fds[0], &rep, sizeof rep)) {
            memset(&rep, 0, sizeof rep);
            snprintf(rep.error, sizeof rep.error, "the training process died");
        }
        close(fds[0]);
        while (waitpid(worker, &status, 0) < 0 && errno == EINTR) continue;
        if (getrusage(RUSAGE_CHILDREN, &ru) == 0) rep.peak_rss_mib = ru_maxrss_mib(&ru);
    }
    procmem_write_all(to_parent, &rep, sizeof rep);
}

static void train_in_child(const net_spec *spec, int threads, train_report *rep)
{
    int fds[2], status = 0;
    pid_t middle;
    memset(rep, 0, sizeof *rep);
    fflush(stdout); /* or the children would print what is still buffered */
    if (csv) fflush(csv);
    if (pipe(fds) != 0) {
        snprintf(rep->error, sizeof rep->error, "pipe: %s", strerror(errno));
        return;
    }
    middle = fork();
    if (middle < 0) {
        snprintf(rep->error, sizeof rep->error, "fork: %s", strerror(errno));
        close(fds[0]), close(fds[1]);
        return;
    }
    if (middle == 0) {
        close(fds[0]);
        train_middle(spec, threads, fds[1]);
        _exit(0);
    }
    close(fds[1]);
    if (!procmem_read_all(fds[0], rep, sizeof *rep)) {
        memset(rep, 0, sizeof *rep);
        snprintf(rep->error, sizeof rep->error, "the measuring process died");
    }
    close(fds[0]);
    while (waitpid(middle, &status, 0) < 0 && errno == EINTR) continue;
}

/* Everything measured of one net on one thread count. The net for inference is made after
   the training child has finished, so that the child does not inherit it. */
static int measure_net(const net_spec *spec, int threads, net_figures *f)
{
    net_job job;
    timing t;
    int i;
    f->train_s = f->infer64_s = f->infer1_s = f->saliency_s = -1;
    f->peak_rss_mib = f->start_rss_mib = f->arena_mib = -1;
    if (spec->full) {
        train_report rep;
        train_in_child(spec, threads, &rep);
        if (rep.ok) f->train_s = rep.seconds, f->peak_rss_mib = rep.peak_rss_mib, f->start_rss_mib = rep.start_rss_mib;
        else printf("   %s training, %d thread(s): %s\n", spec->name, threads, rep.error);
    }
    if (!net_job_init(&job, spec, threads)) {
        net_job_free(&job);
        return 0;
    }
    f->arena_mib = (double)job.net->arena_size / (1024.0 * 1024.0);
    f->gflop_per_image = 0;
    for (i = 0; i < job.net->n_layers; i++) f->gflop_per_image += (double)job.net->layers[i].flops * 1e-9;
    if (spec->full) {
        t = measure(infer_batch_work, &job, 0), f->infer64_s = t.seconds;
        t = measure(saliency_work, &job, 0), f->saliency_s = t.seconds;
    }
    t = measure(infer_one_work, &job, 0), f->infer1_s = t.seconds;
    if (job.status != CNNVIS_OK) {
        printf("   %s, %d thread(s): %s\n", spec->name, threads, job.error);
        f->infer64_s = f->infer1_s = f->saliency_s = -1;
    }
    net_job_free(&job);
    return 1;
}

static void print_net_header(void)
{
    printf("   %-13s %3s | %-19s | %-19s | %-16s | %-11s | %s\n", "network", "thr", "train b64 img/s %pk",
           "infer b64 img/s %pk", "infer b1 img/s ms", "saliency ms", "training peak RSS MiB");
}

static void print_net_row(const char *section, const net_spec *spec, int threads, const net_figures *f)
{
    char train[32] = "-", infer64[32] = "-", infer1[32] = "-", saliency[32] = "-", rss[96] = "-";
    double ips;
    if (f->train_s > 0) {
        ips = spec->max_batch / f->train_s;
        double pct = pct_of_peak(3 * f->gflop_per_image * ips, threads); /* forward + 2 backward products */
        snprintf(train, sizeof train, "%10.1f %6.1f%%", ips, pct);
        csv_row(section, spec->name, "train", spec->max_batch, threads, ips, "images/s", pct);
    }
    if (f->infer64_s > 0) {
        ips = spec->max_batch / f->infer64_s;
        double pct = pct_of_peak(f->gflop_per_image * ips, threads);
        snprintf(infer64, sizeof infer64, "%10.1f %6.1f%%", ips, pct);
        csv_row(section, spec->name, "infer", spec->max_batch, threads, ips, "images/s", pct);
    }
    if (f->infer1_s > 0) {
        ips = 1 / f->infer1_s;
        snprintf(infer1, sizeof infer1, "%8.1f %7.2f", ips, f->infer1_s * 1e3);
        csv_row(section, spec->name, "infer", 1, threads, ips, "images/s", pct_of_peak(f->gflop_per_image * ips, threads));
        csv_row(section, spec->name, "infer_latency", 1, threads, f->infer1_s * 1e3, "ms", -1);
    }
    if (f->saliency_s > 0) {
        snprintf(saliency, sizeof saliency, "%11.2f", f->saliency_s * 1e3);
        csv_row(section, spec->name, "saliency", 1, threads, f->saliency_s * 1e3, "ms", -1);
    }
    if (f->peak_rss_mib > 0) {
        snprintf(rss, sizeof rss, "%7.1f (arena %.1f; %.1f at fork)", f->peak_rss_mib, f->arena_mib, f->start_rss_mib);
        csv_row(section, spec->name, "train_peak_rss", spec->max_batch, threads, f->peak_rss_mib, "MiB", -1);
    }
    printf("   %-13s %3d | %19s | %19s | %16s | %11s | %s\n", spec->name, threads, train, infer64, infer1, saliency, rss);
    fflush(stdout);
}

static void bench_nets(const char *section, const net_spec *specs, int n_specs)
{
    int i, ti, thread_counts[2], n_counts = cfg.threads > 1 ? 2 : 1;
    thread_counts[0] = 1, thread_counts[1] = cfg.threads;
    print_net_header();
    for (i = 0; i < n_specs; i++)
        for (ti = 0; ti < n_counts; ti++) {
            net_figures f;
            if (measure_net(&specs[i], thread_counts[ti], &f)) {
                if (ti == 0)
                    printf("   %s: %.3f GFLOP per image forward, max_batch %d\n", specs[i].name, f.gflop_per_image,
                           specs[i].max_batch);
                print_net_row(section, &specs[i], thread_counts[ti], &f);
            }
        }
}

static void bench_reference_net(void)
{
    static const net_spec spec = {"reference", describe_reference, 64, 1};
    printf("\n3. The reference network (conv1-5 64/192/384/256/256, fc 4096-256-256-10, 3x32x32)\n");
    printf("   training: cnnvis_net_train_step, lr 0.001 momentum 0.9 wd 5e-4, random images and labels, in a child\n");
    printf("   process for its peak RSS; %%pk counts 3x the forward flops per image trained (forward + 2 backward)\n");
    printf("   inference: cnnvis_net_forward in evaluation mode; saliency: forward + backward of one image, one-hot dout\n");
    bench_nets("net", &spec, 1);
}

static void bench_presets(void)
{
    static const net_spec specs[] = {
        {"alexnet_mini", describe_mini, 64, 1},
        {"alexnet", describe_alexnet, 1, 0}, /* torchvision's, 3x224x224, 1000 classes: batch 1 only */
    };
    printf("\n4. Presets: alexnet_mini (3x32x32, 10 classes) as above; torchvision alexnet: inference at batch 1\n");
    bench_nets("presets", specs, 2);
}

/* ======================================================================================
   5. Activations (lecture section 2): top-k images and Network Dissection
   ======================================================================================
   alexnet_mini (3x32x32) over the built-in concept images, with the weights it is created
   with (untrained): the work does not depend on what the units have learned.
   cnnvis_dissect streams the images twice through the net up to the deepest layer it
   dissects (the first counts each unit's activations in 65,536 bins, the second finds the
   threshold T_k inside its bin and counts intersections with the concepts);
   cnnvis_topk_compute streams them once. Both are set
   against (a), the forward passes alone over the same images. Their time is linear in the
   number of images; dissecting all 10,000 for each conv layer on its own as well would add
   about 75 s and take this section well past 3 minutes here, so the layers dissected one at
   a time see only the first act_sizes.layer_images images, set against (a) over those. */

typedef struct act_sizes {
    int images;        /* (a), (c) and the dissection of all conv layers in one call */
    int layer_images;  /* the dissection of each conv layer on its own */
    int mem_images[2]; /* (d): the same run on these two numbers of images */
    double repeat_s;   /* a run shorter than this is repeated: median of 3 */
} act_sizes;

static const net_spec act_spec = {"alexnet_mini", describe_mini, 64, 1};

/* n concept images of 32x32, seed 1. */
static cnnvis_result act_dataset(cnnvis_dataset *ds, int n)
{
    cnnvis_concepts_desc d;
    memset(&d, 0, sizeof d);
    d.n = n, d.size = 32, d.seed = 1;
    return cnnvis_concepts_generate(ds, &d);
}

/* The bytes a data set holds, from its struct: pixels, class labels, concept maps, names. */
static double dataset_mib(const cnnvis_dataset *ds)
{
    double bytes = (double)ds->n * ds->c * ds->h * ds->w + (double)ds->n * sizeof(int32_t) +
                   (double)ds->n * ds->n_categories * ds->h * ds->w;
    int k;
    if (ds->class_names) bytes += (double)ds->n_classes * CNNVIS_CLASS_LEN;
    if (ds->concept_names)
        for (k = 0; k < ds->n_categories; k++) bytes += (double)ds->n_concepts[k] * CNNVIS_NAME_LEN;
    return bytes / (1024.0 * 1024.0);
}

/* The net's conv layers: their indices and names, in order; returns how many. */
static int conv_layers(const cnnvis_net *net, int *index, const char **names)
{
    int i, n = 0;
    for (i = 0; i < net->n_layers; i++)
        if (net->layers[i].desc.kind == CNNVIS_LAYER_CONV) index[n] = i, names[n] = net->layers[i].desc.name, n++;
    return n;
}

/* Long items (seconds each) get no warm-up run: the median of 3 runs if the first took
   less than repeat_s, otherwise that one run. *others: the percent of the machine's CPUs
   that other programs used meanwhile (as in main's last line), or -1 if unknown. The
   ratios below divide one item by another timed at another moment: a row whose figure
   is high was disturbed. */
static timing measure_long(work_fn fn, void *ctx, double repeat_s, double *others)
{
    double samples[3], start, first = now_s(), busy = machine_busy_s(), own = own_cpu_s(), used;
    timing t;
    memset(&t, 0, sizeof t);
    t.calls = 1;
    do {
        start = now_s();
        fn(ctx);
        samples[t.runs++] = now_s() - start;
    } while (t.runs < 3 && samples[0] < repeat_s);
    t.seconds = median(samples, t.runs);
    used = machine_busy_s() - busy - (own_cpu_s() - own);
    *others = busy < 0 ? -1 : 100.0 * CNNVIS__MAX(used, 0) / ((now_s() - first) * (double)sysconf(_SC_NPROCESSORS_ONLN));
    return t;
}

static void act_note_failure(cnnvis_result *status, char *error, size_t size, cnnvis_result r)
{
    if (r == CNNVIS_OK || *status != CNNVIS_OK) return;
    *status = r;
    snprintf(error, size, "%s", cnnvis_last_error());
}

/* (a): every image once through layers 0..last, in batches of max_batch, as top-k and
   dissection stream them. Only cnnvis__net_forward_until is timed, not the bytes-to-floats
   conversion (cnnvis__dataset_batch): forward_s[run] is what that timing adds up to. */
typedef struct sweep_job {
    cnnvis_net *net;
    const cnnvis_dataset *ds;
    int last, runs;
    double forward_s[3];
    cnnvis_result status;
    char error[640];
} sweep_job;

static void sweep_work(void *p)
{
    sweep_job *job = (sweep_job *)p;
    cnnvis_net *net = job->net;
    int begin;
    double sum = 0, start;
    cnnvis_result r = CNNVIS_OK;
    for (begin = 0; begin < job->ds->n && r == CNNVIS_OK; begin += net->desc.max_batch) {
        cnnvis_tensor x = net->input; /* a view of the net's input: nothing is copied */
        x.n = CNNVIS__MIN(net->desc.max_batch, job->ds->n - begin);
        r = cnnvis__dataset_batch(job->ds, begin, x.n, net, &x, NULL);
        start = now_s();
        if (r == CNNVIS_OK) r = cnnvis__net_forward_until(net, &x, job->last);
        sum += now_s() - start;
    }
    if (job->runs < 3) job->forward_s[job->runs++] = sum;
    act_note_failure(&job->status, job->error, sizeof job->error, r);
}

/* The median forward time alone of the sweeps measure_long makes (up to 3). */
static timing measure_sweep(sweep_job *job, double repeat_s, double *others)
{
    timing t;
    job->runs = 0;
    t = measure_long(sweep_work, job, repeat_s, others);
    t.seconds = median(job->forward_s, job->runs);
    return t;
}

/* cnnvis_dissect of layers[0..n_layers) or, with topk, cnnvis_topk_compute of layers[0]
   (k 9, every unit), over ds with the default settings; the results are thrown away. */
typedef struct act_job {
    cnnvis_net *net;
    const cnnvis_dataset *ds;
    const char *const *layers;
    int n_layers, topk; /* topk: 1 top-k, 0 dissection, ACT_CURVE an FGSM robustness curve */
    cnnvis_result status;
    char error[640];
} act_job;

#define ACT_CURVE 2

static void act_work(void *p)
{
    act_job *job = (act_job *)p;
    cnnvis_result r;
    if (job->topk == ACT_CURVE) { /* section 5's curve streams the data set in batches too */
        cnnvis_attack_desc d;
        float eps = 2.0f / 255.0f, accuracy, confidence;
        memset(&d, 0, sizeof d);
        r = cnnvis_robustness_curve(&accuracy, &confidence, job->net, job->ds, 0, &d, &eps, 1, 0);
    } else if (job->topk) {
        cnnvis_topk t;
        r = cnnvis_topk_compute(&t, job->net, job->layers[0], job->ds, NULL);
        cnnvis_topk_free(&t);
    } else {
        cnnvis_dissection dis[CNNVIS_MAX_LAYERS];
        int l;
        r = cnnvis_dissect(dis, job->net, job->layers, job->n_layers, job->ds, NULL);
        if (r == CNNVIS_OK)
            for (l = 0; l < job->n_layers; l++) cnnvis_dissection_free(&dis[l]);
    }
    act_note_failure(&job->status, job->error, sizeof job->error, r);
}

/* --- (d) Memory, in a forked child --------------------------------------------------------
   The child generates its own images, makes the net, runs one batch (so that pages the net
   touches first are not counted as the algorithm's), and then runs top-k, dissection or
   the robustness curve once. Linux's /proc/self/status gives VmRSS (resident now) and VmHWM (the peak);
   writing 5 to /proc/self/clear_refs (Linux 4.0 and later) sets the peak back to VmRSS, so
   VmHWM after the run minus VmRSS before it is what the run itself added at its worst.
   The reset also lowers what getrusage reports as ru_maxrss, so the child's peak over its
   whole life is the larger of the peak before the reset and ru_maxrss at the end. */

typedef struct act_mem_report {
    int ok;
    int hwm_reset;     /* 1: the peak was reset before the run; 0: growth_mib is an upper bound */
    double seconds;    /* the run */
    double start_mib;  /* VmRSS at the child's start: pages it shares with the bench */
    double data_mib;   /* the data set's own bytes */
    double before_mib; /* VmRSS just before the run */
    double growth_mib; /* VmHWM after the run - before_mib */
    double peak_mib;   /* the child's peak RSS */
    char error[640];
} act_mem_report;

/* A field of /proc/self/status ("VmRSS", "VmHWM") in MiB; -1 if there is none. */
static double proc_status_mib(const char *field)
{
    double kib = procmem_status_kib(field);
    return kib < 0 ? -1 : kib / 1024.0;
}

static void act_mem_worker(int n_images, int topk, int threads, act_mem_report *rep)
{
    cnnvis_dataset ds;
    cnnvis_net_desc d;
    cnnvis_net *net = NULL;
    cnnvis_tensor x;
    struct rusage ru;
    act_job job;
    int conv[CNNVIS_MAX_LAYERS];
    const char *names[CNNVIS_MAX_LAYERS];
    double peak_before_reset, start;
    cnnvis_result r;
    memset(&ds, 0, sizeof ds);
    rep->start_mib = proc_status_mib("VmRSS");
    r = act_dataset(&ds, n_images);
    if (r == CNNVIS_OK) {
        act_spec.describe(&d);
        d.max_batch = act_spec.max_batch, d.n_threads = threads;
        r = cnnvis_net_create(&net, &d);
    }
    if (r == CNNVIS_OK && conv_layers(net, conv, names) < 1) r = CNNVIS__FAIL(CNNVIS_ERR_ARG, "the net has no conv layer");
    if (r == CNNVIS_OK) { /* one batch through conv1 before measuring */
        x = net->input;
        x.n = CNNVIS__MIN(net->desc.max_batch, ds.n);
        r = cnnvis__dataset_batch(&ds, 0, x.n, net, &x, NULL);
        if (r == CNNVIS_OK) r = cnnvis__net_forward_until(net, &x, conv[0]);
    }
    if (r != CNNVIS_OK) {
        snprintf(rep->error, sizeof rep->error, "%s", cnnvis_last_error());
    } else {
        rep->data_mib = dataset_mib(&ds);
        rep->before_mib = proc_status_mib("VmRSS");
        peak_before_reset = proc_status_mib("VmHWM");
        rep->hwm_reset = procmem_reset_peak(256);
        memset(&job, 0, sizeof job);
        job.net = net, job.ds = &ds, job.layers = names, job.n_layers = 1, job.topk = topk;
        start = now_s();
        act_work(&job);
        rep->seconds = now_s() - start;
        rep->growth_mib = proc_status_mib("VmHWM") - rep->before_mib;
        getrusage(RUSAGE_SELF, &ru);
        rep->peak_mib = CNNVIS__MAX(ru_maxrss_mib(&ru), peak_before_reset);
        rep->ok = job.status == CNNVIS_OK && rep->before_mib > 0;
        snprintf(rep->error, sizeof rep->error, "%s", job.status != CNNVIS_OK ? job.error : "no /proc/self/status");
    }
    cnnvis_net_free(net);
    cnnvis_dataset_free(&ds);
}

static void act_mem_in_child(int n_images, int topk, int threads, act_mem_report *rep)
{
    int fds[2], status = 0;
    pid_t child;
    memset(rep, 0, sizeof *rep);
    fflush(stdout); /* or the child would print what is still buffered */
    if (csv) fflush(csv);
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
        act_mem_worker(n_images, topk, threads, rep);
        procmem_write_all(fds[1], rep, sizeof *rep);
        _exit(0);
    }
    close(fds[1]);
    if (!procmem_read_all(fds[0], rep, sizeof *rep)) {
        memset(rep, 0, sizeof *rep);
        snprintf(rep->error, sizeof rep->error, "the measuring process died");
    }
    close(fds[0]);
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) continue;
}

/* (d) for top-k or dissection of conv1, or the curve, on the two sizes; prints its rows and ratios. */
static void bench_act_memory(const act_sizes *z, int topk, int threads)
{
    const char *what = topk == ACT_CURVE ? "curve" : topk ? "topk" : "dissect";
    const char *where = topk == ACT_CURVE ? "alexnet_mini" : "alexnet_mini.conv1";
    act_mem_report rep[2];
    char pass[96];
    int s;
    for (s = 0; s < 2; s++) {
        act_mem_report *m = &rep[s];
        act_mem_in_child(z->mem_images[s], topk, threads, m);
        if (!m->ok) {
            printf("       %-13s %6d  %s\n", what, z->mem_images[s], m->error);
            continue;
        }
        printf("       %-7s %-5s %6d %8.2f | %6.1f %9.1f %9.1f %11.1f | %7.1f %7.2f%s\n", what, topk == ACT_CURVE ? "fgsm" : "conv1", z->mem_images[s], m->seconds,
               m->start_mib, m->peak_mib, m->data_mib, m->peak_mib - m->data_mib, m->before_mib, m->growth_mib,
               m->hwm_reset ? "" : " (upper bound: VmHWM could not be reset)");
        snprintf(pass, sizeof pass, "%s_%dimg", what, z->mem_images[s]);
        csv_row("activations", where, pass, act_spec.max_batch, threads, m->seconds, "s", -1);
        snprintf(pass, sizeof pass, "%s_peak_rss_%dimg", what, z->mem_images[s]);
        csv_row("activations", where, pass, act_spec.max_batch, threads, m->peak_mib, "MiB", -1);
        snprintf(pass, sizeof pass, "%s_peak_rss_minus_data_%dimg", what, z->mem_images[s]);
        csv_row("activations", where, pass, act_spec.max_batch, threads, m->peak_mib - m->data_mib, "MiB", -1);
        snprintf(pass, sizeof pass, "%s_rss_growth_in_run_%dimg", what, z->mem_images[s]);
        csv_row("activations", where, pass, act_spec.max_batch, threads, m->growth_mib, "MiB", -1);
        fflush(stdout);
    }
    if (rep[0].ok && rep[1].ok) {
        /* the algorithm's part: the child's peak less its images (the net, ~90 MiB, stays in it) */
        double minus_data = (rep[1].peak_mib - rep[1].data_mib) / (rep[0].peak_mib - rep[0].data_mib);
        double growth = rep[0].growth_mib > 0 ? rep[1].growth_mib / rep[0].growth_mib : -1;
        char growth_text[64];
        if (rep[0].growth_mib >= 1 || rep[1].growth_mib >= 1) snprintf(growth_text, sizeof growth_text, "x%.2f", growth);
        else snprintf(growth_text, sizeof growth_text, "both under 1 MiB: page noise");
        printf("       %-7s %d/%d images: peak - data set x%.3f; growth in the run %.2f -> %.2f MiB (%s); time x%.2f\n",
               what, z->mem_images[1], z->mem_images[0], minus_data, rep[0].growth_mib, rep[1].growth_mib, growth_text,
               rep[1].seconds / rep[0].seconds);
        snprintf(pass, sizeof pass, "%s_peak_rss_minus_data_ratio_%d/%dimg", what, z->mem_images[1], z->mem_images[0]);
        csv_row("activations", where, pass, act_spec.max_batch, threads, minus_data, "ratio", -1);
        snprintf(pass, sizeof pass, "%s_rss_growth_in_run_ratio_%d/%dimg", what, z->mem_images[1], z->mem_images[0]);
        if (growth > 0) csv_row("activations", where, pass, act_spec.max_batch, threads, growth, "ratio", -1);
    }
}

static void bench_activations(void)
{
    act_sizes z;
    cnnvis_dataset ds, head;
    cnnvis_net *net;
    sweep_job sweep;
    act_job job;
    timing t, a;
    int conv[CNNVIS_MAX_LAYERS], n_conv, l, threads = cfg.threads, batch = act_spec.max_batch;
    const char *names[CNNVIS_MAX_LAYERS];
    double section_start = now_s(), gen_s, a_s, others, head_s[CNNVIS_MAX_LAYERS], all_ratio = -1, near_s[2] = {0, 0}, cpu_s[3] = {0, 0, 0};
    char name[96], pass[96];
    cnnvis_result r;

    memset(&z, 0, sizeof z);
    z.images = cfg.quick ? 1000 : 10000;
    z.layer_images = cfg.quick ? 1000 : 2000;
    z.mem_images[0] = cfg.quick ? 1000 : 5000, z.mem_images[1] = cfg.quick ? 5000 : 50000;
    z.repeat_s = 2.0;

    printf("\n5. Activations (section 2 of the lecture): top-k and Network Dissection\n");
    r = act_dataset(&ds, z.images);
    gen_s = now_s() - section_start;
    if (r != CNNVIS_OK) {
        printf("   concept images: %s\n", cnnvis_last_error());
        return;
    }
    net = make_net(&act_spec, threads);
    if (!net) {
        cnnvis_dataset_free(&ds);
        return;
    }
    n_conv = conv_layers(net, conv, names);
    printf("   alexnet_mini 3x32x32, UNTRAINED (the Kaiming-uniform weights it is created with: fine for timing,\n"
           "   the work does not depend on what the units detect); %d thread(s), batches of %d (max_batch)\n",
           threads, batch);
    printf("   %d concept images 32x32 (cnnvis_concepts_generate, seed 1): %.2f s to generate, %.1f MiB\n", ds.n, gen_s,
           dataset_mib(&ds));
    printf("   conv layers (units x map):");
    for (l = 0; l < n_conv; l++)
        printf(" %s %dx%dx%d", names[l], net->layers[conv[l]].out_c, net->layers[conv[l]].out_h, net->layers[conv[l]].out_w);
    printf("\n");
    fflush(stdout);

    /* (a) */
    memset(&sweep, 0, sizeof sweep);
    sweep.net = net, sweep.ds = &ds, sweep.last = conv[n_conv - 1];
    a = measure_sweep(&sweep, z.repeat_s, &others);
    a_s = a.seconds;
    printf("   (a) forward passes alone, cnnvis__net_forward_until(%s), converting the bytes to floats not timed:\n",
           names[n_conv - 1]);
    if (sweep.status != CNNVIS_OK) {
        printf("       %s\n", sweep.error);
        cnnvis_net_free(net), cnnvis_dataset_free(&ds);
        return;
    }
    printf("       %d images %7.2f s  %5.0f images/s  (%d run%s); others %.0f%%\n", ds.n, a_s, ds.n / a_s, a.runs,
           a.runs > 1 ? "s, median" : "", others);
    snprintf(pass, sizeof pass, "forward_until_%s_%dimg", names[n_conv - 1], ds.n);
    csv_row("activations", "alexnet_mini", pass, batch, threads, a_s, "s", -1);
    csv_row("activations", "alexnet_mini", pass, batch, threads, ds.n / a_s, "images/s", -1);
    /* up to each conv layer, over the images each is dissected on alone */
    cnnvis_dataset_slice(&head, &ds, 0, CNNVIS__MIN(z.layer_images, ds.n));
    sweep.ds = &head;
    printf("       %d images up to", head.n);
    for (l = 0; l < n_conv && sweep.status == CNNVIS_OK; l++) {
        sweep.last = conv[l];
        if (l == n_conv - 1 && head.n == ds.n) head_s[l] = a_s; /* (a) itself */
        else head_s[l] = measure_sweep(&sweep, z.repeat_s, &others).seconds;
        printf(" %s %.2f", names[l], head_s[l]);
        snprintf(pass, sizeof pass, "forward_until_%s_%dimg", names[l], head.n);
        csv_row("activations", "alexnet_mini", pass, batch, threads, head_s[l], "s", -1);
    }
    printf(" s (median of 3 each, 1 run if over %.0f s)\n", z.repeat_s);
    if (sweep.status != CNNVIS_OK) {
        printf("       %s\n", sweep.error);
        cnnvis_net_free(net), cnnvis_dataset_free(&ds);
        return;
    }
    fflush(stdout);

    /* (b) */
    printf("   (b) cnnvis_dissect (default quantile 0.005): 2 streams through the net up to the deepest layer named;\n"
           "       x(a) = its time / (a) over the same images; 2 fwd = 2x the forward alone up to that layer over\n"
           "       the same images; rest = the time dissection spends on its own (counting, upsampling, IoU);\n"
           "       others = the share of the CPUs other programs took meanwhile (over a few %% and the row is disturbed)\n");
    printf("       %-14s %5s %6s %4s %9s %7s | %8s %8s %5s | %s\n", "layers", "units", "images", "runs", "seconds", "x(a)",
           "2 fwd s", "rest s", "rest", "others");
    for (l = 0; l <= n_conv; l++) { /* each conv layer alone, then all in one call */
        int all = l == n_conv, units = 0, k;
        double ratio, sweeps_s;
        memset(&job, 0, sizeof job);
        job.net = net, job.ds = all ? &ds : &head, job.layers = all ? names : names + l, job.n_layers = all ? n_conv : 1;
        for (k = all ? 0 : l; k <= (all ? n_conv - 1 : l); k++) units += net->layers[conv[k]].out_c;
        if (all) { /* (a) again just before and after: on a shared machine the speed drifts within minutes */
            sweep.ds = &ds, sweep.last = conv[n_conv - 1];
            cpu_s[0] = own_cpu_s();
            near_s[0] = measure_sweep(&sweep, 0, &others).seconds;
            cpu_s[0] = own_cpu_s() - cpu_s[0];
            cpu_s[1] = own_cpu_s();
        }
        t = measure_long(act_work, &job, z.repeat_s, &others);
        if (all) {
            double others_after;
            cpu_s[1] = own_cpu_s() - cpu_s[1];
            cpu_s[2] = own_cpu_s();
            near_s[1] = measure_sweep(&sweep, 0, &others_after).seconds;
            cpu_s[2] = own_cpu_s() - cpu_s[2];
            a_s = 0.5 * (near_s[0] + near_s[1]);
        }
        if (all) snprintf(name, sizeof name, "%s..%s", names[0], names[n_conv - 1]);
        else snprintf(name, sizeof name, "%s", names[l]);
        if (job.status != CNNVIS_OK) {
            printf("       %-14s %s\n", name, job.error);
            continue;
        }
        ratio = t.seconds / (all ? a_s : head_s[n_conv - 1]);
        sweeps_s = 2 * (all ? a_s : head_s[l]);
        printf("       %-14s %5d %6d %4d %9.2f %6.2fx | %8.2f %8.2f %4.0f%% | %5.0f%%\n", name, units, job.ds->n, t.runs,
               t.seconds, ratio, sweeps_s, t.seconds - sweeps_s, 100 * (t.seconds - sweeps_s) / t.seconds, others);
        snprintf(name, sizeof name, "alexnet_mini.%s%s%s", names[all ? 0 : l], all ? "-" : "", all ? names[n_conv - 1] : "");
        snprintf(pass, sizeof pass, "dissect_%dimg", job.ds->n);
        csv_row("activations", name, pass, batch, threads, t.seconds, "s", -1);
        csv_row("activations", name, pass, batch, threads, ratio, "x_forward", -1);
        if (all) all_ratio = ratio;
        fflush(stdout);
    }
    if (all_ratio > 0) {
        printf("       (a) just before and after the all-layer call: %.2f s, %.2f s; its x(a) is against their mean\n"
               "       in CPU seconds of this process (which time stolen by other programs does not inflate): dissection\n"
               "       %.2f, sweeps %.2f and %.2f (with the bytes-to-floats conversion): %.2fx their mean\n",
               near_s[0], near_s[1], cpu_s[1], cpu_s[0], cpu_s[2], cpu_s[1] / (0.5 * (cpu_s[0] + cpu_s[2])));
        printf("       target: dissection within 3x of (a); all conv layers in one call: %.2fx: %s\n", all_ratio,
               all_ratio <= 3 ? "met" : "NOT met\n       (its 2 streams through the net alone take 2x (a))");
    }

    /* (c) */
    memset(&job, 0, sizeof job);
    job.net = net, job.ds = &ds, job.layers = names + n_conv - 1, job.topk = 1;
    t = measure_long(act_work, &job, z.repeat_s, &others);
    if (job.status != CNNVIS_OK) {
        printf("   (c) cnnvis_topk_compute: %s\n", job.error);
    } else {
        printf("   (c) cnnvis_topk_compute(%s), k 9, %d images: %.2f s = %.2fx (a)  (%d run%s); others %.0f%%\n",
               names[n_conv - 1], ds.n, t.seconds, t.seconds / a_s, t.runs, t.runs > 1 ? "s, median" : "", others);
        snprintf(name, sizeof name, "alexnet_mini.%s", names[n_conv - 1]);
        snprintf(pass, sizeof pass, "topk_%dimg", ds.n);
        csv_row("activations", name, pass, batch, threads, t.seconds, "s", -1);
        csv_row("activations", name, pass, batch, threads, t.seconds / a_s, "x_forward", -1);
    }
    cnnvis_net_free(net); /* before forking: the children should not inherit them */
    cnnvis_dataset_free(&ds);

    /* (d) */
    printf("   (d) memory in MiB, each run alone in a forked child that makes its own images and net; top-k and\n"
           "       dissection on conv1, the cheapest forward (the question is whether memory grows with the images, not\n"
           "       how much a layer needs); the curve: FGSM at 2/255 through the whole net\n"
           "       start = VmRSS at the fork (shared with the bench); peak RSS = the child's ru_maxrss; before = VmRSS\n"
           "       with the images, the net and one batch run; growth = VmHWM after the run - before\n");
    printf("       %-13s %6s %8s | %6s %9s %9s %11s | %7s %7s\n", "run", "images", "seconds", "start", "peak RSS",
           "data set", "peak - data", "before", "growth");
    bench_act_memory(&z, 1, threads);
    bench_act_memory(&z, 0, threads);
    bench_act_memory(&z, ACT_CURVE, threads);
    printf("   section 5 took %.0f s\n", now_s() - section_start);
    fflush(stdout);
}


/* ======================================================================================
   6. Saliency (lecture section 4) on alexnet_mini, one image
   ======================================================================================
   The per-image cost of the methods a student runs most: one backward pass (gradient,
   guided backpropagation), SmoothGrad's 50 noisy copies, a 200-step class model. Untrained
   weights: the work does not depend on them. */

typedef struct saliency_job {
    cnnvis_net *net;
    cnnvis_tensor pixels;
    cnnvis_saliency_method method;
} saliency_job;

static void run_saliency(void *ctx)
{
    saliency_job *j = (saliency_job *)ctx;
    cnnvis_tensor out;
    if (cnnvis_saliency(&out, j->net, &j->pixels, 0, j->method, NULL) == CNNVIS_OK) cnnvis_tensor_free(&out);
}

static void run_class_model(void *ctx)
{
    saliency_job *j = (saliency_job *)ctx;
    cnnvis_tensor out;
    if (cnnvis_class_model(&out, NULL, j->net, 0, NULL) == CNNVIS_OK) cnnvis_tensor_free(&out);
}

/* One conv layer's input gradient, as a gradient map computes it (sparse_ok: the scatter of
   a mostly-zero dY allowed) or as training does (the product). */
typedef struct backward_data_job {
    cnnvis_net *net;
    int layer, sparse_ok;
} backward_data_job;

static void run_backward_data(void *ctx)
{
    backward_data_job *j = (backward_data_job *)ctx;
    cnnvis__conv_args a = cnnvis__conv_args_of(j->net, j->layer);
    a.sparse_ok = j->sparse_ok;
    conv_run(j->net, &a, PASS_BACKWARD_DATA);
}

/* 6(b): the two ways of a conv's input gradient on the dY a gradient map leaves below each
   max-pool and ReLU, timed in the same run: what cnnvis__conv_sparse_wins decides from. */
static void bench_sparse_backward(void)
{
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_tensor x, g;
    cnnvis_rng rng;
    int i, last;
    cnnvis_net_desc_preset(&d, "alexnet_mini", 3, 32, 32, 10);
    d.n_threads = 1, d.seed = 1;
    if (cnnvis_net_create(&net, &d) != CNNVIS_OK) return;
    last = net->n_layers - 1;
    cnnvis_tensor_create(&x, 1, 3, 32, 32);
    cnnvis_tensor_create(&g, 1, net->layers[last].out_c, 1, 1);
    cnnvis__rng_seed(&rng, 5);
    fill_random(x.data, cnnvis_tensor_count(&x), &rng);
    clamp01(&x);
    cnnvis_net_normalize(&x, net, &x);
    g.data[0] = 1; /* the gradient of class 0's score, as a gradient map takes it */
    cnnvis_net_forward(net, &x);
    cnnvis_net_backward(net, NULL, &g, CNNVIS_RELU_BACKPROP, 0);
    printf("\n6(b). A gradient map's conv input gradients, 1 thread, us (median): the product, and the\n"
           "   scatter of the nonzero dy where cnnvis__conv_sparse_wins takes it\n");
    printf("   %-8s %10s %10s %10s %8s\n", "layer", "dy nonzero", "product", "as taken", "ratio");
    for (i = 0; i < net->n_layers; i++) {
        backward_data_job j;
        timing product, taken;
        const cnnvis_layer *L = &net->layers[i];
        size_t q, count = cnnvis_tensor_count(&L->dout), nnz = 0;
        if (L->desc.kind != CNNVIS_LAYER_CONV) continue;
        for (q = 0; q < count; q++) nnz += L->dout.data[q] != 0.0f;
        j.net = net, j.layer = i, j.sparse_ok = 0;
        product = measure(run_backward_data, &j, 0);
        j.sparse_ok = 1;
        taken = measure(run_backward_data, &j, 0);
        printf("   %-8s %9.1f%% %10.1f %10.1f %7.2fx\n", L->desc.name, 100.0 * nnz / count, product.seconds * 1e6,
               taken.seconds * 1e6, product.seconds / taken.seconds);
        csv_row("saliency", L->desc.name, "backward_data_product", 1, 1, product.seconds * 1e6, "us", -1);
        csv_row("saliency", L->desc.name, "backward_data_as_taken", 1, 1, taken.seconds * 1e6, "us", -1);
    }
    fflush(stdout);
    cnnvis_tensor_free(&x), cnnvis_tensor_free(&g);
    cnnvis_net_free(net);
}

static void bench_saliency(void)
{
    static const struct {
        const char *name;
        cnnvis_saliency_method method;
        double target_ms;
    } rows[] = {{"gradient", CNNVIS_SALIENCY_GRADIENT, 2},     {"guided", CNNVIS_SALIENCY_GUIDED, 2},
                {"grad-cam", CNNVIS_SALIENCY_GRADCAM, 0},      {"smoothgrad(50)", CNNVIS_SALIENCY_SMOOTHGRAD, 100},
                {"integrated(64)", CNNVIS_SALIENCY_INTEGRATED, 0}, {"occlusion", CNNVIS_SALIENCY_OCCLUSION, 0}};
    int threads[2], t, r, n_threads = cfg.threads > 1 ? 2 : 1;
    cnnvis_rng rng;
    threads[0] = 1, threads[1] = cfg.threads;
    printf("\n6. Saliency (lecture section 4): alexnet_mini 3x32x32, one image, ms per map (median)\n");
    printf("   %-16s", "method");
    for (t = 0; t < n_threads; t++) printf(" %6d thr", threads[t]);
    printf("   target (1 thread)\n");
    for (r = 0; r < (int)(sizeof rows / sizeof rows[0]) + 1; r++) {
        const char *name = r < (int)(sizeof rows / sizeof rows[0]) ? rows[r].name : "class model(200)";
        double target = r < (int)(sizeof rows / sizeof rows[0]) ? rows[r].target_ms : 1000;
        double ms1 = 0;
        printf("   %-16s", name);
        for (t = 0; t < n_threads; t++) {
            cnnvis_net_desc d;
            saliency_job j;
            timing tm;
            cnnvis_net_desc_preset(&d, "alexnet_mini", 3, 32, 32, 10);
            d.n_threads = threads[t], d.seed = 1;
            memset(&j, 0, sizeof j);
            if (cnnvis_net_create(&j.net, &d) != CNNVIS_OK || cnnvis_tensor_create(&j.pixels, 1, 3, 32, 32) != CNNVIS_OK) {
                printf(" (%s)\n", cnnvis_last_error());
                return;
            }
            cnnvis__rng_seed(&rng, 5);
            fill_random(j.pixels.data, cnnvis_tensor_count(&j.pixels), &rng);
            clamp01(&j.pixels);
            if (r < (int)(sizeof rows / sizeof rows[0])) {
                j.method = rows[r].method;
                tm = measure(run_saliency, &j, 0);
            } else {
                tm = measure(run_class_model, &j, 0);
            }
            printf(" %10.2f", tm.seconds * 1e3);
            if (t == 0) ms1 = tm.seconds * 1e3;
            csv_row("saliency", "alexnet_mini", name, 1, threads[t], tm.seconds * 1e3, "ms", -1);
            cnnvis_tensor_free(&j.pixels);
            cnnvis_net_free(j.net);
        }
        if (target > 0) printf("   <= %g ms: %s", target, ms1 <= target ? "met" : "NOT met");
        printf("\n");
        fflush(stdout);
    }
    bench_sparse_backward();
}


/* ======================================================================================
   7. Adversarial (lecture section 5) on alexnet_mini
   ======================================================================================
   The cost of an attack is that of its forward and backward passes: one image's 20-step PGD
   (the standard eps = 8/255 attack) and FGSM on 1 and all threads, then whole robustness
   curves, accuracy at 8 budgets over 1,000 built-in concept images (200 with --quick) for
   FGSM and at 4 over a tenth of them for PGD(20), done in batches, with the library's
   progress bar. Untrained weights: the work does not depend on them. */

typedef struct attack_job {
    cnnvis_net *net;
    cnnvis_tensor pixels;
    cnnvis_attack_desc desc;
} attack_job;

static void run_attack(void *ctx)
{
    attack_job *j = (attack_job *)ctx;
    cnnvis_tensor adv;
    if (cnnvis_attack(&adv, NULL, NULL, j->net, &j->pixels, NULL, &j->desc) == CNNVIS_OK) cnnvis_tensor_free(&adv);
}

static void bench_adversarial(void)
{
    static const struct {
        const char *name;
        cnnvis_attack_method method;
        int steps;
        double target_ms;
    } rows[] = {{"fgsm", CNNVIS_ATTACK_FGSM, 1, 0}, {"pgd(20)", CNNVIS_ATTACK_PGD, 20, 20}};
    static const float eps[8] = {0, 1 / 255.0f, 2 / 255.0f, 4 / 255.0f, 8 / 255.0f, 16 / 255.0f, 32 / 255.0f, 64 / 255.0f};
    int threads[2], t, r, k, n_threads = cfg.threads > 1 ? 2 : 1, n_images = cfg.quick ? 200 : 1000, n_eps = 8;
    cnnvis_rng rng;
    threads[0] = 1, threads[1] = cfg.threads;
    printf("\n7. Adversarial (lecture section 5): alexnet_mini 3x32x32, one image, ms per attack (median), eps 8/255\n");
    printf("   %-16s", "attack");
    for (t = 0; t < n_threads; t++) printf(" %6d thr", threads[t]);
    printf("   target (1 thread)\n");
    for (r = 0; r < (int)(sizeof rows / sizeof rows[0]); r++) {
        double ms1 = 0;
        printf("   %-16s", rows[r].name);
        for (t = 0; t < n_threads; t++) {
            cnnvis_net_desc d;
            attack_job j;
            timing tm;
            cnnvis_net_desc_preset(&d, "alexnet_mini", 3, 32, 32, 10);
            d.n_threads = threads[t], d.seed = 1;
            memset(&j, 0, sizeof j);
            if (cnnvis_net_create(&j.net, &d) != CNNVIS_OK || cnnvis_tensor_create(&j.pixels, 1, 3, 32, 32) != CNNVIS_OK) {
                printf(" (%s)\n", cnnvis_last_error());
                return;
            }
            cnnvis__rng_seed(&rng, 5);
            fill_random(j.pixels.data, cnnvis_tensor_count(&j.pixels), &rng);
            clamp01(&j.pixels);
            j.desc.method = rows[r].method, j.desc.steps = rows[r].steps;
            tm = measure(run_attack, &j, 0);
            printf(" %10.2f", tm.seconds * 1e3);
            if (t == 0) ms1 = tm.seconds * 1e3;
            csv_row("adversarial", "alexnet_mini", rows[r].name, 1, threads[t], tm.seconds * 1e3, "ms", -1);
            cnnvis_tensor_free(&j.pixels);
            cnnvis_net_free(j.net);
        }
        if (rows[r].target_ms > 0) printf("   <= %g ms: %s", rows[r].target_ms, ms1 <= rows[r].target_ms ? "met" : "NOT met");
        printf("\n");
        fflush(stdout);
    }
    for (r = 0; r < (int)(sizeof rows / sizeof rows[0]); r++) {
        cnnvis_net_desc d;
        cnnvis_net *net;
        cnnvis_dataset ds;
        cnnvis_concepts_desc cd;
        cnnvis_attack_desc ad;
        float acc[8];
        double start, s;
        cnnvis_net_desc_preset(&d, "alexnet_mini", 3, 32, 32, 10);
        d.n_threads = cfg.threads, d.seed = 1;
        memset(&cd, 0, sizeof cd), memset(&ad, 0, sizeof ad);
        cd.n = n_images, cd.seed = 3;
        if (cnnvis_net_create(&net, &d) != CNNVIS_OK) return;
        if (cnnvis_concepts_generate(&ds, &cd) != CNNVIS_OK) {
            cnnvis_net_free(net);
            return;
        }
        ad.method = rows[r].method, ad.steps = rows[r].steps;
        if (r) n_images /= 10, n_eps = 4; /* PGD(20) costs 20 times as much: 100 images, eps 0..8/255 */
        printf("   curve %s, %d images, %d eps, %d threads:\n", rows[r].name, n_images, n_eps, cfg.threads);
        fflush(stdout);
        start = now_s();
        if (cnnvis_robustness_curve(acc, NULL, net, &ds, n_images, &ad, eps, n_eps, 1) != CNNVIS_OK)
            printf(" (%s)\n", cnnvis_last_error());
        s = now_s() - start;
        printf("   curve %-10s %8.1f s  (%.2f ms per image and eps)", rows[r].name, s, 1e3 * s / ((double)n_eps * n_images));
        for (k = 0; k < n_eps; k++) printf("%s%.2f", k ? " " : "  acc ", acc[k]);
        printf("\n");
        csv_row("adversarial", "alexnet_mini", r ? "curve_pgd20" : "curve_fgsm", n_images, cfg.threads, s, "s", -1);
        fflush(stdout);
        cnnvis_dataset_free(&ds);
        cnnvis_net_free(net);
    }
}

/* ======================================================================================
   8. The PNG writer
   ======================================================================================
   cnnvis__png_encode (one fixed-Huffman deflate block with LZ77 matches, each row's filter
   chosen among the five) on pictures like the demo's: a montage of 48 concept images zoomed
   4x (CNNVIS_RESIZE_NEAREST) with captions and a title, a 640x400 cnnvis_plot_lines plot of
   four curves, and noise (the worst case for size). Speed in MB (10^6 bytes) of pixels per
   second on one thread, paired with the writer it replaced (stored
   blocks, filter 0 on every row; a copy here) in alternating runs; sizes as compressed /
   raw pixel bytes. */

/* The previous writer: the filter byte 0 before each row, stored blocks of up to 65535 bytes. */
static cnnvis_result png_stored(const cnnvis_image *im, unsigned char **out, size_t *size)
{
    size_t row = (size_t)im->w * im->c, raw_size = (size_t)im->h * (row + 1), blocks = (raw_size + 65534) / 65535;
    size_t total = 8 + 25 + (12 + 2 + blocks * 5 + raw_size + 4) + 12, y, i, left;
    unsigned char *buf = (unsigned char *)CNNVIS_MALLOC(total), *raw = (unsigned char *)CNNVIS_MALLOC(raw_size), *p = buf, *idat;
    if (!buf || !raw) {
        cnnvis__free(buf), cnnvis__free(raw);
        return CNNVIS_ERR_NOMEM;
    }
    for (y = 0; y < (size_t)im->h; y++) raw[y * (row + 1)] = 0, memcpy(raw + y * (row + 1) + 1, im->px + y * row, row);
    memcpy(p, "\x89PNG\r\n\x1a\n", 8), p += 8;
    p = cnnvis__put_be32(p, 13);
    memcpy(p, "IHDR", 4);
    cnnvis__put_be32(p + 4, (uint32_t)im->w), cnnvis__put_be32(p + 8, (uint32_t)im->h);
    p[12] = 8, p[13] = im->c == 3 ? 2 : 0, p[14] = p[15] = p[16] = 0;
    cnnvis__put_be32(p + 17, cnnvis__crc32(0, p, 17)), p += 21;
    p = cnnvis__put_be32(p, (uint32_t)(2 + blocks * 5 + raw_size + 4));
    idat = p;
    memcpy(p, "IDAT", 4), p += 4;
    *p++ = 0x78, *p++ = 0x01;
    for (i = 0, left = raw_size; i < blocks; i++) {
        size_t n = left < 65535 ? left : 65535;
        *p++ = (unsigned char)(i + 1 == blocks);
        *p++ = (unsigned char)n, *p++ = (unsigned char)(n >> 8), *p++ = (unsigned char)~n, *p++ = (unsigned char)(~n >> 8);
        memcpy(p, raw + (raw_size - left), n), p += n, left -= n;
    }
    p = cnnvis__put_be32(p, cnnvis__adler32(1, raw, raw_size));
    p = cnnvis__put_be32(p, cnnvis__crc32(0, idat, (size_t)(p - idat)));
    p = cnnvis__put_be32(p, 0);
    memcpy(p, "IEND", 4);
    p = cnnvis__put_be32(p + 4, cnnvis__crc32(0, p, 4));
    cnnvis__free(raw);
    *out = buf, *size = (size_t)(p - buf);
    return CNNVIS_OK;
}

typedef struct png_job {
    const cnnvis_image *im;
    cnnvis_result (*encode)(const cnnvis_image *, unsigned char **, size_t *);
    size_t size; /* of the last file written */
} png_job;

static void run_png(void *ctx)
{
    png_job *j = (png_job *)ctx;
    unsigned char *buf;
    size_t size;
    if (j->encode(j->im, &buf, &size) == CNNVIS_OK) j->size = size, cnnvis__free(buf);
}

/* Two items timed in alternating runs (a, b, a, b, ...) after a warm-up of each, so that a
   change in the machine's load falls on both alike; each figure the median of its own runs,
   each run as long as measure's. */
static void measure_pair(work_fn fa, void *ca, work_fn fb, void *cb, timing *ta, timing *tb)
{
    double sa[16], sb[16], start;
    int r, c;
    timing *t[2];
    work_fn fn[2];
    void *ctx[2];
    t[0] = ta, t[1] = tb, fn[0] = fa, fn[1] = fb, ctx[0] = ca, ctx[1] = cb;
    for (r = 0; r < 2; r++) {
        double warm;
        memset(t[r], 0, sizeof *t[r]);
        start = now_s();
        fn[r](ctx[r]);
        warm = now_s() - start;
        t[r]->calls = 1;
        if (warm < cfg.min_sample_s) t[r]->calls = (int)CNNVIS__MIN(100000.0, ceil(cfg.min_sample_s / (warm > 1e-7 ? warm : 1e-7)));
        t[r]->runs = warm * t[r]->calls >= cfg.slow_s ? cfg.reps_slow : cfg.reps_fast;
    }
    ta->runs = tb->runs = CNNVIS__MAX(ta->runs, tb->runs);
    for (r = 0; r < ta->runs; r++) {
        start = now_s();
        for (c = 0; c < ta->calls; c++) fa(ca);
        sa[r] = (now_s() - start) / ta->calls;
        start = now_s();
        for (c = 0; c < tb->calls; c++) fb(cb);
        sb[r] = (now_s() - start) / tb->calls;
    }
    ta->seconds = median(sa, ta->runs), tb->seconds = median(sb, tb->runs);
}

/* The pictures: 0 the montage, 1 the plot, 2 noise. */
static cnnvis_result png_picture(cnnvis_image *out, int which)
{
    cnnvis_result r = CNNVIS_OK;
    memset(out, 0, sizeof *out);
    if (which == 0) {
        cnnvis_dataset ds;
        cnnvis_concepts_desc cd;
        cnnvis_montage_desc md;
        cnnvis_image tiles[48];
        const char *captions[48];
        int i, n = 0;
        memset(&cd, 0, sizeof cd), memset(&md, 0, sizeof md);
        cd.n = 48, cd.seed = 7;
        CNNVIS__TRY(cnnvis_concepts_generate(&ds, &cd));
        for (i = 0; i < 48 && r == CNNVIS_OK; i++) {
            cnnvis_image im;
            r = cnnvis__dataset_image(&im, &ds, i);
            if (r == CNNVIS_OK) r = cnnvis_image_resize(&tiles[n], &im, 4 * im.w, 4 * im.h, CNNVIS_RESIZE_NEAREST);
            if (r == CNNVIS_OK) captions[n] = ds.class_names + (size_t)ds.labels[i] * CNNVIS_CLASS_LEN, n++;
            cnnvis_image_free(&im);
        }
        md.cols = 8, md.title = "concept images, zoomed 4x";
        if (r == CNNVIS_OK) r = cnnvis_montage(out, tiles, n, captions, &md);
        for (i = 0; i < n; i++) cnnvis_image_free(&tiles[i]);
        cnnvis_dataset_free(&ds);
    } else if (which == 1) {
        enum { N = 60 };
        static const char *const names[4] = {"train loss", "test loss", "train accuracy", "test accuracy"};
        float x[N], y[4][N];
        cnnvis_series s[4];
        cnnvis_plot_desc d;
        int i, k;
        memset(s, 0, sizeof s), memset(&d, 0, sizeof d);
        for (i = 0; i < N; i++) {
            x[i] = (float)i / 2;
            y[0][i] = 2.3f * (float)exp(-i / 15.0) + 0.1f, y[1][i] = y[0][i] + 0.05f * (float)sin(i);
            y[2][i] = 1.0f - 0.9f * (float)exp(-i / 12.0), y[3][i] = y[2][i] - 0.04f - 0.02f * (float)cos(i);
        }
        for (k = 0; k < 4; k++) s[k].name = names[k], s[k].x = x, s[k].y = y[k], s[k].n = N;
        d.series = s, d.n_series = 4, d.title = "loss and accuracy", d.xlabel = "epoch"; /* 640 x 400 */
        r = cnnvis_plot_lines(out, &d);
    } else {
        cnnvis_rng rng;
        size_t i;
        CNNVIS__TRY(cnnvis_image_create(out, 512, 512, 3));
        cnnvis__rng_seed(&rng, 9);
        for (i = 0; i < (size_t)512 * 512 * 3; i++) out->px[i] = (unsigned char)(256 * cnnvis__rng_uniform(&rng));
    }
    return r;
}

static void bench_png(void)
{
    static const char *const names[3] = {"montage", "plot", "noise"};
    int k;
    printf("\n8. The PNG writer: cnnvis__png_encode on 1 thread, MB of pixels per second (median), paired with\n"
           "   the previous writer (stored blocks, filter 0) in alternating runs; size as PNG / raw pixel bytes\n");
    printf("   %-9s %12s %8s %10s %10s %10s %10s\n", "picture", "size", "raw MB", "png MB/s", "stored", "png/raw",
           "stored/raw");
    for (k = 0; k < 3; k++) {
        cnnvis_image im;
        png_job png, stored;
        timing tp, ts;
        double mb, png_mbs, stored_mbs, ratio, stored_ratio;
        char size[32];
        if (png_picture(&im, k) != CNNVIS_OK) {
            printf("   %-9s (%s)\n", names[k], cnnvis_last_error());
            continue;
        }
        png.im = stored.im = &im, png.encode = cnnvis__png_encode, stored.encode = png_stored, png.size = stored.size = 0;
        measure_pair(run_png, &png, run_png, &stored, &tp, &ts);
        mb = (double)im.w * im.h * im.c / 1e6;
        png_mbs = mb / tp.seconds, stored_mbs = mb / ts.seconds;
        ratio = (double)png.size / (mb * 1e6), stored_ratio = (double)stored.size / (mb * 1e6);
        snprintf(size, sizeof size, "%dx%dx%d", im.w, im.h, im.c);
        printf("   %-9s %12s %8.2f %10.1f %10.1f %10.4f %10.4f\n", names[k], size, mb, png_mbs, stored_mbs, ratio,
               stored_ratio);
        csv_row("png", names[k], "encode", 0, 1, png_mbs, "MB/s", -1);
        csv_row("png", names[k], "encode_stored", 0, 1, stored_mbs, "MB/s", -1);
        csv_row("png", names[k], "size_ratio", 0, 0, ratio, "png/raw", -1);
        csv_row("png", names[k], "size_ratio_stored", 0, 0, stored_ratio, "png/raw", -1);
        fflush(stdout);
        cnnvis_image_free(&im);
    }
}

/* ======================================================================================
   main
   ====================================================================================== */

static void usage(FILE *to)
{
    fprintf(to, "usage: bench [--quick] [--threads N] [--csv PATH] [--only SECTION]\n"
                "  --quick        fewer and shorter runs (a smoke test, figures are rougher); section 5\n"
                "                 streams 1,000 images instead of 10,000, its memory runs 1,000 and 5,000\n"
                "  --threads N    the \"all threads\" count (default: online CPUs)\n"
                "  --csv PATH     where the CSV copy goes (default build/bench.csv)\n"
                "  --only SECTION peak, conv, net, presets, activations, saliency, adversarial or png\n"
                "                 (the peak is measured anyway: it is the denominator of every %% of peak)\n");
}

static int parse_args(int argc, char **argv)
{
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--quick") == 0) {
            cfg.quick = 1;
        } else if (strcmp(a, "--threads") == 0 && value) {
            char *end;
            long n = strtol(value, &end, 10);
            if (*end || n < 1 || n > CNNVIS__MAX_THREADS) {
                fprintf(stderr, "bench: --threads %s is not in 1..%d\n", value, CNNVIS__MAX_THREADS);
                return 0;
            }
            cfg.threads = (int)n, i++;
        } else if (strcmp(a, "--csv") == 0 && value) {
            cfg.csv_path = value, i++;
        } else if (strcmp(a, "--only") == 0 && value) {
            if (strcmp(value, "peak") && strcmp(value, "conv") && strcmp(value, "net") && strcmp(value, "presets") &&
                strcmp(value, "activations") && strcmp(value, "saliency") && strcmp(value, "adversarial") &&
                strcmp(value, "png")) {
                fprintf(stderr, "bench: --only %s: expected peak, conv, net, presets, activations, saliency, adversarial or png\n",
                        value);
                return 0;
            }
            cfg.only = value, i++;
        } else {
            fprintf(stderr, "bench: unknown option or missing value: %s\n", a);
            usage(stderr);
            return 0;
        }
    }
    return 1;
}

static void print_cpu_model(void)
{
    char line[256], model[256] = "unknown (no \"model name\" in /proc/cpuinfo)";
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        const char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            snprintf(model, sizeof model, "%s", colon + 2 <= line + strlen(line) ? colon + 2 : "");
            model[strcspn(model, "\n")] = 0;
            break;
        }
    }
    if (f) fclose(f);
    printf("CPU:      %s, %ld online CPUs\n", model, sysconf(_SC_NPROCESSORS_ONLN));
}

/* The kernels a net gets by default here (AUTO, unless CNNVIS_KERNELS overrides it). */
static const char *default_kernels(void)
{
    cnnvis_net_desc d;
    cnnvis_net *net;
    const char *name;
    cnnvis_net_desc_init(&d, 1, 4, 4);
    cnnvis_net_desc_fc(&d, "fc", 2);
    d.n_threads = 1;
    if (cnnvis_net_create(&net, &d) != CNNVIS_OK) return "? (cannot create a net)";
    name = cnnvis__kernels_name(net->kernels);
    cnnvis_net_free(net);
    return name;
}

int main(int argc, char **argv)
{
    double start = now_s(), busy_start = machine_busy_s(), others;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cfg.threads = cpus < 1 ? 1 : cpus > CNNVIS__MAX_THREADS ? CNNVIS__MAX_THREADS : (int)cpus;
    cfg.csv_path = "build/bench.csv";
    if (!parse_args(argc, argv)) return 2;
    cfg.reps_fast = cfg.quick ? 3 : 5;
    cfg.reps_slow = cfg.quick ? 1 : 3;
    cfg.slow_s = 0.1;
    cfg.min_sample_s = cfg.quick ? 0.005 : 0.03;
    cfg.peak_s = cfg.quick ? 0.05 : 0.3;
    if (getenv("CNNVIS_THREADS")) { /* it would override every thread count below */
        printf("(CNNVIS_THREADS=%s ignored: the bench sets its own thread counts)\n", getenv("CNNVIS_THREADS"));
        unsetenv("CNNVIS_THREADS");
    }

    printf("cnnvis bench: cnnvis.h %d.%d.%d\n", CNNVIS_VERSION_MAJOR, CNNVIS_VERSION_MINOR, CNNVIS_VERSION_PATCH);
    print_cpu_model();
    printf("kernels:  %s%s\n", default_kernels(),
           getenv("CNNVIS_KERNELS") ? " (CNNVIS_KERNELS is set in the environment)" : "");
#ifdef __VERSION__
    printf("compiler: %s%s%s\n",
#if defined(__GNUC__) && !defined(__clang__)
           "gcc ", /* gcc's __VERSION__ is only the number */
#else
           "",
#endif
           __VERSION__,
#ifdef __OPTIMIZE__
           ""
#else
           "  -- NOT OPTIMISED: build with -O2 (make bench)"
#endif
    );
#endif
    print_load_at_start();
    printf("threads:  1 and %d (\"all threads\"; --threads N)\n", cfg.threads);
    printf("timing:   median of %d runs after 1 warm-up (%d for items over %.1f s); items under %.0f ms repeated "
           "within a run%s\n",
           cfg.reps_fast, cfg.reps_slow, cfg.slow_s, cfg.min_sample_s * 1e3, cfg.quick ? "; --quick" : "");
    open_csv();
    fflush(stdout);

    choose_peak_kind();
    bench_peak(); /* always: it is the denominator of every % of peak */
    if (want("conv")) bench_conv();
    if (want("net")) bench_reference_net();
    if (want("presets")) bench_presets();
    if (want("activations")) bench_activations();
    if (want("saliency")) bench_saliency();
    if (want("adversarial")) bench_adversarial();
    if (want("png")) bench_png();

    if (csv) {
        fclose(csv);
        printf("\nCSV: %s\n", cfg.csv_path);
    }
    printf("total time: %.0f s\n", now_s() - start);
    if (busy_start >= 0) {
        others = machine_busy_s() - busy_start - own_cpu_s();
        printf("other programs (or the hypervisor, as steal time) used %.1f CPU-seconds meanwhile (%.0f%% of %ld CPUs)%s\n", others > 0 ? others : 0,
               100.0 * (others > 0 ? others : 0) / ((now_s() - start) * (double)sysconf(_SC_NPROCESSORS_ONLN)),
               sysconf(_SC_NPROCESSORS_ONLN), others > 0.05 * (now_s() - start) ? ": the figures above are low" : "");
    }
    return 0;
}
