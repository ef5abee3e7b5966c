// Draws from the exported generator (model.onnx) with onnxruntime-web, as sample.py does:
// BatchNorm on each batch's own statistics, so every run of the model is a full batch. The
// first grid is the noise sample.py wrote beside the model (noise.json, numpy's draw for its
// seed), so its digits are sample.py's; "New noise" draws standard-normal noise here.
// A digit on request: the export labelled the first draws of a seed with the classifier
// (noise.json's "labelled": a character a draw, its digit or '.'); the page draws those
// batches, whole as always, and shows the draws labelled with the digit asked for.
// For the test (tests/test_web_page.py): window.dcgan holds what was drawn.
'use strict';
window.dcgan = {ready: false, firstDigits: null, walkFrames: 0, error: null, loadedBytes: 0,
                chosen: null};
const WALK_FRAMES = 16;
const FRAME_MS = 100;

function gaussian() {  // Box-Muller
  let u = 0;
  while (u === 0) u = Math.random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
}

function slerp(a, b, t) {  // along the great circle, as dcgan/latent.py walks
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  const angle = Math.acos(Math.max(-1, Math.min(1, dot / Math.sqrt(na * nb))));
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) {
    out[i] = angle < 1e-6 ? (1 - t) * a[i] + t * b[i]
      : (Math.sin((1 - t) * angle) * a[i] + Math.sin(t * angle) * b[i]) / Math.sin(angle);
  }
  return out;
}

function paint(canvas, images, index, shape) {  // CHW in [-1, 1] -> RGBA
  const [channels, height, width] = shape;
  const context = canvas.getContext('2d');
  const picture = context.createImageData(width, height);
  const size = height * width, start = index * channels * size;
  for (let p = 0; p < size; p++) {
    for (let c = 0; c < 3; c++) {
      const v = images[start + Math.min(c, channels - 1) * size + p];
      picture.data[4 * p + c] = Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)));
    }
    picture.data[4 * p + 3] = 255;
  }
  context.putImageData(picture, 0, 0);
}

function say(words) {
  document.getElementById('status').textContent = words;
}

// The model is tens of megabytes: fetched with the count of what has arrived on the page,
// so that a slow connection shows progress, not a page that seems stuck.
async function fetchModel(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(url + ': ' + response.status + ' ' + response.statusText);
  const total = Number(response.headers.get('Content-Length')) || 0;
  const megabytes = bytes => (bytes / 1e6).toFixed(1);
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    const {done, value} = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    window.dcgan.loadedBytes = loaded;
    say('Loading the model: ' + megabytes(loaded) + (total ? ' of ' + megabytes(total) : '')
        + ' MB ...');
  }
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const chunk of chunks) { bytes.set(chunk, at); at += chunk.length; }
  return bytes;
}

async function main() {
  const meta = await (await fetch('noise.json')).json();
  const [batch, z, shape] = [meta.batch_size, meta.noise_dim, meta.image_shape];
  ort.env.wasm.numThreads = 1;  // threads would need a cross-origin-isolated server
  ort.env.wasm.wasmPaths = './';
  const model = await fetchModel('model.onnx');
  say('Preparing the model ...');
  const session = await ort.InferenceSession.create(model, {executionProviders: ['wasm']});
  async function generate(noise) {  // a full batch of noise (batch * z) -> images
    const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', noise, [batch, z, 1, 1])};
    return (await session.run(feeds))[session.outputNames[0]].data;
  }
  const grid = document.getElementById('grid');
  grid.style.gridTemplateColumns = 'repeat(' + Math.ceil(Math.sqrt(batch)) + ', 68px)';
  const cells = [];
  for (let i = 0; i < batch; i++) {
    const canvas = document.createElement('canvas');
    canvas.width = shape[2]; canvas.height = shape[1];
    canvas.addEventListener('click', () => pick(i));
    grid.appendChild(canvas); cells.push(canvas);
  }
  let noise = Float32Array.from(meta.noise);
  async function drawGrid() {
    const images = await generate(noise);
    for (let i = 0; i < batch; i++) paint(cells[i], images, i, shape);
    return images;
  }
  window.dcgan.firstDigits = Array.from(await drawGrid());

  let picked = [], timer = null;
  async function pick(i) {
    picked.push(i);
    cells[i].classList.add('picked');
    if (picked.length < 2) return;
    const [a, b] = picked.map(k => noise.slice(k * z, (k + 1) * z));
    const walkNoise = noise.slice();  // the rest of the batch: the grid's own noise
    const frames = Math.min(WALK_FRAMES, batch);
    for (let f = 0; f < frames; f++) walkNoise.set(slerp(a, b, f / (frames - 1)), f * z);
    const images = await generate(walkNoise);
    document.getElementById('walk-words').textContent =
      'from digit ' + picked[0] + ' to digit ' + picked[1];
    picked.forEach(k => cells[k].classList.remove('picked'));
    picked = [];
    const order = [...Array(frames).keys()].concat([...Array(frames - 2).keys()].map(f => frames - 2 - f));
    let step = 0;
    clearInterval(timer);
    timer = setInterval(() => {
      paint(document.getElementById('walk'), images, order[step % order.length], shape);
      step++;
      window.dcgan.walkFrames = Math.max(window.dcgan.walkFrames, step);
    }, FRAME_MS);
  }
  setUpChosenDigits(meta.labelled, generate, batch, z, shape);
  const button = document.getElementById('new-noise');
  button.addEventListener('click', async () => {
    noise = Float32Array.from({length: batch * z}, gaussian);
    await drawGrid();
  });
  button.disabled = false;
  document.getElementById('status').textContent =
    meta.describe + ': the first grid is sample.py\'s for seed ' + meta.seed + '.';
  window.dcgan.ready = true;
}

function setUpChosenDigits(labelled, generate, batch, z, shape) {
  const controls = document.getElementById('digits');
  const words = document.getElementById('chosen-words');
  if (!labelled) {
    controls.textContent = 'This model was exported without labelled draws: export it again '
      + 'with sample.py RUN --export to draw a chosen digit here.';
    return;
  }
  const noise = Float32Array.from(labelled.noise);
  const size = shape[0] * shape[1] * shape[2];
  const drawnBatches = {};  // batch number -> its images, drawn once
  async function drawChosen(digit) {
    const rows = [];
    for (let i = 0; i < labelled.labels.length; i++) {
      if (labelled.labels[i] === String(digit)) rows.push(i);
    }
    const area = document.getElementById('chosen');
    area.replaceChildren();
    const images = [];
    for (const row of rows) {
      const k = Math.floor(row / batch), inBatch = row % batch;
      if (!drawnBatches[k]) {
        drawnBatches[k] = await generate(noise.slice(k * batch * z, (k + 1) * batch * z));
      }
      const canvas = document.createElement('canvas');
      canvas.width = shape[2]; canvas.height = shape[1];
      paint(canvas, drawnBatches[k], inBatch, shape);
      area.appendChild(canvas);
      images.push(...drawnBatches[k].slice(inBatch * size, (inBatch + 1) * size));
    }
    words.textContent = rows.length + ' of the ' + labelled.labels.length + ' draws of seed '
      + labelled.seed + ' that the classifier calls ' + digit + ' (at least 90% sure):';
    window.dcgan.chosen = {digit: digit, rows: rows, images: images};
  }
  for (let digit = 0; digit < 10; digit++) {
    const found = [...labelled.labels].filter(c => c === String(digit)).length;
    const button = document.createElement('button');
    button.textContent = String(digit);
    button.id = 'digit-' + digit;
    button.title = found + ' found';
    button.disabled = found === 0;
    button.addEventListener('click', () => drawChosen(digit));
    controls.appendChild(button);
  }
}

main().catch(error => {
  window.dcgan.error = String(error);
  document.getElementById('status').textContent = 'Could not draw: ' + error;
});
