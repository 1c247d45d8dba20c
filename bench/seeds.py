"""Every headline recipe of the notebooks, trained over several seeds: mean, min and max accuracy per recipe, one table.

    python bench/seeds.py                       # every recipe, seeds 42 1 2 3 4 (≈ 25 min on 2 cores)
    python bench/seeds.py --only cnn_final_ours --seeds 42 1 2 3 4 5 6 7
    python bench/seeds.py --list

Each recipe is the notebook's own cell, restated with the library's functions: `set_seed(seed)`, then the loaders, then
the model, then training, so seed 42 reproduces the number printed in the notebook (on the same machine, threads and
versions). The results are merged into `digitlab/seeds.json`, which ships with the package: the notebooks quote
`seed_spread(recipe).text` and assert their own run is above `seed_spread(recipe).floor` (the minimum minus a margin).
"""
import argparse, json, statistics, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore', category=FutureWarning)
warnings.filterwarnings('ignore', message='__array_wrap__')
import torch, torch.nn.functional as F, fastai, fastcore
from torch import nn
from fastai.vision.all import (untar_data, URLs, DataLoader, DataLoaders, Learner, SGD, set_seed, vision_learner, resnet18,
                               accuracy, LabelSmoothingCrossEntropyFlat)
import digitlab
from digitlab.data import make_mnist_folders, mnist_dls
from digitlab.sgd import mnist_xy, init_params, mnist_loss, batch_accuracy, simple_net, BasicOptim, train_epoch, validate_epoch
from digitlab.cnn import simple_cnn, RandShift

OUT = Path(__file__).resolve().parent.parent/'digitlab'/'seeds.json'
RECIPES = {}
def recipe(lesson, what, book=None):
    "Register a function `f(seed) -> accuracy` as a recipe of `lesson`"
    def _inner(f): RECIPES[f.__name__] = dict(f=f, lesson=lesson, what=what, book=book); return f
    return _inner

# ---- chapter 4: 3s and 7s, the book's unshuffled `DataLoader`s of flattened images --------------------------------
_ch4 = {}
def ch4_data():
    if not _ch4:
        path = untar_data(URLs.MNIST_SAMPLE)
        (tx,ty),(vx,vy) = mnist_xy(path, 'train'), mnist_xy(path, 'valid')
        _ch4.update(dl=DataLoader(list(zip(tx,ty)), batch_size=256), valid_dl=DataLoader(list(zip(vx,vy)), batch_size=256))
    return _ch4['dl'], _ch4['valid_dl']

@recipe('03_sgd', 'linear1 by hand (std-1 init), SGD lr 1, 20 epochs')
def linear_by_hand(seed):
    dl,valid_dl = ch4_data()
    set_seed(seed)
    weights,bias = init_params((28*28,1)),init_params(1)
    model = lambda xb: xb@weights + bias
    opt = BasicOptim((weights,bias), 1.)
    for _ in range(20): train_epoch(model, dl, opt)
    return validate_epoch(model, valid_dl)

@recipe('03_sgd', 'nn.Linear + BasicOptim, lr 1, 20 epochs', book=0.978)
def linear_basicoptim(seed):
    dl,valid_dl = ch4_data()
    set_seed(seed)
    model = nn.Linear(28*28,1)
    opt = BasicOptim(model.parameters(), 1.)
    for _ in range(20): train_epoch(model, dl, opt)
    return validate_epoch(model, valid_dl)

def _learner_ch4(seed, model_f, epochs, lr):
    set_seed(seed)
    learn = Learner(DataLoaders(*ch4_data()), model_f(), opt_func=SGD, loss_func=mnist_loss, metrics=batch_accuracy)
    with learn.no_bar(), learn.no_logging(): learn.fit(epochs, lr)
    return learn.recorder.values[-1][2]

@recipe('04_fastai_learner', 'Learner, nn.Linear, SGD lr 1, 10 epochs', book=0.9676)
def linear_learner(seed): return _learner_ch4(seed, lambda: nn.Linear(28*28,1), 10, 1.)

@recipe('04_fastai_learner', 'Learner, simple_net, SGD lr 0.1, 40 epochs', book=0.982)
def simple_net_40(seed): return _learner_ch4(seed, simple_net, 40, 0.1)

@recipe('04_fastai_learner', 'resnet18 from scratch, in-memory 3s and 7s, fit_one_cycle(1, 0.1)', book=0.997)
def resnet18_3v7(seed):
    set_seed(seed)
    learn = vision_learner(mnist_dls((3,7), bs=64), resnet18, pretrained=False, n_in=1, loss_func=F.cross_entropy, metrics=accuracy)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 0.1)
    return learn.recorder.values[-1][2]

# ---- chapter 4, further research: our own Learner (05) and all ten digits (06) -----------------------------------------
def _own(seed, model_f, n, lr, digits=None, **kw):
    from digitlab.learner import Learner as OwnLearner, accuracy as own_accuracy
    set_seed(seed)
    learn = OwnLearner(mnist_dls(digits, bs=64), model_f(), metrics=own_accuracy, **kw)
    learn.recorder.log = lambda *a: None
    learn.fit_one_cycle(n, lr)
    return learn.recorder.values[-1]['accuracy']

def _mlp(h, n_out): return lambda: nn.Sequential(nn.Flatten(), nn.Linear(28*28, h), nn.ReLU(), nn.Linear(h, n_out))

@recipe('05_learner', 'our Learner, 3s and 7s, 784-30-2 MLP, SGD, fit_one_cycle(2, 0.5)')
def own_learner_1cycle(seed): return _own(seed, _mlp(30, 2), 2, 0.5, digits=(3,7))

@recipe('06_all_digits', 'ten digits, linear, our cross-entropy and Learner, SGD, fit_one_cycle(2, 0.5)')
def all_digits_linear(seed):
    from digitlab.all_digits import cross_entropy
    return _own(seed, lambda: nn.Sequential(nn.Flatten(), nn.Linear(28*28, 10)), 2, 0.5, loss_func=cross_entropy)

@recipe('06_all_digits', 'ten digits, 784-100-10 MLP, our cross-entropy and Learner, SGD momentum 0.9, fit_one_cycle(3, 0.1)')
def all_digits_mlp(seed):
    from functools import partial
    from digitlab.all_digits import cross_entropy
    return _own(seed, _mlp(100, 10), 3, 0.1, loss_func=cross_entropy, opt_func=partial(torch.optim.SGD, momentum=0.9))

def _mlp_of(*hs):
    "784 → each of `hs` ReLU units in turn → 10"
    szs = (28*28,)+hs
    return lambda: nn.Sequential(nn.Flatten(), *[m for a,b in zip(szs, szs[1:]) for m in (nn.Linear(a,b), nn.ReLU())], nn.Linear(szs[-1], 10))

def _all_digits_mlp(seed, *hs):
    from functools import partial
    from digitlab.all_digits import cross_entropy
    return _own(seed, _mlp_of(*hs), 3, 0.1, loss_func=cross_entropy, opt_func=partial(torch.optim.SGD, momentum=0.9))

@recipe('06_all_digits', 'deeper or wider: 784-50-10 MLP (39,760 parameters), as all_digits_mlp')
def all_digits_mlp_50(seed): return _all_digits_mlp(seed, 50)

@recipe('06_all_digits', 'deeper or wider: 784-50-50-10 MLP (42,310 parameters), as all_digits_mlp')
def all_digits_mlp_50_50(seed): return _all_digits_mlp(seed, 50, 50)

@recipe('06_all_digits', 'deeper or wider: 784-400-10 MLP (318,010 parameters), as all_digits_mlp')
def all_digits_mlp_400(seed): return _all_digits_mlp(seed, 400)

# ---- chapter 13 -----------------------------------------------------------------------------------------------------
def _fit_cnn(seed, model_f, epochs, lr, digits=None, bs=64, normalize=True, one_cycle=True, batch_tfms=None, **kw):
    set_seed(seed)
    dls = mnist_dls(digits, bs=bs, normalize=normalize, batch_tfms=batch_tfms)
    learn = Learner(dls, model_f(), **{'loss_func': F.cross_entropy, **kw}, metrics=accuracy)
    with learn.no_bar(), learn.no_logging():
        if one_cycle: learn.fit_one_cycle(epochs, lr)
        else: learn.fit(epochs, lr)
    return learn.recorder.values[-1][2]

@recipe('08_cnn', 'simple_cnn 3s and 7s (4-8-16-32-2), fit_one_cycle(2, 0.01)', book=0.9902)
def cnn_3v7(seed): return _fit_cnn(seed, lambda: simple_cnn((1,4,8,16,32,2), ks0=3), 2, 0.01, digits=(3,7), normalize=False)

@recipe('08_cnn', 'all ten digits, no normalization layer, bs 64, fit(1, 0.06)', book=0.1135)
def cnn_baseline(seed): return _fit_cnn(seed, simple_cnn, 1, 0.06, one_cycle=False)

@recipe('08_cnn', 'the same, bs 512, fit(1, 0.06)', book=0.1135)
def cnn_bs512(seed): return _fit_cnn(seed, simple_cnn, 1, 0.06, bs=512, one_cycle=False)

@recipe('08_cnn', 'bs 512, fit_one_cycle(1, 0.06)', book=0.974)
def cnn_1cycle(seed): return _fit_cnn(seed, simple_cnn, 1, 0.06, bs=512)

@recipe('08_cnn', "the book's BatchNorm conv (conv, ReLU, BatchNorm), bs 512, fit_one_cycle(1, 0.06)", book=0.986)
def cnn_batchnorm(seed): return _fit_cnn(seed, lambda: simple_cnn(norm='batch'), 1, 0.06, bs=512)

@recipe('08_cnn', "the book's final run: its BatchNorm conv, bs 512, fit_one_cycle(5, 0.1)", book=0.9912)
def cnn_final_book(seed): return _fit_cnn(seed, lambda: simple_cnn(norm='batch'), 5, 0.1, bs=512)

WIDE = (1,16,32,64,128,10)
@recipe('08_cnn', "ours, step 1: twice the channels (16-32-64-128), BatchNorm before the ReLU, bs 128, fit_one_cycle(5, 0.1)")
def cnn_final_wide(seed): return _fit_cnn(seed, lambda: simple_cnn(WIDE, norm='batch', norm_first=True), 5, 0.1, bs=128)

@recipe('08_cnn', "ours, step 2: + label smoothing")
def cnn_final_ls(seed):
    return _fit_cnn(seed, lambda: simple_cnn(WIDE, norm='batch', norm_first=True), 5, 0.1, bs=128, loss_func=LabelSmoothingCrossEntropyFlat())

@recipe('08_cnn', "ours, step 3 (our final model): + random shifts of up to 2 pixels")
def cnn_final_ours(seed):
    return _fit_cnn(seed, lambda: simple_cnn(WIDE, norm='batch', norm_first=True), 5, 0.1, bs=128,
                    loss_func=LabelSmoothingCrossEntropyFlat(), batch_tfms=RandShift(2))

# Further research (08): which normalization, and where. Each variant: one epoch of 1cycle at 0.06, bs 512, no norm in the output layer.
NORMS = dict(norm_batch=('batch', False), norm_batch_first=('batch', True), norm_layer=('layer', False), norm_group=('group', False),
             norm_instance=('instance', False), norm_none=(None, False))
def _norm_recipe(name, norm, first):
    what = f"further research: {norm or 'no'} normalization{', before the ReLU' if first else ''}, no norm in the output layer, bs 512, fit_one_cycle(1, 0.06)"
    def f(seed): return _fit_cnn(seed, lambda: simple_cnn(norm=norm, norm_first=first, norm_out=False), 1, 0.06, bs=512)
    f.__name__ = name
    return recipe('08_cnn', what)(f)
for _k,(_n,_f) in NORMS.items(): _norm_recipe(_k, _n, _f)

# ---- beyond the book: `digitlab train` (12_your_digits), on MNIST and on each harder test set -------------------------
def _train(seed, **kw):
    "`digitlab train` with a recipe: its accuracy on MNIST's test set, and on each of `digitlab.synthetic.HARDER`"
    from digitlab.training import train
    from digitlab.synthetic import HARDER, harder_accuracy
    learn, meta = train(seed=seed, progress=False, **kw)
    return dict(mnist=meta.accuracy, **{k: harder_accuracy(learn.model, k, meta.mean, meta.std) for k in HARDER})

@recipe('12_your_digits', 'digitlab train: the default recipe (the final CNN, bs 256, label smoothing, fit_one_cycle(2, 0.1), augmentation)')
def train_fast(seed): return _train(seed)

@recipe('12_your_digits', "digitlab train --recipe plain: the default without augmentation (the earlier default)")
def train_plain(seed): return _train(seed, recipe='plain')

@recipe('12_your_digits', 'digitlab train --best (random shifts of up to 2 pixels, bs 128, fit_one_cycle(12, 0.1), no other augmentation)')
def train_best(seed): return _train(seed, best=True)

@recipe('13_distributed', 'digitlab train --procs 2 (2 processes × batch 128 = 256, gloo, otherwise train_fast)')
def train_procs2(seed):
    import subprocess, sys, tempfile
    from digitlab.modelfile import load_model
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, '-c', 'import sys; from digitlab.cli import main; sys.exit(main())', 'train', '--procs', '2',
                        '--seed', str(seed), '--out', f'{d}/m'], check=True, capture_output=True)
        return load_model(f'{d}/m.safetensors').meta.accuracy

if __name__=='__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, nargs='+', default=[42, 1, 2, 3, 4])
    p.add_argument('--only', nargs='+', choices=list(RECIPES), help='recipes to run (default: all)')
    p.add_argument('--list', action='store_true', help='list the recipes and stop')
    a = p.parse_args()
    if a.list:
        for k,v in RECIPES.items(): print(f"{k:<20} {v['lesson']:<18} {v['what']}")
        raise SystemExit
    make_mnist_folders()
    res = json.loads(OUT.read_text()) if OUT.exists() else {}
    res.update(about="Accuracy of each recipe over seeds, written by bench/seeds.py", torch_threads=torch.get_num_threads(),
               versions=dict(digitlab=digitlab.__version__, fastai=fastai.__version__, fastcore=fastcore.__version__, torch=torch.__version__))
    recipes = res.setdefault('recipes', {})
    print(f"{'recipe':<20} {'book':>7} {'mean':>7} {'min':>7} {'max':>7}  n   s/run  accuracy per seed", flush=True)
    for name in a.only or RECIPES:
        r = RECIPES[name]; accs,secs,harder = {},[],{}
        for s in a.seeds:
            t = time.perf_counter(); out = r['f'](s); secs.append(time.perf_counter()-t)
            if isinstance(out, dict):   # MNIST's test set and harder ones: {'mnist': acc, set: acc, ...}
                for k,x in out.items():
                    if k!='mnist': harder.setdefault(k, {})[str(s)] = round(float(x), 4)
                out = out['mnist']
            accs[str(s)] = round(float(out), 4)
        v = list(accs.values())
        recipes[name] = dict(lesson=r['lesson'], what=r['what'], book=r['book'], accs=accs, median_seconds=round(statistics.median(secs), 1),
                             **(dict(harder=harder) if harder else {}))
        for k,h in harder.items():
            print(f"{'  on '+k:<20} {'':>7} {statistics.mean(h.values()):7.4f} {min(h.values()):7.4f} {max(h.values()):7.4f}", flush=True)
        book = f"{r['book']:.4f}" if r['book'] else '    –'
        print(f"{name:<20} {book:>7} {statistics.mean(v):7.4f} {min(v):7.4f} {max(v):7.4f} {len(v):2d} {statistics.median(secs):6.1f}  "
              + ' '.join(f'{k}:{x:.4f}' for k,x in accs.items()), flush=True)
        recipes = {k: recipes[k] for k in RECIPES if k in recipes}   # keep the notebooks' order
        res['recipes'] = recipes
        OUT.write_text(json.dumps(res, indent=1)+'\n')
