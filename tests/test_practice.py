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

def _run(cells, tmp_path):
    "Execute `cells` (sources) in a fresh kernel, as a notebook; return the executed cells"
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=600, kernel_name='python3', resources={'metadata': {'path': str(tmp_path)}}).execute()   # raises on any error
    return nb.cells

def _not_answered(name, cells):
    checks = [c for c in cells if P.CHECK.match(c.source.strip())]
    assert checks, name
    for c in checks:
        out = ''.join(o.get('text', '') for o in c.outputs)
        assert 'not answered yet' in out, (name, c.source, out)

def _your_turn(nb):
    "The code cells of a notebook's Your turn section, and those above it"
    cells = nb['cells']
    i = next(i for i,c in enumerate(cells) if c['cell_type'] == 'markdown' and P.src(c).startswith('## Your turn'))
    return [P.src(c) for c in cells[:i] if c['cell_type'] == 'code'], [P.src(c) for c in cells[i:] if c['cell_type'] == 'code']

LESSONS_WITH_ANSWERS = [p.name for p in P.lessons() if with_answers(p) and 'questionnaire' not in p.name]

@pytest.mark.slow
@pytest.mark.parametrize('name', LESSONS_WITH_ANSWERS)
def test_practice_copy_runs_without_answers(name, tmp_path):
    """A lesson's practice copy, with no answer written: no error, and every check says "not answered yet".
    Above its Your turn section the copy is the lesson's code, which nbdev-test runs (make test), but for the exported answers,
    which it imports from digitlab instead (checked here: the rest is equal, the imports run). The section itself starts with
    its own imports and uses nothing from above it (checked below with the lesson's answers), so it runs here on its own:
    executing the whole copy again would train every model of the lesson a second time."""
    raw_above, _ = _your_turn(P.load(ROOT/'nbs'/name))
    above, turn = _your_turn(P.load(ROOT/'practice'/name))
    lesson_above = [P.strip_directives(s) for s in raw_above if not P.is_export_cell(s)]
    imports = [s for s in above if s not in lesson_above]
    for s in imports:   # only imports (and comments that say why) stand in for cells
        assert re.fullmatch(r'(from digitlab(\.\w+)+ import [\w, ]+\n)+', ''.join(l+'\n' for l in s.splitlines() if not l.startswith('#'))), (name, s)
    replaced = [r for r in raw_above if not P.is_export_cell(r) and P.strip_directives(r) and P.strip_directives(r) not in above]
    assert all(re.search(r'^#\|\s*export\s*$', r, re.M) for r in replaced), (name, replaced)   # ...and only for exported cells
    assert [s for s in above if s not in imports] == [s for s in lesson_above if s and s in above], name   # the rest: the lesson's cells, in order
    _not_answered(name, _run(imports + turn, tmp_path))

@pytest.mark.slow
@pytest.mark.parametrize('name', LESSONS_WITH_ANSWERS)
def test_your_turn_needs_nothing_from_the_lesson(name, tmp_path):
    "The lesson's own Your turn section, answers included, passes every check in a fresh kernel: it depends on nothing above it"
    _, turn = _your_turn(P.load(ROOT/'nbs'/name))
    cells = _run([P.strip_directives(s) for s in turn], tmp_path)
    checks = [c for c in cells if P.CHECK.match(c.source.strip())]
    assert checks and all('✓' in ''.join(o.get('text', '') for o in c.outputs) for c in checks), name

@pytest.mark.slow
@pytest.mark.parametrize('name', [p.name for p in P.lessons() if 'questionnaire' in p.name])
def test_questionnaire_copy_runs_without_answers(name, tmp_path):
    "A questionnaire's practice copy, executed top to bottom as a learner gets it, with no answer written (its answers sit under each question)"
    import nbformat
    nb = nbformat.read(ROOT/'practice'/name, as_version=4)
    from nbclient import NotebookClient
    NotebookClient(nb, timeout=600, kernel_name='python3', resources={'metadata': {'path': str(tmp_path)}}).execute()
    if any(P.CHECK.match(c.source.strip()) for c in nb.cells if c.cell_type == 'code'): _not_answered(name, nb.cells)

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
