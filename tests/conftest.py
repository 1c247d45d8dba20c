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
