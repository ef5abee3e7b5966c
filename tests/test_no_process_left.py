"""The suite's own guard (tests/conftest.py): a process a test leaves behind is named and
killed when the suite ends, and fails it. Checked on a small suite run here."""
import os
import subprocess
import sys
import textwrap

from helpers import TESTS, headless_env, in_one_suite

INNER_CONFTEST = '''
import importlib.util
import sys
sys.path.insert(0, {tests!r})
spec = importlib.util.spec_from_file_location('repository_conftest', {path!r})
repository_conftest = importlib.util.module_from_spec(spec)
spec.loader.exec_module(repository_conftest)
pytest_configure = repository_conftest.pytest_configure
pytest_sessionfinish = repository_conftest.pytest_sessionfinish
'''
LEAKING_TEST = '''
import subprocess

def test_that_leaves_a_process_behind():
    subprocess.Popen(['sleep', '300'])
'''


@in_one_suite('newest')  # /proc and signals: Linux's; every suite runs the guard itself
def test_a_process_left_behind_is_killed_and_fails_the_suite(tmp_path):
    (tmp_path / 'conftest.py').write_text(
        INNER_CONFTEST.format(tests=TESTS, path=os.path.join(TESTS, 'conftest.py')))
    (tmp_path / 'test_leak.py').write_text(textwrap.dedent(LEAKING_TEST))
    done = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                           str(tmp_path / 'test_leak.py')], cwd=str(tmp_path),
                          capture_output=True, text=True, env=headless_env(), timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert '1 passed' in done.stdout
    line = next(line for line in done.stderr.splitlines() if 'left behind' in line)
    assert line.startswith('left behind by the tests, now killed: pid ')
    assert line.endswith(': sleep 300')
    pid = int(line.split('pid ')[1].split(':')[0])
    assert not os.path.exists('/proc/%d' % pid) or open('/proc/%d/stat' % pid).read().split(
        ') ')[1].startswith('Z')  # gone, or a zombie of the finished session's
