#!/bin/sh
# Copies the pictures the README shows from a `make demo` run (out/) into docs/img/, as the
# library wrote them (cnnvis_image_write). Usage: make demo && sh tools/docs_img.sh.
# Section 1's CIFAR-10 montage (s1_conv1_filters_cifar10.png) comes from the commands in
# README.md, section 1, not from make demo.
set -e
out=${1:-out}
dst=$(dirname "$0")/../docs/img
while read -r name src; do
    if [ ! -f "$out/$src" ]; then echo "docs_img: $out/$src not found: run make demo first" >&2; exit 1; fi
    cp "$out/$src" "$dst/$name"
done <<'LIST'
concepts_confusion.png 00_train/confusion.png
concepts_curve.png 00_train/curve.png
concepts_samples.png 00_train/samples.png
s1_conv1_filters.png 01_filters/conv1_filters.png
s1_evolution.png 01_filters/evolution.png
s1_monitor.png 01_filters/monitor.png
s2_detectors.png 02b_dissection/detectors.png
s2_input.png 02a_activations/input.png
s2_maps_conv1.png 02a_activations/maps_conv1.png
s2_top9_conv1.png 02a_activations/top9_conv1.png
s2_top9_conv5.png 02a_activations/top9_conv5.png
s2_training.png 02b_dissection/training.png
s2_units_conv1.png 02b_dissection/units_conv1.png
s2_units_conv5.png 02b_dissection/units_conv5.png
s3_projections.png 03_deconvnet/projections.png
s3_top9_deconv_conv3.png 03_deconvnet/top9_deconv_conv3.png
s4_class_models.png 04b_class_models/class_models.png
s4_class_models_regularised.png 04b_class_models/class_models_regularised.png
s4_deconv_vs_saliency.png 04a_saliency/deconv_vs_saliency.png
s4_deepdream.png 04c_deepdream/dreams.png
s4_saliency.png 04a_saliency/saliency.png
s4_sanity_cascade.png 04d_sanity_checks/cascade.png
s4_sanity_spearman.png 04d_sanity_checks/spearman.png
s4_tsne.png 04e_tsne/tsne_relu7.png
s5_curves.png 05_adversarial/curves.png
s5_fgsm.png 05_adversarial/fgsm.png
s5_fooling.png 05_adversarial/fooling.png
s5_lbfgs.png 05_adversarial/lbfgs.png
s5_pgd.png 05_adversarial/pgd.png
s5_pgd_robust.png 05b_adversarial_training/pgd_robust.png
s5_robust_curves.png 05b_adversarial_training/curves.png
s5_targeted.png 05_adversarial/targeted.png
LIST
echo "docs/img: the demo's pictures copied from $out/"
