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


# ============================== lists that must follow the code ==============================

def flags_table(path):
    """{flag: its default's cell} of the rows of the table in `path` whose first cell names
    flags (a cell may name two: `--lr X`, `--beta1 X`, with two defaults)."""
    rows = {}
    with open(path) as f:
        for line in f:
            # cells between unescaped pipes (`local\|dist_sync` is one cell)
            cells = [cell.strip() for cell in re.split(r'(?<!\\)\|', line.strip())[1:-1]]
            if len(cells) < 3 or not cells[0].startswith('`--'):
                continue
            flags = re.findall(r'`(--[a-z0-9-]+)', cells[0])
            defaults = [d.strip() for d in cells[1].split(',')] if len(flags) > 1 else [cells[1]]
            rows.update(zip(flags, defaults if len(defaults) == len(flags)
                            else [cells[1]] * len(flags)))
    return rows


def test_docs_flags_lists_every_flag_of_the_program_with_its_default():
    import dcgan_mnist
    parser = dcgan_mnist.flag_parser()
    documented = flags_table(os.path.join(REPO, 'docs', 'flags.md'))
    options = {flag: action for action in parser._actions for flag in action.option_strings
               if flag.startswith('--') and flag != '--help'}
    assert sorted(documented) == sorted(options)
    for flag, action in options.items():
        default = action.const if flag == '--average-generator' else action.default
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            assert '%g' % default in documented[flag], (flag, default, documented[flag])
        elif default in (None, False):  # a setting's default comes from the tutorial, or off
            continue
        else:
            assert str(default) in documented[flag], (flag, default, documented[flag])
    for name, value in dcgan_mnist.TUTORIAL_SETTINGS.items():
        flag = '--' + name.replace('_', '-')
        assert str(value) in documented[flag] or '%g' % value in documented[flag], flag


def package_modules():
    return sorted(name[:-3] for name in os.listdir(os.path.join(REPO, 'dcgan'))
                  if name.endswith('.py') and name != '__init__.py')


def test_the_package_docstring_and_docs_layout_name_every_module_of_dcgan():
    import dcgan
    listed = re.findall(r'^    ([a-z_0-9]+) ', dcgan.__doc__, re.M)
    assert sorted(listed) == package_modules()
    with open(os.path.join(REPO, 'docs', 'layout.md')) as f:
        layout = f.read()
    named = set(re.findall(r'`dcgan/([a-z_0-9]+)\.py`', layout))
    assert named == set(package_modules())
