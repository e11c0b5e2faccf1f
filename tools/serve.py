"""A local web page to look at ADPD results: drop a PNG/JPEG/DICOM, see the overlay.

    python tools/serve.py CONFIG_OR_NAME [CHECKPOINT] [--port 8000] [--host 127.0.0.1]
                          [--device cpu] [--score-thr F] [--allow-views VIEW ...]

``CONFIG_OR_NAME`` is a config file or a config's name (``loc_adpd_synthetic`` finds
``configs/adpd/loc_adpd_synthetic.py``). The model is loaded once, at start; each upload
is one call of :class:`mmadpd.apis.ADPDInferencer` (the same loader, view guard, pipeline
and JSON as ``tools/infer.py``), on a copy of the upload in a fresh temporary folder that
is deleted when the call returns. A file the inferencer cannot read gets its message on
the page (HTTP 422), never a server error. The server binds to 127.0.0.1 unless told
otherwise: it has no authentication and is meant for one person's machine.

Built on FastAPI (one JSON endpoint and static files; uvicorn serves it) rather than
Gradio: the page needs two tables, a toggle and a download, which a static page does in a
few lines, and FastAPI brings a handful of small dependencies where Gradio brings a large
front-end bundle and pins of its own.
"""

import argparse
import base64
import glob
import os.path as osp
import re
import sys
import tempfile
import threading

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
STATIC_DIR = osp.join(REPO, 'tools', 'serve_static')
MAX_UPLOAD_MB = 256


def resolve_config(name_or_path: str) -> str:
    """A config file path, or the one ``configs/**/<name>.py`` (ValueError otherwise)."""
    if osp.isfile(name_or_path):
        return name_or_path
    name = osp.splitext(osp.basename(name_or_path))[0]
    found = sorted(glob.glob(osp.join(REPO, 'configs', '**', f'{name}.py'), recursive=True))
    if len(found) != 1:
        raise ValueError(f'config not found: {name_or_path} (give a file, or a name of '
                         f'exactly one configs/**/NAME.py; {len(found)} match)')
    return found[0]


def safe_upload_name(name: str) -> str:
    """The upload's base name with only ``[A-Za-z0-9._-]`` kept (for the temporary copy
    and the result's ``image`` field; folders in the name are dropped)."""
    base = (name or '').replace('\\', '/').rsplit('/', 1)[-1]
    base = re.sub(r'[^A-Za-z0-9._-]', '_', base).lstrip('.')[:100]
    return base or 'upload'


def make_viewer_inferencer_class():
    """:class:`ADPDInferencer` whose overlay is a pair, with and without the region
    outlines (the page's toggle); everything else is the parent's code path. Call it with
    ``return_vis=True`` and no ``out_dir`` (it writes no overlay PNG)."""
    from mmadpd.apis import ADPDInferencer

    class ViewerInferencer(ADPDInferencer):
        def visualize(self, image, result):
            no_regions = dict(result, regions=[dict(r, present=False)
                                               for r in result['regions']])
            return super().visualize(image, result), super().visualize(image, no_regions)

    return ViewerInferencer


def _png_data_url(rgb) -> str:
    import cv2

    ok, encoded = cv2.imencode('.png', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError('PNG encoding of the overlay failed')
    return 'data:image/png;base64,' + base64.b64encode(encoded.tobytes()).decode('ascii')


class Viewer:
    """Turns one upload into the page's JSON, one inference at a time.

    Args:
        inferencer: a ``ViewerInferencer`` (see :func:`make_viewer_inferencer_class`).
    """

    def __init__(self, inferencer) -> None:
        self.inferencer = inferencer
        self._lock = threading.Lock()  # the model is shared: one forward pass at a time

    def analyse(self, data: bytes, filename: str) -> tuple[int, dict]:
        """-> (HTTP status, body). 200: ``{"ok": true, "name", "result", "overlay",
        "overlay_no_regions"}`` (overlays as PNG data URLs); 422: ``{"ok": false,
        "error": "<name>: <the inferencer's reason>"}``."""
        name = safe_upload_name(filename)
        with self._lock, tempfile.TemporaryDirectory(prefix='mmadpd-serve-') as folder:
            path = osp.join(folder, name)
            with open(path, 'wb') as f:
                f.write(data)
            out = self.inferencer(path, return_vis=True, on_error='skip')
        if out['failures']:
            return 422, {'ok': False, 'error': f'{name}: {out["failures"][0]["reason"]}'}
        result = dict(out['predictions'][0], image=name)
        with_regions, without_regions = out['visualization'][0]
        return 200, {'ok': True, 'name': name, 'result': result,
                     'overlay': _png_data_url(with_regions),
                     'overlay_no_regions': _png_data_url(without_regions)}


def create_app(viewer: Viewer, max_upload_mb: float = MAX_UPLOAD_MB):
    """The FastAPI app: ``GET /`` the page, ``/static/*`` its files, ``POST
    /api/analyse?name=FILE`` with the file's bytes as the body."""
    from fastapi import FastAPI, Request
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
    from starlette.concurrency import run_in_threadpool

    app = FastAPI(title='mmadpd viewer', docs_url=None, redoc_url=None)
    app.mount('/static', StaticFiles(directory=STATIC_DIR), name='static')
    limit = int(max_upload_mb * 2 ** 20)

    @app.get('/')
    def index():
        return FileResponse(osp.join(STATIC_DIR, 'index.html'))

    @app.get('/api/model')
    def model_info():
        info = viewer.inferencer.model_info
        return {'config': info.get('config'), 'checkpoint': info.get('checkpoint'),
                'classes': viewer.inferencer.class_names}

    @app.post('/api/analyse')
    async def analyse(request: Request, name: str = 'upload'):
        declared = int(request.headers.get('content-length') or 0)
        data = b'' if declared > limit else await request.body()
        if declared > limit or len(data) > limit:
            return JSONResponse({'ok': False, 'error': f'{safe_upload_name(name)}: file '
                                 f'larger than {max_upload_mb:g} MB'}, status_code=413)
        status, body = await run_in_threadpool(viewer.analyse, data, name)
        return JSONResponse(body, status_code=status)

    return app


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Local web viewer for ADPD results')
    parser.add_argument('config', help='config file or config name (configs/**/NAME.py)')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='checkpoint (.pth); without it the model has random weights')
    parser.add_argument('--port', type=int, default=8000)
    parser.add_argument('--host', default='127.0.0.1',
                        help='address to bind (default 127.0.0.1: this machine only)')
    parser.add_argument('--device', default=None, help="'cpu', 'cuda' (default: auto)")
    parser.add_argument('--score-thr', type=float, default=0.0,
                        help='leave out pathology boxes scoring below this')
    parser.add_argument('--allow-views', nargs='+', default=(), metavar='VIEW',
                        help="DICOM views processed although not PA/AP ('LL', 'all')")
    parser.add_argument('--max-upload-mb', type=float, default=MAX_UPLOAD_MB)
    return parser.parse_args(argv)


def build_viewer(config: str, checkpoint=None, device=None, score_thr=0.0,
                 allow_views=()) -> Viewer:
    """Load the model once (raises ValueError / FileNotFoundError on a bad path)."""
    inferencer_cls = make_viewer_inferencer_class()
    return Viewer(inferencer_cls(resolve_config(config), checkpoint, device=device,
                                 score_thr=score_thr, allow_views=allow_views))


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        viewer = build_viewer(args.config, args.checkpoint, args.device, args.score_thr,
                              args.allow_views)
    except (ValueError, FileNotFoundError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    import uvicorn

    if args.host not in ('127.0.0.1', 'localhost', '::1'):
        print(f'warning: binding to {args.host}: anyone who can reach this address can '
              f'upload images (there is no authentication)', file=sys.stderr)
    print(f'mmadpd viewer on http://{args.host}:{args.port}/ (Ctrl+C to stop)', flush=True)
    uvicorn.run(create_app(viewer, args.max_upload_mb), host=args.host, port=args.port,
                log_level='warning')
    return 0


if __name__ == '__main__':
    sys.exit(main())
