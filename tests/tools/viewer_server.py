"""tools/serve.py for the tests: import it, build its app on the apis tests' random
checkpoint, and run it on a free loopback port in a background thread."""
import contextlib
import importlib.util
import os.path as osp
import socket
import sys
import threading
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tests', 'apis'))

from apis_checkpoint import SYNTHETIC_CONFIG, random_checkpoint  # noqa: E402,F401


def import_serve():
    spec = importlib.util.spec_from_file_location('mmadpd_serve_tool',
                                                  osp.join(REPO, 'tools', 'serve.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def running(app, host='127.0.0.1'):
    """Serve ``app`` with uvicorn on ``host`` and a free port (the socket is bound here,
    so no other process can take the port in between); yields the base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level='warning'))
    thread = threading.Thread(target=server.run, kwargs={'sockets': [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError('the viewer server did not start')
        time.sleep(0.05)
    try:
        yield f'http://{host}:{port}'
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
