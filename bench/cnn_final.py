"""Which batch size (and tweak) gets chapter 13's BatchNorm `simple_cnn` furthest in `fit_one_cycle(5, 0.1)` on a CPU?

    python bench/cnn_final.py              # the sweep behind the final run of nbs/08_cnn.ipynb (≈ 10 min on 2 cores)
    python bench/cnn_final.py --quick      # bs 512 and 64 only

Each row: seed 42, the same architecture (5×5 then 3×3 stride-2 convs, 8-16-32-64-10 channels, BatchNorm), in-memory
normalized MNIST, accuracy on the 10,000 test images after each epoch, and seconds per epoch (noisy on a shared machine).
"""
import argparse, time, warnings
warnings.filterwarnings('ignore', category=FutureWarning)
import torch, torch.nn.functional as F
from fastai.vision.all import Learner, accuracy, set_seed, LabelSmoothingCrossEntropy, aug_transforms
from digitlab.data import mnist_dls
from digitlab.cnn import simple_cnn

CONFIGS = [  # (name, bs, learner kwargs, batch_tfms)
    ('bs 512', 512, {}, None), ('bs 256', 256, {}, None), ('bs 128', 128, {}, None), ('bs 64', 64, {}, None), ('bs 32', 32, {}, None),
    ('bs 64, label smoothing', 64, dict(loss_func=LabelSmoothingCrossEntropy()), None),
    ('bs 64, weight decay 0.1', 64, dict(wd=0.1), None),
    ('bs 64, augmentation', 64, {}, aug_transforms(do_flip=False, max_rotate=10, max_zoom=1.1, max_lighting=0, max_warp=0, p_affine=1.)),
]

if __name__=='__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0]); p.add_argument('--quick', action='store_true')
    a = p.parse_args()
    for name,bs,kw,tfms in CONFIGS:
        if a.quick and name not in ('bs 512','bs 64'): continue
        set_seed(42)
        learn = Learner(mnist_dls(bs=bs, normalize=True, batch_tfms=tfms), simple_cnn(norm='batch'),
                        **{'loss_func': F.cross_entropy, **kw}, metrics=accuracy)
        t = time.perf_counter()
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(5, 0.1)
        accs = [round(v[2],4) for v in learn.recorder.values]
        print(f"{name:<26} final {accs[-1]:.4f}   per epoch {' '.join(f'{x:.4f}' for x in accs)}   {(time.perf_counter()-t)/5:.1f}s/epoch", flush=True)
