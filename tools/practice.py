"""The practice material, generated from one source, never kept by hand.

1. Each lesson's **Your turn** section (lessons 01–08), from the exercises in `digitlab.exercises`: a heading and the task per
   exercise, one valid answer (folded on the site), and the line that checks it.
2. `practice/NN_name.ipynb` for every lesson and questionnaire, like the book's `clean/` folder: the title, the headings and
   the code, every output cleared, the prose left on the lesson's page; each answer cell emptied (`name = ...`) above its
   `check(...)` line; in the questionnaires a blank answer cell under each question instead of the folded answer.

`python tools/practice.py` writes both; `--check` changes nothing and fails if either is out of date (`make test` runs it).
"""
import argparse, ast, copy, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBS, PRACTICE = ROOT/'nbs', ROOT/'practice'
ANSWER = re.compile(r'^#\| code-summary: "One answer to (\S+)"', re.M)   # marks a lesson's answer cell
CHECK = re.compile(r"""^check\((['"])(\S+?)\1,\s*([A-Za-z_]\w*)\)\s*$""")
FOLD_OPEN, FOLD_CLOSE = '::: {.callout-tip collapse="true" title="Answer"}', ':::'

def src(c): return ''.join(c['source']) if isinstance(c['source'], list) else c['source']
def cell(kind, text, cid):
    c = dict(cell_type=kind, id=cid, metadata={}, source=text.splitlines(True))
    if kind == 'code': c.update(execution_count=None, outputs=[])
    return c
def load(p): return json.loads(p.read_text())
def dump(nb): return json.dumps(nb, indent=1, ensure_ascii=False) + '\n'
def config():
    import tomllib
    t = tomllib.loads((ROOT/'pyproject.toml').read_text())
    repo = t['project']['urls']['Repository'].rstrip('/'); user, name = repo.split('/')[-2:]
    return dict(user=user, repo=name, doc_url=t['project']['urls']['Documentation'].rstrip('/') + '/', branch='main')
def page(nb_path): return re.sub(r'^\d+_', '', nb_path.stem)   # nbdev's page name: `01_pixel_similarity` → `pixel_similarity`
def colab(path, cfg): return f"https://colab.research.google.com/github/{cfg['user']}/{cfg['repo']}/blob/{cfg['branch']}/{path}"
def lessons(): return sorted(p for p in NBS.glob('[0-9][0-9]_*.ipynb') if int(p.name[:2]) <= 13)
def is_export_cell(s): return s.startswith('#| default_exp') or 'nbdev.nbdev_export()' in s

# ---- 1. the "Your turn" sections ----------------------------------------------------------------------

def your_turn(stem, exs, cfg):
    "The cells of the Your turn section of lesson `stem`"
    e0 = exs[0]
    lines = [f"check('{e0.id}', {e0.name})", f"hint('{e0.id}')", f"solution('{e0.id}')"]
    w = max(map(len, lines)) + 3
    code = '\n'.join(l.ljust(w) + c for l,c in zip(lines, ['# ✓, or what is wrong', '# the next hint', '# ours, when you ask']))
    intro = (f"## Your turn\n\nWrite each answer in the cell under its task, then run the check below it. Three functions do everything:\n\n"
             f"```python\n{code}\n```\n\n"
             f"The [practice copy of this lesson]({colab(f'practice/{stem}.ipynb', cfg)}) (Colab) has every answer cell empty. "
             f"Here each one holds one possible answer, folded: try first, then compare. How the checks decide is explained in [Practice, checked](exercises.html).")
    cells = [cell('markdown', intro, f'yt-{stem[:2]}-0'), cell('code', "import torch, torch.nn.functional as F\nfrom torch import nn\nfrom digitlab.exercises import check, hint, solution, exercises", f'yt-{stem[:2]}-1')]
    for i,e in enumerate(exs):
        k = f"yt-{e.id.replace('.', '-').replace('_', '-')}"
        cells += [cell('markdown', f"### `{e.id}`", k+'-h'), cell('markdown', e.task, k+'-t'),
                  cell('code', f'#| code-fold: true\n#| code-summary: "One answer to {e.id}"\n{e.alternative}', k+'-a'),
                  cell('code', f"check('{e.id}', {e.name})", k+'-c')]
    return cells

def with_your_turn(nb, stem, exs, cfg):
    "Lesson `nb` with its Your turn section (re)generated, keeping the outputs of cells whose source didn't change"
    cells = nb['cells']
    start = next((i for i,c in enumerate(cells) if c['cell_type']=='markdown' and src(c).startswith('## Your turn')), None)
    end = len(cells) - 1 if is_export_cell(src(cells[-1])) else len(cells)
    old = {src(c): c for c in cells[start:end]} if start is not None else {}
    new = []
    for c in your_turn(stem, exs, cfg):
        o = old.get(src(c))
        new.append(o if o is not None and o['cell_type']==c['cell_type'] else c)
    out = copy.deepcopy(nb); out['cells'] = cells[:start if start is not None else end] + new + cells[end:]
    return out

# ---- 2. the practice copies ---------------------------------------------------------------------------

def strip_directives(s): return ''.join(l for l in s.splitlines(True) if not l.startswith('#|')).strip('\n')

def defined(code) -> list:
    "The names a cell's code defines at the top level (functions, classes, assignments), in order"
    try: tree = ast.parse(strip_directives(code))
    except SyntaxError: return []
    out = []
    for n in tree.body:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): out.append(n.name)
        elif isinstance(n, (ast.Assign, ast.AnnAssign)):
            for t in (n.targets if isinstance(n, ast.Assign) else [n.target]):
                out += [o.id for o in ast.walk(t) if isinstance(o, ast.Name)]
    return out

def hidden(code, module, ids, mine):
    "An exported lesson cell that answers an exercise, as its practice copy shows it: an import of digitlab's version, which the learner can replace"
    names = ', '.join(dict.fromkeys(defined(code)))
    return (f"# The lesson defines {names} here. Writing {', '.join(mine)} yourself is {'exercises' if len(ids) > 1 else 'exercise'} {', '.join(ids)} (under \"Your turn\");\n"
            f"# until you do, the lesson goes on with digitlab's own:\nfrom digitlab.{module} import {names}")

def importable(code, module):
    "Is every name this cell defines in `digitlab.<module>`? (Then an import can stand in for the cell.)"
    import importlib
    m = importlib.import_module(f'digitlab.{module}')
    return all(hasattr(m, n) for n in defined(code))

def practice(nb, stem, cfg):
    "The practice copy of lesson or questionnaire `nb`"
    cells, out, names = nb['cells'], [], {}
    for c in cells:   # each answer cell's name comes from the check line that follows it
        m = CHECK.match(src(c).strip())
        if c['cell_type']=='code' and m: names[m[2]] = m[3]
    module = next((m[1] for c in cells if (m := re.match(r'#\| default_exp (\S+)', src(c)))), None)
    answers = {}   # answer name → exercise ids
    title = src(cells[0]).split('\n')[0]
    kind = 'questionnaire' if 'questionnaire' in stem else 'lesson'
    out.append(cell('markdown', src(cells[0]), 'p-title'))
    for i,n in names.items(): answers.setdefault(n, []).append(i)
    what = "the questions, and the code that sets up the data" if kind=='questionnaire' else "the headings and the code"
    how = ("Under each question, blank cells for your answer; then compare with the folded answer on the page."
           if kind=='questionnaire' else
           "Under **Your turn**, each answer cell is empty (`name = ...`): write your answer, run it, then run the `check(...)` under it." if names else
           "Run each cell, change it, and see what happens.")
    out.append(cell('markdown', f"**Practice copy** of [{title.lstrip('# ')}]({cfg['doc_url']}{page(Path(stem))}.html), generated from `nbs/{stem}.ipynb` "
                    f"by `tools/practice.py`: {what}, every output cleared; the explanations are on the {kind}'s page. {how}", 'p-about'))
    folded = your_turn_ = False
    for i,c in enumerate(cells[1:], 1):
        s, kind_ = src(c), c['cell_type']
        if kind_ == 'markdown':
            if s.startswith(FOLD_OPEN):   # a questionnaire's folded answer: blank cells instead
                folded = True; out += [cell('markdown', '**Your answer:**', f'p{i}'), cell('code', '', f'p{i}c')]; continue
            if folded:
                if s.strip() == FOLD_CLOSE: folded = False
                continue
            your_turn_ = your_turn_ or s.startswith('## Your turn')
            if your_turn_: out.append(cell('markdown', s, f'p{i}'))   # the exercises' intro, headings and tasks, whole
            elif s.startswith('#'): out.append(cell('markdown', re.sub(r'\s*\{#[^}]*\}\s*$', '', s.split('\n')[0]), f'p{i}'))   # elsewhere only the headings (without Quarto's `{#id}`)
            continue
        if folded or kind_ != 'code' or is_export_cell(s): continue
        m = ANSWER.search(s)
        if m:
            eid = m[1]
            out.append(cell('code', f"# Your answer to {eid}: define `{names[eid]}` here, then run the check below.\n{names[eid]} = ...", f'p{i}'))
            continue
        mine = [n for n in dict.fromkeys(defined(s)) if n in answers]
        ids = [j for n in mine for j in answers[n]]
        exported = re.search(r'^#\|\s*export\s*$', s, re.M)
        code = hidden(s, module, ids, mine) if ids and exported and module and not your_turn_ and importable(s, module) else strip_directives(s)
        if code: out.append(cell('code', code, f'p{i}'))
    return dict(cells=out, metadata={'kernelspec': {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'}}, nbformat=4, nbformat_minor=5)

# ---- main ---------------------------------------------------------------------------------------------

def main(check=False):
    sys.path.insert(0, str(ROOT))
    from digitlab.exercises import exercises, EXERCISES
    cfg, stale = config(), []
    ids = exercises()
    for p in lessons():
        nb = load(p)
        exs = [EXERCISES[i] for i in ids if EXERCISES[i].lesson == p.stem]
        if exs:
            new = with_your_turn(nb, p.stem, exs, cfg)
            if dump(new) != dump(nb):
                stale.append(str(p.relative_to(ROOT)))
                if not check: p.write_text(dump(new))
            nb = new
        q = PRACTICE/p.name; text = dump(practice(nb, p.stem, cfg))
        if not q.exists() or q.read_text() != text:
            stale.append(str(q.relative_to(ROOT)))
            if not check: PRACTICE.mkdir(exist_ok=True); q.write_text(text)
    extra = sorted(set(o.name for o in PRACTICE.glob('*.ipynb')) - {p.name for p in lessons()})
    for o in extra:
        stale.append(f'practice/{o}')
        if not check: (PRACTICE/o).unlink()
    if check and stale:
        print("FAIL: the practice material is out of date: run `python tools/practice.py` (then execute the changed lessons) and commit:\n  " + '\n  '.join(stale))
        return 1
    print(f"ok: practice material {'in sync' if check else 'written'} ({len(lessons())} practice notebooks, {len(ids)} exercises)" + (f"; updated: {', '.join(stale)}" if stale and not check else ''))
    return 0

if __name__ == '__main__':
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument('--check', action='store_true', help="change nothing; exit 1 if a lesson's Your turn section or a practice copy is out of date")
    sys.exit(main(a.parse_args().check))
