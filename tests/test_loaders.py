"""`mnist_dls` against the book's PNG pipeline (`ImageDataLoaders.from_folder`, one-channel) on the same images:
everything a fastai user does with loaders runs on both, and gives the same answer."""
import subprocess, sys, warnings
from pathlib import Path
import numpy as np, pytest, torch
import matplotlib; matplotlib.use('Agg')
import matplotlib.pyplot as plt
from PIL import Image
from torch import nn
from fastai.vision.all import (ImageDataLoaders, PILImageBW, TensorImageBW, TensorCategory, Learner, accuracy, set_seed,
                               untar_data, URLs, aug_transforms, ClassificationInterpretation, load_learner, Datasets)
from fastai.data.core import TfmdDL
from fastai.data.transforms import Transform
from digitlab.data import mnist_dls, make_mnist_folders, load_mnist, MnistError, TensorDL
import pytest
pytestmark = pytest.mark.slow   # trains, builds or renders: left out of `make quick`

warnings.filterwarnings('ignore', message='load_learner` uses Python')   # we load only the files we just wrote

def _mlp(n_out): return nn.Sequential(nn.Flatten(), nn.Linear(28*28, 30), nn.ReLU(), nn.Linear(30, n_out))

class Pair:
    "Our loaders and the folder pipeline's on the same images, a model trained on ours, and a learner on each"
    def __init__(self, digits, name, train, valid):
        make_mnist_folders('mnist_png' if name=='mnist' else name); self.valid_folder = valid
        self.path = untar_data(getattr(URLs, name.upper()))
        set_seed(42)
        self.ours = mnist_dls(digits, device='cpu')
        self.png = ImageDataLoaders.from_folder(self.path, train=train, valid=valid, img_cls=PILImageBW, device='cpu')
        self.learn = Learner(self.ours, _mlp(len(self.ours.vocab)), metrics=accuracy)
        with self.learn.no_bar(), self.learn.no_logging(): self.learn.fit(1, 0.01)
        self.learn_png = Learner(self.png, self.learn.model, metrics=accuracy)   # the same weights
        # the folder pipeline lists the validation files in another order: its file names are the MNIST indices
        pos = {int(Path(f).stem): k for k,f in enumerate(self.png.valid_ds.items)}
        self.perm = torch.tensor([pos[i] for i in self.ours.valid_ds.items])
        self.x_test, self.y_test = load_mnist('test')
    def files(self, n=4): return [sorted((self.path/self.valid_folder/d).ls())[0] for d in self.ours.vocab][:n]   # one file per digit
    def interps(self):
        if not hasattr(self, '_interps'):
            with self.learn.no_bar(), self.learn_png.no_bar():
                self._interps = [ClassificationInterpretation.from_learner(l) for l in (self.learn, self.learn_png)]
        return self._interps

@pytest.fixture(scope='module')
def p2(): return Pair((3,7), 'mnist_sample', 'train', 'valid')

@pytest.fixture(scope='module')
def p10(): return Pair(None, 'mnist', 'training', 'testing')

@pytest.fixture(params=['p2', 'p10'])
def p(request): return request.getfixturevalue(request.param)

def test_same_items(p):
    assert list(p.ours.vocab) == list(p.png.vocab) and len(p.ours.valid_ds) == len(p.png.valid_ds)
    assert len(p.ours.train_ds) == len(p.png.train_ds)
    assert type(p.ours.valid_ds) is Datasets
    for j in range(0, len(p.ours.valid_ds), 251):
        a, b = p.ours.valid.do_item(j), p.png.valid.do_item(int(p.perm[j]))
        assert type(a[0]) is type(b[0]) is TensorImageBW and a[0].dtype == b[0].dtype == torch.uint8
        assert torch.equal(a[0], b[0]) and int(a[1]) == int(b[1])

def test_one_batch_and_show_batch(p):
    for dls in (p.ours, p.png):
        x, y = dls.one_batch()
        assert (type(x), x.shape, x.dtype, type(y)) == (TensorImageBW, (64,1,28,28), torch.float32, TensorCategory)
        dls.show_batch(max_n=4); fig = plt.gcf()
        assert len([a for a in fig.axes if a.get_title()]) == 4 and all(a.get_title() in dls.vocab for a in fig.axes if a.get_title())
        plt.close('all')

def test_get_preds_match(p):
    with p.learn.no_bar(), p.learn_png.no_bar():
        (p1, t1), (p2_, t2) = p.learn.get_preds(), p.learn_png.get_preds()
    assert torch.allclose(p1, p2_[p.perm], atol=1e-5)
    assert torch.equal(t1, t2[p.perm])
    assert [p.ours.vocab[i] for i in t1[:20]] == [str(int(p.y_test[i])) for i in p.ours.valid_ds.items[:20]]   # decoded labels

def test_interpretation(p):
    i1, i2 = p.interps()
    with p.learn.no_bar(), p.learn_png.no_bar():
        c1, c2 = i1.confusion_matrix(), i2.confusion_matrix()
        n = len(p.ours.vocab)
        assert c1.shape == (n, n) and c1.sum() == len(p.ours.valid_ds) and (c1 == c2).all()
        assert np.trace(c1) > 0.8*c1.sum()
        assert i1.most_confused() == i2.most_confused()
        assert torch.allclose(i1.top_losses(5)[0], i2.top_losses(5)[0], atol=1e-5)
        for i in (i1, i2): i.plot_top_losses(3); assert len(plt.gcf().axes) >= 3; plt.close('all')

def test_predict_every_kind_of_input(p):
    f = p.files(1)[0]; x = p.x_test[int(f.stem)]
    with p.learn.no_bar(), p.learn_png.no_bar():
        want = p.learn_png.predict(f)
        for o in (f, str(f), PILImageBW.create(f), Image.open(f), x, x.numpy(), x[None], x.float()/255, (x.float()/255).numpy()):
            got = p.learn.predict(o)
            assert got[0] == want[0] == f.parent.name and int(got[1]) == int(want[1]) and torch.allclose(got[2], want[2], atol=1e-5)

def test_test_dl_never_augmented(p2):
    f = p2.files(); xs = p2.x_test[[int(o.stem) for o in f]]
    aug = mnist_dls((3,7), device='cpu', batch_tfms=aug_transforms(do_flip=False, max_rotate=30, p_affine=1.))
    learn = Learner(aug, p2.learn.model)
    with learn.no_bar(), p2.learn_png.no_bar():
        want = p2.learn_png.get_preds(dl=p2.png.test_dl(f))[0]
        for items in (f, [PILImageBW.create(o) for o in f], list(xs), xs, xs.float()/255, [o.numpy() for o in xs]):
            dl = aug.test_dl(items)
            a, b = learn.get_preds(dl=dl)[0], learn.get_preds(dl=dl)[0]
            assert torch.equal(a, b)                                   # two passes agree: no random transform ran
            assert torch.allclose(a, want, atol=1e-4)                  # and match the folder pipeline (identity warp ≈ nothing)
        assert aug.test_dl(f).dataset.split_idx == 1

def test_test_dl_refuses_what_would_be_wrong(p2):
    xb = p2.ours.one_batch()[0]
    with pytest.raises(ValueError, match='from 0 to 1'): p2.ours.test_dl((xb-0.5)*4).one_batch()
    with pytest.raises(ValueError, match='28×28'): p2.ours.test_dl([torch.zeros(32,32, dtype=torch.uint8)]).one_batch()

def test_export_load_learner_in_a_fresh_process(p, tmp_path):
    fn = tmp_path/'learner.pkl'; p.learn.export(fn)
    f = p.files(1)[0]
    with p.learn.no_bar(): want = p.learn.predict(f)
    code = ("import sys, warnings\nwarnings.simplefilter('ignore')\nfrom fastai.vision.all import load_learner\n"
            "l = load_learner(sys.argv[1])\nwith l.no_bar(): r = l.predict(sys.argv[2])\n"
            "print(r[0], int(r[1]), *r[2].tolist(), type(l.dls.train).__name__, len(l.dls.train_ds))")
    r = subprocess.run([sys.executable, '-c', code, str(fn), str(f)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = r.stdout.split()
    assert out[0] == want[0] and int(out[1]) == int(want[1]) and out[-2:] == ['TensorDL', '0']
    assert torch.allclose(torch.tensor([float(o) for o in out[2:-2]]), want[2], atol=1e-6)
    assert fn.stat().st_size < 1e6   # the model and the transforms, not 60,000 images

def test_show_results(p):
    for l in (p.learn, p.learn_png):
        with l.no_bar(): l.show_results(max_n=4)
        assert len([a for a in plt.gcf().axes if a.get_title()]) == 4; plt.close('all')

def test_lr_find(p2, tmp_path, monkeypatch):
    "fastai's lr_find on our loaders: to the bit what fastai's item-by-item loading of the same dataset gives; near the folder pipeline's"
    def run(make):
        set_seed(0); learn = Learner(make(), _mlp(2), path=tmp_path)   # seed, then loaders: the same batch order each time
        with learn.no_bar(), learn.no_logging(): s = learn.lr_find(num_it=20, show_plot=False)   # saves a temporary model under path/models
        plt.close('all'); return s.valley, [float(l) for l in learn.recorder.losses]
    ours = run(lambda: mnist_dls((3,7), device='cpu'))
    with monkeypatch.context() as m:
        m.setattr(TensorDL, 'create_batches', TfmdDL.create_batches)   # fastai's own way: item by item, then collated
        slow = run(lambda: mnist_dls((3,7), device='cpu'))
    png = run(lambda: ImageDataLoaders.from_folder(p2.path, train='train', valid='valid', img_cls=PILImageBW, device='cpu'))
    print(f"valley: ours {ours[0]:.3g}, item by item {slow[0]:.3g}, folders {png[0]:.3g}")
    assert len(ours[1]) == 20 and ours == slow   # the same batches: the same 20 losses and the same suggestion, exactly
    # Measured on the course's CPU over seeds 0-4: 6.3e-5 to 4.0e-4 for both pipelines, never more than one of lr_find's
    # 20 steps apart (each step multiplies the rate by 10**0.4, from 1e-7 to 10), as their batch orders differ.
    assert 5e-5 < ours[0] < 1e-3 and 5e-5 < png[0] < 1e-3
    assert abs(np.log10(ours[0]/png[0])) <= 0.4 + 1e-6

def test_added_item_and_batch_transforms_apply():
    "A transform added to `after_item` or `before_batch` works on single items: TensorDL then goes item by item, and the batch shows it"
    class Mirror(Transform):
        def encodes(self, x:TensorImageBW): return x.flip(-1)
    dl = mnist_dls((3,7), device='cpu').valid
    assert len(dl.after_item.fs) == len(dl.before_batch.fs) == 0   # a plain TensorDL has none: the fast path
    x, y = dl.one_batch()
    x2, y2 = dl.new(after_item=[Mirror()]).one_batch()
    assert torch.equal(x2, x.flip(-1)) and torch.equal(y2, y)
    x3, y3 = dl.new(before_batch=[lambda items: items[::-1]]).one_batch()   # the batch's items, in reverse order
    assert torch.equal(x3, x.flip(0)) and torch.equal(y3, y.flip(0))
    dl.after_item.add(Mirror())                                               # added to an existing loader
    assert torch.equal(dl.one_batch()[0], x.flip(-1))

def test_new_cpu_and_new_empty(p2):
    dls = p2.ours
    assert dls.train.new(bs=16).one_batch()[0].shape == (16,1,28,28)
    assert dls.valid.new(shuffle=False, drop_last=False).one_batch()[0].shape == (64,1,28,28)
    assert dls.cpu().one_batch()[0].device.type == 'cpu'
    e = dls.new_empty()
    assert len(e.train_ds) == len(e.valid_ds) == 0 and list(e.vocab) == ['3','7']

@pytest.mark.skipif(not torch.cuda.is_available(), reason='no GPU on this machine')
def test_cuda():
    dls = mnist_dls((3,7), device='cpu').cuda()
    assert dls.one_batch()[0].device.type == 'cuda'

def test_fast_batches_equal_item_by_item(p):
    from fastai.data.core import TfmdDL
    for dl in (p.ours.valid, p.ours.train):
        s = list(range(0, len(dl.dataset), 97))
        for a, b in zip(dl.create_batches(s), TfmdDL.create_batches(dl, s)):
            for u, v in zip(a, b): assert type(u) is type(v) and torch.equal(u, v)

def test_digits_arguments():
    assert list(mnist_dls(np.array([7,3])).vocab) == ['3','7']
    assert list(mnist_dls(range(4)).vocab) == ['0','1','2','3']
    assert list(mnist_dls(torch.tensor([9,1])).vocab) == ['1','9']
    for bad in [(), [], (3,), (3,3), (3,10), 3, '37', (3.0,7.0), (True, False)]:
        with pytest.raises(ValueError, match='digits must be'): mnist_dls(bad)

def test_normalize_uses_the_subsets_statistics():
    dl = mnist_dls((3,7), bs=4096, normalize=True, device='cpu').train.new(shuffle=False, drop_last=False)
    x = torch.cat([b[0] for b in dl])
    assert abs(x.mean()) < 1e-3 and abs(x.std()-1) < 1e-3

def test_cache_not_shared():
    before = load_mnist('train')[0]
    dls = mnist_dls(device='cpu')
    dls.train_ds[0][0].zero_()
    for t in dls.train_ds._batch_tensors: t.zero_()           # even an edit of the loaders' own tensors
    assert torch.equal(load_mnist('train')[0], before) and mnist_dls(device='cpu').one_batch()[0].sum() > 0
