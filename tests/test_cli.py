"The installed `digitlab` command, as a user runs it: offline, on a fresh FASTAI_HOME, on damaged files, on a bad folder."
import shutil, sys
from pathlib import Path
from tests.conftest import BIN, offline

DIGITLAB = str(BIN/'digitlab')
COUNT = ("import sys; from fastai.data.external import untar_data, URLs; "
         "s = untar_data(URLs.MNIST_SAMPLE); m = untar_data(URLs.MNIST); "
         "print(*[len(list((s/d).glob('*.png'))) for d in ('train/3','train/7','valid/3','valid/7')], "
         "sum(1 for _ in (m/'training').glob('*/*.png')), sum(1 for _ in (m/'testing').glob('*/*.png')), "
         "len(list((m/'training').iterdir())), len(list((m/'testing').iterdir())))")

def test_data_offline_then_untar_data(tmp_path):
    env = {'FASTAI_HOME': str(tmp_path/'fastai_home')}   # empty: nothing downloaded, nothing written yet
    r = offline([DIGITLAB, 'data'], env)
    assert r.returncode == 0, r.stderr
    assert f"mnist_sample: {tmp_path}/fastai_home/data/mnist_sample" in r.stdout and 'untar_data(URLs.MNIST)' in r.stdout
    r = offline([sys.executable, '-c', COUNT], env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ['6131', '6265', '1010', '1028', '60000', '10000', '10', '10']
    r = offline([DIGITLAB, 'data', '--check'], env)
    assert r.returncode == 0 and 'identical to MNIST' in r.stdout, r.stderr
    r = offline([DIGITLAB, 'data'], env)   # a second run does nothing, and says where
    assert r.returncode == 0 and 'mnist_png' in r.stdout

def test_check_reports_problems(tmp_path):
    assert offline([DIGITLAB, 'data', '--only', 'mnist_sample', '--dest', str(tmp_path)]).returncode == 0
    (tmp_path/'mnist_sample'/'train'/'3'/'10.png').unlink()
    (tmp_path/'mnist_sample'/'labels.csv').unlink()
    r = offline([DIGITLAB, 'data', '--check', '--only', 'mnist_sample', '--dest', str(tmp_path)])
    assert r.returncode == 1
    assert 'train/3: 1 image(s) missing, e.g. 10.png' in r.stderr and 'labels.csv is missing' in r.stderr
    assert offline([DIGITLAB, 'data', '--check', '--dest', str(tmp_path/'nothing')]).returncode == 1

def test_corrupted_src_fails_cleanly(src, tmp_path):
    fn = src/'t10k-images-idx3-ubyte.gz'; fn.write_bytes(fn.read_bytes()[:5000])
    r = offline([DIGITLAB, 'data', '--src', str(src), '--dest', str(tmp_path/'data')])
    assert r.returncode == 1
    line, = r.stderr.strip().splitlines()   # one clear sentence, no traceback
    assert line.startswith('digitlab: error: ') and 't10k-images-idx3-ubyte.gz' in line and 'truncated' in line
    assert [o.name for o in (tmp_path/'data').glob('*') if not o.name.endswith('.lock')] == []

def test_unwritable_dest(tmp_path):
    blocker = tmp_path/'file'; blocker.write_text('')
    r = offline([DIGITLAB, 'data', '--dest', str(blocker/'data')])
    assert r.returncode == 1 and 'Cannot write' in r.stderr and 'Traceback' not in r.stderr

def test_usage():
    r = offline([DIGITLAB])
    assert r.returncode == 2 and 'usage: digitlab' in r.stderr
    r = offline([DIGITLAB, 'data', '--help'])
    assert r.returncode == 0 and '--check' in r.stdout
