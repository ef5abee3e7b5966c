"""sample.py MODEL.onnx --web DIR: a static page that draws from an exported generator in any
browser, with onnxruntime-web (npm), nothing installed by whoever opens it.

The folder holds the page (index.html, app.js: no build step), the model, onnxruntime-web's
files copied from node_modules (npm install onnxruntime-web@ORT_WEB_VERSION, in the
repository or the current folder; without them nothing is written: a page that fetched them
from a CDN would need the network wherever it is shown), and noise.json: the noise sample.py
draws its first batch from for --seed, so that the page's first grid is sample.py's digits,
and, when the model carries them (exports since they do), the draws its export labelled with
the classifier (dcgan/digit_request.py) and their noise: the page's chosen digits.
Browsers load no WebAssembly from file://: serve the folder (python -m http.server)."""
import json
import os
import shutil

from dcgan import REPOSITORY, drawing
from dcgan.errors import SetupError

# The most numbers of noise a page carries for its labelled draws (an export's: 512 draws of
# Z = 100, 51,200): a model that asks for more is refused before anything is drawn or written.
MAX_PAGE_NOISE = 2 ** 21
ORT_WEB_VERSION = '1.31.1'
ORT_FILES = ('ort.wasm.min.js', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm')
PAGE_FILES = ('index.html', 'app.js')
PAGE_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'web')


def find_ort_web():
    """The folder of onnxruntime-web's browser files (node_modules/onnxruntime-web/dist, in
    the repository or the current folder), or SetupError saying how to get them."""
    for root in (REPOSITORY, os.getcwd()):
        dist = os.path.join(root, 'node_modules', 'onnxruntime-web', 'dist')
        if all(os.path.isfile(os.path.join(dist, name)) for name in ORT_FILES):
            return dist
    raise SetupError('--web needs onnxruntime-web\'s files: npm install onnxruntime-web@%s '
                     '(in %s), then run again' % (ORT_WEB_VERSION, REPOSITORY))


def write(model_path, model, folder, seed):
    """The page for the checked `model` (an OnnxGenerator of `model_path`) in the new folder
    `folder`, written whole or not at all."""
    if os.path.exists(folder) and (not os.path.isdir(folder) or os.listdir(folder)):
        raise SetupError('--web %s exists and is not an empty folder; name a new one' % folder)
    dist = find_ort_web()
    labelled = labelled_draws(model)  # refused before anything is written
    parent = os.path.dirname(os.path.abspath(folder))
    if not os.path.isdir(parent):
        raise SetupError('--web %s: the folder %s does not exist' % (folder, parent))
    partial = os.path.abspath(folder) + '.partial'
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    try:
        for name in ORT_FILES:
            shutil.copyfile(os.path.join(dist, name), os.path.join(partial, name))
        for name in PAGE_FILES:
            shutil.copyfile(os.path.join(PAGE_SOURCE, name), os.path.join(partial, name))
        shutil.copyfile(model_path, os.path.join(partial, 'model.onnx'))
        noise = drawing.noise_for(model.batch_size, seed, model.batch_size, model.noise_dim)
        page_data = {'seed': seed, 'batch_size': model.batch_size,
                     'noise_dim': model.noise_dim, 'image_shape': list(model.image_shape),
                     'describe': model.describe(), 'noise': noise.ravel().tolist(),
                     'labelled': labelled}
        with open(os.path.join(partial, 'noise.json'), 'w') as f:
            json.dump(page_data, f)
        if os.path.isdir(folder):
            os.rmdir(folder)  # empty: checked above
        os.replace(partial, folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def labelled_draws(model):
    """The draws the model's export labelled, for the page: {'seed', 'labels' (a character a
    draw: its digit, or '.'), 'noise' (theirs, flat)}; None for a model without them."""
    if model.metadata['labelled_draws'] is None:
        return None
    seed, labels = model.metadata['labelled_draws']
    if len(labels) * model.noise_dim > MAX_PAGE_NOISE:
        raise SetupError('--web: the model labels %d draws of %d numbers each, more noise than '
                         'a page carries (%d numbers)' % (len(labels), model.noise_dim,
                                                          MAX_PAGE_NOISE))
    noise = drawing.noise_for(len(labels), seed, model.batch_size, model.noise_dim)
    return {'seed': seed, 'labels': labels, 'noise': noise.ravel().tolist()}
