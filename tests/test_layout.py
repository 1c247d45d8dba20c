"The package's shape: one idea per module, small modules, no module reaching into another's private names, every module saying what it is."
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1]/'digitlab'
MODULES = sorted(f for f in PKG.glob('*.py') if f.name != '_modidx.py')   # _modidx.py: nbdev's generated index

def test_no_module_over_250_lines():
    long = {f.name: n for f in MODULES if (n := len(f.read_text().splitlines())) > 250}
    assert not long, long

def test_no_private_name_crosses_modules():
    "`from digitlab.x import _y` (or `from .x import _y`) would tie a module to another's internals"
    bad = [(f.name, n.module, a.name) for f in MODULES for n in ast.walk(ast.parse(f.read_text()))
           if isinstance(n, ast.ImportFrom) and (n.level or (n.module or '').startswith('digitlab'))
           for a in n.names if a.name.startswith('_')]
    assert not bad, bad

def test_every_module_says_what_it_is():
    assert not [f.name for f in MODULES if f.name != '__init__.py' and not ast.get_docstring(ast.parse(f.read_text()))]

def test_one_error_base():
    "Every one-sentence error digitlab raises derives from DigitlabError, which the command line catches"
    import digitlab.errors as E
    kinds = [v for v in vars(E).values() if isinstance(v, type) and issubclass(v, Exception) and v is not E.DigitlabError]
    assert {k.__name__ for k in kinds} >= {'MnistError', 'DigitError', 'NoDigitError', 'DistError'}
    assert all(issubclass(k, E.DigitlabError) for k in kinds)
    src = '\n'.join(f.read_text() for f in MODULES if f.name != 'errors.py')
    assert not [l for l in src.splitlines() if l.startswith('class ') and 'Error(' in l], 'an error class outside digitlab.errors'
