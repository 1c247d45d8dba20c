"The Makefile's stamps: a new torch pin reinstalls torch, a new interpreter or an interrupted venv creation rebuilds the venv (dry runs: nothing is installed)."
import shutil, subprocess, sys, time
from tests.conftest import ROOT

def dry(d, *args):
    r = subprocess.run(['make', '-n', 'install', *args], cwd=d, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return '\n'.join(l for l in r.stdout.splitlines() if not l.startswith('make'))   # the commands make would run

def test_stamps(tmp_path):
    for f in ('Makefile', 'pyproject.toml'): shutil.copy(ROOT/f, tmp_path/f)
    py = '%d.%d.%d' % sys.version_info[:3]
    plan = dry(tmp_path, f'PYTHON={sys.executable}')
    assert '-m venv .venv' in plan and 'torch==2.14.1 torchvision==0.29.1' in plan        # nothing there: everything
    v = tmp_path/'.venv'; v.mkdir()
    for stamp in (f'.venv-ok-py{py}', '.torch-2.14.1-torchvision-0.29.1', '.installed'):  # a complete venv, stamped in order
        time.sleep(0.01); (v/stamp).touch()
    assert dry(tmp_path, f'PYTHON={sys.executable}').strip() == ''                      # nothing to do
    plan = dry(tmp_path, f'PYTHON={sys.executable}', 'TORCH_VER=2.15.0')                  # a new pin: torch again, then digitlab
    assert 'torch==2.15.0' in plan and '-m venv' not in plan and "pip install -q -e '.[dev]'" in plan
    (v/f'.venv-ok-py{py}').unlink()                                                       # creation interrupted before its stamp
    plan = dry(tmp_path, f'PYTHON={sys.executable}')
    assert plan.splitlines()[0] == 'rm -rf .venv' and '-m venv .venv' in plan and 'torch==2.14.1' in plan
    (v/f'.venv-ok-py{py}').touch(); time.sleep(0.01)
    (v/'.torch-2.14.1-torchvision-0.29.1').touch(); time.sleep(0.01); (v/'.installed').touch()
    fake = tmp_path/'python3.99'; fake.write_text('#!/bin/sh\necho 3.99.0\n'); fake.chmod(0o755)   # another interpreter
    plan = dry(tmp_path, f'PYTHON={fake}')
    assert 'rm -rf .venv' in plan and f'{fake} -m venv .venv' in plan
