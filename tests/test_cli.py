"The installed `digitlab` command, as a user runs it: offline, on a fresh FASTAI_HOME, on damaged files, on a bad folder."
import shutil, sys
import pytest
from pathlib import Path
from tests.conftest import BIN, offline

DIGITLAB = str(BIN/'digitlab')
COUNT = ("import sys; from fastai.data.external import untar_data, URLs; "
         "s = untar_data(URLs.MNIST_SAMPLE); m = untar_data(URLs.MNIST); "
         "print(*[len(list((s/d).glob('*.png'))) for d in ('train/3','train/7','valid/3','valid/7')], "
         "sum(1 for _ in (m/'training').glob('*/*.png')), sum(1 for _ in (m/'testing').glob('*/*.png')), "
         "len(list((m/'training').iterdir())), len(list((m/'testing').iterdir())))")

@pytest.mark.slow
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

@pytest.mark.slow
def test_check_reports_problems(tmp_path):
    assert offline([DIGITLAB, 'data', '--only', 'mnist_sample', '--dest', str(tmp_path)]).returncode == 0
    (tmp_path/'mnist_sample'/'train'/'3'/'10.png').unlink()
    (tmp_path/'mnist_sample'/'labels.csv').unlink()
    r = offline([DIGITLAB, 'data', '--check', '--only', 'mnist_sample', '--dest', str(tmp_path)])
    assert r.returncode == 1
    assert 'train/3: 1 file(s) missing, e.g. 10.png' in r.stderr and 'labels.csv is missing' in r.stderr
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

# ---- hardening: each bad input gives one sentence on stderr and exit status 1, never a traceback ---------------------
# In-process (`digitlab.cli.main`, what the installed command calls), to keep the suite fast; an exception would fail the test.
import gzip, struct, subprocess, types
import pytest
from digitlab.cli import main
from digitlab.data import make_mnist_folders

def run(args, capsys, env=None, monkeypatch=None):
    for k,v in (env or {}).items(): monkeypatch.setenv(k, v)
    rc = main(args); out, err = capsys.readouterr()
    return types.SimpleNamespace(returncode=rc, stdout=out, stderr=err)

def one_sentence(r):
    assert r.returncode == 1 and 'Traceback' not in r.stderr, r.stderr
    line, = r.stderr.strip().splitlines()
    assert line.startswith('digitlab: ')
    return line

LBL = 't10k-labels-idx1-ubyte.gz'

def test_bad_src_files(src, tmp_path, capsys):
    cases = dict(empty=lambda fn: fn.write_bytes(b''),
                 header=lambda fn: fn.write_bytes(gzip.compress(b'\x00\x00\x08\x01\x00\x00')),       # cut inside the size field
                 zero=lambda fn: fn.write_bytes(gzip.compress(b'\x00\x00\x08\x01' + struct.pack('>I', 0))))
    want = dict(empty='is empty (0 bytes)', header='truncated IDX header', zero='zero-sized dimension')
    good = (src/LBL).read_bytes()
    for k,f in cases.items():
        f(src/LBL)
        line = one_sentence(run(['data', '--src', str(src), '--dest', str(tmp_path/k)], capsys))
        assert want[k] in line and LBL in line and '--src' in line, line   # the advice names the option the user gave
        (src/LBL).write_bytes(good)

def test_malformed_config_ini(tmp_path, capsys, monkeypatch):
    home = tmp_path/'home'; home.mkdir(); (home/'config.ini').write_text('this is not an ini file\n')
    env = {'FASTAI_HOME': str(home)}
    for args in (['data'], ['data', '--check']):
        line = one_sentence(run(args, capsys, env, monkeypatch))
        assert 'config.ini cannot be read' in line and '--dest' in line
    (home/'config.ini').write_bytes(b'[DEFAULT]\ndata = \xff\xfe\n')   # not UTF-8
    assert 'config.ini cannot be read' in one_sentence(run(['data'], capsys, env, monkeypatch))

def test_check_is_read_only(tmp_path, capsys, monkeypatch):
    home = tmp_path/'home'; home.mkdir()
    r = run(['data', '--check', '--only', 'mnist_sample'], capsys, {'FASTAI_HOME': str(home)}, monkeypatch)
    assert r.returncode == 1 and 'does not exist' in r.stderr
    assert list(home.iterdir()) == []          # no config.ini, no data folder, no lock file

@pytest.fixture(scope='module')
def sample_master(tmp_path_factory):
    return make_mnist_folders('mnist_sample', data=tmp_path_factory.mktemp('master'))['mnist_sample']

@pytest.fixture
def sample(sample_master, tmp_path):
    "A fresh, complete mnist_sample in tmp_path, ours to damage"
    shutil.copytree(sample_master, tmp_path/'mnist_sample'); return tmp_path/'mnist_sample'

def check(d, capsys): return run(['data', '--check', '--only', 'mnist_sample', '--dest', str(d.parent)], capsys)

@pytest.mark.slow
def test_check_flags_extra_folders_and_files(sample, capsys):
    d = sample
    (d/'train'/'8').mkdir(); (d/'valid'/'notes.txt').write_text('hi'); (d/'valid'/'3'/'extra.jpg').write_bytes(b'x')
    (d/'models').mkdir(); (d/'export.pkl').write_bytes(b'')     # what a fastai Learner saves into its path: fine
    (d/'train'/'.DS_Store').write_bytes(b'x'); (d/'valid'/'3'/'.DS_Store').write_bytes(b'x')   # hidden files: fastai skips them, so do we
    r = check(d, capsys)
    assert r.returncode == 1
    assert 'train/8 should not be there' in r.stderr and 'one more class' in r.stderr
    assert 'valid/notes.txt should not be there' in r.stderr and 'models' not in r.stderr and 'export.pkl' not in r.stderr
    assert '.DS_Store' not in r.stderr
    assert 'valid/3: 1 file(s) that should not be there, e.g. extra.jpg' in r.stderr
    assert f'digitlab data --dest {d.parent}' in r.stderr

@pytest.mark.slow
def test_check_compares_labels_csv_rows(sample, capsys):
    csv = sample/'labels.csv'; good = csv.read_bytes()
    head, *rows = good.decode().splitlines()
    csv.write_bytes(good.replace(b'train/3/7.png,0', b'train/3/7.png,1'))      # one label flipped, same number of rows
    assert 'labels.csv differs' in check(sample, capsys).stderr
    csv.write_bytes(b'\xff\xfe' + good[2:])                                    # not UTF-8
    r = check(sample, capsys); assert r.returncode == 1 and 'labels.csv differs' in r.stderr
    csv.write_text('\n'.join([head, *rows[1:]])+'\n')                          # a row missing
    assert 'labels.csv differs' in check(sample, capsys).stderr
    csv.write_text('\n'.join([head, *rows, rows[0]])+'\n')                     # a row twice
    assert 'labels.csv differs' in check(sample, capsys).stderr
    import random
    shuffled = rows[:]; random.Random(0).shuffle(shuffled)                     # fastai's own file lists its rows shuffled
    i = shuffled.index('train/3/7463.png,0'); shuffled[0], shuffled[i] = shuffled[i], shuffled[0]   # its first row
    csv.write_text('\n'.join([head, *shuffled])+'\n')
    assert check(sample, capsys).returncode == 0
    csv.write_bytes(good); assert check(sample, capsys).returncode == 0

@pytest.mark.slow
def test_incomplete_folder_reported_not_trusted(sample, capsys):
    d = sample; write = ['data', '--only', 'mnist_sample', '--dest', str(d.parent)]
    (d/'.digitlab-complete').unlink()                        # as fastai's own download: no marker, but every file there
    r = run(write, capsys); assert r.returncode == 0, r.stderr   # accepted as it is
    (d/'train'/'3'/'10.png').unlink()                        # now damaged, and no marker to vouch for it
    line = one_sentence(run(write, capsys))
    assert 'exists but is not a complete copy' in line and f'digitlab data --check --dest {d.parent}' in line
    assert (d/'train'/'7').is_dir() and not (d/'.digitlab-complete').exists()   # nothing of the user's deleted or vouched for

# ---- train's settings, checked before any work ------------------------------------------------------------------
@pytest.mark.parametrize('lr', ['0', '-0.1', 'nan', 'inf', '-inf', 'fast'])
def test_learning_rate_must_be_positive(lr, capsys):
    with pytest.raises(SystemExit) as e: main(['train', f'--lr={lr}'])
    assert e.value.code == 2 and 'expected a positive number' in capsys.readouterr().err

def test_batch_bigger_than_the_training_set(tmp_path, capsys):
    "A batch that leaves no batch to train on is refused, and nothing is saved (before, an untrained model was)"
    line = one_sentence(run(['train', '--epochs', '1', '--bs', '60001', '--out', str(tmp_path/'m')], capsys))
    assert 'more than the 60,000 training images' in line and not (tmp_path/'m.safetensors').exists()

def test_train_settings_in_python():
    from digitlab.training import train
    from digitlab.errors import DigitError
    for kw, words in ((dict(lr=0.0), 'positive number'), (dict(lr=float('nan')), 'positive number'), (dict(epochs=True), 'whole number'),
                      (dict(bs=0), 'whole number'), (dict(bs=70_000), 'more than the 60,000')):
        with pytest.raises(DigitError, match=words): train(progress=False, **kw)

def test_values_that_look_like_options_reach_the_processes():
    "`--out -x` is one value: the processes of --procs get it as `--out=-x`, which parses back to the same value"
    from digitlab.cli import _parser, _train_argv
    a = _parser().parse_args(['train', '--out=-x', '--checkpoint=--ck', '--lr', '0.05'])
    argv = _train_argv(a)
    assert '--out=-x' in argv and '--checkpoint=--ck' in argv
    b = _parser().parse_args(argv)
    assert (b.out, b.checkpoint, b.lr, b.seed) == (Path('-x'), Path('--ck'), 0.05, 42)
    assert _parser().parse_args(_train_argv(_parser().parse_args(['train', '--recipe', 'plain']))).recipe == 'plain'

def test_recipe_and_best_disagree(tmp_path, capsys):
    line = one_sentence(run(['train', '--recipe', 'plain', '--best', '--out', str(tmp_path/'m')], capsys))
    assert 'one or the other' in line and not (tmp_path/'m.safetensors').exists()

def test_ctrl_c_is_one_line(capsys, monkeypatch):
    import digitlab.training as T
    def interrupted(*a, **k): raise KeyboardInterrupt
    monkeypatch.setattr(T, 'train', interrupted)
    r = run(['train', '--epochs', '1'], capsys)
    assert r.returncode == 130 and r.stderr.strip() == 'digitlab: interrupted.' and r.stdout == ''

def test_python_m_digitlab():
    r = subprocess.run([sys.executable, '-m', 'digitlab', 'train', '--help'], capture_output=True, text=True)
    assert r.returncode == 0 and 'trust' in r.stdout and '--procs' in r.stdout, r.stderr   # --resume's help says checkpoints must be trusted

def test_control_characters_in_names_are_escaped(tmp_path, capsys):
    from digitlab.cli import _shown
    assert _shown('a\x1b[31mb\nc') == 'a\\x1b[31mb\\nc' and _shown('été 7') == 'été 7'
    fn = tmp_path/'evil\x1b[2J.png'; fn.write_text('not a picture')
    line = one_sentence(run(['predict', str(fn), str(fn)], capsys))
    assert '\x1b' not in line and 'evil\\x1b[2J.png' in line
