"""How fast `digitlab train` reaches 99% on MNIST's test set, beside a bare PyTorch loop doing the same work, and what each choice is worth.

    python bench/train.py                  # the plain recipe, the bare loop and the default recipe 3 times each, then one run per variant
    python bench/train.py --repeats 5 --variants none
    python bench/train.py --compile        # also torch.compile (slow to compile: measured separately)

Every run seeds, then makes its loaders, then its model. The bare loop trains the same model from the same initial
weights on the same normalized tensors, with the same batch order size, optimizer settings (fastai's Adam is AdamW with
eps 1e-5, wd 0.01, betas (0.9, 0.99)), the same 1cycle schedule (lr and momentum) and label smoothing. Times are medians;
the machine is shared and noisy, so read the ratios, which are measured side by side in one run. The bare loop and the
variants are the `plain` recipe (no augmentation); the default recipe (`fast`) is `plain` plus augmentation, timed in the same
rounds, and its ratio to `plain` is its cost. Exits 1 if the default recipe's median time to 99% is over `--max-seconds`
(30), any default run ends below 99%, or the default takes more than `--max-ratio` (1.5) times as long as `plain`.
"""
import argparse, statistics, sys, time, warnings
import record
warnings.filterwarnings('ignore', category=FutureWarning)
import torch, torch.nn.functional as F
from fastai.vision.all import Callback, set_seed
from digitlab.data import mnist_dls, load_mnist
from digitlab.training import RECIPES, train
from digitlab.modelfile import make_model
from digitlab.idx import mnist_stats
import digitlab.training as P   # train() builds its model with this module's make_model

class EpochTimes(Callback):
    "Seconds since the start of training, and validation accuracy, at the end of each epoch"
    order = 100   # after the Recorder has its values
    def before_fit(self): self.t0, self.rows = time.perf_counter(), []
    def after_epoch(self): self.rows.append((time.perf_counter()-self.t0, float(self.recorder.values[-1][-1])))

def time_to(rows, target=0.99): return next((t for t,a in rows if a>=target), float('inf'))

def fastai_run(seed, recipe='plain', **kw):
    "`digitlab.training.train` with a timing callback: (seconds per epoch and accuracy rows, final accuracy, total seconds)"
    cb = EpochTimes()
    learn, meta = train(seed=seed, progress=False, cbs=cb, recipe=recipe, **kw)
    return cb.rows, meta.accuracy, meta.train_seconds

def bare_run(seed, chans, epochs, bs, lr, smoothing, channels_last=True, **_):
    "The same training in plain PyTorch: tensors in memory, AdamW, OneCycleLR (lr and momentum), label smoothing"
    set_seed(seed)
    mean, std = mnist_stats()
    (x, y), (vx, vy) = load_mnist('train'), load_mnist('test')
    x, vx = ((t[:, None].float()/255 - mean)/std for t in (x, vx))
    model = make_model(chans=chans)
    if channels_last: model = model.to(memory_format=torch.channels_last)
    steps = epochs*(len(x)//bs)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.95, 0.99), eps=1e-5, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.25, div_factor=25, final_div_factor=1e5,
                                                base_momentum=0.85, max_momentum=0.95, anneal_strategy='cos')
    rows, t0 = [], time.perf_counter()
    for _ in range(epochs):
        model.train()
        for b in torch.randperm(len(x))[:steps//epochs*bs].split(bs):
            loss = F.cross_entropy(model(x[b]), y[b], label_smoothing=0.1 if smoothing else 0.)
            opt.zero_grad(); loss.backward(); opt.step(); sched.step()
        model.eval()
        with torch.no_grad(): acc = torch.cat([model(b).argmax(1) for b in vx.split(1024)]).eq(vy).float().mean().item()
        rows.append((time.perf_counter()-t0, acc))
    return rows, rows[-1][1], rows[-1][0]

ROWS = []
def show(name, runs, base=None, plain=None):
    "One line: median time to 99%, median total, accuracies, and the ratio to `base` (a median total), and to `plain`'s"
    tt = statistics.median(time_to(r) for r,_,_ in runs); tot = statistics.median(s for _,_,s in runs)
    ROWS.append(dict(run=name.strip(), runs=len(runs), seconds_to_99=None if tt==float('inf') else round(tt, 1), seconds=round(tot, 1),
                     vs_bare=round(tot/base, 2) if base else None, vs_plain=round(tot/plain, 2) if plain else None,
                     accuracies=[round(a, 4) for _,a,_ in runs]))
    accs = ' '.join(f"{a:.4f}" for _,a,_ in runs)
    ratio = f"{tot/base:5.2f}×" if base else '    –'
    print(f"{name:<44} {tt:8.1f} {tot:8.1f} {ratio}   {accs}", flush=True)
    return tt, tot

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--variants', choices=['all', 'none'], default='all')
    p.add_argument('--compile', action='store_true', help='also the plain recipe with torch.compile')
    p.add_argument('--max-seconds', type=float, default=30.)
    p.add_argument('--max-ratio', type=float, default=1.5)
    a = p.parse_args()
    r = RECIPES['plain']; seeds = [42, 1, 2, 3, 4][:a.repeats]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; plain recipe {r}; default: the same with augmentation")
    print(f"{'run':<44} {'to 99%':>8} {'total s':>8} {'vs bare':>6}   accuracy per run")
    mnist_dls()   # read and check MNIST once, outside the timings
    bare, runs, aug = [], [], []
    for s in seeds:   # interleaved: a noisy minute hurts all three alike
        bare.append(bare_run(s, **r)); runs.append(fastai_run(s)); aug.append(fastai_run(s, recipe='fast'))
    _, bare_tot = show('bare PyTorch loop, same work', bare)
    _, tot = show('plain recipe (fastai Learner)', runs, bare_tot)
    tt, aug_tot = show('default recipe (plain + augmentation)', aug, bare_tot, tot)
    if a.variants == 'all':
        show('  without channels_last', [fastai_run(42, channels_last=False)], bare_tot)
        show('  bare loop without channels_last', [bare_run(42, **{**r, 'channels_last': False})], bare_tot)
        show('  bs 128', [fastai_run(42, bs=128)], bare_tot)
        show('  bs 512, 3 epochs', [fastai_run(42, bs=512, epochs=3)], bare_tot)
        show('  1 epoch', [fastai_run(42, epochs=1)], bare_tot)
        n = torch.get_num_threads(); torch.set_num_threads(1)
        show('  1 thread', [fastai_run(42)], bare_tot); torch.set_num_threads(n)
    if a.compile:
        real = P.make_model
        P.make_model = lambda *x, **k: torch.compile(real(*x, **k))
        try: show('  torch.compile (compile time included)', [fastai_run(42)], bare_tot)
        finally: P.make_model = real
    ok = tt <= a.max_seconds and all(acc >= 0.99 for _, acc, _ in aug) and aug_tot/tot <= a.max_ratio
    record.save('train', ROWS, recipe={k: v for k,v in r.items()}, repeats=a.repeats,
                about="digitlab train's plain recipe beside a bare PyTorch loop doing the same work, and the default recipe (plain + augmentation) in the same rounds; "
                      "then one run of the plain recipe per variant; seconds of training (medians), seconds until the test accuracy first reaches 99%")
    print(f"default recipe: median {tt:.1f} s to 99% (limit {a.max_seconds:.0f} s), {aug_tot/tot:.2f}× the plain recipe's time (limit {a.max_ratio}), "
          f"plain fastai/bare = {tot/bare_tot:.2f}× — {'ok' if ok else 'FAIL'}")
    sys.exit(0 if ok else 1)
