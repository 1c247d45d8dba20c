"""The practice copies (tools/practice.py): in sync with the lessons, and each one runs top to bottom with no answer
written, every check saying "not answered yet"."""
import json, re, subprocess, sys
import pytest
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT/'tools'))
import practice as P

def test_in_sync_with_the_lessons():
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'practice.py'), '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

def code(nb): return [P.src(c) for c in nb['cells'] if c['cell_type'] == 'code']

def test_every_lesson_and_questionnaire_has_a_copy_with_outputs_cleared():
    assert sorted(o.name for o in (ROOT/'practice').glob('*.ipynb')) == [p.name for p in P.lessons()]
    for p in P.lessons():
        nb = P.load(ROOT/'practice'/p.name)
        assert all(not c.get('outputs') and c.get('execution_count') is None for c in nb['cells'] if c['cell_type'] == 'code'), p.name
        assert not any(l.startswith('#|') for s in code(nb) for l in s.splitlines()), p.name   # plain code: no nbdev directives
        stubs = [s for s in code(nb) if s.startswith('# Your answer to ')]
        checks = [s for s in code(nb) if P.CHECK.match(s.strip())]
        assert len(stubs) == len(checks), p.name
        if 'questionnaire' in p.name:   # every question keeps its heading, followed by a blank answer cell
            md = [P.src(c) for c in nb['cells'] if c['cell_type'] == 'markdown']
            qs = [i for i,s in enumerate(md) if re.match(r'#+ \d+\. ', s)]
            assert not any('{#' in s for s in md), p.name   # Quarto's anchors mean nothing in Jupyter
            assert len(qs) >= 37 and all(md[i+1] == '**Your answer:**' for i in qs), p.name

def test_answers_are_not_given_away():
    "An exported lesson cell that answers an exercise becomes an import of digitlab's version; a questionnaire's answer code is gone; each empty answer cell sits right above its check"
    for p in P.lessons():
        lesson, copy = P.load(p), P.load(ROOT/'practice'/p.name)
        names = {m[3] for c in lesson['cells'] if c['cell_type'] == 'code' and (m := P.CHECK.match(P.src(c).strip()))}
        kept = '\n'.join(code(copy))
        for c in lesson['cells']:
            s = P.src(c)
            if c['cell_type'] == 'code' and re.search(r'^#\|\s*export\s*$', s, re.M) and set(P.defined(s)) & names:
                assert P.strip_directives(s) not in kept, (p.name, s[:80])
                assert f"import {', '.join(dict.fromkeys(P.defined(s)))}" in kept, (p.name, s[:80])
        folded, inside = False, []
        for c in lesson['cells']:
            s = P.src(c)
            if c['cell_type'] == 'markdown' and s.startswith(P.FOLD_OPEN): folded = True
            elif c['cell_type'] == 'markdown' and s.strip() == P.FOLD_CLOSE: folded = False
            elif folded and c['cell_type'] == 'code': inside.append(s)
        assert not any(s in kept for s in inside if s.strip()), p.name
        cs = code(copy)
        for i,s in enumerate(cs):
            if s.startswith('# Your answer to '):
                eid = s.split()[4].rstrip(':')
                assert P.CHECK.match(cs[i+1].strip())[2] == eid, (p.name, eid)

def with_answers(p): return bool(re.match(r'0[1-8]|09|10', p.name))

def test_copies_without_exercises_run_the_lessons_code():
    "A copy with no answer cell holds the lesson's code cells, unchanged but for nbdev's directives: nbdev-test runs that code"
    for p in P.lessons():
        if with_answers(p): continue
        lesson = [P.strip_directives(s) for s in code(P.load(p)) if not P.is_export_cell(s)]
        assert code(P.load(ROOT/'practice'/p.name)) == [s for s in lesson if s], p.name

@pytest.mark.parametrize('name', [p.name for p in P.lessons() if with_answers(p)])
def test_practice_copy_runs_without_answers(name, tmp_path):
    "Executed top to bottom as a learner gets it, with no answer written: no error, and every check says so"
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(ROOT/'practice'/name, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name='python3', resources={'metadata': {'path': str(tmp_path)}}).execute()   # raises on any error
    checks = [c for c in nb.cells if c.cell_type == 'code' and P.CHECK.match(c.source.strip())]
    for c in checks:
        out = ''.join(o.get('text', '') for o in c.outputs)
        assert 'not answered yet' in out, (name, c.source, out)

def test_install_cells_pin_this_version():
    "Every notebook's install cell (lessons and practice copies) installs the digitlab its pages were made with: `__version__`, never whatever is newest"
    import json, re
    from pathlib import Path
    import digitlab
    root = Path(__file__).resolve().parents[1]
    cells = {fn.relative_to(root): next((''.join(c['source']) for c in json.loads(fn.read_text())['cells']
                                        if ''.join(c['source']).startswith('# On Colab, or anywhere')), None)
             for fn in sorted([*(root/'nbs').glob('[0-9]*.ipynb'), *(root/'practice').glob('*.ipynb')])}
    assert len(cells) > 30 and None not in cells.values(), [str(k) for k,v in cells.items() if v is None]
    for fn, s in cells.items():
        pins = re.findall(r"'digitlab(?:\[distributed\])?==([^']+)'", s)
        assert pins == [digitlab.__version__], (fn, s)
