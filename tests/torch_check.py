#!/usr/bin/env python3
"""torch_check.py DIR - the PyTorch side of tests/torch.sh.

    torch_check.py make DIR        torchvision's AlexNet with random weights (seed 8), saved
                                   as a state dict and converted with tools/torch2cnnvis.py;
                                   one image of random pixels in [0, 1]; PyTorch's scores S of
                                   it and dS_c/dpixels through ImageNet's normalisation, c its
                                   top class. Prints c.
    torch_check.py make-small DIR  the same with an nn.Sequential of every supported kind
                                   (grouped conv, LRN, padded max-pool, a Flatten cnnvis
                                   keeps, dropout, two Linear) on 3x19x17 images, saved whole
                                   and converted with mean 0.5 and std 0.25.
    torch_check.py same A B        the two checkpoints hold the same layers, weights, names,
                                   normalisation and classes (and are byte for byte equal).
    torch_check.py attack CKPT DIR FGSM and PGD-20 at 8/255 (section 5) in PyTorch, by autograd,
                                   on the net of CKPT and the images torch_check attack wrote
                                   to DIR; compares how many images each leaves right with
                                   cnnvis's figures in DIR/attack.txt.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch2cnnvis as t2c  # noqa: E402


def make(out, small=False):
    torch.manual_seed(8)
    if small:
        nn = torch.nn
        model = nn.Sequential(
            nn.Conv2d(3, 12, 5, stride=2, padding=2), nn.ReLU(), nn.LocalResponseNorm(4, 1e-2, 0.75, 1.5),
            nn.MaxPool2d(3, 2, padding=1), nn.Conv2d(12, 16, 3, padding=1, groups=4), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16 * 2 * 2, 32), nn.ReLU(),
            nn.Dropout(0.3), nn.Linear(32, 7)).eval()
        shape, mean, std, args = (3, 19, 17), [0.5] * 3, [0.25] * 3, ["--input", "3x19x17", "--mean", "0.5",
                                                                       "--std", "0.25"]
        torch.save(model, os.path.join(out, "small.pt"))
        name = "small"
    else:
        model = t2c.AlexNet().eval()
        shape, mean, std, args = (3, 224, 224), t2c.IMAGENET_MEAN, t2c.IMAGENET_STD, []
        torch.save(model.state_dict(), os.path.join(out, "alexnet.pt"))
        name = "alexnet"
    if t2c.main([os.path.join(out, name + ".pt"), os.path.join(out, name + ".cnnvis")] + args) != 0:
        sys.exit(1)
    pixels = torch.rand(1, *shape, generator=torch.Generator().manual_seed(9), requires_grad=True)
    mean = torch.tensor(mean).view(1, 3, 1, 1)
    std = torch.tensor(std).view(1, 3, 1, 1)
    scores = model((pixels - mean) / std)
    c = int(scores[0].argmax())
    scores[0, c].backward()
    for what, values in (("pixels", pixels), ("logits", scores), ("grad", pixels.grad)):
        values.detach().numpy().astype("<f4").tofile(os.path.join(out, "%s_%s.f32" % (name, what)))
    print(c)


def same(a, b):
    A, B = t2c.read_checkpoint(a), t2c.read_checkpoint(b)
    problems = []
    if (A.input_shape, A.mean, A.std, A.class_names) != (B.input_shape, B.mean, B.std, B.class_names):
        problems.append("input shape, mean, std or class names differ")
    if len(A.layers) != len(B.layers):
        problems.append("%d layers against %d" % (len(A.layers), len(B.layers)))
    for LA, LB in zip(A.layers, B.layers):
        if LA.name != LB.name or LA.geometry() != LB.geometry():
            problems.append("layer %s against %s: %r %r" % (LA.name, LB.name, LA.geometry(), LB.geometry()))
        for what in ("weight", "bias"):
            wa, wb = getattr(LA, what), getattr(LB, what)
            if (wa is None) != (wb is None) or (wa is not None and not np.array_equal(wa.view(np.uint32),
                                                                                      wb.view(np.uint32))):
                problems.append("layer %s: the %ss differ" % (LA.name, what))
    n = sum(L.weight.size + L.bias.size for L in A.layers if L.weight is not None)
    with open(a, "rb") as fa, open(b, "rb") as fb:
        identical = fa.read() == fb.read()
    if not identical and not problems:
        problems.append("the files differ although every field is equal")
    for p in problems:
        print("  FAIL %s" % p)
    print("  %d layers, %d numbers bit for bit equal: %s; files identical: %s" % (
        len(A.layers), n, "yes" if not problems else "no", "yes" if identical else "no"))
    return 1 if problems else 0


def attack(ckpt, out):
    """The attacks as cnnvis_attack defines them: x <- clamp(x + step sign(dJ/dx)) within the
    eps-ball, J the cross-entropy, FGSM one step of eps, PGD 20 steps of 2.5 eps / 20 from x.
    J's gradient is taken as cnnvis takes it, in double and scaled per image by 1 / (1 - p_y):
    in float, p - onehot rounds to zero for images the net is very sure of (a masked gradient,
    Carlini & Wagner 2017); the plain float32 attack is run too, to show what that costs."""
    ck = t2c.read_checkpoint(ckpt)
    model = t2c.checkpoint_to_module(ck).eval()
    c, h, w = ck.input_shape
    with open(os.path.join(out, "attack.txt"), encoding="ascii") as f:
        rows = [list(map(int, line.split())) for line in f]
    n = len(rows)
    x = torch.from_numpy(np.fromfile(os.path.join(out, "attack.f32"), dtype="<f4").reshape(n, c, h, w))
    y = torch.tensor([r[0] for r in rows])
    mean = torch.tensor(ck.mean[:c]).view(1, c, 1, 1)
    std = torch.tensor(ck.std[:c]).view(1, c, 1, 1)
    eps = 8.0 / 255.0

    def scores(p):
        return model((p - mean) / std)

    def run(steps, step, masked=False):
        a = x.clone()
        for _ in range(steps):
            a.requires_grad_(True)
            s = scores(a)
            if masked:
                J = torch.nn.functional.cross_entropy(s, y, reduction="sum")
            else:
                s = s.double()
                p = torch.softmax(s, 1)
                others = (p.sum(1) - p.gather(1, y[:, None])[:, 0]).detach()  # 1 - p_y, without cancellation
                J = (torch.nn.functional.cross_entropy(s, y, reduction="none") / others.clamp_min(1e-300)).sum()
            g, = torch.autograd.grad(J, a)
            a = a.detach() + step * torch.sign(g)
            a = torch.min(torch.max(a, x - eps), x + eps).clamp(0, 1)
        with torch.no_grad():
            return scores(a).argmax(1)

    passed = failed = 0
    with torch.no_grad():
        clean = int((scores(x).argmax(1) == y).sum())
    print("  %d images, %d right before the attacks" % (n, clean))
    for name, col, pred, slack in (("FGSM", 1, run(1, eps), 2), ("PGD-20", 2, run(20, 2.5 * eps / 20), 3)):
        right_t = int((pred == y).sum())
        right_c = sum(r[0] == r[col] for r in rows)
        same = sum(int(pred[i]) == rows[i][col] for i in range(n))
        ok = abs(right_t - right_c) <= slack
        passed, failed = passed + ok, failed + (not ok)
        print("%s %s at 8/255 leaves %d right in PyTorch, %d in cnnvis (allowed to differ by %d); "
              "the same class on %d of %d" % ("ok  " if ok else "FAIL", name, right_t, right_c, slack, same, n))
    masked = int((run(20, 2.5 * eps / 20, masked=True) == y).sum())
    print("  PGD-20 with PyTorch's float32 cross-entropy gradient as it is: %d right (the masked gradient)" % masked)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("make", "make-small"):
        make(sys.argv[2], sys.argv[1] == "make-small")
    elif len(sys.argv) == 4 and sys.argv[1] == "same":
        sys.exit(same(sys.argv[2], sys.argv[3]))
    elif len(sys.argv) == 4 and sys.argv[1] == "attack":
        sys.exit(attack(sys.argv[2], sys.argv[3]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
