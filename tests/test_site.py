"The website, rendered from the committed notebooks as `make site` renders it, looked at as a reader would."
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
import pytest
from tests.conftest import ROOT
import pytest
pytestmark = pytest.mark.slow   # trains, builds or renders: left out of `make quick`

PAGES = ['index', 'data', 'pixel_similarity', 'how_a_net_works', 'sgd', 'fastai_learner', 'learner', 'all_digits', 'convolutions', 'cnn',
         'questionnaire_ch4', 'questionnaire_ch13', 'cli', 'your_digits', 'distributed', 'exercises', 'exercises_ch4', 'exercises_ch13']
FIGURES = {'data': 4, 'pixel_similarity': 2, 'how_a_net_works': 8, 'sgd': 7, 'fastai_learner': 2, 'learner': 2, 'all_digits': 3,
           'convolutions': 5, 'cnn': 8, 'questionnaire_ch4': 4, 'questionnaire_ch13': 4}

ERROR = re.compile(r'Traceback \(most recent call last\)|^\s*[A-Z]\w*(Error|Exception): ', re.M)

class Page(HTMLParser):
    def __init__(self): super().__init__(); self.links,self.imgs,self.text,self.ids = [],[],[],set()
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get('id'): self.ids.add(a['id'])
        if tag=='a' and a.get('href'): self.links.append(a['href'])
        if tag=='img' and a.get('src'): self.imgs.append(a['src'])
    def handle_data(self, d): self.text.append(d)


def parse(f): p = Page(); p.feed(f.read_text()); return p

def test_every_page_rendered(site):
    for nm in PAGES: assert (site/f'{nm}.html').is_file(), nm

def test_figures_outputs_and_no_errors(site):
    for nm in PAGES:
        p = parse(site/f'{nm}.html'); text = ''.join(p.text)
        assert not ERROR.search(text.replace('MnistError:', '')), nm   # an error output, not code that names an error
        assert sum(s.startswith('data:image/png') or s.endswith('.png') for s in p.imgs) >= FIGURES.get(nm, 0), nm
    assert '0.9511' in ''.join(parse(site/'pixel_similarity.html').text)   # the book's number, in a saved output

def test_colab_download_and_page_navigation(site):
    "Every lesson page links to its notebook in Colab and as a download (on the main branch), to its practice copy in Colab, and to the previous and next pages"
    nbs = {re.sub(r'^\d+_', '', f.stem): f.name for f in (ROOT/'nbs').glob('[0-9]*.ipynb')}
    assert set(nbs) == set(PAGES) - {'index'}
    practice = {f.name for f in (ROOT/'practice').glob('*.ipynb')}
    url = lambda folder, f: f'https://colab.research.google.com/github/digitlab/digitlab/blob/main/{folder}/{f}'
    for nm in PAGES:
        links = parse(site/f'{nm}.html').links
        colab = {l for l in links if l.startswith('https://colab.research.google.com/github/')}
        if nm == 'index':   # the course table: a Colab badge for every lesson, and its practice copy
            assert colab == {url('nbs', f) for f in nbs.values() if f[:2] not in ('15', '16')} | {url('practice', f) for f in practice}, colab; continue
        assert colab == {url('nbs', nbs[nm])} | ({url('practice', nbs[nm])} if nbs[nm] in practice else set()), (nm, colab)
        assert f'https://github.com/digitlab/digitlab/raw/main/nbs/{nbs[nm]}' in links, nm
        assert 'page-navigation' in (site/f'{nm}.html').read_text(), nm
    order = [l for l in parse(site/'cnn.html').links if l in ('convolutions.html', 'questionnaire_ch4.html')]
    assert set(order) == {'convolutions.html', 'questionnaire_ch4.html'}   # cnn's neighbours in the sidebar
    assert 'dark' in (ROOT/'nbs'/'_quarto.yml').read_text() and 'quarto-dark' in (site/'index.html').read_text()   # a light/dark toggle

def test_internal_links_resolve(site):
    "Every link to a page of the site finds the page, and the section it names (the questionnaires link to lesson sections)"
    for nm in PAGES:
        for href in parse(site/f'{nm}.html').links:
            m = re.match(r'^([a-z_0-9]+\.html)?(?:#(.+))?$', href)
            if not m or not (m[1] or m[2]): continue
            target = site/(m[1] or f'{nm}.html')
            assert target.is_file(), (nm, href)
            if m[2]: assert m[2] in parse(target).ids, (nm, href)

def test_questionnaires_answer_every_question(site):
    for nm,n in (('questionnaire_ch4', 37), ('questionnaire_ch13', 40)):
        ids = parse(site/f'{nm}.html').ids
        assert {f'q{i}' for i in range(1, n+1)} <= ids, (nm, sorted({f'q{i}' for i in range(1, n+1)} - ids))


def test_lessons_end_with_exercises_and_folded_answers(site):
    "Lessons 01–08 end with Your turn: the three lines, each exercise's task and check, and one answer folded (code-fold) per exercise"
    from digitlab.exercises import exercises, EXERCISES
    for f in sorted((ROOT/'nbs').glob('0[1-8]_*.ipynb')):
        nm = re.sub(r'^\d+_', '', f.stem); html = (site/f'{nm}.html').read_text(); ids = exercises(f.stem[:2])
        assert re.findall(r'<section id="([^"]+)" class="level2"', html)[-1] == 'your-turn', nm   # the last section
        assert html.count('<details class="code-fold">') == len(ids) >= 4, (nm, html.count('<details class="code-fold">'), ids)
        text = unescape(re.sub(r'<[^>]+>', '', html)).replace('’', "'").replace('“', '"').replace('”', '"'); tail = text[text.rindex('Your turn'):]
        for line in (f"check('{ids[0]}', {EXERCISES[ids[0]].name})", f"hint('{ids[0]}')", f"solution('{ids[0]}')"): assert line in tail, (nm, line)
        for i in ids:
            e = EXERCISES[i]
            assert f"check('{i}', {e.name})" in tail and f"One answer to {i}" in tail, (nm, i)
            assert unescape(re.sub(r'<[^>]+>', '', re.sub(r'`([^`]*)`', r'\1', e.task)).replace('**', ''))[:40] in tail, (nm, i)   # the task's words
