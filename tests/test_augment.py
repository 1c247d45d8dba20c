"""The harder test sets (`digitlab.synthetic`) and the default recipe's augmentation (`digitlab.augment`)."""
import numpy as np, pytest, torch
import torch.nn.functional as F
from fastai.vision.all import TensorImage
from digitlab.augment import RandStroke, RandLowRes, RandDistort, robust_tfms
from digitlab.synthetic import HARDER, harder_set, restroke, low_res, elastic, harder_accuracy
from digitlab.idx import mnist_tensors
from digitlab.errors import DigitError

X = mnist_tensors('test')[0][:64]
def batch(): return TensorImage(X[:,None].float()/255)

# ---- augmentation -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('t', robust_tfms(), ids=lambda t: type(t).__name__)
def test_training_only_and_in_range(t):
    xb = batch()
    assert torch.equal(t(xb, split_idx=1), xb)                              # validation is MNIST as it is
    torch.manual_seed(0); out = t(xb, split_idx=0)
    assert isinstance(out, TensorImage) and out.shape == xb.shape and out.dtype == xb.dtype
    assert out.min() >= 0 and out.max() <= 1 and not torch.equal(out, xb)
    changed = (out != xb).flatten(1).any(1).float().mean()
    assert 0 < changed < 1                                                  # a fraction of the batch, not all of it
    assert torch.equal(xb, batch())                                         # the input batch itself is untouched

@pytest.mark.parametrize('cls', [RandStroke, RandLowRes, RandDistort])
def test_p_zero_changes_nothing_p_one_changes_every_image(cls):
    xb = batch()
    assert torch.equal(cls(p=0.)(xb, split_idx=0), xb)
    torch.manual_seed(1)
    assert (cls(p=1.)(xb, split_idx=0) != xb).flatten(1).any(1).all()

def test_stroke_thickens_and_thins():
    xb = batch(); ink = xb.sum()
    assert RandStroke(thick=1.5, thin=0., p=1.)(xb, split_idx=0).sum() > ink > RandStroke(thick=0., thin=1., p=1.)(xb, split_idx=0).sum()
    from digitlab.augment import _dilate
    plain = xb.as_subclass(torch.Tensor)
    assert torch.equal(_dilate(plain), F.max_pool2d(plain, 3, 1, 1))       # our separable dilation is max-pooling's

def test_distort_without_change_is_the_identity():
    xb = batch()
    t = RandDistort(rotate=0., scale=0., shear=0., shift=0., elastic=0., p=1.)
    assert torch.allclose(t(xb, split_idx=0), xb, atol=1e-5)

def test_in_the_loaders():
    from digitlab.loaders import mnist_dls
    dls = mnist_dls(bs=32, batch_tfms=robust_tfms())
    xb,_ = dls.one_batch(); vb,_ = dls.valid.one_batch()
    assert xb.shape == (32,1,28,28) and xb.min() >= 0 and xb.max() <= 1
    assert torch.equal(vb.cpu(), (mnist_tensors('test')[0][:32,None].float()/255))   # validation batches unchanged

# ---- harder sets ------------------------------------------------------------------------------------------------------
def test_restroke():
    x = mnist_tensors('test')[0][0].numpy()
    assert restroke(x, 1.).sum() > restroke(x, 0.).sum() > restroke(x, -0.5).sum()
    assert np.abs(restroke(x, 0.).astype(int) - x).mean() < 6               # no change of pen: the same digit, up to resampling (a few gray levels)
    for o in (restroke(x, 1.), low_res(x, 8), elastic(x, np.random.default_rng(0))): assert o.shape == (28,28) and o.dtype == np.uint8

def test_harder_sets_are_seeded():
    for k in HARDER:
        if k == 'photos': continue
        a,y,found = harder_set.__wrapped__(k, 30)
        b,_,_ = harder_set.__wrapped__(k, 30)
        assert torch.equal(a, b) and a.shape == (30,28,28) and found.all() and torch.equal(y, mnist_tensors('test')[1][:30])
        assert not torch.equal(a, harder_set.__wrapped__(k, 30, seed=1)[0])

def test_photos_set_small():
    a,y,found = harder_set.__wrapped__('photos', 12)
    b,_,_ = harder_set.__wrapped__('photos', 12)
    assert torch.equal(a, b) and a.shape == (12,28,28) and len(y) == len(found) == 12
    assert (a[~found] == 0).all()                                            # no digit found: a blank image, counted wrong

def test_unknown_set():
    with pytest.raises(KeyError, match='known'): harder_set('blurry')

def test_harder_accuracy_counts_missing_digits_wrong(monkeypatch):
    import digitlab.synthetic as S
    x,y = mnist_tensors('test'); x,y = x[:10], y[:10]
    found = torch.tensor([True]*8 + [False]*2)
    monkeypatch.setattr(S, 'harder_set', lambda name: (x, y, found))
    class Oracle(torch.nn.Module):   # reads every image right: its label, looked up by the image's pixels
        def __init__(self): super().__init__(); self.w = torch.nn.Parameter(torch.zeros(1))
        def forward(self, b): return F.one_hot(y[:len(b)], 10).float()
    assert S.harder_accuracy(Oracle(), 'thick', 0., 1.) == pytest.approx(0.8)

# ---- recipes ----------------------------------------------------------------------------------------------------------
def test_recipes():
    from digitlab.training import RECIPES, recipe_name
    assert RECIPES['fast']['augment'] and not RECIPES['plain']['augment'] and not RECIPES['best']['augment']
    assert {k: v for k,v in RECIPES['fast'].items() if k != 'augment'} == {k: v for k,v in RECIPES['plain'].items() if k != 'augment'}
    assert (recipe_name(None, False), recipe_name(None, True), recipe_name('plain', False), recipe_name('best', True)) == ('fast', 'best', 'plain', 'best')
    with pytest.raises(DigitError, match='no recipe'): recipe_name('slow', False)
    with pytest.raises(DigitError, match='one or the other'): recipe_name('plain', True)

def test_seed_spreads_on_every_harder_set():
    from digitlab.spreads import seed_spread
    for r in ('train_plain', 'train_fast', 'train_best'):
        for k in HARDER:
            sp = seed_spread(r, test_set=k)
            assert sp.n == 5 and 0 < sp.min <= sp.mean <= sp.max <= 1

def test_seeded_like_everything_else():
    "fastai's `set_seed` seeds Python's, NumPy's and torch's generators: the same seed, the same augmented batch"
    from fastai.vision.all import set_seed, Pipeline
    outs = []
    for _ in range(2):
        set_seed(3); outs.append(Pipeline(robust_tfms(), split_idx=0)(batch()))
    assert torch.equal(*outs)

def test_harder_sets_in_processes_are_harder_sets():
    "Made side by side in two processes, the sets are the ones `harder_set` makes in this process, bit for bit"
    import digitlab.synthetic as S
    made = S.harder_sets(['low_res', 'elastic'], procs=2)
    assert {('low_res', None, 0), ('elastic', None, 0)} <= set(S._MADE)
    for k in ('low_res', 'elastic'):
        for a, b in zip(made[k], S.harder_set.__wrapped__(k)): assert torch.equal(a, b), k
