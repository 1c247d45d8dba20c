"""A bare PyTorch loop, our `digitlab.learner.Learner` and fastai's `Learner`, one epoch each, side by side in one run.

    python bench/learners.py              # median of --repeats epochs per variant, interleaved
    python bench/learners.py --profile    # also: where fastai's extra time goes (cProfile, by module)

Same model (784-100-10 MLP), same optimizer (plain SGD, lr 0.1), same 60,000 MNIST training images in batches of 64.
Prints seconds per epoch and the ratio to the bare loop. Nothing is asserted: the machine is shared and noisy.
"""
import argparse, cProfile, pstats, statistics, time, warnings
import record
from collections import defaultdict
warnings.filterwarnings('ignore', category=FutureWarning)
import torch, torch.nn.functional as F
from torch import nn
import fastai.vision.all as fv
from digitlab.data import mnist_dls
from digitlab.learner import Learner, ProgressCB

def mlp(): torch.manual_seed(0); return nn.Sequential(nn.Flatten(), nn.Linear(28*28, 100), nn.ReLU(), nn.Linear(100, 10))

def bare(batches):
    m = mlp(); opt = torch.optim.SGD(m.parameters(), lr=0.1); t = time.perf_counter()
    for xb,yb in batches:
        loss = F.cross_entropy(m(xb), yb); loss.backward(); opt.step(); opt.zero_grad()
    return time.perf_counter()-t

def ours(dls, bar=False):
    l = Learner(dls, mlp(), lr=0.1, cbs=[ProgressCB()] if bar else []); l.recorder.log = lambda *a: None
    t = time.perf_counter(); l.fit(1); return time.perf_counter()-t

def fastai(dls, bar=False):
    l = fv.Learner(dls, mlp(), loss_func=F.cross_entropy, opt_func=fv.SGD, lr=0.1)
    t = time.perf_counter()
    if bar: l.fit(1)
    else:
        with l.no_bar(), l.no_logging(): l.fit(1)
    return time.perf_counter()-t

if __name__=='__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--profile', action='store_true')
    a = p.parse_args()
    dls = mnist_dls(bs=64, device='cpu')
    dl_fixed = dls.train.new(shuffle=False)
    batches = [(x.as_subclass(torch.Tensor), y.as_subclass(torch.Tensor)) for x,y in dl_fixed]   # plain tensors, in memory
    valid = [(x.as_subclass(torch.Tensor), y.as_subclass(torch.Tensor)) for x,y in dls.valid]
    variants = {'bare PyTorch loop (training only)': lambda: bare(batches),
                'our Learner, the same batches': lambda: ours((batches, valid)),
                'our Learner, mnist_dls': lambda: ours(dls),
                'our Learner, mnist_dls, progress bar': lambda: ours(dls, bar=True),
                "fastai's Learner, mnist_dls": lambda: fastai(dls),
                "fastai's Learner, mnist_dls, progress bar": lambda: fastai(dls, bar=True)}
    times = defaultdict(list)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; median of {a.repeats} epochs (60,000 images, bs 64)", flush=True)
    for _ in range(a.repeats):
        for k,f in variants.items(): times[k].append(f())
    # the valid pass: ours and fastai's validate after training; time it alone to compare like with like
    def bare_valid(m=mlp()):
        t = time.perf_counter()
        with torch.no_grad():
            for xb,yb in valid: F.cross_entropy(m(xb), yb)
        return time.perf_counter()-t
    v = statistics.median(bare_valid() for _ in range(a.repeats))
    base = statistics.median(times['bare PyTorch loop (training only)']) + v
    print(f"{'bare PyTorch loop + validation':<44} {base:6.2f}s   1.00x")
    rows = [dict(variant='bare PyTorch loop, in-memory plain batches (+ validation)', seconds=round(base, 3), ratio=1.0)]
    for k,ts in times.items():
        if k.startswith('bare'): continue
        m = statistics.median(ts); print(f"{k:<44} {m:6.2f}s   {m/base:4.2f}x   (runs: {', '.join(f'{t:.2f}' for t in ts)})", flush=True)
        rows.append(dict(variant=k, seconds=round(m, 3), ratio=round(m/base, 2), runs=[round(t, 3) for t in ts]))
    shares = None
    if a.profile:
        pr = cProfile.Profile(); pr.enable(); fastai(dls); pr.disable()
        by_mod = defaultdict(float)
        for (fn,_,name),(cc,nc,tt,ct,callers) in pstats.Stats(pr).stats.items():
            pkg = next((m for m in ('fastai','fastcore','fasttransform','fastprogress','plum') if f'/{m}/' in fn), None)   # by file first:
            mod = pkg or ('torch (model, loss, optimizer, its DataLoader iterator)' if '/torch/' in fn or (fn=='~' and 'torch' in name)  # fastai's
                          else 'Python built-ins and the rest')                                                  # __torch_function__ is fastai's
            by_mod[mod] += tt
        tot = sum(by_mod.values())
        print("fastai's Learner, one epoch, own time by package (cProfile):")
        for k,t in sorted(by_mod.items(), key=lambda o: -o[1]): print(f"  {k:<40} {t:6.2f}s  {100*t/tot:4.0f}%")
        shares = {k: round(100*t/tot) for k,t in sorted(by_mod.items(), key=lambda o: -o[1])}
    record.save('learners', dict(epochs=rows, fastai_profile_percent=shares), repeats=a.repeats,
                about="one epoch of a 784-100-10 MLP, plain SGD lr 0.1, 60,000 images, bs 64, with validation; medians")
