"""Build the sdist and the wheel and check them as a release must be: what `make release-check` and the release workflow run.

    python tools/release_check.py                 # here: the wheel's dependencies come from this venv (nothing downloaded)
    python tools/release_check.py --install-deps  # in CI: a clean venv that installs the wheel's dependencies from PyPI
    python tools/release_check.py --tag v0.0.1    # also: the tag names the package's version
    python tools/release_check.py --keep DIR      # keep the files in DIR (dist/, venv/): `make test` hands them to the tests

Checks: the version is defined once (`digitlab/__init__.py`, read by setuptools) and CHANGELOG.md has an entry for it;
`twine check` passes on both files; the wheel holds the package, the four MNIST files, their licence, seeds.json and the
console script, and nothing from tests/, nbs/ or bench/; the sdist holds the notebooks, tests and licence; a fresh venv
installs the wheel and `digitlab data` then `digitlab data --check` pass on a fresh fastai folder.
"""
import argparse, ast, os, re, shutil, subprocess, sys, sysconfig, tarfile, tempfile, venv, zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def exercise_modules():
    "The modules that define the exercises: `EXERCISE_MODULES` of digitlab/exercises.py, read (importing it needs torch)"
    tree = ast.parse((ROOT/'digitlab'/'exercises.py').read_text(encoding='utf-8'))
    return next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign) and any(getattr(t, 'id', None) == 'EXERCISE_MODULES' for t in n.targets))

WHEEL_MUST = ['digitlab/__init__.py', 'digitlab/data.py', 'digitlab/predict.py', 'digitlab/cli.py', 'digitlab/__main__.py', 'digitlab/errors.py', 'digitlab/idx.py', 'digitlab/folders.py', 'digitlab/loaders.py', 'digitlab/spreads.py', 'digitlab/images.py', 'digitlab/prepare.py', 'digitlab/synthetic.py', 'digitlab/training.py', 'digitlab/modelfile.py', 'digitlab/distributed.py', 'digitlab/exercises.py', *(f'digitlab/{m}.py' for m in exercise_modules()), 'digitlab/seeds.json', 'digitlab/benchmarks.json',
              'digitlab/mnist/README.md', *(f'digitlab/mnist/{n}-ubyte.gz' for n in ('train-images-idx3', 'train-labels-idx1', 't10k-images-idx3', 't10k-labels-idx1'))]
SDIST_MUST = ['pyproject.toml', 'LICENSE', 'CHANGELOG.md', 'nbs/00_data.ipynb', 'nbs/12_your_digits.ipynb', 'tests/test_predict.py']

def fail(msg): print(f"release check: FAIL: {msg}", file=sys.stderr); sys.exit(1)
def ok(msg): print(f"release check: ok: {msg}", flush=True)
def run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if r.returncode: fail(f"{' '.join(map(str, cmd))} exited {r.returncode}:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return r.stdout

def version():
    "The version, from the one place it is written"
    m = re.search(r'^__version__ = "([^"]+)"', (ROOT/'digitlab'/'__init__.py').read_text(), re.M)
    if not m: fail('digitlab/__init__.py has no `__version__ = "..."` line')
    if re.search(r'^version\s*=\s*["\']', (ROOT/'pyproject.toml').read_text(), re.M): fail('pyproject.toml writes a version too: keep it dynamic')
    return m[1]

def main(tag=None, install_deps=False, dist=None, keep=None):
    v = version()
    if tag is not None and tag.removeprefix('v') != v: fail(f"the tag {tag} does not name the package's version {v}")
    if not re.search(rf'^## \[?{re.escape(v)}\]?', (ROOT/'CHANGELOG.md').read_text(), re.M): fail(f"CHANGELOG.md has no `## {v}` entry")
    ok(f"version {v}, defined once, in CHANGELOG.md")
    if keep: tmp = Path(keep).resolve(); shutil.rmtree(tmp, ignore_errors=True); tmp.mkdir(parents=True)
    else: tmp = Path(tempfile.mkdtemp(prefix='release-'))
    run([sys.executable, '-m', 'build', '--outdir', tmp/'dist', ROOT])
    whl, = (tmp/'dist').glob(f'digitlab-{v}-py3-none-any.whl'); sd, = (tmp/'dist').glob(f'digitlab-{v}.tar.gz')
    run([sys.executable, '-m', 'twine', 'check', '--strict', whl, sd]); ok(f"twine check: {whl.name}, {sd.name}")
    names = zipfile.ZipFile(whl).namelist()
    missing = [n for n in WHEEL_MUST if n not in names]
    if missing: fail(f"the wheel lacks {missing}")
    stray = [n for n in names if n.split('/')[0] in ('tests', 'nbs', 'bench', 'tools')]
    if stray: fail(f"the wheel carries files that are not the package's: {stray[:5]}")
    meta = zipfile.ZipFile(whl).read(next(n for n in names if n.endswith('.dist-info/entry_points.txt'))).decode()
    if 'digitlab = digitlab.cli:main' not in meta: fail("the wheel has no `digitlab` console script")
    ok(f"the wheel holds the package, MNIST and its licence, seeds.json and the command ({len(names)} files)")
    with tarfile.open(sd) as t: snames = {n.split('/', 1)[1] for n in t.getnames() if '/' in n}
    missing = [n for n in SDIST_MUST if n not in snames]
    if missing: fail(f"the sdist lacks {missing}")
    ok(f"the sdist holds the notebooks, tests, changelog and licence ({len(snames)} files)")
    env = tmp/'venv'; venv.create(env, with_pip=True); py, bindir = env/'bin'/'python', env/'bin'
    if install_deps: run([py, '-m', 'pip', 'install', '-q', whl])
    else:   # the dependencies are this venv's (a .pth line adds its site-packages, not its editable digitlab); the wheel is installed alone
        run([py, '-m', 'pip', 'install', '-q', '--no-deps', '--no-index', whl])
        site = Path(run([py, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])']).strip())
        (site/'deps.pth').write_text(sysconfig.get_paths()['purelib']+'\n')
    e = {**os.environ, 'FASTAI_HOME': str(tmp/'fastai_home')}
    where = run([py, '-c', 'import digitlab; print(digitlab.__file__, digitlab.__version__)'], env=e, cwd=tmp).split()
    if not where[0].startswith(str(env)) or where[1] != v: fail(f"the fresh venv imports {where}, not the wheel's digitlab {v}")
    run([bindir/'digitlab', 'data', '--only', 'mnist_sample'], env=e, cwd=tmp)
    out = run([bindir/'digitlab', 'data', '--check', '--only', 'mnist_sample'], env=e, cwd=tmp)
    ok(f"a fresh venv installs the wheel; digitlab data, then --check: {out.strip()}")
    if dist:
        dist.mkdir(parents=True, exist_ok=True)
        for f in (whl, sd): shutil.copy(f, dist/f.name)
        ok(f"copied {whl.name} and {sd.name} to {dist}")
    if keep: (tmp/'ok').write_text(v); ok(f"kept the sdist, the wheel and the venv in {tmp}")
    else: shutil.rmtree(tmp, ignore_errors=True)
    return tmp

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--tag', default=None, help="the git tag being released, e.g. v0.0.1: it must name the version")
    p.add_argument('--install-deps', action='store_true', help="install the wheel's dependencies from the registry (CI)")
    p.add_argument('--dist', type=Path, default=None, help="copy the checked files here (the release workflow publishes them)")
    p.add_argument('--keep', type=Path, default=None, help="build in this folder and keep what was built (dist/, venv/): the tests reuse it")
    a = p.parse_args()
    main(a.tag, a.install_deps, a.dist, a.keep)
