/* cnnvis.h - v0.3.0 - see inside a convolutional network. Public domain or MIT: see the end of the file.

   A single-header C99 library that trains a small AlexNet-style network on the CPU and
   draws what it learned, following the lecture "Visualising convolutional networks"
   (1 filters, 2 activations, 3 deconvnet, 4 saliency, 5 adversarial noise). It needs only
   libc, libm and pthreads.

   It does NOT do: GPUs, layers outside AlexNet's set (no batch norm, no residual blocks),
   half precision, or data loading beyond the formats of appendix B3.

   HOW TO INCLUDE
     In exactly one C or C++ file:
         #define CNNVIS_IMPLEMENTATION
         #include "cnnvis.h"
     Everywhere else just #include "cnnvis.h". Link with -lm -lpthread.

   QUICK START (train, then ask which pixels matter for the class of one image)
     cnnvis_net_desc d; cnnvis_net *net; cnnvis_dataset train, test;
     cnnvis_tensor pixels, grad;
     cnnvis_train_desc t = {0};
     cnnvis_net_desc_preset(&d, "alexnet_mini", 1, 28, 28, 10);  // 1x28x28 digits, 10 classes
     if (cnnvis_net_create(&net, &d) != CNNVIS_OK) { puts(cnnvis_last_error()); return 1; }
     cnnvis_idx_load(&train, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz");
     cnnvis_idx_load(&test, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz");
     t.epochs = 5;
     cnnvis_net_train(net, &train, &test, &t);              // SGD with momentum, progress bar
     cnnvis_dataset_pixels(&pixels, NULL, &test, 0, 1);      // test image 0, pixels in [0,1]
     cnnvis_saliency(&grad, net, &pixels, test.labels[0], CNNVIS_SALIENCY_GRADIENT, NULL);
     CNNVIS_PRINT(grad);                                     // dS_c/dI: lecture section 4
     cnnvis_net_save("mini.cnnvis", net);
     cnnvis_tensor_free(&pixels); cnnvis_tensor_free(&grad); cnnvis_net_free(net);

   THE API BY SECTION (every name is declared below with what it computes)
     errors   cnnvis_result_str  cnnvis_last_error  cnnvis_clear_error
     A1       cnnvis_tensor_create  cnnvis_tensor_free  cnnvis_tensor_wrap  cnnvis_tensor_count
              cnnvis_tensor_stats  cnnvis_tensor_print (CNNVIS_PRINT)
     A3       cnnvis_net_desc_init  cnnvis_net_desc_conv  cnnvis_net_desc_relu
              cnnvis_net_desc_maxpool  cnnvis_net_desc_lrn  cnnvis_net_desc_dropout
              cnnvis_net_desc_fc  cnnvis_net_desc_flatten  cnnvis_net_desc_add
              cnnvis_net_desc_preset  cnnvis_net_memory_size  cnnvis_net_create
              cnnvis_net_init_preallocated  cnnvis_net_free  cnnvis_net_find
              cnnvis_net_class_name  cnnvis_net_summary  cnnvis_net_normalize
              cnnvis_net_denormalize  cnnvis_net_forward  cnnvis_net_loss  cnnvis_net_backward
              cnnvis_net_zero_grad  cnnvis_grad_check
     A4       cnnvis_net_predict
     1        cnnvis_filters_image  cnnvis_filter_stats_compute  cnnvis_monitor_init
              cnnvis_monitor_snapshot  cnnvis_monitor_callback  cnnvis_monitor_evolution_image
              cnnvis_monitor_plot  cnnvis_monitor_write_tsv  cnnvis_monitor_free
     2        cnnvis_feature_maps_image  cnnvis_topk_compute  cnnvis_topk_free  cnnvis_topk_image
              cnnvis_dissect  cnnvis_dissection_free  cnnvis_dissection_write_tsv
              cnnvis_dissection_plot  cnnvis_dissection_unit_image
     3        cnnvis_deconv_project  cnnvis_rf_crop  cnnvis_topk_deconv_image
     4        cnnvis_saliency  cnnvis_saliency_name  cnnvis_saliency_map  cnnvis_class_model
              cnnvis_deepdream  cnnvis_net_codes  cnnvis_tsne  cnnvis_tsne_image
              cnnvis_net_randomize_layer
     5        cnnvis_attack  cnnvis_fooling_image  cnnvis_robustness_curve  cnnvis_transfer_rate
              cnnvis_adversarial_image
     B2       cnnvis_net_train_step  cnnvis_net_train  cnnvis_net_evaluate  cnnvis_eval_free
              cnnvis_net_save  cnnvis_net_load  cnnvis_net_load_weights
     B3       cnnvis_dataset_free  cnnvis_dataset_slice  cnnvis_dataset_pixels
              cnnvis_dataset_from_files  cnnvis_idx_load  cnnvis_cifar10_load  cnnvis_image_create
              cnnvis_image_free  cnnvis_image_read  cnnvis_image_write  cnnvis_image_to_pixels
     B4       cnnvis_image_resize  cnnvis_plane_resize  cnnvis_tensor_to_image  cnnvis_montage
              cnnvis_image_overlay  cnnvis_image_text  cnnvis_image_fill  cnnvis_image_line
              cnnvis_plot_lines  cnnvis_plot_matrix  cnnvis_labels_to_image
              cnnvis_concepts_generate  cnnvis_concepts_colour
   One convention everywhere: outputs come first (what is created or filled, then any extra
   results), then the net, then the inputs, then the settings; a layer is named by its name
   ("conv5"); labels are int32_t; a desc of all zeros means the defaults.

   COMPILE-TIME OPTIONS (define before the implementation include)
     CNNVIS_STATIC            every function is static (private copy per file)
     CNNVIS_API               declaration prefix, default extern
     CNNVIS_ASSERT(c)         internal invariant check, default assert(c)
     CNNVIS_MALLOC(sz)/CNNVIS_FREE(p)   allocator; define both or neither
     CNNVIS_FWRITE(ptr, size, n, f)     what writes files, default fwrite (a test can make
                              it fail part-way: every file is written to path.tmp and
                              renamed, so the old file survives a failed write)
     CNNVIS_NO_SIMD           no AVX2/NEON kernels (same as NO_AVX2 + NO_NEON)
     CNNVIS_NO_AVX2           no AVX2/FMA kernels
     CNNVIS_NO_NEON           no NEON kernels
     CNNVIS_FORCE_REFERENCE   always the scalar reference kernels
     CNNVIS_NO_THREADS        no pthreads: everything runs on the calling thread
     CNNVIS_BREAK_ON_ERROR    assert at the line where an error is raised
     CNNVIS_DISSECT_CAP       values a unit keeps in memory in Network Dissection (8192, 16
                              bytes each); beyond it, more streams over the data (tests set
                              it tiny)

   ENVIRONMENT
     CNNVIS_THREADS=n         overrides cnnvis_net_desc.n_threads; n must be 1..256, anything
                              else ("abc", "0", "-1", "10000") makes cnnvis_net_create fail
                              with CNNVIS_ERR_ARG; empty means unset
     CNNVIS_KERNELS=reference forces the reference kernels at run time

   THE PARTS, IN THE ORDER THEY ARE READ (grep the tag to jump to the code)
     A1 >>a1_tensor       tensors, images, data sets, errors, RNG
     A2 >>a2_layers       each layer's reference forward and backward, beside its formula:
                          conv, ReLU (3 backward rules), max-pool with switches, LRN,
                          dropout, fully connected, softmax cross-entropy
     A3 >>a3_net          the network: describe, create, forward, backward, loss; presets
     A4 >>a4_pixels       what sections 3-5 share: the forward with dropout off, softmax,
                          the gradient of a score or a loss with respect to the pixels
     1  >>s1_filters      filter montages, filter statistics, the training monitor
     2  >>s2_activations  feature maps, top-k images and patches, Network Dissection
     3  >>s3_deconvnet    deconvnet projections
     4  >>s4_saliency     nine saliency methods, class models, DeepDream, t-SNE, sanity checks
     5  >>s5_adversarial  FGSM, PGD (L-inf, L2), box-constrained L-BFGS, fooling images,
                          robustness curves, transfer, adversarial training
     B1 >>b1_fast         appendix: AVX2/NEON kernels, packed GEMM, thread pool, selection
     B2 >>b2_training     appendix: training, evaluation, checkpoints
     B3 >>b3_formats      appendix: files, gzip, IDX, CIFAR-10, PNG/PNM/JPEG, data sets
     B4 >>b4_drawing      appendix: resizing, colour maps, montages, plots, the font, the
                          built-in concept images
   Each tag appears twice: at the declarations, then at the implementation. A1-5 call into
   the appendices only through functions declared at the top of the implementation.

   CONVENTIONS
     Tensors are float32, contiguous NCHW. Pixels of images on disk are [0,1] after
     loading; the network sees them normalised, x = (p - mean[c]) / std[c], with the mean and
     std kept in the net and its checkpoint (cnnvis_net_normalize). Weights use PyTorch's
     layouts: conv (OC, IC/groups, K, K), fc (OUT, IN).
     Errors: every function that can fail returns cnnvis_result (CNNVIS_OK = 0, negative on
     failure) and leaves a message for cnnvis_last_error() (per thread). Nothing in the
     library exits, aborts or prints, except the training progress bar on a terminal and
     cnnvis_tensor_print, whose job it is.
     A NULL where a function needs a pointer gives CNNVIS_ERR_ARG with a message naming it;
     functions without a status (the *_free, tensor helpers, drawing) do nothing with a
     NULL and return 0, NULL or "?".
     Memory: a net owns one arena holding weights, gradients, momentum, every layer's output
     and gradient, and scratch; forward and backward never allocate. What a function returns
     in an out-parameter is owned by the caller and has a matching *_free.
     Threads: results are bit-identical for any n_threads. Between jobs a net's pool threads
     spin for a few tens of microseconds before they sleep (the jobs of a one-image pass come
     microseconds apart), unless there are more of them than CPUs; an idle net costs no CPU.
     SIMD: the AVX2/NEON kernels are not bit-identical to the reference ones (fused
     multiply-add rounds once); they agree to about 1e-5 relative to the output's magnitude.

   CHANGELOG
     0.3.0  Adam (cnnvis_train_desc.optimizer), a layer's init_scale, alexnet_mini with a
            3x3 conv2 and 64-channel conv3/conv4, compressed PNG files, a JPEG reader
     0.2.0  the lecture first: the header reordered (core, sections 1-5, then appendices);
            one argument order; layers named by string; 100 public functions;
            cnnvis_tensor_print, cnnvis_tensor_stats and cnnvis_grad_check
     0.1.0  tensors, layers, network, training, checkpoints, IDX reader; the lecture's
            sections 1-5 (filters, activations and Network Dissection, deconvnet,
            saliency, adversarial examples)
*/
#ifndef CNNVIS_H
#define CNNVIS_H

#include <stddef.h>
#include <stdint.h>

#define CNNVIS_VERSION_MAJOR 0
#define CNNVIS_VERSION_MINOR 3
#define CNNVIS_VERSION_PATCH 0

#ifndef CNNVIS_API
#ifdef CNNVIS_STATIC
#define CNNVIS_API static
#else
#define CNNVIS_API extern
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define CNNVIS_MAX_LAYERS 64 /* layers in one net */
#define CNNVIS_NAME_LEN 32   /* a layer name, with its terminating zero */
#define CNNVIS_CLASS_LEN 64  /* a class name, with its terminating zero */

typedef enum cnnvis_result {
    CNNVIS_OK = 0,
    CNNVIS_ERR_ARG = -1,         /* an argument or a description is invalid */
    CNNVIS_ERR_NOMEM = -2,       /* an allocation failed */
    CNNVIS_ERR_IO = -3,          /* a file could not be opened, read or written */
    CNNVIS_ERR_FORMAT = -4,      /* a file's contents are malformed */
    CNNVIS_ERR_UNSUPPORTED = -5, /* valid, but not something this library does */
    CNNVIS_ERR_NUMERIC = -6      /* a NaN or an infinity where a finite number must be */
} cnnvis_result;

/* The code's name, e.g. "CNNVIS_ERR_FORMAT". Never NULL. */
CNNVIS_API const char *cnnvis_result_str(cnnvis_result r);
/* The message of the last failure on this thread, with file:line and a hint, or "" if none.
   Valid until the next failing call on the same thread. */
CNNVIS_API const char *cnnvis_last_error(void);
/* Forget the last message (cnnvis_last_error() returns "" afterwards). */
CNNVIS_API void cnnvis_clear_error(void);

/* ======================================================================================
   A1  Tensors, images, data sets                                           >>a1_tensor
   The three kinds of data every section passes around: float tensors (what the net
   computes), 8-bit images (what is read and drawn) and labelled data sets.
   ====================================================================================== */

/* A float32 array of shape (n, c, h, w), contiguous, w fastest. A tensor either owns its
   data (made by cnnvis_tensor_create, released by cnnvis_tensor_free) or is a view into
   someone else's (owner == 0; cnnvis_tensor_free only forgets it). */
typedef struct cnnvis_tensor {
    int n, c, h, w;
    float *data; /* (n, c, h, w) */
    int owner;   /* 1 if cnnvis_tensor_free must release data */
} cnnvis_tensor;

/* Allocate a zeroed tensor. Each size must be >= 1 and the product must fit in memory.
   Returns CNNVIS_ERR_ARG or CNNVIS_ERR_NOMEM (t is then zeroed). */
CNNVIS_API cnnvis_result cnnvis_tensor_create(cnnvis_tensor *t, int n, int c, int h, int w);
/* Release an owned tensor, or forget a view; t is zeroed. NULL or a zeroed t is fine. */
CNNVIS_API void cnnvis_tensor_free(cnnvis_tensor *t);
/* A view of the caller's array `data` (n, c, h, w); nothing is copied or owned. */
CNNVIS_API cnnvis_tensor cnnvis_tensor_wrap(float *data, int n, int c, int h, int w);
/* Number of elements, n*c*h*w (0 for NULL). */
CNNVIS_API size_t cnnvis_tensor_count(const cnnvis_tensor *t);

/* What a glance at a tensor should tell: its range, its mean, how many values are exactly
   zero (dead ReLUs, a gradient that did not flow) and how many are not finite. */
typedef struct cnnvis_stats {
    float min, max;     /* smallest and largest value, NaN ignored (0 and 0 if there is none) */
    double mean;        /* of the finite values */
    size_t count;       /* n*c*h*w */
    size_t zeros;       /* values == 0 */
    size_t nonfinite;   /* NaN or +-infinity */
} cnnvis_stats;

/* The statistics of t (all zero for NULL). In a debugger: `print cnnvis_tensor_stats(&x)`. */
CNNVIS_API cnnvis_stats cnnvis_tensor_stats(const cnnvis_tensor *t);
/* Print name, shape, statistics and the first max_values values (0: 8) on stdout:
     map (1, 1, 32, 32): min -0.0123 max 0.0871 mean 0.00312, zeros 12 of 1024, nonfinite 0
       [0.00121 -0.00043 0.00876 ...]
   CNNVIS_PRINT(t) prints tensor t under its own name. */
CNNVIS_API void cnnvis_tensor_print(const cnnvis_tensor *t, const char *name, int max_values);
#define CNNVIS_PRINT(t) cnnvis_tensor_print(&(t), #t, 8)

/* An 8-bit image: channels interleaved, top-left pixel first, no row padding (stb_image's
   contract). c is 1 (grey) or 3 (RGB). Made by cnnvis_image_create or a reader (B3), drawn
   by the kit (B4), released by cnnvis_image_free. */
typedef struct cnnvis_image {
    int w, h, c;
    unsigned char *px; /* (h, w, c) */
} cnnvis_image;

#define CNNVIS_MAX_CATEGORIES 8

/* A labelled image set, pixels kept as bytes: image i, channel ch, row y, column x is
   px[((i*c + ch)*h + y)*w + x] / 255. It may also label every pixel with concepts of a few
   categories (Network Dissection, lecture section 2): concepts[((i*n_categories + k)*h +
   y)*w + x] is the index of the concept of category k at that pixel (255: unlabelled).
   Loaded by the readers of B3, generated by cnnvis_concepts_generate (B4). */
typedef struct cnnvis_dataset {
    int n, c, h, w;
    unsigned char *px;      /* (n, c, h, w) */
    int32_t *labels;        /* (n) class of each image */
    int n_classes;
    char *class_names;      /* (n_classes, CNNVIS_CLASS_LEN) or NULL */
    int n_categories;       /* concept categories labelled per pixel, 0 if none */
    unsigned char *concepts;/* (n, n_categories, h, w) or NULL */
    char category_names[CNNVIS_MAX_CATEGORIES][CNNVIS_NAME_LEN];
    int n_concepts[CNNVIS_MAX_CATEGORIES];
    char *concept_names;    /* every category's concept names in order, CNNVIS_NAME_LEN each */
    int owner;              /* 1 if cnnvis_dataset_free releases the arrays */
} cnnvis_dataset;

/* xoshiro256** seeded by splitmix64: the library's own generator (weights, dropout, noise),
   the same numbers on every platform for a seed. Never rand(). */
typedef struct cnnvis_rng {
    uint64_t s[4];
} cnnvis_rng;

/* Colour maps, for one-channel pictures (activations, saliency maps, heat maps). */
typedef enum cnnvis_colormap {
    CNNVIS_CMAP_GREY = 0,
    CNNVIS_CMAP_DIVERGING, /* blue - light grey - red, for signed values mapped around 0.5 */
    CNNVIS_CMAP_VIRIDIS,   /* perceptually uniform, dark blue to yellow (heatmaps) */
    CNNVIS_CMAP_INFERNO    /* perceptually uniform, black to light yellow */
} cnnvis_colormap;

/* ======================================================================================
   A2  Layers                                                              >>a2_layers
   What a net is made of. Each kind's forward and backward pass are plain loops beside
   their formula in the implementation; the net (A3) runs them.
   ====================================================================================== */

typedef enum cnnvis_layer_kind {
    CNNVIS_LAYER_NONE = 0,
    CNNVIS_LAYER_CONV,    /* convolution: out_channels, kernel, stride, pad, groups, bias */
    CNNVIS_LAYER_RELU,    /* max(x, 0); backward by a cnnvis_relu_rule */
    CNNVIS_LAYER_MAXPOOL, /* kernel, stride, pad; records switches (argmax positions) */
    CNNVIS_LAYER_LRN,     /* local response normalisation across channels */
    CNNVIS_LAYER_DROPOUT, /* inverted dropout with probability p; identity in evaluation */
    CNNVIS_LAYER_FC,      /* fully connected: out_channels outputs, flattens its input */
    CNNVIS_LAYER_FLATTEN, /* (C, H, W) -> (C*H*W, 1, 1); data unchanged */
    CNNVIS_LAYER_KIND_COUNT
} cnnvis_layer_kind;

/* How a ReLU passes a gradient R (the signal coming down from above) back to its input,
   with H its forward input (lecture section 3 "Unrectification" and section 4
   "Deconv net vs Saliency net"; Springenberg et al. 2015):
     BACKPROP   R * 1(H > 0)               the true gradient (saliency, training)
     DECONVNET  max(R, 0)                  Zeiler & Fergus's un-ReLU
     GUIDED     R * 1(H > 0) * 1(R > 0)    guided backpropagation
   With DECONVNET, LRN passes the signal through unchanged (Zeiler & Fergus do not invert
   the normalisation); with the other two rules LRN back-propagates its true gradient. */
typedef enum cnnvis_relu_rule {
    CNNVIS_RELU_BACKPROP = 0,
    CNNVIS_RELU_DECONVNET = 1,
    CNNVIS_RELU_GUIDED = 2
} cnnvis_relu_rule;

/* One layer as described by the user. Zero means default:
     stride   conv 1; maxpool = kernel
     groups   1
     size, alpha, beta, k   LRN: 5, 1e-4, 0.75, 2 (AlexNet; PyTorch's LocalResponseNorm formula)
     p        dropout 0.5
   pad is taken as given (0 is no padding). name must be unique in the net; an empty name is
   replaced by "<kind><index>", e.g. "conv1". */
typedef struct cnnvis_layer_desc {
    cnnvis_layer_kind kind;
    char name[CNNVIS_NAME_LEN];
    int out_channels; /* conv: OC; fc: number of outputs */
    int kernel;       /* conv, maxpool: K (square K x K) */
    int stride;       /* conv, maxpool: S */
    int pad;          /* conv, maxpool: P, zeros (conv) or -inf (maxpool) on every side */
    int groups;       /* conv: G; IC and OC must both be divisible by G */
    int size;         /* lrn: number of channels in the window */
    float alpha, beta, k; /* lrn: b_c = a_c / (k + alpha/size * sum_window a^2)^beta */
    float p;          /* dropout: probability of dropping a unit */
    float init_scale; /* conv, fc: the initial weights' scale, times He et al.'s (0: 1) */
} cnnvis_layer_desc;

/* A layer of a built network. Pointers point into the net's arena. The input of layer i
   is layer i-1's `out` (net->input for i = 0); its input gradient goes to layer i-1's
   `dout` (net->dinput for i = 0). Only the first `net->batch` images are valid. */
typedef struct cnnvis_layer {
    cnnvis_layer_desc desc;      /* resolved: defaults filled in */
    int in_c, in_h, in_w;        /* shape of one input image */
    int out_c, out_h, out_w;     /* shape of one output image */
    /* Receptive field of one output unit in input-image pixels: unit (y, x) sees rows
       rf_offset + y*rf_stride ... + rf_size - 1 (and the same for columns); rf_offset
       may be negative where padding is seen. Fully connected layers see the whole image.
       Where a layer's output size rounds down, the last input rows reach no unit at all, so
       a field at the bottom-right edge can include rows no pixel path connects. */
    int rf_size, rf_stride, rf_offset;
    size_t n_w, n_b;             /* number of weights and biases (0 if none) */
    float *w;                    /* conv (OC, IC/G, K, K); fc (OUT, IN) */
    float *b;                    /* (OC) or (OUT) */
    float *dw, *db;              /* gradients, same shapes; backward adds into them */
    float *vw, *vb;              /* SGD's momentum or Adam's first moment, same shapes */
    cnnvis_tensor out;           /* (max_batch, out_c, out_h, out_w) */
    cnnvis_tensor dout;          /* gradient w.r.t. out, same shape */
    int32_t *switches;           /* maxpool: (max_batch, C, OH, OW) argmax index iy*W+ix in
                                    the input plane, the "switches" of Zeiler & Fergus */
    float *aux;                  /* lrn: (max_batch, C, H, W) the denominators' base s;
                                    dropout: (max_batch, C, H, W) the mask, 0 or 1/(1-p) */
    long long flops;             /* multiply-adds x 2 of one forward pass of one image */
} cnnvis_layer;

/* ======================================================================================
   A3  The network                                                            >>a3_net
   Describe a net as a list of layers, create it (one arena), run it forward, and run it
   backward from any layer with any signal: every picture of sections 1-5 is one of these.
   ====================================================================================== */

typedef enum cnnvis_kernels {
    CNNVIS_KERNELS_AUTO = 0,  /* the fastest this CPU supports */
    CNNVIS_KERNELS_REFERENCE, /* the plain scalar loops (the specification) */
    CNNVIS_KERNELS_AVX2,      /* x86-64 AVX2 + FMA */
    CNNVIS_KERNELS_NEON       /* arm64 NEON */
} cnnvis_kernels;

/* A network description. Fill it with the cnnvis_net_desc_* builders (or by hand), then
   cnnvis_net_create. Zero means default:
     max_batch   64      images per forward/backward pass (activations are sized for it)
     n_threads   0       = number of online CPUs; at most 256 (more, or a negative number, is
                         refused with CNNVIS_ERR_ARG); CNNVIS_THREADS overrides it
     kernels     AUTO    CNNVIS_KERNELS=reference overrides
     seed        0       is a seed like any other (weights, dropout)
     std[c]      1       (mean[c] defaults to 0)
     class_names NULL    "0", "1", ...                                                   */
typedef struct cnnvis_net_desc {
    int in_c, in_h, in_w;        /* input image shape */
    int max_batch;
    int n_threads;
    cnnvis_kernels kernels;
    uint64_t seed;
    float mean[3], std[3];       /* per input channel (channels >= 3 use entry 2) */
    const char *const *class_names; /* (n_classes) strings, copied; may be NULL */
    int n_layers;
    cnnvis_layer_desc layers[CNNVIS_MAX_LAYERS];
    int error;                   /* set by a builder that failed (e.g. too many layers) */
} cnnvis_net_desc;

struct cnnvis_pool; /* the thread pool; internal */

typedef struct cnnvis_net {
    cnnvis_net_desc desc;        /* resolved copy (class_names points to the net's copy) */
    int n_layers;
    cnnvis_layer layers[CNNVIS_MAX_LAYERS];
    int n_classes;               /* outputs of the last layer */
    int batch;                   /* images in the last forward pass */
    int training;                /* 1: dropout active (0 after create; training sets it) */
    float dropout_scale;         /* dropout layers drop with probability p * dropout_scale
                                    (1 after create; training's curriculum raises it from 0) */
    cnnvis_tensor input;         /* (max_batch, in_c, in_h, in_w) copy of the last input */
    cnnvis_tensor dinput;        /* gradient w.r.t. input after a backward pass */
    cnnvis_tensor probs;         /* (max_batch, n_classes, 1, 1) softmax after cnnvis_net_loss */
    float loss;                  /* mean cross-entropy after cnnvis_net_loss */
    char *class_names;           /* (n_classes, CNNVIS_CLASS_LEN) */
    cnnvis_rng rng;              /* dropout masks */
    cnnvis_kernels kernels;      /* what runs: never AUTO */
    int n_threads;               /* resolved */
    struct cnnvis_pool *pool;
    float *scratch;              /* (scratch_count) im2col and GEMM packing */
    size_t scratch_count;
    long long step;              /* optimiser steps taken */
    void *arena;                 /* the one block everything above points into */
    size_t arena_size;
    int arena_owned;             /* 0 with cnnvis_net_init_preallocated */
} cnnvis_net;

/* Builders: append one layer to d (name may be NULL for the default). They never fail
   outright; a problem (too many layers) is kept in d->error and reported by create. A fully
   connected layer flattens its input itself; flatten is there for nets converted from
   PyTorch's nn.Flatten. */
CNNVIS_API void cnnvis_net_desc_init(cnnvis_net_desc *d, int in_c, int in_h, int in_w);
CNNVIS_API void cnnvis_net_desc_conv(cnnvis_net_desc *d, const char *name, int out_channels,
                                     int kernel, int stride, int pad, int groups);
CNNVIS_API void cnnvis_net_desc_relu(cnnvis_net_desc *d, const char *name);
CNNVIS_API void cnnvis_net_desc_maxpool(cnnvis_net_desc *d, const char *name, int kernel,
                                        int stride, int pad);
CNNVIS_API void cnnvis_net_desc_lrn(cnnvis_net_desc *d, const char *name, int size,
                                    float alpha, float beta, float k);
CNNVIS_API void cnnvis_net_desc_dropout(cnnvis_net_desc *d, const char *name, float p);
CNNVIS_API void cnnvis_net_desc_fc(cnnvis_net_desc *d, const char *name, int outputs);
CNNVIS_API void cnnvis_net_desc_flatten(cnnvis_net_desc *d, const char *name);
CNNVIS_API void cnnvis_net_desc_add(cnnvis_net_desc *d, const cnnvis_layer_desc *layer);

/* A described net by name (d is initialised first):
   "alexnet_mini"      AlexNet's pattern for small images (1x28x28, 3x32x32, ...): five convs
                       with pooling after 1, 2 and 5, three FC layers with dropout.
   "alexnet"           torchvision's AlexNet: 3x224x224, conv1 64 11x11 stride 4 pad 2, ...
   "alexnet_original"  Krizhevsky et al. 2012 / CaffeNet: 3x227x227, conv1 96 11x11 stride 4,
                       LRN after conv1 and conv2, groups 2 in conv2, conv4 and conv5.
   in_c, in_h, in_w 0: the preset's own input (alexnet_mini has none: they are required).
   CNNVIS_ERR_ARG for an unknown name or a missing size. */
CNNVIS_API cnnvis_result cnnvis_net_desc_preset(cnnvis_net_desc *d, const char *name, int in_c, int in_h,
                                                int in_w, int n_classes);

/* Bytes of memory cnnvis_net_create would allocate for d (0 with an error if d is invalid). */
CNNVIS_API size_t cnnvis_net_memory_size(const cnnvis_net_desc *d);
/* Build a net: check every layer's shapes (naming the layer at fault), plan and allocate
   the arena, initialise weights (Kaiming-uniform, zero biases), start the thread pool.
   *out is set on success; free it with cnnvis_net_free. */
CNNVIS_API cnnvis_result cnnvis_net_create(cnnvis_net **out, const cnnvis_net_desc *d);
/* The same in memory the caller provides: mem must hold cnnvis_net_memory_size(d) bytes and
   outlive the net; net is the caller's struct. cnnvis_net_free then frees only the pool. */
CNNVIS_API cnnvis_result cnnvis_net_init_preallocated(cnnvis_net *net, const cnnvis_net_desc *d, void *mem,
                                                      size_t size);
/* Join the thread pool and release the arena (and the net, if create made it). */
CNNVIS_API void cnnvis_net_free(cnnvis_net *net);

/* Index of the layer called name (net->layers[index]), or -1 with an error naming it. */
CNNVIS_API int cnnvis_net_find(const cnnvis_net *net, const char *name);
/* Name of class c ("?" if out of range). */
CNNVIS_API const char *cnnvis_net_class_name(const cnnvis_net *net, int c);
/* Write one line per layer: name, kind, output shape, parameters, receptive field
   (size/stride/offset), and a total, into buf (always zero-terminated; truncated if short).
   Returns the length the full text needs, like snprintf. */
CNNVIS_API int cnnvis_net_summary(char *buf, size_t size, const cnnvis_net *net);

/* pixels [0,1] -> network input: x = (p - mean[c]) / std[c]. x and pixels have the net's
   input shape (any n); x may be pixels. */
CNNVIS_API cnnvis_result cnnvis_net_normalize(cnnvis_tensor *x, const cnnvis_net *net, const cnnvis_tensor *pixels);
/* network input -> pixels: p = x * std[c] + mean[c] (not clamped). */
CNNVIS_API cnnvis_result cnnvis_net_denormalize(cnnvis_tensor *pixels, const cnnvis_net *net, const cnnvis_tensor *x);

/* Forward pass of x (n <= max_batch images of the input shape, already normalised). Every
   layer's output is kept in net->layers[i].out; the last one holds the unnormalised class
   scores S_c (the logits). Dropout is active only if net->training is 1. */
CNNVIS_API cnnvis_result cnnvis_net_forward(cnnvis_net *net, const cnnvis_tensor *x);
/* Softmax cross-entropy of the last layer's scores against labels (net->batch of them, each
   in [0, n_classes)), computed with log-sum-exp so that saturated scores stay finite.
   Sets net->probs, net->loss (mean over the batch) and puts dloss/dscores in the last
   layer's dout. */
CNNVIS_API cnnvis_result cnnvis_net_loss(cnnvis_net *net, const int32_t *labels);
enum {
    CNNVIS_BACKWARD_PARAMS = 1, /* also accumulate weight and bias gradients (dw += ...) */
    CNNVIS_BACKWARD_KEEP = 2    /* start from the gradient already in the layer's dout */
};
/* Backward pass from layer `from` (a name; NULL: the last layer, the class scores) down to
   the input, after a forward pass. dout is the gradient w.r.t. that layer's out (net->batch
   images, the layer's output shape); it is copied there first unless flags has
   CNNVIS_BACKWARD_KEEP (then dout may be NULL). Every layer below gets its dout;
   net->dinput receives the gradient w.r.t. the input. ReLUs use `rule`. With
   CNNVIS_BACKWARD_PARAMS the parameter gradients are added to dw/db. Without it (a gradient
   map), the fast kernels scatter a conv's output gradient when it is mostly zeros, so
   net->dinput may differ in its last bits from a pass with it. */
CNNVIS_API cnnvis_result cnnvis_net_backward(cnnvis_net *net, const char *from, const cnnvis_tensor *dout,
                                             cnnvis_relu_rule rule, unsigned flags);
/* dw = db = 0 for every layer. */
CNNVIS_API void cnnvis_net_zero_grad(cnnvis_net *net);

/* What cnnvis_grad_check found. */
typedef struct cnnvis_grad_report {
    double worst;        /* the largest error |a - n| / (max(|a|, |n|) + 1e-3 scale) over the
                            coordinates compared (a analytic, n numeric, scale the largest
                            |a| of that tensor): a few 1e-3 when the backward pass is right
                            (float rounding; up to about 2e-2 where a gradient nearly
                            cancels), of order 0.5-1 when it is wrong */
    char worst_at[48];   /* where: "input 1234", "w 17" or "b 3" */
    int checked;         /* coordinates compared */
    int skipped;         /* coordinates left out: their step crossed a kink (a ReLU input
                            changing sign, a max-pool switch moving) */
} cnnvis_grad_report;

/* Check one layer's backward pass on your own net and images: after a forward pass of x
   (normalised, 1..max_batch images; dropout off), for L = sum of r * y over the layer's
   output y with a fixed random r, the analytic dL/d(layer input), dL/dw and dL/db (one
   backward step of that layer, ReLUs by `rule`) are compared with central differences
       (L(v + h) - L(v - h)) / (2h),  h = 1e-2 * (the tensor's largest |value|, or 1)
   on up to 32 coordinates of each, L summed in double. BACKPROP is the gradient and passes;
   a ReLU checked with DECONVNET or GUIDED fails, and an LRN with DECONVNET (lecture section
   4: the deconvnet is not the gradient). The layer's dw and db are kept; its dout
   and the one below are overwritten. */
CNNVIS_API cnnvis_result cnnvis_grad_check(cnnvis_grad_report *report, cnnvis_net *net, const char *layer,
                                           const cnnvis_tensor *x, cnnvis_relu_rule rule);

/* ======================================================================================
   A4  Gradients with respect to pixels                                   >>a4_pixels
   Sections 3-5 hand the net images of pixels in [0, 1] and take back gradients with
   respect to those pixels: normalisation happens inside, dropout is off.
   ====================================================================================== */

/* The net's answer for n images of pixels (n, C, H, W), any n (in batches of max_batch),
   dropout off: scores (n, n_classes) the class scores S_c, probs (n, n_classes) their
   softmax, classes (n) the top class of each (the first of equal scores). Any of the three
   may be NULL. */
CNNVIS_API cnnvis_result cnnvis_net_predict(float *scores, float *probs, int32_t *classes, cnnvis_net *net,
                                            const cnnvis_tensor *pixels);

/* ======================================================================================
   1  Visualise filters                                                    >>s1_filters
   "What do these filters detect?" - conv1's filters as colour tiles (the AlexNet slide:
   "conv1: 96 filters 11x11x3"), deeper ones as grids of their input-channel slices, and
   "good training: learned filters should exhibit structure and are uncorrelated" measured
   while the net trains.
   ====================================================================================== */

/* Zero means default: one scale for the whole layer (per_filter 1: each filter its own),
   zoom so that a filter is about 32 pixels across, cols about square, every filter
   (max_filters), every input-channel slice of a deeper filter up to 64 (max_slices). */
typedef struct cnnvis_filters_desc {
    int per_filter;
    int zoom;
    int cols;
    int max_filters;
    int max_slices;
} cnnvis_filters_desc;

/* The filters of a conv layer as one montage, every weight mapped around mid-grey (zero
   weight = grey; symmetric mapping). A filter with 3 input channels (conv1 on RGB images)
   is one colour tile; with 1 a grey tile; with more, a grid of its slices in grey. out is
   created here. */
CNNVIS_API cnnvis_result cnnvis_filters_image(cnnvis_image *out, const cnnvis_net *net, const char *layer,
                                              const cnnvis_filters_desc *d);

/* What the lecture asks of well-trained filters, for one conv layer. */
typedef struct cnnvis_filter_stats {
    int layer;             /* index in the net */
    int n_filters;
    float mean_abs_corr;   /* mean |Pearson correlation| between pairs of filters (all their weights):
                              near 0 when the filters are decorrelated */
    float structure;       /* mean share of a kernel slice's energy (sum of squared DFT magnitudes)
                              at low spatial frequencies, |f| <= K/4 cycles per kernel (at least the
                              DC and its 4 neighbours) ... */
    float structure_noise; /* ... and the share white noise would have there: (low bins) / K^2 */
    float mean_norm, min_norm, max_norm; /* L2 norms of the filters */
    int dead;              /* filters whose output is never > 0 on the probe images (-1: no probe) */
} cnnvis_filter_stats;

/* Statistics of conv layer `layer`; probe (normalised images, may be NULL) is run forward
   to count dead filters. */
CNNVIS_API cnnvis_result cnnvis_filter_stats_compute(cnnvis_filter_stats *st, cnnvis_net *net, const char *layer,
                                                     const cnnvis_tensor *probe);

/* Watching filters during training: hook cnnvis_monitor_callback on cnnvis_train_desc (with
   user = the monitor). Zero means default: the first conv layer's montage, a snapshot at the
   end of each epoch (every_steps n: every n steps), no probe (dead filters not counted), no
   frames written, at most 256 snapshots. */
typedef struct cnnvis_monitor_desc {
    const char *layer;           /* whose montage to keep (name) */
    int every_steps;
    const cnnvis_dataset *probe; /* held-out images for the dead-filter count */
    int probe_n;                 /* how many of them; default min(64, max_batch, probe->n) */
    const char *frames_dir;      /* if set, each snapshot's montage is written there as PNG */
    int max_snapshots;
    int strip_filters;           /* filters per row of the evolution picture; default 16 */
} cnnvis_monitor_desc;

typedef struct cnnvis_monitor {
    cnnvis_monitor_desc desc;    /* resolved */
    int montage_layer;
    int n_conv, conv[CNNVIS_MAX_LAYERS]; /* the conv layers followed */
    char conv_names[CNNVIS_MAX_LAYERS][CNNVIS_NAME_LEN];
    int n_snapshots;
    float *epochs;               /* (max_snapshots) epoch (fraction for step snapshots) of each */
    long long *steps;            /* (max_snapshots) */
    cnnvis_filter_stats *stats;  /* (max_snapshots, n_conv) */
    cnnvis_image *strips;        /* (max_snapshots) the first filters of each snapshot, in a row */
    cnnvis_tensor probe;         /* the probe images, normalised */
} cnnvis_monitor;

/* Set up a monitor of net's conv layers with the settings d (zero means default; see above).
   Takes no snapshot yet. Free with cnnvis_monitor_free. */
CNNVIS_API cnnvis_result cnnvis_monitor_init(cnnvis_monitor *m, const cnnvis_net *net, const cnnvis_monitor_desc *d);
/* Take a snapshot now, labelled `epoch` (the callback calls this; call it yourself for the
   net before training, or for checkpoints saved along the way). */
CNNVIS_API cnnvis_result cnnvis_monitor_snapshot(cnnvis_monitor *m, cnnvis_net *net, float epoch);
struct cnnvis_train_stats; /* B2 */
/* A cnnvis_train_callback: user is the cnnvis_monitor; takes a snapshot when d's schedule
   says so. Stops training (returns 1) if a snapshot fails; the reason is in
   cnnvis_last_error(). */
CNNVIS_API int cnnvis_monitor_callback(cnnvis_net *net, const struct cnnvis_train_stats *s, void *user);
/* One row per snapshot of the first filters, labelled with the epoch (Zeiler & Fergus
   2014, fig. 4: how features evolve). */
CNNVIS_API cnnvis_result cnnvis_monitor_evolution_image(cnnvis_image *out, const cnnvis_monitor *m);
/* The statistics over training as plots, one line per conv layer, side by side:
   decorrelation, structure, mean filter norm and (with a probe) dead filters. */
CNNVIS_API cnnvis_result cnnvis_monitor_plot(cnnvis_image *out, const cnnvis_monitor *m);
/* The statistics as a table at path: one row per snapshot and conv layer, tab-separated.
   Atomic. */
CNNVIS_API cnnvis_result cnnvis_monitor_write_tsv(const char *path, const cnnvis_monitor *m);
CNNVIS_API void cnnvis_monitor_free(cnnvis_monitor *m);

/* ======================================================================================
   2  Analyse activations                                               >>s2_activations
   2a: "pick a neuron, record it for many images, show the images with the highest
   activation" - feature maps, top-k images and their receptive-field patches.
   2b: "quantify alignment with visual concepts" - Network Dissection (Bau et al. 2017):
   threshold each unit's map at its top 0.5% quantile, upsample it, and measure its IoU
   with every pixel-labelled concept.
   ====================================================================================== */

/* Zero means default: every channel its own min-max (shared 1: one range for the layer),
   grey (cmap), zoom to about 48 pixels a map, cols about square, every channel. */
typedef struct cnnvis_maps_desc {
    int shared;
    cnnvis_colormap cmap;
    int zoom;
    int cols;
    int max_maps;
} cnnvis_maps_desc;

/* Every channel of `layer`'s output for image `image` of the last forward pass, as one
   montage with the channel numbers as captions. */
CNNVIS_API cnnvis_result cnnvis_feature_maps_image(cnnvis_image *out, const cnnvis_net *net, const char *layer, int image,
                                                   const cnnvis_maps_desc *d);

/* One of a unit's best activations: its value, the image, and where in the map. */
typedef struct cnnvis_topk_hit {
    float value;
    int32_t image, y, x;
} cnnvis_topk_hit;

/* The top k images of every unit of a layer (a unit = a channel, scored by its maximum over
   positions; or a fully connected neuron). Ties go to the earlier image, then the earlier
   position. */
typedef struct cnnvis_topk {
    int layer, n_units, k;
    char layer_name[CNNVIS_NAME_LEN];
    int rf_size, rf_stride, rf_offset; /* the layer's receptive-field geometry (cnnvis_layer) */
    int in_h, in_w;                    /* the images' size */
    int *count;                        /* (n_units) hits found: k, or fewer for a small data set */
    cnnvis_topk_hit *hits;             /* (n_units, k) best first */
} cnnvis_topk;

/* Zero means default: k 9, all units, images in batches of the net's max_batch. */
typedef struct cnnvis_topk_desc {
    int k;
    int max_units;
    int batch;
} cnnvis_topk_desc;

/* Stream the data set through the net once, keeping a k-entry min-heap per unit: memory
   does not grow with the number of images. Free with cnnvis_topk_free. */
CNNVIS_API cnnvis_result cnnvis_topk_compute(cnnvis_topk *t, cnnvis_net *net, const char *layer, const cnnvis_dataset *ds,
                                             const cnnvis_topk_desc *d);
CNNVIS_API void cnnvis_topk_free(cnnvis_topk *t);
/* The lecture's "top-9 patches": one block of k patches per unit (3x3 for k = 9), units in
   a grid, each block captioned with the unit number; at most max_units units (0: 64).
   A patch is the unit's receptive field cut from its image: rf_size x rf_size pixels whose
   top-left is (rf_offset + y*rf_stride, rf_offset + x*rf_stride), the part outside the image
   (the padding the unit saw) drawn mid-grey. patches 0 shows the whole images instead. */
CNNVIS_API cnnvis_result cnnvis_topk_image(cnnvis_image *out, const cnnvis_topk *t, const cnnvis_dataset *ds, int max_units,
                                           int patches);

/* Network Dissection settings. Zero means default: quantile 0.005 (T_k is exceeded by
   0.5% of the unit's activations over every position of every image), IoU threshold 0.04
   for a detector, images in batches of the net's max_batch. */
typedef struct cnnvis_dissect_desc {
    float quantile;
    float iou_threshold;
    int batch;
} cnnvis_dissect_desc;

typedef struct cnnvis_dissect_unit {
    float threshold;    /* T_k */
    int category;       /* of its best concept */
    int concept;        /* its best concept (index within the category) */
    float iou;          /* IoU of that concept */
    int detector;       /* iou > the IoU threshold */
    int32_t top[8];     /* the images where the unit fires most (its maximum over positions), -1 if fewer */
} cnnvis_dissect_unit;

/* The dissection of one layer. IoU_{k,c} = |M_k n L_c| / |M_k u L_c| summed over the whole
   data set, M_k the unit's upsampled (bilinear) map above T_k, L_c the pixels labelled c. */
typedef struct cnnvis_dissection {
    int layer, n_units;
    char layer_name[CNNVIS_NAME_LEN];
    int n_categories, n_concepts;              /* the data set's categories and all their concepts */
    int offset[CNNVIS_MAX_CATEGORIES];         /* category c's concepts start at offset[c] in iou's rows */
    float quantile, iou_threshold;
    cnnvis_dissect_unit *units;                /* (n_units) */
    float *iou;                                /* (n_units, n_concepts) */
    int detectors[CNNVIS_MAX_CATEGORIES];      /* detector units whose best concept is of category c */
    int unique[CNNVIS_MAX_CATEGORIES];         /* distinct concepts among them */
} cnnvis_dissection;

/* Dissect n_layers layers (names) of net on ds, which must label its pixels with concepts
   (cnnvis_concepts_generate, or your own images and label maps). out is an array of
   n_layers. The data set is streamed twice through the net up to the deepest layer: the
   first stream counts each unit's activations in 65,536 bins, the second finds T_k exactly
   inside its bin and counts the intersections (units with heavy ties take one or two more,
   through the net up to their layer only).
   Memory does not grow with the number of images: the first stream keeps a histogram a
   unit (512 bytes for each octave its values reach), the later ones room for
   CNNVIS_DISSECT_CAP values and pixels a unit (128 KiB at the default 8192), allocated
   whatever the data set's size. Free each with cnnvis_dissection_free. */
CNNVIS_API cnnvis_result cnnvis_dissect(cnnvis_dissection *out, cnnvis_net *net, const char *const *layers, int n_layers,
                                        const cnnvis_dataset *ds, const cnnvis_dissect_desc *d);
CNNVIS_API void cnnvis_dissection_free(cnnvis_dissection *dis);
/* A table at path of every unit: layer, unit, concept, category, IoU, threshold, detector
   (TSV). Atomic. */
CNNVIS_API cnnvis_result cnnvis_dissection_write_tsv(const char *path, const cnnvis_dissection *dis, int n_layers,
                                                     const cnnvis_dataset *ds);
/* Unique detectors per category and layer as a bar chart (Bau et al., fig. 5). */
CNNVIS_API cnnvis_result cnnvis_dissection_plot(cnnvis_image *out, const cnnvis_dissection *dis, int n_layers,
                                                const cnnvis_dataset *ds);
/* The lecture's picture of one unit: its top images (up to 8) with the region above T_k
   outlined, captioned "conv5 unit 107 circle (object) IoU=0.15". Runs the images forward. */
CNNVIS_API cnnvis_result cnnvis_dissection_unit_image(cnnvis_image *out, cnnvis_net *net, const cnnvis_dissection *dis,
                                                      const cnnvis_dataset *ds, int unit);

/* ======================================================================================
   3  Deconvolutional networks                                            >>s3_deconvnet
   "Project activations back to pixel space" (Zeiler & Fergus 2014): keep one unit's
   activation, zero the rest, and go down layer by layer - unpooling through the forward
   pass's switches, un-ReLU (max(R, 0) on the signal), transposed convolution with the same
   filters. That is cnnvis_net_backward with CNNVIS_RELU_DECONVNET; these functions choose
   the signal, and draw it.
   Images here are pixels in [0, 1] with the net's input shape (1, C, H, W); the functions
   normalise them with the net's mean/std, and give results with respect to pixels.
   ====================================================================================== */

typedef enum cnnvis_project_mode {
    CNNVIS_PROJECT_UNIT_MAX = 0, /* the unit's strongest activation only (ties: the first) */
    CNNVIS_PROJECT_MAP = 1       /* the unit's whole map */
} cnnvis_project_mode;

/* Forward `pixels`, keep channel `unit` of `layer`'s output as mode says, zero everything
   else, and run the deconvnet down to the pixels. out (1, C, H, W) is created here; *y, *x
   (either may be NULL) receive the position kept (UNIT_MAX; -1 for MAP). */
CNNVIS_API cnnvis_result cnnvis_deconv_project(cnnvis_tensor *out, int *y, int *x, cnnvis_net *net,
                                               const cnnvis_tensor *pixels, const char *layer, int unit,
                                               cnnvis_project_mode mode);
/* The receptive field of position (y, x) of `layer` cut from a map (1, C, H, W) with the
   input's size: out (1, C, rf_size, rf_size) is created here, zero outside the map. */
CNNVIS_API cnnvis_result cnnvis_rf_crop(cnnvis_tensor *out, const cnnvis_net *net, const char *layer, const cnnvis_tensor *map,
                                        int y, int x);
/* The lecture's "top-9 patches" figure (Zeiler & Fergus 2014, fig. 2): per unit, the deconvnet
   projections of its top-k activations (each cropped to its receptive field, mapped around
   grey) beside the image patches. At most max_units units (0: 16). */
CNNVIS_API cnnvis_result cnnvis_topk_deconv_image(cnnvis_image *out, cnnvis_net *net, const cnnvis_topk *t,
                                                  const cnnvis_dataset *ds, int max_units);

/* ======================================================================================
   4  Saliency                                                              >>s4_saliency
   "Which pixels matter for the class?" - one backward pass of the unnormalised class score
   S_c (Simonyan et al. 2014), the three ReLU rules of the "Deconv net vs Saliency net"
   slide, class models by gradient ascent on the image, DeepDream, and the attribution
   methods students reach for next: Grad-CAM, SmoothGrad, integrated gradients, occlusion,
   t-SNE of the codes, and the sanity checks of Adebayo et al. 2018.
   ====================================================================================== */

typedef enum cnnvis_saliency_method {
    CNNVIS_SALIENCY_GRADIENT = 0,   /* dS_c/dI: the saliency net (Simonyan et al. 2014) */
    CNNVIS_SALIENCY_DECONVNET,      /* the same pass with un-ReLU: max(R, 0) */
    CNNVIS_SALIENCY_GUIDED,         /* guided backpropagation (Springenberg et al. 2015) */
    CNNVIS_SALIENCY_GRAD_X_INPUT,   /* I * dS_c/dI */
    CNNVIS_SALIENCY_SMOOTHGRAD,     /* mean gradient over noisy copies (Smilkov et al. 2017) */
    CNNVIS_SALIENCY_INTEGRATED,     /* integrated gradients (Sundararajan et al. 2017) */
    CNNVIS_SALIENCY_GRADCAM,        /* Grad-CAM (Selvaraju et al. 2017), upsampled: 1 channel */
    CNNVIS_SALIENCY_GUIDED_GRADCAM, /* guided backpropagation times Grad-CAM */
    CNNVIS_SALIENCY_OCCLUSION,      /* the drop of p(c) when a grey square covers the pixel
                                       (Zeiler & Fergus 2014, sec. 4.2): 1 channel */
    CNNVIS_SALIENCY_COUNT
} cnnvis_saliency_method;

/* "gradient", "deconvnet", "guided", "grad*input", "smoothgrad", "integrated", "grad-cam",
   "guided grad-cam", "occlusion". */
CNNVIS_API const char *cnnvis_saliency_name(cnnvis_saliency_method m);

/* Zero means default: SmoothGrad 50 copies with noise sigma 0.15 of the image's range;
   integrated gradients over 64 steps from a black image (all pixels 0); Grad-CAM at the last
   conv layer's activation (the ReLU after it); occlusion by a square of a quarter of the
   image's side (occlusion_size -1: no square at all), moved by half its side, of grey 0.5;
   noise seed 0. */
typedef struct cnnvis_saliency_desc {
    int smooth_n;
    float smooth_sigma;
    int ig_steps;
    const cnnvis_tensor *ig_baseline; /* pixels (1, C, H, W) */
    const char *cam_layer;
    int occlusion_size, occlusion_stride;
    float occlusion_value;
    uint64_t seed;
} cnnvis_saliency_desc;

/* The attribution of class cls for one image of pixels: out is created here, (1, C, H, W)
   per pixel and channel (signed; gradient methods are with respect to pixels in [0, 1]), or
   (1, 1, H, W) for GRADCAM and OCCLUSION. Dropout is off during the passes. */
CNNVIS_API cnnvis_result cnnvis_saliency(cnnvis_tensor *out, cnnvis_net *net, const cnnvis_tensor *pixels, int cls,
                                         cnnvis_saliency_method method, const cnnvis_saliency_desc *d);
/* Simonyan's map from an attribution: M(y, x) = max over channels of |A(c, y, x)|. map
   (1, 1, H, W) is created here. */
CNNVIS_API cnnvis_result cnnvis_saliency_map(cnnvis_tensor *map, const cnnvis_tensor *attribution);

/* Class model visualisation (Simonyan et al. 2014): argmax_I S_c(I) - l2 ||I||^2 by gradient
   ascent from the zero image (the mean image; plus noise of 0.01) in the net's normalised
   input space, with the optional regularisers of Yosinski et al. 2015. Or, with layer set, activation
   maximisation of a hidden unit: channel `unit` of a conv layer at its centre position,
   or neuron `unit` of a fully connected one. Zero means default: 200 steps of size 0.1
   (each step is scaled by the mean |gradient|), l2 0.01, no jitter, no blur (blur_every k:
   a Gaussian blur of blur_sigma, default 0.5 pixels, every k steps), no clipping
   (clip_norm / clip_contribution p in (0, 100): pixels whose norm / |contribution| is below
   the p-th percentile are set to the mean), no total variation, seed 0. */
typedef struct cnnvis_class_model_desc {
    int steps;
    float lr;
    float l2;
    int jitter;
    int blur_every;
    float blur_sigma;
    float clip_norm, clip_contribution;
    float tv;
    const char *layer;
    int unit;
    uint64_t seed;
} cnnvis_class_model_desc;

/* pixels (1, C, H, W) is created here: the image found, the mean added back (not clamped:
   show it with cnnvis_tensor_to_image, which maps its range). *score (may be NULL) gets the
   objective's final value without the regulariser: S_c, or the unit's activation. */
CNNVIS_API cnnvis_result cnnvis_class_model(cnnvis_tensor *pixels, float *score, cnnvis_net *net, int cls,
                                            const cnnvis_class_model_desc *d);

/* DeepDream: gradient ascent on 1/2 ||A_l||^2 (or of one channel) of a layer, at several
   scales (octaves). Images larger than the net's input are processed in tiles of the input's
   size, rolled by a random offset at every step so the seams move. Zero means default:
   the last conv layer's activation, all channels (one_channel 1: channel `channel` only),
   4 octaves of scale 1.4 (each octave at least the net's input size), 10 steps per octave of
   size 0.01 in pixels (each step scaled by the mean |gradient|), jitter of an eighth of the
   input's side, seed 0. */
typedef struct cnnvis_deepdream_desc {
    const char *layer;
    int one_channel, channel;
    int octaves;
    float octave_scale;
    int steps;
    float step;
    int jitter;
    uint64_t seed;
} cnnvis_deepdream_desc;

/* pixels (1, C, H, W), H and W at least the net's input size, is dreamed in place and kept
   in [0, 1]. *before and *after (may be NULL) get the objective summed over the tiles of the
   whole image, before and after. */
CNNVIS_API cnnvis_result cnnvis_deepdream(cnnvis_tensor *pixels, double *before, double *after, cnnvis_net *net,
                                          const cnnvis_deepdream_desc *d);

/* Every unit of a layer for images [begin, begin+n) of a data set: codes (n, units), units =
   the layer's C*H*W (the penultimate fully connected layer's for t-SNE). */
CNNVIS_API cnnvis_result cnnvis_net_codes(float *codes, cnnvis_net *net, const char *layer, const cnnvis_dataset *ds,
                                          int begin, int n);
/* Exact t-SNE (van der Maaten & Hinton 2008) of n points of dim values into y (n, 2):
   perplexity (0: 30), iterations (0: 1000), early exaggeration 12 for the first 250, momentum
   0.5 then 0.8, learning rate max(n / 12, 50) with gains. O(n^2) memory and time: a few
   thousand points. Deterministic for a seed. */
CNNVIS_API cnnvis_result cnnvis_tsne(float *y, const float *x, int n, int dim, float perplexity, int iterations,
                                     uint64_t seed);
/* The t-SNE map as a picture: each point's image (images[i] of ds) as a thumbnail at its place,
   framed in its class's colour, on a size x size canvas (0: 1024). */
CNNVIS_API cnnvis_result cnnvis_tsne_image(cnnvis_image *out, const float *y, int n, const cnnvis_dataset *ds,
                                           const int *images, int size);

/* Sanity checks (Adebayo et al. 2018): re-draw a layer's weights as at creation (Kaiming-
   uniform from `seed` at He et al.'s scale, init_scale ignored; zero biases), so that maps
   can be compared before and after. */
CNNVIS_API cnnvis_result cnnvis_net_randomize_layer(cnnvis_net *net, const char *layer, uint64_t seed);

/* ======================================================================================
   5  Adversarial noise                                                  >>s5_adversarial
   "Problem common to any discriminative method!" - a change of the pixels too small to see
   moves the class (Szegedy et al. 2014): box-constrained L-BFGS, the fast gradient sign
   method (Goodfellow et al. 2015), its iterated and projected form (Kurakin et al. 2017,
   Madry et al. 2018), fooling images grown from noise (Nguyen et al. 2015), robustness
   curves, transfer between nets, and adversarial training.
   Everything here works in PIXEL SPACE: images are pixels in [0, 1], budgets (eps) are in
   pixel units (8/255 is eight grey levels), and every adversarial image stays in [0, 1].
   The net's normalisation is applied inside, as in section 4.
   ====================================================================================== */

typedef enum cnnvis_attack_method {
    CNNVIS_ATTACK_FGSM = 0, /* x' = x + eps sign(dJ/dx): one step (Goodfellow et al. 2015) */
    CNNVIS_ATTACK_PGD,      /* `steps` such steps of size `step`, each projected back onto the
                               eps-ball around x and onto [0, 1] (Kurakin et al. 2017; Madry
                               et al. 2018) */
    CNNVIS_ATTACK_LBFGS     /* min c ||r||_2 + J(x + r, target) with x + r in [0, 1], by
                               box-constrained L-BFGS and a search over c (Szegedy et al.
                               2014); targeted only */
} cnnvis_attack_method;

typedef enum cnnvis_norm {
    CNNVIS_NORM_LINF = 0, /* max_i |r_i| <= eps: every pixel moves by at most eps */
    CNNVIS_NORM_L2 = 1    /* ||r||_2 <= eps over all pixels and channels of one image */
} cnnvis_norm;

/* An attack. J is the cross-entropy loss of the net's softmax. Untargeted attacks climb
   J(x', true class); targeted ones (targeted = 1) descend J(x', target). Zero means
   default:
     method FGSM, norm LINF, eps 8/255 (LINF) or 1.0 (L2), in pixel units;
     steps 10 (PGD; FGSM is always one step of size eps), step 2.5 eps / steps (Madry et al.);
     random_start 0 (1: start PGD at a uniform point of the eps-ball);
     seed 0 (random starts);
     L-BFGS: c_init 0.1, c_search 8 runs of L-BFGS to find the boundary value of c,
     lbfgs_iters 50 per run. eps, steps and step do not apply to L-BFGS (its perturbation
     is unbounded but for [0, 1]).
   A negative eps, step, steps, c_init, c_search or lbfgs_iters is refused (CNNVIS_ERR_ARG).*/
typedef struct cnnvis_attack_desc {
    cnnvis_attack_method method;
    cnnvis_norm norm;
    float eps;
    int steps;
    float step;
    int random_start;
    int targeted;
    int target;
    uint64_t seed;
    float c_init;
    int c_search;
    int lbfgs_iters;
} cnnvis_attack_desc;

/* Adversarial versions of n images of pixels (n, C, H, W), any n (done in batches of the
   net's max_batch; L-BFGS one image at a time). labels (n) are the true classes; NULL uses
   the net's own predictions (which avoids "label leaking", Kurakin et al. 2017). adv is
   created here with pixels' shape. predicted and confidence (n, may be NULL) get the class
   the net gives each adversarial image and its softmax probability. Dropout is off. Every
   adversarial image is in [0, 1] and, for FGSM and PGD, within eps of its image in the
   chosen norm (up to float rounding, ~1e-7 relative). */
CNNVIS_API cnnvis_result cnnvis_attack(cnnvis_tensor *adv, int32_t *predicted, float *confidence, cnnvis_net *net,
                                       const cnnvis_tensor *pixels, const int32_t *labels, const cnnvis_attack_desc *d);

/* Zero means default: from uniform noise in [0, 1] (seed 0), at most 500 steps of gradient
   ascent on log p(cls), each moving every pixel by `step` (1/255) in the sign of the
   gradient and clamping to [0, 1], stopping once p(cls) >= confidence (0.99). */
typedef struct cnnvis_fooling_desc {
    float confidence;
    int steps;
    float step;
    uint64_t seed;
} cnnvis_fooling_desc;

/* An image the net gives class cls with high confidence although it shows nothing (Nguyen et
   al. 2015, the gradient-ascent variant). pixels (1, C, H, W) is created here, in [0, 1];
   *p (may be NULL) gets p(cls) reached and *steps_taken (may be NULL) the steps used. */
CNNVIS_API cnnvis_result cnnvis_fooling_image(cnnvis_tensor *pixels, float *p, int *steps_taken, cnnvis_net *net, int cls,
                                              const cnnvis_fooling_desc *d);

/* The attack d run at each of n_eps budgets eps[k] (>= 0; 0 is the clean images) on the first
   n_images images of ds (0: all): accuracy[k] (share still classified as their label) and
   confidence[k] (mean softmax probability of the class predicted), either may be NULL.
   Images are attacked in batches of the net's max_batch. progress 1 draws a bar on stderr. */
CNNVIS_API cnnvis_result cnnvis_robustness_curve(float *accuracy, float *confidence, cnnvis_net *net,
                                                 const cnnvis_dataset *ds, int n_images, const cnnvis_attack_desc *d,
                                                 const float *eps, int n_eps, int progress);

/* Transfer (Szegedy et al. 2014, sec. 4.3; Papernot et al. 2016): adversarial images made on
   `source` for the first n_images images of ds (0: all), given to `target`. Among the images
   both nets classify correctly and whose adversarial version fools source, *rate gets the
   share that also fools target; *fooled_source (may be NULL) the share of all correctly
   classified images that fool source. */
CNNVIS_API cnnvis_result cnnvis_transfer_rate(float *rate, float *fooled_source, cnnvis_net *source, cnnvis_net *target,
                                              const cnnvis_dataset *ds, int n_images, const cnnvis_attack_desc *d);

/* The lecture's slide, one row per image: original | perturbation | adversarial. The first
   and last are captioned with the class the net gives and its probability ("star 97.1%"); the
   perturbation r = adv - pixels is averaged over channels and shown amplified, symmetric
   around grey on the diverging colormap (blue -, red +), captioned with its L-inf size in
   grey levels. pixels and adv are (n, C, H, W); tiles are enlarged zoom times (0: 3). */
CNNVIS_API cnnvis_result cnnvis_adversarial_image(cnnvis_image *out, cnnvis_net *net, const cnnvis_tensor *pixels,
                                                  const cnnvis_tensor *adv, int zoom, const char *title);

/* ======================================================================================
   B1  Appendix: fast kernels                                                >>b1_fast
   Nothing to call: a net picks the fastest kernels its CPU has (cnnvis_net_desc.kernels,
   CNNVIS_KERNELS=reference, CNNVIS_FORCE_REFERENCE) and splits its work over n_threads.
   ====================================================================================== */

/* ======================================================================================
   B2  Appendix: training and checkpoints                                 >>b2_training
   ====================================================================================== */

typedef enum cnnvis_lr_schedule {
    CNNVIS_LR_COSINE = 0, /* lr * (1 + cos(pi * step / total)) / 2 */
    CNNVIS_LR_STEP = 1,   /* lr * gamma^(epoch / step_epochs) */
    CNNVIS_LR_CONSTANT = 2
} cnnvis_lr_schedule;

/* How a gradient becomes a weight change (cnnvis_train_desc.optimizer). */
typedef enum cnnvis_optimizer {
    CNNVIS_OPTIM_SGD = 0, /* with momentum: v = mu v + g; w -= lr v */
    CNNVIS_OPTIM_ADAM = 1 /* Kingma & Ba 2015: a step per weight scaled by its own gradient's size */
} cnnvis_optimizer;

/* What the training callback sees. */
typedef struct cnnvis_train_stats {
    int epoch;          /* 1-based epoch being trained (or just finished) */
    int epochs;
    long long step;     /* optimiser steps so far */
    int end_of_epoch;   /* 1 once per epoch, after the evaluation */
    float lr;
    float train_loss;   /* mean loss of the epoch so far */
    float train_acc;    /* accuracy of the epoch so far (on augmented images) */
    float test_loss;    /* -1 if there is no test set or it is not the end of an epoch */
    float test_acc;
    int steps_per_epoch;
    double seconds;     /* since training started */
    double images_per_s;
} cnnvis_train_stats;

/* Called after every `callback_every` steps and at the end of each epoch; a non-zero return
   stops training (cnnvis_net_train then returns CNNVIS_OK). */
typedef int (*cnnvis_train_callback)(cnnvis_net *net, const cnnvis_train_stats *stats, void *user);

/* Training settings. Zero means default:
     epochs 10, batch 64 (<= net max_batch), lr 0.01, momentum 0.9, weight_decay 5e-4 (on
     weights, not biases), schedule COSINE, step_epochs = epochs/3, gamma 0.1, seed 0.
     warmup 0: the learning rate rises linearly over the first min(200, steps/10) steps
     (n: over n steps; -1: no warm-up), which keeps a deep net without normalisation
     layers from collapsing to one class in its first steps.
     dropout_ramp 0: dropout's probability rises linearly from 0 to each layer's p over the
     first half of the steps (curriculum dropout, Morerio et al. 2017: dropping units
     before they have learned anything only slows the start); n: over n steps; -1: p from
     the first step.
     crop_pad 0: no random crops (n: pad by n zeros, crop back at a random offset);
     flip 0: no horizontal flips (1: flip half the images; leave off for digits).
     progress 0: a one-line progress bar on stderr if stderr is a terminal; -1: never.
     callback NULL; callback_every 0: only at the end of each epoch.
     adversarial NULL: off. Otherwise adversarial training (section 5; Goodfellow et al.
     2015, Madry et al. 2018): in every batch, a share adversarial_share (0: 0.5; 1: all,
     as Madry et al.) of the images is replaced by the attack's adversarial versions,
     crafted against the net as it is at that step (FGSM or PGD; not L-BFGS).
     optimizer SGD (momentum as above); ADAM (Kingma & Ba 2015): lr 0 means 1e-3, beta1
     0.9, beta2 0.999, weight_decay 0 means none (torch.optim.Adam's defaults; a decay is
     added to the gradient as there), momentum unused. Adam's moments start from zero
     in each call (its bias correction counts this call's steps); the second moments,
     one float a weight, are allocated for the call and freed after it, outside the
     net's memory: they are needed only while training.                                */
typedef struct cnnvis_train_desc {
    int epochs;
    int batch;
    float lr, momentum, weight_decay;
    cnnvis_lr_schedule schedule;
    int step_epochs;
    float gamma;
    int warmup;
    int dropout_ramp;
    uint64_t seed;
    int crop_pad;
    int flip;
    int progress;
    cnnvis_train_callback callback;
    void *user;
    int callback_every;
    const cnnvis_attack_desc *adversarial;
    float adversarial_share;
    cnnvis_optimizer optimizer;
    float beta1, beta2;
} cnnvis_train_desc;

/* One SGD step on a batch: forward (with dropout), loss (in net->loss), backward, update of
   every weight with momentum and weight decay (PyTorch's rule: v = mu v + g + wd w;
   w -= lr v). x is normalised. Fails with CNNVIS_ERR_NUMERIC, naming the layer, if the
   input, a weight or the loss is not finite (the weights are then left unchanged). */
CNNVIS_API cnnvis_result cnnvis_net_train_step(cnnvis_net *net, const cnnvis_tensor *x, const int32_t *labels, float lr,
                                               float momentum, float weight_decay);
/* Train on `train` for desc->epochs, shuffling each epoch, evaluating on `test` (may be
   NULL) after each. Same net seed, same desc and same data give bit-identical weights,
   whatever the number of threads. Stops at the first step that fails: a non-finite
   training image (once normalised), weight, loss, gradient or update gives
   CNNVIS_ERR_NUMERIC with a message naming the epoch, the step and the layer (or the
   image); the weights are those after the last good step. */
CNNVIS_API cnnvis_result cnnvis_net_train(cnnvis_net *net, const cnnvis_dataset *train, const cnnvis_dataset *test,
                                          const cnnvis_train_desc *desc);

/* Evaluation results; free with cnnvis_eval_free. */
typedef struct cnnvis_eval {
    int n, n_classes;
    float accuracy;     /* share of images whose top score is their label */
    float loss;         /* mean cross-entropy */
    float *class_acc;   /* (n_classes) accuracy per true class (0 where a class has no images) */
    int32_t *confusion; /* (n_classes, n_classes): [true][predicted] counts */
} cnnvis_eval;

/* Evaluate (no dropout) on every image of ds. */
CNNVIS_API cnnvis_result cnnvis_net_evaluate(cnnvis_eval *ev, cnnvis_net *net, const cnnvis_dataset *ds);
CNNVIS_API void cnnvis_eval_free(cnnvis_eval *ev);

/* Checkpoints (byte layout in README.md, "Checkpoint format"). Save architecture, weights,
   class names, mean and std at path. Atomic: written to path.tmp, then renamed over path, so
   a failure never leaves a half-written file at path. Refuses (CNNVIS_ERR_NUMERIC, naming
   the layer, writing nothing) a net with a NaN or infinite weight or bias, so a bad net
   never overwrites the last good checkpoint. */
CNNVIS_API cnnvis_result cnnvis_net_save(const char *path, const cnnvis_net *net);
/* Load a checkpoint into a new net *out. runtime may be NULL; otherwise its max_batch,
   n_threads, kernels and seed are used. Refuses (CNNVIS_ERR_FORMAT, with a message) a wrong
   magic or version, a CRC mismatch, a truncated file, absurd sizes or weights that do not
   fit the architecture. */
CNNVIS_API cnnvis_result cnnvis_net_load(cnnvis_net **out, const char *path, const cnnvis_net_desc *runtime);
/* Load only the weights of a checkpoint into an existing net whose architecture must match
   layer by layer (kinds, names may differ, shapes must not). */
CNNVIS_API cnnvis_result cnnvis_net_load_weights(cnnvis_net *net, const char *path);

/* ======================================================================================
   B3  Appendix: file formats and data sets                                >>b3_formats
   ====================================================================================== */

/* Release what the data set owns (nothing for a view made by cnnvis_dataset_slice) and
   zero it. NULL is fine. */
CNNVIS_API void cnnvis_dataset_free(cnnvis_dataset *ds);
/* A view of images [begin, begin+count) (nothing copied). */
CNNVIS_API cnnvis_result cnnvis_dataset_slice(cnnvis_dataset *view, const cnnvis_dataset *ds, int begin, int count);
/* Images [begin, begin+count) of a data set as pixels in [0, 1]: pixels (count, C, H, W) is
   created here; labels (count, may be NULL) gets their classes. Give them to the lecture's
   functions as they are, or to cnnvis_net_forward after cnnvis_net_normalize, or draw them
   with cnnvis_tensor_to_image (CNNVIS_MAP_PIXELS). */
CNNVIS_API cnnvis_result cnnvis_dataset_pixels(cnnvis_tensor *pixels, int32_t *labels, const cnnvis_dataset *ds, int begin,
                                               int count);
/* Your own images and label maps as a data set for dissection: n image files (PNG, PPM,
   PGM) resized to w x h (area or bilinear), and for each a label map file (8-bit PGM or PNG,
   one concept index per pixel, 255 for unlabelled) resized by nearest neighbour, forming one
   category with n_concepts concepts named in concept_names. Labels are 0 (no class). */
CNNVIS_API cnnvis_result cnnvis_dataset_from_files(cnnvis_dataset *ds, const char *const *image_paths,
                                                   const char *const *label_paths, int n, int w, int h,
                                                   const char *category, const char *const *concept_names,
                                                   int n_concepts);

/* Read an IDX image file (MNIST / Fashion-MNIST: magic 0x00000803, n x rows x cols bytes)
   and its IDX label file (0x00000801), each plain or gzip-compressed (decided by content).
   Refuses truncated files, wrong magics, counts that disagree, labels > 254 and images
   larger than 4096 x 4096 or more than 2^28 pixels in all. */
CNNVIS_API cnnvis_result cnnvis_idx_load(cnnvis_dataset *ds, const char *images_path, const char *labels_path);
/* Read CIFAR-10 binary batches (each record: 1 label byte, then 1024 red, 1024 green, 1024
   blue bytes, rows top to bottom) from n_paths files into one data set, with the class
   names. Refuses a file whose size is not a whole number of records, labels above 9, and
   more than 100,000 images. */
CNNVIS_API cnnvis_result cnnvis_cifar10_load(cnnvis_dataset *ds, const char *const *paths, int n_paths);

#define CNNVIS_IMAGE_MAX_SIDE 16384          /* readers refuse larger images ... */
#define CNNVIS_IMAGE_MAX_PIXELS (1 << 26)    /* ... and more pixels than this */

/* A zeroed (black) image; c must be 1 or 3. Free with cnnvis_image_free. */
CNNVIS_API cnnvis_result cnnvis_image_create(cnnvis_image *im, int w, int h, int c);
CNNVIS_API void cnnvis_image_free(cnnvis_image *im);
/* Read a PPM (P3, P6), PGM (P2, P5), PNG or JPEG file, decided by its first bytes (not by
   the file name). PNM samples with maxval up to 65535 are scaled to 0..255; comments may
   stand wherever whitespace may (a comment ends a number); bytes after the raster are
   ignored (netpbm allows several images in one file). PNG: 8 or 16 bits, grey, RGB, palette,
   with or without alpha (alpha is dropped), not interlaced. JPEG (first bytes FF D8 FF):
   baseline and progressive Huffman, 8 bits, grey or YCbCr (or Adobe RGB), any sampling
   factors, restart markers; the pixels are djpeg's (libjpeg's integer IDCT and "fancy"
   chroma upsampling); the Exif orientation is applied (the image comes out upright, its
   w and h swapped for orientations 5-8); arithmetic coding, lossless, hierarchical, 12-bit
   and CMYK/YCCK files are refused (CNNVIS_ERR_UNSUPPORTED), as is a file that ends before
   its EOI marker. Refuses truncated data, bad magics, non-numeric or negative fields,
   maxval 0 or > 65535, samples above maxval, and images over the limits above (before
   allocating anything of their size). */
CNNVIS_API cnnvis_result cnnvis_image_read(cnnvis_image *im, const char *path);
/* Write im at path, by the file name's ending: .png (8-bit grey or RGB, compressed: per-row
   filters, then one fixed-Huffman deflate block), .ppm/.pgm/.pnm (binary, maxval 255);
   anything else is refused. Atomic (path.tmp, then rename). */
CNNVIS_API cnnvis_result cnnvis_image_write(const char *path, const cnnvis_image *im);
/* A photo as pixels (1, c, h, w) in [0, 1] (created here), ready for the lecture's functions:
   resize so that the shorter side fits (area when shrinking, bilinear when growing), take
   the centre, convert grey<->RGB if needed. */
CNNVIS_API cnnvis_result cnnvis_image_to_pixels(cnnvis_tensor *pixels, const cnnvis_image *im, int c, int h, int w);

/* ======================================================================================
   B4  Appendix: drawing kit and concept images                            >>b4_drawing
   What every visualisation ends with, and the built-in pixel-labelled images.
   ====================================================================================== */

typedef enum cnnvis_resize {
    CNNVIS_RESIZE_BILINEAR = 0, /* sample at pixel centres (align_corners = false) */
    CNNVIS_RESIZE_AREA = 1,     /* each output pixel averages the input area it covers */
    CNNVIS_RESIZE_NEAREST = 2   /* blocky: keeps small kernels and feature maps readable */
} cnnvis_resize;

/* dst (w x h, src's channels) = src resized; dst is created here. */
CNNVIS_API cnnvis_result cnnvis_image_resize(cnnvis_image *dst, const cnnvis_image *src, int w, int h,
                                             cnnvis_resize mode);
/* Resize a float plane (h, w) -> (dh, dw): the same arithmetic as for images, without
   rounding (used to bring activation maps up to the input's size). */
CNNVIS_API void cnnvis_plane_resize(float *dst, int dw, int dh, const float *src, int w, int h, cnnvis_resize mode);

typedef enum cnnvis_map_mode {
    CNNVIS_MAP_MINMAX = 0,  /* [min, max] of all channels -> [0, 1] */
    CNNVIS_MAP_CHANNEL,     /* each channel's own [min, max] -> [0, 1] */
    CNNVIS_MAP_SYMMETRIC,   /* [-m, m] -> [0, 1] with m = max |v|: zero is mid-grey (weights, gradients) */
    CNNVIS_MAP_PIXELS       /* values are pixels in [0, 1]: shown as they are, clamped */
} cnnvis_map_mode;

/* How cnnvis_tensor_to_image maps values to pixels. Zero means default: MINMAX, no clipping,
   GREY. clip_percentile p in (50, 100) clips the values beyond the p-th percentile first
   (of |v| for SYMMETRIC; for the min-max modes, below the (100-p)-th and above the p-th), so
   that a few extreme values do not wash out the rest. When max == min every pixel is 0.5. */
typedef struct cnnvis_map_desc {
    cnnvis_map_mode mode;
    float clip_percentile;
    cnnvis_colormap cmap; /* for one-channel tensors */
} cnnvis_map_desc;

/* Image i of t (c = 1 or 3 channels) as an 8-bit image: RGB for 3 channels, the colormap
   for 1. im is created here. */
CNNVIS_API cnnvis_result cnnvis_tensor_to_image(cnnvis_image *im, const cnnvis_tensor *t, int i,
                                                const cnnvis_map_desc *m);

/* Montage: tiles in a grid, each with an optional caption underneath. Zero means default:
   cols ceil(sqrt(n)), pad 2 pixels, background 32 grey (bg_grey 0 -> 32; -1 for black),
   text scale 1 (5x7 pixels a letter), no title (the picture widens to fit one). Tiles may
   differ in size (each is centred in its cell); a grey tile is drawn in colour. Captions
   longer than max_caption characters (default 24) are cut. */
typedef struct cnnvis_montage_desc {
    int cols;
    int pad;
    int bg_grey;
    int text_scale;
    int max_caption;
    const char *title;
} cnnvis_montage_desc;

/* n tiles into one picture *out (created here, RGB; the caller frees it), captions[i] under
   tile i (captions and any entry may be NULL); d may be NULL for the defaults above. */
CNNVIS_API cnnvis_result cnnvis_montage(cnnvis_image *out, const cnnvis_image *tiles, int n,
                                        const char *const *captions, const cnnvis_montage_desc *d);

/* Blend a heatmap onto an image: dst = (1 - alpha) * image + alpha * cmap(heat), heat (h, w)
   in [0, 1] at the image's size. dst is created here (RGB). */
CNNVIS_API cnnvis_result cnnvis_image_overlay(cnnvis_image *dst, const cnnvis_image *image, const float *heat,
                                              float alpha, cnnvis_colormap cmap);
/* Write text with the built-in 5x7 font (6 x 8 pixels per letter at scale 1) with its top-left
   at (x, y); clipped at the borders; '\n' starts a new line. */
CNNVIS_API void cnnvis_image_text(cnnvis_image *im, int x, int y, const char *text, const unsigned char rgb[3],
                                  int scale);
/* Fill the w x h rectangle at (x, y), and draw a line from (x0, y0) to (x1, y1); both
   clipped at the borders. */
CNNVIS_API void cnnvis_image_fill(cnnvis_image *im, int x, int y, int w, int h, const unsigned char rgb[3]);
CNNVIS_API void cnnvis_image_line(cnnvis_image *im, int x0, int y0, int x1, int y1, const unsigned char rgb[3]);

/* One series of a plot: n points (x[i], y[i]); x may be NULL for 0, 1, ..., n-1. Bar charts
   use y[i] as the height of category i. rgb all zero picks a colour from a palette. */
typedef struct cnnvis_series {
    const char *name;
    const float *x;
    const float *y;
    int n;
    unsigned char rgb[3];
} cnnvis_series;

/* A line plot with axes, ticks, labels and a legend. Zero means default: 640 x 400 pixels,
   the y range from the data (ymin == ymax == 0), no title or labels. categories (bar charts
   only, as cnnvis_dissection_plot draws) names each group on the x axis. */
typedef struct cnnvis_plot_desc {
    int w, h;
    const char *title, *xlabel, *ylabel;
    const cnnvis_series *series;
    int n_series;
    float ymin, ymax;
    const char *const *categories;
    int n_categories;
} cnnvis_plot_desc;

/* Draw d's series as lines (points joined in order) into *out (created here, RGB; the caller
   frees it). Non-finite points are left out. */
CNNVIS_API cnnvis_result cnnvis_plot_lines(cnnvis_image *out, const cnnvis_plot_desc *d);
/* A matrix (rows, cols) as a grid of cells coloured by value (viridis over [0, max]) with
   the value written in each cell ("%.*f" with `decimals`) and the row and column names
   beside it: a confusion matrix, a table of IoUs. Names may be NULL. */
CNNVIS_API cnnvis_result cnnvis_plot_matrix(cnnvis_image *out, const float *values, int rows, int cols,
                                            const char *const *row_names, const char *const *col_names,
                                            const char *title, int decimals);
/* A label map (h, w) of indices as an RGB image: index k gets colour k of a categorical
   palette (12 colours, repeating), 255 (unlabelled) black. */
CNNVIS_API cnnvis_result cnnvis_labels_to_image(cnnvis_image *out, const unsigned char *labels, int w, int h);

/* --- Built-in concept images (Network Dissection's pixel-labelled data, generated) -------
   Each image shows one main object whose shape is its class (circle, square, triangle,
   cross, star, ring, crescent, heart, arrow, tee) at a random position, size and rotation,
   on a background, sometimes with a smaller distractor object behind it, plus mild noise.
   Colour and texture are drawn independently of the class, for the object and for the
   background: 11 colour names (those of van de Weijer et al.'s colour naming, which
   Broden uses: black, blue, brown, grey, green, orange, pink, purple, red, white, yellow)
   and 7 textures (plain, horizontal, vertical and diagonal stripes, checker, dots, noise);
   a textured region alternates two shades of its colour. Every pixel carries three labels:
   object (background or a shape), colour (the name of the colour painted there, before
   noise) and texture. Rotations stay within +-28 degrees. All arithmetic is integer, so a
   seed gives the same bytes on every platform. */
#define CNNVIS_CONCEPT_CLASSES 10
enum { CNNVIS_CAT_OBJECT = 0, CNNVIS_CAT_COLOUR = 1, CNNVIS_CAT_TEXTURE = 2 };

/* Zero means default: size 32 (16..128), noise 8 (standard deviation in 0..255 pixel levels;
   -1 for none), distractor 50 (percent of images with a distractor; -1 for none). */
typedef struct cnnvis_concepts_desc {
    int n;          /* images (>= 1) */
    int size;
    uint64_t seed;
    int noise;
    int distractor;
} cnnvis_concepts_desc;

/* Generate n images with their class labels (balanced: every 10 consecutive images hold each
   class once) and their three concept maps. Free with cnnvis_dataset_free. Concept names are
   in ds->concept_names, category names in ds->category_names. */
CNNVIS_API cnnvis_result cnnvis_concepts_generate(cnnvis_dataset *ds, const cnnvis_concepts_desc *d);
/* rgb = a built-in colour concept (0..10) before noise: shade 0, or shade 1, the second
   shade a texture alternates with it. */
CNNVIS_API void cnnvis_concepts_colour(unsigned char rgb[3], int colour, int shade);

#ifdef __cplusplus
}
#endif
#endif /* CNNVIS_H */

/* IDEs grey out code they think is disabled: show them the implementation. */
#if defined(__INTELLISENSE__) || defined(__CDT_PARSER__) || defined(Q_CREATOR_RUN)
#ifndef CNNVIS_IMPLEMENTATION
#define CNNVIS_IMPLEMENTATION
#endif
#endif

#ifdef CNNVIS_IMPLEMENTATION
#ifndef CNNVIS_IMPLEMENTATION_DONE
#define CNNVIS_IMPLEMENTATION_DONE

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h> /* stat: is a path a regular file? */
#include <sys/time.h> /* gettimeofday: visible even under -std=c99, unlike clock_gettime */
#include <unistd.h>   /* isatty, sysconf */

#if defined(CNNVIS_MALLOC) && !defined(CNNVIS_FREE) || !defined(CNNVIS_MALLOC) && defined(CNNVIS_FREE)
#error "cnnvis.h: define both CNNVIS_MALLOC and CNNVIS_FREE, or neither"
#endif
#ifndef CNNVIS_MALLOC
#define CNNVIS_MALLOC(sz) malloc(sz)
#define CNNVIS_FREE(p) free(p)
#endif
/* Every byte the library writes to a file passes through here, so a test can make a write
   fail part-way (tests/test_faults.c) and check that the old file survives. */
#ifndef CNNVIS_FWRITE
#define CNNVIS_FWRITE(ptr, size, n, f) fwrite(ptr, size, n, f)
#endif
#ifndef CNNVIS_ASSERT
#include <assert.h>
#define CNNVIS_ASSERT(c) assert(c)
#endif

#if defined(CNNVIS_STATIC) && (defined(__GNUC__) || defined(__clang__))
#define CNNVIS__DEF static __attribute__((unused)) /* a file may use only some of them */
#elif defined(CNNVIS_STATIC)
#define CNNVIS__DEF static
#else
#define CNNVIS__DEF
#endif

#ifdef CNNVIS_NO_SIMD
#ifndef CNNVIS_NO_AVX2
#define CNNVIS_NO_AVX2
#endif
#ifndef CNNVIS_NO_NEON
#define CNNVIS_NO_NEON
#endif
#endif
#ifdef CNNVIS_FORCE_REFERENCE
#ifndef CNNVIS_NO_AVX2
#define CNNVIS_NO_AVX2
#endif
#ifndef CNNVIS_NO_NEON
#define CNNVIS_NO_NEON
#endif
#endif

/* AVX2+FMA kernels: compiled with a target attribute so that a plain `cc -O2` build has them,
   and chosen at run time by a CPU check; with -mavx2 -mfma they are chosen at compile time. */
#if !defined(CNNVIS_NO_AVX2) && (defined(__x86_64__) || defined(_M_X64)) && \
    (defined(__GNUC__) || defined(__clang__))
#define CNNVIS__HAVE_AVX2 1
#include <immintrin.h>
#define CNNVIS__AVX2_FN __attribute__((target("avx2,fma")))
#define CNNVIS__AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) inline /* GCC leaves `inline` alone */
#else
#define CNNVIS__HAVE_AVX2 0
#endif
#if !defined(CNNVIS_NO_NEON) && (defined(__aarch64__) || defined(_M_ARM64)) && defined(__ARM_NEON)
#define CNNVIS__HAVE_NEON 1
#include <arm_neon.h>
#else
#define CNNVIS__HAVE_NEON 0
#endif

#ifndef CNNVIS_NO_THREADS
#include <pthread.h>
#endif

#if defined(__cplusplus) && __cplusplus >= 201103L
#define CNNVIS__TLS thread_local
#elif defined(_MSC_VER)
#define CNNVIS__TLS __declspec(thread)
#elif defined(__GNUC__) || defined(__clang__)
#define CNNVIS__TLS __thread
#else
#define CNNVIS__TLS /* no thread-local storage: one message for all threads */
#endif

#define CNNVIS__MIN(a, b) ((a) < (b) ? (a) : (b))
#define CNNVIS__MAX(a, b) ((a) > (b) ? (a) : (b))
/* Zero means default (sokol's _sg_def). */
#define CNNVIS__DEF_VAL(v, d) ((v) == 0 ? (d) : (v))
#define CNNVIS__ALIGN 64
#define CNNVIS__MAX_THREADS 256
#define CNNVIS__MAX_BATCH 65536

/* A parser's entry point from memory that the library itself does not call (its files go
   through the readers), kept for the tests and the fuzzers. */
#if defined(__GNUC__) || defined(__clang__)
#define CNNVIS__TESTED static __attribute__((unused))
#else
#define CNNVIS__TESTED static
#endif

/* A worker over items [begin, end) of a job: what cnnvis__parallel_for splits across
   threads, and what the serial path calls with [0, n). */
typedef void (*cnnvis__range_fn)(void *args, int begin, int end);
/* 0 on the calling thread, 1..n_threads-1 on the pool's workers: picks each thread's scratch. */
static CNNVIS__TLS int cnnvis__thread_index;
/* The arguments of the layers' kernels (A2), named here so that the declarations below can
   use them. */
typedef struct cnnvis__conv_args cnnvis__conv_args;
typedef struct cnnvis__fc_args cnnvis__fc_args;
/* The appendices' functions used before they are defined: what the core and sections 1-5
   take from B1-B4 (so that the appendices can come after the lecture), and what an appendix
   takes from a later one. */
/* B1: the kernels behind each layer, chosen for the CPU, and the thread pool that splits them */
static void cnnvis__conv2d_backward_data_simd(cnnvis__conv_args *a, cnnvis_kernels kernels);
static void cnnvis__conv2d_backward_weights_simd(cnnvis__conv_args *a, cnnvis_kernels kernels);
static void cnnvis__conv2d_forward_simd(cnnvis__conv_args *a, cnnvis_kernels kernels);
static void cnnvis__fc_backward_data_simd(cnnvis_net *net, cnnvis__fc_args *a);
static void cnnvis__fc_backward_weights_simd(cnnvis_net *net, cnnvis__fc_args *a);
static void cnnvis__fc_forward_simd(cnnvis_net *net, cnnvis__fc_args *a);
static const char *cnnvis__kernels_name(cnnvis_kernels k);
static cnnvis__range_fn cnnvis__maxpool_forward_select(cnnvis_kernels k);
static cnnvis_result cnnvis__net_set_kernels(cnnvis_net *net, cnnvis_kernels k);
static int cnnvis__online_cpus(void);
static void cnnvis__parallel_for(struct cnnvis_pool *pool, int n, cnnvis__range_fn fn, void *args);
static cnnvis_result cnnvis__pool_create(struct cnnvis_pool **out, int n_threads);
static void cnnvis__pool_free(struct cnnvis_pool *pool);
static cnnvis__range_fn cnnvis__relu_backward_select(cnnvis_kernels k);
static cnnvis__range_fn cnnvis__relu_forward_select(cnnvis_kernels k);
static size_t cnnvis__scratch_need(const cnnvis_net *net);
/* B2: training */
static void cnnvis__progress_bar(const char *label, double fraction, const char *detail, double eta, int end_line);
/* B3: files and data sets */
static cnnvis_result cnnvis__check_dataset(const char *fn, const cnnvis_dataset *ds, const cnnvis_net *net);
static cnnvis_result cnnvis__dataset_batch(const cnnvis_dataset *ds, int begin, int count, const cnnvis_net *net,
                                               cnnvis_tensor *x, int32_t *labels);
static cnnvis_result cnnvis__dataset_image(cnnvis_image *im, const cnnvis_dataset *ds, int i);
static void cnnvis__dataset_pixels(float *dst, int32_t *labels, const cnnvis_dataset *ds, int begin, int m);
static cnnvis_result cnnvis__file_read(const char *path, size_t max_size, unsigned char **out, size_t *size);
static cnnvis_result cnnvis__file_write(const char *path, const void *data, size_t size);
static void cnnvis__load_image(float *dst, const cnnvis_dataset *ds, int index, const cnnvis_net *net, int dy, int dx,
                               int flip);
/* B4: the drawing kit */
static const unsigned char *cnnvis__category_rgb(int k);
static void cnnvis__colormap_rgb(cnnvis_colormap cmap, float v, unsigned char rgb[3]);
static cnnvis_result cnnvis__dataset_alloc(cnnvis_dataset *ds, int n, int c, int h, int w, int n_classes, int n_categories);
static const char *cnnvis__dataset_concept_name(const cnnvis_dataset *ds, int category, int index);
static cnnvis_result cnnvis__image_crop(cnnvis_image *dst, const cnnvis_image *src, int x, int y, int w, int h);
static cnnvis_result cnnvis__image_outline(cnnvis_image *im, const unsigned char *mask, const unsigned char rgb[3]);
static void cnnvis__image_paste(cnnvis_image *dst, const cnnvis_image *src, int x, int y);
static void cnnvis__map_range(const float *v, size_t n, size_t stride, const cnnvis_map_desc *m, float *lo, float *hi);
static float cnnvis__map_value(float v, float lo, float hi);
static float cnnvis__percentile(const float *v, size_t n, size_t stride, float p, int absolute);
static cnnvis_result cnnvis__plane_to_image(cnnvis_image *im, const float *plane, int w, int h, const cnnvis_map_desc *m);
static cnnvis_result cnnvis__planes_to_image(cnnvis_image *im, const float *data, int c, int w, int h, const cnnvis_map_desc *md);
static cnnvis_result cnnvis__plot_bars(cnnvis_image *out, const cnnvis_plot_desc *d);

/* ======================================================================================
   A1  Tensors, errors, RNG                                                    >>a1_tensor
   float32 NCHW arrays, the one error path, a random generator the same on every platform
   ====================================================================================== */

/* --- Errors --------------------------------------------------------------------------- */

static CNNVIS__TLS char cnnvis__error_msg[640];

/* Record a failure and return its code: every failure of the library comes through here,
   as `return CNNVIS__FAIL(code, "format", ...)`. */
static cnnvis_result cnnvis__fail(cnnvis_result code, const char *file, int line, const char *fmt, ...)
{
    const char *base = strrchr(file, '/');
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    snprintf(cnnvis__error_msg, sizeof cnnvis__error_msg, "%s (%s:%d)", text,
             base ? base + 1 : file, line);
#ifdef CNNVIS_BREAK_ON_ERROR
    CNNVIS_ASSERT(!"cnnvis error raised; see cnnvis__error_msg");
#endif
    return code;
}
#define CNNVIS__FAIL(code, ...) cnnvis__fail((code), __FILE__, __LINE__, __VA_ARGS__)

/* Put context before the message a callee left ("cnnvis_net_train, epoch 3 of 10: ..."),
   keeping the callee's file:line; returns code unchanged. */
static cnnvis_result cnnvis__fail_context(cnnvis_result code, const char *fmt, ...)
{
    char prefix[160], callee[sizeof cnnvis__error_msg];
    size_t np, nc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(callee, cnnvis__error_msg, sizeof callee);
    np = strlen(prefix), nc = strlen(callee);
    if (nc > sizeof cnnvis__error_msg - np - 3) nc = sizeof cnnvis__error_msg - np - 3; /* the callee's tail is cut */
    memcpy(cnnvis__error_msg, prefix, np);
    memcpy(cnnvis__error_msg + np, ": ", 2);
    memcpy(cnnvis__error_msg + np + 2, callee, nc);
    cnnvis__error_msg[np + 2 + nc] = 0;
    return code;
}
#define CNNVIS__TRY(expr)                   \
    do {                                    \
        cnnvis_result try_r_ = (expr);      \
        if (try_r_ != CNNVIS_OK) return try_r_; \
    } while (0)

CNNVIS__DEF const char *cnnvis_result_str(cnnvis_result r)
{
    switch (r) {
    case CNNVIS_OK: return "CNNVIS_OK";
    case CNNVIS_ERR_ARG: return "CNNVIS_ERR_ARG";
    case CNNVIS_ERR_NOMEM: return "CNNVIS_ERR_NOMEM";
    case CNNVIS_ERR_IO: return "CNNVIS_ERR_IO";
    case CNNVIS_ERR_FORMAT: return "CNNVIS_ERR_FORMAT";
    case CNNVIS_ERR_UNSUPPORTED: return "CNNVIS_ERR_UNSUPPORTED";
    case CNNVIS_ERR_NUMERIC: return "CNNVIS_ERR_NUMERIC";
    }
    return "CNNVIS_ERR_(unknown)";
}

CNNVIS__DEF const char *cnnvis_last_error(void) { return cnnvis__error_msg; }
CNNVIS__DEF void cnnvis_clear_error(void) { cnnvis__error_msg[0] = 0; }

/* --- Memory --------------------------------------------------------------------------- */

/* a*b without overflow of size_t? (stb's stbi__mul2sizes_valid) */
static int cnnvis__mul_ok(size_t a, size_t b) { return b == 0 || a <= (size_t)-1 / b; }

/* Every allocation is zeroed: runs stay deterministic and valgrind stays quiet. */
static void *cnnvis__alloc(size_t size)
{
    void *p = size ? CNNVIS_MALLOC(size) : NULL;
    if (p) memset(p, 0, size);
    return p;
}

static void cnnvis__free(void *p)
{
    if (p) CNNVIS_FREE(p);
}

static size_t cnnvis__align_up(size_t x) { return (x + CNNVIS__ALIGN - 1) & ~(size_t)(CNNVIS__ALIGN - 1); }

static double cnnvis__now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
}

static void cnnvis__copy_name(char *dst, size_t size, const char *src)
{
    size_t len = src ? strlen(src) : 0;
    if (len >= size) len = size - 1;
    if (len) memcpy(dst, src, len);
    dst[len] = 0;
}

/* --- Tensors -------------------------------------------------------------------------- */

CNNVIS__DEF cnnvis_result cnnvis_tensor_create(cnnvis_tensor *t, int n, int c, int h, int w)
{
    size_t count;
    if (!t) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_tensor_create: t is NULL");
    memset(t, 0, sizeof *t);
    if (n < 1 || c < 1 || h < 1 || w < 1)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_tensor_create: shape (%d, %d, %d, %d) has a size < 1", n, c, h, w);
    count = (size_t)n;
    if (!cnnvis__mul_ok(count, (size_t)c) || !cnnvis__mul_ok(count *= (size_t)c, (size_t)h) ||
        !cnnvis__mul_ok(count *= (size_t)h, (size_t)w) || !cnnvis__mul_ok(count *= (size_t)w, sizeof(float)))
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_tensor_create: shape (%d, %d, %d, %d) overflows memory", n, c, h, w);
    t->data = (float *)cnnvis__alloc(count * sizeof(float));
    if (!t->data) return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_tensor_create: out of memory for %zu floats", count);
    t->n = n, t->c = c, t->h = h, t->w = w, t->owner = 1;
    return CNNVIS_OK;
}

CNNVIS__DEF void cnnvis_tensor_free(cnnvis_tensor *t)
{
    if (!t) return;
    if (t->owner) cnnvis__free(t->data);
    memset(t, 0, sizeof *t);
}

CNNVIS__DEF cnnvis_tensor cnnvis_tensor_wrap(float *data, int n, int c, int h, int w)
{
    cnnvis_tensor t;
    t.n = n, t.c = c, t.h = h, t.w = w, t.data = data, t.owner = 0;
    return t;
}

CNNVIS__DEF size_t cnnvis_tensor_count(const cnnvis_tensor *t)
{
    return t ? (size_t)t->n * t->c * t->h * t->w : 0;
}

/* Elements the helpers below may touch: none for a NULL tensor or one without data. */
static size_t cnnvis__elems(const cnnvis_tensor *t) { return t && t->data ? cnnvis_tensor_count(t) : 0; }

static int cnnvis__tensor_same_shape(const cnnvis_tensor *a, const cnnvis_tensor *b)
{
    return a && b && a->n == b->n && a->c == b->c && a->h == b->h && a->w == b->w;
}

static cnnvis_result cnnvis__check_pair(const char *fn, const cnnvis_tensor *a, const cnnvis_tensor *b)
{
    if (!a || !b || !a->data || !b->data) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: NULL tensor", fn);
    if (!cnnvis__tensor_same_shape(a, b))
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: shapes (%d, %d, %d, %d) and (%d, %d, %d, %d) differ", fn, a->n, a->c,
                            a->h, a->w, b->n, b->c, b->h, b->w);
    return CNNVIS_OK;
}

CNNVIS__DEF cnnvis_stats cnnvis_tensor_stats(const cnnvis_tensor *t)
{
    cnnvis_stats st;
    size_t i, count = cnnvis__elems(t), finite = 0;
    double sum = 0;
    float lo = FLT_MAX, hi = -FLT_MAX;
    memset(&st, 0, sizeof st);
    for (i = 0; i < count; i++) {
        float v = t->data[i];
        if (v < lo) lo = v; /* NaN compares false: ignored */
        if (v > hi) hi = v;
        if (v == 0) st.zeros++;
        if (isfinite(v)) sum += v, finite++;
    }
    if (lo > hi) lo = hi = 0; /* empty, or all NaN */
    st.min = lo, st.max = hi, st.count = count;
    st.nonfinite = count - finite;
    st.mean = finite ? sum / (double)finite : 0;
    return st;
}

CNNVIS__DEF void cnnvis_tensor_print(const cnnvis_tensor *t, const char *name, int max_values)
{
    cnnvis_stats st = cnnvis_tensor_stats(t);
    size_t i;
    if (!t) {
        printf("%s: NULL\n", name ? name : "tensor");
        return;
    }
    printf("%s (%d, %d, %d, %d): min %g max %g mean %g, zeros %zu of %zu, nonfinite %zu\n", name ? name : "tensor", t->n, t->c,
           t->h, t->w, st.min, st.max, st.mean, st.zeros, st.count, st.nonfinite);
    if (max_values <= 0) max_values = 8;
    printf("  [");
    for (i = 0; i < st.count && i < (size_t)max_values; i++) printf(i ? " %g" : "%g", t->data[i]);
    printf("%s]\n", st.count > (size_t)max_values ? " ..." : "");
}

/* --- RNG: xoshiro256** (Blackman & Vigna), seeded by splitmix64 ----------------------- */

static uint64_t cnnvis__splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void cnnvis__rng_seed(cnnvis_rng *rng, uint64_t seed)
{
    int i;
    if (!rng) return;
    for (i = 0; i < 4; i++) rng->s[i] = cnnvis__splitmix64(&seed);
}

static uint64_t cnnvis__rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t cnnvis__rng_u64(cnnvis_rng *rng)
{
    uint64_t *s, result, t;
    if (!rng) return 0;
    s = rng->s;
    result = cnnvis__rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3];
    s[2] ^= t;
    s[3] = cnnvis__rotl(s[3], 45);
    return result;
}

static uint32_t cnnvis__rng_below(cnnvis_rng *rng, uint32_t n)
{
    /* Reject the top sliver of the 32-bit range that does not divide evenly by n. */
    uint32_t threshold, r;
    if (!rng || n == 0) return 0;
    threshold = (uint32_t)(0u - n) % n;
    do r = (uint32_t)(cnnvis__rng_u64(rng) >> 32);
    while (r < threshold);
    return r % n;
}

static float cnnvis__rng_uniform(cnnvis_rng *rng)
{
    return (float)(cnnvis__rng_u64(rng) >> 40) * (1.0f / 16777216.0f);
}

/* ln(x) for x > 0 with only frexp, + * /: the same bits wherever IEEE 754 doubles are.
   ln(m 2^e) = e ln2 + 2 atanh((m-1)/(m+1)), the series converging fast for m near 1. */
static double cnnvis__log(double x)
{
    int e, k;
    double m = frexp(x, &e), t, t2, term, sum = 0;
    if (m < 0.70710678118654752) m *= 2, e--;
    t = (m - 1) / (m + 1), t2 = t * t, term = t;
    for (k = 1; k < 40; k += 2) sum += term / k, term *= t2;
    return 2 * sum + e * 0.69314718055994530942;
}

static float cnnvis__rng_normal(cnnvis_rng *rng)
{
    double u, v, s;
    if (!rng) return 0;
    do {
        u = 2.0 * ((double)(cnnvis__rng_u64(rng) >> 11) * (1.0 / 9007199254740992.0)) - 1.0;
        v = 2.0 * ((double)(cnnvis__rng_u64(rng) >> 11) * (1.0 / 9007199254740992.0)) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    return (float)(u * sqrt(-2.0 * cnnvis__log(s) / s));
}

/* ======================================================================================
   A2  Layers: the reference forward and backward of each                      >>a2_layers
   plain loops that spell out each formula: the specification the fast kernels must match
   ====================================================================================== */

/* Each layer reads its input x (the layer below's output), writes y, and on the way back
   turns dy (the gradient w.r.t. y) into dx and, for conv and fc, adds dw and db.
   Every loop is a worker over a range of independent items (images, planes, output
   channels) so that cnnvis__parallel_for can split it across threads. These reference
   kernels are the specification; the AVX2 and NEON kernels of B1 compute the same. */

/* Geometry of one convolution: input (N, IC, IH, IW), weights (OC, IC/G, K, K), output
   (N, OC, OH, OW), OH = (IH + 2P - K)/S + 1. */
typedef struct cnnvis__conv_geom {
    int n, ic, ih, iw, oc, oh, ow;
    int k, s, p, groups;
} cnnvis__conv_geom;

struct cnnvis__conv_args {
    cnnvis__conv_geom g;
    float *y;        /* (N, OC, OH, OW) forward output */
    float *dx;       /* (N, IC, IH, IW) input gradient */
    float *dw, *db;  /* (OC, IC/G, K, K), (OC) parameter gradients */
    const float *x;  /* (N, IC, IH, IW) input */
    const float *dy; /* (N, OC, OH, OW) output gradient */
    const float *w;  /* (OC, IC/G, K, K) */
    const float *b;  /* (OC) or NULL */
    float *scratch;  /* fast kernels: packed operands */
    struct cnnvis_pool *pool;
    int n_threads, max_batch;
    int sparse_ok;   /* backward data may scatter a sparse dY (cnnvis__conv_sparse_dx) */
    int im2col_only; /* forward by im2col even where cnnvis__conv_implicit applies (tests) */
};

/* --- Convolution, reference ------------------------------------------------------------ */

/* y[n][oc][oy][ox] = b[oc] + sum over icg, ky, kx of
       w[oc][icg][ky][kx] * x[n][group*ICg + icg][oy*S - P + ky][ox*S - P + kx]
   with x = 0 outside the image and group = oc / OCg (each group of OCg = OC/G output
   channels sees only its own ICg = IC/G input channels). Items: (n, oc) planes. */
static void cnnvis__conv2d_forward__reference(void *p, int begin, int end)
{
    const cnnvis__conv_args *a = (const cnnvis__conv_args *)p;
    const cnnvis__conv_geom *g = &a->g;
    int ic_per_group = g->ic / g->groups, oc_per_group = g->oc / g->groups;
    int item;
    for (item = begin; item < end; item++) {
        int n = item / g->oc;              /* image */
        int oc = item % g->oc;             /* output channel */
        int group = oc / oc_per_group;     /* the input channels oc sees */
        int oy, ox;                        /* output row, column */
        for (oy = 0; oy < g->oh; oy++) {
            for (ox = 0; ox < g->ow; ox++) {
                float acc = a->b ? a->b[oc] : 0.0f;
                int icg, ky, kx;           /* input channel within the group, kernel row, column */
                for (icg = 0; icg < ic_per_group; icg++) {
                    int ic = group * ic_per_group + icg;
                    for (ky = 0; ky < g->k; ky++) {
                        int iy = oy * g->s - g->p + ky;
                        if (iy < 0 || iy >= g->ih) continue;
                        for (kx = 0; kx < g->k; kx++) {
                            int ix = ox * g->s - g->p + kx;
                            if (ix < 0 || ix >= g->iw) continue;
                            acc += a->w[((size_t)(oc * ic_per_group + icg) * g->k + ky) * g->k + kx] *
                                   a->x[(((size_t)n * g->ic + ic) * g->ih + iy) * g->iw + ix];
                        }
                    }
                }
                a->y[(((size_t)n * g->oc + oc) * g->oh + oy) * g->ow + ox] = acc;
            }
        }
    }
}

/* The lecture's "transpose convolution", R_{l-1} = conv(R_l, W^T):
   dx[n][ic][iy][ix] = sum over the oc of ic's group and ky, kx such that
       oy = (iy + P - ky) / S and ox = (ix + P - kx) / S are whole numbers inside the output,
   of w[oc][icg][ky][kx] * dy[n][oc][oy][ox]. Items: (n, ic) planes. */
static void cnnvis__conv2d_backward_data__reference(void *p, int begin, int end)
{
    const cnnvis__conv_args *a = (const cnnvis__conv_args *)p;
    const cnnvis__conv_geom *g = &a->g;
    int ic_per_group = g->ic / g->groups, oc_per_group = g->oc / g->groups;
    int item;
    for (item = begin; item < end; item++) {
        int n = item / g->ic;              /* image */
        int ic = item % g->ic;             /* input channel */
        int group = ic / ic_per_group;
        int icg = ic % ic_per_group;       /* its index within the group's weights */
        int iy, ix;                        /* input row, column */
        for (iy = 0; iy < g->ih; iy++) {
            for (ix = 0; ix < g->iw; ix++) {
                float acc = 0.0f;
                int ocg, ky, kx;           /* output channel within the group, kernel row, column */
                for (ocg = 0; ocg < oc_per_group; ocg++) {
                    int oc = group * oc_per_group + ocg;
                    for (ky = 0; ky < g->k; ky++) {
                        int ty = iy + g->p - ky, oy = ty / g->s;
                        if (ty < 0 || ty % g->s != 0 || oy >= g->oh) continue;
                        for (kx = 0; kx < g->k; kx++) {
                            int tx = ix + g->p - kx, ox = tx / g->s;
                            if (tx < 0 || tx % g->s != 0 || ox >= g->ow) continue;
                            acc += a->w[((size_t)(oc * ic_per_group + icg) * g->k + ky) * g->k + kx] *
                                   a->dy[(((size_t)n * g->oc + oc) * g->oh + oy) * g->ow + ox];
                        }
                    }
                }
                a->dx[(((size_t)n * g->ic + ic) * g->ih + iy) * g->iw + ix] = acc;
            }
        }
    }
}

/* dw[oc][icg][ky][kx] += sum over n, oy, ox of dy[n][oc][oy][ox] * x[n][ic][oy*S-P+ky][ox*S-P+kx]
   db[oc] += sum over n, oy, ox of dy[n][oc][oy][ox].
   Items: output channels, each summing its images in order 0..N-1. */
static void cnnvis__conv2d_backward_weights__reference(void *p, int begin, int end)
{
    const cnnvis__conv_args *a = (const cnnvis__conv_args *)p;
    const cnnvis__conv_geom *g = &a->g;
    int ic_per_group = g->ic / g->groups, oc_per_group = g->oc / g->groups;
    int oc;
    for (oc = begin; oc < end; oc++) {
        int group = oc / oc_per_group;
        int n, oy, ox;
        for (n = 0; n < g->n; n++) {
            for (oy = 0; oy < g->oh; oy++) {
                for (ox = 0; ox < g->ow; ox++) {
                    float grad = a->dy[(((size_t)n * g->oc + oc) * g->oh + oy) * g->ow + ox];
                    int icg, ky, kx;
                    if (a->db) a->db[oc] += grad;
                    for (icg = 0; icg < ic_per_group; icg++) {
                        int ic = group * ic_per_group + icg;
                        for (ky = 0; ky < g->k; ky++) {
                            int iy = oy * g->s - g->p + ky;
                            if (iy < 0 || iy >= g->ih) continue;
                            for (kx = 0; kx < g->k; kx++) {
                                int ix = ox * g->s - g->p + kx;
                                if (ix < 0 || ix >= g->iw) continue;
                                a->dw[((size_t)(oc * ic_per_group + icg) * g->k + ky) * g->k + kx] +=
                                    grad * a->x[(((size_t)n * g->ic + ic) * g->ih + iy) * g->iw + ix];
                            }
                        }
                    }
                }
            }
        }
    }
}

/* --- Fully connected, reference -------------------------------------------------------- */

struct cnnvis__fc_args {
    int n, in, out;  /* batch, inputs per image (C*H*W of the layer below), outputs */
    float *y;        /* (N, OUT) */
    float *dx;       /* (N, IN) */
    float *dw, *db;  /* (OUT, IN), (OUT) */
    const float *x;  /* (N, IN) */
    const float *dy; /* (N, OUT) */
    const float *w;  /* (OUT, IN) */
    const float *b;  /* (OUT) */
    float *scratch;  /* fast kernels: packed operands */
    struct cnnvis_pool *pool;
};

/* y[n][o] = b[o] + sum_i w[o][i] x[n][i]. Items: (n, o). */
static void cnnvis__fc_forward__reference(void *p, int begin, int end)
{
    const cnnvis__fc_args *a = (const cnnvis__fc_args *)p;
    int item;
    for (item = begin; item < end; item++) {
        int n = item / a->out, o = item % a->out; /* image, output */
        const float *w_row = a->w + (size_t)o * a->in, *x_row = a->x + (size_t)n * a->in;
        float acc = a->b[o];
        int i;
        for (i = 0; i < a->in; i++) acc += w_row[i] * x_row[i];
        a->y[(size_t)n * a->out + o] = acc;
    }
}

/* dx[n][i] = sum_o w[o][i] dy[n][o]. Items: images. */
static void cnnvis__fc_backward_data__reference(void *p, int begin, int end)
{
    const cnnvis__fc_args *a = (const cnnvis__fc_args *)p;
    int n, o, i;
    for (n = begin; n < end; n++) {
        float *dx_row = a->dx + (size_t)n * a->in;
        for (i = 0; i < a->in; i++) dx_row[i] = 0.0f;
        for (o = 0; o < a->out; o++) {
            float grad = a->dy[(size_t)n * a->out + o];
            const float *w_row = a->w + (size_t)o * a->in;
            for (i = 0; i < a->in; i++) dx_row[i] += w_row[i] * grad;
        }
    }
}

/* dw[o][i] += sum_n dy[n][o] x[n][i]; db[o] += sum_n dy[n][o]. Items: outputs. */
static void cnnvis__fc_backward_weights__reference(void *p, int begin, int end)
{
    const cnnvis__fc_args *a = (const cnnvis__fc_args *)p;
    int n, o, i;
    for (o = begin; o < end; o++) {
        float *dw_row = a->dw + (size_t)o * a->in;
        for (n = 0; n < a->n; n++) {
            float grad = a->dy[(size_t)n * a->out + o];
            const float *x_row = a->x + (size_t)n * a->in;
            a->db[o] += grad;
            for (i = 0; i < a->in; i++) dw_row[i] += grad * x_row[i];
        }
    }
}

/* --- ReLU: forward, and the three backward rules of lecture sections 3 and 4 ------------- */

typedef struct cnnvis__relu_args {
    size_t per_item;  /* elements per item (one image) */
    float *y, *dx;    /* (N, per_item) output, input gradient */
    const float *x, *dy;
    cnnvis_relu_rule rule;
} cnnvis__relu_args;

/* y = max(x, 0). Items: images. */
static void cnnvis__relu_forward__reference(void *p, int begin, int end)
{
    const cnnvis__relu_args *a = (const cnnvis__relu_args *)p;
    size_t i, stop = (size_t)end * a->per_item;
    for (i = (size_t)begin * a->per_item; i < stop; i++) a->y[i] = a->x[i] > 0.0f ? a->x[i] : 0.0f;
}

/* With H = x (the forward input) and R = dy (the signal from above):
     BACKPROP   dx = R * 1(H > 0)            the gradient: saliency and training
     DECONVNET  dx = max(R, 0)               un-ReLU: ignores H entirely
     GUIDED     dx = R * 1(H > 0) * 1(R > 0) guided backpropagation
   Items: images. */
static void cnnvis__relu_backward__reference(void *p, int begin, int end)
{
    const cnnvis__relu_args *a = (const cnnvis__relu_args *)p;
    size_t i, stop = (size_t)end * a->per_item;
    for (i = (size_t)begin * a->per_item; i < stop; i++) {
        float h = a->x[i], r = a->dy[i];
        switch (a->rule) {
        case CNNVIS_RELU_BACKPROP: a->dx[i] = h > 0.0f ? r : 0.0f; break;
        case CNNVIS_RELU_DECONVNET: a->dx[i] = r > 0.0f ? r : 0.0f; break;
        case CNNVIS_RELU_GUIDED: a->dx[i] = h > 0.0f && r > 0.0f ? r : 0.0f; break;
        }
    }
}

/* --- Max pooling with switches ----------------------------------------------------------- */

typedef struct cnnvis__maxpool_args {
    int c, ih, iw, oh, ow, k, s, p;
    float *y, *dx;
    const float *x, *dy;
    int32_t *switches; /* (N, C, OH, OW) */
} cnnvis__maxpool_args;

/* The max over rows [y0, y1) and columns [x0, x1) of plane x, met in row-major order, and
   where it was, iy*IW + ix (the first one on ties). */
static void cnnvis__maxpool_window(const float *x, int iw, int y0, int y1, int x0, int x1, float *y, int32_t *sw)
{
    float best = x[y0 * iw + x0];
    int32_t arg = y0 * iw + x0;
    int iy, ix;
    for (iy = y0; iy < y1; iy++)
        for (ix = x0; ix < x1; ix++)
            if (x[iy * iw + ix] > best) best = x[iy * iw + ix], arg = iy * iw + ix;
    *y = best, *sw = arg;
}

/* y[n][c][oy][ox] = max over the K x K window at (oy*S - P, ox*S - P) of x (padding is -inf,
   so it never wins: the window is clipped to the image); the switch records where the
   maximum was. Items: (n, c) planes. */
static void cnnvis__maxpool_forward__reference(void *p, int begin, int end)
{
    const cnnvis__maxpool_args *a = (const cnnvis__maxpool_args *)p;
    int plane, oy, ox;
    for (plane = begin; plane < end; plane++) {
        const float *x = a->x + (size_t)plane * a->ih * a->iw;
        float *y = a->y + (size_t)plane * a->oh * a->ow;
        int32_t *sw = a->switches + (size_t)plane * a->oh * a->ow;
        for (oy = 0; oy < a->oh; oy++) {
            int y0 = CNNVIS__MAX(oy * a->s - a->p, 0), y1 = CNNVIS__MIN(oy * a->s - a->p + a->k, a->ih);
            for (ox = 0; ox < a->ow; ox++) {
                int x0 = CNNVIS__MAX(ox * a->s - a->p, 0), x1 = CNNVIS__MIN(ox * a->s - a->p + a->k, a->iw);
                cnnvis__maxpool_window(x, a->iw, y0, y1, x0, x1, y + oy * a->ow + ox, sw + oy * a->ow + ox);
            }
        }
    }
}

/* Unpooling (lecture section 3): each gradient goes back to the position its switch
   recorded; overlapping windows that chose the same input add up. Items: (n, c) planes. */
static void cnnvis__maxpool_backward__reference(void *p, int begin, int end)
{
    const cnnvis__maxpool_args *a = (const cnnvis__maxpool_args *)p;
    int plane, o;
    for (plane = begin; plane < end; plane++) {
        float *dx = a->dx + (size_t)plane * a->ih * a->iw;
        const float *dy = a->dy + (size_t)plane * a->oh * a->ow;
        const int32_t *sw = a->switches + (size_t)plane * a->oh * a->ow;
        memset(dx, 0, sizeof(float) * (size_t)a->ih * a->iw);
        for (o = 0; o < a->oh * a->ow; o++) dx[sw[o]] += dy[o];
    }
}

/* --- Local response normalisation across channels (Krizhevsky et al. 2012, sec. 3.3) ----- */

typedef struct cnnvis__lrn_args {
    size_t per_item;  /* elements per image: c * hw */
    int c, hw;        /* channels, pixels per channel */
    float *y, *dx, *s; /* (N, c, hw) output, input gradient, the denominators' base s */
    const float *x, *dy;
    int size;
    float alpha, beta, k;
    int deconvnet;    /* pass the signal through unchanged (Zeiler & Fergus do not invert LRN) */
} cnnvis__lrn_args;

/* The window of channel c is [c - size/2, c + (size-1)/2], clipped (PyTorch's
   LocalResponseNorm): s_c = k + alpha/size * sum_window x^2, y_c = x_c * s_c^-beta.
   Items: images. */
static void cnnvis__lrn_forward__reference(void *p, int begin, int end)
{
    const cnnvis__lrn_args *a = (const cnnvis__lrn_args *)p;
    int n, c, j, pix;
    for (n = begin; n < end; n++) {
        const float *x = a->x + (size_t)n * a->per_item;
        float *y = a->y + (size_t)n * a->per_item, *s = a->s + (size_t)n * a->per_item;
        for (c = 0; c < a->c; c++) {
            int lo = CNNVIS__MAX(0, c - a->size / 2), hi = CNNVIS__MIN(a->c - 1, c + (a->size - 1) / 2);
            for (pix = 0; pix < a->hw; pix++) {
                float sum = 0.0f;
                for (j = lo; j <= hi; j++) sum += x[(size_t)j * a->hw + pix] * x[(size_t)j * a->hw + pix];
                s[(size_t)c * a->hw + pix] = a->k + a->alpha / (float)a->size * sum;
                y[(size_t)c * a->hw + pix] = x[(size_t)c * a->hw + pix] * powf(s[(size_t)c * a->hw + pix], -a->beta);
            }
        }
    }
}

/* dx_i = dy_i s_i^-beta - (2 alpha beta / size) x_i * sum over the c whose window holds i
   of dy_c y_c / s_c. With the deconvnet rule the signal passes unchanged. Items: images. */
static void cnnvis__lrn_backward__reference(void *p, int begin, int end)
{
    const cnnvis__lrn_args *a = (const cnnvis__lrn_args *)p;
    int n, c, i, pix;
    for (n = begin; n < end; n++) {
        const float *x = a->x + (size_t)n * a->per_item, *y = a->y + (size_t)n * a->per_item;
        const float *s = a->s + (size_t)n * a->per_item, *dy = a->dy + (size_t)n * a->per_item;
        float *dx = a->dx + (size_t)n * a->per_item;
        if (a->deconvnet) {
            memcpy(dx, dy, sizeof(float) * a->per_item);
            continue;
        }
        for (i = 0; i < a->c; i++) {
            /* channel c's window holds i when c - size/2 <= i <= c + (size-1)/2 */
            int lo = CNNVIS__MAX(0, i - (a->size - 1) / 2), hi = CNNVIS__MIN(a->c - 1, i + a->size / 2);
            for (pix = 0; pix < a->hw; pix++) {
                size_t at = (size_t)i * a->hw + pix;
                float sum = 0.0f;
                for (c = lo; c <= hi; c++) {
                    size_t ac = (size_t)c * a->hw + pix;
                    sum += dy[ac] * y[ac] / s[ac];
                }
                dx[at] = dy[at] * powf(s[at], -a->beta) - 2.0f * a->alpha * a->beta / (float)a->size * x[at] * sum;
            }
        }
    }
}

/* --- Dropout (inverted: scaled at training time, identity at test time) ------------------ */

typedef struct cnnvis__dropout_args {
    size_t per_item;  /* elements per image */
    float *y, *dx;
    const float *x, *dy, *mask; /* mask (N, per_item): 0 or 1/(1-p) */
} cnnvis__dropout_args;

/* y = x * mask. Items: images. */
static void cnnvis__dropout_forward__reference(void *p, int begin, int end)
{
    const cnnvis__dropout_args *a = (const cnnvis__dropout_args *)p;
    size_t i, stop = (size_t)end * a->per_item;
    for (i = (size_t)begin * a->per_item; i < stop; i++) a->y[i] = a->x[i] * a->mask[i];
}

/* dx = dy * mask. Items: images. */
static void cnnvis__dropout_backward__reference(void *p, int begin, int end)
{
    const cnnvis__dropout_args *a = (const cnnvis__dropout_args *)p;
    size_t i, stop = (size_t)end * a->per_item;
    for (i = (size_t)begin * a->per_item; i < stop; i++) a->dx[i] = a->dy[i] * a->mask[i];
}

/* --- Softmax cross-entropy ------------------------------------------------------------- */

/* The softmax of K scores, in double:
     p_c = exp(S_c - m) / Z,  Z = sum_k exp(S_k - m),  m = max_k S_k
   Subtracting the largest score keeps every exp <= 1, so saturated scores stay finite (the
   lecture's "class probability" from the unnormalised scores S_c). Returns Z; *m gets m;
   p (K, may be NULL) gets the probabilities. */
static double cnnvis__softmax(float *p, const float *s, int K, double *m)
{
    double z = 0;
    int c;
    *m = s[0];
    for (c = 1; c < K; c++) *m = s[c] > *m ? s[c] : *m;
    for (c = 0; c < K; c++) z += exp((double)s[c] - *m);
    for (c = 0; p && c < K; c++) p[c] = (float)(exp((double)s[c] - *m) / z);
    return z;
}

/* The loss of image n, J_n = -log p_label = log Z + m - S_label (no cancellation in
   log p when p_label is tiny), and dJ/dS = (p - onehot(label)) / N for the batch mean.
   Returns the mean loss. */
static double cnnvis__softmax_xent(float *probs, float *dscores, const float *scores, const int32_t *labels,
                                   int n, int classes)
{
    double total = 0;
    int i, c;
    for (i = 0; i < n; i++) {
        const float *s = scores + (size_t)i * classes;
        float *pr = probs + (size_t)i * classes, *ds = dscores + (size_t)i * classes;
        double m, z = cnnvis__softmax(pr, s, classes, &m);
        for (c = 0; c < classes; c++) ds[c] = (pr[c] - (c == labels[i] ? 1.0f : 0.0f)) / (float)n;
        total += log(z) + (m - s[labels[i]]);
    }
    return total / n;
}

/* ======================================================================================
   A3  The network: describe, create, forward, backward, loss                     >>a3_net
   a list of layers, one arena; the backward pass starts at any layer with any signal
   ====================================================================================== */

static const char *cnnvis__kind_prefix[CNNVIS_LAYER_KIND_COUNT] = {"none", "conv", "relu", "pool",
                                                                   "lrn",  "drop", "fc",   "flatten"};

/* --- Describing a net ------------------------------------------------------------------- */

CNNVIS__DEF void cnnvis_net_desc_init(cnnvis_net_desc *d, int in_c, int in_h, int in_w)
{
    if (!d) return;
    memset(d, 0, sizeof *d);
    d->in_c = in_c, d->in_h = in_h, d->in_w = in_w;
}

CNNVIS__DEF void cnnvis_net_desc_add(cnnvis_net_desc *d, const cnnvis_layer_desc *layer)
{
    if (!d) return;
    if (!layer) { /* reported by create, like the other builder errors */
        d->error = 3;
        return;
    }
    if (d->n_layers >= CNNVIS_MAX_LAYERS) {
        d->error = 1;
        return;
    }
    d->layers[d->n_layers++] = *layer;
}

static void cnnvis__desc_push(cnnvis_net_desc *d, cnnvis_layer_kind kind, const char *name, int out_channels,
                              int kernel, int stride, int pad, int groups)
{
    cnnvis_layer_desc l;
    if (!d) return;
    memset(&l, 0, sizeof l);
    l.kind = kind;
    cnnvis__copy_name(l.name, sizeof l.name, name);
    if (name && strlen(name) >= sizeof l.name) d->error = 2;
    l.out_channels = out_channels, l.kernel = kernel, l.stride = stride, l.pad = pad, l.groups = groups;
    cnnvis_net_desc_add(d, &l);
}

CNNVIS__DEF void cnnvis_net_desc_conv(cnnvis_net_desc *d, const char *name, int out_channels, int kernel, int stride,
                                      int pad, int groups)
{
    cnnvis__desc_push(d, CNNVIS_LAYER_CONV, name, out_channels, kernel, stride, pad, groups);
}

CNNVIS__DEF void cnnvis_net_desc_relu(cnnvis_net_desc *d, const char *name)
{
    cnnvis__desc_push(d, CNNVIS_LAYER_RELU, name, 0, 0, 0, 0, 0);
}

CNNVIS__DEF void cnnvis_net_desc_maxpool(cnnvis_net_desc *d, const char *name, int kernel, int stride, int pad)
{
    cnnvis__desc_push(d, CNNVIS_LAYER_MAXPOOL, name, 0, kernel, stride, pad, 0);
}

CNNVIS__DEF void cnnvis_net_desc_lrn(cnnvis_net_desc *d, const char *name, int size, float alpha, float beta, float k)
{
    cnnvis__desc_push(d, CNNVIS_LAYER_LRN, name, 0, 0, 0, 0, 0);
    if (d && d->n_layers > 0 && d->layers[d->n_layers - 1].kind == CNNVIS_LAYER_LRN) {
        cnnvis_layer_desc *l = &d->layers[d->n_layers - 1];
        l->size = size, l->alpha = alpha, l->beta = beta, l->k = k;
    }
}

CNNVIS__DEF void cnnvis_net_desc_dropout(cnnvis_net_desc *d, const char *name, float p)
{
    cnnvis__desc_push(d, CNNVIS_LAYER_DROPOUT, name, 0, 0, 0, 0, 0);
    if (d && d->n_layers > 0 && d->layers[d->n_layers - 1].kind == CNNVIS_LAYER_DROPOUT) d->layers[d->n_layers - 1].p = p;
}

CNNVIS__DEF void cnnvis_net_desc_fc(cnnvis_net_desc *d, const char *name, int outputs)
{
    cnnvis__desc_push(d, CNNVIS_LAYER_FC, name, outputs, 0, 0, 0, 0);
}

CNNVIS__DEF void cnnvis_net_desc_flatten(cnnvis_net_desc *d, const char *name)
{
    cnnvis__desc_push(d, CNNVIS_LAYER_FLATTEN, name, 0, 0, 0, 0, 0);
}

/* AlexNet's pattern (Krizhevsky et al. 2012) shrunk for 28x28 and 32x32 images: the 11x11
   stride-4 conv1 becomes 5x5 stride 1, pooling is 3x3 stride 2 (overlapping, as in AlexNet)
   after conv1, conv2 and conv5, and the classifier is dropout-fc-relu twice, then fc, in
   torchvision's order. Sized to train in minutes on a laptop's CPU; dropout is 0.1, not
   AlexNet's 0.5: the classifier is small, the built-in images are unlimited, and in short
   trainings more dropout only delays learning. */
static void cnnvis__preset_alexnet_mini(cnnvis_net_desc *d, int in_c, int in_h, int in_w, int n_classes)
{
    if (!d) return;
    cnnvis_net_desc_init(d, in_c, in_h, in_w);
    cnnvis_net_desc_conv(d, "conv1", 32, 5, 1, 2, 1);
    cnnvis_net_desc_relu(d, "relu1");
    cnnvis_net_desc_maxpool(d, "pool1", 3, 2, 1);
    cnnvis_net_desc_conv(d, "conv2", 64, 3, 1, 1, 1);
    cnnvis_net_desc_relu(d, "relu2");
    cnnvis_net_desc_maxpool(d, "pool2", 3, 2, 1);
    cnnvis_net_desc_conv(d, "conv3", 64, 3, 1, 1, 1);
    cnnvis_net_desc_relu(d, "relu3");
    cnnvis_net_desc_conv(d, "conv4", 64, 3, 1, 1, 1);
    cnnvis_net_desc_relu(d, "relu4");
    cnnvis_net_desc_conv(d, "conv5", 64, 3, 1, 1, 1);
    cnnvis_net_desc_relu(d, "relu5");
    cnnvis_net_desc_maxpool(d, "pool5", 3, 2, 1);
    cnnvis_net_desc_dropout(d, "drop6", 0.1f);
    cnnvis_net_desc_fc(d, "fc6", 256);
    cnnvis_net_desc_relu(d, "relu6");
    cnnvis_net_desc_dropout(d, "drop7", 0.1f);
    cnnvis_net_desc_fc(d, "fc7", 256);
    cnnvis_net_desc_relu(d, "relu7");
    cnnvis_net_desc_fc(d, "fc8", n_classes);
}

/* torchvision.models.alexnet: the layer order and shapes of its `features` and `classifier`
   (its adaptive average pool is the identity at 224x224, where conv5's pool gives 6x6). */
static void cnnvis__preset_alexnet(cnnvis_net_desc *d, int n_classes)
{
    if (!d) return;
    cnnvis_net_desc_init(d, 3, 224, 224);
    cnnvis_net_desc_conv(d, "conv1", 64, 11, 4, 2, 1);
    cnnvis_net_desc_relu(d, "relu1");
    cnnvis_net_desc_maxpool(d, "pool1", 3, 2, 0);
    cnnvis_net_desc_conv(d, "conv2", 192, 5, 1, 2, 1);
    cnnvis_net_desc_relu(d, "relu2");
    cnnvis_net_desc_maxpool(d, "pool2", 3, 2, 0);
    cnnvis_net_desc_conv(d, "conv3", 384, 3, 1, 1, 1);
    cnnvis_net_desc_relu(d, "relu3");
    cnnvis_net_desc_conv(d, "conv4", 256, 3, 1, 1, 1);
    cnnvis_net_desc_relu(d, "relu4");
    cnnvis_net_desc_conv(d, "conv5", 256, 3, 1, 1, 1);
    cnnvis_net_desc_relu(d, "relu5");
    cnnvis_net_desc_maxpool(d, "pool5", 3, 2, 0);
    cnnvis_net_desc_dropout(d, "drop6", 0.5f);
    cnnvis_net_desc_fc(d, "fc6", 4096);
    cnnvis_net_desc_relu(d, "relu6");
    cnnvis_net_desc_dropout(d, "drop7", 0.5f);
    cnnvis_net_desc_fc(d, "fc7", 4096);
    cnnvis_net_desc_relu(d, "relu7");
    cnnvis_net_desc_fc(d, "fc8", n_classes);
    /* ImageNet statistics, as torchvision's weights expect */
    d->mean[0] = 0.485f, d->mean[1] = 0.456f, d->mean[2] = 0.406f;
    d->std[0] = 0.229f, d->std[1] = 0.224f, d->std[2] = 0.225f;
}

/* Krizhevsky, Sutskever & Hinton 2012 as in Caffe's bvlc_alexnet: 96 conv1 filters 11x11x3
   (the lecture's slide), LRN after the first two ReLUs, and groups 2 where the original
   split the work over two GPUs (conv2, conv4, conv5). */
static void cnnvis__preset_alexnet_original(cnnvis_net_desc *d, int n_classes)
{
    if (!d) return;
    cnnvis_net_desc_init(d, 3, 227, 227);
    cnnvis_net_desc_conv(d, "conv1", 96, 11, 4, 0, 1);
    cnnvis_net_desc_relu(d, "relu1");
    cnnvis_net_desc_lrn(d, "norm1", 5, 1e-4f, 0.75f, 2.0f);
    cnnvis_net_desc_maxpool(d, "pool1", 3, 2, 0);
    cnnvis_net_desc_conv(d, "conv2", 256, 5, 1, 2, 2);
    cnnvis_net_desc_relu(d, "relu2");
    cnnvis_net_desc_lrn(d, "norm2", 5, 1e-4f, 0.75f, 2.0f);
    cnnvis_net_desc_maxpool(d, "pool2", 3, 2, 0);
    cnnvis_net_desc_conv(d, "conv3", 384, 3, 1, 1, 1);
    cnnvis_net_desc_relu(d, "relu3");
    cnnvis_net_desc_conv(d, "conv4", 384, 3, 1, 1, 2);
    cnnvis_net_desc_relu(d, "relu4");
    cnnvis_net_desc_conv(d, "conv5", 256, 3, 1, 1, 2);
    cnnvis_net_desc_relu(d, "relu5");
    cnnvis_net_desc_maxpool(d, "pool5", 3, 2, 0);
    cnnvis_net_desc_fc(d, "fc6", 4096);
    cnnvis_net_desc_relu(d, "relu6");
    cnnvis_net_desc_dropout(d, "drop6", 0.5f);
    cnnvis_net_desc_fc(d, "fc7", 4096);
    cnnvis_net_desc_relu(d, "relu7");
    cnnvis_net_desc_dropout(d, "drop7", 0.5f);
    cnnvis_net_desc_fc(d, "fc8", n_classes);
    d->mean[0] = 0.485f, d->mean[1] = 0.456f, d->mean[2] = 0.406f;
    d->std[0] = 0.229f, d->std[1] = 0.224f, d->std[2] = 0.225f;
}

CNNVIS__DEF cnnvis_result cnnvis_net_desc_preset(cnnvis_net_desc *d, const char *name, int in_c, int in_h, int in_w,
                                                 int n_classes)
{
    if (!d || !name) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_desc_preset: %s is NULL", d ? "name" : "d");
    if (in_c < 0 || in_h < 0 || in_w < 0)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_desc_preset: input %dx%dx%d has a negative size", in_c, in_h, in_w);
    if (strcmp(name, "alexnet_mini") == 0) {
        if (!in_c || !in_h || !in_w)
            return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_desc_preset: alexnet_mini needs its input's channels, height and width");
        cnnvis__preset_alexnet_mini(d, in_c, in_h, in_w, n_classes);
    } else if (strcmp(name, "alexnet") == 0) {
        cnnvis__preset_alexnet(d, n_classes);
    } else if (strcmp(name, "alexnet_original") == 0) {
        cnnvis__preset_alexnet_original(d, n_classes);
    } else {
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_desc_preset: no preset is called \"%.40s\" (alexnet_mini, alexnet, "
                            "alexnet_original)", name);
    }
    if (in_c) d->in_c = in_c;
    if (in_h) d->in_h = in_h;
    if (in_w) d->in_w = in_w;
    return CNNVIS_OK;
}

/* --- Checking a description and laying out the arena ------------------------------------ */

#define CNNVIS__MAX_DIM 65536

/* Fill defaults into the net's desc and layers, and compute every layer's shapes, receptive
   field and parameter counts. Refuses what does not fit, naming the layer. */
static cnnvis_result cnnvis__net_resolve(cnnvis_net *net, const cnnvis_net_desc *d)
{
    int i, j, c, h, w, rf_size = 1, rf_stride = 1, rf_offset = 0, counts[CNNVIS_LAYER_KIND_COUNT] = {0};
    const char *env;
    if (!d) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "net desc is NULL");
    if (d->error == 1) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "net desc: more than %d layers", CNNVIS_MAX_LAYERS);
    if (d->error == 2) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "net desc: a layer name has %d characters or more", CNNVIS_NAME_LEN);
    if (d->error == 3) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "net desc: cnnvis_net_desc_add was given a NULL layer");
    if (d->error) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "net desc: a builder failed (error %d)", d->error);
    if (d->in_c < 1 || d->in_h < 1 || d->in_w < 1 || d->in_c > CNNVIS__MAX_DIM || d->in_h > CNNVIS__MAX_DIM || d->in_w > CNNVIS__MAX_DIM)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "net desc: input shape %dx%dx%d is not in 1..%d x 1..%d x 1..%d", d->in_c,
                            d->in_h, d->in_w, CNNVIS__MAX_DIM, CNNVIS__MAX_DIM, CNNVIS__MAX_DIM);
    if (d->n_layers < 1 || d->n_layers > CNNVIS_MAX_LAYERS)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "net desc: %d layers (1..%d allowed)", d->n_layers, CNNVIS_MAX_LAYERS);
    if (d->max_batch < 0 || d->max_batch > CNNVIS__MAX_BATCH)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "net desc: max_batch %d is not in 1..%d (0 for 64)", d->max_batch, CNNVIS__MAX_BATCH);
    if (d->n_threads < 0 || d->n_threads > CNNVIS__MAX_THREADS)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "net desc: n_threads %d is not in 1..%d (0 for all CPUs)", d->n_threads,
                            CNNVIS__MAX_THREADS);
    if ((int)d->kernels < 0 || d->kernels > CNNVIS_KERNELS_NEON)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "net desc: kernels %d unknown", (int)d->kernels);
    net->desc = *d;
    net->desc.max_batch = CNNVIS__DEF_VAL(d->max_batch, 64);
    net->n_threads = d->n_threads ? d->n_threads : cnnvis__online_cpus();
    env = getenv("CNNVIS_THREADS");
    if (env && *env) {
        char *end;
        long t = strtol(env, &end, 10);
        if (*end || t < 1 || t > CNNVIS__MAX_THREADS)
            return CNNVIS__FAIL(CNNVIS_ERR_ARG, "CNNVIS_THREADS=%s is not in 1..%d", env, CNNVIS__MAX_THREADS);
        net->n_threads = (int)t;
    }
#ifdef CNNVIS_NO_THREADS
    net->n_threads = 1;
#endif
    net->desc.n_threads = net->n_threads;
    for (c = 0; c < 3; c++) {
        if (!(net->desc.std[c] >= 0) || !isfinite(net->desc.std[c]) || !isfinite(net->desc.mean[c]))
            return CNNVIS__FAIL(CNNVIS_ERR_ARG, "net desc: mean[%d] and std[%d] must be finite and std >= 0", c, c);
        net->desc.std[c] = CNNVIS__DEF_VAL(net->desc.std[c], 1.0f);
    }
    net->n_layers = d->n_layers;
    c = d->in_c, h = d->in_h, w = d->in_w;
    for (i = 0; i < d->n_layers; i++) {
        cnnvis_layer *L = &net->layers[i];
        cnnvis_layer_desc *ld = &net->desc.layers[i];
        const char *name;
        if (ld->kind <= CNNVIS_LAYER_NONE || ld->kind >= CNNVIS_LAYER_KIND_COUNT)
            return CNNVIS__FAIL(CNNVIS_ERR_ARG, "layer %d: unknown kind %d", i, (int)ld->kind);
        counts[ld->kind]++;
        if (memchr(ld->name, 0, sizeof ld->name) == NULL)
            return CNNVIS__FAIL(CNNVIS_ERR_ARG, "layer %d: name is not zero-terminated within %d bytes", i, CNNVIS_NAME_LEN);
        if (!ld->name[0]) snprintf(ld->name, sizeof ld->name, "%s%d", cnnvis__kind_prefix[ld->kind], counts[ld->kind]);
        name = ld->name;
        for (j = 0; j < i; j++)
            if (strcmp(net->desc.layers[j].name, name) == 0)
                return CNNVIS__FAIL(CNNVIS_ERR_ARG, "layer %d (%s): name used twice (also layer %d)", i, name, j);
        if (!(ld->init_scale >= 0 && ld->init_scale <= 1000))
            return CNNVIS__FAIL(CNNVIS_ERR_ARG, "layer %s: init_scale %g is not in [0, 1000] (0 for 1)", name, ld->init_scale);
        ld->init_scale = CNNVIS__DEF_VAL(ld->init_scale, 1.0f);
        L->in_c = c, L->in_h = h, L->in_w = w;
        switch (ld->kind) {
        case CNNVIS_LAYER_CONV:
        case CNNVIS_LAYER_MAXPOOL: {
            int is_conv = ld->kind == CNNVIS_LAYER_CONV;
            ld->stride = CNNVIS__DEF_VAL(ld->stride, is_conv ? 1 : ld->kernel);
            ld->groups = is_conv ? CNNVIS__DEF_VAL(ld->groups, 1) : 0;
            if (ld->kernel < 1 || ld->kernel > 1024 || ld->stride < 1 || ld->stride > 1024 || ld->pad < 0 || ld->pad > 1024)
                return CNNVIS__FAIL(CNNVIS_ERR_ARG, "layer %s: kernel %d, stride %d, pad %d (kernel and stride 1..1024, pad 0..1024)",
                                    name, ld->kernel, ld->stride, ld->pad);
            if (ld->kernel > h + 2 * ld->pad || ld->kernel > w + 2 * ld->pad)
                return CNNVIS__FAIL(CNNVIS_ERR_ARG, "layer %s: kernel %dx%d is larger than its padded input %dx%d", name,
                                    ld->kernel, ld->kernel, h + 2 * ld->pad, w + 2 * ld->pad);
            if (is_conv) {
                if (ld->out_channels < 1 || ld->out_channels > 65536)
                    return CNNVIS__FAIL(CNNVIS_ERR_ARG, "layer %s: %d output channels (1..65536)", name, ld->out_channels);
                if (ld->groups < 1 || c % ld->groups != 0 || ld->out_channels % ld->groups != 0)
                    return CNNVIS__FAIL(CNNVIS_ERR_ARG, "layer %s: groups %d must divide its %d input and %d output channels",
                                        name, ld->groups, c, ld->out_channels);
                L->n_w = (size_t)ld->out_channels * (c / ld->groups) * ld->kernel * ld->kernel;
                L->n_b = (size_t)ld->out_channels;
            } else if (ld->pad > ld->kernel / 2) {
                return CNNVIS__FAIL(CNNVIS_ERR_ARG, "layer %s: pool pad %d is more than half its kernel %d", name, ld->pad,
                                    ld->kernel);
            }
            L->out_c = is_conv ? ld->out_channels : c;
            L->out_h = (h + 2 * ld->pad - ld->kernel) / ld->stride + 1;
            L->out_w = (w + 2 * ld->pad - ld->kernel) / ld->stride + 1;
            L->flops = is_conv ? 2LL * L->out_c * (c / ld->groups) * ld->kernel * ld->kernel * L->out_h * L->out_w : 0;
            rf_offset -= ld->pad * rf_stride;
            rf_size += (ld->kernel - 1) * rf_stride;
            rf_stride *= ld->stride;
            break;
        }
        case CNNVIS_LAYER_LRN:
            ld->size = CNNVIS__DEF_VAL(ld->size, 5);
            ld->alpha = CNNVIS__DEF_VAL(ld->alpha, 1e-4f);
            ld->beta = CNNVIS__DEF_VAL(ld->beta, 0.75f);
            ld->k = CNNVIS__DEF_VAL(ld->k, 2.0f);
            if (ld->size < 1 || ld->size > 1024 || !(ld->alpha >= 0) || !(ld->beta >= 0) || !(ld->k > 0) ||
                !isfinite(ld->alpha) || !isfinite(ld->beta) || !isfinite(ld->k))
                return CNNVIS__FAIL(CNNVIS_ERR_ARG, "layer %s: LRN size %d alpha %g beta %g k %g (size 1..1024, alpha, beta >= 0, k > 0)",
                                    name, ld->size, ld->alpha, ld->beta, ld->k);
            L->out_c = c, L->out_h = h, L->out_w = w;
            break;
        case CNNVIS_LAYER_DROPOUT:
            ld->p = CNNVIS__DEF_VAL(ld->p, 0.5f);
            if (!(ld->p > 0 && ld->p < 1))
                return CNNVIS__FAIL(CNNVIS_ERR_ARG, "layer %s: dropout probability %g is not in (0, 1)", name, ld->p);
            L->out_c = c, L->out_h = h, L->out_w = w;
            break;
        case CNNVIS_LAYER_RELU:
            L->out_c = c, L->out_h = h, L->out_w = w;
            break;
        case CNNVIS_LAYER_FC:
            if (ld->out_channels < 1 || ld->out_channels > (1 << 24))
                return CNNVIS__FAIL(CNNVIS_ERR_ARG, "layer %s: %d outputs (1..%d)", name, ld->out_channels, 1 << 24);
            if ((long long)c * h * w * ld->out_channels > (1LL << 31))
                return CNNVIS__FAIL(CNNVIS_ERR_ARG, "layer %s: %d x %d weights is more than 2^31", name, c * h * w, ld->out_channels);
            L->n_w = (size_t)ld->out_channels * c * h * w;
            L->n_b = (size_t)ld->out_channels;
            L->out_c = ld->out_channels, L->out_h = 1, L->out_w = 1;
            L->flops = 2LL * c * h * w * ld->out_channels;
            rf_size = CNNVIS__MAX(d->in_h, d->in_w), rf_stride = 1, rf_offset = 0;
            break;
        case CNNVIS_LAYER_FLATTEN:
            L->out_c = c * h * w, L->out_h = 1, L->out_w = 1;
            /* one geometry for all its units, which sat at different positions: the image */
            rf_size = CNNVIS__MAX(d->in_h, d->in_w), rf_stride = 1, rf_offset = 0;
            break;
        default: break;
        }
        if ((long long)L->out_c * L->out_h * L->out_w > (1LL << 28))
            return CNNVIS__FAIL(CNNVIS_ERR_ARG, "layer %s: output %dx%dx%d has more than 2^28 values", name, L->out_c, L->out_h,
                                L->out_w);
        L->rf_size = rf_size, L->rf_stride = rf_stride, L->rf_offset = rf_offset;
        L->desc = *ld;
        c = L->out_c, h = L->out_h, w = L->out_w;
    }
    net->n_classes = c * h * w;
    return CNNVIS_OK;
}

/* A bump allocator over the arena: with base == NULL it only counts. */
typedef struct cnnvis__arena {
    char *base;
    size_t used;
    int overflow;
} cnnvis__arena;

static void *cnnvis__take(cnnvis__arena *ar, size_t count, size_t elem)
{
    size_t bytes;
    void *p;
    if (!cnnvis__mul_ok(count, elem) || count * elem > (size_t)-1 / 2) {
        ar->overflow = 1;
        return NULL;
    }
    bytes = cnnvis__align_up(count * elem);
    if (ar->used + bytes < ar->used) {
        ar->overflow = 1;
        return NULL;
    }
    p = ar->base ? ar->base + ar->used : NULL;
    ar->used += bytes;
    return p;
}

/* Carve the arena (or count its size when ar->base is NULL); the net is resolved. */
static void cnnvis__net_layout(cnnvis_net *net, cnnvis__arena *ar)
{
    int i, B = net->desc.max_batch;
    size_t in_count = (size_t)net->desc.in_c * net->desc.in_h * net->desc.in_w;
    net->input = cnnvis_tensor_wrap((float *)cnnvis__take(ar, (size_t)B * in_count, sizeof(float)), B, net->desc.in_c,
                                    net->desc.in_h, net->desc.in_w);
    net->dinput = net->input;
    net->dinput.data = (float *)cnnvis__take(ar, (size_t)B * in_count, sizeof(float));
    net->probs = cnnvis_tensor_wrap((float *)cnnvis__take(ar, (size_t)B * net->n_classes, sizeof(float)), B, net->n_classes, 1, 1);
    net->class_names = (char *)cnnvis__take(ar, (size_t)net->n_classes, CNNVIS_CLASS_LEN);
    for (i = 0; i < net->n_layers; i++) {
        cnnvis_layer *L = &net->layers[i];
        size_t out_count = (size_t)B * L->out_c * L->out_h * L->out_w;
        L->w = (float *)cnnvis__take(ar, L->n_w, sizeof(float));
        L->dw = (float *)cnnvis__take(ar, L->n_w, sizeof(float));
        L->vw = (float *)cnnvis__take(ar, L->n_w, sizeof(float));
        L->b = (float *)cnnvis__take(ar, L->n_b, sizeof(float));
        L->db = (float *)cnnvis__take(ar, L->n_b, sizeof(float));
        L->vb = (float *)cnnvis__take(ar, L->n_b, sizeof(float));
        L->out = cnnvis_tensor_wrap((float *)cnnvis__take(ar, out_count, sizeof(float)), B, L->out_c, L->out_h, L->out_w);
        L->dout = L->out;
        L->dout.data = (float *)cnnvis__take(ar, out_count, sizeof(float));
        if (L->desc.kind == CNNVIS_LAYER_MAXPOOL) L->switches = (int32_t *)cnnvis__take(ar, out_count, sizeof(int32_t));
        if (L->desc.kind == CNNVIS_LAYER_LRN || L->desc.kind == CNNVIS_LAYER_DROPOUT)
            L->aux = (float *)cnnvis__take(ar, out_count, sizeof(float));
    }
    net->scratch_count = cnnvis__scratch_need(net);
    net->scratch = (float *)cnnvis__take(ar, net->scratch_count, sizeof(float));
}

/* The arena's size for d in *size; the result tells why not (an invalid desc, or no memory
   for the scratch net that works it out), which cnnvis_net_create passes on. */
static cnnvis_result cnnvis__net_memory_size(const cnnvis_net_desc *d, size_t *size)
{
    cnnvis_net *net = (cnnvis_net *)cnnvis__alloc(sizeof(cnnvis_net));
    cnnvis__arena ar = {NULL, 0, 0};
    cnnvis_result r;
    *size = 0;
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_net_memory_size: out of memory");
    r = cnnvis__net_resolve(net, d);
    if (r == CNNVIS_OK) {
        cnnvis__net_layout(net, &ar);
        if (ar.overflow) r = CNNVIS__FAIL(CNNVIS_ERR_ARG, "net desc: the network needs more memory than can be addressed");
        else *size = ar.used + CNNVIS__ALIGN;
    }
    CNNVIS_FREE(net);
    return r;
}

CNNVIS__DEF size_t cnnvis_net_memory_size(const cnnvis_net_desc *d)
{
    size_t size;
    cnnvis__net_memory_size(d, &size);
    return size;
}

/* Kaiming-uniform weights (He et al. 2015): U(-b, b) with b = sqrt(3 gain / fan_in) has
   variance gain / fan_in; gain 2 keeps the activations' scale through a ReLU, and the last
   layer, whose scores meet no ReLU, gets gain 1. (Smaller, such as PyTorch's default gain
   1/3, leaves a plain 8-layer stack with vanishing signals; training's learning-rate warm-up
   keeps the larger one from blowing up in the first steps.) The layer's init_scale
   multiplies the bound: a first layer started small (00_train's 0.03) ends up showing what
   training wrote into it rather than its random start (lecture, slide "1. Visualize
   filters"). */
static void cnnvis__init_weights(cnnvis_layer *L, int last, float scale, cnnvis_rng *rng)
{
    double fan_in = (double)L->n_w / L->n_b, gain = last ? 1.0 : 2.0;
    float bound = (float)(sqrt(3.0 * gain / fan_in) * scale);
    size_t j;
    for (j = 0; j < L->n_w; j++) L->w[j] = (2.0f * cnnvis__rng_uniform(rng) - 1.0f) * bound;
}

CNNVIS__DEF cnnvis_result cnnvis_net_init_preallocated(cnnvis_net *net, const cnnvis_net_desc *d, void *mem, size_t size)
{
    cnnvis__arena ar = {NULL, 0, 0};
    cnnvis_rng init_rng;
    const char *env;
    int i;
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_init_preallocated: net is NULL");
    memset(net, 0, sizeof *net);
    CNNVIS__TRY(cnnvis__net_resolve(net, d));
    cnnvis__net_layout(net, &ar);
    if (ar.overflow) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "net desc: the network needs more memory than can be addressed");
    if (!mem || size < ar.used + CNNVIS__ALIGN)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_init_preallocated: %zu bytes given, %zu needed", size, ar.used + CNNVIS__ALIGN);
    memset(mem, 0, size);
    ar.base = (char *)mem + ((CNNVIS__ALIGN - (uintptr_t)mem % CNNVIS__ALIGN) % CNNVIS__ALIGN);
    ar.used = 0;
    cnnvis__net_layout(net, &ar);
    net->arena = mem, net->arena_size = size;
    /* class names, copied */
    for (i = 0; i < net->n_classes; i++) {
        char *dst = net->class_names + (size_t)i * CNNVIS_CLASS_LEN;
        if (d->class_names && d->class_names[i])
            cnnvis__copy_name(dst, CNNVIS_CLASS_LEN, d->class_names[i]);
        else
            snprintf(dst, CNNVIS_CLASS_LEN, "%d", i);
    }
    net->desc.class_names = NULL;
    /* weights Kaiming-uniform, one generator through the layers in order; biases zero */
    cnnvis__rng_seed(&init_rng, net->desc.seed);
    for (i = 0; i < net->n_layers; i++)
        if (net->layers[i].n_w) cnnvis__init_weights(&net->layers[i], i == net->n_layers - 1, net->layers[i].desc.init_scale, &init_rng);
    cnnvis__rng_seed(&net->rng, net->desc.seed ^ 0x5eed0d20u);
    CNNVIS__TRY(cnnvis__net_set_kernels(net, d->kernels));
    env = getenv("CNNVIS_KERNELS");
    if (env && *env) {
        if (strcmp(env, "reference") == 0) net->kernels = CNNVIS_KERNELS_REFERENCE;
        else if (strcmp(env, "avx2") == 0) CNNVIS__TRY(cnnvis__net_set_kernels(net, CNNVIS_KERNELS_AVX2));
        else if (strcmp(env, "neon") == 0) CNNVIS__TRY(cnnvis__net_set_kernels(net, CNNVIS_KERNELS_NEON));
        else if (strcmp(env, "auto") != 0)
            return CNNVIS__FAIL(CNNVIS_ERR_ARG, "CNNVIS_KERNELS=%s: expected reference, avx2, neon or auto", env);
    }
#ifdef CNNVIS_FORCE_REFERENCE
    net->kernels = CNNVIS_KERNELS_REFERENCE;
#endif
    net->desc.kernels = net->kernels;
    net->batch = 0;
    net->dropout_scale = 1.0f;
    CNNVIS__TRY(cnnvis__pool_create(&net->pool, net->n_threads));
    return CNNVIS_OK;
}

CNNVIS__DEF cnnvis_result cnnvis_net_create(cnnvis_net **out, const cnnvis_net_desc *d)
{
    cnnvis_net *net;
    size_t size;
    void *mem;
    cnnvis_result r;
    if (!out) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_create: out is NULL");
    *out = NULL;
    CNNVIS__TRY(cnnvis__net_memory_size(d, &size));
    net = (cnnvis_net *)cnnvis__alloc(sizeof *net);
    mem = CNNVIS_MALLOC(size);
    if (!net || !mem) {
        cnnvis__free(net), cnnvis__free(mem);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_net_create: out of memory for %zu bytes", size);
    }
    r = cnnvis_net_init_preallocated(net, d, mem, size);
    if (r != CNNVIS_OK) {
        cnnvis__pool_free(net->pool);
        CNNVIS_FREE(mem);
        CNNVIS_FREE(net);
        return r;
    }
    net->arena_owned = 1;
    *out = net;
    return CNNVIS_OK;
}

CNNVIS__DEF void cnnvis_net_free(cnnvis_net *net)
{
    if (!net) return;
    cnnvis__pool_free(net->pool);
    net->pool = NULL;
    if (net->arena_owned) {
        CNNVIS_FREE(net->arena);
        CNNVIS_FREE(net);
    }
}

CNNVIS__DEF int cnnvis_net_find(const cnnvis_net *net, const char *name)
{
    int i;
    if (!net || !name) {
        CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_find: NULL %s", net ? "name" : "net");
        return -1;
    }
    for (i = 0; i < net->n_layers; i++)
        if (strcmp(net->layers[i].desc.name, name) == 0) return i;
    CNNVIS__FAIL(CNNVIS_ERR_ARG, "no layer is called \"%s\" (the first is \"%s\", the last \"%s\")", name,
                 net->layers[0].desc.name, net->layers[net->n_layers - 1].desc.name);
    return -1;
}

CNNVIS__DEF const char *cnnvis_net_class_name(const cnnvis_net *net, int c)
{
    if (!net || c < 0 || c >= net->n_classes) return "?";
    return net->class_names + (size_t)c * CNNVIS_CLASS_LEN;
}

/* Append to a buffer like snprintf, remembering the length the whole text needs. */
static void cnnvis__cat(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(*len < size ? buf + *len : NULL, *len < size ? size - *len : 0, fmt, ap);
    va_end(ap);
    if (n > 0) *len += (size_t)n;
}

CNNVIS__DEF int cnnvis_net_summary(char *buf, size_t size, const cnnvis_net *net)
{
    size_t len = 0, params = 0;
    long long flops = 0;
    int i;
    if (buf && size) buf[0] = 0;
    else buf = NULL, size = 0;
    if (!net) return 0;
    cnnvis__cat(buf, size, &len, "%-8s %-7s %-16s %10s %16s  %s\n", "layer", "kind", "output (CxHxW)", "params",
                "receptive field", "kernel/stride/pad/groups");
    cnnvis__cat(buf, size, &len, "%-8s %-7s %4dx%4dx%-6d %10d %16s\n", "input", "", net->desc.in_c, net->desc.in_h,
                net->desc.in_w, 0, "1 / 1 / +0");
    for (i = 0; i < net->n_layers; i++) {
        const cnnvis_layer *L = &net->layers[i];
        char rf[48], geom[96] = "";
        snprintf(rf, sizeof rf, "%d / %d / %+d", L->rf_size, L->rf_stride, L->rf_offset);
        if (L->desc.kind == CNNVIS_LAYER_CONV)
            snprintf(geom, sizeof geom, "%dx%d/%d/%d/%d", L->desc.kernel, L->desc.kernel, L->desc.stride, L->desc.pad,
                     L->desc.groups);
        else if (L->desc.kind == CNNVIS_LAYER_MAXPOOL)
            snprintf(geom, sizeof geom, "%dx%d/%d/%d", L->desc.kernel, L->desc.kernel, L->desc.stride, L->desc.pad);
        else if (L->desc.kind == CNNVIS_LAYER_DROPOUT)
            snprintf(geom, sizeof geom, "p=%g", L->desc.p);
        else if (L->desc.kind == CNNVIS_LAYER_LRN)
            snprintf(geom, sizeof geom, "size=%d alpha=%g beta=%g k=%g", L->desc.size, L->desc.alpha, L->desc.beta, L->desc.k);
        cnnvis__cat(buf, size, &len, "%-8s %-7s %4dx%4dx%-6d %10zu %16s  %s\n", L->desc.name,
                    cnnvis__kind_prefix[L->desc.kind], L->out_c, L->out_h, L->out_w, L->n_w + L->n_b, rf, geom);
        params += L->n_w + L->n_b;
        flops += L->flops;
    }
    cnnvis__cat(buf, size, &len, "total: %zu parameters, %.1f MFLOP per image forward, %d threads, %s kernels\n", params,
                (double)flops / 1e6, net->n_threads, cnnvis__kernels_name(net->kernels));
    return (int)len;
}

static float cnnvis__chan_stat(const float *v, int ch) { return v[ch < 3 ? ch : 2]; }

CNNVIS__DEF cnnvis_result cnnvis_net_normalize(cnnvis_tensor *dst, const cnnvis_net *net, const cnnvis_tensor *src)
{
    int i, ch;
    size_t j, plane;
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_normalize: net is NULL");
    CNNVIS__TRY(cnnvis__check_pair("cnnvis_net_normalize", dst, src));
    if (src->c != net->desc.in_c || src->h != net->desc.in_h || src->w != net->desc.in_w)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_normalize: image %dx%dx%d, the net takes %dx%dx%d", src->c, src->h,
                            src->w, net->desc.in_c, net->desc.in_h, net->desc.in_w);
    plane = (size_t)src->h * src->w;
    for (i = 0; i < src->n; i++)
        for (ch = 0; ch < src->c; ch++) {
            float m = cnnvis__chan_stat(net->desc.mean, ch), inv = 1.0f / cnnvis__chan_stat(net->desc.std, ch);
            float *d = dst->data + ((size_t)i * src->c + ch) * plane;
            const float *s = src->data + ((size_t)i * src->c + ch) * plane;
            for (j = 0; j < plane; j++) d[j] = (s[j] - m) * inv;
        }
    return CNNVIS_OK;
}

CNNVIS__DEF cnnvis_result cnnvis_net_denormalize(cnnvis_tensor *dst, const cnnvis_net *net, const cnnvis_tensor *src)
{
    int i, ch;
    size_t j, plane;
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_denormalize: net is NULL");
    CNNVIS__TRY(cnnvis__check_pair("cnnvis_net_denormalize", dst, src));
    if (src->c != net->desc.in_c || src->h != net->desc.in_h || src->w != net->desc.in_w)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_denormalize: image %dx%dx%d, the net takes %dx%dx%d", src->c, src->h,
                            src->w, net->desc.in_c, net->desc.in_h, net->desc.in_w);
    plane = (size_t)src->h * src->w;
    for (i = 0; i < src->n; i++)
        for (ch = 0; ch < src->c; ch++) {
            float m = cnnvis__chan_stat(net->desc.mean, ch), sd = cnnvis__chan_stat(net->desc.std, ch);
            float *d = dst->data + ((size_t)i * src->c + ch) * plane;
            const float *s = src->data + ((size_t)i * src->c + ch) * plane;
            for (j = 0; j < plane; j++) d[j] = s[j] * sd + m;
        }
    return CNNVIS_OK;
}

/* --- Forward and backward through the whole net ----------------------------------------- */

static const float *cnnvis__layer_input(const cnnvis_net *net, int i)
{
    return i ? net->layers[i - 1].out.data : net->input.data;
}

static float *cnnvis__layer_input_grad(cnnvis_net *net, int i)
{
    return i ? net->layers[i - 1].dout.data : net->dinput.data;
}

static cnnvis__conv_args cnnvis__conv_args_of(cnnvis_net *net, int i)
{
    cnnvis__conv_args a;
    const cnnvis_layer *L = &net->layers[i];
    memset(&a, 0, sizeof a);
    a.g.n = net->batch, a.g.ic = L->in_c, a.g.ih = L->in_h, a.g.iw = L->in_w;
    a.g.oc = L->out_c, a.g.oh = L->out_h, a.g.ow = L->out_w;
    a.g.k = L->desc.kernel, a.g.s = L->desc.stride, a.g.p = L->desc.pad, a.g.groups = L->desc.groups;
    a.x = cnnvis__layer_input(net, i), a.y = L->out.data, a.dy = L->dout.data, a.dx = cnnvis__layer_input_grad(net, i);
    a.w = L->w, a.b = L->b, a.dw = L->dw, a.db = L->db;
    a.scratch = net->scratch, a.pool = net->pool;
    a.n_threads = net->n_threads, a.max_batch = net->desc.max_batch;
    return a;
}

static cnnvis__fc_args cnnvis__fc_args_of(cnnvis_net *net, int i)
{
    cnnvis__fc_args a;
    const cnnvis_layer *L = &net->layers[i];
    memset(&a, 0, sizeof a);
    a.n = net->batch, a.in = L->in_c * L->in_h * L->in_w, a.out = L->out_c;
    a.x = cnnvis__layer_input(net, i), a.y = L->out.data, a.dy = L->dout.data, a.dx = cnnvis__layer_input_grad(net, i);
    a.w = L->w, a.b = L->b, a.dw = L->dw, a.db = L->db;
    a.scratch = net->scratch, a.pool = net->pool;
    return a;
}

static cnnvis__relu_args cnnvis__relu_args_of(cnnvis_net *net, int i, cnnvis_relu_rule rule)
{
    cnnvis__relu_args a;
    cnnvis_layer *L = &net->layers[i];
    a.per_item = (size_t)L->in_c * L->in_h * L->in_w;
    a.x = cnnvis__layer_input(net, i), a.y = L->out.data, a.dy = L->dout.data, a.dx = cnnvis__layer_input_grad(net, i);
    a.rule = rule;
    return a;
}

static cnnvis__lrn_args cnnvis__lrn_args_of(cnnvis_net *net, int i, cnnvis_relu_rule rule)
{
    cnnvis__lrn_args a;
    cnnvis_layer *L = &net->layers[i];
    a.per_item = (size_t)L->in_c * L->in_h * L->in_w;
    a.c = L->in_c, a.hw = L->in_h * L->in_w;
    a.x = cnnvis__layer_input(net, i), a.y = L->out.data, a.dy = L->dout.data, a.dx = cnnvis__layer_input_grad(net, i);
    a.s = L->aux;
    a.size = L->desc.size, a.alpha = L->desc.alpha, a.beta = L->desc.beta, a.k = L->desc.k;
    a.deconvnet = rule == CNNVIS_RELU_DECONVNET;
    return a;
}

static cnnvis__dropout_args cnnvis__dropout_args_of(cnnvis_net *net, int i)
{
    cnnvis__dropout_args a;
    cnnvis_layer *L = &net->layers[i];
    a.per_item = (size_t)L->in_c * L->in_h * L->in_w;
    a.x = cnnvis__layer_input(net, i), a.y = L->out.data, a.dy = L->dout.data, a.dx = cnnvis__layer_input_grad(net, i);
    a.mask = L->aux;
    return a;
}

static cnnvis__maxpool_args cnnvis__maxpool_args_of(cnnvis_net *net, int i)
{
    cnnvis__maxpool_args a;
    cnnvis_layer *L = &net->layers[i];
    a.c = L->in_c, a.ih = L->in_h, a.iw = L->in_w, a.oh = L->out_h, a.ow = L->out_w;
    a.k = L->desc.kernel, a.s = L->desc.stride, a.p = L->desc.pad;
    a.x = cnnvis__layer_input(net, i), a.y = L->out.data, a.dy = L->dout.data, a.dx = cnnvis__layer_input_grad(net, i);
    a.switches = L->switches;
    return a;
}

/* Layer i's forward pass on the net's batch: the reference kernels of A2, or with SIMD
   kernels selected, those of B1. */
static void cnnvis__layer_forward(cnnvis_net *net, int i)
{
    cnnvis_layer *L = &net->layers[i];
    int N = net->batch, reference = net->kernels == CNNVIS_KERNELS_REFERENCE;
    switch (L->desc.kind) {
    case CNNVIS_LAYER_CONV: {
        cnnvis__conv_args a = cnnvis__conv_args_of(net, i);
        if (reference) cnnvis__parallel_for(net->pool, N * L->out_c, cnnvis__conv2d_forward__reference, &a);
        else cnnvis__conv2d_forward_simd(&a, net->kernels);
        break;
    }
    case CNNVIS_LAYER_FC: {
        cnnvis__fc_args a = cnnvis__fc_args_of(net, i);
        if (reference) cnnvis__parallel_for(net->pool, N * L->out_c, cnnvis__fc_forward__reference, &a);
        else cnnvis__fc_forward_simd(net, &a);
        break;
    }
    case CNNVIS_LAYER_RELU: {
        cnnvis__relu_args a = cnnvis__relu_args_of(net, i, CNNVIS_RELU_BACKPROP);
        cnnvis__parallel_for(net->pool, N, cnnvis__relu_forward_select(net->kernels), &a);
        break;
    }
    case CNNVIS_LAYER_MAXPOOL: {
        cnnvis__maxpool_args a = cnnvis__maxpool_args_of(net, i);
        cnnvis__parallel_for(net->pool, N * L->in_c, cnnvis__maxpool_forward_select(net->kernels), &a);
        break;
    }
    case CNNVIS_LAYER_LRN: {
        cnnvis__lrn_args a = cnnvis__lrn_args_of(net, i, CNNVIS_RELU_BACKPROP);
        cnnvis__parallel_for(net->pool, N, cnnvis__lrn_forward__reference, &a);
        break;
    }
    case CNNVIS_LAYER_DROPOUT: {
        /* The mask is drawn on the calling thread, in order, so it does not depend on threads. */
        cnnvis__dropout_args a = cnnvis__dropout_args_of(net, i);
        size_t j, count = (size_t)N * a.per_item;
        float p = L->desc.p * net->dropout_scale, keep = 1.0f / (1.0f - p);
        for (j = 0; j < count; j++)
            L->aux[j] = !net->training ? 1.0f : cnnvis__rng_uniform(&net->rng) < p ? 0.0f : keep;
        cnnvis__parallel_for(net->pool, N, cnnvis__dropout_forward__reference, &a);
        break;
    }
    case CNNVIS_LAYER_FLATTEN:
        memcpy(L->out.data, cnnvis__layer_input(net, i), sizeof(float) * (size_t)N * L->out_c);
        break;
    default: CNNVIS_ASSERT(0);
    }
}

#define CNNVIS__BACKWARD_SKIP_INPUT 256 /* internal: training does not need dL/d(input) */

/* Layer i's backward pass: dx from dy (with `rule` at a ReLU or LRN), and with
   CNNVIS_BACKWARD_PARAMS dw and db added to. */
static void cnnvis__layer_backward(cnnvis_net *net, int i, cnnvis_relu_rule rule, unsigned flags)
{
    cnnvis_layer *L = &net->layers[i];
    int N = net->batch, want_dx = i > 0 || !(flags & CNNVIS__BACKWARD_SKIP_INPUT);
    int reference = net->kernels == CNNVIS_KERNELS_REFERENCE;
    switch (L->desc.kind) {
    case CNNVIS_LAYER_CONV: {
        cnnvis__conv_args a = cnnvis__conv_args_of(net, i);
        /* With the parameter gradients (training) dx comes from the product, one arithmetic
           for every image; a gradient map may take the sparse scatter (B1). */
        a.sparse_ok = !(flags & CNNVIS_BACKWARD_PARAMS);
        if (flags & CNNVIS_BACKWARD_PARAMS) {
            if (reference) cnnvis__parallel_for(net->pool, L->out_c, cnnvis__conv2d_backward_weights__reference, &a);
            else cnnvis__conv2d_backward_weights_simd(&a, net->kernels);
        }
        if (want_dx && reference) cnnvis__parallel_for(net->pool, N * L->in_c, cnnvis__conv2d_backward_data__reference, &a);
        else if (want_dx) cnnvis__conv2d_backward_data_simd(&a, net->kernels);
        break;
    }
    case CNNVIS_LAYER_FC: {
        cnnvis__fc_args a = cnnvis__fc_args_of(net, i);
        if (flags & CNNVIS_BACKWARD_PARAMS) {
            if (reference) cnnvis__parallel_for(net->pool, L->out_c, cnnvis__fc_backward_weights__reference, &a);
            else cnnvis__fc_backward_weights_simd(net, &a);
        }
        if (want_dx && reference) cnnvis__parallel_for(net->pool, N, cnnvis__fc_backward_data__reference, &a);
        else if (want_dx) cnnvis__fc_backward_data_simd(net, &a);
        break;
    }
    case CNNVIS_LAYER_RELU: {
        cnnvis__relu_args a = cnnvis__relu_args_of(net, i, rule);
        if (want_dx) cnnvis__parallel_for(net->pool, N, cnnvis__relu_backward_select(net->kernels), &a);
        break;
    }
    case CNNVIS_LAYER_MAXPOOL: {
        cnnvis__maxpool_args a = cnnvis__maxpool_args_of(net, i);
        if (want_dx) cnnvis__parallel_for(net->pool, N * L->in_c, cnnvis__maxpool_backward__reference, &a);
        break;
    }
    case CNNVIS_LAYER_LRN: {
        cnnvis__lrn_args a = cnnvis__lrn_args_of(net, i, rule);
        if (want_dx) cnnvis__parallel_for(net->pool, N, cnnvis__lrn_backward__reference, &a);
        break;
    }
    case CNNVIS_LAYER_DROPOUT: {
        cnnvis__dropout_args a = cnnvis__dropout_args_of(net, i);
        if (want_dx) cnnvis__parallel_for(net->pool, N, cnnvis__dropout_backward__reference, &a);
        break;
    }
    case CNNVIS_LAYER_FLATTEN:
        if (want_dx) memcpy(cnnvis__layer_input_grad(net, i), L->dout.data, sizeof(float) * (size_t)N * L->out_c);
        break;
    default: CNNVIS_ASSERT(0);
    }
}

static void cnnvis__set_batch(cnnvis_net *net, int n)
{
    int i;
    net->batch = n;
    net->input.n = net->dinput.n = net->probs.n = n;
    for (i = 0; i < net->n_layers; i++) net->layers[i].out.n = net->layers[i].dout.n = n;
}

CNNVIS__DEF cnnvis_result cnnvis_net_forward(cnnvis_net *net, const cnnvis_tensor *x)
{
    int i;
    if (!net || !x || !x->data) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_forward: NULL %s", net ? "input" : "net");
    if (x->c != net->desc.in_c || x->h != net->desc.in_h || x->w != net->desc.in_w)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_forward: input is %dx%dx%d, the net takes %dx%dx%d", x->c, x->h, x->w,
                            net->desc.in_c, net->desc.in_h, net->desc.in_w);
    if (x->n < 1 || x->n > net->desc.max_batch)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_forward: batch of %d images, the net takes 1..%d (max_batch)", x->n,
                            net->desc.max_batch);
    cnnvis__set_batch(net, x->n);
    if (x->data != net->input.data) memcpy(net->input.data, x->data, sizeof(float) * cnnvis_tensor_count(x));
    for (i = 0; i < net->n_layers; i++) cnnvis__layer_forward(net, i);
    return CNNVIS_OK;
}

/* The forward pass through layers 0..last only (the rest keep their old outputs): what the
   activation analyses need, without the classifier's cost. */
static cnnvis_result cnnvis__net_forward_until(cnnvis_net *net, const cnnvis_tensor *x, int last)
{
    int i;
    if (!net || !x || !x->data) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__net_forward_until: NULL %s", net ? "input" : "net");
    if (last < 0 || last >= net->n_layers)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__net_forward_until: layer index %d is not in [0, %d)", last, net->n_layers);
    if (x->c != net->desc.in_c || x->h != net->desc.in_h || x->w != net->desc.in_w || x->n < 1 || x->n > net->desc.max_batch)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__net_forward_until: input (%d, %d, %d, %d); the net takes up to %d images of "
                            "%dx%dx%d", x->n, x->c, x->h, x->w, net->desc.max_batch, net->desc.in_c, net->desc.in_h, net->desc.in_w);
    cnnvis__set_batch(net, x->n);
    if (x->data != net->input.data) memcpy(net->input.data, x->data, sizeof(float) * cnnvis_tensor_count(x));
    for (i = 0; i <= last; i++) cnnvis__layer_forward(net, i);
    return CNNVIS_OK;
}

CNNVIS__DEF cnnvis_result cnnvis_net_loss(cnnvis_net *net, const int32_t *labels)
{
    int i;
    cnnvis_layer *last;
    if (!net || !labels) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_loss: NULL %s", net ? "labels" : "net");
    if (net->batch < 1) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_loss: no forward pass yet");
    for (i = 0; i < net->batch; i++)
        if (labels[i] < 0 || labels[i] >= net->n_classes)
            return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_loss: label %d of image %d is not a class in [0, %d)", (int)labels[i],
                                i, net->n_classes);
    last = &net->layers[net->n_layers - 1];
    net->loss = (float)cnnvis__softmax_xent(net->probs.data, last->dout.data, last->out.data, labels, net->batch,
                                            net->n_classes);
    return CNNVIS_OK;
}

/* cnnvis_net_backward from layer index `from`: what the library's own passes call. */
static cnnvis_result cnnvis__net_backward_from(cnnvis_net *net, int from, const cnnvis_tensor *dout, cnnvis_relu_rule rule,
                                               unsigned flags)
{
    int i;
    cnnvis_layer *L;
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_backward: net is NULL");
    if (net->batch < 1) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_backward: no forward pass yet");
    if (from < 0 || from >= net->n_layers)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_backward: layer index %d is not in [0, %d)", from, net->n_layers);
    if ((int)rule < 0 || rule > CNNVIS_RELU_GUIDED)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_backward: unknown ReLU rule %d", (int)rule);
    L = &net->layers[from];
    if (!(flags & CNNVIS_BACKWARD_KEEP)) {
        if (!dout || !dout->data) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_backward: dout is NULL");
        if (dout->n != net->batch || dout->c != L->out_c || dout->h != L->out_h || dout->w != L->out_w)
            return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_backward: dout is (%d, %d, %d, %d), layer %s gives (%d, %d, %d, %d)",
                                dout->n, dout->c, dout->h, dout->w, L->desc.name, net->batch, L->out_c, L->out_h, L->out_w);
        if (dout->data != L->dout.data) memcpy(L->dout.data, dout->data, sizeof(float) * cnnvis_tensor_count(dout));
    }
    for (i = from; i >= 0; i--) cnnvis__layer_backward(net, i, rule, flags);
    return CNNVIS_OK;
}

CNNVIS__DEF cnnvis_result cnnvis_net_backward(cnnvis_net *net, const char *from, const cnnvis_tensor *dout, cnnvis_relu_rule rule,
                                              unsigned flags)
{
    int i;
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_backward: net is NULL");
    i = from ? cnnvis_net_find(net, from) : net->n_layers - 1;
    if (i < 0) return cnnvis__fail_context(CNNVIS_ERR_ARG, "cnnvis_net_backward");
    return cnnvis__net_backward_from(net, i, dout, rule, flags);
}

CNNVIS__DEF void cnnvis_net_zero_grad(cnnvis_net *net)
{
    int i;
    if (!net) return;
    for (i = 0; i < net->n_layers; i++) {
        cnnvis_layer *L = &net->layers[i];
        if (L->n_w) memset(L->dw, 0, sizeof(float) * L->n_w);
        if (L->n_b) memset(L->db, 0, sizeof(float) * L->n_b);
    }
}

/* --- Checking a backward pass against its definition --------------------------------------
   dL/dv ~ (L(v + h) - L(v - h)) / 2h, the central difference, for L = sum_k r_k y_k over the
   layer's output y. Only the outputs that v reaches change, so the difference is summed as
   sum_k r_k (y_k(v + h) - y_k(v - h)): the others cancel exactly and add no rounding. */

/* One tensor of the check: its values v (n), the analytic gradient a (n), up to 32 of its
   coordinates compared; the layer's input is the one a ReLU or a max-pool has kinks in. */
static void cnnvis__grad_check_tensor(cnnvis_grad_report *rep, cnnvis_net *net, int li, const char *what, float *v,
                                      const float *a, size_t n, int is_input, const float *r, float *yp, int32_t *sw,
                                      cnnvis_rng *rng)
{
    cnnvis_layer *L = &net->layers[li];
    size_t count = (size_t)net->batch * L->out_c * L->out_h * L->out_w, j, k, s;
    float scale_v = 0, scale_a = 0;
    for (j = 0; j < n; j++) scale_v = CNNVIS__MAX(scale_v, fabsf(v[j])), scale_a = CNNVIS__MAX(scale_a, fabsf(a[j]));
    for (s = 0; s < CNNVIS__MIN(n, (size_t)32); s++) {
        size_t at = n <= 32 ? s : cnnvis__rng_below(rng, (uint32_t)CNNVIS__MIN(n, (size_t)UINT32_MAX));
        float v0 = v[at], h = 1e-2f * (scale_v > 0 ? scale_v : 1.0f), vp = v0 + h, vm = v0 - h;
        double diff = 0, num, err;
        int kink = is_input && L->desc.kind == CNNVIS_LAYER_RELU && (vp > 0) != (vm > 0);
        v[at] = vp;
        cnnvis__layer_forward(net, li);
        memcpy(yp, L->out.data, sizeof(float) * count);
        if (L->switches) memcpy(sw, L->switches, sizeof(int32_t) * count);
        v[at] = vm;
        cnnvis__layer_forward(net, li);
        if (L->switches) kink |= memcmp(sw, L->switches, sizeof(int32_t) * count) != 0; /* a max moved */
        v[at] = v0;
        if (kink) {
            rep->skipped++;
            continue;
        }
        for (k = 0; k < count; k++) diff += (double)r[k] * ((double)yp[k] - L->out.data[k]);
        num = diff / ((double)vp - vm); /* the step really taken, after rounding */
        err = fabs(a[at] - num) / (CNNVIS__MAX(fabs(a[at]), fabs(num)) + 1e-3 * scale_a);
        rep->checked++;
        if (err > rep->worst || rep->checked == 1) {
            rep->worst = err;
            snprintf(rep->worst_at, sizeof rep->worst_at, "%s %zu", what, at);
        }
    }
}

CNNVIS__DEF cnnvis_result cnnvis_grad_check(cnnvis_grad_report *report, cnnvis_net *net, const char *layer,
                                            const cnnvis_tensor *x, cnnvis_relu_rule rule)
{
    static const char *fn = "cnnvis_grad_check";
    cnnvis_layer *L;
    float *block, *r, *yp, *grad_in, *grad_w, *grad_b, *saved_w, *saved_b;
    int32_t *sw;
    size_t n_in, n_out, k;
    int li, was_training;
    cnnvis_rng rng;
    if (!report) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: report is NULL", fn);
    memset(report, 0, sizeof *report);
    if (!net || !x || !x->data) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: %s is NULL", fn, !net ? "net" : "x");
    if ((int)rule < 0 || rule > CNNVIS_RELU_GUIDED) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: unknown ReLU rule %d", fn, (int)rule);
    if (!layer) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: layer is NULL", fn);
    if ((li = cnnvis_net_find(net, layer)) < 0) return cnnvis__fail_context(CNNVIS_ERR_ARG, "%s", fn);
    L = &net->layers[li];
    was_training = net->training, net->training = 0; /* dropout off: its mask would change between passes */
    if (cnnvis__net_forward_until(net, x, li) != CNNVIS_OK) {
        net->training = was_training;
        return cnnvis__fail_context(CNNVIS_ERR_ARG, "%s", fn);
    }
    n_in = (size_t)net->batch * L->in_c * L->in_h * L->in_w, n_out = (size_t)net->batch * L->out_c * L->out_h * L->out_w;
    block = (float *)cnnvis__alloc(sizeof(float) * (n_in + 3 * n_out + 2 * (L->n_w + L->n_b)));
    if (!block) {
        net->training = was_training;
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "%s: out of memory", fn);
    }
    r = block, yp = r + n_out, sw = (int32_t *)(yp + n_out), grad_in = yp + 2 * n_out, grad_w = grad_in + n_in;
    grad_b = grad_w + L->n_w, saved_w = grad_b + L->n_b, saved_b = saved_w + L->n_w;
    cnnvis__rng_seed(&rng, 1);
    for (k = 0; k < n_out; k++) r[k] = 2.0f * cnnvis__rng_uniform(&rng) - 1.0f;
    /* the analytic gradients: one backward step of the layer from dL/dy = r */
    memcpy(saved_w, L->dw, sizeof(float) * L->n_w), memcpy(saved_b, L->db, sizeof(float) * L->n_b);
    memset(L->dw, 0, sizeof(float) * L->n_w), memset(L->db, 0, sizeof(float) * L->n_b);
    memcpy(L->dout.data, r, sizeof(float) * n_out);
    cnnvis__layer_backward(net, li, rule, CNNVIS_BACKWARD_PARAMS);
    memcpy(grad_in, cnnvis__layer_input_grad(net, li), sizeof(float) * n_in);
    memcpy(grad_w, L->dw, sizeof(float) * L->n_w), memcpy(grad_b, L->db, sizeof(float) * L->n_b);
    memcpy(L->dw, saved_w, sizeof(float) * L->n_w), memcpy(L->db, saved_b, sizeof(float) * L->n_b);
    /* the numeric ones, coordinate by coordinate */
    cnnvis__grad_check_tensor(report, net, li, "input", li ? net->layers[li - 1].out.data : net->input.data, grad_in, n_in, 1, r, yp,
                              sw, &rng);
    cnnvis__grad_check_tensor(report, net, li, "w", L->w, grad_w, L->n_w, 0, r, yp, sw, &rng);
    cnnvis__grad_check_tensor(report, net, li, "b", L->b, grad_b, L->n_b, 0, r, yp, sw, &rng);
    cnnvis__layer_forward(net, li); /* the layer's output as it was */
    net->training = was_training;
    cnnvis__free(block);
    return CNNVIS_OK;
}

/* ======================================================================================
   A4  Gradients with respect to pixels                                        >>a4_pixels
   What sections 3-5 share: pixels in [0, 1] go in (normalised inside), the net runs with
   dropout off, and gradients come back with respect to the pixels.
   ====================================================================================== */

/* pixels (n, C, H, W) of the net's input shape, n = 1 if one_image, else n >= 1; or an
   error naming the argument. */
static cnnvis_result cnnvis__check_pixels(const char *fn, const char *what, const cnnvis_net *net, const cnnvis_tensor *p,
                                          int one_image)
{
    if (!p || !p->data) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: %s is NULL", fn, what);
    if (p->c == net->desc.in_c && p->h == net->desc.in_h && p->w == net->desc.in_w && (one_image ? p->n == 1 : p->n >= 1))
        return CNNVIS_OK;
    if (one_image)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: %s is (%d, %d, %d, %d), the net takes one image (1, %d, %d, %d)", fn, what, p->n,
                            p->c, p->h, p->w, net->desc.in_c, net->desc.in_h, net->desc.in_w);
    return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: %s is (%d, %d, %d, %d), the net takes images (n, %d, %d, %d) with n >= 1", fn, what,
                        p->n, p->c, p->h, p->w, net->desc.in_c, net->desc.in_h, net->desc.in_w);
}

static cnnvis_result cnnvis__check_class(const char *fn, const cnnvis_net *net, int cls)
{
    if (cls < 0 || cls >= net->n_classes)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: class %d is not in [0, %d)", fn, cls, net->n_classes);
    return CNNVIS_OK;
}

/* The index of the layer called `layer`, or an error naming fn. */
static cnnvis_result cnnvis__layer_index(const char *fn, const cnnvis_net *net, const char *layer, int *li)
{
    *li = -1;
    if (!layer) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: layer is NULL", fn);
    *li = cnnvis_net_find(net, layer);
    return *li < 0 ? cnnvis__fail_context(CNNVIS_ERR_ARG, "%s", fn) : CNNVIS_OK;
}

/* --- The forward pass, dropout off ------------------------------------------------------
   x = (p - mean[c]) / std[c], then layers 0..last. A visualisation asks what the trained
   net computes, so dropout (a training device) is off whatever net->training says. */

/* The forward pass of x (normalised, n <= max_batch) through layers 0..last, dropout off. */
static void cnnvis__forward_eval(cnnvis_net *net, const cnnvis_tensor *x, int last)
{
    int was_training = net->training;
    net->training = 0;
    cnnvis__net_forward_until(net, x, last);
    net->training = was_training;
}

/* The same for n images of pixels: they are copied into the net's input and normalised. */
static void cnnvis__forward_pixels(cnnvis_net *net, const float *pixels, int n, int last)
{
    cnnvis_tensor x = net->input;
    x.n = n;
    memcpy(x.data, pixels, sizeof(float) * cnnvis_tensor_count(&x));
    cnnvis_net_normalize(&x, net, &x);
    cnnvis__forward_eval(net, &x, last);
}

/* --- The class ----------------------------------------------------------------------------
   The net's answer is the class of the top score; its probability is the softmax of A2. */

/* The class of the highest of K scores, the first of equal ones. */
static int cnnvis__top_class(const float *s, int K)
{
    int c, best = 0;
    for (c = 1; c < K; c++)
        if (s[c] > s[best]) best = c;
    return best;
}

/* Class and softmax probability of n images (n <= max_batch) of pixels: one forward pass,
   dropout off; the scores stay in the last layer's out. predicted, confidence may be NULL. */
static void cnnvis__classify_run(cnnvis_net *net, const float *pixels, int n, int32_t *predicted, float *confidence)
{
    const float *scores = net->layers[net->n_layers - 1].out.data;
    int i, K = net->n_classes;
    cnnvis__forward_pixels(net, pixels, n, net->n_layers - 1);
    for (i = 0; i < n; i++) {
        const float *s = scores + (size_t)i * K;
        double m, z = cnnvis__softmax(NULL, s, K, &m);
        int best = cnnvis__top_class(s, K);
        if (predicted) predicted[i] = best;
        if (confidence) confidence[i] = (float)(1.0 / z); /* p(best) = exp(S_best - m) / Z, S_best = m */
    }
}

/* cnnvis_net_predict, and each image's top probability (confidence, n, may be NULL). */
static cnnvis_result cnnvis__predict(float *scores, float *probs, int32_t *classes, float *confidence, cnnvis_net *net,
                                     const cnnvis_tensor *pixels)
{
    const float *last;
    size_t count;
    int i, j, m, K;
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_predict: net is NULL");
    CNNVIS__TRY(cnnvis__check_pixels("cnnvis_net_predict", "pixels", net, pixels, 0));
    count = (size_t)net->desc.in_c * net->desc.in_h * net->desc.in_w, K = net->n_classes;
    last = net->layers[net->n_layers - 1].out.data;
    for (i = 0; i < pixels->n; i += m) {
        m = CNNVIS__MIN(net->desc.max_batch, pixels->n - i);
        cnnvis__classify_run(net, pixels->data + (size_t)i * count, m, classes ? classes + i : NULL,
                             confidence ? confidence + i : NULL);
        for (j = 0; j < m; j++) {
            double mx;
            if (scores) memcpy(scores + (size_t)(i + j) * K, last + (size_t)j * K, sizeof(float) * (size_t)K);
            if (probs) cnnvis__softmax(probs + (size_t)(i + j) * K, last + (size_t)j * K, K, &mx);
        }
    }
    return CNNVIS_OK;
}

CNNVIS__DEF cnnvis_result cnnvis_net_predict(float *scores, float *probs, int32_t *classes, cnnvis_net *net,
                                             const cnnvis_tensor *pixels)
{
    return cnnvis__predict(scores, probs, classes, NULL, net, pixels);
}

/* --- Gradients with respect to the pixels ------------------------------------------------
   The net sees x = (p - mean) / std, so by the chain rule dF/dp = dF/dx / std per channel:
   every gradient below is taken at the input (net->dinput) and divided by the std. */

/* net->dinput (n images) times scale / std[c]: the gradient with respect to pixels. */
static void cnnvis__dinput_to_pixels(const cnnvis_net *net, float *dst, int n, float scale)
{
    int i, ch;
    size_t plane = (size_t)net->desc.in_h * net->desc.in_w, q;
    const float *g = net->dinput.data;
    for (i = 0; i < n; i++)
        for (ch = 0; ch < net->desc.in_c; ch++) {
            float k = scale / cnnvis__chan_stat(net->desc.std, ch);
            for (q = 0; q < plane; q++) *dst++ = *g++ * k;
        }
}

/* dS_cls/dI of n images of pixels (n <= max_batch) with a ReLU rule: one forward and one
   backward pass from the one-hot signal on class cls. grad and scores (n) may be NULL. This
   is the lecture's saliency (section 4); with the other rules, the deconvnet (3) and guided
   backpropagation. */
static void cnnvis__score_grad(cnnvis_net *net, const float *pixels, int n, int cls, cnnvis_relu_rule rule, float *grad,
                               float *scores)
{
    cnnvis_layer *last = &net->layers[net->n_layers - 1];
    int i;
    cnnvis__forward_pixels(net, pixels, n, net->n_layers - 1);
    for (i = 0; i < n; i++)
        if (scores) scores[i] = last->out.data[(size_t)i * net->n_classes + cls];
    if (!grad) return;
    memset(last->dout.data, 0, sizeof(float) * (size_t)n * net->n_classes);
    for (i = 0; i < n; i++) last->dout.data[(size_t)i * net->n_classes + cls] = 1.0f; /* dS_c / dscores: one-hot */
    cnnvis__net_backward_from(net, net->n_layers - 1, NULL, rule, CNNVIS_BACKWARD_KEEP);
    cnnvis__dinput_to_pixels(net, grad, n, 1.0f);
}

/* The gradient dJ/dx of the cross-entropy J(x, labels[i]) of each of n images (n <=
   max_batch) with respect to its own pixels: one forward and one backward pass, dropout
   off. Returns the mean J; net->probs holds the softmax. Section 5's attacks climb it.
   direction_only 1: each image's gradient only up to a positive factor, which is all that
   sign(g) and g / ||g|| need. dJ/dS = p - onehot(y) is then computed in double and scaled to
   a largest entry of 1 before the backward pass: for an image the net is very sure about,
   p - onehot rounds to 0 in float (1 - p_y below 1e-38), the gradient vanishes and the
   attack stalls - a "masked" gradient (Carlini & Wagner 2017) that is only float's doing.
   own (n, or NULL): the labels are each image's own class, the net's answer for these
   pixels; this forward pass finds them and writes them here (labels is not read), which
   spares an attack of its own answers a forward pass of its own. */
static double cnnvis__loss_grad(cnnvis_net *net, const float *pixels, const int32_t *labels, int n, float *grad,
                                int direction_only, int32_t *own)
{
    cnnvis_layer *last = &net->layers[net->n_layers - 1];
    int i, c, K = net->n_classes;
    cnnvis__forward_pixels(net, pixels, n, net->n_layers - 1);
    for (i = 0; own && i < n; i++) own[i] = cnnvis__top_class(last->out.data + (size_t)i * K, K);
    if (own) labels = own;
    cnnvis_net_loss(net, labels); /* dJ/dscores = (p - onehot) / n in the last layer's dout */
    for (i = 0; direction_only && i < n; i++) {
        const float *s = last->out.data + (size_t)i * K;
        float *g = last->dout.data + (size_t)i * K;
        double m, z = cnnvis__softmax(NULL, s, K, &m), others = 0;
        for (c = 0; c < K; c++)
            if (c != labels[i]) others += exp((double)s[c] - m) / z; /* 1 - p_y without cancellation */
        /* |dJ/dS_y| = 1 - p_y = others is the largest entry: the others add up to it */
        for (c = 0; c < K; c++) g[c] = others > 0 ? (float)((c == labels[i] ? -others : exp((double)s[c] - m) / z) / others) : 0.0f;
    }
    cnnvis__net_backward_from(net, net->n_layers - 1, NULL, CNNVIS_RELU_BACKPROP, CNNVIS_BACKWARD_KEEP);
    /* times n: undo the batch mean, so that each image gets the gradient of its own loss */
    cnnvis__dinput_to_pixels(net, grad, n, direction_only ? 1.0f : (float)n);
    return net->loss;
}

/* ======================================================================================
   1   Visualise filters                                                      >>s1_filters
   "what do these filters detect?": weights as pictures, and how they change in training
   ====================================================================================== */

/* --- 1a Filters as pictures ------------------------------------------------------------
   "conv1: 96 filters 11x11x3": a filter with 3 input channels is a colour picture of its
   weights, pixel = 0.5 + 0.5 w / m with m = max |w| over the layer (or the filter), so that a
   zero weight is mid-grey and the sign shows. A deeper filter (IC > 3) has no colour to
   speak of: a grey tile per input channel. */

/* The layer called name, which must be a convolution; its index, or -1 with an error. */
static int cnnvis__conv_layer(const cnnvis_net *net, const char *name, const char *fn)
{
    int i;
    if (!name) {
        CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: layer is NULL", fn);
        return -1;
    }
    i = cnnvis_net_find(net, name);
    if (i < 0) return -1;
    if (net->layers[i].desc.kind != CNNVIS_LAYER_CONV) {
        CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: layer \"%s\" is a %s, not a convolution", fn, name, cnnvis__kind_prefix[net->layers[i].desc.kind]);
        return -1;
    }
    return i;
}

static cnnvis_result cnnvis__filter_tiles(cnnvis_image *tiles, const cnnvis_layer *L, int n, int zoom, int per_filter,
                                          int max_slices);

CNNVIS__DEF cnnvis_result cnnvis_filters_image(cnnvis_image *out, const cnnvis_net *net, const char *layer,
                                               const cnnvis_filters_desc *desc)
{
    cnnvis_filters_desc d;
    cnnvis_montage_desc md;
    cnnvis_image *tiles;
    const cnnvis_layer *L;
    char title[160];
    int i, n, K, icg;
    cnnvis_result r;
    if (!out) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_filters_image: out is NULL");
    memset(out, 0, sizeof *out);
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_filters_image: net is NULL");
    if ((i = cnnvis__conv_layer(net, layer, "cnnvis_filters_image")) < 0) return CNNVIS_ERR_ARG;
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    L = &net->layers[i], K = L->desc.kernel, icg = L->in_c / L->desc.groups;
    if (d.zoom < 0 || d.zoom > 64 || d.cols < 0 || d.max_filters < 0 || d.max_slices < 0)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_filters_image: zoom %d (0..64), cols %d, max_filters %d, max_slices %d",
                            d.zoom, d.cols, d.max_filters, d.max_slices);
    d.zoom = CNNVIS__DEF_VAL(d.zoom, CNNVIS__MAX(1, 32 / K / (icg == 1 || icg == 3 ? 1 : (int)ceil(sqrt((double)CNNVIS__MIN(icg, 64))))));
    d.max_slices = CNNVIS__DEF_VAL(d.max_slices, 64);
    n = d.max_filters ? CNNVIS__MIN(d.max_filters, L->out_c) : L->out_c;
    tiles = (cnnvis_image *)cnnvis__alloc(sizeof(cnnvis_image) * (size_t)n);
    if (!tiles) return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_filters_image: out of memory");
    r = cnnvis__filter_tiles(tiles, L, n, d.zoom, d.per_filter, d.max_slices);
    if (r == CNNVIS_OK) {
        memset(&md, 0, sizeof md);
        md.cols = d.cols, md.title = title;
        snprintf(title, sizeof title, "%s: %d filters %dx%dx%d (zero = grey, %s scale)", L->desc.name, L->out_c, K, K, icg,
                 d.per_filter ? "per-filter" : "shared");
        r = cnnvis_montage(out, tiles, n, NULL, &md);
        for (i = 0; i < n; i++) cnnvis_image_free(&tiles[i]);
    }
    cnnvis__free(tiles);
    return r;
}

/* Tiles of filters [0, n) of conv layer L: colour for 3 input channels, grey for 1, a grid
   of slices for more; weights mapped as 0.5 + 0.5 w / scale. */
static cnnvis_result cnnvis__filter_tiles(cnnvis_image *tiles, const cnnvis_layer *L, int n, int zoom, int per_filter,
                                          int max_slices)
{
    int K = L->desc.kernel, icg = L->in_c / L->desc.groups, f, c, y, x, k;
    size_t per = (size_t)icg * K * K;
    float scale = 0;
    int slices = icg == 3 ? 3 : CNNVIS__MIN(icg, max_slices), grid = icg == 3 || icg == 1 ? 1 : (int)ceil(sqrt((double)slices));
    int side = grid * K * zoom + (grid - 1);
    for (k = 0; k < (int)L->n_w; k++) scale = fabsf(L->w[k]) > scale ? fabsf(L->w[k]) : scale; /* the whole layer's */
    for (f = 0; f < n; f++) {
        const float *w = L->w + (size_t)f * per;
        cnnvis_result r;
        if (per_filter)
            for (k = 0, scale = 0; k < (int)per; k++) scale = fabsf(w[k]) > scale ? fabsf(w[k]) : scale;
        r = cnnvis_image_create(&tiles[f], side, side, icg == 3 ? 3 : 1);
        if (r != CNNVIS_OK) {
            while (f--) cnnvis_image_free(&tiles[f]);
            return r;
        }
        memset(tiles[f].px, 64, (size_t)side * side * tiles[f].c); /* the gaps between slices */
        for (c = 0; c < slices; c++)
            for (y = 0; y < K * zoom; y++)
                for (x = 0; x < K * zoom; x++) {
                    float v = w[((size_t)c * K + y / zoom) * K + x / zoom];
                    unsigned char p = (unsigned char)(255.0f * cnnvis__map_value(v, -scale, scale) + 0.5f);
                    if (icg == 3) {
                        tiles[f].px[((size_t)y * side + x) * 3 + c] = p;
                    } else {
                        int gy = c / grid, gx = c % grid;
                        tiles[f].px[(size_t)(gy * (K * zoom + 1) + y) * side + gx * (K * zoom + 1) + x] = p;
                    }
                }
    }
    return CNNVIS_OK;
}

/* --- 1b What good filters look like -----------------------------------------------------
   "Good training: learned filters should exhibit structure and are uncorrelated":
     decorrelation  mean over pairs of |r(f, g)|, r Pearson's correlation of all the weights
     structure      sum_{|u| <= K/4} |F(u)|^2 / sum_u |F(u)|^2, F the 2-D DFT of a K x K slice
                    (smooth filters keep their energy at low frequencies; noise spreads it)
     dead filters   those whose output is never > 0 on held-out images */

static cnnvis_result cnnvis__filter_stats_at(cnnvis_filter_stats *st, cnnvis_net *net, int layer, const cnnvis_tensor *probe);
static double cnnvis__low_frequency_share(const float *w, int K, int *low_bins);

CNNVIS__DEF cnnvis_result cnnvis_filter_stats_compute(cnnvis_filter_stats *st, cnnvis_net *net, const char *layer,
                                                      const cnnvis_tensor *probe)
{
    int li;
    if (!st || !net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_filter_stats_compute: NULL %s", st ? "net" : "st");
    memset(st, 0, sizeof *st);
    CNNVIS__TRY(cnnvis__layer_index("cnnvis_filter_stats_compute", net, layer, &li));
    return cnnvis__filter_stats_at(st, net, li, probe);
}

/* cnnvis_filter_stats_compute of layer index `layer` (the monitor's loop over the conv layers). */
static cnnvis_result cnnvis__filter_stats_at(cnnvis_filter_stats *st, cnnvis_net *net, int layer, const cnnvis_tensor *probe)
{
    const cnnvis_layer *L;
    int K, icg, n, f, g, c, low_bins = 0, slices = 0;
    size_t per, k;
    double corr = 0, structure = 0, norm_sum = 0;
    float *unit;
    if (!st || !net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_filter_stats_compute: NULL %s", st ? "net" : "st");
    memset(st, 0, sizeof *st);
    if (layer < 0 || layer >= net->n_layers || net->layers[layer].desc.kind != CNNVIS_LAYER_CONV)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_filter_stats_compute: layer %d is not a convolution", layer);
    L = &net->layers[layer], K = L->desc.kernel, icg = L->in_c / L->desc.groups, n = L->out_c;
    per = (size_t)icg * K * K;
    st->layer = layer, st->n_filters = n, st->dead = -1, st->min_norm = FLT_MAX;
    /* each filter centred and scaled to unit length: then a dot product is Pearson's r */
    unit = (float *)CNNVIS_MALLOC(sizeof(float) * per * (size_t)n);
    if (!unit) return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_filter_stats_compute: out of memory");
    for (f = 0; f < n; f++) {
        const float *w = L->w + (size_t)f * per;
        double mean = 0, ss = 0, norm = 0;
        for (k = 0; k < per; k++) mean += w[k], norm += (double)w[k] * w[k];
        mean /= (double)per;
        for (k = 0; k < per; k++) ss += (w[k] - mean) * (w[k] - mean);
        for (k = 0; k < per; k++) unit[(size_t)f * per + k] = ss > 0 ? (float)((w[k] - mean) / sqrt(ss)) : 0.0f;
        norm = sqrt(norm);
        norm_sum += norm;
        st->min_norm = (float)CNNVIS__MIN(st->min_norm, norm), st->max_norm = (float)CNNVIS__MAX(st->max_norm, norm);
        for (c = 0; c < icg; c++) {
            double share = cnnvis__low_frequency_share(w + (size_t)c * K * K, K, &low_bins);
            if (share >= 0) structure += share, slices++;
        }
    }
    for (f = 0; f < n; f++)
        for (g = f + 1; g < n; g++) {
            double dot = 0;
            for (k = 0; k < per; k++) dot += (double)unit[(size_t)f * per + k] * unit[(size_t)g * per + k];
            corr += fabs(dot);
        }
    CNNVIS_FREE(unit);
    st->mean_abs_corr = n > 1 ? (float)(corr / ((double)n * (n - 1) / 2)) : 0;
    st->structure = slices ? (float)(structure / slices) : 0;
    st->structure_noise = (float)low_bins / (float)(K * K);
    st->mean_norm = (float)(norm_sum / n);
    if (probe) {
        size_t plane = (size_t)L->out_h * L->out_w, p;
        int i;
        CNNVIS__TRY(cnnvis_net_forward(net, probe));
        st->dead = 0;
        for (f = 0; f < n; f++) {
            int alive = 0;
            for (i = 0; i < net->batch && !alive; i++) {
                const float *y = L->out.data + ((size_t)i * n + f) * plane;
                for (p = 0; p < plane && !alive; p++) alive = y[p] > 0;
            }
            st->dead += !alive;
        }
    }
    return CNNVIS_OK;
}

/* Share of a K x K slice's energy at low spatial frequencies (|f| <= max(1, K/4) cycles per
   kernel, folded so that f and K-f are one frequency), by a direct DFT. */
static double cnnvis__low_frequency_share(const float *w, int K, int *low_bins)
{
    double low = 0, total = 0, radius = CNNVIS__MAX(1.0, K / 4.0);
    int u, v, y, x;
    *low_bins = 0;
    for (u = 0; u < K; u++)
        for (v = 0; v < K; v++) {
            double re = 0, im = 0, e;
            int fu = CNNVIS__MIN(u, K - u), fv = CNNVIS__MIN(v, K - v);
            for (y = 0; y < K; y++)
                for (x = 0; x < K; x++) {
                    double angle = -6.283185307179586 * ((double)u * y + (double)v * x) / K;
                    re += w[y * K + x] * cos(angle), im += w[y * K + x] * sin(angle);
                }
            e = re * re + im * im;
            total += e;
            if (fu * fu + fv * fv <= radius * radius) low += e, (*low_bins)++;
        }
    return total > 0 ? low / total : -1;
}

/* --- 1c Monitoring filters during training --------------------------------------------
   A snapshot of the statistics of 1b and of the first filters at chosen steps; one row per
   snapshot shows the features evolve (Zeiler & Fergus 2014, fig. 4). */

CNNVIS__DEF cnnvis_result cnnvis_monitor_init(cnnvis_monitor *m, const cnnvis_net *net, const cnnvis_monitor_desc *desc)
{
    int i;
    if (!m) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_monitor_init: m is NULL");
    memset(m, 0, sizeof *m);
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_monitor_init: net is NULL");
    if (desc) m->desc = *desc;
    for (i = 0; i < net->n_layers; i++)
        if (net->layers[i].desc.kind == CNNVIS_LAYER_CONV) {
            cnnvis__copy_name(m->conv_names[m->n_conv], CNNVIS_NAME_LEN, net->layers[i].desc.name);
            m->conv[m->n_conv++] = i;
        }
    if (!m->n_conv) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_monitor_init: the net has no convolution to watch");
    m->montage_layer = m->desc.layer ? cnnvis__conv_layer(net, m->desc.layer, "cnnvis_monitor_init") : m->conv[0];
    if (m->montage_layer < 0) return CNNVIS_ERR_ARG;
    m->desc.max_snapshots = CNNVIS__DEF_VAL(m->desc.max_snapshots, 256);
    m->desc.strip_filters = CNNVIS__DEF_VAL(m->desc.strip_filters, 16);
    if (m->desc.every_steps < 0 || m->desc.max_snapshots < 1 || m->desc.max_snapshots > 100000 || m->desc.strip_filters < 1 ||
        m->desc.probe_n < 0)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_monitor_init: every_steps %d, max_snapshots %d, strip_filters %d or probe_n "
                            "%d out of range", m->desc.every_steps, m->desc.max_snapshots, m->desc.strip_filters, m->desc.probe_n);
    m->epochs = (float *)cnnvis__alloc(sizeof(float) * (size_t)m->desc.max_snapshots);
    m->steps = (long long *)cnnvis__alloc(sizeof(long long) * (size_t)m->desc.max_snapshots);
    m->stats = (cnnvis_filter_stats *)cnnvis__alloc(sizeof(cnnvis_filter_stats) * (size_t)m->desc.max_snapshots * m->n_conv);
    m->strips = (cnnvis_image *)cnnvis__alloc(sizeof(cnnvis_image) * (size_t)m->desc.max_snapshots);
    if (!m->epochs || !m->steps || !m->stats || !m->strips) {
        cnnvis_monitor_free(m);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_monitor_init: out of memory");
    }
    if (m->desc.probe) {
        const cnnvis_dataset *ds = m->desc.probe;
        int count = m->desc.probe_n ? m->desc.probe_n : CNNVIS__MIN(64, ds->n);
        cnnvis_result r;
        count = CNNVIS__MIN(CNNVIS__MIN(count, net->desc.max_batch), ds->n);
        r = cnnvis__check_dataset("cnnvis_monitor_init (probe)", ds, net);
        if (r == CNNVIS_OK) r = cnnvis_tensor_create(&m->probe, count, ds->c, ds->h, ds->w);
        if (r == CNNVIS_OK) r = cnnvis__dataset_batch(ds, 0, count, net, &m->probe, NULL);
        if (r != CNNVIS_OK) {
            cnnvis_monitor_free(m);
            return r;
        }
    }
    return CNNVIS_OK;
}

CNNVIS__DEF cnnvis_result cnnvis_monitor_snapshot(cnnvis_monitor *m, cnnvis_net *net, float epoch)
{
    const cnnvis_layer *L;
    cnnvis_image *tiles;
    cnnvis_montage_desc md;
    int i, n, s;
    cnnvis_result r = CNNVIS_OK;
    if (!m || !net || !m->stats) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_monitor_snapshot: NULL or uninitialised monitor");
    if (m->n_snapshots >= m->desc.max_snapshots)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_monitor_snapshot: already %d snapshots (max_snapshots)", m->n_snapshots);
    s = m->n_snapshots;
    for (i = 0; i < m->n_conv && r == CNNVIS_OK; i++)
        r = cnnvis__filter_stats_at(&m->stats[(size_t)s * m->n_conv + i], net, m->conv[i], m->probe.data ? &m->probe : NULL);
    CNNVIS__TRY(r);
    L = &net->layers[m->montage_layer];
    n = CNNVIS__MIN(m->desc.strip_filters, L->out_c);
    tiles = (cnnvis_image *)cnnvis__alloc(sizeof(cnnvis_image) * (size_t)n);
    if (!tiles) return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_monitor_snapshot: out of memory");
    r = cnnvis__filter_tiles(tiles, L, n, CNNVIS__MAX(1, 24 / L->desc.kernel), 0, 16);
    if (r == CNNVIS_OK) {
        memset(&md, 0, sizeof md);
        md.cols = n, md.pad = 1;
        r = cnnvis_montage(&m->strips[s], tiles, n, NULL, &md);
        for (i = 0; i < n; i++) cnnvis_image_free(&tiles[i]);
    }
    cnnvis__free(tiles);
    CNNVIS__TRY(r);
    if (m->desc.frames_dir) {
        cnnvis_image frame;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s_step%06lld.png", m->desc.frames_dir, L->desc.name, net->step);
        CNNVIS__TRY(cnnvis_filters_image(&frame, net, L->desc.name, NULL));
        r = cnnvis_image_write(path, &frame);
        cnnvis_image_free(&frame);
        if (r != CNNVIS_OK) {
            cnnvis_image_free(&m->strips[s]);
            return r;
        }
    }
    m->epochs[s] = epoch, m->steps[s] = net->step;
    m->n_snapshots++;
    return CNNVIS_OK;
}

CNNVIS__DEF int cnnvis_monitor_callback(cnnvis_net *net, const cnnvis_train_stats *s, void *user)
{
    cnnvis_monitor *m = (cnnvis_monitor *)user;
    int due;
    if (!m || !s) return 1;
    due = m->desc.every_steps ? !s->end_of_epoch && s->step % m->desc.every_steps == 0 : s->end_of_epoch;
    if (!due || m->n_snapshots >= m->desc.max_snapshots) return 0;
    return cnnvis_monitor_snapshot(m, net, s->end_of_epoch ? (float)s->epoch : (float)s->step / (float)s->steps_per_epoch) !=
           CNNVIS_OK;
}

CNNVIS__DEF cnnvis_result cnnvis_monitor_evolution_image(cnnvis_image *out, const cnnvis_monitor *m)
{
    char (*captions)[48];
    const char **cap;
    cnnvis_montage_desc md;
    int i;
    cnnvis_result r;
    if (!out) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_monitor_evolution_image: out is NULL");
    memset(out, 0, sizeof *out);
    if (!m) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_monitor_evolution_image: m is NULL");
    if (!m || m->n_snapshots < 1) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_monitor_evolution_image: no snapshots yet");
    captions = (char(*)[48])cnnvis__alloc(48 * (size_t)m->n_snapshots);
    cap = (const char **)cnnvis__alloc(sizeof(char *) * (size_t)m->n_snapshots);
    if (!captions || !cap) {
        cnnvis__free(captions), cnnvis__free(cap);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_monitor_evolution_image: out of memory");
    }
    for (i = 0; i < m->n_snapshots; i++) {
        if (m->steps[i] > 0) snprintf(captions[i], 48, "epoch %g (step %lld)", (double)m->epochs[i], m->steps[i]);
        else snprintf(captions[i], 48, "epoch %g", (double)m->epochs[i]); /* before training, or a loaded checkpoint */
        cap[i] = captions[i];
    }
    memset(&md, 0, sizeof md);
    md.cols = 1, md.max_caption = 31, md.title = "filters during training, one row per snapshot";
    r = cnnvis_montage(out, m->strips, m->n_snapshots, cap, &md);
    cnnvis__free(captions), cnnvis__free(cap);
    return r;
}

CNNVIS__DEF cnnvis_result cnnvis_monitor_plot(cnnvis_image *out, const cnnvis_monitor *m)
{
    static const char *titles[4] = {"mean |correlation| between filters", "low-frequency energy share (structure)",
                                    "mean filter norm", "dead filters (probe images)"};
    cnnvis_image plots[4];
    cnnvis_montage_desc md;
    float *values;
    cnnvis_series series[CNNVIS_MAX_LAYERS + 1];
    cnnvis_plot_desc pd;
    int what, i, s, n_plots = 0;
    cnnvis_result r = CNNVIS_OK;
    if (!out) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_monitor_plot: out is NULL");
    memset(out, 0, sizeof *out);
    if (!m) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_monitor_plot: m is NULL");
    if (!m || m->n_snapshots < 1) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_monitor_plot: no snapshots yet");
    values = (float *)cnnvis__alloc(sizeof(float) * (size_t)m->n_snapshots * (m->n_conv + 1));
    if (!values) return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_monitor_plot: out of memory");
    for (what = 0; what < 4 && r == CNNVIS_OK; what++) {
        int n_series = m->n_conv;
        if (what == 3 && m->stats[0].dead < 0) continue;
        memset(series, 0, sizeof series);
        for (i = 0; i < m->n_conv; i++) {
            for (s = 0; s < m->n_snapshots; s++) {
                const cnnvis_filter_stats *st = &m->stats[(size_t)s * m->n_conv + i];
                values[(size_t)i * m->n_snapshots + s] =
                    what == 0 ? st->mean_abs_corr : what == 1 ? st->structure : what == 2 ? st->mean_norm : (float)st->dead;
            }
            series[i].x = m->epochs, series[i].y = values + (size_t)i * m->n_snapshots;
            series[i].n = m->n_snapshots;
        }
        if (what == 1) { /* where white noise would be, for the first layer */
            for (s = 0; s < m->n_snapshots; s++) values[(size_t)m->n_conv * m->n_snapshots + s] = m->stats[s * m->n_conv].structure_noise;
            series[n_series].x = m->epochs, series[n_series].y = values + (size_t)m->n_conv * m->n_snapshots;
            series[n_series].n = m->n_snapshots, series[n_series].name = "noise (first)";
            series[n_series].rgb[0] = series[n_series].rgb[1] = series[n_series].rgb[2] = 170;
            n_series++;
        }
        for (i = 0; i < m->n_conv; i++) series[i].name = m->conv_names[i];
        memset(&pd, 0, sizeof pd);
        pd.w = 420, pd.h = 280, pd.title = titles[what], pd.xlabel = "epoch", pd.series = series, pd.n_series = n_series;
        r = cnnvis_plot_lines(&plots[n_plots], &pd);
        if (r == CNNVIS_OK) n_plots++;
    }
    cnnvis__free(values);
    if (r == CNNVIS_OK) {
        memset(&md, 0, sizeof md);
        md.cols = 2, md.bg_grey = 255;
        r = cnnvis_montage(out, plots, n_plots, NULL, &md);
    }
    for (i = 0; i < n_plots; i++) cnnvis_image_free(&plots[i]);
    return r;
}

CNNVIS__DEF cnnvis_result cnnvis_monitor_write_tsv(const char *path, const cnnvis_monitor *m)
{
    size_t cap, len = 0;
    char *text;
    int s, i;
    cnnvis_result r;
    if (!m || !path) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_monitor_write_tsv: %s is NULL", m ? "path" : "m");
    cap = 256 + (size_t)m->n_snapshots * m->n_conv * 256; /* a row is at most ~200 characters */
    text = (char *)CNNVIS_MALLOC(cap);
    if (!text) return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_monitor_write_tsv: out of memory");
    cnnvis__cat(text, cap, &len, "epoch\tstep\tlayer\tfilters\tmean_abs_corr\tstructure\tstructure_noise\tmean_norm\tmin_norm\tmax_norm\tdead\n");
    for (s = 0; s < m->n_snapshots; s++)
        for (i = 0; i < m->n_conv; i++) {
            const cnnvis_filter_stats *st = &m->stats[(size_t)s * m->n_conv + i];
            cnnvis__cat(text, cap, &len, "%.6g\t%lld\t%s\t%d\t%.5f\t%.5f\t%.5f\t%.6g\t%.6g\t%.6g\t%d\n", (double)m->epochs[s],
                        m->steps[s], m->conv_names[i], st->n_filters, st->mean_abs_corr, st->structure, st->structure_noise, st->mean_norm,
                        st->min_norm, st->max_norm, st->dead);
        }
    /* rows are bounded (names are short, numbers %.6g), so this only guards the sizing */
    r = len < cap ? cnnvis__file_write(path, text, len)
                  : CNNVIS__FAIL(CNNVIS_ERR_IO, "cnnvis_monitor_write_tsv: %zu bytes of table for a %zu-byte buffer", len, cap);
    CNNVIS_FREE(text);
    return r;
}

CNNVIS__DEF void cnnvis_monitor_free(cnnvis_monitor *m)
{
    int i;
    if (!m) return;
    for (i = 0; i < m->n_snapshots && m->strips; i++) cnnvis_image_free(&m->strips[i]);
    cnnvis__free(m->epochs), cnnvis__free(m->steps), cnnvis__free(m->stats), cnnvis__free(m->strips);
    cnnvis_tensor_free(&m->probe);
    memset(m, 0, sizeof *m);
}

/* ======================================================================================
   2   Analyse activations                                                >>s2_activations
   record a unit over many images, show the top ones; Network Dissection
   ====================================================================================== */

/* --- 2a Feature maps ---------------------------------------------------------------------
   A_k(y, x), channel k of a layer's output after a forward pass: one picture per channel. */

CNNVIS__DEF cnnvis_result cnnvis_feature_maps_image(cnnvis_image *out, const cnnvis_net *net, const char *layer, int image,
                                                    const cnnvis_maps_desc *desc)
{
    cnnvis_maps_desc d;
    cnnvis_map_desc m;
    cnnvis_montage_desc md;
    cnnvis_image *tiles;
    char (*captions)[16];
    const char **cap;
    const cnnvis_layer *L;
    int li, n, c;
    float lo = 0, hi = 0;
    char title[128];
    cnnvis_result r = CNNVIS_OK;
    if (!out) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_feature_maps_image: out is NULL");
    memset(out, 0, sizeof *out);
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_feature_maps_image: net is NULL");
    if ((li = cnnvis_net_find(net, layer)) < 0) return CNNVIS_ERR_ARG;
    if (image < 0 || image >= net->batch)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_feature_maps_image: image %d is not in the last forward pass (%d images)", image,
                            net->batch);
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    L = &net->layers[li];
    if (d.zoom < 0 || d.zoom > 64 || d.cols < 0 || d.max_maps < 0 || (int)d.cmap < 0 || d.cmap > CNNVIS_CMAP_INFERNO)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_feature_maps_image: zoom %d (0..64), cols %d, max_maps %d or colormap %d",
                            d.zoom, d.cols, d.max_maps, (int)d.cmap);
    d.zoom = CNNVIS__DEF_VAL(d.zoom, CNNVIS__MAX(1, 48 / CNNVIS__MAX(L->out_h, L->out_w)));
    n = d.max_maps ? CNNVIS__MIN(d.max_maps, L->out_c) : L->out_c;
    tiles = (cnnvis_image *)cnnvis__alloc(sizeof(cnnvis_image) * (size_t)n);
    captions = (char(*)[16])cnnvis__alloc(16 * (size_t)n);
    cap = (const char **)cnnvis__alloc(sizeof(char *) * (size_t)n);
    if (!tiles || !captions || !cap) {
        cnnvis__free(tiles), cnnvis__free(captions), cnnvis__free(cap);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_feature_maps_image: out of memory");
    }
    memset(&m, 0, sizeof m);
    m.cmap = d.cmap;
    if (d.shared) { /* one range for every map: which channels respond at all */
        cnnvis__map_range(L->out.data + (size_t)image * L->out_c * L->out_h * L->out_w, (size_t)n * L->out_h * L->out_w, 1, &m,
                          &lo, &hi);
    }
    for (c = 0; c < n && r == CNNVIS_OK; c++) {
        const float *plane = L->out.data + ((size_t)image * L->out_c + c) * L->out_h * L->out_w;
        cnnvis_image small;
        if (d.shared) { /* map with the layer's range: feed the plane pre-scaled */
            size_t p, count = (size_t)L->out_h * L->out_w;
            float *scaled = (float *)CNNVIS_MALLOC(sizeof(float) * count);
            if (!scaled) {
                r = CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_feature_maps_image: out of memory");
                break;
            }
            for (p = 0; p < count; p++) scaled[p] = cnnvis__map_value(plane[p], lo, hi);
            m.clip_percentile = 0, m.mode = CNNVIS_MAP_MINMAX;
            r = cnnvis__planes_to_image(&small, scaled, 1, L->out_w, L->out_h, &m);
            if (r == CNNVIS_OK) { /* a plane that is flat after scaling maps to grey: restore its level */
                for (p = 0; p < count; p++) {
                    unsigned char rgb[3];
                    cnnvis__colormap_rgb(d.cmap, scaled[p], rgb);
                    if (small.c == 1) small.px[p] = rgb[0];
                    else memcpy(small.px + 3 * p, rgb, 3);
                }
            }
            CNNVIS_FREE(scaled);
        } else {
            r = cnnvis__plane_to_image(&small, plane, L->out_w, L->out_h, &m);
        }
        if (r == CNNVIS_OK) r = cnnvis_image_resize(&tiles[c], &small, L->out_w * d.zoom, L->out_h * d.zoom, CNNVIS_RESIZE_NEAREST);
        cnnvis_image_free(&small);
        snprintf(captions[c], 16, "%d", c);
        cap[c] = captions[c];
    }
    if (r == CNNVIS_OK) {
        memset(&md, 0, sizeof md);
        md.cols = d.cols, md.title = title;
        snprintf(title, sizeof title, "%s: %d feature maps %dx%d of image %d (%s range)", L->desc.name, L->out_c, L->out_h,
                 L->out_w, image, d.shared ? "one" : "each its own");
        r = cnnvis_montage(out, tiles, n, cap, &md);
    }
    for (c = 0; c < n; c++) cnnvis_image_free(&tiles[c]);
    cnnvis__free(tiles), cnnvis__free(captions), cnnvis__free(cap);
    return r;
}

/* --- 2a Top-k images ---------------------------------------------------------------------
   "Pick a neuron, record it for multiple images, show the images with highest activation":
     score_k(image) = max over (y, x) of A_k(y, x)
   kept for the k best images of each unit in a min-heap while the data set streams by; a
   hit's patch is the receptive field of its (y, x) (cnnvis_layer). */

static int cnnvis__hit_better(const cnnvis_topk_hit *a, const cnnvis_topk_hit *b);
static void cnnvis__heap_offer(cnnvis_topk_hit *heap, int *count, int k, cnnvis_topk_hit hit);
static cnnvis_topk_hit cnnvis__unit_max(const cnnvis_layer *L, int i, int unit, int image_index);
static cnnvis_result cnnvis__batch_size(const char *fn, const cnnvis_net *net, int batch, int *out);
static cnnvis_result cnnvis__topk_patch(cnnvis_image *patch, const cnnvis_topk *t, const cnnvis_dataset *ds, int unit,
                                            int rank);

CNNVIS__DEF cnnvis_result cnnvis_topk_compute(cnnvis_topk *t, cnnvis_net *net, const char *layer, const cnnvis_dataset *ds,
                                              const cnnvis_topk_desc *desc)
{
    cnnvis_topk_desc d;
    const cnnvis_layer *L;
    int li, begin, i, u, batch = 0;
    cnnvis_result r = CNNVIS_OK;
    if (!t) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_topk_compute: t is NULL");
    memset(t, 0, sizeof *t);
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_topk_compute: net is NULL");
    if ((li = cnnvis_net_find(net, layer)) < 0) return CNNVIS_ERR_ARG;
    CNNVIS__TRY(cnnvis__check_dataset("cnnvis_topk_compute", ds, net));
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    if (d.k < 0 || d.k > 1024 || d.max_units < 0)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_topk_compute: k %d is not in 1..1024 (0 for 9), or max_units %d < 0", d.k,
                            d.max_units);
    CNNVIS__TRY(cnnvis__batch_size("cnnvis_topk_compute", net, d.batch, &batch));
    L = &net->layers[li];
    t->k = CNNVIS__DEF_VAL(d.k, 9);
    t->n_units = d.max_units ? CNNVIS__MIN(d.max_units, L->out_c) : L->out_c;
    t->layer = li, t->rf_size = L->rf_size, t->rf_stride = L->rf_stride, t->rf_offset = L->rf_offset;
    t->in_h = net->desc.in_h, t->in_w = net->desc.in_w;
    cnnvis__copy_name(t->layer_name, sizeof t->layer_name, L->desc.name);
    t->count = (int *)cnnvis__alloc(sizeof(int) * (size_t)t->n_units);
    t->hits = (cnnvis_topk_hit *)cnnvis__alloc(sizeof(cnnvis_topk_hit) * (size_t)t->n_units * t->k);
    if (!t->count || !t->hits) {
        cnnvis_topk_free(t);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_topk_compute: out of memory for %d units", L->out_c);
    }
    for (begin = 0; begin < ds->n && r == CNNVIS_OK; begin += batch) {
        int count = CNNVIS__MIN(batch, ds->n - begin);
        cnnvis_tensor x = net->input;
        x.n = count;
        r = cnnvis__dataset_batch(ds, begin, count, net, &x, NULL);
        if (r == CNNVIS_OK) cnnvis__forward_eval(net, &x, li);
        for (i = 0; i < count && r == CNNVIS_OK; i++)
            for (u = 0; u < t->n_units; u++)
                cnnvis__heap_offer(t->hits + (size_t)u * t->k, &t->count[u], t->k, cnnvis__unit_max(L, i, u, begin + i));
    }
    if (r != CNNVIS_OK) {
        cnnvis_topk_free(t);
        return r;
    }
    for (u = 0; u < t->n_units; u++) { /* heap order -> best first (insertion sort: k is small) */
        cnnvis_topk_hit *h = t->hits + (size_t)u * t->k;
        int a, b;
        for (a = 1; a < t->count[u]; a++) {
            cnnvis_topk_hit v = h[a];
            for (b = a; b > 0 && cnnvis__hit_better(&v, &h[b - 1]); b--) h[b] = h[b - 1];
            h[b] = v;
        }
    }
    return CNNVIS_OK;
}

CNNVIS__DEF cnnvis_result cnnvis_topk_image(cnnvis_image *out, const cnnvis_topk *t, const cnnvis_dataset *ds, int max_units,
                                            int patches)
{
    cnnvis_image *blocks, *tiles;
    char (*captions)[24];
    const char **cap;
    cnnvis_montage_desc md;
    char title[160];
    int n, u, r_, zoom;
    cnnvis_result r = CNNVIS_OK;
    if (!out) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_topk_image: out is NULL");
    memset(out, 0, sizeof *out);
    if (!t || !t->hits) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_topk_image: NULL top-k");
    if (max_units < 0) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_topk_image: max_units %d < 0", max_units);
    n = CNNVIS__MIN(t->n_units, max_units ? max_units : 64);
    blocks = (cnnvis_image *)cnnvis__alloc(sizeof(cnnvis_image) * (size_t)n);
    tiles = (cnnvis_image *)cnnvis__alloc(sizeof(cnnvis_image) * (size_t)t->k);
    captions = (char(*)[24])cnnvis__alloc(24 * (size_t)n);
    cap = (const char **)cnnvis__alloc(sizeof(char *) * (size_t)n);
    if (!blocks || !tiles || !captions || !cap) {
        cnnvis__free(blocks), cnnvis__free(tiles), cnnvis__free(captions), cnnvis__free(cap);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_topk_image: out of memory");
    }
    /* small patches are magnified so that each block is about 72 pixels wide */
    zoom = CNNVIS__MAX(1, 24 / CNNVIS__MAX(1, patches ? CNNVIS__MIN(t->rf_size, 4 * t->in_h) : t->in_h));
    for (u = 0; u < n && r == CNNVIS_OK; u++) {
        int made = 0;
        memset(&md, 0, sizeof md);
        md.cols = (int)ceil(sqrt((double)t->k)), md.pad = 1, md.bg_grey = 16;
        for (r_ = 0; r_ < t->count[u] && r == CNNVIS_OK; r_++) {
            cnnvis_image raw;
            if (patches) r = cnnvis__topk_patch(&raw, t, ds, u, r_);
            else r = cnnvis__dataset_image(&raw, ds, t->hits[(size_t)u * t->k + r_].image);
            if (r == CNNVIS_OK) r = cnnvis_image_resize(&tiles[made], &raw, raw.w * zoom, raw.h * zoom, CNNVIS_RESIZE_NEAREST);
            cnnvis_image_free(&raw);
            if (r == CNNVIS_OK) made++;
        }
        if (r == CNNVIS_OK && made) r = cnnvis_montage(&blocks[u], tiles, made, NULL, &md);
        else if (r == CNNVIS_OK) r = cnnvis_image_create(&blocks[u], 1, 1, 3);
        while (made--) cnnvis_image_free(&tiles[made]);
        snprintf(captions[u], 24, "unit %d", u);
        cap[u] = captions[u];
    }
    if (r == CNNVIS_OK) {
        memset(&md, 0, sizeof md);
        md.title = title;
        snprintf(title, sizeof title, "%s: top-%d %s of each unit (receptive field %dx%d)", t->layer_name, t->k,
                 patches ? "patches" : "images", t->rf_size, t->rf_size);
        r = cnnvis_montage(out, blocks, n, cap, &md);
    }
    for (u = 0; u < n; u++) cnnvis_image_free(&blocks[u]);
    cnnvis__free(blocks), cnnvis__free(tiles), cnnvis__free(captions), cnnvis__free(cap);
    return r;
}

CNNVIS__DEF void cnnvis_topk_free(cnnvis_topk *t)
{
    if (!t) return;
    cnnvis__free(t->count), cnnvis__free(t->hits);
    memset(t, 0, sizeof *t);
}

/* a before b in the ranking: higher value, then earlier image, then earlier position */
static int cnnvis__hit_better(const cnnvis_topk_hit *a, const cnnvis_topk_hit *b)
{
    if (a->value != b->value) return a->value > b->value;
    if (a->image != b->image) return a->image < b->image;
    if (a->y != b->y) return a->y < b->y;
    return a->x < b->x;
}

/* Offer a hit to a unit's min-heap of at most k (the worst kept hit at the root). */
static void cnnvis__heap_offer(cnnvis_topk_hit *heap, int *count, int k, cnnvis_topk_hit hit)
{
    int i, child;
    if (*count < k) { /* sift up */
        i = (*count)++;
        while (i > 0 && cnnvis__hit_better(&heap[(i - 1) / 2], &hit)) heap[i] = heap[(i - 1) / 2], i = (i - 1) / 2;
        heap[i] = hit;
        return;
    }
    if (!cnnvis__hit_better(&hit, &heap[0])) return;
    for (i = 0; (child = 2 * i + 1) < k; i = child) { /* sift the root down */
        if (child + 1 < k && cnnvis__hit_better(&heap[child], &heap[child + 1])) child++;
        if (!cnnvis__hit_better(&hit, &heap[child])) break;
        heap[i] = heap[child];
    }
    heap[i] = hit;
}

/* The unit's largest activation in image i of the last forward pass, and where. */
static cnnvis_topk_hit cnnvis__unit_max(const cnnvis_layer *L, int i, int unit, int image_index)
{
    const float *plane = L->out.data + ((size_t)i * L->out_c + unit) * L->out_h * L->out_w;
    cnnvis_topk_hit h;
    int p, best = 0;
    for (p = 1; p < L->out_h * L->out_w; p++)
        if (plane[p] > plane[best]) best = p;
    h.value = plane[best], h.image = image_index, h.y = best / L->out_w, h.x = best % L->out_w;
    return h;
}

static cnnvis_result cnnvis__batch_size(const char *fn, const cnnvis_net *net, int batch, int *out)
{
    if (batch < 0 || batch > net->desc.max_batch)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: batch %d is not in 1..%d (the net's max_batch; 0 for that)", fn, batch,
                            net->desc.max_batch);
    *out = batch ? batch : net->desc.max_batch;
    return CNNVIS_OK;
}

static cnnvis_result cnnvis__topk_patch(cnnvis_image *patch, const cnnvis_topk *t, const cnnvis_dataset *ds, int unit,
                                            int rank)
{
    const cnnvis_topk_hit *h;
    int y, x, ch, y0, x0, size;
    if (!patch) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__topk_patch: patch is NULL");
    memset(patch, 0, sizeof *patch);
    if (!t || !t->hits || !ds || !ds->px) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__topk_patch: NULL top-k or data set");
    if (unit < 0 || unit >= t->n_units || rank < 0 || rank >= t->count[unit])
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__topk_patch: unit %d rank %d not found (%d units, %d hits for this unit)", unit,
                            rank, t->n_units, unit >= 0 && unit < t->n_units ? t->count[unit] : 0);
    h = t->hits + (size_t)unit * t->k + rank;
    if (h->image < 0 || h->image >= ds->n || ds->h != t->in_h || ds->w != t->in_w || (ds->c != 1 && ds->c != 3))
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__topk_patch: the data set is not the one the top-k came from");
    size = CNNVIS__MIN(t->rf_size, 4 * CNNVIS__MAX(t->in_h, t->in_w));
    y0 = t->rf_offset + h->y * t->rf_stride, x0 = t->rf_offset + h->x * t->rf_stride;
    if (t->rf_stride == 1 && t->rf_offset == 0 && size >= t->in_h && size >= t->in_w) y0 = x0 = 0; /* fc: the whole image */
    CNNVIS__TRY(cnnvis_image_create(patch, size, size, ds->c));
    for (y = 0; y < size; y++)
        for (x = 0; x < size; x++)
            for (ch = 0; ch < ds->c; ch++) {
                int iy = y0 + y, ix = x0 + x;
                patch->px[((size_t)y * size + x) * ds->c + ch] =
                    iy >= 0 && iy < ds->h && ix >= 0 && ix < ds->w ? ds->px[(((size_t)h->image * ds->c + ch) * ds->h + iy) * ds->w + ix] : 128;
            }
    return CNNVIS_OK;
}

/* --- 2b Network Dissection -------------------------------------------------------------
   Bau et al. 2017: for unit k of a layer,
     T_k      such that P(A_k(x) > T_k) = 0.005 over every position of every image
     M_k(x)   = upscale(A_k(x)) > T_k, the map brought to the image's size (bilinear)
     IoU_k,c  = sum_x |M_k(x) n L_c(x)| / sum_x |M_k(x) u L_c(x)|, L_c the pixels labelled c
   and the unit detects the concept c of highest IoU if that IoU is above 0.04. */

static cnnvis_result cnnvis__dissect_run(cnnvis_dissection *out, cnnvis_net *net, const char *const *layers, int n_layers,
                                         const cnnvis_dataset *ds, const cnnvis_dissect_desc *desc, int batch, int n_concepts);

CNNVIS__DEF cnnvis_result cnnvis_dissect(cnnvis_dissection *out, cnnvis_net *net, const char *const *layers, int n_layers,
                                         const cnnvis_dataset *ds, const cnnvis_dissect_desc *desc)
{
    cnnvis_dissect_desc d;
    int c, batch = 0, n_concepts = 0;
    if (!out || !layers) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_dissect: %s is NULL", out ? "layers" : "out");
    if (!out || n_layers < 1 || n_layers > CNNVIS_MAX_LAYERS || !layers)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_dissect: need 1..%d layers and an output array", CNNVIS_MAX_LAYERS);
    memset(out, 0, sizeof *out * (size_t)n_layers);
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_dissect: net is NULL");
    CNNVIS__TRY(cnnvis__check_dataset("cnnvis_dissect", ds, net));
    if (ds->n_categories < 1 || !ds->concepts)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_dissect: the data set has no per-pixel concept labels (n_categories is 0)");
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    d.quantile = CNNVIS__DEF_VAL(d.quantile, 0.005f);
    d.iou_threshold = CNNVIS__DEF_VAL(d.iou_threshold, 0.04f);
    if (!(d.quantile > 0 && d.quantile < 1) || !(d.iou_threshold >= 0 && d.iou_threshold <= 1))
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_dissect: quantile %g must be in (0, 1), IoU threshold %g in [0, 1]",
                            d.quantile, d.iou_threshold);
    CNNVIS__TRY(cnnvis__batch_size("cnnvis_dissect", net, d.batch, &batch));
    for (c = 0; c < ds->n_categories; c++) {
        if (ds->n_concepts[c] < 0 || ds->n_concepts[c] > 255)
            return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_dissect: the data set's n_concepts[%d] = %d is not in [0, 255]", c,
                                ds->n_concepts[c]);
        n_concepts += ds->n_concepts[c];
    }
    if (n_concepts == 0) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_dissect: the data set's categories have no concepts");
    return cnnvis__dissect_run(out, net, layers, n_layers, ds, &d, batch, n_concepts);
}

/* How cnnvis_dissect finds T_k exactly in two streams over the data set. The first counts
   each unit's activations in 65,536 bins (the top 16 bits of their keys: sign, exponent
   and 7 bits of mantissa), which leaves T_k inside one bin, [lo, hi]. The second collects
   that bin's values (1/128 of an octave wide, it holds a few hundred), which gives T_k
   exactly, and meanwhile counts the intersections: an upsampled pixel above the bin is in
   M_k, one below it is out, and the few inside it are kept until T_k is known. A unit
   whose bin holds more than CNNVIS_DISSECT_CAP values or pixels (heavy ties, or a huge
   data set) takes more streams: the bin is narrowed 12 bits at a time, then the
   intersections are counted with T_k known. Memory stays bounded either way. */
#ifndef CNNVIS_DISSECT_CAP
#define CNNVIS_DISSECT_CAP 8192
#endif

enum {
    CNNVIS__UNIT_DONE,    /* T_k and the intersections are known */
    CNNVIS__UNIT_COLLECT, /* this stream collects the bin's values, and counts intersections */
    CNNVIS__UNIT_NARROW,  /* this stream counts the bin's values in 4096 narrower bins */
    CNNVIS__UNIT_EXACT    /* T_k is known; this stream counts intersections */
};

/* An upsampled pixel whose value is inside a unit's bin. */
typedef struct cnnvis__dissect_pixel {
    float v;
    int32_t image, pixel;
} cnnvis__dissect_pixel;

/* The state of dissection over all its layers and units. */
typedef struct cnnvis__dissect {
    cnnvis_net *net;
    const cnnvis_dataset *ds;
    cnnvis_dissection *out;
    int n_layers, total_units, out_of_memory;
    int *unit_layer, *unit_index;      /* (total_units) layers interleaved, so that threads get equal work */
    /* the quantile */
    int *state;                        /* (total_units) CNNVIS__UNIT_* */
    uint32_t *lo, *hi;                 /* (total_units) T_k's key is in [lo, hi] */
    long long *rank, *in_bin;          /* (total_units) T_k is the rank-th smallest (from 0) of the in_bin keys in [lo, hi] */
    uint32_t **blocks;                 /* (total_units, 512) first stream: 128 bins an exponent, allocated when first hit */
    uint32_t **values;                 /* (total_units) COLLECT: the keys in [lo, hi]; NARROW: 4096 bins over [lo, hi] */
    long long *n_values;
    /* intersection counting */
    cnnvis__dissect_pixel **pending;   /* (total_units) upsampled pixels inside [lo, hi], until T_k is known */
    int *n_pending, *overflow;
    long long *inter, *mask_area, *concept_area; /* (total_units, n_concepts), (total_units), (n_concepts) */
    float *up;                         /* (threads, H*W) upsampled maps */
    int32_t *top;                      /* (total_units, 8) best images, kept by value */
    float *top_value;
    int batch_begin, batch_count;
} cnnvis__dissect;

static uint32_t cnnvis__float_key(float f);
static float cnnvis__key_float(uint32_t k);
static void cnnvis__dissect_first_range(void *p, int begin, int end);
static void cnnvis__dissect_count(cnnvis__dissect *s, int u, int image, size_t pixel);
static void cnnvis__dissect_pend(cnnvis__dissect *s, int u, float v, int image, size_t pixel);
static int cnnvis__dissect_shift(uint32_t lo, uint32_t hi);
static void cnnvis__dissect_bin_range(void *p, int begin, int end);
static int cnnvis__key_order(const void *a, const void *b);
static int cnnvis__dissect_settle(cnnvis__dissect *s, int u);
static int cnnvis__dissect_prepare(cnnvis__dissect *s, int u);
static cnnvis_result cnnvis__dissect_stream(cnnvis__dissect *s, int deepest, int batch, cnnvis__range_fn fn);

/* cnnvis_dissect once its arguments are checked: d resolved, the images in batches of batch,
   n_concepts over all the data set's categories. */
static cnnvis_result cnnvis__dissect_run(cnnvis_dissection *out, cnnvis_net *net, const char *const *layers, int n_layers,
                                         const cnnvis_dataset *ds, const cnnvis_dissect_desc *desc, int batch, int n_concepts)
{
    cnnvis_dissect_desc d = *desc;
    cnnvis__dissect s;
    int l, u, c, k, deepest = 0, most_units = 0, busy;
    cnnvis_result r = CNNVIS_OK;
    memset(&s, 0, sizeof s);
    s.net = net, s.ds = ds, s.out = out, s.n_layers = n_layers;
    for (l = 0; l < n_layers; l++) {
        int li = cnnvis_net_find(net, layers[l]);
        const cnnvis_layer *L;
        if (li < 0) {
            for (k = 0; k < l; k++) cnnvis_dissection_free(&out[k]);
            return cnnvis__fail_context(CNNVIS_ERR_ARG, "cnnvis_dissect");
        }
        L = &net->layers[li];
        out[l].layer = li, out[l].n_units = L->out_c, out[l].n_categories = ds->n_categories, out[l].n_concepts = n_concepts;
        out[l].quantile = d.quantile, out[l].iou_threshold = d.iou_threshold;
        cnnvis__copy_name(out[l].layer_name, sizeof out[l].layer_name, L->desc.name);
        for (c = 0, k = 0; c < ds->n_categories; k += ds->n_concepts[c], c++) out[l].offset[c] = k;
        out[l].units = (cnnvis_dissect_unit *)cnnvis__alloc(sizeof(cnnvis_dissect_unit) * (size_t)L->out_c);
        out[l].iou = (float *)cnnvis__alloc(sizeof(float) * (size_t)L->out_c * n_concepts);
        if (!out[l].units || !out[l].iou) r = CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_dissect: out of memory");
        deepest = CNNVIS__MAX(deepest, li);
        most_units = CNNVIS__MAX(most_units, L->out_c);
        s.total_units += L->out_c;
        if (r != CNNVIS_OK) break;
    }
    if (r == CNNVIS_OK) {
        size_t U = (size_t)s.total_units;
        s.unit_layer = (int *)cnnvis__alloc(sizeof(int) * U);
        s.unit_index = (int *)cnnvis__alloc(sizeof(int) * U);
        s.state = (int *)cnnvis__alloc(sizeof(int) * U);
        s.lo = (uint32_t *)cnnvis__alloc(sizeof(uint32_t) * U);
        s.hi = (uint32_t *)cnnvis__alloc(sizeof(uint32_t) * U);
        s.rank = (long long *)cnnvis__alloc(sizeof(long long) * U);
        s.in_bin = (long long *)cnnvis__alloc(sizeof(long long) * U);
        s.blocks = (uint32_t **)cnnvis__alloc(sizeof(uint32_t *) * U * 512);
        s.values = (uint32_t **)cnnvis__alloc(sizeof(uint32_t *) * U);
        s.n_values = (long long *)cnnvis__alloc(sizeof(long long) * U);
        s.pending = (cnnvis__dissect_pixel **)cnnvis__alloc(sizeof(cnnvis__dissect_pixel *) * U);
        s.n_pending = (int *)cnnvis__alloc(sizeof(int) * U);
        s.overflow = (int *)cnnvis__alloc(sizeof(int) * U);
        s.inter = (long long *)cnnvis__alloc(sizeof(long long) * U * (size_t)n_concepts);
        s.mask_area = (long long *)cnnvis__alloc(sizeof(long long) * U);
        s.concept_area = (long long *)cnnvis__alloc(sizeof(long long) * (size_t)n_concepts);
        s.up = (float *)cnnvis__alloc(sizeof(float) * (size_t)net->n_threads * ds->h * ds->w);
        s.top = (int32_t *)cnnvis__alloc(sizeof(int32_t) * U * 8);
        s.top_value = (float *)cnnvis__alloc(sizeof(float) * U * 8);
        if (!s.unit_layer || !s.unit_index || !s.state || !s.lo || !s.hi || !s.rank || !s.in_bin || !s.blocks || !s.values ||
            !s.n_values || !s.pending || !s.n_pending || !s.overflow || !s.inter || !s.mask_area ||
            !s.concept_area || !s.up || !s.top || !s.top_value)
            r = CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_dissect: out of memory for %d units", s.total_units);
    }
    if (r == CNNVIS_OK) {
        /* unit k of every layer, then unit k + 1: neighbouring units cost about the same */
        for (k = 0, u = 0; k < most_units; k++)
            for (l = 0; l < n_layers; l++)
                if (k < out[l].n_units) s.unit_layer[u] = l, s.unit_index[u] = k, u++;
        for (u = 0; u < s.total_units * 8; u++) s.top[u] = -1;
    }
    /* T_k is the (r+1)-th largest of the unit's N activations with r = floor(q N) (exactly
       r exceed it, barring ties): the rank-th smallest, counting from 0. */
    if (r == CNNVIS_OK) r = cnnvis__dissect_stream(&s, deepest, batch, cnnvis__dissect_first_range);
    for (u = 0; u < s.total_units && r == CNNVIS_OK; u++) {
        const cnnvis_layer *L = &net->layers[out[s.unit_layer[u]].layer];
        long long n = (long long)ds->n * L->out_h * L->out_w, below = 0;
        uint32_t **blocks = s.blocks + (size_t)u * 512, bin;
        /* (1 + FLT_EPSILON): the float 0.005f is a little below 0.005, and the count of
           values above T_k is meant to be that of the decimal quantile */
        s.rank[u] = CNNVIS__MAX(0, n - 1 - (long long)floor((double)d.quantile * (double)n * (1.0 + FLT_EPSILON)));
        for (bin = 0; bin < 65536; bin++) {
            long long count = blocks[bin >> 7] ? blocks[bin >> 7][bin & 127] : 0;
            if (below + count > s.rank[u]) {
                s.in_bin[u] = count;
                break;
            }
            below += count;
        }
        if (bin == 65536)
            r = CNNVIS__FAIL(CNNVIS_ERR_NUMERIC, "cnnvis_dissect: %s unit %d: fewer activations than %lld", out[s.unit_layer[u]].layer_name,
                             s.unit_index[u], n);
        s.rank[u] -= below;
        s.lo[u] = bin << 16, s.hi[u] = s.lo[u] | 0xffffu;
        s.state[u] = s.in_bin[u] <= CNNVIS_DISSECT_CAP ? CNNVIS__UNIT_COLLECT : CNNVIS__UNIT_NARROW;
    }
    for (u = 0; u < s.total_units * 512 && s.blocks; u++) cnnvis__free(s.blocks[u]), s.blocks[u] = NULL;
    /* Then stream until every unit's T_k and intersections are known: once more, but for
       units with heavy ties, for which the net runs only up to the deepest of them (such
       units are mostly in conv1, whose maps hold the most values). */
    do {
        busy = -1; /* the deepest layer with a unit still to settle */
        for (u = 0; u < s.total_units && r == CNNVIS_OK; u++) {
            if (s.state[u] != CNNVIS__UNIT_DONE) busy = CNNVIS__MAX(busy, out[s.unit_layer[u]].layer);
            if (!cnnvis__dissect_prepare(&s, u)) r = CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_dissect: out of memory");
        }
        if (busy < 0 || r != CNNVIS_OK) break;
        r = cnnvis__dissect_stream(&s, busy, batch, cnnvis__dissect_bin_range);
        for (u = 0; u < s.total_units && r == CNNVIS_OK; u++)
            if (!cnnvis__dissect_settle(&s, u))
                r = CNNVIS__FAIL(CNNVIS_ERR_NUMERIC, "cnnvis_dissect: %s unit %d gave other activations in another stream (a forward pass that is not deterministic?)",
                                 out[s.unit_layer[u]].layer_name, s.unit_index[u]);
    } while (r == CNNVIS_OK);
    /* IoU, each unit's best concept, and the detectors per category. */
    for (u = 0; u < s.total_units && r == CNNVIS_OK; u++) {
        cnnvis_dissection *dis = &out[s.unit_layer[u]];
        cnnvis_dissect_unit *unit = &dis->units[s.unit_index[u]];
        float *iou = dis->iou + (size_t)s.unit_index[u] * n_concepts;
        int best = 0;
        unit->threshold = cnnvis__key_float(s.lo[u]);
        for (k = 0; k < n_concepts; k++) {
            long long inter = s.inter[(size_t)u * n_concepts + k], uni = s.mask_area[u] + s.concept_area[k] - inter;
            iou[k] = uni > 0 ? (float)((double)inter / (double)uni) : 0.0f;
            if (iou[k] > iou[best]) best = k;
        }
        for (c = ds->n_categories - 1; c > 0 && best < dis->offset[c]; c--) continue;
        unit->category = c, unit->concept = best - dis->offset[c], unit->iou = iou[best];
        unit->detector = iou[best] > d.iou_threshold;
        memcpy(unit->top, s.top + (size_t)u * 8, sizeof unit->top);
    }
    for (l = 0; l < n_layers && r == CNNVIS_OK; l++) {
        cnnvis_dissection *dis = &out[l];
        for (c = 0; c < ds->n_categories; c++) {
            for (k = 0; k < ds->n_concepts[c]; k++) {
                int found = 0;
                for (u = 0; u < dis->n_units; u++) {
                    const cnnvis_dissect_unit *unit = &dis->units[u];
                    if (!unit->detector || unit->category != c || unit->concept != k) continue;
                    dis->detectors[c]++, found = 1;
                }
                dis->unique[c] += found;
            }
        }
    }
    for (u = 0; u < s.total_units && s.blocks; u++) {
        for (k = 0; k < 512; k++) cnnvis__free(s.blocks[(size_t)u * 512 + k]);
        if (s.values) cnnvis__free(s.values[u]);
        if (s.pending) cnnvis__free(s.pending[u]);
    }
    cnnvis__free(s.unit_layer), cnnvis__free(s.unit_index), cnnvis__free(s.state), cnnvis__free(s.lo), cnnvis__free(s.hi);
    cnnvis__free(s.rank), cnnvis__free(s.in_bin), cnnvis__free(s.blocks), cnnvis__free(s.values), cnnvis__free(s.n_values);
    cnnvis__free(s.pending), cnnvis__free(s.n_pending), cnnvis__free(s.overflow);
    cnnvis__free(s.inter), cnnvis__free(s.mask_area), cnnvis__free(s.concept_area), cnnvis__free(s.up);
    cnnvis__free(s.top), cnnvis__free(s.top_value);
    if (r != CNNVIS_OK)
        for (l = 0; l < n_layers; l++) cnnvis_dissection_free(&out[l]);
    return r;
}

CNNVIS__DEF void cnnvis_dissection_free(cnnvis_dissection *dis)
{
    if (!dis) return;
    cnnvis__free(dis->units), cnnvis__free(dis->iou);
    memset(dis, 0, sizeof *dis);
}

CNNVIS__DEF cnnvis_result cnnvis_dissection_write_tsv(const char *path, const cnnvis_dissection *dis, int n_layers,
                                                      const cnnvis_dataset *ds)
{
    size_t cap = 256, len = 0;
    char *text;
    int l, u;
    cnnvis_result r;
    if (!dis || !ds || !path)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_dissection_write_tsv: %s is NULL", !dis ? "dis" : !ds ? "ds" : "path");
    if (n_layers < 1) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_dissection_write_tsv: n_layers %d < 1", n_layers);
    CNNVIS__TRY(cnnvis__check_dataset("cnnvis_dissection_write_tsv", ds, NULL));
    for (l = 0; l < n_layers; l++) cap += (size_t)dis[l].n_units * 160;
    text = (char *)CNNVIS_MALLOC(cap);
    if (!text) return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_dissection_write_tsv: out of memory");
    cnnvis__cat(text, cap, &len, "layer\tunit\tconcept\tcategory\tiou\tthreshold\tdetector\n");
    for (l = 0; l < n_layers; l++)
        for (u = 0; u < dis[l].n_units; u++) {
            const cnnvis_dissect_unit *unit = &dis[l].units[u];
            cnnvis__cat(text, cap, &len, "%s\t%d\t%s\t%s\t%.4f\t%.6g\t%d\n", dis[l].layer_name, u,
                        cnnvis__dataset_concept_name(ds, unit->category, unit->concept),
                        unit->category >= 0 && unit->category < ds->n_categories ? ds->category_names[unit->category] : "?",
                        unit->iou, unit->threshold, unit->detector);
        }
    /* rows are bounded (names are short, numbers %.6g), so this only guards the sizing */
    r = len < cap ? cnnvis__file_write(path, text, len)
                  : CNNVIS__FAIL(CNNVIS_ERR_IO, "cnnvis_dissection_write_tsv: %zu bytes of table for a %zu-byte buffer", len, cap);
    CNNVIS_FREE(text);
    return r;
}

CNNVIS__DEF cnnvis_result cnnvis_dissection_plot(cnnvis_image *out, const cnnvis_dissection *dis, int n_layers,
                                                 const cnnvis_dataset *ds)
{
    float values[CNNVIS_MAX_CATEGORIES][CNNVIS_MAX_LAYERS];
    const char *names[CNNVIS_MAX_LAYERS];
    cnnvis_series series[CNNVIS_MAX_CATEGORIES];
    cnnvis_plot_desc pd;
    int l, c;
    if (!out) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_dissection_plot: out is NULL");
    memset(out, 0, sizeof *out);
    if (!dis || !ds || n_layers < 1 || n_layers > CNNVIS_MAX_LAYERS)
        return !dis || !ds ? CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_dissection_plot: %s is NULL", !dis ? "dis" : "ds")
                           : CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_dissection_plot: %d layers (n_layers) not in [1, %d]", n_layers,
                                          CNNVIS_MAX_LAYERS);
    CNNVIS__TRY(cnnvis__check_dataset("cnnvis_dissection_plot", ds, NULL));
    memset(series, 0, sizeof series);
    for (l = 0; l < n_layers; l++) {
        names[l] = dis[l].layer_name;
        for (c = 0; c < ds->n_categories; c++) values[c][l] = (float)dis[l].unique[c];
    }
    for (c = 0; c < ds->n_categories; c++) series[c].name = ds->category_names[c], series[c].y = values[c], series[c].n = n_layers;
    memset(&pd, 0, sizeof pd);
    pd.title = "unique detectors per category (IoU > threshold)", pd.ylabel = "detectors";
    pd.series = series, pd.n_series = ds->n_categories, pd.categories = names, pd.n_categories = n_layers;
    return cnnvis__plot_bars(out, &pd);
}

CNNVIS__DEF cnnvis_result cnnvis_dissection_unit_image(cnnvis_image *out, cnnvis_net *net, const cnnvis_dissection *dis,
                                                       const cnnvis_dataset *ds, int unit)
{
    static const unsigned char yellow[3] = {255, 230, 0};
    cnnvis_image tiles[8];
    cnnvis_montage_desc md;
    const cnnvis_dissect_unit *U;
    const cnnvis_layer *L;
    char title[160];
    int n = 0, i, zoom;
    float *up = NULL;
    unsigned char *mask = NULL;
    cnnvis_result r = CNNVIS_OK;
    if (!out) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_dissection_unit_image: out is NULL");
    memset(out, 0, sizeof *out);
    if (!net || !dis || !dis->units || !ds)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_dissection_unit_image: %s is NULL",
                            !net ? "net" : !dis ? "dis" : !ds ? "ds" : "dis->units");
    if (unit < 0 || unit >= dis->n_units)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_dissection_unit_image: unit %d is not in [0, %d) of %s", unit, dis->n_units,
                            dis->layer_name);
    CNNVIS__TRY(cnnvis__check_dataset("cnnvis_dissection_unit_image", ds, net));
    U = &dis->units[unit], L = &net->layers[dis->layer];
    zoom = CNNVIS__MAX(1, 96 / CNNVIS__MAX(ds->h, ds->w));
    up = (float *)CNNVIS_MALLOC(sizeof(float) * (size_t)ds->h * ds->w * zoom * zoom);
    mask = (unsigned char *)CNNVIS_MALLOC((size_t)ds->h * ds->w * zoom * zoom);
    if (!up || !mask) r = CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_dissection_unit_image: out of memory");
    for (i = 0; i < 8 && U->top[i] >= 0 && r == CNNVIS_OK; i++) {
        cnnvis_image im;
        cnnvis_tensor x = net->input;
        size_t q, pixels = (size_t)ds->h * ds->w * zoom * zoom;
        x.n = 1;
        r = cnnvis__dataset_batch(ds, U->top[i], 1, net, &x, NULL);
        if (r == CNNVIS_OK) cnnvis__forward_eval(net, &x, dis->layer);
        if (r == CNNVIS_OK) r = cnnvis__dataset_image(&im, ds, U->top[i]);
        if (r == CNNVIS_OK) {
            r = cnnvis_image_resize(&tiles[n], &im, ds->w * zoom, ds->h * zoom, CNNVIS_RESIZE_NEAREST);
            cnnvis_image_free(&im);
        }
        if (r != CNNVIS_OK) break;
        if (tiles[n].c == 1) { /* the outline is in colour */
            cnnvis_image rgb;
            r = cnnvis_image_create(&rgb, tiles[n].w, tiles[n].h, 3);
            if (r == CNNVIS_OK) cnnvis__image_paste(&rgb, &tiles[n], 0, 0);
            cnnvis_image_free(&tiles[n]);
            tiles[n] = rgb;
            if (r != CNNVIS_OK) break;
        }
        cnnvis_plane_resize(up, ds->w * zoom, ds->h * zoom, L->out.data + (size_t)unit * L->out_h * L->out_w, L->out_w, L->out_h,
                            CNNVIS_RESIZE_BILINEAR);
        for (q = 0; q < pixels; q++) mask[q] = up[q] > U->threshold;
        cnnvis__image_outline(&tiles[n], mask, yellow);
        n++;
    }
    if (r == CNNVIS_OK && n == 0) r = CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_dissection_unit_image: unit %d has no images", unit);
    if (r == CNNVIS_OK) {
        memset(&md, 0, sizeof md);
        md.cols = n, md.title = title;
        snprintf(title, sizeof title, "%s unit %d %s (%s) IoU=%.2f", dis->layer_name, unit,
                 cnnvis__dataset_concept_name(ds, U->category, U->concept),
                 U->category >= 0 && U->category < ds->n_categories ? ds->category_names[U->category] : "?", U->iou);
        r = cnnvis_montage(out, tiles, n, NULL, &md);
    }
    for (i = 0; i < n; i++) cnnvis_image_free(&tiles[i]);
    cnnvis__free(up), cnnvis__free(mask);
    return r;
}

/* A float's bits as an unsigned key in the same order as the floats. */
static uint32_t cnnvis__float_key(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u & 0x80000000u ? ~u : u | 0x80000000u;
}

static float cnnvis__key_float(uint32_t k)
{
    uint32_t u = k & 0x80000000u ? k & 0x7fffffffu : ~k;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The first stream over units [begin, end) for the images of the current batch: the
   16-bit histogram of each unit's keys, and the 8 images where it fires most. */
static void cnnvis__dissect_first_range(void *p, int begin, int end)
{
    cnnvis__dissect *s = (cnnvis__dissect *)p;
    int u, i;
    for (u = begin; u < end; u++) {
        const cnnvis_layer *L = &s->net->layers[s->out[s->unit_layer[u]].layer];
        size_t plane = (size_t)L->out_h * L->out_w, q;
        uint32_t **blocks = s->blocks + (size_t)u * 512;
        for (i = 0; i < s->batch_count; i++) {
            const float *a = L->out.data + ((size_t)i * L->out_c + s->unit_index[u]) * plane;
            int32_t *top = s->top + (size_t)u * 8;
            float *val = s->top_value + (size_t)u * 8, best = a[0];
            int slot = 8;
            for (q = 0; q < plane; q++) {
                uint32_t key = cnnvis__float_key(a[q]);
                uint32_t **block = &blocks[key >> 23];
                if (!*block && !(*block = (uint32_t *)cnnvis__alloc(sizeof(uint32_t) * 128))) {
                    s->out_of_memory = 1;
                    return;
                }
                (*block)[key >> 16 & 127]++;
                best = a[q] > best ? a[q] : best;
            }
            /* keep the 8 images where the unit fires most (ties: the earlier image) */
            while (slot > 0 && (top[slot - 1] < 0 || best > val[slot - 1])) slot--;
            if (slot < 8) {
                memmove(top + slot + 1, top + slot, sizeof(int32_t) * (size_t)(7 - slot));
                memmove(val + slot + 1, val + slot, sizeof(float) * (size_t)(7 - slot));
                top[slot] = s->batch_begin + i, val[slot] = best;
            }
        }
    }
}

/* Pixel `pixel` of image `image` is in unit u's mask: count it with its concepts. */
static void cnnvis__dissect_count(cnnvis__dissect *s, int u, int image, size_t pixel)
{
    const cnnvis_dataset *ds = s->ds;
    const cnnvis_dissection *dis = &s->out[s->unit_layer[u]];
    const unsigned char *labels = ds->concepts + (size_t)image * ds->n_categories * ds->h * ds->w + pixel;
    long long *inter = s->inter + (size_t)u * dis->n_concepts;
    int c;
    s->mask_area[u]++;
    for (c = 0; c < ds->n_categories; c++) {
        int concept = labels[(size_t)c * ds->h * ds->w];
        if (concept < ds->n_concepts[c]) inter[dis->offset[c] + concept]++;
    }
}

/* Keep a pixel inside unit u's bin for later; overflow (this unit gets one more stream)
   if there are too many. */
static void cnnvis__dissect_pend(cnnvis__dissect *s, int u, float v, int image, size_t pixel)
{
    cnnvis__dissect_pixel *px;
    if (s->overflow[u]) return;
    if (s->n_pending[u] == CNNVIS_DISSECT_CAP) {
        s->overflow[u] = 1;
        return;
    }
    px = &s->pending[u][s->n_pending[u]++];
    px->v = v, px->image = image, px->pixel = (int32_t)pixel;
}

/* Bins over [lo, hi] (a power of two wide) of at most 4096 keys each: the shift. */
static int cnnvis__dissect_shift(uint32_t lo, uint32_t hi)
{
    int shift = 0;
    while ((((uint64_t)hi - lo + 1) >> shift) > 4096) shift++;
    return shift;
}

/* The later streams over units [begin, end) for the current batch: the bin's values,
   and the intersections of the upsampled maps with every concept. */
static void cnnvis__dissect_bin_range(void *p, int begin, int end)
{
    cnnvis__dissect *s = (cnnvis__dissect *)p;
    const cnnvis_dataset *ds = s->ds;
    size_t pixels = (size_t)ds->h * ds->w, q;
    float *up = s->up + (size_t)cnnvis__thread_index * pixels;
    int u, i;
    for (u = begin; u < end; u++) {
        const cnnvis_layer *L = &s->net->layers[s->out[s->unit_layer[u]].layer];
        size_t plane = (size_t)L->out_h * L->out_w;
        uint32_t lo = s->lo[u], hi = s->hi[u], *values = s->values[u];
        float lo_v = cnnvis__key_float(lo), hi_v = cnnvis__key_float(hi);
        int state = s->state[u], shift = cnnvis__dissect_shift(lo, hi);
        if (state == CNNVIS__UNIT_DONE) continue;
        for (i = 0; i < s->batch_count; i++) {
            const float *a = L->out.data + ((size_t)i * L->out_c + s->unit_index[u]) * plane;
            float most = a[0], biggest = 0;
            for (q = 0; q < plane; q++) {
                uint32_t key = cnnvis__float_key(a[q]);
                most = a[q] > most ? a[q] : most;
                biggest = fabsf(a[q]) > biggest ? fabsf(a[q]) : biggest;
                if (key < lo || key > hi) continue;
                if (state == CNNVIS__UNIT_NARROW) values[(key - lo) >> shift]++;
                else if (state == CNNVIS__UNIT_COLLECT && s->n_values[u] < s->in_bin[u]) values[s->n_values[u]++] = key;
            }
            /* Bilinear upsampling only mixes the map's values, so no pixel of a map whose
               maximum is below the bin can reach it (the margin covers rounding). Most
               maps are skipped: T_k is exceeded by 0.5% of the activations. */
            if (state == CNNVIS__UNIT_NARROW || (double)most + 16.0 * FLT_EPSILON * biggest < (double)lo_v) continue;
            cnnvis_plane_resize(up, ds->w, ds->h, a, L->out_w, L->out_h, CNNVIS_RESIZE_BILINEAR);
            for (q = 0; q < pixels; q++) {
                float v = up[q];
                if (state == CNNVIS__UNIT_EXACT ? v > lo_v : v > hi_v) cnnvis__dissect_count(s, u, s->batch_begin + i, q);
                else if (state == CNNVIS__UNIT_COLLECT && v >= lo_v) cnnvis__dissect_pend(s, u, v, s->batch_begin + i, q);
            }
        }
    }
}

static int cnnvis__key_order(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* After a stream: settle what it found out about unit u's T_k and intersections. Returns
   0 if the stream disagreed with the one before (the forward pass is deterministic). */
static int cnnvis__dissect_settle(cnnvis__dissect *s, int u)
{
    uint32_t *values = s->values[u];
    int ok = 1;
    if (s->state[u] == CNNVIS__UNIT_COLLECT) {
        float T;
        int k;
        if (s->n_values[u] != s->in_bin[u] || s->rank[u] >= s->n_values[u]) {
            ok = 0;
        } else {
            qsort(values, (size_t)s->n_values[u], sizeof *values, cnnvis__key_order);
            s->lo[u] = s->hi[u] = values[s->rank[u]];
            T = cnnvis__key_float(s->lo[u]);
            s->state[u] = s->overflow[u] ? CNNVIS__UNIT_EXACT : CNNVIS__UNIT_DONE;
            for (k = 0; k < s->n_pending[u] && !s->overflow[u]; k++)
                if (s->pending[u][k].v > T) cnnvis__dissect_count(s, u, s->pending[u][k].image, (size_t)s->pending[u][k].pixel);
        }
    } else if (s->state[u] == CNNVIS__UNIT_NARROW) {
        int shift = cnnvis__dissect_shift(s->lo[u], s->hi[u]);
        uint32_t bin = 0, bins = (uint32_t)((((uint64_t)s->hi[u] - s->lo[u]) >> shift) + 1);
        while (bin < bins && s->rank[u] >= (long long)values[bin]) s->rank[u] -= values[bin++];
        if (bin == bins) {
            ok = 0;
        } else {
            s->lo[u] += bin << shift, s->hi[u] = s->lo[u] + ((1u << shift) - 1);
            s->in_bin[u] = values[bin];
            s->state[u] = s->lo[u] == s->hi[u] ? CNNVIS__UNIT_EXACT
                          : s->in_bin[u] <= CNNVIS_DISSECT_CAP ? CNNVIS__UNIT_COLLECT : CNNVIS__UNIT_NARROW;
        }
    } else if (s->state[u] == CNNVIS__UNIT_EXACT) {
        s->state[u] = CNNVIS__UNIT_DONE;
    }
    cnnvis__free(values), s->values[u] = NULL;
    cnnvis__free(s->pending[u]), s->pending[u] = NULL, s->n_pending[u] = 0;
    return ok;
}

/* Before a stream: unit u's buffers for what it counts, and its counts zeroed. A
   collecting unit gets room for CNNVIS_DISSECT_CAP values and pixels whatever the data
   set's size, so that the peak memory does not depend on the number of images. */
static int cnnvis__dissect_prepare(cnnvis__dissect *s, int u)
{
    int n_concepts = s->out[0].n_concepts;
    if (s->state[u] == CNNVIS__UNIT_DONE) return 1;
    if (s->state[u] == CNNVIS__UNIT_NARROW) {
        s->values[u] = (uint32_t *)cnnvis__alloc(sizeof(uint32_t) * 4096);
        return s->values[u] != NULL;
    }
    s->mask_area[u] = 0, s->n_pending[u] = 0, s->overflow[u] = 0, s->n_values[u] = 0;
    memset(s->inter + (size_t)u * n_concepts, 0, sizeof(long long) * (size_t)n_concepts);
    if (s->state[u] == CNNVIS__UNIT_COLLECT) { /* in_bin <= CNNVIS_DISSECT_CAP */
        s->values[u] = (uint32_t *)cnnvis__alloc(sizeof(uint32_t) * CNNVIS_DISSECT_CAP);
        s->pending[u] = (cnnvis__dissect_pixel *)cnnvis__alloc(sizeof(cnnvis__dissect_pixel) * CNNVIS_DISSECT_CAP);
        return s->values[u] != NULL && s->pending[u] != NULL;
    }
    return 1;
}

/* One stream: every image through the net up to layer `deepest`, then fn on all units. */
static cnnvis_result cnnvis__dissect_stream(cnnvis__dissect *s, int deepest, int batch, cnnvis__range_fn fn)
{
    const cnnvis_dataset *ds = s->ds;
    cnnvis_net *net = s->net;
    size_t pixels = (size_t)ds->h * ds->w, q;
    int begin, i, c;
    cnnvis_result r = CNNVIS_OK;
    for (begin = 0; begin < ds->n && r == CNNVIS_OK; begin += batch) {
        cnnvis_tensor x = net->input;
        s->batch_begin = begin, s->batch_count = x.n = CNNVIS__MIN(batch, ds->n - begin);
        r = cnnvis__dataset_batch(ds, begin, s->batch_count, net, &x, NULL);
        if (r == CNNVIS_OK) cnnvis__forward_eval(net, &x, deepest);
        if (r != CNNVIS_OK) break;
        cnnvis__parallel_for(net->pool, s->total_units, fn, s);
        if (s->out_of_memory) return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_dissect: out of memory for the histograms");
        if (fn != cnnvis__dissect_first_range) continue;
        for (i = 0; i < s->batch_count; i++) { /* each concept's area, once */
            const unsigned char *labels = ds->concepts + (size_t)(begin + i) * ds->n_categories * pixels;
            for (c = 0; c < ds->n_categories; c++)
                for (q = 0; q < pixels; q++) {
                    int concept = labels[(size_t)c * pixels + q];
                    if (concept < ds->n_concepts[c]) s->concept_area[s->out[0].offset[c] + concept]++;
                }
        }
    }
    return r;
}

/* ======================================================================================
   3   Deconvolutional networks                                             >>s3_deconvnet
   project one activation back to pixel space (Zeiler & Fergus 2014)
   ====================================================================================== */

/* --- 3 Projecting one activation down to the pixels -------------------------------------
   R = the unit's activation at one position (or its whole map), zero everywhere else at
   that layer; then down the net, layer by layer (Zeiler & Fergus 2014, sec. 2.1):
     unpool   R_{l-1} = R_l put back where the forward pass's maximum was (the switches)
     un-ReLU  R_{l-1} = max(R_l, 0)
     deconv   R_{l-1} = conv(R_l, W^T), the transposed convolution with the same filters
   That is a backward pass whose ReLUs use CNNVIS_RELU_DECONVNET (A2), from the layer. */

/* Any signal (1, C, h, w) at layer index `layer`'s output, after a forward pass of one image,
   projected down with a ReLU rule: out (1, C, H, W) is created here, with respect to the
   pixels. The deconvnet is rule DECONVNET; BACKPROP gives the gradient, GUIDED guided
   backpropagation (section 4's "Deconv net vs Saliency net"). */
static cnnvis_result cnnvis__project_signal(cnnvis_tensor *out, cnnvis_net *net, int layer, const cnnvis_tensor *signal,
                                            cnnvis_relu_rule rule)
{
    const cnnvis_layer *L = &net->layers[layer];
    memset(out, 0, sizeof *out);
    if (!signal || !signal->data) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__project_signal: signal is NULL");
    if (net->batch != 1)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__project_signal: needs a forward pass of one image (the last had %d)",
                            net->batch);
    if (signal->n != 1 || signal->c != L->out_c || signal->h != L->out_h || signal->w != L->out_w)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__project_signal: signal is (%d, %d, %d, %d), layer %s gives (1, %d, %d, %d)",
                            signal->n, signal->c, signal->h, signal->w, L->desc.name, L->out_c, L->out_h, L->out_w);
    CNNVIS__TRY(cnnvis__net_backward_from(net, layer, signal, rule, 0));
    CNNVIS__TRY(cnnvis_tensor_create(out, 1, net->desc.in_c, net->desc.in_h, net->desc.in_w));
    cnnvis__dinput_to_pixels(net, out->data, 1, 1.0f);
    return CNNVIS_OK;
}

CNNVIS__DEF cnnvis_result cnnvis_deconv_project(cnnvis_tensor *out, int *y, int *x, cnnvis_net *net,
                                                const cnnvis_tensor *pixels, const char *layer, int unit,
                                                cnnvis_project_mode mode)
{
    static const char *fn = "cnnvis_deconv_project";
    cnnvis_layer *L;
    int li;
    size_t plane, q, best = 0;
    float *map, *sig;
    if (!out) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    if (y) *y = -1;
    if (x) *x = -1;
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: net is NULL", fn);
    CNNVIS__TRY(cnnvis__check_pixels(fn, "pixels", net, pixels, 1));
    CNNVIS__TRY(cnnvis__layer_index(fn, net, layer, &li));
    L = &net->layers[li];
    if (unit < 0 || unit >= L->out_c)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: unit %d is not in [0, %d) of layer %s", fn, unit, L->out_c, layer);
    if ((int)mode < 0 || mode > CNNVIS_PROJECT_MAP) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: unknown mode %d", fn, (int)mode);
    cnnvis__forward_pixels(net, pixels->data, 1, li);
    plane = (size_t)L->out_h * L->out_w;
    map = L->out.data + (size_t)unit * plane;
    sig = L->dout.data;
    memset(sig, 0, sizeof(float) * plane * L->out_c);
    for (q = 1; q < plane; q++)
        if (map[q] > map[best]) best = q;
    if (mode == CNNVIS_PROJECT_MAP) memcpy(sig + (size_t)unit * plane, map, sizeof(float) * plane);
    else {
        sig[(size_t)unit * plane + best] = map[best];
        if (y) *y = (int)(best / L->out_w);
        if (x) *x = (int)(best % L->out_w);
    }
    return cnnvis__project_signal(out, net, li, &L->dout, CNNVIS_RELU_DECONVNET);
}

/* --- 3 What one unit sees ----------------------------------------------------------------
   Unit (y, x) of a layer sees the rf_size x rf_size pixels whose top-left is
   (rf_offset + y rf_stride, rf_offset + x rf_stride) (cnnvis_layer): a projection is shown
   cropped to that field. */

/* cnnvis_rf_crop of layer index `layer`. */
static cnnvis_result cnnvis__rf_crop_at(cnnvis_tensor *out, const cnnvis_net *net, int layer, const cnnvis_tensor *map, int y,
                                        int x)
{
    const cnnvis_layer *L = &net->layers[layer];
    int ch, i, j, top, left, size;
    memset(out, 0, sizeof *out);
    if (!map || !map->data) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_rf_crop: map is NULL");
    if (y < 0 || y >= L->out_h || x < 0 || x >= L->out_w)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_rf_crop: position (y %d, x %d) is outside layer %s's %dx%d map", y, x,
                            L->desc.name, L->out_h, L->out_w);
    if (map->n < 1 || map->h != net->desc.in_h || map->w != net->desc.in_w)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_rf_crop: map is %dx%d, the input %dx%d", map->h, map->w, net->desc.in_h,
                            net->desc.in_w);
    size = L->rf_size, top = L->rf_offset + y * L->rf_stride, left = L->rf_offset + x * L->rf_stride;
    CNNVIS__TRY(cnnvis_tensor_create(out, 1, map->c, size, size));
    for (ch = 0; ch < map->c; ch++)
        for (i = 0; i < size; i++)
            for (j = 0; j < size; j++) {
                int sy = top + i, sx = left + j;
                out->data[((size_t)ch * size + i) * size + j] =
                    sy >= 0 && sy < map->h && sx >= 0 && sx < map->w ? map->data[((size_t)ch * map->h + sy) * map->w + sx] : 0.0f;
            }
    return CNNVIS_OK;
}

CNNVIS__DEF cnnvis_result cnnvis_rf_crop(cnnvis_tensor *out, const cnnvis_net *net, const char *layer, const cnnvis_tensor *map,
                                         int y, int x)
{
    int li;
    if (!out) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_rf_crop: out is NULL");
    memset(out, 0, sizeof *out);
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_rf_crop: net is NULL");
    CNNVIS__TRY(cnnvis__layer_index("cnnvis_rf_crop", net, layer, &li));
    return cnnvis__rf_crop_at(out, net, li, map, y, x);
}

/* --- 3 The top-9 figure ------------------------------------------------------------------
   "Top 9 activations are projected down to pixel space using deconvolutional net", beside
   the patches of the images that gave them (2a). */

CNNVIS__DEF cnnvis_result cnnvis_topk_deconv_image(cnnvis_image *out, cnnvis_net *net, const cnnvis_topk *t,
                                                   const cnnvis_dataset *ds, int max_units)
{
    static const char *fn = "cnnvis_topk_deconv_image";
    cnnvis_image *blocks = NULL, *tiles = NULL;
    char (*captions)[24] = NULL;
    const char **cap = NULL;
    cnnvis_tensor pixels, proj, crop;
    cnnvis_montage_desc md;
    cnnvis_map_desc m;
    const cnnvis_layer *L;
    int n_units, u, r, n_blocks = 0, zoom, cols;
    cnnvis_result res = CNNVIS_OK;
    if (!out) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    if (!net || !t || !t->hits) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: %s is NULL", fn, !net ? "net" : "t");
    CNNVIS__TRY(cnnvis__check_dataset(fn, ds, net));
    if (t->layer < 0 || t->layer >= net->n_layers || t->n_units < 1 || t->n_units > net->layers[t->layer].out_c)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: t was not computed on this net", fn);
    if (max_units < 0) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: max_units %d < 0", fn, max_units);
    L = &net->layers[t->layer];
    n_units = CNNVIS__MIN(t->n_units, max_units ? max_units : 16);
    zoom = CNNVIS__MAX(1, 48 / CNNVIS__MAX(1, L->rf_size));
    cols = t->k >= 9 ? 3 : (int)ceil(sqrt((double)t->k));
    memset(&pixels, 0, sizeof pixels), memset(&proj, 0, sizeof proj), memset(&crop, 0, sizeof crop);
    blocks = (cnnvis_image *)cnnvis__alloc(sizeof(cnnvis_image) * (size_t)n_units);
    tiles = (cnnvis_image *)cnnvis__alloc(sizeof(cnnvis_image) * (size_t)t->k * 2);
    captions = (char(*)[24])cnnvis__alloc(24 * (size_t)n_units);
    cap = (const char **)cnnvis__alloc(sizeof(char *) * (size_t)n_units);
    if (!blocks || !tiles || !captions || !cap) res = CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "%s: out of memory", fn);
    if (res == CNNVIS_OK) res = cnnvis_tensor_create(&pixels, 1, ds->c, ds->h, ds->w);
    memset(&m, 0, sizeof m);
    m.mode = CNNVIS_MAP_SYMMETRIC, m.cmap = CNNVIS_CMAP_DIVERGING;
    m.clip_percentile = 99.5f; /* a few extreme values would leave the rest grey */
    for (u = 0; u < n_units && res == CNNVIS_OK; u++) {
        int n = t->count[u];
        cnnvis_image pair[2];
        cnnvis_montage_desc bd;
        memset(tiles, 0, sizeof(cnnvis_image) * (size_t)t->k * 2);
        for (r = 0; r < n && res == CNNVIS_OK; r++) {
            const cnnvis_topk_hit *h = &t->hits[(size_t)u * t->k + r];
            size_t plane = (size_t)L->out_h * L->out_w, at = (size_t)u * plane + (size_t)h->y * L->out_w + h->x;
            cnnvis_image im;
            float *sig;
            /* the projection of exactly the hit's position */
            cnnvis__dataset_pixels(pixels.data, NULL, ds, h->image, 1);
            cnnvis__forward_pixels(net, pixels.data, 1, t->layer);
            sig = net->layers[t->layer].dout.data;
            memset(sig, 0, sizeof(float) * plane * L->out_c);
            sig[at] = net->layers[t->layer].out.data[at];
            res = cnnvis__project_signal(&proj, net, t->layer, &net->layers[t->layer].dout, CNNVIS_RELU_DECONVNET);
            if (res == CNNVIS_OK) res = cnnvis__rf_crop_at(&crop, net, t->layer, &proj, h->y, h->x);
            if (res == CNNVIS_OK) res = cnnvis_tensor_to_image(&im, &crop, 0, &m);
            cnnvis_tensor_free(&proj), cnnvis_tensor_free(&crop);
            if (res == CNNVIS_OK) {
                res = cnnvis_image_resize(&tiles[r], &im, im.w * zoom, im.h * zoom, CNNVIS_RESIZE_NEAREST);
                cnnvis_image_free(&im);
            }
            if (res == CNNVIS_OK) res = cnnvis__topk_patch(&im, t, ds, u, r);
            if (res == CNNVIS_OK) {
                res = cnnvis_image_resize(&tiles[t->k + r], &im, im.w * zoom, im.h * zoom, CNNVIS_RESIZE_NEAREST);
                cnnvis_image_free(&im);
            }
        }
        memset(&bd, 0, sizeof bd);
        bd.cols = cols, bd.pad = 1, bd.bg_grey = -1;
        if (res == CNNVIS_OK && n > 0) {
            res = cnnvis_montage(&pair[0], tiles, n, NULL, &bd);
            if (res == CNNVIS_OK) {
                res = cnnvis_montage(&pair[1], tiles + t->k, n, NULL, &bd);
                if (res == CNNVIS_OK) {
                    bd.cols = 2, bd.pad = 3;
                    res = cnnvis_montage(&blocks[n_blocks], pair, 2, NULL, &bd);
                    cnnvis_image_free(&pair[1]);
                }
                cnnvis_image_free(&pair[0]);
            }
            if (res == CNNVIS_OK) {
                snprintf(captions[n_blocks], 24, "unit %d", u);
                cap[n_blocks] = captions[n_blocks];
                n_blocks++;
            }
        }
        for (r = 0; r < 2 * t->k; r++) cnnvis_image_free(&tiles[r]);
    }
    if (res == CNNVIS_OK && n_blocks == 0) res = CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: no unit has any hit", fn);
    if (res == CNNVIS_OK) {
        char title[128];
        memset(&md, 0, sizeof md);
        snprintf(title, sizeof title, "%s: deconvnet projections of the top-%d | their patches (field %dx%d)", t->layer_name, t->k,
                 L->rf_size, L->rf_size);
        md.title = title, md.cols = CNNVIS__MIN(n_blocks, 4);
        res = cnnvis_montage(out, blocks, n_blocks, cap, &md);
    }
    for (u = 0; u < n_blocks; u++) cnnvis_image_free(&blocks[u]);
    cnnvis_tensor_free(&pixels);
    cnnvis__free(blocks), cnnvis__free(tiles), cnnvis__free(captions), cnnvis__free(cap);
    return res;
}

/* ======================================================================================
   4   Saliency                                                              >>s4_saliency
   which pixels matter for the class: dS_c/dI and its relatives; class models; DeepDream
   ====================================================================================== */

/* --- 4a Saliency maps ---------------------------------------------------------------------
   "Can we calculate influence of each pixel on the class probability?" (Simonyan et al.
   2014): one backward pass of the class score,
     A = dS_c / dI,    M(y, x) = max_c |A(c, y, x)|
   and, from the "Deconv net vs Saliency net" slide, the same pass with the other ReLU rules:
     gradient   R * 1(H > 0)        deconvnet  max(R, 0)        guided  R * 1(H > 0) 1(R > 0)
   The attribution methods after it each have their formula below. */

static cnnvis_result cnnvis__smoothgrad(float *out, cnnvis_net *net, const float *pixels, size_t count, int cls, int n,
                                        float sigma, uint64_t seed);
static cnnvis_result cnnvis__integrated_gradients(cnnvis_tensor *out, cnnvis_net *net, const cnnvis_tensor *pixels,
                                                      const cnnvis_tensor *baseline, int cls, int steps, double *sum,
                                                      double *delta);
static cnnvis_result cnnvis__gradcam(cnnvis_tensor *cam, cnnvis_net *net, const cnnvis_tensor *pixels, int cls,
                                         const char *layer);
static cnnvis_result cnnvis__occlusion(float *heat, cnnvis_net *net, const float *pixels, int cls, int size, int stride,
                                       float value);

CNNVIS__DEF cnnvis_result cnnvis_saliency(cnnvis_tensor *out, cnnvis_net *net, const cnnvis_tensor *pixels, int cls,
                                          cnnvis_saliency_method method, const cnnvis_saliency_desc *desc)
{
    static const char *fn = "cnnvis_saliency";
    cnnvis_saliency_desc d;
    size_t count, plane, q;
    int H, W, ch;
    cnnvis_result r = CNNVIS_OK;
    if (!out) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: net is NULL", fn);
    CNNVIS__TRY(cnnvis__check_pixels(fn, "pixels", net, pixels, 1));
    CNNVIS__TRY(cnnvis__check_class(fn, net, cls));
    if ((int)method < 0 || method >= CNNVIS_SALIENCY_COUNT)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: unknown method %d", fn, (int)method);
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    H = net->desc.in_h, W = net->desc.in_w;
    d.smooth_n = CNNVIS__DEF_VAL(d.smooth_n, 50);
    d.smooth_sigma = CNNVIS__DEF_VAL(d.smooth_sigma, 0.15f);
    d.occlusion_size = CNNVIS__DEF_VAL(d.occlusion_size, CNNVIS__MAX(1, CNNVIS__MIN(H, W) / 4));
    d.occlusion_stride = CNNVIS__DEF_VAL(d.occlusion_stride, CNNVIS__MAX(1, d.occlusion_size / 2));
    d.occlusion_value = CNNVIS__DEF_VAL(d.occlusion_value, 0.5f);
    if (d.smooth_n < 1 || d.smooth_n > (1 << 20) || !(d.smooth_sigma >= 0 && d.smooth_sigma <= 10))
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: smooth_n %d or smooth_sigma %g out of range", fn, d.smooth_n, d.smooth_sigma);
    if (d.occlusion_size < -1 || d.occlusion_size > CNNVIS__MAX(H, W) || d.occlusion_stride < 1 || !isfinite(d.occlusion_value))
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: occlusion_size %d or occlusion_stride %d out of range", fn, d.occlusion_size,
                            d.occlusion_stride);
    count = cnnvis_tensor_count(pixels), plane = (size_t)H * W;
    switch (method) {
    case CNNVIS_SALIENCY_GRADIENT:
    case CNNVIS_SALIENCY_DECONVNET:
    case CNNVIS_SALIENCY_GUIDED:
    case CNNVIS_SALIENCY_GRAD_X_INPUT:
    case CNNVIS_SALIENCY_GUIDED_GRADCAM: {
        cnnvis_relu_rule rule = method == CNNVIS_SALIENCY_DECONVNET ? CNNVIS_RELU_DECONVNET
                                : method == CNNVIS_SALIENCY_GUIDED || method == CNNVIS_SALIENCY_GUIDED_GRADCAM
                                    ? CNNVIS_RELU_GUIDED
                                    : CNNVIS_RELU_BACKPROP;
        CNNVIS__TRY(cnnvis_tensor_create(out, 1, pixels->c, H, W));
        cnnvis__score_grad(net, pixels->data, 1, cls, rule, out->data, NULL);
        if (method == CNNVIS_SALIENCY_GRAD_X_INPUT)
            for (q = 0; q < count; q++) out->data[q] *= pixels->data[q];
        if (method == CNNVIS_SALIENCY_GUIDED_GRADCAM) {
            cnnvis_tensor cam;
            float *up = (float *)cnnvis__alloc(sizeof(float) * plane);
            r = up ? cnnvis__gradcam(&cam, net, pixels, cls, d.cam_layer) : CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "%s: out of memory", fn);
            if (r == CNNVIS_OK) {
                cnnvis_plane_resize(up, W, H, cam.data, cam.w, cam.h, CNNVIS_RESIZE_BILINEAR);
                for (ch = 0; ch < pixels->c; ch++)
                    for (q = 0; q < plane; q++) out->data[(size_t)ch * plane + q] *= up[q];
                cnnvis_tensor_free(&cam);
            }
            cnnvis__free(up);
        }
        break;
    }
    case CNNVIS_SALIENCY_SMOOTHGRAD: {
        cnnvis_stats st = cnnvis_tensor_stats(pixels); /* sigma is a share of the image's range */
        CNNVIS__TRY(cnnvis_tensor_create(out, 1, pixels->c, H, W));
        r = cnnvis__smoothgrad(out->data, net, pixels->data, count, cls, d.smooth_n, d.smooth_sigma * (st.max - st.min), d.seed);
        break;
    }
    case CNNVIS_SALIENCY_INTEGRATED:
        return cnnvis__integrated_gradients(out, net, pixels, d.ig_baseline, cls, d.ig_steps, NULL, NULL);
    case CNNVIS_SALIENCY_GRADCAM: {
        cnnvis_tensor cam;
        CNNVIS__TRY(cnnvis__gradcam(&cam, net, pixels, cls, d.cam_layer));
        r = cnnvis_tensor_create(out, 1, 1, H, W);
        if (r == CNNVIS_OK) cnnvis_plane_resize(out->data, W, H, cam.data, cam.w, cam.h, CNNVIS_RESIZE_BILINEAR);
        cnnvis_tensor_free(&cam);
        break;
    }
    case CNNVIS_SALIENCY_OCCLUSION:
        CNNVIS__TRY(cnnvis_tensor_create(out, 1, 1, H, W));
        r = cnnvis__occlusion(out->data, net, pixels->data, cls, d.occlusion_size < 0 ? 0 : d.occlusion_size,
                              d.occlusion_stride, d.occlusion_value);
        break;
    default: break;
    }
    if (r != CNNVIS_OK) cnnvis_tensor_free(out);
    return r;
}

CNNVIS__DEF cnnvis_result cnnvis_saliency_map(cnnvis_tensor *map, const cnnvis_tensor *a)
{
    size_t plane, q;
    int ch;
    if (!map) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_saliency_map: map is NULL");
    memset(map, 0, sizeof *map);
    if (!a || !a->data) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_saliency_map: attribution is NULL");
    CNNVIS__TRY(cnnvis_tensor_create(map, 1, 1, a->h, a->w));
    plane = (size_t)a->h * a->w;
    for (ch = 0; ch < a->c; ch++)
        for (q = 0; q < plane; q++) {
            float v = fabsf(a->data[(size_t)ch * plane + q]);
            map->data[q] = v > map->data[q] ? v : map->data[q];
        }
    return CNNVIS_OK;
}

CNNVIS__DEF const char *cnnvis_saliency_name(cnnvis_saliency_method m)
{
    static const char *names[CNNVIS_SALIENCY_COUNT] = {"gradient",   "deconvnet", "guided",          "grad*input", "smoothgrad",
                                                       "integrated", "grad-cam",  "guided grad-cam", "occlusion"};
    return (int)m >= 0 && m < CNNVIS_SALIENCY_COUNT ? names[m] : "?";
}

/* --- 4a SmoothGrad ------------------------------------------------------------------------
   Smilkov et al. 2017: A = 1/n sum_i dS_c/dI (I + e_i), e_i ~ N(0, sigma^2): the mean
   gradient over noisy copies, which averages away the gradient's high-frequency noise. */

/* SmoothGrad: the mean gradient over n copies with Gaussian noise of sigma (pixels). */
static cnnvis_result cnnvis__smoothgrad(float *out, cnnvis_net *net, const float *pixels, size_t count, int cls, int n,
                                        float sigma, uint64_t seed)
{
    float *batch = (float *)cnnvis__alloc(sizeof(float) * count * net->desc.max_batch);
    float *grad = (float *)cnnvis__alloc(sizeof(float) * count * net->desc.max_batch);
    cnnvis_rng rng;
    size_t q;
    int s, i, m;
    if (!batch || !grad) {
        cnnvis__free(batch), cnnvis__free(grad);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_saliency (smoothgrad): out of memory");
    }
    cnnvis__rng_seed(&rng, seed);
    memset(out, 0, sizeof(float) * count);
    for (s = 0; s < n; s += m) {
        m = CNNVIS__MIN(n - s, net->desc.max_batch);
        for (i = 0; i < m; i++)
            for (q = 0; q < count; q++) batch[(size_t)i * count + q] = pixels[q] + sigma * cnnvis__rng_normal(&rng);
        cnnvis__score_grad(net, batch, m, cls, CNNVIS_RELU_BACKPROP, grad, NULL);
        for (i = 0; i < m; i++)
            for (q = 0; q < count; q++) out[q] += grad[(size_t)i * count + q];
    }
    for (q = 0; q < count; q++) out[q] /= (float)n;
    cnnvis__free(batch), cnnvis__free(grad);
    return CNNVIS_OK;
}

/* --- 4a Integrated gradients ---------------------------------------------------------------
   Sundararajan et al. 2017: A = (I - B) * integral_0^1 dS_c/dI (B + a (I - B)) da, from a
   baseline B, by the midpoint rule; completeness: sum A = S_c(I) - S_c(B). */

static cnnvis_result cnnvis__integrated_gradients(cnnvis_tensor *out, cnnvis_net *net, const cnnvis_tensor *pixels,
                                                      const cnnvis_tensor *baseline, int cls, int steps, double *sum,
                                                      double *delta)
{
    static const char *fn = "cnnvis__integrated_gradients";
    float *path = NULL, *grad = NULL;
    size_t count, q;
    int s, i, n;
    double total = 0;
    if (!out) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: net is NULL", fn);
    CNNVIS__TRY(cnnvis__check_pixels(fn, "pixels", net, pixels, 1));
    if (baseline) CNNVIS__TRY(cnnvis__check_pixels(fn, "baseline", net, baseline, 1));
    CNNVIS__TRY(cnnvis__check_class(fn, net, cls));
    if (steps < 0 || steps > (1 << 20)) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: steps %d is not in 0..2^20", fn, steps);
    steps = steps ? steps : 64;
    count = cnnvis_tensor_count(pixels);
    CNNVIS__TRY(cnnvis_tensor_create(out, 1, pixels->c, pixels->h, pixels->w));
    path = (float *)cnnvis__alloc(sizeof(float) * count * net->desc.max_batch);
    grad = (float *)cnnvis__alloc(sizeof(float) * count * net->desc.max_batch);
    if (!path || !grad) {
        cnnvis__free(path), cnnvis__free(grad), cnnvis_tensor_free(out);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "%s: out of memory", fn);
    }
    /* the midpoint rule: points (s + 1/2) / steps along the path, in batches */
    for (s = 0; s < steps; s += n) {
        n = CNNVIS__MIN(steps - s, net->desc.max_batch);
        for (i = 0; i < n; i++) {
            float a = ((float)(s + i) + 0.5f) / (float)steps;
            for (q = 0; q < count; q++) {
                float b = baseline ? baseline->data[q] : 0.0f;
                path[(size_t)i * count + q] = b + a * (pixels->data[q] - b);
            }
        }
        cnnvis__score_grad(net, path, n, cls, CNNVIS_RELU_BACKPROP, grad, NULL);
        for (i = 0; i < n; i++)
            for (q = 0; q < count; q++) out->data[q] += grad[(size_t)i * count + q];
    }
    for (q = 0; q < count; q++) {
        float b = baseline ? baseline->data[q] : 0.0f;
        out->data[q] *= (pixels->data[q] - b) / (float)steps;
        total += out->data[q];
    }
    if (sum) *sum = total;
    if (delta) {
        float sx, sb;
        cnnvis__score_grad(net, pixels->data, 1, cls, CNNVIS_RELU_BACKPROP, NULL, &sx);
        for (q = 0; q < count; q++) path[q] = baseline ? baseline->data[q] : 0.0f;
        cnnvis__score_grad(net, path, 1, cls, CNNVIS_RELU_BACKPROP, NULL, &sb);
        *delta = (double)sx - (double)sb;
    }
    cnnvis__free(path), cnnvis__free(grad);
    return CNNVIS_OK;
}

/* --- 4a Grad-CAM ---------------------------------------------------------------------------
   Selvaraju et al. 2017: L = ReLU(sum_k alpha_k A_k), alpha_k = mean over (y, x) of
   dS_c / dA_k(y, x), at a late conv layer's activation A; upsampled to the image. */

/* The activation whose Grad-CAM is taken by default: the last conv layer's, after its ReLU. */
static int cnnvis__default_cam_layer(const cnnvis_net *net)
{
    int i;
    for (i = net->n_layers - 1; i >= 0; i--)
        if (net->layers[i].desc.kind == CNNVIS_LAYER_CONV)
            return i + 1 < net->n_layers && net->layers[i + 1].desc.kind == CNNVIS_LAYER_RELU ? i + 1 : i;
    return -1;
}

static cnnvis_result cnnvis__gradcam(cnnvis_tensor *cam, cnnvis_net *net, const cnnvis_tensor *pixels, int cls,
                                         const char *layer)
{
    static const char *fn = "cnnvis__gradcam";
    const cnnvis_layer *L;
    int li, k;
    size_t plane, q;
    if (!cam) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: cam is NULL", fn);
    memset(cam, 0, sizeof *cam);
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: net is NULL", fn);
    CNNVIS__TRY(cnnvis__check_pixels(fn, "pixels", net, pixels, 1));
    CNNVIS__TRY(cnnvis__check_class(fn, net, cls));
    if (layer) CNNVIS__TRY(cnnvis__layer_index(fn, net, layer, &li));
    else if ((li = cnnvis__default_cam_layer(net)) < 0)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: the net has no conv layer (pass a layer)", fn);
    L = &net->layers[li];
    CNNVIS__TRY(cnnvis_tensor_create(cam, 1, 1, L->out_h, L->out_w));
    cnnvis__score_grad(net, pixels->data, 1, cls, CNNVIS_RELU_BACKPROP, NULL, NULL);
    {
        cnnvis_layer *last = &net->layers[net->n_layers - 1];
        memset(last->dout.data, 0, sizeof(float) * (size_t)net->n_classes);
        last->dout.data[cls] = 1.0f;
        cnnvis__net_backward_from(net, net->n_layers - 1, NULL, CNNVIS_RELU_BACKPROP, CNNVIS_BACKWARD_KEEP);
    }
    plane = (size_t)L->out_h * L->out_w;
    for (k = 0; k < L->out_c; k++) {
        const float *a = L->out.data + (size_t)k * plane, *g = L->dout.data + (size_t)k * plane;
        double alpha = 0;
        for (q = 0; q < plane; q++) alpha += g[q];
        alpha /= (double)plane; /* global average pooling of the gradient: the channel's weight */
        for (q = 0; q < plane; q++) cam->data[q] += (float)(alpha * a[q]);
    }
    for (q = 0; q < plane; q++) cam->data[q] = cam->data[q] > 0 ? cam->data[q] : 0.0f;
    return CNNVIS_OK;
}

/* --- 4a Occlusion ---------------------------------------------------------------------------
   Zeiler & Fergus 2014, sec. 4.2: cover part of the image with a grey square and watch the
   class probability: heat(y, x) = mean over the squares covering (y, x) of
   p_c(I) - p_c(I with the square). */

/* Occlusion (Zeiler & Fergus 2014, sec. 4.2): for each placement of a size x size square of
   grey, the drop p_c(image) - p_c(occluded); each pixel gets the mean drop over the squares
   covering it (0 where none does). */
static cnnvis_result cnnvis__occlusion(float *heat, cnnvis_net *net, const float *pixels, int cls, int size, int stride,
                                       float value)
{
    int C = net->desc.in_c, H = net->desc.in_h, W = net->desc.in_w, n_y, n_x, total, p, i, m, ch, y, x;
    size_t count = (size_t)C * H * W, plane = (size_t)H * W;
    float *batch, *cover, base;
    cnnvis_layer *last = &net->layers[net->n_layers - 1];
    memset(heat, 0, sizeof(float) * plane);
    if (size <= 0) return CNNVIS_OK;
    n_y = (H - 1) / stride + 1, n_x = (W - 1) / stride + 1, total = n_y * n_x;
    batch = (float *)cnnvis__alloc(sizeof(float) * count * net->desc.max_batch);
    cover = (float *)cnnvis__alloc(sizeof(float) * plane);
    if (!batch || !cover) {
        cnnvis__free(batch), cnnvis__free(cover);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_saliency (occlusion): out of memory");
    }
    memset(cover, 0, sizeof(float) * plane);
    {
        double mx, z;
        cnnvis__forward_pixels(net, pixels, 1, net->n_layers - 1);
        z = cnnvis__softmax(NULL, last->out.data, net->n_classes, &mx);
        base = (float)(exp((double)last->out.data[cls] - mx) / z); /* p_c of the whole image */
    }
    for (p = 0; p < total; p += m) {
        m = CNNVIS__MIN(total - p, net->desc.max_batch);
        for (i = 0; i < m; i++) {
            int y0 = ((p + i) / n_x) * stride, x0 = ((p + i) % n_x) * stride;
            float *dst = batch + (size_t)i * count;
            memcpy(dst, pixels, sizeof(float) * count);
            for (ch = 0; ch < C; ch++)
                for (y = y0; y < y0 + size && y < H; y++)
                    for (x = x0; x < x0 + size && x < W; x++) dst[(size_t)ch * plane + (size_t)y * W + x] = value;
        }
        cnnvis__forward_pixels(net, batch, m, net->n_layers - 1);
        for (i = 0; i < m; i++) {
            const float *s = last->out.data + (size_t)i * net->n_classes;
            int y0 = ((p + i) / n_x) * stride, x0 = ((p + i) % n_x) * stride;
            double mx, z = cnnvis__softmax(NULL, s, net->n_classes, &mx);
            double drop = base - exp((double)s[cls] - mx) / z;
            for (y = y0; y < y0 + size && y < H; y++)
                for (x = x0; x < x0 + size && x < W; x++) heat[(size_t)y * W + x] += (float)drop, cover[(size_t)y * W + x] += 1;
        }
    }
    for (i = 0; i < (int)plane; i++) heat[i] = cover[i] > 0 ? heat[i] / cover[i] : 0.0f;
    cnnvis__free(batch), cnnvis__free(cover);
    return CNNVIS_OK;
}

/* --- 4b Class models --------------------------------------------------------------------
   "Can we generate an image that outputs high score for dog?" (Simonyan et al. 2014):
     I* = argmax_I S_c(I) - lambda ||I||_2^2
   by gradient ascent on I from the mean image; or the same for a hidden unit's activation
   (activation maximisation), with Yosinski et al. 2015's regularisers. */

static void cnnvis__roll(float *dst, const float *src, int C, int H, int W, int dy, int dx);
static cnnvis_result cnnvis__blur(float *v, int C, int H, int W, float sigma);
static void cnnvis__clip_below(float *x, const float *score, int C, size_t plane, float pct);
static size_t cnnvis__unit_centre(const cnnvis_layer *L, int unit);

CNNVIS__DEF cnnvis_result cnnvis_class_model(cnnvis_tensor *pixels, float *score, cnnvis_net *net, int cls,
                                             const cnnvis_class_model_desc *desc)
{
    static const char *fn = "cnnvis_class_model";
    cnnvis_class_model_desc d;
    int C, H, W, li, step, ch;
    size_t count, plane, q, at = 0;
    float *x = NULL, *rolled = NULL, *g = NULL, *norm = NULL, value = 0;
    cnnvis_layer *L;
    cnnvis_tensor xin;
    cnnvis_rng rng;
    cnnvis_result r = CNNVIS_OK;
    if (!pixels) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: pixels is NULL", fn);
    memset(pixels, 0, sizeof *pixels);
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: net is NULL", fn);
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    d.steps = CNNVIS__DEF_VAL(d.steps, 200);
    d.lr = CNNVIS__DEF_VAL(d.lr, 0.1f);
    d.l2 = CNNVIS__DEF_VAL(d.l2, 0.01f);
    d.blur_sigma = CNNVIS__DEF_VAL(d.blur_sigma, 0.5f);
    if (d.layer) {
        CNNVIS__TRY(cnnvis__layer_index(fn, net, d.layer, &li));
        if (d.unit < 0 || d.unit >= net->layers[li].out_c)
            return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: unit %d is not in [0, %d) of layer %s", fn, d.unit, net->layers[li].out_c,
                                d.layer);
    } else {
        CNNVIS__TRY(cnnvis__check_class(fn, net, cls));
        li = net->n_layers - 1;
    }
    if (d.steps < 1 || d.steps > 1000000 || !(d.lr > 0 && d.lr < 1e6f) || !(d.l2 >= 0 && d.l2 < 1e6f) || d.jitter < 0 ||
        d.blur_every < 0 || !(d.blur_sigma > 0 && d.blur_sigma <= 10) || !(d.clip_norm >= 0 && d.clip_norm < 100) ||
        !(d.clip_contribution >= 0 && d.clip_contribution < 100) || !(d.tv >= 0 && d.tv < 1e6f))
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: a setting is out of range (steps %d, lr %g, l2 %g, jitter %d, blur_every %d, "
                            "blur_sigma %g, clip_norm %g, clip_contribution %g, tv %g)", fn, d.steps, d.lr, d.l2, d.jitter,
                            d.blur_every, d.blur_sigma, d.clip_norm, d.clip_contribution, d.tv);
    C = net->desc.in_c, H = net->desc.in_h, W = net->desc.in_w;
    count = (size_t)C * H * W, plane = (size_t)H * W;
    L = &net->layers[li];
    at = d.layer ? cnnvis__unit_centre(L, d.unit) : (size_t)cls;
    x = (float *)cnnvis__alloc(sizeof(float) * count);
    rolled = (float *)cnnvis__alloc(sizeof(float) * count);
    g = (float *)cnnvis__alloc(sizeof(float) * count);
    norm = (float *)cnnvis__alloc(sizeof(float) * plane);
    if (!x || !rolled || !g || !norm) r = CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "%s: out of memory", fn);
    cnnvis__rng_seed(&rng, d.seed);
    xin = cnnvis_tensor_wrap(x, 1, C, H, W);
    /* the zero image (the mean image in pixels) plus a little noise: on a uniform image
       every ReLU of a layer can be off together, and the gradient is exactly zero there */
    if (x)
        for (q = 0; q < count; q++) x[q] = 0.01f * cnnvis__rng_normal(&rng);
    for (step = 0; step < d.steps && r == CNNVIS_OK; step++) {
        int dy = 0, dx = 0;
        double mean_abs = 0;
        if (d.jitter) {
            dy = (int)cnnvis__rng_below(&rng, 2 * d.jitter + 1) - d.jitter;
            dx = (int)cnnvis__rng_below(&rng, 2 * d.jitter + 1) - d.jitter;
        }
        cnnvis__roll(rolled, x, C, H, W, dy, dx);
        /* x is optimised in the net's normalised input space: it goes in as it is */
        xin.data = rolled;
        cnnvis__forward_eval(net, &xin, li);
        memset(L->dout.data, 0, sizeof(float) * (size_t)L->out_c * L->out_h * L->out_w);
        L->dout.data[at] = 1.0f;
        cnnvis__net_backward_from(net, li, NULL, CNNVIS_RELU_BACKPROP, CNNVIS_BACKWARD_KEEP);
        cnnvis__roll(g, net->dinput.data, C, H, W, -dy, -dx);
        for (q = 0; q < count; q++) {
            g[q] -= 2 * d.l2 * x[q];
            if (d.tv > 0) { /* the gradient of the total variation sum |x(y,x+1) - x(y,x)| + |x(y+1,x) - x(y,x)| */
                size_t p = q % plane;
                int yy = (int)(p / W), xx = (int)(p % W);
                float t = 0;
                if (xx + 1 < W) t += x[q + 1] > x[q] ? 1.0f : x[q + 1] < x[q] ? -1.0f : 0.0f;
                if (xx > 0) t -= x[q] > x[q - 1] ? 1.0f : x[q] < x[q - 1] ? -1.0f : 0.0f;
                if (yy + 1 < H) t += x[q + W] > x[q] ? 1.0f : x[q + W] < x[q] ? -1.0f : 0.0f;
                if (yy > 0) t -= x[q] > x[q - W] ? 1.0f : x[q] < x[q - W] ? -1.0f : 0.0f;
                g[q] += d.tv * t;
            }
            mean_abs += fabsf(g[q]);
        }
        mean_abs /= (double)count;
        if (mean_abs > 0)
            for (q = 0; q < count; q++) x[q] += (float)(d.lr * g[q] / mean_abs);
        if (d.blur_every && (step + 1) % d.blur_every == 0) r = cnnvis__blur(x, C, H, W, d.blur_sigma);
        if (r == CNNVIS_OK && d.clip_norm > 0) {
            for (q = 0; q < plane; q++) {
                double s2 = 0;
                for (ch = 0; ch < C; ch++) s2 += (double)x[(size_t)ch * plane + q] * x[(size_t)ch * plane + q];
                norm[q] = (float)sqrt(s2);
            }
            cnnvis__clip_below(x, norm, C, plane, d.clip_norm);
        }
        if (r == CNNVIS_OK && d.clip_contribution > 0) {
            for (q = 0; q < plane; q++) {
                double s = 0;
                for (ch = 0; ch < C; ch++) s += (double)x[(size_t)ch * plane + q] * g[(size_t)ch * plane + q];
                norm[q] = (float)fabs(s);
            }
            cnnvis__clip_below(x, norm, C, plane, d.clip_contribution);
        }
    }
    if (r == CNNVIS_OK) { /* the objective at the final image, unrolled */
        xin.data = x;
        cnnvis__forward_eval(net, &xin, li);
        value = L->out.data[at];
        r = cnnvis_tensor_create(pixels, 1, C, H, W);
    }
    if (r == CNNVIS_OK) {
        cnnvis_tensor t = cnnvis_tensor_wrap(x, 1, C, H, W);
        cnnvis_net_denormalize(pixels, net, &t);
        if (score) *score = value;
    }
    cnnvis__free(x), cnnvis__free(rolled), cnnvis__free(g), cnnvis__free(norm);
    return r;
}

/* dst = src rolled by (dy, dx) with wrap-around, per plane (C, H, W). */
static void cnnvis__roll(float *dst, const float *src, int C, int H, int W, int dy, int dx)
{
    int ch, y, x;
    for (ch = 0; ch < C; ch++)
        for (y = 0; y < H; y++) {
            int sy = ((y - dy) % H + H) % H;
            for (x = 0; x < W; x++) {
                int sx = ((x - dx) % W + W) % W;
                dst[((size_t)ch * H + y) * W + x] = src[((size_t)ch * H + sy) * W + sx];
            }
        }
}

/* Separable Gaussian blur of each plane (C, H, W) in place, edges clamped. */
static cnnvis_result cnnvis__blur(float *v, int C, int H, int W, float sigma)
{
    int r = (int)ceil(3 * sigma), ch, y, x, k;
    float kernel[65], sum = 0, *tmp;
    if (r < 1) return CNNVIS_OK;
    r = CNNVIS__MIN(r, 32);
    for (k = -r; k <= r; k++) sum += kernel[k + r] = (float)exp(-0.5 * k * k / ((double)sigma * sigma));
    for (k = 0; k <= 2 * r; k++) kernel[k] /= sum;
    tmp = (float *)cnnvis__alloc(sizeof(float) * (size_t)H * W);
    if (!tmp) return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "blur: out of memory");
    for (ch = 0; ch < C; ch++) {
        float *p = v + (size_t)ch * H * W;
        for (y = 0; y < H; y++)
            for (x = 0; x < W; x++) {
                float acc = 0;
                for (k = -r; k <= r; k++) acc += kernel[k + r] * p[y * W + CNNVIS__MIN(W - 1, CNNVIS__MAX(0, x + k))];
                tmp[y * W + x] = acc;
            }
        for (y = 0; y < H; y++)
            for (x = 0; x < W; x++) {
                float acc = 0;
                for (k = -r; k <= r; k++) acc += kernel[k + r] * tmp[CNNVIS__MIN(H - 1, CNNVIS__MAX(0, y + k)) * W + x];
                p[y * W + x] = acc;
            }
    }
    cnnvis__free(tmp);
    return CNNVIS_OK;
}

/* Pixels (C, H, W) whose score (per position) is below the p-th percentile are set to 0
   (the mean image, in the normalised space): Yosinski et al. 2015's clipping. */
static void cnnvis__clip_below(float *x, const float *score, int C, size_t plane, float pct)
{
    float cut = cnnvis__percentile(score, plane, 1, pct, 0);
    size_t q;
    int ch;
    for (q = 0; q < plane; q++)
        if (score[q] < cut)
            for (ch = 0; ch < C; ch++) x[(size_t)ch * plane + q] = 0;
}

/* The objective of activation maximisation: a conv unit at its map's centre, or a neuron. */
static size_t cnnvis__unit_centre(const cnnvis_layer *L, int unit)
{
    return ((size_t)unit * L->out_h + (size_t)(L->out_h / 2)) * L->out_w + (size_t)(L->out_w / 2);
}

/* --- 4c DeepDream ------------------------------------------------------------------------
   Gradient ascent on what a layer already sees in the image:
     I <- I + step g / mean|g|,   g = dL/dI,   L = 1/2 ||A_l(I)||^2
   at several scales (octaves), the detail carried from the coarsest to the finest. */

static double cnnvis__dream_grad(cnnvis_net *net, int li, int channel, const float *img, int H, int W, float *grad,
                                 float *cover, float *batch);

CNNVIS__DEF cnnvis_result cnnvis_deepdream(cnnvis_tensor *pixels, double *before, double *after, cnnvis_net *net,
                                           const cnnvis_deepdream_desc *desc)
{
    static const char *fn = "cnnvis_deepdream";
    cnnvis_deepdream_desc d;
    int li, C, H, W, o, step, ch, oh[64], ow[64];
    float *base = NULL, *small = NULL, *detail = NULL, *cur = NULL, *rolled = NULL, *grad = NULL, *cover = NULL, *batch = NULL;
    size_t full;
    cnnvis_rng rng;
    cnnvis_result r = CNNVIS_OK;
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: net is NULL", fn);
    if (!pixels || !pixels->data) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: pixels is NULL", fn);
    if (pixels->n != 1 || pixels->c != net->desc.in_c || pixels->h < net->desc.in_h || pixels->w < net->desc.in_w ||
        (long long)pixels->h * pixels->w > CNNVIS_IMAGE_MAX_PIXELS)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: pixels is (%d, %d, %d, %d): one image of %d channels, at least %dx%d", fn,
                            pixels->n, pixels->c, pixels->h, pixels->w, net->desc.in_c, net->desc.in_h, net->desc.in_w);
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    if (d.layer) CNNVIS__TRY(cnnvis__layer_index(fn, net, d.layer, &li));
    else if ((li = cnnvis__default_cam_layer(net)) < 0) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: the net has no conv layer", fn);
    d.octaves = CNNVIS__DEF_VAL(d.octaves, 4);
    d.octave_scale = CNNVIS__DEF_VAL(d.octave_scale, 1.4f);
    d.steps = CNNVIS__DEF_VAL(d.steps, 10);
    d.step = CNNVIS__DEF_VAL(d.step, 0.01f);
    d.jitter = CNNVIS__DEF_VAL(d.jitter, CNNVIS__MAX(1, net->desc.in_w / 8));
    if (d.one_channel && (d.channel < 0 || d.channel >= net->layers[li].out_c))
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: channel %d is not in [0, %d) of layer %s", fn, d.channel,
                            net->layers[li].out_c, net->layers[li].desc.name);
    if (d.octaves < 1 || d.octaves > 64 || !(d.octave_scale >= 1 && d.octave_scale <= 4) || d.steps < 1 || d.steps > 100000 ||
        !(d.step > 0 && d.step < 10) || d.jitter < 0)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: octaves %d, octave_scale %g, steps %d, step %g or jitter %d out of range", fn,
                            d.octaves, d.octave_scale, d.steps, d.step, d.jitter);
    C = pixels->c, H = pixels->h, W = pixels->w, full = (size_t)C * H * W;
    for (o = 0; o < d.octaves; o++) { /* octave 0 is the image's own size, each next one smaller */
        double s = pow(d.octave_scale, o);
        oh[o] = CNNVIS__MAX(net->desc.in_h, (int)floor(H / s + 0.5));
        ow[o] = CNNVIS__MAX(net->desc.in_w, (int)floor(W / s + 0.5));
    }
    base = (float *)cnnvis__alloc(sizeof(float) * full);
    small = (float *)cnnvis__alloc(sizeof(float) * full);
    detail = (float *)cnnvis__alloc(sizeof(float) * full);
    cur = (float *)cnnvis__alloc(sizeof(float) * full);
    rolled = (float *)cnnvis__alloc(sizeof(float) * full);
    grad = (float *)cnnvis__alloc(sizeof(float) * full);
    cover = (float *)cnnvis__alloc(sizeof(float) * (size_t)H * W);
    batch = (float *)cnnvis__alloc(sizeof(float) * (size_t)C * net->desc.in_h * net->desc.in_w * net->desc.max_batch);
    if (!base || !small || !detail || !cur || !rolled || !grad || !cover || !batch)
        r = CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "%s: out of memory", fn);
    cnnvis__rng_seed(&rng, d.seed);
    if (r == CNNVIS_OK) {
        double obj = cnnvis__dream_grad(net, li, d.one_channel ? d.channel : -1, pixels->data, H, W, grad, cover, batch);
        if (before) *before = obj;
        memcpy(base, pixels->data, sizeof(float) * full);
    }
    /* coarse to fine: dream at the smallest octave, carry the added detail up */
    for (o = d.octaves - 1; o >= 0 && r == CNNVIS_OK; o--) {
        int h = oh[o], w = ow[o];
        size_t n = (size_t)C * h * w, q;
        for (ch = 0; ch < C; ch++)
            cnnvis_plane_resize(small + (size_t)ch * h * w, w, h, base + (size_t)ch * H * W, W, H, CNNVIS_RESIZE_BILINEAR);
        if (o == d.octaves - 1) memset(detail, 0, sizeof(float) * n);
        else {
            int ph = oh[o + 1], pw = ow[o + 1];
            memcpy(rolled, detail, sizeof(float) * (size_t)C * ph * pw);
            for (ch = 0; ch < C; ch++)
                cnnvis_plane_resize(detail + (size_t)ch * h * w, w, h, rolled + (size_t)ch * ph * pw, pw, ph,
                                    CNNVIS_RESIZE_BILINEAR);
        }
        for (q = 0; q < n; q++) cur[q] = small[q] + detail[q];
        for (step = 0; step < d.steps; step++) {
            int dy = (int)cnnvis__rng_below(&rng, 2 * d.jitter + 1) - d.jitter;
            int dx = (int)cnnvis__rng_below(&rng, 2 * d.jitter + 1) - d.jitter;
            double mean_abs = 0;
            cnnvis__roll(rolled, cur, C, h, w, dy, dx);
            cnnvis__dream_grad(net, li, d.one_channel ? d.channel : -1, rolled, h, w, grad, cover, batch);
            cnnvis__roll(rolled, grad, C, h, w, -dy, -dx);
            for (q = 0; q < n; q++) mean_abs += fabsf(rolled[q]);
            mean_abs /= (double)n;
            if (mean_abs > 0)
                for (q = 0; q < n; q++) {
                    float v = cur[q] + (float)(d.step * rolled[q] / mean_abs);
                    cur[q] = v < 0 ? 0.0f : v > 1 ? 1.0f : v; /* pixels stay valid */
                }
        }
        for (q = 0; q < n; q++) detail[q] = cur[q] - small[q];
    }
    if (r == CNNVIS_OK) {
        memcpy(pixels->data, cur, sizeof(float) * full); /* octave 0 has the image's size */
        if (after) *after = cnnvis__dream_grad(net, li, d.one_channel ? d.channel : -1, pixels->data, H, W, grad, cover, batch);
    }
    cnnvis__free(base), cnnvis__free(small), cnnvis__free(detail), cnnvis__free(cur), cnnvis__free(rolled), cnnvis__free(grad);
    cnnvis__free(cover), cnnvis__free(batch);
    return r;
}

/* DeepDream's gradient over an image of any size >= the net's input: tiles of the input's
   size (the last row and column of tiles aligned with the far edges), each pixel's gradient
   the mean over the tiles covering it. Returns the objective summed over the tiles. */
static double cnnvis__dream_grad(cnnvis_net *net, int li, int channel, const float *img, int H, int W, float *grad,
                                 float *cover, float *batch)
{
    cnnvis_layer *L = &net->layers[li];
    int C = net->desc.in_c, th = net->desc.in_h, tw = net->desc.in_w, ny = (H + th - 1) / th, nx = (W + tw - 1) / tw;
    int total = ny * nx, t, i, m, ch, y, x;
    size_t tile = (size_t)C * th * tw, lplane = (size_t)L->out_h * L->out_w, lcount = lplane * L->out_c, q;
    double objective = 0;
    memset(grad, 0, sizeof(float) * (size_t)C * H * W);
    memset(cover, 0, sizeof(float) * (size_t)H * W);
    for (t = 0; t < total; t += m) {
        m = CNNVIS__MIN(total - t, net->desc.max_batch);
        for (i = 0; i < m; i++) {
            int y0 = CNNVIS__MIN(((t + i) / nx) * th, H - th), x0 = CNNVIS__MIN(((t + i) % nx) * tw, W - tw);
            for (ch = 0; ch < C; ch++)
                for (y = 0; y < th; y++)
                    memcpy(batch + (size_t)i * tile + ((size_t)ch * th + y) * tw, img + ((size_t)ch * H + y0 + y) * W + x0,
                           sizeof(float) * tw);
        }
        cnnvis__forward_pixels(net, batch, m, li);
        /* d(1/2 ||A||^2)/dA = A: the activations are their own gradient */
        for (i = 0; i < m; i++)
            for (q = 0; q < lcount; q++) {
                float a = L->out.data[(size_t)i * lcount + q];
                int keep = channel < 0 || (int)(q / lplane) == channel;
                L->dout.data[(size_t)i * lcount + q] = keep ? a : 0.0f;
                if (keep) objective += 0.5 * a * a;
            }
        cnnvis__net_backward_from(net, li, NULL, CNNVIS_RELU_BACKPROP, CNNVIS_BACKWARD_KEEP);
        cnnvis__dinput_to_pixels(net, batch, m, 1.0f);
        for (i = 0; i < m; i++) {
            int y0 = CNNVIS__MIN(((t + i) / nx) * th, H - th), x0 = CNNVIS__MIN(((t + i) % nx) * tw, W - tw);
            for (ch = 0; ch < C; ch++)
                for (y = 0; y < th; y++)
                    for (x = 0; x < tw; x++)
                        grad[((size_t)ch * H + y0 + y) * W + x0 + x] += batch[(size_t)i * tile + ((size_t)ch * th + y) * tw + x];
            for (y = 0; y < th; y++)
                for (x = 0; x < tw; x++) cover[(size_t)(y0 + y) * W + x0 + x] += 1;
        }
    }
    for (ch = 0; ch < C; ch++)
        for (q = 0; q < (size_t)H * W; q++) grad[(size_t)ch * H * W + q] /= cover[q];
    return objective;
}

/* --- 4d t-SNE of the codes ----------------------------------------------------------------
   van der Maaten & Hinton 2008: neighbours of the codes x_i (a layer's output) stay
   neighbours in the plane:
     p_j|i ~ exp(-|x_i - x_j|^2 / 2 sigma_i^2),  q_ij ~ (1 + |y_i - y_j|^2)^-1,  min KL(P || Q)
   sigma_i set so that each row's perplexity is the one asked for. */

static double cnnvis__tsne_row(double *p, const double *d, int n, int i, double beta);

CNNVIS__DEF cnnvis_result cnnvis_net_codes(float *codes, cnnvis_net *net, const char *layer, const cnnvis_dataset *ds, int begin,
                                           int n)
{
    static const char *fn = "cnnvis_net_codes";
    const cnnvis_layer *L;
    int li, b, m;
    size_t units;
    if (!codes || !net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: %s is NULL", fn, !codes ? "codes" : "net");
    CNNVIS__TRY(cnnvis__check_dataset(fn, ds, net));
    CNNVIS__TRY(cnnvis__layer_index(fn, net, layer, &li));
    if (begin < 0 || n < 1 || begin > ds->n - n)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: images [%d, %d + %d) are not in the data set's [0, %d)", fn, begin, begin, n,
                            ds->n);
    L = &net->layers[li];
    units = (size_t)L->out_c * L->out_h * L->out_w;
    for (b = 0; b < n; b += m) {
        cnnvis_tensor x = net->input;
        m = CNNVIS__MIN(n - b, net->desc.max_batch);
        x.n = m;
        cnnvis__dataset_batch(ds, begin + b, m, net, &x, NULL);
        cnnvis__forward_eval(net, &x, li);
        memcpy(codes + (size_t)b * units, L->out.data, sizeof(float) * units * m);
    }
    return CNNVIS_OK;
}

CNNVIS__DEF cnnvis_result cnnvis_tsne(float *y, const float *x, int n, int dim, float perplexity, int iterations, uint64_t seed)
{
    static const char *fn = "cnnvis_tsne";
    double *P, *D, *Y, *dY, *gains, *upd, *num, lr, target;
    int i, j, k, it;
    cnnvis_rng rng;
    if (!y || !x) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: %s is NULL", fn, !y ? "y" : "x");
    perplexity = CNNVIS__DEF_VAL(perplexity, 30.0f);
    iterations = CNNVIS__DEF_VAL(iterations, 1000);
    if (n < 2 || n > 20000 || dim < 1 || dim > (1 << 20))
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: n %d (2..20000) or dim %d out of range", fn, n, dim);
    if (!(perplexity >= 1 && perplexity <= n - 1) || iterations < 1 || iterations > 100000)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: perplexity %g (1..n-1) or iterations %d out of range", fn, perplexity, iterations);
    P = (double *)cnnvis__alloc(sizeof(double) * (size_t)n * n);
    D = (double *)cnnvis__alloc(sizeof(double) * (size_t)n * n);
    Y = (double *)cnnvis__alloc(sizeof(double) * (size_t)n * 2);
    dY = (double *)cnnvis__alloc(sizeof(double) * (size_t)n * 2);
    gains = (double *)cnnvis__alloc(sizeof(double) * (size_t)n * 2);
    upd = (double *)cnnvis__alloc(sizeof(double) * (size_t)n * 2);
    if (!P || !D || !Y || !dY || !gains || !upd) {
        cnnvis__free(P), cnnvis__free(D), cnnvis__free(Y), cnnvis__free(dY), cnnvis__free(gains), cnnvis__free(upd);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "%s: out of memory for %d points (n^2 doubles twice)", fn, n);
    }
    for (i = 0; i < n; i++) /* squared distances */
        for (j = i; j < n; j++) {
            double s = 0;
            for (k = 0; k < dim; k++) {
                double t = (double)x[(size_t)i * dim + k] - x[(size_t)j * dim + k];
                s += t * t;
            }
            D[(size_t)i * n + j] = D[(size_t)j * n + i] = s;
        }
    /* each row's precision by bisection so that its entropy is log(perplexity) */
    target = log((double)perplexity);
    for (i = 0; i < n; i++) {
        double beta = 1, lo = 0, hi = 1e300, h;
        for (it = 0; it < 100; it++) {
            h = cnnvis__tsne_row(P + (size_t)i * n, D + (size_t)i * n, n, i, beta);
            if (fabs(h - target) < 1e-5) break;
            if (h > target) lo = beta, beta = hi >= 1e300 ? beta * 2 : (beta + hi) / 2;
            else hi = beta, beta = (beta + lo) / 2;
        }
    }
    for (i = 0; i < n; i++) /* symmetrise: p_ij = (p_j|i + p_i|j) / 2n */
        for (j = i + 1; j < n; j++) {
            double v = (P[(size_t)i * n + j] + P[(size_t)j * n + i]) / (2.0 * n);
            v = v > 1e-12 ? v : 1e-12;
            P[(size_t)i * n + j] = P[(size_t)j * n + i] = v;
        }
    for (i = 0; i < n; i++) P[(size_t)i * n + i] = 0;
    cnnvis__rng_seed(&rng, seed);
    for (i = 0; i < 2 * n; i++) Y[i] = 1e-4 * cnnvis__rng_normal(&rng), gains[i] = 1, upd[i] = 0;
    lr = n / 12.0 > 50 ? n / 12.0 : 50;
    num = D; /* reuse: the Student-t kernel 1 / (1 + |y_i - y_j|^2) */
    for (it = 0; it < iterations; it++) {
        double zsum = 0, exag = it < 250 ? 12.0 : 1.0, mom = it < 250 ? 0.5 : 0.8, mean[2] = {0, 0};
        for (i = 0; i < n; i++)
            for (j = i + 1; j < n; j++) {
                double a = Y[2 * i] - Y[2 * j], b = Y[2 * i + 1] - Y[2 * j + 1], q = 1.0 / (1.0 + a * a + b * b);
                num[(size_t)i * n + j] = num[(size_t)j * n + i] = q;
                zsum += 2 * q;
            }
        for (i = 0; i < n; i++) {
            double gx = 0, gy = 0;
            for (j = 0; j < n; j++) {
                double q, m;
                if (j == i) continue;
                q = num[(size_t)i * n + j];
                m = (exag * P[(size_t)i * n + j] - q / zsum) * q; /* dC/dy_i = 4 sum_j (p_ij - q_ij) q_ij-kernel (y_i - y_j) */
                gx += m * (Y[2 * i] - Y[2 * j]), gy += m * (Y[2 * i + 1] - Y[2 * j + 1]);
            }
            dY[2 * i] = 4 * gx, dY[2 * i + 1] = 4 * gy;
        }
        for (i = 0; i < 2 * n; i++) { /* delta-bar-delta gains (Jacobs 1988), as in the reference code */
            gains[i] = (dY[i] > 0) != (upd[i] > 0) ? gains[i] + 0.2 : gains[i] * 0.8;
            if (gains[i] < 0.01) gains[i] = 0.01;
            upd[i] = mom * upd[i] - lr * gains[i] * dY[i];
            Y[i] += upd[i];
        }
        for (i = 0; i < n; i++) mean[0] += Y[2 * i], mean[1] += Y[2 * i + 1];
        for (i = 0; i < n; i++) Y[2 * i] -= mean[0] / n, Y[2 * i + 1] -= mean[1] / n;
    }
    for (i = 0; i < 2 * n; i++) y[i] = (float)Y[i];
    cnnvis__free(P), cnnvis__free(D), cnnvis__free(Y), cnnvis__free(dY), cnnvis__free(gains), cnnvis__free(upd);
    return CNNVIS_OK;
}

CNNVIS__DEF cnnvis_result cnnvis_tsne_image(cnnvis_image *out, const float *y, int n, const cnnvis_dataset *ds, const int *images,
                                            int size)
{
    static const char *fn = "cnnvis_tsne_image";
    float lo[2] = {FLT_MAX, FLT_MAX}, hi[2] = {-FLT_MAX, -FLT_MAX};
    int i, k, thumb, margin;
    unsigned char bg[3] = {255, 255, 255};
    if (!out) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    if (!y || !images) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: %s is NULL", fn, !y ? "y" : "images");
    CNNVIS__TRY(cnnvis__check_dataset(fn, ds, NULL));
    size = CNNVIS__DEF_VAL(size, 1024);
    if (n < 1 || size < 64 || size > 8192) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: n %d < 1 or size %d not in 64..8192", fn, n, size);
    for (i = 0; i < n; i++) {
        if (images[i] < 0 || images[i] >= ds->n)
            return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: images[%d] = %d is not in the data set's [0, %d)", fn, i, images[i], ds->n);
        for (k = 0; k < 2; k++) lo[k] = CNNVIS__MIN(lo[k], y[2 * i + k]), hi[k] = CNNVIS__MAX(hi[k], y[2 * i + k]);
    }
    thumb = CNNVIS__MIN(CNNVIS__MAX(ds->h, ds->w), size / 16) + 2;
    margin = thumb / 2 + 1;
    CNNVIS__TRY(cnnvis_image_create(out, size, size, 3));
    cnnvis_image_fill(out, 0, 0, size, size, bg);
    for (i = 0; i < n; i++) {
        cnnvis_image im, small;
        unsigned char rgb[3];
        int cx = margin + (int)((y[2 * i] - lo[0]) / (hi[0] > lo[0] ? hi[0] - lo[0] : 1) * (size - 2 * margin));
        int cy = margin + (int)((y[2 * i + 1] - lo[1]) / (hi[1] > lo[1] ? hi[1] - lo[1] : 1) * (size - 2 * margin));
        cnnvis_result r = cnnvis__dataset_image(&im, ds, images[i]);
        if (r == CNNVIS_OK) r = cnnvis_image_resize(&small, &im, thumb - 2, thumb - 2, CNNVIS_RESIZE_AREA);
        cnnvis_image_free(&im);
        if (r != CNNVIS_OK) {
            cnnvis_image_free(out);
            return r;
        }
        memcpy(rgb, cnnvis__category_rgb(ds->labels[images[i]]), 3); /* the frame: the class's colour */
        cnnvis_image_fill(out, cx - thumb / 2, cy - thumb / 2, thumb, thumb, rgb);
        cnnvis__image_paste(out, &small, cx - thumb / 2 + 1, cy - thumb / 2 + 1);
        cnnvis_image_free(&small);
    }
    return CNNVIS_OK;
}

/* P(j|i) for one point with precision beta from squared distances d (n), P(i|i) = 0; the
   entropy H (nats) of the row. */
static double cnnvis__tsne_row(double *p, const double *d, int n, int i, double beta)
{
    double sum = 0, h = 0, dmin = 1e300;
    int j;
    for (j = 0; j < n; j++)
        if (j != i && d[j] < dmin) dmin = d[j];
    for (j = 0; j < n; j++) sum += p[j] = j == i ? 0.0 : exp(-(d[j] - dmin) * beta); /* shifted: no underflow */
    for (j = 0; j < n; j++) {
        p[j] /= sum;
        if (p[j] > 1e-300) h -= p[j] * log(p[j]);
    }
    return h;
}

/* --- 4e Sanity checks -------------------------------------------------------------------
   Adebayo et al. 2018: a saliency method that explains the model must change when the
   model's weights do: re-draw a layer's weights at random and compare the maps. */

CNNVIS__DEF cnnvis_result cnnvis_net_randomize_layer(cnnvis_net *net, const char *layer, uint64_t seed)
{
    cnnvis_layer *L;
    cnnvis_rng rng;
    int li;
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_randomize_layer: net is NULL");
    CNNVIS__TRY(cnnvis__layer_index("cnnvis_net_randomize_layer", net, layer, &li));
    L = &net->layers[li];
    if (!L->n_w) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_randomize_layer: layer %s has no weights", L->desc.name);
    cnnvis__rng_seed(&rng, seed);
    /* as cnnvis_net_create, at He et al.'s scale whatever the layer started at: a checkpoint
       does not keep init_scale, and the test re-initialises to the usual start */
    cnnvis__init_weights(L, li == net->n_layers - 1, 1.0f, &rng);
    memset(L->b, 0, sizeof(float) * L->n_b);
    return CNNVIS_OK;
}

/* ======================================================================================
   5   Adversarial noise                                                  >>s5_adversarial
   a change too small to see moves the class: L-BFGS, FGSM, PGD, fooling images
   ====================================================================================== */

/* --- 5a FGSM and PGD -----------------------------------------------------------------------
   Goodfellow et al. 2015: the loss is nearly linear in the pixels, so within ||r||_inf <= eps
   the best step is
     x' = x + eps sign(dJ(x, y)/dx)                                     (FGSM)
   and Kurakin et al. 2017 / Madry et al. 2018 take many small steps, each projected back:
     x_{t+1} = clip_[0,1](clip_{x,eps}(x_t + step sign(dJ(x_t, y)/dx_t)))   (PGD)
   (a targeted attack descends J(x, target) instead; the L2 ball uses g / ||g||_2). */

/* The desc with its defaults filled in, or an error naming the field at fault. */
static cnnvis_result cnnvis__attack_desc_defaults(const char *fn, struct cnnvis_attack_desc *d,
                                                  const struct cnnvis_attack_desc *in, const cnnvis_net *net)
{
    if (in) *d = *in;
    else memset(d, 0, sizeof *d);
    if ((int)d->method < 0 || d->method > CNNVIS_ATTACK_LBFGS)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: unknown attack method %d", fn, (int)d->method);
    if ((int)d->norm < 0 || d->norm > CNNVIS_NORM_L2) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: unknown norm %d", fn, (int)d->norm);
    if (!(d->eps >= 0) || !isfinite(d->eps)) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: eps %g must be >= 0 (pixel units)", fn, d->eps);
    if (d->steps < 0) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: steps %d must be >= 1 (0: the default 10)", fn, d->steps);
    if (!(d->step >= 0) || !isfinite(d->step)) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: step %g must be > 0 (0: default)", fn, d->step);
    if (!(d->c_init >= 0) || !isfinite(d->c_init)) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: c_init %g must be > 0", fn, d->c_init);
    if (d->c_search < 0) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: c_search %d must be >= 1", fn, d->c_search);
    if (d->lbfgs_iters < 0) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: lbfgs_iters %d must be >= 1", fn, d->lbfgs_iters);
    if (d->targeted && (d->target < 0 || d->target >= net->n_classes))
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: target class %d is not in [0, %d)", fn, d->target, net->n_classes);
    if (d->method == CNNVIS_ATTACK_LBFGS && !d->targeted)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: method L-BFGS is a targeted attack: set targeted = 1 and target", fn);
    d->eps = CNNVIS__DEF_VAL(d->eps, d->norm == CNNVIS_NORM_LINF ? 8.0f / 255.0f : 1.0f);
    d->steps = CNNVIS__DEF_VAL(d->steps, 10);
    d->step = CNNVIS__DEF_VAL(d->step, 2.5f * d->eps / (float)d->steps);
    d->c_init = CNNVIS__DEF_VAL(d->c_init, 0.1f);
    d->c_search = CNNVIS__DEF_VAL(d->c_search, 8);
    d->lbfgs_iters = CNNVIS__DEF_VAL(d->lbfgs_iters, 50);
    return CNNVIS_OK;
}

static cnnvis_result cnnvis__attack_run(cnnvis_net *net, float *adv, const float *pixels, const int32_t *labels, int n,
                                        const cnnvis_attack_desc *d, cnnvis_rng *rng);
static void cnnvis__pgd(cnnvis_net *net, float *adv, const float *pixels, int32_t *labels, int own, int n,
                        const cnnvis_attack_desc *d, cnnvis_rng *rng, float *grad);
static void cnnvis__gradient_step(float *adv, const float *grad, int n, size_t count, cnnvis_norm norm, float step);
static void cnnvis__project(float *adv, const float *pixels, int n, size_t count, cnnvis_norm norm, float eps);
static double cnnvis__l2(const float *v, size_t n);
static cnnvis_result cnnvis__lbfgs_attack_one(cnnvis_net *net, float *adv, const float *pixels, const cnnvis_attack_desc *d,
                                              float *work, const float *zeros, const float *ones);

CNNVIS__DEF cnnvis_result cnnvis_attack(cnnvis_tensor *adv, int32_t *predicted, float *confidence, cnnvis_net *net,
                                        const cnnvis_tensor *pixels, const int32_t *labels, const cnnvis_attack_desc *desc)
{
    static const char *fn = "cnnvis_attack";
    cnnvis_attack_desc d;
    cnnvis_rng rng;
    size_t count, q;
    int i;
    cnnvis_result r = CNNVIS_OK;
    if (!adv) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: adv is NULL", fn);
    memset(adv, 0, sizeof *adv);
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: net is NULL", fn);
    CNNVIS__TRY(cnnvis__check_pixels(fn, "pixels", net, pixels, 0));
    CNNVIS__TRY(cnnvis__attack_desc_defaults(fn, &d, desc, net));
    count = (size_t)net->desc.in_c * net->desc.in_h * net->desc.in_w;
    for (i = 0; labels && i < pixels->n; i++)
        if (labels[i] < 0 || labels[i] >= net->n_classes)
            return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: label %d of image %d is not a class in [0, %d)", fn, (int)labels[i], i,
                                net->n_classes);
    for (q = 0; q < count * (size_t)pixels->n; q++)
        if (!(pixels->data[q] >= 0.0f && pixels->data[q] <= 1.0f))
            return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: pixels[%lu] = %g is not in [0, 1] (pixel space)", fn, (unsigned long)q,
                                pixels->data[q]);
    r = cnnvis_tensor_create(adv, pixels->n, pixels->c, pixels->h, pixels->w);
    cnnvis__rng_seed(&rng, d.seed);
    for (i = 0; i < pixels->n && r == CNNVIS_OK; i += net->desc.max_batch) {
        int m = CNNVIS__MIN(net->desc.max_batch, pixels->n - i);
        r = cnnvis__attack_run(net, adv->data + (size_t)i * count, pixels->data + (size_t)i * count, labels ? labels + i : NULL,
                               m, &d, &rng);
    }
    if (r == CNNVIS_OK && (predicted || confidence)) r = cnnvis__predict(NULL, NULL, predicted, confidence, net, adv);
    if (r != CNNVIS_OK) cnnvis_tensor_free(adv);
    return r;
}

/* Any attack on n images (n <= max_batch), d resolved; labels (n) are the classes the
   untargeted attacks move away from, NULL for the net's own classes of pixels. Allocates
   its scratch (a few images). */
static cnnvis_result cnnvis__attack_run(cnnvis_net *net, float *adv, const float *pixels, const int32_t *labels, int n,
                                        const cnnvis_attack_desc *d, cnnvis_rng *rng)
{
    size_t count = (size_t)net->desc.in_c * net->desc.in_h * net->desc.in_w, q;
    cnnvis_result r = CNNVIS_OK;
    int32_t *y = (int32_t *)cnnvis__alloc(sizeof(int32_t) * (size_t)n);
    float *work = (float *)cnnvis__alloc(sizeof(float) * count * (d->method == CNNVIS_ATTACK_LBFGS ? 3 : (size_t)n));
    int i, own = !labels && !d->targeted; /* found by FGSM's or PGD's first forward pass ... */
    if (!y || !work) {
        cnnvis__free(y), cnnvis__free(work);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_attack: out of memory for %d images", n);
    }
    for (i = 0; i < n; i++) y[i] = d->targeted ? d->target : labels ? labels[i] : 0;
    if (own && d->method == CNNVIS_ATTACK_PGD && d->random_start) { /* ... unless that is not at pixels */
        cnnvis__classify_run(net, pixels, n, y, NULL);
        own = 0;
    }
    if (d->method == CNNVIS_ATTACK_LBFGS) {
        float *zeros = work + count, *ones = zeros + count;
        for (q = 0; q < count; q++) ones[q] = 1.0f;
        for (i = 0; i < n && r == CNNVIS_OK; i++)
            r = cnnvis__lbfgs_attack_one(net, adv + (size_t)i * count, pixels + (size_t)i * count, d, work, zeros, ones);
    } else {
        cnnvis__pgd(net, adv, pixels, y, own, n, d, rng, work);
    }
    cnnvis__free(y), cnnvis__free(work);
    return r;
}

/* FGSM and PGD on n images (n <= max_batch), d resolved. grad has room for n images.
     untargeted:  x <- x + step * sign(dJ(x, label)/dx)    (climb the loss of the truth)
     targeted:    x <- x - step * sign(dJ(x, target)/dx)   (descend the loss of the target)
   with sign() replaced by g / ||g||_2 in the L2 ball, each step followed by the projection.
   FGSM is exactly the first step from x with step = eps (Goodfellow et al. 2015: the loss is
   nearly linear in x, so the best move within ||r||_inf <= eps is eps * sign(gradient)).
   own 1: labels (n) are to be the net's own classes of pixels, found by the first step's
   forward pass (which sees pixels themselves: no random start). */
static void cnnvis__pgd(cnnvis_net *net, float *adv, const float *pixels, int32_t *labels, int own, int n,
                        const cnnvis_attack_desc *d, cnnvis_rng *rng, float *grad)
{
    size_t count = (size_t)net->desc.in_c * net->desc.in_h * net->desc.in_w, q;
    int steps = d->method == CNNVIS_ATTACK_FGSM ? 1 : d->steps, s, i;
    float step = d->method == CNNVIS_ATTACK_FGSM ? d->eps : d->step, direction = d->targeted ? -1.0f : 1.0f;
    memcpy(adv, pixels, sizeof(float) * count * n);
    if (d->method == CNNVIS_ATTACK_PGD && d->random_start) {
        /* Madry et al.: start at a random point of the ball, so that the attack does not
           begin where the loss surface of adversarially trained nets is flattest */
        for (i = 0; i < n; i++) {
            float *a = adv + (size_t)i * count;
            if (d->norm == CNNVIS_NORM_LINF) {
                for (q = 0; q < count; q++) a[q] += d->eps * (2.0f * cnnvis__rng_uniform(rng) - 1.0f);
            } else { /* a uniform direction (normal samples) times a uniform radius */
                double len, radius = d->eps * cnnvis__rng_uniform(rng);
                for (q = 0; q < count; q++) grad[q] = cnnvis__rng_normal(rng);
                len = cnnvis__l2(grad, count);
                for (q = 0; q < count; q++) a[q] += len > 0 ? (float)(grad[q] * radius / len) : 0.0f;
            }
        }
        cnnvis__project(adv, pixels, n, count, d->norm, d->eps);
    }
    for (s = 0; s < steps; s++) {
        cnnvis__loss_grad(net, adv, labels, n, grad, 1, own && s == 0 ? labels : NULL);
        cnnvis__gradient_step(adv, grad, n, count, d->norm, step * direction);
        cnnvis__project(adv, pixels, n, count, d->norm, d->eps);
    }
}

/* adv += step * sign(grad) (L-inf) or step * grad / ||grad||_2 (L2), image by image: the
   steepest ascent of a linear function within a small ball of that norm. */
static void cnnvis__gradient_step(float *adv, const float *grad, int n, size_t count, cnnvis_norm norm, float step)
{
    size_t q;
    int i;
    for (i = 0; i < n; i++) {
        float *a = adv + (size_t)i * count;
        const float *g = grad + (size_t)i * count;
        if (norm == CNNVIS_NORM_LINF) {
            for (q = 0; q < count; q++) a[q] += step * (float)((g[q] > 0) - (g[q] < 0));
        } else {
            double len = cnnvis__l2(g, count);
            if (len > 0)
                for (q = 0; q < count; q++) a[q] += (float)(step * g[q] / len);
        }
    }
}

/* Project each of n images of adv (count pixels each) onto the eps-ball around its image of
   pixels, then onto [0, 1]. Clamping to [0, 1] after the ball keeps it in the ball: each
   pixel only moves towards its original, which is in [0, 1] too. */
static void cnnvis__project(float *adv, const float *pixels, int n, size_t count, cnnvis_norm norm, float eps)
{
    int i;
    size_t q;
    for (i = 0; i < n; i++) {
        float *a = adv + (size_t)i * count;
        const float *p = pixels + (size_t)i * count;
        if (norm == CNNVIS_NORM_LINF) {
            for (q = 0; q < count; q++) {
                float lo = p[q] - eps, hi = p[q] + eps;
                a[q] = a[q] < lo ? lo : a[q] > hi ? hi : a[q];
            }
        } else {
            double r2 = 0, scale;
            for (q = 0; q < count; q++) r2 += (double)(a[q] - p[q]) * (a[q] - p[q]);
            scale = r2 > (double)eps * eps ? eps / sqrt(r2) : 1.0; /* shrink r onto the sphere ||r|| = eps */
            if (scale < 1.0)
                for (q = 0; q < count; q++) a[q] = p[q] + (float)((a[q] - p[q]) * scale);
        }
        for (q = 0; q < count; q++) a[q] = a[q] < 0.0f ? 0.0f : a[q] > 1.0f ? 1.0f : a[q];
    }
}

static double cnnvis__l2(const float *v, size_t n)
{
    double s = 0;
    size_t q;
    for (q = 0; q < n; q++) s += (double)v[q] * v[q];
    return sqrt(s);
}

/* --- 5b Box-constrained L-BFGS ---------------------------------------------------------------
   Szegedy et al. 2014, the first adversarial examples: the smallest r that gives class l,
     min c ||r||_2 + J(x + r, l)   subject to x + r in [0, 1]
   for the c at the boundary between reaching l and not, by a box-constrained quasi-Newton
   method (cnnvis_attack with CNNVIS_ATTACK_LBFGS). */

/* An objective: returns f(x) and writes its gradient (n) into grad. */
typedef double (*cnnvis__objective)(const float *x, float *grad, int n, void *user);

/* Zero means default: memory 10 (s, y) pairs, max_iters 100, tol 1e-5 (stop when every
   component of the projected gradient x - clamp(x - g) is below it). */
typedef struct cnnvis__lbfgs_desc {
    int memory;
    int max_iters;
    float tol;
} cnnvis__lbfgs_desc;

/* Szegedy et al.'s objective for one image, over the adversarial image a = x + r:
   f(a) = c ||a - x||_2 + J(a, target), gradient c (a - x) / ||a - x|| + dJ/da (taking 0 for
   the norm's gradient at r = 0, where it has none). */
typedef struct cnnvis__lbfgs_attack {
    cnnvis_net *net;
    const float *pixels; /* (C, H, W) the original x */
    int32_t target;
    float c;
} cnnvis__lbfgs_attack;

static double cnnvis__lbfgs_objective(const float *a, float *grad, int n, void *user);
static cnnvis_result cnnvis__lbfgs_box(float *x, int n, const float *lower, const float *upper, cnnvis__objective f,
                                       void *user, const cnnvis__lbfgs_desc *desc, double *fx, int *iters);
static double cnnvis__dot_free(const float *a, const float *b, const unsigned char *free_var, int n);

/* One image: L-BFGS in the box [0, 1] for several c. A small c lets r grow until the target
   wins; a large c keeps r small and may miss it. The paper asks for the c at that boundary
   ("line-search to find the minimum c > 0 for which the minimizer r ... satisfies f(x + r) =
   l", where its larger c means a smaller r): here c grows tenfold while the target is
   reached (shrinks while it is not), then the boundary is bisected in log c. The result is
   the successful a with the smallest ||r||_2, or, if no c reached the target, the run of the
   smallest c. */
static cnnvis_result cnnvis__lbfgs_attack_one(cnnvis_net *net, float *adv, const float *pixels, const cnnvis_attack_desc *d,
                                              float *work, const float *zeros, const float *ones)
{
    size_t count = (size_t)net->desc.in_c * net->desc.in_h * net->desc.in_w, q;
    cnnvis__lbfgs_attack u;
    cnnvis__lbfgs_desc ld;
    double c_ok = 0, c_bad = 0, best = -1, c_smallest = 0;
    int run;
    memset(&ld, 0, sizeof ld);
    ld.max_iters = d->lbfgs_iters;
    u.net = net, u.pixels = pixels, u.target = d->target;
    for (run = 0; run < d->c_search; run++) {
        double c = run == 0 ? d->c_init : c_bad == 0 ? c_ok * 10 : c_ok == 0 ? c_bad / 10 : sqrt(c_ok * c_bad);
        int32_t predicted;
        double r;
        u.c = (float)c;
        memcpy(work, pixels, sizeof(float) * count); /* every run starts from r = 0 */
        CNNVIS__TRY(cnnvis__lbfgs_box(work, (int)count, zeros, ones, cnnvis__lbfgs_objective, &u, &ld, NULL, NULL));
        cnnvis__classify_run(net, work, 1, &predicted, NULL);
        for (r = 0, q = 0; q < count; q++) r += (double)(work[q] - pixels[q]) * (work[q] - pixels[q]);
        if (predicted == d->target) {
            c_ok = c;
            if (best < 0 || r < best) best = r, memcpy(adv, work, sizeof(float) * count);
        } else {
            c_bad = c;
            if (best < 0 && (c_smallest == 0 || c < c_smallest)) c_smallest = c, memcpy(adv, work, sizeof(float) * count);
        }
    }
    return CNNVIS_OK;
}

static double cnnvis__lbfgs_objective(const float *a, float *grad, int n, void *user)
{
    cnnvis__lbfgs_attack *u = (cnnvis__lbfgs_attack *)user;
    double loss = cnnvis__loss_grad(u->net, a, &u->target, 1, grad, 0, NULL), r2 = 0, norm;
    int q;
    for (q = 0; q < n; q++) r2 += (double)(a[q] - u->pixels[q]) * (a[q] - u->pixels[q]);
    norm = sqrt(r2);
    if (norm > 0)
        for (q = 0; q < n; q++) grad[q] += (float)(u->c * (a[q] - u->pixels[q]) / norm);
    return u->c * norm + loss;
}

/* Minimise f over the box lower <= x <= upper (either may be NULL: unbounded on that side)
   from the x given, by projected L-BFGS: the two-loop recursion (Nocedal 1980) over the free
   variables (those not held at a bound by their gradient), then a backtracking Armijo search
   along the projected path (Bertsekas 1982; a simpler relative of L-BFGS-B, Byrd et al.
   1995). x (n) is replaced by the minimiser found; *fx and *iters (may be NULL) get its value
   and the iterations taken. The starting x is first clamped into the box. */
static cnnvis_result cnnvis__lbfgs_box(float *x, int n, const float *lower, const float *upper, cnnvis__objective f,
                                       void *user, const cnnvis__lbfgs_desc *desc, double *fx, int *iters)
{
    static const char *fn = "cnnvis__lbfgs_box";
    cnnvis__lbfgs_desc d;
    float *block, *g, *xn, *gn, *q, *S, *Y;
    double *alpha, fval, fnew;
    unsigned char *free_var;
    int i, it, k, m, pairs = 0, newest = -1;
    if (fx) *fx = 0;
    if (iters) *iters = 0;
    if (!x) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: x is NULL", fn);
    if (!f) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: the objective f is NULL", fn);
    if (n < 1) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: n %d must be >= 1", fn, n);
    if (desc) d = *desc;
    else memset(&d, 0, sizeof d);
    if (d.memory < 0 || d.memory > 1000 || d.max_iters < 0 || !(d.tol >= 0))
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: memory %d (0..1000), max_iters %d (>= 0) or tol %g (>= 0) out of range", fn,
                            d.memory, d.max_iters, d.tol);
    d.memory = CNNVIS__DEF_VAL(d.memory, 10);
    d.max_iters = CNNVIS__DEF_VAL(d.max_iters, 100);
    d.tol = CNNVIS__DEF_VAL(d.tol, 1e-5f);
    for (i = 0; lower && upper && i < n; i++)
        if (!(lower[i] <= upper[i])) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: lower[%d] %g > upper[%d] %g", fn, i, lower[i], i, upper[i]);
    m = d.memory;
    if (!cnnvis__mul_ok((size_t)n, 2u * m + 4u)) return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "%s: n %d is too large", fn, n);
    block = (float *)cnnvis__alloc(sizeof(float) * (size_t)n * (2u * m + 4u));
    alpha = (double *)cnnvis__alloc(sizeof(double) * m);
    free_var = (unsigned char *)cnnvis__alloc((size_t)n);
    if (!block || !alpha || !free_var) {
        cnnvis__free(block), cnnvis__free(alpha), cnnvis__free(free_var);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "%s: out of memory for %d variables", fn, n);
    }
    g = block, xn = g + n, gn = xn + n, q = gn + n, S = q + n, Y = S + (size_t)m * n;
    for (i = 0; i < n; i++) {
        if (lower && x[i] < lower[i]) x[i] = lower[i];
        if (upper && x[i] > upper[i]) x[i] = upper[i];
    }
    fval = f(x, g, n, user);
    for (it = 0; it < d.max_iters; it++) {
        double pg = 0, gd, t, first_scale = 1.0;
        int accepted = 0, ls;
        /* Stop at a stationary point of the box problem: the projected gradient step
           x - clamp(x - g) is zero there (KKT: g_i >= 0 at a lower bound, <= 0 at an upper one). */
        for (i = 0; i < n; i++) {
            double v = (double)x[i] - g[i];
            if (lower && v < lower[i]) v = lower[i];
            if (upper && v > upper[i]) v = upper[i];
            v = fabs(x[i] - v);
            pg = v > pg ? v : pg;
        }
        if (pg < d.tol) break;
        /* A variable at a bound whose gradient pushes it out stays there this iteration; the
           quasi-Newton model is built on the others only. */
        for (i = 0; i < n; i++)
            free_var[i] = !((lower && x[i] <= lower[i] && g[i] > 0) || (upper && x[i] >= upper[i] && g[i] < 0));
        /* Two-loop recursion (Nocedal 1980): q = H g with H the inverse-Hessian estimate from
           the last pairs s = x_{k+1} - x_k, y = g_{k+1} - g_k. */
        for (i = 0; i < n; i++) q[i] = free_var[i] ? g[i] : 0.0f;
        for (k = 0; k < pairs; k++) {
            int slot = (newest - k + m) % m;
            const float *s = S + (size_t)slot * n, *y = Y + (size_t)slot * n;
            double sy = cnnvis__dot_free(s, y, free_var, n);
            alpha[slot] = sy > 0 ? cnnvis__dot_free(s, q, free_var, n) / sy : 0;
            for (i = 0; i < n; i++)
                if (free_var[i]) q[i] -= (float)(alpha[slot] * y[i]);
        }
        if (pairs > 0) { /* H0 = (s.y / y.y) I, the usual scaling of the newest pair */
            const float *s = S + (size_t)newest * n, *y = Y + (size_t)newest * n;
            double sy = cnnvis__dot_free(s, y, free_var, n), yy = cnnvis__dot_free(y, y, free_var, n);
            first_scale = sy > 0 && yy > 0 ? sy / yy : 1.0;
        } else { /* no curvature yet: a first step of unit length */
            double gg = sqrt(cnnvis__dot_free(g, g, free_var, n));
            first_scale = gg > 0 ? 1.0 / gg : 1.0;
        }
        for (i = 0; i < n; i++) q[i] = (float)(q[i] * first_scale);
        for (k = pairs - 1; k >= 0; k--) {
            int slot = (newest - k + m) % m;
            const float *s = S + (size_t)slot * n, *y = Y + (size_t)slot * n;
            double sy = cnnvis__dot_free(s, y, free_var, n), beta;
            if (!(sy > 0)) continue;
            beta = cnnvis__dot_free(y, q, free_var, n) / sy;
            for (i = 0; i < n; i++)
                if (free_var[i]) q[i] += (float)((alpha[slot] - beta) * s[i]);
        }
        gd = -cnnvis__dot_free(g, q, free_var, n); /* the direction is -q */
        if (!(gd < 0)) { /* not a descent direction: forget the pairs, take steepest descent */
            double gg = sqrt(cnnvis__dot_free(g, g, free_var, n));
            pairs = 0;
            for (i = 0; i < n; i++) q[i] = free_var[i] && gg > 0 ? (float)(g[i] / gg) : 0.0f;
        }
        /* Backtracking along the projected path x(t) = clamp(x - t q) until Armijo's
           sufficient decrease f(x(t)) <= f(x) + 1e-4 g.(x(t) - x) holds. */
        for (t = 1.0, ls = 0; ls < 40 && !accepted; ls++, t *= 0.5) {
            double decrease = 0;
            for (i = 0; i < n; i++) {
                double v = free_var[i] ? (double)x[i] - t * q[i] : x[i];
                if (lower && v < lower[i]) v = lower[i];
                if (upper && v > upper[i]) v = upper[i];
                xn[i] = (float)v;
                decrease += (double)g[i] * (xn[i] - x[i]);
            }
            if (!(decrease < 0)) continue;
            fnew = f(xn, gn, n, user);
            if (fnew <= fval + 1e-4 * decrease) accepted = 1;
        }
        if (!accepted) break; /* no step lowers f: as close as float arithmetic gets */
        newest = (newest + 1) % m;
        {
            float *s = S + (size_t)newest * n, *y = Y + (size_t)newest * n;
            double sy = 0;
            for (i = 0; i < n; i++) s[i] = xn[i] - x[i], y[i] = gn[i] - g[i], sy += (double)s[i] * y[i];
            if (sy > 1e-12) pairs = pairs < m ? pairs + 1 : m; /* keep only pairs of positive curvature */
            else newest = (newest - 1 + m) % m;
        }
        memcpy(x, xn, sizeof(float) * n);
        memcpy(g, gn, sizeof(float) * n);
        fval = fnew;
    }
    if (fx) *fx = fval;
    if (iters) *iters = it;
    cnnvis__free(block), cnnvis__free(alpha), cnnvis__free(free_var);
    return isfinite(fval) ? CNNVIS_OK : CNNVIS__FAIL(CNNVIS_ERR_NUMERIC, "%s: the objective is not finite", fn);
}

static double cnnvis__dot_free(const float *a, const float *b, const unsigned char *free_var, int n)
{
    double s = 0;
    int i;
    for (i = 0; i < n; i++)
        if (free_var[i]) s += (double)a[i] * b[i];
    return s;
}

/* --- 5c Fooling images ----------------------------------------------------------------------
   Nguyen et al. 2015: from noise, climb log p_c(x) until the net is sure of class c,
     x <- clip_[0,1](x - step sign(dJ(x, c)/dx))
   and the image shows nothing a person would call c. */

CNNVIS__DEF cnnvis_result cnnvis_fooling_image(cnnvis_tensor *pixels, float *p, int *steps_taken, cnnvis_net *net, int cls,
                                               const cnnvis_fooling_desc *desc)
{
    static const char *fn = "cnnvis_fooling_image";
    cnnvis_fooling_desc d;
    cnnvis_rng rng;
    float *grad, prob = 0;
    size_t count, q;
    int s;
    int32_t label = cls;
    if (p) *p = 0;
    if (steps_taken) *steps_taken = 0;
    if (!pixels) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: pixels is NULL", fn);
    memset(pixels, 0, sizeof *pixels);
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: net is NULL", fn);
    CNNVIS__TRY(cnnvis__check_class(fn, net, cls));
    if (desc) d = *desc;
    else memset(&d, 0, sizeof d);
    if (!(d.confidence >= 0 && d.confidence < 1)) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: confidence %g is not in (0, 1)", fn, d.confidence);
    if (d.steps < 0) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: steps %d must be >= 1 (0: default)", fn, d.steps);
    if (!(d.step >= 0) || !isfinite(d.step)) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: step %g must be > 0 (0: default)", fn, d.step);
    d.confidence = CNNVIS__DEF_VAL(d.confidence, 0.99f);
    d.steps = CNNVIS__DEF_VAL(d.steps, 500);
    d.step = CNNVIS__DEF_VAL(d.step, 1.0f / 255.0f);
    CNNVIS__TRY(cnnvis_tensor_create(pixels, 1, net->desc.in_c, net->desc.in_h, net->desc.in_w));
    count = cnnvis_tensor_count(pixels);
    grad = (float *)cnnvis__alloc(sizeof(float) * count);
    if (!grad) {
        cnnvis_tensor_free(pixels);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "%s: out of memory", fn);
    }
    cnnvis__rng_seed(&rng, d.seed);
    for (q = 0; q < count; q++) pixels->data[q] = cnnvis__rng_uniform(&rng);
    for (s = 0; s < d.steps; s++) {
        /* ascent on log p(cls) = descent on J(x, cls); sign steps, as FGSM, so that the
           pace does not depend on the gradient's scale */
        cnnvis__loss_grad(net, pixels->data, &label, 1, grad, 1, NULL);
        if (net->probs.data[cls] >= d.confidence) break;
        for (q = 0; q < count; q++) {
            float v = pixels->data[q] - d.step * (float)((grad[q] > 0) - (grad[q] < 0));
            pixels->data[q] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
        }
    }
    cnnvis__forward_pixels(net, pixels->data, 1, net->n_layers - 1);
    {
        const float *sc = net->layers[net->n_layers - 1].out.data;
        double m, z = cnnvis__softmax(NULL, sc, net->n_classes, &m);
        prob = (float)(exp((double)sc[cls] - m) / z);
    }
    if (p) *p = prob;
    if (steps_taken) *steps_taken = s;
    cnnvis__free(grad);
    return CNNVIS_OK;
}

/* --- 5d Robustness and transfer ---------------------------------------------------------------
   accuracy(eps) = share of images still classified right after an attack of budget eps;
   transfer rate = share of the images fooling one net that also fool another (Szegedy et
   al. 2014, sec. 4.3). */

static cnnvis_result cnnvis__dataset_images(const char *fn, const cnnvis_dataset *ds, const cnnvis_net *net, int n_images, int *n);

CNNVIS__DEF cnnvis_result cnnvis_robustness_curve(float *accuracy, float *confidence, cnnvis_net *net, const cnnvis_dataset *ds,
                                                  int n_images, const cnnvis_attack_desc *desc, const float *eps, int n_eps,
                                                  int progress)
{
    static const char *fn = "cnnvis_robustness_curve";
    cnnvis_attack_desc d;
    cnnvis_rng rng;
    double *correct, *conf_sum, t0 = cnnvis__now();
    float *pix, *adv, *grad, *conf;
    int32_t *labels, *pred, *target;
    size_t count;
    int n, i, k, b, B, fgsm;
    cnnvis_result r = CNNVIS_OK;
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: net is NULL", fn);
    CNNVIS__TRY(cnnvis__dataset_images(fn, ds, net, n_images, &n));
    CNNVIS__TRY(cnnvis__attack_desc_defaults(fn, &d, desc, net));
    if (!eps) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: eps is NULL", fn);
    if (n_eps < 1) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: n_eps %d must be >= 1", fn, n_eps);
    for (k = 0; k < n_eps; k++)
        if (!(eps[k] >= 0) || !isfinite(eps[k])) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: eps[%d] %g must be >= 0", fn, k, eps[k]);
    B = net->desc.max_batch;
    count = (size_t)net->desc.in_c * net->desc.in_h * net->desc.in_w;
    pix = (float *)cnnvis__alloc(sizeof(float) * count * 3 * (size_t)B);
    conf = (float *)cnnvis__alloc(sizeof(float) * (size_t)B);
    labels = (int32_t *)cnnvis__alloc(sizeof(int32_t) * 3 * (size_t)B);
    correct = (double *)cnnvis__alloc(sizeof(double) * 2 * (size_t)n_eps);
    if (!pix || !conf || !labels || !correct) {
        cnnvis__free(pix), cnnvis__free(conf), cnnvis__free(labels), cnnvis__free(correct);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "%s: out of memory", fn);
    }
    adv = pix + count * B, grad = adv + count * B, pred = labels + B, target = pred + B, conf_sum = correct + n_eps;
    fgsm = d.method == CNNVIS_ATTACK_FGSM;
    cnnvis__rng_seed(&rng, d.seed);
    for (i = 0, b = 0; i < n && r == CNNVIS_OK; i += B, b++) {
        int m = CNNVIS__MIN(B, n - i), j;
        cnnvis__dataset_pixels(pix, labels, ds, i, m);
        /* FGSM's gradient is taken at x whatever eps is: one backward pass serves every eps */
        if (fgsm) {
            for (j = 0; j < m; j++) target[j] = d.targeted ? d.target : labels[j];
            cnnvis__loss_grad(net, pix, target, m, grad, 1, NULL);
        }
        for (k = 0; k < n_eps && r == CNNVIS_OK; k++) {
            d.eps = eps[k];
            if (!(desc && desc->step)) d.step = 2.5f * d.eps / (float)d.steps; /* the default step follows eps */
            memcpy(adv, pix, sizeof(float) * count * m);
            if (eps[k] > 0 && fgsm) { /* as cnnvis__pgd's one step */
                cnnvis__gradient_step(adv, grad, m, count, d.norm, d.targeted ? -d.eps : d.eps);
                cnnvis__project(adv, pix, m, count, d.norm, d.eps);
            } else if (eps[k] > 0) {
                r = cnnvis__attack_run(net, adv, pix, labels, m, &d, &rng);
            }
            cnnvis__classify_run(net, adv, m, pred, conf);
            for (j = 0; j < m; j++) correct[k] += pred[j] == labels[j], conf_sum[k] += conf[j];
            if (progress) { /* batches done, counting this one's budgets so far */
                double done = ((double)b * n_eps + k + 1) / ((double)((n + B - 1) / B) * n_eps), seconds = cnnvis__now() - t0;
                char detail[32];
                snprintf(detail, sizeof detail, "%.0fs", seconds);
                cnnvis__progress_bar("robustness", done, detail, seconds / done * (1 - done), 1);
            }
        }
    }
    for (k = 0; k < n_eps && r == CNNVIS_OK; k++) {
        if (accuracy) accuracy[k] = (float)(correct[k] / n);
        if (confidence) confidence[k] = (float)(conf_sum[k] / n);
    }
    cnnvis__free(pix), cnnvis__free(conf), cnnvis__free(labels), cnnvis__free(correct);
    return r;
}

CNNVIS__DEF cnnvis_result cnnvis_transfer_rate(float *rate, float *fooled_source, cnnvis_net *source, cnnvis_net *target,
                                               const cnnvis_dataset *ds, int n_images, const cnnvis_attack_desc *desc)
{
    static const char *fn = "cnnvis_transfer_rate";
    cnnvis_attack_desc d;
    cnnvis_rng rng;
    float *pix, *adv;
    int32_t *labels, *p_src, *p_tgt, *a_src, *a_tgt;
    size_t count;
    int n, i, j, B;
    long both_correct = 0, fooled = 0, transferred = 0;
    cnnvis_result r = CNNVIS_OK;
    if (rate) *rate = 0;
    if (fooled_source) *fooled_source = 0;
    if (!source || !target) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: %s is NULL", fn, source ? "target" : "source");
    CNNVIS__TRY(cnnvis__dataset_images(fn, ds, source, n_images, &n));
    CNNVIS__TRY(cnnvis__dataset_images(fn, ds, target, n_images, &n));
    CNNVIS__TRY(cnnvis__attack_desc_defaults(fn, &d, desc, source));
    if (target->n_classes != source->n_classes)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: target has %d classes, source %d", fn, target->n_classes, source->n_classes);
    B = CNNVIS__MIN(source->desc.max_batch, target->desc.max_batch);
    count = (size_t)ds->c * ds->h * ds->w;
    pix = (float *)cnnvis__alloc(sizeof(float) * count * 2 * (size_t)B);
    labels = (int32_t *)cnnvis__alloc(sizeof(int32_t) * 5 * (size_t)B);
    if (!pix || !labels) {
        cnnvis__free(pix), cnnvis__free(labels);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "%s: out of memory", fn);
    }
    adv = pix + count * B, p_src = labels + B, p_tgt = p_src + B, a_src = p_tgt + B, a_tgt = a_src + B;
    cnnvis__rng_seed(&rng, d.seed);
    for (i = 0; i < n && r == CNNVIS_OK; i += B) {
        int m = CNNVIS__MIN(B, n - i);
        cnnvis__dataset_pixels(pix, labels, ds, i, m);
        cnnvis__classify_run(source, pix, m, p_src, NULL);
        cnnvis__classify_run(target, pix, m, p_tgt, NULL);
        r = cnnvis__attack_run(source, adv, pix, labels, m, &d, &rng);
        cnnvis__classify_run(source, adv, m, a_src, NULL);
        cnnvis__classify_run(target, adv, m, a_tgt, NULL);
        for (j = 0; j < m; j++) {
            int fools_source = d.targeted ? a_src[j] == d.target : a_src[j] != labels[j];
            int fools_target = d.targeted ? a_tgt[j] == d.target : a_tgt[j] != labels[j];
            if (p_src[j] != labels[j] || p_tgt[j] != labels[j]) continue;
            both_correct++;
            if (fools_source) fooled++, transferred += fools_target;
        }
    }
    if (rate && fooled) *rate = (float)((double)transferred / fooled);
    if (fooled_source && both_correct) *fooled_source = (float)((double)fooled / both_correct);
    cnnvis__free(pix), cnnvis__free(labels);
    return r;
}

/* Check a data set and the number of its images to use. */
static cnnvis_result cnnvis__dataset_images(const char *fn, const cnnvis_dataset *ds, const cnnvis_net *net, int n_images, int *n)
{
    int i;
    CNNVIS__TRY(cnnvis__check_dataset(fn, ds, net));
    if (n_images < 0) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: n_images %d must be >= 0 (0: all)", fn, n_images);
    *n = n_images == 0 || n_images > ds->n ? ds->n : n_images;
    for (i = 0; i < *n; i++)
        if (ds->labels[i] < 0 || ds->labels[i] >= net->n_classes)
            return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: label %d of image %d is not a class of the net [0, %d)", fn,
                                (int)ds->labels[i], i, net->n_classes);
    return CNNVIS_OK;
}

/* --- 5e The slide's picture ------------------------------------------------------------------
   original | r = x' - x (amplified) | adversarial, each captioned with the net's answer. */

CNNVIS__DEF cnnvis_result cnnvis_adversarial_image(cnnvis_image *out, cnnvis_net *net, const cnnvis_tensor *pixels,
                                                   const cnnvis_tensor *adv, int zoom, const char *title)
{
    static const char *fn = "cnnvis_adversarial_image";
    cnnvis_image *tiles;
    char *text, **captions;
    float *plane;
    size_t hw, q;
    int i, ch, t, n, C;
    cnnvis_montage_desc md;
    cnnvis_result r = CNNVIS_OK;
    if (!out) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: net is NULL", fn);
    CNNVIS__TRY(cnnvis__check_pixels(fn, "pixels", net, pixels, 0));
    CNNVIS__TRY(cnnvis__check_pixels(fn, "adv", net, adv, 0));
    if (adv->n != pixels->n) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: adv has %d images, pixels %d", fn, adv->n, pixels->n);
    if (zoom < 0 || zoom > 64) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: zoom %d is not in 1..64 (0: 3)", fn, zoom);
    zoom = CNNVIS__DEF_VAL(zoom, 3);
    n = pixels->n, C = pixels->c, hw = (size_t)pixels->h * pixels->w;
    tiles = (cnnvis_image *)cnnvis__alloc(sizeof(cnnvis_image) * 3 * (size_t)n);
    captions = (char **)cnnvis__alloc(sizeof(char *) * 3 * (size_t)n);
    text = (char *)cnnvis__alloc(64 * 3 * (size_t)n);
    plane = (float *)cnnvis__alloc(sizeof(float) * hw);
    if (!tiles || !captions || !text || !plane) {
        cnnvis__free(tiles), cnnvis__free(captions), cnnvis__free(text), cnnvis__free(plane);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "%s: out of memory", fn);
    }
    for (i = 0; i < n && r == CNNVIS_OK; i++) {
        const float *p = pixels->data + (size_t)i * C * hw, *a = adv->data + (size_t)i * C * hw;
        cnnvis_map_desc map;
        cnnvis_image im;
        float conf[2], m = 0;
        int32_t cls[2];
        cnnvis__classify_run(net, p, 1, &cls[0], &conf[0]);
        cnnvis__classify_run(net, a, 1, &cls[1], &conf[1]);
        /* the perturbation r = adv - pixels, averaged over channels: signed, so mapped
           symmetrically around grey (the map amplifies it to fill the colour range) */
        memset(plane, 0, sizeof(float) * hw);
        for (ch = 0; ch < C; ch++)
            for (q = 0; q < hw; q++) {
                float d = a[ch * hw + q] - p[ch * hw + q];
                plane[q] += d / (float)C;
                m = fabsf(d) > m ? fabsf(d) : m;
            }
        for (t = 0; t < 3; t++) captions[3 * i + t] = text + 64 * (3 * i + t);
        snprintf(captions[3 * i], 64, "%s %.1f%%", cnnvis_net_class_name(net, cls[0]), 100.0 * conf[0]);
        snprintf(captions[3 * i + 1], 64, "r: max %.1f/255", 255.0 * m);
        snprintf(captions[3 * i + 2], 64, "%s %.1f%%", cnnvis_net_class_name(net, cls[1]), 100.0 * conf[1]);
        for (t = 0; t < 3 && r == CNNVIS_OK; t++) {
            memset(&map, 0, sizeof map);
            if (t == 1) {
                map.mode = CNNVIS_MAP_SYMMETRIC, map.cmap = CNNVIS_CMAP_DIVERGING;
                r = cnnvis__plane_to_image(&im, plane, pixels->w, pixels->h, &map);
            } else {
                map.mode = CNNVIS_MAP_PIXELS;
                r = cnnvis_tensor_to_image(&im, t == 0 ? pixels : adv, i, &map);
            }
            if (r == CNNVIS_OK) r = cnnvis_image_resize(&tiles[3 * i + t], &im, im.w * zoom, im.h * zoom, CNNVIS_RESIZE_NEAREST);
            cnnvis_image_free(&im);
        }
    }
    if (r == CNNVIS_OK) {
        memset(&md, 0, sizeof md);
        md.cols = 3, md.title = title, md.max_caption = 40;
        r = cnnvis_montage(out, tiles, 3 * n, (const char *const *)captions, &md);
    }
    for (i = 0; i < 3 * n; i++) cnnvis_image_free(&tiles[i]);
    cnnvis__free(tiles), cnnvis__free(captions), cnnvis__free(text), cnnvis__free(plane);
    return r;
}

/* --- 5f Adversarial training -------------------------------------------------------------------
   Goodfellow et al. 2015, Madry et al. 2018: train on min_w E max_{||r|| <= eps} J(x + r, y),
   the inner max approximated by the attack of 5a at every step (B2 calls this). */

/* Adversarial training (Goodfellow et al. 2015; Madry et al. 2018), called by cnnvis_net_train
   for each batch: the first n of the batch's normalised images x are replaced by adversarial
   versions made against the net as it is now. work holds 2 n images. */
static cnnvis_result cnnvis__train_adversarial(cnnvis_net *net, float *x, const int32_t *labels, int n,
                                               const struct cnnvis_attack_desc *d, cnnvis_rng *rng, float *work)
{
    size_t count = (size_t)net->desc.in_c * net->desc.in_h * net->desc.in_w, q;
    float *pix = work, *adv = work + count * n;
    cnnvis_tensor t = net->input;
    t.n = n;
    t.data = pix;
    memcpy(pix, x, sizeof(float) * count * n);
    cnnvis_net_denormalize(&t, net, &t);
    for (q = 0; q < count * n; q++) pix[q] = pix[q] < 0.0f ? 0.0f : pix[q] > 1.0f ? 1.0f : pix[q];
    CNNVIS__TRY(cnnvis__attack_run(net, adv, pix, labels, n, d, rng));
    t.data = adv;
    cnnvis_net_normalize(&t, net, &t);
    memcpy(x, adv, sizeof(float) * count * n); /* after the attack: its passes used net->input, which is x */
    return CNNVIS_OK;
}

/* ======================================================================================
   B1  Appendix: fast kernels, thread pool, kernel selection                     >>b1_fast
   AVX2/FMA and NEON kernels, packed GEMM; they must match A2 within rounding
   ====================================================================================== */

/* --- Thread pool ------------------------------------------------------------------------
   parallel_for(n, fn) splits [0, n) into one contiguous range per thread; the caller runs
   the first range. Each output is computed by exactly one thread with the same arithmetic
   as on one thread, so results do not depend on the thread count. Between jobs a worker
   spins briefly, then sleeps on a condition variable (below). */

struct cnnvis_pool {
    int n_threads; /* including the caller */
#ifndef CNNVIS_NO_THREADS
    pthread_t *threads;
    pthread_mutex_t mutex;
    pthread_cond_t start, done;
    cnnvis__range_fn fn;
    void *args;
    int n;             /* items of the current job */
    int job;           /* incremented for each job (wrapping); workers wait for a change */
    int remaining;     /* workers still busy with the current job */
    int stop;
    int spin;          /* waiting threads spin first (cnnvis__spin): not more threads than CPUs */
#endif
};

#ifndef CNNVIS_NO_THREADS
/* Set on pool workers, and on the caller while it runs its share: a parallel_for called from
   inside a job runs serially instead of waiting for threads that are busy with the job. */
static CNNVIS__TLS int cnnvis__in_job;
#endif

#ifndef CNNVIS_NO_THREADS
/* Waking a thread asleep on a condition variable takes longer than many of the jobs of a
   one-image pass, which come a few microseconds apart. So a thread that waits spins first,
   for up to CNNVIS__SPIN_US, watching the pool's counters with atomic loads, and sleeps only
   after that: a pass's jobs then go to threads that are awake, and an idle pool costs no
   CPU. The counters are still written under the mutex (atomically, as they are also read
   without it). With more threads than CPUs a spinning thread would hold the CPU that the
   thread it waits for needs, so such a pool only sleeps. (bench prints what a job costs
   both ways.) */
#define CNNVIS__SPIN_US 50
#if defined(__GNUC__) || defined(__clang__)
#define CNNVIS__LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define CNNVIS__STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#else /* no atomics: no spinning, the mutex alone */
#define CNNVIS__LOAD(p) (*(p))
#define CNNVIS__STORE(p, v) (*(p) = (v))
#endif

/* Until *counter != value (differ) or == value (!differ), or CNNVIS__SPIN_US have passed. */
static void cnnvis__spin(const int *counter, int value, int differ)
{
#if defined(__GNUC__) || defined(__clang__)
    double start = 0;
    int spins;
    /* the count bounds the spin too, should the (wall) clock be set back meanwhile */
    for (spins = 0; spins < (1 << 20) && (CNNVIS__LOAD(counter) != value) != differ; spins++) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause(); /* tells the core this is a spin: the other hyperthread runs */
#elif defined(__aarch64__)
        __asm__ __volatile__("yield");
#endif
        if (spins % 64 == 0) { /* the clock costs more than a pause: read it now and then */
            double t = cnnvis__now();
            if (spins == 0) start = t;
            else if (t > start + 1e-6 * CNNVIS__SPIN_US || t < start) return;
        }
    }
#else
    (void)counter, (void)value, (void)differ;
#endif
}

typedef struct cnnvis__worker_arg {
    struct cnnvis_pool *pool;
    int index;
} cnnvis__worker_arg;

static void *cnnvis__worker(void *p)
{
    cnnvis__worker_arg *arg = (cnnvis__worker_arg *)p;
    struct cnnvis_pool *pool = arg->pool;
    int index = arg->index;
    int seen = 0;
    CNNVIS_FREE(arg);
    cnnvis__in_job = 1;
    cnnvis__thread_index = index;
    for (;;) {
        int begin, end;
        if (pool->spin) cnnvis__spin(&pool->job, seen, 1);
        pthread_mutex_lock(&pool->mutex);
        while (pool->job == seen && !pool->stop) pthread_cond_wait(&pool->start, &pool->mutex);
        if (pool->stop) {
            pthread_mutex_unlock(&pool->mutex);
            return NULL;
        }
        seen = pool->job;
        begin = (int)((long long)pool->n * index / pool->n_threads);
        end = (int)((long long)pool->n * (index + 1) / pool->n_threads);
        pthread_mutex_unlock(&pool->mutex);
        if (begin < end) pool->fn(pool->args, begin, end);
        pthread_mutex_lock(&pool->mutex);
        CNNVIS__STORE(&pool->remaining, pool->remaining - 1);
        if (pool->remaining == 0) pthread_cond_signal(&pool->done);
        pthread_mutex_unlock(&pool->mutex);
    }
}
#endif

static int cnnvis__online_cpus(void)
{
#ifdef _SC_NPROCESSORS_ONLN
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > CNNVIS__MAX_THREADS ? CNNVIS__MAX_THREADS : (int)n;
#else
    return 1;
#endif
}

static void cnnvis__pool_free(struct cnnvis_pool *pool)
{
    if (!pool) return;
#ifndef CNNVIS_NO_THREADS
    if (pool->threads) {
        int i;
        pthread_mutex_lock(&pool->mutex);
        pool->stop = 1;
        pthread_cond_broadcast(&pool->start);
        pthread_mutex_unlock(&pool->mutex);
        for (i = 0; i < pool->n_threads - 1; i++) pthread_join(pool->threads[i], NULL);
        CNNVIS_FREE(pool->threads);
    }
    pthread_mutex_destroy(&pool->mutex);
    pthread_cond_destroy(&pool->start);
    pthread_cond_destroy(&pool->done);
#endif
    CNNVIS_FREE(pool);
}

static cnnvis_result cnnvis__pool_create(struct cnnvis_pool **out, int n_threads)
{
    struct cnnvis_pool *pool = (struct cnnvis_pool *)cnnvis__alloc(sizeof *pool);
    *out = NULL;
    if (!pool) return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "thread pool: out of memory");
#ifdef CNNVIS_NO_THREADS
    (void)n_threads;
    pool->n_threads = 1;
#else
    pool->n_threads = 1;
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->start, NULL);
    pthread_cond_init(&pool->done, NULL);
    if (n_threads > 1) {
        int i;
        pool->spin = n_threads <= cnnvis__online_cpus(); /* set before the workers start */
        pool->threads = (pthread_t *)cnnvis__alloc(sizeof(pthread_t) * (size_t)(n_threads - 1));
        if (!pool->threads) {
            cnnvis__pool_free(pool);
            return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "thread pool: out of memory");
        }
        for (i = 0; i < n_threads - 1; i++) {
            cnnvis__worker_arg *arg = (cnnvis__worker_arg *)cnnvis__alloc(sizeof *arg);
            if (!arg) break;
            arg->pool = pool, arg->index = i + 1;
            if (pthread_create(&pool->threads[i], NULL, cnnvis__worker, arg) != 0) {
                CNNVIS_FREE(arg);
                break;
            }
            pool->n_threads++;
        }
        if (pool->n_threads < n_threads) {
            cnnvis__pool_free(pool);
            return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "thread pool: could only start %d of %d threads", i, n_threads - 1);
        }
    }
#endif
    *out = pool;
    return CNNVIS_OK;
}

/* Run fn(args, begin, end) over [0, n) split across the pool (serially without one). */
static void cnnvis__parallel_for(struct cnnvis_pool *pool, int n, cnnvis__range_fn fn, void *args)
{
    if (n <= 0) return;
#ifndef CNNVIS_NO_THREADS
    if (pool && pool->n_threads > 1 && n > 1 && !cnnvis__in_job) {
        int end0;
        pthread_mutex_lock(&pool->mutex);
        pool->fn = fn, pool->args = args, pool->n = n;
        CNNVIS__STORE(&pool->remaining, pool->n_threads - 1);
        CNNVIS__STORE(&pool->job, pool->job == INT_MAX ? 0 : pool->job + 1);
        pthread_cond_broadcast(&pool->start);
        pthread_mutex_unlock(&pool->mutex);
        end0 = (int)((long long)n / pool->n_threads);
        cnnvis__in_job = 1;
        if (end0 > 0) fn(args, 0, end0);
        cnnvis__in_job = 0;
        if (pool->spin) cnnvis__spin(&pool->remaining, 0, 0);
        pthread_mutex_lock(&pool->mutex);
        while (pool->remaining > 0) pthread_cond_wait(&pool->done, &pool->mutex);
        pthread_mutex_unlock(&pool->mutex);
        return;
    }
#else
    (void)pool;
#endif
    fn(args, 0, n);
}

/* --- ReLU and max-pooling, SIMD ---------------------------------------------------------- */

/* The ReLU's two functions (A2) with 8 (AVX2) or 4 (NEON) lanes at a time. They compute exactly
   what the reference does (a max and masks, no rounding), so the results are bit-identical;
   a NaN input gives 0 as in the reference. */
#if CNNVIS__HAVE_AVX2
CNNVIS__AVX2_FN static void cnnvis__relu_forward__avx2(void *p, int begin, int end)
{
    const cnnvis__relu_args *a = (const cnnvis__relu_args *)p;
    size_t i = (size_t)begin * a->per_item, stop = (size_t)end * a->per_item;
    __m256 zero = _mm256_setzero_ps();
    for (; i + 8 <= stop; i += 8) _mm256_storeu_ps(a->y + i, _mm256_max_ps(_mm256_loadu_ps(a->x + i), zero));
    for (; i < stop; i++) a->y[i] = a->x[i] > 0.0f ? a->x[i] : 0.0f;
}

CNNVIS__AVX2_FN static void cnnvis__relu_backward__avx2(void *p, int begin, int end)
{
    const cnnvis__relu_args *a = (const cnnvis__relu_args *)p;
    size_t i = (size_t)begin * a->per_item, stop = (size_t)end * a->per_item;
    __m256 zero = _mm256_setzero_ps();
    for (; i + 8 <= stop; i += 8) {
        __m256 h = _mm256_loadu_ps(a->x + i), r = _mm256_loadu_ps(a->dy + i);
        __m256 h_pos = _mm256_cmp_ps(h, zero, _CMP_GT_OQ), r_pos = _mm256_cmp_ps(r, zero, _CMP_GT_OQ);
        __m256 mask = a->rule == CNNVIS_RELU_BACKPROP ? h_pos : a->rule == CNNVIS_RELU_DECONVNET ? r_pos : _mm256_and_ps(h_pos, r_pos);
        _mm256_storeu_ps(a->dx + i, _mm256_and_ps(mask, r));
    }
    if (i < stop) {
        cnnvis__relu_args tail = *a; /* the last few elements, by the reference */
        tail.x += i, tail.dy += i, tail.dx += i, tail.per_item = stop - i;
        cnnvis__relu_backward__reference(&tail, 0, 1);
    }
}
#endif

#if CNNVIS__HAVE_NEON
static void cnnvis__relu_forward__neon(void *p, int begin, int end)
{
    const cnnvis__relu_args *a = (const cnnvis__relu_args *)p;
    size_t i = (size_t)begin * a->per_item, stop = (size_t)end * a->per_item;
    float32x4_t zero = vdupq_n_f32(0.0f);
    for (; i + 4 <= stop; i += 4) {
        float32x4_t x = vld1q_f32(a->x + i);
        vst1q_f32(a->y + i, vbslq_f32(vcgtq_f32(x, zero), x, zero));
    }
    for (; i < stop; i++) a->y[i] = a->x[i] > 0.0f ? a->x[i] : 0.0f;
}

static void cnnvis__relu_backward__neon(void *p, int begin, int end)
{
    const cnnvis__relu_args *a = (const cnnvis__relu_args *)p;
    size_t i = (size_t)begin * a->per_item, stop = (size_t)end * a->per_item;
    float32x4_t zero = vdupq_n_f32(0.0f);
    for (; i + 4 <= stop; i += 4) {
        float32x4_t h = vld1q_f32(a->x + i), r = vld1q_f32(a->dy + i);
        uint32x4_t h_pos = vcgtq_f32(h, zero), r_pos = vcgtq_f32(r, zero);
        uint32x4_t mask = a->rule == CNNVIS_RELU_BACKPROP ? h_pos : a->rule == CNNVIS_RELU_DECONVNET ? r_pos : vandq_u32(h_pos, r_pos);
        vst1q_f32(a->dx + i, vbslq_f32(mask, r, zero));
    }
    if (i < stop) {
        cnnvis__relu_args tail = *a;
        tail.x += i, tail.dy += i, tail.dx += i, tail.per_item = stop - i;
        cnnvis__relu_backward__reference(&tail, 0, 1);
    }
}
#endif

/* A2's max-pool forward with several windows of a row at once, lane j holding window ox + j. One
   window's comparisons each wait on the last; a row's windows do not wait on each other.
   Each lane meets its values in the order above: the first one inside the image is taken,
   then a value only if it is greater (an ordered compare, false on NaN like C's >), so the
   maxima and switches are the same bits. Stride 2 takes the even lanes of twice the width.
   Columns outside the image are masked off: AVX2 masks its loads, NEON (which has no masked
   load) copies such a row into a buffer first. Windows that start left of the image (at
   most P/S + 1 of a row) and other strides go one by one. */
#define CNNVIS__POOL_ROW 64 /* floats of NEON's buffer: K up to 57 at stride 2 */

#if CNNVIS__HAVE_AVX2
CNNVIS__AVX2_FN static __m256i cnnvis__in_range__avx2(__m256i col, int n) /* 0 <= col < n */
{
    return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), col), _mm256_cmpgt_epi32(_mm256_set1_epi32(n), col));
}

CNNVIS__AVX2_FN static void cnnvis__maxpool_forward__avx2(void *p, int begin, int end)
{
    const cnnvis__maxpool_args *a = (const cnnvis__maxpool_args *)p;
    const __m256i step = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), ones = _mm256_set1_epi32(-1);
    const __m256i lane = _mm256_mullo_epi32(step, _mm256_set1_epi32(a->s));
    int plane, oy, ox, iy, kx, n;
    if (a->s != 1 && a->s != 2) {
        cnnvis__maxpool_forward__reference(p, begin, end);
        return;
    }
    for (plane = begin; plane < end; plane++) {
        const float *x = a->x + (size_t)plane * a->ih * a->iw;
        float *y = a->y + (size_t)plane * a->oh * a->ow;
        int32_t *sw = a->switches + (size_t)plane * a->oh * a->ow;
        for (oy = 0; oy < a->oh; oy++) {
            int y0 = CNNVIS__MAX(oy * a->s - a->p, 0), y1 = CNNVIS__MIN(oy * a->s - a->p + a->k, a->ih);
            for (ox = 0; ox < a->ow && ox * a->s < a->p; ox++) /* the lanes' loads start inside the row */
                cnnvis__maxpool_window(x, a->iw, y0, y1, 0, CNNVIS__MIN(ox * a->s - a->p + a->k, a->iw), y + oy * a->ow + ox,
                                       sw + oy * a->ow + ox);
            for (; ox < a->ow; ox += 8) {
                int x0 = ox * a->s - a->p;
                float tile[8];
                int32_t args[8];
                __m256 best = _mm256_setzero_ps();
                __m256i arg = _mm256_setzero_si256(), started = _mm256_setzero_si256();
                for (iy = y0; iy < y1; iy++)
                    for (kx = 0; kx < a->k; kx++) {
                        const float *row = x + iy * a->iw;
                        int c = x0 + kx; /* lane 0's column, >= 0; the loads form no pointer past the row */
                        __m256i col = _mm256_add_epi32(lane, _mm256_set1_epi32(c)), in = cnnvis__in_range__avx2(col, a->iw);
                        __m256 v = _mm256_setzero_ps(), take;
                        if (a->s == 1) {
                            if (c < a->iw) v = _mm256_maskload_ps(row + c, in);
                        } else { /* row[c], row[c + 2], ..., row[c + 14] */
                            __m256i c0 = _mm256_add_epi32(step, _mm256_set1_epi32(c));
                            __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps(), pairs;
                            if (c < a->iw) lo = _mm256_maskload_ps(row + c, cnnvis__in_range__avx2(c0, a->iw));
                            if (c + 8 < a->iw)
                                hi = _mm256_maskload_ps(row + c + 8, cnnvis__in_range__avx2(_mm256_add_epi32(c0, _mm256_set1_epi32(8)), a->iw));
                            pairs = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
                            v = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(pairs), _MM_SHUFFLE(3, 1, 2, 0)));
                        }
                        take = _mm256_and_ps(_mm256_castsi256_ps(in), _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ),
                                                                                   _mm256_castsi256_ps(_mm256_xor_si256(started, ones))));
                        best = _mm256_blendv_ps(best, v, take);
                        arg = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(arg),
                                                                   _mm256_castsi256_ps(_mm256_add_epi32(col, _mm256_set1_epi32(iy * a->iw))), take));
                        started = _mm256_or_si256(started, in);
                    }
                _mm256_storeu_ps(tile, best);
                _mm256_storeu_si256((__m256i *)args, arg);
                n = CNNVIS__MIN(8, a->ow - ox);
                memcpy(y + oy * a->ow + ox, tile, sizeof(float) * (size_t)n);
                memcpy(sw + oy * a->ow + ox, args, sizeof(int32_t) * (size_t)n);
            }
        }
    }
}
#endif

#if CNNVIS__HAVE_NEON
static void cnnvis__maxpool_forward__neon(void *p, int begin, int end)
{
    const cnnvis__maxpool_args *a = (const cnnvis__maxpool_args *)p;
    static const int32_t lanes[4] = {0, 1, 2, 3};
    int32x4_t lane = vmulq_n_s32(vld1q_s32(lanes), a->s);
    int width = 4 * a->s + a->k - 1, plane, oy, ox, iy, kx, t;
    if ((a->s != 1 && a->s != 2) || width > CNNVIS__POOL_ROW) {
        cnnvis__maxpool_forward__reference(p, begin, end);
        return;
    }
    for (plane = begin; plane < end; plane++) {
        const float *x = a->x + (size_t)plane * a->ih * a->iw;
        float *y = a->y + (size_t)plane * a->oh * a->ow;
        int32_t *sw = a->switches + (size_t)plane * a->oh * a->ow;
        for (oy = 0; oy < a->oh; oy++) {
            int y0 = CNNVIS__MAX(oy * a->s - a->p, 0), y1 = CNNVIS__MIN(oy * a->s - a->p + a->k, a->ih);
            for (ox = 0; ox < a->ow; ox += 4) {
                int x0 = ox * a->s - a->p, inside = x0 >= 0 && x0 + width <= a->iw;
                float buf[CNNVIS__POOL_ROW], tile[4];
                int32_t args[4];
                float32x4_t best = vdupq_n_f32(0.0f);
                uint32x4_t started = vdupq_n_u32(0);
                int32x4_t arg = vdupq_n_s32(0);
                for (iy = y0; iy < y1; iy++) {
                    const float *row = x + iy * a->iw, *r = buf;
                    if (inside) r = row + x0;
                    else
                        for (t = 0; t < width; t++) buf[t] = x0 + t >= 0 && x0 + t < a->iw ? row[x0 + t] : 0.0f;
                    for (kx = 0; kx < a->k; kx++) {
                        int32x4_t col = vaddq_s32(lane, vdupq_n_s32(x0 + kx));
                        uint32x4_t in = vandq_u32(vcgeq_s32(col, vdupq_n_s32(0)), vcltq_s32(col, vdupq_n_s32(a->iw)));
                        float32x4_t v = a->s == 1 ? vld1q_f32(r + kx) : vld2q_f32(r + kx).val[0];
                        uint32x4_t take = vandq_u32(in, vorrq_u32(vcgtq_f32(v, best), vmvnq_u32(started)));
                        best = vbslq_f32(take, v, best);
                        arg = vbslq_s32(take, vaddq_s32(col, vdupq_n_s32(iy * a->iw)), arg);
                        started = vorrq_u32(started, in);
                    }
                }
                vst1q_f32(tile, best);
                vst1q_s32(args, arg);
                t = CNNVIS__MIN(4, a->ow - ox);
                memcpy(y + oy * a->ow + ox, tile, sizeof(float) * (size_t)t);
                memcpy(sw + oy * a->ow + ox, args, sizeof(int32_t) * (size_t)t);
            }
        }
    }
}
#endif

static cnnvis__range_fn cnnvis__maxpool_forward_select(cnnvis_kernels k)
{
#if CNNVIS__HAVE_AVX2
    if (k == CNNVIS_KERNELS_AVX2) return cnnvis__maxpool_forward__avx2;
#endif
#if CNNVIS__HAVE_NEON
    if (k == CNNVIS_KERNELS_NEON) return cnnvis__maxpool_forward__neon;
#endif
    (void)k;
    return cnnvis__maxpool_forward__reference;
}

/* --- Fast kernels: packed GEMM with a register-blocked micro-kernel ----------------------
   Convolution becomes matrix products (im2col; Chellapilla et al. 2006):
     forward          Y_g (OCg x P)  = W_g (OCg x Kd) . col(x) (Kd x P)
                      (at stride 1 col(x) is not built but read in the zero-padded image:
                      cnnvis__conv_implicit)
     backward data    dcol (Kd x P)  = W_g^T (Kd x OCg) . dY_g (OCg x P), then col2im adds it to dx
                      (or, when dY_g is mostly zeros, as below a max-pool, a scatter of its
                      nonzero terms: cnnvis__conv_sparse_dx)
     backward weights dW_g (OCg x Kd) += dY_g (OCg x P) . col(x)^T (P x Kd)
   with Kd = ICg*K*K and P = OH*OW; fully connected layers are products directly. The
   product C += A.B is computed as in BLIS (Van Zee & van de Geijn 2015): A is packed in
   panels of MR rows and B in panels of NR columns, each panel storing its K values
   contiguously (zero-padded past the edge), and a micro-kernel keeps an MR x NR block of C
   in registers while it runs down K in blocks of KC. Every element of C is computed by one
   thread with the same sequence of operations whatever the number of threads. */

#define CNNVIS__MR 6   /* rows of the micro-tile: 6 x 16 floats = 12 AVX2 or 24 NEON registers */
#define CNNVIS__NR 16  /* columns of the micro-tile */
#define CNNVIS__KC 256 /* K per pass: a B sub-panel (KC x NR) stays in L1 */
#define CNNVIS__MCP 12 /* A panels per block: MCP x MR x KC floats stay in L2 */
#define CNNVIS__BW_BUDGET ((size_t)1 << 20) /* floats per packed operand in backward-weights chunks */

static size_t cnnvis__pad(size_t x, size_t to) { return (x + to - 1) / to * to; }

/* C[i*rs + j*cs] += sum over k < kc of a[k*MR + i] * b[k*NR + j] for i < mr, j < nr. */
typedef void (*cnnvis__micro_fn)(int kc, const float *a, const float *b, float *c, size_t rs, size_t cs, int mr, int nr);

#if CNNVIS__HAVE_AVX2 || CNNVIS__HAVE_NEON
/* An edge or strided tile: through a buffer, element by element. */
static void cnnvis__micro_store(const float *tile, float *c, size_t rs, size_t cs, int mr, int nr)
{
    int i, j;
    for (i = 0; i < mr; i++)
        for (j = 0; j < nr; j++) c[i * rs + j * cs] += tile[i * CNNVIS__NR + j];
}
#endif

#if CNNVIS__HAVE_AVX2
/* The end of both AVX2 micro-kernels: C += the 6x16 tile held in registers, straight into
   C when the tile is whole and its rows contiguous, else through cnnvis__micro_store. */
CNNVIS__AVX2_FN static void cnnvis__micro_add__avx2(__m256 acc[CNNVIS__MR][2], float *c, size_t rs, size_t cs, int mr, int nr)
{
    float tile[CNNVIS__MR * CNNVIS__NR];
    int i;
    if (mr == CNNVIS__MR && nr == CNNVIS__NR && cs == 1) {
        for (i = 0; i < CNNVIS__MR; i++) {
            _mm256_storeu_ps(c + i * rs, _mm256_add_ps(_mm256_loadu_ps(c + i * rs), acc[i][0]));
            _mm256_storeu_ps(c + i * rs + 8, _mm256_add_ps(_mm256_loadu_ps(c + i * rs + 8), acc[i][1]));
        }
        return;
    }
    for (i = 0; i < CNNVIS__MR; i++) _mm256_storeu_ps(tile + i * CNNVIS__NR, acc[i][0]), _mm256_storeu_ps(tile + i * CNNVIS__NR + 8, acc[i][1]);
    cnnvis__micro_store(tile, c, rs, cs, mr, nr);
}

CNNVIS__AVX2_FN static void cnnvis__micro__avx2(int kc, const float *a, const float *b, float *c, size_t rs, size_t cs,
                                                int mr, int nr)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    int k;
    for (k = 0; k < kc; k++, a += CNNVIS__MR, b += CNNVIS__NR) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8), ai;
        ai = _mm256_broadcast_ss(a + 0), c00 = _mm256_fmadd_ps(ai, b0, c00), c01 = _mm256_fmadd_ps(ai, b1, c01);
        ai = _mm256_broadcast_ss(a + 1), c10 = _mm256_fmadd_ps(ai, b0, c10), c11 = _mm256_fmadd_ps(ai, b1, c11);
        ai = _mm256_broadcast_ss(a + 2), c20 = _mm256_fmadd_ps(ai, b0, c20), c21 = _mm256_fmadd_ps(ai, b1, c21);
        ai = _mm256_broadcast_ss(a + 3), c30 = _mm256_fmadd_ps(ai, b0, c30), c31 = _mm256_fmadd_ps(ai, b1, c31);
        ai = _mm256_broadcast_ss(a + 4), c40 = _mm256_fmadd_ps(ai, b0, c40), c41 = _mm256_fmadd_ps(ai, b1, c41);
        ai = _mm256_broadcast_ss(a + 5), c50 = _mm256_fmadd_ps(ai, b0, c50), c51 = _mm256_fmadd_ps(ai, b1, c51);
    }
    {
        __m256 acc[CNNVIS__MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
        cnnvis__micro_add__avx2(acc, c, rs, cs, mr, nr);
    }
}
#endif

#if CNNVIS__HAVE_NEON
static void cnnvis__micro__neon(int kc, const float *a, const float *b, float *c, size_t rs, size_t cs, int mr, int nr)
{
    float32x4_t acc[CNNVIS__MR][4];
    float tile[CNNVIS__MR * CNNVIS__NR];
    int k, i, q;
    for (i = 0; i < CNNVIS__MR; i++)
        for (q = 0; q < 4; q++) acc[i][q] = vdupq_n_f32(0.0f);
    for (k = 0; k < kc; k++, a += CNNVIS__MR, b += CNNVIS__NR) {
        float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8), b3 = vld1q_f32(b + 12);
        float32x4_t a03 = vld1q_f32(a);
        float32x2_t a45 = vld1_f32(a + 4);
#define CNNVIS__ROW_Q(r, lane)                                                                   \
    acc[r][0] = vfmaq_laneq_f32(acc[r][0], b0, a03, lane), acc[r][1] = vfmaq_laneq_f32(acc[r][1], b1, a03, lane), \
    acc[r][2] = vfmaq_laneq_f32(acc[r][2], b2, a03, lane), acc[r][3] = vfmaq_laneq_f32(acc[r][3], b3, a03, lane)
#define CNNVIS__ROW_D(r, lane)                                                                   \
    acc[r][0] = vfmaq_lane_f32(acc[r][0], b0, a45, lane), acc[r][1] = vfmaq_lane_f32(acc[r][1], b1, a45, lane), \
    acc[r][2] = vfmaq_lane_f32(acc[r][2], b2, a45, lane), acc[r][3] = vfmaq_lane_f32(acc[r][3], b3, a45, lane)
        CNNVIS__ROW_Q(0, 0);
        CNNVIS__ROW_Q(1, 1);
        CNNVIS__ROW_Q(2, 2);
        CNNVIS__ROW_Q(3, 3);
        CNNVIS__ROW_D(4, 0);
        CNNVIS__ROW_D(5, 1);
#undef CNNVIS__ROW_Q
#undef CNNVIS__ROW_D
    }
    if (mr == CNNVIS__MR && nr == CNNVIS__NR && cs == 1) {
        for (i = 0; i < CNNVIS__MR; i++)
            for (q = 0; q < 4; q++) vst1q_f32(c + i * rs + 4 * q, vaddq_f32(vld1q_f32(c + i * rs + 4 * q), acc[i][q]));
        return;
    }
    for (i = 0; i < CNNVIS__MR; i++)
        for (q = 0; q < 4; q++) vst1q_f32(tile + i * CNNVIS__NR + 4 * q, acc[i][q]);
    cnnvis__micro_store(tile, c, rs, cs, mr, nr);
}
#endif

static cnnvis__micro_fn cnnvis__micro_select(cnnvis_kernels k)
{
#if CNNVIS__HAVE_AVX2
    if (k == CNNVIS_KERNELS_AVX2) return cnnvis__micro__avx2;
#endif
#if CNNVIS__HAVE_NEON
    if (k == CNNVIS_KERNELS_NEON) return cnnvis__micro__neon;
#endif
    (void)k;
    return NULL;
}

/* The same tile with A read where it lies, element (i, k) at a[i*a_rs + k*a_cs], for the
   weights of a convolution at small batch: packing them would cost as much as the product.
   Row i < mr of the tile reads row i of A; the rows past mr (an edge panel) read row mr-1
   again rather than memory past A's end, and are not stored. The arithmetic is the packed
   kernel's, so both give the same bits. */
typedef void (*cnnvis__micro_direct_fn)(int kc, const float *a, size_t a_rs, size_t a_cs, const float *b, float *c,
                                        size_t rs, size_t cs, int mr, int nr);

#if CNNVIS__HAVE_AVX2
CNNVIS__AVX2_FN static void cnnvis__micro_direct__avx2(int kc, const float *a, size_t a_rs, size_t a_cs, const float *b,
                                                       float *c, size_t rs, size_t cs, int mr, int nr)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    const float *a0 = a, *a1 = a + (size_t)CNNVIS__MIN(1, mr - 1) * a_rs, *a2 = a + (size_t)CNNVIS__MIN(2, mr - 1) * a_rs;
    const float *a3 = a + (size_t)CNNVIS__MIN(3, mr - 1) * a_rs, *a4 = a + (size_t)CNNVIS__MIN(4, mr - 1) * a_rs;
    const float *a5 = a + (size_t)CNNVIS__MIN(5, mr - 1) * a_rs;
    int k;
    for (k = 0; k < kc; k++, b += CNNVIS__NR, a0 += a_cs, a1 += a_cs, a2 += a_cs, a3 += a_cs, a4 += a_cs, a5 += a_cs) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8), ai;
        ai = _mm256_broadcast_ss(a0), c00 = _mm256_fmadd_ps(ai, b0, c00), c01 = _mm256_fmadd_ps(ai, b1, c01);
        ai = _mm256_broadcast_ss(a1), c10 = _mm256_fmadd_ps(ai, b0, c10), c11 = _mm256_fmadd_ps(ai, b1, c11);
        ai = _mm256_broadcast_ss(a2), c20 = _mm256_fmadd_ps(ai, b0, c20), c21 = _mm256_fmadd_ps(ai, b1, c21);
        ai = _mm256_broadcast_ss(a3), c30 = _mm256_fmadd_ps(ai, b0, c30), c31 = _mm256_fmadd_ps(ai, b1, c31);
        ai = _mm256_broadcast_ss(a4), c40 = _mm256_fmadd_ps(ai, b0, c40), c41 = _mm256_fmadd_ps(ai, b1, c41);
        ai = _mm256_broadcast_ss(a5), c50 = _mm256_fmadd_ps(ai, b0, c50), c51 = _mm256_fmadd_ps(ai, b1, c51);
    }
    {
        __m256 acc[CNNVIS__MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
        cnnvis__micro_add__avx2(acc, c, rs, cs, mr, nr);
    }
}
#endif

#if CNNVIS__HAVE_NEON
static void cnnvis__micro_direct__neon(int kc, const float *a, size_t a_rs, size_t a_cs, const float *b, float *c,
                                       size_t rs, size_t cs, int mr, int nr)
{
    float32x4_t acc[CNNVIS__MR][4];
    float tile[CNNVIS__MR * CNNVIS__NR];
    const float *row[CNNVIS__MR];
    int k, i, q;
    for (i = 0; i < CNNVIS__MR; i++) {
        row[i] = a + (size_t)CNNVIS__MIN(i, mr - 1) * a_rs;
        for (q = 0; q < 4; q++) acc[i][q] = vdupq_n_f32(0.0f);
    }
    for (k = 0; k < kc; k++, b += CNNVIS__NR) {
        float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8), b3 = vld1q_f32(b + 12);
        size_t at = (size_t)k * a_cs;
        for (i = 0; i < CNNVIS__MR; i++) {
            float32x4_t ai = vdupq_n_f32(row[i][at]);
            acc[i][0] = vfmaq_f32(acc[i][0], b0, ai), acc[i][1] = vfmaq_f32(acc[i][1], b1, ai);
            acc[i][2] = vfmaq_f32(acc[i][2], b2, ai), acc[i][3] = vfmaq_f32(acc[i][3], b3, ai);
        }
    }
    if (mr == CNNVIS__MR && nr == CNNVIS__NR && cs == 1) {
        for (i = 0; i < CNNVIS__MR; i++)
            for (q = 0; q < 4; q++) vst1q_f32(c + i * rs + 4 * q, vaddq_f32(vld1q_f32(c + i * rs + 4 * q), acc[i][q]));
        return;
    }
    for (i = 0; i < CNNVIS__MR; i++)
        for (q = 0; q < 4; q++) vst1q_f32(tile + i * CNNVIS__NR + 4 * q, acc[i][q]);
    cnnvis__micro_store(tile, c, rs, cs, mr, nr);
}
#endif

static cnnvis__micro_direct_fn cnnvis__micro_direct_select(cnnvis_kernels k)
{
#if CNNVIS__HAVE_AVX2
    if (k == CNNVIS_KERNELS_AVX2) return cnnvis__micro_direct__avx2;
#endif
#if CNNVIS__HAVE_NEON
    if (k == CNNVIS_KERNELS_NEON) return cnnvis__micro_direct__neon;
#endif
    (void)k;
    return NULL;
}

/* The same tile once more, for a stride-1 convolution without im2col (cnnvis__conv_implicit
   below): B is not packed but read from the zero-padded image, which im2col would only have
   copied. For tap k, lanes 0-7 of the tile read x0[off[k] + 0..7] and lanes 8-15
   x1[off[k] + 0..7], eight output positions on one row each. A is read in place as in
   micro_direct. The arithmetic is again the packed kernel's: the same bits. */
typedef void (*cnnvis__micro_implicit_fn)(int kc, const float *a, size_t a_rs, size_t a_cs, const int32_t *off,
                                          const float *x0, const float *x1, float *c, size_t rs, int mr, int nr);

#if CNNVIS__HAVE_AVX2
CNNVIS__AVX2_FN static void cnnvis__micro_implicit__avx2(int kc, const float *a, size_t a_rs, size_t a_cs,
                                                         const int32_t *off, const float *x0, const float *x1, float *c,
                                                         size_t rs, int mr, int nr)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    const float *a0 = a, *a1 = a + (size_t)CNNVIS__MIN(1, mr - 1) * a_rs, *a2 = a + (size_t)CNNVIS__MIN(2, mr - 1) * a_rs;
    const float *a3 = a + (size_t)CNNVIS__MIN(3, mr - 1) * a_rs, *a4 = a + (size_t)CNNVIS__MIN(4, mr - 1) * a_rs;
    const float *a5 = a + (size_t)CNNVIS__MIN(5, mr - 1) * a_rs;
    int k;
    for (k = 0; k < kc; k++, a0 += a_cs, a1 += a_cs, a2 += a_cs, a3 += a_cs, a4 += a_cs, a5 += a_cs) {
        __m256 b0 = _mm256_loadu_ps(x0 + off[k]), b1 = _mm256_loadu_ps(x1 + off[k]), ai;
        ai = _mm256_broadcast_ss(a0), c00 = _mm256_fmadd_ps(ai, b0, c00), c01 = _mm256_fmadd_ps(ai, b1, c01);
        ai = _mm256_broadcast_ss(a1), c10 = _mm256_fmadd_ps(ai, b0, c10), c11 = _mm256_fmadd_ps(ai, b1, c11);
        ai = _mm256_broadcast_ss(a2), c20 = _mm256_fmadd_ps(ai, b0, c20), c21 = _mm256_fmadd_ps(ai, b1, c21);
        ai = _mm256_broadcast_ss(a3), c30 = _mm256_fmadd_ps(ai, b0, c30), c31 = _mm256_fmadd_ps(ai, b1, c31);
        ai = _mm256_broadcast_ss(a4), c40 = _mm256_fmadd_ps(ai, b0, c40), c41 = _mm256_fmadd_ps(ai, b1, c41);
        ai = _mm256_broadcast_ss(a5), c50 = _mm256_fmadd_ps(ai, b0, c50), c51 = _mm256_fmadd_ps(ai, b1, c51);
    }
    {
        __m256 acc[CNNVIS__MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
        cnnvis__micro_add__avx2(acc, c, rs, 1, mr, nr);
    }
}
#endif

#if CNNVIS__HAVE_NEON
static void cnnvis__micro_implicit__neon(int kc, const float *a, size_t a_rs, size_t a_cs, const int32_t *off,
                                         const float *x0, const float *x1, float *c, size_t rs, int mr, int nr)
{
    float32x4_t acc[CNNVIS__MR][4];
    float tile[CNNVIS__MR * CNNVIS__NR];
    const float *row[CNNVIS__MR];
    int k, i, q;
    for (i = 0; i < CNNVIS__MR; i++) {
        row[i] = a + (size_t)CNNVIS__MIN(i, mr - 1) * a_rs;
        for (q = 0; q < 4; q++) acc[i][q] = vdupq_n_f32(0.0f);
    }
    for (k = 0; k < kc; k++) {
        const float *p0 = x0 + off[k], *p1 = x1 + off[k];
        float32x4_t b0 = vld1q_f32(p0), b1 = vld1q_f32(p0 + 4), b2 = vld1q_f32(p1), b3 = vld1q_f32(p1 + 4);
        size_t at = (size_t)k * a_cs;
        for (i = 0; i < CNNVIS__MR; i++) {
            float32x4_t ai = vdupq_n_f32(row[i][at]);
            acc[i][0] = vfmaq_f32(acc[i][0], b0, ai), acc[i][1] = vfmaq_f32(acc[i][1], b1, ai);
            acc[i][2] = vfmaq_f32(acc[i][2], b2, ai), acc[i][3] = vfmaq_f32(acc[i][3], b3, ai);
        }
    }
    if (mr == CNNVIS__MR && nr == CNNVIS__NR) {
        for (i = 0; i < CNNVIS__MR; i++)
            for (q = 0; q < 4; q++) vst1q_f32(c + i * rs + 4 * q, vaddq_f32(vld1q_f32(c + i * rs + 4 * q), acc[i][q]));
        return;
    }
    for (i = 0; i < CNNVIS__MR; i++)
        for (q = 0; q < 4; q++) vst1q_f32(tile + i * CNNVIS__NR + 4 * q, acc[i][q]);
    cnnvis__micro_store(tile, c, rs, 1, mr, nr);
}
#endif

static cnnvis__micro_implicit_fn cnnvis__micro_implicit_select(cnnvis_kernels k)
{
#if CNNVIS__HAVE_AVX2
    if (k == CNNVIS_KERNELS_AVX2) return cnnvis__micro_implicit__avx2;
#endif
#if CNNVIS__HAVE_NEON
    if (k == CNNVIS_KERNELS_NEON) return cnnvis__micro_implicit__neon;
#endif
    (void)k;
    return NULL;
}

/* A product C (m x n) += A (m x k) . B (k x n). B is always packed beforehand (all its
   panels, full K); A either too (ap) or, when ap is NULL, read from a[i*a_rs + kk*a_cs]:
   in place by micro_direct if it is set, otherwise packed block by block into each
   thread's a_buf. */
typedef struct cnnvis__gemm {
    int m, n, k;
    const float *ap;      /* packed A: ceil(m/MR) panels of k x MR, or NULL */
    const float *a;       /* raw A when ap is NULL */
    size_t a_rs, a_cs;
    cnnvis__micro_direct_fn micro_direct; /* A in place, or NULL */
    const float *bp;      /* packed B: ceil(n/NR) panels of k x NR */
    float *c;             /* C element (i, j) at c[i*c_rs + j*c_cs] */
    size_t c_rs, c_cs;
    cnnvis__micro_fn micro;
    float *a_buf;         /* per-thread blocks: n_threads x (MCP x MR x KC) floats */
} cnnvis__gemm;

/* Pack rows [i0, i0 + panels*MR) and k in [k0, k0 + kc) of a strided matrix into panels of
   kc x MR (rows past m are zero). */
static void cnnvis__pack_a(float *dst, const float *a, size_t rs, size_t cs, int m, int i0, int panels, int k0, int kc)
{
    int p, kk, r;
    for (p = 0; p < panels; p++)
        for (kk = 0; kk < kc; kk++)
            for (r = 0; r < CNNVIS__MR; r++) {
                int i = i0 + p * CNNVIS__MR + r;
                *dst++ = i < m ? a[(size_t)i * rs + (size_t)(k0 + kk) * cs] : 0.0f;
            }
}

/* Pack all of a strided k x n matrix into panels of k x NR (columns past n are zero).
   Items: panels. */
typedef struct cnnvis__pack_args {
    float *dst;
    const float *src;
    size_t rs, cs;
    int rows, cols; /* k and n (B) or m and k (A) */
} cnnvis__pack_args;

static void cnnvis__pack_b_range(void *p, int begin, int end)
{
    const cnnvis__pack_args *a = (const cnnvis__pack_args *)p;
    int panel, kk, j;
    for (panel = begin; panel < end; panel++) {
        float *dst = a->dst + (size_t)panel * a->rows * CNNVIS__NR;
        if (a->cs == 1 && (panel + 1) * CNNVIS__NR <= a->cols) { /* whole rows of 16: copies */
            for (kk = 0; kk < a->rows; kk++, dst += CNNVIS__NR)
                memcpy(dst, a->src + (size_t)kk * a->rs + (size_t)panel * CNNVIS__NR, sizeof(float) * CNNVIS__NR);
            continue;
        }
        for (kk = 0; kk < a->rows; kk++)
            for (j = 0; j < CNNVIS__NR; j++) {
                int col = panel * CNNVIS__NR + j;
                *dst++ = col < a->cols ? a->src[(size_t)kk * a->rs + (size_t)col * a->cs] : 0.0f;
            }
    }
}

/* Pack all of a strided m x k matrix into panels of k x MR. Items: panels. */
static void cnnvis__pack_a_range(void *p, int begin, int end)
{
    const cnnvis__pack_args *a = (const cnnvis__pack_args *)p;
    int panel;
    for (panel = begin; panel < end; panel++)
        cnnvis__pack_a(a->dst + (size_t)panel * a->cols * CNNVIS__MR, a->src, a->rs, a->cs, a->rows, panel * CNNVIS__MR, 1,
                       0, a->cols);
}

/* The product over A panels [begin, end); items of a parallel_for. */
static void cnnvis__gemm_range(void *p, int begin, int end)
{
    const cnnvis__gemm *g = (const cnnvis__gemm *)p;
    int b_panels = (g->n + CNNVIS__NR - 1) / CNNVIS__NR, pc, ib, ir, jr;
    float *a_buf = g->ap || g->micro_direct ? NULL : g->a_buf + (size_t)cnnvis__thread_index * CNNVIS__MCP * CNNVIS__MR * CNNVIS__KC;
    for (pc = 0; pc < g->k; pc += CNNVIS__KC) {
        int kc = CNNVIS__MIN(CNNVIS__KC, g->k - pc);
        for (ib = begin; ib < end; ib += CNNVIS__MCP) {
            int ie = CNNVIS__MIN(ib + CNNVIS__MCP, end);
            if (a_buf) cnnvis__pack_a(a_buf, g->a, g->a_rs, g->a_cs, g->m, ib * CNNVIS__MR, ie - ib, pc, kc);
            for (jr = 0; jr < b_panels; jr++) {
                const float *bp = g->bp + (size_t)jr * g->k * CNNVIS__NR + (size_t)pc * CNNVIS__NR;
                int nr = CNNVIS__MIN(CNNVIS__NR, g->n - jr * CNNVIS__NR);
                for (ir = ib; ir < ie; ir++) {
                    int mr = CNNVIS__MIN(CNNVIS__MR, g->m - ir * CNNVIS__MR);
                    float *c = g->c + (size_t)ir * CNNVIS__MR * g->c_rs + (size_t)jr * CNNVIS__NR * g->c_cs;
                    if (g->micro_direct) {
                        g->micro_direct(kc, g->a + (size_t)ir * CNNVIS__MR * g->a_rs + (size_t)pc * g->a_cs, g->a_rs, g->a_cs,
                                        bp, c, g->c_rs, g->c_cs, mr, nr);
                    } else {
                        const float *ap = a_buf ? a_buf + (size_t)(ir - ib) * kc * CNNVIS__MR
                                                : g->ap + (size_t)ir * g->k * CNNVIS__MR + (size_t)pc * CNNVIS__MR;
                        g->micro(kc, ap, bp, c, g->c_rs, g->c_cs, mr, nr);
                    }
                }
            }
        }
    }
}

static int cnnvis__panels_a(int m) { return (m + CNNVIS__MR - 1) / CNNVIS__MR; }
static int cnnvis__panels_b(int n) { return (n + CNNVIS__NR - 1) / CNNVIS__NR; }

/* --- Convolution on the fast path --------------------------------------------------------- */

/* im2col of image x (IC, IH, IW), group `group`, packed as B panels: panel p holds output
   positions [16p, 16p + 16) and, for each kd = (icg, ky, kx), their 16 input values
   x[ic][oy*S - P + ky][ox*S - P + kx] (zero outside). Items: panels. */
typedef struct cnnvis__im2col_args {
    const cnnvis__conv_geom *g;
    const float *x;  /* one image (IC, IH, IW) */
    float *dst;
    int group;
} cnnvis__im2col_args;

/* The panel's 16 positions fall into runs along output rows; each run reads one input row
   (every S-th value), zero where the kernel hangs over the border. */
static void cnnvis__im2col_panels(const cnnvis__im2col_args *a, int begin, int end)
{
    const cnnvis__conv_geom *g = a->g;
    int ic_per_group = g->ic / g->groups, kd_n = ic_per_group * g->k * g->k, P = g->oh * g->ow;
    int panel, j, icg, ky, kx, run;
    for (panel = begin; panel < end; panel++) {
        int run_j[CNNVIS__NR + 1], run_oy[CNNVIS__NR], run_ox[CNNVIS__NR], n_runs = 0;
        float *dst = a->dst + (size_t)panel * kd_n * CNNVIS__NR;
        for (j = 0; j < CNNVIS__NR; j++) { /* runs of positions on one output row */
            int pos = panel * CNNVIS__NR + j;
            if (pos >= P) break;
            if (j == 0 || pos % g->ow == 0) run_j[n_runs] = j, run_oy[n_runs] = pos / g->ow, run_ox[n_runs] = pos % g->ow, n_runs++;
        }
        run_j[n_runs] = j; /* positions j.. of the last panel are padding: zero */
        for (icg = 0; icg < ic_per_group; icg++) {
            const float *plane = a->x + (size_t)(a->group * ic_per_group + icg) * g->ih * g->iw;
            for (ky = 0; ky < g->k; ky++)
                for (kx = 0; kx < g->k; kx++, dst += CNNVIS__NR) {
                    for (j = run_j[n_runs]; j < CNNVIS__NR; j++) dst[j] = 0.0f;
                    for (run = 0; run < n_runs; run++) {
                        int iy = run_oy[run] * g->s - g->p + ky, ix0 = run_ox[run] * g->s - g->p + kx;
                        int len = run_j[run + 1] - run_j[run], t;
                        float *d = dst + run_j[run];
                        const float *row = plane + (size_t)CNNVIS__MAX(iy, 0) * g->iw; /* not formed above the plane */
                        if (iy < 0 || iy >= g->ih) {
                            for (t = 0; t < len; t++) d[t] = 0.0f;
                        } else if (g->s == 1 && ix0 >= 0 && ix0 + len <= g->iw) {
                            memcpy(d, row + ix0, sizeof(float) * (size_t)len);
                        } else if (g->s == 1) { /* over the left or right border: zeros, the inside, zeros */
                            int t0 = CNNVIS__MIN(len, CNNVIS__MAX(0, -ix0)), t1 = CNNVIS__MAX(t0, CNNVIS__MIN(len, g->iw - ix0));
                            for (t = 0; t < t0; t++) d[t] = 0.0f;
                            if (t1 > t0) memcpy(d + t0, row + ix0 + t0, sizeof(float) * (size_t)(t1 - t0));
                            for (t = t1; t < len; t++) d[t] = 0.0f;
                        } else {
                            for (t = 0; t < len; t++) {
                                int ix = ix0 + t * g->s;
                                d[t] = ix >= 0 && ix < g->iw ? row[ix] : 0.0f;
                            }
                        }
                    }
                }
        }
    }
}

static void cnnvis__im2col_range(void *p, int begin, int end)
{
    cnnvis__im2col_panels((const cnnvis__im2col_args *)p, begin, end);
}

/* dst[i] += src[i] for i < n: col2im's inner loop. The SIMD versions do the same additions
   lane by lane, so they give the same bits; they exist because the compiler at -O2 leaves
   this loop scalar (it cannot rule out that dst and src overlap). */
typedef void (*cnnvis__add_row_fn)(float *dst, const float *src, int n);

static void cnnvis__add_row__reference(float *dst, const float *src, int n)
{
    int i;
    for (i = 0; i < n; i++) dst[i] += src[i];
}

#if CNNVIS__HAVE_AVX2
CNNVIS__AVX2_FN static void cnnvis__add_row__avx2(float *dst, const float *src, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_loadu_ps(dst + i), _mm256_loadu_ps(src + i)));
    for (; i < n; i++) dst[i] += src[i];
}
#endif

#if CNNVIS__HAVE_NEON
static void cnnvis__add_row__neon(float *dst, const float *src, int n)
{
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, vaddq_f32(vld1q_f32(dst + i), vld1q_f32(src + i)));
    for (; i < n; i++) dst[i] += src[i];
}
#endif

static cnnvis__add_row_fn cnnvis__add_row_select(cnnvis_kernels k)
{
#if CNNVIS__HAVE_AVX2
    if (k == CNNVIS_KERNELS_AVX2) return cnnvis__add_row__avx2;
#endif
#if CNNVIS__HAVE_NEON
    if (k == CNNVIS_KERNELS_NEON) return cnnvis__add_row__neon;
#endif
    (void)k;
    return cnnvis__add_row__reference;
}

/* For each of `rows` rows r, with d = dst + r*dst_rs and w = src + r*src_rs:
   d[i] += sum over j < count of v[j] * w[which[j] * stride + i], for i < n, the terms added
   in the order of j. The sparse backward pass's inner loop (below): one output position's
   window, a row of it per tap row, and every nonzero dy of the position. */
typedef void (*cnnvis__axpy_fn)(float *dst, size_t dst_rs, const float *src, size_t src_rs, int rows,
                                const int32_t *which, const float *v, int count, size_t stride, int n);

/* Elements [i, n) of one row, one at a time: the reference, and the SIMD kernels' tails. */
static void cnnvis__axpy_from(float *dst, const float *src, const int32_t *which, const float *v, int count,
                              size_t stride, int i, int n)
{
    int j;
    for (; i < n; i++) {
        float sum = dst[i];
        for (j = 0; j < count; j++) sum += v[j] * src[(size_t)which[j] * stride + i];
        dst[i] = sum;
    }
}

static void cnnvis__axpy__reference(float *dst, size_t dst_rs, const float *src, size_t src_rs, int rows,
                                    const int32_t *which, const float *v, int count, size_t stride, int n)
{
    int r;
    for (r = 0; r < rows; r++, dst += dst_rs, src += src_rs) cnnvis__axpy_from(dst, src, which, v, count, stride, 0, n);
}

#if CNNVIS__HAVE_AVX2
/* d stays in registers while the terms are added: 8 vectors at a time, as many
   independent sums as the two FMA units need to hide their latency (4 cycles). Named
   variables, not an array: GCC keeps an array of vectors in memory. A row whose length is
   not a multiple of 8 (conv1's windows: 5 taps x 3 channels) ends with the vector of its
   last 8 floats, summed before the others are stored: where it overlaps them it computes
   the same operations on the same values, so storing it last writes what is there. */
CNNVIS__AVX2_FN static void cnnvis__axpy__avx2(float *dst, size_t dst_rs, const float *src, size_t src_rs, int rows,
                                               const int32_t *which, const float *v, int count, size_t stride, int n)
{
    int r, i, j;
    for (r = 0; r < rows; r++, dst += dst_rs, src += src_rs) {
        __m256 last = _mm256_setzero_ps();
        if (n > 8 && n % 8) {
            last = _mm256_loadu_ps(dst + n - 8);
            for (j = 0; j < count; j++)
                last = _mm256_fmadd_ps(_mm256_broadcast_ss(v + j), _mm256_loadu_ps(src + (size_t)which[j] * stride + n - 8), last);
        }
        for (i = 0; i + 64 <= n; i += 64) {
            __m256 a0 = _mm256_loadu_ps(dst + i), a1 = _mm256_loadu_ps(dst + i + 8), a2 = _mm256_loadu_ps(dst + i + 16),
                   a3 = _mm256_loadu_ps(dst + i + 24), a4 = _mm256_loadu_ps(dst + i + 32), a5 = _mm256_loadu_ps(dst + i + 40),
                   a6 = _mm256_loadu_ps(dst + i + 48), a7 = _mm256_loadu_ps(dst + i + 56);
            for (j = 0; j < count; j++) {
                const float *s = src + (size_t)which[j] * stride + i;
                __m256 vj = _mm256_broadcast_ss(v + j);
                a0 = _mm256_fmadd_ps(vj, _mm256_loadu_ps(s), a0), a1 = _mm256_fmadd_ps(vj, _mm256_loadu_ps(s + 8), a1);
                a2 = _mm256_fmadd_ps(vj, _mm256_loadu_ps(s + 16), a2), a3 = _mm256_fmadd_ps(vj, _mm256_loadu_ps(s + 24), a3);
                a4 = _mm256_fmadd_ps(vj, _mm256_loadu_ps(s + 32), a4), a5 = _mm256_fmadd_ps(vj, _mm256_loadu_ps(s + 40), a5);
                a6 = _mm256_fmadd_ps(vj, _mm256_loadu_ps(s + 48), a6), a7 = _mm256_fmadd_ps(vj, _mm256_loadu_ps(s + 56), a7);
            }
            _mm256_storeu_ps(dst + i, a0), _mm256_storeu_ps(dst + i + 8, a1), _mm256_storeu_ps(dst + i + 16, a2);
            _mm256_storeu_ps(dst + i + 24, a3), _mm256_storeu_ps(dst + i + 32, a4), _mm256_storeu_ps(dst + i + 40, a5);
            _mm256_storeu_ps(dst + i + 48, a6), _mm256_storeu_ps(dst + i + 56, a7);
        }
        for (; i + 32 <= n; i += 32) {
            __m256 a0 = _mm256_loadu_ps(dst + i), a1 = _mm256_loadu_ps(dst + i + 8), a2 = _mm256_loadu_ps(dst + i + 16),
                   a3 = _mm256_loadu_ps(dst + i + 24);
            for (j = 0; j < count; j++) {
                const float *s = src + (size_t)which[j] * stride + i;
                __m256 vj = _mm256_broadcast_ss(v + j);
                a0 = _mm256_fmadd_ps(vj, _mm256_loadu_ps(s), a0), a1 = _mm256_fmadd_ps(vj, _mm256_loadu_ps(s + 8), a1);
                a2 = _mm256_fmadd_ps(vj, _mm256_loadu_ps(s + 16), a2), a3 = _mm256_fmadd_ps(vj, _mm256_loadu_ps(s + 24), a3);
            }
            _mm256_storeu_ps(dst + i, a0), _mm256_storeu_ps(dst + i + 8, a1), _mm256_storeu_ps(dst + i + 16, a2);
            _mm256_storeu_ps(dst + i + 24, a3);
        }
        for (; i + 8 <= n; i += 8) {
            __m256 a0 = _mm256_loadu_ps(dst + i);
            for (j = 0; j < count; j++)
                a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(v + j), _mm256_loadu_ps(src + (size_t)which[j] * stride + i), a0);
            _mm256_storeu_ps(dst + i, a0);
        }
        if (n > 8 && n % 8) _mm256_storeu_ps(dst + n - 8, last);
        else cnnvis__axpy_from(dst, src, which, v, count, stride, i, n);
    }
}
#endif

#if CNNVIS__HAVE_NEON
static void cnnvis__axpy__neon(float *dst, size_t dst_rs, const float *src, size_t src_rs, int rows,
                               const int32_t *which, const float *v, int count, size_t stride, int n)
{
    int r, i, j;
    for (r = 0; r < rows; r++, dst += dst_rs, src += src_rs) {
        float32x4_t last = vdupq_n_f32(0.0f);
        if (n > 4 && n % 4) { /* the last 4 floats, as in cnnvis__axpy__avx2 */
            last = vld1q_f32(dst + n - 4);
            for (j = 0; j < count; j++) last = vfmaq_n_f32(last, vld1q_f32(src + (size_t)which[j] * stride + n - 4), v[j]);
        }
        for (i = 0; i + 32 <= n; i += 32) {
            float32x4_t a0 = vld1q_f32(dst + i), a1 = vld1q_f32(dst + i + 4), a2 = vld1q_f32(dst + i + 8),
                        a3 = vld1q_f32(dst + i + 12), a4 = vld1q_f32(dst + i + 16), a5 = vld1q_f32(dst + i + 20),
                        a6 = vld1q_f32(dst + i + 24), a7 = vld1q_f32(dst + i + 28);
            for (j = 0; j < count; j++) {
                const float *s = src + (size_t)which[j] * stride + i;
                float vj = v[j];
                a0 = vfmaq_n_f32(a0, vld1q_f32(s), vj), a1 = vfmaq_n_f32(a1, vld1q_f32(s + 4), vj);
                a2 = vfmaq_n_f32(a2, vld1q_f32(s + 8), vj), a3 = vfmaq_n_f32(a3, vld1q_f32(s + 12), vj);
                a4 = vfmaq_n_f32(a4, vld1q_f32(s + 16), vj), a5 = vfmaq_n_f32(a5, vld1q_f32(s + 20), vj);
                a6 = vfmaq_n_f32(a6, vld1q_f32(s + 24), vj), a7 = vfmaq_n_f32(a7, vld1q_f32(s + 28), vj);
            }
            vst1q_f32(dst + i, a0), vst1q_f32(dst + i + 4, a1), vst1q_f32(dst + i + 8, a2), vst1q_f32(dst + i + 12, a3);
            vst1q_f32(dst + i + 16, a4), vst1q_f32(dst + i + 20, a5), vst1q_f32(dst + i + 24, a6), vst1q_f32(dst + i + 28, a7);
        }
        for (; i + 4 <= n; i += 4) {
            float32x4_t a0 = vld1q_f32(dst + i);
            for (j = 0; j < count; j++) a0 = vfmaq_n_f32(a0, vld1q_f32(src + (size_t)which[j] * stride + i), v[j]);
            vst1q_f32(dst + i, a0);
        }
        if (n > 4 && n % 4) vst1q_f32(dst + n - 4, last);
        else cnnvis__axpy_from(dst, src, which, v, count, stride, i, n);
    }
}
#endif

static cnnvis__axpy_fn cnnvis__axpy_select(cnnvis_kernels k)
{
#if CNNVIS__HAVE_AVX2
    if (k == CNNVIS_KERNELS_AVX2) return cnnvis__axpy__avx2;
#endif
#if CNNVIS__HAVE_NEON
    if (k == CNNVIS_KERNELS_NEON) return cnnvis__axpy__neon;
#endif
    (void)k;
    return cnnvis__axpy__reference;
}

/* col2im: dx (IC, IH, IW) of one image += dcol (Kd x P) of group `group`, for input
   channels [begin, end) of the group. */
typedef struct cnnvis__col2im_args {
    const cnnvis__conv_geom *g;
    const float *dcol;
    float *dx;
    int group;
    cnnvis__add_row_fn add_row; /* for stride 1 */
} cnnvis__col2im_args;

static void cnnvis__col2im_range(void *p, int begin, int end)
{
    const cnnvis__col2im_args *a = (const cnnvis__col2im_args *)p;
    const cnnvis__conv_geom *g = a->g;
    int ic_per_group = g->ic / g->groups, P = g->oh * g->ow, icg, ky, kx, oy, ox;
    for (icg = begin; icg < end; icg++) {
        float *plane = a->dx + (size_t)(a->group * ic_per_group + icg) * g->ih * g->iw;
        for (ky = 0; ky < g->k; ky++)
            for (kx = 0; kx < g->k; kx++) {
                const float *row = a->dcol + ((size_t)(icg * g->k + ky) * g->k + kx) * P;
                /* the output columns whose tap lands inside: 0 <= ox*S - P + kx < IW */
                int ox0 = kx >= g->p ? 0 : (g->p - kx + g->s - 1) / g->s;
                int ox1 = g->iw - 1 + g->p - kx < 0 ? 0 : CNNVIS__MIN(g->ow, (g->iw - 1 + g->p - kx) / g->s + 1);
                if (ox1 <= ox0) continue;
                for (oy = 0; oy < g->oh; oy++) {
                    int iy = oy * g->s - g->p + ky;
                    float *dst; /* input row iy, column ox*S - P + kx (never formed below 0: C's rule) */
                    const float *src = row + (size_t)oy * g->ow;
                    if (iy < 0 || iy >= g->ih) continue;
                    dst = plane + (size_t)iy * g->iw;
                    if (g->s == 1)
                        a->add_row(dst + (ox0 - g->p + kx), src + ox0, ox1 - ox0);
                    else
                        for (ox = ox0; ox < ox1; ox++) dst[ox * g->s - g->p + kx] += src[ox];
                }
            }
    }
}

/* --- Forward without im2col at stride 1 ----------------------------------------------------
   im2col copies every input value K*K times, and at batch 1 the copy costs a third as much
   as the product it feeds. At stride 1 its row for tap (icg, ky, kx) is the zero-padded
   image shifted by (ky, kx), so eight output positions on one row read eight consecutive
   values of the padded image: the tile's B vectors can be loaded where they lie, at an
   offset per tap (the "implicit" im2col of cuDNN, Chetlur et al. 2014, sec. 3.1). That
   needs each half of a 16-position tile on one output row: OW a multiple of 8 (alexnet_mini
   at 32x32). The K blocks, the order of the multiply-adds and the additions into C are
   cnnvis__gemm_range's, so both ways give the same bits. */

/* Floats of the padded planes: ICg x (IH + 2P) x (IW + 2P). */
static size_t cnnvis__implicit_floats(const cnnvis__conv_geom *g)
{
    return (size_t)(g->ic / g->groups) * (size_t)(g->ih + 2 * g->p) * (size_t)(g->iw + 2 * g->p);
}

static int cnnvis__conv_implicit_applies(const cnnvis__conv_geom *g)
{
    return g->s == 1 && g->ow % 8 == 0 && cnnvis__implicit_floats(g) < INT32_MAX; /* offsets are int32 */
}

/* The product of one image and group with B read in the padded image. Items: A panels, as
   in cnnvis__gemm_range, in the same order. */
typedef struct cnnvis__implicit {
    int m, kd, P, ow, pw;
    const float *a;       /* A panel ir at a + ir*a_ps, its element (i, k) at i*a_rs + k*a_cs */
    size_t a_ps, a_rs, a_cs;
    const int32_t *off;   /* tap kd = (icg, ky, kx) reads xp[off[kd] + position] */
    const float *xp;      /* the group's ICg planes, zero-padded, (IH + 2P) x (IW + 2P) each */
    float *c;             /* Y_g (OCg x P), holding the bias */
    cnnvis__micro_implicit_fn micro;
} cnnvis__implicit;

static void cnnvis__implicit_range(void *p, int begin, int end)
{
    const cnnvis__implicit *t = (const cnnvis__implicit *)p;
    int tiles = (t->P + CNNVIS__NR - 1) / CNNVIS__NR, pc, ib, ir, jr;
    for (pc = 0; pc < t->kd; pc += CNNVIS__KC) {
        int kc = CNNVIS__MIN(CNNVIS__KC, t->kd - pc);
        for (ib = begin; ib < end; ib += CNNVIS__MCP) {
            int ie = CNNVIS__MIN(ib + CNNVIS__MCP, end);
            for (jr = 0; jr < tiles; jr++) {
                /* positions [16jr, 16jr + 16): two runs of 8 (a last tile of 8 reads its run twice) */
                int pos0 = jr * CNNVIS__NR, pos1 = pos0 + 8 < t->P ? pos0 + 8 : pos0;
                int nr = CNNVIS__MIN(CNNVIS__NR, t->P - pos0);
                const float *x0 = t->xp + (size_t)(pos0 / t->ow) * t->pw + pos0 % t->ow;
                const float *x1 = t->xp + (size_t)(pos1 / t->ow) * t->pw + pos1 % t->ow;
                for (ir = ib; ir < ie; ir++)
                    t->micro(kc, t->a + (size_t)ir * t->a_ps + (size_t)pc * t->a_cs, t->a_rs, t->a_cs, t->off + pc, x0, x1,
                             t->c + (size_t)ir * CNNVIS__MR * t->P + pos0, (size_t)t->P,
                             CNNVIS__MIN(CNNVIS__MR, t->m - ir * CNNVIS__MR), nr);
            }
        }
    }
}

/* Scratch layout for the fast convolution of one layer: a shared part (packed weights or
   chunk operands) and one part per thread. */
typedef struct cnnvis__conv_plan {
    int kd, P, ocg, icg;
    int chunk;            /* images per backward-weights chunk */
    size_t w_b_offset;    /* floats: where backward-weights' B starts in the shared part */
    size_t shared;        /* floats, a multiple of 16 (64 bytes) like every offset below */
    size_t per_thread;    /* floats */
} cnnvis__conv_plan;

static cnnvis__conv_plan cnnvis__conv_plan_of(const cnnvis__conv_geom *g, int max_batch)
{
    cnnvis__conv_plan pl;
    size_t fwd_shared, bwd_shared, w_a, w_b, fwd_thread, bwd_thread;
    pl.icg = g->ic / g->groups, pl.ocg = g->oc / g->groups;
    pl.kd = pl.icg * g->k * g->k, pl.P = g->oh * g->ow;
    /* forward: A = W_g packed; per thread: B = im2col of one image */
    fwd_shared = cnnvis__pad((size_t)pl.ocg, CNNVIS__MR) * pl.kd;
    fwd_thread = cnnvis__pad((size_t)pl.P, CNNVIS__NR) * pl.kd;
    /* backward data: A = W_g^T packed; per thread: B = dY_g packed and dcol */
    bwd_shared = cnnvis__pad((size_t)pl.kd, CNNVIS__MR) * pl.ocg;
    bwd_thread = cnnvis__pad((size_t)pl.P, CNNVIS__NR) * pl.ocg + (size_t)pl.kd * pl.P;
    /* or, when dY is sparse, dx of the group channels-last and the lists of the nonzero dy
       (cnnvis__conv_sparse_dx) */
    bwd_thread = CNNVIS__MAX(bwd_thread, (size_t)g->ih * g->iw * pl.icg + 3 * (size_t)pl.ocg * pl.P + pl.ocg + pl.P + 1);
    /* or, at stride 1, the padded image and its tap offsets (cnnvis__conv_implicit) */
    fwd_thread = CNNVIS__MAX(fwd_thread, cnnvis__pad(cnnvis__implicit_floats(g), CNNVIS__NR) + (size_t)pl.kd);
    /* backward weights: A = dY chunk, B = im2col chunk, both shared; the chunk size depends
       only on the layer's shape, so the order of the sums does not depend on threads */
    w_a = cnnvis__pad((size_t)pl.ocg, CNNVIS__MR) * pl.P;
    w_b = cnnvis__pad((size_t)pl.kd, CNNVIS__NR) * pl.P;
    pl.chunk = (int)CNNVIS__MAX((size_t)1, CNNVIS__BW_BUDGET / CNNVIS__MAX(w_a, w_b));
    pl.chunk = CNNVIS__MIN(pl.chunk, max_batch);
    pl.w_b_offset = cnnvis__pad(w_a * (size_t)pl.chunk, CNNVIS__NR); /* B panels are loaded aligned */
    pl.per_thread = cnnvis__pad(CNNVIS__MAX(fwd_thread, bwd_thread), CNNVIS__NR);
    pl.shared = CNNVIS__MAX(CNNVIS__MAX(fwd_shared, bwd_shared), pl.w_b_offset + w_b * (size_t)pl.chunk);
    /* with fewer images than threads the per-image operands are shared too */
    pl.shared = cnnvis__pad(pl.shared, CNNVIS__NR) + pl.per_thread;
    return pl;
}

/* Up to this many images the convolution reads its weights in place (cnnvis__micro_direct)
   instead of packing them on every call: packing costs about as much as one image's product. */
#define CNNVIS__CONV_DIRECT_MAX 4

/* Forward of one image on one thread: im2col into this thread's scratch, then the product. */
typedef struct cnnvis__conv_work {
    cnnvis__conv_args *a;
    cnnvis__conv_plan pl;
    cnnvis__micro_fn micro;
    const float *ap;     /* packed A of the current group, or NULL: A read in place */
    const float *a_raw;  /* A in place: W_g (forward) or W_g^T (backward data), with strides */
    size_t a_rs, a_cs;
    cnnvis__micro_direct_fn micro_direct;
    cnnvis__micro_implicit_fn micro_implicit; /* forward without im2col, or NULL */
    cnnvis__add_row_fn add_row; /* col2im */
    cnnvis__axpy_fn axpy;       /* the sparse backward pass */
    float *shared_b;     /* B (and dcol) shared when images are split within */
    int group;
    int n_sparse;        /* images of the group that go by cnnvis__conv_sparse_dx */
    int sparse_image;    /* the image cnnvis__conv_sparse_rows works on */
} cnnvis__conv_work;

static float *cnnvis__thread_scratch(const cnnvis__conv_work *f)
{
    return f->a->scratch + f->pl.shared + (size_t)cnnvis__thread_index * f->pl.per_thread;
}

/* Forward of one image and group at stride 1 without im2col: pad the image into bp, then
   the product. */
static void cnnvis__conv_implicit(const cnnvis__conv_work *f, int n, float *bp, int serial)
{
    const cnnvis__conv_geom *g = &f->a->g;
    int icg = f->pl.icg, ph = g->ih + 2 * g->p, pw = g->iw + 2 * g->p, c, y, ky, kx;
    const float *x = f->a->x + ((size_t)n * g->ic + (size_t)f->group * icg) * g->ih * g->iw;
    int32_t *off = (int32_t *)(bp + cnnvis__pad(cnnvis__implicit_floats(g), CNNVIS__NR)), *o = off;
    cnnvis__implicit t;
    memset(bp, 0, sizeof(float) * cnnvis__implicit_floats(g));
    for (c = 0; c < icg; c++)
        for (y = 0; y < g->ih; y++)
            memcpy(bp + ((size_t)c * ph + y + g->p) * pw + g->p, x + ((size_t)c * g->ih + y) * g->iw, sizeof(float) * (size_t)g->iw);
    for (c = 0; c < icg; c++)
        for (ky = 0; ky < g->k; ky++)
            for (kx = 0; kx < g->k; kx++) *o++ = (int32_t)(((size_t)c * ph + ky) * pw + kx);
    t.m = f->pl.ocg, t.kd = f->pl.kd, t.P = f->pl.P, t.ow = g->ow, t.pw = pw;
    if (f->ap) /* packed: panel ir holds its element (i, k) at k*MR + i */
        t.a = f->ap, t.a_ps = (size_t)f->pl.kd * CNNVIS__MR, t.a_rs = 1, t.a_cs = CNNVIS__MR;
    else
        t.a = f->a_raw, t.a_ps = CNNVIS__MR * f->a_rs, t.a_rs = f->a_rs, t.a_cs = f->a_cs;
    t.off = off, t.xp = bp, t.micro = f->micro_implicit;
    t.c = f->a->y + ((size_t)n * g->oc + (size_t)f->group * f->pl.ocg) * f->pl.P;
    if (serial) cnnvis__implicit_range(&t, 0, cnnvis__panels_a(t.m));
    else cnnvis__parallel_for(f->a->pool, cnnvis__panels_a(t.m), cnnvis__implicit_range, &t);
}

static void cnnvis__conv_forward_image(const cnnvis__conv_work *f, int n, float *bp, int serial)
{
    const cnnvis__conv_geom *g = &f->a->g;
    cnnvis__im2col_args ia;
    cnnvis__gemm gm;
    if (f->micro_implicit) {
        cnnvis__conv_implicit(f, n, bp, serial);
        return;
    }
    memset(&gm, 0, sizeof gm);

    ia.g = g, ia.x = f->a->x + (size_t)n * g->ic * g->ih * g->iw, ia.dst = bp, ia.group = f->group;
    gm.m = f->pl.ocg, gm.n = f->pl.P, gm.k = f->pl.kd;
    gm.ap = f->ap, gm.bp = bp, gm.micro = f->micro;
    if (!f->ap) gm.a = f->a_raw, gm.a_rs = f->a_rs, gm.a_cs = f->a_cs, gm.micro_direct = f->micro_direct;
    gm.c = f->a->y + ((size_t)n * g->oc + (size_t)f->group * f->pl.ocg) * f->pl.P, gm.c_rs = (size_t)f->pl.P, gm.c_cs = 1;
    if (serial) {
        cnnvis__im2col_panels(&ia, 0, cnnvis__panels_b(f->pl.P));
        cnnvis__gemm_range(&gm, 0, cnnvis__panels_a(gm.m));
    } else {
        cnnvis__parallel_for(f->a->pool, cnnvis__panels_b(f->pl.P), cnnvis__im2col_range, &ia);
        cnnvis__parallel_for(f->a->pool, cnnvis__panels_a(gm.m), cnnvis__gemm_range, &gm);
    }
}

static void cnnvis__conv_forward_images(void *p, int begin, int end)
{
    const cnnvis__conv_work *f = (const cnnvis__conv_work *)p;
    int n;
    for (n = begin; n < end; n++) cnnvis__conv_forward_image(f, n, cnnvis__thread_scratch(f), 1);
}

static void cnnvis__conv_bias_range(void *p, int begin, int end)
{
    const cnnvis__conv_args *a = (const cnnvis__conv_args *)p;
    int item, P = a->g.oh * a->g.ow, j;
    for (item = begin; item < end; item++) {
        float *y = a->y + (size_t)item * P, bias = a->b ? a->b[item % a->g.oc] : 0.0f;
        /* a few values, then copies of what is filled, doubling: memcpy moves whole vectors
           where this loop, at -O2, stores one float at a time */
        for (j = 0; j < P && j < 16; j++) y[j] = bias;
        for (; j < P; j += CNNVIS__MIN(j, P - j)) memcpy(y + j, y, sizeof(float) * (size_t)CNNVIS__MIN(j, P - j));
    }
}

static void cnnvis__conv2d_forward_simd(cnnvis__conv_args *a, cnnvis_kernels kernels)
{
    cnnvis__conv_work f;
    cnnvis__pack_args pk;
    int group, n;
    memset(&f, 0, sizeof f);
    f.a = a, f.pl = cnnvis__conv_plan_of(&a->g, a->max_batch), f.micro = cnnvis__micro_select(kernels);
    cnnvis__parallel_for(a->pool, a->g.n * a->g.oc, cnnvis__conv_bias_range, a); /* C starts at the bias */
    f.micro_direct = a->g.n <= CNNVIS__CONV_DIRECT_MAX ? cnnvis__micro_direct_select(kernels) : NULL;
    f.micro_implicit = cnnvis__conv_implicit_applies(&a->g) && !a->im2col_only ? cnnvis__micro_implicit_select(kernels) : NULL;
    for (group = 0; group < a->g.groups; group++) {
        float *ap = a->scratch; /* W_g (OCg x Kd), row-major, packed in MR-row panels */
        pk.dst = ap, pk.src = a->w + (size_t)group * f.pl.ocg * f.pl.kd, pk.rs = (size_t)f.pl.kd, pk.cs = 1;
        pk.rows = f.pl.ocg, pk.cols = f.pl.kd;
        if (f.micro_direct) {
            ap = NULL, f.a_raw = pk.src, f.a_rs = pk.rs, f.a_cs = pk.cs;
        } else {
            cnnvis__parallel_for(a->pool, cnnvis__panels_a(f.pl.ocg), cnnvis__pack_a_range, &pk);
        }
        f.ap = ap, f.group = group;
        if (a->g.n >= a->n_threads) {
            cnnvis__parallel_for(a->pool, a->g.n, cnnvis__conv_forward_images, &f);
        } else {
            float *bp = a->scratch + f.pl.shared - f.pl.per_thread;
            for (n = 0; n < a->g.n; n++) cnnvis__conv_forward_image(&f, n, bp, 0);
        }
    }
}

/* --- Backward data when dY is mostly zeros --------------------------------------------
   After a max-pool only the positions its switches chose carry gradient (lecture section
   3: unpooling), at most one in four after a 3x3/2 pool, and ReLU zeroes more. The input
   gradient is the transposed convolution of dY (Dumoulin & Visin 2016, "A guide to
   convolution arithmetic", sec. 4): each dy[oc][oy][ox] adds dy * W[oc] onto the K x K
   window it was computed from. Done only for the nonzero dy, that is nnz(dY) * K*K*ICg
   multiply-adds instead of the product's OCg * P * K*K*ICg. The window is summed
   channels-last (HWC) so that one of its rows, K taps x ICg channels, is one contiguous run
   of dx and of the weights rearranged to (OCg, K, K, ICg). It serves the gradient maps of
   sections 3-5 (a backward pass without parameter gradients). A zero dy is skipped, not
   multiplied: where the product would give NaN from 0 * Inf, this gives 0. */

/* Whether image n's dY_g is sparse enough for the scatter to beat the product. A multiply-
   add of the scatter loads and stores dx, so it costs a few of the product's (fewer when an
   output position has many nonzero terms), and rearranging the weights costs about a dozen
   per output channel. The scatter is taken while 3.3 nnz + 13 OCg < OCg P (below, times 3 to
   stay in integers): with that margin, up to about a quarter of dY nonzero. Rows shorter than
   64 floats (8 AVX2 vectors; conv1's are 5 taps x 3 channels) keep the product: finding their
   few nonzero dy costs more than the scatter saves. bench prints both passes side by side.
   The choice depends on the image alone, never on its batch. */
static int cnnvis__conv_sparse_wins(const cnnvis__conv_work *f, int n)
{
    const cnnvis__conv_geom *g = &f->a->g;
    const float *dy = f->a->dy + ((size_t)n * g->oc + (size_t)f->group * f->pl.ocg) * f->pl.P;
    size_t at, count = (size_t)f->pl.ocg * f->pl.P, nnz = 0;
    if (!f->a->sparse_ok || g->k * f->pl.icg < 64 || count > INT32_MAX) return 0; /* its list holds int32 */
    for (at = 0; at < count; at++) nnz += dy[at] != 0.0f;
    return 10 * nnz + 39 * (size_t)f->pl.ocg < 3 * count;
}

/* W_g (OCg, ICg, K, K) rearranged to (OCg, K, K, ICg). Items: output channels. */
static void cnnvis__conv_sparse_weights(void *p, int begin, int end)
{
    const cnnvis__conv_work *f = (const cnnvis__conv_work *)p;
    const cnnvis__conv_geom *g = &f->a->g;
    int ocg, icg, tap, taps = g->k * g->k;
    for (ocg = begin; ocg < end; ocg++) {
        const float *w = f->a->w + ((size_t)f->group * f->pl.ocg + ocg) * f->pl.kd;
        float *w_hwc = f->a->scratch + (size_t)ocg * f->pl.kd;
        for (icg = 0; icg < f->pl.icg; icg++)
            for (tap = 0; tap < taps; tap++) w_hwc[(size_t)tap * f->pl.icg + icg] = w[(size_t)icg * taps + tap];
    }
}

/* Input rows [iy0, iy1) of image n's dx (group channels): the scatter into dx_hwc (IH, IW,
   ICg), then a transpose into dx. lists (cnnvis__sparse_list_ints) receives the nonzero dy,
   sorted by output position. One position's window is visited once for all its nonzero dy,
   so each row of dx is loaded and stored once per position, not once per term. Every dx
   element sums its terms in the order (oy, ox, ocg) whatever the rows, so the result does
   not depend on how rows are split among threads. */
static void cnnvis__conv_sparse_dx(const cnnvis__conv_work *f, int n, float *dx_hwc, int32_t *lists, int iy0, int iy1)
{
    const cnnvis__conv_geom *g = &f->a->g;
    const float *dy = f->a->dy + ((size_t)n * g->oc + (size_t)f->group * f->pl.ocg) * f->pl.P;
    const float *w_hwc = f->a->scratch; /* cnnvis__conv_sparse_weights */
    float *dx = f->a->dx + ((size_t)n * g->ic + (size_t)f->group * f->pl.icg) * g->ih * g->iw;
    int icg = f->pl.icg, P = f->pl.P, ocg, pos, iy, ix, c, count = 0, k;
    /* the output rows whose windows reach rows [iy0, iy1): iy0 <= oy*S - P + ky < iy1 */
    int oy0 = CNNVIS__MAX(0, (iy0 + g->p - g->k + g->s) / g->s), oy1 = CNNVIS__MIN(g->oh, (iy1 - 1 + g->p) / g->s + 1);
    int p0, p1;
    /* lists: the positions where dy is nonzero, channel after channel (OCg*P), where each
       channel's end in it (OCg), per position where its terms start (P + 1), then the
       terms' channels and values, position by position (a counting sort) */
    int32_t *nonzero_at = lists, *ends = lists + (size_t)f->pl.ocg * P, *start = ends + f->pl.ocg;
    int32_t *which = start + P + 1;
    float *value = (float *)(which + (size_t)f->pl.ocg * P);
    if (oy1 <= oy0) oy1 = oy0;
    p0 = oy0 * g->ow, p1 = oy1 * g->ow;
    for (ocg = 0; ocg < f->pl.ocg; ocg++) {
        const float *d = dy + (size_t)ocg * P;
        for (pos = p0; pos < p1; pos++) {
            /* written always, kept if nonzero: no branch to mispredict on as-good-as-random zeros */
            nonzero_at[count] = pos;
            count += d[pos] != 0.0f;
        }
        ends[ocg] = count;
    }
    memset(start + p0, 0, sizeof(int32_t) * (size_t)(p1 - p0 + 1));
    for (k = 0; k < count; k++) start[nonzero_at[k] + 1]++;
    for (pos = p0; pos < p1; pos++) start[pos + 1] += start[pos];
    for (ocg = 0, k = 0; ocg < f->pl.ocg; ocg++)
        for (; k < ends[ocg]; k++) { /* start[pos] moves to the end of pos's terms... */
            pos = nonzero_at[k];
            which[start[pos]] = ocg, value[start[pos]] = dy[(size_t)ocg * P + pos];
            start[pos]++;
        }
    for (pos = p1; pos > p0; pos--) start[pos] = start[pos - 1]; /* ...and back */
    start[p0] = 0;
    memset(dx_hwc + (size_t)iy0 * g->iw * icg, 0, sizeof(float) * (size_t)(iy1 - iy0) * g->iw * icg);
    for (pos = p0; pos < p1; pos++) {
        int y0, x0, ky0, ky1, kx0, kx1; /* the window's corner in dx; its taps inside the rows */
        if (start[pos + 1] == start[pos]) continue;
        y0 = pos / g->ow * g->s - g->p, x0 = pos % g->ow * g->s - g->p;
        ky0 = CNNVIS__MAX(0, iy0 - y0), ky1 = CNNVIS__MIN(g->k, iy1 - y0);
        kx0 = CNNVIS__MAX(0, -x0), kx1 = CNNVIS__MIN(g->k, g->iw - x0);
        if (kx0 < kx1 && ky0 < ky1)
            f->axpy(dx_hwc + ((size_t)(y0 + ky0) * g->iw + (x0 + kx0)) * icg, (size_t)g->iw * icg,
                    w_hwc + ((size_t)ky0 * g->k + kx0) * icg, (size_t)g->k * icg, ky1 - ky0, which + start[pos],
                    value + start[pos], start[pos + 1] - start[pos], (size_t)f->pl.kd, (kx1 - kx0) * icg);
    }
    for (c = 0; c < icg; c++)
        for (iy = iy0; iy < iy1; iy++)
            for (ix = 0; ix < g->iw; ix++)
                dx[((size_t)c * g->ih + iy) * g->iw + ix] = dx_hwc[((size_t)iy * g->iw + ix) * icg + c];
}

/* Items: images, each on one thread with its own dx_hwc; those the product suits are left. */
static void cnnvis__conv_sparse_images(void *p, int begin, int end)
{
    const cnnvis__conv_work *f = (const cnnvis__conv_work *)p;
    const cnnvis__conv_geom *g = &f->a->g;
    int n;
    for (n = begin; n < end; n++)
        if (f->n_sparse == g->n || cnnvis__conv_sparse_wins(f, n)) {
            float *dx_hwc = cnnvis__thread_scratch(f);
            cnnvis__conv_sparse_dx(f, n, dx_hwc, (int32_t *)(dx_hwc + (size_t)g->ih * g->iw * f->pl.icg), 0, g->ih);
        }
}

/* Items: input rows of image f->sparse_image; dx_hwc is shared, each thread has its list. */
static void cnnvis__conv_sparse_rows(void *p, int begin, int end)
{
    const cnnvis__conv_work *f = (const cnnvis__conv_work *)p;
    cnnvis__conv_sparse_dx(f, f->sparse_image, f->a->scratch + f->pl.shared - f->pl.per_thread,
                           (int32_t *)cnnvis__thread_scratch(f), begin, end);
}

/* Backward data of one image: B = dY_g packed, dcol = W_g^T . dY_g, col2im into dx. */
static void cnnvis__conv_backward_data_image(const cnnvis__conv_work *f, int n, float *scratch, int serial)
{
    const cnnvis__conv_geom *g = &f->a->g;
    float *bp = scratch, *dcol = scratch + cnnvis__pad((size_t)f->pl.P, CNNVIS__NR) * f->pl.ocg;
    cnnvis__pack_args pk;
    cnnvis__gemm gm;
    cnnvis__col2im_args ca;
    memset(&gm, 0, sizeof gm);
    pk.dst = bp, pk.src = f->a->dy + ((size_t)n * g->oc + (size_t)f->group * f->pl.ocg) * f->pl.P;
    pk.rs = (size_t)f->pl.P, pk.cs = 1, pk.rows = f->pl.ocg, pk.cols = f->pl.P;
    gm.m = f->pl.kd, gm.n = f->pl.P, gm.k = f->pl.ocg;
    gm.ap = f->ap, gm.bp = bp, gm.micro = f->micro, gm.c = dcol, gm.c_rs = (size_t)f->pl.P, gm.c_cs = 1;
    if (!f->ap) gm.a = f->a_raw, gm.a_rs = f->a_rs, gm.a_cs = f->a_cs, gm.micro_direct = f->micro_direct;
    ca.g = g, ca.dcol = dcol, ca.dx = f->a->dx + (size_t)n * g->ic * g->ih * g->iw, ca.group = f->group;
    ca.add_row = f->add_row;
    memset(dcol, 0, sizeof(float) * f->pl.kd * f->pl.P);
    if (serial) {
        cnnvis__pack_b_range(&pk, 0, cnnvis__panels_b(f->pl.P));
        cnnvis__gemm_range(&gm, 0, cnnvis__panels_a(gm.m));
        cnnvis__col2im_range(&ca, 0, f->pl.icg);
    } else {
        cnnvis__parallel_for(f->a->pool, cnnvis__panels_b(f->pl.P), cnnvis__pack_b_range, &pk);
        cnnvis__parallel_for(f->a->pool, cnnvis__panels_a(gm.m), cnnvis__gemm_range, &gm);
        cnnvis__parallel_for(f->a->pool, f->pl.icg, cnnvis__col2im_range, &ca);
    }
}

static void cnnvis__conv_backward_data_images(void *p, int begin, int end)
{
    const cnnvis__conv_work *f = (const cnnvis__conv_work *)p;
    int n;
    for (n = begin; n < end; n++)
        if (!f->n_sparse || !cnnvis__conv_sparse_wins(f, n)) cnnvis__conv_backward_data_image(f, n, cnnvis__thread_scratch(f), 1);
}

static void cnnvis__zero_range(void *p, int begin, int end)
{
    const cnnvis__conv_args *a = (const cnnvis__conv_args *)p;
    size_t per = (size_t)a->g.ic * a->g.ih * a->g.iw;
    memset(a->dx + (size_t)begin * per, 0, sizeof(float) * per * (size_t)(end - begin));
}

static void cnnvis__conv2d_backward_data_simd(cnnvis__conv_args *a, cnnvis_kernels kernels)
{
    cnnvis__conv_work f;
    cnnvis__pack_args pk;
    int group, n;
    memset(&f, 0, sizeof f);
    f.a = a, f.pl = cnnvis__conv_plan_of(&a->g, a->max_batch), f.micro = cnnvis__micro_select(kernels);
    f.add_row = cnnvis__add_row_select(kernels), f.axpy = cnnvis__axpy_select(kernels);
    cnnvis__parallel_for(a->pool, a->g.n, cnnvis__zero_range, a);
    f.micro_direct = a->g.n <= CNNVIS__CONV_DIRECT_MAX ? cnnvis__micro_direct_select(kernels) : NULL;
    for (group = 0; group < a->g.groups; group++) {
        float *ap = a->scratch; /* W_g^T (Kd x OCg): element (kd, oc) at w[oc*Kd + kd] */
        f.group = group, f.n_sparse = 0;
        /* first the images whose dY_g is sparse, by scatter; then the rest, by the product */
        for (n = 0; n < a->g.n; n++) f.n_sparse += cnnvis__conv_sparse_wins(&f, n);
        if (f.n_sparse) {
            cnnvis__parallel_for(a->pool, f.pl.ocg, cnnvis__conv_sparse_weights, &f);
            if (a->g.n >= a->n_threads) {
                cnnvis__parallel_for(a->pool, a->g.n, cnnvis__conv_sparse_images, &f);
            } else {
                for (n = 0; n < a->g.n; n++)
                    if (f.n_sparse == a->g.n || cnnvis__conv_sparse_wins(&f, n)) {
                        f.sparse_image = n;
                        cnnvis__parallel_for(a->pool, a->g.ih, cnnvis__conv_sparse_rows, &f);
                    }
            }
            if (f.n_sparse == a->g.n) continue;
        }
        pk.dst = ap, pk.src = a->w + (size_t)group * f.pl.ocg * f.pl.kd, pk.rs = 1, pk.cs = (size_t)f.pl.kd;
        pk.rows = f.pl.kd, pk.cols = f.pl.ocg;
        if (f.micro_direct) {
            ap = NULL, f.a_raw = pk.src, f.a_rs = pk.rs, f.a_cs = pk.cs;
        } else {
            cnnvis__parallel_for(a->pool, cnnvis__panels_a(f.pl.kd), cnnvis__pack_a_range, &pk);
        }
        f.ap = ap;
        if (a->g.n >= a->n_threads) {
            cnnvis__parallel_for(a->pool, a->g.n, cnnvis__conv_backward_data_images, &f);
        } else {
            float *scratch = a->scratch + f.pl.shared - f.pl.per_thread;
            for (n = 0; n < a->g.n; n++)
                if (!f.n_sparse || !cnnvis__conv_sparse_wins(&f, n)) cnnvis__conv_backward_data_image(&f, n, scratch, 0);
        }
    }
}

/* Backward weights, images [n0, n0 + count): A = dY_g of those images (OCg x count*P) and
   B = their im2col transposed (count*P x Kd), both packed, then dW_g += A.B. */
typedef struct cnnvis__conv_weights_args {
    const cnnvis__conv_work *f;
    float *ap, *bp;
    int n0, count;
} cnnvis__conv_weights_args;

/* A panels: 6 output channels, K = (image, position). Items: panels. */
static void cnnvis__conv_weights_pack_a(void *p, int begin, int end)
{
    const cnnvis__conv_weights_args *w = (const cnnvis__conv_weights_args *)p;
    const cnnvis__conv_args *a = w->f->a;
    int P = w->f->pl.P, K = w->count * P, panel, img, pos, r;
    for (panel = begin; panel < end; panel++) {
        float *dst = w->ap + (size_t)panel * K * CNNVIS__MR;
        for (img = 0; img < w->count; img++) {
            const float *dy = a->dy + ((size_t)(w->n0 + img) * a->g.oc + (size_t)w->f->group * w->f->pl.ocg) * P;
            for (pos = 0; pos < P; pos++)
                for (r = 0; r < CNNVIS__MR; r++) {
                    int oc = panel * CNNVIS__MR + r;
                    *dst++ = oc < w->f->pl.ocg ? dy[(size_t)oc * P + pos] : 0.0f;
                }
        }
    }
}

/* B panels: 16 kd = (icg, ky, kx) columns, K = (image, position). Each column is one
   kernel tap read along input rows, the part that falls inside the image computed once per
   row. Items: panels. */
static void cnnvis__conv_weights_pack_b(void *p, int begin, int end)
{
    const cnnvis__conv_weights_args *w = (const cnnvis__conv_weights_args *)p;
    const cnnvis__conv_args *a = w->f->a;
    const cnnvis__conv_geom *g = &a->g;
    int P = w->f->pl.P, K = w->count * P, kd_n = w->f->pl.kd, k2 = g->k * g->k, panel, img, oy, ox, j;
    for (panel = begin; panel < end; panel++) {
        float *dst = w->bp + (size_t)panel * K * CNNVIS__NR;
        for (j = 0; j < CNNVIS__NR; j++) {
            int kd = panel * CNNVIS__NR + j, ky = kd % k2 / g->k, kx = kd % g->k;
            /* the output columns whose tap lands inside: 0 <= ox*S - P + kx < IW */
            int ox0 = kx >= g->p ? 0 : (g->p - kx + g->s - 1) / g->s;
            int ox1 = g->iw - 1 + g->p - kx < 0 ? 0 : CNNVIS__MIN(g->ow, (g->iw - 1 + g->p - kx) / g->s + 1);
            float *col = dst + j;
            if (kd >= kd_n) {
                for (ox = 0; ox < K; ox++) col[(size_t)ox * CNNVIS__NR] = 0.0f;
                continue;
            }
            for (img = 0; img < w->count; img++) {
                const float *plane = a->x + ((size_t)(w->n0 + img) * g->ic + (size_t)w->f->group * w->f->pl.icg + kd / k2) *
                                                g->ih * g->iw;
                for (oy = 0; oy < g->oh; oy++) {
                    int iy = oy * g->s - g->p + ky;
                    float *out = col + ((size_t)img * P + (size_t)oy * g->ow) * CNNVIS__NR;
                    if (iy < 0 || iy >= g->ih) {
                        for (ox = 0; ox < g->ow; ox++) out[(size_t)ox * CNNVIS__NR] = 0.0f;
                        continue;
                    }
                    for (ox = 0; ox < ox0 && ox < g->ow; ox++) out[(size_t)ox * CNNVIS__NR] = 0.0f;
                    for (; ox < ox1; ox++) out[(size_t)ox * CNNVIS__NR] = plane[(size_t)iy * g->iw + ox * g->s - g->p + kx];
                    for (; ox < g->ow; ox++) out[(size_t)ox * CNNVIS__NR] = 0.0f;
                }
            }
        }
    }
}

static void cnnvis__conv_db_range(void *p, int begin, int end)
{
    const cnnvis__conv_args *a = (const cnnvis__conv_args *)p;
    int oc, n, j, P = a->g.oh * a->g.ow;
    for (oc = begin; oc < end; oc++)
        for (n = 0; n < a->g.n; n++) {
            const float *dy = a->dy + ((size_t)n * a->g.oc + oc) * P;
            float sum = 0.0f;
            for (j = 0; j < P; j++) sum += dy[j];
            a->db[oc] += sum;
        }
}

static void cnnvis__conv2d_backward_weights_simd(cnnvis__conv_args *a, cnnvis_kernels kernels)
{
    cnnvis__conv_work f;
    cnnvis__conv_weights_args w;
    cnnvis__gemm gm;
    int group;
    memset(&f, 0, sizeof f);
    memset(&gm, 0, sizeof gm);
    /* the chunk comes from max_batch, not from this batch, so sums always split the same way */
    f.a = a, f.pl = cnnvis__conv_plan_of(&a->g, a->max_batch), f.micro = cnnvis__micro_select(kernels);
    if (a->db) cnnvis__parallel_for(a->pool, a->g.oc, cnnvis__conv_db_range, a);
    w.f = &f;
    for (group = 0; group < a->g.groups; group++) {
        f.group = group;
        for (w.n0 = 0; w.n0 < a->g.n; w.n0 += f.pl.chunk) {
            w.count = CNNVIS__MIN(f.pl.chunk, a->g.n - w.n0);
            w.ap = a->scratch;
            w.bp = a->scratch + f.pl.w_b_offset;
            cnnvis__parallel_for(a->pool, cnnvis__panels_a(f.pl.ocg), cnnvis__conv_weights_pack_a, &w);
            cnnvis__parallel_for(a->pool, cnnvis__panels_b(f.pl.kd), cnnvis__conv_weights_pack_b, &w);
            gm.m = f.pl.ocg, gm.n = f.pl.kd, gm.k = w.count * f.pl.P;
            gm.ap = w.ap, gm.bp = w.bp, gm.micro = f.micro;
            gm.c = a->dw + (size_t)group * f.pl.ocg * f.pl.kd, gm.c_rs = (size_t)f.pl.kd, gm.c_cs = 1;
            cnnvis__parallel_for(a->pool, cnnvis__panels_a(gm.m), cnnvis__gemm_range, &gm);
        }
    }
}

/* --- Fully connected on the fast path ------------------------------------------------------
   forward          Y^T (OUT x N) = W (OUT x IN) . X^T (IN x N)
   backward data    dX^T (IN x N) = W^T (IN x OUT) . dY^T (OUT x N)
   backward weights dW (OUT x IN) += dY^T (OUT x N) . X (N x IN)
   W is packed block by block as it is used (it can be larger than any scratch); the batch
   side is packed whole. */

static void cnnvis__fc_bias_range(void *p, int begin, int end)
{
    const cnnvis__fc_args *a = (const cnnvis__fc_args *)p;
    int n;
    for (n = begin; n < end; n++) memcpy(a->y + (size_t)n * a->out, a->b, sizeof(float) * a->out);
}

static void cnnvis__fc_db_range(void *p, int begin, int end)
{
    const cnnvis__fc_args *a = (const cnnvis__fc_args *)p;
    int o, n;
    for (o = begin; o < end; o++)
        for (n = 0; n < a->n; n++) a->db[o] += a->dy[(size_t)n * a->out + o];
}

/* --- Fully connected, a few images: matrix-vector products ---------------------------------
   With one image the product above fills one of a micro-tile's 16 columns and packs all of
   W for it, so for up to CNNVIS__FC_GEMV_MAX images the fast kernels read W in place instead.
   They do the same arithmetic as the GEMM, operation for operation: each sum starts from the
   bias (forward) or from zero (backward), adds the fused multiply-add chain of each KC-long
   stretch of k, started from zero, in order. So an image gets the same bits whichever path
   and batch it went through, as it does on the GEMM path at any batch.
   forward:  items (image, group of CNNVIS__FC_ROWS outputs); 8 rows of W are read along k and
             transposed in registers, so that the lanes are outputs as in the micro-kernel.
   backward: items (image, block of CNNVIS__FC_COLS inputs); a row of W is already a row of
             W^T's lanes. */
#define CNNVIS__FC_GEMV_MAX 4 /* images; the GEMM costs the same from 1 to 16 */
#define CNNVIS__FC_ROWS 8
#define CNNVIS__FC_COLS 64

static int cnnvis__fc_row_groups(const cnnvis__fc_args *a) { return (a->out + CNNVIS__FC_ROWS - 1) / CNNVIS__FC_ROWS; }
static int cnnvis__fc_col_blocks(const cnnvis__fc_args *a) { return (a->in + CNNVIS__FC_COLS - 1) / CNNVIS__FC_COLS; }

#if CNNVIS__HAVE_AVX2
/* acc + w * x, rounded once, as one lane of _mm256_fmadd_ps. */
CNNVIS__AVX2_FN static float cnnvis__fma1__avx2(float w, float x, float acc)
{
    return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(w), _mm_set_ss(x), _mm_set_ss(acc)));
}

/* acc + the 8 rows of W at w (row stride `in`), columns k..k+7, times x[k..k+7]: the block
   is transposed in registers so that each column is one vector, and the columns are added
   one after the other, each lane (output) summing in the order of k. */
CNNVIS__AVX2_INLINE static __m256 cnnvis__fc_columns8__avx2(const float *w, size_t in, const float *x, int k, __m256 acc)
{
    __m256 r0 = _mm256_loadu_ps(w + k), r1 = _mm256_loadu_ps(w + in + k);
    __m256 r2 = _mm256_loadu_ps(w + 2 * in + k), r3 = _mm256_loadu_ps(w + 3 * in + k);
    __m256 r4 = _mm256_loadu_ps(w + 4 * in + k), r5 = _mm256_loadu_ps(w + 5 * in + k);
    __m256 r6 = _mm256_loadu_ps(w + 6 * in + k), r7 = _mm256_loadu_ps(w + 7 * in + k);
    __m256 u0 = _mm256_unpacklo_ps(r0, r1), u1 = _mm256_unpackhi_ps(r0, r1);
    __m256 u2 = _mm256_unpacklo_ps(r2, r3), u3 = _mm256_unpackhi_ps(r2, r3);
    __m256 u4 = _mm256_unpacklo_ps(r4, r5), u5 = _mm256_unpackhi_ps(r4, r5);
    __m256 u6 = _mm256_unpacklo_ps(r6, r7), u7 = _mm256_unpackhi_ps(r6, r7);
    __m256 s0 = _mm256_shuffle_ps(u0, u2, 0x44), s1 = _mm256_shuffle_ps(u0, u2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(u1, u3, 0x44), s3 = _mm256_shuffle_ps(u1, u3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(u4, u6, 0x44), s5 = _mm256_shuffle_ps(u4, u6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(u5, u7, 0x44), s7 = _mm256_shuffle_ps(u5, u7, 0xEE);
    acc = _mm256_fmadd_ps(_mm256_permute2f128_ps(s0, s4, 0x20), _mm256_broadcast_ss(x + k + 0), acc);
    acc = _mm256_fmadd_ps(_mm256_permute2f128_ps(s1, s5, 0x20), _mm256_broadcast_ss(x + k + 1), acc);
    acc = _mm256_fmadd_ps(_mm256_permute2f128_ps(s2, s6, 0x20), _mm256_broadcast_ss(x + k + 2), acc);
    acc = _mm256_fmadd_ps(_mm256_permute2f128_ps(s3, s7, 0x20), _mm256_broadcast_ss(x + k + 3), acc);
    acc = _mm256_fmadd_ps(_mm256_permute2f128_ps(s0, s4, 0x31), _mm256_broadcast_ss(x + k + 4), acc);
    acc = _mm256_fmadd_ps(_mm256_permute2f128_ps(s1, s5, 0x31), _mm256_broadcast_ss(x + k + 5), acc);
    acc = _mm256_fmadd_ps(_mm256_permute2f128_ps(s2, s6, 0x31), _mm256_broadcast_ss(x + k + 6), acc);
    acc = _mm256_fmadd_ps(_mm256_permute2f128_ps(s3, s7, 0x31), _mm256_broadcast_ss(x + k + 7), acc);
    return acc;
}

/* Each KC-long stretch of k is its own chain of dependent multiply-adds, waiting 4 cycles on
   each; four stretches are summed side by side when the row has them (fc6's 1024 inputs),
   so that the FMA units are kept busy, and added to y in their order, as one at a time
   would. (Four groups of rows side by side would do the same arithmetic, but their 32 rows,
   4 KB apart in alexnet_mini's fc6, fall in the same L1 sets and evict each other.) */
CNNVIS__AVX2_FN static void cnnvis__fc_forward__avx2(void *p, int begin, int end)
{
    const cnnvis__fc_args *a = (const cnnvis__fc_args *)p;
    int groups = cnnvis__fc_row_groups(a), item;
    size_t in = (size_t)a->in;
    for (item = begin; item < end; item++) {
        int n = item / groups, o0 = item % groups * CNNVIS__FC_ROWS; /* image, first output */
        int rows = CNNVIS__MIN(CNNVIS__FC_ROWS, a->out - o0), pc = 0, k, r;
        const float *x = a->x + (size_t)n * a->in, *w = a->w + (size_t)o0 * a->in;
        float *y = a->y + (size_t)n * a->out + o0;
        for (r = 0; r < rows; r++) y[r] = a->b[o0 + r];
        while (pc < a->in) {
            int kc = CNNVIS__MIN(CNNVIS__KC, a->in - pc);
            if (rows == CNNVIS__FC_ROWS && pc + 4 * CNNVIS__KC <= a->in) {
                __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
                float lane[4 * CNNVIS__FC_ROWS];
                for (k = pc; k < pc + CNNVIS__KC; k += 8) { /* CNNVIS__KC is a multiple of 8 */
                    acc0 = cnnvis__fc_columns8__avx2(w, in, x, k, acc0);
                    acc1 = cnnvis__fc_columns8__avx2(w, in, x, k + CNNVIS__KC, acc1);
                    acc2 = cnnvis__fc_columns8__avx2(w, in, x, k + 2 * CNNVIS__KC, acc2);
                    acc3 = cnnvis__fc_columns8__avx2(w, in, x, k + 3 * CNNVIS__KC, acc3);
                }
                _mm256_storeu_ps(lane, acc0), _mm256_storeu_ps(lane + 8, acc1);
                _mm256_storeu_ps(lane + 16, acc2), _mm256_storeu_ps(lane + 24, acc3);
                for (r = 0; r < CNNVIS__FC_ROWS; r++) y[r] = y[r] + lane[r] + lane[8 + r] + lane[16 + r] + lane[24 + r];
                pc += 4 * CNNVIS__KC;
            } else if (rows == CNNVIS__FC_ROWS) {
                __m256 acc = _mm256_setzero_ps();
                float lane[CNNVIS__FC_ROWS];
                for (k = pc; k + 8 <= pc + kc; k += 8) acc = cnnvis__fc_columns8__avx2(w, in, x, k, acc);
                _mm256_storeu_ps(lane, acc);
                for (r = 0; r < rows; r++) {
                    int kk;
                    for (kk = k; kk < pc + kc; kk++) lane[r] = cnnvis__fma1__avx2(w[(size_t)r * in + kk], x[kk], lane[r]);
                    y[r] += lane[r];
                }
                pc += kc;
            } else {
                for (r = 0; r < rows; r++) {
                    float acc = 0.0f;
                    for (k = pc; k < pc + kc; k++) acc = cnnvis__fma1__avx2(w[(size_t)r * in + k], x[k], acc);
                    y[r] += acc;
                }
                pc += kc;
            }
        }
    }
}

CNNVIS__AVX2_FN static void cnnvis__fc_backward_data__avx2(void *p, int begin, int end)
{
    const cnnvis__fc_args *a = (const cnnvis__fc_args *)p;
    int blocks = cnnvis__fc_col_blocks(a), item;
    for (item = begin; item < end; item++) {
        int n = item / blocks, i0 = item % blocks * CNNVIS__FC_COLS; /* image, first input */
        int cols = CNNVIS__MIN(CNNVIS__FC_COLS, a->in - i0), pc, o, i;
        const float *dy = a->dy + (size_t)n * a->out, *w = a->w + i0;
        float *dx = a->dx + (size_t)n * a->in + i0;
        for (i = 0; i < cols; i++) dx[i] = 0.0f;
        for (pc = 0; pc < a->out; pc += CNNVIS__KC) {
            int kc = CNNVIS__MIN(CNNVIS__KC, a->out - pc);
            i = 0;
            if (cols == CNNVIS__FC_COLS) { /* 8 independent chains keep the FMA units busy */
                __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
                for (o = pc; o < pc + kc; o++) {
                    const float *row = w + (size_t)o * a->in;
                    __m256 g = _mm256_broadcast_ss(dy + o);
                    c0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + 0), g, c0), c1 = _mm256_fmadd_ps(_mm256_loadu_ps(row + 8), g, c1);
                    c2 = _mm256_fmadd_ps(_mm256_loadu_ps(row + 16), g, c2), c3 = _mm256_fmadd_ps(_mm256_loadu_ps(row + 24), g, c3);
                    c4 = _mm256_fmadd_ps(_mm256_loadu_ps(row + 32), g, c4), c5 = _mm256_fmadd_ps(_mm256_loadu_ps(row + 40), g, c5);
                    c6 = _mm256_fmadd_ps(_mm256_loadu_ps(row + 48), g, c6), c7 = _mm256_fmadd_ps(_mm256_loadu_ps(row + 56), g, c7);
                }
                _mm256_storeu_ps(dx + 0, _mm256_add_ps(_mm256_loadu_ps(dx + 0), c0));
                _mm256_storeu_ps(dx + 8, _mm256_add_ps(_mm256_loadu_ps(dx + 8), c1));
                _mm256_storeu_ps(dx + 16, _mm256_add_ps(_mm256_loadu_ps(dx + 16), c2));
                _mm256_storeu_ps(dx + 24, _mm256_add_ps(_mm256_loadu_ps(dx + 24), c3));
                _mm256_storeu_ps(dx + 32, _mm256_add_ps(_mm256_loadu_ps(dx + 32), c4));
                _mm256_storeu_ps(dx + 40, _mm256_add_ps(_mm256_loadu_ps(dx + 40), c5));
                _mm256_storeu_ps(dx + 48, _mm256_add_ps(_mm256_loadu_ps(dx + 48), c6));
                _mm256_storeu_ps(dx + 56, _mm256_add_ps(_mm256_loadu_ps(dx + 56), c7));
                i = CNNVIS__FC_COLS;
            }
            for (; i + 8 <= cols; i += 8) {
                __m256 acc = _mm256_setzero_ps();
                for (o = pc; o < pc + kc; o++)
                    acc = _mm256_fmadd_ps(_mm256_loadu_ps(w + (size_t)o * a->in + i), _mm256_broadcast_ss(dy + o), acc);
                _mm256_storeu_ps(dx + i, _mm256_add_ps(_mm256_loadu_ps(dx + i), acc));
            }
            for (; i < cols; i++) {
                float acc = 0.0f;
                for (o = pc; o < pc + kc; o++) acc = cnnvis__fma1__avx2(w[(size_t)o * a->in + i], dy[o], acc);
                dx[i] += acc;
            }
        }
    }
}
#endif

#if CNNVIS__HAVE_NEON
static void cnnvis__fc_forward__neon(void *p, int begin, int end)
{
    const cnnvis__fc_args *a = (const cnnvis__fc_args *)p;
    int groups = cnnvis__fc_row_groups(a), item;
    for (item = begin; item < end; item++) {
        int n = item / groups, o0 = item % groups * CNNVIS__FC_ROWS; /* image, first output */
        int rows = CNNVIS__MIN(CNNVIS__FC_ROWS, a->out - o0), pc, k, r, q;
        const float *x = a->x + (size_t)n * a->in;
        float *y = a->y + (size_t)n * a->out + o0;
        for (r = 0; r < rows; r++) y[r] = a->b[o0 + r];
        for (pc = 0; pc < a->in; pc += CNNVIS__KC) {
            int kc = CNNVIS__MIN(CNNVIS__KC, a->in - pc);
            for (q = 0; q < rows; q += 4) { /* quads of outputs */
                const float *w = a->w + (size_t)(o0 + q) * a->in;
                float lane[4];
                int quad = CNNVIS__MIN(4, rows - q);
                k = pc;
                if (quad == 4) {
                    float32x4_t acc = vdupq_n_f32(0.0f);
                    for (; k + 4 <= pc + kc; k += 4) {
                        /* rows q..q+3, columns k..k+3, transposed: c[j] holds column k+j */
                        float32x4_t r0 = vld1q_f32(w + k), r1 = vld1q_f32(w + (size_t)a->in + k);
                        float32x4_t r2 = vld1q_f32(w + (size_t)2 * a->in + k), r3 = vld1q_f32(w + (size_t)3 * a->in + k);
                        float64x2_t t0 = vreinterpretq_f64_f32(vtrn1q_f32(r0, r1)), t1 = vreinterpretq_f64_f32(vtrn2q_f32(r0, r1));
                        float64x2_t t2 = vreinterpretq_f64_f32(vtrn1q_f32(r2, r3)), t3 = vreinterpretq_f64_f32(vtrn2q_f32(r2, r3));
                        acc = vfmaq_f32(acc, vreinterpretq_f32_f64(vtrn1q_f64(t0, t2)), vdupq_n_f32(x[k + 0]));
                        acc = vfmaq_f32(acc, vreinterpretq_f32_f64(vtrn1q_f64(t1, t3)), vdupq_n_f32(x[k + 1]));
                        acc = vfmaq_f32(acc, vreinterpretq_f32_f64(vtrn2q_f64(t0, t2)), vdupq_n_f32(x[k + 2]));
                        acc = vfmaq_f32(acc, vreinterpretq_f32_f64(vtrn2q_f64(t1, t3)), vdupq_n_f32(x[k + 3]));
                    }
                    vst1q_f32(lane, acc);
                } else {
                    lane[0] = lane[1] = lane[2] = lane[3] = 0.0f;
                }
                for (r = 0; r < quad; r++) {
                    int kk;
                    for (kk = k; kk < pc + kc; kk++) lane[r] = fmaf(w[(size_t)r * a->in + kk], x[kk], lane[r]);
                    y[q + r] += lane[r];
                }
            }
        }
    }
}

static void cnnvis__fc_backward_data__neon(void *p, int begin, int end)
{
    const cnnvis__fc_args *a = (const cnnvis__fc_args *)p;
    int blocks = cnnvis__fc_col_blocks(a), item;
    for (item = begin; item < end; item++) {
        int n = item / blocks, i0 = item % blocks * CNNVIS__FC_COLS; /* image, first input */
        int cols = CNNVIS__MIN(CNNVIS__FC_COLS, a->in - i0), pc, o, i;
        const float *dy = a->dy + (size_t)n * a->out, *w = a->w + i0;
        float *dx = a->dx + (size_t)n * a->in + i0;
        for (i = 0; i < cols; i++) dx[i] = 0.0f;
        for (pc = 0; pc < a->out; pc += CNNVIS__KC) {
            int kc = CNNVIS__MIN(CNNVIS__KC, a->out - pc);
            for (i = 0; i + 16 <= cols; i += 16) { /* 4 independent chains */
                float32x4_t c0 = vdupq_n_f32(0.0f), c1 = c0, c2 = c0, c3 = c0;
                for (o = pc; o < pc + kc; o++) {
                    const float *row = w + (size_t)o * a->in + i;
                    float32x4_t g = vdupq_n_f32(dy[o]);
                    c0 = vfmaq_f32(c0, vld1q_f32(row), g), c1 = vfmaq_f32(c1, vld1q_f32(row + 4), g);
                    c2 = vfmaq_f32(c2, vld1q_f32(row + 8), g), c3 = vfmaq_f32(c3, vld1q_f32(row + 12), g);
                }
                vst1q_f32(dx + i, vaddq_f32(vld1q_f32(dx + i), c0));
                vst1q_f32(dx + i + 4, vaddq_f32(vld1q_f32(dx + i + 4), c1));
                vst1q_f32(dx + i + 8, vaddq_f32(vld1q_f32(dx + i + 8), c2));
                vst1q_f32(dx + i + 12, vaddq_f32(vld1q_f32(dx + i + 12), c3));
            }
            for (; i + 4 <= cols; i += 4) {
                float32x4_t acc = vdupq_n_f32(0.0f);
                for (o = pc; o < pc + kc; o++) acc = vfmaq_f32(acc, vld1q_f32(w + (size_t)o * a->in + i), vdupq_n_f32(dy[o]));
                vst1q_f32(dx + i, vaddq_f32(vld1q_f32(dx + i), acc));
            }
            for (; i < cols; i++) {
                float acc = 0.0f;
                for (o = pc; o < pc + kc; o++) acc = fmaf(w[(size_t)o * a->in + i], dy[o], acc);
                dx[i] += acc;
            }
        }
    }
}
#endif

/* The packed product of a fully connected layer: B packed by pk (the images' side), then
   C += A.B by the micro-kernel. gm and pk describe the operands; the three passes below fill
   them in. */
static void cnnvis__fc_product(cnnvis__fc_args *a, cnnvis_kernels kernels, cnnvis__gemm *gm, cnnvis__pack_args *pk)
{
    size_t b_size = CNNVIS__MAX(cnnvis__pad((size_t)a->n, CNNVIS__NR) * (size_t)CNNVIS__MAX(a->in, a->out),
                                cnnvis__pad((size_t)a->in, CNNVIS__NR) * (size_t)a->n);
    gm->micro = cnnvis__micro_select(kernels), gm->bp = a->scratch, gm->a_buf = a->scratch + b_size;
    pk->dst = a->scratch;
    cnnvis__parallel_for(a->pool, cnnvis__panels_b(pk->cols), cnnvis__pack_b_range, pk);
    cnnvis__parallel_for(a->pool, cnnvis__panels_a(gm->m), cnnvis__gemm_range, gm);
}

/* Y (OUT x N, stored (N, OUT)) = b + W . X^T */
static void cnnvis__fc_forward_gemm(cnnvis__fc_args *a, cnnvis_kernels kernels)
{
    cnnvis__gemm gm;
    cnnvis__pack_args pk;
    memset(&gm, 0, sizeof gm);
    cnnvis__parallel_for(a->pool, a->n, cnnvis__fc_bias_range, a);
    pk.src = a->x, pk.rs = 1, pk.cs = (size_t)a->in, pk.rows = a->in, pk.cols = a->n; /* X^T */
    gm.m = a->out, gm.n = a->n, gm.k = a->in;
    gm.a = a->w, gm.a_rs = (size_t)a->in, gm.a_cs = 1;
    gm.c = a->y, gm.c_rs = 1, gm.c_cs = (size_t)a->out;
    cnnvis__fc_product(a, kernels, &gm, &pk);
}

/* dX (IN x N, stored (N, IN)) = W^T . dY^T */
static void cnnvis__fc_backward_data_gemm(cnnvis__fc_args *a, cnnvis_kernels kernels)
{
    cnnvis__gemm gm;
    cnnvis__pack_args pk;
    memset(&gm, 0, sizeof gm);
    memset(a->dx, 0, sizeof(float) * (size_t)a->n * a->in);
    pk.src = a->dy, pk.rs = 1, pk.cs = (size_t)a->out, pk.rows = a->out, pk.cols = a->n; /* dY^T */
    gm.m = a->in, gm.n = a->n, gm.k = a->out;
    gm.a = a->w, gm.a_rs = 1, gm.a_cs = (size_t)a->in;
    gm.c = a->dx, gm.c_rs = 1, gm.c_cs = (size_t)a->in;
    cnnvis__fc_product(a, kernels, &gm, &pk);
}

/* dW (OUT x IN) += dY^T . X, db += the column sums of dY */
static void cnnvis__fc_backward_weights_gemm(cnnvis__fc_args *a, cnnvis_kernels kernels)
{
    cnnvis__gemm gm;
    cnnvis__pack_args pk;
    memset(&gm, 0, sizeof gm);
    cnnvis__parallel_for(a->pool, a->out, cnnvis__fc_db_range, a);
    pk.src = a->x, pk.rs = (size_t)a->in, pk.cs = 1, pk.rows = a->n, pk.cols = a->in; /* X */
    gm.m = a->out, gm.n = a->in, gm.k = a->n;
    gm.a = a->dy, gm.a_rs = 1, gm.a_cs = (size_t)a->out;
    gm.c = a->dw, gm.c_rs = (size_t)a->in, gm.c_cs = 1;
    cnnvis__fc_product(a, kernels, &gm, &pk);
}

/* --- Kernel selection ---------------------------------------------------------------------
   A3 runs the reference kernels itself when net->kernels is REFERENCE; otherwise it calls the
   functions below, which pick the AVX2 or NEON kernel for net->kernels (AUTO was resolved
   at creation by a CPU check; CNNVIS_KERNELS=reference forces the reference). */

static cnnvis__range_fn cnnvis__relu_forward_select(cnnvis_kernels k)
{
#if CNNVIS__HAVE_AVX2
    if (k == CNNVIS_KERNELS_AVX2) return cnnvis__relu_forward__avx2;
#endif
#if CNNVIS__HAVE_NEON
    if (k == CNNVIS_KERNELS_NEON) return cnnvis__relu_forward__neon;
#endif
    (void)k;
    return cnnvis__relu_forward__reference;
}

static cnnvis__range_fn cnnvis__relu_backward_select(cnnvis_kernels k)
{
#if CNNVIS__HAVE_AVX2
    if (k == CNNVIS_KERNELS_AVX2) return cnnvis__relu_backward__avx2;
#endif
#if CNNVIS__HAVE_NEON
    if (k == CNNVIS_KERNELS_NEON) return cnnvis__relu_backward__neon;
#endif
    (void)k;
    return cnnvis__relu_backward__reference;
}

static cnnvis__range_fn cnnvis__fc_forward_gemv_select(cnnvis_kernels k)
{
#if CNNVIS__HAVE_AVX2
    if (k == CNNVIS_KERNELS_AVX2) return cnnvis__fc_forward__avx2;
#endif
#if CNNVIS__HAVE_NEON
    if (k == CNNVIS_KERNELS_NEON) return cnnvis__fc_forward__neon;
#endif
    (void)k;
    return NULL;
}

static cnnvis__range_fn cnnvis__fc_backward_data_gemv_select(cnnvis_kernels k)
{
#if CNNVIS__HAVE_AVX2
    if (k == CNNVIS_KERNELS_AVX2) return cnnvis__fc_backward_data__avx2;
#endif
#if CNNVIS__HAVE_NEON
    if (k == CNNVIS_KERNELS_NEON) return cnnvis__fc_backward_data__neon;
#endif
    (void)k;
    return NULL;
}

/* A fully connected layer on the SIMD kernels: a few images by matrix-vector products (W
   read in place), more by the packed product. */
static void cnnvis__fc_forward_simd(cnnvis_net *net, cnnvis__fc_args *a)
{
    cnnvis__range_fn gemv = cnnvis__fc_forward_gemv_select(net->kernels);
    if (gemv && a->n <= CNNVIS__FC_GEMV_MAX) cnnvis__parallel_for(net->pool, a->n * cnnvis__fc_row_groups(a), gemv, a);
    else cnnvis__fc_forward_gemm(a, net->kernels);
}

static void cnnvis__fc_backward_data_simd(cnnvis_net *net, cnnvis__fc_args *a)
{
    cnnvis__range_fn gemv = cnnvis__fc_backward_data_gemv_select(net->kernels);
    if (gemv && a->n <= CNNVIS__FC_GEMV_MAX) cnnvis__parallel_for(net->pool, a->n * cnnvis__fc_col_blocks(a), gemv, a);
    else cnnvis__fc_backward_data_gemm(a, net->kernels);
}

static void cnnvis__fc_backward_weights_simd(cnnvis_net *net, cnnvis__fc_args *a)
{
    cnnvis__fc_backward_weights_gemm(a, net->kernels);
}

/* Scratch floats for the fast kernels: the largest need over the layers. */
static size_t cnnvis__scratch_need(const cnnvis_net *net)
{
    size_t need = 0;
    int i, B = net->desc.max_batch, T = net->n_threads;
    for (i = 0; i < net->n_layers; i++) {
        const cnnvis_layer *L = &net->layers[i];
        if (L->desc.kind == CNNVIS_LAYER_CONV) {
            cnnvis__conv_geom g;
            cnnvis__conv_plan pl;
            g.n = B, g.ic = L->in_c, g.ih = L->in_h, g.iw = L->in_w, g.oc = L->out_c, g.oh = L->out_h, g.ow = L->out_w;
            g.k = L->desc.kernel, g.s = L->desc.stride, g.p = L->desc.pad, g.groups = L->desc.groups;
            pl = cnnvis__conv_plan_of(&g, B);
            need = CNNVIS__MAX(need, pl.shared + pl.per_thread * (size_t)T);
        } else if (L->desc.kind == CNNVIS_LAYER_FC) {
            size_t in = (size_t)L->in_c * L->in_h * L->in_w, out = (size_t)L->out_c;
            size_t b = CNNVIS__MAX(cnnvis__pad((size_t)B, CNNVIS__NR) * CNNVIS__MAX(in, out), cnnvis__pad(in, CNNVIS__NR) * B);
            need = CNNVIS__MAX(need, b + (size_t)T * CNNVIS__MCP * CNNVIS__MR * CNNVIS__KC);
        }
    }
    return need;
}

static int cnnvis__cpu_has_avx2(void)
{
#if CNNVIS__HAVE_AVX2
#if defined(__AVX2__) && defined(__FMA__)
    return 1;
#else
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
#else
    return 0;
#endif
}

static const char *cnnvis__kernels_name(cnnvis_kernels k)
{
    switch (k) {
    case CNNVIS_KERNELS_AUTO: return "auto";
    case CNNVIS_KERNELS_REFERENCE: return "reference";
    case CNNVIS_KERNELS_AVX2: return "avx2";
    case CNNVIS_KERNELS_NEON: return "neon";
    }
    return "?";
}

static cnnvis_result cnnvis__net_set_kernels(cnnvis_net *net, cnnvis_kernels k)
{
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__net_set_kernels: net is NULL");
    switch (k) {
    case CNNVIS_KERNELS_AUTO:
        net->kernels = CNNVIS_KERNELS_REFERENCE;
        if (CNNVIS__HAVE_NEON) net->kernels = CNNVIS_KERNELS_NEON;
        if (cnnvis__cpu_has_avx2()) net->kernels = CNNVIS_KERNELS_AVX2;
        return CNNVIS_OK;
    case CNNVIS_KERNELS_REFERENCE: net->kernels = k; return CNNVIS_OK;
    case CNNVIS_KERNELS_AVX2:
        if (!cnnvis__cpu_has_avx2())
            return CNNVIS__FAIL(CNNVIS_ERR_UNSUPPORTED, "AVX2 kernels: %s", CNNVIS__HAVE_AVX2 ? "this CPU has no AVX2+FMA" : "not in this build");
        net->kernels = k;
        return CNNVIS_OK;
    case CNNVIS_KERNELS_NEON:
        if (!CNNVIS__HAVE_NEON) return CNNVIS__FAIL(CNNVIS_ERR_UNSUPPORTED, "NEON kernels: not in this build");
        net->kernels = k;
        return CNNVIS_OK;
    }
    return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__net_set_kernels: unknown kernels %d", (int)k);
}

/* ======================================================================================
   B2  Appendix: training and checkpoints                                    >>b2_training
   SGD with momentum or Adam, evaluation, the checkpoint format
   ====================================================================================== */

/* --- Training -------------------------------------------------------------------------- */

static int cnnvis__all_finite(const float *v, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* After a non-finite loss: name the first layer whose weights or output went bad. */
static cnnvis_result cnnvis__numeric_fault(const cnnvis_net *net, const char *what)
{
    int i;
    for (i = 0; i < net->n_layers; i++) {
        const cnnvis_layer *L = &net->layers[i];
        if (!cnnvis__all_finite(L->w, L->n_w) || !cnnvis__all_finite(L->b, L->n_b))
            return CNNVIS__FAIL(CNNVIS_ERR_NUMERIC, "%s at step %lld: layer %s has a non-finite weight", what, net->step,
                                L->desc.name);
        if (!cnnvis__all_finite(L->out.data, cnnvis_tensor_count(&L->out)))
            return CNNVIS__FAIL(CNNVIS_ERR_NUMERIC, "%s at step %lld: layer %s produced the first non-finite output "
                                "(learning rate too high?)", what, net->step, L->desc.name);
    }
    return CNNVIS__FAIL(CNNVIS_ERR_NUMERIC, "%s at step %lld: the loss is not finite", what, net->step);
}

/* One update of the weights: SGD with momentum, or Adam with its second moments in `second`
   (every layer's weights then biases, in order). */
typedef struct cnnvis__update {
    cnnvis_optimizer optimizer;
    float lr, momentum, weight_decay; /* momentum: SGD's; Adam's first moment uses beta1 */
    float beta1, beta2;
    float correct1, correct2; /* Adam's bias corrections at step t: 1 - beta1^t, 1 - beta2^t */
    float *second;
} cnnvis__update;

/* What parameter w (gradient g, weight decay's term decay = wd w, first moment *m, second
   moment *v) becomes. SGD with momentum in PyTorch's form: m = mu m + g + wd w, w -= lr m.
   Adam (Kingma & Ba 2015, PyTorch's torch.optim.Adam) on g' = g + wd w:
   m = b1 m + (1 - b1) g', v = b2 v + (1 - b2) g'^2, w -= lr m^ / (sqrt(v^) + 1e-8) with
   m^ = m / (1 - b1^t), v^ = v / (1 - b2^t). With `apply` 0 only the new value is returned
   (to check it is finite before anything is written); a second moment that overflows
   returns it (infinite), so that the check refuses the step rather than freeze the weight. */
static float cnnvis__update_one(const cnnvis__update *u, float w, float g, float decay, float *m, float *v, int apply)
{
    if (u->optimizer == CNNVIS_OPTIM_ADAM) {
        float gd = g + decay;
        float mn = u->beta1 * *m + (1 - u->beta1) * gd, vn = u->beta2 * *v + (1 - u->beta2) * gd * gd;
        float mh = mn / u->correct1, vh = vn / u->correct2;
        if (apply) *m = mn, *v = vn;
        return isfinite(vn) ? w - u->lr * mh / (sqrtf(vh) + 1e-8f) : vn;
    } else {
        float mn = u->momentum * *m + g + decay;
        if (apply) *m = mn;
        return w - u->lr * mn;
    }
}

/* cnnvis_net_train_step with either optimizer: forward (dropout on), loss, backward, then the
   update, each weight's new value checked before any is written. */
static cnnvis_result cnnvis__train_step(cnnvis_net *net, const cnnvis_tensor *x, const int32_t *labels, const cnnvis__update *u)
{
    int i, was_training, pass;
    size_t j;
    cnnvis_result r;
    float unused = 0;
    if (x->data && !cnnvis__all_finite(x->data, cnnvis_tensor_count(x))) {
        for (j = 0; j < cnnvis_tensor_count(x) && isfinite(x->data[j]); j++) continue;
        return CNNVIS__FAIL(CNNVIS_ERR_NUMERIC, "step %lld: input image %zu has a non-finite value", net->step,
                            j / ((size_t)x->c * x->h * x->w));
    }
    for (i = 0; i < net->n_layers; i++) {
        /* A NaN weight can hide behind a ReLU (NaN > 0 is false) and leave the loss finite. */
        const cnnvis_layer *L = &net->layers[i];
        if (!cnnvis__all_finite(L->w, L->n_w) || !cnnvis__all_finite(L->b, L->n_b))
            return CNNVIS__FAIL(CNNVIS_ERR_NUMERIC, "training at step %lld: layer %s has a non-finite weight", net->step,
                                L->desc.name);
    }
    was_training = net->training;
    net->training = 1;
    r = cnnvis_net_forward(net, x);
    net->training = was_training;
    CNNVIS__TRY(r);
    CNNVIS__TRY(cnnvis_net_loss(net, labels));
    if (!isfinite(net->loss)) return cnnvis__numeric_fault(net, "training");
    cnnvis_net_zero_grad(net);
    CNNVIS__TRY(cnnvis__net_backward_from(net, net->n_layers - 1, NULL, CNNVIS_RELU_BACKPROP,
                                          CNNVIS_BACKWARD_KEEP | CNNVIS_BACKWARD_PARAMS | CNNVIS__BACKWARD_SKIP_INPUT));
    for (i = 0; i < net->n_layers; i++) {
        const cnnvis_layer *L = &net->layers[i];
        if (!cnnvis__all_finite(L->dw, L->n_w) || !cnnvis__all_finite(L->db, L->n_b))
            return CNNVIS__FAIL(CNNVIS_ERR_NUMERIC, "training at step %lld: layer %s has a non-finite gradient", net->step,
                                L->desc.name);
    }
    /* Pass 0 checks every new value, pass 1 writes them: a learning rate far too high shows
       first as an update that overflows, refused before any weight changes, so the net stays
       as it was before this step. Weight decay goes on the weights, not the biases. */
    for (pass = 0; pass < 2; pass++) {
        float *v = u->second;
        for (i = 0; i < net->n_layers; i++) {
            cnnvis_layer *L = &net->layers[i];
            int bad = 0;
            for (j = 0; j < L->n_w && !bad; j++) {
                float w = cnnvis__update_one(u, L->w[j], L->dw[j], u->weight_decay * L->w[j], &L->vw[j], v ? v + j : &unused, pass);
                if (pass) L->w[j] = w;
                else bad = !isfinite(w);
            }
            if (v) v += L->n_w;
            for (j = 0; j < L->n_b && !bad; j++) {
                float b = cnnvis__update_one(u, L->b[j], L->db[j], 0.0f, &L->vb[j], v ? v + j : &unused, pass);
                if (pass) L->b[j] = b;
                else bad = !isfinite(b);
            }
            if (v) v += L->n_b;
            if (bad)
                return CNNVIS__FAIL(CNNVIS_ERR_NUMERIC, "training at step %lld: the update of layer %s overflows (lr %g too "
                                    "high?)", net->step, L->desc.name, u->lr);
        }
    }
    net->step++;
    return CNNVIS_OK;
}

CNNVIS__DEF cnnvis_result cnnvis_net_train_step(cnnvis_net *net, const cnnvis_tensor *x, const int32_t *labels, float lr,
                                                float momentum, float weight_decay)
{
    cnnvis__update u;
    if (!net || !x || !labels) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_train_step: NULL argument");
    if (!isfinite(lr) || !isfinite(momentum) || !isfinite(weight_decay))
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_train_step: lr %g, momentum %g, weight decay %g must be finite", lr,
                            momentum, weight_decay);
    memset(&u, 0, sizeof u);
    u.optimizer = CNNVIS_OPTIM_SGD, u.lr = lr, u.momentum = momentum, u.weight_decay = weight_decay;
    return cnnvis__train_step(net, x, labels, &u);
}

CNNVIS__DEF void cnnvis_eval_free(cnnvis_eval *ev)
{
    if (!ev) return;
    cnnvis__free(ev->class_acc);
    cnnvis__free(ev->confusion);
    memset(ev, 0, sizeof *ev);
}

CNNVIS__DEF cnnvis_result cnnvis_net_evaluate(cnnvis_eval *ev, cnnvis_net *net, const cnnvis_dataset *ds)
{
    int begin, i, c, was_training, K;
    int32_t *labels;
    int *per_class;
    double loss_sum = 0;
    long correct = 0;
    cnnvis_result r = CNNVIS_OK;
    if (!ev) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_evaluate: ev is NULL");
    memset(ev, 0, sizeof *ev);
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_evaluate: net is NULL");
    CNNVIS__TRY(cnnvis__check_dataset("cnnvis_net_evaluate", ds, net));
    K = net->n_classes;
    ev->n = ds->n, ev->n_classes = K;
    ev->class_acc = (float *)cnnvis__alloc(sizeof(float) * (size_t)K);
    ev->confusion = (int32_t *)cnnvis__alloc(sizeof(int32_t) * (size_t)K * K);
    labels = (int32_t *)cnnvis__alloc(sizeof(int32_t) * (size_t)net->desc.max_batch);
    per_class = (int *)cnnvis__alloc(sizeof(int) * (size_t)K);
    if (!ev->class_acc || !ev->confusion || !labels || !per_class) {
        cnnvis__free(labels), cnnvis__free(per_class), cnnvis_eval_free(ev);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_net_evaluate: out of memory for %d classes", K);
    }
    was_training = net->training;
    net->training = 0;
    for (begin = 0; begin < ds->n && r == CNNVIS_OK; begin += net->desc.max_batch) {
        int count = CNNVIS__MIN(net->desc.max_batch, ds->n - begin);
        cnnvis_tensor x = net->input;
        x.n = count;
        r = cnnvis__dataset_batch(ds, begin, count, net, &x, labels);
        if (r == CNNVIS_OK) r = cnnvis_net_forward(net, &x);
        if (r == CNNVIS_OK) r = cnnvis_net_loss(net, labels);
        if (r != CNNVIS_OK) break;
        loss_sum += (double)net->loss * count;
        for (i = 0; i < count; i++) {
            int best = cnnvis__top_class(net->probs.data + (size_t)i * K, K);
            ev->confusion[(size_t)labels[i] * K + best]++;
            per_class[labels[i]]++;
            correct += best == labels[i];
        }
    }
    net->training = was_training;
    if (r == CNNVIS_OK) {
        ev->accuracy = (float)((double)correct / ds->n);
        ev->loss = (float)(loss_sum / ds->n);
        for (c = 0; c < K; c++)
            ev->class_acc[c] = per_class[c] ? (float)ev->confusion[(size_t)c * K + c] / (float)per_class[c] : 0.0f;
    } else {
        cnnvis_eval_free(ev);
    }
    cnnvis__free(labels), cnnvis__free(per_class);
    return r;
}

/* The one progress line of the library, on stderr, redrawn in place: "label [####....] 42%
   detail  ETA m:ss"; a newline ends it once fraction reaches 1 and end_line is set. */
static void cnnvis__progress_bar(const char *label, double fraction, const char *detail, double eta, int end_line)
{
    char bar[21];
    int i, filled = (int)(fraction * 20);
    for (i = 0; i < 20; i++) bar[i] = i < filled ? '#' : '.';
    bar[20] = 0;
    fprintf(stderr, "\r%s [%s] %3d%% %s  ETA %d:%02d ", label, bar, (int)(fraction * 100), detail, (int)eta / 60, (int)eta % 60);
    if (end_line && fraction >= 1) fprintf(stderr, "\n");
    fflush(stderr);
}

CNNVIS__DEF cnnvis_result cnnvis_net_train(cnnvis_net *net, const cnnvis_dataset *train, const cnnvis_dataset *test,
                                           const cnnvis_train_desc *desc)
{
    cnnvis_attack_desc attack;
    cnnvis_rng attack_rng;
    float *attack_work = NULL;
    cnnvis_train_desc d;
    cnnvis__update upd;
    cnnvis_train_stats st;
    cnnvis_rng rng;
    cnnvis_tensor x;
    int32_t *order = NULL, *labels = NULL;
    int epoch, i, steps_per_epoch, show;
    long long total_steps, step0, warmup, ramp;
    double t0, seen = 0, loss_sum, correct;
    int seen_epoch;
    cnnvis_result r = CNNVIS_OK;
    if (!net || !desc) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_train: NULL %s", net ? "desc" : "net");
    CNNVIS__TRY(cnnvis__check_dataset("cnnvis_net_train (train set)", train, net));
    if (test) CNNVIS__TRY(cnnvis__check_dataset("cnnvis_net_train (test set)", test, net));
    d = *desc;
    d.epochs = CNNVIS__DEF_VAL(d.epochs, 10);
    d.batch = CNNVIS__DEF_VAL(d.batch, 64);
    d.lr = CNNVIS__DEF_VAL(d.lr, d.optimizer == CNNVIS_OPTIM_ADAM ? 1e-3f : 0.01f);
    d.beta1 = CNNVIS__DEF_VAL(d.beta1, 0.9f);
    d.beta2 = CNNVIS__DEF_VAL(d.beta2, 0.999f);
    d.momentum = CNNVIS__DEF_VAL(d.momentum, 0.9f);
    if (d.optimizer != CNNVIS_OPTIM_ADAM) d.weight_decay = CNNVIS__DEF_VAL(d.weight_decay, 5e-4f);
    d.step_epochs = CNNVIS__DEF_VAL(d.step_epochs, CNNVIS__MAX(1, d.epochs / 3));
    d.gamma = CNNVIS__DEF_VAL(d.gamma, 0.1f);
    if (d.epochs < 1 || d.epochs > 100000) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_train: epochs %d (1..100000)", d.epochs);
    if (d.batch < 1 || d.batch > net->desc.max_batch)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_train: batch %d is not in 1..%d (the net's max_batch)", d.batch,
                            net->desc.max_batch);
    if (!(d.lr > 0) || !isfinite(d.lr) || !(d.momentum >= 0 && d.momentum < 1) || !(d.weight_decay >= 0))
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_train: lr %g (> 0), momentum %g ([0, 1)), weight decay %g (>= 0)",
                            d.lr, d.momentum, d.weight_decay);
    if ((int)d.optimizer < 0 || d.optimizer > CNNVIS_OPTIM_ADAM || !(d.beta1 >= 0 && d.beta1 < 1) || !(d.beta2 >= 0 && d.beta2 < 1))
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_train: optimizer %d (SGD 0, Adam 1), beta1 %g, beta2 %g ([0, 1))",
                            (int)d.optimizer, d.beta1, d.beta2);
    if (d.crop_pad < 0 || d.crop_pad > 1024 || (int)d.schedule < 0 || d.schedule > CNNVIS_LR_CONSTANT || d.warmup < -1 ||
        d.dropout_ramp < -1)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_train: crop_pad %d, schedule %d, warmup %d or dropout_ramp %d out "
                            "of range", d.crop_pad, (int)d.schedule, d.warmup, d.dropout_ramp);
    for (i = 0; i < train->n; i++)
        if (train->labels[i] < 0 || train->labels[i] >= net->n_classes)
            return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_train: label %d of training image %d is not in [0, %d)",
                                (int)train->labels[i], i, net->n_classes);
    if (d.adversarial) {
        CNNVIS__TRY(cnnvis__attack_desc_defaults("cnnvis_net_train (adversarial)", &attack, d.adversarial, net));
        if (attack.method == CNNVIS_ATTACK_LBFGS)
            return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_train: adversarial training takes FGSM or PGD, not L-BFGS");
        if (!(d.adversarial_share >= 0 && d.adversarial_share <= 1))
            return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_train: adversarial_share %g is not in (0, 1]", d.adversarial_share);
        d.adversarial_share = CNNVIS__DEF_VAL(d.adversarial_share, 0.5f);
        attack_work = (float *)cnnvis__alloc(sizeof(float) * 2 * (size_t)d.batch * train->c * train->h * train->w);
        if (!attack_work) return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_net_train: out of memory for adversarial images");
        cnnvis__rng_seed(&attack_rng, d.seed ^ 0xad5e7a11ULL); /* its own stream: training without it is unchanged */
    }
    order = (int32_t *)cnnvis__alloc(sizeof(int32_t) * (size_t)train->n);
    labels = (int32_t *)cnnvis__alloc(sizeof(int32_t) * (size_t)d.batch);
    if (!order || !labels) {
        cnnvis__free(order), cnnvis__free(labels), cnnvis__free(attack_work);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_net_train: out of memory for %d images", train->n);
    }
    /* Adam's moments start from zero with each call (its bias correction counts steps from
       here): the first in each layer's vw/vb, the second in one block for all layers. */
    memset(&upd, 0, sizeof upd);
    upd.optimizer = d.optimizer, upd.momentum = d.momentum, upd.weight_decay = d.weight_decay;
    upd.beta1 = d.beta1, upd.beta2 = d.beta2;
    if (d.optimizer == CNNVIS_OPTIM_ADAM) {
        size_t n_params = 0;
        for (i = 0; i < net->n_layers; i++) {
            cnnvis_layer *L = &net->layers[i];
            n_params += L->n_w + L->n_b;
            if (L->n_w) memset(L->vw, 0, sizeof(float) * L->n_w);
            if (L->n_b) memset(L->vb, 0, sizeof(float) * L->n_b);
        }
        upd.second = (float *)cnnvis__alloc(sizeof(float) * CNNVIS__MAX(n_params, 1));
        if (!upd.second) {
            cnnvis__free(order), cnnvis__free(labels), cnnvis__free(attack_work);
            return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_net_train: out of memory for Adam's moments (%zu weights)", n_params);
        }
        memset(upd.second, 0, sizeof(float) * n_params);
    }
    for (i = 0; i < train->n; i++) order[i] = i;
    cnnvis__rng_seed(&rng, d.seed);
    show = d.progress >= 0 && isatty(STDERR_FILENO);
    steps_per_epoch = (train->n + d.batch - 1) / d.batch;
    total_steps = (long long)steps_per_epoch * d.epochs;
    warmup = d.warmup < 0 ? 0 : d.warmup > 0 ? d.warmup : (int)CNNVIS__MIN(200, total_steps / 10);
    ramp = d.dropout_ramp < 0 ? 0 : d.dropout_ramp > 0 ? d.dropout_ramp : total_steps / 2;
    step0 = net->step;
    memset(&st, 0, sizeof st);
    st.epochs = d.epochs, st.steps_per_epoch = steps_per_epoch;
    t0 = cnnvis__now();
    x = net->input; /* train_step copies into net->input anyway: build batches in place */
    for (epoch = 1; epoch <= d.epochs && r == CNNVIS_OK; epoch++) {
        int stop = 0;
        /* Fisher-Yates shuffle, from the training seed */
        for (i = train->n - 1; i > 0; i--) {
            int j = (int)cnnvis__rng_below(&rng, (uint32_t)i + 1), t = order[i];
            order[i] = order[j], order[j] = t;
        }
        loss_sum = 0, correct = 0, seen_epoch = 0;
        for (i = 0; i < train->n && !stop; i += d.batch) {
            int count = CNNVIS__MIN(d.batch, train->n - i), b;
            long long step = net->step - step0;
            float lr = d.lr, l;
            if (d.schedule == CNNVIS_LR_COSINE) lr = d.lr * 0.5f * (1.0f + (float)cos(3.14159265358979 * step / total_steps));
            if (d.schedule == CNNVIS_LR_STEP) lr = d.lr * powf(d.gamma, (float)((epoch - 1) / d.step_epochs));
            if (step < warmup) lr *= (float)(step + 1) / (float)warmup;
            net->dropout_scale = step < ramp ? (float)step / (float)ramp : 1.0f;
            x.n = count;
            for (b = 0; b < count; b++) {
                int sy = d.crop_pad ? (int)cnnvis__rng_below(&rng, 2u * d.crop_pad + 1) - d.crop_pad : 0;
                int sx = d.crop_pad ? (int)cnnvis__rng_below(&rng, 2u * d.crop_pad + 1) - d.crop_pad : 0;
                int flip = d.flip ? (int)(cnnvis__rng_u64(&rng) >> 63) : 0;
                cnnvis__load_image(x.data + (size_t)b * train->c * train->h * train->w, train, order[i + b], net, sy, sx, flip);
                labels[b] = train->labels[order[i + b]];
            }
            /* The pixels are bytes, but a mean or std changed by hand in net->desc can make
               them NaN or infinite once normalised: name the training image. */
            for (b = 0; b < count && r == CNNVIS_OK; b++) {
                size_t per = (size_t)train->c * train->h * train->w;
                if (!cnnvis__all_finite(x.data + b * per, per))
                    r = CNNVIS__FAIL(CNNVIS_ERR_NUMERIC, "cnnvis_net_train, epoch %d of %d, step %lld: training image %d is "
                                     "not finite once normalised (check net->desc.mean and std)", epoch, d.epochs, net->step,
                                     (int)order[i + b]);
            }
            if (r != CNNVIS_OK) break;
            if (d.adversarial) {
                int n_adv = (int)(d.adversarial_share * count + 0.5f);
                if (n_adv > 0) r = cnnvis__train_adversarial(net, x.data, labels, n_adv, &attack, &attack_rng, attack_work);
                if (r != CNNVIS_OK) {
                    r = cnnvis__fail_context(r, "cnnvis_net_train, epoch %d of %d (adversarial images)", epoch, d.epochs);
                    break;
                }
            }
            upd.lr = lr;
            upd.correct1 = 1 - powf(d.beta1, (float)(step + 1)), upd.correct2 = 1 - powf(d.beta2, (float)(step + 1));
            r = cnnvis__train_step(net, &x, labels, &upd);
            if (r != CNNVIS_OK) {
                r = cnnvis__fail_context(r, "cnnvis_net_train, epoch %d of %d", epoch, d.epochs);
                break;
            }
            l = net->loss;
            loss_sum += (double)l * count;
            for (b = 0; b < count; b++) correct += cnnvis__top_class(net->probs.data + (size_t)b * net->n_classes, net->n_classes) == labels[b];
            seen += count, seen_epoch += count;
            st.epoch = epoch, st.step = net->step, st.lr = lr, st.end_of_epoch = 0;
            st.train_loss = (float)(loss_sum / seen_epoch), st.train_acc = (float)(correct / seen_epoch);
            st.test_loss = st.test_acc = -1;
            st.seconds = cnnvis__now() - t0;
            st.images_per_s = seen / (st.seconds > 1e-9 ? st.seconds : 1e-9);
            if (show) {
                double done = (double)(net->step - step0) / total_steps;
                char label[32], detail[64];
                snprintf(label, sizeof label, "epoch %d/%d", st.epoch, st.epochs);
                snprintf(detail, sizeof detail, "%6.0f img/s  loss %.4f  acc %5.1f%%", st.images_per_s, st.train_loss,
                         100.0 * st.train_acc);
                cnnvis__progress_bar(label, (double)seen_epoch / train->n, detail, st.seconds / done * (1 - done), 0);
            }
            if (d.callback && d.callback_every > 0 && (net->step - step0) % d.callback_every == 0)
                stop = d.callback(net, &st, d.user);
        }
        if (r != CNNVIS_OK) break;
        if (test) {
            cnnvis_eval ev;
            r = cnnvis_net_evaluate(&ev, net, test);
            if (r != CNNVIS_OK) {
                r = cnnvis__fail_context(r, "cnnvis_net_train, epoch %d of %d (test set)", epoch, d.epochs);
                break;
            }
            st.test_loss = ev.loss, st.test_acc = ev.accuracy;
            cnnvis_eval_free(&ev);
        }
        st.end_of_epoch = 1;
        st.seconds = cnnvis__now() - t0;
        if (show) {
            fprintf(stderr, "\repoch %d/%d  %6.0f img/s  loss %.4f  acc %5.1f%%", epoch, d.epochs, st.images_per_s,
                    st.train_loss, 100.0 * st.train_acc);
            if (test) fprintf(stderr, "  test loss %.4f  test acc %5.2f%%", st.test_loss, 100.0 * st.test_acc);
            fprintf(stderr, "  %.0fs%20s\n", st.seconds, "");
        }
        if (d.callback && d.callback(net, &st, d.user)) break;
        if (stop) break;
    }
    net->dropout_scale = 1.0f;
    cnnvis__free(order), cnnvis__free(labels), cnnvis__free(attack_work), cnnvis__free(upd.second);
    return r;
}

/* --- Checkpoints ------------------------------------------------------------------------
   Layout (README.md, "Checkpoint format"); every number little-endian:
     "CNNVISck"  u32 version=1
     u32 in_c, in_h, in_w, n_layers, n_classes;  f32 mean[3], std[3]
     per layer: u32 kind; char name[32]; i32 out_channels, kernel, stride, pad, groups, size;
                f32 alpha, beta, k, p; u32 n_weights, n_biases; f32 weights[]; f32 biases[]
     per class: u8 length (0..63); that many bytes of name
     u32 CRC-32 of every byte before it                                                    */

#define CNNVIS__CKPT_MAGIC "CNNVISck"
#define CNNVIS__CKPT_VERSION 1u
#define CNNVIS__CKPT_MAX_SIZE ((size_t)4 << 30)

static uint32_t cnnvis__crc_table[256];
static int cnnvis__crc_ready;

static uint32_t cnnvis__crc32(uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t i;
    if (!cnnvis__crc_ready) { /* idempotent: racing threads write the same values */
        uint32_t c, k, bit;
        for (k = 0; k < 256; k++) {
            for (c = k, bit = 0; bit < 8; bit++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            cnnvis__crc_table[k] = c;
        }
        cnnvis__crc_ready = 1;
    }
    if (!p) return crc; /* no bytes */
    crc = ~crc;
    for (i = 0; i < n; i++) crc = cnnvis__crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static unsigned char *cnnvis__put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16), p[3] = (unsigned char)(v >> 24);
    return p + 4;
}

static unsigned char *cnnvis__put_f32(unsigned char *p, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    return cnnvis__put_u32(p, v);
}

static uint32_t cnnvis__get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float cnnvis__get_f32(const unsigned char *p)
{
    uint32_t v = cnnvis__get_u32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

#define CNNVIS__CKPT_HEADER 56
#define CNNVIS__CKPT_LAYER 84

CNNVIS__DEF cnnvis_result cnnvis_net_save(const char *path, const cnnvis_net *net)
{
    size_t size = CNNVIS__CKPT_HEADER + 4, j;
    unsigned char *buf, *p;
    int i;
    cnnvis_result r;
    if (!net || !path) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_save: NULL %s", net ? "path" : "net");
    /* A net that went bad (NaN after a too high learning rate) must not replace the last
       good checkpoint, e.g. from a per-epoch save in a training callback. */
    for (i = 0; i < net->n_layers; i++) {
        const cnnvis_layer *L = &net->layers[i];
        if (!cnnvis__all_finite(L->w, L->n_w) || !cnnvis__all_finite(L->b, L->n_b))
            return CNNVIS__FAIL(CNNVIS_ERR_NUMERIC, "cnnvis_net_save: layer %s has a non-finite weight; %s is left as it was",
                                L->desc.name, path);
    }
    for (i = 0; i < net->n_layers; i++) size += CNNVIS__CKPT_LAYER + 4 * (net->layers[i].n_w + net->layers[i].n_b);
    for (i = 0; i < net->n_classes; i++) size += 1 + strlen(cnnvis_net_class_name(net, i));
    p = buf = (unsigned char *)cnnvis__alloc(size);
    if (!buf) return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_net_save: out of memory for %zu bytes", size);
    memcpy(p, CNNVIS__CKPT_MAGIC, 8), p += 8;
    p = cnnvis__put_u32(p, CNNVIS__CKPT_VERSION);
    p = cnnvis__put_u32(p, (uint32_t)net->desc.in_c), p = cnnvis__put_u32(p, (uint32_t)net->desc.in_h);
    p = cnnvis__put_u32(p, (uint32_t)net->desc.in_w), p = cnnvis__put_u32(p, (uint32_t)net->n_layers);
    p = cnnvis__put_u32(p, (uint32_t)net->n_classes);
    for (i = 0; i < 3; i++) p = cnnvis__put_f32(p, net->desc.mean[i]);
    for (i = 0; i < 3; i++) p = cnnvis__put_f32(p, net->desc.std[i]);
    for (i = 0; i < net->n_layers; i++) {
        const cnnvis_layer *L = &net->layers[i];
        const cnnvis_layer_desc *ld = &L->desc;
        p = cnnvis__put_u32(p, (uint32_t)ld->kind);
        memcpy(p, ld->name, CNNVIS_NAME_LEN), p += CNNVIS_NAME_LEN;
        p = cnnvis__put_u32(p, (uint32_t)ld->out_channels), p = cnnvis__put_u32(p, (uint32_t)ld->kernel);
        p = cnnvis__put_u32(p, (uint32_t)ld->stride), p = cnnvis__put_u32(p, (uint32_t)ld->pad);
        p = cnnvis__put_u32(p, (uint32_t)ld->groups), p = cnnvis__put_u32(p, (uint32_t)ld->size);
        p = cnnvis__put_f32(p, ld->alpha), p = cnnvis__put_f32(p, ld->beta);
        p = cnnvis__put_f32(p, ld->k), p = cnnvis__put_f32(p, ld->p);
        p = cnnvis__put_u32(p, (uint32_t)L->n_w), p = cnnvis__put_u32(p, (uint32_t)L->n_b);
        for (j = 0; j < L->n_w; j++) p = cnnvis__put_f32(p, L->w[j]);
        for (j = 0; j < L->n_b; j++) p = cnnvis__put_f32(p, L->b[j]);
    }
    for (i = 0; i < net->n_classes; i++) {
        const char *name = cnnvis_net_class_name(net, i);
        size_t len = strlen(name);
        *p++ = (unsigned char)len;
        memcpy(p, name, len), p += len;
    }
    p = cnnvis__put_u32(p, cnnvis__crc32(0, buf, size - 4));
    CNNVIS_ASSERT((size_t)(p - buf) == size);
    r = cnnvis__file_write(path, buf, size);
    cnnvis__free(buf);
    return r;
}

/* A checkpoint taken apart: the description and where each layer's numbers start. */
typedef struct cnnvis__ckpt {
    cnnvis_net_desc desc;
    const unsigned char *weights[CNNVIS_MAX_LAYERS];
    uint32_t n_w[CNNVIS_MAX_LAYERS], n_b[CNNVIS_MAX_LAYERS];
    int n_classes;
    char names[CNNVIS_CLASS_LEN * 1024]; /* the first 1024 class names; the rest read later */
    const unsigned char *names_at;
} cnnvis__ckpt;

static cnnvis_result cnnvis__ckpt_parse(cnnvis__ckpt *ck, const unsigned char *buf, size_t size)
{
    const unsigned char *p = buf, *end;
    uint32_t version, n_layers, n_classes, i;
    int crc_ok;
    const char *crc_note;
    memset(ck, 0, sizeof *ck);
    if (!buf) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "checkpoint: NULL data");
    if (size < 8 || memcmp(buf, CNNVIS__CKPT_MAGIC, 8) != 0)
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "checkpoint: wrong magic (expected \"%s\"); is this a cnnvis checkpoint?",
                            CNNVIS__CKPT_MAGIC);
    if (size < CNNVIS__CKPT_HEADER + 4) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "checkpoint: truncated (%zu bytes)", size);
    version = cnnvis__get_u32(buf + 8);
    if (version != CNNVIS__CKPT_VERSION)
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "checkpoint: version %u, this library reads version %u", version,
                            CNNVIS__CKPT_VERSION);
    crc_ok = cnnvis__get_u32(buf + size - 4) == cnnvis__crc32(0, buf, size - 4);
    crc_note = crc_ok ? "" : " (and the CRC does not match: the file is corrupt or truncated)";
    end = buf + size - 4;
    p = buf + 12;
    cnnvis_net_desc_init(&ck->desc, (int)cnnvis__get_u32(p), (int)cnnvis__get_u32(p + 4), (int)cnnvis__get_u32(p + 8));
    n_layers = cnnvis__get_u32(p + 12), n_classes = cnnvis__get_u32(p + 16);
    if (cnnvis__get_u32(p) > CNNVIS__MAX_DIM || cnnvis__get_u32(p + 4) > CNNVIS__MAX_DIM || cnnvis__get_u32(p + 8) > CNNVIS__MAX_DIM)
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "checkpoint: absurd input shape %ux%ux%u%s", cnnvis__get_u32(p),
                            cnnvis__get_u32(p + 4), cnnvis__get_u32(p + 8), crc_note);
    if (n_layers < 1 || n_layers > CNNVIS_MAX_LAYERS)
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "checkpoint: %u layers (1..%d)%s", n_layers, CNNVIS_MAX_LAYERS, crc_note);
    if (n_classes < 1 || n_classes > (1u << 24))
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "checkpoint: %u classes (1..%u)%s", n_classes, 1u << 24, crc_note);
    p += 20;
    for (i = 0; i < 3; i++) ck->desc.mean[i] = cnnvis__get_f32(p + 4 * i), ck->desc.std[i] = cnnvis__get_f32(p + 12 + 4 * i);
    p += 24;
    for (i = 0; i < n_layers; i++) {
        cnnvis_layer_desc *ld = &ck->desc.layers[i];
        size_t numbers;
        if ((size_t)(end - p) < CNNVIS__CKPT_LAYER)
            return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "checkpoint: truncated in layer %u of %u%s", i, n_layers, crc_note);
        ld->kind = (cnnvis_layer_kind)cnnvis__get_u32(p);
        if (ld->kind <= CNNVIS_LAYER_NONE || ld->kind >= CNNVIS_LAYER_KIND_COUNT)
            return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "checkpoint: layer %u has unknown kind %u%s", i, (unsigned)ld->kind, crc_note);
        memcpy(ld->name, p + 4, CNNVIS_NAME_LEN);
        if (!memchr(ld->name, 0, CNNVIS_NAME_LEN))
            return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "checkpoint: layer %u's name is not zero-terminated%s", i, crc_note);
        p += 4 + CNNVIS_NAME_LEN;
        ld->out_channels = (int32_t)cnnvis__get_u32(p), ld->kernel = (int32_t)cnnvis__get_u32(p + 4);
        ld->stride = (int32_t)cnnvis__get_u32(p + 8), ld->pad = (int32_t)cnnvis__get_u32(p + 12);
        ld->groups = (int32_t)cnnvis__get_u32(p + 16), ld->size = (int32_t)cnnvis__get_u32(p + 20);
        ld->alpha = cnnvis__get_f32(p + 24), ld->beta = cnnvis__get_f32(p + 28);
        ld->k = cnnvis__get_f32(p + 32), ld->p = cnnvis__get_f32(p + 36);
        ck->n_w[i] = cnnvis__get_u32(p + 40), ck->n_b[i] = cnnvis__get_u32(p + 44);
        p += 48;
        numbers = (size_t)ck->n_w[i] + ck->n_b[i];
        if (numbers > (size_t)(end - p) / 4)
            return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "checkpoint: layer %u (%s) claims %u weights and %u biases, the file has "
                                "room for %zu numbers: truncated%s", i, ld->name, ck->n_w[i], ck->n_b[i],
                                (size_t)(end - p) / 4, crc_note);
        ck->weights[i] = p;
        p += 4 * numbers;
    }
    ck->desc.n_layers = (int)n_layers;
    ck->n_classes = (int)n_classes;
    ck->names_at = p;
    for (i = 0; i < n_classes; i++) {
        uint32_t len;
        if (p >= end) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "checkpoint: truncated in class name %u%s", i, crc_note);
        len = *p++;
        if (len >= CNNVIS_CLASS_LEN || len > (size_t)(end - p))
            return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "checkpoint: class name %u has length %u%s", i, len,
                                len >= CNNVIS_CLASS_LEN ? " (at most 63)" : ": truncated");
        if (i < 1024) memcpy(ck->names + (size_t)i * CNNVIS_CLASS_LEN, p, len);
        p += len;
    }
    if (p != end)
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "checkpoint: %zu unexpected bytes before the CRC%s", (size_t)(end - p), crc_note);
    if (!crc_ok)
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "checkpoint: CRC mismatch (stored %08x, computed %08x): the file is corrupt",
                            cnnvis__get_u32(end), cnnvis__crc32(0, buf, size - 4));
    return CNNVIS_OK;
}

/* Does a parsed checkpoint fit net's architecture layer by layer? net need only be resolved
   (shapes and counts), not allocated. */
static cnnvis_result cnnvis__ckpt_check(const cnnvis_net *net, const cnnvis__ckpt *ck)
{
    int i;
    if (ck->desc.n_layers != net->n_layers || ck->n_classes != net->n_classes || ck->desc.in_c != net->desc.in_c ||
        ck->desc.in_h != net->desc.in_h || ck->desc.in_w != net->desc.in_w)
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "checkpoint: %d layers, input %dx%dx%d, %d classes; the net has %d, %dx%dx%d, %d",
                            ck->desc.n_layers, ck->desc.in_c, ck->desc.in_h, ck->desc.in_w, ck->n_classes, net->n_layers,
                            net->desc.in_c, net->desc.in_h, net->desc.in_w, net->n_classes);
    for (i = 0; i < net->n_layers; i++) {
        const cnnvis_layer *L = &net->layers[i];
        if (ck->desc.layers[i].kind != L->desc.kind || ck->n_w[i] != L->n_w || ck->n_b[i] != L->n_b)
            return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "checkpoint: layer %d (%s) is a %s with %u weights and %u biases; the "
                                "architecture needs a %s with %zu and %zu", i, ck->desc.layers[i].name,
                                cnnvis__kind_prefix[ck->desc.layers[i].kind], ck->n_w[i], ck->n_b[i],
                                cnnvis__kind_prefix[L->desc.kind], L->n_w, L->n_b);
    }
    return CNNVIS_OK;
}

/* Copy a parsed checkpoint's numbers into net, after checking that every layer fits. */
static cnnvis_result cnnvis__ckpt_apply(cnnvis_net *net, const cnnvis__ckpt *ck)
{
    int i;
    size_t j;
    const unsigned char *p;
    CNNVIS__TRY(cnnvis__ckpt_check(net, ck));
    for (i = 0; i < net->n_layers; i++) {
        cnnvis_layer *L = &net->layers[i];
        for (p = ck->weights[i], j = 0; j < L->n_w; j++, p += 4) L->w[j] = cnnvis__get_f32(p);
        for (j = 0; j < L->n_b; j++, p += 4) L->b[j] = cnnvis__get_f32(p);
    }
    for (i = 0, p = ck->names_at; i < net->n_classes; i++) {
        char *dst = net->class_names + (size_t)i * CNNVIS_CLASS_LEN;
        memset(dst, 0, CNNVIS_CLASS_LEN);
        memcpy(dst, p + 1, *p);
        p += 1 + *p;
    }
    return CNNVIS_OK;
}

static cnnvis_result cnnvis__net_load_memory(cnnvis_net **out, const void *data, size_t size, const cnnvis_net_desc *runtime)
{
    cnnvis__ckpt *ck;
    cnnvis_net *net = NULL;
    cnnvis_result r;
    if (!out) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_load: out is NULL");
    *out = NULL;
    ck = (cnnvis__ckpt *)cnnvis__alloc(sizeof *ck);
    if (!ck) return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_net_load: out of memory");
    r = cnnvis__ckpt_parse(ck, (const unsigned char *)data, size);
    if (r == CNNVIS_OK) {
        /* the architecture and its weight counts are checked before anything large is
           allocated: a file cannot make the loader ask for more than it describes */
        cnnvis_net *shape = (cnnvis_net *)cnnvis__alloc(sizeof *shape);
        if (!shape) r = CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_net_load: out of memory");
        else if (cnnvis__net_resolve(shape, &ck->desc) != CNNVIS_OK)
            r = CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "checkpoint: its architecture is not valid: %s", cnnvis_last_error());
        else r = cnnvis__ckpt_check(shape, ck);
        cnnvis__free(shape);
    }
    if (r == CNNVIS_OK) {
        if (runtime) {
            ck->desc.max_batch = runtime->max_batch, ck->desc.n_threads = runtime->n_threads;
            ck->desc.kernels = runtime->kernels, ck->desc.seed = runtime->seed;
        }
        r = cnnvis_net_create(&net, &ck->desc); /* its own code: ARG for a bad runtime desc, NOMEM */
    }
    if (r == CNNVIS_OK) r = cnnvis__ckpt_apply(net, ck);
    if (r != CNNVIS_OK) cnnvis_net_free(net), net = NULL;
    cnnvis__free(ck);
    *out = net;
    return r;
}

CNNVIS__DEF cnnvis_result cnnvis_net_load(cnnvis_net **out, const char *path, const cnnvis_net_desc *runtime)
{
    unsigned char *buf;
    size_t size;
    cnnvis_result r;
    if (out) *out = NULL;
    CNNVIS__TRY(cnnvis__file_read(path, CNNVIS__CKPT_MAX_SIZE, &buf, &size));
    r = cnnvis__net_load_memory(out, buf, size, runtime);
    cnnvis__free(buf);
    return r;
}

CNNVIS__DEF cnnvis_result cnnvis_net_load_weights(cnnvis_net *net, const char *path)
{
    unsigned char *buf;
    size_t size;
    cnnvis__ckpt *ck;
    cnnvis_result r;
    if (!net) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_net_load_weights: net is NULL");
    CNNVIS__TRY(cnnvis__file_read(path, CNNVIS__CKPT_MAX_SIZE, &buf, &size));
    ck = (cnnvis__ckpt *)cnnvis__alloc(sizeof *ck);
    r = ck ? cnnvis__ckpt_parse(ck, buf, size) : CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_net_load_weights: out of memory");
    if (r == CNNVIS_OK) r = cnnvis__ckpt_apply(net, ck);
    cnnvis__free(ck);
    cnnvis__free(buf);
    return r;
}

/* ======================================================================================
   B3  Appendix: file formats and data sets                                   >>b3_formats
   files, gzip, IDX, CIFAR-10, PNG and PNM, data sets
   ====================================================================================== */

/* --- Data sets ------------------------------------------------------------------------------ */

CNNVIS__DEF void cnnvis_dataset_free(cnnvis_dataset *ds)
{
    if (!ds) return;
    if (ds->owner) {
        cnnvis__free(ds->px);
        cnnvis__free(ds->labels);
        cnnvis__free(ds->class_names);
        cnnvis__free(ds->concepts);
        cnnvis__free(ds->concept_names);
    }
    memset(ds, 0, sizeof *ds);
}

CNNVIS__DEF cnnvis_result cnnvis_dataset_slice(cnnvis_dataset *view, const cnnvis_dataset *ds, int begin, int count)
{
    if (!view || !ds) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_dataset_slice: NULL argument");
    if (begin < 0 || count < 1 || begin > ds->n - count)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_dataset_slice: images [%d, %lld) are not within the %d images", begin,
                            (long long)begin + count, ds->n);
    *view = *ds;
    view->px = ds->px + (size_t)begin * ds->c * ds->h * ds->w;
    view->labels = ds->labels + begin;
    if (ds->concepts) view->concepts = ds->concepts + (size_t)begin * ds->n_categories * ds->h * ds->w;
    view->n = count;
    view->owner = 0;
    return CNNVIS_OK;
}

static cnnvis_result cnnvis__check_dataset(const char *fn, const cnnvis_dataset *ds, const cnnvis_net *net)
{
    if (!ds || !ds->px || !ds->labels) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: the data set is NULL or empty", fn);
    if (ds->n < 1) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: the data set has no images", fn);
    if (ds->n_categories < 0 || ds->n_categories > CNNVIS_MAX_CATEGORIES)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: the data set's n_categories %d is not in [0, %d]", fn, ds->n_categories,
                            CNNVIS_MAX_CATEGORIES);
    if (net && (ds->c != net->desc.in_c || ds->h != net->desc.in_h || ds->w != net->desc.in_w))
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: the data set's images are %dx%dx%d, the net takes %dx%dx%d", fn, ds->c, ds->h,
                            ds->w, net->desc.in_c, net->desc.in_h, net->desc.in_w);
    return CNNVIS_OK;
}

/* Image `index` of ds into dst (c, h, w), normalised for net, moved by (dy, dx) pixels with
   zero (black) pixels coming in at the borders, and mirrored left-right if flip. */
static void cnnvis__load_image(float *dst, const cnnvis_dataset *ds, int index, const cnnvis_net *net, int dy, int dx,
                               int flip)
{
    int ch, y, x;
    for (ch = 0; ch < ds->c; ch++) {
        float m = cnnvis__chan_stat(net->desc.mean, ch), inv = 1.0f / cnnvis__chan_stat(net->desc.std, ch);
        const unsigned char *src = ds->px + ((size_t)index * ds->c + ch) * ds->h * ds->w;
        for (y = 0; y < ds->h; y++)
            for (x = 0; x < ds->w; x++) {
                int sy = y + dy, sx = (flip ? ds->w - 1 - x : x) + dx;
                float p = sy >= 0 && sy < ds->h && sx >= 0 && sx < ds->w ? src[sy * ds->w + sx] * (1.0f / 255.0f) : 0.0f;
                *dst++ = (p - m) * inv;
            }
    }
}

static cnnvis_result cnnvis__dataset_batch(const cnnvis_dataset *ds, int begin, int count, const cnnvis_net *net,
                                               cnnvis_tensor *x, int32_t *labels)
{
    int i;
    CNNVIS__TRY(cnnvis__check_dataset("cnnvis__dataset_batch", ds, net));
    if (!net || !x || !x->data) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__dataset_batch: NULL net or tensor");
    if (begin < 0 || count < 1 || begin > ds->n - count)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__dataset_batch: images [%d, %lld) are not within the %d images", begin,
                            (long long)begin + count, ds->n);
    if (x->n != count || x->c != ds->c || x->h != ds->h || x->w != ds->w)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__dataset_batch: x is (%d, %d, %d, %d), expected (%d, %d, %d, %d)", x->n,
                            x->c, x->h, x->w, count, ds->c, ds->h, ds->w);
    for (i = 0; i < count; i++) {
        cnnvis__load_image(x->data + (size_t)i * ds->c * ds->h * ds->w, ds, begin + i, net, 0, 0, 0);
        if (labels) labels[i] = ds->labels[begin + i];
    }
    return CNNVIS_OK;
}

/* --- Files ------------------------------------------------------------------------------ */

static cnnvis_result cnnvis__file_read(const char *path, size_t max_size, unsigned char **out, size_t *size)
{
    FILE *f;
    long len;
    unsigned char *buf;
    struct stat st;
    if (!out || !size) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__file_read: NULL output");
    *out = NULL, *size = 0;
    if (!path) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__file_read: path is NULL");
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return CNNVIS__FAIL(CNNVIS_ERR_IO, "%s is not a regular file (a directory?)", path);
    f = fopen(path, "rb");
    if (!f) return CNNVIS__FAIL(CNNVIS_ERR_IO, "cannot open %s for reading", path);
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return CNNVIS__FAIL(CNNVIS_ERR_IO, "%s: cannot find its size (not a regular file?)", path);
    }
    if ((unsigned long)len > max_size) {
        fclose(f);
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "%s: %ld bytes is more than the %zu this reader accepts", path, len, max_size);
    }
    buf = (unsigned char *)CNNVIS_MALLOC((size_t)len + 1);
    if (!buf) {
        fclose(f);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "%s: out of memory for %ld bytes", path, len);
    }
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        CNNVIS_FREE(buf);
        return CNNVIS__FAIL(CNNVIS_ERR_IO, "%s: read error", path);
    }
    fclose(f);
    buf[len] = 0;
    *out = buf, *size = (size_t)len;
    return CNNVIS_OK;
}

#define CNNVIS__WRITE_PIECE ((size_t)1 << 16)

static cnnvis_result cnnvis__file_write(const char *path, const void *data, size_t size)
{
    char tmp[4096];
    FILE *f;
    size_t done, piece;
    int ok;
    if (!path || (!data && size)) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__file_write: NULL %s", path ? "data" : "path");
    if (strlen(path) + 5 > sizeof tmp) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__file_write: path too long");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "wb");
    if (!f) return CNNVIS__FAIL(CNNVIS_ERR_IO, "cannot open %s for writing (does its directory exist?)", tmp);
    /* In pieces, as a long write may fail part-way on a real disk. */
    for (done = 0, ok = 1; ok && done < size; done += piece) {
        piece = size - done < CNNVIS__WRITE_PIECE ? size - done : CNNVIS__WRITE_PIECE;
        ok = CNNVIS_FWRITE((const unsigned char *)data + done, 1, piece, f) == piece;
    }
    ok = fflush(f) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    if (!ok) {
        remove(tmp);
        return CNNVIS__FAIL(CNNVIS_ERR_IO, "%s: write failed (disk full?); the old file is untouched", path);
    }
    if (rename(tmp, path) != 0) {
        remove(tmp);
        return CNNVIS__FAIL(CNNVIS_ERR_IO, "cannot rename %s to %s", tmp, path);
    }
    return CNNVIS_OK;
}

/* --- gzip / inflate (RFC 1952, RFC 1951): enough to read .gz data sets without zlib ------ */

typedef struct cnnvis__inflate_state {
    const unsigned char *src, *end;
    uint32_t bitbuf;
    int bitcount;
    unsigned char *out;
    size_t len, cap, max;
    const char *error;
} cnnvis__inflate_state;

typedef struct cnnvis__huffman {
    short count[16];   /* codes of each length */
    short symbol[320]; /* symbols ordered by code */
} cnnvis__huffman;

static uint32_t cnnvis__inflate_bits(cnnvis__inflate_state *s, int n)
{
    uint32_t v;
    while (s->bitcount < n) {
        if (s->src >= s->end) {
            s->error = "truncated deflate stream";
            return 0;
        }
        s->bitbuf |= (uint32_t)*s->src++ << s->bitcount;
        s->bitcount += 8;
    }
    v = s->bitbuf & ((1u << n) - 1);
    s->bitbuf >>= n;
    s->bitcount -= n;
    return v;
}

/* Canonical Huffman code from code lengths; 0 if the lengths over-subscribe the code. */
static int cnnvis__inflate_build(cnnvis__huffman *h, const unsigned char *lengths, int n)
{
    short offs[16];
    int len, sym, left = 1;
    memset(h->count, 0, sizeof h->count);
    for (sym = 0; sym < n; sym++) h->count[lengths[sym]]++;
    for (len = 1; len < 16; len++) {
        left = left * 2 - h->count[len];
        if (left < 0) return 0;
    }
    offs[1] = 0;
    for (len = 1; len < 15; len++) offs[len + 1] = (short)(offs[len] + h->count[len]);
    for (sym = 0; sym < n; sym++)
        if (lengths[sym]) h->symbol[offs[lengths[sym]]++] = (short)sym;
    return 1;
}

static int cnnvis__inflate_decode(cnnvis__inflate_state *s, const cnnvis__huffman *h)
{
    int code = 0, first = 0, index = 0, len;
    for (len = 1; len < 16; len++) {
        int count;
        code |= (int)cnnvis__inflate_bits(s, 1);
        count = h->count[len];
        if (code - first < count) return h->symbol[index + code - first];
        index += count, first += count;
        first <<= 1, code <<= 1;
        if (s->error) return -1;
    }
    s->error = "invalid Huffman code";
    return -1;
}

static int cnnvis__inflate_put(cnnvis__inflate_state *s, unsigned char byte)
{
    if (s->len == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 65536;
        unsigned char *grown;
        if (cap > s->max) cap = s->max;
        if (s->len >= cap) {
            s->error = "the decompressed data is larger than allowed";
            return 0;
        }
        grown = (unsigned char *)CNNVIS_MALLOC(cap);
        if (!grown) {
            s->error = "out of memory";
            return 0;
        }
        if (s->len) memcpy(grown, s->out, s->len);
        cnnvis__free(s->out);
        s->out = grown, s->cap = cap;
    }
    s->out[s->len++] = byte;
    return 1;
}

/* Deflate's lengths 257..285 and distances 0..29: the base of each code and its extra bits. */
static const short cnnvis__len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                           31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const short cnnvis__len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const short cnnvis__dist_base[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
                                            193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const short cnnvis__dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

static int cnnvis__inflate_codes(cnnvis__inflate_state *s, const cnnvis__huffman *lit, const cnnvis__huffman *dist)
{
    for (;;) {
        int sym = cnnvis__inflate_decode(s, lit);
        if (sym < 0 || s->error) return 0;
        if (sym < 256) {
            if (!cnnvis__inflate_put(s, (unsigned char)sym)) return 0;
        } else if (sym == 256) {
            return 1;
        } else {
            int length, d;
            size_t distance;
            sym -= 257;
            if (sym >= 29) {
                s->error = "invalid length code";
                return 0;
            }
            length = cnnvis__len_base[sym] + (int)cnnvis__inflate_bits(s, cnnvis__len_extra[sym]);
            d = cnnvis__inflate_decode(s, dist);
            if (d < 0 || d >= 30) {
                s->error = s->error ? s->error : "invalid distance code";
                return 0;
            }
            distance = (size_t)cnnvis__dist_base[d] + cnnvis__inflate_bits(s, cnnvis__dist_extra[d]);
            if (s->error) return 0;
            if (distance > s->len) {
                s->error = "distance reaches before the start of the data";
                return 0;
            }
            while (length--)
                if (!cnnvis__inflate_put(s, s->out[s->len - distance])) return 0;
        }
    }
}

static int cnnvis__inflate_block_dynamic(cnnvis__inflate_state *s)
{
    static const unsigned char order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    unsigned char lengths[320];
    cnnvis__huffman lencode, lit, dist;
    int nlen = (int)cnnvis__inflate_bits(s, 5) + 257, ndist = (int)cnnvis__inflate_bits(s, 5) + 1;
    int ncode = (int)cnnvis__inflate_bits(s, 4) + 4, index;
    if (s->error) return 0;
    if (nlen > 286 || ndist > 30) {
        s->error = "bad dynamic block counts";
        return 0;
    }
    memset(lengths, 0, sizeof lengths);
    for (index = 0; index < ncode; index++) lengths[order[index]] = (unsigned char)cnnvis__inflate_bits(s, 3);
    if (s->error || !cnnvis__inflate_build(&lencode, lengths, 19)) {
        s->error = s->error ? s->error : "bad code-length code";
        return 0;
    }
    memset(lengths, 0, sizeof lengths);
    for (index = 0; index < nlen + ndist;) {
        int sym = cnnvis__inflate_decode(s, &lencode), repeat, value = 0;
        if (sym < 0 || s->error) return 0;
        if (sym < 16) {
            lengths[index++] = (unsigned char)sym;
            continue;
        }
        if (sym == 16) {
            if (index == 0) {
                s->error = "repeat with no previous length";
                return 0;
            }
            value = lengths[index - 1];
            repeat = 3 + (int)cnnvis__inflate_bits(s, 2);
        } else if (sym == 17) {
            repeat = 3 + (int)cnnvis__inflate_bits(s, 3);
        } else {
            repeat = 11 + (int)cnnvis__inflate_bits(s, 7);
        }
        if (index + repeat > nlen + ndist) {
            s->error = "too many code lengths";
            return 0;
        }
        while (repeat--) lengths[index++] = (unsigned char)value;
    }
    if (lengths[256] == 0) {
        s->error = "no end-of-block code";
        return 0;
    }
    if (!cnnvis__inflate_build(&lit, lengths, nlen) || !cnnvis__inflate_build(&dist, lengths + nlen, ndist)) {
        s->error = "over-subscribed Huffman code";
        return 0;
    }
    return cnnvis__inflate_codes(s, &lit, &dist);
}

static int cnnvis__inflate_stream(cnnvis__inflate_state *s)
{
    int last;
    do {
        int type;
        last = (int)cnnvis__inflate_bits(s, 1);
        type = (int)cnnvis__inflate_bits(s, 2);
        if (s->error) return 0;
        if (type == 0) { /* stored: the rest of the current byte is skipped */
            unsigned len, nlen;
            s->bitbuf = 0, s->bitcount = 0;
            if (s->end - s->src < 4) {
                s->error = "truncated stored block";
                return 0;
            }
            len = s->src[0] | (unsigned)s->src[1] << 8, nlen = s->src[2] | (unsigned)s->src[3] << 8;
            s->src += 4;
            if (len != (~nlen & 0xffffu)) {
                s->error = "stored block length check failed";
                return 0;
            }
            if ((size_t)(s->end - s->src) < len) {
                s->error = "truncated stored block";
                return 0;
            }
            while (len--)
                if (!cnnvis__inflate_put(s, *s->src++)) return 0;
        } else if (type == 1) {
            unsigned char lengths[320];
            cnnvis__huffman lit, dist;
            int sym;
            for (sym = 0; sym < 288; sym++) lengths[sym] = sym < 144 ? 8 : sym < 256 ? 9 : sym < 280 ? 7 : 8;
            cnnvis__inflate_build(&lit, lengths, 288);
            for (sym = 0; sym < 32; sym++) lengths[sym] = 5; /* 30 and 31 exist but are invalid */
            cnnvis__inflate_build(&dist, lengths, 32);
            if (!cnnvis__inflate_codes(s, &lit, &dist)) return 0;
        } else if (type == 2) {
            if (!cnnvis__inflate_block_dynamic(s)) return 0;
        } else {
            s->error = "invalid block type 3";
            return 0;
        }
    } while (!last);
    return 1;
}

static cnnvis_result cnnvis__gunzip(unsigned char **out, size_t *out_size, const void *in, size_t in_size, size_t max_out)
{
    const unsigned char *p = (const unsigned char *)in, *end;
    cnnvis__inflate_state s;
    int flags;
    if (!out || !out_size) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__gunzip: NULL output");
    *out = NULL, *out_size = 0;
    if (!in) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__gunzip: NULL input");
    if (in_size < 2 || p[0] != 0x1f || p[1] != 0x8b)
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "gzip: not a gzip file (%zu bytes, no 1f 8b magic)", in_size);
    if (in_size < 18) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "gzip: truncated (%zu bytes)", in_size);
    if (p[2] != 8) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "gzip: compression method %d (only 8, deflate)", p[2]);
    flags = p[3];
    if (flags & 0xe0) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "gzip: reserved header flags set (0x%02x)", flags);
    end = p + in_size - 8;
    p += 10;
    if (flags & 4) { /* FEXTRA */
        size_t xlen;
        if (end - p < 2) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "gzip: truncated header");
        xlen = p[0] | (size_t)p[1] << 8;
        if ((size_t)(end - p) < 2 + xlen) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "gzip: truncated header");
        p += 2 + xlen;
    }
    if (flags & 8) { /* FNAME */
        while (p < end && *p) p++;
        if (p++ >= end) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "gzip: truncated header");
    }
    if (flags & 16) { /* FCOMMENT */
        while (p < end && *p) p++;
        if (p++ >= end) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "gzip: truncated header");
    }
    if (flags & 2) p += 2; /* FHCRC */
    if (p > end) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "gzip: truncated header");
    memset(&s, 0, sizeof s);
    s.src = p, s.end = end, s.max = max_out;
    if (!cnnvis__inflate_stream(&s)) {
        cnnvis__free(s.out);
        if (s.error && strcmp(s.error, "out of memory") == 0) return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "gzip: out of memory");
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "gzip: %s", s.error ? s.error : "corrupt data");
    }
    if (cnnvis__get_u32(end) != cnnvis__crc32(0, s.out, s.len) || cnnvis__get_u32(end + 4) != (uint32_t)s.len) {
        cnnvis__free(s.out);
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "gzip: CRC-32 or length check failed: the file is corrupt or truncated");
    }
    *out = s.out, *out_size = s.len;
    return CNNVIS_OK;
}

/* --- deflate (RFC 1951): what the PNG writer compresses with ----------------------------
   As small single-file encoders do (stb_image_write's zlib writer): repeated strings are
   found through a hash of their first 3 bytes and written as (length, distance) pairs
   within a 32 KB window, everything in one block of fixed Huffman codes (BTYPE 01), so no
   code tables need building or storing. A montage's flat backgrounds and a zoomed tile's
   repeated pixels become long matches. */

#define CNNVIS__DEFLATE_HASH_BITS 15
#define CNNVIS__DEFLATE_WINDOW 32768
#define CNNVIS__DEFLATE_CHAIN 32 /* candidates tried at a position: more finds longer matches, slower */

typedef struct cnnvis__bit_writer {
    unsigned char *p, *end;
    uint32_t acc; /* bits not yet written, the first in the lowest bit */
    int n;
    int full;     /* out of room: cnnvis__deflate reports it */
    uint16_t fixed[288]; /* the fixed literal/length codes, bit-reversed to go out as they are */
    unsigned char fixed_bits[288];
} cnnvis__bit_writer;

/* n bits of v, least significant first (how deflate packs everything but Huffman codes). */
static void cnnvis__put_bits(cnnvis__bit_writer *w, uint32_t v, int n)
{
    w->acc |= v << w->n, w->n += n;
    while (w->n >= 8) {
        if (w->p < w->end) *w->p++ = (unsigned char)w->acc;
        else w->full = 1;
        w->acc >>= 8, w->n -= 8;
    }
}

/* A Huffman code of n bits, its most significant bit first. */
static void cnnvis__put_code(cnnvis__bit_writer *w, uint32_t code, int n)
{
    uint32_t reversed = 0;
    int i;
    for (i = 0; i < n; i++) reversed |= ((code >> i) & 1u) << (n - 1 - i);
    cnnvis__put_bits(w, reversed, n);
}

/* The fixed literal/length code (RFC 1951, 3.2.6), each code bit-reversed once here. */
static void cnnvis__fixed_codes(cnnvis__bit_writer *w)
{
    int sym, i;
    for (sym = 0; sym < 288; sym++) {
        uint32_t code = sym < 144 ? 0x30u + (uint32_t)sym : sym < 256 ? 0x190u + (uint32_t)(sym - 144)
                        : sym < 280 ? (uint32_t)(sym - 256) : 0xc0u + (uint32_t)(sym - 280), reversed = 0;
        int n = sym < 144 ? 8 : sym < 256 ? 9 : sym < 280 ? 7 : 8;
        for (i = 0; i < n; i++) reversed |= ((code >> i) & 1u) << (n - 1 - i);
        w->fixed[sym] = (uint16_t)reversed, w->fixed_bits[sym] = (unsigned char)n;
    }
}

/* Symbol sym (0-287) of the fixed literal/length code. */
static void cnnvis__put_fixed(cnnvis__bit_writer *w, int sym)
{
    cnnvis__put_bits(w, w->fixed[sym], w->fixed_bits[sym]);
}

/* A repeat of len bytes (3-258) from dist bytes back (1-32768). */
static void cnnvis__put_match(cnnvis__bit_writer *w, int len, int dist)
{
    int l = 28, d = 29;
    while (cnnvis__len_base[l] > len) l--;
    while (cnnvis__dist_base[d] > dist) d--;
    cnnvis__put_fixed(w, 257 + l);
    cnnvis__put_bits(w, (uint32_t)(len - cnnvis__len_base[l]), cnnvis__len_extra[l]);
    cnnvis__put_code(w, (uint32_t)d, 5); /* fixed distance codes: 5 bits each */
    cnnvis__put_bits(w, (uint32_t)(dist - cnnvis__dist_base[d]), cnnvis__dist_extra[d]);
}

/* Compress in (n bytes) into out (room for cap bytes) as one fixed-code deflate block. Returns
   the bytes written, or 0 if out was too small or the hash tables could not be allocated. */
static size_t cnnvis__deflate(unsigned char *out, size_t cap, const unsigned char *in, size_t n)
{
    cnnvis__bit_writer w;
    int32_t *head = (int32_t *)CNNVIS_MALLOC(sizeof(int32_t) << CNNVIS__DEFLATE_HASH_BITS);
    int32_t *prev = (int32_t *)CNNVIS_MALLOC(sizeof(int32_t) * CNNVIS__DEFLATE_WINDOW);
    size_t i = 0, k;
    if (!head || !prev || n > INT32_MAX) {
        cnnvis__free(head), cnnvis__free(prev);
        return 0;
    }
    for (k = 0; k < (size_t)1 << CNNVIS__DEFLATE_HASH_BITS; k++) head[k] = -1;
    w.p = out, w.end = out + cap, w.acc = 0, w.n = 0, w.full = 0;
    cnnvis__fixed_codes(&w);
    cnnvis__put_bits(&w, 1, 1); /* BFINAL: the only block */
    cnnvis__put_bits(&w, 1, 2); /* BTYPE 01: fixed Huffman codes */
    while (i < n) {
        int best = 0, best_dist = 0, chain = CNNVIS__DEFLATE_CHAIN, step, max = (int)CNNVIS__MIN((size_t)258, n - i);
        if (max >= 3) {
            uint32_t h = ((uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2]) * 2654435761u >> (32 - CNNVIS__DEFLATE_HASH_BITS);
            int32_t cand = head[h];
            while (cand >= 0 && i - (size_t)cand <= CNNVIS__DEFLATE_WINDOW && chain-- > 0) {
                const unsigned char *a = in + cand, *b = in + i;
                if (a[best] == b[best]) { /* only a longer match is worth comparing */
                    int len = 0;
                    while (len < max && a[len] == b[len]) len++;
                    if (len > best) best = len, best_dist = (int)(i - (size_t)cand);
                    if (len == max) break;
                }
                cand = prev[cand % CNNVIS__DEFLATE_WINDOW];
            }
        }
        if (best < 3) best = 1, cnnvis__put_fixed(&w, in[i]);
        else cnnvis__put_match(&w, best, best_dist);
        for (step = 0; step < best; step++, i++) /* every position goes into the chains */
            if (i + 2 < n) {
                uint32_t h = ((uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2]) * 2654435761u >> (32 - CNNVIS__DEFLATE_HASH_BITS);
                prev[i % CNNVIS__DEFLATE_WINDOW] = head[h];
                head[h] = (int32_t)i;
            }
    }
    cnnvis__put_fixed(&w, 256); /* end of block */
    cnnvis__put_bits(&w, 0, 7); /* flush the last byte */
    cnnvis__free(head), cnnvis__free(prev);
    return w.full ? 0 : (size_t)(w.p - out);
}

/* --- IDX (MNIST, Fashion-MNIST) ----------------------------------------------------------- */

#define CNNVIS__IDX_MAX_FILE ((size_t)1 << 30)

static uint32_t cnnvis__get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Uncompress if gzip; *owned is what the caller must free (NULL if data is used as is). */
static cnnvis_result cnnvis__maybe_gunzip(const unsigned char **data, size_t *size, unsigned char **owned, const char *what)
{
    *owned = NULL;
    if (*size >= 2 && (*data)[0] == 0x1f && (*data)[1] == 0x8b) {
        size_t out_size;
        cnnvis_result r = cnnvis__gunzip(owned, &out_size, *data, *size, CNNVIS__IDX_MAX_FILE);
        if (r != CNNVIS_OK) return CNNVIS__FAIL(r, "%s: %s", what, cnnvis_last_error());
        *data = *owned, *size = out_size;
    }
    return CNNVIS_OK;
}

static cnnvis_result cnnvis__idx_load_memory(cnnvis_dataset *ds, const void *images, size_t images_size,
                                                 const void *labels, size_t labels_size)
{
    const unsigned char *im = (const unsigned char *)images, *lb = (const unsigned char *)labels;
    unsigned char *im_owned = NULL, *lb_owned = NULL;
    uint32_t n, rows, cols, n_labels, i;
    cnnvis_result r = CNNVIS_OK;
    int max_label = 0;
    if (!ds) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_idx_load: ds is NULL");
    memset(ds, 0, sizeof *ds);
    if (!im || !lb) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_idx_load: NULL data");
    r = cnnvis__maybe_gunzip(&im, &images_size, &im_owned, "IDX images");
    if (r == CNNVIS_OK) r = cnnvis__maybe_gunzip(&lb, &labels_size, &lb_owned, "IDX labels");
    if (r != CNNVIS_OK) goto done;
    if (images_size >= 4 && images_size < 16 && cnnvis__get_be32(im) == 0x803) {
        r = CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "IDX images: truncated header (%zu of 16 bytes)", images_size);
        goto done;
    }
    if (labels_size >= 4 && labels_size < 8 && cnnvis__get_be32(lb) == 0x801) {
        r = CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "IDX labels: truncated header (%zu of 8 bytes)", labels_size);
        goto done;
    }
    if (images_size < 16 || cnnvis__get_be32(im) != 0x803) {
        r = CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "IDX images: wrong magic (expected 00 00 08 03: unsigned bytes, 3 dimensions)%s",
                         images_size >= 4 && cnnvis__get_be32(im) == 0x801 ? "; this is a label file" : "");
        goto done;
    }
    if (labels_size < 8 || cnnvis__get_be32(lb) != 0x801) {
        r = CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "IDX labels: wrong magic (expected 00 00 08 01: unsigned bytes, 1 dimension)%s",
                         labels_size >= 4 && cnnvis__get_be32(lb) == 0x803 ? "; this is an image file" : "");
        goto done;
    }
    n = cnnvis__get_be32(im + 4), rows = cnnvis__get_be32(im + 8), cols = cnnvis__get_be32(im + 12);
    n_labels = cnnvis__get_be32(lb + 4);
    if (n < 1 || rows < 1 || cols < 1 || rows > 4096 || cols > 4096 || (uint64_t)n * rows * cols > (1u << 28)) {
        r = CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "IDX images: %u images of %ux%u (at most 4096x4096 and 2^28 pixels in all)", n, rows, cols);
        goto done;
    }
    if (n_labels != n) {
        r = CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "IDX: %u images but %u labels", n, n_labels);
        goto done;
    }
    if (images_size - 16 < (size_t)n * rows * cols || labels_size - 8 < (size_t)n) {
        r = CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "IDX: truncated (%zu image bytes for %u x %u x %u, %zu label bytes for %u)",
                         images_size - 16, n, rows, cols, labels_size - 8, n);
        goto done;
    }
    for (i = 0; i < n; i++) {
        if (lb[8 + i] > 254) {
            r = CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "IDX labels: label %u of image %u is more than 254", lb[8 + i], i);
            goto done;
        }
        max_label = CNNVIS__MAX(max_label, lb[8 + i]);
    }
    ds->px = (unsigned char *)cnnvis__alloc((size_t)n * rows * cols);
    ds->labels = (int32_t *)cnnvis__alloc(sizeof(int32_t) * n);
    if (!ds->px || !ds->labels) {
        cnnvis__free(ds->px), cnnvis__free(ds->labels);
        memset(ds, 0, sizeof *ds);
        r = CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "IDX: out of memory for %u images", n);
        goto done;
    }
    memcpy(ds->px, im + 16, (size_t)n * rows * cols);
    for (i = 0; i < n; i++) ds->labels[i] = lb[8 + i];
    ds->n = (int)n, ds->c = 1, ds->h = (int)rows, ds->w = (int)cols;
    ds->n_classes = max_label + 1 > 10 ? max_label + 1 : 10;
    ds->owner = 1;
done:
    cnnvis__free(im_owned), cnnvis__free(lb_owned);
    return r;
}

CNNVIS__DEF cnnvis_result cnnvis_idx_load(cnnvis_dataset *ds, const char *images_path, const char *labels_path)
{
    unsigned char *im = NULL, *lb = NULL;
    size_t im_size = 0, lb_size = 0;
    cnnvis_result r;
    if (ds) memset(ds, 0, sizeof *ds);
    r = cnnvis__file_read(images_path, CNNVIS__IDX_MAX_FILE, &im, &im_size);
    if (r == CNNVIS_OK) r = cnnvis__file_read(labels_path, CNNVIS__IDX_MAX_FILE, &lb, &lb_size);
    if (r == CNNVIS_OK) r = cnnvis__idx_load_memory(ds, im, im_size, lb, lb_size);
    cnnvis__free(im), cnnvis__free(lb);
    return r;
}

/* --- Images ------------------------------------------------------------------------------ */

CNNVIS__DEF cnnvis_result cnnvis_image_create(cnnvis_image *im, int w, int h, int c)
{
    if (!im) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_image_create: im is NULL");
    memset(im, 0, sizeof *im);
    if (w < 1 || h < 1 || (c != 1 && c != 3) || w > CNNVIS_IMAGE_MAX_SIDE || h > CNNVIS_IMAGE_MAX_SIDE ||
        (long long)w * h > CNNVIS_IMAGE_MAX_PIXELS)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_image_create: %dx%d with %d channels (1 or 3 channels, at most %d a side "
                            "and %d pixels)", w, h, c, CNNVIS_IMAGE_MAX_SIDE, CNNVIS_IMAGE_MAX_PIXELS);
    im->px = (unsigned char *)cnnvis__alloc((size_t)w * h * c);
    if (!im->px) return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_image_create: out of memory for %dx%dx%d", w, h, c);
    im->w = w, im->h = h, im->c = c;
    return CNNVIS_OK;
}

CNNVIS__DEF void cnnvis_image_free(cnnvis_image *im)
{
    if (!im) return;
    cnnvis__free(im->px);
    memset(im, 0, sizeof *im);
}

static cnnvis_result cnnvis__check_image(const char *fn, const cnnvis_image *im)
{
    if (!im || !im->px || im->w < 1 || im->h < 1 || (im->c != 1 && im->c != 3))
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "%s: not a valid image (NULL, empty, or not 1 or 3 channels)", fn);
    return CNNVIS_OK;
}

/* PNM (netpbm) headers: whitespace-separated decimal fields, where a '#' comment runs to
   the end of its line and counts as whitespace. */
typedef struct cnnvis__text {
    const unsigned char *p, *end;
} cnnvis__text;

static void cnnvis__pnm_space(cnnvis__text *s)
{
    while (s->p < s->end) {
        if (*s->p == '#') {
            while (s->p < s->end && *s->p != '\n' && *s->p != '\r') s->p++;
        } else if (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r' || *s->p == '\v' || *s->p == '\f') {
            s->p++;
        } else {
            return;
        }
    }
}

static cnnvis_result cnnvis__pnm_uint(cnnvis__text *s, const char *what, unsigned *v, unsigned max)
{
    unsigned long long value = 0;
    cnnvis__pnm_space(s);
    if (s->p >= s->end) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNM: truncated before the %s", what);
    if (*s->p == '-') return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNM: the %s is negative", what);
    if (*s->p < '0' || *s->p > '9')
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNM: the %s is not a number (found byte 0x%02x)", what, *s->p);
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
        value = value * 10 + (unsigned)(*s->p++ - '0');
        if (value > max) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNM: the %s is larger than %u", what, max);
    }
    *v = (unsigned)value;
    return CNNVIS_OK;
}

static cnnvis_result cnnvis__pnm_decode(cnnvis_image *im, const unsigned char *data, size_t size)
{
    cnnvis__text s;
    unsigned w, h, maxval, sample;
    int kind, c, ascii;
    size_t i, count;
    s.p = data, s.end = data + size;
    if (size < 2 || data[0] != 'P' || data[1] < '1' || data[1] > '6')
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "not a PNM image: expected P2, P3, P5 or P6 at the start");
    kind = data[1] - '0';
    if (kind == 1 || kind == 4) return CNNVIS__FAIL(CNNVIS_ERR_UNSUPPORTED, "PNM: P%d bitmaps are not supported (P2, P3, P5, P6 are)", kind);
    c = kind == 3 || kind == 6 ? 3 : 1;
    ascii = kind == 2 || kind == 3;
    s.p += 2;
    if (s.p < s.end && *s.p != '#' && *s.p != ' ' && *s.p != '\t' && *s.p != '\n' && *s.p != '\r' && *s.p != '\v' &&
        *s.p != '\f')
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNM: no whitespace after the magic P%d", kind);
    CNNVIS__TRY(cnnvis__pnm_uint(&s, "width", &w, CNNVIS_IMAGE_MAX_SIDE));
    CNNVIS__TRY(cnnvis__pnm_uint(&s, "height", &h, CNNVIS_IMAGE_MAX_SIDE));
    CNNVIS__TRY(cnnvis__pnm_uint(&s, "maxval", &maxval, 65535));
    if (w < 1 || h < 1) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNM: size %ux%u has a zero side", w, h);
    if ((unsigned long long)w * h > CNNVIS_IMAGE_MAX_PIXELS)
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNM: %ux%u is more than %d pixels", w, h, CNNVIS_IMAGE_MAX_PIXELS);
    if (maxval < 1) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNM: maxval 0 (1..65535)");
    count = (size_t)w * h * c;
    if (!ascii) { /* exactly one whitespace character (or a comment line) before the raster */
        if (s.p >= s.end) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNM: truncated after the header");
        if (*s.p == '#') {
            while (s.p < s.end && *s.p != '\n' && *s.p != '\r') s.p++;
            s.p++;
        } else if (*s.p == ' ' || *s.p == '\t' || *s.p == '\n' || *s.p == '\r' || *s.p == '\v' || *s.p == '\f') {
            s.p++;
        } else {
            return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNM: no whitespace after maxval");
        }
        if (s.p > s.end || (size_t)(s.end - s.p) < count * (maxval > 255 ? 2 : 1))
            return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNM: truncated raster (%ux%ux%d samples of %d bytes)", w, h, c,
                                maxval > 255 ? 2 : 1);
    }
    CNNVIS__TRY(cnnvis_image_create(im, (int)w, (int)h, c));
    for (i = 0; i < count; i++) {
        if (ascii) {
            cnnvis_result r = cnnvis__pnm_uint(&s, "sample", &sample, 65535);
            if (r != CNNVIS_OK) {
                cnnvis_image_free(im);
                return r;
            }
        } else if (maxval > 255) {
            sample = (unsigned)s.p[0] << 8 | s.p[1], s.p += 2;
        } else {
            sample = *s.p++;
        }
        if (sample > maxval) {
            cnnvis_image_free(im);
            return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNM: sample %zu is %u, above maxval %u", i, sample, maxval);
        }
        im->px[i] = (unsigned char)((sample * 255u + maxval / 2) / maxval);
    }
    return CNNVIS_OK;
}

static uint32_t cnnvis__adler32(uint32_t adler, const unsigned char *p, size_t n)
{
    uint32_t a = adler & 0xffff, b = adler >> 16;
    while (n) {
        size_t block = n < 5552 ? n : 5552; /* the most bytes before b can overflow 32 bits */
        n -= block;
        while (block--) a += *p++, b += a;
        a %= 65521, b %= 65521;
    }
    return b << 16 | a;
}

static uint32_t cnnvis__get_be32_at(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static unsigned char *cnnvis__put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
    return p + 4;
}

static int cnnvis__paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

static cnnvis_result cnnvis__png_decode(cnnvis_image *im, const unsigned char *data, size_t size)
{
    static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const unsigned char *p = data + 8, *end = data + size;
    unsigned char *z = NULL, *raw = NULL, palette[256 * 3];
    size_t z_len = 0, z_cap = 0, row_bytes, expected, x;
    uint32_t w = 0, h = 0, y;
    int depth = 0, ctype = -1, channels_in, bpp, n_palette = 0, seen_idat = 0, seen_iend = 0, out_c, ch;
    cnnvis_result r = CNNVIS_OK;
    cnnvis__inflate_state s;
    if (size < 8 || memcmp(data, signature, 8) != 0) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "not a PNG file (no PNG signature)");
    /* First pass: check every chunk and add up the IDAT bytes. */
    while (!seen_iend) {
        uint32_t len;
        const unsigned char *type;
        if (end - p < 12) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNG: truncated chunk");
        len = cnnvis__get_be32_at(p), type = p + 4;
        if (len > (uint32_t)INT32_MAX || (size_t)(end - p - 12) < len) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNG: truncated chunk");
        if (cnnvis__crc32(0, type, len + 4) != cnnvis__get_be32_at(p + 8 + len))
            return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNG: CRC mismatch in a %.4s chunk: the file is corrupt", (const char *)type);
        if (p == data + 8 && memcmp(type, "IHDR", 4) != 0) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNG: the first chunk is not IHDR");
        if (memcmp(type, "IHDR", 4) == 0) {
            if (len != 13 || p != data + 8) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNG: bad IHDR");
            w = cnnvis__get_be32_at(p + 8), h = cnnvis__get_be32_at(p + 12), depth = p[16], ctype = p[17];
            if (p[18] != 0 || p[19] != 0) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNG: unknown compression or filter method");
            if (p[20] != 0) return CNNVIS__FAIL(CNNVIS_ERR_UNSUPPORTED, "PNG: interlaced (Adam7) images are not supported");
            if (w < 1 || h < 1 || w > CNNVIS_IMAGE_MAX_SIDE || h > CNNVIS_IMAGE_MAX_SIDE ||
                (unsigned long long)w * h > CNNVIS_IMAGE_MAX_PIXELS)
                return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNG: size %ux%u (at most %d a side and %d pixels)", w, h,
                                    CNNVIS_IMAGE_MAX_SIDE, CNNVIS_IMAGE_MAX_PIXELS);
            if (!((ctype == 0 || ctype == 2 || ctype == 4 || ctype == 6) && (depth == 8 || depth == 16)) &&
                !(ctype == 3 && depth == 8))
                return CNNVIS__FAIL(CNNVIS_ERR_UNSUPPORTED, "PNG: colour type %d with bit depth %d is not supported (8 or 16 "
                                    "bits; palettes of 8 bits)", ctype, depth);
        } else if (memcmp(type, "PLTE", 4) == 0) {
            if (len % 3 || len > 768) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNG: bad palette");
            memcpy(palette, p + 8, len);
            n_palette = (int)len / 3;
        } else if (memcmp(type, "IDAT", 4) == 0) {
            seen_idat = 1;
            z_cap += len;
        } else if (memcmp(type, "IEND", 4) == 0) {
            seen_iend = 1;
        } else if (!(type[0] & 0x20)) {
            return CNNVIS__FAIL(CNNVIS_ERR_UNSUPPORTED, "PNG: unknown critical chunk %.4s", (const char *)type);
        }
        p += 12 + len;
    }
    if (!w || !seen_idat) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNG: no IHDR or no IDAT");
    if (ctype == 3 && !n_palette) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNG: a palette image without a palette");
    channels_in = ctype == 0 ? 1 : ctype == 2 ? 3 : ctype == 3 ? 1 : ctype == 4 ? 2 : 4;
    bpp = channels_in * depth / 8;
    row_bytes = (size_t)w * bpp;
    expected = (size_t)h * (row_bytes + 1);
    /* Second pass: join the IDAT chunks into one zlib stream. */
    z = (unsigned char *)CNNVIS_MALLOC(z_cap ? z_cap : 1);
    if (!z) return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "PNG: out of memory");
    for (p = data + 8;;) {
        uint32_t len = cnnvis__get_be32_at(p);
        if (memcmp(p + 4, "IDAT", 4) == 0) memcpy(z + z_len, p + 8, len), z_len += len;
        if (memcmp(p + 4, "IEND", 4) == 0) break;
        p += 12 + len;
    }
    if (z_len < 6 || (z[0] & 15) != 8 || (z[0] >> 4) > 7 || ((unsigned)z[0] << 8 | z[1]) % 31 != 0 || (z[1] & 32)) {
        CNNVIS_FREE(z);
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNG: bad zlib header");
    }
    memset(&s, 0, sizeof s);
    s.src = z + 2, s.end = z + z_len, s.max = expected;
    if (!cnnvis__inflate_stream(&s)) {
        r = CNNVIS__FAIL(s.error && strcmp(s.error, "out of memory") == 0 ? CNNVIS_ERR_NOMEM : CNNVIS_ERR_FORMAT, "PNG: %s",
                         s.error ? s.error : "corrupt data");
    } else if (s.len != expected) {
        r = CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNG: %zu bytes of pixel data, expected %zu", s.len, expected);
    } else if (s.end - s.src < 4 || cnnvis__get_be32_at(s.src) != cnnvis__adler32(1, s.out, s.len)) {
        r = CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNG: Adler-32 mismatch: the pixel data is corrupt");
    }
    CNNVIS_FREE(z);
    raw = s.out;
    if (r != CNNVIS_OK) {
        cnnvis__free(raw);
        return r;
    }
    /* Undo the per-row filters (PNG spec section 9). */
    for (y = 0; y < h; y++) {
        unsigned char *row = raw + (size_t)y * (row_bytes + 1), *cur = row + 1;
        const unsigned char *prev = y ? raw + (size_t)(y - 1) * (row_bytes + 1) + 1 : NULL;
        int filter = row[0];
        if (filter > 4) {
            cnnvis__free(raw);
            return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNG: row %u has unknown filter %d", y, filter);
        }
        for (x = 0; x < row_bytes; x++) {
            int a = x >= (size_t)bpp ? cur[x - bpp] : 0, b = prev ? prev[x] : 0, c = prev && x >= (size_t)bpp ? prev[x - bpp] : 0;
            int add = filter == 1 ? a : filter == 2 ? b : filter == 3 ? (a + b) / 2 : filter == 4 ? cnnvis__paeth(a, b, c) : 0;
            cur[x] = (unsigned char)(cur[x] + add);
        }
    }
    out_c = ctype == 0 || ctype == 4 ? 1 : 3;
    r = cnnvis_image_create(im, (int)w, (int)h, out_c);
    if (r == CNNVIS_OK) {
        for (y = 0; y < h; y++) {
            const unsigned char *row = raw + (size_t)y * (row_bytes + 1) + 1;
            for (x = 0; x < w; x++) {
                unsigned char *dst = im->px + ((size_t)y * w + x) * out_c;
                if (ctype == 3) {
                    int index = row[x];
                    if (index >= n_palette) {
                        cnnvis_image_free(im);
                        r = CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "PNG: palette index %d of %d", index, n_palette);
                        goto done;
                    }
                    memcpy(dst, palette + 3 * index, 3);
                    continue;
                }
                for (ch = 0; ch < out_c; ch++) { /* alpha, the last channel of types 4 and 6, is dropped */
                    const unsigned char *sample = row + (x * channels_in + ch) * (depth / 8);
                    dst[ch] = depth == 8 ? sample[0] : (unsigned char)((((unsigned)sample[0] << 8 | sample[1]) * 255u + 32767) / 65535);
                }
            }
        }
    }
done:
    cnnvis__free(raw);
    return r;
}

/* --- JPEG reader -----------------------------------------------------------------------
   A baseline and progressive JPEG decoder, written from ITU-T T.81 (1992) "Digital
   compression and coding of continuous-tone still images", the JPEG standard. Each step and
   its section:
     B.1.1.3, B.2  markers and segments: SOI, DQT (B.2.4.1), DHT (B.2.4.2), DRI (B.2.4.4),
                   SOF (frame header, B.2.2), SOS (scan header, B.2.3), APPn (B.2.4.6), EOI
     A.1.1         each component's size from its sampling factors: x_i = ceil(X * H_i / Hmax)
     A.2           the order of the blocks: one block at a time in a scan of one component
                   (A.2.2), H_i x V_i blocks of each component per MCU otherwise (A.2.3)
     Annex C       a Huffman table from BITS and HUFFVAL: canonical codes, shortest first
     F.2.2.1-2     sequential Huffman decoding: the DC difference (a category, then that many
                   bits, EXTEND) and the AC run/size symbols (ZRL 0xF0, EOB 0x00)
     F.2.2.3       the DECODE procedure (MAXCODE, VALPTR), behind a 9-bit lookup table
     F.2.2.5       the bit reader: a 0xFF data byte is followed by a stuffed 0x00
     E.2.4         restart intervals: after every Ri MCUs, an RSTm marker, predictions reset
     G.1.2         progressive decoding: DC first and refinement scans (G.1.2.1), AC first
                   scans with end-of-band runs (G.1.2.2), AC refinement scans (G.1.2.3)
     A.3.6, A.3.3  zig-zag order, then the 8x8 inverse DCT
                     f(x,y) = 1/4 sum_u sum_v C(u) C(v) F(u,v) cos((2x+1)u pi/16) cos((2y+1)v pi/16)
                   cnnvis__jpeg_idct__reference does it as written, separably (rows, then
                   columns) in float with a table of the cosines; cnnvis__jpeg_idct, the
                   default, is libjpeg's integer version of it ("islow"), so that the pixels
                   are djpeg's (the float one is within 1 level of it, which colour
                   conversion can make 3). CNNVIS_FORCE_REFERENCE selects the float one.
   Beyond T.81: JFIF (ITU-T T.871, section 7) for YCbCr -> RGB; Adobe's APP14 (Technical
   Note 5116) for files stored as RGB; Exif's orientation (CIPA DC-008, TIFF tag 0x0112 in
   IFD0), applied to the decoded image; and chroma upsampling, which T.81 leaves to the
   decoder: we use libjpeg's "fancy" (triangular) filters for 2x1, 1x2 and 2x2, so the
   output matches djpeg's default, and nearest neighbour for every other ratio.
   Memory: the component planes (about one decoded image) and the output image; a
   progressive file also keeps every quantised coefficient (2 bytes a sample) until its last
   scan. Refused: arithmetic coding, lossless and hierarchical JPEG, 12-bit samples, CMYK,
   and anything truncated or inconsistent. */

#define CNNVIS__JPEG_MAX_SCANS 1000 /* bounds the time a file of tiny scans can take */

/* A.3.6: the natural (row-major) position of the k-th coefficient in zig-zag order. */
static const unsigned char cnnvis__jpeg_zigzag[64] = {
    0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,  12, 19, 26, 33, 40, 48,
    41, 34, 27, 20, 13, 6,  7,  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23,
    30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};

typedef struct cnnvis__jpeg_huffman {
    int defined;
    unsigned char fast_len[512]; /* for the next 9 bits: the length of their code (0: longer) */
    unsigned char fast_sym[512]; /* ... and its symbol */
    int mincode[17], maxcode[17], valptr[17]; /* F.2.2.3, by code length; maxcode -1: none */
    unsigned char values[256];   /* HUFFVAL */
} cnnvis__jpeg_huffman;

typedef struct cnnvis__jpeg_component {
    int id, h, v, tq;      /* identifier, sampling factors H_i and V_i, quantisation table */
    int td, ta;            /* DC and AC Huffman tables of the current scan */
    int xi, yi;            /* samples across and down (A.1.1) */
    int bw, bh;            /* blocks across and down, padded to whole MCUs */
    int dc_pred;           /* the previous block's DC (the prediction) */
    unsigned char *plane;  /* (bh * 8, bw * 8) samples after the IDCT */
    short *coef;           /* (bh * bw, 64) quantised coefficients, natural order; progressive only */
} cnnvis__jpeg_component;

typedef struct cnnvis__jpeg {
    const unsigned char *p, *end; /* the next byte of the entropy-coded data, the file's end */
    uint32_t bits;                /* bit buffer, most significant bit first ... */
    int n_bits;                   /* ... holding n_bits bits */
    int fake_bits;                /* zero bits fed in after the data ran out (marker or end) */
    int at_marker;                /* the reader stopped at a marker */
    int sof, width, height, n_comp, progressive, hmax, vmax, mcux, mcuy;
    int restart_interval, eobrun, n_scans;
    int jfif, adobe, adobe_transform, orientation;
    int quant_defined[4];
    uint16_t quant[4][64];        /* natural order */
    cnnvis__jpeg_huffman dc[4], ac[4];
    cnnvis__jpeg_component comp[3];
    int scan_n, scan_comp[3], ss, se, ah, al; /* the current scan (B.2.3) */
    float cosine[8][8];           /* cosine[x][u] = C(u)/2 cos((2x+1) u pi / 16) */
    int reference_idct;           /* the float IDCT (CNNVIS_FORCE_REFERENCE) instead of libjpeg's */
} cnnvis__jpeg;

static unsigned cnnvis__jpeg_be16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }

/* Annex C: codes are given out shortest first, consecutively; each length's first code is
   the previous length's next code shifted left by one. No code may be all ones (libjpeg's
   check), so the next code must still fit in its length. */
static const char *cnnvis__jpeg_huffman_build(cnnvis__jpeg_huffman *table, const unsigned char counts[16],
                                              const unsigned char *values, int n_values)
{
    int code = 0, index = 0, length, fill;
    memset(table, 0, sizeof *table);
    memcpy(table->values, values, (size_t)n_values);
    for (length = 1; length <= 16; length++) {
        int count = counts[length - 1], first = code;
        table->valptr[length] = index, table->mincode[length] = code;
        table->maxcode[length] = count ? code + count - 1 : -1;
        for (; code < first + count; code++, index++) {
            if (length <= 9) /* every 9-bit string that starts with this code */
                for (fill = 0; fill < 1 << (9 - length); fill++) {
                    int slot = (code << (9 - length)) + fill;
                    if (slot < 512) table->fast_len[slot] = (unsigned char)length, table->fast_sym[slot] = values[index];
                }
        }
        if (count && code >= 1 << length) return "its code lengths overflow the code space";
        code <<= 1;
    }
    table->defined = 1;
    return NULL;
}

/* F.2.2.5: bytes into the bit buffer; after 0xFF comes a stuffed 0x00. At a marker or at the
   end of the file the reader feeds zeros and counts them. */
static void cnnvis__jpeg_fill(cnnvis__jpeg *j)
{
    while (j->n_bits <= 24) {
        unsigned byte = 0;
        if (!j->at_marker && j->p < j->end) {
            if (j->p[0] != 0xff) byte = *j->p++;
            else if (j->end - j->p >= 2 && j->p[1] == 0x00) byte = 0xff, j->p += 2;
            else j->at_marker = 1;
        } else {
            j->at_marker = 1;
        }
        if (j->at_marker) j->fake_bits += 8;
        j->bits |= (uint32_t)byte << (24 - j->n_bits);
        j->n_bits += 8;
    }
}

/* Whether the decoder has used bits that were not in the file. */
static int cnnvis__jpeg_ran_out(const cnnvis__jpeg *j) { return j->fake_bits > j->n_bits; }

static unsigned cnnvis__jpeg_bits(cnnvis__jpeg *j, int n) /* n in 1..16 */
{
    unsigned v;
    cnnvis__jpeg_fill(j);
    v = (unsigned)(j->bits >> (32 - n));
    j->bits <<= n, j->n_bits -= n;
    if (j->fake_bits > 64) j->fake_bits = 64; /* past the end: enough to know, never overflows */
    return v;
}

/* F.2.2.1 RECEIVE and EXTEND: s bits, read as a signed value of category s. */
static int cnnvis__jpeg_receive_extend(cnnvis__jpeg *j, int s)
{
    int v;
    if (s == 0) return 0;
    v = (int)cnnvis__jpeg_bits(j, s);
    return v < 1 << (s - 1) ? v - (1 << s) + 1 : v;
}

/* F.2.2.3: the next Huffman symbol, or -1 for a bit string that is no code. */
static int cnnvis__jpeg_decode_symbol(cnnvis__jpeg *j, const cnnvis__jpeg_huffman *table)
{
    unsigned peek;
    int length;
    cnnvis__jpeg_fill(j);
    peek = (unsigned)(j->bits >> (32 - 9));
    if (table->fast_len[peek]) {
        length = table->fast_len[peek];
        j->bits <<= length, j->n_bits -= length;
        return table->fast_sym[peek];
    }
    for (length = 10; length <= 16; length++) { /* the slow way, for the long codes */
        int code = (int)(j->bits >> (32 - length));
        if (code <= table->maxcode[length]) {
            int index = table->valptr[length] + code - table->mincode[length];
            j->bits <<= length, j->n_bits -= length;
            return index < 256 ? table->values[index] : -1;
        }
    }
    return -1;
}

static short cnnvis__jpeg_clamp16(int v) { return (short)(v < -32768 ? -32768 : v > 32767 ? 32767 : v); }

/* F.2.2.1-2: one block of a sequential scan, coef in natural order. NULL, or what is wrong. */
static const char *cnnvis__jpeg_block_sequential(cnnvis__jpeg *j, cnnvis__jpeg_component *c, short coef[64])
{
    int t = cnnvis__jpeg_decode_symbol(j, &j->dc[c->td]), k;
    memset(coef, 0, 64 * sizeof coef[0]);
    if (t < 0) return "a bad Huffman code";
    if (t > 11) return "a DC difference of category above 11";
    c->dc_pred = cnnvis__jpeg_clamp16(c->dc_pred + cnnvis__jpeg_receive_extend(j, t));
    coef[0] = (short)c->dc_pred;
    for (k = 1; k < 64;) {
        int rs = cnnvis__jpeg_decode_symbol(j, &j->ac[c->ta]), run = rs >> 4, size = rs & 15;
        if (rs < 0) return "a bad Huffman code";
        if (size == 0) {
            if (run != 15) break; /* EOB: the rest are zero */
            k += 16;              /* ZRL: sixteen zeros */
            continue;
        }
        k += run;
        if (k > 63) return "AC coefficients past the 64th";
        coef[cnnvis__jpeg_zigzag[k++]] = (short)cnnvis__jpeg_receive_extend(j, size);
    }
    return NULL;
}

/* G.1.2.1: a DC scan, first (ah == 0) or refining one bit (ah > 0). */
static const char *cnnvis__jpeg_block_dc(cnnvis__jpeg *j, cnnvis__jpeg_component *c, short coef[64])
{
    if (j->ah == 0) {
        int t = cnnvis__jpeg_decode_symbol(j, &j->dc[c->td]);
        if (t < 0) return "a bad Huffman code";
        if (t > 11) return "a DC difference of category above 11";
        c->dc_pred = cnnvis__jpeg_clamp16(c->dc_pred + cnnvis__jpeg_receive_extend(j, t));
        coef[0] = cnnvis__jpeg_clamp16(c->dc_pred * (1 << j->al));
    } else if (cnnvis__jpeg_bits(j, 1)) {
        coef[0] = (short)(coef[0] | (1 << j->al));
    }
    return NULL;
}

/* G.1.2.2: the first scan of AC band ss..se; eobrun counts the bands left with no more
   coefficients. */
static const char *cnnvis__jpeg_block_ac_first(cnnvis__jpeg *j, cnnvis__jpeg_component *c, short coef[64])
{
    int k;
    if (j->eobrun > 0) {
        j->eobrun--;
        return NULL;
    }
    for (k = j->ss; k <= j->se; k++) {
        int rs = cnnvis__jpeg_decode_symbol(j, &j->ac[c->ta]), run = rs >> 4, size = rs & 15;
        if (rs < 0) return "a bad Huffman code";
        if (size == 0) {
            if (run < 15) { /* EOBn: this block and 2^n - 1 + (n more bits) blocks after it end here */
                j->eobrun = (1 << run) - 1;
                if (run) j->eobrun += (int)cnnvis__jpeg_bits(j, run);
                break;
            }
            k += 15; /* ZRL */
            continue;
        }
        k += run;
        if (k > j->se) return "AC coefficients past the end of the band";
        coef[cnnvis__jpeg_zigzag[k]] = cnnvis__jpeg_clamp16(cnnvis__jpeg_receive_extend(j, size) * (1 << j->al));
    }
    return NULL;
}

/* G.1.2.3: one more bit of each coefficient already non-zero (a correction bit each), and
   new coefficients of magnitude 1 << al (libjpeg's decode_mcu_AC_refine, step by step). */
static void cnnvis__jpeg_refine(cnnvis__jpeg *j, short *coefficient)
{
    int bit = 1 << j->al;
    if (cnnvis__jpeg_bits(j, 1) && (*coefficient & bit) == 0)
        *coefficient = cnnvis__jpeg_clamp16(*coefficient + (*coefficient >= 0 ? bit : -bit));
}

static const char *cnnvis__jpeg_block_ac_refine(cnnvis__jpeg *j, cnnvis__jpeg_component *c, short coef[64])
{
    int k = j->ss;
    if (j->eobrun == 0) {
        for (; k <= j->se; k++) {
            int rs = cnnvis__jpeg_decode_symbol(j, &j->ac[c->ta]), run = rs >> 4, size = rs & 15, value = 0;
            if (rs < 0) return "a bad Huffman code";
            if (size) {
                if (size != 1) return "a refinement coefficient of size other than 1";
                value = cnnvis__jpeg_bits(j, 1) ? 1 << j->al : -(1 << j->al);
            } else if (run != 15) { /* EOBn; the rest of this band is refined below */
                j->eobrun = 1 << run;
                if (run) j->eobrun += (int)cnnvis__jpeg_bits(j, run);
                break;
            }
            /* skip `run` zero coefficients, refining the non-zero ones passed on the way */
            for (; k <= j->se; k++) {
                short *coefficient = &coef[cnnvis__jpeg_zigzag[k]];
                if (*coefficient) cnnvis__jpeg_refine(j, coefficient);
                else if (run-- == 0) break;
            }
            if (value && k <= j->se) coef[cnnvis__jpeg_zigzag[k]] = (short)value;
        }
    }
    if (j->eobrun > 0) {
        for (; k <= j->se; k++)
            if (coef[cnnvis__jpeg_zigzag[k]]) cnnvis__jpeg_refine(j, &coef[cnnvis__jpeg_zigzag[k]]);
        j->eobrun--;
    }
    return NULL;
}

/* A.3.3: dequantise, then the 2-D IDCT as eight 1-D IDCTs along the rows and eight along
   the columns; level shift by 128, round, clamp to 0..255. */
static void cnnvis__jpeg_idct__reference(unsigned char *out, size_t stride, const short coef[64],
                                         const uint16_t quant[64], const float cosine[8][8])
{
    float in[64], rows[64];
    int x, y, u, k, ac = 0;
    for (k = 0; k < 64; k++) {
        in[k] = (float)coef[k] * (float)quant[k];
        if (k && coef[k]) ac = 1;
    }
    if (!ac) { /* only the DC: a flat block, F(0,0) / 8 */
        float v = in[0] / 8.0f + 128.0f;
        int level = v <= 0.0f ? 0 : v >= 255.0f ? 255 : (int)(v + 0.5f);
        for (y = 0; y < 8; y++) memset(out + y * stride, level, 8);
        return;
    }
    for (y = 0; y < 8; y++) /* each row v = y: rows[y][x] = sum_u C(u)/2 F(y,u) cos((2x+1)u pi/16) */
        for (x = 0; x < 8; x++) {
            float sum = 0.0f;
            for (u = 0; u < 8; u++) sum += cosine[x][u] * in[y * 8 + u];
            rows[y * 8 + x] = sum;
        }
    for (x = 0; x < 8; x++) /* each column */
        for (y = 0; y < 8; y++) {
            float sum = 128.0f;
            for (u = 0; u < 8; u++) sum += cosine[y][u] * rows[u * 8 + x];
            out[y * stride + x] = (unsigned char)(sum <= 0.0f ? 0 : sum >= 255.0f ? 255 : (int)(sum + 0.5f));
        }
}

/* DESCALE of libjpeg: x / 2^n rounded (half up), as a floor shift that never shifts a
   negative number. */
static long long cnnvis__jpeg_descale(long long x, int n)
{
    long long v = x + ((long long)1 << (n - 1));
    return v >= 0 ? v >> n : -((-v + ((long long)1 << n) - 1) >> n);
}

/* One 8-point 1-D IDCT in libjpeg's 13-bit fixed point (jidctint.c, the Loeffler-
   Ligtenberg-Moschytz factorisation: an even part of 3 multiplications, an odd part of 9).
   in[0..7 * step] are the inputs, scale is 2^13 times their unit; out gets the 8 outputs,
   still scaled by 2^13 (the caller descales). */
static void cnnvis__jpeg_idct_1d(long long out[8], const long long *in, int step)
{
    long long z1, z2, z3, z4, z5, tmp0, tmp1, tmp2, tmp3, tmp10, tmp11, tmp12, tmp13;
    /* even part: inputs 0, 2, 4, 6 */
    z2 = in[2 * step], z3 = in[6 * step];
    z1 = (z2 + z3) * 4433;                /* 0.541196100 */
    tmp2 = z1 + z3 * -15137;              /* -1.847759065 */
    tmp3 = z1 + z2 * 6270;                /* 0.765366865 */
    tmp0 = (in[0] + in[4 * step]) * 8192, tmp1 = (in[0] - in[4 * step]) * 8192;
    tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
    /* odd part: inputs 7, 5, 3, 1 */
    tmp0 = in[7 * step], tmp1 = in[5 * step], tmp2 = in[3 * step], tmp3 = in[1 * step];
    z1 = tmp0 + tmp3, z2 = tmp1 + tmp2, z3 = tmp0 + tmp2, z4 = tmp1 + tmp3;
    z5 = (z3 + z4) * 9633;                /* 1.175875602 */
    tmp0 *= 2446, tmp1 *= 16819, tmp2 *= 25172, tmp3 *= 12299; /* 0.298631336 2.053119869 3.072711026 1.501321110 */
    z1 *= -7373, z2 *= -20995, z3 *= -16069, z4 *= -3196;       /* 0.899976223 2.562915447 1.961570560 0.390180644 */
    z3 += z5, z4 += z5;
    tmp0 += z1 + z3, tmp1 += z2 + z4, tmp2 += z2 + z3, tmp3 += z1 + z4;
    out[0] = tmp10 + tmp3, out[7] = tmp10 - tmp3, out[1] = tmp11 + tmp2, out[6] = tmp11 - tmp2;
    out[2] = tmp12 + tmp1, out[5] = tmp12 - tmp1, out[3] = tmp13 + tmp0, out[4] = tmp13 - tmp0;
}

/* A.3.3 the way djpeg computes it by default (libjpeg's "islow"): columns, then rows, in
   integers, so that our pixels are djpeg's. The float version above is the formula; this
   one differs from it by at most 1 level before colour conversion. */
static void cnnvis__jpeg_idct(unsigned char *out, size_t stride, const short coef[64], const uint16_t quant[64])
{
    long long in[64], work[64], column[8], row[8];
    int x, y;
    for (x = 0; x < 64; x++) in[x] = (long long)coef[x] * quant[x];
    for (x = 0; x < 8; x++) { /* pass 1: each column, kept with 2 extra bits (PASS1_BITS) */
        if (!in[8 + x] && !in[16 + x] && !in[24 + x] && !in[32 + x] && !in[40 + x] && !in[48 + x] && !in[56 + x]) {
            for (y = 0; y < 8; y++) work[y * 8 + x] = in[x] * 4; /* a flat column */
            continue;
        }
        cnnvis__jpeg_idct_1d(column, in + x, 8);
        for (y = 0; y < 8; y++) work[y * 8 + x] = cnnvis__jpeg_descale(column[y], 13 - 2);
    }
    for (y = 0; y < 8; y++) { /* pass 2: each row; remove the 2 bits, the 13 bits and the 1/8 */
        cnnvis__jpeg_idct_1d(row, work + y * 8, 1);
        for (x = 0; x < 8; x++) {
            long long v = cnnvis__jpeg_descale(row[x], 13 + 2 + 3) + 128;
            out[y * stride + x] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

/* The IDCT: libjpeg's integer one; with CNNVIS_FORCE_REFERENCE, the float formula. */
static void cnnvis__jpeg_idct_block(const cnnvis__jpeg *j, unsigned char *out, size_t stride, const short coef[64],
                                    const uint16_t quant[64])
{
    if (j->reference_idct) cnnvis__jpeg_idct__reference(out, stride, coef, quant, (const float (*)[8])j->cosine);
    else cnnvis__jpeg_idct(out, stride, coef, quant);
}

/* One block of the current scan at block (bx, by) of component c. */
static const char *cnnvis__jpeg_block(cnnvis__jpeg *j, cnnvis__jpeg_component *c, int bx, int by)
{
    short local[64], *coef;
    const char *error;
    if (!j->progressive) {
        error = cnnvis__jpeg_block_sequential(j, c, local);
        if (!error) cnnvis__jpeg_idct_block(j, c->plane + (size_t)by * 8 * ((size_t)c->bw * 8) + (size_t)bx * 8,
                                            (size_t)c->bw * 8, local, j->quant[c->tq]);
        return error;
    }
    coef = c->coef + ((size_t)by * c->bw + bx) * 64;
    if (j->ss == 0) return cnnvis__jpeg_block_dc(j, c, coef);
    return j->ah == 0 ? cnnvis__jpeg_block_ac_first(j, c, coef) : cnnvis__jpeg_block_ac_refine(j, c, coef);
}

/* E.2.4: after restart interval `interval` (0, 1, ...) comes the marker RST(interval mod 8);
   then the decoder starts afresh. */
static cnnvis_result cnnvis__jpeg_restart(cnnvis__jpeg *j, int interval)
{
    int k;
    if (cnnvis__jpeg_ran_out(j))
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: scan %d: restart interval %d ends early (truncated or corrupt data)",
                            j->n_scans, interval);
    while (j->end - j->p >= 2 && j->p[0] == 0xff && j->p[1] == 0xff) j->p++; /* fill bytes */
    if (j->end - j->p < 2 || j->p[0] != 0xff || j->p[1] != 0xd0 + (interval & 7))
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: scan %d: expected the marker RST%d after restart interval %d",
                            j->n_scans, interval & 7, interval);
    j->p += 2;
    j->bits = 0, j->n_bits = 0, j->fake_bits = 0, j->at_marker = 0, j->eobrun = 0;
    for (k = 0; k < j->n_comp; k++) j->comp[k].dc_pred = 0;
    return CNNVIS_OK;
}

/* A.2: the blocks of one scan, MCU by MCU. */
static cnnvis_result cnnvis__jpeg_scan(cnnvis__jpeg *j)
{
    int mcus_x = j->mcux, mcus_y = j->mcuy, mx, my, k, bx, by, count = 0;
    j->bits = 0, j->n_bits = 0, j->fake_bits = 0, j->at_marker = 0, j->eobrun = 0;
    for (k = 0; k < j->n_comp; k++) j->comp[k].dc_pred = 0;
    if (j->scan_n == 1) { /* A.2.2: one block is one MCU, over the component's own size */
        const cnnvis__jpeg_component *c = &j->comp[j->scan_comp[0]];
        mcus_x = (c->xi + 7) / 8, mcus_y = (c->yi + 7) / 8;
    }
    for (my = 0; my < mcus_y; my++)
        for (mx = 0; mx < mcus_x; mx++, count++) {
            if (j->restart_interval && count && count % j->restart_interval == 0)
                CNNVIS__TRY(cnnvis__jpeg_restart(j, count / j->restart_interval - 1));
            for (k = 0; k < j->scan_n; k++) {
                cnnvis__jpeg_component *c = &j->comp[j->scan_comp[k]];
                int h = j->scan_n == 1 ? 1 : c->h, v = j->scan_n == 1 ? 1 : c->v;
                for (by = 0; by < v; by++)
                    for (bx = 0; bx < h; bx++) {
                        const char *error = cnnvis__jpeg_block(j, c, mx * h + bx, my * v + by);
                        if (error)
                            return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: scan %d, component %d, MCU %d: %s", j->n_scans,
                                                c->id, count, error);
                    }
            }
            if (cnnvis__jpeg_ran_out(j))
                return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: scan %d: the data ends at MCU %d of %d (truncated or "
                                    "corrupt file)", j->n_scans, count, mcus_x * mcus_y);
        }
    return CNNVIS_OK;
}

/* B.2.2: the frame header. Checks the size against the limits before allocating. */
static cnnvis_result cnnvis__jpeg_frame(cnnvis__jpeg *j, int marker, const unsigned char *s, size_t n)
{
    int k;
    if (j->sof) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: a second frame header (SOF%d)", marker - 0xc0);
    if (n < 6) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: SOF%d of %zu bytes is too short", marker - 0xc0, n);
    j->sof = marker, j->progressive = marker == 0xc2;
    j->height = (int)cnnvis__jpeg_be16(s + 1), j->width = (int)cnnvis__jpeg_be16(s + 3), j->n_comp = s[5];
    if (s[0] != 8)
        return CNNVIS__FAIL(CNNVIS_ERR_UNSUPPORTED, "JPEG: SOF%d sample precision %d bits (only 8 is supported)",
                            marker - 0xc0, s[0]);
    if (j->height == 0)
        return CNNVIS__FAIL(CNNVIS_ERR_UNSUPPORTED, "JPEG: SOF%d height 0 (a height given later by a DNL marker is "
                            "not supported)", marker - 0xc0);
    if (j->width == 0) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: SOF%d width 0", marker - 0xc0);
    if (j->width > CNNVIS_IMAGE_MAX_SIDE || j->height > CNNVIS_IMAGE_MAX_SIDE ||
        (long long)j->width * j->height > CNNVIS_IMAGE_MAX_PIXELS)
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: SOF%d size %dx%d (at most %d a side and %d pixels)", marker - 0xc0,
                            j->width, j->height, CNNVIS_IMAGE_MAX_SIDE, CNNVIS_IMAGE_MAX_PIXELS);
    if (j->n_comp == 4)
        return j->adobe ? CNNVIS__FAIL(CNNVIS_ERR_UNSUPPORTED, "JPEG: %s (4 components, Adobe transform %d) is not supported",
                                       j->adobe_transform == 2 ? "YCCK" : "CMYK", j->adobe_transform)
                        : CNNVIS__FAIL(CNNVIS_ERR_UNSUPPORTED, "JPEG: CMYK (4 components) is not supported");
    if (j->n_comp != 1 && j->n_comp != 3)
        return CNNVIS__FAIL(CNNVIS_ERR_UNSUPPORTED, "JPEG: SOF%d has %d components (1 grey or 3 colour are supported)",
                            marker - 0xc0, j->n_comp);
    if (n != 6 + 3 * (size_t)j->n_comp)
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: SOF%d of %zu bytes for %d components", marker - 0xc0, n, j->n_comp);
    j->hmax = j->vmax = 1;
    for (k = 0; k < j->n_comp; k++) {
        cnnvis__jpeg_component *c = &j->comp[k];
        c->id = s[6 + 3 * k], c->h = s[7 + 3 * k] >> 4, c->v = s[7 + 3 * k] & 15, c->tq = s[8 + 3 * k];
        if (c->h < 1 || c->h > 4 || c->v < 1 || c->v > 4)
            return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: SOF%d component %d sampling factors %dx%d (1..4 each)",
                                marker - 0xc0, c->id, c->h, c->v);
        if (c->tq > 3)
            return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: SOF%d component %d quantisation table %d (0..3)", marker - 0xc0,
                                c->id, c->tq);
        if (c->h > j->hmax) j->hmax = c->h;
        if (c->v > j->vmax) j->vmax = c->v;
    }
    j->mcux = (j->width + 8 * j->hmax - 1) / (8 * j->hmax), j->mcuy = (j->height + 8 * j->vmax - 1) / (8 * j->vmax);
    for (k = 0; k < j->n_comp; k++) {
        cnnvis__jpeg_component *c = &j->comp[k];
        size_t blocks;
        c->xi = (j->width * c->h + j->hmax - 1) / j->hmax, c->yi = (j->height * c->v + j->vmax - 1) / j->vmax;
        c->bw = j->mcux * c->h, c->bh = j->mcuy * c->v;
        blocks = (size_t)c->bw * c->bh;
        c->plane = (unsigned char *)cnnvis__alloc(blocks * 64);
        if (j->progressive) c->coef = (short *)cnnvis__alloc(blocks * 64 * sizeof(short));
        if (!c->plane || (j->progressive && !c->coef))
            return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "JPEG: out of memory for a %dx%d image", j->width, j->height);
    }
    return CNNVIS_OK;
}

/* B.2.3: the scan header; then the scan's data. */
static cnnvis_result cnnvis__jpeg_scan_header(cnnvis__jpeg *j, const unsigned char *s, size_t n)
{
    int k, m, blocks = 0;
    if (!j->sof) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: a scan (SOS) before the frame header (SOF)");
    if (++j->n_scans > CNNVIS__JPEG_MAX_SCANS)
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: more than %d scans", CNNVIS__JPEG_MAX_SCANS);
    if (n < 1 || s[0] < 1 || s[0] > j->n_comp || n != 4 + 2 * (size_t)s[0])
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: SOS of %zu bytes for %d components (the frame has %d)", n,
                            n ? s[0] : 0, j->n_comp);
    j->scan_n = s[0];
    for (k = 0; k < j->scan_n; k++) {
        int id = s[1 + 2 * k], td = s[2 + 2 * k] >> 4, ta = s[2 + 2 * k] & 15;
        for (m = 0; m < j->n_comp && j->comp[m].id != id; m++) continue;
        if (m == j->n_comp) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: SOS names component %d, not in the frame", id);
        if (td > 3 || ta > 3) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: SOS Huffman tables %d/%d (0..3)", td, ta);
        j->scan_comp[k] = m, j->comp[m].td = td, j->comp[m].ta = ta;
        blocks += j->comp[m].h * j->comp[m].v;
    }
    j->ss = s[1 + 2 * j->scan_n], j->se = s[2 + 2 * j->scan_n], j->ah = s[3 + 2 * j->scan_n] >> 4,
    j->al = s[3 + 2 * j->scan_n] & 15;
    if (j->scan_n > 1 && blocks > 10)
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: %d blocks in an MCU (at most 10, B.2.3)", blocks);
    if (j->progressive) {
        if (j->ss > j->se || j->se > 63 || (j->ss == 0 && j->se != 0) || (j->ss > 0 && j->scan_n != 1) || j->ah > 13 ||
            j->al > 13)
            return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: progressive scan with Ss %d, Se %d, Ah %d, Al %d, %d components",
                                j->ss, j->se, j->ah, j->al, j->scan_n);
    } else {
        j->ss = 0, j->se = 63, j->ah = j->al = 0; /* sequential: the whole block */
    }
    for (k = 0; k < j->scan_n; k++) {
        const cnnvis__jpeg_component *c = &j->comp[j->scan_comp[k]];
        if (j->ss == 0 && j->ah == 0 && !j->dc[c->td].defined)
            return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: scan %d uses DC Huffman table %d, which is not defined",
                                j->n_scans, c->td);
        if ((!j->progressive || j->ss > 0) && !j->ac[c->ta].defined)
            return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: scan %d uses AC Huffman table %d, which is not defined",
                                j->n_scans, c->ta);
        if (!j->quant_defined[c->tq])
            return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: component %d uses quantisation table %d, which is not defined",
                                c->id, c->tq);
    }
    return cnnvis__jpeg_scan(j);
}

/* B.2.4.1 DQT and B.2.4.2 DHT: several tables may share one segment. */
static cnnvis_result cnnvis__jpeg_tables(cnnvis__jpeg *j, int marker, const unsigned char *s, size_t n)
{
    size_t at = 0;
    int k;
    while (at < n) {
        int kind = s[at] >> 4, id = s[at] & 15;
        at++;
        if (marker == 0xdb) { /* DQT: 64 values in zig-zag order, 8 or 16 bits */
            size_t need = kind ? 128 : 64;
            if (kind > 1 || id > 3) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: DQT precision %d, table %d", kind, id);
            if (n - at < need) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: DQT table %d is cut short", id);
            for (k = 0; k < 64; k++)
                j->quant[id][cnnvis__jpeg_zigzag[k]] = (uint16_t)(kind ? cnnvis__jpeg_be16(s + at + 2 * k) : s[at + k]);
            j->quant_defined[id] = 1;
            at += need;
        } else { /* DHT: 16 counts of codes by length, then the symbols */
            int total = 0;
            const char *error;
            if (kind > 1 || id > 3) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: DHT class %d, table %d", kind, id);
            if (n - at < 16) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: DHT class %d table %d is cut short", kind, id);
            for (k = 0; k < 16; k++) total += s[at + k];
            if (total > 256 || n - at - 16 < (size_t)total)
                return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: bad Huffman table (DHT class %d, table %d): %d codes in a "
                                    "segment of %zu bytes", kind, id, total, n);
            error = cnnvis__jpeg_huffman_build(kind ? &j->ac[id] : &j->dc[id], s + at, s + at + 16, total);
            if (error) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: bad Huffman table (DHT class %d, table %d): %s", kind, id, error);
            at += 16 + (size_t)total;
        }
    }
    return CNNVIS_OK;
}

/* Exif (CIPA DC-008): "Exif\0\0", a TIFF header ("II" little-endian or "MM" big-endian, 42,
   the offset of IFD0), IFD0's 12-byte entries; tag 0x0112 (SHORT) is the orientation 1..8.
   0 when there is none. */
static unsigned cnnvis__jpeg_tiff16(const unsigned char *p, int little) { return little ? (unsigned)p[1] << 8 | p[0] : cnnvis__jpeg_be16(p); }

static int cnnvis__jpeg_exif_orientation(const unsigned char *s, size_t n)
{
    const unsigned char *tiff = s + 6;
    size_t size, ifd, entry;
    unsigned count, k;
    int little;
    if (n < 6 + 8 || memcmp(s, "Exif\0\0", 6) != 0) return 0;
    size = n - 6;
    if (tiff[0] == 'I' && tiff[1] == 'I') little = 1;
    else if (tiff[0] == 'M' && tiff[1] == 'M') little = 0;
    else return 0;
    if (cnnvis__jpeg_tiff16(tiff + 2, little) != 42) return 0;
    ifd = little ? (size_t)cnnvis__jpeg_tiff16(tiff + 6, 1) << 16 | cnnvis__jpeg_tiff16(tiff + 4, 1)
                 : (size_t)cnnvis__jpeg_be16(tiff + 4) << 16 | cnnvis__jpeg_be16(tiff + 6);
    if (ifd > size - 2) return 0;
    count = cnnvis__jpeg_tiff16(tiff + ifd, little);
    for (k = 0; k < count; k++) {
        entry = ifd + 2 + 12 * (size_t)k;
        if (entry + 12 > size) return 0;
        if (cnnvis__jpeg_tiff16(tiff + entry, little) == 0x0112 && cnnvis__jpeg_tiff16(tiff + entry + 2, little) == 3) {
            unsigned v = cnnvis__jpeg_tiff16(tiff + entry + 8, little);
            return v >= 1 && v <= 8 ? (int)v : 0;
        }
    }
    return 0;
}

/* Chroma upsampling of one output row y of component c into out (width samples). libjpeg's
   triangular filters (jdsample.c) where the ratio is 2x1, 1x2 or 2x2: each output sample is
   3/4 of the nearer input sample and 1/4 of the next one (in 2-D, 9/16, 3/16, 3/16, 1/16),
   with the edges repeated and libjpeg's rounding biases; nearest neighbour otherwise. */
static void cnnvis__jpeg_upsample_row(unsigned char *out, const cnnvis__jpeg *j, const cnnvis__jpeg_component *c, int y)
{
    size_t stride = (size_t)c->bw * 8;
    int fx = j->hmax % c->h == 0 ? j->hmax / c->h : 0, fy = j->vmax % c->v == 0 ? j->vmax / c->v : 0, x;
    int last = c->xi - 1;
    if ((fx == 2 || fx == 1) && (fy == 2 || fy == 1) && !(fx == 1 && fy == 1)) {
        int cy = fy == 2 ? y / 2 : y;
        int near = fy == 1 ? cy : y & 1 ? (cy + 1 < c->yi ? cy + 1 : cy) : (cy > 0 ? cy - 1 : 0);
        const unsigned char *row = c->plane + (size_t)cy * stride, *other = c->plane + (size_t)near * stride;
        for (x = 0; x < j->width; x++) {
            int i = fx == 2 ? x / 2 : x, side = x & 1 ? (i < last ? i + 1 : last) : (i > 0 ? i - 1 : 0);
            if (fx == 2 && fy == 2) { /* column sums 3*near row + far row, then the same across */
                int here = 3 * row[i] + other[i], beside = 3 * row[side] + other[side];
                out[x] = (unsigned char)((3 * here + beside + (x & 1 ? 7 : 8)) >> 4);
            } else if (fx == 2) {
                out[x] = (unsigned char)((3 * row[i] + row[side] + (x & 1 ? 2 : 1)) >> 2);
            } else {
                out[x] = (unsigned char)((3 * row[i] + other[i] + (y & 1 ? 2 : 1)) >> 2);
            }
        }
        return;
    }
    {
        int cy = (int)((long long)y * c->v / j->vmax);
        const unsigned char *row = c->plane + (size_t)cy * stride;
        for (x = 0; x < j->width; x++) out[x] = row[(long long)x * c->h / j->hmax];
    }
}

/* floor(v / 65536) for |v| < 2^24, without shifting a negative number. */
static int cnnvis__jpeg_descale16(int v) { return ((v + (256 << 16)) >> 16) - 256; }

static unsigned char cnnvis__jpeg_clamp255(int v) { return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v); }

/* Exif orientation o (2..8): the stored image turned to how it is meant to be seen. For
   each output pixel (ox, oy), the stored pixel (ix, iy) it shows. */
static cnnvis_result cnnvis__jpeg_orient(cnnvis_image *im, int o)
{
    cnnvis_image out;
    int ox, oy, swap = o >= 5, w = im->w, h = im->h;
    if (o < 2 || o > 8) return CNNVIS_OK;
    CNNVIS__TRY(cnnvis_image_create(&out, swap ? h : w, swap ? w : h, im->c));
    for (oy = 0; oy < out.h; oy++)
        for (ox = 0; ox < out.w; ox++) {
            int ix = ox, iy = oy;
            switch (o) {
            case 2: ix = w - 1 - ox, iy = oy; break;          /* mirrored left-right */
            case 3: ix = w - 1 - ox, iy = h - 1 - oy; break;  /* turned 180 degrees */
            case 4: ix = ox, iy = h - 1 - oy; break;          /* mirrored top-bottom */
            case 5: ix = oy, iy = ox; break;                  /* transposed */
            case 6: ix = oy, iy = h - 1 - ox; break;          /* to be turned 90 degrees clockwise */
            case 7: ix = w - 1 - oy, iy = h - 1 - ox; break;  /* transversed */
            default: ix = w - 1 - oy, iy = ox; break;         /* 8: to be turned 90 degrees anticlockwise */
            }
            memcpy(out.px + ((size_t)oy * out.w + ox) * im->c, im->px + ((size_t)iy * w + ix) * im->c, (size_t)im->c);
        }
    cnnvis_image_free(im);
    *im = out;
    return CNNVIS_OK;
}

/* After the last scan: the IDCT of a progressive file's coefficients, upsampling, colour
   conversion (JFIF: R = Y + 1.402 (Cr-128), G = Y - 0.344136 (Cb-128) - 0.714136 (Cr-128),
   B = Y + 1.772 (Cb-128), in libjpeg's 16-bit fixed point so that it matches djpeg's). */
static cnnvis_result cnnvis__jpeg_output(cnnvis__jpeg *j, cnnvis_image *im)
{
    int k, x, y, rgb;
    unsigned char *rows;
    if (j->progressive)
        for (k = 0; k < j->n_comp; k++) {
            cnnvis__jpeg_component *c = &j->comp[k];
            size_t block, stride = (size_t)c->bw * 8;
            for (block = 0; block < (size_t)c->bw * c->bh; block++)
                cnnvis__jpeg_idct_block(j, c->plane + block / c->bw * 8 * stride + block % c->bw * 8, stride,
                                        c->coef + block * 64, j->quant[c->tq]);
            cnnvis__free(c->coef), c->coef = NULL;
        }
    CNNVIS__TRY(cnnvis_image_create(im, j->width, j->height, j->n_comp == 1 ? 1 : 3));
    rows = (unsigned char *)cnnvis__alloc((size_t)j->width * 3);
    if (!rows) {
        cnnvis_image_free(im);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "JPEG: out of memory");
    }
    /* stored as RGB: Adobe's transform 0 (without JFIF), or components named 'R', 'G', 'B' */
    rgb = j->n_comp == 3 && !j->jfif &&
          ((j->adobe && j->adobe_transform == 0) || (j->comp[0].id == 'R' && j->comp[1].id == 'G' && j->comp[2].id == 'B'));
    for (y = 0; y < j->height; y++) {
        unsigned char *dst = im->px + (size_t)y * j->width * im->c;
        for (k = 0; k < j->n_comp; k++) cnnvis__jpeg_upsample_row(rows + (size_t)k * j->width, j, &j->comp[k], y);
        if (j->n_comp == 1) {
            memcpy(dst, rows, (size_t)j->width);
            continue;
        }
        for (x = 0; x < j->width; x++) {
            int luma = rows[x], cb = rows[j->width + x] - 128, cr = rows[2 * j->width + x] - 128;
            if (rgb) {
                dst[3 * x] = (unsigned char)luma, dst[3 * x + 1] = (unsigned char)(cb + 128), dst[3 * x + 2] = (unsigned char)(cr + 128);
                continue;
            }
            dst[3 * x] = cnnvis__jpeg_clamp255(luma + cnnvis__jpeg_descale16(91881 * cr + 32768));
            dst[3 * x + 1] = cnnvis__jpeg_clamp255(luma + cnnvis__jpeg_descale16(-22554 * cb - 46802 * cr + 32768));
            dst[3 * x + 2] = cnnvis__jpeg_clamp255(luma + cnnvis__jpeg_descale16(116130 * cb + 32768));
        }
    }
    cnnvis__free(rows);
    for (k = 0; k < j->n_comp; k++) cnnvis__free(j->comp[k].plane), j->comp[k].plane = NULL;
    return cnnvis__jpeg_orient(im, j->orientation);
}

/* The segments in file order (B.2), until EOI. */
static cnnvis_result cnnvis__jpeg_segments(cnnvis__jpeg *j, cnnvis_image *im, const unsigned char *data, size_t size)
{
    const unsigned char *p = data + 2, *end = data + size;
    for (;;) {
        int marker;
        size_t length;
        const unsigned char *s;
        if (end - p < 2) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: truncated: the file ends before the EOI marker");
        if (p[0] != 0xff)
            return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: expected a marker at byte %zu, found 0x%02x", (size_t)(p - data), p[0]);
        while (end - p >= 3 && p[1] == 0xff) p++; /* fill bytes (a last 0xff is refused below as marker 0xff) */
        marker = p[1], p += 2;
        if (marker == 0xd9) { /* EOI */
            if (!j->n_scans) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: no scan before the EOI marker");
            return cnnvis__jpeg_output(j, im);
        }
        if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue; /* TEM, stray RSTm: no length */
        if (marker == 0xd8 || marker == 0xff || marker == 0x00)
            return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: unexpected marker 0x%02x at byte %zu", marker, (size_t)(p - 2 - data));
        if (end - p < 2) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: truncated: marker 0x%02x has no length", marker);
        length = cnnvis__jpeg_be16(p);
        if (length < 2 || length > (size_t)(end - p))
            return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: truncated: segment 0x%02x of %zu bytes runs past the end of "
                                "the file", marker, length);
        s = p + 2, length -= 2, p += 2 + length;
        if (marker == 0xc0 || marker == 0xc1 || marker == 0xc2) {
            CNNVIS__TRY(cnnvis__jpeg_frame(j, marker, s, length));
        } else if (marker == 0xc9 || marker == 0xca || marker == 0xcb || marker == 0xcd || marker == 0xce ||
                   marker == 0xcf || marker == 0xcc) {
            return marker == 0xcc ? CNNVIS__FAIL(CNNVIS_ERR_UNSUPPORTED, "JPEG: arithmetic coding (DAC) is not supported")
                                  : CNNVIS__FAIL(CNNVIS_ERR_UNSUPPORTED, "JPEG: arithmetic coding (SOF%d) is not supported",
                                                 marker - 0xc0);
        } else if (marker == 0xc3 || marker == 0xc5 || marker == 0xc6 || marker == 0xc7 || marker == 0xc8) {
            return CNNVIS__FAIL(CNNVIS_ERR_UNSUPPORTED, "JPEG: SOF%d (%s) is not supported (baseline and progressive only)",
                                marker - 0xc0, marker == 0xc3 ? "lossless" : marker == 0xc8 ? "reserved" : "hierarchical");
        } else if (marker == 0xdc) {
            return CNNVIS__FAIL(CNNVIS_ERR_UNSUPPORTED, "JPEG: DNL marker (height given after the scan) is not supported");
        } else if (marker == 0xc4 || marker == 0xdb) {
            CNNVIS__TRY(cnnvis__jpeg_tables(j, marker, s, length));
        } else if (marker == 0xdd) {
            if (length != 2) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "JPEG: DRI of %zu bytes (2 expected)", length);
            j->restart_interval = (int)cnnvis__jpeg_be16(s);
        } else if (marker == 0xda) {
            j->p = p, j->end = end;
            CNNVIS__TRY(cnnvis__jpeg_scan_header(j, s, length));
            p = j->p; /* the reader stops at the next marker; skip what a scan left unread */
            while (end - p >= 2 && !(p[0] == 0xff && p[1] != 0 && !(p[1] >= 0xd0 && p[1] <= 0xd7))) p++;
        } else if (marker == 0xe0) {
            if (length >= 5 && memcmp(s, "JFIF\0", 5) == 0) j->jfif = 1;
        } else if (marker == 0xe1) {
            if (!j->orientation) j->orientation = cnnvis__jpeg_exif_orientation(s, length);
        } else if (marker == 0xee) {
            if (length >= 12 && memcmp(s, "Adobe", 5) == 0) j->adobe = 1, j->adobe_transform = s[11];
        } /* other APPn, COM, JPGn: skipped */
    }
}

/* The decoder's state (13 KB, mostly Huffman lookup tables) lives on the stack: nothing is
   allocated until the frame header has passed the size limits. */
static cnnvis_result cnnvis__jpeg_decode(cnnvis_image *im, const unsigned char *data, size_t size)
{
    cnnvis__jpeg j;
    cnnvis_result r;
    int x, u, k;
    if (size < 4 || data[0] != 0xff || data[1] != 0xd8)
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "not a JPEG file (no SOI marker FF D8)");
    memset(&j, 0, sizeof j);
    for (x = 0; x < 8; x++)
        for (u = 0; u < 8; u++)
            j.cosine[x][u] = (float)((u ? 0.5 : 0.5 / sqrt(2.0)) * cos((2 * x + 1) * u * 3.14159265358979323846 / 16));
#ifdef CNNVIS_FORCE_REFERENCE
    j.reference_idct = 1;
#endif
    r = cnnvis__jpeg_segments(&j, im, data, size);
    for (k = 0; k < 3; k++) cnnvis__free(j.comp[k].plane), cnnvis__free(j.comp[k].coef);
    if (r != CNNVIS_OK) cnnvis_image_free(im);
    return r;
}

static cnnvis_result cnnvis__image_read_memory(cnnvis_image *im, const void *data, size_t size)
{
    const unsigned char *d = (const unsigned char *)data;
    if (!im) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_image_read: im is NULL");
    memset(im, 0, sizeof *im);
    if (!d) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_image_read: data is NULL");
    if (size >= 8 && d[0] == 0x89 && d[1] == 'P' && d[2] == 'N' && d[3] == 'G') return cnnvis__png_decode(im, d, size);
    if (size >= 2 && d[0] == 'P' && d[1] >= '1' && d[1] <= '6') return cnnvis__pnm_decode(im, d, size);
    if (size >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff) return cnnvis__jpeg_decode(im, d, size);
    return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "unknown image format: expected a PNG, a JPEG or a P2/P3/P5/P6 header");
}

CNNVIS__DEF cnnvis_result cnnvis_image_read(cnnvis_image *im, const char *path)
{
    unsigned char *buf;
    size_t size;
    cnnvis_result r;
    if (im) memset(im, 0, sizeof *im);
    CNNVIS__TRY(cnnvis__file_read(path, (size_t)1 << 30, &buf, &size));
    r = cnnvis__image_read_memory(im, buf, size);
    if (r != CNNVIS_OK) r = CNNVIS__FAIL(r, "%s: %s", path, cnnvis_last_error());
    cnnvis__free(buf);
    return r;
}

static cnnvis_result cnnvis__pnm_encode(const cnnvis_image *im, int ascii, int maxval, unsigned char **out, size_t *size)
{
    char header[64];
    size_t count, bytes, i;
    int n;
    unsigned char *buf, *p;
    if (!out || !size) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__pnm_encode: NULL output");
    *out = NULL, *size = 0;
    CNNVIS__TRY(cnnvis__check_image("cnnvis__pnm_encode", im));
    if (maxval == 0) maxval = 255;
    if (maxval < 1 || maxval > 65535) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__pnm_encode: maxval %d (1..65535)", maxval);
    n = snprintf(header, sizeof header, "P%d\n%d %d\n%d\n", im->c == 3 ? (ascii ? 3 : 6) : (ascii ? 2 : 5), im->w, im->h, maxval);
    count = (size_t)im->w * im->h * im->c;
    bytes = (size_t)n + count * (ascii ? 6 : maxval > 255 ? 2 : 1) + 1; /* ascii: "65535" + separator; +1 for sprintf's zero */
    p = buf = (unsigned char *)CNNVIS_MALLOC(bytes);
    if (!buf) return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis__pnm_encode: out of memory");
    memcpy(p, header, (size_t)n), p += n;
    for (i = 0; i < count; i++) {
        unsigned v = ((unsigned)im->px[i] * (unsigned)maxval + 127) / 255;
        if (ascii) p += sprintf((char *)p, "%u%c", v, (i + 1) % (size_t)(im->w * im->c) == 0 ? '\n' : ' ');
        else if (maxval > 255) *p++ = (unsigned char)(v >> 8), *p++ = (unsigned char)v;
        else *p++ = (unsigned char)v;
    }
    *out = buf, *size = (size_t)(p - buf);
    return CNNVIS_OK;
}

/* Each row goes through the PNG filter (0 none, 1 sub, 2 up, 3 average, 4 Paeth) whose output
   has the smallest sum of |byte| read as signed (libpng's heuristic: small differences
   repeat, and compress), then the whole image through deflate. */
static void cnnvis__png_filter_row(unsigned char *dst, const unsigned char *row, const unsigned char *above, size_t n, int bpp)
{
    long sum[5] = {0, 0, 0, 0, 0};
    int f, best = 0;
    size_t x;
    for (x = 0; x < n; x++) { /* every filter's sum in one pass, then the winner written */
        int a = x >= (size_t)bpp ? row[x - bpp] : 0, b = above ? above[x] : 0;
        int c = above && x >= (size_t)bpp ? above[x - bpp] : 0;
        int pred[5], v;
        pred[0] = 0, pred[1] = a, pred[2] = b, pred[3] = (a + b) / 2, pred[4] = cnnvis__paeth(a, b, c);
        for (f = 0; f < 5; f++) {
            v = (unsigned char)(row[x] - pred[f]);
            sum[f] += v < 128 ? v : 256 - v;
        }
    }
    for (f = 1; f < 5; f++)
        if (sum[f] < sum[best]) best = f;
    dst[0] = (unsigned char)best;
    for (x = 0; x < n; x++) {
        int a = x >= (size_t)bpp ? row[x - bpp] : 0, b = above ? above[x] : 0;
        int c = above && x >= (size_t)bpp ? above[x - bpp] : 0;
        int pred = best == 1 ? a : best == 2 ? b : best == 3 ? (a + b) / 2 : best == 4 ? cnnvis__paeth(a, b, c) : 0;
        dst[1 + x] = (unsigned char)(row[x] - pred);
    }
}

static cnnvis_result cnnvis__png_encode(const cnnvis_image *im, unsigned char **out, size_t *size)
{
    size_t row = 0, raw_size, cap, z_size, total, y;
    unsigned char *buf = NULL, *p, *idat, *raw;
    if (!out || !size) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__png_encode: NULL output");
    *out = NULL, *size = 0;
    CNNVIS__TRY(cnnvis__check_image("cnnvis__png_encode", im));
    row = (size_t)im->w * im->c;
    raw_size = im->h * (row + 1);             /* a filter byte before each row */
    cap = raw_size + raw_size / 2 + 64;       /* a fixed-code block never takes 1.5 times its input */
    raw = (unsigned char *)CNNVIS_MALLOC(raw_size);
    buf = (unsigned char *)CNNVIS_MALLOC(8 + 25 + 12 + 2 + cap + 4 + 12);
    if (!buf || !raw) {
        cnnvis__free(buf), cnnvis__free(raw);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis__png_encode: out of memory");
    }
    for (y = 0; y < (size_t)im->h; y++)
        cnnvis__png_filter_row(raw + y * (row + 1), im->px + y * row, y ? im->px + (y - 1) * row : NULL, row, im->c);
    p = buf;
    memcpy(p, "\x89PNG\r\n\x1a\n", 8), p += 8;
    p = cnnvis__put_be32(p, 13);
    memcpy(p, "IHDR", 4);
    cnnvis__put_be32(p + 4, (uint32_t)im->w), cnnvis__put_be32(p + 8, (uint32_t)im->h);
    p[12] = 8, p[13] = im->c == 3 ? 2 : 0, p[14] = p[15] = p[16] = 0; /* 8 bits, RGB or grey */
    cnnvis__put_be32(p + 17, cnnvis__crc32(0, p, 17)), p += 21;
    idat = p + 4;
    memcpy(idat, "IDAT", 4);
    idat[4] = 0x78, idat[5] = 0x01; /* zlib: deflate, 32K window, no dictionary (0x7801 % 31 == 0) */
    z_size = cnnvis__deflate(idat + 6, cap, raw, raw_size);
    if (!z_size) {
        cnnvis__free(buf), cnnvis__free(raw);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis__png_encode: out of memory");
    }
    cnnvis__put_be32(idat + 6 + z_size, cnnvis__adler32(1, raw, raw_size));
    cnnvis__put_be32(p, (uint32_t)(2 + z_size + 4));
    p = idat + 6 + z_size + 4;
    p = cnnvis__put_be32(p, cnnvis__crc32(0, idat, (size_t)(p - idat)));
    p = cnnvis__put_be32(p, 0);
    memcpy(p, "IEND", 4);
    p = cnnvis__put_be32(p + 4, cnnvis__crc32(0, p, 4));
    total = (size_t)(p - buf);
    cnnvis__free(raw);
    *out = buf, *size = total;
    return CNNVIS_OK;
}

static int cnnvis__ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix), i;
    if (ls < lx) return 0;
    for (i = 0; i < lx; i++) {
        char a = s[ls - lx + i];
        if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
        if (a != suffix[i]) return 0;
    }
    return 1;
}

CNNVIS__DEF cnnvis_result cnnvis_image_write(const char *path, const cnnvis_image *im)
{
    unsigned char *buf;
    size_t size;
    cnnvis_result r;
    if (!path) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_image_write: path is NULL");
    if (cnnvis__ends_with(path, ".png")) CNNVIS__TRY(cnnvis__png_encode(im, &buf, &size));
    else if (cnnvis__ends_with(path, ".ppm") || cnnvis__ends_with(path, ".pgm") || cnnvis__ends_with(path, ".pnm"))
        CNNVIS__TRY(cnnvis__pnm_encode(im, 0, 255, &buf, &size));
    else return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_image_write: %s: the name must end in .png, .ppm, .pgm or .pnm", path);
    r = cnnvis__file_write(path, buf, size);
    cnnvis__free(buf);
    return r;
}

CNNVIS__DEF cnnvis_result cnnvis_image_to_pixels(cnnvis_tensor *pixels, const cnnvis_image *im, int c, int h, int w)
{
    cnnvis_image scaled, cropped;
    int rw, rh, ch, px;
    double scale;
    cnnvis_result r;
    if (!pixels) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_image_to_pixels: pixels is NULL");
    memset(pixels, 0, sizeof *pixels);
    CNNVIS__TRY(cnnvis__check_image("cnnvis_image_to_pixels", im));
    if (c != 1 && c != 3) return CNNVIS__FAIL(CNNVIS_ERR_UNSUPPORTED, "cnnvis_image_to_pixels: %d channels (1 or 3 here)", c);
    if (h < 1 || w < 1 || h > CNNVIS_IMAGE_MAX_SIDE || w > CNNVIS_IMAGE_MAX_SIDE)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_image_to_pixels: size %dx%d is not in 1..%d", w, h, CNNVIS_IMAGE_MAX_SIDE);
    scale = CNNVIS__MAX((double)w / im->w, (double)h / im->h);
    rw = CNNVIS__MAX(w, (int)(im->w * scale + 0.5)), rh = CNNVIS__MAX(h, (int)(im->h * scale + 0.5));
    CNNVIS__TRY(cnnvis_image_resize(&scaled, im, rw, rh, scale < 1 ? CNNVIS_RESIZE_AREA : CNNVIS_RESIZE_BILINEAR));
    r = cnnvis__image_crop(&cropped, &scaled, (rw - w) / 2, (rh - h) / 2, w, h);
    cnnvis_image_free(&scaled);
    CNNVIS__TRY(r);
    r = cnnvis_tensor_create(pixels, 1, c, h, w);
    for (ch = 0; ch < c && r == CNNVIS_OK; ch++) {
        float *dst = pixels->data + (size_t)ch * h * w;
        for (px = 0; px < w * h; px++) {
            const unsigned char *s = cropped.px + (size_t)px * cropped.c;
            float v = cropped.c == c ? s[ch] : c == 1 ? 0.299f * s[0] + 0.587f * s[1] + 0.114f * s[2] : s[0];
            dst[px] = v / 255.0f;
        }
    }
    cnnvis_image_free(&cropped);
    return r;
}

static cnnvis_result cnnvis__dataset_image(cnnvis_image *im, const cnnvis_dataset *ds, int i)
{
    int ch, px;
    if (!ds) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__dataset_image: ds is NULL");
    if (!ds || !ds->px || i < 0 || i >= ds->n)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__dataset_image: image %d is not in the data set (%d images)", i, ds ? ds->n : 0);
    if (ds->c != 1 && ds->c != 3) return CNNVIS__FAIL(CNNVIS_ERR_UNSUPPORTED, "cnnvis__dataset_image: %d channels", ds->c);
    CNNVIS__TRY(cnnvis_image_create(im, ds->w, ds->h, ds->c));
    for (ch = 0; ch < ds->c; ch++)
        for (px = 0; px < ds->w * ds->h; px++)
            im->px[(size_t)px * ds->c + ch] = ds->px[((size_t)i * ds->c + ch) * ds->w * ds->h + px];
    return CNNVIS_OK;
}

/* --- CIFAR-10 -------------------------------------------------------------------------------- */

#define CNNVIS__CIFAR_RECORD 3073
#define CNNVIS__CIFAR_MAX 100000

static const char *cnnvis__cifar_names[10] = {"airplane", "automobile", "bird", "cat", "deer",
                                              "dog",      "frog",       "horse", "ship", "truck"};

static cnnvis_result cnnvis__cifar_parse(cnnvis_dataset *ds, int at, const unsigned char *data, size_t size)
{
    size_t i, n = size / CNNVIS__CIFAR_RECORD;
    for (i = 0; i < n; i++) {
        const unsigned char *rec = data + i * CNNVIS__CIFAR_RECORD;
        if (rec[0] > 9) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "CIFAR-10: record %zu has label %d (0..9)", i, rec[0]);
        ds->labels[at + (int)i] = rec[0];
        memcpy(ds->px + (size_t)(at + (int)i) * 3072, rec + 1, 3072); /* already (C, H, W) */
    }
    return CNNVIS_OK;
}

static cnnvis_result cnnvis__cifar_alloc(cnnvis_dataset *ds, size_t n)
{
    int k;
    if (n < 1 || n > CNNVIS__CIFAR_MAX) return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "CIFAR-10: %zu images (1..%d)", n, CNNVIS__CIFAR_MAX);
    CNNVIS__TRY(cnnvis__dataset_alloc(ds, (int)n, 3, 32, 32, 10, 0));
    for (k = 0; k < 10; k++) cnnvis__copy_name(ds->class_names + (size_t)k * CNNVIS_CLASS_LEN, CNNVIS_CLASS_LEN, cnnvis__cifar_names[k]);
    return CNNVIS_OK;
}

CNNVIS__TESTED cnnvis_result cnnvis__cifar10_load_memory(cnnvis_dataset *ds, const void *data, size_t size)
{
    cnnvis_result r;
    if (!ds) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_cifar10_load: ds is NULL");
    memset(ds, 0, sizeof *ds);
    if (!data) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_cifar10_load: data is NULL");
    if (size == 0 || size % CNNVIS__CIFAR_RECORD)
        return CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "CIFAR-10: %zu bytes is not a whole number of %d-byte records (truncated, or "
                            "not a binary batch?)", size, CNNVIS__CIFAR_RECORD);
    CNNVIS__TRY(cnnvis__cifar_alloc(ds, size / CNNVIS__CIFAR_RECORD));
    r = cnnvis__cifar_parse(ds, 0, (const unsigned char *)data, size);
    if (r != CNNVIS_OK) cnnvis_dataset_free(ds);
    return r;
}

CNNVIS__DEF cnnvis_result cnnvis_cifar10_load(cnnvis_dataset *ds, const char *const *paths, int n_paths)
{
    unsigned char *bufs[16];
    size_t sizes[16], total = 0;
    int k, at = 0;
    cnnvis_result r = CNNVIS_OK;
    if (!ds) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_cifar10_load: ds is NULL");
    memset(ds, 0, sizeof *ds);
    if (!paths) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_cifar10_load: paths is NULL");
    if (!paths || n_paths < 1 || n_paths > 16) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_cifar10_load: 1..16 files, not %d", n_paths);
    memset(bufs, 0, sizeof bufs);
    for (k = 0; k < n_paths && r == CNNVIS_OK; k++) {
        r = cnnvis__file_read(paths[k], (size_t)CNNVIS__CIFAR_MAX * CNNVIS__CIFAR_RECORD, &bufs[k], &sizes[k]);
        if (r == CNNVIS_OK && (sizes[k] == 0 || sizes[k] % CNNVIS__CIFAR_RECORD))
            r = CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "%s: %zu bytes is not a whole number of %d-byte CIFAR-10 records", paths[k],
                             sizes[k], CNNVIS__CIFAR_RECORD);
        if (r == CNNVIS_OK) total += sizes[k] / CNNVIS__CIFAR_RECORD;
    }
    if (r == CNNVIS_OK) r = cnnvis__cifar_alloc(ds, total);
    for (k = 0; k < n_paths && r == CNNVIS_OK; k++) {
        r = cnnvis__cifar_parse(ds, at, bufs[k], sizes[k]);
        if (r != CNNVIS_OK) r = CNNVIS__FAIL(r, "%s: %s", paths[k], cnnvis_last_error());
        at += (int)(sizes[k] / CNNVIS__CIFAR_RECORD);
    }
    for (k = 0; k < n_paths; k++) cnnvis__free(bufs[k]);
    if (r != CNNVIS_OK) cnnvis_dataset_free(ds);
    return r;
}

/* --- Data sets as pixels ---------------------------------------------------------------- */

/* Images [begin, begin+m) of ds as pixels in [0, 1], and their labels (may be NULL). */
static void cnnvis__dataset_pixels(float *dst, int32_t *labels, const cnnvis_dataset *ds, int begin, int m)
{
    size_t count = (size_t)ds->c * ds->h * ds->w, q;
    const unsigned char *src = ds->px + (size_t)begin * count;
    int i;
    for (q = 0; q < count * (size_t)m; q++) dst[q] = src[q] * (1.0f / 255.0f);
    for (i = 0; labels && i < m; i++) labels[i] = ds->labels[begin + i];
}

CNNVIS__DEF cnnvis_result cnnvis_dataset_pixels(cnnvis_tensor *pixels, int32_t *labels, const cnnvis_dataset *ds, int begin,
                                                int count)
{
    if (!pixels) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_dataset_pixels: pixels is NULL");
    memset(pixels, 0, sizeof *pixels);
    CNNVIS__TRY(cnnvis__check_dataset("cnnvis_dataset_pixels", ds, NULL));
    if (begin < 0 || count < 1 || begin > ds->n - count)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_dataset_pixels: images [%d, %lld) are not in the data set's [0, %d)", begin,
                            (long long)begin + count, ds->n);
    CNNVIS__TRY(cnnvis_tensor_create(pixels, count, ds->c, ds->h, ds->w));
    cnnvis__dataset_pixels(pixels->data, labels, ds, begin, count);
    return CNNVIS_OK;
}
CNNVIS__DEF cnnvis_result cnnvis_dataset_from_files(cnnvis_dataset *ds, const char *const *image_paths,
                                                    const char *const *label_paths, int n, int w, int h,
                                                    const char *category, const char *const *concept_names, int n_concepts)
{
    int i, k, ch;
    size_t pixels = (size_t)w * h, q;
    cnnvis_result r = CNNVIS_OK;
    if (!ds) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_dataset_from_files: ds is NULL");
    memset(ds, 0, sizeof *ds);
    if (!image_paths) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_dataset_from_files: image_paths is NULL");
    if (!image_paths || n < 1 || w < 1 || h < 1 || w > 4096 || h > 4096 || (label_paths && (n_concepts < 1 || n_concepts > 254)))
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_dataset_from_files: %d images of %dx%d (1..4096 a side), %d concepts (1..254)",
                            n, w, h, n_concepts);
    CNNVIS__TRY(cnnvis__dataset_alloc(ds, n, 3, h, w, 1, label_paths ? 1 : 0));
    if (label_paths) {
        ds->concept_names = (char *)cnnvis__alloc((size_t)n_concepts * CNNVIS_NAME_LEN);
        if (!ds->concept_names) r = CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_dataset_from_files: out of memory");
        for (k = 0; k < n_concepts && r == CNNVIS_OK; k++) {
            char fallback[16];
            snprintf(fallback, sizeof fallback, "%d", k);
            cnnvis__copy_name(ds->concept_names + (size_t)k * CNNVIS_NAME_LEN, CNNVIS_NAME_LEN,
                              concept_names && concept_names[k] ? concept_names[k] : fallback);
        }
        cnnvis__copy_name(ds->category_names[0], CNNVIS_NAME_LEN, category ? category : "labels");
        ds->n_concepts[0] = n_concepts;
    }
    cnnvis__copy_name(ds->class_names, CNNVIS_CLASS_LEN, "image");
    for (i = 0; i < n && r == CNNVIS_OK; i++) {
        cnnvis_image im, sized;
        r = cnnvis_image_read(&im, image_paths[i]);
        if (r != CNNVIS_OK) break;
        r = cnnvis_image_resize(&sized, &im, w, h, im.w > w ? CNNVIS_RESIZE_AREA : CNNVIS_RESIZE_BILINEAR);
        cnnvis_image_free(&im);
        if (r != CNNVIS_OK) break;
        for (ch = 0; ch < 3; ch++)
            for (q = 0; q < pixels; q++) ds->px[((size_t)i * 3 + ch) * pixels + q] = sized.px[q * sized.c + (sized.c == 3 ? ch : 0)];
        cnnvis_image_free(&sized);
        if (label_paths) {
            r = cnnvis_image_read(&im, label_paths[i]);
            if (r == CNNVIS_OK && im.c != 1) {
                cnnvis_image_free(&im);
                r = CNNVIS__FAIL(CNNVIS_ERR_FORMAT, "%s: a label map must be a one-channel image (PGM or grey PNG)", label_paths[i]);
            }
            if (r == CNNVIS_OK) r = cnnvis_image_resize(&sized, &im, w, h, CNNVIS_RESIZE_NEAREST);
            cnnvis_image_free(&im);
            if (r != CNNVIS_OK) break;
            for (q = 0; q < pixels; q++) /* indices beyond the concepts count as unlabelled */
                ds->concepts[(size_t)i * pixels + q] = sized.px[q] < n_concepts ? sized.px[q] : 255;
            cnnvis_image_free(&sized);
        }
    }
    if (r != CNNVIS_OK) cnnvis_dataset_free(ds);
    return r;
}

/* ======================================================================================
   B4  Appendix: drawing kit and the concept images                           >>b4_drawing
   resizing, colour maps, montages, text, plots; the built-in pixel-labelled images
   ====================================================================================== */

/* --- Resizing -------------------------------------------------------------------------- */

/* One output coordinate of a bilinear resize: the two source samples and the weight of the
   second (pixel centres line up: src = (dst + 0.5) * in / out - 0.5, clamped). */
static void cnnvis__bilinear_at(int d, int out, int in, int *i0, int *i1, float *t)
{
    float s = ((float)d + 0.5f) * (float)in / (float)out - 0.5f;
    if (s < 0) s = 0;
    if (s > (float)(in - 1)) s = (float)(in - 1);
    *i0 = (int)s;
    *i1 = *i0 + 1 < in ? *i0 + 1 : *i0;
    *t = s - (float)*i0;
}

/* out[dy][dx] from src plane (h, w) with the given channel stride: float in, float out. */
static float cnnvis__sample(const float *src, int w, int h, int stride, int dx, int dy, int dw, int dh, cnnvis_resize mode)
{
    if (mode == CNNVIS_RESIZE_NEAREST) {
        int sx = (int)(((float)dx + 0.5f) * (float)w / (float)dw), sy = (int)(((float)dy + 0.5f) * (float)h / (float)dh);
        return src[((size_t)CNNVIS__MIN(sy, h - 1) * w + CNNVIS__MIN(sx, w - 1)) * stride];
    }
    if (mode == CNNVIS_RESIZE_AREA) { /* integrate over [x0, x1) x [y0, y1) in source pixels */
        double x0 = (double)dx * w / dw, x1 = (double)(dx + 1) * w / dw, y0 = (double)dy * h / dh, y1 = (double)(dy + 1) * h / dh;
        double sum = 0, area = (x1 - x0) * (y1 - y0);
        int sx, sy;
        for (sy = (int)y0; sy < h && sy < y1; sy++) {
            double wy = CNNVIS__MIN(y1, sy + 1.0) - CNNVIS__MAX(y0, (double)sy);
            for (sx = (int)x0; sx < w && sx < x1; sx++) {
                double wx = CNNVIS__MIN(x1, sx + 1.0) - CNNVIS__MAX(x0, (double)sx);
                sum += wx * wy * src[((size_t)sy * w + sx) * stride];
            }
        }
        return (float)(sum / area);
    }
    {
        int x0, x1, y0, y1;
        float tx, ty, top, bottom;
        cnnvis__bilinear_at(dx, dw, w, &x0, &x1, &tx);
        cnnvis__bilinear_at(dy, dh, h, &y0, &y1, &ty);
        top = src[((size_t)y0 * w + x0) * stride] * (1 - tx) + src[((size_t)y0 * w + x1) * stride] * tx;
        bottom = src[((size_t)y1 * w + x0) * stride] * (1 - tx) + src[((size_t)y1 * w + x1) * stride] * tx;
        return top * (1 - ty) + bottom * ty;
    }
}

/* cnnvis__sample's bilinear case over a whole plane, with each column's weights worked out
   once rather than on every row (Network Dissection upsamples millions of maps). */
static void cnnvis__resize_bilinear(float *dst, int dw, int dh, const float *src, int w, int h)
{
    int x0[256], x1[256], x, y, begin;
    float tx[256];
    for (begin = 0; begin < dw; begin += 256) {
        int n = CNNVIS__MIN(256, dw - begin);
        for (x = 0; x < n; x++) cnnvis__bilinear_at(begin + x, dw, w, &x0[x], &x1[x], &tx[x]);
        for (y = 0; y < dh; y++) {
            const float *row0, *row1;
            float *out = dst + (size_t)y * dw + begin, ty;
            int y0, y1;
            cnnvis__bilinear_at(y, dh, h, &y0, &y1, &ty);
            row0 = src + (size_t)y0 * w, row1 = src + (size_t)y1 * w;
            for (x = 0; x < n; x++) {
                float top = row0[x0[x]] * (1 - tx[x]) + row0[x1[x]] * tx[x];
                float bottom = row1[x0[x]] * (1 - tx[x]) + row1[x1[x]] * tx[x];
                out[x] = top * (1 - ty) + bottom * ty;
            }
        }
    }
}

CNNVIS__DEF void cnnvis_plane_resize(float *dst, int dw, int dh, const float *src, int w, int h, cnnvis_resize mode)
{
    int x, y;
    if (!dst || !src || w < 1 || h < 1) return; /* nothing to resize (no status to report) */
    if (mode == CNNVIS_RESIZE_BILINEAR) {
        cnnvis__resize_bilinear(dst, dw, dh, src, w, h);
        return;
    }
    for (y = 0; y < dh; y++)
        for (x = 0; x < dw; x++) dst[(size_t)y * dw + x] = cnnvis__sample(src, w, h, 1, x, y, dw, dh, mode);
}

CNNVIS__DEF cnnvis_result cnnvis_image_resize(cnnvis_image *dst, const cnnvis_image *src, int w, int h, cnnvis_resize mode)
{
    float *plane;
    int ch, x, y;
    size_t i, n;
    CNNVIS__TRY(cnnvis__check_image("cnnvis_image_resize", src));
    if (!dst) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_image_resize: dst is NULL");
    if ((int)mode < 0 || mode > CNNVIS_RESIZE_NEAREST) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_image_resize: mode %d", (int)mode);
    n = (size_t)src->w * src->h * src->c;
    plane = (float *)CNNVIS_MALLOC(sizeof(float) * n);
    if (!plane) return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_image_resize: out of memory");
    {
        cnnvis_result r = cnnvis_image_create(dst, w, h, src->c);
        if (r != CNNVIS_OK) {
            CNNVIS_FREE(plane);
            return r;
        }
    }
    for (i = 0; i < n; i++) plane[i] = src->px[i];
    for (ch = 0; ch < src->c; ch++)
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++) {
                float v = cnnvis__sample(plane + ch, src->w, src->h, src->c, x, y, w, h, mode);
                dst->px[((size_t)y * w + x) * src->c + ch] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5f);
            }
    CNNVIS_FREE(plane);
    return CNNVIS_OK;
}

static cnnvis_result cnnvis__image_crop(cnnvis_image *dst, const cnnvis_image *src, int x, int y, int w, int h)
{
    int row;
    CNNVIS__TRY(cnnvis__check_image("cnnvis__image_crop", src));
    if (!dst) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__image_crop: dst is NULL");
    if (x < 0 || y < 0 || w < 1 || h < 1 || x > src->w - w || y > src->h - h)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__image_crop: %dx%d at (%d, %d) is not inside the %dx%d image", w, h, x, y,
                            src->w, src->h);
    CNNVIS__TRY(cnnvis_image_create(dst, w, h, src->c));
    for (row = 0; row < h; row++)
        memcpy(dst->px + (size_t)row * w * src->c, src->px + ((size_t)(y + row) * src->w + x) * src->c, (size_t)w * src->c);
    return CNNVIS_OK;
}

/* --- The drawing kit ------------------------------------------------------------------------ */

/* The built-in font (original, public domain like the rest): 5x7 dots in a 6x8 cell. */
static const unsigned char cnnvis__font[95][7] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* ' ' */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04}, /* '!' */
    {0x0A, 0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00}, /* '"' */
    {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A}, /* '#' */
    {0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04}, /* '$' */
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}, /* '%' */
    {0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D}, /* '&' */
    {0x04, 0x04, 0x04, 0x00, 0x00, 0x00, 0x00}, /* ''' */
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}, /* '(' */
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}, /* ')' */
    {0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00}, /* asterisk */
    {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}, /* '+' */
    {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}, /* ',' */
    {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}, /* '-' */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}, /* '.' */
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}, /* slash */
    {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, /* '0' */
    {0x04, 0x0C, 0x14, 0x04, 0x04, 0x04, 0x0E}, /* '1' */
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, /* '2' */
    {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}, /* '3' */
    {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, /* '4' */
    {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}, /* '5' */
    {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, /* '6' */
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}, /* '7' */
    {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, /* '8' */
    {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}, /* '9' */
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}, /* ':' */
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08}, /* ';' */
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}, /* '<' */
    {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}, /* '=' */
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}, /* '>' */
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}, /* '?' */
    {0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E}, /* '@' */
    {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}, /* 'A' */
    {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}, /* 'B' */
    {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}, /* 'C' */
    {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}, /* 'D' */
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}, /* 'E' */
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}, /* 'F' */
    {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}, /* 'G' */
    {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}, /* 'H' */
    {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, /* 'I' */
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}, /* 'J' */
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}, /* 'K' */
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}, /* 'L' */
    {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}, /* 'M' */
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}, /* 'N' */
    {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, /* 'O' */
    {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}, /* 'P' */
    {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}, /* 'Q' */
    {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}, /* 'R' */
    {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}, /* 'S' */
    {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, /* 'T' */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, /* 'U' */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}, /* 'V' */
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}, /* 'W' */
    {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}, /* 'X' */
    {0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04}, /* 'Y' */
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}, /* 'Z' */
    {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E}, /* '[' */
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00}, /* backslash */
    {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E}, /* ']' */
    {0x04, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00}, /* '^' */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}, /* '_' */
    {0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00}, /* '`' */
    {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F}, /* 'a' */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E}, /* 'b' */
    {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E}, /* 'c' */
    {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F}, /* 'd' */
    {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E}, /* 'e' */
    {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08}, /* 'f' */
    {0x00, 0x00, 0x0F, 0x11, 0x0F, 0x01, 0x0E}, /* 'g' */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}, /* 'h' */
    {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E}, /* 'i' */
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C}, /* 'j' */
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}, /* 'k' */
    {0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x06}, /* 'l' */
    {0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11}, /* 'm' */
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}, /* 'n' */
    {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E}, /* 'o' */
    {0x00, 0x00, 0x1E, 0x11, 0x11, 0x1E, 0x10}, /* 'p' */
    {0x00, 0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01}, /* 'q' */
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}, /* 'r' */
    {0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E}, /* 's' */
    {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06}, /* 't' */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D}, /* 'u' */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04}, /* 'v' */
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A}, /* 'w' */
    {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11}, /* 'x' */
    {0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E}, /* 'y' */
    {0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F}, /* 'z' */
    {0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02}, /* '{' */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, /* '|' */
    {0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08}, /* '}' */
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00} /* '~' */
};

static void cnnvis__colormap_rgb(cnnvis_colormap cmap, float v, unsigned char rgb[3])
{
    /* Nine stops of each map, sampled from matplotlib's definitions, linearly interpolated. */
    static const unsigned char viridis[9][3] = {{68, 1, 84},    {71, 44, 122},  {59, 81, 139},  {44, 113, 142}, {33, 144, 141},
                                                {39, 173, 129}, {92, 200, 99},  {170, 220, 50}, {253, 231, 37}};
    static const unsigned char inferno[9][3] = {{0, 0, 4},      {31, 12, 72},   {85, 15, 109},  {136, 34, 106}, {186, 54, 85},
                                                {227, 89, 51},  {249, 140, 10}, {249, 201, 50}, {252, 255, 164}};
    static const unsigned char diverging[9][3] = {{59, 76, 192},   {98, 130, 234},  {141, 176, 254}, {184, 208, 249}, {221, 221, 221},
                                                  {245, 196, 173}, {244, 154, 123}, {222, 96, 77},   {180, 4, 38}};
    const unsigned char(*stops)[3] = cmap == CNNVIS_CMAP_VIRIDIS ? viridis : cmap == CNNVIS_CMAP_INFERNO ? inferno : diverging;
    float t;
    int i, k;
    if (!rgb) return;
    if (!(v >= 0)) v = 0; /* NaN too */
    if (v > 1) v = 1;
    if (cmap != CNNVIS_CMAP_VIRIDIS && cmap != CNNVIS_CMAP_INFERNO && cmap != CNNVIS_CMAP_DIVERGING) {
        rgb[0] = rgb[1] = rgb[2] = (unsigned char)(v * 255.0f + 0.5f);
        return;
    }
    t = v * 8.0f;
    i = (int)t < 8 ? (int)t : 7;
    t -= (float)i;
    for (k = 0; k < 3; k++) rgb[k] = (unsigned char)(stops[i][k] + (stops[i + 1][k] - stops[i][k]) * t + 0.5f);
}

static int cnnvis__cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* The p-th percentile (0..100) of n values (a sorted copy; NaN are left out). */
static float cnnvis__percentile(const float *v, size_t n, size_t stride, float p, int absolute)
{
    float *copy = (float *)CNNVIS_MALLOC(sizeof(float) * (n ? n : 1)), result;
    size_t i, m = 0;
    if (!copy) return 0;
    for (i = 0; i < n; i++) {
        float x = absolute ? fabsf(v[i * stride]) : v[i * stride];
        if (x == x) copy[m++] = x;
    }
    if (!m) {
        CNNVIS_FREE(copy);
        return 0;
    }
    qsort(copy, m, sizeof(float), cnnvis__cmp_float);
    result = copy[(size_t)((double)p / 100.0 * (double)(m - 1) + 0.5)];
    CNNVIS_FREE(copy);
    return result;
}

/* Value range [lo, hi] of n values with a stride under a map mode. */
static void cnnvis__map_range(const float *v, size_t n, size_t stride, const cnnvis_map_desc *m, float *lo, float *hi)
{
    size_t i;
    float a = FLT_MAX, b = -FLT_MAX;
    int clip = m->clip_percentile > 50 && m->clip_percentile < 100;
    if (m->mode == CNNVIS_MAP_PIXELS) {
        *lo = 0, *hi = 1;
        return;
    }
    if (m->mode == CNNVIS_MAP_SYMMETRIC) {
        float top = 0;
        if (clip) top = cnnvis__percentile(v, n, stride, m->clip_percentile, 1);
        else
            for (i = 0; i < n; i++)
                if (isfinite(v[i * stride])) top = fabsf(v[i * stride]) > top ? fabsf(v[i * stride]) : top;
        *lo = -top, *hi = top;
        return;
    }
    if (clip) {
        *lo = cnnvis__percentile(v, n, stride, 100 - m->clip_percentile, 0);
        *hi = cnnvis__percentile(v, n, stride, m->clip_percentile, 0);
        return;
    }
    for (i = 0; i < n; i++) { /* NaN and infinities are left out: they would flatten everything else */
        if (!isfinite(v[i * stride])) continue;
        if (v[i * stride] < a) a = v[i * stride];
        if (v[i * stride] > b) b = v[i * stride];
    }
    *lo = a <= b ? a : 0, *hi = a <= b ? b : 0;
}

static float cnnvis__map_value(float v, float lo, float hi)
{
    if (!(hi > lo) || !isfinite(hi - lo)) return 0.5f; /* a flat map: mid-grey, not a division by zero */
    v = (v - lo) / (hi - lo);
    return !(v >= 0) ? 0 : v > 1 ? 1 : v; /* NaN -> 0 */
}

static cnnvis_result cnnvis__planes_to_image(cnnvis_image *im, const float *data, int c, int w, int h, const cnnvis_map_desc *md)
{
    cnnvis_map_desc m;
    size_t plane = (size_t)w * h, px;
    float lo = 0, hi = 0;
    int ch;
    if (!im) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "tensor to image: im is NULL");
    memset(&m, 0, sizeof m);
    if (md) m = *md;
    if ((int)m.mode < 0 || m.mode > CNNVIS_MAP_PIXELS || (int)m.cmap < 0 || m.cmap > CNNVIS_CMAP_INFERNO ||
        (m.clip_percentile != 0 && !(m.clip_percentile > 50 && m.clip_percentile < 100)))
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "tensor to image: mode %d, colormap %d or clip percentile %g invalid (clip in (50, 100))",
                            (int)m.mode, (int)m.cmap, m.clip_percentile);
    if (c != 1 && c != 3) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "tensor to image: %d channels (1 or 3; take a channel view)", c);
    CNNVIS__TRY(cnnvis_image_create(im, w, h, c == 1 && m.cmap == CNNVIS_CMAP_GREY ? 1 : 3));
    if (m.mode != CNNVIS_MAP_CHANNEL) cnnvis__map_range(data, plane * c, 1, &m, &lo, &hi);
    for (ch = 0; ch < c; ch++) {
        const float *src = data + (size_t)ch * plane;
        if (m.mode == CNNVIS_MAP_CHANNEL) cnnvis__map_range(src, plane, 1, &m, &lo, &hi);
        for (px = 0; px < plane; px++) {
            float v = cnnvis__map_value(src[px], lo, hi);
            if (c == 3) im->px[px * 3 + ch] = (unsigned char)(v * 255.0f + 0.5f);
            else if (im->c == 1) im->px[px] = (unsigned char)(v * 255.0f + 0.5f);
            else cnnvis__colormap_rgb(m.cmap, v, im->px + px * 3);
        }
    }
    return CNNVIS_OK;
}

CNNVIS__DEF cnnvis_result cnnvis_tensor_to_image(cnnvis_image *im, const cnnvis_tensor *t, int i, const cnnvis_map_desc *m)
{
    if (!t || !t->data) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_tensor_to_image: t or t->data is NULL");
    if (!t || !t->data || i < 0 || i >= t->n)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_tensor_to_image: no image %d in the tensor", i);
    return cnnvis__planes_to_image(im, t->data + (size_t)i * t->c * t->h * t->w, t->c, t->w, t->h, m);
}

static cnnvis_result cnnvis__plane_to_image(cnnvis_image *im, const float *plane, int w, int h, const cnnvis_map_desc *m)
{
    if (!plane) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__plane_to_image: plane is NULL");
    if (!plane || w < 1 || h < 1) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__plane_to_image: empty plane");
    return cnnvis__planes_to_image(im, plane, 1, w, h, m);
}

static void cnnvis__put_pixel(cnnvis_image *im, int x, int y, const unsigned char rgb[3])
{
    unsigned char *p;
    if (x < 0 || y < 0 || x >= im->w || y >= im->h) return;
    p = im->px + ((size_t)y * im->w + x) * im->c;
    if (im->c == 3) p[0] = rgb[0], p[1] = rgb[1], p[2] = rgb[2];
    else p[0] = (unsigned char)((rgb[0] * 77 + rgb[1] * 150 + rgb[2] * 29) >> 8);
}

CNNVIS__DEF void cnnvis_image_fill(cnnvis_image *im, int x, int y, int w, int h, const unsigned char rgb[3])
{
    int i, j;
    if (!im || !im->px || !rgb) return;
    for (j = CNNVIS__MAX(y, 0); j < y + h && j < im->h; j++)
        for (i = CNNVIS__MAX(x, 0); i < x + w && i < im->w; i++) cnnvis__put_pixel(im, i, j, rgb);
}

/* Bresenham's line, clipped pixel by pixel. */
CNNVIS__DEF void cnnvis_image_line(cnnvis_image *im, int x0, int y0, int x1, int y1, const unsigned char rgb[3])
{
    int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy, steps = 0;
    if (!im || !im->px || !rgb) return;
    for (;;) {
        int e2 = 2 * err;
        cnnvis__put_pixel(im, x0, y0, rgb);
        if ((x0 == x1 && y0 == y1) || ++steps > 1 << 16) break;
        if (e2 >= dy) err += dy, x0 += sx;
        if (e2 <= dx) err += dx, y0 += sy;
    }
}

static void cnnvis__image_paste(cnnvis_image *dst, const cnnvis_image *src, int x, int y)
{
    int i, j;
    if (!dst || !dst->px || !src || !src->px) return;
    for (j = 0; j < src->h; j++)
        for (i = 0; i < src->w; i++) {
            const unsigned char *s = src->px + ((size_t)j * src->w + i) * src->c;
            unsigned char rgb[3];
            rgb[0] = s[0], rgb[1] = src->c == 3 ? s[1] : s[0], rgb[2] = src->c == 3 ? s[2] : s[0];
            cnnvis__put_pixel(dst, x + i, y + j, rgb);
        }
}

CNNVIS__DEF void cnnvis_image_text(cnnvis_image *im, int x, int y, const char *text, const unsigned char rgb[3], int scale)
{
    int cx = x, row, col, sx, sy;
    if (!im || !im->px || !text || !rgb) return;
    if (scale < 1) scale = 1;
    for (; *text; text++) {
        unsigned char ch = (unsigned char)*text;
        if (ch == '\n') {
            cx = x, y += 8 * scale;
            continue;
        }
        if (ch < 32 || ch > 126) ch = '?';
        for (row = 0; row < 7; row++)
            for (col = 0; col < 5; col++)
                if (cnnvis__font[ch - 32][row] & (0x10 >> col))
                    for (sy = 0; sy < scale; sy++)
                        for (sx = 0; sx < scale; sx++) cnnvis__put_pixel(im, cx + col * scale + sx, y + row * scale + sy, rgb);
        cx += 6 * scale;
    }
}

static int cnnvis__text_width(const char *text, int scale)
{
    int best = 0, len = 0;
    if (!text) return 0;
    if (scale < 1) scale = 1;
    for (; *text; text++) {
        len = *text == '\n' ? 0 : len + 1;
        best = len > best ? len : best;
    }
    return best ? (best * 6 - 1) * scale : 0;
}

static int cnnvis__text_lines(const char *text)
{
    int lines = 1;
    if (!text || !*text) return 0;
    for (; *text; text++) lines += *text == '\n' && text[1];
    return lines;
}

/* text cut to at most `max` characters a line (into buf). */
static const char *cnnvis__cut(char *buf, size_t size, const char *text, int max)
{
    size_t o = 0;
    int col = 0;
    for (; text && *text && o + 1 < size; text++) {
        if (*text == '\n') col = 0, buf[o++] = '\n';
        else if (col++ < max) buf[o++] = *text;
    }
    buf[o] = 0;
    return buf;
}

CNNVIS__DEF cnnvis_result cnnvis_montage(cnnvis_image *out, const cnnvis_image *tiles, int n, const char *const *captions,
                                         const cnnvis_montage_desc *desc)
{
    cnnvis_montage_desc d;
    int i, cols, rows, cell_w = 1, cell_h = 1, cap_lines = 0, cap_h, title_h, bg, width;
    unsigned char fg[3] = {235, 235, 235}, bgc[3];
    char buf[512];
    if (!out) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_montage: out is NULL");
    memset(out, 0, sizeof *out);
    if (!tiles) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_montage: tiles is NULL");
    if (!tiles || n < 1) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_montage: no tiles (n = %d)", n);
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    d.pad = CNNVIS__DEF_VAL(d.pad, 2);
    d.text_scale = CNNVIS__DEF_VAL(d.text_scale, 1);
    d.max_caption = CNNVIS__DEF_VAL(d.max_caption, 24);
    if (d.cols < 0 || d.pad < 0 || d.pad > 256 || d.text_scale < 1 || d.text_scale > 16 || d.max_caption < 1)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_montage: cols %d, pad %d, text scale %d or max caption %d out of range",
                            d.cols, d.pad, d.text_scale, d.max_caption);
    bg = d.bg_grey < 0 ? 0 : d.bg_grey ? CNNVIS__MIN(d.bg_grey, 255) : 32;
    bgc[0] = bgc[1] = bgc[2] = (unsigned char)bg;
    if (bg > 128) fg[0] = fg[1] = fg[2] = 20;
    cols = d.cols ? CNNVIS__MIN(d.cols, n) : (int)ceil(sqrt((double)n));
    rows = (n + cols - 1) / cols;
    for (i = 0; i < n; i++) {
        CNNVIS__TRY(cnnvis__check_image("cnnvis_montage (a tile)", &tiles[i]));
        cell_w = CNNVIS__MAX(cell_w, tiles[i].w), cell_h = CNNVIS__MAX(cell_h, tiles[i].h);
        if (captions && captions[i]) {
            cnnvis__cut(buf, sizeof buf, captions[i], d.max_caption);
            cell_w = CNNVIS__MAX(cell_w, cnnvis__text_width(buf, d.text_scale));
            cap_lines = CNNVIS__MAX(cap_lines, cnnvis__text_lines(buf));
        }
    }
    cap_h = cap_lines ? cap_lines * 8 * d.text_scale + 2 : 0;
    title_h = d.title ? cnnvis__text_lines(d.title) * 8 * d.text_scale + d.pad + 2 : 0;
    width = cols * (cell_w + d.pad) + d.pad;
    if (d.title) width = CNNVIS__MAX(width, CNNVIS__MIN(cnnvis__text_width(d.title, d.text_scale), 4096) + 2 * d.pad);
    if ((long long)width * (title_h + rows * (cell_h + cap_h + d.pad) + d.pad) > CNNVIS_IMAGE_MAX_PIXELS)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_montage: %d tiles of %dx%d make more than %d pixels", n, cell_w, cell_h,
                            CNNVIS_IMAGE_MAX_PIXELS);
    CNNVIS__TRY(cnnvis_image_create(out, width, title_h + rows * (cell_h + cap_h + d.pad) + d.pad, 3));
    cnnvis_image_fill(out, 0, 0, out->w, out->h, bgc);
    if (d.title) cnnvis_image_text(out, d.pad, d.pad + 1, d.title, fg, d.text_scale);
    for (i = 0; i < n; i++) {
        int x = d.pad + (i % cols) * (cell_w + d.pad), y = title_h + d.pad + (i / cols) * (cell_h + cap_h + d.pad);
        cnnvis__image_paste(out, &tiles[i], x + (cell_w - tiles[i].w) / 2, y + (cell_h - tiles[i].h) / 2);
        if (captions && captions[i]) {
            cnnvis__cut(buf, sizeof buf, captions[i], d.max_caption);
            cnnvis_image_text(out, x + (cell_w - cnnvis__text_width(buf, d.text_scale)) / 2, y + cell_h + 2, buf, fg, d.text_scale);
        }
    }
    return CNNVIS_OK;
}

CNNVIS__DEF cnnvis_result cnnvis_image_overlay(cnnvis_image *dst, const cnnvis_image *image, const float *heat, float alpha,
                                               cnnvis_colormap cmap)
{
    size_t px, n;
    int k;
    CNNVIS__TRY(cnnvis__check_image("cnnvis_image_overlay", image));
    if (!dst || !heat || !(alpha >= 0 && alpha <= 1))
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_image_overlay: NULL argument or alpha %g not in [0, 1]", alpha);
    CNNVIS__TRY(cnnvis_image_create(dst, image->w, image->h, 3));
    n = (size_t)image->w * image->h;
    for (px = 0; px < n; px++) {
        unsigned char rgb[3];
        cnnvis__colormap_rgb(cmap, heat[px], rgb);
        for (k = 0; k < 3; k++) {
            float base = image->px[px * image->c + (image->c == 3 ? k : 0)];
            dst->px[px * 3 + k] = (unsigned char)((1 - alpha) * base + alpha * rgb[k] + 0.5f);
        }
    }
    return CNNVIS_OK;
}

static cnnvis_result cnnvis__image_outline(cnnvis_image *im, const unsigned char *mask, const unsigned char rgb[3])
{
    int x, y;
    CNNVIS__TRY(cnnvis__check_image("cnnvis__image_outline", im));
    if (!mask || !rgb) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis__image_outline: NULL mask or colour");
    for (y = 0; y < im->h; y++)
        for (x = 0; x < im->w; x++) {
            int inside = mask[y * im->w + x] != 0;
            int edge = inside && (x == 0 || y == 0 || x == im->w - 1 || y == im->h - 1 || !mask[y * im->w + x - 1] ||
                                  !mask[y * im->w + x + 1] || !mask[(y - 1) * im->w + x] || !mask[(y + 1) * im->w + x]);
            if (edge) cnnvis__put_pixel(im, x, y, rgb);
        }
    return CNNVIS_OK;
}

/* --- Plots ------------------------------------------------------------------------------ */

static const unsigned char cnnvis__palette[8][3] = {{31, 119, 180}, {255, 127, 14},  {44, 160, 44},  {214, 39, 40},
                                                    {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127}};

/* Tick spacing of 1, 2 or 5 times a power of ten giving about `target` ticks. */
static double cnnvis__nice_step(double range, int target)
{
    double raw = range / target, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

typedef struct cnnvis__axes {
    int x0, y0, x1, y1;   /* plot area in pixels: left, top, right, bottom */
    double xmin, xmax, ymin, ymax;
} cnnvis__axes;

static int cnnvis__px_x(const cnnvis__axes *a, double x) { return a->x0 + (int)((x - a->xmin) / (a->xmax - a->xmin) * (a->x1 - a->x0) + 0.5); }
static int cnnvis__px_y(const cnnvis__axes *a, double y) { return a->y1 - (int)((y - a->ymin) / (a->ymax - a->ymin) * (a->y1 - a->y0) + 0.5); }

static void cnnvis__series_rgb(const cnnvis_series *s, int i, unsigned char rgb[3])
{
    if (s->rgb[0] || s->rgb[1] || s->rgb[2]) memcpy(rgb, s->rgb, 3);
    else memcpy(rgb, cnnvis__palette[i % 8], 3);
}

/* Frame, grid, y ticks (and x ticks when numeric), title, labels, legend. */
static cnnvis_result cnnvis__plot_frame(cnnvis_image *out, const cnnvis_plot_desc *d, cnnvis__axes *a, int numeric_x)
{
    static const unsigned char white[3] = {255, 255, 255}, black[3] = {0, 0, 0}, grid[3] = {225, 225, 225};
    int w = CNNVIS__DEF_VAL(d->w, 640), h = CNNVIS__DEF_VAL(d->h, 400), i, legend_y[64];
    double step, t;
    char label[32];
    if (w < 160 || h < 120 || w > 8192 || h > 8192) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "plot: size %dx%d (160x120 .. 8192x8192)", w, h);
    CNNVIS__TRY(cnnvis_image_create(out, w, h, 3));
    cnnvis_image_fill(out, 0, 0, w, h, white);
    a->x0 = 64, a->x1 = w - 16, a->y0 = d->title ? 28 : 12, a->y1 = h - (d->xlabel ? 44 : 30);
    if (d->title) cnnvis_image_text(out, (w - cnnvis__text_width(d->title, 1)) / 2, 8, d->title, black, 1);
    if (d->xlabel) cnnvis_image_text(out, (a->x0 + a->x1 - cnnvis__text_width(d->xlabel, 1)) / 2, h - 14, d->xlabel, black, 1);
    if (d->ylabel) cnnvis_image_text(out, 4, a->y0 - (d->title ? 12 : 0) > 0 ? 2 : 2, d->ylabel, black, 1);
    step = cnnvis__nice_step(a->ymax - a->ymin, 5);
    for (t = ceil(a->ymin / step - 1e-9) * step; t <= a->ymax + 1e-9 * step; t += step) {
        int y = cnnvis__px_y(a, t);
        cnnvis_image_line(out, a->x0, y, a->x1, y, grid);
        snprintf(label, sizeof label, "%.4g", fabs(t) < 1e-12 * step ? 0.0 : t);
        cnnvis_image_text(out, a->x0 - 6 - cnnvis__text_width(label, 1), y - 3, label, black, 1);
    }
    if (numeric_x) {
        step = cnnvis__nice_step(a->xmax - a->xmin, 6);
        for (t = ceil(a->xmin / step - 1e-9) * step; t <= a->xmax + 1e-9 * step; t += step) {
            int x = cnnvis__px_x(a, t);
            cnnvis_image_line(out, x, a->y0, x, a->y1, grid);
            snprintf(label, sizeof label, "%.4g", fabs(t) < 1e-12 * step ? 0.0 : t);
            cnnvis_image_text(out, x - cnnvis__text_width(label, 1) / 2, a->y1 + 6, label, black, 1);
        }
    }
    cnnvis_image_line(out, a->x0, a->y0, a->x0, a->y1, black);
    cnnvis_image_line(out, a->x0, a->y1, a->x1, a->y1, black);
    {
        /* the legend goes top right, or bottom right when fewer points of a line plot lie there */
        int j, k, legend_w = 0, legend_h = 11 * d->n_series + 4, top = 0, bottom = 0, y_start = a->y0 + 4;
        for (i = 0; i < d->n_series; i++) legend_w = CNNVIS__MAX(legend_w, cnnvis__text_width(d->series[i].name, 1) + 24);
        for (i = 0; i < d->n_series && numeric_x; i++)
            for (j = 0; j < d->series[i].n; j++) {
                double xv = d->series[i].x ? d->series[i].x[j] : j, yv = d->series[i].y[j];
                int px, py;
                if (!isfinite(xv) || !isfinite(yv)) continue;
                px = cnnvis__px_x(a, xv), py = cnnvis__px_y(a, yv);
                if (px < a->x1 - legend_w - 8) continue;
                top += py <= a->y0 + legend_h + 8, bottom += py >= a->y1 - legend_h - 8;
            }
        if (bottom < top) y_start = a->y1 - legend_h;
        for (k = 0; k < d->n_series; k++) legend_y[k] = y_start + 11 * k;
    }
    for (i = 0; i < d->n_series; i++) { /* legend */
        unsigned char rgb[3];
        const char *name = d->series[i].name ? d->series[i].name : "";
        int tw = cnnvis__text_width(name, 1), x = a->x1 - tw - 20, y = legend_y[i];
        if (!*name) continue;
        cnnvis__series_rgb(&d->series[i], i, rgb);
        cnnvis_image_fill(out, x - 2, y - 2, tw + 18, 11, white);
        cnnvis_image_fill(out, x, y, 10, 7, rgb);
        cnnvis_image_text(out, x + 14, y, name, black, 1);
    }
    return CNNVIS_OK;
}

static cnnvis_result cnnvis__plot_check(const cnnvis_plot_desc *d, cnnvis_image *out, int bars)
{
    int i;
    if (!out) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "plot: out is NULL");
    memset(out, 0, sizeof *out);
    if (!d || !d->series) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "plot: the desc or its series is NULL");
    if (!d || !d->series || d->n_series < 1 || d->n_series > 64) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "plot: 1..64 series");
    if (bars && (!d->categories || d->n_categories < 1)) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "plot: a bar chart needs categories");
    for (i = 0; i < d->n_series; i++)
        if (!d->series[i].y || d->series[i].n < (bars ? d->n_categories : 1))
            return CNNVIS__FAIL(CNNVIS_ERR_ARG, "plot: series %d has no values or fewer than the %d categories", i, d->n_categories);
    return CNNVIS_OK;
}

/* y range over the series (and 0 for bars), widened when flat. */
static void cnnvis__plot_yrange(const cnnvis_plot_desc *d, cnnvis__axes *a, int bars)
{
    int i, j;
    a->ymin = bars ? 0 : DBL_MAX, a->ymax = bars ? 0 : -DBL_MAX;
    for (i = 0; i < d->n_series; i++)
        for (j = 0; j < (bars ? d->n_categories : d->series[i].n); j++) {
            double y = d->series[i].y[j];
            if (!isfinite(y)) continue;
            a->ymin = y < a->ymin ? y : a->ymin, a->ymax = y > a->ymax ? y : a->ymax;
        }
    if (d->ymin != 0 || d->ymax != 0) a->ymin = d->ymin, a->ymax = d->ymax;
    if (a->ymin > a->ymax) a->ymin = 0, a->ymax = 1;
    if (a->ymax - a->ymin < 1e-12) a->ymin -= 0.5, a->ymax += 0.5;
    else if (d->ymin == 0 && d->ymax == 0) { /* a margin above and below */
        double m = 0.05 * (a->ymax - a->ymin);
        if (!(bars && a->ymin == 0)) a->ymin -= m;
        a->ymax += m;
    }
}

CNNVIS__DEF cnnvis_result cnnvis_plot_lines(cnnvis_image *out, const cnnvis_plot_desc *d)
{
    cnnvis__axes a;
    int i, j;
    CNNVIS__TRY(cnnvis__plot_check(d, out, 0));
    a.xmin = DBL_MAX, a.xmax = -DBL_MAX;
    for (i = 0; i < d->n_series; i++)
        for (j = 0; j < d->series[i].n; j++) {
            double x = d->series[i].x ? d->series[i].x[j] : j;
            if (!isfinite(x)) continue;
            a.xmin = x < a.xmin ? x : a.xmin, a.xmax = x > a.xmax ? x : a.xmax;
        }
    if (a.xmin > a.xmax) a.xmin = 0, a.xmax = 1;
    if (a.xmax - a.xmin < 1e-12) a.xmin -= 0.5, a.xmax += 0.5;
    cnnvis__plot_yrange(d, &a, 0);
    CNNVIS__TRY(cnnvis__plot_frame(out, d, &a, 1));
    for (i = 0; i < d->n_series; i++) {
        const cnnvis_series *s = &d->series[i];
        unsigned char rgb[3];
        int have = 0, px = 0, py = 0;
        cnnvis__series_rgb(s, i, rgb);
        for (j = 0; j < s->n; j++) {
            double x = s->x ? s->x[j] : j, y = s->y[j];
            int cx, cy;
            if (!isfinite(x) || !isfinite(y)) {
                have = 0;
                continue;
            }
            y = y < a.ymin ? a.ymin : y > a.ymax ? a.ymax : y;
            cx = cnnvis__px_x(&a, x), cy = cnnvis__px_y(&a, y);
            if (have) { /* two pixels thick */
                cnnvis_image_line(out, px, py, cx, cy, rgb);
                cnnvis_image_line(out, px, py + 1, cx, cy + 1, rgb);
            }
            if (s->n <= 40) cnnvis_image_fill(out, cx - 2, cy - 2, 5, 5, rgb);
            have = 1, px = cx, py = cy;
        }
    }
    return CNNVIS_OK;
}

CNNVIS__DEF cnnvis_result cnnvis_plot_matrix(cnnvis_image *out, const float *values, int rows, int cols,
                                             const char *const *row_names, const char *const *col_names, const char *title,
                                             int decimals)
{
    static const unsigned char white[3] = {255, 255, 255}, black[3] = {0, 0, 0};
    int r, c, label_w = 0, head_h = 0, cell, x0, y0, title_h = title ? 16 : 0;
    float top = 0;
    char text[32];
    if (!out) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_plot_matrix: out is NULL");
    memset(out, 0, sizeof *out);
    if (!values) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_plot_matrix: values is NULL");
    if (!values || rows < 1 || cols < 1 || rows > 1000 || cols > 1000 || decimals < 0 || decimals > 6)
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_plot_matrix: %d x %d values (1..1000 each), decimals %d (0..6)", rows, cols,
                            decimals);
    for (r = 0; r < rows * cols; r++) top = values[r] > top ? values[r] : top;
    for (r = 0; r < rows && row_names; r++) label_w = CNNVIS__MAX(label_w, cnnvis__text_width(row_names[r], 1));
    for (c = 0; c < cols && col_names; c++) head_h = CNNVIS__MAX(head_h, cnnvis__text_width(col_names[c], 1));
    snprintf(text, sizeof text, "%.*f", decimals, top);
    cell = CNNVIS__MAX(18, cnnvis__text_width(text, 1) + 6);
    head_h = CNNVIS__MIN(head_h, 8 * 16); /* column names go vertically, one letter a line */
    head_h = col_names ? head_h / 6 * 8 + 4 : 0;
    x0 = label_w + 8, y0 = title_h + head_h + 4;
    CNNVIS__TRY(cnnvis_image_create(out, CNNVIS__MAX(x0 + cols * cell + 4, title ? cnnvis__text_width(title, 1) + 8 : 0),
                                    y0 + rows * cell + 4, 3));
    cnnvis_image_fill(out, 0, 0, out->w, out->h, white);
    if (title) cnnvis_image_text(out, 4, 4, title, black, 1);
    for (c = 0; c < cols && col_names; c++) { /* vertical column names */
        const char *name = col_names[c] ? col_names[c] : "";
        int k;
        for (k = 0; name[k] && k < 16; k++) {
            char one[2];
            one[0] = name[k], one[1] = 0;
            cnnvis_image_text(out, x0 + c * cell + (cell - 5) / 2, title_h + 2 + k * 8, one, black, 1);
        }
    }
    for (r = 0; r < rows; r++) {
        if (row_names && row_names[r]) cnnvis_image_text(out, x0 - 4 - cnnvis__text_width(row_names[r], 1), y0 + r * cell + (cell - 7) / 2, row_names[r], black, 1);
        for (c = 0; c < cols; c++) {
            float v = values[(size_t)r * cols + c], t = top > 0 ? v / top : 0;
            unsigned char rgb[3], ink[3];
            cnnvis__colormap_rgb(CNNVIS_CMAP_VIRIDIS, t, rgb);
            cnnvis_image_fill(out, x0 + c * cell, y0 + r * cell, cell - 1, cell - 1, rgb);
            ink[0] = ink[1] = ink[2] = (unsigned char)(t > 0.6f ? 0 : 255);
            snprintf(text, sizeof text, "%.*f", decimals, v);
            cnnvis_image_text(out, x0 + c * cell + (cell - cnnvis__text_width(text, 1)) / 2, y0 + r * cell + (cell - 7) / 2, text, ink, 1);
        }
    }
    return CNNVIS_OK;
}

/* Twelve distinguishable colours (label maps, t-SNE classes). */
static const unsigned char cnnvis__categorical[12][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                                                         {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127},
                                                         {188, 189, 34},  {23, 190, 207}, {255, 255, 255}, {90, 60, 20}};

/* Colour k of the categorical palette (repeating every 12). */
static const unsigned char *cnnvis__category_rgb(int k) { return cnnvis__categorical[(k % 12 + 12) % 12]; }

CNNVIS__DEF cnnvis_result cnnvis_labels_to_image(cnnvis_image *out, const unsigned char *labels, int w, int h)
{
    size_t px;
    if (!labels) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_labels_to_image: labels is NULL");
    CNNVIS__TRY(cnnvis_image_create(out, w, h, 3));
    for (px = 0; px < (size_t)w * h; px++)
        if (labels[px] != 255) memcpy(out->px + px * 3, cnnvis__categorical[labels[px] % 12], 3);
    return CNNVIS_OK;
}

static cnnvis_result cnnvis__plot_bars(cnnvis_image *out, const cnnvis_plot_desc *d)
{
    static const unsigned char black[3] = {0, 0, 0};
    cnnvis__axes a;
    int i, j, group_w, bar_w;
    CNNVIS__TRY(cnnvis__plot_check(d, out, 1));
    a.xmin = 0, a.xmax = d->n_categories;
    cnnvis__plot_yrange(d, &a, 1);
    CNNVIS__TRY(cnnvis__plot_frame(out, d, &a, 0));
    group_w = (a.x1 - a.x0) / d->n_categories;
    bar_w = CNNVIS__MAX(1, group_w * 4 / 5 / d->n_series);
    for (j = 0; j < d->n_categories; j++) {
        int gx = a.x0 + j * group_w + (group_w - bar_w * d->n_series) / 2;
        const char *name = d->categories[j] ? d->categories[j] : "";
        for (i = 0; i < d->n_series; i++) {
            unsigned char rgb[3];
            double y = d->series[i].y[j];
            int top, base = cnnvis__px_y(&a, a.ymin > 0 ? a.ymin : 0);
            if (!isfinite(y)) continue;
            top = cnnvis__px_y(&a, y < a.ymin ? a.ymin : y > a.ymax ? a.ymax : y);
            cnnvis__series_rgb(&d->series[i], i, rgb);
            cnnvis_image_fill(out, gx + i * bar_w, CNNVIS__MIN(top, base), bar_w - (bar_w > 3), abs(base - top) + 1, rgb);
        }
        cnnvis_image_text(out, a.x0 + j * group_w + (group_w - cnnvis__text_width(name, 1)) / 2, a.y1 + 6, name, black, 1);
    }
    return CNNVIS_OK;
}

/* --- Built-in concept images --------------------------------------------------------------- */

static const char *cnnvis__shape_names[CNNVIS_CONCEPT_CLASSES] = {"circle", "square", "triangle", "cross", "star",
                                                                  "ring",   "crescent", "heart", "arrow", "tee"};
static const char *cnnvis__colour_names[11] = {"black", "blue", "brown", "grey", "green", "orange",
                                               "pink",  "purple", "red", "white", "yellow"};
/* Two shades of each colour, the second about 20% darker (lighter for the dark ones): a
   texture alternates them. Both are chosen so that the colour-naming table Broden uses
   gives them the colour's own name. */
static const unsigned char cnnvis__colour_rgb[2][11][3] = {
    {{16, 16, 16}, {40, 70, 220}, {125, 75, 35}, {128, 128, 128}, {40, 165, 50}, {250, 140, 20}, {250, 140, 200},
     {130, 45, 165}, {215, 35, 35}, {240, 240, 240}, {245, 225, 40}},
    {{61, 61, 61}, {85, 115, 255}, {170, 120, 80}, {104, 104, 104}, {32, 135, 41}, {205, 114, 16}, {205, 114, 164},
     {175, 90, 210}, {255, 80, 80}, {196, 196, 196}, {200, 184, 32}}};
static const char *cnnvis__texture_names[7] = {"plain", "hstripes", "vstripes", "diagonal", "checker", "dots", "noise"};

CNNVIS__DEF void cnnvis_concepts_colour(unsigned char rgb[3], int colour, int shade)
{
    if (!rgb) return;
    if (colour < 0 || colour > 10) colour = 3;
    memcpy(rgb, cnnvis__colour_rgb[shade ? 1 : 0][colour], 3);
}

/* Shapes as polygons in a unit circle, coordinates x1024, y up (and circles in code). */
static const short cnnvis__poly_square[] = {724, 724, -724, 724, -724, -724, 724, -724};
static const short cnnvis__poly_triangle[] = {0, 1024, -887, -512, 887, -512};
static const short cnnvis__poly_cross[] = {300, 940, -300, 940, -300, 300, -940, 300, -940, -300, -300, -300,
                                           -300, -940, 300, -940, 300, -300, 940, -300, 940, 300, 300, 300};
static const short cnnvis__poly_star[] = {0, 1024, -253, 348, -974, 316, -409, -133, -602, -828,
                                          0, -430, 602, -828, 409, -133, 974, 316, 253, 348};
static const short cnnvis__poly_heart[] = {0, 430, 16, 503, 112, 668, 316, 799, 581, 793, 806, 632, 894, 374, 806, 98,
                                           581, -157, 316, -386, 112, -590, 16, -742, 0, -799, -16, -742, -112, -590,
                                           -316, -386, -581, -157, -806, 98, -894, 374, -806, 632, -581, 793, -316, 799,
                                           -112, 668, -16, 503};
static const short cnnvis__poly_arrow[] = {-940, -230, 100, -230, 100, -620, 940, 0, 100, 620, 100, 230, -940, 230};
static const short cnnvis__poly_tee[] = {-880, 880, 880, 880, 880, 420, 230, 420, 230, -940, -230, -940, -230, 420, -880, 420};

/* Crossing-number test of (px, py) against a polygon scaled by s; integer arithmetic. */
static int cnnvis__in_poly(const short *xy, int n, long long px, long long py, long long s)
{
    int i, inside = 0;
    for (i = 0; i < n; i++) {
        long long ax = xy[2 * i] * s, ay = xy[2 * i + 1] * s;
        long long bx = xy[2 * ((i + 1) % n)] * s, by = xy[2 * ((i + 1) % n) + 1] * s;
        if ((ay > py) != (by > py)) {
            long long t = (bx - ax) * (py - ay) - (px - ax) * (by - ay);
            if (by > ay ? t > 0 : t < 0) inside = !inside;
        }
    }
    return inside;
}

/* Is the point (u, v) (rotated into the shape's frame, units: radius/1024 * s) inside? */
static int cnnvis__in_shape(int shape, long long u, long long v, long long s)
{
    long long r2 = u * u + v * v, one = 1024 * s;
    switch (shape) {
    case 0: return r2 <= one * one * 81 / 100;                                  /* circle, r 0.9 */
    case 1: return cnnvis__in_poly(cnnvis__poly_square, 4, u, v, s);
    case 2: return cnnvis__in_poly(cnnvis__poly_triangle, 3, u, v, s);
    case 3: return cnnvis__in_poly(cnnvis__poly_cross, 12, u, v, s);
    case 4: return cnnvis__in_poly(cnnvis__poly_star, 10, u, v, s);
    case 5: return r2 <= one * one && r2 >= one * one * 30 / 100;                /* ring: 0.55 .. 1 */
    case 6: {                                                                   /* crescent */
        long long du = u - one * 45 / 100;
        return r2 <= one * one && du * du + v * v > one * one * 72 / 100;
    }
    case 7: return cnnvis__in_poly(cnnvis__poly_heart, 24, u, v, s);
    case 8: return cnnvis__in_poly(cnnvis__poly_arrow, 7, u, v, s);
    default: return cnnvis__in_poly(cnnvis__poly_tee, 8, u, v, s);
    }
}

/* One painted region: a colour, a texture and its pattern's geometry. */
typedef struct cnnvis__region {
    int colour, texture;
    int period, phase_x, phase_y;
} cnnvis__region;

/* Colour and texture of a region. An object never has the background's colour, and a
   textured object only stands on a plain background (and the other way round), so its
   outline is always a change of colour: with high-contrast stripes on both sides the shape
   dissolves and a deep net without normalisation stays at chance for thousands of steps.
   Half the regions are plain. */
static void cnnvis__region_random(cnnvis__region *r, cnnvis_rng *rng, int size, const cnnvis__region *avoid)
{
    int t = (int)cnnvis__rng_below(rng, 12);
    r->texture = t < 6 || (avoid && avoid->texture) ? 0 : t - 5;
    do r->colour = (int)cnnvis__rng_below(rng, 11);
    while (avoid && r->colour == avoid->colour);
    r->period = CNNVIS__MAX(3, size / 10) + (int)cnnvis__rng_below(rng, (uint32_t)CNNVIS__MAX(1, size / 16) + 1);
    r->phase_x = (int)cnnvis__rng_below(rng, 64), r->phase_y = (int)cnnvis__rng_below(rng, 64);
}

/* Does the texture paint the colour's second shade at (x, y)? */
static int cnnvis__texture_bit(const cnnvis__region *r, int x, int y, cnnvis_rng *rng)
{
    int p = r->period, X = x + r->phase_x, Y = y + r->phase_y;
    switch (r->texture) {
    case 1: return Y / p % 2;
    case 2: return X / p % 2;
    case 3: return (X + Y) / p % 2;
    case 4: return (X / p + Y / p) % 2;
    case 5: return X % (p + 2) < 2 && Y % (p + 2) < 2;
    case 6: return cnnvis__rng_below(rng, 10) < 4;
    default: return 0;
    }
}

/* A shape placed in the image: centre and radius in 1/16 pixel, rotation in 1/64 turns. */
typedef struct cnnvis__placed {
    int shape, cx, cy, radius, rotation;
    cnnvis__region region;
} cnnvis__placed;

static int cnnvis__covers(const cnnvis__placed *o, int x, int y, const int rot[64][2])
{
    long long dx = (long long)x * 16 + 8 - o->cx, dy = (long long)y * 16 + 8 - o->cy;
    long long c = rot[o->rotation][0], s = rot[o->rotation][1];
    long long u = dx * c + dy * s, v = dx * s - dy * c; /* rotated, y up; x 2^14 */
    return cnnvis__in_shape(o->shape, u, v, (long long)o->radius * 16);
}

static cnnvis_result cnnvis__dataset_alloc(cnnvis_dataset *ds, int n, int c, int h, int w, int n_classes, int n_categories)
{
    size_t pixels = (size_t)n * h * w;
    memset(ds, 0, sizeof *ds);
    ds->px = (unsigned char *)cnnvis__alloc(pixels * c);
    ds->labels = (int32_t *)cnnvis__alloc(sizeof(int32_t) * (size_t)n);
    ds->class_names = (char *)cnnvis__alloc((size_t)n_classes * CNNVIS_CLASS_LEN);
    if (n_categories) ds->concepts = (unsigned char *)cnnvis__alloc(pixels * n_categories);
    ds->owner = 1;
    if (!ds->px || !ds->labels || !ds->class_names || (n_categories && !ds->concepts)) {
        cnnvis_dataset_free(ds);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "data set: out of memory for %d images of %dx%dx%d", n, c, h, w);
    }
    ds->n = n, ds->c = c, ds->h = h, ds->w = w, ds->n_classes = n_classes, ds->n_categories = n_categories;
    return CNNVIS_OK;
}

CNNVIS__DEF cnnvis_result cnnvis_concepts_generate(cnnvis_dataset *ds, const cnnvis_concepts_desc *desc)
{
    cnnvis_concepts_desc d;
    cnnvis_rng rng;
    int rot[64][2], i, k, x, y, order[CNNVIS_CONCEPT_CLASSES];
    size_t plane;
    char *names;
    if (!ds) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_concepts_generate: ds is NULL");
    memset(ds, 0, sizeof *ds);
    if (!desc) return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_concepts_generate: desc is NULL");
    d = *desc;
    d.size = CNNVIS__DEF_VAL(d.size, 32);
    d.noise = CNNVIS__DEF_VAL(d.noise, 8);
    d.distractor = CNNVIS__DEF_VAL(d.distractor, 50);
    if (d.n < 1 || d.n > 10000000 || d.size < 16 || d.size > 128 || d.noise < -1 || d.noise > 128 || d.distractor < -1 ||
        d.distractor > 100 || (long long)d.n * d.size * d.size * 6 > ((long long)1 << 34))
        return CNNVIS__FAIL(CNNVIS_ERR_ARG, "cnnvis_concepts_generate: n %d (>= 1), size %d (16..128), noise %d (-1..128) or "
                            "distractor %d (-1..100) out of range, or too much memory", d.n, d.size, d.noise, d.distractor);
    CNNVIS__TRY(cnnvis__dataset_alloc(ds, d.n, 3, d.size, d.size, CNNVIS_CONCEPT_CLASSES, 3));
    /* the names: classes, then the concepts of each category */
    ds->concept_names = names = (char *)cnnvis__alloc((size_t)(11 + 11 + 7) * CNNVIS_NAME_LEN);
    if (!names) {
        cnnvis_dataset_free(ds);
        return CNNVIS__FAIL(CNNVIS_ERR_NOMEM, "cnnvis_concepts_generate: out of memory");
    }
    for (k = 0; k < CNNVIS_CONCEPT_CLASSES; k++)
        cnnvis__copy_name(ds->class_names + (size_t)k * CNNVIS_CLASS_LEN, CNNVIS_CLASS_LEN, cnnvis__shape_names[k]);
    cnnvis__copy_name(names, CNNVIS_NAME_LEN, "background");
    for (k = 0; k < CNNVIS_CONCEPT_CLASSES; k++) cnnvis__copy_name(names + (size_t)(1 + k) * CNNVIS_NAME_LEN, CNNVIS_NAME_LEN, cnnvis__shape_names[k]);
    for (k = 0; k < 11; k++) cnnvis__copy_name(names + (size_t)(11 + k) * CNNVIS_NAME_LEN, CNNVIS_NAME_LEN, cnnvis__colour_names[k]);
    for (k = 0; k < 7; k++) cnnvis__copy_name(names + (size_t)(22 + k) * CNNVIS_NAME_LEN, CNNVIS_NAME_LEN, cnnvis__texture_names[k]);
    cnnvis__copy_name(ds->category_names[0], CNNVIS_NAME_LEN, "object");
    cnnvis__copy_name(ds->category_names[1], CNNVIS_NAME_LEN, "colour");
    cnnvis__copy_name(ds->category_names[2], CNNVIS_NAME_LEN, "texture");
    ds->n_concepts[0] = 11, ds->n_concepts[1] = 11, ds->n_concepts[2] = 7;
    /* rotations in Q14; rounding to integers makes libm's last bit irrelevant (no value of
       the 64 is within 0.01 of a rounding boundary) */
    for (k = 0; k < 64; k++) {
        rot[k][0] = (int)floor(16384.0 * cos(6.283185307179586 * k / 64) + 0.5);
        rot[k][1] = (int)floor(16384.0 * sin(6.283185307179586 * k / 64) + 0.5);
    }
    cnnvis__rng_seed(&rng, d.seed);
    plane = (size_t)d.size * d.size;
    for (i = 0; i < d.n; i++) {
        cnnvis__placed main_obj, extra;
        cnnvis__region bg;
        int has_extra = d.distractor > 0 && (int)cnnvis__rng_below(&rng, 100) < d.distractor, S16 = d.size * 16, tries;
        unsigned char *px = ds->px + (size_t)i * 3 * plane, *labels = ds->concepts + (size_t)i * 3 * plane;
        if (i % CNNVIS_CONCEPT_CLASSES == 0) { /* a shuffled block of all ten classes: exact balance */
            for (k = 0; k < CNNVIS_CONCEPT_CLASSES; k++) order[k] = k;
            for (k = CNNVIS_CONCEPT_CLASSES - 1; k > 0; k--) {
                int j = (int)cnnvis__rng_below(&rng, (uint32_t)k + 1), t = order[k];
                order[k] = order[j], order[j] = t;
            }
        }
        ds->labels[i] = order[i % CNNVIS_CONCEPT_CLASSES];
        cnnvis__region_random(&bg, &rng, d.size, NULL);
        main_obj.shape = ds->labels[i];
        main_obj.radius = S16 * 28 / 100 + (int)cnnvis__rng_below(&rng, (uint32_t)(S16 * 16 / 100));
        main_obj.cx = main_obj.radius * 55 / 100 + (int)cnnvis__rng_below(&rng, (uint32_t)(S16 - main_obj.radius * 110 / 100));
        main_obj.cy = main_obj.radius * 55 / 100 + (int)cnnvis__rng_below(&rng, (uint32_t)(S16 - main_obj.radius * 110 / 100));
        /* +-5/64 of a turn: any angle makes squares and diamonds, crosses and Xs one class each,
           and costs the net far more training than this library's demo can spend */
        main_obj.rotation = ((int)cnnvis__rng_below(&rng, 11) - 5 + 64) % 64;
        cnnvis__region_random(&main_obj.region, &rng, d.size, &bg);
        memset(&extra, 0, sizeof extra);
        if (has_extra) {
            extra.shape = (int)cnnvis__rng_below(&rng, CNNVIS_CONCEPT_CLASSES);
            extra.radius = S16 * 12 / 100 + (int)cnnvis__rng_below(&rng, (uint32_t)(S16 * 6 / 100));
            extra.rotation = ((int)cnnvis__rng_below(&rng, 11) - 5 + 64) % 64;
            for (tries = 0; tries < 8; tries++) { /* away from the main object if it can */
                long long ddx, ddy, far = main_obj.radius + extra.radius / 2;
                extra.cx = extra.radius + (int)cnnvis__rng_below(&rng, (uint32_t)(S16 - 2 * extra.radius));
                extra.cy = extra.radius + (int)cnnvis__rng_below(&rng, (uint32_t)(S16 - 2 * extra.radius));
                ddx = extra.cx - main_obj.cx, ddy = extra.cy - main_obj.cy;
                if (ddx * ddx + ddy * ddy >= far * far) break;
            }
            cnnvis__region_random(&extra.region, &rng, d.size, &bg);
        }
        for (y = 0; y < d.size; y++)
            for (x = 0; x < d.size; x++) {
                const cnnvis__region *r = &bg;
                int object = 0, colour, shade, ch;
                size_t at = (size_t)y * d.size + x;
                if (cnnvis__covers(&main_obj, x, y, (const int(*)[2])rot)) r = &main_obj.region, object = 1 + main_obj.shape;
                else if (has_extra && cnnvis__covers(&extra, x, y, (const int(*)[2])rot)) r = &extra.region, object = 1 + extra.shape;
                shade = cnnvis__texture_bit(r, x, y, &rng);
                colour = r->colour;
                labels[at] = (unsigned char)object;
                labels[plane + at] = (unsigned char)colour;
                labels[2 * plane + at] = (unsigned char)r->texture;
                for (ch = 0; ch < 3; ch++) {
                    int v = cnnvis__colour_rgb[shade][colour][ch];
                    if (d.noise > 0) { /* Irwin-Hall: a sum of four uniforms is nearly Gaussian, in integers */
                        uint64_t bits = cnnvis__rng_u64(&rng);
                        int sum = (int)(bits & 255) + (int)(bits >> 8 & 255) + (int)(bits >> 16 & 255) + (int)(bits >> 24 & 255);
                        v += (sum - 510) * d.noise / 148; /* the sum's standard deviation is 147.8 */
                    }
                    px[(size_t)ch * plane + at] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
            }
    }
    return CNNVIS_OK;
}

static const char *cnnvis__dataset_concept_name(const cnnvis_dataset *ds, int category, int index)
{
    int k, offset = 0;
    if (!ds || !ds->concept_names || category < 0 || category >= ds->n_categories || index < 0 ||
        index >= ds->n_concepts[category])
        return "?";
    for (k = 0; k < category; k++) offset += ds->n_concepts[k];
    return ds->concept_names + (size_t)(offset + index) * CNNVIS_NAME_LEN;
}

#endif /* CNNVIS_IMPLEMENTATION_DONE */
#endif /* CNNVIS_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
This software is available under 2 licenses -- choose whichever you prefer.
------------------------------------------------------------------------------
ALTERNATIVE A - MIT License
Copyright (c) 2026 the cnnvis.h authors
Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:
The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
------------------------------------------------------------------------------
ALTERNATIVE B - Public Domain (www.unlicense.org)
This is free and unencumbered software released into the public domain.
Anyone is free to copy, modify, publish, use, compile, sell, or distribute this
software, either in source code form or as a compiled binary, for any purpose,
commercial or non-commercial, and by any means.
In jurisdictions that recognize copyright laws, the author or authors of this
software dedicate any and all copyright interest in the software to the public
domain. We make this dedication in perpetuity for the benefit of the public and
to the detriment of our copyright interest in the software under copyright law.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN
ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION
WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
------------------------------------------------------------------------------
*/
