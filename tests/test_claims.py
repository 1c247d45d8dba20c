"""No typed numbers: every measured quantity in a lesson's prose is printed by a code cell above it, or cited.

A rerun on another machine prints other timings and other last digits. A number typed into a markdown cell would then
disagree with the outputs beside it, and a reader could not tell which one is right. So every markdown cell of every
notebook in `nbs/` is read for **measured quantities**:

- a decimal with two or more digits after the point (`0.9912`, `1.48`),
- a percentage (`95.1%`), a ratio (`4.2×`), a time (`8.1 s`, `40 ms`, `3 min`).

Each one must be either
1. **printed above**: the same number appears in the text output of a code cell above it in the same notebook (exactly, or
   as that output rounded to the prose's decimals; a percentage may also be a printed fraction × 100), or
2. **cited**: it is inside the text of a markdown link to where it comes from, the course's convention for a number quoted
   from elsewhere — e.g. `[the book's 0.9912](https://github.com/fastai/fastbook/blob/master/13_convolutions.ipynb)`.

Not measured, so not checked: anything in `code` or math, link targets, versions (`2.14.1`), structural sizes (`28×28`),
and whole numbers without a unit (counts, layer sizes, question numbers). A setting we chose (a learning rate, a threshold)
is written as code: `lr=0.06`.
"""
import json, re
from pathlib import Path
import pytest

NBS = sorted((Path(__file__).resolve().parents[1]/'nbs').glob('*.ipynb'))

NUM = r'(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?'
PATTERNS = [('percentage', re.compile(NUM + r'\s?%')),
            ('ratio',      re.compile(NUM + r'×(?!\s*\d)')),
            ('time',       re.compile(NUM + r'(?:\s+(?:ms|s|sec|seconds?|min|minutes?|hours?)|(?<=\d)(?:ms|min)|(?<=\.\d)s|(?<=\.\d\d)s)\b')),
            ('decimal',    re.compile(r'(?<![\w.])(\d+)(\.\d{2,})(?!\d|\.\d)'))]
# Spans that are not prose: fenced and inline code, math, HTML tags, link targets, bare URLs, versions
NOT_PROSE = re.compile(r'```.*?```|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]+\$|<[^>\n]+>|\]\([^)\s]*\)|https?://\S+|\b\d+\.\d+\.\d+\b|Python \d+\.\d+\+?', re.S)
LINK_TEXT = re.compile(r'\[([^\]]*)\]\([^)\s]+\)')

def blank(s, pat):
    "`s` with every match of `pat` replaced by spaces (so positions stay put)"
    return pat.sub(lambda m: ' '*len(m.group(0)), s)

def quantities(md):
    "(kind, text, number, decimals, cited) for each measured quantity in markdown `md`"
    prose = blank(md, NOT_PROSE)
    cited = [m.span(1) for m in LINK_TEXT.finditer(md)]
    seen = set()
    for kind, pat in PATTERNS:
        for m in pat.finditer(prose):
            if m.start() in seen: continue   # a percentage/ratio/time is not counted again as a decimal
            seen.add(m.start())
            whole, frac = m.group(1), m.group(2) or ''
            yield kind, m.group(0).strip(), float(whole.replace(',', '') + frac), len(frac)-1 if frac else 0, any(a <= m.start() < b for a,b in cited)

OUT_NUM = re.compile(r'(?<![\w.])-?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?:e[-+]?\d+)?')
def output_text(cell):
    "The text a code cell printed: streams, plain text, HTML (tags dropped), markdown"
    out = []
    for o in cell.get('outputs', []):
        if 'text' in o: out.append(''.join(o['text']))
        for k in ('text/plain', 'text/html', 'text/markdown'):
            if k in o.get('data', {}): out.append(re.sub(r'<[^>]+>', ' ', ''.join(o['data'][k])))
    return '\n'.join(out)

def printed_numbers(text):
    return {float(m.group(0).replace(',', '')) for m in OUT_NUM.finditer(text)}

def is_printed(kind, value, decimals, printed):
    for x in printed:
        if round(x, decimals) == value or round(abs(x), decimals) == value: return True
        if kind == 'percentage' and round(100*x, decimals) == value: return True
    return False

def unbacked(nb_path):
    "Every measured quantity in `nb_path`'s markdown that is neither printed above nor cited"
    cells, printed, bad = json.loads(nb_path.read_text())['cells'], set(), []
    for i, c in enumerate(cells):
        if c['cell_type'] == 'code': printed |= printed_numbers(output_text(c)); continue
        if c['cell_type'] != 'markdown': continue
        for kind, text, value, decimals, cited in quantities(''.join(c['source'])):
            if not cited and not is_printed(kind, value, decimals, printed): bad.append(f"{nb_path.name}, cell {i}: {kind} {text!r}")
    return bad

@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_no_typed_numbers(nb):
    bad = unbacked(nb)
    assert not bad, ("measured numbers typed in prose, neither printed by a cell above nor cited with a link "
                     "(print them, link them to their source, or write a setting as code):\n  " + '\n  '.join(bad))

# ---- the checker itself ----------------------------------------------------------------------------------------------
def _nb(tmp_path, *cells):
    f = tmp_path/'x.ipynb'
    f.write_text(json.dumps(dict(cells=[dict(cell_type=k, source=s, **({'outputs': [dict(output_type='stream', name='stdout', text=o)]}
                                                                          if k=='code' else {})) for k,s,o in cells])))
    return f

def test_checker_catches_typed_numbers(tmp_path):
    f = _nb(tmp_path, ('markdown', "It reached 0.9912, took 8.1 s (40 ms a batch), 4.2× faster, 95.1% right, in 3 min.", None))
    assert [b.split(': ', 1)[1] for b in unbacked(f)] == ["percentage '95.1%'", "ratio '4.2×'", "time '8.1 s'", "time '40 ms'",
                                                          "time '3 min'", "decimal '0.9912'"]

def test_checker_accepts_printed_cited_and_structural(tmp_path):
    f = _nb(tmp_path, ('code', 'print(acc)', 'accuracy 0.99124, 0.9511 of the 3s, 8.14s, ratio 4.23\n'),
            ('markdown', "We got 0.9912 (95.1%) in 8.1 s, 4.2× faster; [the book's 0.9902](https://github.com/fastai/fastbook) and "
                         "[a 60% gain](#below). Settings are code: `lr=0.06`. 28×28 images, 3 × height × width, torch 2.14.1, "
                         "Python 3.10+, the 3s and 7s, 5 epochs, 12,396 images.", None))
    assert unbacked(f) == []

def test_checker_needs_the_number_above_not_below(tmp_path):
    f = _nb(tmp_path, ('markdown', "It reached 0.9912.", None), ('code', 'print(acc)', '0.9912\n'))
    assert len(unbacked(f)) == 1
