"""The words around the code point at what is there: every README section and every file that
the code, the docs and the notebook name exists."""
import glob
import json
import os
import re

import pytest

from helpers import REPO

README_SECTION = re.compile(r'README(?:\'s|,) \\?"([^"\\%]+)\\?"')
FILE_NAMED = re.compile(r'\b((?:docs|tools|dcgan|tests|weights)/[\w./-]+\.(?:md|py|params|json))')
# Named, and not this repository's: MXNet's launcher (in the mxnet wheel), a placeholder.
ELSEWHERE = {'tools/launch.py', 'tools/NAME.py'}


def readme_headings():
    with open(os.path.join(REPO, 'README.md')) as f:
        return {line.lstrip('#').strip() for line in f if line.startswith('#')}


def texts():
    """(path, text) of the code, the docs and the notebook's cells."""
    paths = (glob.glob(os.path.join(REPO, '*.py')) + glob.glob(os.path.join(REPO, '*.txt'))
             + glob.glob(os.path.join(REPO, 'dcgan', '*.py'))
             + glob.glob(os.path.join(REPO, 'tools', '*.py'))
             + glob.glob(os.path.join(REPO, 'docs', '*.md')) + [os.path.join(REPO, 'README.md')])
    for path in sorted(paths):
        with open(path) as f:
            yield os.path.relpath(path, REPO), f.read()
    with open(os.path.join(REPO, 'dcgan_mnist.ipynb')) as f:
        notebook = json.load(f)
    yield 'dcgan_mnist.ipynb', '\n'.join(''.join(cell['source']) for cell in notebook['cells'])


def test_every_readme_section_named_is_there():
    headings = readme_headings()
    named = [(path, ' '.join(section.replace('#', ' ').split())) for path, text in texts()
             for section in README_SECTION.findall(text)]
    assert named, 'the pattern finds nothing: it is broken'
    assert [(path, section) for path, section in named
            if not any(section in heading for heading in headings)] == []


def test_the_notebook_names_no_readme_section_that_moved():
    """Its scores are explained in docs/quality.md (the README's "Measuring quality" moved)."""
    text = dict(texts())['dcgan_mnist.ipynb']
    assert 'Measuring quality' not in text or 'Measuring quality' in readme_headings()
    assert 'docs/quality.md' in text


@pytest.mark.parametrize('path, text', list(texts()))
def test_every_file_named_exists(path, text):
    missing = [name for name in FILE_NAMED.findall(text)
               if name not in ELSEWHERE and not os.path.exists(os.path.join(REPO, name))]
    assert missing == []
