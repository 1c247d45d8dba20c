"digitlab never changes fastai behind a user's back: after `digitlab data`, `train` and `predict`, every fastai module, class and function is the one installed."
import subprocess, sys, textwrap
import pytest
pytestmark = pytest.mark.slow   # trains, builds or renders: left out of `make quick`

SCRIPT = textwrap.dedent('''
    import sys, types
    import fastai.vision.all, fastai.distributed   # everything a user may have imported (fastai.distributed needs accelerate)
    def fingerprint():
        "Every name in every fastai module, and every attribute of every fastai class, with the identity of what it names"
        fp = {}
        for m,mod in list(sys.modules.items()):
            if not (m=='fastai' or m.startswith('fastai.')) or not isinstance(mod, types.ModuleType): continue
            for k,v in list(vars(mod).items()):
                fp[m, k] = id(v)
                if isinstance(v, type) and v.__module__.startswith('fastai'):
                    for a,b in list(vars(v).items()): fp[v.__module__, v.__qualname__, a] = id(b)
        return fp
    before = fingerprint()
    from digitlab.cli import main
    tmp = sys.argv[1]
    assert main(['data', '--only', 'mnist_sample', '--dest', tmp]) == 0
    assert main(['train', '--epochs', '1', '--out', tmp+'/m']) == 0
    from PIL import Image
    from digitlab.idx import mnist_tensors
    Image.fromarray(255-mnist_tensors('test')[0][0].numpy()).resize((60,60)).save(tmp+'/7.png')
    assert main(['predict', tmp+'/m.safetensors', tmp+'/7.png', '--show', tmp+'/sheet.png']) == 0
    after = fingerprint()
    changed = sorted(str(k) for k in before if after.get(k, -1)!=before[k]) + sorted(str(k) for k in after.keys()-before.keys()
                                                                                    if k[0] in {m for m,*_ in before})
    print('CHANGED', len(changed), changed[:20])
''')

def test_fastai_is_untouched_by_data_train_predict(tmp_path):
    r = subprocess.run([sys.executable, '-c', SCRIPT, str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'CHANGED 0 []' in r.stdout, r.stdout[-3000:]

def test_the_check_sees_a_patch(tmp_path):
    "The fingerprint would see what `digitlab.distributed` used to do on import: replace a method of a fastai class"
    patched = SCRIPT.replace("from digitlab.cli import main", "from digitlab.cli import main\n"
                             "fastai.distributed.DistributedDL._broadcast = lambda self, t, rank: t")
    patched = patched[:patched.index("assert main(['train'")] + patched[patched.index("after = fingerprint()"):]   # data only: quick
    r = subprocess.run([sys.executable, '-c', patched, str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "CHANGED 1 [\"('fastai.distributed', 'DistributedDL', '_broadcast')\"]" in r.stdout, r.stdout[-3000:]
