#!/usr/bin/env python3
"""cnnvis2torch.py - a cnnvis.h checkpoint to PyTorch (torch2cnnvis.py goes the other way).

    python3 tools/cnnvis2torch.py alexnet.cnnvis alexnet.pt --classes classes.txt

A checkpoint of torchvision's AlexNet (the preset "alexnet"'s layers, 3x224x224 input,
any number of classes) becomes a state dict with torchvision's keys (features.0.weight ...
classifier.6.bias): load it with
    model = torchvision.models.alexnet(num_classes=N); model.load_state_dict(torch.load(path))
Any other net becomes a whole pickled nn.Sequential whose children carry the cnnvis layer
names: torch.load(path, weights_only=False) returns it (an nn.Flatten named <fc>_flatten
is put before an fc layer whose input is not flat). A state dict or a module has no place
for the class names and the input normalisation: --classes writes the names to a file, and
the mean, std and input shape are printed with the torch2cnnvis.py line that converts back.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
from torch2cnnvis import AlexNet, ConvertError, checkpoint_to_module, read_checkpoint  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description="cnnvis.h checkpoint -> PyTorch (state dict or pickled nn.Sequential)")
    ap.add_argument("checkpoint", help="the cnnvis checkpoint to read")
    ap.add_argument("output", help="the .pt file to write")
    ap.add_argument("--classes", help="also write the class names here, one per line")
    args = ap.parse_args(argv)
    try:
        ck = read_checkpoint(args.checkpoint)
        model = checkpoint_to_module(ck)
        if isinstance(model, AlexNet):
            torch.save(model.state_dict(), args.output)
            what = "torchvision AlexNet state dict"
        else:
            torch.save(model, args.output)
            what = "pickled nn.Sequential"
        if args.classes:
            with open(args.classes, "w", encoding="utf-8") as f:
                f.writelines(name + "\n" for name in ck.class_names)
    except (ConvertError, OSError) as e:
        print("cnnvis2torch: %s" % e, file=sys.stderr)
        return 1
    print("%s: %s, %d layers, %d classes" % (args.output, what, len(ck.layers), len(ck.class_names)))
    print("back: python3 tools/torch2cnnvis.py %s OUT.cnnvis --input %s --mean %s --std %s%s" % (
        args.output, "x".join(map(str, ck.input_shape)), ",".join("%.9g" % v for v in ck.mean),
        ",".join("%.9g" % v for v in ck.std), " --classes " + args.classes if args.classes else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
