"Bad input for `digitlab.data`: each case on copies of the shipped files, never on the files themselves."
import errno, gzip, os, re, shutil, subprocess, sys, sysconfig, tracemalloc, types, zipfile
from pathlib import Path
import pytest, torch
from PIL import Image
from digitlab.data import (MnistError, read_idx, load_mnist, make_mnist_folders, check_mnist_folders, MNIST_SHA256, mnist_src,
                           mnist_tensors, mnist_stats, MAX_IDX_BYTES)
from tests.conftest import ROOT

LBL = 't10k-labels-idx1-ubyte'
def read(d, nm=LBL): return read_idx(d/f'{nm}.gz', MNIST_SHA256[nm])

def test_shipped_files_verify():
    for nm in MNIST_SHA256: assert read(mnist_src(), nm).numel() > 0

def test_missing(src):
    (src/f'{LBL}.gz').unlink()
    with pytest.raises(MnistError, match=f"Cannot read .*{LBL}.gz .*replace it with a good copy, or leave out `src`"): read(src)

def test_truncated(src):
    fn = src/f'{LBL}.gz'; fn.write_bytes(fn.read_bytes()[:1000])
    with pytest.raises(MnistError, match=f"{LBL}.gz is not a complete gzip file.*truncated or corrupted"): read(src)

def test_corrupted_gzip(src):
    fn = src/f'{LBL}.gz'; b = bytearray(fn.read_bytes()); b[200:260] = bytes(60); fn.write_bytes(bytes(b))
    with pytest.raises(MnistError, match=f"{LBL}.gz is not a complete gzip file"): read(src)

def test_not_gzip(src):
    (src/f'{LBL}.gz').write_text('<html>404 Not Found</html>')
    with pytest.raises(MnistError, match="truncated or corrupted"): read(src)

def test_wrong_magic(src):
    from tests.conftest import rewrite
    rewrite(src/f'{LBL}.gz', lambda b: b'\x00\x00\x0d\x01'+b[4:])
    with pytest.raises(MnistError, match=r"not an MNIST IDX file: its magic number is 00000d01, expected 00000801"): read(src)

def test_size_mismatch(src):
    from tests.conftest import rewrite
    rewrite(src/f'{LBL}.gz', lambda b: b[:-10])
    with pytest.raises(MnistError, match=r"holds 9,990 bytes of data but its header announces 10,000"): read(src)

def test_checksum_mismatch(src):
    from tests.conftest import rewrite
    rewrite(src/f'{LBL}.gz', lambda b: b[:100]+bytes([(b[100]+1)%10])+b[101:])
    with pytest.raises(MnistError, match=f"{LBL}.gz has SHA-256 .* expected ff7bcfd416de3373.*corrupted"): read(src)

def test_load_mnist_bad_split():
    with pytest.raises(ValueError, match="'train' or 'test'"): load_mnist('valid')

def test_load_mnist_returns_copies():
    x,_ = load_mnist('test'); x[:] = 0
    assert load_mnist('test')[0].sum() > 0

def _left(d): return sorted(o.name for o in d.iterdir()) if d.exists() else []

def test_bad_src_leaves_nothing(src, tmp_path):
    (src/'train-images-idx3-ubyte.gz').write_bytes(b'garbage')
    data = tmp_path/'data'
    with pytest.raises(MnistError, match='train-images-idx3-ubyte.gz'): make_mnist_folders(data=data, src=src)
    assert [o for o in _left(data) if not o.endswith('.lock')] == []

def test_unwritable_data_folder(tmp_path):
    blocker = tmp_path/'a_file'; blocker.write_text('')  # a file where a folder should be: unwritable even for root
    with pytest.raises(MnistError, match=r"Cannot write .*a_file/data/mnist_sample .*FASTAI_HOME"):
        make_mnist_folders('mnist_sample', data=blocker/'data')

def test_interrupted_run_leaves_nothing_then_recovers(tmp_path, monkeypatch, small_src):
    data, n, save = tmp_path/'data', [0], Image.Image.save
    def flaky_save(self, *a, **k):
        n[0] += 1
        if n[0]==50: raise KeyboardInterrupt
        return save(self, *a, **k)
    monkeypatch.setattr(Image.Image, 'save', flaky_save)
    with pytest.raises(KeyboardInterrupt): make_mnist_folders('mnist_sample', data=data, src=small_src)
    assert [o for o in _left(data) if not o.endswith('.lock')] == []   # no half-made dataset, no temporary folder
    monkeypatch.setattr(Image.Image, 'save', save)
    make_mnist_folders('mnist_sample', data=data, src=small_src)
    assert check_mnist_folders('mnist_sample', data=data, src=small_src) == []

def test_stale_temporary_folder_removed(tmp_path, small_src):
    data = tmp_path/'data'; stale = data/'.mnist_sample.tmpXYZ'/'train'; stale.mkdir(parents=True)
    make_mnist_folders('mnist_sample', data=data, src=small_src)
    assert _left(data) == ['.mnist_sample.lock', 'mnist_sample']

def test_second_run_does_nothing(tmp_path, small_src):
    data = tmp_path/'data'; make_mnist_folders('mnist_sample', data=data, src=small_src)
    f = data/'mnist_sample'/'train'/'3'/'10.png'; t = f.stat().st_mtime_ns
    make_mnist_folders('mnist_sample', data=data, src=small_src)
    assert f.stat().st_mtime_ns == t

def test_unknown_dataset(tmp_path):
    with pytest.raises(ValueError, match="mnist_sample"): make_mnist_folders('mnist_tiny', data=tmp_path)

@pytest.mark.slow
def test_fastai_home_honoured(tmp_path):
    code = ("from digitlab.data import make_mnist_folders; from fastai.data.external import untar_data, URLs; "
            "make_mnist_folders('mnist_sample'); print(untar_data(URLs.MNIST_SAMPLE))")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env={**os.environ, 'FASTAI_HOME': str(tmp_path/'fh')})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path/'fh'/'data'/'mnist_sample'), r.stdout  # and no progress bar in a pipe

def test_data_folder_is_fastais_for_the_current_fastai_home(tmp_path, monkeypatch):
    from fastai.data.external import fastai_path
    fastai_path('data')   # fastai's own answer for this process's first FASTAI_HOME: cached from now on
    fh = tmp_path/'fh'; monkeypatch.setenv('FASTAI_HOME', str(fh))
    assert check_mnist_folders('mnist_sample')[0].startswith(f"{fh/'data'/'mnist_sample'} does not exist")
    assert not fh.exists()   # checking writes nothing, not even config.ini
    fh.mkdir(); (fh/'config.ini').write_text('[DEFAULT]\ndata = elsewhere\n')
    assert check_mnist_folders('mnist_sample')[0].startswith(f"{fh/'elsewhere'/'mnist_sample'} does not exist")
    (fh/'config.ini').write_text('not an ini file\n')
    with pytest.raises(MnistError, match=r"config.ini cannot be read \(MissingSectionHeaderError.*--dest"): check_mnist_folders('mnist_sample')
    (fh/'config.ini').write_text('[DEFAULT]\ndata = elsewhere\n'); access = os.access   # unreadable: fastai would take it for missing and write over it
    monkeypatch.setattr(os, 'access', lambda f, mode, **k: Path(f) != fh/'config.ini' and access(f, mode, **k))
    with pytest.raises(MnistError, match=r"config.ini cannot be read \(permission denied\)"): make_mnist_folders('mnist_sample')
    assert (fh/'config.ini').read_text() == '[DEFAULT]\ndata = elsewhere\n' and not (fh/'elsewhere').exists()

# ---- concurrency where no lock exists (Windows without msvcrt, or any filesystem without locks) ----------------------
import digitlab.folders as fo

def test_no_lock_never_deletes_another_writers_temp_folder(tmp_path, monkeypatch, small_src):
    monkeypatch.setattr(fo, 'fcntl', None); monkeypatch.setattr(fo, 'msvcrt', None)
    data = tmp_path/'data'; other = data/'.mnist_sample.tmp999-abc'/'train'; other.mkdir(parents=True)   # another writer, busy
    make_mnist_folders('mnist_sample', data=data, src=small_src)
    assert other.is_dir() and check_mnist_folders('mnist_sample', data=data, src=small_src) == []

def test_rename_onto_a_folder_another_writer_finished(tmp_path, monkeypatch, small_src):
    monkeypatch.setattr(fo, 'fcntl', None); monkeypatch.setattr(fo, 'msvcrt', None)
    data = tmp_path/'data'; rename, done = Path.rename, []
    def racing_rename(self, target):
        if not done:   # just before our rename, another writer (without a lock either) finishes the same dataset
            done.append(1); make_mnist_folders('mnist_sample', data=Path(target).parent, src=small_src)
        return rename(self, target)
    monkeypatch.setattr(Path, 'rename', racing_rename)
    assert make_mnist_folders('mnist_sample', data=data, src=small_src) == {'mnist_sample': data/'mnist_sample'}
    assert _left(data) == ['.mnist_sample.lock', 'mnist_sample']      # our temporary folder is gone, theirs kept
    assert check_mnist_folders('mnist_sample', data=data, src=small_src) == []

def test_marker_written_last(tmp_path, monkeypatch, small_src):
    from digitlab.folders import mnist_layout
    data, n, save = tmp_path/'data', [0], Image.Image.save
    last = sum(len(i) for _,i in mnist_layout('mnist_sample', small_src).values())
    def flaky_save(self, *a, **k):
        n[0] += 1
        if n[0]==last: raise OSError(28, 'No space left on device')   # the very last image
        return save(self, *a, **k)
    monkeypatch.setattr(Image.Image, 'save', flaky_save)
    with pytest.raises(MnistError, match='No space left'): make_mnist_folders('mnist_sample', data=data, src=small_src)
    assert n[0] == last
    assert [o for o in _left(data) if not o.endswith('.lock')] == []

# ---- the Windows lock (msvcrt), on any machine: a stand-in for msvcrt ------------------------------------------------
class FakeMsvcrt:
    "msvcrt's `locking`, raising OSErrors with the errnos `errs` (one per LK_LOCK call, then success); it records every call"
    LK_LOCK, LK_UNLCK = 1, 0
    def __init__(self, *errs): self.errs, self.calls = list(errs), []
    def locking(self, fd, mode, n):
        self.calls.append(mode)
        if len(self.calls) > 20: raise RuntimeError('the lock loop retried an error forever')
        if mode == self.LK_LOCK and self.errs: e = self.errs.pop(0); raise OSError(e, os.strerror(e))

def test_msvcrt_lock_waits_out_contention(tmp_path, monkeypatch):
    busy = getattr(errno, 'EDEADLOCK', errno.EDEADLK)   # what LK_LOCK raises after 10 s of another process's lock
    ms = FakeMsvcrt(busy); monkeypatch.setattr(fo, 'fcntl', None); monkeypatch.setattr(fo, 'msvcrt', ms)
    (tmp_path/'mnist_sample').mkdir()   # there, but not ours: under the lock, make_mnist_folders checks it and stops
    with pytest.raises(MnistError, match='exists but is not a complete copy'): make_mnist_folders('mnist_sample', data=tmp_path)
    assert ms.calls == [ms.LK_LOCK, ms.LK_LOCK, ms.LK_UNLCK]   # tried again after contention, got the lock, released it

def test_msvcrt_lock_error_is_not_retried(tmp_path, monkeypatch):
    ms = FakeMsvcrt(*[errno.EBADF]*30); monkeypatch.setattr(fo, 'fcntl', None); monkeypatch.setattr(fo, 'msvcrt', ms)
    with pytest.raises(MnistError, match=r'Cannot write .*mnist_sample \(Bad file descriptor\)'): make_mnist_folders('mnist_sample', data=tmp_path)
    assert ms.calls == [ms.LK_LOCK]   # one try: an error other than contention is not waited out
    assert not (tmp_path/'mnist_sample').exists()

# ---- a gzip bomb -------------------------------------------------------------------------------------------------------
def test_decompression_is_capped(src, tmp_path, monkeypatch):
    import digitlab.idx
    assert 47_040_016 < MAX_IDX_BYTES <= 2**27   # above MNIST's largest file (the training images), and not much more
    monkeypatch.setattr(digitlab.idx, 'MAX_IDX_BYTES', 10_000)   # the labels file holds 10,008 bytes
    with pytest.raises(MnistError, match=f"{LBL}.gz decompresses to more than 10,000 bytes.*not MNIST.*replace it with a good copy"): read(src)
    monkeypatch.undo()
    bomb = tmp_path/'bomb.gz'; bomb.write_bytes(gzip.compress(bytes(2**24), mtime=0) * 64)   # 1 GiB of zeros in 1 MB
    tracemalloc.start()
    try:
        with pytest.raises(MnistError, match=f"bomb.gz decompresses to more than {MAX_IDX_BYTES:,} bytes"): read_idx(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally: tracemalloc.stop()
    assert peak < 1.5*MAX_IDX_BYTES, peak   # it stopped at the cap: never held the gigabyte

# ---- a zipped install ----------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_zipped_install(tmp_path):
    "digitlab imported from a zip file (no folder to point a Path at) still reads its MNIST, through importlib.resources"
    z = tmp_path/'digitlab.zip'
    with zipfile.ZipFile(z, 'w') as zf:
        for f in [*(ROOT/'digitlab').glob('*.py'), *(ROOT/'digitlab'/'mnist').glob('*.gz')]: zf.write(f, f.relative_to(ROOT).as_posix())
    code = ("import digitlab, digitlab.data as d; x,y = d.load_mnist('test'); "
            "print(digitlab.__file__, d.mnist_src().exists(), tuple(x.shape), y[:5].tolist(), d.mnist_stats())")
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(z), sysconfig.get_paths()['purelib']])}   # the zip, and torch and fastai
    r = subprocess.run([sys.executable, '-S', '-c', code], cwd=tmp_path, env=env, capture_output=True, text=True)   # -S: no .pth, no editable install
    assert r.returncode == 0, r.stderr[-2000:]
    # imported from the zip, whose mnist/ is no folder; the test images, their labels, and the same statistics as here
    assert r.stdout.strip() == f"{z/'digitlab'/'__init__.py'} False (10000, 28, 28) [7, 2, 1, 0, 4] {mnist_stats()}", r.stdout

# ---- the module layout ---------------------------------------------------------------------------------------------
MODULES = ('errors', 'idx', 'folders', 'loaders', 'spreads')

def test_data_gathers_the_modules():
    import importlib, digitlab.data as data
    names = [n for m in MODULES for n in importlib.import_module(f'digitlab.{m}').__all__]
    assert sorted(data.__all__) == sorted(names) and len(set(names)) == len(names)
    assert all(getattr(data, n) is getattr(importlib.import_module(f'digitlab.{m}'), n) for m in MODULES for n in importlib.import_module(f'digitlab.{m}').__all__)

def test_no_private_names_across_modules():
    for m in ('data', *MODULES):
        text = (ROOT/'digitlab'/f'{m}.py').read_text()
        assert not re.findall(r'^from \.\w+ import .*\b_\w+', text, re.M), m
        assert len(text.splitlines()) <= 250, m

def test_mnist_tensors_shared_and_stats():
    x, y = mnist_tensors('test')
    assert mnist_tensors('test')[0] is x and mnist_tensors('test', mnist_src())[0] is x   # cached: one copy, however src is named
    assert (x.dtype, tuple(x.shape), y.dtype) == (torch.uint8, (10_000, 28, 28), torch.int64)
    a = load_mnist('test')[0]; assert a.data_ptr() != x.data_ptr() and torch.equal(a, x)    # load_mnist: a copy
    assert mnist_stats() == (0.13066047430038452, 0.30810782313346863)                     # MNIST's familiar 0.1307 and 0.3081
    assert mnist_stats((7,3)) == mnist_stats([3,7]) == (0.1278829723596573, 0.30524614453315735)
    with pytest.raises(ValueError, match='digits must be'): mnist_stats((3,))
    with pytest.raises(ValueError, match="'train' or 'test'"): mnist_tensors('valid')
