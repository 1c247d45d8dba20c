"Seed, then loaders, then model: the same training run gives the same weights, in a fresh process or after other work."
import hashlib, json, subprocess, sys
import pytest
from tests.conftest import ROOT

RUN = r'''
import hashlib, json, random, sys, torch, torch.nn.functional as F
from fastai.vision.all import Learner, accuracy, set_seed
from digitlab.data import mnist_dls
from digitlab.cnn import simple_cnn, RandShift
import pytest
pytestmark = pytest.mark.slow   # trains, builds or renders: left out of `make quick`
if sys.argv[1] == 'after-other-work':           # a notebook's earlier cells: other draws from every generator
    random.random(); torch.rand(3); set_seed(7); mnist_dls((3,7)).one_batch()
set_seed(1)
dls = mnist_dls((3,7), bs=256, batch_tfms=RandShift(2))
learn = Learner(dls, simple_cnn((1,4,8,16,32,2), ks0=3, norm='batch'), loss_func=F.cross_entropy, metrics=accuracy)
with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 0.01)
sd = learn.model.state_dict()                   # weights and BatchNorm buffers
h = hashlib.sha256(b''.join(sd[k].detach().cpu().numpy().tobytes() for k in sorted(sd))).hexdigest()
print(json.dumps(dict(hash=h, acc=learn.recorder.values[-1][2])))
'''

def train(mode):
    r = subprocess.run([sys.executable, '-c', RUN, mode], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])

@pytest.fixture(scope='module')
def fresh(): return train('fresh')

def test_same_seed_same_weights(fresh):
    "Two fresh processes: bit-identical weights and the same accuracy"
    again = train('fresh')
    assert again == fresh
    assert fresh['acc'] > 0.9   # it did train

def test_earlier_work_does_not_matter(fresh):
    "A run after other random work (as in a notebook run top to bottom) equals the run on its own"
    assert train('after-other-work') == fresh

def test_seed_after_loaders_does_not_fix_the_order():
    "The trap: loaders made before `set_seed` draw their order from whatever ran before"
    code = r'''
import random, torch
from fastai.vision.all import set_seed
from digitlab.data import mnist_dls
random.seed(int(__import__('sys').argv[1]))
dls = mnist_dls((3,7)); set_seed(1)
print(dls.train.one_batch()[1][:32].tolist())
'''
    outs = [subprocess.run([sys.executable, '-c', code, str(s)], capture_output=True, text=True, cwd=ROOT).stdout for s in (0, 1)]
    assert outs[0] and outs[1] and outs[0] != outs[1]
