"""The exercises of lessons 07–08 (digitlab.exercises_ch13, digitlab.exercises_ch13_lesson08): every reference solution and alternative passes its check;
every known wrong answer fails with its own message; an unanswered exercise is not yet an answer."""
import pytest, torch
from digitlab.exercises import check, exercises, EXERCISES

IDS = [i for i in exercises() if i.startswith('ch13.')]

def test_lessons_07_and_08_have_their_exercises():
    assert IDS == exercises('07') + exercises('08')
    assert {'ch13.top_edge', 'ch13.left_edge', 'ch13.apply_kernel', 'ch13.conv_out_size', 'ch13.receptive_field', 'ch13.simple_cnn',
            'ch13.conv_params', 'ch13.he_std', 'ch13.conv_bn', 'ch13.predict', 'ch13.near_zero'} <= set(IDS)
    for l in ('07', '08'): assert 4 <= len(exercises(l)) <= 8, exercises(l)
    for i in IDS:
        e = EXERCISES[i]
        assert e.lesson in ('07_convolutions', '08_cnn') and 2 <= len(e.hints) <= 3 and e.task and e.solution != e.alternative, i

@pytest.mark.parametrize('id', IDS)
def test_reference_and_alternative_pass(id, capsys):
    e = EXERCISES[id]
    assert check(id, e.reference()) is True
    assert check(id, e.build(e.alternative)) is True
    out = capsys.readouterr().out
    assert out.count('✓') == 2 and 'printed' not in out, out

# Other right answers, written differently from ours: they must pass too
RIGHT = [
    ('ch13.top_edge', "top_edge = torch.tensor([[-1.,-2,-1], [0,0,0], [1,2,1]])"),           # Sobel
    ('ch13.top_edge', "top_edge = torch.tensor([[-1,-1,-1], [1,1,1], [0,0,0]])"),             # ints, the edge between the top two rows
    ('ch13.top_edge', "top_edge = [[-.5,-.5,-.5], [0,0,0], [.5,.5,.5]]"),                     # a list, scaled
    ('ch13.left_edge', "left_edge = torch.tensor([[-1.,0,1]]*3)"),
    ('ch13.left_edge', "left_edge = torch.tensor([[-1.,0,1], [-2,0,2], [-1,0,1]])"),
    ('ch13.apply_kernel', "def apply_kernel(im, row, col, kernel):\n    return sum(im[row+i-1, col+j-1]*kernel[i,j] for i in range(3) for j in range(3))"),
    ('ch13.edge_maps', "def edge_maps(xb, kernels): return torch.stack([F.conv2d(xb, k[None,None])[:,0] for k in kernels], 1)"),
    ('ch13.conv_out_size', "def conv_out_size(n, ks, stride=1, padding=0):\n    return len(range(0, n + 2*padding - ks + 1, stride))"),
    ('ch13.simple_cnn', "from fastai.layers import Flatten\ndef cnn_3v7(): return nn.Sequential(*[nn.Sequential(nn.Conv2d(a, b, 3, 2, 1), nn.ReLU()) for a,b in [(1,4),(4,8),(8,16),(16,32)]], nn.Conv2d(32, 2, 3, 2, 1), Flatten())"),
    ('ch13.conv_bn', "def conv_bn(ni, nf, ks=3, act=True):\n    layers = [nn.Conv2d(ni, nf, ks, 2, ks//2), nn.BatchNorm2d(nf)]\n    return nn.Sequential(*layers, nn.ReLU()) if act else nn.Sequential(*layers)"),   # BatchNorm before the ReLU
    ('ch13.predict', "def predict(model, xb):\n    model.eval()\n    return model(xb).argmax(1)"),                                                           # no no_grad: accepted
    ('ch13.near_zero', "def near_zero(acts): return float((acts.flatten() <= 0.05).double().mean())"),
    ('ch13.he_std', "def he_std(fan_in): return (2/fan_in)**0.5"),
]

@pytest.mark.parametrize('id,code', RIGHT, ids=[f"{i}-{n}" for n,(i,_) in enumerate(RIGHT)])
def test_other_right_answers_pass(id, code, capsys):
    assert check(id, EXERCISES[id].build(code)) is True, capsys.readouterr().out

_SQUEEZE = """from digitlab.cnn import simple_cnn
class _Squeeze(nn.Module):
    def forward(self, x): return x.squeeze()
def cnn_3v7():
    m = simple_cnn((1,4,8,16,32,2), ks0=3); m[-1] = _Squeeze(); return m"""

# (exercise, a wrong answer as code, a fragment of the message that must name the mistake)
WRONG = [
    ('ch13.top_edge', "top_edge = torch.tensor([[1.,1,1], [0,0,0], [-1,-1,-1]])", "lights up on **bottom** edges"),
    ('ch13.top_edge', "top_edge = torch.tensor([[-1.,0,1], [-1,0,1], [-1,0,1]])", "it's transposed"),
    ('ch13.top_edge', "top_edge = torch.tensor([[0.,0,0], [0,0,0], [1,1,1]])", "add up to 0"),
    ('ch13.top_edge', "top_edge = torch.tensor([[-1.,-1,0], [0,0,0], [0,1,1]])", "also responds to left/right edges"),
    ('ch13.top_edge', "top_edge = torch.tensor([[[-1.,-1,-1], [0,0,0], [1,1,1]]])", "shape (1, 3, 3)"),
    ('ch13.left_edge', "left_edge = torch.tensor([[1.,-1,0]]*3)", "lights up on **right** edges"),
    ('ch13.left_edge', "left_edge = torch.tensor([[-1.,-1,-1], [1,1,1], [0,0,0]])", "it's transposed"),
    ('ch13.apply_kernel', "def apply_kernel(im, row, col, kernel): return (im[row:row+3, col:col+3] * kernel).sum()", "off by one"),
    ('ch13.apply_kernel', "def apply_kernel(im, row, col, kernel): return (im[row-1:row+1, col-1:col+1] * kernel).sum()", "stop *before* their end"),
    ('ch13.apply_kernel', "def apply_kernel(im, row, col, kernel): return im[row-1:row+2, col-1:col+2] * kernel", "add them up"),
    ('ch13.apply_kernel', "def apply_kernel(im, row, col, kernel): return (im[row-1:row+2, col-1:col+2] * kernel.flip(0,1)).sum()", "flipped the kernel"),
    ('ch13.edge_maps', "def edge_maps(xb, kernels): return F.conv2d(xb, kernels)", "kernels.unsqueeze(1)"),
    ('ch13.edge_maps', "def edge_maps(xb, kernels): return F.conv2d(xb, kernels.unsqueeze(0))", "The input-channel axis is the second one"),
    ('ch13.edge_maps', "def edge_maps(xb, kernels): return F.conv2d(xb, kernels.unsqueeze(1), padding=1)", "you padded them"),
    ('ch13.edge_maps', "def edge_maps(xb, kernels): return F.conv2d(xb, kernels.transpose(1,2).unsqueeze(1))", "transposed"),
    ('ch13.conv_out_size', "def conv_out_size(n, ks, stride=1, padding=0): return (n + 2*padding - ks)//stride", "one short"),
    ('ch13.conv_out_size', "def conv_out_size(n, ks, stride=1, padding=0): return (n - ks)//stride + 1", "ignores the padding"),
    ('ch13.conv_out_size', "def conv_out_size(n, ks, stride=1, padding=0): return n + 2*padding - ks + 1", "ignores the stride"),
    ('ch13.conv_out_size', "def conv_out_size(n, ks, stride=1, padding=0): return (n + padding - ks)//stride + 1", "**each** side"),
    ('ch13.conv_out_size', "def conv_out_size(n, ks, stride=1, padding=0): return (n + 2*padding - ks)/stride + 1", "round down with `//`"),
    ('ch13.conv_out_size', "import math\ndef conv_out_size(n, ks, stride=1, padding=0): return math.ceil((n + 2*padding - ks)/stride) + 1", "you rounded up"),
    ('ch13.conv_out_size', "def conv_out_size(n, ks, stride, padding): return (n + 2*padding - ks)//stride + 1", "defaults"),
    ('ch13.receptive_field', "def receptive_field(layers): return 1 + sum(ks-1 for ks, s in layers)", "ignores the strides"),
    ('ch13.receptive_field', "def receptive_field(layers): return sum(ks for ks, s in layers)", "counts the overlap twice"),
    ('ch13.receptive_field', """def receptive_field(layers):
    rf, jump = 1, 1
    for ks, stride in layers: jump *= stride; rf += (ks-1)*jump
    return rf""", "counted each layer's own stride"),
    ('ch13.simple_cnn', _SQUEEZE, "removes *every* axis of size 1"),
    ('ch13.simple_cnn', "from digitlab.cnn import simple_cnn\ndef cnn_3v7(): return simple_cnn((1,4,8,16,32,2), ks0=3)[:-1]", "Add a `Flatten`"),
    ('ch13.simple_cnn', "from digitlab.cnn import conv\ndef cnn_3v7(): return nn.Sequential(conv(1,4), conv(4,8), conv(8,16), conv(16,32), conv(32,2), nn.Flatten())", "there's a ReLU after the last conv"),
    ('ch13.simple_cnn', "def cnn_3v7(): return nn.Sequential(*[nn.Sequential(nn.Conv2d(a, b, 3, padding=1), nn.ReLU()) for a,b in [(1,4),(4,8),(8,16),(16,32)]], nn.Conv2d(32, 2, 3, padding=1), nn.Flatten())", "`stride=2`"),
    ('ch13.simple_cnn', "def cnn_3v7(): return nn.Sequential(*[nn.Sequential(nn.Conv2d(a, b, 3, 2), nn.ReLU()) for a,b in [(1,4),(4,8),(8,16),(16,32)]], nn.Conv2d(32, 2, 3, 2), nn.Flatten())", "without `padding=1`"),
    ('ch13.simple_cnn', "from digitlab.cnn import simple_cnn\ndef cnn_3v7(): return simple_cnn((1,4,8,16,32,2))", "6,722"),
    ('ch13.simple_cnn', "from digitlab.cnn import simple_cnn\ndef cnn_3v7(): return simple_cnn()", "ten-digit model"),
    ('ch13.simple_cnn', "def cnn_3v7(): return nn.Sequential(nn.Flatten(), nn.Linear(784, 30), nn.ReLU(), nn.Linear(30, 2))", "no `nn.Conv2d`"),
    ('ch13.conv_params', "def conv_params(ni, nf, ks): return ni*nf*ks*ks", "**bias**"),
    ('ch13.conv_params', "def conv_params(ni, nf, ks): return nf*ks*ks + nf", "left out the input channels"),
    ('ch13.conv_params', "def conv_params(ni, nf, ks): return ni*nf*ks + nf", "square `ks`"),
    ('ch13.conv_params', "def conv_params(ni, nf, ks): return ni*nf*ks*ks + ni", "per **output** channel"),
    ('ch13.near_zero', "def near_zero(acts): return (acts < 0.05).float().mean().item()", "**at or below**"),
    ('ch13.near_zero', "def near_zero(acts): return (acts.abs() <= 0.05).float().mean().item()", "negative values count too"),
    ('ch13.near_zero', "def near_zero(acts): return (acts == 0).float().mean().item()", "exact zeros"),
    ('ch13.near_zero', "def near_zero(acts): return (acts < 0).float().mean().item()", "not 0"),
    ('ch13.near_zero', "def near_zero(acts): return (acts <= 0).float().mean().item()", "not 0"),
    ('ch13.near_zero', "def near_zero(acts): return (acts <= 0.05).sum().item()", "**share**"),
    ('ch13.near_zero', "def near_zero(acts): return (acts > 0.05).float().mean().item()", "*above* 0.05"),
    ('ch13.near_zero', "def near_zero(acts): return (acts <= 0.05).float().mean(0)", "one number for the whole tensor"),
    ('ch13.conv_bn', "def conv_bn(ni, nf, ks=3, act=True): return nn.Sequential(nn.Conv2d(ni, nf, ks, 2, ks//2), nn.ReLU(), nn.BatchNorm2d(nf))", "no ReLU"),
    ('ch13.conv_bn', "def conv_bn(ni, nf, ks=3, act=True):\n    l = [nn.Conv2d(ni, nf, ks, 2, ks//2)] + ([nn.ReLU()] if act else [])\n    return nn.Sequential(*l, nn.BatchNorm2d(ni))", "`nn.BatchNorm2d(nf)`"),
    ('ch13.conv_bn', "def conv_bn(ni, nf, ks=3, act=True):\n    l = [nn.Conv2d(ni, nf, ks, 1, ks//2)] + ([nn.ReLU()] if act else [])\n    return nn.Sequential(*l, nn.BatchNorm2d(nf))", "`stride=2`"),
    ('ch13.conv_bn', "def conv_bn(ni, nf, ks=3, act=True):\n    l = [nn.Conv2d(ni, nf, ks, 2)] + ([nn.ReLU()] if act else [])\n    return nn.Sequential(*l, nn.BatchNorm2d(nf))", "pad by `ks//2`"),
    ('ch13.conv_bn', "def conv_bn(ni, nf, ks=3, act=True):\n    l = [nn.Conv2d(ni, nf, ks, 2, ks//2)] + ([nn.ReLU()] if act else [])\n    return nn.Sequential(*l, nn.BatchNorm1d(nf))", "`nn.BatchNorm1d` is for"),
    ('ch13.conv_bn', "def conv_bn(ni, nf, ks=3, act=True):\n    l = [nn.Conv2d(ni, nf, ks, 2, ks//2)] + ([nn.ReLU()] if act else [])\n    return nn.Sequential(*l)", "no `nn.BatchNorm2d`"),
    ('ch13.predict', "def predict(model, xb):\n    with torch.no_grad(): return model(xb).argmax(dim=1)", "`torch.no_grad()` alone doesn't do it"),
    ('ch13.predict', "def predict(model, xb): return model(xb).argmax(dim=1)", "`model.eval()`"),
    ('ch13.predict', "def predict(model, xb):\n    model.eval()\n    with torch.no_grad(): return model(xb)", "`.argmax(dim=1)`"),
    ('ch13.predict', "def predict(model, xb):\n    model.eval()\n    with torch.no_grad(): return model(xb).argmax(dim=0)", "over the batch axis"),
    ('ch13.he_std', "def he_std(fan_in): return 1/fan_in", "far too small"),
    ('ch13.he_std', "def he_std(fan_in): return (1/fan_in)**0.5", "factor 2 for the ReLU is missing"),
    ('ch13.he_std', "def he_std(fan_in): return 2/fan_in", "the **variance**"),
    ('ch13.he_std', "def he_std(fan_in): return 2**0.5/fan_in", "over the whole fraction"),
    ('ch13.he_std', "def he_std(fan_in): return (6/fan_in)**0.5", "`kaiming_uniform_`"),
    ('ch13.simple_cnn', "def cnn_3v7(): return nn.Sequential(*[nn.Conv2d(a, b, 3, 2, 1) for a,b in [(1,4),(4,8),(8,16),(16,32),(32,2)]], nn.Flatten())", "your model is linear"),
    ('ch13.simple_cnn', "def cnn_3v7(): return nn.Sequential(*[nn.Sequential(nn.Conv2d(a, b, 3, 2, 1), nn.Sigmoid()) for a,b in [(1,4),(4,8),(8,16),(16,32)]], nn.Conv2d(32, 2, 3, 2, 1), nn.Flatten())", "aren't ReLUs"),
    ('ch13.simple_cnn', "def cnn_3v7(): return nn.Sequential(*[nn.Sequential(nn.Conv2d(a, b, 3, 2, 1), nn.ReLU()) for a,b in [(1,4),(4,8),(8,16),(16,32)]], nn.Conv2d(32, 2, 3, 2, 1), nn.Flatten(), nn.Softmax(1))", "sigmoid or softmax"),
    ('ch13.conv_bn', "def conv_bn(ni, nf, ks=3, act=True): return nn.Sequential(nn.Conv2d(ni, nf, ks, 2, ks//2), *([nn.Sigmoid()] if act else []), nn.BatchNorm2d(nf))", "isn't a ReLU"),
    ('ch13.conv_bn', "def conv_bn(ni, nf, ks=3, act=True): return nn.Sequential(nn.Conv2d(ni, nf, ks, 2, 1), *([nn.ReLU()] if act else []), nn.BatchNorm2d(nf))", "padding depends on the kernel size"),
]

@pytest.mark.parametrize('id,code,msg', WRONG, ids=[f"{i}-{n}" for n,(i,_,_) in enumerate(WRONG)])
def test_known_wrong_answers_get_their_own_message(id, code, msg, capsys):
    assert check(id, EXERCISES[id].build(code)) is False
    out = capsys.readouterr().out
    assert '✗' in out and msg in out, out

def test_every_ch13_exercise_has_a_known_wrong_answer():
    assert set(IDS) <= {i for i,*_ in WRONG}

def test_unanswered(capsys):
    for i in IDS:
        assert check(i, ...) is False
        assert 'not answered yet' in capsys.readouterr().out

def test_checks_are_deterministic(capsys):
    "A check draws its inputs from its own seed: whatever the learner's random state, an answer gets the same message (here one that quotes values from the random inputs)"
    import torch
    off = lambda a, b: (a-b).abs().mean((-1,-2))*1.01
    outs = []
    for seed in (1, 2):
        torch.manual_seed(seed); torch.rand(7)
        assert check('ch4.mnist_distance', off) is False; outs.append(capsys.readouterr().out)
    assert 'instead of' in outs[0] and outs[0] == outs[1], outs
