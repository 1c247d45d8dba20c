"`digitlab train` / `digitlab predict` and `digitlab.predict` on every kind of bad image and model file: one sentence, exit status 1."
import json, pickle, struct, types, zlib
import numpy as np, pytest, torch
from pathlib import Path
from PIL import Image
from digitlab.cli import main
from digitlab.data import load_mnist
from digitlab.errors import DigitError, NoDigitError
from digitlab.images import load_gray, open_image, MAX_PIXELS
from digitlab.modelfile import load_model, save_model, make_model
from digitlab.predict import predict, show_sheet
from digitlab.prepare import mnistify
from digitlab.synthetic import photo_like

def run(args, capsys):
    rc = main([str(a) for a in args]); out, err = capsys.readouterr()
    return types.SimpleNamespace(returncode=rc, stdout=out, stderr=err)

def one_error(r, *words):
    "Exit status 1 and exactly one `digitlab: error:` line, with no traceback, that contains every one of `words`"
    assert r.returncode == 1 and 'Traceback' not in r.stderr, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.startswith('digitlab: error:')]
    assert len(lines) == 1, r.stderr
    for w in words: assert w in lines[0], (w, lines[0])
    return lines[0]

def png_file(w, h):
    "A PNG that claims w×h pixels and holds almost no data (a decompression bomb's header)"
    def chunk(kind, data): return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind+data))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(b'\0'*100)) + chunk(b'IEND', b''))

X, Y = load_mnist('test')

@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    "Photos (dark on light) of the first 8 MNIST test digits, as PNG files"
    d = tmp_path_factory.mktemp('photos'); rng = np.random.default_rng(0)
    fns = []
    for i in range(8):
        fn = d/f'{i}.png'; Image.fromarray(photo_like(X[i].numpy(), rng)).save(fn); fns.append(fn)
    return fns

# ---- images ----------------------------------------------------------------------------------------------------
BAD_IMAGES = dict(
    missing=(lambda d: d/'nothing.png', 'no such file'),
    empty=(lambda d: (d/'empty.png').write_bytes(b'') and None or d/'empty.png', 'empty (0 bytes)'),
    text=(lambda d: (d/'notes.txt').write_text('a shopping list') and d/'notes.txt', 'not an image'),
    renamed=(lambda d: (d/'notes.png').write_text('a shopping list') and d/'notes.png', 'renamed'),
    zero=(lambda d: (d/'zero.png').write_bytes(png_file(0, 0)) and d/'zero.png', 'not an image'),
    one=(lambda d: Image.new('L', (1,1), 255).save(d/'one.png') or d/'one.png', 'too small to hold a digit'),
    bomb=(lambda d: (d/'bomb.png').write_bytes(png_file(20_000, 20_000)) and d/'bomb.png', 'refused before decoding'),
    blank=(lambda d: Image.new('L', (200,150), 230).save(d/'blank.png') or d/'blank.png', 'no digit found'),
)

def _truncated(d, photos):
    fn = d/'cut.png'; Image.fromarray(np.asarray(Image.open(photos[0]))).resize((400,400)).save(fn)
    fn.write_bytes(fn.read_bytes()[:3000]); return fn

@pytest.mark.parametrize('kind', list(BAD_IMAGES))
def test_bad_image(kind, tmp_path, model_file, capsys):
    make, words = BAD_IMAGES[kind]
    fn = make(tmp_path)
    r = run(['predict', model_file, fn], capsys)
    line = one_error(r, words)
    assert str(fn) in line                                  # the message names the file
    with pytest.raises(DigitError, match=words.split(' (')[0]): mnistify(fn)

def test_truncated_image(tmp_path, model_file, photos, capsys):
    fn = _truncated(tmp_path, photos)
    one_error(run(['predict', model_file, fn], capsys), 'truncated or damaged', str(fn))

def test_bomb_is_refused_before_decoding(tmp_path, monkeypatch):
    "An image over MAX_PIXELS that Pillow would still open is refused on its size, without loading its pixels"
    fn = tmp_path/'big.png'; side = int(MAX_PIXELS**0.5)+1
    fn.write_bytes(png_file(side, side))                    # 64 MB of pixels claimed, a few dozen bytes on disk
    monkeypatch.setattr(Image.Image, 'load', lambda self: pytest.fail('decoded a refused image'))
    with pytest.raises(DigitError, match='refused before decoding'): load_gray(fn)

def test_no_digit_on_blank_pages():
    yy, xx = np.mgrid[0:1:150j, 0:1:200j]; rng = np.random.default_rng(0)
    for page in (np.full((150,200), 0.9), 0.5+0.4*xx*yy, np.clip(0.8+rng.normal(0, 0.04, (150,200)), 0, 1),
                 np.where(xx<0.08, 0.2, 0.85)):      # white, uneven light, noisy, the table at the edge
        with pytest.raises(NoDigitError): mnistify(page.astype(np.float32))

@pytest.mark.parametrize('mode', ['RGBA', 'I;16', 'P', 'CMYK', 'RGB', '1'])
def test_modes_are_handled(mode, tmp_path, model_file, photos):
    "A photo saved as RGBA (transparent paper), 16-bit, palette, CMYK, RGB or black-and-white reads as its gray version does"
    g = np.asarray(Image.open(photos[1]))
    if mode=='RGBA': im = Image.fromarray(np.stack([np.zeros_like(g)]*3 + [255-g], -1))   # black ink, transparent paper
    elif mode=='I;16': im = Image.fromarray(g.astype(np.uint16)*257)
    elif mode=='1': im = Image.fromarray(g).convert('1')
    else: im = Image.fromarray(g).convert(mode)
    fn = tmp_path/f"img.{'jpg' if mode=='CMYK' else 'png'}"; im.save(fn)
    assert Image.open(fn).mode == ('I;16' if mode=='I;16' else mode)
    r, = predict(load_model(model_file), [fn])
    assert r.digit == str(Y[1].item()), r

def test_batch_with_one_bad_file(tmp_path, model_file, photos, capsys):
    (tmp_path/'sub').mkdir(); bad = tmp_path/'sub'/'notes.png'; bad.write_text('x')
    for p in photos[:3]: (tmp_path/'sub'/p.name).write_bytes(p.read_bytes())
    r = run(['predict', model_file, tmp_path, '--show', tmp_path/'sheet.png'], capsys)   # a folder is read recursively
    one_error(r, 'notes.png')
    for p in photos[:3]: assert f"{tmp_path/'sub'/p.name}: " in r.stdout
    assert (tmp_path/'sheet.png').stat().st_size > 1000
    res = predict(load_model(model_file), [*photos[:3], bad])
    assert [('error' in o) for o in res] == [False, False, False, True]
    assert sum(o.digit==str(Y[i].item()) for i,o in enumerate(res[:3])) >= 2

def test_json(model_file, photos, capsys):
    r = run(['predict', model_file, *photos[:2], '--json'], capsys)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [o['name'] for o in out] == [str(p) for p in photos[:2]]
    for o in out:
        assert len(o['top3']) == 3 and set(o) == {'name', 'digit', 'prob', 'top3'}            # no thumbnails in the JSON
        ps = [p for _,p in o['top3']]
        assert ps == sorted(ps, reverse=True) and o['top3'][0] == [o['digit'], o['prob']]     # the best first: the digit itself
        assert 0 < sum(ps) <= 1 + 1e-6 and o['prob'] > 1/10                                # probabilities of 10 classes

def test_empty_folder(tmp_path, model_file, capsys):
    one_error(run(['predict', model_file, tmp_path], capsys), 'no image files')

# ---- model files -----------------------------------------------------------------------------------------------
def test_bad_model_files(tmp_path, model_file, photos, capsys):
    good = model_file.read_bytes()
    cases = dict(missing=(None, 'no such model file'),
                 truncated=(good[:len(good)//2], 'not a complete safetensors file'),
                 garbage=(b'\x07'*5000, 'not a complete safetensors file'),
                 empty=(b'', 'not a complete safetensors file'))
    for k,(data,words) in cases.items():
        fn = tmp_path/f'{k}.safetensors'
        if data is not None: fn.write_bytes(data)
        one_error(run(['predict', fn, photos[0]], capsys), words, str(fn))
    fn = tmp_path/'pickled.safetensors'; torch.save(load_model(model_file).state_dict(), fn)     # torch.save: a zip of pickles
    one_error(run(['predict', fn, photos[0]], capsys), 'never unpickles')
    fn = tmp_path/'plain.safetensors'; fn.write_bytes(pickle.dumps({'weights': [1, 2, 3]}))
    one_error(run(['predict', fn, photos[0]], capsys), 'never unpickles')
    one_error(run(['predict', photos[0], photos[1]], capsys), 'the model comes first')

def test_model_for_another_architecture(tmp_path, model_file, photos, capsys):
    meta = dict(load_model(model_file).meta)
    fn = save_model(make_model(chans=(1,8,16,32,64,10)), tmp_path/'small', {**meta, 'arch_kwargs': {'chans': [1,16,32,64,128,10]}})
    one_error(run(['predict', fn, photos[0]], capsys), 'another architecture')
    fn = save_model(make_model(), tmp_path/'unknown', {**meta, 'arch': 'resnet152'})
    one_error(run(['predict', fn, photos[0]], capsys), 'cannot build')
    from safetensors.torch import save_file
    fn = tmp_path/'foreign.safetensors'; save_file({'w': torch.zeros(3)}, str(fn))           # a safetensors file, not ours
    one_error(run(['predict', fn, photos[0]], capsys), 'not a digitlab model')

def test_every_header_length_loads(tmp_path, model_file):
    "A safetensors file starts with its header's length (little-endian u64): whatever its first byte, 0x80 included, it loads"
    meta, model = dict(load_model(model_file).meta), make_model()
    firsts = {}
    for n in range(0, 400, 3):                                   # header lengths (padded to 8 by safetensors) covering every residue
        fn = save_model(model, tmp_path/f'm{n}', {**meta, 'note': 'x'*n})
        b = fn.read_bytes()[0]
        if b in firsts: fn.unlink(); continue
        firsts[b] = n; assert load_model(fn).meta.note == 'x'*n, n
    assert 0x80 in firsts and len(firsts) == 32, sorted(firsts)   # all 32 first bytes a multiple-of-8 length can have

def test_loading_runs_no_pickle(model_file, monkeypatch):
    "Loading a model neither unpickles nor calls torch.load"
    def refuse(*a, **k): raise AssertionError('unpickling attempted')
    monkeypatch.setattr(pickle, 'loads', refuse); monkeypatch.setattr(pickle, 'load', refuse)
    monkeypatch.setattr(pickle, 'Unpickler', refuse); monkeypatch.setattr(torch, 'load', refuse)
    m = load_model(model_file)
    assert not m.training and m.meta.vocab == [str(i) for i in range(10)] and m.meta.accuracy > 0.98
    assert set(m.state_dict()) >= {'0.1.running_mean', '0.1.running_var', '0.1.num_batches_tracked'}   # BatchNorm buffers too

def test_train_arguments(tmp_path, model_file, capsys, monkeypatch):
    for bad in (['--epochs', '0'], ['--epochs', 'two'], ['--bs', '-3'], ['--epochs', '1.5']):
        with pytest.raises(SystemExit) as e: main(['train', *bad])
        assert e.value.code == 2
        assert 'whole number of at least 1' in capsys.readouterr().err
    import digitlab.training as T   # the session's model stands in for training (fixture `trained` trains, with the wheel's command)
    m = load_model(model_file); monkeypatch.setattr(T, 'train', lambda *a, **k: (types.SimpleNamespace(model=m), m.meta))
    r = run(['train', '--epochs', '1', '--out', tmp_path/'no'/'such'/'dir'/'m'], capsys)   # folders are made
    assert r.returncode == 0 and (tmp_path/'no'/'such'/'dir'/'m.safetensors').is_file(), r.stderr
    blocker = tmp_path/'file'; blocker.write_text('')
    one_error(run(['train', '--epochs', '1', '--out', blocker/'m'], capsys))

# ---- one odd picture never stops the others ----------------------------------------------------------------------
def test_lab_tiff_reads_its_lightness(tmp_path, model_file, photos):
    "A LAB picture's A and B bands are colours, not transparency: it reads as its gray version does"
    g = np.asarray(Image.open(photos[1]))
    lab = Image.merge('LAB', [Image.fromarray(g), Image.new('L', g.shape[::-1], 128), Image.new('L', g.shape[::-1], 0)])
    fn = tmp_path/'lab.tif'; lab.save(fn); assert Image.open(fn).mode == 'LAB'
    np.testing.assert_allclose(load_gray(fn), g/255, atol=1e-6)
    r, = predict(load_model(model_file), [fn])
    assert r.digit == str(Y[1].item()), r

def test_every_failure_is_one_pictures_error(tmp_path, model_file, photos, monkeypatch, capsys):
    nan = np.full((40,40), 0.5, np.float32); nan[3,3] = np.nan
    la = Image.new('La', (40,40))                        # premultiplied alpha: Pillow cannot convert every mode
    rgba = np.stack([np.zeros((28,28))]*3 + [X[1].numpy()/255], -1)   # black ink where the alpha is: a 2 on white paper
    res = predict(load_model(model_file), [nan, la, rgba, photos[0], np.zeros((40,40), complex)])
    assert [('error' in r) for r in res] == [True, True, False, False, True], res
    assert 'NaN' in res[0].error and "Pillow's mode La" in res[1].error and 'complex' in res[4].error
    assert res[2].digit == str(Y[1].item()) and res[3].digit == str(Y[0].item())
    import digitlab.predict as P                          # whatever goes wrong inside, for one picture only
    real = P.mnistify
    monkeypatch.setattr(P, 'mnistify', lambda o, **k: (_ for _ in ()).throw(RuntimeError('boom\nsecond line')) if k.get('name')=='the PngImageFile' else real(o, **k))
    r1, r2 = predict(load_model(model_file), [Image.open(photos[3]), photos[0]])
    assert r1.error == "the PngImageFile could not be read (RuntimeError: boom); save it again as PNG or JPEG." and r2.digit == str(Y[0].item())

EPS = b'%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\n0 setgray 4 4 20 20 rectfill\nshowpage\n'
FAKE_GS = '#!/bin/sh\ntouch "{marker}"\nexit 1\n'

def test_no_external_program_is_ever_started(tmp_path, model_file):
    "EPS and PostScript, whatever their name, are refused: Pillow would start Ghostscript (`gs`) for them. A fake `gs` first on PATH must never run"
    bin_ = tmp_path/'bin'; bin_.mkdir(); marker = tmp_path/'gs-was-called'
    gs = bin_/'gs'; gs.write_text(FAKE_GS.format(marker=marker)); gs.chmod(0o755)
    pics = tmp_path/'pics'; pics.mkdir()
    for name in ('drawing.eps', 'drawing.ps', 'drawing.pdf', 'renamed.png'): (pics/name).write_bytes(EPS)
    env = {**__import__('os').environ, 'PATH': f"{bin_}:{__import__('os').environ['PATH']}"}
    import subprocess, sys
    # the test can fail: Pillow's own opener does start `gs` for this file
    p = subprocess.run([sys.executable, '-c', f"from PIL import Image; im = Image.open({str(pics/'renamed.png')!r})\ntry: im.load()\nexcept Exception: pass"],
                       env=env, capture_output=True, text=True)
    assert marker.exists(), p.stderr
    marker.unlink()
    p = subprocess.run([sys.executable, '-m', 'digitlab', 'predict', str(model_file), str(pics), str(pics/'drawing.eps')],
                       env=env, capture_output=True, text=True)
    assert not marker.exists(), p.stderr
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 1 and len(lines) == 2 and 'Traceback' not in p.stderr, p.stderr   # renamed.png (in the folder) and drawing.eps (named)
    assert all('not an image in a format digitlab reads' in l for l in lines) and 'drawing.ps' not in p.stderr and 'drawing.pdf' not in p.stderr
    with pytest.raises(DigitError, match='not an image in a format'): open_image(pics/'drawing.eps')

# ---- model metadata is untrusted ---------------------------------------------------------------------------------
def _with_meta(tmp_path, model_file, name, **changes):
    "A copy of the model file with some metadata changed (the tensors untouched)"
    m = load_model(model_file)
    return save_model(m, tmp_path/name, {**m.meta, **changes})

BAD_META = dict(
    huge=(dict(arch_kwargs={'chans': [1, 100000, 100000, 10]}), 'from 1 to 4096'),
    deep=(dict(arch_kwargs={'chans': [1]*400+[10]}), 'chans must be a list of 3 to 17'),
    not_ints=(dict(arch_kwargs={'chans': [1, 16.5, 10]}), 'whole numbers'),
    unknown_arg=(dict(arch_kwargs={'chans': [1,16,32,64,128,10], 'evil': 1}), 'arguments simple_cnn does not take'),
    std0=(dict(std=0), 'its std is 0'),
    std_nan=(dict(std=float('nan')), 'its std is not a number'),
    mean_str=(dict(mean='0.13'), 'its mean is not a number'),
    short_vocab=(dict(vocab=[str(i) for i in range(9)]), 'gives 10 outputs for 9 labels'),
    escape_vocab=(dict(vocab=['\x1b[31m0']+[str(i) for i in range(1, 10)]), 'printable labels'),
    same_vocab=(dict(vocab=['1']*10), 'different, printable'),
    arch_list=(dict(arch=['simple_cnn']), 'cannot build'),
)

@pytest.mark.parametrize('case', list(BAD_META))
def test_untrusted_metadata(case, tmp_path, model_file, capsys):
    changes, words = BAD_META[case]
    fn = _with_meta(tmp_path, model_file, case, **changes)
    with pytest.raises(DigitError, match=words.replace('(', r'\(').replace('[', r'\[')): load_model(fn)
    one_error(run(['predict', fn, tmp_path/'nothing.png'], capsys), words, str(fn))

def test_huge_architecture_never_allocated(tmp_path, model_file, monkeypatch):
    "Within the limits, a file that names a model far bigger than its tensors is refused after building it on the meta device, before any memory is used"
    import digitlab.modelfile as M
    fn = _with_meta(tmp_path, model_file, 'big', arch_kwargs={'chans': [1]+[4096]*15+[10]})   # 2.3 billion weights: 9 GB
    monkeypatch.setattr(torch.nn.Module, 'to_empty', lambda *a, **k: pytest.fail('allocated a model before checking its tensors'))
    with pytest.raises(DigitError, match='another architecture'): M.load_model(fn)

def test_two_classes_give_a_top_two(tmp_path, photos):
    "A valid model of two classes (3 and 7) loads and predicts; its 'top 3' has the two it has"
    from digitlab.idx import mnist_stats
    fn = save_model(make_model(chans=[1,8,16,32,64,2]), tmp_path/'two', dict(arch='simple_cnn', arch_kwargs={'chans': [1,8,16,32,64,2]},
                    mean=mnist_stats()[0], std=mnist_stats()[1], vocab=['3', '7']))
    r, = predict(load_model(fn), [photos[0]])
    assert r.digit in ('3', '7') and [d for d,_ in r.top3] in (['3','7'], ['7','3']) and abs(sum(p for _,p in r.top3)-1) < 1e-5

# ---- the sheet ---------------------------------------------------------------------------------------------------
def test_sheet_reuses_what_predict_made(tmp_path, model_file, photos, monkeypatch):
    "predict keeps a small thumbnail and the 28×28 image; show_sheet draws them without opening a picture again, in pages"
    res = predict(load_model(model_file), photos[:3])
    for r in res: assert r.seen.shape == (28,28) and r.seen.dtype == np.uint8 and max(r.thumb.shape) <= 96
    import digitlab.images as I, digitlab.prepare as Pr, digitlab.predict as P
    for mod, name in ((I, 'open_image'), (I, 'load_gray'), (Pr, 'mnistify'), (P, 'mnistify'), (P, 'load_gray')):
        if hasattr(mod, name): monkeypatch.setattr(mod, name, lambda *a, **k: pytest.fail('decoded a picture again'))
    many = [r for _ in range(34) for r in res]                                  # 102 results: three pages of 48
    out = show_sheet([None]*len(many), many, tmp_path/'sheet.png')
    assert [f.name for f in out] == ['sheet.png', 'sheet-2.png', 'sheet-3.png'] and all(f.stat().st_size > 1000 for f in out)
    w, h = Image.open(out[0]).size
    assert h < 2000 and Image.open(out[2]).size[1] < h                           # a page stays a readable size; the last one is shorter
