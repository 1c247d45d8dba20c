"""The website in a real browser: headless Chromium driven by Selenium, the site served over HTTP on loopback.

Needs Debian's `chromium` and `chromium-driver` (`apt-get install chromium chromium-driver`) and `selenium` (a dev
dependency). Where they are missing the tests are skipped, saying so; with DIGITLAB_REQUIRE_BROWSER=1 (set by .ci/run
and the GitHub test workflow) a missing browser fails instead.
"""
import functools, http.server, json, os, re, shutil, threading, urllib.request
from pathlib import Path
import pytest
from tests.conftest import ROOT
from tests.test_site import PAGES

BROWSER = next((b for b in map(shutil.which, ('chromium', 'chromium-browser', 'chrome', 'google-chrome', 'google-chrome-stable')) if b), None)
DRIVER = shutil.which('chromedriver')
try: import selenium
except ImportError: selenium = None
MISSING = [what for what,ok in (('chromium', BROWSER), ('chromedriver (chromium-driver)', DRIVER), ('selenium', selenium)) if not ok]
if MISSING:
    why = f"the browser test needs {', '.join(MISSING)}: run `apt-get install chromium chromium-driver` and `pip install selenium`"
    if os.environ.get('DIGITLAB_REQUIRE_BROWSER'): pytest.fail(why + " (DIGITLAB_REQUIRE_BROWSER is set)", pytrace=False)
    pytest.skip(why, allow_module_level=True)

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait
import pytest
pytestmark = pytest.mark.slow   # trains, builds or renders: left out of `make quick`

@pytest.fixture(scope='module')
def url(site):
    "The rendered site, served on 127.0.0.1 for the duration of these tests"
    handler = functools.partial(type('Quiet', (http.server.SimpleHTTPRequestHandler,), {'log_message': lambda *a: None}), directory=str(site))
    srv = type('QuietServer', (http.server.ThreadingHTTPServer,), {'handle_error': lambda *a: None})(('127.0.0.1', 0), handler)   # a browser may drop a connection
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}/"
    srv.shutdown()

@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    o = webdriver.ChromeOptions(); o.binary_location = BROWSER
    for a in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
              '--disable-sync', '--no-first-run', '--window-size=1280,1000', f'--user-data-dir={tmp_path_factory.mktemp("profile")}'):
        o.add_argument(a)
    o.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    d = webdriver.Chrome(service=Service(DRIVER), options=o)   # the system's driver: Selenium Manager downloads nothing
    yield d
    d.quit()

def errors(browser, url):
    "The console's errors since the last call; not a missing favicon, nor a resource from the internet, which this machine can't reach (the theme's web font)"
    offline = lambda m: 'net::ERR_' in m and not m.startswith(url)
    return [l['message'] for l in browser.get_log('browser') if l['level']=='SEVERE' and 'favicon' not in l['message'] and not offline(l['message'])]

def test_pages_load_without_console_errors_and_figures_show(browser, url):
    for nm in PAGES:
        browser.get(url + f'{nm}.html')
        WebDriverWait(browser, 20).until(lambda d: d.execute_script('return document.readyState') == 'complete')
        assert errors(browser, url) == [], nm
        imgs = browser.execute_script("return [...document.querySelectorAll('main img, #quarto-document-content img')]"   # ours, not a badge from the web
                                      ".filter(i => i.src.startsWith(location.origin) || i.src.startsWith('data:'))"
                                      ".map(i => [i.src.slice(0, 40), i.complete, i.naturalWidth, i.getBoundingClientRect().width, !!i.closest('.callout-collapse:not(.show)')])")
        for src,done,natural,shown,folded in imgs: assert done and natural > 0 and (shown > 0 or folded), (nm, src)   # loaded, decoded, visible (or in a folded answer: see below)
        if nm in ('cnn', 'your_digits'): assert len(imgs) >= 5, (nm, len(imgs))

def test_search_finds_simple_cnn(browser, url):
    browser.get(url + 'index.html')
    box = WebDriverWait(browser, 20).until(lambda d: next((b for b in d.find_elements(By.CSS_SELECTOR, '.smalldocs-search input, #quarto-search input')
                                                            if b.is_displayed()), None))
    box.click(); box.send_keys('simple_cnn')
    hit = WebDriverWait(browser, 20).until(lambda d: next((a for a in d.find_elements(By.CSS_SELECTOR, 'a.search-result, .aa-Item a')
                                                            if 'cnn.html' in (a.get_attribute('href') or '')), None))
    hit.click()
    WebDriverWait(browser, 20).until(lambda d: '/cnn.html' in d.current_url)
    assert 'simple_cnn' in browser.page_source and errors(browser, url) == []

def test_sidebar_links_resolve(browser, url):
    browser.get(url + 'index.html')
    hrefs = {a.get_attribute('href') for a in browser.find_elements(By.CSS_SELECTOR, '#quarto-sidebar a[href]')}
    hrefs = {h.split('#')[0] for h in hrefs if h.startswith(url)}
    assert len(hrefs) >= len(PAGES) - 1, sorted(hrefs)
    for h in sorted(hrefs):
        with urllib.request.urlopen(h) as r: assert r.status == 200, h   # loopback only

def test_phone_width_has_no_sideways_scroll(browser, url):
    "At 390 px the lesson text and code fit the screen: nothing is wider than the page"
    browser.set_window_size(390, 900)
    try:
        for nm in ('your_digits', 'cnn'):
            browser.get(url + f'{nm}.html')
            WebDriverWait(browser, 20).until(lambda d: d.execute_script('return document.readyState') == 'complete')
            assert browser.execute_script('return document.documentElement.scrollWidth <= window.innerWidth + 1'), nm
    finally: browser.set_window_size(1280, 1000)

QUESTIONNAIRES = {'questionnaire_ch4': '09_questionnaire_ch4.ipynb', 'questionnaire_ch13': '10_questionnaire_ch13.ipynb'}

def question_ids(nb):
    "The anchors of a questionnaire's questions and further-research items, `{#q1}` … `{#r3}`, as its notebook's headings give them"
    cells = json.loads((ROOT/'nbs'/nb).read_text())['cells']
    return [q for c in cells if c['cell_type'] == 'markdown' for q in re.findall(r'^#{2,3} .*\{#([qr]\d+)\}\s*$', ''.join(c['source']), re.M)]

# For each question anchor, its heading and the callout that follows it before the next heading; and what is out of place:
# a callout that follows no question, a second callout for one question, a heading inside a callout (an answer that swallowed
# the next question), a code cell of a question's section outside its answer
ANSWERS_JS = """
const qs = arguments[0], main = document.querySelector('main');
const qid = h => h.id || h.dataset.anchorId || (h.parentElement.tagName == 'SECTION' ? h.parentElement.id : '');
let head = null; const pairs = {}, stray = [];
for (const e of main.querySelectorAll('h2, h3, .callout, div.cell')) {
  const q = head ? qid(head) : '';
  if (e.matches('h2, h3')) { head = e; if (e.closest('.callout')) stray.push('heading ' + qid(e) + ' inside an answer'); }
  else if (e.matches('.callout')) { if (qs.includes(q) && !pairs[q]) pairs[q] = [head, e]; else stray.push('a callout after ' + (q || 'no heading')); }
  else if (qs.includes(q) && !e.closest('.callout')) stray.push('a code cell of ' + q + ' outside its answer');
}
return [qs.map(q => pairs[q] || [null, null]), stray];
"""

def answer_parts(callout):
    "What a folded answer holds: its body (the part that collapses), the body's blocks (prose and cells), its code cells, outputs and pictures"
    f = lambda css: callout.find_elements(By.CSS_SELECTOR, css)
    return f('.callout-collapse'), f('.callout-body > *'), f('div.cell'), f('.cell-output'), f('img')

def folded(callout):
    "The answer's body, prose, code and outputs are all hidden; only the header shows"
    body, blocks, cells, outs, imgs = answer_parts(callout)
    return (len(body) == 1 and 'show' not in body[0].get_attribute('class').split() and blocks
            and not any(e.is_displayed() for e in [*body, *blocks, *cells, *outs, *imgs]))

def unfolded(callout):
    "The answer's body, prose, code cells and outputs are all shown, its pictures loaded"
    body, blocks, cells, outs, imgs = answer_parts(callout)
    return ('show' in body[0].get_attribute('class').split() and all(e.is_displayed() for e in [*body, *blocks, *cells, *outs, *imgs])
            and all(i.get_property('complete') and i.get_property('naturalWidth') > 0 for i in imgs))

@pytest.mark.parametrize('width', [1280, 390])
@pytest.mark.parametrize('nm', QUESTIONNAIRES)
def test_questionnaire_answers_are_folded(browser, url, nm, width):
    "Every question shows, and its answer (prose, code and outputs) stays folded until its \"Answer\" header is clicked; then that one opens, alone"
    qs = question_ids(QUESTIONNAIRES[nm])
    assert len(qs) >= 37 and len(set(qs)) == len(qs), qs
    browser.set_window_size(width, 1000)
    try:
        browser.get(url + f'{nm}.html')
        WebDriverWait(browser, 20).until(lambda d: d.execute_script('return document.readyState') == 'complete')
        pairs, stray = browser.execute_script(ANSWERS_JS, qs)
        assert stray == [], (nm, stray)
        assert [q for q,(h,c) in zip(qs, pairs) if c is None] == [], nm                         # every question has an answer
        assert len(browser.find_elements(By.CSS_SELECTOR, 'main .callout')) == len(qs), nm     # and there is nothing else folded
        for q,(head,callout) in zip(qs, pairs):
            header = callout.find_element(By.CSS_SELECTOR, '.callout-header')
            assert head.is_displayed() and header.is_displayed() and header.text.strip() == 'Answer', (nm, q)
            assert header.get_attribute('aria-expanded') == 'false' and folded(callout), (nm, q)
        # open an answer with prose, a code cell and its output (a figure where there is one), and close it again
        with_output = [(q,c) for q,(h,c) in zip(qs, pairs) if c.find_elements(By.CSS_SELECTOR, '.callout-body > p') and c.find_elements(By.CSS_SELECTOR, '.cell-output')]
        q, callout = next(((q,c) for q,c in with_output if c.find_elements(By.CSS_SELECTOR, 'img')), with_output[0])
        header = callout.find_element(By.CSS_SELECTOR, '.callout-header')
        browser.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", header)
        header.click()
        WebDriverWait(browser, 10).until(lambda d: unfolded(callout), f'{nm} {q}: the answer did not open')
        assert header.get_attribute('aria-expanded') == 'true', (nm, q)
        i = qs.index(q)
        assert pairs[i][0].is_displayed() and (i+1 == len(qs) or pairs[i+1][0].is_displayed()), (nm, q)   # its question, and the next one's
        assert [p for p,(h,c) in zip(qs, pairs) if p != q and not folded(c)] == [], (nm, q)                # the others stay folded
        header.click()
        WebDriverWait(browser, 10).until(lambda d: folded(callout), f'{nm} {q}: the answer did not fold again')
        assert errors(browser, url) == [], nm
    finally: browser.set_window_size(1280, 1000)
