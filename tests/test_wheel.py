"A wheel built from the repo carries MNIST and the command, and works offline in a new venv; the sdist carries its tests."
import json, tarfile, zipfile
import numpy as np
from PIL import Image
from tests.conftest import offline
import pytest
pytestmark = pytest.mark.slow   # trains, builds or renders: left out of `make quick`

def test_wheel_installs_and_works_offline(release, trained, tmp_path):
    "The wheel, venv and model come from the session's fixtures: built once per test run (`make test` builds them in release-check)"
    names = zipfile.ZipFile(release.wheel).namelist()
    for f in ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz', 'README.md'):
        assert f'digitlab/mnist/{f}' in names
    assert 'digitlab/seeds.json' in names and 'digitlab/benchmarks.json' in names   # the spreads and benchmarks the notebooks print
    meta = zipfile.ZipFile(release.wheel).read(next(n for n in names if n.endswith('METADATA'))).decode()
    fastai, = [l for l in meta.splitlines() if l.startswith('Requires-Dist: fastai')]
    assert '>=2.8.12' in fastai and '<2.9' in fastai and 'License-Expression: Apache-2.0 AND CC-BY-SA-3.0' in meta   # the fastai our corrections were written for
    acc = [l for l in meta.splitlines() if l.startswith('Requires-Dist: accelerate')]
    assert acc and all('extra == "distributed"' in l or 'extra == "dev"' in l for l in acc), acc   # only for --procs: an extra
    for dep in ('numpy', 'pillow', 'fastcore', 'fastprogress', 'torch', 'pandas', 'safetensors', 'scipy'):   # what digitlab imports itself
        assert any(l.startswith(f'Requires-Dist: {dep}') for l in meta.splitlines()), dep
    assert any(n.endswith('entry_points.txt') for n in names)
    # The venv has the wheel alone; its heavy dependencies (torch, fastai) come from this venv's site-packages through a .pth
    # line, which adds the folder but not its editable-install hooks: `digitlab` is the wheel's.
    py, env = str(release.py), {'FASTAI_HOME': str(tmp_path/'fh')}
    r = offline([py, '-c', 'import digitlab; print(digitlab.__file__)'], env, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith(str(release.venv)), (r.stdout, r.stderr)
    r = offline([py, '-c', "from digitlab.data import seed_spread; print(seed_spread('cnn_final_book').text)"], env, cwd=tmp_path)
    assert r.returncode == 0 and 'seeds)' in r.stdout, (r.stdout, r.stderr)
    r = offline([py, '-c', "from digitlab.exercises import check, exercises; print(len(exercises())); check('ch13.conv_out_size', lambda n, ks, stride=1, padding=0: (n + 2*padding - ks)//stride + 1)"], env, cwd=tmp_path)
    assert r.returncode == 0 and '✓ ch13.conv_out_size' in r.stdout, (r.stdout, r.stderr)   # the exercises and their checks ship in the wheel
    from digitlab.exercises import exercises
    assert r.stdout.split()[0] == str(len(exercises())), r.stdout   # all of them: every exercise module is in the wheel
    r = offline([str(release.bin/'digitlab'), 'data', '--only', 'mnist_sample'], env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path/'fh'/'data'/'mnist_sample'/'valid'/'7').is_dir()
    r = offline([str(release.bin/'digitlab'), 'data', '--check', '--only', 'mnist_sample'], env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # the session's model was trained by the wheel's own `digitlab train`, offline (fixture `trained`); it reads a photo with the
    # wheel's `digitlab predict`: the model file is safetensors, loaded without pickle
    assert 'test accuracy 0.9' in trained.stdout and trained.file.is_file(), (trained.stdout, trained.stderr)
    from digitlab.data import load_mnist
    from digitlab.synthetic import photo_like
    x, y = load_mnist('test')
    Image.fromarray(photo_like(x[0].numpy(), np.random.default_rng(0))).save(tmp_path/'photo.png')
    r = offline([str(release.bin/'digitlab'), 'predict', str(trained.file), str(tmp_path/'photo.png'), '--json'], env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]['digit'] == str(y[0].item())

def test_sdist_carries_its_tests_and_they_run(release, tmp_path):
    import subprocess, sys
    with tarfile.open(release.sdist) as t: t.extractall(tmp_path/'x', filter='data')
    root, = (tmp_path/'x').iterdir()
    for f in ('tests/__init__.py', 'tests/conftest.py', 'tests/no_net/sitecustomize.py', 'tests/test_data.py', 'tests/test_loaders.py',
              'digitlab/mnist/train-images-idx3-ubyte.gz', 'digitlab/seeds.json', 'nbs/00_data.ipynb', 'LICENSE', 'Makefile'):
        assert (root/f).is_file(), f
    # the sdist's own tests, on the sdist's own package (its folder comes first on sys.path)
    r = subprocess.run([sys.executable, '-c', 'import digitlab; print(digitlab.__file__)'], cwd=root, capture_output=True, text=True)
    assert r.stdout.strip() == str(root/'digitlab'/'__init__.py'), r.stdout + r.stderr
    r = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'tests/test_data.py',
                        '-k', 'shipped or truncated or load_mnist or no_lock'], cwd=root, capture_output=True, text=True)
    assert r.returncode == 0 and ' passed' in r.stdout, r.stdout[-3000:] + r.stderr[-2000:]
