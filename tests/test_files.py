"""dcgan/files.py: a file written whole or not at all, with the permissions a plain `open`
gives; the file someone gave read only when it is a regular file within its limit."""
import os
import stat

import pytest

from dcgan import files


def test_a_file_appears_whole_with_the_umask_s_permissions(tmp_path):
    target = tmp_path / 'out.txt'
    kept = os.umask(0o022)
    try:
        with files.written_whole(str(target)) as temporary:
            assert os.path.dirname(temporary) == str(tmp_path) and not target.exists()
            with open(temporary, 'w') as f:
                f.write('whole')
    finally:
        os.umask(kept)
    assert target.read_text() == 'whole'
    assert stat.S_IMODE(os.stat(str(target)).st_mode) == 0o644
    assert os.listdir(str(tmp_path)) == ['out.txt']


def test_a_failed_write_leaves_what_was_there(tmp_path):
    target = tmp_path / 'out.txt'
    target.write_text('before')
    with pytest.raises(OSError):
        with files.written_whole(str(target)) as temporary:
            with open(temporary, 'w') as f:
                f.write('half')
            raise OSError('the disk is full')
    assert target.read_text() == 'before'
    assert os.listdir(str(tmp_path)) == ['out.txt']


def test_only_a_regular_file_within_its_limit_is_read(tmp_path):
    (tmp_path / 'ok').write_bytes(b'12345')
    assert files.read_regular(str(tmp_path / 'ok'), 5) == b'12345'
    os.mkfifo(str(tmp_path / 'fifo'))
    os.symlink('/dev/zero', str(tmp_path / 'zero'))
    os.symlink(str(tmp_path / 'ok'), str(tmp_path / 'link'))
    cases = {'fifo': 'is not a regular file (a FIFO)',
             'zero': 'is not a regular file (a character device)',
             'missing': 'is missing or unreadable (No such file or directory)'}
    for name, words in cases.items():
        with pytest.raises(files.FileRefused, match=r'%s %s' % (name, words.replace('(', r'\(')
                                                                  .replace(')', r'\)'))):
            files.read_regular(str(tmp_path / name), 100)
    with pytest.raises(files.FileRefused, match='is 5 bytes, more than allowed'):
        files.read_regular(str(tmp_path / 'ok'), 4)
    assert files.read_regular(str(tmp_path / 'link'), 5) == b'12345'
    with pytest.raises(files.FileRefused, match='is a symbolic link, not a file'):
        files.read_regular(str(tmp_path / 'link'), 5, follow_links=False)
