"""Start distributed training with MXNet's own launcher, mended for Python 3 and for failures.

    python launch.py -n 2 -s 1 --launcher local \\
        python dcgan_mnist.py --kvstore dist_sync --seed 1 --output-dir runs/two-workers

Every flag is that of MXNet's `tools/launch.py`, which ships in the mxnet wheel with its
`dmlc_tracker` package and does the work: it starts the scheduler, the servers and the
workers (`--launcher local` on this machine, `ssh` on the hosts of a `-H` file) with the
DMLC_* variables they need. As shipped it cannot run on Python 3.9 or newer, nor end well:

- dmlc_tracker calls Thread.isAlive, which Python 3.9 removed: restored here;
- a worker that fails raised an exception that printed the worker's whole environment: here
  it is one line per process that failed;
- the scheduler and the servers wait forever once a worker is gone: when every worker has
  ended, whatever is left of the job is stopped, on every host, and the launcher exits,
  non-zero if any worker failed. (Workers that lose a peer stop by themselves:
  dcgan_mnist.py's --stall-timeout.)
- with --launcher ssh, a process on another host outlived its ssh session (sshd signals
  nothing to a command without a terminal), and a host that could not be reached left the
  job waiting for ever: here each remote process runs under a shell that turns a line on the
  session's input into SIGTERM and its end into SIGKILL (nothing outlives the launcher), ssh
  never prompts, and every host must answer before the job starts, else one line;
- the scheduler's address is this machine's: 127.0.0.1 for --launcher local; for ssh give the
  address the other hosts reach this one at with --host-ip (MXNet's guess otherwise);
- with --launcher local the servers and the workers listened on the machine's network
  address, open to anyone who could reach it (ps-lite has no authentication): here every
  process of a local job listens on 127.0.0.1 only;
- SIGTERM or Ctrl-C ended the launcher at once and the scheduler and servers with it, while
  the workers waited on them: here the workers are asked to stop (they finish their iteration
  together and the chief saves it), the scheduler and servers end after them, and the
  launcher exits with 130 (a signal before training began stops the job as well, and says
  there was nothing to save); a second signal kills the job at once, on every host;
- its own flags are checked first, each refused in one line: -n and -s at least 1 (ps-lite
  waits for ever for a server that never comes), --launcher local, or ssh with a -H file (the
  two mended here), and a command to run.
"""
# First: a Ctrl-C while the libraries load ends it in one line, and a Python MXNet cannot run
# is refused in one line, as by every command here.
from dcgan import interrupts
if __name__ == '__main__':
    interrupts.exit_at_once_while_starting()
from dcgan import mxnet_setup  # noqa: E402, F401

import importlib.util
import json
import logging
import os
import runpy
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

from dcgan.cli import LAUNCH_ARGV, Check, OneLineArgumentParser  # noqa: E402

EXIT_FAILED = 1
EXIT_STOPPED = 130  # stopped on request (a signal), as dcgan_mnist.py exits then
# A worker asked to stop before its training began ends by SIGTERM: seen as -15 here, as
# 128 + 15 through the shell that runs it on another host (REMOTE_WATCH).
ENDED_BY_SIGTERM = (-signal.SIGTERM, 128 + signal.SIGTERM)
# How a worker asked to stop ends: done anyway, stopped after saving, or before training.
STOPPED_CODES = (0, EXIT_STOPPED) + ENDED_BY_SIGTERM
PROCESSES = Check(int, low=1, high=1024)  # workers, or servers, of one job
LAUNCHERS = ('local', 'ssh')
# After the last worker, the scheduler and servers get this long to end on their own.
LINGER_SECONDS = 3
WAKE_SECONDS = 0.2  # the most a stop signal waits for the main thread (wait_wakefully)
LOOPBACK = '127.0.0.1'
SSH_PORT = '22'
SSH_OPTIONS = ['-o', 'BatchMode=yes',  # a password prompt would hang the job: refused instead
               '-o', 'StrictHostKeyChecking=accept-new',  # a changed host key is refused
               '-o', 'ConnectTimeout=10',
               # a host that stops answering ends its sessions within 15 s
               '-o', 'ServerAliveInterval=5', '-o', 'ServerAliveCountMax=3']
REACH_SECONDS = 30  # for the check that each host answers before the job starts
# What a process started over ssh gets of the launcher's environment besides the job's own
# DMLC_* settings: dmlc_tracker's list, and the families MXNet, ps-lite and the program read.
PASSED_VARIABLES = ('OMP_NUM_THREADS', 'KMP_AFFINITY', 'LD_LIBRARY_PATH')
PASSED_PREFIXES = ('DMLC_', 'PS_', 'MXNET_', 'DCGAN_')
# How a process runs on another host: as a child of a shell that watches the ssh session's
# input. A line there is SIGTERM (the launcher asks the workers to stop); the end of the input
# (the launcher, or its ssh client, is gone, or it ends the job) is SIGKILL: nothing of a job
# outlives its launcher on any host. sshd gives no signal of its own to a command without a
# terminal, and dmlc_tracker's sessions left every process running when they ended.
REMOTE_WATCH = ('exec 3<&0; %s </dev/null & child=$!; '
                '{ while read -r line <&3; do kill -TERM "$child"; done; '
                'kill -KILL "$child"; } 2>/dev/null & watcher=$!; '
                'wait "$child"; status=$?; kill "$watcher" 2>/dev/null; exit "$status"')


def mxnet_launcher_path():
    """tools/launch.py of the installed mxnet package (found without importing mxnet)."""
    spec = importlib.util.find_spec('mxnet')
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit('error: MXNet is not installed here (pip install -r '
                         'requirements-cpu.txt)')
    path = os.path.join(spec.submodule_search_locations[0], 'tools', 'launch.py')
    if not os.path.isfile(path) or importlib.util.find_spec('dmlc_tracker') is None:
        raise SystemExit('error: this MXNet has no launcher (tools/launch.py and dmlc_tracker '
                         'ship in the mxnet 1.9.1 wheel)')
    return path


def restore_python2_threading():
    """dmlc_tracker calls Thread.isAlive, which Python 3.9 removed; give it back."""
    if not hasattr(threading.Thread, 'isAlive'):
        threading.Thread.isAlive = threading.Thread.is_alive


def describe_exit(code):
    if code < 0:
        return 'was killed by %s' % signal.Signals(-code).name
    return 'exited with code %d' % code


def ask_to_stop(process):
    """SIGTERM to a process of the job; to one on another host, the line its watching shell
    turns into SIGTERM (REMOTE_WATCH)."""
    if process.stdin is None:
        process.send_signal(signal.SIGTERM)
        return
    try:
        process.stdin.write(b'stop\n')
        process.stdin.flush()
    except OSError:  # the session has just ended
        pass


def end_now(process):
    """SIGKILL to a process of the job; to one on another host, the end of its session's
    input, which its watching shell turns into SIGKILL (and the session then ends)."""
    if process.stdin is None:
        process.kill()
    elif not process.stdin.closed:
        try:
            process.stdin.close()
        except OSError:
            pass


class Job:
    """The processes the launcher starts, seen through dmlc_tracker's own calls to
    subprocess (and through `run`, for the ssh sessions started here): each Popen is kept with
    its role, so the job can be watched and ended."""

    def __init__(self):
        self.lock = threading.RLock()  # a signal handler may take it in a thread holding it
        self.processes = []  # (role, task id, Popen)
        self.stopping = False  # once asked to stop, nothing more of the job starts

    def run(self, role, task, command, **kwargs):
        """Start `command` as the job's process of `role` and task id, and wait for its end;
        once the job is stopping, start nothing (0: dmlc_tracker then goes on to its end)."""
        with self.lock:
            if self.stopping:
                return 0
            process = subprocess.Popen(command, **kwargs)
            self.processes.append((role, str(task), process))
        return process.wait()

    # -- stands in for the subprocess module inside dmlc_tracker --
    def call(self, command, **kwargs):
        environment = kwargs.get('env') or os.environ
        return self.run(environment.get('DMLC_ROLE', '?'), environment.get('DMLC_TASK_ID', '?'),
                        command, **kwargs)

    def check_call(self, command, **kwargs):
        return self.call(command, **kwargs)  # failures are told by `report`, not raised

    def __getattr__(self, name):
        return getattr(subprocess, name)

    # -- watching --
    def roles(self, role):
        with self.lock:
            return [(task, process) for r, task, process in self.processes if r == role]

    def workers_done(self, expected):
        """Whether every worker has ended: the `expected` number, or those that had started
        when the job was asked to stop."""
        workers = self.roles('worker')
        return ((len(workers) == expected or self.stopping)
                and all(p.poll() is not None for _, p in workers))

    def stop_the_rest(self):
        """Give the scheduler and servers time to end, then kill what remains: they ignore
        SIGTERM (dcgan/mxnet_setup.py), and once the workers are gone they would wait for
        ever. An ssh session that does not end with its remote process is killed last."""
        with self.lock:
            rest = [process for _, _, process in self.processes]
        for ending in (end_now, subprocess.Popen.kill):
            deadline = time.monotonic() + LINGER_SECONDS
            while time.monotonic() < deadline and any(p.poll() is None for p in rest):
                time.sleep(0.2)
            for process in rest:
                if process.poll() is None:
                    ending(process)
        for process in rest:
            process.wait()

    def ask_workers_to_stop(self):
        with self.lock:
            self.stopping = True
        for _, process in self.roles('worker'):
            if process.poll() is None:
                ask_to_stop(process)

    def kill_all(self):
        with self.lock:
            self.stopping = True
            for _, _, process in self.processes:
                if process.poll() is None:
                    end_now(process)

    def report(self, expected):
        """One line per worker that failed; the exit status: 0 when every worker succeeded,
        EXIT_STOPPED when the job was asked to stop and they all did, else EXIT_FAILED.
        A worker stops after saving (the chief says where, and how to resume), or, asked
        before its training began, ends by SIGTERM's default action (dcgan_mnist.py takes
        the signal over only then: a process still waiting for its peers inside MXNet could
        not act on it), or never starts: then there is nothing to save, said in one line."""
        codes = [(task, p.returncode) for task, p in self.roles('worker')]
        if self.stopping and all(code in STOPPED_CODES for _, code in codes):
            if len(codes) < expected or any(code in ENDED_BY_SIGTERM for _, code in codes):
                print('launch: stopped before training began: nothing to save',
                      file=sys.stderr, flush=True)
            return EXIT_STOPPED
        failed = [(task, code) for task, code in codes if code]
        for task, code in failed:
            print('launch: worker (task %s) %s' % (task, describe_exit(code)),
                  file=sys.stderr, flush=True)
        return EXIT_FAILED if failed else 0


class StopOnSignal:
    """SIGINT or SIGTERM to the launcher (alone, or with its whole job): the workers are
    asked to stop (SIGTERM: they finish their iteration together, the chief saves a
    checkpoint), and the job then ends as usual; the scheduler and servers ignore the signal
    and end with the workers. What had not started by then never starts. A second signal
    kills every process of the job at once."""

    def __init__(self, job):
        self.job, self.signals = job, 0

    def install(self):
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, self.handle)

    def handle(self, number, frame):
        self.signals += 1
        if self.signals == 1:
            print('launch: stopping: the workers finish their iteration and save a checkpoint '
                  '(signal again to stop at once)', file=sys.stderr, flush=True)
            self.job.ask_workers_to_stop()
        else:
            self.job.kill_all()  # the ssh sessions' remote processes end with this process
            os._exit(EXIT_STOPPED)


def wait_wakefully(tracker):
    """dmlc_tracker's PSTracker.join (the launcher's main thread waits there for the whole
    job), waking every WAKE_SECONDS. Python runs a signal's handler in the main thread only;
    when the kernel hands the launcher's SIGTERM or SIGINT to another of its threads, the
    handler waits until the main thread wakes, and dmlc_tracker's join slept 100 s at a time:
    a stop then came a minute or more late."""
    while tracker.thread.is_alive():
        tracker.thread.join(WAKE_SECONDS)


def schedule_on_a_free_port(tracker_class):
    """Give the scheduler a port the system has just chosen as free, instead of the first free
    one from 9091: two jobs started at the same moment on one machine (CI runs test suites side
    by side) would otherwise both take 9091."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    original = tracker_class.__init__

    def start_on_that_port(self, hostIP, cmd, port=port, port_end=port + 1, envs=None):
        original(self, hostIP, cmd, port, port_end, envs)
    tracker_class.__init__ = start_on_that_port


def keep_on_loopback(environ):
    """A local job's servers and workers listen on the loopback address only (the scheduler
    already does): ps-lite binds where DMLC_NODE_HOST says, else on the address of the
    interface DMLC_INTERFACE names, else on the first interface it finds. Its peers have no
    authentication, so nothing of a local job is reachable from the network. A user's own
    setting is kept."""
    environ.setdefault('DMLC_NODE_HOST', LOOPBACK)
    environ.setdefault('DMLC_INTERFACE', 'lo')


def read_hosts(path):
    """[(host, port)] of a hosts file as dmlc_tracker reads it: one `host` or `host:port` a
    line, an MPI-style `slots=N` ignored."""
    hosts = []
    with open(path) as f:
        for line in f:
            line = line.split('slots=')[0].strip()
            if line:
                host, _, port = line.partition(':')
                hosts.append((host, port or SSH_PORT))
    return hosts


def ssh_command(host, port, remote):
    return ['ssh'] + SSH_OPTIONS + ['-p', port, host, remote]


def check_reachable(hosts):
    """End the launch in one line if a host does not answer over ssh, before anything of the
    job starts (else its processes would wait for ever for the ones that never came)."""
    for host, port in dict.fromkeys(hosts):
        try:
            answer = subprocess.run(ssh_command(host, port, 'true'), stdin=subprocess.DEVNULL,
                                    capture_output=True, text=True, timeout=REACH_SECONDS)
            why = answer.returncode and (answer.stderr.strip().splitlines() or ['ssh failed'])[-1]
        except subprocess.TimeoutExpired:
            why = 'no answer in %d s' % REACH_SECONDS
        if why:
            raise SystemExit('launch: cannot reach %s over ssh (port %s): %s' % (host, port, why))


def remote_command(command, job_environment, directory):
    """The shell command that runs `command` on another host, in `directory`, with the job's
    variables and the launcher's own that it passes on, watched (REMOTE_WATCH)."""
    passed = {key: value for key, value in os.environ.items()
              if key in PASSED_VARIABLES or key.startswith(PASSED_PREFIXES)}
    passed.update((key, str(value)) for key, value in job_environment.items())
    exports = ' '.join('%s=%s' % (key, shlex.quote(value)) for key, value in sorted(
        passed.items()))
    return 'cd %s || exit 1; export %s; %s' % (shlex.quote(directory), exports, REMOTE_WATCH % (
        ' '.join(shlex.quote(word) for word in command)))


def submit_over_ssh(job, dmlc_ssh):
    """dmlc_tracker.ssh.submit, mended: the servers and workers are spread over the hosts in
    turn as it spreads them, each through ssh without a prompt, watched on its host
    (REMOTE_WATCH) and kept in `job` with its role and task id."""
    def submit(args):
        hosts = read_hosts(args.host_file)
        directory = os.getcwd()
        if args.sync_dst_dir not in (None, 'None'):
            directory = args.sync_dst_dir
            for host in dict.fromkeys(hosts):
                dmlc_ssh.sync_dir(os.getcwd() + '/', host, directory)

        def start_all(workers, servers, job_environment):
            roles = [('server', task) for task in range(servers)] + [
                ('worker', task) for task in range(workers)]
            for index, (role, task) in enumerate(roles):
                host, port = hosts[index % len(hosts)]
                environment = dict(job_environment, DMLC_ROLE=role, DMLC_NODE_HOST=host,
                                   DMLC_TASK_ID=task)
                command = ssh_command(host, port, remote_command(args.command, environment,
                                                                 directory))
                # A session of its own: a signal to the launcher's process group (Ctrl-C, a
                # cluster stopping the job) must not kill the ssh client, which would end the
                # remote process at once; the launcher passes the stop on instead.
                threading.Thread(target=job.run, args=(role, task, command), kwargs={
                    'stdin': subprocess.PIPE, 'start_new_session': True}, daemon=True).start()

        dmlc_ssh.tracker.submit(args.num_workers, args.num_servers, fun_submit=start_all,
                                pscmd=' '.join(args.command), hostIP=args.host_ip)
    return submit


def own_words(argv, parser):
    """The words of `argv` that are the launcher's own (flags of `parser`, launcher_parser()):
    those before the command each process runs (its first word that is neither a flag nor a
    flag's value). A --help after them is the command's."""
    takes_value = {option for action in parser._actions if action.nargs is None
                   for option in action.option_strings}
    for at, word in enumerate(argv):
        if not word.startswith('-') and (at == 0 or argv[at - 1] not in takes_value):
            return argv[:at]
    return argv


def launcher_parser():
    """The launcher's flags: those of MXNet's tools/launch.py (which reads them again), and
    --host-ip."""
    parser = OneLineArgumentParser(
        prog='launch.py', add_help=False,
        usage='python launch.py -n WORKERS [-s SERVERS] --launcher local|ssh [-H HOSTS] '
              '[--host-ip ADDRESS] COMMAND ...',
        description='Start a distributed job with MXNet\'s own launcher, mended for Python 3 '
                    'and for failures (docs/gpu-and-machines.md). Example: python launch.py '
                    '-n 2 -s 1 --launcher local python dcgan_mnist.py --kvstore dist_sync '
                    '--seed 1')
    parser.add_argument('-h', '--help', action='store_true', help='show this help and exit')
    parser.add_argument('-n', '--num-workers', type=PROCESSES, required=True,
                        help='how many workers run COMMAND (1 to 1024)')
    parser.add_argument('-s', '--num-servers', type=PROCESSES,
                        help='how many parameter servers (default: as many as workers)')
    parser.add_argument('--launcher', default='ssh',
                        help='local: every process on this machine, listening on 127.0.0.1; '
                             'ssh: on the hosts of -H (default: %(default)s)')
    parser.add_argument('-H', '--hostfile', default=None, metavar='HOSTS',
                        help='with --launcher ssh: a file of the hosts, one a line (host or '
                             'host:port)')
    parser.add_argument('--host-ip', default=None, metavar='ADDRESS',
                        help='with --launcher ssh: the address the other hosts reach this one '
                             'at (the scheduler runs here)')
    parser.add_argument('--sync-dst-dir', metavar='DIR',
                        help='with --launcher ssh: copy this folder to DIR on every host first')
    for flag, whose in (('--env', 'every process'), ('--env-server', 'the servers'),
                        ('--env-worker', 'the workers')):
        parser.add_argument(flag, action='append', default=[], metavar='NAME[:VALUE]',
                            help='pass an environment variable to %s (repeatable)' % whose)
    parser.add_argument('--p3', action='store_true',
                        help='MXNet\'s priority-based parameter propagation')
    return parser


def parse_own_flags(argv):
    """(number of workers, launcher kind, --host-ip or None, the hosts file or None, argv for
    MXNet's launcher); --help (among the launcher's own flags) prints the flags and ends the
    program; a flag MXNet's launcher would choke or hang on ends it in one line (exit 2)."""
    parser = launcher_parser()
    if {'-h', '--help'} & set(own_words(argv, parser)):
        parser.print_help()
        parser.exit(0)
    known, command = parser.parse_known_args(argv)
    if known.launcher not in LAUNCHERS:
        parser.error('--launcher %r: this launcher runs --launcher local or ssh (MXNet\'s mpi, '
                     'sge and yarn are not mended here)' % known.launcher)
    if known.launcher == 'ssh' and not (known.hostfile and os.path.isfile(known.hostfile)):
        parser.error('--launcher ssh needs -H FILE, a file of the hosts, one a line%s; on one '
                     'machine give --launcher local' % (' (%s is none)' % known.hostfile
                                                        if known.hostfile else ''))
    if not [word for word in command if not word.startswith('-')]:
        parser.error('give the command each process runs, e.g. python dcgan_mnist.py '
                     '--kvstore dist_sync --seed 1')
    if '--host-ip' in argv:
        at = argv.index('--host-ip')
        argv = argv[:at] + argv[at + 2:]
    return known.num_workers, known.launcher, known.host_ip, known.hostfile, argv


def main(argv=None):
    job = Job()
    StopOnSignal(job).install()  # from here on, a signal stops whatever has started
    argv = list(sys.argv[1:] if argv is None else argv)
    workers, kind, host_ip, hostfile, mxnet_argv = parse_own_flags(argv)
    launcher = mxnet_launcher_path()
    restore_python2_threading()
    import dmlc_tracker.local
    import dmlc_tracker.ssh
    import dmlc_tracker.tracker

    for module in (dmlc_tracker.tracker, dmlc_tracker.local, dmlc_tracker.ssh):
        module.subprocess = job
    original_exec = dmlc_tracker.local.exec_cmd

    def exec_quietly(*args):
        try:
            original_exec(*args)
        except RuntimeError:  # its message dumps the environment; `report` says it in a line
            pass
    dmlc_tracker.local.exec_cmd = exec_quietly
    address = host_ip or (LOOPBACK if kind == 'local' else None)
    if address:
        dmlc_tracker.tracker.get_host_ip = lambda _=None: address
    dmlc_tracker.tracker.PSTracker.join = wait_wakefully
    if kind == 'local':
        schedule_on_a_free_port(dmlc_tracker.tracker.PSTracker)
        keep_on_loopback(os.environ)
    else:
        check_reachable(read_hosts(hostfile))
        dmlc_tracker.ssh.submit = submit_over_ssh(job, dmlc_tracker.ssh)

    def end_when_the_workers_have():
        while not job.workers_done(workers):
            time.sleep(0.5)
        job.stop_the_rest()  # the scheduler ends, and with it MXNet's launcher below
    if workers:
        threading.Thread(target=end_when_the_workers_have, daemon=True).start()

    os.environ[LAUNCH_ARGV] = json.dumps(argv)  # for the chief's resume command
    sys.argv = [launcher] + mxnet_argv
    # MXNet's launcher as its __main__ runs it, but with these signal handlers, not its own
    # (which ended the launcher at once on Ctrl-C, the job left running).
    launcher_module = runpy.run_path(launcher, run_name='mxnet_launcher')
    logging.basicConfig(format='%(asctime)s %(levelname)s %(message)s', level=logging.INFO)
    launcher_module['main']()
    job.stop_the_rest()
    return job.report(workers)


if __name__ == '__main__':
    sys.exit(main())
