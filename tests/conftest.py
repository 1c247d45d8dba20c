import gzip, os, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def _unshare_ok():
    try: return subprocess.run(['unshare', '-n', 'true'], capture_output=True).returncode==0
    except FileNotFoundError: return False
UNSHARE = _unshare_ok()
# Where `unshare -n` is not allowed, a sitecustomize that refuses every socket connection cuts the network instead.
NO_NET_DIR = Path(__file__).parent/'no_net'

def offline(cmd, env=None, **kw):
    "Run `cmd` (a list) with the network cut: in a new network namespace where allowed, else with sockets refused"
    env = {**os.environ, **(env or {})}
    if UNSHARE: cmd = ['unshare', '-n', *cmd]
    else: env['PYTHONPATH'] = os.pathsep.join([str(NO_NET_DIR), env.get('PYTHONPATH','')])
    return subprocess.run(cmd, capture_output=True, text=True, env=env, **kw)

@pytest.fixture
def src(tmp_path):
    "A private copy of the four shipped MNIST files, safe to damage"
    from digitlab.data import mnist_src
    d = tmp_path/'src'; shutil.copytree(mnist_src(), d, ignore=shutil.ignore_patterns('*.md'))
    return d

def rewrite(fn, f):
    "Replace the gzipped file `fn` by gzip(f(its uncompressed bytes))"
    fn.write_bytes(gzip.compress(f(gzip.decompress(fn.read_bytes())), mtime=0))

@pytest.fixture(scope='session')
def site():
    "The website, rendered from the committed notebooks as `make site` renders it (once per test run: test_site and test_browser share it)"
    r = subprocess.run([sys.executable, 'tools/docs.py', '--no-readme'], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return ROOT/'_docs'

@pytest.fixture(scope='session')
def release(tmp_path_factory):
    """The sdist, the wheel and a fresh venv with the wheel installed, as `tools/release_check.py --keep` leaves them: the ones
    `make test` built in its release-check step (it names the folder in DIGITLAB_RELEASE), else built here, once per test run"""
    import types, zipfile
    sys.path.insert(0, str(ROOT/'tools'))
    import release_check
    sys.path.remove(str(ROOT/'tools'))
    d = os.environ.get('DIGITLAB_RELEASE')
    d = Path(d) if d else release_check.main(keep=tmp_path_factory.mktemp('release'))
    v = release_check.version()
    assert (d/'ok').is_file() and (d/'ok').read_text() == v, f"{d} holds no complete release check of version {v}"
    whl, sd = d/'dist'/f'digitlab-{v}-py3-none-any.whl', d/'dist'/f'digitlab-{v}.tar.gz'
    z = zipfile.ZipFile(whl)
    stale = [n for n in z.namelist() if n.startswith('digitlab/') and not ((ROOT/n).is_file() and z.read(n) == (ROOT/n).read_bytes())]
    assert not stale, f"the wheel in {d} is not this working tree's (it differs in {stale[:3]}): run `make release-check` again"
    return types.SimpleNamespace(dir=d, wheel=whl, sdist=sd, venv=d/'venv', py=d/'venv'/'bin'/'python', bin=d/'venv'/'bin')

@pytest.fixture(scope='session')
def trained(release, tmp_path_factory):
    "The one model of a test run: trained by the wheel's own `digitlab train --epochs 1`, offline, in the fresh venv (≈ a minute on 2 cores)"
    import types
    d = tmp_path_factory.mktemp('model')
    r = offline([str(release.bin/'digitlab'), 'train', '--epochs', '1', '--out', str(d/'digits')], {'FASTAI_HOME': str(d/'fh')}, cwd=d)
    assert r.returncode == 0, r.stdout + r.stderr
    return types.SimpleNamespace(file=d/'digits.safetensors', stdout=r.stdout, stderr=r.stderr)

@pytest.fixture(scope='session')
def model_file(trained):
    "The model file of `trained`, for the predict and CLI tests (treat it as read-only: copy it to damage it)"
    return trained.file

def pytest_collection_modifyitems(items):
    "A test that needs the session's release or model builds a wheel and trains (once per run): it is slow, left out of `make quick`"
    for it in items:
        if {'release', 'trained', 'model_file', 'site'} & set(getattr(it, 'fixturenames', ())): it.add_marker(pytest.mark.slow)

@pytest.fixture(scope='session')
def small_files(tmp_path_factory):
    "A small MNIST in IDX files (the first 600 training and 300 test images), and the SHA-256 of each uncompressed file"
    import hashlib, struct, torch
    from digitlab.idx import MNIST_FILES, mnist_tensors
    d = tmp_path_factory.mktemp('small_mnist'); sums = {}
    for split, n in (('train', 600), ('test', 300)):
        x, y = mnist_tensors(split)
        for nm, t in zip(MNIST_FILES[split], (x[:n], y[:n].to(torch.uint8))):
            data = struct.pack('>I', 0x800 + t.dim()) + struct.pack(f'>{t.dim()}I', *t.shape) + t.numpy().tobytes()
            (d/f'{nm}.gz').write_bytes(gzip.compress(data, mtime=0)); sums[nm] = hashlib.sha256(data).hexdigest()
    return d, sums

@pytest.fixture
def small_src(small_files, monkeypatch):
    "`small_files`' folder, its checksums put in place of MNIST's for this test: the data layer reads it as it reads MNIST"
    import digitlab.idx
    d, sums = small_files
    for nm, h in sums.items(): monkeypatch.setitem(digitlab.idx.MNIST_SHA256, nm, h)
    return d
