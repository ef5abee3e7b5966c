"""sample.py MODEL.onnx --web DIR, opened for real: the folder served on the loopback address,
Debian's headless Chromium driven by selenium through chromedriver. The page loads, its first
grid equals sample.py's digits for the same seed within the export's tolerance, a click on two
digits plays the walk between them, a digit asked for shows the draws the export labelled so,
and a refused --web writes nothing."""
import functools
import http.server
import os
import subprocess
import sys
import threading
import time

import numpy as np
import onnx
import pytest

from dcgan import digit_request, drawing, web_page
from dcgan.onnx_export import TOLERANCE
from dcgan.onnx_model import OnnxGenerator
from helpers import REPO, headless_env, in_one_suite

CHROMIUM, CHROMEDRIVER = '/usr/bin/chromium', '/usr/bin/chromedriver'
# As a person's browser would be, with nothing reaching beyond this machine (the workplace's
# closed network refuses Chromium's own background connections, many at a time).
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
                  '--no-first-run', '--disable-background-networking',
                  '--disable-component-update', '--disable-sync', '--window-size=1000,700']
SEED = 5
LOAD_SECONDS = 120


def missing():
    """What this test needs and the machine lacks (.ci/run installs all of it)."""
    lacks = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        lacks.append('selenium')
    try:
        web_page.find_ort_web()
    except Exception:
        lacks.append('node_modules/onnxruntime-web')
    return lacks


# Skipped where something is missing, but not in CI (CI=true), which installs it all: there a
# missing part fails the test.
pytestmark = [pytest.mark.skipif(bool(missing()) and not os.environ.get('CI'),
                                 reason='needs %s' % ', '.join(missing())),
              in_one_suite()]  # the browser's side is the same whatever runs Python


@pytest.fixture
def model(small_export):
    return small_export[1]


@pytest.fixture
def served(tmp_path):
    """(serve(folder) -> URL): folders served on 127.0.0.1, as python -m http.server would."""
    servers = []

    def serve(folder):
        handler = functools.partial(QuietHandler, directory=folder)
        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return 'http://127.0.0.1:%d/' % server.server_address[1]
    yield serve
    for server in servers:
        server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + ['--user-data-dir=%s' % (tmp_path / 'profile')]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def wait_for(driver, condition, seconds=LOAD_SECONDS):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = driver.execute_script('return window.dcgan || null')
        if state and (condition(state) or state.get('error')):
            return state
        time.sleep(0.2)
    raise AssertionError('the page did not get there in %d s' % seconds)


def test_the_page_draws_sample_py_s_digits_and_walks(model, tmp_path, served, browser):
    from selenium.webdriver.common.by import By
    page = str(tmp_path / 'page')
    done = subprocess.run([sys.executable, os.path.join(REPO, 'sample.py'), model, '--web',
                           page, '--seed', str(SEED)], capture_output=True, text=True,
                          env=headless_env(), timeout=300)
    assert done.returncode == 0, done.stderr
    assert 'python -m http.server' in done.stdout
    assert sorted(os.listdir(page)) == sorted(web_page.ORT_FILES + web_page.PAGE_FILES
                                              + ('model.onnx', 'noise.json'))
    expected = tmp_path / 'expected.npy'
    assert subprocess.run([sys.executable, os.path.join(REPO, 'sample.py'), model, '--num', '8',
                           '--seed', str(SEED), '--out', str(tmp_path / 'x.png'), '--npy',
                           str(expected)], env=headless_env(), timeout=300).returncode == 0

    browser.get(served(page))
    state = wait_for(browser, lambda s: s['ready'])
    assert state['error'] is None and state['ready']
    # The model came with a count of its bytes on the page, to its last byte.
    assert state['loadedBytes'] == os.path.getsize(os.path.join(page, 'model.onnx'))
    drawn = np.array(state['firstDigits'], dtype=np.float32).reshape(8, 3, 64, 64)
    assert np.abs(drawn - np.load(str(expected))).max() <= TOLERANCE

    cells = browser.find_elements(By.CSS_SELECTOR, '#grid canvas')
    assert len(cells) == 8
    cells[0].click()
    cells[5].click()
    wait_for(browser, lambda s: s['walkFrames'] >= 20, seconds=30)
    assert browser.find_element(By.ID, 'walk-words').text == 'from digit 0 to digit 5'
    browser.save_screenshot(str(tmp_path / 'page.png'))
    assert (tmp_path / 'page.png').read_bytes().startswith(b'\x89PNG')


def write_page(model, page):
    done = subprocess.run([sys.executable, os.path.join(REPO, 'sample.py'), model, '--web',
                           page], capture_output=True, text=True, env=headless_env(),
                          timeout=300)
    assert done.returncode == 0, done.stderr


def relabelled(model, path, labels):
    """A copy of the exported `model` at `path` whose labelled draws (seed 0) are `labels`, or
    that has none when `labels` is None (as an export made before they were)."""
    copy = onnx.load(model)
    properties = {p.key: p.value for p in copy.metadata_props}
    del properties['dcgan.labelled_draws']
    if labels is not None:
        properties['dcgan.labelled_draws'] = '0:' + labels
    onnx.helper.set_model_props(copy, properties)
    onnx.save(copy, path)
    return path


def test_the_page_draws_a_chosen_digit_from_the_draws_its_export_labelled(model, tmp_path,
                                                                          served, browser):
    """The labels set here (draw 3, in the first batch, and 13, in the second, are sevens; 20
    a two): the buttons of the digits found are the ones enabled, and 7 shows draws 3 and 13,
    each drawn in its whole batch, as onnxruntime draws them here."""
    from selenium.webdriver.common.by import By
    labels = ['.'] * digit_request.PAGE_DRAWS
    labels[3] = labels[13] = '7'
    labels[20] = '2'
    labelled = relabelled(model, str(tmp_path / 'labelled.onnx'), ''.join(labels))
    write_page(labelled, str(tmp_path / 'page'))
    browser.get(served(str(tmp_path / 'page')))
    assert wait_for(browser, lambda s: s['ready'])['error'] is None
    buttons = [browser.find_element(By.ID, 'digit-%d' % digit) for digit in range(10)]
    assert [digit for digit, button in enumerate(buttons) if button.is_enabled()] == [2, 7]
    buttons[7].click()
    chosen = wait_for(browser, lambda s: s['chosen'] is not None, seconds=60)['chosen']
    assert (chosen['digit'], chosen['rows']) == (7, [3, 13])
    generator = OnnxGenerator(labelled)
    batch = generator.batch_size  # 8: draw 13 is in the second batch
    noise = drawing.noise_for(2 * batch, 0, batch, generator.noise_dim)
    expected = np.concatenate([generator.generate(noise[:batch]),
                               generator.generate(noise[batch:])])
    drawn = np.array(chosen['images'], dtype=np.float32).reshape(2, 3, 64, 64)
    assert np.abs(drawn - expected[[3, 13]]).max() <= TOLERANCE
    assert len(browser.find_elements(By.CSS_SELECTOR, '#chosen canvas')) == 2

    # An export made before exports labelled draws: the page says how to get them.
    write_page(relabelled(model, str(tmp_path / 'older.onnx'), None), str(tmp_path / 'older'))
    browser.get(served(str(tmp_path / 'older')))
    assert wait_for(browser, lambda s: s['ready'])['error'] is None
    assert 'exported without labelled draws' in browser.find_element(By.ID, 'digits').text
    assert browser.find_elements(By.CSS_SELECTOR, '#digits button') == []


def test_a_model_labelling_more_draws_than_a_page_carries_is_refused():
    class Model:
        noise_dim = 4096
        batch_size = 64
        metadata = {'labelled_draws': (0, '.' * 1024)}
    with pytest.raises(web_page.SetupError, match='labels 1024 draws of 4096 numbers each'):
        web_page.labelled_draws(Model())
    Model.metadata = {'labelled_draws': (0, '.' * 512)}
    assert len(web_page.labelled_draws(Model())['noise']) == 512 * 4096


def test_web_into_a_folder_with_files_writes_nothing(model, tmp_path):
    folder = tmp_path / 'mine'
    folder.mkdir()
    (folder / 'notes.txt').write_text('mine')
    done = subprocess.run([sys.executable, os.path.join(REPO, 'sample.py'), model, '--web',
                           str(folder)], capture_output=True, text=True, env=headless_env(),
                          timeout=300)
    assert (done.returncode, done.stderr) == (
        1, 'error: --web %s exists and is not an empty folder; name a new one\n' % folder)
    assert os.listdir(str(folder)) == ['notes.txt']
    assert sorted(os.listdir(str(tmp_path))) == ['mine']


def test_without_onnxruntime_web_it_says_how_to_get_it(model, tmp_path, monkeypatch):
    monkeypatch.setattr(web_page, 'REPOSITORY', str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Exception, match=r'npm install onnxruntime-web@%s' %
                       web_page.ORT_WEB_VERSION.replace('.', r'\.')):
        web_page.find_ort_web()
