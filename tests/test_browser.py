"""The website in a real browser: headless Chromium driven by Selenium, the site served over HTTP on loopback.

Needs Debian's `chromium` and `chromium-driver` (`apt-get install chromium chromium-driver`) and `selenium` (a dev
dependency). Where they are missing the tests are skipped, saying so; with DIGITLAB_REQUIRE_BROWSER=1 (set by .ci/run
and the GitHub test workflow) a missing browser fails instead.
"""
import functools, http.server, os, shutil, threading, urllib.request
from pathlib import Path
import pytest
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
                                      ".map(i => [i.src.slice(0, 40), i.complete, i.naturalWidth, i.getBoundingClientRect().width])")
        for src,done,natural,shown in imgs: assert done and natural > 0 and shown > 0, (nm, src)   # loaded, decoded, visible
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
