"""The notebook route, in a real Jupyter kernel (ipykernel, driven by nbclient and
jupyter_client): the shipped notebook on tiny settings, the figure replaced in place, flag
errors and the stop button leaving the kernel alive."""
import base64
import os
import queue
import time

import nbformat
import pytest
from jupyter_client import KernelManager
from nbclient import NotebookClient

from dcgan import checkpoint
from helpers import REPO, on_every_python

pytestmark = on_every_python  # the kernel is the Python's (ipykernel), not the MXNet build's

NOTEBOOK = os.path.join(REPO, 'dcgan_mnist.ipynb')
KERNEL_TIMEOUT = 300  # seconds a cell may run


class RecordingClient(NotebookClient):
    """nbclient's executor, also keeping every message type the kernel sent per cell."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.messages = {}

    def process_message(self, msg, cell, cell_index):
        self.messages.setdefault(cell_index, []).append(
            (msg['msg_type'], msg.get('content', {})))
        return super().process_message(msg, cell, cell_index)


def with_settings(notebook, settings):
    """The notebook with its parameters cell replaced by `settings` (a papermill-style
    override: the rest runs as shipped)."""
    cells = [cell for cell in notebook.cells if 'parameters' in cell.metadata.get('tags', [])]
    assert len(cells) == 1
    cells[0].source = settings
    return notebook


def stream_text(outputs):
    return ''.join(output.get('text', '') for output in outputs
                   if output['output_type'] == 'stream')


def test_the_notebook_runs_top_to_bottom_with_one_figure_replaced_in_place(
        data_dir, tmp_path):
    run = str(tmp_path / 'run')
    notebook = with_settings(nbformat.read(NOTEBOOK, as_version=4), '\n'.join([
        'ITERATIONS = 4',
        'RUN = %r' % run,
        "TRAIN_FLAGS = '--seed 3 --batch-size 8 --vis-every 1 --data-dir %s'" % data_dir,
        "SAMPLE_FLAGS = '--num 8'",
        "SCORE_FLAGS = '--num 10 --no-baselines --data-dir %s --cache-dir %s'"
        % (data_dir, tmp_path / 'cache')]))
    client = RecordingClient(notebook, timeout=KERNEL_TIMEOUT, kernel_name='python3',
                             resources={'metadata': {'path': REPO}})
    client.execute()

    code = [(index, cell) for index, cell in enumerate(notebook.cells)
            if cell.cell_type == 'code']
    for _, cell in code:
        assert [o for o in cell.outputs if o['output_type'] == 'error'] == []
    train_index, train_cell = next((i, c) for i, c in code if '%run dcgan_mnist.py' in c.source)

    # One figure, shown once and then replaced at each of the 4 reports (vis-every 1).
    sent = client.messages[train_index]
    shown = [c for kind, c in sent if kind == 'display_data' and 'image/png' in c['data']]
    replaced = [c for kind, c in sent
                if kind == 'update_display_data' and 'image/png' in c['data']]
    assert len(shown) == 1 and len(replaced) == 3
    figure_id = shown[0]['transient']['display_id']
    assert {c['transient']['display_id'] for c in replaced} == {figure_id}
    pngs = [o for o in train_cell.outputs if 'image/png' in o.get('data', {})]
    assert len(pngs) == 1  # what the saved notebook holds: the last figure, once
    with open(os.path.join(run, 'epoch000_iter0004.png'), 'rb') as f:
        assert base64.b64decode(pngs[0]['data']['image/png']) == f.read()

    # The progress line: one text output, replaced each iteration; no terminal codes.
    progress = [c for kind, c in sent if kind in ('display_data', 'update_display_data')
                and 'image/png' not in c['data']]
    assert len({c['transient']['display_id'] for c in progress}) == 1
    assert progress[-1]['data']['text/plain'].startswith('4/4  ')
    text = stream_text(train_cell.outputs)
    assert '\r' not in text and '\x1b' not in text
    for iteration in range(1, 5):
        assert 'epoch 0  iter %d/7  loss_D' % iteration in text
    assert 'Done: 4 iterations in all.' in text

    sample_cell = next(c for _, c in code if '%run sample.py' in c.source)
    assert 'Wrote 8 digits' in stream_text(sample_cell.outputs)
    assert any('image/png' in o.get('data', {}) for o in sample_cell.outputs)
    score_cell = next(c for _, c in code if '%run score.py' in c.source)
    assert 'inception score' in stream_text(score_cell.outputs).lower()


class Kernel:
    """A real kernel in the repository's folder, and a client to run code in it."""

    def __init__(self):
        self.manager = KernelManager(kernel_name='python3')
        self.manager.start_kernel(cwd=REPO)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code, until=None):
        """Execute `code`; returns (its msg_id, [(msg_type, content)] of its iopub messages up
        to idle). `until(text so far)`, when given, may stop the reading early on a stream
        message (the cell keeps running: `read` goes on)."""
        msg_id = self.client.execute(code)
        return msg_id, self.read(msg_id, until)

    def read(self, msg_id, until=None):
        messages, text = [], ''
        deadline = time.monotonic() + KERNEL_TIMEOUT
        while time.monotonic() < deadline:
            try:
                msg = self.client.get_iopub_msg(timeout=1)
            except queue.Empty:
                continue
            if msg['parent_header'].get('msg_id') != msg_id:
                continue
            messages.append((msg['msg_type'], msg['content']))
            if msg['msg_type'] == 'stream':
                text += msg['content']['text']
                if until and until(text):
                    return messages
            if msg['msg_type'] == 'status' and msg['content']['execution_state'] == 'idle':
                return messages
        raise AssertionError('the kernel did not finish in %d s' % KERNEL_TIMEOUT)

    def close(self):
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture
def kernel():
    started = Kernel()
    yield started
    started.close()


def streamed(messages, name=None):
    return ''.join(c['text'] for kind, c in messages
                   if kind == 'stream' and (name is None or c['name'] == name))


def errors(messages):
    return [c for kind, c in messages if kind == 'error']


def test_flag_errors_and_the_stop_button_leave_the_kernel_alive(kernel, data_dir, tmp_path):
    # A bad flag, both ways in: the one-line message, no exception, the code returned.
    _, sent = kernel.run('%run dcgan_mnist.py --batch-size 0')
    assert errors(sent) == []
    assert "error: argument --batch-size: '0' must be at least 1" in streamed(sent, 'stderr')
    _, sent = kernel.run("import dcgan_mnist\n"
                         "dcgan_mnist.main(['--data-dir', %r, '--no-download', "
                         "'--batch-size', '100'])" % data_dir)
    assert errors(sent) == []
    assert 'error: --batch-size 100 is larger than the 52 images' in streamed(sent, 'stderr')
    assert [c['data']['text/plain'] for kind, c in sent if kind == 'execute_result'] == ['1']

    # Interrupted (the stop button: SIGINT to the kernel) once training is under way.
    run = str(tmp_path / 'run')
    msg_id, started = kernel.run(
        '%%run dcgan_mnist.py --data-dir %s --batch-size 8 --seed 3 --epochs 50 --vis-every 1 '
        '--output-dir %s' % (data_dir, run), until=lambda text: 'epoch 0  iter 2/7' in text)
    kernel.manager.interrupt_kernel()
    finished = kernel.read(msg_id)
    text = streamed(started + finished)
    assert errors(finished) == []
    assert 'Stopping after this iteration' in text
    stopped = [line for line in text.splitlines() if line.startswith('Stopped at iteration')]
    assert len(stopped) == 1
    assert stopped[0].endswith('checkpoint saved. Continue with: python dcgan_mnist.py '
                               '--resume %s --data-dir %s --batch-size 8 --seed 3 --epochs 50 '
                               '--vis-every 1' % (run, data_dir))
    iteration = int(stopped[0].split()[3].rstrip(';'))
    assert checkpoint.find_checkpoint(run) == checkpoint.checkpoint_dir(run, iteration)
    assert checkpoint.load_state(checkpoint.find_checkpoint(run))['reason'] == 'interrupted'

    # The kernel answers, with its own Ctrl-C handling back in place.
    _, sent = kernel.run('import signal; print(6 * 7, signal.getsignal(signal.SIGINT))')
    assert streamed(sent).startswith('42 ')
    assert 'StopRequested' not in streamed(sent)
