"""The parts of the DCGAN program, one job a module. The commands at the top of the repository
(dcgan_mnist.py, sample.py, score.py, launch.py) put them together; tools/ holds what
developers run (benchmark, the averaging study, the GPU install check, the classifier's recipe).

    framework      MXNet, imported the one way: after mxnet_setup, or one line saying why not
    mxnet_setup    what must happen before MXNet loads (Python check, threads, numpy aliases)
    devices        which device(s) to train on, and whether this MXNet build can use a GPU
    gpu_code       which GPUs a libmxnet.so runs on, read from the GPU code it carries
    bfloat16       --dtype bfloat16: the casts placed around the convolutions, the CPU check
    errors         the one error policy: UserError, the base of every error meant for a user
    cli            one-line flag errors and checked number types
    command_flags  the flags the commands share, added the one way (as fit.py's add_fit_args)
    interrupts     Ctrl-C while a command starts: one line, never a traceback
    batches        the one interface of real-image batches, and the order's seed
    mnist          the MNIST files and the tutorial's preparation of them
    own_images     --data: a folder or a RecordIO file of your own images, streamed by MXNet
    record_file    a RecordIO file and its index, walked and checked in Python
    files    reading a file someone gave: regular files only, bounded before a read
    run_length     how long a run trains: its goal from the length flags and the data
    run_state      a run's settings and counters: what a checkpoint's state.json holds
    run_setup      a run set up before its first iteration, its settings settled once
    run_outputs    what a run writes, and the one place that decides who writes
    resume_advice  what a stopped or finished run says: where to resume, the command
    checkpoint     writing, verifying and loading checkpoint folders (data only, no pickles)
    averaging      the moving average of the generator's weights (--average-generator)
    sampling       drawing digits from a generator's weights (the Sampler)
    drawing        which noise a seed gives, in which batches: shared by both samplers
    latent         walks through the noise and vector arithmetic on it (the DCGAN paper's)
    latent_figures their pictures: a walk's PNG and GIF, the arithmetic figure, a projection's
    projection     the noise whose image is nearest a target, through the input gradient
    targets        the images a projection looks for: MNIST test digits, image files
    digit_request  digits drawn and chosen by the shipped classifier (--digit)
    web_page       a static page that draws from an exported model in a browser
    onnx_export    the generator exported to ONNX, checked against MXNet
    onnx_model     an exported generator opened and drawn from with onnxruntime (no MXNet)
    lenet          the scorer's classifier, shipped trained
    scoring        the GAN scores (IS, FID, KID, coverage, precision/recall) in its space
    progress       the live progress line of a run, of drawing, of scoring
    console        where a run speaks: status lines above the progress line
    notebook       the same, under a Jupyter cell
    csv_log        metrics.csv and scores.csv
    event_log      TensorBoard event files (--tensorboard)
    curves         curves.png, the plot of metrics.csv
    health         warnings a person watching training would want
    hooks          what happens around an iteration: log, report, score, checkpoint
    run_lock       one writer per run folder
    stopping       Ctrl-C and SIGTERM as a request to stop after the iteration under way
    watchdog       a distributed worker whose peers are gone stops instead of hanging

Importing a part runs nothing before mxnet_setup's checks but this file, which only names the
repository's folder (where data/ and weights/ are) and the variable that names MNIST's folder
elsewhere.
"""
import os

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST_DIR_ENV = 'MNIST_DIR'  # MNIST's folder when set, else data/mnist (dcgan/mnist.py)
