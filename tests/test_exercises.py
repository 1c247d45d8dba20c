"""The exercises' checks (digitlab.exercises): every reference solution and every alternative passes; every known wrong
answer fails with its own message; unanswered, endless and noisy answers are handled; the learner's random state is kept."""
import random, re
import numpy as np, pytest, torch
from digitlab.exercises import check, hint, solution, exercises, EXERCISES

IDS = exercises()

def test_ids_are_stable_and_each_lesson_has_four_to_eight():
    "Tests, lessons and learners' notes use these names: they must not change"
    must = {'ch4.mnist_distance', 'ch4.is_3', 'ch4.mae', 'ch4.fit_quad', 'ch4.seven_steps', 'ch4.mnist_loss', 'ch4.basic_optim',
            'ch4.train_epoch', 'ch4.simple_net', 'ch4.flatten', 'ch4.stop_after', 'ch4.log_softmax', 'ch4.cross_entropy',
            'ch13.top_edge', 'ch13.left_edge', 'ch13.conv_out_size', 'ch13.receptive_field', 'ch13.simple_cnn', 'ch13.he_std', 'ch13.predict'}
    assert must <= set(IDS), must - set(IDS)
    for l in ('01', '02', '03', '04', '05', '06', '07', '08'): assert 4 <= len(exercises(l)) <= 8, (l, exercises(l))
    from pathlib import Path; import digitlab
    from digitlab.exercises import EXERCISE_MODULES
    lib = Path(digitlab.__file__).parent
    assert sorted(EXERCISE_MODULES) == sorted(p.stem for p in lib.glob('exercises_*.py'))   # every exercise module is loaded
    src = ''.join((lib/f'{m}.py').read_text() for m in EXERCISE_MODULES)
    assert len(re.findall(r"^@exercise\('", src, re.M)) == len(IDS)   # no id defined twice (a later one would replace the first)
    for e in EXERCISES.values(): assert re.fullmatch(r'ch(4|13)\.[a-z0-9_]+', e.id) and len(e.hints) >= 2 and e.task, e.id

@pytest.mark.parametrize('id', IDS)
def test_reference_and_alternative_pass(id, capsys):
    e = EXERCISES[id]
    assert e.solution != e.alternative
    assert check(id, e.reference()) is True
    assert check(id, e.build(e.alternative)) is True
    assert capsys.readouterr().out.count('✓') == 2

# (exercise, a wrong answer as code, a fragment of the message that must name the mistake)
WRONG = [
    ('ch4.mnist_distance', "def mnist_distance(a, b): return (a-b).abs().sum((-1,-2))", "summed the differences"),
    ('ch4.mnist_distance', "def mnist_distance(a, b): return (a-b).abs().mean()", "over the batch axis"),
    ('ch4.mnist_distance', "def mnist_distance(a, b): return (a-b).mean((-1,-2))", "opposite signs cancel"),
    ('ch4.rmse_distance', "def rmse_distance(a, b): return ((a-b)**2).mean((-1,-2))", "root"),
    ('ch4.is_3', "def is_3(x, m3, m7): return (x-m3).abs().mean((-1,-2)) > (x-m7).abs().mean((-1,-2))", "wrong way"),
    ('ch4.broadcast_shape', "broadcast_shape = (28, 28)", "never shrinks"),
    ('ch4.mae', "def mae(p, a): return (p-a).abs().sum()", "summed"),
    ('ch4.relu', "def relu(x): return torch.where(x > 0, 0., x)", "wrong half survives"),
    ('ch4.mk_quad', "def mk_quad(a, b, c): return a + b + c", "returned a number"),
    ('ch4.fit_quad', """def fit_quad(x, y, steps, lr):
    abc = torch.tensor([1.1,1.1,1.1], requires_grad=True)
    for _ in range(steps):
        (abc[0]*x**2 + abc[1]*x + abc[2] - y).abs().mean().backward()
        with torch.no_grad(): abc -= abc*lr; abc.grad.zero_()
    return abc.detach()""", "abc -= abc*lr"),
    ('ch4.fit_quad', """def fit_quad(x, y, steps, lr):
    abc = torch.tensor([1.1,1.1,1.1], requires_grad=True)
    for _ in range(steps):
        (abc[0]*x**2 + abc[1]*x + abc[2] - y).abs().mean().backward()
        with torch.no_grad(): abc -= abc.grad*lr
    return abc.detach()""", "never zeroed"),
    ('ch4.fit_quad', """def fit_quad(x, y, steps, lr):
    abc = torch.tensor([1.1,1.1,1.1], requires_grad=True)
    for _ in range(steps):
        (abc[0]*x**2 + abc[1]*x + abc[2] - y).abs().mean().backward()
        abc -= abc.grad*lr; abc.grad.zero_()
    return abc.detach()""", "torch.no_grad()"),
    ('ch4.seven_steps', "seven_steps = ['init', 'predict', 'gradient', 'loss', 'step', 'repeat', 'stop']", "gradient *of the loss*"),
    ('ch4.seven_steps', "seven_steps = ['predict', 'init', 'loss', 'gradient', 'step', 'repeat', 'stop']", "`init` comes first"),
    ('ch4.seven_steps', "seven_steps = ['init', 'predict', 'loss', 'step', 'gradient', 'repeat', 'stop']", "against its gradient"),
    ('ch4.mnist_loss', "def mnist_loss(p, t): return torch.where(t==1, 1-p, p).mean()", "sigmoid is missing"),
    ('ch4.mnist_loss', "def mnist_loss(p, t):\n    p = p.sigmoid()\n    return torch.where(t==1, p, 1-p).mean()", "branches of `torch.where` are swapped"),
    ('ch4.batch_accuracy', "def batch_accuracy(xb, yb): return ((xb > 0.5) == yb).float().mean()", "raw outputs with 0.5"),
    ('ch4.basic_optim', """class BasicOptim:
    def __init__(self, params, lr): self.params, self.lr = list(params), lr
    def step(self):
        for p in self.params: p.data -= p.data*self.lr
    def zero_grad(self):
        for p in self.params: p.grad = None""", "p -= p*lr"),
    ('ch4.basic_optim', """class BasicOptim:
    def __init__(self, params, lr): self.params, self.lr = list(params), lr
    def step(self):
        for p in self.params: p -= p.grad*self.lr
    def zero_grad(self):
        for p in self.params: p.grad = None""", "torch.no_grad()"),
    ('ch4.basic_optim', """class BasicOptim:
    def __init__(self, params, lr): self.params, self.lr = list(params), lr
    def step(self):
        for p in self.params: p.data -= p.grad.data*self.lr
    def zero_grad(self): pass""", "left the gradients"),
    ('ch4.basic_optim', """class BasicOptim:
    def __init__(self, params, lr): self.params, self.lr = params, lr
    def step(self):
        for p in self.params: p.data -= p.grad.data*self.lr
    def zero_grad(self):
        for p in self.params: p.grad = None""", "generator"),
    ('ch4.train_epoch', """from digitlab.sgd import mnist_loss
def train_epoch(model, dl, opt):
    for xb,yb in dl: mnist_loss(model(xb), yb).backward(); opt.step()""", "never zeroed"),
    ('ch4.simple_net', "def simple_net(): return nn.Sequential(nn.Linear(784, 30), nn.Linear(30, 1))", "linear"),
    ('ch4.linear_params', "linear_params = 784", "bias"),
    ('ch4.flatten', "def flatten(xb): return xb.view(-1)", "flattened the batch axis"),
    ('ch4.flatten', "def flatten(xb): return xb.squeeze().view(-1, 784) if xb.shape[0] > 1 else xb.squeeze()", "`squeeze` drops"),
    ('ch4.n_batches', "def n_batches(n, bs, drop_last=False): return n // bs", "one more, smaller batch"),
    ('ch4.linear_from', """def linear_from(w, b):
    lin = nn.Linear(*w.shape)
    with torch.no_grad(): lin.weight.copy_(w); lin.bias.copy_(b)
    return lin""", "transpose"),
    ('ch4.stop_after', """from digitlab.learner import Callback, CancelBatchException
class StopAfter(Callback):
    def __init__(self, n): self.n, self.i = n, 0
    def after_batch(self):
        if self.learn.training: self.i += 1
        if self.i >= self.n: raise CancelBatchException()""", "CancelFitException"),
    ('ch4.accuracy', "def accuracy(p, t): return (p.argmax(1) == t).sum()", "number of right"),
    ('ch4.lr_at', "import math\ndef lr_at(pos, lr_max): return lr_max/25 + (lr_max - lr_max/25)*pos/0.25 if pos < 0.25 else lr_max/1e5 + (lr_max-lr_max/1e5)/2*(1+math.cos(math.pi*(pos-0.25)/0.75))", "straight line"),
    ('ch4.softmax', "def softmax(x): return x.exp()/x.exp().sum(-1, keepdim=True)", "overflows"),
    ('ch4.log_softmax', "def log_softmax(x): return (x.exp()/x.exp().sum(-1, keepdim=True)).log()", "naively"),
    ('ch4.cross_entropy', "def cross_entropy(p, t): return -p.log_softmax(-1)[torch.arange(len(t)), t].sum()", "summed"),
    ('ch4.cross_entropy', "def cross_entropy(p, t): return p.log_softmax(-1)[torch.arange(len(t)), t].mean()", "minus sign"),
    ('ch4.confusion_matrix', "def confusion_matrix(p, t, n=10): return torch.bincount(p*n + t, minlength=n*n).view(n, n)", "swapped"),
    ('ch4.mlp_params', "mlp_params = 784*50 + 50*10", "bias"),
]

WRONG += [
    ('ch4.train_losses', """from digitlab.learner import Callback
class TrainLosses(Callback):
    def before_fit(self): self.losses = []
    def after_batch(self): self.losses.append(self.learn.loss.item())""", "validation batches"),
    ('ch4.train_losses', """from digitlab.learner import Callback
class TrainLosses(Callback):
    def before_fit(self): self.losses = []
    def after_batch(self):
        if self.learn.training: self.losses.append(self.learn.loss)""", "holds Tensor values"),
]

WRONG += [
    ('ch4.is_3', "def is_3(x, m3, m7): return ((x-m3)**2).mean((-1,-2)) < ((x-m7)**2).mean((-1,-2))", "**mean absolute** difference"),
    ('ch4.mae', "def mae(p, a): return (p-a).abs().sum()/len(p)", "every element counts"),
    ('ch4.train_epoch', """from digitlab.sgd import mnist_loss
def train_epoch(model, dl, opt):
    for xb,yb in dl: mnist_loss(model(xb), yb).backward(); opt.zero_grad(); opt.step()""", "between `backward()` and `step()`"),
    ('ch4.simple_net', "def simple_net(): return nn.Sequential(nn.Linear(784, 30), nn.Sigmoid(), nn.Linear(30, 1))", "isn't a ReLU"),
    ('ch4.simple_net', "def simple_net(): return nn.Sequential(nn.Linear(784, 30), nn.ReLU(), nn.Linear(30, 1), nn.Sigmoid())", "sigmoid at the end"),
    ('ch4.linear_from', """def linear_from(w, b):
    lin = nn.Linear(w.shape[1], w.shape[0])
    with torch.no_grad(): lin.weight.copy_(w.T); lin.bias.copy_(b)
    return lin""", "(in that order)"),
    ('ch4.stop_after', """from digitlab.learner import Callback
class StopAfter(Callback):
    def __init__(self, n): self.n = n
    def after_step(self): raise Exception('never called: our Learner has no after_step')""", "never stopped the fit"),
    ('ch4.stop_after', """from digitlab.learner import Callback, CancelBatchException
class StopAfter(Callback):
    def __init__(self, n): self.n, self.i = n, 0
    def before_batch(self):
        if self.learn.training and self.i >= self.n: raise CancelBatchException()
        if self.learn.training: self.i += 1""", "fit went on to the end"),
    ('ch4.stop_after', """from digitlab.learner import Callback, CancelFitException
class StopAfter(Callback):
    def __init__(self, n): self.n, self.i = n, 0
    def after_loss(self):
        if self.learn.training:
            self.i += 1
            if self.i >= self.n: raise CancelFitException()""", "cancelled before its step"),
    ('ch4.lr_at', """from fastai.callback.schedule import combined_cos
def lr_at(pos, lr_max): return float(combined_cos(0.3, lr_max/25, lr_max, lr_max/25/1e4)(pos))""", "PyTorch's `OneCycleLR` shape"),
    ('ch4.linear_params', "linear_params = 784.5", "whole number"),
]

# Right answers written differently from both of ours: each must pass
RIGHT = [
    ('ch4.stop_after', """from digitlab.learner import Callback
class CancelFitException(Exception): pass   # the lesson defines its own class of this name
class StopAfter(Callback):
    def __init__(self, n): self.n, self.k = n, 0
    def after_batch(self):
        if self.learn.training:
            self.k += 1
            if self.k == self.n: raise CancelFitException()"""),
    ('ch4.linear_params', "import numpy as np\nlinear_params = np.sum([784, 1])"),
    ('ch4.mlp_params', "mlp_params = 39760.0"),
    ('ch4.relu', "def relu(x): return F.relu(x)"),
    ('ch4.is_3', "from digitlab.baseline import is_3"),
    ('ch4.simple_net', "def simple_net(): return nn.Sequential(nn.Linear(784, 30), nn.ReLU(inplace=True), nn.Linear(30, 1))"),
    ('ch4.mnist_loss', "def mnist_loss(p, t): return (1 - torch.where(t == 1, p.sigmoid(), 1 - p.sigmoid())).mean()"),
    ('ch4.log_softmax', "def log_softmax(x): return F.log_softmax(x, dim=-1)"),
    ('ch4.cross_entropy', "def cross_entropy(p, t): return F.nll_loss(F.log_softmax(p, -1), t)"),
    ('ch4.n_batches', "def n_batches(n, bs, drop_last=False): return n // bs + (0 if drop_last or n % bs == 0 else 1)"),
]

@pytest.mark.parametrize('id,code', RIGHT, ids=[f"{i}-{n}" for n,(i,_) in enumerate(RIGHT)])
def test_other_right_answers_pass(id, code, capsys):
    assert check(id, EXERCISES[id].build(code)) is True, capsys.readouterr().out

@pytest.mark.parametrize('id,code,msg', WRONG, ids=[f"{i}-{n}" for n,(i,_,_) in enumerate(WRONG)])
def test_known_wrong_answers_get_their_own_hint(id, code, msg, capsys):
    assert check(id, EXERCISES[id].build(code)) is False
    out = capsys.readouterr().out
    assert '✗' in out and msg in out, out

def test_every_exercise_has_a_known_wrong_answer():
    from tests.test_exercises_ch13 import WRONG as W13
    assert {e.id for e in EXERCISES.values()} <= {i for i,*_ in WRONG + W13}

def test_unanswered_endless_and_noisy(capsys):
    assert check('ch4.mae', ...) is False
    assert 'not answered yet' in capsys.readouterr().out
    def endless(p, a):
        while True: pass
    assert check('ch4.mae', endless, seconds=1) is False
    assert 'stopped' in capsys.readouterr().out
    def noisy(p, a):
        for _ in range(10**6): print('all work and no play')
    assert check('ch4.mae', noisy) is False
    out = capsys.readouterr().out
    assert 'printed more than' in out and len(out) < 5000
    def swallows(p, a):   # an answer that catches every Exception can't swallow the time limit
        try:
            while True: pass
        except Exception: return (p-a).abs().mean()
    assert check('ch4.mae', swallows, seconds=1) is False
    assert 'stopped' in capsys.readouterr().out
    import threading   # off the main thread too (nbdev-test runs cells in a worker thread)
    res = []; t = threading.Thread(target=lambda: res.append(check('ch4.mae', endless, seconds=1))); t.start(); t.join(30)
    assert res == [False] and not t.is_alive()
    assert 'stopped' in capsys.readouterr().out

def test_learners_random_state_is_kept(capsys):
    torch.manual_seed(123); random.seed(123); np.random.seed(123)
    check('ch4.fit_quad', EXERCISES['ch4.fit_quad'].reference())
    a = torch.rand(3), random.random(), np.random.rand()
    torch.manual_seed(123); random.seed(123); np.random.seed(123)
    b = torch.rand(3), random.random(), np.random.rand()
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]

def test_hints_solution_and_unknown_ids(capsys):
    hint('ch4.relu'); hint('ch4.relu'); hint('ch4.relu')
    out = capsys.readouterr().out
    assert 'Hint 1/2' in out and out.count('Hint 2/2') == 2 and 'last hint' in out
    solution('ch4.relu')
    assert capsys.readouterr().out.strip() == EXERCISES['ch4.relu'].solution
    with pytest.raises(KeyError, match="did you mean 'ch4.relu'"): check('ch4.rleu', 1)

def test_a_lessons_own_wrong_answer_fails_under_nbdev_test(monkeypatch, capsys):
    "nbdev-test sets IN_TEST: there a failing check raises, so a lesson whose own answer is wrong fails the build"
    monkeypatch.setenv('IN_TEST', '1')
    with pytest.raises(AssertionError, match='ch4.mae'): check('ch4.mae', lambda p, a: (p-a).sum())
    assert check('ch4.mae', ...) is False   # an unanswered practice copy still runs
