/* 03_deconvnet.c - lecture section 3: deconvolutional networks.

   "Project activations back to pixel space" (Zeiler & Fergus 2014): run an image forward,
   keep one unit's activation, set every other to zero, and go back down layer by layer -
   unpool through the max-pool switches recorded on the way up, un-ReLU (max(R, 0) on the
   signal), transposed convolution with the same filters. What arrives at the pixels is the
   pattern in the image that made the unit fire. First the paper's figure 2 for every conv
   layer: each unit's top-9 activations over held-out images, projected (left block) beside
   the image patches they come from (right block). Then, for a few images, the strongest
   unit of every conv layer projected down: the whole image, and cut to the unit's
   receptive field beside the patch it sees. Projections are drawn around mid-grey: grey is
   zero, brighter or more coloured than grey pushes the unit up, darker pulls it down.

   Build and run (after 00_train):
       make build/03_deconvnet && ./build/03_deconvnet
       ./build/03_deconvnet --image my_photo.png        (project your own image)
       ./build/03_deconvnet --checkpoint alexnet.cnnvis --image my_photo.png
                          (a 224x224 net: the photo resized to its input; projections.png only)
       ./build/03_deconvnet --units 64 --n-images 5000  (more units, more images to rank)
   Output (in --out, default out/03_deconvnet/):
       (every picture NAME.png also as NAME.ppm, or NAME.pgm if grey, beside it)
       top9_deconv_conv1.png ...   per unit: projections of its top-9 | their patches
       projections.png             one row per image: the image, then for each conv layer
                                   its strongest unit's projection (receptive field boxed in
                                   yellow, clipped to the image), the projection cut to the field,
                                   and the patch of the image in the field
   Exercises:
       1. In top9_deconv_conv1.png all nine projections of a unit are the same picture. Why?
          (What does a transposed convolution make of a single non-zero activation?) Compare
          them with 01_filters' conv1_filters.png.
       2. In projections.png the strongest conv1 unit often sits at the image's border. What
          does the zero padding look like to conv1, in pixels? (The net's input is normalised.)
       3. Do conv5's projections fill the object or trace its outline? Run --image on a photo of
          a ring or a star (or draw one): which parts of the shape survive the projection? */
#include "cnnvis.h" /* its implementation: examples/cnnvis.c, compiled once and linked */
#include "common.h"

#define MAX_CONV 16
#define TILE 96 /* pixels a side of every tile in projections.png */

/* A tensor image (1, C, h, w) as a TILE x TILE picture, blocky so that pixels stay pixels
   (or averaged down, when larger than TILE):
   through the map m, or (m NULL) as pixels in [0, 1] just as they are, clamped - a min-max
   map would stretch an image's contrast. */
static cnnvis_image tile_of(const cnnvis_tensor *t, const cnnvis_map_desc *m)
{
    cnnvis_image im, big;
    cnnvis_map_desc as_is;
    memset(&as_is, 0, sizeof as_is);
    as_is.mode = CNNVIS_MAP_PIXELS;
    ex_check(cnnvis_tensor_to_image(&im, t, 0, m ? m : &as_is), "tensor to image");
    ex_check(cnnvis_image_resize(&big, &im, TILE, TILE, im.w > TILE || im.h > TILE ? CNNVIS_RESIZE_AREA : CNNVIS_RESIZE_NEAREST),
             "resize"); /* a 224x224 photo is shrunk, averaging */
    cnnvis_image_free(&im);
    return big;
}

/* The receptive field of unit position (y, x) of layer `li` as a box on a TILE-sized tile
   of the whole image, clipped to the image (deep fields reach beyond it into the padding). */
static void draw_field(cnnvis_image *tile, const cnnvis_net *net, int li, int y, int x)
{
    static const unsigned char yellow[3] = {255, 220, 0};
    const cnnvis_layer *L = &net->layers[li];
    int top = L->rf_offset + y * L->rf_stride, left = L->rf_offset + x * L->rf_stride, size = L->rf_size;
    double zoom_x = (double)TILE / net->desc.in_w, zoom_y = (double)TILE / net->desc.in_h; /* below 1 for a photo */
    int x0 = (int)floor(left * zoom_x) - 1, y0 = (int)floor(top * zoom_y) - 1;
    int x1 = (int)ceil((left + size) * zoom_x), y1 = (int)ceil((top + size) * zoom_y);
    x0 = x0 < 0 ? 0 : x0, y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > tile->w - 1 ? tile->w - 1 : x1, y1 = y1 > tile->h - 1 ? tile->h - 1 : y1;
    cnnvis_image_line(tile, x0, y0, x1, y0, yellow);
    cnnvis_image_line(tile, x1, y0, x1, y1, yellow);
    cnnvis_image_line(tile, x1, y1, x0, y1, yellow);
    cnnvis_image_line(tile, x0, y1, x0, y0, yellow);
}

int main(int argc, char **argv)
{
    const char *out = "out/03_deconvnet", *checkpoint = "out/00_train/alexnet_mini.cnnvis", *image = NULL;
    int threads = 0, n_images = 2000, units = 16, n_show = 4, i, l, s;
    uint64_t seed = 1;
    ex_option opts[] = {
        {"checkpoint", EX_STRING, &checkpoint, 0, 0, "the trained net (out/00_train/alexnet_mini.cnnvis)"},
        {"n-images", EX_INT, &n_images, 1, 1 << 24, "held-out concept images to rank for the top-9 (2000)"},
        {"units", EX_INT, &units, 1, 4096, "units per top-9 picture (16)"},
        {"image", EX_STRING, &image, 0, 0, "project this image (PNG, PPM, PGM) instead of held-out ones"},
        {"threads", EX_INT, &threads, 0, 256, "worker threads (0: all CPUs)"},
        {"seed", EX_U64, &seed, 0, 1e18, "the seed 00_train used: its held-out images are looked at (1)"},
        {"out", EX_STRING, &out, 0, 0, "output folder (out/03_deconvnet)"},
    };
    cnnvis_net *net;
    cnnvis_dataset ds;
    cnnvis_topk top;
    cnnvis_topk_desc td;
    cnnvis_tensor pixels, shifted, proj, crop;
    cnnvis_image im, *tiles;
    cnnvis_map_desc signed_map;
    cnnvis_montage_desc md;
    char name[64], (*captions)[64];
    const char **cap;
    int conv[MAX_CONV], act[MAX_CONV], unit[MAX_CONV], n_conv = 0, n_tiles = 0, per_row, rank;
    float best[MAX_CONV];
    double t0, t_all = ex_seconds();
    ex_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]),
             "usage: 03_deconvnet [options]\ndeconvnet projections of conv units (lecture section 3)");
    if (ex_mkdirs(out) != 0) {
        fprintf(stderr, "03_deconvnet: cannot create %s\n", out);
        return 1;
    }
    net = ex_load_net(checkpoint, threads);
    /* a photo for a net the built-in images do not fit (a 224x224 AlexNet): its projections
       only, as there is no data set of its size to rank for the top-9 */
    rank = !image || ex_concepts_fit(net);
    if (rank) ex_probe_data(&ds, net, "concepts", n_images, seed);
    else {
        memset(&ds, 0, sizeof ds);
        printf("projections of %s only, no top-9: it ranks the built-in concept images, at most 3x128x128, and the net "
               "takes %dx%dx%d\n", image, net->desc.in_c, net->desc.in_h, net->desc.in_w);
    }
    for (i = 0; i < net->n_layers && n_conv < MAX_CONV; i++)
        if (net->layers[i].desc.kind == CNNVIS_LAYER_CONV) {
            conv[n_conv] = i;
            act[n_conv] = cnnvis_net_find(net, ex_activation_of(net, i)); /* the ReLU after it */
            n_conv++;
        }

    /* Zeiler & Fergus's figure 2: every conv layer's top-9, projected beside the patches. */
    memset(&td, 0, sizeof td);
    td.k = 9; /* every unit: cnnvis_topk_deconv_image refuses a top-k of fewer units than the layer has */
    for (l = 0; rank && l < n_conv; l++) {
        const char *layer = net->layers[conv[l]].desc.name;
        t0 = ex_seconds();
        ex_check(cnnvis_topk_compute(&top, net, ex_activation_of(net, conv[l]), &ds, &td), "cnnvis_topk_compute");
        ex_check(cnnvis_topk_deconv_image(&im, net, &top, &ds, units), "cnnvis_topk_deconv_image");
        printf("%s: top-9 of %d units over %d images, projected, in %.2f s (receptive field %dx%d)\n", layer,
               units < top.n_units ? units : top.n_units, ds.n, ex_seconds() - t0, top.rf_size, top.rf_size);
        snprintf(name, sizeof name, "top9_deconv_%s.png", layer);
        ex_write(&im, out, name);
        cnnvis_image_free(&im);
        cnnvis_topk_free(&top);
    }

    /* The strongest unit of every conv layer, for a few images (or the user's one). */
    if (image) n_show = 1;
    per_row = 1 + 3 * n_conv;
    tiles = (cnnvis_image *)calloc((size_t)n_show * per_row, sizeof *tiles);
    captions = (char(*)[64])calloc((size_t)n_show * per_row, sizeof *captions);
    cap = (const char **)calloc((size_t)n_show * per_row, sizeof *cap);
    if (!tiles || !captions || !cap) {
        fprintf(stderr, "03_deconvnet: out of memory\n");
        return 1;
    }
    ex_check(cnnvis_tensor_create(&shifted, 1, net->desc.in_c, net->desc.in_h, net->desc.in_w), "tensor");
    memset(&signed_map, 0, sizeof signed_map);
    signed_map.mode = CNNVIS_MAP_SYMMETRIC; /* zero is grey; each tile its own scale, */
    signed_map.clip_percentile = 99.5f;     /* set by all but its 0.5% largest |values| */
    printf("\nstrongest unit of each conv layer, projected down (unit, position, activation):\n");
    for (s = 0; s < n_show; s++) {
        float probs[1024];
        int pred = 0, c;
        if (image) ex_image_pixels(&pixels, net, image);
        else /* images 0..3 of a balanced set: four different classes */
            ex_check(cnnvis_dataset_pixels(&pixels, NULL, &ds, s, 1), "cnnvis_dataset_pixels");
        ex_check(cnnvis_net_predict(NULL, probs, NULL, net, &pixels), "cnnvis_net_predict");
        for (c = 1; c < net->n_classes && c < 1024; c++)
            if (probs[c] > probs[pred]) pred = c;
        tiles[n_tiles] = tile_of(&pixels, NULL);
        if (image) snprintf(captions[n_tiles], 64, "net: %s\n%.0f%%", cnnvis_net_class_name(net, pred), 100 * probs[pred]);
        else
            snprintf(captions[n_tiles], 64, "%s\nnet: %s %.0f%%", cnnvis_net_class_name(net, ds.labels[s]),
                     cnnvis_net_class_name(net, pred), 100 * probs[pred]);
        n_tiles++;
        printf("  image %d (%s):", s, image ? image : cnnvis_net_class_name(net, ds.labels[s]));
        /* predict ran every layer on this image: the strongest unit of a layer is the channel
           with the largest activation anywhere in its map (chosen for all layers before any
           projection, which re-runs the layers below the one projected) */
        for (l = 0; l < n_conv; l++) {
            const cnnvis_layer *A = &net->layers[act[l]];
            size_t plane = (size_t)A->out_h * A->out_w, q;
            int ch;
            best[l] = -1e30f, unit[l] = 0;
            for (ch = 0; ch < A->out_c; ch++)
                for (q = 0; q < plane; q++)
                    if (A->out.data[(size_t)ch * plane + q] > best[l]) best[l] = A->out.data[(size_t)ch * plane + q], unit[l] = ch;
        }
        for (l = 0; l < n_conv; l++) {
            const cnnvis_layer *A = &net->layers[act[l]];
            size_t q;
            int y, x;
            ex_check(cnnvis_deconv_project(&proj, &y, &x, net, &pixels, A->desc.name, unit[l], CNNVIS_PROJECT_UNIT_MAX),
                     "cnnvis_deconv_project");
            printf("  %s u%d (%d,%d) %.2f", net->layers[conv[l]].desc.name, unit[l], y, x, best[l]);
            /* whole image, with the field boxed */
            tiles[n_tiles] = tile_of(&proj, &signed_map);
            draw_field(&tiles[n_tiles], net, act[l], y, x);
            snprintf(captions[n_tiles++], 64, "%s\nunit %d", net->layers[conv[l]].desc.name, unit[l]);
            /* cut to the receptive field */
            ex_check(cnnvis_rf_crop(&crop, net, A->desc.name, &proj, y, x), "cnnvis_rf_crop");
            tiles[n_tiles] = tile_of(&crop, &signed_map);
            snprintf(captions[n_tiles++], 64, "field\n%dx%d", A->rf_size, A->rf_size);
            cnnvis_tensor_free(&crop);
            /* the patch the unit sees: cropped around 0.5 so that the padding it sees is grey */
            for (q = 0; q < cnnvis_tensor_count(&pixels); q++) shifted.data[q] = pixels.data[q] - 0.5f;
            ex_check(cnnvis_rf_crop(&crop, net, A->desc.name, &shifted, y, x), "cnnvis_rf_crop");
            for (q = 0; q < cnnvis_tensor_count(&crop); q++) crop.data[q] += 0.5f;
            tiles[n_tiles] = tile_of(&crop, NULL);
            snprintf(captions[n_tiles++], 64, "patch");
            cnnvis_tensor_free(&crop);
            cnnvis_tensor_free(&proj);
        }
        printf("\n");
        cnnvis_tensor_free(&pixels);
    }
    for (i = 0; i < n_tiles; i++) cap[i] = captions[i];
    memset(&md, 0, sizeof md);
    md.cols = per_row, md.pad = 4;
    md.title = "deconvnet: the strongest unit of each conv layer projected to the pixels (grey = 0) | cut to its "
               "receptive field | the patch it sees";
    ex_check(cnnvis_montage(&im, tiles, n_tiles, cap, &md), "montage");
    ex_write(&im, out, "projections.png");
    cnnvis_image_free(&im);
    for (i = 0; i < n_tiles; i++) cnnvis_image_free(&tiles[i]);
    free(tiles), free(captions), free(cap);
    cnnvis_tensor_free(&shifted);
    cnnvis_dataset_free(&ds);
    cnnvis_net_free(net);
    printf("done in %.1f s\n", ex_seconds() - t_all);
    return 0;
}
